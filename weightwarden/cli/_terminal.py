"""Writing to the terminal, shared by every command: safe stdout writes, colour and width decisions.

Kept free of heavy imports (no rich) so that ``--help`` stays fast.
"""

from __future__ import annotations

import os
import sys

DEFAULT_WIDTH = 120


def write_stdout(text: str) -> None:
    """Write ``text`` to stdout; odd file names (undecodable bytes) must not crash a report on a narrow
    terminal encoding, so unencodable characters are escaped instead."""
    stream = sys.stdout
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.buffer.write(text.encode(stream.encoding or "utf-8", errors="backslashreplace"))
    stream.flush()


def printable(text: object) -> str:
    """``text`` with control characters escaped (``\\x1b``): names, tokens and messages that come from a
    model must not drive the terminal."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def use_color() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stdout_is_terminal() and "NO_COLOR" not in os.environ


def terminal_width() -> int:
    """The terminal's width (at least 100 columns), or a fixed width when stdout is not a terminal."""
    if not stdout_is_terminal():
        return DEFAULT_WIDTH
    try:
        return max(100, os.get_terminal_size().columns)
    except OSError:
        return DEFAULT_WIDTH
