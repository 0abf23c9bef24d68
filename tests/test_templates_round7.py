"""Red team round 7 on the chat-template analysis (issue 11, class 5): 7 bypasses in 2 classes, closed as classes.

B. Single-underscore names read through item access or attribute filters were not judged: ``fmt['_environment']``
   (Jinja's getitem falls back to getattr), ``map(attribute='_x')``, ``map('attr', '_x')``, ``groupby('_x')``,
   and the environment's template API (``from_string(...).render()``) was callable. A '_' key is now judged like
   the attribute (ESCAPE_ROOT on a Jinja global or a macro, else PRIVATE_ATTR), every attribute-naming filter
   argument per dotted part, and every call of the template API is a finding.
A. Keys chosen by chat content on render data reached Python internals: two data-chosen hops
   (``m.zz|attr(p[1])|attr(p[2])``, ``g[d[1]][d[2]]``) and calls of what they reach (``x.system(...)``,
   ``ns.f(...)``). A value reached through a data-chosen key may be read as output, tested or iterated, but a
   further data-chosen key / ``|attr`` on it, or a call of it (except a few literal data methods), is a
   finding; so are calls of data fields, data keys on groupby tuples / views / items pairs, and ``|attr`` with
   a data name (the object may be an Undefined).

The PoCs are the red team's (/tmp/rt-scan7, canary path shortened); adversarial entries: template_r7_* and
gguf_template_r7_* in tests/adversarial/generate.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.scan.engine import scan_paths
from weightwarden.scan.templates import (
    BUILT_NAME,
    COMPUTED_ATTR,
    DUNDER,
    ESCAPE_ROOT,
    PRIVATE_ATTR,
    analyze_template,
)

FOUND = {COMPUTED_ATTR, BUILT_NAME, DUNDER, ESCAPE_ROOT, PRIVATE_ATTR}
MACRO = "{%- macro fmt(m) -%}<|{{ m.role }}|>{{ m.content }}{%- endmacro -%}"
SECOND = "\"{% set x = lipsum.QQglobalsQQ.os.system('touch canary') %}\"|replace('Q', '_', 4)"


def _kinds(source: str) -> set[str]:
    return {issue.kind for issue in analyze_template(source)}


def _found(source: str, kind: str | None = None) -> None:
    kinds = _kinds(source)
    assert kinds & FOUND, source
    if kind is not None:
        assert kind in kinds, (source, kinds)


def _clean(source: str) -> None:
    assert analyze_template(source) == [], source


# -- class B: underscore names through item access, attribute filters, the template API ------------------------
E1 = (MACRO + "{%- set tpl = " + SECOND + " -%}{%- set _ = fmt['_environment'].from_string(tpl).render() -%}"
      "{%- for m in messages -%}{{ fmt(m) }}{%- endfor -%}")
E2 = (MACRO + "{%- set env = [fmt]|map(attribute='_environment')|first -%}"
      "{%- set t = env.from_string(\"{{ lipsum.QQglobalsQQ.os.system('touch canary') }}\"|replace('Q', '_', 4)) -%}"
      "{%- set _ = t.render() -%}{%- for m in messages -%}{{ fmt(m) }}{%- endfor -%}")


def test_e1_item_private_environment() -> None:
    _found(E1, ESCAPE_ROOT)


def test_e2_map_attribute_private() -> None:
    _found(E2, PRIVATE_ATTR)


def test_e3_tokenizer_config(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": E1, "bos_token": "<s>"}))
    findings = scan_paths([tmp_path]).findings
    assert any(f.rule_id.startswith("WW-TPL") for f in findings)


@pytest.mark.parametrize("expr", [
    "fmt['_environment']",
    "fmt['_env' ~ 'ironment']",
    "lipsum['_x']",
    "x['_private']",
    "x['a']['_b']",
    "[fmt]|map('attr', '_environment')|first",
    "([fmt]|groupby('_environment')|first).grouper",
    "x|map(attribute='a._b')|list",
    "x|sort(attribute='_b')",
    "x|sum(attribute='_b')",
    "x|unique(attribute='_b')|list",
    "x|min(attribute='_b')",
    "x|max(attribute='_b')",
    "x|selectattr('_b')|list",
    "x|rejectattr('_b')|list",
    "x|join(',', attribute='_b')",
    "x|join(',', '_b')",
    "x|groupby('a._b')",
    "x|attr('_b')",
    "g._asdict()",
    "g._fields",
])
def test_underscore_names_are_private(expr: str) -> None:
    _found(MACRO + "{{ " + expr + " }}")


@pytest.mark.parametrize("call", [
    "x.from_string('a')", "x.render()", "x.compile('a')", "x.get_template('a')", "x.render_async()",
    "x.generate()", "x.stream()", "x.make_module()", "messages.render()",
])
def test_template_api_calls_are_findings(call: str) -> None:
    _found("{{ " + call + " }}", ESCAPE_ROOT)


def test_macro_private_is_escape_root() -> None:
    _found(MACRO + "{{ fmt._environment }}", ESCAPE_ROOT)
    _found(MACRO + "{{ fmt|attr('_environment') }}", ESCAPE_ROOT)


# -- class A: chat-chosen keys on render data ----------------------------------------------------------------
D1 = ("{%- for m in messages -%}{%- set p = m.content.split('|') -%}"
      "{%- if p|length > 5 -%}{%- set _ = (m.zz|attr(p[1])|attr(p[2]))[p[3]].modules[p[4]].system(p[5]) -%}"
      "{%- endif -%}<|{{ m.role }}|>{{ m.content }}{%- endfor -%}")
D2 = ("{%- set ns = namespace(f=none) -%}"
      "{%- if tools -%}<|tools|>{%- for t in tools -%}{{ t.function.name }}: {{ t.function.description }}"
      "{%- set d = t.function.description.split('|') -%}{%- if d|length > 7 -%}"
      "{%- for g in tools|groupby('type') -%}{%- set ns.f = g[d[1]][d[2]][d[3]][d[4]][d[5]][d[6]] -%}{%- endfor -%}"
      "{%- set _ = ns.f(d[7]) -%}{%- endif -%}{%- endfor -%}{%- endif -%}"
      "{%- for m in messages -%}<|{{ m.role }}|>{{ m.content }}{%- endfor -%}")


def test_d1_undefined_attr_hops() -> None:
    _found(D1, COMPUTED_ATTR)


def test_d2_groupby_tuple_hops() -> None:
    _found(D2, COMPUTED_ATTR)


P = "{%- for m in messages -%}{%- set p = m.content.split('|') -%}"
END = "{%- endfor -%}"


@pytest.mark.parametrize("body", [
    "{{ m[p[1]][p[2]] }}",                                    # two data-chosen hops in one chain
    "{% set q = m[p[1]] %}{{ q[p[2]] }}",                       # ... through a name
    "{% for q in m[p[1]] %}{{ q[p[2]] }}{% endfor %}",          # ... through a loop target
    "{{ (m|attr(p[1]))[p[2]] }}",                               # |attr then a key
    "{{ m[p[1]]|attr(p[2]) }}",                                 # a key then |attr
    "{{ m.zz|attr(p[1]) }}",                                    # |attr with a data name (may be Undefined)
    "{{ [m[p[1]]]|map(attribute=p[2])|list }}",                 # attribute filter on a picked value
    "{{ m[p[1]]() }}",                                          # calling a picked value
    "{{ m[p[1]].x() }}",                                        # ... a field of it
    "{{ m[p[1]].format(p[2]) }}",                               # ... format is no safe method
    "{{ m.x.system(p[1]) }}",                                   # a field of data called
    "{% set ns = namespace(f=none) %}{% set ns.f = m[p[1]] %}{{ ns.f(p[2]) }}",   # a namespace attribute
    "{% set ns = namespace(f=none) %}{% set ns.f = m.x %}{{ ns.f(p[2]) }}",       # ... holding data
    "{% macro k(a) %}{{ a[p[2]] }}{% endmacro %}{{ k(m[p[1]]) }}",                # a macro parameter
    "{% for g in messages|groupby('role') %}{{ g[p[1]] }}{% endfor %}",           # a groupby tuple
    "{% for it in m|items %}{{ it[p[1]] }}{% endfor %}",                          # an items pair
    "{{ m.items()[p[1]] }}",                                                      # a dict view
    "{{ (messages|groupby('role')|first)[p[1]] }}",
])
def test_data_chosen_hops_and_calls(body: str) -> None:
    _found(P + body + END)


@pytest.mark.parametrize("body", [
    "{{ m[p[1]] }}",                                 # one data-chosen read, output
    "{% if m[p[1]] %}x{% endif %}",                 # ... a condition
    "{% for q in m[p[1]] %}{{ q }}{% endfor %}",    # ... iterated
    "{{ m[p[1]].strip() }}",                         # a literal data method on it
    "{{ m[p[1]].get('a') }}",
    "{% for k, v in m[p[1]].items() %}{{ k }}{{ v }}{% endfor %}",
    "{{ m[p[1]].name }}",                            # a constant field of it
    "{% for k, v in m.items() %}{{ v[p[1]] }}{% endfor %}",   # a value of items() is JSON
    "{{ m.content.strip().lower() }}",
    "{% for g in messages|groupby('role') %}{{ g.grouper }}{{ g.list|length }}{% endfor %}",
])
def test_clean_shapes(body: str) -> None:
    _clean(P + body + END)
