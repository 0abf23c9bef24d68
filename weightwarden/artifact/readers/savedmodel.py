"""Reader for TensorFlow SavedModel ``saved_model.pb``, without TensorFlow.

Decision: the graph is read with a small protobuf wire-format walker
(:mod:`._protostream` over :mod:`weightwarden.artifact.protowire`) rather than the compiled TF protos that
ship in the ``tensorboard`` wheel. We need only a handful of fields (op names, function names, tags, asset
paths, Keras object metadata); a wire walk needs no extra dependency, steps over ``Const`` tensor values
without reading them (cost grows with the number of nodes, not their bytes) and cannot be broken by a new
TF release adding fields. Field numbers, from the TF ``.proto`` files:

- SavedModel: 1 saved_model_schema_version (int64), 2 meta_graphs (MetaGraphDef, repeated).
- MetaGraphDef: 1 meta_info_def, 2 graph_def, 3 saver_def, 4 collection_def (map), 5 signature_def (map),
  6 asset_file_def (repeated), 7 object_graph_def.
- MetaInfoDef: 1 meta_graph_version, 2 stripped_op_list, 3 any_info, 4 tags (repeated string),
  5 tensorflow_version, 6 tensorflow_git_version.
- GraphDef: 1 node (NodeDef, repeated), 2 library (FunctionDefLibrary), 3 version (deprecated), 4 versions.
- NodeDef: 1 name, 2 op, 3 input, 4 device, 5 attr (map).
- FunctionDefLibrary: 1 function (FunctionDef, repeated), 2 gradient. FunctionDef: 1 signature (OpDef:
  1 name), 3 node_def (NodeDef, repeated).
- AssetFileDef: 1 tensor_info, 2 filename. SavedObjectGraph: 1 nodes (SavedObject); SavedObject: 4
  user_object (SavedUserObject: 1 identifier, 2 version, 3 metadata — the Keras layer JSON of TF <= 2.4).

Code objects: one ``TF_OP`` per graph (``meta_graph[i]/graph``) and per library function
(``meta_graph[i]/function:<name>``), ``details = {"ops": {op: count}}``, ``text`` = the sorted op names;
nodes whose op is a library function's name are calls of that function and are listed under
``details["function_calls"]`` instead.
Keras layer metadata (``keras_metadata.pb`` next to a SavedModel on disk, or SavedUserObject metadata) goes
through :func:`keras_config.analyze_config`, so Lambda layers and module references show up as
``KERAS_LAYER`` code objects (deduplicated: every layer appears both alone and inside its model).

Text twins (red team round 31): ``saved_model.pbtxt`` (TF reads it when ``saved_model.pb`` is absent) and GraphDef
``*.pbtxt`` are parsed with protobuf's ``text_format`` (see :mod:`._tf_text`) and walked as wire bytes. Fields given
more than once are judged as protobuf merges them, or every value is judged (every ``op`` of a node).

Readings (red team round 32): TF protobufs carry no magic, so the file is read as the message its name declares
(``saved_model.pb(txt)`` a SavedModel, ``*.meta`` a MetaGraphDef, another ``*.pb``/``*.pbtxt`` a GraphDef; by content:
a SavedModel) and as each other message a TF loader reads a file as; another reading is judged when a loader could
import it (parses, has nodes, every op a registrable op name or a library function). A ``.pb``/``.meta`` whose
declared reading fails is "could not be verified" (``fs.unverified_model_file``, medium) unless it is a text proto.
Red team round 33: a text our exact reading rejects is judged token by token (every ``op`` value) and stays medium;
it counts as no TF file only when proven (plain text, no protobuf wire bytes, a first token TF's parser rejects).
``saved_model.cpb`` (riegeli, chunked) is not read: the entry's error. ``keras_metadata.pb`` scanned is read on its
own (red team round 33); a SavedModel reads the one beside it on disk unless that file is part of the same scan.

Anomaly codes:
    tf.asset_path_escape: an asset filename that is absolute or contains ".." (read into the graph at load).
    keras.bad_config: Keras metadata that is not valid JSON.
    keras.config_too_large: see keras_config.
    limits.header_too_large: more graph nodes / fields than the reader walks, or a field (name, asset path,
        meta_info_def, text file) past a reader bound; what was not read could not be verified.
"""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from typing import Any, BinaryIO

