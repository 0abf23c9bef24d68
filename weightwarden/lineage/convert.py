"""Safe conversion of a pickle-based checkpoint (PyTorch zip or legacy, NumPy .npy/.npz) to safetensors.

People convert checkpoints by calling ``torch.load``, which runs the checkpoint's pickle program: the very
risk the conversion should remove. Here nothing from the file ever runs:

1. the file is scanned with the tensor-only allowlist (``scan_paths(strict=True)``); any finding at LOW or
   above refuses the conversion, and the findings say why (a file the symbolic rebuild finds corrupt --
   truncated, sizes past the end -- is an error instead, even when the scan flags it too);
2. the saved object is rebuilt symbolically (:mod:`weightwarden.picklevm.tensors`): storages, offsets, sizes
   and strides from the rebuilder calls, never executed; nested dicts and lists are flattened with dots
   (``optimizer.state.0.exp_avg``), non-tensor leaves (epoch counters, learning rates ...) are left out and
   listed in the result;
3. every tensor is written in C order, little-endian, from the file's memory map one tensor at a time
   (strided views are materialised, tensors sharing a storage are written each on its own, BF16 keeps its raw
   bytes), under a ``{"format": "pt", "converted_by": "weightwarden <version>"}`` metadata map.

The output is written to a temporary file next to the destination and renamed into place when complete.
Usage: ``convert_checkpoint("pytorch_model.bin", "model.safetensors")``; the CLI is ``weightwarden convert``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden import __version__
from weightwarden.lineage.model import LineageError

# Element types safetensors can store (the rest, e.g. C128, are refused with a clear message).
SAFETENSORS_DTYPES = frozenset({
    "BOOL", "U8", "I8", "U16", "I16", "F16", "BF16", "U32", "I32", "F32", "U64", "I64", "F64", "C64",
    "F8_E4M3", "F8_E5M2",
})


@dataclass(frozen=True)
class ConvertResult:
    """What a conversion did: tensors and bytes written, or the scan findings that refused it."""

    source: str
    output: str | None  # None when refused
    tensors: int = 0
    bytes: int = 0
    refused: tuple[Any, ...] = ()  # weightwarden.core.findings.Finding records
    skipped: tuple[str, ...] = ()  # non-tensor leaves of the saved object, left out

    @property
    def converted(self) -> bool:
        return self.output is not None and not self.refused


def convert_checkpoint(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, force: bool = False) -> ConvertResult:
    """Convert ``src`` to safetensors at ``dst``; refuse (``result.refused``) if it needs more than tensors.

    Raises :class:`LineageError` for unreadable input, an existing ``dst`` without ``force``, or a tensor
    type safetensors cannot hold.
    """
    from weightwarden.core.findings import Finding, Location, Severity, file_subject
    from weightwarden.lineage.tensors import CheckpointRefused, TensorSet, container_of, stored_tensors
    from weightwarden.scan import scan_paths

    src_p, dst_p = Path(src), Path(dst)
    if not src_p.is_file():
        raise LineageError(f"{src_p}: not a file")
    if dst_p.exists() and not force:
        raise LineageError(f"{dst_p}: already exists (use --force to overwrite)")
    if dst_p.exists() and dst_p.resolve() == src_p.resolve():
        raise LineageError(f"{dst_p}: the output would overwrite the checkpoint")
    container = container_of(src_p)
    if container not in ("pytorch", "numpy"):
        raise LineageError(f"{src_p}: not a PyTorch or NumPy checkpoint (found: {container or 'unknown format'})")

    report = scan_paths([str(src_p)], strict=True, workers=1)
    if report.errors:
        raise LineageError(f"{src_p}: could not be scanned: {report.errors[0].reason}")
    blocking = tuple(f for f in report.findings if f.severity.at_least(Severity.LOW))
    try:
        stored, skipped, info = stored_tensors(src_p, container)
    except CheckpointRefused as exc:
        if blocking:
            return ConvertResult(str(src_p), None, refused=blocking)
        # The scan passed but the symbolic rebuild met something it will not guess at: still a refusal.
        finding = Finding(
            rule_id="WW-CONVERT-REBUILD", severity=Severity.MEDIUM, subject=file_subject(str(src_p)),
            location=Location(str(src_p)), message=str(exc), component="lineage",
            remediation="Re-save the weights as a plain state dict of tensors.",
            title="checkpoint needs more than tensor rebuilding",
        )
        return ConvertResult(str(src_p), None, refused=(finding,))
    # A corrupt file (truncated, sizes that lie) raised LineageError above: an error, not a refusal, even
    # though the scan flags it too.
    if blocking:
        return ConvertResult(str(src_p), None, refused=blocking)
    for s in stored:
        if s.dtype not in SAFETENSORS_DTYPES:
            raise LineageError(f"{src_p}: tensor {s.name!r} has type {s.dtype}, which safetensors cannot hold")
        # The header is one JSON object: a tensor named like its metadata key would overwrite the metadata
        # and leave bytes the header does not describe. (Names are unique: flatten refuses two paths that
        # spell one name, and the scan refuses an archive with two members of one name.)
        if s.name == "__metadata__":
            raise LineageError(f"{src_p}: a tensor is named '__metadata__', which safetensors reserves")
    with TensorSet(info, stored, {i: s.name for i, s in enumerate(stored)}) as ts:
        n_bytes = _write_safetensors(ts, dst_p)
        return ConvertResult(str(src_p), str(dst_p), tensors=len(ts.refs), bytes=n_bytes, skipped=tuple(skipped))


def _write_safetensors(ts: Any, dst: Path) -> int:
    """Write every tensor's canonical bytes (C order, little-endian) in the safetensors layout."""
    from weightwarden.lineage.tensors import ELEMENT_TYPES

    header: dict[str, Any] = {"__metadata__": {"format": "pt", "converted_by": f"weightwarden {__version__}"}}
    offset = 0
    sizes = {}
    for ref in ts.refs:
        size = ref.numel * ELEMENT_TYPES[ref.dtype][1]
        header[ref.canonical] = {"dtype": ref.dtype, "shape": list(ref.shape), "data_offsets": [offset, offset + size]}
        sizes[ref.canonical] = size
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(len(raw).to_bytes(8, "little"))
            out.write(raw)
            for ref in ts.refs:
                written = 0
                for chunk in ts.canonical_chunks(ref):
                    out.write(chunk)
                    written += len(chunk)
                if written != sizes[ref.canonical]:
                    raise LineageError(f"{ref.file}: tensor {ref.name!r} gave {written} bytes, expected {sizes[ref.canonical]}")
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return offset
