"""Small files at the edge of the product: reading one someone handed us (a key, a bundle, an indicator set,
a checkpoint) without ever reading more than a bound — a hostile multi-GB "key" is refused after
``limit + 1`` bytes — and writing one with exactly the mode we promise (private outputs stay private)."""

from __future__ import annotations

import contextlib
import errno
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


def _own_stream(target: os.stat_result) -> bool:
    """Whether ``target`` is /dev/null or the very stream this process has as stdout or stderr."""
    if stat.S_ISCHR(target.st_mode):
        with contextlib.suppress(OSError):
            null = os.stat(os.devnull)
            if (target.st_dev, target.st_ino, target.st_rdev) == (null.st_dev, null.st_ino, null.st_rdev):
                return True
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            mine = os.fstat(fd)
            if (mine.st_dev, mine.st_ino) == (target.st_dev, target.st_ino):
                return True
    return False


def write_atomic(output: str, data: bytes, mode: int) -> None:
    """Write ``data`` to ``output`` with exactly ``mode``: a new temporary file in the same folder (O_EXCL |
    O_NOFOLLOW, so neither an existing file's mode nor a planted symlink decides who can read it), renamed over
    ``output`` (a symlink at ``output`` to a file is replaced, not followed).

    Something other than a regular file already at ``output`` (red team round 2, R7: a FIFO planted there by
    another user received raw prompt text) is refused with :class:`OSError`, except /dev/null and this
    process's own stdout/stderr (``/dev/stdout``, ``/dev/stderr``, or the terminal/pipe they are), which are
    written as they are: their reader is the user's own choice."""
    try:
        target = os.stat(output)  # follows a symlink: /dev/stdout, /dev/null are links to streams
    except OSError:
        target = None
    if target is not None and not stat.S_ISREG(target.st_mode) and not stat.S_ISDIR(target.st_mode):
        if not _own_stream(target):
            raise OSError(errno.EPERM, "refusing to write into an existing FIFO, socket or device that is not "
                                       "/dev/null or this process's own stdout/stderr (its reader could be anyone); "
                                       "remove it or choose another path")
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
