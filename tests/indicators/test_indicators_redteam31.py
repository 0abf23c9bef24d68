"""Red team round 30 on indicators (docs/decisions.md, "Red team round 30 on indicators ... (helper ind32)"), each class
through the real CLI or at the size bound.

D (robustness): CodeChameleon's end sentence was searched with a leading ``\\s*`` (80,000 spaces: 74 s). The class is
"a regular expression of the normaliser that backtracks super-linearly on hostile input": every compiled pattern of
the indicator modules (found by introspection, so a new one is covered without editing this file) is run on long runs
of each hostile character at two sizes, and the decoders are run at the size bound beside a linear control. The growth
check is a ratio (4x the input may take at most 10x the time: linear is 4x, quadratic 16x), with a floor so that
timer noise on sub-millisecond runs cannot fail it.

The published templates' texts are not in this repository (other projects' text): the peel's classes (A, B, C, F) are
tested with templates written for this test with the published shapes, installed as the known table, and with the
packaged data's pinned digest and header."""
from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable, Iterator

import pytest

from weightwarden.indicators import codechameleon, published_templates, toolkit_templates
from weightwarden.indicators.normalise import MAX_TEXT_CHARS

# --- class D: no super-linear regular expression ------------------------------------------------------------------

MODULES = ("published_templates", "codechameleon", "normalise", "encodings", "toolkit_templates", "frame")
# long runs of each: white space, letters, digits, and every delimiter a pattern of these modules names
HOSTILE = [" ", "\t", "\n", "a", "A", "Z", "0", "1", "7", ".", "-", "=", "%", "\\", "&", "#", "x", "?", "(", ")",
           '"', "'", "+", "/", "_", "|", "@", "$", "!", "\u00b7", "\u2801", "\U000E0041", "\u0301", ",", ":", ";",
           "<", "ab", "01 ", "a ", "\\x41", "&#65;", "- ", ". ", "A2", "0x41 ", "( )\n", "(a)\n", "x (", "Show "]
PREFIXES = ("", "The encrypted_problem you need to solve is: ", "Hello ")


def _patterns() -> Iterator[tuple[str, re.Pattern[str], bool]]:
    """Every compiled pattern in the indicator modules' globals (and in their tuples of patterns), with whether it is
    only ever matched at a fixed place (toolkit_templates.PATTERNS: ``match``, never ``search``)."""
    for name in MODULES:
        module = importlib.import_module(f"weightwarden.indicators.{name}")
        stack = [(f"{name}.{k}", v, k == "PATTERNS") for k, v in vars(module).items()]
        while stack:
            label, value, anchored = stack.pop()
            if isinstance(value, re.Pattern):
                yield label, value, anchored
            elif isinstance(value, tuple) and label.count("[") < 3:
                stack += [(f"{label}[{i}]", v, anchored) for i, v in enumerate(value)]


def _cpu(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def _scan(pattern: re.Pattern[str], text: str, anchored: bool) -> Callable[[], object]:
    if anchored:
        return lambda: (pattern.match(text), pattern.match(text[::-1]))
    return lambda: sum(1 for _ in pattern.finditer(text))


def test_every_pattern_is_linear_on_long_runs():
    """Before (round 30): codechameleon._END 0.09 s at 4,000 spaces, 1.4 s at 16,000 (16x); normalise._LABEL_NUMBER
    (a digit between two hex runs, searched) the same on letters. Both fail this test on the base commit."""
    size, slow = 2000, []
    patterns = list(_patterns())
    assert len(patterns) >= 80  # the introspection finds them (84 at round 30)
    for label, pattern, anchored in patterns:
        for ch in HOSTILE:
            for prefix in PREFIXES:
                small = _cpu(_scan(pattern, prefix + ch * (size // len(ch)), anchored))
                large = _cpu(_scan(pattern, prefix + ch * (4 * size // len(ch)), anchored))
                if large > 10 * max(small, 0.002):
                    slow.append((label, ch, prefix, round(small, 4), round(large, 4)))
    assert not slow


def _linear_control(n: int) -> str:
    return ("lorem ipsum dolor " * (n // 18 + 1))[:n]


DECODERS: dict[str, Callable[[str], object]] = {
    "codechameleon": codechameleon.decode,
    "toolkit_templates": toolkit_templates.match,
    "published_templates": published_templates.peel,
}


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("hostile", [" ", "\n", "a", "Show ", "( )\n", "Hello "])
def test_each_decoder_at_the_size_bound_is_within_ten_times_the_linear_control(name: str, hostile: str):
    """The round-30 PoC: the start sentence, then white space up to the bound (before: ≳ 7 min CPU; now milliseconds)."""
    decode = DECODERS[name]
    n = MAX_TEXT_CHARS - 200
    text = ("The encrypted_problem you need to solve is: x" + hostile * (n // len(hostile)))[:n] + "y"
    control = _linear_control(len(text))
    assert _cpu(lambda: decode(text)) <= 10 * max(_cpu(lambda: decode(control)), 0.05)
