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


def _table(digests: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 32)


# ------------------------------------------------------------------ class 1: text in blocks of a writer-chosen order


@pytest.mark.parametrize("n,frac,key,stagger", [
    (20_000, 0.1, 30, True), (20_000, 0.1, 30, False), (20_000, 0.01, 30, True), (5000, 0.1, 30, True),
    (5000, 0.05, 20, True), (5000, 0.1, 0, True), (5000, 0.1, 4, True), (2000, 0.1, 30, True), (2000, 0.1, 4, True),
    (1500, 0.1, 30, True), (800, 0.1, 30, True), (800, 0.1, 6, True)])
def test_text_in_blocks_of_a_writer_chosen_order_is_refused(n, frac, key, stagger):
    from weightwarden.indicators.randomness import digest_set_reason

    columns = tuple(c for c in TEXT_COLUMNS + (21, 22, 30, 31) if c not in (key, key + 1))[:16]
    digests = _key2_digests(n, frac, key, seed=n + key, stagger=stagger, columns=columns)
    assert _read_key(digests, key, 40, columns[0]).startswith(b"ignore all previous")  # the PoC reads back
    assert digest_set_reason(digests) is not None


def test_the_round11_views_alone_passed_the_poc():
    """Every view before round 12 stayed below 0 bits on the report's kst.json shape; the keyed windows see it."""
    from weightwarden.indicators.randomness import digest_column_views

    views = digest_column_views(_table(_key2_digests(20_000, 0.1, 30, seed=3)))
    old = [best for name, best, _ in views  # the views before round 12 (round 13's relation view is later)
           if "another offset" not in name and "many such" not in name and "relation between" not in name]
    assert max(old) < 0
    assert dict((name, best) for name, best, _ in views)[
        "low 7 bits at one offset of digests consecutive in the order of another offset"] > 1000


