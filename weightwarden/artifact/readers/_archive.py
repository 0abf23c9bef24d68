"""Shared machinery of the archive readers (zip, tar, 7z): member names, member sources, bounded recursion.

- :func:`check_member_name` turns a member name into zip-slip anomalies (``..`` components, absolute paths).
- :func:`stored_source` gives a member that is stored as-is a :class:`Source` that is a *window* onto the
  outer file (no copy), whether the outer file is on disk or is itself a member of another archive.
- :class:`LazyDecompressed` decompresses a member only as far as a reader actually reads it, into a bounded
  spool, charging the shared decompression budget and enforcing the member-size and compression-ratio
  bounds; a bomb stops at the bound and says so (``bomb`` holds the reason). The zip reader settles each
  compressed member first (decompresses the whole stream, within the bounds) so its real length, CRC and
  the bytes an extractor writes are checked whatever size the headers declare (red team round 19).
- :func:`read_child` recurses into a member through :meth:`ReadContext.read_member`, refusing to go deeper
  than ``limits.max_archive_depth``.

Anomaly codes:
    archive.path_traversal: a member name has a ``..`` component (extracting it writes outside the folder).
    archive.absolute_path: a member name is absolute (``/x``, ``\\x`` or a drive letter).
    archive.too_deep: archives nested deeper than limits.max_archive_depth; deeper members are not read.
    archive.bomb: a member expands past the compression-ratio, member-size or total decompression bound.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import zlib
from collections.abc import Callable
from typing import BinaryIO

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import Anomaly, FileEntry, Format
from weightwarden.artifact.source import (
    SPOOL_IN_MEMORY,
    RandomAccessReader,
    SizeLimitExceeded,
    Source,
    StreamWindow,
    window_source,
)

CHUNK = 1024 * 1024
RATIO_FLOOR = 1024 * 1024  # below this much output the compression ratio is not judged
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_member_name(name: str, location: str) -> list[Anomaly]:
    """Zip-slip checks of one member name."""
    out: list[Anomaly] = []
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        out.append(Anomaly("archive.absolute_path", location, "member name is an absolute path", name[:300]))
    if any(part == ".." for part in re.split(r"[\\/]", name)):
        out.append(Anomaly("archive.path_traversal", location, "member name leaves the extraction folder", name[:300]))
    return out


def stored_source(outer: Source, offset: int, length: int, display: str) -> Source:
    """A member stored without compression: a window onto the outer bytes, never a copy."""
    if outer.fs_path is not None:
        return window_source(outer.fs_path, offset, length, display, outer.fs_dir)
    return Source(
        display=display,
        size=length,
        opener=lambda: io.BufferedReader(StreamWindow(outer.open(), offset, length, owned=True)),
        fs_dir=outer.fs_dir,
    )


class Inflate:
    """Raw deflate (zip method 8), at most ``CHUNK`` bytes of output per step."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(-15)
        self.done = False

    def produce(self, src: BinaryIO) -> bytes:
        data = self._d.unconsumed_tail or src.read(64 * 1024)
        if not data:
            # zlib may still hold output when a step stopped at CHUNK with its input all consumed (found in round
            # 28: a member of exactly 16 MiB + 1 lost its last byte, then a CRC and size mismatch): flush it.
            out = self._d.decompress(b"", CHUNK)
            self.done = self._d.eof or not out
            return out
        out = self._d.decompress(data, CHUNK)
        self.done = self._d.eof
        return out


class Bunzip:
    """bzip2 (zip method 12), at most ``CHUNK`` bytes of output per step."""

    def __init__(self) -> None:
        import bz2

        self._d = bz2.BZ2Decompressor()
        self.done = False

    def produce(self, src: BinaryIO) -> bytes:
        data = b""
        if self._d.needs_input:
            data = src.read(64 * 1024)
            if not data:
                self.done = True
                return b""
        out = self._d.decompress(data, CHUNK)
        self.done = self._d.eof
        return out


