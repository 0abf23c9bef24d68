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

from weightwarden.artifact.loader import DiscoveredFile, discover, open_artifact, read_file, read_source
from weightwarden.artifact.model import Anomaly, Artifact, CodeKind, CodeObject, FileEntry, Format, TensorInfo
from weightwarden.artifact.source import Source
from weightwarden.core.limits import DEFAULT_LIMITS, Limits

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
