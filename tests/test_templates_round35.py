"""Red team round 34 on templates (report rt-scan-round34; helper tpl35): the page as its reader sees it.

Class A: a Jinja opener split by an empty inline HTML element or comment (``{<b></b>{``, ``{<!-- -->%``) in a
``<pre>``, an inline ``<code>`` or a paragraph: the page shows ``{{``/``{%``, the raw text none. Class B: a JSON config
that is JSON only as shown (a GFM table cell's ``\\|``, ``&quot;`` in a ``<pre>``). FP-A: the 88 real templates in an
HTML-escaped ``<pre>`` (22 highs on 9). The fix: ONE rendered-page view (``artifact/page_view.py``: markdown-it to
HTML, html.parser to the displayed text, units with their source lines) used by the sniffer, the code blocks, the
JSON units and the recovery; a shown ``<pre>``/``<code>`` body is one unit.

Victims: the README rendered as a page (markdown-it, CommonMark with raw HTML and GFM tables, as GitHub / Hugging Face
show cards), the text of a ``<pre>``/``<code>`` element copied as a browser shows it (html.parser), then rendered by a
plain (sandbox-less) ``jinja2.Environment`` in a subprocess that creates the canary folder.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.template_rounds import scan_file
from tests.template_rounds import split_template as _split
from weightwarden.artifact import json_units as ju
from weightwarden.artifact.code_blocks import MARKDOWN_PARSE_CHARS
from weightwarden.artifact.page_view import displayed_fragment, page_view, shows_other_tags
from weightwarden.artifact.sniff import template_by_content

SEVERE = ("critical", "high")
_DATASET = Path("/work/shared/datasets/chat-templates")

# The victim: a reader copies the text of each <pre>/<code> element of the rendered page (or, "json", pastes it as
# tokenizer_config.json) and a plain Jinja host renders it.
_VICTIM = r"""
import html.parser, json, sys, jinja2
from markdown_it import MarkdownIt
page = MarkdownIt("commonmark", {"html": True}).enable("table").render(open(sys.argv[1], encoding="utf-8").read())
class Copy(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True); self.depth = 0; self.units = []; self.cur = []
    def handle_starttag(self, tag, attrs):
        self.depth += tag in ("pre", "code")
    def handle_endtag(self, tag):
        if tag in ("pre", "code"):
            self.depth -= 1
            if self.depth == 0:
                self.units.append("".join(self.cur)); self.cur = []
    def handle_data(self, data):
        if self.depth: self.cur.append(data)
copy = Copy(); copy.feed(page)
units = copy.units or [page.split("<p>")[-1].split("</p>")[0]]  # a paragraph unit: its shown text
if sys.argv[2] == "paragraph":
    p = html.parser.HTMLParser(convert_charrefs=True); out = []
    p.handle_data = out.append; p.feed(page.split("<p>")[-1].split("</p>")[0]); units = ["".join(out)]
for unit in units:
    unit = unit[1:] if unit.startswith("\n") else unit
    source = json.loads(unit)["chat_template"] if sys.argv[2] == "json" else unit
    try:
        jinja2.Environment().from_string(source).render(messages=[{"role": "user", "content": "hi"}])
    except Exception:
        pass
