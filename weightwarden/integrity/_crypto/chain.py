"""X.509 path validation for code-signing certificates, anchored ONLY at the roots the caller gives.

Built on ``cryptography.x509.verification`` (the RFC 5280 / CA-B-Forum path builder of ``cryptography``):
a :class:`~cryptography.x509.verification.Store` holding just the caller's roots (never the system
store), the client-verifier path builder, the stock ``webpki_defaults_ca`` policy for issuers (CA
basicConstraints, keyCertSign keyUsage, signature on every link, validity of every certificate at the
validation time), and a custom end-entity policy, because the stock end-entity policy demands the TLS
``clientAuth`` EKU. Our end-entity policy:

* extendedKeyUsage MUST be present and contain ``codeSigning``;
* keyUsage, when present, MUST allow ``digitalSignature``;
* issuers' extendedKeyUsage, when present, must allow ``codeSigning`` (or anyExtendedKeyUsage);
* basicConstraints on the leaf are not restricted: the model-transparency project's own vectors sign
  with a leaf marked ``CA:TRUE`` and model-signing accepts them.

Validity is checked at ``at_time`` (default: now), so an expired leaf is rejected even though
model-signing 1.1.1 accepts it. Before calling the path builder we check the leaf's own period and EKU
so the reason names the certificate and the dates instead of a generic "validation failed".
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.x509 import verification as xv
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from weightwarden.integrity._crypto.errors import ChainError

MAX_CHAIN_DEPTH = 8


def describe_cert(cert: x509.Certificate) -> str:
    """``CN=... (serial 0x..)`` for messages."""
    try:
        subject = cert.subject.rfc4514_string() or "(empty subject)"
    except ValueError:
        subject = "(unreadable subject)"
    return f"{subject} (serial {cert.serial_number:#x})"


def _eku_cb(_policy: Any, cert: x509.Certificate, eku: x509.ExtendedKeyUsage) -> None:
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ValueError(f"leaf {describe_cert(cert)} lacks the code-signing extended key usage")


def _ku_cb(_policy: Any, cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    if ku is not None and not ku.digital_signature:
        raise ValueError(f"leaf {describe_cert(cert)} key usage does not allow digital signatures")


def _ca_eku_cb(_policy: Any, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is None:
        return
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
        raise ValueError(f"issuer {describe_cert(cert)} extended key usage does not allow code signing")


def _policies() -> tuple[xv.ExtensionPolicy, xv.ExtensionPolicy]:
    ee = (
        xv.ExtensionPolicy.permit_all()
        .require_present(x509.ExtendedKeyUsage, xv.Criticality.AGNOSTIC, _eku_cb)
        .may_be_present(x509.KeyUsage, xv.Criticality.AGNOSTIC, _ku_cb)
    )
    ca = xv.ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, xv.Criticality.AGNOSTIC, _ca_eku_cb
    )
    return ca, ee


def _utc(when: dt.datetime | None) -> dt.datetime:
    if when is None:
        return dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def verify_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                 roots: Sequence[x509.Certificate], at_time: dt.datetime | None = None) -> list[x509.Certificate]:
    """Validate leaf → intermediates → one of ``roots``; return the chain (leaf first) or raise ChainError."""
    if not roots:
        raise ChainError("no trusted root certificate given")
    when = _utc(at_time)
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if when > end:
        raise ChainError(f"signing certificate {describe_cert(leaf)} expired on {end.isoformat()} "
                         f"(checked at {when.isoformat(timespec='seconds')})")
    if when < start:
        raise ChainError(f"signing certificate {describe_cert(leaf)} is not valid before {start.isoformat()} "
                         f"(checked at {when.isoformat(timespec='seconds')})")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise ChainError(f"signing certificate {describe_cert(leaf)} has no extended key usage "
                         "(code signing required)") from None
    except ValueError as exc:
        raise ChainError(f"signing certificate {describe_cert(leaf)} has malformed extensions: {exc}") from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ChainError(f"signing certificate {describe_cert(leaf)} is not for code signing "
                         "(extended key usage lacks codeSigning)")
    ca_policy, ee_policy = _policies()
    try:
        verifier = (
            xv.PolicyBuilder()
            .store(xv.Store(list(roots)))
            .time(when)
            .max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
            .build_client_verifier()
        )
        result = verifier.verify(leaf, list(intermediates))
    except xv.VerificationError as exc:
        raise ChainError(f"certificate chain does not validate to the given root: {exc}") from None
    except ValueError as exc:
        raise ChainError(f"certificate chain could not be checked: {exc}") from None
    return list(result.chain)


def leaf_identities(cert: x509.Certificate) -> dict[str, list[str]]:
    """The identities a leaf names: SAN emails, SAN URIs, SAN DNS names and subject common names."""
    out: dict[str, list[str]] = {"email": [], "uri": [], "dns": [], "common_name": []}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out["email"] = list(san.get_values_for_type(x509.RFC822Name))
        out["uri"] = list(san.get_values_for_type(x509.UniformResourceIdentifier))
        out["dns"] = list(san.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, ValueError):
        pass
    with contextlib.suppress(ValueError):
        out["common_name"] = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return out
