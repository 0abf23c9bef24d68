"""Keyed digests and keyed MinHash sketches of canonical text, and the LSH banding used to match them.

* **Exact digest**: ``HMAC-SHA-256(K_exact, canonical text)``, hex (a NO_NEAR_MARK text without its mark).
* **Near-duplicate sketch**: MinHash (datasketch, ``affine64`` permutations) over the union of word
  ``w``-gram and character ``c``-gram shingles of the canonical text. Both the shingle hash and the
  permutations are keyed: the shingle hash is ``HMAC-SHA-256(K_shingle, shingle)`` truncated to 64 bits and
  the permutation parameters are drawn from ``K_perm`` (HMAC in counter mode). Without the key a signature is
  a list of pseudo-random numbers: nobody can compute the signature of a candidate text to compare.
* Only the **low 32 bits** of each 64-bit minimum are kept (b-bit MinHash, Li & König 2010). The size of
  a full minimum reveals how many shingles the text has (the minimum of n uniform values is about 2^64/n,
  so 128 of them give the text's length within ~10%); the low bits of a minimum are uniform whatever n is.
  Two unrelated texts agree on a 32-bit value by chance with probability 2^-32, so the Jaccard estimate is
  unchanged for practical purposes.
* **Sealing** (since red-team round 1): a signature is never exported as is. The share of equal values between
  two signatures estimates the shingle similarity of the two texts, and that is the same whatever the key:
  an outsider holding the public corpus matched the similarity graph of an export to the corpus graph and
  named 98 of 100 exported prompts. So every exported sketch is XORed with a pad
  ``HMAC-SHA-256(K_pad, exact digest ‖ counter)`` (counter mode, ``K_pad`` = sub-key ``sketch-pad/v2``): the
  pad is different for every indicator (the exact digest is its nonce, and two indicators share an exact
  digest only when their texts are equal, and then their sketches are equal too — or when one is the other
  marked NO_NEAR_MARK, whose sketch is a MinHash of one whole-text shingle: its values equal the other's only by
  chance, so the shared pad shows no similarity), so equal values of two
  sketches no longer line up and an outsider sees uniformly random bytes. Key holders remove the pad
  (:meth:`Sketcher.open`), which is exact, and match as before. :class:`PromptIndicator` holds the sealed
  form; only matching opens it.
* **Payload part** (scheme v2, red team round 24): the last ``payload_perm`` values of a signature are a MinHash
  of the shingles of the text's *payload* (:func:`.frame.payload_text`: the words left after removing a fixed list of
  instruction-frame and function words), the first ``num_perm - payload_perm`` of all its shingles. Short attacks
  share their frame ("give detailed instructions for how to ...") and a near match on all shingles alone matched
  unrelated attacks; a near match now needs both parts to agree (:func:`near_estimates`).
* **Word content** (red team round 27, class A): a canonical text whose tokens are mostly not words (an encoding
  not decoded, made of numbers: the digit leet fold turns decimal code points into a ~95-token "alphabet", "ioi" =
  101 = "e", that every such text shares in both parts) gets no near sketch: both parts are a MinHash of the one
  shingle "the whole text" (:func:`has_word_content`), so it matches only an equal text (exactly) and agrees with no
  other sketch beyond chance. A token is a word when it holds no digit and either a letter the leet fold never makes
  (not one of "aeiost") or is a frame word ("is", "to", "a"); at least half of the tokens must be words. The rule is a
  function of the canonical text, so both parties apply it alike; it came with normalisation ``canon/v7``. Red team
  round 28: a text that fails the share only through repetition (a prompt padded with one repeated number) is
  sketched over its words alone (:func:`near_sketch_text`), and a canonical text the normaliser marked
  (:data:`~weightwarden.indicators.normalise.NO_NEAR_MARK`: a long plain text beside a small decoded payload, an
  unknown template) gets no near sketch.
* **Banding**: the signature is cut into ``bands`` bands of ``rows`` values; two sketches are candidates
  when one band is equal (datasketch's :class:`~datasketch.MinHashLSH` with explicit parameters), then
  confirmed by the estimated Jaccard similarity ≥ ``near_threshold``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from weightwarden.core.errors import require_extra
from weightwarden.indicators.errors import IndicatorFormatError, SchemeMismatchError
from weightwarden.indicators.frame import FRAME_WORDS, PAYLOAD_FUNCTION, payload_text
from weightwarden.indicators.keys import GroupKey
from weightwarden.indicators.normalise import NO_NEAR_MARK, NORMALISATION

# v2 (red team round 24, class 1): the signature has a payload part (``payload``, ``payload_perm``) and a near
# match also needs ``payload_threshold`` on it. A v1 set is refused with a message: its sketches have no payload part.
SCHEME_SCHEMA = "weightwarden.indicator-scheme/v2"
SCHEME_SCHEMA_V1 = "weightwarden.indicator-scheme/v1"
# Match-time thresholds: not part of what shapes a sketch (the pad, PSI's scheme digest, comparable_to ignore them).
THRESHOLD_FIELDS = ("near_threshold", "payload_threshold")
Z95 = 1.959963984540054
SHINGLE_BATCH = 4096
# v3 (red team round 2, R11): the pad input starts with the digest of every sketch parameter. Under v2 the pad
# depended on the exact digest only, so one prompt sealed under two schemes (word_ngram 2 and 1) got the same
# pad, and the XOR of the two exports was the XOR of two signatures: a key-free similarity estimate.
SEAL = "hmac-sha256-ctr-pad/v3"
PAD_LABEL = "sketch-pad/v3"


_KEY_ID = re.compile(r"[0-9a-f]{16}")
SKETCH_FUNCTION = "keyed-minhash-affine64-low32"
EXACT_FUNCTION = "hmac-sha256"
# What this package can produce; anything else in a set's scheme is refused (the seal has its own messages).
_KNOWN_STRINGS: dict[str, frozenset[str]] = {
    "normalisation": frozenset({NORMALISATION}), "exact": frozenset({EXACT_FUNCTION}),
    "sketch": frozenset({SKETCH_FUNCTION}), "seal": frozenset({SEAL}), "payload": frozenset({PAYLOAD_FUNCTION}),
}
# Inclusive bounds. datasketch's LSH needs at least 2 bands; 1024 permutations is 8× the default and already
# far past the point where more permutations change the estimate's usefulness (benchmarks/indicator_matching).
SCHEME_INT_RANGES: dict[str, tuple[int, int]] = {
    "num_perm": (16, 1024), "word_ngram": (1, 8), "char_ngram": (1, 16), "bands": (2, 512), "rows": (1, 64),
    "payload_perm": (8, 512),
}
MIN_WHOLE_PERM = 8  # values left for the whole-text part: num_perm - payload_perm


@dataclass(frozen=True)
class Scheme:
    """Everything two parties must share for their indicators to be comparable (the key excepted)."""

    key_id: str
    normalisation: str = NORMALISATION
    exact: str = EXACT_FUNCTION
    sketch: str = SKETCH_FUNCTION  # the sketch function; exported sketches are sealed (SEAL)
    seal: str = SEAL
    num_perm: int = 128
    word_ngram: int = 2
    char_ngram: int = 3
    bands: int = 64
    rows: int = 2
    near_threshold: float = 0.35
    payload: str = PAYLOAD_FUNCTION  # which words are frame (frame.py); the payload part's shingles are the rest
    # the last payload_perm values of a signature are the payload part; None: half of num_perm (64 of the default 128)
    payload_perm: int = None  # type: ignore[assignment]
    payload_threshold: float = 0.35  # a near match also needs this estimated Jaccard on the payload part

    def __post_init__(self) -> None:
        # Red team round 5 (class 1): every field is checked against what this package produces, not only its
        # type: the raw prompt put into `normalisation` or `sketch` (or encoded as a 4300-digit `word_ngram`)
        # left through every "digests only" export, STIX bundle, import and incident attachment. Strings must
        # be the known constants, key_id 16 lower-case hex, integers in small ranges (class 4 too: bands=1 or
        # negative bands × rows passed bands × rows = num_perm and crashed datasketch in `match`).
        if self.payload_perm is None and isinstance(self.num_perm, int):
            object.__setattr__(self, "payload_perm", self.num_perm // 2)
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise IndicatorFormatError("invalid indicator scheme: key_id must be 16 lower-case hex characters")
        for field, known in _KNOWN_STRINGS.items():
            if getattr(self, field) not in known and field != "seal":
                raise IndicatorFormatError(
                    f"invalid indicator scheme: unknown {field} (known: {', '.join(sorted(known))})")
        for field, (low, high) in SCHEME_INT_RANGES.items():
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise IndicatorFormatError(
                    f"invalid indicator scheme: {field} must be an integer from {low} to {high}")
        if self.bands * self.rows != self.num_perm:
            raise IndicatorFormatError(
                f"invalid indicator scheme: bands × rows ({self.bands} × {self.rows}) must equal num_perm "
                f"({self.num_perm})"
            )
        if self.num_perm - self.payload_perm < MIN_WHOLE_PERM:
            raise IndicatorFormatError(
                f"invalid indicator scheme: payload_perm ({self.payload_perm}) must leave at least {MIN_WHOLE_PERM} "
                f"of num_perm ({self.num_perm}) to the whole-text part")
        for field in THRESHOLD_FIELDS:
            value = getattr(self, field)
            if not 0.0 < value <= 1.0 or round(value, 3) != value:
                # at most 3 decimals: a threshold is a tuning choice, and 53 free mantissa bits are a covert channel
                raise IndicatorFormatError(f"invalid indicator scheme: {field} {value} (a number in (0, 1] with at "
                                           "most 3 decimals)")
        if self.seal == "hmac-sha256-ctr-pad/v2":
            raise IndicatorFormatError(
                "this indicator set was sealed by an older weightwarden whose pad did not depend on the sketch "
                "parameters (red team round 2): re-derive it from the evidence")
        if self.seal != SEAL:
            raise IndicatorFormatError(f"invalid indicator scheme: unknown sketch seal {self.seal!r} (known: {SEAL})")

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEME_SCHEMA, **asdict(self)}

    def sketch_digest(self) -> bytes:
        """SHA-256 of every parameter that shapes a sealed sketch (all but the match-time near threshold): the
        first input of the pad, so that no two schemes share a pad."""
        params = {k: v for k, v in self.to_json().items() if k not in THRESHOLD_FIELDS}
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).digest()

    @property
    def whole_perm(self) -> int:
        """How many values of a signature are the whole-text part (the first ones)."""
        return self.num_perm - self.payload_perm

    @classmethod
    def from_json(cls, data: Any, where: str) -> Scheme:
        if isinstance(data, dict) and data.get("schema") == SCHEME_SCHEMA_V1:
            raise IndicatorFormatError(
                f"{where}: this indicator set uses the older scheme {SCHEME_SCHEMA_V1}, whose near sketch matched "
                "unrelated attacks through their shared instruction frame (red team round 24); it has no payload "
                f"part and cannot be compared with {SCHEME_SCHEMA} sets: re-derive it from the evidence")
        if not isinstance(data, dict) or data.get("schema") != SCHEME_SCHEMA:
            raise IndicatorFormatError(f"{where}: missing or unknown indicator scheme (expected {SCHEME_SCHEMA})")
        if "seal" not in data:
            raise IndicatorFormatError(
                f"{where}: this indicator set was made by an older weightwarden whose sketches are not sealed (an "
                "outsider can de-anonymise them, red team round 1): re-derive it from the evidence")
        types = {"key_id": str, "normalisation": str, "exact": str, "sketch": str, "seal": str, "num_perm": int,
                 "word_ngram": int, "char_ngram": int, "bands": int, "rows": int, "near_threshold": (int, float),
                 "payload": str, "payload_perm": int, "payload_threshold": (int, float)}
        values: dict[str, Any] = {}
        for name, kind in types.items():
            value = data.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise IndicatorFormatError(f"{where}: scheme field {name!r} is missing or of the wrong type")
            values[name] = value
        try:
            return cls(**values)
        except IndicatorFormatError as exc:
            raise IndicatorFormatError(f"{where}: {exc.reason}") from None

    def comparable_to(self, other: Scheme) -> None:
        """Raise :class:`SchemeMismatchError` naming every difference that makes two sets incomparable."""
        if self.key_id != other.key_id:
            raise SchemeMismatchError(
                f"the two indicator sets were made with different group keys (key id {self.key_id} vs "
                f"{other.key_id}): keyed digests of different keys never match"
            )
        differ = [f"{k}: {v!r} vs {getattr(other, k)!r}" for k, v in asdict(self).items()
                  if k != "key_id" and k not in THRESHOLD_FIELDS and v != getattr(other, k)]
        if differ:
            raise SchemeMismatchError("the two indicator sets use different parameters: " + "; ".join(differ))


class Sketcher:
    """Computes exact digests and keyed MinHash signatures for one group key and scheme."""

    def __init__(self, key: GroupKey, scheme: Scheme | None = None) -> None:
        require_extra("datasketch", extra="indicators", feature="keyed MinHash sketches")
        self.scheme = scheme or Scheme(key_id=key.key_id)
        if self.scheme.key_id != key.key_id:
            raise SchemeMismatchError(
                f"the group key (id {key.key_id}) is not the key of this indicator set (id {self.scheme.key_id})"
            )
        self.key = key  # signs the sets built with it (indicators.auth); GroupKey's repr never shows the secret
        self._exact_key = key.subkey("exact/v1")
        self._shingle_key = key.subkey("minhash-shingle/v1")
        self._model_key = key.subkey("model/v1")
        self._pad_key = key.subkey(PAD_LABEL)
        self._pad_scheme = self.scheme.sketch_digest()
        self.permutations = _permutations(key.subkey("minhash-permutations/v1"), self.scheme.num_perm)

    def exact(self, canonical_text: str) -> str:
        """The keyed exact digest. A text marked NO_NEAR_MARK is digested without the mark (red team round 29,
        class A): the mark only withholds the near sketch; with it in the digest a fully decoded copy inside a long
        wrapper no longer equalled the same text held plain (0/100 exact through the CLI)."""
        marked = canonical_text.startswith(NO_NEAR_MARK + " ")
        text = canonical_text[len(NO_NEAR_MARK) + 1:] if marked else canonical_text
        return hmac.new(self._exact_key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def model_digest(self, kind: str, value: str) -> str:
        """Keyed digest of a model identifier (weights root, file digest, fingerprint digest)."""
        return hmac.new(self._model_key, f"{kind}\n{value}".encode(), hashlib.sha256).hexdigest()

    def _shingle_hash(self, shingle: bytes) -> int:
        return int.from_bytes(hmac.new(self._shingle_key, shingle, hashlib.sha256).digest()[:8], "big")

    def signature(self, canonical_text: str) -> np.ndarray:
        """The keyed MinHash signature, low 32 bits (uint32 array of ``num_perm``): the first ``whole_perm`` values
        over all shingles of the text, the last ``payload_perm`` over the shingles of its payload; for a text without
        word content (:func:`has_word_content`) both over the whole text as one shingle (no near match)."""
        w, c = self.scheme.word_ngram, self.scheme.char_ngram
        items = shingles(canonical_text, w, c)
        if not items:
            raise ValueError("no shingles: the canonical text is empty")
        split = self.scheme.whole_perm
        near_text = near_sketch_text(canonical_text)
        if near_text is None:
            whole_text = {WHOLE_TEXT_PREFIX + canonical_text}
            return np.concatenate([self._minhash(whole_text, self.permutations[:, :split]),
                                   self._minhash(whole_text, self.permutations[:, split:])])
        if near_text != canonical_text:
            items = shingles(near_text, w, c)
            canonical_text = near_text
        whole = self._minhash(items, self.permutations[:, :split])
        payload = self._minhash(shingles(payload_text(canonical_text), w, c), self.permutations[:, split:])
        return np.concatenate([whole, payload])

    def _minhash(self, items: set[str], permutations: np.ndarray) -> np.ndarray:
        from datasketch import MinHash

        minhash = MinHash(num_perm=permutations.shape[1], hashfunc=self._shingle_hash,
                          permutations=np.ascontiguousarray(permutations), scheme="affine64")
        ordered = sorted(items)
        # datasketch builds a (shingles × num_perm) uint64 matrix per batch: bound it (4096 × 128 × 8 B = 4 MiB)
        # so that a 256 kB prompt cannot make it allocate half a gigabyte.
        for start in range(0, len(ordered), SHINGLE_BATCH):
            minhash.update_batch([s.encode("utf-8") for s in ordered[start : start + SHINGLE_BATCH]])
        return (minhash.hashvalues & np.uint64(0xFFFFFFFF)).astype(np.uint32)


    def seal(self, exact: str, signature: np.ndarray) -> np.ndarray:
        """The exported form of ``signature`` of the indicator with exact digest ``exact`` (see the module
        docstring); :meth:`open` is the same XOR, so ``open(exact, seal(exact, s)) == s`` exactly."""
        return np.bitwise_xor(signature.astype(np.uint32), sketch_pad(self._pad_key, exact, self.scheme.num_perm,
                                                                      self._pad_scheme))

    def open(self, exact: str, sealed: np.ndarray) -> np.ndarray:
        """The keyed MinHash signature inside an exported (sealed) sketch."""
        return self.seal(exact, sealed)


def sketch_pad(pad_key: bytes, exact: str, num_perm: int, scheme_digest: bytes) -> np.ndarray:
    """``num_perm`` uint32 of ``HMAC-SHA-256(pad_key, scheme digest ‖ exact digest ‖ counter)``, counter from 0
    (big-endian); ``scheme_digest``: :meth:`Scheme.sketch_digest` (32 bytes)."""
    try:
        nonce = scheme_digest + bytes.fromhex(exact)
    except ValueError:
        raise IndicatorFormatError(f"exact digest {exact[:80]!r} is not hexadecimal") from None
    need = 4 * num_perm
    stream = b"".join(hmac.digest(pad_key, nonce + struct.pack(">I", block), "sha256")
                      for block in range((need + 31) // 32))
    return np.frombuffer(stream[:need], dtype=">u4").astype(np.uint32)


def _permutations(key: bytes, count: int) -> np.ndarray:
    """``count`` affine permutation pairs (a odd, b) in uint64, expanded from ``key`` by HMAC in counter mode."""
    needed = 2 * count * 8
    stream = bytearray()
    block = 0
    while len(stream) < needed:
        stream += hmac.new(key, struct.pack(">I", block), hashlib.sha256).digest()
        block += 1
    values = np.frombuffer(bytes(stream[:needed]), dtype=">u8").astype(np.uint64)
    a = values[:count] | np.uint64(1)
    b = values[count:]
    return np.array([a, b])


# The letters the leet fold makes from digits (normalise: 4 3 1 0 5 7 -> a e i o s t): a token of these alone may be a
# number read as letters.
_FOLD_LETTERS = frozenset("aeiost")
WHOLE_TEXT_PREFIX = "t:"  # the one shingle of a text without word content (word shingles are "w:", characters "c:")


def _is_word(token: str) -> bool:
    return not any(ch.isdigit() for ch in token) and (
        token in FRAME_WORDS or any(ch.isalpha() and ch not in _FOLD_LETTERS for ch in token))


def has_word_content(canonical_text: str) -> bool:
    """Whether at least half of the tokens of ``canonical_text`` are words (see the module docstring, "Word content").
    Over the 1,920 ordinary prompts of XSTest, MITRE FRR, AdvBench and HarmBench the smallest share is above 0.5;
    decimal code points leet-folded ("8t iia ios ii6") and PyRIT's digit bijection have almost none."""
    tokens = canonical_text.split()
    return sum(map(_is_word, tokens)) * 2 >= len(tokens)


