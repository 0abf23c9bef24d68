"""A minimal protobuf wire-format *writer* for hand-built TensorFlow SavedModel files in the corpus.

TensorFlow is not a dependency, so ``saved_model.pb`` files are assembled from field numbers:
``SavedModel{1: schema_version, 2: MetaGraphDef{1: MetaInfoDef{2: stripped_op_list, 4: tags,
5: tensorflow_version}, 2: GraphDef{1: NodeDef...,
2: FunctionDefLibrary{1: FunctionDef{1: OpDef{1: name}, 3: NodeDef...}}, 4: VersionDef{1: producer}}}}``;
``NodeDef{1: name, 2: op, 3: input, 4: device, 5: attr map entry{1: key, 2: AttrValue}}``.
"""

from __future__ import annotations


def varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return varint((number << 3) | 2) + varint(len(data)) + data


def attr_value_s(value: bytes | str) -> bytes:
    return field_bytes(2, value)


def attr_value_type(dtype: int) -> bytes:
    return field_varint(6, dtype)


def node(name: str, op: str, inputs: tuple[str, ...] = (), attrs: dict[str, bytes] | None = None) -> bytes:
    body = field_bytes(1, name) + field_bytes(2, op)
    for item in inputs:
        body += field_bytes(3, item)
    for key, value in (attrs or {}).items():
        body += field_bytes(5, field_bytes(1, key) + field_bytes(2, value))
    return body


def function(name: str, nodes: list[bytes]) -> bytes:
    body = field_bytes(1, field_bytes(1, name))
    for n in nodes:
        body += field_bytes(3, n)
    return body


def graph(nodes: list[bytes], functions: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    body = b"".join(field_bytes(1, n) for n in nodes)
    if functions:
        body += field_bytes(2, b"".join(field_bytes(1, f) for f in functions))
    body += field_bytes(4, field_varint(1, 1645))
    return body


def saved_model(graph_def: bytes, ops: tuple[str, ...] = (), tags: tuple[str, ...] = ("serve",)) -> bytes:
    """``ops`` fill MetaInfoDef.stripped_op_list (field 2, OpList{1: OpDef{1: name}}) as TensorFlow does."""
    op_list = b"".join(field_bytes(1, field_bytes(1, op)) for op in sorted(set(ops)))
    meta_info = field_bytes(1, "") if not ops else field_bytes(2, op_list)
    meta_info += b"".join(field_bytes(4, t) for t in tags) + field_bytes(5, "2.15.0")
    meta_graph = field_bytes(1, meta_info) + field_bytes(2, graph_def)
    return field_varint(1, 1) + field_bytes(2, meta_graph)
