"""Loading keys and certificates, and raw signing / verification with model-signing's algorithm choices.

Supported keys: ECDSA on P-256, P-384 and P-521 (interoperable with model-signing, which hashes with
SHA-256, SHA-384 and SHA-512 respectively -- the "PKIX_ECDSA_P<n>_SHA_<m>" pairs of Sigstore; the P-256
and P-384 fixtures written by model-signing 1.1.1 verify this way), and Ed25519, a weightwarden
EXTENSION that model-signing refuses (its bundles verify only with weightwarden). ECDSA signatures are
DER-encoded, as in the bundles model-signing writes.

Private keys are PEM (PKCS#8 or the traditional "EC PRIVATE KEY"), optionally encrypted; the passphrase
comes from bytes/str, a callback (e.g. an interactive prompt) or an environment variable name, and is
asked for only when the key is really encrypted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Union

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from weightwarden.integrity._crypto.errors import CryptoError, KeyLoadError

if TYPE_CHECKING:  # cryptography.x509 costs ~20 ms to import; only the certificate paths need it
    from cryptography import x509

PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]  # noqa: UP007 - used at runtime
PublicKey = Union[ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey]  # noqa: UP007
Password = bytes | str | Callable[[], bytes | str | None] | None

# Curve -> (display name, hash) as model-signing / Sigstore pair them.
_CURVES: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "secp256r1": ("P-256", hashes.SHA256),
    "secp384r1": ("P-384", hashes.SHA384),
    "secp521r1": ("P-521", hashes.SHA512),
}
ED25519_NOTE = "Ed25519 (weightwarden extension; model-signing cannot verify it)"


def _check_private(key: object) -> PrivateKey:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVES:
            raise KeyLoadError(f"unsupported elliptic curve {key.curve.name} (use P-256, P-384 or P-521)")
        return key
    raise KeyLoadError(f"unsupported private key type {type(key).__name__} (use ECDSA P-256/384/521 or Ed25519)")


def check_public(key: object) -> PublicKey:
    """Return ``key`` if it is a supported public key, else raise :class:`KeyLoadError`."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise KeyLoadError(f"unsupported elliptic curve {key.curve.name} (use P-256, P-384 or P-521)")
        return key
    raise KeyLoadError(f"unsupported public key type {type(key).__name__} (use ECDSA P-256/384/521 or Ed25519)")


def _resolve_password(password: Password, password_env: str | None) -> bytes | None:
    value: bytes | str | None
    value = password() if callable(password) else password
    if value is None and password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise KeyLoadError(f"private key is encrypted and ${password_env} is not set")
    if isinstance(value, str):
        value = value.encode("utf-8")
    return value


def load_private_key(data: bytes | PrivateKey, password: Password = None, *,
                     password_env: str | None = None) -> PrivateKey:
    """Load a PEM private key, decrypting it if needed; raise :class:`KeyLoadError` with the reason."""
    if not isinstance(data, bytes | bytearray | str):
        return _check_private(data)
    pem = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    try:
        return _check_private(serialization.load_pem_private_key(pem, password=None))
    except TypeError:
        pass  # encrypted: only now ask for the passphrase (a prompt callback must not fire needlessly)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"not a readable PEM private key: {exc}") from None
    secret = _resolve_password(password, password_env)
    if not secret:
        raise KeyLoadError("private key is encrypted; give a passphrase (callback or environment variable)")
    try:
        return _check_private(serialization.load_pem_private_key(pem, password=secret))
    except (ValueError, TypeError):
        raise KeyLoadError("cannot decrypt the private key: wrong passphrase or corrupt key") from None
    except UnsupportedAlgorithm as exc:
        raise KeyLoadError(f"private key uses an unsupported encryption: {exc}") from None


def load_public_key(data: bytes | str | PublicKey) -> PublicKey:
    """Load a PEM (or DER) SubjectPublicKeyInfo public key."""
    if not isinstance(data, bytes | bytearray | str):
        return check_public(data)
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    try:
        if b"-----BEGIN" in raw:
            key = serialization.load_pem_public_key(raw)
        else:
            key = serialization.load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyLoadError(f"not a readable public key: {exc}") from None
    return check_public(key)


def load_certificates(data: bytes | str | x509.Certificate | Iterable[bytes | str | x509.Certificate]
                      ) -> list[x509.Certificate]:
    """Load certificates from PEM text holding one or more, DER bytes, objects, or a list of those."""
    from cryptography import x509

    if isinstance(data, x509.Certificate):
        return [data]
    if isinstance(data, bytes | bytearray | str):
        raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
        try:
            if b"-----BEGIN" in raw:
                certs = x509.load_pem_x509_certificates(raw)
            else:
                certs = [x509.load_der_x509_certificate(raw)]
        except ValueError as exc:
            raise KeyLoadError(f"not a readable certificate: {exc}") from None
        if not certs:
            raise KeyLoadError("no certificate found")
        return certs
    out: list[x509.Certificate] = []
    for item in data:
        out.extend(load_certificates(item))
    return out


def public_key_pem(key: PublicKey) -> bytes:
    """The SubjectPublicKeyInfo PEM text of ``key`` (what model-signing hashes for the bundle hint)."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_hint(key: PublicKey) -> str:
    """model-signing's ``publicKey.hint``: hex SHA-256 of the public key's PEM text."""
    return hashlib.sha256(public_key_pem(key)).hexdigest()


def describe_key(key: PublicKey | PrivateKey) -> str:
    """A short human description, e.g. ``ECDSA P-256 (SHA-256)``."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return ED25519_NOTE
    name, hash_cls = _CURVES[key.curve.name]
    return f"ECDSA {name} ({hash_cls.name.upper().replace('SHA', 'SHA-')})"


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign ``data``: DER ECDSA with the curve's hash, or raw Ed25519."""
    key = _check_private(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, ec.ECDSA(_CURVES[key.curve.name][1]()))


def verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is valid for ``data`` under ``key`` (never raises for a bad signature)."""
    try:
        key = check_public(key)
    except KeyLoadError as exc:
        raise CryptoError(exc.reason) from None
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            key.verify(signature, data, ec.ECDSA(_CURVES[key.curve.name][1]()))
    except (InvalidSignature, ValueError):
        # ValueError: a malformed DER signature; for a verifier that is just "not valid".
        return False
    return True
