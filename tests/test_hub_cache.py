"""Models where users really have them: a Hugging Face hub-cache layout of the real sample models.

``huggingface_hub`` stores each file once as ``models--org--name/blobs/<sha256>`` and lays out a revision as
``snapshots/<rev>/<file>`` links (``../../blobs/<sha256>``). Every command reads such a snapshot through its
links (sizes from the target), digests it exactly like a plain copy, and refuses a link that leaves the
cache repository with a message naming ``--allow-symlinks`` (weightwarden.artifact.paths).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.corpus.samples import SHARED
from weightwarden.cli.main import main

KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"
REV = "0123456789abcdef0123456789abcdef01234567"


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"NO_COLOR": "1"})
    return result.exit_code, result.output


def _place(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same disk: no copy of 90 MB per layout
    except OSError:
        shutil.copyfile(src, dst)


def hub_cache(root: Path, repo_name: str, files: dict[str, Path]) -> Path:
    """Lay out ``files`` (name in the snapshot -> real file) the way huggingface_hub does; the snapshot."""
    repo = root / repo_name
    blobs = repo / "blobs"
    blobs.mkdir(parents=True)
    snapshot = repo / "snapshots" / REV
    for name, src in files.items():
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        blob = blobs / h.hexdigest()
        if not blob.exists():
            _place(src, blob)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    return snapshot


@pytest.fixture(scope="module")
def minilm_cache(minilm_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {p.relative_to(minilm_folder).as_posix(): p for p in sorted(minilm_folder.rglob("*")) if p.is_file()}
    return hub_cache(tmp_path_factory.mktemp("hub"), "models--sentence-transformers--all-MiniLM-L6-v2", files)


@pytest.fixture(scope="module")
def smollm_cache(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hub_cache(tmp_path_factory.mktemp("hub"), "models--HuggingFaceTB--SmolLM2-135M-Instruct-GGUF",
                     {smollm2_gguf.name: smollm2_gguf})


def test_the_layout_is_links_into_blobs(minilm_cache: Path) -> None:
    weights = minilm_cache / "model.safetensors"
    assert weights.is_symlink() and os.readlink(weights).startswith("../../blobs/")
    assert os.lstat(weights).st_size < 100 < weights.stat().st_size


def test_digest_of_a_snapshot_equals_the_plain_folder(minilm_cache: Path, minilm_folder: Path) -> None:
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.lineage.digests import digest_model as weights_root

    plain, cached = digest_model(minilm_folder), digest_model(minilm_cache)
    assert [(r.name, r.digest) for r in cached.resources] == [(r.name, r.digest) for r in plain.resources]
    assert cached.root_digest() == plain.root_digest()
    assert cached.spec.allow_symlinks and not plain.spec.allow_symlinks  # signed: links were read through
    assert weights_root(minilm_cache).root == weights_root(minilm_folder).root

    code, out = _run("digest", minilm_cache)
    assert code == 0, out
    assert f"root digest  sha256:{plain.root_digest().hex()}" in out


def test_every_command_reads_a_snapshot(minilm_cache: Path, minilm_folder: Path, tmp_path: Path) -> None:
    code, out = _run("scan", minilm_cache, "--format", "json")
    plain_code, plain_out = _run("scan", minilm_folder, "--format", "json")
    assert code == plain_code, out
    scanned = json.loads(out)
    assert not scanned.get("errors"), scanned.get("errors")
    assert sorted(f["rule_id"] for f in scanned["findings"]) == sorted(
        f["rule_id"] for f in json.loads(plain_out)["findings"])

    sig = tmp_path / "minilm.sig"
    code, out = _run("sign", minilm_cache, "--key", KEYS / "p256.pem", "-o", sig)
    assert code == 0, out
    code, out = _run("verify", minilm_cache, "--bundle", sig, "--key", KEYS / "p256.pub.pem")
    assert code == 0, out
    # the same release, downloaded as a plain folder, verifies against the bundle signed from the cache
    code, out = _run("verify", minilm_folder, "--bundle", sig, "--key", KEYS / "p256.pub.pem")
    assert code == 0, out

    code, out = _run("diff", minilm_cache, minilm_folder)
    assert code == 0 and "identical" in out, out
    code, out = _run("lineage", minilm_folder, minilm_cache)
    assert code == 0 and "identical" in out.lower(), out
    fp = tmp_path / "fp.json"
    code, out = _run("fingerprint", minilm_cache, "-o", fp)
    assert code == 0, out
    code, out = _run("lineage", "--fingerprint", fp, minilm_folder)
    assert code == 0, out


def test_a_gguf_snapshot_file_named_directly(smollm_cache: Path, smollm2_gguf: Path) -> None:
    linked = smollm_cache / smollm2_gguf.name
    code, out = _run("diff", linked, smollm2_gguf)
    assert code == 0 and "identical" in out, out
    code, out = _run("scan", linked, "--format", "json")
    assert not json.loads(out).get("errors"), out
    from weightwarden.integrity.hashing import digest_model

    assert digest_model(linked).root_digest() == digest_model(smollm2_gguf).root_digest()
    code, out = _run("digest", smollm_cache)
    assert code == 0 and smollm2_gguf.name in out, out


def test_a_link_leaving_the_cache_repository_is_refused(minilm_folder: Path, tmp_path: Path) -> None:
    files = {p.name: p for p in minilm_folder.iterdir() if p.is_file()}
    snapshot = hub_cache(tmp_path / "hub", "models--org--name", files)
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (snapshot / "config.json").unlink()
    os.symlink(os.path.relpath(outside, snapshot), snapshot / "config.json")
    for command in (["digest"], ["sign", "--key", KEYS / "p256.pem", "-o", tmp_path / "x.sig"], ["fingerprint"]):
        code, out = _run(*command[:1], snapshot, *command[1:])
        assert code == 2, (command, out)
        assert "config.json: symbolic link leaves the hub-cache repository" in out, out
        assert "--allow-symlinks" in out, out
    code, out = _run("diff", snapshot, minilm_folder)
    assert code == 2 and "--allow-symlinks" in out, out
    code, out = _run("lineage", snapshot, minilm_folder)
    assert code == 2 and "--allow-symlinks" in out, out
    # the flag named in the message lets it through
    code, out = _run("digest", snapshot, "--allow-symlinks")
    assert code == 0, out
    code, out = _run("diff", snapshot, minilm_folder, "--allow-symlinks")
    assert code == 0, out
    # a broken link (an interrupted download) is named, whatever the flag
    os.unlink(outside)
    code, out = _run("digest", snapshot, "--allow-symlinks")
    assert code == 2 and "broken symbolic link" in out, out


def test_links_inside_a_plain_folder_are_read_through(tmp_path: Path) -> None:
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.integrity.manifest import ManifestError

    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    (model / "alias.bin").symlink_to("w.bin")
    m = digest_model(model)
    digests = {r.name: r.digest for r in m.resources}
    assert digests["alias.bin"] == digests["w.bin"] and m.spec.allow_symlinks
    (tmp_path / "secret").write_bytes(b"outside")
    (model / "escape").symlink_to(tmp_path / "secret")
    with pytest.raises(ManifestError, match="leaves the model folder.*--allow-symlinks"):
        digest_model(model)
    assert "escape" in {r.name for r in digest_model(model, allow_symlinks=True).resources}
    (model / "dir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ManifestError, match="symbolic link to a folder"):
        digest_model(model, allow_symlinks=True)


def test_a_fake_cache_repository_cannot_widen_the_boundary(tmp_path: Path) -> None:
    """'models--x' linked to a folder that is not a cache repository (here: an ordinary folder)
    gives the snapshot no wider boundary than its own folder."""
    from weightwarden.artifact.paths import link_boundary

    outside = tmp_path / "elsewhere"
    (outside / "snapshots" / "rev").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink("../../../secret.txt", outside / "snapshots" / "rev" / "config.json")
    (tmp_path / "hub").mkdir()
    os.symlink(outside, tmp_path / "hub" / "models--org--name")
    snapshot = tmp_path / "hub" / "models--org--name" / "snapshots" / "rev"
    assert link_boundary(snapshot) == os.path.realpath(snapshot)
    code, out = _run("digest", snapshot)
    assert code == 2 and "leaves the model folder" in out, out


def test_model_signing_and_weightwarden_agree_on_a_snapshot(minilm_cache: Path, minilm_folder: Path,
                                                             tmp_path: Path) -> None:
    """Interop both ways on the hub-cache layout: model-signing verifies what we sign from a snapshot, and we
    verify what model-signing signs from it. model-signing 1.1.1 needs its --allow_symlinks flag for a
    snapshot whatever the bundle says (its Config keeps allow_symlinks False over the signed value), so the
    calls below configure it as its CLI does with that flag."""
    from model_signing import hashing as ms_hashing
    from model_signing import signing as ms_signing
    from model_signing import verifying as ms_verifying

    ours = tmp_path / "ours.sig"
    code, out = _run("sign", minilm_cache, "--key", KEYS / "p256.pem", "-o", ours)
    assert code == 0, out
    (ms_verifying.Config().use_elliptic_key_verifier(public_key=KEYS / "p256.pub.pem")
     .set_hashing_config(ms_hashing.Config().set_allow_symlinks(True)).verify(minilm_cache, ours))
    # without the flag model-signing refuses the links (so does every verifier that sees a bundle with
    # allow_symlinks false: ours records true because it read through links)
    with pytest.raises(ValueError, match="symlink"):
        ms_verifying.Config().use_elliptic_key_verifier(public_key=KEYS / "p256.pub.pem").verify(minilm_cache, ours)

    theirs = tmp_path / "theirs.sig"
    (ms_signing.Config().use_elliptic_key_signer(private_key=KEYS / "p256.pem")
     .set_hashing_config(ms_hashing.Config().set_allow_symlinks(True)).sign(minilm_cache, theirs))
    code, out = _run("verify", minilm_cache, "--bundle", theirs, "--key", KEYS / "p256.pub.pem")
    assert code == 0, out
    code, out = _run("verify", minilm_folder, "--bundle", theirs, "--key", KEYS / "p256.pub.pem")
    assert code == 0, out  # the same files as a plain download
