"""Find the code a Keras model config can make a loader run, without importing Keras.

Used by the readers of every format that carries a Keras model config: the HDF5 reader (``model_config`` /
``training_config`` attributes of a Keras 2 ``.h5``), the zip reader (``config.json`` of a Keras 3
``.keras``) and the SavedModel reader (``keras_metadata.pb`` and Keras object metadata). Call
:func:`analyze_config` with the parsed JSON; it returns one :class:`CodeObject` of kind ``KERAS_LAYER`` for
each entry that can execute or import code when the model is loaded, plus anomalies:

- Lambda layers. Keras 2 stores ``function: [base64 marshalled bytecode, defaults, closure]`` with
  ``function_type: "lambda"``; Keras 3 stores ``{"class_name": "__lambda__", "config": {"code": ...}}``.
  Both give ``lambda_code=True``. A Lambda naming a function (``function_type: "function"``) gives that
  function as ``target``.
- ``TFOpLambda`` / ``SlicingOpLambda`` layers (call a ``tf.*`` symbol named in the config).
- ``TFSMLayer`` (loads another SavedModel from a path given in the config).
- Serialized references to a module outside the Keras namespace (the CVE-2025-1550 class: ``{"module":
  "os", "class_name": "function", "config": "system"}``, ``{"module": "subprocess", "class_name":
  "Popen"}``, ``__typespec__`` entries naming any module), and function references inside Keras that are
  not plain math (``keras.utils.get_file``, ``keras.config.enable_unsafe_deserialization``, ...).
- Custom objects (``registered_name`` such as ``"MyPackage>MyLayer"``): loading them imports their code.
- Config values a layer's ``from_config`` decodes into a program (red team round 24): ``TorchModuleWrapper``
  keeps ``torch.save(module)`` base64-encoded in ``config.module`` and Keras 3.15 hands it to
  ``torch.load(weights_only=False)`` when safe_mode is off. Such values are not judged here: the walk returns
  them as :class:`EmbeddedBlob` (pass ``blobs``), and :func:`read_embedded_blobs` decodes each one (bounded,
  strict base64 first) and reads the bytes as a member file of its own, so the pickle machine judges the
  pickle. Every from_config / constructor of the installed Keras that decodes a blob or opens a path is listed
  in :data:`weightwarden.artifact.readers.keras_loaders.KERAS_DECODERS` (a test keeps that table complete).

Standard layers, initializers, activations given by name and other Keras-namespace classes produce nothing.
The walk is iterative and bounded (depth and node count), so a hostile config cannot exhaust the stack.

``details`` of each code object: ``class_name``, ``module``, ``target`` (the dotted name referenced, or
None), ``lambda_code`` (marshalled/base64 bytecode present), ``registered_name``, plus ``reason`` (one of
``lambda``, ``function_ref``, ``module_ref``, ``tf_op_lambda``, ``tfsm_layer``, ``custom_object``,
``torch_module``, ``vocabulary_file``) and
``path`` (the JSON path of the entry). ``location`` is ``"layer:<name>"`` for a layer and
``"config:<json path>"`` for any other entry; JSON paths start with ``location_prefix`` (or ``$``).

Anomaly codes:
    keras.bad_config: the config is not a JSON object, or an entry has the wrong type where code is named.
    keras.config_too_large: the config is nested deeper or has more entries than the walk reads.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, Format

if TYPE_CHECKING:
    from weightwarden.artifact.context import ReadContext
    from weightwarden.artifact.model import FileEntry

MAX_DEPTH = 256
MAX_NODES = 2_000_000
MAX_TEXT = 2000  # characters of an entry kept as ``text``

# Packages whose classes Keras itself ships. References into them are benign unless they name a function
# outside the math modules (below) or live in a utility module that fetches files or flips safety switches.
KERAS_ROOTS = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras", "keras_core")
# Submodules (after the root and an optional ``src.``) whose functions are plain math a config may name.
SAFE_FUNCTION_SUBMODULES = (
    "activations",
    "losses",
    "metrics",
    "initializers",
    "regularizers",
    "constraints",
    "ops",
    "optimizers",
    "layers",
    "random",
    "applications",
)
# Submodules whose classes or functions do I/O or change how loading behaves.
SUSPECT_SUBMODULES = ("utils", "config", "saving", "backend", "export", "distribution")
# Serialization markers of Keras 3 that describe plain values.
VALUE_MARKERS = frozenset(
    {"__tuple__", "__bytes__", "__numpy__", "__ellipsis__", "__slice__", "__tensor__", "__keras_tensor__",
     "__tensorshape__", "__complex__", "__set__"}
)
LAMBDA_LAYERS = frozenset({"Lambda"})
TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
# Preprocessing layers whose constructor reads a str ``vocabulary`` as a file path (safe_mode off).
VOCABULARY_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization", "IndexLookup"})
# Layers whose from_config runs torch.load(weights_only=False) on base64(config[key]) (keras_loaders.py).
TORCH_BLOB_LAYERS = {"TorchModuleWrapper": "module"}
# A custom object (``registered_name`` "pkg>Name") may subclass TorchModuleWrapper under another name and
# inherit its from_config: its ``module`` string is decoded too when it is this long (a torch.save of the
# smallest module is ~1 KB; short strings are module names such as "__main__").
MIN_OPPORTUNISTIC_BLOB_CHARS = 64
MAX_BLOBS = 64  # embedded blobs read per config; past it each is reported unread (high), never skipped silently
# What torch.load(weights_only=False) can open: a torch zip, a legacy tar, or a pickle stream (the legacy
# format's first object, its magic number, is read with a full pickle.load, so any pickle runs).
TORCH_LOADABLE = frozenset({Format.PYTORCH_ZIP, Format.PYTORCH_LEGACY, Format.PICKLE, Format.JOBLIB})


@dataclass(frozen=True, slots=True)
class EmbeddedBlob:
    """A config value a layer's from_config decodes and deserialises (see :func:`read_embedded_blobs`).

    ``json_path`` is relative to the config text (``$.config.layers[1].config.module``); ``location`` is the
    layer's (``layer:<name>``); ``required`` is False for a custom object's look-alike value, which is read
    when it decodes but reported only when it holds something."""

    json_path: str
    location: str
    class_name: str
    key: str
    value: Any
    required: bool

    def to_json(self) -> dict[str, Any]:
        return {"json_path": self.json_path, "location": self.location, "class_name": self.class_name,
                "key": self.key, "value": self.value, "required": self.required}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbeddedBlob:
        return cls(str(data["json_path"]), str(data["location"]), str(data["class_name"]), str(data["key"]),
                   data.get("value"), bool(data.get("required")))


def analyze_config(
    config: Any, location_prefix: str = "", blobs: list[EmbeddedBlob] | None = None
) -> tuple[list[CodeObject], list[Anomaly]]:
    """Code objects and anomalies of a parsed Keras config (see the module docstring).

    Values a layer's from_config decodes into a program are appended to ``blobs`` for the caller to read with
    :func:`read_embedded_blobs`. Without ``blobs`` (a caller that cannot read members) each one becomes a
    ``torch_module`` code object marked unread, which the rules report high: never silently clean."""
    root = location_prefix.rstrip(".") or "$"
    found: list[EmbeddedBlob] = []
    code: list[CodeObject] = []
    anomalies: list[Anomaly] = []
    if not isinstance(config, dict):
        anomalies.append(
            Anomaly("keras.bad_config", f"config:{root}", "Keras config is not a JSON object", type(config).__name__)
        )
        return code, anomalies
    consumed: set[int] = set()  # dicts already reported as part of their Lambda layer
    stack: list[tuple[Any, str, int]] = [(config, root, 0)]
    nodes = 0
    too_deep = False
    while stack:
        node, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            anomalies.append(
                Anomaly("keras.config_too_large", f"config:{root}", f"more than {MAX_NODES} entries; rest not read")
            )
            break
        if depth > MAX_DEPTH:
            too_deep = True
            continue
        if isinstance(node, dict):
            if "class_name" in node and id(node) not in consumed:
                _inspect_object(node, path, code, anomalies, consumed)
                _embedded_blob(node, path, root, found)
            children = [(v, f"{path}.{_key(k)}") for k, v in node.items() if isinstance(v, dict | list)]
        elif isinstance(node, list):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(node) if isinstance(v, dict | list)]
        else:
            continue
        for child, child_path in reversed(children):
            stack.append((child, child_path, depth + 1))
    if too_deep:
        anomalies.append(
            Anomaly("keras.config_too_large", f"config:{root}", f"config nested deeper than {MAX_DEPTH}; rest not read")
        )
    if blobs is not None:
        blobs.extend(found)
    else:
        code.extend(_blob_code(b, None, "the reader of this config does not read embedded members")
                    for b in found if b.required)
    return code, anomalies


def _embedded_blob(node: dict[str, Any], path: str, root: str, found: list[EmbeddedBlob]) -> None:
    """Record ``node``'s config value that its from_config decodes (TorchModuleWrapper's ``module``)."""
    class_name = node.get("class_name")
    registered = node.get("registered_name") if isinstance(node.get("registered_name"), str) else ""
    cfg = node.get("config")
    if not isinstance(class_name, str):
        return
    # Keras resolves a built-in by class_name (keras.layers.X or importlib of a keras.* module) and a custom
    # object by registered_name; either naming TorchModuleWrapper gets its from_config.
    names = {class_name.rsplit(">", 1)[-1], registered.rsplit(">", 1)[-1]}
    rel = "$" + path[len(root):] if path.startswith(root) else path
    for name, key in TORCH_BLOB_LAYERS.items():
        if name in names:
            value = cfg.get(key, _ABSENT) if isinstance(cfg, dict) else _ABSENT
            found.append(EmbeddedBlob(f"{rel}.config.{key}", _location(node, path), class_name, key,
                                      None if value is _ABSENT else value, True))
            return
    custom = ">" in registered or ">" in class_name
    value = cfg.get("module") if isinstance(cfg, dict) else None
    if custom and isinstance(value, str) and len(value) >= MIN_OPPORTUNISTIC_BLOB_CHARS:
        found.append(EmbeddedBlob(f"{rel}.config.module", _location(node, path), class_name, "module", value, False))


_ABSENT = object()


def read_embedded_blobs(blobs: list[EmbeddedBlob], entry: FileEntry, ctx: ReadContext, container: str,
                        fs_dir: str | None = None) -> None:
    """Decode each blob the way its loader does and read the bytes as a member file (a child of ``entry``).

    ``container`` is the display of the config text (``model.keras!config.json``); a child is displayed
    ``<container>:<json path>``. A required blob that is absent, not a string, not base64, larger than the
    config bound, nested too deep or not something torch.load opens becomes a ``torch_module`` code object
    with its problem (high); a readable one becomes a code object naming the child (the child's own findings
    judge the pickle)."""
    from weightwarden.artifact.readers._archive import depth_allows_members, read_child
    from weightwarden.artifact.source import Source

    for n, blob in enumerate(blobs):
        child_display = f"{container}:{blob.json_path}"
        if n >= MAX_BLOBS:
            if blob.required:
                entry.code.append(_blob_code(blob, None, f"more than {MAX_BLOBS} embedded modules in one config; "
                                                         "this one was not read"))
            continue
        data, problem, lenient = _decode_blob(blob.value, ctx.limits.max_text_bytes)
        if data is None:
            if blob.required:
                entry.code.append(_blob_code(blob, None, problem))
            continue
        if not depth_allows_members(ctx):
            entry.code.append(_blob_code(blob, None, f"nested deeper than {ctx.limits.max_archive_depth} levels; "
                                                     "not read"))
            continue
        if not ctx.budget.take(len(data)):
            entry.code.append(_blob_code(blob, None, "decompression budget of the file exhausted; not read"))
            continue
        child = read_child(ctx, Source.from_bytes(data, child_display, fs_dir))
        if not blob.required and child.format not in TORCH_LOADABLE:
            continue  # a look-alike string of a custom object that is no torch file: the object is reported anyway
        entry.children.append(child)
        if child.format not in TORCH_LOADABLE:
            problem = f"decodes to {len(data)} bytes of {child.format.value}, not a file torch.load opens"
        elif lenient and isinstance(blob.value, dict):
            problem = "raw bytes in a __bytes__ marker, which Keras 3.10 unpickles without a safe_mode check"
        elif lenient:
            problem = "not strict base64 (characters outside the alphabet, which Keras' decoder skips); scanned " \
                      "what that decoder reads"
        entry.code.append(_blob_code(blob, child_display, problem))


def _decode_blob(value: Any, max_bytes: int) -> tuple[bytes | None, str | None, bool]:
    """``(bytes, None, lenient)`` as Keras decodes ``base64.b64decode(value.encode("ascii"))``, or
    ``(None, problem, False)``. Strict first; a value only the lenient decoder (which drops characters outside
    the alphabet) accepts is decoded like Keras does and flagged."""
    if value is None:
        return None, "the layer config has no base64 module", False
    if isinstance(value, dict) and value.get("class_name") == "__bytes__" and isinstance(value.get("value"), str):
        # Keras' bytes marker: legacy .h5 loading (json_utils' object hook) turns it into value.encode("utf-8"),
        # and Keras 3.10's from_config hands those bytes to torch.load with no safe_mode check (round 24 report).
        text = value["value"]
        if len(text) > max_bytes:
            return None, f"bytes value of {len(text)} characters exceeds the {max_bytes}-byte limit; not read", False
        data = text.encode("utf-8", errors="surrogatepass")
        return (data, None, True) if data else (None, "the bytes value is empty", False)
    if not isinstance(value, str):
        return None, f"the module value is a {type(value).__name__}, not a base64 string", False
    if len(value) > (max_bytes // 3 + 1) * 4:
        return None, f"base64 module of {len(value)} characters exceeds the {max_bytes}-byte limit; not read", False
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        return None, "the module value is not ASCII base64", False
    try:
        data = base64.b64decode(raw, validate=True)
        lenient = False
    except (binascii.Error, ValueError):
        try:
            data = base64.b64decode(raw)
        except (binascii.Error, ValueError) as exc:
            return None, f"the module value is not base64: {exc}", False
        lenient = True
    if not data:
        return None, "the module value decodes to no bytes", False
    return data, None, lenient


def _blob_code(blob: EmbeddedBlob, child: str | None, problem: str | None) -> CodeObject:
    value = blob.value
    shown = f"<{len(value)} base64 characters>" if isinstance(value, str) else _short(value)[:200]
    text = f"{blob.class_name} {blob.json_path} = {shown}"
    details = {"class_name": blob.class_name, "module": None, "registered_name": None, "path": blob.json_path,
               "target": None, "lambda_code": False, "reason": "torch_module", "key": blob.key,
               "embedded": child, "problem": problem}
    return CodeObject(CodeKind.KERAS_LAYER, blob.location, text, details=details)


def looks_like_keras_config(value: Any) -> bool:
    """True when ``value`` holds a Keras serialized object anywhere: a JSON object with both ``class_name`` and
    ``config`` keys. That pair is what ``deserialize_keras_object`` builds an object from; any other object or
    list it walks into (red team round 20: Keras recurses through plain dicts, so the pair need not be at the
    top). Decided by structure, never by file name: the generic ``config.json`` of a transformers model has no
    such object. Iterative and bounded by the parsed value itself (the text was read under max_text_bytes)."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node and "config" in node:
                return True
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return False


