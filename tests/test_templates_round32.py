"""Red team round 32 on chat templates / texts (report rt-scan-round32): what this round fixed.

- False positive: the 88 real templates shown the Jekyll way (a fence inside ``{% raw %}``, a <textarea>, <details>)
  got ~99 high findings: the indented runs and paragraphs of the template inside the fence were analysed out of its
  context. A fence's (a unit's) lines are now read as the unit.
- Class D (report) / 4 (brief): coverage decided by the recovery's lexing, not Jinja's: a code span
  ``{{ a }}{# {{ " #}PAYLOAD{# " }} #}`` read as two tags (the payload inside a string literal). A part that parses
  is judged and analysed by Jinja's own reading.

Each victim is a plain Jinja render, in a subprocess, of the unit a reader extracts, creating a canary folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.template_rounds import host_renders, scan_file
from weightwarden.artifact.code_blocks import code_blocks
from weightwarden.artifact.recovery import reads_alike

SEVERE = ("critical", "high")
DATASET = Path("/work/shared/datasets/chat-templates")


def _severe(findings: list) -> list:
    return [f for f in findings if f.severity.value in SEVERE]


def _payload(canary: Path) -> str:
    return f"{{{{ (cycler|attr('__init__')|attr('__globals__')).os.mkdir('{canary}') }}}}"


# --- false positive: real templates shown in page idioms -----------------------------------------------------------

WRAPPERS = {
    "fence": lambda t: "# Card\n\n```jinja\n" + t + "\n```\n",
    "details": lambda t: "# Card\n\n<details><summary>template</summary>\n\n```jinja\n" + t + "\n```\n\n</details>\n",
    "raw_fence": lambda t: "# Card\n\n{% raw %}\n```jinja\n" + t + "\n```\n{% endraw %}\n",
    "jekyll": lambda t: ("---\nlayout: default\ntitle: {{ site.title }}\n---\n# {{ page.title }}\n\n{% raw %}\n```jinja\n"
                         + t + "\n```\n{% endraw %}\n"),
    "raw_details": lambda t: ("# Card\n\n{% raw %}\n<details><summary>template</summary>\n\n```\n" + t
                              + "\n```\n\n</details>\n{% endraw %}\n"),
    "raw_textarea": lambda t: "# Card\n\nTemplate: {% raw %}<textarea>" + t + "</textarea>{% endraw %}\n",
    "liquid": lambda t: ("---\nlayout: post\n---\n{% raw %}\nThe template is `" + t.replace("`", "'").replace("\n", " ")
                         + "`.\n{% endraw %}\n"),
}
TEMPLATES = sorted(DATASET.glob("**/*.jinja")) if DATASET.is_dir() else []
# Left (see docs/decisions.md, round 32): the rendered-Markdown view removes a backslash escape inside a fence (a
# real template's '\\"'), which no Markdown renderer does; the view's template does not parse and its recovery is read
# out of context. And two templates whose strings hold "<code>"-like markup in a <textarea>.
KNOWN = {
    ("raw_fence", "meetkai-functionary-medium-v3.2"), ("raw_fence", "muse-glimmer"),
    ("jekyll", "meetkai-functionary-medium-v3.2"), ("jekyll", "muse-glimmer"),
    ("raw_details", "meetkai-functionary-medium-v3.2"), ("raw_details", "muse-glimmer"),
    ("raw_textarea", "meetkai-functionary-medium-v3.2"), ("raw_textarea", "muse-glimmer"),
    ("raw_textarea", "GigaChat3-10B-A1.8B"), ("raw_textarea", "GigaChat3.1-10B-A1.8B"),
}


@pytest.mark.skipif(not TEMPLATES, reason="dataset /work/shared/datasets/chat-templates absent")
@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_real_templates_shown_in_page_idioms_stay_clean(tmp_path: Path, wrapper: str) -> None:
    bad = []
    for path in TEMPLATES:
        template = path.read_text(encoding="utf-8")
        if "endraw" in template or (wrapper, path.stem) in KNOWN:
            continue
        found = _severe(scan_file(tmp_path, "README.md", WRAPPERS[wrapper](template)))
        if found:
            bad.append((path.stem, [(f.rule_id, f.location.path) for f in found][:3]))
    assert bad == []


def test_indented_lines_inside_a_fence_are_marked_as_the_fence() -> None:
    text = "# Card\n\n{% raw %}\n```jinja\n{% for m in messages %}\n    {{ m.content }}\n{% endfor %}\n```\n{% endraw %}\n"
    inside = [b for b in code_blocks(text) if b.body.startswith("{{ m.content }}")]
    assert inside and all(b.within for b in inside)


def test_a_payload_indented_inside_a_fence_is_still_found(tmp_path: Path) -> None:
    # The fence is the unit: it parses and its analysis reads the payload.
    canary = tmp_path / "canary"
    fence = "{% for m in messages %}\n    " + _payload(canary) + "\n{% endfor %}\n"
    text = "# Card\n\n{% raw %}\n```jinja\n" + fence + "```\n{% endraw %}\n"
    assert not host_renders(tmp_path, text, canary)
    assert host_renders(tmp_path, fence, canary)
    assert _severe(scan_file(tmp_path, "README.md", text))


def test_a_payload_hidden_in_a_comment_of_a_parsing_fence_is_still_found(tmp_path: Path) -> None:
    # An indented run inside a fence that the fence's reading does not read alike (its tag is in a comment there)
    # is analysed on its own, as before.
    canary = tmp_path / "canary"
    text = ("# Card\n\n```jinja\n{% for m in messages %}{{ m.content }}{% endfor %}\n{#\n\n    " + _payload(canary)
            + "\n\n#}\n```\n")
    assert _severe(scan_file(tmp_path, "README.md", text))


# --- class 4: coverage decided by Jinja's reading --------------------------------------------------------------------

def _swallow_unit(canary: Path) -> str:
    return '{{ messages[0].content }}{# {{ " #}' + _payload(canary) + '{# " }} #}'


@pytest.mark.parametrize("shape", ["raw_paragraph", "not_parsing"])
def test_unit_covered_only_by_the_recoverys_lexing_is_analysed(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    unit = _swallow_unit(canary)
    if shape == "raw_paragraph":
        text = "# Model\n\n{% raw %}\nThe short template is `" + unit + "` (Jekyll page).\n{% endraw %}\n"
        assert not host_renders(tmp_path, text, canary)
    else:
        text = "# Model\n\nThe short template is `" + unit + "`; longer ones close loops with `{% endfor %}`.\n"
    assert host_renders(tmp_path, re.findall(r"`([^`]*)`", text)[0], canary)
    found = _severe(scan_file(tmp_path, "README.md", text))
    assert found, found


def test_reads_alike_uses_jinjas_reading_of_a_part_that_parses() -> None:
    part = '{{ a }}{# {{ " #}{{ b.__class__ }}{# " }} #}'
    # The recovery's lexing: {{ a }} and one tag '{{ " #}...{# " }}' holding the payload in a string literal.
    recovery_tags = {(0, "{{ a }}"), (10, part[10:part.rindex("}}") + 2 - 4])}
    assert not reads_alike(part, 0, recovery_tags)
    assert reads_alike(part, 0, {(0, "{{ a }}"), (part.index("{{ b"), "{{ b.__class__ }}")})


def test_benign_comment_in_a_code_span_stays_clean(tmp_path: Path) -> None:
    text = ("# Model\n\n{% raw %}\nThe short template is `{{ messages[0].content }}{# the first message #}` and loops"
            " end with `{% endfor %}`.\n{% endraw %}\n")
    assert _severe(scan_file(tmp_path, "README.md", text)) == []
