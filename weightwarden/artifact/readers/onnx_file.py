"""Reader for ONNX models: operators, custom domains, functions, initializers and external data.

How it reads without loading tensor bytes: the ``ModelProto`` is walked at the wire level
(:mod:`._protostream`) down to the main graph's initializers, whose name, type, shape, byte range and
external-data entries are taken from their headers while ``raw_data`` is stepped over. The rest of the model
(nodes, subgraphs, functions, opsets, metadata) is re-assembled without those initializers — a few kilobytes
to megabytes — and parsed by the ``onnx`` package (``load_model_from_string``, no external data is loaded).
That stripped structure is bounded by ``limits.max_header_bytes``. External data is then collected from every
other TensorProto of the parsed structure (node attributes, subgraphs, functions, training_info: red team round 30),
since onnx's loader reads them all.

Code objects:
    ONNX_OP: one per (scope, domain, op_type) outside the standard domains (``""``, ``ai.onnx``,
        ``ai.onnx.ml``, ``ai.onnx.training``, ``ai.onnx.preview.training``); location ``"graph"``,
        ``"function:<domain>.<name>"`` or ``"training_info[<i>]"`` (subgraphs of If/Loop/Scan count with the
        graph that holds them); details ``domain``, ``op_type``, ``count`` and ``local_function`` (True when
        the model itself defines that function, so the op expands to a body that is reported on its own).
    EXTERNAL_REF: one per distinct external-data location; details ``path`` (as written in the model),
        ``tensor`` (first tensor that uses it), ``tensor_count``, ``resolved`` (absolute path, when the model
        is a file on disk).

Metadata: ``onnx_ir_version``, ``onnx_producer``, ``onnx_opset_imports`` (domain -> version),
``onnx_functions``, ``onnx_node_count``, ``onnx_metadata_props`` (bounded).

Anomaly codes:
    onnx.external_data_escape: an external-data location that is absolute, contains "..", or leaves the
        model folder.
    onnx.external_data_missing: an external-data file that does not exist next to the model (or no location).
    onnx.external_data_out_of_bounds: external offset + length past the end of the data file.
    limits.header_too_large: the model's structure (without initializer data) exceeds max_header_bytes.
        Also (red team round 31): an initializer's ``external_data`` key or value, or packed ``dims``, past the
        reader's 1 MiB bound; it was not read and could not be verified (never silently dropped).
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from typing import Any, BinaryIO

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, FileEntry, Format, TensorInfo
from weightwarden.artifact.protowire import I32, I64, LEN, VARINT
from weightwarden.artifact.readers._protostream import (
    INLINE_BYTES,
    Field,
    WireError,
    encode_len_field,
    encode_varint,
    iter_stream_fields,
    packed_varints,
    read_field,
    read_string,
)
from weightwarden.artifact.siblings import loader_path
from weightwarden.artifact.source import Source

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"})
MAX_FIELDS = 50_000_000
MAX_NODES = 10_000_000
MAX_META = 64
DATA_LOCATION_EXTERNAL = 1

# ModelProto / GraphProto / TensorProto field numbers (onnx/onnx.proto).
MODEL_GRAPH = 7
GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER = 5, 15
T_DIMS, T_DATA_TYPE, T_NAME, T_RAW_DATA, T_EXTERNAL_DATA, T_DATA_LOCATION = 1, 2, 8, 9, 13, 14
SPARSE_VALUES, SPARSE_INDICES, SPARSE_DIMS = 1, 2, 3


class _Stripped:
    """Bytes of the model without main-graph initializers, plus what those initializers declared."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.parts: list[bytes] = []
        self.size = 0
        self.tensors: list[TensorInfo] = []
        self.externals: list[tuple[str, dict[str, str]]] = []  # (tensor name, external_data entries)
        self.not_read: list[tuple[str, str]] = []  # (where, what): fields past a reader bound (round 31)

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.budget:
            raise _TooLarge(f"model structure without initializer data exceeds {self.budget} bytes")
        self.parts.append(data)


class _TooLarge(Exception):
    pass