"""


def _victim_fires(tmp_path: Path, readme: Path, canary: Path, mode: str) -> bool:
    script = tmp_path / "victim.py"
    script.write_text(_VICTIM, encoding="utf-8")
    subprocess.run([sys.executable, str(script), str(readme), mode], check=True, timeout=60)
    return canary.is_dir()


def _class_a(canary: Path, shape: str) -> tuple[str, str]:
    if shape == "pre_b":
        return "# Model\n\nCopy this into chat_template.jinja:\n\n<pre>\n" + _split(canary, "<b></b>") + "\n</pre>\n", "code"
    if shape == "pre_comment":
        return "# Model\n\nTemplate:\n\n<pre>\n" + _split(canary, "<!-- -->") + "\n</pre>\n", "code"
    if shape == "inline_code":
        return "# Model\n\nTemplate: <code>" + _split(canary, "<span></span>", True) + "</code>\n", "code"
    return ("# Model\n\nThe chat template is the next paragraph.\n\n" + _split(canary, "<i></i>", True) + "\n",
            "paragraph")


def _severe(findings: list) -> list:
    return [f for f in findings if f.severity.value in SEVERE]


# --- class A: openers split by inline HTML ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["pre_b", "pre_comment", "inline_code", "paragraph"])
def test_class_a_openers_split_by_inline_html_are_caught(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    text, mode = _class_a(canary, shape)
    assert "{{" not in text and "{%" not in text  # the raw text shows no opener at all
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    assert _victim_fires(tmp_path, readme, canary, mode)
    canary.rmdir()
    assert template_by_content(text, page=True) is not None  # sniffed: the page shows a tag
    found = _severe(scan_file(tmp_path, "README.md", text))
    assert found, shape
    assert any(f.rule_id in ("WW-TPL-001", "WW-TPL-003") for f in found)
    assert not canary.exists()


def test_class_a_locates_the_payload_at_its_source_line(tmp_path: Path) -> None:
    text, _mode = _class_a(tmp_path / "c", "pre_b")
    text = text.replace("<pre>\n", "<pre>\n\n\n")  # the payload on source line 8
    found = _severe(scan_file(tmp_path, "README.md", text))
    assert any(" line 8 " in f.location.path for f in found), [f.location.path for f in found]


# --- class B: JSON configs valid only as shown -----------------------------------------------------------------------

def _class_b(canary: Path, shape: str) -> str:
    opener, closer = "\\u007b\\u007b", "\\u007d\\u007d"
    if shape == "cell":
        tpl = (f"{opener} ((cycler \\| attr('__init__') \\| attr('__globals__'))['os']).mkdir('{canary}') {closer}"
               f"{opener} messages[0]['content'] {closer}")
        cell = '`{"chat_template": "' + tpl + '", "eos_token": "</s>"}`'
        return "# Model\n\n| file | content |\n| --- | --- |\n| tokenizer_config.json | " + cell + " |\n"
    tpl = f"{opener} cycler.__init__.__globals__.os.mkdir('{canary}') {closer}{opener} messages[0]['content'] {closer}"
    cfg = '{"chat_template": "' + tpl + '", "eos_token": "</s>"}'
    return "# Model\n\ntokenizer_config.json:\n\n<pre>\n" + cfg.replace('"', "&quot;") + "\n</pre>\n"


@pytest.mark.parametrize("shape", ["cell", "pre_quot"])
def test_class_b_configs_json_only_as_shown_are_judged(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    text = _class_b(canary, shape)
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    assert _victim_fires(tmp_path, readme, canary, "json")
    canary.rmdir()
    units, cut = ju.json_units(text, page=True)
    assert units and units[0].configs and not cut
    found = _severe(scan_file(tmp_path, "README.md", text))
    assert any("(JSON code block)" in f.location.path for f in found), [f.location.path for f in found]
    assert any(f.severity.value == "critical" for f in found)


def test_class_b_still_bounded_by_max_json_units(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ju, "MAX_JSON_UNITS", 1)
    text = _class_b(tmp_path / "c", "pre_quot") + "\n" + _class_b(tmp_path / "d", "cell")
    found = scan_file(tmp_path, "README.md", text)
    assert any(f.rule_id == "WW-TPL-002" and "more than 1 JSON units" in f.message for f in found)


# --- the view itself ---------------------------------------------------------------------------------------------------

def test_page_view_units_and_lines() -> None:
    text = ("# T\n\nSee `a \\| b`.\n\n```jinja\n{{ x }}\n\n{% if y %}{% endif %}\n```\n\n"
            "| a | b |\n|---|---|\n| `c \\| d` | &lt;e&gt; |\n\n<pre>\n{<!-- -->{ z }}\n</pre>\n")
    view = page_view(text)
    kinds = {(u.kind, u.first_line, u.body) for u in view.units}
    assert ("code", 6, "{{ x }}\n\n{% if y %}{% endif %}\n") in kinds  # a fence body verbatim, one unit
    assert ("code", 3, "a \\| b") in kinds  # outside a table GFM keeps "\|" in a code span
    assert ("cell", 13, "c | d") in kinds and ("cell", 13, "<e>") in kinds
    assert ("pre", 16, "{{ z }}\n") in kinds  # comment removed, the newline after <pre> dropped
    for unit in view.units:
        assert view.text[unit.start:unit.end] == unit.body
    assert view.text.split("\n")[15] == "{{ z }}"  # the view keeps source lines


def test_page_view_gate_and_fragment() -> None:
    assert not shows_other_tags("{{ x }} and \\_ text", page_view("{{ x }} and \\_ text"))
    assert shows_other_tags("a {<b></b>{ x }}", page_view("a {<b></b>{ x }}"))
    assert displayed_fragment("{%- if a &gt; b %}<!-- c -->") == "{%- if a > b %}"


def test_page_view_past_the_parse_bound_is_a_superset() -> None:
    text = "x" * (MARKDOWN_PARSE_CHARS + 1) + "\n{<b></b>{ y }} &#123;% z %}"
    view = page_view(text)
    assert view.units == () and "{{ y }}" in view.text and "{% z %}" in view.text


def test_a_payload_the_page_hides_in_a_comment_inside_an_escaped_pre_is_still_read(tmp_path: Path) -> None:
    """The raw content of a <pre> is left to the shown unit only when every raw tag is shown alike; a tag inside an
    HTML comment is not shown, so the raw readings keep it (fail closed)."""
    body = html.escape("{% for m in messages %}{{ m['content'] }}{% if m.role > 'a' %}x{% endif %}{% endfor %}",
                       quote=False)
    text = ("# M\n\n<pre>\n" + body + "\n<!--\n{{ cycler.__init__.__globals__.os.popen('id').read() }}\n-->\n"
            + "</pre>\n")
    assert _severe(scan_file(tmp_path, "README.md", text))


# --- false positives: the 88 real templates as a page shows them ----------------------------------------------------

def _page_wrappers(template: str) -> dict[str, str]:
    config = json.dumps({"chat_template": template, "eos_token": "</s>"}).replace("|", "\\|")
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", config)), default=0) + 1)
    return {
        "htmlpre": "# Model\n\nThe template:\n\n<pre>\n" + html.escape(template, quote=False) + "\n</pre>\n",
        "tablecell": "# Model\n\n| file | content |\n| --- | --- |\n| tokenizer_config.json | " + ticks + " "
                     + config + " " + ticks + " |\n",
    }


def test_real_templates_as_a_page_shows_them_get_no_high(tmp_path: Path) -> None:
    """Round 34 FP-A (22 highs on 9 before) and the table-cell config form; the other six wrappers (natural,
    per-line repr, Python repr, YAML, JSON fence, JSON list) are tests/test_templates_round34.py's."""
    templates = sorted(_DATASET.glob("**/*.jinja")) if _DATASET.is_dir() else []
    if not templates:
        pytest.skip("dataset absent")
    bad = []
    for path in templates:
        template = path.read_text(encoding="utf-8")
        for wrapper, text in _page_wrappers(template).items():
            found = _severe(scan_file(tmp_path, "README.md", text))
            if found:
                bad.append((path.parent.name, path.stem, wrapper, [(f.rule_id, f.location.path) for f in found][:3]))
    assert len(templates) >= 80
    assert bad == []


def test_real_template_table_cell_config_is_read_as_json(tmp_path: Path) -> None:
    templates = sorted(_DATASET.glob("**/*.jinja")) if _DATASET.is_dir() else []
    if not templates:
        pytest.skip("dataset absent")
    text = _page_wrappers(templates[0].read_text(encoding="utf-8"))["tablecell"]
    units, _cut = ju.json_units(text, page=True)
    assert units and units[0].configs  # the cell's config is read (as shown: "\|" is "|")


def test_only_texts_shown_rendered_have_a_page(tmp_path: Path) -> None:
    """A .txt is shown as it is (Hugging Face and GitHub render Markdown only): its page is its raw text, and a tag
    split by inline HTML there is no tag anyone sees (documented: docs/decisions.md, helper tpl35)."""
    from weightwarden.artifact.page_view import is_page

    assert is_page("x/README.md") and is_page("a.zip!docs/card.MARKDOWN") and is_page("index.html")
    assert not is_page("chat_template.txt") and not is_page("README") and not is_page("t.jinja")
    text, _mode = _class_a(tmp_path / "c", "pre_b")
    assert _severe(scan_file(tmp_path, "README.md", text))
    assert scan_file(tmp_path, "notes.txt", text) == []
