"""Tests of the archive readers: zip family (PyTorch, npz, .keras, plain), tar and 7z.

Benign archives are written with the real libraries (torch.save — write only —, numpy.savez, zipfile,
tarfile, py7zr); hostile ones are built byte by byte with :func:`zip_bytes`, which controls every field of the
local headers and the central directory.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import stat
import struct
import tarfile
import tracemalloc
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.loader import read_source
from weightwarden.artifact.model import CodeKind, FileEntry, Format
from weightwarden.artifact.readers import zipfile_reader
from weightwarden.artifact.source import Source
from weightwarden.core.limits import Limits


def ctx(limits: Limits | None = None) -> ReadContext:
    return ReadContext.for_top_level(limits or Limits(), dispatch=read_source)


def read_bytes(data: bytes, name: str = "a.zip", limits: Limits | None = None) -> FileEntry:
    return read_source(Source.from_bytes(data, name), ctx(limits))


def read_path(path: Path, limits: Limits | None = None) -> FileEntry:
    return read_source(Source.from_path(str(path), path.name, fs_dir=str(path.parent)), ctx(limits))


def codes(entry: FileEntry) -> set[str]:
    return {a.code for e in entry.walk() for a in e.anomalies}


def own_codes(entry: FileEntry) -> set[str]:
    return {a.code for a in entry.anomalies}


def have_picklevm() -> bool:
    try:
        from weightwarden.picklevm import analyze  # noqa: F401
    except ImportError:
        return False
    return True


def have_pickle_reader() -> bool:
    import importlib.util

    return (
        have_picklevm() and importlib.util.find_spec("weightwarden.artifact.readers.pickle_file") is not None
    )


needs_picklevm = pytest.mark.skipif(not have_picklevm(), reason="weightwarden.picklevm not available yet")
DANGEROUS = {"os.system", "posix.system", "nt.system"}


class Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned-by-archive",))


EVIL_PICKLE = pickle.dumps({"state": Boom()}, protocol=2)


def pickle_targets(entry: FileEntry) -> set[str]:
    return {
        s.target
        for e in entry.walk()
        for c in e.code
        if c.kind is CodeKind.PICKLE
        for s in c.analysis.all_sites()
    }


# --- a zip writer that can lie ------------------------------------------------------------------------------


@dataclass
class M:
    name: str
    data: bytes  # uncompressed content
    method: int = 0  # 0 stored, 8 deflate
    crc: int | None = None
    usize: int | None = None  # declared uncompressed size (central directory and local header)
    local_name: str | None = None
    flags: int = 0
    local_flags: int | None = None
    local_method: int | None = None
    mode: int | None = None  # Unix mode in the external attributes
    zip64: bool = False
    offset: int | None = None  # point the central directory at another member's local header
    payload: bytes | None = None  # compressed bytes, when not derived from data


def zip_bytes(members: list[M], prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    out = bytearray(prefix)
    central = bytearray()
    offsets: list[int] = []
    for m in members:
        if m.payload is not None:
            comp = m.payload
        elif m.method == 8:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            comp = c.compress(m.data) + c.flush()
        else:
            comp = m.data
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        usize = len(m.data) if m.usize is None else m.usize
        name = m.name.encode()
        lname = (m.local_name if m.local_name is not None else m.name).encode()
        if m.zip64:
            lextra = struct.pack("<HHQQ", 1, 16, usize, len(comp))
            l_cs = l_us = 0xFFFFFFFF
        else:
            lextra, l_cs, l_us = b"", len(comp), usize
        local_offset = len(out)
        offsets.append(local_offset)
        lflags = m.flags if m.local_flags is None else m.local_flags
        lmethod = m.method if m.local_method is None else m.local_method
        out += struct.pack(
            "<4s5H3I2H",
            b"PK\x03\x04",
            45 if m.zip64 else 20,
            lflags,
            lmethod,
            0,
            0x21,
            crc,
            l_cs,
            l_us,
            len(lname),
            len(lextra),
        )
        out += lname + lextra + comp
        cd_offset = local_offset if m.offset is None else offsets[m.offset]
        cextra = struct.pack("<HHQQ", 1, 16, usize, len(comp)) if m.zip64 else b""
        ext = ((m.mode or 0) << 16) if m.mode is not None else 0
        central += struct.pack(
            "<4s6H3I5H2I",
            b"PK\x01\x02",
            (3 << 8) | 45,
            45 if m.zip64 else 20,
            m.flags,
            m.method,
            0,
            0x21,
            crc,
            0xFFFFFFFF if m.zip64 else len(comp),
            0xFFFFFFFF if m.zip64 else usize,
            len(name),
            len(cextra),
            0,
            0,
            0,
            ext,
            cd_offset,
        )
        central += name + cextra
    cd_start = len(out)
    out += central
    out += struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), cd_start, 0)
    return bytes(out) + suffix


def torch_like(pkl: bytes = EVIL_PICKLE, **kw) -> list[M]:  # type: ignore[no-untyped-def]
    return [
        M("archive/data.pkl", pkl, **kw),
        M("archive/byteorder", b"little"),
        M("archive/data/0", b"\0" * 16),
        M("archive/version", b"3\n"),
    ]


# --- benign archives written by the real libraries -----------------------------------------------------------


@needs_picklevm
def test_torch_save_checkpoint(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3, 4), "b": torch.ones(5), "step": 3}, path)
    entry = read_path(path)
    assert entry.format is Format.PYTORCH_ZIP
    assert entry.error is None and codes(entry) == set(), entry.anomalies
    assert entry.metadata["kind"] == "pytorch"
    assert {t.name for t in entry.tensors} == {"0", "1"}
    assert [t.nbytes for t in sorted(entry.tensors, key=lambda t: t.name)] == [48, 20]
    (code,) = [c for c in entry.code if c.kind is CodeKind.PICKLE]
    assert code.location.endswith("data.pkl")
    assert not (pickle_targets(entry) & DANGEROUS)


@needs_picklevm
def test_torchscript_archive_reports_code(tmp_path: Path) -> None:
    import torch

    class Tiny(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2

    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(Tiny()), str(path))
    entry = read_path(path)
    assert entry.format is Format.PYTORCH_ZIP
    assert entry.metadata["kind"] == "torchscript"
    assert "torch.torchscript_code" in own_codes(entry)
    assert sum(c.kind is CodeKind.PICKLE for c in entry.code) >= 2  # data.pkl and constants.pkl


def test_npz_plain_and_compressed(tmp_path: Path) -> None:
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, x=np.zeros((3, 3)), y=np.arange(10))
        entry = read_path(path)
        assert entry.format is Format.NUMPY_ARCHIVE
        assert entry.error is None and codes(entry) == set(), [e.anomalies for e in entry.walk()]
        assert sorted(c.path for c in entry.children) == [f"{path.name}!x.npy", f"{path.name}!y.npy"]
        assert all(c.format is Format.NUMPY and c.tensors for c in entry.children)


@needs_picklevm
def test_npz_object_member_pickle_scanned(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    arr = np.empty(1, dtype=object)
    arr[0] = Boom()
    np.savez(path, a=arr)  # write only
    entry = read_path(path)
    assert pickle_targets(entry) & DANGEROUS


def test_plain_zip_members_are_sniffed(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    st = tmp_path / "w.safetensors"
    save_file({"a": np.zeros(4, np.float32)}, str(st))
    path = tmp_path / "bundle.mar"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(st, "weights/w.safetensors")
        z.writestr("MAR-INF/MANIFEST.json", json.dumps({"model": {"modelName": "x"}}))
        z.writestr("notes/", "")
    entry = read_path(path)
    assert entry.format is Format.ZIP
    assert codes(entry) == set(), [e.anomalies for e in entry.walk()]
    formats = {c.path.split("!")[1]: c.format for c in entry.children}
    assert formats["weights/w.safetensors"] is Format.SAFETENSORS
    (st_child,) = [c for c in entry.children if c.format is Format.SAFETENSORS]
    assert st_child.tensors[0].name == "a"


def test_keras_zip(tmp_path: Path) -> None:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Lambda",
                    "config": {
                        "name": "lam",
                        "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}},
                    },
                },
                {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"},
            ],
        },
    }
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    entry = read_path(path)
    assert entry.format is Format.KERAS_ZIP
    try:
        from weightwarden.artifact.readers.keras_config import analyze_config  # noqa: F401
    except ImportError:
        pytest.skip("keras_config not available yet")
    assert any(c.kind is CodeKind.KERAS_LAYER for c in entry.code), entry.code
    assert len(entry.children) == 2


# --- hostile zips -------------------------------------------------------------------------------------------


@needs_picklevm
def test_bad_crc_still_scans_data_pkl() -> None:
    data = zip_bytes(torch_like(crc=0x12345678))
    with pytest.raises(zipfile.BadZipFile):  # what a scanner built on zipfile.open would hit
        zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")
    entry = read_bytes(data, "evil.pt")
    assert entry.format is Format.PYTORCH_ZIP
    assert "zip.crc_mismatch" in own_codes(entry)
    assert pickle_targets(entry) & DANGEROUS


@needs_picklevm
def test_bad_crc_deflated_data_pkl() -> None:
    entry = read_bytes(zip_bytes(torch_like(method=8, crc=1)), "evil.pt")
    assert "zip.crc_mismatch" in own_codes(entry)
    assert pickle_targets(entry) & DANGEROUS


@needs_picklevm
def test_declared_size_lie_on_pickle_member() -> None:
    entry = read_bytes(zip_bytes(torch_like(method=8, usize=len(EVIL_PICKLE) - 5)), "lie.pt")
    assert "zip.size_mismatch" in own_codes(entry) or entry.error


def test_local_header_mismatches() -> None:
    members = [
        M("a.txt", b"hello", local_name="b.txt"),
        M("c.txt", b"hello", local_flags=0x800),
        M("d.txt", b"hello", local_method=8),
    ]
    entry = read_bytes(zip_bytes(members))
    assert {"zip.local_name_mismatch", "zip.flag_mismatch", "zip.compression_mismatch"} <= own_codes(entry)


def test_local_name_traversal_is_reported() -> None:
    entry = read_bytes(zip_bytes([M("ok.txt", b"x", local_name="../x.txt")]))
    assert {"zip.local_name_mismatch", "archive.path_traversal"} <= own_codes(entry)


def test_zip_slip_names_symlinks_duplicates() -> None:
    members = [
        M("../../etc/evil.sh", b"echo"),
        M("/abs/path.txt", b"x"),
        M("C:/windows/x.dll", b"x"),
        M("..\\win\\x.txt", b"x"),
        M("link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777),
        M("dup.txt", b"1"),
        M("dup.txt", b"2"),
    ]
    entry = read_bytes(zip_bytes(members))
    got = own_codes(entry)
    assert {
        "archive.path_traversal",
        "archive.absolute_path",
        "archive.symlink_member",
        "zip.duplicate_name",
    } <= got
    link = [a for a in entry.anomalies if a.code == "archive.symlink_member"][0]
    assert link.evidence == "/etc/passwd"
    traversal = {a.location.split("!", 1)[1] for a in entry.anomalies if a.code == "archive.path_traversal"}
    assert traversal == {"../../etc/evil.sh", "..\\win\\x.txt"}


def test_python_zipfile_symlink_member(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("evil_link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = tmp_path / "l.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(info, "../../../../etc/shadow")
    assert "archive.symlink_member" in own_codes(read_path(path))


def test_zip_bomb_declared_10gb_stops_fast() -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = c.compress(b"\0" * (1 << 20)) + c.flush()
    assert len(payload) < 1100
    data = zip_bytes([M("bomb.bin", b"", method=8, payload=payload, usize=10 * 1024**3, zip64=True, crc=0)])
    assert len(data) < 1300
    tracemalloc.start()
    entry = read_bytes(data, "bomb.zip")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "archive.bomb" in own_codes(entry)
    assert peak < 64 * 1024 * 1024  # bounded work, measured as memory (a timing would flake on 2 cores)


def test_zip_bomb_actual_output_bounded() -> None:
    # A tar inside a deflated member: the tar reader seeks through the whole member, so decompression runs
    # until the ratio bound stops it.
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as t:
        blob = b"\0" * (8 << 20)
        ti = tarfile.TarInfo("zeros.bin")
        ti.size = len(blob)
        t.addfile(ti, io.BytesIO(blob))
        ti2 = tarfile.TarInfo("after.txt")
        ti2.size = 2
        t.addfile(ti2, io.BytesIO(b"hi"))
    entry = read_bytes(
        zip_bytes([M("inner.tar", tbuf.getvalue(), method=8)]), "b.zip", Limits(max_compression_ratio=20)
    )
    assert "archive.bomb" in codes(entry)
    assert entry.children and entry.children[0].error


def _tar_of(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        _add(t, "blob.bin", payload)
        _add(t, "end.txt", b"x")
    return buf.getvalue()


def test_decompression_budget_shared_across_members() -> None:
    # Incompressible members (no ratio alarm), each walked to its end by the tar reader: the shared budget of
    # the top-level file runs out on the second one.
    members = [M(f"m{i}.tar", _tar_of(os.urandom(300_000)), method=8) for i in range(3)]
    entry = read_bytes(zip_bytes(members), "many.zip", Limits(max_total_decompressed=500_000))
    assert len(entry.children) == 3
    assert entry.children[0].error is None
    assert "archive.bomb" in own_codes(entry)
    assert any(c.error for c in entry.children[1:])


def test_overlapping_members() -> None:
    members = [M("a.bin", b"x" * 100), M("b.bin", b"y" * 10, offset=0)]
    entry = read_bytes(zip_bytes(members))
    assert "zip.overlapping_members" in own_codes(entry)
    assert entry.error and "overlaps" in entry.error


def test_prepended_and_trailing_data() -> None:
    body = [M("a.txt", b"hello")]
    entry = zipfile_reader.read(
        Source.from_bytes(zip_bytes(body, prefix=b"#!/bin/sh\necho hi\n"), "p.zip"), ctx()
    )
    assert "zip.prepended_data" in own_codes(entry)
    entry = read_bytes(zip_bytes(body, suffix=b"\x80\x02cos\nsystem\n."), "t.zip")
    assert "zip.trailing_data" in own_codes(entry)


def test_no_layout_false_alarms_on_real_writers(tmp_path: Path) -> None:
    import torch

    p1 = tmp_path / "t.pt"
    torch.save({"a": torch.zeros(100)}, p1)
    p2 = tmp_path / "c.npz"
    np.savez_compressed(p2, a=np.zeros(100))
    p3 = tmp_path / "s.zip"
    with zipfile.ZipFile(p3, "w") as z:  # streamed member: data descriptor after the data
        with z.open("stream.txt", "w") as w:
            w.write(b"streamed content")
        z.writestr("b.txt", "x")
    for p in (p1, p2, p3):
        entry = read_path(p)
        layout = {c for c in own_codes(entry) if c.startswith("zip.")}
        assert layout == set(), (p.name, entry.anomalies)


def test_encrypted_and_unsupported_members() -> None:
    members = [M("enc.bin", b"secret", flags=0x1), M("weird.bin", b"zzz", method=99)]
    entry = read_bytes(zip_bytes(members))
    assert {"zip.encrypted_member", "zip.unsupported_compression"} <= own_codes(entry)
    assert entry.error and "enc.bin" in entry.error and "weird.bin" in entry.error


def test_corrupt_deflate_member() -> None:
    entry = read_bytes(zip_bytes([M("x.pkl", b"", method=8, payload=b"\xff" * 50, usize=100, crc=0)]))
    assert "zip.corrupt_member" in own_codes(entry) or entry.children[0].error


def test_truncated_zip(tmp_path: Path) -> None:
    path = tmp_path / "t.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", EVIL_PICKLE)
    data = path.read_bytes()
    entry = read_bytes(data[: len(data) - 30], "cut.zip")
    assert entry.error and "zip.bad_central_directory" in own_codes(entry)


def test_too_many_members() -> None:
    entry = read_bytes(
        zip_bytes([M(f"f{i}.txt", b"x") for i in range(12)]), "m.zip", Limits(max_archive_members=5)
    )
    assert "archive.too_many_members" in own_codes(entry) and entry.error


def test_recursive_archive_depth_bounded() -> None:
    data = zip_bytes([M("payload.pkl", EVIL_PICKLE)])
    for i in range(12):
        data = zip_bytes([M(f"level{i}.zip", data, method=8 if i % 2 else 0)])
    entry = read_bytes(data, "nested.zip")
    assert "archive.too_deep" in codes(entry)
    depth, e = 0, entry
    while e.children:
        e, depth = e.children[0], depth + 1
    assert depth == Limits().max_archive_depth


def test_zip_quine_like_self_nesting() -> None:
    inner = zip_bytes([M("self.zip", b"PK\x03\x04")])
    data = zip_bytes([M("self.zip", inner), M("again.zip", inner)])
    entry = read_bytes(data)
    assert entry.format is Format.ZIP  # terminates; inner broken zips are errors, not crashes
    assert all(c.error or c.format is not Format.ZIP for c in entry.children[0].children)


def test_zip_fuzz_mutations_never_crash() -> None:
    import random

    rng = random.Random(1234)
    base = zip_bytes(torch_like(method=8) + [M("x/y.npy", b"\x93NUMPY\x01\x00")])
    for _ in range(300):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = rng.randint(len(data) // 2, len(data))
        entry = (
            zipfile_reader.read(Source.from_bytes(bytes(data[:cut]), "fuzz.zip"), ctx())
            if have_picklevm()
            else None
        )
        if entry is None:
            read_bytes(bytes(data[:cut]), "fuzz.zip")


# --- tar ----------------------------------------------------------------------------------------------------


def _add(t: tarfile.TarFile, name: str, data: bytes = b"", **kw) -> None:  # type: ignore[no-untyped-def]
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    t.addfile(ti, io.BytesIO(data) if data else None)


def test_tar_nemo_like(tmp_path: Path) -> None:
    import torch

    ckpt = tmp_path / "model_weights.ckpt"
    torch.save({"w": torch.zeros(2)}, ckpt)
    path = tmp_path / "m.nemo"
    with tarfile.open(path, "w") as t:
        t.add(ckpt, "./model_weights.ckpt")
        _add(t, "./model_config.yaml", b"name: x\n")
    entry = read_path(path)
    assert entry.format is Format.TAR
    assert own_codes(entry) == set(), entry.anomalies
    formats = {c.path: c.format for c in entry.children}
    assert formats["m.nemo!./model_weights.ckpt"] is Format.PYTORCH_ZIP


def test_tar_hostile_members() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        _add(t, "../../etc/cron.d/evil", b"* * * * * root sh\n")
        _add(t, "/abs/file", b"x")
        _add(t, "link", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        _add(t, "hard", type=tarfile.LNKTYPE, linkname="../outside")
        _add(t, "dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        _add(t, "fifo", type=tarfile.FIFOTYPE)
        _add(t, "dup", b"1")
        _add(t, "dup", b"2")
        _add(t, "evil.pkl", EVIL_PICKLE)
    entry = read_bytes(buf.getvalue(), "h.tar")
    assert entry.format is Format.TAR
    assert {
        "archive.path_traversal",
        "archive.absolute_path",
        "archive.symlink_member",
        "archive.hardlink_member",
        "archive.device_member",
        "tar.duplicate_name",
    } <= own_codes(entry)
    names = {c.path.split("!", 1)[1] for c in entry.children}
    assert "evil.pkl" in names and "link" not in names and "dev" not in names
    if have_pickle_reader():
        assert pickle_targets(entry) & DANGEROUS


def test_tar_trailing_and_truncated() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        _add(t, "a.txt", b"hello" * 100)
    data = buf.getvalue()
    assert "tar.trailing_data" in own_codes(read_bytes(data + b"hidden payload" + b"\0" * 500, "t.tar"))
    assert "tar.trailing_data" not in own_codes(read_bytes(data, "t.tar"))
    cut = read_bytes(data[:700], "cut.tar")
    assert "tar.truncated" in own_codes(cut)


def test_tar_nested_depth_bounded() -> None:
    data = b""
    for i in range(10):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            _add(t, f"l{i}.tar" if data else "x.txt", data or b"x")
        data = buf.getvalue()
    entry = read_bytes(data, "deep.tar")
    assert "archive.too_deep" in codes(entry)


def test_tar_pax_format() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        _add(t, "plain.pkl", EVIL_PICKLE)
    entry = read_bytes(buf.getvalue(), "p.tar")
    assert entry.error is None and len(entry.children) == 1


# --- 7z -----------------------------------------------------------------------------------------------------


def seven(files: dict[str, bytes], **kw) -> bytes:  # type: ignore[no-untyped-def]
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", **kw) as z:
        for name, data in files.items():
            z.writestr(data, name)
    return buf.getvalue()


def test_7z_members_read() -> None:
    from safetensors.numpy import save

    st = save({"a": np.zeros(3, np.float32)})
    entry = read_bytes(
        seven({"w.safetensors": st, "evil.pkl": EVIL_PICKLE, "dir/readme.txt": b"hello"}), "a.7z"
    )
    assert entry.format is Format.SEVEN_ZIP
    assert entry.error is None, entry.error
    formats = {c.path.split("!", 1)[1]: c.format for c in entry.children}
    assert formats["w.safetensors"] is Format.SAFETENSORS
    assert formats["evil.pkl"] is Format.PICKLE
    if have_pickle_reader():
        assert pickle_targets(entry) & DANGEROUS


def test_7z_bomb_bounded() -> None:
    data = seven({"zeros.bin": b"\0" * (20 << 20)})
    tracemalloc.start()
    entry = read_bytes(data, "b.7z", Limits(max_compression_ratio=50))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "archive.bomb" in own_codes(entry) and entry.error
    assert peak < 64 * 1024 * 1024


def seven_with_traversal() -> bytes:
    """py7zr refuses to write ``../`` names, so write ``zz/`` with a plain header and patch it (and the CRCs)."""
    import py7zr

    buf = io.BytesIO()
    z = py7zr.SevenZipFile(buf, "w")
    z.encoded_header_mode = False
    z.writestr(b"x", "zz/evil.txt")
    z.writestr(b"fine", "ok.txt")
    z.close()
    data = bytearray(buf.getvalue())
    i = data.find("zz/evil.txt".encode("utf-16-le"))
    data[i : i + 4] = "..".encode("utf-16-le")
    off, size = struct.unpack_from("<QQ", data, 12)
    struct.pack_into("<I", data, 28, zlib.crc32(bytes(data[32 + off : 32 + off + size])))
    struct.pack_into("<I", data, 8, zlib.crc32(bytes(data[12:32])))
    return bytes(data)


def test_7z_traversal_name_reported_not_extracted() -> None:
    data = seven_with_traversal()
    entry = read_bytes(data, "t.7z")
    assert "archive.path_traversal" in own_codes(entry)
    assert [c.path for c in entry.children] == ["t.7z!ok.txt"]
    assert entry.error and "../evil.txt" in entry.error


def test_7z_corrupt_and_truncated() -> None:
    data = bytearray(seven({"a.txt": b"hello world " * 1000}))
    truncated = read_bytes(bytes(data[: len(data) // 2]), "t.7z")
    assert truncated.error
    data[40] ^= 0xFF
    corrupt = read_bytes(bytes(data), "c.7z")
    assert corrupt.error or corrupt.anomalies or corrupt.children


def test_7z_ppmd_codec_is_read_or_named() -> None:
    import py7zr

    data = seven({"a.txt": b"hello " * 100}, filters=[{"id": py7zr.FILTER_PPMD}])
    entry = read_bytes(data, "p.7z")
    assert entry.children or (entry.error and "7z" in entry.error)


def test_7z_unknown_codec_is_a_named_error() -> None:
    import py7zr

    buf = io.BytesIO()
    z = py7zr.SevenZipFile(buf, "w", filters=[{"id": py7zr.FILTER_COPY}])
    z.encoded_header_mode = False
    z.writestr(b"hello world", "a.txt")
    z.close()
    data = bytearray(buf.getvalue())
    off, size = struct.unpack_from("<QQ", data, 12)
    i = data.find(b"\x0b\x01\x00\x01\x01\x00", 32 + off) + 5  # one folder, one coder: its 1-byte method id
    data[i] = 0x7E
    struct.pack_into("<I", data, 28, zlib.crc32(bytes(data[32 + off : 32 + off + size])))
    struct.pack_into("<I", data, 8, zlib.crc32(bytes(data[12:32])))
    entry = read_bytes(bytes(data), "u.7z")
    assert entry.error and "Unsupported" in entry.error


def test_7z_member_bound_enforced_while_writing() -> None:
    data = seven({"big.bin": os.urandom(3 << 20)})
    entry = read_bytes(data, "m.7z", Limits(max_member_bytes=1 << 20))
    assert "archive.bomb" in own_codes(entry) and entry.error and not entry.children
