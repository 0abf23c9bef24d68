"""Red team round 15 on the scanner's readers (report: issues/rt-scanreaders-round15.md): member lists as every
loader finds them.

A. A zip with two central directories: the zip reader listed members with Python's zipfile (the directory right
   before the end record), torch.load's miniz reads the one at the end record's offset field (or the zip64
   record the locator names): an evil data.pkl hidden in tensor bytes ran, 0 findings. Now every loader's view
   is parsed (:mod:`weightwarden.artifact.readers._zipdirs`), a difference is WW-ARC-001 (high) and the members
   of every view are scanned.
B. A 7z member whose name py7zr cleans up on extraction ('./model.pkl' -> 'model.pkl') was looked up by its raw
   name, missed, and skipped silently. Now every output py7zr produced is scanned, rewritten names are
   reported, and a member asked for that produced no output is an error (WW-ARC-004).

The victim side runs in a subprocess with ``posix.system`` replaced by a print (the canary never runs).
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.adversarial.generate import R15_PAYLOAD, hidden_local, sevenzip_named, two_directories, zip_count
from tests.test_archives import codes, read_path
from tests.test_scan_round13 import _rules, _torch_runs_it
from weightwarden.artifact.readers._zipdirs import info_key, loader_views
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

BENIGN_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01K\x01s."


def _codes(path: Path) -> set[str]:
    """Anomaly codes of the file and its members, as the readers report them."""
    return codes(read_path(path))


# -- A: zip directories ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["comment", "in_data", "zip64_locator", "last_end_record"])
def test_the_directory_torch_reads_is_scanned_and_torch_runs_it(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(two_directories(mode))
    if mode != "last_end_record":  # (there zipfile too takes the last end record; strict readers the first)
        assert "archive/data/0" in zipfile.ZipFile(path).namelist()  # zipfile lists a benign torch archive ...
    rules = _rules(path)
    assert {"WW-PKL-001", "WW-ARC-001"} <= rules
    assert "zip.directory_mismatch" in _codes(path)
    assert _torch_runs_it(path)  # ... and torch.load runs the other directory's data.pkl


@pytest.mark.parametrize("mode", ["first_end_record", "zip64_32bit"])
def test_directories_only_other_readers_take_are_scanned(tmp_path: Path, mode: str) -> None:
    """Readers stricter than zipfile and miniz (an end record whose comment length ends the file; zip64 values
    only where a 32-bit field is saturated) read the evil directory: its members are scanned too."""
    path = tmp_path / "model.pt"
    path.write_bytes(two_directories(mode))
    assert "archive/data/0" in zipfile.ZipFile(path).namelist()
    assert {"WW-PKL-001", "WW-ARC-001"} <= _rules(path)


@pytest.mark.parametrize("junk", [65_540, 68_000])
def test_an_end_record_past_zipfiles_window_is_read_the_miniz_way(tmp_path: Path, junk: int) -> None:
    """miniz searches ~4 KiB further back than zipfile's 65557 bytes: that end record is read both ways too."""
    path = tmp_path / "model.pt"
    path.write_bytes(two_directories("comment") + bytes(junk))
    assert {"WW-PKL-001", "WW-ARC-001"} <= _rules(path)


def test_a_local_header_no_directory_names_is_scanned(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    path.write_bytes(hidden_local())
    assert zipfile.ZipFile(path).namelist() == ["a.txt", "c.txt"]
    assert {"WW-PKL-001", "WW-ARC-001"} <= _rules(path)


@pytest.mark.parametrize("delta", [-1, 1])
def test_an_entry_count_that_differs_from_the_directory_is_high(tmp_path: Path, delta: int) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(zip_count(delta))
    assert "WW-ARC-001" in _rules(path)
    assert "zip.directory_mismatch" in _codes(path)


def test_a_data_pkl_in_other_letter_case_is_a_torch_archive(tmp_path: Path) -> None:
    """torch finds ARCHIVE/DATA.PKL case-insensitively: the archive is classified and walked as PyTorch (the red
    team's case.pt was caught as a generic zip; only the classification was off)."""
    pytest.importorskip("torch")
    from tests.adversarial.generate import torch_zip

    path = tmp_path / "case.pt"
    path.write_bytes(torch_zip(R15_PAYLOAD, member="DATA.PKL"))
    entry = read_path(path)
    assert entry.metadata["kind"] == "pytorch"
    assert "WW-PKL-001" in _rules(path)
    assert _torch_runs_it(path)


# -- benign archives keep one view -----------------------------------------------------------------------------------


def _high(path: Path) -> set[str]:
    report = scan_paths([str(path)], workers=1)
    return {f.rule_id for f in report.findings if f.severity.at_least(Severity.HIGH)} | {"error" for _ in report.errors}


def test_torch_save_stays_clean(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(64), "b": torch.ones(3)}, path)
    assert _high(path) == set()
    with open(path, "rb") as f:
        views = loader_views(f, path.stat().st_size, 10_000, 1 << 24)
    mine = sorted(info_key(i) for i in zipfile.ZipFile(path).infolist())
    assert views and all(sorted(e.key() for e in v.entries) == mine for v in views)


