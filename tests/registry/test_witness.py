"""Witness cosigning (c2sp.org/tlog-witness, tlog-cosignature) and the client's quorum check."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from weightwarden.core.errors import ConfigError
from weightwarden.core.merkle import empty_root
from weightwarden.registry import tlog
from weightwarden.registry.note import (
    ALG_COSIGNATURE_V1,
    CheckpointSigner,
    Note,
    NoteError,
    NoteSigner,
    NoteVerifier,
    parse_note,
)
from weightwarden.registry.witness import (
    CosignatureSigner,
    QuorumError,
    Witness,
    WitnessConflict,
    WitnessError,
    cosignature_verifier,
    format_add_checkpoint,
    parse_add_checkpoint,
    verify_cosigned,
)

ORIGIN = "registry.example/log"


class Log:
    """A small honest log: entries in memory, signed checkpoints."""

    def __init__(self, signer: CheckpointSigner | None = None, prefix: bytes = b"entry") -> None:
        self.signer = signer or CheckpointSigner(NoteSigner.generate(ORIGIN))
        self.store = tlog.MemoryHashStore()
        self.prefix = prefix

    def grow(self, count: int) -> bytes:
        for _ in range(count):
            self.store.append(self.prefix + b" %d" % self.store.size)
        return self.checkpoint()

    def checkpoint(self, size: int | None = None) -> bytes:
        size = self.store.size if size is None else size
        return self.signer.sign(size, self.store.root(size))

    def request(self, old: int, size: int | None = None) -> bytes:
        size = self.store.size if size is None else size
        return format_add_checkpoint(old, tlog.consistency_proof(old, size, self.store), self.checkpoint(size))


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> Witness:
    return Witness(CosignatureSigner.generate("witness.example/w1"), {ORIGIN: log.signer.verifier()},
                   tmp_path / "w1" / "state.json")


def test_cosignature_is_the_specified_message_and_key_id(witness: Witness, log: Log) -> None:
    checkpoint = log.grow(3)
    line = witness.add_checkpoint(log.request(0), now=1679315147)
    sig_b64 = line.decode().removeprefix("— witness.example/w1 ").strip()
    import base64

    raw = base64.b64decode(sig_b64)
    pub = witness.signer.public_key
    # tlog-cosignature: key ID = SHA-256(name || "\n" || 0x04 || pubkey)[:4]; timestamp u64 big-endian;
    # Ed25519 over "cosignature/v1\ntime <t>\n" || checkpoint body. Checked with raw cryptography calls.
    assert raw[:4] == hashlib.sha256(b"witness.example/w1\n\x04" + pub).digest()[:4]
    assert int.from_bytes(raw[4:12], "big") == 1679315147
    body = parse_note(checkpoint).text
    Ed25519PublicKey.from_public_bytes(pub).verify(raw[12:], b"cosignature/v1\ntime 1679315147\n" + body)
    assert witness.verifier().alg == ALG_COSIGNATURE_V1


def test_witness_follows_an_honest_log_and_remembers_across_restarts(tmp_path: Path, log: Log,
                                                                     witness: Witness) -> None:
    log.grow(5)
    witness.add_checkpoint(log.request(0))
    for grow in [1, 7, 250, 1]:
        old = log.store.size
        log.grow(grow)
        witness.add_checkpoint(log.request(old))
    assert witness.latest_size(ORIGIN) == log.store.size
    # Re-submitting the same checkpoint (old == size, same root, empty proof) is fine.
    witness.add_checkpoint(log.request(log.store.size))
    # A new process with the same state file continues from the same size.
    again = Witness(witness.signer, {ORIGIN: log.signer.verifier()}, witness.state_path)
    with pytest.raises(WitnessConflict) as conflict:
        again.add_checkpoint(log.request(0))
    assert conflict.value.latest_size == log.store.size and conflict.value.http_status == 409
    latest = again.latest(ORIGIN)
    assert latest is not None
    checkpoint = verify_cosigned(latest, log.signer.verifier(), [witness.verifier()], 1)
    assert checkpoint.size == log.store.size


def test_every_refusal_has_its_tlog_witness_status(log: Log, witness: Witness) -> None:
    log.grow(10)
    witness.add_checkpoint(log.request(0))
    log.grow(10)
    proof = tlog.consistency_proof(10, 20, log.store)
    stranger = CheckpointSigner(NoteSigner.generate("other.example/log"))
    impostor = CheckpointSigner(NoteSigner.generate(ORIGIN))  # right name, wrong key
    bad_proof = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    cases = {
        "unknown origin": (format_add_checkpoint(0, [], stranger.sign(1, b"\x00" * 32)), 404),
        "not signed by the log's key": (format_add_checkpoint(10, proof, impostor.sign(20, log.store.root())), 403),
        "old size above the checkpoint": (format_add_checkpoint(30, [], log.checkpoint()), 400),
        "stale old size": (format_add_checkpoint(5, tlog.consistency_proof(5, 20, log.store), log.checkpoint()), 409),
        "bad consistency proof": (format_add_checkpoint(10, bad_proof, log.checkpoint()), 422),
        "no proof": (format_add_checkpoint(10, [], log.checkpoint()), 422),
        "rollback to a smaller tree": (format_add_checkpoint(10, [], log.checkpoint(5)), 400),
        "malformed body": (b"old 10\nnot base64!\n\n" + log.checkpoint(), 400),
        "leading zero": (b"old 010\n\n" + log.checkpoint(), 400),
        "no blank line": (b"old 10\n" + log.checkpoint().replace(b"\n\n", b"\n"), 400),
        "too many proof lines": (format_add_checkpoint(10, [], log.checkpoint()).replace(
            b"old 10\n", b"old 10\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64), 400),
    }
    for name, (body, status) in cases.items():
        with pytest.raises(WitnessError) as refused:
            witness.add_checkpoint(body)
        assert refused.value.http_status == status, name
    assert witness.latest_size(ORIGIN) == 10  # nothing was accepted
    witness.add_checkpoint(format_add_checkpoint(10, proof, log.checkpoint()))
    assert witness.latest_size(ORIGIN) == 20


def test_empty_tree_rules(tmp_path: Path, log: Log) -> None:
    w = Witness(CosignatureSigner.generate("w.example"), {ORIGIN: log.signer.verifier()}, tmp_path / "s.json")
    with pytest.raises(WitnessError) as refused:
        w.add_checkpoint(format_add_checkpoint(0, [], log.signer.sign(0, b"\x01" * 32)))
    assert refused.value.http_status == 422
    w.add_checkpoint(format_add_checkpoint(0, [], log.signer.sign(0, empty_root())))
    log.grow(4)
    with pytest.raises(WitnessError) as refused:
        w.add_checkpoint(format_add_checkpoint(0, [b"\x00" * 32], log.checkpoint()))
    assert refused.value.http_status == 422


def test_split_view_same_size_is_detected_recorded_and_printable(log: Log, witness: Witness) -> None:
    log.grow(8)
    witness.add_checkpoint(log.request(0))
    forked = Log(log.signer, prefix=b"forked")
    forked.grow(8)  # same size, other entries: a different tree signed with the same key
    assert forked.store.root() != log.store.root()
    with pytest.raises(WitnessError) as refused:
        witness.add_checkpoint(format_add_checkpoint(8, [], forked.checkpoint()))
    assert refused.value.http_status == 422
    proof = refused.value.split_view
    assert proof is not None
    proof.verify(log.signer.verifier())
    assert witness.evidence() == [proof]
    text = proof.render()
    assert "split view" in text and ORIGIN in text


def test_one_of_concurrent_requests_from_the_same_old_size_wins(tmp_path: Path, log: Log) -> None:
    # The check of the old size and the state update are atomic: of several requests all claiming the same
    # old size, exactly one is cosigned and the others get 409 (tlog-witness's rollback race).
    log.grow(4)
    w = Witness(CosignatureSigner.generate("w.example"), {ORIGIN: log.signer.verifier()}, tmp_path / "s.json")
    w.add_checkpoint(log.request(0))
    bodies = []
    for _ in range(8):
        log.grow(3)
        bodies.append(log.request(4))
    outcomes: list[str] = []

    def submit(body: bytes) -> None:
        try:
            w.add_checkpoint(body)
            outcomes.append("ok")
        except WitnessConflict:
            outcomes.append("409")

    threads = [threading.Thread(target=submit, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["409"] * 7 + ["ok"]
    assert w.latest_size(ORIGIN) > 4


def test_corrupt_state_makes_the_witness_refuse(log: Log, witness: Witness) -> None:
    log.grow(2)
    witness.add_checkpoint(log.request(0))
    state = json.loads(witness.state_path.read_text())
    state["logs"][ORIGIN]["size"] = "two"
    witness.state_path.write_text(json.dumps(state))
    with pytest.raises(ConfigError):
        witness.add_checkpoint(log.request(2))
    witness.state_path.write_text("{not json")
    with pytest.raises(ConfigError):
        witness.add_checkpoint(log.request(2))


def _cosigned(log: Log, witnesses: list[Witness]) -> bytes:
    note = log.checkpoint()
    for w in witnesses:
        note += w.add_checkpoint(format_add_checkpoint(w.latest_size(ORIGIN),
                                                       tlog.consistency_proof(w.latest_size(ORIGIN), log.store.size,
                                                                              log.store), log.checkpoint()))
    return note


def test_quorum(tmp_path: Path, log: Log) -> None:
    ws = [Witness(CosignatureSigner.generate(f"w{i}.example"), {ORIGIN: log.signer.verifier()},
                  tmp_path / f"w{i}.json") for i in range(3)]
    keys = [w.verifier() for w in ws]
    log.grow(6)
    note = _cosigned(log, ws[:2])
    assert verify_cosigned(note, log.signer.verifier(), keys, 2).size == 6
    with pytest.raises(QuorumError):
        verify_cosigned(note, log.signer.verifier(), keys, 3)
    # The same cosignature repeated counts once.
    one = log.checkpoint() + ws[2].add_checkpoint(log.request(0))
    doubled = one + one.splitlines(keepends=True)[-1]
    with pytest.raises(QuorumError):
        verify_cosigned(doubled, log.signer.verifier(), keys, 2)
    # A broken cosignature by a trusted witness rejects the checkpoint.
    parsed = parse_note(note)
    bad = parsed.signatures[1]
    broken = type(bad)(bad.name, bad.key_id, bad.signature[:20] + bytes([bad.signature[20] ^ 1]) + bad.signature[21:])
    with pytest.raises(NoteError):
        verify_cosigned(Note(parsed.text, (parsed.signatures[0], broken)).to_bytes(), log.signer.verifier(), keys, 1)
    # A cosignature over a different checkpoint does not count (moved onto another note).
    log.grow(1)
    moved = Note(parse_note(log.checkpoint()).text, (parse_note(log.checkpoint()).signatures[0], *parsed.signatures[1:]))
    with pytest.raises(NoteError):
        verify_cosigned(moved.to_bytes(), log.signer.verifier(), keys, 1)
    # Policy errors: quorum larger than the trusted set, a log key offered as a witness key.
    with pytest.raises(ConfigError):
        verify_cosigned(note, log.signer.verifier(), keys, 4)
    with pytest.raises(ConfigError):
        verify_cosigned(note, log.signer.verifier(), [log.signer.verifier()], 1)
    # The witness's key cannot stand in for the log's.
    with pytest.raises(NoteError):
        verify_cosigned(note, NoteVerifier(keys[0].name, 0x01, keys[0].public_key), keys, 0)


def test_transparency_dev_style_witness_keys() -> None:
    # transparency-dev/formats witness/witness_test.go writes witness keys as type-0x01 strings; the
    # cosignature key ID is then derived for type 0x04.
    skey = "PRIVATE+KEY+Wit1+55ee4561+AeadRiG7XM4XiieCHzD8lxysXMwcViy5nYsoXURWGrlE"
    vkey = "Wit1+55ee4561+AVhZSmQj9+SoL+p/nN0Hh76xXmF7QcHfytUrI1XfSClk"
    signer = CosignatureSigner.from_skey(skey)
    verifier = cosignature_verifier(vkey)
    assert verifier.alg == ALG_COSIGNATURE_V1
    assert verifier.public_key == signer.public_key and verifier.key_id == signer.key_id
    assert signer.key_id == hashlib.sha256(b"Wit1\n\x04" + signer.public_key).digest()[:4]
    log = Log()
    log.grow(1)
    text = parse_note(log.checkpoint()).text
    sig = signer.cosign(text, 1700000000)
    assert verifier.verify(text, sig.signature)
    assert not verifier.verify(text + b"x\n", sig.signature)


def test_parse_add_checkpoint_round_trip() -> None:
    body = format_add_checkpoint(20852014, [b"\x01" * 32, b"\x02" * 32], b"cp\n\n- sig\n")
    assert parse_add_checkpoint(body) == (20852014, [b"\x01" * 32, b"\x02" * 32], b"cp\n\n- sig\n")


def test_one_witness_key_under_two_names_counts_once(tmp_path: Path, log: Log) -> None:
    # cosignature/v1 does not sign the witness's name: the same key listed twice must not make a quorum of 2.
    key = CosignatureSigner.generate("w.example")
    alias = CosignatureSigner(key.name.replace("w.", "alias."), key._key)
    log.grow(3)
    text = parse_note(log.checkpoint()).text
    note = log.checkpoint() + key.cosign(text, 1700000000).line().encode() + alias.cosign(text, 1700000000).line().encode()
    with pytest.raises(ConfigError):
        verify_cosigned(note, log.signer.verifier(), [key.verifier(), alias.verifier()], 2)
    other = CosignatureSigner.generate("other.example")
    with pytest.raises(QuorumError):
        verify_cosigned(note, log.signer.verifier(), [key.verifier(), alias.verifier(), other.verifier()], 2)


def test_the_witness_serves_only_what_it_verified(log: Log, witness: Witness) -> None:
    log.grow(3)
    stranger = NoteSigner.generate("stranger.example")
    text = parse_note(log.checkpoint()).text
    padded = log.checkpoint() + stranger.sign(text).line().encode()
    witness.add_checkpoint(format_add_checkpoint(0, [], padded))
    latest = witness.latest(ORIGIN)
    assert latest is not None and b"stranger.example" not in latest
    assert [s.name for s in parse_note(latest).signatures] == [ORIGIN, "witness.example/w1"]


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_lying_log_never_gets_two_inconsistent_checkpoints_cosigned(tmp_path_factory, data) -> None:
    # The log holds two trees that share a prefix and then diverge (a fork). For 25 steps it sends the
    # witness any checkpoint of either tree, with any old size and a proof computed from either tree. Whatever
    # it does, the set of cosigned checkpoints must stay consistent: each pair is a prefix of one tree.
    signer = CheckpointSigner(NoteSigner.generate(ORIGIN))
    shared = data.draw(st.integers(0, 40), label="shared prefix")
    honest, fork = tlog.MemoryHashStore(), tlog.MemoryHashStore()
    for i in range(80):
        honest.append(b"h%d" % i)
        fork.append(b"h%d" % i if i < shared else b"f%d" % i)
    trees = {"honest": honest, "fork": fork}
    witness = Witness(CosignatureSigner.generate("w.example"), {ORIGIN: signer.verifier()},
                      tmp_path_factory.mktemp("w") / "state.json")
    cosigned: list[tuple[int, bytes]] = []
    for _ in range(25):
        tree = trees[data.draw(st.sampled_from(sorted(trees)))]
        proof_tree = trees[data.draw(st.sampled_from(sorted(trees)))]
        size = data.draw(st.integers(0, 80))
        latest = witness.latest_size(ORIGIN)
        old = data.draw(st.one_of(st.just(latest), st.integers(0, 80)))
        proof = tlog.consistency_proof(min(old, size), size, proof_tree) if old <= size else []
        try:
            witness.add(old, proof, signer.sign(size, tree.root(size)))
        except WitnessError:
            continue
        cosigned.append((size, tree.root(size)))
    for m, a in cosigned:
        for n, b in cosigned:
            if m <= n:
                assert any(t.root(n) == b and t.root(m) == a for t in trees.values()), (m, n, shared)


def test_c2sp_cosignature_example_has_the_specified_shape() -> None:
    # c2sp.org/tlog-cosignature's example (no witness key is published, so only its structure is checked):
    # 4-byte key ID, then u64 big-endian timestamp 1679315147 (the spec's "time 1679315147" line), then a
    # 64-byte Ed25519 signature.
    example = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+"
        "zyWE+xeMcTOAYQ8=\n"
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nN"
        "o0xUe+mbIUBkBIfZ+qnA==\n"
    ).encode()
    note = parse_note(example)
    log_sig, witness_sig = note.signatures
    assert len(log_sig.signature) == 64 and witness_sig.timestamp == 1679315147
    assert len(witness_sig.signature) == 72


@pytest.mark.parametrize("plant", ["fifo", "link", "deep"])
def test_witness_state_that_cannot_be_trusted_refuses_to_cosign_without_hanging(tmp_path: Path, log: Log,
                                                                                 plant: str) -> None:
    # The witness read its state with read_bytes() and json.loads (a FIFO blocked, a link to /dev/zero ran out of
    # memory, deep nesting was a RecursionError); it now reads through core.state_file like every other store.
    state = tmp_path / "state.json"
    if plant == "fifo":
        os.mkfifo(state)
    elif plant == "link":
        state.symlink_to("/dev/zero")
    else:
        state.write_text("[" * 100_000)
    w = Witness(CosignatureSigner.generate("w.example"), {ORIGIN: log.signer.verifier()}, state)
    log.grow(2)
    with pytest.raises(ConfigError, match="refusing to cosign"):
        w.add_checkpoint(log.request(0))
