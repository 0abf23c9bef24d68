"""``weightwarden diff`` localises and classifies every synthetic change (class and tensor asserted).

Base models are the real ones: all-MiniLM (safetensors) for the generator-by-generator cases, and SmolLM2
(GGUF, Q4_1 with a Q8_0 embedding) — its global tensors and first two blocks, read once per module — for
re-quantisation, GGUF ↔ safetensors roots with the llama.cpp Q/K permutation, and edits in a quantised model.
A real short fine-tune (a tiny llama trained with torch, ``tests/lineage/models.py``) must read as dense.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.lineage import variants as V
from weightwarden.cli.main import main as cli
from weightwarden.lineage.diff import classify_arrays, diff_models, effective_rank, grid_type, singular_values
from weightwarden.lineage.digests import digest_model


def _kinds(result) -> dict[str, str]:
    return {c.name: c.kind for c in result.changes}


# ------------------------------------------------------------------------------------ all-MiniLM variants


@pytest.fixture(scope="module")
def minilm(minilm_folder: Path):
    return V.load_model(minilm_folder)


@pytest.fixture(scope="module")
def variant_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("diff-variants")


GENERATORS = {
    "lora4": lambda base: V.lora_merge(base, rank=4),
    "lora16": lambda base: V.lora_merge(base, rank=16),
    "rank1": V.rank1_edit,
    "embedding_rows": V.embedding_rows,
    "prune_2_4": V.prune_2_4,
    "permute_rotate": V.permute_rotate,
    "dense": V.dense_perturbation,
    "one_element": V.one_element,
    "structural": V.structural,
    "requant_q4_0_as_f32": lambda base: V.requantise(base, "Q4_0"),
    "requant_q8_0_as_f32": lambda base: V.requantise(base, "Q8_0"),
}


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_minilm_variant_is_localised_and_classified(kind, minilm, minilm_folder, variant_root) -> None:
    base, info = minilm
    variant = GENERATORS[kind](base)
    folder = V.write_hf_folder(variant.tensors, variant_root / kind, like=minilm_folder)
    result = diff_models(minilm_folder, folder)
    assert not result.identical
    assert _kinds(result) == variant.expected
    assert result.identical_tensors == len(set(base) & set(variant.tensors)) - len(
        [n for n in variant.expected if n in base and n in variant.tensors])
    flagged = {c.name for c in result.changes if c.flagged}
    assert flagged == {n for n, k in variant.expected.items() if k in {"rank1_edit", "embedding_rows", "sparse_change"}}
    if variant.rank and variant.rank > 1:
        for change in result.changes:
            assert variant.rank // 2 <= change.effective_rank <= variant.rank, change.evidence
    if kind == "embedding_rows":
        (change,) = result.changes
        assert change.rows == variant.rows
        assert change.tokens == tuple(info.vocab[r] for r in variant.rows)
    if kind == "prune_2_4":
        (change,) = result.changes
        assert any("2:4" in e for e in change.evidence)
    if kind == "dense":
        big = [c for c in result.changes if len(c.shape_a or ()) == 2 and min(c.shape_a) > 64]
        assert big and all(c.effective_rank is None or c.effective_rank > 64 for c in big)
    json.dumps(result.to_dict())  # serialisable


def test_f16_copy_is_quantisation_noise(minilm, minilm_folder, variant_root) -> None:
    base, _ = minilm
    folder = V.write_hf_folder({n: t for n, t in base.items()}, variant_root / "f16", like=minilm_folder, dtype="F16")
    result = diff_models(minilm_folder, folder)
    assert set(_kinds(result).values()) == {"quantisation_noise"}
    # Every F32 weight is now stored as F16 (the int64 position_ids cast too): all of them are listed.
    assert {c.name for c in result.changes} == {n for n in base}


def test_identical_models_skip_all_numeric_work(minilm_folder, tmp_path) -> None:
    base, _ = V.load_model(minilm_folder)
    copy = V.write_safetensors(base, tmp_path / "shards", shards=2, reverse=True)
    result = diff_models(minilm_folder, copy)
    assert result.identical and result.changes == ()
    assert result.identical_tensors == len(base)


# --------------------------------------------------------------------------------------------- the CLI


def test_cli_exit_codes_and_formats(minilm, minilm_folder, variant_root) -> None:
    base, _ = minilm
    folder = V.write_hf_folder(V.rank1_edit(base).tensors, variant_root / "cli-rank1", like=minilm_folder)
    runner = CliRunner()
    same = runner.invoke(cli, ["diff", str(minilm_folder), str(minilm_folder)])
    assert same.exit_code == 0, same.output
    assert "identical weights" in same.output
    text = runner.invoke(cli, ["diff", str(minilm_folder), str(folder), "--top", "3"])
    assert text.exit_code == 1, text.output
    assert "FLAGGED (1)" in text.output and "rank1_edit" in text.output
    assert text.output.index("FLAGGED") < text.output.index("per layer")
    as_json = runner.invoke(cli, ["diff", str(minilm_folder), str(folder), "--format", "json"])
    assert as_json.exit_code == 1
    doc = json.loads(as_json.output)
    assert doc["schema"] == "weightwarden.diff/v1"
    assert doc["flagged"] == ["encoder.layer.3.output.dense.weight"]
    assert doc["a"]["weights_root"] != doc["b"]["weights_root"]


def test_cli_bad_input_exits_2_with_the_file_named(minilm_folder, tmp_path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\xff" * 64)
    res = CliRunner().invoke(cli, ["diff", str(minilm_folder), str(bad)])
    assert res.exit_code == 2
    assert "broken.safetensors" in res.output
    assert "Traceback" not in res.output


# ------------------------------------------------------------------------------------------ numerics


def test_effective_rank_and_grid_detection() -> None:
    rng = np.random.default_rng(0)
    low = (rng.standard_normal((300, 8)) @ rng.standard_normal((8, 200))).astype(np.float32)
    sv = singular_values(low, 64)
    assert effective_rank(sv, float(np.sum(low.astype(np.float64) ** 2))) <= 8
    noise = rng.standard_normal((600, 512)).astype(np.float32)
    assert effective_rank(singular_values(noise, 64), float(np.sum(noise.astype(np.float64) ** 2))) is None
    assert grid_type(noise) is None
    # both sides > EXACT_SPECTRUM_MAX: the randomised SVD path
    big_low = (rng.standard_normal((1100, 8)) @ rng.standard_normal((8, 1200))).astype(np.float32)
    big_low += 1e-6 * rng.standard_normal(big_low.shape).astype(np.float32)
    energy = float(np.sum(big_low.astype(np.float64) ** 2))
    assert effective_rank(singular_values(big_low, 64), energy) == 8
    big_noise = rng.standard_normal((1100, 1200)).astype(np.float32)
    assert effective_rank(singular_values(big_noise, 64), float(np.sum(big_noise.astype(np.float64) ** 2))) is None
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    for name in ("Q4_0", "Q4_1", "Q8_0"):
        qt = GGMLQuantizationType[name]
        assert grid_type(dequantize(quantize(noise, qt), qt)) == name


def test_large_dense_change_is_noted_as_not_fine_tune_sized() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((128, 128)).astype(np.float32)
    b = rng.standard_normal((128, 128)).astype(np.float32)
    m = classify_arrays(a, b)
    assert m.kind == "dense_finetune"
    assert any("larger than a fine-tune" in e for e in m.evidence)


# ------------------------------------------------------------------------------- real short fine-tune


def test_real_fine_tune_reads_as_dense(minilm_folder, tmp_path) -> None:
    from tests.lineage.models import TinySpec, fine_tune, real_vocab, save_hf_folder, trained_model

    spec = TinySpec(family="llama", vocab_size=512, hidden=64, intermediate=192, layers=2, heads=4)
    vocab = real_vocab(minilm_folder, spec.vocab_size)
    base = trained_model(spec, seed=11, steps=10)
    tuned = fine_tune(spec, base, steps=60)
    a = save_hf_folder(tmp_path / "base", spec, base, vocab)
    b = save_hf_folder(tmp_path / "tuned", spec, tuned, vocab)
    result = diff_models(a, b)
    kinds = _kinds(result)
    assert len(kinds) >= 0.9 * len(base)
    assert not result.flagged, [(c.name, c.kind, c.evidence) for c in result.flagged_changes()]
    dense = [n for n, k in kinds.items() if k == "dense_finetune"]
    assert len(dense) >= 0.9 * len(kinds), kinds


# --------------------------------------------------------------------- SmolLM2 (GGUF), read once here


@pytest.fixture(scope="module")
def smol(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2's global tensors and first 2 blocks, re-encoded as GGUF with the original types (A)."""
    keep = V.first_layers(2)
    base, info = V.load_model(smollm2_gguf, keep=keep)
    types = {n: t for n, t in V.stored_types(smollm2_gguf).items() if keep(n)}
    work = tmp_path_factory.mktemp("smol")
    a = V.write_gguf(base, work / "a.gguf", info=info, stored_types=types)
    return base, info, types, a, work


