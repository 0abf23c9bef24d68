"""Exception types shared by the private crypto helpers."""

from __future__ import annotations


class CryptoError(Exception):
    """A cryptographic operation failed; ``reason`` is a short human-readable explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyLoadError(CryptoError):
    """A key or certificate could not be loaded (bad PEM, wrong or missing passphrase, unsupported type)."""


class ChainError(CryptoError):
    """An X.509 certificate chain failed validation."""
