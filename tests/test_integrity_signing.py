"""Signers and verifiers: OpenSSF model-signing interop in both directions, chains, identities, keys.

Checks that every key / certificate bundle in ``../shared/fixtures/model-signing`` (model-signing 1.1.1
and the upstream vectors v0.2.0..v1.1.0) verifies with the right key or root, that the expired-leaf and
TAMPERED bundles are rejected with a clear reason, sign → verify round trips for every key type and for
certificate chains (with identity constraints), that chain validation is real (wrong root, non-CA issuer,
missing code-signing EKU, attacker root shipped inside the bundle), encrypted key loading, and -- when
``model-signing`` is installed -- that model-signing 1.1.1 verifies the bundles weightwarden writes. The
Sigstore keyless vectors are verified offline when the optional ``sigstore`` package is installed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests._required import require
from tests.corpus.samples import SHARED
from weightwarden.integrity.bundle import KIND_X509_CHAIN, Bundle, VerificationMaterial, parse_bundle
from weightwarden.integrity.signing import (
    CertificateSigner,
    KeyLoadError,
    KeySigner,
    SigningError,
    SigstoreSigner,
)
from weightwarden.integrity.verifying import (
    LEGACY_V020_WARNING,
    CertificateVerifier,
    Identity,
    KeyVerifier,
    SigstoreVerifier,
    VerificationError,
    _shipped_trusted_root,
)

MS = SHARED / "fixtures" / "model-signing"
V111 = MS / "v1.1.1"
BUNDLES = V111 / "bundles"
KEYS = V111 / "keys"
UPSTREAM = MS / "upstream-vectors"
UP_KEYS = UPSTREAM / "keys" / "certificate"

require(MS.is_dir(), f"the model-signing fixtures ({MS})")

HAS_SIGSTORE = importlib.util.find_spec("sigstore") is not None
HAS_MODEL_SIGNING = importlib.util.find_spec("model_signing") is not None and importlib.util.find_spec(
    "OpenSSL") is not None
STATEMENT_PREFIX = b'{\n  "_type": "https://in-toto.io/Statement/v1"'


def _read(path: Path) -> bytes:
    return path.read_bytes()


# --------------------------------------------------------------------------- fixtures: model-signing 1.1.1

@pytest.mark.parametrize(("name", "key"), [
    ("key-p256.files-sha256.sig", "p256"),
    ("key-p256.files-blake3.sig", "p256"),
    ("key-p256.files-blake2b.sig", "p256"),
    ("key-p256.shards-sha256-524288.sig", "p256"),
    ("key-p384.files-sha256.sig", "p384"),
])
def test_v111_key_bundles_verify(name: str, key: str) -> None:
    verified = KeyVerifier(_read(KEYS / f"{key}.pub.pem")).verify(_read(BUNDLES / name))
    assert verified.method == "key"
    assert verified.payload.startswith(STATEMENT_PREFIX)
    assert not verified.warnings and not verified.extension
    assert ("P-384" if key == "p384" else "P-256") in verified.signer


def test_v111_cert_bundle_verifies_to_root_only() -> None:
    verifier = CertificateVerifier(_read(KEYS / "ca.pem"))
    verified = verifier.verify(_read(BUNDLES / "cert-p256.files-sha256.sig"))
    assert verified.method == "certificate"
    assert verified.chain[0].startswith("CN=fixture-signer@example.invalid")
    assert verified.chain[-1].startswith("CN=Fixture Root CA")
    by_cn = CertificateVerifier(_read(KEYS / "ca.pem"), identity=Identity(common_name="fixture-signer@example.invalid"))
    assert by_cn.verify(_read(BUNDLES / "cert-p256.files-sha256.sig")).payload == verified.payload


def test_v111_cert_bundle_wrong_identity_rejected() -> None:
    verifier = CertificateVerifier(_read(KEYS / "ca.pem"), identity=Identity(email="someone@example.org"))
    with pytest.raises(VerificationError, match="not the expected identity"):
        verifier.verify(_read(BUNDLES / "cert-p256.files-sha256.sig"))
    with pytest.raises(VerificationError, match="not the expected identity"):
        CertificateVerifier(_read(KEYS / "ca.pem"), identity="mallory").verify(
            _read(BUNDLES / "cert-p256.files-sha256.sig"))


def test_v111_expired_cert_rejected_but_valid_at_signing_time() -> None:
    raw = _read(BUNDLES / "cert-expired-p256.files-sha256.sig")
    with pytest.raises(VerificationError, match=r"expired on 2025-06-01"):
        CertificateVerifier(_read(KEYS / "ca.pem")).verify(raw)
    # Given a trusted signing time inside its validity, the same chain is fine.
    at = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    assert CertificateVerifier(_read(KEYS / "ca.pem"), at_time=at).verify(raw).payload.startswith(STATEMENT_PREFIX)


def test_v111_tampered_payload_rejected() -> None:
    with pytest.raises(VerificationError, match="altered"):
        KeyVerifier(_read(KEYS / "p256.pub.pem")).verify(_read(BUNDLES / "TAMPERED-payload.key-p256.files-sha256.sig"))


def test_wrong_key_rejected_with_reason() -> None:
    with pytest.raises(VerificationError, match="different signing key"):
        KeyVerifier(_read(KEYS / "p384.pub.pem")).verify(_read(BUNDLES / "key-p256.files-sha256.sig"))


def test_odd_hint_and_malformed_certificate_fail_closed() -> None:
    """Regressions found by the fuzzers: a non-ASCII key hint, a certificate with an invalid version."""
    doc = json.loads(_read(BUNDLES / "key-p256.files-sha256.sig"))
    doc["verificationMaterial"]["publicKey"]["hint"] = "\u00e9" * 64
    verified = KeyVerifier(_read(KEYS / "p256.pub.pem")).verify(json.dumps(doc).encode())
    assert verified.warnings and "key reference does not match" in verified.warnings[0]
    bundle = parse_bundle(_read(BUNDLES / "cert-p256.files-sha256.sig"))
    leaf = bundle.verification_material.certificates[0]
    assert b"\xa0\x03\x02\x01\x02" in leaf  # [0] EXPLICIT INTEGER 2 (= X.509 v3)
    bad = leaf.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x07", 1)
    material = dataclasses.replace(bundle.verification_material,
                                   certificates=(bad, *bundle.verification_material.certificates[1:]))
    with pytest.raises(VerificationError, match="malformed certificate"):
        CertificateVerifier(_read(KEYS / "ca.pem")).verify(dataclasses.replace(bundle, verification_material=material))


def test_wrong_root_rejected() -> None:
    with pytest.raises(VerificationError, match="does not validate"):
        CertificateVerifier(_read(UP_KEYS / "ca-cert.pem")).verify(_read(BUNDLES / "cert-p256.files-sha256.sig"))


def test_method_mismatch_is_explained() -> None:
    with pytest.raises(VerificationError, match="certificate"):
        KeyVerifier(_read(KEYS / "p256.pub.pem")).verify(_read(BUNDLES / "cert-p256.files-sha256.sig"))
    with pytest.raises(VerificationError, match="bare key"):
        CertificateVerifier(_read(KEYS / "ca.pem")).verify(_read(BUNDLES / "key-p256.files-sha256.sig"))
    with pytest.raises(VerificationError, match="malformed bundle"):
        KeyVerifier(_read(KEYS / "p256.pub.pem")).verify(b"{}")


# --------------------------------------------------------------------------- upstream vectors

UP_KEY_VECTORS = ["v0.3.1-elliptic-key", "v1.0.0-elliptic-key", "v1.0.1-elliptic-key", "v1.1.0-elliptic-key"]
UP_CERT_VECTORS = ["v0.2.0-certificate", "v0.3.1-certificate", "v1.0.0-certificate", "v1.0.1-certificate",
                   "v1.1.0-certificate"]
UP_SIGSTORE_VECTORS = ["v0.3.1-sigstore", "v1.0.0-sigstore", "v1.0.1-sigstore", "v1.1.0-sigstore"]


@pytest.mark.parametrize("vector", UP_KEY_VECTORS)
def test_upstream_key_vectors_verify(vector: str) -> None:
    verified = KeyVerifier(_read(UP_KEYS / "signing-key-pub.pem")).verify(_read(UPSTREAM / vector / "model.sig"))
    assert "P-384" in verified.signer and not verified.warnings


@pytest.mark.parametrize("vector", UP_CERT_VECTORS)
def test_upstream_certificate_vectors_verify(vector: str) -> None:
    verified = CertificateVerifier(_read(UP_KEYS / "ca-cert.pem")).verify(_read(UPSTREAM / vector / "model.sig"))
    assert verified.chain[-1].startswith("CN=root-ca")
    # v0.2.0 signed a non-standard PAE; accepted, but said so.
    assert verified.warnings == ((LEGACY_V020_WARNING,) if vector.startswith("v0.2.0") else ())


@pytest.mark.skipif(not HAS_SIGSTORE, reason="optional `sigstore` package not installed")
@pytest.mark.parametrize("vector", UP_SIGSTORE_VECTORS)
def test_upstream_sigstore_vectors_verify_offline(vector: str) -> None:
    verifier = SigstoreVerifier("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2")
    verified = verifier.verify(_read(UPSTREAM / vector / "model.sig"))
    assert verified.method == "sigstore" and verified.payload.startswith(STATEMENT_PREFIX)
    root = _shipped_trusted_root()
    assert root is not None  # verified against the root the package ships, not a cache
    explicit = SigstoreVerifier("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2", trusted_root=root)
    assert explicit.verify(_read(UPSTREAM / vector / "model.sig")).payload == verified.payload


@pytest.mark.skipif(not HAS_SIGSTORE, reason="optional `sigstore` package not installed")
def test_sigstore_wrong_identity_and_tamper_rejected() -> None:
    raw = _read(UPSTREAM / "v1.1.0-sigstore" / "model.sig")
    with pytest.raises(VerificationError, match="SAN"):
        SigstoreVerifier("mallory@example.org", "https://sigstore.verify.ibm.com/oauth2").verify(raw)
    with pytest.raises(VerificationError, match="Sigstore verification failed"):
        SigstoreVerifier("stefanb@us.ibm.com", "https://accounts.google.com").verify(raw)
    doc = json.loads(raw)
    bundle = parse_bundle(raw)
    tampered = bundle.payload.replace(b"signme-1", b"signme-X")
    assert tampered != bundle.payload
    import base64

    doc["dsseEnvelope"]["payload"] = base64.b64encode(tampered).decode()
    with pytest.raises(VerificationError):
        SigstoreVerifier("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2").verify(
            json.dumps(doc).encode())


def test_sigstore_verifier_refuses_non_keyless_bundle() -> None:
    with pytest.raises(VerificationError, match="not a Sigstore keyless bundle"):
        SigstoreVerifier("a@b.c", "https://issuer").verify(_read(BUNDLES / "key-p256.files-sha256.sig"))


# --------------------------------------------------------------------------- sign -> verify round trips

PAYLOAD = STATEMENT_PREFIX + b',\n  "subject": []\n}'


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pub_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1(), "ed25519"],
                         ids=["p256", "p384", "p521", "ed25519"])
def test_key_round_trip(curve) -> None:
    key = ed25519.Ed25519PrivateKey.generate() if curve == "ed25519" else ec.generate_private_key(curve)
    signer = KeySigner(_pem(key))
    bundle = signer.sign(PAYLOAD)
    again = parse_bundle(bundle.to_json())
    assert again == bundle
    verified = KeyVerifier(signer.public_key_pem()).verify(again)
    assert verified.payload == PAYLOAD
    assert verified.extension == (curve == "ed25519") == signer.is_extension
    # another key of the same type does not verify it
    other = ed25519.Ed25519PrivateKey.generate() if curve == "ed25519" else ec.generate_private_key(curve)
    with pytest.raises(VerificationError):
        KeyVerifier(_pub_pem(other)).verify(bundle)


def test_fixture_keys_sign_like_model_signing() -> None:
    """Our key bundle has exactly the fixture's JSON shape and hint."""
    ours = KeySigner(_read(KEYS / "p256.pem")).sign(PAYLOAD)
    theirs = json.loads(_read(BUNDLES / "key-p256.files-sha256.sig"))
    mine = json.loads(ours.to_json())

    def shape(o):
        if isinstance(o, dict):
            return {k: shape(v) for k, v in o.items()}
        if isinstance(o, list):
            return [shape(v) for v in o]
        return type(o).__name__

    assert shape(mine) == shape(theirs)
    assert list(mine) == list(theirs)
    assert mine["verificationMaterial"] == theirs["verificationMaterial"]
    assert KeySigner(_read(KEYS / "ed25519.pem")).is_extension


