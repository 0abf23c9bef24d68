"""Tolerant recovery of the template a host could render from a text that Jinja cannot parse as a whole.

Red team rounds 23-28 share one shape: the attacker puts a template where one of our extraction views does not look
(a codec, a markup construct, a line ending, an entity spelling) and adds a stray tag, so that the region we do look
at does not parse and passes as prose. Each view was fixed in turn; this is the backstop that does not depend on the
view. From any weak text holding a tag, the tags are lexed one by one with Jinja's own lexer (a tag it rejects is
dropped, the scan goes on after it), the block structure is balanced (an end tag without an opener is dropped, an
opener left open is closed where an enclosing end tag needs it, or at the end), and the result is a template that
parses and holds every tag a host could render from any part of the text. The template rule analyses it with the
normal analysis. Nothing here renders anything.

Fail closed: comments and ``{% raw %}`` markers are dropped and what they enclose is lexed (a stray ``{#`` in prose
must not hide a template behind it), and past the bounds below :class:`RecoveryBound` is raised (the rule reports
WW-TPL-002), never a partial "clean".
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from weightwarden.artifact.jinja_parsing import charge

# Characters past an opener searched for its closer: no tag of a real chat template is near this long (the largest
# template of shared/datasets/chat-templates is 16 KB in all).
MAX_TAG_CHARS = 64 * 1024
# Tags kept; past it the text is not recovered (fail closed). A model card holds tens; a hostile text is cut here.
MAX_RECOVERED_TAGS = 20_000
# Characters lexed in all, as a multiple of the text's length plus a constant: the per-opener work is bounded by
# MAX_TAG_CHARS * MAX_CLOSERS, this bounds the sum (an opener-dense text with far closers).
LEX_BUDGET_FACTOR = 8
LEX_BUDGET_BASE = 1024 * 1024

_OPENER = re.compile(r"\{[{%#]")
_TAG_NAME = re.compile(r"\{%[-+]?\s*([A-Za-z_][A-Za-z0-9_]*)")
# Statements that open a block and the end tag closing it (the analysis environment's: Jinja's plus loopcontrols'
# break/continue, which need a loop, and transformers' {% generation %}).
_BLOCKS = {
    "for": "endfor", "if": "endif", "macro": "endmacro", "call": "endcall", "filter": "endfilter",
    "with": "endwith", "block": "endblock", "autoescape": "endautoescape", "trans": "endtrans",
    "generation": "endgeneration", "set": "endset",
}
_ENDS = {end: start for start, end in _BLOCKS.items()}
# Tags valid only directly inside a given block.
_MIDDLE = {"elif": ("if",), "else": ("if", "for"), "pluralize": ("trans",)}
_IN_LOOP = ("break", "continue")
_DROPPED = ("raw", "endraw")


class RecoveryBound(Exception):
    """A bound of the recovery was hit: the text is not fully recovered (the caller fails closed)."""


@dataclass(frozen=True, slots=True)
class _Tag:
    text: str
    name: str  # the statement name of a {% %} tag, "" for {{ }}
    start: int = -1  # its offset in the (newline-normalised) text scanned


def recover_template(text: str) -> str | None:
    """The template a host could render from ``text``: every tag Jinja's lexer accepts, in order, with the block
    structure balanced; plain text between tags kept with its braces neutralised (so that the joined result lexes
    into the same tags) and the lines of dropped parts kept, so line numbers are the text's. None when no tag is
    found, or when the balanced result still does not parse even with every tag that does not parse on its own
    dropped. Raises :class:`RecoveryBound` past the bounds."""
    return recover(text)[0]


def recover(text: str) -> tuple[str | None, bool]:
    """:func:`recover_template`, and whether some tag of the text lexes and parses on its own (when False there is
    nothing to recover from any part of it either)."""
    recovered, some_tag, _kept = recover_with_spans(text)
    return recovered, some_tag


def recover_with_spans(text: str) -> tuple[str | None, bool, set[tuple[int, str]]]:
    """:func:`recover`, and the tags the recovered template holds, as (offset in the newline-normalised text, tag
    text): what its analysis covers (round 29: a part or code block whose tags are all among them is read alike)."""
    recovered, some_tag, kept = _recover_cached(text)
    return recovered, some_tag, set(kept)


@functools.lru_cache(maxsize=2)
def _recover_cached(text: str) -> tuple[str | None, bool, frozenset[tuple[int, str]]]:
    # The template rule asks for one text's recovery twice (the code-block cap's coverage, then the analysis).
    kept_spans: set[tuple[int, str]] = set()
    recovered, some_tag = _recover(text, kept_spans)
    return recovered, some_tag, frozenset(kept_spans)


def _recover(text: str, kept_spans: set[tuple[int, str]]) -> tuple[str | None, bool]:
    from weightwarden.artifact.jinja_parsing import parses

    pieces = _lex(normalise_newlines(text))
    if not any(isinstance(p, _Tag) for p in pieces):
        return None, False
    recovered = _balance(pieces, kept_spans)
    if parses(recovered):
        return recovered, True
    # Some tag lexes but cannot be parsed ("{{ 1 + }}", "{% if %}"): drop every tag that does not parse in a
    # minimal context, then balance again.
    kept = [p if not isinstance(p, _Tag) or _tag_parses(p) else "\n" * p.text.count("\n") for p in pieces]
    if not any(isinstance(p, _Tag) for p in kept):
        return None, False
    kept_spans.clear()
    recovered = _balance(kept, kept_spans)
    if parses(recovered):
        return recovered, True
    # Round 29: a parse error that only shows in context (a tag of a comment or raw body clashing with the rest) made
    # the whole None, and a None was skipped. Now the tag at which a prefix of the tags first stops parsing is
    # dropped, one at a time, until the rest parses (bounded: RecoveryBound past it, never None).
    return _drop_until_parses(kept, len(text), kept_spans), True


# Tags dropped one by one by :func:`_drop_until_parses`, and the characters it may parse (a multiple of the text's
# length plus a constant); past either, RecoveryBound (fail closed).
MAX_DROPPED_TAGS = 64
PARSE_BUDGET_FACTOR = 4
# Blocks open at once in the recovered template: Jinja's recursive parser fails far below Python's recursion limit
# on deeper nesting (about 240 here; a tutorial of 20 000 unclosed "{% if x %}" snippets), which no bisection can repair. Past it,
# RecoveryBound (a real chat template nests a few levels).
MAX_NESTING = 200


def _drop_until_parses(pieces: list[str | _Tag], length: int, kept_spans: set[tuple[int, str]]) -> str:
    """Drop the tag at which the balanced prefix of the tags first fails to parse (found by bisection on prefixes,
    tags only: plain text never changes a parse), then again, until the balanced whole parses."""
    from weightwarden.artifact.jinja_parsing import parses

    pieces = list(pieces)
    budget = PARSE_BUDGET_FACTOR * length + LEX_BUDGET_BASE
    tags = [i for i, p in enumerate(pieces) if isinstance(p, _Tag)]
    good = 0  # a prefix of this many tags parses
    for _dropped in range(MAX_DROPPED_TAGS + 1):
        kept_spans.clear()
        recovered = _balance(pieces, kept_spans)
        budget -= len(recovered)
        if parses(recovered):
            return recovered
        lo, hi = good, len(tags)  # prefix(lo) parses, prefix(hi) does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            prefix = _balance([pieces[i] for i in tags[:mid]])
            budget -= len(prefix)
            if budget < 0:
                raise RecoveryBound("more than the recovery's parse budget used to drop tags that do not parse")
            if parses(prefix):
                lo = mid
            else:
                hi = mid
        i = tags.pop(hi - 1)
        tag = pieces[i]
        pieces[i] = "\n" * tag.text.count("\n") if isinstance(tag, _Tag) else tag
        good = hi - 1
    raise RecoveryBound(f"more than {MAX_DROPPED_TAGS} tags that parse on their own but not with the others")


def tag_spans(text: str) -> set[tuple[int, str]]:
    """The tags the recovery's scan finds in ``text`` (newlines normalised), as (offset, tag text). Raises
    :class:`RecoveryBound` past the bounds."""
    return {(p.start, p.text) for p in _scan(normalise_newlines(text)) if isinstance(p, _Tag)}


@dataclass(frozen=True, slots=True)
class WholeReading:
    """How Jinja reads a text that parses as a whole (red team round 30): ``live`` are its tags as (offset, text),
    the ones a host rendering the whole renders; ``hidden`` are the openers ("{{", "{%") it does not take as tags
    (in a comment, a raw body, or a string literal of another tag), each as (offset, start, end) of the construct
    that hides it. Offsets are in the newline-normalised text."""

    live: frozenset[tuple[int, str]]
    hidden: tuple[tuple[int, int, int], ...]


_COMMENT_END = re.compile(r"#\}")
_ENDRAW_TAG = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_TAG_OPENER = re.compile(r"\{[{%]")


def whole_reading(text: str) -> WholeReading:
    """The whole reading of ``text`` (newlines normalised), for a text Jinja parses: comments run to the first "#}",
    a raw body to the first endraw tag, a tag to where Jinja's lexer ends it (as :func:`_tag_end`, which reads string
    literals). Unlike :func:`tag_spans` nothing is lexed inside a comment or raw body: a text that parses has no
    stray marker, and what they enclose is not a tag of the whole (a reader who copies a part of it is the caller's
    business). Raises :class:`RecoveryBound` past the lex and tag bounds of the recovery."""
    from weightwarden.artifact.sniff import _jinja_lexer

    text = normalise_newlines(text)
    lexer = _jinja_lexer()
    budget = LEX_BUDGET_FACTOR * len(text) + LEX_BUDGET_BASE
    live: set[tuple[int, str]] = set()
    constructs: list[tuple[int, int]] = []
    pos = 0
    while (m := _OPENER.search(text, pos)) is not None:
        p = m.start()
        if text[p + 1] == "#":
            close = _COMMENT_END.search(text, p + 2)
            end = close.end() if close else len(text)
        elif raw := _RAW_TAG.match(text, p):
            close = _ENDRAW_TAG.search(text, raw.end())
            end = close.end() if close else len(text)
        else:
            tag_end, cost = _tag_end(lexer, text, p)
            charge(cost // 4)
            budget -= cost
            if budget < 0:
                raise RecoveryBound(f"more than {LEX_BUDGET_FACTOR}x the text's length lexed")
            if tag_end is None:
                pos = p + 2  # not reached for a text that parses; such an opener renders as text
                continue
            end = tag_end
            live.add((p, text[p:end]))
            if len(live) > MAX_RECOVERED_TAGS:
                raise RecoveryBound(f"more than {MAX_RECOVERED_TAGS:,} tags")
        constructs.append((p, end))
        pos = end
    hidden = []
    for start, end in constructs:
        hidden += [(o.start(), start, end) for o in _TAG_OPENER.finditer(text, start + 1, end)]
    return WholeReading(frozenset(live), tuple(hidden))


# A tag with no expression: the recovery drops it only to balance the block structure.
_BARE_TAG = re.compile(r"\{%[-+]?\s*(?:end[a-z]+|else|break|continue)\s*[-+]?%\}\Z")


def reads_alike(part: str, start: int, kept: AbstractSet[tuple[int, str]], source: str | None = None) -> bool:
    """Whether every tag of ``part`` (a substring of a newline-normalised text at ``start``) that carries an
    expression and parses on its own is, at its place, a tag of the template recovered from the whole text (``kept``,
    from :func:`recover_with_spans`): then the whole's analysis saw it. Round 29: a part that a string literal of a
    prose tag swallowed in the whole reading is read otherwise. Raises :class:`RecoveryBound` past the bounds.

    Round 31: fails closed. A tag that does not parse in its minimal context is no proof that nothing is read (a
    block set the scan misnamed did not parse alone, yet rendered in its unit): the part is read alike only when
    neither the part as it is (what a host renders) nor its balanced form (what the recovery keeps first) parses,
    i.e. when the unit cannot render that tag and the recovery drops it. A bare end/else/break/continue tag is
    exempt: it carries no expression, and the block it closes is judged by its opener's tag."""
    from weightwarden.artifact.jinja_parsing import parses

    live = jinja_tags(part)
    if live is not None:
        # Round 32 (class 4): a part that parses renders what Jinja's lexer reads in it, and only that reading may
        # prove it covered. The recovery's lexing (comment bodies lexed, markers dropped) read
        # '{{ a }}{# {{ " #}PAYLOAD{# " }} #}' as two tags, the payload inside a string literal.
        return all(kept_at(t, start + at, kept, source) or _BARE_TAG.match(t.rstrip()) for at, t in live)
    pieces = list(_scan(part))
    broken = False
    for p in pieces:
        if not isinstance(p, _Tag) or (start + p.start, p.text) in kept or _BARE_TAG.match(p.text):
            continue
        if _tag_parses(p):
            return False
        broken = True
    return not broken or not (parses(part) or parses(_balance(pieces)))


