"""diff on a real dequantised model (SmolLM2, Q4_1 / Q8_0): "A is the quantisation of B" is told from
"B = A + small noise" by re-quantising bit for bit (gguf-py's reference quantisers), "cannot tell" where no
reference quantiser exists; a frankenmerge names its replaced layer range; norms never overflow; identical
models are said to be identical by diff and lineage alike."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.lineage import variants as V
from weightwarden.cli.main import main as cli
from weightwarden.lineage.diff import classify_arrays, diff_models

LAYERS = 6


def _kinds(result) -> dict[str, str]:
    return {c.name: c.kind for c in result.changes}


@pytest.fixture(scope="module")
def smol6(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2's global tensors and first blocks: the GGUF subset (A, original types) and its dequantised
    F32 safetensors copy (every matrix sits on a Q4_1 / Q8_0 grid)."""
    keep = V.first_layers(LAYERS)
    base, info = V.load_model(smollm2_gguf, keep=keep)
    types = {n: t for n, t in V.stored_types(smollm2_gguf).items() if keep(n)}
    work = tmp_path_factory.mktemp("smol6")
    gguf = V.write_gguf(base, work / "a.gguf", info=info, stored_types=types)
    dequantised = V.write_safetensors(base, work / "dequantised.safetensors")
    return base, info, types, gguf, dequantised, work


def test_the_base_really_sits_on_a_quantisation_grid(smol6) -> None:
    from weightwarden.lineage.diff import grid_type

    base, _, types, *_ = smol6
    matrices = [n for n, t in base.items() if t.ndim == 2]
    assert {types[n] for n in matrices} <= {"Q4_1", "Q8_0"} and "Q4_1" in {types[n] for n in matrices}
    assert all(grid_type(base[n]) is not None for n in matrices)


@pytest.mark.parametrize("side", ["dequantised", "gguf"])
def test_one_percent_dense_change_on_a_q4_1_grid_is_a_fine_tune(smol6, side: str) -> None:
    base, _, types, gguf, dequantised, work = smol6
    noisy = V.dense_perturbation(base, rel_norm=0.01, seed=11)
    b = V.write_safetensors(noisy.tensors, work / f"noisy-{side}.safetensors")
    result = diff_models(dequantised if side == "dequantised" else gguf, b)
    kinds = _kinds(result)
    matrices = [n for n, t in base.items() if t.ndim == 2]
    assert [n for n in matrices if kinds.get(n) != "dense_finetune"] == [], \
        {n: kinds.get(n) for n in matrices if kinds.get(n) != "dense_finetune"}
    on_q4_1 = [n for n in matrices if types[n] == "Q4_1"]
    for name in on_q4_1:  # within Q4_1's rounding bound: only the bit-exact test tells
        ev = result.change(name).evidence
        assert any("does not reproduce A" in e for e in ev), ev


def test_a_pure_gguf_to_safetensors_conversion_is_still_no_change(smol6) -> None:
    _, _, _, gguf, dequantised, _ = smol6
    result = diff_models(gguf, dequantised)
    assert set(_kinds(result).values()) <= {"quantisation_noise"}, result.kinds()
    assert not result.flagged


def test_the_reference_quantisation_of_an_off_grid_model_is_quantisation_noise(smol6) -> None:
    base, info, _, _, _, work = smol6
    precise = V.dense_perturbation(base, rel_norm=0.01, seed=12).tensors  # off every grid
    a = V.write_safetensors(precise, work / "precise.safetensors")
    for qtype in ("Q4_1", "Q8_0"):
        quantised = V.requantise(precise, qtype)
        b = V.write_gguf(quantised.tensors, work / f"requant-{qtype}.gguf", info=info,
                         stored_types=quantised.stored_types)
        result = diff_models(a, b)
        assert _kinds(result) == quantised.expected, result.kinds()
        change = result.change(next(iter(quantised.expected)))
        assert any(f"re-quantised to {qtype} reproduces it exactly" in e for e in change.evidence)


def test_no_reference_quantiser_means_cannot_tell() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((64, 256)).astype(np.float32)
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    q = GGMLQuantizationType.Q4_1
    b = dequantize(quantize(a, q), q).reshape(a.shape)
    m = classify_arrays(a, b, dtype_b="Q4_K")  # stored as a K-quant: llama.cpp searches its scales
    assert m.kind == "quantisation_noise"
    assert any("no reference quantiser for Q4_K" in e and "cannot tell" in e for e in m.evidence), m.evidence
    m = classify_arrays(a, b, dtype_b="Q4_1")  # the same values as Q4_1: reproduced bit for bit
    assert m.kind == "quantisation_noise" and any("reproduces it exactly" in e for e in m.evidence)


def test_a_frankenmerge_names_the_replaced_layer_range(smol6) -> None:
    base, info, types, gguf, _, work = smol6
    merged = dict(base)
    for layer in range(3, LAYERS):  # blocks 3-5 taken from elsewhere (here: blocks 0-2 of the same model)
        for name in base:
            prefix = f"model.layers.{layer}."
            if name.startswith(prefix):
                merged[name] = base[name.replace(prefix, f"model.layers.{layer - 3}.")]
    b = V.write_gguf(merged, work / "franken.gguf", info=info, stored_types=types)
    result = diff_models(gguf, b)
    assert result.replaced_layers == ((3, LAYERS - 1),)
    replaced = {n for n, k in _kinds(result).items() if k == "layers_replaced"}
    assert replaced and all(f"model.layers.{i}." in "".join(replaced) for i in range(3, LAYERS))
    assert all(n.split(".")[2] in {str(i) for i in range(3, LAYERS)} for n in replaced)
    assert set(_kinds(result).values()) <= {"layers_replaced"}, result.kinds()
    code = CliRunner().invoke(cli, ["diff", str(gguf), str(b)])
    assert code.exit_code == 1 and f"replaced layers: 3–{LAYERS - 1}" in code.output, code.output
    # a whole unrelated model is not a frankenmerge
    unrelated = V.permute_rotate(base).tensors
    everything = diff_models(V.write_safetensors(base, work / "x.safetensors"),
                             V.write_safetensors({n: -t for n, t in unrelated.items()}, work / "y.safetensors"))
    assert everything.replaced_layers == ()


def test_norms_accumulate_in_float64_without_overflow() -> None:
    rng = np.random.default_rng(0)
    a = (rng.uniform(-1, 1, (128, 96)) * 2e19).astype(np.float32)
    b = a + (rng.uniform(-1, 1, a.shape) * 2e17).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classify_arrays(a, b)
        huge = (rng.uniform(-1, 1, (64, 64)) * 3e38).astype(np.float32)
        n = classify_arrays(huge, -huge)
    assert np.isfinite(m.rel_norm) and 0.005 < m.rel_norm < 0.02 and m.kind == "dense_finetune", m
    assert n.rel_norm == pytest.approx(2.0) and np.isfinite(n.max_abs)


def test_identical_models_are_identical_for_diff_and_lineage(smol6, smollm2_gguf: Path) -> None:
    _, _, _, gguf, _, _ = smol6
    for command in ("diff", "lineage"):
        res = CliRunner().invoke(cli, [command, str(smollm2_gguf), str(smollm2_gguf)])
        assert res.exit_code == 0 and "identical" in res.output.lower(), res.output
    res = CliRunner().invoke(cli, ["lineage", str(gguf), str(gguf), "--format", "json"])
    import json

    doc = json.loads(res.output)
    assert doc["verdict"] == "derived" and doc["p_value"] == 0.0 and doc["log10_p"] is None
    assert "weights root" in doc["reason"]
