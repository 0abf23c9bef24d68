"""Red team round 9 on the chat-template analysis (issue 11, class 5): 4 bypasses in 4 classes, closed as one.

A. ``loop.cycle(x)`` (any call returning its arguments) laundered the "picked" / not-JSON labels.
B. Attribute calls on a value not known statically passed (``loop.previtem.system(..)``,
   ``dict(**{'f': e}).f.system(..)``, ``cycler(*[x]).current.system(..)``): the round-8 proof rule covered bare
   names only, and ``_picked`` ignored ``*args`` / ``**kwargs``.
C. Container arithmetic (``[x] + []``, ``[x] * 1``) dropped both labels.
D. ``batch`` / ``slice`` were counted as keeping the element level, and bindings deeper than one level were
   skipped, so a groupby tuple reached through ``batch(1)`` counted as JSON.

Shared cause: ``_picked`` and ``_not_json`` allowed by default. Both are now deny-by-default (a value is fresh
JSON / not picked only when proven), call results carry the labels of the receiver and of every argument, and
calling an attribute of a value not known statically needs a proof. The PoCs are rebuilt here (the red team's
files are not part of the repository); adversarial entries template_r9_* in tests/adversarial/generate.py are
fired by fire.py's plain jinja2.Environment render with their trigger chats (tests/test_adversarial.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.generate import TEMPLATE_ROUND9_D1, TEMPLATE_ROUND9_D3, TEMPLATE_ROUND9_D4
from tests.template_rounds import assert_found, tokenizer_config_rules
from weightwarden.scan.templates import COMPUTED_ATTR, analyze_template

P = "{%- for m in messages -%}{%- set p = m.content.split('|') -%}"
E = "<|{{ m.role }}|>{{ m.content }}{%- endfor -%}"
G = "(messages|groupby('role')|first)"
H = ("{%- for message in messages %}<|{{ message.role }}|>{{ message.content }}\n{% endfor -%}"
     "{%- if messages -%}{%- set p = (messages|last).content.split('|') -%}")
T = "{%- endif -%}<|assistant|>\n"
# d2: two loop.cycle hops, then a safe-listed .get on a picked dict, then loop.previtem called.
D2 = (H + "{%- for _ in [0] -%}{%- set a = loop.cycle(loop.cycle(messages|groupby('role')|first)[p[1]]) -%}"
      "{%- set c = a[p[2]].get(p[3]) -%}"
      "{%- for x in [c.modules.os, 0] -%}{%- if loop.last -%}{{ loop.previtem.system(p[4]) }}{%- endif -%}"
      "{%- endfor -%}{%- endfor -%}" + T)
POCS = {"d1": TEMPLATE_ROUND9_D1, "d2": D2, "d3": TEMPLATE_ROUND9_D3, "d4": TEMPLATE_ROUND9_D4}


def _found(source: str) -> None:
    assert_found(source)


def _clean(source: str) -> None:
    assert analyze_template(source) == [], source


@pytest.mark.parametrize("name", sorted(POCS))
def test_round9_pocs_are_found(name: str) -> None:
    _found(POCS[name])


@pytest.mark.parametrize("name", sorted(POCS))
def test_round9_pocs_final_call_is_found(name: str) -> None:
    # The last hop alone (the call of what the chain reached) is a finding too, not only the data keys.
    messages = [i.message for i in analyze_template(POCS[name])]
    assert any("call of" in m for m in messages), messages


def test_d1_tokenizer_config(tmp_path: Path) -> None:
    assert "WW-TPL-002" in tokenizer_config_rules(tmp_path, TEMPLATE_ROUND9_D1)


FOUND = {
    # A: launderers (any call returning its argument)
    "a_cycle": "{%- for _ in [0] -%}{%- set a = loop.cycle(" + G + ") -%}{{ a[p[1]] }}{%- endfor -%}",
    "a_cycle_picked_key": "{%- for _ in [0] -%}{%- set a = loop.cycle(m[p[1]]) -%}{{ a[p[2]] }}{%- endfor -%}",
    "a_cycle_kw": "{%- for _ in [0] -%}{{ loop.cycle(*[m[p[1]]])[p[2]] }}{%- endfor -%}",
    "a_get_default": "{{ {}.get('x', m[p[1]])[p[2]] }}",
    "a_default_filter": "{{ (none|default(m[p[1]]))[p[2]] }}",
    "a_int_default": "{{ ('x'|int(m[p[1]]))[p[2]] }}",
    "a_sum_start": "{{ ([[m[p[1]]]]|sum(start=[]))[0][p[2]] }}",
    "a_dict_dyn_kwargs": "{{ (dict(**{'f': m[p[1]]})).f[p[2]] }}",
    "a_fromkeys": "{{ ({}.fromkeys([m[p[1]]])|first)[p[2]] }}",
    "a_setdefault": "{{ {}.setdefault('k', m[p[1]])[p[2]] }}",
    "a_host_filter": "{{ (m[p[1]]|myfilter)[p[2]] }}",
    "a_cycle_groupby": "{%- for _ in [0] -%}{{ loop.cycle(messages|groupby('role'))[0][p[1]] }}{%- endfor -%}",
    # B: calls of values not known statically
    "b_previtem": "{%- for x in [m, 0] -%}{{ loop.previtem.system(p[1]) }}{%- endfor -%}",
    "b_nextitem": "{%- for x in [0, m] -%}{{ loop.nextitem.popen(p[1]) }}{%- endfor -%}",
    "b_dict_dyn": "{{ dict(**{'f': m}).f.system(p[1]) }}",
    "b_namespace_dyn": "{{ namespace(**{'f': m}).f.system(p[1]) }}",
    "b_cycler": "{{ cycler(*[m]).current.system(p[1]) }}",
    "b_fromkeys": "{{ ({}.fromkeys([m])|first).system(p[1]) }}",
    "b_joiner": "{{ joiner(m).sep.system(p[1]) }}",
    "b_host_fn": "{{ strftime_now('%Y').zz.system(p[1]) }}",
    "b_unknown_filter": "{{ (m|myfilter).system(p[1]) }}",
    "b_picked_get": "{{ m[p[1]].get(p[2]).system(p[3]) }}",
    # C: container arithmetic
    "c_add": "{{ ([" + G + "] + [])[0][p[1]] }}",
    "c_add_left": "{{ ([] + [" + G + "])[0][p[1]] }}",
    "c_mul": "{{ ([" + G + "] * 1)[0][p[1]] }}",
    "c_mul_left": "{{ (1 * [" + G + "])[0][p[1]] }}",
    "c_tuple_add": "{{ ((" + G + ",) + ())[0][p[1]] }}",
    "c_picked_add": "{{ ([m[p[1]]] + [])[0][p[2]] }}",
    "c_picked_mul_call": "{{ ([m[p[1]]] * 1)[0](p[2]) }}",
    "c_or": "{{ (none or [" + G + "])[0][p[1]] }}",
    "c_nested": "{{ ([[" + G + "]] + [])[0][0][p[1]] }}",
    "c_slice": "{{ ([" + G + "] + [])[0:1][0][p[1]] }}",
    "c_dict_key": "{{ ({" + G + ": 1}|first)[p[1]] }}",
    "c_list_filter": "{{ ([" + G + "]|list|reverse|first)[p[1]] }}",
    "c_unique": "{{ ([" + G + "]|unique|first)[p[1]] }}",
    # B, arguments: a picked value given to a method that may call it; varargs / kwargs hold what callers pass
    "b_sort_key": "{{ [p[2]].sort(key=m[p[1]]) }}",
    "b_translate": "{{ p[2].translate(m[p[1]]) }}",
    "b_varargs_pop": "{%- macro f() -%}{{ varargs[0].pop() }}{%- endmacro -%}{{ f(m[p[1]]) }}",
    "b_kwargs_update": "{%- macro f() -%}{{ kwargs.x.update(p) }}{%- endmacro -%}{{ f(x=m[p[1]]) }}",
    # B, stored: a picked value put into a container by a method would come back out unlabelled
    "b_append": "{%- set l = [] -%}{%- set _ = l.append(m[p[1]]) -%}{{ (l|first).pop() }}",
    "b_insert": "{%- set l = [] -%}{%- set _ = l.insert(0, m[p[1]]) -%}{{ l[0] }}",
    "b_extend": "{%- set l = [] -%}{%- set _ = l.extend([m[p[1]]]) -%}{{ l[0] }}",
    "b_update": "{%- set d = {} -%}{%- set _ = d.update({'k': m[p[1]]}) -%}{{ d.k }}",
    "b_setdefault": "{%- set d = {} -%}{%- set _ = d.setdefault('k', m[p[1]]) -%}{{ d.k }}",
    "b_ns_append": "{%- set ns = namespace(l=[]) -%}{%- set _ = ns.l.append(m[p[1]]) -%}{{ ns.l[0] }}",
    # D: levels
    "d_batch": "{%- for k in messages|groupby('role')|batch(1) -%}{{ k[0][p[1]] }}{%- endfor -%}",
    "d_slice": "{%- for k in messages|groupby('role')|slice(1) -%}{{ k[0][p[1]] }}{%- endfor -%}",
    "d_batch_first": "{{ (messages|groupby('role')|batch(1)|first|first)[p[1]] }}",
    "d_groupby_groupby": "{%- for k, g in messages|groupby('role')|groupby('grouper') -%}{{ g[0][p[1]] }}{%- endfor -%}",
    "d_groupby_groupby_first": "{%- for k, g in messages|groupby('role')|groupby('grouper') -%}{{ (g|first)[p[1]] }}{%- endfor -%}",
    "d_batch_pairs": "{%- for k, g in messages|groupby('role')|batch(1) -%}{{ k[p[1]] }}{%- endfor -%}",
    "d_nested_for": "{%- for k in [[" + G + "]] -%}{%- for j in k -%}{{ j[p[1]] }}{%- endfor -%}{%- endfor -%}",
    "d_items_batch": "{%- for k in m.items()|batch(1) -%}{{ k[0][p[1]] }}{%- endfor -%}",
    "d_items_list": "{{ (m.items()|list|first)[p[1]] }}",
    "d_group_list": "{%- for g in messages|groupby('role') -%}{{ g.list[0][p[1]] }}{%- endfor -%}",
}


CLEAN = {
    "cycle_strings": "{%- for x in messages -%}{{ loop.cycle('odd', 'even') }}{%- endfor -%}",
    "previtem_read": "{%- for x in messages -%}{% if loop.previtem %}{{ loop.previtem.role }}{% endif %}{%- endfor -%}",
    "nextitem_read": "{%- for x in messages -%}{% if loop.nextitem and loop.nextitem.role == 'user' %}x{% endif %}{%- endfor -%}",
    "previtem_strip": "{%- for x in messages -%}{{ loop.previtem.content.strip() if loop.previtem }}{%- endfor -%}",
    "list_add_data": "{{ (messages + [])[0][p[0]] }}",
    "list_mul": "{{ ([m] * 2)[0].role }}",
    "batch_read": "{%- for b in messages|batch(2) -%}{{ b[0].content }}{%- endfor -%}",
    "items_kv": "{%- for k, v in m.items() -%}{{ v[p[0]] }}{%- endfor -%}",
    "string_methods": "{{ (m.content|string).split(',')[0].strip() }}",
    "join_unknown": "{{ (m.content|trim).replace('a', 'b').lower() }}",
    "ns_append": "{%- set ns = namespace(l=[]) -%}{%- set _ = ns.l.append(m.content) -%}{{ ns.l|length }}",
    "tojson": "{{ m|tojson }}",
    "macro_call": "{%- macro f(x) -%}{{ x.content }}{%- endmacro -%}{{ f(m) }}",
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_class_variants_are_found(name: str) -> None:
    """a_*: calls that return their arguments; b_*: attribute calls on values not known statically; c_*:
    container operators and filters; d_*: levels (batch/slice add one, nested bindings, groupby of groupby)."""
    _found(P + FOUND[name] + E)


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_ordinary_forms_stay_clean(name: str) -> None:
    _clean(P + CLEAN[name] + E)


@pytest.mark.parametrize("start, found", [("messages", False), (G, True)])
def test_chains_of_names_are_judged_once(start: str, found: bool) -> None:
    # set a1 = [a0, a0] ... a40: both predicates walked every path (4**40 on the round-8 code, a hang); now each
    # (node, level) is judged once. No bound is hit, and the label still reaches the end of the chain.
    chain = "".join(f"{{%- set a{i} = [a{i - 1}, a{i - 1}] -%}}" for i in range(1, 41))
    source = P + "{%- set a0 = " + start + " -%}" + chain + "{{ a40[0][p[1]] }}" + E
    issues = analyze_template(source)
    assert not any("bounds" in i.message for i in issues), issues
    assert (COMPUTED_ATTR in {i.kind for i in issues}) is found, issues


def test_names_bound_through_each_other_keep_the_label() -> None:
    # A cycle of names (b = c, c = b) with the picked value bound last: the walk meets b again while it is in
    # progress; the cycle's root settles it, so c and b are both picked wherever they are read.
    source = P + "{%- set b = c -%}{%- set c = b -%}{%- set b = m[p[1]] -%}\n{{ c[p[2]] }}\n{{ b[p[3]] }}" + E
    flagged = {i.line for i in analyze_template(source) if "render data" in i.message}
    assert flagged >= {2, 3}, flagged
