"""Red team round 30 on the scanner's readers: two classes, no full bypass.

A. The scanner's view of a JSON document must be exactly json's own view. The round-29 depth pre-pass decoded
   UTF-16/32 strictly and, when that failed, measured the raw bytes, while ``json.loads(bytes)`` decodes with
   ``json.detect_encoding`` and ``surrogatepass``: one lone surrogate (plus an escaped quote, which is no ``\\"``
   byte pair in UTF-16, and a U+5D00 code unit, which carries a ``]`` byte) made a valid .keras config 300 deep
   "invalid JSON" (WW-KERAS-006, medium) instead of too deep to analyse (WW-GEN-001, high). The sweep below asserts,
   for every encoding json accepts, that a document json.loads(bytes) parses is never judged invalid.
B. ONNX external data was collected from initializers only; a tensor in a node attribute (Constant ``value``,
   ``tensors``, ``sparse_tensor(s)``), in If/Loop/Scan bodies, in model functions or training_info pointing
   outside the folder had no finding. Every TensorProto of the model is now walked.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_scan_round24_keras_torch import RAW_PICKLE, _b64, _torch_zip, tmw_config
from tests.test_scan_round25_keras import _orbax
from weightwarden.artifact.json_depth import (
    MAX_JSON_DEPTH,
    ParseLimit,
    depth_problem,
    json_depth,
    loads_checked,
)
from weightwarden.artifact.readers.keras_config import parse_json_bounded
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

LIMIT_RULE = "WW-GEN-001"
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
# String contents (as JSON source text) that broke or could break a byte-level view of UTF-16/32.
PAYLOADS = {
    "lone_surrogate": "\ud800",
    "escaped_surrogate": "\\ud800",
    "escaped_quote": '\\"',
    "u5d00": "\u5d00",  # ']' byte in UTF-16
    "u2200": "\u2200",  # '"' byte
    "u7b00": "\u7b00",  # '{' byte
    "u5b00": "\u5b00",  # '[' byte
    "u5c22": "\u5c22",  # '"\' bytes in UTF-16-LE
    "brackets": "[[{{",
    "poc": '\ud800\\"\u5d00',  # the red team's u16e.keras string
    "low_surrogate_pair_reversed": "\udc00\ud800\\\\",
}
DEPTHS = [250, 256, 257, 300, 600]


def _doc(payload: str, depth: int) -> str:
    pad = "[" * (depth - 1) + "]" * (depth - 1)
    return '{"a": "' + payload + '", "pad": ' + pad + "}"


def _json_view(data: bytes) -> bool:
    """Whether json.loads(bytes) accepts ``data`` (the oracle)."""
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _assert_matches_json(data: bytes, depth: int) -> None:
    accepted = _json_view(data)
    problem = depth_problem(data)
    if accepted:
        assert problem is None or isinstance(problem, ParseLimit), problem
        assert isinstance(problem, ParseLimit) == (depth > MAX_JSON_DEPTH), (depth, problem)
        assert (json_depth(data) > MAX_JSON_DEPTH) == (depth > MAX_JSON_DEPTH)
        _value, limit = loads_checked(data)  # never ValueError
        assert (limit is not None) == (depth > MAX_JSON_DEPTH)
        value, reason = parse_json_bounded(data, 1 << 24)
        assert reason is None or isinstance(reason, ParseLimit), reason
        assert (value is None) == (depth > MAX_JSON_DEPTH)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_depth_verdict_is_jsons_own(encoding: str, payload: str, depth: int) -> None:
    data = _doc(PAYLOADS[payload], depth).encode(encoding, "surrogatepass")
    assert _json_view(data), (encoding, payload)  # every generated document is valid JSON to json.loads(bytes)
    _assert_matches_json(data, depth)


_CHARS = st.sampled_from(['"', "\\", "[", "]", "{", "}", "a", " ", "\ud800", "\udfff", "\u5d00", "\u2200",
                          "\u7b00", "\u5b00", "\u5c00", "\u5c22", "\u22ff", "\U0001f600", "\x00", "\n"])
_STRINGS = st.lists(_CHARS, max_size=12).map("".join)
_VALUES = st.recursive(st.one_of(st.none(), st.integers(), _STRINGS),
                       lambda inner: st.one_of(st.lists(inner, max_size=4),
                                               st.dictionaries(_STRINGS, inner, max_size=4)),
                       max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(value=_VALUES, encoding=st.sampled_from(ENCODINGS), depth=st.sampled_from([10, 255, 300]),
       ascii_only=st.booleans())
def test_generated_documents_json_accepts_are_never_invalid(value: Any, encoding: str, depth: int,
                                                            ascii_only: bool) -> None:
    """Random strings of quotes, backslashes, brackets, lone surrogates and code units whose UTF-16/32 bytes look
    like those, escaped (ensure_ascii) or raw, in every encoding json.loads(bytes) detects."""
    body = json.dumps(value, ensure_ascii=ascii_only)
    text = '{"v": ' + body + ', "pad": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    data = text.encode(encoding, "surrogatepass")
    assert _json_view(data)
    inner = json_depth(body.encode("utf-8", "surrogatepass"), 0)  # the value's own nesting
    _assert_matches_json(data, max(depth, inner + 1))


def test_undecodable_bracket_heavy_text_is_a_limit_not_invalid() -> None:
    """Bytes that do not decode as json.loads would decode them cannot be measured: the scanner's limit (high)."""
    data = _doc("x", 300).encode("utf-16-le") + b"\x00"  # odd length: no UTF-16 decode
    problem = depth_problem(data)
    assert isinstance(problem, ParseLimit), problem
    assert json_depth(data) > MAX_JSON_DEPTH
    shallow = _doc("x", 5).encode("utf-16-le") + b"\x00"  # few brackets: nothing to measure, json.loads decides
    assert depth_problem(shallow) is None
    assert parse_json_bounded(shallow, 1 << 20)[1] is not None


