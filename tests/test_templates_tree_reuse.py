"""The template rule asks ``parses(text)`` of a text picked up by content and then analyses it: the analysis takes
the tree that parse built (``jinja_parsing.take_tree``) instead of parsing again. The tree is Jinja's own parse of
exactly that source, handed out once, and the analysis is the same with or without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from weightwarden.artifact import jinja_parsing
from weightwarden.scan import templates

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "chat-templates"
PAYLOAD = "{% for m in messages %}{{ m.content }}{% endfor %}{{ cycler.__init__.__globals__.os.popen('id') }}"


def _sources() -> list[str]:
    found = sorted(SHARED.glob("*/*.jinja"))[:30] if SHARED.is_dir() else []
    return [PAYLOAD, "{{ x }", "plain text"] + [p.read_text(encoding="utf-8") for p in found]


def _issues(source: str) -> list[tuple[str, str, int]]:
    templates._analyze_cached.cache_clear()
    return [(i.kind, i.message, i.line) for i in templates.analyze_template(source)]


@pytest.mark.parametrize("index", range(len(_sources())))
def test_analysis_is_the_same_with_the_kept_tree(index: int) -> None:
    source = _sources()[index]
    fresh = _issues(source)
    if jinja_parsing.parses(source):
        assert source in jinja_parsing._trees or len(source) > jinja_parsing._KEPT_SOURCE_CHARS
    assert _issues(source) == fresh
    assert jinja_parsing.take_tree(source) is None  # handed out once (or never kept)


def test_kept_trees_are_few_and_small() -> None:
    for n in range(10):
        jinja_parsing.parses("{{ a" + str(n) + " }}")
    assert len(jinja_parsing._trees) <= jinja_parsing._KEPT_TREES
    big = "{{ a }}" * (jinja_parsing._KEPT_SOURCE_CHARS // 7 + 1)
    assert jinja_parsing.parses(big) and big not in jinja_parsing._trees
    assert jinja_parsing.take_tree("{{ a9 }}") is not None and jinja_parsing.take_tree("{{ a9 }}") is None