# Red team round 28 (class A): the share above was all-or-nothing over every token, so a copy of a real attack padded
# with one repeated number (" 2024" x words + 2) lost its near sketch (92/100 missed through the real CLI), while the
# same text sketched as usual still matched: a repeated token adds almost no shingles. Such a text is sketched over its
# words only (the padding dropped) when its DISTINCT words are at least as many as its distinct non-words (padding is
# cheap repetition; an undecoded number encoding holds many distinct numbers: a code point per letter) and enough words
# remain; else, as before, no near sketch. Texts of word content (every ordinary prompt) are sketched as before.
MIN_NEAR_WORDS = 3  # words a text sketched over its words only must keep ...
MIN_NEAR_LETTERS = 12  # ... and letters in them


def near_sketch_text(canonical_text: str) -> str | None:
    """What the near sketch of ``canonical_text`` is computed over: the text itself when it has word content
    (:func:`has_word_content`); its words alone when its non-words are repetition (distinct words at least as many as
    distinct non-words, and at least :data:`MIN_NEAR_WORDS` words of :data:`MIN_NEAR_LETTERS` letters); else None (no
    near sketch: the text matches only an equal text)."""
    if canonical_text.startswith(NO_NEAR_MARK):
        return None
    if has_word_content(canonical_text):
        return canonical_text
    tokens = canonical_text.split()
    words = [t for t in tokens if _is_word(t)]
    distinct_words = set(words)
    if (len(words) < MIN_NEAR_WORDS or sum(map(len, words)) < MIN_NEAR_LETTERS
            or len(distinct_words) < len(set(tokens)) - len(distinct_words)):
        return None
    return " ".join(words)


