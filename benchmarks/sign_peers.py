"""Sign/verify speed and memory: weightwarden vs OpenSSF model-signing, against the read floor and hash ceiling.

Issue 3, "What it must show" item 2. In ONE run, on two generated data sets (under ``benchmarks/.data/``,
git-ignored, deleted at the end unless ``--keep``):

- ``big``: 4 shards of 1 GiB (safetensors files: a small JSON header, then 8 BF16 tensors of random,
  incompressible bytes), like a sharded checkpoint;
- ``small``: 2,000 files of 4 KB to 100 KB (log-uniform sizes, random bytes) in 20 sub-folders,

it times, each as a subprocess (so interpreter start-up counts for every Python tool alike):

- ``cat``: one ``cat`` process over every file of the set, stdout to /dev/null (the read floor);
- ``ms-sign`` / ``ms-verify``: model-signing's CLI, ``model_signing sign key`` / ``verify key``, P-256 key,
  its default ``files`` serialization with SHA-256;
- ``ww-sha256-sign`` / ``-verify`` and ``ww-blake3-sign`` / ``-verify``: weightwarden. The ``weightwarden
  sign``/``verify`` CLI when it exists; otherwise the library (``digest_model`` + ``build_statement`` +
  ``KeySigner`` / ``KeyVerifier`` + ``read_statement`` + ``diff``) in ``python -c``. Both sign
  weightwarden's tensor-level evidence for ``.safetensors`` files, the product default: with SHA-256 the
  file hash's own state saved at each tensor boundary (``sha256-state``: no byte hashed twice), with
  BLAKE3 a second BLAKE3 digest of each tensor (every tensor byte hashed twice). ``*-notensors`` rows
  sign without that evidence (``--no-tensor-digests``), to show what it costs;

and, in process, the hashing ceiling: every core hashing its own 256 MiB in-RAM buffer with ``hashlib``
SHA-256 at once (threads; ``hashlib`` releases the GIL), aggregate GB/s. BLAKE3 (all threads on one
buffer) is given for reference. weightwarden's engine is also timed alone (``digest_model`` in a process
whose imports are done, warm cache), to tell the engine's efficiency apart from the CLI's fixed costs.

Python bytecode: every tool runs with Python's bytecode cache on, in a cache folder of its own
(``PYTHONPYCACHEPREFIX`` under the work folder, ``PYTHONDONTWRITEBYTECODE`` removed from the children's
environment), and every command runs once untimed before the timed rounds. An installed package has its
``.pyc`` files (pip writes them); a shell with ``PYTHONDONTWRITEBYTECODE=1``, as this project's is, would
otherwise make every run recompile weightwarden's sources (an editable install) but not model-signing's.

Bounds: where a goal cannot be met on this machine whatever the implementation, the goal table says so
from figures of the same run: the best possible SHA-256 time is weightwarden's own start-up plus the set's
bytes at the ceiling (hashing every byte once, on every core, from memory); where the signed tensor
evidence is a second digest (BLAKE3 tensor digests), every tensor byte is also hashed with BLAKE3, so sign
cannot beat ``bytes / ceiling + tensor bytes / BLAKE3 ceiling``; and BLAKE3 cannot outrun ``cat`` where
``cat`` reads faster than BLAKE3 hashes in memory.

Page cache: the sets fit in RAM, so the ``warm`` runs read from the page cache (each set is read once
before they start). The ``cold`` runs evict every file of the set with ``posix_fadvise(POSIX_FADV_DONTNEED)``
(no root needed) before each timed command, so every tool reads from the disk the same way; ``fincore``
(util-linux) checks once per set that nothing of it stayed in the page cache. Timings are
interleaved (one of each tool per round) and each figure is the median of ``--repeat`` rounds; ratios are
of medians measured in this run. Peak memory is the child's peak RSS as GNU ``time -f %M`` reports it (the
kernel's ``ru_maxrss`` of a process forked from a small parent); it counts resident memory-mapped file
pages too.

Usage::

    .venv/bin/python benchmarks/sign_peers.py                # full run (~10 min on 2 cores)
    .venv/bin/python benchmarks/sign_peers.py --quick        # smoke run: 4 x 64 MiB, 200 small files
    .venv/bin/python benchmarks/sign_peers.py --repeat 5 --cold-repeat 3 --keep
    .venv/bin/python benchmarks/sign_peers.py --render benchmarks/results/sign_peers.json   # tables only

Writes ``benchmarks/results/sign_peers.json`` (raw timings) and ``benchmarks/results/sign_peers.md``
(a section for docs/benchmarks.md); ``--quick`` writes ``sign_peers.quick.*`` instead.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata as md
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, RESULTS, VENV_BIN, drop_file_cache, flush_file, machine, median  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20
GB = 1e9  # speeds are quoted in GB/s (10^9 bytes per second)

GOALS = {
    "sha256_vs_ceiling": 0.85,  # ww SHA-256 sign and verify, big set, fraction of the in-memory ceiling
    "sha256_vs_ms_big": 1.5,  # speed-up over model-signing, big set
    "sha256_vs_ms_small": 3.0,  # speed-up over model-signing, small-file set
    "blake3_vs_cat": 0.9,  # ww BLAKE3 sign/verify speed as a fraction of cat's
    "peak_rss_mb": 256,  # ww sign, any model size
    "verify_help_s": 0.3,  # `weightwarden verify --help`
}

# ---------------------------------------------------------------------------------------------------------
# Data sets


def _rng_bytes(rng: object, n: int) -> bytes:
    return rng.bytes(n)  # type: ignore[attr-defined]


def make_big(folder: Path, shards: int, shard_bytes: int, seed: int = 3) -> None:
    """``shards`` safetensors files, each ``shard_bytes`` of tensor data in 8 BF16 tensors (random bytes)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per = shard_bytes // 8
    per -= per % 2
    for i in range(shards):
        header: dict[str, object] = {"__metadata__": {"format": "pt"}}
        for t in range(8):
            header[f"model.layers.{i * 8 + t}.mlp.weight"] = {
                "dtype": "BF16", "shape": [per // 2], "data_offsets": [t * per, (t + 1) * per]}
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        path = folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        with open(path, "wb") as f:
            f.write(len(raw).to_bytes(8, "little"))
            f.write(raw)
            left = per * 8
            while left:
                n = min(64 * MIB, left)
                f.write(_rng_bytes(rng, n))
                left -= n
            f.flush()
            os.fsync(f.fileno())
    (folder / "config.json").write_text(json.dumps({"model_type": "benchmark", "shards": shards}) + "\n")


def make_small(folder: Path, count: int, seed: int = 5) -> None:
    """``count`` files of 4 KB to 100 KB (log-uniform) spread over 20 sub-folders."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(math.log(4_000), math.log(100_000), count)).astype(int)
    for i, size in enumerate(sizes):
        sub = folder / f"part{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"blob_{i:05d}.bin").write_bytes(_rng_bytes(rng, int(size)))
    os.sync()


def list_files(folder: Path) -> list[str]:
    out = []
    for dirpath, _dirs, names in os.walk(folder):
        out.extend(os.path.join(dirpath, n) for n in names)
    out.sort()
    return out


def resident_bytes(files: list[str]) -> int:
    """Bytes of ``files`` in the page cache, by util-linux ``fincore`` (-1 where it is missing or fails)."""
    if not shutil.which("fincore"):
        return -1
    total = 0
    for i in range(0, len(files), 500):
        res = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", *files[i:i + 500]],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            return -1
        total += sum(int(x) for x in res.stdout.split())
    return total


def make_keys(folder: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = folder / "p256.key", folder / "p256.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


# ---------------------------------------------------------------------------------------------------------
# Running


@dataclass
class Timed:
    seconds: float
    rc: int
    maxrss_kb: int
    tail: str = ""


# GNU time reports the child's peak RSS. Not os.wait4 on our own child: Linux carries the parent's RSS at
# fork into the child's ru_maxrss (exec records the old address space's high-water mark), which would put
# this script's ~80 MB under every tool. GNU time is a small process, so what it forks starts small.
GNU_TIME = "/usr/bin/time"
# The children's environment: bytecode cache on (see the module docstring), set by main().
CHILD_ENV: dict[str, str] | None = None


def child_env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_child(cmd: list[str], log: Path, *, discard_stdout: bool = False) -> Timed:
    """Run ``cmd`` with output to ``log`` (stdout to /dev/null if ``discard_stdout``); wall time around the
    whole process and the child's peak RSS."""
    rss_file = log.with_suffix(".rss")
    use_time = os.path.exists(GNU_TIME)
    full = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *cmd] if use_time else cmd
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=subprocess.DEVNULL if discard_stdout else out,
                                stderr=out, stdin=subprocess.DEVNULL, env=CHILD_ENV)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss  # upper bound (includes this script's RSS), used only without GNU time
    if use_time:
        try:
            maxrss = int(rss_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            maxrss = -1
    tail = log.read_bytes()[-800:].decode(errors="replace") if rc != 0 else ""
    return Timed(seconds, rc, maxrss, tail)


@dataclass
class Tool:
    name: str
    set_bytes: int = 0
    runs: dict[str, list[Timed]] = field(default_factory=lambda: {"warm": [], "cold": []})


LIB_SIGN = """
import json, sys
from weightwarden.integrity.hashing import digest_model
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.statement import build_statement
model, key, out, hash_type, tensors = sys.argv[1:6]
manifest = digest_model(model, hash_type=hash_type, tensors=tensors == "tensors")
payload = json.dumps(build_statement(manifest), separators=(",", ":")).encode()
with open(key, "rb") as f:
    bundle = KeySigner(f.read()).sign(payload)
with open(out, "wb") as f:
    f.write(bundle.to_json())
"""

LIB_VERIFY = """
import sys
from weightwarden.integrity.hashing import digest_model
from weightwarden.integrity.manifest import ChangeKind, diff
from weightwarden.integrity.statement import read_statement
from weightwarden.integrity.verifying import KeyVerifier
model, pub, bundle = sys.argv[1:4]
with open(pub, "rb") as f:
    verifier = KeyVerifier(f.read())
with open(bundle, "rb") as f:
    payload = verifier.verify(f.read()).payload
expected = read_statement(payload).manifest
spec = expected.spec
actual = digest_model(model, hash_type=spec.hash_type, method=spec.method, shard_size=spec.shard_size,
                      ignore_paths=spec.ignore_paths, allow_symlinks=spec.allow_symlinks)
bad = [c for c in diff(expected, actual) if c.status != ChangeKind.OK]
sys.exit(1 if bad else 0)
"""


ENGINE = """
import json, sys, time
from weightwarden.integrity.hashing import digest_model
model, repeat = sys.argv[1], int(sys.argv[2])
out = {}
for hash_type, tensors in (("sha256", False), ("sha256", True), ("blake3", False), ("blake3", True)):
    digest_model(model, hash_type=hash_type, tensors=tensors)  # imports, and the page cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        digest_model(model, hash_type=hash_type, tensors=tensors)
        times.append(time.perf_counter() - t0)
    out[f"{hash_type}{'-tensors' if tensors else ''}"] = times
print(json.dumps(out))
"""


def engine_speed(model: Path, nbytes: int, repeat: int) -> dict[str, object]:
    """weightwarden's hashing engine in process (``digest_model``, warm cache, imports done): what the CLI
    would reach without its start-up. Tells the engine's own efficiency apart from fixed costs."""
    res = subprocess.run([str(VENV_BIN / "python"), "-c", ENGINE, str(model), str(repeat)], capture_output=True,
                         text=True, check=False, env=CHILD_ENV)
    if res.returncode != 0:
        return {"error": res.stderr[-800:]}
    times = json.loads(res.stdout)
    return {k: {"times_s": v, "median_s": median(v), "gbps": nbytes / median(v) / GB} for k, v in times.items()}


class WW:
    """How to invoke weightwarden sign/verify: its CLI if it has those verbs, else the library."""

    def __init__(self) -> None:
        self.exe = str(VENV_BIN / "weightwarden")
        self.python = str(VENV_BIN / "python")
        self.mode = "library"
        self.sign_help = self._help("sign")
        self.verify_help = self._help("verify")
        self.out_opt = self._pick(self.sign_help, ["--bundle", "--output", "--signature", "-o"])
        self.hash_opt = self._pick(self.sign_help, ["--hash-type", "--hash", "--algorithm"])
        self.vbundle_opt = self._pick(self.verify_help, ["--bundle", "--signature"])
        self.key_opt = self._pick(self.sign_help, ["--key", "--private-key"])
        self.pub_opt = self._pick(self.verify_help, ["--key", "--public-key"])
        if all([self.sign_help, self.verify_help, self.out_opt, self.hash_opt, self.vbundle_opt,
                self.key_opt, self.pub_opt]):
            self.mode = "cli"

    def _help(self, verb: str) -> str:
        try:
            res = subprocess.run([self.exe, verb, "--help"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return res.stdout if res.returncode == 0 else ""

    @staticmethod
    def _pick(text: str, options: list[str]) -> str | None:
        for opt in options:
            if re.search(rf"(^|[\s,]){re.escape(opt)}([\s,=]|$)", text, re.M):
                return opt
        return None

    def sign(self, model: Path, key: Path, out: Path, hash_type: str, *, tensors: bool = True) -> list[str]:
        """``tensors=False`` leaves out the tensor-level evidence (diagnostic: what it costs)."""
        if self.mode == "cli" and (tensors or "--no-tensor-digests" in self.sign_help):
            return [self.exe, "sign", str(model), self.key_opt, str(key), self.out_opt, str(out),  # type: ignore[list-item]
                    self.hash_opt, hash_type, *([] if tensors else ["--no-tensor-digests"])]  # type: ignore[list-item]
        return self.sign_library(model, key, out, hash_type, tensors=tensors)

    def sign_library(self, model: Path, key: Path, out: Path, hash_type: str, *, tensors: bool = True) -> list[str]:
        """The library in ``python -c``; ``tensors=False`` leaves out the per-tensor digests (diagnostic)."""
        return [self.python, "-c", LIB_SIGN, str(model), str(key), str(out), hash_type,
                "tensors" if tensors else "no-tensors"]

    def verify(self, model: Path, pub: Path, bundle: Path) -> list[str]:
        if self.mode == "cli":
            return [self.exe, "verify", str(model), self.vbundle_opt, str(bundle), self.pub_opt, str(pub)]  # type: ignore[list-item]
        return [self.python, "-c", LIB_VERIFY, str(model), str(pub), str(bundle)]


def ms_sign(model: Path, key: Path, out: Path) -> list[str]:
    return [str(VENV_BIN / "model_signing"), "--log-level", "WARNING", "sign", "key", str(model),
            "--signature", str(out), "--private_key", str(key)]


def ms_verify(model: Path, pub: Path, bundle: Path) -> list[str]:
    return [str(VENV_BIN / "model_signing"), "--log-level", "WARNING", "verify", "key", str(model),
            "--signature", str(bundle), "--public_key", str(pub)]


# ---------------------------------------------------------------------------------------------------------
# Ceiling


def hash_ceiling(buf_bytes: int, repeat: int) -> dict[str, object]:
    """Aggregate in-memory SHA-256 GB/s with every core hashing its own buffer at once; BLAKE3 for reference."""
    import blake3
    import numpy as np

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    rng = np.random.default_rng(11)
    bufs = [rng.bytes(buf_bytes) for _ in range(cores)]

    def all_cores() -> float:
        barrier = threading.Barrier(cores + 1)

        def work(b: bytes) -> None:
            barrier.wait()
            hashlib.sha256(b).digest()

        threads = [threading.Thread(target=work, args=(b,)) for b in bufs]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    def one_core() -> float:
        t0 = time.perf_counter()
        hashlib.sha256(bufs[0]).digest()
        return time.perf_counter() - t0

    def b3_all() -> float:
        t0 = time.perf_counter()
        h = blake3.blake3(max_threads=blake3.blake3.AUTO)
        for b in bufs:
            h.update(b)
        h.digest()
        return time.perf_counter() - t0

    all_cores()  # warm-up (page faults of the buffers, thread start)
    return {
        "cores": cores,
        "buffer_bytes": buf_bytes,
        "sha256_all_cores_s": [all_cores() for _ in range(repeat)],
        "sha256_one_core_s": [one_core() for _ in range(repeat)],
        "blake3_all_threads_s": [b3_all() for _ in range(repeat)],
    }


def ceiling_summary(before: dict[str, object], after: dict[str, object]) -> dict[str, object]:
    """Medians over the runs before and after the data sets (the machine is noisy; one figure for both)."""
    cores, buf = before["cores"], before["buffer_bytes"]
    out: dict[str, object] = {"cores": cores, "buffer_bytes": buf, "before": before, "after": after}
    for key, nbytes in (("sha256_all_cores", buf * cores), ("sha256_one_core", buf),  # type: ignore[operator]
                        ("blake3_all_threads", buf * cores)):  # type: ignore[operator]
        times = [*before[f"{key}_s"], *after[f"{key}_s"]]  # type: ignore[misc]
        out[f"{key}_gbps"] = nbytes / median(times) / GB
        out[f"{key}_gbps_before"] = nbytes / median(before[f"{key}_s"]) / GB  # type: ignore[arg-type]
        out[f"{key}_gbps_after"] = nbytes / median(after[f"{key}_s"]) / GB  # type: ignore[arg-type]
    return out


def startup(cmd: list[str], n: int = 10) -> dict[str, object]:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=CHILD_ENV)
    times = []
    rc = 0
    for _ in range(n):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=CHILD_ENV)
        times.append(time.perf_counter() - t0)
        rc = rc or res.returncode
    return {"cmd": " ".join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd)), "times_s": times,
            "median_s": median(times), "rc": rc}


