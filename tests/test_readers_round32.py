"""Red team round 32 on the scanner's readers: TensorFlow protobufs read as the wrong message, or not at all.

1. A ``.meta`` MetaGraphDef (binary or text) and a frozen GraphDef ``.pb`` were read as a SavedModel, sniffed as
   sentencepiece / ONNX, or as nothing: 0 findings while ``import_meta_graph`` / ``GraphDef.ParseFromString`` load
   their PyFunc / WriteFile / ReadFile nodes.
2. One unknown top-level field in ``saved_model.pb`` moved the content sniffer (ONNX, sentencepiece, unknown), so the
   SavedModel reader, and the ``keras_metadata.pb`` it reads (a Lambda with marshalled code), never ran.
3. ``saved_model.cpb`` (the chunked SavedModel TF's proto splitter writes) got an info finding only.

TensorFlow is not installed here, so the victim side is shown at the protobuf level with the message layouts of TF's
``.proto`` files (``_tf_text._classes()``, as round 31's tests do): protobuf accepts each file as the message the
loader asks for and yields the dangerous op. The Keras Lambda of class 2 is decoded by Keras's own ``func_load`` (what
TF-Keras's Lambda.from_config calls) in a subprocess, and the canary fires.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_readers_round31 import _f, _found, _node, _v
from weightwarden.artifact.readers._tf_text import _classes
from weightwarden.artifact.sniff import sniff
from weightwarden.artifact.source import Source
from weightwarden.core.findings import Severity

TF_CRIT, TF_HIGH, LAMBDA, UNREADABLE, UNVERIFIED = "WW-TF-001", "WW-TF-002", "WW-KERAS-001", "WW-GEN-003", "WW-FS-005"
DANGEROUS = (b"PyFunc", b"EagerPyFunc", b"WriteFile")


def _graph(nodes: list[bytes], functions: list[bytes] = (), versions: bool = True) -> bytes:  # type: ignore[assignment]
    lib = b"".join(_f(1, fn) for fn in functions)
    return (b"".join(_f(1, n) for n in nodes) + (_f(2, lib) if lib else b"")
            + (_f(4, _v(1 << 3) + _v(1205)) if versions else b""))


def _function(name: bytes, nodes: list[bytes]) -> bytes:
    return _f(1, _f(1, name)) + b"".join(_f(3, n) for n in nodes)


def _op_list(*ops: bytes) -> bytes:
    return b"".join(_f(1, _f(1, op)) for op in ops)  # OpList{op: OpDef{name}}


def _meta_graph(graph: bytes, extra: bool = True) -> bytes:
    """A MetaGraphDef as tf.compat.v1.train.Saver writes it: meta_info_def (stripped_op_list, tags, versions),
    graph_def, saver_def, collection_def; ``extra`` adds signature_def and object_graph_def."""
    info = _f(1, b"") + _f(2, _op_list(b"Const", b"Placeholder")) + _f(4, b"serve") + _f(5, b"2.15.0")
    body = _f(1, info) + _f(2, graph) + _f(3, _f(1, b"save/Const:0") + _f(2, b"save/Identity:0"))
    body += _f(4, _f(1, b"variables") + _f(2, _f(4, _f(1, b"v:0"))))
    if extra:
        body += _f(5, _f(1, b"serving_default") + _f(2, b"")) + _f(7, _f(1, b""))
    return body


def _saved_model(mg: bytes, extra: bytes = b"") -> bytes:
    return _v(1 << 3) + _v(1) + _f(2, mg) + extra


def _pb(name: str, op: bytes = b"WriteFile") -> bytes:
    """A frozen GraphDef (ops in the graph and in a library function) in several field shapes."""
    plain = [_node(b"Placeholder"), _node(op)]
    return {
        "nodes": _graph(plain),  # repeated field 1 + versions: sniffed as sentencepiece
        "nodes_no_versions": _graph(plain, versions=False),
        "library": _graph([_node(b"Placeholder"), _node(b"f")], [_function(b"f", [_node(op)])]),  # {1, 2}: "SavedModel"
        "unknown_7": _graph(plain) + _f(7, b""),  # an unknown field 7: sniffed as ONNX
        "unknown_varint": _v(3 << 3) + _v(1) + _graph(plain),  # the deprecated ``version`` first
        "unknown_big": _graph(plain) + _f(99, b"\0" * 70_000),
    }[name]


def _protobuf(kind: str, data: bytes) -> object:
    message = _classes()[kind]()
    message.ParseFromString(data)
    return message


def _graph_ops(graph: object) -> set[str]:
    return ({n.op for n in graph.node}  # type: ignore[attr-defined]
            | {n.op for fn in graph.library.function for n in fn.node_def})  # type: ignore[attr-defined]


# -- 1. .meta and frozen .pb -----------------------------------------------------------------------------------------

PB_SHAPES = ["nodes", "nodes_no_versions", "library", "unknown_7", "unknown_varint", "unknown_big"]


@pytest.mark.parametrize("op", DANGEROUS)
@pytest.mark.parametrize("shape", PB_SHAPES)
@pytest.mark.parametrize("name", ["frozen_inference_graph.pb", "model.PB", "graph.pb"])
def test_frozen_graphdef_is_read_as_a_graphdef(tmp_path: Path, shape: str, name: str, op: bytes) -> None:
    data = _pb(shape, op)
    assert op.decode() in _graph_ops(_protobuf("GraphDef", data))  # what GraphDef.ParseFromString gives TF
    (tmp_path / name).write_bytes(data)
    assert _found(tmp_path).get(TF_CRIT) == Severity.CRITICAL


@pytest.mark.parametrize("op,rule", [(b"ReadFile", TF_HIGH), (b"WriteFile", TF_CRIT), (b"PyFunc", TF_CRIT)])
@pytest.mark.parametrize("extra", [True, False])
@pytest.mark.parametrize("where", ["graph", "library"])
def test_meta_graph_file_is_read_as_a_meta_graph(tmp_path: Path, op: bytes, rule: str, extra: bool, where: str) -> None:
    if where == "graph":
        graph = _graph([_node(b"Placeholder"), _node(op)])
    else:
        graph = _graph([_node(b"Placeholder"), _node(b"f")], [_function(b"f", [_node(op)])])
    data = _meta_graph(graph, extra)
    assert op.decode() in _graph_ops(_protobuf("MetaGraphDef", data).graph_def)  # import_meta_graph's reading
    (tmp_path / "model.ckpt-1000.meta").write_bytes(data)
    assert _found(tmp_path).get(rule) == {TF_CRIT: Severity.CRITICAL, TF_HIGH: Severity.HIGH}[rule]


def test_meta_graph_text_is_read(tmp_path: Path) -> None:
    # tf.compat.v1.train.import_meta_graph falls back to text_format.Merge when ParseFromString fails.
    text = ('meta_info_def { tags: "serve" stripped_op_list { op { name: "Const" } } }\n'
            'graph_def { node { name: "p" op: "Placeholder" } node { name: "w" op: "WriteFile" } }\n'
            'saver_def { filename_tensor_name: "save/Const:0" }\n')
    from google.protobuf import text_format

    message = _classes()["MetaGraphDef"]()
    text_format.Merge(text, message, allow_unknown_field=True)
    assert "WriteFile" in _graph_ops(message.graph_def)
    (tmp_path / "model.ckpt.meta").write_text(text)
    assert _found(tmp_path).get(TF_CRIT) == Severity.CRITICAL


def test_graphdef_text_under_a_pb_name_is_read(tmp_path: Path) -> None:
    (tmp_path / "graph.pb").write_text('node { name: "w" op: "WriteFile" }\nversions { producer: 27 }\n')
    assert _found(tmp_path).get(TF_CRIT) == Severity.CRITICAL


@pytest.mark.parametrize("lead", ["zlib", "pickle"])
def test_pb_whose_first_field_looks_like_another_format_is_read_as_tf_too(tmp_path: Path, lead: str) -> None:
    # An unknown first field spelled so the sniffer takes the file for a zlib stream or a pickle: protobuf skips it.
    first = {"zlib": _v(15 << 3) + _v(0x1C), "pickle": bytes([0x80, 0x02]) + _v(0)}[lead]
    data = first + _pb("nodes")
    assert "WriteFile" in _graph_ops(_protobuf("GraphDef", data))
    (tmp_path / "frozen.pb").write_bytes(data)
    assert _found(tmp_path).get(TF_CRIT) == Severity.CRITICAL


def test_sniff_routes_tf_names() -> None:
    data = _pb("unknown_7")  # ONNX by its fields: TF's own names win
    for name in ("saved_model.pb", "x.meta", "saved_model.cpb", "keras_metadata.pb", "g.pbtxt", "Saved_Model.PB"):
        assert sniff(Source.from_bytes(data, name)).value == "tf-savedmodel", name
    assert sniff(Source.from_bytes(_pb("nodes"), "frozen.pb")).value == "tf-savedmodel"  # was sentencepiece
    # another *.pb keeps a content format (ONNX here) and is read as a TF graph too (loader._also_as_tf_graph)
    assert sniff(Source.from_bytes(data, "frozen.pb")).value == "onnx"


# -- 2. saved_model.pb with an unknown field, and its keras_metadata.pb ---------------------------------------------

def _keras_metadata(lambda_source: str) -> bytes:
    import base64
    import marshal

    module = compile(lambda_source, "<rd32>", "exec")
    code = next(c for c in module.co_consts if hasattr(c, "co_code"))
    lam = {"class_name": "Lambda", "config": {"name": "lam", "trainable": True, "dtype": "float32",
                                               "function": [base64.b64encode(marshal.dumps(code)).decode() + "\n",
                                                            None, None],
                                               "function_type": "lambda", "module": "__main__", "output_shape": None,
                                               "output_shape_type": "raw", "output_shape_module": None,
                                               "arguments": {}}}
    # SavedMetadata{nodes: SavedObject{node_id: 2, node_path: 3, identifier: 4, metadata: 5}}
    return _f(1, _v(2 << 3) + _v(1) + _f(3, b"root.layer-1") + _f(4, b"_tf_keras_layer") + _f(5, json.dumps(lam).encode()))


UNKNOWN_TOP = {
    "field_3_varint": _v(3 << 3) + _v(7),
    "field_7_len": _f(7, b""),  # with 1 and 2: sniffed as ONNX
    "field_5_len": _f(5, b"x"),
    "field_1_as_len": _f(1, b"ab") + _f(1, b"cd"),  # schema version given length-delimited: unknown to protobuf
    "field_1000": _f(1000, b"\0" * 4096),
}
ACT = "lambda x: (open('canary', 'w').close(), x)[1]"


@pytest.mark.parametrize("case", sorted(UNKNOWN_TOP))
def test_unknown_top_level_field_does_not_change_routing(tmp_path: Path, case: str) -> None:
    mg = _f(1, _f(4, b"serve")) + _f(2, _graph([_node(b"Placeholder"), _node(b"WriteFile")]))
    data = _saved_model(mg, UNKNOWN_TOP[case])
    parsed = _protobuf("SavedModel", data)
    assert "WriteFile" in _graph_ops(parsed.meta_graphs[0].graph_def)  # type: ignore[attr-defined]
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(data)
    (folder / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    found = _found(folder)
    assert found.get(TF_CRIT) == Severity.CRITICAL and found.get(LAMBDA) == Severity.CRITICAL, found


# The victim, run in a subprocess with the export folder as its argument: TF-Keras opens
# ``os.path.join(export_dir, "keras_metadata.pb")`` (links followed), protobuf parses SavedMetadata, and
# ``Lambda.from_config`` decodes ``config.function`` with Keras's ``func_load`` and calls it.
KERAS_METADATA_VICTIM = (
    "import json, os, sys\n"
    "from google.protobuf import descriptor_pb2, descriptor_pool, message_factory\n"
    "fd = descriptor_pb2.FileDescriptorProto(name='m.proto', package='m', syntax='proto3')\n"
    "o = fd.message_type.add(name='SavedObject')\n"
    "for n, i, t in (('node_id', 2, 5), ('node_path', 3, 9), ('identifier', 4, 9), ('metadata', 5, 9)):\n"
    "    o.field.add(name=n, number=i, type=t, label=1)\n"
    "m = fd.message_type.add(name='SavedMetadata')\n"
    "m.field.add(name='nodes', number=1, type=11, label=3, type_name='.m.SavedObject')\n"
    "pool = descriptor_pool.DescriptorPool(); pool.Add(fd)\n"
    "md = message_factory.GetMessageClass(pool.FindMessageTypeByName('m.SavedMetadata'))()\n"
    "md.ParseFromString(open(os.path.join(sys.argv[1], 'keras_metadata.pb'), 'rb').read())\n"
    "config = json.loads(md.nodes[0].metadata)\n"
    "from keras.src.utils.python_utils import func_load\n"
    "func_load(config['config']['function'])(1)\n"
)


def test_keras_metadata_lambda_fires_under_keras(tmp_path: Path, keras_env: dict[str, str]) -> None:
    """The victim: TF-Keras's Lambda.from_config decodes ``function`` with Keras's ``func_load`` and calls it."""
    (tmp_path / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    run = subprocess.run([sys.executable, "-c", KERAS_METADATA_VICTIM, str(tmp_path)], cwd=tmp_path, env=keras_env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "canary").exists()


def test_keras_metadata_in_an_archive_is_read(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("export/saved_model.pb", _saved_model(_f(2, _graph([_node(b"Placeholder")])), _f(7, b"")))
        z.writestr("export/keras_metadata.pb", _keras_metadata(ACT))
    (tmp_path / "export.zip").write_bytes(buf.getvalue())
    assert _found(tmp_path / "export.zip").get(LAMBDA) == Severity.CRITICAL


def test_keras_metadata_alone_is_read(tmp_path: Path) -> None:
    (tmp_path / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    assert _found(tmp_path).get(LAMBDA) == Severity.CRITICAL


def test_keras_metadata_beside_the_saved_model_is_reported_once(tmp_path: Path) -> None:
    from weightwarden.core.limits import DEFAULT_LIMITS
    from weightwarden.scan.engine import scan_paths

    (tmp_path / "saved_model.pb").write_bytes(_saved_model(_f(2, _graph([_node(b"Placeholder")]))))
    (tmp_path / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    report = scan_paths([str(tmp_path)], workers=1, limits=DEFAULT_LIMITS)
    assert [f.rule_id for f in report.findings].count(LAMBDA) == 1


# -- 3. saved_model.cpb ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"\x83\xaf\x70\xd1\x0d\x88\x4a\x3f" + b"\0" * 56, b"not riegeli"])
def test_chunked_saved_model_fails_closed(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "saved_model.cpb").write_bytes(content or b"\0")
    found = _found(tmp_path)  # the entry's error: a scan error, high (WW-GEN-003 in the reports)
    assert found.get(UNREADABLE) == Severity.HIGH or found.get("error") == Severity.HIGH, found


def test_chunked_saved_model_still_reads_keras_metadata(tmp_path: Path) -> None:
    (tmp_path / "saved_model.cpb").write_bytes(b"\0" * 64)
    (tmp_path / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    assert _found(tmp_path).get(LAMBDA) == Severity.CRITICAL


# -- the floor: a TF name no reading accepts, and benign controls ---------------------------------------------------

@pytest.mark.parametrize("name", ["model.meta", "frozen.pb"])
def test_tf_name_no_reading_accepts_is_medium(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x0a\x05abc")  # a length running past the end: no message parses
    found = _found(tmp_path)
    assert found.get(UNVERIFIED) == Severity.MEDIUM or found.get(UNREADABLE) == Severity.HIGH, found


CLEAN_OPS = [_node(b"Placeholder"), _node(b"Const", pad=4096), _node(b"MatMul"), _node(b"Relu"), _node(b"Identity")]


@pytest.mark.parametrize("case", ["frozen", "frozen_library", "meta", "meta_extra", "saved_model", "saved_model_ops"])
def test_benign_tf_files_stay_clean(tmp_path: Path, case: str) -> None:
    graph = _graph(CLEAN_OPS, [_function(b"__inference_f_12", [_node(b"Identity")])] if "library" in case else [])
    data, name = {
        "frozen": (graph, "frozen_inference_graph.pb"),
        "frozen_library": (graph, "graph.pb"),
        "meta": (_meta_graph(graph, False), "model.ckpt.meta"),
        "meta_extra": (_meta_graph(graph, True), "model.ckpt.meta"),
        "saved_model": (_saved_model(_meta_graph(graph, True)), "saved_model.pb"),
        # stripped_op_list with op names an other reading would see as a node's op: still no node there
        "saved_model_ops": (_saved_model(_f(1, _f(2, _op_list(b"WriteFile")) + _f(4, b"serve")) + _f(2, graph)),
                            "saved_model.pb"),
    }[case]
    (tmp_path / name).write_bytes(data)
    assert _found(tmp_path) == {}


def test_benign_text_graph_and_onnx_pb_stay_clean(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "g", [x], [y]))
    (tmp_path / "model.pb").write_bytes(model.SerializeToString())
    (tmp_path / "graph.pb").write_text('node { name: "x" op: "Placeholder" }\nversions { producer: 27 }\n')
    assert _found(tmp_path) == {}


UNITY_META = ("fileFormatVersion: 2\nguid: 3f2a9c1e5b7d4e8f9a0b1c2d3e4f5a6b\nScriptedImporter:\n"
              "  internalIDToNameTable: []\n  externalObjects: {}\n  serializedVersion: 2\n  userData: \n"
              "  script: {fileID: 11500000, guid: 683b6cb6d0a474744822c888b46772c9, type: 3}\n")


def test_plain_text_meta_that_no_tf_parser_takes_is_clean(tmp_path: Path) -> None:
    """A Unity asset's YAML ``.meta`` beside an ONNX model: protobuf rejects it as wire bytes of any message (an
    empty message, every field unknown, fails too) and text format rejects it, so ``import_meta_graph`` fails on it:
    no TF file, no "could not be verified"."""
    from google.protobuf import empty_pb2, text_format
    from google.protobuf.message import DecodeError

    with pytest.raises(DecodeError):
        empty_pb2.Empty().ParseFromString(UNITY_META.encode())
    with pytest.raises(text_format.ParseError):
        text_format.Merge(UNITY_META, _classes()["MetaGraphDef"]())
    (tmp_path / "model.onnx.meta").write_text(UNITY_META)
    assert _found(tmp_path) == {}


@pytest.mark.parametrize("data", [
    b"\x0b\x10\x01\x0c",  # a group (wire type 3) protobuf keeps as an unknown field and this walker rejects
    b"fileFormatVersion: 2\n\x01",  # a control character: not plain text
])
def test_meta_protobuf_takes_or_not_plain_text_stays_unverified(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "model.meta").write_bytes(data)
    found = _found(tmp_path)
    assert found.get(UNVERIFIED) == Severity.MEDIUM or found.get(UNREADABLE) == Severity.HIGH, found
