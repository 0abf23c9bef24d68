"""Reader of NumPy ``.npy`` files (format versions 1.0, 2.0 and 3.0), without ``numpy.load``.

Layout: ``\\x93NUMPY``, major and minor version bytes, the header length (2 bytes in v1, 4 in v2/v3), then a
Python dict literal ``{'descr': ..., 'fortran_order': ..., 'shape': ...}`` (latin-1 in v1/v2, UTF-8 in v3),
then the array bytes. The header is parsed with :func:`ast.literal_eval` only, which evaluates literals and
nothing else. An array of object dtype is stored as a pickle right after the header; ``np.load(...,
allow_pickle=True)`` would run it, so it is walked by the symbolic pickle machine and reported as a PICKLE
code object. Other arrays become one TensorInfo whose byte range is checked against the file size.

``FileEntry.metadata``: ``version``, ``header_bytes``, ``data_offset``, ``descr``, ``fortran_order``,
``shape``, ``object_dtype``.

Anomaly codes:
    numpy.truncated: the file ends inside the header or before the array's last byte.
    numpy.bad_version: unknown format version.
    numpy.header_too_large: header longer than numpy's own 10000-byte default or than the reader's bound.
    numpy.bad_header: the header is not a dict literal with exactly descr, fortran_order and shape.
    numpy.bad_dtype: descr is not a dtype description numpy accepts.
    numpy.object_dtype: the array holds Python objects: loading it unpickles the data that follows.
    numpy.trailing_data: bytes after the array (or after the object array's pickle).
"""

from __future__ import annotations

import ast
import math
import struct
from typing import NamedTuple

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, FileEntry, Format, TensorInfo
from weightwarden.artifact.source import Source

MAGIC = b"\x93NUMPY"
NUMPY_HEADER_LIMIT = 10_000  # numpy.load refuses longer headers unless the caller trusts the file
PARSE_LIMIT = 1024 * 1024  # literal_eval cost grows with the text; real headers are a few hundred bytes


class _PlainDtype(NamedTuple):
    """What the reader uses of a numpy dtype, for the plain numeric ones (no numpy import needed)."""

    str: str
    itemsize: int
    hasobject: bool = False


# Canonical descr strings of plain numeric dtypes and of numpy's object dtype, each equal to
# ``numpy.dtype(descr).str`` (checked against numpy by tests/test_scan_speed.py): importing numpy (~0.1 s)
# for these would cost more than reading the file.
_PLAIN_DTYPES: dict[str, _PlainDtype] = {
    f"{order}{kind}{size}": _PlainDtype(f"{order}{kind}{size}", size)
    for order in "<>"
    for kind, sizes in (("f", (2, 4, 8)), ("i", (2, 4, 8)), ("u", (2, 4, 8)), ("c", (8, 16)))
    for size in sizes
} | {f"|{kind}1": _PlainDtype(f"|{kind}1", 1) for kind in "iub"} | {"|O": _PlainDtype("|O", 8, hasobject=True)}


def _plain_dtype(descr: object) -> _PlainDtype | None:
    """The dtype of ``descr`` when it is a plain one or a record of plain fields (no padding, titles,
    sub-arrays or nesting); None for anything else, which numpy then decides."""
    if isinstance(descr, str):
        return _PLAIN_DTYPES.get(descr)
    if not isinstance(descr, list) or not descr:
        return None
    names: set[str] = set()
    size, has_object = 0, False
    for field in descr:
        if not (isinstance(field, tuple) and len(field) == 2 and isinstance(field[0], str) and field[0]
                and isinstance(field[1], str) and field[0] not in names):
            return None
        sub = _PLAIN_DTYPES.get(field[1])
        if sub is None:
            return None
        names.add(field[0])
        size += sub.itemsize
        has_object = has_object or sub.hasobject
    return _PlainDtype(f"|V{size}", size, has_object)


def read(source: Source, ctx: ReadContext) -> FileEntry:
    entry = FileEntry(source.display, Format.NUMPY, source.size)
    with source.open() as f:
        _read(source, ctx, entry, f)
    return entry


def _anomaly(entry: FileEntry, code: str, message: str, evidence: str = "", location: str | None = None) -> None:
    entry.anomalies.append(Anomaly(code, location or entry.path, message, evidence[:300]))


