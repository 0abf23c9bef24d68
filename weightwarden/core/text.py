"""One sanitiser for every string that came from a file, a bundle, a model or a user's log.

Such text is shown in terminals, CI logs, HTML and SARIF. A hostile file name or token must not move the
cursor, clear a line or paint a fake result (ESC, CR, BS, newline, bidi overrides), and must not be so long
that it buries the report. Every renderer calls :func:`printable` on model-supplied text.
"""

from __future__ import annotations

import unicodedata

MAX_EVIDENCE = 400

# Unicode "format" characters that reorder or hide text (bidi overrides, zero-width joiners, BOM).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def printable(text: object, limit: int | None = None) -> str:
    """``text`` with control and invisible format characters escaped (``\\x1b``, ``\\u202e``), cut to
    ``limit`` characters with an ellipsis when a limit is given."""
    source = str(text)
    if limit is not None:
        # Every character gives at least one character out, so the first limit + 1 decide the result.
        source = source[: max(limit, 0) + 1]
    if source.isascii() and source.isprintable():  # the common case: nothing to escape
        cleaned = source
        if limit is not None and len(cleaned) > limit:
            return cleaned[: max(0, limit - 1)] + "…"
        return cleaned
    out: list[str] = []
    for ch in source:
        if ch == " " or (ch.isprintable() and unicodedata.category(ch) not in _HIDDEN_CATEGORIES):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    cleaned = "".join(out)
    if limit is not None and len(cleaned) > limit:
        return cleaned[: max(0, limit - 1)] + "…"
    return cleaned


def evidence_text(text: object) -> str:
    """Evidence shown beside a finding: printable and at most :data:`MAX_EVIDENCE` characters."""
    return printable(text, MAX_EVIDENCE)
