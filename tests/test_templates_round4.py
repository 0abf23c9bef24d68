"""Red team round 4 on the chat-template analysis (issue 11, class 5): 14 bypasses in 9 classes, closed as classes.

Each PoC rendered by a plain Jinja environment reached Python internals while the analysis passed the template
as clean. The ones that can run a canary are adversarial entries (tests/adversarial/generate.py, TEMPLATE_ROUND4);
the ones that only leak (str(os module) in the output) are here.
"""

from __future__ import annotations

import pytest

from weightwarden.scan import templates
from weightwarden.scan.templates import BUILT_NAME, COMPUTED_ATTR, DUNDER, ESCAPE_ROOT, analyze_template

FOUND = {COMPUTED_ATTR, BUILT_NAME, DUNDER, ESCAPE_ROOT}


def _kinds(source: str) -> set[str]:
    return {issue.kind for issue in analyze_template(source)}


# -- class 9: hitting any analysis bound is itself a finding --------------------------------------------------

def test_steps_bound_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "MAX_STEPS", 50)
    filler = "".join(f"{{% set a{i} = 'x' ~ 'y' ~ 'z' %}}" for i in range(60))
    source = filler + "{% set k = '_' ~ '_glob' ~ 'als__' %}{{ [lipsum]|join(attribute=k ~ '.os') }}{# steps #}"
    issues = analyze_template(source)
    assert any(i.kind == COMPUTED_ATTR and "MAX_STEPS" in i.message for i in issues)


def test_value_depth_bound_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "MAX_VALUE_DEPTH", 5)
    chain = "".join(f"{{% set a{i + 1} = a{i} ~ 'x' %}}" for i in range(10))
    issues = analyze_template("{{ cycler[a10] }}{% set a0 = 'x' %}" + chain + "{# depth #}")
    assert any(i.kind == COMPUTED_ATTR and "MAX_VALUE_DEPTH" in i.message for i in issues)


def test_value_count_bound_is_a_finding() -> None:
    two = "{% set a = 'x' %}{% set a = 'y' %}"
    issues = analyze_template(two + "{{ lipsum[a ~ a ~ a ~ a ~ a ~ a ~ a] }}")
    assert any(i.kind == COMPUTED_ATTR and "MAX_VALUES" in i.message for i in issues)


def test_round4_p11_filler_then_join_attribute() -> None:
    """The PoC's shape at a size the test can afford: the bound is lowered above; here the sink itself."""
    assert _kinds("{% set k = '_' ~ '_glob' ~ 'als__' %}{{ [lipsum]|join(attribute=k ~ '.os') }}") & FOUND


# -- class 8: attribute-reading sinks ----------------------------------------------------------------------------

SINKS = {
    # p9: a format string built from pieces, called through |attr('format').
    "format_via_attr": "{%- set f = '{0.' ~ '_'*2 ~ 'globals' ~ '_'*2 ~ '[os]}' -%}{{- (f|attr('format'))(lipsum) -}}",
    # the same call with an innocent-looking format string still calls something computed
    "computed_callee": "{% set f = x %}{{ (f|attr(y))(lipsum) }}",
    "getitem_callee": "{{ ('{0}'|attr('format'))(lipsum) }}{{ d['format'](lipsum) }}",
    # p10: join(attribute=) with a built name
    "join_attribute": "{%- set k = '_globals_'.center(11, '_') ~ '.os' -%}{{- [lipsum]|join(attribute=k) -}}",
    "join_attribute_literal_pieces": "{{ [lipsum]|join(attribute='_'*2 ~ 'globals' ~ '_'*2 ~ '.os') }}",
    # attribute= on a filter that is not known to read attributes
    "other_filter_attribute": "{% set k = x ~ y %}{{ [lipsum]|somefilter(attribute=k) }}",
    # every folded string is checked for format fields that read private names
    "folded_format_field": "{% set f = '{0.' ~ '_x}' %}{{ f }}",
}


