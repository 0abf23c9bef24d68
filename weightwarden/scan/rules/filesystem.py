"""Filesystem family (WW-FS-*): links and special files found while walking a model folder.

Links are never followed. A link that resolves outside the scanned folder, or that is absolute, makes
anyone loading the folder read a file the publisher did not ship (``config.json -> /etc/passwd`` or
``~/.ssh/id_rsa``); one inside the folder is recorded for information only.
"""

from __future__ import annotations

from weightwarden.core.findings import Severity
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    CWE_INPUT_VALIDATION,
    CWE_LINK_FOLLOWING,
    ScanRule,
)

ESCAPING_LINK = ScanRule(
    "WW-FS-001",
    Severity.HIGH,
    "Symbolic link points outside the model folder",
    "A file of the model is a symbolic link whose target is absolute or climbs out of the folder. Loading "
    "the model reads whatever that path holds on the loading machine; the target was not scanned.",
    "Replace the link with the real file, or remove it. Never load a model folder with escaping links.",
    (CWE_LINK_FOLLOWING, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("fs.symlink_escape", "fs.symlink_absolute"),
)
INNER_LINK = ScanRule(
    "WW-FS-002",
    Severity.INFO,
    "Symbolic link inside the model folder",
    "A file is a symbolic link to another file of the same folder. Its target is read under the link's name "
    "(a loader opens that name), wherever it lies in the folder, even in a folder the scan otherwise skips.",
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

RULES: tuple[ScanRule, ...] = (ESCAPING_LINK, INNER_LINK, SPECIAL_FILE, UNRECOGNISED, UNVERIFIED_MODEL, POLYGLOT)
