"""Property-based fuzzing of every format reader and of the sniff/dispatch path.

Issue 2, "Bad input": truncated, oversized, malformed or hostile files must each give a finding or a clear
per-file error, within bounded memory and time, never a traceback. This module checks that with
hypothesis, from small valid *seed* files of every format the readers handle (written here; nothing is ever
loaded) and mutations of them: bit flips, truncation, splices of random bytes, duplicated chunks and huge
length fields planted at random offsets; plus plain random bytes behind each format's magic.

Four properties:

1. ``read_source`` (sniffing + dispatch, what a scan runs) never raises and returns a ``FileEntry``.
2. Each reader module's ``read()`` called *directly* returns a ``FileEntry`` or raises only the exceptions
   its contract documents (:data:`DOCUMENTED_RAISES`), so a reader bug is not hidden by the loader's
   catch-all.
3. Damage is reported: a seed cut short where its format makes that detectable yields an anomaly or an
   error, not a clean-looking entry; and a malicious pickle keeps its dangerous call through trailing
   garbage.
4. Hostile inputs (10 GB safetensors header length, a pickle nested over 10^6 deep, zip bombs, archives
   nested deeper than the limit) each yield an anomaly or error, read in a child process with a loose
   bound on how much its resident memory grows.

Time is bounded by a generous hypothesis ``deadline`` (a hang fails; a slow CI machine does not); this is
not a timing test. ``WW_FUZZ_EXAMPLES`` sets examples per property (default 60) for longer local runs.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from datetime import timedelta
from functools import cache

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.loader import read_source
from weightwarden.artifact.model import CodeKind, FileEntry, Format
from weightwarden.artifact.readers import READER_MODULES
from weightwarden.artifact.source import SizeLimitExceeded, Source
from weightwarden.core.limits import DEFAULT_LIMITS, GiB, Limits

EXAMPLES = int(os.environ.get("WW_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # generous: catches hangs, not slowness
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
    print_blob=True,
)

# What each reader's read() may raise by contract (readers/__init__.py: "it may raise; the loader turns
# any exception into a per-file error"): SizeLimitExceeded, the documented way out of a decompression
# bound (source.py). Anything else escaping a reader is a bug worth seeing, even though the loader would
# contain it.
DOCUMENTED_RAISES: dict[str, tuple[type[BaseException], ...]] = {
    module: (SizeLimitExceeded,) for module in set(READER_MODULES.values())
}


# -- seed files (small, valid, written by hand or by the real libraries; never loaded) ---------------------


def _safetensors() -> bytes:
    data = struct.pack("<4f", 1, 2, 3, 4) + struct.pack("<2i", 7, 8)
    header = {
        "__metadata__": {"format": "pt"},
        "a.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b.bias": {"dtype": "I32", "shape": [2], "data_offsets": [16, 24]},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def _gguf_str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _gguf() -> bytes:
    kv = [
        ("general.architecture", "llama"),
        ("general.name", "fuzz"),
        (
            "tokenizer.chat_template",
            "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",
        ),
    ]
    out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv) + 1)
    for key, value in kv:
        out += _gguf_str(key) + struct.pack("<I", 8) + _gguf_str(value)
    out += _gguf_str("general.alignment") + struct.pack("<II", 4, 32)  # UINT32
    out += (
        _gguf_str("tok_embd.weight")
        + struct.pack("<I", 2)
        + struct.pack("<QQ", 4, 2)
        + struct.pack("<IQ", 0, 0)
    )
    out += b"\x00" * (-len(out) % 32)
    return out + struct.pack("<8f", *range(8))


def _npy() -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float32).reshape(3, 4))
    return buf.getvalue()


def _npy_object() -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(
        buf, np.array([{"a": 1}, [1, 2]], dtype=object), allow_pickle=True
    )  # writes a pickle; never read back
    return buf.getvalue()


def _pickle() -> bytes:
    return pickle.dumps(
        {"weights": [1.0, 2.0], "name": "fuzz", "shape": (2, 1), "meta": {"k": b"v"}}, protocol=4
    )


def _pickle_p0() -> bytes:
    return pickle.dumps({"a": [1, 2, "x"], "b": (None, True)}, protocol=0)


def _torch_zip() -> bytes:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "step": 3}, buf)
    return buf.getvalue()


def _torch_legacy() -> bytes:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"w": torch.ones(3)}, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/config.json", json.dumps({"hidden": 8}), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("model/weights.pkl", _pickle(), compress_type=zipfile.ZIP_STORED)
        zf.writestr("model/w.safetensors", _safetensors(), compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("m/config.json", b'{"a": 1}'), ("m/data.pkl", _pickle()), ("m/x.npy", _npy())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sevenzip() -> bytes:
    py7zr = pytest.importorskip("py7zr")
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.writestr(_pickle(), "data.pkl")
        z.writestr(b'{"chat_template": "{{ messages }}"}', "tokenizer_config.json")
    return buf.getvalue()


def _h5() -> bytes:
    h5py = pytest.importorskip("h5py")
    import numpy as np

    config = {
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "in"}},
                {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "relu"}},
            ],
        },
    }
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        g = f.create_group("model_weights/dense/dense")
        g.create_dataset("kernel:0", data=np.ones((4, 2), dtype=np.float32))
    return buf.getvalue()


def _onnx() -> bytes:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    init = helper.make_tensor("b", TensorProto.FLOAT, [2], [1.0, 2.0])
    node = helper.make_node("Add", ["x", "b"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [init],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx._serialize(model) if hasattr(onnx, "_serialize") else model.SerializeToString()


def _pb_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _pb_len(num: int, data: bytes) -> bytes:
    return _pb_varint(num << 3 | 2) + _pb_varint(len(data)) + data


def _saved_model() -> bytes:
    def node(name: str, op: str, *inputs: str) -> bytes:
        return (
            _pb_len(1, name.encode())
            + _pb_len(2, op.encode())
            + b"".join(_pb_len(3, i.encode()) for i in inputs)
        )

    graph = (
        _pb_len(1, node("x", "Placeholder"))
        + _pb_len(1, node("w", "Const"))
        + _pb_len(1, node("y", "MatMul", "x", "w"))
    )
    meta_info = _pb_len(4, b"serve") + _pb_len(5, b"2.15.0")
    meta_graph = _pb_len(1, meta_info) + _pb_len(2, graph)
    return _pb_varint(1 << 3) + _pb_varint(1) + _pb_len(2, meta_graph)


def _tokenizer_config() -> bytes:
    return json.dumps(
        {
            "bos_token": "<s>",
            "chat_template": "{% for message in messages %}{{ message['role'] + ': ' + message['content'] }}{% endfor %}",
            "model_max_length": 512,
        }
    ).encode()


def _gzip_pickle() -> bytes:
    return gzip.compress(_pickle())


def _joblib_zlib() -> bytes:
    # joblib's old "ZF" container: magic, the hex length left-justified to 19 characters, a zlib stream.
    payload = _pickle()
    return b"ZF" + hex(len(payload)).encode().ljust(19) + zlib.compress(payload)


# name -> (display name, builder, cutting the file short must be noticed)
SEEDS: dict[str, tuple[str, object, bool]] = {
    "safetensors": ("model.safetensors", _safetensors, True),
    "gguf": ("model.gguf", _gguf, True),
    "npy": ("w.npy", _npy, True),
    "npy-object": ("o.npy", _npy_object, True),
    "pickle": ("model.pkl", _pickle, True),
    "pickle-p0": (
        "model0.pkl",
        _pickle_p0,
        False,
    ),  # protocol 0 is text: a cut copy no longer sniffs as pickle
    "torch-zip": ("model.pt", _torch_zip, True),
    "torch-legacy": ("legacy.pt", _torch_legacy, True),
    "zip": ("bundle.zip", _zip, True),
    "tar": ("bundle.tar", _tar, False),  # tar has no trailer a reader must see; a short tar can be valid
    "7z": ("bundle.7z", _sevenzip, True),
    "h5": ("model.h5", _h5, True),
    "onnx": ("model.onnx", _onnx, False),  # a protobuf cut at a field boundary is a valid smaller message
    "saved_model": ("saved_model.pb", _saved_model, False),
    "tokenizer_config": ("tokenizer_config.json", _tokenizer_config, True),
    "gzip-pickle": ("model.pkl.gz", _gzip_pickle, True),
    "joblib-zlib": ("model.joblib", _joblib_zlib, True),
}


@cache
def seed(name: str) -> bytes:
    return SEEDS[name][1]()  # type: ignore[operator]


def ctx(limits: Limits = DEFAULT_LIMITS) -> ReadContext:
    return ReadContext.for_top_level(limits, dispatch=read_source)


def source(data: bytes, display: str) -> Source:
    return Source.from_bytes(data, display)


@cache
def seed_format(name: str) -> Format:
    """The format dispatch picks for the seed (checked once; the seeds must reach their reader)."""
    from weightwarden.artifact.sniff import sniff

    return sniff(source(seed(name), SEEDS[name][0]))


def reader_for(name: str):
    fmt = seed_format(name)
    module = READER_MODULES.get(fmt)
    assert module is not None, f"seed {name} sniffs as {fmt}, which has no reader"
    return module, importlib.import_module(f"weightwarden.artifact.readers.{module}")


# -- mutations -------------------------------------------------------------------------------------------

HUGE = [2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1, 10 * GiB, 0xFFFFFFFF - 7]


@st.composite
def mutated(draw: st.DrawFn, name: str) -> bytes:
    data = bytearray(seed(name))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "splice", "huge", "dup", "zero", "append"]))
        n = len(data)
        if n == 0:
            data += draw(st.binary(max_size=64))
            continue
        pos = draw(st.integers(0, n - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            chunk = draw(st.binary(min_size=1, max_size=32))
            data[pos : pos + draw(st.integers(0, 32))] = chunk
        elif op == "huge":
            fmt = draw(st.sampled_from(["<I", "<Q", ">I", ">Q"]))
            value = draw(st.sampled_from(HUGE)) & (0xFFFFFFFF if fmt.endswith("I") else 2**64 - 1)
            packed = struct.pack(fmt, value)
            data[pos : pos + len(packed)] = packed
        elif op == "dup":
            end = min(n, pos + draw(st.integers(1, 256)))
            data[pos:pos] = data[pos:end]
        elif op == "zero":
            end = min(n, pos + draw(st.integers(1, 64)))
            data[pos:end] = bytes(end - pos)
        else:
            data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


MAGICS = [
    b"",
    b"\x93NUMPY",
    b"GGUF",
    b"PK\x03\x04",
    b"7z\xbc\xaf\x27\x1c",
    b"\x89HDF\r\n\x1a\n",
    b"\x80\x02",
    b"\x80\x05",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ\x00",
    b"\x04\x22\x4d\x18",
    b"ZF",
    b"x\x9c",
    b"{",
    b"\x08\x01\x12",
    b"\x10\x00\x00\x00\x00\x00\x00\x00{",
]


def _check_entry(entry: object) -> FileEntry:
    assert isinstance(entry, FileEntry), f"expected a FileEntry, got {type(entry).__name__}"
    for item in entry.walk():
        assert isinstance(item.path, str)
        assert item.error is None or (isinstance(item.error, str) and item.error), "an error must say why"
        for anomaly in item.anomalies:
            assert anomaly.code and "." in anomaly.code, f"anomaly code not dotted: {anomaly.code!r}"
    return entry


def flagged(entry: FileEntry) -> bool:
    """Did reading notice something: an error, an anomaly, or a pickle walk that stopped early?"""
    for item in entry.walk():
        if item.error or item.anomalies:
            return True
        for code in item.code:
            analysis = code.analysis
            if (
                code.kind == CodeKind.PICKLE
                and analysis is not None
                and (getattr(analysis, "error", None) or getattr(analysis, "limit_hit", None))
            ):
                return True
    return False


# -- 0. the seeds reach their readers and read cleanly ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_reads_cleanly(name: str) -> None:
    entry = _check_entry(read_source(source(seed(name), SEEDS[name][0]), ctx()))
    assert entry.format not in (Format.UNKNOWN, Format.TEXT, Format.EMPTY), f"seed {name} not recognised"
    assert all(item.error is None for item in entry.walk()), [item.error for item in entry.walk()]


# -- 1. dispatch never raises ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(data=st.data())
def test_read_source_survives_mutations(name: str, data: st.DataObject) -> None:
    blob = data.draw(mutated(name))
    _check_entry(read_source(source(blob, SEEDS[name][0]), ctx()))


@pytest.mark.parametrize("magic", MAGICS, ids=lambda m: m.hex() or "none")
@FUZZ
@given(tail=st.binary(max_size=2048))
def test_read_source_survives_random_bytes(magic: bytes, tail: bytes) -> None:
    _check_entry(read_source(source(magic + tail, "random.bin"), ctx()))


# -- 2. readers called directly raise only what they document ---------------------------------------------


def _direct(module_name: str, module: object, blob: bytes, display: str) -> None:
    try:
        entry = module.read(source(blob, display), ctx())  # type: ignore[attr-defined]
    except DOCUMENTED_RAISES[module_name]:
        return
    _check_entry(entry)


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(data=st.data())
def test_reader_direct_on_mutations(name: str, data: st.DataObject) -> None:
    module_name, module = reader_for(name)
    _direct(module_name, module, data.draw(mutated(name)), SEEDS[name][0])


@pytest.mark.parametrize("module_name", sorted(set(READER_MODULES.values())))
@FUZZ
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=2048))
def test_reader_direct_on_random_bytes(module_name: str, magic: bytes, tail: bytes) -> None:
    module = importlib.import_module(f"weightwarden.artifact.readers.{module_name}")
    _direct(module_name, module, magic + tail, "random.bin")


# -- 3. damage is reported --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(n for n, (_d, _b, cut_detectable) in SEEDS.items() if cut_detectable))
@FUZZ
@given(data=st.data())
def test_truncation_is_reported(name: str, data: st.DataObject) -> None:
    from weightwarden.artifact.sniff import sniff

    full = seed(name)
    cut = data.draw(st.integers(min_value=1, max_value=len(full) - 1))
    src = source(full[:cut], SEEDS[name][0])
    # Only files still recognised as their format: a 3-byte stub of a zip is not a zip any more.
    assume(sniff(src) == seed_format(name))
    entry = _check_entry(read_source(src, ctx()))
    assert flagged(entry), (
        f"{name} cut to {cut}/{len(full)} bytes read as {entry.format} with no anomaly or error"
    )


def _evil_pickle() -> bytes:
    # GLOBAL posix system; argument tuple; REDUCE; STOP — a payload that is only written, never loaded.
    return b"\x80\x02cposix\nsystem\nq\x00X\x05\x00\x00\x00true;q\x01\x85q\x02Rq\x03."


def _targets(entry: FileEntry) -> set[str]:
    found = set()
    for item in entry.walk():
        for code in item.code:
            if code.kind == CodeKind.PICKLE and code.analysis is not None:
                found |= {site.target for site in code.analysis.all_sites()}
    return found


@FUZZ
@given(tail=st.binary(min_size=1, max_size=512))
def test_dangerous_call_survives_trailing_garbage(tail: bytes) -> None:
    entry = _check_entry(read_source(source(_evil_pickle() + tail, "evil.pkl"), ctx()))
    assert "posix.system" in _targets(entry), _targets(entry)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=2))
def test_dangerous_call_survives_missing_stop(cut: int) -> None:
    # Drop STOP (and the memo put before it): the program is malformed after the call.
    blob = _evil_pickle()[: -1 - cut]
    entry = _check_entry(read_source(source(blob, "evil.pkl"), ctx()))
    assert "posix.system" in _targets(entry), _targets(entry)
    assert flagged(entry)


# -- 4. hostile inputs: anomaly or error, bounded memory ----------------------------------------------------
#
# Each hostile file is read in a child interpreter (through the loader, as a scan reads it) that reports
# what it found and how much its resident memory grew (peak RSS): tracemalloc would slow the pickle walk
# tenfold, and a child also keeps a runaway reader from taking the test worker down.

MEM_BOUND_MB = 512  # loose: the point is "not proportional to what the file claims"

_CHILD = r"""
import json, resource, sys
from weightwarden.core.limits import Limits
from weightwarden.artifact.loader import DiscoveredFile, read_file
from weightwarden.artifact.model import CodeKind
import weightwarden.artifact.readers, weightwarden.picklevm  # imports counted in the baseline
path, display, folder, limits = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
def peak_kb():
    # VmHWM is this process's own peak; ru_maxrss keeps the forking pytest worker's peak across exec, which hid growth.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = peak_kb()
