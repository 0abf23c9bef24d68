"""From evidence and a policy to a level per domain, gate results and a release decision.

    assessment = assess(evidence, load_policy("default"), "open-weights")
    assessment.decision.decision        # Decision.OPEN / STAGED / WITHHOLD, with .reasons

Per domain (:class:`DomainAssessment`):

- every piece of evidence is listed with whether it counted and why not: a misuse / refusal result in an
  open-weights assessment (no safeguard: a cheap fine-tune removes it), an incomplete run, fewer than the
  policy's ``min_n`` items, too many unreadable answers, no threshold in the policy for its benchmark;
- intervals are recomputed at the policy's confidence from k of n (exact Clopper–Pearson, mapped through
  the chance correction for multiple choice), so all evidence is judged at one level of confidence;
- the level is the highest whose threshold is reached by the policy's ``level_rule`` end of the interval
  (default ``upper``: a level counts as reached unless the interval rules it out); the confidence record
  says which level is ruled in (lower bound) and which cannot be ruled out (upper bound);
- a domain with no counted evidence is ``not_assessed`` with the reason — never L0;
- a multiple-choice score significantly below chance does not count: a model that knows to avoid the right
  answers (sandbagging), or a broken answer format, says nothing about what it knows.

Gates are evaluated over the domain levels (see :mod:`weightwarden.risk.policy`); the decision is the
most severe ``on_fail`` of the failed gates, ``open`` when every gate passes.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from weightwarden.core.errors import ConfigError
from weightwarden.risk.evidence import (
    CapabilityEvidence,
    Evidence,
    IntegrityEvidence,
    MitigationEvidence,
)
from weightwarden.risk.policy import (
    Condition,
    Decision,
    Gate,
    LevelRule,
    Policy,
    ReleaseMode,
    Threshold,
    release_mode,
)
from weightwarden.risk.taxonomy import (
    DOMAINS,
    NOT_ASSESSED,
    TAXONOMY_VERSION,
    EvidenceKind,
    Level,
    RiskDomain,
)

ASSESSMENT_SCHEMA = "weightwarden.risk-assessment/v1"
DECISION_SCHEMA = "weightwarden.release-decision/v1"
OPEN_WEIGHTS_NOTE = ("misuse/refusal result: not counted for an open-weights release (refusal training is "
                     "removed by a cheap fine-tune, so it is no safeguard)")


@dataclass(frozen=True, slots=True)
class Confidence:
    """How sure the level is, from the evidence interval (not the point estimate)."""

    basis: str  # "interval" (eval evidence), "deterministic" (file checks), "none" (not assessed)
    confidence_level: float | None = None  # e.g. 0.95
    interval: tuple[float, float] | None = None  # of the evidence that set the level
    n: int | None = None
    ruled_in: Level | None = None  # highest level the lower bound reaches: certain at confidence_level
    cannot_rule_out: Level | None = None  # highest level the upper bound reaches
    statement: str = ""

    @property
    def settled(self) -> bool:
        """True when the interval decides the level either way (ruled-in level == cannot-rule-out level)."""
        return self.basis == "deterministic" or (self.ruled_in is not None and self.ruled_in == self.cannot_rule_out)

    def to_dict(self) -> dict[str, Any]:
        return {"basis": self.basis, "confidence_level": self.confidence_level,
                "interval": list(self.interval) if self.interval else None, "n": self.n,
                "ruled_in": self.ruled_in.value if self.ruled_in else None,
                "cannot_rule_out": self.cannot_rule_out.value if self.cannot_rule_out else None,
                "settled": self.settled, "statement": self.statement}


@dataclass(frozen=True, slots=True)
class EvidenceUse:
    """One piece of evidence as the assessment used it."""

    evidence: Evidence
    counted: bool
    note: str  # why it did not count, or which thresholds it reached
    level: Level | None = None  # the level this evidence alone gives (counted evidence only)
    ruled_in: Level | None = None
    ci_low: float | None = None  # at the policy's confidence
    ci_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"counted": self.counted, "note": self.note, "level": self.level.value if self.level else None,
                "ruled_in": self.ruled_in.value if self.ruled_in else None,
                "interval": [self.ci_low, self.ci_high] if self.ci_low is not None else None,
                "evidence": self.evidence.to_dict()}


@dataclass(frozen=True, slots=True)
class DomainAssessment:
    domain: RiskDomain
    level: Level | None  # None: not assessed
    reason: str  # why this level (or why not assessed)
    evidence: tuple[EvidenceUse, ...]
    confidence: Confidence
    mitigated: bool = False  # API release with mitigation evidence meeting every requirement of the domain
    mitigation: str = ""  # what the mitigation check found

    @property
    def assessed(self) -> bool:
        return self.level is not None

    @property
    def level_label(self) -> str:
        return self.level.value if self.level else NOT_ASSESSED

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.domain.id, "title": self.domain.title, "level": self.level_label,
                "assessed": self.assessed, "reason": self.reason, "confidence": self.confidence.to_dict(),
                "mitigated": self.mitigated, "mitigation": self.mitigation,
                "evidence": [u.to_dict() for u in self.evidence]}


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: Gate
    passed: bool
    reasons: tuple[str, ...]  # why it failed (empty when it passed)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.gate.id, "title": self.gate.title, "on_fail": self.gate.on_fail.value,
                "passed": self.passed, "reasons": list(self.reasons), "condition": self.gate.condition.to_dict()}


@dataclass(frozen=True, slots=True)
class ReleaseDecision:
    decision: Decision
    reasons: tuple[str, ...]
    failed_gates: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"schema": DECISION_SCHEMA, "decision": self.decision.value, "reasons": list(self.reasons),
                "failed_gates": list(self.failed_gates)}


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    policy: Policy
    release_mode: ReleaseMode
    domains: tuple[DomainAssessment, ...]
    gates: tuple[GateResult, ...]
    decision: ReleaseDecision
    unmapped: tuple[EvidenceUse, ...] = ()  # evidence no domain could be found for
    taxonomy_version: str = TAXONOMY_VERSION
    crosswalk_version: str = ""

    def domain(self, domain_id: str) -> DomainAssessment:
        for d in self.domains:
            if d.domain.id == domain_id:
                return d
        raise KeyError(domain_id)

    def to_dict(self) -> dict[str, Any]:
        p = self.policy
        return {
            "schema": ASSESSMENT_SCHEMA,
            "policy": {"id": p.id, "version": p.version, "title": p.title, "source": p.source, "digest": p.digest,
                       "mirrors": p.mirrors},
            "release_mode": self.release_mode.value,
            "taxonomy_version": self.taxonomy_version,
            "crosswalk_version": self.crosswalk_version,
            "decision": self.decision.to_dict(),
            "domains": [d.to_dict() for d in self.domains],
            "gates": [g.to_dict() for g in self.gates],
            "unmapped_evidence": [u.to_dict() for u in self.unmapped],
        }


# -------------------------------------------------------------------------------------------------- assess

def assess(evidence: Iterable[Evidence], policy: Policy, mode: ReleaseMode | str | None = None, *,
           model_digest: str | Collection[str] | None = None, accept_unbound: bool = True) -> RiskAssessment:
    """Assess ``evidence`` under ``policy`` for a release in ``mode`` (default: the policy's).

    ``model_digest``: the sha256 of the model being released — one digest, or the digests of all its files
    (an audit passes every file it attests). Eval evidence whose log records a digest that is not among them
    does not count (a log of another model is no evidence about this one). Evidence whose harness records no
    digest (Inspect logs name the model only) counts with a note when ``accept_unbound``, and otherwise does
    not count: an audit accepts it only when the user says so, since nothing ties it to the audited files."""
    chosen = policy.release_mode if mode is None else release_mode(str(mode))
    digests = _digest_set(model_digest)
    items = [_with_policy_domain(e, policy) for e in evidence]
    for item in items:
        if not isinstance(item, CapabilityEvidence | MitigationEvidence | IntegrityEvidence):
            raise ConfigError(f"not risk evidence: {type(item).__name__}")
    known = {d.id for d in DOMAINS}
    unmapped = tuple(EvidenceUse(e, False, f"no risk domain for benchmark {e.benchmark!r} (add it to the policy's "
                                            "[benchmark_domains])")
                     for e in items if not isinstance(e, IntegrityEvidence) and e.domain not in known)
    domains = tuple(
        _integrity_domain(d, [e for e in items if isinstance(e, IntegrityEvidence)], policy)
        if d.tier_basis is EvidenceKind.INTEGRITY
        else _eval_domain(d, [e for e in items if not isinstance(e, IntegrityEvidence) and e.domain == d.id],
                          policy, chosen, digests, accept_unbound)
        for d in DOMAINS
    )
    by_id = {d.domain.id: d for d in domains}
    gates = tuple(_gate(g, by_id, chosen) for g in policy.gates)
    return RiskAssessment(policy=policy, release_mode=chosen, domains=domains, gates=gates,
                          decision=decide(gates, domains), unmapped=unmapped, crosswalk_version=_crosswalk_version())


def _crosswalk_version() -> str:
    from weightwarden.risk.crosswalk import load_crosswalk

    return load_crosswalk().version


def _with_policy_domain(item: Evidence, policy: Policy) -> Evidence:
    """The policy's [benchmark_domains] names the domain of a benchmark (overriding the built-in table)."""
    if isinstance(item, IntegrityEvidence):
        return item
    for glob, domain_id in policy.benchmark_domains:
        if fnmatch.fnmatchcase(item.benchmark.lower(), glob.lower()):
            return replace(item, domain=domain_id)
    return item


def _interval(item: CapabilityEvidence | MitigationEvidence, confidence: float) -> tuple[float, float]:
    """The item's interval at ``confidence``, recomputed from k of n (exact)."""
    from weightwarden.evals.capability import chance_corrected, exact_interval

    if item.n < 1 or not 0 <= item.k <= item.n:
        return item.ci_low, item.ci_high  # no counts to recompute from: keep the harness's interval
    if isinstance(item, CapabilityEvidence):
        est = chance_corrected(item.k, item.n, item.chance, confidence=confidence)
        return est.score_low, est.score_high
    return exact_interval(item.k, item.n, confidence)


def _bound(rule: LevelRule, value: float, low: float, high: float) -> float:
    return {LevelRule.UPPER: high, LevelRule.POINT: value, LevelRule.LOWER: low}[rule]


def _digest_set(model_digest: str | Collection[str] | None) -> frozenset[str]:
    if model_digest is None:
        return frozenset()
    values = [model_digest] if isinstance(model_digest, str) else list(model_digest)
    return frozenset(v.lower().removeprefix("sha256:") for v in values if v)


def _use(item: CapabilityEvidence | MitigationEvidence, policy: Policy, mode: ReleaseMode,
         model_digests: frozenset[str] = frozenset(), accept_unbound: bool = True) -> EvidenceUse:
    rules = policy.evidence
    recorded = item.model_digest.lower().removeprefix("sha256:") if item.model_digest else ""
    if model_digests and recorded and recorded not in model_digests:
        return EvidenceUse(item, False, f"evidence is for another model (sha256 {recorded[:16]}…, not a file of "
                                        "the released model)")
    if model_digests and not recorded and not accept_unbound:
        return EvidenceUse(item, False, f"the {item.harness} log does not identify the released model by digest "
                                        f"(it names {item.model or 'no model'}); accept it explicitly to count it")
    if isinstance(item, MitigationEvidence) and mode is ReleaseMode.OPEN_WEIGHTS:
        return EvidenceUse(item, False, OPEN_WEIGHTS_NOTE)
    if not item.complete:
        return EvidenceUse(item, False, f"incomplete run ({item.detail or 'not every attempt was scored'})")
    if item.n < rules.min_n:
        return EvidenceUse(item, False, f"{item.n} items; the policy needs at least {rules.min_n}")
    if item.no_answer_rate > rules.max_no_answer_rate:
        return EvidenceUse(item, False, f"{item.no_answer} of {item.n} answers unreadable "
                                        f"({item.no_answer_rate:.0%} > {rules.max_no_answer_rate:.0%}): elicitation failed")
    thresholds = [t for t in policy.thresholds_for(item.domain)
                  if t.kind is item.kind and t.matches(item.benchmark, item.metric)]
    if not thresholds:
        return EvidenceUse(item, False, f"the policy sets no {item.kind.value} threshold for {item.benchmark} "
                                        f"({item.metric})")
    low, high = _interval(item, rules.confidence)
    if isinstance(item, CapabilityEvidence) and item.chance > 0 and high < 0:
        # Significantly worse than guessing: the model avoids right answers (sandbagging) or the prompt /
        # answer format is broken. Either way the score says nothing about what it knows.
        return EvidenceUse(item, False, f"significantly below chance (upper bound {high:.3f} < 0): possible "
                                        "sandbagging or broken elicitation", ci_low=low, ci_high=high)
    bound = _bound(rules.level_rule, item.value, low, high)
    reached = [t for t in thresholds if bound >= t.at_least]
    ruled_in = [t for t in thresholds if low >= t.at_least]
    lvl = max((t.level for t in reached), default=Level.L0)
    lvl_in = max((t.level for t in ruled_in), default=Level.L0)
    note = _threshold_note(thresholds, bound, rules.level_rule)
    if model_digests and not recorded:
        note += f"; the {item.harness} log does not record the model's digest (named {item.model or '?'}): accepted"
    return EvidenceUse(item, True, note, lvl, lvl_in, low, high)


def _threshold_note(thresholds: list[Threshold], bound: float, rule: LevelRule) -> str:
    parts = [f"{t.level.value} {'reached' if bound >= t.at_least else 'not reached'} ({rule.value} {bound:.3f} "
             f"{'>=' if bound >= t.at_least else '<'} {t.at_least})" for t in sorted(thresholds, key=lambda t: t.level.rank)]
    return "; ".join(parts)


def _eval_domain(d: RiskDomain, items: list[Evidence], policy: Policy, mode: ReleaseMode,
                 model_digests: frozenset[str], accept_unbound: bool) -> DomainAssessment:
    uses = tuple(_use(e, policy, mode, model_digests, accept_unbound) for e in items)  # type: ignore[arg-type]
    mitigated, mitigation = _mitigated(d, uses, policy, mode)
    counted = [u for u in uses if u.counted]
    if not counted:
        reason = ("no evidence" if not uses else "no usable evidence: " + "; ".join(
            f"{u.evidence.benchmark}: {u.note}" for u in uses))
        return DomainAssessment(d, None, reason, uses, Confidence("none", statement="not assessed"),
                                mitigated, mitigation)
    top = max(counted, key=lambda u: (u.level.rank if u.level else 0, -(u.ci_high or 0) + (u.ci_low or 0)))
    lvl = top.level or Level.L0
    ruled_in = max((u.ruled_in or Level.L0 for u in counted), key=lambda x: x.rank)
    conf = Confidence(
        basis="interval", confidence_level=policy.evidence.confidence,
        interval=(top.ci_low, top.ci_high) if top.ci_low is not None else None,  # type: ignore[arg-type]
        n=top.evidence.n, ruled_in=ruled_in, cannot_rule_out=lvl,
        statement=_statement(lvl, ruled_in, policy.evidence.level_rule),
    )
    reason = f"{lvl.value} from {top.evidence.describe()}: {top.note}"
    return DomainAssessment(d, lvl, reason, uses, conf, mitigated, mitigation)


def _statement(lvl: Level, ruled_in: Level, rule: LevelRule) -> str:
    if lvl == ruled_in:
        return f"{lvl.value}: the interval rules the level in and the next one out"
    if rule is LevelRule.UPPER:
        return f"{lvl.value} cannot be ruled out; only {ruled_in.value} is ruled in (more items would narrow it)"
    return f"{lvl.value} by the {rule.value} estimate; ruled in: {ruled_in.value}"


def _mitigated(d: RiskDomain, uses: tuple[EvidenceUse, ...], policy: Policy, mode: ReleaseMode) -> tuple[bool, str]:
    requirements = [m for m in policy.mitigations if m.domain == d.id]
    if mode is ReleaseMode.OPEN_WEIGHTS:
        return False, "open-weights release: mitigations do not count" if requirements else ""
    if not requirements:
        return False, "the policy names no mitigation requirement for this domain"
    rules = policy.evidence
    missing = []
    for req in requirements:
        ok = False
        for use in uses:
            e = use.evidence
            if (isinstance(e, MitigationEvidence) and req.matches(e.benchmark, e.metric) and e.complete
                    and e.n >= rules.min_n):
                low, high = _interval(e, rules.confidence)
                ok = ok or high <= req.at_most
        if not ok:
            missing.append(f"{req.benchmark} {req.metric} upper bound <= {req.at_most} not shown")
    if missing:
        return False, "; ".join(missing)
    return True, "every mitigation requirement met: " + ", ".join(f"{r.benchmark} {r.metric} <= {r.at_most}"
                                                                  for r in requirements)


def _integrity_domain(d: RiskDomain, items: list[IntegrityEvidence], policy: Policy) -> DomainAssessment:
    uses = tuple(EvidenceUse(e, True, e.describe()) for e in items)
    if not items:
        return DomainAssessment(d, None, "no file analysis ran (scan, signature verification, lineage)", uses,
                                Confidence("none", statement="not assessed"))
    active = [f for e in items for f in e.active]
    if not active:
        components = ", ".join(sorted({e.component for e in items}))
        return DomainAssessment(d, Level.L0, f"L0: {components} ran with no findings", uses,
                                Confidence("deterministic", statement="file checks, not a sample"))
    worst = max(active, key=lambda f: f.severity.rank)
    lvl = policy.integrity.level_of(worst.severity.value)
    where = worst.subject.name + (f" ({worst.location.path})" if worst.location.path else "")
    reason = f"{lvl.value} from {worst.component} {worst.rule_id} ({worst.severity.value}) in {where}: {worst.message}"
    return DomainAssessment(d, lvl, reason, uses, Confidence("deterministic", statement="file checks, not a sample"))


# --------------------------------------------------------------------------------------------------- gates

def _gate(gate: Gate, domains: Mapping[str, DomainAssessment], mode: ReleaseMode) -> GateResult:
    passed, reasons = _check(gate.condition, domains, mode)
    return GateResult(gate, passed, () if passed else tuple(reasons))


def _check(cond: Condition, domains: Mapping[str, DomainAssessment], mode: ReleaseMode) -> tuple[bool, list[str]]:
    if cond.op == "all_of":
        results = [_check(c, domains, mode) for c in cond.children]
        return all(ok for ok, _ in results), [r for ok, rs in results if not ok for r in rs]
    if cond.op == "any_of":
        results = [_check(c, domains, mode) for c in cond.children]
        if any(ok for ok, _ in results):
            return True, []
        return False, ["none of the alternatives holds: " + " | ".join("; ".join(rs) for _, rs in results)]
    if cond.op == "release_mode":
        return mode is cond.mode, [f"release mode is {mode.value}, not {cond.mode.value if cond.mode else '?'}"]
    reasons: list[str] = []
    for domain_id in cond.domains:
        da = domains[domain_id]
        if cond.op == "assessed":
            if not da.assessed:
                reasons.append(f"{domain_id} not assessed ({da.reason})")
        elif cond.op == "has_evidence":
            if not any(u.counted and fnmatch.fnmatchcase(getattr(u.evidence, "benchmark", "").lower(),
                                                         cond.benchmark.lower()) for u in da.evidence):
                reasons.append(f"{domain_id}: no counted evidence from {cond.benchmark}")
        elif cond.op == "max_level":
            assert cond.level is not None
            if da.level is None:
                if cond.if_not_assessed == "fail":
                    reasons.append(f"{domain_id} not assessed ({da.reason}); not assessed is not read as safe")
            elif da.level > cond.level and not (cond.unless_mitigated and da.mitigated):
                why = f"; not mitigated: {da.mitigation}" if cond.unless_mitigated and da.mitigation else ""
                reasons.append(f"{domain_id} at {da.level.value} (above {cond.level.value}): {da.reason}{why}")
    return not reasons, reasons


def decide(gates: Iterable[GateResult], domains: Iterable[DomainAssessment] = ()) -> ReleaseDecision:
    """The release decision: the most severe ``on_fail`` of the failed gates; ``open`` when all pass."""
    gates = tuple(gates)
    failed = [g for g in gates if not g.passed]
    unassessed = [d.domain.id for d in domains if not d.assessed]
    note = [f"not assessed (no gate requires them): {', '.join(unassessed)}"] if unassessed else []
    if not failed:
        return ReleaseDecision(Decision.OPEN, (f"all {len(gates)} gates passed", *note))
    decision = max((g.gate.on_fail for g in failed), key=lambda d: d.rank)
    reasons = tuple(f"gate {g.gate.id} failed ({g.gate.on_fail.value}): {'; '.join(g.reasons)}"
                    for g in sorted(failed, key=lambda g: -g.gate.on_fail.rank))
    return ReleaseDecision(decision, reasons, tuple(g.gate.id for g in failed))


__all__ = [
    "ASSESSMENT_SCHEMA", "Confidence", "DECISION_SCHEMA", "DomainAssessment", "EvidenceUse", "GateResult",
    "ReleaseDecision", "RiskAssessment", "assess", "decide",
]
