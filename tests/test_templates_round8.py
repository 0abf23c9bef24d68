"""Red team round 8 on the chat-template analysis (issue 11, class 5): 4 bypasses in 2 classes, closed as classes.

A. "Picked" / not-JSON labels were lost through template-built containers (``[g]``, ``(g, 1)``, ``batch``,
   ``{'f': g}``, ``dict(f=g)``) and a data-valued dotted ``map(attribute=<chat>)`` made any number of
   chat-chosen hops in one step (make_attrgetter does one getitem per '.'). Containers, dict() values and
   selections now carry the labels of what was put in; a data-valued attribute-naming filter argument is a
   finding outright (real templates use constant attribute names).
B. Values with no model (recursive-loop targets, parameters of a macro used through an alias, caller args)
   read as empty, so calls of them passed, and inside a nested macro they read as plain DATA. Such a binding is
   now unknown (never empty) and counts as picked; a call of a template-bound name whose value is unknown or
   empty needs a proof (every binding names a macro of the template).

The PoCs are the red team's (/tmp/rt-scan8); adversarial entries: template_r8_* in tests/adversarial/generate.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.scan.engine import scan_paths
from weightwarden.scan.templates import COMPUTED_ATTR, analyze_template

P = "{%- for m in messages -%}{%- set p = m.content.split('|') -%}"
E = "<|{{ m.role }}|>{{ m.content }}{%- endfor -%}"
G = "(messages|groupby('role')|first)"

A1 = (P + "{%- if p|length > 2 -%}{%- set d = dict(f=" + G + ") -%}"
      "{%- for f in [d.f]|map(attribute=p[1]) recursive -%}{%- set _ = f(p[2]) -%}{%- endfor -%}{%- endif -%}" + E)
W3 = ("{{- bos_token -}}" + P + "{%- if p|length > 2 -%}{%- set g = messages|groupby('role')|first -%}"
      "{%- for f in [g]|map(attribute=p[1]) recursive -%}{{ f.system(p[2]) }}{%- endfor -%}{%- endif -%}" + E)
B1 = ("{%- macro run(x, a) -%}{{ x(a) }}{%- endmacro -%}{%- set go = run -%}" + P + "{%- if p|length > 2 -%}"
      "{{- go([messages|groupby('role')|first]|map(attribute=p[1])|first, p[2]) -}}{%- endif -%}" + E)
C1 = (P + "{%- if p|length > 6 -%}"
      "{%- for f in [m[p[1]]] recursive -%}{%- for r in [f(2)] recursive -%}"
      "{%- macro k3() -%}{%- for g in [r[0][p[2]]] recursive -%}"
      "{%- macro k4() -%}{%- for b in [g[p[3]]] recursive -%}"
      "{%- macro k5() -%}{%- for i in [b[p[4]]] recursive -%}{{ i(p[5]).system(p[6]) }}{%- endfor -%}"
      "{%- endmacro -%}{{ k5() }}{%- endfor -%}{%- endmacro -%}{{ k4() }}"
      "{%- endfor -%}{%- endmacro -%}{{ k3() }}{%- endfor -%}{%- endfor -%}{%- endif -%}" + E)


def _found(source: str) -> None:
    kinds = {issue.kind for issue in analyze_template(source)}
    assert COMPUTED_ATTR in kinds, source


def _clean(source: str) -> None:
    assert analyze_template(source) == [], source


@pytest.mark.parametrize("source", [A1, W3, B1, C1], ids=["a1", "w3", "b1", "c1"])
def test_round8_pocs_are_found(source: str) -> None:
    _found(source)


def test_pocs_match_the_red_team_files() -> None:
    # The red team's files, where present (they are not part of the repository).
    for name, source in (("a1", A1), ("b1", B1), ("c1", C1), ("w3", W3)):
        path = Path(f"/tmp/rt-scan8/{name}.jinja")
        if path.exists():
            _found(path.read_text(encoding="utf-8"))
        _found(source)


def test_w3_tokenizer_config(tmp_path: Path) -> None:
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": "<s>", "eos_token": "</s>", "chat_template": W3}), encoding="utf-8")
    findings = scan_paths([tmp_path]).findings
    assert any(f.rule_id.startswith("WW-TPL") for f in findings)


# -- class A: containers, dict(), batch, dotted data attribute= ---------------------------------------------------
@pytest.mark.parametrize("expr", [
    "((g, 1)|first)[p[1]]",
    "([g]|first)[p[1]]",
    "([g]|batch(1)|first|first)[p[1]]",
    "({'f': g}).f[p[1]]",
    "dict(f=g).f[p[1]]",
    "(dict(f=g)['f'])[p[1]]",
    "[g]|map(attribute=p[1])|first",
    "[g]|selectattr(p[1])|list",
    "messages|map(attribute=p[1])|first",
    "messages|sort(attribute=p[1])|first",
    "messages|groupby(p[1])|first",
    "(messages|map(attribute=p[1])|first).get(p[2])",
])
def test_class_a_containers_keep_not_json(expr: str) -> None:
    _found(P + "{%- set g = " + G + " -%}{{ " + expr + " }}" + E)


@pytest.mark.parametrize("expr", [
    "dict(f=m[p[1]]).f[p[2]]",
    "dict(f=m[p[1]]).f(p[2])",
    "[m[p[1]]][0][p[2]]",
])
def test_class_a_picked_through_dict_and_lists(expr: str) -> None:
    _found(P + "{{ " + expr + " }}" + E)


@pytest.mark.parametrize("expr", [
    "g.grouper", "g.list|length", "g[0]", "[m][0][p[0]]", "dict(f=m).f[p[0]]",
    "messages|map(attribute='content')|join", "messages|selectattr('role', 'equalto', 'user')|list|length",
])
def test_class_a_ordinary_reads_stay_clean(expr: str) -> None:
    _clean(P + "{%- set g = " + G + " -%}{{ " + expr + " }}" + E)


# -- class B: values with no model ----------------------------------------------------------------------------
@pytest.mark.parametrize("source", [
    P + "{%- for f in [m] recursive -%}{{ f(p[1]) }}{%- endfor -%}" + E,  # calling render data itself
    P + "{%- for f in [m] recursive -%}{{ f[p[1]][p[2]] }}{%- endfor -%}" + E,
    P + "{%- for f in [m[p[1]]] recursive -%}{%- macro k() -%}{{ f[p[2]] }}{%- endmacro -%}{{ k() }}{%- endfor -%}" + E,
    P + "{%- for f in [m[p[1]]] recursive -%}{%- macro k() -%}{{ f(1) }}{%- endmacro -%}{{ k() }}{%- endfor -%}" + E,
    "{%- macro run(x, a) -%}{{ x(a) }}{%- endmacro -%}{%- set go = run -%}{{ go(messages, 1) }}",
    "{%- macro run(x) -%}{{ x[messages[0].content] }}{%- endmacro -%}{%- set go = run -%}{{ go(messages) }}",
    "{%- macro w() -%}{{ caller(1) }}{%- endmacro -%}{%- call(f) w() -%}{{ f(messages[0].content) }}{%- endcall -%}",
])
def test_class_b_unmodelled_values_are_not_callable(source: str) -> None:
    _found(source)


@pytest.mark.parametrize("source", [
    "{%- macro run(x) -%}<{{ x }}>{%- endmacro -%}{%- set go = run -%}{{ go(messages) }}",
    "{%- macro run(x) -%}<{{ x }}>{%- endmacro -%}{%- set go = run -%}{%- set gg = go -%}{{ gg(1) }}",
    "{%- for m in messages recursive -%}{{ m.content }}{%- if m.children -%}{{ loop(m.children) }}{%- endif -%}"
    "{%- endfor -%}",
])
def test_class_b_ordinary_forms_stay_clean(source: str) -> None:
    _clean(source)
