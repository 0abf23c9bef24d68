"""The risk component's rule catalogue and the findings an assessment implies.

``findings_of(assessment)`` says the assessment in the shared vocabulary of :mod:`weightwarden.core.findings`
(subject: the risk domain, or the model for gates), so reports render it beside scan, verify, lineage and
eval findings, and SARIF lists the catalogue as the ``risk`` tool component.
"""

from __future__ import annotations

from weightwarden.core.findings import Catalogue, Evidence, Finding, Rule, Severity, Subject, SubjectKind
from weightwarden.risk.assess import DomainAssessment, RiskAssessment
from weightwarden.risk.policy import Decision
from weightwarden.risk.taxonomy import Level

COMPONENT = "risk"
_FRAMEWORK_REFS = ("NIST-AI-600-1",)


def _rule(number: int, severity: Severity, title: str, description: str, remediation: str) -> Rule:
    return Rule(f"WW-RISK-{number:03d}", severity, title, description, remediation, _FRAMEWORK_REFS, COMPONENT)


L3 = _rule(1, Severity.CRITICAL, "Risk domain at L3 (gate development)",
           "The evidence cannot rule out a capability at which frameworks stop or restrict development.",
           "Do not release. Restrict access, secure the weights, and re-assess with stronger evidence.")
L2 = _rule(2, Severity.HIGH, "Risk domain at L2 (significant uplift)",
           "The evidence cannot rule out a capability at which frameworks require safeguards before deployment.",
           "Do not release the weights openly without an explicit justification; for an API release, show "
           "mitigations that hold (misuse evaluations under the policy's requirements).")
L1 = _rule(3, Severity.MEDIUM, "Risk domain at L1 (early warning)",
           "An early-warning threshold cannot be ruled out.",
           "Run stronger capability evaluations (more items, agentic tasks) before an open release; stage it.")
NOT_ASSESSED = _rule(4, Severity.MEDIUM, "Risk domain not assessed",
                     "No usable evidence for this domain: its level is unknown, not L0.",
                     "Provide capability evidence for the domain (weightwarden eval with a capability suite, or an "
                     "Inspect AI log), with at least the policy's minimum number of items.")
GATE_FAILED = _rule(5, Severity.HIGH, "Release gate failed",
                    "A gate of the release policy did not hold; the decision follows its on_fail.",
                    "Address the reasons the gate lists, then re-run the audit.")
EVIDENCE_NOT_COUNTED = _rule(6, Severity.INFO, "Evidence not counted",
                             "A piece of evidence was present but did not count (open-weights release, too few "
                             "items, incomplete run, unreadable answers, or no threshold in the policy).",
                             "See the note; fix the evaluation or the policy if the evidence should count.")

CATALOGUE = Catalogue(COMPONENT, (L3, L2, L1, NOT_ASSESSED, GATE_FAILED, EVIDENCE_NOT_COUNTED),
                      "weightwarden risk tiers and release gates")
_BY_LEVEL = {Level.L3: L3, Level.L2: L2, Level.L1: L1}


def _domain_subject(d: DomainAssessment) -> Subject:
    return Subject(SubjectKind.RISK_DOMAIN, d.domain.id)


def _domain_evidence(d: DomainAssessment) -> tuple[Evidence, ...]:
    items = [Evidence("level", d.level_label)]
    conf = d.confidence
    if conf.interval is not None:
        items.append(Evidence("interval", list(conf.interval), conf.confidence_level))
    if conf.statement:
        items.append(Evidence("text", conf.statement))
    return tuple(items)


def findings_of(assessment: RiskAssessment, *, required: frozenset[str] | None = None) -> list[Finding]:
    """Findings for every domain at L1 or above, every domain not assessed (medium when a gate needs it,
    info otherwise), every failed gate, and every piece of evidence that did not count."""
    needed = required if required is not None else _required_domains(assessment)
    out: list[Finding] = []
    for d in assessment.domains:
        subject = _domain_subject(d)
        if d.level is None:
            severity = Severity.MEDIUM if d.domain.id in needed else Severity.INFO
            out.append(NOT_ASSESSED.finding(subject, f"{d.domain.id} not assessed: {d.reason}",
                                            evidence=_domain_evidence(d), severity=severity))
        elif d.level in _BY_LEVEL:
            out.append(_BY_LEVEL[d.level].finding(subject, f"{d.domain.id} at {d.level.value}: {d.reason}",
                                                  evidence=_domain_evidence(d)))
        for use in d.evidence:
            if not use.counted:
                out.append(EVIDENCE_NOT_COUNTED.finding(
                    subject, f"{use.evidence.describe()}: {use.note}", evidence=()))
    model = Subject(SubjectKind.MODEL, "release")
    for g in assessment.gates:
        if not g.passed:
            severity = Severity.HIGH if g.gate.on_fail is Decision.WITHHOLD else Severity.MEDIUM
            out.append(GATE_FAILED.finding(
                model, f"gate {g.gate.id} ({g.gate.title}) failed → {g.gate.on_fail.value}: {'; '.join(g.reasons)}",
                evidence=(Evidence("gate", g.gate.id), Evidence("decision", g.gate.on_fail.value)),
                severity=severity))
    return out


def _required_domains(assessment: RiskAssessment) -> frozenset[str]:
    """Domains some gate needs assessed: named by an ``assessed`` leaf or a ``max_level`` that fails on
    not assessed."""
    needed: set[str] = set()

    def walk(cond) -> None:  # noqa: ANN001 - Condition; local helper
        if cond.op in ("all_of", "any_of"):
            for child in cond.children:
                walk(child)
        elif cond.op == "assessed" or (cond.op == "max_level" and cond.if_not_assessed == "fail"):
            needed.update(cond.domains)

    for gate in assessment.policy.gates:
        walk(gate.condition)
    return frozenset(needed)
