"""Red team round 21 on chat templates (report: issues/rt-scan-round21.md): no analyser bypass, one scope class.

1. A template in a ``.jinja`` file under any name other than ``chat_template.jinja`` was never analysed, yet
   vLLM / SGLang (``--chat-template FILE``), llama.cpp (``--chat-template-file``) and
   ``apply_chat_template(chat_template=open(p).read())`` render a template from any path. Now every ``*.jinja``,
   ``*.j2`` and ``*.jinja2`` (any name, any case) is a template, and so is a text file that is mostly Jinja
   (starts with ``{%``/``{{``/``{#``, or has statement tags that read ``messages``), with "picked up by content"
   in the evidence.
2. A text starting with ``{{`` was sniffed as JSON, did not parse, and passed with 0 findings and no error. Now a
   file sniffed as JSON that does not parse (and is no JSON lines) is WW-GEN-004 (a config read by name stays
   WW-TPL-009), and one too large to parse whole must end the way it starts.
3. ``{% autoescape %}`` compiles to an inner frame (``nodes.Scope``) like a for body: a macro defined in one and
   called from a sibling block is WW-TPL-013.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.template_rounds import changes_host, fires
from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.loader import read_source
from weightwarden.artifact.model import Format
from weightwarden.artifact.sniff import is_template_path, sniff
from weightwarden.artifact.source import Source
from weightwarden.cli.main import main
from weightwarden.core.limits import Limits
from weightwarden.scan import scan_paths
from weightwarden.scan.templates import FRAME_ESCAPE, RENDER_MUTATION, analyze_template

REAL_TEMPLATES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "chat-templates"
MODELS = Path(__file__).resolve().parents[1] / ".cache" / "models"

_ESCAPE = "cycler.__init__.__globals__.os.system('touch {canary}') or ''"
# The report's two PoCs (scope/vllm/): a vLLM-style ChatML tool template starting with "{{-", and a plain one
# starting with literal text.
CHATML = ("{{- " + _ESCAPE + " -}}\n{%- for message in messages -%}{{- '<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>\\n' -}}{%- endfor -%}\n"
          "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n")
PLAIN = "<s>{{ " + _ESCAPE + " }}{% for m in messages %}{{ m.content }}{% endfor %}"

# file name -> (template, picked up by content)
_FILES = {
    "tool_chat_template_chatml.jinja": (CHATML, False),
    "template_plain.jinja": (PLAIN, False),
    "CHAT.J2": (CHATML, False),
    "llama.Jinja2": (PLAIN, False),
    "prompt.txt": (PLAIN, True),  # statement tags that read messages
    "chatml": (CHATML, True),  # starts with Jinja markup (was sniffed as JSON)
    "template.json": (CHATML, True),  # a ".json" that is a template, not JSON
}


def _scan(path: Path) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["scan", "--strict", "--fail-on", "info", "--format", "json", str(path)])
    return result.exit_code, json.loads(result.stdout)["findings"]


def test_the_pocs_really_run_code(tmp_path: Path) -> None:
    for source in (CHATML, PLAIN):
        canary = tmp_path / "canary"
        canary.unlink(missing_ok=True)
        assert fires(source.replace("{canary}", str(canary)), tmp_path)


@pytest.mark.parametrize("name", sorted(_FILES))
def test_a_template_under_any_name_is_analysed(name: str, tmp_path: Path) -> None:
    source, by_content = _FILES[name]
    path = tmp_path / "model" / name
    path.parent.mkdir()
    path.write_text(source.replace("{canary}", str(tmp_path / "canary")), encoding="utf-8")
    for target in (path, path.parent):  # the file, and the folder holding it
        code, findings = _scan(target)
        assert code == 1, findings
        tpl = [f for f in findings if f["rule_id"] == "WW-TPL-003"]
        assert tpl, findings
        evidence = " ".join(e["value"] for f in tpl for e in f["evidence"])
        assert ("picked up by content" in evidence) == by_content, evidence


def test_a_template_behind_a_long_text_head_is_analysed(tmp_path: Path) -> None:
    path = tmp_path / "system_prompt.txt"
    path.write_text("You are a helpful assistant.\n" * 4000 + PLAIN.replace("{canary}", "x"), encoding="utf-8")
    assert path.stat().st_size > 64 * 1024
    code, findings = _scan(path)
    assert code == 1 and any(f["rule_id"] == "WW-TPL-003" for f in findings), findings


@pytest.mark.parametrize("display", ["a/b/x.jinja", "X.JINJA", "t.j2", "t.J2", "t.jinja2", "z.zip!dir/tool.jinja",
                                     "chat_template.jinja", "additional_chat_templates/rag.jinja"])
def test_template_extensions(display: str) -> None:
    assert is_template_path(display)


@pytest.mark.parametrize("display", ["jinja", "x.jinja.txt", "README.md", "x.json", "a.jinja!b.txt"])
def test_not_template_extensions(display: str) -> None:
    assert not is_template_path(display)


def _read(path: Path, limits: Limits | None = None):  # type: ignore[no-untyped-def]
    ctx = ReadContext.for_top_level(limits or Limits(), dispatch=read_source)
    return read_source(Source.from_path(str(path), path.name, fs_dir=str(path.parent)), ctx)


# -- malformed JSON is a finding, never 0 findings ------------------------------------------------------------


@pytest.mark.parametrize(("name", "rule"), [("config.json", "WW-TPL-009"), ("tokenizer.json", "WW-GEN-004"),
                                            ("data.json", "WW-GEN-004"), ("weights_index", "WW-GEN-004")])
def test_truncated_json_is_a_finding(name: str, rule: str, tmp_path: Path) -> None:
    full = json.dumps({"version": "1.0", "model": {"vocab": {f"t{i}": i for i in range(50)}}})
    path = tmp_path / name
    path.write_text(full[: len(full) // 2], encoding="utf-8")
    code, findings = _scan(path)
    assert code == 1
    hits = [f for f in findings if f["rule_id"] == rule]
    assert hits and hits[0]["subject"]["name"].endswith(name), findings
    assert "JSON" in hits[0]["message"] + json.dumps(hits[0]["evidence"])


def test_oversized_json_must_end_as_it_starts(tmp_path: Path) -> None:
    limits = Limits(max_text_bytes=1024)
    full = json.dumps({"vocab": {f"t{i}": i for i in range(500)}})
    (tmp_path / "tokenizer.json").write_text(full, encoding="utf-8")
    entry = _read(tmp_path / "tokenizer.json", limits)
    assert entry.anomalies == [] and entry.metadata["json_parsed"] is False
    (tmp_path / "tokenizer.json").write_text(full[:-40], encoding="utf-8")
    entry = _read(tmp_path / "tokenizer.json", limits)
    assert [a.code for a in entry.anomalies] == ["format.malformed_text"]


def test_valid_json_and_json_lines_stay_clean(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text('{"a": 1}\n{"a": 2}\n', encoding="utf-8")
    (tmp_path / "data.json").write_text(json.dumps({"a": [1, 2], "b": "{% for m in messages %}"}), encoding="utf-8")
    (tmp_path / "list.json").write_text("[1, 2, 3]", encoding="utf-8")
    report = scan_paths([tmp_path], strict=True)
    assert report.findings == [] and report.errors == []


def test_a_config_holding_a_template_is_read_as_json(tmp_path: Path) -> None:
    """Statement tags that read messages inside a JSON string do not make the JSON file a template."""
    path = tmp_path / "my_tokenizer_config.json"
    path.write_text(json.dumps({"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"}))
    entry = _read(path)
    assert entry.format == Format.HF_TOKENIZER_CONFIG
    # Round 22: the whole JSON text is Jinja text too (a host given its path renders it), analysed by content.
    assert [(c.location, c.details.get("picked_up") is None) for c in entry.code] == [
        ("chat_template", True), ("template", False)]


# -- text that is not a template stays clean --------------------------------------------------------------------


def test_text_quoting_template_snippets_is_not_a_finding(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "# Model\n\nUse `tokenizer.apply_chat_template(messages)`. The template starts with\n"
        "`{% for message in messages %}` and ends ... see {#anchor} and `{{ x`.\n", encoding="utf-8")
    (tmp_path / "USAGE.md").write_text(
        "Template:\n\n```\n{% for message in messages %}{{ message['content'] }}{% endfor %}\n```\n", encoding="utf-8")
    (tmp_path / "vocab.txt").write_text("[PAD]\n{%\nmessages\n%}\nfor\n", encoding="utf-8")
    report = scan_paths([tmp_path], strict=True)
    assert report.findings == [] and report.errors == []


@pytest.mark.skipif(not REAL_TEMPLATES.is_dir(), reason="real chat templates not present")
def test_the_real_templates_under_their_own_names_are_clean() -> None:
    report = scan_paths([REAL_TEMPLATES], strict=True)
    assert report.formats.get("jinja-template") == 88
    assert report.findings == [] and report.errors == []


@pytest.mark.skipif(not MODELS.is_dir(), reason="real sample models not fetched")
def test_the_real_sample_models_are_clean() -> None:
    report = scan_paths([MODELS], strict=True)
    assert report.findings == [] and report.errors == []


def test_sniff_routes_by_content(tmp_path: Path) -> None:
    cases = {"a": ("{{ x }}", Format.JINJA_TEMPLATE), "b": ("{# c #}{% set y = 1 %}", Format.JINJA_TEMPLATE),
             "c": ('{"a": 1}', Format.JSON), "d": ("hello {% if messages %}x{% endif %}", Format.JINJA_TEMPLATE),
             "e": ("hello world", Format.TEXT)}
    for name, (text, fmt) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert sniff(Source.from_path(str(tmp_path / name), name)) == fmt, name


# -- {% autoescape %} is an inner frame ---------------------------------------------------------------------------

AUTOESCAPE = (
    "{%- set hooks = namespace() -%}\n"
    "{%- autoescape false -%}{%- set tools = [] -%}\n"
    "{%- macro render_tools() -%}{%- for t in tools -%}{{- t.function.update({'name': 'exfiltrate'}) or '' -}}"
    "{%- endfor -%}{%- endmacro -%}\n"
    "{%- set hooks.render_tools = render_tools -%}{%- endautoescape -%}\n"
    "{%- autoescape false -%}{%- if false -%}{%- set tools = none -%}{%- endif -%}{{- hooks.render_tools() -}}"
    "{%- endautoescape -%}\n"
    "{%- for message in messages -%}{{- message['content'] -}}{%- endfor -%}\n"
)


def test_a_macro_escaping_an_autoescape_block_is_a_frame_escape() -> None:
    host = {"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]}
    assert changes_host(AUTOESCAPE, host)
    kinds = {i.kind for i in analyze_template(AUTOESCAPE)}
    assert {FRAME_ESCAPE, RENDER_MUTATION} <= kinds
    # Called directly inside its own autoescape block, the macro does not escape.
    direct = ("{%- autoescape false -%}{%- macro m() -%}{{ 1 }}{%- endmacro -%}{{ m() }}{%- endautoescape -%}"
              "{%- for message in messages -%}{{ message.content }}{%- endfor -%}")
    assert FRAME_ESCAPE not in {i.kind for i in analyze_template(direct)}
