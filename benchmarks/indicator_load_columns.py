"""Load cost and peak memory of `load_set` on maximal sets, this tree against a baseline tree (red team round 10:
column views of a set's digests and sketches, and the digest stream on bytes 10-31).

Usage: python benchmarks/indicator_load_columns.py --baseline-root /path/to/old/checkout [--repeat 3]

Builds two sets of uniform digests and sketches (what an honest set looks like to the tests): the most prompts
the 64 MiB bound holds at num_perm 1024, and 99,000 prompts at num_perm 16 (the report's big2.json shape, 26 MB).
Each tree loads each set in its own process (CPU seconds, median of --repeat, and the process's peak RSS, which
includes the interpreter and numpy, ~40 MB). A load that refuses the set still counts (the tests ran in full).
Writes benchmarks/results/indicator_load_columns.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, write_result  # noqa: E402

CHILD = """
import json, resource, statistics, sys, time
from weightwarden.indicators.records import load_set
times, outcome = [], "loaded"
for _ in range(int(sys.argv[2])):
    start = time.process_time()
    try:
        load_set(sys.argv[1])
    except Exception as exc:  # a refusal still ran every test
        outcome = "refused: " + str(exc)[-160:]
    times.append(time.process_time() - start)
import weightwarden
print(json.dumps({"cpu_s": statistics.median(times), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  / 1024, "outcome": outcome, "tree": weightwarden.__file__}))
"""


def build(path: Path, num_perm: int, count: int) -> int:
    from weightwarden.indicators.keys import GroupKey
    from weightwarden.indicators.records import MAX_SET_BYTES
    from weightwarden.indicators.sketch import Scheme

    n = 4 * num_perm
    count = count or (MAX_SET_BYTES - 4096) // (2 * n + 400)
    rng = np.random.default_rng(10)
    sketches = rng.integers(0, 256, size=(count, n), dtype=np.uint8)
    digests = sorted({os.urandom(32).hex() for _ in range(count)})
    scheme = Scheme(key_id=GroupKey(os.urandom(32)).key_id, num_perm=num_perm, bands=num_perm // 2, rows=2)
    data = {"schema": "weightwarden.indicator-set/v2", "producer": None, "created": "2026-12-07T00:00:00Z",
            "tlp": "amber", "sources": ["folder"], "scheme": scheme.to_json(), "models": [],
            "prompts": [{"id": "pi-" + e[:16], "exact": e, "sketch": s.tobytes().hex(), "atlas": "AML.T0051",
                         "category": None, "decoded": []} for e, s in zip(digests, sketches, strict=False)]}
    path.write_text(json.dumps(data))
    return len(data["prompts"])


def compare_trees(path: Path, num_perm: int, count: int, baseline_root: str, repeat: int) -> dict[str, object]:
    """Build the set at ``path``, load it in the baseline tree and in this one (each in its own process, median
    of ``repeat``) and return the row: shape, size, both figures and the CPU ratio."""
    prompts = build(path, num_perm, count)
    row: dict[str, object] = {"num_perm": num_perm, "prompts": prompts, "bytes": path.stat().st_size}
    for name, root in (("baseline", baseline_root), ("this_tree", str(ROOT))):
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(repeat)], check=True,
                             capture_output=True, text=True, cwd=root, env={**os.environ, "PYTHONPATH": root}).stdout
        row[name] = json.loads(out.strip().splitlines()[-1])
    row["cpu_ratio"] = row["this_tree"]["cpu_s"] / row["baseline"]["cpu_s"]  # type: ignore[index]
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-root", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    result: dict[str, object] = {"machine": machine(), "load_average_start": os.getloadavg(), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for num_perm, count in ((1024, 0), (16, 99_000)):
            path = Path(tmp) / f"set{num_perm}.json"
            row = compare_trees(path, num_perm, count, args.baseline_root, args.repeat)
            result["runs"].append(row)  # type: ignore[union-attr]
    result["load_average_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    write_result("indicator_load_columns", result)


if __name__ == "__main__":
    main()
