"""What the container readers share: the record they return, the element-type table, common checks.

A reader describes each tensor as a ``_Stored`` (stored name, file, element type, shape, byte range) plus a
:class:`_Layout` for what :class:`~weightwarden.lineage.tensors.TensorSet` needs beyond that (GGUF type,
element strides, byte order, Q/K permutation). Element types carry safetensors' names (``F32``, ``BF16`` ...;
:data:`ELEMENT_TYPES`). :func:`_header_entry` runs a bounded header reader of
:mod:`weightwarden.artifact.readers` and refuses the file when an anomaly makes its tensor table
untrustworthy (:data:`_FATAL_ANOMALIES`): a byte range that cannot be trusted would make digests and diffs
silently wrong. :class:`CheckpointRefused` is the error for pickle programs that need more than tensor
rebuilding; :mod:`weightwarden.lineage.tensors` re-exports it and :data:`ELEMENT_TYPES`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.lineage.model import LineageError

MAX_VOCAB = 4_000_000  # tokens read from a GGUF header or a tokenizer file

# Stored element type name -> (numpy dtype string or None, bytes per element). The names are safetensors'.
ELEMENT_TYPES: dict[str, tuple[str | None, int]] = {
    "BOOL": ("?", 1),
    "U8": ("u1", 1),
    "I8": ("i1", 1),
    "U16": ("u2", 2),
    "I16": ("i2", 2),
    "F16": ("f2", 2),
    "BF16": (None, 2),
    "U32": ("u4", 4),
    "I32": ("i4", 4),
    "F32": ("f4", 4),
    "U64": ("u8", 8),
    "I64": ("i8", 8),
    "F64": ("f8", 8),
    "C64": ("c8", 8),
    "C128": ("c16", 16),
    "F8_E4M3": (None, 1),
    "F8_E5M2": (None, 1),
}
def member_data_offset(raw: Any, info: Any) -> int | None:
    """Where the bytes of stored zip member ``info`` start in the open archive ``raw``: after its local
    header, whose name and extra-field lengths may differ from the central directory's. None when no local
    header is found where the central directory points."""
    raw.seek(info.header_offset)
    head = raw.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return int(info.header_offset) + 30 + name_len + extra_len


# What Python's zipfile raises on damaged or exotic archives (besides BadZipFile).
_ZIP_ERRORS = (OSError, ValueError, NotImplementedError, RuntimeError, EOFError, struct.error, zlib.error)

# safetensors / GGUF reader anomalies that make the file unreadable for tensor access (others are tolerated).
_FATAL_ANOMALIES = frozenset({
    "safetensors.too_small", "safetensors.header_too_large", "safetensors.bad_utf8", "safetensors.bad_json",
    "safetensors.duplicate_key", "safetensors.bad_entry", "safetensors.bad_dtype", "safetensors.bad_shape",
    "safetensors.bad_offsets", "safetensors.size_mismatch", "safetensors.out_of_bounds",
    "safetensors.offset_overlap", "safetensors.bad_metadata",
    "gguf.truncated", "gguf.header_too_large", "gguf.bad_version", "gguf.bad_value_type", "gguf.bad_dims",
    "gguf.nesting_too_deep", "gguf.duplicate_tensor", "gguf.bad_type", "gguf.size_mismatch", "gguf.out_of_bounds",
    "gguf.offset_overlap", "gguf.bad_alignment",
})


class CheckpointRefused(LineageError):
    """A pickle-based checkpoint needs more than tensor rebuilding (the message names the opcode/global)."""


@dataclass(frozen=True)
class _Layout:
    """How a tensor's bytes sit in its file, beyond TensorRef: what load/canonical_chunks need."""

    ggml_type: str | None = None  # GGUF type name (F32, Q4_1 ...); None for element-typed containers
    strides: tuple[int, ...] | None = None  # element strides; None = C-contiguous
    big_endian: bool = False
    unpermute_heads: int = 0  # >0: rows were permuted by llama.cpp with this many heads


@dataclass
class _Stored:
    """One tensor as a container reader found it (before canonical naming)."""

    name: str
    file: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    layout: _Layout = field(default_factory=_Layout)


# --- shared by the readers ------------------------------------------------------------------------------
def _header_entry(reader: Any, p: Path) -> Any:
    from weightwarden.artifact.context import ReadContext
    from weightwarden.artifact.source import Source

    try:
        entry = reader.read(Source.from_path(str(p), str(p)), ReadContext())
    except OSError as exc:
        raise LineageError(f"{p}: cannot read: {exc.strerror or exc}") from None
    fatal = [a for a in entry.anomalies if a.code in _FATAL_ANOMALIES]
    if fatal:
        a = fatal[0]
        more = f" (and {len(fatal) - 1} more problem(s))" if len(fatal) > 1 else ""
        detail = f": {a.evidence}" if a.evidence else ""
        raise LineageError(f"{p}: {a.message} at {a.location}{detail} [{a.code}]{more}")
    if entry.error:
        raise LineageError(f"{p}: {entry.error}")
    return entry


def _int_or_none(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None
