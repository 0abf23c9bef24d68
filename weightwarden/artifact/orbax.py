"""Orbax checkpoint folders as Keras 3 opens them (red team round 25, class B).

``keras.saving.load_model(folder)`` (Keras 3.15, saving_api.py) takes a folder that is not a Keras folder (no
``config.json``) for an Orbax checkpoint when ``orbax_util.is_orbax_checkpoint`` says so: the folder lists one of
the Orbax marker entries, an entry whose name holds ``.orbax-checkpoint-tmp``, or a subfolder named by digits (a
step). ``_load_model_from_orbax_checkpoint`` then picks the latest step and loads its ``model_config``
checkpointable, whose ``config`` value is the whole model config as one JSON string (``keras.callbacks.
OrbaxCheckpoint`` writes it to ``<step>/model_config/_strings.json``), and builds the model from it with
``saving_lib._model_from_config``: every Keras config rule applies to that string.

The files themselves are read by the JSON reader, whose Keras analysis walks a JSON string value that is itself a
Keras config (:mod:`weightwarden.artifact.readers.keras_config`). This module names the ``model_config`` folders a
loader reads, so that the engine can report one in which no Keras config was read (kept in the tensorstore / OCDBT
store, over the parse bound, not JSON): that is a model the scanner has not seen, never "no findings". Every step
is checked, not only the latest (which one Orbax calls latest depends on its metadata, and a folder is often
loaded by step too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# keras/src/saving/orbax_util.py, is_orbax_checkpoint (Keras 3.15.1).
ORBAX_INDICATORS = frozenset({"orbax.checkpoint", "pytree.orbax-checkpoint", "checkpoint_metadata"})
ORBAX_TMP_MARK = ".orbax-checkpoint-tmp"
# What Orbax writes in each step folder (its checkpointables' metadata).
STEP_METADATA = "_CHECKPOINT_METADATA"
# The checkpointable _load_model_from_orbax_checkpoint asks for.
MODEL_CONFIG = "model_config"
# Where Orbax keeps a checkpointable's string leaves; Keras loads the ``config`` entry of the model_config one.
ORBAX_STRINGS = "_strings.json"


# Red team round 27: the handler Orbax v1 uses for a checkpointable is the one ``<step>/_CHECKPOINT_METADATA``
# ``item_handlers`` names (experimental/v1/_src/handlers/resolution.py; registration.py matches the primary typestr
# and the registered secondary ones, global_registration.py). Keras loads whatever that handler returns.
_V1 = "orbax.checkpoint.experimental.v1._src.handlers."
JSON_HANDLERS = frozenset({
    _V1 + "json_handler.JsonHandler",
    "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler",
    "orbax.checkpoint.v0._src.handlers.json_checkpoint_handler.JsonCheckpointHandler",
})
PYTREE_HANDLERS = frozenset({
    _V1 + "pytree_handler.PyTreeHandler",
    "orbax.checkpoint._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler",
    "orbax.checkpoint.v0._src.handlers.pytree_checkpoint_handler.PyTreeCheckpointHandler",
    "orbax.checkpoint._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler",
    "orbax.checkpoint.v0._src.handlers.standard_checkpoint_handler.StandardCheckpointHandler",
})
# JsonHandler._get_supported_filenames: the first of these that exists is json.loads'ed.
JSON_HANDLER_FILES = ("data.json", "metadata")
# _CHECKPOINT_METADATA is a few hundred bytes; a larger one is not trusted to say which handler reads.
MAX_STEP_METADATA = 1024 * 1024


def model_config_handler(step: str) -> tuple[str | None, str | None]:
    """``(handler typestr, problem)`` for the ``model_config`` checkpointable of ``step``: ``(None, None)`` when the
    step names none (no ``_CHECKPOINT_METADATA`` or no entry: Orbax's default, the pytree handler); a problem
    when the metadata cannot be read (too large, not JSON, not an object)."""
    from weightwarden.artifact.json_depth import loads_checked

    path = os.path.join(step, STEP_METADATA)
    try:
        size = os.path.getsize(path)
    except OSError:
        return None, None
    if size > MAX_STEP_METADATA:
        return None, f"{STEP_METADATA} of {size} bytes exceeds {MAX_STEP_METADATA} bytes"
    try:
        with open(path, "rb") as f:
            value, limit = loads_checked(f.read())
    except (OSError, ValueError) as exc:
        return None, f"{STEP_METADATA} does not parse: {type(exc).__name__}"
    if limit is not None:  # round 29: the scanner's limit, reported as such (a problem: the caller fails closed)
        return None, f"{STEP_METADATA}: {limit}"
    if not isinstance(value, dict):
        return None, f"{STEP_METADATA} is not a JSON object"
    handlers = value.get("item_handlers")
    if handlers is None:
        return None, None
    if isinstance(handlers, str):  # a single-item checkpoint names its one handler as a string
        return handlers, None
    if not isinstance(handlers, dict):
        return None, f"{STEP_METADATA} item_handlers is neither an object nor a string"
    name = handlers.get(MODEL_CONFIG)
    if name is None:
        return None, None
    if not isinstance(name, str):
        return None, f"{STEP_METADATA} item_handlers.{MODEL_CONFIG} is not a string"
    return name, None


def model_config_file(folder: str) -> tuple[str | None, str | None]:
    """``(file Keras' config comes from, problem)`` for a ``model_config`` folder: ``_strings.json`` under the pytree
    handler, JsonHandler's first existing file under a JSON handler, and a problem (fail closed) for a handler
    typestr this module does not model."""
    handler, problem = model_config_handler(os.path.dirname(folder))
    if problem is not None:
        return None, problem
    if handler is None or handler in PYTREE_HANDLERS:
        return os.path.join(folder, ORBAX_STRINGS), None
    if handler in JSON_HANDLERS:
        for name in JSON_HANDLER_FILES:
            if os.path.isfile(os.path.join(folder, name)):
                return os.path.join(folder, name), None
        return os.path.join(folder, JSON_HANDLER_FILES[0]), None
    return None, f"{STEP_METADATA} names the handler {handler[:200]!r} for {MODEL_CONFIG}, which the scanner does not model"


def is_orbax_checkpoint(folder: str) -> bool:
    """Keras' own test, on the real folder (listing only; nothing is opened)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    if not ORBAX_INDICATORS.isdisjoint(names):
        return True
    return any(ORBAX_TMP_MARK in n or (n.isdigit() and os.path.isdir(os.path.join(folder, n))) for n in names)


def is_orbax_step(folder: str) -> bool:
    """A step folder: Orbax's step metadata in it, a digit name, or a parent Keras takes for a checkpoint."""
    name = os.path.basename(folder.rstrip(os.sep))
    return (os.path.isfile(os.path.join(folder, STEP_METADATA)) or name.isdigit()
            or is_orbax_checkpoint(os.path.dirname(folder.rstrip(os.sep))))


def model_config_folders(files: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``{absolute model_config folder: its display}`` for the Orbax steps among ``files``
    (``(absolute path, display relative to the scanned root)`` of each discovered file)."""
    found: dict[str, str] = {}
    for path, display in files:
        parts = display.split("/")
        for i in range(len(parts) - 1):  # folders only: the last part is the file
            if parts[i] != MODEL_CONFIG:
                continue
            depth_below = len(parts) - 1 - i  # path components from model_config to the file
            folder = path
            for _ in range(depth_below):
                folder = os.path.dirname(folder)
            if folder in found:
                continue
            if is_orbax_step(os.path.dirname(folder)):
                found[folder] = "/".join(parts[: i + 1])
    return found


__all__ = ["JSON_HANDLERS", "MODEL_CONFIG", "ORBAX_INDICATORS", "ORBAX_STRINGS", "PYTREE_HANDLERS", "is_orbax_checkpoint",
           "is_orbax_step", "model_config_file", "model_config_handler", "model_config_folders"]
