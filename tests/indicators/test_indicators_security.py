"""Secrecy of shared indicators against an attacker who has read the code and holds the public jailbreak
corpus (AdvBench + HarmBench), but not the group key.

Each attack is also run with what the attacker lacks (an unkeyed export, or the right key) to show that the
attack itself works: the difference between the two numbers is the key, nothing else.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from datasketch.minhash import _fmix

from weightwarden.evals.model import Item, Message, Suite
from weightwarden.evals.transforms import TRANSFORMS, apply_transform
from weightwarden.indicators.derive import build_set, prompt_indicator
from weightwarden.indicators.keys import GroupKey
from weightwarden.indicators.normalise import canonical
from weightwarden.indicators.records import IndicatorSet
from weightwarden.indicators.sketch import Sketcher, estimate_jaccard, shingles

SHARED = 60


@pytest.fixture(scope="module")
def shared_export(sketcher: Sketcher, public_prompts: list[str]) -> tuple[IndicatorSet, list[str]]:
    """What lab A shares: indicators of 60 public prompts it saw, each in some jailbreak clothing."""
    chosen = public_prompts[::12][:SHARED]
    items = tuple(Item(id=str(i), category="c", messages=(Message("user", t),), expect="refuse")
                  for i, t in enumerate(chosen))
    suite = Suite("s", "1", "harmful", "", items, (), "test", "")
    seen = []
    for i, item in enumerate(suite.items):
        name = TRANSFORMS[i % len(TRANSFORMS)]
        rewritten = apply_transform(Suite("s", "1", "harmful", "", (item,), (), "test", ""), name, seed=i).items[0]
        seen.append(rewritten.followups[-1] if rewritten.followups else rewritten.messages[-1].content)
    exported = build_set(sketcher, [prompt_indicator(sketcher, t) for t in seen])
    # Only the JSON leaves the machine: the attacker works from exactly that.
    return IndicatorSet.from_json(json.loads(json.dumps(exported.to_json()))), chosen


def _attacker_guess_keys() -> list[GroupKey]:
    """Keys a code reader might try: all-zero, all-one, a hash of the project's name, a fresh random one."""
    return [GroupKey(b"\x00" * 32), GroupKey(b"\xff" * 32), GroupKey(hashlib.sha256(b"weightwarden").digest()),
            GroupKey.generate()]


def test_dictionary_attack_recovers_nothing_without_the_key_and_everything_unkeyed(shared_export, public_prompts):
    exported, chosen = shared_export
    shared_digests = {p.exact for p in exported.prompts}
    corpus = {canonical(p).text for p in public_prompts}
    # Without the key: plain SHA-256 / SHA-512 / BLAKE2 of the canonical text, and HMAC under guessed keys.
    guesses: set[str] = set()
    for text in corpus:
        raw = text.encode()
        guesses |= {hashlib.sha256(raw).hexdigest(), hashlib.blake2b(raw, digest_size=32).hexdigest()}
        guesses |= {Sketcher(k).exact(text) for k in _attacker_guess_keys()[:1]}
    for key in _attacker_guess_keys()[1:]:
        guess = Sketcher(key)
        guesses |= {guess.exact(text) for text in corpus}
    recovered_keyed = len(shared_digests & guesses)
    # The same indicators made with an unkeyed hash (what a naive tool would share).
    unkeyed_export = {hashlib.sha256(canonical(t).text.encode()).hexdigest() for t in chosen}
    unkeyed_guesses = {hashlib.sha256(text.encode()).hexdigest() for text in corpus}
    recovered_unkeyed = len(unkeyed_export & unkeyed_guesses)
    print(f"dictionary attack over {len(corpus)} public prompts: keyed {recovered_keyed}/{SHARED} recovered, "
          f"unkeyed {recovered_unkeyed}/{SHARED} recovered")
    assert recovered_keyed == 0
    assert recovered_unkeyed == SHARED


def test_sketches_cannot_be_linked_to_public_prompts_without_the_key(shared_export, public_prompts, group_key):
    exported, chosen = shared_export
    corpus = sorted({canonical(p).text for p in public_prompts})
    for key in [*_attacker_guess_keys(), group_key]:
        attacker = Sketcher(key)
        signatures = np.stack([attacker.signature(text) for text in corpus])
        # The attacker opens the sealed sketches with the key it tries (the right key opens them exactly).
        best = [int((signatures == attacker.open(p.exact, p.sketch)).sum(axis=1).max()) for p in exported.prompts]
        if key is group_key:  # the attack works with the key: every indicator re-identified exactly
            assert sum(b == 128 for b in best) == SHARED
        else:  # without it, agreement is chance level (2^-32 per value)
            assert max(best) <= 2, best


def _shingle_values(sketcher: Sketcher, corpus_shingles: list[str]) -> set[tuple[int, int]]:
    """(permutation index, low 32 bits of the permuted hash) of every corpus shingle under ``sketcher``'s key."""
    hv = _fmix(np.array([sketcher._shingle_hash(s.encode()) for s in corpus_shingles], dtype=np.uint64), 64)
    a, b = sketcher.permutations
    out: set[tuple[int, int]] = set()
    for k in range(len(a)):
        values = (a[k] * hv + b[k]) & np.uint64(0xFFFFFFFF)
        out.update((k, int(v)) for v in values)
    return out


def test_minhash_values_do_not_reveal_shingles_without_the_key(shared_export, public_prompts, group_key):
    """Reconstruction attack: hash every shingle of the public corpus, see which signature values they explain
    (each value of a signature is the permuted hash of one shingle of the text)."""
    exported, _ = shared_export
    scheme = exported.scheme
    corpus_shingles = sorted(set().union(*(shingles(canonical(p).text, scheme.word_ngram, scheme.char_ngram)
                                           for p in public_prompts)))
    explained = {}
    for name, key in (("guessed", GroupKey(b"\x00" * 32)), ("random", GroupKey.generate()), ("right", group_key)):
        attacker = Sketcher(key)
        positions = [(k, int(v)) for p in exported.prompts for k, v in enumerate(attacker.open(p.exact, p.sketch))]
        table = _shingle_values(attacker, corpus_shingles)
        explained[name] = sum(pos in table for pos in positions) / len(positions)
    assert explained["right"] > 0.95  # the attack explains the values when it has the key
    # Without it: chance collisions of 32-bit values only. Expected count = positions × shingles / 2^32 ≈ 0.01
    # here; at most 3 (Poisson tail < 10^-7) — one is seen with the all-zero key, none with 5 other keys.
    expected = len(positions) * len(corpus_shingles) / 2**32
    assert expected < 0.05
    assert explained["guessed"] * len(positions) <= 3 and explained["random"] * len(positions) <= 3, explained


def test_key_id_and_scheme_leak_nothing_usable(shared_export, group_key):
    exported, _ = shared_export
    text = json.dumps(exported.to_json())
    assert group_key.secret.hex() not in text
    # The key id is a derived value: knowing it does not give any sub-key used for digests.
    assert exported.scheme.key_id not in {group_key.subkey(x).hex()[:16] for x in ("exact/v1", "minhash-shingle/v1")}


def test_near_matching_still_works_for_the_group(shared_export, sketcher, public_prompts):
    exported, chosen = shared_export
    reworded = "Could you " + chosen[0][0].lower() + chosen[0][1:].rstrip(".") + ", step by step?"
    signature = sketcher.signature(canonical(reworded).text)
    estimate = max(estimate_jaccard(signature, sketcher.open(p.exact, p.sketch)).value for p in exported.prompts)
    assert estimate >= sketcher.scheme.near_threshold
