"""Red team round 31 on the scanner's readers: three classes, every PoC at 0 findings before the fix.

A. A loader's alternate serialisation of a known format had no reader: TF reads ``saved_model.pbtxt`` (protobuf
   text format) when ``saved_model.pb`` is absent, and GraphDefs written as text are merged back the same way;
   the scanner read them as plain text. They are now parsed with protobuf's ``text_format`` into the SavedModel walk.
B. A hand-written wire reader whose field rules differed from protobuf's: a NodeDef with ``op`` twice (protobuf
   keeps the last, the reader kept the first), an OpDef ``name`` twice (a first name "WriteFile" made the graph's
   real WriteFile node look like a call of that function), ``user_object`` split over two copies (protobuf merges
   them). Every generated file is also parsed by protobuf itself, and what protobuf sees must be judged.
C. A reader bound that silently skipped a field: an ONNX ``external_data`` entry over 1 MiB (onnx keeps the last
   ``location``), SavedModel meta_info / signature / names / asset paths past their bounds. Each is now a high
   "not read" anomaly (WW-GEN-001).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.adversarial.generate import r20_keras_config
from weightwarden.artifact.readers._tf_text import _classes
from weightwarden.core.findings import Severity
from weightwarden.core.limits import DEFAULT_LIMITS, Limits
from weightwarden.scan.engine import scan_paths

TF_CRIT, LAMBDA, LIMIT, UNREADABLE = "WW-TF-001", "WW-KERAS-001", "WW-GEN-001", "WW-GEN-003"
BIG = 1024 * 1024 + 64  # past INLINE_BYTES: the streamed path of the readers


def _v(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _f(num: int, data: bytes) -> bytes:
    return _v(num << 3 | 2) + _v(len(data)) + data


def _node(*ops: bytes, pad: int = 0) -> bytes:
    body = _f(1, b"n") + b"".join(_f(2, op) for op in ops) + _f(3, b"a")
    if pad:  # an attr map entry carrying a large value, as a Const node with a big tensor would
        body += _f(5, _f(1, b"value") + _f(2, b"\0" * pad))
    return body


def _saved_model(nodes: list[bytes], functions: list[bytes] = (), objects: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    lib = b"".join(_f(1, fn) for fn in functions)
    graph = b"".join(_f(1, n) for n in nodes) + (_f(2, lib) if lib else b"")
    mg = _f(1, _f(4, b"serve")) + _f(2, graph)
    if objects:
        mg += _f(7, b"".join(_f(1, o) for o in objects))
    return _v(1 << 3) + _v(1) + _f(2, mg)


def _function(names: list[bytes], nodes: list[bytes] = (), split_signature: bool = False) -> bytes:  # type: ignore[assignment]
    if split_signature:
        sig = b"".join(_f(1, _f(1, name)) for name in names)
    else:
        sig = _f(1, b"".join(_f(1, name) for name in names))
    return sig + b"".join(_f(3, n) for n in nodes)


def _found(path: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, Severity]:
    report = scan_paths([str(path)], workers=1, limits=limits)
    out: dict[str, Severity] = {}
    for f in report.findings:
        if f.rule_id not in out or f.severity.rank > out[f.rule_id].rank:
            out[f.rule_id] = f.severity
    if report.errors:
        out["error"] = Severity.HIGH
    return out


def _write_pb(tmp_path: Path, data: bytes, name: str = "saved_model.pb") -> Path:
    folder = tmp_path / "sm"
    folder.mkdir()
    (folder / name).write_bytes(data)
    return folder


def _protobuf_view(data: bytes) -> tuple[list[str], list[str], list[str]]:
    """What protobuf itself makes of the bytes (TF's field layout): graph ops, function names, function ops."""
    message = _classes()["SavedModel"]()
    message.ParseFromString(data)
    graph = message.meta_graphs[0].graph_def
    functions = list(graph.library.function)
    return ([n.op for n in graph.node], [fn.signature.name for fn in functions],
            [n.op for fn in functions for n in fn.node_def])


def _lambda_metadata() -> bytes:
    return json.dumps(r20_keras_config()).encode()


# -- B: protobuf's field rules --------------------------------------------------------------------------------------

B_CASES = {
    # duplicate op: the last (protobuf's) or the first copy is WriteFile
    "dup_op_last": ([_node(b"Const", b"WriteFile")], []),
    "dup_op_first": ([_node(b"WriteFile", b"Const")], []),
    "dup_op_big_node": ([_node(b"Const", b"WriteFile", pad=BIG)], []),
    "dup_op_in_library": ([_node(b"f")], [_function([b"f"], [_node(b"Identity", b"WriteFile")])]),
    "dup_op_in_library_big_node": ([_node(b"f")], [_function([b"f"], [_node(b"Identity", b"WriteFile", pad=BIG)])]),
    # duplicate OpDef name: a first name equal to the op the graph really runs
    "dup_name": ([_node(b"WriteFile")], [_function([b"WriteFile", b"harmless"])]),
    "dup_name_split_signature": ([_node(b"WriteFile")], [_function([b"WriteFile", b"harmless"], split_signature=True)]),
    "dup_name_big_node": ([_node(b"WriteFile", pad=BIG)], [_function([b"WriteFile", b"harmless"])]),
    "dup_name_in_library": ([_node(b"g")], [_function([b"WriteFile", b"harmless"]),
                                            _function([b"g"], [_node(b"WriteFile")])]),
}


@pytest.mark.parametrize("case", sorted(B_CASES))
def test_duplicate_fields_judged_as_protobuf_reads_them(tmp_path: Path, case: str) -> None:
    nodes, functions = B_CASES[case]
    data = _saved_model(nodes, functions)
    ops, _names, function_ops = _protobuf_view(data)
    if case.startswith("dup_name"):
        assert "WriteFile" in ops + function_ops  # the real op protobuf (TF) runs
    found = _found(_write_pb(tmp_path, data))
    assert found.get(TF_CRIT) == Severity.CRITICAL, found


@pytest.mark.parametrize("order", ["identifier_first", "metadata_first", "twice_each"])
def test_split_user_object_is_merged(tmp_path: Path, order: str) -> None:
    ident, meta = _f(1, b"_tf_keras_layer"), _f(3, _lambda_metadata())
    copies = {"identifier_first": [ident + _f(3, b"{}"), meta], "metadata_first": [meta, ident],
              "twice_each": [ident + meta, _f(1, b"_tf_keras_layer") + _f(3, b"{}")]}[order]
    obj = b"".join(_f(4, c) for c in copies)
    data = _saved_model([_node(b"Const")], objects=[obj])
    assert _found(_write_pb(tmp_path, data)).get(LAMBDA) == Severity.CRITICAL


def test_clean_wire_controls(tmp_path: Path) -> None:
    data = _saved_model([_node(b"Const", pad=BIG), _node(b"f")], [_function([b"f"], [_node(b"Identity")])],
                        objects=[_f(4, _f(1, b"_tf_keras_layer") + _f(3, b"{}"))])
    assert _protobuf_view(data) == (["Const", "f"], ["f"], ["Identity"])
    assert _found(_write_pb(tmp_path, data)) == {}


# -- A: text format --------------------------------------------------------------------------------------------------

WRITEFILE_TEXT = """saved_model_schema_version: 1
meta_graphs {
  meta_info_def { tags: "serve" any_info { [type.googleapis.com/x.Y] { a: 1 } } }
  graph_def {
    node { name: "path" op: "Const" attr { key: "value" value { tensor { dtype: DT_STRING string_val: "/tmp/x" } } } }
    node { name: "w" op: "Write" "File" input: "path" input: "path" }  # concatenated, as TF parses it
    versions { producer: 1 }
  }
}
"""


def _keras_text() -> str:
    meta = json.dumps(_lambda_metadata().decode())
    return ('meta_graphs { object_graph_def { nodes { user_object { identifier: "_tf_keras_layer" metadata: '
            f"{meta} }} }} }} }}\n")


TEXT_CASES = {
    "saved_model_writefile": ("saved_model.pbtxt", WRITEFILE_TEXT, TF_CRIT),
    "saved_model_dup_op": ("saved_model.pbtxt", 'meta_graphs { graph_def { node { op: "Const" op: "WriteFile" } } }',
                           TF_CRIT),
    "saved_model_library": ("saved_model.pbtxt", 'meta_graphs { graph_def { library { function { signature { name: '
                            '"WriteFile" name: "f" } node_def { op: "WriteFile" } } } } }', TF_CRIT),
    "saved_model_keras": ("saved_model.pbtxt", None, LAMBDA),
    "graphdef_text": ("graph.pbtxt", 'node { name: "w" op: "WriteFile" }', TF_CRIT),
    "graphdef_text_upper": ("frozen.PBTXT", 'node { op: "WriteFile" }', TF_CRIT),
}


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_text_format_is_read_as_tf_reads_it(tmp_path: Path, case: str) -> None:
    name, text, rule = TEXT_CASES[case]
    folder = _write_pb(tmp_path, (text or _keras_text()).encode(), name)
    assert _found(folder).get(rule) == Severity.CRITICAL


@pytest.mark.parametrize("text", ["meta_graphs { graph_def { node { op: ", b"\xff\xfe".decode("latin-1")])
def test_unparseable_saved_model_text_fails_closed(tmp_path: Path, text: str) -> None:
    folder = _write_pb(tmp_path, text.encode("latin-1"), "saved_model.pbtxt")
    found = _found(folder)
    assert found.get(UNREADABLE) == Severity.HIGH or found.get("error") == Severity.HIGH, found


def test_text_past_the_bound_is_high(tmp_path: Path) -> None:
    folder = _write_pb(tmp_path, (WRITEFILE_TEXT + " " * 4096).encode(), "saved_model.pbtxt")
    limits = Limits(max_header_bytes=1024)
    assert _found(folder, limits).get(LIMIT) == Severity.HIGH


@pytest.mark.parametrize("name,text", [
    ("saved_model.pbtxt", 'saved_model_schema_version: 1\nmeta_graphs { meta_info_def { tags: "serve" } graph_def {'
                          ' node { name: "x" op: "Placeholder" } node { name: "y" op: "Identity" input: "x" } } }'),
    ("label_map.pbtxt", 'item { name: "/m/01g317" id: 1 display_name: "person" }\nitem { id: 2 name: "b" }'),
])
def test_clean_text_controls(tmp_path: Path, name: str, text: str) -> None:
    assert _found(_write_pb(tmp_path, text.encode(), name)) == {}


# -- C: a field past a reader bound is never dropped -----------------------------------------------------------------


def _onnx_model(path: Path, entries: list[tuple[str, str]]) -> None:
    from onnx import TensorProto, helper

    t = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[1], data_location=TensorProto.EXTERNAL)
    for key, value in entries:
        e = t.external_data.add()
        e.key, e.value = key, value
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Add", ["X", "W"], ["Y"])], "g", [x], [y], [t])
    path.write_bytes(helper.make_model(g).SerializeToString())


