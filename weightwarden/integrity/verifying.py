"""Verifiers: check a bundle's signature and signer, and hand back the signed payload.

Use::

    verified = KeyVerifier(Path("key.pub.pem").read_bytes()).verify(bundle_or_bytes)
    verified = CertificateVerifier(Path("ca.pem").read_bytes(), identity=Identity(email="me@x.org")).verify(b)
    verified = SigstoreVerifier("me@x.org", "https://accounts.google.com").verify(b)   # needs `sigstore`
    verified.payload      # the in-toto statement bytes -- parse and check files only AFTER this succeeds

Every failure is a :class:`VerificationError` whose ``reason`` a user can act on (a malformed bundle is
one too: "not verified" always comes with a reason). This layer checks who signed which bytes; whether
the statement's digests match the files on disk is the manifest layer's job.

Compatibility: a DSSE signature is over PAE(payloadType, payload); ECDSA uses the hash paired with the
curve (SHA-256 / SHA-384 / SHA-512 for P-256 / P-384 / P-521). Bundles from model-signing v0.2.0 signed a
non-standard encoding ("DSSEV1 ... <Python bytes repr>", always SHA-256); they are accepted with a
warning. Ed25519 bundles are a weightwarden extension, flagged in ``VerifiedPayload.extension``.

Certificate chains are validated for real against the given roots only (see ``_crypto.chain``): every
link's signature, CA constraints on issuers, code-signing EKU on the leaf, and validity of the whole
chain at ``at_time`` (default now; a key/certificate bundle has no trusted signing time), so an
expired certificate is rejected.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning

from weightwarden.core.errors import WeightwardenError
from weightwarden.integrity._crypto import keys as _keys
from weightwarden.integrity._crypto.dsse import pae
from weightwarden.integrity._crypto.errors import ChainError, CryptoError, KeyLoadError
from weightwarden.integrity.bundle import (
    KIND_CERTIFICATE,
    KIND_PUBLIC_KEY,
    KIND_X509_CHAIN,
    Bundle,
    BundleError,
    parse_bundle,
)

if TYPE_CHECKING:  # cryptography.x509 (and _crypto.chain, built on it) is imported by the certificate
    from cryptography import x509  # paths only: ~20 ms of start-up that key verification does not need

__all__ = [
    "CertificateVerifier",
    "Identity",
    "KeyLoadError",
    "KeyVerifier",
    "SigstoreVerifier",
    "VerificationError",
    "VerifiedPayload",
]

LEGACY_V020_WARNING = ("signed with model-signing v0.2.0's non-standard DSSE encoding "
                       "(accepted for compatibility; re-sign with a current tool)")


class VerificationError(WeightwardenError):
    """The bundle is NOT verified; ``reason`` says why."""


@dataclass(frozen=True, slots=True)
class VerifiedPayload:
    """A payload whose signature and signer checked out.

    ``signer`` describes who signed (key type and hint, or certificate subject and chain);
    ``method`` is ``key`` / ``certificate`` / ``sigstore``; ``extension`` is True when the bundle uses a
    weightwarden-only feature (Ed25519) that model-signing cannot verify; ``warnings`` lists accepted
    oddities (legacy encoding, mismatching key hint).
    """

    payload: bytes
    signer: str
    method: str
    payload_type: str = "application/vnd.in-toto+json"
    extension: bool = False
    warnings: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Identity:
    """Constraints on the signing certificate's leaf; every given field must match.

    ``email``: a SAN rfc822Name; ``uri``: a SAN URI; ``common_name``: a subject CN. Comparison is exact,
    except that e-mail addresses compare case-insensitively.
    """

    email: str | None = None
    uri: str | None = None
    common_name: str | None = None

    def __post_init__(self) -> None:
        if self.email is None and self.uri is None and self.common_name is None:
            raise ValueError("Identity needs at least one of email, uri, common_name")

    def describe(self) -> str:
        """``email=..., uri=...`` for messages."""
        parts = [f"{k}={v}" for k, v in (("email", self.email), ("uri", self.uri), ("CN", self.common_name)) if v]
        return ", ".join(parts)


def _as_bundle(bundle: Bundle | bytes | str) -> Bundle:
    if isinstance(bundle, Bundle):
        return bundle
    try:
        return parse_bundle(bundle)
    except BundleError as exc:
        raise VerificationError(f"malformed bundle: {exc.reason}") from None


def _legacy_pae(payload_type: str, payload: bytes) -> bytes:
    # model-signing v0.2.0 formatted the bytes object itself into the string (its repr, b'...').
    return f"DSSEV1 {len(payload_type)} {payload_type} {len(payload)} {payload!r}".encode()


def _check_signature(key: _keys.PublicKey, bundle: Bundle) -> tuple[bool, tuple[str, ...]]:
    env = bundle.envelope
    sig = env.signature.sig
    try:
        if _keys.verify(key, sig, pae(env.payload_type, env.payload)):
            return True, ()
    except CryptoError as exc:
        raise VerificationError(exc.reason) from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        try:
            key.verify(sig, _legacy_pae(env.payload_type, env.payload), ec.ECDSA(hashes.SHA256()))
            return True, (LEGACY_V020_WARNING,)
        except (InvalidSignature, ValueError):
            pass  # not the legacy encoding either
    return False, ()


class KeyVerifier:
    """Verifies key bundles against one trusted public key (PEM/DER bytes or a loaded key)."""

    def __init__(self, public_key_pem: bytes | str | _keys.PublicKey) -> None:
        self.public_key = _keys.load_public_key(public_key_pem)
        self.hint = _keys.key_hint(self.public_key)
        self.description = _keys.describe_key(self.public_key)

    def verify(self, bundle: Bundle | bytes | str) -> VerifiedPayload:
        """Check the bundle's signature with this key; return the payload or raise VerificationError."""
        bundle = _as_bundle(bundle)
        vm = bundle.verification_material
        if vm.kind != KIND_PUBLIC_KEY:
            raise VerificationError(f"bundle is signed with a certificate ({vm.kind}), not a bare key: verify "
                                    "it with the certificate's root (CertificateVerifier) or Sigstore")
        other_key = None
        if vm.public_key_hint is not None and vm.public_key_hint.lower() != self.hint:  # public data: plain compare
            other_key = f"key hint {vm.public_key_hint[:16]}…, yours is {self.hint[:16]}…"
        if vm.public_key_raw is not None:
            try:
                embedded = _keys.load_public_key(vm.public_key_raw)
                if _keys.public_key_pem(embedded) != _keys.public_key_pem(self.public_key):
                    other_key = f"embedded {_keys.describe_key(embedded)} {_keys.key_hint(embedded)[:16]}…"
            except KeyLoadError as exc:
                other_key = f"embedded key unreadable: {exc.reason}"
        ok, warnings = _check_signature(self.public_key, bundle)
        if not ok:
            if other_key:
                raise VerificationError(f"signature does not verify with the given {self.description} key: "
                                        f"the bundle names a different signing key ({other_key})")
            raise VerificationError(f"signature does not verify with the given {self.description} key: the "
                                    "payload or signature was altered after signing")
        if other_key:
            warnings = (*warnings, f"bundle's key reference does not match the given key ({other_key}); "
                        "the signature is valid for the given key")
        is_ext = not isinstance(self.public_key, ec.EllipticCurvePublicKey)
        return VerifiedPayload(payload=bundle.payload, payload_type=bundle.envelope.payload_type,
                               signer=f"{self.description} key {self.hint[:16]}…", method="key",
                               extension=is_ext, warnings=warnings)


