"""Regression tests of red-team round 12 on indicators (docs/decisions.md, "Red team round 12 on indicators";
report /work/issues/rt-indicators-round12.md, PoCs in /tmp/rt-ind12: mk_key2.py, read_key.sh, j2.py).

1 the writer picks the row order: bytes KEY, KEY+1 of each digest hold a rising 16-bit value assigned in text
  order, and text sits in blocks of rows contiguous in THAT order, staggered down 16 digest columns and each column
  flattened by filler; `sort` on the key's hex characters and `cut` read it back. Every window read the rows in the
  canonical order or sorted by bytes 0..c-1, where the blocks are scattered. Each digest column, and each sketch
  column, is now also judged in windows of the rows ordered by every 8-bit digest key at a hex-nibble boundary
  that does not involve it (randomness.keyed_column_savings).
No test here measures time.
"""

from __future__ import annotations

import hmac
import random

import numpy as np
import pytest

from tests.indicators.test_indicators_redteam10 import _disguised

TEXT_COLUMNS = (2, 3, 5, 6, 8, 9, 12, 13, 15, 16, 18, 19, 24, 25, 27, 28)  # mk_key2.py's columns


def _rising_key(n: int, rng: random.Random) -> np.ndarray:
    """mk_key2.py: the 16-bit key of the row of rank i, i·65536/N plus a random low part."""
    step = max(1, 65536 // n)
    return np.array([i * 65536 // n + rng.randrange(step) for i in range(n)], dtype=np.int64)


def _flattened(seg: np.ndarray, n: int, at: int, rng: random.Random, gen: np.random.Generator) -> np.ndarray:
    """A column of n bytes holding ``seg`` from row ``at``, the other rows filler drawn from each value's deficit
    against a flat histogram (mk_key2.py / round 11's mk_col.py)."""
    deficit = np.maximum(0.0, n / 256 - np.bincount(seg, minlength=256))
    need = n - len(seg)
    counts = np.floor(need * deficit / deficit.sum()).astype(int)
    for v in rng.choices(range(256), weights=deficit.tolist(), k=need - int(counts.sum())):
        counts[v] += 1
    pool = np.repeat(np.arange(256, dtype=np.uint8), counts)
    gen.shuffle(pool)
    return np.concatenate([pool[:at], seg, pool[at:]])


def _keyed_table(n: int, frac: float, key: int, seed: int, stagger: bool = True,
                 columns: tuple[int, ...] = TEXT_COLUMNS, width: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """mk_key2.py: (rows in the writer's text order × width bytes, and the 16-bit key of each row). Text in
    R = frac·N rows of each column; with ``stagger`` column pair j holds its text in key ranks [jR, (j+1)R)."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    table = gen.integers(0, 256, size=(n, width), dtype=np.uint8)
    rows = int(n * frac)
    text = np.frombuffer(_disguised(rows * len(columns), rng), dtype=np.uint8)
    for k, c in enumerate(columns):
        at = (k // 2) * rows if stagger else 0
        table[:, c] = _flattened(text[k * rows:(k + 1) * rows], n, at, rng, gen)
    return table, _rising_key(n, rng)


def _key2_digests(n: int, frac: float, key: int, seed: int, stagger: bool = True,
                  columns: tuple[int, ...] = TEXT_COLUMNS) -> list[bytes]:
    """The PoC set: bytes key, key+1 the rising key (a big-endian 16-bit value), sorted as a set is."""
    table, rising = _keyed_table(n, frac, key, seed, stagger, columns)
    table[:, key], table[:, key + 1] = rising >> 8, rising & 0xFF
    return sorted(bytes(row) for row in table)


def _read_key(digests: list[bytes], key: int, rows: int, column: int, start: int = 0) -> bytes:
    """read_key.sh: sort on the hex characters of bytes key, key+1 (a stable sort on those bytes), take a range of
    rows, cut one byte column, undo the separators and the case."""
    ranked = sorted(digests, key=lambda d: d[key:key + 2])[start:start + rows]
    return bytes(d[column] for d in ranked).translate(bytes.maketrans(b"_~+/:.-", b"       ")).lower()