entry = read_file(DiscoveredFile(path, display, folder), Limits(**limits))
grew = peak_kb() - base
out = {"format": str(entry.format), "errors": [], "anomalies": [], "pickle_stops": [], "grew_mb": grew / 1024}
for item in entry.walk():
    if item.error:
        out["errors"].append(item.error)
    out["anomalies"] += [a.code for a in item.anomalies]
    for code in item.code:
        a = code.analysis
        if code.kind == CodeKind.PICKLE and a is not None and (a.error or a.limit_hit):
            out["pickle_stops"].append(a.error or a.limit_hit)
print(json.dumps(out))
"""


def _read_hostile(tmp_path, blob: bytes, display: str, **limits: int) -> dict:
    path = tmp_path / display
    path.write_bytes(blob)
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), display, str(tmp_path), json.dumps(limits)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, f"reading {display} crashed the reader process:\n{res.stderr[-3000:]}"
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["flagged"] = bool(out["errors"] or out["anomalies"] or out["pickle_stops"])
    return out


def test_safetensors_10gb_header_length(tmp_path) -> None:
    blob = (
        struct.pack("<Q", 10 * GiB)
        + b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
        + bytes(4)
    )
    out = _read_hostile(tmp_path, blob, "huge-header.safetensors")
    assert out["flagged"], out
    assert out["grew_mb"] < 64, out


def test_safetensors_header_length_within_file_but_over_limit(tmp_path) -> None:
    header = json.dumps({"__metadata__": {"pad": "x" * 4096}}).encode()
    blob = struct.pack("<Q", len(header)) + header
    out = _read_hostile(tmp_path, blob, "big-header.safetensors", max_header_bytes=1024)
    assert out["flagged"], out


def _deep_pickle(depth: int) -> bytes:
    # EMPTY_LIST pushed `depth` times, then APPEND folds them into one nested list: depth-deep nesting.
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def test_pickle_million_deep(tmp_path) -> None:
    out = _read_hostile(tmp_path, _deep_pickle(DEFAULT_LIMITS.max_pickle_stack + 1000), "deep.pkl")
    assert out["flagged"], "a pickle nested past max_pickle_stack must be reported"
    assert out["grew_mb"] < MEM_BOUND_MB, out


def test_pickle_million_deep_under_a_smaller_bound(tmp_path) -> None:
    out = _read_hostile(tmp_path, _deep_pickle(200_000), "deep2.pkl", max_pickle_stack=100_000)
    assert out["flagged"], out


def test_pickle_deep_marks(tmp_path) -> None:
    blob = b"\x80\x02" + b"(" * (DEFAULT_LIMITS.max_pickle_stack + 1000) + b"."
    out = _read_hostile(tmp_path, blob, "marks.pkl")
    assert out["flagged"], out
    assert out["grew_mb"] < MEM_BOUND_MB, out


def _zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data, compress_type=method)
    return buf.getvalue()


def _streamed_zip(name: str, head: bytes, total: int, tail: bytes = b"") -> bytes:
    """A zip with one deflated member: ``head``, zeros up to ``total`` bytes, ``tail``; streamed."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    block = bytes(1024 * 1024)
    with zipfile.ZipFile(buf, "w", compresslevel=9) as zf, zf.open(info, "w", force_zip64=True) as out:
        out.write(head)
        left = total - len(head) - len(tail)
        while left > 0:
            out.write(block[: min(left, len(block))])
            left -= len(block)
        out.write(tail)
    return buf.getvalue()


