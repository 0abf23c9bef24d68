"""Benchmark: how the scan's forked pool shares the corpus between its workers (issue 11, "Speed", ninth pass).

On a shared machine under load, wall time says little about what a second core buys. This script measures CPU,
which load changes far less, and derives the critical path of a pooled scan:

- ``serial_cpu_s``: CPU of ``scan_paths(corpus, workers=1)`` in a fresh interpreter (imports included), its HDF5
  helper apart; ``serial_files_cpu_s``: the part spent scanning files (``engine.scan_file``), to compare with the
  workers' total (what the pool adds: fork page copies, per-worker caches and lazy imports, result pickling);
- ``parent_before_s``: CPU of the pooled scan's parent from interpreter start until its workers were forked
  (imports, discovery, ``pool.preload``);
- ``worker_cpu_s``: per worker, the CPU of the chunks it scanned (from wrappers around ``pool._scan_chunk``);
- ``parent_after_s``: the parent's CPU after the fork (HDF5 files, collecting results, the report);
- ``critical_path_s`` = ``parent_before_s`` + max(``worker_cpu_s``) (+ nothing for the parent's own work done
  meanwhile): the wall time of the pooled scan on an idle machine with as many cores as workers, start-up and
  HDF5 helper aside.

    .venv/bin/python benchmarks/scan_pool_balance.py --corpus benchmarks/.data/corpus --repeat 5

Each run is a fresh interpreter (cold imports, bytecode cache on). Medians are quoted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, ROOT, machine, median, write_result  # noqa: E402 - benchmarks are scripts, not a package

_CHILD = r"""
import json, os, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
mode, corpus = sys.argv[1], sys.argv[2]
import weightwarden.cli.main  # noqa: F401 - what the CLI imports before scanning
from weightwarden.scan import engine, pool
marks = {}
if mode == "pool":
    original_chunk, original_run = pool._scan_chunk, pool.run
    def chunk(items, strict, limits):
        start = time.process_time()
        out = original_chunk(items, strict, limits)
        return out + [(-1, (os.getpid(), time.process_time() - start))]
    def run(*args, **kwargs):
        results = args[5]
        class Results(list):
            def __setitem__(self, i, v):
                if i == -1:
                    marks.setdefault("workers", {}).setdefault(str(v[0]), 0.0)
                    marks["workers"][str(v[0])] += v[1]
                    return
                list.__setitem__(self, i, v)
        mine = Results(results)
        original_submit = __import__("concurrent.futures").futures.ProcessPoolExecutor.submit
        def submit(self, *a, **k):
            marks.setdefault("parent_before_s", cpu())
            return original_submit(self, *a, **k)
        __import__("concurrent.futures").futures.ProcessPoolExecutor.submit = submit
        args = list(args); args[5] = mine
        original_run(*args, **kwargs)
        results[:] = mine
    pool._scan_chunk, pool.run = chunk, run
if mode == "serial":
    original_scan_file = engine.scan_file
    def scan_file(*a, **k):
        start = time.process_time()
        try:
            return original_scan_file(*a, **k)
        finally:
            marks["files_cpu_s"] = marks.get("files_cpu_s", 0.0) + time.process_time() - start
    engine.scan_file = scan_file
report = engine.scan_paths([corpus], workers=1 if mode == "serial" else 2)
marks["cpu_s"] = cpu()
marks["findings"] = len(report.findings)
print(json.dumps(marks))
"""


def one(mode: str, corpus: Path, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(corpus)], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DATA / "corpus")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default="scan_pool_balance")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=cache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        one("serial", args.corpus, env)  # warm the bytecode cache
        runs: list[dict[str, object]] = []
        load = [os.getloadavg()[0]]
        for i in range(args.repeat):
            serial = one("serial", args.corpus, env)
            pooled = one("pool", args.corpus, env)
            workers = sorted(pooled.get("workers", {}).values(), reverse=True)  # type: ignore[union-attr]
            before = float(pooled.get("parent_before_s", 0.0))  # type: ignore[arg-type]
            row = {
                "serial_cpu_s": serial["cpu_s"], "serial_files_cpu_s": serial["files_cpu_s"], "pool_parent_cpu_s": pooled["cpu_s"],
                "parent_before_s": before, "worker_cpu_s": workers,
                "parent_after_s": float(pooled["cpu_s"]) - before,  # type: ignore[arg-type]
                "critical_path_s": before + (workers[0] if workers else 0.0),
                "findings": [serial["findings"], pooled["findings"]],
            }
            runs.append(row)
            print(f"round {i + 1}: serial {row['serial_cpu_s']:.3f} s CPU (files {row['serial_files_cpu_s']:.3f} s); pool: parent before fork "
                  f"{before:.3f} s, workers {', '.join(f'{w:.3f}' for w in workers)} s, parent after "
                  f"{row['parent_after_s']:.3f} s; critical path {row['critical_path_s']:.3f} s", flush=True)
        load.append(os.getloadavg()[0])
    summary = {key: median([float(r[key]) for r in runs])  # type: ignore[arg-type]
               for key in ("serial_cpu_s", "serial_files_cpu_s", "parent_before_s", "parent_after_s", "critical_path_s")}
    summary["worker_total_cpu_s"] = median([sum(r["worker_cpu_s"]) for r in runs])  # type: ignore[arg-type]
    summary["busiest_worker_cpu_s"] = median([max(r["worker_cpu_s"] or [0.0]) for r in runs])  # type: ignore[arg-type]
    print("medians:", json.dumps({k: round(v, 3) for k, v in summary.items()}), "load", load)
    write_result(args.out, {"machine": machine(), "corpus": str(args.corpus), "load_1min": load,
                            "medians": summary, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
