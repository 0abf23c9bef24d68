"""A README-like text as its rendered pages show it: what a reader sees and copies (helpers tpl35, tpl36).

Red team round 34: the earlier "page" readings were partial transformations of the raw text (``entity_decoded``:
HTML tags stripped then references decoded, returned only when decoding added openers beyond the tag-stripped
text; ``markdown_rendered``: backslash escapes removed, HTML kept), each a guess at one step of rendering. A Jinja
opener split by an empty inline element (``{<b></b>{``, ``{<!-- -->%``) and a JSON config that is JSON only as
shown (a GFM cell's ``\\|``, ``&quot;`` in a ``<pre>``) fell between them. Here the page is rendered to HTML and
an HTML5 parser turns that HTML into the displayed text: tags and comments removed, character references decoded,
backslash escapes removed by the renderer, a cell's ``\\|`` shown as ``|``, fenced and indented code verbatim.
Nothing is rendered as a template.

Red team round 35 (helper tpl36): one renderer is one reading, and each host renders differently (HTML5 comment
endings Python's ``html.parser`` does not end a comment at; GitHub's tag filter, which shows a ``<script>``'s
content as HTML; GFM strikethrough, ``{~~{~~`` shown as ``{{``; a ``.html`` file read as Markdown, which no browser
does). So a page has every host's reading (:func:`page_views`), each judged, and the HTML step is an HTML5 parser
(lexbor, through selectolax: the tree a browser builds, comments, raw-text and RCDATA elements included):
- a Markdown page: as GitHub renders it (GFM: CommonMark, tables, strikethrough with one or two tildes, the tag
  filter of "disallowed raw HTML") and as plain CommonMark with tables (Hugging Face and other hosts, whose
  sanitizers drop ``<script>``/``<style>`` with their content);
- an HTML page (``.html``, ``.htm``, ``.xhtml``): the document as a browser parses it, no Markdown.

Each view keeps each block at (or after) the line it starts on in the source, so a finding in it names a source
line. It also lists the units a reader copies whole from the page (:class:`PageUnit`): the text of each ``<pre>``,
``<code>``, ``<textarea>``, ``<kbd>``, ``<samp>``, ``<tt>``, ``<xmp>``, ``<listing>``, ``<plaintext>`` element
(fences and code spans render as such), each table cell, and each block (a paragraph, a heading, an HTML block),
with their offsets in the view.

Bounded: a text past MARKDOWN_PARSE_CHARS is not rendered (markdown-it with inline rules costs ~0.1 ms per line);
it gets a cheap superset instead (comments and tags removed, references decoded, backslash escapes removed, over
the whole text, no units), so that past the bound a page's hidden markup is still read, never silently dropped.
"""

from __future__ import annotations

import bisect
import functools
import html
import re
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from weightwarden.artifact.code_blocks import MARKDOWN_PARSE_CHARS, normalise_newlines

if TYPE_CHECKING:
    from selectolax.lexbor import LexborNode

# Elements whose text a reader copies whole (a browser shows their content; a "copy" button copies it). xmp,
# listing and plaintext are HTML's older preformatted elements (xmp and plaintext show their content as text).
_UNIT_ELEMENTS = frozenset({"pre", "code", "textarea", "kbd", "samp", "tt", "td", "th", "xmp", "listing",
                            "plaintext"})
_PREFORMATTED = frozenset({"pre", "code", "textarea", "xmp", "listing", "plaintext"})
# Elements whose content a browser does not show (its user agent style sheet hides them, or the content is never
# rendered: an iframe's text is its fallback for no browser in use). noscript is read (shown where scripts are off).
# head is walked (helper tpl38): it holds only these and title, whose text is read beside the attributes.
_HIDDEN_ELEMENTS = frozenset({"script", "style", "template", "title", "iframe", "noembed", "noframes"})
# GFM's "disallowed raw HTML" (the tag filter extension, https://github.github.com/gfm/#disallowed-raw-html-extension-):
# in raw HTML, the "<" of these start and end tags is written "&lt;", so the tag is shown as text and its content is
# parsed as HTML.
_GFM_FILTERED = re.compile(r"<(/?)((?:title|textarea|style|xmp|iframe|noembed|noframes|script|plaintext)(?=[\s/>]|$)"
                           r"[^<>]*>?)", re.I)
