"""Reader for single compressed streams: gzip, bz2, xz, lzma-alone, lz4 frame, zstd, zlib, brotli and joblib's old
"ZF" file.

Compressed joblib files (``joblib.dump(obj, path, compress=...)``) and ``*.pkl.gz``-style checkpoints are a
compressed pickle. This reader decompresses the stream — bounded by ``limits.max_member_bytes``, the shared
decompression budget of the top-level file and a compression-ratio check — into a spool (memory first, a
temporary file past 64 MiB) and hands the result back to format sniffing and dispatch
(:meth:`ReadContext.read_member`) as ``<file>!<inner name>``, so a compressed joblib pickle is scanned exactly like
a plain one. The entry for the compressed file carries the decompressed content as its only child.

When decompression stops early (a bomb, a corrupt or truncated stream) whatever was decompressed before is
still scanned: a pickle's dangerous calls usually sit in its first bytes.

The codec comes from the stream's magic number, else from the file name's extension
(:data:`~weightwarden.artifact.sniff.COMPRESSION_EXTENSIONS`): fsspec and pandas (``compression="infer"``)
decompress by extension, so every codec they can pick is decoded here (red team round 21: ``model.pkl.zst``
was "unknown format" while ``pickle.load(fsspec.open(p, compression="infer").open())`` ran it). A codec
recognised but not decodable here (lz4's legacy frame, snappy; brotli or zstd without their library) is
``compressed.unsupported``: the content could not be verified.

Anomaly codes:
    compressed.bomb: the stream expands beyond max_member_bytes, the decompression budget or max_compression_ratio.
    compressed.corrupt: the compressed data is invalid (bad header, CRC, stream error).
    compressed.truncated: the compressed stream ends before its end-of-stream marker.
    compressed.trailing_data: bytes after the end of the compressed stream.
    compressed.unsupported: a codec this scanner cannot decode (the content was not read).
    archive.too_deep: a compressed stream nested deeper than max_archive_depth (not decompressed).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import Anomaly, FileEntry, Format
from weightwarden.artifact.source import SPOOL_IN_MEMORY, Source

CHUNK = 1024 * 1024
RATIO_FLOOR = 16 * 1024 * 1024  # below this much output the ratio check does not apply (tiny inputs compress well)
ZF_HEADER = 2 + len(hex(2**64))  # joblib < 0.10: b"ZF" + hex length left-justified to 19 characters


class _Stopped(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _Counting:
    """A read-only wrapper that counts compressed bytes consumed (for the ratio check)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.count

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def flush(self) -> None:
        pass


