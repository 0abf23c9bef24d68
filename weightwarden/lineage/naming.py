"""Canonical tensor names: one spelling for the same weight whatever the container or wrapper prefix.

Diff, lineage and fingerprints compare tensors by canonical name, so a GGUF file, a safetensors folder and a
PyTorch checkpoint of the same model must name every tensor alike. The canonical form is the Hugging Face
name of the model's own family:

- decoder (llama-family) models: HF llama names, ``model.embed_tokens.weight``,
  ``model.layers.3.self_attn.q_proj.weight``, ``model.layers.3.mlp.down_proj.weight``, ``model.norm.weight``,
  ``lm_head.weight``. A bare ``layers.3...`` / ``embed_tokens.weight`` (a ``LlamaModel`` saved without its
  ``ForCausalLM`` wrapper) gets the ``model.`` prefix.
- BERT: the *unprefixed* names all-MiniLM ships (``embeddings.word_embeddings.weight``,
  ``encoder.layer.3.attention.self.query.weight``, ``pooler.dense.weight``); a leading ``bert.`` is dropped
  and the TF-era ``LayerNorm.gamma``/``beta`` become ``LayerNorm.weight``/``bias``.
- GGUF names (llama.cpp's ``token_embd``, ``blk.N.attn_q`` ...) map to the above through explicit tables
  for the llama family and for BERT; a GGUF name with no entry keeps its own spelling.

Use :func:`canonical_names` for a whole model (it decides the family from the architecture or the names),
:func:`layer_index` and :func:`role` to group canonical names per layer and by function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

BERT_ARCHITECTURES = frozenset({"bert", "nomic-bert", "jina-bert-v2", "roberta", "xlm-roberta", "distilbert"})

# GGUF (llama.cpp) -> HF llama, per block and global. Suffixes (.weight / .bias) are carried over.
_GGUF_LLAMA_GLOBAL = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_GGUF_LLAMA_BLOCK = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GGUF_BERT_GLOBAL = {
    "token_embd": "embeddings.word_embeddings",
    "position_embd": "embeddings.position_embeddings",
    "token_types": "embeddings.token_type_embeddings",
    "token_embd_norm": "embeddings.LayerNorm",
}
_GGUF_BERT_BLOCK = {
    "attn_q": "attention.self.query",
    "attn_k": "attention.self.key",
    "attn_v": "attention.self.value",
    "attn_output": "attention.output.dense",
    "attn_output_norm": "attention.output.LayerNorm",
    "ffn_up": "intermediate.dense",
    "ffn_down": "output.dense",
    "layer_output_norm": "output.LayerNorm",
}

_GGUF_BLOCK = re.compile(r"^blk\.(\d+)\.([A-Za-z0-9_]+)\.(weight|bias)$")
_GGUF_GLOBAL = re.compile(r"^([A-Za-z0-9_]+)\.(weight|bias)$")
_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|blk)\.(\d+)\.")
_LLAMA_BARE = re.compile(r"^(?:layers\.\d+\.|embed_tokens\.|norm\.)")

# (pattern on the canonical name, role). First match wins.
_ROLES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"(?:^|\.)q_proj\.|\.attention\.self\.query\.", "attn_q"),
        (r"(?:^|\.)k_proj\.|\.attention\.self\.key\.", "attn_k"),
        (r"(?:^|\.)v_proj\.|\.attention\.self\.value\.", "attn_v"),
        (r"(?:^|\.)o_proj\.|\.attention\.output\.dense\.", "attn_o"),
        (r"(?:^|\.)gate_proj\.", "mlp_gate"),
        (r"(?:^|\.)up_proj\.|\.intermediate\.dense\.", "mlp_up"),
        (r"(?:^|\.)down_proj\.|\.layer\.\d+\.output\.dense\.", "mlp_down"),
        (r"(?:^|\.)embed_tokens\.|(?:^|\.)word_embeddings\.", "embed"),
        (r"(?:^|\.)position_embeddings\.|(?:^|\.)token_type_embeddings\.", "pos_embed"),
        (r"^lm_head\.", "lm_head"),
        (r"(?:norm|LayerNorm|layernorm)\.(?:weight|bias)$", "norm"),
    )
)

ROLES = ("attn_q", "attn_k", "attn_v", "attn_o", "mlp_gate", "mlp_up", "mlp_down", "embed", "pos_embed",
         "lm_head", "norm", "other")


def is_bert(architecture: str | None, names: Iterable[str] = ()) -> bool:
    """True for the BERT family, from the declared architecture or, failing that, the tensor names."""
    if architecture:
        return architecture.lower() in BERT_ARCHITECTURES
    return any("encoder.layer." in n or "word_embeddings." in n for n in names)


def gguf_to_canonical(name: str, architecture: str | None) -> str:
    """The canonical name of a GGUF tensor (llama.cpp naming); unknown names keep their GGUF spelling."""
    bert = is_bert(architecture)
    block = _GGUF_BLOCK.match(name)
    if block:
        idx, part, suffix = block.groups()
        table = _GGUF_BERT_BLOCK if bert else _GGUF_LLAMA_BLOCK
        if part in table:
            prefix = f"encoder.layer.{idx}." if bert else f"model.layers.{idx}."
            return f"{prefix}{table[part]}.{suffix}"
        return name
    glob = _GGUF_GLOBAL.match(name)
    if glob:
        part, suffix = glob.groups()
        table = _GGUF_BERT_GLOBAL if bert else _GGUF_LLAMA_GLOBAL
        if part in table:
            return f"{table[part]}.{suffix}"
    return name


def hf_to_canonical(name: str, bert: bool, bare_llama: bool = False) -> str:
    """The canonical name of a Hugging Face / PyTorch tensor name (wrapper prefixes resolved)."""
    if bert:
        if name.startswith("bert."):
            name = name[len("bert.") :]
        if name.endswith(".gamma") and "LayerNorm" in name:
            name = name[: -len("gamma")] + "weight"
        elif name.endswith(".beta") and "LayerNorm" in name:
            name = name[: -len("beta")] + "bias"
        return name
    if bare_llama and _LLAMA_BARE.match(name):
        return "model." + name
    return name


def canonical_names(names: Iterable[str], architecture: str | None = None, *, gguf: bool = False) -> dict[str, str]:
    """Map every stored name of one model to its canonical name (the caller checks uniqueness).

    ``gguf`` selects llama.cpp naming. For HF names the family comes from ``architecture`` or the names,
    and the ``model.`` prefix is added to llama-style names only when *no* name has it (a bare
    ``LlamaModel`` state dict), so a model that mixes prefixed and unprefixed names is left as it is.
    """
    names = list(names)
    if gguf:
        return {n: gguf_to_canonical(n, architecture) for n in names}
    bert = is_bert(architecture, names)
    bare = not bert and not any(n.startswith("model.") for n in names) and any(_LLAMA_BARE.match(n) for n in names)
    return {n: hf_to_canonical(n, bert, bare) for n in names}


def layer_index(canonical: str) -> int | None:
    """The transformer block a tensor belongs to (``model.layers.3...`` -> 3), or None for global tensors."""
    m = _LAYER.search(canonical)
    return int(m.group(1)) if m else None


def role(canonical: str) -> str:
    """What a tensor does, one of :data:`ROLES` (weights and biases of a projection share its role)."""
    for pattern, name in _ROLES:
        if pattern.search(canonical):
            return name
    return "other"
