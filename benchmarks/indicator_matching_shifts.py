"""Red team round 23, class C: every Caesar shift (1..25, ROT13 included) and Atbash over AdvBench (520) and XSTest
(450): exact / near / missed of each enciphered prompt against its own plain prompt.

Exact: equal canonical texts (key-free). Near: the scheme v2 test (:func:`sketch.is_near`, whole text and payload part)
with the fixed benchmark key of round 19's script (the LSH candidate step is not modelled).

    python benchmarks/indicator_matching_shifts.py [--workers N] [--name NAME]
    # writes benchmarks/results/<NAME>.json (default indicator_matching_shifts)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import string
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import machine, write_result  # noqa: E402
from weightwarden.indicators.keys import GroupKey  # noqa: E402
from weightwarden.indicators.normalise import NORMALISATION, canonical  # noqa: E402
from weightwarden.indicators.sketch import Sketcher, is_near, near_estimates  # noqa: E402

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if not DATASETS.is_dir():
    DATASETS = Path("/work/shared/datasets")
LOW, UP = string.ascii_lowercase, string.ascii_uppercase
CIPHERS = [str(k) for k in range(1, 26)] + ["atbash"]


def encipher(cipher: str, text: str) -> str:
    """``text`` enciphered: Caesar by ``cipher`` places (a number), or Atbash."""
    if cipher == "atbash":
        return text.translate(str.maketrans(LOW + UP, LOW[::-1] + UP[::-1]))
    k = int(cipher)
    return text.translate(str.maketrans(LOW + UP, LOW[k:] + LOW[:k] + UP[k:] + UP[:k]))


def advbench() -> list[str]:
    return [s["value"] for s in yaml.safe_load((DATASETS / "advbench" / "adv_bench.yaml").read_text("utf-8"))["seeds"]]


def xstest() -> list[str]:
    with (DATASETS / "xstest" / "xstest_prompts.csv").open(encoding="utf-8") as f:
        return [row["prompt"] for row in csv.DictReader(f)]


_SKETCHER = Sketcher(GroupKey(hashlib.sha256(b"benchmark: round 19").digest()))


def _cell(job: tuple[str, str, list[str]]) -> tuple[str, str, dict[str, int]]:
    dataset, cipher, prompts = job
    exact = near = 0
    scheme = _SKETCHER.scheme
    for prompt in prompts:
        original = canonical(prompt).text
        text = canonical(encipher(cipher, prompt)).text
        if text == original:
            exact += 1
        elif text and original and is_near(scheme, *near_estimates(scheme, _SKETCHER.signature(original),
                                                                    _SKETCHER.signature(text))):
            near += 1
    return dataset, cipher, {"exact": exact, "near": near, "missed": len(prompts) - exact - near, "of": len(prompts)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--name", default="indicator_matching_shifts")
    args = parser.parse_args()
    data = {"advbench": advbench(), "xstest": xstest()}
    jobs = [(name, cipher, prompts) for name, prompts in data.items() for cipher in CIPHERS]
    t0 = time.perf_counter()
    results: dict[str, dict[str, dict[str, int]]] = {name: {} for name in data}
    with Pool(args.workers) as pool:
        for name, cipher, cell in pool.imap(_cell, jobs):
            results[name][cipher] = cell
            print(f"{name:8s} {cipher:>6s} exact {cell['exact']:3d} near {cell['near']:3d} missed {cell['missed']:3d}"
                  f" of {cell['of']}", flush=True)
    path = write_result(args.name, {
        "benchmark": "indicator_matching_shifts", "machine": machine(), "normalisation": NORMALISATION,
        "scheme": _SKETCHER.scheme.to_json(), "results": results, "seconds": round(time.perf_counter() - t0, 1)})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