def test_empty_payload_refused() -> None:
    with pytest.raises(SigningError, match="empty"):
        KeySigner(_read(KEYS / "p256.pem")).sign(b"")
    # checked before any network access (keyless signing itself needs OIDC + Fulcio + Rekor)
    with pytest.raises(SigningError, match="empty"):
        SigstoreSigner("token").sign(b"")


# --------------------------------------------------------------------------- encrypted keys

def test_encrypted_key_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    enc = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"s3cret"))
    for password in (b"s3cret", "s3cret", lambda: "s3cret"):
        assert KeySigner(enc, password).hint == KeySigner(_pem(key)).hint
    monkeypatch.setenv("WW_TEST_PASSPHRASE", "s3cret")
    assert KeySigner(enc, password_env="WW_TEST_PASSPHRASE").sign(PAYLOAD)
    with pytest.raises(KeyLoadError, match="wrong passphrase"):
        KeySigner(enc, b"nope")
    with pytest.raises(KeyLoadError, match="encrypted"):
        KeySigner(enc)
    with pytest.raises(KeyLoadError, match="WW_TEST_UNSET"):
        KeySigner(enc, password_env="WW_TEST_UNSET")
    # the prompt callback must not fire for an unencrypted key
    KeySigner(_pem(key), lambda: pytest.fail("prompted for an unencrypted key"))
    # traditional OpenSSL encryption too
    trad = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.BestAvailableEncryption(b"s3cret"))
    assert KeySigner(trad, b"s3cret").hint == KeySigner(_pem(key)).hint


