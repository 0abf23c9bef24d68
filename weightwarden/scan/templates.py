"""Static analysis of Jinja chat templates: find sandbox-escape (SSTI) patterns without rendering.

A model's chat template is rendered by the serving stack (transformers, llama.cpp, vLLM, ...) on every
request. Jinja's sandbox blocks the known escapes, but stacks that use a plain environment, or sandbox
bugs, let a template reach Python internals (``''.__class__.__mro__[1].__subclasses__()``,
``lipsum.__globals__['os']``, ``cycler.__init__.__globals__``). Usage::

    from weightwarden.scan.templates import analyze_template
    for issue in analyze_template(source):
        print(issue.kind, issue.line, issue.message)

The template is only *parsed* (``Environment.parse``) into Jinja's AST, which is then walked; it is never
compiled or rendered. Names built from pieces (``'__cla' ~ 'ss__'``, ``'{}{}'.format(..)``, ``join``,
``replace``, ``reverse``, slicing, ``{% set %}`` of constants) are folded statically, so concatenation tricks
are seen. Legitimate template features (``namespace()`` for loop state, ``selectattr``, ``tojson``,
``raise_exception``, loop controls, ``{% generation %}``) produce nothing. The rules that turn issues into
findings are in :mod:`weightwarden.scan.rules.template`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

# Issue kinds (one rule each in weightwarden.scan.rules.template).
DUNDER = "dunder"  # access to a Python internal attribute (dunder or frame/function internals)
COMPUTED_ATTR = "computed-attr"  # |attr() with a name that cannot be known statically
ESCAPE_ROOT = "escape-root"  # attribute escape from a Jinja global (lipsum, cycler, joiner, namespace)
BUILT_NAME = "built-name"  # a dunder name assembled from pieces
HOST_OBJECT = "host-object"  # names of server/host objects (request, config, os, self, ...)
LOADER = "loader"  # {% import %} / {% include %} / {% extends %}
PARSE_ERROR = "parse-error"
PRIVATE_ATTR = "private-attr"  # _private attribute access (blocked by the sandbox; used by escapes)

ESCAPE_ROOTS = frozenset({"lipsum", "cycler", "joiner", "namespace", "range", "dict"})
HOST_NAMES = frozenset(
    {"request", "config", "os", "subprocess", "sys", "builtins", "importlib", "self", "url_for",
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
    {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max", "dictsort", "attr"}
)
# Format-string fields that read attributes or items: '{0.__class__}', '{x[__globals__]}'.
_FORMAT_FIELD_RE = re.compile(r"\{[^{}]*(?:\.|\[)\s*_[^{}]*\}")
MAX_FOLD = 4096  # longest string folded; longer ones are not names anyway
MAX_FOLD_DEPTH = 64


@dataclass(frozen=True, slots=True)
class TemplateIssue:
    kind: str
    line: int
    message: str
    evidence: str


def analyze_template(source: str) -> list[TemplateIssue]:
    """Issues found in a Jinja template's source, sorted by line; never renders it."""
    return list(_analyze_cached(source))


# A repository ships the same template many times (every GGUF quantisation, tokenizer_config.json and
# chat_template.jinja carry a copy); parsing dominates, so identical sources are analysed once per process.
@lru_cache(maxsize=256)
def _analyze_cached(source: str) -> tuple[TemplateIssue, ...]:
    return tuple(_analyze(source))


