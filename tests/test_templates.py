"""Chat-template analysis: zero findings on real released templates, every escape technique caught, never rendered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus.samples import SHARED  # noqa: E402
from weightwarden.scan import scan_paths
from weightwarden.scan import templates as tpl
from weightwarden.scan.templates import analyze_template

REAL_TEMPLATES = sorted((SHARED / "datasets" / "chat-templates").glob("*/*.jinja"))


def test_real_templates_are_present() -> None:
    assert REAL_TEMPLATES, f"shared chat-template dataset missing under {SHARED} (set WW_SHARED)"
    assert len(REAL_TEMPLATES) >= 80
    assert {p.parent.name for p in REAL_TEMPLATES} == {"llama.cpp", "chujiezheng"}


@pytest.mark.parametrize("path", REAL_TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_template_has_no_findings(path: Path) -> None:
    assert analyze_template(path.read_text(encoding="utf-8")) == []


ATTACKS = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", tpl.DUNDER),
    ("{{ lipsum.__globals__['os'].popen('id').read() }}", tpl.ESCAPE_ROOT),
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", tpl.ESCAPE_ROOT),
    ("{{ joiner.__init__.__globals__ }}", tpl.ESCAPE_ROOT),
    ("{{ namespace.__init__.__globals__.__builtins__ }}", tpl.ESCAPE_ROOT),
    ("{% set a = '__cla' ~ 'ss__' %}{{ ''|attr(a) }}", tpl.BUILT_NAME),
    ("{{ ''|attr('__cla' ~ 'ss__') }}", tpl.BUILT_NAME),
    ("{{ ''|attr(request.args.x) }}", tpl.COMPUTED_ATTR),
    ("{{ ''['__class__'] }}", tpl.DUNDER),
    ("{{ ''['{}{}'.format('__cla', 'ss__')] }}", tpl.BUILT_NAME),
    ("{{ ''[['__cla', 'ss__']|join] }}", tpl.BUILT_NAME),
    ("{{ ''['__ssalc__'|reverse] }}", tpl.BUILT_NAME),
    ("{{ ''['__ssalc__'[::-1]] }}", tpl.BUILT_NAME),
    ("{{ ''['_x_class__'|replace('_x_', '__')] }}", tpl.BUILT_NAME),
    ("{{ ''['%s%s'|format('__cla', 'ss__')] }}", tpl.BUILT_NAME),
    ("{{ ''[('__cla' + 'ss__')] }}", tpl.BUILT_NAME),
    ("{{ self._TemplateReference__context.cycler }}", tpl.PRIVATE_ATTR),
    ("{{ self }}", tpl.HOST_OBJECT),
    ("{{ request.application.__globals__ }}", tpl.HOST_OBJECT),
    ("{{ config.items() }}", tpl.HOST_OBJECT),
    ("{{ os.popen('id') }}", tpl.HOST_OBJECT),
    ("{{ x|map(attribute='__class__')|list }}", tpl.DUNDER),
    ("{{ x|selectattr('__class__')|list }}", tpl.DUNDER),
    ("{{ '{0.__class__}'.format(x) }}", tpl.DUNDER),
    ("{{ x.gi_frame.f_globals }}", tpl.DUNDER),
    ("{% include 'secrets.txt' %}", tpl.LOADER),
    ("{% extends '/etc/passwd' %}", tpl.LOADER),
    ("{% import 'macros' as m %}", tpl.LOADER),
    ("{% from 'macros' import x %}", tpl.LOADER),
    ("{% if %}", tpl.PARSE_ERROR),
    ("{{ messages[0]['content'] ", tpl.PARSE_ERROR),
]


@pytest.mark.parametrize(("source", "kind"), ATTACKS, ids=[a[0][:50] for a in ATTACKS])
def test_attack_is_detected(source: str, kind: str) -> None:
    kinds = {issue.kind for issue in analyze_template(source)}
    assert kind in kinds, kinds


@pytest.mark.parametrize(
    "source",
    [
        "{% set ns = namespace(found=false) %}{% for m in messages %}{% set ns.found = true %}{% endfor %}{{ ns.found }}",
        "{{ messages|selectattr('role', 'equalto', 'system')|list|length }}",
        "{{ tools|tojson(indent=4) }}{{ raise_exception('bad role') }}",
        "{% for m in messages %}{% if loop.index0 > 3 %}{% break %}{% endif %}{{ m['content']|trim }}{% endfor %}",
        "{% generation %}{{ m.content }}{% endgeneration %}",
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>' }}",
        "{% for config in configs %}{{ config.name }}{% endfor %}",
        "{{ message.content.split('</think>')[-1].lstrip('\\n') }}",
        "{{ x|map(attribute='content')|join(', ') }}",
    ],
)
def test_legitimate_constructs_are_silent(source: str) -> None:
    assert analyze_template(source) == []


def test_issues_carry_line_and_evidence() -> None:
    source = "line one\n{{ x }}\n{{ lipsum.__globals__ }}\n"
    [issue] = analyze_template(source)
    assert issue.line == 3 and "lipsum.__globals__" in issue.evidence


def test_template_is_never_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    def boom(*_args, **_kwargs):
        raise AssertionError("the analysis must never compile or render a template")

    monkeypatch.setattr(jinja2.Environment, "from_string", boom)
    monkeypatch.setattr(jinja2.Environment, "compile", boom)
    monkeypatch.setattr(jinja2.Template, "render", boom)
    assert analyze_template("{{ cycler.__init__.__globals__.os.popen('touch /tmp/ww-canary').read() }}")


def test_hostile_nesting_does_not_crash() -> None:
    deep = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    issues = analyze_template(deep)
    assert all(i.kind == tpl.PARSE_ERROR for i in issues)
    long_chain = "{{ x" + ".a" * 20000 + " }}"
    analyze_template(long_chain)


def test_tokenizer_config_end_to_end(tmp_path: Path) -> None:
    evil = "{% for m in messages %}{{ m.content }}{% endfor %}{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"chat_template": evil, "model_max_length": 512})
    )
    report = scan_paths([str(tmp_path)])
    assert [f.rule_id for f in report.findings] == ["WW-TPL-003"]
    finding = report.findings[0]
    assert finding.file.endswith("tokenizer_config.json") and finding.location.path.startswith("chat_template")
