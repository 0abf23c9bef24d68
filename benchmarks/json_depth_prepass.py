"""Cost of the JSON depth pre-pass (red team round 29) next to the json.loads it guards.

Builds the Gemma-like tokenizer.json of ``large_json_scan.py`` (``--mb`` MB, 262,144 tokens with ``{{``/``{%``
tokens, merges as pairs) in memory and times, interleaved, ``--repeat`` rounds of: ``depth_problem`` (the check
every parse of input now runs first) and ``json.loads`` of the same bytes. Also the adversarial case the check
must stay linear on: ``--brackets-mb`` MB of ``[`` then ``]`` (a padded document), and the same bytes after
a prefix that does not nest (only counted, never parsed). Writes benchmarks/results/json_depth_prepass.json.

    python benchmarks/json_depth_prepass.py --mb 33 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, write_result  # noqa: E402
from large_json_scan import tokenizer  # noqa: E402

from weightwarden.artifact.json_depth import depth_problem  # noqa: E402


def _once(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=33)
    ap.add_argument("--brackets-mb", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    raw = json.dumps(tokenizer(args.mb * 1024 * 1024), ensure_ascii=False).encode("utf-8")
    half = args.brackets_mb * 1024 * 1024 // 2
    deep = b"[" * half + b"]" * half
    times: dict[str, list[float]] = {"prepass_tokenizer": [], "json_loads_tokenizer": [], "prepass_brackets": []}
    assert depth_problem(raw) is None and depth_problem(deep) is not None
    for _ in range(args.repeat):
        times["prepass_tokenizer"].append(_once(lambda: depth_problem(raw)))
        times["json_loads_tokenizer"].append(_once(lambda: json.loads(raw)))
        times["prepass_brackets"].append(_once(lambda: depth_problem(deep)))
    medians = {k: median(v) for k, v in times.items()}
    payload = {"machine": machine(), "tokenizer_bytes": len(raw), "brackets_bytes": len(deep), "repeat": args.repeat,
               "times_s": times, "median_s": medians,
               "prepass_over_json_loads": medians["prepass_tokenizer"] / medians["json_loads_tokenizer"]}
    path = write_result("json_depth_prepass", payload)
    print(json.dumps({k: payload[k] for k in ("tokenizer_bytes", "median_s", "prepass_over_json_loads")}, indent=1))
    print(path)


if __name__ == "__main__":
    main()
