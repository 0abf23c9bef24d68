"""A README-like text as its rendered page shows it: what a reader sees and copies (helper tpl35).

Red team round 34: the earlier "page" readings were partial transformations of the raw text (``entity_decoded``:
HTML tags stripped then references decoded, returned only when decoding added openers beyond the tag-stripped
text; ``markdown_rendered``: backslash escapes removed, HTML kept), each a guess at one step of rendering. A Jinja
opener split by an empty inline element (``{<b></b>{``, ``{<!-- -->%``) and a JSON config that is JSON only as
shown (a GFM cell's ``\\|``, ``&quot;`` in a ``<pre>``) fell between them. Here the page is rendered once, with the
project's Markdown parser (markdown-it-py: CommonMark with raw HTML, as GitHub and Hugging Face cards, plus GFM
tables), to HTML, and the standard library's HTML parser turns that HTML into the displayed text: tags and
comments removed, character references decoded, backslash escapes removed by the renderer, a cell's ``\\|`` shown
as ``|``, fenced and indented code verbatim. Nothing is rendered as a template.

The view keeps each block at (or after) the line it starts on in the source, so a finding in it names a source
line. It also lists the units a reader copies whole from the page (:class:`PageUnit`): the text of each ``<pre>``,
``<code>``, ``<textarea>``, ``<kbd>``, ``<samp>``, ``<tt>`` element (fences and code spans render as such), each
table cell, and each block (a paragraph, a heading, an HTML block), with their offsets in the view.

Bounded: a text past MARKDOWN_PARSE_CHARS is not rendered (markdown-it with inline rules costs ~0.1 ms per line);
it gets a cheap superset instead (comments and tags removed, references decoded, backslash escapes removed, over
the whole text, no units), so that past the bound a page's hidden markup is still read, never silently dropped.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from weightwarden.artifact.code_blocks import MARKDOWN_PARSE_CHARS, normalise_newlines

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# Elements whose text a reader copies whole (a browser shows their content; a "copy" button copies it).
_UNIT_ELEMENTS = frozenset({"pre", "code", "textarea", "kbd", "samp", "tt", "td", "th"})
# Elements whose content no page shows.
_HIDDEN_ELEMENTS = frozenset({"script", "style", "template"})
# Markdown's nesting bound (as code_blocks: an attacker may nest deeper than any card).
_MAX_NESTING = 200
# The source-line marker put before each block token (a name no page uses; an attacker writing it only moves lines).
_MARK = "ww-source-line-7f3a"


@dataclass(frozen=True, slots=True)
class PageUnit:
    """A unit of the page a reader copies whole: its kind (an element name, ``cell`` or ``block``), its first line
    in the source (1-based), its displayed text, and its (start, end) offsets in :attr:`PageView.text`."""

    kind: str
    first_line: int
    body: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PageView:
    """The displayed text of a page and its units (none for the superset of a text past the parse bound)."""

    text: str
    units: tuple[PageUnit, ...]

    @property
    def spans(self) -> list[tuple[int, int]]:
        return sorted({(u.start, u.end) for u in self.units})


# Names a host shows rendered as a page (Hugging Face and GitHub render Markdown; a browser renders HTML). Any other
# text (a .txt, a .jinja, a file with no suffix) is shown as it is: its page IS its raw text, which every other
# reading already reads (tried first for every text: the 88 real templates given as chat_template.txt got highs from
# the units of their Markdown rendering, which nobody sees: "<think>" inside a string is no element there).
PAGE_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx", ".html", ".htm", ".xhtml")


def is_page(name: str) -> bool:
    """Whether a file of this name (a path, an archive member "a.zip!x/README.md") is shown as a rendered page."""
    return name.rsplit("!", 1)[-1].rsplit("/", 1)[-1].lower().endswith(PAGE_SUFFIXES)


def page_view(text: str) -> PageView:
    """``text`` (any size; newlines normalised) as its rendered page shows it. Callers bound ``text``."""
    text = normalise_newlines(text)
    if len(text) > MARKDOWN_PARSE_CHARS:
        return PageView(_superset(text), ())
    return _rendered(text)


@functools.lru_cache(maxsize=8)
def _rendered(text: str) -> PageView:
    """Cached: one text is asked for by the sniffer, the reader and several parts of the rule (the view is
    immutable)."""
    from markdown_it.token import Token

    md = _parser()
    tokens = md.parse(text)
    marked: list[Token] = []
    for token in tokens:
        if token.map and token.nesting >= 0 and token.type != "inline":
            # The body of a fence starts on the line after its opener (rendered as <pre><code>BODY).
            line = token.map[0] + (2 if token.type == "fence" else 1)
            marker = Token("html_block", "", 0)
            marker.content = f"<{_MARK} data-l={line}></{_MARK}>"
            marked.append(marker)
        marked.append(token)
    reader = _Displayed()
    reader.feed(md.renderer.render(marked, md.options, {}))
    reader.close()
    return reader.view()


@functools.cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.options["maxNesting"] = _MAX_NESTING
    return md


class _Displayed(HTMLParser):
    """The displayed text of rendered HTML, each block padded to its source line, and the units' offsets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.size = 0  # characters in out
        self.line = 1  # line of the view where the next character goes
        self.open: dict[str, list[tuple[int, int]]] = {}  # element name -> (start offset, first line) stack
        self.spans: list[tuple[str, int, int, int]] = []  # (kind, start, end, first line)
        self.block: tuple[int, int] | None = None  # the current block's (start offset, first line)
        self.hidden = 0

    def _write(self, data: str) -> None:
        self.out.append(data)
        self.size += len(data)
        self.line += data.count("\n")

    def _end_block(self) -> None:
        if self.block is not None:
            self._add("block", *self.block)
        self.block = None

    def _add(self, kind: str, start: int, first_line: int) -> None:
        if start < self.size:
            self.spans.append((kind, start, self.size, first_line))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == _MARK:
            self._end_block()
            target = next((int(v) for k, v in attrs if k == "data-l" and v and v.isdigit()), self.line)
            if target > self.line:
                self._write("\n" * (target - self.line))
            self.block = (self.size, self.line)
        elif tag in _HIDDEN_ELEMENTS:
            self.hidden += 1
        elif tag in _UNIT_ELEMENTS:
            if tag == "textarea":
                # A browser reads a <textarea>'s content as text (RCDATA): markup in it is shown, not parsed.
                self.set_cdata_mode(tag)
            if tag in ("td", "th") and self.out and not self.out[-1].endswith("\n"):
                self._write("\t")  # cells of a row, as a copy of the row shows them
            self.open.setdefault(tag, []).append((self.size, self.line))

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_ELEMENTS:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in _UNIT_ELEMENTS and self.open.get(tag):
            start, line = self.open[tag].pop()
            self._add("cell" if tag in ("td", "th") else tag, start, line)

    def handle_data(self, data: str) -> None:
        if self.cdata_elem == "textarea":  # RCDATA: references decoded, our line markers are not the page's
            data = html.unescape(_MARKER_RE.sub("", data))
        # Whitespace between block tags ("</td>\n<td>", "</p>\n") is not shown; dropped, it does not move the
        # view's lines past the source's (the markers pad each block to its source line). Kept in <pre> and code.
        if not self.hidden and (data.strip() or "\n" not in data or self._preformatted()):
            self._write(data)

    def _preformatted(self) -> bool:
        return any(self.open.get(tag) for tag in ("pre", "textarea", "code"))

    def view(self) -> PageView:
        self._end_block()
        for tag, stack in self.open.items():  # an element never closed runs to the end of the page
            for start, line in stack:
                self._add("cell" if tag in ("td", "th") else tag, start, line)
        text = "".join(self.out)
        units = []
        for kind, start, end, first_line in self.spans:
            if kind == "pre" and text.startswith("\n", start):  # a browser drops the newline right after <pre>
                start, first_line = start + 1, first_line + 1
            if text[start:end].strip():
                units.append(PageUnit(kind, first_line, text[start:end], start, end))
        return PageView(text, tuple(sorted(units, key=lambda u: (u.start, -u.end))))


