"""A faster tokenizer for chat templates, producing exactly the token stream of Jinja's own lexer, or nothing.

Parsing a chat template with Jinja costs a few milliseconds, about half of it in Jinja's lexer, which tries
its rules one regular expression at a time for every token. :func:`tokenize` does the same job for the
configuration :mod:`weightwarden.scan.templates` parses with (Jinja's defaults: ``{{ }}``, ``{% %}``,
``{# #}``, no line statements, no ``trim_blocks``/``lstrip_blocks``, trailing newline dropped) with one
anchored regular expression per tag and per token.

It is fail-closed: it returns ``None`` (the caller then uses Jinja's lexer) for anything outside the plain
subset it handles exactly — ``\\r`` anywhere, ``{% raw %}``, non-ASCII characters outside string literals,
numbers other than plain decimal integers, unbalanced brackets, a comment without its end, any character
no rule takes. Within that subset every token (type, value, line) equals Jinja's; the tests compare the
two on every real chat template, the test corpus and generated variants (``tests/test_template_lexer.py``).
The template is only tokenized: nothing here evaluates any part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Where the next tag starts: '{{', '{%' or '{#' and Jinja's optional whitespace-control sign.
_TAG_START = re.compile(r"\{([{%#])(-|\+|)")
# Jinja's raw_begin alternative of the root rule; a template with anything like it is left to Jinja.
_RAW = re.compile(r"\{%[-+]?\s*raw")
# Comment body and end, as Jinja's comment rule (earliest of '+#}', '-#}' + whitespace, '#}').
_COMMENT_END = re.compile(r"(.*?)(\+#\}|\-#\}\s*|#\})", re.S)
# One token inside a tag, after any whitespace (Jinja's whitespace tokens are dropped before parsing).
# Alternatives in the order Jinja tries its rules: end of the tag (only while no bracket is open, as in
# Jinja), numbers, name, string, operator. Numbers: plain decimal integers only (a follow-up check declines
# '1.5', '1e3', '0x1', '007', '1_0').
_TOKEN_BODY = (
    r"|(?P<int>[0-9]+)"
    r"|(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)"
    r"|(?P<str>'([^'\\]*(?:\\.[^'\\]*)*)'|\"([^\"\\]*(?:\\.[^\"\\]*)*)\")"
    r"|(?P<op>\*\*|//|==|!=|>=|<=|[-+/*%~\[\](){}><=.:|,;])"
)
_TOKEN = {
    # kind of tag -> (pattern with its end, pattern without: brackets open)
    "%": (re.compile(r"\s*(?:(?P<end>\+%\}|\-%\}\s*|%\})" + _TOKEN_BODY + ")", re.S),
          re.compile(r"\s*(?:(?P<none>(?!))" + _TOKEN_BODY + ")", re.S)),
    "{": (re.compile(r"\s*(?:(?P<end>\-\}\}\s*|\}\})" + _TOKEN_BODY + ")", re.S),
          re.compile(r"\s*(?:(?P<none>(?!))" + _TOKEN_BODY + ")", re.S)),
}
_NUMBER_TAIL = re.compile(r"[0-9A-Za-z_.]")
_OPEN = {"(": ")", "[": "]", "{": "}"}


class Unsupported(Exception):
    """The source leaves the subset handled here: the caller falls back to Jinja's lexer."""


class Refused(Exception):
    """Helper speed10: Jinja's lexer raises at this token. Inside a tag, after any whitespace, stands an ASCII
    character that none of the fast rules takes: no rule of Jinja's lexer takes it either (its float and integer
    rules start with a digit, its name rule with a letter, digit or underscore, its string rule is the regular
    expression used here, its operator and end rules are those used here), so Jinja raises "unexpected char" when
    its parser asks for this token. Raised only by :func:`iter_tokens` (:func:`tokenize` reads it as a decline)."""


_Unsupported = Unsupported
_TAG_WS = re.compile(r"\s*")


def iter_tokens(source: str) -> Iterator[Any] | None:
    """Helper speed10: Jinja's tokens for ``source`` one at a time, as Jinja's own lexer gives them to its parser,
    or None outside the subset when that shows at once (``\\r``, ``{% raw``). The iterator yields exactly the
    tokens Jinja's lexer yields, in order, up to where it raises :class:`Unsupported` (the rest is outside the
    subset: the caller parses the source again with Jinja's lexer) or :class:`Refused` (Jinja's lexer raises at
    that same token). Lazy as Jinja's, so a text that fails to parse at its first tags costs only those."""
    if "\r" in source or _RAW.search(source):
        return None
    return _tokens(source, None, lazy=True)


def tokenize(source: str, max_tokens: int | None = None) -> list[Any] | None:
    """Jinja's token list for ``source`` (``jinja2.lexer.Token`` items, no EOF), or None outside the subset.

    ``max_tokens``: past that many tokens it raises :class:`~weightwarden.artifact.jinja_parsing.TemplateTooLarge`
    (red team round 25: the list and the tree built from it grow with the token count, so it is bounded while
    tokenizing)."""
    if "\r" in source or _RAW.search(source):
        return None
    try:
        return list(_tokens(source, max_tokens))
    except (Unsupported, Refused):
        return None