# ---------------------------------------------------------------------------------------------------------
# One data set


def bench_set(name: str, model: Path, keys: tuple[Path, Path], work: Path, ww: WW, *, repeat: int,
              cold_repeat: int) -> dict[str, object]:
    files = list_files(model)
    nbytes = sum(os.path.getsize(f) for f in files)
    priv, pub = keys
    sigs = {k: work / f"{name}.{k}.sig" for k in ("ms", "ww-sha256", "ww-blake3")}
    commands: dict[str, list[str]] = {
        "cat": ["cat", *files],
        "ms-sign": ms_sign(model, priv, sigs["ms"]),
        "ms-verify": ms_verify(model, pub, sigs["ms"]),
        "ww-sha256-sign": ww.sign(model, priv, sigs["ww-sha256"], "sha256"),
        "ww-sha256-verify": ww.verify(model, pub, sigs["ww-sha256"]),
        "ww-blake3-sign": ww.sign(model, priv, sigs["ww-blake3"], "blake3"),
        "ww-blake3-verify": ww.verify(model, pub, sigs["ww-blake3"]),
    }
    if any(f.endswith(".safetensors") for f in files):
        # Diagnostic: the same work without the tensor-level evidence (with BLAKE3 each safetensors tensor
        # byte is otherwise hashed twice; with SHA-256 the evidence is the file hash's own saved states).
        for hash_type in ("sha256", "blake3"):
            sig = work / f"{name}.{hash_type}-nt.sig"
            commands[f"ww-{hash_type}-sign-notensors"] = ww.sign(model, priv, sig, hash_type, tensors=False)
            commands[f"ww-{hash_type}-verify-notensors"] = ww.verify(model, pub, sig)
    runs: dict[str, dict[str, list[Timed]]] = {k: {"warm": [], "cold": []} for k in commands}
    log = work / "child.log"

    cold_check: list[int] = []

    def evict() -> None:
        for f in files:
            drop_file_cache(f)
        if not cold_check:  # once per set: the eviction really emptied the page cache of the set
            cold_check.append(resident_bytes(files))

    for f in files:
        flush_file(f)
    # One untimed run of every command: writes the bytecode caches (and the bundles the verifiers read).
    for tool, cmd in commands.items():
        res = run_child(cmd, log, discard_stdout=tool == "cat")
        if res.rc != 0:
            print(f"  [{name} warm-up] {tool} rc={res.rc}\n    " + res.tail.replace("\n", "\n    "), flush=True)
    evidence = {h: tensor_evidence(sigs[f"ww-{h}"]) for h in ("sha256", "blake3")}
    modes = [("warm", repeat)] + ([("cold", cold_repeat)] if cold_repeat else [])
    for mode, rounds in modes:
        if mode == "warm":
            subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True)  # fill the page cache
        for r in range(rounds):
            for tool, cmd in commands.items():
                if mode == "cold":
                    evict()
                res = run_child(cmd, log, discard_stdout=tool == "cat")
                runs[tool][mode].append(res)
                status = "ok" if res.rc == 0 else f"rc={res.rc}"
                print(f"  [{name} {mode} {r + 1}/{rounds}] {tool:28s} {res.seconds:8.3f}s "
                      f"{nbytes / res.seconds / GB:6.2f} GB/s  maxrss {res.maxrss_kb / 1024:7.1f} MB  {status}",
                      flush=True)
                if res.rc != 0:
                    print("    " + res.tail.replace("\n", "\n    "), flush=True)
    summary: dict[str, dict[str, object]] = {}
    for tool, by_mode in runs.items():
        summary[tool] = {}
        for mode, rs in by_mode.items():
            if not rs:
                continue
            ok = [r.seconds for r in rs if r.rc == 0]
            med = median(ok) if ok else float("nan")
            summary[tool][mode] = {
                "times_s": [round(r.seconds, 4) for r in rs],
                "rcs": [r.rc for r in rs],
                "maxrss_mb": [round(r.maxrss_kb / 1024, 1) for r in rs],
                "median_s": med,
                "gbps": nbytes / med / GB if ok else float("nan"),
                "all_ok": all(r.rc == 0 for r in rs),
                "first_error": next((r.tail for r in rs if r.rc != 0), None),
            }
    tensor_bytes = sum(os.path.getsize(f) for f in files if f.endswith(".safetensors"))
    return {"files": len(files), "bytes": nbytes, "tensor_bytes": tensor_bytes, "tensor_evidence": evidence,
            "tools": summary,
            "resident_after_eviction_bytes": cold_check[0] if cold_check else None,
            "commands": {k: _show(v, model, work) for k, v in commands.items()}}


