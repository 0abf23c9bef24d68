"""The derivation test (``assess_lineage`` / ``weightwarden lineage``) on derived, unrelated and unusable pairs.

Derived: every synthetic variant of ``tests/lineage/variants.py`` plus a real short fine-tune, on tiny
trained llama- and BERT-shaped models, on the real all-MiniLM (real fine-tune) and on SmolLM2 (re-quantised
and disguised by permutation + rotation); some go through files (HF folder, GGUF). Unrelated: tiny models
trained from different seeds, all-MiniLM against a fresh BERT of the same shape. Unusable: different
architectures, no shared vocabulary, corrupt files.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.lineage import variants as V
from tests.lineage.models import (
    TinySpec,
    fine_tune,
    fine_tune_bert_folder,
    load_hf_bert_arrays,
    real_vocab,
    save_hf_folder,
    tiny_family,
    trained_model,
)
from weightwarden.cli.main import main as cli
from weightwarden.lineage.derivation import LineageReport, WeightSource, assess_lineage
from weightwarden.lineage.model import LineageError, ModelInfo
from weightwarden.lineage.naming import role

LLAMA_SEEDS = (11, 12, 13, 14)
BERT_SEEDS = (21, 22, 23)


def _source(arrays: dict, vocab: tuple[str, ...], family: str, label: str = "<b>") -> WeightSource:
    return WeightSource.from_arrays(arrays, vocab=vocab, architecture=family, label=label)


def _mlp(base: dict) -> list[str]:
    return sorted(n for n, t in base.items() if t.ndim == 2 and role(n) in ("mlp_up", "mlp_gate", "mlp_down"))


def _assert_derived(report: LineageReport) -> None:
    assert report.verdict == "derived", report.reason
    assert report.p_value < 0.01
    assert report.shared_layers, report.to_dict()


def _assert_unrelated(report: LineageReport) -> None:
    assert report.verdict == "unrelated", report.reason
    assert report.p_value >= 0.01
    assert report.score < 0.05


@pytest.fixture(scope="session")
def llama_family(minilm_folder):
    return tiny_family("llama", LLAMA_SEEDS)


@pytest.fixture(scope="session")
def bert_family(minilm_folder):
    return tiny_family("bert", BERT_SEEDS)


@pytest.fixture(scope="session")
def llama_base_folder(llama_family, tmp_path_factory) -> Path:
    spec, vocab, models = llama_family
    return save_hf_folder(tmp_path_factory.mktemp("tiny-llama") / "base", spec, models[0], vocab)


def _llama_variants(base: dict, spec: TinySpec) -> dict[str, dict]:
    mlp = _mlp(base)
    return {
        "requant-Q8_0": V.requantise(base, "Q8_0").tensors,
        "requant-Q4_0": V.requantise(base, "Q4_0").tensors,
        "lora-r4": V.lora_merge(base, 4, names=mlp, rel_norm=0.1).tensors,
        "lora-r16": V.lora_merge(base, 16, names=mlp, rel_norm=0.1).tensors,
        "rank1-edit": V.rank1_edit(base, rel_norm=0.05).tensors,
        "embedding-rows": V.embedding_rows(base, rows=(3, 200, 900)).tensors,
        "prune-2:4": V.prune_2_4(base, names=mlp).tensors,
        "permute-rotate": V.permute_rotate(base).tensors,
        "dense-perturbation": V.dense_perturbation(base, rel_norm=0.05).tensors,
        "fine-tune-200-steps": fine_tune(spec, base, steps=200),
    }


@pytest.fixture(scope="session")
def llama_variants(llama_family) -> dict[str, dict]:
    spec, _, models = llama_family
    return _llama_variants(models[0], spec)


@pytest.mark.parametrize("name", [
    "requant-Q8_0", "requant-Q4_0", "lora-r4", "lora-r16", "rank1-edit", "embedding-rows", "prune-2:4",
    "permute-rotate", "dense-perturbation", "fine-tune-200-steps",
])
def test_every_derived_variant_is_derived(llama_family, llama_variants, name):
    spec, vocab, models = llama_family
    report = assess_lineage(_source(models[0], vocab, "llama", "A"), _source(llama_variants[name], vocab, "llama"))
    _assert_derived(report)
    # The other direction works as well (the test is symmetric in the neurons it matches).
    _assert_derived(assess_lineage(_source(llama_variants[name], vocab, "llama"), _source(models[0], vocab, "llama")))


def test_files_and_format_change_gguf_to_safetensors(llama_family, llama_variants, llama_base_folder, tmp_path):
    """Through the files: the safetensors HF folder of A against B converted to a Q8_0 GGUF, fine-tuned
    and disguised, and against an unrelated model's GGUF."""
    spec, vocab, models = llama_family
    info = ModelInfo(path="", container="gguf", architecture="llama", vocab=vocab, n_head=spec.heads,
                     n_head_kv=spec.heads)
    disguised = V.permute_rotate(llama_variants["fine-tune-200-steps"]).tensors
    q8 = V.requantise(disguised, "Q8_0")
    derived_gguf = V.write_gguf(q8.tensors, tmp_path / "derived.gguf", info=info, stored_types=q8.stored_types)
    _assert_derived(assess_lineage(llama_base_folder, derived_gguf))
    other_gguf = V.write_gguf(models[1], tmp_path / "other.gguf", info=info)
    _assert_unrelated(assess_lineage(llama_base_folder, other_gguf))


