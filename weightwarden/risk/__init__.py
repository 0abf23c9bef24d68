"""Risk tiers in a shared vocabulary: taxonomy, crosswalk to published frameworks, policies, assessment.

    from weightwarden.risk import assess, load_policy, evidence
    items = [*evidence.from_eval_log("run.jsonl"), evidence.from_analysis(scan_analysis)]
    assessment = assess(items, load_policy("default"), "open-weights")
    assessment.decision            # ReleaseDecision(decision=open|staged|withhold, reasons)
    findings_of(assessment)        # core Findings of the "risk" component (CATALOGUE)

Imports only :mod:`weightwarden.core` and the analyses' records (evals); never audit, report or cli.
Documented in ``docs/risk.md``.
"""

from __future__ import annotations

from weightwarden.risk.assess import (
    Confidence,
    DomainAssessment,
    EvidenceUse,
    GateResult,
    ReleaseDecision,
    RiskAssessment,
    assess,
    decide,
)
from weightwarden.risk.crosswalk import Crosswalk, load_crosswalk
from weightwarden.risk.evidence import (
    CapabilityEvidence,
    IntegrityEvidence,
    MitigationEvidence,
    from_analysis,
    from_eval_log,
    from_file,
    from_findings,
    from_inspect_log,
)
from weightwarden.risk.policy import BUILTIN_POLICIES, Decision, Policy, ReleaseMode, load_policy
from weightwarden.risk.rules import CATALOGUE, findings_of
from weightwarden.risk.taxonomy import DOMAIN_IDS, DOMAINS, LADDER, Level

__all__ = [
    "BUILTIN_POLICIES", "CATALOGUE", "CapabilityEvidence", "Confidence", "Crosswalk", "DOMAINS", "DOMAIN_IDS",
    "Decision", "DomainAssessment", "EvidenceUse", "GateResult", "IntegrityEvidence", "LADDER", "Level",
    "MitigationEvidence", "Policy", "ReleaseDecision", "ReleaseMode", "RiskAssessment", "assess", "decide",
    "findings_of", "from_analysis", "from_eval_log", "from_file", "from_findings", "from_inspect_log",
    "load_crosswalk", "load_policy",
]
