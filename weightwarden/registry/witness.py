"""Witnesses: C2SP tlog-cosignature (Ed25519 ``cosignature/v1``) and the tlog-witness ``add-checkpoint``
protocol, plus the client-side quorum check.

A witness remembers, per log origin, the latest checkpoint it cosigned. It cosigns a new checkpoint only if
the log signed it, the caller's "old size" is the size the witness holds, and a consistency proof from that
tree to the new one verifies — so a log cannot get cosignatures for two trees that are not one the prefix
of the other. A client that requires cosignatures from a quorum of witnesses it trusts therefore cannot be
shown a split view unless the log and a quorum of witnesses collude.

The witness state is a JSON file updated atomically (temporary file, fsync, rename) under an exclusive
file lock, and the check of the old size and the update happen under the same lock: concurrent requests,
in one process or several, cannot roll the witness back (the race tlog-witness warns about).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from weightwarden.core.errors import ConfigError, WeightwardenError
from weightwarden.core.merkle import HASH_SIZE, empty_root
from weightwarden.core.state_file import StateFile, StateFileError
from weightwarden.registry.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Checkpoint,
    Note,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    b64,
    b64decode_strict,
    check_note_text,
    cosigned_message,
    open_note,
    parse_note,
    parse_signature_line,
    verified_signatures,
)
from weightwarden.registry.splitview import SplitViewProof, detect_split_view
from weightwarden.registry.tlog import ProofError, verify_consistency
from weightwarden.registry.wire import DECIMAL as _DECIMAL  # one decimal rule (red team round 14, G1)
from weightwarden.registry.wire import strict_decimal

STATE_SCHEMA = "weightwarden.witness-state/v1"
MAX_PROOF_LINES = 63  # tlog-witness: a client MUST NOT send more
MAX_REQUEST_BYTES = 128 * 1024
MAX_STATE_BYTES = 16 * 1024 * 1024  # one cosigned checkpoint (a few hundred bytes) per log witnessed


class WitnessError(WeightwardenError):
    """The witness refuses a checkpoint; ``http_status`` is the tlog-witness status code for the reason."""

    def __init__(self, reason: str, http_status: int, split_view: SplitViewProof | None = None) -> None:
        super().__init__(reason)
        self.http_status = http_status
        # Set when the refused checkpoint and the witness's own record prove the log equivocated.
        self.split_view = split_view


class WitnessConflict(WitnessError):
    """The caller's old size is not the size the witness last cosigned (HTTP 409, body ``<size>\\n``)."""

    def __init__(self, reason: str, latest_size: int) -> None:
        super().__init__(reason, 409)
        self.latest_size = latest_size


class QuorumError(WeightwardenError):
    """A checkpoint does not carry valid cosignatures from enough trusted witnesses."""


class CosignatureSigner(NoteSigner):
    """A witness key: signs ``cosignature/v1`` messages (signature type 0x04)."""

    alg = ALG_COSIGNATURE_V1
    # transparency-dev tools write witness keys as type 0x01 strings and derive the 0x04 key ID.
    skey_algs = (ALG_COSIGNATURE_V1, ALG_ED25519)

    def sign(self, text: bytes) -> NoteSignature:  # pragma: no cover - guard against misuse
        raise NoteError("a witness key only makes timestamped cosignatures: use cosign()")

    def cosign(self, checkpoint_text: bytes, timestamp: int) -> NoteSignature:
        """A cosignature over checkpoint note text at POSIX time ``timestamp`` (must be > 0)."""
        check_note_text(checkpoint_text)
        Checkpoint.parse(checkpoint_text)
        if timestamp <= 0:
            raise NoteError("a witness cosignature must carry a non-zero timestamp")
        message = cosigned_message(checkpoint_text, timestamp)
        signature = timestamp.to_bytes(8, "big") + self._key.sign(message)
        return NoteSignature(self.name, self.key_id, signature)


def cosignature_verifier(vkey: str) -> NoteVerifier:
    """A witness verifier key as cosignature/v1 (type 0x04), also from the type 0x01 vkeys that
    transparency-dev tools print for witnesses (the key ID is then recomputed for type 0x04)."""
    verifier = NoteVerifier.from_vkey(vkey)
    if verifier.alg == ALG_COSIGNATURE_V1:
        return verifier
    return NoteVerifier(verifier.name, ALG_COSIGNATURE_V1, verifier.public_key)


