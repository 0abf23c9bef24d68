"""The registry operator's keys, kept in a key directory shared by every worker of one log.

- ``log.skey``: the log's C2SP note signer (``PRIVATE+KEY+<origin>+...``): signs checkpoints.
- ``view.pem``: an Ed25519 key (PKCS#8 PEM) that signs the per-line "current release" views
  (``weightwarden.registry.freshness``, TUF metadata). A different key than the log's: one key, one protocol.

Both are created on first use (mode 0600). The public halves are what clients pin: ``log.vkey`` (a C2SP
verifier key) and ``view.pub.pem``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from weightwarden.core.errors import ConfigError
from weightwarden.registry.auth import load_private_key, private_key_pem, public_key_pem


@dataclass(frozen=True)
class LogKeys:
    note_signer: object  # note.NoteSigner
    view_key: Ed25519PrivateKey

    @property
    def origin(self) -> str:
        return self.note_signer.name  # type: ignore[attr-defined]

    def checkpoint_signer(self) -> object:
        from weightwarden.registry.note import CheckpointSigner

        return CheckpointSigner(self.note_signer)  # type: ignore[arg-type]

    def vkey(self) -> str:
        return self.note_signer.verifier().vkey()  # type: ignore[attr-defined]

    def view_public_pem(self) -> bytes:
        return public_key_pem(self.view_key.public_key())

    def view_key_note(self) -> bytes:
        """A note signed by the log key naming the view key: a client that trusts (or pinned) the log key
        learns the view key from it, not from an unsigned answer."""
        from weightwarden.registry.note import sign_note

        return sign_note(view_key_text(self.origin, self.view_public_pem()), [self.note_signer])  # type: ignore[list-item]


VIEW_KEY_NOTE_TAG = "weightwarden.registry.view-key/v1"


def view_key_text(origin: str, view_pem: bytes) -> bytes:
    import hashlib

    return f"{VIEW_KEY_NOTE_TAG}\n{origin}\n{hashlib.sha256(view_pem).hexdigest()}\n".encode()


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_or_create(key_dir: str | os.PathLike[str], origin: str | None = None) -> LogKeys:
    """The keys in ``key_dir``; creates them (for ``origin``) when the directory holds none."""
    from weightwarden.registry.note import NoteError, NoteSigner

    folder = Path(key_dir)
    skey_path, view_path = folder / "log.skey", folder / "view.pem"
    if not skey_path.exists():
        if not origin:
            raise ConfigError(f"{folder}: no log key (log.skey) and no origin to create one for")
        folder.mkdir(parents=True, exist_ok=True)
        signer = NoteSigner.generate(origin)
        _write_secret(skey_path, signer.skey().encode("ascii") + b"\n")
        (folder / "log.vkey").write_text(signer.verifier().vkey() + "\n", encoding="ascii")
    if not view_path.exists():
        view = Ed25519PrivateKey.generate()
        _write_secret(view_path, private_key_pem(view))
        (folder / "view.pub.pem").write_bytes(public_key_pem(view.public_key()))
    try:
        signer = NoteSigner.from_skey(skey_path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{skey_path}: cannot read the log key: {exc}") from None
    except NoteError as exc:
        raise ConfigError(f"{skey_path}: {exc.reason}") from None
    if origin and signer.name != origin:
        raise ConfigError(f"{skey_path} is the key of log {signer.name!r}, not {origin!r}")
    view_key = load_private_key(view_path.read_bytes(), str(view_path))
    return LogKeys(signer, view_key)
