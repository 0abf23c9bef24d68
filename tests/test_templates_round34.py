"""Red team round 33 on templates (report rt-scan-round33; helper tpl34): the README threat model, narrowed.

The lead's decision (docs/decisions.md, "Red team round 33 on templates: found and fixed (helper tpl34)"): in a
README-like text a template is judged where a host can be given it:

1. a template read by name (tokenizer_config.json, chat_template.jinja, ...): unchanged, judged whole;
2. a whole text given by path (``vllm --chat-template FILE``): judged whole, by content;
3. a fenced unit whose whole content is a template: the reader copies it into a file;
4. a JSON unit (a fence, a code element, the whole text) that ``json.loads`` parses and holds ``chat_template``: the
   reader pastes it into tokenizer_config.json; its templates are judged exactly as read by name.

Dropped: Jinja reassembled from host-language string literals (Python, JS, YAML, shell): code the reader runs.
Round 33's class Q (a JSON value skipped as "Jinja's own string") is closed by 4; its false positives (a real
template shown one ``repr(line)`` per line, or as a JSON/YAML/Python-repr literal) are gone.

Victims are plain (sandbox-less) ``jinja2.Environment`` renders in a subprocess.
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from tests.template_rounds import host_renders, scan_file
from weightwarden.artifact import json_units as ju
from weightwarden.artifact.code_blocks import host_code_lines
from weightwarden.scan.rules.template import _without_host_code

SEVERE = ("critical", "high")
_TPL = "{% for m in messages %}{{ m.content }}{% endfor %}"
_DATASET = Path("/work/shared/datasets/chat-templates")


def _payload(canary: Path) -> str:
    return f"{{{{ cycler.__init__.__globals__.os.mkdir('{canary}') }}}}"


def _severe(findings: list) -> list:
    return [f for f in findings if f.severity.value in SEVERE]


def _renders(tmp_path: Path, source: str, canary: Path) -> bool:
    try:
        return host_renders(tmp_path, source, canary)
    except subprocess.CalledProcessError:
        return canary.is_dir()


def _u(text: str) -> str:
    """A JSON text with every "__" spelled as JSON escapes (the raw text then fails Jinja's lexer)."""
    return text.replace("__", "\\u005f\\u005f")


# --- case 1: templates read by name (unchanged) --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tokenizer_config.json", "chat_template.jinja"])
def test_case1_a_template_read_by_name_is_judged(tmp_path: Path, name: str) -> None:
    canary = tmp_path / "canary"
    template = _TPL + _payload(canary)
    data = _u(json.dumps({"chat_template": template})) if name.endswith(".json") else template
    assert _renders(tmp_path, template, canary)
    assert _severe(scan_file(tmp_path, name, data))


# --- case 2: a whole text given by path ------------------------------------------------------------------------------

def test_case2_a_whole_text_file_is_judged_by_content(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = "{# my serving template #}\n" + _TPL + _payload(canary) + "\n"
    assert _renders(tmp_path, text, canary)
    assert _severe(scan_file(tmp_path, "serving_template.txt", text))


# --- case 3: a fenced unit whose whole content is a template -------------------------------------------------------

@pytest.mark.parametrize("info", ["jinja", "jinja2", "j2", "", "text"])
def test_case3_a_template_fence_is_judged(tmp_path: Path, info: str) -> None:
    canary = tmp_path / "canary"
    body = _TPL + _payload(canary)
    # A stray tag in the prose: the page as a whole does not parse (renders nothing); the fence does.
    text = f"# Model\n\nTags look like {{% if.\n\n```{info}\n{body}\n```\n"
    assert not _renders(tmp_path, text, canary)
    assert _renders(tmp_path, body, canary)
    assert _severe(scan_file(tmp_path, "README.md", text))


def test_case3_a_host_language_fence_whose_body_is_a_template_is_still_judged(tmp_path: Path) -> None:
    """A fence tagged python whose raw body parses as Jinja is judged whole (failing toward analysing): only the
    recovery's tag-by-tag reading of host-language fences is dropped."""
    canary = tmp_path / "canary"
    body = _TPL + _payload(canary)
    text = f"# Model\n\nTags look like {{% if.\n\n```python\n{body}\n```\n"
    assert _severe(scan_file(tmp_path, "README.md", text))


# --- case 4: a JSON config a page shows ----------------------------------------------------------------------------

def test_case4_round33_q2_json_literal_spanned_by_a_tag_is_judged(tmp_path: Path) -> None:
    """Round 33's class Q (q2): an earlier value opens "{% if " and the template value starts with "%}", so the
    raw text's lexing took the value's quote for Jinja's own string and skipped it. Read with json.loads."""
    canary = tmp_path / "canary"
    cfg = ('{\n  "note": "tags look like {% if ",\n  "chat_template": '
           + _u(json.dumps("%} " + _TPL + _payload(canary))) + "\n}")
    text = "# Model\n\nPut this in your tokenizer_config.json:\n\n```json\n" + cfg + "\n```\n"
    assert "__init__" not in text
    assert not _renders(tmp_path, text, canary)
    assert _renders(tmp_path, json.loads(cfg)["chat_template"], canary)
    found = _severe(scan_file(tmp_path, "README.md", text))
    assert any(f.rule_id == "WW-TPL-003" and "line 6 (JSON code block) chat_template" in f.location.path
               for f in found), found


@pytest.mark.parametrize("shape", ["list_form", "dict_form", "untagged_fence", "pre_element", "code_span",
                                   "nested_request", "whole_text", "escaped_key"])
def test_case4_json_shapes_are_judged_as_read_by_name(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    template = _TPL + _payload(canary)
    name = "README.md"
    if shape == "list_form":
        doc = {"chat_template": [{"name": "default", "template": _TPL}, {"name": "tool_use", "template": template}]}
    elif shape == "dict_form":
        doc = {"chat_template": {"default": _TPL, "rag": template}}
    elif shape == "nested_request":
        doc = {"model": "m", "messages": [], "extra_body": {"chat_template": template}}
    else:
        doc = {"chat_template": template, "bos_token": "<s>"}
    cfg = _u(json.dumps(doc))
    if shape == "escaped_key":
        cfg = cfg.replace('"chat_template"', '"chat\\u005ftemplate"')
    if shape == "untagged_fence":
        text = f"# Model\n\n```\n{cfg}\n```\n"
    elif shape == "pre_element":
        text = f"# Model\n\n<pre>{cfg}</pre>\n"
    elif shape == "code_span":
        text = f"# Model\n\nSet `{cfg}` in the config.\n"
    elif shape == "whole_text":
        text, name = cfg, "config_example.txt"
    else:
        text = f"# Model\n\n```json\n{cfg}\n```\n"
    assert "__init__" not in text
    found = _severe(scan_file(tmp_path, name, text))
    if shape == "whole_text":  # a text that is JSON is the JSON reader's: a config with chat_template, as by name
        assert any(f.rule_id == "WW-TPL-003" and f.location.path.startswith("chat_template") for f in found), found
    else:
        assert any("(JSON code block)" in f.location.path for f in found), (shape, found)


@pytest.mark.parametrize("name", ["README.md", "notes.txt"])
def test_case4_a_page_without_any_raw_tag_is_read_for_its_configs(tmp_path: Path, name: str) -> None:
    """Every brace of the template JSON-escaped: the page holds no Jinja tag in any view (it was not even picked up
    as a template before), but the config a reader pastes renders the payload."""
    canary = tmp_path / "canary"
    value = json.dumps(_TPL + _payload(canary)).replace("{", "\\u007b").replace("}", "\\u007d")
    cfg = '{"chat\\u005Ftemplate": ' + value + "}"
    text = f"# Model\n\nPaste into tokenizer_config.json:\n\n```json\n{cfg}\n```\n"
    assert "{{" not in text and "{%" not in text and "chat_template" not in text
    assert _renders(tmp_path, json.loads(cfg)["chat_template"], canary)
    found = _severe(scan_file(tmp_path, name, text))
    assert any(f.rule_id == "WW-TPL-003" and "(JSON code block)" in f.location.path for f in found), found


def test_case4_a_page_naming_the_key_without_a_config_stays_clean(tmp_path: Path) -> None:
    text = "# Model\n\nThe `chat_template` key of tokenizer_config.json holds the template; see `\\u005f`.\n"
    assert scan_file(tmp_path, "README.md", text) == []


def test_case4_special_tokens_and_parse_errors_as_by_name(tmp_path: Path) -> None:
    """Exactly as read by name: the special tokens of the same config are judged (a dunder token is critical), and
    a template that does not parse gets WW-TPL-007 (medium)."""
    text = "# M\n\n```json\n" + json.dumps({"chat_template": _TPL, "bos_token": "__globals__"}) + "\n```\n"
    assert any(f.rule_id == "WW-TPL-001" and "special token bos_token" in f.location.path
               for f in scan_file(tmp_path, "README.md", text))
    text = "# M\n\n```json\n" + json.dumps({"chat_template": "{% for m in messages %}"}) + "\n```\n"
    assert any(f.rule_id == "WW-TPL-007" for f in scan_file(tmp_path, "README.md", text))


def test_case4_json_that_does_not_parse_is_not_a_config(tmp_path: Path) -> None:
    """A fence that json.loads rejects (a trailing comma: no host loads it) is not read as a config; its payload
    in escapes is not judged (documented limit)."""
    canary = tmp_path / "canary"
    cfg = _u(json.dumps({"chat_template": _TPL + _payload(canary)}))[:-1] + ",}"
    with pytest.raises(ValueError):
        json.loads(cfg)
    assert scan_file(tmp_path, "README.md", f"# M\n\n```json\n{cfg}\n```\n") == []


def test_json_units_unit() -> None:
    units, cut = ju.json_units('# M\n\n```json\n{"a": {"chat\\u005ftemplate": "{{ x }}"}}\n```\n\nNot JSON: {"chat_template": ]\n')
    assert not cut and len(units) == 1 and units[0].first_line == 4 and units[0].configs == [{"chat_template": "{{ x }}"}]
    assert ju.json_units("no key here {\"a\": 1}") == ([], False)


def test_json_units_fail_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = '# M\n\n```json\n{"chat_template": ' + "[" * 100_000 + "]" * 100_000 + "}\n```\n"
    units, _cut = ju.json_units(deep)
    assert [u.problem for u in units] == ["nested too deep for the JSON parser"]
    # The scan fails closed (the reader's depth bound answers first for a text this deep: WW-GEN-001).
    assert _severe(scan_file(tmp_path, "README.md", deep))
    monkeypatch.setattr(ju, "MAX_JSON_UNITS", 2)
    text = "# M\n\n" + "\n\n".join(f"```json\n{{\"chat_template\": \"{{{{ x{i} }}}}\"}}\n```" for i in range(4)) + "\n"
    assert any(f.rule_id == "WW-TPL-002" and "more than 2 JSON units" in f.message for f in scan_file(tmp_path, "README.md", text))


# --- dropped: Jinja built from host-language literals (documented behaviour) ---------------------------------------

@pytest.mark.parametrize("shape", ["python_concat", "yaml_single", "python_triple"])
def test_dropped_host_language_literals_are_not_judged(tmp_path: Path, shape: str) -> None:
    """Round 33's classes P and R: the value only exists once Python/YAML builds it. Out of the README threat model
    (code the reader runs); asserted so that a change is seen. The Python victim fires with ast.literal_eval."""
    canary = tmp_path / "canary"
    if shape == "python_concat":
        expr = f'("{_TPL}" "{{{{ cycler.__in" "it__.__glo" "bals__.os.mkdir(\'{canary}\') }}}}")'
        text = f"# M\n\n```python\ntokenizer.chat_template = {expr}\n```\n"
        assert _renders(tmp_path, ast.literal_eval(expr), canary)
    elif shape == "python_triple":
        expr = '"""' + _TPL + "\n\n" + _payload(canary).replace("__", "\\x5f\\x5f") + '"""'
        text = f"# M\n\n```python\ntokenizer.chat_template = {expr}\n```\n"
        assert _renders(tmp_path, ast.literal_eval(expr), canary)
    else:
        text = ("# M\n\n```yaml\nchat_template: '" + _TPL
                + f"{{{{ cycler[''__init__''][''__globals__''].os.mkdir(''{canary}'') }}}}'\n```\n")
    assert scan_file(tmp_path, "README.md", text) == []


def test_host_code_lines_blank_only_host_language_fences() -> None:
    text = "# M\n\n```python\nx = '{{ a }}'\n```\n\n```jinja\n{{ b }}\n```\n\n> ```yaml\n> k: '{{ c }}'\n> ```\n"
    blanked = _without_host_code(text)
    assert len(blanked) == len(text) and blanked.count("\n") == text.count("\n")
    assert "{{ a }}" not in blanked and "{{ c }}" not in blanked and "{{ b }}" in blanked
    assert host_code_lines("no fence {{ x }}") == []


# --- false positives: the 88 real templates in every wrapper (round 33 FP-1 and FP-2) ------------------------------

def _wrappers(template: str) -> dict[str, tuple[str, str]]:
    lines = template.splitlines(True)
    concat = "\n".join("    " + repr(line) for line in lines)
    return {
        "natural": ("chat_template.jinja", template),
        "pyconcat": ("README.md", f"# Model\n\n```python\ntokenizer.chat_template = (\n{concat}\n)\n```\n"),
        "pyrepr": ("README.md", f"# Model\n\n```python\ntokenizer.chat_template = {template!r}\n```\n"),
        "yaml": ("README.md", "# Model\n\n```yaml\nchat_template: " + json.dumps(template) + "\n```\n"),
        "jsonfence": ("README.md", "# Model\n\n```json\n" + json.dumps(
            {"chat_template": template, "bos_token": "<s>", "eos_token": "</s>"}, indent=2) + "\n```\n"),
        "jsonlist": ("README.md", "# Model\n\n```json\n" + json.dumps(
            {"chat_template": [{"name": "default", "template": template}]}) + "\n```\n"),
    }


def test_real_templates_in_every_wrapper_get_no_high(tmp_path: Path) -> None:
    templates = sorted(_DATASET.glob("**/*.jinja")) if _DATASET.is_dir() else []
    if not templates:
        pytest.skip("dataset absent")
    bad = []
    for path in templates:
        for wrapper, (name, text) in _wrappers(path.read_text(encoding="utf-8")).items():
            found = _severe(scan_file(tmp_path, name, text))
            if found:
                bad.append((path.parent.name, path.stem, wrapper, [(f.rule_id, f.location.path) for f in found][:3]))
    assert len(templates) >= 80
    assert bad == []