def test_many_short_blocks_each_flattened_locally_are_refused_together():
    """Blocks too short to judge alone (60 characters every 1,000 key ranks, each segment flattened by its own
    filler: 19,200 characters) share one alphabet: the pooled view (one estimator over many windows) sees them."""
    from weightwarden.indicators.randomness import digest_column_views, digest_set_reason

    n, block, every = 20_000, 60, 1000
    rng = random.Random(5)
    gen = np.random.default_rng(5)
    table = gen.integers(0, 256, size=(n, 32), dtype=np.uint8)
    text = np.frombuffer(_disguised(block * (n // every) * len(TEXT_COLUMNS), rng), dtype=np.uint8)
    pos = 0
    for k, c in enumerate(TEXT_COLUMNS):
        parts = []
        for _ in range(n // every):
            parts.append(_flattened(text[pos:pos + block], every, k * every // len(TEXT_COLUMNS) % (every - block),
                                    rng, gen))
            pos += block
        table[:, c] = np.concatenate(parts)
    rising = _rising_key(n, rng)
    table[:, 30], table[:, 31] = rising >> 8, rising & 0xFF
    digests = sorted(bytes(row) for row in table)
    views = {name: best for name, best, _ in digest_column_views(_table(digests))}
    assert views["low 7 bits at one offset of digests consecutive in the order of another offset"] < 60
    assert digest_set_reason(digests) is not None


def test_a_key_at_an_odd_hex_position_is_refused():
    """`sort -k1.62,1.65`: the key starts at the low nibble of byte 29 (a straddled 8-bit key leads it)."""
    from weightwarden.indicators.randomness import digest_set_reason

    n = 5000
    table, rising = _keyed_table(n, 0.1, 29, seed=7)
    table[:, 29] = (table[:, 29] & 0xF0) | (rising >> 12)
    table[:, 30] = (rising >> 4) & 0xFF
    table[:, 31] = ((rising & 0x0F) << 4) | (table[:, 31] & 0x0F)
    digests = sorted(bytes(row) for row in table)
    ranked = sorted(digests, key=lambda d: d.hex()[59:63])[:40]
    assert bytes(d[2] for d in ranked).translate(bytes.maketrans(b"_~+/:.-", b"       ")).lower().startswith(
        b"ignore all previous")
    assert digest_set_reason(digests) is not None


def test_a_key_spread_over_the_high_nibbles_of_four_bytes_is_refused():
    """`sort -k1.41,1.41 -k1.51,1.51 -k1.53,1.53 -k1.59,1.59`: the 16-bit key in the high nibbles of bytes 20, 25,
    26 and 29 (no byte holds more than 4 of its bits). Its leading nibble is the high nibble of byte 20, so a
    block of N/64 rows lies in one range of byte 20 16 values wide: the keyed windows of byte 20 see it."""
    from weightwarden.indicators.randomness import digest_set_reason

    n = 20_000
    columns = (2, 3, 5, 6, 8, 9, 12, 13, 15, 16, 18, 19, 30, 31, 10, 11)
    table, rising = _keyed_table(n, 1 / 64, 20, seed=8, columns=columns)
    for shift, c in ((12, 20), (8, 25), (4, 26), (0, 29)):
        table[:, c] = (((rising >> shift) & 0x0F) << 4) | (table[:, c] & 0x0F)
    digests = sorted(bytes(row) for row in table)
    ranked = sorted(digests, key=lambda d: (d[20] >> 4, d[25] >> 4, d[26] >> 4, d[29] >> 4))[:40]
    assert bytes(d[2] for d in ranked).translate(bytes.maketrans(b"_~+/:.-", b"       ")).lower().startswith(
        b"ignore all previous")
    assert digest_set_reason(digests) is not None


@pytest.mark.parametrize("n,size,frac", [(5000, 64, 0.1), (20_000, 64, 0.02), (3000, 512, 0.1)])
def test_text_in_sketch_columns_keyed_by_a_digest_is_refused(n, size, frac):
    """Sketch columns in blocks of the order of digest bytes 30-31 (the same construction in 16 sketch byte
    columns): the round-10 sketch windows (canonical order) pass it, the keyed ones do not."""
    from weightwarden.indicators.randomness import sketch_set_reason

    columns = tuple(range(4, 4 + 3 * 16, 3))
    sketches, rising = _keyed_table(n, frac, 0, seed=n, columns=columns, width=size)
    gen = np.random.default_rng(n)
    digests = gen.integers(0, 256, size=(n, 32), dtype=np.uint8)
    digests[:, 30], digests[:, 31] = rising >> 8, rising & 0xFF
    order = np.lexsort(digests.T[::-1])  # the set's canonical order: sorted by digest
    sketches, digests = sketches[order], digests[order]
    assert sketch_set_reason(sketches) is None
    assert sketch_set_reason(sketches, digests) is not None


# ------------------------------------------------------------------ honest sets, the bound, the construction


def test_honest_sets_with_the_keyed_views_are_never_refused():
    """Property: HMAC digests under random keys (1 to 20,000, one maximal set), and uniform sketches judged in the
    order of their digests, pass."""
    from weightwarden.indicators.randomness import MAX_SET_DIGESTS, digest_set_reason, sketch_set_reason

    rng = random.Random(12)
    for i, n in enumerate([1, 2, 127, 128, 129, 255, 256, 257, 300, 640, 800, 1000, 2049, 5000, 9999, 20_000]):
        key = rng.randbytes(32)
        digests = sorted(hmac.digest(key, j.to_bytes(4, "big"), "sha256") for j in range(n))
        assert digest_set_reason(digests) is None, (i, n)
        size = (64, 512)[i % 2] if n <= 5000 else 64
        sketches = np.random.default_rng(i).integers(0, 256, size=(n, size), dtype=np.uint8)
        assert sketch_set_reason(sketches, _table(digests)) is None, (i, n, size)
    digests = sorted(hmac.digest(rng.randbytes(32), j.to_bytes(4, "big"), "sha256") for j in range(MAX_SET_DIGESTS))
    assert digest_set_reason(digests) is None


def test_a_keys_own_columns_are_not_judged_in_its_order():
    """In the order of byte k, byte k itself is sorted: judged there it would refuse every set. The digest keys
    leave their own columns out (own=True); the same table read as foreign columns would be refused."""
    from weightwarden.indicators.randomness import digest_keys, keyed_column_savings

    table = np.random.default_rng(4).integers(0, 256, size=(4000, 32), dtype=np.uint8)
    own = keyed_column_savings(digest_keys(table), table, own=True)
    foreign = keyed_column_savings(digest_keys(table), table, own=False)
    assert own[0] < 40 and own[2] < 40
    assert foreign[0] > 1000


def test_digest_keys_are_every_8_bit_field_at_a_nibble_boundary():
    from weightwarden.indicators.randomness import digest_keys

    table = np.random.default_rng(2).integers(0, 256, size=(50, 32), dtype=np.uint8)
    keys = digest_keys(table)
    assert len(keys) == 63
    for i, row in enumerate(table):
        hexed = bytes(row).hex()
        fields = sorted(int(hexed[p:p + 2], 16) for p in range(0, 63))
        assert sorted(int(key[i]) for key, _ in keys) == fields


def test_pooled_tables_equal_the_float32_ones():
    from weightwarden.indicators.randomness import _kt_tables, _kt_tables64

    t, g = _kt_tables(128, 5000)
    t64, g64 = _kt_tables64(128, 5000)
    assert np.allclose(t, t64[:5001], rtol=1e-5, atol=1e-3) and np.allclose(g, g64[:5001], rtol=1e-9, atol=1e-6)


def test_stated_bound_with_the_keyed_views():
    """The keyed windows and the pooled partitions join the digest mixture (log2 M grows, d stays 40), so the
    per-set total stays as stated in round 11 (< 1e-9)."""
    import math

    from weightwarden.indicators import randomness as r

    assert r.DIGEST_SET_DESCRIPTION_BITS == r.COLUMN_SET_DESCRIPTION_BITS == 40
    log_fact = r._log2_factorials(7680)  # the pooled naming cost, log2 C(P, j), from these
    assert all(math.isclose(log_fact[k], math.lgamma(k + 1) / math.log(2), rel_tol=1e-12, abs_tol=1e-9)
               for k in (0, 1, 2, 255, 256, 7679, 7680))
    per_sketch = r.MAX_SET_DIGESTS * 2.0 ** -r.SKETCH_DESCRIPTION_BITS
    tie10 = r.MAX_SET_DIGESTS ** 2 / 2 * 2.0 ** (-8 * r.DIGEST_ORDERED_FROM)
    assert per_sketch + 2.0 ** -40 + tie10 + 10 * 2.0 ** -215 + 2.0 ** -40 < 1e-9
    table = np.random.default_rng(1).integers(0, 256, size=(20_000, 32), dtype=np.uint8)
    windows = sum(w for _, _, w in r.digest_column_views(table))
    # ~19.6 bits at 20,000 digests with round 12's views (round 11: ~15.9); round 13's relation bins add
    # 2,064,384 windows: ~21.4 bits (test_indicators_redteam13.test_stated_bound_with_the_relation_views)
    assert 21 < math.log2(windows) < 21.6
