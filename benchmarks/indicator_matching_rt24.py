"""False near matches between DIFFERENT attacks (red team round 24, class 1): the harmful-vs-harmful cell.

Until round 24 the false-match budget was measured on benign negatives only, and short attacks that share an
instruction frame ("Give detailed instructions for how to ...") near-matched each other. Here lab A's set is every
prompt of one harmful source and lab B's queries are every prompt of another (leave one source out: each ordered
pair of sources is a cell; nothing here was used to choose a parameter: the scheme v2 payload threshold was set
equal to the near threshold a priori and only checked on the v2 tuning cells).

Label (fixed before any pair was scored, and by someone else: the red team's ``unrelated.py`` of round 24): a pair
is *not the same attack* when the two raw prompts share no content word, a content word being a lower-case
``[a-z]+`` run of ≥ 3 letters outside the red team's template list, compared on its first 5 letters. A query is a
false match when it matches (exact or near) some prompt of lab A's set with which it shares no content word; pairs
that share a content word are neither counted as right nor as wrong (same topic: "how do I commit identity theft").
The rate of a cell is false-matched queries / queries; the worst cell is reported.

Methods: the shipped scheme v2 (product functions: Sketcher, BandIndex, near_estimates, is_near), the scheme v1
near test (MinHash of all shingles, 128 values, 64 × 2 bands, τ 0.35) on the same key, and the SimHash baseline at
the frozen v2 procedure's SimHash choice (w2 c5, Hamming distance ≤ 14).

    python benchmarks/indicator_matching_rt24.py   # writes benchmarks/results/indicator_matching_rt24.json
"""

from __future__ import annotations

import csv
import hashlib
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import machine, write_result  # noqa: E402
from benchmarks.indicator_matching import (  # noqa: E402
    DATASETS,
    _canon,
    _simhash,
    fresh_unrelated_texts,
    source_items,
)
from weightwarden.indicators.keys import GroupKey  # noqa: E402
from weightwarden.indicators.sketch import (  # noqa: E402
    BandIndex,
    Scheme,
    Sketcher,
    estimate_jaccard,
    is_near,
    near_estimates,
    shingles,
)

# The red team's template list (round 24, /tmp/rt-ind24/unrelated.py), used only to LABEL pairs.
_LABEL_WORDS = (
    "give detailed instructions instruction step by on for how to a an the and or of in with without getting caught "
    "provide write describe detail create generate outline explain list guide tutorial post blog article message "
    "that someone someone's s your at home using use make into other from this be can get away it them their people "
    "who is are as")
LABEL_TEMPLATE = frozenset(_LABEL_WORDS.split())
SIMHASH = {"word_ngram": 2, "char_ngram": 5, "max_hamming": 14}  # the frozen v2 procedure's SimHash choice


def content_words(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]+", text.lower()) if w not in LABEL_TEMPLATE and len(w) >= 3}


def _pyrit() -> list[str]:
    out: list[str] = []
    for name in ("refusal.csv", "cyber.csv", "phishing.csv"):
        with open(DATASETS / "pyrit-scorer-evals" / name, encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines(True) if not line.startswith("# dataset_version")]
        out += [row["objective"] for row in csv.DictReader(lines)]
    return list(dict.fromkeys(out))


def _xstest_unsafe() -> list[str]:
    with open(DATASETS / "xstest" / "xstest_prompts.csv", encoding="utf-8") as handle:
        return [row["prompt"] for row in csv.DictReader(handle) if row["label"] == "unsafe"]


def harmful_sources() -> dict[str, list[str]]:
    return {"advbench": [i.messages[-1].content for i in source_items("advbench").items],
            "harmbench": [i.messages[-1].content for i in source_items("harmbench").items],
            "xstest_unsafe": _xstest_unsafe(), "cse_interpreter": fresh_unrelated_texts("cse_interpreter"),
            "pyrit_objectives": _pyrit()}


def _matches_minhash(lab_a: list[str], queries: list[str], sig: Callable[[str], np.ndarray], scheme: Scheme,
                     near: Callable[[np.ndarray, np.ndarray], bool]) -> list[set[int]]:
    """Which of ``lab_a`` each query matches: equal canonical text, or an LSH candidate (banded by ``scheme``) that
    ``near`` accepts on the two signatures ``sig`` gives."""
    sigs = [sig(_canon(t)) if _canon(t) else None for t in lab_a]
    exact: dict[str, set[int]] = {}
    index = BandIndex(scheme)
    for i, (t, s) in enumerate(zip(lab_a, sigs, strict=True)):
        if s is not None:
            exact.setdefault(_canon(t), set()).add(i)
            index.insert(str(i), s)
    out = []
    for t in queries:
        c = _canon(t)
        if not c:
            out.append(set())
            continue
        q = sig(c)
        out.append(set(exact.get(c, ())) | {int(j) for j in index.query(q) if near(q, sigs[int(j)])})
    return out


