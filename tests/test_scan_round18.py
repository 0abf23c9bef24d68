"""Red team round 18 on the scanner's readers (report: issues/rt-scanreaders-round18.md): an entry skipped because
of what its name or attributes say it is, while a loader reads its bytes.

A zip member whose name ends in "/" was taken for a directory and never read (not by the torch or generic reader,
the round-17 role sniff or the round 15-16 directory views). But a trailing "/" is a directory only to extractors:
``zipfile.open('evil/')`` reads the entry's bytes, and ``np.load(allow_pickle=True)`` lists it as a key and
unpickles it when it is an object .npy. Now every entry with a nonzero size is read as a file whatever its name or
attributes, and a directory entry that carries data is ``zip.directory_with_data`` (WW-ARC-001, high). The 7z
reader had the same skip (a directory attribute on an entry with a data stream: py7zr makes a folder, 7-Zip a file);
tar headers of data-less types that declare a size are flagged too.

The victim side runs in a subprocess with ``posix.system`` replaced by a print (the canary never runs).
"""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.adversarial.generate import r17_object_npy, r18_plain_npy, r18_zip, round18_cases
from tests.test_scan_round17 import _np_load_runs_it, _rules
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

PKL, ARC = "WW-PKL-001", "WW-ARC-001"


def _codes(path: Path) -> str:
    """The evidence text of the WW-ARC-001 findings (each starts with its anomaly code)."""
    report = scan_paths([str(path)], workers=1)
    return " ".join(str(e.value) for f in report.findings if f.rule_id == ARC for e in f.evidence)


def _all_findings(path: Path) -> list[str]:
    report = scan_paths([str(path)], workers=1)
    return [f"{f.rule_id} {f.title}" for f in report.findings if f.severity.at_least(Severity.INFO)] + [
        f"error {e}" for e in report.errors]