@functools.cache
def _onnx_pb2() -> Any:
    """The ``ModelProto`` schema: onnx's generated protobuf module, loaded on its own.

    ``import onnx`` costs seconds (its helpers import ml_dtypes and numpy); the reader needs only the
    message classes of ``onnx/onnx_ml_pb2.py``, which depend on protobuf alone. Loading that file under a
    private name registers the same descriptors ``import onnx`` would, so both can live in one process.
    """
    from weightwarden.artifact._submodule import load_submodule

    return load_submodule("onnx", "onnx_ml_pb2.py", "_weightwarden_onnx_ml_pb2",
                          install_hint="reading ONNX models needs the onnx package")


# TensorProto.DataType codes (onnx/onnx.proto) -> the dtype names onnx.helper.tensor_dtype_to_np_dtype gives.
_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "object",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128",
    16: "bfloat16", 17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2", 20: "float8_e5m2fnuz",
    21: "uint4", 22: "int4", 23: "float4_e2m1fn", 24: "float8_e8m0fnu", 25: "uint2", 26: "int2",
}


def read(source: Source, ctx: ReadContext) -> FileEntry:
    """Read an ONNX model (see the module docstring)."""
    pb2 = _onnx_pb2()

    entry = FileEntry(source.display, Format.ONNX, source.size)
    stripped = _Stripped(ctx.limits.max_header_bytes)
    try:
        with source.open() as f:
            _strip_model(f, source.size, stripped)
    except WireError as exc:
        entry.error = f"malformed ONNX protobuf: {exc}"
        return entry
    except _TooLarge as exc:
        entry.error = str(exc)
        entry.anomalies.append(Anomaly("limits.header_too_large", source.display, str(exc)))
        return entry
    try:
        model = pb2.ModelProto()
        model.ParseFromString(b"".join(stripped.parts))
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and others on hostile bytes
        entry.error = f"malformed ONNX protobuf: {_describe(exc)}"
        return entry
    entry.tensors.extend(stripped.tensors)
    for where, what in stripped.not_read:
        entry.anomalies.append(Anomaly("limits.header_too_large", where,
                                       f"{what} exceeds the reader's bound: not read, could not be verified"))
    externals = list(stripped.externals)
    _metadata(model, entry)
    _operators(model, entry)
    _tensor_externals(model, externals)
    _external_refs(externals, source, entry)
    return entry


def _strip_model(f: BinaryIO, size: int, out: _Stripped) -> None:
    for field in iter_stream_fields(f, 0, size, MAX_FIELDS):
        if field.number == MODEL_GRAPH and field.wire == LEN:
            graph = _Stripped(out.budget - out.size)
            _strip_graph(f, field, graph)
            out.add(encode_len_field(MODEL_GRAPH, b"".join(graph.parts)))
            out.tensors.extend(graph.tensors)
            out.externals.extend(graph.externals)
            out.not_read.extend(graph.not_read)
        else:
            out.add(_reencode(f, field, out.budget - out.size))


def _strip_graph(f: BinaryIO, graph_field: Field, out: _Stripped) -> None:
    end = graph_field.offset + graph_field.length
    for field in iter_stream_fields(f, graph_field.offset, end, MAX_FIELDS):
        if field.number == GRAPH_INITIALIZER and field.wire == LEN:
            _tensor_header(f, field, out, prefix="")
        elif field.number == GRAPH_SPARSE_INITIALIZER and field.wire == LEN:
            _sparse_header(f, field, out)
        else:
            out.add(_reencode(f, field, out.budget - out.size))


