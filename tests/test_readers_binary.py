"""Tests of the binary tensor-format readers: safetensors, GGUF and NumPy ``.npy``.

Benign files are written with the real libraries (safetensors, gguf, numpy); hostile ones are built byte by
byte. Nothing is ever loaded: object arrays are written with ``np.save`` and only read back by weightwarden.
"""

from __future__ import annotations

import json
import os
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.loader import read_source
from weightwarden.artifact.model import CodeKind, FileEntry, Format
from weightwarden.artifact.readers import gguf_file, numpy_file
from weightwarden.artifact.readers import safetensors as st_reader
from weightwarden.artifact.source import Source
from weightwarden.core.limits import Limits

MODELS = Path(__file__).resolve().parent.parent / ".cache" / "models"
SMOLLM = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM = MODELS / "all-MiniLM-L6-v2" / "model.safetensors"


def ctx(limits: Limits | None = None) -> ReadContext:
    return ReadContext.for_top_level(limits or Limits(), dispatch=read_source)


def read_bytes(data: bytes, name: str = "f.bin", limits: Limits | None = None) -> FileEntry:
    return read_source(Source.from_bytes(data, name), ctx(limits))


def read_path(path: Path | str, limits: Limits | None = None) -> FileEntry:
    return read_source(Source.from_path(str(path), os.path.basename(path)), ctx(limits))


def codes(entry: FileEntry) -> set[str]:
    return {a.code for e in entry.walk() for a in e.anomalies}


def have_picklevm() -> bool:
    try:
        from weightwarden.picklevm import analyze  # noqa: F401
    except ImportError:
        return False
    return True


needs_picklevm = pytest.mark.skipif(not have_picklevm(), reason="weightwarden.picklevm not available yet")


# --- safetensors --------------------------------------------------------------------------------------------


def st_bytes(header: dict | str, data: bytes, pad: bool = True) -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    raw = text.encode()
    if pad:
        raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def test_safetensors_real_writer(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file(
        {"a": np.zeros((3, 4), np.float32), "b": np.ones(5, np.int64), "c": np.zeros((0, 2), np.float16)},
        str(path),
        metadata={"format": "np"},
    )
    entry = read_path(path)
    assert entry.format is Format.SAFETENSORS
    assert entry.error is None and entry.anomalies == []
    by_name = {t.name: t for t in entry.tensors}
    assert by_name["a"].dtype == "F32" and by_name["a"].shape == (3, 4) and by_name["a"].nbytes == 48
    assert by_name["b"].nbytes == 40
    assert max(t.end for t in entry.tensors) == path.stat().st_size
    assert entry.metadata["metadata"] == {"format": "np"}


def _st(tensors: dict, data_len: int, **kw) -> FileEntry:
    return read_bytes(st_bytes(tensors, b"\0" * data_len, **kw))


@pytest.mark.parametrize(
    ("tensors", "data_len", "code"),
    [
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            12,
            "safetensors.offset_overlap",
        ),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},
            },
            16,
            "safetensors.gap",
        ),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 20, "safetensors.trailing_data"),
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8, "safetensors.out_of_bounds"),
        ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8, "safetensors.size_mismatch"),
        ({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, 2, "safetensors.size_mismatch"),
        ({"a": {"dtype": "PY_OBJECT", "shape": [2], "data_offsets": [0, 8]}}, 8, "safetensors.bad_dtype"),
        ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, 8, "safetensors.bad_shape"),
        ({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, 8, "safetensors.bad_shape"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, 8, "safetensors.bad_offsets"),
        ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, 8, "safetensors.bad_offsets"),
        (
            {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "hook": "x"}},
            8,
            "safetensors.bad_entry",
        ),
        ({"a": [1, 2]}, 8, "safetensors.bad_entry"),
        (
            {"__metadata__": {"k": 1}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
            8,
            "safetensors.bad_metadata",
        ),
    ],
)
def test_safetensors_anomalies(tensors: dict, data_len: int, code: str) -> None:
    entry = _st(tensors, data_len)
    assert code in codes(entry), entry.anomalies


