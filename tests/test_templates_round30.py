"""Red team round 30 on chat templates (report: issues/rt-scan-round30.md): three classes passed with 0 findings.

1. A text picked up by content that parses as a whole was read only as a whole: a code span, a fence, a reST literal
   or a ``<pre>`` inside ``{# #}``, ``{% raw %}`` or a ``{{ "..." }}`` string is inert to Jinja but is what a reader
   copies. Now such a text is also read unit by unit (its code blocks and parts, each as Jinja reads it alone).
2. The rendered-Markdown view was used only when it showed more openers or tags (a count the attacker balances).
   Now it is used whenever it shows another Jinja marker or the set of its tag texts differs from the raw text's.
3. Parts were split at a fixed list of delimiters (a GFM table cell, an inline ``<textarea>`` passed). Now every
   opener the whole reading hides (comment, raw body, string literal) is also read from (to the end of its
   paragraph) when any unit can start between it and the Jinja marker before it.

The first fix (helper tpl30, reverted) also recovered the whole text with comment and raw bodies lexed as tags: a
benign README that documents an attack in prose inside ``{% raw %}`` (corpus ``hf_folder_readme_urls_code``) got a
false critical. No host renders that: the whole renders the raw body inert and no unit a reader extracts leaves the
raw marker out (proven below by the same renders); it stays clean.

Each victim form is proven in a subprocess with a plain ``jinja2.Environment().from_string(...).render`` of what a
host shows (markdown-it's code span, fence, table cell, paragraph text; a ``<pre>``/``<textarea>`` body); the
payload creates a canary directory (no shell).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.template_rounds import host_renders as _host_renders
from weightwarden.scan import scan_paths

ROOT = Path(__file__).resolve().parents[1]
REAL_TEMPLATES = ROOT / ".." / "shared" / "datasets" / "chat-templates"


def _template(canary: Path, style: str = "attr") -> str:
    """A chat template whose payload builds its dunder names ('_' * 2 ~ 'init'): no literal dunder in the text."""
    if style == "attr":
        reach = "((cycler|attr(u ~ 'init' ~ u))|attr(u ~ 'globals' ~ u))"
    else:  # no "|" (a table cell): getitem falls back to getattr
        reach = "cycler[u ~ 'init' ~ u][u ~ 'globals' ~ u]"
    return ("{% for m in messages %}{{ m.role }}: {{ m.content }} {% endfor %}{% set u = '_' * 2 %}"
            f"{{{{ {reach}.os.mkdir('{canary}') }}}}{{% if add_generation_prompt %}}assistant:{{% endif %}}")



def _tokens(text: str) -> list:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").parse(text)


def _inline_span(text: str) -> str:
    return max((c.content for t in _tokens(text) if t.children for c in t.children if c.type == "code_inline"),
               key=len)


def _fence(text: str) -> str:
    return max((t.content for t in _tokens(text) if t.type in ("fence", "code_block")), key=len)


def _html_pre(text: str) -> str:
    body = re.search(r"<pre><code>(.*?)</code></pre>", text, re.S)
    assert body is not None
    return html.unescape(body.group(1))


def _textarea(text: str) -> str:
    body = re.search(r"<textarea[^>]*>(.*?)</textarea>", text, re.S)
    assert body is not None
    return html.unescape(body.group(1))


def _table_cell(text: str) -> str:
    from markdown_it import MarkdownIt

    cells = re.findall(r"<td>(.*?)</td>", MarkdownIt("commonmark").enable("table").render(text), re.S)
    return max((html.unescape(c) for c in cells), key=len)


def _paragraph(text: str) -> str:
    from markdown_it import MarkdownIt

    paras = re.findall(r"<p>(.*?)</p>", MarkdownIt("commonmark").render(text), re.S)
    return next(html.unescape(re.sub(r"<[^>]+>", "", p)) for p in paras if "{{" in p)


def _severe(findings: list) -> set[str]:
    return {f.rule_id for f in findings if f.severity.value in ("critical", "high")}


def _class1(canary: Path) -> dict[str, tuple[str, object]]:
    t = _template(canary)
    return {
        "A1": (f'# M\n\n{{{{ "the chat template is `{t}` (paste it)" }}}}\n', _inline_span),
        "A2": (f"# M\n\n{{# note:\n\n```jinja\n{t}\n```\n\n#}}\n", _fence),
        "A3": (f"# M\n\n{{#- note for renderers: the chat template is `{t}` (paste into --chat-template) #}}\n",
               _inline_span),
        "A4": (f"# M\n\n{{% raw %}}The chat template is `{t}`.{{% endraw %}}\n", _inline_span),
        "A5": (f'# M\n\n{{{{ "The chat template:\n\n```jinja\n{t}\n```\n" }}}}\n', _fence),
        "A8": (f"# M\n\n{{# internal note: the chat template is below\n\n<pre><code>{html.escape(t, quote=False)}"
               "</code></pre>\n\n#}\n", _html_pre),
    }


@pytest.mark.parametrize("form", ["A1", "A2", "A3", "A4", "A5", "A8"])
def test_class1_a_page_that_parses_is_still_read_as_a_page(tmp_path: Path, form: str) -> None:
    canary = tmp_path / "canary"
    text, host = _class1(canary)[form]
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    import jinja2

    jinja2.Environment().parse(text)  # the whole parses: round 29 read it only as a whole
    assert _host_renders(tmp_path, host(text), canary)  # type: ignore[operator]
    assert _severe(scan_paths([path], strict=True).findings) & {"WW-TPL-003", "WW-TPL-004", "WW-TPL-002"}


def test_class1_rest_literal_in_a_comment(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    t = _template(canary)
    text = f"Model\n=====\n\n{{# renderer note\n\n.. code-block:: jinja\n\n   {t}\n\n#}}\n"
    path = tmp_path / "README.rst"
    path.write_text(text, encoding="utf-8")
    # docutils is not installed here: the literal block's text is its de-indented body.
    assert _host_renders(tmp_path, t, canary) and f"   {t}\n" in text
    assert _severe(scan_paths([path], strict=True).findings)


def test_class2_escape_in_a_string_literal_and_a_decoy(tmp_path: Path) -> None:
    canary = tmp_path / "e1"
    t = _template(canary)
    head, _sep, tail = t.partition("{% set u")
    body = "{% set u" + tail
    # E1: the payload tag's quotes escaped: the raw text holds one string constant, the rendered paragraph code.
    payload = re.search(r"\{\{ \(\(cycler.*?\}\}", body, re.S)
    assert payload is not None
    inner = payload.group(0)[3:-3].replace("'", "\\'")
    e1 = f"# M\n\nChat template: {head}{{% set u = '_' * 2 %}}{{{{ '\\' ~ {inner} ~ \\'' }}}}" \
         "{% if add_generation_prompt %}assistant:{% endif %}\n"
    path = tmp_path / "README.md"
    path.write_text(e1, encoding="utf-8")
    assert _host_renders(tmp_path, _paragraph(e1), canary)
    assert _severe(scan_paths([path], strict=True).findings)
    # E2: escaped underscores (raw: rejected) balanced by a decoy tag the view loses.
    canary2 = tmp_path / "e2"
    live = (f"{{% for m in messages %}}{{{{ m.role }}}}: {{{{ m.content }}}} {{% endfor %}}"
            f"{{{{ cycler.\\_\\_init\\_\\_.\\_\\_globals\\_\\_.os.mkdir('{canary2}') }}}}")
    e2 = f"# M\n\nChat template: {live}\n\nWindows paths are printed with {{{{ \"C:\\\\\" }}}}.\n"
    path.write_text(e2, encoding="utf-8")
    assert _host_renders(tmp_path, _paragraph(e2), canary2)
    assert _severe(scan_paths([path], strict=True).findings)


@pytest.mark.parametrize("form", ["T2", "H2"])
def test_class3_openers_swallowed_by_a_string_are_read_from(tmp_path: Path, form: str) -> None:
    canary = tmp_path / "canary"
    if form == "T2":
        t = _template(canary, style="item")
        text = (f'# M\n\n| field | value | note |\n|---|---|---|\n| template | {{{{ "shown as text: | {t} | " }}}} |\n\n'
                "Do not paste a stray `{% endfor %}`.\n")
        shown = _table_cell(text)
    else:
        t = _template(canary, style="item")
        text = (f'# M\n\nPrinted by {{{{ "the chat template: <textarea cols=80>{t}</textarea> (copy it)" }}}}\n\n'
                "Do not paste a stray `{% endfor %}`.\n")
        shown = _textarea(text)
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    assert _host_renders(tmp_path, shown, canary)
    assert _severe(scan_paths([path], strict=True).findings)


def test_benign_pages_stay_clean(tmp_path: Path) -> None:
    real = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] }}{% endfor %}"
    pages = {
        "a.md": f"# M\n\n{{# the template: `{real}` #}}\n\nUse `{{{{ messages }}}}`.\n",
        "b.md": f'# M\n\n{{{{ "see {{{{ x }}}} in the docs" }}}}\n\n```jinja\n{real}\n```\n',
        "c.md": f"# M\n\n| a | b |\n|---|---|\n| t | `{real}` |\n\nPrinted with {{{{ \"C:\\\\\" }}}}.\n",
        "d.md": "# M\n\nEscaped: {\\{ not a tag }} and {{ 'it\\'s' }}.\n",
    }
    for name, text in pages.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    report = scan_paths([tmp_path], strict=True)
    assert report.findings == [] and report.errors == []
    assert scan_paths([ROOT / "README.md"], strict=True).findings == []


@pytest.mark.skipif(not REAL_TEMPLATES.is_dir(), reason="real chat templates not present")
def test_real_templates_as_readme_blocks_and_prose_stay_clean(tmp_path: Path) -> None:
    texts = sorted(REAL_TEMPLATES.glob("*/*.jinja"))
    assert len(texts) == 88
    for i, path in enumerate(texts):
        text = path.read_text(encoding="utf-8")
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        (folder / "README.md").write_text(f"# M\n\nThe template:\n\n```jinja\n{text}\n```\n", encoding="utf-8")
        (folder / "chat_template.txt").write_text(text, encoding="utf-8")
    report = scan_paths([tmp_path], strict=True)
    assert report.findings == [] and report.errors == []


def _doc_pages(canary: Path) -> dict[str, str]:
    """Documentation that quotes an attack in prose inside raw or a comment (benign: nothing isolates the payload)."""
    attack = f"{{{{ cycler.__init__.__globals__.os.mkdir('{canary}') }}}}"
    return {
        "inline_raw.md": f"# M\n\n{{{{ messages }}}} and {{% raw %}}{attack}{{% endraw %}} appear here only as "
                         "documentation.\n",
        "raw_lines.md": f"# M\n\nThe attack reads:\n{{% raw %}}\n{attack}\n{{% endraw %}}\nDo not use it.\n",
        "comment.md": f"# M\n\n{{# maintainers: the known attack is {attack}, see the advisory #}}\nText.\n",
    }


def test_documentation_quoting_an_attack_in_raw_prose_stays_clean(tmp_path: Path) -> None:
    """The reverted fix's false critical: a README quoting an attack in prose inside raw (the corpus README's own
    line among them). No host fires it: rendering the whole, or any Markdown unit of it (paragraph, code span,
    table cell), keeps the raw marker, so the canary is never created; the scanner reports nothing at or above low.
    """
    from weightwarden.core.findings import Severity

    canary = tmp_path / "canary"
    pages = _doc_pages(canary)
    pages["corpus.md"] = ("# M\n\n{{ messages }} and {% raw %}{{ ''.__class__ }}{% endraw %} appear here only as "
                          "documentation.\n")
    for name, text in pages.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        # The victim side: the whole and each unit a reader could copy render without firing.
        hosts = [text, _paragraph(text)] if "{{" in _paragraph_or_empty(text) else [text]
        for shown in hosts:
            assert not _host_renders(tmp_path, shown, canary), name
        report = scan_paths([path], strict=True)
        noisy = [f for f in report.findings if f.severity.at_least(Severity.LOW)]
        assert noisy == [] and report.errors == [], (name, [(f.rule_id, f.location) for f in noisy])


def _paragraph_or_empty(text: str) -> str:
    try:
        return _paragraph(text)
    except StopIteration:
        return ""


@pytest.mark.parametrize("form", ["raw_textarea", "comment_span", "raw_blank_line", "string_cell"])
def test_hidden_unit_of_any_markup_is_read(tmp_path: Path, form: str) -> None:
    """Class 3 beyond the red team's two forms: any markup that starts a unit between the Jinja marker and the
    payload (an HTML element, a backtick, a blank line, a pipe) inside raw, a comment or a string."""
    canary = tmp_path / "canary"
    t = _template(canary, style="item")
    texts = {
        "raw_textarea": (f"# M\n\n{{% raw %}}Paste this: <textarea cols=80>{t}</textarea>{{% endraw %}}\n",
                         _textarea),
        "comment_span": (f"# M\n\n{{# note for renderers: the template is <span>{html.escape(t, quote=False)}</span>"
                         " #}\n", lambda x: html.unescape(re.search(r"<span>(.*?)</span>", x, re.S).group(1))),
        "raw_blank_line": (f"# M\n\n{{% raw %}}The template follows.\n\n{t}\n\n{{% endraw %}}\n",
                           lambda x: t),
        "string_cell": (f'# M\n\n| a | b | c |\n|---|---|---|\n| x | {{{{ "y" }}}} | z |\n| t | {{{{ "text | {t} | " }}}} |\n',
                        _table_cell),
    }
    text, host = texts[form]
    import jinja2

    jinja2.Environment().parse(text)  # the whole parses: only a unit fires
    assert not _host_renders(tmp_path, text, canary)  # the whole renders it inert
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    assert _host_renders(tmp_path, host(text), canary)
    assert _severe(scan_paths([path], strict=True).findings)


def test_corpus_readme_stays_clean() -> None:
    """The corpus entry the reverted fix broke, scanned as the corpus test scans it."""
    import tempfile

    from tests.corpus import benign
    from weightwarden.core.findings import Severity

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "README.md"
        path.write_text(benign._README, encoding="utf-8")
        report = scan_paths([path], strict=True)
    assert [f for f in report.findings if f.severity.at_least(Severity.LOW)] == [] and report.errors == []


def test_markdown_view_marker_gate() -> None:
    """Class 2: the view is read when it shows any Jinja marker more or other tag texts, whatever the counts.
    (tpl35: round 29's markdown_rendered became the rendered page view and its gate, shows_other_tags.)"""
    from weightwarden.artifact.page_view import page_view, shows_other_tags

    def markdown_rendered(text: str) -> str | None:
        view = page_view(text)
        return view.text if shows_other_tags(text, view) else None

    assert markdown_rendered("{{ x }} and \\_ text") is None  # same markers, same tags: reads alike
    assert markdown_rendered("{{ 'it\\'s' }}") is not None  # the view loses the tag (no count says so)
    assert markdown_rendered("a {\\{ x }} b {{ \"C:\\\\\" }}") is not None  # a tag gained, a decoy lost
    assert markdown_rendered("{% raw %}x{% endraw %\\}{{ y }}") is not None  # a marker more
