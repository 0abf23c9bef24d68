"""GGUF: the tensor table plus architecture, head counts, vocabulary and declared base model from the header.

The header is read by the bounded :mod:`weightwarden.artifact.readers.gguf_file`; a malformed one is refused
(:func:`~weightwarden.lineage._containers._stored._header_entry`). Shapes are turned to row-major (GGUF
lists dimensions innermost first). llama.cpp's converter permutes the Q/K rows of the architectures in
:data:`PERMUTED_ARCHITECTURES` for its rotary layout; such tensors are marked with their head count so that
``TensorSet`` can undo the permutation and the weights compare with the Hugging Face original. A permuted
tensor whose rows do not split evenly over its heads, or a 1-D one of a block quant type, is refused: its
rows cannot be put back. Dequantisation happens on load (``TensorSet.load``, with ``gguf.quants``), not here.
"""

from __future__ import annotations

import mmap
import re
import struct
from pathlib import Path
from typing import Any

from weightwarden.lineage._containers._stored import MAX_VOCAB, _header_entry, _int_or_none, _Layout, _Stored
from weightwarden.lineage.model import LineageError, ModelInfo

# Architectures whose GGUF converter permutes q/k rows for its rotary layout (llama.cpp LlamaModel.permute).
PERMUTED_ARCHITECTURES = frozenset({"llama", "mistral"})


def _read_gguf(p: Path, where: Path) -> tuple[list[_Stored], ModelInfo]:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    from weightwarden.artifact.readers import gguf_file as reader

    entry = _header_entry(reader, p)
    kv: dict[str, Any] = entry.metadata.get("kv", {})
    big = entry.metadata.get("byte_order") == "big"
    arch = kv.get("general.architecture") if isinstance(kv.get("general.architecture"), str) else None
    n_head = _int_or_none(kv.get(f"{arch}.attention.head_count"))
    n_head_kv = _int_or_none(kv.get(f"{arch}.attention.head_count_kv")) or n_head
    permute = arch in PERMUTED_ARCHITECTURES
    out = []
    for t in entry.tensors:
        shape = tuple(reversed(t.shape))
        block = GGML_QUANT_SIZES[GGMLQuantizationType[t.dtype]][0]
        heads = 0
        if permute and re.match(r"^blk\.\d+\.attn_[qk]\.(weight|bias)$", t.name):
            heads = n_head if ".attn_q." in t.name else n_head_kv
            if not heads or not shape or shape[0] % (2 * heads):
                raise LineageError(
                    f"{p}: cannot undo llama.cpp's Q/K permutation of {t.name}: {shape[0] if shape else 0} rows "
                    f"for {heads} heads (attention.head_count{'_kv' if '.attn_k.' in t.name else ''})"
                )
            if len(shape) == 1 and block != 1:
                raise LineageError(f"{p}: permuted 1-D tensor {t.name} of block type {t.dtype} cannot be reordered")
        layout = _Layout(ggml_type=t.dtype, big_endian=big, unpermute_heads=heads)
        out.append(_Stored(t.name, str(p), t.dtype, shape, t.start, t.end - t.start, layout))
    base = _gguf_base_model(kv)
    config = {k: v for k, v in kv.items() if not k.startswith("tokenizer.") and not isinstance(v, dict)}
    info = ModelInfo(
        path=str(where), container="gguf", architecture=arch, vocab=_gguf_tokens(p, entry.metadata),
        declared_base_model=base, config=config, n_head=n_head, n_head_kv=n_head_kv,
    )
    return out, info


def _gguf_base_model(kv: dict[str, Any]) -> str | None:
    for key in ("general.base_model.0.repo_url", "general.base_model.0.name", "general.base_model.0.organization"):
        v = kv.get(key)
        if isinstance(v, str) and v:
            if key.endswith("name") and isinstance(kv.get("general.base_model.0.organization"), str):
                return f"{kv['general.base_model.0.organization']}/{v}"
            return v
    return None


def _gguf_tokens(p: Path, meta: dict[str, Any]) -> tuple[str, ...] | None:
    """``tokenizer.ggml.tokens`` from the metadata (the bounded header reader summarises long arrays).

    The header was already walked and bounded by the artifact reader, so the walk here only needs to find
    the key again; every length is still checked against the file before it is used.
    """
    kv = meta.get("kv", {})
    if "tokenizer.ggml.tokens" not in kv:
        return None
    version = meta.get("version", 3)
    little = meta.get("byte_order", "little") != "big"
    e = "<" if little else ">"
    count_code = "I" if version == 1 else "Q"
    count_size = struct.calcsize(count_code)
    from weightwarden.artifact.readers.gguf_file import ARRAY, SCALARS, STRING

    try:
        with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            end = min(len(m), int(meta.get("data_offset", len(m))))
            pos = 8
            n_kv_pos = 8 + count_size

            def count(at: int) -> tuple[int, int]:
                if at + count_size > end:
                    raise ValueError("truncated")
                return struct.unpack_from(e + count_code, m, at)[0], at + count_size

            def string(at: int) -> tuple[bytes, int]:
                n, at = count(at)
                if at + n > end:
                    raise ValueError("string past the header")
                return m[at : at + n], at + n

            def skip_value(vtype: int, at: int, depth: int = 0) -> int:
                if vtype in SCALARS:
                    return at + struct.calcsize(SCALARS[vtype][1])
                if vtype == STRING:
                    return string(at)[1]
                if vtype == ARRAY and depth < 8:
                    (itype,) = struct.unpack_from(e + "I", m, at)
                    n, at = count(at + 4)
                    if itype in SCALARS:
                        return at + n * struct.calcsize(SCALARS[itype][1])
                    for _ in range(n):
                        at = skip_value(itype, at, depth + 1)
                        if at > end:
                            raise ValueError("array past the header")
                    return at
                raise ValueError(f"bad value type {vtype}")

            n_kv, pos = count(n_kv_pos)
            for _ in range(n_kv):
                key, pos = string(pos)
                (vtype,) = struct.unpack_from(e + "I", m, pos)
                pos += 4
                if key == b"tokenizer.ggml.tokens" and vtype == ARRAY:
                    (itype,) = struct.unpack_from(e + "I", m, pos)
                    n, pos = count(pos + 4)
                    if itype != STRING or n > MAX_VOCAB:
                        return None
                    tokens = []
                    for _ in range(n):
                        raw, pos = string(pos)
                        tokens.append(raw.decode("utf-8", errors="replace"))
                    return tuple(tokens)
                pos = skip_value(vtype, pos)
    except (OSError, ValueError, struct.error) as exc:
        raise LineageError(f"{p}: cannot read tokenizer.ggml.tokens: {exc}") from None
    return None
