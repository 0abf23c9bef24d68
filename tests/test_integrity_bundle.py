"""The bundle parser/writer and DSSE PAE: every shared fixture parses, model-signing's byte layout is
reproduced, every kind of malformed bundle is a BundleError with a reason, and fuzzing (random and
mutated fixture JSON) never crashes the parser nor yields "verified" for a payload that was not signed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._required import require
from tests.corpus.samples import SHARED
from weightwarden.integrity._crypto.dsse import pae
from weightwarden.integrity.bundle import (
    BUNDLE_MEDIA_TYPE,
    KIND_CERTIFICATE,
    KIND_PUBLIC_KEY,
    KIND_X509_CHAIN,
    Bundle,
    BundleError,
    parse_bundle,
)
from weightwarden.integrity.verifying import KeyVerifier, VerificationError

MS = SHARED / "fixtures" / "model-signing"
BUNDLES = MS / "v1.1.1" / "bundles"
UPSTREAM = MS / "upstream-vectors"

require(MS.is_dir(), f"the model-signing fixtures ({MS})")

V111_BUNDLES = sorted(p.name for p in BUNDLES.glob("*.sig")) if BUNDLES.is_dir() else []
UPSTREAM_VECTORS = sorted(p.name for p in UPSTREAM.iterdir() if (p / "model.sig").is_file()) if UPSTREAM.is_dir() else []
KEY_BUNDLE = BUNDLES / "key-p256.files-sha256.sig"


def _doc(path: Path = KEY_BUNDLE) -> dict:
    return json.loads(path.read_bytes())


def _dump(doc: object) -> bytes:
    return json.dumps(doc).encode()


# --------------------------------------------------------------------------- DSSE PAE

def test_pae_matches_dsse_spec_vector() -> None:
    # The worked example of the DSSE v1 protocol.
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"  # lengths in bytes, not characters


# --------------------------------------------------------------------------- fixtures parse

@pytest.mark.parametrize("name", V111_BUNDLES)
def test_v111_bundles_parse(name: str) -> None:
    raw = (BUNDLES / name).read_bytes()
    bundle = parse_bundle(raw)
    kind = KIND_X509_CHAIN if name.startswith("cert") else KIND_PUBLIC_KEY
    assert bundle.verification_material.kind == kind
    assert bundle.envelope.signature.keyid == ""
    assert bundle.payload.startswith(b"{")
    if kind == KIND_X509_CHAIN:
        assert len(bundle.verification_material.certificates) == 3  # leaf, intermediate, root
    else:
        assert len(bundle.verification_material.public_key_hint or "") == 64
    if not name.startswith("TAMPERED"):
        # byte-for-byte the layout model-signing 1.1.1 writes (compact JSON, its key order)
        assert bundle.to_json() == raw
    assert parse_bundle(bundle.to_json()) == bundle


@pytest.mark.parametrize("vector", UPSTREAM_VECTORS)
def test_upstream_bundles_parse_and_round_trip(vector: str) -> None:
    raw = (UPSTREAM / vector / "model.sig").read_bytes()
    bundle = parse_bundle(raw)
    expected = {"certificate": KIND_X509_CHAIN, "elliptic-key": KIND_PUBLIC_KEY, "sigstore": KIND_CERTIFICATE}
    assert bundle.verification_material.kind == expected[vector.split("-", 1)[1]]
    # every field survives (older layouts: publicKey.rawBytes + keyDetails, null keyid, no tlogEntries,
    # Sigstore tlog entries and RFC 3161 timestamps kept verbatim)
    assert bundle.to_dict() == json.loads(raw)
    assert parse_bundle(bundle.to_json()) == bundle


def test_keyid_variants_accepted() -> None:
    doc = _doc()
    for keyid in ("", None, "some-key-id"):
        doc["dsseEnvelope"]["signatures"][0]["keyid"] = keyid
        assert parse_bundle(_dump(doc)).envelope.signature.keyid == keyid
        assert parse_bundle(_dump(doc)).envelope.signature.has_keyid
    del doc["dsseEnvelope"]["signatures"][0]["keyid"]
    absent = parse_bundle(_dump(doc))
    assert absent.envelope.signature.keyid is None and not absent.envelope.signature.has_keyid
    assert "keyid" not in json.loads(absent.to_json())["dsseEnvelope"]["signatures"][0]


def test_base64_variants_accepted() -> None:
    doc = _doc()
    sig = base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"])
    for text in (base64.urlsafe_b64encode(sig).decode(), base64.b64encode(sig).decode().rstrip("=")):
        doc["dsseEnvelope"]["signatures"][0]["sig"] = text
        assert parse_bundle(_dump(doc)).envelope.signature.sig == sig


# --------------------------------------------------------------------------- malformed bundles

def _mutate(path: tuple, value: object = None, *, delete: bool = False) -> bytes:
    doc = _doc()
    target = doc
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return _dump(doc)


SIG0 = ("dsseEnvelope", "signatures", 0)
MALFORMED = {
    "wrong media type": (_mutate(("mediaType",), "application/vnd.dev.sigstore.bundle+json;version=0.2"), "mediaType"),
    "media type not string": (_mutate(("mediaType",), 3), "must be a string"),
    "wrong payload type": (_mutate(("dsseEnvelope", "payloadType"), "text/plain"), "payloadType"),
    "missing envelope": (_mutate(("dsseEnvelope",), delete=True), "dsseEnvelope"),
    "missing material": (_mutate(("verificationMaterial",), delete=True), "verificationMaterial"),
    "missing payload": (_mutate(("dsseEnvelope", "payload"), delete=True), "payload"),
    "missing sig": (_mutate((*SIG0, "sig"), delete=True), "sig"),
    "bad base64 payload": (_mutate(("dsseEnvelope", "payload"), "not base64!"), "base64"),
    "bad base64 sig": (_mutate((*SIG0, "sig"), "A"), "base64"),
    "empty payload": (_mutate(("dsseEnvelope", "payload"), ""), "empty"),
    "no signature": (_mutate(("dsseEnvelope", "signatures"), []), "no signature"),
    "two signatures": (_mutate(("dsseEnvelope", "signatures"), [{"sig": "AAAA"}, {"sig": "AAAA"}]), "exactly one"),
    "signatures not a list": (_mutate(("dsseEnvelope", "signatures"), {"sig": "AAAA"}), "array"),
    "keyid number": (_mutate((*SIG0, "keyid"), 7), "keyid"),
    "unknown top field": (_mutate(("extra",), 1), "unknown field"),
    "unknown signature field": (_mutate((*SIG0, "cert"), "x"), "unknown field"),
    "no signer": (_mutate(("verificationMaterial", "publicKey"), delete=True), "names no signer"),
    "empty public key": (_mutate(("verificationMaterial", "publicKey"), {}), "neither"),
    "two signers": (_mutate(("verificationMaterial", "certificate"), {"rawBytes": "AAAA"}), "both"),
    "empty chain": (_mutate(("verificationMaterial",), {"x509CertificateChain": {"certificates": []}}), "empty"),
    "tlog not list": (_mutate(("verificationMaterial", "tlogEntries"), {}), "array"),
    "message signature": (_mutate(("messageSignature",), {}), "messageSignature"),
    "top-level array": (b"[]", "object"),
    "not json": (b"{nope", "not valid JSON"),
    "empty": (b"  ", "empty"),
    "not utf-8": (b'{"mediaType": "\xff"}', "UTF-8"),
    "NaN": (b'{"mediaType": NaN}', "constant"),
    "duplicate key": (b'{"mediaType": "a", "mediaType": "b"}', "duplicate"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "deeper"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bundles_rejected_with_reason(case: str) -> None:
    data, reason = MALFORMED[case]
    with pytest.raises(BundleError, match=reason) as info:
        parse_bundle(data)
    assert info.value.reason
    # and a verifier says "not verified" with that reason rather than crashing
    with pytest.raises(VerificationError, match="malformed bundle"):
        KeyVerifier((MS / "v1.1.1" / "keys" / "p256.pub.pem").read_bytes()).verify(data)


def test_size_bound() -> None:
    raw = KEY_BUNDLE.read_bytes()
    with pytest.raises(BundleError, match="limit"):
        parse_bundle(raw, max_bytes=len(raw) - 1)
    assert isinstance(parse_bundle(raw, max_bytes=len(raw)), Bundle)
    assert BUNDLE_MEDIA_TYPE in raw.decode()


# --------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_VERIFIER = None


def _verifier() -> KeyVerifier:
    global _VERIFIER
    if _VERIFIER is None:
        _VERIFIER = KeyVerifier((MS / "v1.1.1" / "keys" / "p256.pub.pem").read_bytes())
    return _VERIFIER


def _parse_or_error(data: bytes) -> Bundle | None:
    try:
        return parse_bundle(data)
    except BundleError as exc:
        assert exc.reason
        return None


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    _parse_or_error(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(JSON_VALUES)
def test_fuzz_random_json(value: object) -> None:
    _parse_or_error(json.dumps(value).encode())


_ORIGINAL = None


def _original() -> tuple[bytes, Bundle]:
    global _ORIGINAL
    if _ORIGINAL is None:
        raw = KEY_BUNDLE.read_bytes()
        _ORIGINAL = (raw, parse_bundle(raw))
    return _ORIGINAL


@FUZZ
@given(st.data())
def test_fuzz_mutated_fixture_never_falsely_verifies(data: st.DataObject) -> None:
    raw, original = _original()
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        pos = data.draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "delete" and buf:
            del buf[pos:pos + data.draw(st.integers(1, 16))]
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del buf[pos:]
    bundle = _parse_or_error(bytes(buf))
    if bundle is None:
        return
    try:
        verified = _verifier().verify(bundle)
    except VerificationError as exc:
        assert exc.reason
        return
    # "verified" only when the signed bytes are untouched (base64 variants of the same bytes are fine)
    assert verified.payload == original.payload
    assert pae(bundle.envelope.payload_type, bundle.payload) == pae(original.envelope.payload_type, original.payload)


@FUZZ
@given(st.data())
def test_fuzz_mutated_json_fields(data: st.DataObject) -> None:
    """Structure-aware: replace one field anywhere in a fixture with a random JSON value."""
    name = data.draw(st.sampled_from(V111_BUNDLES + [f"up:{v}" for v in UPSTREAM_VECTORS]))
    path = UPSTREAM / name[3:] / "model.sig" if name.startswith("up:") else BUNDLES / name
    raw = path.read_bytes()
    doc = json.loads(raw)
    node = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        node[key] = data.draw(JSON_VALUES)
        break
    bundle = _parse_or_error(json.dumps(doc).encode())
    if bundle is not None and bundle.verification_material.kind == KIND_PUBLIC_KEY:
        try:
            verified = _verifier().verify(bundle)
        except VerificationError:
            return
        # a validly signed bundle (several fixtures share the P-256 key) only ever yields its own payload
        assert verified.payload == parse_bundle(raw).payload


_CERT_ORIGINAL = None


def _cert_original():
    global _CERT_ORIGINAL
    if _CERT_ORIGINAL is None:
        from weightwarden.integrity.verifying import CertificateVerifier

        bundle = parse_bundle((BUNDLES / "cert-p256.files-sha256.sig").read_bytes())
        _CERT_ORIGINAL = (bundle, CertificateVerifier((MS / "v1.1.1" / "keys" / "ca.pem").read_bytes()))
    return _CERT_ORIGINAL


@FUZZ
@given(st.data())
def test_fuzz_mutated_certificates_never_crash_or_falsely_verify(data: st.DataObject) -> None:
    """Corrupt one DER certificate of a chain bundle: always a reasoned rejection, never a crash."""
    import dataclasses

    bundle, verifier = _cert_original()
    certs = list(bundle.verification_material.certificates)
    index = data.draw(st.integers(0, len(certs) - 1))
    der = bytearray(certs[index])
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(der) - 1))
        if data.draw(st.booleans()):
            der[pos] ^= 1 << data.draw(st.integers(0, 7))
        else:
            del der[pos:pos + data.draw(st.integers(1, 8))]
    certs[index] = bytes(der)
    if data.draw(st.booleans()):
        certs = certs[: data.draw(st.integers(1, len(certs)))]
    mutated = dataclasses.replace(
        bundle, verification_material=dataclasses.replace(bundle.verification_material, certificates=tuple(certs)))
    try:
        verified = verifier.verify(mutated)
    except VerificationError as exc:
        assert exc.reason
        return
    # only a change the chain check cannot see (e.g. dropping the root copy, or an unsigned field such as
    # the root's own signature bytes) may still verify -- and then the payload is the signed one
    assert verified.payload == bundle.payload
