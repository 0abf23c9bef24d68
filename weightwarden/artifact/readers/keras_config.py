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

Every check judges the names the loader resolves an object to, never its spelling (red team round 25):
:func:`resolve_object` follows Keras 3.15's lookup order (custom objects by registered_name, the exported name
``module + "." + class_name``, built-in function modules, importlib of a keras module, the legacy bare-name
namespace) and is the only reader of ``class_name``. A JSON string value that is itself a Keras config (an Orbax
checkpoint's ``model_config`` string, round 25) is parsed and walked as part of the config, within bounds.

Standard layers, initializers, activations given by name and other Keras-namespace classes produce nothing.
The walk is iterative and bounded (depth and node count), so a hostile config cannot exhaust the stack.

``details`` of each code object: ``class_name``, ``module``, ``target`` (the dotted name referenced, or
None), ``lambda_code`` (marshalled/base64 bytecode present), ``registered_name``, plus ``reason`` (one of
``lambda``, ``function_ref``, ``module_ref``, ``tf_op_lambda``, ``tfsm_layer``, ``custom_object``,
``torch_module``, ``vocabulary_file``) and
``path`` (the JSON path of the entry). ``location`` is ``"layer:<name>"`` for a layer and
``"config:<json path>"`` for any other entry; JSON paths start with ``location_prefix`` (or ``$``).

Anomaly codes:
    keras.bad_config: the config is not a JSON object (an array is still walked item by item, as Keras builds each
        item: round 26), or an entry has the wrong type where code is named.
    keras.config_too_large: the config is nested deeper or has more entries than the walk reads, or holds more
        (or larger, or more deeply nested) JSON string configs than the walk parses.
    keras.dotted_name: a class/function name holds ".", which Keras never writes (WW-KERAS-011).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from weightwarden.artifact.json_depth import MAX_JSON_DEPTH, ParseLimit, depth_problem
from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, Format

if TYPE_CHECKING:
    from weightwarden.artifact.context import ReadContext
    from weightwarden.artifact.model import FileEntry

MAX_DEPTH = MAX_JSON_DEPTH  # 256: the walk's bound is the parse's (round 29), so no parsed config is deeper
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
# The optimizer classes a backend swaps in for keras.optimizers.* (Keras 3.15.1: torch only). A model compiled under
# that backend saves its optimizer by these names, so every compiled torch-backend model would get the "backend"
# submodule's high finding. Each is ``class X(<backend base>, optimizers.X)`` with no from_config or __init__ of its
# own (tests/test_keras_backend_optimizers.py checks that in the installed Keras): it deserializes exactly as the
# public optimizer does. Exact names only; anything else under a backend stays suspect.
BACKEND_OPTIMIZERS = frozenset(
    f"keras.src.backend.torch.optimizers.torch_{module}.{cls}"
    for module, cls in (("adadelta", "Adadelta"), ("adagrad", "Adagrad"), ("adam", "Adam"), ("adamax", "Adamax"),
                        ("adamw", "AdamW"), ("lion", "Lion"), ("nadam", "Nadam"), ("rmsprop", "RMSprop"),
                        ("sgd", "SGD"))
)
# Serialization markers of Keras 3 that describe plain values.
VALUE_MARKERS = frozenset(
    {"__tuple__", "__bytes__", "__numpy__", "__ellipsis__", "__slice__", "__tensor__", "__keras_tensor__",
     "__tensorshape__", "__complex__", "__set__"}
)
LAMBDA_LAYERS = frozenset({"Lambda"})
TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
# Preprocessing layers whose constructor reads a str ``vocabulary`` as a file path (safe_mode off).
VOCABULARY_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization", "IndexLookup"})
TFSM_LAYERS = frozenset({"TFSMLayer"})
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


# Keras 3.15.1 serialization_lib.BUILTIN_MODULES: a "function" object of module "builtins" is looked up as
# keras.<one of these>.<name> (_retrieve_class_or_fn, after the exported-name lookup).
BUILTIN_FUNCTION_MODULES = ("activations", "constraints", "initializers", "losses", "metrics", "optimizers",
                            "regularizers")
# Packages whose module Keras 3.15 imports to find a class (_retrieve_class_or_fn's importlib fallback).
IMPORTED_PACKAGES = ("keras", "keras_hub", "keras_cv", "keras_nlp")
# Where the legacy loader (no "module" key: .h5 / SavedModel layer configs, saving_utils.model_from_config) looks a
# bare class name up: keras.src.layers' namespace (plus Functional/Model/Sequential), shown as keras.layers.
LEGACY_NAMESPACE = "keras.layers"


@dataclass(frozen=True, slots=True)
class KerasName:
    """One fully-qualified name a loader may resolve a serialized object to (see :func:`resolve_object`).

    ``step`` is the lookup that produces it, in Keras' own order: ``custom`` (custom objects / the registry, by
    registered_name, or by the function name for a function), ``api`` (an exported name ``module + "." + name``:
    the split between the two is free), ``builtins`` (a function of module "builtins": keras.<builtin module>.name),
    ``import`` (importlib of ``module``, then the attribute ``name``), ``legacy`` (no module key: the bare name in
    Keras' layer namespace) and ``outside`` (a module outside Keras: Keras 3 refuses it, older loaders import it).
    ``leaf`` is the class or function the name ends in; ``container`` the module part."""

    step: str
    full: str
    leaf: str
    container: str

    @property
    def in_keras(self) -> bool:
        return self.step in ("api", "builtins", "import", "legacy")


@dataclass(frozen=True, slots=True)
class KerasObject:
    """A serialized Keras object as the loader reads it: its raw fields and every name it can resolve to.

    ``marker`` is the ``class_name`` when it is one of Keras' reserved markers (``__lambda__``, ``function``,
    ``__typespec__``, a value marker) that deserialize_keras_object handles before any lookup; ``name`` is what is
    looked up (the class name, a function's config string, a typespec's spec_name); ``dotted`` is set when that
    name holds a "." (Keras never writes one; it only resolves because the exported-name lookup joins module and
    name with a dot)."""

    class_name: Any
    module: str | None
    has_module: bool
    registered: str | None  # the custom-object lookup key: registered_name, defaulting to class_name when absent
    registered_name_field: str | None  # registered_name exactly as written (None when absent or not a string)
    name: str | None
    marker: str | None
    names: tuple[KerasName, ...]

    @property
    def dotted(self) -> bool:
        return isinstance(self.name, str) and "." in self.name

    def leaves(self) -> frozenset[str]:
        """Class/function names a lookup may land on (inside Keras, or a custom object's registered name)."""
        return frozenset(n.leaf for n in self.names if n.step != "outside")

    def is_a(self, table: frozenset[str] | dict[str, Any] | tuple[str, ...]) -> bool:
        return any(leaf in table for leaf in self.leaves())

    def custom(self) -> str | None:
        """The registered ``package>Name`` a custom-object lookup uses, if any."""
        for n in self.names:
            if n.step == "custom" and ">" in n.full:
                return n.full
        return ">" if isinstance(self.class_name, str) and ">" in self.class_name else None

    def outside(self) -> str | None:
        for n in self.names:
            if n.step == "outside":
                return n.full
        return None

    def suspect(self) -> str | None:
        """A Keras name (exported or imported) in a submodule that does I/O or flips safety switches."""
        for n in self.names:
            if n.step in ("api", "import") and _suspect_keras(n.container) and n.full not in BACKEND_OPTIMIZERS:
                return n.full
        return None


CLASS_KEY = "class_name"


def resolve_object(node: dict[str, Any]) -> KerasObject:
    """Every fully-qualified name Keras can resolve the serialized object ``node`` to, in Keras 3.15.1's order.

    The only place the scanner reads ``class_name``: every table and suspect check judges these resolved names,
    never the spelling (red team round 25: ``{"module": "keras", "class_name": "layers.TorchModuleWrapper"}`` is
    keras.layers.TorchModuleWrapper to Keras, because its exported-name lookup is ``f"{module}.{name}"``).
    Mirrors ``deserialize_keras_object`` / ``_retrieve_class_or_fn`` (keras/src/saving/serialization_lib.py) and
    the legacy ``saving_utils.model_from_config`` (no module key):

    1. custom objects and the registry, by ``registered_name`` (which defaults to ``class_name`` when the key is
       absent) for a class, by the function name for a function: the user decides what it maps to, so its last
       segment is kept as a possible class (a subclass registered under another name is judged by its name);
    2. a module ``keras``/``keras.*`` (also the tf_keras-era roots, whose loaders do the same): the exported name
       ``module + "." + name``;
    3. a function of module ``builtins``: ``keras.<m>.<name>`` for each built-in function module;
    4. importlib of a module in the keras packages, then ``name`` in it (the same dotted string as 2);
    5. no ``module`` key: the legacy loader's bare name in the layer namespace;
    6. any other module (and ``builtins`` itself): outside Keras; Keras 3.9+ refuses it, earlier releases
       imported any module (CVE-2025-1550).
    """
    class_name = node.get(CLASS_KEY)
    has_module = "module" in node
    module = node.get("module") if isinstance(node.get("module"), str) and node.get("module") else None
    registered_raw = node.get("registered_name", class_name)
    registered = registered_raw if isinstance(registered_raw, str) and registered_raw else None
    cfg = node.get("config")
    marker: str | None = None
    name: str | None = class_name if isinstance(class_name, str) else None
    if class_name == "function":
        marker = "function"
        name = cfg if isinstance(cfg, str) else None
    elif class_name == "__typespec__":
        marker = "__typespec__"
        spec = node.get("spec_name")
        name = spec if isinstance(spec, str) else None
    elif isinstance(class_name, str) and (class_name == "__lambda__" or class_name in VALUE_MARKERS):
        marker = class_name
    names: list[KerasName] = []
    custom_key = name if marker == "function" else registered
    if isinstance(custom_key, str) and custom_key:
        names.append(KerasName("custom", custom_key, _leaf(custom_key.rsplit(">", 1)[-1]), ""))
    if name:
        if module is not None and _in_keras(module):
            full = f"{module}.{name}"
            container, _, leaf = full.rpartition(".")
            names.append(KerasName("api", full, leaf, container))
            if module.split(".", 1)[0] in IMPORTED_PACKAGES and "." not in name:
                names.append(KerasName("import", full, name, module))
        elif module is not None and marker == "function" and module == "builtins":
            for sub in BUILTIN_FUNCTION_MODULES:
                names.append(KerasName("builtins", f"keras.{sub}.{name}", _leaf(name), f"keras.{sub}"))
            # Keras before 3.9 imported any module (CVE-2025-1550): builtins.<name> itself is reachable there.
            names.append(KerasName("outside", f"{module}.{name}", _leaf(name), module))
        elif module is not None:
            names.append(KerasName("outside", f"{module}.{name}", _leaf(name), module))
        elif not has_module and marker is None:
            names.append(KerasName("legacy", f"{LEGACY_NAMESPACE}.{name}", _leaf(name), LEGACY_NAMESPACE))
    elif module is not None and not _in_keras(module):
        names.append(KerasName("outside", module, "", module))
    written = node.get("registered_name") if isinstance(node.get("registered_name"), str) else None
    return KerasObject(class_name, module, has_module, registered, written, name, marker, tuple(names))


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


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
        return {"json_path": self.json_path, "location": self.location, "layer_class": self.class_name,
                "key": self.key, "value": self.value, "required": self.required}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbeddedBlob:
        return cls(str(data["json_path"]), str(data["location"]), str(data["layer_class"]), str(data["key"]),
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
        # Red team round 26: deserialize_keras_object builds every item of a top-level array (and every value of a
        # dict without class_name) before its caller notices the shape, so the odd shape is reported and the value
        # is walked all the same. A scalar builds nothing (Keras returns it as is).
        anomalies.append(
            Anomaly("keras.bad_config", f"config:{root}", "Keras config is not a JSON object"
                    + ("; the loader still deserialises every item, each one analysed" if isinstance(config, list)
                       else ""), type(config).__name__)
        )
        if not isinstance(config, list):
            return code, anomalies
    consumed: set[int] = set()  # dicts already reported as part of their Lambda layer
    # (node, JSON path, nesting depth, how many JSON strings deep): a string value that is itself a Keras config
    # (red team round 25: Orbax keeps the model config as one JSON string) is parsed and walked as a child.
    stack: list[tuple[Any, str, int, int]] = [(config, root, 0, 0)]
    nodes = 0
    too_deep = False
    strings = _StringConfigs()
    while stack:
        node, path, depth, level = stack.pop()
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
            if CLASS_KEY in node and id(node) not in consumed:
                obj = resolve_object(node)
                _inspect_object(obj, node, path, code, anomalies, consumed)
                _embedded_blob(obj, node, path, root, found)
            items: list[tuple[Any, str]] = [(v, f"{path}.{_key(k)}") for k, v in node.items()]
        elif isinstance(node, list):
            items = [(v, f"{path}[{i}]") for i, v in enumerate(node)]
        else:
            continue
        children: list[tuple[Any, str, int]] = []
        for value, child_path in items:
            if isinstance(value, dict | list):
                children.append((value, child_path, level))
            elif isinstance(value, str) and value.startswith(_OBJECT_LEADS):
                parsed = strings.parse(value, level, child_path, anomalies)
                if parsed is not None:
                    children.append((parsed, child_path + STRING_CONFIG_MARK, level + 1))
        for child, child_path, child_level in reversed(children):
            stack.append((child, child_path, depth + 1, child_level))
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


def _embedded_blob(obj: KerasObject, node: dict[str, Any], path: str, root: str, found: list[EmbeddedBlob]) -> None:
    """Record ``node``'s config value that its from_config decodes (TorchModuleWrapper's ``module``)."""
    if not isinstance(obj.class_name, str):
        return
    cfg = node.get("config")
    rel = "$" + path[len(root):] if path.startswith(root) else path
    # Every name the loader may resolve the object to (exported, imported, legacy, registered), even one outside
    # Keras: reading a value too many costs nothing, missing one runs a pickle.
    for name, key in TORCH_BLOB_LAYERS.items():
        if any(n.leaf == name for n in obj.names):
            value = cfg.get(key, _ABSENT) if isinstance(cfg, dict) else _ABSENT
            found.append(EmbeddedBlob(f"{rel}.config.{key}", _location(node, path), obj.class_name, key,
                                      None if value is _ABSENT else value, True))
            return
    value = cfg.get("module") if isinstance(cfg, dict) else None
    if obj.custom() and isinstance(value, str) and len(value) >= MIN_OPPORTUNISTIC_BLOB_CHARS:
        found.append(EmbeddedBlob(f"{rel}.config.module", _location(node, path), obj.class_name, "module", value,
                                  False))


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
    if isinstance(value, dict) and resolve_object(value).marker == "__bytes__" and isinstance(value.get("value"), str):
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


# A JSON string value that is itself a serialized Keras object is what a loader json.loads into the config it
# deserialises: Orbax checkpoints keep the whole model config as one string (``model_config/_strings.json``,
# round 25), the legacy .h5 ``model_config`` attribute is one too. Such strings are parsed (only those that start
# with "{" or "[" and can spell class_name) and walked like any other part of the config, within these bounds; one past
# them is reported (keras.config_too_large: WW-GEN-001, high, since round 28), never skipped silently.
MAX_STRING_CONFIGS = 256  # JSON strings parsed per walk
MAX_STRING_LEVELS = 4  # a config string inside a config string inside ...
MAX_STRING_CONFIG_CHARS = 64 * 1024 * 1024  # the JSON parse bound of the readers (limits.max_parse_bytes)
STRING_CONFIG_MARK = ":json"  # appended to the JSON path of a string walked as a config
# A JSON object or array, after what json.loads skips before a value: Keras deserialises both (round 26: a config
# string "[<model config>]" builds every item).
_JSON_OBJECT_START = re.compile(r"[ \t\n\r]*[\[{]")
_OBJECT_LEADS = ("{", "[", " ", "\t", "\n", "\r")  # a cheap first test before the pattern


class _StringConfigs:
    """The bounded parse of string values that may be Keras configs (one per walk)."""

    def __init__(self) -> None:
        self.parsed = 0
        self.reported = False

    def parse(self, value: str, level: int, path: str, anomalies: list[Anomaly]) -> Any | None:
        if not _may_be_string_config(value):
            return None
        problem: str | None = None
        if level >= MAX_STRING_LEVELS:
            problem = f"a JSON string config nested more than {MAX_STRING_LEVELS} strings deep"
        elif len(value) > MAX_STRING_CONFIG_CHARS:
            problem = f"a JSON string of {len(value)} characters, over the {MAX_STRING_CONFIG_CHARS} bound"
        elif self.parsed >= MAX_STRING_CONFIGS:
            problem = f"more than {MAX_STRING_CONFIGS} JSON strings that may be Keras configs"
        if problem is not None:
            if not self.reported:
                self.reported = True
                anomalies.append(Anomaly("keras.config_too_large", f"config:{path}",
                                         f"{problem}; not analysed (a loader may json.loads it as a model config)"))
            return None
        self.parsed += 1
        parsed, error = parse_json_bounded(value, MAX_STRING_CONFIG_CHARS)
        if isinstance(error, ParseLimit):
            # Red team round 29: a string too deep for the scanner's parser was dropped silently while the loader
            # json.loads it (an Orbax _strings.json config): too deep to analyse, never "not a config".
            anomalies.append(Anomaly("keras.config_too_large", f"config:{path}",
                                     f"a JSON string that may be a Keras config: {error}; not analysed (a loader "
                                     "may json.loads it as a model config)"))
            return None
        if error is not None or not looks_like_keras_config(parsed, True, MAX_STRING_LEVELS - level - 1):
            return None
        return parsed


def _may_be_string_config(value: str) -> bool:
    """Starts like a JSON object or array and can spell ``class_name`` (literally or through a \\u escape)."""
    return _JSON_OBJECT_START.match(value) is not None and ("class_name" in value or "\\u" in value)


def looks_like_keras_config(value: Any, strings: bool = True, levels: int = MAX_STRING_LEVELS) -> bool:
    """True when ``value`` holds a Keras serialized object anywhere: a JSON object with both ``class_name`` and
    ``config`` keys. That pair is what ``deserialize_keras_object`` builds an object from; any other object or
    list it walks into (red team round 20: Keras recurses through plain dicts, so the pair need not be at the
    top). Decided by structure, never by file name: the generic ``config.json`` of a transformers model has no
    such object. With ``strings`` a JSON string value that parses to such an object counts too (round 25: the
    Orbax ``_strings.json`` of a Keras checkpoint is ``{"config": "<the model config as a JSON string>"}``).
    Iterative and bounded by the parsed value itself (the text was read under max_text_bytes) and, for strings,
    by MAX_STRING_CONFIGS parses per level and ``levels`` strings deep."""
    stack: list[Any] = [value]
    texts: list[str] = []  # string values that may be configs: parsed only once the structure holds none
    look = strings and levels > 0
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "class_name" in node and "config" in node:
                return True
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        for v in children:
            if isinstance(v, dict | list):
                stack.append(v)
            elif look and isinstance(v, str) and v.startswith(_OBJECT_LEADS) and _may_be_string_config(v):
                texts.append(v)
    for n, text in enumerate(texts):
        if n >= MAX_STRING_CONFIGS or len(text) > MAX_STRING_CONFIG_CHARS:
            return True  # analyze_config reports what it cannot read
        inner, error = parse_json_bounded(text, MAX_STRING_CONFIG_CHARS)
        if isinstance(error, ParseLimit) or error is None and looks_like_keras_config(inner, True, levels - 1):
            return True  # too deep to parse (round 29): analyze_config reports it, never "holds no Keras object"
    return False


def may_hold_keras_object(raw: bytes) -> bool:
    """False only when the JSON text ``raw`` surely spells no ``class_name`` key: it is UTF-8 (Keras' json.loads
    would detect any other encoding) and, with its escapes decoded at every JSON string level the config walk
    reads (:func:`may_spell`), never spells the word. Lets big data files (a 466 KB tokenizer.json: ~11 ms; a
    33 MB one past max_text_bytes, red team round 28) skip the parse and the structural walk, and only them."""
    if json.detect_encoding(raw[:4]) not in ("utf-8", "utf-8-sig"):
        return True
    return may_spell(raw, (b"class_name",))


# The JSON escapes that can change which ASCII letters a string spells, at this level or (through a decoded
# backslash) at a deeper one: an escaped backslash, an escaped ASCII code point, and the one-letter escapes (decoded
# so that the text stays aligned with what json.loads decodes). An escape of a code point past U+007F decodes to a
# character no ASCII word holds: left as it is (a "\\u4e2d" never matches here again), which keeps the cost of a
# vocabulary written with ensure_ascii=True at one regex scan.
_ASCII_ESCAPE = re.compile(rb'\\(?:u00[0-7][0-9a-fA-F]|[\\"/bfnrt])')
_ONE_LETTER = {b"\\": b"\\", b'"': b'"', b"/": b"/", b"b": b" ", b"f": b" ", b"n": b" ", b"r": b" ", b"t": b" "}


def _decode_ascii_escapes(match: re.Match[bytes]) -> bytes:
    tail = match.group()[1:]
    return _ONE_LETTER[tail] if len(tail) == 1 else bytes([int(tail[1:], 16)])


def may_spell(raw: bytes, words: tuple[bytes, ...], levels: int = MAX_STRING_LEVELS + 1) -> bool:
    """Whether the UTF-8 JSON text ``raw`` may spell one of the ASCII ``words`` in a string (a key) at any of
    ``levels`` levels of JSON strings holding JSON (the Orbax config string, a config string inside it ...): the
    text is searched as it is, then with its escapes decoded once (``"auto\\u005fmap"`` spells ``auto_map``), then
    twice (``\\u005cu005f`` or ``\\\\u005f`` at the first level is an escape at the second), and so on. Decoding
    the whole text is decoding each string literal (outside strings valid JSON has no backslash), so a word json.loads
    yields at some level is found here; what this adds is never fewer matches. Escapes left after ``levels`` passes
    count as a match (fail closed). Linear per pass in the text; only the escapes above cost a callback."""
    text = raw
    for _ in range(levels + 1):
        if any(w in text for w in words):
            return True
        if b"\\" not in text:
            return False
        decoded = _ASCII_ESCAPE.sub(_decode_ascii_escapes, text)
        if len(decoded) == len(text):  # nothing to decode (each decode shortens the text)
            return False
        text = decoded
    return _ASCII_ESCAPE.search(text) is not None


def _key(k: Any) -> str:
    s = str(k)
    return s if s.isidentifier() else json.dumps(s)


def _inspect_object(
    obj: KerasObject, node: dict[str, Any], path: str, code: list[CodeObject], anomalies: list[Anomaly],
    consumed: set[int],
) -> None:
    """Judge one serialized object by the names the loader resolves it to (:func:`resolve_object`)."""
    class_name = obj.class_name
    if not isinstance(class_name, str):
        anomalies.append(Anomaly("keras.bad_config", f"config:{path}", "class_name is not a string", _short(class_name)))
        return
    module, registered, cfg = obj.module, obj.registered_name_field, node.get("config")
    base = {"class_name": class_name, "module": module, "registered_name": registered, "path": path}

    def emit(reason: str, target: str | None, lambda_code: bool = False, extra: dict[str, Any] | None = None) -> None:
        details = dict(base, target=target, lambda_code=lambda_code, reason=reason)
        if extra:
            details.update(extra)
        code.append(CodeObject(CodeKind.KERAS_LAYER, _location(node, path), _short(node), details=details))

    if obj.dotted:
        # Keras never writes a dotted name; it only resolves because module and name are joined with a dot, so a
        # dotted one is a spelling chosen to look like something else (red team round 25).
        anomalies.append(Anomaly("keras.dotted_name", _location(node, path),
                                 f"serialized name {obj.name!r} contains '.', which Keras never writes; the loader "
                                 f"resolves it as {', '.join(n.full for n in obj.names) or 'nothing'}",
                                 _short(node)[:200]))
    if obj.marker == "__lambda__":
        emit("lambda", None, lambda_code=_has_lambda_code(cfg))
        return
    if obj.marker in VALUE_MARKERS and module is None:
        return
    if obj.marker == "function":
        _inspect_function(obj, emit)
        return
    if obj.marker == "__typespec__":
        outside = obj.outside()
        if outside is not None:
            emit("module_ref", outside)
        return
    outside = obj.outside()
    if outside is None:
        if obj.is_a(LAMBDA_LAYERS):
            _inspect_lambda(node, cfg, emit, anomalies, path, consumed)
            return
        if obj.is_a(TF_OP_LAYERS):
            fn = cfg.get("function") if isinstance(cfg, dict) else None
            emit("tf_op_lambda", f"tf.{fn}" if isinstance(fn, str) else None)
            return
        if obj.is_a(VOCABULARY_LAYERS) and isinstance(cfg, dict) and isinstance(cfg.get("vocabulary"), str):
            # A str vocabulary is a path IndexLookup.set_vocabulary reads through tf.io.gfile (keras_loaders.py).
            emit("vocabulary_file", None, extra={"filepath": _short(cfg["vocabulary"])})
            return
        if obj.is_a(TFSM_LAYERS):
            filepath = cfg.get("filepath") if isinstance(cfg, dict) else None
            target = next((n.full for n in obj.names if n.leaf in TFSM_LAYERS and n.in_keras), "keras.layers.TFSMLayer")
            emit("tfsm_layer", target, extra={"filepath": _short(filepath)})
            return
    custom = obj.custom()
    if outside is not None:
        emit("custom_object" if custom else "module_ref", outside)
        return
    suspect = obj.suspect()
    if suspect is not None:
        emit("module_ref", suspect)
        return
    if custom:
        emit("custom_object", f"{module}.{class_name}" if module else (registered or class_name))


def _inspect_function(obj: KerasObject, emit: Any) -> None:
    """A ``{"class_name": "function"}`` object: judged by the module the function is resolved in."""
    name, module, registered = obj.name, obj.module, obj.registered_name_field
    if module is None:
        if registered and ">" in registered:
            emit("custom_object", registered)
        elif isinstance(name, str) and ">" in name:
            emit("custom_object", name)
        return
    outside = obj.outside()
    if outside is not None:
        emit("function_ref", outside)
        return
    resolved = [n for n in obj.names if n.step == "api"]
    if not name:
        emit("function_ref", module)
        return
    if not resolved or any(not _safe_keras_function(n.container) for n in resolved):
        emit("function_ref", f"{module}.{name}")


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
            inner = resolve_object(fn)
            if inner.marker == "__lambda__":
                lambda_code = lambda_code or _has_lambda_code(fn.get("config"))
            elif inner.marker == "function":
                inner_name = inner.name or inner.registered_name_field
                name = f"{inner.module}.{inner_name}" if inner.module else inner_name
                if fn_key == "function" or target is None:
                    target = name if isinstance(name, str) else target
            elif isinstance(inner.class_name, str) and fn_key == "function":
                target = f"{inner.module}.{inner.class_name}" if inner.module else inner.class_name
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

    Bytes are decoded by ``json.loads(bytes)`` itself (UTF-8 with or without a BOM, UTF-16, UTF-32, surrogatepass):
    Keras reads a .keras ``config.json`` member as bytes and parses it so (round 20). Reading more than a
    loader does only means analysing more; what a UTF-8-only loader refuses never runs anyway.

    Red team round 29: the reason is a :class:`~weightwarden.artifact.json_depth.ParseLimit` when the failure is
    the scanner's own limit, not the input's: nesting deeper than MAX_JSON_DEPTH (measured before json.loads, so
    the parser's stack never decides), or a RecursionError / MemoryError of the parser. Every caller reports that
    as too deep or large to analyse (WW-GEN-001, high), never as a malformed or non-JSON file."""
    if len(data) > max_bytes:
        return None, f"{len(data)} bytes exceeds the {max_bytes}-byte limit"
    limit = depth_problem(data)
    if limit is not None:
        return None, limit
    try:
        # Round 30: json.loads(bytes) itself, so the decode is json's own (detect_encoding + surrogatepass): a
        # strict decode here called a lone surrogate "not UTF-8" where the loader's json.loads parses it.
        return json.loads(data), None
    except UnicodeDecodeError as exc:
        encoding = json.detect_encoding(data) if isinstance(data, bytes) else "str"
        return None, f"not {encoding} text as json.loads decodes it: {exc.reason} at byte {exc.start}"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return None, ParseLimit("JSON parser ran out of stack: too deep to analyse")
    except MemoryError:
        return None, ParseLimit("JSON parser ran out of memory: too large to analyse")
    except ValueError as exc:  # e.g. integer string too long to convert
        return None, f"invalid JSON: {exc}"


__all__ = [
    "EmbeddedBlob",
    "KerasName",
    "KerasObject",
    "analyze_config",
    "looks_like_keras_config",
    "may_hold_keras_object",
    "parse_json_bounded",
    "read_embedded_blobs",
    "resolve_object",
]