def verify_cosignature(verifier: NoteVerifier, checkpoint_text: bytes, sig: NoteSignature) -> int:
    """Check one cosignature by ``verifier`` over ``checkpoint_text``; return its timestamp."""
    if verifier.alg != ALG_COSIGNATURE_V1:
        raise NoteError(f"key {verifier.name!r} is not a cosignature/v1 (type 0x04) key")
    if (sig.name, sig.key_id) != (verifier.name, verifier.key_id):
        raise NoteError(f"signature is not by witness {verifier.name!r}")
    if not verifier.verify(checkpoint_text, sig.signature):
        raise NoteError(f"cosignature by witness {verifier.name!r} does not verify")
    timestamp = sig.timestamp
    assert timestamp is not None  # verify() accepts only 72-byte timestamped signatures
    return timestamp


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], checkpoint_note: bytes) -> bytes:
    """An add-checkpoint request body: ``old <size>``, proof lines, a blank line, the signed checkpoint."""
    if len(proof) > MAX_PROOF_LINES:
        raise ProofError(f"a consistency proof for a witness has at most {MAX_PROOF_LINES} hashes")
    lines = [f"old {old_size}\n", *(b64(h) + "\n" for h in proof), "\n"]
    return "".join(lines).encode("ascii") + checkpoint_note


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], bytes]:
    """``(old_size, consistency proof, checkpoint note)`` of an add-checkpoint body (HTTP 400 if bad)."""
    if not isinstance(body, bytes | bytearray) or len(body) > MAX_REQUEST_BYTES:
        raise WitnessError("add-checkpoint request is missing or too large", 400)
    head, sep, note = bytes(body).partition(b"\n\n")
    if not sep:
        raise WitnessError("add-checkpoint request has no blank line before the checkpoint", 400)
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise WitnessError("add-checkpoint request header is not ASCII", 400) from None
    first = lines[0]
    if not first.startswith("old ") or not _DECIMAL.fullmatch(first[4:]):
        raise WitnessError("add-checkpoint request does not start with 'old <size>'", 400)
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessError(f"add-checkpoint request has more than {MAX_PROOF_LINES} proof lines", 400)
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            h = b64decode_strict(line, "consistency proof line")
        except NoteError as exc:
            raise WitnessError(exc.reason, 400) from None
        if len(h) != HASH_SIZE:
            raise WitnessError("consistency proof line is not a 32-byte hash", 400)
        proof.append(h)
    return int(first[4:]), proof, note


def _valid_state(doc: dict[str, Any]) -> str | None:
    """Per log origin the last cosigned tree: ``{"size": <non-negative integer>, "root": <base64 of 32 bytes>,
    "note": <string>}`` (red team round 10, G1: every nested value typed where the file is read)."""
    from weightwarden.core.state_file import check_fields, is_count

    def root(v: Any) -> bool:
        try:
            return isinstance(v, str) and len(b64decode_strict(v, "root")) == HASH_SIZE
        except NoteError:
            return False

    problem = check_fields("the state", doc, {"schema": lambda v: isinstance(v, str),
                                              "logs": lambda v: isinstance(v, dict)})
    for origin, entry in doc["logs"].items():
        problem = problem or check_fields(f"logs[{origin[:80]!r}]", entry, {
            "size": is_count, "root": root, "note": lambda v: isinstance(v, str)}, ("size", "root", "note"))
    return problem


MAX_EVIDENCE_BYTES = 64 << 20
MAX_EVIDENCE_LINE = 512 * 1024  # one record: two checkpoint notes (each ≤ 64 KiB with its signatures), 64 hashes


def evidence_path(state_path: Path | str) -> Path:
    """The witness's evidence log (one split-view proof per line) beside its state file."""
    state = Path(state_path)
    return state.with_name(state.name + ".evidence.jsonl")


