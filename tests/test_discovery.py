"""Discovery and sniffing: formats come from content, links are never followed, unreadable paths are named."""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest

from weightwarden.artifact import Format, Source, open_artifact
from weightwarden.artifact.sniff import looks_like_pickle, sniff


def _write(path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _safetensors_bytes() -> bytes:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    return struct.pack("<Q", len(header)) + header + b"\x00" * 8


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("weights.txt", _safetensors_bytes(), Format.SAFETENSORS),
        ("model.safetensors", pickle.dumps({"a": 1}, protocol=2), Format.PICKLE),
        ("notes.bin", pickle.dumps([1, 2], protocol=0), Format.PICKLE),
        ("x.json", b"GGUF\x03\x00\x00\x00" + b"\x00" * 16, Format.GGUF),
        ("a.pkl", b"\x93NUMPY\x01\x00" + b"\x00" * 8, Format.NUMPY),
        ("README.md", b"# A model\nSee https://example.org for details.\n", Format.TEXT),
        ("config.bin", b'{"hidden_size": 8}', Format.JSON),
        ("tokenizer_config.json", b'{"chat_template": "{{ messages }}"}', Format.HF_TOKENIZER_CONFIG),
        ("chat_template.jinja", b"{% for m in messages %}{{ m.content }}{% endfor %}", Format.JINJA_TEMPLATE),
        ("empty.pt", b"", Format.EMPTY),
        ("random.bin", bytes(range(256)) * 4, Format.UNKNOWN),
    ],
)
def test_format_comes_from_content_not_name(tmp_path, name, data, expected):
    path = _write(tmp_path / name, data)
    assert sniff(Source.from_path(path, name)) == expected


def test_numpy_file_sniffed_whatever_its_name(tmp_path):
    path = tmp_path / "weights.safetensors"
    with open(path, "wb") as f:
        np.save(f, np.arange(4))
    assert sniff(Source.from_path(str(path), path.name)) == Format.NUMPY


def test_pickles_of_every_protocol_are_recognised():
    for protocol in range(6):
        assert looks_like_pickle(pickle.dumps({"k": [1, 2.0, "s"]}, protocol=protocol))
    assert not looks_like_pickle(b"hello world, this is text")


def test_links_are_reported_and_only_inside_ones_read(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink("config.json", model / "inside-link.json")
    os.symlink("../secret.txt", model / "escape")
    os.symlink(str(outside), model / "absolute")
    artifact = open_artifact(str(model))
    codes = {(a.code, a.location) for a in artifact.anomalies}
    assert ("fs.symlink", "inside-link.json") in codes
    assert ("fs.symlink_escape", "escape") in codes
    assert ("fs.symlink_absolute", "absolute") in codes
    # The inside link's target is read under the link's name (a loader opens that name); escaping ones never.
    assert [e.path for e in artifact.entries] == ["config.json", "inside-link.json"]


def test_a_link_into_a_skipped_folder_is_read_under_its_name(tmp_path):
    """Red team: a pickle hidden in __pycache__ and reached through pytorch_model.bin was never read."""
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "w.bin").write_bytes(pickle.dumps(1))
    os.symlink("__pycache__/w.bin", tmp_path / "pytorch_model.bin")
    artifact = open_artifact(str(tmp_path))
    assert [e.path for e in artifact.entries] == ["pytorch_model.bin"]


def test_ignored_folders_are_skipped(tmp_path):
    (tmp_path / ".git" / "objects" / "ab").mkdir(parents=True)
    (tmp_path / ".git" / "objects" / "ab" / "cdef01").write_bytes(pickle.dumps(1))
    (tmp_path / "w.pkl").write_bytes(pickle.dumps(1))
    artifact = open_artifact(str(tmp_path))
    assert [e.path for e in artifact.entries] == ["w.pkl"]
    assert artifact.anomalies == []


def test_model_named_files_in_ignored_folders_are_read_and_noticed(tmp_path):
    """Round 20: the skip is narrowed: a file named like a model file in .git is read (a loader given the name reads it)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "objects.pkl").write_bytes(pickle.dumps(1))
    (tmp_path / "w.pkl").write_bytes(pickle.dumps(1))
    artifact = open_artifact(str(tmp_path))
    assert [e.path for e in artifact.entries] == ["w.pkl", ".git/objects.pkl"]
    assert [(a.code, a.location) for a in artifact.anomalies] == [("fs.skipped_model_file", ".git/objects.pkl")]


def test_missing_path_is_a_named_error(tmp_path):
    artifact = open_artifact(str(tmp_path / "nope"))
    assert artifact.errors and "cannot access" in artifact.errors[0][1]


def test_hub_cache_snapshot_links_are_read_as_their_blobs(tmp_path):
    repo = tmp_path / "hub" / "models--org--name"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc123").write_bytes(pickle.dumps({"k": 1}, protocol=2))
    snapshot = repo / "snapshots" / "rev1"
    snapshot.mkdir(parents=True)
    os.symlink("../../blobs/abc123", snapshot / "weights.pkl")
    os.symlink("../../../../outside", snapshot / "escape")
    artifact = open_artifact(str(snapshot))
    assert [(e.path, e.format) for e in artifact.entries] == [("weights.pkl", Format.PICKLE)]
    assert [a.code for a in artifact.anomalies] == ["fs.symlink_escape"]


def test_zip_with_prepended_bytes_is_still_a_zip(tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", "{}")
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00junk" * 100 + buf.getvalue())
    assert sniff(Source.from_path(str(path), path.name)) == Format.ZIP


def test_unrecognised_binary_is_listed_not_skipped(tmp_path):
    path = tmp_path / "variables.data-00000-of-00001"
    path.write_bytes(bytes(range(256)) * 8)
    entry = open_artifact(str(path)).entries[0]
    assert entry.format == Format.UNKNOWN
    assert [a.code for a in entry.anomalies] == ["fs.unrecognised_format"]


def test_additional_chat_templates_are_templates(tmp_path):
    path = tmp_path / "additional_chat_templates" / "tool_use.jinja"
    _write(path, b"{% for m in messages %}{{ m.content }}{% endfor %}")
    entry = open_artifact(str(tmp_path)).entries[0]
    assert entry.path == "additional_chat_templates/tool_use.jinja"
    assert entry.format == Format.JINJA_TEMPLATE
