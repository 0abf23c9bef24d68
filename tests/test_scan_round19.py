"""Red team round 19 on the scanner's readers (report: issues/rt-scanreaders-round19.md): a compressed zip member
that declares an uncompressed size of 0 (real CRC and compressed size kept) was scanned as an empty file.

Reads were capped at the declared size, so the decompressor never started and the "stream longer than declared"
check never ran; Info-ZIP ``unzip`` and ``jar xf`` write the whole stream and the extracted pickle / object .npy
runs when loaded. Now every compressed member is decompressed to the end of its stream (within the bomb bounds):
its real length is compared with the declared one (``zip.size_mismatch``, WW-ARC-001 high), its CRC is checked
over the full output, and the full output is what is scanned.

The victim side extracts the member as unzip does (the raw stream through zlib / bz2 / lzma, or ``unzip`` itself
when installed) and loads it in a subprocess with ``posix.system`` replaced by a print (the canary never runs).
"""

from __future__ import annotations

import bz2
import contextlib
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.adversarial.generate import r17_object_npy, r18_plain_npy
from tests.test_scan_round17 import _rules
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

PKL, ARC = "WW-PKL-001", "WW-ARC-001"
METHODS = [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


class _Evil:
    def __reduce__(self):  # noqa: ANN204 - a pickle payload that calls posix.system (patched in the victim)
        import posix

        return (posix.system, ("touch canary",))


def _evil_pickle() -> bytes:
    return pickle.dumps(_Evil(), protocol=2)


def _declare_zero(path: Path, name: str) -> None:
    """Set the uncompressed size of ``name`` to 0 in its local and central headers; CRC and compressed size stay."""
    with zipfile.ZipFile(path) as z:
        info, start_dir = z.getinfo(name), z.start_dir  # type: ignore[attr-defined]
    data = bytearray(path.read_bytes())
    assert data[info.header_offset : info.header_offset + 4] == b"PK\x03\x04"
    data[info.header_offset + 22 : info.header_offset + 26] = struct.pack("<I", 0)
    pos = start_dir
    while data[pos : pos + 4] == b"PK\x01\x02":
        n, e, c = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        if data[pos + 46 : pos + 46 + n].decode() == name:
            data[pos + 24 : pos + 28] = struct.pack("<I", 0)
        pos += 46 + n + e + c
    path.write_bytes(bytes(data))


def _zero_zip(path: Path, members: list[tuple[str, bytes, int]], zero: str) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data, method in members:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    _declare_zero(path, zero)
    return path


def _extract_like_unzip(path: Path, name: str, out: Path) -> Path:
    """What an extractor writes for ``name``: ``unzip`` when installed and built with the method, else the raw
    stream decoded to its end."""
    out.mkdir()
    if shutil.which("unzip"):
        run = subprocess.run(["unzip", "-o", "-q", str(path), name, "-d", str(out)], timeout=60, check=False)
        if run.returncode == 0:
            return out / name
        # rc 81: this unzip build lacks the method (often lzma); decode the raw stream as a full build does
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    raw = path.read_bytes()
    n, e = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + n + e
    stream = raw[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_DEFLATED:
        data = zlib.decompressobj(-15).decompress(stream)
    elif info.compress_type == zipfile.ZIP_BZIP2:
        data = bz2.decompress(stream)
    else:
        data = zipfile.LZMADecompressor().decompress(stream)  # type: ignore[attr-defined]
    assert zlib.crc32(data) == info.CRC  # the headers' CRC is the full stream's: an extractor is silent
    (out / name).write_bytes(data)
    return out / name


def _load_runs_it(path: Path, loader: str) -> bool:
    code = ("import sys, pickle, unittest.mock as m\n"
            "with m.patch('posix.system', lambda c: print('SYSTEM', c) or 0):\n"
            "    try:\n"
            f"        {loader}\n"
            "    except Exception as exc:\n        print('raised', type(exc).__name__, exc)\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         check=False, cwd=path.parent)
    return "SYSTEM touch canary" in run.stdout


PICKLE_LOAD = "pickle.load(open(sys.argv[1], 'rb'))"
NP_LOAD = "import numpy as np; np.load(sys.argv[1], allow_pickle=True)"


def _arc_evidence(path: Path) -> str:
    report = scan_paths([str(path)], workers=1)
    return " ".join(str(e.value) for f in report.findings if f.rule_id == ARC for e in f.evidence)


def _findings(path: Path) -> list[str]:
    report = scan_paths([str(path)], workers=1)
    return [f"{f.rule_id} {f.title}" for f in report.findings if f.severity.at_least(Severity.INFO)] + [
        f"error {e}" for e in report.errors]


# -- the PoCs ---------------------------------------------------------------------------------------------------------


def test_a1_npz_member_declared_zero(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    path = _zero_zip(tmp_path / "zero_member.npz", [("w.npy", r18_plain_npy(), zipfile.ZIP_STORED),
                                                     ("b.npy", r17_object_npy(), zipfile.ZIP_DEFLATED)], "b.npy")
    # zipfile cuts at the declared size (b'', or a CRC error on some Pythons): what the scanner used to see
    with zipfile.ZipFile(path) as z, contextlib.suppress(zipfile.BadZipFile):
        assert z.read("b.npy") == b""
    assert _load_runs_it(_extract_like_unzip(path, "b.npy", tmp_path / "out"), NP_LOAD)
    assert {PKL, ARC} <= _rules(path)
    assert "zip.size_mismatch" in _arc_evidence(path)


@pytest.mark.parametrize("method", METHODS, ids=["deflate", "bzip2", "lzma"])
def test_a2_a4_plain_zip_pickle_declared_zero(tmp_path: Path, method: int) -> None:
    path = _zero_zip(tmp_path / "zero.zip", [("README.txt", b"hello\n", zipfile.ZIP_STORED),
                                             ("model.pkl", _evil_pickle(), method)], "model.pkl")
    assert _load_runs_it(_extract_like_unzip(path, "model.pkl", tmp_path / "out"), PICKLE_LOAD)
    assert {PKL, ARC} <= _rules(path)
    evidence = _arc_evidence(path)
    assert "zip.size_mismatch" in evidence and "declared 0" in evidence
    assert "zip.crc_mismatch" not in evidence  # the CRC is the full stream's and is now checked over it


def test_declared_smaller_than_the_stream_is_still_caught(tmp_path: Path) -> None:
    path = tmp_path / "one.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("model.pkl"), _evil_pickle(), compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    data[22:26] = struct.pack("<I", 1)
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = struct.pack("<I", 1)
    path.write_bytes(bytes(data))
    assert {PKL, ARC} <= _rules(path)  # the whole stream is scanned, not the first declared byte


# -- benign controls --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=["deflate", "bzip2", "lzma"])
def test_empty_members_and_directories_stay_clean(tmp_path: Path, method: int) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w", compression=method) as z:
        z.writestr("d/", "")  # a real empty stream (2 bytes for deflate) declared at 0: inflates to 0 bytes
        z.writestr("empty.txt", b"")
        z.writestr("readme.txt", b"hello " * 100)
    assert _findings(path) == []


def test_savez_compressed_stays_clean(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "w.npz"
    np.savez_compressed(path, a=np.arange(1000, dtype=np.float32), b=np.zeros((3, 4)))
    assert _findings(path) == []


def test_torch_save_stays_clean(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "m.pt"
    torch.save({"w": torch.arange(16.0)}, path)
    assert _rules(path, Severity.LOW) == set()


# -- optional item: an lzma-alone second stream only joblib's decoder accepts --------------------------------------------


def _lzma_findings(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "m.pkl.lzma"
    path.write_bytes(data)
    return " ".join(_findings(path))


def test_lzma_second_stream_the_picky_decoder_refuses_is_trailing_data(tmp_path: Path) -> None:
    import lzma

    second = bytearray(lzma.compress(b"cposix\nsystem\n(Vtouch canary\ntR.", format=lzma.FORMAT_ALONE))
    struct.pack_into("<I", second, 1, 0x00012345)  # a dictionary size FORMAT_AUTO refuses, FORMAT_ALONE takes
    data = lzma.compress(b"\x80\x04K\x01.", format=lzma.FORMAT_ALONE) + bytes(second)
    with pytest.raises(lzma.LZMAError):
        lzma.LZMADecompressor().decompress(bytes(second))
    assert lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(bytes(second)).startswith(b"cposix")
    path = tmp_path / "two.pkl.lzma"
    path.write_bytes(data)
    evidence = " ".join(str(e.value) for f in scan_paths([str(path)], workers=1).findings for e in f.evidence)
    assert "compressed.trailing_data" in evidence


@pytest.mark.parametrize("fmt", ["xz", "alone", "xz-two-streams", "alone-two-streams"])
def test_lzma_benign_streams_stay_clean(tmp_path: Path, fmt: str) -> None:
    import lzma

    payload = pickle.dumps(list(range(50000)), protocol=4)
    if fmt == "xz":
        data = lzma.compress(payload)
    elif fmt == "alone":
        data = lzma.compress(payload, format=lzma.FORMAT_ALONE)
    elif fmt == "xz-two-streams":
        data = lzma.compress(payload[:1000]) + lzma.compress(payload[1000:])
    else:
        data = lzma.compress(payload[:1000], format=lzma.FORMAT_ALONE) + lzma.compress(payload[1000:], format=lzma.FORMAT_ALONE)
    assert lzma.decompress(data) == payload
    assert _lzma_findings(tmp_path, data) == ""
