"""The one strict JSON parser for JSON someone else wrote and we act on: signed statements, bundles and
attestations, published fingerprints, log files.

Two parsers that keep a different one of two duplicate keys read different documents from the same signed
bytes (Python's ``json`` keeps the last copy, others the first or fail), so a repeated key is refused; so are
the non-standard constants ``NaN``/``Infinity``, numbers that overflow to infinity (``1e400``), unpaired
UTF-16 surrogate escapes (some parsers replace them with U+FFFD, so two keys differing only there would be
one key elsewhere) and absurd nesting.
"""

from __future__ import annotations

import json
from typing import Any

from weightwarden.core.errors import InputError

__all__ = ["MAX_DEPTH", "StrictJSONError", "dumps_canonical", "loads", "loads_strict"]

MAX_DEPTH = 64


class StrictJSONError(InputError, ValueError):
    """Not JSON, or JSON that parsers read differently; ``reason`` says which."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise StrictJSONError(f"number {text[:40]} is out of range")
    return value


def _lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v) for v in value)
    return False


def _depth_within(text: str, limit: int) -> bool:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return False
        elif ch in "}]":
            depth -= 1
    return True


# What json.loads(text, object_pairs_hook=..., parse_constant=..., parse_float=...) builds on every call,
# built once (a registry worker parses every signed write with it); it keeps no state between documents.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite_float)


def loads(data: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses what parsers disagree on (:class:`StrictJSONError`)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not UTF-8 text (byte {exc.start})") from None
    if (text.count("{") + text.count("[")) > max_depth and not _depth_within(text, max_depth):
        raise StrictJSONError(f"nests deeper than {max_depth} levels")
    if text.startswith("\ufeff"):  # as json.loads refuses it (the decoder object below does not check)
        raise StrictJSONError("not valid JSON: Unexpected UTF-8 BOM")
    try:
        value = _DECODER.decode(text)
    except StrictJSONError:
        raise
    except (ValueError, RecursionError) as exc:
        raise StrictJSONError(f"not valid JSON: {exc}") from None
    if "\\u" in text and _lone_surrogate(value):
        raise StrictJSONError("holds an unpaired UTF-16 surrogate escape")
    return value


def loads_strict(data: bytes | str, what: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """:func:`loads`, with an error whose reason names ``what`` was being read."""
    try:
        return loads(data, max_depth=max_depth)
    except StrictJSONError as exc:
        raise StrictJSONError(f"{what}: {exc.reason}") from None


def dumps_canonical(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces, non-ASCII as ``\\u`` escapes): the same record always
    signs the same, and text a model supplied cannot make the encoding fail."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()