# An HTML5 parser drops ONE newline right after these start tags; the renderer's raw HTML gets a second one so that
# the content keeps its source line in the view (the unit then starts after that newline, as shown).
_LEADING_NEWLINE = re.compile(r"(<(?:pre|listing|textarea)(?:\s[^<>]*)?>)\n", re.I)
# cmark's source position of a block element ("line:col-line:col"); an attacker writing one in raw HTML only moves
# lines.
_SOURCEPOS = re.compile(r"(\d+):(\d+)-(\d+):(\d+)")
_FENCE_START = re.compile(r"[ \t>]*(?:[-+*]\s+|\d+[.)]\s+)*[ \t>]*(?:```|~~~)")
# Bounds of the units of one page (round 36 class M: nested <pre> elements, each running to the end of the page,
# held ~n²/2 characters): all units together hold at most this multiple of the page's displayed text (plus a base).
UNIT_CHARS_FACTOR = 8
UNIT_CHARS_BASE = 1 << 16

# The page kinds: a Markdown page (GitHub, Hugging Face and other hosts render it), an HTML page (a browser parses
# it), "" for a text shown as it is.
MARKDOWN = "markdown"
HTML = "html"
# Helper tpl38 (round 36 class J): a browser opens an .xhtml file with its XML parser (a CDATA section is text there,
# a bogus comment to an HTML5 parser); read both ways.
XHTML = "xhtml"
# The readings of each kind (see the module docstring).
_READINGS = {MARKDOWN: ("gfm", "commonmark"), HTML: ("html",), XHTML: ("html", "xml")}
# Helper tpl38 (round 36 class F): "hidden" means hidden in every browser setup. A browser parses <noscript> with
# the scripting flag on (its content raw text, hidden) or off (its content markup, shown); lexbor parses with it off.
# The scripting-on parse is the same tree with each noscript tag renamed "noframes": the one element an HTML5 parser
# treats as scripting-on noscript in every insertion mode (raw text, ended by its own end tag, hidden), same length.
_NOSCRIPT_TAG = re.compile(r"(</?)noscript(?=[\s/>]|$)", re.I)
_NOFRAMES_TAG = re.compile(r"</?noframes(?=[\s/>]|$)", re.I)
# Nested documents a page shows (an iframe's srcdoc, a data: URL in a frame, object or embed): read as pages of their
# own, at most this deep.
MAX_NESTED_DEPTH = 3
_DOCUMENT_URL_ATTRIBUTES = {"iframe": "src", "frame": "src", "object": "data", "embed": "src"}
# A data: URL's content may be percent- or base64-encoded: no "{" or "&" in the source (helper tpl38).
_DATA_URL_ANYWHERE = re.compile(r"data:", re.I)
_DATA_URL = re.compile(r"\s*data:([^,;]*)((?:;[^,;]*)*),", re.I | re.S)


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
    # Helper tpl37 (round 36 class M): why not every unit was read (a bound hit), "" when all were.
    bound: str = ""

    @property
    def spans(self) -> list[tuple[int, int]]:
        return sorted({(u.start, u.end) for u in self.units})

    @property
    def part_spans(self) -> list[tuple[int, int]]:
        """The units a part of the view is read within: all but the blocks (paragraphs) inside what a tag-filtered
        element holds on GitHub's page (kind ``filtered``), which are read as that run (helper tpl36)."""
        runs = [(u.start, u.end) for u in self.units if u.kind == "filtered"]
        return sorted({(u.start, u.end) for u in self.units
                       if u.kind != "block" or not any(a <= u.start and u.end <= b and (a, b) != (u.start, u.end)
                                                       for a, b in runs)})