class ZipLzma:
    """LZMA as zip stores it (method 14); small input steps keep each step's output small."""

    def __init__(self) -> None:
        import zipfile

        self._d = zipfile.LZMADecompressor()  # type: ignore[attr-defined]
        self.done = False

    def produce(self, src: BinaryIO) -> bytes:
        data = src.read(1024)
        if not data:
            self.done = True
            return b""
        out = self._d.decompress(data)
        self.done = bool(self._d.eof)
        return out


class LazyDecompressed:
    """A compressed member, decompressed on demand into a spool that several readers can share.

    Output is capped at ``bound`` (the smaller of the member bound and the ratio bound), never at the declared
    size (an extractor writes the whole stream); asking for more than the bound raises
    :class:`SizeLimitExceeded` and sets ``bomb``. Every byte
    produced is charged to the shared budget. ``crc`` is the CRC-32 of what was produced.
    """

    def __init__(
        self,
        compressed: Callable[[], BinaryIO],
        decompressor: Callable[[], Inflate | Bunzip | ZipLzma],
        *,
        declared: int,
        compressed_size: int,
        ctx: ReadContext,
    ) -> None:
        limits = ctx.limits
        self._open_compressed = compressed
        self._make = decompressor
        self.declared = declared
        self.ctx = ctx
        ratio_cap = max(compressed_size * limits.max_compression_ratio, RATIO_FLOOR)
        self.bound = min(limits.max_member_bytes, ratio_cap)
        self.bound_reason = (
            f"member size limit of {limits.max_member_bytes} bytes"
            if limits.max_member_bytes <= ratio_cap
            else f"compression ratio limit of {limits.max_compression_ratio} ({compressed_size} compressed bytes)"
        )
        self.produced = 0
        self.eof = False  # the decompressor finished (or failed)
        self.bomb: str | None = None
        self.error: str | None = None
        self.crc = 0
        self.overrun = False  # the stream holds more than the declared size
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed in close()
        self._src: BinaryIO | None = None
        self._dec: Inflate | Bunzip | ZipLzma | None = None

    def _fill(self, upto: int) -> None:
        # Never capped at the declared size (red team round 19): extractors (unzip, jar) write the whole stream
        # whatever the headers declare, so a member declared at 0 bytes must still be decompressed and scanned.
        while self.produced < upto and not self.eof:
            if self.produced >= self.bound:
                self.bomb = f"decompressed output reached the {self.bound_reason}"
                raise SizeLimitExceeded(self.bomb)
            if self._dec is None:
                self._src = self._open_compressed()
                self._dec = self._make()
            assert self._src is not None
            try:
                out = self._dec.produce(self._src)
            except Exception as exc:  # noqa: BLE001 - corrupt compressed data of a hostile member
                self.error = f"corrupt compressed data: {exc}"[:300]
                self.eof = True
                break
            self.eof = self._dec.done
            out = out[: self.bound - self.produced]
            if out:
                if not self.ctx.budget.take(len(out)):
                    self.bomb = "the total decompression budget of this file is exhausted"
                    raise SizeLimitExceeded(self.bomb)
                self._spool.seek(self.produced)
                self._spool.write(out)
                self.crc = zlib.crc32(out, self.crc)
                self.produced += len(out)
        self.overrun = self.produced > self.declared

    def settle(self) -> None:
        """Decompress the whole stream (up to the bomb bounds) so that its real length, not the declared one,
        is the member's size: the bytes an extractor writes are the bytes scanned (red team round 19)."""
        with contextlib.suppress(SizeLimitExceeded):  # ``bomb`` says why; scanned as far as decompressed
            self._fill(self.bound + 1)

    @property
    def size(self) -> int:
        """The member's size as read: the stream's real output once settled, else the declared size."""
        return self.produced if (self.eof or self.bomb) else self.declared

    def read_at(self, pos: int, n: int) -> bytes:
        self._fill(pos + n)
        if pos >= self.produced:
            return b""
        self._spool.seek(pos)
        return self._spool.read(min(n, self.produced - pos))

    def read_all(self) -> None:
        """Decompress to the end of the stream (for size and CRC checks)."""
        self.settle()

    def view(self) -> BinaryIO:
        return io.BufferedReader(_LazyView(self))

    def close(self) -> None:
        self._spool.close()
        if self._src is not None:
            self._src.close()


