"""``sign --reuse PREVIOUS_BUNDLE``: only files whose size, times or inode changed are hashed again; the
state sidecar is never signed nor counted as an added file; verify still checks everything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.corpus.samples import SHARED
from weightwarden.cli.main import main
from weightwarden.integrity import hashing
from weightwarden.integrity.release import sign_model, verify_model
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.verifying import KeyVerifier

KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"NO_COLOR": "1"})
    return result.exit_code, result.output


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    for i in range(4):
        (model / f"shard-{i}.bin").write_bytes(os.urandom(64 * 1024))
    (model / "README.md").write_text("# model\n")
    (model / "empty.txt").write_text("")
    return model


@pytest.fixture()
def hashed_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the hashing engine really reads (spied on the real engine, not replaced)."""
    seen: list[str] = []
    real = hashing.run_jobs

    def spy(jobs, *args, **kwargs):
        seen.extend(j.display for j in jobs)
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(hashing, "run_jobs", spy)
    return seen


@pytest.mark.parametrize("method", ["files", "shards"])
def test_reuse_hashes_only_what_changed(tmp_path: Path, hashed_files: list[str], method: str) -> None:
    model = _model(tmp_path)
    signer = KeySigner((KEYS / "p256.pem").read_bytes())
    verifier = KeyVerifier((KEYS / "p256.pub.pem").read_bytes())
    first = tmp_path / "v1.sig"
    kwargs = {"method": method, "shard_size": 16 * 1024 if method == "shards" else None}
    sign_model(model, signer, signature_path=first, **kwargs)
    sidecar = tmp_path / "v1.sig.state.json"
    state = json.loads(sidecar.read_text())
    assert state["schema"] == "weightwarden.sign-state/v1" and "shard-0.bin" in state["files"]
    assert verify_model(model, first, verifier).verified
    hashed_files.clear()

    (model / "README.md").write_text("# model\n\nA changed card.\n")
    second = tmp_path / "v2.sig"
    record: list = []
    sign_model(model, signer, signature_path=second, reuse_bundle=first, record=record, **kwargs)
    assert {n for n, _, reused in record if not reused} == {"README.md"}
    assert {d.split(":")[0] for d in hashed_files} == {"README.md"}
    # the result is exactly a fresh signing's
    fresh = tmp_path / "fresh.sig"
    sign_model(model, signer, signature_path=fresh, **kwargs)
    from weightwarden.integrity.bundle import parse_bundle
    from weightwarden.integrity.statement import read_statement

    def manifest(p: Path):
        return read_statement(parse_bundle(p.read_bytes()).payload).manifest

    assert manifest(second) == manifest(fresh)
    assert verify_model(model, second, verifier).verified


def test_the_sidecar_inside_the_folder_is_never_signed_nor_added(tmp_path: Path, hashed_files: list[str]) -> None:
    model = _model(tmp_path)
    code, out = _run("sign", model, "--key", KEYS / "p256.pem")
    assert code == 0 and (model / "model.sig.state.json").is_file(), out
    code, out = _run("verify", model, "--bundle", model / "model.sig", "--key", KEYS / "p256.pub.pem")
    assert code == 0, out
    (model / "README.md").write_text("changed\n")
    hashed_files.clear()
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "--reuse", model / "model.sig")  # in place
    assert code == 0 and "hashed       1: README.md" in out, out
    assert hashed_files == ["README.md"]
    code, out = _run("verify", model, "--bundle", model / "model.sig", "--key", KEYS / "p256.pub.pem")
    assert code == 0, out
    # model-signing verifies it too: the sidecar is one of the signed ignore_paths
    from weightwarden.integrity.bundle import parse_bundle
    from weightwarden.integrity.statement import read_statement

    spec = read_statement(parse_bundle((model / "model.sig").read_bytes()).payload).manifest.spec
    assert "model.sig.state.json" in spec.ignore_paths


def test_a_rewrite_that_keeps_size_and_mtime_is_still_hashed(tmp_path: Path, hashed_files: list[str]) -> None:
    model = _model(tmp_path)
    first = tmp_path / "v1.sig"
    signer = KeySigner((KEYS / "p256.pem").read_bytes())
    sign_model(model, signer, signature_path=first)
    target = model / "shard-2.bin"
    st = os.stat(target)
    target.write_bytes(os.urandom(st.st_size))  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back, as `touch -d` would
    hashed_files.clear()
    record: list = []
    sign_model(model, signer, signature_path=tmp_path / "v2.sig", reuse_bundle=first, record=record)
    assert "shard-2.bin" in {n for n, _, reused in record if not reused}  # ctime moved
    assert "shard-2.bin" in hashed_files
    # a replaced file (new inode) too
    (model / "new.bin").write_bytes(target.read_bytes())
    os.replace(model / "new.bin", target)
    record.clear()
    sign_model(model, signer, signature_path=tmp_path / "v3.sig", reuse_bundle=tmp_path / "v2.sig", record=record)
    assert "shard-2.bin" in {n for n, _, reused in record if not reused}


def test_cli_says_what_it_reused_and_why_not(tmp_path: Path) -> None:
    model = _model(tmp_path)
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "-o", tmp_path / "v1.sig")
    assert code == 0, out
    (model / "README.md").write_text("changed\n")
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "-o", tmp_path / "v2.sig", "--reuse",
                     tmp_path / "v1.sig")
    assert code == 0, out
    assert "reused       5 of 6 files" in out and "hashed       1: README.md" in out, out
    # another hash: nothing can be reused, and it says why
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "-o", tmp_path / "v3.sig", "--reuse",
                     tmp_path / "v2.sig", "--hash", "blake3")
    assert code == 0 and "nothing reused: the previous bundle was hashed as files/sha256" in out, out
    # a sidecar that belongs to another bundle is not believed
    (tmp_path / "v2.sig.state.json").write_bytes((tmp_path / "v1.sig.state.json").read_bytes())
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "-o", tmp_path / "v4.sig", "--reuse",
                     tmp_path / "v2.sig")
    assert code == 0 and "belongs to another bundle" in out and "reused       0 of 6" in out, out
    code, out = _run("verify", model, "--bundle", tmp_path / "v4.sig", "--key", KEYS / "p256.pub.pem")
    assert code == 0, out


def test_only_the_signers_own_previous_bundle_is_reused(tmp_path: Path, hashed_files: list[str]) -> None:
    """A 'previous bundle' planted by someone else (listing the digest of a file they will swap in later)
    must not be re-signed: its signature is checked with the key signing now."""
    model = _model(tmp_path)
    other = KeySigner((KEYS / "p384.pem").read_bytes())
    sign_model(model, other, signature_path=tmp_path / "planted.sig")
    hashed_files.clear()
    notes: list[str] = []
    record: list = []
    sign_model(model, KeySigner((KEYS / "p256.pem").read_bytes()), signature_path=tmp_path / "v2.sig",
               reuse_bundle=tmp_path / "planted.sig", record=record, notes=notes)
    assert not any(reused for _, _, reused in record)
    assert notes and "not signed with the key signing now" in notes[0], notes
    assert len({d.split(":")[0] for d in hashed_files}) == 6
