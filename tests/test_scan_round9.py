"""Red team round 9 on the scanner's readers (report: issues/rt-scanreaders-round9.md), each PoC as a test.

A. ``numpy.dtype`` + BUILD is allowlisted, and numpy's ``dtype.__setstate__`` takes the flags word and the field
   offsets as written. An object dtype with flags 0 makes numpy read raw bytes as object pointers (``scalar``
   INCREFs ``0x4141414141414141`` during the load; ``list(array)`` dereferences it); a structured dtype whose
   field lies past the item size reads out of bounds (a heap pointer leaked into the returned dict). The
   machine checked dtype states only under joblib wrappers. Now every ``numpy.dtype`` BUILD state must be one
   numpy's own writer produces for the dtype's spec (``machine._dtype_state_problem``), else WW-PKL-002 (high),
   in strict mode too; the benign matrix below (numpy's own pickles of every dtype kind at protocols 2-5,
   joblib, torch.save, sklearn) stays clean.

The PoC files are made here with ``__reduce__`` and ``pickle.dumps`` like the red team's mk_*.py; nothing is
ever loaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy._core.multiarray import _reconstruct, scalar

from tests.pickle_bytes import torch_zip as _torch_zip
from weightwarden.core.findings import Severity
from weightwarden.scan import scan_paths


def _findings(path: Path, minimum: Severity = Severity.HIGH, strict: bool = False) -> list[tuple[str, str]]:
    report = scan_paths([str(path)], workers=1, strict=strict) if strict else scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.message) for f in report.findings if f.severity.at_least(minimum)]


class _Dtype:
    """``numpy.dtype(spec, False, True)`` with a forged BUILD state."""

    def __init__(self, spec: Any, state: tuple) -> None:
        self.spec, self.state = spec, state

    def __reduce__(self) -> tuple:
        return (np.dtype, (self.spec, False, True), self.state)


class _Array:
    def __init__(self, dtype: Any, shape: tuple, data: bytes) -> None:
        self.dtype, self.shape, self.data = dtype, shape, data

    def __reduce__(self) -> tuple:
        return (_reconstruct, (np.ndarray, (0,), b"b"), (1, self.shape, self.dtype, False, self.data))


class _Call:
    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple:
        return (self.fn, self.args)


OBJ0 = _Dtype("O8", (3, "|", None, None, None, -1, -1, 0))


def _fields(off: int) -> _Dtype:
    return _Dtype("V8", (3, "|", None, ("a", "b"), {"a": (np.dtype("<i8"), 0), "b": (np.dtype("<i8"), off)}, 8, 1, 0))


POCS = {
    "o1_list_segv": {"w": _Call(list, _Array(OBJ0, (2,), b"A" * 16))},
    "o2_plain_array": {"w": _Array(OBJ0, (2,), b"A" * 16)},
    "o3_scalar_segv": {"w": _Call(scalar, OBJ0, b"A" * 8)},
    "o4_fields_oob_64": {"w": _Call(dict, _Array(_fields(64), (4,), b"\x07" * 32))},
    "o4_fields_oob_big": {"w": _Call(dict, _Array(_fields(4096000000), (4,), b"\x07" * 32))},
}


@pytest.mark.parametrize("name", sorted(POCS))
@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("torch_zip", [False, True])
def test_round9_pocs_are_high(tmp_path: Path, name: str, protocol: int, torch_zip: bool) -> None:
    program = pickle.dumps(POCS[name], protocol=protocol)
    path = tmp_path / (name + (".pt" if torch_zip else ".pkl"))
    path.write_bytes(_torch_zip(program) if torch_zip else program)
    found = _findings(path)
    assert any(rule == "WW-PKL-002" and "numpy.dtype" in msg for rule, msg in found), found
    assert _findings(path, strict=True)


i8 = np.dtype("<i8")
FORGED = {
    "version2": _Dtype("O8", (2, "|", None, None, None, -1, -1, 63)),
    "version1": _Dtype("f8", (1, "<", None, None, None, -1, -1)),
    "object_flags_1": _Dtype("O8", (3, "|", None, None, None, -1, -1, 1)),
    "plain_with_refcount": _Dtype("f8", (3, "<", None, None, None, -1, -1, 63)),
    "bytes_with_pointer_flag": _Dtype("V8", (3, "|", None, None, None, 8, 1, 4)),
    "struct_object_field_flags_16": _Dtype(
        "V16", (3, "|", None, ("a", "b"), {"a": (i8, 0), "b": (np.dtype("O"), 8)}, 16, 1, 16)),
    "struct_negative_offset": _Dtype("V8", (3, "|", None, ("a",), {"a": (i8, -8)}, 8, 1, 16)),
    "struct_object_overlap": _Dtype(
        "V8", (3, "|", None, ("a", "b"), {"a": (i8, 0), "b": (np.dtype("O"), 0)}, 8, 1, 27)),
    "struct_missing_field": _Dtype("V8", (3, "|", None, ("a", "b"), {"a": (i8, 0)}, 8, 1, 16)),
    "subarray_too_small": _Dtype("V8", (3, "|", (i8, (4,)), None, None, 8, 8, 0)),
    "subarray_object_flags_0": _Dtype("V16", (3, "|", (np.dtype("O"), (2,)), None, None, 16, 8, 0)),
    "fixed_type_with_elsize": _Dtype("f8", (3, "<", None, None, None, 64, 8, 0)),
    "string_size_mismatch": _Dtype("S4", (3, "|", None, None, None, 4096, 1, 0)),
    "list_spec": _Dtype([("a", "O")], (3, "|", None, None, None, 8, 8, 63)),
    "datetime_version3": _Dtype("M8", (3, "<", None, None, None, -1, -1, 0)),
    "fields_on_plain_type": _Dtype("i8", (3, "<", None, ("a",), {"a": (i8, 0)}, -1, -1, 16)),
    "field_dtype_forged": _Dtype("V8", (3, "|", None, ("a",), {"a": (OBJ0, 0)}, 8, 1, 16)),
    "field_dtype_not_a_dtype": _Dtype("V8", (3, "|", None, ("a",), {"a": ("<i8", 0)}, 8, 1, 16)),
    "subarray_huge_shape": _Dtype("V8", (3, "|", (i8, (1, 1 << 41)), None, None, 8, 8, 0)),
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_dtype_states_are_high(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(pickle.dumps({"w": _Array(FORGED[name], (1,), b"\0" * 8)}, protocol=2))
    found = _findings(path)
    assert any(rule == "WW-PKL-002" and "numpy.dtype" in msg for rule, msg in found), found


def test_second_build_and_use_before_build_are_high(tmp_path: Path) -> None:
    # numpy.dtype('V8') used by an array, then built into an object dtype: the array's bytes become pointers.
    head = b"\x80\x03cnumpy\ndtype\nX\x02\x00\x00\x00V8\x89\x88\x87Rq\x00"  # dtype -> memo 0
    array = (b"cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
             b"(K\x01K\x01\x85h\x00\x89C\x08AAAAAAAAtb")
    state = (b"(K\x03X\x01\x00\x00\x00|NX\x01\x00\x00\x00a\x85}X\x01\x00\x00\x00a"
             b"cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"
             b"K\x00\x86sK\x08K\x08K\x1btb")
    early = head + array + b"0" + state + b"."  # the array is made before the dtype's BUILD
    path = tmp_path / "early.pkl"
    path.write_bytes(early)
    assert any("after the pickle used it" in msg for _, msg in _findings(path)), _findings(path)
    twice = head + state + state + b"."
    path = tmp_path / "twice.pkl"
    path.write_bytes(twice)
    assert any("second time" in msg for _, msg in _findings(path)), _findings(path)
    once = head + state + b"."
    path = tmp_path / "once.pkl"
    path.write_bytes(once)
    assert _findings(path, Severity.LOW) == []


DTYPES = [
    "f8", ">i4", "?", "f2", "c16", "c8", "g", "u1", "i1", "i2", "O", "S5", "S0", "U1", "U3", ">U2", "V7", "M8[ns]",
    "m8[s]",
    "M8[D]",
    [("a", "<i8"), ("b", "O")],
    [("a", "u1"), ("b", [("c", "O"), ("d", "<f4")])],
    ("f4", (2, 3)),
    ("O", (2,)),
    [("x", "f8", (3,)), ("y", "U4"), ("z", "S2")],
    [("t", "M8[ns]"), ("o", "O", (2,))],
    {"names": ["a"], "formats": ["i4"], "titles": ["T"]},
]
ALIGNED = [[("a", "u1"), ("b", "<f8")], [("a", "O"), ("b", "u1")]]


def _benign_arrays() -> list[Any]:
    arrays = [np.zeros(3, dtype=np.dtype(d)) for d in DTYPES]
    arrays += [np.zeros(2, dtype=np.dtype(d, align=True)) for d in ALIGNED]
    arrays.append(np.zeros(2, dtype=np.dtype("f8", metadata={"unit": "m"})))
    arrays.append(np.zeros(2, dtype=np.dtype("M8[ns]", metadata={"tz": "UTC"})))
    # Record arrays are not here: numpy.rec.recarray and numpy.record (the spec numpy writes for a record dtype)
    # are not on the allowlist (WW-PKL-002 before this round too); the dtype check handles the numpy.record
    # spec all the same.
    arrays.append(np.array([1, "a", None, (1, 2)], dtype=object))
    arrays.append(np.array([[1.5, 2.5]], dtype=">f8").T)
    return arrays


def _benign_scalars() -> list[Any]:
    return [np.float64(1.5), np.int8(3), np.bool_(True), np.datetime64("2024-01-01T00:00:00", "ns"),
            np.timedelta64(3, "s"), np.str_("abc"), np.bytes_(b"ab"), np.complex64(1j), np.float16(2),
            np.zeros(1, dtype=[("a", "i4"), ("b", "O")])[0], np.void(b"abc")]


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_pickles_of_every_dtype_kind_are_clean(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / f"arrays{protocol}.pkl"
    path.write_bytes(pickle.dumps({"arrays": _benign_arrays(), "scalars": _benign_scalars(),
                                   "dtypes": [a.dtype for a in _benign_arrays()]}, protocol=protocol))
    assert _findings(path, Severity.LOW) == []
    assert _findings(path, Severity.LOW, strict=True) == []


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_joblib_dumps_of_every_dtype_kind_are_clean(tmp_path: Path, protocol: int) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / f"arrays{protocol}.joblib"
    joblib.dump({"arrays": _benign_arrays(), "scalars": _benign_scalars()}, path, protocol=protocol)
    assert _findings(path, Severity.LOW) == []


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_sklearn_estimators_are_clean(tmp_path: Path, protocol: int) -> None:
    pytest.importorskip("sklearn")
    joblib = pytest.importorskip("joblib")
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array(["a", "b"] * 5)
    models = [LogisticRegression().fit(x, y), StandardScaler().fit(x),
              OneHotEncoder().fit(np.array([["x", 1], ["y", 2]], dtype=object))]
    path = tmp_path / f"models{protocol}.pkl"
    path.write_bytes(pickle.dumps(models, protocol=protocol))
    assert _findings(path, Severity.LOW) == []
    path = tmp_path / f"models{protocol}.joblib"
    joblib.dump(models, path, protocol=protocol)
    assert _findings(path, Severity.LOW) == []


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_torch_save_of_numpy_arrays_is_clean(tmp_path: Path, protocol: int) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / f"arrays{protocol}.pt"
    torch.save({"arrays": _benign_arrays(), "t": torch.zeros(2)}, path, pickle_protocol=protocol)
    assert _findings(path, Severity.LOW) == []


def test_pandas_frames_are_clean(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "t": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    for protocol in (2, 3, 4, 5):
        path = tmp_path / f"frame{protocol}.pkl"
        path.write_bytes(pickle.dumps(frame, protocol=protocol))
        assert _findings(path, Severity.LOW) == []


def test_numpy1_style_dtype_arguments_are_clean(tmp_path: Path) -> None:
    # numpy 1.x wrote numpy.dtype('f8', 0, 1) (ints, protocol 0 text): still what numpy's writer produces.
    program = (b"cnumpy\ndtype\n(S'f8'\nI0\nI1\ntR(I3\nS'<'\nNNNI-1\nI-1\nI0\ntb.")
    path = tmp_path / "np1.pkl"
    path.write_bytes(program)
    assert _findings(path, Severity.LOW) == []
    path.write_bytes(program.replace(b"I0\ntb.", b"I63\ntb."))
    assert any("numpy.dtype" in msg for _, msg in _findings(path))
