"""Red team round 29 on chat templates (report: issues/rt-scan-round29.md): the round-28 recovery failed open.

1. A text with a tag that parses alone whose recovery was None (a tag of a comment or raw body clashing in context:
   ``{% block a %}{% endblock b %}``) was skipped. Now end tags naming another block are dropped, tags are dropped by
   bisection until the rest parses, and a recovery that still fails is WW-TPL-002 high.
2. A tag cut by MAX_TAG_CHARS (a 70 000-character string literal) was "rejected by the lexer" and dropped, in READMEs
   and in the binary polyglot gate. Now RecoveryBound: WW-TPL-002 high, and a whole tag for ``has_complete_tag``.
3. A string literal of a prose tag swallowed the code span a host renders. Now each part (code span, cell, inline
   HTML, paragraph) is also read on its own when it shows tags the whole reading does not.
4. Markdown backslash escapes (``\\|`` in a GFM table cell, ``{\\{`` in prose). Now a rendered-Markdown view.
5. Cost: the 8x lex budget charged each tag a 256-character window (a benign dense text got WW-TPL-002).

The victim side of each form is proven in a subprocess with a plain ``jinja2.Environment().from_string(...).render``
whose payload creates a canary directory (no shell).
"""

from __future__ import annotations

import html
import io
import pickle
import re
from pathlib import Path

import pytest

from tests.template_rounds import host_renders as _host_renders
from tests.template_rounds import scan_file as _scan
from weightwarden.artifact.recovery import (
    MAX_TAG_CHARS,
    RecoveryBound,
    recover_template,
    recoverable_tag,
)
from weightwarden.artifact.sniff import has_complete_tag
from weightwarden.scan import scan_paths

ROOT = Path(__file__).resolve().parents[1]
REAL_TEMPLATES = ROOT / ".." / "shared" / "datasets" / "chat-templates"


def _template(canary: Path, pad: str = "") -> str:
    return ("{% for m in messages %}{{ m.role }}: {{ m.content }} {% endfor %}"
            f"{{{{ cycler.__init__.__globals__.os.mkdir('{canary}'{pad}) }}}}"
            "{% if add_generation_prompt %}assistant:{% endif %}")




def _severe(findings: list) -> set[str]:
    return {f.rule_id for f in findings if f.severity.value in ("critical", "high")}


def _inline_span(text: str) -> str:
    """The largest inline code span markdown-it (CommonMark + GFM tables) yields: what a reader copies."""
    from markdown_it import MarkdownIt

    spans = [c.content for t in MarkdownIt("commonmark").enable("table").parse(text) if t.children
             for c in t.children if c.type == "code_inline"]
    return max(spans, key=len)


def _paragraph(text: str) -> str:
    """The text of the rendered paragraph holding a tag (tags stripped, references decoded)."""
    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark").render(text)
    return next(t for p in re.findall(r"<p>(.*?)</p>", out, re.S)
                if "{{" in (t := html.unescape(re.sub(r"<[^>]+>", "", p))))


# -- the PoC forms -----------------------------------------------------------------------------------------------------

def _readme(canary: Path, name: str) -> tuple[str, str]:
    """name -> (file text, what the host renders)."""
    t = _template(canary)
    stray = " (do not paste a stray `{% endfor %}`)."
    if name == "B4":
        span = t + "{# {% block a %}{% endblock b %} #}"
        text = f"# Tiny\n\nChat template (paste into `--chat-template`): `{span}`{stray}\n"
        return text, _inline_span(text)
    if name == "B5":
        span = t + "{% raw %}{% block a %}{% endblock b %}{% endraw %}"
        text = f"# Tiny\n\nChat template (paste into `--chat-template`): `{span}`{stray}\n"
        return text, _inline_span(text)
    if name == "B6":
        span = _template(canary, pad=" ~ '" + "A" * 70_000 + "'[:0]")
        text = f"# Tiny\n\nChat template (paste into `--chat-template`): `{span}`{stray}\n"
        return text, _inline_span(text)
    if name == "B9":
        payload = ("{% for m in messages %}{{ m.role }}: {{ m.content }} {% endfor %}{% set u = '_' * 2 %}"
                   f"{{{{ ((cycler|attr(u ~ 'init' ~ u))|attr(u ~ 'globals' ~ u)).os.mkdir('{canary}') }}}}"
                   "{% if add_generation_prompt %}assistant:{% endif %}")
        text = (f'# Tiny\n\nThe template is printed with {{{{ "the chat template `{payload}` (paste into '
                f'--chat-template)" }}}} and do not paste a stray `{{% endfor %}}`.\n')
        return text, _inline_span(text)
    if name in ("B11", "B12"):
        cell = t.replace(") }}", ")\\|string }}")
        text = f"# Tiny\n\n| field | value |\n|---|---|\n| chat template | `{cell}` |\n"
        if name == "B12":
            text += "\nDo not paste a stray `{% endfor %}`.\n"
        return text, _inline_span(text)
    if name == "B13":
        escaped = t.replace("{{", "{\\{").replace("{%", "{\\%").replace("_", "\\_")
        text = f"# Tiny\n\nChat template (copy this line):\n\n{escaped}\n"
        return text, _paragraph(text)
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["B4", "B5", "B6", "B9", "B11", "B12", "B13"])
def test_readme_forms_are_caught(tmp_path: Path, name: str) -> None:
    canary = tmp_path / f"CANARY_{name}"
    text, rendered = _readme(canary, name)
    assert _host_renders(tmp_path, rendered, canary)
    findings = _scan(tmp_path, f"{name}_README.md", text)
    # B6's tag is past the recovery's bound: WW-TPL-002 high (fail closed); the others are analysed.
    expected = "WW-TPL-002" if name == "B6" else "WW-TPL-003"
    if name == "B9":
        expected = "WW-TPL-004"
    assert expected in _severe(findings), [(f.rule_id, f.severity.value, f.message[:80]) for f in findings]


