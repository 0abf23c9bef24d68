"""Red team round 31 on chat templates / texts (report rt-scan-round31): three classes.

1. A text whose first non-blank characters are Jinja markup was never read unit by unit: round 30's payloads (a
   fence or <pre> inside a comment or raw body) came back by moving the marker to line 1.
2. A block ``{% set x | f('=', ...) %}...{% endset %}`` was taken for an assignment (an "=" in its text), did not
   parse alone, and ``reads_alike`` counted a tag that does not parse alone as nothing to read.
3. (false positive) A Jekyll reference table of N rows inside raw read ~N^2/2 rows (WW-TPL-002 high from 200 rows).

Each victim is a plain Jinja render, in a subprocess, of the unit a reader extracts, creating a canary folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.template_rounds import host_renders, scan_file
from weightwarden.artifact.recovery import _name, reads_alike, tag_spans

SEVERE = ("critical", "high")


def _payload(canary: Path) -> str:
    return f"cycler.__init__.__globals__.os.mkdir('{canary}')"


def _literal_payload(canary: Path) -> str:
    # A global name inside a block-set filter argument does not compile in Jinja 3.1 (report): start from a literal.
    return ("(''.__class__.__mro__[1].__subclasses__()|selectattr('__name__','eq','_wrap_close')|first)"
            f".__init__.__globals__.mkdir('{canary}')")


def _severe(findings: list) -> list:
    return [f for f in findings if f.severity.value in SEVERE]


def _fence(text: str) -> str:
    return re.search(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M).group(1)


# --- class 1: leading markup ---------------------------------------------------------------------------------------

def _leading_pages(canary: Path) -> dict[str, tuple[str, str]]:
    fence = f"```jinja\n{{{{ {_payload(canary)} }}}}\n```"
    pre = f"<pre>{{{{ {_payload(canary)} }}}}</pre>"
    return {
        "comment_fence": ("README.md", f"{{# Model card (Jekyll comment)\n\nUse:\n\n{fence}\n#}}\n# tiny\n"),
        "raw_fence": ("README.md", f"{{% raw %}}\n# tiny (Jekyll page)\n\n{fence}\n{{% endraw %}}\n"),
        "bom_pre": ("notes.txt", f"\ufeff\n  {{# site header #}}\n# tiny\n\n{{#\n{pre}\n#}}\n"),
        "raw_span": ("page.rst", f"{{% raw %}}\nTemplate: `{{{{ {_payload(canary)} }}}}`\n{{% endraw %}}\n"),
    }


@pytest.mark.parametrize("key", ["comment_fence", "raw_fence", "bom_pre", "raw_span"])
def test_leading_markup_page_is_read_unit_by_unit(tmp_path: Path, key: str) -> None:
    canary = tmp_path / "canary"
    name, text = _leading_pages(canary)[key]
    assert not host_renders(tmp_path, text, canary)  # the whole renders the comment / raw body inert
    if "```" in text:
        unit = _fence(text)
    elif "<pre>" in text:
        unit = re.search(r"<pre>(.*?)</pre>", text, re.S).group(1)
    else:
        unit = re.search(r"`([^`]*)`", text).group(1)
    assert host_renders(tmp_path, unit, canary)  # the unit a reader copies fires
    found = _severe(scan_file(tmp_path, name, text))
    assert found and all(f.severity.value == "critical" for f in found), found


def test_leading_markup_that_does_not_parse_keeps_its_parse_error_and_reads_units(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = (f"{{% raw %}}\nLoops end with `{{% endfor %}}`.\n\n```jinja\n{{{{ {_payload(canary)} }}}}\n```\n"
            "{% endraw %}{% endfor %}\n")
    unit = _fence(text)
    assert host_renders(tmp_path, unit, canary)
    findings = scan_file(tmp_path, "README.md", text)
    rules = {f.rule_id for f in findings}
    assert "WW-TPL-007" in rules and {"WW-TPL-003", "WW-TPL-001"} & rules, findings


def test_leading_markup_benign_docs_stay_clean(tmp_path: Path) -> None:
    # Round 30's false-positive reasoning holds with the marker on line 1: an attack quoted in prose inside raw,
    # with no unit that leaves the marker out, is documentation.
    canary = tmp_path / "canary"
    text = ("{% raw %}Templates such as {{ ''.__class__ }} appear here only as documentation; "
            f"never write {{{{ {_payload(canary)} }}}} in a template.{{% endraw %}}\n\nThe end.\n")
    assert not host_renders(tmp_path, text, canary)
    assert not host_renders(tmp_path, text.split("\n\n")[0], canary)
    assert _severe(scan_file(tmp_path, "README.md", text)) == []
    page = "{# Jekyll #}\n# Model\n\n```jinja\n{% for m in messages %}{{ m.content }}{% endfor %}\n```\n"
    assert scan_file(tmp_path, "README2.md", page) == []


def test_template_files_by_name_are_still_read_whole(tmp_path: Path) -> None:
    # A *.jinja file is a template by name: rendered whole, its comment is inert and not a page.
    text = "{#\n```\n{{ messages[0].content }}\n```\n#}{% for m in messages %}{{ m.content }}{% endfor %}"
    assert scan_file(tmp_path, "chat_template.jinja", text) == []


# --- class 2: block set with "=" in it -----------------------------------------------------------------------------

def _block_set(canary: Path) -> str:
    return f"{{% set x | replace('=', {_literal_payload(canary)}) %}}a=b{{% endset %}}"


def test_block_set_form_is_decided_by_jinjas_parser() -> None:
    assert _name("{% set x | replace('=', y) %}") == "set"
    assert _name("{% set x %}") == "set"
    assert _name("{% set x | f(a == b) %}") == "set"
    assert _name("{% set x = 'a' %}") == "set="
    assert _name("{% set ns.x = '=' %}") == "set="
    assert _name("{% set a, b = 1, 2 %}") == "set="


def test_reads_alike_fails_closed_on_a_tag_that_parses_only_in_its_unit() -> None:
    part = "{% set x | replace('=', y) %}a{% endset %}"
    assert not reads_alike(part, 0, set())
    assert reads_alike("{% endfor %}", 0, set())  # a bare end tag carries nothing
    assert reads_alike("{{ 1 + }}", 0, set())  # broken: no host renders it, the recovery drops it
    assert reads_alike(part, 0, tag_spans(part))


def test_block_set_in_a_fence_inside_raw_of_a_parsing_page(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = (f"# tiny\n\nJekyll site, so raw:\n\n{{% raw %}}\n```jinja\n{_block_set(canary)}\n```\n{{% endraw %}}\n\n"
            "Licence: MIT.\n")
    assert not host_renders(tmp_path, text, canary)
    assert host_renders(tmp_path, _fence(text), canary)
    assert _severe(scan_file(tmp_path, "README.md", text))


def test_block_set_in_a_code_span_of_a_page_that_does_not_parse(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = (f"# tiny\n\nLoops end with `{{% endfor %}}`. Template: `{_block_set(canary)}`\n\nLicence: MIT.\n")
    unit = re.findall(r"`([^`]*)`", text)[1]
    assert host_renders(tmp_path, unit, canary)
    assert _severe(scan_file(tmp_path, "README.md", text))


def test_block_set_in_a_json_string_value(tmp_path: Path) -> None:
    # A JSON string value that parses is read as a page too (round 30): the class-2 fence inside raw was missed there
    # as well. (A value that does not parse and holds no fence is not handed over at all: round 23's limit.)
    canary = tmp_path / "canary"
    value = f"# t\n\n{{% raw %}}\n```jinja\n{_block_set(canary)}\n```\n{{% endraw %}}\n"
    assert not host_renders(tmp_path, value, canary)
    assert host_renders(tmp_path, _fence(value), canary)
    found = _severe(scan_file(tmp_path, "notes.json", json.dumps({"readme": value})))
    assert found, found


def test_block_set_as_gguf_style_template_by_role(tmp_path: Path) -> None:
    # A template by role (a config's chat_template) is rendered whole: the block set is analysed there.
    canary = tmp_path / "canary"
    template = _block_set(canary)
    assert host_renders(tmp_path, template, canary)
    found = _severe(scan_file(tmp_path, "tokenizer_config.json", json.dumps({"chat_template": template})))
    assert found


def test_benign_block_set_with_equals_stays_clean(tmp_path: Path) -> None:
    text = ("# M\n\n{% raw %}\n```jinja\n{% set sep | replace('=', ':') %}a=b{% endset %}{{ sep }}\n```\n"
            "{% endraw %}\n")
    assert _severe(scan_file(tmp_path, "README.md", text)) == []


# --- class 3: linear unit reading ----------------------------------------------------------------------------------

def _table(rows: int, payload_row: int | None = None, canary: Path | None = None) -> str:
    lines = []
    for i in range(rows):
        cell = f"{{{{ {_payload(canary)} }}}}" if i == payload_row else f"{{{{ page.field_{i} }}}}"
        lines.append(f"| `{cell}` | the value of front-matter field {i} |")
    return "# Site variables\n\n{% raw %}\n| Variable | Meaning |\n|---|---|\n" + "\n".join(lines) + "\n{% endraw %}\n"


@pytest.mark.parametrize("rows", [200, 3000])
def test_reference_table_in_raw_stays_clean(tmp_path: Path, rows: int) -> None:
    assert scan_file(tmp_path, "README.md", _table(rows)) == []


def test_payload_in_one_row_of_a_large_table_is_caught(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = _table(3000, payload_row=1717, canary=canary)
    assert not host_renders(tmp_path, text, canary)
    cell = re.findall(r"`([^`]*)`", text)[1717]
    assert host_renders(tmp_path, cell, canary)
    found = _severe(scan_file(tmp_path, "README.md", text))
    assert found and found[0].severity.value == "critical", found


def test_unit_without_the_context_before_it_is_read(tmp_path: Path) -> None:
    # A statement earlier in the same paragraph makes the later unit read otherwise alone: after
    # {% set messages = [] %} the append is local, but a host that renders the second cell alone mutates its data.
    text = ("# M\n\n{% raw %}\n| a | b |\n|---|---|\n| `{% set messages = [] %}` | x |\n"
            "| `{{ messages.append('injected') }}` | y |\n{% endraw %}\n")
    found = {f.rule_id for f in _severe(scan_file(tmp_path, "README.md", text))}
    assert "WW-TPL-011" in found
