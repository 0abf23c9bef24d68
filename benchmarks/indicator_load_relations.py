"""Load cost of `load_set` on honest sets, this tree against a baseline tree (red team round 13 on indicators:
every digest column judged within the difference and XOR bins of every pair of other digest nibbles, every sketch
column within the equality bin).

Usage: python benchmarks/indicator_load_relations.py --baseline-root /path/to/old/checkout [--repeat 3]
    [--shapes 16:20000,128:5000]

Builds sets of uniform digests and sketches (what an honest set looks like to the tests) with
indicator_load_columns.build. Each tree loads each set in its own process (CPU seconds, median of --repeat).
Writes benchmarks/results/indicator_load_relations.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.indicator_load_keyed import main as keyed_main  # noqa: E402


def main() -> None:
    keyed_main("indicator_load_relations", "16:20000,128:5000")


if __name__ == "__main__":
    main()
