"""Unit tests of the eval runner with canned backends (the only place canned answers are allowed).

What is pinned here: the log is complete and well-formed; the same seed gives the same records whatever the
concurrency; a run cancelled mid-way leaves a valid log that the next run continues without redoing
finished attempts; errors (backend error, empty answer, timeout, a backend or detector that raises) are
recorded with a reason, never scored, and retried on resume with the old record kept; the concurrency limit
holds; a torn last line is ignored and cut off; a log written by another config or model is refused.

The suites are the real built-in ones (HarmBench, XSTest from the shared datasets, limited to a few items);
the refusal detector is the real model-free one.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from weightwarden.evals.backends.scripted import ScriptedBackend
from weightwarden.evals.config import EvalConfig
from weightwarden.evals.log import read_log
from weightwarden.evals.model import BackendIdentity, Completion, Item, Message, Sampling
from weightwarden.evals.results import summarize
from weightwarden.evals.runner import (
    EvalRunError,
    PlannedAttempt,
    ResumeMismatch,
    arun_eval,
    attempt_seed,
    plan,
    plan_suites,
    run_attempt,
)
from weightwarden.evals.suites import load_suite

REFUSAL = "I'm sorry, but I can't help with that request."
HELP = "Sure! Here is a clear, step-by-step explanation of how to do that safely."
SUITES = ("harmbench", "xstest-safe")
LIMIT = 5
PLANNED = LIMIT * len(SUITES)
TIMING_FIELDS = ("started_at", "finished_at", "latency_s")


@functools.cache
def _benign_prompts() -> frozenset[str]:
    return frozenset(item.messages[-1].content for item in load_suite("xstest-safe").items)


def _answer(messages, sampling=None) -> str:
    """A well-behaved model: helps with the XSTest (benign) prompts, refuses everything else."""
    return HELP if messages[-1].content in _benign_prompts() else REFUSAL


def _config(tmp_path: Path, name: str = "run.jsonl", **kw) -> EvalConfig:
    values = dict(model="scripted", suites=SUITES, out=tmp_path / name, limit=LIMIT, seed=7, concurrency=3,
                  sampling=Sampling(max_tokens=32))
    values.update(kw)
    return EvalConfig(**values)


class Canned:
    """A backend whose answer function returns full ``Completion`` objects (errors, truncation), with an
    optional gate that holds calls after the first ``pass_first`` until released; counts calls in flight."""

    def __init__(self, answer: Callable[[tuple[Message, ...]], Completion], *, pass_first: int | None = None,
                 model: str | None = None) -> None:
        # Same identity as the scripted backend unless told otherwise, so one may continue the other's log.
        self.identity = (_scripted().identity if model is None
                         else BackendIdentity(kind="scripted", model=model, digest=f"sha256:{model}"))
        self._answer = answer
        self._pass_first = pass_first
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.held = 0
        self.release = asyncio.Event()
        self.closed = False

    async def complete(self, messages, sampling):
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._pass_first is not None and self.calls > self._pass_first:
                self.held += 1
                await self.release.wait()
            await asyncio.sleep(0)  # let the other workers run: concurrency is observable
            return self._answer(messages)
        finally:
            self.in_flight -= 1

    async def aclose(self):
        self.closed = True


def _ok(text: str) -> Completion:
    return Completion(text=text, finish_reason="stop", prompt_tokens=5, completion_tokens=7, latency_s=0.001)


def _scripted() -> ScriptedBackend:
    return ScriptedBackend(_answer)


def _strip(record) -> dict:
    data = record.to_json()
    for name in TIMING_FIELDS:
        data.pop(name)
    return data


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="ascii").splitlines()]


# ------------------------------------------------------------------------------------------------- tests

def test_run_writes_a_complete_well_formed_log(tmp_path: Path):
    config = _config(tmp_path)
    summary = asyncio.run(arun_eval(config, backend=_scripted()))
    assert (summary.planned, summary.ran, summary.errors, summary.already_done) == (PLANNED, PLANNED, 0, 0)
    lines = _lines(config.out)
    header = lines[0]
    assert header["type"] == "header" and header["schema"] == "weightwarden.eval-log/v1"
    assert header["config_digest"] == config.digest()
    assert header["model"]["kind"] == "scripted" and header["backend_kind"] == "scripted"
    assert header["judge"] is None and header["seed"] == 7 and header["weightwarden_version"]
    assert set(header["datasets"]) == set(SUITES)
    for suite_id in SUITES:
        assert header["datasets"][suite_id]["source_digest"] == load_suite(suite_id).source_digest
    assert "refusal" in header["detectors"]
    # The refusal detector's measured error travels with the log, for the corrected rates.
    assert set(header["detector_error_rates"]) == {"non_refusal", "over_refusal"}
    records = read_log(config.out).records
    assert len(records) == PLANNED and len({r.key for r in records}) == PLANNED
    for record in records:
        assert record.ok and record.response and record.turns == 1 and record.attempt == 1
        assert record.messages[-1]["role"] == "user"
        assert record.sampling["seed"] == attempt_seed(7, record.suite_id, record.item_id)
        assert record.sampling["max_tokens"] == 32
        names = {d["detector"] for d in record.detectors}
        assert names == set(load_suite(record.suite_id).detectors)
    results = summarize(read_log(config.out))
    assert results.suites["harmbench"].overall.metrics["attack_success"].k == 0
    assert results.suites["xstest-safe"].overall.metrics["over_refusal"].k == 0
    assert results.suites["harmbench"].overall.metrics["non_refusal"].k == 0


def test_same_seed_gives_the_same_records_whatever_the_concurrency(tmp_path: Path):
    one = _config(tmp_path, "a.jsonl", concurrency=1)
    four = _config(tmp_path, "b.jsonl", concurrency=4)
    asyncio.run(arun_eval(one, backend=_scripted()))
    asyncio.run(arun_eval(four, backend=_scripted()))
    a = sorted((_strip(r) for r in read_log(one.out).records), key=lambda d: (d["suite_id"], d["item_id"]))
    b = sorted((_strip(r) for r in read_log(four.out).records), key=lambda d: (d["suite_id"], d["item_id"]))
    assert a == b
    other = _config(tmp_path, "c.jsonl", seed=8)
    asyncio.run(arun_eval(other, backend=_scripted()))
    seeds = {r.key: r.sampling["seed"] for r in read_log(other.out).records}
    assert seeds != {tuple(d[k] for k in ("suite_id", "item_id")): d["sampling"]["seed"] for d in a}


def test_sample_is_stratified_and_deterministic(tmp_path: Path):
    config = _config(tmp_path, limit=None, sample=6, suites=("xstest-safe",))
    ids = [a.item.id for a in plan(plan_suites(config))]
    assert ids == [a.item.id for a in plan(plan_suites(config))]
    assert len(ids) == 6
    assert ids != [i.id for i in load_suite("xstest-safe").items[:6]]


def test_cancelled_run_leaves_a_resumable_log(tmp_path: Path):
    config = _config(tmp_path)
    done_first = 4
    backend = Canned(lambda m: _ok(_answer(m)), pass_first=done_first)

    async def interrupted() -> None:
        task = asyncio.create_task(arun_eval(config, backend=backend))
        while backend.held < config.concurrency:  # every worker is now stuck inside a request
            await asyncio.sleep(0.001)
        task.cancel()  # what Ctrl-C does to asyncio.run's main task
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(interrupted(), timeout=60))
    first = read_log(config.out)
    assert len(first.records) == done_first and not first.warnings
    summary = asyncio.run(arun_eval(config, backend=_scripted()))
    assert summary.resumed and summary.already_done == done_first and summary.ran == PLANNED - done_first
    records = read_log(config.out).records
    assert len(records) == PLANNED and len({r.key for r in records}) == PLANNED
    assert all(r.attempt == 1 for r in records)
    again = asyncio.run(arun_eval(config, backend=_scripted()))  # nothing left to do
    assert again.ran == 0 and again.already_done == PLANNED


def test_errors_are_recorded_not_scored_and_retried_on_resume(tmp_path: Path):
    harm_ids = [i.messages[-1].content for i in load_suite("harmbench").items[:LIMIT]]

    def flaky(messages) -> Completion:
        text = messages[-1].content
        if text == harm_ids[0]:
            return Completion(text=None, error="HTTP 503: server overloaded", latency_s=0.5)
        if text == harm_ids[1]:
            return Completion(text="   ", finish_reason="stop")
        if text == harm_ids[2]:
            raise RuntimeError("backend bug")
        if text == harm_ids[3]:
            return Completion(text="Sure, step one is to", finish_reason="length")
        return _ok(_answer(messages))

    config = _config(tmp_path)
    summary = asyncio.run(arun_eval(config, backend=Canned(flaky)))
    assert summary.ran == PLANNED and summary.errors == 3
    by_item = {r.messages[-1]["content"]: r for r in read_log(config.out).records}
    assert by_item[harm_ids[0]].error_kind == "backend" and "HTTP 503" in by_item[harm_ids[0]].error
    assert by_item[harm_ids[1]].error_kind == "empty"
    assert by_item[harm_ids[2]].error_kind == "backend" and "RuntimeError" in by_item[harm_ids[2]].error
    for text in harm_ids[:3]:
        assert by_item[text].detectors == ()  # never scored
    truncated = by_item[harm_ids[3]]
    assert truncated.ok and truncated.truncated and truncated.detectors  # scored, flagged
    stats = summarize(read_log(config.out)).suites["harmbench"].overall
    assert stats.errors == 3 and stats.truncated == 1
    assert stats.metrics["non_refusal"].n == LIMIT - 3  # errors are not "attack failed"

    summary = asyncio.run(arun_eval(config, backend=_scripted()))
    assert summary.retried == 3 and summary.ran == 3 and summary.errors == 0
    log = read_log(config.out)
    assert len(log.records) == PLANNED + 3  # the old error records are kept
    latest = log.latest()
    assert all(r.ok for r in latest.values())
    assert sorted(r.attempt for r in latest.values() if r.attempt > 1) == [2, 2, 2]
    stats = summarize(log).suites["harmbench"].overall
    assert stats.errors == 0 and stats.metrics["non_refusal"].n == LIMIT


def test_truncated_answers_can_be_recorded_as_errors(tmp_path: Path):
    config = _config(tmp_path, suites=("xstest-safe",), score_truncated=False)
    backend = Canned(lambda m: Completion(text="Sure, the first", finish_reason="length"))
    asyncio.run(arun_eval(config, backend=backend))
    records = read_log(config.out).records
    assert {r.error_kind for r in records} == {"truncated"}
    assert "max_tokens=32" in records[0].error


def test_a_detector_that_raises_is_recorded_and_the_run_goes_on(tmp_path: Path):
    class Broken:
        name, version = "refusal", "0"

        async def detect(self, item, answer):
            raise ValueError("cannot parse")

    item = Item(id="x", category="c", messages=(Message("user", "hi?"),), expect="comply")
    suite = replace(load_suite("xstest-safe"), items=(item,))
    record = asyncio.run(run_attempt(PlannedAttempt(suite, item, "none"), _scripted(), [Broken()],
                                     _config(tmp_path), 1))
    assert record.ok
    (result,) = record.detectors
    assert result["success"] is None and "ValueError: cannot parse" in result["error"]


def test_multi_turn_items_record_every_turn(tmp_path: Path):
    item = Item(id="m", category="c", messages=(Message("system", "be nice"), Message("user", "first?")),
                expect="refuse", followups=("second?", "third!"))
    suite = replace(load_suite("harmbench"), items=(item,))
    seen: list[int] = []

    def answer(messages):
        seen.append(len(messages))
        return _ok(f"reply {len(seen)}")

    record = asyncio.run(run_attempt(PlannedAttempt(suite, item, "multi_turn"), Canned(answer), [],
                                     _config(tmp_path), 1))
    assert seen == [2, 4, 6] and record.turns == 3 and record.response == "reply 3"
    roles = [m["role"] for m in record.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in record.messages if m["role"] == "assistant"] == ["reply 1", "reply 2"]
    assert record.completion_tokens == 21


def test_a_failing_turn_ends_a_multi_turn_attempt_as_an_error(tmp_path: Path):
    item = Item(id="m", category="c", messages=(Message("user", "first?"),), expect="refuse",
                followups=("second?",))
    suite = replace(load_suite("harmbench"), items=(item,))
    answers = iter([_ok("fine"), Completion(text=None, error="connection reset")])
    record = asyncio.run(run_attempt(PlannedAttempt(suite, item, "none"), Canned(lambda m: next(answers)), [],
                                     _config(tmp_path), 1))
    assert record.error_kind == "backend" and "turn 2 of 2" in record.error and record.detectors == ()


def test_concurrency_limit_holds(tmp_path: Path):
    backend = Canned(lambda m: _ok(_answer(m)))
    asyncio.run(arun_eval(_config(tmp_path, concurrency=3), backend=backend))
    assert backend.max_in_flight == 3 and backend.calls == PLANNED
    serial = Canned(lambda m: _ok(_answer(m)))
    asyncio.run(arun_eval(_config(tmp_path, "serial.jsonl", concurrency=1), backend=serial))
    assert serial.max_in_flight == 1


def test_torn_last_line_is_ignored_then_cut_off_on_resume(tmp_path: Path):
    config = _config(tmp_path)
    asyncio.run(arun_eval(config, backend=Canned(lambda m: _ok(_answer(m)), pass_first=None)))
    lines = config.out.read_bytes().splitlines(keepends=True)
    kept = lines[:4]  # header + 3 records
    config.out.write_bytes(b"".join(kept) + lines[4][: len(lines[4]) // 2])  # killed mid-write
    log = read_log(config.out)
    assert len(log.records) == 3 and len(log.warnings) == 1 and "torn" in log.warnings[0]
    summary = asyncio.run(arun_eval(config, backend=_scripted()))
    assert summary.already_done == 3 and summary.ran == PLANNED - 3
    assert summary.warnings and "torn" in summary.warnings[0]
    final = read_log(config.out)
    assert not final.warnings and len(final.records) == PLANNED
    assert all(line.startswith(b"{") for line in config.out.read_bytes().splitlines())


def test_malformed_line_in_the_middle_fails_closed(tmp_path: Path):
    config = _config(tmp_path)
    asyncio.run(arun_eval(config, backend=_scripted()))
    lines = config.out.read_bytes().splitlines(keepends=True)
    config.out.write_bytes(b"".join(lines[:2]) + b"{not json\n" + b"".join(lines[2:]))
    from weightwarden.evals.log import EvalLogError

    with pytest.raises(EvalLogError, match="line 3"):
        read_log(config.out)


def test_a_log_of_another_config_or_model_is_refused(tmp_path: Path):
    config = _config(tmp_path)
    asyncio.run(arun_eval(config, backend=_scripted()))
    before = config.out.read_bytes()
    with pytest.raises(ResumeMismatch, match=r"seed: 7 in the log, 8 now"):
        asyncio.run(arun_eval(replace(config, seed=8), backend=_scripted()))
    with pytest.raises(ResumeMismatch, match="sampling"):
        asyncio.run(arun_eval(replace(config, sampling=Sampling(max_tokens=64)), backend=_scripted()))
    with pytest.raises(ResumeMismatch, match="model"):
        asyncio.run(arun_eval(config, backend=Canned(lambda m: _ok(HELP), model="another-model")))
    assert config.out.read_bytes() == before  # refused before writing anything
    # What only changes speed may differ on resume.
    assert asyncio.run(arun_eval(replace(config, concurrency=1), backend=_scripted())).already_done == PLANNED


def test_a_hand_edited_dataset_entry_is_a_clear_mismatch(tmp_path: Path):
    config = _config(tmp_path)
    asyncio.run(arun_eval(config, backend=_scripted()))
    lines = config.out.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    header["datasets"] = {suite: "edited" for suite in header["datasets"]}
    config.out.write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")
    with pytest.raises(ResumeMismatch, match="changed since the run started"):
        asyncio.run(arun_eval(config, backend=_scripted()))


def test_config_digest_covers_what_changes_results_only(tmp_path: Path):
    base = _config(tmp_path)
    assert base.digest() == replace(base, concurrency=9, timeout_s=5, out=tmp_path / "x", retries=0).digest()
    for changed in (replace(base, seed=1), replace(base, limit=3), replace(base, judge="openai:http://j"),
                    replace(base, transforms=("none", "base64")), replace(base, score_truncated=False)):
        assert changed.digest() != base.digest()
    with pytest.raises(ValueError, match="either limit or sample"):
        replace(base, sample=3)


_SIGINT_SCRIPT = """
import asyncio, sys
from pathlib import Path
from weightwarden.evals.backends.scripted import ScriptedBackend
from weightwarden.evals.config import EvalConfig
from weightwarden.evals.model import Sampling
from weightwarden.evals.runner import arun_eval

