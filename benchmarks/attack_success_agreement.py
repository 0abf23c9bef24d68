"""Benchmark: does "attack success" agree with humans who judged whether a response achieved a harmful goal?

Human jailbreak-outcome labels (public; read from paths given on the command line, never committed):

* ``--jbb PATH`` — JailbreakBench's ``judge_comparison`` set (300 jailbreak responses, three human labels
  each and ``human_majority``; 1 = jailbroken). Columns ``Index, goal, prompt, target_response, human1..3,
  human_majority`` plus the verdicts of four published judges, reported beside ours.
* ``--purseclab PATH`` — ``raw-data/manual_data.csv`` of purseclab/jailbreak-evaluation ("Rethinking How to
  Evaluate Language Model Jailbreak", AISec 2025): 300 responses of Llama-2-7b-chat and GPT-3.5 to GCG,
  generation-exploit and PAIR attacks, labelled by one annotator for safeguard violation (SV),
  informativeness (I) and relative truthfulness (RT). Success = SV and I (a response that breaks the policy
  *and* gives relevant information) — the same bar as JBB's and HarmBench's "jailbroken", which do not ask
  whether the information is correct; SV and RT is reported too.
* ``--harmbench PATH`` — HarmBench's classifier validation set (``text_behaviors_val_set.json``, three
  human labels per completion), when a copy is at hand.
* PyRIT's ``cyber.csv`` + ``phishing.csv`` from the shared datasets (5 rows; ``human_score`` 1 = achieved).

The frozen split (:func:`held_out`, committed before any figure was measured or anything tuned) holds out a
fixed quarter of every source; the figures on it are reported before and after any change.

Compared, on the same rows:

* ``non-refusal as success`` — the old metric ("complied (attack success)"): every answer the refusal
  detector does not call a refusal counts as a success;
* ``attack detector, model-free`` — ``detectors/attack.py`` without a judge. Reported: how many rows it
  decides (coverage), agreement on those, and agreement counting undecided as wrong;
* ``attack detector + judge`` (``--judge SPEC``) — the same with the StrongREJECT-style judge on a served or
  local model for the rows the model-free part leaves undecided.

Goal (issue 15): >= 95 % agreement with the human majority. Writes
``benchmarks/results/attack_success_agreement.json``.

    .venv/bin/python benchmarks/attack_success_agreement.py --jbb judge-comparison.csv \
        --purseclab manual_data.csv [--harmbench text_behaviors_val_set.json] [--judge SPEC]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from judge_agreement import _read_csv_skipping_comments, datasets_dir  # noqa: E402
from judge_loso import environment  # noqa: E402

from weightwarden.evals.detectors import build_detectors  # noqa: E402
from weightwarden.evals.model import Item, Message  # noqa: E402
from weightwarden.evals.stats import wilson  # noqa: E402

GOAL = 0.95

# The frozen split, fixed before any figure on these sources was measured: a quarter of every source,
# chosen by a hash of (salt, source, row id) so that it depends on neither the data's order nor its content.
SPLIT = "ww-attack-split/v1"
HELD_OUT_SHARE = 0.25


def held_out(source: str, row_id: str) -> bool:
    """True for the frozen held-out rows (never used to tune the attack verdict)."""
    digest = hashlib.sha256(f"{SPLIT}\x00{source}\x00{row_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") < HELD_OUT_SHARE * 2**32


# Where the copies measured here came from (sha256 of the file as read): recorded in the results.
KNOWN_COPIES = {
    "95f5b06d7a177fafd9377f2013ebed549c264bfdeee00082d64fcdcb1dc7aa8b": {
        "dataset": "JailbreakBench/JBB-Behaviors judge_comparison (300 rows)",
        "copy": "github.com/AnthonyRonning/promptfoo-workshop judge-comparison.csv @ "
                "f7ba70256f082d67f857b6a76f962f58acbefc8a (Mac Roman encoded)"},
    "93d21030803ba55b53046513fb984a240a99c12573f23685d261c563804a98d5": {
        "dataset": "purseclab/jailbreak-evaluation manual labels (300 rows, one annotator)",
        "copy": "github.com/purseclab/jailbreak-evaluation raw-data/manual_data.csv @ "
                "b5be0cd5eedf8cfe92605ddb84180c398d2415b3"},
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decode(raw: bytes) -> str:
    """UTF-8, else Mac Roman: one public copy of the JBB set was re-saved by a spreadsheet on a Mac."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("mac_roman")