from weightwarden.artifact import protowire
from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.json_depth import ParseLimit
from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, FileEntry, Format
from weightwarden.artifact.protowire import LEN, VARINT
from weightwarden.artifact.readers._protostream import (
    INLINE_BYTES,
    Field,
    WireError,
    iter_stream_fields,
    read_field,
    read_string,
)
from weightwarden.artifact.readers.keras_config import (
    analyze_config,
    looks_like_keras_config,
    parse_json_bounded,
)
from weightwarden.artifact.siblings import read_sibling, sibling_of
from weightwarden.artifact.source import Source

MAX_FIELDS = 50_000_000
MAX_NODES = 20_000_000
MAX_FUNCTIONS = 1_000_000
MAX_TEXT_OPS = 4000  # characters of op names kept as ``text``
KERAS_METADATA_NAME = "keras_metadata.pb"
SAVED_MODEL_TEXT_NAME = "saved_model.pbtxt"
MAX_ASSET_NAME = 64 * 1024
# The names TF's SavedModel loader opens in an export folder (binary, text, chunked: red team round 32).
SAVED_MODEL_FILES = ("saved_model.pb", SAVED_MODEL_TEXT_NAME, "saved_model.cpb")
MAX_NAME = 1024  # bytes of an op / function name kept; a longer one is a "not read" anomaly (round 31)


class _State:
    def __init__(self, entry: FileEntry, limits: Any) -> None:
        self.entry = entry
        self.limits = limits
        self.nodes = 0
        self.truncated = False
        self.keras_seen: set[tuple[Any, ...]] = set()
        self.pending: list[tuple[str, Counter[str]]] = []  # op counts of the meta graph being read
        self.function_names: set[str] = set()
        self.prefix = ""  # of code locations: names the reading (round 32)
        self.readings: list[tuple[str, bool]] = []  # (message type read as, accepted)


def read(source: Source, ctx: ReadContext) -> FileEntry:
    """Read a TensorFlow protobuf file routed here by name or content (module docstring, red team round 32).

    ``saved_model.cpb`` (chunked) is not read and fails closed; ``keras_metadata.pb`` alone is read as Keras
    metadata; any other file is read as every message TF could load it as (:func:`_read_graphs`).
    """
    entry = FileEntry(source.display, Format.SAVEDMODEL, source.size)
    state = _State(entry, ctx.limits)
    name = source.display.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    folded = name.casefold()
    if folded.endswith(".cpb"):
        _chunked(entry)
    elif folded == KERAS_METADATA_NAME:
        # Red team round 33: always read on its own. It used to be skipped whenever a SavedModel lay beside it on
        # disk, so ``scan export/keras_metadata.pb`` (the SavedModel not part of the scan) read nothing; now the
        # SavedModel's reader is the one that skips it, when it is a file of the same scan (``siblings_scanned``).
        with source.open() as f:
            _keras_metadata(f.read(source.size) if source.size <= ctx.limits.max_header_bytes else None,
                            source.size, ctx, state, name)
        return entry
    else:
        _read_graphs(source, name, ctx, state)
    if folded in SAVED_MODEL_FILES and not source.siblings_scanned:
        _keras_metadata_file(source, ctx, state)  # TF-Keras reads it next to the SavedModel it revives
    return entry


def reads_itself(display: str) -> bool:
    """True for a file this reader reads as a sibling's content when it is scanned on its own (``keras_metadata.pb``,
    by the name the scan routes it under)."""
    return display.rsplit("!", 1)[-1].rsplit("/", 1)[-1].casefold() == KERAS_METADATA_NAME


def sibling_paths(display: str, loader_file: str) -> tuple[str, ...]:
    """The files a loader reads beside the file it opens as ``loader_file`` (the name the loader uses:
    :func:`..siblings.found_loader_path`, never a link's target), shown as ``display``, that this reader reads
    with it: a SavedModel's ``keras_metadata.pb`` (the path :func:`_keras_metadata_file` opens)."""
    if display.rsplit("!", 1)[-1].rsplit("/", 1)[-1].casefold() in SAVED_MODEL_FILES:
        return (os.path.join(os.path.dirname(loader_file), KERAS_METADATA_NAME),)
    return ()


# The message types a TF protobuf can be read as, and the one its name declares (red team round 32): a file
# routed by content with no TF name is read as a SavedModel first, as before.
_SAVED_MODEL_NAMES = frozenset({"saved_model.pb", SAVED_MODEL_TEXT_NAME})


def declared_type(name: str) -> str:
    """The message a TF loader reads a file of this base name as: ``saved_model.pb(txt)`` a SavedModel, ``*.meta``
    a MetaGraphDef (``import_meta_graph``), another ``*.pb`` / ``*.pbtxt`` a GraphDef (a frozen graph)."""
    folded = name.casefold()
    if folded in _SAVED_MODEL_NAMES:
        return "SavedModel"
    if folded.endswith(".meta"):
        return "MetaGraphDef"
    if folded.endswith((".pb", ".pbtxt")):
        return "GraphDef"
    return "SavedModel"