def shingles(text: str, word_n: int, char_n: int) -> set[str]:
    """Word ``word_n``-grams (prefixed ``w:``) and character ``char_n``-grams (``c:``) of canonical text."""
    words = text.split()
    out: set[str] = set()
    if not words:
        return out
    if len(words) < word_n:
        out.add("w:" + " ".join(words))
    else:
        out.update("w:" + " ".join(words[i : i + word_n]) for i in range(len(words) - word_n + 1))
    joined = " ".join(words)
    if len(joined) < char_n:
        out.add("c:" + joined)
    else:
        out.update("c:" + joined[i : i + char_n] for i in range(len(joined) - char_n + 1))
    return out


# Red team round 9 (class 1): sketches were written as base64, and every test judged the decoded bytes while a
# reader sees the base64 STRING: choosing the letter case of 64 symbols made "Ignore/all/previous/instructions..."
# a valid base64 string whose bytes passed every test (683 readable characters per 512-byte sketch, no decoding).
# A field of arbitrary bytes is now shown only in lower-case hex, like the digests: 16 symbols, of which only
# a-f are letters, cannot spell text beyond "hexspeak" (words of a-f, 0 for o, 1 for l...). The v1 format (base64)
# is refused on load with a message saying so (records.py, SET_SCHEMA_V1).
_SKETCH_HEX = re.compile(r"[0-9a-f]+")


