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
    return dumps(record.to_dict(), indent=indent) + "\n"


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """``json.dumps(data, indent=indent, ensure_ascii=True)``, the same text.

    With an indent, ``json`` encodes in pure Python through a chain of generators (a whole-corpus report of
    ~330 KB took ~6.5 ms, compact C encoding ~1.7 ms). :func:`_indented` writes the same text by direct
    recursion over the types ``to_dict`` produces (dict with str keys, list, tuple, str, int, float, bool,
    None), with the C string encoder; anything else (another key or value type, a cycle, a structure nested
    past the recursion limit) is left to ``json.dumps``, which then writes or raises what it always did."""
    if isinstance(indent, int) and not isinstance(indent, bool) and indent >= 0:
        chunks: list[str] = []
        try:
            _indented(data, chunks, "\n", " " * indent)
        except (_NotPlain, RecursionError):
            pass
        else:
            return "".join(chunks)
    return json.dumps(data, indent=indent, ensure_ascii=True)


class _NotPlain(Exception):
    """A value :func:`_indented` does not write itself: ``json.dumps`` does."""


_ENCODE = json.encoder.encode_basestring_ascii  # the C encoder when available, as json.dumps uses
_INFINITY = float("inf")


def _float(value: float) -> str:
    # json's floatstr with allow_nan=True
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _indented(value: Any, out: list[str], newline: str, step: str) -> None:
    """Append ``value``'s JSON to ``out``; ``newline``: a newline and the indentation of the current level.
    The checks come in json's own order (str, None, True, False, int, float, list/tuple, dict)."""
    if isinstance(value, str):
        out.append(_ENCODE(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        inner = newline + step
        out.append("[")
        first = True
        for item in value:
            out.append(inner if first else "," + inner)
            first = False
            _indented(item, out, inner, step)
        out.append(newline + "]")
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + step
        out.append("{")
        first = True
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotPlain  # json converts numbers, bools and None to keys, or raises: left to it
            out.append((inner if first else "," + inner) + _ENCODE(key) + ": ")
            first = False
            _indented(item, out, inner, step)
        out.append(newline + "}")
    else:
        raise _NotPlain


def schema() -> dict[str, Any]:
    """The published JSON Schema of the report."""
    return schemas.load(SCHEMA_RESOURCE)
