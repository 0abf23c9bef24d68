"""The code blocks of a text that a reader may copy out of it (into ``--chat-template``, a ``.jinja`` file).

Red team round 26: a hand-written fence regex was not CommonMark's. It missed fences inside list items (indented
4+ spaces) and blockquotes, paired an opener CommonMark refuses (a backtick in a backtick fence's info string) with
the next fence, so the real block fell between two pairs, and dropped an unclosed last block. The blocks are now
what a CommonMark parser (markdown-it-py, what GitHub and Hugging Face model cards follow) yields: fenced and
indented code blocks and HTML blocks, at any nesting of lists and blockquotes; an unclosed fence runs to the end of
its container. A host copying a region need not read Markdown, so the old line-based pairing (with an unclosed
last fence running to the end of the text) is kept too and both sets are returned (their union): where the two
disagree, each block either one sees is analysed.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    from weightwarden.artifact.page_view import PageView

# A fence line (``` or ~~~, up to 3 spaces of indent, any info string): the line-based pairing.
_FENCE_RE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*$", re.M)
# markdown-it's default nesting bound (20) leaves deeper containers untokenized; a model card does not nest this
# deep, an attacker may: the bound is raised (the parser's recursion is per nesting level, far under Python's limit).
_MAX_NESTING = 200
_BLOCK_TYPES = ("fence", "code_block", "html_block")
# The parser costs ~10-50 us per line (block rules only; measured on the shared 2-core machine): texts up to this
# many characters are parsed. A larger text (a vocabulary or merges file holding "{{" tokens that Jinja cannot
# parse) gets cheap line-based supersets instead: fences behind any indent or blockquote marks, and every run of
# indented lines, so that a block inside a container is still found (not CommonMark-exact, never fewer blocks).
MARKDOWN_PARSE_CHARS = 1024 * 1024
_LOOSE_FENCE_RE = re.compile(r"^[ \t>]*(`{3,}|~{3,})[^\n]*$", re.M)
_INDENTED_RUN_RE = re.compile(r"(?:^(?: {4}|\t)[^\n]*(?:\n|$))+", re.M)


# Container prefixes a renderer strips before a block's body: blockquote marks, list markers, indentation.
_PREFIX_RE = re.compile(r"^(?:[ \t]*(?:>|[-+*](?=[ \t])|\d{1,9}[.)](?=[ \t]|$)))*[ \t]*")
# Delimiter lines of other markups' code blocks (fences, AsciiDoc ---- / ...., org #+begin_src / #+end_src, reST
# directives and "::"): a region is also split at them.
_DELIMITER_RE = re.compile(r"^(?:`{3,}|~{3,}|-{4,}|\.{4,}|#\+(?:begin|end)_\w+|\.\. [\w:-]+::)|::$", re.I)


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """One code block: its first body line (1-based, in the whole text) and its body. ``within`` (red team round
    32): for a language-neutral region whose lines all lie inside the body of a fenced block or another unit a
    reader copies whole (and is not that body), those bodies, innermost first: a renderer that shows the fence shows these lines as part of it, not as a block of their own
    (the template rule reads them as the fence when the fence parses)."""

    first_line: int
    body: str
    within: tuple[str, ...] = ()


def code_blocks(text: str, page: bool | str = False) -> list[CodeBlock]:
    """Every code block of ``text`` by CommonMark and by line-based fence pairing, without duplicates, in text
    order; with ``page`` (a text shown as a rendered page: page_view.is_page), also the units of its rendered page (:mod:`weightwarden.artifact.page_view`) when they
    show other tags. Callers bound ``text`` (max_text_bytes): both passes are linear in it."""
    seen: set[str] = set()
    blocks: list[CodeBlock] = []
    # Round 28: CR-only and CRLF line ends are line ends to every renderer (markdown-it normalises them first; the
    # line regexes below match at "\n" only): normalised before any extraction.
    text = normalise_newlines(text)
    fences: list[CodeBlock] = []  # the fenced blocks among them (CommonMark's and the line-paired ones)
    if page in ("html", "xhtml"):  # helper tpl38: an .xhtml page too (read as HTML and as XML)
        # Helper tpl36 (round 35 FP-B): an HTML page is read as HTML, never as Markdown (no browser does: a
        # CommonMark HTML block ends at a blank line, cutting a <pre>'s template out of its context). Its units are
        # its elements (below: unit_spans, the page's units), and the language-neutral regions.
        pairs, found = [], []
    elif len(text) <= MARKDOWN_PARSE_CHARS and not _may_nest_past_bound(text):
        pairs = _line_pairs(text, _FENCE_RE)
        found = _commonmark_blocks(text, fences) + pairs
    else:
        # Helper tpl38 (round 36 class G, here): markdown-it drops a block nested past maxNesting; a text that may
        # nest that deep gets the line-based supersets as well (never fewer blocks).
        parsed = _commonmark_blocks(text, fences) if len(text) <= MARKDOWN_PARSE_CHARS else []
        pairs = _line_pairs(text, _FENCE_RE) + _line_pairs(text, _LOOSE_FENCE_RE)
        found = parsed + pairs + _indented_runs(text)
    fences += pairs
    # Red team round 27: CommonMark is one renderer among several (reST, AsciiDoc, org cards; list-marker fences,
    # <pre> and blockquoted indented code past the parse bound): a language-neutral superset is added for every
    # text, whatever its size, so a renderer's block that the two passes above miss is still one of these.
    # Round 32: the multi-line bodies of the units a reader copies whole (elements such as <textarea> or <pre> in
    # prose, code spans) are blocks too: a region inside one is read as it (below), so it must be analysed itself.
    found += [CodeBlock(text.count("\n", 0, a) + 1, text[a:b]) for a, b in unit_spans(text)
              if "\n" in text[a:b] and ("{{" in text[a:b] or "{%" in text[a:b])]
    found += _within_fences(_neutral_regions(text), fences, text)
    if page:
        # Round 27 (entity-encoded braces), round 29 (backslash escapes), helper tpl35 (round 34: openers split by
        # inline HTML, a <pre> body HTML-escaped): the units a reader copies from the rendered page, as it shows
        # them (page_view), when the page shows other Jinja tags than the raw text. A <pre>/<code> body is ONE
        # unit there (its indented runs are not regions of their own: round 34's FP-A).
        # Helper tpl36 (round 35): every host's reading of the page (page_views: GitHub's GFM, plain CommonMark, a
        # browser's for an HTML page), each through an HTML5 parser.
        from weightwarden.artifact.page_view import page_views, shows_other_tags

        for view in page_views(text, page):
            if shows_other_tags(text, view):
                found += page_blocks(view)
    for block in found:
        if block.body not in seen:
            seen.add(block.body)
            blocks.append(block)
    blocks.sort(key=lambda b: b.first_line)
    return blocks


_ENCLOSING_UNITS = frozenset({"filtered", "pre", "code", "xmp", "listing", "plaintext", "textarea"})


def page_blocks(view: PageView) -> list[CodeBlock]:
    """The units of a page view that hold an opener, as code blocks at their source lines. A block (a paragraph)
    inside what an element GitHub's tag filter shows as text holds (kind ``filtered``) is marked ``within`` it
    (helper tpl36: the 88 real templates in a <textarea> are paragraphs on GitHub's page; a paragraph is read as
    the run it is part of when that run parses and reads it alike)."""
    # Helper tpl38 (round 36 FP-C): a paragraph inside a preformatted element (a raw HTML <pre> whose HTML block a
    # blank line ended: the rest of its lines are Markdown paragraphs inside the still-open element) is also read
    # as that element when the element parses and reads it alike (_within_alike: never because none parses).
    filtered = sorted((u for u in view.units if u.kind in _ENCLOSING_UNITS), key=lambda f: f.end - f.start)
    out = []
    for unit in view.units:
        if "{{" not in unit.body and "{%" not in unit.body:
            continue
        within = () if unit.kind != "block" else tuple(
            f.body for f in filtered if f.start <= unit.start and unit.end <= f.end and f.body != unit.body)
        out.append(CodeBlock(unit.first_line, unit.body, within))
    return out


# A line's container prefix (blockquote marks, list markers, indentation), at the start of any line.
_LINE_PREFIX_RE = re.compile(_PREFIX_RE.pattern, re.M)
# Each nesting level markdown-it counts takes at least one column of a line's prefix (a ">", a list item's content
# indent); a prefix this wide may reach the bound (with the paragraph and list-item levels around it).
_DEEP_PREFIX_COLUMNS = _MAX_NESTING // 2


def _may_nest_past_bound(text: str) -> bool:
    return any(len(m.group().expandtabs(4)) >= _DEEP_PREFIX_COLUMNS for m in _LINE_PREFIX_RE.finditer(text)
               if len(m.group()) >= _DEEP_PREFIX_COLUMNS // 4)


@functools.cache
def _parser() -> MarkdownIt:
    """One parser, built once (~0.3 ms each; the JSON reader asks per candidate string). parse() keeps its state in
    a per-call object, so the instance is shared."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    md.core.ruler.disable(["inline", "text_join"])  # only block structure matters (inline parsing doubles the cost)
    md.options["maxNesting"] = _MAX_NESTING
    return md


