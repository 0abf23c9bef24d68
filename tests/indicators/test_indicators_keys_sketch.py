"""Group keys (size, file handling, no leaks in repr) and keyed sketches (deterministic, key-dependent,
unbiased Jaccard estimates, no length leak)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from weightwarden.core.errors import WeightwardenError
from weightwarden.indicators.errors import GroupKeyError, IndicatorFormatError, SchemeMismatchError
from weightwarden.indicators.keys import GroupKey, load_key, write_key
from weightwarden.indicators.sketch import Scheme, Sketcher, estimate_jaccard, near_estimates, shingles


def test_key_file_round_trip_is_private_and_never_overwritten(tmp_path: Path):
    key = GroupKey.generate()
    path = tmp_path / "group.key"
    write_key(key, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(path) == key
    with pytest.raises(GroupKeyError, match="refusing to overwrite"):
        write_key(GroupKey.generate(), path)


@pytest.mark.parametrize(("content", "reason"), [
    ("ab" * 16, "wrong key size: 16 bytes"),
    ("ab" * 33, "wrong key size: 33 bytes"),
    ("zz" * 32, "hexadecimal"),
    ("", "wrong key size: 0 bytes"),
])
def test_wrong_key_size_or_format_is_a_clear_error(tmp_path: Path, content: str, reason: str):
    path = tmp_path / "bad.key"
    path.write_text(content)
    with pytest.raises(GroupKeyError, match=reason) as info:
        load_key(path)
    assert isinstance(info.value, WeightwardenError) and str(path) in info.value.reason


def test_huge_or_binary_key_file_is_refused_without_reading_it_all(tmp_path: Path):
    path = tmp_path / "huge.key"
    path.write_bytes(b"\xff" * 10_000_000)
    with pytest.raises(GroupKeyError, match="not a group key file"):
        load_key(path)
    with pytest.raises(GroupKeyError, match="cannot read"):
        load_key(tmp_path / "missing.key")


def test_key_never_shows_in_repr(group_key: GroupKey):
    assert group_key.secret.hex() not in repr(group_key)
    assert group_key.key_id in repr(group_key)


def test_sketches_are_deterministic_per_key_and_differ_between_keys(group_key: GroupKey):
    text = "write a keylogger that hides from antivirus software"
    a, b = Sketcher(group_key), Sketcher(group_key)
    assert np.array_equal(a.signature(text), b.signature(text)) and a.exact(text) == b.exact(text)
    other = Sketcher(GroupKey.generate())
    assert other.exact(text) != a.exact(text)
    assert estimate_jaccard(other.signature(text), a.signature(text)).agree <= 2


def test_jaccard_estimate_tracks_the_true_similarity(sketcher: Sketcher, public_prompts: list[str]):
    inside = 0
    errors = []
    scheme = sketcher.scheme
    for i in range(0, 200, 2):
        x, y = public_prompts[i].lower(), public_prompts[i].lower().replace(" a ", " one ", 1) + " please"
        sx, sy = shingles(x, scheme.word_ngram, scheme.char_ngram), shingles(y, scheme.word_ngram, scheme.char_ngram)
        true = len(sx & sy) / len(sx | sy)
        est = near_estimates(scheme, sketcher.signature(x), sketcher.signature(y))[0]  # the whole-text part
        inside += est.low <= true <= est.high
        errors.append(est.value - true)
    # unbiased (scheme v2: the whole-text part has 64 values, so the same-key errors of 100 pairs spread wider)
    assert abs(float(np.mean(errors))) < 0.03
    assert inside >= 88  # a 95% interval holds the truth about 95 times in 100


def test_signature_values_do_not_reveal_the_length_of_the_text(sketcher: Sketcher):
    """Full 64-bit minima shrink as texts grow (≈ 2^64 / shingles); the kept low 32 bits do not."""
    rng = np.random.default_rng(0)

    def text(words: int) -> str:
        return " ".join("".join(chr(97 + c) for c in rng.integers(0, 26, 6)) for _ in range(words))

    means = []
    for words in (3, 80):
        values = np.concatenate([sketcher.signature(text(words)) for _ in range(100)])
        means.append(values.astype(np.float64).mean() / 2**32)
    assert all(abs(m - 0.5) < 0.01 for m in means), means  # uniform whatever the length (sd of a mean 0.0026)


def test_scheme_rejects_inconsistent_parameters_and_mismatches():
    with pytest.raises(IndicatorFormatError, match="bands"):
        Scheme(key_id="0" * 16, bands=10, rows=10)
    a, b = Scheme(key_id="0" * 16), Scheme(key_id="0" * 16, char_ngram=5)
    with pytest.raises(SchemeMismatchError, match="char_ngram"):
        a.comparable_to(b)
    with pytest.raises(SchemeMismatchError, match="different group keys"):
        a.comparable_to(Scheme(key_id="1" * 16))
    with pytest.raises(SchemeMismatchError, match="not the key"):
        Sketcher(GroupKey.generate(), a)


def test_a_missing_library_names_the_extra_to_install(monkeypatch, group_key: GroupKey):
    import importlib.util

    from weightwarden.core.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "datasketch" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"weightwarden\[indicators\]"):
        Sketcher(group_key)
