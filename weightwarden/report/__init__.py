"""The one report layer: render any record in any format.

Usage::

    from weightwarden.report import render
    text = render(scan_report, "sarif")        # text, json, sarif, html for a scan report
    page = render(audit, "html")               # text, json, sarif, html, cyclonedx, intoto, model-card

Each format is a module with ``render(record, ...) -> str``, imported on demand so that the JSON and SARIF
paths never import rich. ``json`` works for any record with a versioned ``to_dict()``; ``sarif`` for a scan
report, an analysis, several analyses or an audit (one run per component); the others for an audit.
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


def render(record: Any, fmt: str, **options: Any) -> str:
    """Render ``record`` in ``fmt``; a ValueError names the formats the record has."""
    formats = AUDIT_FORMATS if _is_audit(record) else FORMATS
    if fmt not in formats:
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(formats)}")
    module = importlib.import_module(f"weightwarden.report.{formats[fmt]}")
    return module.render(record, **options)


def _is_audit(record: Any) -> bool:
    from weightwarden.audit.record import Audit

    return isinstance(record, Audit)


__all__ = ["AUDIT_FORMATS", "FORMATS", "render"]