_TRAILING_WS = re.compile(r"\s*")


def kept_at(tag: str, at: int, kept: AbstractSet[tuple[int, str]], source: str | None) -> bool:
    """Whether ``tag`` at offset ``at`` of ``source`` is in ``kept``; a tag that a part cut before the whitespace
    its "-%}" / "-}}" closer takes in the whole (Jinja's lexer gives that whitespace to the tag) is compared with
    that whitespace put back."""
    if (at, tag) in kept or (at, tag.rstrip()) in kept:  # (Jinja drops a source's last newline from its last tag)
        return True
    if source is None or not source.startswith(tag, at):
        return False
    ws = _TRAILING_WS.match(source, at + len(tag))
    return ws is not None and ws.end() > at + len(tag) and (at, source[at : ws.end()]) in kept


def expression_tags(part: str) -> frozenset[tuple[int, str]]:
    """The tags the recovery scans in ``part`` that carry an expression and parse on their own (what a recovery of
    the part analyses; bare end/else tags and tags that do not parse alone are dropped there), as (offset, text).
    Raises :class:`RecoveryBound` past the bounds."""
    return frozenset((p.start, p.text) for p in _scan(normalise_newlines(part))
                     if isinstance(p, _Tag) and not _BARE_TAG.match(p.text.rstrip()) and _tag_parses(p))


