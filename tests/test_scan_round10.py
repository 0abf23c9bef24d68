"""Red team round 10 on the scanner's readers (report: issues/rt-scanreaders-round10.md), each PoC as a test.

A. numpy's ``dtype.__setstate__`` keeps the state's ``fields`` dict itself. A pickle that memoises the dict can
   change it after the checked BUILD (``BINGET; key; entry; SETITEM``): a field moved past the item (heap read,
   segfault) or turned into an object field over raw bytes. Now every container of a BUILD state is frozen
   (deeply for numpy.dtype and numpy.random states, the top-level dicts/lists for any other object) and a
   later SETITEM(S)/APPEND(S)/ADDITEMS/BUILD on one is WW-PKL-002 (high), in strict mode too.
B. numpy.random's state setters store MT19937 ``pos`` and Philox ``buffer_pos`` as written; the next draw reads
   ``key[pos]`` / ``buffer[buffer_pos]`` without a bound. Now each BitGenerator / RandomState / Generator BUILD
   state must be one numpy's ``__reduce__`` writes (keys, types, ranges), else WW-PKL-002 (high).

The programs are assembled here (class A) or made with ``__reduce__`` + ``pickle.dumps`` (class B); nothing is
ever loaded.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.random import _pickle as np_random_pickle

from tests.pickle_bytes import torch_zip as _torch_zip
from weightwarden.core.findings import Severity
from weightwarden.scan import scan_paths

P = pickle



def _findings(path: Path, minimum: Severity = Severity.HIGH, strict: bool = False) -> list[tuple[str, str]]:
    report = scan_paths([str(path)], workers=1, strict=strict) if strict else scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.message) for f in report.findings if f.severity.at_least(minimum)]


# -- class A: hand-assembled protocol 2 programs ---------------------------------------------------------------


def _s(text: str) -> bytes:
    raw = text.encode()
    return P.BINUNICODE + struct.pack("<I", len(raw)) + raw


def _i(n: int) -> bytes:
    return P.LONG1 + b"\x08" + struct.pack("<q", n) if n >= 2**31 else P.BININT + struct.pack("<i", n)


def _b(data: bytes) -> bytes:
    return P.BINBYTES + struct.pack("<I", len(data)) + data


def _g(module: str, name: str) -> bytes:
    return P.GLOBAL + f"{module}\n{name}\n".encode()


def _dtype(spec: str, order: str, flags: int) -> bytes:
    """A plain dtype exactly as numpy writes it."""
    return (_g("numpy", "dtype") + _s(spec) + P.NEWFALSE + P.NEWTRUE + P.TUPLE3 + P.REDUCE
            + P.MARK + _i(3) + _s(order) + P.NONE + P.NONE + P.NONE + _i(-1) + _i(-1) + _i(flags) + P.TUPLE + P.BUILD)


I8 = _dtype("i8", "<", 0)
O8 = _dtype("O8", "|", 63)


def _struct_dtype(memo: int) -> bytes:
    """V16 with fields a@0, b@8 (i8), its fields dict memoised under ``memo``: a state numpy writes."""
    return (_g("numpy", "dtype") + _s("V16") + P.NEWFALSE + P.NEWTRUE + P.TUPLE3 + P.REDUCE
            + P.MARK + _i(3) + _s("|") + P.NONE + _s("a") + _s("b") + P.TUPLE2
            + P.EMPTY_DICT + P.BINPUT + bytes([memo]) + P.MARK + _s("a") + I8 + _i(0) + P.TUPLE2
            + _s("b") + I8 + _i(8) + P.TUPLE2 + P.SETITEMS + _i(16) + _i(1) + _i(16) + P.TUPLE + P.BUILD)


def _array_program(mutation: bytes, data: bytes, wrap: str | None) -> bytes:
    program = P.PROTO + b"\x02" + P.EMPTY_DICT + _s("w")
    if wrap:
        program += _g("builtins", wrap)
    program += (_g("numpy.core.multiarray", "_reconstruct") + _g("numpy", "ndarray") + _i(0) + P.TUPLE1
                + P.SHORT_BINBYTES + b"\x01b" + P.TUPLE3 + P.REDUCE + P.MARK + _i(1) + _i(4) + P.TUPLE1
                + _struct_dtype(1) + mutation + P.NEWFALSE + _b(data) + P.TUPLE + P.BUILD)
    if wrap:
        program += P.TUPLE1 + P.REDUCE
    return program + P.SETITEM + P.STOP


def _move(offset: int, dtype: bytes = I8) -> bytes:
    return P.BINGET + b"\x01" + _s("b") + dtype + _i(offset) + P.TUPLE2 + P.SETITEM + P.POP


MUTATIONS = {
    "m_dict_64": _array_program(_move(64), bytes(range(16)) * 4, "dict"),
    "m_dict_4096000000": _array_program(_move(4096000000), bytes(range(16)) * 4, "dict"),
    "m_plain_64": _array_program(_move(64), bytes(range(16)) * 4, None),
    "m_plain_4096000000": _array_program(_move(4096000000), bytes(range(16)) * 4, None),
    "m_objfield_dict": _array_program(_move(8, O8), b"A" * 64, "dict"),
    # Variants: SETITEMS, a new field under a title-like key, the dict BUILT (numpy would refuse, still a change).
    "setitems": _array_program(P.BINGET + b"\x01" + P.MARK + _s("b") + I8 + _i(64) + P.TUPLE2 + P.SETITEMS
                               + P.POP, bytes(64), None),
    "extra_key": _array_program(P.BINGET + b"\x01" + _s("c") + I8 + _i(64) + P.TUPLE2 + P.SETITEM + P.POP,
                                bytes(64), None),
    "build_on_fields": _array_program(P.BINGET + b"\x01" + P.EMPTY_DICT + P.BUILD + P.POP, bytes(64), None),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
@pytest.mark.parametrize("torch_zip", [False, True])
def test_fields_dict_changed_after_build_is_high(tmp_path: Path, name: str, torch_zip: bool) -> None:
    program = MUTATIONS[name]
    path = tmp_path / (name + (".pt" if torch_zip else ".pkl"))
    path.write_bytes(_torch_zip(program) if torch_zip else program)
    found = _findings(path)
    assert any(rule == "WW-PKL-002" and "numpy.dtype" in msg and "after the BUILD" in msg for rule, msg in found), found
    assert _findings(path, strict=True)


def test_nested_dtype_fields_changed_after_outer_build_is_high(tmp_path: Path) -> None:
    # The inner V16's fields dict (memo 1) is changed after an outer dtype used the inner one as a field.
    outer = (_g("numpy", "dtype") + _s("V16") + P.NEWFALSE + P.NEWTRUE + P.TUPLE3 + P.REDUCE
             + P.MARK + _i(3) + _s("|") + P.NONE + _s("x") + P.TUPLE1 + P.EMPTY_DICT + _s("x") + _struct_dtype(1)
             + _i(0) + P.TUPLE2 + P.SETITEM + _i(16) + _i(1) + _i(16) + P.TUPLE + P.BUILD)
    program = P.PROTO + b"\x02" + outer + _move(64) + P.STOP
    path = tmp_path / "nested.pkl"
    path.write_bytes(program)
    assert any("after the BUILD" in msg for _rule, msg in _findings(path))


def test_metadata_dict_changed_after_build_is_high(tmp_path: Path) -> None:
    dtype = (_g("numpy", "dtype") + _s("f8") + P.NEWFALSE + P.NEWTRUE + P.TUPLE3 + P.REDUCE
             + P.MARK + _i(4) + _s("<") + P.NONE + P.NONE + P.NONE + _i(-1) + _i(-1) + _i(0)
             + P.EMPTY_DICT + P.BINPUT + b"\x01" + P.TUPLE + P.BUILD)
    program = P.PROTO + b"\x02" + dtype + P.BINGET + b"\x01" + _s("k") + _i(1) + P.SETITEM + P.POP + P.STOP
    path = tmp_path / "metadata.pkl"
    path.write_bytes(program)
    assert any("after the BUILD" in msg for _rule, msg in _findings(path))


def test_any_state_dict_changed_after_build_is_high(tmp_path: Path) -> None:
    # A __setstate__ may keep its dict (self.__dict__ = state): adding a hook name afterwards is the same class.
    program = (P.PROTO + b"\x02" + _g("collections", "OrderedDict") + P.EMPTY_TUPLE + P.REDUCE
               + P.EMPTY_DICT + P.BINPUT + b"\x01" + _s("a") + _i(1) + P.SETITEM + P.BUILD
               + P.BINGET + b"\x01" + _s("b") + _i(2) + P.SETITEM + P.POP + P.STOP)
    path = tmp_path / "state.pkl"
    path.write_bytes(program)
    assert any("after the BUILD" in msg for _rule, msg in _findings(path))


# -- class B: numpy.random states ---------------------------------------------------------------------------


class _Reduce:
    def __init__(self, *reduced: Any) -> None:
        self.reduced = reduced

    def __reduce__(self) -> tuple:
        return self.reduced


def _bitgen(cls: type, state: Any) -> _Reduce:
    return _Reduce(np_random_pickle.__bit_generator_ctor, (cls,), (state, None))


def _mt_state(pos: Any) -> dict:
    return {"bit_generator": "MT19937", "state": {"key": np.zeros(624, np.uint32), "pos": pos}}


def _philox_state(**change: Any) -> dict:
    state = np.random.Philox(0).state
    state.update(change)
    return state


def _randomstate(state: dict) -> _Reduce:
    bitgen = _bitgen(np.random.MT19937, _mt_state(624))
    return _Reduce(np_random_pickle.__randomstate_ctor, (bitgen,), state)


def _real_randomstate(pos: int) -> np.random.RandomState:
    rs = np.random.RandomState(0)
    st = rs.get_state(legacy=False)
    st["state"]["pos"] = pos
    rs.set_state(st)
    return rs


def _real_generator(pos: int) -> np.random.Generator:
    g = np.random.Generator(np.random.MT19937(0))
    st = g.bit_generator.state
    st["state"]["pos"] = pos
    g.bit_generator.state = st
    return g


def _real_philox(pos: int) -> np.random.RandomState:
    bg = np.random.Philox(0)
    st = bg.state
    st["buffer_pos"] = pos
    bg.state = st
    return np.random.RandomState(bg)


RNG_POCS = {
    # The red team's files, made the same way (set_state stores what it is given).
    "r_randomstate_700": _real_randomstate(700),
    "r_randomstate_1000000000": _real_randomstate(10**9),
    "r_generator_700": _real_generator(700),
    "r_generator_1000000000": _real_generator(10**9),
    "r_philox_-100": _real_philox(-100),
    "r_philox_-100000000": _real_philox(-100000000),
    # Forged variants, one broken item each.
    "mt_pos_625": _bitgen(np.random.MT19937, _mt_state(625)),
    "mt_pos_negative": _bitgen(np.random.MT19937, _mt_state(-1)),
    "mt_pos_bool": _bitgen(np.random.MT19937, _mt_state(True)),
    "mt_pos_float": _bitgen(np.random.MT19937, _mt_state(1.0)),
    "mt_extra_key": _bitgen(np.random.MT19937, {**_mt_state(0), "x": 1}),
    "mt_missing_pos": _bitgen(np.random.MT19937, {"bit_generator": "MT19937", "state": {"key": np.zeros(624)}}),
    "mt_old_dict_form": _Reduce(np_random_pickle.__bit_generator_ctor, ("MT19937",), _mt_state(9999)),
    "philox_buffer_pos_5": _bitgen(np.random.Philox, _philox_state(buffer_pos=5)),
    "philox_has_uint32_2": _bitgen(np.random.Philox, _philox_state(has_uint32=2)),
    "philox_buffer_list": _bitgen(np.random.Philox, _philox_state(buffer=[0, 0, 0, 0])),
    "pcg_has_uint32_7": _bitgen(np.random.PCG64, {**np.random.PCG64(0).state, "has_uint32": 7}),
    "sfc_state_int": _bitgen(np.random.SFC64, {**np.random.SFC64(0).state, "state": {"state": 5}}),
    "name_unknown": _bitgen(np.random.MT19937, {**_mt_state(0), "bit_generator": "Foo"}),
    "seed_not_a_sequence": _Reduce(np_random_pickle.__bit_generator_ctor, (np.random.MT19937,), (_mt_state(0), 5)),
    "randomstate_has_gauss_9": _randomstate({**_mt_state(0), "has_gauss": 9, "gauss": 0.0}),
    "randomstate_legacy_tuple": _randomstate(("MT19937", np.zeros(624, np.uint32), 9999, 0, 0.0)),
    "generator_old_dict_pos": _Reduce(np_random_pickle.__generator_ctor, ("MT19937",), _mt_state(700)),
    # The other allowlisted ways to make the same objects.
    "old_ctor_legacy_pos": _Reduce(np.random.__RandomState_ctor, (), ("MT19937", np.zeros(624, np.uint32), 700, 0, 0.0)),
    "old_ctor_dict_pos": _Reduce(np.random.__RandomState_ctor, (), {**_mt_state(700), "has_gauss": 0, "gauss": 0.0}),
    "randomstate_class_pos": _Reduce(np.random.RandomState, (), ("MT19937", np.zeros(624, np.uint32), 10**9, 0, 0.0)),
    "generator_class_pos": _Reduce(np.random.Generator, (np.random.MT19937(0),), _mt_state(700)),
    "mt19937_class_pos": _Reduce(np.random.MT19937, (), (_mt_state(700), None)),
}


@pytest.mark.parametrize("name", sorted(RNG_POCS))
@pytest.mark.parametrize("protocol", [2, 4])
def test_random_states_numpy_never_writes_are_high(tmp_path: Path, name: str, protocol: int) -> None:
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(pickle.dumps({"rng": RNG_POCS[name]}, protocol=protocol))
    found = _findings(path)
    assert any(rule == "WW-PKL-002" and "not one numpy writes" in msg for rule, msg in found), found
    assert _findings(path, strict=True)


@pytest.mark.parametrize("pos", [700, 10**9])
def test_joblib_randomstate_pocs_are_high(tmp_path: Path, pos: int) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "r.joblib"
    joblib.dump({"rng": _real_randomstate(pos)}, path)
    assert any("not one numpy writes" in msg for _rule, msg in _findings(path))


# -- benign ---------------------------------------------------------------------------------------------------


def _real_rngs(draw: bool) -> list[Any]:
    rngs: list[Any] = [np.random.RandomState(0), np.random.RandomState(), np.random.default_rng(0),
                       np.random.Generator(np.random.Philox(1)), np.random.RandomState(np.random.SFC64(2))]
    rngs += [cls(3) for cls in (np.random.MT19937, np.random.PCG64, np.random.PCG64DXSM, np.random.Philox,
                                np.random.SFC64)]
    if draw:
        for rng in rngs:
            if isinstance(rng, np.random.RandomState):
                rng.random_sample(7)
                rng.standard_normal(1)  # leaves has_gauss = 1
                rng.randint(5, size=3, dtype=np.uint32)
            elif isinstance(rng, np.random.Generator):
                rng.random(7)
                rng.integers(5, size=3, dtype=np.uint32)  # leaves has_uint32 = 1
            else:
                rng.random_raw(5)
    return rngs


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("draw", [False, True])
def test_real_rng_pickles_are_clean(tmp_path: Path, protocol: int, draw: bool) -> None:
    path = tmp_path / "rngs.pkl"
    path.write_bytes(pickle.dumps(_real_rngs(draw), protocol=protocol))
    assert _findings(path, minimum=Severity.LOW) == []


@pytest.mark.parametrize("draw", [False, True])
def test_real_rng_joblib_dumps_are_clean(tmp_path: Path, draw: bool) -> None:
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "rngs.joblib"
    joblib.dump(_real_rngs(draw), path)
    assert _findings(path, minimum=Severity.LOW) == []


def test_round9_structured_dtypes_stay_clean(tmp_path: Path) -> None:
    from tests.test_scan_round9 import _benign_arrays, _benign_scalars

    for protocol in (2, 3, 4, 5):
        path = tmp_path / f"arrays{protocol}.pkl"
        arrays = _benign_arrays()
        path.write_bytes(pickle.dumps({"arrays": arrays, "scalars": _benign_scalars(),
                                       "dtypes": [a.dtype for a in arrays], "again": arrays}, protocol=protocol))
        assert _findings(path, minimum=Severity.LOW) == [], protocol


@pytest.mark.parametrize("protocol", [2, 4])
def test_old_numpy_randomstate_form_is_clean(tmp_path: Path, protocol: int) -> None:
    # numpy < 1.17: __RandomState_ctor() and the legacy get_state() tuple (the real values of RandomState(0)).
    legacy = np.random.RandomState(0).get_state()
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps(_Reduce(np.random.__RandomState_ctor, (), legacy), protocol=protocol))
    assert _findings(path, minimum=Severity.LOW) == []


def test_sklearn_estimator_with_random_state_is_clean(tmp_path: Path) -> None:
    ensemble = pytest.importorskip("sklearn.ensemble")
    x = np.random.RandomState(0).random_sample((20, 3))
    model = ensemble.RandomForestClassifier(n_estimators=3, random_state=np.random.RandomState(1))
    model.fit(x, (x[:, 0] > 0.5).astype(int))
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model, protocol=4))
    assert _findings(path) == []
