"""C2SP signed notes and tlog checkpoints, checked against vectors published by implementations we did not
write: the C2SP spec's own example, golang.org/x/mod/sumdb/note (note_test.go) and transparency-dev/formats
(log/note_test.go, witness/witness_test.go), including a real checkpoint of the Go checksum database."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightwarden.core.errors import WeightwardenError
from weightwarden.registry.note import (
    ALG_ED25519,
    Checkpoint,
    CheckpointSigner,
    NoteError,
    NoteSigner,
    NoteVerifier,
    key_id,
    open_checkpoint,
    open_note,
    parse_note,
    sign_note,
)

# --- vectors --------------------------------------------------------------------------------------------
# c2sp.org/signed-note, "Verifier keys / Example".
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
).encode()

# golang.org/x/mod/sumdb/note note_test.go (TestNewSigner, TestSign, TestOpen).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_TEXT = b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# transparency-dev/formats log/note_test.go and witness/witness_test.go: key pairs made by Go tools.
GO_KEY_PAIRS = [
    ("PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
     "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs"),
    ("PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
     "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH"),
    ("PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
     "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj"),
    ("PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
     "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots"),
    ("PRIVATE+KEY+Wit1+55ee4561+AeadRiG7XM4XiieCHzD8lxysXMwcViy5nYsoXURWGrlE",
     "Wit1+55ee4561+AVhZSmQj9+SoL+p/nN0Hh76xXmF7QcHfytUrI1XfSClk"),
    (PETER_SKEY, PETER_VKEY),
]

# A real checkpoint of the Go checksum database with its published verifier key
# (transparency-dev/formats log/note_test.go TestSumDBNoteParsing).
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n"
    "— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
).encode()


def test_c2sp_spec_example_verifies() -> None:
    verifier = NoteVerifier.from_vkey(C2SP_VKEY)
    note, verified = open_note(C2SP_NOTE, [verifier])
    assert note.text == b"This is an example message.\n"
    assert [s.name for s in verified] == ["example.com/foo"]
    assert verifier.vkey() == C2SP_VKEY


def test_go_sumdb_note_signature_is_reproduced_byte_for_byte() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    assert signer.verifier().vkey() == PETER_VKEY
    assert signer.skey() == PETER_SKEY
    assert sign_note(PETER_TEXT, [signer]) == PETER_TEXT + b"\n" + PETER_SIG.encode()


@pytest.mark.parametrize(("skey", "vkey"), GO_KEY_PAIRS)
def test_go_key_pairs_agree_with_our_key_ids(skey: str, vkey: str) -> None:
    assert NoteSigner.from_skey(skey).verifier().vkey() == vkey
    verifier = NoteVerifier.from_vkey(vkey)
    assert key_id(verifier.name, ALG_ED25519, verifier.public_key).hex() == vkey.split("+")[1]


def test_go_open_semantics() -> None:
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    enoch = NoteVerifier.from_vkey(ENOCH_VKEY)
    note_bytes = PETER_TEXT + b"\n" + (PETER_SIG + ENOCH_SIG).encode()
    # Only trusted keys count; the other signature is ignored.
    _, verified = open_note(note_bytes, [peter])
    assert [s.name for s in verified] == ["PeterNeumann"]
    _, verified = open_note(note_bytes, [peter, enoch])
    assert [s.name for s in verified] == ["PeterNeumann", "EnochRoot"]
    # Duplicates of a verified signature count once; a broken signature of an UNtrusted key is ignored.
    broken_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    dup = PETER_TEXT + b"\n" + (PETER_SIG + PETER_SIG + ENOCH_SIG + broken_enoch).encode()
    _, verified = open_note(dup, [peter])
    assert len(verified) == 1
    # ... but a broken signature of a trusted key rejects the note.
    with pytest.raises(NoteError, match="does not verify"):
        open_note(PETER_TEXT + b"\n" + (PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]).encode(), [peter])
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_note(note_bytes, [NoteVerifier.from_vkey(C2SP_VKEY)])
    # Go's malformed notes (TestOpen badMsgs).
    bad_messages = [
        PETER_TEXT,
        PETER_TEXT + b"\n",
        PETER_TEXT + b"\n" + PETER_SIG[:-1].encode(),
        b"\x01" + PETER_TEXT + b"\n" + PETER_SIG.encode(),
        b"\xff" + PETER_TEXT + b"\n" + PETER_SIG.encode(),
        PETER_TEXT + b"\n" + PETER_SIG.replace("PeterNeumann", "Bad Name").encode(),
        PETER_TEXT + b"\n" + (PETER_SIG + "Unexpected line.\n").encode(),
    ]
    for message in bad_messages:
        with pytest.raises(NoteError):
            open_note(message, [peter])


def test_real_sum_golang_org_checkpoint() -> None:
    verifier = NoteVerifier.from_vkey(SUMDB_VKEY)
    checkpoint, _ = open_checkpoint(SUMDB_CHECKPOINT, verifier, origin="go.sum database tree")
    assert checkpoint.size == 6476701
    assert base64.b64encode(checkpoint.root_hash).decode() == "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="
    # By default the origin must be the key's name; a checkpoint for another origin is refused.
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(SUMDB_CHECKPOINT, verifier)
    with pytest.raises(NoteError):
        open_checkpoint(SUMDB_CHECKPOINT.replace(b"6476701", b"6476702"), verifier, origin="go.sum database tree")


def test_go_sumdb_tree_note_text_vector() -> None:
    # golang.org/x/mod/sumdb/tlog note_test.go TestFormatTree: same three-line body as a C2SP checkpoint.
    from weightwarden.core.merkle import leaf_hash

    cp = Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    golden = b"go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    assert cp.to_text() == golden
    assert Checkpoint.parse(golden) == cp
    for bad in [
        b"go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        b"go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",
    ]:
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)


@pytest.mark.parametrize(
    "text",
    [
        b"origin\n10\n",  # too few lines
        b"\n10\n" + base64.b64encode(b"\x00" * 32) + b"\n",  # empty origin
        b"o\n010\n" + base64.b64encode(b"\x00" * 32) + b"\n",  # leading zero
        b"o\n-1\n" + base64.b64encode(b"\x00" * 32) + b"\n",
        b"o\n+1\n" + base64.b64encode(b"\x00" * 32) + b"\n",
        b"o\n9223372036854775808\n" + base64.b64encode(b"\x00" * 32) + b"\n",  # 2^63
        b"o\n1\n" + base64.b64encode(b"\x00" * 31) + b"\n",  # short hash
        b"o\n1\n" + base64.b64encode(b"\x00" * 32)[:-1] + b"\n",  # bad base64
        b"o\n1\n" + base64.b64encode(b"\x00" * 32) + b"\n\n",  # empty extension line
        b"o\n1\n" + base64.b64encode(b"\x00" * 32),  # no final newline
        b"o\r\n1\n" + base64.b64encode(b"\x00" * 32) + b"\n",  # control character
        b"o\n1\n AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # space in base64
        b"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",  # non-canonical padding bits
    ],
)
def test_malformed_checkpoints_are_refused(text: bytes) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


def test_checkpoint_signer_round_trip_with_extensions() -> None:
    signer = CheckpointSigner(NoteSigner.generate("registry.example/log"))
    note = signer.sign(7, b"\x11" * 32, ["timestamp 1700000000"])
    checkpoint, parsed = open_checkpoint(note, signer.verifier())
    assert checkpoint == Checkpoint("registry.example/log", 7, b"\x11" * 32, ("timestamp 1700000000",))
    assert parsed.to_bytes() == note
    other = NoteSigner.generate("registry.example/log")  # same name, different key: not trusted
    with pytest.raises(NoteError):
        open_checkpoint(note, other.verifier())


@pytest.mark.parametrize(
    "vkey",
    [
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),  # key ID does not match the key
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),
        PETER_VKEY + "=",
        PETER_VKEY[:-1],
        "PeterNeumann+c74f20a3",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown type 0x02
    ],
)
def test_mangled_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(vkey)


def test_every_one_character_change_of_a_vkey_is_refused_or_a_different_key() -> None:
    # Go's TestNewVerifier mangles each byte; ours must never accept a mangled key as the same key.
    original = NoteVerifier.from_vkey(PETER_VKEY)
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        try:
            verifier = NoteVerifier.from_vkey(mangled)
        except NoteError:
            continue
        assert verifier != original


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_parse_note_never_crashes(data: bytes) -> None:
    with contextlib.suppress(NoteError):
        parse_note(data)


@settings(max_examples=40, deadline=None)
@given(position=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_bit_flip_in_a_signed_checkpoint_is_caught(position: int, bit: int) -> None:
    signer = CheckpointSigner(NoteSigner.from_skey(PETER_SKEY))
    note = signer.sign(12345, bytes(range(32)))
    i = position % len(note)
    flipped = bytearray(note)
    flipped[i] ^= 1 << bit
    try:
        checkpoint, _ = open_checkpoint(bytes(flipped), signer.verifier())
    except WeightwardenError:
        return
    # Even a flip in the signature's base64 padding bits, which a lax decoder would ignore, is refused.
    raise AssertionError(f"bit flip at byte {i} bit {bit} was accepted: {checkpoint}")


def test_signing_refuses_malformed_text_and_names() -> None:
    signer = NoteSigner.generate("ok.example")
    for text in [b"no newline", b"bad\x00byte\n", b"\xff\n"]:
        with pytest.raises(NoteError):
            sign_note(text, [signer])
    for name in ["", "a b", "a+b", "tab\tname", "x" * 300]:
        with pytest.raises(NoteError):
            NoteSigner.generate(name)
    with pytest.raises(NoteError):
        sign_note(b"text\n", [])
    assert "PRIVATE" not in repr(signer)
