"""Filesystem family (WW-FS-*): links and special files found while walking a model folder.

A link that resolves outside the scanned folder, or that is absolute, makes anyone loading the folder read a
file the publisher did not ship (``config.json -> /etc/passwd`` or ``~/.ssh/id_rsa``); one inside the folder is
recorded for information only (its target is read under its name). Since red team round 34 a relative link leaving
the folder under a name a loader opens is read too (the finding stays high): see ``artifact/walk.py``.
"""

from __future__ import annotations

from weightwarden.core.findings import Severity
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    CWE_INPUT_VALIDATION,
    CWE_LINK_FOLLOWING,
    CWE_RESOURCE,
    ScanRule,
)

ESCAPING_LINK = ScanRule(
    "WW-FS-001",
    Severity.HIGH,
    "Symbolic link points outside the model folder",
    "A file of the model is a symbolic link whose target is absolute or climbs out of the folder. Loading "
    "the model reads whatever that path holds on the loading machine. A relative link named as a file a loader "
    "opens (a model extension, a loader's file name, a SavedModel's keras_metadata.pb) has its target, when a "
    "regular file, read under the link's name and its own findings reported; other targets were not scanned.",
    "Replace the link with the real file, or remove it. Never load a model folder with escaping links.",
    (CWE_LINK_FOLLOWING, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("fs.symlink_escape", "fs.symlink_absolute"),
)
INNER_LINK = ScanRule(
    "WW-FS-002",
    Severity.INFO,
    "Symbolic link inside the model folder",
    "A file is a symbolic link to another file or folder of the same folder. Its target is read under the "
    "link's name (a loader opens that name): a file link's target, and every file of a folder link's tree "
    "(walked with loops and nesting bounded). A link into a folder the scan otherwise skips is WW-FS-007.",
    "No action needed.",
    (CWE_LINK_FOLLOWING,),
    anomaly_codes=("fs.symlink",),
)
SPECIAL_FILE = ScanRule(
    "WW-FS-003",
    Severity.MEDIUM,
    "Special file in the model folder",
    "A device, socket or named pipe sits in the model folder. It was not read; reading it could block or "
    "return data from outside the model.",
    "Remove it from the model folder.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("fs.special_file",),
)

UNRECOGNISED = ScanRule(
    "WW-FS-004",
    Severity.INFO,
    "File format not recognised",
    "The file's content matches none of the formats weightwarden reads (for example raw tensor shards of a "
    "TensorFlow checkpoint). Its bytes were not analysed; it is listed so that nothing passes unseen.",
    "If a loader interprets this file, check which format it expects and scan it with a tool that reads it.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("fs.unrecognised_format",),
)

UNVERIFIED_MODEL = ScanRule(
    "WW-FS-005",
    Severity.MEDIUM,
    "Model file could not be verified",
    "The file carries the extension of a model format (.pt, .pkl, .joblib, .gguf, .safetensors, ...) but its "
    "content is none that weightwarden reads. A loader given the file will still try to interpret it, so "
    "an unreadable model file is not a clean one.",
    "Find out which loader reads this file and why its content is not the format its name says; do not "
    "load it until it has been checked.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("fs.unverified_model_file",),
)
POLYGLOT = ScanRule(
    "WW-FS-006",
    Severity.HIGH,
    "File is valid as two formats (polyglot)",
    "Two readers accept the same bytes: for example a safetensors or tar file whose first bytes are also a "
    "pickle program that imports code. Which program runs depends on the loader; scanners that stop at the "
    "first matching format see only the harmless reading.",
    "Do not load the file. Ask the publisher for a file in one unambiguous format.",
    (CWE_INPUT_VALIDATION, "CWE-436", ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("format.polyglot",),
)

# Red team round 20 (class A): the walk skips .git, __pycache__, .DS_Store ...; loaders reach them anyway through
# a link or a shard index. Those references are followed (the files read) and reported.
SKIPPED_REFERENCE = ScanRule(
    "WW-FS-007",
    Severity.HIGH,
    "Loader-reachable file in a folder the scan would skip",
    "A symbolic link (to a file or a folder), a shard index (``*.index.json`` weight_map) or a store's index "
    "(diskcache's ``filename`` column) names a file in a "
    "folder such as .git or __pycache__, or under a name such as .DS_Store, that no one expects to hold model "
    "content. A loader following the link or the index reads it (``from_pretrained`` loads indexed shards). "
    "The file was read and its own findings are reported; hiding weights there serves only to evade review.",
    "Do not load the folder. Ask the publisher for a folder whose weights are ordinary files.",
    (CWE_LINK_FOLLOWING, CWE_INPUT_VALIDATION, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("fs.reference_into_skipped",),
)
INDEX_ESCAPE = ScanRule(
    "WW-FS-008",
    Severity.HIGH,
    "Shard index names a file outside the model folder",
    "A shard index (``*.index.json``, or diskcache's ``filename`` column) names a file by an absolute path, by "
    "one that climbs out of the folder, "
    "or by one that resolves outside it through a link. A loader joins the name to the folder and reads "
    "whatever that path holds on the loading machine; it was not scanned.",
    "Do not load the folder. Shard names must be plain file names inside the model folder.",
    (CWE_LINK_FOLLOWING, CWE_INPUT_VALIDATION, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("fs.index_escape",),
)
INDEX_UNRESOLVED = ScanRule(
    "WW-FS-009",
    Severity.LOW,
    "Shard index entry names no readable file",
    "A shard index is not JSON with a weight_map, or names a shard that is not a regular file of the folder "
    "(missing, a folder, or a name no file has). A loader fails on it; an incomplete download looks the same.",
    "Check that the folder is complete and that the index belongs to it.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("fs.index_unresolved",),
)
LINK_LOOP = ScanRule(
    "WW-FS-010",
    Severity.MEDIUM,
    "Symbolic link loop in the model folder",
    "A link to a folder points back to a folder on its own path, so the tree has infinitely many names. Every "
    "folder of the loop was walked once, under its first name; the loop has no use in a model and makes "
    "tools that follow links recurse forever.",
    "Remove the link.",
    (CWE_LINK_FOLLOWING, "CWE-835"),
    anomaly_codes=("fs.symlink_loop",),
)
SKIPPED_CONTENT = ScanRule(
    "WW-FS-011",
    Severity.MEDIUM,
    "Model content in a folder or under a name the scan skips",
    "A file named like a model file (.pt, .bin, .pkl, ...) lies in a folder the walk skips (.git, __pycache__, "
    "...), or a file under a skipped name (.DS_Store, .gitattributes) holds something else than that name's "
    "format. Nothing may load it, but nothing should be there: it was read, and its own findings are reported.",
    "Find out why model content is stored there; remove it or move it into the model folder proper.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("fs.skipped_model_file", "fs.skipped_name_content"),
)
SKIPPED_UNLISTED = ScanRule(
    "WW-FS-012",
    Severity.INFO,
    "Skipped folders too large to check",
    "The folders the walk skips (.git, __pycache__, ...) hold more entries than the listing bound, so they "
    "were not all checked for model-named files. Files that links or shard indexes name are read regardless.",
    "No action needed unless the folder came from an untrusted source.",
    (CWE_RESOURCE,),
    anomaly_codes=("fs.skipped_folder_unlisted",),
)

RULES: tuple[ScanRule, ...] = (ESCAPING_LINK, INNER_LINK, SPECIAL_FILE, UNRECOGNISED, UNVERIFIED_MODEL, POLYGLOT,
                               SKIPPED_REFERENCE, INDEX_ESCAPE, INDEX_UNRESOLVED, LINK_LOOP, SKIPPED_CONTENT,
                               SKIPPED_UNLISTED)
