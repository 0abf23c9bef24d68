"""The Jinja environment the template analysis parses with, and the one question lower layers ask of it.

It lives below ``scan`` because the readers (``artifact``) must decide whether a string found in a large JSON or
text file would be judged as a template at all (``parses``), with exactly the parser the template rule uses; the
rule itself (``weightwarden.scan.templates``) builds its syntax trees with the same environment. It never
renders anything.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from functools import cache
from typing import Any

# Red team round 25: Jinja builds the whole syntax tree before any analysis bound applies, at about 370 bytes of
# memory per template byte ('{{1-1-1-...}}': a 4 MB template peaked at 1.47 GB). Templates are bounded by the
# number of tokens the parser reads (the tree grows with it), counted while tokenizing, before any node is built
# past it. The largest real template of shared/datasets/chat-templates has 2,461 tokens (Kimi-K3, 15 KB); the bound
# is about 40 times that, and a template at the bound parses in tens of MB. Past it the template rule reports
# WW-TPL-002 "too large to analyse" (fail closed), never parsing it.
MAX_TEMPLATE_TOKENS = 100_000


class TemplateTooLarge(Exception):
    """The source has more than :data:`MAX_TEMPLATE_TOKENS` tokens: it is not parsed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} tokens")
        self.limit = limit


@cache
def analysis_environment() -> Any:
    """The parsing environment (built once: parsing only, it never renders)."""
    from jinja2 import nodes
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationTag(Extension):
        """transformers' ``{% generation %}...{% endgeneration %}`` (assistant-token masks): keep the body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return ImmutableSandboxedEnvironment(extensions=[loopcontrols, GenerationTag])


class TextBudgetExceeded(Exception):
    """The parse meter of the text being judged (:func:`parse_meter`) is spent: the text is not fully analysed.

    Not a RecoveryBound nor a parse failure: the places that read those as "skip this part" or "does not parse"
    re-raise it, so it reaches the template rule, which reports the text as not fully analysed (fail closed)."""


class _Meter(threading.local):
    left: int | None = None
    limit: int = 0


_METER = _Meter()


class parse_meter:  # noqa: N801 - used as a context manager, read as a phrase
    """Red team round 32 (slow scan): the characters that Jinja's parser and the template analysis may read, in
    all, while one text is judged. Every part of a page is parsed, recovered (each recovery parses its text again as
    it drops tags) and analysed on its own; each of those has its own bound, but a text of thousands of parts was
    read 1 GiB deep (33 s). Counted in Jinja tokens (what parsing and the analysis cost; a text that fails to parse at
its first tag costs one), and the recovery's lexing in characters lexed / 4 (about a token). Inside the block,
:func:`charge` takes from ``limit``; past it
    :class:`TextBudgetExceeded`. Nested meters keep the outer one's remainder as their ceiling. Per thread."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._saved: tuple[int | None, int] | None = None

    def __enter__(self) -> parse_meter:
        self._saved = (_METER.left, _METER.limit)
        outer = _METER.left
        _METER.left = self.limit if outer is None else min(outer, self.limit)
        _METER.limit = self.limit
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._saved is not None
        _METER.left, _METER.limit = self._saved

    @property
    def spent(self) -> int:
        return self.limit - (_METER.left if _METER.left is not None else self.limit)


def charge(chars: int) -> None:
    """Take ``chars`` from the active :class:`parse_meter` (none active: free); past it, TextBudgetExceeded."""
    left = _METER.left
    if left is None:
        return
    left -= chars
    _METER.left = left
    if left < 0:
        _METER.left = 0
        raise TextBudgetExceeded(f"more than {_METER.limit:,} Jinja tokens parsed, analysed or lexed for this text")


def _bounded(tokens: Iterator[Any], limit: int) -> Iterator[Any]:
    for count, token in enumerate(tokens, 1):
        if count > limit:
            raise TemplateTooLarge(limit)
        if not count & 63:
            charge(64)
        yield token


def parse_bounded(source: str, limit: int | None = None) -> Any:
    """``Environment.parse(source)`` with Jinja's own lexer and parser (same tree, same errors), except that past
    ``limit`` tokens (default :data:`MAX_TEMPLATE_TOKENS`) it raises :class:`TemplateTooLarge`. Jinja's lexer is a
    generator and its parser pulls tokens one at a time, so memory stays bounded by the tokens read so far."""
    from jinja2.lexer import TokenStream
    from jinja2.parser import Parser

    charge(1)
    parser = Parser(analysis_environment(), source)
    # Parser() opened Jinja's lazy token stream (its first token read); iterating it yields every token up to EOF.
    parser.stream = TokenStream(_bounded(iter(parser.stream), MAX_TEMPLATE_TOKENS if limit is None else limit),
                                None, None)
    return parser.parse()


