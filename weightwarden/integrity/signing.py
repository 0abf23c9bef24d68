"""Signers: turn the signed payload (the in-toto statement JSON bytes) into a model-signing bundle.

Use::

    signer = KeySigner(Path("key.pem").read_bytes(), password_env="WW_KEY_PASSPHRASE")
    bundle = signer.sign(statement_bytes)            # -> Bundle; bundle.to_json() is the .sig file

    signer = CertificateSigner(key_pem, leaf_pem, chain_pem)
    bundle = signer.sign(statement_bytes)

The signature is a DSSE signature over PAE("application/vnd.in-toto+json", payload). Key bundles carry
``publicKey.hint`` (hex SHA-256 of the public key PEM) and ``tlogEntries: []``; certificate bundles carry
``x509CertificateChain`` = leaf then the given chain; both with ``keyid: ""`` -- the layout model-signing
1.1.1 writes and verifies. ECDSA P-256/P-384/P-521 keys interoperate with model-signing; Ed25519 is a
weightwarden EXTENSION (model-signing refuses such bundles). Unlike model-signing, CertificateSigner
refuses to sign with a leaf that is expired, not yet valid, not for code signing, or not matching the key.
``SigstoreSigner`` does keyless signing through the optional ``sigstore`` library (needs network: OIDC,
Fulcio, Rekor); it cannot be exercised offline. Signers never see model files: hashing and the statement are built elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from weightwarden.core.errors import WeightwardenError
from weightwarden.integrity._crypto import keys as _keys
from weightwarden.integrity._crypto.dsse import pae
from weightwarden.integrity._crypto.errors import CryptoError, KeyLoadError
from weightwarden.integrity.bundle import (
    IN_TOTO_PAYLOAD_TYPE,
    KIND_PUBLIC_KEY,
    KIND_X509_CHAIN,
    Bundle,
    Envelope,
    Signature,
    VerificationMaterial,
)

if TYPE_CHECKING:  # cryptography.x509 is imported by the certificate signer only (start-up time)
    from cryptography import x509

__all__ = ["CertificateSigner", "KeyLoadError", "KeySigner", "SigningError", "SigstoreSigner"]


class SigningError(WeightwardenError):
    """Signing is refused or failed; ``reason`` says why."""


def _check_payload(payload: bytes) -> bytes:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise SigningError(f"payload must be bytes, not {type(payload).__name__}")
    payload = bytes(payload)
    if not payload:
        raise SigningError("refusing to sign an empty payload")
    return payload


def _envelope(key: _keys.PrivateKey, payload: bytes) -> Envelope:
    sig = _keys.sign(key, pae(IN_TOTO_PAYLOAD_TYPE, payload))
    return Envelope(payload=payload, payload_type=IN_TOTO_PAYLOAD_TYPE, signatures=(Signature(sig=sig, keyid=""),))


class KeySigner:
    """Signs with a private key (ECDSA P-256/384/521, or Ed25519 as a weightwarden extension).

    ``private_key_pem`` may be PEM bytes or an already loaded key. ``password`` is bytes/str or a
    callback returning it (called only if the key is encrypted); ``password_env`` names an environment
    variable holding it. Raises :class:`KeyLoadError` for an unreadable key or wrong passphrase.
    """

    def __init__(self, private_key_pem: bytes | _keys.PrivateKey, password: _keys.Password = None, *,
                 password_env: str | None = None) -> None:
        self._key = _keys.load_private_key(private_key_pem, password, password_env=password_env)
        self.public_key = self._key.public_key()
        self.hint = _keys.key_hint(self.public_key)
        self.description = _keys.describe_key(self._key)

    @property
    def is_extension(self) -> bool:
        """True when the bundle can only be verified by weightwarden (Ed25519)."""
        return not hasattr(self._key, "curve")

    def public_key_pem(self) -> bytes:
        """The public key as PEM (what a verifier needs)."""
        return _keys.public_key_pem(self.public_key)

    def sign(self, payload: bytes) -> Bundle:
        """Sign ``payload`` (in-toto statement JSON bytes) into a key bundle."""
        payload = _check_payload(payload)
        try:
            envelope = _envelope(self._key, payload)
        except CryptoError as exc:
            raise SigningError(exc.reason) from None
        material = VerificationMaterial(kind=KIND_PUBLIC_KEY, public_key_hint=self.hint)
        return Bundle(verification_material=material, envelope=envelope)


class CertificateSigner:
    """Signs with a private key and puts its X.509 leaf plus chain (intermediates[, root]) in the bundle.

    ``private_key``: PEM bytes or a loaded key; ``leaf_cert``: PEM/DER bytes or a Certificate;
    ``chain``: PEM bytes holding one or more certificates, or a list of certificates / PEM bytes,
    ordered from the leaf's issuer upwards. ``at_time`` (default: now) is when the leaf must be valid.
    """

    def __init__(self, private_key: bytes | _keys.PrivateKey, leaf_cert: bytes | x509.Certificate,
                 chain: bytes | Iterable[bytes | x509.Certificate] = (), *, password: _keys.Password = None,
                 password_env: str | None = None, at_time: dt.datetime | None = None) -> None:
        self._key = _keys.load_private_key(private_key, password, password_env=password_env)
        certs = _keys.load_certificates(leaf_cert)
        if len(certs) != 1:
            raise SigningError(f"expected one leaf certificate, got {len(certs)}")
        self.public_key = self._key.public_key()
        self.leaf = certs[0]
        self.chain = _keys.load_certificates(chain) if chain else []
        self._check_leaf(at_time)
        self.description = f"{_keys.describe_key(self._key)} certificate {self.leaf.subject.rfc4514_string()}"

    def _check_leaf(self, at_time: dt.datetime | None) -> None:
        from cryptography import x509
        from cryptography.x509.oid import ExtendedKeyUsageOID

        mine = _keys.public_key_pem(self._key.public_key())
        try:
            theirs = self.leaf.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
        except (ValueError, TypeError) as exc:
            raise SigningError(f"cannot read the leaf certificate's public key: {exc}") from None
        if mine != theirs:
            raise SigningError("the private key does not match the leaf certificate's public key")
        when = at_time or dt.datetime.now(dt.UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if when > self.leaf.not_valid_after_utc:
            raise SigningError(f"the leaf certificate expired on {self.leaf.not_valid_after_utc.isoformat()}")
        if when < self.leaf.not_valid_before_utc:
            raise SigningError(f"the leaf certificate is not valid before "
                               f"{self.leaf.not_valid_before_utc.isoformat()}")
        try:
            eku = self.leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            raise SigningError("the leaf certificate has no extended key usage (code signing required)") from None
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            raise SigningError("the leaf certificate is not for code signing (extended key usage)")

    def sign(self, payload: bytes) -> Bundle:
        """Sign ``payload`` (in-toto statement JSON bytes) into a certificate-chain bundle."""
        payload = _check_payload(payload)
        try:
            envelope = _envelope(self._key, payload)
        except CryptoError as exc:
            raise SigningError(exc.reason) from None
        ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in [self.leaf, *self.chain])
        material = VerificationMaterial(kind=KIND_X509_CHAIN, certificates=ders)
        return Bundle(verification_material=material, envelope=envelope)


class SigstoreSigner:
    """Sigstore keyless signing (public-good or staging instance) via the optional ``sigstore`` package.

    Needs network. ``identity_token``: an OIDC token (e.g. from CI); when None, an ambient CI credential
    is detected, else the interactive browser flow of the instance's OIDC issuer runs. The bundle is the
    Sigstore v0.3 bundle (Fulcio certificate + Rekor entry) that model-signing writes for ``sign sigstore``.
    """

    def __init__(self, identity_token: str | None = None, *, staging: bool = False) -> None:
        self.identity_token = identity_token
        self.staging = staging

    def sign(self, payload: bytes) -> Bundle:
        """Sign ``payload`` (in-toto statement JSON bytes); raise SigningError with the reason on failure."""
        payload = _check_payload(payload)
        try:
            from sigstore.dsse import Statement
            from sigstore.errors import Error as SigstoreError
            from sigstore.models import ClientTrustConfig
            from sigstore.oidc import IdentityToken, Issuer, detect_credential
            from sigstore.sign import SigningContext
        except ImportError:
            raise SigningError("Sigstore signing needs the optional `sigstore` package (pip install sigstore)") from None
        from weightwarden.integrity.bundle import BundleError, parse_bundle

        try:
            config = ClientTrustConfig.staging() if self.staging else ClientTrustConfig.production()
            context = SigningContext.from_trust_config(config)
            token = self.identity_token or detect_credential()
            if token is None:
                token = Issuer(config.signing_config.get_oidc_url()).identity_token()
            with context.signer(IdentityToken(str(token))) as signer:
                signed = signer.sign_dsse(Statement(payload))
            return parse_bundle(signed.to_json())
        except SigstoreError as exc:
            raise SigningError(f"Sigstore signing failed: {exc}") from None
        except BundleError as exc:
            raise SigningError(f"Sigstore returned an unexpected bundle: {exc.reason}") from None
        except (OSError, ValueError) as exc:
            raise SigningError(f"Sigstore signing failed: {type(exc).__name__}: {exc}") from None
