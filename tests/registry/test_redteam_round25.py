"""Red team round 25 on the registry: no bypass; one gap in the split-view evidence a witness keeps.

A witness that holds two keys for one log (a rotated key) refused a same-size fork signed with the *other* key,
but kept no proof: the proof was looked for under one key at a time, and each key opens only one of the two
checkpoints. Both are the log's word, so the pair is the proof; it must be kept and re-checkable by anyone holding
the log's keys, while a checkpoint signed by a key that is not the log's proves nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from weightwarden.registry.note import CheckpointSigner, NoteSigner
from weightwarden.registry.splitview import SAME_SIZE, SplitViewError, detect_split_view
from weightwarden.registry.witness import CosignatureSigner, Witness, WitnessError

ORIGIN = "rt25.example/log"


def _root(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


@pytest.mark.parametrize("fork_key", ["other", "same"])
def test_witness_keeps_the_proof_when_the_fork_is_signed_with_the_other_log_key(tmp_path: Path, fork_key: str):
    k1, k2 = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    witness = Witness(CosignatureSigner.generate("w.example"), {ORIGIN: [k1.verifier(), k2.verifier()]},
                      tmp_path / "state.json")
    honest = CheckpointSigner(k1).sign(3, _root("honest"))
    fork = CheckpointSigner(k2 if fork_key == "other" else k1).sign(3, _root("fork"))
    witness.add(0, [], honest)
    with pytest.raises(WitnessError) as refused:
        witness.add(3, [], fork)
    assert refused.value.http_status == 422 and "split view" in refused.value.reason
    kept = witness.evidence()
    assert len(kept) == 1 and kept[0].kind == SAME_SIZE
    a, b = kept[0].verify([k1.verifier(), k2.verifier()])  # anyone with the log's keys re-checks it
    assert a.size == b.size == 3 and a.root_hash != b.root_hash
    if fork_key == "other":
        with pytest.raises(SplitViewError):  # one key alone cannot open both: not a proof under that key
            kept[0].verify(k1.verifier())


def test_a_checkpoint_signed_by_a_key_that_is_not_the_logs_proves_nothing():
    k1, stranger = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    honest = CheckpointSigner(k1).sign(3, _root("honest"))
    forged = CheckpointSigner(stranger).sign(3, _root("fork"))
    from weightwarden.registry.note import NoteError

    with pytest.raises(NoteError):
        detect_split_view(honest, forged, [k1.verifier()])


def test_witness_keeps_nothing_for_a_fork_signed_by_a_stranger(tmp_path: Path):
    k1, stranger = NoteSigner.generate(ORIGIN), NoteSigner.generate(ORIGIN)
    witness = Witness(CosignatureSigner.generate("w.example"), {ORIGIN: [k1.verifier()]}, tmp_path / "state.json")
    witness.add(0, [], CheckpointSigner(k1).sign(3, _root("honest")))
    with pytest.raises(WitnessError):
        witness.add(3, [], CheckpointSigner(stranger).sign(3, _root("fork")))
    assert witness.evidence() == []