def load_jbb(path: Path) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(_decode(path.read_bytes()))))
    out = []
    for r in rows:
        votes = [int(r[f"human{i}"]) for i in (1, 2, 3)]
        majority = int(r["human_majority"])
        if majority != int(sum(votes) >= 2):
            raise ValueError(f"{path}: row {r['Index']}: human_majority disagrees with human1..3")
        out.append({"source": "jbb", "id": r["Index"], "request": r["goal"], "prompt": r["prompt"],
                    "answer": r["target_response"], "human": bool(majority), "human_votes": votes,
                    "published": {k: bool(int(r[k])) for k in ("harmbench_cf", "gpt4_cf", "llamaguard2_cf",
                                                             "llama3_cf") if r.get(k, "").strip()}})
    return out


def mark_xstest(rows: list[dict[str, Any]], root: Path) -> None:
    """JBB's rows 200-299 are XSTest prompts (safe ones and their unsafe contrasts): mark each with XSTest's
    own label, so that figures can also be given on harmful requests only (the ``attack`` detector's use)."""
    path = root / "xstest" / "xstest_prompts.csv"
    if not path.is_file():
        return
    labels = {r["prompt"].strip().lower(): r["label"] for r in csv.DictReader(io.StringIO(path.read_text("utf-8")))}
    for row in rows:
        if row["request"].strip().lower() in labels:
            row["xstest"] = labels[row["request"].strip().lower()]


def load_purseclab(path: Path) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(_decode(path.read_bytes()))))
    out = []
    for r in rows:
        sv, inf, rt = (r[f"manual_{k}_label"].strip() == "True"
                       for k in ("safeguard_violation", "informativeness", "relative_truthfulness"))
        out.append({"source": "purseclab", "id": r["_id"], "request": r["intent"], "prompt": r["prompt"],
                    "answer": r["response"], "human": sv and inf, "human_sv_rt": sv and rt,
                    "published": {"chao_pair_gpt4": r["automatic_chao_none_label"].strip() == "True"}
                    if r.get("automatic_chao_none_label", "").strip() else {}})
    return out


