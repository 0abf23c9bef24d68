"""PyTorch checkpoints (``torch.save`` zip archives and the legacy pre-1.6 format), rebuilt symbolically.

The pickle program is run by :mod:`weightwarden.picklevm.tensors`, which knows only the globals that rebuild
tensors and their storages and returns descriptions of them; ``torch.load`` and :mod:`pickle` are never
called, so a checkpoint cannot run code. A program that needs anything more is refused with
:class:`~weightwarden.lineage._containers._stored.CheckpointRefused` naming the opcode or global. Each storage
is then located in the file (an uncompressed zip member, or its place in the legacy file's storage section)
so that tensor bytes can be mapped: compressed members, storages that are missing or unused, tensors or
storages that run past their storage or the end of the file, and views that repeat their bytes more than
:data:`MAX_VIEW_EXPANSION` times are refused.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from weightwarden.lineage._containers._stored import (
    _ZIP_ERRORS,
    CheckpointRefused,
    _Layout,
    _Stored,
    member_data_offset,
)
from weightwarden.lineage.model import LineageError

# Keys under which training code commonly nests the model's state dict; open_tensors looks inside one of them
# when the top level holds no tensors of its own (convert keeps the full dotted paths instead).
STATE_DICT_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "params")
# A view with zero or overlapping strides (``x.expand(...)``) is read as more bytes than it spans in the file;
# like a compressed member, it may expand at most this many times (views under the floor are always read),
# or a few bytes of file would be hashed, compared and written as terabytes.
MAX_VIEW_EXPANSION = 1000
MAX_VIEW_FLOOR = 16 << 20


def read_checkpoint(p: Path, *, unwrap: bool) -> tuple[list[_Stored], list[str]]:
    """Tensors of a PyTorch checkpoint (zip or legacy), rebuilt symbolically; ``(tensors, skipped leaves)``.

    Names are the dotted paths of the (flattened) saved object. ``unwrap`` looks inside a single
    conventional wrapper key (``state_dict``, ``model`` ...) when the top level holds no tensors.
    Raises :class:`LineageError`; a program that needs more than tensor rebuilding is refused with the
    opcode or global that needs it.
    """
    import zipfile

    from weightwarden.picklevm.tensors import RebuildRefused

    try:
        if zipfile.is_zipfile(p):
            value, locate = _torch_zip(p)
        else:
            value, locate = _torch_legacy(p)
    except RebuildRefused as exc:
        raise CheckpointRefused(f"{p}: refused: {exc}") from None
    except (zipfile.BadZipFile, *_ZIP_ERRORS) as exc:
        raise LineageError(f"{p}: corrupt PyTorch checkpoint: {exc}") from None
    return _specs_to_stored(p, value, locate, unwrap)


def _specs_to_stored(p: Path, value: Any, locate: Any, unwrap: bool) -> tuple[list[_Stored], list[str]]:
    from weightwarden.picklevm.tensors import RebuildRefused, TensorSpec, flatten

    if unwrap and isinstance(value, dict) and not any(isinstance(v, TensorSpec) for v in value.values()):
        inner = [k for k in STATE_DICT_WRAPPERS if isinstance(value.get(k), dict)]
        if len(inner) == 1:
            value = value[inner[0]]
    try:
        specs, skipped = flatten(value)
    except RebuildRefused as exc:
        raise CheckpointRefused(f"{p}: refused: {exc}") from None
    out = []
    for name, spec in specs.items():
        start, size = locate(spec.storage)  # absolute byte offset of the storage, its byte size
        first, end = spec.span()
        if end * spec.itemsize > size:
            raise LineageError(
                f"{p}: tensor {name!r} needs elements [{first}, {end}) of storage {spec.storage.key}, "
                f"which holds only {size // spec.itemsize}"
            )
        if spec.numel * spec.itemsize > max(MAX_VIEW_EXPANSION * (end - first) * spec.itemsize, MAX_VIEW_FLOOR):
            raise LineageError(
                f"{p}: tensor {name!r} is a view that repeats {(end - first) * spec.itemsize} bytes of storage "
                f"{spec.storage.key} as {spec.numel * spec.itemsize} bytes (more than {MAX_VIEW_EXPANSION}x): "
                "refused like a decompression bomb"
            )
        strides = None if spec.contiguous else tuple(spec.stride)
        layout = _Layout(strides=strides, big_endian=getattr(locate, "big_endian", False))
        nbytes = (end - first) * spec.itemsize if strides is not None else spec.numel * spec.itemsize
        out.append(_Stored(name, str(p), spec.dtype, spec.shape, start + first * spec.itemsize, nbytes, layout))
    return out, skipped


class _Locator:
    """Storage key -> (absolute byte offset in the file, byte size); carries the file's byte order."""

    def __init__(self, table: dict[str, tuple[int, int]], big_endian: bool, where: Path) -> None:
        self.table = table
        self.big_endian = big_endian
        self.where = where

    def __call__(self, storage: Any) -> tuple[int, int]:
        if storage.key not in self.table:
            raise LineageError(f"{self.where}: storage {storage.key!r} is referenced but not in the file")
        return self.table[storage.key]


