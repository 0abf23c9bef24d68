"""JSON as signed records need it: duplicate keys, NaN/Infinity and absurd nesting are refused.

Two parsers that keep a different one of two duplicate keys read different documents from the same signed
bytes (the "last key wins" of Python's ``json`` is one choice among several), so every signed JSON we parse
goes through :func:`loads_strict`.
"""

from __future__ import annotations

import json
from typing import Any

from weightwarden.core.errors import InputError

MAX_DEPTH = 64


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400 overflows to infinity: not a number JSON can carry
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _lone_surrogate(value: Any, depth: int = 0) -> bool:
    """True when a string (key or value) holds an unpaired UTF-16 surrogate. Parsers disagree on them (some
    replace them with U+FFFD, some refuse them), so two keys that differ only there are a parser differential."""
    if isinstance(value, str):
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v, depth + 1) for v in value)
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


def loads_strict(data: bytes | str, what: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` (UTF-8) or raise :class:`InputError` naming ``what`` and the reason."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    if (text.count("{") + text.count("[")) > max_depth and not _depth_within(text, max_depth):
        raise InputError(f"{what} nests deeper than {max_depth} levels")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                           parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from None
    if "\\u" in text and _lone_surrogate(value):
        raise InputError(f"{what} holds an unpaired UTF-16 surrogate escape")
    return value


def dumps_canonical(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces, non-ASCII as ``\\u`` escapes): the same record always
    signs the same, and text a model supplied cannot make the encoding fail."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()
