"""The one report layer: render any record in any format.

Usage::

    from weightwarden.report import render
    text = render(scan_report, "sarif")        # text, json, sarif, html for a scan report
    page = render(audit, "html")               # text, json, sarif, html, cyclonedx, intoto, model-card

Each format is a module with ``render(record, ...) -> str``, imported on demand so that the JSON and SARIF
paths never import rich. ``json`` works for any record with a versioned ``to_dict()``; ``sarif`` and ``html``
for a scan report, an analysis, several analyses or an audit (one SARIF run per component); ``text`` for an
audit, a scan report, a verification report, a diff or a lineage report; the others for an audit.
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = {"text": "text", "json": "json_report", "sarif": "sarif", "html": "html"}
AUDIT_FORMATS = {
    "text": "audit_text",
    "json": "json_report",
    "sarif": "sarif",
    "html": "html",
    "cyclonedx": "cyclonedx",
    "intoto": "intoto",
    "model-card": "model_card",
}


# Text renderers of the analyses' own records, by the record's class name (imported only when used).
TEXT_BY_RECORD = {
    "VerificationReport": "verification_text",
    "ModelDiff": "diff_text",
    "LineageReport": "lineage_text",
}


def render(record: Any, fmt: str, **options: Any) -> str:
    """Render ``record`` in ``fmt``; a ValueError names the formats the record has."""
    formats = AUDIT_FORMATS if _is_audit(record) else FORMATS
    if fmt == "text" and type(record).__name__ in TEXT_BY_RECORD:
        formats = {"text": TEXT_BY_RECORD[type(record).__name__]}
    if fmt not in formats:
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(formats)}")
    module = importlib.import_module(f"weightwarden.report.{formats[fmt]}")
    return module.render(record, **options)


def _is_audit(record: Any) -> bool:
    from weightwarden.audit.record import Audit

    return isinstance(record, Audit)


__all__ = ["AUDIT_FORMATS", "FORMATS", "TEXT_BY_RECORD", "render"]
