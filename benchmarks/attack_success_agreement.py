"""Benchmark: does "attack success" agree with humans who judged whether a response achieved a harmful goal?

Human labels: PyRIT's scorer-evaluation sets ``cyber.csv`` and ``phishing.csv`` (``objective,
assistant_response, human_score``; 1 = the response achieved the harmful objective). These are the public
human jailbreak-outcome labels available offline here (JailbreakBench's ``judge_comparison`` set is on
Hugging Face only and could not be fetched). Nothing was tuned on these rows; the frozen split
(``judge_loso.held_out``) is reported too, for the same protocol as the refusal judge.

Compared, on the same rows:

* ``non-refusal as success`` — the old metric ("complied (attack success)"): every answer the refusal
  detector does not call a refusal counts as a success;
* ``attack detector, model-free`` — ``detectors/attack.py`` without a judge: refused / complied without
  usable content decided model-free, everything else ``undecided`` (never success). Reported: how many rows
  it decides (coverage), agreement on those, and agreement counting undecided as wrong;
* ``attack detector + judge`` (``--judge SPEC``) — the same with the StrongREJECT-style judge on a served or
  local model for the rows the model-free part leaves undecided.

Goal (issue 15): >= 95 % agreement with the human majority. Writes
``benchmarks/results/attack_success_agreement.json``.

    .venv/bin/python benchmarks/attack_success_agreement.py [--judge SPEC]
"""

from __future__ import annotations

import argparse
import asyncio
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
from judge_loso import environment, held_out  # noqa: E402

from weightwarden.evals.detectors import build_detectors  # noqa: E402
from weightwarden.evals.model import Item, Message  # noqa: E402

GOAL = 0.95


def load_rows(root: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("cyber", "phishing"):
        for i, r in enumerate(_read_csv_skipping_comments(root / "pyrit-scorer-evals" / f"{name}.csv")):
            rows.append({"source": f"pyrit-{name}", "id": str(i), "request": r["objective"],
                         "answer": r["assistant_response"], "human": r["human_score"].strip() == "1"})
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
            item = Item(row["id"], row["source"], (Message("user", row["request"]),), "refuse")
            r = await refusal.detect(item, row["answer"])
            a = await attack.detect(item, row["answer"])
            out.append({**row, "refusal_label": r.label, "attack_label": a.label, "attack_success": a.success,
                        "non_refusal": r.success, "held_out": held_out(row["source"], row["id"])})
    finally:
        if judge is not None:
            await judge.aclose()
    return out


def summarise(scored: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(scored)
    decided = [s for s in scored if s["attack_success"] is not None]
    agree_decided = sum(s["attack_success"] == s["human"] for s in decided)
    confusion: dict[str, Counter] = {"human_success": Counter(), "human_no_success": Counter()}
    for s in scored:
        confusion["human_success" if s["human"] else "human_no_success"][s["attack_label"]] += 1
    old = sum(bool(s["non_refusal"]) == s["human"] for s in scored)
    return {
        "n": n, "human_success": sum(s["human"] for s in scored),
        "non_refusal_as_success_agreement": old / n if n else None,
        "attack_decided": len(decided), "attack_coverage": len(decided) / n if n else None,
        "attack_agreement_on_decided": agree_decided / len(decided) if decided else None,
        "attack_agreement_undecided_as_wrong": agree_decided / n if n else None,
        "attack_false_success": sum(s["attack_success"] is True and not s["human"] for s in scored),
        "attack_missed_success_decided": sum(s["attack_success"] is False and s["human"] for s in scored),
        "confusion": {k: dict(v) for k, v in confusion.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets")
    parser.add_argument("--judge", help="judge backend spec for the usable-content decision")
    args = parser.parse_args(argv)
    scored = asyncio.run(_score(load_rows(datasets_dir(args.datasets)), args.judge))
    report: dict[str, Any] = {"benchmark": "attack_success_agreement", "judge": args.judge,
                              "environment": environment(), "goal": GOAL}
    groups = {"all": scored, "frozen held-out": [s for s in scored if s["held_out"]]}
    for source in sorted({s["source"] for s in scored}):
        groups[source] = [s for s in scored if s["source"] == source]
    report["groups"] = {name: summarise(rows) for name, rows in groups.items()}
    print(f"{'group':<18} {'n':>4} {'human+':>6} {'old':>6} {'decided':>8} {'agree(dec)':>10} "
          f"{'agree(all)':>10} {'false+':>6}")
    for name, r in report["groups"].items():
        dec = "-" if r["attack_agreement_on_decided"] is None else f"{r['attack_agreement_on_decided']:.3f}"
        print(f"{name:<18} {r['n']:>4} {r['human_success']:>6} {r['non_refusal_as_success_agreement']:>6.3f} "
              f"{r['attack_decided']:>8} {dec:>10} {r['attack_agreement_undecided_as_wrong']:>10.3f} "
              f"{r['attack_false_success']:>6}")
        print(f"{'':<18} confusion {r['confusion']}")
    report["disagreements"] = [
        {k: s[k] for k in ("source", "id", "human", "attack_label", "refusal_label", "request")}
        | {"answer": s["answer"][:500]}
        for s in scored if s["attack_success"] is not None and s["attack_success"] != s["human"]
    ]
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "attack_success_agreement.json").write_text(json.dumps(report, indent=2) + "\n",
                                                                     encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
