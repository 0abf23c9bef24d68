"""Private cryptographic primitives for the integrity signers and verifiers (not a public API).

``dsse``: the DSSE pre-authentication encoding; ``keys``: loading PEM keys and certificates (encrypted
private keys included) and raw sign / verify with the hash model-signing pairs with each curve;
``chain``: X.509 path validation to caller-given roots only, with a code-signing leaf policy.
Everything here raises :class:`CryptoError` (or a subclass) with a human-readable reason.
"""

from __future__ import annotations

from weightwarden.integrity._crypto.errors import ChainError, CryptoError, KeyLoadError

__all__ = ["ChainError", "CryptoError", "KeyLoadError"]
