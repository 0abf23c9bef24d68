"""Small files at the edge of the product: reading one someone handed us (a key, a bundle, an indicator set,
a checkpoint) without ever reading more than a bound — a hostile multi-GB "key" is refused after
``limit + 1`` bytes — and writing one with exactly the mode we promise (private outputs stay private)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys

from weightwarden.core.errors import InputError


def read_bounded(path: str, what: str, limit: int) -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most ``limit``; :class:`InputError` naming the file
    and ``what`` it should have been when it cannot be read or is larger."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: the {what} is larger than {limit} bytes")
    return data


def write_atomic(output: str, data: bytes, mode: int) -> None:
    """Write ``data`` to ``output`` with exactly ``mode``: a new temporary file in the same folder (O_EXCL |
    O_NOFOLLOW, so neither an existing file's mode nor a planted symlink decides who can read it), renamed over
    ``output`` (a symlink at ``output`` to a file is replaced, not followed). A terminal, pipe or /dev/null
    (directly or through a link such as /dev/stdout) is written as it is."""
    try:
        target = os.stat(output)  # follows a symlink: /dev/stdout, /dev/null are links to streams
    except OSError:
        target = None
    if target is not None and (stat.S_ISCHR(target.st_mode) or stat.S_ISFIFO(target.st_mode)):
        # A stream (terminal, pipe, /dev/null): nothing to create or rename; its reader is the user's choice.
        fd = os.open(output, os.O_WRONLY)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    folder = os.path.dirname(os.path.abspath(output))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        temp = os.path.join(folder, f".{os.path.basename(output)}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(temp, flags, mode)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"cannot create a temporary file next to {output}")
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow the promised mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