def _name_is_a_guess(name: str) -> bool:
    """``*.meta`` and other ``*.pb`` files: the name says TF but not for sure which message (or that it is TF's at
    all: caffe2 and others write ``.pb`` too), so a declared reading that fails is "could not be verified"
    (medium), not an unreadable SavedModel (high)."""
    folded = name.casefold()
    return folded not in _SAVED_MODEL_NAMES and folded.endswith((".meta", ".pb"))


def _read_graphs(source: Source, name: str, ctx: ReadContext, state: _State) -> None:
    """Red team round 32: TF protobufs carry no magic, so a reading chosen from the bytes' shape is a guess an
    unknown field or a renamed message moves. The file is read as the message its name declares (everything that
    reading finds is reported, its failure too), then as every other message TF loads a file as (SavedModel,
    MetaGraphDef, GraphDef); an other reading is judged when it is one a TF loader could import (it parses and
    holds graph nodes whose ops are op or function names: :func:`_plausible`). The union is what is reported."""
    from weightwarden.artifact.readers._tf_text import MESSAGE_TYPES, rules_out_tf_text

    entry = state.entry
    declared = declared_type(name)
    is_text = name.casefold().endswith(".pbtxt")
    data: bytes | None = None
    text: str | None = None
    if is_text:
        data = _text_bytes(source, ctx, entry)
        if data is None:
            return
        text = data.decode("utf-8")
        entry.metadata["text_format"] = True
        wires = _text_wires(text, declared, entry)
        for kind in MESSAGE_TYPES:
            if kind in wires:
                _read_as(io.BytesIO(wires[kind]), len(wires[kind]), kind, state, declared)
        entry.metadata["readings"] = _accepted(state)
        if declared not in wires:
            _judge_op_tokens(text, state)  # round 33: the error stays; the ops TF's parser may read are judged
        return
    with source.open() as f:
        for kind in MESSAGE_TYPES:
            _read_as(f, source.size, kind, state, declared)
    entry.metadata["readings"] = _accepted(state)
    if not _name_is_a_guess(name) or entry.error is None:
        return
    # A ``.pb`` / ``.meta`` its declared binary reading rejects: ``import_meta_graph`` falls back to text format, and
    # GraphDefs are written as text under ``.pb`` names too; a text reading that parses says what the file is.
    binary_error, entry.error = entry.error, None
    text_accepted = False
    if source.size <= ctx.limits.max_header_bytes:
        with source.open() as f:
            data = f.read(source.size)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None:
            wires = _text_wires(text, None, entry)
            for kind in MESSAGE_TYPES:
                if kind in wires:
                    _read_as(io.BytesIO(wires[kind]), len(wires[kind]), kind, state, None, prefix="text ")
            text_accepted = any(kind.startswith("text ") for kind in _accepted(state))
    accepted = _accepted(state)
    entry.metadata["readings"] = accepted
    if text_accepted:
        return
    if (not accepted and data is not None and text is not None and not _CONTROL.search(text)
            and _no_protobuf(data) and rules_out_tf_text(text)):
        # Red team round 33: "no TF file" must be PROVEN, never inferred from our own text parse failing (its partial
        # schema sends TF's other fields through protobuf's unknown-field skipper, whose grammar is smaller than the
        # parser TF uses: ``attr [ {...} ]`` fails only ours; b07294b read that failure as "no TF file" and made a
        # PyFunc graph silent). Proof: plain text (no control character but tab and line ends) that protobuf rejects
        # as wire bytes of any message (an empty message, the most lenient reading: every field unknown, groups
        # included) AND whose first token TF's strict text parser rejects whatever message it reads (a plain
        # identifier that is no top-level field of SavedModel, MetaGraphDef or GraphDef: a Unity asset's YAML
        # ``.meta`` starts ``fileFormatVersion:``).
        entry.metadata["not_tf_protobuf"] = True
        return
    if text is not None:
        _judge_op_tokens(text, state)
    # Never silent: the declared binary reading failed (a hostile file may use wire forms this walker rejects and
    # protobuf accepts), whatever other reading was judged; its text reading failed or was never tried.
    entry.anomalies.append(Anomaly(
        "fs.unverified_model_file", source.display,
        f"a TensorFlow {declared} by its name that does not parse as one ({binary_error[:300]})"
        + (f"; judged as {', '.join(accepted)} instead" if accepted else "; no other TF message accepts it")
        + ("; its text's op values judged token by token" if text is not None else "")
        + ": could not be verified", "TF protobuf name, content its declared message rejects"))