def _long_tag_body(canary: Path) -> str:
    return "Hello " + _template(canary, pad=" ~ '" + "A" * 70_000 + "'[:0]") + "\n"


def test_long_tag_in_a_protocol_4_pickle_is_caught(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY_L2"
    data = pickle.dumps({"blob": _long_tag_body(canary)}, protocol=4)
    assert _host_renders(tmp_path, data, canary, encoding="cp1252")
    assert _severe(_scan(tmp_path, "L2_prompt.txt", data)) & {"WW-TPL-002", "WW-TPL-003"}


def test_long_tag_in_an_npy_is_caught(tmp_path: Path) -> None:
    import numpy as np

    canary = tmp_path / "CANARY_L3"
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(_long_tag_body(canary).encode(), dtype=np.uint8))
    data = buf.getvalue()
    assert _host_renders(tmp_path, data, canary, encoding="cp1252")
    assert _severe(_scan(tmp_path, "L3_prompt.txt", data)) & {"WW-TPL-002", "WW-TPL-003"}


# -- the recovery ------------------------------------------------------------------------------------------------------

def test_a_tag_cut_by_the_bound_is_a_bound_not_no_tag() -> None:
    long_tag = "{{ '" + "A" * (MAX_TAG_CHARS + 10) + "' }}"
    text = "text " + long_tag + " more text"
    with pytest.raises(RecoveryBound):
        recover_template(text)
    assert recoverable_tag(text)
    assert has_complete_tag(text)
    # A literal that never closes anywhere is no tag (the lexer's own rejection), whatever its length.
    assert not recoverable_tag("text {{ '" + "A" * (MAX_TAG_CHARS + 10) + " }} end")


def test_end_tag_naming_another_block_is_dropped() -> None:
    out = recover_template("{{ x }}{% block a %}{% endblock b %}{{ y }}")
    assert out is not None and "endblock b" not in out and "{{ y }}" in out


def test_tags_failing_only_in_context_are_dropped_one_by_one() -> None:
    # "{{ x.y }}" parses alone and in the text, but not inside {% trans %} (only simple names there).
    text = "{% trans %}{{ x.y }}{% endtrans %} and {{ cycler.__init__ }} {% if a %}{% endif %}"
    out = recover_template(text)
    assert out is not None and "{{ cycler.__init__ }}" in out


def test_unrecoverable_text_is_a_finding(tmp_path: Path) -> None:
    # 300 nested openers: past MAX_NESTING (Jinja's parser itself fails there): WW-TPL-002, never a skip.
    text = "Note `{% endfor %}`.\n\n" + "{% if x %}" * 300 + "{{ cycler.__init__ }}"
    assert "WW-TPL-002" in _severe(_scan(tmp_path, "deep.md", text))


# -- benign controls and cost ------------------------------------------------------------------------------------------

def _tutorial(examples: int) -> str:
    body = "".join(
        f"Example {i}: {{% for m in messages{i} %}}{{% set ns = namespace(a=m.role) %}}{{{{ ns.a|upper }}}}"
        "{% if m.content is string %}{{ m.content|trim }}{% else %}{% for c in m.content %}{{ c.text }}"
        "{% endfor %}{% endif %}{% endfor %}\n\n" for i in range(examples))
    return "# Doc\n\n" + body + "{% block a %}{% endblock b %}\n"


def test_dense_benign_tutorial_gets_no_bound_finding(tmp_path: Path) -> None:
    text = _tutorial(1000)
    assert len(text) > 200_000
    findings = _scan(tmp_path, "C4_README.md", text)
    assert not _severe(findings), [(f.rule_id, f.message[:100]) for f in findings]


def test_benign_escapes_and_tables_stay_clean(tmp_path: Path) -> None:
    text = ("# Card\n\nUse `{{ messages[0].content }}` \\* and a\\_b, C:\\\\path.\n\n"
            "| tag | use |\n|---|---|\n| `{{ x\\|upper }}` | print |\n\nStray `{% endfor %}`.\n")
    assert not _severe(_scan(tmp_path, "esc.md", text))


def test_our_readme_is_clean(tmp_path: Path) -> None:
    findings = scan_paths([ROOT / "README.md"]).findings
    assert not [f for f in findings if f.severity.value in ("critical", "high", "medium")], findings


@pytest.mark.skipif(not REAL_TEMPLATES.is_dir(), reason="real chat templates not present")
def test_real_templates_with_and_without_a_stray_tag_get_no_recovered_finding(tmp_path: Path) -> None:
    files = sorted(REAL_TEMPLATES.glob("*/*.jinja"))
    assert len(files) == 88
    for i, p in enumerate(files):
        text = p.read_text(encoding="utf-8")
        (tmp_path / f"t{i}.txt").write_text(text, encoding="utf-8")
        (tmp_path / f"s{i}.md").write_text("Stray `{% endfor %}` first.\n\n" + text, encoding="utf-8")
    findings = scan_paths([tmp_path]).findings
    # The plain templates are clean; behind a stray tag, the round-28 "(code block)" fragments are unchanged and the
    # recovery (whole and parts) adds nothing.
    assert not [f for f in findings if Path(str(f.subject.name)).name.startswith("t")], findings
    assert not [f for f in findings if "(recovered text)" in f.location.path], [
        (f.subject.name, f.rule_id, f.message[:80]) for f in findings if "(recovered text)" in f.location.path]