def _tensor_header(f: BinaryIO, field: Field, out: _Stripped, prefix: str) -> tuple[str, str, tuple[int, ...]]:
    name, dtype_code, dims = "", 0, []
    start = end = None
    external: dict[str, str] = {}
    location = 0
    for sub in iter_stream_fields(f, field.offset, field.offset + field.length, MAX_FIELDS):
        if sub.number == T_NAME and sub.wire == LEN:
            name = read_string(f, sub)
        elif sub.number == T_DATA_TYPE and sub.wire == VARINT:
            dtype_code = sub.value or 0
        elif sub.number == T_DIMS and sub.wire == VARINT:
            dims.append(_signed(sub.value or 0))
        elif sub.number == T_DIMS and sub.wire == LEN:
            if sub.length <= INLINE_BYTES:
                dims.extend(_signed(v) for v in packed_varints(read_field(f, sub)))
            else:
                out.not_read.append((f"{prefix}{name}", f"packed dims of {sub.length} bytes"))
        elif sub.number == T_RAW_DATA and sub.wire == LEN:
            start, end = sub.offset, sub.offset + sub.length
        elif sub.number == T_EXTERNAL_DATA and sub.wire == LEN:
            # Red team round 31 (class C): an entry over INLINE_BYTES was dropped, so a 1 MiB "location" that onnx
            # keeps (the last one wins) was never judged. The entry is now streamed: a short key is read, and a value
            # past the bound is a "not read" anomaly (high), never a silently skipped field.
            key, value, too_long = _stream_string_pair(f, sub)
            if too_long:
                out.not_read.append((f"{prefix}{name}", f"external_data {key[:64]!r} value of {too_long} bytes"))
            external[key] = value
        elif sub.number == T_DATA_LOCATION and sub.wire == VARINT:
            location = sub.value or 0
    shown = f"{prefix}{name}"
    dtype = _dtype_name(dtype_code)
    if location == DATA_LOCATION_EXTERNAL or external:
        out.externals.append((shown, external))
        start = end = None
    out.tensors.append(TensorInfo(shown, dtype, tuple(dims), start, end))
    return shown, dtype, tuple(dims)


def _sparse_header(f: BinaryIO, field: Field, out: _Stripped) -> None:
    dims: list[int] = []
    first = len(out.tensors)
    for sub in iter_stream_fields(f, field.offset, field.offset + field.length, MAX_FIELDS):
        if sub.number in (SPARSE_VALUES, SPARSE_INDICES) and sub.wire == LEN:
            _tensor_header(f, sub, out, prefix="sparse:" if sub.number == SPARSE_VALUES else "sparse-indices:")
        elif sub.number == SPARSE_DIMS and sub.wire == VARINT:
            dims.append(_signed(sub.value or 0))
        elif sub.number == SPARSE_DIMS and sub.wire == LEN:
            if sub.length <= INLINE_BYTES:
                dims.extend(_signed(v) for v in packed_varints(read_field(f, sub)))
            else:
                out.not_read.append(("sparse initializer", f"packed dims of {sub.length} bytes"))
    if first < len(out.tensors) and dims:
        t = out.tensors[first]
        out.tensors[first] = TensorInfo(t.name, t.dtype, tuple(dims), t.start, t.end)


def _reencode(f: BinaryIO, field: Field, budget: int) -> bytes:
    key = encode_varint((field.number << 3) | field.wire)
    if field.wire == LEN:
        if field.length > budget:
            raise _TooLarge(f"field {field.number} of {field.length} bytes exceeds the structure budget")
        return key + encode_varint(field.length) + read_field(f, field)
    if field.wire == VARINT:
        return key + encode_varint(field.value or 0)
    if field.wire == I64:
        return key + (field.value or 0).to_bytes(8, "little")
    if field.wire == I32:
        return key + (field.value or 0).to_bytes(4, "little")
    raise WireError(f"unsupported wire type {field.wire}")


def _stream_string_pair(f: BinaryIO, entry_field: Field) -> tuple[str, str, int]:
    """A StringStringEntryProto read from the stream: (key, value, length of a value too long to read or 0).

    Repeated ``key``/``value`` fields: the last wins, as in protobuf."""
    key = value = ""
    too_long = 0
    end = entry_field.offset + entry_field.length
    for sub in iter_stream_fields(f, entry_field.offset, end, MAX_FIELDS):
        if sub.wire != LEN or sub.number not in (1, 2):
            continue
        text = read_string(f, sub, INLINE_BYTES)
        if sub.length > INLINE_BYTES:
            too_long = max(too_long, sub.length)
        if sub.number == 1:
            key = text
        else:
            value = text
    return key, value, too_long