@pytest.mark.parametrize("name", sorted(SINKS))
def test_attribute_sinks(name: str) -> None:
    assert _kinds(SINKS[name]) & FOUND, name


def test_plain_calls_and_join_stay_clean() -> None:
    source = (
        "{% macro m(x) %}{{ x }}{% endmacro %}{{ m('a') }}{{ messages|join(', ') }}{{ ['a', 'b']|join('-') }}"
        "{{ messages|map(attribute='content')|join('\\n') }}{{ '{} {}'.format('a', 'b') }}{{ range(3)|list }}"
    )
    assert not analyze_template(source)


# -- classes 1, 2, 3: only genuinely free render names are data; numbers only from number-only ops ------------

DATA_NAMES = {
    "filesizeformat": "{% set g = ((0|filesizeformat) + '_' + '_globals_' + '_')[7:] %}{{ lipsum[g] }}",
    "number_method": "{{ lipsum[(1.0).hex()] }}",
    "number_filter_string": "{{ lipsum[(0|string) ~ x] }}",
    "macro_arguments": "{% macro m(a) %}{% endmacro %}{{ lipsum[m.arguments[0]] }}",
    "macro_name": "{% macro m() %}{% endmacro %}{{ lipsum[m.name] }}",
    "special_tokens": "{{ lipsum[bos_token][eos_token] }}",
    "special_token_list": "{{ lipsum[additional_special_tokens[0]] }}",
    "jinja_global": "{{ lipsum[range.__name__] }}",
}


@pytest.mark.parametrize("name", sorted(DATA_NAMES))
def test_only_free_names_are_data(name: str) -> None:
    assert _kinds(DATA_NAMES[name]) & FOUND, name


@pytest.mark.parametrize("source", [
    "{% macro __globals__() %}{% endmacro %}",
    "{% macro m(__globals__) %}{% endmacro %}",
    "{% set __init__ = 1 %}",
    "{% for f_globals in messages %}{% endfor %}",
])
def test_dangerous_defined_names(source: str) -> None:
    assert DUNDER in _kinds(source)


def test_data_names_stay_data() -> None:
    source = (
        "{% for m in messages %}{{ m[key] }}{{ m['content'][0] }}{{ tools[loop.index0]['name'] }}{% endfor %}"
        "{{ bos_token }}{% if messages[0]['content'] == eos_token %}x{% endif %}{{ messages|length|filesizeformat }}"
    )
    assert not analyze_template(source)


# -- class 4: folds are bit-exact or unknown ------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "{% set k = ('{{}}'.format('q') ~ '_'*2).replace('{}', '_'*2 ~ 'globals') %}{{ lipsum[k] }}",
    "{% set k = (('<'|e) ~ '_'*2).replace('&lt;', '_'*2 ~ 'globals') %}{{ lipsum[k|string] }}",
    "{% set k = (('<'|forceescape) ~ '_'*2).replace('&lt;', '_'*2 ~ 'globals') %}{{ lipsum[k] }}",
    "{% set k = ('{0}{}'.format('a', 'b') ~ '_'*2).replace('ab', '_'*2 ~ 'globals') %}{{ lipsum[k] }}",
    "{% set k = ((\"don't\"|title) ~ '_'*2).replace(\"Don'T\", '_'*2 ~ 'globals') %}{{ lipsum[k] }}",
])
def test_inexact_folds_are_unknown(source: str) -> None:
    assert _kinds(source) & FOUND


def test_exact_folds_still_seen() -> None:
    assert _kinds("{{ lipsum['{}{}'.format('__glob', 'als__')] }}") & FOUND
    assert _kinds("{% set k = ('ab'|e) ~ '__' %}{{ cycler[k.replace('ab', '__init')] }}") & FOUND


# -- classes 5, 6, 7: mutated containers, recursive loops, fill values ---------------------------------------

