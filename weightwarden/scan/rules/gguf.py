"""GGUF family (WW-GGUF-*): structural violations of GGUF headers and tensor tables.

GGUF carries no executable code (its chat template is judged by the template family), so these rules
cover parser differentials (duplicate keys or tensors, overlapping tensor data), tensor tables pointing
outside the file (memory-safety bugs in runtimes have come from exactly this), and corruption.
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
    "WW-GGUF-001",
    Severity.HIGH,
    "GGUF metadata or tensor table is ambiguous or out of bounds",
    "A metadata key or tensor name appears twice (compared as C readers compare them, up to the first NUL), a key "
    "or tensor name holds a NUL byte (ggml and llama.cpp read 'tokenizer.chat_template\\0' as the chat template, "
    "Python readers as another key), a string value holds a NUL byte (llama.cpp reads a chat template or any "
    "value up to it, Python readers the whole value), tensors share bytes, or a tensor extends past the end of the file. Runtimes "
    "disagree on such files, and out-of-bounds tables have triggered memory-safety bugs in GGUF loaders.",
    "Do not load the file; re-convert the model with a maintained GGUF tool from a trusted source.",
    (CWE_INTERPRETATION_CONFLICT, CWE_INPUT_VALIDATION, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("gguf.duplicate_key", "gguf.duplicate_tensor", "gguf.offset_overlap", "gguf.out_of_bounds",
                   "gguf.header_too_large", "gguf.bad_dims", "gguf.key_nul", "gguf.value_nul"),
)
MALFORMED = ScanRule(
    "WW-GGUF-002",
    Severity.MEDIUM,
    "GGUF file is malformed",
    "The header is truncated, has an unknown version or value type, nests arrays too deeply, has invalid "
    "UTF-8 or control characters in a key or tensor name, a bad alignment, unknown tensor types, misaligned offsets or element counts that do not fit "
    "the type. Part of the file could not be inspected.",
    "Re-download or re-convert the file; valid GGUF writers never produce these defects.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("gguf.truncated", "gguf.bad_version", "gguf.bad_value_type", "gguf.nesting_too_deep",
                   "gguf.bad_utf8", "gguf.bad_alignment", "gguf.bad_type", "gguf.size_mismatch", "gguf.misaligned",
                   "gguf.key_control"),
)
HIDDEN_BYTES = ScanRule(
    "WW-GGUF-003",
    Severity.MEDIUM,
    "GGUF file carries bytes after its last tensor",
    "More than one alignment unit of data follows the last tensor. Loaders ignore it; it can smuggle a "
    "second payload past reviews.",
    "Re-convert the model; ask the publisher what the extra bytes are.",
    (CWE_INTERPRETATION_CONFLICT,),
    anomaly_codes=("gguf.trailing_data",),
)

RULES: tuple[ScanRule, ...] = (DIFFERENTIAL, MALFORMED, HIDDEN_BYTES)