def read_evidence(path: Path | str) -> list[SplitViewProof]:
    """The split-view proofs recorded at ``path`` (none when nothing is there). A bounded read of a regular file,
    not through a link (``core.files``), each line bounded and parsed strictly; anything else is an error naming
    the file and line (red team round 10, G2: a line that was not JSON, or deeply nested, was an internal
    error)."""
    from weightwarden.core import strict_json
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_bounded
    from weightwarden.registry.splitview import SplitViewError

    if not os.path.lexists(path):
        return []
    raw = read_bounded(path, "witness evidence file", MAX_EVIDENCE_BYTES, follow=False)
    out = []
    for number, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        if len(line) > MAX_EVIDENCE_LINE:
            raise InputError(f"{where}: over {MAX_EVIDENCE_LINE} bytes, not an evidence record")
        try:
            out.append(SplitViewProof.from_json(strict_json.loads(line)))
        except strict_json.StrictJSONError as exc:
            raise InputError(f"{where}: not JSON ({exc.reason})") from None
        except SplitViewError as exc:
            raise InputError(f"{where}: {exc.reason}") from None
    return out


class Witness:
    """A tlog witness for the logs in ``logs`` (origin → the log's Ed25519 verifier keys)."""

    def __init__(
        self,
        signer: CosignatureSigner,
        logs: Mapping[str, NoteVerifier | Sequence[NoteVerifier]],
        state_path: Path | str,
    ) -> None:
        if not isinstance(signer, CosignatureSigner):
            raise ConfigError("a witness signs with a cosignature/v1 key (CosignatureSigner)")
        self.signer = signer
        self.logs: dict[str, list[NoteVerifier]] = {}
        for origin, keys in logs.items():
            verifiers = [keys] if isinstance(keys, NoteVerifier) else list(keys)
            if not verifiers or any(v.alg != ALG_ED25519 for v in verifiers):
                raise ConfigError(f"log {origin!r} needs at least one Ed25519 (type 0x01) verifier key")
            self.logs[origin] = verifiers
        self.state_path = Path(state_path)
        self._thread_lock = threading.Lock()

    def verifier(self) -> NoteVerifier:
        return self.signer.verifier()

    def _state_file(self) -> StateFile:
        return StateFile(self.state_path, "witness state", STATE_SCHEMA, "logs", MAX_STATE_BYTES,
                         validate=_valid_state)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # the thread lock orders this process's request handlers; the file lock other processes on the same state
        with self._thread_lock:
            try:
                with self._state_file().locked():
                    yield
            except StateFileError as exc:
                raise ConfigError(f"{exc}; refusing to cosign") from None

    def _load(self) -> dict[str, dict[str, object]]:
        # core.state_file: bounded strict read of a regular file, not through a link; a witness that cannot trust
        # its memory must not cosign: it could be rolled back.
        try:
            logs = self._state_file().read()["logs"]
        except StateFileError as exc:
            raise ConfigError(f"{exc}; refusing to cosign") from None
        try:
            for entry in logs.values():
                size, root = entry["size"], b64decode_strict(entry["root"], "root")
                if not isinstance(size, int) or size < 0 or len(root) != HASH_SIZE or not isinstance(entry["note"], str):
                    raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError, NoteError):
            raise ConfigError(f"witness state {self.state_path} is corrupt; refusing to cosign") from None
        return logs

    def _save(self, logs: dict[str, dict[str, object]]) -> None:
        # atomic replace, file and folder synced: persisted before the cosignature leaves (tlog-witness MUST)
        try:
            self._state_file().write({"logs": logs})
        except StateFileError as exc:
            raise ConfigError(f"{exc}; refusing to cosign") from None

    def latest(self, origin: str) -> bytes | None:
        """The last checkpoint this witness cosigned for ``origin`` (log signatures + its cosignature)."""
        with self._locked():
            entry = self._load().get(origin)
        return None if entry is None else str(entry["note"]).encode("utf-8")

    def latest_size(self, origin: str) -> int:
        with self._locked():
            entry = self._load().get(origin)
        return 0 if entry is None else int(entry["size"])  # type: ignore[call-overload]

    def add_checkpoint(self, body: bytes, now: int | None = None) -> bytes:
        """Handle an add-checkpoint request body; return the cosignature line(s) to send back.

        Raises :class:`WitnessError` with the tlog-witness HTTP status for every refusal."""
        old_size, proof, note_bytes = parse_add_checkpoint(body)
        return self.add(old_size, proof, note_bytes, now=now)

    def _check_same_size(self, stored: bytes, received: bytes, verifiers: Sequence[NoteVerifier]) -> None:
        """Two log-signed checkpoints of one size with different roots: keep the proof, refuse (422)."""
        # All of the log's keys at once: with a rotated key the two checkpoints may be signed by different keys,
        # and that is still the log's word twice (red team round 25: the proof used to be lost in that case).
        try:
            proof = detect_split_view(stored, received, verifiers)
        except NoteError:
            proof = None  # not both signed by this log's keys: nothing provable (the add itself checks the new note)
        if proof is not None:
            self._record_evidence(proof)
            raise WitnessError(
                "the log signed two different trees of the same size (split view); evidence kept",
                422,
                split_view=proof,
            )

    def _record_evidence(self, proof: SplitViewProof) -> None:
        # tlog-witness: a witness MAY log a refused request as proof of log misbehaviour. Red team round 10 (G2):
        # appended through core.files (no link followed at the name, a regular file only: a FIFO there blocked
        # the open for ever while this witness held its lock), like the state file next to it.
        from weightwarden.core.files import create_file

        path = evidence_path(self.state_path)
        line = (json.dumps(proof.to_json(), sort_keys=True) + "\n").encode("utf-8")
        try:
            fd = create_file(path, 0o600, exclusive=False, append=True)
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise WitnessError(f"the log signed two different trees of the same size (split view); the evidence "
                               f"could not be kept at {path}: {exc.strerror or exc}", 422, split_view=proof) from None

    def evidence(self) -> list[SplitViewProof]:
        """Every split-view proof this witness has recorded."""
        return read_evidence(evidence_path(self.state_path))

    def add(self, old_size: int, proof: Sequence[bytes], note_bytes: bytes, now: int | None = None) -> bytes:
        """:meth:`add_checkpoint` with the request already split into its parts."""
        if not isinstance(old_size, int) or isinstance(old_size, bool) or not 0 <= old_size < 1 << 63:
            raise WitnessError(f"old size {old_size!r} is not a tree size", 400)
        if len(proof) > MAX_PROOF_LINES:
            raise WitnessError(f"more than {MAX_PROOF_LINES} consistency proof hashes", 400)
        try:
            note = parse_note(note_bytes)
            checkpoint = Checkpoint.parse(note.text)
        except NoteError as exc:
            raise WitnessError(f"checkpoint is malformed: {exc.reason}", 400) from None
        verifiers = self.logs.get(checkpoint.origin)
        if verifiers is None:
            raise WitnessError(f"unknown log origin {checkpoint.origin!r}", 404)
        try:
            note, log_signatures = open_note(note_bytes, verifiers)
        except NoteError as exc:
            raise WitnessError(f"checkpoint signature: {exc.reason}", 403) from None
        if old_size > checkpoint.size:
            raise WitnessError(f"old size {old_size} is larger than the checkpoint size {checkpoint.size}", 400)
        if checkpoint.size == 0 and checkpoint.root_hash != empty_root():
            raise WitnessError("a checkpoint of size 0 must have the empty tree's root", 422)
        with self._locked():
            logs = self._load()
            entry = logs.get(checkpoint.origin)
            latest_size = 0 if entry is None else int(entry["size"])  # type: ignore[call-overload]
            if entry is not None and latest_size == checkpoint.size:
                self._check_same_size(str(entry["note"]).encode("utf-8"), note_bytes, verifiers)
            if old_size != latest_size:
                raise WitnessConflict(
                    f"old size {old_size} is not the size {latest_size} this witness last cosigned", latest_size
                )
            if old_size == 0:
                if proof:
                    raise WitnessError("a consistency proof from size 0 must be empty", 422)
            else:
                assert entry is not None
                old_root = b64decode_strict(str(entry["root"]), "stored root")
                try:
                    verify_consistency(old_size, checkpoint.size, old_root, checkpoint.root_hash, proof)
                except ProofError as exc:
                    raise WitnessError(f"not consistent with the last cosigned checkpoint: {exc.reason}", 422) from None
            timestamp = int(time.time()) if now is None else int(now)
            cosignature = self.signer.cosign(note.text, timestamp)
            # Keep only what was verified (the log's signatures) and our cosignature: whatever else the
            # caller attached is not served again from the monitoring endpoint.
            stored_note = Note(note.text, (*log_signatures, cosignature)).to_bytes().decode("utf-8")
            logs[checkpoint.origin] = {"size": checkpoint.size, "root": b64(checkpoint.root_hash), "note": stored_note}
            self._save(logs)  # persisted before the cosignature leaves (tlog-witness MUST)
        return cosignature.line().encode("utf-8")


