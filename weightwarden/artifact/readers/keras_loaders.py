"""Which Keras deserialisers turn a config value into a program, a file read or an import (red team round 24).

A Keras config is data until a layer's ``from_config`` (or the constructor it calls) decodes one of its values.
Round 24 found one the scanner treated as plain data: ``TorchModuleWrapper`` keeps a base64 ``torch.save``
pickle in ``config.module`` and unpickles it. This module is the table of every such place in the Keras versions
examined, each judged and tied to what the scanner does about it. ``tests/test_keras_loaders_table.py`` walks the
installed Keras source (``from_config`` and ``__init__`` bodies, and the methods of the same class they call)
for decoding, unpickling, import and file-opening calls, and fails when one is not in this table: a new Keras
release cannot add a decoder silently.

Provenance: Keras 3.15.1 (``pip install --target`` of red team round 20, and the shared venv's ``dev`` extra),
read on 2026-12-07. Keras 3.10.0 was read by the round-24 red team (its ``TorchModuleWrapper.from_config`` calls
``torch.load(BytesIO(config["module"]))`` without a safe_mode check, but JSON cannot carry bytes, so a file gives
it nothing to load). ``handled_by`` names the rule that reports the entry, or says why none is needed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KerasDecoder:
    """One deserialiser of Keras' own source that does more with a config value than store it."""

    cls: str  # class name as defined in keras/src
    method: str  # the method whose body does it (from_config, __init__, or one they call)
    source: str  # path under keras/src
    config_keys: tuple[str, ...]  # the config values it reads ("" when not config-driven)
    does: str  # what the loader does with them
    gate: str  # when it happens
    versions: str  # Keras versions it was read in
    handled_by: str  # the scanner's answer (rule id), or why none is needed


KERAS_DECODERS: tuple[KerasDecoder, ...] = (
    KerasDecoder(
        "TorchModuleWrapper", "from_config", "utils/torch_utils.py", ("module",),
        "base64.b64decode(config['module']) then torch.load(weights_only=False): runs the pickle",
        "safe_mode=False / enable_unsafe_deserialization() (3.15); 3.10: no gate, but needs bytes JSON cannot hold",
        "3.10.0, 3.15.1",
        "WW-KERAS-009 + the embedded pickle read as a member (keras_config.read_embedded_blobs)",
    ),
    KerasDecoder(
        "Lambda", "from_config", "layers/core/lambda_layer.py", ("function", "output_shape"),
        "python_utils.func_load: base64 + marshal.loads of bytecode, then a function built from it",
        "safe_mode=False", "3.10.0, 3.15.1", "WW-KERAS-001 (bytecode), WW-KERAS-002/003 (named functions)",
    ),
    KerasDecoder(
        "TFSMLayer", "__init__", "export/tfsm_layer.py", ("filepath",),
        "tf.saved_model.load(filepath): loads and runs another SavedModel's graph from a path",
        "safe_mode=False (from_config refuses otherwise)", "3.15.1", "WW-KERAS-005",
    ),
    KerasDecoder(
        "IndexLookup", "set_vocabulary", "layers/preprocessing/index_lookup.py", ("vocabulary",),
        "a str vocabulary is a path: tf.io.gfile reads that file (local or any gfile scheme) as the vocabulary",
        "safe_mode=False (refused in safe mode); reached from StringLookup/IntegerLookup/TextVectorization",
        "3.15.1", "WW-KERAS-010 (data read from outside the model, no code)",
    ),
    KerasDecoder(
        "JaxLayer", "from_config", "utils/jax_layer.py", ("call_fn", "init_fn"),
        "deserialize_keras_object of nested serialized functions",
        "any; a non-Keras function needs its module imported", "3.15.1",
        "generic walk: nested 'function' objects -> WW-KERAS-002/003",
    ),
    KerasDecoder(
        "FlaxLayer", "from_config", "utils/jax_layer.py", ("module", "method"),
        "deserialize_keras_object(module) (a flax class outside Keras), then getattr(module, method)",
        "any; the flax module class must be importable", "3.15.1",
        "generic walk: the non-Keras module object -> WW-KERAS-003 (high) or -002; method is an attribute of it",
    ),
    KerasDecoder(
        "JaxLayer", "__init__", "utils/jax_layer.py", ("call_fn",),
        "TensorFlow backend only: jax2tf.convert of call_fn (already deserialised above)",
        "backend tensorflow", "3.15.1", "none needed: converts a function the walk already judged",
    ),
    # Saving internals: they open the archive's own members, never a path or value taken from a layer config.
    KerasDecoder(
        "NpzIOStore", "__init__", "saving/saving_lib.py", (),
        "np.load(allow_pickle=False) of the archive's model.weights.npz", "load_model", "3.15.1",
        "none needed: allow_pickle=False; the npz member is scanned by the numpy reader",
    ),
    KerasDecoder(
        "ShardedH5IOStore", "__init__", "saving/saving_lib.py", (),
        "opens the sharded weights map file beside the model", "load_model", "3.15.1",
        "none needed: weights only; the .h5 shards are scanned by the HDF5 reader",
    ),
    KerasDecoder(
        "KerasFileEditor", "__init__", "saving/file_editor.py", (),
        "opens a .keras file given by the caller (an editing tool)", "explicit API call", "3.15.1",
        "none needed: no loader path from a config",
    ),
)


def decoder_keys() -> frozenset[tuple[str, str]]:
    """``(class, method)`` of every table entry (what the completeness test compares against)."""
    return frozenset((d.cls, d.method) for d in KERAS_DECODERS)


__all__ = ["KERAS_DECODERS", "KerasDecoder", "decoder_keys"]