def _commonmark_blocks(text: str, fences: list[CodeBlock]) -> list[CodeBlock]:
    """CommonMark's code and HTML blocks; its fenced blocks are also added to ``fences``."""
    md = _parser()
    out = []
    # Block tokens are flat (containers open and close around their children), so nested blocks are listed too.
    for token in md.parse(text):
        if token.type in _BLOCK_TYPES and token.map:
            first = token.map[0] + (2 if token.type == "fence" else 1)  # a fence's body starts after its opener
            out.append(CodeBlock(first, token.content))
            if token.type == "fence":
                fences.append(out[-1])
    return out


# Helper tpl34 (the README threat model, docs/decisions.md "Red team round 33 on templates: found and fixed"): a
# fence tagged with one of these languages is CODE a reader runs (or a data file a tool loads), not a template a
# reader copies into --chat-template. Jinja built from its string literals is not judged (the same snippet could
# call os.system); its JSON configs are (json_units). Languages with string literals a template could be written in.
HOST_LANGUAGES = frozenset({
    "python", "py", "python3", "py3", "ipython", "ipython3", "pycon", "pyi", "javascript", "js", "mjs", "cjs",
    "node", "nodejs", "typescript", "ts", "jsx", "tsx", "json", "jsonc", "json5", "jsonl", "yaml", "yml", "toml",
    "sh", "bash", "shell", "zsh", "console", "shell-session", "shellsession", "powershell", "ps1", "bat", "cmd",
    "ruby", "rb", "go", "rust", "rs", "java", "kotlin", "scala", "swift", "c", "cpp", "c++", "csharp", "cs", "php",
    "perl", "lua", "r", "julia", "dockerfile",
})