def test_unusable_keys_rejected() -> None:
    with pytest.raises(KeyLoadError, match="not a readable"):
        KeySigner(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    k256k1 = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(KeyLoadError, match="unsupported elliptic curve"):
        KeySigner(_pem(k256k1))
    with pytest.raises(KeyLoadError):
        KeyVerifier(b"not a key")


# --------------------------------------------------------------------------- certificate chains

NOW = dt.datetime.now(dt.UTC)


def _cert(subject: str, key, issuer_name: str, issuer_key, *, ca: bool, eku=(ExtendedKeyUsageOID.CODE_SIGNING,),
          san=(), not_after=NOW + dt.timedelta(days=30)) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                                        critical=True)
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki():
    root_key = ec.generate_private_key(ec.SECP384R1())
    int_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Test Root", root_key, "Test Root", root_key, ca=True)
    inter = _cert("Test Int", int_key, "Test Root", root_key, ca=True)
    san = (x509.RFC822Name("release@example.org"), x509.UniformResourceIdentifier("https://example.org/ci"))
    leaf = _cert("publisher", leaf_key, "Test Int", int_key, ca=False, san=san)
    return {"root_key": root_key, "int_key": int_key, "leaf_key": leaf_key, "root": root, "int": inter,
            "leaf": leaf}


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _chain_bundle(certs: list[x509.Certificate], key) -> Bundle:
    """A bundle with an arbitrary chain, bypassing CertificateSigner's own checks (attacker's view)."""
    good = KeySigner(_pem(key)).sign(PAYLOAD)
    ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)
    return Bundle(verification_material=VerificationMaterial(kind=KIND_X509_CHAIN, certificates=ders),
                  envelope=good.envelope)


