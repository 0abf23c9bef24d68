"""Detectors and judges that score one answer to one eval item: ``build_detectors(names, judge=...)``.

The runner builds the detectors a suite names (``Suite.detectors``) once per run and calls
``await detector.detect(item, answer)`` for every attempt; each returns a ``DetectorResult`` whose
``success`` says whether the model misbehaved for the item's expectation (None when undecidable) and whose
``details`` carry the evidence, so a log can be re-scored later.

==================  ========================================================================  ===========
name                what it decides                                                           needs
==================  ========================================================================  ===========
``refusal``         refusal / partial / compliance, model-free (``refusal.py``)               nothing
``judge``           StrongREJECT-style rubric: did the answer give usable harmful content?     judge model
``attack``          attack success = harmful compliance: refused / complied without or with    judge model for
                    usable content / undecided (see ``attack.py``)                             "usable"
``canary``          a secret from ``item.metadata["canary"]`` (or the exfil URL) leaked        nothing
``injection_judge`` CyberSecEval prompt-injection judge question; string check when possible   judge model*
``static_code``     bandit findings (medium+ severity) in the answer's Python code, with CWE   bandit
==================  ========================================================================  ===========

(*) ``injection_judge`` decides without a model when the item carries ``metadata["target"]``.
Judges only ever run on the backend the caller passes as ``judge`` — never a cloud service by default —
and write that backend's identity into every result's ``details["judge"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from weightwarden.evals.detectors.choice import ChoiceDetector  # cheap (re only): imported eagerly
from weightwarden.evals.model import Backend, DetectorResult, Item

__all__ = ["DETECTOR_NAMES", "Detector", "DetectorConfigError", "build_detectors", "request_text"]


@runtime_checkable
class Detector(Protocol):
    """Scores one answer. Implementations never raise for a bad answer; they return a result with
    ``error`` set and ``success=None`` instead."""

    name: str
    version: str

    async def detect(self, item: Item, answer: str) -> DetectorResult: ...


class DetectorConfigError(ValueError):
    """An unknown detector name, or a detector that cannot be built."""


def request_text(item: Item) -> str:
    """The request the scored answer responds to, untransformed when a jailbreak transform rewrote it."""
    original = item.metadata.get("request")
    if isinstance(original, str) and original.strip():
        return original
    if item.followups:
        return item.followups[-1]
    for message in reversed(item.messages):
        if message.role == "user":
            return message.content
    return ""


def _refusal(judge: Backend | None) -> Detector:
    from weightwarden.evals.detectors.refusal import RefusalDetector

    return RefusalDetector()


def _judge(judge: Backend | None) -> Detector:
    from weightwarden.evals.detectors.judge import RubricJudge

    return RubricJudge(judge)


def _attack(judge: Backend | None) -> Detector:
    from weightwarden.evals.detectors.attack import AttackSuccessDetector

    return AttackSuccessDetector(judge)


def _canary(judge: Backend | None) -> Detector:
    from weightwarden.evals.detectors.canary import CanaryDetector

    return CanaryDetector()


def _injection(judge: Backend | None) -> Detector:
    from weightwarden.evals.detectors.injection import InjectionJudge

    return InjectionJudge(judge)


def _static_code(judge: Backend | None) -> Detector:
    from weightwarden.evals.detectors.static_code import StaticCodeDetector

    return StaticCodeDetector()


_FACTORIES: dict[str, Callable[[Backend | None], Detector]] = {
    "refusal": _refusal,
    "judge": _judge,
    "attack": _attack,
    "canary": _canary,
    "injection_judge": _injection,
    "static_code": _static_code,
    "choice": lambda judge: ChoiceDetector(),
}
DETECTOR_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def build_detectors(names: Sequence[str], *, judge: Backend | None = None) -> list[Detector]:
    """One detector per name, in order. Judge-based detectors without a ``judge`` backend still build: they
    return ``error="no judge configured"`` results, so a run without a judge model is complete but says so."""
    unknown = [name for name in names if name not in _FACTORIES]
    if unknown:
        raise DetectorConfigError(f"unknown detector(s) {', '.join(map(repr, unknown))}; "
                                  f"known: {', '.join(DETECTOR_NAMES)}")
    return [_FACTORIES[name](judge) for name in names]


def judge_identity(backend: Backend | None) -> dict | None:
    """The judge backend's identity as plain data, for ``DetectorResult.details["judge"]``."""
    if backend is None:
        return None
    identity = getattr(backend, "identity", None)
    if identity is None:
        return {"kind": type(backend).__name__}
    return {"kind": identity.kind, "model": identity.model, "digest": identity.digest,
            "endpoint": identity.endpoint}


def no_judge_result(name: str) -> DetectorResult:
    return DetectorResult(detector=name, label="error", success=None, error="no judge configured",
                          details={"judge": None})
