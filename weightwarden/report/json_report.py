"""JSON rendering of a scan report: ``ScanReport.to_dict()``, validated by ``schemas/scan-report.v1.json``.

Usage: ``render(report)`` returns the JSON text; :func:`schema` returns the published JSON Schema
(draft 2020-12) as a dict, for consumers that validate what they read.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from weightwarden.scan.findings import ScanReport

SCHEMA_RESOURCE = "scan-report.v1.json"


def render(report: ScanReport, *, indent: int | None = 2) -> str:
    return json.dumps(report.to_dict(), indent=indent, ensure_ascii=False) + "\n"


def schema() -> dict[str, Any]:
    """The published JSON Schema of the report."""
    text = resources.files("weightwarden.schemas").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)