def tensor_evidence(bundle: Path) -> str | None:
    """The tensor evidence kind a weightwarden bundle signs (``sha256-state``, ``blake3``...), or None."""
    try:
        envelope = json.loads(bundle.read_bytes())["dsseEnvelope"]
        statement = json.loads(base64.b64decode(envelope["payload"]))
        ext = statement["predicate"].get("weightwarden") or {}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ext.get("tensor_hash") if ext.get("tensors") else None


def _show(cmd: list[str], model: Path, work: Path) -> str:
    if cmd[0] == "cat":
        return f"cat <{len(cmd) - 1} files> > /dev/null"
    parts = []
    for c in cmd:
        if c in (LIB_SIGN, LIB_VERIFY):
            parts.append("'<" + ("LIB_SIGN" if c == LIB_SIGN else "LIB_VERIFY") + " in sign_peers.py>'")
            continue
        parts.append(c.replace(str(model), "MODEL").replace(str(work), "WORK").replace(str(VENV_BIN) + "/", ""))
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Report


def _ratio(a: float, b: float) -> float:
    return a / b if b and a == a and b == b else float("nan")


def analyse(result: dict[str, object]) -> dict[str, object]:
    """Ratios the issue names, per set and page-cache mode, with met/missed against the goals."""
    ceiling = result["ceiling"]["sha256_all_cores_gbps"]  # type: ignore[index]
    out: dict[str, object] = {}
    for set_name, data in result["sets"].items():  # type: ignore[attr-defined]
        tools = data["tools"]
        for mode in ("warm", "cold"):
            if mode not in tools["cat"]:
                continue

            def g(tool: str, m: str = mode, tools: dict = tools) -> float:
                return tools[tool][m]["gbps"]

            def t(tool: str, m: str = mode, tools: dict = tools) -> float:
                return tools[tool][m]["median_s"]

            r = {
                "sha256_sign_vs_ceiling": _ratio(g("ww-sha256-sign"), ceiling),
                "sha256_verify_vs_ceiling": _ratio(g("ww-sha256-verify"), ceiling),
                "sha256_sign_vs_ms": _ratio(t("ms-sign"), t("ww-sha256-sign")),
                "sha256_verify_vs_ms": _ratio(t("ms-verify"), t("ww-sha256-verify")),
                "blake3_sign_vs_cat": _ratio(g("ww-blake3-sign"), g("cat")),
                "blake3_verify_vs_cat": _ratio(g("ww-blake3-verify"), g("cat")),
                "sha256_sign_vs_cat": _ratio(g("ww-sha256-sign"), g("cat")),
                "ms_sign_vs_ceiling": _ratio(g("ms-sign"), ceiling),
            }
            if "ww-sha256-sign-notensors" in tools:
                r["sha256_sign_notensors_vs_ceiling"] = _ratio(g("ww-sha256-sign-notensors"), ceiling)
                r["sha256_verify_notensors_vs_ceiling"] = _ratio(g("ww-sha256-verify-notensors"), ceiling)
                r["sha256_sign_notensors_vs_ms"] = _ratio(t("ms-sign"), t("ww-sha256-sign-notensors"))
                r["sha256_verify_notensors_vs_ms"] = _ratio(t("ms-verify"), t("ww-sha256-verify-notensors"))
                r["blake3_sign_notensors_vs_cat"] = _ratio(g("ww-blake3-sign-notensors"), g("cat"))
                r["blake3_verify_notensors_vs_cat"] = _ratio(g("ww-blake3-verify-notensors"), g("cat"))
            out[f"{set_name}/{mode}"] = r
    _add_bounds(result, out)
    peak = max((max(v["maxrss_mb"]) for s in result["sets"].values()  # type: ignore[attr-defined]
                for k, tv in s["tools"].items() if k.startswith("ww-") for v in tv.values()), default=float("nan"))
    out["ww_peak_rss_mb"] = peak
    return out


