"""The derivation test's false-positive rate, pinned near alpha on a null set (issue 12).

200 pairs of independent models (random weights, a shared vocabulary, 4 gated MLP layers: the null
hypothesis "B is not derived from A" holds by construction) are assessed with the default alpha. A
tenfold larger alpha, or a p-value that stopped being a p-value, fails here: the calibration benchmark
(``benchmarks/lineage_calibration.py``) measures the same on trained models but is not part of the suite.
Fixed seeds: the counts are deterministic, the bounds leave room for a legitimate change of the method.
"""

from __future__ import annotations

import numpy as np
import pytest

from weightwarden.lineage.derivation import DEFAULT_ALPHA, WeightSource, assess_lineage

VOCAB = 300
HIDDEN = 32
FFN = 64
LAYERS = 4
PAIRS = 200


def _model(seed: int) -> WeightSource:
    rng = np.random.default_rng(seed)
    arrays = {"model.embed_tokens.weight": rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32)}
    for layer in range(LAYERS):
        for proj, shape in (("up_proj", (FFN, HIDDEN)), ("gate_proj", (FFN, HIDDEN)), ("down_proj", (HIDDEN, FFN))):
            arrays[f"model.layers.{layer}.mlp.{proj}.weight"] = rng.standard_normal(shape).astype(np.float32)
    return WeightSource.from_arrays(arrays, vocab=tuple(f"tok{i}" for i in range(VOCAB)), architecture="llama")


@pytest.fixture(scope="module")
def null_reports() -> list:
    return [assess_lineage(_model(2 * i), _model(2 * i + 1)) for i in range(PAIRS)]


def test_default_alpha_is_the_documented_one(null_reports) -> None:
    assert DEFAULT_ALPHA == 0.01
    assert {r.alpha for r in null_reports} == {DEFAULT_ALPHA}


def test_false_positive_rate_at_the_default_alpha_stays_near_alpha(null_reports) -> None:
    p = np.array([r.p_value for r in null_reports])
    derived = sum(r.verdict == "derived" for r in null_reports)
    # the verdict is exactly "p < alpha"
    assert derived == int(np.sum(p < DEFAULT_ALPHA))
    # at most 5 of 200 at alpha = 1% (P(X >= 6) < 2% for Binomial(200, 0.01)); alpha = 10% gives ~13 here
    assert derived <= 5, f"{derived} of {PAIRS} unrelated pairs called derived at alpha={DEFAULT_ALPHA}"


def test_p_values_are_calibrated_not_just_small_or_large(null_reports) -> None:
    """Under the null the p-value must be (conservatively) uniform: P(p < a) <= a, and not collapsed to 1
    (a test that never rejects would pass the bound above trivially)."""
    p = np.array([r.p_value for r in null_reports])
    for a in (0.05, 0.1, 0.2, 0.5):
        rate = float(np.mean(p < a))
        assert rate <= a + 3 * np.sqrt(a * (1 - a) / PAIRS), (a, rate)
        assert rate >= a / 4, (a, rate)  # the Poisson tail of a discrete count is conservative, not dead


def test_a_derived_model_is_still_found(null_reports) -> None:
    base = _model(10_000)
    rng = np.random.default_rng(1)
    names = base.names
    tuned = {n: base.load(n) + 0.05 * rng.standard_normal(base.load(n).shape).astype(np.float32) for n in names}
    report = assess_lineage(base, WeightSource.from_arrays(tuned, vocab=base.vocab, architecture="llama"))
    assert report.verdict == "derived" and report.p_value < 1e-6
