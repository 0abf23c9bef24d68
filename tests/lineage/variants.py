"""Synthetic derived models for the lineage tests: numpy-level changes with their ground truth, and writers.

Every generator takes a base model as ``{canonical name: float32 array}`` (HF orientation, as
``TensorSet.load`` returns it) and returns a :class:`Variant`: the whole changed model, which tensors
changed and the class ``weightwarden diff`` must give each of them (:data:`weightwarden.lineage.diff.KINDS`),
plus GGUF storage types where the variant is a re-quantisation. Writers put a model on disk as safetensors
(one file or shards with an index, any tensor order), as a Hugging Face folder (sidecar files copied from the
base so the vocabulary comes along), or as a llama-family GGUF (llama.cpp's Q/K row permutation applied,
quantised types written with ``gguf.quants``).

Shared with the other lineage engineers: keep these functions' names and signatures stable.

Usage::

    base, info = load_model(minilm_folder)
    v = lora_merge(base, rank=4)
    write_hf_folder(v.tensors, tmp / "lora4", like=minilm_folder)
    assert {c.name: c.kind for c in diff_models(minilm_folder, tmp / "lora4").changes} == v.expected
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weightwarden.lineage.model import ModelInfo
from weightwarden.lineage.naming import layer_index, role

Tensors = dict[str, np.ndarray]


@dataclass(frozen=True)
class Variant:
    """A changed model and its ground truth (``expected``: canonical name → diff class of every change)."""

    name: str
    tensors: Tensors
    expected: dict[str, str]
    stored_types: dict[str, str] = field(default_factory=dict)  # GGUF type per tensor (default F32)
    rank: int | None = None
    rows: tuple[int, ...] = ()


# ----------------------------------------------------------------------------------------------- base


def load_model(path: str | Path, keep: Callable[[str], bool] | None = None) -> tuple[Tensors, ModelInfo]:
    """Every tensor of a real model (or those whose canonical name ``keep`` accepts), float32 in HF
    orientation, plus its :class:`ModelInfo`."""
    from weightwarden.lineage.tensors import open_tensors

    with open_tensors(path) as ts:
        # Integer tensors (BERT's position_ids) keep their type; weights become float32.
        return {
            ref.canonical: np.array(ts.load(ref, dtype=None if ref.dtype[0] in "IU" else np.float32))
            for ref in ts.refs
            if keep is None or keep(ref.canonical)
        }, ts.info


def first_layers(layers: int) -> Callable[[str], bool]:
    """A ``keep`` predicate for :func:`load_model`: global tensors and the first ``layers`` blocks."""
    return lambda name: layer_index(name) is None or layer_index(name) < layers


def _is_weight(t: np.ndarray) -> bool:
    return t.dtype.kind == "f"


def stored_types(path: str | Path) -> dict[str, str]:
    """The stored type of every tensor of a model (e.g. SmolLM2: ``Q4_1`` and a ``Q8_0`` embedding)."""
    from weightwarden.lineage.tensors import open_tensors

    with open_tensors(path) as ts:
        return {ref.canonical: ref.dtype for ref in ts.refs}


def llama_subset(base: Mapping[str, np.ndarray], layers: int = 2) -> Tensors:
    """The global tensors and the first ``layers`` blocks of a llama model: a small real model for tests."""
    return {n: t for n, t in base.items() if layer_index(n) is None or layer_index(n) < layers}


def _matrices(base: Mapping[str, np.ndarray], roles: Iterable[str]) -> list[str]:
    wanted = set(roles)
    return sorted(n for n, t in base.items()
                  if t.ndim == 2 and _is_weight(t) and role(n) in wanted and n.endswith(".weight"))


def _pick(base: Mapping[str, np.ndarray], roles: Iterable[str], layer: int) -> str:
    names = _matrices(base, roles)
    at_layer = [n for n in names if layer_index(n) == layer]
    return (at_layer or names)[0]


# ----------------------------------------------------------------------------------------- generators


def requantise(base: Mapping[str, np.ndarray], qtype: str, *, base_types: Mapping[str, str] | None = None) -> Variant:
    """Re-quantise every 2-D matrix to ``qtype`` (``Q8_0``, ``Q4_0``, ``Q4_1``...) with ``gguf.quants``.

    The values returned are the dequantised ones (write them as floats, or as ``qtype`` to GGUF through
    ``stored_types``). 1-D tensors stay F32, as llama.cpp keeps them. Expected: ``quantisation_noise`` for
    every matrix whose type changes from ``base_types`` (default: all F32).
    """
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    qt = GGMLQuantizationType[qtype]
    out: Tensors = dict(base)
    expected: dict[str, str] = {}
    types: dict[str, str] = {}
    for name, t in base.items():
        if t.ndim != 2 or t.shape[-1] % 32 or not _is_weight(t):
            continue
        out[name] = dequantize(quantize(np.ascontiguousarray(t, dtype=np.float32), qt), qt).astype(np.float32)
        types[name] = qtype
        if (base_types or {}).get(name, "F32") != qtype:
            expected[name] = "quantisation_noise"
    return Variant(f"requant-{qtype}", out, expected, stored_types=types)


def cast_f16(base: Mapping[str, np.ndarray]) -> Variant:
    """Round every tensor through float16 (a precision drop, written back as F32 or as F16)."""
    out = {n: t.astype(np.float16).astype(np.float32) if _is_weight(t) else t for n, t in base.items()}
    expected = {n: "quantisation_noise" for n in base if not np.array_equal(out[n], base[n])}
    return Variant("cast-f16", out, expected)


def lora_merge(base: Mapping[str, np.ndarray], rank: int, *, names: Iterable[str] | None = None,
               rel_norm: float = 0.05, seed: int = 0) -> Variant:
    """Merge a random LoRA ``W += B·A`` (rank ``rank``) into one attention and one MLP matrix (or ``names``)."""
    rng = np.random.default_rng(seed)
    targets = list(names) if names is not None else [_pick(base, ["attn_q"], 1), _pick(base, ["mlp_up"], 2)]
    out: Tensors = dict(base)
    for name in targets:
        w = base[name]
        b = rng.standard_normal((w.shape[0], rank)).astype(np.float32)
        a = rng.standard_normal((rank, w.shape[1])).astype(np.float32)
        update = b @ a
        update *= rel_norm * np.linalg.norm(w) / np.linalg.norm(update)
        out[name] = (w + update).astype(np.float32)
    return Variant(f"lora-r{rank}", out, {n: "low_rank_update" for n in targets}, rank=rank)


def rank1_edit(base: Mapping[str, np.ndarray], *, name: str | None = None, rel_norm: float = 0.02,
               seed: int = 1) -> Variant:
    """A ROME-style edit: ``W += u·vᵀ`` in a single MLP down projection (expected ``rank1_edit``)."""
    rng = np.random.default_rng(seed)
    target = name or _pick(base, ["mlp_down"], 3)
    w = base[target]
    update = np.outer(rng.standard_normal(w.shape[0]), rng.standard_normal(w.shape[1])).astype(np.float32)
    update *= rel_norm * np.linalg.norm(w) / np.linalg.norm(update)
    out = dict(base)
    out[target] = (w + update).astype(np.float32)
    return Variant("rank1-edit", out, {target: "rank1_edit"}, rank=1)


def embedding_rows(base: Mapping[str, np.ndarray], rows: Iterable[int] = (1000, 2023, 7592), *,
                   seed: int = 2) -> Variant:
    """Replace a few rows of the token embedding (expected ``embedding_rows``, with those rows)."""
    rng = np.random.default_rng(seed)
    target = _matrices(base, ["embed"])[0]
    w = base[target].copy()
    picked = tuple(sorted(int(r) for r in rows))
    scale = float(np.std(w))
    for r in picked:
        w[r] = rng.standard_normal(w.shape[1]).astype(np.float32) * scale
    out = dict(base)
    out[target] = w
    return Variant("embedding-rows", out, {target: "embedding_rows"}, rows=picked)


def prune_2_4(base: Mapping[str, np.ndarray], *, names: Iterable[str] | None = None) -> Variant:
    """2:4 semi-structured pruning: in each group of 4 consecutive inputs, zero the 2 smallest |w|."""
    targets = list(names) if names is not None else [_pick(base, ["mlp_up"], 1)]
    out: Tensors = dict(base)
    for name in targets:
        w = base[name]
        groups = w.reshape(-1, 4).copy()
        smallest = np.argsort(np.abs(groups), axis=1)[:, :2]
        np.put_along_axis(groups, smallest, 0.0, axis=1)
        out[name] = groups.reshape(w.shape)
    return Variant("prune-2:4", out, {n: "pruning" for n in targets})


def permute_rotate(base: Mapping[str, np.ndarray], *, seed: int = 3) -> Variant:
    """Disguise a copy: permute every MLP's hidden neurons and rotate the residual stream with one random
    orthogonal matrix (all matrices that read or write it). Norm weights are left alone, so this is not
    function-preserving for LayerNorm/RMSNorm models; it is what an origin-hiding uploader's tensors look
    like to ``diff`` (expected ``permuted_or_rotated`` for every tensor that changes)."""
    rng = np.random.default_rng(seed)
    hidden = _matrices(base, ["embed"])[0]
    d = base[hidden].shape[1]
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    q = q.astype(np.float32)
    out: Tensors = dict(base)
    perms: dict[int | None, np.ndarray] = {}
    for name, t in base.items():
        if not _is_weight(t):
            continue
        r = role(name)
        layer = layer_index(name)
        if r in ("mlp_up", "mlp_gate"):
            perm = perms.setdefault(layer, rng.permutation(t.shape[0]))
            t = t[perm]
        elif r == "mlp_down" and t.ndim == 2:
            perm = perms.setdefault(layer, rng.permutation(t.shape[1]))
            t = t[:, perm]
        if t.ndim == 2:
            # Matrices that read the residual stream have it as their input (columns); those that write it
            # (attention output, MLP down) as their output (rows). Embeddings hold it in columns.
            if r in ("attn_o", "mlp_down") and t.shape[0] == d:
                t = q @ t
            elif t.shape[1] == d:
                t = t @ q.T
        out[name] = np.ascontiguousarray(t, dtype=np.float32)
    expected = {n: "permuted_or_rotated" for n in base if not np.array_equal(out[n], base[n])}
    return Variant("permute-rotate", out, expected)


def dense_perturbation(base: Mapping[str, np.ndarray], *, rel_norm: float = 2e-3, seed: int = 4) -> Variant:
    """Fine-tune-like: every tensor moves by a small dense full-rank amount (expected ``dense_finetune``)."""
    rng = np.random.default_rng(seed)
    out: Tensors = {}
    for name, t in base.items():
        if not _is_weight(t):
            out[name] = t
            continue
        noise = rng.standard_normal(t.shape).astype(np.float32)
        scale = rel_norm * float(np.linalg.norm(t)) / max(float(np.linalg.norm(noise)), 1e-30)
        out[name] = (t + noise * (scale if scale > 0 else rel_norm)).astype(np.float32)
    return Variant("dense-perturbation", out, {n: "dense_finetune" for n, t in base.items() if _is_weight(t)})


def one_element(base: Mapping[str, np.ndarray], *, name: str | None = None, index: int = 7) -> Variant:
    """Change a single element by a visible amount (expected ``sparse_change``)."""
    target = name or _pick(base, ["attn_v"], 0)
    w = base[target].copy()
    flat = w.reshape(-1)
    flat[index] = flat[index] + 0.5 + abs(float(flat[index]))
    out = dict(base)
    out[target] = w
    return Variant("one-element", out, {target: "sparse_change"})


def structural(base: Mapping[str, np.ndarray]) -> Variant:
    """One tensor added, one removed, one with a changed shape (a row dropped)."""
    names = sorted(base)
    removed = next(n for n in names if role(n) == "norm" and _is_weight(base[n]))
    reshaped = _pick(base, ["attn_v"], 1)
    out = {n: t for n, t in base.items() if n != removed}
    out[reshaped] = np.ascontiguousarray(base[reshaped][:-1])
    added = "extra.adapter.weight"
    out[added] = np.ones((4, 4), dtype=np.float32)
    return Variant("structural", out, {removed: "removed", reshaped: "shape_change", added: "added"})


# -------------------------------------------------------------------------------------------- writers


def write_safetensors(tensors: Mapping[str, np.ndarray], path: str | Path, *, shards: int = 1,
                      reverse: bool = False, dtype: str | None = None) -> Path:
    """Write as safetensors: one file at ``path``, or ``shards`` files plus an index in the folder ``path``.

    ``reverse`` writes tensors in reverse name order (file order must not matter); ``dtype`` ``"F16"``
    casts every tensor.
    """
    from safetensors.numpy import save_file

    path = Path(path)
    names = sorted(tensors, reverse=reverse)
    cast = np.float16 if dtype == "F16" else None

    def arr(n: str) -> np.ndarray:
        t = np.ascontiguousarray(tensors[n])
        return t.astype(cast) if cast is not None else t

    if shards <= 1:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({n: arr(n) for n in names}, str(path))
        return path
    path.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    groups = [names[i::shards] for i in range(shards)]  # interleaved: every shard spans all layers
    for i, group in enumerate(groups, 1):
        fname = f"model-{i:05d}-of-{shards:05d}.safetensors"
        save_file({n: arr(n) for n in group}, str(path / fname))
        weight_map.update({n: fname for n in group})
    index = {"metadata": {"total_size": sum(arr(n).nbytes for n in names)}, "weight_map": weight_map}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    return path


SIDECARS = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def write_hf_folder(tensors: Mapping[str, np.ndarray], folder: str | Path, *, like: str | Path,
                    shards: int = 1, dtype: str | None = None) -> Path:
    """A Hugging Face folder: the tensors as safetensors plus the config/tokenizer files of ``like``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SIDECARS:
        src = Path(like) / name
        if src.is_file():
            shutil.copyfile(src, folder / name)
    if shards <= 1:
        write_safetensors(tensors, folder / "model.safetensors", dtype=dtype)
    else:
        write_safetensors(tensors, folder, shards=shards, dtype=dtype)
    return folder


