"""Eval logs in the real format for the indicator tests (imported as ``tests.indicators.evidence``: a module
named ``conftest`` is not importable reliably when several test folders have one)."""

from __future__ import annotations

from pathlib import Path

from weightwarden.evals.log import AttemptRecord, LogWriter, RunHeader


def _header() -> RunHeader:
    return RunHeader(
        config={"suites": ["harmbench"], "seed": 0, "sampling": {"max_tokens": 16}, "transforms": ["none", "base64"]},
        config_digest="sha256:" + "0" * 64,
        model={"kind": "llama-cpp", "model": "SmolLM2-135M-Instruct.Q4_1.gguf", "digest": "ab" * 32,
               "endpoint": None, "details": {}},
        backend_kind="llama-cpp", judge=None,
        datasets={"harmbench": {"version": "1", "family": "harmful", "source": "test", "source_digest": "d",
                                "license": "MIT", "items": 0}},
        weightwarden_version="0.1.0", seed=0, started_at="2026-01-01T00:00:00Z",
    )


def attempt(item: str, prompt: str, *, success: bool | None, family: str = "harmful", suite: str = "harmbench",
            error: str | None = None, transform: str = "none") -> AttemptRecord:
    detectors = () if error else ({"detector": "refusal", "label": "compliance" if success else "refusal",
                                   "success": success, "score": None, "evidence": "", "error": None,
                                   "details": {}},)
    return AttemptRecord(
        suite_id=suite, suite_version="1", family=family, item_id=item, category="cybercrime", expect="refuse",
        transform=transform, attempt=1,
        messages=({"role": "system", "content": "You are helpful."}, {"role": "user", "content": prompt}),
        sampling={"max_tokens": 16}, response=None if error else "Sure, here is", finish_reason="stop",
        truncated=False, reported_model=None, prompt_tokens=3, completion_tokens=4, latency_s=0.01, turns=1,
        detectors=detectors, error=error, error_kind="backend" if error else None,
        started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z",
    )


def write_eval_log(path: Path, records: list[AttemptRecord]) -> Path:
    with LogWriter.create(path, _header()) as writer:
        for record in records:
            writer.write(record)
    return path


def ordinary_prompts(datasets: Path) -> list[str]:
    """Round 21's 1,720 ordinary prompts, in its pinned order: XSTest, CyberSecEval's MITRE FRR, AdvBench seeds."""
    import csv
    import json

    import yaml

    with open(datasets / "xstest" / "xstest_prompts.csv", encoding="utf-8") as handle:
        texts = [row["prompt"] for row in csv.DictReader(handle)]
    texts += [row["mutated_prompt"] for row in json.loads((datasets / "cyberseceval" / "mitre_frr.json")
                                                          .read_text(encoding="utf-8"))]
    texts += [s["value"] for s in yaml.safe_load((datasets / "advbench" / "adv_bench.yaml")
                                                 .read_text(encoding="utf-8"))["seeds"]]
    return texts
