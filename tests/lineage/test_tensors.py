"""Tensor access (weightwarden.lineage.tensors): containers, canonical bytes, GGUF Q/K un-permutation, bad input.

Real models: SmolLM2-135M-Instruct (GGUF Q4_1) and all-MiniLM-L6-v2 (safetensors folder). Small GGUF and
safetensors files are written here with the formats' own writers (``gguf.GGUFWriter``, ``safetensors.numpy``);
PyTorch checkpoints are written with ``torch.save`` and compared with ``torch.load(weights_only=True)`` as the
reference (tests only; the package never loads a pickle).
"""

from __future__ import annotations

import contextlib
import json
import struct
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weightwarden.lineage.model import LineageError, UnsupportedTensor
from weightwarden.lineage.tensors import open_tensors


def _canonical_bytes(ts, ref, chunk: int = 1 << 24) -> bytes:
    return b"".join(bytes(c) for c in ts.canonical_chunks(ref, chunk))


def _llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf.py ``LlamaModel.permute`` (the published row layout), for fixtures."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# --- GGUF ----------------------------------------------------------------------------------------------------
HIDDEN, N_HEAD, N_KV, VOCAB, FFN = 64, 4, 2, 12, 96


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory):
    """A llama-shaped GGUF written the llama.cpp way from known HF-order arrays: (path, {hf name: array})."""
    import gguf
    from gguf.constants import GGMLQuantizationType as Q

    rng = np.random.default_rng(7)
    head_dim = HIDDEN // N_HEAD
    hf = {
        "model.embed_tokens.weight": rng.standard_normal((VOCAB, HIDDEN), dtype=np.float32),
        "model.norm.weight": rng.standard_normal(HIDDEN, dtype=np.float32),
        "lm_head.weight": rng.standard_normal((VOCAB, HIDDEN), dtype=np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((HIDDEN, HIDDEN), dtype=np.float32),
        "model.layers.0.self_attn.k_proj.weight": rng.standard_normal((N_KV * head_dim, HIDDEN), dtype=np.float32),
        "model.layers.0.self_attn.v_proj.weight": rng.standard_normal((N_KV * head_dim, HIDDEN), dtype=np.float32),
        "model.layers.0.self_attn.o_proj.weight": rng.standard_normal((HIDDEN, HIDDEN), dtype=np.float32),
        "model.layers.0.self_attn.q_proj.bias": rng.standard_normal(HIDDEN, dtype=np.float32),
        "model.layers.0.input_layernorm.weight": rng.standard_normal(HIDDEN, dtype=np.float32),
        "model.layers.0.post_attention_layernorm.weight": rng.standard_normal(HIDDEN, dtype=np.float32),
        "model.layers.0.mlp.gate_proj.weight": rng.standard_normal((FFN, HIDDEN), dtype=np.float32),
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((FFN, HIDDEN), dtype=np.float32),
        "model.layers.0.mlp.down_proj.weight": rng.standard_normal((HIDDEN, FFN), dtype=np.float32),
        # layer 1: quantised / half precision q and k, to check that blocks move with their rows
        "model.layers.1.self_attn.q_proj.weight": rng.standard_normal((HIDDEN, HIDDEN), dtype=np.float32),
        "model.layers.1.self_attn.k_proj.weight": rng.standard_normal((N_KV * head_dim, HIDDEN), dtype=np.float32),
    }
    gguf_names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
        "model.layers.0.self_attn.q_proj.weight": "blk.0.attn_q.weight",
        "model.layers.0.self_attn.k_proj.weight": "blk.0.attn_k.weight",
        "model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
        "model.layers.0.self_attn.o_proj.weight": "blk.0.attn_output.weight",
        "model.layers.0.self_attn.q_proj.bias": "blk.0.attn_q.bias",
        "model.layers.0.input_layernorm.weight": "blk.0.attn_norm.weight",
        "model.layers.0.post_attention_layernorm.weight": "blk.0.ffn_norm.weight",
        "model.layers.0.mlp.gate_proj.weight": "blk.0.ffn_gate.weight",
        "model.layers.0.mlp.up_proj.weight": "blk.0.ffn_up.weight",
        "model.layers.0.mlp.down_proj.weight": "blk.0.ffn_down.weight",
        "model.layers.1.self_attn.q_proj.weight": "blk.1.attn_q.weight",
        "model.layers.1.self_attn.k_proj.weight": "blk.1.attn_k.weight",
    }
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_embedding_length(HIDDEN)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    w.add_base_model_count(1)
    w.add_base_model_organization(0, "HuggingFaceTB")
    w.add_base_model_name(0, "SmolLM2-135M")
    w.add_token_list([f"tok{i}" for i in range(VOCAB)])
    stored = {}
    for name, arr in hf.items():
        g = gguf_names[name]
        data = arr
        if g.startswith(("blk.0.attn_q", "blk.1.attn_q")):
            data = _llama_permute(arr, N_HEAD)
        elif g.startswith(("blk.0.attn_k", "blk.1.attn_k")):
            data = _llama_permute(arr, N_KV)
        if g == "blk.1.attn_q.weight":
            q = gguf.quants.quantize(data, Q.Q8_0)
            w.add_tensor(g, q, raw_shape=q.shape, raw_dtype=Q.Q8_0)
            stored[name] = ("Q8_0", gguf.quants.quantize(arr, Q.Q8_0))  # canonical = quantised in HF row order
        elif g == "blk.1.attn_k.weight":
            w.add_tensor(g, data.astype(np.float16))
            stored[name] = ("F16", arr.astype(np.float16))
        else:
            w.add_tensor(g, data)
            stored[name] = ("F32", arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path, hf, stored


def test_gguf_round_trip_undoes_qk_permutation(tiny_llama):
    path, hf, stored = tiny_llama
    with open_tensors(path) as ts:
        assert ts.info.container == "gguf" and ts.info.architecture == "llama"
        assert (ts.info.n_head, ts.info.n_head_kv) == (N_HEAD, N_KV)
        assert ts.info.vocab == tuple(f"tok{i}" for i in range(VOCAB))
        assert ts.info.declared_base_model == "HuggingFaceTB/SmolLM2-135M"
        assert [r.canonical for r in ts.refs] == sorted(hf)
        for name, arr in hf.items():
            ref = ts.get(name)
            assert ref is not None and ref.shape == arr.shape
            assert ref.permuted == (".q_proj." in name or ".k_proj." in name)
            kind, canon = stored[name]
            got = ts.load(ref)
            if kind == "F32":
                np.testing.assert_array_equal(got, arr)  # exact: the permutation is undone, nothing else
            elif kind == "F16":
                np.testing.assert_array_equal(got, canon.astype(np.float32))
            else:
                assert np.abs(got - arr).max() < 0.05 * np.abs(arr).max()
            # canonical bytes are the HF-order bytes, whole Q8_0 blocks moving with their row
            assert _canonical_bytes(ts, ref, chunk=100) == np.ascontiguousarray(canon).tobytes()


def test_gguf_unpermute_changes_something(tiny_llama):
    """The fixture really is permuted: the stored bytes differ from the canonical bytes for q/k only."""
    path, hf, _ = tiny_llama
    with open_tensors(path) as ts:
        ref = ts.get("model.layers.0.self_attn.q_proj.weight")
        with open(path, "rb") as f:
            f.seek(ref.offset)
            raw = f.read(ref.nbytes)
        assert raw != _canonical_bytes(ts, ref)
        v = ts.get("model.layers.0.self_attn.v_proj.weight")
        chunks = list(ts.canonical_chunks(v))
        assert len(chunks) == 1 and isinstance(chunks[0], memoryview) and bytes(chunks[0]) == hf[v.canonical].tobytes()


def test_gguf_unsupported_quant_type_raises_from_load_only(tmp_path):
    import gguf
    from gguf.constants import GGMLQuantizationType as Q

    path = tmp_path / "q81.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_head_count(2)
    raw = np.zeros((4, 40 * 2), dtype=np.uint8)  # Q8_1: 32-element blocks of 40 bytes; 4 rows of 64
    w.add_tensor("blk.0.ffn_up.weight", raw, raw_shape=raw.shape, raw_dtype=Q.Q8_1)
    w.add_tensor("output_norm.weight", np.ones(64, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open_tensors(path) as ts:
        ref = ts.get("model.layers.0.mlp.up_proj.weight")
        assert ref is not None and ref.dtype == "Q8_1" and ref.shape == (4, 64)
        with pytest.raises(UnsupportedTensor, match=r"unsupported quant type Q8_1 in tensor blk\.0\.ffn_up\.weight"):
            ts.load(ref)
        assert ts.load(ts.get("model.norm.weight")).sum() == 64


def test_smollm2_gguf(smollm2_gguf):
    with open_tensors(smollm2_gguf) as ts:
        info = ts.info
        assert (info.container, info.architecture, info.n_head, info.n_head_kv) == ("gguf", "llama", 9, 3)
        assert info.vocab is not None and len(info.vocab) == 49152 and info.vocab[0] == "<|endoftext|>"
        names = {r.canonical for r in ts.refs}
        assert len(names) == len(ts.refs) == 272
        for i in range(30):
            for part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                         "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm",
                         "post_attention_layernorm"):
                assert f"model.layers.{i}.{part}.weight" in names
        assert {"model.embed_tokens.weight", "model.norm.weight"} <= names
        q = ts.get("model.layers.0.self_attn.q_proj.weight")
        assert q.dtype == "Q4_1" and q.shape == (576, 576) and q.permuted
        emb = ts.load(ts.get("model.embed_tokens.weight"))
        assert emb.shape == (49152, 576) and emb.dtype == np.float32 and np.isfinite(emb).all()
        assert sum(len(c) for c in ts.canonical_chunks(q, 4096)) == q.nbytes


def test_smollm2_matches_transformers_gguf_reference(smollm2_gguf):
    """Reference: gguf-py's own reader + transformers' LlamaTensorProcessor (its reverse permutation)."""
    from gguf import GGUFReader
    from gguf.quants import dequantize
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    reader = GGUFReader(str(smollm2_gguf))
    processor = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    by_name = {t.name: t for t in reader.tensors}
    with open_tensors(smollm2_gguf) as ts:
        for gguf_name, name in (("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
                                ("blk.3.attn_k.weight", "model.layers.3.self_attn.k_proj.weight"),
                                ("blk.5.ffn_down.weight", "model.layers.5.mlp.down_proj.weight"),
                                ("blk.7.attn_norm.weight", "model.layers.7.input_layernorm.weight")):
            t = by_name[gguf_name]
            expected = dequantize(t.data, t.tensor_type).reshape(tuple(reversed(t.shape.tolist())))
            expected = processor.process(expected, gguf_name).weights
            np.testing.assert_array_equal(ts.load(ts.get(name)), expected)


# --- safetensors ---------------------------------------------------------------------------------------------
def test_minilm_folder(minilm_folder):
    with open_tensors(minilm_folder) as ts:
        info = ts.info
        assert (info.container, info.architecture) == ("safetensors", "bert")
        assert info.vocab is not None and len(info.vocab) == 30522 and info.vocab[0] == "[PAD]"
        assert info.declared_base_model == "nreimers/MiniLM-L6-H384-uncased"
        assert info.n_head == 12
        names = [r.canonical for r in ts.refs]
        assert names == sorted(names) and "embeddings.word_embeddings.weight" in names
        assert "encoder.layer.5.intermediate.dense.weight" in names
        ref = ts.get("embeddings.word_embeddings.weight")
        assert ref.shape == (30522, 384) and ref.dtype == "F32"
        from safetensors.numpy import load_file

        ref_arrays = load_file(str(minilm_folder / "model.safetensors"))
        for r in ts.refs:
            np.testing.assert_array_equal(ts.load(r, dtype=None), ref_arrays[r.name])
            assert _canonical_bytes(ts, r) == ref_arrays[r.name].tobytes()


def _save(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata=metadata)


def _sample_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "model.embed_tokens.weight": rng.standard_normal((10, 8), dtype=np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((8, 8), dtype=np.float32),
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((16, 8)).astype(np.float16),
        "model.layers.1.mlp.down_proj.weight": rng.standard_normal((8, 16), dtype=np.float32),
        "model.norm.weight": np.ones(8, dtype=np.float32),
        "counts": np.arange(5, dtype=np.int64),
    }


def _all_bytes(path) -> dict[str, bytes]:
    with open_tensors(path) as ts:
        return {r.canonical: _canonical_bytes(ts, r) for r in ts.refs}


def test_sharded_safetensors_equal_single_file(tmp_path):
    arrays = _sample_arrays()
    single = tmp_path / "single"
    single.mkdir()
    _save(single / "model.safetensors", arrays)
    names = sorted(arrays)
    shards = {"model-00001-of-00002.safetensors": names[:3], "model-00002-of-00002.safetensors": names[3:]}
    for with_index in (True, False):
        folder = tmp_path / f"sharded-{with_index}"
        folder.mkdir()
        for shard, keys in shards.items():
            _save(folder / shard, {k: arrays[k] for k in keys})
        if with_index:
            weight_map = {k: shard for shard, keys in shards.items() for k in keys}
            (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
        assert _all_bytes(folder) == _all_bytes(single) == {k: v.tobytes() for k, v in arrays.items()}


def test_index_mismatch_and_missing_shard(tmp_path):
    arrays = _sample_arrays()
    folder = tmp_path / "m"
    folder.mkdir()
    _save(folder / "a.safetensors", {"model.norm.weight": arrays["model.norm.weight"]})
    _save(folder / "b.safetensors", {"counts": arrays["counts"]})
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"model.norm.weight": "b.safetensors", "counts": "a.safetensors"}}))
    with pytest.raises(LineageError, match=r"index puts 'model.norm.weight' in b.safetensors, but it is in a"):
        open_tensors(folder)
    index.write_text(json.dumps({"weight_map": {"model.norm.weight": "a.safetensors", "counts": "c.safetensors"}}))
    with pytest.raises(LineageError, match=r"shard 'c.safetensors' is missing"):
        open_tensors(folder)
    index.write_text(json.dumps({"weight_map": {"model.norm.weight": "a.safetensors", "gone": "b.safetensors"}}))
    with pytest.raises(LineageError, match=r"'counts' in b.safetensors is not in the index"):
        open_tensors(folder)
    index.write_text(json.dumps({"weight_map": {"model.norm.weight": "a.safetensors", "counts": "../b.safetensors"}}))
    with pytest.raises(LineageError, match="inside the folder"):
        open_tensors(folder)


