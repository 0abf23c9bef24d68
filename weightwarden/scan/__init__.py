"""Turn model files into findings: a catalogue of rules over what the artifact layer reads.

Usage::

    from weightwarden.scan import scan_paths, Severity
    report = scan_paths(["model_dir", "other.ckpt"], strict=False, workers=None)
    worst = report.max_severity()
    print(report.to_dict())  # JSON form, schema weightwarden/schemas/scan-report.v1.json

:func:`scan_paths` is the entry point; :mod:`weightwarden.scan.rules` holds the catalogue (one module per
family) and :mod:`weightwarden.scan.templates` the static analysis of chat templates.
"""

from weightwarden.scan.engine import scan_file, scan_paths
from weightwarden.scan.findings import FINDING_SCHEMA, REPORT_SCHEMA, Finding, ScanError, ScanReport, Severity

__all__ = [
    "FINDING_SCHEMA",
    "REPORT_SCHEMA",
    "Finding",
    "ScanError",
    "ScanReport",
    "Severity",
    "scan_file",
    "scan_paths",
]
