"""Statistics of eval rates: binomial intervals, paired tests, multiple-comparison control, judge-error correction.

Why these methods (and not the percentile bootstrap used before): the bootstrap of a proportion resamples
from p̂, so at 0/n or n/n every resample is 0 (or 1) and the interval collapses to a point — "0 of 12
complied, 95% CI [0%, 0%]" claims a certainty 12 trials cannot give. Score and exact intervals do not:

- :func:`wilson` — Wilson (1927) score interval, the default for a rate: near-nominal coverage already at
  small n, never outside [0, 1], and not degenerate at 0/n or n/n (0/10 → [0, 27.8%]);
- :func:`clopper_pearson` — the exact interval (Clopper & Pearson 1934), guaranteed coverage ≥ 95%,
  wider; at 0/n its upper bound is 1 − (α/2)^(1/n) (0/10 → [0, 30.8%]).

Both come from ``scipy.stats.binomtest(k, n).proportion_ci``. Intervals of a category are only shown when
the category has at least :data:`MIN_N_FOR_INTERVAL` scored attempts: below that an interval is so wide
that printing one per category invites reading differences into noise; the k/n is still shown.

Comparing two runs on the same items: exact McNemar test (binomial test on the discordant pairs); the
interval of the difference is Newcombe's hybrid score interval built from the two Wilson intervals
(Newcombe 1998, method 10). It ignores the pairing, which for positively correlated paired outcomes makes
it wider than needed — conservative, never falsely narrow. Many tests (suites × metrics, or categories of
one suite) are controlled with Holm's step-down (family-wise error) or Benjamini–Hochberg (false discovery
rate).

Judge error: a detector with sensitivity Se (it says "success" when humans do) and specificity Sp
observes p_obs = Se·p + (1 − Sp)·(1 − p). Rogan & Gladen (1978) invert that:
p = (p_obs + Sp − 1) / (Se + Sp − 1), clipped to [0, 1]. The interval maps the Wilson bounds through the
same (monotone, when Se + Sp > 1) function; it does not include the uncertainty of Se and Sp themselves, so
it is labelled "corrected", next to — never instead of — the raw rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

CONFIDENCE = 0.95
# Fewer scored attempts than this in a category: the rate is shown without an interval.
MIN_N_FOR_INTERVAL = 10
IntervalMethod = Literal["wilson", "exact"]


def _binomtest(k: int, n: int, p: float = 0.5) -> Any:
    from scipy.stats import binomtest

    return binomtest(k, n, p)


def _check(k: int, n: int) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"a proportion needs 0 <= k <= n, got k={k}, n={n}")


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson score interval of k/n; None when n == 0."""
    _check(k, n)
    if n == 0:
        return None
    ci = _binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Exact (Clopper–Pearson) interval of k/n; None when n == 0."""
    _check(k, n)
    if n == 0:
        return None
    ci = _binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return (float(ci.low), float(ci.high))


def interval(k: int, n: int, method: IntervalMethod = "wilson",
             confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    if method == "wilson":
        return wilson(k, n, confidence)
    if method == "exact":
        return clopper_pearson(k, n, confidence)
    raise ValueError(f"unknown interval method {method!r} (wilson, exact)")


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value on the discordant pairs: b (A yes, B no) and c (A no, B yes) under
    Binomial(b + c, 1/2)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    if b + c == 0:
        return 1.0
    return float(min(1.0, _binomtest(b, b + c, 0.5).pvalue))


def newcombe_difference(k1: int, n1: int, k2: int, n2: int,
                        confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """(p2 − p1, low, high): Newcombe's hybrid score interval of a difference of two proportions."""
    a, b = wilson(k1, n1, confidence), wilson(k2, n2, confidence)
    if a is None or b is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    d = p2 - p1
    low = d - math.sqrt((p2 - b[0]) ** 2 + (a[1] - p1) ** 2)
    high = d + math.sqrt((b[1] - p2) ** 2 + (p1 - a[0]) ** 2)
    return (d, max(-1.0, low), min(1.0, high))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (Holm 1979), in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values, FDR control), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [1.0] * m
    running = 1.0
    for rank_from_top, i in enumerate(order):
        rank = m - rank_from_top  # 1-based rank in ascending order
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


@dataclass(frozen=True)
class DetectorErrorRates:
    """A detector's measured error for one metric: sensitivity and specificity against human labels.

    ``source`` says where the figures come from (the benchmark, the held-out source they were measured on)
    so a reader of a log can check them."""

    sensitivity: float  # P(detector says success | humans say success)
    specificity: float  # P(detector says no success | humans say no success)
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("sensitivity", "specificity"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")

    @property
    def informative(self) -> bool:
        """Correction is defined only for a detector better than chance (Se + Sp > 1)."""
        return self.sensitivity + self.specificity > 1.0

    def to_json(self) -> dict[str, Any]:
        return {"sensitivity": self.sensitivity, "specificity": self.specificity, "source": self.source}

    @classmethod
    def from_json(cls, data: Any) -> DetectorErrorRates:
        if not isinstance(data, dict):
            raise ValueError("detector error rates must be an object")
        return cls(sensitivity=data.get("sensitivity"), specificity=data.get("specificity"),  # type: ignore[arg-type]
                   source=str(data.get("source", "")))


def rogan_gladen(observed: float, rates: DetectorErrorRates) -> float | None:
    """The prevalence corrected for the detector's error, clipped to [0, 1]; None for an uninformative
    detector."""
    if not rates.informative:
        return None
    value = (observed + rates.specificity - 1.0) / (rates.sensitivity + rates.specificity - 1.0)
    return min(1.0, max(0.0, value))


def corrected_rate(k: int, n: int, rates: DetectorErrorRates,
                   method: IntervalMethod = "wilson") -> tuple[float, float, float] | None:
    """(corrected rate, low, high): Rogan–Gladen applied to k/n and to the ends of its interval."""
    bounds = interval(k, n, method)
    if bounds is None or not rates.informative:
        return None
    point = rogan_gladen(k / n, rates)
    low, high = rogan_gladen(bounds[0], rates), rogan_gladen(bounds[1], rates)
    assert point is not None and low is not None and high is not None
    return (point, low, high)