def _tokens(source: str, max_tokens: int | None = None, lazy: bool = False) -> Iterator[Any]:
    """The tokens of ``source`` (see :func:`tokenize`). ``max_tokens`` is checked where :func:`tokenize` always
    checked it (before each tag, after each token inside one, at the end). ``lazy``: a character no rule takes
    raises :class:`Refused` instead of :class:`Unsupported` when Jinja's lexer surely raises there too."""
    from jinja2 import lexer as jl

    token_cls = jl.Token
    new = tuple.__new__
    operators = jl.operators
    t_data, t_name, t_string, t_integer = jl.TOKEN_DATA, jl.TOKEN_NAME, jl.TOKEN_STRING, jl.TOKEN_INTEGER
    begin_type = {"{": jl.TOKEN_VARIABLE_BEGIN, "%": jl.TOKEN_BLOCK_BEGIN}
    end_type = {"{": jl.TOKEN_VARIABLE_END, "%": jl.TOKEN_BLOCK_END}
    number_tail = _NUMBER_TAIL.match

    if source.endswith("\n"):  # keep_trailing_newline=False drops one final newline
        source = source[:-1]
    produced = 0
    n = len(source)
    # Every token takes at least one character, so a source no longer than the bound needs no count.
    cap = max_tokens if max_tokens is not None and n > max_tokens else n + 1
    pos = 0
    line = 1  # line number at ``mark``
    mark = 0
    count = source.count
    while pos < n:
        if produced > cap:
            _too_large(cap)
        m = _TAG_START.search(source, pos)
        if m is None:
            produced += 1
            yield new(token_cls, (line + count("\n", mark, pos), t_data, source[pos:]))
            break
        start = m.start()
        kind, sign = m.group(1), m.group(2)
        text = source[pos:start]
        if sign == "-":
            text = text.rstrip()
        line += count("\n", mark, pos)
        mark = pos
        if text:
            produced += 1
            yield new(token_cls, (line, t_data, text))
        pos = m.end()
        if kind == "#":  # comments produce no tokens; only their end may eat the whitespace after them
            c = _COMMENT_END.match(source, pos)
            if c is None:
                raise _Unsupported
            pos = c.end()
            continue
        line += count("\n", mark, start)
        mark = start
        produced += 1
        yield new(token_cls, (line, begin_type[kind], m.group()))
        with_end, without_end = _TOKEN[kind]
        closing = end_type[kind]
        stack: list[str] = []
        while True:
            t = (without_end if stack else with_end).match(source, pos)
            if t is None:
                # Whitespace up to the end of the source, or a character no rule takes: Jinja's lexer stops
                # or raises there. Eagerly either way it is left to Jinja; lazily an ASCII character is Jinja's
                # "unexpected char" for sure (see Refused; a non-ASCII one may start a Jinja name).
                at = _TAG_WS.match(source, pos).end()
                if lazy and at < n and source[at].isascii():
                    raise Refused
                raise _Unsupported
            group = t.lastgroup
            tstart = t.start(group)
            end = t.end()
            line += count("\n", mark, tstart)
            mark = tstart
            value = t.group(group)
            produced += 1
            if group == "end":
                yield new(token_cls, (line, closing, value))
                pos = end
                break
            if group == "name":
                if end < n and not source[end].isascii():
                    raise _Unsupported  # Jinja's names take Unicode identifier characters too
                yield new(token_cls, (line, t_name, value))
            elif group == "str":
                body = value[1:-1]
                if "\\" in body:
                    # Jinja's own unescaping; an escape it rejects is left to Jinja to report.
                    try:
                        body = body.encode("ascii", "backslashreplace").decode("unicode-escape")
                    except Exception as exc:  # noqa: BLE001 - any failure means: let Jinja decide
                        raise _Unsupported from exc
                yield new(token_cls, (line, t_string, body))
            elif group == "int":
                if (len(value) > 1 and value[0] == "0") or (end < n and (number_tail(source, end) or not source[end].isascii())):
                    raise _Unsupported
                yield new(token_cls, (line, t_integer, int(value)))
            else:  # operator
                if value in _OPEN:
                    stack.append(_OPEN[value])
                elif value in ")]}" and (not stack or stack.pop() != value):
                    raise _Unsupported  # an unbalanced bracket: Jinja raises its own error for it
                yield new(token_cls, (line, operators[value], value))
            pos = end
            if produced > cap:
                _too_large(cap)
    if produced > cap:
        _too_large(cap)


def _too_large(limit: int) -> None:
    from weightwarden.artifact.jinja_parsing import TemplateTooLarge

    raise TemplateTooLarge(limit)
