"""Red team round 25 on chat templates (report: issues/rt-scan-round25.md): 1 hang class, 1 memory amplification.

1. ``format_reads_private``'s regex backtracked quadratically ('{' + '._' * n): a 1 MB constant, a special token of
   tokenizer_config.json or folded strings (970 bytes of template) stalled the scan with no verdict, outside the
   step budget. Every regex the scanner runs on attacker text was audited (decisions.md); the two super-linear
   ones are rewritten with possessive quantifiers, with the same matches (checked here against the old patterns on
   generated strings), and string checks are charged to the step budget by length.
2. Jinja builds the whole tree before any budget (~370 bytes per template byte): templates are now bounded by their
   token count while tokenizing, before parsing (WW-TPL-002 past it), folded strings by their total size, and the
   analysis cache by the characters it keeps.
No timing: the 1 MB adversarial inputs simply run (the old patterns would take hours on them, which CI's timeout
catches); the linear versions take well under a second.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightwarden.artifact import code_blocks, sniff
from weightwarden.artifact import jinja_parsing as jp
from weightwarden.artifact.readers import pickle_file
from weightwarden.artifact.template_lexer import tokenize
from weightwarden.scan import scan_paths
from weightwarden.scan import templates as t
from weightwarden.scan.rules import template as rule
from weightwarden.scan.templates import COMPUTED_ATTR, analyze_template

REAL_TEMPLATES = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "chat-templates"
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
BOMB = "{" + "._" * 500_000  # 1 MB: the old format-field regex needed ~n^2/2 steps on it
OLD_FORMAT_FIELD = re.compile(r"\{[^{}]*(?:\.|\[)\s*_[^{}]*\}")
OLD_NON_INDEX_FIELD = re.compile(r"\{[^{}]*[^\d{}][^{}]*\}")
TOO_LARGE = "too large/complex to analyse"

# Strings built from the characters the patterns care about (braces, '.', '[', whitespace, '_', digits), so that
# generated strings hit every branch; plus any text.
_PIECES = st.sampled_from(["{", "}", ".", "[", "]", "_", " ", "\t", "\u2003", "0", "7", "a", "x", ":", "!", "._", "{0.", "}}"])
_TEXT = st.one_of(st.lists(_PIECES, max_size=40).map("".join), st.text(max_size=40))


def _span(m: re.Match[str] | None) -> tuple[int, int] | None:
    return None if m is None else m.span()


# -- class 1: linear regexes, same matches ---------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(_TEXT)
def test_format_field_regex_matches_the_old_one(text: str) -> None:
    assert _span(t._FORMAT_FIELD_RE.search(text)) == _span(OLD_FORMAT_FIELD.search(text))


@settings(max_examples=3000, deadline=None)
@given(_TEXT)
def test_non_index_field_regex_matches_the_old_one(text: str) -> None:
    assert _span(t._NON_INDEX_FIELD_RE.search(text)) == _span(OLD_NON_INDEX_FIELD.search(text))


@settings(max_examples=1000, deadline=None)
@given(_TEXT)
def test_format_reads_private_keeps_its_verdicts(text: str) -> None:
    old = OLD_FORMAT_FIELD.search(text) is not None or any(
        t._dangerous_name(p) or p.startswith("_") for p in t._format_field_parts(text))
    assert t.format_reads_private(text) is old


def test_known_format_verdicts() -> None:
    assert t.format_reads_private("{0.__class__}") and t.format_reads_private("{x[ _globals]}")
    assert t.format_reads_private("{0.gi_frame}") and not t.format_reads_private("{0.content} {name}")
    assert not t.format_reads_private("no field") and not t.format_reads_private(BOMB)


# Each audited pattern on the input that makes a backtracking pattern of its shape quadratic (1 MB each). They
# simply run: quadratic, this would take hours.
ADVERSARIAL = {
    "format_field": (t._FORMAT_FIELD_RE.search, BOMB),
    "format_field_ws": (t._FORMAT_FIELD_RE.search, "{" + ". " * 500_000),
    "non_index_field": (t._NON_INDEX_FIELD_RE.search, "{" + "1a" * 500_000),
    "field": (t._FIELD_RE.findall, "{" + "1" * 1_000_000),
    "odd_token": (rule._ODD_TOKEN_RE.search, "&" + "a1" * 500_000),
    "odd_token_many": (rule._ODD_TOKEN_RE.search, "&a" * 500_000),
    "fence": (code_blocks._FENCE_RE.findall, ("```" + "`" * 1000 + "\n") * 1000),  # moved there in round 26
    "sniff_ident": (sniff._IDENT.fullmatch, "a." * 500_000 + "!"),
    "pickle_dotted": (pickle_file._DOTTED.fullmatch, "a." * 500_000 + "!"),
    "pickle_ident": (pickle_file._IDENT.fullmatch, "a" * 1_000_000 + "!"),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_audited_regexes_run_on_adversarial_input(name: str) -> None:
    run, text = ADVERSARIAL[name]
    run(text)  # finishing is the assertion


@pytest.mark.parametrize("source", [
    "{{ '" + "a\\" * 500_000,  # an unclosed string with escapes (the lexer's string rule, then Jinja's)
    "{{ " + "1 " * 500_000,  # a tag never closed
    "{#" + "-#" * 500_000,  # a comment never closed
    "{%" + " " * 1_000_000 + "ra",  # the raw-block probe over whitespace
])
def test_the_fast_tokenizer_is_linear_on_adversarial_input(source: str) -> None:
    tokenize(source)  # None, a token list or TemplateTooLarge; finishing is the assertion


def test_the_bomb_as_a_constant_a_special_token_and_folded_values(tmp_path: Path) -> None:
    assert analyze_template(CHATML + "{% set note = '" + BOMB + "' %}") == []
    folded = CHATML + "{% if false %}{% for s in ['{a','{b','{c'] %}" + "{{ s ~ '._' * 2040 }}" * 20 + \
        "{% endfor %}{% endif %}"
    assert analyze_template(folded) == []
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"bos_token": BOMB, "chat_template": CHATML}))
    report = scan_paths([tmp_path])
    assert all(Path(f.subject.name).name == "tokenizer_config.json" for f in report.findings), report.findings


def test_a_str_format_field_of_thousands_of_digits_is_not_a_crash() -> None:
    # int() raises past 4,300 digits; Python's str.format raises too: left unfolded, never a crash.
    assert t._string_method("{" + "1" * 5000 + "}", "format", ["x"]) is None
    analyze_template("{{ '{" + "1" * 5000 + "}'.format('x') }}")


def test_string_checks_are_charged_to_the_budget_by_length() -> None:
    source = CHATML + "{% set note = '" + "x" * 400_000 + "' %}"
    with t.analysis_budget(1000):
        issues = analyze_template(source)
    assert any(i.kind == COMPUTED_ATTR and "budget" in i.message for i in issues), issues
    assert not any("budget" in i.message for i in analyze_template(source))  # the default budget covers it


def test_folded_strings_are_bounded_by_their_total_size() -> None:
    # 1,000 fold nodes x 60 values of ~4 KB held ~270 MB (mult1000); now a bound hit past MAX_FOLD_BYTES.
    heads = ",".join(f"'{{{chr(97 + i % 26) * (1 + i // 26)}'" for i in range(60))
    source = CHATML + "{% if false %}{% for s in [" + heads + "] %}" + "{{ s ~ '._' * 2040 }}" * 1000 + \
        "{% endfor %}{% endif %}"
    issues = analyze_template(source)
    assert any(i.kind == COMPUTED_ATTR and "MAX_FOLD_BYTES" in i.message for i in issues), issues


# -- class 2: bounded parse --------------------------------------------------------------------------------------------


def _real() -> list[Path]:
    real = sorted(REAL_TEMPLATES.glob("**/*.jinja"))
    if not real:
        pytest.skip("no real chat templates")
    return real


def test_the_bound_is_wide_over_the_real_templates() -> None:
    largest = max(len(tokenize(p.read_text(encoding="utf-8")) or ()) for p in _real())
    assert 0 < largest * 20 <= jp.MAX_TEMPLATE_TOKENS
    for path in _real():
        assert not any(TOO_LARGE in i.message for i in analyze_template(path.read_text(encoding="utf-8"))), path


def test_both_tokenizers_count_the_same_tokens_and_stop_past_the_bound() -> None:
    source = max((p.read_text(encoding="utf-8") for p in _real()), key=len)
    tokens = tokenize(source)
    assert tokens is not None
    n = len(tokens)
    assert tokenize(source, n) is not None and jp.parse_bounded(source, n) is not None
    with pytest.raises(jp.TemplateTooLarge):
        tokenize(source, n - 1)
    with pytest.raises(jp.TemplateTooLarge):
        jp.parse_bounded(source, n - 1)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])  # '\r': Jinja's own lexer (the fast one declines)
def test_a_template_past_the_token_bound_is_not_parsed_and_is_a_finding(newline: str) -> None:
    source = CHATML.replace("\n", newline) + "{{ " + "1-" * (jp.MAX_TEMPLATE_TOKENS // 2 + 10) + "1 }}"
    issues = analyze_template(source)
    assert [i.kind for i in issues] == [COMPUTED_ATTR] and TOO_LARGE in issues[0].message, issues
    assert jp.parses(source)  # fail closed: text found by markup and past the bound is judged, not skipped


def test_the_scan_names_the_file_too_large_to_analyse(tmp_path: Path) -> None:
    (tmp_path / "chat_template.jinja").write_text(CHATML + "{{ " + "1-" * 2_000_000 + "1 }}", encoding="utf-8")
    (tmp_path / "small.jinja").write_text(CHATML, encoding="utf-8")
    report = scan_paths([tmp_path])
    found = [f for f in report.findings if TOO_LARGE in f.message]
    assert [(Path(f.subject.name).name, f.rule_id, f.severity.value) for f in found] == \
        [("chat_template.jinja", "WW-TPL-002", "high")], report.findings


def test_the_analysis_cache_is_bounded_by_characters() -> None:
    cache = t._ByteBoundedCache(max_entries=10, max_chars=100)
    for i in range(5):
        cache(f"{{{{ x{i} }}}}" + " " * 30)
    assert cache._chars <= 100 and len(cache._items) <= 3
    cache("a" * 101)
    assert all(len(k[0]) <= 100 for k in cache._items)
    cache.cache_clear()
    assert cache._chars == 0 and not cache._items
