"""Benchmark: scan cost grows with metadata, not with tensor bytes; the CLI starts fast.

Issue 2, "What it must show" item 3. Writes four files under ``benchmarks/.data`` (git-ignored):

- ``big.safetensors``  (~2 GiB) and ``small.safetensors`` (~2 MiB): the same 64 tensor names and dtype,
  shapes 2048x4096 vs 64x128 float32;
- ``big.pt`` (~2 GiB) and ``small.pt`` (~2 MiB): ``torch.save`` of state_dicts with that same structure;

then times ``weightwarden scan FILE --format json`` (a subprocess, as a user runs it) and the library call
``weightwarden.scan.scan_paths`` (in-process) on each, median of ``--repeat`` runs, with the file's pages
evicted from the OS page cache before every run (``posix_fadvise(DONTNEED)``; no root needed) so the big
file cannot hide a full read behind a warm cache. The in-process run also records the bytes read through
``read()`` system calls (``/proc/self/io`` rchar) as a second, clock-free witness. Prints big/small ratios
(goal < 2x).

It also measures ``weightwarden --help`` (median of 10 runs; goal < 0.3 s) next to a bare ``python -c pass``
and checks that ``import weightwarden.cli.main`` loads no torch/tensorflow/numpy.

    .venv/bin/python benchmarks/scan_scaling.py [--repeat 5] [--keep]

Results go to ``benchmarks/results/scan_scaling.json``; the data files are deleted at the end unless
``--keep``. Needs torch (the dev extra) only to *write* the checkpoints.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402 - benchmarks are scripts, not a package
    DATA,
    drop_file_cache,
    flush_file,
    fmt_s,
    machine,
    median,
    run_timed,
    write_result,
    ww_bin,
)

N_TENSORS = 64
BIG_SHAPE = (2048, 4096)  # 32 MiB of float32 each -> 2 GiB
SMALL_SHAPE = (64, 128)  # 32 KiB each -> 2 MiB
HEAVY = ("torch", "tensorflow", "numpy", "onnx", "h5py", "jinja2", "rich")


def tensor_names() -> list[str]:
    return [f"model.layers.{i // 4}.{('q', 'k', 'v', 'o')[i % 4]}_proj.weight" for i in range(N_TENSORS)]


def write_safetensors(path: Path, shape: tuple[int, int]) -> None:
    """A valid safetensors file written by hand, streaming real (non-sparse) bytes for every tensor."""
    nbytes = shape[0] * shape[1] * 4
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    for i, name in enumerate(tensor_names()):
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [i * nbytes, (i + 1) * nbytes]}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    block = bytes(range(256)) * 4096  # 1 MiB of non-zero bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        left = nbytes * N_TENSORS
        while left:
            chunk = block[: min(len(block), left)]
            f.write(chunk)
            left -= len(chunk)


def write_torch(path: Path, shape: tuple[int, int]) -> None:
    """A real ``torch.save`` of a state_dict (written by torch in a child, never loaded by us)."""
    code = (
        "import collections, sys, torch\n"
        f"names = {tensor_names()!r}\n"
        f"shape = {shape!r}\n"
        "sd = collections.OrderedDict((n, torch.full(shape, 0.5, dtype=torch.float32)) for n in names)\n"
        "torch.save(sd, sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def _rchar() -> int:
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def time_cli(path: Path, repeat: int) -> dict[str, object]:
    times, rcs, cache_dropped = [], [], True
    for _ in range(repeat):
        cache_dropped &= drop_file_cache(path)
        run = run_timed([ww_bin(), "scan", str(path), "--format", "json"])
        times.append(run.seconds)
        rcs.append(run.returncode)
    return {"median_s": median(times), "runs_s": times, "returncodes": sorted(set(rcs)), "cache_dropped": cache_dropped}


def time_library(path: Path, repeat: int) -> dict[str, object]:
    """In-process ``scan_paths`` timing plus bytes read through read() per scan."""
    import time

    from weightwarden.scan import scan_paths

    times, read_bytes, n_findings = [], [], []
    for _ in range(repeat):
        drop_file_cache(path)
        before = _rchar()
        t0 = time.perf_counter()
        report = scan_paths([str(path)])
        times.append(time.perf_counter() - t0)
        read_bytes.append(_rchar() - before)
        n_findings.append(len(report.findings))
    return {"median_s": median(times), "runs_s": times, "read_bytes_median": median(read_bytes),
            "findings": sorted(set(n_findings))}


def measure_startup(repeat: int = 10) -> dict[str, object]:
    help_runs = [run_timed([ww_bin(), "--help"]) for _ in range(repeat)]
    bare = [run_timed([sys.executable, "-c", "pass"]).seconds for _ in range(repeat)]
    probe = (
        "import sys, json; import weightwarden.cli.main; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    try:
        heavy = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        heavy = [f"probe failed: {res.stderr.strip()[-300:]}"]
    return {
        "help_median_s": median([r.seconds for r in help_runs]),
        "help_runs_s": [r.seconds for r in help_runs],
        "help_returncodes": sorted({r.returncode for r in help_runs}),
        "python_pass_median_s": median(bare),
        "heavy_modules_on_import": heavy,
        "goal_s": 0.3,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="scan cost vs tensor bytes, and CLI start-up time")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (median is quoted)")
    ap.add_argument("--lib-repeat", type=int, default=21, help="in-process runs (cheap, so more of them)")
    ap.add_argument("--keep", action="store_true", help="keep the data files under benchmarks/.data")
    ap.add_argument("--out", default=None, help="results file name under benchmarks/results (default scan_scaling)")
    args = ap.parse_args(argv)

    DATA.mkdir(parents=True, exist_ok=True)
    files = {
        "safetensors": (DATA / "small.safetensors", DATA / "big.safetensors", write_safetensors),
        "torch": (DATA / "small.pt", DATA / "big.pt", write_torch),
    }
    results: dict[str, object] = {"machine": machine(), "repeat": args.repeat, "lib_repeat": args.lib_repeat,
                                  "formats": {}}
    try:
        for kind, (small, big, writer) in files.items():
            for path, shape in ((small, SMALL_SHAPE), (big, BIG_SHAPE)):
                if not path.exists():
                    print(f"writing {path.name} ...", flush=True)
                    writer(path, shape)
                flush_file(path)
            row: dict[str, object] = {"small_bytes": small.stat().st_size, "big_bytes": big.stat().st_size}
            for label, path in (("small", small), ("big", big)):
                row[f"{label}_cli"] = time_cli(path, args.repeat)
                row[f"{label}_lib"] = time_library(path, args.lib_repeat)
            row["ratio_cli"] = row["big_cli"]["median_s"] / row["small_cli"]["median_s"]  # type: ignore[index]
            row["ratio_lib"] = row["big_lib"]["median_s"] / row["small_lib"]["median_s"]  # type: ignore[index]
            results["formats"][kind] = row  # type: ignore[index]
        results["startup"] = measure_startup()
    finally:
        if not args.keep:
            for small, big, _ in files.values():
                for p in (small, big):
                    p.unlink(missing_ok=True)

    print()
    print(f"machine: {results['machine']}")
    print(f"{'format':<12} {'size':>10} {'cli median':>11} {'lib median':>11} {'read() bytes':>13} {'findings':>9}")
    for kind, row in results["formats"].items():  # type: ignore[union-attr]
        for label in ("small", "big"):
            cli, lib = row[f"{label}_cli"], row[f"{label}_lib"]
            print(f"{kind + ' ' + label:<12} {row[label + '_bytes'] / 2**20:>8.1f}Mi {fmt_s(cli['median_s']):>11} "
                  f"{fmt_s(lib['median_s']):>11} {int(lib['read_bytes_median']):>13} {str(lib['findings']):>9}")
        ok = row["ratio_cli"] < 2 and row["ratio_lib"] < 2
        print(f"{kind:<12} big/small ratio: cli {row['ratio_cli']:.2f}x, library {row['ratio_lib']:.2f}x "
              f"(goal < 2x: {'met' if ok else 'MISSED'}); page cache dropped before each run: "
              f"{row['big_cli']['cache_dropped']}")
    st = results["startup"]
    print(f"weightwarden --help: median {fmt_s(st['help_median_s'])} over 10 runs (goal < 0.3 s: "  # type: ignore[index]
          f"{'met' if st['help_median_s'] < 0.3 else 'MISSED'}); bare python: "  # type: ignore[index]
          f"{fmt_s(st['python_pass_median_s'])}; heavy modules on import: {st['heavy_modules_on_import']}")  # type: ignore[index]
    out = write_result(args.out or "scan_scaling", results)
    print(f"results: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
