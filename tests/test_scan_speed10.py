"""Helper speed10 (issue 11, "Speed"): ``parses`` reads the fast tokenizer's tokens lazily, and nothing changes.

Equivalence tests, not timing tests. :func:`weightwarden.artifact.jinja_parsing.parses` used to run Jinja's own
lexer (~60 % of a parse) on every text the template rule and the readers ask about; it now feeds Jinja's parser
the tokens of :func:`weightwarden.artifact.template_lexer.iter_tokens`, one at a time. Against the old path
(``parse_bounded``: Jinja's lexer and parser, bounded) on real templates, their whole tokenizer_config.json
texts, the attacks of the template tests, generated variants and hypothesis inputs, each check asserts:

- the same answer (parses or not; past MAX_TEMPLATE_TOKENS: parses, fail closed),
- the same tree, line numbers included (the tree ``parses`` keeps is the one the analysis takes),
- the same parse-meter charge, and TextBudgetExceeded at the same point under a small budget: a lazy attempt
  the tokenizer declines midway gives its charges back, so the bounds stay exactly where they were;
- where the fast lexer says Jinja's lexer raises (``Refused``), Jinja's lexer does raise ("unexpected char").
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpus.samples import SHARED
from tests.test_scan_speed import _tree
from weightwarden.artifact import jinja_parsing as jp
from weightwarden.artifact import template_lexer

REAL_TEMPLATES = sorted((SHARED / "datasets" / "chat-templates").glob("*/*.jinja"))




def _outcome(fn: Any, source: str, budget: int | None) -> tuple[Any, int | None, Any]:
    """(answer, meter spent, tree) of ``fn(source)`` under a parse meter of ``budget`` (None: no meter)."""
    def run() -> tuple[Any, Any]:
        try:
            answer: Any = fn(source)
        except jp.TextBudgetExceeded:
            return "budget", None
        return answer, jp.take_tree(source)

    if budget is None:
        answer, tree = run()
        return answer, None, None if tree is None else _tree(tree)
    with jp.parse_meter(budget) as meter:
        answer, tree = run()
        spent = meter.spent
    return answer, spent, None if tree is None else _tree(tree)


def _old_parses(source: str) -> bool:
    """``parses`` as it was: Jinja's own lexer and parser (parse_bounded), the tree kept the same way."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(jp, "_parse_fast", lambda _source: None)
        return jp.parses(source)


def _assert_same(source: str, budget: int | None = 1 << 30) -> None:
    assert _outcome(jp.parses, source, budget) == _outcome(_old_parses, source, budget), source[:300]


def _whole_json_texts(template: str) -> list[str]:
    """The whole tokenizer_config.json texts a model folder may ship around ``template`` (round 22: a host given
    the file's path renders all of it): indented or not, ASCII-escaped or not, as one value or a named list."""
    config = {"bos_token": "<s>", "eos_token": "</s>", "chat_template": template}
    listed = {"eos_token": "</s>", "chat_template": [{"name": "default", "template": template}]}
    return [json.dumps(config, indent=2), json.dumps(config, indent=2, ensure_ascii=False), json.dumps(config),
            json.dumps(listed, indent=4, ensure_ascii=False)]


