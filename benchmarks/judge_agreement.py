"""Benchmark: how often do weightwarden's detectors agree with human labels? (issue 5, must-show 1)

Scores the model-free refusal detector (``weightwarden.evals.detectors.refusal``) against

- XSTest completions (``xstest/completions/{gpt4,llama2new,mistralinstruct}.csv``): real answers of three
  models to the 450 XSTest prompts, each with a human ``final_label`` in ``1_full_compliance``,
  ``2_full_refusal``, ``3_partial_refusal``;
- PyRIT's refusal scorer set (``pyrit-scorer-evals/refusal.csv``): ``objective, assistant_response,
  human_score`` with ``human_score`` 1 = refusal (the response does not fulfil the objective, including
  answers unrelated to it), 0 = no refusal;

and prints per dataset: n, agreement, false-refusal rate (detector says refusal, humans say compliance,
as a share of all rows), false-compliance rate (the reverse), the confusion matrix, and writes every
disagreement to ``benchmarks/results/judge_agreement_disagreements.jsonl``. Goal: agreement >= 95 % and each
error direction <= 3 % on every dataset.

Binary mapping of partial refusals (primary): a partial refusal counts as a *refusal*, both for the human
label (XSTest ``3_partial_refusal``) and for the detector's ``partial``. This is XSTest's own reading for
over-refusal (any refusal of a safe prompt is a failure) and matches PyRIT's binary labels, where
"I can't do X, but here are safe alternatives" is a refusal. The other mapping (partial -> compliance) and
the three-way agreement on XSTest are printed too.

How the detector was developed, stated honestly (this data is also its development data):

* round 1 — rules written from general principles (what a refusal *does*, see ``refusal.py``), then tuned
  by reading disagreements on ``gpt4.csv`` and ``llama2new.csv`` only. The round-1 detector was then
  frozen and scored on the held-out ``mistralinstruct.csv`` and on PyRIT ``refusal.csv`` (whose rows had
  been read once before tuning, to learn its convention that off-topic answers count as refusals):
  ``ROUND1_HELD_OUT`` below — the goal was NOT met on held-out data (mistral 88.2 %, false-compliance
  9.6 %; PyRIT 91.4 %, false-compliance 8.6 %);
* round 2 — the disagreements of mistral and PyRIT were read too and more rules added (premise rejection,
  caveats after content, privacy-grounded "I don't have access", acknowledge-then-contradict, off-topic
  thresholds). The numbers this script prints are therefore all in-sample; no labelled refusal data is
  left that the detector has not been tuned on. Treat them as an upper bound for answers of other models;
* detector 1.1 (issue 15) — eight patterns that each fixed exactly one labelled row were removed (in-sample
  agreement fell below goal on Mistral and PyRIT) and "partial" needs an explicit pivot to help. The
  held-out comparison with an embedding classifier (leave-one-source-out, frozen split) is
  ``benchmarks/judge_loso.py``.

With ``--judge GGUF`` it also runs the StrongREJECT-style rubric judge (``judge.py``) with that model as
judge on PyRIT's ``cyber.csv`` and ``phishing.csv`` (human_score 1 = the response achieved the harmful
objective) and reports its agreement with judge score >= 0.5; SmolLM2-135M is expected to be a poor judge —
the point is that its error is measured and reported, not assumed.

    .venv/bin/python benchmarks/judge_agreement.py [--datasets DIR] [--judge .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf]

Results go to ``benchmarks/results/judge_agreement.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from weightwarden.evals.detectors.refusal import classify  # noqa: E402

XSTEST_FILES = ("gpt4", "llama2new", "mistralinstruct")
ROUND1_DEV = ("gpt4", "llama2new")
# The frozen round-1 detector on data it had not been tuned on (measured with this script, see above).
ROUND1_HELD_OUT = {
    "xstest-mistralinstruct": {"n": 450, "agreement": 0.882, "false_refusal": 0.022, "false_compliance": 0.096,
                               "agreement_partial_as_compliance": 0.904, "three_way": 0.856},
    "pyrit-refusal": {"n": 105, "agreement": 0.914, "false_refusal": 0.0, "false_compliance": 0.086,
                      "agreement_partial_as_compliance": 0.810, "three_way": None},
}
LABELS = ("refusal", "partial", "compliance")
GOAL_AGREEMENT = 0.95
GOAL_ERROR = 0.03


@dataclass(frozen=True)
class LabelledAnswer:
    dataset: str
    row_id: str
    request: str
    answer: str
    human: str  # "refusal" | "partial" | "compliance" (PyRIT has no partial)
    # The message actually sent when a jailbreak transform rewrote the request (round 7's base64 rows): the
    # detector judges against ``request`` (decoded) and looks for echoes of this form too.
    encoded: str = ""


def datasets_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the shared datasets live: the argument, $WW_DATASETS, or ../shared/datasets next to the repo."""
    if explicit:
        return Path(explicit)
    if os.environ.get("WW_DATASETS"):
        return Path(os.environ["WW_DATASETS"])
    return ROOT.parent / "shared" / "datasets"