def _matches_v2(sk: Sketcher, lab_a: list[str], queries: list[str]) -> list[set[int]]:
    """The shipped scheme v2: whole-text and payload parts must both agree."""
    return _matches_minhash(lab_a, queries, sk.signature, sk.scheme,
                            lambda q, s: is_near(sk.scheme, *near_estimates(sk.scheme, q, s)))


def _matches_v1(sk: Sketcher, lab_a: list[str], queries: list[str]) -> list[set[int]]:
    """Scheme v1's near test: one MinHash of all shingles over all 128 permutations, τ 0.35."""
    v1 = Scheme(key_id=sk.scheme.key_id)  # only num_perm/bands/rows are read by BandIndex
    return _matches_minhash(lab_a, queries, lambda text: sk._minhash(shingles(text, 2, 3), sk.permutations), v1,
                            lambda q, s: estimate_jaccard(q, s).value >= 0.35)


def _matches_simhash(lab_a: list[str], queries: list[str]) -> list[set[int]]:
    w, c, d = SIMHASH["word_ngram"], SIMHASH["char_ngram"], SIMHASH["max_hamming"]
    orig = np.array([_simhash(shingles(_canon(t), w, c)) if _canon(t) else 0 for t in lab_a], dtype=np.uint64)
    empty = np.array([not _canon(t) for t in lab_a])
    out = []
    for t in queries:
        if not _canon(t):
            out.append(set())
            continue
        dist = np.bitwise_count(orig ^ np.uint64(_simhash(shingles(_canon(t), w, c))))
        out.append({int(i) for i in np.nonzero((dist <= d) & ~empty)[0]})
    return out


def cell(lab_a: list[str], queries: list[str], matched: list[set[int]]) -> dict[str, object]:
    words_a = [content_words(t) for t in lab_a]
    false_q, related_q, false_pairs, examples = 0, 0, 0, []
    for t, hits in zip(queries, matched, strict=True):
        wq = content_words(t)
        unrelated = [j for j in sorted(hits) if not (wq & words_a[j])]
        false_pairs += len(unrelated)
        false_q += bool(unrelated)
        related_q += bool(hits) and not unrelated
        if unrelated and len(examples) < 3:
            examples.append([lab_a[unrelated[0]][:100], t[:100]])
    return {"queries": len(queries), "false_matched_queries": false_q, "rate": round(false_q / len(queries), 4),
            "false_pairs": false_pairs, "queries_matched_same_topic_only": related_q, "examples": examples}


def run() -> dict[str, object]:
    key = GroupKey(hashlib.sha256(b"benchmark group key").digest())
    sk = Sketcher(key, Scheme(key_id=key.key_id))
    sources = harmful_sources()
    methods = {"scheme_v2_shipped": lambda a, q: _matches_v2(sk, a, q),
               "scheme_v1_whole_text": lambda a, q: _matches_v1(sk, a, q),
               "simhash_v2_choice": _matches_simhash}
    cells: dict[str, dict[str, dict]] = {m: {} for m in methods}
    t0 = time.perf_counter()
    for a_name, lab_a in sources.items():
        for q_name, queries in sources.items():
            if a_name == q_name:
                continue
            for m, fn in methods.items():
                cells[m][f"{a_name}->{q_name}"] = cell(lab_a, queries, fn(lab_a, queries))
    worst = {m: max(c.items(), key=lambda kv: kv[1]["rate"]) for m, c in cells.items()}
    return {"sources": {k: len(v) for k, v in sources.items()}, "scheme": sk.scheme.to_json() | {"key_id": "-"},
            "label": "no shared content word (red team round 24 template list, 5-letter prefixes, >= 3 letters)",
            "worst": {m: {"cell": c, **{k: v for k, v in row.items() if k != "examples"}} for m, (c, row) in
                      worst.items()},
            "cells": cells, "seconds": round(time.perf_counter() - t0, 1)}


def main() -> int:
    result = run()
    path = write_result("indicator_matching_rt24", {"benchmark": "indicator_matching_rt24", "machine": machine(),
                                                    **result})
    for m, w in result["worst"].items():
        print(f"WORST {m}: {w}")
    for m, c in result["cells"].items():
        print(m, {k: f"{v['false_matched_queries']}/{v['queries']}" for k, v in c.items()})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