def test_duplicate_canonical_names_are_refused(tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    w = np.ones((2, 2), dtype=np.float32)
    _save(folder / "a.safetensors", {"bert.encoder.layer.0.attention.self.query.weight": w})
    _save(folder / "b.safetensors", {"encoder.layer.0.attention.self.query.weight": w})
    with pytest.raises(LineageError, match="same canonical name 'encoder.layer.0.attention.self.query.weight'"):
        open_tensors(folder)


def test_prefers_safetensors_over_pytorch_in_a_folder(tmp_path, minilm_folder):
    import torch

    folder = tmp_path / "both"
    folder.mkdir()
    (folder / "config.json").write_bytes((minilm_folder / "config.json").read_bytes())
    arrays = {"embeddings.word_embeddings.weight": np.ones((4, 3), dtype=np.float32)}
    _save(folder / "model.safetensors", arrays)
    torch.save({"embeddings.word_embeddings.weight": torch.zeros(4, 3)}, folder / "pytorch_model.bin")
    with open_tensors(folder) as ts:
        assert ts.info.container == "safetensors"
        assert [r.file for r in ts.refs] == [str(folder / "model.safetensors")]


def test_bad_files_give_lineage_errors(tmp_path):
    good = tmp_path / "good.safetensors"
    _save(good, _sample_arrays())
    data = good.read_bytes()
    cases = {
        "truncated.safetensors": data[: len(data) - 10],
        "huge-header.safetensors": struct.pack("<Q", 10 * 1024**3) + b'{"a":1}' + b"\0" * 64,
        "tiny.safetensors": b"\x01\x00",
        "past-eof.safetensors": _raw_safetensors({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8),
        "lying-size.safetensors": _raw_safetensors({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, 8),
        "bad-dtype.safetensors": _raw_safetensors({"x": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}, 8),
        "not-a-model.bin": b"hello world, not tensors at all\n",
    }
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(LineageError) as err:
            open_tensors(p)
        assert str(p) in str(err.value), name
    with pytest.raises(LineageError, match="cannot open"):
        open_tensors(tmp_path / "missing.safetensors")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LineageError, match="no tensor files"):
        open_tensors(empty)


def test_truncated_gguf(tiny_llama, tmp_path):
    path, _, _ = tiny_llama
    data = path.read_bytes()
    for cut in (10, 200, len(data) - 64):
        p = tmp_path / f"cut{cut}.gguf"
        p.write_bytes(data[:cut])
        with pytest.raises(LineageError, match=str(p).replace(".", r"\.")):
            open_tensors(p)


def _raw_safetensors(header: dict, data_len: int) -> bytes:
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"\0" * data_len


_dtype = st.sampled_from(["F32", "F16", "BF16", "I64", "U8", "BOOL", "F64", "X", 3])
_dim = st.integers(min_value=0, max_value=6)
_entry = st.one_of(
    st.fixed_dictionaries({
        "dtype": _dtype,
        "shape": st.one_of(st.lists(_dim, max_size=3), st.just("x"), st.lists(st.integers(-3, 2**62), max_size=2)),
        "data_offsets": st.one_of(
            st.lists(st.integers(0, 400), min_size=2, max_size=2), st.lists(st.integers(-5, 2**64), max_size=3)
        ),
    }),
    st.integers(),
    st.text(max_size=5),
)


@settings(max_examples=150, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.dictionaries(st.text(min_size=1, max_size=12), _entry, max_size=5),
    data_len=st.integers(0, 300),
    declared_extra=st.sampled_from([0, 0, 0, 1, -1, 2**40]),
)
def test_fuzz_safetensors_headers(tmp_path_factory, header, data_len, declared_extra):
    """Any header either opens (and every tensor loads) or gives a LineageError; never another exception."""
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    raw = struct.pack("<Q", max(0, len(h) + declared_extra)) + h + bytes(range(256)) * (data_len // 256 + 1)
    p = tmp_path_factory.mktemp("fuzz") / "f.safetensors"
    p.write_bytes(raw[: 8 + len(h) + data_len])
    try:
        ts = open_tensors(p)
    except LineageError as exc:
        assert str(p) in str(exc)
        return
    with ts:
        for ref in ts.refs:
            try:
                arr = ts.load(ref)
            except UnsupportedTensor:
                continue
            assert arr.shape == ref.shape
            assert len(_canonical_bytes(ts, ref)) == ref.nbytes


# --- PyTorch, NumPy, ONNX: one set of weights in every container ------------------------------------------
def _llama_like(seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "model.embed_tokens.weight": rng.standard_normal((VOCAB, HIDDEN), dtype=np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((HIDDEN, HIDDEN), dtype=np.float32),
        "model.layers.0.self_attn.k_proj.weight": rng.standard_normal((N_KV * HIDDEN // N_HEAD, HIDDEN),
                                                                      dtype=np.float32),
        "model.layers.0.mlp.down_proj.weight": rng.standard_normal((HIDDEN, FFN), dtype=np.float32),
        "model.norm.weight": rng.standard_normal(HIDDEN, dtype=np.float32),
    }


def _write_gguf_f32(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import gguf

    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "model.layers.0.self_attn.q_proj.weight": "blk.0.attn_q.weight",
             "model.layers.0.self_attn.k_proj.weight": "blk.0.attn_k.weight",
             "model.layers.0.mlp.down_proj.weight": "blk.0.ffn_down.weight"}
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_KV)
    for name, arr in arrays.items():
        heads = N_HEAD if ".q_proj." in name else N_KV if ".k_proj." in name else 0
        w.add_tensor(names[name], _llama_permute(arr, heads) if heads else arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_same_weights_same_canonical_bytes_in_every_container(tmp_path):
    """safetensors, GGUF (permuted), PyTorch zip / legacy / bare LlamaModel dict, .npz, ONNX (inline and external)."""
    import onnx
    import torch
    from onnx import helper, numpy_helper

    arrays = _llama_like()
    paths = {}
    paths["safetensors"] = tmp_path / "m.safetensors"
    _save(paths["safetensors"], arrays)
    paths["gguf"] = tmp_path / "m.gguf"
    _write_gguf_f32(paths["gguf"], arrays)
    tensors = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    paths["zip"] = tmp_path / "m.pt"
    torch.save(tensors, paths["zip"])
    paths["legacy"] = tmp_path / "legacy.pt"
    torch.save(tensors, paths["legacy"], _use_new_zipfile_serialization=False)
    paths["wrapped"] = tmp_path / "wrapped.ckpt"
    bare = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    torch.save({"state_dict": bare, "epoch": 1}, paths["wrapped"])
    paths["npz"] = tmp_path / "m.npz"
    np.savez(paths["npz"], **arrays)
    graph = helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(v, k) for k, v in arrays.items()])
    paths["onnx"] = tmp_path / "m.onnx"
    onnx.save_model(helper.make_model(graph), paths["onnx"])
    ext = tmp_path / "onnx-ext"
    ext.mkdir()
    onnx.save_model(helper.make_model(graph), ext / "model.onnx", save_as_external_data=True,
                    location="weights.data", size_threshold=0)
    paths["onnx-external"] = ext
    expected = {k: v.tobytes() for k, v in arrays.items()}
    expected_wrapped = {k: v for k, v in expected.items() if k != "lm_head.weight"}
    for kind, path in paths.items():
        got = _all_bytes(path)
        if kind == "wrapped":
            assert got == expected_wrapped, kind
        else:
            assert got == expected, kind
        with open_tensors(path) as ts:
            for ref in ts.refs:
                np.testing.assert_array_equal(ts.load(ref), arrays[ref.canonical])


def test_onnx_external_data_must_stay_in_the_folder(tmp_path):
    import onnx
    from onnx import helper, numpy_helper

    inner = tmp_path / "model"
    inner.mkdir()
    graph = helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(np.ones(4, np.float32), "w")])
    model = helper.make_model(graph)
    onnx.save_model(model, inner / "model.onnx", save_as_external_data=True, location="w.bin", size_threshold=0)
    (tmp_path / "outside.bin").write_bytes((inner / "w.bin").read_bytes())
    m = onnx.load_model(str(inner / "model.onnx"), load_external_data=False)
    for e in m.graph.initializer[0].external_data:
        if e.key == "location":
            e.value = "../outside.bin"
    onnx.save_model(m, inner / "model.onnx")
    with pytest.raises(LineageError, match="leaves the model folder|unusable"):
        open_tensors(inner / "model.onnx")


def test_onnx_external_data_of_unknown_type_is_an_error(tmp_path):
    """An external initializer whose data_type number onnx does not know: a LineageError, not a KeyError."""
    import onnx
    from onnx import helper, numpy_helper

    graph = helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(np.ones(4, np.float32), "w")])
    onnx.save_model(helper.make_model(graph), tmp_path / "model.onnx", save_as_external_data=True,
                    location="w.bin", size_threshold=0)
    m = onnx.load_model(str(tmp_path / "model.onnx"), load_external_data=False)
    m.graph.initializer[0].data_type = 999
    onnx.save_model(m, tmp_path / "model.onnx")
    with pytest.raises(LineageError, match="'w': external data 'w.bin' unusable"):
        open_tensors(tmp_path / "model.onnx")