# Names a host shows rendered as a page (Hugging Face and GitHub render Markdown; a browser renders HTML). Any other
# text (a .txt, a .jinja, a file with no suffix) is shown as it is: its page IS its raw text, which every other
# reading already reads (tried first for every text: the 88 real templates given as chat_template.txt got highs from
# the units of their Markdown rendering, which nobody sees: "<think>" inside a string is no element there).
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx")
HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".xht")
PAGE_SUFFIXES = MARKDOWN_SUFFIXES + HTML_SUFFIXES


def page_kind(name: str) -> str:
    """How a file of this name (a path, an archive member "a.zip!x/README.md") is shown: MARKDOWN, HTML or ""
    (shown as it is)."""
    base = name.rsplit("!", 1)[-1].rsplit("/", 1)[-1].lower()
    if base.endswith(MARKDOWN_SUFFIXES):
        return MARKDOWN
    if base.endswith((".xhtml", ".xht")):
        return XHTML
    return HTML if base.endswith(HTML_SUFFIXES) else ""


def is_page(name: str) -> str:
    """The page kind of ``name`` (:func:`page_kind`): truthy when the file is shown as a rendered page."""
    return page_kind(name)


def kind_of(page: bool | str) -> str:
    """A caller's ``page`` argument as a page kind (True, from callers that only knew "a page", is Markdown)."""
    if isinstance(page, str):
        return page if page in _READINGS else ""
    return MARKDOWN if page else ""


def page_view(text: str, kind: bool | str = MARKDOWN) -> PageView:
    """``text`` (any size; newlines normalised) as the first host of its kind shows it (a Markdown page as GitHub
    renders it). Callers bound ``text``."""
    return page_views(text, kind)[0]


def page_views(text: str, kind: bool | str = MARKDOWN) -> tuple[PageView, ...]:
    """``text`` as each host of its kind shows it, distinct views only (most pages read alike everywhere)."""
    text = normalise_newlines(text)
    kind = kind_of(kind) or MARKDOWN
    if len(text) > MARKDOWN_PARSE_CHARS:
        return (PageView(_superset(text), ()),)
    views: list[PageView] = []
    for reading in _READINGS[kind]:
        for view in _rendered(text, reading):
            if view not in views:
                views.append(view)
    return tuple(views)


@functools.lru_cache(maxsize=16)
def _rendered(text: str, reading: str) -> tuple[PageView, ...]:
    """Cached: one text is asked for by the sniffer, the reader and several parts of the rule (the views are
    immutable)."""
    if reading == "html":
        return _document_views(text, source=text, html_page=True)
    if reading == "xml":
        markup, error = _xml_as_html(text)
        if markup is None:
            return (PageView(_superset(text), (), f"the page is not readable as XML ({error}), as a browser opens "
                                                  "it: what it shows was not read"),)
        return _document_views(markup, source=text, html_page=True)
    # GitHub and Hugging Face show a card inside the body of their own page (never as a document of its own).
    return _document_views("<!DOCTYPE html><body><article>" + _cmark_html(text, reading), source=text,
                           html_page=False, filtered=reading == "gfm")


def _document_views(markup: str, source: str, html_page: bool, filtered: bool = False, depth: int = 0,
                    first_line: int = 1) -> tuple[PageView, ...]:
    """Helper tpl38 (round 36 class F): ``markup`` as every browser setup shows it: parsed with the scripting flag
    off (lexbor) and, when it holds a noscript tag, on; each with the attribute values a browser can show (a form
    field's value, a placeholder, an alt text, any attribute through CSS ``attr()``) as a view of their own, and the
    nested documents it shows (srcdoc, data: URLs) read as pages of their own."""
    settings = [markup]
    bound = ""
    if _NOSCRIPT_TAG.search(markup):
        if _NOFRAMES_TAG.search(markup):
            bound = ("the page holds both noscript and noframes tags: its scripting-on reading (noscript read as "
                     "noframes) is not exact")
        settings.append(_NOSCRIPT_TAG.sub(r"\1noframes", markup))
    views: list[PageView] = []
    for setting in settings:
        reader = _displayed(setting, source, html_page, filtered, first_line)
        for view in (reader.view(bound), reader.attribute_view()):
            if view is not None and view not in views:
                views.append(view)
        for line, kind, document in reader.documents:
            if depth >= MAX_NESTED_DEPTH:
                views.append(PageView("", (), f"documents nested deeper than {MAX_NESTED_DEPTH} (srcdoc, data: "
                                              "URLs) were not read"))
                break
            views.extend(v for v in _nested_views(document, kind, depth + 1, line) if v not in views)
    return tuple(views)