def host_code_lines(text: str) -> list[tuple[int, int]]:
    """The body lines (0-based, end exclusive; newlines normalised) of the fences CommonMark sees in ``text`` whose
    info string names a HOST_LANGUAGES language: what a Markdown renderer shows as that language's code. A text past
    MARKDOWN_PARSE_CHARS gets none (nothing is taken out of the template reading without the parser's word)."""
    if len(text) > MARKDOWN_PARSE_CHARS or ("```" not in text and "~~~" not in text):
        return []
    out = []
    for token in _parser().parse(text):
        if token.type == "fence" and token.map and token.info.strip().split(" ", 1)[0].lower() in HOST_LANGUAGES:
            out.append((token.map[0] + 1, token.map[1]))
    return out


# Helper tpl36 (round 35 FP-B: "<pre><code class=...>" then the template on the same line): only HTML tags (and
# whitespace) on a line before a unit's body, or after it: that line shows nothing but the unit's text.
_ONLY_TAGS = re.compile(r"(?:[ \t]*</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?>)*[ \t]*")


def _line_start(text: str, at: int) -> int:
    return text.rfind("\n", 0, at) + 1


def _within_fences(regions: list[CodeBlock], fences: list[CodeBlock], text: str) -> list[CodeBlock]:
    """Round 32: ``regions`` (language-neutral ones), each marked with the body of the unit a reader copies whole
    (a fenced block, CommonMark's or line-paired, or a :func:`unit_spans` element or code span) whose lines hold all
    of its lines, when it is not that body itself: a run of indented lines of a template shown in a fence or a
    <textarea>, which analysed out of the unit's context gave false highs on real templates. A unit starting or
    ending mid-line holds only the lines strictly inside it, unless only HTML tags share that line with it (helper
    tpl36)."""
    spans = [(f.first_line, f.first_line + f.body.count("\n") - 1, f.body) for f in fences if f.body.strip()]
    if regions:
        newlines = [m.start() for m in re.finditer("\n", text)]
        for start, end in unit_spans(text):
            body = text[start:end]
            if "\n" not in body or ("{{" not in body and "{%" not in body):
                continue
            first = bisect.bisect_left(newlines, start) + 1  # 1-based line of the body's first character
            if start > 0 and text[start - 1] != "\n" and not _ONLY_TAGS.fullmatch(text, _line_start(text, start), start):
                first += 1
            last = bisect.bisect_left(newlines, end) + 1 - 1  # the line before the one the body ends on
            line_end = text.find("\n", end)
            if _ONLY_TAGS.fullmatch(text, end, len(text) if line_end < 0 else line_end):
                last += 1
            spans.append((first, last, body))
    spans.sort(key=lambda s: (s[0], -s[1]))
    if not spans:
        return regions
    firsts = [first for first, _last, _body in spans]
    out = []
    for region in regions:
        # The lines that hold a Jinja marker (a leading or trailing line of plain text, such as the closing fence
        # line a run of lines takes with it, renders as text in any unit).
        lines = region.body.split("\n")
        marked = [k for k, line in enumerate(lines) if _MARKER_RE.search(line)]
        if not marked:
            out.append(region)
            continue
        first_marked, last = region.first_line + marked[0], region.first_line + marked[-1]
        # The units that start at or before the region's first marked line and reach its last, latest-starting first.
        top = bisect.bisect_right(firsts, first_marked)
        within = tuple(body for _first, end, body in spans[max(top - _MAX_FENCE_LOOKBACK, 0):top][::-1]
                       if end >= last and body != region.body)
        out.append(CodeBlock(region.first_line, region.body, within) if within else region)
    return out