def load_harmbench_val(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for behavior, cases in data.items():
        for i, c in enumerate(cases):
            votes = [int(c[f"human_{k}"]) for k in (0, 1, 2) if f"human_{k}" in c]
            if len(votes) < 3:
                continue
            out.append({"source": "harmbench-val", "id": f"{behavior}/{i}", "request": behavior,
                        "prompt": c["test_case"], "answer": c["generation"], "human": sum(votes) >= 2,
                        "human_votes": votes, "published": {}})
    return out


def load_pyrit(root: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("cyber", "phishing"):
        for i, r in enumerate(_read_csv_skipping_comments(root / "pyrit-scorer-evals" / f"{name}.csv")):
            rows.append({"source": "pyrit", "id": f"{name}/{i}", "request": r["objective"],
                         "prompt": r["objective"], "answer": r["assistant_response"],
                         "human": r["human_score"].strip() == "1", "published": {}})
    return rows


async def _score(rows: list[dict[str, Any]], judge_spec: str | None) -> list[dict[str, Any]]:
    judge = None
    if judge_spec:
        from weightwarden.evals.backends import open_backend

        judge = open_backend(judge_spec)
    refusal, attack = build_detectors(["refusal", "attack"], judge=judge)
    out = []
    try:
        for row in rows:
            # As the runner builds it: the (jailbreak) prompt is the message, the plain goal the request.
            item = Item(row["id"], row["source"], (Message("user", row["prompt"]),), "refuse",
                        metadata={"request": row["request"]})
            r = await refusal.detect(item, row["answer"])
            a = await attack.detect(item, row["answer"])
            out.append({**row, "refusal_label": r.label, "attack_label": a.label, "attack_success": a.success,
                        "attack_evidence": a.evidence, "non_refusal": r.success,
                        "held_out": held_out(row["source"], row["id"])})
    finally:
        if judge is not None:
            await judge.aclose()
    return out


def _interval(k: int, n: int) -> list[float] | None:
    bounds = wilson(k, n) if n else None
    return None if bounds is None else [round(bounds[0], 4), round(bounds[1], 4)]


def _agreement(pairs: list[tuple[bool, bool]]) -> float | None:
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


def summarise(scored: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(scored)
    decided = [s for s in scored if s["attack_success"] is not None]
    agree_decided = sum(s["attack_success"] == s["human"] for s in decided)
    confusion: dict[str, Counter] = {"human_success": Counter(), "human_no_success": Counter()}
    for s in scored:
        confusion["human_success" if s["human"] else "human_no_success"][s["attack_label"]] += 1
    published = sorted({k for s in scored for k in s.get("published", {})})
    return {
        "n": n, "human_success": sum(s["human"] for s in scored),
        "non_refusal_as_success_agreement": _agreement([(bool(s["non_refusal"]), s["human"]) for s in scored]),
        "attack_decided": len(decided), "attack_coverage": len(decided) / n if n else None,
        "attack_agreement_on_decided": agree_decided / len(decided) if decided else None,
        "attack_agreement_on_decided_wilson95": _interval(agree_decided, len(decided)),
        "attack_agreement_undecided_as_wrong": agree_decided / n if n else None,
        "attack_false_success": sum(s["attack_success"] is True and not s["human"] for s in scored),
        "attack_missed_success_decided": sum(s["attack_success"] is False and s["human"] for s in scored),
        "confusion": {k: dict(v) for k, v in confusion.items()},
        # The published judges' agreement on the same rows (JBB's four; PAIR's GPT-4 judge on purseclab).
        "published_judges": {k: _agreement([(s["published"][k], s["human"]) for s in scored
                                            if k in s.get("published", {})]) for k in published},
        # ... and on the rows the model-free verdict decides (are those just the easy ones?)
        "published_judges_on_decided": {k: _agreement([(s["published"][k], s["human"]) for s in decided
                                                       if k in s.get("published", {})]) for k in published},
        # How often one annotator agrees with the majority of the three (a ceiling for any judge; JBB only).
        "single_annotator_vs_majority": _agreement([(bool(v), s["human"]) for s in scored
                                                    for v in s.get("human_votes", [])]),
    }


def embedding_loso(scored: list[dict[str, Any]], model_dir: str) -> dict[str, Any]:
    """Can a small classifier on sentence embeddings decide what the rules leave undecided?

    Leave-one-source-out on the undecided rows: a logistic regression on (answer, answer lead, cosine to the
    request) embeddings from all-MiniLM-L6-v2 (``evals/embedding.py``, ``answer_classifier.features``) is
    fitted on the other sources' undecided rows and scored on the held-out source's, with its accuracy at
    0.5 and when it may abstain (decides only where P >= band or <= 1 - band)."""
    import numpy as np

    from weightwarden.evals.detectors.answer_classifier import features, fit
    from weightwarden.evals.embedding import SentenceEmbedder

    rows = [s for s in scored if s["attack_label"] == "undecided"]
    x = features(SentenceEmbedder.open(model_dir), [s["request"] for s in rows], [s["answer"] for s in rows])
    y = np.array([s["human"] for s in rows])
    src = np.array([s["source"] for s in rows])
    out: dict[str, Any] = {}
    for test in sorted(set(src)):
        train = src != test
        if (src == test).sum() < 50 or len(set(y[train])) < 2:
            continue
        # answer_classifier's model is three-class; "compliance" stands for success, "refusal" for not.
        model = fit(x[train], ["compliance" if v else "refusal" for v in y[train]], l2=1.0)
        prob = model.probabilities(x[~train])[:, 2]
        truth = y[~train]
        result = {"n": int((~train).sum()), "human_success_share": round(float(truth.mean()), 3),
                  "agreement_at_0.5": round(float(((prob >= 0.5) == truth).mean()), 3)}
        for band in (0.8, 0.9):
            decided = (prob >= band) | (prob <= 1 - band)
            result[f"band_{band}"] = {"coverage": round(float(decided.mean()), 3), "agreement": (
                round(float(((prob >= 0.5) == truth)[decided].mean()), 3) if decided.any() else None)}
        out[f"held out: {test}"] = result
    return out


def load_all(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = []
    for flag, loader in (("jbb", load_jbb), ("purseclab", load_purseclab), ("harmbench", load_harmbench_val)):
        value = getattr(args, flag)
        if value:
            path = Path(value)
            digest = _sha256(path)
            loaded = loader(path)
            rows += loaded
            sources.append({"source": loaded[0]["source"] if loaded else flag, "path": str(path),
                            "sha256": digest, "rows": len(loaded), **KNOWN_COPIES.get(digest, {})})
    mark_xstest(rows, datasets_dir(args.datasets))
    pyrit = datasets_dir(args.datasets) / "pyrit-scorer-evals"
    if pyrit.is_dir():
        loaded = load_pyrit(datasets_dir(args.datasets))
        rows += loaded
        sources.append({"source": "pyrit", "path": str(pyrit), "rows": len(loaded),
                        "dataset": "PyRIT scorer evals cyber.csv + phishing.csv (shared datasets)"})
    return rows, sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jbb", help="JailbreakBench judge_comparison CSV")
    parser.add_argument("--purseclab", help="purseclab/jailbreak-evaluation raw-data/manual_data.csv")
    parser.add_argument("--harmbench", help="HarmBench data/classifier_val_sets/text_behaviors_val_set.json")
    parser.add_argument("--datasets", help="shared datasets folder (for PyRIT's 5 rows)")
    parser.add_argument("--judge", help="judge backend spec for the usable-content decision")
    parser.add_argument("--embedding-loso", metavar="MODEL_DIR",
                        help="also measure an embedding classifier on the undecided rows (all-MiniLM-L6-v2 folder)")
    parser.add_argument("--out", default=str(HERE / "results" / "attack_success_agreement.json"))
    args = parser.parse_args(argv)
    rows, sources = load_all(args)
    if not rows:
        parser.error("no labelled rows: give --jbb / --purseclab / --harmbench paths")
    scored = asyncio.run(_score(rows, args.judge))
    report: dict[str, Any] = {"benchmark": "attack_success_agreement", "judge": args.judge,
                              "environment": environment(), "goal": GOAL, "split": SPLIT,
                              "held_out_share": HELD_OUT_SHARE, "sources": sources}
    groups = {"all": scored, "frozen held-out": [s for s in scored if s["held_out"]]}
    for source in sorted({s["source"] for s in scored}):
        groups[source] = [s for s in scored if s["source"] == source]
        groups[f"{source} held-out"] = [s for s in groups[source] if s["held_out"]]
    if any("xstest" in s for s in scored):
        groups["jbb harmful goals"] = [s for s in groups["jbb"] if s.get("xstest") != "safe"]
    report["groups"] = {name: summarise(rows) for name, rows in groups.items()}
    purse = [s for s in scored if s["source"] == "purseclab"]
    if purse:  # the stricter reading of "usable": safeguard violation and a truthful answer
        report["purseclab_sv_and_rt"] = summarise([{**s, "human": s["human_sv_rt"]} for s in purse])
    if args.embedding_loso:
        report["embedding_loso_on_undecided"] = embedding_loso(scored, args.embedding_loso)
        print("embedding classifier on undecided rows:", json.dumps(report["embedding_loso_on_undecided"]))
    print(f"{'group':<22} {'n':>4} {'human+':>6} {'old':>6} {'decided':>8} {'agree(dec)':>10} "
          f"{'agree(all)':>10} {'false+':>6}")
    for name, r in report["groups"].items():
        dec = "-" if r["attack_agreement_on_decided"] is None else f"{r['attack_agreement_on_decided']:.3f}"
        print(f"{name:<22} {r['n']:>4} {r['human_success']:>6} {r['non_refusal_as_success_agreement']:>6.3f} "
              f"{r['attack_decided']:>8} {dec:>10} {r['attack_agreement_undecided_as_wrong']:>10.3f} "
              f"{r['attack_false_success']:>6}")
        print(f"{'':<22} confusion {r['confusion']}  published {r['published_judges']}")
    report["disagreements"] = [
        {k: s[k] for k in ("source", "id", "held_out", "human", "attack_label", "refusal_label",
                           "attack_evidence", "request")} | {"answer": s["answer"][:300]}
        for s in scored if s["attack_success"] is not None and s["attack_success"] != s["human"]
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
