"""Exception types shared by the private crypto helpers."""

from __future__ import annotations

from weightwarden.core.errors import WeightwardenError


class CryptoError(WeightwardenError):
    """A cryptographic operation failed; ``reason`` is a short human-readable explanation."""


class KeyLoadError(CryptoError):
    """A key or certificate could not be loaded (bad PEM, wrong or missing passphrase, unsupported type)."""


class ChainError(CryptoError):
    """An X.509 certificate chain failed validation."""