def _judge_op_tokens(text: str, state: _State) -> None:
    """Red team round 33: a text the exact reading rejected may still be one TF's full-schema parser takes (list
    syntax in a field our partial schema skips), so every ``op`` value anywhere in it is judged, read with protobuf's
    own tokenizer (:func:`._tf_text.op_values`). Approximate and conservative: it may judge an op TF would never load
    (another message's ``op``, a text TF rejects later), and a call of a library function is judged as an op (the
    function names are not trusted without a schema: a ``signature`` elsewhere must not turn PyFunc into a "call")."""
    from weightwarden.artifact.readers._tf_text import op_values

    ops: Counter[str] = Counter()
    for value in op_values(text):
        if len(value) > MAX_NAME:
            _not_read(state, "text tokens", f"op name of {len(value)} characters")
        ops[value[:MAX_NAME] or "<missing op>"] += 1
    state.entry.metadata["text_token_ops"] = sum(ops.values())
    if ops:
        _flush(state)  # nothing pending from the readings before; function names of theirs must not apply here
        _emit(state, "text tokens (exact text reading failed)/op values", ops)
        _flush(state)


# C0 controls but tab, line feed, form feed and carriage return, and DEL: what plain text does not hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _no_protobuf(data: bytes) -> bool:
    """True when protobuf's own parser rejects ``data`` as the wire bytes of ANY message: parsed as an empty
    message every field is unknown and kept whatever its wire type (groups too), so only a broken wire structure
    fails, which fails every message type with it."""
    from google.protobuf import empty_pb2
    from google.protobuf.message import DecodeError

    try:
        empty_pb2.Empty().ParseFromString(data)
    except (DecodeError, RuntimeWarning, ValueError):
        return True
    return False


def _accepted(state: _State) -> list[str]:
    return [kind for kind, ok in state.readings if ok]


def _text_bytes(source: Source, ctx: ReadContext, entry: FileEntry) -> bytes | None:
    """Round 31 (class A): a ``.pbtxt`` as TF reads it: UTF-8, within the header bound; else fail closed."""
    if source.size > ctx.limits.max_header_bytes:
        message = (f"text-format protobuf of {source.size} bytes exceeds the {ctx.limits.max_header_bytes}-byte "
                   "limit: its graph was not read and could not be verified")
        entry.anomalies.append(Anomaly("limits.header_too_large", source.display, message))
        entry.error = message
        return None
    with source.open() as f:
        raw = f.read(source.size)
    try:
        raw.decode("utf-8")  # TF decodes the file as UTF-8 before text_format.Merge
    except UnicodeDecodeError as exc:
        entry.error = f"text-format SavedModel/GraphDef is not UTF-8 ({exc.reason}): could not be verified"
        return None
    return raw


def _text_wires(text: str, declared: str | None, entry: FileEntry) -> dict[str, bytes]:
    """The text parsed as each TF message (protobuf's own text parser, :mod:`._tf_text`), as wire bytes. The
    declared message failing to parse is the file's error (round 31: fail closed); another failing is no reading."""
    from weightwarden.artifact.readers._tf_text import MESSAGE_TYPES, text_to_wire

    out: dict[str, bytes] = {}
    for kind in MESSAGE_TYPES:
        try:
            out[kind] = text_to_wire(text, kind)
        except Exception as exc:  # noqa: BLE001 - protobuf's ParseError and others on hostile text: fail closed
            if kind == declared:
                entry.error = f"text-format protobuf does not parse ({str(exc)[:300]}): could not be verified"
    return out


def _read_as(f: BinaryIO, size: int, kind: str, state: _State, declared: str | None, prefix: str = "") -> None:
    """Walk ``[0, size)`` of ``f`` as a ``kind`` message. The declared reading writes into the entry (its error
    too); another reading goes to a scratch entry and is merged only when :func:`_plausible`."""
    if kind == declared:
        _walk_as(f, size, kind, state, "")
        state.readings.append((kind, state.entry.error is None))
        return
    scratch = _State(FileEntry(state.entry.path, Format.SAVEDMODEL, size), state.limits)
    _walk_as(f, size, kind, scratch, f"as {prefix}{kind}: ")
    if not _plausible(scratch):
        return
    state.readings.append((prefix + kind, True))
    state.entry.code.extend(scratch.entry.code)
    state.entry.anomalies.extend(scratch.entry.anomalies)
    for key in ("assets", "meta_graph_info"):
        if key in scratch.entry.metadata:
            state.entry.metadata.setdefault(f"{prefix}{kind}_{key}", scratch.entry.metadata[key])


