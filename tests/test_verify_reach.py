"""Verify covers every file a loader can reach from the model folder (found while fixing scanner round 20).

The manifest leaves ``.git``, ``.gitattributes``, ``.github``, ``.gitignore``, ``--ignore-paths`` and the signature
out (model-signing's convention). A signed ``model.safetensors.index.json`` whose ``weight_map`` names
``.git/model-00002-of-00002.safetensors`` made ``from_pretrained`` load a shard nobody signed: it could be swapped
after signing and ``verify`` still said OK. The proof below signs such a folder the way model-signing (and
``sign`` before this fix) does, replaces the shard under ``.git``, shows that the manifest comparison alone is
all "ok" while the path a loader opens (``os.path.join(folder, weight_map value)``) reads the changed bytes, and
that verify now fails naming the file and the index. Sign refuses such a folder; a normal ``.git`` still signs
and verifies, also for model-signing 1.1.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.corpus.samples import SHARED
from tests.corpus.writers import write_u8_safetensors
from weightwarden.integrity import ChangeKind, ManifestError, sign_model, verify_model
from weightwarden.integrity.findings import analyse
from weightwarden.integrity.hashing import digest_model
from weightwarden.integrity.manifest import diff
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.statement import build_statement
from weightwarden.integrity.verifying import KeyVerifier

KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"
HAS_MODEL_SIGNING = importlib.util.find_spec("model_signing") is not None and importlib.util.find_spec(
    "OpenSSL") is not None
INDEX = "model.safetensors.index.json"


def _signer() -> KeySigner:
    return KeySigner((KEYS / "p256.pem").read_bytes())


def _verifier() -> KeyVerifier:
    return KeyVerifier((KEYS / "p256.pub.pem").read_bytes())


def _sign_unchecked(folder: Path, ignore: tuple[str, ...] = ()) -> Path:
    """A bundle as model-signing (and sign before this fix) makes it: the manifest of the folder, no reach check."""
    sig = folder / "model.sig"
    manifest = digest_model(folder, ignore_paths=[*ignore, sig])
    payload = json.dumps(build_statement(manifest), separators=(",", ":")).encode()
    sig.write_bytes(_signer().sign(payload).to_json())
    return sig


def _sharded(folder: Path, second: str) -> Path:
    """Two safetensors shards and the index transformers reads; the second shard lives at ``second``."""
    folder.mkdir()
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    write_u8_safetensors(folder / "model-00001-of-00002.safetensors", {"a": b"\x01" * 32})
    path = folder / second.replace("%2F", "/")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_u8_safetensors(path, {"b": b"\x02" * 32})
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / INDEX).write_text(json.dumps({"metadata": {"total_size": 64}, "weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": second}}))
    return folder


HIDDEN = [".git/model-00002-of-00002.safetensors", ".github/model-00002-of-00002.safetensors", ".gitignore",
          ".gitattributes", "extra/model-00002-of-00002.safetensors", ".git%2Fmodel-00002-of-00002.safetensors",
          ".git/lfs/objects/ab/cd/abcdef"]


@pytest.mark.parametrize("second", HIDDEN)
def test_a_shard_in_an_ignored_place_fails_verification(tmp_path: Path, second: str) -> None:
    ignore = ("extra",) if second.startswith("extra/") else ()
    folder = _sharded(tmp_path / "m", second)
    sig = _sign_unchecked(folder, ignore)
    opened = os.path.join(folder, second.replace("%2F", "/"))  # what from_pretrained / torch.load open
    before = Path(opened).read_bytes()
    write_u8_safetensors(Path(opened), {"b": b"\x66" * 32})  # the attacker's shard, same size
    assert Path(opened).read_bytes() != before
    # The weakness: the manifest comparison alone (what verify did) says every signed file is intact.
    signed = digest_model(folder, ignore_paths=[*ignore, sig])
    assert all(c.status == ChangeKind.OK for c in diff(signed, digest_model(folder, ignore_paths=[*ignore, sig])))
    # The fix: the loader-reachable file the manifest leaves out fails verification, named with its index.
    report = verify_model(folder, sig, _verifier(), ignore_paths=ignore)
    assert not report.verified
    shown = second.replace("%2F", "/")
    [change] = [c for c in report.changes if c.status != ChangeKind.OK]
    assert change.path == shown and change.status == ChangeKind.ADDED
    assert f"shard index {INDEX!r}" in change.detail and "loader" in change.detail
    assert any(r.startswith(shown) and INDEX in r for r in report.reasons)
    findings = analyse(folder, sig, _verifier(), ignore_paths=ignore).findings
    assert any(f.rule_id == "WW-INT-004" and shown in f.subject.name for f in findings)
    # ... also before the shard is changed (an unsigned file a loader reads is never "verified"), and for a
    # partial verify that hashes only the index.
    assert not verify_model(folder, sig, _verifier(), ignore_paths=ignore, only=[INDEX]).verified


@pytest.mark.parametrize("second", HIDDEN)
def test_sign_refuses_a_shard_in_an_ignored_place(tmp_path: Path, second: str) -> None:
    ignore = ("extra",) if second.startswith("extra/") else ()
    folder = _sharded(tmp_path / "m", second)
    with pytest.raises(ManifestError) as info:
        sign_model(folder, _signer(), ignore_paths=ignore)
    reason = info.value.reason
    assert "would not be covered by the signature" in reason and second.replace("%2F", "/") in reason and INDEX in reason
    assert not (folder / "model.sig").exists()


def test_a_normal_git_folder_still_signs_and_verifies(tmp_path: Path) -> None:
    """No reference into .git: .git (objects, an LFS object, a model-named file no index names), .github,
    .gitignore and .gitattributes stay out of the manifest and verification passes."""
    folder = _sharded(tmp_path / "m", "model-00002-of-00002.safetensors")
    (folder / ".git" / "lfs" / "objects" / "ab" / "cd").mkdir(parents=True)
    write_u8_safetensors(folder / ".git" / "lfs" / "objects" / "ab" / "cd" / "abcdef", {"b": b"\x02" * 32})
    (folder / ".git" / "stray.safetensors").write_bytes(b"not referenced")
    (folder / ".github" / "workflows").mkdir(parents=True)
    (folder / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    (folder / ".gitignore").write_text("*.tmp\n")
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    sign_model(folder, _signer())
    report = verify_model(folder, folder / "model.sig", _verifier())
    assert report.verified, report.reasons
    assert {c.path for c in report.changes} == {"config.json", INDEX, "model-00001-of-00002.safetensors",
                                                 "model-00002-of-00002.safetensors"}
    # changing what .git holds changes nothing a loader opens
    (folder / ".git" / "stray.safetensors").write_bytes(b"changed")
    assert verify_model(folder, folder / "model.sig", _verifier()).verified


def test_an_index_naming_a_link_in_git_to_a_signed_file_verifies(tmp_path: Path) -> None:
    """Coverage is by file, not by name: a link under .git to a signed shard reads signed bytes."""
    folder = _sharded(tmp_path / "m", ".git/shard.safetensors")
    os.replace(folder / ".git" / "shard.safetensors", folder / "model-00002-of-00002.safetensors")
    os.symlink("../model-00002-of-00002.safetensors", folder / ".git" / "shard.safetensors")
    sign_model(folder, _signer())
    assert verify_model(folder, folder / "model.sig", _verifier()).verified
    # repointed at an unsigned file, it is not covered any more
    (folder / ".git" / "other.safetensors").write_bytes(b"unsigned")
    os.remove(folder / ".git" / "shard.safetensors")
    os.symlink("other.safetensors", folder / ".git" / "shard.safetensors")
    report = verify_model(folder, folder / "model.sig", _verifier())
    assert not report.verified and any(".git/shard.safetensors" in r for r in report.reasons)


def test_a_directory_link_into_git(tmp_path: Path) -> None:
    """``weights -> .git`` then ``pickle.load("weights/model.pkl")``: sign refuses the folder link (the path policy
    follows no folder link), and a link added after signing fails verification."""
    folder = _sharded(tmp_path / "m", "model-00002-of-00002.safetensors")
    (folder / ".git" / "model.pkl").write_bytes(b"signed?")
    os.symlink(".git", folder / "weights")
    with pytest.raises(ManifestError, match="weights: symbolic link to a folder"):
        sign_model(folder, _signer())
    os.remove(folder / "weights")
    sign_model(folder, _signer())
    assert verify_model(folder, folder / "model.sig", _verifier()).verified
    os.symlink(".git", folder / "weights")
    report = verify_model(folder, folder / "model.sig", _verifier())
    assert not report.verified and "weights" in " ".join(report.reasons)
    # The reach itself names the file through the link, with the link as the one who names it.
    from weightwarden.integrity.coverage import uncovered_references

    [item] = [u for u in uncovered_references(folder, [], (".git",)) if u.path == "weights/model.pkl"]
    assert item.via == "symbolic link to a folder 'weights'"


def test_a_file_link_into_git_is_covered_under_its_name(tmp_path: Path) -> None:
    folder = _sharded(tmp_path / "m", "model-00002-of-00002.safetensors")
    (folder / ".git" / "model.pkl").write_bytes(b"signed")
    os.symlink(".git/model.pkl", folder / "model.pkl")
    sign_model(folder, _signer())
    assert verify_model(folder, folder / "model.sig", _verifier()).verified
    (folder / ".git" / "model.pkl").write_bytes(b"changed")
    report = verify_model(folder, folder / "model.sig", _verifier())
    assert not report.verified and report.reasons == ["model.pkl: modified (content differs)"]


def test_an_index_naming_a_file_outside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "outside.safetensors").write_bytes(b"anything")
    folder = _sharded(tmp_path / "m", "../outside.safetensors")
    with pytest.raises(ManifestError, match="outside the model folder"):
        sign_model(folder, _signer())
    sig = _sign_unchecked(folder)
    report = verify_model(folder, sig, _verifier())
    assert not report.verified
    assert any(r.startswith(INDEX) and "outside the model folder" in r for r in report.reasons)


@pytest.mark.skipif(not HAS_MODEL_SIGNING, reason="model-signing / pyopenssl not installed")
def test_model_signing_interop(tmp_path: Path) -> None:
    """model-signing 1.1.1 verifies what sign writes for a folder with a normal .git; for the proof folder its own
    signer signs and its verifier accepts the swapped shard (its ignore paths apply whatever the manifest says,
    which is why sign refuses rather than includes), while verify refuses its bundle."""
    from model_signing import signing as ms_signing
    from model_signing import verifying as ms_verifying

    config = ms_verifying.Config().use_elliptic_key_verifier(public_key=KEYS / "p256.pub.pem")
    clean = _sharded(tmp_path / "clean", "model-00002-of-00002.safetensors")
    (clean / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    sign_model(clean, _signer())
    config.verify(clean, clean / "model.sig")  # raises on failure

    folder = _sharded(tmp_path / "m", ".git/model-00002-of-00002.safetensors")
    theirs = tmp_path / "theirs.sig"
    ms_signing.Config().use_elliptic_key_signer(private_key=KEYS / "p256.pem").sign(folder, theirs)
    write_u8_safetensors(folder / ".git" / "model-00002-of-00002.safetensors", {"b": b"\x66" * 32})
    config.verify(folder, theirs)  # model-signing: OK, although the shard a loader reads changed
    report = verify_model(folder, theirs, _verifier())
    assert not report.verified
    assert [c.path for c in report.changes if c.status == ChangeKind.ADDED] == [
        ".git/model-00002-of-00002.safetensors"]


def test_audit_scans_a_model_named_file_in_a_skipped_folder_once(tmp_path: Path, monkeypatch) -> None:
    """Round 20 made the folder walk read model-named files in skipped folders; the audit still added every
    attested file there as an extra target, so the file was read twice and each finding reported twice (under
    the folder's name for it and its absolute path) when the folder was given by a relative path."""
    from weightwarden.audit import AuditRequest, run_audit

    folder = tmp_path / "m"
    folder.mkdir()
    write_u8_safetensors(folder / "model.safetensors", {"w": bytes(range(64))})
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "optimizer.bin").write_bytes(b"cposix\nsystem\n(S'true'\ntR.")
    (folder / "__pycache__" / "notes.txt").write_bytes(b"cposix\nsystem\n(S'true'\ntR.")  # not model-named
    monkeypatch.chdir(tmp_path)
    audit = run_audit(AuditRequest(Path("m")))
    scan = audit.analysis("scan")
    pickles = sorted(f.subject.name for f in scan.findings if f.rule_id == "WW-PKL-001")
    assert pickles == [os.path.realpath(folder / "__pycache__" / "notes.txt"), "m/__pycache__/optimizer.bin"]
    assert scan.record.files_scanned == 4  # model, config, optimizer.bin (walk), notes.txt (attested extra)
    assert audit.decision == "withhold"


