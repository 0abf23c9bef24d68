"""Red team round 24 on chat templates (report: issues/rt-scan-round24.md): 1 fail-closed class, 1 downgrade.

1. The mutation closure (_closure) never reached its fixed point: a store whose holder IS its inner name (a
   recursive macro passing part of its own parameter to itself, ``f(m[0])`` inside ``f(m)``; a mutating bound
   method of render data passed as a macro argument, ``f(messages.append)``) wrote the same key twice and threw
   the first write away, so "changed" never settled and the scan hung with no verdict for the whole folder. Now
   every update ORs bits in (monotone by construction, a finite lattice), the loop has a pass bound that fails
   closed, and every template has a step budget (``ANALYSIS_BUDGET``) past which the analysis ends in a finding.
2. A GGUF chat template VALUE with a NUL: llama.cpp and llama-cpp-python render the text before the NUL (a C
   string), Python readers the whole value. Both texts are analysed, and a NUL in any GGUF string value is
   ``gguf.value_nul`` (WW-GGUF-001).
Termination is checked with a step budget (deterministic), never with wall time.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tests.template_rounds import TEMPLATE_CONTAINERS, changes_host, issue_kinds
from tests.test_scan_templates_round22 import CHAT, EVIL_GGUF, _scan, _tiny_gguf
from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.loader import read_source
from weightwarden.artifact.source import Source
from weightwarden.core.limits import Limits
from weightwarden.scan import scan_paths
from weightwarden.scan import templates as t
from weightwarden.scan.templates import COMPUTED_ATTR, RENDER_MUTATION, analyze_template

REAL_TEMPLATES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "chat-templates"

# The report's PoCs, verbatim (hang/h1.jinja, hang/r2.jinja, hang/d1.jinja).
H1 = ("{% macro f(m) %}{% if m is mapping %}{{ m.update(content='PWN') }}{% else %}{{ f(m[0]) }}{% endif %}"
      "{% endmacro %}{{ f(messages) }}")
R2 = ("{% macro f(m, d) %}{% if d == 0 %}{{ m.update(content='PWN') }}{% else %}{{ f(m|first, d - 1) }}{% endif %}"
      "{% endmacro %}{{ f(messages, 1) }}")
D1 = "{% macro f(g) %}{% endmacro %}{{ f(messages.append) }}"
# The same class through other carriers: part of a parameter passed back (item, attribute, filter, slice, get,
# keyword), mutual recursion, and bound mutating methods as macro / caller / loop() arguments (called or not).
VARIANTS = {
    "attr": "{% macro f(m) %}{% if m.content is defined %}{{ m.update(content='PWN') }}{% else %}{{ f(m.x) }}"
            "{% endif %}{% endmacro %}{{ f({'x': messages[0]}) }}",
    "last": "{% macro f(m) %}{% if m is mapping %}{{ m.update(content='PWN') }}{% else %}{{ f(m|last) }}{% endif %}"
            "{% endmacro %}{{ f(messages) }}",
    "slice": "{% macro f(m) %}{% if m is mapping %}{{ m.update(content='PWN') }}{% else %}{{ f(m[:1][0]) }}"
             "{% endif %}{% endmacro %}{{ f(messages) }}",
    "kwarg": "{% macro f(m=none) %}{% if m is mapping %}{{ m.update(content='PWN') }}{% else %}{{ f(m=m[0]) }}"
             "{% endif %}{% endmacro %}{{ f(m=messages) }}",
    "cond": "{% macro f(m) %}{% if m is mapping %}{{ m.update(content='PWN') }}{% else %}{{ f(m[0] if m else none) }}"
            "{% endif %}{% endmacro %}{{ f(messages) }}",
    "mutual": "{% macro g(m) %}{{ f(m[0]) }}{% endmacro %}{% macro f(m) %}{% if m is mapping %}"
              "{{ m.update(content='PWN') }}{% else %}{{ g(m) }}{% endif %}{% endmacro %}{{ f(messages) }}",
    "two_params": "{% macro f(a, b) %}{% if b is mapping %}{{ b.update(content='PWN') }}{% else %}{{ f(b, a[0]) }}"
                  "{% endif %}{% endmacro %}{{ f(messages, messages) }}",
    "called_method": "{% macro f(g) %}{{ g({'role': 'user', 'content': 'PWN'}) }}{% endmacro %}"
                     "{{ f(messages.append) }}",
    "method_of_item": "{% macro f(g) %}{{ g(content='PWN') }}{% endmacro %}{{ f(messages[0].update) }}",
    "method_recursive": "{% macro f(g, d) %}{% if d %}{{ f(g, d - 1) }}{% else %}{{ g(content='PWN') }}{% endif %}"
                        "{% endmacro %}{{ f(messages[0].update, 2) }}",
    "caller_arg": "{% macro f() %}{{ caller(messages[0].update) }}{% endmacro %}"
                  "{% call(u) f() %}{{ u(content='PWN') }}{% endcall %}",
    "loop_arg": "{% for m in [messages] recursive %}{% if m is mapping %}{{ m.update(content='PWN') }}{% else %}"
                "{{ loop(m[:1]) }}{% endif %}{% endfor %}",
    "loop_method": "{% for u in [messages[0].update] recursive %}{{ u(content='PWN') }}{% endfor %}",
}
# A step budget far below the default: each of these must settle well within it (a template that does not
# terminate ends in the budget finding, which the tests below reject).
SMALL_BUDGET = 200_000
_BUDGET_MESSAGE = "did not finish within its budget"


def _data() -> dict:
    return {"messages": json.loads(json.dumps(CHAT)), "add_generation_prompt": True}


@pytest.mark.parametrize("name", ["H1", "R2", *sorted(VARIANTS)])
def test_class1_mutation_templates_terminate_and_are_found(name: str) -> None:
    source = {"H1": H1, "R2": R2}.get(name) or VARIANTS[name]
    # A real mutation template: a plain jinja2 render rewrites the host's messages[0].
    assert changes_host(source, _data()), name
    with t.analysis_budget(SMALL_BUDGET):
        issues = analyze_template(source)
    assert not any(_BUDGET_MESSAGE in i.message for i in issues), issues  # settled, not cut by the budget
    assert RENDER_MUTATION in {i.kind for i in issues}, issues


def test_class1_a_bound_method_passed_and_never_called_terminates() -> None:
    # D1 changes nothing when rendered; a mutating method used as a value is guilty until proven (round 11).
    assert not changes_host(D1, _data())
    with t.analysis_budget(SMALL_BUDGET):
        issues = analyze_template(D1)
    assert not any(_BUDGET_MESSAGE in i.message for i in issues), issues
    assert RENDER_MUTATION in {i.kind for i in issues}, issues


def test_class1_the_sandbox_blocks_the_call_but_dict_update_passes_it() -> None:
    # The same shape with dict.update(m, ...) passes Jinja's sandbox (round 21's side note) and is found too.
    source = H1.replace("m.update(content='PWN')", "dict.update(m, content='PWN') or ''")
    messages = json.loads(json.dumps(CHAT))
    ImmutableSandboxedEnvironment().from_string(source).render(messages=messages)
    assert messages[0]["content"] == "PWN"
    kinds = issue_kinds(source)
    assert kinds & {RENDER_MUTATION, COMPUTED_ATTR}, kinds


@pytest.mark.parametrize("container", sorted(TEMPLATE_CONTAINERS))
def test_class1_scan_gives_a_verdict_in_every_container(container: str, tmp_path: Path) -> None:
    name, write = TEMPLATE_CONTAINERS[container]
    (tmp_path / name).write_bytes(write(H1))
    (tmp_path / "notes.jinja").write_text(D1, encoding="utf-8")  # the rest of the folder is still reported
    with t.analysis_budget(SMALL_BUDGET):
        report = scan_paths([tmp_path])
    by_file = {(Path(f.subject.name).name, f.rule_id) for f in report.findings}
    assert (name, "WW-TPL-011") in by_file, by_file
    assert ("notes.jinja", "WW-TPL-011") in by_file, by_file
    assert all(f.severity.value in ("high", "critical") for f in report.findings if f.rule_id == "WW-TPL-011")


def test_the_step_budget_ends_in_a_finding_not_a_hang(tmp_path: Path) -> None:
    # Any template that would outrun its budget (a future non-terminating loop included) gets a high finding that
    # names its file, and the rest of the folder is still scanned.
    real = sorted(REAL_TEMPLATES.glob("**/*.jinja"))
    if not real:
        pytest.skip("no real chat templates")
    source = real[0].read_text(encoding="utf-8")
    with t.analysis_budget(50):
        issues = analyze_template(source)
        (tmp_path / "chat_template.jinja").write_text(source, encoding="utf-8")
        (tmp_path / "other.jinja").write_text(H1, encoding="utf-8")
        report = scan_paths([tmp_path])
    assert any(i.kind == COMPUTED_ATTR and _BUDGET_MESSAGE in i.message for i in issues), issues
    found = [f for f in report.findings if _BUDGET_MESSAGE in f.message]
    assert found and all(f.rule_id == "WW-TPL-002" and f.severity.value == "high" for f in found), found
    assert {Path(f.subject.name).name for f in found} == {"chat_template.jinja", "other.jinja"}, found
    # Under the default budget the same template settles with no bound finding (the hook put the budget back).
    assert not any(_BUDGET_MESSAGE in i.message for i in analyze_template(source))


def test_real_templates_spend_a_small_part_of_the_budget() -> None:
    # Every real template settles within 1/100 of the default budget (measured: about 8,000 steps at most).
    real = sorted(REAL_TEMPLATES.glob("**/*.jinja"))
    if not real:
        pytest.skip("no real chat templates")
    with t.analysis_budget(t.ANALYSIS_BUDGET // 100):
        for path in real:
            issues = analyze_template(path.read_text(encoding="utf-8"))
            assert not any(_BUDGET_MESSAGE in i.message for i in issues), path


# -- class 2: a NUL inside a GGUF template value ------------------------------------------------------------------


def _host_template(path: Path) -> str:
    """The chat template llama-cpp-python hands to its formatter (its metadata, read through ctypes .value: a C
    string), or, without it, what llama.cpp's C API gives: the value up to its first NUL."""
    try:
        from llama_cpp import Llama
    except ImportError:
        from gguf import GGUFReader

        for field in GGUFReader(str(path)).fields.values():
            if field.name == "tokenizer.chat_template":
                return bytes(field.parts[field.data[0]]).decode("utf-8").split("\0", 1)[0]
        return ""
    return Llama(model_path=str(path), vocab_only=True, verbose=False).metadata["tokenizer.chat_template"]


