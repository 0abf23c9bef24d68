"""Static analysis of Jinja chat templates: find sandbox-escape (SSTI) patterns without rendering.

A model's chat template is rendered by the serving stack (transformers, llama.cpp, vLLM, ...) on every
request. Jinja's sandbox blocks the known escapes, but stacks that use a plain environment, or sandbox
bugs, let a template reach Python internals (``''.__class__.__mro__[1].__subclasses__()``,
``lipsum.__globals__['os']``, ``cycler.__init__.__globals__``). Usage::

    from weightwarden.scan.templates import analyze_template
    for issue in analyze_template(source):
        print(issue.kind, issue.line, issue.message)

The template is only *parsed* (``Environment.parse``) into Jinja's AST, which is then walked; it is never
compiled or rendered. Names built from pieces (``'__cla' ~ 'ss__'``, ``'_'*2``, ``'{}{}'.format(..)``,
``join``, ``replace``, ``reverse``, slicing) are folded statically, so concatenation tricks are seen. Every
binding of a name (set, block set, for, with, macro and call-block parameters, namespace attributes, dict()
keywords) counts: a name has the set of all its values, settled as a fixpoint where it depends on itself, plus
its free value (the render argument) unless a binding surely reaches the read. A key, attribute name or format
string is proven only from an allow-list (round 5): exact strings folded from constants (Markup from ``|safe``,
``|e`` or ``{% autoescape %}`` never folded), render data (a free render name, not a special token, a
``*_token`` config name or a global, only *selected* out of: items, fields, loop targets, selecting filters;
round 6: nothing built from it), or numbers from operations that always give one. A key that is render data
is accepted only on render data or a container the template built (round 6: ``lipsum[m.content]`` is not). Everything else, an empty value set included, is a computed name (fail closed). Legitimate template features (``namespace()`` for loop state, ``selectattr``, ``tojson``,
``raise_exception``, loop controls, ``{% generation %}``) produce nothing. The rules that turn issues into
findings are in :mod:`weightwarden.scan.rules.template`.
"""

from __future__ import annotations

import _string
import re
import string
import sys
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from weightwarden.artifact.jinja_parsing import (
    MAX_TEMPLATE_TOKENS,
    TemplateTooLarge,
    TextBudgetExceeded,
    charge,
    fast_tokens_apply,
    parse_bounded,
    take_tree,
)
from weightwarden.artifact.jinja_parsing import analysis_environment as _environment
from weightwarden.artifact.jinja_parsing import parses as parses

# Issue kinds (one rule each in weightwarden.scan.rules.template).
DUNDER = "dunder"  # access to a Python internal attribute (dunder or frame/function internals)
COMPUTED_ATTR = "computed-attr"  # |attr() with a name that cannot be known statically
ESCAPE_ROOT = "escape-root"  # attribute escape from a Jinja global (lipsum, cycler, joiner, namespace)
BUILT_NAME = "built-name"  # a dunder name assembled from pieces
HOST_OBJECT = "host-object"  # names of server/host objects (request, config, os, self, ...)
LOADER = "loader"  # {% import %} / {% include %} / {% extends %}
PARSE_ERROR = "parse-error"
RENDER_MUTATION = "render-mutation"  # the template changes the caller's render data (messages, tools, ...) in place
LOOP_ESCAPE = "loop-escape"  # a macro reading ``loop`` used outside a direct call in its own loop body
FRAME_ESCAPE = "frame-escape"  # a macro defined in a for/with/filter/set block, used outside a direct call there
LOOP_REBIND = "loop-rebind"  # the name ``loop`` bound by the template (set, with, parameter, target, import)
PRIVATE_ATTR = "private-attr"  # _private attribute access (blocked by the sandbox; used by escapes)

