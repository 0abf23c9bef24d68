"""The JSON configs a page shows whole: what a reader copies into ``tokenizer_config.json`` (helper tpl34).

Decision (docs/decisions.md, "Red team round 33 on templates: found and fixed (helper tpl34)"): in a README-like
text, a template is judged where a host can be given it. One such place is a code unit (a fence, an indented or
HTML block, a ``<pre>``/``<code>`` element, a code span) or the whole text that IS a JSON document holding
``chat_template``: the reader pastes it into a config, and the host renders the decoded values. Those units are
parsed here with the real JSON parser (``json.loads``: exactly the strings a host gets, escapes and all), never by
guessing at literals; a unit that does not parse as JSON is not a config anyone can load.

Nothing here renders anything. Bounded: only units that hold the key as JSON writes it are parsed
(:func:`weightwarden.artifact.sniff.shows_config_key`: quoted, each character itself or a ``\\u`` escape, then a
colon: JSON spells no letter or ``_`` any other way), at most
MAX_JSON_UNITS of them per text; the walk over a parsed document is iterative and stops at MAX_JSON_NODES.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from weightwarden.artifact.code_blocks import code_blocks, normalise_newlines, unit_spans
from weightwarden.artifact.page_view import page_views, shows_config
from weightwarden.artifact.sniff import shows_config_key

# JSON units parsed per text (a model card shows one config, a tutorial a few): past it, the text is reported
# (fail closed, by the caller), not passed.
MAX_JSON_UNITS = 256
# Values visited per parsed unit when looking for objects holding "chat_template".
MAX_JSON_NODES = 200_000
_KEY = "chat_template"


@dataclass(slots=True)
class JsonUnit:
    """One unit of the text that parses as JSON and holds the key somewhere: its first line (1-based) and the
    objects holding ``chat_template`` (at any depth: a request body or a wrapper shows the config inside), in
    document order. ``problem``: why the unit could not be read (too deep for the parser, too many values); its
    configs are then not (all) known."""

    first_line: int
    configs: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    body: str = ""  # the unit's text, stripped (tpl35: the recovery leaves a config's raw JSON to this reading)


def _may_hold_key(body: str) -> bool:
    return shows_config_key(body)


def _candidates(text: str, page: bool | str) -> Iterator[tuple[int, str]]:
    """Every unit a reader copies whole, as (first line, body): the whole text, the code blocks (fences at any
    nesting, indented and HTML blocks, the language-neutral regions), the bodies of code elements and code spans;
    and (helper tpl35, round 34 class B) the same units as the rendered page shows them (page_view: a ``<pre>``
    written with ``&quot;``, a GFM cell's code span with ``\\|``, a key split by inline HTML), and the page's
    whole text."""
    yield 1, text
    for block in code_blocks(text, page=False):
        yield block.first_line, block.body
    for a, b in unit_spans(text):
        yield text.count("\n", 0, a) + 1, text[a:b]
    for view in page_views(text, page) if page else ():  # helper tpl36: every host's reading of the page
        if view.text != text and shows_config_key(view.text):
            yield 1, view.text
            for unit in view.units:
                yield unit.first_line, unit.body


def json_units(text: str, page: bool | str = False) -> tuple[list[JsonUnit], bool]:
    """The units of ``text`` that parse as JSON and hold ``chat_template`` objects (or could not be read), each body
    once; and whether MAX_JSON_UNITS cut the search (the units past it were not parsed)."""
    if not shows_config(text, page):
        return [], False
    text = normalise_newlines(text)
    seen: set[str] = set()
    units: list[JsonUnit] = []
    parsed = 0
    for first_line, body in _candidates(text, page):
        stripped = body.strip()
        if stripped[:1] not in ("{", "[") or stripped in seen or not _may_hold_key(stripped):
            continue
        seen.add(stripped)
        parsed += 1
        if parsed > MAX_JSON_UNITS:
            return units, True
        try:
            doc = json.loads(stripped)
        except RecursionError:
            units.append(JsonUnit(first_line, problem="nested too deep for the JSON parser"))
            continue
        except ValueError:
            continue  # not JSON: no host loads it as a config
        unit = _configs(doc, first_line)
        unit.body = stripped
        if unit.configs or unit.problem:
            units.append(unit)
    return units, False


def _configs(doc: Any, first_line: int) -> JsonUnit:
    unit = JsonUnit(first_line)
    stack = [doc]
    visited = 0
    while stack:
        visited += 1
        if visited > MAX_JSON_NODES:
            unit.problem = f"more than {MAX_JSON_NODES:,} JSON values"
            break
        item = stack.pop()
        if isinstance(item, dict):
            if _KEY in item:
                unit.configs.append(item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return unit
