"""Manifests and in-toto statements against the OpenSSF model-signing fixtures, tamper verdicts, rejections.

The fixtures (``../shared/fixtures/model-signing``) were written by model-signing 1.1.1 and earlier; the
manifests computed here must equal theirs resource for resource, and the subject digest must match.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import struct
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._required import require
from tests.corpus.samples import SHARED
from weightwarden.integrity import (
    ChangeKind,
    Freshness,
    ManifestError,
    StatementError,
    build_statement,
    diff,
    digest_model,
    parse_statement,
    read_statement,
)

FIX = SHARED / "fixtures" / "model-signing"
V111 = FIX / "v1.1.1"
MODEL = V111 / "model"
DECODED = V111 / "decoded"

require(MODEL.is_dir(), f"the model-signing fixtures ({MODEL})")

CASES = [
    ("key-p256.files-sha256", {"hash_type": "sha256"}),
    ("key-p256.files-blake2b", {"hash_type": "blake2b"}),
    ("key-p256.files-blake3", {"hash_type": "blake3"}),
    ("key-p256.shards-sha256-524288", {"method": "shards", "shard_size": 524288}),
]


def _decoded(name: str) -> dict:
    return json.loads((DECODED / f"{name}.statement.json").read_text("utf-8"))


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_manifest_equals_model_signing(name: str, kwargs: dict) -> None:
    statement = _decoded(name)
    manifest = digest_model(MODEL, **kwargs)
    expected = [(r["name"], r["algorithm"], r["digest"]) for r in statement["predicate"]["resources"]]
    assert [(r.name, r.algorithm, r.hex) for r in manifest.resources] == expected
    assert manifest.root_digest().hex() == statement["subject"][0]["digest"]["sha256"]
    assert manifest.model_name == statement["subject"][0]["name"] == "model"
    # What we would write is what model-signing wrote (ignoring its unordered ignore_paths and our extension).
    ours = build_statement(manifest, include_tensors=False)
    assert ours["subject"] == statement["subject"]
    assert ours["predicate"]["resources"] == statement["predicate"]["resources"]
    ser, theirs = ours["predicate"]["serialization"], statement["predicate"]["serialization"]
    assert sorted(ser["ignore_paths"]) == sorted(theirs["ignore_paths"])
    assert {k: v for k, v in ser.items() if k != "ignore_paths"} == {
        k: v for k, v in theirs.items() if k != "ignore_paths"}
    # ours also signs the zero-byte files of a sharded model (model-signing leaves them out)
    assert parse_statement(statement) == dataclasses.replace(parse_statement(ours), empty_files=None)


@pytest.mark.parametrize("path", sorted(DECODED.glob("*.json")), ids=lambda p: p.name)
def test_parse_every_decoded_statement(path: Path) -> None:
    parsed = read_statement(path.read_bytes())
    assert parsed.subject_digest == parsed.manifest.root_digest()
    assert len(parsed.manifest.resources) in (11, 12)


def _upstream_payloads() -> list[Path]:
    return sorted((FIX / "upstream-vectors").glob("*/model.sig"))


@pytest.mark.parametrize("sig", _upstream_payloads(), ids=lambda p: p.parent.name)
def test_parse_upstream_vectors_and_recompute(sig: Path) -> None:
    payload = base64.b64decode(json.loads(sig.read_text())["dsseEnvelope"]["payload"])
    parsed = read_statement(payload)
    folder = sig.parent
    single = [r.name for r in parsed.manifest.resources] == ["."]
    target = folder / parsed.subject_name if single else folder
    actual = digest_model(target, ignore_paths=["ignore-me", sig], tensors=False)
    assert all(c.status is ChangeKind.OK for c in diff(parsed.manifest, actual))
    if not parsed.legacy:
        assert actual.root_digest() == parsed.subject_digest
        assert actual.model_name == parsed.subject_name


def test_roundtrip_with_extension() -> None:
    manifest = digest_model(MODEL, method="shards", shard_size=524288)
    fresh = Freshness(version=2, issued_at="2026-11-27T13:00:00Z", supersedes="sha256:" + "ab" * 32)
    statement = build_statement(manifest, freshness=fresh)
    ext = statement["predicate"]["weightwarden"]
    assert ext["schema"] == "weightwarden.integrity/v1" and ext["tensors"]
    assert ext["tensor_hash"] == "blake3"
    parsed = read_statement(json.dumps(statement).encode())
    assert parsed.manifest == manifest and parsed.freshness == fresh


def test_extension_without_tensor_hash_means_the_file_hash() -> None:
    manifest = digest_model(MODEL, tensor_hash_type="sha256")
    statement = build_statement(manifest)
    del statement["predicate"]["weightwarden"]["tensor_hash"]  # as written before the field existed
    parsed = read_statement(json.dumps(statement).encode()).manifest
    assert parsed.tensor_hash == "sha256" and parsed.tensors == manifest.tensors
    statement["predicate"]["weightwarden"]["tensor_hash"] = "md5"
    with pytest.raises(StatementError, match="tensor_hash"):
        read_statement(json.dumps(statement).encode())


# --------------------------------------------------------------------------------------------- tampering

TAMPER = {
    "changed-byte": {("model-00002-of-00002.safetensors", ChangeKind.MODIFIED)},
    "added-file": {("tokenizer/added_tokens.json", ChangeKind.ADDED)},
    "removed-file": {("tokenizer/special_tokens_map.json", ChangeKind.MISSING)},
    "renamed-file": {("generation-config.json", ChangeKind.RENAMED)},
    "git-only": set(),
}


@pytest.mark.parametrize("case", sorted(TAMPER))
@pytest.mark.parametrize("method", ["files", "shards"])
def test_tampered_verdicts(case: str, method: str) -> None:
    kwargs = {"method": method, "shard_size": 524288 if method == "shards" else None}
    signed = parse_statement(_decoded("key-p256.files-sha256" if method == "files"
                                      else "key-p256.shards-sha256-524288"))
    changes = diff(signed, digest_model(V111 / "tampered" / case, **kwargs))
    assert {(c.path, c.status) for c in changes if c.status is not ChangeKind.OK} == TAMPER[case]
    if case == "renamed-file":
        (renamed,) = [c for c in changes if c.status is ChangeKind.RENAMED]
        assert renamed.old_path == "generation_config.json"


def _copy_model(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(MODEL, dst)
    for root, dirs, files in os.walk(dst):
        for n in dirs + files:
            os.chmod(os.path.join(root, n), 0o755 if n in dirs else 0o644)
    os.chmod(dst, 0o755)
    return dst


def _tensor_offset(path: Path, tensor: str) -> int:
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + n])
    begin, end = header[tensor]["data_offsets"]
    return 8 + n + (begin + end) // 2


@pytest.mark.parametrize("method", ["files", "shards"])
def test_tensor_level_change_names_shard_and_tensor(tmp_path: Path, method: str) -> None:
    kwargs = {"method": method, "shard_size": 524288 if method == "shards" else None}
    signed = read_statement(json.dumps(build_statement(digest_model(MODEL, **kwargs)))).manifest
    model = _copy_model(tmp_path)
    shard = model / "model-00001-of-00002.safetensors"
    off = _tensor_offset(shard, "model.l0.attn.w")
    with open(shard, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 1]))
    # sha256-state evidence (files) is compared from the signed states; recorded afresh it names no tensor.
    actual = digest_model(model, **kwargs, tensor_origins=signed.tensor_states_by_file())
    changes = [c for c in diff(signed, actual) if c.status is not ChangeKind.OK]
    assert len(changes) == 1
    change = changes[0]
    assert change.path == shard.name and change.status is ChangeKind.MODIFIED
    assert change.tensors == ("model.l0.attn.w",)
    if method == "shards":
        assert change.shards == ("524288:852176",)


def test_partial_verify() -> None:
    signed = parse_statement(_decoded("key-p256.files-sha256"))
    wanted = ["model-00001-of-00002.safetensors", "config.json"]
    changes = diff(signed, digest_model(V111 / "tampered" / "removed-file", only=wanted), only=wanted)
    assert [(c.path, c.status) for c in changes] == [(n, ChangeKind.OK) for n in sorted(wanted)]
    changes = diff(signed, digest_model(V111 / "tampered" / "changed-byte", only=wanted + ["nope"]),
                   only=[*wanted, "nope", "model-00002-of-00002.safetensors"])
    assert {c.path: c.status for c in changes if c.status is not ChangeKind.OK} == {
        "nope": ChangeKind.MISSING, "model-00002-of-00002.safetensors": ChangeKind.MISSING}


def test_type_change(tmp_path: Path) -> None:
    model = _copy_model(tmp_path)
    signed = digest_model(model)
    (model / "README.md").unlink()
    (model / "README.md").mkdir()
    (model / "README.md" / "x").write_text("x")
    changes = {c.path: c.status for c in diff(signed, digest_model(model)) if c.status is not ChangeKind.OK}
    assert changes == {"README.md": ChangeKind.TYPE_CHANGED, "README.md/x": ChangeKind.ADDED}


# ------------------------------------------------------------------------------------------------ rejects


def test_reject_empty_models(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no files"):
        digest_model(tmp_path / "empty")
    git = tmp_path / "gitonly"
    (git / ".git").mkdir(parents=True)
    (git / ".git" / "HEAD").write_text("ref")
    (git / ".gitignore").write_text("*")
    with pytest.raises(ManifestError, match="no files"):
        digest_model(git)
    zero = tmp_path / "zero"
    zero.mkdir()
    (zero / "a").write_bytes(b"")
    assert len(digest_model(zero).resources) == 1
    with pytest.raises(ManifestError, match="only empty files"):
        digest_model(zero, method="shards")


def test_reject_case_and_unicode_collisions(tmp_path: Path) -> None:
    case = tmp_path / "case"
    case.mkdir()
    (case / "Model.bin").write_bytes(b"1")
    (case / "model.bin").write_bytes(b"2")
    with pytest.raises(ManifestError, match="collide"):
        digest_model(case)
    uni = tmp_path / "uni"
    uni.mkdir()
    (uni / unicodedata.normalize("NFC", "café")).write_bytes(b"1")
    (uni / unicodedata.normalize("NFD", "café")).write_bytes(b"2")
    with pytest.raises(ManifestError, match="collide"):
        digest_model(uni)


def test_symlinks(tmp_path: Path) -> None:
    """The one path policy (weightwarden.artifact.paths): links inside the folder are read through and
    signed as allow_symlinks (model-signing verifiers then follow them too); one leaving it needs the flag."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    (model / "link.bin").symlink_to("w.bin")
    followed = digest_model(model)
    digests = {r.name: r.digest for r in followed.resources}
    assert digests["link.bin"] == digests["w.bin"] and followed.spec.allow_symlinks
    (model / "link.bin").unlink()
    assert not digest_model(model).spec.allow_symlinks
    (model / "link.bin").symlink_to("w.bin")
    assert digest_model(model / "link.bin").resources[0].digest == digests["w.bin"]  # a linked single file
    (tmp_path / "secret").write_bytes(b"outside")
    (model / "escape").symlink_to(tmp_path / "secret")
    with pytest.raises(ManifestError, match="escape: symbolic link leaves the model folder.*--allow-symlinks"):
        digest_model(model)
    assert digest_model(model, allow_symlinks=True).spec.allow_symlinks


