"""Checks that the fields meant to be random bytes (keyed digests, sealed sketches) do not carry readable text.

Red team round 7 (class 1): round 6 tested a sealed sketch with one printable-ASCII ratio and the digests not at
all, so hex of ASCII in ``exact``/model ``digest``, UTF-16LE text, ASCII with the high bit set and ASCII padded
with 0xFF filler left through "digests only" exports, read back with ``xxd -r -p``, ``strings -el`` or ``& 0x7f``.

What these checks guarantee, and what they do not (docs/decisions.md, "Red team round 7 on indicators"): our own
tools only write HMAC output and pad-sealed sketches, which pass with the probabilities stated below, and a
hand-made set carrying plain or trivially encoded text (ASCII, high-bit ASCII, UTF-16, text plus filler, EBCDIC
and other narrow alphabets) is refused. Whoever writes a set can always hide bits on purpose (encrypted, or
encoded to look random): no test on 32 or 512 bytes can tell those from HMAC output, and none is claimed to.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

# Printable text as `strings` and a terminal see it: 0x20-0x7E plus tab, LF and CR (98 of 256 byte values).
_PRINTABLE = np.zeros(256, dtype=bool)
_PRINTABLE[0x20:0x7F] = True
_PRINTABLE[[0x09, 0x0A, 0x0D]] = True
_P_PRINTABLE = 98 / 256  # a uniform byte is printable
_P_MASKED = 98 / 128  # a uniform byte is printable after `& 0x7f`
# Each sketch test is set so that a uniform (sealed) sketch fails it with probability at most 1e-10; there are 7
# tests, so an honest sketch is refused with probability below 7e-10 (< 1e-9), by the union bound.
SKETCH_TAIL = 1e-10


def digest_text_reason(raw: bytes) -> str | None:
    """Why the 32 bytes of a keyed digest look like text, or None. An HMAC-SHA-256 output is uniform, so it is
    refused with probability (98/256)^32 ≈ 4.6e-14 (all printable) + the same for all high-bit printable
    + 2·(98/65536)^16 ≈ 1e-45 (UTF-16 ASCII): ≈ 9.2e-14 per digest, < 1e-8 for the largest loadable set (100,256
    digests); round 8 adds a UTF-16 run of 6+ characters (:func:`digest_run_reason`, <= 1e-9 over such a set). A digest with the high bit chosen per byte and text below it is not refused here: 1.9e-4 of
    HMAC outputs are printable after `& 0x7f`, too many to refuse one by one (a set's count of them is judged as a whole: :func:`masked_text_limit`)."""
    b = np.frombuffer(raw, dtype=np.uint8)
    if _PRINTABLE[b].all():
        return "all its bytes are printable text"
    if (b >= 0x80).all() and _PRINTABLE[b & 0x7F].all():
        return "all its bytes are printable text with the high bit set"
    if len(b) % 2 == 0:
        lo, hi = b[0::2], b[1::2]
        if ((hi == 0) & _PRINTABLE[lo]).all() or ((lo == 0) & _PRINTABLE[hi]).all():
            return "its bytes are UTF-16 text"
    return digest_run_reason(raw)


def masked_printable(raw: bytes) -> bool:
    """Whether every byte is printable after `& 0x7f` (probability (98/128)^32 ≈ 1.9e-4 for a uniform digest)."""
    return bool(_PRINTABLE[np.frombuffer(raw, dtype=np.uint8) & 0x7F].all())


# A uniform 32-byte digest is printable after `& 0x7f` with this probability.
P_MASKED_DIGEST = (98 / 128) ** 32  # ≈ 1.9e-4
SET_TAIL = 1e-10


def masked_text_limit(digests: int) -> int:
    """The number of a set's digests printable after `& 0x7f` at which the set is refused: P(Binomial(digests,
    P_MASKED_DIGEST) >= limit) <= 1e-10 (4 of 15, 8 of 1,000, 55 of 100,256). Text with the high bit
    chosen per byte then fits in only a few digests of a set; it is not a per-digest test (1.9e-4 of HMAC outputs
    pass `& 0x7f` as text)."""
    return binomial_limit(digests, P_MASKED_DIGEST, SET_TAIL)


def _log_binom_pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1, dtype=np.float64)
    lg = np.array([math.lgamma(i + 1) for i in range(n + 1)])
    return lg[n] - lg - lg[::-1] + k * math.log(p) + (n - k) * math.log1p(-p)


