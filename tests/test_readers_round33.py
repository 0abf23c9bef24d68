"""Red team round 33 on the scanner's readers.

A. (A regression of b07294b.) The text reading of a ``.meta`` / ``.pb`` parses into a *partial* TF schema with
   ``allow_unknown_field``: the fields it lacks go through protobuf's unknown-field skipper, whose grammar is smaller
   than the known-field parser TF runs with its full schema (``attr [ {...} ]``, a repeated message field in list
   syntax without a colon, fails only the skipper). b07294b took "our text parse fails" (plus "protobuf rejects the
   bytes") for "no TF file" and returned silently, while ``import_meta_graph``'s ``text_format.Merge`` read the PyFunc
   node. Now "no TF file" needs a positive proof (TF's strict parser fails at the first token), and a text the exact
   reading rejects has every ``op`` value judged token by token.
B. ``scan export/keras_metadata.pb`` read nothing when a ``saved_model.pb`` lay beside it on disk but was not part of
   the scan; the metadata file is now always read on its own, and the SavedModel reads it only when it is not a file
   of the same scan.

TensorFlow is not installed, so TF's parser is protobuf's own ``text_format.Merge`` (what
``meta_graph.read_meta_graph_file`` and ``loader_impl.parse_saved_model`` call) into message classes built here with
the layout of TF's ``.proto`` files (maps as real map entries), strict: no ``allow_unknown_field``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from tests.test_readers_round31 import _f, _found, _node
from tests.test_readers_round32 import ACT, LAMBDA, _graph, _keras_metadata, _saved_model
from weightwarden.artifact.readers._tf_text import op_values, rules_out_tf_text, text_to_wire
from weightwarden.core.findings import Severity

TF_CRIT, TF_HIGH, TF_UNKNOWN, UNVERIFIED = "WW-TF-001", "WW-TF-002", "WW-TF-003", "WW-FS-005"
_STR, _BYTES, _I32, _I64, _BOOL, _ENUM, _MSG = 9, 12, 5, 3, 8, 14, 11
_OPT, _REP = 1, 3


@functools.cache
def _tf() -> dict[str, Any]:
    """TF's messages with their real field names, numbers and map fields (tensorflow/core/framework/{attr_value,
    node_def,function,graph,op_def,versions}.proto, tensorflow/core/protobuf/{meta_graph,saver,saved_model}.proto),
    reduced to the fields the texts below use, each exactly as TF declares it."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FileDescriptorProto(name="rd33_tf.proto", package="tensorflow", syntax="proto3")
    enum = fd.enum_type.add(name="DataType")
    for name, number in (("DT_INVALID", 0), ("DT_FLOAT", 1), ("DT_INT32", 3), ("DT_STRING", 7)):
        enum.value.add(name=name, number=number)

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]], parent: Any = None,
                map_entry: bool = False) -> Any:
        m = (parent.nested_type if parent is not None else fd.message_type).add(name=name)
        if map_entry:
            m.options.map_entry = True
        for fname, number, ftype, label, type_name in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)  # type: ignore[arg-type]
            if type_name:
                f.type_name = type_name
        return m

    def map_field(owner: Any, entry: str, value_type: int, value_name: str | None = None) -> None:
        message(entry, [("key", 1, _STR, _OPT, None), ("value", 2, value_type, _OPT, value_name)], owner, True)

    attr = message("AttrValue", [("s", 2, _BYTES, _OPT, None), ("i", 3, _I64, _OPT, None),
                                 ("type", 6, _ENUM, _OPT, ".tensorflow.DataType"),
                                 ("list", 1, _MSG, _OPT, ".tensorflow.AttrValue.ListValue")])
    message("ListValue", [("s", 2, _BYTES, _REP, None), ("type", 6, _ENUM, _REP, ".tensorflow.DataType")], attr)
    node = message("NodeDef", [("name", 1, _STR, _OPT, None), ("op", 2, _STR, _OPT, None),
                               ("input", 3, _STR, _REP, None), ("device", 4, _STR, _OPT, None),
                               ("attr", 5, _MSG, _REP, ".tensorflow.NodeDef.AttrEntry")])
    map_field(node, "AttrEntry", _MSG, ".tensorflow.AttrValue")
    message("OpDef", [("name", 1, _STR, _OPT, None)])
    function = message("FunctionDef", [("signature", 1, _MSG, _OPT, ".tensorflow.OpDef"),
                                       ("node_def", 3, _MSG, _REP, ".tensorflow.NodeDef"),
                                       ("ret", 4, _MSG, _REP, ".tensorflow.FunctionDef.RetEntry"),
                                       ("attr", 5, _MSG, _REP, ".tensorflow.FunctionDef.AttrEntry")])
    map_field(function, "RetEntry", _STR)
    map_field(function, "AttrEntry", _MSG, ".tensorflow.AttrValue")
    message("FunctionDefLibrary", [("function", 1, _MSG, _REP, ".tensorflow.FunctionDef")])
    message("VersionDef", [("producer", 1, _I32, _OPT, None), ("min_consumer", 2, _I32, _OPT, None)])
    message("GraphDef", [("node", 1, _MSG, _REP, ".tensorflow.NodeDef"),
                         ("library", 2, _MSG, _OPT, ".tensorflow.FunctionDefLibrary"),
                         ("version", 3, _I32, _OPT, None), ("versions", 4, _MSG, _OPT, ".tensorflow.VersionDef")])
    collection = message("CollectionDef", [("node_list", 1, _MSG, _OPT, ".tensorflow.CollectionDef.NodeList")])
    message("NodeList", [("value", 1, _STR, _REP, None)], collection)
    message("SaverDef", [("filename_tensor_name", 1, _STR, _OPT, None)])
    message("SignatureDef", [("method_name", 3, _STR, _OPT, None)])
    message("AssetFileDef", [("filename", 2, _STR, _OPT, None)])
    meta = message("MetaGraphDef", [
        ("meta_info_def", 1, _MSG, _OPT, ".tensorflow.MetaGraphDef.MetaInfoDef"),
        ("graph_def", 2, _MSG, _OPT, ".tensorflow.GraphDef"), ("saver_def", 3, _MSG, _OPT, ".tensorflow.SaverDef"),
        ("collection_def", 4, _MSG, _REP, ".tensorflow.MetaGraphDef.CollectionDefEntry"),
        ("signature_def", 5, _MSG, _REP, ".tensorflow.MetaGraphDef.SignatureDefEntry"),
        ("asset_file_def", 6, _MSG, _REP, ".tensorflow.AssetFileDef")])
    message("MetaInfoDef", [("meta_graph_version", 1, _STR, _OPT, None), ("tags", 4, _STR, _REP, None)], meta)
    map_field(meta, "CollectionDefEntry", _MSG, ".tensorflow.CollectionDef")
    map_field(meta, "SignatureDefEntry", _MSG, ".tensorflow.SignatureDef")
    message("SavedModel", [("saved_model_schema_version", 1, _I64, _OPT, None),
                           ("meta_graphs", 2, _MSG, _REP, ".tensorflow.MetaGraphDef")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{name}"))
            for name in ("SavedModel", "MetaGraphDef", "GraphDef")}


def _victim_ops(text: str, kind: str) -> set[str]:
    """What TF's text path loads: ``text_format.Merge`` into the full-schema message (strict), then every op of the
    graph and of its library's functions (import_graph_def instantiates both)."""
    from google.protobuf import text_format

    message = text_format.Merge(text, _tf()[kind]())
    graphs = {"SavedModel": lambda m: [g.graph_def for g in m.meta_graphs],
              "MetaGraphDef": lambda m: [m.graph_def], "GraphDef": lambda m: [m]}[kind](message)
    return ({n.op for g in graphs for n in g.node}
            | {n.op for g in graphs for fn in g.library.function for n in fn.node_def})


def _skipper_rejects(text: str, kind: str) -> bool:
    try:
        text_to_wire(text, kind)
    except Exception:  # noqa: BLE001 - protobuf's ParseError: the exact reading fails, the fallback is what is tested
        return True
    return False


# -- A. TF text syntax the skipper does not take -------------------------------------------------------------------

PYFUNC_ATTRS = ('attr [ { key: "token" value { s: "pyfunc_0" } }, { key: "Tin" value { list { } } }, '
                '{ key: "Tout" value { list { type: DT_STRING } } } ]')

# name -> (file name, message TF reads it as, text, dangerous op)
CASES: dict[str, tuple[str, str, str, str]] = {
    # the red team's PoC: an empty map in list syntax at the top, the node's attr map in list syntax
    "meta_top_and_node": ("model.ckpt.meta", "MetaGraphDef",
                          f'collection_def [ ]\ngraph_def {{\n  node {{ name: "c" op: "PyFunc" {PYFUNC_ATTRS} }}\n}}\n',
                          "PyFunc"),
    # list syntax three levels down (library > function > node_def > attr), a concatenated op name
    "meta_library_depth": ("model.ckpt-100.meta", "MetaGraphDef",
                           'graph_def { library { function [ { signature { name: "f" } node_def [ { name: "n" '
                           'op: "Py" "Func" attr [ { key: "Tin" value { list { } } } ] } ] ret [ { key: "o" '
                           'value: "n:0" } ] } ] } node { name: "call" op: "f" } }\n', "PyFunc"),
    # <...> delimiters, comments between and inside, strings split by a comment line
    "meta_angle_comments": ("export.meta", "MetaGraphDef",
                            '# written by hand\ngraph_def < # the graph\n  node < name: "w" op: \'Write\' # split\n'
                            '  \'File\' attr [ < key: "T" value < type: DT_STRING > > ] >\n>\n', "WriteFile"),
    # hex and octal escapes
    "meta_escapes": ("model.meta", "MetaGraphDef",
                     'signature_def [ { key: "serving_default" value { method_name: "x" } } ]\n'
                     'graph_def { node { op: "\\x45ager\\120y\\x46unc" attr [ ] } }\n', "EagerPyFunc"),
    # a frozen GraphDef as text under a .pb name, top-level node list, the attr map in list syntax
    "pb_graphdef": ("frozen_graph.pb", "GraphDef",
                    'versions { producer: 27 }\nnode [ { name: "x" op: "Placeholder" }, { name: "w" op: "PyFunc" '
                    f'{PYFUNC_ATTRS} }} ]\n', "PyFunc"),
    # the same under text names: still "could not be scanned", now critical too
    "pbtxt_graphdef": ("graph.pbtxt", "GraphDef", f'node {{ name: "w" op: "PyFunc" {PYFUNC_ATTRS} }}\n', "PyFunc"),
    "saved_model_pbtxt": ("saved_model.pbtxt", "SavedModel",
                          'saved_model_schema_version: 1\nmeta_graphs [ { collection_def [ ] graph_def { node { '
                          'name: "w" op: "WriteFile" } } } ]\n', "WriteFile"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tf_text_the_skipper_rejects_is_judged(tmp_path: Path, case: str) -> None:
    name, kind, text, op = CASES[case]
    assert op in _victim_ops(text, kind)  # TF's parser reads the op
    assert _skipper_rejects(text, kind)  # our exact reading does not
    (tmp_path / name).write_text(text)
    found = _found(tmp_path)
    assert found.get(TF_CRIT) == Severity.CRITICAL, found
    if not name.endswith(".pbtxt"):
        assert found.get(UNVERIFIED) == Severity.MEDIUM, found  # the exact reading failed: said so too


# Every syntax protobuf's known-field parser takes for a repeated message field (and the skipper may not), at every
# place of a MetaGraphDef, with a PyFunc node in the graph.
SYNTAXES = ["f {B}", "f: {B}", "f <B>", "f: <B>", "f [ {B} ]", "f: [ {B}, <B> ]", "f []", "f: []", "f [ {B}; ]"]
PLACES = {  # field -> (where it goes, an entry's body)
    "collection_def": ("top", 'key: "k" value { node_list { value: "v" } }'),
    "signature_def": ("top", 'key: "serving_default" value { method_name: "m" }'),
    "asset_file_def": ("top", 'filename: "vocab.txt"'),
    "attr": ("node", 'key: "T" value { type: DT_FLOAT }'),
    "ret": ("function", 'key: "o" value: "n:0"'),
    "function_attr": ("function", 'key: "_noinline" value { s: "x" }'),
}


def _meta_text(field: str, syntax: str) -> str:
    where, body = PLACES[field]
    filler = syntax.replace("f", field.removeprefix("function_"), 1).replace("B", f" {body} ")
    if "; ]" in filler:  # a separator after the last entry is TF syntax only before the closing bracket's entry
        filler = filler.replace("; ]", " ]")
    top = filler if where == "top" else ""
    node = filler if where == "node" else ""
    function = filler if where == "function" else ""
    return (f'{top}\ngraph_def {{ node {{ name: "p" op: "PyFunc" {node} }} '
            f'library {{ function {{ signature {{ name: "g" }} node_def {{ name: "n" op: "Identity" }} {function} }} }} }}\n')


@pytest.mark.parametrize("syntax", SYNTAXES)
@pytest.mark.parametrize("field", sorted(PLACES))
def test_every_repeated_message_syntax_at_every_place(tmp_path: Path, field: str, syntax: str) -> None:
    text = _meta_text(field, syntax)
    assert "PyFunc" in _victim_ops(text, "MetaGraphDef")
    (tmp_path / "model.ckpt.meta").write_text(text)
    assert _found(tmp_path).get(TF_CRIT) == Severity.CRITICAL


@pytest.mark.parametrize("text", [
    'collection_def [ ]\ngraph_def { node { name: "x" op: "Placeholder" attr [ ] } }\n',  # an allowed op only
    "collection_def [ ]\n",  # no graph at all
    '# a comment, then a map in list syntax\nsaver_def { filename_tensor_name: "s" } collection_def [ ]\n',
])
def test_tf_text_with_no_dangerous_op_is_at_least_medium(tmp_path: Path, text: str) -> None:
    _victim_ops(text, "MetaGraphDef")  # TF parses it
    assert _skipper_rejects(text, "MetaGraphDef")
    (tmp_path / "model.meta").write_text(text)
    found = _found(tmp_path)
    assert found.get(UNVERIFIED) == Severity.MEDIUM and TF_CRIT not in found, found


@pytest.mark.parametrize("text", [
    "node: 1\nfileFormatVersion: 2\n",  # YAML, but its first key is a GraphDef field: no proof
    "graph_def: [ oops\n",  # TF's field name first, then text no parser takes
    "\u00a0graph_def [ ]\n",  # a no-break space Python's tokenizer skips: TF's field first for it
    "node-x: 1\n",  # one token for Python's tokenizer, "node" for C++'s: no proof
    "[tensorflow.ext] { }\n",
    '"quoted": 1\n',
])
def test_no_tf_file_needs_a_proof(tmp_path: Path, text: str) -> None:
    assert not rules_out_tf_text(text)
    (tmp_path / "asset.meta").write_text(text)
    assert _found(tmp_path).get(UNVERIFIED) == Severity.MEDIUM


@pytest.mark.parametrize("text", [
    "fileFormatVersion: 2\nguid: 3f2a9c1e5b7d4e8f9a0b1c2d3e4f5a6b\n",
    "# comment\n  # another\nfileFormatVersion: 2\n",
    "folderAsset: yes\nDefaultImporter:\n  externalObjects: {}\n",
])
def test_unity_style_yaml_meta_is_no_tf_file(tmp_path: Path, text: str) -> None:
    from google.protobuf import text_format

    assert rules_out_tf_text(text)
    for kind in ("SavedModel", "MetaGraphDef", "GraphDef"):  # TF's strict parser fails at the first token
        with pytest.raises(text_format.ParseError, match="1:|has no field named"):
            text_format.Merge(text, _tf()[kind]())
    (tmp_path / "model.onnx.meta").write_text(text)
    assert _found(tmp_path) == {}


def test_op_values_reads_strings_as_tf_does() -> None:
    text = ('# op: "CommentedOut"\nnode { op: "Py" # split\n "Func" attr { key: "op" value { s: "op: \\"Str\\"" } } }\n'
            "node < op: '\\x57rite\\106ile' > op: \"unterminated\nop op: \"Last\"\n")
    assert list(op_values(text)) == ["PyFunc", "WriteFile", "Last"]


def test_plain_tf_text_graph_stays_exact_and_clean(tmp_path: Path) -> None:
    # honest TF text (tf.train.export_meta_graph(as_text=True) writes ``attr {``): the exact reading, no finding
    text = ('meta_info_def { tags: "serve" }\ngraph_def { node { name: "x" op: "Placeholder" attr { key: "dtype" '
            'value { type: DT_FLOAT } } } versions { producer: 27 } }\n')
    assert not _skipper_rejects(text, "MetaGraphDef")
    (tmp_path / "model.meta").write_text(text)
    assert _found(tmp_path) == {}


# -- B. keras_metadata.pb scanned without its SavedModel -----------------------------------------------------------

def _export(tmp_path: Path, saved_model: bytes | None = None) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(_saved_model(_f(2, _graph([_node(b"Placeholder")])))
                                            if saved_model is None else saved_model)
    # the bytes round 32's test_keras_metadata_lambda_fires_under_keras decodes with Keras's func_load: canary fires
    (folder / "keras_metadata.pb").write_bytes(_keras_metadata(ACT))
    return folder


def _lambdas(*paths: Path) -> int:
    from weightwarden.scan.engine import scan_paths

    report = scan_paths([str(p) for p in paths], workers=1)
    return [f.rule_id for f in report.findings].count(LAMBDA)


def test_keras_metadata_scanned_alone_beside_its_saved_model(tmp_path: Path) -> None:
    folder = _export(tmp_path)
    assert _found(folder / "keras_metadata.pb").get(LAMBDA) == Severity.CRITICAL


@pytest.mark.parametrize("targets", [["."], ["keras_metadata.pb", "saved_model.pb"], ["keras_metadata.pb", "."],
                                     ["saved_model.pb"]])
def test_keras_metadata_reported_once_whatever_is_scanned(tmp_path: Path, targets: list[str]) -> None:
    folder = _export(tmp_path)
    assert _lambdas(*(folder / t for t in targets)) == 1


@pytest.mark.parametrize("saved_model", [b"", b"\x80\x04K\x01.", b"not a protobuf"])
def test_keras_metadata_read_whatever_its_saved_model_is(tmp_path: Path, saved_model: bytes) -> None:
    # an empty or pickle-looking saved_model.pb never reaches the SavedModel reader: the metadata reads itself
    folder = _export(tmp_path, saved_model)
    assert _lambdas(folder) == 1


def test_open_artifact_reads_keras_metadata_once(tmp_path: Path) -> None:
    from weightwarden.artifact.loader import open_artifact
    from weightwarden.artifact.model import CodeKind

    artifact = open_artifact(_export(tmp_path))
    lambdas = [c for e in artifact.walk() for c in e.code
               if c.kind == CodeKind.KERAS_LAYER and c.details.get("lambda_code")]
    assert len(lambdas) == 1
