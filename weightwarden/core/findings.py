"""The evidence model every analysis feeds: :class:`Finding` about a :class:`Subject`, at a
:class:`Location`, backed by :class:`Evidence`, from a :class:`Rule` of some tool component's catalogue.

Scan, verify, diff/lineage, evals and the risk gate all speak this one vocabulary, so one report layer
renders any of them (text, JSON, SARIF, HTML, CycloneDX) and an audit can weigh them side by side. The JSON
form is versioned (``"schema": "weightwarden.finding/v2"``) and published under ``weightwarden/schemas/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from weightwarden.core.text import evidence_text

FINDING_SCHEMA = "weightwarden.finding/v2"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}


def max_severity(findings: Iterable[Finding]) -> Severity | None:
    """The highest severity among ``findings`` (suppressed ones do not count), or ``None``."""
    return max((f.severity for f in findings if not f.suppressed), key=lambda s: s.rank, default=None)


class SubjectKind(StrEnum):
    """What a finding is about."""

    MODEL = "model"  # a model as a whole (a folder, a release, an endpoint)
    FILE = "file"  # one file, or a member inside an archive file
    TENSOR = "tensor"  # one named tensor of a model
    EVAL_ITEM = "eval_item"  # one prompt/attempt of an evaluation
    RISK_DOMAIN = "risk_domain"  # a risk domain of the taxonomy (risk gate findings)


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    name: str  # file path as given, tensor name, model id, eval item id, risk domain id
    file: str = ""  # the file the subject lives in, where that differs from ``name`` (a tensor's file)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "name": self.name, "file": self.file}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Subject:
        return cls(SubjectKind(data["kind"]), str(data["name"]), str(data.get("file", "")))


def file_subject(path: str) -> Subject:
    return Subject(SubjectKind.FILE, path)


@dataclass(frozen=True, slots=True)
class Location:
    """Where inside the subject: an archive member / opcode / key path, a byte offset, a text line."""

    path: str = ""  # e.g. "archive/data.pkl", "opcode 12 (REDUCE)", "tokenizer_config.json:chat_template"
    offset: int | None = None  # byte offset in the file or member ``path`` names
    line: int | None = None  # 1-based line in a text file (templates, configs); SARIF needs one

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "offset": self.offset, "line": self.line}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Location:
        return cls(str(data.get("path", "")), data.get("offset"), data.get("line"))


@dataclass(frozen=True, slots=True)
class Evidence:
    """One thing that was seen. ``value`` is JSON-able; ``confidence`` in [0, 1] where it is measured."""

    kind: str  # "text", "opcode", "digest", "rate", "interval", "p_value", "count", ...
    value: Any
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "confidence": self.confidence}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(str(data["kind"]), data.get("value"), data.get("confidence"))


def text_evidence(text: object) -> tuple[Evidence, ...]:
    """Evidence that is a snippet of what was read (sanitised, bounded); empty text gives none."""
    cleaned = evidence_text(text) if text else ""
    return (Evidence("text", cleaned),) if cleaned else ()


@dataclass(frozen=True, slots=True)
class Suppression:
    """Why a user chose to accept a finding. Suppressed findings stay in every report, marked."""

    reason: str
    source: str = ""  # where the suppression came from: a config file path, a flag

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "source": self.source}


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    subject: Subject
    message: str
    location: Location = field(default_factory=Location)
    evidence: tuple[Evidence, ...] = ()
    remediation: str = ""
    references: tuple[str, ...] = ()  # CWE-…, AML.T…, LLM0…
    title: str = ""
    component: str = "scan"  # the tool component whose catalogue has ``rule_id``
    suppression: Suppression | None = None

    @property
    def file(self) -> str:
        """The file this finding is in ("" for findings about a model or eval item as a whole)."""
        if self.subject.kind is SubjectKind.FILE:
            return self.subject.name
        return self.subject.file

    @property
    def evidence_text(self) -> str:
        """The textual evidence, joined (what a terminal or a SARIF message shows)."""
        return "; ".join(str(e.value) for e in self.evidence if e.kind == "text")

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": FINDING_SCHEMA,
            "rule_id": self.rule_id,
            "component": self.component,
            "severity": self.severity.value,
            "title": self.title,
            "message": self.message,
            "subject": self.subject.to_dict(),
            "location": self.location.to_dict(),
            "evidence": [e.to_dict() for e in self.evidence],
            "remediation": self.remediation,
            "references": list(self.references),
            "suppression": self.suppression.to_dict() if self.suppression else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        sup = data.get("suppression")
        return cls(
            rule_id=str(data["rule_id"]),
            severity=Severity(data["severity"]),
            subject=Subject.from_dict(data["subject"]),
            message=str(data.get("message", "")),
            location=Location.from_dict(data.get("location") or {}),
            evidence=tuple(Evidence.from_dict(e) for e in data.get("evidence", ())),
            remediation=str(data.get("remediation", "")),
            references=tuple(str(r) for r in data.get("references", ())),
            title=str(data.get("title", "")),
            component=str(data.get("component", "scan")),
            suppression=Suppression(str(sup["reason"]), str(sup.get("source", ""))) if sup else None,
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of a rule catalogue. ``id`` is stable (``WW-<FAMILY>-<NNN>``); ``component`` names the
    catalogue (``scan``, ``integrity``, ``lineage``, ``evals``, ``risk``)."""

    id: str
    severity: Severity
    title: str
    description: str
    remediation: str
    references: tuple[str, ...] = ()
    component: str = "scan"

    @property
    def family(self) -> str:
        return self.id.split("-")[1]

    def finding(
        self,
        subject: Subject | str,
        message: str | None = None,
        *,
        location: Location | None = None,
        evidence: Iterable[Evidence] | str = (),
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of this rule about ``subject`` (a file path when given as a string); ``severity``
        overrides the rule's default for one instance."""
        if isinstance(subject, str):
            subject = file_subject(subject)
        items = text_evidence(evidence) if isinstance(evidence, str) else tuple(evidence)
        return Finding(
            rule_id=self.id,
            severity=severity or self.severity,
            subject=subject,
            message=message or self.title,
            location=location or Location(),
            evidence=items,
            remediation=self.remediation,
            references=self.references,
            title=self.title,
            component=self.component,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "component": self.component,
            "severity": self.severity.value,
            "title": self.title,
            "description": self.description,
            "remediation": self.remediation,
            "references": list(self.references),
        }


@runtime_checkable
class RuleCatalogue(Protocol):
    """What each analysis package publishes: its component name, version and every rule it can raise.

    The report layer lists every catalogue in SARIF (one run per component) and the rule reference."""

    @property
    def component(self) -> str: ...

    @property
    def rules(self) -> Sequence[Rule]: ...


@dataclass(frozen=True, slots=True)
class Catalogue:
    """A plain :class:`RuleCatalogue`: a component name and its rules, looked up by id."""

    component: str
    rules: tuple[Rule, ...]
    description: str = ""

    def __post_init__(self) -> None:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate rule ids in catalogue {self.component}")
        if any(r.component != self.component for r in self.rules):
            raise ValueError(f"a rule of catalogue {self.component} names another component")

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