def test_numpy_object_arrays_are_refused(tmp_path):
    from weightwarden.lineage.tensors import CheckpointRefused

    p = tmp_path / "obj.npy"
    np.save(p, np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointRefused, match="Python objects"):
        open_tensors(p)


def test_checkpoint_storage_beyond_file_is_an_error(tmp_path):
    import torch

    p = tmp_path / "l.pt"
    torch.save({"w": torch.randn(32, 32)}, p, _use_new_zipfile_serialization=False)
    p.write_bytes(p.read_bytes()[:-64])
    with pytest.raises(LineageError, match="runs past the end of the file"):
        open_tensors(p)
    z = tmp_path / "z.pt"
    torch.save({"w": torch.randn(32, 32)}, z)
    z.write_bytes(z.read_bytes()[:2000])
    with pytest.raises(LineageError, match=str(z).replace(".", r"\.")):
        open_tensors(z)


# --- the symbolic rebuild (picklevm.tensors) ------------------------------------------------------------
def _program(*ops: bytes) -> bytes:
    return b"\x80\x02" + b"".join(ops) + b"."


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        (_program(b"cos\nsystem\n", b"X\x02\x00\x00\x00ls", b"\x85R"), "global os.system"),
        (_program(b"cbuiltins\neval\n"), "global builtins.eval"),
        (_program(b"ccollections\nOrderedDict\n", b")", b"\x81"), "opcode NEWOBJ"),
        (_program(b"(", b"itorch\nFloatStorage\n"), "opcode INST"),
        (_program(b"h\x05"), "memo key 5"),
        (_program(b"N", b"N"), "2 values on the stack"),
        (_program(b"\x8c\x02os\x8c\x06system\x93"), "global os.system"),
        (b"\x80\x02N", "before seeing STOP"),
        (_program(b"ctorch._utils\n_rebuild_tensor_v2\n", b"(NK\x00K\x01\x85K\x01\x85\x89NtR"),
         "without a storage"),
    ],
)
def test_rebuild_refuses(program, reason):
    import io

    from weightwarden.picklevm.tensors import RebuildRefused, rebuild, storage_from_pid

    with pytest.raises(RebuildRefused, match=reason):
        rebuild(io.BytesIO(program), storage_from_pid)


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(st.binary(max_size=200))
def test_fuzz_rebuild_only_refuses(data):
    import io

    from weightwarden.picklevm.tensors import RebuildRefused, rebuild, storage_from_pid

    for program in (data, b"\x80\x02" + data):
        with contextlib.suppress(RebuildRefused):  # any other exception fails the test
            rebuild(io.BytesIO(program), storage_from_pid)


