"""Red team round 36 on templates (report rt-scan-round36, helper tpl37): the page as each host shows it, read by
the host's own renderer, with bounded units.

Class M: nested ``<pre>`` elements each held a copy of the rest of the page (memory grew with the square of the
page). Class G: markdown-it's nesting bound dropped a deep block's content that GitHub renders. Classes H and I:
the "GitHub reading" was markdown-it imitating cmark-gfm (strikethrough pairing, autolinks, entity-decoded autolink
text, footnotes) and our own marker comment, spliced into raw HTML by the tag filter's regex, landed inside a tag.
The fix: cmark-gfm itself renders both Markdown readings (source lines from its ``data-sourcepos``, no marker in the
page), and units beyond a multiple of the page are reported, not read in part silently.

Victims, independent of the product's parser: GitHub's renderer (cmark-gfm with GitHub's extensions and footnotes,
raw HTML kept for the tag filter), then ``html5lib``, then each ``<pre>``/``<code>``/paragraph/cell/list item's text
rendered by a plain ``jinja2.Environment`` in a subprocess that creates the canary folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.template_rounds import scan_file
from weightwarden.artifact.sniff import template_by_content

_VICTIM = r"""
import sys, jinja2, html5lib, cmarkgfm
from cmarkgfm.cmark import Options
source = open(sys.argv[1], encoding="utf-8").read()
page = "<!DOCTYPE html><body><article>" + cmarkgfm.github_flavored_markdown_to_html(
    source, options=Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES)
body = html5lib.parse(page, namespaceHTMLElements=False).find("body")
units = ["".join(el.itertext()) for el in body.iter() if el.tag in ("pre", "code", "p", "td", "li")]
for unit in units:
    try:
        jinja2.Environment().from_string(unit).render(messages=[{"role": "user", "content": "hi"}])
    except Exception:
        pass
"""


def _payload(canary: Path) -> str:
    return f"cycler.\\_\\_init\\_\\_.\\_\\_globals\\_\\_.os.mkdir('{canary}')"


_SHAPES = {
    # Class G: deeper than markdown-it's nesting bound (200).
    "g_deep_quote": lambda c: "# Model\n\n" + ">" * 205 + " {<b></b>{ " + _payload(c) + " }}\n",
    # H1: a one-tilde opener markdown-it paired with the two-tilde closer.
    "h1_tilde_pairing": lambda c: "# Model\n\n{#~#}{~~{~~ " + _payload(c) + " }}\n",
    # H2: a tilde inside a GFM autolink is URL text on GitHub.
    "h2_autolink": lambda c: "# Model\n\n{#~www.example.com/a~/<b></b>#}{~{ " + _payload(c) + " }}\n",
    # H3: cmark decodes character references in an autolink's text.
    "h3_autolink_entities": lambda c: f"# Model\n\n<jinja:&#123;&#123;cycler.__init__.__globals__.os.mkdir('{c}')}}}}>\n",
    # H4: GitHub's footnotes (markdown-it read them as link reference definitions: nothing shown).
    "h4_footnote": lambda c: ("Render messages with the chat template[^tpl].\n\n[^tpl]: {&#123;" + _payload(c)
                              + "}}\n"),
    "h4_footnote_title": lambda c: ("Render messages with the chat template[^tpl].\n\n[^tpl]: <x> \"{<b></b>{ "
                                    + _payload(c) + " }}\"\n"),
    # I: the tag filter's escape inside an end tag's name ("</a<style>").
    "i_filter_in_tag": lambda c: ("<div>\n<style><pre>{</a<style>{ cycler.__init__.__globals__.os.mkdir('"
                                  f"{c}') }}}}</pre></style>\n</div>\n"),
}


def _victim_fires(tmp_path: Path, page: Path, canary: Path) -> bool:
    script = tmp_path / "victim.py"
    script.write_text(_VICTIM, encoding="utf-8")
    subprocess.run([sys.executable, str(script), str(page)], check=True, timeout=60)
    return canary.is_dir()


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_round36_classes_g_h_i_are_critical(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    text = _SHAPES[shape](canary)
    assert "{{" not in text and "{%" not in text  # the raw text shows no opener
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    assert _victim_fires(tmp_path, readme, canary), shape  # GitHub's page shows a template that runs code
    canary.rmdir()
    assert template_by_content(text, page="markdown") is not None
    found = scan_file(tmp_path, "README.md", text)
    assert any(f.severity.value == "critical" and f.rule_id in ("WW-TPL-001", "WW-TPL-003") for f in found), \
        (shape, [(f.rule_id, f.location.path) for f in found])
    assert not canary.exists()


_MEMORY = r"""
import json, resource, sys
from weightwarden.artifact.page_view import page_views
n = int(sys.argv[1])
pages = {"html": "<!DOCTYPE html><body>" + "<pre>{<b></b>{ x }}" * n,
         "markdown": "# Model\n\n<div>" + "<pre>{<b></b>{ x }}" * n + "\n"}
out = {}
for kind, text in pages.items():
    views = page_views(text, kind)
    out[kind] = [(len(v.text), sum(u.end - u.start for u in v.units), bool(v.bound)) for v in views]
# VmHWM is this process's own peak; ru_maxrss keeps the peak of the process that forked it across exec (a pytest
# worker of 1.7 GB made this test fail in the full suite while the page view itself peaked at ~40 MB).
try:
    with open("/proc/self/status") as status:
        out["max_rss_kb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def test_class_m_nested_units_are_bounded_and_reported(tmp_path: Path) -> None:
    """16,000 nested <pre> (112 KB): ~900 million characters as copied units before (889 MB); now at most
    UNIT_CHARS_FACTOR times the page, and the bound is set (not a timing test: memory only)."""
    from weightwarden.artifact.page_view import UNIT_CHARS_BASE, UNIT_CHARS_FACTOR

    run = subprocess.run([sys.executable, "-c", _MEMORY, "16000"], capture_output=True, text=True, check=True,
                         timeout=600, cwd=Path(__file__).resolve().parents[1])
    out = json.loads(run.stdout)
    for kind in ("html", "markdown"):
        for size, held, _bound in out[kind]:
            assert held <= UNIT_CHARS_FACTOR * size + UNIT_CHARS_BASE, kind
        assert any(bound for _size, _held, bound in out[kind]), kind
    assert out["max_rss_kb"] < 400_000, out["max_rss_kb"]


def test_class_m_page_too_complex_is_a_finding(tmp_path: Path) -> None:
    text = "<!DOCTYPE html><body>" + "<pre>{<b></b>{ x }}" * 3000
    found = scan_file(tmp_path, "index.html", text)
    assert any(f.severity.value in ("high", "critical") and "page too complex to read, not verified" in f.message
               for f in found), [(f.rule_id, f.message[:80]) for f in found]