class Stalling(ScriptedBackend):
    # Answers the first three requests, then hangs like a stuck server until interrupted.
    async def complete(self, messages, sampling):
        if len(self.calls) >= 3:
            await asyncio.sleep(3600)
        return await super().complete(messages, sampling)

config = EvalConfig(model="scripted", suites=("xstest-safe",), out=Path(sys.argv[1]), limit=8, seed=7,
                    concurrency=1, sampling=Sampling(max_tokens=32))
try:
    asyncio.run(arun_eval(config, backend=Stalling(lambda messages, sampling: "Sure, here it is.")))
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_sigint_leaves_a_valid_log_that_the_next_run_continues(tmp_path: Path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run.jsonl"
    child = subprocess.Popen([sys.executable, "-c", _SIGINT_SCRIPT, str(out)])
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.read_bytes().count(b"\n") >= 4):  # header + 3 records
            assert child.poll() is None and time.monotonic() < deadline, "the child ended or never got going"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert child.wait(timeout=60) == 130
    finally:
        if child.poll() is None:
            child.kill()
    log = read_log(out)
    assert len(log.records) == 3 and not log.warnings
    config = EvalConfig(model="scripted", suites=("xstest-safe",), out=out, limit=8, seed=7, concurrency=1,
                        sampling=Sampling(max_tokens=32))
    summary = asyncio.run(arun_eval(config, backend=ScriptedBackend(lambda m, s: "Sure, here it is.")))
    assert summary.already_done == 3 and summary.ran == 5
    assert len(read_log(out).records) == 8