def _match_identity(leaf: x509.Certificate, identity: Identity) -> None:
    from weightwarden.integrity._crypto import chain as _chain

    names = _chain.leaf_identities(leaf)
    problems = []
    if identity.email is not None and identity.email.lower() not in {e.lower() for e in names["email"]}:
        problems.append(f"email {identity.email!r} not in SAN {names['email']}")
    if identity.uri is not None and identity.uri not in names["uri"]:
        problems.append(f"URI {identity.uri!r} not in SAN {names['uri']}")
    if identity.common_name is not None and identity.common_name not in names["common_name"]:
        problems.append(f"common name {identity.common_name!r} not in subject {names['common_name']}")
    if problems:
        raise VerificationError(f"signing certificate {_chain.describe_cert(leaf)} is not the expected "
                                f"identity: {'; '.join(problems)}")


class CertificateVerifier:
    """Verifies certificate bundles: real chain validation to ``root_pems`` only, then the signature.

    ``root_pems``: PEM bytes with one or more trusted roots, or a list of PEM bytes / Certificates.
    ``identity``: optional :class:`Identity` (or a string matched against SAN email, SAN URI or CN).
    ``at_time``: when the chain must be valid (default: now).
    """

    def __init__(self, root_pems: bytes | str | Iterable[bytes | str | x509.Certificate], *,
                 identity: Identity | str | None = None, at_time: dt.datetime | None = None) -> None:
        self.roots = _keys.load_certificates(root_pems)
        if not self.roots:
            raise KeyLoadError("no trusted root certificate given")
        self.identity = identity
        self.at_time = at_time

    def verify(self, bundle: Bundle | bytes | str) -> VerifiedPayload:
        """Validate the chain, the leaf identity and the signature; return the payload or raise."""
        bundle = _as_bundle(bundle)
        vm = bundle.verification_material
        if vm.kind not in (KIND_X509_CHAIN, KIND_CERTIFICATE):
            raise VerificationError("bundle is signed with a bare key, not a certificate: verify it with the "
                                    "public key (KeyVerifier)")
        try:
            return self._verify_chain_bundle(bundle)
        except VerificationError:
            raise
        except Exception as exc:  # noqa: BLE001
            # Certificates are attacker-supplied DER; cryptography reports malformed parts with several
            # exception types (InvalidVersion, DuplicateExtension, ...) and some only when a field is
            # first read. Whatever it raises, the answer is "not verified", with the reason.
            raise VerificationError(f"bundle holds a malformed certificate: {type(exc).__name__}: {exc}") from None

    def _verify_chain_bundle(self, bundle: Bundle) -> VerifiedPayload:
        from cryptography import x509

        from weightwarden.integrity._crypto import chain as _chain

        with warnings.catch_warnings():
            # e.g. "serial number wasn't positive": the chain policy below decides, not a stderr warning
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            certs = [x509.load_der_x509_certificate(der) for der in bundle.verification_material.certificates]
        leaf, intermediates = certs[0], certs[1:]
        try:
            path = _chain.verify_chain(leaf, intermediates, self.roots, self.at_time)
        except ChainError as exc:
            raise VerificationError(exc.reason) from None
        if isinstance(self.identity, Identity):
            _match_identity(leaf, self.identity)
        elif self.identity is not None:
            names = _chain.leaf_identities(leaf)
            wanted = self.identity
            if not any(wanted == n or (kind == "email" and wanted.lower() == n.lower())
                       for kind, values in names.items() for n in values):
                raise VerificationError(f"signing certificate {_chain.describe_cert(leaf)} is not the expected "
                                        f"identity {wanted!r} (it names {names})")
        try:
            key = _keys.check_public(leaf.public_key())
        except KeyLoadError as exc:
            raise VerificationError(f"signing certificate key: {exc.reason}") from None
        ok, notes = _check_signature(key, bundle)
        if not ok:
            raise VerificationError(f"signature does not verify with the key of signing certificate "
                                    f"{_chain.describe_cert(leaf)}: the payload or signature was altered")
        subjects = tuple(_chain.describe_cert(c) for c in path)
        is_ext = not isinstance(key, ec.EllipticCurvePublicKey)
        return VerifiedPayload(payload=bundle.payload, payload_type=bundle.envelope.payload_type,
                               signer=f"certificate {subjects[0]} ({_keys.describe_key(key)}), "
                                      f"chain to root {subjects[-1]}",
                               method="certificate", extension=is_ext, warnings=notes, chain=subjects)


