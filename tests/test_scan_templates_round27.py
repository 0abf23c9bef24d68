"""Red team round 27 on chat templates (report: issues/rt-scan-round27.md): how templates are FOUND.

1. Non-UTF-8 text was judged in one view (cp1252): a stray tag only that view shows made it silent "prose" while a
   gbk/cp932 host (lead byte 0x81 swallows the "{"), a UTF-8 errors="ignore" reader (joins "{\\x80{") or a BOM-less
   UTF-16 reader renders the template. Every view is analysed, and any view with a tag is at least WW-TPL-009.
2. Texts over 1 Mi characters missed list-marker fences, <pre> blocks and indented code in blockquotes.
3. HTML entities ("&#123;") in <pre>: the rendered page holds the tag the source does not.
4. reST literal blocks indented under 4 spaces (not CommonMark code blocks).
Classes 2-4 are covered by a language-neutral superset of regions (container prefixes stripped, entity-decoded).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import jinja2

from weightwarden.artifact.code_blocks import MARKDOWN_PARSE_CHARS
from weightwarden.scan import scan_paths

PAYLOAD = ("{% for m in messages %}<|im_start|>{{ m.role }} {{ m.content }}<|im_end|>{% endfor %}"
           "{{ cycler.__init__.__globals__.os.getcwd() }}")
STRAY = "Note: the old `{% endfor %}` tag was removed.\n\n"
MESSAGES = [{"role": "user", "content": "hi"}]


def _renders_escape(template: str) -> bool:
    return os.getcwd() in jinja2.Environment().from_string(template).render(messages=MESSAGES)


def _scan(tmp_path: Path, name: str, data: bytes | str) -> list:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return scan_paths([path]).findings


def _ids(findings: list, severity: str) -> set[str]:
    return {f.rule_id for f in findings if f.severity.value == severity}


# -- class 1: views of non-UTF-8 text ---------------------------------------------------------------------------------

def test_cjk_lead_byte_swallowing_a_stray_tag_is_critical(tmp_path: Path) -> None:
    data = b"Prompt notes\n\x81{% endfor %}\n" + PAYLOAD.encode()
    for codec in ("gbk", "cp932"):
        assert _renders_escape(data.decode(codec))
        findings = _scan(tmp_path, f"prompt_{codec}.txt", data)
        assert "WW-TPL-003" in _ids(findings, "critical")
        assert "WW-TPL-009" in _ids(findings, "medium")


def test_utf8_ignore_joined_tags_are_critical(tmp_path: Path) -> None:
    data = (b"{\x80# {% endfor %} #}\n" + PAYLOAD.replace("{{ cycler", "{\x80{ cycler").encode("latin-1"))
    data = b"Notes\n" + data
    assert _renders_escape(data.decode("utf-8", errors="ignore"))
    findings = _scan(tmp_path, "prompt.txt", data)
    assert "WW-TPL-003" in _ids(findings, "critical")


def test_bomless_utf16_le_is_analysed(tmp_path: Path) -> None:
    data = ("\u4e2d\u6587 " + PAYLOAD).encode("utf-16-le")
    assert _renders_escape(data.decode("utf-16-le"))
    findings = _scan(tmp_path, "prompt.txt", data)
    assert "WW-TPL-003" in _ids(findings, "critical")


def test_non_utf8_prose_with_an_unparseable_tag_fails_closed(tmp_path: Path) -> None:
    findings = _scan(tmp_path, "notes.txt", "Caf\xe9: the old `{% endfor %}` tag.\n".encode("cp1252"))
    assert "WW-TPL-009" in _ids(findings, "medium")


# -- classes 2-4: regions another renderer shows as code --------------------------------------------------------------

FILLER = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n" * 200 + "\n") * (
    MARKDOWN_PARSE_CHARS // 11000 + 2)


def _readme_cases() -> dict[str, str]:
    return {
        "list_fence": f"1. Template:\n\n1. ```jinja\n   {PAYLOAD}\n   ```\n",
        "pre_block": f"<pre>\n{PAYLOAD}\n</pre>\n",
        "quoted_indented": f">     {PAYLOAD}\n",
    }


def test_large_readme_container_blocks_are_critical(tmp_path: Path) -> None:
    for name, block in _readme_cases().items():
        text = "# Model\n\n" + STRAY + FILLER + block
        assert len(text) > MARKDOWN_PARSE_CHARS
        findings = _scan(tmp_path, f"{name}_README.md", text)
        assert "WW-TPL-003" in _ids(findings, "critical"), name


def test_entity_encoded_pre_block_is_critical(tmp_path: Path) -> None:
    encoded = PAYLOAD.replace("{", "&#123;").replace("%", "&#37;")
    text = f"# Model\n\n<pre><code>{encoded}</code></pre>\n"
    assert _renders_escape(html.unescape(encoded))
    assert "WW-TPL-003" in _ids(_scan(tmp_path, "README.md", text), "critical")


def test_rest_code_block_with_three_space_indent_is_critical(tmp_path: Path) -> None:
    text = f"Model\n=====\n\n{STRAY}.. code-block:: jinja\n\n   {PAYLOAD}\n\nMore text.\n"
    assert "WW-TPL-003" in _ids(_scan(tmp_path, "README.rst", text), "critical")


def test_asciidoc_and_org_blocks_are_critical(tmp_path: Path) -> None:
    adoc = f"= Model\n\n{STRAY}[source,jinja]\n----\n{PAYLOAD}\n----\n"
    org = f"* Model\n\n{STRAY}#+begin_src jinja\n{PAYLOAD}\n#+end_src\n"
    assert "WW-TPL-003" in _ids(_scan(tmp_path, "README.adoc", adoc), "critical")
    assert "WW-TPL-003" in _ids(_scan(tmp_path, "README.org", org), "critical")


# -- benign cards: no finding ----------------------------------------------------------------------------------------

BENIGN = {
    "README.md": ("# Model\n\nUse it:\n\n```python\nfrom transformers import AutoTokenizer\ntok = AutoTokenizer."
                  "from_pretrained('m')\n```\n\nThe template:\n\n```jinja\n{% for m in messages %}{{ m.content }}"
                  "{% endfor %}\n```\n\n<p>Braces: &#123; and &#125;, 50&#37; off, <code>&lbrace;x&rbrace;</code></p>\n"),
    "README.rst": ("Model\n=====\n\nExample::\n\n    import torch\n    x = torch.ones(3)\n\n.. code-block:: python\n\n"
                   "   print({'a': 1})\n\nSee ``{% endfor %}`` in the old docs.\n"),
    "notes.txt": "Templates use {{ and }} and {% ... %} markers; see the docs.\n",
}


def test_benign_cards_have_no_findings(tmp_path: Path) -> None:
    for name, text in BENIGN.items():
        assert _scan(tmp_path, name, text) == [], name
