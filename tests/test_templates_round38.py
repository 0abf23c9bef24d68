"""Red team round 36 on templates, classes F and J (report rt-scan-round36, helper tpl38): what a browser shows that
lexbor's scripting-off, shadow-less, attribute-less tree hides, and an ``.xhtml`` page that a browser reads as XML.

Class F: "hidden" must mean hidden in every browser setup. ``<noscript>`` is parsed with the scripting flag on by a
default browser (its content raw text: a comment or ``<style>`` opened inside it ends at ``</noscript>``); a
declarative shadow root (``<template shadowrootmode>``) is shown; an ``<iframe srcdoc>`` or a ``data:`` URL in a
frame is a page of its own; attribute values (``<input value>``) are shown and copied. Class J: a CDATA section is
text to a browser's XML parser, a bogus comment to an HTML5 parser.

Victims, independent of the product's parser: Debian's Chromium (JavaScript on, as by default) opens the page, each
``<pre>`` of each frame (open shadow roots pierced) and each ``<input>``'s value is rendered by a plain
``jinja2.Environment`` in a subprocess that creates the canary folder; for a README, the page is GitHub's renderer
(cmark-gfm, raw HTML kept) in Chromium.
"""

from __future__ import annotations

import html
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.template_rounds import scan_file
from weightwarden.artifact.page_view import HTML, MARKDOWN, XHTML, page_kind, page_views


def _call(canary: Path) -> str:
    return f"cycler.__init__.__globals__.os.mkdir('{canary}')"


def _split(canary: Path) -> str:
    return "{<b></b>{ " + _call(canary) + " }}"


# name -> (file name, text); no raw text shows "{{" or "{%".
_SHAPES = {
    # F1: a comment (or <style>) opened in a noscript ends at </noscript> with scripting on.
    "f1_noscript_comment": lambda c: ("index.html", "<!DOCTYPE html><html><body>\n<h1>Model</h1>\n<noscript><!--"
                                      "</noscript>\n<pre>" + _split(c) + "</pre>\n<!-- --></noscript>\n</body></html>\n"),
    "f1_noscript_style": lambda c: ("index.html", "<!DOCTYPE html><body>\n<noscript><style></noscript>\n<pre>"
                                    + _split(c) + "</pre>\n</style></noscript>\n"),
    "f1_noscript_textarea": lambda c: ("index.html", "<!DOCTYPE html><body>\n<noscript><textarea></noscript>\n<pre>"
                                       + _split(c) + "</pre>\n</textarea></noscript>\n"),
    "f1_noscript_readme": lambda c: ("README.md", "# Model\n\n<div><noscript><!--</noscript><pre>" + _split(c)
                                     + "</pre><!-- --></noscript></div>\n"),
    # F2: a declarative shadow root is shown.
    "f2_shadow_root": lambda c: ("index.html", "<!DOCTYPE html><body>\n<div><template shadowrootmode=\"open\"><pre>"
                                 + _split(c) + "</pre></template></div>\n"),
    "f2_shadow_root_readme": lambda c: ("README.md", "# Model\n\n<div><template shadowrootmode=\"open\"><pre>"
                                       + _split(c) + "</pre></template></div>\n"),
    # F3: nested documents.
    "f3_srcdoc": lambda c: ("index.html", "<!DOCTYPE html><body>\n<iframe width=900 height=60 srcdoc=\"<pre>{&amp;#123; "
                            + html.escape(_call(c)) + " }}</pre>\"></iframe>\n"),
    "f3_data_html": lambda c: ("index.html", "<!DOCTYPE html><body>\n<iframe width=900 height=60 src=\"data:text/html,"
                               + quote("<pre>{&#123; " + _call(c) + " }}</pre>") + "\"></iframe>\n"),
    "f3_data_text": lambda c: ("index.html", "<!DOCTYPE html><body>\n<iframe width=900 height=60 src=\"data:text/plain;"
                               "base64," + __import__("base64").b64encode(("{{ " + _call(c) + " }}").encode()).decode()
                               + "\"></iframe>\n"),
    # F4: a form field's value, shown and copied.
    "f4_input_value": lambda c: ("index.html", "<!DOCTYPE html><body>\n<p>Chat template:</p>\n<input readonly size=90 "
                                 "value=\"{&#123; " + html.escape(_call(c)) + " }}\">\n"),
    # The page's own CSS shows what the user agent style sheet hides: a title (RCDATA: references decoded).
    "f5_title_css": lambda c: ("index.html", "<!DOCTYPE html><html><head><title>{&#123; " + html.escape(_call(c))
                               + " }}</title><style>head, title { display: block }</style></head><body>\n<p>Model</p>"
                               "\n</body></html>\n"),
    # J: CDATA is text to a browser's XML parser.
    "j_xhtml_cdata": lambda c: ("index.xhtml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<html xmlns=\"http://www.w3"
                                ".org/1999/xhtml\"><head><title>Model</title></head><body>\n<pre><![CDATA[{]]><![CDATA[{ "
                                + _call(c) + " }}]]></pre>\n</body></html>\n"),
}

