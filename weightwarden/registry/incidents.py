"""Incident records about models: OSV-shaped JSON, a lifecycle, reporting due dates, exports, lineage propagation.

An incident is an OSV record (schema 1.7, validated against the vendored official JSON schema) whose
``affected`` entries name registered models by id, release versions, file digests and weights roots, and whose
``database_specific`` carries what OSV has no field for: the risk domain, MITRE ATLAS techniques, a severity on
our own four-step scale (OSV's ``severity`` is CVSS-only), the TLP 2.0 marking, the lifecycle with its
history, the EU GPAI Code of Practice harm class and the resulting reporting due dates, the lineage policy,
and opaque indicator digests (``weightwarden.indicators``; never interpreted here).

Usage::

    inc = new_incident(summary="Backdoor trigger in layer 5", details="...", risk_domain="supply_chain.integrity",
                       severity="high", tlp="TLP:CLEAR", affected=[AffectedModel("acme/base", versions=("1.0",))])
    inc = transition(inc, IncidentState.CONFIRMED, note="reproduced")
    osv = inc.to_osv()                      # dict, valid OSV
    Incident.from_osv(osv)                  # validated round trip
    for hit in incidents_affecting(model, view, declared_lineage(view)):   # an incident on a base model
        hit.incident.id, hit.path                                           # reaches its derivatives

OSV has no ecosystem for model hubs (1.7.5 lists none), and ``package`` requires a listed ecosystem, so the
model is named in ``affected[].database_specific`` (``model_id``, ``purl``, ``weights_roots``,
``file_digests``) and the release versions in ``affected[].versions``; ids use OSV's ``x_`` prefix for a
database that OSV.dev does not aggregate (``x_WW-2026-…``). See docs/decisions.md.

Nothing here touches a database or the network; the registry store and the CLI call these functions.
"""

from __future__ import annotations

import enum
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from weightwarden.core.errors import InputError

__all__ = [
    "ATLAS_PATTERN", "EU_COP_DEADLINES", "OSV_SCHEMA_VERSION", "RISK_DOMAINS", "SCHEMA", "SEVERITIES",
    "TLP_LEVELS", "AffectedBy", "AffectedModel", "Deadline", "Derivation", "Incident", "IncidentError",
    "IncidentState", "LineageLookup", "LineagePolicy", "ModelRecord", "RegistryView", "StateChange",
    "combined_lineage", "current_records", "declared_lineage", "derivation_from_report", "incident_bytes", "incidents_affecting",
    "is_public", "load_incident", "measured_lineage", "new_incident", "split_release", "reporting_deadlines", "to_csaf", "to_openvex", "transition",
    "validate_osv",
]

SCHEMA = "weightwarden.incident/v1"
OSV_SCHEMA_VERSION = "1.7.5"
_OSV_SCHEMA_FILE = "osv-schema-1.7.5.json"
ID_PREFIX = "x_WW"

RISK_DOMAINS = (
    "cyber.offense", "cbrn.biochem", "cbrn.radnuc", "autonomy.airnd", "autonomy.replication",
    "control.misalignment", "influence.manipulation", "content.harm", "supply_chain.integrity",
)
SEVERITIES = ("low", "medium", "high", "critical")
TLP_LEVELS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
ATLAS_PATTERN = re.compile(r"^AML\.T\d{4}(\.\d{3})?$")
_ID_PATTERN = re.compile(r"^x_WW-\d{4}-[0-9a-f]{8,32}$")
_DIGEST_PATTERN = re.compile(r"^([a-z0-9]{2,16}:)?[0-9a-f]{32,128}$")
_MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95}){0,3}$")

# Bounds on hostile records (a registry accepts them from publishers; a client reads them from a registry).
MAX_RECORD_BYTES = 1024 * 1024
MAX_SUMMARY = 300
MAX_DETAILS = 64 * 1024
MAX_AFFECTED = 256
MAX_LIST = 256
MAX_INDICATORS_BYTES = 256 * 1024
MAX_DEPTH = 8
MAX_ANCESTORS = 256  # a public page asks for a model's ancestry: bound the reads a hostile family tree costs


class IncidentError(InputError):
    """An incident record or request that cannot be accepted; the reason names the record and the field."""


class IncidentState(enum.StrEnum):
    REPORTED = "reported"
    CONFIRMED = "confirmed"
    FIXED = "fixed"
    WITHDRAWN = "withdrawn"


# reported → confirmed → fixed | withdrawn; a report found to be wrong is withdrawn before confirmation too.
# fixed and withdrawn are final: a new problem in a fixed model is a new incident, not a reopened one.
ALLOWED_TRANSITIONS: Mapping[IncidentState, frozenset[IncidentState]] = {
    IncidentState.REPORTED: frozenset({IncidentState.CONFIRMED, IncidentState.WITHDRAWN}),
    IncidentState.CONFIRMED: frozenset({IncidentState.FIXED, IncidentState.WITHDRAWN}),
    IncidentState.FIXED: frozenset(),
    IncidentState.WITHDRAWN: frozenset(),
}

# EU General-Purpose AI Code of Practice (July 2025), Safety and Security chapter, Commitment 9 "Serious
# incident reporting": initial report to the AI Office within these many days of the provider becoming aware
# (follow-up and final reports are not computed here). Source: ../shared/research/risk-frameworks.md, EU GPAI
# CoP section; that note marks the figures as recalled [m] — re-check against the published Code.
EU_COP_SOURCE = "EU GPAI Code of Practice (2025), Safety & Security chapter, Commitment 9: serious incident reporting"
EU_COP_DEADLINES: Mapping[str, tuple[int, str]] = {
    "critical_infrastructure": (2, "serious and irreversible disruption of the management or operation of critical infrastructure"),
    "cybersecurity_breach": (5, "serious cybersecurity breach, including (self-)exfiltration of model weights"),
    "death": (10, "death of a person"),
    "serious_harm": (15, "serious harm to health, fundamental rights, property or the environment"),
}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _ts(when: datetime) -> str:
    if when.tzinfo is None:
        raise IncidentError("timestamps must be timezone-aware (UTC)")
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: Any, where: str) -> datetime:
    if not isinstance(text, str):
        raise IncidentError(f"{where}: expected an RFC 3339 UTC timestamp, found {type(text).__name__}")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise IncidentError(f"{where}: not an RFC 3339 timestamp: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        raise IncidentError(f"{where}: timestamp without a time zone: {text[:40]!r}")
    return parsed.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class StateChange:
    state: IncidentState
    at: datetime
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "at": _ts(self.at), "note": self.note}