def may_hold_keras_object(raw: bytes) -> bool:
    """False only when the JSON text ``raw`` surely spells no ``class_name`` key: it is UTF-8 (Keras' json.loads
    would detect any other encoding) and holds neither the word nor a ``\\u`` escape, the only way JSON can spell
    one of its letters otherwise. Lets big data files (a 466 KB tokenizer.json: ~11 ms) skip the structural walk."""
    if json.detect_encoding(raw) not in ("utf-8", "utf-8-sig"):
        return True
    return b"class_name" in raw or b"\\u" in raw


def _key(k: Any) -> str:
    s = str(k)
    return s if s.isidentifier() else json.dumps(s)


def _inspect_object(
    node: dict[str, Any], path: str, code: list[CodeObject], anomalies: list[Anomaly], consumed: set[int]
) -> None:
    class_name = node.get("class_name")
    if not isinstance(class_name, str):
        anomalies.append(Anomaly("keras.bad_config", f"config:{path}", "class_name is not a string", _short(class_name)))
        return
    module = node.get("module") if isinstance(node.get("module"), str) else None
    registered = node.get("registered_name") if isinstance(node.get("registered_name"), str) else None
    cfg = node.get("config")
    base = {"class_name": class_name, "module": module, "registered_name": registered, "path": path}

    def emit(reason: str, target: str | None, lambda_code: bool = False, extra: dict[str, Any] | None = None) -> None:
        details = dict(base, target=target, lambda_code=lambda_code, reason=reason)
        if extra:
            details.update(extra)
        code.append(CodeObject(CodeKind.KERAS_LAYER, _location(node, path), _short(node), details=details))

    keras_module = module is None or _in_keras(module)

    if class_name == "__lambda__":
        emit("lambda", None, lambda_code=_has_lambda_code(cfg))
        return
    if class_name in VALUE_MARKERS and module is None:
        return
    if class_name in LAMBDA_LAYERS and keras_module:
        _inspect_lambda(node, cfg, emit, anomalies, path, consumed)
        return
    if class_name in TF_OP_LAYERS and keras_module:
        fn = cfg.get("function") if isinstance(cfg, dict) else None
        emit("tf_op_lambda", f"tf.{fn}" if isinstance(fn, str) else None)
        return
    if class_name in VOCABULARY_LAYERS and keras_module and isinstance(cfg, dict) and isinstance(cfg.get("vocabulary"), str):
        # A str vocabulary is a path IndexLookup.set_vocabulary reads through tf.io.gfile (keras_loaders.py).
        emit("vocabulary_file", None, extra={"filepath": _short(cfg["vocabulary"])})
        return
    if class_name == "TFSMLayer" and keras_module:
        filepath = cfg.get("filepath") if isinstance(cfg, dict) else None
        emit("tfsm_layer", f"{module or 'keras.layers'}.TFSMLayer", extra={"filepath": _short(filepath)})
        return
    if class_name == "function":
        name = cfg if isinstance(cfg, str) else registered
        if module is None:
            if registered and ">" in registered:
                emit("custom_object", registered)
            return
        target = f"{module}.{name}" if name else module
        if not _in_keras(module) or not _safe_keras_function(module):
            emit("function_ref", target)
        return
    if class_name == "__typespec__":
        spec = node.get("spec_name")
        if module is not None and not _in_keras(module):
            emit("module_ref", f"{module}.{spec}" if isinstance(spec, str) else module)
        return
    custom = bool(registered and ">" in registered) or ">" in class_name
    if module is not None and not _in_keras(module):
        emit("custom_object" if custom else "module_ref", f"{module}.{class_name}")
        return
    if module is not None and _suspect_keras(module):
        emit("module_ref", f"{module}.{class_name}")
        return
    if custom:
        emit("custom_object", f"{module}.{class_name}" if module else (registered or class_name))