_RENDER = "import sys, jinja2\ntry:\n    jinja2.Environment().from_string(sys.stdin.read()).render()\nexcept Exception:\n    pass\n"


def _shown_in_chromium(page_file: Path) -> list[str]:
    """What Chromium shows of the page: each frame's <pre> texts (open shadow roots pierced) and input values."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    from tests.browser import browser_page

    texts: list[str] = []
    with browser_page() as page:
        if page_file.suffix == ".md":
            body = cmarkgfm.github_flavored_markdown_to_html(page_file.read_text(encoding="utf-8"),
                                                             options=Options.CMARK_OPT_UNSAFE)
            shown = page_file.with_suffix(".html")
            shown.write_text("<!DOCTYPE html><body><article>" + body, encoding="utf-8")
            page_file = shown
        page.goto(page_file.resolve().as_uri())
        page.wait_for_timeout(300)
        for frame in page.frames:
            pres = frame.locator("pre")
            texts += [pres.nth(i).inner_text() for i in range(pres.count())]
            titles = frame.locator("title")
            texts += [titles.nth(i).inner_text() for i in range(titles.count()) if titles.nth(i).is_visible()]
            inputs = frame.locator("input")
            texts += [inputs.nth(i).input_value() for i in range(inputs.count())]
    return texts


def test_round36_f_and_j_victims_fire_in_chromium(tmp_path: Path) -> None:
    """Each shape runs code through what Chromium shows (one browser per shape, the canary checked per shape)."""
    for shape, make in sorted(_SHAPES.items()):
        canary = tmp_path / shape / "canary"
        name, text = make(canary)
        assert "{{" not in text.replace("base64", "") or shape == "f3_data_text", shape
        (tmp_path / shape).mkdir()
        page_file = tmp_path / shape / name
        page_file.write_text(text, encoding="utf-8")
        for shown in _shown_in_chromium(page_file):
            subprocess.run([sys.executable, "-c", _RENDER], input=shown, text=True, timeout=60, check=True)
        assert canary.is_dir(), shape


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_round36_f_and_j_are_critical(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    name, text = _SHAPES[shape](canary)
    found = scan_file(tmp_path, name, text)
    assert any(f.severity.value == "critical" and f.rule_id in ("WW-TPL-001", "WW-TPL-003") for f in found), \
        (shape, [(f.rule_id, f.severity.value, f.message[:80]) for f in found])
    assert not canary.exists()


def test_what_every_browser_hides_stays_hidden() -> None:
    """A noscript read both ways; a plain <template>, <script>, <style> stay hidden (no browser shows them)."""
    page = "<!DOCTYPE html><body>\n<noscript><p>enable scripts</p></noscript>\n<template><p>row</p></template>\n<p>x</p>\n"
    texts = [v.text for v in page_views(page, HTML)]
    assert any("enable scripts" in t for t in texts)  # scripting off shows it
    assert any("enable scripts" not in t and "x" in t for t in texts)  # scripting on hides it
    assert not any("row" in t for t in texts)
    assert page_kind("a/index.xhtml") == XHTML and page_kind("README.md") == MARKDOWN


@pytest.mark.parametrize("page", [
    # noscript and noframes together: the scripting-on reading (noscript read as noframes) is not exact.
    "<body><noframes></noscript></noframes><noscript><pre>{{ x }}</pre></noscript>",
    # a shadow root that slots (reorders) its host's content, or hides it.
    "<body><span>{ x }}<template shadowrootmode=open>{<slot></slot></template></span>",
    "<body><span><template shadowrootmode=open>{</template>junk</span>{ x }}",
    # documents nested past the depth bound.
    "<body>" + "<iframe srcdoc=\"" * 1 + html.escape("<iframe srcdoc=\"" + html.escape(
        "<iframe srcdoc=\"" + html.escape("<iframe srcdoc=\"" + html.escape("<iframe srcdoc='<pre>x</pre>'>")
                                          + "\">") + "\">") + "\">") + "\">",
])
def test_what_is_not_modelled_is_reported(page: str) -> None:
    assert any(view.bound for view in page_views(page, HTML)), page


@pytest.mark.parametrize("doc", [
    # billion laughs: entity declarations are refused, never expanded
    "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
    "<html><body><pre>&b;</pre></body></html>",
    # an external entity
    "<?xml version=\"1.0\"?><!DOCTYPE l SYSTEM \"file:///etc/passwd\"><html><body>&x;</body></html>",
    # not XML
    "<html><body><pre>{{ x }}</body>",
])
def test_an_xhtml_page_that_is_no_plain_xml_fails_closed(tmp_path: Path, doc: str) -> None:
    assert any(view.bound for view in page_views(doc, XHTML))
    found = scan_file(tmp_path, "index.xhtml", doc)
    assert any(f.severity.value in ("high", "critical") for f in found), [(f.rule_id, f.message[:80]) for f in found]


def test_xml_reading_shows_cdata_and_self_closing_script() -> None:
    doc = ("<?xml version=\"1.0\"?><!DOCTYPE html><html xmlns=\"http://www.w3.org/1999/xhtml\"><body>\n"
           "<script/><pre>{<![CDATA[{ y }}]]></pre>\n</body></html>\n")
    views = page_views(doc, XHTML)
    assert any(u.body.strip() == "{{ y }}" for v in views for u in v.units), [v.text for v in views]
    # XML keeps text in a table where it is (an HTML5 parser moves it before the table)
    doc = "<?xml version=\"1.0\"?><html><body><table>{<tr><td>a</td></tr>{ x }}</table></body></html>"
    assert any("{a{ x }}" in v.text for v in page_views(doc, XHTML))


def test_code_blocks_past_markdown_its_nesting_bound_get_the_line_supersets(monkeypatch: pytest.MonkeyPatch) -> None:
    """markdown-it drops a block nested past maxNesting (round 36 class G, in code_blocks' own parse): a text that
    may nest that deep also gets the line-based supersets (the loose fence pairing behind ">" marks)."""
    from weightwarden.artifact import code_blocks as cb

    text = "# M\n\n" + ">" * 205 + " ```\n" + ">" * 205 + " {{ x }}\n" + ">" * 205 + " ```\n"
    assert cb._may_nest_past_bound(text) and not cb._may_nest_past_bound("> > - a\n    b\n")
    read = {b.body for b in cb.code_blocks(text)}
    monkeypatch.setattr(cb, "_DEEP_PREFIX_COLUMNS", 10**9)  # the code before: markdown-it alone
    before = {b.body for b in cb.code_blocks(text)}
    assert before < read


_DATASET = Path("/work/shared/datasets/chat-templates")


def _pygments_readme(template: str) -> str:
    """Round 36 FP-C: a Pygments-highlighted template pasted into a README, only blank lines written "&#10;": its
    whitespace-only lines end the HTML block, so GitHub renders the rest of the <pre> as paragraphs inside it."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    shown = highlight(template, get_lexer_by_name("jinja"), HtmlFormatter(wrapcode=True))
    return "# Model\n\n<div class=\"highlight\">" + shown.replace("\n\n", "\n&#10;\n") + "</div>\n"


@pytest.mark.parametrize("stem", ["NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
                                  "NousResearch-Hermes-3-Llama-3.1-8B-tool_use"])
def test_fp_c_paragraphs_inside_a_pre_are_read_as_the_pre(tmp_path: Path, stem: str) -> None:
    """2 of the 4 real templates with highs in the report's pygments_md wrapper (their paragraphs, read alone, were
    WW-TPL-011/002 highs): a paragraph inside the <pre> is read as the <pre> when the <pre> reads it alike."""
    found = sorted(_DATASET.glob(f"**/{stem}.jinja"))
    if not found:
        pytest.skip("dataset absent")
    text = _pygments_readme(found[0].read_text(encoding="utf-8"))
    severe = [(f.rule_id, f.location.path) for f in scan_file(tmp_path, "README.md", text)
              if f.severity.value in ("high", "critical")]
    assert severe == []


@pytest.mark.parametrize("around", [("{#", "#}"), ("{% raw %}", "{% endraw %}"), ("{% if x %}", "{% endif %}"),
                                    ("", "")])
def test_fp_c_a_paragraph_the_pre_does_not_read_alike_is_judged_alone(tmp_path: Path, around: tuple[str, str]) -> None:
    """A paragraph inside a <pre> whose reading hides it (a comment, raw) or does not read it alike is still a unit
    of its own: a reader copies it."""
    canary = tmp_path / "canary"
    payload = "{<b></b>{ " + f"cycler.\\_\\_init\\_\\_.\\_\\_globals\\_\\_.os.mkdir('{canary}')" + " }}"
    text = f"# M\n\n<div><pre>{around[0]}\n\n{payload}\n\n{around[1]}</pre></div>\n"
    found = scan_file(tmp_path, "README.md", text)
    assert any(f.severity.value == "critical" for f in found), [(f.rule_id, f.severity.value) for f in found]


def test_real_templates_in_an_xhtml_page_get_no_high(tmp_path: Path) -> None:
    """The 88 real templates, escaped in a <pre><code> of a well-formed .xhtml page: read as HTML and as XML, no
    high (an .xhtml page is never read as Markdown, as an .html page is not: round 35 FP-B)."""
    templates = sorted(_DATASET.glob("**/*.jinja")) if _DATASET.is_dir() else []
    if not templates:
        pytest.skip("dataset absent")
    bad = []
    for path in templates:
        text = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">"
                "<head><title>Model</title></head><body>\n<h1>Model</h1>\n<pre><code>"
                + html.escape(path.read_text(encoding="utf-8"), quote=False) + "</code></pre>\n</body></html>\n")
        found = [(f.rule_id, f.location.path) for f in scan_file(tmp_path, "index.xhtml", text)
                 if f.severity.value in ("high", "critical")]
        if found:
            bad.append((path.stem, found[:3]))
    assert len(templates) >= 80
    assert bad == []
