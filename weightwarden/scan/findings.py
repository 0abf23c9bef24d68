"""Findings: what the scanner reports, as records with a versioned JSON form.

A :class:`Finding` says which rule fired, how severe it is, where exactly (file and location inside it),
what was seen (evidence), and how to fix it. A :class:`ScanReport` gathers the findings of a scan, the
files that could not be scanned (never silently skipped), and counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

FINDING_SCHEMA = "weightwarden.finding/v1"
REPORT_SCHEMA = "weightwarden.scan-report/v1"


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


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    file: str
    location: str
    message: str
    evidence: str = ""
    remediation: str = ""
    references: tuple[str, ...] = ()
    title: str = ""
    offset: int | None = None  # byte offset of the evidence in the file or member ``location`` names

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["references"] = list(self.references)
        return {"schema": FINDING_SCHEMA, **data}


@dataclass(frozen=True, slots=True)
class ScanError:
    """A file (or part of one) that could not be scanned, and why."""

    file: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "reason": self.reason}


@dataclass(slots=True)
class ScanReport:
    targets: list[str]
    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    files_scanned: int = 0
    formats: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    strict: bool = False

    def max_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "tool": {"name": "weightwarden", "version": _version()},
            "targets": self.targets,
            "strict": self.strict,
            "files_scanned": self.files_scanned,
            "formats": dict(sorted(self.formats.items())),
            "duration_s": round(self.duration_s, 4),
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
        }


def _version() -> str:
    from weightwarden import __version__

    return __version__