def test_safetensors_valid_subbyte_and_new_dtypes() -> None:
    tensors = {
        "a": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]},
        "b": {"dtype": "F8_E8M0", "shape": [2], "data_offsets": [2, 4]},
        "c": {"dtype": "F6_E2M3", "shape": [4], "data_offsets": [4, 7]},
        "d": {"dtype": "C64", "shape": [1], "data_offsets": [7, 15]},
    }
    entry = _st(tensors, 15)
    assert entry.anomalies == [] and entry.error is None


def test_safetensors_huge_header_length_is_anomaly_not_allocation() -> None:
    data = struct.pack("<Q", 10 * 1024**3) + b'{"a": 1}' + b"\0" * 64
    tracemalloc.start()
    entry = st_reader.read(Source.from_bytes(data, "big.safetensors"), ctx())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "safetensors.header_too_large" in codes(entry)
    assert peak < 1024 * 1024  # the declared 10 GiB header was never allocated
    assert entry.error


def test_safetensors_header_over_limit() -> None:
    header = {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"x": "y" * 5000}}
    entry = st_reader.read(
        Source.from_bytes(st_bytes(header, b"\0" * 4), "f"), ctx(Limits(max_header_bytes=1000))
    )
    assert "safetensors.header_too_large" in codes(entry)


def test_safetensors_duplicate_keys() -> None:
    text = '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    entry = read_bytes(st_bytes(text, b"\0" * 4))
    assert "safetensors.duplicate_key" in codes(entry)


def test_safetensors_bad_json_and_utf8_and_padding() -> None:
    bad_json = st_reader.read(Source.from_bytes(st_bytes('{"a": ', b""), "f"), ctx())
    assert "safetensors.bad_json" in codes(bad_json) and bad_json.error
    not_object = st_reader.read(Source.from_bytes(st_bytes("[1, 2]", b""), "f"), ctx())
    assert "safetensors.bad_json" in codes(not_object)
    raw = b'{"a\xff": 1}'
    bad_utf8 = st_reader.read(Source.from_bytes(struct.pack("<Q", len(raw)) + raw, "f"), ctx())
    assert "safetensors.bad_utf8" in codes(bad_utf8)
    padded = st_bytes(
        '{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}' + " " * 100, b"\0", pad=False
    )
    assert "safetensors.header_padding" in codes(read_bytes(padded))
    tiny = st_reader.read(Source.from_bytes(b"\x01\x02", "f"), ctx())
    assert "safetensors.too_small" in codes(tiny)