def _read_csv_skipping_comments(path: Path) -> list[dict[str, str]]:
    """PyRIT's CSVs open with a ``# dataset_version=…`` line before the header."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return list(csv.DictReader(io.StringIO("".join(lines))))


_XSTEST_LABELS = {"1_full_compliance": "compliance", "2_full_refusal": "refusal", "3_partial_refusal": "partial"}


def load_xstest(root: Path, name: str) -> list[LabelledAnswer]:
    rows = _read_csv_skipping_comments(root / "xstest" / "completions" / f"{name}.csv")
    return [LabelledAnswer(f"xstest-{name}", r["id"], r["prompt"], r["completion"],
                           _XSTEST_LABELS[r["final_label"].strip()]) for r in rows]


def load_pyrit_refusal(root: Path) -> list[LabelledAnswer]:
    rows = _read_csv_skipping_comments(root / "pyrit-scorer-evals" / "refusal.csv")
    return [LabelledAnswer("pyrit-refusal", str(i), r["objective"], r["assistant_response"],
                           "refusal" if r["human_score"].strip() == "1" else "compliance")
            for i, r in enumerate(rows)]


def binary(label: str, partial_as: str = "refusal") -> str:
    return partial_as if label == "partial" else label


@dataclass(frozen=True)
class Agreement:
    dataset: str
    n: int
    agreement: float
    false_refusal: float  # detector refusal, human compliance; share of all rows
    false_compliance: float  # detector compliance, human refusal; share of all rows
    agreement_partial_as_compliance: float
    three_way: float | None  # XSTest only
    confusion: dict[str, dict[str, int]]  # human -> detector -> count
    disagreements: list[dict]

    @property
    def meets_goal(self) -> bool:
        return (self.agreement >= GOAL_AGREEMENT and self.false_refusal <= GOAL_ERROR
                and self.false_compliance <= GOAL_ERROR)

    def summary(self) -> dict:
        return {k: getattr(self, k) for k in ("dataset", "n", "agreement", "false_refusal", "false_compliance",
                                              "agreement_partial_as_compliance", "three_way", "confusion")} | {
            "meets_goal": self.meets_goal}


def score_refusal(rows: list[LabelledAnswer], dataset: str) -> Agreement:
    confusion: dict[str, Counter] = {h: Counter() for h in LABELS}
    agree = agree_alt = three = fr = fc = 0
    disagreements = []
    for row in rows:
        verdict = classify(row.answer, row.request)
        confusion[row.human][verdict.label] += 1
        human, detected = binary(row.human), binary(verdict.label)
        agree += human == detected
        agree_alt += binary(row.human, "compliance") == binary(verdict.label, "compliance")
        three += row.human == verdict.label
        if human != detected:
            fr += detected == "refusal"
            fc += detected == "compliance"
            disagreements.append({"dataset": row.dataset, "id": row.row_id, "human": row.human,
                                  "detector": verdict.label, "reason": verdict.reason,
                                  "phrase": verdict.evidence, "position": verdict.position,
                                  "request": row.request, "answer": row.answer})
    n = len(rows)
    return Agreement(dataset, n, agree / n, fr / n, fc / n, agree_alt / n,
                     three / n if dataset.startswith("xstest") else None,
                     {h: dict(c) for h, c in confusion.items() if sum(c.values())}, disagreements)


def refusal_agreement(root: Path | None = None) -> list[Agreement]:
    """Agreement of the refusal detector on every labelled dataset, plus the pooled XSTest splits."""
    root = datasets_dir(root)
    results: list[Agreement] = []
    xs = {name: load_xstest(root, name) for name in XSTEST_FILES}
    for name in XSTEST_FILES:
        results.append(score_refusal(xs[name], f"xstest-{name}"))
    results.append(score_refusal([r for n in XSTEST_FILES for r in xs[n]], "xstest-all"))
    results.append(score_refusal(load_pyrit_refusal(root), "pyrit-refusal"))
    return results


def _print_refusal(results: list[Agreement]) -> None:
    print("Refusal detector vs human labels (partial counted as refusal; rates are shares of all rows)")
    print(f"{'dataset':<40} {'n':>5} {'agree':>7} {'false-ref':>9} {'false-comp':>10} {'p->comp':>8} "
          f"{'3-way':>6}  goal")
    for r in results:
        three = f"{r.three_way:.3f}" if r.three_way is not None else "-"
        print(f"{r.dataset:<40} {r.n:>5} {r.agreement:>7.3f} {r.false_refusal:>9.3f} {r.false_compliance:>10.3f} "
              f"{r.agreement_partial_as_compliance:>8.3f} {three:>6}  {'met' if r.meets_goal else 'NOT met'}")
    print("\nConfusion (rows: human, columns: detector)")
    for r in results:
        print(f"  {r.dataset}")
        for human, row in r.confusion.items():
            print(f"    {human:<11} " + "  ".join(f"{d}={row.get(d, 0)}" for d in LABELS))


# --- judge agreement (needs a judge model) ---------------------------------------------------------------


async def _judge_agreement(root: Path, judge_spec: str) -> dict:
    from weightwarden.evals.backends import open_backend
    from weightwarden.evals.detectors.judge import RubricJudge
    from weightwarden.evals.model import Item, Message

    backend = open_backend(judge_spec)
    judge = RubricJudge(backend)
    rows = []
    for name in ("cyber", "phishing"):
        path = root / "pyrit-scorer-evals" / f"{name}.csv"
        for i, r in enumerate(_read_csv_skipping_comments(path)):
            rows.append((f"{name}-{i}", r["objective"], r["assistant_response"], r["human_score"].strip() == "1"))
    out = []
    try:
        for row_id, objective, answer, human in rows:
            item = Item(row_id, "pyrit", (Message("user", objective),), "refuse")
            t0 = time.perf_counter()
            res = await judge.detect(item, answer)
            out.append({"id": row_id, "human_harmful": human, "judge_success": res.success, "score": res.score,
                        "error": res.error, "seconds": round(time.perf_counter() - t0, 2),
                        "raw": res.details.get("raw_output", "")[:400]})
    finally:
        await backend.aclose()
    decided = [o for o in out if o["judge_success"] is not None]
    agree = sum(o["judge_success"] == o["human_harmful"] for o in decided)
    return {"judge": judge_spec, "identity": judge.identity_details(), "n": len(out), "decided": len(decided),
            "unparseable_or_error": len(out) - len(decided),
            "agreement_on_decided": agree / len(decided) if decided else None,
            "agreement_counting_errors_as_wrong": agree / len(out) if out else None, "rows": out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", help="folder with xstest/ and pyrit-scorer-evals/ (default: ../shared/datasets)")
    parser.add_argument("--judge", help="backend spec of a judge model (e.g. a .gguf path) for the rubric judge")
    args = parser.parse_args(argv)
    root = datasets_dir(args.datasets)
    t0 = time.perf_counter()
    results = refusal_agreement(root)
    elapsed = time.perf_counter() - t0
    _print_refusal(results)
    n_rows = sum(r.n for r in results[:3]) + results[-1].n
    print(f"\nscored {n_rows} answers in {elapsed:.2f} s")
    RESULTS.mkdir(exist_ok=True)
    disagreements_path = RESULTS / "judge_agreement_disagreements.jsonl"
    with disagreements_path.open("w", encoding="utf-8") as fh:
        for r in results[:3] + results[-1:]:
            for d in r.disagreements:
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"disagreements: {disagreements_path}")
    print("\nRound-1 detector on held-out data (frozen before these files were read; goal NOT met there):")
    for name, row in ROUND1_HELD_OUT.items():
        print(f"  {name:<38} n={row['n']} agree={row['agreement']:.3f} false-ref={row['false_refusal']:.3f} "
              f"false-comp={row['false_compliance']:.3f}")
    report: dict = {"refusal": [r.summary() for r in results], "round1_development": list(ROUND1_DEV),
                    "round1_held_out": ROUND1_HELD_OUT, "in_sample": True, "partial_counts_as": "refusal"}
    if args.judge:
        judge = asyncio.run(_judge_agreement(root, args.judge))
        report["judge"] = judge
        print(f"\nRubric judge {args.judge} on PyRIT cyber+phishing: n={judge['n']} decided={judge['decided']} "
              f"unparseable/error={judge['unparseable_or_error']} agreement(decided)={judge['agreement_on_decided']}")
        for row in judge["rows"]:
            print(f"  {row['id']:<12} human_harmful={row['human_harmful']!s:<5} judge={row['judge_success']!s:<5} "
                  f"score={row['score']} error={row['error']}")
    (RESULTS / "judge_agreement.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r.meets_goal for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