def _inspect_lambda(
    node: dict[str, Any], cfg: Any, emit: Any, anomalies: list[Anomaly], path: str, consumed: set[int]
) -> None:
    if not isinstance(cfg, dict):
        anomalies.append(Anomaly("keras.bad_config", f"config:{path}", "Lambda layer without a config object"))
        emit("lambda", None, lambda_code=False)
        return
    lambda_code = False
    target: str | None = None
    for fn_key, type_key, module_key in (
        ("function", "function_type", "module"),
        ("output_shape", "output_shape_type", "output_shape_module"),
    ):
        fn = cfg.get(fn_key)
        fn_type = cfg.get(type_key)
        fn_module = cfg.get(module_key) if isinstance(cfg.get(module_key), str) else None
        if isinstance(fn, dict):
            # Keras 3: a nested serialized object (``__lambda__`` or a function reference).
            consumed.add(id(fn))
            inner_class = fn.get("class_name")
            if inner_class == "__lambda__":
                lambda_code = lambda_code or _has_lambda_code(fn.get("config"))
            elif inner_class == "function":
                inner_module = fn.get("module") if isinstance(fn.get("module"), str) else None
                inner_name = fn.get("config") if isinstance(fn.get("config"), str) else fn.get("registered_name")
                name = f"{inner_module}.{inner_name}" if inner_module else inner_name
                if fn_key == "function" or target is None:
                    target = name if isinstance(name, str) else target
            elif isinstance(inner_class, str) and fn_key == "function":
                inner_module = fn.get("module") if isinstance(fn.get("module"), str) else None
                target = f"{inner_module}.{inner_class}" if inner_module else inner_class
        elif fn_type == "lambda" or (fn_type is None and fn_key == "function" and _looks_like_code(fn)):
            lambda_code = lambda_code or _looks_like_code(fn) or fn_type == "lambda"
        elif fn_type == "function" and isinstance(fn, str):
            name = f"{fn_module}.{fn}" if fn_module and fn_module != "__main__" else fn
            if fn_key == "function" or target is None:
                target = name
    emit("lambda", target, lambda_code=lambda_code)