def test_smol_reencoding_is_bit_exact(smol, smollm2_gguf) -> None:
    base, _, _, a, _ = smol
    original = digest_model(smollm2_gguf)
    subset = digest_model(a)
    assert subset.tensors == {n: original.tensors[n] for n in base}


def test_smol_root_same_in_gguf_with_permuted_qk_and_safetensors(smol) -> None:
    base, info, _, _, work = smol
    gguf_f32 = V.write_gguf(base, work / "f32.gguf", info=info, reverse=True)
    st_f32 = V.write_safetensors(base, work / "f32.safetensors")
    dg, ds = digest_model(gguf_f32), digest_model(st_f32)
    assert ds.root == dg.root
    # the permutation is really there on disk: the stored Q rows differ from the HF rows
    from weightwarden.lineage.tensors import open_tensors

    with open_tensors(gguf_f32) as ts:
        q = ts.get("model.layers.0.self_attn.q_proj.weight")
        assert q is not None and q.permuted
        assert np.array_equal(ts.load(q), base["model.layers.0.self_attn.q_proj.weight"])
    one = dict(base)
    one["model.layers.1.self_attn.k_proj.weight"] = base["model.layers.1.self_attn.k_proj.weight"].copy()
    one["model.layers.1.self_attn.k_proj.weight"][3, 5] += 1.0
    assert digest_model(V.write_gguf(one, work / "one.gguf", info=info)).root != dg.root