def test_declared_base_model_and_vocab_sources(tmp_path):
    folder = tmp_path / "ft"
    folder.mkdir()
    _save(folder / "model.safetensors", {"model.norm.weight": np.ones(4, np.float32)})
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "_name_or_path": "from/config"}))
    (folder / "vocab.txt").write_text("[PAD]\nhello\nworld\n")
    with open_tensors(folder) as ts:
        assert ts.info.declared_base_model == "from/config" and ts.info.vocab == ("[PAD]", "hello", "world")
        assert ts.info.architecture == "llama"
    (folder / "README.md").write_text("---\nlicense: mit\nbase_model:\n- org/base-1\ntags: [x]\n---\n# card\n")
    with open_tensors(folder) as ts:
        assert ts.info.declared_base_model == "org/base-1"
    (folder / "README.md").unlink()
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/adapter-base"}))
    tokenizer = {"model": {"vocab": {"a": 0, "b": 1}}, "added_tokens": [{"id": 2, "content": "<eos>"}]}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))
    with open_tensors(folder) as ts:
        assert ts.info.declared_base_model == "org/adapter-base" and ts.info.vocab == ("a", "b", "<eos>")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(LineageError, match="config.json: not readable JSON"):
        open_tensors(folder)


def test_rebuild_survives_deep_nesting():
    """Deeply nested tuples as dict keys (deep enough, ``hash`` overflows the C stack) are refused unhashed."""
    import io

    from weightwarden.picklevm.tensors import RebuildRefused, flatten, rebuild, storage_from_pid

    deep = b"N" + b"\x85" * 100_000
    with pytest.raises(RebuildRefused, match="dict key"):
        rebuild(io.BytesIO(b"\x80\x02}" + deep + b"Ns."), storage_from_pid)
    with pytest.raises(RebuildRefused, match="persistent id"):
        rebuild(io.BytesIO(b"\x80\x02" + deep + b"Q."), storage_from_pid)
    value = rebuild(io.BytesIO(b"\x80\x02" + deep + b"."), storage_from_pid)
    with pytest.raises(RebuildRefused, match="nested too deeply"):
        flatten(value)