def _add_bounds(result: dict[str, object], out: dict[str, object]) -> None:
    """The best ratio any implementation could reach here, from this run's own figures (module docstring).

    ``t_min`` = weightwarden's start-up (``weightwarden verify --help``) + bytes / SHA-256 ceiling; with
    tensor digests, + tensor bytes / BLAKE3 ceiling. Reads are taken as free (warm cache), so the bounds
    are generous: a goal above its bound cannot be met on this machine by any implementation.
    """
    ceil = result["ceiling"]
    sha, b3 = ceil["sha256_all_cores_gbps"] * GB, ceil["blake3_all_threads_gbps"] * GB  # type: ignore[index]
    st = (result.get("startup") or {}).get("weightwarden verify --help")  # type: ignore[union-attr]
    start = st["median_s"] if st else 0.0
    for set_name, data in result["sets"].items():  # type: ignore[attr-defined]
        key = f"{set_name}/warm"
        if key not in out:
            continue
        nbytes, tbytes = data["bytes"], data.get("tensor_bytes", 0)
        evidence = data.get("tensor_evidence") or {}
        t_files = start + nbytes / sha
        # Saved SHA-256 states cost no hashing; tensor digests hash every tensor byte a second time.
        t_tensors = t_files + (0 if evidence.get("sha256") == "sha256-state" else tbytes / b3)
        tools = data["tools"]
        r = out[key]
        r["bound_sha256_verify_vs_ceiling"] = nbytes / t_files / sha
        r["bound_sha256_sign_vs_ceiling"] = nbytes / t_tensors / sha
        r["bound_sha256_verify_vs_ms"] = _ratio(tools["ms-verify"]["warm"]["median_s"], t_files)
        r["bound_sha256_sign_vs_ms"] = _ratio(tools["ms-sign"]["warm"]["median_s"], t_tensors)
        cat = tools["cat"]["warm"]["gbps"] * GB
        t_b3 = start + nbytes / b3
        r["bound_blake3_verify_vs_cat"] = nbytes / t_b3 / cat
        r["bound_blake3_sign_vs_cat"] = nbytes / (t_b3 + tbytes / b3) / cat
        r["ms_hashing_vs_ceiling"] = nbytes / max(1e-9, tools["ms-sign"]["warm"]["median_s"]
                                                  - _ms_start(result)) / sha


