"""Red team round 12 on the chat-template analysis (issue 11): 5 bypasses in 1 class, closed as a class.

A namespace attribute's labels (picked / not JSON) were seen only on a constant-name ``ns.attr`` read; every other
read of the same attribute (``ns['v']``, ``ns|attr('v')``, ``[ns]|map(attribute='v')``, ``groupby('v')``,
``ns|dictsort`` calling a stored ``items``) judged the namespace object itself. Now a namespace object anywhere
but the receiver of a constant-name read carries the union of every attribute binding's labels, and filters or
calls that call ``items`` / ``keys`` / ``__html__`` with no Call node are judged as calls of that attribute.

The PoCs are rebuilt here from tests/adversarial/generate.py (template_r12_*, fired by fire.py's plain render).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.generate import (
    TEMPLATE_ROUND12_D1,
    TEMPLATE_ROUND12_G1,
    TEMPLATE_ROUND12_G2,
    TEMPLATE_ROUND12_G4,
    TEMPLATE_ROUND12_G5,
)
from tests.template_rounds import assert_found, tokenizer_config_rules
from weightwarden.scan.templates import analyze_template

POCS = {"g4": TEMPLATE_ROUND12_G4, "g1": TEMPLATE_ROUND12_G1, "g2": TEMPLATE_ROUND12_G2, "g5": TEMPLATE_ROUND12_G5,
        "d1": TEMPLATE_ROUND12_D1}

H = ("{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}"
     "{%- set p = (messages|last).content.split('|') -%}{%- set ns = namespace(v=none) -%}{%- set ns.v = lipsum -%}")
HOPS = ("{%- set ns.v = (messages|last).content.v[p[1]] -%}{%- set ns.v = (messages|last).content.v[p[2]] -%}"
        "{%- set ns.v = (messages|last).content.v[p[3]] -%}"
        "{%- set run = (messages|last).content.v -%}{%- set c5 = [p[4] ~ ''] -%}{%- if c5.sort(key=run) %}{% endif -%}")
PICK = "(messages|last)[p[5]]"
SET = "{%- set ns2 = namespace(v=none) -%}{%- set ns2.v = " + PICK + " -%}"


def _kept(read: str, setup: str = SET) -> str:
    return H + setup + "{%- set keep = " + read + " -%}{%- set c1 = [{'content': ns}] -%}" \
        "{%- if c1.sort(key=keep) %}{% endif -%}" + HOPS


VARIANTS = {
    # Every read form of a namespace attribute other than ns.attr with a constant name.
    "getitem": _kept("ns2['v']"),
    "getitem_alias": _kept("a['v']", SET + "{%- set a = ns2 -%}"),
    "attr_filter": _kept("ns2|attr('v')"),
    "map_attribute": _kept("[ns2]|map(attribute='v')|first"),
    "map_attr_filter": _kept("[ns2]|map('attr', 'v')|first"),
    "groupby_key": _kept("([ns2]|groupby('v')|first)[0]"),
    "groupby_grouper": _kept("([ns2]|groupby('v')|first).grouper"),
    "max_attribute_then_getitem": _kept("([ns2]|max(attribute='v'))['v']"),
    "selectattr_then_getitem": _kept("([ns2]|selectattr('v')|first)['v']"),
    "sort_attribute_then_getitem": _kept("([ns2]|sort(attribute='v')|first)['v']"),
    "list_then_getitem": _kept("[ns2][0]['v']"),
    "cond_then_getitem": _kept("(ns2 if p else none)['v']"),
    "default_then_attr": _kept("ns2|default(none)|attr('v')"),
    "keyword_then_getitem": _kept("ns3['v']", "{%- set ns3 = namespace(v=" + PICK + ") -%}"),
    "other_namespace_attr": _kept("ns3['w']", SET + "{%- set ns3 = namespace(w=none) -%}{%- set ns3.w = ns2.v -%}"),
    "macro_getitem": H + SET + "{%- macro s(n) %}{% if [{'content': ns}].sort(key=n['v']) %}{% endif %}{% endmacro -%}"
                           "{{- s(ns2) -}}" + HOPS,
    "loop_getitem": H + SET + "{%- for n in [ns2] %}{% if [{'content': ns}].sort(key=n['v']) %}{% endif %}"
                              "{% endfor -%}" + HOPS,
    "namespace_given_to_call": H + SET + "{%- if [{'content': ns}].sort(key=ns2) %}{% endif -%}" + HOPS,
    # Implicit calls: |dictsort / |xmlattr call ns.items(), dict(ns) / **ns / d.update(ns) call ns.keys().
    "dictsort_picked_items": "{%- set p = (messages|last).content.split('|') -%}{%- set n = namespace(items=none) -%}"
                             "{%- set n.items = " + PICK + " -%}{{ n|dictsort }}",
    "xmlattr_picked_items": "{%- set p = (messages|last).content.split('|') -%}{%- set n = namespace(items=none) -%}"
                            "{%- set n.items = " + PICK + " -%}{{ n|xmlattr }}",
    "dictsort_stored_items": "{%- set n = namespace(items=none) -%}{%- set n.items = {'k': lipsum}.items -%}"
                             "{% for k, v in n|dictsort %}{{ v() }}{% endfor %}",
    "dict_keys": "{%- set n = namespace(keys=none) -%}{%- set n.keys = lipsum -%}{{ dict(n) }}",
    "update_keys": "{%- set n = namespace(keys=lipsum) -%}{%- set d = {} -%}{{ d.update(n) }}",
    "kwargs_keys": "{%- macro m() %}{% endmacro -%}{%- set n = namespace(keys=lipsum) -%}{{ m(**n) }}",
    # namespace(mapping): attribute names are the mapping's keys (may be __html__ / items / keys).
    "namespace_from_computed_keys": "{%- set p = (messages|last).content.split('|') -%}{%- set d = {p[1]: lipsum} -%}"
                                    "{%- set n = namespace(d) -%}{% autoescape true %}{{ n }}{% endautoescape %}",
    "namespace_from_kwargs": "{%- set p = (messages|last).content.split('|') -%}"
                             "{%- set n = namespace(**{p[1]: lipsum}) -%}{{ n|e }}",
    # The relaxed rules keep their limits: a receiver not surely a dict literal, a picked value stored.
    "get_on_param": "{%- set p = messages[0].content.split('|') -%}{% macro f(d) %}{{ [1].sort(key=d.get(p[1])) }}"
                    "{% endmacro %}{{ f(lipsum) }}",
    "get_picked_default": "{%- set p = messages[0].content.split('|') -%}{% set d = {} %}"
                          "{{ [1].sort(key=d.get(p[1], messages[0][p[2]])) }}",
    "update_stores_picked": "{%- set p = messages[0].content.split('|') -%}{% set d = {} %}"
                            "{% set _ = d.update({'k': messages[0][p[1]]}) %}{{ [1].sort(key=d.get(p[2])) }}",
    "set_from_update_rebound": "{%- set p = messages[0].content.split('|') -%}{% set d = {} %}{% set d = lipsum %}"
                               "{{ [1].sort(key=d.get(p[1])) }}",
    "namespace_literal_items_key": "{%- set n = namespace({'items': lipsum}) -%}{{ n|dictsort }}",
}

ORDINARY = {
    # Ordinary namespace uses (the 88 real templates' shapes) and the round-12 report's ordinary edits.
    "flags": "{% set ns = namespace(found=false, idx=-1) %}{% for m in messages %}{% if m.role == 'user' %}"
             "{% set ns.found = true %}{% set ns.idx = loop.index0 %}{% endif %}{% endfor %}{{ ns.found }}{{ ns.idx }}",
    "system_in_namespace": "{% set ns = namespace(system='') %}{% if messages[0].role == 'system' %}"
                           "{% set ns.system = messages[0].content %}{% endif %}{{ ns.system }}",
    "accumulate_list": "{% set ns = namespace(parts=[]) %}{% for m in messages %}{% set ns.parts = ns.parts + "
                       "[m.content] %}{% endfor %}{{ ns.parts|join('\\n') }}",
    "namespace_to_macro": "{% macro show(n) %}{{ n.last }}{% endmacro %}{% set ns = namespace(last='') %}"
                          "{% for m in messages %}{% set ns.last = m.role %}{% endfor %}{{ show(ns) }}",
    "data_key_in_attr": "{% set roles = {'user': 'U', 'assistant': 'A'} %}{% set ns = namespace(r='') %}"
                        "{% for m in messages %}{% set ns.r = roles[m.role] %}{{ ns.r }}{% endfor %}",
    "tools_in_namespace": "{% set ns = namespace(tools=tools) %}{% for t in ns.tools %}{{ t.function.name }}"
                          "{{ t|tojson }}{% endfor %}",
    "namespace_literal_keys": "{% set ns = namespace({'a': 1, 'b': messages}) %}{{ ns.a }}{{ ns.b|length }}",
    "dictsort_properties": "{% for t in tools %}{% for k, v in t.function.parameters.properties|dictsort %}{{ k }}"
                           "{% endfor %}{% endfor %}",
    "xmlattr_dict": "<div{{ {'class': 'msg', 'id': messages[0].role}|xmlattr }}></div>",
    "dict_of_data": "{% set d = dict(messages[0]) %}{{ d.role }}{% set e = {} %}{% set _ = e.update(messages[0]) %}",
    "groupby_role": "{% for g in messages|groupby('role') %}{{ g.grouper }}{% endfor %}",
    "sort_attribute": "{% for m in messages|sort(attribute='role') %}{{ m.content }}{% endfor %}",
    "selectattr_join": "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(' ') }}",
    "copy_update": "{% set m = messages[0].copy() %}{% set _ = m.update({'content': 'x'}) %}{{ m.content }}",
    # The report's two false positives (relaxed in round 12, see docs/decisions.md).
    "dict_build": "{%- set idmap = {} %}{%- for m in messages %}{%- for tc in m.tool_calls or [] %}"
                  "{%- set _ = idmap.update({tc.id: tc.function.name}) %}{% endfor %}{% endfor %}"
                  "{%- for m in messages if m.role == 'tool' %}{{ idmap[m.tool_call_id] }}{% endfor %}",
    "ns_dict_counts": "{%- set ns = namespace(counts={}) %}{%- for m in messages %}"
                      "{%- set _ = ns.counts.update({m.role: ns.counts.get(m.role, 0) + 1}) %}{% endfor %}"
                      "{{ ns.counts|tojson }}",
    "dict_get_data_key": "{% set d = {'user': 'U'} %}{% for m in messages %}{{ d.get(m.role, '?') }}{% endfor %}",
    "ns_last_user_idx": "{% set ns = namespace(last_user_idx=-1) %}{% for m in messages %}{% if m.role == 'user' %}"
                        "{% set ns.last_user_idx = loop.index0 %}{% endif %}{% endfor %}{{ messages[ns.last_user_idx].content }}",
}


def _found(source: str) -> None:
    assert_found(source)


@pytest.mark.parametrize("name", sorted(POCS))
def test_round12_pocs_are_found(name: str) -> None:
    _found(POCS[name])


@pytest.mark.parametrize("name", sorted(POCS))
def test_round12_pocs_in_tokenizer_config(tmp_path: Path, name: str) -> None:
    assert "WW-TPL-002" in tokenizer_config_rules(tmp_path, POCS[name])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_class_variants_are_found(name: str) -> None:
    _found(VARIANTS[name])


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_forms_stay_clean(name: str) -> None:
    assert analyze_template(ORDINARY[name]) == [], ORDINARY[name]


@pytest.mark.parametrize("attr", ["__html__", "__html_format__", "_private"])
def test_namespace_attribute_set_with_a_private_name_is_found(attr: str) -> None:
    src = "{% set ns = namespace(a=1) %}{% set ns." + attr + " = lipsum %}{% autoescape true %}{{ ns }}{% endautoescape %}"
    assert analyze_template(src)


def test_constant_read_of_an_unpicked_attribute_stays_unpicked() -> None:
    # The union is for the namespace object only: ns.w (constant name) is what was stored in w, even when ns.v
    # holds a picked value; calling ns.w's stored string method stays allowed.
    src = ("{% set p = messages[0].content.split('|') %}{% set ns = namespace(v=none, w='a') %}"
           "{% set ns.v = messages[0][p[1]] %}{{ ns.w.upper() }}{{ ns.v }}")
    assert analyze_template(src) == []
