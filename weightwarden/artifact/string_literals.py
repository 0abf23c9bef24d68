"""The string literals of another language that a text shows, decoded (red team round 32, class A).

A README shows a chat template as a JSON value (``tokenizer_config.json``), a YAML scalar or a Python string
(``tokenizer.chat_template = "..."``). A reader copies it into that file, or a tool ``json.loads`` / ``yaml.safe_load``
/ ``ast.literal_eval``\\ s it: the template a host renders is the DECODED string. One escape inside a tag
(``\\u005f`` for "_") makes the raw text fail Jinja's lexer, so the raw reading skips or drops that tag while the
decoded template is live.

No language is guessed and no parser of those languages is run: every run of characters between two unescaped
quotes of one kind (``"`` or ``'``) is a candidate literal (both pairings of a stray quote are candidates, so a
quote in prose cannot shift the pairing off a literal), and its escapes are decoded by the union of the escape
rules of JSON, YAML double-quoted scalars, Python and JavaScript/TOML strings. A literal of any of them decodes to
its value (Python raw strings excepted: over-decoding only adds text to judge). Linear in the text: each character
lies in at most one run per quote kind. Nothing here renders anything.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

# A quote not escaped by a backslash (an odd run of backslashes before it escapes it).
_QUOTE = {'"': re.compile(r'(?<!\\)(?:\\\\)*"'), "'": re.compile(r"(?<!\\)(?:\\\\)*'")}
_ESCAPE = re.compile(
    r"\\(?:u\{([0-9A-Fa-f]{1,6})\}|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|N\{([^{}\n]{1,80})\}"
    r"|([0-7]{1,3})|(\r\n|[\s\S]))"
)
_SIMPLE = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a", "e": "\x1b", "/": "/",
    '"': '"', "'": "'", "\\": "\\", "`": "`", " ": " ", "\t": "\t",
    # YAML double-quoted escapes for Unicode spaces and line breaks.
    "_": "\u00a0", "N": "\u0085", "L": "\u2028", "P": "\u2029",
    # An escaped line break continues the line (Python, YAML, JavaScript).
    "\n": "", "\r": "", "\r\n": "",
}


# What a literal body cannot hold raw: a line break in a single-quoted one (JSON has no single quotes; Python's and
# JavaScript's end at the line; YAML's single-quoted scalars have no escapes), a blank line in a double-quoted one
# (JSON and Python end at the line; a YAML double-quoted scalar may fold lines, and keeps a blank line only as a
# line break it could escape). Prose quotes pair across paragraphs; these runs are not literals.
_NOT_A_LITERAL = {'"': re.compile(r"\n[ \t]*\n"), "'": re.compile(r"[\r\n]")}


@dataclass(frozen=True, slots=True)
class Literal:
    """One candidate literal: its body's offset in the text and its decoded value."""

    offset: int
    value: str


def _char(code: int) -> str:
    return chr(code) if 0 <= code <= 0x10FFFF else "\ufffd"


def _decode_one(m: re.Match[str]) -> str:
    brace, u4, u8, x2, name, octal, simple = m.groups()
    if brace or u4 or u8 or x2:
        return _char(int(brace or u4 or u8 or x2, 16))
    if name:
        try:
            return unicodedata.lookup(name)
        except KeyError:
            return m.group(0)
    if octal:
        return _char(int(octal, 8))
    return _SIMPLE.get(simple, m.group(0))


def decode(body: str) -> str:
    """``body`` with every escape of the union of the escape rules decoded (unknown escapes kept, as Python does);
    UTF-16 surrogate pairs (JSON's ``\\ud83d\\ude00``) joined."""
    out = _ESCAPE.sub(_decode_one, body)
    if any("\ud800" <= c <= "\udfff" for c in out):
        out = out.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return out


def decoded_literals(text: str, wanted: re.Pattern[str]) -> Iterator[Literal]:
    """Every candidate literal of ``text`` holding a backslash escape whose decoded value matches ``wanted``
    (a literal without an escape reads the same raw: the text's own reading covers it). Double-quoted runs first;
    a single-quoted run inside a double-quoted literal found is part of it (a JSON template's own '...' strings),
    not a literal of its own."""
    found: list[tuple[int, int]] = []
    for quote, pattern in _QUOTE.items():
        ends = [m.end() for m in pattern.finditer(text)]
        for begin, end in zip(ends, ends[1:], strict=False):
            body = text[begin : end - 1]
            if "\\" not in body or _NOT_A_LITERAL[quote].search(body):
                continue
            if quote == "'" and any(a <= begin < b for a, b in found):
                continue
            value = decode(body)
            if value != body and wanted.search(value):
                if quote == '"':
                    found.append((begin, end))
                yield Literal(begin, value)


def json_strings(value: str, limit: int = 10_000) -> list[str]:
    """The string values (keys aside) of ``value`` when it is a JSON document (a config quoted in a string), at
    most ``limit``; else none."""
    stripped = value.strip()
    if stripped[:1] not in "{[":
        return []
    try:
        doc = json.loads(stripped)
    except (ValueError, RecursionError):
        return []
    out: list[str] = []
    stack = [doc]
    while stack and len(out) < limit:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out
