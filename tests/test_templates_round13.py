"""Red team round 13 on the chat-template analysis (issue 11): 3 bypasses in 1 class, closed as a class.

The alias pass of ``_mutations`` enumerated fewer channels than the label walk: a call's ``*args`` / ``**kwargs``,
a macro call's ``*`` / ``**`` arguments and a namespace attribute set inside a tuple target (``set d.a, z = …``)
were not followed, so render data changed through such an alias still counted as JSON, and JSON methods of it
(``.count`` / ``.get``) were allowed while they really called namespace attributes (``messages[-1].update``, then
``os.system``). The alias pass now takes every argument child (_call_args) and every store target's NSRefs
(_store_keys; since the shared enumeration: _Walker._channels), and an attribute read ``x.a`` also links the pooled namespace key ``.a``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.template_rounds import tokenizer_config_rules
from weightwarden.scan.templates import analyze_template

HEAD = ("{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}"
        "{%- if messages and (messages|last).content is string and (messages|last).content.startswith('x|') -%}"
        "{%- set p = (messages|last).content.split('|') -%}")
# What every PoC does once render data is changed unseen: chat keys walk lipsum's globals to os.system.
WALK = ("{%- if (messages|last).fn.count({'content': (messages|last).content[p[1]]}) %}{% endif -%}"
        "{%- if (messages|last).fn.count({'content': (messages|last).content[p[2]]}) %}{% endif -%}"
        "{%- if (messages|last).fn.count({'content': (messages|last).content[p[3]]}) %}{% endif -%}"
        "{%- set h2 = namespace(get=none) -%}{%- set h2.get = (messages|last).content -%}"
        "{%- if (messages|last).fn.count({'fn': h2}) %}{% endif -%}"
        "{%- if (messages|last).fn.get(p[4]) %}{% endif -%}"
        "{%- endif -%}<|assistant|>")
TAIL = ("{%- set h = namespace(count=d.a.update) -%}"
        "{%- set c1 = [{'fn': h, 'content': lipsum}] -%}{%- if c1.sort(key=d.a.update) %}{% endif -%}" + WALK)

ENTRIES = {
    # The report's three PoCs (w5, w8, w6).
    "w5_kwargs_of_call": "{%- set d = {} -%}{%- set _ = d.update(**{'a': messages|last}) -%}",
    "w8_varargs_of_call": "{%- set dl = [] -%}{%- set _ = dl.append(*[messages|last]) -%}{%- set d = {'a': dl[0]} -%}",
    "w6_nsref_in_tuple": "{%- set d = namespace(a=none) -%}{%- set d.a, zz = messages|last, 1 -%}",
    # Variants of the class.
    "nsref_in_nested_tuple": "{%- set d = namespace(a=none) -%}{%- set (zz, (d.a, yy)) = (1, (messages|last, 2)) -%}",
    "nsref_second_in_tuple": "{%- set d = namespace(a=none) -%}{%- set zz, d.a = 1, messages|last -%}",
    "kwargs_of_insert": "{%- set dl = [] -%}{%- set _ = dl.insert(0, *[messages|last]) -%}{%- set d = {'a': dl[0]} -%}",
    "macro_kwargs": "{%- set d = {} -%}{%- macro m(t) %}{% set _ = d.update({'a': t}) %}{% endmacro -%}"
                    "{{- m(**{'t': messages|last}) -}}",
    "macro_varargs": "{%- set d = {} -%}{%- macro m(t) %}{% set _ = d.update({'a': t}) %}{% endmacro -%}"
                     "{{- m(*[messages|last]) -}}",
    "filter_varargs_default": "{%- set d = {'a': none|default(*[messages|last])} -%}",
    "filter_kwargs_default": "{%- set d = {'a': none|default(**{'default_value': messages|last})} -%}",
    "namespace_kwargs": "{%- set d = namespace(**{'a': messages|last}) -%}",
    "namespace_mapping": "{%- set d = namespace({'a': messages|last}) -%}",
}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_round13_class_is_found(name: str) -> None:
    src = HEAD + ENTRIES[name] + TAIL
    assert analyze_template(src), src


@pytest.mark.parametrize("name", ["w5_kwargs_of_call", "w8_varargs_of_call", "w6_nsref_in_tuple"])
def test_round13_pocs_in_tokenizer_config(tmp_path: Path, name: str) -> None:
    src = HEAD + ENTRIES[name] + TAIL
    assert any(rule.startswith("WW-TPL") for rule in tokenizer_config_rules(tmp_path, src))


ORDINARY = {
    "tuple_namespace_set": "{% set ns = namespace(sys='', n=0) %}{% set ns.sys, ns.n = messages[0].content, 1 %}"
                           "{{ ns.sys }}{{ ns.n }}",
    "update_kwargs_literal": "{% set d = {} %}{% set _ = d.update(**{'a': 1}) %}{{ d.a }}",
    "macro_kwargs_data": "{% macro show(m) %}{{ m.content }}{% endmacro %}{% for m in messages %}"
                         "{{ show(**{'m': m}) }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_round13_ordinary_forms_stay_clean(name: str) -> None:
    assert analyze_template(ORDINARY[name]) == [], ORDINARY[name]
