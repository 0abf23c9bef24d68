"""Read any model file or folder safely, without executing it.

Usage::

    from weightwarden.artifact import open_artifact
    artifact = open_artifact("path/to/model")
    for entry in artifact.walk():
        print(entry.path, entry.format, len(entry.tensors), [c.kind for c in entry.code])

The format of each file is decided from its content (:mod:`.sniff`), then one reader per format
(:mod:`.readers`) extracts metadata, tensor declarations (offsets, not bytes), the code objects a loader
could run, and structural anomalies. Nothing here judges: :mod:`weightwarden.scan` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weightwarden.core.lazy import lazy_exports

if TYPE_CHECKING:
    from weightwarden.artifact.loader import DiscoveredFile, discover, open_artifact, read_file, read_source
    from weightwarden.artifact.model import (
        Anomaly,
        Artifact,
        CodeKind,
        CodeObject,
        FileEntry,
        Format,
        TensorInfo,
    )
    from weightwarden.artifact.source import Source
    from weightwarden.core.limits import DEFAULT_LIMITS, Limits

# The names above are loaded on first use (PEP 562), not when the package is imported: the HDF5 helper
# process imports one reader (``readers.keras_h5``) and its data model, and importing the package eagerly
# pulled the loader, every sniffer and tarfile into that process too (~20 ms of its start-up).
_EXPORTS = {
    "DiscoveredFile": "weightwarden.artifact.loader", "discover": "weightwarden.artifact.loader",
    "open_artifact": "weightwarden.artifact.loader", "read_file": "weightwarden.artifact.loader",
    "read_source": "weightwarden.artifact.loader",
    "Anomaly": "weightwarden.artifact.model", "Artifact": "weightwarden.artifact.model",
    "CodeKind": "weightwarden.artifact.model", "CodeObject": "weightwarden.artifact.model",
    "FileEntry": "weightwarden.artifact.model", "Format": "weightwarden.artifact.model",
    "TensorInfo": "weightwarden.artifact.model",
    "Source": "weightwarden.artifact.source",
    "DEFAULT_LIMITS": "weightwarden.core.limits", "Limits": "weightwarden.core.limits",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


__all__ = [
    "DEFAULT_LIMITS",
    "Anomaly",
    "Artifact",
    "CodeKind",
    "CodeObject",
    "DiscoveredFile",
    "FileEntry",
    "Format",
    "Limits",
    "Source",
    "TensorInfo",
    "discover",
    "open_artifact",
    "read_file",
    "read_source",
]