@lru_cache(maxsize=64)
def binomial_limit(n: int, p: float, tail: float) -> int:
    """The smallest count c with P(Binomial(n, p) >= c) <= tail (computed exactly, in log space)."""
    lp = _log_binom_pmf(n, p)
    upper = np.logaddexp.accumulate(lp[::-1])[::-1]  # upper[c] = log P(X >= c)
    ok = np.nonzero(upper <= math.log(tail))[0]
    return int(ok[0]) if len(ok) else n + 1


@lru_cache(maxsize=64)
def collision_limit(n: int, tail: float = SKETCH_TAIL) -> int:
    """A count t with P(sum of squared byte counts >= t) <= tail for n uniform bytes.

    sum O_i² is the chi-square statistic against uniform up to an affine map (X² = 256/n · sum O_i² − n). The
    bound is Chernoff's with negative association: multinomial counts are negatively associated (Joag-Dev and
    Proschan, 1983), so for θ > 0, E[exp(θ sum O_i²)] <= prod E[exp(θ O_i²)] with O_i ~ Binomial(n, 1/256), and
    P(S >= t) <= exp(-θt) E[exp(θ O²)]^256. It is rigorous (no normal approximation, which the sparse counts of 512
    bytes would not justify). For 512 bytes, t ≈ 3758 (X² ≈ 1367; a uniform sketch has X² ≈ 255 ± 23; UTF-16
    ASCII text > 30,000, high-bit English text ≈ 10,000)."""
    lp = _log_binom_pmf(n, 1 / 256)
    k2 = np.arange(n + 1, dtype=np.float64) ** 2
    best = math.inf
    for theta in np.geomspace(1e-5, 1.0, 400):
        x = lp + theta * k2
        m = float(x.max())
        log_mgf = m + math.log(float(np.exp(x - m).sum()))
        best = min(best, (256 * log_mgf - math.log(tail)) / theta)
    return math.ceil(best)


def sketch_text_reason(raw: bytes) -> str | None:
    """Why a sealed sketch's bytes do not look uniform, or None (7 tests, each failing a uniform sketch with
    probability <= 1e-10, then the 8 tests of :func:`sketch_run_reason` at <= 2e-11 each: an
    honest sketch is refused with probability < 7e-10 + 1.6e-10 < 1e-9)."""
    b = np.frombuffer(raw, dtype=np.uint8)
    n = len(b)
    views = (("", b), (" at even positions", b[0::2]), (" at odd positions", b[1::2]))
    for where, part in views:
        m = len(part)
        if m == 0:
            continue
        printable = int(_PRINTABLE[part].sum())
        if printable >= binomial_limit(m, _P_PRINTABLE, SKETCH_TAIL):
            return f"{printable} of its {m} bytes{where} are printable text"
        masked = int(_PRINTABLE[part & 0x7F].sum())
        if masked >= binomial_limit(m, _P_MASKED, SKETCH_TAIL):
            return f"{masked} of its {m} bytes{where} are printable text after masking the high bit"
    counts = np.bincount(b, minlength=256).astype(np.int64)
    if int((counts * counts).sum()) >= collision_limit(n):
        chi = 256 / n * float((counts * counts).sum()) - n
        return f"its byte histogram is far from uniform (chi-square {chi:.0f} on 255 degrees of freedom)"
    return sketch_run_reason(raw)


# ---------------------------------------------------------------------------------------------------------------
# Red team round 8 (class 1): the round-7 tests were "all bytes are text" (digests) and global shares/histograms
# (sketches), so 31 ASCII chars + one NUL in a digest, and 208 contiguous ASCII chars + flattened non-printable
# filler in a sketch, passed. What `strings` and a reader see is a printable RUN, so the tests below bound runs.

