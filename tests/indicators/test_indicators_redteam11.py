"""Regression tests of red-team round 11 on indicators (docs/decisions.md, "Red team round 11 on indicators";
report /work/issues/rt-indicators-round11.md, PoCs in /tmp/rt-ind11: mk_col.py, poc_col.sh, mk_rand.py).

1 text down digest columns 2-9 in a contiguous block of rows, with filler in the other rows that flattens each
  whole column: columns 0-9 had only whole-column (order-free) views. Each of columns 0-9 is now also read in row
  windows over the rows sorted by the digests' other 31 bytes (randomness.column_free_orders).
2 `indicators export` wrote files larger than `import` reads (records.MAX_SET_BYTES).
No test here measures time.
"""

from __future__ import annotations

import hmac
import random

import numpy as np
import pytest

from tests.indicators.test_indicators_redteam10 import _disguised

TEXT_COLUMNS = (2, 3, 5, 6, 8, 9)


def _column_text_digests(n: int, frac: float, seed: int, columns: tuple[int, ...] = TEXT_COLUMNS) -> list[bytes]:
    """mk_col.py: bytes 0-1 a rising prefix (canonical order = row order); in each text column, rows [0, R) hold
    the next R characters and rows [R, N) filler drawn from that column's deficit against a flat histogram; the
    other bytes uniform."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    table = gen.integers(0, 256, size=(n, 32), dtype=np.uint8)
    step = max(1, 65536 // n)
    prefix = np.array([i * 65536 // n + rng.randrange(step) for i in range(n)], dtype=np.int64)
    table[:, 0], table[:, 1] = prefix >> 8, prefix & 0xFF
    rows = int(n * frac)
    text = _disguised(rows * len(columns), rng)
    for k, c in enumerate(columns):
        seg = np.frombuffer(text[k * rows:(k + 1) * rows], dtype=np.uint8)
        deficit = np.maximum(0.0, n / 256 - np.bincount(seg, minlength=256))
        need = n - rows
        counts = np.floor(need * deficit / deficit.sum()).astype(int)
        for v in rng.choices(range(256), weights=deficit.tolist(), k=need - int(counts.sum())):
            counts[v] += 1
        pool = np.repeat(np.arange(256, dtype=np.uint8), counts)
        gen.shuffle(pool)
        table[:, c] = np.concatenate([seg, pool])
    return sorted(bytes(row) for row in table)


def _read_columns(digests: list[bytes], rows: int, columns: tuple[int, ...] = TEXT_COLUMNS) -> bytes:
    """read_cols.sh: a FIXED byte column of the first ``rows`` digests, one column after the other."""
    return b"".join(bytes(d[c] for d in digests[:rows]) for c in columns)


@pytest.mark.parametrize("n,frac", [(2000, 0.1), (2000, 0.12), (8000, 0.05), (8000, 0.1), (50_000, 0.1)])
def test_text_down_digest_columns_0_9_is_refused(n, frac):
    from weightwarden.indicators.randomness import digest_set_reason

    digests = _column_text_digests(n, frac, seed=n)
    assert b"ignore all previous" in _read_columns(digests, int(n * frac)).lower()  # the PoC reads back
    reason = digest_set_reason(digests)
    # round 12's keyed views (the block is a range of the rising bytes 0-1) may be the stronger ones
    assert reason is not None and ("order of their other bytes" in reason or "another offset" in reason
                                   or "many such windows" in reason), reason


def test_whole_column_views_alone_passed_the_poc():
    """The round-10 views (whole columns 0-31, windows of columns 10-31) all stayed far below 40 bits."""
    from weightwarden.indicators.randomness import digest_column_views

    digests = _column_text_digests(8000, 0.1, seed=1)
    table = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 32)
    views = digest_column_views(table)
    round12 = ("another offset", "many such windows")  # round 12's keyed views see the block as well
    assert all(best < 20 for name, best, _ in views
               if "other bytes" not in name and not any(r in name for r in round12))
    assert max(best for name, best, _ in views if "other bytes" in name) > 200


def test_a_block_scattered_by_the_suffix_order_is_still_caught():
    """Re-sorting columns 0-9 by bytes 10-31 alone would scatter the canonical block (the PoC's bytes 10-31 are
    random): the order used keeps bytes 0..c-1 first, so the block stays a block."""
    from weightwarden.indicators.randomness import column_free_orders, column_savings

    digests = _column_text_digests(8000, 0.1, seed=2)
    table = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 32)
    by_suffix = np.ascontiguousarray(table[np.lexsort(table[:, :9:-1].T), :10])
    assert column_savings(by_suffix, 8, True)[0] < 20
    assert column_savings(column_free_orders(table), 8, True)[0] > 200


def test_column_free_orders_sort_by_the_other_bytes():
    from weightwarden.indicators.randomness import DIGEST_ORDERED_FROM, column_free_orders

    gen = np.random.default_rng(11)
    table = gen.integers(0, 256, size=(3000, 32), dtype=np.uint8)
    table[::3, 0:4] = 7  # long ties on the first bytes, and trailing zero bytes (memcmp, not C strings)
    table[::2, 28:] = 0
    got = column_free_orders(table)
    for c in range(DIGEST_ORDERED_FROM):
        rest = np.delete(table, c, axis=1)
        order = sorted(range(len(table)), key=lambda i: bytes(rest[i]))
        assert (got[:, c] == table[order, c]).all(), c


def test_stated_bound_with_the_reordered_views():
    """The docstring: each of the 10 orders ties two digests on 31 bytes with probability <= N²/2 · 2^-248
    (<= 2^-215 at 100,256), and the set total stays < 1e-9."""
    from weightwarden.indicators import randomness as r

    tie31 = r.DIGEST_ORDERED_FROM * r.MAX_SET_DIGESTS ** 2 / 2 * 2.0 ** -248
    assert tie31 <= 10 * 2.0 ** -215
    tie10 = r.MAX_SET_DIGESTS ** 2 / 2 * 2.0 ** (-8 * r.DIGEST_ORDERED_FROM)
    per_sketch = r.MAX_SET_DIGESTS * 2.0 ** -r.SKETCH_DESCRIPTION_BITS
    assert per_sketch + 2.0 ** -40 + tie10 + tie31 + 2.0 ** -40 < 1e-9


def test_honest_digest_sets_are_never_refused():
    """Property: HMAC digests under random keys, sets of 1 to 20,000 and one of 100,256, sorted as a set is."""
    from weightwarden.indicators.randomness import MAX_SET_DIGESTS, digest_set_reason

    rng = random.Random(11)
    sizes = [1, 2, 3, 9, 10, 11, 63, 64, 65, 128, 129, 257, 640, 1000, 2049, 4097, 9999]
    for i, n in enumerate(sizes * 2 + [20_000]):
        key = rng.randbytes(32)
        digests = sorted(hmac.digest(key, j.to_bytes(4, "big"), "sha256") for j in range(n))
        assert digest_set_reason(digests) is None, (i, n)
    digests = sorted(hmac.digest(rng.randbytes(32), j.to_bytes(4, "big"), "sha256") for j in range(MAX_SET_DIGESTS))
    assert digest_set_reason(digests) is None


# ------------------------------------------------------------------ class 2: export larger than import reads


def test_export_refuses_a_file_import_could_not_read(tmp_path, monkeypatch):
    """With the limit between the JSON and the STIX size of a real set: the STIX export is refused before any
    byte is written (the message names the limit), the JSON export is written and reads back."""
    from tests.indicators.cli_sets import PLAIN_AND_WRAPPED, derive_folder_set, run_cli
    from weightwarden.indicators import records

    made = derive_folder_set(tmp_path, PLAIN_AND_WRAPPED)
    sizes = {}
    for fmt in ("json", "stix"):
        out = tmp_path / f"probe.{fmt}"
        assert run_cli("indicators", "export", str(made["base"]), "--key", str(made["key"]), "--format", fmt, "-o", str(out)).exit_code == 0
        sizes[fmt] = out.stat().st_size
    assert sizes["json"] < sizes["stix"]
    limit = (sizes["json"] + sizes["stix"]) // 2
    monkeypatch.setattr(records, "MAX_SET_BYTES", limit)
    out = tmp_path / "big.stix.json"
    result = run_cli("indicators", "export", str(made["base"]), "--key", str(made["key"]), "-o", str(out))
    assert result.exit_code != 0 and f"over the {limit}-byte limit" in result.output
    assert not out.exists()
    out = tmp_path / "ok.json"
    assert run_cli("indicators", "export", str(made["base"]), "--key", str(made["key"]), "--format", "json", "-o", str(out)).exit_code == 0
    assert records.load_set(out).prompts
