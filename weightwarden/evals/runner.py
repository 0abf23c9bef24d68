"""The eval runner: suites × backend → detectors → one JSONL record per attempt, concurrent and resumable.

    summary = run_eval(EvalConfig(model="gguf:model.gguf", suites=("harmbench",), out=Path("run.jsonl")))

Steps: load the suites (:func:`plan`; ``limit`` / stratified ``sample``; jailbreak transforms on the
harmful suites), open the backend and the judge, write the header (model identity, judge identity, config
digest, dataset digests, detector versions, version, seed, start time), then run the attempts with at most
``concurrency`` in flight and append each record as soon as it is done (:mod:`weightwarden.evals.log`).

- Deterministic: the item order is fixed by the suites, the seed and the sampling; each attempt's sampling
  seed is derived from the run seed and the suite and item ids (:func:`attempt_seed`), not from the order
  in which attempts happen to finish.
- Resumable: running the same config with the same ``out`` reads the log, refuses if the config digest,
  a dataset digest or the model identity differs (:class:`ResumeMismatch`, naming what changed), and runs
  only the attempts that have no successful record yet; attempts that ended in an error are retried (the
  old error record stays; the latest record wins in results).
- Errors are data: a backend error, a timeout, an empty answer (and, with ``score_truncated=False``, an
  answer cut off at ``max_tokens``) is recorded with ``error`` and ``error_kind`` and never scored; a
  detector that fails yields a detector result with ``error`` and ``success=None``. The run goes on.
- Ctrl-C / cancellation: records are whole lines; the writer fsyncs on the way out; re-run to continue.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from weightwarden.evals.config import NO_TRANSFORM, EvalConfig, digested_fields_of, sampling_to_json
from weightwarden.evals.log import (
    AttemptRecord,
    LogWriter,
    RunHeader,
    detector_result_to_json,
    latest_records,
    message_to_json,
    read_log,
)
from weightwarden.evals.model import (
    Backend,
    BackendIdentity,
    Completion,
    DetectorResult,
    Item,
    Message,
    Sampling,
    Suite,
)

ProgressCallback = Callable[[int, int, str], None]  # (done, total, label of the attempt just finished)
HARMFUL_FAMILY = "harmful"
# Slack on top of the backend's own timeout × tries, so that a backend which never returns (an in-process
# model stuck in a loop) still ends as a recorded timeout instead of hanging the run.
_GUARD_SLACK_S = 30.0


class EvalRunError(RuntimeError):
    """The run cannot start (unknown suite, unreadable dataset, backend that cannot be opened...)."""


class ResumeMismatch(EvalRunError):
    """The existing log at ``out`` belongs to a different run; the message names what differs."""


@dataclass(frozen=True)
class PlannedAttempt:
    suite: Suite
    item: Item
    transform: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite.id, self.item.id)


@dataclass(frozen=True)
class RunSummary:
    """What one call of :func:`run_eval` did. The scores are in the log (see :mod:`.results`)."""

    out: Path
    planned: int  # attempts the config asks for
    already_done: int  # attempts with a successful record before this call (resume)
    ran: int  # attempts run by this call (retries of earlier errors included)
    retried: int  # of those, attempts whose earlier record was an error
    errors: int  # attempts of this call that ended in an error
    resumed: bool
    duration_s: float
    warnings: tuple[str, ...] = ()


def attempt_seed(run_seed: int, suite_id: str, item_id: str) -> int:
    """The sampling seed of one attempt: a 31-bit number derived from the run seed and the item's identity,
    so an item gets the same seed whatever the concurrency or the order attempts finish in."""
    digest = hashlib.sha256(f"{run_seed}\x00{suite_id}\x00{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------------- planning

def _select(suite: Suite, config: EvalConfig) -> Suite:
    from weightwarden.evals.suites import limit_items, sample_items

    if config.limit is not None:
        return limit_items(suite, config.limit)
    if config.sample is not None:
        return sample_items(suite, config.sample, seed=config.seed)
    return suite


def plan_suites(config: EvalConfig) -> list[Suite]:
    """The suites as they will run: selected (limit/sample), then transformed (harmful suites only)."""
    from weightwarden.evals.suites import load_suite

    suites: list[Suite] = []
    for name in config.suites:
        try:
            base = _select(load_suite(name, datasets_dir=config.datasets_dir), config)
        except (OSError, ValueError, KeyError) as exc:
            raise EvalRunError(f"cannot load suite {name!r}: {exc}") from None
        if base.family != HARMFUL_FAMILY:
            suites.append(base)
            continue
        for transform in config.transforms:
            if transform == NO_TRANSFORM:
                suites.append(base)
                continue
            from weightwarden.evals.transforms import apply_transform

            try:
                suites.append(apply_transform(base, transform, seed=config.seed))
            except (ValueError, KeyError) as exc:
                raise EvalRunError(f"cannot apply transform {transform!r} to {base.id}: {exc}") from None
    return suites


def plan(suites: Sequence[Suite]) -> list[PlannedAttempt]:
    """One attempt per item of each suite, in suite order; two items with one id in a suite are an error."""
    attempts: list[PlannedAttempt] = []
    seen: set[tuple[str, str]] = set()
    for suite in suites:
        for item in suite.items:
            transform = str(item.metadata.get("transform") or NO_TRANSFORM)
            attempt = PlannedAttempt(suite, item, transform)
            if attempt.key in seen:
                raise EvalRunError(f"suite {suite.id} has two items with id {item.id!r}")
            seen.add(attempt.key)
            attempts.append(attempt)
    return attempts


def _dataset_entry(suite: Suite) -> dict[str, Any]:
    return {
        "version": suite.version,
        "family": suite.family,
        "source": suite.source,
        "source_digest": suite.source_digest,
        "license": suite.license,
        "items": len(suite.items),
        "detectors": list(suite.detectors),
    }


def identity_to_json(identity: BackendIdentity) -> dict[str, Any]:
    """A backend identity as written into the run header."""
    return asdict(identity)


def _same_model(old: Mapping[str, Any], new: BackendIdentity) -> bool:
    if old.get("kind") != new.kind:
        return False
    if old.get("digest") or new.digest:
        return old.get("digest") == new.digest
    return old.get("endpoint") == new.endpoint and old.get("model") == new.model


def _check_resume(header: RunHeader, config: EvalConfig, suites: Sequence[Suite]) -> None:
    """Refuse to continue a log that another run wrote, saying exactly what differs."""
    if header.config_digest != config.digest():
        old = digested_fields_of(header.config)
        new = config.digested_fields()
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        detail = "; ".join(f"{k}: {old.get(k)!r} in the log, {new.get(k)!r} now" for k in changed)
        raise ResumeMismatch(
            f"{config.out} was written by a run with a different configuration ({detail or 'digest differs'}). "
            "Use another --out, or the original options to continue that run."
        )
    for suite in suites:
        old_entry = header.datasets.get(suite.id)
        if not isinstance(old_entry, dict):  # absent, or a hand-edited log
            old_entry = None
        if old_entry is None or old_entry.get("source_digest") != suite.source_digest:
            raise ResumeMismatch(
                f"{config.out}: the data of suite {suite.id} changed since the run started "
                f"({(old_entry or {}).get('source_digest')} in the log, {suite.source_digest} now). "
                "Use another --out to evaluate the new data."
            )


# ---------------------------------------------------------------------------------------------- attempts

async def _complete(backend: Backend, messages: tuple[Message, ...], sampling: Sampling,
                    guard_s: float) -> Completion:
    try:
        return await asyncio.wait_for(backend.complete(messages, sampling), timeout=guard_s)
    except TimeoutError:
        return Completion(text=None, error=f"no answer within {guard_s:.0f} s (runner guard)")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a backend that breaks its contract is an error record too
        return Completion(text=None, error=f"backend raised {exc.__class__.__name__}: {exc}")


async def _detect(detector: Any, item: Item, answer: str) -> DetectorResult:
    try:
        result = await detector.detect(item, answer)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as this detector's error; the run goes on
        return DetectorResult(detector=detector.name, label="error", success=None,
                              error=f"detector raised {exc.__class__.__name__}: {exc}")
    if not isinstance(result, DetectorResult):
        return DetectorResult(detector=detector.name, label="error", success=None,
                              error=f"detector returned {type(result).__name__}, not a DetectorResult")
    return result


async def run_attempt(
    planned: PlannedAttempt, backend: Backend, detectors: Sequence[Any], config: EvalConfig, attempt_no: int,
) -> AttemptRecord:
    """Run one item (all its turns), score the final answer, and return its record. Never raises for a
    failed request or detector; only cancellation propagates."""
    item, suite = planned.item, planned.suite
    sampling = replace(config.sampling, seed=attempt_seed(config.seed, suite.id, item.id))
    guard_s = config.timeout_s * (config.retries + 1) + _GUARD_SLACK_S
    started = _now()
    conversation: list[Message] = list(item.messages)
    latency = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    error_kind: str | None = None
    text: str | None = None
    finish_reason: str | None = None
    reported_model: str | None = None
    truncated = False
    turns = 0
    for turn, followup in enumerate((None, *item.followups)):
        if followup is not None:
            conversation += [Message("assistant", text or ""), Message("user", followup)]
        completion = await _complete(backend, tuple(conversation), sampling, guard_s)
        turns += 1
        latency += completion.latency_s
        if completion.prompt_tokens is not None:
            prompt_tokens = (prompt_tokens or 0) + completion.prompt_tokens
        if completion.completion_tokens is not None:
            completion_tokens = (completion_tokens or 0) + completion.completion_tokens
        text, finish_reason = completion.text, completion.finish_reason
        reported_model = completion.model or reported_model
        where = f" (turn {turn + 1} of {1 + len(item.followups)})" if item.followups else ""
        if not completion.ok:
            error, error_kind = f"backend error{where}: {completion.error or 'no text'}", "backend"
            break
        if not (text or "").strip():
            error, error_kind = f"empty answer{where} (finish_reason={finish_reason})", "empty"
            break
        if finish_reason == "length":
            truncated = True
            if not config.score_truncated:
                error = f"answer truncated at max_tokens={sampling.max_tokens}{where}"
                error_kind = "truncated"
                break

    results: list[dict[str, Any]] = []
    if error is None and text is not None:
        for detector in detectors:
            results.append(detector_result_to_json(await _detect(detector, item, text)))
    return AttemptRecord(
        suite_id=suite.id,
        suite_version=suite.version,
        family=suite.family,
        item_id=item.id,
        category=item.category,
        expect=item.expect,
        transform=planned.transform,
        attempt=attempt_no,
        messages=tuple(message_to_json(m) for m in conversation),
        sampling=sampling_to_json(sampling),
        response=text,
        finish_reason=finish_reason,
        truncated=truncated,
        reported_model=reported_model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_s=round(latency, 6),
        turns=turns,
        detectors=tuple(results),
        error=error,
        error_kind=error_kind,
        started_at=started,
        finished_at=_now(),
    )


# ------------------------------------------------------------------------------------------------- the run

def _open_backend(spec: str, config: EvalConfig, what: str) -> Backend:
    from weightwarden.evals.backends import BackendError, open_backend

    options: dict[str, Any] = {}
    kind = spec.partition(":")[0] if not spec.lower().endswith(".gguf") else "gguf"
    if kind in ("gguf", "llama-server", "hf"):
        if config.chat_format is not None and what == "model":
            options["chat_format"] = config.chat_format
        if config.threads is not None:
            options["n_threads"] = config.threads
    try:
        return open_backend(spec, timeout_s=config.timeout_s, retries=config.retries,
                            concurrency=config.concurrency, **options)
    except (BackendError, OSError, ValueError, RuntimeError, ImportError) as exc:
        raise EvalRunError(f"cannot open {what} {spec!r}: {exc}") from None


def _build_detectors(suites: Sequence[Suite], judge: Backend | None) -> dict[tuple[str, ...], list[Any]]:
    from weightwarden.evals.detectors import build_detectors

    built: dict[tuple[str, ...], list[Any]] = {}
    for suite in suites:
        if suite.detectors not in built:
            try:
                built[suite.detectors] = build_detectors(suite.detectors, judge=judge)
            except (ValueError, KeyError, ImportError) as exc:
                raise EvalRunError(f"cannot build detectors {suite.detectors} for {suite.id}: {exc}") from None
    return built


async def arun_eval(
    config: EvalConfig,
    *,
    progress: ProgressCallback | None = None,
    backend: Backend | None = None,
    judge: Backend | None = None,
    on_record: Callable[[AttemptRecord], None] | None = None,
) -> RunSummary:
    """Async form of :func:`run_eval`. ``backend`` / ``judge`` may be given already open (tests, callers
    that share one backend between runs); they are then not closed here. Otherwise they are opened from
    ``config.model`` / ``config.judge`` and closed at the end, also on error or cancellation."""
    t0 = time.perf_counter()
    suites = plan_suites(config)
    attempts = plan(suites)
    out = Path(config.out)
    warnings: list[str] = []
    previous: dict[tuple[str, str], AttemptRecord] = {}
    tries: dict[tuple[str, str], int] = {}
    if out.is_file() and out.stat().st_size == 0:
        out.unlink()  # an empty file (e.g. made by `touch`, or a run killed before its header): nothing to keep
    existing = read_log(out) if out.exists() else None
    if existing is not None:
        _check_resume(existing.header, config, suites)
        warnings += existing.warnings
        previous = latest_records(existing.records)
        for record in existing.records:
            tries[record.key] = tries.get(record.key, 0) + 1

    owned: list[Backend] = []
    try:
        if backend is None:
            backend = _open_backend(config.model, config, "model")
            owned.append(backend)
        if judge is None and config.judge:
            judge = _open_backend(config.judge, config, "judge")
            owned.append(judge)
        if existing is not None and not _same_model(existing.header.model, backend.identity):
            old, new = existing.header.model, backend.identity
            raise ResumeMismatch(
                f"{out} was written for model {old.get('model')!r} ({old.get('kind')}, "
                f"{old.get('digest') or old.get('endpoint')}); this run's model is {new.model!r} ({new.kind}, "
                f"{new.digest or new.endpoint}). Use another --out."
            )
        detectors = _build_detectors(suites, judge)
        if existing is None:
            versions = {d.name: str(getattr(d, "version", "")) for ds in detectors.values() for d in ds}
            header = RunHeader(
                config=config.to_json(),
                config_digest=config.digest(),
                model=identity_to_json(backend.identity),
                backend_kind=backend.identity.kind,
                judge=None if judge is None else identity_to_json(judge.identity),
                datasets={s.id: _dataset_entry(s) for s in suites},
                weightwarden_version=_version(),
                seed=config.seed,
                started_at=_now(),
                detectors=dict(sorted(versions.items())),
                detector_error_rates=measured_error_rates(versions),
            )
            try:
                writer = LogWriter.create(out, header)
            except OSError as exc:
                raise EvalRunError(f"{out}: cannot create the run log: {exc.strerror or exc}") from None
        else:
            writer = LogWriter.open(out)

        todo = [a for a in attempts if not (a.key in previous and previous[a.key].ok)]
        already_done = len(attempts) - len(todo)
        retried = sum(1 for a in todo if a.key in previous)
        counts = {"ran": 0, "errors": 0}
        try:
            await _run_all(todo, backend, detectors, config, tries, writer, counts, progress, on_record, already_done,
                           len(attempts))
        finally:
            writer.close()
    finally:
        for opened in reversed(owned):
            # Closing stops a managed llama-server; shielded so a second Ctrl-C does not leave it running.
            await asyncio.shield(opened.aclose())
    return RunSummary(
        out=out, planned=len(attempts), already_done=already_done, ran=counts["ran"], retried=retried,
        errors=counts["errors"], resumed=existing is not None, duration_s=time.perf_counter() - t0,
        warnings=tuple(warnings),
    )


async def _run_all(
    todo: Sequence[PlannedAttempt], backend: Backend, detectors: Mapping[tuple[str, ...], list[Any]],
    config: EvalConfig, tries: Mapping[tuple[str, str], int], writer: LogWriter, counts: dict[str, int],
    progress: ProgressCallback | None, on_record: Callable[[AttemptRecord], None] | None, done_before: int,
    total: int,
) -> None:
    queue: asyncio.Queue[PlannedAttempt] = asyncio.Queue()
    for planned in todo:
        queue.put_nowait(planned)
    if progress is not None:
        progress(done_before, total, "")

    async def worker() -> None:
        while True:
            try:
                planned = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            record = await run_attempt(planned, backend, detectors[planned.suite.detectors], config,
                                       tries.get(planned.key, 0) + 1)
            # Written right away (one flushed line): an interruption loses only attempts in flight.
            try:
                writer.write(record)
            except OSError as exc:
                raise EvalRunError(f"cannot write the eval log {writer.path}: {exc.strerror or exc}") from None
            counts["ran"] += 1
            counts["errors"] += 0 if record.ok else 1
            if on_record is not None:
                on_record(record)  # e.g. the CLI prints the first backend error in full as it happens
            if progress is not None:
                progress(done_before + counts["ran"], total, f"{planned.suite.id} {planned.item.id}")

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(config.concurrency, len(todo))):
                group.create_task(worker())
    except* EvalRunError as failed:
        raise failed.exceptions[0] from None  # one clear message (e.g. disk full), not an exception group


def measured_error_rates(versions: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """metric -> the detector's measured sensitivity/specificity (``evals/data/detector_error_rates.json``,
    written by ``benchmarks/judge_loso.py``), for the detectors of this run at the version measured; the
    results show a Rogan–Gladen corrected rate beside the raw one from these."""
    import json
    from importlib import resources

    try:
        text = resources.files("weightwarden.evals").joinpath("data/detector_error_rates.json").read_text("utf-8")
        table = json.loads(text)
    except (OSError, ValueError):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for entry in table.get("detectors", []) if isinstance(table, dict) else []:
        if isinstance(entry, dict) and versions.get(entry.get("detector")) == entry.get("version"):
            for metric, rates in (entry.get("metrics") or {}).items():
                found[str(metric)] = dict(rates)
    return found


def _version() -> str:
    from weightwarden import __version__

    return __version__


def run_eval(config: EvalConfig, *, progress: ProgressCallback | None = None,
             on_record: Callable[[AttemptRecord], None] | None = None) -> RunSummary:
    """Run (or continue) the eval described by ``config``; see the module docstring. ``on_record`` sees
    every attempt record as it is written."""
    return asyncio.run(arun_eval(config, progress=progress, on_record=on_record))