def _torch_zip(p: Path) -> tuple[Any, _Locator]:
    import zipfile

    from weightwarden.picklevm.tensors import rebuild, storage_from_pid

    with zipfile.ZipFile(p) as zf, open(p, "rb") as raw:
        infos = {i.filename: i for i in zf.infolist()}
        pkl = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise LineageError(f"{p}: not a PyTorch zip checkpoint (expected one <name>/data.pkl member)")
        prefix = pkl[0][: -len("data.pkl")]
        order = infos.get(prefix + "byteorder")
        big = False
        if order is not None and order.file_size <= 16:
            big = zf.read(order).strip() == b"big"
        storages: dict[str, Any] = {}

        def persistent(pid: Any) -> Any:
            ref = storage_from_pid(pid)
            storages[ref.key] = ref
            return ref

        with zf.open(infos[pkl[0]]) as f:
            value = rebuild(_Seekless(f), persistent)
        size = os.fstat(raw.fileno()).st_size
        table: dict[str, tuple[int, int]] = {}
        for key in storages:
            info = infos.get(f"{prefix}data/{key}")
            if info is None:
                raise LineageError(f"{p}: storage {key!r} is referenced but has no {prefix}data/{key} member")
            if info.compress_type != zipfile.ZIP_STORED:
                raise LineageError(f"{p}: storage member {info.filename} is compressed; tensors cannot be mapped")
            start = member_data_offset(raw, info)
            if start is None:
                raise LineageError(f"{p}: bad local header for member {info.filename}")
            if start + info.file_size > size:
                raise LineageError(f"{p}: member {info.filename} extends past the end of the file")
            table[key] = (start, info.file_size)
    return value, _Locator(table, big, p)


class _Seekless:
    """A zip member stream with ``tell`` (genops asks for positions)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        line = self._f.readline(limit)
        self._pos += len(line)
        return line

    def tell(self) -> int:
        return self._pos


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _torch_legacy(p: Path) -> tuple[Any, _Locator]:
    from weightwarden.picklevm.tensors import RebuildRefused, rebuild, storage_from_pid

    storages: dict[str, Any] = {}

    def persistent(pid: Any) -> Any:
        ref = storage_from_pid(pid)
        storages[ref.key] = ref
        return ref

    def no_persistent(pid: Any) -> Any:
        raise RebuildRefused("persistent id outside the main program")

    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        magic = rebuild(f, no_persistent)
        if magic != LEGACY_MAGIC:
            raise LineageError(f"{p}: not a legacy PyTorch checkpoint (bad magic number)")
        rebuild(f, no_persistent)  # protocol version
        sys_info = rebuild(f, no_persistent)
        value = rebuild(f, persistent)
        keys = rebuild(f, no_persistent)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise LineageError(f"{p}: storage key list is not a list of names")
        little = not (isinstance(sys_info, dict) and sys_info.get("little_endian") is False)
        pos = f.tell()
        table: dict[str, tuple[int, int]] = {}
        for key in keys:
            f.seek(pos)
            head = f.read(8)
            if len(head) != 8:
                raise LineageError(f"{p}: storage {key!r} starts past the end of the file")
            (numel,) = struct.unpack("<q" if little else ">q", head)
            ref = storages.get(key)
            if ref is None:
                raise LineageError(f"{p}: storage {key!r} in the key list is not used by any tensor")
            nbytes = numel * ref.itemsize
            if numel < 0 or pos + 8 + nbytes > size:
                raise LineageError(f"{p}: storage {key!r} ({numel} elements) runs past the end of the file")
            table[key] = (pos + 8, nbytes)
            pos += 8 + nbytes
    return value, _Locator(table, not little, p)
