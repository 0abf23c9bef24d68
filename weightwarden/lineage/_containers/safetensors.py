"""safetensors: the tensor table of the file's JSON header.

The header is read by :mod:`weightwarden.artifact.readers.safetensors`, which bounds its size and reports
anomalies instead of raising. A file with a malformed header, duplicate keys, or byte ranges that overflow,
overlap or disagree with their shape is refused
(:func:`~weightwarden.lineage._containers._stored._header_entry`), since every later digest and diff trusts
those ranges; gaps, odd padding and trailing bytes are tolerated. Tensor bytes are not read here:
:class:`~weightwarden.lineage.tensors.TensorSet` maps them.
"""

from __future__ import annotations

from pathlib import Path

from weightwarden.lineage._containers._stored import _header_entry, _Stored


def _read_safetensors(p: Path) -> list[_Stored]:
    from weightwarden.artifact.readers import safetensors as reader

    entry = _header_entry(reader, p)
    out = []
    for t in entry.tensors:
        out.append(_Stored(t.name, str(p), t.dtype, tuple(t.shape), t.start, t.end - t.start))
    return out