@pytest.mark.parametrize("source", [
    "{% set l = ['x'] %}{% set _ = l.append('_') %}{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% set l = ['x'] %}{% set _ = l.insert(0, '_') %}{{ lipsum['_' ~ l|first ~ 'globals__'] }}",
    "{% set d = {'a': 'x'} %}{% set _ = d.update({'a': '_'}) %}{{ lipsum['_' ~ d.a ~ 'globals__'] }}",
    "{% set d = {'a': 'x'} %}{% set e = d %}{% set _ = e.update({'a': '_'}) %}{{ lipsum['_' ~ d['a'] ~ 'globals__'] }}",
    "{% macro m(c) %}{% set _ = c.append('_') %}{% endmacro %}{% set l = ['x'] %}{{ m(l) }}"
    "{{ lipsum['_' ~ l[-1] ~ 'globals__'] }}",
    "{% set ns = namespace(l=['x']) %}{% set _ = ns.l.append('_') %}{{ lipsum['_' ~ ns.l[1] ~ 'globals__'] }}",
    "{% for x in ['x'] recursive %}{{ lipsum['_' ~ x ~ 'globals__'] }}{{ loop(['_']) }}{% endfor %}",
    "{% set u = (['x']|batch(2, '_'))|first|last %}{{ lipsum['_' ~ u ~ 'globals__'] }}",
    "{% set u = (['x']|slice(2, fill_with='_'))|last|first %}{{ lipsum['_' ~ u ~ 'globals__'] }}",
])
def test_container_changes_are_unknown(source: str) -> None:
    assert _kinds(source) & FOUND


def test_appending_messages_stays_clean() -> None:
    source = (
        "{% set ns = namespace(out=[]) %}{% for m in messages %}{% set _ = ns.out.append(m) %}{% endfor %}"
        "{% for m in ns.out %}{{ m['role'] }}{{ m.content }}{% endfor %}"
        "{% set l = [] %}{% set _ = l.append(1) %}{{ l|length }}"
    )
    assert not analyze_template(source)


@pytest.mark.parametrize("source", [
    "{% set l = ['x'] %}{% set o = [] %}{% set _ = o.append(l) %}{% set _ = o[0].append('_') %}"
    "{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% set l = ['x'] %}{% set _ = host_function(l) %}{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
])
def test_escaped_containers_are_unknown(source: str) -> None:
    assert _kinds(source) & FOUND


@pytest.mark.parametrize("source", [
    "{% set l = ['x'] %}{% set l2 = [l] %}{% set _ = l2[0].append('_') %}{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
    "{% set l = ['x'] %}{% set ns = namespace(a=l) %}{% set _ = ns.a.append('_') %}"
    "{{ lipsum['_' ~ l[1] ~ 'globals__'] }}",
])
def test_aliased_containers_are_unknown(source: str) -> None:
    assert _kinds(source) & FOUND


def test_loop_alias_mutation_is_unknown() -> None:
    source = ("{% set l = ['x'] %}{% for c in [l] %}{% set _ = c.append('_') %}{% endfor %}"
              "{{ lipsum['_' ~ l[1] ~ 'globals__'] }}")
    assert _kinds(source) & FOUND


@pytest.mark.parametrize("source", [
    "{% set a %}f_glo{# c #}\nbals{% endset %}{{ x[a] }}",
    "{% set a %}f_glo\n  {% raw %}{% endraw %}bals{% endset %}{{ x[a] }}",
])
def test_block_set_text_next_to_tags_is_unknown(source: str) -> None:
    """trim_blocks / lstrip_blocks (transformers) remove that newline or those blanks: 'f_globals'."""
    assert _kinds(source) & FOUND


def test_the_walk_leaves_the_interpreter_recursion_limit_as_it_was() -> None:
    """The walk raises the limit for itself only; every other reader in the process keeps the default."""
    import sys

    from weightwarden.scan.templates import analyze_template

    before = sys.getrecursionlimit()
    analyze_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    assert sys.getrecursionlimit() == before
