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
from typing import Any

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
_ROWS_BYTES = 1 << 20  # sketch bytes judged in one vectorised step


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
    probability <= 1e-10, then the 8 tests of :func:`sketch_run_reason` at <= 2e-11 each, then the alphabet-free
    description test of round 9 at <= 2^-47 ≈ 7.1e-15: an honest sketch is refused with probability
    < 7e-10 + 1.6e-10 + 7.1e-15 < 1e-9)."""
    return sketch_text_reasons(np.frombuffer(raw, dtype=np.uint8).reshape(1, -1))[0]


def sketch_text_reasons(matrix: np.ndarray) -> list[str | None]:
    """:func:`sketch_text_reason` for every row of a (sketches × bytes) uint8 array, vectorised (round 9, class 4:
    a set's sketches are judged together, not one Python loop per byte)."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.uint8))
    rows, n = matrix.shape
    step = max(1, _ROWS_BYTES // max(n, 1))
    if rows > step:  # bounded temporaries: about _ROWS_BYTES bytes of sketches at a time
        return [r for start in range(0, rows, step) for r in sketch_text_reasons(matrix[start:start + step])]
    reasons: list[str | None] = [None] * rows
    if rows == 0 or n == 0:
        return reasons

    def note(failed: np.ndarray, text: Any) -> None:
        for i in np.flatnonzero(failed):
            if reasons[i] is None:
                reasons[i] = text(i)

    printable = _PRINTABLE[matrix]
    masked = _PRINTABLE[matrix & 0x7F]
    for where, sl in (("", slice(None)), (" at even positions", slice(0, None, 2)),
                      (" at odd positions", slice(1, None, 2))):
        m = len(range(n)[sl])
        if m == 0:
            continue
        count = printable[:, sl].sum(axis=1)
        limit = binomial_limit(m, _P_PRINTABLE, SKETCH_TAIL)
        note(count >= limit, lambda i, c=count, m=m, w=where: f"{c[i]} of its {m} bytes{w} are printable text")
        mcount = masked[:, sl].sum(axis=1)
        limit = binomial_limit(m, _P_MASKED, SKETCH_TAIL)
        note(mcount >= limit, lambda i, c=mcount, m=m, w=where:
             f"{c[i]} of its {m} bytes{w} are printable text after masking the high bit")
    flat = (np.arange(rows)[:, None] * 256 + matrix).ravel()
    counts = np.bincount(flat, minlength=rows * 256).reshape(rows, 256).astype(np.int64)
    squares = (counts * counts).sum(axis=1)
    note(squares >= collision_limit(n), lambda i: "its byte histogram is far from uniform (chi-square "
         f"{256 / n * float(squares[i]) - n:.0f} on 255 degrees of freedom)")
    for i, reason in enumerate(sketch_run_reasons(matrix, printable)):
        if reasons[i] is None:
            reasons[i] = reason
    saving = description_savings(matrix, SKETCH_MODELS)
    note(saving >= SKETCH_DESCRIPTION_BITS, lambda i: (
        f"it has a description {saving[i]:.0f} bits shorter than its {8 * n} bits under a fixed model of "
        f"text-like windows (a uniform sketch: probability <= 2^-{saving[i]:.0f}; the limit is "
        f"{SKETCH_DESCRIPTION_BITS})"))
    return reasons


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


def _longest_runs(mask: np.ndarray) -> np.ndarray:
    """The longest run of True in each row of a 2-D boolean array (vectorised; red team round 9, class 4: the
    per-byte Python loop cost 585 µs per 512-byte sketch, 28 s of CPU for a maximal set)."""
    mask = np.atleast_2d(mask)
    rows, n = mask.shape
    padded = np.zeros((rows, n + 1), dtype=bool)  # a False column ends every row, so no run crosses rows
    padded[:, :n] = mask
    stops = np.flatnonzero(~padded.ravel())
    lengths = np.diff(stops, prepend=-1) - 1  # the run that ends at each False
    first = np.searchsorted(stops // (n + 1), np.arange(rows))  # every row has at least one False (the pad)
    return np.maximum.reduceat(lengths, first)


def _longest_run(mask: np.ndarray) -> int:
    return int(_longest_runs(mask)[0])


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
    SET_TAIL), or too many are printable after `& 0x7f` (round 7, :func:`masked_text_limit`), or (round 9) the
    digests in order have a short description (:func:`digest_description_reason`, <= 2^-40)."""
    n = len(digests)
    if n == 0:
        return None
    matrix = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(n, -1)
    masked_mask = _PRINTABLE[matrix & 0x7F]
    masked = int(masked_mask.all(axis=1).sum())
    if masked and masked >= masked_text_limit(n):
        return (f"{masked} of {n} digests are printable text after masking the high bit; keyed digests would "
                "almost never be")
    high = (matrix >= 0x80) & masked_mask
    unusual_rows = ((_longest_runs(_PRINTABLE[matrix]) >= UNUSUAL_RUN) | (_longest_runs(high) >= UNUSUAL_RUN)
                    | (_longest_runs(masked_mask) >= UNUSUAL_MASKED_RUN))
    unusual = int(unusual_rows.sum())
    if unusual and unusual >= binomial_limit(n, P_UNUSUAL_DIGEST, SET_TAIL):
        return (f"{unusual} of {n} digests hold a printable run of {UNUSUAL_RUN}+ bytes (or {UNUSUAL_MASKED_RUN}+ "
                "after masking the high bit); keyed digests would almost never")
    return digest_description_reason(digests)


def digest_text_reasons(digests: list[bytes]) -> list[str | None]:
    """:func:`digest_text_reason` for each digest of a list (all of one length), vectorised (round 9, class 4)."""
    if not digests:
        return []
    b = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), -1)
    reasons: list[str | None] = [None] * len(digests)

    def note(failed: np.ndarray, text: Any) -> None:
        for i in np.flatnonzero(failed):
            if reasons[i] is None:
                reasons[i] = text(i)

    note(_PRINTABLE[b].all(axis=1), lambda i: "all its bytes are printable text")
    note(((b >= 0x80) & _PRINTABLE[b & 0x7F]).all(axis=1),
         lambda i: "all its bytes are printable text with the high bit set")
    if b.shape[1] % 2 == 0:
        lo, hi = b[:, 0::2], b[:, 1::2]
        note(((hi == 0) & _PRINTABLE[lo]).all(axis=1) | ((lo == 0) & _PRINTABLE[hi]).all(axis=1),
             lambda i: "its bytes are UTF-16 text")
    for a in (0, 1):
        m = (b.shape[1] - a) // 2
        runs = _longest_runs((b[:, a + 1:a + 2 * m:2] == 0) & _PRINTABLE[b[:, a:a + 2 * m:2]])
        note(runs >= UTF16_DIGEST_RUN,
             lambda i, r=runs, a=a: f"it holds {r[i]} characters of UTF-16 text (pairs from byte {a}) in a row")
    return reasons


def sketch_run_reason(raw: bytes) -> str | None:
    """Round-8 sketch tests (8, each failing a uniform sketch with probability <= RUN_TAIL = 2e-11): the
    longest text run in each of the 5 views of :func:`_run_views`, and the number of disjoint adjacent byte pairs
    that are both printable, at offsets 0 and 1 (each a Binomial(pairs, p²): disjoint pairs are independent), and
    too FEW printable bytes (lower tail: filler of only non-printable bytes, which flattens the histogram around a
    short text, leaves a sketch with far fewer printable bytes than the 196 ± 11 of a uniform one). A flat
    histogram made with filler does not move these: the text has to sit in short, scattered pieces."""
    matrix = np.frombuffer(raw, dtype=np.uint8).reshape(1, -1)
    return sketch_run_reasons(matrix, _PRINTABLE[matrix])[0]


def sketch_run_reasons(matrix: np.ndarray, printable: np.ndarray) -> list[str | None]:
    """:func:`sketch_run_reason` for every row of a (sketches × bytes) array (``printable``: its printable mask)."""
    rows, n = matrix.shape
    reasons: list[str | None] = [None] * rows
    views: list[tuple[str, np.ndarray, float]] = [
        ("printable", printable, _P_PRINTABLE),
        ("printable with the high bit set", (matrix >= 0x80) & _PRINTABLE[matrix & 0x7F], _P_HIGH),
        ("printable after masking the high bit", _PRINTABLE[matrix & 0x7F], _P_MASKED),
    ]
    for a in (0, 1):
        m = (n - a) // 2
        lo, hi = matrix[:, a:a + 2 * m:2], matrix[:, a + 1:a + 2 * m:2]
        views.append((f"UTF-16 text (pairs from byte {a})", (hi == 0) & _PRINTABLE[lo], _P_UTF16))
    for name, mask, p in views:
        if mask.shape[1] == 0:
            continue
        runs = _longest_runs(mask)
        limit = run_limit(mask.shape[1], p, RUN_TAIL)
        for i in np.flatnonzero(runs >= limit):
            if reasons[i] is None:
                reasons[i] = f"it holds {runs[i]} units of {name} in a row"
    for a in (0, 1):
        m = (n - a) // 2
        if m == 0:
            continue
        both = (printable[:, a:a + 2 * m:2] & printable[:, a + 1:a + 2 * m:2]).sum(axis=1)
        for i in np.flatnonzero(both >= binomial_limit(m, _P_PRINTABLE ** 2, RUN_TAIL)):
            if reasons[i] is None:
                reasons[i] = f"{both[i]} of its {m} byte pairs from byte {a} are both printable (text is in order)"
    few = printable.sum(axis=1)
    for i in np.flatnonzero(few <= binomial_lower_limit(n, _P_PRINTABLE, RUN_TAIL)):
        if reasons[i] is None:
            reasons[i] = f"only {few[i]} of its {n} bytes are printable (filler chosen to avoid text)"
    return reasons


# ---------------------------------------------------------------------------------------------------------------
# Red team round 9 (class 2): every test above judges a view a reader might use (ASCII, high-bit, masked, UTF-16),
# so EBCDIC (cp500) text went through, 200 chars per sketch with filler and 30 in EVERY digest; adding code pages
# one by one lets the next one through (cp1047, cp437, KOI8-R, GSM 7-bit packing, ...). The test below names no
# alphabet. It rests on a counting bound: for any probability model Q over n-byte strings fixed before the data
# is seen, at most 2^(8n-d) strings have Q(x) >= 2^-(8n-d) (the Q-masses sum to 1), so a uniform string has a
# description of 8n - d bits or less (-log2 Q(x) <= 8n - d) with probability <= 2^-d, WHATEVER Q is.
#
# Q here is a uniform mixture over M simple models; -log2 Q(x) <= min_m(-log2 Q_m(x)) + log2 M, so a string is
# refused when max_m saving_m - log2 M >= d, and the 2^-d bound holds for the mixture. Each model Q_m: the string
# is read as a sequence of w-bit symbols (a "view"; w = 8 bytes, 8 at stride 2, 4 hex digits, 7 GSM-packed
# septets at each bit phase), a window of that sequence (dyadic lengths from `block` symbols, starting at every
# half length) is coded by an adaptive order-0 Krichevsky-Trofimov-type estimator (Dirichlet(1/16) over the 2^w
# symbols: it learns ANY small alphabet quickly, whatever its code points), and every other bit is coded at 1 bit.
# saving_m = w·|window| - KT(window). Text in any single-byte code page concentrates on a few dozen byte values
# and saves ~3-4 bits a character; an HMAC output or a pad-sealed sketch saves nothing (KT codes a fresh symbol
# at more than w bits).
#
# Bounds (the sets of models are fixed by the length n only):
#   sketch: refused at d = 47 bits: P <= 2^-47 ≈ 7.1e-15 per sketch, so <= 100,256 × 2^-47 ≈ 7.1e-10 per maximal
#           set (the round 7-8 tests stay at < 8.6e-10 per sketch, as stated there);
#   digests of a set, concatenated in the set's canonical order: refused at d = 40 bits: P <= 2^-40 ≈ 9.1e-13
#           per set. The two new tests together: <= 7.1e-10 + 9.1e-13 < 1e-9 per set.
#           (Round 10: this premise was false. The canonical order SORTS the digests, so their first bytes are not
#           uniform in that order and honest sets of ~20,000+ digests were refused; the stream is now bytes 10-31 of
#           each digest, whose order is independent of their values: see DIGEST_ORDERED_FROM below.)
SKETCH_DESCRIPTION_BITS = 47
DIGEST_SET_DESCRIPTION_BITS = 40
_KT_ALPHA = 1 / 16
_LOG2E = 1 / math.log(2)


@lru_cache(maxsize=8)
def _kt_tables(alphabet: int, longest: int) -> tuple[np.ndarray, np.ndarray]:
    """T[c] = log2 Γ(c+α)/Γ(α) and G[m] = log2 Γ(m+Aα)/Γ(Aα): a window of m symbols with counts c_s costs
    G[m] - Σ_s T[c_s] bits under the adaptive Dirichlet(α) estimator (exactly, whatever the order)."""
    # Round 10: math.lgamma a slice at a time (np.vectorize over a 4-8 million entry table built object arrays
    # and took ~0.9 GB of a 99,000-digest set's 1.1 GB peak load memory).
    t = np.empty(longest + 1, dtype=np.float32)
    g = np.empty(longest + 1, dtype=np.float64)
    t0, g0 = math.lgamma(_KT_ALPHA), math.lgamma(alphabet * _KT_ALPHA)
    for start in range(0, longest + 1, 1 << 16):
        c = range(start, min(start + (1 << 16), longest + 1))
        lt = np.fromiter((math.lgamma(x + _KT_ALPHA) for x in c), np.float64, len(c))
        t[start:start + len(c)] = (lt - t0) * _LOG2E
        g[start:start + len(c)] = (np.fromiter((math.lgamma(x + alphabet * _KT_ALPHA) for x in c), np.float64,
                                               len(c)) - g0) * _LOG2E
    return t, g


def _view_symbols(matrix: np.ndarray, view: tuple[str, int, int]) -> list[np.ndarray]:
    """The symbol sequences of one view of each row: (kind, width, block) -> a list of (rows × m) arrays
    ("septets/digest": rows of whole records of DIGEST_STREAM_BYTES bytes)."""
    kind, _width, _block = view
    if kind == "bytes":
        return [matrix]
    if kind == "bytes/2":
        return [matrix[:, 0::2], matrix[:, 1::2]]
    if kind == "hex":
        nibbles = np.empty((matrix.shape[0], 2 * matrix.shape[1]), dtype=np.uint8)
        nibbles[:, 0::2], nibbles[:, 1::2] = matrix >> 4, matrix & 0x0F
        return [nibbles]
    if kind == "septets":  # GSM 03.38 packing: 7-bit units, least significant bit first, at each bit phase
        wide = np.zeros((matrix.shape[0], matrix.shape[1] + 1), dtype=np.uint16)
        wide[:, :-1] = matrix
        words = wide[:, :-1] | (wide[:, 1:] << 8)  # the 16 bits from each byte on, least significant first
        out = []
        for phase in range(7):
            offsets = phase + 7 * np.arange((8 * matrix.shape[1] - phase) // 7)
            out.append(((words[:, offsets >> 3] >> (offsets & 7).astype(np.uint16)) & 0x7F).astype(np.uint8))
        return out
    if kind == "septets/digest":  # the same, each digest's judged bytes packed on their own (text restarted per
        records = matrix.reshape(-1, DIGEST_STREAM_BYTES)  # digest); round 10: bytes 10-31 of each digest
        return [units.reshape(matrix.shape[0], -1) for units in _view_symbols(records, ("septets", 7, 0))]
    raise ValueError(kind)


# (kind, bits per symbol, smallest window in symbols)
SKETCH_MODELS: tuple[tuple[str, int, int], ...] = (("bytes", 8, 64), ("bytes/2", 8, 128), ("hex", 4, 128),
                                                 ("septets", 7, 192))
DIGEST_ORDERED_FROM = 10  # the first digest column whose canonical order is independent of its bytes (round 10)
DIGEST_STREAM_BYTES = 32 - DIGEST_ORDERED_FROM
DIGEST_SET_MODELS: tuple[tuple[str, int, int], ...] = (("bytes", 8, 64), ("hex", 4, 128), ("septets", 7, 128),
                                                     ("septets/digest", 7, 128))
_CHUNK = 1 << 22  # counts gathered at once (bounds the memory of one step to ~32 MiB of float64)


def _window_savings(symbols: np.ndarray, width: int, block: int) -> tuple[np.ndarray, int]:
    """The best saving over the window grid of one symbol sequence per row, and how many windows there are."""
    rows, m = symbols.shape
    nb = m // block
    best = np.full(rows, -np.inf)
    if nb == 0:
        return best, 0
    alphabet = 1 << width
    t, g = _kt_tables(alphabet, block << (nb.bit_length() - 1))  # the longest window (windows double up to nb)
    flat = ((np.arange(rows)[:, None] * nb + np.arange(nb * block)[None, :] // block) * alphabet
            + symbols[:, :nb * block].astype(np.int64)).ravel()
    level = np.bincount(flat, minlength=rows * nb * alphabet).reshape(rows, nb, alphabet)
    level = level.astype(np.int16 if m < 32768 else np.int32)  # smaller counts: less memory traffic
    windows = 0

    def judge(counts: np.ndarray, length: int) -> None:
        nonlocal best, windows
        per = max(1, _CHUNK // (counts.shape[1] * alphabet))
        for start in range(0, rows, per):
            part = counts[start:start + per]
            # float32 sums of at most 2^w terms of magnitude < 2^20: error < 0.01 bit, far inside the margin
            saving = width * length - (g[length] - np.take(t, part).sum(axis=2, dtype=np.float32))
            best[start:start + per] = np.maximum(best[start:start + per], saving.max(axis=1))
        windows += counts.shape[1]

    length = block
    judge(level, length)
    while level.shape[1] >= 2:
        pairs = level[:, :-1] + level[:, 1:]  # windows of twice the length, starting every `length` symbols
        length *= 2
        judge(pairs, length)
        level = pairs[:, 0::2]
    return best, windows


def description_savings(matrix: np.ndarray, models: tuple[tuple[str, int, int], ...]) -> np.ndarray:
    """For each row: max over the models of the bits saved, minus log2 of the number of models (so that a value
    >= d means the mixture describes the row in <= 8n - d bits: probability <= 2^-d for uniform bytes)."""
    best, total = _stream_savings(matrix, models)
    return best - math.log2(max(total, 1))


def _stream_savings(matrix: np.ndarray, models: tuple[tuple[str, int, int], ...]) -> tuple[np.ndarray, int]:
    """For each row, the best saving over the models' windows, and how many windows there are (per row)."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.uint8))
    best = np.full(matrix.shape[0], -np.inf)
    total = 0
    for view in models:
        for symbols in _view_symbols(matrix, view):
            saving, windows = _window_savings(symbols, view[1], view[2])
            best = np.maximum(best, saving)
            total += windows
    return best, total


def digest_description_reason(digests: list[bytes]) -> str | None:
    """Why a set's digests, concatenated in the set's canonical order, have a short description (false refusal
    <= 2^-40 per set, see above), or None. EBCDIC text in every digest (round 9) saves hundreds of bits."""
    if not digests:
        return None
    table = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), 32)
    # Round 10: the stream is bytes DIGEST_ORDERED_FROM-31 of each digest. Bytes 0-9 decide the canonical order,
    # so they are not uniform in that order (byte 0 rises through the set): with them, the round-9 stream test
    # refused honest sets of ~20,000 digests or more (45-60 bits at 20,000, ~800 at 100,256). They are judged
    # by the order-free column views.
    stream, windows = _stream_savings(np.ascontiguousarray(table[:, DIGEST_ORDERED_FROM:]).reshape(1, -1),
                                      DIGEST_SET_MODELS)
    views = [("in order", float(stream[0]), windows)]
    views += digest_column_views(table)
    name, saving = _best_view(views)
    if saving >= DIGEST_SET_DESCRIPTION_BITS:
        return (f"its {len(digests)} digests ({name}) have a description {saving:.0f} bits shorter than their "
                f"{8 * table.size} bits under a fixed model of text-like windows (keyed digests: probability "
                f"<= 2^-{DIGEST_SET_DESCRIPTION_BITS})")
    return None