def test_an_empty_log_file_is_started_afresh(tmp_path: Path):
    config = _config(tmp_path)
    config.out.touch()
    summary = asyncio.run(arun_eval(config, backend=_scripted()))
    assert not summary.resumed and summary.ran == PLANNED
    assert read_log(config.out).header.config_digest == config.digest()


def test_a_log_that_cannot_be_written_stops_the_run_with_a_clear_message(tmp_path: Path, monkeypatch):
    from weightwarden.evals import log as log_module
    from weightwarden.evals.runner import EvalRunError

    written = []

    def full_disk(self, record):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(record)
        self._write_line(record.to_json())

    monkeypatch.setattr(log_module.LogWriter, "write", full_disk)
    config = _config(tmp_path)
    with pytest.raises(EvalRunError, match="cannot write the eval log .*No space left on device"):
        asyncio.run(arun_eval(config, backend=_scripted()))
    assert len(read_log(config.out).records) == 2  # what was written is intact


def test_an_overlong_line_is_refused_without_reading_it_whole(tmp_path: Path, monkeypatch):
    from weightwarden.evals import log as log_module
    from weightwarden.evals.log import EvalLogError

    config = _config(tmp_path)
    asyncio.run(arun_eval(config, backend=_scripted()))
    monkeypatch.setattr(log_module, "MAX_LINE_BYTES", 200)  # every record line is longer than this
    with pytest.raises(EvalLogError, match="line 1 is longer than 200 bytes"):
        read_log(config.out)


@pytest.mark.parametrize("where", ["link", "under_a_file"])
def test_a_log_that_cannot_be_created_is_a_clear_error(tmp_path: Path, where: str):
    # The log is created exclusively and never through a symbolic link at its name (core.files.create_file);
    # a refusal or an OS error names the log and the reason instead of escaping as a traceback.
    if where == "link":
        out = tmp_path / "run.jsonl"
        out.symlink_to(tmp_path / "elsewhere.jsonl")
        target = tmp_path / "elsewhere.jsonl"
    else:
        (tmp_path / "plain").write_text("x")
        out = tmp_path / "plain" / "run.jsonl"
        target = None
    with pytest.raises(EvalRunError, match="cannot create the run log"):
        asyncio.run(arun_eval(_config(tmp_path, out=out), backend=_scripted()))
    assert target is None or not target.exists()
