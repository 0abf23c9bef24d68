"""The Sigstore bundle (v0.3 JSON) that carries a model signature, as OpenSSF model-signing writes it.

A bundle is a DSSE envelope (the signed in-toto statement, base64) plus the material a verifier needs to
find the signer: a public-key hint, an X.509 chain, or a single (Sigstore/Fulcio) certificate with
transparency-log entries. This module only parses and writes that JSON; it never checks a signature
(see :mod:`weightwarden.integrity.verifying`) and never looks at model files.

Use::

    bundle = parse_bundle(path.read_bytes())        # strict; raises BundleError(reason)
    bundle.envelope.payload                          # the in-toto statement bytes (what was signed)
    path.write_bytes(bundle.to_json())               # byte layout model-signing 1.1.1 writes

Parsing is strict and fail-closed, because a verifier must never act on a bundle it half understood:
wrong media type or payload type, unknown or duplicated JSON keys, missing fields, wrong JSON types,
bad base64, no signature or several signatures (model-signing signs with exactly one key; several
signatures would make "who signed" ambiguous), and input larger than ``max_bytes`` are all a
:class:`BundleError` naming what is wrong. Transparency-log entries and timestamp data are kept verbatim
(as compact JSON text) so that a Sigstore bundle round-trips; only the Sigstore verifier interprets them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from weightwarden.core.errors import InputError

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
# A signed manifest of a huge model (many files, per-tensor digests) stays well under this; anything
# bigger is refused before json.loads sees it.
DEFAULT_MAX_BUNDLE_BYTES = 64 * 1024 * 1024
# Real bundles nest about 6 levels; the bound stops a deeply nested document before json recursion.
_MAX_NESTING = 64

KIND_PUBLIC_KEY = "public_key"
KIND_X509_CHAIN = "x509_chain"
KIND_CERTIFICATE = "certificate"


class BundleError(InputError, ValueError):
    """A bundle that is not a well-formed model-signing Sigstore bundle; ``reason`` says why."""


@dataclass(frozen=True, slots=True)
class Signature:
    """One DSSE signature: raw signature bytes and the optional key id.

    ``keyid`` is ``""`` (model-signing 1.x), ``None`` for JSON null (0.x) or when absent (Sigstore);
    ``has_keyid`` is False when the field was absent, so the bundle is written back the same way.
    """

    sig: bytes
    keyid: str | None = ""
    has_keyid: bool = True


@dataclass(frozen=True, slots=True)
class Envelope:
    """The DSSE envelope: ``payload`` is the exact signed bytes (the in-toto statement JSON)."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]

    @property
    def signature(self) -> Signature:
        """The single signature (parse_bundle guarantees there is exactly one)."""
        return self.signatures[0]


@dataclass(frozen=True, slots=True)
class VerificationMaterial:
    """How to find the signer.

    ``kind`` is one of ``public_key`` (``public_key_hint`` and/or ``public_key_raw`` + ``key_details``,
    the older layout), ``x509_chain`` (``certificates``: DER, leaf first) or ``certificate`` (one DER
    leaf, the Sigstore keyless layout). ``tlog_entries`` / ``timestamp_data`` are compact JSON texts kept
    verbatim; ``has_tlog_field`` records whether ``tlogEntries`` was present (older versions omit it).
    """

    kind: str
    public_key_hint: str | None = None
    public_key_raw: bytes | None = None
    key_details: str | None = None
    certificates: tuple[bytes, ...] = ()
    tlog_entries: tuple[str, ...] = ()
    timestamp_data: str | None = None
    has_tlog_field: bool = True


