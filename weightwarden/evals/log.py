"""The eval run log: one JSONL file, a header line, then one record per attempt.

Written by the runner (:class:`LogWriter`), read back by the runner on resume and by results, reports and
``eval compare`` (:func:`read_log`). The log is the product of a run: anyone can re-score it with another
detector version, because it keeps every rendered message, sampling setting and answer.

Durability: every record is one ``write`` of a complete line followed by a flush, and the file is fsynced
when the writer closes (also on Ctrl-C / a cancelled task), so an interrupted run leaves complete lines
plus at most one torn last line. :func:`read_log` ignores that torn line with a warning, and
:meth:`LogWriter.open` cuts it off before appending, so the next line starts clean. A malformed line
anywhere else means the file was edited or is not a weightwarden log: reading fails closed, naming it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError
from weightwarden.core.files import open_regular
from weightwarden.evals.model import DetectorResult, Message

LOG_SCHEMA = "weightwarden.eval-log/v1"
RECORD_SCHEMA = "weightwarden.eval-attempt/v1"
MAX_LINE_BYTES = 64 * 1024 * 1024  # one record; bounds memory on a hostile or corrupted log


class EvalLogError(ValueError):
    """The log cannot be read (not a weightwarden eval log, malformed line, unknown schema)."""


# JSON types of the fields that readers (resume, results, reports) rely on; a log is edited or hostile
# input, so a field of another type is refused here rather than failing somewhere downstream.
_HEADER_TYPES: dict[str, type | tuple[type, ...]] = {
    "config": dict, "config_digest": str, "model": dict, "backend_kind": str, "judge": (dict, type(None)),
    "datasets": dict, "seed": int, "detectors": dict, "detector_error_rates": dict,
}
_RECORD_TYPES: dict[str, type | tuple[type, ...]] = {
    "suite_id": str, "family": str, "item_id": str, "category": str, "transform": str,
    "messages": list, "detectors": list, "error": (str, type(None)), "error_kind": (str, type(None)),
    "truncated": bool,
}


def _check_types(data: Mapping[str, Any], types: Mapping[str, type | tuple[type, ...]]) -> str | None:
    """The first field of ``data`` whose JSON type is wrong, described; None when all are right."""
    for name, expected in types.items():
        value = data.get(name)
        wrong = not isinstance(value, expected) or (isinstance(value, bool) and expected is int)
        if name in data and wrong:
            return f"{name} is {type(value).__name__}"
    return None


@dataclass(frozen=True)
class RunHeader:
    """First line of the log: who was evaluated, on what, how, by which weightwarden."""

    config: dict[str, Any]  # EvalConfig.to_json()
    config_digest: str
    model: dict[str, Any]  # BackendIdentity as a dict
    backend_kind: str
    judge: dict[str, Any] | None  # judge BackendIdentity as a dict, None when no judge was configured
    datasets: dict[str, dict[str, Any]]  # suite id -> {version, family, source, source_digest, license, items}
    weightwarden_version: str
    seed: int
    started_at: str
    detectors: dict[str, str] = field(default_factory=dict)  # detector name -> version
    # metric -> {"sensitivity", "specificity", "source"}: the detector's error measured against human labels
    # (benchmarks/judge_agreement.py, worst held-out source), for the corrected rates of results.
    detector_error_rates: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema: str = LOG_SCHEMA

    def to_json(self) -> dict[str, Any]:
        return {"type": "header", **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunHeader:
        if data.get("schema") != LOG_SCHEMA:
            raise EvalLogError(f"unsupported log schema {data.get('schema')!r} (expected {LOG_SCHEMA})")
        if wrong := _check_types(data, _HEADER_TYPES):
            raise EvalLogError(f"malformed header: {wrong}")
        try:
            return cls(**{k: v for k, v in data.items() if k != "type"})
        except TypeError as exc:
            raise EvalLogError(f"malformed header: {exc}") from None


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt at one item: everything needed to re-score it.

    ``messages`` is the whole conversation sent for the final turn (for multi-turn items it includes the
    model's earlier replies); ``response`` is the final answer that was scored. ``error`` is set (with
    ``error_kind``: ``backend``, ``empty``, ``truncated``, ``internal``) when there was no usable answer;
    such an attempt is never scored and never counted in a rate. ``attempt`` counts tries of this item
    across resumptions (errors are retried; the latest record wins).
    """

    suite_id: str
    suite_version: str
    family: str
    item_id: str
    category: str
    expect: str
    transform: str
    attempt: int
    messages: tuple[dict[str, Any], ...]
    sampling: dict[str, Any]
    response: str | None
    finish_reason: str | None
    truncated: bool
    reported_model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    turns: int
    detectors: tuple[dict[str, Any], ...]
    error: str | None
    error_kind: str | None
    started_at: str
    finished_at: str
    schema: str = RECORD_SCHEMA

    @property
    def key(self) -> tuple[str, str]:
        return (self.suite_id, self.item_id)

    @property
    def ok(self) -> bool:
        return self.error is None

    def detector_results(self) -> list[DetectorResult]:
        return [detector_result_from_json(d) for d in self.detectors]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["messages"] = list(self.messages)
        data["detectors"] = list(self.detectors)
        return {"type": "attempt", **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AttemptRecord:
        if data.get("schema") != RECORD_SCHEMA:
            raise EvalLogError(f"unsupported record schema {data.get('schema')!r} (expected {RECORD_SCHEMA})")
        if wrong := _check_types(data, _RECORD_TYPES):
            raise EvalLogError(f"malformed attempt record: {wrong}")
        if not all(isinstance(m, dict) for m in (*data.get("messages", ()), *data.get("detectors", ()))):
            raise EvalLogError("malformed attempt record: messages and detectors must be JSON objects")
        values = {k: v for k, v in data.items() if k != "type"}
        values["messages"] = tuple(values.get("messages") or ())
        values["detectors"] = tuple(values.get("detectors") or ())
        try:
            return cls(**values)
        except TypeError as exc:
            raise EvalLogError(f"malformed attempt record: {exc}") from None


@dataclass(frozen=True)
class EvalLog:
    path: Path
    header: RunHeader
    records: tuple[AttemptRecord, ...]  # in file order, retries included
    warnings: tuple[str, ...] = ()
    bytes_read: int = 0  # what read_log took from the file (a caller's budget across logs)
    lines_read: int = 0

    def latest(self) -> dict[tuple[str, str], AttemptRecord]:
        """The latest record of each (suite id, item id): the one results count."""
        return latest_records(self.records)


def latest_records(records: Iterable[AttemptRecord]) -> dict[tuple[str, str], AttemptRecord]:
    """The last record of each (suite id, item id) in ``records`` (file order: the latest try wins)."""
    latest: dict[tuple[str, str], AttemptRecord] = {}
    for record in records:
        latest[record.key] = record
    return latest


def message_to_json(message: Message) -> dict[str, Any]:
    """A chat message as JSON (``name`` only when set): in records and in OpenAI request bodies."""
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None:
        data["name"] = message.name
    return data


def detector_result_to_json(result: DetectorResult) -> dict[str, Any]:
    return asdict(result)


def detector_result_from_json(data: Mapping[str, Any]) -> DetectorResult:
    return DetectorResult(
        detector=str(data.get("detector", "")),
        label=str(data.get("label", "")),
        success=data.get("success"),
        score=data.get("score"),
        evidence=str(data.get("evidence", "")),
        error=data.get("error"),
        details=dict(data.get("details") or {}),
    )


def _dumps(data: Mapping[str, Any]) -> str:
    # ensure_ascii: a model's answer may hold lone surrogates or control characters; escaped, every line
    # stays valid UTF-8 JSON whatever the model produced.
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"), default=str)


def read_log(path: str | os.PathLike[str], *, max_bytes: int | None = None,
             max_lines: int | None = None) -> EvalLog:
    """Read a log, line by line (a line longer than :data:`MAX_LINE_BYTES` is refused, so a corrupted or
    hostile file cannot exhaust memory). A torn last line (an interrupted write) is ignored with a warning;
    any other malformed line raises :class:`EvalLogError` naming the file and line."""
    path = Path(path)
    warnings: list[str] = []
    header: RunHeader | None = None
    records: list[AttemptRecord] = []
    total = 0
    try:
        # Red team round 5 (class 3): a regular file only (a FIFO as --eval-log blocked open() for ever); the
        # log is then streamed line by line, each line bounded.
        with os.fdopen(open_regular(path, "eval log"), "rb") as handle:
            number = 0
            while line := handle.readline(MAX_LINE_BYTES + 1):
                number += 1
                total += len(line)
                # Red team round 6 (class 3): each line was bounded but not their number; a caller deriving
                # from untrusted logs gives a total (indicators derive).
                if max_lines is not None and number > max_lines:
                    raise EvalLogError(f"{path}: more than {max_lines} lines; refused")
                if max_bytes is not None and total > max_bytes:
                    raise EvalLogError(f"{path}: larger than {max_bytes} bytes; refused")
                if not line.endswith(b"\n"):
                    if len(line) > MAX_LINE_BYTES:
                        raise EvalLogError(f"{path}: line {number} is longer than {MAX_LINE_BYTES} bytes")
                    # Every record ends with a newline written in the same call as the record: a last line
                    # without one is torn, even if what survived happens to parse.
                    warnings.append(f"{path}: ignored a torn last line {number} (an interrupted write)")
                    break
                data = _parse_line(path, number, line)
                if number == 1:
                    if data.get("type") != "header":
                        raise EvalLogError(f"{path}: not a weightwarden eval log (first line is not a header)")
                    header = RunHeader.from_json(data)
                elif data.get("type") != "attempt":
                    raise EvalLogError(f"{path}: line {number} has unknown record type {data.get('type')!r}")
                else:
                    try:
                        records.append(AttemptRecord.from_json(data))
                    except EvalLogError as exc:
                        raise EvalLogError(f"{path}: line {number}: {exc}") from None
    except InputError as exc:
        raise EvalLogError(exc.reason) from None
    except OSError as exc:
        raise EvalLogError(f"cannot read eval log {path}: {exc.strerror or exc}") from None
    if header is None:
        raise EvalLogError(f"{path}: empty or torn eval log (no complete header line)")
    return EvalLog(path=path, header=header, records=tuple(records), warnings=tuple(warnings), bytes_read=total,
                   lines_read=number)


def _parse_line(path: Path, number: int, line: bytes) -> dict[str, Any]:
    from weightwarden.core.strict_json import StrictJSONError, loads

    try:
        # Red team round 6 (class 4): json.loads on a line nested 100,000 deep raised RecursionError ("internal
        # error"); the strict parser refuses deep nesting, huge integers and duplicate keys with one error.
        data = loads(line)
    except StrictJSONError as exc:
        raise EvalLogError(f"{path}: line {number} is not valid JSON: {exc.reason}") from None
    if not isinstance(data, dict):
        raise EvalLogError(f"{path}: line {number} is not a JSON object")
    return data


class LogWriter:
    """Appends records to a log, one flushed line each; fsyncs on :meth:`close`.

    Use :meth:`create` for a new log and :meth:`open` to continue an existing one (which cuts off a torn
    last line first, so appended records start on a fresh line).
    """

    def __init__(self, path: Path, handle: Any) -> None:
        self.path = path
        self._handle = handle

    @classmethod
    def create(cls, path: str | os.PathLike[str], header: RunHeader) -> LogWriter:
        path = Path(path)
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        from weightwarden.core.files import create_file

        # Never overwrite an existing log by accident (exclusive), never through a link at the name, never a
        # device/FIFO or a file in /dev or /proc: the same create path as every other file the product makes.
        handle = os.fdopen(create_file(path, 0o644), "wb")
        writer = cls(path, handle)
        writer._write_line(header.to_json())
        return writer

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> LogWriter:
        path = Path(path)
        handle = open(path, "r+b")  # noqa: SIM115 - closed by close()
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                # Find the start of the torn line and cut it off (read backwards in bounded chunks).
                end = size
                cut = 0
                while end > 0:
                    start = max(0, end - 65536)
                    handle.seek(start)
                    chunk = handle.read(end - start)
                    pos = chunk.rfind(b"\n")
                    if pos >= 0:
                        cut = start + pos + 1
                        break
                    end = start
                handle.truncate(cut)
        handle.seek(0, os.SEEK_END)
        return cls(path, handle)

    def write(self, record: AttemptRecord) -> None:
        self._write_line(record.to_json())

    def _write_line(self, data: Mapping[str, Any]) -> None:
        # One write call per line: an interruption can tear at most the line being written.
        self._handle.write((_dumps(data) + "\n").encode("ascii"))
        self._handle.flush()

    def close(self) -> None:
        if self._handle.closed:
            return
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        finally:
            self._handle.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