def jinja_tags(part: str) -> frozenset[tuple[int, str]] | None:
    """The live tags of ``part`` as Jinja reads it, as (offset in the newline-normalised part, text), when it parses
    on its own; else None. Raises :class:`RecoveryBound` past the bounds."""
    from weightwarden.artifact.jinja_parsing import parses

    return whole_reading(part).live if parses(part) else None


def recoverable_tag(text: str) -> bool:
    """Whether the recovery finds at least one tag in ``text`` that parses on its own (in a minimal context): the
    fallback of :func:`weightwarden.artifact.sniff.has_jinja_markup` when Jinja's lexer fails on the whole text
    before its first tag (a stray ``{#``, an unclosed ``{% raw %}``), or sees comments or raw blocks that may hide
    tags. Past the recovery's bounds: True (fail closed: the template rule then reports the bound)."""
    try:
        for piece in _scan(normalise_newlines(text)):
            if isinstance(piece, _Tag) and _tag_parses(piece):
                return True
    except RecoveryBound:
        return True
    return False


def normalise_newlines(text: str) -> str:
    """Jinja's lexer reads "\r\n" and "\r" as "\n" (offsets are counted on its view)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def tag_signature(text: str) -> tuple[object, ...] | None:
    """What the template analysis of ``text`` depends on: its tags in order (as the recovery lexes them) and its
    comment and raw markers (plain text between tags is output only). Two texts with one signature are analysed
    alike (used to analyse one of several decode views that differ only in their plain text). None past the
    recovery's bounds (then nothing is taken as equal)."""
    try:
        tags = tuple(p.text for p in _scan(normalise_newlines(text)) if isinstance(p, _Tag))
    except RecoveryBound:
        return None
    return tags, text.count("{#"), text.count("#}"), len(_RAW_TAG.findall(text))