def _string_pair(data: bytes) -> tuple[str, str]:
    from weightwarden.artifact.protowire import iter_fields

    key = value = ""
    for number, wire, v in iter_fields(data):
        if wire == LEN and number == 1:
            key = bytes(v).decode("utf-8", errors="replace")  # type: ignore[arg-type]
        elif wire == LEN and number == 2:
            value = bytes(v).decode("utf-8", errors="replace")  # type: ignore[arg-type]
    return key, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _dtype_name(code: int) -> str:
    name = _DTYPES.get(code)
    if name is not None:
        return name
    try:
        return str(_onnx_pb2().TensorProto.DataType.Name(code)).lower()
    except ValueError:
        return f"onnx-type-{code}"


def _metadata(model: Any, entry: FileEntry) -> None:
    md = entry.metadata
    md["onnx_ir_version"] = int(model.ir_version)
    if model.producer_name or model.producer_version:
        md["onnx_producer"] = f"{model.producer_name} {model.producer_version}".strip()[:200]
    opsets: dict[str, int] = {}
    for op in model.opset_import[:MAX_META]:
        opsets[op.domain or "ai.onnx"] = int(op.version)
    md["onnx_opset_imports"] = opsets
    if model.functions:
        md["onnx_functions"] = [f"{fn.domain}.{fn.name}" for fn in model.functions[:MAX_META]]
    props = {p.key[:200]: p.value[:200] for p in model.metadata_props[:MAX_META]}
    if props:
        md["onnx_metadata_props"] = props


def _operators(model: Any, entry: FileEntry) -> None:
    local_functions = {(fn.domain, fn.name) for fn in model.functions}
    scopes: list[tuple[str, Any, bool]] = [("graph", model.graph.node, False)]
    # Only the main graph's initializers were stripped; subgraphs keep theirs in the parsed model.
    pending_graphs: list[tuple[str, Any]] = []
    for i, info in enumerate(model.training_info):
        pending_graphs.append((f"training_info[{i}]", info.initialization))
        pending_graphs.append((f"training_info[{i}]", info.algorithm))
    for fn in model.functions:
        scopes.append((f"function:{fn.domain}.{fn.name}", fn.node, False))
    counts: dict[str, Counter[tuple[str, str]]] = {}
    total = 0
    work: list[tuple[str, Any]] = [(scope, nodes) for scope, nodes, _ in scopes]
    for scope, graph in pending_graphs:
        _graph_tensors(graph, scope, entry)
        work.append((scope, graph.node))
    while work:
        scope, nodes = work.pop()
        counter = counts.setdefault(scope, Counter())
        for node in nodes:
            total += 1
            if total > MAX_NODES:
                entry.anomalies.append(
                    Anomaly("limits.header_too_large", scope, f"more than {MAX_NODES} nodes; the rest were not read")
                )
                work.clear()
                break
            counter[(node.domain or "", node.op_type)] += 1
            for attr in node.attribute:
                subgraphs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
                for sub in subgraphs:
                    _graph_tensors(sub, f"{scope}/{node.name or node.op_type}", entry)
                    work.append((scope, sub.node))
    entry.metadata["onnx_node_count"] = total
    for scope in sorted(counts):
        for (domain, op_type), count in sorted(counts[scope].items()):
            if domain in STANDARD_DOMAINS:
                continue
            entry.code.append(
                CodeObject(
                    CodeKind.ONNX_OP,
                    scope,
                    text=f"{domain}::{op_type}"[:300],
                    details={
                        "domain": domain,
                        "op_type": op_type,
                        "count": count,
                        "local_function": (domain, op_type) in local_functions,
                    },
                )
            )


def _graph_tensors(graph: Any, scope: str, entry: FileEntry) -> None:
    """List a subgraph's initializers as tensors (their external data is collected by :func:`_tensor_externals`)."""
    tensors = list(graph.initializer) + [s.values for s in graph.sparse_initializer]
    tensors += [s.indices for s in graph.sparse_initializer]
    for t in tensors:
        entry.tensors.append(TensorInfo(f"{scope}:{t.name}", _dtype_name(t.data_type), tuple(int(d) for d in t.dims)))