def test_hub_style_links_still_verify(tmp_path: Path) -> None:
    """Every file a link (a snapshot's layout) reads is the file the manifest reads through that link."""
    folder = _sharded(tmp_path / "m", "model-00002-of-00002.safetensors")
    blobs = folder / "blobs"
    blobs.mkdir()
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        shutil.move(folder / name, blobs / name)
        os.symlink(f"blobs/{name}", folder / name)
    sign_model(folder, _signer())
    assert verify_model(folder, folder / "model.sig", _verifier()).verified


def test_attestation_check_covers_a_shard_in_an_ignored_folder(tmp_path: Path) -> None:
    """The audit attestation's file check is the other consumer of ignore lists: with ``.git`` left out by the
    caller (a clone), a shard the index names there must still be one of the attested files."""
    from weightwarden.audit import AuditRequest, run_audit
    from weightwarden.report.intoto import attest, verify_attestation

    for name, second in (("clean", "model-00002-of-00002.safetensors"),
                         ("hidden", ".git/model-00002-of-00002.safetensors")):
        folder = _sharded(tmp_path / name, second)
        bundle = attest(run_audit(AuditRequest(folder)), _signer()).to_json()
        result = verify_attestation(bundle, _verifier(), model=folder, ignore=(".git",))
        if name == "clean":
            assert result.verified, result.reasons
        else:
            assert not result.verified
            assert any(r.startswith(second) and INDEX in r for r in result.reasons), result.reasons
