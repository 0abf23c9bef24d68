"""Offline proof files (c2sp.org/tlog-proof@v1, extension ``.tlog-proof``) a publisher ships next to a
model: the entry's index, its inclusion proof and the (co)signed checkpoint, verifiable without contacting
the log against a policy of trusted log and witness keys.

Format (spec): ``c2sp.org/tlog-proof@v1``, an optional ``extra <base64>`` line (opaque, unauthenticated),
``index <n>``, zero or more base64 hash lines (leaf's sibling first), an empty line, the checkpoint verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from weightwarden.core.errors import InputError
from weightwarden.core.merkle import HASH_SIZE, leaf_hash
from weightwarden.registry.note import Checkpoint, NoteError, NoteVerifier, b64, b64decode_strict, parse_note
from weightwarden.registry.tlog import MAX_PROOF_LENGTH, ProofError, verify_inclusion
from weightwarden.registry.witness import verify_cosigned

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_FILE_BYTES = 128 * 1024
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


class ProofFileError(InputError):
    """A .tlog-proof file that is malformed."""


@dataclass(frozen=True)
class TlogProof:
    """The parts of a tlog-proof file. ``extra`` is opaque and NOT authenticated."""

    index: int
    inclusion: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None


def format_proof(proof: TlogProof) -> bytes:
    """The tlog-proof@v1 text of ``proof``."""
    if len(proof.inclusion) > MAX_PROOF_LENGTH or any(len(h) != HASH_SIZE for h in proof.inclusion):
        raise ProofFileError("inclusion proof must be at most 64 hashes of 32 bytes")
    lines = [HEADER]
    if proof.extra is not None:
        lines.append(f"extra {b64(proof.extra)}")
    lines.append(f"index {int(proof.index)}")
    lines += [b64(h) for h in proof.inclusion]
    return ("\n".join(lines) + "\n\n").encode("ascii") + proof.checkpoint


def parse_proof(data: bytes, source: str = "tlog proof") -> TlogProof:
    """Strictly parse a tlog-proof@v1 file; ``source`` names it in errors."""
    if not isinstance(data, bytes | bytearray) or len(data) > MAX_PROOF_FILE_BYTES:
        raise ProofFileError(f"{source}: missing or larger than {MAX_PROOF_FILE_BYTES} bytes")
    head, sep, checkpoint = bytes(data).partition(b"\n\n")
    if not sep:
        raise ProofFileError(f"{source}: no empty line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise ProofFileError(f"{source}: proof header is not ASCII") from None
    if lines[0] != HEADER:
        raise ProofFileError(f"{source}: first line is not {HEADER}")
    pos = 1
    extra = None
    try:
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = b64decode_strict(lines[pos][len("extra ") :], "extra data")
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith("index "):
            raise ProofFileError(f"{source}: missing the 'index <n>' line")
        index_text = lines[pos][len("index ") :]
        if not _DECIMAL.fullmatch(index_text) or int(index_text) >= 1 << 63:
            raise ProofFileError(f"{source}: index {index_text[:30]!r} is not a decimal without leading zeros")
        hashes = [b64decode_strict(line, "inclusion proof hash") for line in lines[pos + 1 :]]
    except NoteError as exc:
        raise ProofFileError(f"{source}: {exc.reason}") from None
    if len(hashes) > MAX_PROOF_LENGTH or any(len(h) != HASH_SIZE for h in hashes):
        raise ProofFileError(f"{source}: inclusion proof must be at most 64 hashes of 32 bytes each")
    try:
        parse_note(checkpoint)
    except NoteError as exc:
        raise ProofFileError(f"{source}: checkpoint is malformed: {exc.reason}") from None
    return TlogProof(int(index_text), tuple(hashes), checkpoint, extra)


def verify_proof(
    data: bytes,
    entry: bytes,
    log_verifier: NoteVerifier,
    witness_verifiers: Sequence[NoteVerifier] = (),
    quorum: int = 0,
    origin: str | None = None,
    source: str = "tlog proof",
) -> tuple[Checkpoint, TlogProof]:
    """Verify that ``entry`` (the log entry bytes) is in the log per the proof file ``data``: the checkpoint
    is signed by the log, cosigned by ``quorum`` of the trusted witnesses, and the inclusion proof binds the
    entry's leaf hash at the stated index to its root. Raises a ``WeightwardenError`` saying which failed."""
    proof = parse_proof(data, source)
    checkpoint = verify_cosigned(proof.checkpoint, log_verifier, witness_verifiers, quorum, origin)
    try:
        verify_inclusion(leaf_hash(entry), proof.index, checkpoint.size, checkpoint.root_hash, proof.inclusion)
    except ProofError as exc:
        raise ProofError(f"{source}: the entry is not in the log at index {proof.index}: {exc.reason}") from None
    return checkpoint, proof
