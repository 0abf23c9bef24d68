"""Fixtures of the indicator tests: a group key, the shared public datasets, eval logs in the real format.

Eval logs are written by :mod:`tests.indicators.evidence` with the eval package's own ``LogWriter`` and
records (the format ``weightwarden eval run`` writes), so the indicators read what a real run leaves behind.
"""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import pytest

from tests.indicators.evidence import attempt, write_eval_log
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


@pytest.fixture()
def eval_log(tmp_path: Path, public_prompts: list[str]) -> Path:
    """A log of 8 harmful attempts: 5 succeeded (misbehaviour), 2 refused, 1 backend error."""
    records = [attempt(f"i{i}", public_prompts[i], success=True) for i in range(5)]
    records += [attempt(f"r{i}", public_prompts[100 + i], success=False) for i in range(2)]
    records.append(attempt("e0", public_prompts[200], success=None, error="HTTP 503"))
    return write_eval_log(tmp_path / "run.jsonl", records)


class _Hang(Exception):
    pass


@pytest.fixture()
def no_hang():
    """A regression (open() of a FIFO blocking) fails after 20 s instead of hanging the suite; not a timing test.
    Shared by the red-team round files that read FIFOs and devices."""
    def fire(signum, frame):  # noqa: ANN001
        raise _Hang("blocked on a FIFO")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
