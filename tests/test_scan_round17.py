"""Red team round 17 on the scanner's readers (report: issues/rt-scanreaders-round17.md): members exempted from a
content sniff because of the role one loader gives them.

A torch zip's tensor storages (``<prefix>/data/<key>``, any key a pickle names) and its metadata records
(``version``, ``byteorder``, ``.data/serialization_id`` ...) were never opened: torch reads them as raw bytes.
The same zip is a valid .npz, and ``np.load(allow_pickle=True)`` decides per member by content: a member that
starts with ``\\x93NUMPY`` and has an object dtype is unpickled whatever its name. Now no member of an archive is
exempt from a content sniff (a bounded head window for storages): a hit is read by its reader (an object .npy's
pickle walked as the npy reader walks it) and is a polyglot finding (WW-FS-006, high), except a plain-dtype .npy
that reads cleanly (np.load then returns numbers, torch raw bytes: nothing runs in either).

The victim side runs in a subprocess with ``posix.system`` replaced by a print (the canary never runs).
"""

from __future__ import annotations

import gzip
import io
import pickle
import random
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.adversarial.generate import R15_PAYLOAD, _legacy_tar, r17_object_npy, r17_torch_zip
from weightwarden.artifact import sniff
from weightwarden.artifact.readers.zipfile_reader import TORCH_META
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths


def _rules(path: Path, at_least: Severity = Severity.HIGH) -> set[str]:
    report = scan_paths([str(path)], workers=1)
    return {f.rule_id for f in report.findings if f.severity.at_least(at_least)} | {"error" for _ in report.errors}