@pytest.mark.parametrize("piece", [None, 1000])
def test_smol_side_by_side_digests_match_each_model_alone(smol, tmp_path, monkeypatch, piece) -> None:
    """digest_pair (what diff uses: shared bytes hashed once) on GGUF with permuted Q/K rows vs safetensors,
    a tensor differing in its very last canonical byte, and quantised vs F32: each side's digests are
    exactly digest_model's."""
    from tests.lineage.test_digests import assert_pair_matches_alone, last_byte_flipped
    from weightwarden.lineage import digests as D

    if piece:
        monkeypatch.setattr(D, "COMPARE_PIECE", piece)
    base, info, _, a, _ = smol
    k = "model.layers.1.self_attn.k_proj.weight"
    gguf = V.write_gguf(base, tmp_path / "f32.gguf", info=info, reverse=True)
    st = V.write_safetensors(base, tmp_path / "f32.safetensors")
    edited = V.write_gguf(dict(base, **{k: last_byte_flipped(base[k])}), tmp_path / "edited.gguf", info=info)
    dg, ds = assert_pair_matches_alone(gguf, st)
    assert dg.tensors == ds.tensors
    ds, de = assert_pair_matches_alone(st, edited)
    assert [n for n in ds.tensors if ds.tensors[n] != de.tensors[n]] == [k]
    de, dg = assert_pair_matches_alone(edited, gguf)
    assert [n for n in de.tensors if de.tensors[n] != dg.tensors[n]] == [k]
    assert_pair_matches_alone(a, gguf)  # Q4_1/Q8_0 vs F32: other headers, every tensor hashed on its side


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0"])
def test_smol_requantisation_is_quantisation_noise(smol, qtype) -> None:
    base, info, types, a, work = smol
    variant = V.requantise(base, qtype, base_types=types)
    b = V.write_gguf(variant.tensors, work / f"{qtype}.gguf", info=info, stored_types=variant.stored_types)
    result = diff_models(a, b)
    assert _kinds(result) == variant.expected
    assert variant.expected  # the Q4_1 matrices at least
    assert not result.flagged


def test_smol_edits_in_a_quantised_model(smol) -> None:
    base, info, types, a, work = smol
    rank1 = V.rank1_edit(base)
    rows = V.embedding_rows(base, rows=(1234, 4321))
    edited = dict(rank1.tensors)
    emb = "model.embed_tokens.weight"
    edited[emb] = rows.tensors[emb]
    # Edited tensors are stored as F32 next to the untouched quantised ones (as an editing tool would).
    stored = dict(types, **{n: "F32" for n in (*rank1.expected, emb)})
    b = V.write_gguf(edited, work / "edited.gguf", info=info, stored_types=stored)
    result = diff_models(a, b)
    assert _kinds(result) == {**rank1.expected, emb: "embedding_rows"}
    change = result.change(emb)
    assert change.rows == (1234, 4321)
    assert change.tokens == (info.vocab[1234], info.vocab[4321])
    assert set(result.flagged) == {*rank1.expected, emb}