def _npz_with_dir(path: Path, name: str = "evil/", compress: int = zipfile.ZIP_STORED) -> Path:
    """The report's A1 with zipfile itself: w.npy and a member named like a directory holding an object .npy."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("w.npy"), r18_plain_npy())
        info = zipfile.ZipInfo(name)
        info.compress_type = compress
        z.writestr(info, r17_object_npy())
    return path


# -- the two PoCs ------------------------------------------------------------------------------------------------------


def test_a1_dir_member_npz(tmp_path: Path) -> None:
    path = _npz_with_dir(tmp_path / "dir_member.npz")
    assert _np_load_runs_it(path)
    assert {PKL, ARC} <= _rules(path)
    assert "zip.directory_with_data" in _codes(path)


def test_a2_torch_save_with_dir_member(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "torchdir.pt"
    torch.save({"w": torch.arange(4.0)}, path)
    with zipfile.ZipFile(path, "a") as z:
        prefix = z.namelist()[0].split("/")[0]
        z.writestr(zipfile.ZipInfo(prefix + "/extra/"), r17_object_npy())
    assert _np_load_runs_it(path)
    assert {PKL, ARC} <= _rules(path)


# -- variants ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_dir_member_any_compression(tmp_path: Path, compress: int) -> None:
    path = _npz_with_dir(tmp_path / "m.npz", compress=compress)
    assert _np_load_runs_it(path)
    assert {PKL, ARC} <= _rules(path)


@pytest.mark.parametrize("case", round18_cases(), ids=lambda c: c.name)
def test_corpus_cases_fire_and_scan_critical(tmp_path: Path, case) -> None:  # noqa: ANN001 - a Case
    path = tmp_path / case.filename
    path.write_bytes(case.data)
    assert _np_load_runs_it(path), case.name
    assert case.expected_rule in _rules(path), case.name
    assert ARC in _rules(path), case.name


def test_nul_cut_name_is_the_directory_name(tmp_path: Path) -> None:
    path = tmp_path / "nul.npz"
    path.write_bytes(r18_zip([("w.npy", r18_plain_npy()), ("evil/\x00x", r17_object_npy())]))
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["w.npy", "evil/"]  # the NUL cut: a directory name to zipfile, read all the same
    assert {PKL, ARC} <= _rules(path)


def test_dir_attribute_without_slash_and_data_is_flagged(tmp_path: Path) -> None:
    """Marked as a directory by its attributes only (MS-DOS 0x10, Unix S_IFDIR): read as a file and flagged."""
    path = tmp_path / "attr.zip"
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo("evil.bin")
        info.create_system = 3
        info.external_attr = ((stat.S_IFDIR | 0o755) << 16) | 0x10
        z.writestr(info, r17_object_npy())
    assert {PKL, ARC} <= _rules(path)


def test_dir_member_in_a_plain_zip_vs_a_torch_zip(tmp_path: Path) -> None:
    from tests.adversarial.generate import r17_torch_zip

    plain = tmp_path / "plain.zip"
    plain.write_bytes(r18_zip([("readme.txt", b"hello"), ("a/b/", r17_object_npy())]))
    torchy = tmp_path / "torchy.pt"
    torchy.write_bytes(r17_torch_zip(bytes(4), {"a/b/": r17_object_npy()}))
    for path in (plain, torchy):
        assert {PKL, ARC} <= _rules(path), path.name


# -- benign: real empty directory entries stay clean --------------------------------------------------------------------


@pytest.mark.parametrize("compress", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_empty_directory_entries_stay_clean(tmp_path: Path, compress: int) -> None:
    """mkdir and writestr('d/', '') (a deflated 'd/' is an empty 2-byte stream, as jar tools write) are clean."""
    path = tmp_path / "weights.npz"
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        z.mkdir("sub")
        z.writestr("d/", "")
        z.writestr(zipfile.ZipInfo("e/"), "")
        z.writestr("w.npy", r18_plain_npy())
    assert _all_findings(path) == []


def test_torch_save_with_empty_directory_entries_stays_clean(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"w": torch.arange(4.0)}, path)
    with zipfile.ZipFile(path, "a") as z:
        prefix = z.namelist()[0].split("/")[0]
        z.writestr(zipfile.ZipInfo(prefix + "/extra/"), "")
    assert _all_findings(path) == []


# -- 7z and tar ----------------------------------------------------------------------------------------------------------


def _7z_with_dir_attr(path: Path, data: bytes) -> Path:
    py7zr = pytest.importorskip("py7zr")
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.writestr(data, "evil")
        z.writestr(b"plain", "w.txt")
        for f in z.header.files_info.files:
            if f["filename"] == "evil":  # a directory attribute on an entry that has a data stream
                f["attributes"] = 0x10 | 0x8000 | ((stat.S_IFDIR | 0o755) << 16)
    path.write_bytes(buf.getvalue())
    return path


def test_7z_directory_attribute_with_a_stream_is_read_and_flagged(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    from tests.adversarial.generate import R15_PAYLOAD

    path = _7z_with_dir_attr(tmp_path / "dir.7z", R15_PAYLOAD)
    with py7zr.SevenZipFile(path) as z:
        assert [i.is_directory for i in z.list()] == [True, False]  # py7zr makes a folder of it, 7-Zip a file
    assert {PKL, ARC} <= _rules(path)
    assert "7z.directory_with_data" in _codes(path)


def test_7z_real_directories_stay_clean(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    src = tmp_path / "src"
    (src / "sub" / "empty").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("hello")
    path = tmp_path / "ok.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        z.writeall(src, "src")
    assert _all_findings(path) == []


def test_tar_directory_header_with_a_size_is_flagged(tmp_path: Path) -> None:
    """tarfile and GNU tar read the bytes after a directory header as the next headers (the scanner walks them
    too): flagged, since a reader that skips ``size`` bytes would see other members."""
    inner = tarfile.TarInfo("hidden.txt")
    inner.size = 5
    hidden = inner.tobuf(format=tarfile.USTAR_FORMAT) + b"HELLO".ljust(512, b"\0")
    d = tarfile.TarInfo("d")
    d.type, d.size = tarfile.DIRTYPE, len(hidden)
    path = tmp_path / "d.tar"
    path.write_bytes(d.tobuf(format=tarfile.USTAR_FORMAT) + hidden + b"\0" * 1024)
    assert "tar.directory_with_data" in _codes(path)
    ok = tmp_path / "ok.tar"
    with tarfile.open(ok, "w") as t:
        t.addfile(tarfile.TarInfo("w.txt"), io.BytesIO(b""))
        dd = tarfile.TarInfo("sub")
        dd.type = tarfile.DIRTYPE
        t.addfile(dd)
    assert _all_findings(ok) == []


def test_symlink_member_with_an_object_npy_is_read(tmp_path: Path) -> None:
    """An S_IFLNK attribute is for extractors only: np.load reads the member's bytes (the 'target') by name."""
    path = tmp_path / "link.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("w.npy"), r18_plain_npy())
        info = zipfile.ZipInfo("evil")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, r17_object_npy())
    assert _np_load_runs_it(path)
    assert {PKL, "WW-ARC-006"} <= _rules(path)