def _parse_fast(source: str) -> Any | None:
    """Helper speed10: :func:`parse_bounded` (same tree, same outcome, same parse meter charges) with the tokens of
    :func:`weightwarden.artifact.template_lexer.iter_tokens` instead of Jinja's lexer (the lexer was ~60 % of a
    parse, and ``parses`` runs Jinja's parser on every text picked up by content). Those are Jinja's tokens, in
    order, read one at a time as Jinja's lazy lexer is read: the parser pulls the same tokens, raises at the same
    token, charges and counts them alike (``_bounded``). Where Jinja's lexer would raise, ``Refused`` does (a
    failure as Jinja's). None when the tokenizer declines, at once or midway: the meter is then given back what this
    attempt charged, and the caller parses with Jinja's own lexer from the start, which charges it all again."""
    if not fast_tokens_apply():
        return None
    from jinja2.lexer import TokenStream
    from jinja2.parser import Parser

    from weightwarden.artifact.template_lexer import Unsupported, iter_tokens

    tokens = iter_tokens(source)
    if tokens is None:
        return None
    saved = _METER.left
    charge(1)
    parser = Parser(analysis_environment(), "")  # Jinja's lexer reads nothing: the stream is replaced
    try:
        parser.stream = TokenStream(_bounded(tokens, MAX_TEMPLATE_TOKENS), None, None)  # reads the first token
        return parser.parse()
    except Unsupported:
        _METER.left = saved  # this attempt is not Jinja's path: its charges are given back
        return None


@cache
def fast_tokens_apply() -> bool:
    """The analysis environment uses the syntax the fast tokenizer implements (else Jinja's lexer does all the
    work): Jinja's default delimiters, no line statements, no trim/lstrip, no kept trailing newline, and no
    extension that preprocesses the source or filters the token stream."""
    from jinja2.ext import Extension

    env = analysis_environment()
    return (
        (env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
         env.comment_start_string, env.comment_end_string) == ("{%", "%}", "{{", "}}", "{#", "#}")
        and env.line_statement_prefix is None and env.line_comment_prefix is None
        and not env.trim_blocks and not env.lstrip_blocks and not env.keep_trailing_newline
        and env.newline_sequence == "\n"
        and all(type(ext).preprocess is Extension.preprocess and type(ext).filter_stream is Extension.filter_stream
                for ext in env.iter_extensions())
    )


# The template rule asks ``parses(text)`` of a text picked up by content and then analyses the same text, which
# parses it again: the tree of the first parse is kept for :func:`take_tree` (each tree handed out once, then
# dropped), for a few small sources only, so the kept trees stay a few MB at most (Jinja's tree: ~370 bytes per
# source byte at worst, above).
_KEPT_TREES = 2
_KEPT_SOURCE_CHARS = 64 * 1024
_trees: OrderedDict[str, Any] = OrderedDict()
_trees_lock = threading.Lock()


def take_tree(source: str) -> Any | None:
    """The syntax tree :func:`parses` just built for exactly ``source`` (Jinja's own parse, bounded as
    :func:`parse_bounded`), or None; a tree is handed out once."""
    with _trees_lock:
        return _trees.pop(source, None)


def parses(source: str) -> bool:
    """True when Jinja parses ``source`` (the analysis environment). Jinja's own lexer is lazy and its parser
    stops at the first error, so a long text that fails early (a vocabulary quoting "{{", a README) costs
    little; the fast tokenizer's tokens are read lazily too (:func:`_parse_fast`). A text still parsing past
    :data:`MAX_TEMPLATE_TOKENS` tokens counts as parsing (fail closed: the template rule then reports it as too
    large to analyse, instead of passing it unjudged)."""
    try:
        tree = _parse_fast(source)
        if tree is None:
            tree = parse_bounded(source)
    except TemplateTooLarge:
        return True
    except TextBudgetExceeded:
        raise
    except Exception:  # noqa: BLE001 - any failure: Jinja renders nothing of it
        return False
    if len(source) <= _KEPT_SOURCE_CHARS:
        with _trees_lock:
            _trees[source] = tree
            _trees.move_to_end(source)
            while len(_trees) > _KEPT_TREES:
                _trees.popitem(last=False)
    return True