class _LazyView(RandomAccessReader):
    def __init__(self, lazy: LazyDecompressed) -> None:
        super().__init__(lazy.size)
        self._lazy = lazy

    def read_at(self, pos: int, n: int) -> bytes:
        return self._lazy.read_at(pos, n)


def lazy_source(lazy: LazyDecompressed, display: str, fs_dir: str | None) -> Source:
    return Source(display=display, size=lazy.size, opener=lazy.view, fs_dir=fs_dir)


def depth_allows_members(ctx: ReadContext) -> bool:
    return ctx.depth + 1 <= ctx.limits.max_archive_depth


def note_too_deep(entry: FileEntry, ctx: ReadContext, members: int) -> None:
    entry.anomalies.append(
        Anomaly(
            "archive.too_deep",
            entry.path,
            f"archive nested {ctx.depth} levels deep (limit {ctx.limits.max_archive_depth}); its members were not read",
            f"{members} members",
        )
    )
    entry.error = f"archive members not read: nesting deeper than {ctx.limits.max_archive_depth}"


def read_child(ctx: ReadContext, source: Source) -> FileEntry:
    """Read a member as a file of its own; a failure becomes that member's error, never an exception."""
    try:
        return ctx.read_member(source)
    except SizeLimitExceeded as exc:
        child = FileEntry(source.display, Format.UNKNOWN, source.size, error=f"size limit: {exc}")
        child.anomalies.append(Anomaly("archive.bomb", source.display, str(exc)))
        return child
    except Exception as exc:  # noqa: BLE001 - the dispatcher should not raise, but a member must never crash the scan
        return FileEntry(source.display, Format.UNKNOWN, source.size, error=f"cannot read member: {exc}"[:300])


def bomb_anomaly(location: str, reason: str, evidence: str = "") -> Anomaly:
    return Anomaly("archive.bomb", location, f"decompression stopped: {reason}", evidence)


def read_if_content(
    ctx: ReadContext, member: Source, entry: FileEntry, role: str, head_bytes: int, skip: frozenset[str] = frozenset()
) -> bool:
    """Sniff the head of a member one loader reads by its role (raw tensor bytes, a metadata record) and,
    when its content is a format another loader opens by content, read it as that format (red team round 17).

    ``np.load`` of a torch zip (a valid .npz) unpickles any member that starts with ``\\x93NUMPY`` and has an
    object dtype, whatever role torch gives it: no member is exempt from a content sniff. Only ``head_bytes``
    are read unless the head matches (storages can be GBs). A match is read by its reader (an object .npy's
    pickle is walked as the npy reader walks it) and reported as a polyglot, except a plain-dtype .npy that
    reads cleanly: both loaders then get an array of numbers and nothing runs. ``skip``: kinds the member's
    own reader already reads it as (a legacy tar member is walked as pickles). Returns True on a match.
    """
    from weightwarden.artifact.sniff import embedded_format

    if not depth_allows_members(ctx):
        return False  # the archive's own too-deep note covers it; nothing below this depth is read
    try:
        with member.open() as f:
            head = f.read(head_bytes)
    except (OSError, SizeLimitExceeded):
        return False  # the member-level checks (bomb, corrupt data) report what failed
    kind = embedded_format(head, member.size)
    if kind is None or kind in skip:
        return False
    child = read_child(ctx, member)
    entry.children.append(child)
    harmless = kind == "npy" and child.format == Format.NUMPY and not child.error and not child.code
    harmless = harmless and not child.metadata.get("object_dtype")
    if not harmless:
        entry.anomalies.append(
            Anomaly(
                "format.polyglot",
                member.display,
                f"{role} that its loader reads as raw bytes is also a {kind} by its content: a loader that opens "
                "members by content (np.load of the archive as an .npz, an extractor) reads it as that",
                f"{role} + {kind}",
            )
        )
    return True
