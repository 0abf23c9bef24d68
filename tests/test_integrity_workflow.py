"""End to end through the public API: ``sign_model`` / ``verify_model`` on real model-signing bundles.

Covers the interop promises of issue 3: every model-signing 1.1.1 bundle and upstream vector verifies (the
expired-certificate and tampered-payload bundles do not, with reasons); every tampered copy of the fixture
model gets the right per-file verdict; model-signing 1.1.1 verifies what ``sign_model`` writes; a tamper
inside a tensor of a 2-shard safetensors model is named down to shard and tensor; freshness (expiry,
rollback) and ``only=``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
import struct
from pathlib import Path

import pytest

from tests._required import require
from tests.corpus.samples import SHARED
from tests.corpus.writers import write_u8_safetensors
from weightwarden.integrity import ChangeKind, Freshness, ManifestError, sign_model, verify_model
from weightwarden.integrity.release import bundle_digest
from weightwarden.integrity.report import SCHEMA
from weightwarden.integrity.signing import CertificateSigner, KeySigner
from weightwarden.integrity.statement import read_statement
from weightwarden.integrity.verifying import CertificateVerifier, KeyVerifier, SigstoreVerifier
from weightwarden.report.verification_text import render as render_text

FIX = SHARED / "fixtures" / "model-signing"
V111 = FIX / "v1.1.1"
KEYS = V111 / "keys"
BUNDLES = V111 / "bundles"
UPSTREAM = FIX / "upstream-vectors"
UP_KEYS = UPSTREAM / "keys" / "certificate"
HAS_SIGSTORE = importlib.util.find_spec("sigstore") is not None
HAS_MODEL_SIGNING = importlib.util.find_spec("model_signing") is not None and importlib.util.find_spec(
    "OpenSSL") is not None

require(V111.is_dir(), f"the model-signing fixtures ({V111})")


def _key_verifier(name: str) -> KeyVerifier:
    return KeyVerifier((KEYS / f"{name}.pub.pem").read_bytes())


def _v111_verifier(bundle: str) -> KeyVerifier | CertificateVerifier:
    if bundle.startswith("cert"):
        return CertificateVerifier((KEYS / "ca.pem").read_bytes())
    return _key_verifier("p384" if "p384" in bundle else "p256")


# --------------------------------------------------------------------------- model-signing 1.1.1 bundles

@pytest.mark.parametrize("bundle", sorted(p.name for p in BUNDLES.glob("*.sig")) if BUNDLES.is_dir() else [])
def test_v111_bundles(bundle: str) -> None:
    report = verify_model(V111 / "model", BUNDLES / bundle, _v111_verifier(bundle))
    if bundle.startswith("TAMPERED"):
        assert not report.verified and report.stage == "signature"
        assert "altered" in report.reasons[0] and not report.changes
    elif "expired" in bundle:
        assert not report.verified and report.stage == "signature"
        assert "expired" in report.reasons[0]
    else:
        assert report.verified, report.reasons
        assert report.changes and all(c.status == ChangeKind.OK for c in report.changes)
        assert report.method == ("certificate" if bundle.startswith("cert") else "key")
        assert report.to_dict()["schema"] == SCHEMA


EXPECTED_TAMPER = {
    "changed-byte": {"model-00002-of-00002.safetensors": ChangeKind.MODIFIED},
    "added-file": {"tokenizer/added_tokens.json": ChangeKind.ADDED},
    "removed-file": {"tokenizer/special_tokens_map.json": ChangeKind.MISSING},
    "renamed-file": {"generation-config.json": ChangeKind.RENAMED},
    "git-only": {},
}


@pytest.mark.parametrize("folder", sorted(EXPECTED_TAMPER))
@pytest.mark.parametrize("bundle", ["key-p256.files-sha256.sig", "key-p256.shards-sha256-524288.sig"])
def test_tampered_copies(folder: str, bundle: str) -> None:
    report = verify_model(V111 / "tampered" / folder, BUNDLES / bundle, _key_verifier("p256"))
    bad = {c.path: c.status for c in report.changes if c.status != ChangeKind.OK}
    assert bad == EXPECTED_TAMPER[folder]
    assert report.verified is (folder == "git-only"), report.reasons
    assert report.stage == "done"
    # the local folder has another name than the signed one: said, not fatal
    assert any("signed model name" in w for w in report.warnings)
    if folder == "renamed-file":
        renamed = next(c for c in report.changes if c.status == ChangeKind.RENAMED)
        assert renamed.old_path == "generation_config.json"


# --------------------------------------------------------------------------- upstream vectors

UP_KEY_VECTORS = ["v0.3.1-elliptic-key", "v1.0.0-elliptic-key", "v1.0.1-elliptic-key", "v1.1.0-elliptic-key"]
UP_CERT_VECTORS = ["v0.2.0-certificate", "v0.3.1-certificate", "v1.0.0-certificate", "v1.0.1-certificate",
                   "v1.1.0-certificate"]
UP_SIGSTORE_VECTORS = ["v0.3.1-sigstore", "v1.0.0-sigstore", "v1.0.1-sigstore", "v1.1.0-sigstore"]


def _upstream_model(vector: str) -> tuple[Path, list[str]]:
    folder = UPSTREAM / vector
    if vector in ("v0.3.1-elliptic-key", "v1.0.0-elliptic-key"):
        return folder / "signme-1", []
    return folder, (["ignore-me"] if (folder / "ignore-me").exists() else [])


@pytest.mark.parametrize("vector", UP_KEY_VECTORS + UP_CERT_VECTORS)
def test_upstream_vectors(vector: str) -> None:
    model, ignore = _upstream_model(vector)
    if "certificate" in vector:
        verifier: KeyVerifier | CertificateVerifier = CertificateVerifier((UP_KEYS / "ca-cert.pem").read_bytes())
    else:
        verifier = KeyVerifier((UP_KEYS / "signing-key-pub.pem").read_bytes())
    report = verify_model(model, UPSTREAM / vector / "model.sig", verifier, ignore_paths=ignore)
    assert report.verified, report.reasons
    assert {c.status for c in report.changes} == {ChangeKind.OK}
    if vector.startswith("v1.0.1"):  # without the ignore, the extra file is reported
        report = verify_model(model, UPSTREAM / vector / "model.sig", verifier)
        assert not report.verified and [c.path for c in report.changes if c.status == ChangeKind.ADDED] == [
            "ignore-me"]


@pytest.mark.skipif(not HAS_SIGSTORE, reason="optional `sigstore` package not installed")
@pytest.mark.parametrize("vector", UP_SIGSTORE_VECTORS)
def test_upstream_sigstore_vectors_offline(vector: str) -> None:
    model, ignore = _upstream_model(vector)
    verifier = SigstoreVerifier("stefanb@us.ibm.com", "https://sigstore.verify.ibm.com/oauth2")
    report = verify_model(model, UPSTREAM / vector / "model.sig", verifier, ignore_paths=ignore)
    assert report.verified, report.reasons
    assert report.method == "sigstore"
    wrong = SigstoreVerifier("someone@example.com", "https://sigstore.verify.ibm.com/oauth2")
    report = verify_model(model, UPSTREAM / vector / "model.sig", wrong, ignore_paths=ignore)
    assert not report.verified and report.stage == "signature"


# --------------------------------------------------------------------------- model-signing verifies ours

@pytest.mark.skipif(not HAS_MODEL_SIGNING, reason="model-signing / pyopenssl not installed")
@pytest.mark.parametrize("case", ["p256", "p384", "cert"])
def test_model_signing_verifies_sign_model(case: str, tmp_path: Path) -> None:
    from model_signing import verifying as ms_verifying

    model = tmp_path / "model"
    shutil.copytree(V111 / "model", model)
    if case == "cert":
        signer: KeySigner | CertificateSigner = CertificateSigner(
            (KEYS / "p256.pem").read_bytes(), (KEYS / "leaf.pem").read_bytes(), (KEYS / "chain.pem").read_bytes())
        config = ms_verifying.Config().use_certificate_verifier(certificate_chain=[KEYS / "chain.pem"])
        ours: KeyVerifier | CertificateVerifier = CertificateVerifier((KEYS / "ca.pem").read_bytes())
    else:
        signer = KeySigner((KEYS / f"{case}.pem").read_bytes())
        config = ms_verifying.Config().use_elliptic_key_verifier(public_key=KEYS / f"{case}.pub.pem")
        ours = _key_verifier(case)
    freshness = Freshness(1, "2026-01-01T00:00:00Z")
    sign_model(model, signer, freshness=freshness)
    sig = model / "model.sig"  # the default place, inside the folder, left out of the hash
    assert sig.is_file()
    config.verify(model, sig)  # raises on failure; our tensor/freshness extension is ignored by it
    assert verify_model(model, sig, ours).verified
    # negative control: model-signing notices a changed file
    (model / "config.json").write_bytes((model / "config.json").read_bytes() + b" ")
    with pytest.raises(Exception):  # noqa: B017 - model-signing raises assorted types
        config.verify(model, sig)


# --------------------------------------------------------------------------- tensor-level evidence

def _two_shard_model(folder: Path) -> Path:
    folder.mkdir()
    write_u8_safetensors(folder / "model-00001-of-00002.safetensors",
                 {"embed.weight": bytes(range(256)) * 8, "layer0.weight": b"\x01" * 3000})
    write_u8_safetensors(folder / "model-00002-of-00002.safetensors",
                 {"layer1.weight": b"\x02" * 4096, "layer1.bias": b"\x03" * 64, "lm_head.weight": b"\x04" * 2048})
    (folder / "config.json").write_text('{"model_type": "toy"}')
    return folder


@pytest.mark.parametrize("method", ["files", "shards"])
def test_tamper_names_shard_and_tensor(tmp_path: Path, method: str) -> None:
    model = _two_shard_model(tmp_path / "toy")
    key = KeySigner((KEYS / "p256.pem").read_bytes())
    sign_model(model, key, method=method, shard_size=4096 if method == "shards" else None,
               signature_path=tmp_path / "toy.sig")
    shard = model / "model-00002-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    header_len = struct.unpack("<Q", data[:8])[0]
    offsets = json.loads(data[8:8 + header_len])["layer1.bias"]["data_offsets"]
    data[8 + header_len + offsets[0] + 10] ^= 0xFF  # one byte inside layer1.bias
    shard.write_bytes(bytes(data))

    report = verify_model(model, tmp_path / "toy.sig", _key_verifier("p256"))
    assert not report.verified
    bad = [c for c in report.changes if c.status != ChangeKind.OK]
    assert [c.path for c in bad] == ["model-00002-of-00002.safetensors"]
    assert bad[0].tensors == ("layer1.bias",)
    if method == "shards":
        assert len(bad[0].shards) == 1
    text = render_text(report)
    assert "model-00002-of-00002.safetensors" in text and "layer1.bias" in text
    as_json = {f["path"]: f for f in report.to_dict()["files"]}
    assert as_json["model-00002-of-00002.safetensors"]["tensors"] == ["layer1.bias"]


# --------------------------------------------------------------------------- freshness

def _signed_toy(tmp_path: Path, freshness: Freshness | None, **kw: object) -> tuple[Path, Path]:
    model = tmp_path / "toy"
    if not model.exists():
        model.mkdir()
        (model / "weights.bin").write_bytes(b"w" * 1000)
    sig = tmp_path / f"toy-{freshness.version if freshness else 'none'}.sig"
    sign_model(model, KeySigner((KEYS / "p256.pem").read_bytes()), freshness=freshness, signature_path=sig,
               **kw)  # type: ignore[arg-type]
    return model, sig


def test_freshness_expiry_and_rollback(tmp_path: Path) -> None:
    verifier = _key_verifier("p256")
    model, v1 = _signed_toy(tmp_path, Freshness(1, "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"))
    before = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    after = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    assert verify_model(model, v1, verifier, now=before).verified
    expired = verify_model(model, v1, verifier, now=after)
    assert not expired.verified and expired.freshness.expired is True
    assert any("expired" in r for r in expired.reasons)

    _, v2 = _signed_toy(tmp_path, Freshness(2, "2026-02-01T00:00:00Z"), previous_bundle=v1)
    parsed = read_statement(KeyVerifier((KEYS / "p256.pub.pem").read_bytes()).verify(v2.read_bytes()).payload)
    assert parsed.freshness is not None and parsed.freshness.supersedes == bundle_digest(v1.read_bytes())
    ok = verify_model(model, v2, verifier, trusted_version=2, now=before)
    assert ok.verified and ok.freshness.rollback is False
    rollback = verify_model(model, v1, verifier, trusted_version=2, now=before)
    assert not rollback.verified and rollback.freshness.rollback and rollback.freshness.superseded
    assert any("rollback refused" in r for r in rollback.reasons)
    # no signed version at all: a rollback cannot be ruled out
    _, none = _signed_toy(tmp_path, None)
    report = verify_model(model, none, verifier, trusted_version=1)
    assert not report.verified and "no signed release version" in report.reasons[0]
    with pytest.raises(ValueError):
        _signed_toy(tmp_path, None, previous_bundle=v1)


# --------------------------------------------------------------------------- only=, bad input

def test_only_subset(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(V111 / "model", model)
    sign_model(model, KeySigner((KEYS / "p256.pem").read_bytes()))
    sig = model / "model.sig"
    (model / "README.md").write_text("changed")  # outside the subset: not looked at
    (model / "extra.txt").write_text("not signed")
    verifier = _key_verifier("p256")
    wanted = ["config.json", "model-00001-of-00002.safetensors"]
    report = verify_model(model, sig, verifier, only=wanted)
    assert report.verified, report.reasons
    assert [c.path for c in report.changes] == wanted and report.only == wanted
    assert report.file_count == 11  # the whole signed list backs the root digest
    outside = verify_model(model, sig, verifier, only=["config.json", "extra.txt"])
    assert not outside.verified
    assert {c.path: c.status for c in outside.changes}["extra.txt"] == ChangeKind.ADDED
    absent = verify_model(model, sig, verifier, only=["nope.bin"])
    assert not absent.verified and absent.changes[0].status == ChangeKind.MISSING
    assert not verify_model(model, sig, verifier, only=["README.md"]).verified


def test_bad_inputs_are_not_verified_with_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError):
        sign_model(empty, KeySigner((KEYS / "p256.pem").read_bytes()))
    report = verify_model(empty, BUNDLES / "key-p256.files-sha256.sig", _key_verifier("p256"))
    assert not report.verified and report.stage == "files" and "no files" in report.reasons[0]
    junk = tmp_path / "junk.sig"
    junk.write_text('{"mediaType": "nope"}')
    report = verify_model(V111 / "model", junk, _key_verifier("p256"))
    assert not report.verified and report.stage == "bundle" and report.reasons[0].startswith("malformed bundle")
    wrong_key = verify_model(V111 / "model", BUNDLES / "key-p256.files-sha256.sig", _key_verifier("p384"))
    assert not wrong_key.verified and wrong_key.stage == "signature" and wrong_key.signer is None
    # a single-file signature applied to a folder, and the reverse
    single = verify_model(UPSTREAM / "v1.0.0-elliptic-key", UPSTREAM / "v1.0.0-elliptic-key" / "model.sig",
                          KeyVerifier((UP_KEYS / "signing-key-pub.pem").read_bytes()))
    assert not single.verified and "single-file" in single.reasons[0]
    link = tmp_path / "linked"
    shutil.copytree(V111 / "model", link)
    (link / "evil").symlink_to("/etc/passwd")
    report = verify_model(link, BUNDLES / "key-p256.files-sha256.sig", _key_verifier("p256"))
    assert not report.verified and "symbolic link" in report.reasons[0]


def test_a_huge_bundle_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    model = _two_shard_model(tmp_path / "toy")
    huge = tmp_path / "huge.sig"
    with open(huge, "wb") as f:
        f.truncate(3 << 30)  # sparse: 3 GiB of zeros that cost no disk
    report = verify_model(model, huge, _key_verifier("p256"))
    assert not report.verified and report.stage == "bundle"
    assert any("limit" in r for r in report.reasons), report.reasons