def _np_load_runs_it(path: Path) -> bool:
    """np.load(path, allow_pickle=True) and every key read, in a subprocess with posix.system patched."""
    pytest.importorskip("numpy")
    code = ("import sys, numpy as np, unittest.mock as m\n"
            "with m.patch('posix.system', lambda c: print('SYSTEM', c) or 0):\n"
            "    try:\n        z = np.load(sys.argv[1], allow_pickle=True)\n"
            "        d = {k: z[k] for k in z.files} if hasattr(z, 'files') else z\n"
            "    except Exception as exc:\n        print('raised', type(exc).__name__, exc)\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         check=False, cwd=path.parent)
    return "SYSTEM touch canary" in run.stdout


def _torch_loads(path: Path) -> str:
    pytest.importorskip("torch")
    code = ("import sys, torch\n"
            "try:\n    print('ok', tuple(torch.load(sys.argv[1], weights_only=False)['w'].shape))\n"
            "except Exception as exc:\n    print('raised', type(exc).__name__)\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         check=False, cwd=path.parent)
    return run.stdout.strip()


def _torch_save_with_storage(tmp_path: Path, blob: bytes, name: str = "model.pt") -> Path:
    """A real torch.save archive (nothing edited afterwards) of a uint8 tensor whose bytes are ``blob``."""
    torch = pytest.importorskip("torch")
    path = tmp_path / name
    torch.save({"w": torch.frombuffer(bytearray(blob), dtype=torch.uint8).clone()}, path)
    return path


def _replace_member(src: Path, dst: Path, suffix: str, data: bytes) -> None:
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, data if info.filename.endswith(suffix) else zi.read(info.filename))


# -- the two PoCs ------------------------------------------------------------------------------------------------------


def test_a1_torch_save_storage_is_an_object_npy(tmp_path: Path) -> None:
    path = _torch_save_with_storage(tmp_path, r17_object_npy(), "storage_npy.pt")
    assert {"WW-PKL-001", "WW-FS-006"} <= _rules(path)
    assert _np_load_runs_it(path)
    assert _torch_loads(path).startswith("ok (")  # still a valid torch checkpoint
    npz = tmp_path / "storage_npy.npz"
    npz.write_bytes(path.read_bytes())
    assert {"WW-PKL-001", "WW-FS-006"} <= _rules(npz)


def test_a2_serialization_id_is_an_object_npy(tmp_path: Path) -> None:
    src = _torch_save_with_storage(tmp_path, bytes(64), "src.pt")
    path = tmp_path / "meta_npy.npz"
    _replace_member(src, path, ".data/serialization_id", r17_object_npy())
    assert {"WW-PKL-001", "WW-FS-006"} <= _rules(path)
    assert _np_load_runs_it(path)


# -- generated variants ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", TORCH_META)
def test_object_npy_in_each_metadata_record(tmp_path: Path, record: str) -> None:
    path = tmp_path / "meta.pt"
    path.write_bytes(r17_torch_zip(bytes(16), {record: r17_object_npy()}))
    assert {"WW-PKL-001", "WW-FS-006"} <= _rules(path)
    assert _np_load_runs_it(path)


def _zip_with(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _data_pkl(key: str, numel: int) -> bytes:
    """A data.pkl naming storage ``key`` (its persistent id), as torch.save writes it."""
    from tests.adversarial.generate import r17_data_pkl

    return r17_data_pkl(numel).replace(b"X\x01\x00\x00\x000", b"X" + struct.pack("<I", len(key)) + key.encode(), 1)


@pytest.mark.parametrize("key", ["0", "evil", "a/b", "weights.bin"])
@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_object_npy_in_a_storage_of_any_key(tmp_path: Path, key: str, method: int) -> None:
    blob = r17_object_npy()
    path = tmp_path / "k.pt"
    path.write_bytes(_zip_with({"archive/data.pkl": _data_pkl(key, len(blob)), "archive/version": b"3\n",
                                f"archive/data/{key}": blob}, method))
    assert {"WW-PKL-001", "WW-FS-006"} <= _rules(path)
    assert _np_load_runs_it(path)


def test_object_npy_in_a_torchscript_code_file(tmp_path: Path) -> None:
    path = tmp_path / "ts.pt"
    path.write_bytes(r17_torch_zip(bytes(16), {"code/__torch__.py": r17_object_npy()}))
    assert {"WW-PKL-001", "WW-FS-006"} <= _rules(path)
    assert _np_load_runs_it(path)


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json", "chat_template.jinja"])
def test_object_npy_under_a_name_a_loader_routes(tmp_path: Path, name: str) -> None:
    """Files the sniffer routes by name (JSON, templates) whose bytes are an .npy: as a file and as a zip member."""
    top = tmp_path / name
    top.write_bytes(r17_object_npy())
    assert "WW-PKL-001" in _rules(top)
    assert _np_load_runs_it(top)
    path = tmp_path / "bundle.zip"
    path.write_bytes(_zip_with({name: r17_object_npy(), "other.txt": b"hello"}))
    assert "WW-PKL-001" in _rules(path)
    assert _np_load_runs_it(path)


def test_object_npy_as_a_keras_config(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    path.write_bytes(_zip_with({"config.json": r17_object_npy(), "metadata.json": b"{}"}))
    assert "WW-PKL-001" in _rules(path)
    assert _np_load_runs_it(path)


@pytest.mark.parametrize("kind", ["zip", "gzip_pickle", "pickle"])
def test_other_formats_in_a_storage_are_read_and_polyglot(tmp_path: Path, kind: str) -> None:
    evil = b"\x80\x02" + R15_PAYLOAD
    blob = {"zip": _zip_with({"x.pkl": evil}), "gzip_pickle": gzip.compress(evil), "pickle": evil}[kind]
    path = tmp_path / "o.pt"
    path.write_bytes(r17_torch_zip(blob))
    assert {"WW-PKL-001", "WW-FS-006"} <= _rules(path)


def test_legacy_tar_storages_sniffed_though_numpy_cannot_reach_them(tmp_path: Path) -> None:
    """np.load of a tar reads it from byte 0 as a pickle (a tar header is no pickle): numpy never reaches a tar
    member. The legacy 'storages' record is sniffed anyway (an extractor opens it by content)."""
    path = tmp_path / "legacy.pt"
    path.write_bytes(_legacy_tar(r17_object_npy()))
    assert not _np_load_runs_it(path)
    assert "WW-PKL-001" in _rules(path)


# -- benign archives stay clean ----------------------------------------------------------------------------------------


def test_benign_torch_save_archives_stay_clean(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(17)
    tensors = {
        "f32": torch.randn(4096, generator=gen), "bf16": torch.randn(4096, generator=gen).to(torch.bfloat16),
        "f16": torch.randn(4096, generator=gen).half(), "zeros": torch.zeros(1000),
        "i64": torch.tensor([5, 123, 7, 8]), "u8": torch.randint(0, 256, (65536,), dtype=torch.uint8, generator=gen),
        "text": torch.frombuffer(bytearray(b"class\nfoo bar\nbaz " * 50), dtype=torch.uint8).clone(),
    }
    path = tmp_path / "benign.pt"
    torch.save(tensors, path)
    assert _rules(path, Severity.LOW) == set()


def test_plain_dtype_npy_in_a_storage_is_clean(tmp_path: Path) -> None:
    """Decision: a storage whose bytes are a well-formed plain-dtype .npy is read by the npy reader and is clean:
    np.load returns an array of numbers, torch a tensor of bytes; neither runs anything (storing a .npy file's
    bytes in a uint8 tensor is a legitimate thing to do)."""
    np = pytest.importorskip("numpy")
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype="<f4"))
    path = _torch_save_with_storage(tmp_path, buf.getvalue())
    assert _rules(path, Severity.LOW) == set()
    report = scan_paths([str(path)], workers=1)
    assert report.findings == [] and not report.errors


def test_storages_are_sniffed_over_a_bounded_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = sniff.embedded_format

    def spy(head: bytes, size: int) -> str | None:
        seen.append(len(head))
        return real(head, size)

    monkeypatch.setattr(sniff, "embedded_format", spy)
    path = tmp_path / "big.pt"
    path.write_bytes(r17_torch_zip(random.Random(1).randbytes(3 * 1024 * 1024)))
    assert _rules(path, Severity.LOW) == set()
    assert seen and max(seen) <= sniff.ROLE_HEAD_BYTES


def test_weak_magics_need_a_head_that_decompresses() -> None:
    rng = random.Random(17)
    for _ in range(200):
        noise = rng.randbytes(4096)
        for magic in (b"\x78\x9c", b"\x78\x01", b"\x5d\x00\x00", b"ZF"):
            assert sniff.embedded_format(magic + noise, 1 << 20) is None
    assert sniff.embedded_format(struct.pack("<qq", 5, 123) + bytes(64), 1 << 20) is None  # int64 [5, 123]
    assert sniff.embedded_format(zlib.compress(b"x" * 100), 1 << 20) == "compressed"
    assert sniff.embedded_format(pickle.dumps({"w": 1}, protocol=2), 1 << 20) is None  # imports nothing
    assert sniff.embedded_format(b"\x80\x02" + R15_PAYLOAD, 1 << 20) == "pickle"
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        t.addfile(tarfile.TarInfo("a"), io.BytesIO(b""))
    assert sniff.embedded_format(tar.getvalue()[:4096], 1 << 20) == "tar"


def test_r17_corpus_cases_scan_critical(tmp_path: Path) -> None:
    from tests.adversarial.generate import round17_cases

    for case in round17_cases():
        path = tmp_path / case.filename
        path.write_bytes(case.data)
        assert case.expected_rule in _rules(path), case.name
