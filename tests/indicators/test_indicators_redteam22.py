"""Red team round 22a on indicators (docs/decisions.md): ``psi serve --members`` told an unauthenticated peer the
server's key id (in the key-id mismatch text) and its set size (in the server hello) before any member check.
With a member list the server now answers a hello with a challenge only and says nothing about its set before the
peer signed that challenge with a listed member key; the session's own signature must come from the same member.
Real sockets on 127.0.0.1, a raw client that speaks the frames as an attacker would."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.indicators.test_indicators_psi import _serve
from weightwarden.indicators import psi
from weightwarden.indicators.derive import build_set, prompt_indicator
from weightwarden.indicators.errors import PsiError
from weightwarden.indicators.members import generate_member_key


def _set(sketcher, lo: int, hi: int):
    return build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n}") for n in range(lo, hi)])


def _frame(data: dict[str, Any]) -> bytes:
    payload = json.dumps(data).encode()
    return struct.pack(">I", len(payload)) + payload


def _read(sock: socket.socket) -> dict[str, Any]:
    head = b""
    while len(head) < 4:
        head += sock.recv(4 - len(head))
    (size,) = struct.unpack(">I", head)
    body = b""
    while len(body) < size:
        body += sock.recv(size - len(body))
    return json.loads(body)


@pytest.mark.parametrize("key_id", ["0000000000000000", "own"])
def test_a_non_member_learns_nothing_about_the_set(sketcher, tmp_path: Path, key_id: str):
    """The PoC's raw hello (10 items, the default scheme digest), with a wrong key id and with the server's own:
    the first answer carries only a challenge; a bogus signature gets the fixed refusal, no key id, no size."""
    alice = generate_member_key("alice", tmp_path / "alice.key")
    server_set = _set(sketcher, 6, 40)
    thread, box = _serve(server_set, members={"alice": alice._private.public_key()})
    hello = {"protocol": psi.PROTOCOL, "items": 10, "scheme": psi.scheme_digest(server_set),
             "key_id": server_set.scheme.key_id if key_id == "own" else key_id}
    with socket.create_connection(("127.0.0.1", box["port"]), timeout=30) as sock:
        sock.sendall(_frame(hello))
        first = _read(sock)
        assert set(first) == {"protocol", "members_first", "challenge"}, first
        sock.sendall(_frame({"member": "alice", "signature": "00" * 64}))
        refusal = _read(sock)
    thread.join(30)
    assert refusal == {"protocol": psi.PROTOCOL, "error": psi.REFUSED_AUTH}
    said = json.dumps([{k: v for k, v in first.items() if k != "challenge"}, refusal])  # the challenge is random hex
    assert server_set.scheme.key_id not in said and "40" not in said and "34" not in said
    assert isinstance(box.get("error"), PsiError)


def test_a_client_without_a_member_key_is_told_to_sign(sketcher, tmp_path: Path):
    alice = generate_member_key("alice", tmp_path / "alice.key")
    thread, box = _serve(_set(sketcher, 6, 40), members={"alice": alice._private.public_key()})
    with pytest.raises(PsiError, match="members only"):
        psi.connect(_set(sketcher, 0, 12), port=box["port"], timeout=30)
    thread.join(30)


def test_a_member_counts_and_the_session_must_be_signed_by_the_same_member(sketcher, tmp_path: Path, monkeypatch):
    alice = generate_member_key("alice", tmp_path / "alice.key")
    bob = generate_member_key("bob", tmp_path / "bob.key")
    members = {"alice": alice._private.public_key(), "bob": bob._private.public_key()}
    thread, box = _serve(_set(sketcher, 6, 40), members=members)
    assert psi.connect(_set(sketcher, 0, 12), port=box["port"], timeout=30, member=alice).cardinality == 6
    thread.join(30)
    assert box["result"].cardinality is None  # the client keeps the count by default

    # alice authenticates first, then the session signature is bob's: refused
    real_digest = psi._members_first_digest
    signer = {"first": True}

    class Switching:
        name = "alice"

        def sign(self, message: bytes) -> str:
            key = alice if signer["first"] else bob
            signer["first"] = False
            self.name = "bob"
            return key.sign(message)

    monkeypatch.setattr(psi, "_members_first_digest", real_digest)
    thread, box = _serve(_set(sketcher, 6, 40), members=members)
    with pytest.raises(PsiError, match="not authenticated"):
        psi.connect(_set(sketcher, 0, 12), port=box["port"], timeout=30, member=Switching())
    thread.join(30)
    assert "authenticating as 'alice'" in box["error"].reason
