"""Load cost of a maximal hostile indicator set, and of the randomness tests, before and after red team round 9.

Usage: python benchmarks/indicator_load.py [--baseline OLD_randomness.py] [--prompts N] [--num-perm P]

* builds a set of random (uniform) digests and sketches at ``--num-perm`` (default 1024) with as many prompts as fit
  the 64 MiB set bound in the v2 (hex) format, writes it to a temporary file and times ``load_set`` (native) and
  the STIX import of the same set (CPU seconds, median of 3);
* if ``--baseline`` names the round-8 ``randomness.py`` (e.g. ``git show adee093:weightwarden/indicators/
  randomness.py > /tmp/r8.py``), times its per-sketch/per-digest tests on a sample, against this tree's vectorised
  tests on the same sample, in the same run (ratio on the same machine).

Writes benchmarks/results/indicator_load.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine, write_result  # noqa: E402


def cpu(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--num-perm", type=int, default=1024)
    ap.add_argument("--prompts", type=int, default=0)
    ap.add_argument("--sample", type=int, default=300)
    args = ap.parse_args()

    from weightwarden.indicators import randomness as new
    from weightwarden.indicators.keys import GroupKey
    from weightwarden.indicators.records import MAX_SET_BYTES, SET_MAC, IndicatorSet, dump_set, load_set
    from weightwarden.indicators.sketch import Scheme
    from weightwarden.indicators.stix import stix_text, to_stix

    n = 4 * args.num_perm
    count = args.prompts or (MAX_SET_BYTES - 4096) // (2 * n + 400)
    rng = np.random.default_rng(14)
    sketches = rng.integers(0, 256, size=(count, n), dtype=np.uint8)
    digests = sorted({os.urandom(32).hex() for _ in range(count)})
    scheme = Scheme(key_id=GroupKey(os.urandom(32)).key_id, num_perm=args.num_perm, bands=args.num_perm // 2,
                    rows=2)
    data = {"schema": "weightwarden.indicator-set/v2", "producer": None, "created": "2026-12-06T00:00:00Z",
            "tlp": "amber", "sources": ["folder"], "scheme": scheme.to_json(),
            # a tag of the right form (load_set checks its form only; its value needs the key)
            "auth": {"mac": SET_MAC, "tag": os.urandom(32).hex()}, "models": [],
            "prompts": [{"id": "pi-" + e[:16], "exact": e, "sketch": s.tobytes().hex(), "atlas": "AML.T0051",
                         "category": None, "decoded": []} for e, s in zip(digests, sketches, strict=False)]}
    result: dict[str, object] = {"machine": machine(), "load_average": os.getloadavg(), "num_perm": args.num_perm,
                                 "prompts": len(data["prompts"])}
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(tmp) / "big.json"
        # the one spelling load_set reads (red team round 15): the writer's own output for the set
        native.write_text(dump_set(IndicatorSet.from_json(data)))
        result["native_bytes"] = native.stat().st_size
        indicators = load_set(native)
        result["load_native_cpu_s"] = cpu(lambda: load_set(native))
        # STIX adds ~1 KiB of objects per prompt: the largest bundle under the 64 MiB bound holds fewer prompts
        from dataclasses import replace

        stix = Path(tmp) / "big.stix.json"
        keep = len(indicators.prompts)
        while True:
            stix.write_text(stix_text(to_stix(replace(indicators, prompts=indicators.prompts[:keep]))))
            if stix.stat().st_size <= MAX_SET_BYTES:
                break
            keep = keep * 7 // 8
        result["stix_prompts"] = keep
        result["stix_bytes"] = stix.stat().st_size
        result["load_stix_cpu_s"] = cpu(lambda: load_set(stix), repeat=1)

    sample = sketches[: args.sample]
    raw_digests = [bytes.fromhex(d) for d in digests[: args.sample]]
    result["sample"] = len(sample)
    result["new_sketch_us"] = cpu(lambda: new.sketch_text_reasons(sample)) / len(sample) * 1e6
    result["new_sketch_description_us"] = cpu(
        lambda: new.description_savings(sample, new.SKETCH_MODELS)) / len(sample) * 1e6
    result["new_digest_us"] = cpu(lambda: (new.digest_text_reasons(raw_digests),
                                           new.digest_set_reason(raw_digests))) / len(raw_digests) * 1e6
    if args.baseline:
        spec = importlib.util.spec_from_file_location("randomness_baseline", args.baseline)
        old = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        spec.loader.exec_module(old)
        rows = [bytes(r) for r in sample]
        old.sketch_text_reason(rows[0])  # warm the cached limits, as new's were above
        result["old_sketch_us"] = cpu(lambda: [old.sketch_text_reason(r) for r in rows]) / len(rows) * 1e6
        result["old_digest_us"] = cpu(lambda: ([old.digest_text_reason(d) for d in raw_digests],
                                               old.digest_set_reason(raw_digests))) / len(raw_digests) * 1e6
        result["sketch_speedup"] = result["old_sketch_us"] / result["new_sketch_us"]
        result["digest_speedup"] = result["old_digest_us"] / result["new_digest_us"]
        result["old_sketch_tests_for_this_set_cpu_s"] = result["old_sketch_us"] * len(data["prompts"]) / 1e6
    print(json.dumps(result, indent=1, default=str))
    write_result("indicator_load", result)


if __name__ == "__main__":
    main()