def _walk_as(f: BinaryIO, size: int, kind: str, state: _State, prefix: str) -> None:
    if kind == "SavedModel":
        state.prefix = prefix
        _walk(f, size, state)
        return
    whole = Field(2, LEN, 0, size, None)
    try:
        if kind == "MetaGraphDef":
            _meta_graph(f, whole, f"{prefix}meta_graph", state)
        else:
            try:
                _graph(f, whole, f"{prefix}graph_def", state)
            finally:
                _flush(state)
    except WireError as exc:
        state.entry.error = f"malformed {kind} protobuf: {exc}"
        _flush(state)
    if state.truncated:
        state.entry.anomalies.append(
            Anomaly("limits.header_too_large", state.entry.path, f"more than {MAX_NODES} graph nodes; the rest "
                    "were not read")
        )
        state.entry.error = state.entry.error or "graph too large to read completely"


# TF's rule for a registered op's name (OpDefBuilder: "[A-Z][a-zA-Z0-9>_]*"); a node whose op is neither such a name
# nor a function of the graph's library makes the import fail ("Op type not registered").
_OP_NAME = re.compile(r"[A-Z][A-Za-z0-9>_]*\Z")


def _plausible(state: _State) -> bool:
    """A reading a TF loader could import: it parsed to the end, and it has graph nodes, every one naming an op TF
    could have registered or a function of the reading's library. Readings of a file as the wrong message hold
    no node, or nodes whose "op" is another message's bytes (an OpList, a missing field)."""
    if state.entry.error is not None or state.nodes == 0:
        return False
    for code in state.entry.code:
        for op in code.details.get("ops", {}):
            if not _OP_NAME.match(op):
                return False
    return True


def also_as_tf_graph(source: Source, ctx: ReadContext, entry: FileEntry) -> None:
    """Merge into ``entry`` (read as another format) every TF reading of the file a loader could import
    (:func:`_plausible`): for a ``*.pb`` name whose content sniffed as something else (red team round 32)."""
    from weightwarden.artifact.readers._tf_text import MESSAGE_TYPES

    state = _State(entry, ctx.limits)
    with source.open() as f:
        for kind in MESSAGE_TYPES:
            _read_as(f, source.size, kind, state, None, prefix="TF ")
    accepted = _accepted(state)
    if accepted:
        entry.metadata["tf_readings"] = accepted


def _chunked(entry: FileEntry) -> None:
    """Red team round 32 (class 3): ``saved_model.cpb`` is the chunked SavedModel TF's proto splitter writes
    (riegeli records, transposed and brotli/zstd-compressed chunks) and TF >= 2.15 loads it. The riegeli
    format is not read here (its transposed chunks need a decoder of their own): fail closed, never "info"."""
    entry.error = ("chunked SavedModel (saved_model.cpb: riegeli records TF's proto splitter writes and TF loads) "
                   "is not read by this scanner: its graph and Keras objects could not be verified")


def _walk(f: BinaryIO, size: int, state: _State) -> None:
    entry = state.entry
    meta_graphs = 0
    try:
        for field in iter_stream_fields(f, 0, size, MAX_FIELDS, clip=True):
            if field.number == 1 and field.wire == VARINT:
                entry.metadata["saved_model_schema_version"] = field.value
            elif field.number == 2 and field.wire == LEN:
                _meta_graph(f, field, f"{state.prefix}meta_graph[{meta_graphs}]", state)
                meta_graphs += 1
    except WireError as exc:
        entry.error = f"malformed SavedModel protobuf: {exc}"
    _flush(state)  # ops read before a parse error are still reported
    entry.metadata["meta_graphs"] = meta_graphs
    if state.truncated:
        entry.anomalies.append(
            Anomaly("limits.header_too_large", entry.path, f"more than {MAX_NODES} graph nodes; the rest "
                    "were not read")
        )
        entry.error = entry.error or "graph too large to read completely"


