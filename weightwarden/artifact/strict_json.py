"""The one strict JSON parser for JSON that someone else wrote and that we act on: signed statements and
bundles, published fingerprints.

Python's ``json`` keeps the *last* copy of a repeated key, other parsers keep the first or fail: a signed
payload ``{"resources": [A], "resources": [B]}`` could then mean A to one verifier and B to another. So a
repeated key is refused, and so are the non-standard constants ``NaN``/``Infinity`` that ``json`` accepts.
(It lives in ``artifact`` because both ``integrity`` and ``lineage`` use it and may not import each other;
``core`` would be its natural home.)
"""

from __future__ import annotations

import json
from typing import Any

from weightwarden.core.errors import InputError

__all__ = ["StrictJSONError", "loads"]


class StrictJSONError(InputError, ValueError):
    """Not JSON, a repeated key, or a non-standard constant; ``reason`` says which."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"non-standard JSON constant {name}")


def loads(data: str | bytes | bytearray) -> Any:
    """``json.loads`` that refuses repeated keys and NaN/Infinity (:class:`StrictJSONError`)."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError(f"not valid JSON: {exc}") from None
