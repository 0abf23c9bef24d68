"""Split-view proofs of log misbehaviour and C2SP tlog-proof offline proof files."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json

import pytest

from weightwarden.core.errors import WeightwardenError
from weightwarden.registry import tiles, tlog
from weightwarden.registry.note import CheckpointSigner, NoteSigner
from weightwarden.registry.proof_file import (
    ProofFileError,
    TlogProof,
    format_proof,
    parse_proof,
    verify_proof,
)
from weightwarden.registry.splitview import SplitViewError, SplitViewProof, detect_split_view
from weightwarden.registry.witness import CosignatureSigner, QuorumError

ORIGIN = "registry.example/log"


def _tree(entries: list[bytes]) -> tlog.MemoryHashStore:
    store = tlog.MemoryHashStore()
    for e in entries:
        store.append(e)
    return store


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner(NoteSigner.generate(ORIGIN))


def test_same_size_different_root(signer: CheckpointSigner) -> None:
    a = signer.sign(5, _tree([b"a%d" % i for i in range(5)]).root())
    b = signer.sign(5, _tree([b"b%d" % i for i in range(5)]).root())
    proof = detect_split_view(a, b, signer.verifier())
    assert proof is not None and proof.kind == "same-size-different-root"
    proof.verify(signer.verifier())
    assert SplitViewProof.from_json(json.loads(json.dumps(proof.to_json()))) == proof
    assert detect_split_view(a, a, signer.verifier()) is None


@pytest.mark.parametrize(("old", "new"), [(1, 2), (4, 9), (5, 9), (256, 700), (300, 301)])
def test_inconsistent_trees_proved_from_the_larger_trees_tiles(signer: CheckpointSigner, old: int, new: int) -> None:
    honest = _tree([b"e%d" % i for i in range(new)])
    # The log showed someone a size-`old` tree whose last entry differs from what the size-`new` tree has.
    forked = _tree([b"e%d" % i for i in range(old - 1)] + [b"rewritten"])
    a = signer.sign(old, forked.root())
    b = signer.sign(new, honest.root())
    # The detector holds only B's tiles (as served), not the log's database.
    served = {t.path(): tiles.read_tile_data(t, honest) for t in tiles.tiles_for_size(new)}
    reader = tiles.TileHashReader(new, lambda t: served[t.path()])
    path = tlog.consistency_path(old, new, reader)
    proof = detect_split_view(a, b, signer.verifier(), path)
    assert proof is not None and proof.kind == "inconsistent-trees"
    checkpoint_a, checkpoint_b = proof.verify(signer.verifier())
    assert (checkpoint_a.size, checkpoint_b.size) == (old, new)
    # Honest, consistent checkpoints are not misbehaviour.
    a_honest = signer.sign(old, honest.root(old))
    assert detect_split_view(a_honest, b, signer.verifier(), path) is None
    # A forged record is caught on re-verification: a path not from B's tree, or consistent checkpoints.
    forged = SplitViewProof(ORIGIN, "inconsistent-trees", a_honest, b, tuple(path))
    with pytest.raises(SplitViewError):
        forged.verify(signer.verifier())
    tampered = SplitViewProof(ORIGIN, "inconsistent-trees", a, b, (bytes(32), *path[1:]))
    with pytest.raises(SplitViewError):
        tampered.verify(signer.verifier())


def test_records_need_the_logs_signature_and_render_safely(signer: CheckpointSigner) -> None:
    other = CheckpointSigner(NoteSigner.generate(ORIGIN))
    a = signer.sign(3, bytes(32))
    b = other.sign(3, bytes([1]) * 32)  # not signed by the log's key: proves nothing about this log
    with pytest.raises(WeightwardenError):
        detect_split_view(a, b, signer.verifier())
    with pytest.raises(SplitViewError):
        SplitViewProof(ORIGIN, "same-size-different-root", a, b).verify(signer.verifier())
    # Text from a hostile log (bidi override in an extension line) is escaped when printed.
    hostile = signer.sign(3, bytes([2]) * 32, ["note \u202eevil"])
    proof = detect_split_view(a, hostile, signer.verifier())
    assert proof is not None
    text = proof.render()
    assert "\u202e" not in text and "\\u202e" in text
    for bad in [{}, {"schema": "weightwarden.split-view-proof/v1"}, {**proof.to_json(), "kind": "other"},
                {**proof.to_json(), "consistency_path": ["!!"]}]:
        with pytest.raises(SplitViewError):
            SplitViewProof.from_json(bad)


# --- tlog-proof -----------------------------------------------------------------------------------------

H1 = hashlib.sha256(b"hash1").digest()
H2 = hashlib.sha256(b"hash2").digest()


def test_format_matches_transparency_dev_vectors() -> None:
    # transparency-dev/formats proof/tlog_proof_test.go TestMarshal.
    b1, b2 = base64.b64encode(H1).decode(), base64.b64encode(H2).decode()
    assert format_proof(TlogProof(5, (H1, H2), b"test checkpoint\n")) == (
        f"c2sp.org/tlog-proof@v1\nindex 5\n{b1}\n{b2}\n\ntest checkpoint\n".encode()
    )
    extra = base64.b64encode(b"extra information").decode()
    assert format_proof(TlogProof(10, (H1,), b"checkpoint data\n", b"extra information")) == (
        f"c2sp.org/tlog-proof@v1\nextra {extra}\nindex 10\n{b1}\n\ncheckpoint data\n".encode()
    )
    assert format_proof(TlogProof(0, (), b"checkpoint\n")) == b"c2sp.org/tlog-proof@v1\nindex 0\n\ncheckpoint\n"


@pytest.mark.parametrize(
    "data",
    [  # transparency-dev/formats proof/tlog_proof_test.go TestUnmarshalErrors, plus ours
        b"wrong-header\nindex 0\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 0\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\n\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\nindex notanumber\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\nindex -5\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\nindex 0\n!!notbase64!!\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\nindex 0\n" + base64.b64encode(bytes(64)) + b"\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\nindex 0\n" + b"a" * 65 * 1024 + b"\n",
        b"c2sp.org/tlog-proof@v1\nindex 01\n\ncheckpoint\n",
        b"c2sp.org/tlog-proof@v1\nindex 0",
        b"c2sp.org/tlog-proof@v1\nindex 0\n\nnot a signed note\n",
    ],
)
def test_malformed_proof_files_are_refused(data: bytes) -> None:
    with pytest.raises(ProofFileError):
        parse_proof(data)


def test_proof_file_round_trip_and_every_way_to_break_it(signer: CheckpointSigner, tmp_path) -> None:
    from weightwarden.registry.witness import Witness, format_add_checkpoint

    entries = [b'{"release": %d}' % i for i in range(40)]
    store = _tree(entries)
    witnesses = [
        Witness(CosignatureSigner.generate(f"w{i}.example"), {ORIGIN: signer.verifier()}, tmp_path / f"w{i}")
        for i in range(2)
    ]
    note = signer.sign(40, store.root())
    cosigned = note + b"".join(w.add_checkpoint(format_add_checkpoint(0, [], note)) for w in witnesses)
    keys = [w.verifier() for w in witnesses]
    data = format_proof(TlogProof(17, tuple(tlog.inclusion_proof(40, 17, store)), cosigned, b"model.gguf"))
    checkpoint, proof = verify_proof(data, entries[17], signer.verifier(), keys, 2)
    assert checkpoint.size == 40 and proof.extra == b"model.gguf"
    assert parse_proof(data) == proof and format_proof(proof) == data
    with pytest.raises(tlog.ProofError):
        verify_proof(data, entries[16], signer.verifier(), keys, 2)  # another entry
    with pytest.raises(tlog.ProofError):
        verify_proof(data.replace(b"index 17", b"index 16"), entries[17], signer.verifier(), keys, 2)
    with pytest.raises(QuorumError):
        verify_proof(format_proof(TlogProof(17, proof.inclusion, note)), entries[17], signer.verifier(), keys, 1)
    with pytest.raises(WeightwardenError):
        verify_proof(data, entries[17], CheckpointSigner(NoteSigner.generate(ORIGIN)).verifier(), keys, 2)
    # Any single bit flip anywhere in the file is caught (or the flip is in the unauthenticated extra).
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0x01
        try:
            verify_proof(bytes(flipped), entries[17], signer.verifier(), keys, 2)
        except WeightwardenError:
            continue
        assert data.index(b"extra ") <= i < data.index(b"\nindex"), f"flip at byte {i} accepted"


def test_parsers_of_untrusted_text_never_crash() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from weightwarden.registry.witness import WitnessError, parse_add_checkpoint

    pieces = st.sampled_from([b"c2sp.org/tlog-proof@v1\n", b"extra ", b"index ", b"old ", b"0", b"12", b"\n",
                              b"\n\n", b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", b"\xe2\x80\x94 ", b"x", b"\xff"])

    @settings(max_examples=400, deadline=None)
    @given(st.lists(pieces, max_size=30).map(b"".join))
    def check(data: bytes) -> None:
        with contextlib.suppress(ProofFileError):
            parse_proof(data)
        try:
            parse_add_checkpoint(data)
        except WitnessError as exc:
            assert exc.http_status == 400

    check()
