"""The audit record: what was examined, what each analysis found, the risk assessment and the decision.

``Audit.to_dict()`` is the versioned JSON form (``"schema": "weightwarden.audit/v1"``, published as
``schemas/audit.v1.json``); it is also the predicate of the signed in-toto attestation, so it holds only
what was measured and decided, never a secret. ``decision`` is ``open`` / ``staged`` / ``withhold``;
``domains`` lists every risk domain with its level (or ``not_assessed`` and why), evidence and confidence;
``findings`` are all analyses' findings in the shared evidence model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weightwarden.audit.facts import ModelFacts
from weightwarden.core.findings import Finding
from weightwarden.core.records import Analysis

SCHEMA = "weightwarden.audit/v1"
DECISIONS = ("open", "staged", "withhold")
EXIT_CODES = {"open": 0, "staged": 1, "withhold": 1}


@dataclass(frozen=True)
class SkippedAnalysis:
    """An analysis that did not run, and why (never silently absent)."""

    component: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"component": self.component, "reason": self.reason}


@dataclass(frozen=True)
class Audit:
    model: ModelFacts
    analyses: tuple[Analysis[Any], ...]  # scan, integrity, lineage, evals — those that ran; risk last
    skipped: tuple[SkippedAnalysis, ...]
    assessment: Any  # weightwarden.risk RiskAssessment
    decision: str
    reasons: tuple[str, ...]
    policy: dict[str, Any]  # id, version, release_mode, source
    created: str
    tool_version: str
    evidence_sources: tuple[str, ...] = field(default_factory=tuple)  # eval logs and evidence files read

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {self.decision!r}")

    @property
    def findings(self) -> list[Finding]:
        return [f for analysis in self.analyses for f in analysis.findings]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.decision]

    def analysis(self, component: str) -> Analysis[Any] | None:
        return next((a for a in self.analyses if a.component == component), None)

    def to_dict(self) -> dict[str, Any]:
        risk = self.assessment.to_dict()
        return {
            "schema": SCHEMA,
            "tool": {"name": "weightwarden", "version": self.tool_version},
            "created": self.created,
            "model": self.model.to_dict(),
            "policy": dict(self.policy),
            "release_mode": self.policy.get("release_mode"),
            "decision": self.decision,
            "reasons": list(self.reasons),
            "domains": risk.get("domains", []),
            "gates": risk.get("gates", []),
            # the rest of the assessment (policy digest, taxonomy and crosswalk versions, unmapped evidence)
            "assessment": {k: v for k, v in risk.items() if k not in ("domains", "gates", "decision")},
            "analyses": [
                {"component": a.component, "record": a.record.to_dict(), "findings": len(a.findings)}
                for a in self.analyses
            ],
            "skipped": [s.to_dict() for s in self.skipped],
            "evidence_sources": list(self.evidence_sources),
            "findings": [f.to_dict() for f in self.findings],
        }
