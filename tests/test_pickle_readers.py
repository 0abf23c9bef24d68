"""Tests of the pickle-family readers: raw pickle, joblib (plain and compressed), legacy torch, compressed.

Files are written with the real libraries (``pickle.dump``, ``joblib.dump``, ``torch.save``) or by hand, then
read through the loader exactly as a scan would read them. Nothing is ever loaded; every malicious payload
would create the canary file if it ran.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import io
import lzma
import os
import pathlib
import pickle
import struct
import zlib

import numpy as np
import pytest

from weightwarden.artifact.loader import open_artifact
from weightwarden.artifact.model import CodeKind, FileEntry, Format
from weightwarden.core.limits import Limits
from weightwarden.picklevm import Verdict, classify


@pytest.fixture(autouse=True)
def canary(tmp_path: pathlib.Path):
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "a payload was executed"


class Payload:
    """Pickles to ``os.system('touch CANARY')``."""

    def __init__(self, canary: pathlib.Path) -> None:
        self.command = f"touch {canary}"

    def __reduce__(self):
        return (os.system, (self.command,))


def read_one(path: pathlib.Path, limits: Limits | None = None) -> FileEntry:
    art = open_artifact(path, limits) if limits else open_artifact(path)
    assert not art.errors
    return art.entries[0]


def entries(path: pathlib.Path) -> list[FileEntry]:
    return list(open_artifact(path).walk())


def codes(entry: FileEntry) -> set[str]:
    return {a.code for e in entry.walk() for a in e.anomalies}


def unsafe(entry: FileEntry) -> set[str]:
    out = set()
    for e in entry.walk():
        for c in e.code:
            if c.kind is CodeKind.PICKLE:
                out |= {
                    s.target for s in c.analysis.all_sites() if classify(s.target).verdict is not Verdict.SAFE
                }
    return out


def dangerous(entry: FileEntry) -> set[str]:
    return {t for t in unsafe(entry) if classify(t).verdict is Verdict.DANGEROUS}


def fitted_pipeline():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).random((60, 4))
    y = np.array(["cat", "dog", "eel"] * 20)
    return Pipeline(
        [("s", StandardScaler()), ("rf", RandomForestClassifier(n_estimators=4, random_state=0))]
    ).fit(X, y)


# --------------------------------------------------------------------------------------------------------
# raw pickle


def test_plain_pickle_benign(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "model.pkl"
    p.write_bytes(pickle.dumps(fitted_pipeline()))
    e = read_one(p)
    assert e.format is Format.PICKLE and e.error is None
    assert not codes(e) and not unsafe(e)
    assert e.code[0].location == "stream 0 @0"


def test_plain_pickle_malicious(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"weights": [1, 2], "x": Payload(canary)}))
    e = read_one(p)
    assert "posix.system" in dangerous(e) or "os.system" in dangerous(e)


def test_trailing_data_and_multiple_programs(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    p = tmp_path / "t.pkl"
    p.write_bytes(pickle.dumps([1, 2]) + b"\x00\x00garbage after the pickle")
    e = read_one(p)
    assert "pickle.trailing_data" in codes(e)
    anomaly = next(a for a in e.anomalies if a.code == "pickle.trailing_data")
    assert "@" in anomaly.location
    q = tmp_path / "two.pkl"
    q.write_bytes(pickle.dumps(1) + pickle.dumps(Payload(canary)))
    e = read_one(q)
    assert "pickle.multiple_programs" in codes(e) and len(e.code) == 2
    assert dangerous(e)


def test_parse_error_keeps_call(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    p = tmp_path / "broken.pkl"
    p.write_bytes(pickle.dumps(Payload(canary), protocol=2)[:-1] + b"\xff\xff")
    e = read_one(p)
    assert "pickle.parse_error" in codes(e) and dangerous(e)


def test_limit_sets_error(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "deep.pkl"
    p.write_bytes(b"\x80\x02" + b"(" * 2000 + b".")
    e = read_one(p, Limits(max_pickle_stack=1000))
    assert "pickle.limit" in codes(e) and e.error


def test_nested_anomaly(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    inner = pickle.dumps(Payload(canary), protocol=0)
    p = tmp_path / "nested.pkl"
    p.write_bytes(b"\x80\x02cpickle\nloads\nC" + bytes([len(inner)]) + inner + b"\x85R.")
    e = read_one(p)
    assert "pickle.nested" in codes(e) and dangerous(e) >= {"pickle.loads"}
    assert any(t.endswith(".system") for t in dangerous(e))


# --------------------------------------------------------------------------------------------------------
# joblib


def test_joblib_plain(tmp_path: pathlib.Path) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "model.joblib"
    joblib.dump({"model": fitted_pipeline(), "labels": np.array(["a", None, 3], dtype=object)}, p)
    e = read_one(p)
    assert e.format is Format.JOBLIB and e.error is None
    assert not codes(e), [a for a in e.anomalies]
    assert not unsafe(e)
    analysis = e.code[0].analysis
    assert analysis.end == p.stat().st_size  # the array bytes were skipped exactly
    assert analysis.nested  # the object array (class labels) was walked, as joblib.load reads it


@pytest.mark.parametrize("method", ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"])
def test_joblib_compressed(tmp_path: pathlib.Path, method: str) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / f"model.{method}.joblib"
    joblib.dump(fitted_pipeline(), p, compress=(method, 3))
    e = read_one(p)
    assert e.format is Format.COMPRESSED and e.metadata["compression"] == method
    assert e.error is None and not codes(e), [a for x in e.walk() for a in x.anomalies]
    assert len(e.children) == 1 and e.children[0].format is Format.JOBLIB
    assert e.children[0].path.startswith(e.path + "!")
    assert not unsafe(e)


@pytest.mark.parametrize("method", ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"])
def test_joblib_compressed_malicious(tmp_path: pathlib.Path, method: str, canary: pathlib.Path) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / f"evil.{method}.joblib"
    joblib.dump({"model": np.arange(100), "x": Payload(canary)}, p, compress=(method, 3))
    assert dangerous(read_one(p))


def test_joblib_malicious_after_array(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "evil.joblib"
    joblib.dump([np.ones((50, 3)), np.array(["a", None], dtype=object), Payload(canary)], p)
    e = read_one(p)
    assert e.format is Format.JOBLIB and dangerous(e)
    assert not (codes(e) - {"pickle.nested"})


def test_joblib_old_zfile(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    body = pickle.dumps(Payload(canary), protocol=2)
    p = tmp_path / "old.pkl"
    p.write_bytes(b"ZF" + hex(len(body)).encode().ljust(19) + zlib.compress(body))
    e = read_one(p)
    assert e.metadata["compression"] == "joblib-zfile" and dangerous(e)


# --------------------------------------------------------------------------------------------------------
# compressed streams


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress, zlib.compress])
def test_compressed_pickle(tmp_path: pathlib.Path, compress, canary: pathlib.Path) -> None:
    p = tmp_path / "x.pkl.z"
    p.write_bytes(compress(pickle.dumps(Payload(canary))))
    assert dangerous(read_one(p))


def test_compression_bomb(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(pickle.dumps(b"\x00" * (20 * 1024 * 1024)), compresslevel=1))
    e = read_one(p, Limits(max_member_bytes=1024 * 1024))
    assert "compressed.bomb" in codes(e) and e.error
    e = read_one(p, Limits(max_compression_ratio=10))
    assert "compressed.bomb" in codes(e)
    e = read_one(p, Limits(max_total_decompressed=2 * 1024 * 1024))
    assert "compressed.bomb" in codes(e)


def test_compressed_truncated_still_scans_prefix(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    data = gzip.compress(pickle.dumps([Payload(canary), b"x" * 100_000]))
    p = tmp_path / "cut.gz"
    p.write_bytes(data[: len(data) // 2])
    e = read_one(p)
    assert "compressed.truncated" in codes(e) and e.error
    assert dangerous(e)


def test_compressed_corrupt(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "bad.bz2"
    p.write_bytes(b"BZh91AY&SY" + b"\x00" * 100)
    e = read_one(p)
    assert codes(e) & {"compressed.corrupt", "compressed.truncated"} and e.error


def test_compressed_trailing(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "t.z"
    p.write_bytes(zlib.compress(pickle.dumps(1)) + b"junk")
    e = read_one(p)
    assert "compressed.trailing_data" in codes(e)


# --------------------------------------------------------------------------------------------------------
# legacy torch


def test_legacy_torch_benign(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    sd = collections.OrderedDict(w=torch.ones(2, 3), h=torch.zeros(4, dtype=torch.float16), i=torch.arange(5))
    p = tmp_path / "old.pt"
    torch.save({"state_dict": sd, "epoch": 1}, p, _use_new_zipfile_serialization=False)
    e = read_one(p)
    assert e.format is Format.PYTORCH_LEGACY and e.error is None
    assert not codes(e) and not unsafe(e)
    assert len(e.code) == 5
    dtypes = sorted(t.dtype for t in e.tensors)
    assert dtypes == ["F16", "F32", "I64"]
    f32 = next(t for t in e.tensors if t.dtype == "F32")
    assert f32.shape == (6,) and f32.nbytes == 24
    assert max(t.end for t in e.tensors) == p.stat().st_size


def test_legacy_torch_malicious(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    p = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "x": Payload(canary)}, p, _use_new_zipfile_serialization=False)
    e = read_one(p)
    assert dangerous(e)
    assert any(s.target.endswith("system") for s in e.code[3].analysis.calls)


def test_legacy_torch_truncated_and_trailing(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    p = tmp_path / "old.pt"
    torch.save({"w": torch.ones(100)}, p, _use_new_zipfile_serialization=False)
    data = p.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[:200])
    e = read_one(cut)
    assert codes(e) & {"torch.missing_programs", "pickle.parse_error"}
    short = tmp_path / "short.pt"
    short.write_bytes(data[:-10])
    assert "torch.storage_out_of_bounds" in codes(read_one(short))
    extra = tmp_path / "extra.pt"
    extra.write_bytes(data + b"\x80\x02cos\nsystem\n.")
    assert "torch.trailing_data" in codes(read_one(extra))


def test_pickle_reader_fuzz_never_raises(tmp_path: pathlib.Path) -> None:
    rng = np.random.default_rng(1)
    base = pickle.dumps({"a": np.arange(10), "b": [1, "x"]}, protocol=2)
    for i in range(200):
        raw = bytearray(base)
        for _ in range(3):
            raw[rng.integers(2, len(raw))] = int(rng.integers(0, 256))
        p = tmp_path / f"f{i}.pkl"
        p.write_bytes(bytes(raw[: rng.integers(3, len(raw) + 1)]))
        art = open_artifact(p)
        assert art.entries  # the loader never loses a file; any failure is an error string
    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    assert struct.calcsize("<I") == 4


def test_joblib_differential(tmp_path: pathlib.Path, canary: pathlib.Path) -> None:
    """Array "padding" that joblib.load skips but pickle.load runs as opcodes."""
    joblib = pytest.importorskip("joblib")
    from weightwarden.picklevm import analyze

    size = 64
    p = tmp_path / "honest.joblib"
    joblib.dump([np.frombuffer(b"N0" * (size // 2), dtype=np.uint8).copy(), 1], p)
    data = p.read_bytes()
    build = next(s for s in analyze(io.BytesIO(data)).calls if s.kind == "build" and "NumpyArrayWrapper" in s.target)
    start = build.offset + 1
    pad = data[start]
    # The "padding length" byte is '}' (EMPTY_DICT, 125) for pickle.load: 125 bytes of opcodes follow.
    payload = b"0" + b"cos\nsystem\n(S'" + f"touch {canary}".encode() + b"'\ntR0"
    rest = 125 - len(payload)
    if rest % 2:
        payload += b"K\x000"
        rest -= 3
    payload += b"N0" * (rest // 2)
    assert len(payload) == 125
    evil = data[:start] + b"}" + payload + data[start + 1 + pad :]
    q = tmp_path / "evil.joblib"
    q.write_bytes(evil)
    e = read_one(q)
    assert "joblib.pickle_differential" in codes(e)
    assert any(t.endswith("system") for t in dangerous(e))
    honest = read_one(p)
    assert not codes(honest) and len(honest.code) == 1