BOMB_BYTES = 256 * 1024 * 1024  # zeros deflate ~1030:1, past limits.max_compression_ratio (1000)


def test_zip_bomb_zeros(tmp_path) -> None:
    blob = _streamed_zip("data/weights.bin", b"", BOMB_BYTES)
    assert len(blob) < 512 * 1024
    out = _read_hostile(tmp_path, blob, "bomb.zip")
    assert out["flagged"], (
        f"a member declared to expand 1000x past its compressed size must be reported: {out}"
    )
    assert out["grew_mb"] < MEM_BOUND_MB, out


def test_zip_bomb_read_by_pickle_walker(tmp_path) -> None:
    # One BINBYTES8 opcode holding 256 MiB: a pickle walker must get past those bytes to reach STOP.
    head = b"\x80\x04\x8e" + struct.pack("<Q", BOMB_BYTES - 14)
    blob = _streamed_zip("archive/data.pkl", head, BOMB_BYTES, b"0N.")
    out = _read_hostile(tmp_path, blob, "bomb.pt")
    assert out["flagged"], f"decompressing past the ratio bound must be reported: {out}"
    assert out["grew_mb"] < MEM_BOUND_MB, out


def test_zip_bomb_against_small_budget(tmp_path) -> None:
    payload = b"\x80\x04\x8e" + struct.pack("<Q", 32 * 1024 * 1024) + bytes(32 * 1024 * 1024) + b"0N."
    blob = _zip_bytes({"a.pkl": payload, "b.pkl": payload})
    out = _read_hostile(
        tmp_path, blob, "bomb2.zip", max_member_bytes=8 * 1024 * 1024, max_total_decompressed=12 * 1024 * 1024
    )
    assert out["flagged"], out
    assert out["grew_mb"] < 128, out


