"""Issue 13, fourth load pass: the answer of ``POST /entries``, the logged entry's bytes and the note-text check
are produced more cheaply, and each is byte-for-byte (or verdict-for-verdict) what the plain definition gives."""

from __future__ import annotations

import base64
import os

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from weightwarden.registry.entries import Body, LogEntry, canonical
from weightwarden.registry.note import NoteError, check_note_text
from weightwarden.registry.server import _json_bytes, appended_bytes
from weightwarden.registry.store import Appended

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, 2**62), size=st.integers(1, 2**62), proof=st.integers(0, 64), text=_TEXT)
def test_appended_answer_is_json_of_the_dict(index: int, size: int, proof: int, text: str) -> None:
    result = Appended(index, size, text.encode("utf-8"), tuple(os.urandom(32) for _ in range(proof)))
    expected = _json_bytes({"index": index, "tree_size": size, "checkpoint": text,
                            "inclusion_proof": [base64.b64encode(h).decode("ascii") for h in result.proof]})
    assert appended_bytes(result, _json_bytes(text)) == expected


def _old_note_check(decoded: str) -> bool:
    # the per-character rule check_note_text applied before (True: a control character is present)
    return any((ord(ch) < 0x20 and ch != "\n") or ord(ch) == 0x7F for ch in decoded)


def test_note_control_characters_as_before() -> None:
    # every code point (surrogates cannot be UTF-8), in one note text each
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        text = "origin\n" + chr(code) + "x\n"
        if _old_note_check(text):
            with pytest.raises(NoteError):
                check_note_text(text.encode("utf-8"))
        else:
            assert check_note_text(text.encode("utf-8")) == text


@settings(max_examples=200, deadline=None)
@given(path=_TEXT, ts=st.integers(0, 10**12 - 1), nonce=st.text("0123456789abcdef", min_size=32, max_size=64),
       method=st.sampled_from(["POST", "post"]), key_id=st.text("0123456789abcdef", min_size=64, max_size=64))
def test_logged_entry_bytes_are_rfc8785_of_the_entry(path: str, ts: int, nonce: str, method: str,
                                                     key_id: str) -> None:
    data = {"schema": "weightwarden.registry.release/v1", "model": "acme/x", "version": 1, "note": path}
    body = Body("release", ("acme/x",), data, canonical(data))
    entry = LogEntry(body, key_id, os.urandom(32), method, "/entries" + path, ts, nonce, os.urandom(64))
    assert entry.to_bytes() == rfc8785.dumps(entry.to_dict())
