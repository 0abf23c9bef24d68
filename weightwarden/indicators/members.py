"""Who may ask for a PSI count: member signing keys (red team round 2, R4).

The PSI session budget was charged to a name the peer could choose (a source address, or one shared name in
file mode), so a member with several addresses got sessions × addresses and a keyless outsider spent the real
members' budget. Now a server operator may list the members' Ed25519 public keys (``--members FILE``, one
``NAME HEX-PUBLIC-KEY`` per line, ``#`` comments); each member signs its request with its own key
(``--member-key FILE``, made by ``weightwarden indicators psi member-keygen``), and the budget is charged to
the member whose signature verified — only after every check passed.

What is signed: over TCP, the server's random challenge, the client's hello and its request (a recorded session
cannot be replayed); in file mode, the request header (with a random nonce and the time) and the request (the
server keeps the nonces of its budget window and refuses one seen before).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any

from weightwarden.core.errors import require_extra
from weightwarden.indicators.errors import GroupKeyError, PsiError

MEMBER_KEY_FORMAT = "weightwarden-psi-member-key/v1"
SIGNING_CONTEXT = b"weightwarden.psi-auth/v1\n"
MAX_MEMBERS_FILE_BYTES = 1 << 20
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_KEY_LINE = re.compile(rf"{re.escape(MEMBER_KEY_FORMAT)} name=({_NAME.pattern}) key=([0-9a-f]{{64}})")


def _ed25519() -> Any:
    require_extra("cryptography", extra="psi", feature="PSI member authentication")
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class MemberKey:
    """A member's name and Ed25519 signing key."""

    def __init__(self, name: str, private: Any) -> None:
        self.name, self._private = name, private

    def __repr__(self) -> str:
        return f"MemberKey(name={self.name!r}, public={self.public_hex})"

    @property
    def public_hex(self) -> str:
        return _raw_public(self._private).hex()

    def sign(self, message: bytes) -> str:
        return self._private.sign(SIGNING_CONTEXT + message).hex()


def generate_member_key(name: str, path: str | os.PathLike[str]) -> MemberKey:
    """Create a member signing key file (mode 0600, never overwritten); the public line goes to the operator."""
    from cryptography.hazmat.primitives import serialization

    if not _NAME.fullmatch(name):
        raise PsiError(f"member name {name[:80]!r}: letters, digits and . _ @ - only, at most 64 characters")
    private = _ed25519().Ed25519PrivateKey.generate()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    from weightwarden.core.files import create_file

    try:
        fd = create_file(path, 0o600)  # red team round 6 (class 2): never in /dev, /proc, /sys
    except OSError as exc:
        raise GroupKeyError(f"cannot create member key {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"{MEMBER_KEY_FORMAT} name={name} key={raw.hex()}\n")
    return MemberKey(name, private)


def _read_own_file(path: str | os.PathLike[str], what: str, limit: int, *, private: bool) -> str:
    """A regular file owned by the user (and, when ``private``, accessible by nobody else), as ASCII text."""
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_owned

    p = Path(path)
    try:
        data, info = read_owned(p, what, limit)
    except InputError as exc:
        raise GroupKeyError(exc.reason) from None
    if os.name == "posix" and (info.st_mode & (0o077 if private else 0o022)):
        raise GroupKeyError(f"{p}: the {what} is accessible by others (mode {stat.S_IMODE(info.st_mode):04o}); "
                            f"run `chmod {'600' if private else '644'} {p}`")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise GroupKeyError(f"{p}: not a {what} (not ASCII)") from None


def load_member_key(path: str | os.PathLike[str]) -> MemberKey:
    text = _read_own_file(path, "member key file", 4096, private=True).strip()
    match = _KEY_LINE.fullmatch(text)
    if match is None:
        raise GroupKeyError(f"{path}: not a member key file (make one with `weightwarden indicators psi "
                            "member-keygen`)")
    return MemberKey(match.group(1), _ed25519().Ed25519PrivateKey.from_private_bytes(bytes.fromhex(match.group(2))))


# Ed25519 point checks (red team round 3, F5). Pure arithmetic on public data, RFC 8032 section 5.1.3.
_P = 2**255 - 19
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _decode_point(raw: bytes) -> tuple[int, int] | None:
    """(x, y) of a canonical encoding on the curve; None for y >= p, x = 0 with the sign bit set, or no point."""
    y = int.from_bytes(raw, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else (0, y)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int]) -> tuple[int, int]:
    x, y = point
    t = _D * x * x * y * y % _P
    return ((2 * x * y) * pow(1 + t, _P - 2, _P) % _P, (y * y + x * x) * pow(1 - t, _P - 2, _P) % _P)


def strong_public_key(raw: bytes) -> bool:
    """Whether ``raw`` is a canonical encoding of a point not of small order (8 * point is not the identity):
    a small-order key such as the identity (01 00..00) verifies R = identity, s = 0 on every message."""
    point = _decode_point(raw) if len(raw) == 32 else None
    if point is None:
        return False
    for _ in range(3):
        point = _double(point)
    return point != (0, 1)


def load_members(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The operator's member list: ``NAME HEX-PUBLIC-KEY`` per line; names and keys unique."""
    ed25519 = _ed25519()
    members: dict[str, Any] = {}
    seen: set[str] = set()
    for number, line in enumerate(_read_own_file(path, "member list", MAX_MEMBERS_FILE_BYTES,
                                                 private=False).splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not _NAME.fullmatch(parts[0]) or not re.fullmatch(r"[0-9a-f]{64}", parts[1]):
            raise GroupKeyError(f"{path}:{number}: expected 'NAME HEX-PUBLIC-KEY' (64 hex characters)")
        if parts[0] in members or parts[1] in seen:
            raise GroupKeyError(f"{path}:{number}: member {parts[0]!r} or its key is listed twice")
        if not strong_public_key(bytes.fromhex(parts[1])):
            raise GroupKeyError(f"{path}:{number}: the key of member {parts[0]!r} is not a canonical Ed25519 "
                                "public key of large order (a small-order key such as 01 00..00 accepts a forged "
                                "signature of every message); ask the member for the key member-keygen printed")
        members[parts[0]] = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(parts[1]))
        seen.add(parts[1])
    if not members:
        raise GroupKeyError(f"{path}: the member list is empty")
    return members


def verify(members: dict[str, Any], name: Any, signature: Any, message: bytes, who: str) -> str:
    """The member name when ``signature`` is its signature of ``message``; :class:`PsiError` otherwise."""
    from cryptography.exceptions import InvalidSignature

    if not isinstance(name, str) or name not in members:
        raise PsiError(f"{who} is not a listed member (name {str(name)[:64]!r}); requests must be signed with a "
                       "member key the operator listed in --members")
    try:
        members[name].verify(bytes.fromhex(signature) if isinstance(signature, str) else b"",
                             SIGNING_CONTEXT + message)
    except (InvalidSignature, ValueError):
        raise PsiError(f"{who}: the signature of member {name!r} does not verify") from None
    return name


def digest(*parts: bytes) -> bytes:
    """What a signature covers: SHA-256 of each part, concatenated (parts of any size, no ambiguity)."""
    return b"".join(hashlib.sha256(p).digest() for p in parts)
