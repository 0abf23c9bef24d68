"""Generic family (WW-GEN-*): resource limits, remote code of HF folders, and the catch-all rule.

``WW-GEN-900`` fires for any anomaly code no other rule claims, so a new reader anomaly is never dropped
silently (a test asserts every code in the source tree has an explicit rule).
"""

from __future__ import annotations

from weightwarden.core.findings import Severity
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    ATLAS_USER_EXECUTION,
    CWE_CODE_INJECTION,
    CWE_INPUT_VALIDATION,
    CWE_RESOURCE,
    CWE_UNTRUSTED_FUNCTIONALITY,
    ScanRule,
)

LIMIT = ScanRule(
    "WW-GEN-001",
    Severity.HIGH,
    "Scan stopped at a safety limit",
    "A file or folder exceeded a bound (file count, header or text size, JSON nesting depth, object count, "
    "decompressed size, parse time). "
    "Content past the bound was not inspected; hostile files inflate structures to exhaust scanners.",
    "Inspect the file by other means, or raise the limit knowingly if the input is trusted.",
    (CWE_RESOURCE, CWE_INPUT_VALIDATION),
    anomaly_codes=(
        "limits.too_many_files",
        "limits.link_walk",
        "limits.decompression",
        "limits.text_too_large",
        "limits.header_too_large",
        "limits.too_many_objects",
        "limits.parse_timeout",
        # Red team round 28: a Keras config (or the part of it past the walk's bounds) that was not analysed
        # while the loader json.loads and builds all of it fails closed here, not as a malformed config (medium).
        "keras.config_too_large",
    ),
)
REMOTE_CODE = ScanRule(
    "WW-GEN-002",
    Severity.MEDIUM,
    "Model requires running code from its repository (trust_remote_code)",
    "The configuration maps model classes or pipelines to Python files of the repository (auto_map, "
    "custom_pipelines). Loading it with trust_remote_code=True imports and runs that code.",
    "Review the referenced Python files before enabling trust_remote_code, or use a model that the library "
    "supports natively.",
    (CWE_UNTRUSTED_FUNCTIONALITY, CWE_CODE_INJECTION, ATLAS_SUPPLY_CHAIN, ATLAS_USER_EXECUTION),
    anomaly_codes=("hf.remote_code",),
)
UNREADABLE = ScanRule(
    "WW-GEN-003",
    Severity.HIGH,
    "File could not be scanned",
    "A file or archive member could not be read to the end (unreadable, truncated, or a reader failed on it). "
    "Nothing is known about what it would do when loaded: it is reported as a finding, never passed.",
    "Find out why it cannot be read (the reason is given); do not load it until it can be scanned.",
    (CWE_INPUT_VALIDATION,),
)
MALFORMED_TEXT = ScanRule(
    "WW-GEN-004",
    Severity.MEDIUM,
    "Structured text file does not parse",
    "The file's content says JSON (it starts with '{') but it does not parse as JSON (nor as JSON lines), or a "
    "JSON file too large to parse whole does not end the way it starts (truncated). What a loader makes of it "
    "is not what was analysed: a malformed file is never passed as clean (red team round 21: a Jinja template "
    "starting with '{{' was taken for JSON and passed with no finding).",
    "Find out why the file is malformed (a cut download, a file of another format); replace it with a valid one.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("format.malformed_text",),
)
UNMAPPED = ScanRule(
    "WW-GEN-900",
    Severity.MEDIUM,
    "Unclassified structural anomaly",
    "A reader reported an anomaly that no specific rule covers yet. It is reported rather than dropped.",
    "Review the evidence; report the anomaly code to the weightwarden maintainers so it gets a rule.",
    (CWE_INPUT_VALIDATION,),
)

RULES: tuple[ScanRule, ...] = (LIMIT, REMOTE_CODE, UNREADABLE, MALFORMED_TEXT, UNMAPPED)
