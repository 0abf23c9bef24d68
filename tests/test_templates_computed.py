"""Issue 11, class 5: a chat-template key or attribute whose name cannot be resolved statically is a finding,
and the real chat templates in ../shared/datasets/chat-templates stay clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from weightwarden.scan.templates import BUILT_NAME, COMPUTED_ATTR, analyze_template

TEMPLATES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "chat-templates"
if not TEMPLATES.is_dir():
    TEMPLATES = Path("/work/shared/datasets/chat-templates")

ATTACKS = {
    "string_repetition": "{{ ''[('_'*2)~'class'~('_'*2)] }}",
    "char_format": "{% set u = '%c'|format(95) %}{{ x[u~u~'class'~u~u] }}",
    "map_lower_join": "{{ x[['_','_','CLASS','_','_']|map('lower')|join] }}",
    "map_attribute": "{{ x|map(attribute=('_'*2)~'class'~('_'*2))|list }}",
    "attr_repetition": "{{ x|attr('_'*2~'init'~'_'*2) }}",
    "loop_variable": "{% for k in ['_'*2 ~ 'globals' ~ '_'*2] %}{{ cycler[k] }}{% endfor %}",
    "method_join": "{{ ''[''.join(['_'*2,'class','_'*2])] }}",
    "set_chain": "{% set a = '_'*2 %}{% set b = a ~ 'mro' ~ a %}{{ ''[b] }}",
    "selectattr_computed": "{{ x|selectattr('_'*2 ~ 'class' ~ '_'*2)|list }}",
    "condexpr_key": "{{ ''[('_'*2 ~ 'class' ~ '_'*2) if true else 'a'] }}",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_unresolvable_names_are_findings(name: str) -> None:
    # Repetition ('_'*2), join of constants and the like now fold to the name itself (a built name, critical);
    # what does not fold stays a computed name.
    kinds = {issue.kind for issue in analyze_template(ATTACKS[name])}
    assert kinds & {COMPUTED_ATTR, BUILT_NAME}, kinds


def _real_templates() -> list[tuple[str, str]]:
    out = []
    for path in sorted(TEMPLATES.rglob("*")):
        if not path.is_file() or path.name.lower().startswith("readme"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".json":
            data = json.loads(text)
            text = data.get("chat_template") if isinstance(data, dict) else None
            if not isinstance(text, str):
                continue
        out.append((str(path.relative_to(TEMPLATES)), text))
    return out


def test_real_chat_templates_stay_clean() -> None:
    templates = _real_templates()
    assert len(templates) >= 88
    noisy = {name: [(i.kind, i.message) for i in analyze_template(text)] for name, text in templates}
    noisy = {k: v for k, v in noisy.items() if v}
    assert not noisy, noisy


def test_replace_with_an_empty_search_string_is_bounded_before_it_is_built() -> None:
    """``'x'*4000|replace('', 'yyyy')`` would build ~16 KB before any cap: the fold refuses it up front
    (result size computed from the counts), and a small replace still folds."""
    from weightwarden.scan.templates import MAX_FOLD, _string_method

    assert _string_method("x" * 4000, "replace", ["", "yyyy"]) is None
    assert _string_method("ab", "replace", ["", "_"]) == "_a_b_"
    assert _string_method("a" * MAX_FOLD, "replace", ["a", ""]) == ""
    assert _string_method("a" * 2000, "replace", ["a", "bbb"]) is None
