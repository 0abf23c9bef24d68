"""C2SP signed notes (c2sp.org/signed-note) with Ed25519, and tlog checkpoints (c2sp.org/tlog-checkpoint).

A note is UTF-8 text ending in a newline, a blank line, then signature lines ``— <key name>
base64(key ID || signature)``. The key ID is ``SHA-256(name || 0x0A || type || public key)[:4]``; two
signature types are supported: ``0x01`` (Ed25519 over the note text) and ``0x04`` (timestamped Ed25519
cosignatures, c2sp.org/tlog-cosignature, over ``cosignature/v1\\ntime <t>\\n`` + the text). Keys are
written as vkeys ``name+<hex key ID>+base64(type || public key)`` and, for signers, in the Go
``PRIVATE+KEY+name+<hex key ID>+base64(type || seed)`` form.

Parsing is strict and fails closed: a note that is not exactly well formed, a signature by a trusted key
that does not verify, or a note that no trusted key signed raises :class:`NoteError`. Signatures by keys
the caller did not name are ignored, as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from weightwarden.core.errors import MissingExtraError, WeightwardenError
from weightwarden.core.merkle import HASH_SIZE

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
_SUPPORTED_ALGS = {ALG_ED25519: "Ed25519", ALG_COSIGNATURE_V1: "Ed25519 cosignature/v1"}

# Bounds on hostile input. The spec asks verifiers to accept at least 16 signatures.
MAX_NOTE_BYTES = 64 * 1024
# C0 controls except newline, and DEL: one regex pass (issue 13, fourth pass: a Python step per character cost
# ~15 us per checkpoint the sequencer signs, and the same on every note a client parses)
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
MAX_SIGNATURES = 64
MAX_KEY_NAME = 256
_SIG_PREFIX = "\u2014 "  # em dash, space
_MAX_TIMESTAMP = (1 << 63) - 1


class NoteError(WeightwardenError):
    """A signed note or checkpoint that is malformed, or whose signatures do not verify."""


def _ed25519():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - cryptography is a dependency of [registry]
        raise MissingExtraError("transparency log signatures", "registry", "cryptography") from exc
    return ed25519, InvalidSignature


def b64decode_strict(text: str, what: str) -> bytes:
    """Standard base64 that re-encodes to exactly ``text`` (no whitespace, no stray padding bits)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_key_name(name: str) -> None:
    """Key names are non-empty, have no Unicode spaces, no ``+`` and no control characters."""
    if not isinstance(name, str) or not name or len(name) > MAX_KEY_NAME:
        raise NoteError(f"key name {name!r} is empty or too long")
    if "+" in name or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise NoteError(f"key name {name!r} contains a space, a '+' or a control character")


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """The 4-byte key ID: ``SHA-256(name || 0x0A || alg || public key)[:4]`` (c2sp.org/signed-note)."""
    check_key_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + public_key).digest()[:4]


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    """What an Ed25519 cosignature/v1 signs (c2sp.org/tlog-cosignature): header, time line, note text."""
    if not isinstance(timestamp, int) or not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp!r} is out of range")
    return b"cosignature/v1\ntime " + str(timestamp).encode("ascii") + b"\n" + text


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID and the signature bytes after the key ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {b64(self.key_id + self.signature)}\n"

    @property
    def timestamp(self) -> int | None:
        """The cosignature/v1 timestamp if the signature has that shape (8 + 64 bytes), else None."""
        if len(self.signature) != 72:
            return None
        return int.from_bytes(self.signature[:8], "big")


class NoteVerifier:
    """One trusted public key: verifies the signatures it made (type 0x01 or 0x04)."""

    def __init__(self, name: str, alg: int, public_key: bytes) -> None:
        check_key_name(name)
        if alg not in _SUPPORTED_ALGS:
            raise NoteError(f"signature type {alg:#04x} of key {name!r} is not supported")
        if len(public_key) != 32:
            raise NoteError(f"Ed25519 public key of {name!r} is {len(public_key)} bytes, not 32")
        ed25519, _ = _ed25519()
        try:
            self._key = ed25519.Ed25519PublicKey.from_public_bytes(bytes(public_key))
        except ValueError:
            raise NoteError(f"public key of {name!r} is not a valid Ed25519 key") from None
        self.name = name
        self.alg = alg
        self.public_key = bytes(public_key)
        self.key_id = key_id(name, alg, self.public_key)

    def __repr__(self) -> str:
        return f"NoteVerifier({self.vkey()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoteVerifier) and self.vkey() == other.vkey()

    def __hash__(self) -> int:
        return hash(self.vkey())

    def vkey(self) -> str:
        """``name+<hex key ID>+base64(type || public key)``."""
        return f"{self.name}+{self.key_id.hex()}+{b64(bytes([self.alg]) + self.public_key)}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key; its key ID must be the one the name and key imply."""
        if not isinstance(vkey, str) or len(vkey) > 1024:
            raise NoteError("verifier key is not a short string")
        parts = vkey.split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError(f"verifier key {vkey!r} is not name+hex8+base64")
        name, id_hex, material = parts
        raw = b64decode_strict(material, f"key material of verifier key {name!r}")
        if len(raw) != 33:
            raise NoteError(f"verifier key {name!r} does not hold a type byte and a 32-byte Ed25519 key")
        verifier = cls(name, raw[0], raw[1:])
        if verifier.key_id.hex() != id_hex:
            raise NoteError(f"verifier key {name!r} has key ID {id_hex}, but its key implies {verifier.key_id.hex()}")
        return verifier

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (after the key ID) is this key's valid signature over note ``text``."""
        _, invalid = _ed25519()
        if self.alg == ALG_ED25519:
            if len(signature) != 64:
                return False
            message = text
            sig = signature
        else:
            if len(signature) != 72:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > _MAX_TIMESTAMP:
                return False
            message = cosigned_message(text, timestamp)
            sig = signature[8:]
        try:
            self._key.verify(bytes(sig), bytes(message))
        except invalid:
            return False
        return True