def test_certificate_round_trip_with_identity(pki) -> None:
    signer = CertificateSigner(_pem(pki["leaf_key"]), _pem_cert(pki["leaf"]), [pki["int"]])
    bundle = parse_bundle(signer.sign(PAYLOAD).to_json())
    root = _pem_cert(pki["root"])
    for identity in (None, Identity(email="RELEASE@example.org"), Identity(uri="https://example.org/ci"),
                     Identity(common_name="publisher", email="release@example.org"), "release@example.org"):
        assert CertificateVerifier(root, identity=identity).verify(bundle).payload == PAYLOAD
    for identity in (Identity(email="other@example.org"), Identity(uri="https://evil.example/ci"),
                     Identity(common_name="publisher", email="x@example.org"), "Test Int"):
        with pytest.raises(VerificationError, match="expected identity"):
            CertificateVerifier(root, identity=identity).verify(bundle)
    # the root may also travel in the bundle (model-signing 1.1.1 writes leaf + chain.pem incl. root)
    with_root = CertificateSigner(_pem(pki["leaf_key"]), pki["leaf"], _pem_cert(pki["int"]) + root).sign(PAYLOAD)
    assert CertificateVerifier([root]).verify(with_root).payload == PAYLOAD


def test_chain_to_given_root_only(pki) -> None:
    bundle = _chain_bundle([pki["leaf"], pki["int"], pki["root"]], pki["leaf_key"])
    other_root_key = ec.generate_private_key(ec.SECP256R1())
    other_root = _cert("Other Root", other_root_key, "Other Root", other_root_key, ca=True)
    with pytest.raises(VerificationError, match="does not validate"):
        CertificateVerifier(_pem_cert(other_root)).verify(bundle)
    # an attacker's self-made root with the same name, shipped in the bundle, is not trusted
    fake_root_key = ec.generate_private_key(ec.SECP384R1())
    fake_root = _cert("Test Root", fake_root_key, "Test Root", fake_root_key, ca=True)
    fake_int = _cert("Test Int", pki["int_key"], "Test Root", fake_root_key, ca=True)
    forged = _chain_bundle([pki["leaf"], fake_int, fake_root], pki["leaf_key"])
    with pytest.raises(VerificationError, match="does not validate"):
        CertificateVerifier(_pem_cert(pki["root"])).verify(forged)


