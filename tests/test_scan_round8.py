"""Red team round 8 on the scanner's readers (report: issues/rt-scanreaders-round8.md), each PoC as a test.

A. numpy.random's pickle helpers were listed as taking a *class operand* (dropped from the stored values) but
   they CALL it: ``__bit_generator_ctor(cls)`` runs ``cls()``, ``__generator_ctor`` / ``__randomstate_ctor(name,
   ctor)`` run ``ctor(name)``. A REBUILD_ONLY class (TrainingArguments, PartialState) there had no call site and
   was not a stored value: exempt, 0 findings. Now an operand position is either allocation only (audited,
   ``machine.ALLOCATES_ONLY``) or a recorded call site, and the numpy.random helpers accept only what numpy
   writes (a BitGenerator name, class or instance; ``__bit_generator_ctor`` as the constructor).
B. Allowlisted "pure numerical" functions took any arguments: ``_kmeans_single_lloyd(..., n_threads=64)`` left 63
   OpenMP threads running. Such functions are now allowed as stored values only (``policy.VALUE_ONLY``).

The files are built here byte by byte (like the red team's mk_*.py) or by pickle.dumps of benign objects;
nothing is ever loaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.pickle_bytes import g, s
from tests.pickle_bytes import torch_zip as _torch_zip
from weightwarden.core.findings import Severity
from weightwarden.picklevm import analyze_bytes
from weightwarden.picklevm.machine import (
    _FACTORIES,
    ALLOCATES_ONLY,
    CALLS_ARGUMENT,
    OPERAND_ARGS,
    RANDOM_CTORS,
)
from weightwarden.picklevm.policy import VALUE_ONLY, Verdict, classify, value_only
from weightwarden.scan import scan_paths

TA = ("transformers.training_args", "TrainingArguments")
PS = ("accelerate.state", "PartialState")
RND = "numpy.random._pickle"





def _findings(path: Path, minimum: Severity = Severity.HIGH) -> list[tuple[str, str, Severity]]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.message, f.severity) for f in report.findings if f.severity.at_least(minimum)]


def _lloyd(n_threads: int = 64) -> bytes:
    """mk_lloyd.py: {'model': _kmeans_single_lloyd(zeros(64,2), ones(64), zeros(2,2), 1, False, 1e-4, n)}."""
    np = pytest.importorskip("numpy")
    kmeans = pytest.importorskip("sklearn.cluster._kmeans")

    class P:
        def __reduce__(self) -> tuple:
            return (kmeans._kmeans_single_lloyd, (np.zeros((64, 2)), np.ones(64), np.zeros((2, 2)), 1, False, 1e-4, n_threads))

    return pickle.dumps({"model": P()}, protocol=2)


POCS = {
    # mk_bg.py: __bit_generator_ctor(cls) -> cls()
    "b1_bitgen_ps": b"\x80\x02" + g(RND, "__bit_generator_ctor") + g(*PS) + b"\x85R.",
    "b1_bitgen_ta": b"\x80\x02" + g(RND, "__bit_generator_ctor") + g(*TA) + b"\x85R.",
    # mk_gen.py: __generator_ctor / __randomstate_ctor(name, ctor) -> ctor(name)
    "b2_generator_ctor_ta": b"\x80\x02" + g(RND, "__generator_ctor") + s("/tmp/ta_out") + g(*TA) + b"\x86R.",
    "b2_randomstate_ctor_ta": b"\x80\x02" + g(RND, "__randomstate_ctor") + s("/tmp/ta_out") + g(*TA) + b"\x86R.",
}


@pytest.mark.parametrize("name", sorted(POCS))
def test_numpy_random_helper_calling_a_rebuild_only_class_is_high(tmp_path: Path, name: str) -> None:
    program = POCS[name]
    (tmp_path / f"{name}.pkl").write_bytes(program)
    (tmp_path / f"{name}.pt").write_bytes(_torch_zip(program))
    hf = tmp_path / "hfdir"
    hf.mkdir()
    (hf / "training_args.bin").write_bytes(_torch_zip(program))
    (hf / "config.json").write_text('{"model_type": "bert"}')
    for path in (tmp_path / f"{name}.pkl", tmp_path / f"{name}.pt", hf):
        found = _findings(path)
        assert any("TrainingArguments" in msg or "PartialState" in msg for _r, msg, _s in found), (path, found)
        assert any("not reviewed for" in msg for _r, msg, _s in found), (path, found)


@pytest.mark.parametrize(
    "program",
    [
        # a table class (SAFE to rebuild or call) is still not a BitGenerator: numpy would call it
        b"\x80\x02" + g(RND, "__bit_generator_ctor") + g("torch.nn.modules.linear", "Linear") + b"\x85R.",
        b"\x80\x02" + g(RND, "__bit_generator_ctor") + g("builtins", "dict") + b"\x85R.",
        # a literal that is not a BitGenerator name, a constructor that is not numpy's
        b"\x80\x02" + g(RND, "__bit_generator_ctor") + s("Evil") + b"\x85R.",
        b"\x80\x02" + g(RND, "__generator_ctor") + s("PCG64") + g("collections", "OrderedDict") + b"\x86R.",
        # a computed value as the constructor
        b"\x80\x02" + g(RND, "__randomstate_ctor") + s("MT19937") + g("collections", "OrderedDict") + b")R\x86R.",
    ],
    ids=["table-class", "builtin-dict", "bad-name", "bad-ctor", "call-result-ctor"],
)
def test_numpy_random_helper_with_anything_else_is_high(tmp_path: Path, program: bytes) -> None:
    (tmp_path / "p.pkl").write_bytes(program)
    found = _findings(tmp_path / "p.pkl")
    assert any(r == "WW-PKL-002" and "not reviewed for" in msg for r, msg, _s in found), found


def test_numpy_random_helpers_with_what_numpy_writes_are_clean(tmp_path: Path) -> None:
    bg = g(RND, "__bit_generator_ctor")
    programs = {
        "name.pkl": b"\x80\x02" + bg + s("PCG64") + b"\x85R.",
        "cls.pkl": b"\x80\x02" + bg + g("numpy.random._mt19937", "MT19937") + b"\x85R.",
        "legacy_gen.pkl": b"\x80\x02" + g(RND, "__generator_ctor") + s("PCG64") + bg + b"\x86R.",
        "legacy_rs.pkl": b"\x80\x02" + g(RND, "__randomstate_ctor") + s("MT19937") + b"\x85R.",
        "instance.pkl": b"\x80\x02" + g(RND, "__generator_ctor") + bg + s("SFC64") + b"\x85R\x85R.",
    }
    for name, program in programs.items():
        (tmp_path / name).write_bytes(program)
        assert _findings(tmp_path / name, Severity.LOW) == [], name


def test_benign_rng_and_kmeans_pickles_stay_clean(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("sklearn")
    from sklearn.cluster import KMeans, MiniBatchKMeans

    x = np.random.default_rng(0).random((40, 3))
    objects = {
        "default_rng": np.random.default_rng(0),
        "randomstate": np.random.RandomState(0),
        "pcg64": np.random.PCG64(1),
        "philox": np.random.Philox(2),
        "mt19937": np.random.MT19937(3),
        "sfc64_gen": np.random.Generator(np.random.SFC64(4)),
        "seedseq": np.random.SeedSequence(5),
        "kmeans_lloyd": KMeans(3, n_init=2, random_state=np.random.RandomState(0)).fit(x),
        "kmeans_elkan": KMeans(3, n_init=2, algorithm="elkan", random_state=0).fit(x),
        "minibatch": MiniBatchKMeans(3, n_init=2, random_state=0, batch_size=16).fit(x),
    }
    for name, value in objects.items():
        for protocol in (2, 4, 5):
            (tmp_path / f"{name}_{protocol}.pkl").write_bytes(pickle.dumps(value, protocol=protocol))
        joblib.dump(value, tmp_path / f"{name}.joblib")
    for path in sorted(tmp_path.iterdir()):
        assert _findings(path, Severity.LOW) == [], path.name


def test_kmeans_single_lloyd_call_is_high(tmp_path: Path) -> None:
    program = _lloyd()
    (tmp_path / "k1.pkl").write_bytes(program)
    (tmp_path / "k1.pt").write_bytes(_torch_zip(program))
    hf = tmp_path / "hfdir"
    hf.mkdir()
    (hf / "scheduler.pt").write_bytes(_torch_zip(program))
    for path in (tmp_path / "k1.pkl", tmp_path / "k1.pt", hf):
        found = _findings(path)
        assert any("_kmeans_single_lloyd" in msg and "stored value" in msg for _r, msg, _s in found), (path, found)


@pytest.mark.parametrize("callee", [("numpy", "add"), ("sklearn.cluster._kmeans", "_kmeans_single_elkan"),
                                    ("numpy", "asarray"), ("sklearn.feature_selection._univariate_selection", "f_classif")])
def test_value_only_functions_called_are_high(tmp_path: Path, callee: tuple[str, str]) -> None:
    (tmp_path / "p.pkl").write_bytes(b"\x80\x02" + g(*callee) + b"K\x01K\x02\x86R.")
    found = _findings(tmp_path / "p.pkl")
    assert any(r == "WW-PKL-002" and "stored value" in msg for r, msg, _s in found), found


def test_value_only_functions_stored_as_values_stay_clean(tmp_path: Path) -> None:
    # What estimators keep: the function itself, in their state (FunctionTransformer(np.log1p), score_func).
    for module, name in (("numpy", "log1p"), ("sklearn.cluster._kmeans", "_kmeans_single_lloyd"), ("math", "sqrt")):
        (tmp_path / f"{name}.pkl").write_bytes(b"\x80\x02}" + s("func") + g(module, name) + b"s.")
        assert _findings(tmp_path / f"{name}.pkl", Severity.LOW) == [], name


def test_every_operand_position_is_allocation_only_or_a_call_site() -> None:
    for target, indexes in OPERAND_ARGS.items():
        for index in indexes:
            assert index in ALLOCATES_ONLY.get(target, ()) or index in CALLS_ARGUMENT.get(target, ()) or (
                _FACTORIES.get(target) == index
            ), (target, index)
    # numpy.random's helpers call their arguments: never operands.
    assert not RANDOM_CTORS & set(OPERAND_ARGS)


def test_value_only_review_covers_every_numeric_function() -> None:
    from weightwarden.picklevm import policy

    numeric = {name for name, why in policy._ALLOW_EXACT.items() if why == policy._NUMERIC}
    callable_numeric = numeric - set(VALUE_ONLY)
    assert callable_numeric == {"math.sqrt", "math.log", "math.exp"}
    for name in VALUE_ONLY:
        assert classify(name).verdict is Verdict.SAFE and value_only(name)
    assert "n_threads" in value_only("sklearn.cluster._kmeans._kmeans_single_lloyd")


def test_machine_records_misuse_and_call_site() -> None:
    analysis = analyze_bytes(POCS["b1_bitgen_ta"])
    assert [m.target for m in analysis.misuses] == [f"{RND}.__bit_generator_ctor"]
    assert any(c.target == ".".join(TA) and c.args.startswith("called by") for c in analysis.calls)


# -- found while reviewing the allowlists: NumPy reads __array_interface__ from the *instance* ------------------


def _array_interface_pickle(maker: tuple[str, str], slot_state: bool = False) -> bytes:
    """``maker(Namespace(__array_interface__={'data': (4096, False), ...}))``: NumPy makes an array over address
    4096 (pickle.load segfaults; a real address is read, and with a writable view written)."""
    interface = (
        b"}(" + s("data") + b"M\x00\x10\x89\x86" + s("shape") + b"K\x04\x85" + s("typestr") + s("|u1")
        + s("version") + b"K\x03u"
    )
    state = b"}" + s("__array_interface__") + interface + b"s"
    if slot_state:
        state = b"N" + state + b"\x86"
    namespace = g("argparse", "Namespace") + b")\x81" + state + b"b"
    return b"\x80\x02" + g(*maker) + namespace + b"\x85R."


@pytest.mark.parametrize("maker", [("numpy", "matrix"), ("scipy.sparse._csr", "csr_matrix"), ("numpy.ma.core", "MaskedArray")])
@pytest.mark.parametrize("slot_state", [False, True], ids=["dict-state", "slot-state"])
def test_array_interface_planted_on_an_instance_is_high(tmp_path: Path, maker: tuple[str, str], slot_state: bool) -> None:
    program = _array_interface_pickle(maker, slot_state)
    (tmp_path / "p.pkl").write_bytes(program)
    (tmp_path / "p.pt").write_bytes(_torch_zip(program))
    for path in (tmp_path / "p.pkl", tmp_path / "p.pt"):
        found = _findings(path)
        assert any("__array_interface__" in msg and "any memory address" in msg for _r, msg, _s in found), found


def test_array_interface_key_past_the_kept_key_bound_is_still_seen() -> None:
    many = b"".join(s(f"k{i}") + b"K\x01" for i in range(200))
    state = b"}(" + many + s("__array_interface__") + b"}u"
    program = b"\x80\x02" + g("argparse", "Namespace") + b")\x81" + state + b"b."
    assert [m.kind for m in analyze_bytes(program).misuses] == ["build"]


def test_array_interface_as_a_bunch_item_is_high(tmp_path: Path) -> None:
    # sklearn's Bunch.__getattr__ returns self[key]: SETITEM '__array_interface__' makes it an attribute.
    bunch = g("sklearn.utils._bunch", "Bunch") + b")\x81" + s("__array_interface__") + b"}s"
    (tmp_path / "p.pkl").write_bytes(b"\x80\x02" + g("numpy", "matrix") + bunch + b"\x85R.")
    found = _findings(tmp_path / "p.pkl")
    assert any("__array_interface__" in msg for _r, msg, _s in found), found
