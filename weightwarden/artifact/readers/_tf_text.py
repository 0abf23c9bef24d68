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
"""

from __future__ import annotations

import functools
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


__all__ = ["MESSAGE_TYPES", "text_to_wire"]