def _ms_start(result: dict[str, object]) -> float:
    st = (result.get("startup") or {}).get("model_signing --help")  # type: ignore[union-attr]
    return st["median_s"] if st else 0.0


def _fmt(x: float, spec: str = ".2f") -> str:
    return "n/a" if x != x else format(x, spec)


def _verdict(value: float, goal: float, higher_is_better: bool = True) -> str:
    if value != value:
        return "not measured"
    ok = value >= goal if higher_is_better else value < goal
    if ok:
        return "**met**"
    if higher_is_better:
        return f"**missed** ({_fmt(value / goal * 100, '.0f')}% of the goal)"
    return f"**missed** ({_fmt(value / goal, '.2f')}× the limit)"


def render(result: dict[str, object]) -> tuple[str, str]:
    """(console table, markdown section)."""
    an = result["analysis"]
    ceil = result["ceiling"]
    mach = result["machine"]
    lines_md: list[str] = []
    add = lines_md.append
    add("## Sign / verify: weightwarden vs model-signing (issue 3)")
    add("")
    add(f"Measured {mach['date_utc']} by `benchmarks/sign_peers.py{' --quick' if result['quick'] else ''}` "
        f"(repeat {result['repeat']} warm, {result['cold_repeat']} cold; medians, all figures from one run). "
        f"Machine: {mach['nproc']} cores, {mach['cpu']}, {mach['memory_gib']} GiB RAM, {mach['os']}, "
        f"Python {mach['python']}; load average (1/5/15 min) {_fmt_load(mach.get('loadavg'))} at the start, "
        f"{_fmt_load(result.get('loadavg_end'))} at the end; the run took {result['total_s'] / 60:.1f} min. "
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".")
    add("")
    add(f"weightwarden was run as {'its CLI (`weightwarden sign/verify`)' if result['ww_mode'] == 'cli' else 'the library in `python -c` (no `weightwarden sign/verify` CLI yet): `digest_model` + `build_statement` + `KeySigner` / `KeyVerifier` + `read_statement` + `diff`'}"
        "; model-signing as its CLI (`model_signing sign key` / `verify key`, P-256, default `files` + "
        "SHA-256). Every tool is a subprocess, so start-up is included for all. `cat` is one `cat` process "
        "over all files of the set (stdout to /dev/null). weightwarden signs its tensor-level evidence for "
        "safetensors files (on by default): " + _evidence_text(result) + " The `*-notensors` rows sign "
        "without it (`--no-tensor-digests`) and show what it costs. `weightwarden verify` prints its default "
        "per-file table (to a file).")
    add("")
    add(f"Hashing ceiling (in memory, {ceil['cores']} threads each hashing its own "
        f"{ceil['buffer_bytes'] // MIB} MiB buffer with hashlib at once; median of the runs before and after "
        f"the data sets): SHA-256 **{ceil['sha256_all_cores_gbps']:.2f} GB/s** (before "
        f"{ceil['sha256_all_cores_gbps_before']:.2f}, after {ceil['sha256_all_cores_gbps_after']:.2f}; "
        f"{ceil['sha256_one_core_gbps']:.2f} GB/s on one core); "
        f"BLAKE3 on all threads {ceil['blake3_all_threads_gbps']:.2f} GB/s.")
    add("")
    add("Warm = files in the page cache (the sets fit in RAM; read once before the warm rounds). "
        "Cold = every file evicted with `posix_fadvise(POSIX_FADV_DONTNEED)` before each timed command "
        "(resident bytes after the first eviction, by `fincore`: "
        + ", ".join(f"{k} {_fmt_bytes(v.get('resident_after_eviction_bytes'))}" for k, v in result["sets"].items())
        + "; this is the guest's page cache: the hypervisor may still cache the virtual disk).")
    add("")
    console: list[str] = []
    for set_name, data in result["sets"].items():
        title = (f"{set_name}: {data['files']} files, {data['bytes'] / GIB:.2f} GiB" if data["bytes"] >= GIB / 4
                 else f"{set_name}: {data['files']} files, {data['bytes'] / MIB:.1f} MiB")
        add(f"### {title}")
        add("")
        modes = [m for m in ("warm", "cold") if m in data["tools"]["cat"]]
        head = "| tool | " + " | ".join(f"{m} median | {m} GB/s" for m in modes) + " | peak RSS |"
        add(head)
        add("| --- |" + " ---: | ---: |" * len(modes) + " ---: |")
        console.append(f"\n{title}")
        console.append(f"  {'tool':28s}" + "".join(f" {m + ' s':>10s} {m + ' GB/s':>10s}" for m in modes)
                       + f" {'peak MB':>9s}")
        for tool, by_mode in data["tools"].items():
            cells = []
            ccells = []
            for m in modes:
                v = by_mode[m]
                flag = "" if v["all_ok"] else " (failed runs!)"
                cells.append(f"{_fmt(v['median_s'], '.3f')} s{flag} | {_fmt(v['gbps'])}")
                ccells.append(f" {_fmt(v['median_s'], '.3f'):>10s} {_fmt(v['gbps']):>10s}")
            rss = max(max(v["maxrss_mb"]) for v in by_mode.values())
            add(f"| {tool} | " + " | ".join(cells) + f" | {rss:.0f} MB |")
            console.append(f"  {tool:28s}" + "".join(ccells) + f" {rss:9.0f}")
        add("")
    # Goals
    add("### Goals (issue 3)")
    add("")
    add("| goal | set / cache | measured | best possible here ¹ | verdict |")
    add("| --- | --- | ---: | ---: | --- |")
    console.append("\nGoals (bound = best possible here, from this run's ceiling and start-up):")

    def goal(label: str, where: str, value: float, target: float, unit: str = "×", higher: bool = True,
             bound: float = float("nan")) -> None:
        verdict = _verdict(value, target, higher)
        if bound == bound and bound < target and value < target:
            verdict += "; cannot be met on this machine"
        shown = f"{_fmt(bound)}{unit}" if bound == bound else "—"
        add(f"| {label} | {where} | {_fmt(value)}{unit} | {shown} | {verdict} |")
        console.append(f"  {label:46s} {where:22s} {_fmt(value):>8s}{unit}  bound {shown:>7s}  "
                       f"{verdict.replace('**', '')}")

    def b(r: dict, key: str) -> float:
        return r.get(key, float("nan"))

    for mode in ("warm", "cold"):
        key = f"big/{mode}"
        if key not in an:
            continue
        r = an[key]
        where = key + (" (disk-bound)" if mode == "cold" else "")
        goal("SHA-256 sign ≥ 0.85× ceiling", where, r["sha256_sign_vs_ceiling"], GOALS["sha256_vs_ceiling"],
             bound=b(r, "bound_sha256_sign_vs_ceiling"))
        goal("SHA-256 verify ≥ 0.85× ceiling", where, r["sha256_verify_vs_ceiling"], GOALS["sha256_vs_ceiling"],
             bound=b(r, "bound_sha256_verify_vs_ceiling"))
        goal("SHA-256 sign ≥ 1.5× model-signing", key, r["sha256_sign_vs_ms"], GOALS["sha256_vs_ms_big"],
             bound=b(r, "bound_sha256_sign_vs_ms"))
        goal("SHA-256 verify ≥ 1.5× model-signing", key, r["sha256_verify_vs_ms"], GOALS["sha256_vs_ms_big"],
             bound=b(r, "bound_sha256_verify_vs_ms"))
    for mode in ("warm", "cold"):
        key = f"small/{mode}"
        if key not in an:
            continue
        r = an[key]
        goal("SHA-256 sign ≥ 3× model-signing", key, r["sha256_sign_vs_ms"], GOALS["sha256_vs_ms_small"],
             bound=b(r, "bound_sha256_sign_vs_ms"))
        goal("SHA-256 verify ≥ 3× model-signing", key, r["sha256_verify_vs_ms"], GOALS["sha256_vs_ms_small"],
             bound=b(r, "bound_sha256_verify_vs_ms"))
    for set_name in result["sets"]:
        for mode in ("warm", "cold"):
            key = f"{set_name}/{mode}"
            if key not in an:
                continue
            r = an[key]
            goal("BLAKE3 sign ≥ 0.9× cat", key, r["blake3_sign_vs_cat"], GOALS["blake3_vs_cat"],
                 bound=b(r, "bound_blake3_sign_vs_cat"))
            goal("BLAKE3 verify ≥ 0.9× cat", key, r["blake3_verify_vs_cat"], GOALS["blake3_vs_cat"],
                 bound=b(r, "bound_blake3_verify_vs_cat"))
    goal("peak RSS of weightwarden sign < 256 MB", "all runs", an["ww_peak_rss_mb"], GOALS["peak_rss_mb"],
         " MB", higher=False)
    st = result["startup"]
    if st.get("weightwarden verify --help"):
        goal("`weightwarden verify --help` < 0.3 s", "median of 10",
             st["weightwarden verify --help"]["median_s"], GOALS["verify_help_s"], " s", higher=False)
    add("")
    bound_note = ("¹ Best possible here, warm cache, from this run's own figures: weightwarden's start-up "
                  "(`weightwarden verify --help`) plus every byte hashed once at the all-core in-memory "
                  "ceiling (SHA-256, or BLAKE3 for the `cat` rows); for sign, where the tensor evidence is a "
                  "second digest (BLAKE3 sign), every safetensors tensor byte also hashed once at the BLAKE3 "
                  "ceiling (SHA-256 sign saves the file hash's states instead: no extra hashing). "
                  "Reads cost nothing in this bound, so it is generous. A goal above its bound cannot be met on "
                  "this machine by any implementation that does that work.")
    big_warm = an.get("big/warm")
    if isinstance(big_warm, dict) and "ms_hashing_vs_ceiling" in big_warm:
        ms_share = big_warm["ms_hashing_vs_ceiling"]
        bound_note += (f" model-signing's own hashing (its big/warm sign time less its start-up, "
                       f"`model_signing --help`) ran at {_fmt(ms_share)}× the ceiling")
        bound_note += (", which leaves no room for 1.5× with SHA-256 over whole files." if ms_share * 1.5 > 1
                       else ".")
    add(bound_note)
    before, after = ceil["sha256_all_cores_gbps_before"], ceil["sha256_all_cores_gbps_after"]
    if abs(before - after) > 0.15 * max(before, after):
        add("")
        add(f"**Caution: the machine's load changed during this run** (SHA-256 ceiling {before:.2f} GB/s before "
            f"the data sets, {after:.2f} GB/s after): the ratios to the ceiling and the bounds are unreliable; "
            "only the ratios between tools timed in the same rounds (interleaved) mean something.")
    add("")
    add("Start-up (median of 10): " + "; ".join(f"`{k}` {_fmt(v['median_s'], '.3f')} s"
                                                 for k, v in st.items() if v) + ".")
    console.append("\nStart-up: " + "; ".join(f"{k} {_fmt(v['median_s'], '.3f')} s" for k, v in st.items() if v))
    add("")
    other = []
    for key, r in an.items():
        if not isinstance(r, dict):
            continue
        text = (f"{key}: SHA-256 sign {_fmt(r['sha256_sign_vs_cat'])}× cat, model-signing sign "
                f"{_fmt(r['ms_sign_vs_ceiling'])}× ceiling")
        if "sha256_sign_notensors_vs_ceiling" in r:
            text += (f"; without tensor digests: SHA-256 sign / verify {_fmt(r['sha256_sign_notensors_vs_ceiling'])}"
                     f"× / {_fmt(r['sha256_verify_notensors_vs_ceiling'])}× ceiling and "
                     f"{_fmt(r['sha256_sign_notensors_vs_ms'])}× / {_fmt(r['sha256_verify_notensors_vs_ms'])}× "
                     f"model-signing, BLAKE3 sign / verify {_fmt(r['blake3_sign_notensors_vs_cat'])}× / "
                     f"{_fmt(r['blake3_verify_notensors_vs_cat'])}× cat")
        other.append(text)
    add("Other ratios: " + "; ".join(other) + ".")
    add("")
    engine = []
    ceiling = result["ceiling"]["sha256_all_cores_gbps"]  # type: ignore[index]
    for set_name, data in result["sets"].items():
        e = data.get("engine") or {}
        if "sha256" not in e:
            continue
        kinds = data.get("tensor_evidence") or {}
        text = (f"{set_name}: SHA-256 {_fmt(e['sha256']['gbps'])} GB/s = {_fmt(e['sha256']['gbps'] / ceiling)}× "
                f"the ceiling; SHA-256 + tensor evidence ({kinds.get('sha256') or 'none'}) "
                f"{_fmt(e['sha256-tensors']['gbps'])} GB/s = {_fmt(e['sha256-tensors']['gbps'] / ceiling)}×; "
                f"BLAKE3 {_fmt(e['blake3']['gbps'])} GB/s")
        if "blake3-tensors" in e:
            text += (f"; BLAKE3 + tensor evidence ({kinds.get('blake3') or 'none'}) "
                     f"{_fmt(e['blake3-tensors']['gbps'])} GB/s")
        engine.append(text)
    if engine:
        add("The hashing engine alone, in process (`digest_model`, warm cache, imports done, median of "
            f"{result['repeat'] if result['repeat'] >= 3 else 3}): " + "; ".join(engine) + ". The gap between these "
            "and the CLI rows above is the CLI's fixed cost (interpreter start-up, imports, bundle, report) plus "
            "noise: a fresh process (the CLI) can even hash faster than this long-lived one.")
        add("")
    big = result["sets"].get("big")
    if big and "cold" in big["tools"]["cat"]:
        fastest = max(big["tools"].items(), key=lambda kv: kv[1]["cold"]["gbps"])
        text = (f"Cold reads: `cat` is one sequential stream; on this virtual disk concurrent readers go faster "
                f"(the fastest tool, `{fastest[0]}`, read the big set at {_fmt(fastest[1]['cold']['gbps'])} GB/s "
                f"cold, `cat` at {_fmt(big['tools']['cat']['cold']['gbps'])} GB/s)")
        cold = an["big/cold"]
        if max(cold["sha256_sign_vs_ceiling"], cold["sha256_verify_vs_ceiling"]) < GOALS["sha256_vs_ceiling"]:
            text += (", so cold runs are bound by the disk, not the hash: the ceiling rows marked disk-bound are "
                     "out of reach cold")
        add(text + f" (model-signing sign: {_fmt(cold['ms_sign_vs_ceiling'])}× the ceiling cold).")
        add("")
    return "\n".join(console), "\n".join(lines_md) + "\n"


