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
    digests). A digest with the high bit chosen per byte and text below it is not refused here: 1.9e-4 of
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
    return None


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
    probability <= 1e-10: an honest sketch is refused with probability < 1e-9)."""
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
    return None
