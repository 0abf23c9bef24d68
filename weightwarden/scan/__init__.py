"""Turn model files into findings: a catalogue of rules over what the artifact layer reads.

Usage::

    from weightwarden.scan import scan_paths, Severity
    report = scan_paths(["model_dir", "other.ckpt"], strict=False, workers=None)
    worst = report.max_severity()
    print(report.to_dict())  # JSON form, schema weightwarden/schemas/scan-report.v2.json

:func:`scan_paths` is the entry point; :mod:`weightwarden.scan.rules` holds the catalogue (one module per
family) and :mod:`weightwarden.scan.templates` the static analysis of chat templates.
"""

from collections.abc import Sequence

from weightwarden.core.findings import FINDING_SCHEMA, Finding, Severity
from weightwarden.core.records import Analysis
from weightwarden.scan.engine import scan_file, scan_paths
from weightwarden.scan.results import REPORT_SCHEMA, ScanError, ScanReport


def as_analysis(report: ScanReport) -> Analysis[ScanReport]:
    """A finished scan in the shared evidence model: the report and its findings, with the catalogue. A file
    that could not be scanned is a finding too (``WW-GEN-003``, high): what could not be read is not clean."""
    from weightwarden.scan.rules import CATALOGUE
    from weightwarden.scan.rules.generic import UNREADABLE

    unread = [UNREADABLE.found_in(e.file, "", f"could not be scanned: {e.reason}") for e in report.errors]
    return Analysis("scan", report, (*report.findings, *unread), CATALOGUE)


def analyse(paths: Sequence[str], *, strict: bool = False, workers: int | None = None) -> Analysis[ScanReport]:
    """Scan ``paths`` and return the report with the findings it implies (the package's one entry point
    for the layers above: risk, audit, report)."""
    return as_analysis(scan_paths(list(paths), strict=strict, workers=workers))


__all__ = [
    "analyse",
    "as_analysis",
    "FINDING_SCHEMA",
    "REPORT_SCHEMA",
    "Finding",
    "ScanError",
    "ScanReport",
    "Severity",
    "scan_file",
    "scan_paths",
]