def _analyze(source: str) -> list[TemplateIssue]:
    try:
        tree = _parse(source)
    except Exception as exc:  # noqa: BLE001 - any parser failure on hostile input is a finding, not a crash
        line = getattr(exc, "lineno", None) or 0
        message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        return [TemplateIssue(PARSE_ERROR, line, f"template does not parse: {message}", _line(source, line))]
    walker = _Walker(source)
    walker.run(tree)
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

    :func:`weightwarden.scan.template_lexer.tokenize` yields exactly Jinja's tokens or declines; the tree is
    then built by Jinja's own parser. Anything going wrong on that path (a syntax error included) is redone
    by ``Environment.parse``, so every error, message and line is Jinja's own. The tree's nodes are not
    bound to the environment (``set_environment``): nothing here compiles or renders them.
    """
    from weightwarden.scan.template_lexer import tokenize

    tokens = tokenize(source) if _default_syntax() else None
    if tokens is not None:
        try:
            return _parse_tokens(tokens)
        except Exception:  # noqa: BLE001, S110 - redone below by Jinja itself, which raises what it raises
            pass
    return _environment().parse(source)


def _parse_tokens(tokens: list[Any]) -> Any:
    from jinja2.lexer import TokenStream
    from jinja2.parser import Parser

    parser = Parser(_environment(), "")
    parser.stream = TokenStream(tokens, None, None)
    return _NODES.Template(parser.subparse(), lineno=1)


@cache
def _default_syntax() -> bool:
    """The environment uses the syntax the fast tokenizer implements (else Jinja's lexer does all the work)."""
    env = _environment()
    return (
        (env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
         env.comment_start_string, env.comment_end_string) == ("{%", "%}", "{{", "}}", "{#", "#}")
        and env.line_statement_prefix is None and env.line_comment_prefix is None
        and not env.trim_blocks and not env.lstrip_blocks and not env.keep_trailing_newline
        and env.newline_sequence == "\n"
        and all(type(ext).preprocess is _extension_base().preprocess
                and type(ext).filter_stream is _extension_base().filter_stream
                for ext in env.iter_extensions())
    )


def _extension_base() -> Any:
    from jinja2.ext import Extension

    return Extension


@cache
def _environment() -> Any:
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


def _line(source: str, line: int) -> str:
    lines = source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return text if len(text) <= 200 else text[:197] + "..."


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _dangerous_name(name: str) -> bool:
    """A string that, used as an attribute or key, reaches Python internals."""
    return _is_dunder(name) or name in INTERNAL_ATTRS


class _Walker:
    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[TemplateIssue] = []
        self.constants: dict[str, str] = {}
        self.stored: set[str] = set()
        self.consumed: set[int] = set()  # ids of argument nodes already judged by the node using them
        self.tainted: set[str] = set()  # names bound to strings built in ways folding cannot follow

    def add(self, kind: str, node: Any, message: str) -> None:
        line = getattr(node, "lineno", 0) or 0
        self.issues.append(TemplateIssue(kind, line, message, _line(self.source, line)))

    def run(self, tree: Any) -> None:
        nodes = _NODES
        all_nodes = _iter_nodes(tree)
        # First pass: names the template assigns itself (so `config` as a loop variable is not a host object)
        # and constant strings bound with {% set %} (so `attr(name)` can be resolved).
        for node in all_nodes:
            if isinstance(node, nodes.Name) and node.ctx in ("store", "param"):
                self.stored.add(node.name)
            elif isinstance(node, nodes.Macro):
                self.stored.add(node.name)
                self.stored.update(a.name for a in node.args)
        for node in all_nodes:
            if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                value = self.fold(node.node)
                if value is not None and (node.target.name not in self.constants or _dangerous_name(value)):
                    self.constants[node.target.name] = value
            elif isinstance(node, nodes.AssignBlock) and isinstance(node.target, nodes.Name):
                parts = []
                for child in node.body:
                    if isinstance(child, nodes.Output) and all(isinstance(n, nodes.TemplateData) for n in child.nodes):
                        parts.extend(n.data for n in child.nodes)
                    else:
                        parts = []
                        break
                if parts:
                    self.constants[node.target.name] = "".join(parts)[:MAX_FOLD]
        # Names bound to strings the template builds in ways folding cannot follow ('_' * 2, '%c'|format(95),
        # map('lower')|join, ...): using one as a key or attribute name is judged as a computed name.
        binders = [n for n in all_nodes if isinstance(n, nodes.Assign | nodes.For)]
        for _ in range(3 if binders else 0):  # a few rounds: taint flows through {% set a = b ~ c %} chains
            for node in binders:
                if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                    if self.fold(node.node) is None and self.stringy(node.node):
                        self.tainted.add(node.target.name)
                elif (
                    isinstance(node, nodes.For)
                    and isinstance(node.target, nodes.Name)
                    and (
                        self.stringy(node.iter)
                        or isinstance(node.iter, nodes.List | nodes.Tuple)
                        and any(self.fold(i) is None and self.stringy(i) for i in node.iter.items)
                    )
                ):
                    self.tainted.add(node.target.name)
        for node in all_nodes:
            self.visit(node)

    # -- folding ---------------------------------------------------------------------------------------
    def fold(self, node: Any, depth: int = 0) -> str | None:
        """The string ``node`` evaluates to when that is decidable from constants alone, else None."""
        if depth > MAX_FOLD_DEPTH:
            return None
        value = self._fold(node, depth + 1, _NODES)
        if isinstance(value, str) and len(value) <= MAX_FOLD:
            return value
        return None

    def _fold(self, node: Any, depth: int, nodes: Any) -> Any:
        f = self.fold
        if isinstance(node, nodes.Const):
            return node.value if isinstance(node.value, str) else None
        if isinstance(node, nodes.TemplateData):
            return node.data
        if isinstance(node, nodes.Name):
            return self.constants.get(node.name)
        if isinstance(node, nodes.Concat):
            parts = [f(n, depth) for n in node.nodes]
            return None if any(p is None for p in parts) else "".join(parts)  # type: ignore[arg-type]
        if isinstance(node, nodes.Add):
            left, right = f(node.left, depth), f(node.right, depth)
            return left + right if left is not None and right is not None else None
        if isinstance(node, nodes.Mod):
            return _percent_format(f(node.left, depth), self._fold_args(node.right, depth, nodes))
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
            base = f(node.node, depth)
            bounds = [_fold_int(x, nodes) if x is not None else None for x in (node.arg.start, node.arg.stop, node.arg.step)]
            if base is None or any(b == "bad" for b in bounds) or bounds[2] == 0:
                return None
            return base[slice(*bounds)]
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and not node.kwargs:
            method = node.node.attr
            base = f(node.node.node, depth)
            args = [f(a, depth) for a in node.args]
            if method == "join" and len(node.args) == 1:
                items = self._fold_args(node.args[0], depth, nodes)
                return base.join(items) if base is not None and items is not None else None
            if base is None or any(a is None for a in args):
                return None
            return _string_method(base, method, args)  # type: ignore[arg-type]
        if isinstance(node, nodes.Filter) and node.node is not None and not node.kwargs:
            if node.name == "join":
                items = self._fold_args(node.node, depth, nodes)
                sep = f(node.args[0], depth) if node.args else ""
                return sep.join(items) if items is not None and sep is not None else None
            base = f(node.node, depth)
            args = [f(a, depth) for a in node.args]
            if base is None or any(a is None for a in args):
                return None
            if node.name == "format":
                return _percent_format(base, args)  # type: ignore[arg-type]
            if node.name == "reverse":
                return base[::-1]
            if node.name in ("string", "e", "escape", "safe"):
                return base
            return _string_method(base, node.name, args)  # type: ignore[arg-type]
        return None

    def _fold_args(self, node: Any, depth: int, nodes: Any) -> list[str] | None:
        if isinstance(node, nodes.Tuple | nodes.List):
            items = [self.fold(n, depth) for n in node.items]
            return None if any(i is None for i in items) else items  # type: ignore[return-value]
        single = self.fold(node, depth)
        if single is None:
            return None
        return [single] if isinstance(node, nodes.Const | nodes.Name | nodes.Concat | nodes.Add) else list(single)

    def stringy(self, node: Any, depth: int = 0) -> bool:
        """True when ``node`` builds a string at render time in a way :meth:`fold` cannot follow.

        Keys and attribute names in real chat templates are literals, loop variables over the data, or
        numbers; a name assembled by repetition, character formatting, mapped filters or concatenation of
        such pieces exists to hide what it names.
        """
        nodes = _NODES
        if depth > MAX_FOLD_DEPTH:
            return True
        rec = self.stringy
        if isinstance(node, nodes.Name):
            return node.name in self.tainted
        if isinstance(node, nodes.Mul):
            return _is_str_const(node.left, nodes) or _is_str_const(node.right, nodes) or rec(node.left, depth + 1) or rec(node.right, depth + 1)
        if isinstance(node, nodes.Concat):
            return any(rec(n, depth + 1) for n in node.nodes) or self.fold(node) is None and any(
                _is_str_const(n, nodes) for n in node.nodes
            )
        if isinstance(node, nodes.Add | nodes.Mod):
            return rec(node.left, depth + 1) or rec(node.right, depth + 1) or (
                self.fold(node) is None and (_is_str_const(node.left, nodes) or _is_str_const(node.right, nodes))
            )
        if isinstance(node, nodes.Filter):
            if node.name in _STRING_FILTERS:
                return self.fold(node) is None
            return node.node is not None and rec(node.node, depth + 1)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            return node.node.attr in _STRING_METHODS and self.fold(node) is None
        if isinstance(node, nodes.List | nodes.Tuple):
            return any(rec(i, depth + 1) for i in node.items)
        if isinstance(node, nodes.CondExpr):
            return rec(node.expr1, depth + 1) or (node.expr2 is not None and rec(node.expr2, depth + 1))
        return False

    # -- checks ----------------------------------------------------------------------------------------
    def visit(self, node: Any) -> None:
        # Dispatch on the node's class (resolved once per class with the same isinstance order as the
        # checks below had): most nodes of a template (Output, TemplateData, If, Compare, ...) need nothing.
        kind = _VISIT_KIND.get(type(node))
        if kind is None:
            kind = _VISIT_KIND[type(node)] = _visit_kind(type(node))
        if not kind or id(node) in self.consumed:
            return
        nodes = _NODES
        if kind == "getitem":
            kind = "fold" if isinstance(node.arg, nodes.Slice) else "chain"
        elif kind == "filter-test":
            if node.name in ATTRIBUTE_FILTERS:
                self._filter(node, nodes)
                return
            kind = "fold" if isinstance(node, nodes.Filter) else ""
        if kind == "chain":
            self._chain(node, nodes)
        elif kind == "name":
            if node.ctx == "load" and node.name in HOST_NAMES and node.name not in self.stored:
                kind = DUNDER if _is_dunder(node.name) else HOST_OBJECT
                self.add(kind, node, f"template references host object '{node.name}'")
        elif kind == "const":
            value = node.value
            if not isinstance(value, str):
                return
            if _is_dunder(value) or value in INTERNAL_ATTRS:
                self.add(DUNDER, node, f"template names Python internal attribute '{value}'")
            elif _FORMAT_FIELD_RE.search(value):
                self.add(DUNDER, node, f"format string reads private attributes: {value[:80]!r}")
        elif kind == "fold":
            built = self.fold(node)
            if built is not None and _dangerous_name(built):
                self.add(BUILT_NAME, node, f"template builds the name '{built[:80]}' from pieces")
        elif kind == "loader":
            what = type(node).__name__.lower().replace("fromimport", "from-import")
            self.add(LOADER, node, f"template uses {{% {what} %}}, which loads other templates")

    def _chain(self, node: Any, nodes: Any) -> None:
        """Judge a whole access chain (``a.b['c'].d``) once, from its outermost node: one finding per kind."""
        hops: list[tuple[str, bool]] = []  # (name, literal) of every risky hop
        current = node
        for _ in range(100_000):
            if isinstance(current, nodes.Getattr):
                name, literal = current.attr, True
            elif isinstance(current, nodes.Getitem) and not isinstance(current.arg, nodes.Slice):
                folded = self.fold(current.arg)
                name = folded if folded is not None else ""
                literal = isinstance(current.arg, nodes.Const | nodes.Name)
                if folded is None and self.stringy(current.arg):
                    self.consumed.add(id(current.arg))
                    self.add(COMPUTED_ATTR, current, "item access with a key built at render time (cannot be resolved statically)")
                if folded is not None and (_dangerous_name(folded) or folded.startswith("__")):
                    self.consumed.add(id(current.arg))  # judged here, not again as a bare constant
                else:
                    name = ""  # item access with an ordinary key (messages[0], m['content'])
            else:
                break
            if current is not node:
                self.consumed.add(id(current))
            if name and (_dangerous_name(name) or name.startswith("_")):
                hops.append((name, literal))
            current = current.node
        if not hops:
            return
        hops.reverse()  # innermost first, in source order
        root = current.name if isinstance(current, nodes.Name) else None
        if root in ESCAPE_ROOTS and root not in self.stored:
            names = ", ".join(f"'{n}'" for n, _ in hops)
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

    def _attribute(self, node: Any, base: Any, name: str, *, literal: bool) -> None:
        root = _root_name(base, _NODES)
        if root in ESCAPE_ROOTS and root not in self.stored and (_dangerous_name(name) or name.startswith("_")):
            self.add(ESCAPE_ROOT, node, f"template escapes through the '{root}' global via '{name}'")
        elif _dangerous_name(name):
            kind = DUNDER if literal else BUILT_NAME
            self.add(kind, node, f"template accesses Python internal attribute '{name}'")
        elif name.startswith("_"):
            self.add(PRIVATE_ATTR, node, f"template accesses private attribute '{name}'")

    def _filter(self, node: Any, nodes: Any) -> None:
        args = list(node.args) + [kw.value for kw in node.kwargs]
        if node.name == "attr":
            if not node.args:
                return
            name = self.fold(node.args[0])
            self.consumed.add(id(node.args[0]))
            if name is None:
                self.add(COMPUTED_ATTR, node, "|attr() with a name computed at render time")
            else:
                self._attribute(node, node.node, name, literal=isinstance(node.args[0], nodes.Const | nodes.Name))
            return
        for arg in args:
            name = self.fold(arg)
            if name is None:
                if self.stringy(arg):
                    self.consumed.add(id(arg))
                    self.add(COMPUTED_ATTR, node, f"|{node.name} with an attribute name built at render time")
                continue
            self.consumed.add(id(arg))
            if node.name == "map" and name == "attr" and len(node.args) > 1:
                continue  # map('attr', X): X is checked as the next argument
            for part in name.split("."):
                if _dangerous_name(part) or part.startswith("__"):
                    self.add(DUNDER, node, f"|{node.name} reads Python internal attribute '{part}'")


_STRING_FILTERS = frozenset(
    {"format", "join", "lower", "upper", "replace", "string", "reverse", "trim", "title", "capitalize",
     "center", "first", "last", "e", "escape", "safe", "urlencode", "wordwrap", "truncate", "indent", "striptags",
     "forceescape", "xmlattr", "map", "batch", "slice", "list", "sort", "unique"}
)
_STRING_METHODS = frozenset(
    {"format", "join", "lower", "upper", "replace", "strip", "lstrip", "rstrip", "title", "capitalize",
     "center", "ljust", "rjust", "zfill", "swapcase", "casefold", "translate", "format_map", "encode", "decode"}
)


def _is_str_const(node: Any, nodes: Any) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, str)


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