def detect(head: bytes) -> str | None:
    """The compression of a stream starting with ``head``."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"\x28\xb5\x2f\xfd") or (len(head) >= 4 and 0x50 <= head[0] <= 0x5F and head[1:4] == b"\x2a\x4d\x18"):
        return "zstd"  # a frame, or a skippable frame that zstd decoders step over
    if head.startswith(b"\x02\x21\x4c\x18"):
        return "lz4-legacy"
    if head.startswith(b"\xff\x06\x00\x00sNaPpY"):
        return "snappy"
    if head.startswith(b"\x5d\x00"):
        return "lzma"
    if head.startswith(b"ZF"):
        return "joblib-zfile"
    if len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    return None


def _zlib_chunks(f: _Counting, skip: int = 0) -> Iterator[bytes]:
    if skip:
        f.read(skip)
        # joblib <= 0.8.4 wrote a header one character wider: skip the padding before the zlib header.
        first = f.read(1)
        while first == b" ":
            first = f.read(1)
        pending = first
    else:
        pending = b""
    d = zlib.decompressobj()
    while not d.eof:
        data = pending + f.read(CHUNK)
        pending = b""
        if not data:
            raise EOFError("zlib stream ended before its end marker")
        out = d.decompress(data, CHUNK)
        if out:
            yield out
        while d.unconsumed_tail:
            out = d.decompress(d.unconsumed_tail, CHUNK)
            if out:
                yield out
    if d.unused_data:
        raise _TrailingData(len(d.unused_data))


def _lzma_chunks(f: _Counting) -> Iterator[bytes]:
    """xz / lzma-alone streams, one after another as LZMAFile reads them, but a later "stream" the decoder
    refuses is reported, not dropped (red team round 19): LZMAFile takes it for trailing garbage while a
    non-picky decoder (joblib's FORMAT_ALONE reader) decodes it."""
    return _multistream_chunks(f, lzma.LZMADecompressor, lzma.LZMAError, "lzma")


def _multistream_chunks(
    f: _Counting, make: Callable[[], Any], error: type[Exception], name: str
) -> Iterator[bytes]:
    """Concatenated streams (xz/lzma, zstd frames), each decoded with ``max_length`` steps of CHUNK bytes; a
    later stream the decoder refuses is trailing data, not a silent end."""
    d = make()
    pending, first_call, streams = b"", True, 0
    while True:
        if d.eof:
            streams += 1
            pending = d.unused_data or f.read(CHUNK)
            if not pending:
                return
            d, first_call = make(), True
        data = b""
        if d.needs_input or first_call:
            data = pending or f.read(CHUNK)
            pending = b""
            if not data:
                raise EOFError(f"{name} stream ended before its end marker")
        try:
            out = d.decompress(data, CHUNK)
        except error as exc:
            if streams and first_call:
                raise _TrailingData(len(data)) from None
            raise ValueError(str(exc)) from None
        first_call = False
        if out:
            yield out


class _TrailingData(Exception):
    def __init__(self, n: int) -> None:
        super().__init__(f"{n}+ bytes after the end of the compressed stream")
        self.n = n


def _file_chunks(fileobj: BinaryIO) -> Iterator[bytes]:
    # read1 returns what one step of decompression produced, so the bytes before a truncation or a corrupt
    # block are still handed over (read(n) would discard them when it raises).
    read = getattr(fileobj, "read1", fileobj.read)
    while True:
        data = read(CHUNK)
        if not data:
            return
        yield data


def _brotli_chunks(f: _Counting) -> Iterator[bytes]:
    import brotli  # lazy and optional (py7zr installs it): without it a brotli file is reported unsupported

    d = brotli.Decompressor()
    while not d.is_finished():
        # output_buffer_limit bounds each step's output; new input is accepted only once the decoder drained it.
        data = f.read(CHUNK) if d.can_accept_more_data() else b""
        if not data and d.can_accept_more_data():
            raise EOFError("brotli stream ended before its end marker")
        try:
            out = d.process(data, output_buffer_limit=CHUNK)
        except brotli.error as exc:
            raise ValueError(f"brotli: {exc}") from None
        if out:
            yield out
    rest = f.read(1)
    if rest:
        raise _TrailingData(len(rest))


class _Unsupported(Exception):
    """A codec recognised (by magic or name) that this scanner has no decoder for."""


def _zstd_opener() -> Callable[[_Counting], Iterator[bytes]]:
    # The decoder fsspec itself uses (Python 3.14's compression.zstd, its backport before): the same frame
    # handling as the loader, and a max_length per step that bounds each output chunk.
    try:
        if sys.version_info >= (3, 14):
            from compression import zstd  # type: ignore[import-not-found]
        else:
            from backports import zstd
    except ImportError as exc:
        raise _Unsupported("zstd (backports.zstd is not installed)") from exc
    return lambda f: _multistream_chunks(f, zstd.ZstdDecompressor, zstd.ZstdError, "zstd")


def _opener(kind: str) -> Callable[[_Counting], Iterator[bytes]]:
    if kind == "gzip":
        return lambda f: _file_chunks(gzip.GzipFile(fileobj=f, mode="rb"))  # type: ignore[arg-type]
    if kind == "bz2":
        return lambda f: _file_chunks(bz2.BZ2File(f, mode="rb"))  # type: ignore[arg-type]
    if kind in ("xz", "lzma"):
        return _lzma_chunks
    if kind == "lz4":
        import lz4.frame  # lazy: only lz4 files need it

        return lambda f: _file_chunks(lz4.frame.LZ4FrameFile(f, mode="rb"))  # type: ignore[arg-type]
    if kind == "zstd":
        return _zstd_opener()
    if kind == "brotli":
        try:
            import brotli  # noqa: F401 - only checks that the decoder exists
        except ImportError as exc:
            raise _Unsupported("brotli (the brotli package is not installed)") from exc
        return _brotli_chunks
    if kind == "joblib-zfile":
        return lambda f: _zlib_chunks(f, skip=ZF_HEADER)
    if kind == "zlib":
        return lambda f: _zlib_chunks(f)
    # lz4's legacy frame, snappy's framing format; zip and tar by name only (their content matched no reader).
    raise _Unsupported(kind)


def _inner_name(display: str, kind: str) -> str:
    name = display.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    for ext in (".gz", ".gzip", ".bz2", ".xz", ".lzma", ".lz4", ".zst", ".zstd", ".z", ".zlib", ".br", ".sz", ".snappy"):
        if name.lower().endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return f"{name}.decompressed" if name else "decompressed"


def read(source: Source, ctx: ReadContext) -> FileEntry:
    limits = ctx.limits
    entry = FileEntry(source.display, Format.COMPRESSED, source.size)
    head = source.head(64)
    kind = detect(head)
    if kind is None:
        # No magic: sniffing sent the file here for its name (fsspec/pandas infer the codec from it).
        from weightwarden.artifact.sniff import compression_by_name

        kind = compression_by_name(source.display)
        entry.metadata["compression_from"] = "name"
    entry.metadata["compression"] = kind
    if kind is None:
        entry.error = "unrecognised compressed stream"
        return entry
    if kind in ("zip", "tar"):
        # Named like a zip or a tar (pandas opens it as one) but neither zipfile nor tarfile structure is there.
        entry.anomalies.append(Anomaly("compressed.corrupt", source.display,
                                       f"named like a {kind} archive but holds no {kind} structure: it could not be "
                                       "verified", kind))
        entry.error = f"not a {kind} archive despite its name"
        return entry
    if ctx.depth + 1 > limits.max_archive_depth:
        # gzip in bz2 in gzip ...: each level is one more archive level.
        entry.anomalies.append(
            Anomaly(
                "archive.too_deep",
                source.display,
                f"compressed stream nested {ctx.depth} levels deep (limit {limits.max_archive_depth}); not decompressed",
                kind,
            )
        )
        entry.error = f"compressed stream not read: nesting deeper than {limits.max_archive_depth}"
        return entry
    try:
        opener = _opener(kind)
    except _Unsupported as exc:
        entry.anomalies.append(Anomaly("compressed.unsupported", source.display,
                                       f"compressed with {exc}, which this scanner cannot decode: the content "
                                       "could not be verified", kind))
        entry.error = f"{kind} stream not decoded: no decoder"
        return entry
    spool = _Spool(SPOOL_IN_MEMORY)
    total = 0
    stopped: _Stopped | None = None
    try:
        with source.open() as raw:
            counting = _Counting(raw)
            try:
                for chunk in opener(counting):
                    total += len(chunk)
                    if total > limits.max_member_bytes:
                        raise _Stopped("compressed.bomb", f"decompresses to more than {limits.max_member_bytes} bytes")
                    if not ctx.budget.take(len(chunk)):
                        raise _Stopped("compressed.bomb", "exceeds the decompression budget of this file")
                    if total > RATIO_FLOOR and total > limits.max_compression_ratio * max(counting.count, 1):
                        raise _Stopped(
                            "compressed.bomb",
                            f"expands more than {limits.max_compression_ratio}x "
                            f"({counting.count} bytes -> {total}+ bytes)",
                        )
                    spool.write(chunk)
            except _Stopped as exc:
                stopped = exc
            except _TrailingData as exc:
                stopped = _Stopped("compressed.trailing_data", str(exc))
            except EOFError as exc:
                stopped = _Stopped("compressed.truncated", f"compressed stream is truncated: {exc}")
            except (OSError, lzma.LZMAError, zlib.error, ValueError, RuntimeError) as exc:
                stopped = _Stopped("compressed.corrupt", f"compressed stream is corrupt: {exc}")
        entry.metadata["decompressed_size"] = total
        if stopped is not None:
            entry.anomalies.append(Anomaly(stopped.code, source.display, str(stopped), f"{kind}, {total} bytes decompressed"))
            if stopped.code != "compressed.trailing_data":
                entry.error = f"{stopped}; the {total} bytes decompressed before it were scanned"
        if total == 0:
            return entry
        entry.children.append(_read_decompressed(spool, total, source, ctx, kind))
    finally:
        spool.close()
    return entry


class _Spool:
    """The decompressed bytes: a list of chunks up to ``max_size`` (joined once, where a SpooledTemporaryFile's
    BytesIO copied them on every growth and again on read: ~25 ms for the corpus's 17 MB xz bomb), a temporary
    file past it (the chunks so far are moved there)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.chunks: list[bytes] = []
        self.size = 0
        self.file: BinaryIO | None = None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.file is None and self.size > self.max_size:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            for kept in self.chunks:
                self.file.write(kept)
            self.chunks = []
        if self.file is None:
            self.chunks.append(chunk)
        else:
            self.file.write(chunk)

    def close(self) -> None:
        self.chunks = []
        if self.file is not None:
            self.file.close()


def _read_decompressed(spool: _Spool, total: int, source: Source, ctx: ReadContext, kind: str) -> FileEntry:
    display = f"{source.display}!{_inner_name(source.display, kind)}"
    if spool.file is None:
        data = b"".join(spool.chunks)
        spool.chunks = []  # one copy of the bytes, not two
        return ctx.read_member(Source.from_bytes(data, display, fs_dir=source.fs_dir))
    # Too big for memory: give the member a real temporary file that each open() reopens independently.
    fd, path = tempfile.mkstemp(prefix="weightwarden-", suffix=".decompressed")
    try:
        with os.fdopen(fd, "wb") as out:
            spool.file.seek(0)
            while True:
                chunk = spool.file.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
        member = Source(display=display, size=total, opener=lambda: open(path, "rb"), fs_dir=source.fs_dir)  # noqa: SIM115
        return ctx.read_member(member)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
