"""NumPy ``.npy`` files and ``.npz`` archives of them.

Headers are parsed by numpy's own literal parser (:mod:`numpy.lib.format`); ``np.load`` is never called.
Object arrays are refused with :class:`~weightwarden.lineage._containers._stored.CheckpointRefused`: their
data is a pickle. Also refused: structured or non-numeric dtypes, ``.npz`` members that are not ``.npy`` or
are compressed (compressed bytes cannot be mapped), and array data running past the end of the file.
Fortran-ordered arrays are described with their strides, big-endian ones with their byte order.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.lineage._containers._stored import (
    _ZIP_ERRORS,
    CheckpointRefused,
    _Layout,
    _Stored,
    member_data_offset,
)
from weightwarden.lineage.model import LineageError

_NUMPY_KINDS = {("f", 2): "F16", ("f", 4): "F32", ("f", 8): "F64", ("i", 1): "I8", ("i", 2): "I16",
                ("i", 4): "I32", ("i", 8): "I64", ("u", 1): "U8", ("u", 2): "U16", ("u", 4): "U32",
                ("u", 8): "U64", ("b", 1): "BOOL", ("c", 8): "C64", ("c", 16): "C128"}


def _npy_header(f: Any, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """An .npy header, parsed by numpy's own format module (a literal parser; nothing is unpickled)."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(f, max_header_size=64 * 1024)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(f, max_header_size=64 * 1024)
        else:
            raise LineageError(f"{where}: .npy format version {version} not supported")
    except LineageError:
        raise
    except Exception as exc:  # noqa: BLE001 - numpy's literal parser raises many types (TokenError ...) on junk
        raise LineageError(f"{where}: bad .npy header: {exc.__class__.__name__}: {exc}") from None
    if dtype.hasobject:
        raise CheckpointRefused(f"{where}: refused: the array holds Python objects, stored as a pickle")
    return tuple(int(d) for d in shape), bool(fortran), dtype


def _npy_stored(name: str, p: Path, shape: tuple[int, ...], fortran: bool, dtype: np.dtype, start: int,
                limit: int, where: str) -> _Stored:
    etype = _NUMPY_KINDS.get((dtype.kind, dtype.itemsize)) if dtype.fields is None else None
    if etype is None:
        raise LineageError(f"{where}: array dtype {dtype.str} is not a plain numeric type")
    nbytes = math.prod(shape) * dtype.itemsize
    if start + nbytes > limit:
        raise LineageError(f"{where}: array data ({nbytes} bytes) runs past the end of the file")
    strides = None
    if fortran and len(shape) > 1:
        acc, col = 1, []
        for d in shape:
            col.append(acc)
            acc *= d
        strides = tuple(col)
    layout = _Layout(strides=strides, big_endian=dtype.byteorder == ">")
    return _Stored(name, str(p), etype, shape, start, nbytes, layout)


def _read_numpy(p: Path) -> list[_Stored]:
    import zipfile

    if not zipfile.is_zipfile(p):
        with open(p, "rb") as f:
            shape, fortran, dtype = _npy_header(f, str(p))
            return [_npy_stored(p.stem, p, shape, fortran, dtype, f.tell(), os.fstat(f.fileno()).st_size, str(p))]
    out = []
    try:
        with zipfile.ZipFile(p) as zf, open(p, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            for info in zf.infolist():
                where = f"{p}!{info.filename}"
                if not info.filename.endswith(".npy"):
                    raise LineageError(f"{where}: not an .npy member")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise LineageError(f"{where}: compressed .npz member; arrays cannot be mapped")
                start = member_data_offset(raw, info)
                if start is None:
                    raise LineageError(f"{where}: bad local header")
                raw.seek(start)
                shape, fortran, dtype = _npy_header(raw, where)
                end = min(size, start + info.file_size)
                out.append(_npy_stored(info.filename[:-4], p, shape, fortran, dtype, raw.tell(), end, where))
    except (zipfile.BadZipFile, *_ZIP_ERRORS) as exc:
        raise LineageError(f"{p}: corrupt .npz archive: {exc}") from None
    return out
