"""The scan's own result record: :class:`ScanReport` gathers the findings of a scan (core
:class:`~weightwarden.core.findings.Finding` records), the files that could not be scanned (never silently
skipped, :class:`ScanError`), and counts, with a versioned JSON form (``schemas/scan-report.v2.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from weightwarden.core.findings import Finding, Severity, max_severity

REPORT_SCHEMA = "weightwarden.scan-report/v2"


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
        """The highest severity of the findings that are not suppressed."""
        return max_severity(self.findings)

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
