"""JSON nesting depth, measured before any ``json.loads`` of attacker text (red team round 29).

On CPython 3.11 the C JSON decoder counts against the *Python* recursion limit, so how deep a document may be
nested before ``json.loads`` raises RecursionError depends on how deep the caller's stack already is. The
scanner parses ~20 frames deeper than a victim's ``json.loads``, so a Keras config padded with ~980 levels of
nesting (a key Keras ignores) failed in the scanner only, and that failure was read as "malformed" or "text":
the config was never analysed while the loader built it (and ran its TorchModuleWrapper).

The class fix: every JSON parse of input first measures the nesting depth here, iteratively and in linear time,
and anything deeper than :data:`MAX_JSON_DEPTH` is never handed to ``json.loads``: it is reported as too deep to
analyse (WW-GEN-001, high). So the parser's stack can no longer decide what is analysed, whatever the caller's
stack depth or Python version. A RecursionError or MemoryError that still happens is a :class:`ParseLimit` too:
a failure of the scanner's own resources, never a defect of the input.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# The structural bound of the Keras config walk (keras_config.MAX_DEPTH; a test keeps the two equal). Far below
# what json.loads survives from any stack depth the scanner reaches, far above any real config or tokenizer.
MAX_JSON_DEPTH = 256

# A JSON string once its escaped backslashes and escaped quotes are gone: no quote inside.
_STRING = re.compile(rb'"[^"]*"')
_NOT_KEPT = bytes(b for b in range(256) if b not in b'"[]{}')
# Opening brackets to +1, closing to -1 (as signed bytes), for a running sum in C.
_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
# Running sums up to this many brackets are taken in Python: cheaper than importing numpy for them.
_PURE_PYTHON_SIGNS = 1 << 16


class ParseLimit(str):
    """A parse problem that is the scanner's own limit (nesting past :data:`MAX_JSON_DEPTH`, a RecursionError or
    MemoryError of the parser), not a defect of the input. It is a ``str`` so it reads as a problem text where
    one is expected; callers test ``isinstance(problem, ParseLimit)`` and report it as too deep or too large to
    analyse (WW-GEN-001, high), never as malformed input, plain text, or nothing."""


def _json_text(raw: bytes) -> bytes | None:
    """``raw`` as UTF-8 bytes decoded exactly as ``json.loads(bytes)`` decodes it (red team round 30): the encoding
    :func:`json.detect_encoding` names, with ``surrogatepass`` (a lone surrogate is valid to json.loads in every
    encoding). UTF-8, with or without a BOM, is measured as it is: no byte of a multi-byte UTF-8 sequence (an encoded
    surrogate included) is a quote, backslash or bracket, and the BOM holds none. None when the text does not
    decode: then nothing is measured, never the raw UTF-16/32 bytes, whose code units can carry a bracket or quote
    byte (U+5D00, U+2200) and whose escaped quote is no ``\\"`` byte pair."""
    encoding = json.detect_encoding(raw)
    if encoding in ("utf-8", "utf-8-sig"):
        return raw
    try:
        return raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except (UnicodeError, LookupError):
        return None


