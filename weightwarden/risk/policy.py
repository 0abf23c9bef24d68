"""Release policies as versioned data: which evidence counts, thresholds with provenance, composable gates.

A policy is a TOML file (``schema = "weightwarden.risk-policy/v1"``; format in ``docs/risk.md``). Built-in
policies live in ``weightwarden/risk/data/policies/`` and are named by their file stem
(:data:`BUILTIN_POLICIES`); any other value of ``load_policy`` is a path. Nothing here hard-codes a number:
every threshold comes from the file and carries its provenance.

- ``[[thresholds]]``: for a domain, evidence from benchmarks matching a glob, a metric and the value at
  which a level is reached. ``kind = "capability"`` thresholds always count; ``kind = "mitigation"``
  thresholds (misuse / refusal results, where a higher rate is worse) count only for ``release_mode =
  "api"``: for open weights, refusal training is removed by a cheap fine-tune, so it is no safeguard.
- ``[[mitigations]]``: what an API release must show to call a domain mitigated (a rate at most a value).
- ``[[gates]]``: named conditions with the decision they give when they fail (``staged`` or ``withhold``);
  conditions compose with ``all_of`` / ``any_of`` (the shape of sigstore-python's verification policies)
  over leaves ``max_level``, ``assessed``, ``has_evidence`` and ``release_mode``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from weightwarden.core.errors import ConfigError
from weightwarden.risk._toml import DataFile, Fields, read_package_toml, read_toml
from weightwarden.risk.taxonomy import DOMAIN_IDS, DOMAINS, EvidenceKind, Level, domain, level

POLICY_SCHEMA = "weightwarden.risk-policy/v1"
BUILTIN_POLICIES = ("default", "frontier-safety-framework-like", "tc260-gbt45654-like")
DEFAULT_POLICY = "default"


class ReleaseMode(StrEnum):
    OPEN_WEIGHTS = "open-weights"
    API = "api"


def release_mode(value: str) -> ReleaseMode:
    try:
        return ReleaseMode(value)
    except ValueError:
        raise ConfigError(f"unknown release mode {value!r}; use open-weights or api") from None


class Decision(StrEnum):
    OPEN = "open"
    STAGED = "staged"
    WITHHOLD = "withhold"

    @property
    def rank(self) -> int:
        return {"open": 0, "staged": 1, "withhold": 2}[self.value]


class LevelRule(StrEnum):
    """Which end of an evidence interval decides whether a threshold is reached."""

    UPPER = "upper"  # precautionary: reached unless the interval rules it out (default)
    POINT = "point"  # the point estimate
    LOWER = "lower"  # reached only when the interval rules it in


@dataclass(frozen=True, slots=True)
class Threshold:
    domain: str
    kind: EvidenceKind  # capability or mitigation
    benchmark: str  # glob over suite / task ids ("cybermetric-*", "wmdp_bio")
    metric: str
    level: Level
    at_least: float
    provenance: str

    def matches(self, benchmark: str, metric: str) -> bool:
        return metric == self.metric and fnmatch.fnmatchcase(benchmark.lower(), self.benchmark.lower())

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "kind": self.kind.value, "benchmark": self.benchmark, "metric": self.metric,
                "level": self.level.value, "at_least": self.at_least, "provenance": self.provenance}


@dataclass(frozen=True, slots=True)
class MitigationRequirement:
    domain: str
    benchmark: str
    metric: str
    at_most: float
    provenance: str

    def matches(self, benchmark: str, metric: str) -> bool:
        return metric == self.metric and fnmatch.fnmatchcase(benchmark.lower(), self.benchmark.lower())

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "benchmark": self.benchmark, "metric": self.metric, "at_most": self.at_most,
                "provenance": self.provenance}


@dataclass(frozen=True, slots=True)
class EvidenceRules:
    confidence: float  # level of the intervals evidence must carry
    min_n: int  # fewer scored items than this: the evidence is insufficient, not counted
    max_no_answer_rate: float  # more unreadable answers than this: elicitation failed, not counted
    level_rule: LevelRule

    def to_dict(self) -> dict[str, Any]:
        return {"confidence": self.confidence, "min_n": self.min_n, "max_no_answer_rate": self.max_no_answer_rate,
                "level_rule": self.level_rule.value}


@dataclass(frozen=True, slots=True)
class IntegrityRules:
    """Supply-chain level from the worst unsuppressed finding of scan / verify / lineage."""

    severity_levels: tuple[tuple[str, Level], ...]
    provenance: str

    def level_of(self, severity: str) -> Level:
        return dict(self.severity_levels)[severity]

    def to_dict(self) -> dict[str, Any]:
        return {"severity_levels": {s: lv.value for s, lv in self.severity_levels}, "provenance": self.provenance}


# ------------------------------------------------------------------------------------------ gate conditions

@dataclass(frozen=True, slots=True)
class Condition:
    """One node of a gate's condition tree. ``op`` is ``all_of`` / ``any_of`` (with ``children``) or a leaf:

    - ``max_level``: every domain in ``domains`` is at most ``level``; a domain above it passes when
      ``unless_mitigated`` and it is mitigated (API releases only); a domain not assessed passes or fails
      as ``if_not_assessed`` says (default fail: not assessed is never read as safe);
    - ``assessed``: every domain in ``domains`` has a level;
    - ``has_evidence``: some counted evidence of each domain comes from a benchmark matching ``benchmark``;
    - ``release_mode``: the assessment is for ``mode``.
    """

    op: str
    children: tuple[Condition, ...] = ()
    domains: tuple[str, ...] = ()
    level: Level | None = None
    if_not_assessed: str = "fail"
    unless_mitigated: bool = False
    benchmark: str = ""
    mode: ReleaseMode | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.op in ("all_of", "any_of"):
            return {self.op: [c.to_dict() for c in self.children]}
        data: dict[str, Any] = {"op": self.op}
        if self.domains:
            data["domains"] = list(self.domains)
        if self.op == "max_level":
            data.update(level=self.level.value if self.level else None, if_not_assessed=self.if_not_assessed,
                        unless_mitigated=self.unless_mitigated)
        if self.op == "has_evidence":
            data["benchmark"] = self.benchmark
        if self.op == "release_mode":
            data["mode"] = self.mode.value if self.mode else None
        return data


@dataclass(frozen=True, slots=True)
class Gate:
    id: str
    title: str
    on_fail: Decision
    condition: Condition

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "on_fail": self.on_fail.value,
                "condition": self.condition.to_dict()}


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    version: str
    title: str
    description: str
    release_mode: ReleaseMode  # the default; a caller may assess for the other mode
    evidence: EvidenceRules
    thresholds: tuple[Threshold, ...]
    mitigations: tuple[MitigationRequirement, ...]
    integrity: IntegrityRules
    gates: tuple[Gate, ...]
    source: str = ""  # "built-in:default.toml" or the path
    digest: str = ""  # sha256 of the policy file's bytes
    mirrors: str = ""  # the published framework this policy follows, if any
    benchmark_domains: tuple[tuple[str, str], ...] = field(default=())  # extra glob -> domain mappings

    def thresholds_for(self, domain_id: str) -> tuple[Threshold, ...]:
        return tuple(t for t in self.thresholds if t.domain == domain_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": POLICY_SCHEMA, "id": self.id, "version": self.version, "title": self.title,
            "description": self.description, "release_mode": self.release_mode.value, "mirrors": self.mirrors,
            "source": self.source, "digest": self.digest, "evidence": self.evidence.to_dict(),
            "thresholds": [t.to_dict() for t in self.thresholds],
            "mitigations": [m.to_dict() for m in self.mitigations], "integrity": self.integrity.to_dict(),
            "gates": [g.to_dict() for g in self.gates],
            "benchmark_domains": dict(self.benchmark_domains),
        }


# ------------------------------------------------------------------------------------------------ loading

def load_policy(name_or_path: str | Path = DEFAULT_POLICY) -> Policy:
    """A built-in policy by name (:data:`BUILTIN_POLICIES`) or a policy file by path. A malformed policy is
    a :class:`ConfigError` naming the file, the place and the reason."""
    name = str(name_or_path)
    if name in BUILTIN_POLICIES:
        return parse_policy(read_package_toml("policies", f"{name}.toml"))
    path = Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name}: neither a built-in policy ({', '.join(BUILTIN_POLICIES)}) nor a policy file")
    return parse_policy(read_toml(path))


def parse_policy(file: DataFile) -> Policy:
    where = file.label
    top = Fields(file.data, where)
    if (schema := top.text("schema")) != POLICY_SCHEMA:
        raise ConfigError(f"{where}: schema {schema!r} is not {POLICY_SCHEMA}")
    ev = Fields(top.table("evidence"), f"{where}: evidence")
    evidence = EvidenceRules(confidence=ev.number("confidence"), min_n=ev.integer("min_n"),
                             max_no_answer_rate=ev.number("max_no_answer_rate"),
                             level_rule=_enum(LevelRule, ev.text("level_rule", "upper"), f"{where}: evidence"))
    ev.done()
    if not 0.5 <= evidence.confidence < 1 or evidence.min_n < 1 or not 0 <= evidence.max_no_answer_rate <= 1:
        raise ConfigError(f"{where}: evidence: need 0.5 <= confidence < 1, min_n >= 1, 0 <= max_no_answer_rate <= 1")
    thresholds = tuple(_threshold(t, f"{where}: thresholds[{i}]") for i, t in enumerate(top.tables("thresholds")))
    _check_monotonic(thresholds, where)
    mitigations = tuple(_mitigation(t, f"{where}: mitigations[{i}]")
                        for i, t in enumerate(top.tables("mitigations", required=False)))
    integrity = _integrity(top.table("integrity"), f"{where}: integrity")
    gates = tuple(_gate(t, f"{where}: gates[{i}]") for i, t in enumerate(top.tables("gates")))
    if not gates:
        raise ConfigError(f"{where}: a policy needs at least one gate")
    if len({g.id for g in gates}) != len(gates):
        raise ConfigError(f"{where}: two gates share an id")
    extra = Fields(top.table("benchmark_domains", required=False), f"{where}: benchmark_domains")
    benchmark_domains = tuple((glob, extra.text(glob)) for glob in sorted(extra.values))
    for glob, domain_id in benchmark_domains:
        _domain(domain_id, f"{where}: benchmark_domains.{glob}")
    policy = Policy(
        id=top.text("id"), version=top.text("version"), title=top.text("title"),
        description=top.text("description", ""),
        release_mode=_enum(ReleaseMode, top.text("release_mode"), where), evidence=evidence,
        thresholds=thresholds, mitigations=mitigations, integrity=integrity, gates=gates, source=file.label,
        digest=file.digest, mirrors=top.text("mirrors", ""), benchmark_domains=benchmark_domains,
    )
    top.done()
    return policy


def _enum(kind: type[StrEnum], value: str, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)  # type: ignore[attr-defined]
        raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _domain(domain_id: str, where: str) -> str:
    try:
        return domain(domain_id).id
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.reason}") from None


def _level(name: str, where: str) -> Level:
    try:
        return level(name)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.reason}") from None


def _threshold(table: object, where: str) -> Threshold:
    f = Fields(table, where)
    threshold = Threshold(
        domain=_domain(f.text("domain"), where), kind=_enum(EvidenceKind, f.text("kind"), where),
        benchmark=f.text("benchmark"), metric=f.text("metric"), level=_level(f.text("level"), where),
        at_least=f.number("at_least"), provenance=f.text("provenance"),
    )
    f.done()
    if threshold.kind is EvidenceKind.INTEGRITY:
        raise ConfigError(f"{where}: integrity levels come from [integrity], not thresholds")
    if threshold.level is Level.L0:
        raise ConfigError(f"{where}: L0 is what no threshold reached; a threshold names L1, L2 or L3")
    if not threshold.provenance.strip():
        raise ConfigError(f"{where}: empty provenance (say where the value comes from, or that it is an assumption)")
    if not -1 <= threshold.at_least <= 1:
        raise ConfigError(f"{where}: at_least {threshold.at_least} is outside [-1, 1]")
    return threshold


def _check_monotonic(thresholds: tuple[Threshold, ...], where: str) -> None:
    """For one (domain, benchmark, metric), a higher level needs a value at least as high."""
    groups: dict[tuple[str, str, str], list[Threshold]] = {}
    for t in thresholds:
        groups.setdefault((t.domain, t.benchmark, t.metric), []).append(t)
    for (domain_id, benchmark, metric), group in groups.items():
        ordered = sorted(group, key=lambda t: t.level.rank)
        levels = [t.level for t in ordered]
        if len(set(levels)) != len(levels):
            raise ConfigError(f"{where}: two thresholds for {domain_id} {benchmark} {metric} at one level")
        for low, high in zip(ordered, ordered[1:], strict=False):
            if high.at_least < low.at_least:
                raise ConfigError(f"{where}: {domain_id} {benchmark} {metric}: {high.level.value} at "
                                  f"{high.at_least} is below {low.level.value} at {low.at_least}")


def _mitigation(table: object, where: str) -> MitigationRequirement:
    f = Fields(table, where)
    req = MitigationRequirement(domain=_domain(f.text("domain"), where), benchmark=f.text("benchmark"),
                                metric=f.text("metric"), at_most=f.number("at_most"), provenance=f.text("provenance"))
    f.done()
    if not req.provenance.strip():
        raise ConfigError(f"{where}: empty provenance")
    if not 0 <= req.at_most <= 1:
        raise ConfigError(f"{where}: at_most {req.at_most} is outside [0, 1]")
    return req


SEVERITIES = ("critical", "high", "medium", "low", "info")


def _integrity(table: object, where: str) -> IntegrityRules:
    f = Fields(table, where)
    levels = Fields(f.table("severity_levels"), f"{where}: severity_levels")
    mapping = tuple((s, _level(levels.text(s), f"{where}: severity_levels")) for s in SEVERITIES)
    levels.done()
    rules = IntegrityRules(severity_levels=mapping, provenance=f.text("provenance"))
    f.done()
    ranks = [lv.rank for _, lv in mapping]
    if ranks != sorted(ranks, reverse=True):
        raise ConfigError(f"{where}: a more severe finding must not give a lower level")
    return rules


def _gate(table: object, where: str) -> Gate:
    f = Fields(table, where)
    gate = Gate(id=f.text("id"), title=f.text("title"), on_fail=_enum(Decision, f.text("on_fail"), where),
                condition=_condition(f.table("condition"), f"{where}: condition", depth=0))
    f.done()
    if gate.on_fail is Decision.OPEN:
        raise ConfigError(f"{where}: on_fail must be staged or withhold (a failed gate cannot open a release)")
    return gate


MAX_CONDITION_DEPTH = 8
_LEAVES = ("max_level", "assessed", "has_evidence", "release_mode")


def _condition(table: object, where: str, depth: int) -> Condition:
    if depth > MAX_CONDITION_DEPTH:
        raise ConfigError(f"{where}: conditions nested deeper than {MAX_CONDITION_DEPTH}")
    f = Fields(table, where)
    ops = [op for op in ("all_of", "any_of", *_LEAVES) if op in f.values]
    if len(ops) != 1:
        raise ConfigError(f"{where}: a condition needs exactly one of {', '.join(('all_of', 'any_of', *_LEAVES))}"
                          f"{' (found ' + ', '.join(ops) + ')' if ops else ''}")
    op = ops[0]
    if op in ("all_of", "any_of"):
        items = f.tables(op)
        if not items:
            raise ConfigError(f"{where}: {op} is empty")
        children = tuple(_condition(c, f"{where}.{op}[{i}]", depth + 1) for i, c in enumerate(items))
        f.done()
        return Condition(op, children=children)
    if op == "release_mode":
        cond = Condition(op, mode=_enum(ReleaseMode, f.text("release_mode"), where))
        f.done()
        return cond
    domains = _expand_domains(f.texts("domains"), where)
    if op == "max_level":
        cond = Condition(op, domains=domains, level=_level(f.text("max_level"), where),
                         if_not_assessed=f.text("if_not_assessed", "fail"),
                         unless_mitigated=f.flag("unless_mitigated", False))
        if cond.if_not_assessed not in ("pass", "fail"):
            raise ConfigError(f"{where}: if_not_assessed must be pass or fail")
    elif op == "assessed":
        if f.flag("assessed") is not True:
            raise ConfigError(f"{where}: write assessed = true")
        cond = Condition(op, domains=domains)
    else:
        cond = Condition(op, domains=domains, benchmark=f.text("has_evidence"))
    f.done()
    return cond


def _expand_domains(names: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Domain ids; ``*`` is every domain, ``*capability`` every domain whose tier rests on capability."""
    if not names:
        raise ConfigError(f"{where}: 'domains' is empty")
    out: list[str] = []
    for name in names:
        if name == "*":
            out += DOMAIN_IDS
        elif name == "*capability":
            out += [d.id for d in DOMAINS if d.tier_basis is EvidenceKind.CAPABILITY]
        else:
            out.append(_domain(name, where))
    return tuple(dict.fromkeys(out))
