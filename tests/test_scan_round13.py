"""Red team round 13 on the scanner's readers (report: issues/rt-scanreaders-round13.md), each class as tests.

A. A format recognised by the magic its writer puts there, not the way its loader accepts it: tarfile (and so
   torch.load of any non-zip file, which extracts ``storages`` and unpickles it) takes any first block whose
   header checksum is valid, with no ``ustar`` magic; such a checkpoint was "unknown format" (info, rc 0). The
   same audit: zipfile finds the end record whatever the comment length says (prepended data too).
B. libhdf5 finds the superblock at 0 and every power of two from 512 to the end of the file; the sniff stopped at
   32 KiB, so a 64 KiB user block hid a Keras file (and its Lambda bytecode).
C. The STOP-in-frame fork chains re-walked the same final program once per chain (a budget of programs, not of
   work): chains are now memoised by (offset, mode), walked after the main chain, and share an opcode budget.
   Asserted on the work counted, never on time.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.adversarial.generate import v7_tar
from weightwarden.artifact.loader import open_artifact
from weightwarden.artifact.model import Format
from weightwarden.artifact.sniff import HDF5_MAGIC, is_tar_header, sniff
from weightwarden.artifact.source import Source
from weightwarden.core.findings import Severity
from weightwarden.picklevm.machine import ChainState, analyze_streams
from weightwarden.scan import scan_paths


def _rules(path: Path) -> set[str]:
    report = scan_paths([str(path)], workers=1)
    return {f.rule_id for f in report.findings if f.severity.at_least(Severity.HIGH)} | {
        "error" for _ in report.errors
    }


def _torch_runs_it(path: Path) -> bool:
    """torch.load(path) in a subprocess with posix.system replaced by a print: did the payload run?"""
    pytest.importorskip("torch")
    code = ("import sys, torch, unittest.mock as m\n"
            "with m.patch('posix.system', lambda c: print('SYSTEM', c) or 0):\n"
            "    try:\n        torch.load(sys.argv[1], weights_only=False)\n"
            "    except Exception as exc:\n        print('raised', type(exc).__name__)\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         check=False, cwd=path.parent)
    return "SYSTEM touch canary" in run.stdout


# -- A: tar as tarfile reads it ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ckpt.pth.tar", "v7.pt", "v7.bin", "model_best.pth"])
@pytest.mark.parametrize("variant", ["v7", "other_magic", "signed"])
def test_v7_tar_checkpoint_is_critical_and_torch_runs_it(tmp_path: Path, name: str, variant: str) -> None:
    data = {"v7": v7_tar(), "other_magic": v7_tar(b"XXXXXXXX"), "signed": v7_tar(high_bytes=True)}[variant]
    assert data[257:262] != b"ustar"
    path = tmp_path / name
    path.write_bytes(data)
    assert "WW-PKL-001" in _rules(path)
    if name == "ckpt.pth.tar":
        assert _torch_runs_it(path)


def test_v7_tar_gz_and_model_folder(tmp_path: Path) -> None:
    gz = tmp_path / "ckpt.tar.gz"
    gz.write_bytes(gzip.compress(v7_tar(), mtime=0))
    with tarfile.open(gz) as tar:  # what tarfile.open('x.tar.gz') reads
        assert tar.getnames() == ["storages"]
    assert "WW-PKL-001" in _rules(gz)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "checkpoint.pth.tar").write_bytes(v7_tar())
    (folder / "config.json").write_text('{"model_type": "bert"}')
    assert "WW-PKL-001" in _rules(folder)
    assert _torch_runs_it(folder / "checkpoint.pth.tar")


def test_tar_header_check_is_tarfiles_own() -> None:
    for data in (v7_tar(), v7_tar(b"XXXXXXXX"), v7_tar(high_bytes=True)):
        assert is_tar_header(data[:512])
        tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape")  # tarfile accepts it too
        broken = bytearray(data[:512])
        broken[0] ^= 1
        assert not is_tar_header(bytes(broken))
        with pytest.raises(tarfile.InvalidHeaderError):
            tarfile.TarInfo.frombuf(bytes(broken), "utf-8", "surrogateescape")
    assert not is_tar_header(bytes(512))  # the end marker: tarfile.open refuses it at offset 0
    assert not is_tar_header(b"x" * 511)


def test_tar_hidden_behind_another_format_is_read_as_a_polyglot(tmp_path: Path) -> None:
    # A V7 tar whose first member's name starts with the zip signature: sniffed as zip (by its prefix), while
    # tarfile.open reads a tar whose second member, storages, is the payload.
    payload = b"cposix\nsystem\n(Vtouch canary\ntR."
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in (("PK\x03\x04pad", b"x"), ("storages", payload)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = bytearray(out.getvalue())
    for header in (0, 1024):  # both headers as V7 ones (no ustar magic, checksum recomputed)
        data[header + 257 : header + 345] = bytes(88)
        data[header + 148 : header + 156] = b" " * 8
        data[header + 148 : header + 156] = b"%06o\x00 " % sum(data[header : header + 512])
    path = tmp_path / "poly.bin"
    path.write_bytes(bytes(data))
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["PK\x03\x04pad", "storages"]
    assert sniff(Source.from_bytes(path.read_bytes(), "poly.bin")) == Format.ZIP
    assert "WW-PKL-001" in _rules(path)


def test_zip_end_record_found_as_zipfile_finds_it(tmp_path: Path) -> None:
    # Data before the zip and bytes after its end record that the comment length does not cover: zipfile opens
    # it (it does not check the comment length); the sniff required the exact form and called it unknown.
    member = io.BytesIO()
    with zipfile.ZipFile(member, "w") as zf:
        zf.writestr("archive/data.pkl", b"cposix\nsystem\n(Vtouch canary\ntR.")
    data = b"\x01\x02prefix" + member.getvalue() + b"\x07trailing"
    path = tmp_path / "blob.dat"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["archive/data.pkl"]
    assert sniff(Source.from_bytes(data, "blob.dat")) == Format.ZIP
    assert "WW-PKL-001" in _rules(path)


def test_genuine_tar_and_zip_stay_clean(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        data = json.dumps({"a": 1}).encode()
        info = tarfile.TarInfo("config.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / "a.tar").write_bytes(out.getvalue())
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("notes.txt", "hello")
    # Ordinary binary data is not a tar by accident.
    (tmp_path / "blob.dat").write_bytes(bytes(range(256)) * 8)
    report = scan_paths([str(tmp_path)], workers=1)
    assert not [f for f in report.findings if f.severity.at_least(Severity.MEDIUM)], report.findings
    assert not report.errors


# -- B: HDF5 superblock at every power of two ----------------------------------------------------------------------


def _keras_h5(path: Path, userblock: int, userblock_data: bytes = b"") -> None:
    h5py = pytest.importorskip("h5py")
    config = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {
        "name": "l", "function": ["4wEAAAAAAAAA", "", None], "function_type": "lambda"}}]}}
    with h5py.File(path, "w", userblock_size=userblock) as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
    if userblock_data:
        with open(path, "r+b") as f:
            f.write(userblock_data)


@pytest.mark.parametrize("userblock", [512, 65536, 131072])
def test_hdf5_with_a_large_user_block_is_read(tmp_path: Path, userblock: int) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "model.weights"
    _keras_h5(path, userblock)
    assert h5py.is_hdf5(str(path))
    assert sniff(Source.from_path(str(path), "model.weights")) == Format.HDF5
    assert "WW-KERAS-001" in _rules(path)


def test_hdf5_signature_searched_up_to_the_end() -> None:
    for offset in (512, 32768, 65536, 1 << 20):
        data = bytes(offset) + HDF5_MAGIC + bytes(64)
        assert sniff(Source.from_bytes(data, "x")) == Format.HDF5, offset
    # Not at a power of two: libhdf5 does not find it, nor does the sniff.
    assert sniff(Source.from_bytes(bytes(70000) + HDF5_MAGIC + bytes(64), "x")) != Format.HDF5


def test_large_user_block_content_past_4k_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.h5"
    _keras_h5(path, 65536, bytes(8192) + b"hidden content")
    entry = open_artifact(path).entries[0]
    assert any(a.code == "keras.h5_userblock" for a in entry.anomalies), entry.anomalies
    assert any(child.path.endswith("!userblock") for child in entry.children)


# -- C: fork chains walk each byte range once ----------------------------------------------------------------------


def _forks(n: int, k: int) -> bytes:
    """mk_fork.py: n programs PROTO 4; FRAME 4 [N . N .] (each STOP-in-frame forks), then k NONE/POP pairs."""
    fork = b"\x80\x04\x95" + (4).to_bytes(8, "little") + b"N.N."
    return fork * n + b"\x80\x04" + b"N0" * k + b"N."


def test_fork_chains_do_not_rewalk_the_final_program(tmp_path: Path) -> None:
    k = 20_000
    state = ChainState()
    result = analyze_streams(io.BytesIO(_forks(8, k)), chains=state)
    # Before round 13: C(8,1)+...+C(8,4) = 162 walks of the final program (over 6 million opcodes here).
    assert state.walks <= 2 * 8, state.walks
    assert state.opcodes_walked < k, state.opcodes_walked
    assert not state.exhausted
    assert any(p.divergences for p in result.programs)
    path = tmp_path / "b8.pkl"
    path.write_bytes(_forks(8, k))
    assert "WW-PKL-012" in _rules(path)


def test_fork_budget_exhausted_fails_closed() -> None:
    # A chain from STOP that is not the main chain: STOP inside the frame, then a long program in the frame.
    body = b"N." + b"N0" * 5000 + b"N."
    data = b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body
    state = ChainState(opcodes_left=100)
    result = analyze_streams(io.BytesIO(data), chains=state)
    assert state.exhausted
    assert any(p.limit_hit for p in result.programs), result.programs


def test_fork_chain_payload_still_found_with_the_memo() -> None:
    # Round 12's case: after the STOP inside the frame, benign programs, then the payload (not on the main chain).
    gap = pickle.dumps({"k": 1}, protocol=2) + b"\x80\x02cposix\nsystem\n(Vtrue\ntR."
    body = b"K\x00." + gap
    data = b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body + pickle.dumps([], protocol=2)
    programs = analyze_streams(io.BytesIO(data), chains=ChainState()).programs
    assert any(site.target == "posix.system" for p in programs for site in p.calls), programs
