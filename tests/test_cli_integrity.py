"""The ``sign`` / ``verify`` / ``digest`` / ``inspect`` commands: exit codes, outputs, and light ``--help``.

Exit-code contract (docs/integrity.md): verify 0 verified, 1 not verified with reasons, 2 error, 3 usage.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._required import require
from tests.corpus.samples import SHARED
from weightwarden.cli.main import main

V111 = SHARED / "fixtures" / "model-signing" / "v1.1.1"
KEYS = V111 / "keys"
BUNDLES = V111 / "bundles"
REPO = Path(__file__).resolve().parent.parent

require(V111.is_dir(), f"the model-signing fixtures ({V111})")


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"NO_COLOR": "1"})
    return result.exit_code, result.output


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(V111 / "model", folder)
    return folder


def test_sign_verify_tamper_round_trip(model: Path, tmp_path: Path) -> None:
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "--release-version", "3", "--expires", "2099-01-01")
    assert code == 0, out
    sig = model / "model.sig"
    assert sig.is_file() and "root digest" in out

    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem")
    assert code == 0, out
    assert "VERIFIED" in out and "version 3" in out

    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["schema"] == "weightwarden.verification/v1" and doc["verified"] is True
    assert doc["manifest"]["tensors"] == 4 and doc["freshness"]["version"] == 3

    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem", "--trusted-version", "4")
    assert code == 1 and "rollback refused" in out

    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem", "--only", "config.json")
    assert code == 0, out

    shard = model / "model-00002-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x01  # last byte of the last tensor
    shard.write_bytes(bytes(data))
    (model / "extra.txt").write_text("x")
    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem")
    assert code == 1
    assert "NOT VERIFIED" in out and "modified" in out and "model-00002-of-00002.safetensors" in out
    assert "tensors:" in out and "added" in out and "extra.txt" in out
    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem", "--only", "extra.txt")
    assert code == 1 and "not in the signed manifest" in out

    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p384.pub.pem")
    assert code == 1 and "stopped at: signature" in out


def test_certificate_and_sharded_sign(model: Path, tmp_path: Path) -> None:
    sig = tmp_path / "cert.sig"
    code, out = _run("sign", model, "--cert", KEYS / "leaf.pem", "--chain", KEYS / "chain.pem", "--key",
                     KEYS / "p256.pem", "--hash", "blake3", "--shards", "--shard-size", "65536", "-o", sig)
    assert code == 0, out
    code, out = _run("verify", model, "--bundle", sig, "--chain", KEYS / "ca.pem",
                     "--identity", "fixture-signer@example.invalid")
    assert code == 0, out
    code, out = _run("verify", model, "--bundle", sig, "--chain", KEYS / "ca.pem", "--identity", "mallory@x.org")
    assert code == 1 and "not the expected identity" in out
    code, out = _run("inspect", sig)
    assert code == 0 and "certificate chain" in out and "blake3" in out and "65536" in out
    assert "tensors with blake3 evidence" in out and "signature NOT checked" in out


def test_fixture_bundles_from_cli() -> None:
    code, out = _run("verify", V111 / "model", "--bundle", BUNDLES / "key-p256.shards-sha256-524288.sig",
                     "--key", KEYS / "p256.pub.pem")
    assert code == 0, out
    code, out = _run("verify", V111 / "model", "--bundle", BUNDLES / "cert-expired-p256.files-sha256.sig",
                     "--chain", KEYS / "ca.pem")
    assert code == 1 and "expired" in out
    code, out = _run("verify", V111 / "model", "--bundle", BUNDLES / "TAMPERED-payload.key-p256.files-sha256.sig",
                     "--key", KEYS / "p256.pub.pem", "--format", "json")
    assert code == 1 and json.loads(out)["stage"] == "signature"
    code, out = _run("verify", V111 / "tampered" / "removed-file", "--bundle", BUNDLES / "key-p256.files-sha256.sig",
                     "--key", KEYS / "p256.pub.pem", "-q")
    assert code == 1 and "missing" in out and "tokenizer/special_tokens_map.json" in out
    code, out = _run("inspect", BUNDLES / "key-p256.files-sha256.sig", "--format", "json")
    info = json.loads(out)
    assert code == 0 and info["method"] == "key" and info["resources"] == 11
    assert info["tensor_extension"] == "absent" and len(info["key_hint"]) == 64


@pytest.mark.skipif(importlib.util.find_spec("sigstore") is None, reason="optional `sigstore` not installed")
def test_sigstore_vector_offline() -> None:
    vector = SHARED / "fixtures" / "model-signing" / "upstream-vectors" / "v1.1.0-sigstore"
    args = ["verify", vector, "--bundle", vector / "model.sig", "--sigstore", "--issuer",
            "https://sigstore.verify.ibm.com/oauth2", "--identity"]
    code, out = _run(*args, "stefanb@us.ibm.com")
    assert code == 0 and "Sigstore identity" in out, out
    code, out = _run(*args, "mallory@example.com")
    assert code == 1 and "stopped at: signature" in out


def test_digest(model: Path) -> None:
    code, out = _run("digest", model)
    assert code == 0 and "root digest  sha256:" in out and "config.json" in out
    code, out = _run("digest", model, "--format", "json", "--hash", "blake2b")
    statement = json.loads(out)
    assert code == 0 and statement["predicate"]["serialization"]["hash_type"] == "blake2b"


def test_errors_and_usage(tmp_path: Path, model: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = _run("sign", empty, "--key", KEYS / "p256.pem")
    assert code == 2 and "no files" in out
    code, out = _run("sign", model, "--key", KEYS / "p256.pub.pem")  # a public key is no private key
    assert code == 2 and "cannot load the private key" in out
    junk = tmp_path / "junk.sig"
    junk.write_text("{}")
    code, out = _run("inspect", junk)
    assert code == 2 and "malformed bundle" in out
    code, out = _run("verify", model, "--bundle", junk, "--key", KEYS / "p256.pub.pem")
    assert code == 1 and "malformed bundle" in out
    # usage: exit 3
    assert _run("verify", model, "--bundle", junk)[0] == 3  # no trust anchor
    assert _run("verify", model, "--bundle", junk, "--key", KEYS / "p256.pub.pem", "--chain", KEYS / "ca.pem")[0] == 3
    assert _run("verify", tmp_path / "nope", "--bundle", junk, "--key", KEYS / "p256.pub.pem")[0] == 3
    assert _run("verify", model, "--bundle", junk, "--sigstore", "--identity", "a@b")[0] == 3
    assert _run("sign", model)[0] == 3
    assert _run("sign", model, "--key", KEYS / "p256.pem", "--expires", "2030-01-01")[0] == 3
    assert _run("sign", model, "--key", KEYS / "p256.pem", "--shard-size", "10")[0] == 3
    assert _run("digest", model, "--hash", "md5")[0] == 3


def test_help_is_light_and_documents_exit_codes() -> None:
    code = ("import sys, json\n"
            "sys.argv = ['weightwarden', 'verify', '--help']\n"
            "from weightwarden.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "heavy = ('cryptography', 'rich', 'blake3', 'sigstore', 'numpy', 'torch', 'model_signing')\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n")
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "Exit codes" in res.stdout and "not verified" in res.stdout
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []
    for command in ("sign", "digest", "inspect"):
        code_, out = _run(command, "--help")
        assert code_ == 0 and "Exit codes" in out


def test_sign_without_tensor_digests(model: Path, tmp_path: Path) -> None:
    code, out = _run("sign", "--help")
    assert code == 0 and "--no-tensor-digests" in out and "per-tensor evidence" in out
    sig = tmp_path / "plain.sig"
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "--no-tensor-digests", "-o", sig)
    assert code == 0 and "no tensor evidence" in out, out
    code, out = _run("inspect", sig)
    assert code == 0 and "absent" in out
    assert _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem")[0] == 0
    shard = model / "model-00002-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x01
    shard.write_bytes(bytes(data))
    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem")
    # the changed file is still found; which tensor changed is not known without the extension
    assert code == 1 and "modified" in out and "model-00002-of-00002.safetensors" in out
    assert "; tensors:" not in out


def _verify_in_subprocess(model: Path, sig: Path) -> tuple[str, list[str]]:
    code = ("import sys, json\n"
            f"sys.argv = ['weightwarden', 'verify', {str(model)!r}, '--bundle', {str(sig)!r}, "
            f"'--key', {str(KEYS / 'p256.pub.pem')!r}]\n"
            "from weightwarden.cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'rich' or m.startswith('cryptography.x509'))\n"
            "print(json.dumps(loaded))\n")
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,  # a pipe: not a terminal
                         cwd=REPO, env=env, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    *report, last = res.stdout.strip().splitlines()
    return "\n".join(report), json.loads(last)


def test_verify_to_a_pipe_imports_neither_rich_nor_x509(model: Path) -> None:
    assert _run("sign", model, "--key", KEYS / "p256.pem")[0] == 0
    report, loaded = _verify_in_subprocess(model, model / "model.sig")
    assert report.startswith("VERIFIED") and "signer:  ECDSA P-256" in report and "ok" in report
    assert loaded == []


def test_plain_report_matches_rich_layout() -> None:
    from weightwarden.integrity.manifest import ChangeKind, FileChange
    from weightwarden.integrity.report import FreshnessVerdict, VerificationReport
    from weightwarden.integrity.statement import Freshness
    from weightwarden.report.verification_text import render as render_text

    report = VerificationReport(model="/m", bundle="/m/model.sig", stage="done", signer="ECDSA P-256 key ab12…",
                                method="key", bundle_digest="sha256:00ff", subject_name="m", root_digest="ab" * 32,
                                serialization={"method": "shards", "hash_type": "sha256", "shard_size": 1000,
                                               "allow_symlinks": False, "ignore_paths": []},
                                resource_count=7, file_count=5, tensor_count=3, warnings=["odd [bracket] hint"],
                                reasons=["1 file modified", "rollback refused: [x]"])
    report.freshness = FreshnessVerdict(signed=Freshness(3, "2026-01-01", None,
                                                         "sha256:" + "c" * 64), trusted_version=4,
                                        expired=False, rollback=True)
    report.changes = [
        FileChange("config.json", ChangeKind.OK),
        FileChange("model-00002-of-00002.safetensors", ChangeKind.MODIFIED, "content differs",
                   shards=("0:1000",), tensors=("layer1.bias", "+new")),
        FileChange("gone.bin", ChangeKind.MISSING, "signed but not on disk"),
        FileChange("extra[1].txt", ChangeKind.ADDED, "not in the signed manifest"),
        FileChange("new/name.bin", ChangeKind.RENAMED, "same content as old.bin", old_path="old.bin"),
        FileChange("link", ChangeKind.TYPE_CHANGED, "signed as a file"),
    ]
    for show_ok in (True, False):  # every line fits in 120 columns, so rich wraps nothing
        plain = render_text(report, plain=True, show_ok=show_ok)
        assert plain == render_text(report, show_ok=show_ok)
        assert "rollback refused: [x]" in plain and "content differs; tensors: layer1.bias, +new" in plain
    report.verified, report.only, report.reasons, report.changes = True, ["a.json"], [], []
    assert render_text(report, plain=True) == render_text(report)


def test_progress_bar_starts_only_for_big_totals(capsys: pytest.CaptureFixture[str]) -> None:
    from weightwarden.cli._terminal import ProgressBar

    bar = ProgressBar("hashing", 1000, unit="bytes")
    bar(10, 999)
    assert not bar.started
    bar(10, 5000, "model-\x1b[31m.safetensors")  # a hostile name is escaped, not sent to the terminal
    bar(5000, 5000)
    assert bar.started
    bar.close()
    assert "\x1b[31m" not in capsys.readouterr().err


def test_progress_bar_starts_once_from_many_threads_and_takes_names_as_text(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    import time

    import rich.progress

    from weightwarden.cli._terminal import ProgressBar

    started: list[object] = []
    real = rich.progress.Progress

    class SlowStart(real):  # type: ignore[misc, valid-type]
        # Slow to build and to start: widens the windows in which another thread could start a second bar,
        # or update a bar that has no task yet.
        def __init__(self, *args: object, **kwargs: object) -> None:
            time.sleep(0.05)
            super().__init__(*args, **kwargs)

        def start(self) -> None:
            started.append(self)
            time.sleep(0.05)
            super().start()

    monkeypatch.setattr(rich.progress, "Progress", SlowStart)
    bar = ProgressBar("hashing", 1000, unit="bytes")
    gate = threading.Barrier(8)
    errors: list[BaseException] = []

    def hash_thread(i: int) -> None:
        gate.wait()
        try:
            bar(i, 5000, "weights/[/x].safetensors")  # rich markup in a file name is text, not a tag
        except Exception as exc:  # noqa: BLE001 - a hashing thread would fail the whole sign/verify
            errors.append(exc)

    threads = [threading.Thread(target=hash_thread, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    bar(100, 300)  # a second, smaller pass (verify per tensor) sets its own total
    assert errors == [] and len(started) == 1 and bar._progress.tasks[0].total == 300
    bar.close()  # renders the last frame: must not raise MarkupError
    for extra in started[1:]:
        extra.stop()  # type: ignore[attr-defined]
    capsys.readouterr()


def test_sign_and_verify_report_hashing_progress(model: Path, tmp_path: Path) -> None:
    from weightwarden.integrity import sign_model, verify_model
    from weightwarden.integrity.signing import KeySigner
    from weightwarden.integrity.verifying import KeyVerifier

    on_disk = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())  # .git* files are not hashed
    seen: list[tuple[int, int]] = []
    sig = tmp_path / "progress.sig"
    sign_model(model, KeySigner((KEYS / "p256.pem").read_bytes()), signature_path=sig,
               progress=lambda done, tot: seen.append((done, tot)))
    total = seen[-1][1]
    assert 0 < total <= on_disk and seen[-1] == (total, total) and all(d <= t for d, t in seen)
    seen.clear()
    assert verify_model(model, sig, KeyVerifier((KEYS / "p256.pub.pem").read_bytes()),
                        progress=lambda done, tot: seen.append((done, tot))).verified
    assert seen[-1] == (total, total)


def test_inspect_refuses_a_huge_file_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.sig"
    with open(huge, "wb") as f:
        f.truncate(3 << 30)  # sparse
    code, out = _run("inspect", huge)
    assert code == 2 and "larger than 64 MiB" in out, out
