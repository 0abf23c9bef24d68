"""Cost of the static chat-template analysis: ``_analyze`` (uncached) over a folder of real templates.

Usage: python benchmarks/template_analysis.py DATASET_DIR [DATASET_DIR ...] --tree A --tree B [--rounds 3] [--repeat 5]

Each ``--tree`` is a checkout of weightwarden (e.g. main and a branch). Every round times each tree once, in
turn (interleaved: the machine is shared and its load drifts), in a fresh interpreter with that tree first on
``sys.path``; one timing is the median of ``--repeat`` passes over every ``*/*.jinja`` of the DATASET_DIRs.
Wall and CPU (process) time are both recorded (CPU is steadier on a shared, loaded machine). Each child
also times Jinja's parsing alone (``templates._parse``, our tokenizer feeding Jinja's parser) the
same way, so the walk's share is the difference.
Writes ``benchmarks/results/template_analysis.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from common import machine, median, write_result

_CHILD = r"""
import json, pathlib, statistics, sys, time
from weightwarden.scan import templates
paths = sorted(p for d in sys.argv[2:] for p in pathlib.Path(d).glob("*/*.jinja"))
sources = [p.read_text(encoding="utf-8") for p in paths]
times, parse, cpu, cpu_parse = [], [], [], []
for _ in range(int(sys.argv[1])):
    t0, c0 = time.perf_counter(), time.process_time()
    issues = sum(len(templates._analyze(s)) for s in sources)
    times.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    for s in sources:
        try:
            templates._parse(s)
        except Exception:
            pass
    parse.append(time.perf_counter() - t0)
    cpu_parse.append(time.process_time() - c0)
print(json.dumps({"templates": len(sources), "issues": issues, "times": times, "parse_times": parse,
                  "cpu_times": cpu, "cpu_parse_times": cpu_parse,
                  "median": statistics.median(times), "parse_median": statistics.median(parse),
                  "cpu_median": statistics.median(cpu), "cpu_parse_median": statistics.median(cpu_parse),
                  "module": templates.__file__}))
"""


def _one(tree: str, datasets: list[str], repeat: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(repeat), *datasets], env=env, cwd=tree,
                         capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", nargs="+")
    parser.add_argument("--tree", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="template_analysis", help="results file name (without .json)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, object]]] = {t: [] for t in args.tree}
    for _ in range(args.rounds):
        for tree in args.tree:
            got = _one(tree, args.dataset, args.repeat)
            runs[tree].append(got)
            print(f"{tree}: median {got['median']:.3f} s, parse {got['parse_median']:.3f} s; CPU "
                  f"{got['cpu_median']:.3f} s, parse {got['cpu_parse_median']:.3f} s "
                  f"({got['templates']} templates, {got['issues']} issues)",
                  flush=True)
    summary = {t: {"analysis": median([float(r["median"]) for r in rs]),
                   "parse": median([float(r["parse_median"]) for r in rs]),
                   "cpu": median([float(r["cpu_median"]) for r in rs]),
                   "cpu_parse": median([float(r["cpu_parse_median"]) for r in rs])} for t, rs in runs.items()}
    path = write_result(args.out, {"machine": machine(), "load": os.getloadavg(),
                                              "rounds": runs, "median_of_medians": summary})
    print(json.dumps(summary), "->", path)


if __name__ == "__main__":
    main()
