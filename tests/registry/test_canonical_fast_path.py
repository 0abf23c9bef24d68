"""``entries.canonical``'s fast path (the C JSON encoder) gives exactly what ``rfc8785`` gives, and the server's
canonical-form check accepts and refuses exactly the same bodies (issue 13, load)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("rfc8785")
import contextlib

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from weightwarden.registry import entries  # noqa: E402

# Keys and strings: ASCII (the fast path), control characters (escapes), non-ASCII and astral characters
# (where UTF-16 and code point order differ: the rfc8785 path).
_text = st.one_of(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=8),
                  st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
                  st.sampled_from(["\ue000", "\U0001f600", "a\U0001f600", "\x7f", "\u2028", "\\", '"', "\x00"]))
_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**60), max_value=2**60),
                    st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53), 0]),
                    st.floats(allow_nan=False, allow_infinity=False), _text)
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(_text, inner, max_size=4)), max_leaves=12)


def _slow(obj: Any, raw: bytes) -> bool | str:
    """What the server decided before the fast path: rfc8785 alone (an error is a refusal with a reason)."""
    try:
        return entries.canonical(obj) == raw
    except entries.EntryError:
        return "refused"


def _fast(obj: Any, raw: bytes) -> bool | str:
    try:
        return entries.canonical(obj) == raw
    except entries.EntryError:
        return "refused"


def _reference(obj: Any) -> bytes | str:
    import rfc8785

    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError):
        return "refused"


def _ours(obj: Any) -> bytes | str:
    try:
        return entries.canonical(obj)
    except entries.EntryError:
        return "refused"


@settings(max_examples=400, deadline=None)
@given(_json)
def test_canonical_is_rfc8785(obj: Any) -> None:
    assert _ours(obj) == _reference(obj)


@pytest.mark.parametrize("obj", [{1: "a"}, {"a": (1, 2)}, {"a": 2**53}, {"a": -(2**53)}, {"a": 1.5}, {"a": float("nan")},
                                 {"\U0001f600": 1, "\ue000": 2}, {"a": "\ud800"}, [True, False, None, 0]])
def test_canonical_edge_values(obj: Any) -> None:
    assert _ours(obj) == _reference(obj)


def test_canonical_refuses_a_cycle() -> None:
    loop: dict[str, Any] = {}
    loop["a"] = loop
    assert _ours(loop) == "refused"


def _candidates(obj: Any) -> list[bytes]:
    """Byte strings a client might send for ``obj``: the canonical form and near misses."""
    out = []
    with contextlib.suppress(entries.EntryError):
        out.append(entries.canonical(obj))
    for kwargs in ({"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False},
                   {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": True},
                   {"sort_keys": False, "separators": (",", ":"), "ensure_ascii": False},
                   {"sort_keys": True}):
        with contextlib.suppress(UnicodeEncodeError, ValueError):
            out.append(json.dumps(obj, **kwargs).encode("utf-8"))
    return out


@settings(max_examples=400, deadline=None)
@given(_json)
def test_fast_check_agrees_with_rfc8785(obj: Any) -> None:
    for raw in _candidates(obj):
        decoded = json.loads(raw)  # what the server compares: the object decoded from the bytes sent
        assert _fast(decoded, raw) == _slow(decoded, raw), raw


@pytest.mark.parametrize("raw", [
    b'{"a":1,"b":2}',
    b'{"b":2,"a":1}',  # key order
    b'{"a":1.0}',  # a float RFC 8785 prints as 1
    b'{"a":9007199254740993}',  # beyond 2^53: rfc8785 refuses
    b'{"a":"\\u00e9"}',  # an escape RFC 8785 would not write
    b'{"a":"\xc3\xa9"}',  # non-ASCII, canonical
    b'{"\xee\x80\x80":1,"\xf0\x9f\x98\x80":2}',  # UTF-16 order differs from code point order
    b'{"\xf0\x9f\x98\x80":2,"\xee\x80\x80":1}',
    b'{"a":"\\u001f\\n"}',
    b'{"a":-0}',
])
def test_fast_check_edge_cases(raw: bytes) -> None:
    obj = json.loads(raw)
    assert _fast(obj, raw) == _slow(obj, raw)
