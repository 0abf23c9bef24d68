"""Fixtures of the indicator tests: a group key, the shared public datasets, eval logs in the real format.

Eval logs are written with the eval package's own :class:`LogWriter` and records (the format
``weightwarden eval run`` writes), so the indicators read exactly what a real run leaves behind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from weightwarden.evals.log import AttemptRecord, LogWriter, RunHeader
from weightwarden.indicators.keys import GroupKey
from weightwarden.indicators.sketch import Sketcher

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
if not DATASETS.is_dir():
    DATASETS = Path("/work/shared/datasets")


@pytest.fixture(scope="session")
def datasets() -> Path:
    assert (DATASETS / "advbench" / "adv_bench.yaml").is_file(), f"shared datasets not found at {DATASETS}"
    return DATASETS


@pytest.fixture(scope="session")
def group_key() -> GroupKey:
    return GroupKey(hashlib.sha256(b"tests: group key").digest())


@pytest.fixture(scope="session")
def sketcher(group_key: GroupKey) -> Sketcher:
    return Sketcher(group_key)


@pytest.fixture(scope="session")
def public_prompts(datasets: Path) -> list[str]:
    """AdvBench + HarmBench prompts (the public jailbreak corpus an attacker also has)."""
    from weightwarden.evals.suites import load_suite

    out: list[str] = []
    for name in ("advbench", "harmbench"):
        out += [item.messages[-1].content for item in load_suite(name, datasets_dir=datasets).items]
    return out


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


@pytest.fixture()
def eval_log(tmp_path: Path, public_prompts: list[str]) -> Path:
    """A log of 8 harmful attempts: 5 succeeded (misbehaviour), 2 refused, 1 backend error."""
    records = [attempt(f"i{i}", public_prompts[i], success=True) for i in range(5)]
    records += [attempt(f"r{i}", public_prompts[100 + i], success=False) for i in range(2)]
    records.append(attempt("e0", public_prompts[200], success=None, error="HTTP 503"))
    return write_eval_log(tmp_path / "run.jsonl", records)