def _has_lambda_code(cfg: Any) -> bool:
    if isinstance(cfg, dict):
        return any(_looks_like_code(cfg.get(k)) for k in ("code", "value", "function"))
    return _looks_like_code(cfg)


def _looks_like_code(value: Any) -> bool:
    """Base64 marshalled bytecode, alone or as the first item of ``[code, defaults, closure]``."""
    if isinstance(value, list | tuple) and value:
        value = value[0]
    return isinstance(value, str) and len(value) >= 8 and " " not in value.strip()


def _in_keras(module: str) -> bool:
    return any(module == root or module.startswith(root + ".") for root in KERAS_ROOTS)


def _keras_submodule(module: str) -> str:
    for root in sorted(KERAS_ROOTS, key=len, reverse=True):
        if module == root:
            return ""
        if module.startswith(root + "."):
            rest = module[len(root) + 1 :]
            return rest[4:] if rest.startswith("src.") else rest
    return module


def _safe_keras_function(module: str) -> bool:
    sub = _keras_submodule(module)
    return any(sub == s or sub.startswith(s + ".") for s in SAFE_FUNCTION_SUBMODULES)


def _suspect_keras(module: str) -> bool:
    sub = _keras_submodule(module)
    return any(sub == s or sub.startswith(s + ".") for s in SUSPECT_SUBMODULES)