class NoteSigner:
    """An Ed25519 note signing key (type 0x01): what a log signs its checkpoints with."""

    alg = ALG_ED25519
    # Signature types whose PRIVATE+KEY strings from_skey accepts for this kind of signer.
    skey_algs: tuple[int, ...] = (ALG_ED25519,)

    def __init__(self, name: str, private_key: object) -> None:
        ed25519, _ = _ed25519()
        if not isinstance(private_key, ed25519.Ed25519PrivateKey):
            raise NoteError(f"signing key for {name!r} is not an Ed25519 private key")
        check_key_name(name)
        self.name = name
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes_raw()
        self.key_id = key_id(name, self.alg, self.public_key)

    def __repr__(self) -> str:  # never shows the private key
        return f"{type(self).__name__}({self.name!r}, key ID {self.key_id.hex()})"

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        ed25519, _ = _ed25519()
        return cls(name, ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+name+<hex key ID>+base64(type || 32-byte seed)``."""
        if not isinstance(skey, str) or len(skey) > 1024 or not skey.startswith("PRIVATE+KEY+"):
            raise NoteError("signer key does not start with PRIVATE+KEY+")
        parts = skey[len("PRIVATE+KEY+") :].split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError("signer key is not PRIVATE+KEY+name+hex8+base64")
        name, id_hex, material = parts
        raw = b64decode_strict(material, f"key material of signer key {name!r}")
        if len(raw) != 33 or raw[0] not in cls.skey_algs:
            raise NoteError(f"signer key {name!r} is not a type {cls.alg:#04x} Ed25519 seed")
        ed25519, _ = _ed25519()
        signer = cls(name, ed25519.Ed25519PrivateKey.from_private_bytes(raw[1:]))
        implied = key_id(name, raw[0], signer.public_key).hex()
        if implied != id_hex:
            raise NoteError(f"signer key {name!r} has key ID {id_hex}, but its key implies {implied}")
        return signer

    def skey(self) -> str:
        from cryptography.hazmat.primitives import serialization

        seed = self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{b64(bytes([self.alg]) + seed)}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.alg, self.public_key)

    def sign(self, text: bytes) -> NoteSignature:
        """A signature line over note text ``text`` (which must itself be a valid note text)."""
        check_note_text(text)
        return NoteSignature(self.name, self.key_id, self._key.sign(bytes(text)))


@dataclass(frozen=True)
class Note:
    """A parsed note: its text (with the final newline) and its signature lines, in order."""

    text: bytes
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return self.text + b"\n" + "".join(s.line() for s in self.signatures).encode("utf-8")


def check_note_text(text: bytes) -> str:
    """Note text is UTF-8 without control characters except newline, and ends with a newline."""
    if not isinstance(text, bytes | bytearray):
        raise NoteError("note text is not bytes")
    if len(text) > MAX_NOTE_BYTES:
        raise NoteError(f"note text is {len(text)} bytes, more than the limit of {MAX_NOTE_BYTES}")
    try:
        decoded = bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("note is not valid UTF-8") from None
    if not decoded.endswith("\n"):
        raise NoteError("note text does not end with a newline")
    if _CONTROL.search(decoded) is not None:
        raise NoteError("note contains a control character")
    return decoded


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines; checks syntax only, verifies nothing."""
    decoded = check_note_text(data)
    split = decoded.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = decoded[: split + 1], decoded[split + 2 :]
    if not sig_block:
        raise NoteError("note has no signature lines")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, more than the limit of {MAX_SIGNATURES}")
    signatures = [parse_signature_line(line) for line in lines]
    return Note(text.encode("utf-8"), tuple(signatures))


def parse_signature_line(line: str) -> NoteSignature:
    """One ``— <name> <base64>`` line (without its newline)."""
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"note signature line does not start with an em dash and a space: {line[:60]!r}")
    fields = line[len(_SIG_PREFIX) :].split(" ")
    if len(fields) != 2:
        raise NoteError("note signature line is not '— <name> <base64>'")
    name, sig_b64 = fields
    check_key_name(name)
    raw = b64decode_strict(sig_b64, f"signature of {name!r}")
    if len(raw) < 5:
        raise NoteError(f"signature of {name!r} is too short to hold a key ID and a signature")
    return NoteSignature(name, raw[:4], raw[4:])