@dataclass(frozen=True)
class AffectedModel:
    """One affected model line: all of it (no versions, digests or roots given), or the releases named by
    version, file digest or weights root."""

    model_id: str
    versions: tuple[str, ...] = ()
    weights_roots: tuple[str, ...] = ()
    file_digests: Mapping[str, str] = field(default_factory=dict)
    purl: str | None = None

    @property
    def whole_line(self) -> bool:
        return not (self.versions or self.weights_roots or self.file_digests)

    def to_osv(self) -> dict[str, Any]:
        specific: dict[str, Any] = {"model_id": self.model_id}
        if self.purl:
            specific["purl"] = self.purl
        if self.weights_roots:
            specific["weights_roots"] = list(self.weights_roots)
        if self.file_digests:
            specific["file_digests"] = dict(sorted(self.file_digests.items()))
        entry: dict[str, Any] = {"database_specific": specific}
        if self.versions:
            entry["versions"] = list(self.versions)
        return entry


MIN_SCORE_STEP = 1e-4  # the smallest positive lineage_policy.min_score: the log's plain-JSON float range


@dataclass(frozen=True)
class LineagePolicy:
    """How far an incident travels down lineage. ``min_score`` applies to measured derivations (the fraction
    of neurons whose matchings agree, :class:`weightwarden.lineage.derivation.LineageReport.score`);
    ``require_measured`` refuses derivations that rest only on declared bases."""

    propagate: bool = True
    min_score: float = 0.0
    require_measured: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"propagate": self.propagate, "min_score": self.min_score, "require_measured": self.require_measured}


@dataclass(frozen=True)
class Deadline:
    harm: str
    days: int
    due: datetime
    description: str
    source: str = EU_COP_SOURCE

    def to_dict(self) -> dict[str, Any]:
        return {"harm": self.harm, "days": self.days, "due": _ts(self.due), "description": self.description,
                "source": self.source}


@dataclass(frozen=True)
class Incident:
    id: str
    summary: str
    details: str
    affected: tuple[AffectedModel, ...]
    risk_domain: str
    severity: str
    tlp: str
    published: datetime
    modified: datetime
    history: tuple[StateChange, ...]
    atlas: tuple[str, ...] = ()
    harm: str | None = None
    aware_at: datetime | None = None
    aliases: tuple[str, ...] = ()
    references: tuple[tuple[str, str], ...] = ()  # (OSV reference type, url)
    indicators: tuple[Any, ...] = ()  # opaque JSON values from weightwarden.indicators
    lineage_policy: LineagePolicy = LineagePolicy()

    @property
    def state(self) -> IncidentState:
        return self.history[-1].state

    @property
    def withdrawn_at(self) -> datetime | None:
        return self.history[-1].at if self.state is IncidentState.WITHDRAWN else None

    def to_osv(self) -> dict[str, Any]:
        """The OSV JSON form (validated: an invalid record cannot leave this module)."""
        record: dict[str, Any] = {
            "schema_version": OSV_SCHEMA_VERSION,
            "id": self.id,
            "modified": _ts(self.modified),
            "published": _ts(self.published),
            "summary": self.summary,
            "details": self.details,
            "affected": [a.to_osv() for a in self.affected],
            "database_specific": {
                "schema": SCHEMA,
                "risk_domain": self.risk_domain,
                "atlas": list(self.atlas),
                "severity": self.severity,
                "tlp": self.tlp,
                "lifecycle": {"state": self.state.value, "history": [c.to_dict() for c in self.history]},
                "harm": self.harm,
                "aware_at": _ts(self.aware_at) if self.aware_at else None,
                # Derived from harm + aware_at for readers; recomputed (never trusted) when a record is read.
                "reporting_deadlines": [d.to_dict() for d in reporting_deadlines(self)],
                "lineage_policy": self.lineage_policy.to_dict(),
                "indicators": list(self.indicators),
            },
        }
        if self.withdrawn_at is not None:
            record["withdrawn"] = _ts(self.withdrawn_at)
        if self.aliases:
            record["aliases"] = list(self.aliases)
        if self.references:
            record["references"] = [{"type": t, "url": u} for t, u in self.references]
        validate_osv(record, where=self.id)
        return record

    @classmethod
    def from_osv(cls, data: Any, where: str = "<incident>") -> Incident:
        """Parse and validate an OSV record written by :meth:`to_osv` (or by hand / another tool)."""
        validate_osv(data, where)
        return _from_osv(data, where)


OSV_REFERENCE_TYPES = ("ADVISORY", "ARTICLE", "DETECTION", "DISCUSSION", "REPORT", "FIX", "INTRODUCED",
                       "PACKAGE", "EVIDENCE", "WEB")


