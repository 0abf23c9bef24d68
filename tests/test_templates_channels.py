"""One enumeration of value channels for both passes of the chat-template analysis (after red team round 14).

Rounds 12, 13 and 14 each found one more way a value flows that the label walk followed and the alias pass
(``_mutations``) did not. Both now come from ``_Walker._channels`` (name-level: what a name, namespace attribute,
``caller`` or a loop's ``previtem`` / ``nextitem`` gets) and ``_FIELD_ROLES`` (how every field of every jinja2
node class carries values). These tests keep that true:

* structural: every field of every concrete ``jinja2.nodes`` class has a role in ``_FIELD_ROLES`` (a new class or
  field in a Jinja upgrade fails here until someone decides how it carries values), and every field whose role is
  a channel or a target is one of the statement kinds ``_channels`` handles;
* differential: on the round 10-14 attack templates and generated chains of channels, the name-to-name flows
  the label walk's bindings hold are exactly the alias pass's edges, and every chain that hands render data
  to a mutation through any mix of channels is found.
"""

from __future__ import annotations

import inspect
import random

import pytest
from jinja2 import nodes as jn

from tests import (
    test_templates_round10,
    test_templates_round11,
    test_templates_round12,
    test_templates_round13,
    test_templates_round14,
)
from tests.test_templates_round13 import HEAD, WALK
from tests.test_templates_round14 import BODY
from weightwarden.scan import templates as t

ROLES = {"flow", "consumed", "channel", "target", "body", "static"}
# The statement kinds whose fields bind names; _Walker._channels has a branch for each (read from its source
# below, so a new channel kind must be added there, not only here).
CHANNEL_KINDS = {"For", "Macro", "CallBlock", "With", "Import", "FromImport", "Assign"}


def _concrete_node_classes() -> list[type]:
    return sorted((c for _, c in inspect.getmembers(jn, inspect.isclass)
                   if issubclass(c, jn.Node) and not c.abstract), key=lambda c: c.__name__)


def test_every_field_of_every_node_class_has_a_role() -> None:
    missing = [(c.__name__, f) for c in _concrete_node_classes() for f in c.fields
               if f not in t._FIELD_ROLES.get(c.__name__, {})]
    assert missing == [], f"jinja2 node fields with no value-flow role in _FIELD_ROLES: {missing}"


def test_the_role_table_names_only_real_fields_and_roles() -> None:
    classes = {c.__name__: c for c in _concrete_node_classes()}
    stale = [name for name in t._FIELD_ROLES if name not in classes]
    assert stale == []
    for name, roles in t._FIELD_ROLES.items():
        assert set(roles) == set(classes[name].fields), name
        assert set(roles.values()) <= ROLES, name
        # Every class of the table is followed by its table entry, never whole (the deny-by-default fallback).
        assert t._flow_fields(classes[name]) is not None, name


def test_channel_fields_are_enumerated_by_channels() -> None:
    binding = {name for name, roles in t._FIELD_ROLES.items() if {"channel", "target"} & set(roles.values())}
    assert binding == CHANNEL_KINDS | {"AssignBlock"}
    source = inspect.getsource(t._Walker._channels)
    for name in binding:
        assert f"n.{name})" in source or f"n.{name}:" in source or f"isinstance(node, n.{name}" in source or \
            name == "Macro" and "macros.items()" in source, name


# -- differential ------------------------------------------------------------------------------------------


def _round_templates() -> list[str]:
    out: list[str] = []
    for module in (test_templates_round10, test_templates_round11, test_templates_round12):
        for value in vars(module).values():
            if isinstance(value, dict):
                out.extend(v for v in value.values() if isinstance(v, str))
    out.extend(HEAD + e + test_templates_round13.TAIL for e in test_templates_round13.ENTRIES.values())
    out.extend(HEAD + e + WALK for e in test_templates_round14.ENTRIES.values())
    out.extend(test_templates_round13.ORDINARY.values())
    out.extend(test_templates_round14.ORDINARY.values())
    return out


# Ways to hand the value of expression E to name V before the inner part runs (each one a channel kind).
CHANNELS = {
    "set": "{%- set V = E -%}@",
    "with": "{%- with V = E -%}@{%- endwith -%}",
    "for": "{%- for V in [E] -%}@{%- endfor -%}",
    "tuple": "{%- set V, zK = E, 1 -%}@",
    "macro_arg": "{%- macro mK(V) -%}@{%- endmacro -%}{{- mK(E) -}}",
    "macro_default": "{%- macro mK(V=E) -%}@{%- endmacro -%}{{- mK() -}}",
    "macro_kwarg": "{%- macro mK(V) -%}@{%- endmacro -%}{{- mK(V=E) -}}",
    "macro_star": "{%- macro mK(V) -%}@{%- endmacro -%}{{- mK(*[E]) -}}",
    "macro_dstar": "{%- macro mK(V) -%}@{%- endmacro -%}{{- mK(**{'V': E}) -}}",
    "ns_set": "{%- set nK = namespace(a=none) -%}{%- set nK.a = E -%}{%- set V = nK.a -%}@",
    "ns_tuple": "{%- set nK = namespace(a=none) -%}{%- set zK, nK.a = 1, E -%}{%- set V = nK['a'] -%}@",
    "ns_kw": "{%- set nK = namespace(a=E) -%}{%- set V = nK.a -%}@",
    "previtem": "{%- for mK in [E, 0] -%}{%- if loop.last -%}{%- set V = loop.previtem -%}@{%- endif -%}{%- endfor -%}",
    "loopcontext": "{%- for mK in [E, 0] -%}{%- set lK = loop -%}{%- if loop.last -%}{%- set V = lK.previtem -%}@"
                   "{%- endif -%}{%- endfor -%}",
    "first": "{%- set V = [E]|first -%}@",
    "cond": "{%- set V = E if true else 0 -%}@",
    "update": "{%- set dK = {} -%}{%- set _ = dK.update(**{'a': E}) -%}{%- set V = dK.a -%}@",
    "append": "{%- set lK = [] -%}{%- set _ = lK.append(*[E]) -%}{%- set V = lK[0] -%}@",
    "setdefault": "{%- set dK = {} -%}{%- set V = dK.setdefault('a', E) -%}@",
    "get_default": "{%- set V = {}.get('zz', E) -%}@",
    "setdefault_append": "{%- set dK = {} -%}{%- set _ = dK.setdefault('a', []).append(E) -%}{%- set V = dK.a[0] -%}@",
    "setdefault_data_key": "{%- set dK = {} -%}{%- set _ = dK.setdefault(p[0], []).append(E) -%}"
                          "{%- set V = dK[p[0]][0] -%}@",
}