def sign_note(text: bytes, signers: Sequence[NoteSigner]) -> bytes:
    """A signed note: ``text``, a blank line, one signature line per signer."""
    if not signers:
        raise NoteError("a note needs at least one signer")
    check_note_text(text)
    return Note(bytes(text), tuple(s.sign(text) for s in signers)).to_bytes()


def verified_signatures(note: Note, verifiers: Sequence[NoteVerifier]) -> list[NoteSignature]:
    """The signatures of ``note`` by the trusted ``verifiers`` (one per key, however often it appears).

    Signatures from keys not in ``verifiers`` (name or key ID differ) are ignored; a signature whose name
    AND key ID match a trusted key but does not verify raises :class:`NoteError` (the whole note is bad).
    An empty list means no trusted key signed."""
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: dict[tuple[str, bytes], NoteSignature] = {}
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(note.text, sig.signature):
            raise NoteError(f"signature by trusted key {sig.name!r} ({sig.key_id.hex()}) does not verify")
        verified.setdefault((sig.name, sig.key_id), sig)
    return list(verified.values())


def open_note(data: bytes, verifiers: Sequence[NoteVerifier]) -> tuple[Note, list[NoteSignature]]:
    """Parse ``data`` and verify it against the trusted ``verifiers``: the note and the signatures that
    verified (see :func:`verified_signatures`); :class:`NoteError` if no trusted key signed it."""
    note = parse_note(data)
    verified = verified_signatures(note, verifiers)
    if not verified:
        raise NoteError("note is not signed by any trusted key")
    return note, verified


# --- tlog-checkpoint -------------------------------------------------------------------------------

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: log origin, tree size, RFC 6962 root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint origin is empty or spans lines")
        if not isinstance(self.size, int) or not 0 <= self.size < 1 << 63:
            raise NoteError(f"checkpoint size {self.size!r} is out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise NoteError("checkpoint root hash is not 32 bytes")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise NoteError("checkpoint extension lines must be non-empty single lines")

    def to_text(self) -> bytes:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), b64(self.root_hash), *self.extensions]
        text = ("\n".join(lines) + "\n").encode("utf-8")
        check_note_text(text)
        return text

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        """Strictly parse checkpoint note text (not a signed note: use :func:`open_checkpoint`)."""
        decoded = check_note_text(text)
        lines = decoded[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint has fewer than three lines (origin, size, root hash)")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise NoteError("checkpoint origin line is empty")
        if not _DECIMAL.fullmatch(size_text) or int(size_text) >= 1 << 63:
            raise NoteError(f"checkpoint size {size_text[:30]!r} is not a decimal without leading zeros")
        root = b64decode_strict(root_text, "checkpoint root hash")
        if len(root) != HASH_SIZE:
            raise NoteError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
        if any(not ext for ext in extensions):
            raise NoteError("checkpoint has an empty extension line")
        return cls(origin, int(size_text), root, tuple(extensions))


class CheckpointSigner:
    """Signs the log's checkpoints; the origin is the signing key's name (tlog-checkpoint SHOULD)."""

    def __init__(self, signer: NoteSigner) -> None:
        if signer.alg != ALG_ED25519:
            raise NoteError("a log signs checkpoints with an Ed25519 (type 0x01) key")
        self.signer = signer
        self.origin = signer.name

    def verifier(self) -> NoteVerifier:
        return self.signer.verifier()

    def sign(self, size: int, root_hash: bytes, extensions: Sequence[str] = ()) -> bytes:
        """The signed checkpoint note for the tree (``size``, ``root_hash``)."""
        checkpoint = Checkpoint(self.origin, size, bytes(root_hash), tuple(extensions))
        return sign_note(checkpoint.to_text(), [self.signer])


def open_checkpoint(
    data: bytes, log_verifier: NoteVerifier, origin: str | None = None
) -> tuple[Checkpoint, Note]:
    """Verify the log's signature on a checkpoint note and parse it.

    ``origin`` defaults to the log key's name; a checkpoint for any other origin is refused."""
    if log_verifier.alg != ALG_ED25519:
        raise NoteError(f"log key {log_verifier.name!r} is not an Ed25519 (type 0x01) note key")
    note, _ = open_note(data, [log_verifier])
    checkpoint = Checkpoint.parse(note.text)
    expected = log_verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise NoteError(f"checkpoint is for origin {checkpoint.origin!r}, expected {expected!r}")
    return checkpoint, note