def test_safetensors_truncated_file(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    save_file({"a": np.zeros((64, 64), np.float32)}, str(path))
    data = path.read_bytes()
    entry = read_bytes(data[: len(data) // 2], "cut.safetensors")
    assert "safetensors.out_of_bounds" in codes(entry)


@pytest.mark.skipif(not MINILM.exists(), reason="sample model not downloaded")
def test_safetensors_real_model() -> None:
    entry = read_path(MINILM)
    assert entry.format is Format.SAFETENSORS
    assert entry.error is None and entry.anomalies == []
    assert len(entry.tensors) > 50


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=2**64 - 1))
def test_safetensors_fuzz_never_raises(body: bytes, n: int) -> None:
    for data in (struct.pack("<Q", n) + body, struct.pack("<Q", len(body)) + body):
        st_reader.read(Source.from_bytes(data, "fuzz"), ctx())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_safetensors_mutations_never_raise(data: st.DataObject) -> None:
    base = bytearray(
        st_bytes(
            {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "__metadata__": {"k": "v"}},
            b"\1" * 16,
        )
    )
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    st_reader.read(Source.from_bytes(bytes(base), "fuzz"), ctx())


# --- GGUF ---------------------------------------------------------------------------------------------------


def write_gguf(path: Path, template: str | None = "{{ messages }}") -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("test.u32", 7)
    w.add_int64("test.i64", -3)
    w.add_float32("test.f32", 1.5)
    w.add_bool("test.bool", True)
    w.add_string("test.str", "hello")
    w.add_array("test.small", [1, 2, 3])
    w.add_array("test.strings", ["a", "b"])
    w.add_array("test.big", list(range(1000)))
    w.add_array("test.nested", [[1, 2], [3]])
    if template is not None:
        w.add_chat_template(template)
        w.add_string("tokenizer.chat_template.tool_use", "{% for t in tools %}{{ t }}{% endfor %}")
    w.add_tensor("w", np.zeros((4, 8), np.float32))
    w.add_tensor("h", np.ones(16, np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_real_writer(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    write_gguf(path)
    entry = read_path(path)
    assert entry.format is Format.GGUF
    assert entry.error is None and entry.anomalies == [], entry.anomalies
    kv = entry.metadata["kv"]
    assert (
        kv["test.u32"] == 7 and kv["test.i64"] == -3 and kv["test.str"] == "hello" and kv["test.bool"] is True
    )
    assert kv["test.small"] == [1, 2, 3] and kv["test.strings"] == ["a", "b"]
    assert kv["test.big"] == {"array": "INT32", "length": 1000}
    assert kv["test.nested"] == [[1, 2], [3]]
    tensors = {t.name: t for t in entry.tensors}
    assert tensors["w"].shape == (8, 4) and tensors["w"].dtype == "F32" and tensors["w"].nbytes == 128
    assert tensors["h"].dtype == "F16" and tensors["h"].nbytes == 32
    templates = {c.location: c for c in entry.code if c.kind is CodeKind.CHAT_TEMPLATE}
    assert templates["metadata:tokenizer.chat_template"].text == "{{ messages }}"
    assert templates["metadata:tokenizer.chat_template"].details == {"name": "default"}
    assert templates["metadata:tokenizer.chat_template.tool_use"].details == {"name": "tool_use"}


class G:
    """Hand-built GGUF v3 (or v1/v2) bytes, for hostile variants."""

    def __init__(self, version: int = 3) -> None:
        self.version = version
        self.kv: list[bytes] = []
        self.ti: list[bytes] = []
        self.n_kv: int | None = None
        self.n_ti: int | None = None

    def s(self, text: str | bytes) -> bytes:
        raw = text.encode() if isinstance(text, str) else text
        return struct.pack("<I" if self.version == 1 else "<Q", len(raw)) + raw

    def add_kv(self, key: str, vtype: int, payload: bytes) -> G:
        self.kv.append(self.s(key) + struct.pack("<I", vtype) + payload)
        return self

    def add_u32(self, key: str, value: int) -> G:
        return self.add_kv(key, 4, struct.pack("<I", value))

    def add_str(self, key: str, value: str) -> G:
        return self.add_kv(key, 8, self.s(value))

    def add_tensor(self, name: str, dims: tuple[int, ...], ggml_type: int, offset: int) -> G:
        self.ti.append(
            self.s(name)
            + struct.pack("<I", len(dims))
            + b"".join(struct.pack("<I" if self.version == 1 else "<Q", d) for d in dims)
            + struct.pack("<IQ", ggml_type, offset)
        )
        return self

    def build(self, data: bytes = b"", alignment: int = 32) -> bytes:
        n_ti = len(self.ti) if self.n_ti is None else self.n_ti
        n_kv = len(self.kv) if self.n_kv is None else self.n_kv
        counts = struct.pack("<II", n_ti, n_kv) if self.version == 1 else struct.pack("<QQ", n_ti, n_kv)
        head = b"GGUF" + struct.pack("<I", self.version) + counts + b"".join(self.kv) + b"".join(self.ti)
        head += b"\0" * (-len(head) % alignment)
        return head + data


def gguf_entry(data: bytes, limits: Limits | None = None) -> FileEntry:
    return gguf_file.read(Source.from_bytes(data, "h.gguf"), ctx(limits))


def test_gguf_handbuilt_valid_all_versions() -> None:
    for version in (1, 2, 3):
        g = G(version).add_u32("general.alignment", 32).add_str("general.name", "x")
        g.add_tensor("a", (8,), 0, 0).add_tensor(
            "b", (32,), 2, 32
        )  # F32 (32 bytes), Q4_0 one block (18 bytes)
        entry = gguf_entry(g.build(b"\0" * 50))
        assert entry.error is None and entry.anomalies == [], (version, entry.anomalies)
        assert [t.nbytes for t in entry.tensors] == [32, 18]


@pytest.mark.parametrize(
    ("builder", "code"),
    [
        (lambda: G().add_tensor("a", (8,), 0, 0).add_tensor("b", (8,), 0, 16), "gguf.misaligned"),
        (lambda: G().add_tensor("a", (16,), 0, 0).add_tensor("b", (8,), 0, 32), "gguf.offset_overlap"),
        (lambda: G().add_tensor("a", (8,), 0, 4096), "gguf.out_of_bounds"),
        (lambda: G().add_tensor("a", (8,), 99, 0), "gguf.bad_type"),
        (lambda: G().add_tensor("a", (1, 1, 1, 1, 1), 0, 0), "gguf.bad_dims"),
        (lambda: G().add_tensor("a", (2**40, 2**40), 0, 0), "gguf.bad_dims"),
        (lambda: G().add_tensor("a", (33,), 2, 0), "gguf.size_mismatch"),
        (lambda: G().add_tensor("a", (8,), 0, 0).add_tensor("a", (8,), 0, 32), "gguf.duplicate_tensor"),
        (lambda: G().add_u32("general.alignment", 3), "gguf.bad_alignment"),
        (lambda: G().add_u32("k", 1).add_u32("k", 2), "gguf.duplicate_key"),
        (lambda: G().add_u32("tokenizer.chat_template", 5), "gguf.bad_chat_template"),
        (lambda: G().add_kv("k", 8, G().s(b"\xff\xfe")), "gguf.bad_utf8"),
    ],
)
def test_gguf_anomalies(builder, code: str) -> None:  # type: ignore[no-untyped-def]
    entry = gguf_entry(builder().build(b"\0" * 64))
    assert code in codes(entry), entry.anomalies


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda g: setattr(g, "n_kv", 2**60), "gguf.header_too_large"),
        (lambda g: setattr(g, "n_ti", 2**62), "gguf.header_too_large"),
        (lambda g: g.add_kv("k", 8, struct.pack("<Q", 2**62)), "gguf.truncated"),
        (lambda g: g.add_kv("k", 9, struct.pack("<IQ", 0, 2**61)), "gguf.truncated"),
        (lambda g: g.add_kv("k", 42, b"\0" * 8), "gguf.bad_value_type"),
        (
            lambda g: g.add_kv("k", 9, struct.pack("<IQ", 9, 1) * 20 + struct.pack("<IQ", 0, 0)),
            "gguf.nesting_too_deep",
        ),
    ],
)
def test_gguf_hostile_counts_stop_fast(mutate, code: str) -> None:  # type: ignore[no-untyped-def]
    g = G().add_u32("a", 1)
    mutate(g)
    tracemalloc.start()
    entry = gguf_entry(g.build())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert code in codes(entry), entry.anomalies
    assert peak < 16 * 1024 * 1024  # the hostile count was not allocated
    assert entry.error


def test_gguf_header_limit_and_bad_version_and_trailing() -> None:
    g = G().add_str("big", "x" * 5000)
    assert "gguf.header_too_large" in codes(gguf_entry(g.build(), Limits(max_header_bytes=1000)))
    assert "gguf.bad_version" in codes(gguf_entry(b"GGUF" + struct.pack("<I", 77) + b"\0" * 16))
    trailing = G().add_tensor("a", (8,), 0, 0).build(b"\0" * 32 + b"\1" * 100)
    assert "gguf.trailing_data" in codes(gguf_entry(trailing))


def test_gguf_truncated_real_file(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    write_gguf(path)
    data = path.read_bytes()
    for cut in (10, 30, 100, 300):
        entry = read_bytes(data[:cut], "cut.gguf")
        assert entry.format is Format.GGUF
        assert entry.error and "gguf.truncated" in codes(entry), cut


@pytest.mark.skipif(not SMOLLM.exists(), reason="sample model not downloaded")
def test_gguf_real_model() -> None:
    entry = read_path(SMOLLM)
    assert entry.format is Format.GGUF
    assert entry.error is None and entry.anomalies == []
    assert len(entry.tensors) == entry.metadata["tensor_count"] > 100
    assert entry.metadata["kv"]["tokenizer.ggml.tokens"]["length"] > 40000
    assert any(c.location == "metadata:tokenizer.chat_template" for c in entry.code)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_gguf_mutations_never_raise(data: st.DataObject) -> None:
    g = G().add_u32("general.alignment", 32).add_str("tokenizer.chat_template", "{{ x }}")
    g.add_kv("arr", 9, struct.pack("<IQ", 8, 2) + g.s("a") + g.s("bc"))
    base = bytearray(g.add_tensor("t", (8,), 0, 0).build(b"\0" * 32))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(4, len(base)))
    gguf_entry(bytes(base[:cut]))


# --- NumPy .npy ---------------------------------------------------------------------------------------------


def npy_bytes(header: str | bytes, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    raw = header.encode("latin-1") if isinstance(header, str) else header
    size = struct.pack("<H", len(raw)) if version[0] == 1 else struct.pack("<I", len(raw))
    return b"\x93NUMPY" + bytes(version) + size + raw + data


def test_npy_real_versions(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    p1 = tmp_path / "a.npy"
    np.save(p1, arr)
    p2 = tmp_path / "b.npy"
    with open(p2, "wb") as f:
        np.lib.format.write_array(f, arr, version=(2, 0))
    p3 = tmp_path / "c.npy"
    with open(p3, "wb") as f:
        np.lib.format.write_array(f, np.zeros(3, dtype=[("é", "<i4")]), version=(3, 0))
    p4 = tmp_path / "d.npy"
    np.save(p4, np.asfortranarray(arr))
    for path, version in ((p1, "1.0"), (p2, "2.0"), (p3, "3.0"), (p4, "1.0")):
        entry = read_path(path)
        assert entry.format is Format.NUMPY
        assert entry.error is None and entry.anomalies == [], (path, entry.anomalies)
        assert entry.metadata["version"] == version
        (t,) = entry.tensors
        assert t.end == path.stat().st_size
    assert read_path(p1).tensors[0].shape == (3, 4)
    assert read_path(p4).metadata["fortran_order"] is True


class Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned-by-npy",))


@needs_picklevm
def test_npy_object_array_pickle_is_analysed(tmp_path: Path) -> None:
    path = tmp_path / "obj.npy"
    arr = np.empty(2, dtype=object)
    arr[0] = Boom()
    arr[1] = "fine"
    np.save(path, arr, allow_pickle=True)  # writing only; never loaded
    entry = read_path(path)
    assert "numpy.object_dtype" in codes(entry)
    (code,) = [c for c in entry.code if c.kind is CodeKind.PICKLE]
    targets = {site.target for site in code.analysis.all_sites()}
    assert any(t in ("os.system", "posix.system", "nt.system") for t in targets), targets


def test_npy_object_dtype_in_fields_detected() -> None:
    header = "{'descr': [('a', '<i4'), ('b', '|O')], 'fortran_order': False, 'shape': (1,), }"
    entry = numpy_file.read(Source.from_bytes(npy_bytes(header, b"\x80\x02N."), "o.npy"), ctx())
    assert "numpy.object_dtype" in codes(entry)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (
            npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", b"\0" * 8),
            "numpy.truncated",
        ),
        (
            npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", b"\0" * 64),
            "numpy.trailing_data",
        ),
        (npy_bytes("__import__('os').system('echo x')"), "numpy.bad_header"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", b"\0" * 4), "numpy.bad_header"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "numpy.bad_header"),
        (npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}"), "numpy.bad_header"),
        (npy_bytes("{'descr': 'not-a-dtype', 'fortran_order': False, 'shape': (1,), }"), "numpy.bad_dtype"),
        (
            npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", version=(9, 0)),
            "numpy.bad_version",
        ),
        (
            npy_bytes(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }" + " " * 20000, version=(2, 0)
            ),
            "numpy.header_too_large",
        ),
        (b"\x93NUMPY\x01\x00\xff\xff{", "numpy.truncated"),
        (b"\x93NUMPY\x01", "numpy.truncated"),
    ],
)
def test_npy_anomalies(data: bytes, code: str) -> None:
    entry = numpy_file.read(Source.from_bytes(data, "x.npy"), ctx())
    assert code in codes(entry), entry.anomalies


def test_npy_deeply_nested_header_is_an_error_not_a_crash() -> None:
    header = "{'descr': " + "[" * 5000 + "]" * 5000 + ", 'fortran_order': False, 'shape': (1,)}"
    entry = numpy_file.read(Source.from_bytes(npy_bytes(header, version=(2, 0)), "deep.npy"), ctx())
    assert entry.error


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_npy_mutations_never_raise(data: st.DataObject) -> None:
    base = bytearray(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", b"\0" * 16))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(6, len(base)))
    numpy_file.read(Source.from_bytes(bytes(base[:cut]), "fuzz.npy"), ctx())
