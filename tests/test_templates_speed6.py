"""The template analysis' sixth speed pass changes nothing it finds (issue 11, "Speed"): each shortcut against the
path it replaces. Equivalence tests, not timing tests.

- ``_surely_bound`` dispatching on a per-class table and walking the children of nodes that pass the bindings on
  unchanged without a stack entry each, against the isinstance chain that pushed every node (kept below as it was);
- ``_escaped_loop_macros`` returning at once when the template has no loop read, and both escaped-macro searches
  (and the render-mutation check) reading the Macro / Name nodes from the walker's per-class lists;
- the whole analysis with each shortcut swapped back for the path it replaces.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_scan_speed import REAL_TEMPLATES, _test_sources, _variants
from tests.test_templates_speed5 import LOOP_CASES, _parsed, _reference_of
from weightwarden.scan import templates as tpl
from weightwarden.scan.templates import _NODES, _children, _names_in

SCOPE_CASES = [
    # every branch of _surely_bound: top-level sets, for / macro / call block / with / if / filter / block / set block
    "{% set a = 1 %}{{ a }}{% for b in a if b %}{{ a ~ b }}{% else %}{{ b }}{% endfor %}{{ b }}",
    "{% macro m(a, b=c) %}{{ a ~ b ~ c }}{% set c = 1 %}{{ c }}{% endmacro %}{% call(x) m(y) %}{{ x ~ y }}{% endcall %}",
    "{% with a = b, c = a %}{{ a ~ c }}{% set d = 1 %}{{ d }}{% endwith %}{{ a }}",
    "{% if x %}{% set a = 1 %}{% elif y %}{% set a = 2 %}{% else %}{% set a = 3 %}{% endif %}{{ a }}",
    "{% if x %}{% set a = 1 %}{% endif %}{{ a }}{% filter upper %}{% set b = 1 %}{{ b }}{% endfilter %}{{ b }}",
    "{% set a = 1 %}{% block k %}{{ a }}{% set b = 2 %}{{ b }}{% endblock %}{% set c %}{{ a }}{% endset %}{{ c }}",
    "{% for m in messages %}{% set t = [] %}{% macro f() %}{{ t ~ m }}{% endmacro %}{% set ns.f = f %}{% endfor %}"
    "{% for m in messages %}{{ ns.f() }}{% endfor %}",
    "{% set x = 1 %}{% for a in b %}{% macro g(p) %}{{ p ~ x ~ a }}{% endmacro %}{{ g(1) }}{% endfor %}{{ g }}",
    "{% autoescape true %}{% set a = 1 %}{{ a }}{% endautoescape %}{{ {'k': a, 'j': [a, c]}[a] | f(a, z=a) }}",
]


def _reference_surely_bound(tree: Any, kids: dict[int, list[Any]] | None = None, bodies: bool = False,
                            escaped: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """_surely_bound as it was before the sixth pass (every node on the stack, an isinstance chain each)."""
    n = _NODES
    out: set[int] = set()
    # (node, names surely bound, of them those bound in function-frame statements, inside an inline frame)
    stack: list[tuple[Any, frozenset[str], frozenset[str], bool]] = [(tree, frozenset(), frozenset(), False)]

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
            if isinstance(stmt, n.Assign | n.AssignBlock) and isinstance(stmt.target, n.Name):
                out.add(stmt.target.name)
            elif isinstance(stmt, n.If) and stmt.else_:
                branches = [sets_surely(stmt.body), *(sets_surely(e.body) for e in stmt.elif_), sets_surely(stmt.else_)]
                out |= set.intersection(*branches)
        return out

    while stack:
        node, bound, fbound, inline = stack.pop()
        if isinstance(node, n.Name):
            if node.ctx == "load" and node.name in bound:
                out.add(id(node))
            continue
        if bodies and isinstance(node, n.Template):
            in_order(node.body, frozenset(), frozenset(), False)
            continue
        if isinstance(node, n.Template):
            seen: set[str] = set()
            for stmt in node.body:
                stack.append((stmt, frozenset(seen), frozenset(seen), False))
                if isinstance(stmt, n.Assign | n.AssignBlock) and isinstance(stmt.target, n.Name):
                    seen.add(stmt.target.name)
            continue
        if isinstance(node, n.For):
            inner = bound | frozenset(_names_in(node.target))
            stack.append((node.iter, bound, fbound, inline))
            stack.extend((x, bound, fbound, True) for x in node.else_)
            if node.test is not None:
                stack.append((node.test, inner, fbound, True))
            in_order(node.body, inner, fbound, True)
            continue
        if isinstance(node, n.Macro | n.CallBlock):
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
        if isinstance(node, n.With):
            inner = bound | frozenset(name for t in node.targets for name in _names_in(t))
            stack.extend((x, bound, fbound, inline) for x in node.values)
            in_order(node.body, inner, fbound, True)
            continue
        if bodies and isinstance(node, n.If):
            stack.append((node.test, bound, fbound, inline))
            stack.extend((x, bound, fbound, inline) for x in node.elif_)
            in_order(node.body, bound, fbound, inline)
            in_order(node.else_, bound, fbound, inline)
            continue
        if bodies and isinstance(node, n.FilterBlock):
            stack.append((node.filter, bound, fbound, inline))
            in_order(node.body, bound, fbound, True)
            continue
        if isinstance(node, n.Block):
            bound = fbound = frozenset()
            inline = False
        inline = inline or isinstance(node, n.AssignBlock)  # a set-block body is an inline frame too
        stack.extend((child, bound, fbound, inline) for child in (kids[id(node)] if kids is not None else _children(node)))
    return out



@pytest.fixture(scope="module")
def sources() -> list[str]:
    real = [p.read_text(encoding="utf-8") for p in REAL_TEMPLATES]
    tests = _test_sources()
    return [*real, *tests, *LOOP_CASES, *SCOPE_CASES, *_variants([*real, *tests], 150, seed=6)]


@pytest.fixture(scope="module")
def trees(sources: list[str]) -> list[Any]:
    return _parsed(sources)


def _walked(tree: Any) -> tpl._Walker:
    walker = tpl._Walker("", frozenset())
    walker.run(tree)
    return walker


def test_scope_cases_parse() -> None:
    assert len(_parsed(SCOPE_CASES)) == len(SCOPE_CASES)


def test_no_node_class_takes_two_branches() -> None:
    """The per-class table keeps the chain's first match; a class under two of its tests would need both (a Block
    that is also an AssignBlock resets ``inline`` and sets it again): Jinja has none."""
    n = _NODES
    tested = [n.Name, n.Template, n.For, n.Macro, n.CallBlock, n.With, n.If, n.FilterBlock, n.Block, n.AssignBlock]
    for cls in vars(n).values():
        if isinstance(cls, type) and issubclass(cls, n.Node):
            assert sum(issubclass(cls, t) for t in tested) <= 1, cls


def test_surely_bound_equals_the_isinstance_chain(trees: list[Any]) -> None:
    compared = bound = 0
    for tree in trees:
        walker = _walked(tree)
        for kids in (walker.kids, None):
            for bodies, escaped in ((False, frozenset()), (True, frozenset()), (True, walker.frame_escaped),
                                    (True, frozenset(id(m) for m in walker._of(_NODES.Macro)))):
                fast = tpl._surely_bound(tree, kids, bodies=bodies, escaped=escaped)
                assert fast == _reference_surely_bound(tree, kids, bodies=bodies, escaped=escaped)
                compared += 1
                bound += len(fast)
    assert compared > 300 * 8
    assert bound > 1000


def test_escaped_macros_without_loop_reads_return_early(sources: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``loop_of`` made always truthy the early return never fires: the search runs as it did."""

    class _Truthy(dict):  # type: ignore[type-arg]
        def __bool__(self) -> bool:
            return True

    original = tpl._Walker._escaped_loop_macros

    def always_search(self: tpl._Walker, all_nodes: list[Any], kids: dict[int, list[Any]]) -> None:
        self.loop_of = _Truthy(self.loop_of)
        original(self, all_nodes, kids)

    subset = [*SCOPE_CASES, *LOOP_CASES, *sources[::2]]
    fast = [tpl._analyze(s) for s in subset]
    with monkeypatch.context() as m:
        m.setattr(tpl._Walker, "_escaped_loop_macros", always_search)
        slow = [tpl._analyze(s) for s in subset]
    assert fast == slow
    assert sum(map(len, fast)) > 100


def test_analysis_equals_the_replaced_paths(sources: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    subset = [*SCOPE_CASES, *sources[::2]]
    fast = [tpl._analyze(s) for s in subset]
    with monkeypatch.context() as m:
        m.setattr(tpl, "_surely_bound", _reference_surely_bound)
        m.setattr(tpl._Walker, "_of", _reference_of)
        slow = [tpl._analyze(s) for s in subset]
    assert fast == slow
    assert any(issue.kind == tpl.FRAME_ESCAPE for issues in fast for issue in issues)