def _string_method(base: str, method: str, args: list[str]) -> str | None:
    """Apply the harmless string methods/filters attackers use to assemble names."""
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
        if re.search(r"\{[^{}]*[^\d{}][^{}]*\}", base):
            return None
        counter = iter(range(len(args) + 1))

        def field(match: re.Match[str]) -> str:
            index = int(match.group(1)) if match.group(1) else next(counter)
            return args[index] if index < len(args) else ""

        return _FIELD_RE.sub(field, base)
    return None


def _iter_nodes(tree: Any) -> list[Any]:
    """Every node of the tree in pre-order, iteratively (hostile templates can nest deeply).

    Same nodes, same order as walking ``Node.iter_child_nodes()``, which the walker's first-seen rules
    depend on; written out because its generator chain was a large part of the analysis time.
    """
    node_type = _NODES.Node
    out: list[Any] = []
    append = out.append
    stack = [tree]
    push, pop = stack.append, stack.pop
    while stack:
        node = pop()
        append(node)
        # Children pushed last-first, so they come off the stack in field order, items in list order.
        for name in reversed(node.fields):
            try:
                item = getattr(node, name)
            except AttributeError:
                continue
            if isinstance(item, list):
                for child in reversed(item):
                    if isinstance(child, node_type):
                        push(child)
            elif isinstance(item, node_type):
                push(item)
    return out


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
    if issubclass(cls, n.Concat | n.Add | n.Mod | n.Call):
        return "fold"
    if issubclass(cls, n.Import | n.FromImport | n.Include | n.Extends):
        return "loader"
    return ""