def _chain(kinds: list[str]) -> str:
    """HEAD, then messages[-1] handed through ``kinds`` in turn into ``d``, then round 14's BODY and WALK."""
    inner = "@"
    expr = "messages|last"
    for k, kind in enumerate(kinds):
        name = "d" if k == len(kinds) - 1 else f"v{k}"
        part = CHANNELS[kind].replace("K", str(k)).replace("V", name).replace("E", expr)
        inner = inner.replace("@", part)
        expr = name
    return HEAD + inner.replace("@", BODY) + WALK


def _chains() -> list[list[str]]:
    rng = random.Random(14)
    kinds = sorted(CHANNELS)
    out = [[k] for k in kinds]
    out.extend(rng.sample(kinds, 2) for _ in range(24))
    out.extend(rng.sample(kinds, 3) for _ in range(12))
    return out


def _walk(source: str) -> t._Walker:
    walker = t._Walker(source)
    walker.run(t._parse(source))
    return walker


def _label_edges(walker: t._Walker) -> set[tuple[str, str]]:
    """The name-to-name flows the label walk reads: every modelled binding's value, through _flow_names."""
    return {(key, inner) for key, binds in walker.bindings.items() for value, _ in binds
            if value is not None and not walker._returns_none(value) for inner in walker._flow(value)}


@pytest.mark.parametrize("source", _round_templates() + [_chain(c) for c in _chains()])
def test_label_flows_are_alias_edges(source: str) -> None:
    try:
        t._parse(source)
    except Exception:  # noqa: BLE001 - a fragment of a round's test that is not a template by itself
        pytest.skip("not a template")
    walker = _walk(source)
    assert _label_edges(walker) == walker.channel_edges()


@pytest.mark.parametrize("kinds", _chains(), ids=lambda c: "+".join(c))
def test_every_chain_of_channels_is_found(kinds: list[str]) -> None:
    source = _chain(kinds)
    assert t.analyze_template(source), source


def test_round_templates_mostly_parse() -> None:
    parsed = 0
    for source in _round_templates():
        try:
            t._parse(source)
        except Exception:  # noqa: BLE001, S112
            continue
        parsed += 1
    assert parsed >= 40


# Ordinary forms the shared channels must keep clean (round 12's and 13's false positives included).
ORDINARY = {
    "group_by_role": "{% set byrole = {} %}{% for m in messages %}{% set _ = byrole.setdefault(m.role, [])"
                     ".append(m.content) %}{% endfor %}{{ byrole.get('user', [])|length }}",
    "group_by_role_print": "{% set byrole = {} %}{% for m in messages %}{{ byrole.setdefault(m.role, [])"
                           ".append(m.content) }}{% endfor %}{% for r, c in byrole|dictsort %}{{ r }}{{ c|join }}"
                           "{% endfor %}",
    "id_map": "{% set idmap = {} %}{% for m in messages %}{% for tc in m.tool_calls or [] %}"
              "{% set _ = idmap.update({tc.id: tc.function.name}) %}{% endfor %}{% endfor %}"
              "{% for m in messages %}{{ idmap[m.tool_call_id] }}{% endfor %}",
    "collect_messages": "{% set parts = [] %}{% for m in messages %}{% set _ = parts.append(m) %}{% endfor %}"
                        "{% for m in parts %}{{ m.role }}: {{ m.content }}{% endfor %}",
    "previtem_role": "{% for m in messages %}{% if loop.previtem and loop.previtem.role == m.role %}"
                     "{{ raise_exception('roles must alternate') }}{% endif %}{{ m.content }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_forms_stay_clean(name: str) -> None:
    assert t.analyze_template(ORDINARY[name]) == [], ORDINARY[name]


# Found by the generated chains on the code before the shared enumeration (each renders ``touch canary`` under a
# plain jinja2.Environment and scanned clean): render data held by a NAME (a loop target, a macro parameter, a
# LoopContext's previtem) stored into a container by a mutating call was not linked to the render data.
FOUND_BY_CHAINS = [["for", "update"], ["macro_arg", "append"], ["loopcontext", "append"], ["previtem", "update"]]


@pytest.mark.parametrize("kinds", FOUND_BY_CHAINS, ids=lambda c: "+".join(c))
def test_chains_missed_before_are_found(kinds: list[str]) -> None:
    assert t.analyze_template(_chain(kinds)), _chain(kinds)