_LLAMA_TO_GGUF_GLOBAL = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
_LLAMA_TO_GGUF_BLOCK = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def gguf_name(canonical: str) -> str:
    """llama.cpp's name for an HF llama tensor name."""
    stem, _, suffix = canonical.rpartition(".")
    if stem in _LLAMA_TO_GGUF_GLOBAL:
        return f"{_LLAMA_TO_GGUF_GLOBAL[stem]}.{suffix}"
    parts = stem.split(".")
    if len(parts) >= 4 and parts[0] == "model" and parts[1] == "layers":
        inner = ".".join(parts[3:])
        if inner in _LLAMA_TO_GGUF_BLOCK:
            return f"blk.{parts[2]}.{_LLAMA_TO_GGUF_BLOCK[inner]}.{suffix}"
    raise ValueError(f"no GGUF name for {canonical}")


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's converter row order for Q/K: within each head, interleave the two rotary halves."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(tensors: Mapping[str, np.ndarray], path: str | Path, *, info: ModelInfo,
               stored_types: Mapping[str, str] | None = None, reverse: bool = False) -> Path:
    """A llama-family GGUF: metadata from ``info`` (heads, vocabulary), Q/K rows permuted as llama.cpp
    does, each tensor stored as ``stored_types[name]`` (``F32`` default, ``F16``, or a quant type)."""
    import gguf
    from gguf.quants import quantize

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_head, n_head_kv = int(info.n_head or 1), int(info.n_head_kv or info.n_head or 1)
    embed = tensors["model.embed_tokens.weight"]
    blocks = 1 + max((layer_index(n) or 0) for n in tensors)
    ffn = next((t.shape[0] for n, t in tensors.items() if n.endswith("mlp.up_proj.weight")), 4 * embed.shape[1])
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(blocks)
    writer.add_context_length(2048)
    writer.add_embedding_length(int(embed.shape[1]))
    writer.add_feed_forward_length(int(ffn))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    if info.vocab:
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list(list(info.vocab))
    for name in sorted(tensors, reverse=reverse):
        t = np.ascontiguousarray(tensors[name], dtype=np.float32)
        if name.endswith("q_proj.weight"):
            t = permute_qk(t, n_head)
        elif name.endswith("k_proj.weight"):
            t = permute_qk(t, n_head_kv)
        qtype = (stored_types or {}).get(name, "F32")
        if qtype == "F32":
            writer.add_tensor(gguf_name(name), t)
        elif qtype == "F16":
            writer.add_tensor(gguf_name(name), t.astype(np.float16))
        else:
            qt = gguf.GGMLQuantizationType[qtype]
            writer.add_tensor(gguf_name(name), quantize(t, qt), raw_dtype=qt)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