def verify_cosigned(
    note_bytes: bytes,
    log_verifier: NoteVerifier,
    witness_verifiers: Sequence[NoteVerifier],
    quorum: int,
    origin: str | None = None,
) -> Checkpoint:
    """Verify a checkpoint signed by the log and cosigned by at least ``quorum`` distinct trusted witnesses.

    Cosignatures from unknown keys are ignored; a cosignature from a trusted witness that does not verify
    rejects the whole checkpoint (signed-note SHOULD). Raises :class:`NoteError` or :class:`QuorumError`."""
    from weightwarden.registry.note import open_checkpoint

    witnesses = list(witness_verifiers)
    if any(w.alg != ALG_COSIGNATURE_V1 for w in witnesses):
        raise ConfigError("witness keys must be cosignature/v1 (type 0x04) verifier keys")
    # Count witnesses by public key: cosignature/v1 does not sign the witness's name, so one key listed
    # under two names must not count twice.
    distinct_keys = {w.public_key for w in witnesses}
    if not isinstance(quorum, int) or isinstance(quorum, bool) or not 0 <= quorum <= len(distinct_keys):
        raise ConfigError(f"quorum {quorum!r} cannot be met by {len(distinct_keys)} distinct trusted witness key(s)")
    checkpoint, note = open_checkpoint(note_bytes, log_verifier, origin)
    if quorum == 0:
        return checkpoint
    by_id = {(w.name, w.key_id): w.public_key for w in witnesses}
    cosigners = {by_id[(sig.name, sig.key_id)] for sig in verified_signatures(note, witnesses)}
    if len(cosigners) < quorum:
        raise QuorumError(
            f"checkpoint {checkpoint.origin} @ {checkpoint.size} has {len(cosigners)} valid cosignature(s) "
            f"from trusted witnesses; {quorum} required"
        )
    return checkpoint


