"""Writing to the terminal, shared by every command: safe stdout writes, colour and width decisions,
progress bars.

Kept free of heavy imports (rich is imported only when a progress bar really starts) so that ``--help``
stays fast.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

# THE sanitiser (control characters, bidi overrides, zero-width characters escaped), re-exported for the
# command modules: names, tokens and messages that come from a model must not drive the terminal.
from weightwarden.core.text import printable

__all__ = ["DEFAULT_WIDTH", "ProgressBar", "printable", "progress_bar", "stdout_is_terminal", "terminal_width",
           "use_color", "write_stdout"]

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


class ProgressBar:
    """A rich progress bar on stderr, started at the first update whose total reaches ``min_total``.

    Called as ``bar(done, total)`` or ``bar(done, total, description)``, from any thread (rich's
    ``Progress`` serialises updates; a lock makes sure only one bar starts). ``unit`` is ``"files"`` (a
    count) or ``"bytes"`` (size and speed).
    """

    def __init__(self, label: str, min_total: int, unit: str = "files") -> None:
        self.label, self.min_total, self.unit = label, min_total, unit
        self._progress: Any = None
        self._task: Any = None
        self._start_lock = threading.Lock()

    def __call__(self, done: int, total: int, description: str = "") -> None:
        if self._progress is None:
            if total < self.min_total:
                return
            with self._start_lock:
                if self._progress is None:
                    self._start(total)
        # ``total`` too: a second pass (verify re-reads the changed files per tensor) has a total of its own.
        self._progress.update(self._task, completed=done, total=total, description=printable(description[-60:]))

    def _start(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        counts = [DownloadColumn(), TransferSpeedColumn()] if self.unit == "bytes" else [MofNCompleteColumn()]
        # markup=False: a file name such as "[/x]" is text, not rich markup (which would raise MarkupError).
        progress = Progress(
            TextColumn(self.label, markup=False), BarColumn(), *counts, TimeElapsedColumn(),
            TextColumn("{task.description}", markup=False), console=Console(stderr=True), transient=True,
        )
        progress.start()
        self._task = progress.add_task("", total=total)
        self._progress = progress  # published last: other threads update only a started bar with its task

    @property
    def started(self) -> bool:
        return self._progress is not None

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def progress_bar(label: str, min_total: int, unit: str = "files") -> ProgressBar | None:
    """A :class:`ProgressBar` when stderr is a terminal, else None (nothing to draw on)."""
    return ProgressBar(label, min_total, unit) if sys.stderr.isatty() else None