# ---------------------------------------------------------------------------------------------------------------
# Red team round 10 (class 1): every model above reads one STREAM (a sketch, or a set's digests concatenated)
# with an order-0 estimator over a window, which is blind to the order of the bytes in that window. A writer who
# controls the other bytes of the window evens the byte counts out, so 3-6 characters at the SAME offset of every
# digest (30,000 characters in a 10,000-digest set) passed. The text sits in COLUMNS of the set's table (N rows of
# 32 bytes in the canonical order; for sketches, N rows of 4·num_perm bytes), so the set is also read column by
# column, where filler in other columns cannot reach:
#
#   * whole column, every column: an order-0 estimator of the column's bytes (8-bit) and of their low 7 bits (the
#     high bit coded at 1 bit; random letter case or a flipped high bit then still saves), and for digests of
#     each adjacent column pair's low-7-bit pair (14-bit symbols: text is a sequence, a pair of columns holds its
#     bigrams). These costs depend on the column's counts only, so they are the same for the rows in any order:
#     for honest digests or sealed sketches the counts are those of N independent uniform bytes, whatever order
#     the canonical sort gives them, and the counting bound holds as for a uniform string.
#   * row windows of one column (dyadic, from `block` rows, each starting at every half length; the columns read
#     one after the other): text in part of the rows whose column is flattened by filler in the other rows. The
#     windows see the canonical ORDER, so they are used only where the order is independent of the bytes judged:
#     sealed sketches (the order depends on the digests only) and digest columns 10-31 (the sort is decided by
#     columns 0-9 unless two digests share a 10-byte prefix: probability <= N²/2 · 2^-80 ≈ 4.2e-15 for 100,256
#     digests, added to the bound below). Columns 0-9 are sorted in the canonical order (column 0 rises: a
#     window would refuse every honest set), so (round 11) column c of 0-9 is read in row windows over the rows
#     RE-SORTED by their other 31 bytes (0..c-1, then c+1..31; column_free_orders): for HMAC digests that order
#     is independent of byte c, and two digests tie on 31 bytes with probability <= N²/2 · 2^-248 (negligible).
#     Where bytes 0..c-1 differ it is the canonical order, so a block of rows there stays a block.
#
# Bounds: the digest column views join the round-9 digest mixture (log2 M grows with the number of views, the
# round-11 re-sorted windows included; the test stays at d = 40): <= 2^-40 + 4.2e-15 + 10 · 2^-215 ≈ 9.1e-13 per
# set. The sketch columns form one new test at d = 40:
# <= 2^-40 ≈ 9.1e-13 per set. The round-9 and round-10 description tests together: <= 7.1e-10 (per sketch, over
# a maximal set) + 9.1e-13 + 9.1e-13 ≈ 7.13e-10 < 1e-9 per set.
COLUMN_SET_DESCRIPTION_BITS = 40
_COLUMN_BLOCK = 64  # smallest row window
_COLUMN_CELLS = 1 << 22  # bound on blocks × columns × alphabet counts held at once (32 MiB of int64)