def _meta_graph(f: BinaryIO, mg: Field, prefix: str, state: _State) -> None:
    end = mg.offset + mg.length
    info: dict[str, Any] = {}
    signatures: list[str] = []
    for field in iter_stream_fields(f, mg.offset, end, MAX_FIELDS, clip=True):
        if field.wire != LEN:
            continue
        if field.number == 1:
            if field.length > INLINE_BYTES * 16:
                # Round 31 (class C): a bound that is hit is a finding, never a silently skipped field.
                _not_read(state, f"{prefix}/meta_info_def", f"meta_info_def of {field.length} bytes (tags, versions)")
                continue
            # Protobuf merges a message field given twice: scalars last-wins, repeated tags appended.
            part = _meta_info(read_field(f, field))
            tags = info.get("tags", []) + part.pop("tags")
            info.update(part)
            info["tags"] = tags
        elif field.number == 2:
            _graph(f, field, prefix, state)
        elif field.number == 5 and len(signatures) < 256:
            key = _map_key(f, field)
            if key is not None:
                signatures.append(key)
        elif field.number == 6:
            _asset(f, field, prefix, state)
        elif field.number == 7:
            _object_graph(f, field, prefix, state)
    _flush(state)
    if signatures:
        info["signatures"] = signatures
    state.entry.metadata.setdefault("meta_graph_info", []).append(info)