def test_utf8_lone_surrogate_parses_as_json_does() -> None:
    data = '{"a": "\ud800", "b": [1]}'.encode("utf-8", "surrogatepass")
    value, reason = parse_json_bounded(data, 1 << 20)
    assert reason is None and value == json.loads(data)


# -- A through the readers -------------------------------------------------------------------------------------------


def _u16(config: dict[str, Any], depth: int, encoding: str = "utf-16-le") -> bytes:
    text = json.dumps(config)[:-1] + ', "a": "\\ud800\\"\u5d00", "z": "\ud800", "pad": '
    text += "[" * (depth - 1) + "]" * (depth - 1) + "}"
    return text.encode(encoding, "surrogatepass")


def _scan(path: Path) -> list[tuple[str, Severity, str]]:
    report = scan_paths([str(path)], workers=1)
    return [(f.rule_id, f.severity, f.message) for f in report.findings]


def _assert_limit(found: list[tuple[str, Severity, str]]) -> None:
    assert any(r == LIMIT_RULE and s.rank >= Severity.HIGH.rank for r, s, _m in found), found
    assert not any(r in ("WW-KERAS-006", "WW-GEN-004", "WW-FS-009") for r, _s, _m in found), found


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32-le", "utf-32"])
def test_keras_zip_with_lone_surrogate_is_too_deep_not_invalid(tmp_path: Path, encoding: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", b'{"keras_version": "3.15.1"}')
        z.writestr("config.json", _u16(tmw_config(_b64(_torch_zip(RAW_PICKLE))), 300, encoding))
    path = tmp_path / "u16e.keras"
    path.write_bytes(buf.getvalue())
    _assert_limit(_scan(path))


def test_shard_index_with_lone_surrogate_is_a_limit(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_bytes(
        _u16({"weight_map": {"w": "model-00001-of-00001.safetensors"}}, 300))
    _assert_limit(_scan(tmp_path))


def test_orbax_metadata_with_lone_surrogate_is_a_limit(tmp_path: Path) -> None:
    from weightwarden.artifact.orbax import STEP_METADATA, model_config_handler

    root = _orbax(tmp_path / "ckpt", {"0": None})
    (root / "0" / STEP_METADATA).write_bytes(_u16({"item_handlers": {}}, 300))
    handler, problem = model_config_handler(str(root / "0"))
    assert handler is None and problem is not None and "too deep" in problem and "parse" not in problem, problem


def test_hf_config_with_lone_surrogate_is_a_limit(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(_u16({"model_type": "bert"}, 300))
    _assert_limit(_scan(tmp_path))


# -- B: ONNX external data in every tensor ---------------------------------------------------------------------------

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _ext(name: str, location: str) -> Any:
    t = helper.make_tensor(name, TensorProto.FLOAT, [1], [1.0])
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    return t


def _sparse(name: str, location: str) -> Any:
    indices = helper.make_tensor(f"{name}_i", TensorProto.INT64, [1], [0])
    return helper.make_sparse_tensor(_ext(name, location), indices, [4])


def _const(location: str, out: str = "y", attr: str = "value") -> Any:
    if attr == "sparse_value":
        return helper.make_node("Constant", [], [out], sparse_value=_sparse("c", location))
    return helper.make_node("Constant", [], [out], value=_ext("c", location))


def _graph(nodes: list[Any], out: str = "y", initializers: list[Any] | None = None) -> Any:
    return helper.make_graph(nodes, "g", [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                             initializer=initializers or [])


def _model(graph: Any, **kw: Any) -> Any:
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("loc", 1)], **kw)


def _cond_input() -> Any:
    return helper.make_node("Constant", [], ["cond"], value=helper.make_tensor("b", TensorProto.BOOL, [], [True]))


def _if(branch: Any) -> list[Any]:
    return [_cond_input(), helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)]


def _loop_body(inner: list[Any]) -> Any:
    return helper.make_graph(
        [*inner, helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])


def _models(location: str) -> dict[str, Any]:
    branch = _graph([_const(location)])
    models = {
        "constant_value": _model(_graph([_const(location)])),
        "constant_sparse_value": _model(_graph([_const(location, attr="sparse_value")])),
        "tensors_attr": _model(_graph([helper.make_node("Foo", [], ["y"], domain="loc",
                                                        ts=[_ext("t0", "in.bin"), _ext("t1", location)])])),
        "sparse_tensors_attr": _model(_graph([helper.make_node("Foo", [], ["y"], domain="loc",
                                                               sps=[_sparse("s0", location)])])),
        "if_branch": _model(_graph(_if(branch))),
        "if_branch_initializer": _model(_graph(_if(_graph([helper.make_node("Identity", ["w"], ["y"])],
                                                          initializers=[_ext("w", location)])))),
        "loop_body": _model(_graph([_cond_input(), helper.make_node("Loop", ["", "cond"], ["c_final", "y"],
                                                                    body=_loop_body([_const(location)]))])),
        "if_in_loop_body": _model(_graph([_cond_input(), helper.make_node(
            "Loop", ["", "cond"], ["c_final", "y"], body=_loop_body([_cond_input(), helper.make_node(
                "If", ["cond"], ["y"], then_branch=branch, else_branch=branch)]))])),
        "scan_body": _model(_graph([helper.make_node("Scan", [], ["y"], num_scan_inputs=0, body=_graph(
            [_const(location)]))])),
    }
    fn = helper.make_function("loc", "F", [], ["y"], [_const(location)], [helper.make_opsetid("", 17)])
    models["function_body"] = _model(_graph([helper.make_node("F", [], ["y"], domain="loc")]), functions=[fn])
    fn_attr = helper.make_function("loc", "G", [], ["y"], [helper.make_node("Identity", ["x"], ["y"])],
                                   [helper.make_opsetid("", 17)])
    fn_attr.attribute_proto.append(helper.make_attribute("w", _ext("d", location)))
    models["function_default_attribute"] = _model(_graph([helper.make_node("G", [], ["y"], domain="loc")]),
                                                  functions=[fn_attr])
    training = _model(_graph([helper.make_node("Identity", ["x"], ["y"])]))
    info = training.training_info.add()
    info.initialization.CopyFrom(_graph([_const(location)]))
    info.algorithm.CopyFrom(_graph([_const(location)]))
    models["training_info"] = training
    return models


CASES = sorted(_models("x.bin"))


@pytest.mark.parametrize("location", ["../../etc/hostname", "/etc/hostname"])
@pytest.mark.parametrize("case", CASES)
def test_onnx_external_data_anywhere_is_critical(tmp_path: Path, case: str, location: str) -> None:
    (tmp_path / "in.bin").write_bytes(b"\x00" * 16)
    path = tmp_path / "m.onnx"
    path.write_bytes(_models(location)[case].SerializeToString())
    found = _scan(path)
    assert any(r == "WW-ONNX-001" and s == Severity.CRITICAL for r, s, _m in found), (case, found)


def test_initializer_control_is_critical(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    graph = _graph([helper.make_node("Identity", ["w"], ["y"])], initializers=[_ext("w", "../../etc/hostname")])
    path.write_bytes(_model(graph).SerializeToString())
    assert any(r == "WW-ONNX-001" and s == Severity.CRITICAL for r, s, _m in _scan(path))


def test_benign_in_folder_external_constant_is_fine(tmp_path: Path) -> None:
    """A Constant whose data lives next to the model (what onnx.save_model(..., save_as_external_data) writes for
    large constants) loads under onnx and gives no finding of medium or more."""
    import numpy as np

    (tmp_path / "m.onnx.data").write_bytes(np.array([7.0], dtype=np.float32).tobytes())
    model = _model(_graph([_const("m.onnx.data")]))
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    loaded = onnx.load(str(path))  # the real loader reads the attribute's external data
    assert loaded.graph.node[0].attribute[0].t.raw_data == np.array([7.0], dtype=np.float32).tobytes()
    found = _scan(tmp_path)
    assert [f for f in found if f[1].rank >= Severity.MEDIUM.rank] == [], found


@pytest.mark.parametrize(("location", "rule"), [("nope.data", "WW-ONNX-006"), ("small.data", "WW-ONNX-005")])
def test_missing_and_out_of_bounds_attribute_data_are_reported(tmp_path: Path, location: str, rule: str) -> None:
    """The same WW-ONNX rules as for initializers: a missing data file, a range past its end."""
    (tmp_path / "small.data").write_bytes(b"\x00")  # 1 byte; the tensor declares 4
    path = tmp_path / "m.onnx"
    path.write_bytes(_model(_graph([_const(location)])).SerializeToString())
    assert any(r == rule for r, _s, _m in _scan(path)), _scan(path)