@pytest.mark.parametrize("path", REAL_TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_templates_and_their_json_texts(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    for text in [source, *_whole_json_texts(source)]:
        _assert_same(text)


def test_some_real_json_texts_parse_whole_and_some_fail_at_an_escape() -> None:
    """Both outcomes are exercised: the texts that parse (tags without a quote or newline) and those Jinja's
    lexer refuses at a backslash inside a tag."""
    answers = {jp.parses(text) for path in REAL_TEMPLATES for text in _whole_json_texts(path.read_text("utf-8"))}
    assert answers == {True, False}


REFUSED = ["{{ a \\ b }}", "{{ x @ y }}", "{% if a ! b %}x{% endif %}", "{{ 'abc }}", '{{ "abc }}', "{{ `x` }}",
           "{{ a $ }}", "{{ ? }}", "{% set x = 1 ^ 2 %}", "{{ (a \\ b) }}", "{{ [1, &] }}", "text {{ ok }} {{ # }}",
           '{"chat_template": "{% for m in messages %}{{ m[\\"content\\"] }}{% endfor %}"}']


@pytest.mark.parametrize("source", REFUSED)
def test_refused_where_jinja_lexer_raises(source: str) -> None:
    from jinja2 import TemplateSyntaxError

    tokens = template_lexer.iter_tokens(source)
    assert tokens is not None
    with pytest.raises(template_lexer.Refused):
        list(tokens)
    with pytest.raises(TemplateSyntaxError, match="unexpected char"):  # the victim's own lexer fails there too
        list(jp.analysis_environment().lex(source))
    assert template_lexer.tokenize(source) is None  # the eager tokenizer still declines (Jinja reports it)
    assert jp.parses(source) is False
    _assert_same(source)


DECLINED = ["{{ 1.5 }}", "{{ 1e3 }}", "{{ 0x1f }}", "{{ é }}", "{{ aé }}", "{{ a ) }}", "{{ (a ] }}",
            "{# never closed", "{{ x", "{{ x   ", "{% if x %}", "{{ '\\N{BOGUS}' }}", "{{ a }}{{ 007 }}",
            "ok {% raw %}{{ x }}{% endraw %}", "a\r\n{{ b }}", "{{ x }}" * 40 + "{{ 1.5 }}", "{{ \u3000x }}",
            "{#", "x {{ a }} {#", "{{ a }}{{"]  # "{#" at the very end: Jinja's lexer stops, the text parses


@pytest.mark.parametrize("source", DECLINED)
def test_declined_midway_gives_the_charges_back(source: str) -> None:
    """The lazy attempt stops where the fast tokenizer leaves its subset; Jinja's path is then run from the start
    and the meter ends where Jinja's path alone leaves it."""
    _assert_same(source)
    _assert_same(source, budget=None)


def test_past_the_token_bound_parses_fail_closed_as_before() -> None:
    many = "{{ x }}" * (jp.MAX_TEMPLATE_TOKENS // 3 + 10)
    for source in (many, many + "{{ \\ }}", "{{ a \\ }}" + many, many + "{{ 1.5 }}"):
        _assert_same(source)
    assert jp.parses(many + "{{ \\ }}") is True  # the bound is reached before the refused character
    assert jp.parses("{{ a \\ }}" + many) is False


@pytest.mark.parametrize("budget", [1, 2, 40, 64, 65, 130, 700, 5000])
def test_budget_exceeded_at_the_same_point(budget: int) -> None:
    template = REAL_TEMPLATES[0].read_text(encoding="utf-8")
    for source in [template, *_whole_json_texts(template), "{{ x }}" * 300, "{{ x }}" * 300 + "{{ \\ }}",
                   "{{ x }}" * 300 + "{{ 1.5 }}", "{{ y }}" * 200 + "{# open"]:
        _assert_same(source, budget)


def _variants(sources: list[str], count: int, seed: int) -> list[str]:
    """Cut, spliced and salted copies of ``sources`` (broken tags, stray brackets and escapes, odd characters)."""
    rnd = random.Random(seed)
    salt = ["{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "'", '"', "\\", "\\n", "\\\"", "(", ")", "[", "]", "{",
            "}", "@", "!", "$", "`", "?", "1.5", "0x1f", "é", "\u3000", " ", "{{-", "-}}", "{%+", "+%}", "\n"]
    out = []
    for _ in range(count):
        text = rnd.choice(sources)
        for _k in range(rnd.randrange(1, 4)):
            at = rnd.randrange(len(text) + 1)
            text = text[:at] + rnd.choice(salt) + text[at + rnd.randrange(3):]
        out.append(text)
    return out


def test_generated_variants() -> None:
    sources = [p.read_text(encoding="utf-8")[:3000] for p in REAL_TEMPLATES]
    sources += [t[:3000] for s in sources[:20] for t in _whole_json_texts(s)[:1]]
    for source in _variants(sources, 400, seed=10):
        _assert_same(source, budget=None if len(source) % 2 else 1 << 30)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["{{", "}}", "{%", "%}", "{#", "#}", "-", "+", " ", "x", "if", "endif", "for",
                                 "in", "1", "'", '"', "\\", "(", ")", "[", "]", "|", ".", "@", "é", "\n", "set",
                                 "=", "raw", "endraw", "1.5", "~"]), max_size=40).map("".join))
def test_hypothesis_inputs(source: str) -> None:
    _assert_same(source)
    _assert_same(source, budget=3)