# Fences starting before a region that are tried as its enclosing one (the two passes may pair the same fence
# differently; nesting is shallow): a bounded search. A region not found within is a block of its own (fail closed).
_MAX_FENCE_LOOKBACK = 64


def _line_pairs(text: str, fence_re: re.Pattern[str]) -> list[CodeBlock]:
    """The fence lines paired in order, as a reader pairing lines by eye would; an unclosed last fence runs to the
    end of the text (as in CommonMark)."""
    if "```" not in text and "~~~" not in text:
        return []
    fences = list(fence_re.finditer(text))
    out = []
    i = 0
    line, counted = 1, 0  # lines counted incrementally: one pass over the text for all blocks
    while i < len(fences):
        opening = fences[i]
        mark = opening.group(1)
        closing = next((j for j in range(i + 1, len(fences)) if fences[j].group(1).startswith(mark[0] * len(mark))
                        and fences[j].group(0).lstrip(" \t>").rstrip() == fences[j].group(1)), None)
        end = fences[closing].start() if closing is not None else len(text)
        line += text.count("\n", counted, opening.end())
        counted = opening.end()
        out.append(CodeBlock(line + 1, text[opening.end() + 1 : end]))
        if closing is None:
            break
        i = closing + 1
    return out


def _indented_runs(text: str) -> list[CodeBlock]:
    out = []
    line, counted = 1, 0
    for m in _INDENTED_RUN_RE.finditer(text):
        line += text.count("\n", counted, m.start())
        counted = m.start()
        out.append(CodeBlock(line, m.group(0)))
    return out


_MARKER_RE = re.compile(r"(?=(\{[{%#]|[}%#]\}))")


def _markers(text: str) -> dict[str, int]:
    """How many times each Jinja marker occurs in ``text``, overlapping ("{{{" holds two "{{")."""
    counts: dict[str, int] = {}
    for m in _MARKER_RE.finditer(text):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