def _meta_info(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tags: list[str] = []
    for number, wire, value in protowire.iter_fields(data):
        if wire != LEN:
            continue
        text = bytes(value[:512]).decode("utf-8", errors="replace")  # type: ignore[index]
        if number == 4:
            tags.append(text)
        elif number == 5:
            out["tensorflow_version"] = text
        elif number == 6:
            out["tensorflow_git_version"] = text
        elif number == 1:
            out["meta_graph_version"] = text
    out["tags"] = tags
    return out


def _graph(f: BinaryIO, graph: Field, prefix: str, state: _State) -> None:
    ops: Counter[str] = Counter()
    try:
        for field in iter_stream_fields(f, graph.offset, graph.offset + graph.length, MAX_FIELDS, clip=True):
            if field.wire != LEN:
                continue
            if field.number == 1:
                if not _count_node(f, field, ops, state):
                    break
            elif field.number == 2:
                _library(f, field, prefix, state)
    finally:
        _emit(state, f"{prefix}/graph", ops)


def _library(f: BinaryIO, lib: Field, prefix: str, state: _State) -> None:
    functions = 0
    for field in iter_stream_fields(f, lib.offset, lib.offset + lib.length, MAX_FIELDS, clip=True):
        if field.number != 1 or field.wire != LEN:
            continue
        functions += 1
        if functions > MAX_FUNCTIONS or state.truncated:
            state.truncated = True
            return
        name = ""
        ops: Counter[str] = Counter()
        where = f"{prefix}/function[{functions - 1}]"
        try:
            for sub in iter_stream_fields(f, field.offset, field.offset + field.length, MAX_FIELDS, clip=True):
                if sub.wire != LEN:
                    continue
                if sub.number == 1:
                    # Red team round 31 (class B): protobuf merges a ``signature`` given twice and keeps the last
                    # ``name``; TF names the function so. Every copy is walked (streamed, no size bound) and the
                    # last name wins, so a first name cannot make the graph's real op look like a call of it.
                    name = _opdef_name(f, sub, where, state, name)
                elif sub.number == 3 and not _count_node(f, sub, ops, state):
                    break
        finally:
            if name:
                state.function_names.add(name)
            _emit(state, f"{prefix}/function:{name or '<unnamed>'}", ops)


def _count_node(f: BinaryIO, node: Field, ops: Counter[str], state: _State) -> bool:
    """Add every op a NodeDef names to ``ops``; False once the node bound is reached.

    Red team round 31 (class B): protobuf keeps the *last* ``op`` of a node that gives it twice, where this
    reader kept the first. Judging every value any copy carries is exact for honest files (one op) and fails
    closed for hostile ones, whichever copy a parser keeps.
    """
    state.nodes += 1
    if state.nodes > MAX_NODES:
        state.truncated = True
        return False
    found: set[str] = set()
    if node.length <= INLINE_BYTES:
        for number, wire, value in protowire.iter_fields(read_field(f, node)):
            if number == 2 and wire == LEN:
                if len(value) > MAX_NAME:  # type: ignore[arg-type]
                    _not_read(state, "graph node", f"op name of {len(value)} bytes")  # type: ignore[arg-type]
                found.add(bytes(value[:MAX_NAME]).decode("utf-8", errors="replace"))  # type: ignore[index]
    else:  # a node carrying a large constant: find its ops without reading the value
        for sub in iter_stream_fields(f, node.offset, node.offset + node.length, MAX_FIELDS):
            if sub.number == 2 and sub.wire == LEN:
                if sub.length > MAX_NAME:
                    _not_read(state, "graph node", f"op name of {sub.length} bytes")
                found.add(read_string(f, sub, MAX_NAME))
    for op in found or {""}:
        ops[op or "<missing op>"] += 1
    return True


def _opdef_name(f: BinaryIO, signature: Field, where: str, state: _State, name: str) -> str:
    """The OpDef ``name`` after merging this ``signature`` copy into what came before (last value wins)."""
    for sub in iter_stream_fields(f, signature.offset, signature.offset + signature.length, MAX_FIELDS, clip=True):
        if sub.number == 1 and sub.wire == LEN:
            if sub.length > MAX_NAME:
                _not_read(state, where, f"function name of {sub.length} bytes")
            name = read_string(f, sub, MAX_NAME)
    return name


def _not_read(state: _State, where: str, what: str) -> None:
    state.entry.anomalies.append(Anomaly(
        "limits.header_too_large", where, f"{what} exceeds the reader's bound: not read, could not be verified"))


def _emit(state: _State, location: str, ops: Counter[str]) -> None:
    if ops:
        state.pending.append((location, ops))


def _flush(state: _State) -> None:
    """Turn the meta graph's op counts into code objects once all its function names are known.

    A node whose op is the name of a library function calls that function (its body is reported on its
    own), so it is listed under ``function_calls``, not as an op.
    """
    for location, ops in state.pending:
        calls = {op: n for op, n in ops.items() if op in state.function_names}
        plain = {op: n for op, n in sorted(ops.items()) if op not in calls}
        text = ", ".join(plain)
        if len(text) > MAX_TEXT_OPS:
            text = text[: MAX_TEXT_OPS - 3] + "..."
        details: dict[str, Any] = {"ops": plain}
        if calls:
            details["function_calls"] = dict(sorted(calls.items()))
        state.entry.code.append(CodeObject(CodeKind.TF_OP, location, text=text, details=details))
    state.pending = []
    state.function_names = set()


def _map_key(f: BinaryIO, entry_field: Field) -> str | None:
    for sub in iter_stream_fields(f, entry_field.offset, entry_field.offset + entry_field.length, 64):
        if sub.number == 1 and sub.wire == LEN:
            return read_string(f, sub, 512)
    return None


_WINDOWS_ABS = re.compile(r"^(?:[A-Za-z]:|\\\\|//)")


def _asset(f: BinaryIO, field: Field, prefix: str, state: _State) -> None:
    for sub in iter_stream_fields(f, field.offset, field.offset + field.length, 64):
        if sub.number == 2 and sub.wire == LEN:
            if sub.length > MAX_ASSET_NAME:  # round 31 (class C): a cut path could hide its ".." past the cut
                _not_read(state, f"{prefix}/asset", f"asset filename of {sub.length} bytes")
            name = read_string(f, sub, MAX_ASSET_NAME)
            state.entry.metadata.setdefault("assets", []).append(name)
            if os.path.isabs(name) or _WINDOWS_ABS.match(name) or ".." in re.split(r"[\\/]+", name):
                state.entry.anomalies.append(
                    Anomaly("tf.asset_path_escape", f"{prefix}/asset", "asset filename leaves the assets folder", name)
                )


def _object_graph(f: BinaryIO, graph: Field, prefix: str, state: _State) -> None:
    """SavedUserObject metadata of Keras objects (TF <= 2.4 kept layer configs here)."""
    for i, node in enumerate(iter_stream_fields(f, graph.offset, graph.offset + graph.length, MAX_FIELDS)):
        if node.number != 1 or node.wire != LEN:
            continue
        # Red team round 31 (class B): ``user_object`` given twice is one merged message for protobuf (the
        # identifier of one copy, the metadata of another). Every copy's values are collected and every metadata
        # is judged when any copy names a Keras identifier: a superset of what the merge yields.
        identifiers: list[str] = []
        metadatas: list[str] = []
        for sub in iter_stream_fields(f, node.offset, node.offset + node.length, 1024):
            if sub.number != 4 or sub.wire != LEN:
                continue
            if sub.length > state.limits.max_text_bytes:
                # Red team round 28: a user object too large to read was skipped silently; its metadata may be
                # the layer config TF-Keras revives: too large to analyse, never nothing.
                state.entry.anomalies.append(Anomaly(
                    "keras.config_too_large", f"{prefix}/object[{i}]",
                    f"SavedUserObject of {sub.length} bytes exceeds the {state.limits.max_text_bytes}-byte limit: its "
                    "Keras metadata (layer config) is too large to analyse", f"{sub.length}"))
                continue
            for number, wire, value in protowire.iter_fields(read_field(f, sub)):
                if wire == LEN and number == 1:
                    identifiers.append(bytes(value[:256]).decode("utf-8", errors="replace"))  # type: ignore[index]
                elif wire == LEN and number == 3:
                    metadatas.append(bytes(value).decode("utf-8", errors="replace"))
        if any(identifier.startswith("_tf_keras") for identifier in identifiers):
            for metadata in dict.fromkeys(metadatas):
                if metadata.strip():
                    _keras_json(metadata, f"{prefix}/object[{i}]", state)


def _keras_json(text: str, where: str, state: _State) -> None:
    value, problem = parse_json_bounded(text, state.limits.max_text_bytes)
    if isinstance(problem, ParseLimit):  # round 29: the scanner's parse limit, not a malformed config
        state.entry.anomalies.append(Anomaly("keras.config_too_large", where, f"Keras metadata: {problem}: Keras "
                                             "config too deep to analyse", problem[:200]))
        return
    if problem is not None and len(text) > state.limits.max_text_bytes:
        state.entry.anomalies.append(Anomaly("keras.config_too_large", where, f"Keras metadata of {len(text)} "
                                             "characters: Keras config too large to analyse", problem[:200]))
        return
    if problem is not None:
        state.entry.anomalies.append(Anomaly("keras.bad_config", where, f"Keras metadata: {problem}"))
        return
    if not (isinstance(value, dict) and "class_name" in value) and not looks_like_keras_config(value):
        return  # round 26: an array, or a dict without class_name, still holds objects Keras builds
    code, anomalies = analyze_config(value, where)
    for obj in code:
        key = (obj.location, obj.details.get("target"), obj.details.get("lambda_code"), obj.details.get("reason"))
        if key in state.keras_seen:
            continue
        state.keras_seen.add(key)
        state.entry.code.append(obj)
    state.entry.anomalies.extend(anomalies)


def _keras_metadata_file(source: Source, ctx: ReadContext, state: _State) -> None:
    """``keras_metadata.pb`` (SavedMetadata: 1 nodes; each node holds its layer JSON in a string field).

    Red team round 34: TF-Keras opens ``os.path.join(export_dir, "keras_metadata.pb")`` with the folder the user
    named and follows links. The sibling is found beside the name the loader opened (a link's own name, not its
    target's folder: a hub-cache snapshot's ``saved_model.pb`` is a link into ``blobs/``), and a sibling that is a
    link is read through it, the link reported (it used to be skipped: "links are reported by discovery", but no
    walk saw it when ``saved_model.pb`` alone was scanned, or when the link left the scanned folder)."""
    path = sibling_of(source, KERAS_METADATA_NAME)
    if path is None:
        return
    read = read_sibling(path, KERAS_METADATA_NAME, ctx.limits.max_header_bytes, source.fs_dir)
    if read is None:
        return
    state.entry.anomalies.extend(read.anomalies)
    if read.data is None and read.size == 0:
        return  # not a file whose bytes a loader gets (a folder, a device, an absolute link): reported above
    _keras_metadata(read.data, read.size, ctx, state, KERAS_METADATA_NAME)


def _keras_metadata(data: bytes | None, size: int, ctx: ReadContext, state: _State, where: str) -> None:
    """The layer JSON of each node of a ``keras_metadata.pb`` (``data`` None: over the bound, not read)."""
    if data is None:
        state.entry.anomalies.append(
            Anomaly("limits.header_too_large", where, f"{size} bytes; Keras metadata not read")
        )
        return
    state.entry.metadata["keras_metadata"] = True
    try:
        for i, (number, wire, node) in enumerate(protowire.iter_fields(data)):
            if number != 1 or wire != LEN:
                continue
            for _n, sub_wire, value in protowire.iter_fields(node):  # type: ignore[arg-type]
                # Round 28: json.loads skips leading whitespace and builds arrays too; a cheap first-byte test
                # must not be stricter than the loader's parser.
                if sub_wire != LEN or len(value) < 2:  # type: ignore[arg-type]
                    continue
                if bytes(value).lstrip(b" \t\r\n")[:1] not in (b"{", b"["):  # type: ignore[arg-type]
                    continue
                _keras_json(bytes(value).decode("utf-8", errors="replace"),  # type: ignore[arg-type]
                            f"{where}/node[{i}]", state)
    except WireError as exc:
        state.entry.anomalies.append(
            Anomaly("keras.bad_config", where, f"malformed keras_metadata.pb: {exc}")
        )


__all__ = ["read"]