ESCAPE_ROOTS = frozenset({"lipsum", "cycler", "joiner", "namespace", "range", "dict"})
HOST_NAMES = frozenset(
    {"request", "config", "os", "subprocess", "sys", "builtins", "importlib", "self", "super", "url_for",
     "get_flashed_messages", "session", "__builtins__", "__import__", "globals", "locals", "eval", "exec",
     "open", "getattr", "setattr", "__loader__", "__spec__"}
)
# Attributes of Python internals that lead from any object to code, frames or globals without dunders.
INTERNAL_ATTRS = frozenset(
    {"func_globals", "func_code", "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code",
     "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "co_code", "mro"}
)
# Filters whose arguments name attributes to read.
ATTRIBUTE_FILTERS = frozenset(
    {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max", "dictsort", "attr", "join"}
)
# The template API of Jinja's environment and template objects (round 7: a macro's ``_environment`` gave
# ``from_string(text).render()``, a second-order template never analysed). No chat template needs them.
TEMPLATE_API = frozenset(
    {"from_string", "compile", "render", "get_template", "select_template", "get_or_select_template",
     "render_async", "generate", "generate_async", "stream", "make_module", "make_module_async",
     "compile_expression", "parse", "_render", "root_render_func"}
)
# Format-string fields that read attributes or items: '{0.__class__}', '{x[__globals__]}'. The same matches as
# r"\{[^{}]*(?:\.|\[)\s*_[^{}]*\}", which backtracked quadratically on '{' + '._' * n (red team round 25: a 1 MB
# constant hung the scan). Here every quantifier is possessive and the pieces cannot overlap: the loop takes runs
# without braces, '.' or '[' and each '.'/'[' not followed by whitespace and '_' (a lookahead over whitespace only,
# which no other lookahead of the same '{' span rescans), so the first '.'/'[' that is so followed ends it. Each
# '{' span is scanned once, up to its next brace: linear (decisions.md, round 25 regex audit).
_FORMAT_FIELD_RE = re.compile(r"\{[^{}.\[]*+(?:[.\[](?!\s*_)[^{}.\[]*+)*+[.\[]\s*_[^{}]*+\}")
MAX_FOLD = 4096  # longest string folded; longer ones are not names anyway
MAX_FOLD_DEPTH = 64
# Nesting of the value computation (names through macro parameters, dict items, elements); past it: unknown.
MAX_VALUE_DEPTH = 600


@dataclass(frozen=True, slots=True)
class TemplateIssue:
    kind: str
    line: int
    message: str
    evidence: str


def analyze_template(source: str, config_names: Iterable[str] = ()) -> list[TemplateIssue]:
    """Issues found in a Jinja template's source, sorted by line; never renders it.

    ``config_names``: the render arguments the host fills from a config next to the template (the special
    tokens of tokenizer_config.json, any ``*_token`` key): attacker-controlled, so never render data. Names
    ending in ``_token``/``_tokens`` are treated so anyway (round 6: ``image_token``)."""
    return list(_analyze_cached(source, frozenset(config_names)))


class _ByteBoundedCache:
    """The analysis cache: least recently used first out, bounded by entries AND by the characters of the sources
    it keeps (red team round 25: 256 entries of up to 16 MiB each could hold 4 GiB after their files were done).
    A source larger than the whole bound is analysed and not kept. Thread-safe (scans may run in threads)."""

    def __init__(self, max_entries: int, max_chars: int) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._items: OrderedDict[tuple[str, frozenset[str]], tuple[TemplateIssue, ...]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def __call__(self, source: str, config_names: frozenset[str] = frozenset()) -> tuple[TemplateIssue, ...]:
        key = (source, config_names)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        result = tuple(_analyze(source, config_names))
        size = len(source) + sum(len(n) for n in config_names)
        if size <= self.max_chars:
            with self._lock:
                if key not in self._items:
                    self._items[key] = result
                    self._chars += size
                    while len(self._items) > self.max_entries or self._chars > self.max_chars:
                        (old, names), _ = self._items.popitem(last=False)
                        self._chars -= len(old) + sum(len(n) for n in names)
        return result

    def cache_clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._chars = 0


# A repository ships the same template many times (every GGUF quantisation, tokenizer_config.json and
# chat_template.jinja carry a copy); parsing dominates, so identical sources are analysed once per process.
# 32 M characters: thousands of real templates (the largest is 16 KB), and a bounded part of any process.
_analyze_cached = _ByteBoundedCache(max_entries=256, max_chars=32 * 1024 * 1024)


def _analyze(source: str, config_names: frozenset[str] = frozenset()) -> list[TemplateIssue]:
    try:
        tree = _parse(source)
    except TextBudgetExceeded:
        raise  # the text's parse meter is spent: the rule reports the whole text (never a parse error of it)
    except TemplateTooLarge as exc:  # round 25: never parsed (its tree would take ~370 bytes per byte)
        return [TemplateIssue(COMPUTED_ATTR, 0, f"template too large/complex to analyse: {exc} (the analysis bound "
                                                f"is {MAX_TEMPLATE_TOKENS:,} tokens); not parsed, not analysed", "")]
    except Exception as exc:  # noqa: BLE001 - any parser failure on hostile input is a finding, not a crash
        line = getattr(exc, "lineno", None) or 0
        message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        return [TemplateIssue(PARSE_ERROR, line, f"template does not parse: {message}", _line(source, line))]
    walker = _Walker(source, config_names)
    # The value walk recurses up to MAX_VALUE_DEPTH (a few frames each); Python-to-Python calls do not use
    # the C stack (3.11+), so a higher interpreter limit is safe for the walk — and only for the walk: the
    # old limit is put back, so no other reader in the process runs under it.
    old_limit = sys.getrecursionlimit()
    if old_limit < 20_000:
        sys.setrecursionlimit(20_000)
    _BOUNDS.hits = set()
    _BOUNDS.left = ANALYSIS_BUDGET
    _BOUNDS.fold_left = MAX_FOLD_BYTES
    try:
        walker.run(tree)
    except RecursionError:  # fail closed: a template nested past Python's stack is not passed as clean
        walker.issues.append(TemplateIssue(COMPUTED_ATTR, 0, "template nests too deeply to be analysed", ""))
    except AnalysisBudgetExceeded:  # round 24: fail closed, never a hang (see ANALYSIS_BUDGET)
        walker.issues.append(TemplateIssue(
            COMPUTED_ATTR, 0, f"template analysis did not finish within its budget of {ANALYSIS_BUDGET} steps: "
                              f"too complex to analyse, not analysed past that point", ""))
    finally:
        hits, _BOUNDS.hits = _BOUNDS.hits, None
        _BOUNDS.left = None
        _BOUNDS.fold_left = None
        sys.setrecursionlimit(old_limit)
    if hits:  # fail closed: what lies past a bound was not analysed, so the template is not passed as clean
        walker.issues.append(TemplateIssue(
            COMPUTED_ATTR, 0, f"template exceeds the analysis bounds ({', '.join(sorted(hits))}): not fully analysed",
            ""))
    seen: set[tuple[str, int, str]] = set()
    result = []
    for issue in sorted(walker.issues, key=lambda i: (i.line, i.kind, i.message)):
        key = (issue.kind, issue.line, issue.message)
        if key not in seen:
            seen.add(key)
            result.append(issue)
    return result


def _parse(source: str) -> Any:
    """Jinja's syntax tree of ``source``: Jinja's parser, fed by the faster tokenizer when that applies.

    :func:`weightwarden.artifact.template_lexer.tokenize` yields exactly Jinja's tokens or declines; the tree is
    then built by Jinja's own parser. Anything going wrong on that path (a syntax error included) is redone
    by ``Environment.parse``, so every error, message and line is Jinja's own. The tree's nodes are not
    bound to the environment (``set_environment``): nothing here compiles or renders them.
    """
    from weightwarden.artifact.template_lexer import tokenize

    tree = take_tree(source)  # the rule asked parses(source) just before: that tree is the same (Jinja's own parse)
    if tree is not None:
        charge(len(source) // 8)  # the walk over the tree (the text's parse meter: about a token per 8 characters)
        return tree
    # Both paths stop past MAX_TEMPLATE_TOKENS tokens (TemplateTooLarge), before the tree grows past it.
    tokens = tokenize(source, MAX_TEMPLATE_TOKENS) if fast_tokens_apply() else None
    if tokens is not None:
        charge(2 * len(tokens))  # parse and walk (the text's parse meter)
        try:
            return _parse_tokens(tokens)
        except Exception:  # noqa: BLE001, S110 - redone below by Jinja itself, which raises what it raises
            pass
    return parse_bounded(source, MAX_TEMPLATE_TOKENS)


def _parse_tokens(tokens: list[Any]) -> Any:
    from jinja2.lexer import TokenStream
    from jinja2.parser import Parser

    parser = Parser(_environment(), "")
    parser.stream = TokenStream(tokens, None, None)
    return _NODES.Template(parser.subparse(), lineno=1)


def _line(source: str, line: int, lines: list[str] | None = None) -> str:
    """Line ``line`` of ``source`` as evidence; ``lines``: ``source.splitlines()`` when the caller has it already."""
    if lines is None:
        lines = source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= 200 else text[:197] + "..."


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _dangerous_name(name: str) -> bool:
    """A string that, used as an attribute or key, reaches Python internals."""
    return _is_dunder(name) or name in INTERNAL_ATTRS


dangerous_name = _dangerous_name  # public: the template rules judge special-token values with it too


def format_reads_private(text: str) -> bool:
    """A str.format string with a field reading a private or internal attribute or item ('{0.__class__}',
    '{0._x}', and since red team round 20 '{0.gi_frame.f_globals}': a generator's frame needs no underscore).

    Round 25: charged to the analysis step budget by length on every call (cached or not, so a verdict never
    depends on what the process analysed before), and memoised per distinct string up to MAX_FOLD characters (a
    fold node checks the same folded values once per node: 1,000 nodes x 60 values)."""
    _spend(len(text) // 256 + 1)
    if len(text) <= MAX_FOLD:
        return _format_reads_private_cached(text)
    return _format_reads_private(text)


@lru_cache(maxsize=1024)  # at most 1,024 strings of up to MAX_FOLD characters (<= 16 MiB even if all non-ASCII)
def _format_reads_private_cached(text: str) -> bool:
    return _format_reads_private(text)


def _format_reads_private(text: str) -> bool:
    if "{" not in text:
        return False  # no field: str.format reads nothing (the common case, without running the parser)
    return _FORMAT_FIELD_RE.search(text) is not None or any(
        _dangerous_name(part) or part.startswith("_") for part in _format_field_parts(text))


def _format_field_parts(text: str, depth: int = 0) -> list[str]:
    """The attribute names and string item keys str.format would read for ``text``'s fields, nested format specs
    ('{0:{1.gi_frame}}') included, parsed by Python's own format parser (so exactly what a render reads). A string
    that does not parse as a format string makes str.format raise before it returns: its parts up to the error."""
    parts: list[str] = []
    try:
        for _, field, spec, _ in string.Formatter().parse(text):
            if field is not None:
                _, rest = _string.formatter_field_name_split(field)
                parts.extend(key for _, key in rest if isinstance(key, str))
            if spec and depth < 2:
                parts.extend(_format_field_parts(spec, depth + 1))
    except ValueError:
        pass
    return parts


class _Atom:
    """A value the walker does not know as a string (see :data:`NUM`, :data:`DATA`, :data:`UNKNOWN`)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


# The abstract values of an expression are a frozenset of: the strings it can be, and these atoms.
NUM = _Atom("number")  # a number or boolean: arithmetic, comparisons, tests, |length, loop.index
DATA = _Atom("data")  # read from the render data (messages, tools, ...) or picked out of it unchanged
UNKNOWN = _Atom("unknown")  # built at render time in a way not followed here, or from a Jinja global
NAMESPACE = _Atom("namespace")  # a namespace() object: its attributes are whatever {% set ns.x %} stores
SEQUENCE = _Atom("sequence")  # a list, tuple, range or view the template builds: its items are its elements
MAPPING = _Atom("mapping")  # a dict the template builds: d.key and d['key'] are among its elements
# A method of render data's own type (``messages.append``, ``tool.items``): a Python object, not data. Its
# only non-dunder attributes are none (Jinja gives Undefined for them); |string of it is Python's text.
METHOD = _Atom("method")
# The first guess of a value defined through itself, while it is being settled: the bottom of the lattice
# (neutral for "is it data / a number"), never a proven key itself (fail closed if it survives).
PENDING = _Atom("pending")
_NUMBER = frozenset({NUM})
_DATA = frozenset({DATA})
_UNK = frozenset({UNKNOWN})
_NOTHING: frozenset[Any] = frozenset()
_SAFE = frozenset({NUM, DATA})
_PENDING = frozenset({PENDING})
MAX_VALUES = 64  # more possible values than this for one expression: unknown
# Elements are followed MAX_LEVEL deep (2 measured: deeper multiplied the work on real templates by 20 and
# changed no result); that level stands for "this deep or deeper" (an element of it is at
# it again), so recursive macros walking nested data settle instead of descending for ever.
MAX_LEVEL = 2
# _not_json follows element levels this deep; deeper reads are judged at it (round 9: it only tells the view
# and pair levels 0-1 from the rest, and containers are sticky, so a capped level errs towards "not JSON").
MAX_JSON_LEVEL = 6
MAX_ROUNDS = 8  # rounds to settle a name defined through itself; unsettled: unknown
MAX_STEPS = 400_000  # values computed per template; past it everything is unknown (hostile sizes)
# Free names whose values are Jinja/host objects, not render data: what is read from them is unknown.
# Special tokens are render arguments, but transformers fills them from tokenizer_config.json, the same file
# as the template: attacker-controlled ("bos_token": "__globals__"), so never proven names.
SPECIAL_TOKEN_NAMES = frozenset(
    {"bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token",
     "additional_special_tokens"}
)
_OPAQUE_NAMES = (
    ESCAPE_ROOTS | HOST_NAMES | SPECIAL_TOKEN_NAMES
    | {"varargs", "kwargs", "caller", "loop", "strftime_now", "raise_exception", "self"}
)


def _config_token_name(name: str) -> bool:
    """A render argument hosts fill from tokenizer_config.json next to the template: every ``*_token`` key
    (fire.py, vLLM, transformers' extra special tokens such as ``image_token``) and token lists. Its value
    is the model author's, so it is never render data (round 6: ``image_token|format(95, ...)``)."""
    return name.endswith(("_token", "_tokens"))


# Round 10: free names whose call results the analysis models (from their arguments, which carry their labels):
# Jinja's globals and the host functions real chat templates call. ``loop`` is a recursive loop's call (text).
_FRESH_CALLEES = frozenset({"dict", "namespace", "range", "raise_exception", "strftime_now", "cycler", "joiner",
                            "lipsum", "loop"})
# Round 10 (class B): methods that read an item by key: with a data key they are x[k] (picked, and the receiver
# must be one a data key may select from).
# Round 15: Jinja globals whose call returns a new object each time (not the callee, not another call's result).
_NEW_OBJECT_GLOBALS = frozenset({"dict", "namespace", "range", "cycler", "joiner", "lipsum"})
_DICT_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))
def _depths_down(mask: int, level: int) -> int:
    """The depths of an object ``level`` deep inside one whose changed depths are ``mask`` (the top bit: every
    depth from it on). A negative ``level`` (the object holds the other one): _depths_up (round 16)."""
    if level < 0:
        return _depths_up(mask, -level)
    out = mask >> level
    if mask & (1 << _TOP_DEPTH):
        out |= _ALL_DEPTHS & ~((1 << max(_TOP_DEPTH - level, 0)) - 1)
    return out & _ALL_DEPTHS


def _depths_up(mask: int, level: int) -> int:
    """The depths of the object holding, ``level`` deep, one whose changed depths are ``mask``. Round 16: a
    negative ``level`` (``d|items`` holds d's items one level deeper) is _depths_down, no longer clamped to 0
    (the clamp put the inner side one level too shallow)."""
    if level < 0:
        return _depths_down(mask, -level)
    out = (mask << level) & _ALL_DEPTHS
    if mask >> max(_TOP_DEPTH - level, 0):
        out |= 1 << _TOP_DEPTH
    return out


# Round 15: filters that select out of their input, for the depths closure: (off, min_k) = the result's objects
# at depth k >= min_k are the input's at depth k + off (jinja2 3.1 filters.py: list/sort/unique/reverse/select...
# give a new list of the input's elements; first/last/random one element; items/dictsort new (key, value) tuples;
# default the input itself or its argument).
_SELECTION_STEPS: dict[str, tuple[int, int]] = {
    **dict.fromkeys(("list", "sort", "unique", "reverse", "select", "reject", "selectattr", "rejectattr"), (0, 1)),
    **dict.fromkeys(("first", "last", "random"), (1, 0)),
    **dict.fromkeys(("items", "dictsort"), (-1, 2)),
    **dict.fromkeys(("default", "d"), (0, 0)),
}
# Round 15: the public methods of the containers and strings render data and templates build.
_KNOWN_METHODS = frozenset(name for t in (dict, list, str) for name in dir(t) if not name.startswith("_"))
_KEYED_METHODS = frozenset({"get", "pop", "setdefault"})
_LOOP_NUMBERS = frozenset({"index", "index0", "revindex", "revindex0", "length", "depth", "depth0", "first", "last"})
# Filters that always return an int: len() itself refuses anything else. int/float return their default
# argument when the conversion fails ('x'|int(u) is u), abs/round whatever the value's __abs__/__round__
# returns: those are numbers only as worked out in _filter_value.
_NUMBER_FILTERS = frozenset({"length", "count", "wordcount"})
# Filters whose result has the elements of their input (iterating it gives what iterating the input gives).
_SAME_ELEMENTS = frozenset(
    {"list", "sort", "unique", "reverse", "select", "reject", "selectattr", "rejectattr", "batch", "slice"}
)
# Filters and methods that turn one string into another without mixing in other text: data stays data.
_PLAIN_STRING = frozenset(
    {"string", "e", "escape", "safe", "trim", "lower", "upper", "title", "capitalize", "striptags",
     "forceescape", "strip", "lstrip", "rstrip", "casefold", "swapcase"}
)
# Filters whose result is a Markup object, not a str: Markup + '<x' escapes the '<' ('&lt;x'), and so do %,
# replace, format, join; folding them as str differs from the render (round 5 sliced '__globals__' out of
# the escaped text). Of template constants they are never folded.
_MARKUP_FILTERS = frozenset({"safe", "e", "escape", "forceescape"})
# Methods of render data whose result is still render data (substrings, pieces, its own items) or a number
# (tests, counts, positions). Any other method of data (to_bytes, decode, ...) gives an unknown value.
# Round 6: only methods that SELECT out of the data (a dict's own items) keep it data; a method that builds
# text (strip, split, replace, format, ...) gives a value that is not data, so render data is no alphabet
# for keys ('<built-in method append ...'|urlencode|format(...) spelled '__globals__').
_DATA_METHODS = frozenset({"get", "keys", "values", "items", "copy"})
# Jinja filters that only select out of render data (elements, items, groups, an order): data stays data.
# Every other filter of data (string, urlencode, format, replace, center, lower, tojson, join, ...) builds a
# new value: not data (it may be output, but it is no proven key).
_SELECTING_FILTERS = frozenset(
    {"list", "sort", "unique", "reverse", "select", "reject", "selectattr", "rejectattr", "batch", "slice",
     "items", "dictsort", "groupby", "min", "max"}
)


@cache
def _data_type_attrs() -> frozenset[str]:
    """Attributes of the types render data has (JSON: str, list, dict, numbers, bool, None): Jinja's getattr
    tries them first, so ``messages.append`` is a bound method, not data (round 6 stringified one)."""
    return frozenset(a for t in (str, list, dict, int, float, bool, type(None), tuple) for a in dir(t))
_NUMBER_METHODS = frozenset(
    {"startswith", "endswith", "find", "rfind", "index", "rindex", "count", "isdigit", "isalpha", "isalnum",
     "isspace", "isnumeric", "isdecimal", "islower", "isupper", "istitle", "isidentifier", "isprintable",
     "isascii"}
)
# Methods that may be called on a value reached through a data-chosen key (round 7). Such a value is one
# attribute of a JSON value, a groupby tuple, a view or an Undefined (a further data-chosen hop is a finding):
# a bound method, a type, a method wrapper or the JSON value itself. Called by these literal names, each of
# those raises or gives a string, a number, a list or the value's own items; none takes a format string or a
# callable (format, join, fromkeys, ... are not here). MiniCPM5 calls ``.items()`` of
# ``message.tool_calls[i].arguments``, where ``i`` may be a free render argument.
_SAFE_PICKED_METHODS = (
    _DATA_METHODS | _NUMBER_METHODS
    | {"split", "rsplit", "strip", "lstrip", "rstrip", "lower", "upper", "title", "capitalize", "casefold",
       "swapcase", "replace"}
)
# Round 9: methods that may be given a value reached through a chat-chosen key: they compare, search or iterate
# their arguments, never call them (list.sort(key=f) calls f; str.format is judged on its own), and never store
# them: a picked value put into a container by append / insert / extend / update / setdefault would come back
# out of it as an unknown, unpicked element (the limit rounds 7 and 8 left). No real template does either.
_ARGUMENT_SAFE_METHODS = (
    _SAFE_PICKED_METHODS
    | {"remove", "pop", "join", "cycle", "changed", "ljust", "rjust", "center", "zfill", "removeprefix",
       "removesuffix", "partition", "rpartition"}
)
# Methods that mix their arguments into a string (a dunder can be assembled from data characters with them).
_MIXING_METHODS = frozenset(
    {"format", "format_map", "join", "replace", "center", "ljust", "rjust", "zfill", "translate", "encode",
     "decode", "expandtabs", "removeprefix", "removesuffix"}
)
# Round 11: filters whose result holds the attribute they read, not an element (map(attribute=), attr, groupby's
# grouper, sum's terms): given a mutating method's name they hand out bound methods.
_ATTRIBUTE_VALUE_FILTERS = frozenset({"attr", "map", "groupby", "sum"})
# Round 15 (class D; round 12 had |dictsort and |xmlattr only): every method Jinja's builtin filters call BY NAME
# (a plain attribute lookup, which a namespace answers with what ``{% set ns.<name> %}`` stored) on their input
# ("value") or on a named argument. Read from jinja2 3.1.6 filters.py: do_dictsort ``value.items()``, do_xmlattr
# ``d.items()``, do_items ``value.items()`` (Mapping only), do_urlencode ``value.items()`` (dict only),
# do_wordwrap ``s.splitlines()`` and ``wrapstring.join(...)`` (neither made a str first), do_urlize ``rel.split()``
# (found by the probe test, not by reading: the table is checked, not trusted). Every other filter makes
# its input a str first (soft_str: center, trim, replace, format, upper, ...), calls only class-level dunders
# (len, iter, +, __html__ via hasattr: dunders set on a namespace are findings of their own), or reads an
# attribute named by its argument (judged as such). No builtin test calls a method by name (tests.py: str(value)
# .islower(), hasattr, ``in``, operators). tests/test_templates_round15.py checks this table against EVERY builtin
# filter and test, and records the names really called on a probe object in every argument position.
_IMPLICIT_CALLS: dict[str, tuple[tuple[str, str], ...]] = {
    "dictsort": (("value", "items"),),
    "xmlattr": (("value", "items"),),
    "items": (("value", "items"),),
    "urlencode": (("value", "items"),),
    "wordwrap": (("value", "splitlines"), ("wrapstring", "join")),
    "urlize": (("rel", "split"),),
}
_NO_IMPLICIT_CALLS = frozenset(
    {"abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "e", "escape", "filesizeformat",
     "first", "float", "forceescape", "format", "groupby", "indent", "int", "join", "last", "length", "list",
     "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr", "replace", "reverse", "round",
     "safe", "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
     "truncate", "unique", "upper", "wordcount"}
)
# list / dict methods that return None (pop, setdefault, popitem return an element).
_NONE_METHODS = frozenset({"append", "extend", "insert", "update", "remove", "clear", "sort", "reverse"})
# The attribute names called implicitly on an object by Jinja's filters and runtime, markupsafe and dict().
_IMPLICIT_NAMES = frozenset(
    {"items", "keys", "__html__", "__html_format__", *(attr for calls in _IMPLICIT_CALLS.values() for _, attr in calls)}
)
# Methods that change a list or dict in place (its literal no longer tells its elements).
# Round 15: the depths _Walker._closure tells apart (bit d of a mask: an object d levels inside a name's own object
# may be changed); the top bit stands for every depth from it on.
_TOP_DEPTH = 7
_ALL_DEPTHS = (1 << (_TOP_DEPTH + 1)) - 1
# Mutating methods that keep none of their arguments (a value of one stores nothing: round 16, layer 3).
_NONE_STORING_METHODS = frozenset({"pop", "popitem", "remove", "clear", "sort", "reverse", "discard"})
_MUTATING_METHODS = frozenset(
    {"append", "extend", "insert", "update", "setdefault", "pop", "popitem", "remove", "clear", "sort", "reverse",
     "__setitem__", "add", "discard"}
)


@cache
def _attribute_positions() -> dict[str, int]:
    """Where each of Jinja's filters takes an attribute name positionally (after the filtered value), read
    from the filter functions' real signatures (round 5: join's ``attribute`` is its second positional
    argument, and a hand-written table had missed it). ``selectattr``/``rejectattr`` take ``*args``: first."""
    import inspect

    from jinja2.defaults import DEFAULT_FILTERS

    out = {"selectattr": 0, "rejectattr": 0}
    for name, fn in DEFAULT_FILTERS.items():
        params = list(inspect.signature(fn).parameters)
        if getattr(fn, "jinja_pass_arg", None) is not None:
            params = params[1:]  # the context / eval context / environment
        params = params[1:]  # the filtered value
        for i, param in enumerate(params):
            if param in ("attribute", "name") and name in ATTRIBUTE_FILTERS:
                out[name] = i
    return out


@cache
def _filter_params(name: str) -> list[str]:
    """The parameter names of Jinja's builtin filter ``name`` after the filtered value (its real signature)."""
    import inspect

    from jinja2.defaults import DEFAULT_FILTERS

    fn = DEFAULT_FILTERS.get(name)
    if fn is None:
        return []
    params = list(inspect.signature(fn).parameters)
    if getattr(fn, "jinja_pass_arg", None) is not None:
        params = params[1:]
    return params[1:]


@cache
def _builtin_tests() -> frozenset[str]:
    """Jinja's own tests, which return bools."""
    from jinja2.defaults import DEFAULT_TESTS

    return frozenset(DEFAULT_TESTS)


def _is_data(values: frozenset[Any]) -> bool:
    """Values read from the render data: what is picked out of them is data too. Only data: a number mixed
    in (``x or N``, ``x|default(N)``) is not (round 5 turned N into '__globals__' with .to_bytes()), and
    nothing is data by being empty -- nor by being a fixpoint's first guess (PENDING) alone (round 6:
    `{% set ns.k = ns.k|lower %}` settled as data with no render data in it)."""
    return values - _PENDING == _DATA


def _is_num(values: frozenset[Any]) -> bool:
    """Values proven to be numbers (results of operations that always return a number)."""
    rest = values - _PENDING
    return rest == _NUMBER or (not rest and bool(values))


def _arith(*operands: frozenset[Any]) -> bool:
    """Arithmetic proven to give a number or render data (:func:`_arith_result`): one operand is a proven
    number and every other one is a number or render data. A template-built container, a constant string or
    anything unknown on either side is not (round 5: dict keys minus a tuple is a set)."""
    allowed = _SAFE | _PENDING
    return all(x and x <= allowed for x in operands) and any(_is_num(x) for x in operands)


def _arith_result(*operands: frozenset[Any], text: bool = True) -> frozenset[Any]:
    """What proven arithmetic gives: a number; with render data in it, ``*`` and ``%`` may build text
    ('_' * 2, '%c' % 95 of a data string): that is NOT data (round 6), so unknown besides the number.
    ``text=False`` for + - / // ** and signs, which with a number operand raise on strings and lists."""
    if text and any(DATA in x for x in operands):
        return _NUMBER | _UNK
    return _NUMBER


def _unresolved(values: frozenset[Any]) -> bool:
    """A key or attribute name that is not proven (allow-list): known strings, render data, numbers, and
    nothing else. Empty (nothing settled) is not proven. A key that is either a number or data is (each label
    is proven on its own); what is *derived* from such a mix is not data (see :func:`_is_data`)."""
    if not values:
        return True
    return any(not isinstance(v, str) and v is not NUM and v is not DATA for v in values)


def _is_dict_call(node: Any, n: Any) -> bool:
    return isinstance(node, n.Call) and isinstance(node.node, n.Name) and node.node.name == "dict"


def _strs(values: frozenset[Any]) -> list[str]:
    # Sorted: a frozenset's order follows the string hash, which PYTHONHASHSEED changes between runs, and the
    # names listed in a finding's message must not (the same file gives the same report).
    return sorted(v for v in values if isinstance(v, str))


def _all_strs(values: frozenset[Any]) -> bool:
    return bool(values) and all(isinstance(v, str) for v in values)


def _chars(values: frozenset[Any]) -> frozenset[Any]:
    """What iterating each value gives: the characters of strings; data stays data, a number gives nothing."""
    out: set[Any] = set()
    for v in values:
        if isinstance(v, str):
            out.update(v)
        elif v is not NUM:
            out.add(v)
    return frozenset(out)


# The analysis bounds hit while analysing one template (per thread: scans may run in threads). Hitting a
# bound means part of the template was not followed, which round 4 turned into a bypass (140,000 filler
# {% set %} exhausted MAX_STEPS, after which a built name went unseen): a bound hit is itself a finding.
_BOUNDS = threading.local()


def _hit(bound: str) -> None:
    hits = getattr(_BOUNDS, "hits", None)
    if hits is not None:
        hits.add(bound)


# Round 24 (c): the per-template step budget. Every fixed-point loop and worklist of this module that is not a
# walk of the (finite, acyclic) parse tree charges its work here: value computations, predicate judgements,
# fixpoint rounds, closure passes. Past the budget the analysis stops with a finding (fail closed, naming the
# template's file through its rule), so a loop that fails to terminate in a future change turns into a verdict,
# not a hung scan. A count of steps, not wall time: the same template gets the same verdict on any machine and
# under any load, and it needs no signal (scans may analyse templates in worker threads). Tests lower it through
# ``analysis_budget``. The real templates of shared/datasets/chat-templates spend at most ~8,000 (measured when
# it was set); hostile sizes are cut earlier by MAX_STEPS per phase.
ANALYSIS_BUDGET = 10 * MAX_STEPS  # 4 M: every phase bound (MAX_STEPS each) fits in it with room


class AnalysisBudgetExceeded(Exception):
    """Raised inside the analysis when the template's step budget is spent (caught by _analyze)."""


def _spend(steps: int = 1) -> None:
    left = getattr(_BOUNDS, "left", None)
    if left is None:
        return
    left -= steps
    _BOUNDS.left = left
    if left < 0:
        raise AnalysisBudgetExceeded


@contextmanager
def analysis_budget(steps: int) -> Iterator[None]:
    """Test hook: analyse with a budget of ``steps`` (the analysis cache is cleared on entry and exit, so no
    verdict computed under one budget is reused under the other)."""
    global ANALYSIS_BUDGET
    old = ANALYSIS_BUDGET
    ANALYSIS_BUDGET = steps
    _analyze_cached.cache_clear()
    try:
        yield
    finally:
        ANALYSIS_BUDGET = old
        _analyze_cached.cache_clear()


def _product(parts: list[frozenset[Any]], join: Any) -> frozenset[Any]:
    """Every combination of the string values of ``parts`` through ``join`` (None from it: unknown)."""
    combos: list[tuple[str, ...]] = [()]
    for part in parts:
        if not _all_strs(part):
            return _UNK
        combos = [c + (p,) for c in combos for p in part]
        if len(combos) > MAX_VALUES:
            _hit("MAX_VALUES")
            return _UNK
    out = set()
    for combo in combos:
        value = join(combo)
        if not isinstance(value, str) or len(value) > MAX_FOLD:
            return _UNK
        if not _fold_bytes(len(value)):
            return _UNK
        out.add(value)
    return frozenset(out)


# Red team round 25: the folded strings of a template are kept per node (MAX_VALUES of up to MAX_FOLD characters
# each), so a few bytes of template ('{{ s ~ '._' * 2040 }}' in a loop over 60 strings) built ~240 KB each: an
# 85 KB template held 1 GB. Every folded string is charged its length plus a string object's overhead to a
# per-template allowance; past it folds are unknown (a bound hit: a finding, fail closed). The real templates of
# shared/datasets/chat-templates fold at most 17 KB (measured when it was set; the bound is ~1,900 times that).
MAX_FOLD_BYTES = 32 * 1024 * 1024


def _fold_bytes(length: int) -> bool:
    """Charge a folded string of ``length`` characters; False (and a bound hit) once the allowance is spent."""
    left = getattr(_BOUNDS, "fold_left", None)
    if left is None:
        return True
    left -= length + 64
    _BOUNDS.fold_left = left
    if left < 0:
        _hit("MAX_FOLD_BYTES")
        return False
    return True


def _subtree(root: Any, kids: dict[int, list[Any]]) -> list[Any]:
    """``root`` and every node under it (``kids``: each node's children by id)."""
    out, todo = [], [root]
    while todo:
        x = todo.pop()
        out.append(x)
        todo.extend(kids[id(x)])
    return out


def _direct_calls(stmts: list[Any], kids: dict[int, list[Any]]) -> set[int]:
    """ids of the callee Names of calls that run in ``stmts``' own frame (nested inline frames included: they run
    while it runs), not in a nested macro or call block (those may run anywhere)."""
    nodes = _NODES
    found: set[int] = set()
    todo = list(stmts)
    while todo:
        x = todo.pop()
        if isinstance(x, nodes.Macro | nodes.CallBlock):
            if isinstance(x, nodes.CallBlock):
                todo.append(x.call)  # the call expression itself runs here
            continue
        if isinstance(x, nodes.Call) and isinstance(x.node, nodes.Name):
            found.add(id(x.node))
        todo.extend(kids[id(x)])
    return found


class _Walker:
    def __init__(self, source: str, config_names: frozenset[str] = frozenset()) -> None:
        self.source = source
        self.config_names = config_names
        self.issues: list[TemplateIssue] = []
        self.lines: list[str] | None = None  # the source's lines, split on the first finding (evidence)
        self.stored: set[str] = set()
        self.consumed: set[int] = set()  # ids of argument nodes already judged by the node using them
        # Every value bound to a name anywhere in the template, flow-insensitively: name (or "ns.attr" for a
        # namespace attribute) -> (value node, or None for a value not known here; element level).
        self.bindings: dict[str, list[tuple[Any, int]]] = {}
        self.memo: dict[tuple[int, int], frozenset[Any]] = {}
        self.name_memo: dict[tuple[str, int, bool], frozenset[Any]] = {}
        # ids of Name reads that a binding surely reaches (see _surely_bound): they have no free value.
        self.surely: set[int] = set()
        self.markup_blocks: set[int] = set()
        self.changed: set[str] = set()  # names whose containers the template may change in place  # ids of block sets inside {% autoescape %}: their value is Markup
        self.log: list[tuple[bool, Any]] = []  # memo entries in the order made (forgotten when a guess grows)
        self.active: set[tuple[str, int]] = set()
        self.provisional: dict[tuple[str, int], frozenset[Any]] = {}
        self.cyclic: set[tuple[str, int]] = set()
        # Results forgotten when an enclosing guess grew: the next round starts from them (values only grow
        # with the guess, so a smaller result is still below the new fixpoint) instead of from nothing.
        self.warm: dict[Any, frozenset[Any]] = {}
        self.steps = 0
        self.macros: set[str] = set()
        # Round 10: names of {% block %}s. With macros, a name the template defines as an object: where no binding
        # reaches a read, the read is that object (or an argument the host passed), never render data.
        self.blocks: set[str] = set()
        self.picked_memo: dict[Any, bool] = {}
        self.not_json_memo: dict[tuple[int, int], bool] = {}
        self.not_top_memo: dict[tuple[str, int, Any], bool] = {}
        # Round 10: the mutating method calls (l.append(x), d.update(y) ...): what they store is what a changed
        # container's unknown elements can be (unless containers are changed in ways not followed: wild).
        self.stored_in: list[Any] = []
        # Round 16 (layer 3): where a mutating method used as a value (f = d.update, then c.sort(key=f) or
        # namespace(count=f) ... x.count(a)) may be called: every call of the template; (its argument nodes, its
        # receiver node or None). Empty when the template has no such value.
        self.value_calls: list[tuple[list[Any], Any]] = []
        self.value_stores: list[Any] = []  # the method-value nodes that may store what they are called with
        self.wild = False
        # Round 9: the predicates' walk (_judged, Tarjan): keys on the stack -> their index, the stack, the lowest
        # index a cycle reached back to, and a step budget (past it: not proven, so a hostile size is a finding).
        self.pred_onstack: dict[Any, int] = {}
        self.pred_stack: list[tuple[dict[Any, bool], Any]] = []
        self.pred_next = 0
        self.pred_low = 0
        self.pred_steps = 0
        # Round 9: id of a ``loop.<attr>`` node -> the {% for %} whose loop it reads (previtem / nextitem are
        # elements of that loop's iterable; a recursive loop's are not modelled).
        self.loop_of: dict[int, Any] = {}
        # id of a ``loop(...)`` call -> the recursive {% for %} whose target it rebinds.
        self.loop_calls: dict[int, tuple[Any, Any]] = {}  # pre-order: an inner loop's claim overrides
        # Round 19: ids of the macros defined inside an inline frame (a for, with, filter or set-block body) and used
        # other than by a direct call in their own body (_escaped_frame_macros): no credit for that frame's sets.
        self.frame_escaped: set[int] = set()
        # Round 17: id of a loop read in ``loop_of`` -> whether it may ALSO be a binding of ``loop`` or the render
        # argument (Jinja's outcome depends on the order of first mention, or the read is in a block).
        self.loop_both: dict[int, bool] = {}
        # The name-level channels (see _channels): (key, value node or None, element level).
        self.channels: list[tuple[str, Any, int]] = []
        self.flow_attrs: frozenset[str] = frozenset()
        self.fresh_callees: frozenset[str] = frozenset()  # round 15: set in _mutations
        self.depths: dict[str, int] = {}  # round 15: changed depths per key (_closure)
        self.kids: dict[int, list[Any]] = {}  # id of a node -> its children (filled by run)
        self.parents: dict[int, Any] = {}  # id of a node -> its parent
        self.all_nodes: list[Any] = []  # every node in pre-order (filled by run)
        self.by_type: dict[type, list[Any]] = {}  # exact class -> its nodes in pre-order (filled by run)

    def add(self, kind: str, node: Any, message: str) -> None:
        line = getattr(node, "lineno", 0) or 0
        if self.lines is None:  # split once per template, not once per finding (1,500 findings on one line)
            self.lines = self.source.splitlines()
        self.issues.append(TemplateIssue(kind, line, message, _line(self.source, line, self.lines)))

    def run(self, tree: Any) -> None:
        nodes = _NODES
        kids: dict[int, list[Any]] = {}
        by_type: dict[type, list[Any]] = {}
        all_nodes = _iter_nodes(tree, kids, self.parents, by_type)
        self.all_nodes = all_nodes
        self.kids = kids
        self.by_type = by_type
        of = self._of
        # First pass: every binding form is a binder ({% set %} of any target shape, block set, for, with,
        # macro and call-block parameters, namespace attributes), so a name carries all its values.
        macros: dict[str, list[Any]] = {}
        calls: dict[str, list[Any]] = {}
        loads: dict[str, int] = {}
        mutated: list[Any] = []  # what .append(), .update(), ... are called on
        self.surely = _surely_bound(tree, kids)
        for modifier in of(nodes.EvalContextModifier):  # {% autoescape %} (scoped or not)
            self.markup_blocks.update(id(x) for x in modifier.find_all(nodes.AssignBlock))
        # Only the classes the loop acts on (the others bind no loop and are none of its cases), in pre-order.
        for node in of(nodes.Name | nodes.Import | nodes.FromImport | nodes.Macro | nodes.Block | nodes.NSRef |
                       nodes.Call):
            if _binds_loop(node):
                # Round 17 (class A): a for body still reads its LoopContext whatever ``loop`` is bound to
                # outside it; rebinding the name only serves to make loop.previtem look like a constant to a
                # reader (or an analyser). No real chat template does it.
                self.add(LOOP_REBIND, node, "template binds the name 'loop', Jinja's loop variable (a for body "
                                            "still reads its LoopContext): it only serves to disguise loop reads")
            if isinstance(node, nodes.Name):
                if node.ctx in ("store", "param"):
                    self.stored.add(node.name)
                elif node.ctx == "load":
                    loads[node.name] = loads.get(node.name, 0) + 1
            elif isinstance(node, nodes.Macro | nodes.Block):
                if isinstance(node, nodes.Block):
                    self.stored.add(node.name)
                    self.blocks.add(node.name)
                    if _dangerous_name(node.name):
                        self.add(DUNDER, node, f"template names Python internal attribute '{node.name}' (block name)")
                    continue
                for defined in [node.name, *(a.name for a in node.args)]:
                    if _dangerous_name(defined):  # readable back as a string: m.name, m.arguments
                        self.add(DUNDER, node, f"template names Python internal attribute '{defined}' (macro)")
                self.stored.add(node.name)
                self.stored.update(a.name for a in node.args)
                self.macros.add(node.name)
                macros.setdefault(node.name, []).append(node)
            elif isinstance(node, nodes.NSRef) and (_dangerous_name(node.attr) or node.attr.startswith("_")):
                # Round 12: {% set ns.__html__ = f %} makes Jinja / markupsafe call f with no Call node (escape on
                # autoescaped output calls ns.__html__()); like the keyword rule for namespace(__html__=f).
                self.add(DUNDER, node, f"template sets namespace attribute '{node.attr}' (a private or internal name: "
                                         f"__html__ and the like are called implicitly)")
            elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and \
                    node.node.attr in _MUTATING_METHODS:
                mutated.append(node.node.node)
                self.stored_in.append(node)
            elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
                calls.setdefault(node.node.name, []).append(node)
        self._loop_scopes(all_nodes, kids)
        # ONE enumeration of the channels a value flows through into a name (after red team round 14): the
        # label walk's bindings and the alias pass's edges are both made from it, so neither can miss one.
        self.channels = self._channels(all_nodes, macros, calls, loads)
        for key, value, level in self.channels:
            self.bindings.setdefault(key, []).append((value, level))
        self._mutations(mutated, macros, calls, all_nodes)
        # visit returns at once for a class with no check: those nodes are left out, the others keep their order.
        checked = {cls for cls in by_type if _visit_kind_of(cls)}
        visit = self.visit
        for node in all_nodes:
            if type(node) in checked:
                visit(node)

    def _of(self, classes: Any) -> list[Any]:
        """The template's nodes that are instances of ``classes``, in pre-order (see _of_class)."""
        return _of_class(self.by_type, self.all_nodes, classes)

    def _loop_scopes(self, all_nodes: list[Any], kids: dict[int, list[Any]]) -> None:
        """Which {% for %}'s LoopContext each ``loop`` read in a loop body is (``loop_of``), decided by Jinja
        3.1's own rule (compiler.visit_For) rather than by whether ``loop`` has bindings. Red team round 17
        (class A): a for body whose first mention of ``loop`` is a read gets the LoopContext, and every scope
        nested in the body (macro bodies, call-block bodies, inner loops' iterables) reads it through the
        closure, whatever the name is bound to outside the body (top-level set, with, macro parameter): the
        round-10 premise that macro / call-block bodies are a new scope was wrong. Where the body itself binds
        ``loop`` (a with target, a macro parameter) the outcome depends on the order of first mention (it may
        be the LoopContext, the binding or the render argument), and inside a {% block %} it is the render
        argument: those reads are in ``loop_both`` and modelled as every one of them."""
        nodes = _NODES
        loop_names = [x for x in self._of(nodes.Name) if x.name == "loop"]
        parents = self.parents
        if loop_names and (
            # Each node has one parent (so the walk up from a read meets exactly the nodes the walk down from
            # a loop's body met), and no loop(...) call (the walk down also fixes loop_calls' order, which
            # the channels keep): else the walk down, as it was.
            len(parents) != len(all_nodes) - 1 or
            any(isinstance(parents.get(id(x)), nodes.Call) and parents[id(x)].node is x for x in loop_names)
        ):
            self._loop_walk_down(kids)
        elif loop_names:
            self._loop_walk_up(loop_names)
        self._escaped_loop_macros(all_nodes, kids)
        self._escaped_frame_macros(all_nodes, kids)
        # A loop read is never "surely bound" by a binding of the name ``loop``: what it is was decided here.
        self.surely -= {i for i in self.loop_of}

    def _loop_walk_down(self, kids: dict[int, list[Any]]) -> None:
        """_loop_scopes by walking every loop's body: each read is claimed by every loop whose body holds it,
        in pre-order, so the innermost claim stays."""
        nodes = _NODES
        for loop_node in self._of(nodes.For):  # pre-order: an inner loop's body overrides the outer loop's claim
            # The loop's iterable, test and else are the enclosing scope's: only the body is searched.
            pending = [(x, False) for x in loop_node.body]
            body: list[Any] = []
            while pending:
                read, in_block = pending.pop()
                body.append(read)
                in_block = in_block or isinstance(read, nodes.Block)
                if isinstance(read, nodes.Getattr) and isinstance(read.node, nodes.Name) and \
                        read.node.name == "loop":
                    self.loop_of[id(read)] = loop_node
                    self.loop_both[id(read)] = in_block
                elif isinstance(read, nodes.Name) and read.name == "loop" and read.ctx == "load":
                    # The LoopContext itself (set lp = loop, then lp.previtem): it holds the iterable's
                    # elements, so it carries the loop's channel key (labels and aliases alike).
                    self.loop_of[id(read)] = loop_node
                    self.loop_both[id(read)] = in_block
                if isinstance(read, nodes.Call) and isinstance(read.node, nodes.Name) and read.node.name == "loop":
                    self.loop_calls[id(read)] = (read, loop_node)
                pending.extend((k, in_block) for k in kids[id(read)])
            if any(_binds_loop(x) for x in body):
                for read in body:
                    if id(read) in self.loop_of and self.loop_of[id(read)] is loop_node:
                        self.loop_both[id(read)] = True

    def _loop_walk_up(self, loop_names: list[Any]) -> None:
        """_loop_scopes from the reads up (the same claims as _loop_walk_down, which walked each loop's whole
        body and its nested loops' bodies again): a read is the innermost loop's whose BODY holds it (not its
        iterable, test or else), in a block when a {% block %} lies between (itself included), and also
        ``loop_both`` when that loop's body binds ``loop`` anywhere (what the last, innermost claim leaves)."""
        nodes = _NODES
        parents = self.parents
        body_ids = {id(stmt) for loop_node in self._of(nodes.For) for stmt in loop_node.body}
        binding: set[int] = set()  # ids of the loops whose body binds ``loop`` somewhere inside
        binders = [x for x in loop_names if _binds_loop(x)]
        binders += [x for x in self._of(nodes.Import | nodes.FromImport) if _binds_loop(x)]
        for binder in binders:
            child, up = binder, parents.get(id(binder))
            while up is not None:
                if id(child) in body_ids and isinstance(up, nodes.For):
                    binding.add(id(up))
                child, up = up, parents.get(id(up))
        for name in loop_names:
            up = parents.get(id(name))
            reads = [name] if name.ctx == "load" else []
            if isinstance(up, nodes.Getattr) and up.node is name:
                reads.append(up)
            for read in reads:
                in_block = isinstance(read, nodes.Block)
                child, up = read, parents.get(id(read))
                while up is not None:
                    if id(child) in body_ids and isinstance(up, nodes.For):
                        self.loop_of[id(read)] = up
                        self.loop_both[id(read)] = in_block or id(up) in binding
                        break
                    in_block = in_block or isinstance(up, nodes.Block)
                    child, up = up, parents.get(id(up))

    def _escaped_loop_macros(self, all_nodes: list[Any], kids: dict[int, list[Any]]) -> None:
        """Red team round 18 (class B): Jinja compiles every for loop at one frame depth of a function to the same
        Python local (``l_1_loop``), and a macro closes over that variable, not over its own loop's object. A macro
        defined in loop A's body that is stored, passed or called from elsewhere reads whichever same-depth loop
        is running (a sibling loop over the host's messages) or Undefined. Safe model: such a macro's loop reads
        are no loop's (the free render name ``loop``, unknown at every level), and the use is a finding (no real
        chat template does it). A direct call in the loop's own body, outside any nested macro or call block,
        keeps the lexical model."""
        nodes = _NODES

        macros = self._of(nodes.Macro)
        if not macros or not self.loop_of:  # no loop read at all: no macro has one (``reads`` below is empty)
            return
        for macro in macros:
            inside = _subtree(macro, kids)
            inside_ids = {id(x) for x in inside}
            reads = [x for x in inside if id(x) in self.loop_of and id(self.loop_of[id(x)]) not in inside_ids]
            if not reads:
                continue
            owner = self.loop_of[id(reads[0])]
            # Calls allowed: in the owner's body, not under a nested macro / call block (those may run elsewhere).
            direct = _direct_calls(owner.body, kids)
            uses = [x for x in self._of(nodes.Name) if x.ctx == "load" and x.name == macro.name]
            if all(id(x) in direct for x in uses) and all(self.loop_of[id(r)] is owner for r in reads):
                continue
            for read in reads:
                self.loop_of.pop(id(read), None)
                self.loop_both.pop(id(read), None)
                self.surely.discard(id(read))
            for key, (read, _) in list(self.loop_calls.items()):
                if id(read) in inside_ids:
                    del self.loop_calls[key]
            self.add(LOOP_ESCAPE, macro, f"macro '{macro.name}' reads 'loop' and is used outside a direct call in "
                                         f"its own loop body: it then reads whichever loop of that frame depth "
                                         f"is running (Jinja shares one loop variable), not its own")

    def _escaped_frame_macros(self, all_nodes: list[Any], kids: dict[int, list[Any]]) -> None:
        """Red team round 19 (round 18's class B for every name): jinja2 3.1 compiles every inline frame of one
        depth in a Python function (for bodies, with / filter / set-block bodies: ``frame.inner()``) to the same
        locals ``l_<depth>_<name>``, and a macro closes over those variables, not over its own block's values. A
        sibling block that sets a name in one branch only reloads it from the render context when it starts, so a
        macro defined in block A after ``{% set tools = [] %}``, stored in a namespace and called in sibling block B
        reads the host's ``tools``. Safe model: a macro with an inline frame among its ancestors that is used other
        than by a direct call in its own body (the statement list it is defined in, outside nested macros and call
        blocks, or its own body: recursion) is escaped. _surely_bound then credits it only with its parameters, its
        own sets and the sets of function frames (the template's top level, a macro's body, before the definition):
        every other name it reads is a free read. Reported (no real chat template defines a macro inside such a
        block at all) when the macro reads a name one of those blocks stores."""
        nodes = _NODES
        # Scope: {% autoescape %} (jinja2 3.1 compiles it with frame.inner() too; red team round 21).
        inline = (nodes.For, nodes.With, nodes.FilterBlock, nodes.AssignBlock, nodes.Scope)
        frames = (*inline, nodes.Macro, nodes.CallBlock, nodes.Block, nodes.Template)
        parents = self.parents
        macros = self._of(nodes.Macro)
        if not macros:
            return

        uses: dict[str, list[Any]] = {}
        for x in self._of(nodes.Name):
            if x.ctx == "load":
                uses.setdefault(x.name, []).append(x)

        def stores(root: Any) -> Counter[str]:
            """Binding sites of each name in ``root``'s subtree: set / for targets, with targets, macros."""
            found: Counter[str] = Counter()
            for y in _subtree(root, kids):
                if isinstance(y, nodes.Name) and y.ctx == "store" or isinstance(y, nodes.Macro):
                    found[y.name] += 1
                elif isinstance(y, nodes.With):  # its targets are "param" Names
                    found.update(name for t in y.targets for name in _names_in(t))
            return found

        # Per statement list / frame, computed once: a template of many macros in one block stays linear.
        direct_of: dict[int, set[int]] = {}
        stores_of: dict[int, Counter[str]] = {}
        for macro in macros:
            shared: list[Any] = []  # the inline frames around the macro, up to the template's top level
            home, top, x = None, macro, parents.get(id(macro))
            while x is not None:
                if home is None and isinstance(x, frames):
                    home = x
                elif home is None:
                    top = x
                if isinstance(x, inline):
                    shared.append(x)
                x = parents.get(id(x))
            if not shared or home is None:
                continue
            own = home.else_ if isinstance(home, nodes.For) and any(s is top for s in home.else_) else home.body
            if id(own) not in direct_of:
                direct_of[id(own)] = _direct_calls(own, kids)
            direct = direct_of[id(own)]
            used = uses.get(macro.name, [])
            if all(id(u) in direct for u in used):
                continue
            recursion = _direct_calls(macro.body, kids)
            if all(id(u) in direct or id(u) in recursion for u in used):
                continue
            self.frame_escaped.add(id(macro))
            # The names a sibling block can reload: bound in one of those frames outside the macro itself.
            mine = stores(macro)
            for frame in shared:
                if id(frame) not in stores_of:
                    stores_of[id(frame)] = stores(frame)
            params = {a.name for a in macro.args}
            loads = {y.name for y in _subtree(macro, kids) if isinstance(y, nodes.Name) and y.ctx == "load"}
            read = sorted(name for name in loads - params - {"loop"}
                          if any(stores_of[id(frame)][name] > mine[name] for frame in shared))
            if read:
                self.add(FRAME_ESCAPE, macro, f"macro '{macro.name}' is defined inside a for/with/filter/set block and "
                                              f"used outside a direct call there: its reads of "
                                              f"{', '.join(repr(r) for r in read[:5])} are of the variable that every "
                                              f"block of that depth shares (Jinja), which a sibling block can load "
                                              f"from the caller's render data")

    def _mutations(self, mutated: list[Any], macros: dict[str, list[Any]], calls: dict[str, list[Any]],
                   all_nodes: list[Any]) -> None:
        """A container mutated anywhere (l.append('_'), d.update({...})) has elements not seen in its literal:
        the elements of every name that may hold it become unknown (its own value stays a container). Names
        holding the same object (set a = b, macro parameters and their arguments) are followed."""
        nodes = _NODES
        names: set[str] = set()
        # Round 13: namespace attribute keys (pooled, ".a") reached by any attribute read, as the walk's labels do.
        of = self._of
        self.flow_attrs = frozenset(
            [*(f".{r.attr}" for r in of(nodes.NSRef)), *(k for k in self.bindings if k[:1] == ".")]
        )
        # Round 15: Jinja's globals that build a new object per call, where the template does not rebind them.
        self.fresh_callees = _NEW_OBJECT_GLOBALS - set(self.bindings)
        flow = self._flow

        # Containers reached in ways not followed here make every container's elements unknown (round 5):
        # a mutated receiver that is not a plain name's item/attribute chain ((l|default([])).append,
        # (l or 0).extend), and any container handed through varargs / kwargs / caller(...) arguments /
        # call-block parameters, which are not aliased to the names they came from.
        wild = False
        # Round 11 (guilty until proven): a mutating bound method used as a VALUE ({% set keep = m.update %}
        # then c.sort(key=keep), passed to a call/filter/test, stored in a list or namespace) changes its receiver
        # where no call of it is seen. Every reference to a method that may change its receiver, other than as
        # the callee of a call (seen above), is a mutation of every name its receiver may hold. So is a read
        # that may name such a method at render time: x[key] with a key not proven a non-method string (Jinja's
        # getitem falls back to getattr), and attr/map/groupby/sum given a mutating or computed name.
        # A value used up where it stands (printed, tested, compared, an attribute of it read, made a string) is
        # not kept: basic_type_map[json_spec.type] is defined (Command R) cannot call what it reads.
        parents = self.parents
        unseen: list[str] = []
        # Round 15 (class C): which DEPTHS of the objects a name holds may change, as a bit mask (bit d: an object
        # d levels inside, d = 0 the name's own object; the top bit stands for every depth past it): see _closure.
        depth: dict[str, int] = {}
        seeds: list[Any] = []  # where a container may be changed unseen (a mutating method used as a value)

        def seed(key: str, mask: int) -> None:
            depth[key] = depth.get(key, 0) | mask

        # Only filters, attribute and item reads can be one of the cases below (the check before them is pure).
        for node in of(nodes.Filter | nodes.Getattr | nodes.Getitem):
            parent = parents.get(id(node))
            if isinstance(parent, nodes.Call) and parent.node is node or self._used_up(node, parent):
                continue
            if isinstance(node, nodes.Filter) and node.name in _ATTRIBUTE_VALUE_FILTERS and \
                    node.node is not None and \
                    any(self._may_name_method(a, path=True) for a in [*node.args, *(k.value for k in node.kwargs)]):
                # The method of an element (or of something a dotted path reaches inside it): any depth.
                unseen.extend(flow(node.node))
                seeds.append(node)
                for key in flow(node.node):
                    seed(key, _ALL_DEPTHS)
            elif isinstance(node, nodes.Getattr) and node.ctx == "load" and node.attr in _MUTATING_METHODS or \
                    isinstance(node, nodes.Getitem) and node.ctx == "load" and self._may_name_method(node.arg):
                unseen.extend(flow(node.node))
                seeds.append(node)
                exact, loose = self._receiver_chain(node.node)
                for key, level in exact:
                    seed(key, 1 << min(level, _TOP_DEPTH))  # that object of the chain is changed, not what is inside
                for key in loose if exact else flow(node.node):
                    seed(key, _ALL_DEPTHS)
        names.update(unseen)
        for target in mutated:
            keys = self._receiver_keys(target)
            names.update(keys)
            if not keys or keys[-1][:1] == ".":
                wild = True  # not a plain name's item/attribute chain
            exact, loose = self._receiver_chain(target)
            for key, level in exact:
                seed(key, 1 << min(level, _TOP_DEPTH))
            for key in loose:
                seed(key, _ALL_DEPTHS)
        for node in of(nodes.Name | nodes.CallBlock | nodes.Call):
            if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in ("varargs", "kwargs") or \
                    isinstance(node, nodes.CallBlock) and node.args or \
                    isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and \
                    node.node.name == "caller" and (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs):
                wild = True
                break
        # A container handed to a call that is not a macro defined here (a host function, a method storing it
        # elsewhere: x.append(l), namespace(a=l)) may be changed there or reached through another name.
        escaped: list[Any] = []
        for node in of(nodes.Call):
            if isinstance(node, nodes.Call) and not (isinstance(node.node, nodes.Name) and node.node.name in macros) \
                    and not (isinstance(node.node, nodes.Getattr) and node.node.attr in _KNOWN_METHODS) \
                    and not (isinstance(node.node, nodes.Name) and node.node.name in self.fresh_callees):
                # Round 15: a list / dict / str method by name keeps (store_edges) but never changes its arguments,
                # nor do Jinja's own globals; any other method of that name is a call the label walk judges.
                # Every name inside an argument: x.append([l]) stores l itself, not a copy.
                # Round 13: every argument child (``*args`` / ``**kwargs`` included), the same enumeration the
                # label walk uses: ``d.update(**{'a': l})`` stores ``l`` as surely as ``d.update({'a': l})``.
                escaped.extend(name for a in _call_args(node) for name in flow(a))
        for arg in dict.fromkeys(escaped):
            if arg in self.bindings and self._name_value(arg, 0, 0) & {SEQUENCE, MAPPING, NAMESPACE}:
                seed(arg, _ALL_DEPTHS)  # a host function may change anything inside it
        self.wild = wild
        # Round 16 (layer 3, the limit round 15 named): a mutating method used as a value stores what it is
        # called with, and where it is called is not seen (c1.sort(key=d.update) calls it with c1's items;
        # namespace(count=d.update) with what any later x.count(a) passes). So it may store the arguments and the
        # receiver's items of EVERY call of the template (a superset of "its statement's receiver"): linked in
        # the closure (store edges, _closure) and in the label walk's stored union (_stored_not_json).
        self.value_stores = [node for node in seeds if not (isinstance(node, nodes.Getattr) and
                                                             node.attr in _NONE_STORING_METHODS)]
        if self.value_stores:
            self.value_calls = [(_call_args(node), node.node.node if isinstance(node.node, nodes.Getattr) else None)
                                for node in of(nodes.Call)]
        seeded = any(depth.values())  # some container may be changed at all (wild alone changes nothing)
        if wild:
            # Every container may be the one changed, render data (messages[0].update(...)) included.
            for key in [*self.bindings, *(node.name for node in of(nodes.Name) if node.ctx == "load")]:
                seed(key, _ALL_DEPTHS)
        for key in names:
            depth.setdefault(key, 0)
        if any(depth.values()):
            self._closure(depth)
            for name, mask in depth.items():
                if not mask:
                    continue
                if name in _OPAQUE_NAMES and name not in self.bindings:
                    continue  # loop, caller, globals: already unknown, and loop.index must stay a number
                if "." not in name and "#" not in name:
                    self.changed.add(name)  # its free value (render data) may have been changed too
                self.bindings.setdefault(name, []).append((None, 1))
        self.depths = depth
        if seeded:
            self._render_data_changed(depth, all_nodes, macros, [*mutated, *seeds])
        # Those values were computed before the mutations were known: forget them.
        self.memo.clear()
        self.name_memo.clear()
        self.warm.clear()
        self.log.clear()
        self.steps = 0  # the walk gets its own budget (this pre-pass had at most one too)

    def _flow(self, node: Any) -> list[str]:
        return _flow_names(node, self.flow_attrs, self.loop_of, self.fresh_callees)

    def _returns_none(self, value: Any) -> bool:
        """Round 12: ``value`` is a call of a list/dict method that returns None (``set _ = d.update({...})``; round
        12 required a receiver surely a list or dict literal, round 15 any receiver: see below). The target holds
        no object of the receiver or of the arguments (those are followed as stored into the receiver). Round
        12's false positive: ``_`` tied ``idmap`` to the loop target of its argument, so the chat was "changed"."""
        n = _NODES
        # Round 15: on ANY receiver. ``set _ = byrole.setdefault(r, []).append(c)`` tied ``_`` to byrole and c's
        # loop target (so the chat looked changed). A call of such a name is a list / dict method (None), or
        # calls what a dict or namespace stores under that name (d['append'], ns.update): the label walk judges
        # that call on its own ("call of '.append' of a value not known statically" unless a macro of the
        # template, whose result is text), and render data (JSON) stores nothing callable.
        return isinstance(value, n.Call) and isinstance(value.node, n.Getattr) and value.node.attr in _NONE_METHODS

    def _surely_literal(self, receiver: Any, kinds: Any) -> bool:
        """``receiver`` is a name, or ``ns.attr`` of a namespace, every binding of which is a literal of ``kinds``
        (a real list / dict, whatever is stored in it later); its free value, if any, is render data (JSON)."""
        n = _NODES
        if isinstance(receiver, n.Name):
            binds = self.bindings.get(receiver.name, ())
        elif isinstance(receiver, n.Getattr) and isinstance(receiver.node, n.Name) and \
                self.value(receiver.node) - _PENDING == {NAMESPACE}:
            binds = self.bindings.get(f".{receiver.attr}", ())
        else:
            return False
        # (None, 1) and deeper: the same container changed in place.
        return bool(binds) and all(isinstance(v, kinds) if v is not None else bound > 0 for v, bound in binds)

    @staticmethod
    def _used_up(node: Any, parent: Any) -> bool:
        """Whether ``parent`` consumes ``node``'s value without keeping or calling it (round 11)."""
        nodes = _NODES
        if isinstance(parent, nodes.Output | nodes.Test | nodes.Compare | nodes.Operand | nodes.Not | nodes.Concat):
            return True
        if isinstance(parent, nodes.If | nodes.CondExpr):
            return parent.test is node
        if isinstance(parent, nodes.Getattr | nodes.Getitem):
            return parent.node is node
        return isinstance(parent, nodes.Filter) and parent.name in _FRESH_FILTERS

    def _may_name_method(self, key: Any, path: bool = False) -> bool:
        """Whether the item key ``key`` may be a mutating method's name (x['update'] is x.update where x has no
        such key): a constant one, or a value not known here. Numbers, render data and slices not. ``path``: an
        attribute ARGUMENT of a filter (map(attribute=), groupby, sum, attr), which make_attrgetter splits on
        dots and reads part by part: round 15 (class B) hid ``update`` in ``'0.update'``; every part is judged
        (_attribute_path, the same split the dunder check of _filter uses)."""
        nodes = _NODES
        if isinstance(key, nodes.Slice):
            return False
        if isinstance(key, nodes.Const):
            values: frozenset[Any] = frozenset({key.value})
        else:
            # A key from the render data is left to the picked label (round 8): what it reaches is "picked", and
            # a picked value given to any call, or called, is a finding, wherever it is stored on the way.
            values = self.value(key)
        return any(any(part in _MUTATING_METHODS for part in (_attribute_path(v) if path else (v,)))
                   if isinstance(v, str) else v is UNKNOWN and not isinstance(key, nodes.Const) for v in values)

    def _channels(self, all_nodes: list[Any], macros: dict[str, list[Any]], calls: dict[str, list[Any]],
                  loads: dict[str, int]) -> list[tuple[str, Any, int]]:
        """Every channel through which a value reaches a name: ``(key, value node, level)``, the key holding
        elements ``level`` deep of the value node (None: a value not modelled here, unknown).

        THE one enumeration (after red team rounds 12-14, each of which found a channel one pass had and the
        other lacked): the label walk's bindings and the alias pass's edges (``_mutations``) are both made from
        this list. Keys: a name, ``.attr`` (namespace attributes, pooled over all namespaces), ``caller``, and
        ``loop#<id>`` (what ``loop.previtem`` / ``loop.nextitem`` of that ``{% for %}`` are). Which node fields
        are channels, value flows inside an expression, or carry no value is tabled in :data:`_FIELD_ROLES`
        (a test checks that table against every field of every jinja2 node class)."""
        n = _NODES
        out: list[tuple[str, Any, int]] = []
        add = out.append

        def store(target: Any, value: Any, level: int) -> None:
            if value is None:
                level = 0  # not modelled: every name of the target is unknown itself (round 8), never "empty"
            if isinstance(target, n.Name):
                add((target.name, value, level))
            elif isinstance(target, n.NSRef):
                # Namespace attributes are pooled by attribute name over all namespaces (they travel through
                # macro parameters and aliases): ".attr" holds every value any {% set x.attr %} stores.
                add((f".{target.attr}", value, level))
            elif isinstance(target, n.Tuple | n.List):
                pairwise = level == 0 and isinstance(value, n.Tuple | n.List) and len(value.items) == len(target.items)
                for i, item in enumerate(target.items):
                    if pairwise:
                        store(item, value.items[i], 0)
                    else:  # unpacking: each target gets an element of the value
                        store(item, value, level + 1)

        attrs = {f".{r.attr}" for r in self._of(n.NSRef)}
        attrs.update(f".{kw.key}" for call in calls.get("namespace", ()) for kw in call.kwargs)
        # The classes of the cases below, in pre-order (the channels' order is kept).
        for node in self._of(n.Assign | n.AssignBlock | n.For | n.With | n.CallBlock | n.Import | n.FromImport |
                             n.Call):
            if isinstance(node, n.Assign):
                store(node.target, node.node, 0)
            elif isinstance(node, n.AssignBlock):
                store(node.target, node, 0)
            elif isinstance(node, n.For):
                # A recursive loop's loop(...) rebinds the target to elements of whatever it is given: those
                # arguments are channels too; the label stays unknown as well (round 8: not empty).
                store(node.target, node.iter, 1)
                add((_loop_key(node), node.iter, 1))  # round 14: loop.previtem / loop.nextitem
                if node.recursive:
                    store(node.target, None, 0)
                    for call, owner in self.loop_calls.values():
                        if owner is node:
                            for arg in _call_args(call):
                                store(node.target, arg, 1)
                                # Round 17 (class B): loop(x) iterates x, so loop.previtem / nextitem are
                                # elements of x as well as of the first iterable.
                                add((_loop_key(node), arg, 1))
            elif isinstance(node, n.With):
                for target, value in zip(node.targets, node.values, strict=False):
                    store(target, value, 0)
            elif isinstance(node, n.CallBlock):
                for arg in node.args:  # set by caller(...) inside the macro: not followed
                    store(arg, None, 0)
                for arg, default in zip(node.args[len(node.args) - len(node.defaults):], node.defaults, strict=True):
                    store(arg, default, 0)
            elif isinstance(node, n.Import):
                add((node.target, None, 0))  # a loaded template module (a finding of its own)
            elif isinstance(node, n.FromImport):
                for name in node.names:
                    add((name[1] if isinstance(name, tuple) else name, None, 0))
            elif isinstance(node, n.Call) and isinstance(node.node, n.Name):
                for kw in node.kwargs:
                    if kw.key == "caller":
                        # Round 10 (class B): caller= on a call is what ``caller`` is inside the macro; a channel
                        # like any argument (round 9 did not bind it, so caller() returned an unlabelled object).
                        add(("caller", kw.value, 0))
                if node.node.name == "namespace":
                    for kw in node.kwargs:
                        add((f".{kw.key}", kw.value, 0))
                    # Round 13: namespace(d), namespace(*l), namespace(**d) make attributes whose names are not
                    # seen here: what they hold may be under any attribute name.
                    loose = [node.dyn_args, node.dyn_kwargs, *node.args]
                    # Round 16 (class A): namespace(pairs) of a list of [key, value] pairs holds pairs' depth-2
                    # objects, namespace(m) m's depth-1 ones: both.
                    out.extend((key, a, lvl) for a in loose if a is not None for key in sorted(attrs) for lvl in (1, 2))
        for name, defined in macros.items():
            sites = calls.get(name, [])
            # A macro used other than by a direct call (passed on, stored, ...) gets arguments not seen here.
            aliased = loads.get(name, 0) > len(sites)
            for macro in defined:
                params = macro.args
                # Red team round 14: a parameter's default (m(d=messages|last), m(x, d=x)) is what it holds when
                # the call leaves it out; the defaults belong to the last parameters.
                for param, default in zip(params[len(params) - len(macro.defaults):], macro.defaults, strict=True):
                    store(param, default, 0)
                by_name = {p.name: p for p in params}
                for call in sites:
                    if call.dyn_args is not None or call.dyn_kwargs is not None:
                        # Round 13: m(*l) / m(**d) may give any parameter any argument: deny by default.
                        aliased = True
                        for param in params:
                            for arg in _call_args(call):
                                store(param, arg, 0)
                        continue
                    for param, arg in zip(params, call.args, strict=False):
                        store(param, arg, 0)
                    for kw in call.kwargs:
                        if kw.key in by_name:
                            store(by_name[kw.key], kw.value, 0)
                if aliased:
                    for param in params:
                        store(param, None, 0)
        return out

    def _render_data_changed(self, depth: dict[str, int], all_nodes: list[Any], macros: dict[str, list[Any]],
                             sites: list[Any]) -> None:
        """Round 15 (class E): a template that changes the caller's objects in place (messages.append(...),
        message.update(...), tools.clear(), through any alias) is booby-trapped: the host reuses them, so the
        change outlives the render (a rewritten system prompt, an added tool in every later turn). Render data
        is a name read where no binding of the template surely reaches the read (_surely_bound, with sets in
        every statement list): its free value is the host's. Reported when the depths closure (_closure) says that value may change."""
        nodes = _NODES
        surely = _surely_bound(all_nodes[0], self.kids, bodies=True, escaped=self.frame_escaped) if all_nodes else set()
        free = {node.name for node in self._of(nodes.Name) if node.ctx == "load" and
                id(node) not in surely}
        free -= _OPAQUE_NAMES | _NEW_OBJECT_GLOBALS | set(macros) | self.blocks
        # A name whose value is not modelled (a parameter of a macro used as a value or called with *args, a
        # recursive loop's target, a call block's argument) may hold render data too.
        free.update(key for key, value, _ in self.channels if value is None and "." not in key and "#" not in key
                    and key not in _OPAQUE_NAMES)
        changed = sorted(name for name in free if depth.get(name, 0))
        if not changed:
            return
        where = [site for site in sites if set(self._flow(site)) & set(changed)] or sites
        site = min(where, key=lambda x: getattr(x, "lineno", 0) or 0) if where else None
        self.add(RENDER_MUTATION, site, f"template may change the caller's render data in place "
                                         f"({', '.join(changed[:5])}): the host reuses these objects after the render")

    def _closure(self, depth: dict[str, int]) -> None:
        """Spread the changed depths (``depth``: name -> bit mask, bit d = an object d levels inside the name's own
        object may be changed; _TOP_DEPTH stands for every depth past it) over the channels, to a fixed point.

        Round 15 replaced the two states (own object / anything inside) with depths. Why it is sound (every way a
        change to an object reaches the names that may hold it is one of these edges):
        - an identity channel (``set a = b``, ``m(b)``): one object, the same depths (each channel is its own
          constraint: a pair that is also linked otherwise, ``set a = b[0]``, gets that constraint too);
        - an element channel (``for a in b``, ``set a, c = b``): ``a`` is ``level`` deep inside ``b``, as a store;
        - any other channel (``set a = b[0]``, ``f(b)``, ``[b]``, ``b|first``): ``a`` may be ``b``, be inside it or
          hold it at a depth not known: if either changes at all, both may change at every depth;
        - a store (``r.append(x)``, ``r.k.update(x)``, _store_edges): ``x`` (or an object inside it, or its items)
          is put ``k`` levels inside ``r``'s object (``k`` = 1 + the receiver's depth on its chain). An object of
          ``r`` at depth >= k may be (inside) ``x``: ``x`` may change at every depth; a changed ``x`` changes ``r``
          at depths >= k. A change of ``r`` shallower than ``k`` (``r.append(y)`` itself) is not inside ``x``.
        A mutated receiver's chain (``a.b[0].append``, ``a.setdefault(k, d).append``) changes each chain key at
        exactly its depth (one level per item/attribute read, the only ones Jinja's getattr/getitem give on a list,
        dict or namespace), and every name in a default or a step that is not a plain read at every depth. The
        round-15 bypass (class C) was a pooled ``.k`` key taken for ``dd.k``'s holder while ``dd`` was a dict:
        every key on the chain is now linked, the root at its own depth.

        Round 16: every exact depth must be THE depth (a shallower model drops bits going down, a deeper one going
        up): ``dict(x)`` / ``d.update(x)`` of anything but a dict literal hold x's depth-1 (a mapping) or depth-2
        (a list of pairs) objects, so both are linked (``items2``); a LoopContext is at no modelled depth
        (generic) and ``loop.previtem`` is the loop key's own object; a mutating method used as a value stores
        what every call may pass it (``value_stores``). tests/test_templates_round16.py renders every form with
        real jinja2 and checks these masks cover the real depths."""
        # Each channel on its own (the same pairs as channel_edges): ``set a = b`` an identity, ``for a in b`` /
        # ``set a, c = b`` an element ``level`` deep inside ``b`` (like a store), anything else not known.
        aliases: list[tuple[str, str, bool]] = []
        stores = set(self.store_edges())
        for method in self.value_stores:
            # Round 16 (layer 3): what a mutating method used as a value stores (see _mutations): any call's
            # arguments and its receiver's items, somewhere inside the method's receiver (full: at any depth).
            receiver = method.node
            exact, loose = self._receiver_chain(receiver) if isinstance(method, _NODES.Getattr | _NODES.Getitem) \
                else ([], self._flow(receiver))
            given = dict.fromkeys(name for args, recv in self.value_calls
                                  for a in [*args, *([recv] if recv is not None else [])] for name in self._flow(a))
            stores.update((holder, name, r + 1, "full") for holder, r in exact for name in given)
            aliases.extend((holder, name, False) for holder in loose for name in given)
        for key, value, level in self.channels:
            if value is None or self._returns_none(value):
                continue
            plain = isinstance(value, _NODES.Name)
            copied = self._copy_of(value) if not level else None
            if copied is not None:
                # set m = x.a.copy() / dict(x.a): a new object holding x.a's items (depth r + 1 of x). Round 16
                # (class A): dict(pairs) of a list of [key, value] pairs holds pairs' depth-2 objects, so unless
                # x is surely a mapping (_copy_of's depths), m's items are linked at depth r + 1 AND r + 2.
                copied, depths = copied
                exact, loose = self._receiver_chain(copied)
                stores.update((holder, key, r + d, "items") for holder, r in exact for d in depths)
                aliases.extend((key, inner, False) for inner in loose)
                continue
            step = _SELECTION_STEPS.get(value.name) if isinstance(value, _NODES.Filter) and value.node is not None \
                and value.dyn_args is None and value.dyn_kwargs is None else None
            if step is not None and \
                    any(f".{attr}" in self.bindings for _, attr in _IMPLICIT_CALLS.get(value.name, ())):
                step = None  # round 16: ns|dictsort calls a namespace's own ``items``: any value, at any depth
            if step is not None:
                # x|first, x|list, x|dictsort, x|default(y) of a plain chain: the result at depth k is the chain's
                # object at depth k + off, for k >= min_k (a new object above that).
                off, min_k = step
                exact, loose = self._receiver_chain(value.node)
                if exact:
                    for holder, r in exact:
                        if level >= min_k:
                            if r + level + off:
                                stores.add((holder, key, r + level + off, "exact"))
                            else:
                                aliases.append((key, holder, True))
                        else:
                            stores.add((holder, key, max(r + level + off + 1, 0), "items"))
                    aliases.extend((key, inner, False) for inner in loose)
                    aliases.extend((key, inner, False) for a in _call_args(value) for inner in self._flow(a))
                    continue
            if isinstance(value, _NODES.Getitem) and isinstance(value.arg, _NODES.Slice):
                # set rest = messages[1:]: a new list of the chain's items (its own object is not messages).
                # for m in messages[1:]: its elements ARE messages' elements (exact, round 15 self-review).
                exact, loose = self._receiver_chain(value.node)
                if exact:
                    stores.update((holder, key, r + level, "exact") if level else (holder, key, r + 1, "items")
                                  for holder, r in exact)
                    aliases.extend((key, inner, False) for inner in loose)
                    continue
            exact, loose = self._receiver_chain(value) if plain or isinstance(
                value, _NODES.Getattr | _NODES.Getitem | _NODES.Call) else ([], [])
            if exact:
                # A plain chain (x, x.a, x[0], x.get(k), ns.a.pop(0)) at depth r: for a in x.b / set a = x.b[0]
                # are objects r + level deep inside x (as a store); set a = b is b itself.
                for holder, r in exact:
                    if r + level:
                        stores.add((holder, key, r + level, "exact"))
                    else:
                        aliases.append((key, holder, True))
                aliases.extend((key, inner, False) for inner in loose)
                continue
            for inner in self._flow(value):
                aliases.append((key, inner, False))
        # Round 24: the fixed point is monotone BY CONSTRUCTION. Every update ORs bits into a mask (never assigns
        # one computed from a stale read), so a mask only grows inside _ALL_DEPTHS; the lattice (one mask of
        # _TOP_DEPTH + 1 bits per key, keys fixed before the loop) has finite height, and every pass but the last
        # adds at least one bit: at most keys * (_TOP_DEPTH + 1) + 1 passes. Round 24's hang was a store whose
        # holder IS its inner name (``f(m[0])`` inside macro ``f(m)``, ``f(messages.append)``): the second write of
        # ``depth[holder], depth[inner] = new_h, new_i`` threw the first away, so "changed" never settled. The
        # pass bound below cannot be reached by a monotone loop; it stays as a guard that fails closed (a bound
        # hit is a finding) and every pass is charged to the per-template step budget.
        keys = {a for a, _, _ in aliases} | {b for _, b, _ in aliases} | \
            {h for h, _, _, _ in stores} | {i for _, i, _, _ in stores} | set(depth)
        max_passes = len(keys) * (_TOP_DEPTH + 1) + 2
        passes = 0
        changed = True
        while changed:
            passes += 1
            if passes > max_passes:
                _hit("closure passes")
                for key in keys:  # fail closed: every name may be changed at every depth
                    depth[key] = _ALL_DEPTHS
                return
            _spend(len(aliases) + len(stores) + 1)
            changed = False
            for a, b, same in aliases:
                ma, mb = depth.get(a, 0), depth.get(b, 0)
                want = ma | mb if same or not (ma | mb) else _ALL_DEPTHS
                if want != ma or want != mb:
                    depth[a] = ma | want
                    depth[b] = depth.get(b, 0) | want  # a == b: the same key, grown twice
                    changed = True
            for holder, inner, level, mode in stores:
                mh, mi = depth.get(holder, 0), depth.get(inner, 0)
                if mode == "key" and not mi:
                    continue  # a string or number key, unless the object it came from is changed
                deeper = _ALL_DEPTHS & ~((1 << min(level, _TOP_DEPTH)) - 1)  # depths >= level
                if mode == "exact":  # the inner's own object is exactly ``level`` deep
                    new_h = mh | _depths_up(mi, level)
                    new_i = mi | _depths_down(mh, level)
                elif mode == "items":  # the inner's items are exactly ``level`` deep: its own object is not
                    new_h = mh | _depths_up(mi & ~1, level - 1)
                    new_i = mi | _depths_down(mh, level - 1) & ~1
                elif mode == "items2":  # round 16: the inner's depth-2 objects (a list of pairs' values) are
                    new_h = mh | _depths_up(mi & ~3, level - 2)  # ``level`` deep: not its own object or pairs
                    new_i = mi | _depths_down(mh, level - 2) & ~3
                else:
                    new_h = mh | (deeper if mi else 0)
                    new_i = _ALL_DEPTHS if mh & deeper else mi
                # OR in, never overwrite: holder == inner (a macro passing part of its own parameter to itself)
                # is one key that gets both sides.
                grown_h = depth.get(holder, 0) | new_h
                depth[holder] = grown_h
                grown_i = depth.get(inner, 0) | new_i
                depth[inner] = grown_i
                if grown_h != mh or grown_i != mi:
                    changed = True

    def _copy_of(self, value: Any) -> tuple[Any, tuple[int, ...]] | None:
        """The node ``value`` is a shallow copy of (``x.copy()``, ``dict(x)``) and the depths inside it of the
        copy's items, else None. ``x.copy()`` of a list or dict: depth 1 (a namespace attribute called ``copy``
        is any callable: not a copy). Round 16 (class A): ``dict(x)`` takes a mapping's values (depth 1) but the
        second item of each pair of a list of pairs (depth 2); only a dict literal is surely a mapping (render
        data may be a JSON list of lists, and a name may hold either), so any other argument gives (1, 2)."""
        n = _NODES
        if not isinstance(value, n.Call) or value.dyn_args is not None or value.dyn_kwargs is not None or \
                value.kwargs:
            return None
        if isinstance(value.node, n.Getattr) and value.node.attr == "copy" and not value.args and \
                ".copy" not in self.bindings:
            return value.node.node, (1,)
        if isinstance(value.node, n.Name) and value.node.name == "dict" and "dict" in self.fresh_callees and \
                len(value.args) == 1:
            return value.args[0], (1,) if isinstance(value.args[0], n.Dict) else (1, 2)
        return None

    def _receiver_chain(self, target: Any) -> tuple[list[tuple[str, int]], list[str]]:
        """The keys holding a (mutated) receiver, each with the depth of the receiver inside its object, and the
        names whose depth is not known (a keyed method's default: ``x.setdefault(k, d)`` is ``x[k]`` or ``d``).
        Every key on the chain: the root name, and a pooled ``.a`` key at each attribute read ``….a`` (the object
        read may be a namespace's attribute) -- round 15 (class C) linked only ``.a`` for ``dd.a`` when some
        namespace anywhere set ``a``. An empty first list: not a plain name's item/attribute chain."""
        n = _NODES
        exact: list[tuple[str, int]] = []
        loose: list[str] = []
        level = 0
        last = None  # the step read straight off the root
        while True:
            if isinstance(target, n.Call) and isinstance(target.node, n.Getattr) and \
                    target.node.attr in _KEYED_METHODS and target.dyn_args is None and target.dyn_kwargs is None and \
                    f".{target.node.attr}" not in self.bindings:  # round 16: ns.get may be any callable
                last = target
                loose.extend(name for arg in target.args[1:] for name in self._flow(arg))
                loose.extend(name for kw in target.kwargs for name in self._flow(kw.value))
                target = target.node.node
                level += 1
                continue
            if not isinstance(target, n.Getattr | n.Getitem):
                break
            key = target.attr if isinstance(target, n.Getattr) else \
                target.arg.value if isinstance(target.arg, n.Const) else None
            if isinstance(key, str) and f".{key}" in self.bindings:
                exact.append((f".{key}", level))  # the object read may be a namespace attribute
            # x[1:] is a new list of x's items: its items are at the depth of x's (x[1:][0] is x[1]); a change of
            # the slice itself is counted as one of x (over-approximated).
            if not (isinstance(target, n.Getitem) and isinstance(target.arg, n.Slice)):
                level += 1
            last = target
            target = target.node
        if isinstance(target, n.Name):
            exact.append((target.name, level))
            if self.loop_of and id(target) in self.loop_of:
                # Round 16: the loop key is what loop.previtem / loop.nextitem are (an element of the iterable),
                # so loop.previtem[0] is that key's depth 1, not 2. The LoopContext itself (set lp = loop,
                # loop|first, loop|list, dict(loop): (item, loop) tuples) holds them at no depth modelled: any
                # depth. A number (loop.index) holds nothing.
                key = _loop_key(self.loop_of[id(target)])
                if isinstance(last, n.Getattr) and last.attr in ("previtem", "nextitem"):
                    exact.append((key, level - 1))
                elif not (isinstance(last, n.Getattr) and last.attr in _LOOP_NUMBERS):
                    loose.append(key)
        else:
            loose.extend(name for name, _ in exact)
            loose.extend(self._flow(target))
            exact = []
        return exact, loose

    def _receiver_keys(self, target: Any) -> list[str]:
        """The keys a mutated receiver's container is held by: namespace attributes on its chain, then the
        chain's root name (an empty list, or no name last: not a plain name's item/attribute chain)."""
        n = _NODES
        keys: list[str] = []
        while True:
            if isinstance(target, n.Call) and isinstance(target.node, n.Getattr) and \
                    target.node.attr in _KEYED_METHODS and target.dyn_args is None and target.dyn_kwargs is None:
                # x.setdefault(k, d) / x.get(k, d) / x.pop(k, d) is x[k] or d (setdefault stores d in x first):
                # an element of x, or the default's object (byrole.setdefault(m.role, []).append(m.content)).
                keys.extend(name for arg in target.args[1:] for name in self._flow(arg))
                keys.extend(name for kw in target.kwargs for name in self._flow(kw.value))
                target = target.node.node
                continue
            if not isinstance(target, n.Getattr | n.Getitem):
                break
            if isinstance(target, n.Getattr) and isinstance(target.node, n.Name) and f".{target.attr}" in self.bindings:
                keys.append(f".{target.attr}")  # a namespace attribute holding the container
            target = target.node
        if isinstance(target, n.Name):
            keys.append(target.name)
        return keys

    def identity_edges(self) -> set[tuple[str, str]]:
        """The channel edges along which a name gets exactly another name's object (set a = b, m(b))."""
        n = _NODES
        return {(key, value.name) for key, value, level in self.channels if level == 0 and isinstance(value, n.Name)}

    def store_edges(self) -> set[tuple[str, str, int, str]]:
        """Channels into containers: ``l.append(x)``, ``d.update(**{'a': x})`` ... put ``x`` in the receiver's
        container, so the names holding it may hold ``x`` (red team round 15 candidates: ``for v in
        [messages|last]`` then ``d.update(**{'a': v})``; the label walk reads the same calls, ``stored_in``).
        ``(key, name, level, mode)``: what ``name`` holds is put ``level`` deep inside what ``key`` holds. Round
        15 (class C): every key of the receiver's chain, each at its own depth (a receiver that is no plain
        chain: every name in it, at depth 1). Modes: ``full`` (``name``'s object, or one inside it), ``items``
        (``l.extend(m)``, ``d.update(m)``: ``m``'s items, not ``m`` itself), ``key`` (a dict key whose value is a
        string or number unless ``name`` itself is changed: only a changed object can be a mutable key)."""
        flow = self._flow
        out: set[tuple[str, str, int, str]] = set()
        for call in self.stored_in:
            exact, loose = self._receiver_chain(call.node.node)
            keys = [*exact, *((name, 0) for name in loose)]
            stored = [(inner, "exact" if mode == "full" and isinstance(arg, _NODES.Name) else mode)
                      for arg, mode in self._stored_args(call) for inner in flow(arg)]
            for key, level in keys:
                for inner, mode in stored:
                    if inner[:5] == "loop#" and mode != "key":
                        # Round 16: l.extend(loop) / l.append(loop) hold (item, loop) tuples or the LoopContext,
                        # whose items are not at the depth the loop key models (previtem): at any depth.
                        mode = "full"
                    if mode == "pairs":  # a mapping's items (depth 1) or a list of pairs' (depth 2)
                        out.update(((key, inner, level + 1, "items"), (key, inner, level + 1, "items2")))
                    else:
                        out.add((key, inner, level + 1, mode))
        return out

    def _stored_args(self, call: Any) -> list[tuple[Any, str]]:
        """The argument nodes a list / dict method call keeps in its receiver, each with its store mode (see
        store_edges). remove / pop / popitem / clear / sort / reverse / discard keep none of theirs (sort's key
        function is called, judged where the method value is seen)."""
        n = _NODES
        method = call.node.attr
        if call.dyn_args is not None or call.dyn_kwargs is not None:
            return [(a, "full") for a in _call_args(call)]
        out: list[tuple[Any, str]] = [(kw.value, "full") for kw in call.kwargs]
        args = call.args
        if method in ("append", "add", "insert"):
            out.extend((a, "full") for a in (args[1:] if method == "insert" else args))
            out.extend((a, self._key_mode(a)) for a in (args[:1] if method == "insert" else ()))
        elif method in ("extend", "update"):
            for arg in args:
                if isinstance(arg, n.Dict):
                    out.extend(x for pair in arg.items for x in ((pair.key, self._key_mode(pair.key)),
                                                                 (pair.value, "full")))
                elif isinstance(arg, n.Name):
                    # Round 16 (class A): d.update(pairs) of a list of [key, value] pairs stores pairs' depth-2
                    # objects, d.update(m) m's depth-1 ones; list.extend(x) x's elements (a dict's keys).
                    out.append((arg, "pairs" if method == "update" else "items"))
                else:
                    out.append((arg, "full"))
        elif method in ("setdefault", "__setitem__"):
            out.extend((a, self._key_mode(a) if i == 0 else "full") for i, a in enumerate(args))
        elif method not in ("remove", "pop", "popitem", "clear", "sort", "reverse", "discard"):
            out.extend((a, "full") for a in args)
        return out

    def _key_mode(self, node: Any) -> str:
        """``key`` when ``node`` (a dict key or list index) is a string or number before any change; else full."""
        values = self.value(node) - _PENDING
        return "key" if values and all(isinstance(v, str) or v in (DATA, NUM) for v in values) else "full"

    def channel_edges(self) -> set[tuple[str, str]]:
        """The name-to-name edges the channels give: ``(key, name)`` where ``name`` may be (or be inside) the
        value ``key`` gets. The alias pass links exactly these (a test compares them with the bindings)."""
        flow = self._flow
        return {(key, inner) for key, value, _ in self.channels
                if value is not None and not self._returns_none(value) for inner in flow(value)}

    # -- values ----------------------------------------------------------------------------------------
    def fold(self, node: Any, depth: int = 0) -> str | None:
        """The one string ``node`` evaluates to when that is decidable from constants alone, else None."""
        values = self.value(node, 0, depth)
        if len(values) == 1:
            (only,) = values
            if isinstance(only, str):
                return only
        return None

    def value(self, node: Any, level: int = 0, depth: int = 0) -> frozenset[Any]:
        """What ``node`` (``level`` 0), an element of it (1), an element of that (2) ... can be: strings, NUM,
        DATA or UNKNOWN. Over-approximated: every binding of a name counts, wherever it is."""
        if depth > MAX_VALUE_DEPTH:
            _hit("MAX_VALUE_DEPTH")
            return _UNK
        if level > MAX_LEVEL:  # min(level, MAX_LEVEL), without the builtin call (ints)
            level = MAX_LEVEL
        key = (id(node), level)
        got = self.memo.get(key)
        if got is None:
            self.steps += 1
            if not self.steps & 255:  # charged to the template's budget 256 at a time (one call in the hot path)
                _spend(256)
            if self.steps > MAX_STEPS:
                _hit("MAX_STEPS")
                return _UNK
            got = self._settle(key, self.memo, lambda: self._value(node, level, depth + 1, _NODES))
        return got

    def _settle(self, key: Any, memo: dict[Any, frozenset[Any]], compute: Any) -> frozenset[Any]:
        """``compute()``, memoised; a computation that reaches itself ({% set ns.seen = ns.seen + [x] %},
        recursive macros, a name bound through itself) is settled as a least fixpoint: it starts from nothing
        and is redone, forgetting what was computed from the smaller guess, until it stops growing (else:
        unknown)."""
        active, cyclic, provisional, warm = self.active, self.cyclic, self.provisional, self.warm
        if key in active:
            cyclic.add(key)
            return provisional.get(key, _PENDING)
        active.add(key)
        start = len(self.log)
        guess: frozenset[Any] = warm.pop(key, _PENDING) if warm else _PENDING
        for _ in range(MAX_ROUNDS):
            _spend()
            provisional[key] = guess
            cyclic.discard(key)
            got = compute()
            if len(got) > MAX_VALUES:
                _hit("MAX_VALUES")
                got = _UNK
            if key not in cyclic:
                break
            # Kleene iteration, joined with the previous guess: round 6 made "is it data" strict about the
            # placeholder (it is data only next to data), so a round on a bigger guess may give less (inner
            # fixpoints restart); the join keeps the rounds growing, and it stops once nothing new comes.
            old = guess - _PENDING
            if got - _PENDING <= old:
                got = got | old if old else got
                break
            self._forget(start)
            # The placeholder is only the first guess: once anything else is known, the next round starts
            # from that alone, so what the last round computes carries no placeholder of this key.
            guess = (got - _PENDING) | old
        else:
            _hit("MAX_ROUNDS")
            got = _UNK
        active.discard(key)
        provisional.pop(key, None)
        if PENDING in got and not active:
            got = got - _PENDING or _UNK  # nothing left in flight: what only came from the guess is unknown
        memo[key] = got
        self.log.append((memo is self.name_memo, key))
        return got

    def _down(self, node: Any, level: int, depth: int) -> frozenset[Any]:
        """``node`` one level up (what the elements of a container holding it are); at the deepest level,
        which means "this deep or deeper", that level too."""
        up = self.value(node, level - 1, depth)
        return up | self.value(node, level, depth) if level >= MAX_LEVEL else up

    def _name_value(self, name: str, level: int, depth: int, free_too: bool = True) -> frozenset[Any]:
        key = (name, level, free_too)
        got = self.name_memo.get(key)
        if got is not None:
            return got
        binds = self.bindings.get(name)
        # The value the name has where no binding of the template reaches it: render data (messages, tools,
        # ...) or a Jinja/host global. Only a genuinely free name is render data: not a macro or anything else
        # the template defines (m.arguments, macro.name are names the template chose), not a Jinja/host
        # global, not a special token (filled from tokenizer_config.json, next to the template).
        base = name.split(".", 1)[0]
        if "." in name:
            free = _UNK if binds is None else _NOTHING  # a namespace attribute: only what is stored in it
        elif self._free_opaque(base) or binds is None and name in self.stored:
            # Round 10 (class A): a macro or block name is that object wherever no binding reaches the read,
            # whatever other bindings it has (a dead {% for m in [] %}, a set in {% if false %}, a default).
            free = _UNK
        else:
            # Render data the template changes in place is no longer the caller's: not data, not proven.
            free = _DATA | _UNK if name in self.changed else _DATA
        if binds is None:
            return free
        if not free_too:
            free = _NOTHING
        # A binding does not hide the free value (round 5: set inside an unused macro or {% if false %}, the
        # top level still reads the render argument): the name is its bindings and its free value.
        return self._settle(key, self.name_memo, lambda: self._union_of(binds, level, depth) | free)

    def _free_opaque(self, base: str) -> bool:
        """The free value of ``base`` (where no binding reaches a read of it) is not render data: a Jinja or host
        global, loop/caller/varargs/kwargs, a special or config token, or an object the template defines (a
        macro, a block)."""
        return base in _OPAQUE_NAMES or base in self.config_names or _config_token_name(base) or \
            base in self.macros or base in self.blocks

    def _union_of(self, binds: list[tuple[Any, int]], level: int, depth: int) -> frozenset[Any]:
        out: set[Any] = set()
        for value, bound_level in binds:
            if value is None:  # not known here; (None, 1): the elements not known (a mutated container)
                out |= _UNK if level >= bound_level else _NOTHING
                continue
            out |= self.value(value, level + bound_level, depth)
            if len(out) > MAX_VALUES:
                _hit("MAX_VALUES")
                return _UNK
        return frozenset(out)

    def _forget(self, start: int) -> None:
        for is_name, key in self.log[start:]:
            old = (self.name_memo if is_name else self.memo).pop(key, None)
            if old is not None:
                self.warm[key] = old
        del self.log[start:]

    def _value(self, node: Any, level: int, depth: int, n: Any) -> frozenset[Any]:  # noqa: C901, PLR0911, PLR0912
        # The commonest classes first, by exact class: none of the classes the chain below tests before their own
        # branch is among their bases (tests/test_templates_speed5.py), so the chain would reach the same branch.
        cls = type(node)
        if cls is n.Getattr:
            return self._getattr_value(node, level, depth, n)
        if cls is n.Getitem:
            return self._getitem_value(node, level, depth, n)
        if cls is n.Filter:
            return self._filter_value(node, level, depth, n)
        if cls is n.Call:
            return self._call_value(node, level, depth, n)
        v = self.value
        if isinstance(node, n.Const | n.TemplateData):
            raw = node.data if isinstance(node, n.TemplateData) else node.value
            if isinstance(raw, str):
                return frozenset({raw}) if level == 0 else _chars(frozenset({raw}))
            if raw is None or isinstance(raw, bool | int | float):
                return _NUMBER if level == 0 else _NOTHING
            return _UNK
        if isinstance(node, n.Name):
            return self._name_value(node.name, level, depth, id(node) not in self.surely)
        if isinstance(node, n.List | n.Tuple):
            if level == 0:
                return frozenset({SEQUENCE})
            return frozenset().union(*(self._down(i, level, depth) for i in node.items))
        if isinstance(node, n.Dict):
            if level == 0:
                return frozenset({MAPPING})
            # Iterating gives the keys; values are counted too (d['k'] reads them): an over-approximation.
            return frozenset().union(*(self._down(p.key, level, depth) | self._down(p.value, level, depth) for p in node.items))
        if isinstance(node, n.Concat):
            result = _product([v(x, 0, depth) for x in node.nodes], "".join)
            return result if level == 0 else _chars(result)
        if isinstance(node, n.Add):
            left, right = v(node.left, 0, depth), v(node.right, 0, depth)
            if level:
                return v(node.left, level, depth) | v(node.right, level, depth)
            if _arith(left, right):
                return _arith_result(left, right, text=False)
            return _product([left, right], "".join)
        if isinstance(node, n.Test) and node.name not in _builtin_tests():
            return _UNK  # a test the host added returns whatever it returns
        if isinstance(node, n.Compare | n.Not | n.Test):
            return _NUMBER if level == 0 else _NOTHING  # a bool (Python makes `in` and `not` bools)
        if isinstance(node, n.Sub | n.Div | n.FloorDiv | n.Pow | n.Neg | n.Pos):
            # A number only when every operand is one: dict keys minus a tuple is a set (round 5 took
            # '__globals__' out of `{u: 1}.keys() - ()`). Elements of a number: none (iterating one raises).
            operands = [node.node] if isinstance(node, n.Neg | n.Pos) else [node.left, node.right]
            values = [v(x, 0, depth) for x in operands]
            if _arith(*values):
                return _arith_result(*values, text=False) if level == 0 else _NOTHING
            return _UNK
        if isinstance(node, n.And | n.Or):
            return v(node.left, level, depth) | v(node.right, level, depth)
        if isinstance(node, n.CondExpr):
            other = v(node.expr2, level, depth) if node.expr2 is not None else _DATA
            return v(node.expr1, level, depth) | other
        if isinstance(node, n.Mul):
            if level:
                return v(node.left, level, depth) | v(node.right, level, depth)
            left, right = v(node.left, 0, depth), v(node.right, 0, depth)
            if _arith(left, right):
                return _arith_result(left, right)
            for text, times in ((left, node.right), (right, node.left)):
                count = _fold_int(times, n)
                if _all_strs(text) and isinstance(count, int):
                    return _product([text], lambda c, k=count: c[0] * k if len(c[0]) * max(k, 0) <= MAX_FOLD else None)
            return _UNK
        if isinstance(node, n.Mod):
            if level:
                return _chars(v(node, 0, depth))
            left = v(node.left, 0, depth)
            if _arith(left, v(node.right, 0, depth)):
                return _arith_result(left, v(node.right, 0, depth))
            items = node.right.items if isinstance(node.right, n.Tuple) else [node.right]
            return _product([left] + [v(i, 0, depth) for i in items], lambda c: _percent_format(c[0], list(c[1:])))
        if isinstance(node, n.Getattr):
            return self._getattr_value(node, level, depth, n)
        if isinstance(node, n.Getitem):
            return self._getitem_value(node, level, depth, n)
        if isinstance(node, n.Filter):
            return self._filter_value(node, level, depth, n)
        if isinstance(node, n.Call):
            return self._call_value(node, level, depth, n)
        if isinstance(node, n.AssignBlock):
            if node.filter is not None or not all(isinstance(c, n.Output) for c in node.body) or \
                    id(node) in self.markup_blocks:
                return _UNK  # inside {% autoescape %} a block set is Markup: never folded (see _MARKUP_FILTERS)
            # Text next to a tag is rendered differently by stacks with trim_blocks / lstrip_blocks (transformers
            # uses both): a newline after a tag or blanks before one are not folded (not bit-exact).
            if any(isinstance(x, n.TemplateData) and (x.data.startswith("\n") or x.data.rstrip(" \t") != x.data)
                   for c in node.body for x in c.nodes):
                return _UNK
            result = _product([v(x, 0, depth) for c in node.body for x in c.nodes], "".join)
            return result if level == 0 else _chars(result)
        return _UNK

    def _loop_attr_value(self, node: Any, level: int, depth: int) -> frozenset[Any]:
        """The label of ``loop.<attr>`` read as a LoopContext attribute."""
        if node.attr in _LOOP_NUMBERS:
            return _NUMBER if level == 0 else _NOTHING
        owner = self.loop_of.get(id(node))
        if node.attr in ("previtem", "nextitem") and owner is not None and not owner.recursive:
            # An element of the loop's iterable, or Undefined at the first / last step (labelled data, as an
            # if-expression without else is).
            return self._name_value(_loop_key(owner), level, depth, False) | (_DATA if level == 0 else _NOTHING)
        return _UNK

    def _loop_read(self, node: Any) -> bool:
        """``node`` (a Getattr) reads the LoopContext of a ``{% for %}`` whose body encloses it. Round 10 (class D):
        anywhere else (top level, macro and call-block bodies, a loop's own iterable / test / else) ``loop`` is
        a free render name, a value the client chose (chat_template_kwargs), judged like any other."""
        base = node.node
        # Round 17 (class A): decided by Jinja's scoping (_loop_scopes), whatever bindings ``loop`` has.
        return isinstance(base, _NODES.Name) and base.name == "loop" and id(node) in self.loop_of

    def _loop_only(self, node: Any) -> bool:
        """``node`` is surely the LoopContext read (not also a binding of ``loop`` or the render argument)."""
        return self._loop_read(node) and not self.loop_both.get(id(node), False)

    def _getattr_value(self, node: Any, level: int, depth: int, n: Any) -> frozenset[Any]:
        base = node.node
        out = _NOTHING
        if self._loop_read(node):
            out = self._loop_attr_value(node, level, depth)
            if not self.loop_both.get(id(node), False):
                return out
            # Round 17: it may also be what ``loop`` is bound to (or the render argument): both labels.
        values = self.value(base, 0, depth)
        if NAMESPACE in values:
            own = f".{node.attr}"
            out = out | (self._name_value(own, level, depth) if own in self.bindings else _NOTHING)
            values = values - {NAMESPACE}
        if MAPPING in values:  # d.key on a dict is d['key']: the values stored under that key
            out = out | self._items_of(base, node.attr, level, depth, set())
            values = values - {MAPPING}
        values = values - _PENDING
        if SEQUENCE in values:
            # A list's or tuple's attributes are its methods (only called: judged in _call_value), a range's
            # start/stop/step are numbers; dunders are judged where they are read.
            out = out | (_NUMBER if node.attr in ("start", "stop", "step") else _NOTHING)
            values = values - {SEQUENCE}
        if DATA in values:
            # A field of data is data (its own name is judged where it is read); a method of the data's own
            # type (append, items, format, ...) is a Python object, not data (round 6).
            out = out | (frozenset({METHOD}) if node.attr in _data_type_attrs() else _DATA)
            values = values - _DATA
        if METHOD in values:
            # A builtin method has no attributes but dunders: any other name is Undefined (harmless as a key
            # or as an object, labelled data as an if-expression without else is). Cohere's tool template
            # passes json_spec.items (the dict method) on and reads .type of it.
            private = node.attr.startswith("_") or _dangerous_name(node.attr)
            out = out | (_UNK if private else _DATA)
            values = values - {METHOD}
        if values:
            out = out | _UNK  # of a constant (a string's methods, (N).real), a number or anything else: unknown
        return out

    def _items_of(self, node: Any, key: str, level: int, depth: int, seen: set[str]) -> frozenset[Any]:
        """The values stored under ``key`` in the dicts ``node`` can be (others: elements, over-approximated)."""
        memo_key = (id(node), level, key)
        got = self.memo.get(memo_key)
        if got is None:
            got = self._settle(memo_key, self.memo, lambda: self._items_of_uncached(node, key, level, depth, seen))
        return got

    def _items_of_uncached(self, node: Any, key: str, level: int, depth: int, seen: set[str]) -> frozenset[Any]:
        n = _NODES
        if depth > MAX_VALUE_DEPTH:
            _hit("MAX_VALUE_DEPTH")
            return _UNK
        if MAPPING not in self.value(node, 0, depth):
            return _NOTHING
        if isinstance(node, n.Dict):
            out: set[Any] = set()
            for pair in node.items:
                keys = self.value(pair.key, 0, depth)
                if not _all_strs(keys) or key in keys:
                    out |= self.value(pair.value, level, depth)
            return frozenset(out)
        if _is_dict_call(node, n) and node.node.name not in self.bindings:
            return frozenset().union(*(self.value(k.value, level, depth) for k in node.kwargs if k.key == key))
        if isinstance(node, n.Name) and node.name in self.bindings and node.name not in seen:
            seen.add(node.name)
            out = set()
            for bound, bound_level in self.bindings[node.name]:
                if bound is None:
                    out |= _UNK
                elif bound_level:
                    out |= self.value(bound, level + bound_level + 1, depth)
                else:
                    out |= self._items_of(bound, key, level, depth + 1, seen)
            seen.discard(node.name)
            return frozenset(out)
        return self.value(node, level + 1, depth)

    def _getitem_value(self, node: Any, level: int, depth: int, n: Any) -> frozenset[Any]:
        base, arg = node.node, node.arg
        values = self.value(base, 0, depth)
        if _is_data(values):
            # Selection only: an item whose key is a number or data, or a constant field name. A slice of data
            # is a piece of its text, and a constant key naming a method of its type may be that method
            # (Jinja falls back to getattr when the item is missing): neither is data (round 6).
            if isinstance(arg, n.Slice):
                # The elements of a slice of data are elements of the data (MiniCPM5 loops over
                # messages[::-1]); the slice itself may be a piece of a string's text: not data.
                return _DATA if level else _UNK
            if isinstance(arg, n.Const) and isinstance(arg.value, str) and arg.value in _data_type_attrs():
                return _DATA | {METHOD}  # the item if the dict has it, else the method (getattr fallback)
            return _DATA
        if METHOD in values and not level and isinstance(arg, n.Const) and isinstance(arg.value, str) \
                and not arg.value.startswith("_") and values <= {METHOD, DATA, PENDING}:
            return _DATA  # method['x'] is getattr(method, 'x'): Undefined
        if isinstance(arg, n.Slice):
            if level:
                return self.value(base, level, depth)  # elements of a slice are elements of the whole
            bounds = [_fold_int(x, n) if x is not None else None for x in (arg.start, arg.stop, arg.step)]
            if values == {SEQUENCE}:
                return values
            if not _all_strs(values) or "bad" in bounds or bounds[2] == 0:
                return _UNK
            return frozenset(s[slice(*bounds)] for s in values)  # type: ignore[misc]
        index = _fold_int(arg, n)
        if _all_strs(values) and isinstance(index, int):
            chars = frozenset(s[index] for s in values if -len(s) <= index < len(s))
            return chars
        return self.value(base, level + 1, depth)  # one of the container's elements

    def _filter_value(self, node: Any, level: int, depth: int, n: Any) -> frozenset[Any]:  # noqa: C901, PLR0911
        v = self.value
        name, base = node.name, node.node
        if base is None or node.dyn_args is not None or node.dyn_kwargs is not None:
            return _UNK
        if name in _NUMBER_FILTERS:
            return _NUMBER if level == 0 else _NOTHING
        if name in ("int", "float"):
            # The number, or the default argument when the conversion fails ('x'|int(u) is u).
            default = [k.value for k in node.kwargs if k.key == "default"] or node.args[:1]
            other = v(default[0], level, depth) if default else _NOTHING
            return (_NUMBER if level == 0 else _NOTHING) | other
        if name in ("abs", "round"):
            # Whatever the value's __abs__ / __round__ returns: a number only for numbers and render data.
            # (round's precision and method arguments only select how: an int, or an error.)
            inner = v(base, 0, depth) - _PENDING
            if inner and inner <= _SAFE:
                return _NUMBER if level == 0 else _NOTHING
            return _UNK
        if name in ("default", "d"):
            other = v(node.args[0], level, depth) if node.args else (frozenset({""}) if level == 0 else _NOTHING)
            return v(base, level, depth) | other
        if name in ("first", "last", "random"):
            return v(base, level + 1, depth)
        base_values = v(base, 0, depth)
        args = [v(a, 0, depth) for a in node.args] + [v(k.value, 0, depth) for k in node.kwargs]
        if name == "truncate" and not _all_strs(base_values):
            # Round 15 (class A): a short list or dict comes back as itself; anything else a new string.
            return v(base, level, depth) | _UNK
        if name in _SAME_ELEMENTS:
            if level and name in ("batch", "slice") and (len(node.args) > 1 or node.kwargs):
                return _UNK  # fill_with: elements that are not the input's
            if level:
                return v(base, level, depth)
            if name == "reverse" and _all_strs(base_values):
                return frozenset(s[::-1] for s in base_values)
            return _DATA if _is_data(base_values) else frozenset({SEQUENCE})
        if name in ("items", "dictsort"):  # (key, value) pairs
            if _is_data(base_values):
                return _DATA
            return self._down(base, level, depth) if level >= 2 else frozenset({SEQUENCE})
        if level:
            return _chars(v(node, 0, depth))
        if name == "join":
            if node.kwargs or len(node.args) > 1:
                return _UNK  # join(sep, attribute): it joins the items' attributes, not the items
            sep = args[0] if args else frozenset({""})
            if isinstance(base, n.List | n.Tuple):
                return _product([sep] + [v(i, 0, depth) for i in base.items], lambda c: c[0].join(c[1:]))
            if _all_strs(base_values):
                return _product([sep, base_values], lambda c: c[0].join(c[1]))
            return _UNK
        if name in ("map", "groupby", "attr"):
            # Selection: map(attribute=...), groupby, attr of data are data; map('lower') and other filters
            # mapped over it build new values (round 6). The names they take are judged where they are read.
            if name == "map" and node.args and args[0] != frozenset({"attr"}):
                return _UNK
            if name == "attr" and node.args and _strs(args[0]) and set(_strs(args[0])) & _data_type_attrs():
                return _UNK  # a method of the data's type, not a field
            return _DATA if _is_data(v(base, 1 if name == "map" else 0, depth)) else _UNK
        # Any other filter of data builds a new value (string, urlencode, format, replace, center, lower,
        # tojson, join, ...): not data (round 6), and not folded either (below: not all strings).
        if node.kwargs or not _all_strs(base_values) or name in _MARKUP_FILTERS:
            return _UNK  # Markup of a constant: never folded (its +, %, replace escape the other side)
        if name == "format":
            return _product([base_values, *args], lambda c: _percent_format(c[0], list(c[1:])))
        if name == "string":
            return base_values
        return _product([base_values, *args], lambda c: _string_method(c[0], name, list(c[1:]), jinja_filter=True))

    def _call_value(self, node: Any, level: int, depth: int, n: Any) -> frozenset[Any]:  # noqa: C901, PLR0911
        v = self.value
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            return _UNK
        fn = node.node
        if isinstance(fn, n.Getattr):
            base, method = fn.node, fn.attr
            if self._loop_read(fn):
                if method == "cycle" and not node.kwargs and not self.loop_both.get(id(fn), False):
                    return frozenset().union(*(v(a, level, depth) for a in node.args))
                return _UNK  # round 17: a call of what ``loop`` may be bound to is not followed either
            base_values = v(base, 0, depth)
            args = [v(a, 0, depth) for a in node.args]
            if method in ("keys", "values", "items"):
                if _is_data(base_values):
                    return _DATA
                if method == "items":
                    return self._down(base, level, depth) if level >= 2 else frozenset({SEQUENCE})
                return v(base, level, depth) if level else frozenset({SEQUENCE})
            if method == "get":
                found = _DATA if _is_data(base_values) else v(base, level + 1, depth)
                fallback = v(node.args[1], level, depth) if len(node.args) > 1 else _NOTHING
                return found | fallback
            if _is_data(base_values):
                if method in ("split", "rsplit") and node.args and _all_strs(args[0]) and \
                        all(a <= _NUMBER for a in args[1:]) and not node.kwargs:
                    # Pieces of the data's own text cut at a constant separator: no character that was not in
                    # the data (muse-glimmer keys a dict by fn.name.split('.')[0]). Only of data: a method's
                    # or |string's text is never data, so this is no alphabet.
                    return _DATA
                if method in _NUMBER_METHODS:
                    return _NUMBER if level == 0 else _NOTHING
                if method in _DATA_METHODS:
                    return _DATA
                return _UNK  # any other method of data (to_bytes, decode, ...): not followed
            if level:
                return _chars(v(node, 0, depth))
            if node.kwargs or not _all_strs(base_values):
                return _UNK
            if method == "join" and len(node.args) == 1:
                items = node.args[0]
                if isinstance(items, n.List | n.Tuple):
                    return _product([base_values] + [v(i, 0, depth) for i in items.items], lambda c: c[0].join(c[1:]))
                return _product([base_values, args[0]], lambda c: c[0].join(c[1]))
            return _product([base_values, *args], lambda c: _string_method(c[0], method, list(c[1:])))
        if isinstance(fn, n.Name) and fn.name not in self.bindings and fn.name not in self.stored:
            if fn.name == "range" and not node.kwargs:
                return frozenset({SEQUENCE}) if level == 0 else (_NUMBER if level == 1 else _NOTHING)
            if fn.name == "namespace":
                if level or node.args:
                    return _UNK
                return frozenset({NAMESPACE})
            if fn.name == "dict" and not level and not node.args:
                return frozenset({MAPPING})
            if fn.name == "dict" and level and not node.args:
                keys = frozenset(k.key for k in node.kwargs)
                keys = keys if level == 1 else _chars(keys)
                return keys.union(*(self._down(k.value, level, depth) for k in node.kwargs))
        return _UNK

    # -- checks ----------------------------------------------------------------------------------------
    def visit(self, node: Any) -> None:
        # Dispatch on the node's class (resolved once per class with the same isinstance order as the
        # checks below had): most nodes of a template (Output, TemplateData, If, Compare, ...) need nothing.
        kind = _visit_kind_of(type(node))
        if not kind or id(node) in self.consumed:
            return
        nodes = _NODES
        if kind == "getitem":
            kind = "fold" if isinstance(node.arg, nodes.Slice) else "chain"
        elif kind == "filter-test":
            if isinstance(node, nodes.Filter) and node.node is not None:
                self._implicit_calls(node, node.name, node.args, 0)
                if node.name == "map" and node.args and isinstance(node.args[0], nodes.Const) and \
                        not any(kw.key == "attribute" for kw in node.kwargs):
                    # map('dictsort') / map('wordwrap', 9, ns): the named filter runs on every element.
                    self._implicit_calls(node, node.args[0].value, node.args[1:], 1)
            if isinstance(node, nodes.Filter) and (
                node.name in ATTRIBUTE_FILTERS or node.dyn_kwargs is not None
                or any(kw.key == "attribute" for kw in node.kwargs)
            ):
                # Any filter given attribute= (join, or one added by the host) reads the attribute it names.
                self._filter(node, nodes)
                if node.name != "join" and node.name in ATTRIBUTE_FILTERS:
                    return
            kind = "fold" if isinstance(node, nodes.Filter) else ""
        if kind == "chain":
            self._chain(node, nodes)
        elif kind == "name":
            if node.ctx in ("store", "param") and _dangerous_name(node.name):
                self.add(DUNDER, node, f"template names Python internal attribute '{node.name}' (variable name)")
            if node.ctx == "load" and node.name in HOST_NAMES and node.name not in self.stored:
                kind = DUNDER if _is_dunder(node.name) else HOST_OBJECT
                self.add(kind, node, f"template references host object '{node.name}'")
        elif kind == "const":
            value = node.value
            if not isinstance(value, str):
                return
            if _is_dunder(value) or value in INTERNAL_ATTRS:
                self.add(DUNDER, node, f"template names Python internal attribute '{value}'")
            elif format_reads_private(value):
                self.add(DUNDER, node, f"format string reads private attributes: {value[:80]!r}")
        elif kind == "keyword":
            # dict(__init__=1), namespace(__globals__=...): the keyword is a string the template can read back.
            if _dangerous_name(node.key):
                self.add(DUNDER, node, f"template names Python internal attribute '{node.key}' (keyword argument)")
        elif kind == "fold":
            values = self.value(node)
            for built in sorted(_strs(values)):
                if _dangerous_name(built):
                    self.add(BUILT_NAME, node, f"template builds the name '{built[:80]}' from pieces")
                    break
                if format_reads_private(built):  # a format string assembled from pieces, called anyhow
                    self.add(BUILT_NAME, node, f"template builds a format string reading private attributes: {built[:80]!r}")
                    break
            if isinstance(node, nodes.Call):
                self._keys_calls(node, nodes)
                self._format_call(node, nodes)
        elif kind == "loader":
            what = type(node).__name__.lower().replace("fromimport", "from-import")
            self.add(LOADER, node, f"template uses {{% {what} %}}, which loads other templates")

    def _keys_calls(self, node: Any, nodes: Any) -> None:
        """Round 12: Python calls ``x.keys()`` (through getattr, so a namespace's stored attribute) for
        ``f(**x)``, ``dict(x)``, ``namespace(x)`` and ``d.update(x)`` when ``x`` is not a dict."""
        fn = node.node
        given = [node.dyn_kwargs] if node.dyn_kwargs is not None else []
        if isinstance(fn, nodes.Name) and fn.name in ("dict", "namespace") or \
                isinstance(fn, nodes.Getattr) and fn.attr == "update":
            given.extend(node.args[:1])
        for arg in given:
            self._implicit_call(node, arg, "keys", "a mapping argument")
        if not self._namespace_call(node):
            return
        for arg in [*node.args, *([node.dyn_kwargs] if node.dyn_kwargs is not None else [])]:
            # namespace(mapping): its attribute NAMES are the mapping's keys, so any of them may be one that Jinja
            # or markupsafe calls with no Call node (__html__ on output under autoescape, |e, |safe, join;
            # __html_format__ in Markup.format; items in |dictsort; keys in dict(ns)). Its values must not be
            # callable: JSON and not picked, unless the keys are literal names that nothing calls implicitly.
            if isinstance(arg, nodes.Dict) and all(
                    isinstance(p.key, nodes.Const) and isinstance(p.key.value, str) and
                    p.key.value not in _IMPLICIT_NAMES and not p.key.value.startswith("_") for p in arg.items):
                continue
            if self._not_json(arg, 1) or self._picked(arg):
                self.add(COMPUTED_ATTR, node, "namespace() built from a mapping whose keys are not known here, holding "
                                              "a value that may be callable (Jinja calls __html__ / items / keys "
                                              "of a namespace implicitly)")
                return

    def _implicit_calls(self, node: Any, name: Any, args: list[Any], level: int) -> None:
        """Round 15 (class D): judge every method the builtin filter ``name`` calls by name (_IMPLICIT_CALLS) on
        its input (``node.node``, its elements at ``level`` 1 for map) or on the argument it calls it on."""
        calls = _IMPLICIT_CALLS.get(name, ()) if isinstance(name, str) else ()
        if not calls:
            return
        params = _filter_params(name)
        loose = node.dyn_args is not None or node.dyn_kwargs is not None
        for param, attr in calls:
            how = f"|{name}"
            if param == "value":
                self._implicit_call(node, node.node, attr, how, level)
                continue
            given = [kw.value for kw in node.kwargs if kw.key == param]
            if param in params and params.index(param) < len(args):
                given.append(args[params.index(param)])
            for arg in given:
                self._implicit_call(node, arg, attr, how)
            if loose:
                self._implicit_call(node, None, attr, how)  # *args / **kwargs may give that argument

    def _implicit_call(self, node: Any, obj: Any, attr: str, how: str, level: int = 0) -> None:
        """Round 12: ``how`` calls ``obj.<attr>()`` with no Call node (|dictsort and |xmlattr call ``.items()``
        on anything that is not a dict, Namespace included; ``dict(x)`` calls ``.keys()``). On a namespace that
        calls what ``{% set ns.<attr> %}`` stored: judged as the explicit call ``ns.<attr>()`` would be (only a
        macro of the template is proven) and, when the namespace's labels say picked, a call of a picked value."""
        values = self.value(obj, level) - _PENDING if obj is not None else frozenset({NAMESPACE})
        if not (NAMESPACE in values or _unresolved(values)):
            return
        stored = f".{attr}" in self.bindings
        if stored and not self._callable_proven(f".{attr}") or stored and obj is not None and self._picked(obj):
            self.add(COMPUTED_ATTR, node, f"{how} calls the namespace attribute '{attr}', which holds a value not "
                                          f"proven callable here (it may be one reached through the render data)")

    def _format_call(self, node: Any, nodes: Any) -> None:
        """``str.format`` reads attributes and items of its arguments ('{0.__class__}'): its format string
        must be known (or come from the data), and must not read private names."""
        fn = node.node
        if not isinstance(fn, nodes.Name | nodes.Getattr):
            # (f|attr('format'))(x), d['format'](x), (a or b)(x): what is called is not known here, so it may
            # be str.format of a format string that reads attributes of its arguments.
            self.add(COMPUTED_ATTR, node, "call of a function computed at render time (may be str.format)")
            return
        if isinstance(fn, nodes.Name) and fn.name in self.bindings and DATA in self.value(fn):
            # Render data is JSON: never callable. A name that may hold it was reached through data keys on
            # data, which Jinja's getattr fallback turns into attributes ('x'['__class__']...): calling it
            # runs a method chosen by chat content (round 6, class 3).
            self.add(COMPUTED_ATTR, node, f"call of '{fn.name}', which may hold a value reached through the render data")
            return
        if isinstance(fn, nodes.Name) and fn.name in self.bindings and not self._callable_proven(fn.name) and \
                (_unresolved(self.value(fn)) or not self.value(fn) - _PENDING):
            # Round 8: a name the template binds whose value is not modelled (a recursive loop target, a
            # caller(...) argument, a parameter of a macro used through an alias) or is empty may hold any
            # object the template reached: calling it needs a proof (every binding names a macro of the template).
            self.add(COMPUTED_ATTR, node, f"call of '{fn.name}', whose value is not known statically")
            return
        for kw in node.kwargs:
            if kw.key == "caller" and not (isinstance(kw.value, nodes.Name) and self._callable_proven(kw.value.name)):
                # Round 10 (class B): the macro calls what caller= gives it, and returns what that returns. Only a
                # macro of the template is proven (real templates use {% call %} blocks, never the keyword).
                self.add(COMPUTED_ATTR, node, "caller= passes a value that is not a macro of the template (the macro "
                                              "calls it)")
                return
        if isinstance(fn, nodes.Getattr) and fn.attr in _KEYED_METHODS and node.args and \
                self._chosen_key(node.args[0]) and not self._data_key_ok(fn.node, 0):
            # Round 10 (class B): d.get(k) with a key from the render data is d[k]: chat content would pick an item
            # of an object that is not render data (round 9 took it for a method of JSON, unlabelled).
            self.add(COMPUTED_ATTR, node, f"'.{fn.attr}()' with a key from the render data on an object that is not "
                                          f"render data (chat content would pick its item)")
            return
        if isinstance(fn, nodes.Getattr) and fn.attr in TEMPLATE_API:
            # Round 7: env.from_string(text).render() renders a second-order template never analysed here.
            self.add(ESCAPE_ROOT, node, f"call of '{fn.attr}' (Jinja's template API: renders a template not analysed)")
            return
        if isinstance(fn, nodes.Getattr) and not self._method_proven(fn):
            # Round 9: the round-8 proof rule for every callee, not only names. An attribute of a value not known
            # statically (loop.previtem, dict(**d).f, cycler(*l).current, ({}.fromkeys(l)|first)) may be any
            # object the template reached: only a literal method name of JSON's own types is callable there.
            self.add(COMPUTED_ATTR, node, f"call of '.{fn.attr}' of a value not known statically")
            return
        if isinstance(fn, nodes.Name) and id(fn) in self.loop_of and not self.loop_both.get(id(fn), False):
            # loop(x) where ``loop`` is surely the LoopContext: the recursion call (Jinja's own LoopContext.__call__;
            # its items, now also what x holds (round 17, class B), are not what is called).
            pass
        elif self._picked(fn) and not (
            isinstance(fn, nodes.Getattr) and fn.attr in _SAFE_PICKED_METHODS and _is_data(self.value(fn.node))
        ):
            # Round 7: a callee reached through a key or attribute name chosen by render data may be any
            # attribute of any object on the way (Jinja's getitem falls back to getattr): never called.
            self.add(COMPUTED_ATTR, node,
                     "call of a value reached through a key or attribute name chosen by the render data")
            return
        given = [*node.args, *(k.value for k in node.kwargs),
                 *(x for x in (node.dyn_args, node.dyn_kwargs) if x is not None)]
        if isinstance(fn, nodes.Getattr) and fn.attr not in _ARGUMENT_SAFE_METHODS and \
                any(self._picked(a) for a in given):
            # Round 9: a value reached through a chat-chosen key may be a bound method or a type; a method that
            # calls what it is given (list.sort(key=f), str.translate(t), ...) would call it. Only methods that
            # store, compare or search their arguments may be given one.
            self.add(COMPUTED_ATTR, node, f"value reached through a key chosen by the render data passed to "
                                          f"'.{fn.attr}' (which may call it)")
            return
        if isinstance(fn, nodes.Getattr) and DATA in self.value(fn) and \
                (fn.attr not in _data_type_attrs() or NAMESPACE in self.value(fn.node)):
            # Round 7: a field of render data (x.system, ns.f holding data) is JSON, never callable; literal
            # methods of data's own type (strip, items, get, ...) are METHOD, not DATA, and stay allowed.
            self.add(COMPUTED_ATTR, node, f"call of '.{fn.attr}', which may hold a value reached through the render data")
            return
        if not (isinstance(fn, nodes.Getattr) and fn.attr in ("format", "format_map")):
            return
        if isinstance(fn.node, nodes.Const):
            return  # judged as a constant
        values = self.value(fn.node)
        if _unresolved(values):
            self.add(COMPUTED_ATTR, node, "str.format() with a format string computed at render time")
        elif not _all_strs(values):
            # Red team round 20: a format string that is not the template's own text (render data, a number, a
            # mix) reads the attributes and items its fields name ('{0.gi_frame.f_globals[...]}') with Python's
            # plain getattr: names chosen at render time walk whatever objects the arguments are. Rounds 6-19 let
            # a data format string read render-data arguments, taken as JSON; but a "data" argument may be an
            # Undefined (message.name of a message with no name: its __class__.__init__.__globals__ is jinja2
            # .runtime's) or a generator (|selectattr, |unique, |map: gi_frame), so no argument is proven safe.
            self.add(COMPUTED_ATTR, node,
                     "str.format() with a format string that is not a constant of the template (chat content "
                     "would pick the attributes its fields read)")
        for fmt in _strs(values):
            if format_reads_private(fmt):
                self.add(BUILT_NAME, node, f"format string built from pieces reads private attributes: {fmt[:80]!r}")
                break

    def _chain(self, node: Any, nodes: Any) -> None:
        """Judge a whole access chain (``a.b['c'].d``) once, from its outermost node: one finding per kind.

        Fails closed on keys: a key that is not one or more known strings must come from the render data (or
        be a number); anything else is a computed name.
        """
        hops: list[tuple[str, bool]] = []  # (name, literal) of every risky hop
        current = node
        for _ in range(100_000):
            if isinstance(current, nodes.Getattr):
                names, literal = [current.attr], True
            elif isinstance(current, nodes.Getitem) and not isinstance(current.arg, nodes.Slice):
                values = self.value(current.arg)
                literal = isinstance(current.arg, nodes.Const | nodes.Name)  # as before: a set name reads as a literal
                if _unresolved(values):
                    self.add(COMPUTED_ATTR, current,
                             "item access with a key computed at render time that does not come from the render "
                             "data (cannot be resolved statically)")
                elif DATA in values and not self._data_key_ok(current.node, 0):
                    self.add(COMPUTED_ATTR, current,
                             "item access with a key from the render data on an object that is not render data "
                             "(a Jinja global, macro, loop, function or unknown value): chat content would pick "
                             "its attribute")
                elif NUM in values and not isinstance(_fold_int(current.arg, nodes), int) and \
                        not self._number_key_ok(current.node):
                    # Round 10 (class D): a key modelled as a number that is not a literal one (loop.index, |int,
                    # a comparison) comes through a model that may be wrong (a free ``loop`` was the client's
                    # dict). A real number never reaches getattr, so the receiver need not be data, but it must
                    # not be an object that is only an object (a Jinja global, macro, function, constant).
                    self.add(COMPUTED_ATTR, current,
                             "item access with a computed number key on an object that is not render data or a "
                             "container the template built")
                # Round 7: Jinja's getitem falls back to getattr, so fmt['_environment'] is fmt._environment:
                # a string key starting with '_' is judged exactly like the attribute.
                names = [s for s in _strs(values) if _dangerous_name(s) or s.startswith("_")]
                if names and _all_strs(values):
                    self.consumed.add(id(current.arg))  # judged here, not again as a built name
            else:
                break
            if current is not node:
                self.consumed.add(id(current))
            hops.extend((name, literal) for name in names if _dangerous_name(name) or name.startswith("_"))
            current = current.node
        if not hops:
            return
        hops.reverse()  # innermost first, in source order
        root = current.name if isinstance(current, nodes.Name) else None
        if root in ESCAPE_ROOTS and root not in self.stored or root in self.macros:
            names = ", ".join(f"'{n}'" for n in dict.fromkeys(n for n, _ in hops))
            self.add(ESCAPE_ROOT, node, f"template escapes through the '{root}' global via {names}")
            return
        for kind, selected in (
            (DUNDER, [n for n, lit in hops if lit and _dangerous_name(n)]),
            (BUILT_NAME, [n for n, lit in hops if not lit and _dangerous_name(n)]),
            (PRIVATE_ATTR, [n for n, _ in hops if not _dangerous_name(n)]),
        ):
            if selected:
                names = ", ".join(f"'{n}'" for n in dict.fromkeys(selected))
                what = "private attribute" if kind == PRIVATE_ATTR else "Python internal attribute"
                plural = "s" if len(set(selected)) > 1 else ""
                self.add(kind, node, f"template accesses {what}{plural} {names}")

    def _method_proven(self, fn: Any) -> bool:
        """``fn`` (``x.attr``) may be called: ``loop.cycle`` / ``loop.changed``, any attribute of a value the
        analysis knows (data, constants, containers, namespaces: judged by the other call rules), or, on a value
        not known statically, a literal non-private method name of JSON's own types (str, list, dict, numbers)."""
        receiver = fn.node
        # Round 17: where ``loop`` may also be a binding, the call must be proven both ways.
        if self._loop_read(fn) and (fn.attr not in ("cycle", "changed") or not self.loop_both.get(id(fn), False)):
            return fn.attr in ("cycle", "changed")
        values = self.value(receiver) - _PENDING
        if NAMESPACE in values:
            # Round 10 (class C): a namespace's attribute is whatever {% set ns.attr %} stored (Namespace has no
            # methods), so ns.index(...) calls the stored value whatever the name: only a macro is proven.
            return self._callable_proven(f".{fn.attr}")
        if values and not _unresolved(values):
            return True
        if fn.attr in _data_type_attrs() and not fn.attr.startswith("_") and \
                not (MAPPING in values and fn.attr not in _DICT_METHODS and not self._items_inert(receiver, fn.attr)) \
                and not self._not_json_top(receiver):
            # Round 10 (class C): a JSON method name is a method only on a receiver proven of a JSON type (a
            # dict's other names are its items, and an object not modelled may return stored items for any name).
            return True
        # A receiver reached through a literal private or dunder attribute (cycler.__init__.__globals__.os
        # .popen('id').read()) is a finding of its own already (the chain's): not reported twice.
        node = receiver
        for _ in range(MAX_FOLD_DEPTH):
            if isinstance(node, _NODES.Getattr) and node.attr.startswith("_"):
                return True
            if not isinstance(node, _NODES.Getattr | _NODES.Getitem | _NODES.Call):
                break
            node = node.node
        return False

    def _items_inert(self, node: Any, key: str) -> bool:
        """What a dict the template built may store under ``key`` is render data, a number or a string (never
        callable), or nothing."""
        items = self._items_of(node, key, 0, 0, set()) - _PENDING
        return all(isinstance(x, str) or x is DATA or x is NUM for x in items)

    def _not_json_top(self, node: Any, level: int = 0) -> bool:
        """``node``'s own object (``level`` 1: each element's own object ...) may not be of a JSON type. Unlike
        _not_json, its elements do not count: a list whose elements are not known is still a list, whose
        methods are list methods. Names are followed through their bindings; the unknown elements of a
        container changed in place are what the template's mutating calls store (l.append(x): x's own object,
        l.extend(y): y's elements); free values are judged as _not_json does."""
        level = min(level, MAX_JSON_LEVEL)
        # The key is tagged: _judged's stack is shared by the predicates, and _not_json's keys are (id, level) too.
        return self._judged(self.not_top_memo, ("top", id(node), level),
                            lambda: self._not_json_top_uncached(node, level))

    def _not_json_top_uncached(self, node: Any, level: int) -> bool:
        n = _NODES
        if isinstance(node, n.List | n.Tuple) and level == 0:
            return False  # a list or tuple: its attributes are its methods (a dict's other names are its items)
        if level == 0 and _string_sum(node, n):
            return False  # 'functions.' + x + ':': a str (str + object raises; the containers here define no __radd__)
        if isinstance(node, n.Getattr) and not self._loop_only(node):
            if self._loop_read(node) and self._not_json(node, level):
                return True  # round 17: the LoopContext reading, then the binding of ``loop`` (below)
            # ns.attr: what is stored in it; x.attr of anything else: an item (data, a dict) of x.
            values = self.value(node.node) - _PENDING
            if NAMESPACE in values and self._binds_not_json_top(self.bindings.get(f".{node.attr}", ()), level):
                return True
            return bool(values - {NAMESPACE}) and self._not_json_top(node.node, level + 1)
        if not isinstance(node, n.Name):
            return self._not_json(node, level)
        binds = self.bindings.get(node.name, ())
        if self._binds_not_json_top(binds, level):
            return True
        if id(node) in self.surely:
            return False
        return self._free_opaque(node.name) or not binds and node.name in self.stored

    def _binds_not_json_top(self, binds: Any, level: int) -> bool:
        for value, bound in binds:
            if value is None:
                if bound == 0 or level >= bound and self._stored_not_json(level - bound, top=True):
                    return True
            elif self._not_json_top(value, level + bound):
                return True
        return False

    def _stored_not_json(self, level: int, *, top: bool = False) -> bool:
        """What a container changed in place holds beyond its literal (at ``level`` below its elements) may not be
        JSON (``top``: may not be of a JSON type itself). Round 10: that is what the template's mutating calls
        store (l.append(x): x; l.extend(y), d.update(y): y's elements), over every container since aliasing is
        over-approximated; when containers are changed in ways not followed (wild), anything."""
        if self.wild:
            return True
        level = min(level, MAX_JSON_LEVEL)
        # One key for the whole union (judged once, through _judged like the nodes it reaches): every changed
        # container's elements share it, so N containers and M mutating calls cost N + M, not N * M.
        return self._judged(self.not_top_memo, ("stored", level, top),
                            lambda: self._stored_not_json_uncached(level, top))

    def _stored_not_json_uncached(self, level: int, top: bool) -> bool:
        judge = self._not_json_top if top else self._not_json
        # Round 16 (layer 3): a mutating method used as a value may be called by any call: it may store that
        # call's arguments (append), their items (update, extend) or pairs' values (update), and a receiver's
        # items handed to a key function (c.sort(key=d.update)) or theirs, one and two levels further.
        for args, receiver in self.value_calls:
            if any(judge(a, level + k) for a in args for k in (0, 1, 2)):
                return True
            if receiver is not None and any(judge(receiver, level + k) for k in (1, 2, 3)):
                return True
        for call in self.stored_in:
            given = [*call.args, *(k.value for k in call.kwargs),
                     *(x for x in (call.dyn_args, call.dyn_kwargs) if x is not None)]
            spread = call.node.attr in ("extend", "update") or call.dyn_args is not None or call.dyn_kwargs is not None
            if any(judge(a, level + 1 if spread else level) for a in given):
                return True
            # Round 16 (class A): d.update(pairs) stores the second item of each pair (depth 2 of the argument).
            if call.node.attr == "update" and any(judge(a, level + 2) for a in given):
                return True
        return False

    def _chosen_key(self, key: Any) -> bool:
        """``key`` may be a key the render data chose (or one not known here): not only constants and numbers."""
        values = self.value(key) - _PENDING
        return DATA in values or _unresolved(values) and not values <= _NUMBER

    def _fresh_callee(self, name: str) -> bool:
        """Calling the name ``name`` gives a value the analysis models from its arguments: a macro of the template
        (its text; every binding of the name a macro), ``loop(...)`` of a recursive loop (its text), or a Jinja
        global / known host function read free. Every other callee (caller, varargs, a host function not listed,
        a bound name) is a channel not modelled."""
        if name in self.bindings:
            return self._callable_proven(name)
        if name in self.macros:
            return True
        return name not in self.stored and name in _FRESH_CALLEES

    def _callable_proven(self, name: str, seen: frozenset[str] = frozenset()) -> bool:
        """Every binding of ``name`` is (a name whose bindings all are) a macro this template defines."""
        if name in seen:
            return False
        binds = self.bindings.get(name)
        if binds is None:
            return name in self.macros
        n = _NODES
        # (None, 1) and deeper mark a container changed in place (its elements); the object itself is the same.
        return all(isinstance(value, n.Name) and self._callable_proven(value.name, seen | {name})
                   for value, bound in binds if value is not None or bound == 0)

    def _picked(self, node: Any) -> bool:
        """``node``'s value may have been reached through a key or attribute name chosen by render data
        (``m[p[1]]``, ``x|attr(p[2])``, ``map(attribute=d)``), directly or through names, loop targets, macro
        parameters and namespace attributes bound to such a value (over-approximated, flow-insensitively).
        Jinja's getitem falls back to getattr, so such a value may be any attribute of the object it was read
        from (round 7: ``g[d[1]][d[2]]...`` walked a groupby tuple's ``_asdict.__globals__`` to os.system)."""
        return self._judged(self.picked_memo, id(node), lambda: self._picked_uncached(node))

    def _judged(self, memo: dict[Any, bool], key: Any, compute: Any) -> bool:
        """``compute()``, memoised, as a least fixpoint over cycles (both predicates are reachability of a
        "not proven" leaf: ORs over static edges). Tarjan's walk: a key met again while on the stack adds
        nothing and joins its cycle; True is final at once; a cycle's False is final when its root finishes
        False (nothing in it reaches a True), and dropped when the root turns True (round 7's memo kept such
        Falses: a node reached through a key in progress could stay unpicked). Both predicates were
        exponential in chains of names bound to containers of names (``set a2 = [a1, a1]``): each key is now
        judged about once. Past MAX_STEPS: True (not proven; fail closed)."""
        got = memo.get(key)
        if got is not None:
            return got
        onstack = self.pred_onstack
        if key in onstack:
            if onstack[key] < self.pred_low:  # min(), without the builtin call (ints)
                self.pred_low = onstack[key]
            return False
        self.pred_steps += 1
        if not self.pred_steps & 255:
            _spend(256)
        if self.pred_steps > MAX_STEPS:
            _hit("MAX_STEPS")
            return True
        index = self.pred_next
        self.pred_next += 1
        onstack[key] = index
        stack = self.pred_stack
        stack.append((memo, key))
        outer_low, self.pred_low = self.pred_low, index
        try:
            got = compute()
        finally:
            low = self.pred_low
            self.pred_low = low if low < outer_low else outer_low  # min(outer_low, low) (ints)
        if got:
            memo[key] = True
        if low >= index:  # the root of its cycle: every key above it on the stack is settled now
            while True:
                member_memo, member = stack.pop()
                del onstack[member]
                if not got and member_memo.get(member) is None:
                    member_memo[member] = False
                if member == key and member_memo is memo:
                    break
        return got

    def _picked_uncached(self, node: Any) -> bool:  # noqa: C901, PLR0911, PLR0912
        # Round 9: deny by default. A value is "not picked" only when proven: a constant, a free render name
        # (or Jinja global) read as it is, a fresh number/string/bool, or a node below whose parts are all
        # proven. Every node type, filter and callee not listed here is picked (round 9 laundered the label
        # through loop.cycle(x), [x] + [], [x] * 1, dict(**{...}), cycler(*[...]), loop.previtem).
        n = _NODES
        if isinstance(node, n.Const | n.TemplateData | n.Compare | n.Not | n.Test | n.Concat | n.AssignBlock):
            return False  # a constant, a bool, or a new string (~, block set): no object flows through
        if isinstance(node, n.Name):
            # Round 8: a binding not modelled (recursive loop target, caller(...) argument, parameter of a macro
            # used through an alias) may hold anything the template reached, so it counts as picked.
            # ((None, 1) marks a container changed in place: its elements are unknown, the name itself is not.)
            # A free name is render data read as it is, or a Jinja/host global: not reached through a key. But
            # varargs / kwargs (inside a macro) hold whatever the callers passed: not proven.
            binds = self._name_binds(node)
            if binds is None:
                return True
            return any(self._picked(value) if value is not None else bound == 0 for value, bound in binds)
        if isinstance(node, n.Getitem):
            if not isinstance(node.arg, n.Slice) and DATA in self.value(node.arg):
                return True
            return self._picked(node.node)
        if isinstance(node, n.Getattr):
            if self._loop_read(node):
                # loop.index ... are numbers and loop.cycle / loop.changed bound methods of the loop (their
                # calls are judged below); previtem / nextitem are elements of an iterable not tracked here.
                owner = self.loop_of.get(id(node))
                if node.attr in ("previtem", "nextitem") and owner is not None and not owner.recursive:
                    # An element of the iterable (round 9, class B): the loop key's channels (round 14).
                    hit = any(self._picked(v) if v is not None else bound == 0
                              for v, bound in self.bindings.get(_loop_key(owner), ()))
                else:
                    hit = node.attr not in _LOOP_NUMBERS | {"cycle", "changed"}
                if hit or not self.loop_both.get(id(node), False):
                    return hit
                # Round 17: it may also be an attribute of what ``loop`` is bound to: judged as such too.
            own = self.bindings.get(f".{node.attr}", ()) if NAMESPACE in self.value(node.node) else ()
            # Round 12: the receiver is judged as a receiver (a namespace there is its own labels, not the union
            # of its attributes'); the attribute read is what {% set ns.attr %} stored.
            return self._receiver_picked(node.node) or \
                any(self._picked(v) if v is not None else bound == 0 for v, bound in own)
        if isinstance(node, n.Filter):
            given = [*node.args, *(k.value for k in node.kwargs),
                     *(x for x in (node.dyn_args, node.dyn_kwargs) if x is not None)]
            if node.name in ATTRIBUTE_FILTERS and node.name not in ("join", "sum", "min", "max", "unique", "sort") \
                    and any(DATA in self.value(a) for a in given):
                return True  # |attr(data), map(attribute=data), selectattr(data), groupby(data)
            if node.name in _FRESH_FILTERS:
                return False  # a new number or string: the object given does not flow into it
            if node.name not in _LABEL_FILTERS:
                return True  # a filter not modelled (or one the host added) may return anything it is given
            return node.node is not None and self._picked(node.node) or any(self._picked(a) for a in given)
        if isinstance(node, n.Call):
            # A call's result carries the labels of its callee's receiver and of every argument (positional,
            # keyword, *args, **kwargs): loop.cycle(x), dict(**{'f': x}), cycler(*[x]), {}.fromkeys([x]),
            # x.get(k), macros alike. Callees other than names and attributes are findings of their own.
            given = [*node.args, *(k.value for k in node.kwargs),
                     *(x for x in (node.dyn_args, node.dyn_kwargs) if x is not None)]
            fn = node.node
            if isinstance(fn, n.Name | n.Getattr) and self._picked(fn):
                return True
            if isinstance(fn, n.Getattr) and self._picked(fn.node):
                return True
            if not isinstance(fn, n.Name | n.Getattr):
                return True
            if isinstance(fn, n.Name) and not self._fresh_callee(fn.name):
                # Round 10 (class B): what caller() (given anything by caller=), a host function or a bound name
                # not proven a macro returns is not modelled: picked (round 9 let caller() out unlabelled).
                return True
            if isinstance(fn, n.Getattr) and fn.attr in _KEYED_METHODS and node.args and \
                    self._chosen_key(node.args[0]) and \
                    not self._surely_literal(fn.node, n.Dict):
                # Round 10 (class B): x.get(k) / pop / setdefault with a data key is x[k]. Round 12: not on a surely
                # a dict the template built (every binding a dict literal): dict.get / dict.pop never fall back to
                # getattr, so they give one of its items (labelled by the receiver: a picked value stored into a
                # container is a finding of its own) or the default argument (judged below). After round 14:
                # setdefault too (it stores the default, then gives the item or it: byrole.setdefault(m.role,
                # []).append(m.content); a picked default is picked below and a finding where it is stored).
                return True
            if self._namespace_call(node) and self._ns_attrs_picked():
                # Round 12 (class): a namespace object anywhere but the receiver of a constant-name ns.attr read
                # (ns['v'], ns|attr('v'), [ns]|map(attribute='v'), groupby('v'), ns|dictsort, a macro or filter
                # given ns ...) carries the labels of every attribute binding (pooled over all namespaces).
                return True
            return any(self._picked(a) for a in given)
        if isinstance(node, n.CondExpr):
            return self._picked(node.expr1) or node.expr2 is not None and self._picked(node.expr2)
        if isinstance(node, n.And | n.Or | n.Add | n.Sub | n.Mul | n.Div | n.FloorDiv | n.Mod | n.Pow):
            # Containers add and repeat ([x] + [], [x] * 1), sets subtract: the result holds either operand's
            # objects (round 9, class C). % of a string is a new string, but a tuple's items flow in.
            return self._picked(node.left) or self._picked(node.right)
        if isinstance(node, n.Neg | n.Pos):
            return self._picked(node.node)
        if isinstance(node, n.List | n.Tuple):
            return any(self._picked(i) for i in node.items)
        if isinstance(node, n.Dict):
            return any(self._picked(p.key) or self._picked(p.value) for p in node.items)
        return True  # any other node: not proven

    def _namespace_call(self, node: Any) -> bool:
        """``node`` is a call of Jinja's own ``namespace`` (not a macro or binding of that name)."""
        n = _NODES
        return isinstance(node, n.Call) and isinstance(node.node, n.Name) and node.node.name == "namespace" and \
            "namespace" not in self.bindings and "namespace" not in self.stored

    def _ns_attr_binds(self) -> list[tuple[Any, int]]:
        return [b for key, binds in self.bindings.items() if key.startswith(".") for b in binds]

    def _ns_attrs_picked(self) -> bool:
        """Some namespace attribute binding ({% set ns.x = ... %}, namespace(x=...)) may be picked."""
        return self._judged(self.picked_memo, ("ns-attrs",), lambda: any(
            self._picked(v) if v is not None else bound == 0 for v, bound in self._ns_attr_binds()))

    def _receiver_picked(self, node: Any) -> bool:
        """``node`` read as the receiver of a constant-name attribute read (``node.attr``): as _picked, except
        that a namespace reached through names only (set ns = namespace(..), set a = ns, macro parameters) is
        its own labels (its call's arguments), not the union of its attributes' (the read judges that one)."""
        return self._judged(self.picked_memo, ("receiver", id(node)), lambda: self._receiver_picked_uncached(node))

    def _name_binds(self, node: Any) -> list[Any] | None:
        """The bindings a Name read may see (with the loop's own for a LoopContext read: round 17, whatever
        bindings ``loop`` has, for previtem / nextitem), or None when it holds what callers passed (``varargs`` /
        ``kwargs`` inside a macro, unbound): not proven."""
        binds = list(self.bindings.get(node.name, ()))
        if not binds and node.name in ("varargs", "kwargs"):
            return None
        owner = self.loop_of.get(id(node))
        if owner is not None:
            binds.extend(self.bindings.get(_loop_key(owner), ()))
        return binds

    def _receiver_picked_uncached(self, node: Any) -> bool:
        n = _NODES
        if isinstance(node, n.Name):
            binds = self._name_binds(node)
            if binds is None:
                return True
            return any(self._receiver_picked(v) if v is not None else bound == 0 for v, bound in binds)
        if self._namespace_call(node):
            given = [*node.args, *(k.value for k in node.kwargs),
                     *(x for x in (node.dyn_args, node.dyn_kwargs) if x is not None)]
            return any(self._picked(a) for a in given)
        return self._picked(node)

    def _not_json(self, node: Any, level: int = 0) -> bool:
        """``node`` (``level`` 1: its elements, 2: theirs ...) may be a Python object that is not JSON: a groupby
        tuple (``_asdict``, ``_replace`` ...), a dict view or an items pair (round 7: d2 walked
        ``g['_asdict']['__globals__']``), or anything not modelled. A data key on it is judged as on any other
        non-data object.

        Round 9: deny by default. JSON is proven only for constants, free render names read by selection,
        fresh numbers/strings/bools, and the node types, filters and methods listed here applied to proven
        JSON; containers are sticky (an element that may not be JSON, at any depth, makes every level of the
        container not JSON), and every other node, filter or callee is "not JSON".

        Round 20: "JSON" here is a JSON value or an Undefined (any read of data may be a field the host did not
        send). An Undefined raises on every item read and non-private attribute read (so a data key or a JSON
        method name gives nothing); only getattr by a name chosen at render time reaches its internals, and
        both ways to do that (str.format with a format string that is not a constant, |attr or attribute=
        with a computed name) are findings whatever the receiver. Generators are not JSON (_ITERATOR_FILTERS)."""
        level = min(level, MAX_JSON_LEVEL)
        return self._judged(self.not_json_memo, (id(node), level), lambda: self._not_json_uncached(node, level))

    def _not_json_uncached(self, node: Any, level: int) -> bool:  # noqa: C901, PLR0911, PLR0912
        n = _NODES
        nj = self._not_json
        if isinstance(node, n.Const | n.TemplateData | n.Compare | n.Not | n.Test | n.Concat | n.AssignBlock):
            return False  # a constant, a bool or a new string
        if isinstance(node, n.Name):
            binds = self.bindings.get(node.name, ())
            for value, bound in binds:
                if value is None:
                    # not modelled: unknown; (None, 1): a container changed in place, whose further elements
                    # are what the mutating calls store (round 10; round 9 took them as unknown).
                    if bound == 0 or level >= bound and self._stored_not_json(level - bound):
                        return True
                # Round 9 (class D): bindings at any depth are followed (for k, g in ...: bound 2).
                elif nj(value, level + bound):
                    return True
            # The free value (where no binding surely reaches it): render data is JSON; a Jinja or host global,
            # loop, caller, varargs, kwargs, a special token are not (their values are unknown anyway). Round 10
            # (class A): judged whatever bindings the name has (a dead one no longer hides it), and a macro or
            # block name is its object (round 9 counted a macro as JSON); a name stored only by forms that
            # bind nothing here (an uncalled macro's parameter) is unknown, as in _name_value.
            if id(node) in self.surely:
                return False
            base = node.name
            return self._free_opaque(base.split(".", 1)[0]) or not binds and base in self.stored
        if isinstance(node, n.Getattr):
            if self._loop_read(node):
                owner = self.loop_of.get(id(node))
                if node.attr in ("previtem", "nextitem") and owner is not None and not owner.recursive:
                    # An element of the iterable: the loop key's channels (round 14), (None, 1) if it is changed.
                    hit = any(nj(value, level + bound) if value is not None else
                              bound == 0 or level >= bound and self._stored_not_json(level - bound)
                              for value, bound in self.bindings.get(_loop_key(owner), ()))
                else:
                    hit = node.attr not in _LOOP_NUMBERS  # cycle, changed, a recursive loop's items: not tracked
                if hit or not self.loop_both.get(id(node), False):
                    return hit
                # Round 17: it may also be an attribute of what ``loop`` is bound to: judged as such too.
            own = self.bindings.get(f".{node.attr}", ()) if NAMESPACE in self.value(node.node) else ()
            rnj = self._receiver_not_json  # round 12: a namespace receiver is its own labels (see _receiver_picked)
            return rnj(node.node, level + 1) or level > 0 and rnj(node.node, level) or \
                any(nj(value, level) if value is not None else
                    bound == 0 or level >= bound and self._stored_not_json(level - bound) for value, bound in own)
        if isinstance(node, n.Getitem):
            if isinstance(node.arg, n.Slice):
                return nj(node.node, level)  # a slice has the elements of the whole
            return nj(node.node, level + 1)
        if isinstance(node, n.List | n.Tuple | n.Dict):
            # Round 8, sticky: what a template-built container holds is what was put in ([g], (g, 1), {'f': g}),
            # and reads of it (.f, ['f'], first) give it back: any element that may not be JSON, at its own
            # level or one above, makes the container not JSON at every level.
            items = node.items if not isinstance(node, n.Dict) else [x for p in node.items for x in (p.key, p.value)]
            return any(nj(i, lv) for i in items for lv in {max(level - 1, 0), level})
        if isinstance(node, n.CondExpr):
            return nj(node.expr1, level) or node.expr2 is not None and nj(node.expr2, level)
        if isinstance(node, n.And | n.Or | n.Add | n.Sub | n.Mul | n.Div | n.FloorDiv | n.Mod | n.Pow):
            # Round 9 (class C): [x] + [], [x] * 1, sets minus tuples hold either operand's elements.
            return any(nj(x, lv) for x in (node.left, node.right) for lv in {max(level - 1, 0), level})
        if isinstance(node, n.Neg | n.Pos):
            return nj(node.node, level)
        if isinstance(node, n.Filter):
            return self._not_json_filter(node, level)
        if isinstance(node, n.Call):
            return self._not_json_call(node, level)
        return True  # any other node: not proven

    def _ns_attrs_not_json(self, level: int) -> bool:
        """Some namespace attribute binding's value may not be JSON at ``level``."""
        level = min(level, MAX_JSON_LEVEL)
        return self._judged(self.not_json_memo, ("ns-attrs", level), lambda: any(
            self._not_json(v, level + bound) if v is not None else
            bound == 0 or level >= bound and self._stored_not_json(level - bound)
            for v, bound in self._ns_attr_binds()))

    def _receiver_not_json(self, node: Any, level: int) -> bool:
        """_not_json of the receiver of a constant-name attribute read (see _receiver_picked)."""
        level = min(level, MAX_JSON_LEVEL)
        return self._judged(self.not_json_memo, ("receiver", id(node), level),
                            lambda: self._receiver_not_json_uncached(node, level))

    def _receiver_not_json_uncached(self, node: Any, level: int) -> bool:
        n = _NODES
        if isinstance(node, n.Name):
            binds = self.bindings.get(node.name, ())
            if not any(isinstance(v, n.Name) or self._namespace_call(v) for v, _ in binds):
                return self._not_json(node, level)
            for value, bound in binds:
                if isinstance(value, n.Name) or self._namespace_call(value):
                    if self._receiver_not_json(value, level + bound):
                        return True
                elif value is None:
                    if bound == 0 or level >= bound and self._stored_not_json(level - bound):
                        return True
                elif self._not_json(value, level + bound):
                    return True
            if id(node) in self.surely:
                return False
            return self._free_opaque(node.name.split(".", 1)[0]) or not binds and node.name in self.stored
        if self._namespace_call(node):
            given = [*node.args, *(k.value for k in node.kwargs),
                     *(x for x in (node.dyn_args, node.dyn_kwargs) if x is not None)]
            return level == 0 or any(self._not_json(a, lv) for a in given for lv in (0, 1))
        return self._not_json(node, level)

    def _not_json_filter(self, node: Any, level: int) -> bool:  # noqa: PLR0911
        nj = self._not_json
        name = node.name
        if name in _FRESH_FILTERS:
            return False  # a new number or string
        given = [*node.args, *(k.value for k in node.kwargs),
                 *(x for x in (node.dyn_args, node.dyn_kwargs) if x is not None)]
        if node.node is None or name not in _LABEL_FILTERS:
            return True  # a filter block or a filter not modelled (or one the host added)
        base = node.node
        if any(nj(a, lv) for a in given for lv in (0, 1)):
            return True  # default(x), int(x), sum(start=x), ...: the argument may be the result or in it
        if name in ("int", "float"):
            return False  # a number, or the default argument (judged above)
        if level == 0 and name in _ITERATOR_FILTERS:
            # Red team round 20: jinja2 3.1 returns a generator (or a list_reverseiterator) for these, not a list:
            # its gi_frame reaches filters.py's globals and the Environment. Its elements are the input's.
            return True
        if name == "groupby":
            return True  # round 9 (class D): groupby tuples at every level (no real template keys into them)
        if name in ("items", "dictsort"):
            return level <= 1 or nj(base, level - 1)  # views and (key, value) pairs, then the dict's own
        if name in ("first", "last", "random", "min", "max"):
            return nj(base, level + 1) or level > 0 and nj(base, level)
        if name in ("batch", "slice"):
            # Round 9 (class D): both ADD a level (lists of the input's elements), so level L of the result is
            # level L - 1 of the input; sticky over the new level.
            return any(nj(base, lv) for lv in {max(level - 1, 0), level})
        if name in ("map", "attr", "sum"):
            # map(attribute=) / attr / sum select out of the elements (or the value itself): sticky over both.
            if name == "map" and not (any(k.key == "attribute" for k in node.kwargs) or
                                      node.args and self.value(node.args[0]) == frozenset({"attr"})):
                # map('filter'): what the filter returns; round 10: map('upper') gives new strings (elements; the
                # map itself is a generator).
                return not (level > 0 and len(node.args) == 1 and not node.kwargs and
                            isinstance(node.args[0], _NODES.Const) and node.args[0].value in _FRESH_FILTERS)
            return any(nj(base, lv) for lv in {level, level + 1})
        if name == "list" and level == 0:
            # Round 10: a new list of the input's elements (a generator's or a dict's own object is not kept).
            return nj(base, 1)
        # list sort default d, and the iterator filters past level 0: the input's own elements.
        return nj(base, level)

    def _not_json_call(self, node: Any, level: int) -> bool:  # noqa: PLR0911
        n = _NODES
        nj = self._not_json
        fn = node.node
        given = [*node.args, *(k.value for k in node.kwargs),
                 *(x for x in (node.dyn_args, node.dyn_kwargs) if x is not None)]
        if any(nj(a, lv) for a in given for lv in (0, 1)):
            return True  # round 9: a call's result carries its arguments' labels (loop.cycle(x), dict(f=x) ...)
        if self._namespace_call(node) and level > 0 and self._ns_attrs_not_json(level - 1):
            # Round 12 (class): the namespace object anywhere but the receiver of a constant-name ns.attr read:
            # its attributes (level 1) are every attribute binding's value, pooled over all namespaces.
            return True
        if isinstance(fn, n.Name) and fn.name not in self.bindings:
            if fn.name == "namespace" and level == 0 and fn.name not in self.stored:
                # Round 10 (class C): a namespace is not JSON: its attributes are whatever was stored, by any name
                # (ns.index, ns.split). Its attributes (level 1) are judged by what is stored in them.
                return True
            # dict(...), namespace(...), range(...), a macro (its text), a host function (strftime_now): fresh
            # from proven arguments. cycler / joiner objects are not JSON.
            return fn.name not in ("dict", "namespace", "range", "raise_exception", "strftime_now") and \
                fn.name not in self.macros
        if not isinstance(fn, n.Getattr):
            return True
        receiver = fn.node
        if self._loop_read(fn) and (fn.attr not in ("cycle", "changed") or not self.loop_both.get(id(fn), False)):
            return fn.attr not in ("cycle", "changed")  # loop.cycle(args): one of its arguments (judged above)
        if fn.attr in ("items", "keys", "values"):
            if level == 0 or fn.attr == "items" and level == 1:
                return True  # a dict view, an items pair
            return nj(receiver, level - 1 if fn.attr == "items" else level)
        if fn.attr in ("get", "pop", "setdefault", "copy"):
            return any(nj(receiver, lv) for lv in {level, level + 1})
        if fn.attr in _SAFE_PICKED_METHODS or fn.attr in _MIXING_METHODS:
            # String and number methods: on proven JSON they give strings, lists of strings, numbers.
            return any(nj(receiver, lv) for lv in {0, level})
        return True  # any other method: not proven

    def _data_key_ok(self, obj: Any, level: int) -> bool:
        """A key taken from the render data may select only out of render data itself or a container the
        template built (list, dict, namespace: what Jinja's getattr fallback reaches there is a method whose
        value is modelled as the container's elements, so any further data key on it is judged again). On a
        Jinja global, a macro, ``loop``, ``caller``, a function, a constant or anything unknown it would pick
        an attribute chosen by chat content (round 6: ``lipsum[m.content]``)."""
        values = self.value(obj, level) - _PENDING
        # Round 7: never on a value itself reached through a data-chosen key (two data-chosen hops may walk
        # any attribute chain: m.zz|attr(p[1])|attr(p[2]), g[d[1]][d[2]]).
        return bool(values) and values <= {DATA, SEQUENCE, MAPPING, NAMESPACE} and not self._picked(obj) and \
            not self._not_json(obj, level)

    def _number_key_ok(self, obj: Any) -> bool:
        """A computed number key may index ``obj``: a value that may be a container (render data, a list, dict or
        namespace the template built) and was not itself reached through a data-chosen key."""
        values = self.value(obj, 0) - _PENDING
        return bool(values & {DATA, SEQUENCE, MAPPING, NAMESPACE}) and not self._picked(obj)

    def _attribute(self, node: Any, base: Any, name: str, *, literal: bool) -> None:
        root = _root_name(base, _NODES)
        if (root in ESCAPE_ROOTS and root not in self.stored or root in self.macros) and \
                (_dangerous_name(name) or name.startswith("_")):
            self.add(ESCAPE_ROOT, node, f"template escapes through the '{root}' global via '{name}'")
        elif _dangerous_name(name):
            kind = DUNDER if literal else BUILT_NAME
            self.add(kind, node, f"template accesses Python internal attribute '{name}'")
        elif name.startswith("_"):
            self.add(PRIVATE_ATTR, node, f"template accesses private attribute '{name}'")

    def _filter(self, node: Any, nodes: Any) -> None:
        """Attribute filters (attr, map, selectattr, sort, ...): every value that can name an attribute --
        positional, ``attribute=``, or through ``*args`` / ``**kwargs`` -- must be known or data."""
        name = node.name
        judged: list[tuple[frozenset[Any], Any, bool]] = []  # (values, argument node, names an attribute)
        position = _attribute_positions().get(name, -1)
        for i, arg in enumerate(node.args):
            judged.append((self.value(arg), arg, name == "map" or i == position))
        for kw in node.kwargs:
            judged.append((self.value(kw.value), kw.value, kw.key == "attribute"))
        if node.dyn_args is not None:
            judged.append((self.value(node.dyn_args, 1), node.dyn_args, True))
        if node.dyn_kwargs is not None:
            extra = node.dyn_kwargs
            if isinstance(extra, nodes.Dict):
                for pair in extra.items:
                    keys = self.value(pair.key)
                    judged.append((keys, pair.key, True))
                    judged.append((self.value(pair.value), pair.value, "attribute" in keys or not _all_strs(keys)))
            else:
                judged.append((self.value(extra, 1), extra, True))
        computed = False
        # What the named attribute is read from: the value itself for attr, its elements for the others.
        level = 0 if name == "attr" else 1
        for values, arg, names_attribute in judged:
            if _all_strs(values):
                self.consumed.add(id(arg))
            if names_attribute and _unresolved(values):
                computed = True
            elif names_attribute and DATA in values and not self._data_key_ok(node.node, level):
                computed = True  # round 6: chat content naming an attribute of a non-data object
            elif names_attribute and DATA in values and name != "attr":
                # Round 8: an attribute name is a DOTTED path (make_attrgetter does one getitem per part), so a
                # data-valued attribute= makes any number of chat-chosen hops in one step. Real templates name
                # attributes with constants only (the 88 in shared/datasets/chat-templates).
                computed = True
            elif names_attribute and DATA in values and name == "attr":
                # Round 7: any read of render data may be Undefined (a missing field, a name the host does not
                # pass), and |attr reads the Undefined's own attributes (Jinja's getitem would raise there):
                # chat content would pick them. No real template uses |attr with a data name.
                computed = True
            for text in _strs(values):
                if name == "attr":
                    if names_attribute:
                        self._attribute(node, node.node, text, literal=isinstance(arg, nodes.Const | nodes.Name))
                    continue
                for part in _attribute_path(text):
                    if _dangerous_name(part) or part.startswith("__"):
                        kind = DUNDER if isinstance(arg, nodes.Const) else BUILT_NAME
                        self.add(kind, node, f"|{name} reads Python internal attribute '{part}'")
                    elif names_attribute and part.startswith("_"):  # round 7: map(attribute='_environment'), groupby('_x')
                        self.add(PRIVATE_ATTR, node, f"|{name} reads private attribute '{part}'")
        if computed:
            what = "|attr() with a name" if name == "attr" else f"|{name} with an attribute name"
            self.add(COMPUTED_ATTR, node, f"{what} computed at render time")


def _surely_bound(tree: Any, kids: dict[int, list[Any]] | None = None, bodies: bool = False,
                  escaped: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """ids of the Name reads that a binding of the template surely reaches in Jinja's scoping, so the read
    never sees the render argument of that name: after a top-level ``{% set %}`` of it (not one inside an
    if, a loop or a macro), in the body of a for loop over it, of a macro or call block with it as a
    parameter, or of a with block binding it. Anything else (a block, a macro reading an outer name, a set
    inside an if) may read the free render value, which then counts too (round 5: a set inside an unused
    macro or {% if false %} hid the special token the top level really reads).
    ``bodies`` (round 15, for the render-mutation finding only): a ``{% set %}`` of a name in ANY statement list
    (a loop, if, macro, with, filter or call block body) binds it for the statements after it in that list, as
    at the top level (Jinja runs a body in order, in one frame: checked with jinja2 3.1).
    ``escaped`` (round 19, with ``bodies``): ids of macros defined inside an inline frame (for, with, filter,
    set-block body) and used elsewhere than by a direct call there (_Walker._escaped_frame_macros). Every inline
    frame of one depth shares its Python locals, so such a macro is credited only with its parameters, its own
    sets and the sets of function frames (top level, macro body) that surely ran before its definition: those
    variables belong to one run of one function and only its own statements change them later."""
    n = _NODES
    out: set[int] = set()
    # (node, names surely bound, of them those bound in function-frame statements, inside an inline frame)
    stack: list[tuple[Any, frozenset[str], frozenset[str], bool]] = [(tree, frozenset(), frozenset(), False)]
    binds = _SB_BINDS.get(n)
    if binds is None:
        binds = _SB_BINDS.setdefault(n, n.Assign | n.AssignBlock)
    kinds = _SB_KIND[bodies]  # which branch below each node class takes, by the same isinstance tests in order
    kids_of = kids.__getitem__ if kids is not None else None

    def children(node: Any) -> list[Any]:
        return kids_of(id(node)) if kids_of is not None else _children(node)

    def kind(cls: type) -> str:
        found = kinds.get(cls)
        if found is None:
            found = kinds[cls] = _surely_kind(cls, bodies)
        return found

    def spread(node: Any, bound: frozenset[str], fbound: frozenset[str], inline: bool) -> None:
        """The children of ``node`` get (bound, fbound, inline): walked here, without a stack entry each, down
        through the nodes that pass them on unchanged ("plain"); a Name read is decided at once, any other
        node goes on the stack with them (exactly what pushing every child on the stack did)."""
        todo = list(children(node))
        while todo:
            x = todo.pop()
            k = kinds.get(type(x)) or kind(type(x))
            if k == "plain":
                todo += children(x)
            elif k == "name":
                if x.ctx == "load" and x.name in bound:
                    out.add(id(x))
            else:
                stack.append((x, bound, fbound, inline))

    def in_order(stmts: list[Any], bound: frozenset[str], fbound: frozenset[str], inline: bool) -> None:
        if not bodies:
            stack.extend((x, bound, fbound, inline) for x in stmts)
            return
        seen, fseen = set(bound), set(fbound)
        # A macro sees only the sets surely run before its definition (plus the free value). Round 18: a set
        # that comes later gave no credit-proof binding: a name set in only some branches of an if is loaded
        # from the render context at frame start (jinja2 3.1), so the macro's read can be the caller's object.
        for stmt in stmts:
            stack.append((stmt, frozenset(seen), frozenset(fseen), inline))
            got = sets_surely([stmt])
            seen.update(got)
            if not inline:  # a set in an inline frame writes the local its sibling frames share
                fseen.update(got)

    def sets_surely(stmts: list[Any]) -> set[str]:
        """Names every run of ``stmts`` binds: a set of a name, or an if whose every branch (else included)
        does."""
        out: set[str] = set()
        for stmt in stmts:
            if isinstance(stmt, binds) and isinstance(stmt.target, n.Name):
                out.add(stmt.target.name)
            elif isinstance(stmt, n.If) and stmt.else_:
                branches = [sets_surely(stmt.body), *(sets_surely(e.body) for e in stmt.elif_), sets_surely(stmt.else_)]
                out |= set.intersection(*branches)
        return out

    while stack:
        node, bound, fbound, inline = stack.pop()
        k = kinds.get(type(node)) or kind(type(node))
        if k == "plain":
            spread(node, bound, fbound, inline)
            continue
        if k == "name":
            if node.ctx == "load" and node.name in bound:
                out.add(id(node))
            continue
        if k == "template" and bodies:
            in_order(node.body, frozenset(), frozenset(), False)
            continue
        if k == "template":
            seen: set[str] = set()
            for stmt in node.body:
                stack.append((stmt, frozenset(seen), frozenset(seen), False))
                if isinstance(stmt, binds) and isinstance(stmt.target, n.Name):
                    seen.add(stmt.target.name)
            continue
        if k == "for":
            inner = bound | frozenset(_names_in(node.target))
            stack.append((node.iter, bound, fbound, inline))
            stack.extend((x, bound, fbound, True) for x in node.else_)
            if node.test is not None:
                stack.append((node.test, inner, fbound, True))
            in_order(node.body, inner, fbound, True)
            continue
        if k == "macro":  # a Macro or a CallBlock
            params = frozenset(a.name for a in node.args)
            stack.extend((d, frozenset(), frozenset(), inline) for d in node.defaults)
            if isinstance(node, n.CallBlock):
                stack.append((node.call, bound, fbound, inline))
            if bodies and isinstance(node, n.Macro):
                outer = fbound if id(node) in escaped else bound
                in_order(node.body, params | outer, params | fbound, False)
            else:
                in_order(node.body, params, params, False)
            continue
        if k == "with":
            inner = bound | frozenset(name for t in node.targets for name in _names_in(t))
            stack.extend((x, bound, fbound, inline) for x in node.values)
            in_order(node.body, inner, fbound, True)
            continue
        if k == "if":  # only with ``bodies``
            stack.append((node.test, bound, fbound, inline))
            stack.extend((x, bound, fbound, inline) for x in node.elif_)
            in_order(node.body, bound, fbound, inline)
            in_order(node.else_, bound, fbound, inline)
            continue
        if k == "filterblock":  # only with ``bodies``
            stack.append((node.filter, bound, fbound, inline))
            in_order(node.body, bound, fbound, True)
            continue
        if k == "block":
            spread(node, frozenset(), frozenset(), False)
            continue
        spread(node, bound, fbound, True)  # "assignblock": a set-block body is an inline frame too
    return out


# _surely_bound's branch per node class, one table per value of ``bodies`` (filled on first sight of a class).
_SB_KIND: dict[bool, dict[type, str]] = {False: {}, True: {}}
_SB_BINDS: dict[Any, Any] = {}  # the union ``Assign | AssignBlock``, built once


def _surely_kind(cls: type, bodies: bool) -> str:
    """Which branch of _surely_bound a node of class ``cls`` takes: its isinstance tests, in their order, on the
    class (an instance's isinstance answer depends on its class only)."""
    n = _NODES
    if issubclass(cls, n.Name):
        return "name"
    if issubclass(cls, n.Template):
        return "template"
    if issubclass(cls, n.For):
        return "for"
    if issubclass(cls, n.Macro | n.CallBlock):
        return "macro"
    if issubclass(cls, n.With):
        return "with"
    if bodies and issubclass(cls, n.If):
        return "if"
    if bodies and issubclass(cls, n.FilterBlock):
        return "filterblock"
    if issubclass(cls, n.Block):
        return "block"
    if issubclass(cls, n.AssignBlock):
        return "assignblock"
    return "plain"


def _string_sum(node: Any, n: Any) -> bool:
    """``node`` is a ``+`` / ``%`` expression one of whose leaves is a new string (a string constant, ``~``, a
    fresh string filter): its value is a str (or the expression raises)."""
    pending = [node]
    for _ in range(MAX_FOLD):
        if not pending:
            return False
        part = pending.pop()
        if isinstance(part, n.Add | n.Mod):
            pending.extend((part.left, part.right))
        elif part is not node and (isinstance(part, n.Const) and isinstance(part.value, str) or
                                   isinstance(part, n.Concat | n.TemplateData) or
                                   isinstance(part, n.Filter) and part.name in _FRESH_FILTERS):
            return True
    return False


def _number_sum(node: Any, n: Any) -> bool:
    """``node`` is a ``+ - / // ** %`` expression with a number constant among its leaves (``d.get(k, 0) + 1``):
    its value is a number or a string, or it raises (no list, dict, namespace or Undefined does arithmetic with
    a number; ``*`` is left out: ``[x] * 2`` is a list)."""
    ops = n.Add | n.Sub | n.Div | n.FloorDiv | n.Pow | n.Mod
    if not isinstance(node, ops):
        return False
    pending = [node]
    for _ in range(MAX_FOLD):
        if not pending:
            return False
        part = pending.pop()
        if isinstance(part, ops):
            pending.extend((part.left, part.right))
        elif isinstance(part, n.Const) and type(part.value) in (int, float):
            return True
    return False


def _children(node: Any) -> list[Any]:
    """The child nodes of ``node`` (what ``iter_child_nodes`` yields, without its generator chain)."""
    node_type = _NODES.Node
    out: list[Any] = []
    for name in node.fields:
        item = getattr(node, name, None)
        if isinstance(item, list):
            out.extend(child for child in item if isinstance(child, node_type))
        elif isinstance(item, node_type):
            out.append(item)
    return out


# Filters whose result is a new number or string, whatever they are given: neither their input nor any argument
# can be (or be inside) the result. ONE closed list drives both the labels (the result is fresh, round 9) and the
# alias tracking (_flow_names: the result holds no container). Round 11: a second, wider list for aliases had
# kept int/float/abs/round, but ``'x'|int(obj)`` returns ``obj`` (the default when the conversion fails) and
# abs/round return whatever __abs__/__round__ return; so they are only in _LABEL_FILTERS (labels carry over).
# from_json (llama.cpp's minja; unknown to Jinja itself, so such a template does not run under a plain
# Environment) parses a string into a new JSON value: DeepSeek V3.2/V4 call ``(args|from_json).items()``.
_FRESH_FILTERS = (
    _NUMBER_FILTERS | _PLAIN_STRING
    | {"tojson", "format", "join", "replace", "center", "indent", "wordwrap", "urlize", "filesizeformat",
       "pprint", "xmlattr", "urlencode", "from_json"}
)
# Red team round 15 (class A): |truncate is NOT fresh: ``if len(s) <= length + leeway: return s`` hands back a
# short list or dict itself. Its labels carry over (_LABEL_FILTERS) and the alias pass follows it.
# tests/test_templates_round15.py calls every filter of _FRESH_FILTERS with real jinja2 on lists, dicts,
# namespaces, Undefined and strings, and fails if a result is (or holds) its input, so this list cannot drift.
# Red team round 20: label filters whose result itself is a generator or iterator in jinja2 3.1, never a list (not
# JSON at level 0: gi_frame). tests/test_templates_round20.py calls every label filter with real jinja2 on JSON and
# fails where a result _not_json calls JSON is not a JSON type (or an Undefined), so this list cannot drift.
_ITERATOR_FILTERS = frozenset(
    {"select", "reject", "selectattr", "rejectattr", "unique", "reverse", "batch", "slice", "map", "items"}
)
# Round 9: filters whose result holds (or is) their input, its elements or their arguments: the labels of all
# of those carry over. Any filter in neither list is "not proven" (picked, not JSON).
_LABEL_FILTERS = frozenset(
    {"first", "last", "random", "min", "max", "list", "sort", "unique", "reverse", "select", "reject",
     "selectattr", "rejectattr", "batch", "slice", "map", "attr", "default", "d", "groupby", "items", "dictsort",
     "sum", "int", "float", "abs", "round", "truncate"}
)


# How every field of every jinja2 node class carries values (after red team round 14). Roles:
#   "flow"      the child's value may be, or be inside, the node's value (the alias pass follows it: _flow_names;
#               the label walk combines it into the node's labels); over-approximated where marked
#   "consumed"  evaluated, but its value does not end up in the node's value (tested, compared, printed, a bool)
#   "channel"   the value a name gets: enumerated by _Walker._channels (bindings and alias edges alike)
#   "target"    what a channel binds (a store target or a parameter)
#   "body"      statements, walked on their own (their output is text)
#   "static"    not an expression: a name, an operator, a flag, a string from the source
# Filter / Test: their "flow" fields carry nothing where the filter is fresh (_FRESH_FILTERS, any Test): the
# result is a new number, string or bool. Add / Mod carry nothing where a leaf is a new string (_string_sum). A class or field missing here is walked as "flow" (deny by default)
# and fails tests/test_templates_channels.py, which reads every field of every jinja2 node class.
_FIELD_ROLES: dict[str, dict[str, str]] = {
    "Template": {"body": "body"},
    "Output": {"nodes": "consumed"},  # printed
    "Extends": {"template": "consumed"},  # a loader: a finding of its own
    "For": {"target": "target", "iter": "channel", "body": "body", "else_": "body", "test": "consumed",
            "recursive": "static"},
    "If": {"test": "consumed", "body": "body", "elif_": "body", "else_": "body"},
    "Macro": {"name": "static", "args": "target", "defaults": "channel", "body": "body"},
    "CallBlock": {"call": "consumed", "args": "target", "defaults": "channel", "body": "body"},
    "FilterBlock": {"body": "body", "filter": "consumed"},  # the filtered body is output
    "With": {"targets": "target", "values": "channel", "body": "body"},
    "Block": {"name": "static", "body": "body", "scoped": "static", "required": "static"},
    "Include": {"template": "consumed", "with_context": "static", "ignore_missing": "static"},
    "Import": {"template": "consumed", "target": "target", "with_context": "static"},
    "FromImport": {"template": "consumed", "names": "target", "with_context": "static"},
    "ExprStmt": {"node": "consumed"},  # {% do x %}: the value is dropped (its calls are walked as calls)
    "Assign": {"target": "target", "node": "channel"},
    "AssignBlock": {"target": "target", "filter": "flow", "body": "consumed"},  # body: text; a filter's args may be kept
    "Name": {"name": "static", "ctx": "static"},
    "NSRef": {"name": "static", "attr": "static"},
    "Const": {"value": "static"},
    "TemplateData": {"data": "static"},
    "Tuple": {"items": "flow", "ctx": "static"},
    "List": {"items": "flow"},
    "Dict": {"items": "flow"},
    "Pair": {"key": "flow", "value": "flow"},
    "Keyword": {"key": "static", "value": "flow"},
    "CondExpr": {"test": "flow", "expr1": "flow", "expr2": "flow"},  # test: over-approximated
    "Filter": {"node": "flow", "name": "static", "args": "flow", "kwargs": "flow", "dyn_args": "flow",
               "dyn_kwargs": "flow"},
    "Test": {"node": "consumed", "name": "static", "args": "consumed", "kwargs": "consumed", "dyn_args": "consumed",
             "dyn_kwargs": "consumed"},  # a bool
    "Call": {"node": "flow", "args": "flow", "kwargs": "flow", "dyn_args": "flow", "dyn_kwargs": "flow"},
    "Getitem": {"node": "flow", "arg": "flow", "ctx": "static"},  # arg: over-approximated (a key)
    "Getattr": {"node": "flow", "attr": "static", "ctx": "static"},
    "Slice": {"start": "flow", "stop": "flow", "step": "flow"},  # over-approximated (numbers)
    "Concat": {"nodes": "consumed"},  # a new string
    "Compare": {"expr": "consumed", "ops": "consumed"},  # a bool
    "Operand": {"op": "static", "expr": "consumed"},
    "MarkSafe": {"expr": "flow"},
    "MarkSafeIfAutoescape": {"expr": "flow"},
    "ContextReference": {},
    "DerivedContextReference": {},
    "Continue": {},
    "Break": {},
    "Scope": {"body": "body"},
    "OverlayScope": {"context": "flow", "body": "body"},
    "EvalContextModifier": {"options": "consumed"},  # autoescape options: a flag
    "ScopedEvalContextModifier": {"options": "consumed", "body": "body"},
    "EnvironmentAttribute": {"name": "static"},
    "ExtensionAttribute": {"identifier": "static", "name": "static"},
    "ImportedName": {"importname": "static"},
    "InternalName": {"name": "static"},
    "Not": {"node": "consumed"},  # a bool
    "Neg": {"node": "flow"},
    "Pos": {"node": "flow"},
    **{op: {"left": "flow", "right": "flow"} for op in ("Add", "Sub", "Mul", "Div", "FloorDiv", "Pow", "Mod", "And", "Or")},
}


@cache
def _flow_fields(cls: type) -> tuple[str, ...] | None:
    """The fields of ``cls`` that _flow_names follows (its "flow" and "channel" roles: a binding's value is the
    statement's value for aliasing); None: a class the table lacks, followed whole (deny by default)."""
    roles = _FIELD_ROLES.get(cls.__name__)
    if roles is None or set(roles) != set(cls.fields):
        return None
    return tuple(f for f in cls.fields if roles[f] in ("flow", "channel"))


def _binds_loop(item: Any) -> bool:
    """``item`` binds the name ``loop`` (a set / with / for target, a macro or call-block parameter, an import)."""
    n = _NODES
    if isinstance(item, n.Name):
        return item.name == "loop" and item.ctx in ("store", "param")
    if isinstance(item, n.Import):
        return item.target == "loop"
    if isinstance(item, n.FromImport):
        return any((x[1] if isinstance(x, tuple) else x) == "loop" for x in item.names)
    return False


def _loop_key(loop: Any) -> str:
    """The channel key of what ``loop.previtem`` / ``loop.nextitem`` of the {% for %} ``loop`` are."""
    return f"loop#{id(loop)}"


def _flow_names(node: Any, attrs: frozenset[str] = frozenset(), loops: dict[int, Any] | None = None,
                fresh: frozenset[str] = frozenset()) -> list[str]:
    """The names whose objects may be ``node``'s value or inside it (so changing it may change them): every
    name in its "flow" fields (_FIELD_ROLES), so not under comparisons, tests, ``not``, ``~`` and filters that
    build a new number or string whatever their arguments (_FRESH_FILTERS: ``messages|length - 1`` holds no
    container; ``'x'|int(l)`` may be ``l``, round 11). Over-approximated everywhere else (``d.get('a')``,
    ``l if c else m``, ``l or 1``, ``l + []``, calls: their receiver and arguments). Round 13: an attribute
    read ``x.a`` (or ``x['a']``) whose pooled namespace key ``.a`` is in ``attrs`` also gives ``.a`` (``x`` may be
    a namespace: its attribute holds what ``{% set ns.a = … %}`` stored, not ``x`` itself). Round 14: a
    ``loop.previtem`` / ``loop.nextitem`` read of a loop in ``loops`` also gives that loop's channel key.
    Round 15: a call of a name in ``fresh`` (Jinja's own globals the template does not rebind: namespace(),
    dict(), range() ...) makes a new object each time: the callee is not a flow (every namespace() was one
    object through the name ``namespace``), its arguments are."""
    n = _NODES
    node_type = n.Node
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, n.Name):
            out.append(item.name)
            if loops and id(item) in loops:  # a LoopContext read (loop.previtem, set lp = loop): round 14
                out.append(_loop_key(loops[id(item)]))
            continue
        if attrs:
            key = item.attr if isinstance(item, n.Getattr) else \
                item.arg.value if isinstance(item, n.Getitem) and isinstance(item.arg, n.Const) else None
            if isinstance(key, str) and f".{key}" in attrs:
                out.append(f".{key}")
        if isinstance(item, n.Filter) and item.name in _FRESH_FILTERS:
            continue
        if fresh and isinstance(item, n.Call) and isinstance(item.node, n.Name) and item.node.name in fresh:
            stack.extend(_call_args(item))
            continue
        if isinstance(item, n.Add | n.Mod) and _string_sum(item, n) or _number_sum(item, n):
            # Round 15: 'functions.' + tc.name + ':' is a new str (str + x is str.__add__ or x.__radd__, which
            # only Markup and Undefined of Jinja's own objects have: a str, or it raises; JSON has none). Kimi-K2
            # built ids so and pushed them on a namespace list: messages looked changed (class E).
            continue
        fields = _flow_fields(type(item))
        for name in item.fields if fields is None else fields:
            child = getattr(item, name, None)
            if isinstance(child, list):
                stack.extend(c for c in child if isinstance(c, node_type))
            elif isinstance(child, node_type):
                stack.append(child)
    return out


def _attribute_path(name: str) -> list[str]:
    """The parts Jinja's make_attrgetter reads for an attribute argument (``map(attribute='0.update')`` reads item
    0, then ``update``): every attribute-argument judgement goes through this one split (round 15, class B)."""
    return name.split(".")


def _call_args(call: Any) -> list[Any]:
    """Every argument child of a Call / Filter / Test: positional, keyword values, ``*args`` and ``**kwargs``
    (round 13: the alias pass had skipped the last two, the label walk had not)."""
    out = [*call.args, *(k.value for k in call.kwargs)]
    out.extend(a for a in (call.dyn_args, call.dyn_kwargs) if a is not None)
    return out


def _names_in(node: Any) -> list[str]:
    """Every name in ``node``, itself included (``find_all`` only searches below it)."""
    names = node.find_all(_NODES.Name)
    own = [node.name] if isinstance(node, _NODES.Name) else []
    return own + [n.name for n in names]


def _root_name(node: Any, nodes: Any) -> str | None:
    """The Name at the bottom of an attribute/item chain (``lipsum`` in ``lipsum.__globals__.os``)."""
    for _ in range(MAX_FOLD_DEPTH):
        if isinstance(node, nodes.Name):
            return node.name
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            node = node.node
        else:
            return None
    return None


def _fold_int(node: Any, nodes: Any) -> int | str:
    if isinstance(node, nodes.Const) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, nodes.Neg):
        inner = _fold_int(node.node, nodes)
        return -inner if isinstance(inner, int) else "bad"
    return "bad"


def _percent_format(fmt: str | None, args: list[str] | None) -> str | None:
    """``fmt % args`` for plain ``%s`` specs only (anything else is left unfolded, never evaluated)."""
    if fmt is None or args is None or fmt.count("%s") != len(args) or fmt.replace("%s", "").count("%"):
        return None
    pieces = fmt.split("%s")
    return pieces[0] + "".join(a + p for a, p in zip(args, pieces[1:], strict=True))


_FIELD_RE = re.compile(r"\{(\d*)\}")
# A '{...}' field holding anything but digits. The leading digits are taken possessively, then one non-digit, then
# the rest up to the next brace possessively: each '{' span is scanned once (round 25 regex audit).
_NON_INDEX_FIELD_RE = re.compile(r"\{\d*+[^\d{}][^{}]*+\}")


def _string_method(base: str, method: str, args: list[str], *, jinja_filter: bool = False) -> str | None:
    """Apply the harmless string methods/filters attackers use to assemble names, bit-exactly or not at all
    (None: unknown). A fold that differs from the render hides the real name (round 4: '{{}}'.format)."""
    if jinja_filter and method in ("title", "strip", "lstrip", "rstrip"):
        return None  # Jinja's |title splits words its own way; strip & co. are no filters
    if method == "trim" and not jinja_filter:
        return None  # no str method
    if method in ("lower", "upper", "strip", "lstrip", "rstrip", "title", "capitalize", "trim") and not args:
        return getattr(base, "strip" if method == "trim" else method)()
    if method == "replace" and len(args) == 2:
        old, new = args
        # The size of the result, computed before building it: an empty ``old`` inserts ``new`` at every
        # one of len(base) + 1 positions, which the bound must see too.
        hits = base.count(old) if old else len(base) + 1
        if len(base) + hits * (len(new) - len(old)) > MAX_FOLD:
            return None
        return base.replace(old, new)
    if method == "format":
        # Only plain '{}' / '{0}' fields; anything with a format spec is left alone (and never executed).
        # Possessive form of r"\{[^{}]*[^\d{}][^{}]*\}" (same matches, linear; round 25 audit).
        if _NON_INDEX_FIELD_RE.search(base) or "{{" in base or "}}" in base:
            return None  # '{{' / '}}' are escapes in Python ('{{}}'.format() is '{}'): not folded
        fields = _FIELD_RE.findall(base)
        if base.count("{") != len(fields) or base.count("}") != len(fields):
            return None  # unbalanced braces: Python raises
        if any(len(f) > 18 for f in fields):
            return None  # Python raises (index out of range or too many digits); int() would raise past 4,300 digits
        if ("" in fields and any(fields)) or any(int(f) >= len(args) for f in fields if f) or \
                fields.count("") > len(args):
            return None  # mixed numbering or missing arguments: Python raises
        counter = iter(range(len(args) + 1))

        def field(match: re.Match[str]) -> str:
            index = int(match.group(1)) if match.group(1) else next(counter)
            return args[index] if index < len(args) else ""

        return _FIELD_RE.sub(field, base)
    return None


def _iter_nodes(tree: Any, kids: dict[int, list[Any]] | None = None,
                parents: dict[int, Any] | None = None, by_type: dict[type, list[Any]] | None = None) -> list[Any]:
    """Every node of the tree in pre-order, iteratively (hostile templates can nest deeply).

    Same nodes, same order as walking ``Node.iter_child_nodes()``, which the walker's first-seen rules
    depend on; written out because its generator chain was a large part of the analysis time. ``kids`` and
    ``parents``, when given, are filled on the way (id of a node -> its children, as :func:`_children` gives
    them; id of a node -> its parent), so the later passes need not list children again. ``by_type``, when
    given, gets every node under its exact class, in pre-order (see :func:`_of_class`): the passes that act
    on a few classes need not test every node.
    """
    node_type = _NODES.Node
    out: list[Any] = []
    append = out.append
    stack = [tree]
    pop = stack.pop
    push = stack.extend
    missing = _MISSING
    leaf = _LEAF_TYPES
    while stack:
        node = pop()
        append(node)
        if by_type is not None:
            cls = type(node)
            bucket = by_type.get(cls)
            if bucket is None:
                by_type[cls] = [node]
            else:
                bucket.append(node)
        children: list[Any] = []
        for name in node.fields:
            item = getattr(node, name, missing)  # a field never set is skipped (as AttributeError was)
            kind = type(item)
            if kind in leaf:  # a name, a constant, None, the sentinel: neither a node nor a list
                continue
            if kind is list:
                children += [child for child in item if isinstance(child, node_type)]
            elif isinstance(item, node_type):
                children.append(item)
            elif isinstance(item, list):  # a list subclass: as above
                children += [child for child in item if isinstance(child, node_type)]
        # Children pushed last-first, so they come off the stack in field order, items in list order.
        if children:
            push(children[::-1])
        if kids is not None:
            kids[id(node)] = children
        if parents is not None:
            for child in children:
                parents[id(child)] = node
    return out


_MISSING = object()
# Exact types of field values that are neither a Node nor a list (so _iter_nodes need not test them as such).
_LEAF_TYPES = frozenset({str, int, float, bool, type(None), object})


def _of_class(by_type: dict[type, list[Any]], all_nodes: list[Any], classes: Any) -> list[Any]:
    """The nodes that are instances of ``classes`` (a class or a union, subclasses included, as isinstance), in
    pre-order: ``all_nodes`` filtered, from the per-class lists :func:`_iter_nodes` made. The result may be one
    of those lists: read it, never change it."""
    types = [t for t in by_type if issubclass(t, classes)]
    if not types:
        return []
    if len(types) == 1:
        return by_type[types[0]]
    wanted = set(types)
    return [node for node in all_nodes if type(node) in wanted]


class _LazyNodes:
    """``jinja2.nodes``, imported on first use (a scan without templates never loads Jinja)."""

    def __getattr__(self, name: str) -> Any:
        from jinja2 import nodes

        for key in dir(nodes):
            if not key.startswith("__"):
                setattr(self, key, getattr(nodes, key))
        return getattr(nodes, name)


_NODES: Any = _LazyNodes()


# Which branch of _Walker.visit a node class takes ("" for none), filled per class on first sight.
_VISIT_KIND: dict[type, str] = {}


def _visit_kind_of(cls: type) -> str:
    """_visit_kind of ``cls``, worked out once per class."""
    kind = _VISIT_KIND.get(cls)
    if kind is None:
        kind = _VISIT_KIND[cls] = _visit_kind(cls)
    return kind


def _visit_kind(cls: type) -> str:
    n = _NODES
    if issubclass(cls, n.Getattr):
        return "chain"
    if issubclass(cls, n.Getitem):
        return "getitem"  # a chain, or a slice that may fold to a built name
    if issubclass(cls, n.Filter | n.Test):
        return "filter-test"
    if issubclass(cls, n.Name):
        return "name"
    if issubclass(cls, n.Const):
        return "const"
    if issubclass(cls, n.Concat | n.Add | n.Mul | n.Mod | n.Call):
        return "fold"
    if issubclass(cls, n.Keyword):
        return "keyword"
    if issubclass(cls, n.Import | n.FromImport | n.Include | n.Extends):
        return "loader"
    return ""