# The line boundaries of str.splitlines other than "\n" and "\r" (normalised before).
_OTHER_LINE_ENDS = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def normalise_newlines(text: str) -> str:
    """``\r\n`` and ``\r`` as ``\n`` (what markdown-it does before parsing)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _neutral_regions(text: str) -> list[CodeBlock]:
    """:func:`_neutral_lines` of the text split at "\n", and (round 28) also split at every ``str.splitlines``
    boundary (\x0b, \x0c, \x1c-\x1e, \x85, U+2028, U+2029: docutils and other renderers split there) when that
    differs."""
    if "{{" not in text and "{%" not in text:
        return []
    lines = text.split("\n")
    out = _neutral_lines(lines)
    if _OTHER_LINE_ENDS.search(text):
        out += _neutral_lines(text.splitlines())
    return out


def _neutral_lines(lines: list[str]) -> list[CodeBlock]:
    """Language-neutral candidate blocks (round 27): with each line's container prefix (blockquote marks, list
    markers, indentation) stripped, every maximal run of non-blank lines, every part of such a run between
    delimiter lines, and every indented run (blank lines inside kept, as reST literal blocks and indented code
    have them), de-indented. Only regions holding "{{" or "{%" are kept (the caller also keeps only regions with a
    tag); linear in the text."""
    out: list[CodeBlock] = []
    stripped = [_PREFIX_RE.sub("", line, count=1) for line in lines]

    def add(start: int, end: int, source: list[str]) -> None:
        body_lines = source[start:end]
        body = "\n".join(body_lines)
        if "{{" not in body and "{%" not in body:
            return
        indents = [len(b) - len(b.lstrip(" \t")) for b in body_lines if b.strip()]
        cut = min(indents) if indents else 0
        out.append(CodeBlock(start + 1, "\n".join(b[cut:] for b in body_lines) + "\n"))

    # Runs of non-blank lines (prefixes stripped), and their parts between delimiter lines.
    start = None
    for i, line in enumerate(stripped + [""]):
        if line.strip():
            if start is None:
                start = i
            continue
        if start is not None:
            add(start, i, stripped)
            part = start
            for j in range(start, i):
                if _DELIMITER_RE.search(stripped[j].strip()):
                    if j > part:
                        add(part, j, stripped)
                    part = j + 1
            if part != start and part < i:
                add(part, i, stripped)
            start = None
    # Indented runs (any indent >= 1, blank lines inside), on the raw lines and with blockquote marks stripped.
    for source in (lines, [_QUOTE_RE.sub("", line, count=1) for line in lines]):
        start = None
        for i, line in enumerate(source + ["x"]):
            if not line.strip() or line[:1] in " \t":
                if start is None and line.strip():
                    start = i
                continue
            if start is not None:
                end = i
                while end > start and not source[end - 1].strip():
                    end -= 1
                add(start, end, source)
                start = None
    return out


_QUOTE_RE = re.compile(r"^(?:[ \t]{0,3}>[ ]?)+")


# Elements whose content a reader copies as one unit (a template shown in a text box or preformatted block).
_UNIT_ELEMENT_RE = re.compile(r"<(pre|textarea|code|kbd|samp|tt)\b[^<>]*>", re.I)
_BACKTICKS_RE = re.compile(r"`+")


def unit_spans(text: str) -> list[tuple[int, int]]:
    """Red team round 32: the (start, end) offsets in ``text`` (newlines normalised) of the bodies of the units a
    reader copies whole, sorted by start: line-paired fences (an unclosed last one runs to the end), the content of
    <pre>, <textarea>, <code>, <kbd>, <samp>, <tt> elements (opener to the next closer of its name), and code spans
    (a backtick run to the next run of the same length). A part of a page that lies inside one of them, and that
    Jinja's reading of that body reads alike, is the body's business (the template rule analyses the body as one
    unit). Linear: each search goes forward from the last, per element name or run length."""
    spans: list[tuple[int, int]] = []
    if "```" in text or "~~~" in text:
        fences = list(_FENCE_RE.finditer(text))
        i = 0
        while i < len(fences):
            mark = fences[i].group(1)
            closing = next((j for j in range(i + 1, len(fences)) if fences[j].group(1).startswith(mark[0] * len(mark))
                            and fences[j].group(0).lstrip(" \t>").rstrip() == fences[j].group(1)), None)
            end = fences[closing].start() if closing is not None else len(text)
            spans.append((min(fences[i].end() + 1, end), end))
            if closing is None:
                break
            i = closing + 1
    searched: dict[str, int] = {}  # per element name: where its closer search may resume (no closer past it: -1)
    for m in _UNIT_ELEMENT_RE.finditer(text):
        name = m.group(1).lower()
        if searched.get(name, 0) < 0:
            continue
        closer = re.compile(rf"</{name}\s*>", re.I).search(text, max(m.end(), searched.get(name, 0)))
        if closer is None:
            searched[name] = -1
            continue
        spans.append((m.end(), closer.start()))
        searched[name] = closer.start()
    runs: dict[int, list[int]] = {}
    for m in _BACKTICKS_RE.finditer(text):
        runs.setdefault(len(m.group(0)), []).append(m.start())
    for length, starts in runs.items():
        for k in range(0, len(starts) - 1, 2):
            spans.append((starts[k] + length, starts[k + 1]))
    spans.sort()
    return spans