def test_flatten_bounds_names_of_shared_containers():
    """A small program that shares one dict (with a long key) many times over is refused, not expanded.

    ``d = {K: [d] * N}``: each level of the walk copies the growing path N times, so before the bound the
    paths built grew as N * len(K) * depth**2 (hundreds of MB here, without limit for larger N and K).
    """
    import io
    import struct

    from weightwarden.picklevm.tensors import RebuildRefused, flatten, rebuild, storage_from_pid

    key = b"k" * 2048
    program = (
        b"\x80\x02}q\x00X" + struct.pack("<I", len(key)) + key + b"]q\x01(" + b"h\x00" * 300 + b"es."
    )
    value = rebuild(io.BytesIO(program), storage_from_pid)
    with pytest.raises(RebuildRefused, match="too many or too long"):
        flatten(value)


@pytest.fixture(scope="session")
def seed_files(tmp_path_factory, tiny_llama) -> dict[str, bytes]:
    """Small valid files of every container, as bytes, for the mutation fuzz."""
    import onnx
    import torch
    from onnx import helper, numpy_helper

    d = tmp_path_factory.mktemp("seeds")
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(5, dtype=np.float16)}
    torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, d / "z.pt")
    torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, d / "l.pt", _use_new_zipfile_serialization=False)
    np.savez(d / "n.npz", **arrays)
    graph = helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(v, k) for k, v in arrays.items()])
    onnx.save_model(helper.make_model(graph), d / "m.onnx")
    _save(d / "s.safetensors", arrays)
    files = {p.name: p.read_bytes() for p in d.iterdir()}
    files["g.gguf"] = tiny_llama[0].read_bytes()
    return files