def _evidence_text(result: dict[str, object]) -> str:
    kinds = {}
    for data in result["sets"].values():  # type: ignore[attr-defined]
        for hash_type, kind in (data.get("tensor_evidence") or {}).items():
            if kind:
                kinds[hash_type] = kind
    if not kinds:
        return "none was found in the bundles of this run."
    parts = []
    for hash_type, kind in sorted(kinds.items(), key=lambda kv: kv[0] != "sha256"):
        if kind == "sha256-state":
            parts.append(f"{hash_type} sign saves the file hash's SHA-256 state at every tensor boundary "
                         "(`sha256-state`: no tensor byte is hashed twice)")
        else:
            parts.append(f"{hash_type} sign adds a {kind} digest of every tensor (each tensor byte is hashed "
                         "twice)")
    return "; ".join(parts) + "."


def _fmt_bytes(n: object) -> str:
    if not isinstance(n, int) or n < 0:
        return "not checked"
    return f"{n:,} B"


def _fmt_load(load: object) -> str:
    if not load:
        return "n/a"
    return " / ".join(f"{x:.2f}" for x in load)  # type: ignore[union-attr]


def versions() -> dict[str, str]:
    out = {}
    for dist in ("weightwarden", "model-signing", "blake3", "cryptography"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    cat = subprocess.run(["cat", "--version"], capture_output=True, text=True, check=False).stdout.splitlines()
    out["cat"] = cat[0] if cat else "unknown"
    return out


# ---------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 x 64 MiB shards, 200 small files")
    ap.add_argument("--repeat", type=int, default=3, help="warm rounds per set (default 3)")
    ap.add_argument("--cold-repeat", type=int, default=3, help="cold rounds per set (default 3; 0 = none)")
    ap.add_argument("--sets", default="big,small", help="comma-separated: big, small")
    ap.add_argument("--keep", action="store_true", help="keep the generated data under benchmarks/.data/")
    ap.add_argument("--render", metavar="JSON", help="only re-render the tables/markdown from a saved result")
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads(Path(args.render).read_text())
        console, markdown = render(saved)
        print(console)
        Path(args.render).with_suffix(".md").write_text(markdown)
        return 0

    shard_bytes = 64 * MIB if args.quick else GIB
    small_count = 200 if args.quick else 2000
    ceiling_buf = 64 * MIB if args.quick else 256 * MIB
    root = DATA / ("sign_quick" if args.quick else "sign")
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    started = time.perf_counter()
    mach = machine()
    ww = WW()
    print(f"weightwarden mode: {ww.mode}; machine: {mach['nproc']} cores, {mach['cpu']}, "
          f"{mach['memory_gib']} GiB; load {mach['loadavg']}", flush=True)

    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=root))
    global CHILD_ENV
    CHILD_ENV = child_env(work / "pycache")
    keys = make_keys(work)
    result: dict[str, object] = {
        "benchmark": "sign_peers", "issue": 3, "quick": args.quick, "repeat": args.repeat,
        "cold_repeat": args.cold_repeat, "machine": mach, "versions": versions(), "ww_mode": ww.mode,
        "page_cache": "warm: files cached (read once before the warm rounds); cold: posix_fadvise "
                      "DONTNEED on every file of the set before each timed command",
        "cat": "one `cat` subprocess over all files of the set, stdout to /dev/null",
        "sets": {},
    }
    try:
        t0 = time.perf_counter()
        models: dict[str, Path] = {}
        if "big" in sets:
            models["big"] = root / "big"
            if not (models["big"] / "config.json").exists():
                shutil.rmtree(models["big"], ignore_errors=True)
                make_big(models["big"], 4, shard_bytes)
        if "small" in sets:
            models["small"] = root / "small"
            if not models["small"].exists() or len(list_files(models["small"])) != small_count:
                shutil.rmtree(models["small"], ignore_errors=True)
                make_small(models["small"], small_count)
        result["generate_s"] = time.perf_counter() - t0
        print(f"data ready in {result['generate_s']:.1f}s", flush=True)

        before = hash_ceiling(ceiling_buf, max(3, args.repeat))
        for name, model in models.items():
            print(f"set {name}:", flush=True)
            result["sets"][name] = data = bench_set(name, model, keys, work, ww, repeat=args.repeat,  # type: ignore[index]
                                                    cold_repeat=args.cold_repeat)
            data["engine"] = engine_speed(model, data["bytes"], max(3, args.repeat))
            print("  engine in process: " + ", ".join(f"{k} {v['gbps']:.2f} GB/s" if "gbps" in v else f"{k} {v}"
                                                      for k, v in data["engine"].items()), flush=True)
        result["ceiling"] = c = ceiling_summary(before, hash_ceiling(ceiling_buf, max(3, args.repeat)))
        print(f"ceiling: SHA-256 {c['sha256_all_cores_gbps']:.2f} GB/s on {c['cores']} cores (before "
              f"{c['sha256_all_cores_gbps_before']:.2f}, after {c['sha256_all_cores_gbps_after']:.2f}; "
              f"{c['sha256_one_core_gbps']:.2f} on one); BLAKE3 {c['blake3_all_threads_gbps']:.2f}", flush=True)

        result["startup"] = {
            "weightwarden --help": startup([ww.exe, "--help"]),
            "weightwarden verify --help": startup([ww.exe, "verify", "--help"]) if ww.verify_help else None,
            "model_signing --help": startup([str(VENV_BIN / "model_signing"), "--help"]),
        }
        result["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        result["analysis"] = analyse(result)
        result["total_s"] = time.perf_counter() - started
        console, markdown = render(result)
        print(console)
        stem = "sign_peers.quick" if args.quick else "sign_peers"
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (RESULTS / f"{stem}.md").write_text(markdown)
        print(f"\nwrote {RESULTS / (stem + '.json')} and {RESULTS / (stem + '.md')} "
              f"(total {result['total_s']:.0f}s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