def _lex(text: str) -> list[str | _Tag]:
    return list(_scan(text))


def _scan(text: str) -> Iterator[str | _Tag]:
    from weightwarden.artifact.sniff import _jinja_lexer

    lexer = _jinja_lexer()
    budget = LEX_BUDGET_FACTOR * len(text) + LEX_BUDGET_BASE
    tags = 0
    pos = 0
    data_from = 0
    while True:
        m = _OPENER.search(text, pos)
        if m is None:
            break
        p = m.start()
        kind = text[p + 1]
        if kind == "#":
            # A comment marker: dropped, its body lexed (fail closed; see the module docstring).
            yield _neutral(text[data_from:p])
            data_from = pos = p + 2
            continue
        if kind == "%" and (raw := _RAW_TAG.match(text, p)):
            # A raw marker: dropped, what it encloses lexed (fail closed; see the module docstring).
            yield _neutral(text[data_from:p])
            data_from = pos = raw.end()
            continue
        end, cost = _tag_end(lexer, text, p)
        charge(cost // 4)
        budget -= cost
        if budget < 0:
            raise RecoveryBound(f"more than {LEX_BUDGET_FACTOR}x the text's length lexed")
        if end is None:
            # Jinja's lexer rejects this opener: it is dropped (its braces neutralised in the data around it).
            pos = p + 2
            continue
        tag = text[p:end]
        name_m = _TAG_NAME.match(tag) if kind == "%" else None
        name = name_m.group(1) if name_m else ""
        yield _neutral(text[data_from:p])
        if name in _DROPPED:
            yield "\n" * tag.count("\n")
        else:
            if name == "set":
                name = _set_form(tag)
            yield _Tag(tag, name, p)
            tags += 1
            if tags > MAX_RECOVERED_TAGS:
                raise RecoveryBound(f"more than {MAX_RECOVERED_TAGS:,} tags")
        data_from = pos = end
    yield _neutral(text[data_from:])


def _neutral(data: str) -> str:
    """Plain text between tags, unable to form or join a tag once the pieces are joined (rendered output only)."""
    return data.replace("{", "(")


# The answers of :func:`may_hold_tag`.
NO_TAG, CUT_TAG, WHOLE_TAG = 0, 1, 2


def may_hold_tag(text: str) -> int:
    """WHOLE_TAG when ``text`` (a window of a larger text) holds a tag that lexes and parses on its own, else CUT_TAG
    when the window's end may have cut a tag (the lexer reached the end of the window inside it, or inside a
    string literal), else NO_TAG. Used to decide cheaply, window by window, whether a large decoded view must be
    decoded and searched whole. Past the bounds: WHOLE_TAG (fail closed)."""
    from weightwarden.artifact.sniff import _jinja_lexer

    lexer = _jinja_lexer()
    text = normalise_newlines(text)  # offsets are counted on the lexer's view
    budget = LEX_BUDGET_FACTOR * len(text) + LEX_BUDGET_BASE
    answer = NO_TAG
    for m in _OPENER.finditer(text):
        p = m.start()
        if text[p + 1] == "#":
            continue
        try:
            end, cost = _tag_end(lexer, text, p, cut_is_open=True)
        except RecoveryBound:
            return WHOLE_TAG  # a tag longer than MAX_TAG_CHARS (round 29: it was "no tag")
        budget -= cost
        if budget < 0:
            return WHOLE_TAG
        if end == -1:
            answer = CUT_TAG
        elif end is not None and _tag_parses(_Tag(text[p:end], _name(text[p:end]))):
            return WHOLE_TAG
    return answer


def _name(tag: str) -> str:
    m = _TAG_NAME.match(tag)
    name = m.group(1) if m else ""
    return _set_form(tag) if name == "set" else name


@functools.lru_cache(maxsize=4096)
def _set_form(tag: str) -> str:
    """"set=" for an assignment ``{% set x = ... %}`` (opens no block), "set" for a block set ``{% set x %}`` /
    ``{% set x | f(...) %}`` (closed by endset). Red team round 31: decided by Jinja's own parser, not by an "=" in
    the tag's text: a block set whose filter arguments hold "=" (``{% set x | replace('=', PAYLOAD) %}``) was taken
    for an assignment, did not parse alone, and was read as nothing. Jinja's parser reads the target(s) and takes
    the assignment exactly when "=" follows them: the tag alone parses as an assignment, or with an endset after
    it as a block. A tag that parses neither way is broken either way ("set=": its own minimal context, alone)."""
    from weightwarden.artifact.jinja_parsing import parses

    if parses(tag):
        return "set="
    return "set" if parses(tag + "{% endset %}") else "set="


def _tag_end(lexer: object, text: str, p: int, cut_is_open: bool = False) -> tuple[int | None, int]:
    """Where the tag opened at ``p`` ends by Jinja's lexer (the lengths of its raw token values add up to the
    source, newlines normalised), or None when the lexer rejects it; and the characters lexed (what the lexer consumed:
    round 29, charging each opener its whole first window gave a benign text of many short tags WW-TPL-002). The lexer is given a
    window of _FIRST_WINDOW characters, extended past the next closer ("}}" or "%}"; none within MAX_TAG_CHARS: no tag)
    (at least doubling) only while the failure can be the window's cut: the end of the window reached inside the
    tag, or a string literal the window cut (then past where Jinja's string rule closes it). A failure anywhere else
    is the tag's own. With ``cut_is_open``, a tag the text's end may cut gives -1 (undecided). A tag that
    MAX_TAG_CHARS cuts (its string or its closer lies past it) raises RecoveryBound: round 29, a 70 000-character
    string literal made the tag "rejected by the lexer" and it was dropped."""
    closer = "}}" if text[p + 1] == "{" else "%}"
    bound = min(len(text), p + MAX_TAG_CHARS)
    closers = _closer_positions(text, closer)
    undecided = -1 if cut_is_open and bound == len(text) else None
    # The first window is short: most openers that are no tag fail within a few characters (prose, random bytes).
    window = _FIRST_WINDOW
    cost = 0
    while True:
        src = text[p : p + window]
        consumed = 0
        failed = False
        try:
            for _line, token, value in lexer.tokeniter(src, None):  # type: ignore[attr-defined]
                consumed += len(value)
                if token in ("variable_end", "block_end"):
                    return p + consumed, cost + consumed + 2
        except Exception:  # noqa: BLE001 - Jinja's lexer rejects this reading (or the window cut it)
            failed = True
        cost += consumed + 2
        at_end = not failed or consumed >= len(src) - 2
        quote = failed and not at_end and src[consumed : consumed + 1] in "'\""
        if not (at_end or quote):
            return None, cost
        reach = p + window
        if quote:
            # Where the string ends decides (Jinja's string rule on the text itself), not a blind growth.
            closed = _STRING_RE.match(text, p + consumed, bound)
            if closed is None:
                if bound < len(text) and _STRING_RE.match(text, p + consumed):
                    raise RecoveryBound(f"a tag longer than {MAX_TAG_CHARS:,} characters (its string literal)")
                return undecided, cost
            reach = max(reach, closed.end())
        i = bisect.bisect_left(closers, max(reach - 1, p + 2))
        nxt = closers[i] if i < len(closers) and closers[i] + 2 <= bound else -1
        if nxt < 0:
            if bound < len(text) and i < len(closers):
                raise RecoveryBound(f"a tag longer than {MAX_TAG_CHARS:,} characters")
            return undecided, cost
        window = max(2 * window, nxt + 2 - p)


_FIRST_WINDOW = 256


@functools.lru_cache(maxsize=4)
def _closer_positions(text: str, closer: str) -> list[int]:
    """Every position of ``closer`` in ``text``, once per text (the next closer after a point is a bisection: a
    str.find per opener rescanned up to MAX_TAG_CHARS each time)."""
    return [m.start() for m in re.finditer(re.escape(closer[0]) + "(?=" + re.escape(closer[1]) + ")", text)]
# Jinja's string rule (lexer.string_re): a quoted literal with backslash escapes, any character inside.
_STRING_RE = re.compile(r"('([^'\\]*(?:\\.[^'\\]*)*)'|\"([^\"\\]*(?:\\.[^\"\\]*)*)\")", re.S)
_RAW_TAG = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")


def _tag_parses(tag: _Tag) -> bool:
    return _parses_alone(tag.text, tag.name)


@functools.lru_cache(maxsize=4096)
def _parses_alone(text: str, name: str) -> bool:
    # Cached by text: a page repeats its tags ("{{ x }}" a thousand times), and parts are checked again.
    from weightwarden.artifact.jinja_parsing import parses

    tag = _Tag(text, name)
    if name in _BLOCKS:
        return parses(f"{tag.text}{{% {_BLOCKS[name]} %}}")
    if name in _ENDS:
        return parses(f"{{% {_ENDS[name]} x %}}{tag.text}" if name == "endset" else
                      f"{{% {_ENDS[name]} {_HEADS.get(_ENDS[name], '')} %}}{tag.text}")
    if name in _MIDDLE:
        block = _MIDDLE[name][0]
        return parses(f"{{% {block} {_HEADS.get(block, '')} %}}{tag.text}{{% {_BLOCKS[block]} %}}")
    if name in _IN_LOOP:
        return parses(f"{{% for x in y %}}{tag.text}{{% endfor %}}")
    return parses(tag.text)


# A minimal head for a synthetic opener, to check a middle or end tag in context.
_HEADS = {"for": "x in y", "if": "x", "macro": "m()", "call": "m()", "filter": "upper", "block": "b", "with": "",
          "autoescape": "true", "trans": "", "generation": "", "set": "x"}


def _balance(pieces: list[str | _Tag], kept_spans: set[tuple[int, str]] | None = None) -> str:
    """Join the pieces with the block structure balanced: an end tag with no matching opener open is dropped (its
    lines kept), one closing an opener under other open ones first closes those (where Jinja needs them closed), a
    middle tag outside its block is dropped, and openers still open at the end are closed there. Round 29: an end
    tag naming another block than the one it closes (``{% block a %}{% endblock b %}``, parses alone, fails in
    context) is dropped too."""
    out: list[str] = []
    stack: list[str] = []
    labels: list[str] = []  # the name after each open opener ("a" for {% block a %})
    closed_else: set[int] = set()  # depths whose block has had its {% else %} (nothing but the end may follow)
    for piece in pieces:
        if not isinstance(piece, _Tag):
            out.append(piece)
            continue
        name = piece.name
        if name in _BLOCKS:
            stack.append(name)
            labels.append(_label(piece.text))
            if len(stack) > MAX_NESTING:
                raise RecoveryBound(f"blocks nested more than {MAX_NESTING} deep")
        elif name in _ENDS:
            opener = _ENDS[name]
            label = _label(piece.text)
            inner = len(stack) - 1 - stack[::-1].index(opener) if opener in stack else -1
            if inner < 0 or (label and label != labels[inner]):
                out.append("\n" * piece.text.count("\n"))
                continue
            while stack[-1] != opener:
                closed_else.discard(len(stack))
                labels.pop()
                out.append(f"{{% {_BLOCKS[stack.pop()]} %}}")
            closed_else.discard(len(stack))
            stack.pop()
            labels.pop()
        elif name in _MIDDLE:
            if not stack or stack[-1] not in _MIDDLE[name] or len(stack) in closed_else:
                out.append("\n" * piece.text.count("\n"))
                continue
            if name == "else":
                closed_else.add(len(stack))
        elif name in _IN_LOOP and "for" not in stack:
            out.append("\n" * piece.text.count("\n"))
            continue
        out.append(piece.text)
        if kept_spans is not None:
            kept_spans.add((piece.start, piece.text))
    out.extend(f"{{% {_BLOCKS[name]} %}}" for name in reversed(stack))
    return "".join(out)


_LABEL = re.compile(r"\{%[-+]?\s*[A-Za-z_][A-Za-z0-9_]*\s+([A-Za-z_][A-Za-z0-9_]*)")


def _label(tag: str) -> str:
    """The name following a statement's keyword ("a" in "{% block a %}" and "{% endblock a %}"), else ""."""
    m = _LABEL.match(tag)
    return m.group(1) if m else ""