@settings(max_examples=120, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["z.pt", "l.pt", "n.npz", "m.onnx", "s.safetensors", "g.gguf"]),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_fuzz_mutated_containers(tmp_path_factory, seed_files, name, edits, cut):
    """Flipped bytes and truncation in any container: LineageError / UnsupportedTensor, never another error."""
    data = bytearray(seed_files[name])
    for where, value in edits:
        data[int(where * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    p = tmp_path_factory.mktemp("mut") / name
    p.write_bytes(bytes(data))
    try:
        ts = open_tensors(p)
    except LineageError:
        return
    with ts:
        for ref in ts.refs:
            try:
                ts.load(ref)
                _canonical_bytes(ts, ref)
            except UnsupportedTensor:
                pass


def test_pytorch_folder_ignores_trainer_state(tmp_path):
    import argparse

    import torch

    folder = tmp_path / "checkpoint-500"
    folder.mkdir()
    torch.save({"model.norm.weight": torch.ones(3)}, folder / "pytorch_model.bin")
    torch.save(argparse.Namespace(learning_rate=1e-4), folder / "training_args.bin")  # a pickled object
    torch.save({"state": {}, "param_groups": []}, folder / "optimizer.pt")
    with open_tensors(folder) as ts:
        assert ts.info.container == "pytorch" and [r.canonical for r in ts.refs] == ["model.norm.weight"]
    with pytest.raises(LineageError, match="refused: global argparse.Namespace"):
        open_tensors(folder / "training_args.bin")
