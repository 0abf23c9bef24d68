"""JSON rendering of any record: its ``to_dict()``, validated by the published schema it names.

Usage: ``render(record)`` returns the JSON text; :func:`schema` returns the published JSON Schema of the scan
report (draft 2020-12) as a dict; :mod:`weightwarden.schemas` has every record's schema.
"""

from __future__ import annotations

import json
from typing import Any

from weightwarden import schemas

SCHEMA_RESOURCE = "scan-report.v2.json"


def render(record: Any, *, indent: int | None = 2) -> str:
    """``record.to_dict()`` as JSON text (a record is any object with a versioned ``to_dict``)."""
    return json.dumps(record.to_dict(), indent=indent, ensure_ascii=True) + "\n"


def schema() -> dict[str, Any]:
    """The published JSON Schema of the report."""
    return schemas.load(SCHEMA_RESOURCE)
