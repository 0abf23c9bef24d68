"""Genuine files written by the real libraries scan clean; hand-built abuses of what that allows do not (issue 11).

DESIGN.md §6 asks for zero false alarms on real benign models. Each genuine file is generated here by the library
itself (joblib.dump, pickle.dump, torch.save) and must scan with no high or critical finding. Each negative is a
hand-assembled program that uses a newly accepted name or position in a way numpy/torch never write: it stays a
finding. See docs/decisions.md, "Scanner false positives on genuine joblib object arrays / record arrays".
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pickle_bytes import g, s, torch_zip
from weightwarden.core.findings import Severity
from weightwarden.scan import scan_paths

np = pytest.importorskip("numpy")


def _high(path: Path) -> set[str]:
    report = scan_paths([str(path)], workers=1)
    return {f.rule_id for f in report.findings if f.severity.at_least(Severity.HIGH)} | {
        "error" for _ in report.errors
    }


# -- 1. joblib object arrays followed by other arrays ---------------------------------------------------------


def _object_array() -> object:
    return np.array([1, "x", None], dtype=object)


JOBLIB_VALUES = {
    "dict_obj_then_plain": lambda: {"a": _object_array(), "b": np.arange(5)},
    "list_obj_then_plain": lambda: [_object_array(), np.arange(3)],
    "tuple_plain_obj_plain": lambda: (np.arange(3), np.array(["q", None], dtype=object), np.ones(2)),
    "nested_dict_keys": lambda: {"model": {"labels": _object_array()}, "weights": np.ones((2, 2))},
    "two_object_arrays": lambda: {"x": _object_array(), "y": np.array([{"k": 1}, (2, 3)], dtype=object)},
    "datetime_decimal_elements": lambda: {
        "w": np.ones(3),
        "o": np.array([__import__("decimal").Decimal("1.5"), __import__("datetime").date(2020, 1, 1),
                       __import__("datetime").datetime(2020, 1, 1)], dtype=object),
    },
    "mixed_elements": lambda: {
        "a": np.array([np.float32(1), np.arange(2), np.array(["s", None], dtype=object), 3], dtype=object),
        "b": np.arange(4.0),
    },
}


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3)], ids=["raw", "zlib", "gzip"])
@pytest.mark.parametrize("name", sorted(JOBLIB_VALUES))
def test_genuine_joblib_object_arrays_then_arrays_are_clean(tmp_path: Path, name: str, compress: object) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / f"{name}.joblib"
    joblib.dump(JOBLIB_VALUES[name](), path, compress=compress)
    assert _high(path) == set()


def test_genuine_sklearn_estimator_with_object_classes_is_clean(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    linear = pytest.importorskip("sklearn.linear_model")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    y = np.array(["a", "b", "a", "b"], dtype=object)
    x = np.arange(8.0).reshape(4, 2)
    compose = pytest.importorskip("sklearn.compose")
    pipeline = pytest.importorskip("sklearn.pipeline")
    table = np.array([["x", "a", 1], ["y", "b", 2], ["x", "c", 3], ["z", "a", 4]], dtype=object)
    columns = compose.ColumnTransformer(
        [("oh", preprocessing.OneHotEncoder(), [0, 1]), ("or", preprocessing.OrdinalEncoder(), [2])]
    )
    for i, model in enumerate(
        (linear.LogisticRegression().fit(x, y), preprocessing.LabelEncoder().fit(y),
         preprocessing.OneHotEncoder().fit(np.array([["x", 1], ["y", 2]], dtype=object)),
         pipeline.make_pipeline(columns, linear.LogisticRegression()).fit(table, y))
    ):
        path = tmp_path / f"m{i}.joblib"
        joblib.dump({"model": model, "extra": np.arange(3)}, path)
        assert _high(path) == set(), type(model).__name__


def test_plain_pickle_load_of_a_genuine_file_really_fails_on_the_shifted_name(tmp_path: Path) -> None:
    """What the exempted reading is: pickle.load shares the outer memo with the object array's pickle, so
    numpy's ``BINGET <'numpy'>, 'dtype'`` fetches the outer 'NumpyArrayWrapper' string (benign file, our own)."""
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "obj.joblib"
    joblib.dump(JOBLIB_VALUES["dict_obj_then_plain"](), path)
    code = (
        "import pickle,sys\n"
        "try:\n pickle.load(open(sys.argv[1],'rb'))\nexcept ModuleNotFoundError as e:\n print(e.name)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "NumpyArrayWrapper"
    assert _high(path) == set()


# Negatives: the memo shift used to name something dangerous, or an unknown name whose attribute joblib's reading
# never had, stays WW-PKL-011.

_WRAPPER_STATE = (
    b"}(" + s("subclass") + g("numpy", "ndarray") + s("shape") + b"K\x01\x85" + s("order") + s("C")
    + s("dtype") + g("numpy", "dtype") + s("O8") + b"\x89\x88\x87R"
    + b"(K\x03" + s("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb"
    + s("allow_mmap") + b"\x89u"
)


def _joblib_with_shift(outer_memo: list[str], inner_memo: list[str], module: bytes, name: bytes) -> bytes:
    """An outer program that memoises ``outer_memo``, then a NumpyArrayWrapper of an object array whose pickle
    memoises ``inner_memo`` (MEMOIZE: indexes 0..n-1 of its own memo under joblib.load, after the outer ones under
    pickle.load) and then names a dtype class from
    ``module`` and ``name`` (literals or BINGETs). Under pickle.load the BINGETs read the outer memo instead."""
    outer = b"\x80\x02(" + b"".join(s(t) + b"q" + bytes([i]) for i, t in enumerate(outer_memo))
    outer += g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + _WRAPPER_STATE + b"b"
    inner = b"\x80\x04" + b"".join(s(t) + b"\x94" + b"0" for t in inner_memo)  # MEMOIZE: at len(memo)
    inner += g("numpy._core.multiarray", "_reconstruct") + g("numpy", "ndarray") + b"K\x00\x85C\x01b\x87R"
    inner += b"(K\x01K\x01\x85" + module + name + b"\x93" + s("O8") + b"\x89\x88\x87R"
    inner += b"(K\x03" + s("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]K\x01atb."
    return outer + inner + b"l."


def test_memo_shift_to_an_unknown_module_with_the_same_attribute_is_not_high(tmp_path: Path) -> None:
    path = tmp_path / "shift_labels.joblib"
    # joblib's reading: numpy.dtype; pickle.load: labels.dtype (ModuleNotFoundError on any normal install).
    path.write_bytes(_joblib_with_shift(["labels"], ["numpy"], b"h\x00", s("dtype")))
    assert _high(path) == set()


def test_memo_shift_to_a_dangerous_name_is_still_flagged(tmp_path: Path) -> None:
    path = tmp_path / "shift_posix.joblib"
    # joblib's reading: numpy.dtype (the inner memo's 'numpy'); pickle.load: posix.dtype, on the denylist.
    path.write_bytes(_joblib_with_shift(["posix"], ["numpy"], b"h\x00", s("dtype")))
    assert "WW-PKL-011" in _high(path)


def test_memo_shift_that_changes_the_attribute_is_still_flagged(tmp_path: Path) -> None:
    path = tmp_path / "shift_attr.joblib"
    # Both halves fetched by BINGET: joblib reads numpy.dtype, pickle.load somemod.anything.
    path.write_bytes(_joblib_with_shift(["somemod", "anything"], ["numpy", "dtype"], b"h\x00", b"h\x01"))
    assert "WW-PKL-011" in _high(path)


def test_raw_array_data_that_runs_as_opcodes_is_still_flagged(tmp_path: Path) -> None:
    """Outside an object array's pickle nothing changed: a name only pickle.load reads is WW-PKL-011."""
    state = _WRAPPER_STATE.replace(g("numpy", "dtype") + s("O8"), g("numpy", "dtype") + s("u1"))
    payload = g("somemod", "anything") + b"N\x85R."
    shape = b"K" + bytes([len(payload)]) + b"\x85"
    state = state.replace(b"K\x01\x85", shape, 1).replace(b"K?t", b"K\x00t")
    data = b"\x80\x02(" + g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81" + state + b"b" + payload
    path = tmp_path / "raw.joblib"
    path.write_bytes(data)
    assert _high(path) - {"error"}


# -- 2. numpy record arrays ------------------------------------------------------------------------------------


def _recarray() -> object:
    return np.rec.array([(1, 2.0, b"x"), (3, 4.0, b"y")], dtype=[("a", "i4"), ("b", "f8"), ("c", "S2")])


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_record_array_pickle_is_clean(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "rec.pkl"
    with path.open("wb") as f:
        pickle.dump({"r": _recarray(), "row": _recarray()[0]}, f, protocol=protocol)
    assert _high(path) == set()


def test_genuine_record_array_joblib_is_clean(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "rec.joblib"
    joblib.dump({"r": _recarray(), "b": np.arange(3)}, path)
    assert _high(path) == set()


def test_genuine_record_array_in_torch_save_is_clean(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "rec.pt"
    torch.save({"r": _recarray(), "w": torch.ones(2)}, path)
    assert _high(path) == set()


REC_ABUSE = {
    # recarray(shape, ..., buf, offset, strides) builds an array over a caller-chosen buffer: a direct call.
    "recarray_reduce": g("numpy.rec", "recarray") + b"K\x03\x85R.",
    "recarray_newobj": b"\x80\x02" + g("numpy.rec", "recarray") + b"K\x03\x85\x81.",
    # record(10**9) allocates: a direct call of the void subclass.
    "record_reduce": g("numpy", "record") + b"J\x00\xca\x9a;\x85R.",
    # numpy.void, record's base: allowed as a value, never called by numpy's writer
    "void_reduce": g("numpy", "void") + b"J\x00\xca\x9a;\x85R.",
    # the classes left as values where library code may call them
    "record_value": g("numpy", "record") + b".",
    "recarray_value": b"(" + g("numpy.rec", "recarray") + b"l.",
    # record as some other helper's argument, recarray through another reconstructor
    "record_in_scalar": g("numpy._core.multiarray", "scalar") + g("numpy", "record") + s("x") + b"\x86R.",
    "recarray_copyreg": g("copyreg", "_reconstructor") + g("numpy.rec", "recarray") + g("numpy", "ndarray")
    + b"N\x87R.",
    "recarray_mareconstruct": g("numpy.ma.core", "_mareconstruct") + b"(" + g("numpy.rec", "recarray")
    + g("numpy", "ndarray") + b"K\x00\x85" + s("b") + b"tR.",
    # BUILD on the class itself patches it for everything loaded later
    "recarray_class_build": g("numpy.rec", "recarray") + b"N}" + s("__array_finalize__") + b"Ns\x86b.",
}


@pytest.mark.parametrize("name", sorted(REC_ABUSE))
def test_record_class_abuse_is_flagged(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(REC_ABUSE[name])
    found = _high(path)
    assert found - {"error"}, found


def test_record_abuse_in_a_torch_zip_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "rec_call.pt"
    path.write_bytes(torch_zip(REC_ABUSE["recarray_reduce"]))
    assert _high(path) - {"error"}


# -- 3. whole-model torch.save with an activation function stored as a value -----------------------------------


@pytest.mark.parametrize("which", ["encoder", "decoder", "transformer"])
def test_genuine_whole_transformer_layers_are_clean(tmp_path: Path, which: str) -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = {
        "encoder": lambda: nn.TransformerEncoderLayer(16, 2),
        "decoder": lambda: nn.TransformerDecoderLayer(16, 2),
        "transformer": lambda: nn.Transformer(16, 2, 1, 1, 32),
    }[which]()
    path = tmp_path / f"{which}.pt"
    torch.save(model, path)
    assert _high(path) == set()


ACTIVATION_ABUSE = {
    # called by the pickle: the value-only names are never calls
    "relu_reduce": g("torch.nn.functional", "relu") + b"K\x01\x85R.",
    # called by an allowlisted helper that calls its argument
    "relu_defaultdict": g("collections", "defaultdict") + g("torch.nn.functional", "relu") + b"\x85R.",
    # a name outside the closed list of torch.nn.functional stays unknown
    "functional_other": b"}" + s("f") + g("torch.nn.functional", "scaled_dot_product_attention") + b"s.",
    "functional_load": b"}" + s("f") + g("torch.nn.functional", "load") + b"s.",
}


@pytest.mark.parametrize("name", sorted(ACTIVATION_ABUSE))
def test_activation_abuse_is_flagged(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(ACTIVATION_ABUSE[name])
    assert _high(path) - {"error"}


def test_activation_stored_as_value_is_accepted_only_in_the_closed_list() -> None:
    from weightwarden.picklevm import Verdict, classify
    from weightwarden.picklevm.policy import value_only

    assert classify("torch.nn.functional.relu").verdict is Verdict.SAFE
    assert value_only("torch.nn.functional.relu") is not None
    assert classify("torch.nn.functional.relu", strict=True).verdict is not Verdict.SAFE
    assert classify("torch._C._nn.gelu").verdict is Verdict.DANGEROUS


def test_a_memo_shift_onto_a_real_module_is_still_reported() -> None:
    # The shifted module half is left out only when it is provably no module: an unknown module that exists
    # (standard library or installed) is not judged by the tables (copy._reconstruct calls its func argument).
    from weightwarden.artifact.readers.pickle_file import _may_be_importable

    for real in ("copy", "json", "pytest", "numpy", "sys"):
        assert _may_be_importable(real), real
    for not_a_module in ("NumpyArrayWrapper", "ww_no_such_module_here", "b"):
        assert not _may_be_importable(not_a_module), not_a_module


def test_a_bare_folder_on_the_path_is_not_a_module_with_attributes(tmp_path: Path, monkeypatch) -> None:
    # A folder named like a dict key on sys.path (the benchmarks' labels/ when a test put benchmarks/ there) is
    # a namespace package: getattr(labels, "dtype") fails, so the shift cannot reach anything through it.
    from weightwarden.artifact.readers.pickle_file import _may_be_importable

    (tmp_path / "labels_ww_test").mkdir()
    (tmp_path / "pkg_ww_test").mkdir()
    (tmp_path / "pkg_ww_test" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert not _may_be_importable("labels_ww_test")
    assert _may_be_importable("pkg_ww_test")