def _nested_views(document: str, kind: str, depth: int, line: int) -> tuple[PageView, ...]:
    """A nested document (srcdoc, a data: URL's content) as its browser shows it, placed at its element's line."""
    document = normalise_newlines(document)
    if kind == HTML:
        return _document_views(document, document, True, depth=depth, first_line=line)
    if kind == XHTML:
        markup, error = _xml_as_html(document)
        if markup is None:
            return (PageView("", (), f"a nested XML document is not readable ({error})"),)
        return _document_views(markup, document, True, depth=depth, first_line=line)
    # Any other type a frame shows as it is (text/plain ...): its text is one unit.
    text = "\n" * (line - 1) + document
    return (PageView(text, (PageUnit("document", line, document, line - 1, len(text)),)),)


def _cmark_html(text: str, reading: str) -> str:
    """Helper tpl37 (round 36, classes G, H, I): the page rendered by cmark-gfm itself, GitHub's own renderer (no
    imitation: strikethrough pairing, autolinks, entity-decoded autolink text, footnotes are GitHub's; the tag filter
    writes only "&lt;", no marker of ours is spliced into the page's HTML; no nesting bound drops content). Each block
    element carries its source line (``data-sourcepos``). GitHub: its extensions (tables, strikethrough, autolinks,
    the tag filter, task lists) and footnotes, raw HTML kept for the tag filter to escape as on GitHub. CommonMark
    hosts: CommonMark with tables (cmark is CommonMark's reference implementation)."""
    from cmarkgfm.cmark import Options, markdown_to_html_with_extensions

    options = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_SOURCEPOS
    if reading == "gfm":
        options |= Options.CMARK_OPT_FOOTNOTES | Options.CMARK_OPT_GITHUB_PRE_LANG
        extensions = ["table", "autolink", "tagfilter", "strikethrough", "tasklist"]
    else:
        extensions = ["table"]
    # An HTML5 parser drops ONE newline right after a <pre> start tag: raw HTML's gets a second one (code text's "<"
    # is written "&lt;", so only real tags match).
    return _LEADING_NEWLINE.sub("\\1\n\n", markdown_to_html_with_extensions(text, options=options,
                                                                        extensions=extensions))


