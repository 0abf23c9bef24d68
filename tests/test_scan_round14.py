"""Red team round 14 on the scanner's readers (report: issues/rt-scanreaders-round14.md): tar members classified
the way extractors classify them.

A. A member whose type flag tarfile does not know is extracted as a regular file by tarfile (makeunknown ->
   makefile), GNU tar and torch.load's legacy reader; the tar reader read only ``isreg()`` members, so a
   ``storages`` (or ``model/model.pkl``) of type 'Z' or 'V' was never read: 0 findings, rc 0.
B. A GNU sparse ``storages`` went to the generic child reader, which stops at the first pickle, while torch
   reads ``storages`` as a run of pickles: it is now expanded and read by the legacy walker.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import pytest

from tests.test_scan_round13 import _rules, _torch_runs_it

PAYLOAD = b"cposix\nsystem\n(Vtouch canary\ntR."


def _tar_with(name: str, data: bytes, type_flag: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.type = type_flag
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sparse_storages(data: bytes) -> bytes:
    """A GNU sparse ('S') member ``storages`` with one data region covering all of ``data``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("storages")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = bytearray(buf.getvalue())
    head = raw[:512]
    head[156:157] = b"S"
    head[386:398] = b"%011o\0" % 0  # first sparse region: offset 0 ...
    head[398:410] = b"%011o\0" % len(data)  # ... length of the data
    head[482] = 0  # no extended sparse headers
    head[483:495] = b"%011o\0" % len(data)  # real size
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    raw[:512] = head
    return bytes(raw)


@pytest.mark.parametrize("type_flag", [b"Z", b"V", b"9"])
def test_storages_of_an_unknown_type_is_read_and_torch_runs_it(tmp_path: Path, type_flag: bytes) -> None:
    path = tmp_path / "ckpt.pth.tar"
    path.write_bytes(_tar_with("storages", PAYLOAD, type_flag))
    with tarfile.open(path) as tar:  # tarfile hands it out as a file
        assert tar.extractfile("storages").read() == PAYLOAD
    assert "WW-PKL-001" in _rules(path)
    if type_flag == b"Z":
        assert _torch_runs_it(path)


def test_any_member_of_an_unknown_type_is_read(tmp_path: Path) -> None:
    path = tmp_path / "model.tar"
    path.write_bytes(_tar_with("model/model.pkl", PAYLOAD, b"Z"))
    assert "WW-PKL-001" in _rules(path)


def test_sparse_storages_is_read_as_torch_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "sparse.pth.tar"
    # zero storages (the first pickle), then the program torch runs next
    path.write_bytes(_sparse_storages(b"K\x00." + PAYLOAD))
    assert "WW-PKL-001" in _rules(path)
    assert _torch_runs_it(path)


def test_an_ordinary_tar_of_a_benign_pickle_stays_clean(tmp_path: Path) -> None:
    path = tmp_path / "data.tar"
    path.write_bytes(_tar_with("data.pkl", pickle.dumps({"a": [1, 2.0, "x"]}, protocol=4), tarfile.REGTYPE))
    assert _rules(path) == set()