class SigstoreVerifier:
    """Sigstore keyless verification through the ``sigstore`` library (optional dependency).

    ``identity``: the certificate's SAN (e-mail or URI); ``issuer``: the OIDC issuer URL.
    Trust root, in order: ``trusted_root`` (a ``trusted_root.json`` path) if given; with ``offline=True``
    (default) the public-good root that the installed ``sigstore`` package ships, read straight from
    the package (no network, no TUF cache, nothing written to $HOME); with ``offline=False`` the library
    refreshes its TUF repository (network). It checks the Fulcio chain at the log's integrated time,
    the SCT, the Rekor inclusion proof / promise, any RFC 3161 timestamps and the signature.
    Caveat: a shipped root only knows the keys of its release; bundles logged after a Sigstore key
    rotation need a newer ``sigstore`` or an online refresh.
    """

    def __init__(self, identity: str, issuer: str, *, offline: bool = True,
                 trusted_root: str | Path | None = None) -> None:
        if not identity or not issuer:
            raise ValueError("SigstoreVerifier needs both an identity and an issuer")
        self.identity = identity
        self.issuer = issuer
        self.offline = offline
        self.trusted_root = trusted_root

    def _verifier(self) -> Any:
        from sigstore.models import TrustedRoot
        from sigstore.verify import Verifier

        if self.trusted_root is not None:
            return Verifier(trusted_root=TrustedRoot.from_file(str(self.trusted_root)))
        if self.offline:
            shipped = _shipped_trusted_root()
            if shipped is not None:
                return Verifier(trusted_root=TrustedRoot.from_file(str(shipped)))
        return Verifier.production(offline=self.offline)

    def verify(self, bundle: Bundle | bytes | str) -> VerifiedPayload:
        """Verify with sigstore-python; raise VerificationError with its reason on failure."""
        bundle = _as_bundle(bundle)
        if bundle.verification_material.kind != KIND_CERTIFICATE:
            raise VerificationError("not a Sigstore keyless bundle (it has no single Fulcio certificate)")
        try:
            from sigstore.errors import Error as SigstoreError
            from sigstore.models import Bundle as SigstoreBundle
            from sigstore.verify import policy
        except ImportError:
            raise VerificationError("Sigstore verification needs the optional `sigstore` package "
                                    "(pip install sigstore)") from None
        try:
            sig_bundle = SigstoreBundle.from_json(bundle.to_json())
            payload_type, payload = self._verifier().verify_dsse(
                sig_bundle, policy.Identity(identity=self.identity, issuer=self.issuer))
        except SigstoreError as exc:
            raise VerificationError(f"Sigstore verification failed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - fail closed on anything the library raises for bad input
            raise VerificationError(f"Sigstore verification failed: {type(exc).__name__}: {exc}") from None
        if payload != bundle.payload or payload_type != bundle.envelope.payload_type:
            raise VerificationError("Sigstore verified a different payload than the bundle carries")
        return VerifiedPayload(payload=payload, payload_type=payload_type,
                               signer=f"Sigstore identity {self.identity} (issuer {self.issuer})",
                               method="sigstore")


def _shipped_trusted_root() -> Path | None:
    """The production ``trusted_root.json`` inside the installed sigstore package, if it is there."""
    import importlib.util

    spec = importlib.util.find_spec("sigstore")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev" / "trusted_root.json"
        if candidate.is_file():
            return candidate
    return None
