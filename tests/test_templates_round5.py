"""Red team round 5 on the chat-template analysis (issue 11, class 5): 22 bypasses in 7 classes, closed as classes.

The walker trusted its labels (number, data, the empty set, a name's bindings). It now proves a key, attribute
name or format field only from an allow-list: exact folds of constants (Markup never folded), values read from
a truly free render name, or operations proven to return a number. Each PoC below is the red team's, with the
canary path shortened; variants per class check that the class, not the PoC, is closed. The PoCs that run a
canary under a plain render are also adversarial entries (tests/adversarial/generate.py, TEMPLATE_ROUND5).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from weightwarden.scan import templates
from weightwarden.scan.engine import scan_paths
from weightwarden.scan.templates import BUILT_NAME, COMPUTED_ATTR, DUNDER, ESCAPE_ROOT, analyze_template

FOUND = {COMPUTED_ATTR, BUILT_NAME, DUNDER, ESCAPE_ROOT}
U = "{%- set u = '%c%c'|format(95,95) ~ 'globals' ~ '%c%c'|format(95,95) -%}"
N = "115298485507474029058154335"  # int.from_bytes(b'__globals__', 'big')
SYS = ".os.system('touch canary')"


def _kinds(source: str) -> set[str]:
    return {issue.kind for issue in analyze_template(source)}


def _found(source: str) -> None:
    assert _kinds(source) & FOUND, source


POCS = {
    # A: results labelled "number" that are containers; the empty set counted as proven.
    "s1": U + "{%- set k = ({u: 1}.keys() - ())|first -%}{{- (lipsum|attr(k))['os'].system('touch canary') -}}",
    "s1b": U + "{%- for k in dict.fromkeys([u]).items() - [] -%}{{- lipsum[k[0]]" + SYS + " -}}{%- endfor -%}",
    # B: template-built values labelled render data.
    "s2": "{%- set k = (nothing_here or " + N + ").to_bytes(11, 'big').decode() -%}{{- (lipsum|attr(k))" + SYS + " -}}",
    "s2b": "{%- set k = (" + N + ").real.to_bytes(11, 'big').decode() -%}{{- (lipsum|attr(k))" + SYS + " -}}",
    "s2c": "{%- set k = (bos_token_id|default(" + N + ")).to_bytes(11, 'big').decode() -%}{{- lipsum[k]" + SYS + " -}}",
    # C: mutation through receivers that are expressions, varargs / kwargs, call-block arguments.
    "s3": "{%- set l = ['x'] -%}{%- set _ = (l|default([])).append('_') -%}"
          "{%- set k = l[1] ~ l[1] ~ 'globals' ~ l[1] ~ l[1] -%}{{- lipsum[k]['os'].system('touch canary') -}}",
    "s3b": "{%- set l = ['x'] -%}{%- set _ = (l if true else none).append('_') -%}"
           "{{- lipsum[l[1] * 2 ~ 'globals' ~ l[1] * 2]" + SYS + " -}}",
    "s3c": "{%- set l = ['x'] -%}{%- set _ = (l or 0).extend('_') -%}{{- lipsum[l[1] * 2 ~ 'globals' ~ l[1] * 2]" + SYS + " -}}",
    "s4": "{%- macro m() -%}{%- set _ = varargs[0].append('_') -%}{%- endmacro -%}{%- set l = ['x'] -%}{{- m(l) -}}"
          "{{- lipsum[l[1] * 2 ~ 'globals' ~ l[1] * 2]" + SYS + " -}}",
    "s4b": "{%- macro m() -%}{%- set _ = kwargs.z.append('_') -%}{%- endmacro -%}{%- set l = ['x'] -%}{{- m(z=l) -}}"
           "{{- lipsum[l[1] * 2 ~ 'globals' ~ l[1] * 2]" + SYS + " -}}",
    "s4c": "{%- macro m(a) -%}{{- caller(a|first) -}}{%- endmacro -%}{%- set l = ['x'] -%}"
           "{%- call(x) m([l]) -%}{%- set _ = x.append('_') -%}{%- endcall -%}"
           "{{- lipsum[l[1] * 2 ~ 'globals' ~ l[1] * 2]" + SYS + " -}}",
    # D: folds that ignore Markup's escaping.
    "s5": "{%- set k = (('x'|safe) + '<__globals__')[5:] -%}{{- lipsum[k]" + SYS + " -}}",
    "s5b": "{%- set k = ('%s'|safe) % '\"__globals__' -%}{{- lipsum[k[5:]]" + SYS + " -}}",
    "s5c": "{%- set k = ('x'|safe).replace('x', '<__globals__')[4:] -%}{{- lipsum[k]" + SYS + " -}}",
    # E: join's attribute given positionally (a read-only leak: str(os module) in the output).
    "s6": "{%- set k = '%c%c'|format(95,95) ~ 'globals' ~ '%c%c'|format(95,95) ~ '.os' -%}"
          "{{- 'LEAK: ' ~ ([lipsum]|join('', k))[:60] -}}",
    # G: "number" filters that return their default.
    "s8": U + "{{- lipsum['x'|int(u)]['os'].system('touch canary') -}}",
    "s8b": U + "{{- (lipsum|attr('x'|float(default=u)))" + SYS + " -}}",
}


@pytest.mark.parametrize("name", sorted(POCS))
def test_round5_pocs_are_found(name: str) -> None:
    _found(POCS[name])


# tokenizer_config.json PoCs (class F and D; g2 is s2 as a GGUF template, see the adversarial entry).
CONFIGS = {
    "tc5": {"chat_template": POCS["s5"], "bos_token": "<s>", "eos_token": "</s>"},
    "tc7": {"chat_template": "{%- macro unused() -%}{%- set bos_token = 'bos' -%}{%- set eos_token = 'eos' -%}"
                             "{%- endmacro -%}{{- lipsum[bos_token][eos_token].system('touch canary') -}}",
            "bos_token": "__globals__", "eos_token": "os"},
    "tc7b": {"chat_template": "{%- if false -%}{%- set bos_token = 'bos' -%}{%- set eos_token = 'eos' -%}{%- endif -%}"
                              "{{- lipsum[bos_token][eos_token].system('touch canary') -}}",
             "bos_token": "__globals__", "eos_token": "os"},
    "tc7c": {"chat_template": "{%- set bos_token = bos_token -%}{%- set eos_token = eos_token -%}"
                              "{{- lipsum[bos_token][eos_token].system('touch canary') -}}",
             "bos_token": "__globals__", "eos_token": "os"},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_round5_tokenizer_configs_are_found(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps(CONFIGS[name]), encoding="utf-8")
    report = scan_paths([str(folder)], workers=1)
    assert {f.rule_id for f in report.findings} & {"WW-TPL-001", "WW-TPL-002", "WW-TPL-003", "WW-TPL-004"}
    _found(CONFIGS[name]["chat_template"])  # the template alone too, whatever the tokens are


def test_dangerous_special_token_is_a_finding_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = {"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}",
              "bos_token": {"content": "__globals__", "special": True}, "eos_token": "</s>",
              "additional_special_tokens": ["<x>", "f_globals"]}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    findings = scan_paths([str(tmp_path)], workers=1).findings
    flagged = [f for f in findings if f.rule_id == "WW-TPL-001"]
    assert len(flagged) == 2, [(f.rule_id, f.message) for f in findings]
    config.update(bos_token="<s>", additional_special_tokens=["<x>"])
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    assert not scan_paths([str(tmp_path)], workers=1).findings


# -- class A: a number only from numbers; the empty set is not proven -------------------------------------------

@pytest.mark.parametrize("source", [
    U + "{% set k = ({u: 1}.keys() | list - []) %}{{ lipsum[k] }}",
    U + "{% set k = ({u: 1}.keys() ^ ())|first %}{{ lipsum[k] }}",  # ^ is no Jinja operator: parse error
    U + "{% for k in {u: 1}.keys() - () %}{{ lipsum[k] }}{% endfor %}",
    U + "{% set k = ([u] * 1)|first %}{{ lipsum[k] }}",
    U + "{% set k = -{u: 1} %}{{ lipsum[k] }}",
    "{% set k = (5)[0] %}{{ lipsum[k] }}",  # the elements of a number: nothing known, so not proven
    "{% set ns = namespace() %}{{ lipsum[ns.nothing] }}",
])
def test_class_a_number_labels_and_empty_sets(source: str) -> None:
    assert _kinds(source) & (FOUND | {templates.PARSE_ERROR})


def test_class_a_numbers_from_numbers_and_data_stay_clean() -> None:
    assert not analyze_template(
        "{% set ns = namespace(i=0) %}{% for m in messages %}{{ messages[ns.i - 1] }}{% set ns.i = ns.i + 1 %}"
        "{{ messages[loop.index0 - 1] }}{{ messages[(messages|length) // 2] }}{{ messages[-1] }}{% endfor %}"
        "{% for idx in range(messages|length - 1, -1, -1) %}{{ messages[idx]['role'] }}{{ messages[idx + 1] }}{% endfor %}")


# -- class B: data only from free names through reads and allow-listed operations -------------------------------

@pytest.mark.parametrize("source", [
    "{% set k = (x or " + N + ").to_bytes(11, 'big').decode() %}{{ lipsum[k] }}",
    "{% set k = (x|default(" + N + ")).to_bytes(11, 'big').decode() %}{{ lipsum|attr(k) }}",
    "{% set k = (" + N + ").numerator.to_bytes(11, 'big').decode() %}{{ lipsum[k] }}",
    "{% set k = ('x').upper %}{{ lipsum[k] }}",
    "{% set k = (x or 1.5).hex() %}{{ lipsum[k] }}",
    "{% set k = messages[0].content.encode().decode() %}{{ lipsum[k] }}",  # a method not on the allow-list
    "{% set k = x|myfilter %}{{ lipsum[k] }}",  # a filter the host added: not Jinja's
])
def test_class_b_template_built_values_are_not_data(source: str) -> None:
    _found(source)


def test_class_b_data_methods_stay_clean() -> None:
    # Round 6 narrowed "data" to selection: .strip() and |lower of data build new text and are no proven keys
    # any more (see tests/test_templates_round6.py); split at a constant separator, get, startswith stay.
    assert not analyze_template(
        "{% for m in messages %}{% set c = m.content.split('</think>')[-1] %}{{ tools[c] }}"
        "{% if m.content.startswith('x') %}{{ m.get('role') }}{% endif %}{{ names[m.role] }}{% endfor %}")
    _found("{% for m in messages %}{{ names[m.role|lower] }}{% endfor %}")
    _found("{% for m in messages %}{% set c = m.content.split('</think>')[-1].strip() %}{{ tools[c] }}{% endfor %}")


# -- class C: mutation the alias analysis cannot follow makes every container unknown ----------------------------

@pytest.mark.parametrize("source", [
    "{% set l = ['x'] %}{% set _ = (l|first if false else l).append('_') %}{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% set l = ['x'] %}{% set _ = [l][0].append('_') %}{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% set l = ['x'] %}{% set d = {} %}{% set _ = d.update({'a': [l]}) %}{% set _ = d.a[0].append('_') %}"
    "{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% macro m() %}{% set _ = varargs|first|attr('append') %}{% endmacro %}{% set l = ['x'] %}{{ m(l) }}"
    "{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% macro m(a) %}{% set _ = a[0].append('_') %}{% endmacro %}{% set l = ['x'] %}{{ m([l]) }}"
    "{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% macro m() %}{{ caller(1) }}{% endmacro %}{% set l = ['x'] %}{% call(y) m() %}{% endcall %}"
    "{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
])
def test_class_c_untracked_mutation(source: str) -> None:
    _found(source)


# -- class D: Markup is never folded ------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "{% set k = (('x'|e) + '<__globals__')[5:] %}{{ lipsum[k] }}",
    "{% set k = (('x'|forceescape) ~ '')|replace('x', '<__globals__') %}{{ lipsum[k[4:]] }}",
    "{% set k = ('{}'|safe).format('<__globals__')[4:] %}{{ lipsum[k] }}",
    "{% set k = ('x'|escape).join(['<', '__globals__'])[4:] %}{{ lipsum[k] }}",
    "{% set k = ('x'|safe|string)[0:1] %}{{ lipsum[k] }}",
    "{% autoescape true %}{% set k %}x{% endset %}{% set j = (k + '<__globals__')[5:] %}{{ lipsum[j] }}{% endautoescape %}",
])
def test_class_d_markup_is_not_folded(source: str) -> None:
    _found(source)


# -- class E: every attribute-taking filter argument, by Jinja's own signatures ---------------------------------

def test_class_e_attribute_positions_follow_jinja_signatures() -> None:
    from jinja2.defaults import DEFAULT_FILTERS

    positions = templates._attribute_positions()
    for name, fn in DEFAULT_FILTERS.items():  # every Jinja filter taking an attribute name is judged
        if {"attribute", "name"} & set(inspect.signature(fn).parameters) or name in ("selectattr", "rejectattr"):
            assert name in templates.ATTRIBUTE_FILTERS, name
    assert positions["join"] == 1 and positions["sort"] == 2 and positions["sum"] == 0
    for name in templates.ATTRIBUTE_FILTERS - {"map", "selectattr", "rejectattr"}:
        params = list(inspect.signature(DEFAULT_FILTERS[name]).parameters)
        wanted = "name" if name == "attr" else "attribute"
        if wanted not in params:  # dictsort: sorts by key or value, names no attribute
            assert name not in positions
            continue
        assert params.index(wanted) - params.index(params[1 if params[0] in (
            "environment", "eval_ctx", "context") else 0]) - 1 == positions[name], name


@pytest.mark.parametrize("source", [
    U + "{{ [lipsum]|join('', u ~ '.os') }}",
    U + "{{ [lipsum]|sort(false, false, u)|first }}",
    U + "{{ [lipsum]|unique(false, u)|first }}",
    U + "{{ [lipsum]|max(false, u) }}",
    U + "{{ [lipsum]|sum(u) }}",
])
def test_class_e_positional_attributes(source: str) -> None:
    _found(source)


# -- class F: a name's values are its bindings and its free value ------------------------------------------------

@pytest.mark.parametrize("source", [
    "{% macro unused() %}{% set bos_token = 'b' %}{% endmacro %}{{ lipsum[bos_token] }}",
    "{% if false %}{% set eos_token = 'e' %}{% endif %}{{ lipsum|attr(eos_token) }}",
    "{% for x in [] %}{% set pad_token = 'p' %}{% endfor %}{{ lipsum[pad_token] }}",
    "{% set bos_token = bos_token %}{{ lipsum[bos_token] }}",
    "{% set bos_token = bos_token ~ '' %}{{ lipsum[bos_token] }}",
    "{% for unk_token in ['u'] %}{% endfor %}{{ lipsum[unk_token] }}",  # after the loop: the render argument
])
def test_class_f_bindings_do_not_hide_the_free_value(source: str) -> None:
    _found(source)


def test_class_f_surely_bound_names_stay_precise() -> None:
    # Bound before every read at the top level, or a loop variable inside its loop: no free value.
    assert not analyze_template("{% set bos_token = 'x' %}{{ lipsum_map[bos_token] }}"
                                "{% for eos_token in ['a'] %}{{ names[eos_token] }}{% endfor %}")
    kinds = _kinds("{% set a = '_' * 2 %}{% set b = a ~ 'globals' ~ a %}{{ lipsum[b] }}")
    assert ESCAPE_ROOT in kinds or BUILT_NAME in kinds  # still folded: the built name itself is named


# -- class G: int / float give their default argument --------------------------------------------------------------

@pytest.mark.parametrize("source", [
    U + "{{ lipsum['x'|int(u)] }}",
    U + "{{ lipsum['x'|int(default=u)] }}",
    U + "{{ lipsum|attr('x'|float(u)) }}",
    U + "{{ lipsum[('x'|int(u, 10))] }}",
    "{% set k = ({'a': 1}|abs) %}{{ lipsum[k] }}",  # abs of something that is not a number or data
])
def test_class_g_number_filters_with_defaults(source: str) -> None:
    _found(source)


def test_class_g_number_filters_stay_clean() -> None:
    assert not analyze_template("{% for m in messages %}{{ messages[m.index|int] }}{{ messages[m.x|int(0)] }}"
                                "{{ messages[(m.score|float)|round|int] }}{{ messages[m.k|abs] }}{% endfor %}")


# -- folds the audit found inexact ------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "{% set k = ['x']|join(attribute='upper') %}{{ lipsum[k] }}",  # joins the items' attributes, not 'x'
    "{% set k = ['x']|join('', 'upper') %}{{ lipsum[k] }}",
    "{% set k = (x is mytest) %}{{ lipsum[k] }}",  # a host test returns whatever it returns
])
def test_inexact_folds_are_unknown(source: str) -> None:
    _found(source)


@pytest.mark.parametrize("source", [
    # Render data changed in place through a receiver that is not a plain name, or stored into a container.
    U + "{% set _ = (messages|first).update({'content': u}) %}{{ lipsum[messages[0].content] }}",
    U + "{% set x = [] %}{% set _ = x.append(messages[0]) %}{% set _ = x[0].update({'content': u}) %}"
    "{{ lipsum[messages[0].content] }}",
    U + "{% set ns = namespace(m=messages[0]) %}{% set _ = ns.m.update({'content': u}) %}{{ lipsum[messages[0].content] }}",
    U + "{% for m in messages %}{% set _ = m.update({'content': u}) %}{% endfor %}{{ lipsum[messages[0].content] }}",
])
def test_class_c_render_data_changed_in_place(source: str) -> None:
    _found(source)


@pytest.mark.parametrize("source", [
    # Aliases made by any expression holding the container (found probing after the round-5 fixes).
    U + "{% set l = ['x'] %}{% set p = l if true %}{% set _ = p.insert(0, u) %}{{ lipsum[l[0]] }}",
    U + "{% set l = ['x'] %}{% set p = l or 1 %}{% set _ = p.insert(0, u) %}{{ lipsum[l[0]] }}",
    U + "{% set l = ['x'] %}{% set p = {'a': l}.get('a') %}{% set _ = p.insert(0, u) %}{{ lipsum[l[0]] }}",
    U + "{% set l = ['x'] %}{% set ns = namespace(a=[l]) %}{% set _ = ns.a[0].insert(0, u) %}{{ lipsum[l[0]] }}",
    U + "{% set l = ['x'] %}{% with p = (l, 1)|first %}{% set _ = p.insert(0, u) %}{% endwith %}{{ lipsum[l[0]] }}",
])
def test_class_c_aliases_through_any_expression(source: str) -> None:
    _found(source)
