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
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from None


def dumps_canonical(value: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces, UTF-8): the same record always signs the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