def test_unrelated_seeds_are_not_derived(llama_family, bert_family):
    for family, (_, vocab, models) in (("llama", llama_family), ("bert", bert_family)):
        for i, j in itertools.combinations(range(len(models)), 2):
            _assert_unrelated(assess_lineage(_source(models[i], vocab, family), _source(models[j], vocab, family)))


def test_bert_fine_tune_and_disguise_are_derived(bert_family):
    _, vocab, models = bert_family
    spec = TinySpec(family="bert")
    tuned = fine_tune(spec, models[0], steps=200)
    for arrays in (tuned, V.permute_rotate(tuned).tensors, V.requantise(models[0], "Q4_0").tensors):
        _assert_derived(assess_lineage(_source(models[0], vocab, "bert"), _source(arrays, vocab, "bert")))


def test_report_evidence_and_declared_metadata(llama_family):
    _, vocab, models = llama_family
    a = WeightSource.from_arrays(models[0], vocab=vocab, architecture="llama", label="A",
                                 declared_base_model="org/claimed-base")
    report = assess_lineage(a, _source(models[2], vocab, "llama"))
    d = json.loads(json.dumps(report.to_dict()))
    assert d["schema"] == "weightwarden.lineage-report/v1"
    assert d["a"]["declared_base_model"] == "org/claimed-base"
    assert d["declared_metadata_is_evidence"] is False
    assert [e["layer"] for e in d["layers"]] == [0, 1]
    assert all(set(e) >= {"p_value", "similarity", "agreements", "shared"} for e in d["layers"])
    # A declared base model does not make an unrelated model derived.
    assert d["verdict"] == "unrelated"


def test_no_shared_vocabulary_is_inconclusive(llama_family, minilm_folder):
    spec, vocab, models = llama_family
    other_vocab = real_vocab(minilm_folder, spec.vocab_size, offset=6000)
    report = assess_lineage(_source(models[0], vocab, "llama"), _source(models[1], other_vocab, "llama"))
    assert report.verdict == "inconclusive"
    assert report.reason.startswith("inconclusive: no shared vocabulary")
    bert = _source(trained_model(TinySpec(family="bert"), 5, steps=1), other_vocab, "bert")
    report = assess_lineage(_source(models[0], vocab, "llama"), bert)
    assert report.reason.startswith("inconclusive: different architectures and no shared vocabulary")
    no_vocab = WeightSource.from_arrays(models[1], architecture="llama")
    assert assess_lineage(_source(models[0], vocab, "llama"), no_vocab).verdict == "inconclusive"