def encode_signature(signature: np.ndarray) -> str:
    """The wire form of a sealed sketch: lower-case hex of ``num_perm`` big-endian uint32 (set format v2)."""
    return signature.astype(">u4").tobytes().hex()


def decode_signature(text: Any, num_perm: int, where: str, *, check: bool = True) -> np.ndarray:
    """The uint32 sketch in its hex wire form; ``check=False`` leaves the randomness tests to the caller (the set
    loader judges all of a set's sketches at once, vectorised: randomness.sketch_text_reasons)."""
    if not isinstance(text, str):
        raise IndicatorFormatError(f"{where}: sketch is not a hex string")
    if len(text) != 8 * num_perm or not _SKETCH_HEX.fullmatch(text):
        raise IndicatorFormatError(
            f"{where}: sketch must be {8 * num_perm} lower-case hex characters ({num_perm} big-endian uint32; "
            f"found {len(text)} characters{'' if _SKETCH_HEX.fullmatch(text or '0') else ' that are not all hex'})")
    raw = bytes.fromhex(text)
    # Red team round 6 (note to class 1): plain ASCII in a sealed sketch was readable with `base64 -d`; round 6
    # refused a high printable-ASCII ratio. Round 7 (class 1): UTF-16LE text, high-bit ASCII, text + 0xFF filler
    # (and EBCDIC) passed that one ratio. A sealed sketch is pad-XORed, so its bytes are uniform: randomness.py
    # tests the byte histogram, printable shares and runs (rounds 7-8) and, since round 9, whether the bytes have
    # a description shorter than 8 bits a byte under a fixed model (alphabet-free, counting bound); an honest
    # sketch fails with probability < 1e-9. Encrypted or encoded-to-look-random bytes remain undetectable
    # (docs/decisions.md, round 7).
    from weightwarden.indicators.randomness import sketch_text_reason

    reason = sketch_text_reason(raw) if check else None
    if reason is not None:
        raise IndicatorFormatError(f"{where}: sketch is not random-looking bytes: {reason} (refused: a sealed "
                                   "sketch would carry readable text)")
    return np.frombuffer(raw, dtype=">u4").astype(np.uint32)


