"""Helpers shared by the benchmark scripts: timing, medians, machine description, result files.

Used by ``scan_peers.py`` and ``scan_scaling.py``; not part of the product. The benchmark machine is small
and noisy, so every figure is a median of several runs and comparisons are ratios measured in the same run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DATA = HERE / ".data"
VENV_BIN = ROOT / ".venv" / "bin"


def ww_bin() -> str:
    """The ``weightwarden`` console script of the project's venv (falls back to this interpreter's)."""
    cand = VENV_BIN / "weightwarden"
    if cand.exists():
        return str(cand)
    return str(Path(sys.executable).with_name("weightwarden"))


@dataclass
class Run:
    seconds: float
    returncode: int
    stdout: str
    stderr: str


def run_timed(cmd: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 3600,
              cwd: str | os.PathLike[str] | None = None) -> Run:
    """Run a command, returning its wall time (perf_counter around the whole process) and output."""
    t0 = time.perf_counter()
    try:
        res = subprocess.run(list(cmd), capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd,
                             check=False, errors="replace")
        rc, out, err = res.returncode, res.stdout, res.stderr
    except subprocess.TimeoutExpired as exc:
        rc = -9
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {timeout}s"
    return Run(time.perf_counter() - t0, rc, out, err)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def time_call(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def drop_file_cache(path: str | os.PathLike[str]) -> bool:
    """Evict a file's pages from the OS page cache (posix_fadvise DONTNEED; works without root).

    Returns False where the platform cannot do it; callers say so in their output.
    """
    if not hasattr(os, "posix_fadvise"):
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def flush_file(path: str | os.PathLike[str]) -> None:
    """fsync a file so that its dirty pages can be evicted by :func:`drop_file_cache`."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _first_line(cmd: Sequence[str]) -> str:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def machine() -> dict[str, object]:
    """What the figures were measured on: cores, CPU model, memory, OS, Python, date."""
    cpu = ""
    for line in _first_line(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                    break
    except OSError:
        pass
    return {
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "commit": _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip(),
    }


def write_result(name: str, payload: dict[str, object]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path


def fmt_s(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    return f"{seconds:.3f}s" if seconds < 10 else f"{seconds:.1f}s"