def _check_text(value: Any, name: str, limit: int, where: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise IncidentError(f"{where}: {name} must be a string")
    if not empty and not value.strip():
        raise IncidentError(f"{where}: {name} is empty")
    if len(value) > limit:
        raise IncidentError(f"{where}: {name} is longer than {limit} characters")
    return value


def _check_affected(items: Iterable[AffectedModel], where: str) -> tuple[AffectedModel, ...]:
    out = tuple(items)
    if not out:
        raise IncidentError(f"{where}: an incident must name at least one affected model")
    if len(out) > MAX_AFFECTED:
        raise IncidentError(f"{where}: more than {MAX_AFFECTED} affected entries")
    for a in out:
        if not isinstance(a.model_id, str) or not _MODEL_ID_PATTERN.match(a.model_id):
            raise IncidentError(f"{where}: affected model id {str(a.model_id)[:80]!r} is not of the form org/name")
        for d in (*a.weights_roots, *a.file_digests.values()):
            if not isinstance(d, str) or not _DIGEST_PATTERN.match(d):
                raise IncidentError(f"{where}: {a.model_id}: digest {str(d)[:80]!r} is not lower-case hex "
                                    "(optionally 'algorithm:hex')")
        for v in a.versions:
            _check_text(v, "version", 128, where)
        if len(a.versions) > MAX_LIST or len(a.weights_roots) > MAX_LIST or len(a.file_digests) > 4 * MAX_LIST:
            raise IncidentError(f"{where}: {a.model_id}: too many versions/digests in one affected entry")
    return out


def _check_fields(inc: Incident, where: str) -> None:
    if not _ID_PATTERN.match(inc.id):
        raise IncidentError(f"{where}: id {inc.id[:60]!r} is not of the form {ID_PREFIX}-YYYY-<hex>")
    _check_text(inc.summary, "summary", MAX_SUMMARY, where)
    _check_text(inc.details, "details", MAX_DETAILS, where, empty=True)
    _check_affected(inc.affected, where)
    if inc.risk_domain not in RISK_DOMAINS:
        raise IncidentError(f"{where}: unknown risk domain {inc.risk_domain!r} (one of {', '.join(RISK_DOMAINS)})")
    if inc.severity not in SEVERITIES:
        raise IncidentError(f"{where}: unknown severity {inc.severity!r} (one of {', '.join(SEVERITIES)})")
    if inc.tlp not in TLP_LEVELS:
        raise IncidentError(f"{where}: unknown TLP marking {inc.tlp!r} (one of {', '.join(TLP_LEVELS)})")
    bad = [t for t in inc.atlas if not isinstance(t, str) or not ATLAS_PATTERN.match(t)]
    if bad or len(inc.atlas) > 32:
        raise IncidentError(f"{where}: MITRE ATLAS technique ids look like AML.T0058 or AML.T0010.003: {bad[:3]!r}")
    if inc.harm is not None and inc.harm not in EU_COP_DEADLINES:
        raise IncidentError(f"{where}: unknown harm class {inc.harm!r} (one of {', '.join(EU_COP_DEADLINES)})")
    if inc.harm is not None and inc.aware_at is None:
        raise IncidentError(f"{where}: a harm class needs aware_at (when the reporter became aware)")
    if len(json.dumps(list(inc.indicators))) > MAX_INDICATORS_BYTES:
        raise IncidentError(f"{where}: indicators exceed {MAX_INDICATORS_BYTES} bytes")
    if not 0.0 <= inc.lineage_policy.min_score <= 1.0:
        raise IncidentError(f"{where}: lineage_policy.min_score must lie in [0, 1]")
    if 0.0 < inc.lineage_policy.min_score < MIN_SCORE_STEP:
        # Red team round 12 (L1): the log carries plain JSON only (entries._plain: a fraction needs
        # |x| >= 1e-4), so a smaller positive score could be built here but never logged.
        raise IncidentError(f"{where}: lineage_policy.min_score must be 0 or at least {MIN_SCORE_STEP} (the "
                            f"registry logs plain JSON numbers; {inc.lineage_policy.min_score!r} is too small)")
    _check_history(inc.history, where)
    if inc.published != inc.history[0].at:
        raise IncidentError(f"{where}: published must be the time of the first lifecycle entry (reported)")
    if inc.modified < inc.history[-1].at:
        raise IncidentError(f"{where}: modified is earlier than the last lifecycle change")
    for kind, url in inc.references:
        if kind not in OSV_REFERENCE_TYPES:
            raise IncidentError(f"{where}: reference type {kind!r} is not an OSV reference type")
        _check_text(url, "reference url", 2048, where)


def _check_history(history: Sequence[StateChange], where: str) -> None:
    if not history or history[0].state is not IncidentState.REPORTED:
        raise IncidentError(f"{where}: the lifecycle must start with 'reported'")
    if len(history) > 4:
        raise IncidentError(f"{where}: the lifecycle has more changes than the states allow")
    for before, after in zip(history, history[1:], strict=False):
        if after.state not in ALLOWED_TRANSITIONS[before.state]:
            raise IncidentError(f"{where}: lifecycle goes {before.state.value} → {after.state.value}, "
                                f"which is not allowed ({_allowed_text(before.state)})")
        if after.at < before.at:
            raise IncidentError(f"{where}: lifecycle change to {after.state.value} is dated before the previous one")
    for change in history:
        _check_text(change.note, "lifecycle note", 2000, where, empty=True)


def _allowed_text(state: IncidentState) -> str:
    allowed = sorted(s.value for s in ALLOWED_TRANSITIONS[state])
    return f"from {state.value}: {', '.join(allowed)}" if allowed else f"{state.value} is final"


def new_id(now: datetime | None = None) -> str:
    """A fresh incident id: ``x_WW-<year>-<64 random bits in hex>`` (random, so independent reporters and
    registries never collide and ids reveal nothing about how many incidents a registry holds)."""
    return f"{ID_PREFIX}-{(now or _now()).year:04d}-{secrets.token_hex(8)}"


def new_incident(
    *,
    summary: str,
    affected: Iterable[AffectedModel],
    risk_domain: str,
    severity: str,
    tlp: str = "TLP:CLEAR",
    details: str = "",
    atlas: Iterable[str] = (),
    harm: str | None = None,
    aware_at: datetime | None = None,
    aliases: Iterable[str] = (),
    references: Iterable[tuple[str, str]] = (),
    indicators: Iterable[Any] = (),
    lineage_policy: LineagePolicy | None = None,
    now: datetime | None = None,
    incident_id: str | None = None,
    note: str = "",
) -> Incident:
    """A new incident in state ``reported``. Raises :class:`IncidentError` on any invalid field."""
    at = (now or _now()).astimezone(UTC).replace(microsecond=0)
    inc = Incident(
        id=incident_id or new_id(at),
        summary=summary,
        details=details,
        affected=tuple(affected),
        risk_domain=risk_domain,
        severity=severity,
        tlp=tlp,
        published=at,
        modified=at,
        history=(StateChange(IncidentState.REPORTED, at, note),),
        atlas=tuple(atlas),
        harm=harm,
        aware_at=(aware_at or at) if harm else aware_at,
        aliases=tuple(aliases),
        references=tuple(references),
        indicators=tuple(indicators),
        lineage_policy=lineage_policy or LineagePolicy(),
    )
    _check_fields(inc, inc.id)
    inc.to_osv()  # the official schema too, so a new record is valid before anyone stores it
    return inc


def transition(incident: Incident, new_state: IncidentState | str, *, at: datetime | None = None,
               note: str = "") -> Incident:
    """The incident moved to ``new_state``; raises :class:`IncidentError` when the lifecycle forbids it."""
    try:
        target = IncidentState(new_state)
    except ValueError:
        raise IncidentError(f"{incident.id}: unknown state {new_state!r} "
                            f"(one of {', '.join(s.value for s in IncidentState)})") from None
    if target not in ALLOWED_TRANSITIONS[incident.state]:
        raise IncidentError(f"{incident.id}: cannot go from {incident.state.value} to {target.value} "
                            f"({_allowed_text(incident.state)})")
    when = (at or _now()).astimezone(UTC).replace(microsecond=0)
    if when < incident.history[-1].at:
        raise IncidentError(f"{incident.id}: a lifecycle change cannot be dated before the previous one")
    _check_text(note, "note", 2000, incident.id, empty=True)
    return replace(incident, history=(*incident.history, StateChange(target, when, note)),
                   modified=max(when, incident.modified))


def reporting_deadlines(incident: Incident) -> tuple[Deadline, ...]:
    """EU Code of Practice due dates for the initial report of a serious incident (none without a harm class)."""
    if incident.harm is None or incident.aware_at is None:
        return ()
    days, description = EU_COP_DEADLINES[incident.harm]
    return (Deadline(incident.harm, days, incident.aware_at + timedelta(days=days), description),)


def is_public(incident: Incident) -> bool:
    """Only TLP:CLEAR records may be shown to anyone (a public web page, an unauthenticated read)."""
    return incident.tlp == "TLP:CLEAR"


# --- OSV schema validation and parsing ------------------------------------------------------------------

@cache
def _osv_validator() -> Any:
    import jsonschema

    text = resources.files("weightwarden.registry").joinpath("schemas", _OSV_SCHEMA_FILE).read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


MAX_NESTING = 32
# Top-level OSV fields an incident carries; anything else (severity, credits, related, upstream) would be lost
# on a round trip, so it is refused rather than silently dropped.
_OSV_FIELDS = frozenset({"schema_version", "id", "modified", "published", "withdrawn", "aliases", "summary",
                         "details", "affected", "references", "database_specific"})


def _nesting(value: Any, limit: int) -> bool:
    """True when ``value`` nests lists/objects at most ``limit`` deep (iterative: hostile depth cannot recurse)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


def validate_osv(data: Any, where: str = "<incident>") -> None:
    """Raise :class:`IncidentError` unless ``data`` is valid OSV (official schema) and a weightwarden incident."""
    if not isinstance(data, dict):
        raise IncidentError(f"{where}: an incident record is a JSON object, found {type(data).__name__}")
    if not _nesting(data, MAX_NESTING):
        raise IncidentError(f"{where}: JSON nested deeper than {MAX_NESTING} levels")
    unknown = sorted(set(data) - _OSV_FIELDS)
    if unknown:
        raise IncidentError(f"{where}: OSV field {unknown[0][:40]!r} is not carried by weightwarden incidents")
    try:
        validator = _osv_validator()
    except ImportError:  # pragma: no cover - jsonschema ships with the registry extra
        from weightwarden.core.errors import MissingExtraError

        raise MissingExtraError("incident validation", "registry", "jsonschema") from None
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise IncidentError(f"{where}: not valid OSV {OSV_SCHEMA_VERSION} at {path}: {first.message[:300]}")
    specific = data.get("database_specific")
    if not isinstance(specific, dict) or specific.get("schema") != SCHEMA:
        raise IncidentError(f"{where}: database_specific.schema must be {SCHEMA!r} (not a weightwarden incident)")


def _get(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in obj or obj[key] is None:
        if default is ...:
            raise IncidentError(f"{where}: missing field {key}")
        return default
    value = obj[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool) and bool not in _kinds(kind)):
        raise IncidentError(f"{where}: field {key} has the wrong type ({type(value).__name__})")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(value) > MAX_LIST:
        raise IncidentError(f"{where}: expected a list of at most {MAX_LIST} strings")
    return tuple(value)


def _from_osv(data: Mapping[str, Any], where: str) -> Incident:
    specific = data["database_specific"]
    affected = []
    for i, entry in enumerate(data.get("affected") or ()):
        at = f"{where}: affected[{i}]"
        if "package" in entry or "ranges" in entry:
            raise IncidentError(f"{at}: models are named in database_specific (model_id), not package/ranges")
        spec = _get(entry, "database_specific", dict, at)
        digests = _get(spec, "file_digests", dict, at, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in digests.items()):
            raise IncidentError(f"{at}: file_digests maps file names to digest strings")
        affected.append(AffectedModel(
            model_id=_get(spec, "model_id", str, at),
            versions=_str_list(entry.get("versions", []), at + ".versions"),
            weights_roots=_str_list(spec.get("weights_roots", []), at + ".weights_roots"),
            file_digests=dict(digests),
            purl=_get(spec, "purl", str, at, None),
        ))
    life = _get(specific, "lifecycle", dict, where)
    history = []
    for change in _get(life, "history", list, where):
        if not isinstance(change, dict):
            raise IncidentError(f"{where}: lifecycle history entries are objects")
        try:
            state = IncidentState(change.get("state"))
        except ValueError:
            raise IncidentError(f"{where}: unknown lifecycle state {str(change.get('state'))[:40]!r}") from None
        history.append(StateChange(state, _parse_ts(change.get("at"), where + ": lifecycle"),
                                   _get(change, "note", str, where, "")))
    if not history or life.get("state") != history[-1].state.value:
        raise IncidentError(f"{where}: lifecycle.state does not match the last history entry")
    policy = _get(specific, "lineage_policy", dict, where, {})
    refs = tuple((r["type"], r["url"]) for r in data.get("references") or ())
    inc = Incident(
        id=data["id"],
        summary=_get(data, "summary", str, where),
        details=_get(data, "details", str, where, ""),
        affected=tuple(affected),
        risk_domain=_get(specific, "risk_domain", str, where),
        severity=_get(specific, "severity", str, where),
        tlp=_get(specific, "tlp", str, where),
        published=_parse_ts(data.get("published"), where + ": published"),
        modified=_parse_ts(data.get("modified"), where + ": modified"),
        history=tuple(history),
        atlas=_str_list(specific.get("atlas", []), where + ": atlas"),
        harm=_get(specific, "harm", str, where, None),
        aware_at=_parse_ts(specific["aware_at"], where + ": aware_at") if specific.get("aware_at") else None,
        aliases=_str_list(data.get("aliases") or [], where + ": aliases"),
        references=refs,
        indicators=tuple(_get(specific, "indicators", list, where, [])),
        lineage_policy=LineagePolicy(
            propagate=_get(policy, "propagate", bool, where, True),
            min_score=float(_get(policy, "min_score", (int, float), where, 0.0)),
            require_measured=_get(policy, "require_measured", bool, where, False),
        ),
    )
    _check_fields(inc, where)
    withdrawn = data.get("withdrawn")
    if (withdrawn is not None) != (inc.state is IncidentState.WITHDRAWN):
        raise IncidentError(f"{where}: 'withdrawn' must be set exactly when the lifecycle state is withdrawn")
    return inc


def incident_bytes(incident: Incident) -> bytes:
    """RFC 8785 canonical JSON of the OSV form: the bytes to sign and to append to the log."""
    import rfc8785

    return rfc8785.dumps(incident.to_osv())


def load_incident(path: str | os.PathLike[str]) -> Incident:
    """Read one OSV incident file (at most 1 MiB), validated."""
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_bounded

    p = Path(path)
    try:
        raw = read_bounded(p, "incident record", MAX_RECORD_BYTES)  # regular files only (red team 5, class 3)
    except InputError as exc:
        raise IncidentError(exc.reason) from None
    from weightwarden.core.strict_json import StrictJSONError, loads

    try:
        # Red team round 6 (class 4): json.loads caught only JSONDecodeError, so a 5000-digit integer (ValueError)
        # was an "internal error"; the strict parser maps every parse failure (depth, digits, duplicate keys,
        # NaN) to one error.
        data = loads(raw)
    except StrictJSONError as exc:
        raise IncidentError(f"{p}: not JSON: {exc.reason}") from None
    return Incident.from_osv(data, where=str(p))


# --- exports --------------------------------------------------------------------------------------------

_CSAF_TLP = {"TLP:CLEAR": "WHITE", "TLP:GREEN": "GREEN", "TLP:AMBER": "AMBER", "TLP:AMBER+STRICT": "AMBER",
             "TLP:RED": "RED"}


def _products(incident: Incident) -> list[tuple[str, AffectedModel]]:
    return [(f"WW-MODEL-{i + 1}", a) for i, a in enumerate(incident.affected)]


def _hex_of(digest: str) -> tuple[str, str]:
    algorithm, _, value = digest.rpartition(":")
    return (algorithm or "sha256"), value


def _product_name(a: AffectedModel) -> str:
    if a.versions:
        return f"{a.model_id} {', '.join(a.versions)}"
    if a.whole_line:
        return f"{a.model_id} (all releases)"
    return f"{a.model_id} (releases with the listed digests)"


def to_csaf(incident: Incident, *, publisher_name: str, publisher_namespace: str) -> dict[str, Any]:
    """A CSAF 2.0 ``csaf_security_advisory`` document (profile tests 6.1.27.4-6 and action statements met).

    reported → products ``under_investigation``; confirmed/fixed → ``known_affected`` with a remediation
    (``vendor_fix`` once fixed, ``mitigation`` before). A withdrawn incident has nothing to advise and is
    refused. TLP 2.0 CLEAR maps to CSAF 2.0's TLP 1.0 label WHITE, AMBER+STRICT to AMBER.
    """
    if incident.state is IncidentState.WITHDRAWN:
        raise IncidentError(f"{incident.id}: withdrawn; a CSAF advisory would advise nothing (export OSV instead)")
    products = _products(incident)
    full_names = []
    for pid, a in products:
        entry: dict[str, Any] = {"name": _product_name(a), "product_id": pid}
        helper: dict[str, Any] = {}
        if a.purl:
            helper["purl"] = a.purl
        file_hashes = [
            {"filename": name, "file_hashes": [{"algorithm": alg, "value": value}]}
            for name, (alg, value) in ((n, _hex_of(d)) for n, d in sorted(a.file_digests.items()))
        ]
        if file_hashes:
            helper["hashes"] = file_hashes
        if helper:
            entry["product_identification_helper"] = helper
        full_names.append(entry)
    ids = [pid for pid, _ in products]
    history = [
        {"date": _ts(c.at), "number": str(n + 1), "summary": f"{c.state.value}" + (f": {c.note}" if c.note else "")}
        for n, c in enumerate(incident.history)
    ]
    notes = [{"category": "summary", "text": incident.summary, "title": "Summary"}]
    if incident.details.strip():
        notes.append({"category": "details", "text": incident.details, "title": "Details"})
    roots = [f"{a.model_id}: {r}" for a in incident.affected for r in a.weights_roots]
    if roots:
        notes.append({"category": "other", "title": "Weights roots (weightwarden, RFC 6962 over tensor digests)",
                      "text": "\n".join(roots)})
    notes.append({"category": "other", "title": "Classification",
                  "text": f"risk domain {incident.risk_domain}; severity {incident.severity}; "
                          f"MITRE ATLAS {', '.join(incident.atlas) or 'none given'}"})
    vulnerability: dict[str, Any] = {
        "ids": [{"system_name": "weightwarden incident", "text": incident.id}],
        "title": incident.summary,
        "notes": notes,
    }
    if incident.state is IncidentState.REPORTED:
        vulnerability["product_status"] = {"under_investigation": ids}
    else:
        fixed = incident.state is IncidentState.FIXED
        vulnerability["product_status"] = {"known_affected": ids}
        vulnerability["remediations"] = [{
            "category": "vendor_fix" if fixed else "mitigation",
            "details": ("A fixed release is published; move to it and stop using the affected releases."
                        if fixed else "Do not load or deploy the affected releases until a fix is published."),
            "product_ids": ids,
        }]
    vulnerability["threats"] = [{"category": "impact", "details": f"severity {incident.severity} "
                                 f"({incident.risk_domain})", "product_ids": ids}]
    return {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "lang": "en",
            "title": incident.summary,
            "publisher": {"category": "coordinator", "name": publisher_name, "namespace": publisher_namespace},
            "distribution": {"tlp": {"label": _CSAF_TLP[incident.tlp], "url": "https://www.first.org/tlp/"}},
            "notes": [{"category": "summary", "text": incident.summary}],
            "tracking": {
                "id": incident.id,
                "status": "final" if incident.state is IncidentState.FIXED else "interim",
                "version": str(len(history)),
                "revision_history": history,
                "initial_release_date": _ts(incident.published),
                "current_release_date": _ts(incident.modified),
                "generator": {"engine": {"name": "weightwarden"}},
            },
        },
        "product_tree": {"full_product_names": full_names},
        "vulnerabilities": [vulnerability],
    }


def to_openvex(incident: Incident, *, author: str, document_id: str | None = None) -> dict[str, Any]:
    """An OpenVEX 0.2.0 document with one statement over the affected models."""
    if incident.state is IncidentState.WITHDRAWN:
        raise IncidentError(f"{incident.id}: withdrawn; there is no VEX status to state (export OSV instead)")
    products = []
    for a in incident.affected:
        product: dict[str, Any] = {"@id": a.purl or f"urn:weightwarden:model:{a.model_id}"}
        if a.purl:
            product["identifiers"] = {"purl": a.purl}
        subs = [{"@id": f"urn:weightwarden:file:{name}", "hashes": {"sha-256": _hex_of(d)[1]}}
                for name, d in sorted(a.file_digests.items()) if _hex_of(d)[0] == "sha256"]
        if subs:
            product["subcomponents"] = subs
        products.append(product)
    statement: dict[str, Any] = {
        "vulnerability": {"name": incident.id, "description": incident.summary},
        "products": products,
        "timestamp": _ts(incident.modified),
    }
    if incident.state is IncidentState.REPORTED:
        statement["status"] = "under_investigation"
    else:
        statement["status"] = "affected"
        statement["action_statement"] = (
            "A fixed release is published; move to it." if incident.state is IncidentState.FIXED
            else "Do not load or deploy the affected releases until a fix is published.")
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": document_id or f"urn:weightwarden:vex:{incident.id}:{len(incident.history)}",
        "author": author,
        "timestamp": _ts(incident.modified),
        "version": len(incident.history),
        "statements": [statement],
    }


# --- propagation through lineage ------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelRecord:
    """What the registry knows about one registered release, as far as incidents care."""

    model_id: str
    version: str | None = None
    weights_root: str | None = None
    file_digests: Mapping[str, str] = field(default_factory=dict)
    declared_bases: tuple[str, ...] = ()  # model ids the publisher names as bases (hints, not proof)
    # the log index of the release entry, where known: the ancestry walk visits each release once by
    # (line, index) (red team round 5); not part of equality (the same release read twice is equal)
    index: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Derivation:
    """``child`` is derived from ``parent``, and why we think so.

    basis: ``same-weights`` (identical weights root: a re-upload or conversion), ``measured`` (the lineage
    derivation test said derived; ``score``/``p_value`` from its report), ``declared`` (the publisher of the
    child names the parent as a base: a hint, not evidence). ``parent`` is a model id, or ``id@version`` when
    the release the child derives from is known; a declared base without a version stands for every release
    of that line (an incident on any of them is reported, marked ``model_line``)."""

    parent: str
    child: str
    basis: str
    score: float | None = None
    p_value: float | None = None
    detail: str = ""

    @property
    def parent_model(self) -> str:
        return split_release(self.parent)[0]

    @property
    def parent_version(self) -> str | None:
        return split_release(self.parent)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "child": self.child, "basis": self.basis, "score": self.score,
                "p_value": self.p_value, "detail": self.detail}


def split_release(ref: str) -> tuple[str, str | None]:
    """``"acme/base@1.0"`` → ``("acme/base", "1.0")``; ``"acme/base"`` → ``("acme/base", None)``."""
    model_id, sep, version = ref.partition("@")
    return (model_id, version) if sep and version else (model_id, None)


BASES = ("same-weights", "measured", "declared")


class RegistryView(Protocol):
    """The read side of a registry that propagation needs (B's store implements it)."""

    def incidents(self) -> Iterable[Incident]: ...

    def model(self, model_id: str) -> ModelRecord | None: ...


LineageLookup = Callable[[ModelRecord], Iterable[Derivation]]


@dataclass(frozen=True)
class AffectedBy:
    """``incident`` names ``matched_model`` (``match``: weights_root | file_digest | version | model_id, or
    model_line when a declared base without a version reaches a line with an incident on some release), which
    is the model asked about (``path == ()``) or one of its ancestors reached through ``path``
    (child → parent order, first element's child is the model asked about)."""

    incident: Incident
    matched_model: str
    match: str
    path: tuple[Derivation, ...] = ()

    @property
    def inherited(self) -> bool:
        return bool(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"incident": self.incident.id, "state": self.incident.state.value, "severity": self.incident.severity,
                "matched_model": self.matched_model, "match": self.match, "inherited": self.inherited,
                "path": [d.to_dict() for d in self.path]}


def _norm(digest: str) -> str:
    return _hex_of(digest.lower())[1]


def _match(entry: AffectedModel, model: ModelRecord) -> str | None:
    return _match_content(entry, model) or _match_id(entry, model)


def _match_content(entry: AffectedModel, model: ModelRecord) -> str | None:
    """A match by content address (weights root, file digest): it names no line, so who may claim it is the
    caller's question (red team round 3: ``may_speak``)."""
    if model.weights_root and any(_norm(r) == _norm(model.weights_root) for r in entry.weights_roots):
        return "weights_root"
    mine = {_norm(d) for d in model.file_digests.values()}
    if mine and any(_norm(d) in mine for d in entry.file_digests.values()):
        return "file_digest"
    return None


def _match_id(entry: AffectedModel, model: ModelRecord) -> str | None:
    if entry.model_id != model.model_id:
        return None
    if entry.versions:
        return "version" if model.version in entry.versions else None
    return "model_id" if entry.whole_line else None


def _allowed(policy: LineagePolicy, path: Sequence[Derivation]) -> bool:
    if not path:
        return True
    if not policy.propagate:
        return False
    for step in path:
        if step.basis == "declared" and policy.require_measured:
            return False
        if step.basis == "measured" and (step.score is None or step.score < policy.min_score):
            return False
    return True


def _resolve(view: RegistryView, ref: str) -> ModelRecord:
    """The registry's record of a parent reference (``id`` = its latest release, ``id@version`` = that one)."""
    model_id, version = split_release(ref)
    if version is not None:
        release = getattr(view, "release", None)
        if callable(release):
            found = release(model_id, version)
            if found is not None:
                return found
        latest = view.model(model_id)
        return latest if latest is not None and latest.version == version else ModelRecord(model_id, version)
    return view.model(model_id) or ModelRecord(model_id)


def _ancestry(model: ModelRecord, view: RegistryView, lineage_lookup: LineageLookup,
              max_depth: int, max_ancestors: int = MAX_ANCESTORS) -> Iterator[tuple[ModelRecord, tuple[Derivation, ...], bool]]:
    """The model and each ancestor with the derivation path to it and whether the whole line is meant (a
    declared base without a version), breadth first (shortest path first); cycles and repeated ancestors are
    visited once, depth is bounded."""
    seen = {(model.model_id, model.version)}
    frontier: list[tuple[ModelRecord, tuple[Derivation, ...]]] = [(model, ())]
    yield model, (), False
    for _ in range(max_depth):
        nxt: list[tuple[ModelRecord, tuple[Derivation, ...]]] = []
        for current, path in frontier:
            for step in lineage_lookup(current):
                key = split_release(step.parent) if isinstance(step.parent, str) else None
                if step.basis not in BASES or key is None or key in seen:
                    continue
                if len(seen) > max_ancestors:
                    return
                seen.add(key)
                parent = _resolve(view, step.parent)
                new_path = (*path, step)
                yield parent, new_path, step.basis == "declared" and key[1] is None
                nxt.append((parent, new_path))
        if not nxt:
            return
        frontier = nxt


def _continues(known: Incident, record: Incident) -> bool:
    return (record.published == known.published and len(record.history) >= len(known.history)
            and record.history[: len(known.history)] == known.history and record.modified >= known.modified)


def current_records(records: Iterable[Incident], owners: Sequence[str] | None = None) -> list[Incident]:
    """One record per incident id (per ``(incident id, publisher)`` with ``owners``): the latest of the records
    a log holds for it, where "later" must extend the lifecycle of the earlier one (same id, same publication,
    history a continuation). A record that rewrites history instead (another publication date, a different
    earlier state, an older lifecycle) is ignored: an append-only log keeps both, and the first version stays
    authoritative. With ``owners`` (the publisher of each record, aligned with ``records``) each publisher's
    records under an id are a chain of their own, so nobody can withdraw or close someone else's incident and
    another publisher's record under the id is never dropped (red team round 9, E1: records of different keys
    are never merged by id; the first key's closed record used to stand for the id and hide a later key's
    open one). Order of first appearance is kept."""
    items = list(records)
    if owners is not None and len(owners) != len(items):
        raise ValueError("owners must name the publisher of every record")
    latest: dict[tuple[str, str], Incident] = {}
    for i, record in enumerate(items):
        chain = (record.id, owners[i] if owners is not None else "")
        known = latest.get(chain)
        if known is None or _continues(known, record):
            latest[chain] = record
    return list(latest.values())


def incidents_affecting(model: ModelRecord, registry_view: RegistryView, lineage_lookup: LineageLookup, *,
                        max_depth: int = MAX_DEPTH, current: bool = False,
                        may_speak: Callable[[Incident, ModelRecord], bool] | None = None,
                        notes: list[str] | None = None,
                        max_ancestors: int = MAX_ANCESTORS,
                        releases_of: Callable[[ModelRecord], Sequence[ModelRecord]] | None = None,
                        ) -> tuple[AffectedBy, ...]:
    """Every non-withdrawn incident that names ``model`` or one of its ancestors, with the evidence of
    derivation, strongest link first: direct hits, then by path length. One result per current record (the
    first, i.e. shortest, path that the record's own lineage policy accepts).

    ``current=True``: the view's records are already the current ones (``views.current_incidents``, one per
    incident id and publisher key); they are not merged by id again, so one key's withdrawn record never
    hides another key's open one under the same id. Red team round 9 (E1): nor is the result: each record is
    matched on its own and gives its own hit, so another key's record under the id (a closed one that matches
    a deeper ancestor first, say) never stands for the id and never displaces an open record's hit.

    ``may_speak(incident, line)``: whether the incident's key may speak for that line; a weights-root or
    file-digest match from a key that may not is written to ``notes`` and never counts (red team round 3:
    content-addressed matching must not bypass namespace authorisation).

    ``releases_of(line)``: the specific releases of an ancestor line the ancestry reaches (those sharing a
    weights root, every release of a declared base logged before the child, revoked and superseded ones
    included); an incident is matched against each of them as well as the line's record (red team round 4:
    the line's latest release alone let a new version or a revocation clear a version or content incident)."""
    lines = list(_ancestry(model, registry_view, lineage_lookup, max(0, min(max_depth, 32)), max_ancestors))
    # keyed by the record's position among the current records (one per (id, key) with ``current``, one per id
    # otherwise): never by the incident id alone (red team round 9, E1)
    found: dict[int, AffectedBy] = {}
    records = list(registry_view.incidents()) if current else current_records(registry_view.incidents())
    for n, incident in enumerate(records):
        if incident.state is IncidentState.WITHDRAWN:
            continue
        for candidate, path, whole_line in lines:
            if not _allowed(incident.lineage_policy, path):
                continue
            how = None
            specific = (candidate, *(releases_of(candidate) if releases_of is not None and path else ()))
            for e in incident.affected:
                for rel in specific:
                    how = _match_content(e, rel)
                    if how and may_speak is not None and not may_speak(incident, candidate):
                        if notes is not None and len(notes) < 200:
                            notes.append(f"incident {incident.id} names the {how.replace('_', ' ')} of "
                                         f"{candidate.model_id} but its key may not speak for that line: shown "
                                         "as a note, not a verdict")
                        how = None
                    how = how or _match_id(e, rel)
                    if how:
                        break
                if how:
                    break
            if how is None and whole_line and any(e.model_id == candidate.model_id for e in incident.affected):
                how = "model_line"
            if how:
                found[n] = AffectedBy(incident, candidate.model_id, how, path)
                break
    order = {s: i for i, s in enumerate(SEVERITIES[::-1])}
    return tuple(sorted(found.values(), key=lambda h: (len(h.path), order[h.incident.severity], h.incident.id)))


def declared_lineage(view: RegistryView) -> LineageLookup:
    """Parents from the publishers' declared bases, plus any registered model with the same weights root
    (which only the registry view can tell; it is offered through ``view.models_with_root`` when present)."""

    def lookup(model: ModelRecord) -> Iterator[Derivation]:
        for base in model.declared_bases:
            yield Derivation(base, model.model_id, "declared", detail="declared base model of the release")
        same_root = getattr(view, "models_with_root", None)
        if model.weights_root and callable(same_root):
            for other in same_root(model.weights_root):
                if other != model.model_id:
                    yield Derivation(other, model.model_id, "same-weights",
                                     detail=f"identical weights root {model.weights_root[:16]}…")

    return lookup


def combined_lineage(*lookups: LineageLookup) -> LineageLookup:
    """Ask each lookup in turn; the strongest basis for a parent wins (same-weights > measured > declared)."""
    rank = {b: i for i, b in enumerate(BASES)}

    def lookup(model: ModelRecord) -> list[Derivation]:
        best: dict[str, Derivation] = {}
        for one in lookups:
            for d in one(model):
                if d.parent not in best or rank.get(d.basis, 9) < rank.get(best[d.parent].basis, 9):
                    best[d.parent] = d
        return list(best.values())

    return lookup


def derivation_from_report(parent_id: str, child_id: str, report: Any) -> Derivation | None:
    """A measured :class:`Derivation` from a lineage report (``LineageReport`` or its ``to_dict()``) whose
    verdict is ``derived``; None for ``unrelated`` / ``inconclusive``."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    if not isinstance(data, Mapping) or data.get("schema") != "weightwarden.lineage-report/v1":
        raise IncidentError("lineage evidence must be a weightwarden.lineage-report/v1 record")
    if data.get("verdict") != "derived":
        return None
    score, p_value = data.get("score"), data.get("p_value")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (score, p_value)):
        raise IncidentError("lineage report without numeric score / p_value")
    return Derivation(parent_id, child_id, "measured", float(score), float(p_value),
                      detail=f"lineage test: derived, p={p_value:.3g}, shared layers {data.get('shared_layers', [])}")


def measured_lineage(child_id: str, child: Any, candidates: Mapping[str, Any], *,
                     alpha: float | None = None) -> LineageLookup:
    """Parents of ``child_id`` measured by the lineage derivation test: ``child`` is a model path or
    ``WeightSource``; ``candidates`` maps registered model ids to a model path, a ``WeightSource`` or a
    ``Fingerprint`` of that model. Each pair is tested once, on first use; only ``derived`` verdicts count."""
    from weightwarden.lineage.derivation import DEFAULT_ALPHA, assess_lineage
    from weightwarden.lineage.fingerprint import Fingerprint

    level = DEFAULT_ALPHA if alpha is None else alpha
    results: list[Derivation] | None = None

    def measure() -> list[Derivation]:
        found = []
        for parent_id, parent in candidates.items():
            if parent_id == child_id:
                continue
            if isinstance(parent, Fingerprint):
                report = assess_lineage(None, child, fingerprint=parent, alpha=level)
            else:
                report = assess_lineage(parent, child, alpha=level)
            step = derivation_from_report(parent_id, child_id, report)
            if step is not None:
                found.append(step)
        return found

    def lookup(model: ModelRecord) -> list[Derivation]:
        nonlocal results
        if model.model_id != child_id:
            return []
        if results is None:
            results = measure()
        return results

    return lookup
