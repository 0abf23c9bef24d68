"""Red team round 35 on templates (report rt-scan-round35, PoCs lost and rebuilt from the lead's record; helper tpl36):
the page as EACH host shows it.

All case (3) of the README threat model: a ``<pre>`` or paragraph whose shown text is a template, each opener split
(``{<b></b>{``) so that the raw text holds none. Class C: HTML5 comment endings (``<!-->``, ``<!--->``, ``--!>``) that
Python's ``html.parser`` does not end a comment at (the old view hid the ``<pre>`` a browser shows). Class D: GitHub's
tag filter (GFM's "disallowed raw HTML": the ``<`` of ``<script>``, ``<style>``, ``<textarea>``, ... is escaped), so
their content is parsed as HTML there, where the old view hid it (script, style) or showed it literally (textarea).
Class E: GFM strikethrough (``{~~{~~``, ``{~{~``: shown and copied as ``{{``). FP-B: the 88 real templates
HTML-escaped in ``<pre><code class="language-jinja">`` (6 highs on 2) and in a ``.html`` page (23 highs on 10: it was
read as Markdown). The fix: every host's reading of a page (``page_view.page_views``: GitHub's GFM, plain CommonMark,
a browser's for ``.html``), each through an HTML5 parser (lexbor), judged as a union.

Victims, independent of the product's renderer and parser: GitHub's own renderer (cmark-gfm with its extensions,
through ``cmarkgfm``, raw HTML allowed as GitHub does before its tag filter), then an HTML5 parser (``html5lib``, not
the product's lexbor), then the text of each ``<pre>``/``<code>``/paragraph/cell (and the body's whole text, for a
reader who selects the page) rendered by a plain (sandbox-less) ``jinja2.Environment`` in a subprocess that creates
the canary folder. Class C is also checked in Chromium (the text a person sees in the ``<pre>``).
"""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path

import pytest

from tests.template_rounds import scan_file
from tests.template_rounds import split_template as _split
from weightwarden.artifact.code_blocks import code_blocks
from weightwarden.artifact.page_view import HTML, MARKDOWN, page_kind, page_view, page_views
from weightwarden.artifact.sniff import template_by_content

SEVERE = ("critical", "high")
_DATASET = Path("/work/shared/datasets/chat-templates")

_VICTIM = r"""
import sys, jinja2, html5lib
source = open(sys.argv[1], encoding="utf-8").read()
if sys.argv[2] == "markdown":  # GitHub: cmark-gfm with its extensions (tables, strikethrough, autolinks, tag filter)
    import cmarkgfm
    from cmarkgfm.cmark import Options
    page = "<!DOCTYPE html><body><article>" + cmarkgfm.github_flavored_markdown_to_html(
        source, options=Options.CMARK_OPT_UNSAFE)
else:  # an HTML page, as a browser reads it
    page = source
body = html5lib.parse(page, namespaceHTMLElements=False).find("body")
units = ["".join(el.itertext()) for el in body.iter() if el.tag in ("pre", "code", "p", "td", "textarea")]
units.append("".join(body.itertext()))
for unit in units:
    try:
        jinja2.Environment().from_string(unit).render(messages=[{"role": "user", "content": "hi"}])
    except Exception:
        pass
"""


def _victim_fires(tmp_path: Path, page: Path, canary: Path, kind: str = MARKDOWN) -> bool:
    script = tmp_path / "victim.py"
    script.write_text(_VICTIM, encoding="utf-8")
    subprocess.run([sys.executable, str(script), str(page), kind], check=True, timeout=60)
    return canary.is_dir()


def _pre(canary: Path) -> str:
    return "<pre>\n" + _split(canary, "<b></b>") + "\n</pre>\n"


_SHAPES = {
    # Class C: a comment a browser ends where html.parser does not, which ran on to a later "-->" (the <pre> or text
    # between them, which a browser shows, was hidden).
    "c_abrupt": lambda c: "# Model\n\n<!-->\n" + _pre(c) + "<!-- end -->\n",
    "c_abrupt_dash": lambda c: "# Model\n\n<!--->\n" + _pre(c) + "<!-- end -->\n",
    "c_bang": lambda c: "# Model\n\n<!-- the template --!>\n" + _pre(c) + "<!-- end -->\n",
    "c_inline": lambda c: "# Model\n\nTemplate: <!--> " + _split(c, "<i></i>", True) + " <!-- end -->\n",
    # Class D: GitHub's tag filter shows these elements' content as HTML.
    "d_script": lambda c: "# Model\n\n<script>\n" + _pre(c) + "</script>\n",
    "d_style": lambda c: "# Model\n\n<style>\n" + _pre(c) + "</style>\n",
    "d_textarea": lambda c: "# Model\n\n<textarea>\n" + _split(c, "<b></b>") + "\n</textarea>\n",
    "d_noembed": lambda c: "# Model\n\n<noembed>\n" + _pre(c) + "</noembed>\n",
    # Class E: GFM strikethrough, two tildes and one.
    "e_double": lambda c: "# Model\n\nThe chat template:\n\n" + _split(c, "~~", True) + "\n",
    "e_single": lambda c: "# Model\n\nThe chat template:\n\n" + _split(c, "~", True) + "\n",
    "e_cell": lambda c: ("# Model\n\n| file | template |\n| --- | --- |\n| chat_template.jinja | {~~{~~ cycler.\\_\\_init"
                         f"\\_\\_.\\_\\_globals\\_\\_.os.mkdir('{c}') }}}} |\n"),
}


