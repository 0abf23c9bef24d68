"""Red team round 11 on the chat-template analysis (issue 11): 3 bypasses in 2 classes, closed as classes.

1. Alias tracking (``_flow_names``) had its own, wider list of "new value" filters than the labels: it kept
   int/float/abs/round, but ``'x'|int(obj)`` returns ``obj`` (its default). One closed list (``_FRESH_FILTERS``)
   now drives both; every other filter passes on aliases from its input and all its arguments.
2. A mutating bound method used as a value (``set keep = m.update``, then ``c.sort(key=keep)``; stored in a
   list, dict or namespace; passed to a macro or filter) changed render data unseen. Guilty until proven: every
   reference to a mutating method that is not the callee of a call (and ``x['update']``, ``x|attr('update')``,
   ``map(attribute='update')``, or a key not known here) is a mutation of every name its receiver may hold.

The PoCs are rebuilt here from tests/adversarial/generate.py (template_r11_*, fired by fire.py's plain render).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.generate import TEMPLATE_ROUND11_B1, TEMPLATE_ROUND11_B3, TEMPLATE_ROUND11_B4
from tests.template_rounds import assert_found, tokenizer_config_rules
from weightwarden.scan.templates import COMPUTED_ATTR, HOST_OBJECT, _flow_names, _parse, analyze_template

POCS = {"b1": TEMPLATE_ROUND11_B1, "b3": TEMPLATE_ROUND11_B3, "b4": TEMPLATE_ROUND11_B4}

H = ("{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}"
     "{%- set p = (messages|last).content.split('|') -%}{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}")
# The hops every PoC uses once messages[-1] holds the namespace: they are "data keys on render data" only while
# messages is proven unchanged.
HOPS = ("{%- set ns.v = (messages|last).content.v[p[1]] -%}{%- set ns.v = (messages|last).content.v[p[2]] -%}"
        "{%- set ns.v = (messages|last).content.v[p[3]] -%}"
        "{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}")


def _alias(expr: str) -> str:
    return H + "{%- set last = " + expr + " -%}{%- if last.update({'content': ns}) %}{% endif -%}" + HOPS


def _kept(setup: str, key: str, item: str = "{'content': ns}") -> str:
    return H + setup + "{%- set c1 = [" + item + "] -%}{%- if c1.sort(key=" + key + ") %}{% endif -%}" + HOPS


U = "(messages|last).update"
# 29 of these run os.system under a plain jinja2.Environment on the trigger chat 'x|__globals__|os|system|...'
# (checked by hand while writing them: int/float defaults, update kept or stored anywhere, getitem/attr/groupby,
# append); the other methods and abs/round cannot carry that exact chain but are the same rule.
VARIANTS = {
    # 1: a filter that may return an argument (or its input) passes the alias on.
    "int_default": _alias("'x'|int(messages|last)"),
    "int_default_keyword": _alias("'x'|int(default=messages|last)"),
    "float_default": _alias("'x'|float(messages|last)"),
    "float_default_keyword": _alias("'x'|float(default=(messages|last))"),
    "int_default_of_name": "{%- set m = messages|last -%}" + _alias("'x'|int(m)"),
    "int_in_list": _alias("['x'|int(messages|last)]|first"),
    "abs_alias": _alias("(messages|last)|abs"),
    "round_alias": _alias("(messages|last)|round"),
    "int_hidden_bound_method": _kept("{%- set keep = 'x'|int(" + U + ") -%}", "keep"),
    "float_hidden_bound_method": _kept("", "'x'|float(" + U + ")"),
    # 2: a mutating bound method as a value, whatever the method, wherever it is kept.
    **{f"kept_{m}": _kept("{%- set keep = (messages|last)." + m + " -%}", "keep")
       for m in ("update", "setdefault", "pop", "clear", "popitem")},
    **{f"kept_list_{m}": _kept("{%- set keep = messages." + m + " -%}", "keep")
       for m in ("append", "extend", "insert", "pop", "clear", "remove", "sort", "reverse")},
    "direct_sort_key": _kept("", U),
    "in_namespace": _kept("{%- set k = namespace(f=" + U + ") -%}", "k.f"),
    "in_namespace_attr": _kept("{%- set k = namespace(f=none) -%}{%- set k.f = " + U + " -%}", "k.f"),
    "in_list": _kept("{%- set k = [" + U + "] -%}", "k[0]"),
    "in_list_first": _kept("{%- set k = [" + U + "] -%}", "k|first"),
    "in_dict": _kept("{%- set k = {'f': " + U + "} -%}", "k.f"),
    "in_dict_call": _kept("{%- set k = dict(f=" + U + ") -%}", "k.f"),
    "macro_argument": H + "{%- macro s(f) %}{% if [{'content': ns}].sort(key=f) %}{% endif %}{% endmacro -%}"
                          "{{- s(" + U + ") -}}" + HOPS,
    "macro_default": H + "{%- macro s(f=" + U + ") %}{% if [{'content': ns}].sort(key=f) %}{% endif %}"
                         "{% endmacro -%}{{- s() -}}" + HOPS,
    "through_name": "{%- set m = messages|last -%}" + _kept("{%- set keep = m.update -%}", "keep"),
    "through_loop": H + "{%- for m in messages[-1:] %}{% set keep = m.update %}"
                        "{% if [{'content': ns}].sort(key=keep) %}{% endif %}{% endfor -%}" + HOPS,
    "getitem_constant": _kept("{%- set keep = (messages|last)['update'] -%}", "keep"),
    "attr_filter": _kept("{%- set keep = (messages|last)|attr('update') -%}", "keep"),
    "map_attribute": _kept("{%- set keep = messages|map(attribute='update')|last -%}", "keep"),
    "map_attr_filter": _kept("{%- set keep = messages|map('attr', 'update')|last -%}", "keep"),
    "groupby_grouper": _kept("{%- set keep = (messages[-1:]|groupby('update')|first).grouper -%}", "keep"),
    "computed_name": _kept("{%- set keep = (messages|last)['up' ~ 'date'] -%}", "keep"),
    "in_for_iterable": H + "{%- for f in [" + U + "] %}{% if [{'content': ns}].sort(key=f) %}{% endif %}"
                           "{% endfor -%}" + HOPS,
    "with_binding": H + "{%- with f = " + U + " %}{% if [{'content': ns}].sort(key=f) %}{% endif %}"
                        "{% endwith -%}" + HOPS,
    "cond_expr": _kept("{%- set keep = " + U + " if p else none -%}", "keep"),
    "or_expr": _kept("{%- set keep = none or " + U + " -%}", "keep"),
    "default_filter": _kept("{%- set keep = none|default(" + U + ") -%}", "keep"),
    "data_key_method": _kept("{%- set keep = (messages|last)[p[0]] -%}", "keep"),
    # super is treated like self.
    "super_item": "{% block b %}{{ super[p[1]] }}{% endblock %}",
}

ORDINARY = {
    # The report's "no false positive" forms, and ordinary int/float/attribute uses.
    "system_split": "{% if messages[0].role == 'system' %}{% set sys = messages[0].content %}"
                    "{% set messages = messages[1:] %}{% endif %}{{ sys }}{% for m in messages %}{{ m.content }}{% endfor %}",
    "previous_message": "{% for m in messages %}{% if not loop.first %}{{ messages[loop.index0 - 1].role }}{% endif %}"
                        "{% endfor %}",
    "tool_loop": "{% for t in tools %}{% for k, v in t.function.parameters.properties|dictsort %}{{ k }}"
                 "{{ v.get('type') }}{{ v|tojson }}{% endfor %}{% endfor %}",
    # update_then_split (message.update on the caller's messages) moved to test_templates_round15.py: since round
    # 15 changing the render data in place is a finding of its own (render-mutation), and only that.
    "parts_append": "{% set parts = [] %}{% for m in messages %}{% set _ = parts.append(m.content) %}{% endfor %}"
                    "{{ parts|join('\\n') }}",
    "previtem": "{% for m in messages %}{% if loop.previtem is defined %}{{ loop.previtem.role }}{% endif %}{% endfor %}",
    "raise_and_date": "{% if not messages %}{{ raise_exception('no messages') }}{% endif %}{{ strftime_now('%Y') }}",
    "map_tojson": "{{ messages|map('tojson')|join(', ') }}",
    "items_list": "{% for k, v in (messages[0]|items|list) %}{{ k }}={{ v }}{% endfor %}",
    "int_float": "{{ (messages|length)|int }}{{ messages[0].content|float(0) }}{{ messages[0].content|int(0) }}",
    "typed_lookup": "{% set m = {'string': 'str'} %}{% for t in tools %}{% if m[t.type] is defined %}{{ m[t.type] }}"
                    "{% endif %}{% endfor %}",
    "map_attribute_content": "{{ messages|map(attribute='content')|join('\\n') }}",
    "attr_role": "{{ messages[0]|attr('role') }}",
    "groupby_role": "{% for g in messages|groupby('role') %}{{ g.grouper }}: {{ g.list|length }}{% endfor %}",
    "method_printed": "{{ messages[0].update is defined }}{{ messages.append|string }}",
}


def _found(source: str) -> None:
    assert_found(source, frozenset({COMPUTED_ATTR, HOST_OBJECT}))


@pytest.mark.parametrize("name", sorted(POCS))
def test_round11_pocs_are_found(name: str) -> None:
    _found(POCS[name])


@pytest.mark.parametrize("name", ["b1", "b4"])
def test_round11_pocs_in_tokenizer_config(tmp_path: Path, name: str) -> None:
    assert "WW-TPL-002" in tokenizer_config_rules(tmp_path, POCS[name])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_class_variants_are_found(name: str) -> None:
    _found(VARIANTS[name])


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_forms_stay_clean(name: str) -> None:
    assert analyze_template(ORDINARY[name]) == [], ORDINARY[name]


@pytest.mark.parametrize("filt", ["int", "float", "abs", "round", "first", "default", "unknown_host_filter"])
def test_only_fresh_filters_cut_aliases(filt: str) -> None:
    # One closed list for labels and aliases: a filter that may return its input or an argument keeps both.
    expr = _parse("{{ a|" + filt + "(b) }}").body[0].nodes[0]
    assert set(_flow_names(expr)) == {"a", "b"}


@pytest.mark.parametrize("filt", ["length", "tojson", "string", "join", "format", "trim"])
def test_fresh_filters_hold_no_alias(filt: str) -> None:
    expr = _parse("{{ a|" + filt + "(b) }}").body[0].nodes[0]
    assert _flow_names(expr) == []


def test_hostile_sizes_do_not_hang() -> None:
    # Many bound methods kept as values and many int-default aliases: the pre-pass is linear in the nodes;
    # past MAX_STEPS the answer is a finding, never a hang (no timing asserted).
    parts = [f"{{% set k{i} = 'x'|int(k{max(i - 1, 0)}) %}}{{% set u{i} = (messages|last).update %}}"
             f"{{% set l{i} = [u{i}, k{i}] %}}{{{{ [1].sort(key=l{i}[0]) }}}}" for i in range(150)]
    assert isinstance(analyze_template("".join(parts)), list)