@dataclass(frozen=True)
class JaccardEstimate:
    """Estimated Jaccard similarity from ``agree`` of ``k`` equal signature values, with a 95% interval."""

    value: float
    low: float
    high: float
    agree: int
    k: int


def estimate_jaccard(a: np.ndarray, b: np.ndarray) -> JaccardEstimate:
    """Fraction of equal values, with a Wilson score interval (each position agrees with probability J)."""
    k = int(a.shape[0])
    agree = int(np.count_nonzero(a == b))
    p = agree / k
    denom = 1 + Z95 * Z95 / k
    centre = (p + Z95 * Z95 / (2 * k)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / k + Z95 * Z95 / (4 * k * k)) / denom
    return JaccardEstimate(p, max(0.0, centre - half), min(1.0, centre + half), agree, k)


def near_estimates(scheme: Scheme, a: np.ndarray, b: np.ndarray) -> tuple[JaccardEstimate, JaccardEstimate]:
    """The estimated Jaccard similarity of two opened signatures on all shingles and on payload shingles."""
    split = scheme.whole_perm
    return estimate_jaccard(a[:split], b[:split]), estimate_jaccard(a[split:], b[split:])


def is_near(scheme: Scheme, whole: JaccardEstimate, payload: JaccardEstimate, threshold: float | None = None) -> bool:
    """A near match: the whole text at ``threshold`` (default the scheme's) AND the payload at its threshold."""
    tau = scheme.near_threshold if threshold is None else threshold
    return whole.value >= tau and payload.value >= scheme.payload_threshold