def collect_cosignatures(
    note_bytes: bytes,
    witnesses: Sequence[tuple[str, NoteVerifier]],
    consistency_proof: Callable[[int, int], Sequence[bytes]],
    post: Callable[[str, bytes], tuple[int, bytes]],
    known_sizes: dict[str, int] | None = None,
) -> bytes:
    """The log's side of tlog-witness: ask each witness to cosign ``note_bytes``; return the note with every
    valid cosignature appended.

    ``witnesses`` are ``(url, verifier)`` pairs; ``consistency_proof(old, new)`` gives the log's proof between
    two sizes; ``post(url, body)`` sends a request and returns ``(status, body)`` (any HTTP client; this module
    does no I/O). ``known_sizes`` (url → the size that witness last cosigned) is read and updated, so the
    next call sends the right old size; a 409 answer corrects it and the request is retried once. A witness
    that is down, refuses, or returns a cosignature that does not verify is skipped: publishing a checkpoint
    never waits on one witness, and clients that need a quorum will refuse a checkpoint that lacks it.
    """
    note = parse_note(note_bytes)
    checkpoint = Checkpoint.parse(note.text)
    sizes = {} if known_sizes is None else known_sizes
    cosignatures: list[NoteSignature] = []
    for url, verifier in witnesses:
        old = sizes.get(url, 0)
        for _ in range(2):
            if old > checkpoint.size:
                break  # the witness has seen a larger tree of this log than we are publishing
            proof = list(consistency_proof(old, checkpoint.size)) if 0 < old < checkpoint.size else []
            try:
                status, reply = post(url.rstrip("/") + "/add-checkpoint", format_add_checkpoint(old, proof, note_bytes))
            except (OSError, WeightwardenError):
                status, reply = 0, b""
            conflict = strict_decimal(reply) if status == 409 else None  # round 14 (G1): one strict parser
            if conflict is not None:
                old = conflict
                continue
            break
        if status != 200:
            continue
        try:
            lines = reply.decode("utf-8").splitlines()
            found = [sig for sig in (_parse_reply_line(line) for line in lines) if sig is not None]
            good = [s for s in found if (s.name, s.key_id) == (verifier.name, verifier.key_id)]
            for sig in good:
                verify_cosignature(verifier, note.text, sig)
        except (UnicodeDecodeError, NoteError):
            continue
        if good:
            cosignatures.append(good[0])
            sizes[url] = checkpoint.size
    return Note(note.text, (*note.signatures, *cosignatures)).to_bytes()


def _parse_reply_line(line: str) -> NoteSignature | None:
    try:
        return parse_signature_line(line)
    except NoteError:
        return None