def test_numpy_savez_stays_clean(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "arrays.npz"
    np.savez(path, a=np.arange(10), b=np.zeros((3, 3)))
    assert _high(path) == set()
    comp = tmp_path / "comp.npz"
    np.savez_compressed(comp, a=np.arange(1000))
    assert _high(comp) == set()


def test_zip64_end_records_written_by_zipfile_stay_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # zipfile writes zip64 end records past this count
    path = tmp_path / "z64.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", b"a" * 100)
        z.writestr("b.txt", b"b" * 100)
        z.comment = b"a comment"
    monkeypatch.undo()
    assert b"PK\x06\x06" in path.read_bytes()
    assert _high(path) == set()


def test_a_stored_zip_as_the_last_member_stays_clean(tmp_path: Path) -> None:
    """The inner zip's end record lies in the outer file's search window; no loader takes it."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("x.txt", b"inner")
    path = tmp_path / "outer.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("readme.txt", b"hello")
        z.writestr("inner.zip", inner.getvalue())
    assert _high(path) == set()


# -- B: 7z names py7zr rewrites --------------------------------------------------------------------------------------


def _py7zr_extract_runs_it(path: Path, tmp_path: Path) -> bool:
    """py7zr extractall, then pickle.load of every extracted .pkl, in a subprocess with posix.system a print."""
    pytest.importorskip("py7zr")
    code = ("import os, pickle, sys, py7zr, unittest.mock as m\n"
            "py7zr.SevenZipFile(sys.argv[1]).extractall(sys.argv[2])\n"
            "with m.patch('posix.system', lambda c: print('SYSTEM', c) or 0):\n"
            "    for root, _d, files in os.walk(sys.argv[2]):\n"
            "        for n in files:\n"
            "            pickle.load(open(os.path.join(root, n), 'rb'))\n")
    run = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=120, check=False, cwd=tmp_path)
    return "SYSTEM touch canary" in run.stdout


@pytest.mark.parametrize("name", ["./model.pkl", "a//./m.pkl", "./a/./b//m.pkl", "a/m.pkl/"])
def test_a_member_py7zr_renames_is_scanned_and_runs(tmp_path: Path, name: str) -> None:
    pytest.importorskip("py7zr")
    path = tmp_path / "model.7z"
    path.write_bytes(sevenzip_named([name], [R15_PAYLOAD]))
    assert {"WW-PKL-001", "WW-ARC-001"} <= _rules(path)
    assert "7z.name_rewritten" in _codes(path)
    assert _py7zr_extract_runs_it(path, tmp_path)


@pytest.mark.parametrize("order", ["evil_last", "evil_first"])
def test_members_that_collide_after_the_clean_up_are_both_scanned(tmp_path: Path, order: str) -> None:
    pytest.importorskip("py7zr")
    payloads = [BENIGN_PICKLE, R15_PAYLOAD] if order == "evil_last" else [R15_PAYLOAD, BENIGN_PICKLE]
    path = tmp_path / "model.7z"
    path.write_bytes(sevenzip_named(["m.pkl", "./m.pkl"], payloads))
    assert {"WW-PKL-001", "WW-ARC-001"} <= _rules(path)
    assert "7z.duplicate_name" in _codes(path)
    if order == "evil_last":  # the later member overwrites the earlier on extraction
        assert _py7zr_extract_runs_it(path, tmp_path)


def test_a_member_that_produced_no_output_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "model.7z"
    path.write_bytes(sevenzip_named(["model.pkl"], [BENIGN_PICKLE]))
    assert _high(path) == set()
    monkeypatch.setattr(py7zr.SevenZipFile, "extract", lambda self, *a, **k: None)  # a reader that writes nothing
    report = scan_paths([str(path)], workers=1)
    assert any(f.rule_id == "WW-ARC-004" for f in report.findings)
    assert report.errors


def test_an_ordinary_7z_stays_clean(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "model.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(BENIGN_PICKLE, "model/weights.pkl")
        z.writestr(b'{"a": 1}', "model/config.json")
    assert _high(path) == set()