@dataclass(frozen=True, slots=True)
class Bundle:
    """A parsed model-signing bundle. Build one with :func:`parse_bundle` or a signer."""

    verification_material: VerificationMaterial
    envelope: Envelope
    media_type: str = BUNDLE_MEDIA_TYPE

    @property
    def payload(self) -> bytes:
        """The signed payload (in-toto statement JSON bytes)."""
        return self.envelope.payload

    def to_json(self) -> bytes:
        """The bundle as compact JSON, in the key order and casing model-signing 1.1.1 writes."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=True).encode("ascii")

    def to_dict(self) -> dict[str, Any]:
        """The bundle as a JSON-ready dict (camelCase keys, base64 bytes)."""
        vm = self.verification_material
        material: dict[str, Any] = {}
        if vm.kind == KIND_PUBLIC_KEY:
            key: dict[str, Any] = {}
            if vm.public_key_raw is not None:
                key["rawBytes"] = _b64(vm.public_key_raw)
            if vm.key_details is not None:
                key["keyDetails"] = vm.key_details
            if vm.public_key_hint is not None:
                key["hint"] = vm.public_key_hint
            material["publicKey"] = key
        elif vm.kind == KIND_X509_CHAIN:
            material["x509CertificateChain"] = {"certificates": [{"rawBytes": _b64(c)} for c in vm.certificates]}
        else:
            material["certificate"] = {"rawBytes": _b64(vm.certificates[0])}
        if vm.has_tlog_field or vm.tlog_entries:
            material["tlogEntries"] = [json.loads(t) for t in vm.tlog_entries]
        if vm.timestamp_data is not None:
            material["timestampVerificationData"] = json.loads(vm.timestamp_data)
        env = self.envelope
        return {
            "mediaType": self.media_type,
            "verificationMaterial": material,
            "dsseEnvelope": {
                "payload": _b64(env.payload),
                "payloadType": env.payload_type,
                "signatures": [_signature_dict(s) for s in env.signatures],
            },
        }


def _signature_dict(sig: Signature) -> dict[str, Any]:
    out: dict[str, Any] = {"sig": _b64(sig.sig)}
    if sig.has_keyid or sig.keyid is not None:
        out["keyid"] = sig.keyid
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def read_bundle_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES) -> bytes:
    """The bytes of a bundle file, read up to one byte past ``max_bytes`` (so :func:`parse_bundle` can say
    it is too big) whatever the file's size: a hostile multi-GB "bundle" costs no memory. OSError if
    unreadable."""
    with open(path, "rb") as handle:
        return handle.read(max_bytes + 1)


def parse_bundle(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES) -> Bundle:
    """Parse and strictly validate bundle JSON; raise :class:`BundleError` naming the first problem."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BundleError(f"bundle must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise BundleError(f"bundle is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data.strip():
        raise BundleError("bundle is empty")
    from weightwarden.core.strict_json import StrictJSONError, loads

    try:  # duplicate keys, NaN, overflow, unpaired surrogates and deep nesting refused (core.strict_json)
        doc = loads(data, max_depth=_MAX_NESTING)
    except StrictJSONError as exc:
        raise BundleError(f"bundle: {exc.reason}") from None
    return _parse_doc(doc)


def _obj(value: Any, where: str, allowed: set[str], required: set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(f"{where} must be a JSON object, not {_jtype(value)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BundleError(f"{where} has unknown field {unknown[0]!r}")
    missing = sorted(required - set(value))
    if missing:
        raise BundleError(f"{where} is missing {missing[0]!r}")
    return value


def _str(value: Any, where: str, *, nonempty: bool = True) -> str:
    if not isinstance(value, str):
        raise BundleError(f"{where} must be a string, not {_jtype(value)}")
    if nonempty and not value:
        raise BundleError(f"{where} is empty")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise BundleError(f"{where} must be a JSON array, not {_jtype(value)}")
    return value


def _jtype(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _b64decode(value: Any, where: str) -> bytes:
    """Decode base64 as protobuf JSON does: standard or URL-safe alphabet, padding optional, nothing else."""
    text = _str(value, where)
    if not text.isascii():
        raise BundleError(f"{where} is not valid base64 (non-ASCII character)")
    text = text.replace("-", "+").replace("_", "/")
    stripped = text.rstrip("=")
    if len(text) - len(stripped) > 2 or len(stripped) % 4 == 1:
        raise BundleError(f"{where} is not valid base64 (bad length or padding)")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{where} is not valid base64") from None


def _parse_doc(doc: Any) -> Bundle:
    top = _obj(doc, "bundle", {"mediaType", "verificationMaterial", "dsseEnvelope", "messageSignature"},
               {"mediaType", "verificationMaterial"})
    media_type = _str(top["mediaType"], "mediaType")
    if media_type != BUNDLE_MEDIA_TYPE:
        raise BundleError(f"unsupported bundle mediaType {media_type!r} (expected {BUNDLE_MEDIA_TYPE!r})")
    if "messageSignature" in top:
        raise BundleError("bundle holds a messageSignature, not a DSSE envelope: not a model-signing bundle")
    if "dsseEnvelope" not in top:
        raise BundleError("bundle is missing 'dsseEnvelope'")
    material = _parse_material(top["verificationMaterial"])
    envelope = _parse_envelope(top["dsseEnvelope"])
    return Bundle(verification_material=material, envelope=envelope, media_type=media_type)


def _parse_material(value: Any) -> VerificationMaterial:
    where = "verificationMaterial"
    vm = _obj(value, where, {"publicKey", "x509CertificateChain", "certificate", "tlogEntries",
                             "timestampVerificationData"})
    kinds = [k for k in ("publicKey", "x509CertificateChain", "certificate") if k in vm]
    if not kinds:
        raise BundleError(f"{where} names no signer (publicKey, x509CertificateChain or certificate)")
    if len(kinds) > 1:
        raise BundleError(f"{where} has both {kinds[0]!r} and {kinds[1]!r}")
    has_tlog = "tlogEntries" in vm
    tlog: tuple[str, ...] = ()
    if has_tlog:
        entries = _list(vm["tlogEntries"], f"{where}.tlogEntries")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise BundleError(f"{where}.tlogEntries[{i}] must be a JSON object, not {_jtype(entry)}")
        tlog = tuple(json.dumps(e, separators=(",", ":")) for e in entries)
    ts_data = None
    if "timestampVerificationData" in vm:
        ts = vm["timestampVerificationData"]
        if not isinstance(ts, dict):
            raise BundleError(f"{where}.timestampVerificationData must be a JSON object, not {_jtype(ts)}")
        ts_data = json.dumps(ts, separators=(",", ":"))
    common = {"tlog_entries": tlog, "timestamp_data": ts_data, "has_tlog_field": has_tlog}
    kind = kinds[0]
    if kind == "publicKey":
        pk = _obj(vm["publicKey"], f"{where}.publicKey", {"hint", "rawBytes", "keyDetails"})
        hint = _str(pk["hint"], f"{where}.publicKey.hint") if "hint" in pk else None
        raw = _b64decode(pk["rawBytes"], f"{where}.publicKey.rawBytes") if "rawBytes" in pk else None
        details = _str(pk["keyDetails"], f"{where}.publicKey.keyDetails") if "keyDetails" in pk else None
        if hint is None and raw is None:
            raise BundleError(f"{where}.publicKey has neither 'hint' nor 'rawBytes'")
        return VerificationMaterial(kind=KIND_PUBLIC_KEY, public_key_hint=hint, public_key_raw=raw,
                                    key_details=details, **common)
    if kind == "x509CertificateChain":
        chain = _obj(vm[kind], f"{where}.x509CertificateChain", {"certificates"}, {"certificates"})
        certs = _list(chain["certificates"], f"{where}.x509CertificateChain.certificates")
        if not certs:
            raise BundleError(f"{where}.x509CertificateChain.certificates is empty")
        ders = []
        for i, cert in enumerate(certs):
            w = f"{where}.x509CertificateChain.certificates[{i}]"
            ders.append(_b64decode(_obj(cert, w, {"rawBytes"}, {"rawBytes"})["rawBytes"], f"{w}.rawBytes"))
        return VerificationMaterial(kind=KIND_X509_CHAIN, certificates=tuple(ders), **common)
    cert = _obj(vm[kind], f"{where}.certificate", {"rawBytes"}, {"rawBytes"})
    der = _b64decode(cert["rawBytes"], f"{where}.certificate.rawBytes")
    return VerificationMaterial(kind=KIND_CERTIFICATE, certificates=(der,), **common)


def _parse_envelope(value: Any) -> Envelope:
    where = "dsseEnvelope"
    env = _obj(value, where, {"payload", "payloadType", "signatures"}, {"payload", "payloadType", "signatures"})
    payload_type = _str(env["payloadType"], f"{where}.payloadType")
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise BundleError(f"unsupported payloadType {payload_type!r} (expected {IN_TOTO_PAYLOAD_TYPE!r})")
    payload = _b64decode(env["payload"], f"{where}.payload")
    sigs = _list(env["signatures"], f"{where}.signatures")
    if not sigs:
        raise BundleError(f"{where} has no signature")
    if len(sigs) > 1:
        raise BundleError(f"{where} has {len(sigs)} signatures; model-signing bundles carry exactly one")
    w = f"{where}.signatures[0]"
    sig_obj = _obj(sigs[0], w, {"sig", "keyid"}, {"sig"})
    sig = _b64decode(sig_obj["sig"], f"{w}.sig")
    keyid = sig_obj.get("keyid")
    if keyid is not None and not isinstance(keyid, str):
        raise BundleError(f"{w}.keyid must be a string or null, not {_jtype(keyid)}")
    signature = Signature(sig=sig, keyid=keyid, has_keyid="keyid" in sig_obj)
    return Envelope(payload=payload, payload_type=payload_type, signatures=(signature,))