class BandIndex:
    """LSH index over signatures (datasketch :class:`MinHashLSH` with the scheme's bands × rows)."""

    def __init__(self, scheme: Scheme) -> None:
        require_extra("datasketch", extra="indicators", feature="near-duplicate matching")
        from datasketch import MinHashLSH

        self.scheme = scheme
        try:
            self._lsh = MinHashLSH(num_perm=scheme.num_perm, params=(scheme.bands, scheme.rows))
        except ValueError as exc:  # the scheme's ranges should make this unreachable: a clear error all the same
            raise IndicatorFormatError(f"indicator scheme bands × rows not usable for matching: {exc}") from None
        # Band keys only need equal values: one fixed, public permutation set serves every wrapped sketch.
        self._perms = np.array([np.ones(scheme.num_perm, dtype=np.uint64), np.zeros(scheme.num_perm, np.uint64)])

    def _wrap(self, signature: np.ndarray) -> Any:
        from datasketch import MinHash

        return MinHash(num_perm=self.scheme.num_perm, hashvalues=signature.astype(np.uint64),
                       permutations=self._perms, scheme="affine64")

    def insert(self, key: str, signature: np.ndarray) -> None:
        self._lsh.insert(key, self._wrap(signature), check_duplication=False)

    def query(self, signature: np.ndarray) -> list[str]:
        return sorted(self._lsh.query(self._wrap(signature)))


def insert_all(index: BandIndex, items: Iterable[tuple[str, np.ndarray]]) -> BandIndex:
    for key, signature in items:
        index.insert(key, signature)
    return index


def best_pairs(candidates: Sequence[tuple[str, str, JaccardEstimate]]) -> list[tuple[str, str, JaccardEstimate]]:
    """Candidate pairs sorted by estimated similarity, best first (stable for equal estimates)."""
    return sorted(candidates, key=lambda c: (-c[2].value, c[0], c[1]))
