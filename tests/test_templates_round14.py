"""Red team round 14 on chat templates (report: issues/rt-scan-round14.md): two more channels the alias pass in
``_mutations`` did not enumerate while the label walk did — a macro parameter's default (``m(d=messages|last)``,
``m(x, d=x)``) and ``loop.previtem`` / ``loop.nextitem`` (elements of the loop's iterable). Render data changed
through them stayed "unchanged JSON", so the round-13 tail (JSON method names called on it) passed."""

from __future__ import annotations

import pytest

from tests.test_templates_round13 import HEAD, WALK
from weightwarden.scan.templates import analyze_template

# `d` is messages[-1] through each entry; its bound update is used as a sort key (it puts a namespace holding
# lipsum into the message), then round 13's WALK takes chat keys to os.system.
TAIL = WALK
BODY = ("{%- set h = namespace(count=d.update) -%}{%- set c1 = [{'fn': h, 'content': lipsum}] -%}"
        "{%- if c1.sort(key=d.update) %}{% endif -%}")

ENTRIES = {
    "a1_macro_default": "{%- macro m(d=messages|last) -%}" + BODY + "{%- endmacro -%}{{- m() -}}",
    "a4_default_names_a_parameter": "{%- macro m(x, d=x) -%}" + BODY + "{%- endmacro -%}{{- m(messages|last) -}}",
    "a2_loop_previtem": "{%- for mm in [messages|last, 0] -%}{%- if loop.last -%}{%- set d = loop.previtem -%}"
                        + BODY + "{%- endif -%}{%- endfor -%}",
    "loop_nextitem": "{%- for mm in [0, messages|last] -%}{%- if loop.first -%}{%- set d = loop.nextitem -%}"
                     + BODY + "{%- endif -%}{%- endfor -%}",
    "default_of_a_default": "{%- macro m(x=messages|last, d=x) -%}" + BODY + "{%- endmacro -%}{{- m() -}}",
}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_round14_channels_are_found(name: str) -> None:
    src = HEAD + ENTRIES[name] + TAIL
    assert analyze_template(src), src


ORDINARY = {
    "macro_default_text": "{% macro show(m, sep='\\n') %}{{ m.content }}{{ sep }}{% endmacro %}"
                          "{% for m in messages %}{{ show(m) }}{% endfor %}",
    "previtem_role": "{% for m in messages %}{% if loop.previtem and loop.previtem.role == m.role %}"
                     "{{ raise_exception('roles must alternate') }}{% endif %}{{ m.content }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(ORDINARY))
def test_round14_ordinary_forms_stay_clean(name: str) -> None:
    assert analyze_template(ORDINARY[name]) == [], ORDINARY[name]
