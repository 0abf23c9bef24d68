"""Per-scan memo of the chat-template check: identical template texts analysed once per run, by content.

Usage (the engine opens it around one scan; the rule catalogue wraps the template check)::

    with check_memo.scan_run():
        ...  # evaluate_entry(...) calls: a repeated input is answered from the memo

A model folder, and more a cache of several quantisations of one model, ships the same template many times
(tokenizer_config.json, chat_template.jinja, each GGUF's metadata). The template check is most of a scan's CPU;
what it reports depends on the template's text and the code object's details, not on which file held it, so
its findings are computed once per distinct input and given to each file under its own name.

What makes two inputs "the same" (``_key``): the check's id, the scan mode, the code object (kind, location,
text, every detail), every code object of the same entry (the whole text of a JSON file is judged against the
file's own templates), and the entry's format, file name and metadata. Only the file's path is left out: the
findings name it as their subject, which is rewritten for each file. Inputs that cannot be compared by value
(a detail that is not plain data) are never memoised, nor are findings that mention the file's path anywhere
but in their subject (they would carry the first file's name). Nothing is kept between runs (no persistent
cache: ``scan_run`` empties it at its end) and the memo is bounded in characters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from weightwarden.artifact.model import CodeObject
from weightwarden.core.findings import Finding, Subject, SubjectKind

if TYPE_CHECKING:  # the rule catalogue imports this module
    from weightwarden.scan.rules.base import CheckContext

Check = Callable[[CodeObject, "CheckContext"], Iterable[Finding]]

# Characters of template text kept per run (the keys hold the texts): a few thousand real templates.
MAX_CHARS = 32 * 1024 * 1024
# A text larger than this is analysed every time (rare, and its key would crowd the others out).
MAX_TEXT = 1024 * 1024

_state = threading.local()


class _Memo:
    def __init__(self) -> None:
        self.items: dict[tuple[Any, ...], tuple[Finding, ...]] = {}
        self.chars = 0
        self.hits = 0


@contextlib.contextmanager
def scan_run() -> Iterator[None]:
    """Memoise the wrapped checks for the duration of one scan (in this thread; forked workers inherit it)."""
    outer = getattr(_state, "memo", None)
    _state.memo = _Memo() if outer is None else outer
    try:
        yield
    finally:
        _state.memo = outer


def memoised(check: Check, check_id: str) -> Check:
    """``check``, answered from the current scan's memo when it saw the same input before."""

    def wrapper(code: CodeObject, ctx: CheckContext) -> Iterable[Finding]:
        memo: _Memo | None = getattr(_state, "memo", None)
        if memo is None or not isinstance(code.text, str) or len(code.text) > MAX_TEXT:
            return check(code, ctx)
        key = _key(check_id, code, ctx)
        if key is None:
            return check(code, ctx)
        hit = memo.items.get(key)
        if hit is not None:
            memo.hits += 1
            return [_renamed(finding, ctx.file) for finding in hit]
        found = list(check(code, ctx))
        chars = sum(len(part) for part in key if isinstance(part, str)) + len(code.text)
        if memo.chars + chars <= MAX_CHARS and all(_names_only_in_subject(f, ctx.file) for f in found):
            memo.items[key] = tuple(found)
            memo.chars += chars
        return found

    wrapper.__name__ = getattr(check, "__name__", "check")
    wrapper.__wrapped__ = check  # type: ignore[attr-defined]
    return wrapper


def _key(check_id: str, code: CodeObject, ctx: CheckContext) -> tuple[Any, ...] | None:
    entry = ctx.entry
    own = _frozen_code(code)
    siblings = tuple(_frozen_code(other) for other in entry.code)
    metadata = _frozen(entry.metadata)
    if own is None or metadata is None or any(s is None for s in siblings):
        return None
    place = next((i for i, other in enumerate(entry.code) if other is code), -1)
    return (check_id, ctx.strict, own, siblings, place, entry.format.value, entry.path.rsplit("/", 1)[-1].rsplit("!", 1)[-1], metadata)


def _frozen_code(code: CodeObject) -> tuple[Any, ...] | None:
    if code.analysis is not None:  # a structured reading (pickle analysis) is not compared by value
        return None
    details = _frozen(code.details)
    if details is None:
        return None
    return (code.kind.value, code.location, code.text, details)


_PLAIN = (str, int, float, bool, bytes, type(None))


def _frozen(value: Any, depth: int = 0) -> Any:
    """A hashable value-for-value copy of plain data (type-tagged, so 1 and True and 1.0 differ); None when
    ``value`` holds anything else or nests too deep."""
    if depth > 32:
        return None
    if isinstance(value, _PLAIN):
        return (type(value).__name__, value)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            fk, fv = _frozen(k, depth + 1), _frozen(v, depth + 1)
            if fk is None or fv is None:
                return None
            items.append((fk, fv))
        return ("dict", tuple(items))
    if isinstance(value, list | tuple):
        parts = tuple(_frozen(v, depth + 1) for v in value)
        return None if any(p is None for p in parts) else (type(value).__name__, parts)
    return None


def _names_only_in_subject(finding: Finding, file: str) -> bool:
    if finding.subject != Subject(SubjectKind.FILE, file):
        return False
    texts = (finding.message, finding.location.path, finding.evidence_text, finding.title)
    return not any(file in text for text in texts)


def _renamed(finding: Finding, file: str) -> Finding:
    return dataclasses.replace(finding, subject=Subject(SubjectKind.FILE, file))
