"""Canonical tensor names (weightwarden.lineage.naming): GGUF <-> HF for llama and BERT, prefixes, roles."""

from __future__ import annotations

import pytest

from weightwarden.lineage.naming import canonical_names, gguf_to_canonical, layer_index, role

LLAMA = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.3.attn_norm.weight": "model.layers.3.input_layernorm.weight",
    "blk.3.attn_q.weight": "model.layers.3.self_attn.q_proj.weight",
    "blk.3.attn_q.bias": "model.layers.3.self_attn.q_proj.bias",
    "blk.3.attn_k.weight": "model.layers.3.self_attn.k_proj.weight",
    "blk.3.attn_v.weight": "model.layers.3.self_attn.v_proj.weight",
    "blk.3.attn_output.weight": "model.layers.3.self_attn.o_proj.weight",
    "blk.3.ffn_norm.weight": "model.layers.3.post_attention_layernorm.weight",
    "blk.3.ffn_gate.weight": "model.layers.3.mlp.gate_proj.weight",
    "blk.3.ffn_up.weight": "model.layers.3.mlp.up_proj.weight",
    "blk.3.ffn_down.weight": "model.layers.3.mlp.down_proj.weight",
    "rope_freqs.weight": "rope_freqs.weight",  # no HF counterpart: keeps its GGUF name
}
BERT = {
    "token_embd.weight": "embeddings.word_embeddings.weight",
    "position_embd.weight": "embeddings.position_embeddings.weight",
    "token_types.weight": "embeddings.token_type_embeddings.weight",
    "token_embd_norm.weight": "embeddings.LayerNorm.weight",
    "token_embd_norm.bias": "embeddings.LayerNorm.bias",
    "blk.5.attn_q.weight": "encoder.layer.5.attention.self.query.weight",
    "blk.5.attn_k.bias": "encoder.layer.5.attention.self.key.bias",
    "blk.5.attn_v.weight": "encoder.layer.5.attention.self.value.weight",
    "blk.5.attn_output.weight": "encoder.layer.5.attention.output.dense.weight",
    "blk.5.attn_output_norm.weight": "encoder.layer.5.attention.output.LayerNorm.weight",
    "blk.5.ffn_up.weight": "encoder.layer.5.intermediate.dense.weight",
    "blk.5.ffn_down.bias": "encoder.layer.5.output.dense.bias",
    "blk.5.layer_output_norm.bias": "encoder.layer.5.output.LayerNorm.bias",
}


@pytest.mark.parametrize(("arch", "table"), [("llama", LLAMA), ("bert", BERT)])
def test_gguf_names(arch, table):
    for gguf, hf in table.items():
        assert gguf_to_canonical(gguf, arch) == hf
    assert canonical_names(table, arch, gguf=True) == table


def test_hf_prefixes_resolve_consistently():
    # BERT: "bert." wrapper dropped, TF-era gamma/beta renamed; all-MiniLM's unprefixed names stay.
    names = ["bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.output.LayerNorm.gamma",
             "bert.encoder.layer.0.attention.output.LayerNorm.beta", "cls.predictions.bias"]
    assert list(canonical_names(names, "bert").values()) == [
        "embeddings.word_embeddings.weight", "encoder.layer.0.attention.output.LayerNorm.weight",
        "encoder.layer.0.attention.output.LayerNorm.bias", "cls.predictions.bias",
    ]
    plain = ["embeddings.word_embeddings.weight", "encoder.layer.1.intermediate.dense.weight"]
    assert canonical_names(plain) == {n: n for n in plain}  # family found from the names
    # llama: a bare LlamaModel state dict gets the model. prefix; a full one is left alone.
    bare = ["embed_tokens.weight", "layers.0.self_attn.q_proj.weight", "norm.weight"]
    assert list(canonical_names(bare, "llama").values()) == [
        "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight",
    ]
    full = ["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "lm_head.weight"]
    assert canonical_names(full, "llama") == {n: n for n in full}


def test_layer_index_and_role():
    cases = {
        "model.layers.12.self_attn.q_proj.weight": (12, "attn_q"),
        "model.layers.0.self_attn.k_proj.bias": (0, "attn_k"),
        "model.layers.3.self_attn.v_proj.weight": (3, "attn_v"),
        "model.layers.3.self_attn.o_proj.weight": (3, "attn_o"),
        "model.layers.3.mlp.gate_proj.weight": (3, "mlp_gate"),
        "model.layers.3.mlp.up_proj.weight": (3, "mlp_up"),
        "model.layers.3.mlp.down_proj.weight": (3, "mlp_down"),
        "model.layers.3.input_layernorm.weight": (3, "norm"),
        "model.embed_tokens.weight": (None, "embed"),
        "lm_head.weight": (None, "lm_head"),
        "model.norm.weight": (None, "norm"),
        "encoder.layer.4.attention.self.query.weight": (4, "attn_q"),
        "encoder.layer.4.attention.self.key.weight": (4, "attn_k"),
        "encoder.layer.4.attention.self.value.bias": (4, "attn_v"),
        "encoder.layer.4.attention.output.dense.weight": (4, "attn_o"),
        "encoder.layer.4.attention.output.LayerNorm.weight": (4, "norm"),
        "encoder.layer.4.intermediate.dense.weight": (4, "mlp_up"),
        "encoder.layer.4.output.dense.weight": (4, "mlp_down"),
        "encoder.layer.4.output.LayerNorm.bias": (4, "norm"),
        "embeddings.word_embeddings.weight": (None, "embed"),
        "embeddings.position_embeddings.weight": (None, "pos_embed"),
        "pooler.dense.weight": (None, "other"),
        "rope_freqs.weight": (None, "other"),
    }
    for name, (idx, r) in cases.items():
        assert (layer_index(name), role(name)) == (idx, r), name


def test_real_models_get_canonical_names(smollm2_gguf, minilm_folder):
    from weightwarden.lineage.tensors import open_tensors

    with open_tensors(smollm2_gguf) as ts:
        roles = {role(r.canonical) for r in ts.refs}
        assert {"attn_q", "attn_k", "attn_v", "attn_o", "mlp_gate", "mlp_up", "mlp_down", "embed", "norm"} <= roles
        assert {layer_index(r.canonical) for r in ts.refs} == set(range(30)) | {None}
    with open_tensors(minilm_folder) as ts:
        assert {layer_index(r.canonical) for r in ts.refs} == set(range(6)) | {None}
        assert sum(role(r.canonical) == "mlp_down" for r in ts.refs) == 12  # weight + bias in 6 layers
