"""Evidence from Inspect AI eval logs (the UK AI Security Institute's evaluation framework).

    for score in read_inspect_log("logs/2026-12-01_wmdp-bio_x.eval"):
        print(score.task, score.scorer, score.k, score.n, score.estimate.score_low)

Logs are read with Inspect's own reader (``inspect_ai.log.read_eval_log``; both the ``.eval`` and the
``.json`` formats), never parsed by hand: the format is Inspect's to change. ``inspect-ai`` is an optional
dependency (``pip install 'weightwarden[inspect]'``).

One :class:`InspectScore` per scorer that reports an ``accuracy`` metric. The count of right answers
``k`` is taken from the samples when the log has them (each sample × epoch scored by that scorer, its value
converted with Inspect's own ``value_to_float``: ``C`` = 1, ``I`` / ``N`` = 0, ``P`` = 0.5 is not a full
success and counts as not right); otherwise, or for logs over :data:`MAX_FULL_READ_BYTES` on disk or
expanded (read header only, to bound memory), from ``accuracy × scored samples`` (``k_source="metric"``). Multiple-choice
samples (``choices`` set) give the chance rate ``mean(1/len(choices))``; other tasks (CTFs, open answers)
have chance 0, where the chance-corrected score equals the accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError, MissingExtraError
from weightwarden.core.text import printable
from weightwarden.evals.capability import CONFIDENCE, ChanceCorrected, chance_corrected

INSPECT_SCORE_SCHEMA = "weightwarden.inspect-score/v1"
MAX_LOG_BYTES = 4 * 1024**3  # refuse beyond this: not an eval log we should spend memory on
MAX_FULL_READ_BYTES = 256 * 1024**2  # above this, read the header only (metrics, no samples)
ACCURACY = "accuracy"


@dataclass(frozen=True, slots=True)
class InspectScore:
    """One scorer's accuracy in one Inspect eval log."""

    task: str
    task_version: str
    model: str
    scorer: str  # the EvalScore name (scorer name, or name/reducer)
    accuracy: float  # as the log's metric reports it
    stderr: float | None
    k: int
    n: int
    k_source: str  # "samples" or "metric"
    chance: float
    estimate: ChanceCorrected
    epochs: int
    status: str  # Inspect's run status: "success", "error", "cancelled", "started"
    dataset: str
    created: str
    log: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": INSPECT_SCORE_SCHEMA, "task": self.task, "task_version": self.task_version,
            "model": self.model, "scorer": self.scorer, "accuracy": self.accuracy, "stderr": self.stderr,
            "k": self.k, "n": self.n, "k_source": self.k_source, "chance": self.chance,
            "estimate": self.estimate.to_dict(), "epochs": self.epochs, "status": self.status,
            "dataset": self.dataset, "created": self.created, "log": self.log,
        }


def _inspect() -> Any:
    try:
        import inspect_ai.log as inspect_log
    except ImportError:
        raise MissingExtraError("reading Inspect AI logs", "inspect", "inspect_ai") from None
    return inspect_log


def inspect_log_size(path: Path) -> int:
    """The size of the Inspect log at ``path``, which must be a regular file of at most ``MAX_LOG_BYTES``;
    :class:`InputError` naming the file otherwise (shared by the evidence reader and the run reader)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read Inspect log ({exc.strerror or exc})") from None
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if size > MAX_LOG_BYTES:
        raise InputError(f"{path}: {size} bytes is over the {MAX_LOG_BYTES}-byte limit for an Inspect log")
    return size


def read_inspect_log(path: str | Path, *, confidence: float = CONFIDENCE) -> tuple[InspectScore, ...]:
    """Every accuracy-reporting scorer of the Inspect log at ``path``. Raises :class:`InputError` naming
    the file for a missing, oversized or unreadable log, or one without accuracy scores."""
    inspect_log = _inspect()
    from inspect_ai.scorer import value_to_float

    path = Path(path)
    size = inspect_log_size(path)
    # An .eval log is a zip: its expanded size (from the central directory, nothing decompressed) decides
    # too, so a small file that inflates to gigabytes is read header-only rather than into memory.
    header_only = size > MAX_FULL_READ_BYTES or _expanded_size(path) > MAX_FULL_READ_BYTES
    try:
        log = inspect_log.read_eval_log(str(path), header_only=header_only)
    except Exception as exc:  # noqa: BLE001 - Inspect raises many types for a bad file; all mean "unreadable"
        raise InputError(f"{path}: not a readable Inspect AI eval log ({exc.__class__.__name__}: "
                         f"{printable(exc, 300)})") from None
    if log.results is None or not log.results.scores:
        raise InputError(f"{path}: Inspect log has no scores (status {log.status})")
    samples = [] if header_only else list(log.samples or [])
    to_float = value_to_float()
    with_choices = [s for s in samples if s.choices]
    chance = sum(1 / len(s.choices) for s in with_choices) / len(with_choices) if with_choices else 0.0
    epochs = int(getattr(log.eval.config, "epochs", None) or 1)
    scores = []
    for eval_score in log.results.scores:
        metric = eval_score.metrics.get(ACCURACY)
        if metric is None:
            continue
        try:
            accuracy = float(metric.value)
        except (TypeError, ValueError):
            accuracy = math.nan
        if not 0 <= accuracy <= 1:  # also NaN: a log is input, its numbers are checked like any other
            raise InputError(f"{path}: scorer {printable(eval_score.name, 80)} reports accuracy "
                             f"{printable(metric.value, 40)}, not a proportion")
        stderr_metric = eval_score.metrics.get("stderr")
        values = [s.scores[eval_score.name].value for s in samples if s.scores and eval_score.name in s.scores]
        if values:
            k = sum(1 for v in values if _as_float(to_float, v) == 1.0)
            n, k_source = len(values), "samples"
        else:
            n = int(eval_score.scored_samples or log.results.completed_samples or 0)
            k, k_source = round(accuracy * n), "metric"
        if n < 1 or not 0 <= k <= n:
            raise InputError(f"{path}: scorer {printable(eval_score.name, 80)} has no scored samples")
        scores.append(InspectScore(
            task=str(log.eval.task), task_version=str(log.eval.task_version), model=str(log.eval.model),
            scorer=str(eval_score.name), accuracy=accuracy,
            stderr=float(stderr_metric.value) if stderr_metric is not None else None,
            k=k, n=n, k_source=k_source, chance=chance,
            estimate=chance_corrected(k, n, chance, confidence=confidence), epochs=epochs,
            status=str(log.status), dataset=str(log.eval.dataset.name or ""), created=str(log.eval.created),
            log=str(path),
        ))
    if not scores:
        raise InputError(f"{path}: Inspect log has no scorer with an accuracy metric")
    return tuple(scores)


def _expanded_size(path: Path) -> int:
    """Sum of the member sizes a zip declares (0 for a file that is not a zip, e.g. a .json log)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return sum(max(0, info.file_size) for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0


def _as_float(to_float: Any, value: object) -> float | None:
    try:
        return float(to_float(value))
    except (TypeError, ValueError):
        return None
