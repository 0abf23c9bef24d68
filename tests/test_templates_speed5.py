"""The template analysis' fifth speed pass changes nothing it finds (issue 11, "Speed"): each shortcut against the
path it replaces. Equivalence tests, not timing tests.

- ``_iter_nodes``' per-class lists and ``_Walker._of`` (the passes that act on a few node classes read those
  lists) against filtering every node with ``isinstance``;
- ``_loop_walk_up`` (the ``loop`` reads' owners found from each read up) against ``_loop_walk_down`` (every loop's
  whole body walked, the way it was), on real templates, the template tests' sources, generated variants and
  constructions made for the scoping rules it decides;
- ``_value``'s exact-class shortcut for Getattr, Getitem, Filter and Call against its isinstance chain;
- the whole analysis with each shortcut swapped back for the path it replaces.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from tests.test_scan_speed import REAL_TEMPLATES, _test_sources, _variants
from weightwarden.scan import templates as tpl

LOOP_CASES = [
    # nested loops: an inner loop's body claims its reads, its iterable / test / else are the outer body's
    "{% for a in x %}{{ loop.index }}{% for b in loop.previtem %}{{ loop.first }}{% else %}{{ loop.last }}"
    "{% endfor %}{% endfor %}",
    "{% for a in x %}{% for b in y if loop.index > 1 %}{{ loop.nextitem }}{% endfor %}{% endfor %}",
    "{% for a in x %}{% for b in y %}{% for c in z %}{{ loop.depth }}{% endfor %}{{ loop }}{% endfor %}{% endfor %}",
    # reads outside any loop body, in an iterable, in a test, in an else
    "{{ loop.index }}{% for a in loop %}{{ a }}{% endfor %}",
    "{% for a in x if loop %}{% else %}{{ loop.index }}{% endfor %}",
    # blocks between a loop and its reads
    "{% for a in x %}{% block b %}{{ loop.index }}{% endblock %}{{ loop.last }}{% endfor %}",
    "{% block outer %}{% for a in x %}{{ loop.index }}{% endfor %}{% endblock %}",
    "{% for a in x %}{% block b %}{% for c in y %}{{ loop.index }}{% endfor %}{{ loop }}{% endblock %}{% endfor %}",
    # bodies binding ``loop`` (set, with, macro parameter, for target, import), at any depth of the body
    "{% for a in x %}{% set loop = 1 %}{{ loop.index }}{% endfor %}",
    "{% for a in x %}{% with loop = y %}{{ loop.index }}{% endwith %}{{ loop.last }}{% endfor %}",
    "{% for a in x %}{% macro m(loop) %}{{ loop.index }}{% endmacro %}{{ m(loop) }}{% endfor %}",
    "{% for a in x %}{% for b in y %}{% for loop in z %}{% endfor %}{% endfor %}{{ loop.index }}{% endfor %}",
    "{% for a in x %}{% import 't' as loop %}{{ loop.index }}{% endfor %}",
    "{% for a in x %}{% from 't' import y as loop %}{{ loop.first }}{% endfor %}",
    "{% for a in x %}{% for b in y %}{% set loop = 2 %}{% endfor %}{{ loop.index }}{% endfor %}",
    "{% for a in x %}{{ loop.index }}{% endfor %}{% set loop = 3 %}",
    # macros and call blocks inside loop bodies (round 18: macros escaping their loop)
    "{% for a in x %}{% macro m() %}{{ loop.index }}{% endmacro %}{{ m() }}{% endfor %}{{ m() }}",
    "{% for a in x %}{% call(u) f() %}{{ loop.previtem }}{% endcall %}{% endfor %}",
    "{% for a in x %}{% set lp = loop %}{{ lp.previtem }}{% endfor %}",
    "{% for a in x %}{{ loop.cycle('a', 'b') }}{{ loop.changed(a) }}{{ (loop).index }}{% endfor %}",
    # recursive loops and loop(...) calls (the walk down is kept for those)
    "{% for a in x recursive %}{{ loop(a.children) }}{{ loop.depth }}{% endfor %}",
    "{% for a in x recursive %}{% for b in a %}{{ loop(b) }}{% endfor %}{% endfor %}",
    "{{ loop(x) }}{% for a in x %}{{ loop.index }}{% endfor %}",
    # filter blocks, ifs, autoescape and generation tags around reads
    "{% for a in x %}{% filter upper %}{{ loop.index }}{% endfilter %}{% if a %}{{ loop.last }}{% endif %}{% endfor %}",
    "{% for a in x %}{% autoescape true %}{{ loop.index }}{% endautoescape %}{% endfor %}",
    "{% for a in x %}{% generation %}{{ loop.index }}{% endgeneration %}{% endfor %}",
]


def _parsed(sources: list[str]) -> list[Any]:
    trees = []
    for source in sources:
        try:
            trees.append(tpl._parse(source))
        except Exception:  # noqa: BLE001, S112 - a source that does not parse has no tree to walk
            continue
    return trees


@pytest.fixture(scope="module")
def sources() -> list[str]:
    real = [p.read_text(encoding="utf-8") for p in REAL_TEMPLATES]
    tests = _test_sources()
    return [*real, *tests, *LOOP_CASES, *_variants([*real, *tests], 150, seed=5)]


@pytest.fixture(scope="module")
def trees(sources: list[str]) -> list[Any]:
    return _parsed(sources)


def _walker(tree: Any) -> tpl._Walker:
    walker = tpl._Walker("", frozenset())
    walker.kids, walker.by_type = {}, {}
    walker.all_nodes = tpl._iter_nodes(tree, walker.kids, walker.parents, walker.by_type)
    return walker


def test_sources_cover_the_cases(trees: list[Any]) -> None:
    assert len(trees) > 300
    assert len(_parsed(LOOP_CASES)) == len(LOOP_CASES)


def test_per_class_lists_are_the_preorder_filtered(trees: list[Any]) -> None:
    from jinja2 import nodes

    classes = [c for c in vars(nodes).values() if isinstance(c, type) and issubclass(c, nodes.Node)]
    unions = [nodes.Name | nodes.Import | nodes.FromImport | nodes.Macro | nodes.Block | nodes.NSRef | nodes.Call,
              nodes.Filter | nodes.Getattr | nodes.Getitem, nodes.Name | nodes.CallBlock | nodes.Call,
              nodes.Assign | nodes.AssignBlock | nodes.For | nodes.With | nodes.CallBlock | nodes.Import |
              nodes.FromImport | nodes.Call, nodes.Import | nodes.FromImport]
    for tree in trees:
        walker = _walker(tree)
        assert [id(n) for n in walker.all_nodes] == [id(n) for n in tpl._iter_nodes(tree)]
        assert sum(len(v) for v in walker.by_type.values()) == len(walker.all_nodes)
        for cls in [*classes, *unions]:
            assert [id(n) for n in walker._of(cls)] == [id(n) for n in walker.all_nodes if isinstance(n, cls)], cls


def _loop_claims(tree: Any, up: bool) -> tuple[dict[int, Any], dict[int, bool], dict[int, Any]]:
    walker = _walker(tree)
    names = [x for x in walker._of(tpl._NODES.Name) if x.name == "loop"]
    if up:
        walker._loop_walk_up(names)
    else:
        walker._loop_walk_down(walker.kids)
    return walker.loop_of, walker.loop_both, walker.loop_calls


def _has_loop_call(tree: Any) -> bool:
    n = tpl._NODES
    return any(isinstance(x, n.Call) and isinstance(x.node, n.Name) and x.node.name == "loop"
               for x in tpl._iter_nodes(tree))


def test_loop_walk_up_equals_walk_down(trees: list[Any]) -> None:
    compared = with_reads = 0
    for tree in trees:
        if _has_loop_call(tree):
            continue  # _loop_scopes walks down for those (loop_calls keeps the walk's order)
        down = _loop_claims(tree, up=False)
        assert _loop_claims(tree, up=True) == down
        compared += 1
        with_reads += bool(down[0])
    assert compared > 300
    assert with_reads > 100  # most real templates read loop.first / loop.last


def test_loop_walk_up_decides_the_scoping_cases() -> None:
    # Hand-checked owners on a few of the cases (so the two walks are not merely equally wrong).
    n = tpl._NODES
    tree = tpl._parse(LOOP_CASES[0])
    loop_of, loop_both, _ = _loop_claims(tree, up=True)
    fors = [x for x in tpl._iter_nodes(tree) if isinstance(x, n.For)]
    reads = {x.attr: x for x in tpl._iter_nodes(tree) if isinstance(x, n.Getattr)}
    assert loop_of[id(reads["index"])] is fors[0]
    assert loop_of[id(reads["previtem"])] is fors[0]  # the inner loop's iterable is the outer body
    assert loop_of[id(reads["first"])] is fors[1]
    assert loop_of[id(reads["last"])] is fors[0]  # the inner loop's else too
    assert not any(loop_both.values())
    tree = tpl._parse(LOOP_CASES[5])
    loop_of, loop_both, _ = _loop_claims(tree, up=True)
    reads = {x.attr: x for x in tpl._iter_nodes(tree) if isinstance(x, n.Getattr)}
    assert loop_both[id(reads["index"])] and not loop_both[id(reads["last"])]
    tree = tpl._parse(LOOP_CASES[14])
    loop_of, loop_both, _ = _loop_claims(tree, up=True)
    reads = [x for x in tpl._iter_nodes(tree) if isinstance(x, n.Getattr)]
    assert reads and all(loop_both[id(r)] for r in reads)  # a binding of 'loop' anywhere in the body


def test_value_shortcut_classes_skip_no_branch() -> None:
    """_value takes Getattr, Getitem, Filter and Call by exact class before its isinstance chain: none of the classes
    the chain tests before their own branches may be one of their bases."""
    n = tpl._NODES
    source = inspect.getsource(tpl._Walker._value)
    chain = source[source.index("v = self.value"):source.index("if isinstance(node, n.Getattr):")]
    tested = {getattr(n, name) for name in re.findall(r"\bn\.([A-Z]\w*)", chain)}
    assert len(tested) > 20
    for cls in (n.Getattr, n.Getitem, n.Filter, n.Call):
        assert not set(cls.__mro__) & tested, cls
        assert f"if isinstance(node, n.{cls.__name__}):\n            return self._" in source


def _reference_of(self: tpl._Walker, classes: Any) -> list[Any]:
    return [node for node in self.all_nodes if isinstance(node, classes)]


def test_analysis_equals_the_replaced_paths(sources: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    subset = sources[::3]
    fast = [tpl._analyze(s) for s in subset]
    with monkeypatch.context() as m:
        m.setattr(tpl._Walker, "_of", _reference_of)
        m.setattr(tpl._Walker, "_loop_walk_up", lambda self, names: self._loop_walk_down(self.kids))
        slow = [tpl._analyze(s) for s in subset]
    assert fast == slow
    assert sum(map(len, fast)) > 100


def test_evidence_lines_split_once_equal_per_finding_split(sources: list[str]) -> None:
    """A walker splits its source into lines once (on its first finding): every finding's evidence is still the
    line ``_line`` gives from the source alone (round 19's 1,500 escaped macros on one line split it 1,500 times)."""
    body = "".join(f"{{% set t{i} = x %}}{{% macro m{i}() %}}{{{{ t{i} }}}}{{% endmacro %}}"
                   f"{{% set ns.a = ns.a + [m{i}] %}}" + ("\n" if i % 7 == 0 else "") for i in range(200))
    many = ("{% set ns = namespace(a=[]) %}{% for x in messages %}" + body +
            "{% endfor %}{% for f in ns.a %}{{ f() }}{% endfor %}\n{{ ''.__class__ }}")
    checked = 0
    for source in [many, *sources[::4]]:
        for issue in tpl._analyze(source):
            assert issue.evidence == tpl._line(source, issue.line)
            checked += 1
    assert checked > 250
