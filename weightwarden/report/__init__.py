"""Renderers of scan reports: human text (rich), JSON (published schema) and SARIF 2.1.0.

Usage::

    from weightwarden.report import render
    text = render(report, "sarif")          # or "json", "text"

Each renderer is a module with ``render(report, ...) -> str``; they are imported on demand so that the
JSON and SARIF paths never import rich.
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = {"text": "text", "json": "json_report", "sarif": "sarif"}


def render(report: Any, fmt: str, **options: Any) -> str:
    """Render ``report`` (a ScanReport) in ``fmt`` (text, json or sarif)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
    module = importlib.import_module(f"weightwarden.report.{FORMATS[fmt]}")
    return module.render(report, **options)


__all__ = ["FORMATS", "render"]