def _displayed(markup: str, source: str, html_page: bool, filtered: bool = False, first_line: int = 1) -> _Displayed:
    """The displayed text of ``markup`` as an HTML5 parser builds its tree, each block padded to its source line
    (cmark's ``data-sourcepos``; for an HTML page, and raw HTML in a Markdown page, each text placed at or after the
    line where it is found in ``source``), and the units' offsets. ``filtered``: GitHub's tag filter applied (the
    runs it shows between a filtered element's tags are units)."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(markup)
    reader = _Displayed(source, html_page, filtered, first_line)
    root = tree.root
    top = root.parent if root is not None and root.parent is not None else root
    if top is not None:
        reader.walk(top)
    return reader


class _Displayed:
    """The displayed text of a parsed document, each block padded to its source line, and the units' offsets."""

    def __init__(self, source: str, html_page: bool, filtered: bool, first_line: int = 1) -> None:
        self.out: list[str] = []
        self.size = 0  # characters in out
        self.line = 1  # line of the view where the next character goes
        self.base = first_line - 1  # a nested document starts at its element's line
        self.attributes: list[tuple[int, str]] = []  # (line, value) of attribute values holding a "{"
        self.documents: list[tuple[int, str, str]] = []  # (line, kind, text) of the nested documents shown
        self.shadow_bound = ""
        self.open: dict[str, list[tuple[int, int]]] = {}  # element name -> (start offset, first line) stack
        self.spans: list[tuple[str, int, int, int]] = []  # (kind, start, end, first line)
        self.block: tuple[int, int] | None = None  # the current block's (start offset, first line)
        self.source = source
        self.html_page = html_page
        self.filtered = filtered
        self.cursor = 0  # where in ``source`` the last text was found
        self.line_starts: list[int] | None = None
        if self.base:
            self._write("\n" * self.base)

    def walk(self, top: LexborNode) -> None:
        """Depth first, without recursion (an attacker nests elements deeper than Python's stack); a declarative
        shadow root's template is walked into its content (a fragment outside the tree)."""
        stack: list[LexborNode] = []
        node = top
        while True:
            if self._enter(node):
                first = self._first_child(node)
                if first is not None:
                    stack.append(node)
                    node = first
                    continue
            while True:
                if not stack:
                    return
                if node.next is not None:
                    node = node.next
                    break
                node = stack.pop()
                if node.is_element_node:
                    self._leave(node)

    @staticmethod
    def _first_child(node: LexborNode) -> LexborNode | None:
        if node.is_element_node and node.tag == "template":
            fragments = node.template_fragments()
            return fragments[0].child if fragments else None
        return node.child

    def _enter(self, node: LexborNode) -> bool:
        """Handle a node on the way down; whether to walk into its children."""
        if node.is_comment_node:
            return False
        if node.is_text_node:
            self._data(node.text_content or "", node.parent.tag if node.parent is not None else "")
            return False
        if not node.is_element_node:
            return True
        tag = node.tag or ""
        self._attributes(node, tag)
        if tag == "template" and _shadow_root(node):
            # Round 36 F2: a declarative shadow root is shown (Chromium 111+, Firefox 123+, Safari 16.4+) in place
            # of the host's children. Its content is read in place; a host whose shadow root composes its light
            # children (slots) or hides them is not modelled: reported.
            if not self.shadow_bound and _composes(node):
                self.shadow_bound = ("a declarative shadow root (<template shadowrootmode>) composes or hides its "
                                     "host's other content: how the page shows it is not modelled")
            return True
        if tag == "title":
            # RCDATA (references decoded), hidden by the user agent style sheet but shown by the page's own CSS
            # (title{display:block}) and in the window title: its text is read as a unit beside the attributes.
            text = node.text(deep=True) or ""
            if "{" in text:
                self.attributes.append((self.line, text))
        if tag in _HIDDEN_ELEMENTS:
            return False
        if tag in ("td", "th") and node.child is not None and self.out and not self.out[-1].endswith("\n"):
            self._write("\t")  # cells of a row, as a copy of the row shows them
        if not self.html_page and "data-sourcepos" in node.attrs:
            self._mark(node, tag)
        if tag in _UNIT_ELEMENTS and node.child is not None:  # an empty element is no unit
            self.open.setdefault(tag, []).append((self.size, self.line))
        return True

    def _leave(self, node: LexborNode) -> None:
        tag = node.tag or ""
        self._close(tag)
        if not self.html_page and "data-sourcepos" in node.attrs:
            self._end_block()  # text after a block (raw HTML) is a block of its own
            found = _SOURCEPOS.match(node.attrs.get("data-sourcepos") or "")
            starts = self._line_starts()
            if found is not None and 0 < int(found.group(3)) < len(starts):
                self.cursor = max(self.cursor, starts[int(found.group(3))])  # raw HTML after it is found after it

    def _close(self, tag: str) -> None:
        if (tag in _UNIT_ELEMENTS or tag == "filtered") and self.open.get(tag):
            start, line = self.open[tag].pop()
            self._add("cell" if tag in ("td", "th") else tag, start, line)

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

    def _mark(self, node: LexborNode, tag: str) -> None:
        """A block element of the rendering: a new block, padded to its source line (a fence's body starts on the
        line after its opener)."""
        self._end_block()
        found = _SOURCEPOS.match(node.attrs.get("data-sourcepos") or "")
        if found is not None:
            target, column = int(found.group(1)), int(found.group(2))
            starts = self._line_starts()
            if 0 < target <= len(starts):
                self.cursor = max(self.cursor, starts[target - 1])
                if tag == "pre" and _FENCE_START.match(self.source, starts[target - 1] + max(column - 1, 0)):
                    target += 1
            if target > self.line:
                self._write("\n" * (target - self.line))
        self.block = (self.size, self.line)

    def _line_starts(self) -> list[int]:
        if self.line_starts is None:
            self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.source)]
        return self.line_starts

    def _data(self, data: str, parent: str) -> None:
        if data.strip() and (self.html_page or self.block is None):
            # An HTML page, or raw HTML between a Markdown page's blocks: placed at its source line, a block of its own.
            self._place(data)
            if self.block is None and not self.html_page:
                self.block = (self.size, self.line)
        # Whitespace between block tags ("</td>\n<td>", "</p>\n") is not shown; dropped, it does not move the
        # view's lines past the source's (the marks pad each block to its source line). Kept in <pre> and code.
        if data.strip() or "\n" not in data or self._preformatted():
            if self.filtered and "<" in data and not self._preformatted():
                self._filtered_runs(data)
            else:
                self._write(data)
        elif self.html_page and self.out and not self.out[-1].endswith("\n"):
            self._write("\n")  # an HTML page has no marks: its blocks stay on lines of their own

    def _filtered_runs(self, data: str) -> None:
        """Helper tpl37 (round 36 class I): what an element GitHub's tag filter shows as text holds (its tags shown
        as text around it: a reader sees where it starts and ends and copies it whole) is a unit, found in the
        shown text (cmark-gfm writes only "&lt;"; no marker is spliced into the page's HTML)."""
        at = 0
        for match in _GFM_FILTERED.finditer(data):
            if match.group(1):
                self._write(data[at:match.end()])
                self._close("filtered")
                at = match.end()
            else:
                self._write(data[at:match.start()])
                self.open.setdefault("filtered", []).append((self.size, self.line))
                at = match.start()
        self._write(data[at:])

    def _place(self, data: str) -> None:
        """An HTML page has no marks: a text is put at the line where its first line is found in the source (after
        the previous text's), when that is further down (a text written with references is not found: it stays)."""
        lead = len(data) - len(data.lstrip())
        first = data.lstrip().split("\n", 1)[0].rstrip()
        at = self.source.find(first, self.cursor)
        if at < 0:
            return
        self.cursor = at
        target = self.base + self.source.count("\n", 0, at) + 1 - data.count("\n", 0, lead)
        if target > self.line:
            before = self.size
            self._write("\n" * (target - self.line))
            for stack in self.open.values():  # an element opened right before this text starts where it is put
                stack[:] = [(self.size, self.line) if start == before else (start, line) for start, line in stack]

    def _preformatted(self) -> bool:
        return any(self.open.get(tag) for tag in _PREFORMATTED)

    def _attributes(self, node: LexborNode, tag: str) -> None:
        """Round 36 F3/F4: attribute values a browser can show (a field's value, a placeholder, alt text; any value
        through CSS ``attr()``) when they could hold Jinja markup, and the nested documents an element shows."""
        attrs = node.attrs
        if not attrs:
            return
        for name, value in attrs.items():
            if not value or name == "data-sourcepos":
                continue
            if "{" in value:
                self.attributes.append((self.line, value))
            if name == "srcdoc" and tag == "iframe":
                self.documents.append((self.line, HTML, value))
            elif name == _DOCUMENT_URL_ATTRIBUTES.get(tag):
                document = _data_url(value)
                if document is not None:
                    self.documents.append((self.line, *document))

    def attribute_view(self) -> PageView | None:
        """The attribute values read (:meth:`_attributes`), each at (or after) its element's line, each a unit."""
        if not self.attributes:
            return None
        out: list[str] = []
        size = 0
        line = 1
        units = []
        for first_line, value in self.attributes:
            value = normalise_newlines(value)
            pad = "\n" * max(first_line - line, 1 if out else 0)
            out.append(pad)
            size += len(pad)
            line += len(pad)
            units.append(PageUnit("attribute", line, value, size, size + len(value)))
            out.append(value)
            size += len(value)
            line += value.count("\n")
        return PageView("".join(out), tuple(units))

    def view(self, bound: str = "") -> PageView:
        bound = bound or self.shadow_bound
        self._end_block()
        for tag, stack in self.open.items():  # an element never closed runs to the end of the page
            for start, line in stack:
                self._add("cell" if tag in ("td", "th") else tag, start, line)
        text = "".join(self.out)
        # Round 36 class M: no unit is copied before it is known to show something (the shown characters' offsets,
        # searched), and all units together hold at most UNIT_CHARS_FACTOR times the text: past that the page is
        # reported (PageView.bound), never read in part silently.
        shown = array("l", (m.start() for m in re.finditer(r"\S", text)))
        cap = UNIT_CHARS_FACTOR * len(text) + UNIT_CHARS_BASE
        spans = []
        for kind, start, end, first_line in self.spans:
            if kind in ("pre", "listing", "textarea") and text.startswith("\n", start):
                # An HTML5 parser drops the newline right after the start tag: the unit starts after it.
                start, first_line = start + 1, first_line + 1
            i = bisect.bisect_left(shown, start)
            if i < len(shown) and shown[i] < end:
                spans.append((start, -end, kind, first_line))
        spans.sort()
        units: list[PageUnit] = []
        held = 0
        for start, neg_end, kind, first_line in spans:
            held += -neg_end - start
            if held > cap:
                bound = (f"the page's {len(spans):,} units (elements nested in each other) hold more than "
                         f"{UNIT_CHARS_FACTOR} times its {len(text):,} characters: the page is too complex to read "
                         f"unit by unit, units past the first {len(units):,} were not read")
                break
            units.append(PageUnit(kind, first_line, text[start:-neg_end], start, -neg_end))
        return PageView(text, tuple(units), bound)


