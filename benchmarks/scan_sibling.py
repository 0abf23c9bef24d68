"""Benchmark: the scan with and without the sibling process (issue 11, "Speed"), interleaved, on one corpus.

The scan engine forks one sibling process on 2-3 CPUs when the 1-minute load average leaves a CPU spare
(``engine._use_sibling``). This script measures what the sibling does to wall and CPU time whatever the
load, by running the real CLI three ways in every round, in fresh processes with a bytecode cache:

- ``in-process``: ``weightwarden scan CORPUS --workers 1``;
- ``sibling``: the same command with the load average reported as 0 (the sibling always runs);
- ``default``: the command as a user runs it (the load average decides).

    .venv/bin/python benchmarks/scan_sibling.py --corpus benchmarks/.data/corpus [--rounds 8]

Build the corpus first (``python -m tests.corpus DEST`` or ``scan_peers.py``). Results:
``benchmarks/results/scan_sibling.json`` (median wall and CPU per mode, every run, load averages).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, median, run_timed, write_result  # noqa: E402

# Runs the CLI entry point with the load average reported as idle: the sibling's own condition, forced.
_FORCED = (
    "import os, sys; os.getloadavg = lambda: (0.0, 0.0, 0.0); sys.argv = ['weightwarden'] + sys.argv[1:]; "
    "from weightwarden.cli.main import run; sys.exit(run())"
)


def _commands(corpus: str) -> dict[str, list[str]]:
    scan = ["scan", corpus, "--format", "json"]
    return {
        "in-process": [sys.executable, "-m", "weightwarden", *scan, "--workers", "1"],
        "sibling": [sys.executable, "-c", _FORCED, *scan],
        "default": [sys.executable, "-m", "weightwarden", *scan],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--out", default="scan_sibling")
    ap.add_argument("--note", default=None)
    args = ap.parse_args()
    corpus = str(args.corpus.resolve())
    cmds = _commands(corpus)
    with tempfile.TemporaryDirectory(prefix="ww-pyc-") as pyc:
        env = dict(os.environ, PYTHONPYCACHEPREFIX=pyc)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for cmd in cmds.values():  # untimed: writes the bytecode cache
            run_timed(cmd, env=env)
        wall: dict[str, list[float]] = {name: [] for name in cmds}
        cpu: dict[str, list[float]] = {name: [] for name in cmds}
        loads: list[float] = []
        codes: set[int] = set()
        for i in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for name, cmd in cmds.items():
                before = os.times()
                run = run_timed(cmd, env=env)
                after = os.times()
                codes.add(run.returncode)
                wall[name].append(run.seconds)
                cpu[name].append((after.children_user - before.children_user)
                                 + (after.children_system - before.children_system))
                print(f"round {i + 1} {name:<10} wall {run.seconds:.3f}s cpu {cpu[name][-1]:.3f}s "
                      f"(load {loads[-1]:.1f})", flush=True)
    summary = {name: {"wall_median_s": median(wall[name]), "cpu_median_s": median(cpu[name]),
                      "wall_runs_s": wall[name], "cpu_runs_s": cpu[name]} for name in cmds}
    base = summary["in-process"]
    for name, row in summary.items():
        print(f"{name:<10} wall {row['wall_median_s']:.3f}s ({row['wall_median_s'] / base['wall_median_s']:.2f}x) "
              f"cpu {row['cpu_median_s']:.3f}s ({row['cpu_median_s'] / base['cpu_median_s']:.2f}x)")
    print(f"load average over the rounds: {min(loads):.1f}-{max(loads):.1f}; exit codes {sorted(codes)}")
    path = write_result(args.out, {"machine": machine(), "note": args.note, "corpus": corpus,
                                   "rounds": args.rounds, "loadavg_1min": loads, "exit_codes": sorted(codes),
                                   "modes": summary})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