def _location(node: dict[str, Any], path: str) -> str:
    cfg = node.get("config")
    name = cfg.get("name") if isinstance(cfg, dict) else None
    if not isinstance(name, str):
        name = node.get("name") if isinstance(node.get("name"), str) else None
    if isinstance(name, str) and name:
        return f"layer:{name}"
    return f"config:{path}"


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)[:MAX_TEXT]
        except RecursionError:
            text = f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def parse_json_bounded(data: bytes | str, max_bytes: int) -> tuple[Any, str | None]:
    """Parse JSON text of at most ``max_bytes``; ``(value, None)`` or ``(None, reason)``. Never raises.

    Bytes are decoded the way ``json.loads(bytes)`` decodes them (UTF-8 with or without a BOM, UTF-16, UTF-32):
    Keras reads a .keras ``config.json`` member as bytes and parses it so (round 20). Reading more than a
    loader does only means analysing more; what a UTF-8-only loader refuses never runs anyway."""
    if len(data) > max_bytes:
        return None, f"{len(data)} bytes exceeds the {max_bytes}-byte limit"
    try:
        text = data.decode(json.detect_encoding(data)) if isinstance(data, bytes) else data
        return json.loads(text), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8: {exc.reason} at byte {exc.start}"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:  # e.g. integer string too long to convert
        return None, f"invalid JSON: {exc}"


__all__ = [
    "EmbeddedBlob",
    "analyze_config",
    "looks_like_keras_config",
    "may_hold_keras_object",
    "parse_json_bounded",
    "read_embedded_blobs",
]