@functools.cache
def _tensor_holders() -> frozenset[str]:
    """The message types of the ONNX schema that are a ``TensorProto`` or can hold one at any depth: decided on the
    schema (a fixed point over every type reachable from ``ModelProto``), so a field onnx adds later is followed
    too, and types that cannot hold a tensor (value infos, type protos, string pairs) are never visited."""
    pb2 = _onnx_pb2()
    types: dict[str, Any] = {}
    todo = [pb2.ModelProto.DESCRIPTOR]
    while todo:
        d = todo.pop()
        if d.full_name in types:
            continue
        types[d.full_name] = d
        todo.extend(f.message_type for f in d.fields if f.message_type is not None)
    holders = {pb2.TensorProto.DESCRIPTOR.full_name}
    grew = True
    while grew:
        grew = False
        for name, d in types.items():
            if name not in holders and any(f.message_type is not None and f.message_type.full_name in holders
                                           for f in d.fields):
                holders.add(name)
                grew = True
    return frozenset(holders)


def _tensor_externals(model: Any, externals: list[tuple[str, dict[str, str]]]) -> None:
    """Every ``TensorProto`` in the parsed model that declares external data, wherever it is (red team round 30).

    The loader (``onnx.load``'s ``load_external_data_for_model``, via ``_get_all_tensors``) and runtimes read
    external data of every tensor: initializers, but also node attributes (a Constant's ``value``, ``tensors``,
    ``sparse_tensor(s)``), in If/Loop/Scan subgraphs at any depth, in model functions (their nodes and default
    attributes) and in training_info. Only initializers were checked before, so an attribute tensor pointing outside
    the folder had no finding. This walks every message field generically (only the types that can hold a tensor),
    so no location is left to a list. The main graph's own initializers were stripped and are collected at the wire
    level already (not present here, so never counted twice). Iterative: subgraph depth does not use the stack."""
    from google.protobuf.message import Message

    external = _onnx_pb2().TensorProto.EXTERNAL
    if not _any_external(model, external):
        return  # the usual model: one quick pass, no labels
    # (message, path): the path is a linked chain (parent path, field, index, repeated, message), made a string only
    # for a tensor that has external data, so a 100k-node graph costs one visit per message and no label.
    work: list[tuple[Any, Any]] = [(model, None)]
    while work:
        message, path = work.pop()
        descriptor = message.DESCRIPTOR
        if descriptor.name == "TensorProto":
            if message.data_location == external or len(message.external_data):
                label = _label(path)
                name = f"{label}:{message.name}" if message.name else label
                externals.append((name, {e.key: e.value for e in message.external_data}))
            continue
        for field in _tensor_fields(descriptor):
            value = getattr(message, field)
            if isinstance(value, Message):  # a singular field: only when set (reading it does not set it)
                if message.HasField(field):
                    work.append((value, (path, field, 0, False, value)))
            else:
                work.extend((item, (path, field, i, True, item)) for i, item in enumerate(value))


def _any_external(model: Any, external: int) -> bool:
    """Whether any TensorProto of ``model`` declares external data: the walk of :func:`_tensor_externals` without
    paths, a repeated field taken as one work item: a 100k-node graph costs ~0.06 s here against ~0.45 s for the
    labelled walk, which runs only when this finds something (measured 2026-12-07, load ~3.3)."""
    from google.protobuf.message import Message

    work: list[Any] = [(model,)]
    while work:
        for message in work.pop():
            descriptor = message.DESCRIPTOR
            if descriptor.name == "TensorProto":
                if message.data_location == external or len(message.external_data):
                    return True
                continue
            for field in _tensor_fields(descriptor):
                value = getattr(message, field)
                if isinstance(value, Message):
                    if message.HasField(field):
                        work.append((value,))
                elif value:
                    work.append(value)
    return False