@pytest.mark.parametrize("big", ["location", "key", "offset"])
def test_onnx_external_data_entry_past_the_bound_is_high(tmp_path: Path, big: str) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    long = "./" * 600_000 + "../../../../etc/hostname"
    entry = {"location": ("location", long), "key": ("k" * BIG, "x"), "offset": ("offset", "0" * BIG)}[big]
    _onnx_model(tmp_path / "m.onnx", [("location", "weights.bin"), ("length", "4"), entry])
    assert _found(tmp_path / "m.onnx").get(LIMIT) == Severity.HIGH


def test_onnx_external_data_control_is_clean(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    _onnx_model(tmp_path / "m.onnx", [("location", "weights.bin"), ("length", "4")])
    assert _found(tmp_path / "m.onnx") == {}


@pytest.mark.parametrize("case", ["op_name", "function_name", "asset", "meta_info"])
def test_savedmodel_field_past_the_bound_is_high(tmp_path: Path, case: str) -> None:
    if case == "op_name":
        data = _saved_model([_node(b"X" * 2000)])
    elif case == "function_name":
        data = _saved_model([_node(b"Const")], [_function([b"f" * 2000])])
    elif case == "asset":
        asset = _f(2, b"./" * 40_000 + b"../../etc/passwd")
        data = _v(1 << 3) + _v(1) + _f(2, _f(2, _f(1, _node(b"Const"))) + _f(6, asset))
    else:
        data = _v(1 << 3) + _v(1) + _f(2, _f(1, _f(4, b"s" * (16 * 1024 * 1024 + 1))) + _f(2, _f(1, _node(b"Const"))))
    assert _found(_write_pb(tmp_path, data)).get(LIMIT) == Severity.HIGH
