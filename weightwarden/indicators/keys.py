"""Group keys: one 256-bit secret per sharing group, from which every keyed function is derived.

A key file holds the key as 64 hexadecimal characters (one line). Nothing keyed uses the group key itself:
each use gets its own sub-key ``HMAC-SHA-256(K, "weightwarden.indicators/<label>")`` so that, for example,
the exact digests and the MinHash permutations are independent functions. The **key id** is such a derived
value, truncated: it lets two parties see that they hold the same key (and refuse to compare otherwise)
without revealing anything that helps to guess it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from weightwarden.indicators.errors import GroupKeyError

KEY_BYTES = 32
MAX_KEY_FILE_BYTES = 4096  # a key file is one short line; anything bigger is not one
# 32 random bytes hold ~30 distinct values; fewer than 8 happens with probability < 2^-100. A key with so few
# distinct bytes (all zero, one byte repeated, a short pattern) was typed or made up, and an outsider can
# confirm such a guess offline against the public key id.
MIN_DISTINCT_KEY_BYTES = 8


@dataclass(frozen=True)
class GroupKey:
    """A sharing group's secret key (32 bytes)."""

    secret: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_BYTES:
            size = len(self.secret) if isinstance(self.secret, bytes | bytearray) else type(self.secret).__name__
            raise GroupKeyError(f"a group key is {KEY_BYTES} bytes ({KEY_BYTES * 8} bits); got {size}")

    def __repr__(self) -> str:  # never print the secret by accident (logs, tracebacks)
        return f"GroupKey(id={self.key_id})"

    def subkey(self, label: str) -> bytes:
        """The 32-byte sub-key for one use (``label`` names it, e.g. ``"exact/v1"``)."""
        return hmac.new(self.secret, f"weightwarden.indicators/{label}".encode(), hashlib.sha256).digest()

    @property
    def key_id(self) -> str:
        """A public, non-secret name of the key: 16 hex characters of a derived value."""
        return self.subkey("key-id/v1").hex()[:16]

    @classmethod
    def generate(cls) -> GroupKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_hex(cls, text: str, where: str = "<key>") -> GroupKey:
        cleaned = text.strip()
        try:
            raw = bytes.fromhex(cleaned)
        except ValueError:
            raise GroupKeyError(f"{where}: a group key is {KEY_BYTES * 2} hexadecimal characters") from None
        if len(raw) != KEY_BYTES:
            raise GroupKeyError(
                f"{where}: wrong key size: {len(raw)} bytes ({len(raw) * 8} bits); a group key is "
                f"{KEY_BYTES} bytes ({KEY_BYTES * 8} bits, {KEY_BYTES * 2} hex characters)"
            )
        check_strength(raw, where)
        return cls(raw)


def check_strength(secret: bytes, where: str = "<key>") -> None:
    """Refuse keys that were not drawn at random (all-zero, a repeated byte or short pattern)."""
    distinct = len(set(secret))
    if distinct < MIN_DISTINCT_KEY_BYTES:
        raise GroupKeyError(
            f"{where}: weak group key ({distinct} distinct byte value(s) in {len(secret)}): a key must be random; "
            "make one with `weightwarden indicators keygen`"
        )


def load_key(path: str | os.PathLike[str]) -> GroupKey:
    """Read a key file (64 hex characters); raises :class:`GroupKeyError` naming the file and the reason.

    A key file that group members or other users of the machine can read or write is refused: anyone who
    reads it can read every sketch and dictionary-test every digest of the group."""
    p = Path(path)
    try:
        with open(p, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise GroupKeyError(f"cannot read group key {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise GroupKeyError(f"{p}: not a group key file (larger than {MAX_KEY_FILE_BYTES} bytes)")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise GroupKeyError(f"{p}: not a group key file (a key is {KEY_BYTES * 2} hex characters)") from None
    key = GroupKey.from_hex(text, str(p))
    if os.name == "posix" and stat.S_ISREG(mode) and mode & 0o077:
        raise GroupKeyError(
            f"{p}: group key file is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {p}`"
        )
    return key


def write_key(key: GroupKey, path: str | os.PathLike[str]) -> None:
    """Write a new key file readable by its owner only; never overwrites an existing file."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise GroupKeyError(f"{p} exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise GroupKeyError(f"cannot write group key {p}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.secret.hex() + "\n")
