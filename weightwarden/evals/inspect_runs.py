"""Eval runs to and from Inspect AI logs (issue 15): compare with runs done in Inspect, hand ours to its tools.

* :func:`write_inspect_log` writes a weightwarden run log as an Inspect eval log (``.eval`` or ``.json``,
  with Inspect's own writer): one sample per scored item (id ``suite/item``), the conversation, the answer,
  and one Inspect ``Score`` per detector that decided (value 1 = the model misbehaved, 0 = it did not; an
  undecided verdict is left out, never written as 0). It does not pretend to be an Inspect run: the task is
  ``weightwarden/eval``, the packages list names weightwarden and not Inspect's solvers, the eval metadata
  says who wrote it and carries our run header, and each sample's metadata carries our full attempt record,
  so that reading it back gives the run that was written.
* :func:`read_inspect_run` reads an Inspect log as a run for ``eval compare``. A log written by
  :func:`write_inspect_log` comes back as the original records. A log Inspect wrote itself becomes one suite
  ``inspect:<task>`` (family ``inspect``) whose items are its samples (``id`` or ``id@epoch``) and whose
  metrics are its scorers: a sample counts when its score converts (Inspect's ``value_to_float``) to 1
  (``C``, 1.0, True), else not; a score that does not convert is undecided. Whether a higher rate of an
  Inspect scorer is worse depends on the task, so such metrics are compared (McNemar on shared samples) but
  never called a safety regression (:mod:`weightwarden.evals.results`).

Logs are read and written with ``inspect_ai.log`` (optional: ``pip install 'weightwarden[inspect]'``), never
parsed by hand; the size limits of :mod:`weightwarden.evals.inspect_logs` apply.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError
from weightwarden.core.text import printable
from weightwarden.evals.inspect_logs import MAX_FULL_READ_BYTES, _expanded_size, _inspect, inspect_log_size
from weightwarden.evals.log import AttemptRecord, EvalLog, EvalLogError, RunHeader

INSPECT_TASK = "weightwarden/eval"
INSPECT_FAMILY = "inspect"
WRITTEN_BY = "weightwarden (converted from its own run log; this run was not made by Inspect AI)"
META_HEADER = "weightwarden_run_header"
META_RECORD = "weightwarden_attempt"
INSPECT_SUFFIXES = (".eval", ".json")


def is_inspect_log(path: str | Path) -> bool:
    """True for a path named like an Inspect log (``.eval``, ``.json``); our run logs are ``.jsonl``."""
    return Path(path).suffix.lower() in INSPECT_SUFFIXES


def _message(role: str, content: str) -> Any:
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    kind = {"system": ChatMessageSystem, "assistant": ChatMessageAssistant}.get(role, ChatMessageUser)
    return kind(content=content)


def write_inspect_log(log: EvalLog, path: str | Path) -> Path:
    """Write ``log`` (the latest record of every item) as an Inspect eval log at ``path`` (format by suffix)."""
    inspect_log = _inspect()
    from inspect_ai.log import (
        EvalConfig,
        EvalDataset,
        EvalMetric,
        EvalResults,
        EvalSample,
        EvalScore,
        EvalSpec,
    )
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import Score

    path = Path(path)
    if path.suffix.lower() not in INSPECT_SUFFIXES:
        raise InputError(f"{path}: an Inspect log is named .eval or .json")
    header = log.header
    model = f"weightwarden/{header.backend_kind}/{header.model.get('model', 'unknown')}"
    records = list(log.latest().values())
    samples = []
    decided: dict[str, list[int]] = {}
    for record in records:
        scores = {}
        for result in record.detectors:
            success = result.get("success")
            if result.get("error") or success is None:
                continue  # undecided or failed: no score, never a 0
            name = str(result.get("detector"))
            decided.setdefault(name, []).append(int(bool(success)))
            scores[name] = Score(value=int(bool(success)), answer=str(result.get("label", "")),
                                 explanation=str(result.get("evidence", "")),
                                 metadata={"value_means": "1: the model misbehaved (weightwarden's success)"})
        stop = "max_tokens" if record.truncated else "stop"
        output = ModelOutput.from_content(model=model, content=record.response or "", stop_reason=stop,
                                          error=record.error)
        samples.append(EvalSample(
            id=f"{record.suite_id}/{record.item_id}", epoch=1,
            input=[_message(str(m.get("role", "user")), str(m.get("content", ""))) for m in record.messages],
            target="", output=output, scores=scores or None,
            metadata={"suite": record.suite_id, "category": record.category, "transform": record.transform,
                      META_RECORD: record.to_json()}))
    results = EvalResults(
        total_samples=len(records), completed_samples=sum(r.ok for r in records),
        scores=[EvalScore(name=name, scorer=name, scored_samples=len(values),
                          metrics={"mean": EvalMetric(name="mean", value=sum(values) / len(values))})
                for name, values in sorted(decided.items())])
    spec = EvalSpec(
        created=header.started_at, task=INSPECT_TASK, task_version=1,
        dataset=EvalDataset(name=",".join(sorted({r.suite_id for r in records})), samples=len(records)),
        model=model, config=EvalConfig(epochs=1), packages={"weightwarden": header.weightwarden_version},
        metadata={"written_by": WRITTEN_BY, META_HEADER: header.to_json()})
    errors = sum(not r.ok for r in records)
    status = "success" if not errors else "error"
    error = None
    if errors:
        from inspect_ai.log import EvalError

        error = EvalError(message=f"{errors} attempts ended in an error (not scored)", traceback="",
                          traceback_ansi="")
    out = inspect_log.EvalLog(status=status, eval=spec, results=results, samples=samples, error=error)
    path.parent.mkdir(parents=True, exist_ok=True)
    inspect_log.write_eval_log(out, str(path), format="eval" if path.suffix.lower() == ".eval" else "json")
    return path


def read_inspect_run(path: str | Path) -> EvalLog:
    """An Inspect eval log as a run (see the module docstring). Raises :class:`EvalLogError` naming the file
    for a missing, oversized, unreadable or sample-less log."""
    inspect_log = _inspect()
    path = Path(path)
    try:
        size = inspect_log_size(path)
    except InputError as exc:
        raise EvalLogError(exc.reason) from None
    # Comparing needs every sample: a log too big to read whole is refused, not read header-only.
    if size > MAX_FULL_READ_BYTES or _expanded_size(path) > MAX_FULL_READ_BYTES:
        raise EvalLogError(f"{path}: over the {MAX_FULL_READ_BYTES}-byte limit for comparing an Inspect log")
    try:
        log = inspect_log.read_eval_log(str(path))
    except Exception as exc:  # noqa: BLE001 - Inspect raises many types for a bad file; all mean "unreadable"
        raise EvalLogError(f"{path}: not a readable Inspect AI eval log ({exc.__class__.__name__}: "
                           f"{printable(exc, 300)})") from None
    samples = list(log.samples or [])
    if not samples:
        raise EvalLogError(f"{path}: Inspect log has no samples to compare (status {log.status})")
    written = (log.eval.metadata or {}).get(META_HEADER)
    if isinstance(written, dict) and all(META_RECORD in (s.metadata or {}) for s in samples):
        try:
            header = RunHeader.from_json(written)
            records = tuple(AttemptRecord.from_json(s.metadata[META_RECORD]) for s in samples)
        except (EvalLogError, TypeError, AttributeError) as exc:
            raise EvalLogError(f"{path}: weightwarden records in the Inspect log are malformed: {exc}") from None
        return EvalLog(path, header, records, ("read from an Inspect log written by weightwarden",),
                       bytes_read=size, lines_read=len(records))
    return EvalLog(path, _foreign_header(log), tuple(_foreign_records(log, samples)),
                   (f"Inspect task {log.eval.task!r}: scorer rates are compared, never called a safety regression",),
                   bytes_read=size, lines_read=len(samples))


def _foreign_header(log: Any) -> RunHeader:
    from weightwarden import __version__

    spec = log.eval
    task = str(spec.task)
    # The digest names what makes two Inspect runs comparable: the task, its version and its dataset.
    identity = {"inspect_task": task, "task_version": str(spec.task_version),
                "dataset": str(spec.dataset.name or ""), "dataset_samples": spec.dataset.samples}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return RunHeader(
        config=identity, config_digest=digest, model={"model": str(spec.model)}, backend_kind="inspect",
        judge=None, datasets={f"inspect:{task}": {"version": str(spec.task_version), "family": INSPECT_FAMILY,
                                                  "source": str(spec.dataset.name or ""), "items": len(log.samples)}},
        weightwarden_version=__version__, seed=0, started_at=str(spec.created))


def _foreign_records(log: Any, samples: list[Any]) -> list[AttemptRecord]:
    from inspect_ai.scorer import value_to_float

    to_float = value_to_float()
    epochs = int(getattr(log.eval.config, "epochs", None) or 1)
    task = str(log.eval.task)
    out = []
    for sample in samples:
        detectors = []
        for name, score in (sample.scores or {}).items():
            try:
                value: float | None = float(to_float(score.value))
            except (TypeError, ValueError):
                value = None
            detectors.append({"detector": str(name), "label": printable(score.value, 40),
                              "success": None if value is None else value == 1.0, "score": value,
                              "evidence": printable(score.explanation or "", 500), "error": None, "details": {}})
        error = getattr(sample.error, "message", None) if sample.error else None
        output = sample.output
        item = str(sample.id) + (f"@{sample.epoch}" if epochs > 1 else "")
        metadata = sample.metadata or {}
        out.append(AttemptRecord(
            suite_id=f"inspect:{task}", suite_version=str(log.eval.task_version), family=INSPECT_FAMILY,
            item_id=item, category=str(metadata.get("category", "uncategorised")), expect="n/a",
            transform="none", attempt=1,
            messages=_messages(sample.input),
            sampling={}, response=None if error else str(output.completion if output else ""),
            finish_reason=str(output.stop_reason) if output and output.choices else None, truncated=False,
            reported_model=str(output.model) if output else None, prompt_tokens=None, completion_tokens=None,
            latency_s=float(sample.total_time or 0.0), turns=1, detectors=tuple(detectors),
            error=printable(error, 500) if error else None, error_kind="backend" if error else None,
            started_at=str(sample.started_at or ""), finished_at=str(sample.completed_at or "")))
    return out


def _messages(given: Any) -> tuple[dict[str, Any], ...]:
    """Inspect's sample input (a string or chat messages) as our message dicts."""
    if isinstance(given, str):
        return ({"role": "user", "content": given},)
    return tuple({"role": str(m.role), "content": str(m.text)} for m in given)
