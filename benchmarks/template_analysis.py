"""Cost of the static chat-template analysis: ``_analyze`` (uncached) over a folder of real templates.

Usage: python benchmarks/template_analysis.py DATASET_DIR --tree A --tree B [--rounds 3] [--repeat 5]

Each ``--tree`` is a checkout of weightwarden (e.g. main and a branch). Every round times each tree once, in
turn (interleaved: the machine is shared and its load drifts), in a fresh interpreter with that tree first on
``sys.path``; one timing is the median of ``--repeat`` passes over every ``*/*.jinja`` of DATASET_DIR.
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
paths = sorted(pathlib.Path(sys.argv[1]).glob("*/*.jinja"))
sources = [p.read_text(encoding="utf-8") for p in paths]
times = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    issues = sum(len(templates._analyze(s)) for s in sources)
    times.append(time.perf_counter() - t0)
print(json.dumps({"templates": len(sources), "issues": issues, "times": times,
                  "median": statistics.median(times), "module": templates.__file__}))
"""


def _one(tree: str, dataset: str, repeat: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", _CHILD, dataset, str(repeat)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset")
    parser.add_argument("--tree", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, object]]] = {t: [] for t in args.tree}
    for _ in range(args.rounds):
        for tree in args.tree:
            got = _one(tree, args.dataset, args.repeat)
            runs[tree].append(got)
            print(f"{tree}: median {got['median']:.3f} s ({got['templates']} templates, {got['issues']} issues)",
                  flush=True)
    summary = {t: median([float(r["median"]) for r in rs]) for t, rs in runs.items()}
    path = write_result("template_analysis", {"machine": machine(), "load": os.getloadavg(),
                                              "rounds": runs, "median_of_medians": summary})
    print(json.dumps(summary), "->", path)


if __name__ == "__main__":
    main()
