"""Group keys: one 256-bit secret per sharing group, from which every keyed function is derived.

Nothing keyed uses the group key itself: each use gets its own sub-key ``HMAC-SHA-256(K, "weightwarden.
indicators/<label>")`` so that, for example, the exact digests and the MinHash permutations are independent
functions. The **key id** lets two parties see that they hold the same key (and refuse to compare otherwise).

Key files (red team round 2, R9/R10). ``weightwarden indicators keygen`` writes one line
``weightwarden-group-key/v2 key=<64 hex> id-salt=<32 hex>``: 32 random bytes and a random 16-byte salt used
for the key id only. Anything else (a bare 64-hex key from elsewhere: ``sha256(passphrase)``, a counting
pattern) is refused unless the caller allows external keys (``--allow-external-key``): a key that was not drawn
at random can be confirmed offline, and the weak-key heuristics could not tell ``sha256("dragon2026")`` from a
random key. A key file must be a regular file owned by the user and readable by nobody else (a FIFO planted at
the path fed an attacker's key before).

The key id is ``scrypt(K, salt = label ‖ id-salt, N=2^14, r=8, p=1)``, 16 hex characters. What that protects:
the id published in every export no longer confirms a guessed key at HMAC speed (the red team recovered
``sha256("dragon2026")`` from it in 37 guesses): each guess costs one scrypt (16 MiB, tens of ms), and for a
keygen file the guess must also include the 128-bit id-salt, which is never published (group members get it
with the key file). What it does not protect: the exact digests in an export are ``HMAC(K_exact, text)``; given
one prompt it knows was shared, an outsider can test a guessed key against them at HMAC speed. Only a random
key protects against that — hence keygen files by default.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from weightwarden.indicators.errors import GroupKeyError

KEY_BYTES = 32
ID_SALT_BYTES = 16
KEY_FILE_FORMAT = "weightwarden-group-key/v2"
MAX_KEY_FILE_BYTES = 4096  # a key file is one short line; anything bigger is not one
# 32 random bytes hold ~30 distinct values; fewer than 8 happens with probability < 2^-100. A key with so few
# distinct bytes (all zero, one byte repeated, a short pattern) was typed or made up.
MIN_DISTINCT_KEY_BYTES = 8
KEY_ID_SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}  # ~16 MiB and tens of ms per key id (once per key and process)
_KEY_LINE = re.compile(rf"{re.escape(KEY_FILE_FORMAT)} key=([0-9a-f]{{64}}) id-salt=([0-9a-f]{{32}})")


@dataclass(frozen=True)
class GroupKey:
    """A sharing group's secret key (32 bytes) and the salt of its key id (16 bytes from keygen; empty for an
    external key)."""

    secret: bytes
    id_salt: bytes = field(default=b"", compare=True)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_BYTES:
            size = len(self.secret) if isinstance(self.secret, bytes | bytearray) else type(self.secret).__name__
            raise GroupKeyError(f"a group key is {KEY_BYTES} bytes ({KEY_BYTES * 8} bits); got {size}")
        if not isinstance(self.id_salt, bytes) or len(self.id_salt) not in (0, ID_SALT_BYTES):
            raise GroupKeyError(f"a key id salt is {ID_SALT_BYTES} bytes")

    def __repr__(self) -> str:  # never print the secret by accident (logs, tracebacks)
        return f"GroupKey(id={self.key_id})"

    def subkey(self, label: str) -> bytes:
        """The 32-byte sub-key for one use (``label`` names it, e.g. ``"exact/v1"``)."""
        return hmac.new(self.secret, f"weightwarden.indicators/{label}".encode(), hashlib.sha256).digest()

    @functools.cached_property
    def key_id(self) -> str:
        """A public, non-secret name of the key: 16 hex characters of a salted, deliberately slow derivation
        (module docstring: what it protects and what not)."""
        return _key_id(self.secret, self.id_salt)

    @classmethod
    def generate(cls) -> GroupKey:
        return cls(secrets.token_bytes(KEY_BYTES), secrets.token_bytes(ID_SALT_BYTES))

    @classmethod
    def from_hex(cls, text: str, where: str = "<key>") -> GroupKey:
        """An external key: 64 hex characters (no id salt)."""
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

    def to_file_text(self) -> str:
        """The keygen key file line."""
        if not self.id_salt:
            raise GroupKeyError("an external key has no key file of ours; keep it where it came from")
        return f"{KEY_FILE_FORMAT} key={self.secret.hex()} id-salt={self.id_salt.hex()}\n"


@functools.lru_cache(maxsize=64)
def _key_id(secret: bytes, id_salt: bytes) -> str:
    derived = hashlib.scrypt(secret, salt=b"weightwarden.indicators/key-id/v2" + id_salt, dklen=8,
                             maxmem=64 * 1024 * 1024, **KEY_ID_SCRYPT)
    return derived.hex()


def check_strength(secret: bytes, where: str = "<key>") -> None:
    """Refuse keys that were not drawn at random (all-zero, a repeated byte or short pattern)."""
    distinct = len(set(secret))
    if distinct < MIN_DISTINCT_KEY_BYTES:
        raise GroupKeyError(
            f"{where}: weak group key ({distinct} distinct byte value(s) in {len(secret)}): a key must be random; "
            "make one with `weightwarden indicators keygen`"
        )


def load_key(path: str | os.PathLike[str], *, allow_external: bool = False) -> GroupKey:
    """Read a key file; raises :class:`GroupKeyError` naming the file and the reason.

    The file must be a regular file owned by the user and accessible by nobody else (anyone who reads it can
    read every sketch and dictionary-test every digest of the group; anyone who writes it, or plants a FIFO at
    its path, chooses the key). Only keygen files are accepted unless ``allow_external`` (a bare 64-hex key)."""
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_owned

    p = Path(path)
    try:
        data, info = read_owned(p, "group key file", MAX_KEY_FILE_BYTES)
    except InputError as exc:
        raise GroupKeyError(exc.reason) from None
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise GroupKeyError(f"{p}: not a group key file") from None
    marked = _KEY_LINE.fullmatch(text)
    if marked:
        key = GroupKey(bytes.fromhex(marked.group(1)), bytes.fromhex(marked.group(2)))
        check_strength(key.secret, str(p))
    elif text.startswith(KEY_FILE_FORMAT):
        raise GroupKeyError(f"{p}: damaged group key file (expected '{KEY_FILE_FORMAT} key=<64 hex> "
                            "id-salt=<32 hex>')")
    else:
        key = GroupKey.from_hex(text, str(p))  # size and weak-pattern errors first: they say what is wrong
    # (the mode after the content: a wrong file is named as such before its mode is discussed)
    if os.name == "posix" and info.st_mode & 0o077:
        raise GroupKeyError(
            f"{p}: group key file is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run `chmod 600 {p}`"
        )
    if marked:
        return key
    if not allow_external:
        raise GroupKeyError(
            f"{p}: not a key file made by `weightwarden indicators keygen` (a bare hex key may come from a "
            "passphrase or a pattern, which an outsider can confirm offline); make one with keygen, or pass "
            "--allow-external-key if this key was drawn at random elsewhere")
    return key


def write_key(key: GroupKey, path: str | os.PathLike[str]) -> None:
    """Write a new key file readable by its owner only; never overwrites an existing file."""
    p = Path(path)
    text = key.to_file_text()
    from weightwarden.core.files import create_file

    try:
        fd = create_file(p, 0o600)  # red team round 6 (class 2): never in /dev, /proc, /sys
    except FileExistsError:
        raise GroupKeyError(f"{p} exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise GroupKeyError(f"cannot write group key {p}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
