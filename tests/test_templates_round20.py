"""Red team round 20 on chat templates (report: issues/rt-scan-round20.md): 1 class, 4 PoCs (16 artefacts).

"Render data is JSON" carried two exemptions: a format string from the data called with data arguments
(``message.content.format(name=message.name)``), and a data key selecting out of data (``calls[message.name]``).
Two kinds of "data" value are not JSON: the generators jinja2 3.1 returns for |select, |reject, |selectattr,
|rejectattr, |unique, |batch, |slice, |map (their ``gi_frame`` reaches filters.py's globals and the
Environment), and ``jinja2.Undefined`` (a read of a field the message lacks: ``__class__.__init__.__globals__``
is jinja2.runtime's, read through str.format fields by plain getattr). Now any str.format / format_map whose
format string is not a constant of the template is WW-TPL-002, the iterator filters are not JSON at level 0,
and a constant format string whose fields read internal names (``{0.gi_frame}``, no underscore) is WW-TPL-001.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
from click.testing import CliRunner

from tests.template_rounds import TEMPLATE_CONTAINERS, assert_found
from weightwarden.cli.main import main
from weightwarden.scan import templates as t
from weightwarden.scan.templates import BUILT_NAME, COMPUTED_ATTR, DUNDER, analyze_template

REAL_TEMPLATES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "chat-templates"
CANARY = "WW_RT20_CANARY"
SECRET = "rt20-secret-value"

# The report's PoCs, verbatim.
A1 = "{%- set functions = tools|selectattr('type', 'equalto', 'function') -%}\n{%- for message in messages -%}\n{{- '<|im_start|>' + message.role + '\\n' -}}\n{%- if message.role == 'system' -%}{{- message.content.format(functions=functions) -}}{%- else -%}{{- message.content -}}{%- endif -%}\n{{- '<|im_end|>\\n' -}}\n{%- endfor -%}\n{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"
A2 = "{%- set calls = messages|selectattr('tool_calls', 'defined') -%}\n{%- for message in messages -%}\n{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}\n{%- if message.name is defined -%}{{- '(' ~ calls[message.name] ~ ')' -}}{%- endif -%}\n{%- endfor -%}\n{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"
A3 = "{%- set roles = messages|map(attribute='role')|unique -%}\n{%- for message in messages -%}\n{{- '<|im_start|>' + message.role + '\\n' + message.content.format(message, roles) + '<|im_end|>\\n' -}}\n{%- endfor -%}\n{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"
A4 = "{%- for message in messages -%}\n{{- '<|im_start|>' + message.role + '\\n' + message.content.format(name=message.name) + '<|im_end|>\\n' -}}\n{%- endfor -%}\n{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"

_ENV_VIA_FRAME = "gi_frame.f_globals[t].sys.modules[os].environ[" + CANARY + "]"
# Each PoC with the chat that leaks (the canary environment variable, or the generator's frame).
POCS: dict[str, tuple[str, list[dict[str, Any]], str]] = {
    "A1": (A1, [{"role": "system", "content": "X={functions." + _ENV_VIA_FRAME + "}"},
                {"role": "user", "content": "hi"}], SECRET),
    "A2": (A2, [{"role": "user", "content": "hi", "name": "gi_frame"}], "select_or_reject"),
    "A3": (A3, [{"role": "user", "content": "X={1." + _ENV_VIA_FRAME + "}"}], SECRET),
    "A4": (A4, [{"role": "user", "content": "X={name.__class__.__init__.__globals__[sys].modules[os].environ["
                 + CANARY + "]}"}], SECRET),
}
_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]


def _render(source: str, messages: list[dict[str, Any]], **extra: Any) -> str:
    """A plain jinja2.Environment render (what a host without the sandbox does)."""
    return jinja2.Environment().from_string(source).render(messages=messages, tools=_TOOLS,
                                                             add_generation_prompt=True, **extra)


@pytest.mark.parametrize("name", sorted(POCS))
def test_pocs_leak_under_a_plain_environment(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CANARY, SECRET)
    source, chat, leaked = POCS[name]
    assert leaked in _render(source, chat)


@pytest.mark.parametrize("name", sorted(POCS))
def test_pocs_are_found(name: str) -> None:
    assert COMPUTED_ATTR in {i.kind for i in analyze_template(POCS[name][0])}




@pytest.mark.parametrize(("name", "container"), list(itertools.product(sorted(POCS), sorted(TEMPLATE_CONTAINERS))))
def test_pocs_fail_a_strict_scan_in_every_container(name: str, container: str, tmp_path: Path) -> None:
    filename, make = TEMPLATE_CONTAINERS[container]
    (tmp_path / filename).write_bytes(make(POCS[name][0]))
    result = CliRunner().invoke(main, ["scan", "--strict", "--fail-on", "info", "--format", "json", str(tmp_path)])
    assert result.exit_code == 1, result.output
    rules = {f["rule_id"] for f in json.loads(result.output)["findings"]}
    assert "WW-TPL-002" in rules, rules


# (a) Every str.format / format_map whose format string is not a constant of the template.
_FORMAT_FORMS = [
    "{% for m in messages %}{{ m.content.format(m.role) }}{% endfor %}",
    "{% for m in messages %}{{ m.content.format(name=m.name) }}{% endfor %}",
    "{% for m in messages %}{{ m.content.format() }}{% endfor %}",
    "{% for m in messages %}{{ m.content.format_map(m) }}{% endfor %}",
    "{% for m in messages %}{{ m['content'].format(m) }}{% endfor %}",
    "{% for m in messages %}{{ (m.content|trim).format(m) }}{% endfor %}",
    "{% for m in messages %}{{ (m.content ~ '').format(m) }}{% endfor %}",
    "{% for m in messages %}{{ (m.content or 'x').format(m) }}{% endfor %}",
    "{% for m in messages %}{% set c = m.content %}{{ c.format(m.name) }}{% endfor %}",
    "{% for m in messages %}{% set f = m.content.format %}{{ f(m.name) }}{% endfor %}",
    "{% set ns = namespace(f='') %}{% for m in messages %}{% set ns.f = m.content %}{% endfor %}{{ ns.f.format(1) }}",
    "{{ (messages|last).content.format(messages|first) }}",
    "{{ messages[0].content.format(*messages) }}",
    "{{ messages[0].content.format(**messages[0]) }}",
]


@pytest.mark.parametrize("source", _FORMAT_FORMS)
def test_every_format_string_from_the_data_is_found(source: str) -> None:
    assert_found(source)


def test_a4_benign_chat_still_renders_and_a_constant_format_stays_clean() -> None:
    assert "hi bob" in _render(A4, [{"role": "user", "content": "hi {name}", "name": "bob"}])
    # tencent-Hy3's form, and constant format strings over render data.
    clean = [
        "{%- set HYTK = '' %}{%- set eos_token = '<|hy_eos{}|>'.format(HYTK) %}{{ eos_token }}",
        "{% for m in messages %}{{ '{}: {}'.format(m.role, m.content) }}{% endfor %}",
        "{% set fmt = '<{0}>{1}' %}{% for m in messages %}{{ fmt.format(m.role, m.content) }}{% endfor %}",
        "{% for m in messages %}{{ '{0[role]}: {0[content]}'.format(m) }}{% endfor %}",
    ]
    for source in clean:
        assert analyze_template(source) == [], source


# A constant format string reading internal names that need no underscore (a generator's frame): the template
# author's own leak (round 20, found while fixing).
_CONSTANT_LEAKS = [
    "{{ '{0." + _ENV_VIA_FRAME + "}'.format(tools|selectattr('type')) }}",
    "{% set f = '{0." + _ENV_VIA_FRAME + "}' %}{{ f.format(tools|selectattr('type')) }}",
    "{{ '{x." + _ENV_VIA_FRAME + "}'.format(x=tools|map(attribute='type')) }}",
    "{{ '{0:{1." + _ENV_VIA_FRAME + "}}'.format('', tools|unique) }}",
]


@pytest.mark.parametrize("source", _CONSTANT_LEAKS)
def test_constant_format_strings_reading_frames_are_found(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CANARY, SECRET)
    if "{0:{1." not in source:  # the nested spec raises at render (the frame's text is no format spec)
        assert SECRET in _render(source, [])
    assert {i.kind for i in analyze_template(source)} & {DUNDER, BUILT_NAME}, source


def test_format_field_parts_follow_pythons_parser() -> None:
    assert t._format_field_parts("{0.gi_frame.f_globals[t]} {x[a][b]!r:>{y.z}}") == ["gi_frame", "f_globals", "t",
                                                                                     "a", "b", "z"]
    assert t._format_field_parts('{"name": <name>, "arguments": {...}}') == []  # JSON text: not a format string
    assert t.format_reads_private("{0.gi_frame}") and t.format_reads_private("{0[f_globals]}")
    assert not t.format_reads_private("{0.content} {name}")


# (b) The generator-returning filters hold a Python object, not JSON: a data key on one picks its attributes.
_ITERATORS = {
    "select": "select", "reject": "reject('none')", "selectattr": "selectattr('role')",
    "rejectattr": "rejectattr('name')", "unique": "unique(attribute='role')", "batch": "batch(1)",
    "slice": "slice(1)", "map": "map(attribute='role')", "reverse": "reverse",
}


@pytest.mark.parametrize("name", sorted(_ITERATORS))
def test_data_keys_on_iterator_filters_are_found(name: str) -> None:
    source = "{% set g = messages|" + _ITERATORS[name] + " %}{% for m in messages %}{{ g[m.name] }}{% endfor %}"
    if name != "reverse":  # a list_reverseiterator has no frame (not JSON all the same)
        assert "<frame" in _render(source, [{"role": "user", "content": "hi", "name": "gi_frame"}])
    assert_found(source)
    assert_found("{% set g = [messages|" + _ITERATORS[name] + "] %}{% for m in messages %}{{ g[0][m.name] }}"
                 "{% endfor %}")


def test_iterator_filters_made_lists_stay_clean() -> None:
    for source in [
        "{% set l = tools|selectattr('type', 'equalto', 'function')|list %}{% for m in messages %}{{ l[m.name] }}"
        "{% endfor %}",
        "{% for x in tools|selectattr('type') %}{% for m in messages %}{{ x[m.role] }}{% endfor %}{% endfor %}",
        "{% set last = (messages|selectattr('role', 'equalto', 'user')|list)[-1] %}{{ last[messages[0].role] }}",
        "{% for b in messages|batch(2) %}{{ b[0].content }}{% endfor %}",
    ]:
        assert analyze_template(source) == [], source


# Structural: every filter whose labels the model carries (_LABEL_FILTERS), called with real jinja2 on JSON.
_LABEL_CASES: dict[str, list[str]] = {
    "first": ["first"], "last": ["last"], "random": ["random"], "min": ["min", "min(attribute='n')"],
    "max": ["max", "max(attribute='n')"], "list": ["list"], "sort": ["sort", "sort(attribute='n')"],
    "unique": ["unique", "unique(attribute='role')"], "reverse": ["reverse"],
    "select": ["select", "select('defined')"], "reject": ["reject", "reject('none')"],
    "selectattr": ["selectattr('role')", "selectattr('role', 'equalto', 'user')"],
    "rejectattr": ["rejectattr('role')", "rejectattr('role', 'equalto', 'user')"],
    "batch": ["batch(2)", "batch(2, 'x')"], "slice": ["slice(2)", "slice(2, 'x')"],
    "map": ["map(attribute='role')", "map(attribute='missing')", "map(attribute='role', default='d')",
            "map('upper')", "map('attr', 'role')"],
    "attr": ["attr('role')", "attr('missing')"], "default": ["default('x')", "default([1], true)"], "d": ["d('x')"],
    "groupby": ["groupby('role')"], "items": ["items"], "dictsort": ["dictsort"], "sum": ["sum", "sum(attribute='n')"],
    "int": ["int", "int(3)"], "float": ["float"], "abs": ["abs"], "round": ["round", "round(1, 'floor')"],
    "truncate": ["truncate(5)", "truncate(300)"],
}
_JSON_INPUTS: list[Any] = [
    [{"role": "user", "content": "hi", "n": 1}, {"role": "assistant", "content": "yo", "n": 2}],
    [3, 1, 2], ["b", "a", "b"], [[1, 2], [3]], {"role": "user", "n": 2}, "abc", 7, -2.5, True, None, [], {},
]
_JSON_TYPES = (list, dict, str, int, float, bool, type(None))


def _json_or_undefined(value: Any) -> bool:
    # An Undefined (first of [], attr('missing')) is no JSON, but every non-dunder attribute and every item read
    # of it raises (test below): only getattr by a runtime name reaches into it, and both ways to do that (str
    # .format with a non-constant format string, |attr with a computed name) are findings whatever the receiver.
    return type(value) in _JSON_TYPES or isinstance(value, jinja2.Undefined)


def test_every_label_filter_is_cased() -> None:
    assert set(_LABEL_CASES) == set(t._LABEL_FILTERS)


def _model(expr: str) -> tuple[bool, bool]:
    """_not_json of ``x|<expr>`` at levels 0 and 1, ``x`` being a free render argument (render data)."""
    source = "{{ x|" + expr + " }}"
    tree = t._parse(source)
    walker = t._Walker(source, frozenset())
    walker.run(tree)
    node = tree.body[0].nodes[0]
    assert isinstance(node, t._NODES.Filter)
    return walker._not_json(node, 0), walker._not_json(node, 1)


@pytest.mark.parametrize("expr", [e for cases in _LABEL_CASES.values() for e in cases])
def test_not_json_matches_what_jinja_returns(expr: str) -> None:
    not_json_0, not_json_1 = _model(expr)
    env = jinja2.Environment()
    compiled = env.compile_expression("x|" + expr, undefined_to_none=False)
    for value in _JSON_INPUTS:
        try:
            result = compiled(x=json.loads(json.dumps(value)))
        except Exception:  # noqa: BLE001, S112 - a refused input returns nothing
            continue
        if not not_json_0:
            assert _json_or_undefined(result), (expr, value, type(result))
        if not not_json_1 and type(result) in (list, dict):
            for element in result.values() if isinstance(result, dict) else result:
                assert _json_or_undefined(element), (expr, value, type(element))


@pytest.mark.parametrize("undefined", [jinja2.Undefined, jinja2.ChainableUndefined, jinja2.DebugUndefined,
                                       jinja2.StrictUndefined])
def test_an_undefined_gives_nothing_to_keys_and_method_names(undefined: type) -> None:
    """Why _not_json may call a read of missing data JSON: a data key on it (Jinja's getitem) and a literal
    non-private attribute (JSON method names included) raise or give an Undefined, never a Python object."""
    env = jinja2.Environment(undefined=undefined)
    value = env.undefined(name="name")
    names = sorted(t._KNOWN_METHODS | t.INTERNAL_ATTRS | {"__class__", "__init__", "_undefined_obj", "x"})
    for name in names:
        for read in (env.getitem, *(() if name.startswith("_") else (env.getattr,))):
            try:
                got = read(value, name)
            except jinja2.UndefinedError:
                continue
            assert isinstance(got, jinja2.Undefined), (undefined, read, name, got)


def test_percent_formatting_reads_no_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``%`` is left alone: '%(key)s' reads one item of a mapping (a JSON dict's, or an Undefined's, which raises),
    never an attribute, and generators and Jinja's objects are not mappings."""
    monkeypatch.setenv(CANARY, SECRET)
    source = "{% set g = messages|select %}{% for m in messages %}{{ m.content % m }}|{{ m.content % g }}" \
             "|{{ m.content % m.name }}{% endfor %}"
    for content in ["%(__class__)s", "%(gi_frame)s", "%s", "%(role)s"]:
        try:
            out = _render(source, [{"role": "user", "content": content}])
        except (jinja2.UndefinedError, KeyError, TypeError):
            continue
        assert "frame" not in out and "class" not in out and SECRET not in out


def test_real_templates_stay_clean() -> None:
    files = sorted(REAL_TEMPLATES.rglob("*.jinja"))
    assert len(files) >= 80
    for path in files:
        assert analyze_template(path.read_text(encoding="utf-8")) == [], path