def _read(source: Source, ctx: ReadContext, entry: FileEntry, f) -> None:  # type: ignore[no-untyped-def]
    head = f.read(12)
    if len(head) < 10 or not head.startswith(MAGIC):
        _anomaly(entry, "numpy.truncated", "file ends inside the .npy preamble")
        entry.error = "truncated .npy preamble"
        return
    major, minor = head[6], head[7]
    entry.metadata["version"] = f"{major}.{minor}"
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3):
        if len(head) < 12:
            _anomaly(entry, "numpy.truncated", "file ends inside the .npy preamble")
            entry.error = "truncated .npy preamble"
            return
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        _anomaly(entry, "numpy.bad_version", f"unknown .npy format version {major}.{minor}")
        entry.error = f"unknown .npy format version {major}.{minor}"
        return
    data_offset = start + hlen
    entry.metadata.update({"header_bytes": hlen, "data_offset": data_offset})
    if hlen > NUMPY_HEADER_LIMIT:
        _anomaly(entry, "numpy.header_too_large", f"header of {hlen} bytes exceeds numpy's default limit of {NUMPY_HEADER_LIMIT}")
    if hlen > min(PARSE_LIMIT, ctx.limits.max_header_bytes):
        entry.error = f"header of {hlen} bytes not parsed (bound {min(PARSE_LIMIT, ctx.limits.max_header_bytes)})"
        return
    if data_offset > source.size:
        _anomaly(entry, "numpy.truncated", "file ends inside the header", f"header ends at {data_offset}, file {source.size}")
        entry.error = "truncated .npy header"
        return
    f.seek(start)
    raw = f.read(hlen)
    try:
        text = raw.decode("utf-8" if major == 3 else "latin-1")
        if major <= 2:
            text = _filter_py2_longs(text)  # np.load retries headers of versions 1.0/2.0 this way
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        _anomaly(entry, "numpy.bad_header", "header is not a Python literal", f"{exc.__class__.__name__}: {raw[:80]!r}")
        entry.error = "header is not a Python literal"
        _probe_pickle(source, ctx, entry, f, data_offset)
        return
    if (
        not isinstance(header, dict)
        or set(header) != {"descr", "fortran_order", "shape"}
        or not isinstance(header["fortran_order"], bool)
        or not isinstance(header["shape"], tuple)
        or not all(isinstance(d, int) for d in header["shape"])
    ):
        _anomaly(entry, "numpy.bad_header", "header must be a dict of descr, fortran_order (bool) and shape (tuple of ints)", repr(header)[:200])
        entry.error = "malformed .npy header"
        _probe_pickle(source, ctx, entry, f, data_offset)
        return
    if any(isinstance(d, bool) or d < 0 for d in header["shape"]):
        # numpy reads the header and, for an object dtype, unpickles the data before the shape is ever used.
        _anomaly(entry, "numpy.bad_header", "shape holds a negative or boolean dimension", repr(header["shape"])[:200])
        entry.error = "malformed .npy shape"
        _probe_pickle(source, ctx, entry, f, data_offset)
        return
    shape: tuple[int, ...] = header["shape"]
    entry.metadata.update({"descr": _short(header["descr"]), "fortran_order": header["fortran_order"], "shape": list(shape)})

    dtype = _plain_dtype(header["descr"])
    if dtype is None:
        import numpy as np  # lazy: only .npy files with other than plain numeric dtypes need it

        try:
            dtype = np.lib.format.descr_to_dtype(header["descr"])
        except (TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
            _anomaly(entry, "numpy.bad_dtype", "descr is not a valid dtype description", f"{exc}: {_short(header['descr'])}")
            entry.error = "invalid dtype in .npy header"
            _probe_pickle(source, ctx, entry, f, data_offset)
            return
    entry.metadata["object_dtype"] = bool(dtype.hasobject)
    if dtype.hasobject:
        _anomaly(entry, "numpy.object_dtype", "array of Python objects: loading it unpickles the data after the header", _short(header["descr"]))
        _scan_pickle(source, ctx, entry, f, data_offset)
        return
    nbytes = math.prod(shape) * dtype.itemsize
    end = data_offset + nbytes
    entry.tensors.append(TensorInfo(name=entry.path.rsplit("!", 1)[-1], dtype=dtype.str, shape=shape, start=data_offset, end=end))
    if end > source.size:
        _anomaly(entry, "numpy.truncated", "file ends before the array's last byte", f"array needs {end} bytes, file has {source.size}")
        entry.error = "truncated array data"
    elif end < source.size:
        _anomaly(entry, "numpy.trailing_data", f"{source.size - end} bytes after the array", f"array ends at {end}")


def _scan_pickle(source: Source, ctx: ReadContext, entry: FileEntry, f, data_offset: int) -> None:  # type: ignore[no-untyped-def]
    from weightwarden.picklevm import analyze  # lazy: the pickle machine is only needed for object arrays

    f.seek(data_offset)
    analysis = analyze(f, limits=ctx.limits, base_offset=0)
    entry.code.append(CodeObject(CodeKind.PICKLE, f"pickle @{data_offset}", analysis=analysis))
    if analysis.error:
        entry.error = f"object array pickle: {analysis.error}"
        return
    end = f.tell()  # analyze leaves the stream just after STOP
    if end < source.size:
        _anomaly(entry, "numpy.trailing_data", f"{source.size - end} bytes after the object array's pickle", f"pickle ends at {end}")


def _filter_py2_longs(text: str) -> str:
    """Drop the ``L`` suffix of Python 2 long literals (``(3L, 4L)``), as numpy's own header reader does for
    format versions 1.0 and 2.0: a header numpy accepts must parse here too."""
    import io
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return text
    out: list[tokenize.TokenInfo] = []
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and tok.string == "L" and i and tokens[i - 1].type == tokenize.NUMBER \
                and tokens[i - 1].end == tok.start:
            continue
        out.append(tok)
    try:
        return tokenize.untokenize((t.type, t.string) for t in out)
    except (ValueError, TypeError):
        return text


def _probe_pickle(source: Source, ctx: ReadContext, entry: FileEntry, f, data_offset: int) -> None:  # type: ignore[no-untyped-def]
    """Fail closed when the header cannot be validated: np.load may still accept it (its parser is not ours)
    and, for an object dtype, unpickle what follows. Whatever follows the header is walked as a pickle; a
    program is judged by the pickle rules, bytes that are no pickle leave only the header finding."""
    if data_offset >= source.size:
        return
    from weightwarden.picklevm import analyze

    f.seek(data_offset)
    analysis = analyze(f, limits=ctx.limits, base_offset=0)
    if analysis.error and not (analysis.globals or analysis.calls):
        return
    entry.code.append(CodeObject(CodeKind.PICKLE, f"pickle @{data_offset} (after an unvalidated header)",
                                 analysis=analysis))


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
