"""PyRIT's CodeChameleonConverter undone: its encrypted problem read back to the prompt (red team round 29, class B).

The converter (Azure/PyRIT, ``pyrit/prompt_converter/codechameleon_converter.py`` and
``pyrit/datasets/prompt_converters/codechameleon_converter.yaml``, read at romanlutz/PyRIT b06c6bc, last changed in
d962a24; after the CodeChameleon paper, arXiv 2402.16717) puts the prompt, "encrypted" by one of four deterministic
modes, into a ~400-word template together with the matching decryption function. Round 24 prep listed it as random or
lossy; it is neither. Published behaviour of each mode (the docstring and the encrypt functions, rewritten here from
that behaviour, not copied):

* ``reverse``: the words (split at single spaces) in reverse order;
* ``odd_even``: the words at even positions (0, 2, ...) then those at odd positions (split at white space);
* ``binary_tree``: the words (split at white space) as a balanced binary tree, the middle word (``(start + end) // 2``)
  at the root, written as Python's ``str`` of nested dicts ``{'value': word, 'left': ..., 'right': ...}``; the
  in-order traversal is the prompt;
* ``length``: Python's ``str`` of a list of one-entry dicts ``{word: index}``, sorted by word length; each word back at
  its index is the prompt.

The encrypted problem is found between the two fixed sentences around the template's field (short quotes):
"The encrypted_problem you need to solve is:" and "Show the finished ProblemSolver class code after adding more
details."; the mode is told by the decryption function the converter wrote before it (one short, distinctive line of
each, below). A ``custom`` mode (the caller's own functions) is not undone. The template text itself is peeled with the
published templates (:mod:`.published_templates`), whose data holds its words and those of the four decryption
functions: :func:`weightwarden.indicators.normalise._peel_wrapper` decodes here, then peels there.
"""

from __future__ import annotations

import ast
import re

_START = re.compile(r"The\s+encrypted_problem\s+you\s+need\s+to\s+solve\s+is:[ \t]*", re.IGNORECASE)
# no leading white space in the pattern: a search starting at each of W spaces would scan the run each time, O(W^2)
# (red team round 30, class D: 80,000 spaces took 74 s); the problem's trailing white space is stripped instead
_END = re.compile(r"Show\s+the\s+finished\s+ProblemSolver\s+class\s+code\s+after\s+adding\s+more\s+details\.",
                  re.IGNORECASE)
# one line of each published decryption function (short quotes): which mode encrypted the problem
_MODES = (
    ("reverse", "encrypted_problem.split(' ')[::-1]"),
    ("binary_tree", "def inorder_traversal("),
    ("odd_even", "half_length = (len(words) + 1) // 2"),
    ("length", "sentence[index] = word"),
)
MAX_LITERAL_CHARS = 64 * 1024  # an encrypted problem read as a Python literal is at most this long (bounds the parse)


def decode(text: str) -> tuple[str, tuple[int, int]] | None:
    """The prompt under a CodeChameleon template in ``text`` and the span of its encrypted problem; None when ``text``
    holds no such template, names no built-in mode, or its problem does not read back."""
    start = _START.search(text)
    if start is None:
        return None
    end = _END.search(text, start.end())
    if end is None:
        return None
    before = text[:start.start()]
    modes = [mode for mode, line in _MODES if line in before]
    if len(modes) != 1:
        return None
    problem = text[start.end():end.start()].rstrip()
    plain = _INVERSES[modes[0]](problem)
    if plain is None or not plain.strip():
        return None
    return plain, (start.end(), start.end() + len(problem))


def _reverse(problem: str) -> str | None:
    return " ".join(problem.split(" ")[::-1])


def _odd_even(problem: str) -> str | None:
    words = problem.split()
    half = (len(words) + 1) // 2
    first, second = words[:half], words[half:]
    out = []
    for i, word in enumerate(first):
        out.append(word)
        if i < len(second):
            out.append(second[i])
    return " ".join(out)


def _literal(problem: str) -> object | None:
    """``problem`` read as a Python literal (str of dicts, lists, strings, ints, None): parsed, never run."""
    if len(problem) > MAX_LITERAL_CHARS:
        return None
    try:
        return ast.literal_eval(problem.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _binary_tree(problem: str) -> str | None:
    root = _literal(problem)
    out: list[str] = []
    stack: list[object] = []
    node: object = root
    while stack or node is not None:  # in-order traversal without recursion
        while node is not None:
            if not (isinstance(node, dict) and set(node) == {"value", "left", "right"}
                    and isinstance(node["value"], str)):
                return None
            stack.append(node)
            node = node["left"]
        current = stack.pop()
        assert isinstance(current, dict)
        out.append(current["value"])
        node = current["right"]
        if len(out) > MAX_LITERAL_CHARS:
            return None
    return " ".join(out) if out else None


def _length(problem: str) -> str | None:
    entries = _literal(problem)
    if not isinstance(entries, list) or not entries:
        return None
    sentence: list[str | None] = [None] * len(entries)
    for entry in entries:
        if not (isinstance(entry, dict) and len(entry) == 1):
            return None
        ((word, index),) = entry.items()
        if not (isinstance(word, str) and isinstance(index, int) and 0 <= index < len(entries)) \
                or sentence[index] is not None:
            return None
        sentence[index] = word
    return " ".join(w for w in sentence if w is not None)


_INVERSES = {"reverse": _reverse, "odd_even": _odd_even, "binary_tree": _binary_tree, "length": _length}