def test_no_mlp_layers_is_inconclusive(llama_family):
    _, vocab, models = llama_family
    embeddings_only = {n: t for n, t in models[1].items() if "embed" in n}
    report = assess_lineage(_source(models[0], vocab, "llama"), _source(embeddings_only, vocab, "llama"))
    assert report.reason == "inconclusive: no comparable MLP layers"


def test_real_models_different_architectures(smollm2_gguf, minilm_folder):
    report = assess_lineage(smollm2_gguf, minilm_folder)
    assert report.verdict == "inconclusive"
    assert report.reason.startswith("inconclusive: different architectures and no shared vocabulary")
    assert report.b["declared_base_model"] == "nreimers/MiniLM-L6-H384-uncased"


def test_real_minilm_fine_tune_is_derived_and_fresh_bert_is_not(minilm_folder):
    import torch
    from transformers import BertConfig, BertModel

    tuned = fine_tune_bert_folder(minilm_folder, steps=100)
    base = load_hf_bert_arrays(minilm_folder)
    assert max(float(np.abs(tuned[n] - base[n]).max()) for n in base if n in tuned) > 1e-3  # it did train
    vocab = tuple((Path(minilm_folder) / "vocab.txt").read_text(encoding="utf-8").splitlines())
    _assert_derived(assess_lineage(minilm_folder, _source(tuned, vocab, "bert")))
    torch.manual_seed(0)
    fresh = BertModel(BertConfig.from_json_file(str(Path(minilm_folder) / "config.json")))
    fresh_arrays = {k: v.detach().numpy().copy() for k, v in fresh.state_dict().items() if "position_ids" not in k}
    _assert_unrelated(assess_lineage(minilm_folder, _source(fresh_arrays, vocab, "bert")))


@pytest.fixture(scope="session")
def smollm2_disguised(smollm2_gguf):
    """SmolLM2's embedding and MLP tensors, re-quantised to Q8_0 then permuted + rotated, with its vocab."""
    from weightwarden.lineage._align import opened

    with opened(smollm2_gguf) as s:
        wanted = [n for n in s.names if role(n) in ("embed", "mlp_up", "mlp_gate", "mlp_down")
                  or n.endswith("post_attention_layernorm.weight")]
        base = {n: s.load(n) for n in wanted}
        vocab = s.vocab
    disguised = V.permute_rotate(V.requantise(base, "Q8_0").tensors).tensors
    del base
    return disguised, vocab


def test_smollm2_requantised_and_permuted_copy_is_derived(smollm2_gguf, smollm2_disguised):
    arrays, vocab = smollm2_disguised
    report = assess_lineage(smollm2_gguf, _source(arrays, vocab, "llama", "smollm2-disguised"))
    _assert_derived(report)
    assert len(report.shared_layers) == 30
    assert report.embedding_alignment is not None and report.embedding_alignment > 0.9


def test_corrupt_input_is_a_clear_error(llama_base_folder, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in llama_base_folder.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    st = broken / "model.safetensors"
    st.write_bytes(st.read_bytes()[: st.stat().st_size // 2])
    with pytest.raises(LineageError) as err:
        assess_lineage(llama_base_folder, broken)
    assert "model.safetensors" in str(err.value)
    result = CliRunner().invoke(cli, ["lineage", str(llama_base_folder), str(broken)])
    assert result.exit_code == 2
    assert "model.safetensors" in result.output and "Traceback" not in result.output


def test_cli_lineage_exit_codes_and_json(llama_family, llama_base_folder, tmp_path):
    spec, vocab, models = llama_family
    other = save_hf_folder(tmp_path / "other", spec, models[3], vocab)
    tuned = save_hf_folder(tmp_path / "tuned", spec, V.requantise(models[0], "Q4_0").tensors, vocab)
    runner = CliRunner()
    result = runner.invoke(cli, ["lineage", str(llama_base_folder), str(tuned)])
    assert result.exit_code == 0, result.output
    assert "verdict: DERIVED" in result.output
    result = runner.invoke(cli, ["lineage", str(llama_base_folder), str(other), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["verdict"] == "unrelated"
    result = runner.invoke(cli, ["lineage", str(llama_base_folder)])
    assert result.exit_code == 3