def _severe(findings: list) -> list:
    return [f for f in findings if f.severity.value in SEVERE]


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_round35_classes_c_d_e_are_critical(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    text = _SHAPES[shape](canary)
    assert "{{" not in text and "{%" not in text  # the raw text shows no opener at all
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    assert _victim_fires(tmp_path, readme, canary), shape  # GitHub's page shows a template that runs code
    canary.rmdir()
    assert template_by_content(text, page=MARKDOWN) is not None  # sniffed: a host's page shows a tag
    found = _severe(scan_file(tmp_path, "README.md", text))
    assert any(f.severity.value == "critical" and f.rule_id in ("WW-TPL-001", "WW-TPL-003") for f in found), \
        (shape, [(f.rule_id, f.location.path) for f in found])
    assert not canary.exists()


def test_class_c_in_a_real_browser(tmp_path: Path) -> None:
    """Independent of both HTML parsers: Chromium shows the <pre> after each HTML5 comment ending."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    from tests.browser import browser_page

    canary = tmp_path / "canary"
    shapes = ("c_abrupt", "c_abrupt_dash", "c_bang")
    with browser_page() as page:
        for shape in shapes:
            body = cmarkgfm.github_flavored_markdown_to_html(_SHAPES[shape](canary), options=Options.CMARK_OPT_UNSAFE)
            page.set_content("<!DOCTYPE html><body><article>" + body)
            shown = page.inner_text("pre")
            assert "{{ cycler.__init__.__globals__.os.mkdir(" in shown, (shape, shown)
            units = [u.body for view in page_views(_SHAPES[shape](canary)) for u in view.units if u.kind == "pre"]
            assert shown.strip() in [u.strip() for u in units], shape  # the product's view shows the same text


def test_the_views_of_each_host() -> None:
    script = "<script>\n<pre>\n{<b></b>{ x }}\n</pre>\n</script>\n"
    gfm, commonmark = page_views(script)
    assert "{{ x }}" in gfm.text and ("pre", 2 + 1, "{{ x }}\n") in {(u.kind, u.first_line, u.body) for u in gfm.units}
    assert "{{" not in commonmark.text  # a host that drops <script> with its content (Hugging Face's sanitizer)
    assert page_view("a {~{~ x }}\n").text == "a {{ x }}"
    assert [v.text for v in page_views("a {{ x }}\n")] == ["a {{ x }}"]  # one reading when the hosts agree
    assert page_view("<!-->\n<pre>\n{<b></b>{ y }}</pre>\n").units[-1].body == "{{ y }}"
    # An HTML page is read as HTML, not as Markdown: no emphasis, no code span, no tag filter.
    doc = "<html><body>\n<p>*a* `b` {<b></b>{ c }}</p>\n<textarea>&lt;{<b></b>{ d }}</textarea>\n</body></html>\n"
    (view,) = page_views(doc, HTML)
    assert "*a* `b` {{ c }}" in view.text and "<{<b></b>{ d }}" in view.text
    assert any(u.kind == "textarea" and u.first_line == 3 for u in view.units)
    assert page_kind("docs/index.HTML") == HTML and page_kind("README.md") == MARKDOWN and page_kind("a.txt") == ""


def test_an_html_page_is_judged_as_a_browser_shows_it(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = ("<!DOCTYPE html>\n<html><head><title>Model</title></head><body>\n<h1>Model</h1>\n<!-->\n<pre>"
            + _split(canary, "<b></b>") + "</pre>\n</body></html>\n")
    page = tmp_path / "index.html"
    page.write_text(text, encoding="utf-8")
    assert _victim_fires(tmp_path, page, canary, HTML)
    canary.rmdir()
    found = _severe(scan_file(tmp_path, "index.html", text))
    assert any(f.severity.value == "critical" for f in found)
    assert any(" line 5 " in f.location.path for f in found), [f.location.path for f in found]


def test_an_html_page_is_not_read_as_markdown() -> None:
    """A CommonMark HTML block ends at a blank line: read as Markdown, a .html page's <pre> was cut into blocks."""
    text = "<html><body>\n<pre><code>{% if a %}\n\n{{ a }}\n{% endif %}</code></pre>\n</body></html>\n"
    def cut(kind: str) -> list:  # the block cut at the blank line, and the units it is read within (none: alone)
        return [b.within for b in code_blocks(text, kind) if b.body.startswith("<html>")]

    assert cut(MARKDOWN) == [()]  # CommonMark's HTML block, read on its own
    assert cut(HTML) and all(cut(HTML))  # only the language-neutral region, read as the <code> holding it


# --- false positives: FP-B and the wrappers of rounds 34/35 -------------------------------------------------------

def _fp_b_wrappers(template: str) -> dict[str, str]:
    escaped = html.escape(template, quote=False)
    return {
        "README.md": "# Model\n\nThe template:\n\n<pre><code class=\"language-jinja\">" + escaped + "</code></pre>\n",
        "index.html": ("<!DOCTYPE html>\n<html><head><title>Model</title></head><body>\n<h1>Model</h1>\n<p>The "
                       "template:</p>\n<pre><code class=\"language-jinja\">" + escaped + "</code></pre>\n</body></html>\n"),
    }


def test_real_templates_escaped_in_a_language_code_element_get_no_high(tmp_path: Path) -> None:
    """Round 35 FP-B (6 highs on 2 in a README, 23 highs on 10 in a .html page before); the other wrappers are
    tests/test_templates_round34.py's and round35.py's."""
    templates = sorted(_DATASET.glob("**/*.jinja")) if _DATASET.is_dir() else []
    if not templates:
        pytest.skip("dataset absent")
    bad = []
    for path in templates:
        for name, text in _fp_b_wrappers(path.read_text(encoding="utf-8")).items():
            found = _severe(scan_file(tmp_path, name, text))
            if found:
                bad.append((path.stem, name, [(f.rule_id, f.location.path) for f in found][:3]))
    assert len(templates) >= 80
    assert bad == []