def test_ignore_paths(tmp_path: Path) -> None:
    model = _copy_model(tmp_path)
    (model / "model.sig").write_text("{}")
    (model / "sub").mkdir()
    (model / "sub" / "cache.bin").write_bytes(b"c")
    m = digest_model(model, ignore_paths=[model / "model.sig", "sub", tmp_path / "elsewhere"])
    assert m.root_digest() == digest_model(MODEL).root_digest()
    assert set(m.spec.ignore_paths) == {".git", ".gitattributes", ".github", ".gitignore", "model.sig", "sub"}
    assert ".gitattributes" in {r.name for r in digest_model(MODEL, ignore_git_paths=False).resources}


def _statement() -> dict:
    return json.loads(json.dumps(_decoded("key-p256.files-sha256")))


def _set_first_name(s: dict, name: str) -> dict:
    s["predicate"]["resources"][0]["name"] = name
    return s


BAD = {
    "wrong predicate type": lambda s: s.update(predicateType="https://example.com/other") or s,
    "wrong _type": lambda s: s.update(_type="https://in-toto.io/Statement/v0.9") or s,
    "two subjects": lambda s: s.update(subject=s["subject"] * 2) or s,
    "no resources": lambda s: s["predicate"].update(resources=[]) or s,
    "dotdot": lambda s: _set_first_name(s, "../etc/passwd"),
    "absolute": lambda s: _set_first_name(s, "/etc/passwd"),
    "nul": lambda s: _set_first_name(s, "a\x00b"),
    "case collision": lambda s: _set_first_name(s, "CONFIG.json"),
    "digest mismatch": lambda s: s["subject"][0]["digest"].update(sha256="00" * 32) or s,
    "algorithm mismatch": lambda s: s["predicate"]["resources"][0].update(algorithm="blake3") or s,
    "short digest": lambda s: s["predicate"]["resources"][0].update(digest="abcd") or s,
    "bad hash type": lambda s: s["predicate"]["serialization"].update(hash_type="md5") or s,
    "bool symlinks": lambda s: s["predicate"]["serialization"].update(allow_symlinks="yes") or s,
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_statement_rejections(case: str) -> None:
    with pytest.raises(StatementError):
        read_statement(BAD[case](_statement()))


def test_shard_variants() -> None:
    s = _decoded("key-p256.shards-sha256-524288")
    s["predicate"]["serialization"]["shard_size"] = 524288.5
    with pytest.raises(StatementError, match="shard_size"):
        read_statement(s)
    s = _decoded("key-p256.shards-sha256-524288")
    s["predicate"]["resources"][0]["name"] = "README.md:0"
    with pytest.raises(StatementError, match="path:start:end"):
        read_statement(s)
    s = _decoded("key-p256.files-blake2b")
    s["predicate"]["serialization"]["hash_type"] = "blake2"
    assert read_statement(s).manifest.spec.hash_type == "blake2b"


# ------------------------------------------------------------------------------------------------- fuzzing

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def _mutate(path: list, value: object) -> dict:
    s = _statement()
    node = s
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return s


_PATHS = [["_type"], ["subject"], ["subject", 0], ["predicateType"], ["predicate"],
          ["predicate", "serialization"], ["predicate", "resources"], ["predicate", "resources", 0],
          ["predicate", "serialization", "method"], ["predicate", "serialization", "shard_size"],
          ["predicate", "serialization", "ignore_paths"], ["predicate", "weightwarden"]]


def _outcome(data: object) -> None:
    try:
        result = read_statement(data)  # type: ignore[arg-type]
    except StatementError as exc:
        assert exc.reason
    else:
        assert result.manifest.resources


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_fuzz_random_json(value: object) -> None:
    _outcome(value)
    _outcome(json.dumps(value).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_PATHS), _json)
def test_fuzz_mutated_statement(path: list, value: object) -> None:
    _outcome(_mutate(path, value))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=3000))
def test_fuzz_corrupted_bytes(junk: bytes, pos: int) -> None:
    raw = (DECODED / "key-p256.shards-sha256-524288.statement.json").read_bytes()
    _outcome(raw[:pos] + junk + raw[pos:])