def test_nested_archives_past_depth_limit(tmp_path) -> None:
    blob = _pickle()
    for level in range(DEFAULT_LIMITS.max_archive_depth + 5):
        blob = _zip_bytes({f"level{level}.bin": blob}, method=zipfile.ZIP_STORED)
    out = _read_hostile(tmp_path, blob, "nested.zip")
    assert out["flagged"], "archives nested past max_archive_depth must be reported"


def test_nested_compressed_streams(tmp_path) -> None:
    blob = _pickle()
    for level in range(DEFAULT_LIMITS.max_archive_depth + 5):
        blob = gzip.compress(blob) if level % 2 else bz2.compress(blob)
    out = _read_hostile(tmp_path, blob, "nested.bin")
    assert out["flagged"], out


def test_archive_fan_out(tmp_path) -> None:
    # Each level holds the previous level twice: 2^7 leaves from a small file, nested past the depth limit.
    blob = _pickle()
    for _ in range(DEFAULT_LIMITS.max_archive_depth + 2):
        blob = _zip_bytes({"a.zip": blob, "b.zip": blob}, method=zipfile.ZIP_STORED)
    out = _read_hostile(tmp_path, blob, "fanout.zip")
    assert out["flagged"], out
    assert out["grew_mb"] < MEM_BOUND_MB, out


def test_tar_with_huge_declared_member(tmp_path) -> None:
    info = tarfile.TarInfo("big.bin")
    info.size = 10 * GiB
    out = _read_hostile(tmp_path, info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024), "huge.tar")
    assert out["flagged"], out
    assert out["grew_mb"] < 64, out


def test_gguf_huge_counts(tmp_path) -> None:
    blob = b"GGUF" + struct.pack("<IQQ", 3, 2**63 - 1, 2**63 - 1) + bytes(64)
    out = _read_hostile(tmp_path, blob, "huge.gguf")
    assert out["flagged"], out
    assert out["grew_mb"] < 64, out


def test_npy_huge_header_length(tmp_path) -> None:
    blob = b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFFF) + b"{'descr': '<f4'"
    out = _read_hostile(tmp_path, blob, "huge.npy")
    assert out["flagged"], out
    assert out["grew_mb"] < 64, out
