"""Red team round 13 on the registry (report: issues/rt-registry-round13.md): no way to make `check` say current
was found; one low class — a freshness-view key that the log key vouches for but that is not an Ed25519 public
key (garbage PEM, non-ASCII text, RSA/EC/X25519) was an internal error and, stored on first use, pinned an
unusable key. Such a key is now ignored with a note and never stored; a stored one is a clear error."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from weightwarden.registry.client import _is_ed25519_pem


def _pem(key) -> str:  # noqa: ANN001 - any public key object
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_only_an_ed25519_public_key_pem_is_a_view_key() -> None:
    assert _is_ed25519_pem(_pem(ed25519.Ed25519PrivateKey.generate().public_key()))
    for bad in (
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nÄÖÜ\n-----END PUBLIC KEY-----\n",
        _pem(ec.generate_private_key(ec.SECP256R1()).public_key()),
        _pem(x25519.X25519PrivateKey.generate().public_key()),
        "", None, 7, "x" * 10_000,
    ):
        assert not _is_ed25519_pem(bad), bad