_MARKER_RE = re.compile(rf"</?{_MARK}[^>]*>")


# The superset past the parse bound: comments, then tags, removed; references decoded; backslash escapes removed.
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_ESCAPE_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


def _superset(text: str) -> str:
    return _ESCAPE_RE.sub(r"\1", html.unescape(_TAG_RE.sub("", _COMMENT_RE.sub("", text))))


def shows_other_tags(text: str, view: PageView) -> bool:
    """Whether the page shows other Jinja markup than the raw ``text`` (newlines normalised): a marker more or less
    (counted overlapping) or another set of tag texts as the recovery scans them (round 30: not a count, which an
    attacker balances). Only then is the view read besides the raw text: otherwise the raw readings read the same
    tags. Past the recovery's bounds: True (fail closed, the caller's recovery reports the bound)."""
    from weightwarden.artifact.code_blocks import _markers
    from weightwarden.artifact.recovery import RecoveryBound, tag_spans

    text = normalise_newlines(text)
    if view.text == text:
        return False
    shown = _markers(view.text)
    if shown != _markers(text):
        return True
    if not shown:
        return False
    try:
        return {t for _at, t in tag_spans(view.text)} != {t for _at, t in tag_spans(text)}
    except RecoveryBound:
        return True


def shows_markup(text: str) -> bool:
    """Whether the rendered page of ``text`` shows a ``{{``/``{%`` tag Jinja's lexer takes (what the sniffer and
    the reader ask of a text whose raw form shows none). Cheap test first: an opener on the page needs a ``{``
    (or a character reference) in the source."""
    from weightwarden.artifact.sniff import has_jinja_markup

    if "{" not in text and "&" not in text:
        return False
    return has_jinja_markup(page_view(text).text)


def shows_config(text: str, page: bool = True) -> bool:
    """Whether the raw text or (``page``) its rendered page holds a ``chat_template`` object key as JSON spells it (round 34
    class B: ``&quot;`` in a ``<pre>``, a key split by inline HTML)."""
    from weightwarden.artifact.sniff import shows_config_key

    if shows_config_key(text):
        return True
    if not page or '"' not in text and "&" not in text:
        return False
    return shows_config_key(page_view(text).text)


def displayed_fragment(fragment: str) -> str:
    """The text a browser shows for a piece of HTML (an element's raw content, a region of it): tags and comments
    removed, character references decoded (no Markdown: the content of an HTML block is not Markdown)."""
    if "<" not in fragment and "&" not in fragment:
        return fragment
    reader = _Fragment()
    reader.feed(fragment)
    reader.close()
    return "".join(reader.out)


class _Fragment(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_data(self, data: str) -> None:
        if self.cdata_elem == "textarea":  # RCDATA: references decoded, our line markers are not the page's
            data = html.unescape(_MARKER_RE.sub("", data))
        self.out.append(data)