MAX_SET_DIGESTS = 100_256  # MAX_INDICATORS (records.py): the most digests one loadable set holds
DIGEST_TAIL = 1e-9  # false refusal budget for the per-digest run test, over a whole set of MAX_SET_DIGESTS
_P_UTF16 = 98 / 65536  # a uniform byte pair is (printable, 0)
_P_HIGH = 98 / 256  # a uniform byte is >= 0x80 with a printable low 7 bits
RUN_TAIL = 2e-11  # each of the 8 round-8 sketch tests (8 × 2e-11 = 1.6e-10; with the 7 above, < 8.6e-10)


@lru_cache(maxsize=64)
def binomial_lower_limit(n: int, p: float, tail: float) -> int:
    """The largest count c with P(Binomial(n, p) <= c) <= tail (-1 if none), computed exactly in log space."""
    lower = np.logaddexp.accumulate(_log_binom_pmf(n, p))  # lower[c] = log P(X <= c)
    ok = np.nonzero(lower <= math.log(tail))[0]
    return int(ok[-1]) if len(ok) else -1


@lru_cache(maxsize=256)
def run_tail(n: int, p: float, k: int) -> float:
    """P(the longest run of successes in n independent Bernoulli(p) trials is >= k), exactly (dynamic programme
    over the length of the current run; the absorbed mass is summed directly, so tiny tails keep their digits)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    state = np.zeros(k, dtype=np.float64)  # state[j] = P(no run >= k yet, current run has length j)
    state[0] = 1.0
    absorbed = 0.0
    for _ in range(n):
        absorbed += float(state[k - 1]) * p
        new = np.zeros(k, dtype=np.float64)
        new[0] = float(state.sum()) * (1 - p)
        new[1:] = state[:-1] * p
        state = new
    return absorbed


@lru_cache(maxsize=256)
def run_limit(n: int, p: float, tail: float) -> int:
    """The smallest run length k with P(longest run >= k) <= tail for n Bernoulli(p) trials (n + 1 if none)."""
    for k in range(1, n + 1):
        if run_tail(n, p, k) <= tail:
            return k
    return n + 1


def _longest_run(mask: np.ndarray) -> int:
    best = cur = 0
    for v in mask.tolist():
        cur = cur + 1 if v else 0
        best = max(best, cur)
    return best


def _run_views(b: np.ndarray) -> list[tuple[str, np.ndarray, float]]:
    """The views a reader uses, each as (name, per-unit text mask, probability a uniform unit is text): raw bytes
    (`strings`), high-bit text, text after `& 0x7f`, and UTF-16 (`strings -el`/`-eb`) at both pair alignments
    (UTF-16BE at one alignment is UTF-16LE at the other, shifted one byte)."""
    views: list[tuple[str, np.ndarray, float]] = [
        ("printable", _PRINTABLE[b], _P_PRINTABLE),
        ("printable with the high bit set", (b >= 0x80) & _PRINTABLE[b & 0x7F], _P_HIGH),
        ("printable after masking the high bit", _PRINTABLE[b & 0x7F], _P_MASKED),
    ]
    for a in (0, 1):
        lo, hi = b[a::2], b[a + 1::2]
        m = min(len(lo), len(hi))
        views.append((f"UTF-16 text (pairs from byte {a})", (hi[:m] == 0) & _PRINTABLE[lo[:m]], _P_UTF16))
    return views


# Per-digest limits (32 bytes). Union bound over a maximal set and the 2 UTF-16 views: a digest is refused with
# probability <= DIGEST_TAIL / (2 · 100,256) ≈ 5e-15, so a set of 100,256 HMAC digests is refused with
# probability <= 1e-9. For raw, high-bit and masked text no limit <= 32 meets that bound (P(32 of 32 printable)
# = (98/256)^32 ≈ 4.6e-14 > 5e-15), so those are judged per set (digest_set_reason) and by the all-32 tests.
_DIGEST_PER_VIEW_TAIL = DIGEST_TAIL / (2 * MAX_SET_DIGESTS)
UTF16_DIGEST_RUN = run_limit(16, _P_UTF16, _DIGEST_PER_VIEW_TAIL)  # 6 chars (5: ≈ 1.2e-13 > 5e-15)
# A digest is "unusual" when its longest raw or high-bit run reaches UNUSUAL_RUN or its masked run reaches
# UNUSUAL_MASKED_RUN; P_UNUSUAL_DIGEST is the union of the exact tails (≈ 7.5e-4: 4 of 6, 5 of 15, 12 of 1,000, 138 of 100,256 digests are refused), and a set holding at least
# binomial_limit(n, P_UNUSUAL_DIGEST, SET_TAIL) unusual digests is refused (false refusal <= 1e-10 per set).
UNUSUAL_RUN = 12
UNUSUAL_MASKED_RUN = 30
P_UNUSUAL_DIGEST = 2 * run_tail(32, _P_PRINTABLE, UNUSUAL_RUN) + run_tail(32, _P_MASKED, UNUSUAL_MASKED_RUN)


def digest_run_reason(raw: bytes) -> str | None:
    """Why a digest holds a UTF-16 text run no HMAC output would (probability <= 5e-15 per digest), or None."""
    for name, mask, _p in _run_views(np.frombuffer(raw, dtype=np.uint8))[3:]:
        run = _longest_run(mask)
        if run >= UTF16_DIGEST_RUN:
            return f"it holds {run} characters of {name} in a row"
    return None


def digest_unusual(raw: bytes) -> bool:
    """Whether a digest holds a printable run a set may show only a few times (probability P_UNUSUAL_DIGEST)."""
    views = _run_views(np.frombuffer(raw, dtype=np.uint8))
    return (_longest_run(views[0][1]) >= UNUSUAL_RUN or _longest_run(views[1][1]) >= UNUSUAL_RUN
            or _longest_run(views[2][1]) >= UNUSUAL_MASKED_RUN)


def digest_set_reason(digests: list[bytes]) -> str | None:
    """Why a set's digests together carry text, or None: too many hold long printable runs (false refusal <=
    SET_TAIL), or too many are printable after `& 0x7f` (round 7, :func:`masked_text_limit`)."""
    n = len(digests)
    if n == 0:
        return None
    masked = sum(1 for d in digests if masked_printable(d))
    if masked and masked >= masked_text_limit(n):
        return (f"{masked} of {n} digests are printable text after masking the high bit; keyed digests would "
                "almost never be")
    unusual = sum(1 for d in digests if digest_unusual(d))
    if unusual and unusual >= binomial_limit(n, P_UNUSUAL_DIGEST, SET_TAIL):
        return (f"{unusual} of {n} digests hold a printable run of {UNUSUAL_RUN}+ bytes (or {UNUSUAL_MASKED_RUN}+ "
                "after masking the high bit); keyed digests would almost never")
    return None


def sketch_run_reason(raw: bytes) -> str | None:
    """Round-8 sketch tests (8, each failing a uniform sketch with probability <= RUN_TAIL = 2e-11): the
    longest text run in each of the 5 views of :func:`_run_views`, and the number of disjoint adjacent byte pairs
    that are both printable, at offsets 0 and 1 (each a Binomial(pairs, p²): disjoint pairs are independent), and
    too FEW printable bytes (lower tail: filler of only non-printable bytes, which flattens the histogram around a
    short text, leaves a sketch with far fewer printable bytes than the 196 ± 11 of a uniform one). A flat
    histogram made with filler does not move these: the text has to sit in short, scattered pieces."""
    b = np.frombuffer(raw, dtype=np.uint8)
    for name, mask, p in _run_views(b):
        run = _longest_run(mask)
        if run >= run_limit(len(mask), p, RUN_TAIL):
            return f"it holds {run} units of {name} in a row"
    printable = _PRINTABLE[b]
    for a in (0, 1):
        first, second = printable[a::2], printable[a + 1::2]
        m = min(len(first), len(second))
        both = int((first[:m] & second[:m]).sum())
        if m and both >= binomial_limit(m, _P_PRINTABLE ** 2, RUN_TAIL):
            return f"{both} of its {m} byte pairs from byte {a} are both printable (text is in order)"
    few = int(printable.sum())
    if few <= binomial_lower_limit(len(b), _P_PRINTABLE, RUN_TAIL):
        return f"only {few} of its {len(b)} bytes are printable (filler chosen to avoid text)"
    return None
