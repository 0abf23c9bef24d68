"""Red team round 10 on the chat-template analysis (issue 11, class 5): 2 bypasses in 4 classes, closed as classes.

A. A macro (or block) name with any other binding (a dead ``{% for m in [] %}``, a set in ``{% if false %}``, a
   macro default) was read as render data: its free value is the macro object, in every predicate.
B. ``caller()`` laundered "picked": ``caller=`` on a macro call was not an argument, the result of calling
   ``caller`` (or any callee not proven) was an unpicked unknown, and ``d.get(k)`` with a chat key was a method,
   not ``d[k]``.
C. A namespace attribute named like a JSON method (``ns.index(...)``) was callable whatever it held.
D. ``loop`` outside an enclosing ``{% for %}`` body (a render argument clients may pass) had numeric fields.

Shared cause: the labels were carried only through channels the binder models; every unlisted channel now
gives an unknown / picked value (see docs/decisions.md). The PoCs are rebuilt here; the adversarial entries
template_r10_* in tests/adversarial/generate.py are fired by fire.py's plain jinja2.Environment render.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.generate import TEMPLATE_ROUND10_A1, TEMPLATE_ROUND10_D1
from tests.template_rounds import assert_found, tokenizer_config_rules
from weightwarden.scan.templates import analyze_template

H = ("{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}"
     "{%- set p = (messages|last).content.split('|') -%}")
M = "{%- macro m() %}{% endmacro -%}"
POCS = {"a1": TEMPLATE_ROUND10_A1, "d1": TEMPLATE_ROUND10_D1}

VARIANTS = {
    # A: a macro / block name with another binding is still that object where no binding reaches the read.
    "a_dead_for": H + M + "{%- for m in [] %}{% endfor -%}{{ m[p[1]] }}",
    "a_set_in_if_false": H + M + "{%- if false %}{% set m = messages %}{% endif -%}{{ m[p[1]] }}",
    "a_macro_default": H + M + "{%- macro o(m=messages) %}{% endmacro -%}{{ m[p[1]] }}",
    "a_with": H + M + "{%- with m = messages %}{% endwith -%}{{ m[p[1]] }}",
    "a_set_in_macro": H + M + "{%- macro o() %}{% set m = messages %}{% endmacro -%}{{ m[p[1]] }}",
    "a_in_container": H + M + "{%- for m in [] %}{% endfor -%}{%- set x = [m] -%}{{ x[0][p[1]] }}",
    "a_via_name": H + M + "{%- for m in [] %}{% endfor -%}{%- set y = m -%}{{ y[p[1]] }}",
    "a_attr_filter": H + M + "{%- for m in [] %}{% endfor -%}{{ m|attr(p[1]) }}",
    "a_block": H + "{%- block b %}{% endblock -%}{%- for b in [] %}{% endfor -%}{{ b[p[1]] }}",
    "a_uncalled_param": H + "{%- macro o(q) %}{{ q[p[1]] }}{% endmacro -%}",
    # B: caller= is an argument, caller() / unproven callees give picked values, .get(k) with a chat key is [k].
    "b_caller_keyword": H + M + "{%- macro run() %}{{ caller() }}{% endmacro -%}{{ run(caller=cycler) }}",
    "b_caller_keyword_picked": H + "{%- macro run() %}{{ caller() }}{% endmacro -%}{{ run(caller=messages[p[1]]) }}",
    "b_caller_result_keyed": H + "{%- macro run(k) %}{{ caller().get(k) }}{% endmacro -%}"
                             "{%- call run(p[1]) %}x{% endcall -%}",
    "b_caller_result_to_sort": H + "{%- macro run(k) %}{{ [k].sort(key=caller()) }}{% endmacro -%}"
                               "{%- call run(p[1]) %}x{% endcall -%}",
    "b_get_on_global": H + "{%- macro r(d, k) %}{{ d.get(k) }}{% endmacro -%}{{ r(cycler, p[1]) }}",
    "b_pop_on_global": H + "{%- macro r(d, k) %}{{ d.pop(k) }}{% endmacro -%}{{ r(joiner, p[1]) }}",
    "b_setdefault_on_macro": H + M + "{{ m.setdefault(p[1]) }}",
    "b_get_result_picked": H + "{{ [p[2]].sort(key=(messages|last).get(p[1])) }}",
    "b_host_function_result": H + "{{ [p[2]].sort(key=host_function()) }}",
    "b_varargs_item_to_sort": H + "{%- macro r() %}{{ [p[2]].sort(key=varargs[0]) }}{% endmacro -%}{{ r(1) }}",
    "b_kwargs_item_to_sort": H + "{%- macro r() %}{{ [p[2]].sort(key=kwargs.f) }}{% endmacro -%}{{ r(f=1) }}",
    # C: a namespace's (or a dict's) attribute is what was stored in it, whatever its name.
    "c_minimal": "{% set ns = namespace() %}{% set ns.split = lipsum %}{{ ns.split(1) }}",
    "c_index": "{% set ns = namespace(index=none) %}{% set ns.index = cycler %}{{ ns.index(1) }}",
    "c_count_kw": "{{ namespace(count=lipsum).count(1) }}",
    "c_get": "{% set ns = namespace() %}{% set ns.get = joiner %}{{ ns.get(1) }}",
    "c_through_param": "{% macro s(n) %}{{ n.strip(1) }}{% endmacro %}{% set ns = namespace(strip=lipsum) %}"
                       "{{ s(ns) }}",
    "c_dict_item": "{% set d = {'index': cycler} %}{{ d.index(1) }}",
    "c_dict_call_item": "{{ dict(split=lipsum).split(1) }}",
    "c_appended_namespace": "{% set ns = namespace(split=lipsum) %}{% set l = [] %}{% set _ = l.append(ns) %}"
                            "{% for x in l %}{{ x.split(1) }}{% endfor %}",
    "c_caller_receiver": "{% macro r() %}{{ caller().split(1) }}{% endmacro %}{% call r() %}x{% endcall %}",
    # D: loop outside an enclosing for body is the client's render argument.
    "d_top_level": "{{ cycler[loop.index] }}",
    "d_in_macro": "{% for x in messages %}{% macro q() %}{{ cycler[loop.index] }}{% endmacro %}{{ q() }}{% endfor %}",
    "d_in_call_block": "{% macro r() %}{{ caller() }}{% endmacro %}{% for x in messages %}"
                       "{% call r() %}{{ cycler[loop.index0] }}{% endcall %}{% endfor %}",
    "d_in_for_iter": "{% for x in cycler[loop.index] %}{% endfor %}",
    "d_in_for_else": "{% for x in messages %}{% else %}{{ joiner[loop.index] }}{% endfor %}",
    "d_getattr_chain": "{{ lipsum[loop.length][loop.first] }}",
    "d_sort_key": TEMPLATE_ROUND10_D1.replace("cycler", "joiner"),
}

ORDINARY = {
    "call_block": "{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}{{ messages[0].content }}{% endcall %}",
    "loop_index_key": "{% for m in messages %}{{ messages[loop.index0 - 1].role if not loop.first }}{% endfor %}",
    "loop_in_macro_loop": "{% macro r(xs) %}{% for x in xs %}{{ xs[loop.index0] }}{% endfor %}{% endmacro %}"
                          "{{ r(messages) }}",
    "get_on_data": "{% for m in messages %}{{ m.get('content') }}{{ m.get(m.role) }}{% endfor %}",
    "namespace_macro": "{% macro f() %}x{% endmacro %}{% set ns = namespace(f=f) %}{{ ns.f() }}",
    "namespace_list": "{% set ns = namespace(ids=[]) %}{% set _ = ns.ids.append('a') %}{{ ns.ids.pop(0) }}",
    "dict_method": "{% set d = {'a': 1} %}{% for k, v in d.items() %}{{ k }}{% endfor %}",
    "macro_called": "{% macro m(x) %}{{ x.strip() }}{% endmacro %}{% for m2 in [] %}{% endfor %}{{ m(messages[0].content) }}",
    "split_text_param": "{% macro t(text) %}{% set text = text|string %}{{ text.split('|') }}{% endmacro %}"
                        "{{ t(messages[0].content) }}",
    "appended_strings": "{% set l = [] %}{% for m in messages %}{% set _ = l.append(m.content) %}{% endfor %}"
                        "{% for x in l %}{{ x.strip() }}{% endfor %}",
}


def _found(source: str) -> None:
    assert_found(source)


@pytest.mark.parametrize("name", sorted(POCS))
def test_round10_pocs_are_found(name: str) -> None:
    _found(POCS[name])


def test_a1_each_class_is_found_on_its_own() -> None:
    # a1 needs A, B and C together; each link is reported by the rule of its class.
    messages = " | ".join(i.message for i in analyze_template(TEMPLATE_ROUND10_A1))
    assert "render data on an object that is not render data" in messages  # A: m[p[1]]
    assert "caller=" in messages and "'caller'" in messages  # B: caller= and caller()
    assert "'.get()' with a key from the render data" in messages  # B: d.get(k2)
    assert "call of '.index'" in messages and "call of '.count'" in messages  # C


def test_a1_tokenizer_config(tmp_path: Path) -> None:
    assert "WW-TPL-002" in tokenizer_config_rules(tmp_path, TEMPLATE_ROUND10_A1)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_class_variants_are_found(name: str) -> None:
    _found(VARIANTS[name])


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_ordinary_forms_stay_clean(name: str) -> None:
    assert analyze_template(ORDINARY[name]) == [], ORDINARY[name]


def test_hostile_sizes_do_not_hang() -> None:
    # Many macros, each with a dead binding and a caller= call, and namespaces storing each other: the walk is
    # memoised; past MAX_STEPS the answer is a finding, never a hang (no timing asserted).
    parts = [f"{{% macro m{i}() %}}{{{{ caller() }}}}{{% endmacro %}}{{% for m{i} in [] %}}{{% endfor %}}"
             f"{{% set ns{i} = namespace(index=ns{i - 1 if i else 0}) %}}{{{{ m{i}(caller=m{max(i - 1, 0)}) }}}}"
             for i in range(150)]
    assert isinstance(analyze_template("".join(parts)), list)
    # Many containers changed in place, each appended to the last: their elements are judged through one union
    # of what the mutating calls store (no longer one walk per container).
    chain = "{% set l = [] %}" + "".join(
        f"{{% set x{i} = l %}}{{% set _ = x{i}.append(x{max(i - 1, 0)}) %}}{{% for y{i} in x{i} %}}"
        f"{{{{ y{i}.split(1) }}}}{{% endfor %}}" for i in range(300))
    assert analyze_template(chain) == []