def _column_counts(symbols: np.ndarray, alphabet: int, block: int) -> np.ndarray:
    """counts[b, c, v]: how often symbol v occurs in column c of rows [b·block, (b+1)·block) (the last block may
    be partial), gathered a few rows at a time so that the index array stays under _CHUNK entries."""
    rows, cols = symbols.shape
    cells = cols * alphabet
    out = np.zeros(((rows + block - 1) // block) * cells, dtype=np.int64)
    step = max(1, _CHUNK // max(1, cols))
    step = step // block * block if step >= block else step
    base = (np.arange(cols, dtype=np.int64) * alphabet)[None, :]
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        first = start // block
        which = (np.arange(start, stop, dtype=np.int64) // block - first)[:, None] * cells
        got = np.bincount((symbols[start:stop].astype(np.int64) + base + which).ravel())
        out[first * cells:first * cells + got.size] += got
    return out.reshape(-1, cols, alphabet)


def _kt_savings(counts: np.ndarray, length: int, width: int, g: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Bits saved by the order-0 estimator on windows of ``length`` symbols, from counts [..., alphabet]."""
    return width * length - (g[length] - np.take(t, counts).sum(axis=-1, dtype=np.float64))


def _best_view(views: list[tuple[str, float, int]]) -> tuple[str, float]:
    """The view with the largest saving, and that saving less log2 of all windows looked at (the price of
    choosing the best of them: the counting bound of the module docstring)."""
    total = sum(windows for _, _, windows in views)
    name, best, _ = max(views, key=lambda v: v[1])
    return name, best - math.log2(max(total, 1))


def column_savings(symbols: np.ndarray, width: int, windowed: bool) -> tuple[float, int]:
    """The best saving over the column views of an (N rows × C columns) table of ``width``-bit symbols, and how
    many windows were judged: each whole column, and (``windowed``) dyadic windows of rows in each column."""
    rows, cols = symbols.shape
    if rows == 0 or cols == 0:
        return -math.inf, 0
    alphabet = 1 << width
    t, g = _kt_tables(alphabet, rows)
    block = _COLUMN_BLOCK if windowed else rows
    while (rows // block) * cols * alphabet > _COLUMN_CELLS:
        block *= 2
    level = _column_counts(symbols, alphabet, block)
    best = float(_kt_savings(level.sum(axis=0), rows, width, g, t).max())
    windows = cols
    level = level[:rows // block]  # the full blocks
    if not windowed or level.shape[0] < 2:  # one block is (nearly) the whole column, judged above
        return best, windows
    length = block
    best = max(best, float(_kt_savings(level, length, width, g, t).max()))
    windows += level.shape[0] * cols
    while level.shape[0] >= 2:
        pairs = level[:-1] + level[1:]  # windows of twice the length, starting every `length` rows
        length *= 2
        best = max(best, float(_kt_savings(pairs, length, width, g, t).max()))
        windows += pairs.shape[0] * cols
        level = pairs[0::2]
    return best, windows


def _low7_pairs(low7: np.ndarray) -> np.ndarray:
    """14-bit symbols: the low 7 bits of each column followed by those of the next column."""
    return (low7[:, :-1].astype(np.uint16) << 7) | low7[:, 1:]


def column_free_orders(table: np.ndarray) -> np.ndarray:
    """(N × DIGEST_ORDERED_FROM): column c holds byte c of a set's digests (N × 32) with the rows sorted by all
    their OTHER bytes (0..c-1, then c+1..31) (round 11). For HMAC digests each such order is independent of the
    column it carries, so columns 0-9 can be read in row windows, and the order stays the canonical one wherever
    bytes 0..c-1 differ (a block of rows contiguous in the canonical order stays contiguous)."""
    out = np.empty((table.shape[0], DIGEST_ORDERED_FROM), dtype=np.uint8)
    for c in range(DIGEST_ORDERED_FROM):
        rest = np.ascontiguousarray(np.delete(table, c, axis=1))
        # fixed-width bytes compare as memcmp: lexicographic over the 31 other bytes
        out[:, c] = table[np.argsort(rest.view("S31").ravel(), kind="stable"), c]
    return out


def digest_column_views(table: np.ndarray) -> list[tuple[str, float, int]]:
    """(name, best saving, windows) of each column view of a set's digests (N × 32, canonical order)."""
    low7 = table & 0x7F
    ordered = DIGEST_ORDERED_FROM
    # Round 11: columns 0-9 in row windows too, each over the rows sorted by the digests' other bytes (text in a
    # block of rows of columns 2-9, flattened by filler in the other rows, passed the whole-column views: 30,000
    # characters). Re-sorting by bytes 10-31 alone scatters such a block, which then passed as well.
    resorted = column_free_orders(table)
    views: list[tuple[str, float, int]] = []
    for name, symbols, width, windowed in (
            ("bytes at the same offset of every digest", table, 8, False),
            ("low 7 bits at the same offset of every digest", low7, 7, False),
            ("low 7 bits of adjacent offsets of every digest", _low7_pairs(low7), 14, False),
            ("bytes at the same offset of consecutive digests", table[:, ordered:], 8, True),
            ("low 7 bits at the same offset of consecutive digests", low7[:, ordered:], 7, True),
            ("bytes 0-9 of digests consecutive in the order of their other bytes", resorted, 8, True),
            ("low 7 bits 0-9 of digests consecutive in the order of their other bytes", resorted & 0x7F, 7, True)):
        best, windows = column_savings(np.ascontiguousarray(symbols), width, windowed)
        views.append((name, best, windows))
    # Round 12: every column in row windows of the digests sorted by every other key (see keyed_column_savings).
    best, windows, pooled, partitions = keyed_column_savings(digest_keys(table), table, own=True)
    views.append(("low 7 bits at one offset of digests consecutive in the order of another offset", best, windows))
    views.append(("low 7 bits of many such windows together", pooled, partitions))
    # Round 13: every column within the rows of each bin of each relation of two other nibbles (relation_savings).
    best, windows, where = relation_savings(table, table, own=True)
    views.append((f"low 7 bits at one offset of the digests with a relation between two others ({where})", best,
                  windows))
    return views


def sketch_set_reason(matrix: np.ndarray, digests: np.ndarray | None = None) -> str | None:
    """Why a set's sealed sketches (N × 4·num_perm bytes, canonical order) carry text at the same positions, or
    None (round 10): each byte column (so each 32-bit word position, as its 4 byte columns) whole and in row
    windows, as bytes and as low 7 bits; (round 12) with ``digests`` (N × 32, the same prompts' digests), also the
    low 7 bits of each column in row windows of the prompts sorted by each digest key (keyed_column_savings).
    False refusal <= 2^-40 per set (see above)."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.uint8))
    if matrix.shape[0] < 2:
        return None
    views = [(name, *column_savings(symbols, width, True)) for name, symbols, width in (
        ("bytes", matrix, 8), ("low 7 bits", matrix & 0x7F, 7))]
    if digests is not None:
        best, windows, pooled, partitions = keyed_column_savings(
            digest_keys(np.asarray(digests, dtype=np.uint8)), matrix, own=False)
        views += [("low 7 bits, in the order of a digest offset,", best, windows),
                  ("low 7 bits, in many windows of the order of a digest offset,", pooled, partitions)]
        # Round 13: within the rows where two digest nibbles are equal (the equality bin only: relation_savings).
        best, windows, where = relation_savings(np.asarray(digests, dtype=np.uint8), matrix, own=False,
                                                all_bins=False)
        views.append((f"low 7 bits, in the digests with {where},", best, windows))
    name, saving = _best_view(views)
    if saving >= COLUMN_SET_DESCRIPTION_BITS:
        return (f"the {name} at the same position of its {matrix.shape[0]} sketches have a description "
                f"{saving:.0f} bits shorter than their size under a fixed model of text-like columns (sealed "
                f"sketches: probability <= 2^-{COLUMN_SET_DESCRIPTION_BITS})")
    return None


# ---------------------------------------------------------------------------------------------------------------
# Red team round 12 (class 1): the writer picks the ORDER. Bytes 30-31 of each digest held a rising 16-bit key
# assigned in text order, and text sat in blocks of rows contiguous in THAT order (staggered down 16 columns, each
# column flattened by filler): `sort -k1.61,1.64 | cut` reads it, while every window above reads the rows in the
# canonical order or sorted by bytes 0..c-1, where the blocks are scattered (32,000 characters in 20,000 digests
# passed). The class is a dependence between columns, not one order: for HMAC digests (and sealed sketches) every
# column is independent of every other, so column c is judged in windows of the rows sorted by each KEY k that
# does not involve c. A reader sorts with plain tools on the hex text, so the keys are every 8-bit value at a nibble
# boundary of the digest: each byte k (hex characters 2k+1, 2k+2) and each straddle (low nibble of byte k, high
# nibble of byte k+1): 63 keys. Windows are key VALUE ranges (dyadic, each starting at every half width, from the
# narrowest range expected to hold _KEY_MIN_ROWS rows, coarser when the counts would pass _COLUMN_CELLS) rather
# than rank ranges: the rows in a value range are an order-free set, so a window's cost depends only on the joint
# counts (key range, symbol of column c), and the ties within one key value need no rule. A rising key spread over
# more bytes (bytes 30-31, or any longer `sort -k` field) is ordered first by its leading 8 bits, so a block of
# rows in its order is a range of its leading key, cut at a resolution of 1/256 of its values (1/(256·bins) at
# the narrowest). Only the low 7 bits of column c are judged (the high bit at 1 bit): a writer can make the high
# bit random at no cost, and for any narrow alphabet the low-7-bit view saves at most 1 bit per symbol less than
# bytes would, for half the counts.
#
# Many short blocks: a block too short for any window alone (60 characters every 1,000 key ranks, each segment
# flattened by its own filler: 19,200 characters in 20,000 digests) still shares ONE alphabet with the others. So
# each partition of a key's range (the aligned windows of one width × the judged columns: disjoint cells) is also
# read as one model: name a subset of j cells (log2 _POOL_CELLS + log2 C(P, j) bits) and code their union with one
# estimator (_pooled_saving; the encoder tries the cells ranked by their own saving and re-ranked by the profile of
# the best union, which needs no alphabet fixed in advance).
#
# Bound: given the key values (bytes other than c), the low 7 bits of column c in any set of rows chosen from them
# are independent and uniform for HMAC digests and sealed sketches (the key columns are coded first, at 8 bits),
# so the counting bound holds for each window and each pooled model (its naming weights sum to <= 1); the windows
# and the partitions join the same mixtures (digests: the round-9/10/11 views; sketches: the round-10 sketch
# columns), so log2 M grows by what they add (digests at 20,000: 15.9 -> 19.6 bits; 800: 11.0 -> 15.3) and d stays
# 40: the per-set false refusal is unchanged (< 1e-9, test_stated_bound_with_the_keyed_views).
_KEY_SYMBOLS = 128  # the low 7 bits of the judged column
_KEY_MIN_ROWS = _COLUMN_BLOCK  # rows expected in the narrowest key range
_POOL_ROUNDS = 2  # re-rankings by the pooled profile (_pooled_saving)
_POOL_CELLS = 256  # most cells of one partition judged together by one estimator (_pooled_saving)
# Cost bound: counts judged over all keys of one test (the finest level; the pyramid adds ~2x). The 63 digest keys
# × 32 columns get 128 bins (8,192+ digests); sketch columns are many, so their key ranges are coarser (num_perm
# 16: 64 bins; num_perm 128: 8; from num_perm 256 they would get < 8 and are not judged; decisions.md, round 12).
_KEYED_CELLS = 1 << 25


def digest_keys(table: np.ndarray) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """The 63 8-bit sort keys of a set's digests (N × 32) at a hex-nibble boundary, each with the digest columns it
    is made of: byte k, and (low nibble of byte k, high nibble of byte k+1)."""
    keys: list[tuple[np.ndarray, tuple[int, ...]]] = [(table[:, k], (k,)) for k in range(table.shape[1])]
    keys += [(((table[:, k] & 0x0F) << 4) | (table[:, k + 1] >> 4), (k, k + 1)) for k in range(table.shape[1] - 1)]
    return keys


@lru_cache(maxsize=8)
def _kt_tables64(alphabet: int, longest: int) -> tuple[np.ndarray, np.ndarray]:
    """_kt_tables in float64 as cumulative sums of logs (Γ(c+α) = Γ(α)·Π_{i<c}(i+α)): the pooled windows reach
    ~2N symbols, where float32 tables would lose bits."""
    i = np.arange(longest, dtype=np.float64)
    t = np.concatenate([[0.0], np.cumsum(np.log2(i + _KT_ALPHA))])
    g = np.concatenate([[0.0], np.cumsum(np.log2(i + alphabet * _KT_ALPHA))])
    return t, g


@lru_cache(maxsize=8)
def _log2_factorials(n: int) -> np.ndarray:
    """log2 k! for k = 0..n."""
    return np.concatenate([[0.0], np.cumsum(np.log2(np.arange(1, n + 1, dtype=np.float64)))])


def _pooled_saving(counts: np.ndarray, saving: np.ndarray, length: np.ndarray, width: int,
                   tables: tuple[np.ndarray, np.ndarray]) -> float:
    """The best saving of ONE estimator over the union of the first j cells of a ranking of a partition's cells
    (disjoint sets of table entries; j = 1 .. _POOL_CELLS), less the cost of naming j and the subset:
    log2 _POOL_CELLS + log2 C(P, j). Summed over j and the subsets those weights are <= 1 (Kraft), so this is one
    model of the mixture whatever subsets the encoder tries. It tries the cells ranked by their own saving, then
    (_POOL_ROUNDS times) ranked by their likelihood under the symbol frequencies of the best union so far: text
    too sparse for any window alone still shares one alphabet across the windows."""
    t, g = tables
    flat = counts.reshape(saving.size, -1)
    occupied = length.ravel() > 0
    as_float = None  # the counts as float32, made once if a re-ranking needs them
    # empty cells (a key's own columns) save 0 bits and would rank above every cell of uniform bytes
    score = np.where(occupied, saving.ravel(), -np.inf)
    cells = saving.size
    top = min(cells, _POOL_CELLS)
    log_fact = _log2_factorials(cells)
    naming = math.log2(_POOL_CELLS) + log_fact[cells] - log_fact[1:top + 1] - log_fact[cells - np.arange(1, top + 1)]
    best = -math.inf
    for round_ in range(_POOL_ROUNDS + 1):
        pick = np.argpartition(-score, top - 1)[:top]
        pick = pick[np.argsort(-score[pick], kind="stable")]
        union = np.cumsum(flat[pick], axis=0)
        length = union.sum(axis=1)
        fits = length < len(g)
        if not fits.any():
            return best
        pooled = width * length[fits] - (g[length[fits]] - np.take(t, union[fits]).sum(axis=-1)) - naming[fits]
        best = max(best, float(pooled.max()))
        if round_ < _POOL_ROUNDS:
            chosen = union[int(np.flatnonzero(fits)[np.argmax(pooled)])].astype(np.float64)
            profile = np.log2((chosen + _KT_ALPHA) / (chosen.sum() + len(chosen) * _KT_ALPHA) * len(chosen))
            as_float = flat.astype(np.float32) if as_float is None else as_float
            score = np.where(occupied, as_float @ profile.astype(np.float32), -np.inf)
    return best


def _range_pyramid(level: np.ndarray, width: int, t: np.ndarray, g: np.ndarray,
                   pool: tuple[np.ndarray, np.ndarray]) -> tuple[float, int, float, int]:
    """Best saving over dyadic windows of consecutive key bins (each starting at every half width) of counts
    [bins, columns, alphabet], and how many windows: a window's length is its own count of rows. Then the best
    pooled saving (_pooled_saving) over the partitions (the aligned windows of one width), and how many."""
    best, windows = -math.inf, 0
    pooled, partitions = -math.inf, 0

    def judge(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal best, windows
        length = counts.sum(axis=-1)
        # float32 sums of at most 2^7 terms of magnitude < 2^20: error < 0.01 bit, as in _window_savings
        saving = width * length - (g[length] - np.take(t, counts).sum(axis=-1, dtype=np.float32))
        best = max(best, float(saving.max()))
        windows += counts.shape[0] * counts.shape[1]
        return saving, length

    saving, length = judge(level)
    while True:
        pooled = max(pooled, _pooled_saving(level, saving, length, width, pool))
        partitions += 1
        if level.shape[0] < 2:
            return best, windows, pooled, partitions
        pairs = level[:-1] + level[1:]  # windows of twice the width, starting every width
        saving, length = judge(pairs)
        saving, length, level = saving[0::2], length[0::2], pairs[0::2]


def keyed_column_savings(keys: list[tuple[np.ndarray, tuple[int, ...]]], symbols: np.ndarray,
                         own: bool) -> tuple[float, int, float, int]:
    """The best saving of the low 7 bits of each column of ``symbols`` (N × C) over windows of key value ranges,
    for each key, and how many windows were judged; then the best pooled saving over the partitions of each key's
    range (many windows, each too short to judge alone, under one estimator: _pooled_saving) and how many
    partitions there were (each one model of the mixture). ``own``: the keys are columns of ``symbols`` itself (digests),
    and a key's own columns are not judged in its order (their counts are left at zero: a window of no rows
    saves nothing, and is still counted in the windows, which only makes the bound looser)."""
    symbols = np.asarray(symbols, dtype=np.uint8)
    rows, cols = symbols.shape
    if rows < 2 * _KEY_MIN_ROWS or cols == 0 or not keys:
        return -math.inf, 0, -math.inf, 0
    t, g = _kt_tables(_KEY_SYMBOLS, rows)
    pool = _kt_tables64(_KEY_SYMBOLS, 2 * rows)
    bins = 256
    while bins > 2 and (rows < bins * _KEY_MIN_ROWS or bins * cols * _KEY_SYMBOLS > _COLUMN_CELLS
                        or len(keys) * bins * cols * _KEY_SYMBOLS > _KEYED_CELLS):
        bins //= 2
    if len(keys) * 8 * cols * _KEY_SYMBOLS > _KEYED_CELLS:
        # fewer than 8 key ranges (sketches of num_perm >= 256): nearly blind, and the counting alone would cost
        # len(keys) passes over up to 32 MB of sketch bytes (tens of seconds); not judged (decisions.md, round 12)
        return -math.inf, 0, -math.inf, 0
    shift = 8 - (bins.bit_length() - 1)
    cells = cols * _KEY_SYMBOLS
    # The (column, symbol) cell of every byte once, shared by the keys. A small table is counted per key in one
    # bincount of bin·cells + cell; a large one (sketches) bin by bin over its rows gathered in key order, which
    # spares a full-size index array per key. Counts stay int64: np.take converts any other index type first.
    base = (symbols & 0x7F).astype(np.int32 if rows * cols <= _CHUNK or cells > 1 << 16 else np.uint16)
    base += np.arange(cols, dtype=base.dtype) * _KEY_SYMBOLS
    best, windows = -math.inf, 0
    pooled, partitions = -math.inf, 0
    for key, made_of in keys:
        if rows * cols <= _CHUNK:
            index = base + ((key >> shift).astype(np.int32) * cells)[:, None]
            level = np.bincount(index.ravel(), minlength=bins * cells).reshape(bins, cells)
        else:
            binned = key >> shift
            order = np.argsort(binned, kind="stable")
            edges = np.searchsorted(binned[order], np.arange(bins + 1))
            level = np.zeros((bins, cells), dtype=np.int64)
            step = max(1, _CHUNK // cols)
            for b in range(bins):
                for start in range(edges[b], edges[b + 1], step):  # bounded temporaries
                    level[b] += np.bincount(base[order[start:min(start + step, edges[b + 1])]].ravel(),
                                            minlength=cells)
        level = level.reshape(bins, cols, _KEY_SYMBOLS)
        if own:
            level[:, list(made_of)] = 0
        saving, judged, shared, models = _range_pyramid(level, 7, t, g, pool)
        best, windows = max(best, saving), windows + judged
        pooled, partitions = max(pooled, shared), partitions + models
    return best, windows, pooled, partitions


# ---------------------------------------------------------------------------------------------------------------
# Red team round 13 (class 1): rows chosen by a RELATION between two digest nibbles. Text sat at ~12 % of every
# digest and sketch column, in the rows where hex character a equals hex character b (two such conditions per
# column, a and b never adjacent, so never inside one of the 63 keys above), read back with a grep backreference
# `^.{1}(.).{2}\1`. The selection is balanced in each nibble alone, so every single-key view saw the global 12 %,
# flattened by filler: 314,273 characters passed in a 5,000-prompt num_perm-128 set. The dependence is 3-way
# (column c given nibbles a and b), so column c is now also judged within the rows of each bin of each relation of
# each PAIR of nibble positions (a, b) outside c: the difference (nib_a - nib_b) mod 16 and the XOR nib_a ^ nib_b,
# 16 bins each (equality is bin 0 of both; a grep alternation of 16 patterns selects any one bin). 64 nibbles ->
# 2,016 pairs. Each bin is one window, coded whole (no pyramid and no pooling: they would multiply a cost that is
# already the largest of the module), on the low 7 bits of the column, the high bit at 1 bit (as round 12).
#
# Bound: for HMAC digests, given nibbles a and b (in columns other than c), the low 7 bits of column c in the rows
# of any bin are independent and uniform; for sealed sketches the same given any digest nibbles. So every bin is a
# window of the counting bound, and the bins join the existing mixtures (log2 M grows with their number; d stays
# 40): decisions.md, round 13.
#
# Cost: counting is rows × columns increments per pair and relation (2.6e9 for 20,000 digests), with no cheaper
# exact statistic (every row adds to a distinct cell of every pair). So all 32 bins are judged for the digest
# columns while rows × 32 × 4,032 <= _RELATION_INCREMENTS, and beyond that (and always for sketch columns, which are
# 2-16x as many) only the equality bin, which holds 1/16 of the rows (1/16 of the cost); sketch columns are not
# judged when even that passes the budget (num_perm >= 1024 at most sizes; decisions.md, round 13).
# Limits, measured (decisions.md, round 13): a bin is one whole window, so text diluted to about a third of a bin
# passes (~10,000 characters in 20,000 digests); predicates on 3+ nibbles or computed keys are not judged.
_NIBBLES = 64
_RELATION_INCREMENTS = 1 << 32  # most counting increments of the all-bins relation view (one set)
_EQUALITY_INCREMENTS = 1 << 31  # most counting increments of the equality-bin view (one set)


def _digest_nibbles(digests: np.ndarray) -> np.ndarray:
    """(N × 64) int64: the hex characters of each digest, in order."""
    nib = np.empty((digests.shape[0], 2 * digests.shape[1]), dtype=np.int64)
    nib[:, 0::2], nib[:, 1::2] = digests >> 4, digests & 0x0F
    return nib


def relation_savings(digests: np.ndarray, symbols: np.ndarray, own: bool,
                     all_bins: bool | None = None) -> tuple[float, int, str]:
    """The best saving of the low 7 bits of one column of ``symbols`` (N × C) within the rows of one bin of one
    relation of two digest nibbles (a, b) (``digests``: N × 32, the same rows), how many windows (bin × column)
    were judged, and a description of the best one. ``own``: ``symbols`` are the digests, so the columns holding
    a or b are not judged for that pair (their counts are zeroed; still counted as windows). ``all_bins``: judge
    the 16 difference and 16 XOR bins (True) or the equality bin only (False); None: as the budget allows."""
    digests = np.asarray(digests, dtype=np.uint8)
    symbols = np.asarray(symbols, dtype=np.uint8)
    rows, cols = symbols.shape
    if rows < 2 * _COLUMN_BLOCK or cols == 0:
        return -math.inf, 0, ""
    pairs = [(a, b) for a in range(_NIBBLES) for b in range(a + 1, _NIBBLES)]
    if all_bins is None:
        all_bins = rows * cols * 2 * len(pairs) <= _RELATION_INCREMENTS
    if not all_bins and rows * cols * len(pairs) // 16 > _EQUALITY_INCREMENTS:
        return -math.inf, 0, ""
    nib = _digest_nibbles(digests)
    t, g = _kt_tables(_KEY_SYMBOLS, rows)
    cells = cols * _KEY_SYMBOLS
    # int64 when the index is built whole (bincount takes it as is); int32 for the equality bin, whose rows are
    # gathered per pair (half the memory traffic and ~40 MB less peak for 20,000 sketches of num_perm 128)
    wide = np.int64 if all_bins else np.int32
    base = (symbols & 0x7F).astype(wide) + np.arange(cols, dtype=wide) * _KEY_SYMBOLS
    best, windows, where = -math.inf, 0, ""
    buf = np.empty_like(base) if all_bins else None

    def judge(counts: np.ndarray, a: int, b: int, relation: str) -> None:
        nonlocal best, windows, where
        if own:
            counts[:, [a // 2, b // 2]] = 0
        length = counts.sum(axis=-1)
        # float32 sums of 128 terms of magnitude < 2^20: error < 0.01 bit, as in _window_savings
        saving = 7 * length - (g[length] - np.take(t, counts).sum(axis=-1, dtype=np.float32))
        windows += saving.size
        top = int(np.argmax(saving))
        if saving.flat[top] > best:
            best = float(saving.flat[top])
            v, c = divmod(top, cols)
            where = (f"hex characters {a + 1} and {b + 1} with {relation} {v}, column {c}" if all_bins
                     else f"hex characters {a + 1} and {b + 1} equal, column {c}")

    for a, b in pairs:
        if all_bins:
            assert buf is not None
            for relation, r in (("difference", (nib[:, a] - nib[:, b]) & 0x0F), ("XOR", nib[:, a] ^ nib[:, b])):
                np.add(base, (r * cells)[:, None], out=buf)
                judge(np.bincount(buf.ravel(), minlength=16 * cells).reshape(16, cols, _KEY_SYMBOLS),
                      a, b, relation)
        else:
            chosen = base[nib[:, a] == nib[:, b]]
            judge(np.bincount(chosen.ravel(), minlength=cells).reshape(1, cols, _KEY_SYMBOLS), a, b, "equal")
    return best, windows, where
