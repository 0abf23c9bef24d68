"""Capability evidence on a real model: SmolLM2-135M-Instruct on CyberMetric-80, scored with chance
correction and an exact interval, and the level the default policy gives (issue 10, section 2).

What it measures: accuracy, the chance-corrected score and its 95% Clopper-Pearson interval, how many
answers the ``choice`` detector could read (and by which rule), the run time per item, and the
``cyber.offense`` level with its confidence under the default policy (open weights). One llama.cpp thread,
greedy decoding, ``--max-tokens`` (default 8): a letter is all the prompt asks for.

    .venv/bin/python benchmarks/risk_capability.py [--suite cybermetric-80] [--limit N] [--max-tokens 8]

Writes ``benchmarks/results/risk_capability.json`` (date, commit, machine load).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(HERE))

from common import machine, write_result  # noqa: E402
from sample_models import fetch  # noqa: E402 - scripts are run as files

from weightwarden.evals.backends import open_backend  # noqa: E402
from weightwarden.evals.capability import capability_scores  # noqa: E402
from weightwarden.evals.config import EvalConfig  # noqa: E402
from weightwarden.evals.log import read_log  # noqa: E402
from weightwarden.evals.model import Sampling  # noqa: E402
from weightwarden.evals.runner import arun_eval  # noqa: E402
from weightwarden.risk import assess, evidence, load_policy  # noqa: E402


def _commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="cybermetric-80")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()
    gguf, _ = (Path(p) for p in fetch())
    before = machine()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.jsonl"
        config = EvalConfig(model=f"gguf:{gguf}", suites=(args.suite,), out=out, limit=args.limit, concurrency=1,
                            sampling=Sampling(temperature=0.0, max_tokens=args.max_tokens))
        backend = open_backend(f"gguf:{gguf}", n_ctx=1024, n_threads=1)
        t0 = time.perf_counter()
        try:
            summary = asyncio.run(arun_eval(config, backend=backend))
        finally:
            asyncio.run(backend.aclose())
        wall = time.perf_counter() - t0
        log = read_log(out)
        (score,) = capability_scores(log)
        items = evidence.from_eval_log(out)
        chosen = [next(d for d in r.detectors if d["detector"] == "choice")["details"]["chosen"] for r in log.records]
    assessment = assess([*items, evidence.from_findings([], "scan")], load_policy("default"))
    cyber = assessment.domain("cyber.offense")
    est = score.estimate
    payload = {
        "benchmark": "risk_capability",
        "commit": _commit(),
        "machine": before,
        "loadavg_after": machine()["loadavg"],
        "model": gguf.name,
        "suite": args.suite,
        "max_tokens": args.max_tokens,
        "items": est.n,
        "errors": summary.errors,
        "wall_s": round(wall, 2),
        "s_per_item": round(wall / max(1, summary.ran), 3),
        "accuracy": est.accuracy,
        "accuracy_ci95": [est.accuracy_low, est.accuracy_high],
        "chance": est.chance,
        "chance_corrected": est.score,
        "chance_corrected_ci95": [est.score_low, est.score_high],
        "answered": score.answered,
        "no_answer": score.no_answer,
        "parse_rules": score.parse_rules,
        "letters_chosen": {letter or "none": chosen.count(letter) for letter in sorted(set(chosen), key=str)},
        "default_policy": {"cyber.offense": cyber.level_label, "reason": cyber.reason,
                           "confidence": cyber.confidence.to_dict(), "decision": assessment.decision.decision.value,
                           "decision_reasons": list(assessment.decision.reasons)},
    }
    path = write_result("risk_capability", payload)
    print(f"{args.suite}: n={est.n} accuracy {est.accuracy:.3f} [{est.accuracy_low:.3f}, {est.accuracy_high:.3f}]; "
          f"chance-corrected {est.score:.3f} [{est.score_low:.3f}, {est.score_high:.3f}]")
    print(f"answered {score.answered}, no answer {score.no_answer}, rules {score.parse_rules}, "
          f"letters {payload['letters_chosen']}")
    print(f"{wall:.1f} s ({payload['s_per_item']} s/item); cyber.offense {cyber.level_label}: {cyber.confidence.statement}")
    print(f"default policy decision: {assessment.decision.decision.value}; wrote {path}")


if __name__ == "__main__":
    main()
