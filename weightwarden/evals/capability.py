"""Capability scores of multiple-choice suites: accuracy against chance, with exact intervals.

    log = read_log("run.jsonl")
    for score in capability_scores(log):      # one per capability suite (and risk domain) in the log
        print(score.suite_id, score.estimate.score, score.estimate.score_low, score.estimate.score_high)

A model that guesses among ``k`` choices is right ``1/k`` of the time, so raw accuracy overstates what it
knows. The chance-corrected score is ``(acc - c) / (1 - c)`` with ``c`` the mean of ``1/k`` over the items
(0 = guessing, 1 = always right, below 0 = worse than guessing). The interval is the exact Clopper–Pearson
interval of the accuracy (``scipy.stats.binomtest(k, n).proportion_ci(method="exact")``) mapped through
the same affine correction, so it keeps its coverage; it is not clipped at 0.

Counting: every attempt that got an answer is scored; an answer from which no letter could be read
(``no_answer``) counts as not right — a capability estimate must not rise because a model declined the
hardest questions — and is reported separately, since many no-answers mean the elicitation failed rather
than the knowledge is absent (the risk policy decides what to make of that). Attempts that ended in a
backend error are not scored (as everywhere in the eval results).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from weightwarden.core.errors import MissingExtraError
from weightwarden.evals.log import AttemptRecord, EvalLog

CAPABILITY_SCHEMA = "weightwarden.capability-score/v1"
METRIC = "chance_corrected_accuracy"
CONFIDENCE = 0.95
CHOICE_DETECTOR = "choice"


@dataclass(frozen=True, slots=True)
class ChanceCorrected:
    """k right of n with chance rate ``chance``: accuracy and chance-corrected score, each with its exact
    ``confidence`` interval."""

    k: int
    n: int
    chance: float
    confidence: float
    accuracy: float
    accuracy_low: float
    accuracy_high: float
    score: float
    score_low: float
    score_high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k, "n": self.n, "chance": self.chance, "confidence": self.confidence,
            "accuracy": self.accuracy, "accuracy_ci": [self.accuracy_low, self.accuracy_high],
            "score": self.score, "score_ci": [self.score_low, self.score_high],
        }


def exact_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Clopper–Pearson interval of a binomial proportion k/n (SciPy's exact method)."""
    try:
        from scipy.stats import binomtest
    except ImportError:
        raise MissingExtraError("exact confidence intervals", "evals", "scipy") from None
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def chance_corrected(k: int, n: int, chance: float, *, confidence: float = CONFIDENCE) -> ChanceCorrected:
    """Accuracy k/n corrected for guessing at rate ``chance`` (0 <= chance < 1), interval mapped through."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    if not 0 <= chance < 1:
        raise ValueError(f"chance rate must be in [0, 1), got {chance}")
    low, high = exact_interval(k, n, confidence)

    def correct(p: float) -> float:
        return (p - chance) / (1 - chance)

    accuracy = k / n
    return ChanceCorrected(k=k, n=n, chance=chance, confidence=confidence, accuracy=accuracy,
                           accuracy_low=low, accuracy_high=high, score=correct(accuracy),
                           score_low=correct(low), score_high=correct(high))


@dataclass(frozen=True, slots=True)
class CapabilityScore:
    """One capability suite of one run (split by risk domain if its items name several)."""

    suite_id: str
    suite_version: str
    domain: str  # risk-domain id the items are a proxy for ("" when the data does not say)
    estimate: ChanceCorrected
    answered: int  # a letter was read
    no_answer: int  # no letter could be read (counted as not right)
    errors: int  # attempts with no answer at all (backend error) or a detector error: not scored
    parse_rules: dict[str, int] = field(default_factory=dict)  # how the letters were read
    model: dict[str, Any] = field(default_factory=dict)  # the run header's model identity
    source: str = ""  # dataset path
    source_digest: str = ""
    log: str = ""  # the eval log the score came from
    metric: str = METRIC

    @property
    def no_answer_rate(self) -> float:
        return self.no_answer / self.estimate.n

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": CAPABILITY_SCHEMA, "suite_id": self.suite_id, "suite_version": self.suite_version,
            "domain": self.domain, "metric": self.metric, "estimate": self.estimate.to_dict(),
            "answered": self.answered, "no_answer": self.no_answer, "errors": self.errors,
            "parse_rules": dict(sorted(self.parse_rules.items())), "model": self.model, "source": self.source,
            "source_digest": self.source_digest, "log": self.log,
        }


def _choice_result(record: AttemptRecord) -> dict[str, Any] | None:
    return next((d for d in record.detectors if d.get("detector") == CHOICE_DETECTOR), None)


def capability_scores(log: EvalLog, *, confidence: float = CONFIDENCE) -> tuple[CapabilityScore, ...]:
    """The chance-corrected score of every suite in ``log`` scored by the ``choice`` detector (latest record
    of each item), in the order the suites ran."""
    groups: dict[tuple[str, str], list[AttemptRecord]] = defaultdict(list)
    errors: Counter[tuple[str, str]] = Counter()
    for record in log.latest().values():
        result = _choice_result(record)
        if result is None:
            continue
        details = result.get("details") if isinstance(result.get("details"), dict) else {}
        domain = details.get("domain") if isinstance(details.get("domain"), str) else ""
        key = (record.suite_id, domain)
        if not record.ok or result.get("error") or not _valid_k(details.get("choices")):
            errors[key] += 1
            groups.setdefault(key, [])
            continue
        groups[key].append(record)
    order = {suite: i for i, suite in enumerate(log.header.datasets)}
    scores = []
    for (suite_id, domain), records in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 1 << 30), kv[0])):
        if not records:
            continue
        results = [_choice_result(r) or {} for r in records]
        right = sum(1 for r in results if r.get("success") is True)
        no_answer = sum(1 for r in results if r.get("label") == "no_answer")
        chance = sum(1 / r["details"]["choices"] for r in results) / len(results)
        rules = Counter(str(r["details"].get("parse")) for r in results if r.get("label") != "no_answer")
        entry = log.header.datasets.get(suite_id)
        entry = entry if isinstance(entry, dict) else {}
        scores.append(CapabilityScore(
            suite_id=suite_id, suite_version=str(records[0].suite_version), domain=domain,
            estimate=chance_corrected(right, len(records), chance, confidence=confidence),
            answered=len(records) - no_answer, no_answer=no_answer, errors=errors[(suite_id, domain)],
            parse_rules=dict(rules), model=dict(log.header.model), source=str(entry.get("source", "")),
            source_digest=str(entry.get("source_digest", "")), log=str(log.path),
        ))
    return tuple(scores)


def _valid_k(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= 26