@functools.cache
def _tensor_fields(descriptor: Any) -> tuple[str, ...]:
    """The fields of a message type whose type can hold a tensor (:func:`_tensor_holders`)."""
    holders = _tensor_holders()
    return tuple(f.name for f in descriptor.fields if f.message_type is not None and f.message_type.full_name in holders)


def _label(path: Any) -> str:
    """A readable location for a finding, from the chain :func:`_tensor_externals` kept: names where the message has
    one (a node's name or op type, an attribute's name, a function's domain.name), else the field."""
    pieces: list[str] = []
    while path is not None:
        parent, field, index, repeated, item = path
        kind = item.DESCRIPTOR.name
        if kind == "NodeProto":
            pieces.append("/" + (item.name or item.op_type))
        elif kind == "AttributeProto" and item.name:
            pieces.append("." + item.name)
        elif kind == "FunctionProto":
            pieces.append(f"/function:{item.domain}.{item.name}")
        else:
            pieces.append(f".{field}[{index}]" if repeated else f".{field}")
        path = parent
    return "".join(reversed(pieces)).lstrip("./") or "model"


_WINDOWS_ABS = re.compile(r"^(?:[A-Za-z]:|\\\\|//)")


def _external_refs(externals: list[tuple[str, dict[str, str]]], source: Source, entry: FileEntry) -> None:
    by_location: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for tensor, info in externals:
        by_location.setdefault(info.get("location", ""), []).append((tensor, info))
    # Round 34: onnxruntime joins a location to the folder of the path it was given (a link's own name, not its
    # target: a hub-cache snapshot's model.onnx is a link into blobs/, and its data file is the snapshot's).
    own = loader_path(source.display, source.fs_path, source.fs_dir)
    base = os.path.dirname(own) if own else None
    root = os.path.abspath(source.fs_dir) if source.fs_dir else base
    for location, users in sorted(by_location.items()):
        tensor = users[0][0]
        details: dict[str, Any] = {"path": location, "tensor": tensor, "tensor_count": len(users)}
        where = f"tensor:{tensor}"
        if not location:
            entry.anomalies.append(
                Anomaly("onnx.external_data_missing", where, "external data without a location", tensor)
            )
            entry.code.append(CodeObject(CodeKind.EXTERNAL_REF, where, text=location, details=details))
            continue
        parts = re.split(r"[\\/]+", location)
        resolved = os.path.normpath(os.path.join(base, location)) if base else None
        if resolved:
            details["resolved"] = resolved
        escapes = (
            os.path.isabs(location)
            or bool(_WINDOWS_ABS.match(location))
            or ".." in parts
            or "\x00" in location
            or (resolved is not None and root is not None and not _inside(resolved, root))
        )
        entry.code.append(CodeObject(CodeKind.EXTERNAL_REF, where, text=location, details=details))
        if escapes:
            entry.anomalies.append(
                Anomaly("onnx.external_data_escape", where,
                        "external data location is absolute or leaves the model folder", location)
            )
            continue
        if resolved is None:
            continue  # an archive member: the data file is resolved by whoever extracts it
        try:
            st = os.stat(resolved)
        except OSError:
            entry.anomalies.append(
                Anomaly("onnx.external_data_missing", where, "external data file does not exist", location)
            )
            continue
        for user_tensor, info in users:
            try:
                offset = int(info.get("offset", "0") or 0)
                length = int(info["length"]) if info.get("length") else None
            except ValueError:
                entry.anomalies.append(
                    Anomaly("onnx.external_data_out_of_bounds", f"tensor:{user_tensor}",
                            "external data offset/length is not a number", f"{info.get('offset')}/{info.get('length')}")
                )
                continue
            if offset < 0 or (length is not None and (length < 0 or offset + length > st.st_size)) or offset > st.st_size:
                entry.anomalies.append(
                    Anomaly("onnx.external_data_out_of_bounds", f"tensor:{user_tensor}",
                            f"external data range past the end of {location} ({st.st_size} bytes)",
                            f"offset={offset} length={length}")
                )


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."


__all__ = ["read"]
