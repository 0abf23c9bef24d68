"""Issue 11, class 3: a file more than one reader accepts is a polyglot (WW-FS-006, high), and every reading
is scanned: a pickle at byte 0 of another format, a zip found from its end behind a pickle, a tar header
that is also a pickle."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

from tests.adversarial.generate import ACT, _call, safetensors_polyglot, tar_polyglot
from weightwarden.scan import scan_paths


def _rules(path: Path) -> set[str]:
    return {f.rule_id for f in scan_paths([str(path)], workers=1).findings}


def test_pickle_followed_by_a_zip_is_read_both_ways(tmp_path: Path) -> None:
    payload = _call("builtins", "exec", ACT)(2)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil.pkl", payload)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2) + archive.getvalue())
    assert {"WW-FS-006", "WW-PKL-001"} <= _rules(path)


def test_tar_whose_header_is_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "weights.tar"
    path.write_bytes(tar_polyglot(_call("os", "system", "touch canary")(0)))
    assert {"WW-FS-006", "WW-PKL-001"} <= _rules(path)


def test_safetensors_looking_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_polyglot(_call("os", "system", "touch canary")(2)))
    assert "WW-PKL-001" in _rules(path)


def test_benign_pickle_and_zip_are_not_polyglots(tmp_path: Path) -> None:
    plain = tmp_path / "a.pkl"
    plain.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=4))
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("notes.txt", "hello")
    assert "WW-FS-006" not in _rules(plain) | _rules(archive)