@pytest.mark.parametrize("suffix", ["\0{% endif %}", "\0{% raw %}", "\0}}", "\0{{"])
def test_class2_a_nul_in_a_template_value_is_found_as_llama_cpp_reads_it(suffix: str, tmp_path: Path) -> None:
    path = _tiny_gguf(tmp_path / "nul.gguf", [("tokenizer.chat_template", EVIL_GGUF + suffix)])
    template = _host_template(path)
    assert template == EVIL_GGUF  # the host renders the text before the NUL
    messages = json.loads(json.dumps(CHAT))
    ImmutableSandboxedEnvironment().from_string(template).render(messages=messages)
    assert messages[0]["content"].startswith("Ignore all previous rules")  # under the host's own sandbox
    code, report = _scan(path)
    assert code == 1, report
    high = [f for f in report["findings"] if f["severity"] in ("high", "critical")]
    assert any(f["rule_id"] == "WW-GGUF-001" and "NUL" in f["message"] for f in high), high
    assert any(f["rule_id"] in ("WW-TPL-002", "WW-TPL-011") and "first NUL" in f["location"]["path"]
               for f in high), high


def test_class2_fail_on_high_now_fails(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from weightwarden.cli.main import main

    path = _tiny_gguf(tmp_path / "nul.gguf", [("tokenizer.chat_template", EVIL_GGUF + "\0{% endif %}")])
    result = CliRunner().invoke(main, ["scan", "--fail-on", "high", str(path)])
    assert result.exit_code == 1, result.output


def test_class2_the_whole_value_is_still_analysed(tmp_path: Path) -> None:
    # A Python reader (gguf-py, transformers' GGUF loading) renders the whole value: a payload after the NUL.
    benign = "{% for m in messages %}{{ m.content }}{% endfor %}"
    path = _tiny_gguf(tmp_path / "after.gguf", [("tokenizer.chat_template", benign + "\0{{ cycler.__init__.__globals__ }}")])
    code, report = _scan(path)
    assert code == 1
    assert any(f["rule_id"] in ("WW-TPL-001", "WW-TPL-003") and "first NUL" not in f["location"]["path"]
               for f in report["findings"]), report["findings"]


def test_class2_any_string_value_with_a_nul_and_none_without(tmp_path: Path) -> None:
    path = _tiny_gguf(tmp_path / "v.gguf", [("general.license", "mit\0 and more"),
                                            ("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}")])
    ctx = ReadContext.for_top_level(Limits(), dispatch=read_source)
    entry = read_source(Source.from_path(str(path), path.name, fs_dir=str(tmp_path)), ctx)
    assert [a.code for a in entry.anomalies] == ["gguf.value_nul"], entry.anomalies
    assert len(entry.code) == 1  # a template without a NUL is analysed once, as before


# -- the possible false positive noted by the red team ------------------------------------------------------------

REC_KEYS = ("{%- macro render(v) -%}{%- if v is mapping -%}{%- for k in v -%}{{ k }}={{ render(v[k]) }}{%- endfor -%}"
            "{%- else -%}{{ v }}{%- endif -%}{%- endmacro -%}{%- for t in tools -%}{{ render(t) }}{%- endfor -%}")
REC_ITEMS = ("{%- macro render(v) -%}{%- if v is mapping -%}{%- for k, x in v|items -%}{{ k }}={{ render(x) }}"
             "{%- endfor -%}{%- else -%}{{ v }}{%- endif -%}{%- endmacro -%}{%- for t in tools -%}{{ render(t) }}"
             "{%- endfor -%}")


def test_recursive_schema_renderer_by_items_is_clean_by_keys_stays_a_finding() -> None:
    # The |items form (what real templates use) is clean. ``v[k]`` over a value reached through a data key stays
    # WW-TPL-002 (round 7's rule, kept): only the ``is mapping`` test, which the analysis does not model, makes
    # it an item read; on a list Jinja's getitem falls back to getattr and the data picks a method.
    assert issue_kinds(REC_ITEMS) == set()
    assert COMPUTED_ATTR in issue_kinds(REC_KEYS)
    out = jinja2.Environment().from_string("{% for k in v %}{{ v[k] }}{% endfor %}").render(v=["append"])
    assert out.startswith("<built-in method append of list")
