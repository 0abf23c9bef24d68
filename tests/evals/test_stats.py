"""Intervals, paired tests, multiple-comparison control and judge-error correction (weightwarden.evals.stats).

Checked against closed forms where they exist (the exact interval at 0/n and n/n, the Wilson formula) and
against SciPy's reference implementations otherwise.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from weightwarden.evals.stats import (
    DetectorErrorRates,
    benjamini_hochberg,
    clopper_pearson,
    corrected_rate,
    holm,
    interval,
    mcnemar_exact,
    newcombe_difference,
    rogan_gladen,
    wilson,
)


def _wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("n", [1, 2, 5, 12, 100])
def test_exact_interval_at_zero_and_all_is_the_closed_form(n: int):
    # Clopper–Pearson at 0/n: [0, 1 - (alpha/2)^(1/n)]; at n/n the mirror image.
    low, high = clopper_pearson(0, n)
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / n))
    low, high = clopper_pearson(n, n)
    assert high == 1.0 and low == pytest.approx(0.025 ** (1 / n))


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 3), (3, 3), (1, 4), (0, 10), (10, 10), (7, 20), (50, 60)])
def test_wilson_matches_the_closed_form_and_is_never_a_point(k: int, n: int):
    low, high = wilson(k, n)
    ref_low, ref_high = _wilson_closed_form(k, n)
    assert low == pytest.approx(max(0.0, ref_low), abs=1e-9) and high == pytest.approx(min(1.0, ref_high), abs=1e-9)
    assert 0.0 <= low <= k / n <= high <= 1.0
    assert high - low > 0.05  # at these n an interval can never be a point
    # The exact interval contains the Wilson interval's end points' neighbourhood: it is the wider one.
    exact = clopper_pearson(k, n)
    assert exact[0] <= low + 1e-12 and exact[1] >= high - 1e-12


def test_small_n_interval_is_wide_and_narrows_with_n():
    widths = [wilson(n // 2, n)[1] - wilson(n // 2, n)[0] for n in (2, 8, 32, 128)]
    assert widths == sorted(widths, reverse=True) and widths[0] > 0.6


def test_no_interval_without_data_and_bad_counts_are_refused():
    assert wilson(0, 0) is None and clopper_pearson(0, 0) is None
    with pytest.raises(ValueError):
        wilson(3, 2)
    with pytest.raises(ValueError):
        interval(1, 2, "bootstrap")  # type: ignore[arg-type]


def test_mcnemar_exact_matches_scipy():
    for b, c in ((0, 10), (3, 12), (7, 7), (1, 0), (20, 35)):
        assert mcnemar_exact(b, c) == pytest.approx(scipy_stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    assert mcnemar_exact(0, 0) == 1.0


def test_newcombe_difference_brackets_the_difference_and_is_not_degenerate():
    d, low, high = newcombe_difference(0, 20, 0, 20)
    assert d == 0.0 and low < 0 < high  # nothing happened in either run: still uncertain, not [0, 0]
    d, low, high = newcombe_difference(2, 40, 32, 40)
    assert d == pytest.approx(0.75) and 0.5 < low < d < high < 1.0
    assert newcombe_difference(0, 0, 1, 2) is None


def test_holm_and_benjamini_hochberg():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []
    ps = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    assert benjamini_hochberg(ps) == pytest.approx(list(scipy_stats.false_discovery_control(ps)))


def test_rogan_gladen_inverts_the_detector_error():
    rates = DetectorErrorRates(sensitivity=0.9, specificity=0.8)
    for true in (0.0, 0.1, 0.5, 1.0):
        observed = 0.9 * true + 0.2 * (1 - true)
        assert rogan_gladen(observed, rates) == pytest.approx(true)
    assert rogan_gladen(0.05, rates) == 0.0  # clipped: below the false-positive floor
    assert rogan_gladen(0.5, DetectorErrorRates(0.5, 0.5)) is None  # a coin flip corrects nothing
    point, low, high = corrected_rate(0, 30, DetectorErrorRates(0.95, 0.97))
    assert point == 0.0 and low == 0.0 and high > 0.0
    with pytest.raises(ValueError):
        DetectorErrorRates(1.2, 0.9)
