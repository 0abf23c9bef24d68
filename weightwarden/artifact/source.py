"""Byte sources: a file on disk or a member inside an archive, opened the same way.

Readers take a :class:`Source` rather than a path so that an archive member is read exactly like a file.
A source opens as a seekable binary stream. Uncompressed members are windows onto the outer file (no copy);
compressed members are decompressed into a bounded spool (memory first, then a temporary file), never into
an unbounded buffer.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

SPOOL_IN_MEMORY = 64 * 1024 * 1024


class SizeLimitExceeded(Exception):
    """A decompressed stream grew past its bound."""


@dataclass(frozen=True, slots=True)
class Source:
    """Something a reader can open. ``display`` is the path shown to users (``a.zip!b/c.pkl``).

    ``fs_path`` is set when the bytes are a plain file on disk (readers may ``mmap`` it); ``fs_dir`` is the
    folder of the *top-level* file, used to decide whether a referenced path leaves the model folder.
    ``siblings_scanned``: the files a loader reads beside this one (a SavedModel's ``keras_metadata.pb``) are files
    of the same scan, each read on its own, so this file's reader does not read them again (red team round 33).
    """

    display: str
    size: int
    opener: Callable[[], BinaryIO]
    fs_path: str | None = None
    fs_dir: str | None = None
    siblings_scanned: bool = False

    def open(self) -> BinaryIO:
        return self.opener()

    def head(self, n: int = 4096) -> bytes:
        with self.open() as f:
            return f.read(n)

    @classmethod
    def from_path(cls, path: str, display: str, fs_dir: str | None = None, siblings_scanned: bool = False) -> Source:
        # The size of what ``open`` reads: a hub-cache snapshot entry is a link to its blob, and the
        # link's own size (the length of "../../blobs/<hash>") made every linked weight file look truncated.
        # Which links may be followed at all is decided before a Source is made (:mod:`.paths`).
        size = os.stat(path).st_size
        return cls(display=display, size=size, opener=lambda: open(path, "rb"), fs_path=path, fs_dir=fs_dir,
                   siblings_scanned=siblings_scanned)

    @classmethod
    def from_bytes(cls, data: bytes, display: str, fs_dir: str | None = None) -> Source:
        return cls(display=display, size=len(data), opener=lambda: io.BytesIO(data), fs_dir=fs_dir)


class RandomAccessReader(io.RawIOBase):
    """A read-only, seekable stream of ``length`` bytes over anything that can read at an offset.

    Subclasses implement :meth:`read_at`; position tracking, seeking and ``readinto`` live here once.
    """

    def __init__(self, length: int) -> None:
        self._length = length
        self._pos = 0

    def read_at(self, pos: int, n: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self._length - self._pos)
        if n <= 0:
            return 0
        data = self.read_at(self._pos, n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class StreamWindow(RandomAccessReader):
    """A read-only, seekable view of ``length`` bytes starting at ``offset`` of a seekable stream.

    ``owned`` streams are closed with the view; a shared one (a spool serving several views) is not.
    """

    def __init__(self, stream: BinaryIO, offset: int, length: int, owned: bool) -> None:
        super().__init__(length)
        self._s = stream
        self._offset = offset
        self._owned = owned

    def read_at(self, pos: int, n: int) -> bytes:
        self._s.seek(self._offset + pos)
        return self._s.read(n)

    def close(self) -> None:
        if self._owned and not self.closed:
            self._s.close()
        super().close()


def window_source(path: str, offset: int, length: int, display: str, fs_dir: str | None) -> Source:
    return Source(
        display=display,
        size=length,
        opener=lambda: io.BufferedReader(StreamWindow(open(path, "rb"), offset, length, owned=True)),  # noqa: SIM115
        fs_dir=fs_dir,
    )


def spool(stream: BinaryIO, max_bytes: int) -> BinaryIO:
    """Copy a (decompressing) stream into a seekable spool, raising past ``max_bytes``."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned to caller
    total = 0
    while True:
        chunk = stream.read(1024 * 1024)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            out.close()
            raise SizeLimitExceeded(f"decompressed size exceeds {max_bytes} bytes")
        out.write(chunk)
    out.seek(0)
    return out  # type: ignore[return-value]


def copy_bounded(src: BinaryIO, dst: BinaryIO, max_bytes: int) -> int:
    """``shutil.copyfileobj`` with a ceiling."""
    total = 0
    while True:
        chunk = src.read(1024 * 1024)
        if not chunk:
            return total
        total += len(chunk)
        if total > max_bytes:
            raise SizeLimitExceeded(f"decompressed size exceeds {max_bytes} bytes")
        dst.write(chunk)


__all__ = ["Source", "RandomAccessReader", "StreamWindow", "window_source", "spool", "copy_bounded", "SizeLimitExceeded"]
