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
from weightwarden.scan.templates import (
    _NODES,
    _PENDING,
    _UNK,
    MAX_ROUNDS,
    MAX_STEPS,
    MAX_VALUES,
    PENDING,
    _children,
    _hit,
    _names_in,
)

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



# _Walker._settle and _Walker._judged as they were before the sixth pass (attributes read through self, min()).
def _reference_settle(self: tpl._Walker, key: Any, memo: dict[Any, frozenset[Any]], compute: Any) -> frozenset[Any]:
    """``compute()``, memoised; a computation that reaches itself ({% set ns.seen = ns.seen + [x] %},
    recursive macros, a name bound through itself) is settled as a least fixpoint: it starts from nothing
    and is redone, forgetting what was computed from the smaller guess, until it stops growing (else:
    unknown)."""
    if key in self.active:
        self.cyclic.add(key)
        return self.provisional.get(key, _PENDING)
    self.active.add(key)
    start = len(self.log)
    guess: frozenset[Any] = self.warm.pop(key, _PENDING)
    for _ in range(MAX_ROUNDS):
        self.provisional[key] = guess
        self.cyclic.discard(key)
        got = compute()
        if len(got) > MAX_VALUES:
            _hit("MAX_VALUES")
            got = _UNK
        if key not in self.cyclic:
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
    self.active.discard(key)
    self.provisional.pop(key, None)
    if PENDING in got and not self.active:
        got = got - _PENDING or _UNK  # nothing left in flight: what only came from the guess is unknown
    memo[key] = got
    self.log.append((memo is self.name_memo, key))
    return got


def _reference_judged(self: tpl._Walker, memo: dict[Any, bool], key: Any, compute: Any) -> bool:
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
        self.pred_low = min(self.pred_low, onstack[key])
        return False
    self.pred_steps += 1
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
        self.pred_low = min(outer_low, low)
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


def _reference_nodes(tree: Any) -> tuple[list[Any], dict[int, list[Any]]]:
    """Pre-order by Jinja's own ``iter_child_nodes``, and each node's children as it lists them."""
    out, kids, stack = [], {}, [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        kids[id(node)] = list(node.iter_child_nodes())
        stack.extend(reversed(kids[id(node)]))
    return out, kids


def test_iter_nodes_skipping_leaf_values_equals_iter_child_nodes(trees: list[Any]) -> None:
    """_iter_nodes steps over field values of exact type str / int / float / bool / None (and its never-set
    sentinel) without testing them as nodes or lists: same nodes, order, children and parents as Jinja's walk,
    also for odd field values (a node or a list subclass of nodes where a constant usually is)."""
    n = _NODES

    class Nodes(list):  # type: ignore[type-arg]
        pass

    odd = n.Template([n.Output([n.Const(n.Name("x", "load")), n.Const(Nodes([n.Name("y", "load"), 3])),
                                n.Const(1.5), n.Const(True), n.Const(None), n.Const(b"z")])])
    for tree in [*trees, odd]:
        kids: dict[int, list[Any]] = {}
        parents: dict[int, Any] = {}
        by_type: dict[type, list[Any]] = {}
        got = tpl._iter_nodes(tree, kids, parents, by_type)
        want, want_kids = _reference_nodes(tree)
        assert [id(x) for x in got] == [id(x) for x in want]
        assert {k: [id(c) for c in v] for k, v in kids.items()} == {k: [id(c) for c in v] for k, v in want_kids.items()}
        assert {k: id(v) for k, v in parents.items()} == {id(c): id(x) for x in want for c in want_kids[id(x)]}
        assert sum(map(len, by_type.values())) == len(want)
    assert [type(x).__name__ for x in tpl._iter_nodes(odd)].count("Name") == 2


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
        m.setattr(tpl._Walker, "_settle", _reference_settle)
        m.setattr(tpl._Walker, "_judged", _reference_judged)
        slow = [tpl._analyze(s) for s in subset]
    assert fast == slow
    assert any(issue.kind == tpl.FRAME_ESCAPE for issues in fast for issue in issues)
