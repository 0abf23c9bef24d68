"""Safetensors family (WW-ST-*): structural violations of the safetensors header.

Safetensors cannot carry code, so its risks are parser differentials (a header two loaders read
differently), hidden bytes (data outside every tensor: polyglots, smuggled payloads) and plain corruption.
The reader checks what the reference implementation checks and reports each violation as an anomaly.
"""

from __future__ import annotations

from weightwarden.core.findings import Severity
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    CWE_INPUT_VALIDATION,
    CWE_INTERPRETATION_CONFLICT,
    ScanRule,
)

DIFFERENTIAL = ScanRule(
    "WW-ST-001",
    Severity.HIGH,
    "Safetensors header is ambiguous or points outside the data",
    "Duplicate keys, overlapping tensors, offsets outside the data section, sizes that do not match the "
    "shape, or a header length beyond the file: loaders disagree on such files (or read memory they should "
    "not), which is how scanners and reviews are bypassed.",
    "Do not load the file; re-export it with the safetensors library from a trusted source.",
    (CWE_INTERPRETATION_CONFLICT, CWE_INPUT_VALIDATION, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=(
        "safetensors.duplicate_key",
        "safetensors.offset_overlap",
        "safetensors.out_of_bounds",
        "safetensors.size_mismatch",
        "safetensors.bad_offsets",
        "safetensors.header_too_large",
    ),
)
MALFORMED = ScanRule(
    "WW-ST-002",
    Severity.MEDIUM,
    "Safetensors header is malformed",
    "The header is too short, not UTF-8, not a JSON object, or has entries with missing keys, unknown dtypes, "
    "invalid shapes or a non-string metadata map. The reference loader rejects such files.",
    "Re-download or re-export the file; a valid safetensors file never has these defects.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=(
        "safetensors.too_small",
        "safetensors.bad_utf8",
        "safetensors.bad_json",
        "safetensors.bad_entry",
        "safetensors.bad_dtype",
        "safetensors.bad_shape",
        "safetensors.bad_metadata",
    ),
)
HIDDEN_BYTES = ScanRule(
    "WW-ST-003",
    Severity.MEDIUM,
    "Safetensors file carries bytes no tensor uses",
    "There are unused bytes between tensors, after the last tensor, or as unusual header padding. Nothing "
    "loads them, but they can smuggle a second payload (polyglot files) past reviews.",
    "Re-export the file with the safetensors library; ask the publisher what the extra bytes are.",
    (CWE_INTERPRETATION_CONFLICT, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("safetensors.gap", "safetensors.trailing_data", "safetensors.header_padding"),
)

RULES: tuple[ScanRule, ...] = (DIFFERENTIAL, MALFORMED, HIDDEN_BYTES)