def _shadow_root(node: LexborNode) -> bool:
    attrs = node.attrs
    return node.parent is not None and node.parent.is_element_node and (
        "shadowrootmode" in attrs or "shadowroot" in attrs)


def _composes(template: LexborNode) -> bool:
    """Whether a shadow root's host shows anything but the root's content as read in place: a slot in the root, or
    other content of the host (hidden by the root unless slotted)."""
    fragments = template.template_fragments()
    if fragments and any(n.tag == "slot" for n in fragments[0].traverse()):
        return True
    host = template.parent
    child = host.child if host is not None else None
    while child is not None:
        if child.mem_id != template.mem_id and not (child.is_text_node and not (child.text_content or "").strip()) \
                and not child.is_comment_node:
            return True
        child = child.next
    return False


def _data_url(value: str) -> tuple[str, str] | None:
    """(kind, text) of a ``data:`` URL's document (HTML, XHTML for XML types, "" for a text shown as it is)."""
    import base64
    from urllib.parse import unquote_to_bytes

    found = _DATA_URL.match(value)
    if found is None:
        return None
    media = found.group(1).strip().lower()
    body = value[found.end():]
    raw = unquote_to_bytes(body)
    if "base64" in found.group(2).lower():
        try:
            raw = base64.b64decode(b"".join(raw.split()), validate=False)
        except ValueError:
            return (HTML, body)
    text = raw.decode("utf-8", "replace")
    if media in ("", "text/html"):
        return (HTML if media else "", text)
    if "xml" in media:
        return (XHTML, text)
    return ("", text)


