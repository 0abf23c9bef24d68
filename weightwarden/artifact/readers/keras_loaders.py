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


@dataclass(frozen=True, slots=True)
class KerasLoadPath:
    """One branch of Keras' model/weights loading entry points (red team round 25: Orbax was a branch no reader
    covered). ``function`` is ``<module under keras/src/saving>.<function>``; ``branch`` the test that selects it
    as the source spells it (a suffix literal passed to ``endswith``, or a predicate's name); ``calls`` the loader
    functions it reaches; ``config_from`` what it builds a model from; ``handled_by`` the scanner's reader/rule."""

    function: str
    branch: str
    calls: tuple[str, ...]
    config_from: str
    handled_by: str


# Keras 3.15.1 keras/src/saving/saving_api.py and saving_lib.py, read 2026-12-07. tests/test_keras_loaders_table.py
# parses those functions and fails on a loader call or a suffix/predicate branch not listed here.
KERAS_LOAD_PATHS: tuple[KerasLoadPath, ...] = (
    KerasLoadPath(
        "saving_api.load_model", "'.keras'", ("zipfile.is_zipfile", "saving_lib.load_model"),
        "a .keras zip: config.json (json.loads, then deserialize_keras_object)",
        "zipfile_reader (.keras branch, config.json) + keras_config.analyze_config; members read as files",
    ),
    KerasLoadPath(
        "saving_api.load_model", "file_utils.isdir + config.json", ("saving_lib.load_model",),
        "a folder holding config.json (whatever its other files)",
        "hf_config (any JSON file with a Keras object, loose or a member) + keras_config.analyze_config",
    ),
    KerasLoadPath(
        "saving_api.load_model", "'hf://'", ("saving_lib.load_model",),
        "hf://: huggingface_hub.snapshot_download, then the folder branch",
        "none needed here: remote, out of scope; the downloaded folder is the folder branch",
    ),
    KerasLoadPath(
        "saving_api.load_model", "file_utils.is_remote_path", ("file_utils.is_remote_path", "file_utils.copy"),
        "a remote path copied to a temporary file, then the zip branch",
        "none needed here: remote, out of scope; the copy is the .keras zip branch",
    ),
    KerasLoadPath(
        "saving_api.load_model", "('.h5', '.hdf5')", ("legacy_h5_format.load_model_from_hdf5",),
        "the model_config / training_config attributes of a legacy HDF5 file (JSON strings)",
        "keras_h5 (model_config/training_config attributes) + keras_config.analyze_config",
    ),
    KerasLoadPath(
        "saving_api.load_model", "is_orbax_checkpoint", ("is_orbax_checkpoint", "_load_model_from_orbax_checkpoint"),
        "an Orbax checkpoint folder: the latest step's model_config checkpointable, {'config': <model JSON string>} "
        "(OrbaxCheckpoint writes <step>/model_config/_strings.json), through saving_lib._model_from_config",
        "hf_config + keras_config (a JSON string value that is a Keras config, object or array, is walked as one); "
        "a step whose _strings.json 'config' entry is no Keras config the scanner read: WW-KERAS-012 (engine, "
        "artifact/orbax.py)",
    ),
    KerasLoadPath(
        "saving_api._load_model_from_orbax_checkpoint", "model_config",
        ("find_latest_orbax_checkpoint", "ocp.training.Checkpointer", "checkpointer.load_checkpointables",
         "saving_lib._model_from_config", "saving_lib._load_assets_from_dict", "build_orbax_abstract_pytree"),
        "model_config (the config string), then pytree arrays and assets into the built model",
        "as the is_orbax_checkpoint branch; arrays and assets are data loaded into layers the config defines",
    ),
    KerasLoadPath(
        "saving_lib.load_model", "'.keras'", ("_load_model_from_fileobj", "_load_model_from_dir"),
        "config.json of the zip (_load_model_from_fileobj) or of the folder (_load_model_from_dir), "
        "then model.weights.h5 / model.weights.npz and assets/",
        "zipfile_reader / hf_config for config.json; keras_h5 and numpy_file for the weights (allow_pickle=False)",
    ),
    KerasLoadPath(
        "saving_lib.load_model", "'hf://'", ("huggingface_hub.snapshot_download",),
        "hf:// download, then the folder branch", "none needed here: remote, out of scope",
    ),
    # Weights only: a model built by the caller's code receives arrays; no config is deserialised.
    KerasLoadPath(
        "saving_api.load_weights", "'.keras'", ("saving_lib.load_weights_only",),
        "weights of a .keras zip (model.weights.h5)", "none needed: arrays only; keras_h5 reads the file",
    ),
    KerasLoadPath(
        "saving_api.load_weights", "'.weights.h5'", ("saving_lib.load_weights_only",),
        "a .weights.h5 sidecar", "none needed: arrays only; keras_h5 reads the file",
    ),
    KerasLoadPath(
        "saving_api.load_weights", "'.weights.json'", ("saving_lib.load_weights_only",),
        "a sharded weights map naming .weights.h5 shards", "none needed: arrays only; the shards are read as HDF5",
    ),
    KerasLoadPath(
        "saving_api.load_weights", "'.h5'",
        ("legacy_h5_format.load_weights_from_hdf5_group", "legacy_h5_format.load_weights_from_hdf5_group_by_name",
         "saving_lib.safe_get_h5_group"),
        "legacy HDF5 weights", "none needed: arrays only; keras_h5 reads the file (and its model_config anyway)",
    ),
    KerasLoadPath(
        "saving_api.load_weights", "'.hdf5'", ("legacy_h5_format.load_weights_from_hdf5_group",),
        "legacy HDF5 weights", "none needed: arrays only; keras_h5 reads the file",
    ),
    KerasLoadPath(
        "saving_api.load_weights", "is_orbax_checkpoint",
        ("is_orbax_checkpoint", "find_latest_orbax_checkpoint", "build_orbax_abstract_pytree", "ocp.load_checkpointables"),
        "the pytree arrays of an Orbax step", "none needed: arrays only (no model_config is read)",
    ),
    KerasLoadPath(
        "saving_lib.load_weights_only", "'.keras'",
        ("zipfile.ZipFile", "H5IOStore", "ShardedH5IOStore", "_load_state", "file_utils.is_remote_path",
         "file_utils.copy"),
        "weights of a .keras zip (a remote one copied first)", "none needed: arrays only",
    ),
    KerasLoadPath(
        "saving_lib.load_weights_only", "'weights.h5'", ("H5IOStore", "_load_state"), "a .weights.h5 file",
        "none needed: arrays only",
    ),
    KerasLoadPath(
        "saving_lib.load_weights_only", "'weights.json'", ("ShardedH5IOStore", "_load_state"),
        "a sharded weights map", "none needed: arrays only",
    ),
    # TensorFlow SavedModel: not a load_model branch in Keras 3 (it raises and points at TFSMLayer).
    KerasLoadPath(
        "tfsm_layer.TFSMLayer", "filepath", ("tf.saved_model.load",),
        "a SavedModel folder loaded as a layer (explicit call, or a TFSMLayer in a config: KERAS_DECODERS)",
        "savedmodel reader (graph ops, keras_metadata.pb through analyze_config); WW-KERAS-005 in a config",
    ),
)


def load_path_branches(function: str) -> frozenset[str]:
    """The branches of ``function`` the table lists (what the completeness test compares against)."""
    return frozenset(p.branch for p in KERAS_LOAD_PATHS if p.function == function)


def load_path_calls(function: str) -> frozenset[str]:
    """The loader calls of ``function`` the table lists."""
    return frozenset(c for p in KERAS_LOAD_PATHS if p.function == function for c in p.calls)


def decoder_keys() -> frozenset[tuple[str, str]]:
    """``(class, method)`` of every table entry (what the completeness test compares against)."""
    return frozenset((d.cls, d.method) for d in KERAS_DECODERS)


__all__ = ["KERAS_DECODERS", "KERAS_LOAD_PATHS", "KerasDecoder", "KerasLoadPath", "decoder_keys", "load_path_branches",
           "load_path_calls"]
