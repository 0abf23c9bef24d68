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
from cryptography.hazmat.primitives import serialization
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
        # The path builder's own words ("all candidates exhausted", "chain construction exceeds max depth")
        # name neither the certificate nor the cause; walk the chain to say which link failed and why.
        raise ChainError(f"certificate chain does not validate to the given root: "
                         f"{diagnose_chain(leaf, intermediates, roots, when)} (path builder: {exc})") from None
    except ValueError as exc:
        raise ChainError(f"certificate chain could not be checked: {exc}") from None
    return list(result.chain)


def _valid_at(cert: x509.Certificate, when: dt.datetime) -> str | None:
    if when > cert.not_valid_after_utc:
        return f"expired on {cert.not_valid_after_utc.isoformat()}"
    if when < cert.not_valid_before_utc:
        return f"is not valid before {cert.not_valid_before_utc.isoformat()}"
    return None


def _issuer_problem(cert: x509.Certificate, issuer: x509.Certificate, when: dt.datetime) -> str | None:
    """Why ``issuer`` cannot be the issuer of ``cert`` (signature, validity, CA constraints), or None."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError) as exc:
        return f"is not signed by {describe_cert(issuer)} ({exc})"
    except Exception:  # noqa: BLE001 - InvalidSignature and friends: the key does not match
        return f"carries a signature that does not verify with the key of {describe_cert(issuer)}"
    dates = _valid_at(issuer, when)
    if dates:
        return f"is issued by {describe_cert(issuer)}, which {dates}"
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not bc.ca:
            return f"is issued by {describe_cert(issuer)}, which is not a CA (basicConstraints CA:FALSE)"
    except x509.ExtensionNotFound:
        return f"is issued by {describe_cert(issuer)}, which has no basicConstraints (not a CA)"
    except ValueError as exc:
        return f"is issued by {describe_cert(issuer)}, whose extensions are malformed ({exc})"
    try:
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.key_cert_sign:
            return f"is issued by {describe_cert(issuer)}, whose key usage does not allow signing certificates"
    except (x509.ExtensionNotFound, ValueError):
        pass
    return None


def diagnose_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                   roots: Sequence[x509.Certificate], at_time: dt.datetime | None = None) -> str:
    """Which certificate of the chain fails, and why, in words: walks leaf → issuer by name, checking each
    link's signature, dates and CA constraints, until a given root is reached. Used to explain a failure
    of the path builder; it decides nothing itself."""
    when = _utc(at_time)
    root_ders = {r.public_bytes(serialization.Encoding.DER) for r in roots}
    current, seen = leaf, [leaf]
    for _ in range(MAX_CHAIN_DEPTH + 1):
        candidates = [c for c in (*intermediates, *roots) if c.subject == current.issuer and c is not current]
        if not candidates and current.issuer == current.subject:
            return (f"certificate {describe_cert(current)} is a self-signed root that is not among the given "
                    "roots (--chain)")
        if not candidates:
            what = "the signing certificate" if current is leaf else "certificate"
            return (f"{what} {describe_cert(current)} is issued by {current.issuer.rfc4514_string() or '(empty)'}, "
                    "which is neither in the bundle's chain nor among the given roots")
        problems = []
        for issuer in candidates:
            problem = _issuer_problem(current, issuer, when)
            if problem is None:
                if issuer.public_bytes(serialization.Encoding.DER) in root_ders:
                    return (f"every link checks out up to the given root {describe_cert(issuer)}; a constraint of "
                            "the chain (path length, name constraints, policy) was not met")
                if any(issuer is s for s in seen):
                    return f"the chain loops at {describe_cert(issuer)}"
                break
            problems.append(problem)
        else:
            return f"certificate {describe_cert(current)} " + "; and ".join(problems)
        current = issuer
        seen.append(current)
    return (f"the chain is longer than {MAX_CHAIN_DEPTH} certificates: "
            + " → ".join(describe_cert(c) for c in seen[:MAX_CHAIN_DEPTH + 1]))


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
