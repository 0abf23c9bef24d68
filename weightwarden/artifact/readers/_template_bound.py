"""The one "chat template longer than the bound" check, shared by every reader that carries a template.

A loader renders the whole template; a reader that keeps only ``limits.max_text_bytes`` of it would analyse
a prefix and let a payload placed after the bound through. Every reader (GGUF metadata, JSON configs,
``.jinja`` files, archive members read through the same readers) calls :func:`check_template_length` with
the template's full size: past the bound it records a ``limits.text_too_large`` anomaly (WW-GEN-001, high),
whatever part of the template it could still analyse.
"""

from __future__ import annotations

from weightwarden.artifact.model import FileEntry

CODE = "limits.text_too_large"


def check_template_length(entry: FileEntry, location: str, size: int, limit: int) -> bool:
    """Record the anomaly when a chat template of ``size`` bytes exceeds ``limit``; True when it does."""
    if size <= limit:
        return False
    entry.add_anomaly(
        CODE,
        location,
        f"chat template of {size} bytes exceeds the {limit}-byte limit: only its first {limit} bytes could be "
        "analysed, and a loader renders all of it",
        f"{size} > {limit}",
    )
    return True


def template_text_size(text: str, limit: int) -> int:
    """The UTF-8 size of ``text`` (without encoding it when its length alone says it is within ``limit``)."""
    if len(text) * 4 <= limit:
        return len(text)
    return len(text.encode("utf-8", errors="surrogatepass"))
