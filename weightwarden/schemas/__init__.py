"""Published JSON Schemas of weightwarden's records, shipped as package data.

One file per record and version (``finding.v2.json``, ``scan-report.v2.json``, ...); each declares an
``$id`` of the form ``urn:weightwarden:schema:<record>:<version>`` and refers to the others by that id.
:func:`registry` gives consumers (and our tests) a ``referencing`` registry holding all of them, so a record
is validated with ``jsonschema.Draft202012Validator(load(name), registry=registry())``.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def names() -> list[str]:
    """The schema files shipped, e.g. ``["finding.v2.json", "scan-report.v2.json"]``."""
    return sorted(p.name for p in resources.files(__name__).iterdir() if p.name.endswith(".json"))


def load(name: str) -> dict[str, Any]:
    """One published schema as a dict."""
    return json.loads(resources.files(__name__).joinpath(name).read_text(encoding="utf-8"))


def registry() -> Any:
    """A ``referencing.Registry`` with every published schema under its ``$id`` (needs ``jsonschema``)."""
    from referencing import Registry, Resource

    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in (load(n) for n in names())
    )


def validate(record: dict[str, Any], name: str) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``record`` matches the schema ``name``."""
    import jsonschema

    jsonschema.Draft202012Validator(load(name), registry=registry()).validate(record)