def test_chain_policy_violations_rejected(pki) -> None:
    root = _pem_cert(pki["root"])
    k = ec.generate_private_key(ec.SECP256R1())
    # issuer that is not a CA
    not_ca = _cert("Test Int", pki["int_key"], "Test Root", pki["root_key"], ca=False)
    leaf = _cert("publisher", k, "Test Int", pki["int_key"], ca=False)
    with pytest.raises(VerificationError, match="does not validate"):
        CertificateVerifier(root).verify(_chain_bundle([leaf, not_ca], k))
    # leaf for TLS client auth, not code signing
    tls = _cert("publisher", k, "Test Int", pki["int_key"], ca=False, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    with pytest.raises(VerificationError, match="code signing"):
        CertificateVerifier(root).verify(_chain_bundle([tls, pki["int"]], k))
    with pytest.raises(SigningError, match="code signing"):
        CertificateSigner(_pem(k), tls, [pki["int"]])
    no_eku = _cert("publisher", k, "Test Int", pki["int_key"], ca=False, eku=())
    with pytest.raises(VerificationError, match="no extended key usage"):
        CertificateVerifier(root).verify(_chain_bundle([no_eku, pki["int"]], k))
    # signature by another key than the leaf's
    with pytest.raises(VerificationError, match="altered"):
        CertificateVerifier(root).verify(_chain_bundle([pki["leaf"], pki["int"]], k))
    # missing intermediate
    with pytest.raises(VerificationError, match="does not validate"):
        CertificateVerifier(root).verify(_chain_bundle([pki["leaf"]], pki["leaf_key"]))


def test_certificate_signer_refuses_bad_leaf(pki) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SigningError, match="does not match"):
        CertificateSigner(_pem(other), pki["leaf"], [pki["int"]])
    with pytest.raises(SigningError, match="expired"):
        CertificateSigner(_read(KEYS / "p256.pem"), _read(KEYS / "leaf-expired.pem"), _read(KEYS / "chain.pem"))


# --------------------------------------------------------------------------- model-signing verifies ours

@pytest.mark.skipif(not HAS_MODEL_SIGNING, reason="model-signing / pyopenssl not installed")
@pytest.mark.parametrize("case", ["key-p256", "key-p384", "key-p521", "cert-p256"])
def test_model_signing_verifies_our_bundles(case: str, tmp_path: Path) -> None:
    from model_signing import verifying as ms_verifying

    fixture = BUNDLES / ("key-p256.files-sha256.sig" if case == "key-p521" else f"{case}.files-sha256.sig")
    statement = parse_bundle(_read(fixture)).payload  # the statement model-signing made for the fixture model
    if case == "key-p521":
        key = ec.generate_private_key(ec.SECP521R1())
        (tmp_path / "p521.pub.pem").write_bytes(_pub_pem(key))
        bundle = KeySigner(_pem(key)).sign(statement)
        config = ms_verifying.Config().use_elliptic_key_verifier(public_key=tmp_path / "p521.pub.pem")
    elif case.startswith("key"):
        curve = case.split("-")[1]
        bundle = KeySigner(_read(KEYS / f"{curve}.pem")).sign(statement)
        config = ms_verifying.Config().use_elliptic_key_verifier(public_key=KEYS / f"{curve}.pub.pem")
    else:
        bundle = CertificateSigner(_read(KEYS / "p256.pem"), _read(KEYS / "leaf.pem"),
                                   _read(KEYS / "chain.pem")).sign(statement)
        config = ms_verifying.Config().use_certificate_verifier(certificate_chain=[KEYS / "chain.pem"])
    sig = tmp_path / "model.sig"
    sig.write_bytes(bundle.to_json())
    config.verify(V111 / "model", sig)  # raises on failure
    # negative control: the same statement signed by another key is refused by model-signing
    bad = KeySigner(_read(KEYS / "p384.pem")).sign(statement)
    sig.write_bytes(bad.to_json())
    if case == "key-p256":
        with pytest.raises(Exception):  # noqa: B017 - model-signing raises assorted types
            ms_verifying.Config().use_elliptic_key_verifier(public_key=KEYS / "p256.pub.pem").verify(
                V111 / "model", sig)