def _xml_as_html(text: str) -> tuple[str | None, str]:
    """Helper tpl38 (round 36 class J): an XML page as a browser's XML parser reads it, written out as HTML that
    lexbor reads alike (text and CDATA escaped, every element closed, raw-text elements that XML reads as markup
    renamed, prefixes dropped). No entity is declared or loaded: a DTD internal subset or an entity declaration
    fails the reading (billion laughs), as does any XML error — (None, why): the caller reports it."""
    import xml.parsers.expat

    out: list[str] = []

    def refuse(*_args: object) -> None:
        raise ValueError("entity or DTD declarations are not read")

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(":", 1)[-1].lower()
        local = _XML_RENAMED.get(local, local)
        written = "".join(f' {k.rsplit(":", 1)[-1]}="{html.escape(v)}"' for k, v in attrs.items())
        out.append(f"<{local}{written}>" + ("\n" if local in ("pre", "listing", "textarea") else ""))

    def end(name: str) -> None:
        local = name.rsplit(":", 1)[-1].lower()
        out.append(f"</{_XML_RENAMED.get(local, local)}>")

    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.StartDoctypeDeclHandler = lambda _n, _s, _p, internal: refuse() if internal else None
    parser.ExternalEntityRefHandler = lambda *_a: refuse()
    parser.SkippedEntityHandler = lambda *_a: refuse()  # an entity of an external DTD: not loaded, not known
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = lambda data: out.append(html.escape(data, quote=False))
    try:
        parser.Parse(text, True)
    except (xml.parsers.expat.ExpatError, ValueError) as exc:
        return None, str(exc)
    return "<!DOCTYPE html>" + "".join(out), ""