def _brackets(data: bytes | str, stop: int) -> bytes | ParseLimit | None:
    """The brackets of ``data`` outside string literals, in order; None when too few to nest deeper than ``stop``.

    Linear and iterative: escaped backslashes and escaped quotes are dropped first (a backslash pair consumes left
    to right, as in a JSON string; valid JSON has no backslash outside strings), then every string literal, then
    all but the brackets. Bytes are decoded as ``json.loads(bytes)`` decodes them (:func:`_json_text`); in UTF-8 no
    byte of a multi-byte character is a quote, backslash or bracket. A :class:`ParseLimit` when bytes with enough
    bracket bytes to be too deep do not decode: the depth cannot be measured, which is the scanner's limit (fail
    closed, high), never a verdict of "invalid input"."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Every bracket of the decoded text is a bracket byte of the raw text, so few bracket bytes need no decoding.
    if raw.count(b"[") + raw.count(b"{") <= stop:
        return None  # too few brackets to be deeper than stop: no full pass
    if not isinstance(data, str):
        text = _json_text(raw)
        if text is None:
            return ParseLimit(f"JSON text that does not decode as json.loads decodes it "
                              f"({json.detect_encoding(raw)}, surrogatepass) with over {stop} brackets: its nesting "
                              "could not be measured, too deep to analyse")
        raw = text
        if raw.count(b"[") + raw.count(b"{") <= stop:
            return None
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Quotes now alternate opening and closing. Keep quotes and brackets only; then two adjacent quotes enclose no
    # bracket (an empty-looking string, or a closing and the next opening quote with no bracket between): dropping
    # them changes no depth and, done in C, leaves only the few strings that hold brackets for the pattern.
    kept = raw.translate(None, _NOT_KEPT).replace(b'""', b"")
    brackets = (_STRING.sub(b"", kept) if b'"' in kept else kept).translate(None, b'"')
    return brackets if brackets.count(b"[") + brackets.count(b"{") > stop else None


def _running(signs: bytes) -> tuple[int, int]:
    """(max, min) of the running sum of the signed bytes ``signs``. Up to :data:`_PURE_PYTHON_SIGNS` brackets in
    pure Python (~20 ms at most; numpy's import alone costs ~0.1 s, more than summing
    them), beyond that a cumulative sum in numpy (a core dependency), so 16 MB of brackets costs tens of
    milliseconds, not a Python step per bracket."""
    if not signs:
        return 0, 0
    if len(signs) <= _PURE_PYTHON_SIGNS:
        deepest = lowest = depth = 0
        for depth in accumulate(memoryview(signs).cast("b")):
            if depth > deepest:
                deepest = depth
            elif depth < lowest:
                lowest = depth
        return deepest, lowest
    import numpy as np

    # int32 holds any depth of an input under 2 GiB (the parse bounds are MiBs); summed in place, one allocation
    sums = np.frombuffer(signs, dtype=np.int8).astype(np.int32)
    np.cumsum(sums, out=sums)
    return max(int(sums.max()), 0), min(int(sums.min()), 0)


def json_depth(data: bytes | str, stop: int = MAX_JSON_DEPTH) -> int:
    """A number over ``stop`` exactly when the JSON text ``data`` is nested deeper than ``stop`` (brackets outside
    string literals: the maximum of their running sum), some number at most ``stop`` otherwise. Text that is no
    JSON gives some depth too (see :func:`depth_problem`, which tells the two apart)."""
    brackets = _brackets(data, stop)
    if isinstance(brackets, ParseLimit):
        return stop + 1  # not measurable: taken as too deep (fail closed)
    return 0 if brackets is None else _running(brackets.translate(_SIGNS))[0]


def depth_problem(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``data`` must not reach json.loads, or None. A :class:`ParseLimit` when it is nested deeper than
    ``limit``; a plain problem ("invalid JSON ...") when it would be that deep but its brackets do not nest (each
    kind balanced, no prefix closing more than it opened): such text is JSON to no parser (in valid JSON the
    brackets outside strings nest exactly), and a vocabulary or prose full of ``{{`` is not taken for a deep
    document. Never calls json.loads, so its answer does not depend on the caller's stack."""
    brackets = _brackets(data, limit)
    if brackets is None or isinstance(brackets, ParseLimit):
        return brackets
    deepest, lowest = _running(brackets.translate(_SIGNS))
    if deepest <= limit:
        return None
    square = brackets.translate(None, b"{}").translate(_SIGNS)
    curly = brackets.translate(None, b"[]").translate(_SIGNS)
    if (lowest < 0 or square.count(b"\x01") != square.count(b"\xff") or curly.count(b"\x01") != curly.count(b"\xff")
            or _running(square)[1] < 0 or _running(curly)[1] < 0):
        return f"invalid JSON: its brackets do not nest (over {limit} open at once)"
    return ParseLimit(f"JSON nested deeper than {limit}: too deep to analyse (json.loads not attempted)")


def too_deep(data: bytes | str, limit: int = MAX_JSON_DEPTH) -> ParseLimit | None:
    """A :class:`ParseLimit` when ``data`` is well-nested JSON text deeper than ``limit`` (see :func:`depth_problem`)."""
    problem = depth_problem(data, limit)
    return problem if isinstance(problem, ParseLimit) else None


def loads_checked(data: bytes | str, **kwargs: Any) -> tuple[Any, ParseLimit | None]:
    """``json.loads(data, **kwargs)`` behind the depth check: ``(value, None)``, or ``(None, limit)`` when the text
    is too deep or the parser ran out of stack or memory. ValueError (invalid JSON, including brackets that do not
    nest) propagates as from json.loads: that one is a property of the input."""
    problem = depth_problem(data)
    if isinstance(problem, ParseLimit):
        return None, problem
    if problem is not None:
        raise ValueError(problem)
    try:
        return json.loads(data, **kwargs), None
    except RecursionError:
        return None, ParseLimit("JSON parser ran out of stack: too deep to analyse")
    except MemoryError:
        return None, ParseLimit("JSON parser ran out of memory: too large to analyse")


__all__ = ["MAX_JSON_DEPTH", "ParseLimit", "depth_problem", "json_depth", "loads_checked", "too_deep"]
