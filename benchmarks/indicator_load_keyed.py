"""Load cost of `load_set` on an honest 20,000-prompt set, this tree against a baseline tree (red team round 12 on
indicators: every digest and sketch column judged in windows of the rows ordered by each digest key).

Usage: python benchmarks/indicator_load_keyed.py --baseline-root /path/to/old/checkout [--repeat 3]

Builds sets of uniform digests and sketches (what an honest set looks like to the tests) with
indicator_load_columns.build: 20,000 prompts at num_perm 16 (the report's shape) and at num_perm 128 (the
default), and the largest set the 64 MiB bound holds at num_perm 1024. Each tree loads each set in its own process
(CPU seconds, median of --repeat). Writes benchmarks/results/indicator_load_keyed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, write_result  # noqa: E402
from benchmarks.indicator_load_columns import compare_trees  # noqa: E402


def main(result_name: str = "indicator_load_keyed", shapes: str = "16:20000,128:20000,1024:0") -> None:
    """Time ``load_set`` on generated sets of each shape, this tree against ``--baseline-root``, and write the
    figures as ``result_name`` (the nibble-relation benchmark of round 13 runs this with its own shapes)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-root", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shapes", default=shapes, help="num_perm:prompts,... (0: the most)")
    args = ap.parse_args()
    result: dict[str, object] = {"machine": machine(), "load_average_start": os.getloadavg(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            num_perm, count = (int(x) for x in shape.split(":"))
            path = Path(tmp) / f"set{num_perm}_{count}.json"
            row = compare_trees(path, num_perm, count, args.baseline_root, args.repeat)
            print(json.dumps(row), flush=True)
            result["runs"].append(row)  # type: ignore[union-attr]
    result["load_average_end"] = os.getloadavg()
    write_result(result_name, result)


if __name__ == "__main__":
    main()