# Elements an HTML5 parser reads as raw text or RCDATA, whose children XML reads as markup: written as elements that
# show their children (noscript is shown: superset). script, style, title, template stay hidden. Table parts: an
# HTML5 parser moves text out of a table (foster parenting), XML keeps it in place: written as elements that keep
# the order (cells stay units).
_XML_RENAMED = {"xmp": "pre", "plaintext": "pre", "listing": "pre", "textarea": "pre", "noscript": "div",
                "noembed": "div", "noframes": "div", "iframe": "div", "html": "div", "head": "div", "body": "div",
                "table": "div", "tbody": "div", "thead": "div", "tfoot": "div", "tr": "div", "caption": "div",
                "colgroup": "div", "col": "span", "td": "samp", "th": "samp", "frameset": "div", "frame": "iframe"}


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


def shows_markup(text: str, kind: bool | str = MARKDOWN) -> bool:
    """Whether a rendered page of ``text`` (any host's reading of its kind) shows a ``{{``/``{%`` tag Jinja's lexer
    takes (what the sniffer and the reader ask of a text whose raw form shows none). Cheap test first: an opener on
    the page needs a ``{`` (or a character reference) in the source."""
    from weightwarden.artifact.sniff import has_jinja_markup

    if "{" not in text and "&" not in text and not _DATA_URL_ANYWHERE.search(text):
        return False
    # A view not read whole (a bound: an XML page with entity declarations, a shadow root that composes) may show
    # a tag that was not read: the page is taken as a template so that the bound is reported (fail closed).
    return any(has_jinja_markup(view.text) or view.bound for view in page_views(text, kind))


def shows_config(text: str, page: bool | str = MARKDOWN) -> bool:
    """Whether the raw text or (``page``: its kind) a rendered page of it holds a ``chat_template`` object key as
    JSON spells it (round 34 class B: ``&quot;`` in a ``<pre>``, a key split by inline HTML)."""
    from weightwarden.artifact.sniff import shows_config_key

    if shows_config_key(text):
        return True
    if not page or '"' not in text and "&" not in text:
        return False
    return any(shows_config_key(view.text) for view in page_views(text, page))


def displayed_fragment(fragment: str) -> str:
    """The text a browser shows for a piece of HTML (an element's raw content, a region of it): tags and comments
    removed, character references decoded, as an HTML5 parser reads it in a body (no Markdown: the content of an HTML
    block is not Markdown). Hidden elements' content is kept (a fragment is read as the element's content)."""
    if "<" not in fragment and "&" not in fragment:
        return fragment
    # A tag's text is asked for many times (each region holding it): small fragments are cached, large ones (an
    # element's whole content) are not kept alive by the cache.
    return _small_fragment(fragment) if len(fragment) <= _CACHED_FRAGMENT else _fragment(fragment)


_CACHED_FRAGMENT = 4096


@functools.lru_cache(maxsize=4096)
def _small_fragment(fragment: str) -> str:
    return _fragment(fragment)


def _fragment(fragment: str) -> str:
    from selectolax.lexbor import LexborHTMLParser

    body = LexborHTMLParser("<!DOCTYPE html><body><div>" + fragment).body
    if body is None:
        return ""
    out = [n.text_content or "" for n in body.traverse(include_text=True) if n.is_text_node]
    return "".join(out)
