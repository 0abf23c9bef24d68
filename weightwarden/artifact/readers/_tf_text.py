"""TensorFlow protobuf *text format* (``saved_model.pbtxt``, GraphDef ``*.pbtxt``) turned into wire bytes.

Red team round 31 (class: a loader's alternate serialisation of a known format has no reader): TF's
``loader_impl.parse_saved_model`` (and the C++ ``ReadSavedModel``) read ``saved_model.pbtxt`` with protobuf's
``text_format.Merge`` when ``saved_model.pb`` is absent, and ``tf.io.write_graph(as_text=True)`` writes a
GraphDef as text that users merge back and import. The scanner read both as plain text (0 findings).

Decision: parse the text with protobuf's own ``text_format.Merge`` (the parser TF uses, so string
concatenation, escapes, comments and "last value wins" are exactly its) into a small schema holding the
fields the wire reader (:mod:`.savedmodel`) judges, with TF's field names and numbers, then serialise it and
hand the wire bytes to the same walk. Unknown fields (``attr``, ``versions``, tensor values, ...) are skipped
by the parser; the wire reader never looks at them either. No TensorFlow/tensorboard dependency: protobuf is
already a core dependency.

Red team round 33: that schema is partial and parsed with ``allow_unknown_field``, so the fields it lacks go through
protobuf's unknown-field *skipper*, whose grammar is smaller than the known-field parser TF uses with its full schema
(``attr [ {...}, {...} ]``, a repeated message field in list syntax without a colon, fails the skipper). A failed
parse here therefore never means "TF cannot parse it". Two helpers read the text the way TF's own parser must:
:func:`rules_out_tf_text` (a positive test: TF's strict parser fails at the first token) and :func:`op_values` (a
token-level reading of every ``op`` value, used when the exact reading fails).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

_STR, _I64, _MSG = 9, 3, 11  # FieldDescriptorProto.Type
_OPT, _REP = 1, 3  # FieldDescriptorProto.Label

# message -> (field name, number, type, label, message type); names and numbers from TF's .proto files.
_SCHEMA: dict[str, tuple[tuple[str, int, int, int, str | None], ...]] = {
    "SavedModel": (("saved_model_schema_version", 1, _I64, _OPT, None),
                   ("meta_graphs", 2, _MSG, _REP, "MetaGraphDef")),
    "MetaGraphDef": (("meta_info_def", 1, _MSG, _OPT, "MetaInfoDef"), ("graph_def", 2, _MSG, _OPT, "GraphDef"),
                     ("signature_def", 5, _MSG, _REP, "SignatureEntry"),
                     ("asset_file_def", 6, _MSG, _REP, "AssetFileDef"),
                     ("object_graph_def", 7, _MSG, _OPT, "SavedObjectGraph")),
    "MetaInfoDef": (("meta_graph_version", 1, _STR, _OPT, None), ("tags", 4, _STR, _REP, None),
                    ("tensorflow_version", 5, _STR, _OPT, None), ("tensorflow_git_version", 6, _STR, _OPT, None)),
    "SignatureEntry": (("key", 1, _STR, _OPT, None),),  # map<string, SignatureDef>: text form is a key/value entry
    "GraphDef": (("node", 1, _MSG, _REP, "NodeDef"), ("library", 2, _MSG, _OPT, "FunctionDefLibrary")),
    "NodeDef": (("name", 1, _STR, _OPT, None), ("op", 2, _STR, _OPT, None), ("input", 3, _STR, _REP, None),
                ("device", 4, _STR, _OPT, None)),
    "FunctionDefLibrary": (("function", 1, _MSG, _REP, "FunctionDef"),),
    "FunctionDef": (("signature", 1, _MSG, _OPT, "OpDef"), ("node_def", 3, _MSG, _REP, "NodeDef")),
    "OpDef": (("name", 1, _STR, _OPT, None),),
    "AssetFileDef": (("filename", 2, _STR, _OPT, None),),
    "SavedObjectGraph": (("nodes", 1, _MSG, _REP, "SavedObject"),),
    "SavedObject": (("user_object", 4, _MSG, _OPT, "SavedUserObject"),),
    "SavedUserObject": (("identifier", 1, _STR, _OPT, None), ("metadata", 3, _STR, _OPT, None)),
}


@functools.cache
def _classes() -> dict[str, Any]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FileDescriptorProto(name="weightwarden_tf_text.proto", package="weightwarden_tf_text",
                                            syntax="proto3")
    for name, fields in _SCHEMA.items():
        message = fd.message_type.add(name=name)
        for fname, number, ftype, label, tname in fields:
            field = message.field.add(name=fname, number=number, type=ftype, label=label)  # type: ignore[arg-type]
            if tname:
                field.type_name = f".weightwarden_tf_text.{tname}"
    pool = descriptor_pool.DescriptorPool()  # a private pool: no clash with TF's or onnx's registered names
    pool.Add(fd)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"weightwarden_tf_text.{name}"))
            for name in MESSAGE_TYPES}


# The messages a TF protobuf file can be (red team round 32): ``saved_model.pb(txt)``, a ``.meta`` file, a GraphDef.
MESSAGE_TYPES = ("SavedModel", "MetaGraphDef", "GraphDef")


def text_to_wire(text: str, message_type: str) -> bytes:
    """Wire bytes of the ``message_type`` message (one of :data:`MESSAGE_TYPES`) parsed from ``text``.

    Raises ``ValueError`` (protobuf's ``ParseError``) on text TF could not parse either.
    """
    from google.protobuf import text_format

    message = _classes()[message_type]()
    text_format.Merge(text, message, allow_unknown_field=True, allow_unknown_extension=True)
    return bytes(message.SerializeToString())


# The top-level field names of every message a TF loader reads a file as (red team round 33), from TF's .proto files:
# tensorflow/core/protobuf/saved_model.proto (SavedModel), tensorflow/core/protobuf/meta_graph.proto (MetaGraphDef)
# and tensorflow/core/framework/graph.proto (GraphDef; ``version`` is deprecated but still parsed). TF's text parser
# (``text_format.Merge``, no ``allow_unknown_field``, no field numbers; none of these fields is a group) accepts
# nothing else as the first field of such a file.
TOP_LEVEL_FIELDS = frozenset({
    "saved_model_schema_version", "meta_graphs",  # SavedModel
    "meta_info_def", "graph_def", "saver_def", "collection_def", "signature_def", "asset_file_def",
    "object_graph_def",  # MetaGraphDef
    "node", "versions", "version", "library", "debug_info",  # GraphDef
})
# A plain identifier: what both protobuf tokenizers (Python's and C++'s) read as one whole field name. Python's
# tokenizer also keeps ``+``/``-`` in an identifier token and C++'s does not: such a token is never taken as proof.
_PLAIN_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _tokenizer(text: str) -> Any:
    from google.protobuf import text_format

    # What text_format.Merge does with a str: split at line feeds, then protobuf's own tokenizer (its whitespace,
    # ``#`` comments, quoting, escapes and string concatenation are then exactly TF's).
    return text_format.Tokenizer(text.split("\n"))


def rules_out_tf_text(text: str) -> bool:
    """True only when TF's own strict text parser must fail on ``text`` at its FIRST token, whatever message it reads
    (SavedModel, MetaGraphDef, GraphDef): after whitespace and ``#`` comments comes a plain identifier that is no
    top-level field name of any of them (a Unity YAML ``.meta`` starts ``fileFormatVersion:``). An empty text, a
    ``[`` (an extension or Any), a number, a string or a field name TF knows prove nothing: False."""
    token = _tokenizer(text).token
    return bool(_PLAIN_IDENTIFIER.match(token)) and token not in TOP_LEVEL_FIELDS


def op_values(text: str) -> Iterator[str]:
    """Every string value given to a field named ``op`` anywhere in ``text``, read with protobuf's tokenizer (so
    ``"Py" "Func"``, ``'\\x50yFunc'`` and strings split by comments decode as TF decodes them; a comment or a
    string holding ``op: "X"`` is no field). Approximate and conservative: no schema, so an ``op`` of any message at
    any depth is taken, a list ``op: ["A", "B"]`` (which TF rejects for a singular field) too; a string that does
    not decode is skipped (TF's parse fails on it). Every token is read once: linear in the text."""
    from google.protobuf import text_format

    tokens = _tokenizer(text)
    while not tokens.AtEnd():
        if tokens.token != "op":
            tokens.NextToken()
            continue
        tokens.NextToken()
        tokens.TryConsume(":")
        listed = tokens.TryConsume("[")
        while tokens.token[:1] in ("'", '"'):
            try:
                value = tokens.ConsumeByteString()  # adjacent strings concatenated, escapes decoded
            except text_format.ParseError:
                tokens.NextToken()  # a string missing its end quote or with a bad escape: TF fails on it too
                break
            yield value.decode("utf-8", errors="replace")
            if not (listed and tokens.TryConsume(",")):
                break


__all__ = ["MESSAGE_TYPES", "TOP_LEVEL_FIELDS", "op_values", "rules_out_tf_text", "text_to_wire"]
