"""Small files at the edge of the product: reading one someone handed us (a key, a bundle, an indicator set,
a checkpoint) without ever reading more than a bound — a hostile multi-GB "key" is refused after
``limit + 1`` bytes — and writing one with exactly the mode we promise (private outputs stay private)."""

from __future__ import annotations

import contextlib
import errno
import os
import re
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


# Red team round 4 (G4): the stream cases (write through fd 1/2, discard into /dev/null) followed links from any
# path, so a link planted at an output name in a writable folder sent private output into this process's stdout
# (a world-readable CI log) or made it vanish. They now apply only to a name that says it is a stream.
_STREAM_NAMES = re.compile(r"/dev/(?:stdout|stderr|null|fd/\d+)|/proc/self/fd/\d+")


def is_stream_name(output: str) -> bool:
    """Whether ``output`` is literally ``-``, /dev/stdout, /dev/stderr, /dev/null, /dev/fd/N or /proc/self/fd/N."""
    return output == "-" or _STREAM_NAMES.fullmatch(output) is not None


def _is_devnull(target: os.stat_result) -> bool:
    """Whether ``target`` is the character device /dev/null."""
    if not stat.S_ISCHR(target.st_mode):
        return False
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return (target.st_dev, target.st_ino, target.st_rdev) == (null.st_dev, null.st_ino, null.st_rdev)


def _flush_python_streams() -> None:
    """Flush what Python buffered for stdout/stderr, so bytes written to fd 1/2 directly keep their order."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomic(output: str, data: bytes, mode: int, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``output`` with exactly ``mode``: a new temporary file in the same folder (O_EXCL |
    O_NOFOLLOW, so neither an existing file's mode nor a planted symlink decides who can read it), renamed over
    ``output`` (a symlink at ``output`` is replaced, not followed).

    What is at ``output`` is judged on a descriptor, not on the path (red team round 3, F1: a path checked by
    ``stat`` and then opened again could be swapped in between): it is opened first (O_PATH where there is one,
    so opening a device or FIFO has no effect) and ``fstat``-ed. Only a name that says it is a stream (``-``,
    /dev/stdout, /dev/stderr, /dev/null, /dev/fd/N, /proc/self/fd/N; red team round 4, G4) is followed: this
    process's own stdout/stderr (same device and inode as fd 1/2, of any file type: ``/dev/stdout`` that is a
    regular file too, F2) is written through fd 1/2 itself; /dev/null is accepted and nothing is written. Any
    other name is opened with O_NOFOLLOW: a symlink there is replaced like a file. Any other thing that is not
    a regular file
    (round 2, R7: a planted FIFO whose reader could be anyone) is refused with :class:`OSError`. The parent
    folder is resolved and opened once; the temporary file and the rename both happen in that folder, so the
    rename never replaces a path outside the folder named.

    ``exclusive`` (key files): an existing ``output`` of any kind, a dangling symlink included, is refused with
    :class:`FileExistsError` and the finished temporary file is hard-linked in, which fails rather than
    replaces when the name appeared meanwhile."""
    name = os.path.basename(output)
    if name in ("", ".", ".."):
        raise IsADirectoryError(errno.EISDIR, f"{output}: not a file name")
    if exclusive and os.path.lexists(output):
        raise FileExistsError(errno.EEXIST, "exists; refusing to overwrite it", output)
    if output == "-":
        _flush_python_streams()
        _write_fd(1, data)
        return
    stream = is_stream_name(output)
    # A stream name is followed (/dev/stdout is a link); any other name is looked at itself (O_NOFOLLOW): a
    # symlink there is a name to replace, never a way into a stream or a device.
    probe_flags = getattr(os, "O_PATH", os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    if not stream:
        probe_flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        probe = os.open(output, probe_flags | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        probe = None
    except OSError as exc:
        if stream or exc.errno != errno.ELOOP:  # ELOOP: a link, where there is no O_PATH (macOS)
            raise
        probe = None
    if probe is not None:
        try:
            target = os.fstat(probe)
        finally:
            os.close(probe)
        if stream:
            for fd in (1, 2):
                with contextlib.suppress(OSError):
                    mine = os.fstat(fd)
                    if (mine.st_dev, mine.st_ino) == (target.st_dev, target.st_ino):
                        _flush_python_streams()
                        _write_fd(fd, data)
                        return
        if stream and not _is_devnull(target):
            # A stream name that is not this process's stdout/stderr nor /dev/null (/dev/fd/5, say): never
            # replaced by renaming into /dev or /proc, and never written into on someone else's behalf.
            raise OSError(errno.EPERM, "a stream name that is neither this process's stdout/stderr nor "
                                       "/dev/null; choose a file path")
        if stat.S_ISDIR(target.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"{output}: is a folder")
        if not stat.S_ISREG(target.st_mode) and not stat.S_ISLNK(target.st_mode):
            if stream and _is_devnull(target):
                return  # what /dev/null would do with the bytes
            raise OSError(errno.EPERM, "refusing to write into an existing FIFO, socket or device that is not "
                                       "/dev/null or this process's own stdout/stderr named as such (its reader "
                                       "could be anyone); remove it or choose another path")
    folder = os.path.realpath(os.path.dirname(os.path.abspath(output)))
    folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        for _ in range(100):
            temp = f".{name}.{os.urandom(6).hex()}.tmp"
            try:
                fd = os.open(temp, flags, mode, dir_fd=folder_fd)
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
            if exclusive:
                os.link(temp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd, follow_symlinks=False)
                os.unlink(temp, dir_fd=folder_fd)
            else:
                os.replace(temp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=folder_fd)
            raise
    finally:
        os.close(folder_fd)
