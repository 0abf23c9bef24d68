"""Fingerprints (``make_fingerprint`` / ``weightwarden fingerprint``) and lineage against a fingerprint.

A fingerprint must be compact, deterministic, survive a JSON round trip, carry the weights root, and give
the same verdicts as the weight-based test (derived variants derived, unrelated seeds not, missing anchor
tokens inconclusive), on tiny trained models and on SmolLM2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.lineage import variants as V
from tests.lineage.models import fine_tune, real_vocab, save_hf_folder, tiny_family
from weightwarden.cli.main import main as cli
from weightwarden.lineage.derivation import WeightSource, assess_lineage
from weightwarden.lineage.digests import digest_model
from weightwarden.lineage.fingerprint import (
    SCHEMA,
    Fingerprint,
    FingerprintError,
    load_fingerprint,
    make_fingerprint,
)
from weightwarden.lineage.naming import role

SEEDS = (31, 32, 33)


def _source(arrays: dict, vocab: tuple[str, ...], family: str = "llama") -> WeightSource:
    return WeightSource.from_arrays(arrays, vocab=vocab, architecture=family)


@pytest.fixture(scope="session")
def family(minilm_folder):
    return tiny_family("llama", SEEDS)


@pytest.fixture(scope="session")
def base_folder(family, tmp_path_factory) -> Path:
    spec, vocab, models = family
    return save_hf_folder(tmp_path_factory.mktemp("fp-llama") / "base", spec, models[0], vocab)


@pytest.fixture(scope="session")
def base_fingerprint(base_folder) -> Fingerprint:
    return make_fingerprint(base_folder)


def test_fingerprint_is_compact_deterministic_and_round_trips(base_folder, base_fingerprint, tmp_path):
    text = base_fingerprint.to_json()
    data = json.loads(text)
    assert data["schema"] == SCHEMA
    assert data["weights_root"] == digest_model(base_folder).root
    assert len(data["tensors"]) == len(digest_model(base_folder).tensors)
    assert make_fingerprint(base_folder).to_json() == text
    path = tmp_path / "fp.json"
    path.write_text(text, encoding="utf-8")
    again = load_fingerprint(path)
    assert again.to_json() == text
    assert len(text) < 32_000


def test_fingerprint_verdicts_match_the_weight_test(family, base_fingerprint):
    spec, vocab, models = family
    base = models[0]
    mlp = [n for n, t in base.items() if t.ndim == 2 and role(n) in ("mlp_up", "mlp_gate", "mlp_down")]
    derived = {
        "requant-Q4_0": V.requantise(base, "Q4_0").tensors,
        "lora-r16": V.lora_merge(base, 16, names=mlp, rel_norm=0.1).tensors,
        "prune-2:4": V.prune_2_4(base, names=mlp).tensors,
        "permute-rotate": V.permute_rotate(base).tensors,
        "fine-tune": fine_tune(spec, base, steps=200),
    }
    for name, arrays in derived.items():
        by_fp = assess_lineage(None, _source(arrays, vocab), fingerprint=base_fingerprint)
        by_weights = assess_lineage(_source(base, vocab), _source(arrays, vocab))
        assert by_fp.verdict == by_weights.verdict == "derived", (name, by_fp.reason)
        assert by_fp.p_value < 0.01
    for other in models[1:]:
        by_fp = assess_lineage(None, _source(other, vocab), fingerprint=base_fingerprint)
        assert by_fp.verdict == "unrelated", by_fp.reason
        assert by_fp.p_value >= 0.01


def test_anchor_tokens_missing_is_inconclusive(family, base_fingerprint, minilm_folder):
    spec, _, models = family
    other_vocab = real_vocab(minilm_folder, spec.vocab_size, offset=6000)
    report = assess_lineage(None, _source(models[0], other_vocab), fingerprint=base_fingerprint)
    assert report.verdict == "inconclusive"
    assert "anchor tokens missing from B's vocabulary" in report.reason


def test_malformed_fingerprints_are_clear_errors(tmp_path, base_fingerprint):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(FingerprintError, match="bad.json"):
        load_fingerprint(bad)
    data = json.loads(base_fingerprint.to_json())
    data["sketch"]["layers"][0]["inputs"] = data["sketch"]["layers"][0]["inputs"][:8]
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(FingerprintError, match="bad.json"):
        load_fingerprint(bad)
    data["schema"] = "something/v9"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(FingerprintError, match="not a weightwarden.fingerprint/v1"):
        load_fingerprint(bad)


def test_cli_fingerprint_then_lineage(family, base_folder, tmp_path):
    spec, vocab, models = family
    runner = CliRunner()
    fp = tmp_path / "base.fp.json"
    result = runner.invoke(cli, ["fingerprint", str(base_folder), "-o", str(fp)])
    assert result.exit_code == 0, result.output
    derived = save_hf_folder(tmp_path / "derived", spec, V.permute_rotate(models[0]).tensors, vocab)
    other = save_hf_folder(tmp_path / "other", spec, models[1], vocab)
    result = runner.invoke(cli, ["lineage", "--fingerprint", str(fp), str(derived), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["a"]["fingerprint"] is True
    result = runner.invoke(cli, ["lineage", "--fingerprint", str(fp), str(other)])
    assert result.exit_code == 1, result.output
    fp.write_text("[]", encoding="utf-8")
    result = runner.invoke(cli, ["lineage", "--fingerprint", str(fp), str(other)])
    assert result.exit_code == 2
    assert "base.fp.json" in result.output and "Traceback" not in result.output


def test_smollm2_fingerprint(smollm2_gguf, minilm_folder):
    from weightwarden.lineage._align import opened

    fp = make_fingerprint(smollm2_gguf)
    text = fp.to_json()
    assert 10_000 < len(text) < 100_000
    assert len(fp.layers) == 30
    with opened(smollm2_gguf) as s:
        wanted = [n for n in s.names if role(n) in ("embed", "mlp_up", "mlp_gate", "mlp_down")
                  or n.endswith("post_attention_layernorm.weight")]
        disguised = V.permute_rotate(V.requantise({n: s.load(n) for n in wanted}, "Q4_0").tensors).tensors
        vocab = s.vocab
    report = assess_lineage(None, _source(disguised, vocab), fingerprint=Fingerprint.from_dict(json.loads(text)))
    assert report.verdict == "derived" and report.p_value < 0.01, report.reason
    report = assess_lineage(None, minilm_folder, fingerprint=fp)
    assert report.verdict == "inconclusive"
    assert report.reason.startswith("inconclusive: different architectures and anchor tokens missing")
