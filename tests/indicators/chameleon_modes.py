"""PyRIT CodeChameleonConverter's four built-in encrypt modes, written from their published behaviour (the converter's
docstring and its encrypt functions' outputs, romanlutz/PyRIT b06c6bc ``pyrit/prompt_converter/codechameleon_converter.py``,
last changed in d962a24), not copied: what the victim side sends, for the round-29 tests and benchmark."""

from __future__ import annotations

from typing import Any


def reverse(prompt: str) -> str:
    return " ".join(reversed(prompt.split(" ")))


def odd_even(prompt: str) -> str:
    words = prompt.split()
    return " ".join(words[0::2] + words[1::2])


def binary_tree(prompt: str) -> str:
    def node(words: list[str]) -> dict[str, Any] | None:
        if not words:
            return None
        mid = (len(words) - 1) // 2  # (start + end) // 2 over the inclusive range
        return {"value": words[mid], "left": node(words[:mid]), "right": node(words[mid + 1:])}
    return str(node(prompt.split()))


def length(prompt: str) -> str:
    order = sorted(enumerate(prompt.split()), key=lambda pair: len(pair[1]))  # stable, as list.sort
    return str([{word: index} for index, word in order])


MODES = {"reverse": reverse, "binary_tree": binary_tree, "odd_even": odd_even, "length": length}
