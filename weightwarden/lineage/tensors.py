"""Tensor access for lineage work: every tensor of a model, by canonical name, one at a time from mmap.

Usage::

    with open_tensors("model-folder-or-file") as ts:
        for ref in ts.refs:                      # sorted by canonical name
            w = ts.load(ref)                     # float32, dequantised, HF orientation
            for chunk in ts.canonical_chunks(ref):   # stored bytes in canonical order, for digests
                ...

Containers: safetensors (a file, or a folder of shards with or without ``model.safetensors.index.json``),
GGUF (dequantised with ``gguf.quants``; llama.cpp's Q/K row permutation undone), PyTorch checkpoints (zip
and legacy; tensors rebuilt symbolically by :mod:`weightwarden.picklevm.tensors`, never ``torch.load``),
NumPy ``.npy``/``.npz`` (no object arrays) and ONNX initializers (``raw_data``, external data inside the
folder only). Headers are parsed by the bounded readers of :mod:`weightwarden.artifact.readers`; tensor bytes
are only ever mapped, never read whole into memory except the one tensor :meth:`TensorSet.load` returns.

A folder holds one model. Hugging Face repositories ship the same weights several times (``model.safetensors``
and ``pytorch_model.bin``, an ``onnx/`` export ...), so only the top-level files of the folder are read and,
of the containers present there, only the most direct one is used, in this order: safetensors, GGUF, PyTorch,
ONNX, NumPy. With ``model.safetensors.index.json`` exactly the shards it lists are read, and every tensor
must be in the shard the index names. Trainer state saved next to the weights (``training_args.bin``,
``optimizer.pt``, ``scheduler.pt``, ``rng_state*.pth``) is not the model and is not read. Every failure is a
:class:`LineageError` naming the file and reason.
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.lineage import naming
from weightwarden.lineage.model import LineageError, ModelInfo, TensorRef, UnsupportedTensor

MAX_JSON_BYTES = 16 * 1024 * 1024  # config.json, index, adapter config
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024  # tokenizer.json of a 256k vocabulary is ~35 MB
MAX_README_BYTES = 1024 * 1024
MAX_VOCAB = 4_000_000

# Stored element type name -> (numpy dtype string or None, bytes per element). The names are safetensors'.
ELEMENT_TYPES: dict[str, tuple[str | None, int]] = {
    "BOOL": ("?", 1),
    "U8": ("u1", 1),
    "I8": ("i1", 1),
    "U16": ("u2", 2),
    "I16": ("i2", 2),
    "F16": ("f2", 2),
    "BF16": (None, 2),
    "U32": ("u4", 4),
    "I32": ("i4", 4),
    "F32": ("f4", 4),
    "U64": ("u8", 8),
    "I64": ("i8", 8),
    "F64": ("f8", 8),
    "C64": ("c8", 8),
    "C128": ("c16", 16),
    "F8_E4M3": (None, 1),
    "F8_E5M2": (None, 1),
}
# Element types that ml_dtypes (installed with onnx) can decode; without it they are unsupported.
_ML_DTYPES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
# GGUF plain (non-block) types that map to an element type.
_GGUF_PLAIN = {"F32": "F32", "F16": "F16", "BF16": "BF16", "F64": "F64", "I8": "I8", "I16": "I16", "I32": "I32",
               "I64": "I64"}
# What Python's zipfile raises on damaged or exotic archives (besides BadZipFile).
_ZIP_ERRORS = (OSError, ValueError, NotImplementedError, RuntimeError, EOFError, struct.error, zlib.error)
# Architectures whose GGUF converter permutes q/k rows for its rotary layout (llama.cpp LlamaModel.permute).
PERMUTED_ARCHITECTURES = frozenset({"llama", "mistral"})

# safetensors / GGUF reader anomalies that make the file unreadable for tensor access (others are tolerated).
_FATAL_ANOMALIES = frozenset({
    "safetensors.too_small", "safetensors.header_too_large", "safetensors.bad_utf8", "safetensors.bad_json",
    "safetensors.duplicate_key", "safetensors.bad_entry", "safetensors.bad_dtype", "safetensors.bad_shape",
    "safetensors.bad_offsets", "safetensors.size_mismatch", "safetensors.out_of_bounds",
    "safetensors.offset_overlap", "safetensors.bad_metadata",
    "gguf.truncated", "gguf.header_too_large", "gguf.bad_version", "gguf.bad_value_type", "gguf.bad_dims",
    "gguf.nesting_too_deep", "gguf.duplicate_tensor", "gguf.bad_type", "gguf.size_mismatch", "gguf.out_of_bounds",
    "gguf.offset_overlap", "gguf.bad_alignment",
})


class CheckpointRefused(LineageError):
    """A pickle-based checkpoint needs more than tensor rebuilding (the message names the opcode/global)."""


@dataclass(frozen=True)
class _Layout:
    """How a tensor's bytes sit in its file, beyond TensorRef: what load/canonical_chunks need."""

    ggml_type: str | None = None  # GGUF type name (F32, Q4_1 ...); None for element-typed containers
    strides: tuple[int, ...] | None = None  # element strides; None = C-contiguous
    big_endian: bool = False
    unpermute_heads: int = 0  # >0: rows were permuted by llama.cpp with this many heads


@dataclass
class _Stored:
    """One tensor as a container reader found it (before canonical naming)."""

    name: str
    file: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    layout: _Layout = field(default_factory=_Layout)


class TensorSet:
    """The tensors of one model, by canonical name; holds the files' memory maps until :meth:`close`.

    Built by :func:`open_tensors` (``convert`` builds one over stored names with :func:`stored_tensors`).
    Maps are opened lazily, once per file, and may be read from several threads.
    """

    def __init__(self, info: ModelInfo, stored: list[_Stored], canonical: dict[int, str]) -> None:
        refs: list[TensorRef] = []
        self._layouts: dict[str, _Layout] = {}
        for i, s in enumerate(stored):
            ref = TensorRef(
                name=s.name, canonical=canonical[i], file=s.file, dtype=s.dtype, shape=s.shape, offset=s.offset,
                nbytes=s.nbytes, permuted=s.layout.unpermute_heads > 0,
            )
            refs.append(ref)
            self._layouts[ref.canonical] = s.layout
        refs.sort(key=lambda r: r.canonical)
        self.info = info
        self.refs: tuple[TensorRef, ...] = tuple(refs)
        self._by_canonical = {r.canonical: r for r in refs}
        self._maps: dict[str, mmap.mmap | None] = {}
        self._lock = threading.Lock()  # digests read tensors from a thread pool; maps are opened once

    # --- context manager ---------------------------------------------------------------------------------
    def __enter__(self) -> TensorSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the memory maps (a map still referenced by a caller's view is released when that goes)."""
        for m in self._maps.values():
            if m is not None:
                # A caller still holding a view keeps the map alive; it goes with the last reference.
                with contextlib.suppress(BufferError):
                    m.close()
        self._maps.clear()

    def __len__(self) -> int:
        return len(self.refs)

    def __iter__(self) -> Iterator[TensorRef]:
        return iter(self.refs)

    def get(self, canonical: str) -> TensorRef | None:
        return self._by_canonical.get(canonical)

    # --- data ----------------------------------------------------------------------------------------------
    def _bytes(self, ref: TensorRef) -> memoryview:
        if ref.file not in self._maps:
            with self._lock:
                if ref.file not in self._maps:
                    try:
                        with open(ref.file, "rb") as f:
                            size = os.fstat(f.fileno()).st_size
                            self._maps[ref.file] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
                    except (OSError, ValueError) as exc:
                        raise LineageError(f"{ref.file}: cannot map file: {exc}") from None
        m = self._maps[ref.file]
        size = len(m) if m is not None else 0
        if ref.offset < 0 or ref.offset + ref.nbytes > size:
            raise LineageError(
                f"{ref.file}: tensor {ref.name!r} bytes [{ref.offset}, {ref.offset + ref.nbytes}) lie beyond the "
                f"end of the file ({size} bytes; changed since it was opened?)"
            )
        if m is None:
            return memoryview(b"")
        return memoryview(m)[ref.offset : ref.offset + ref.nbytes]

    def _layout(self, ref: TensorRef) -> _Layout:
        layout = self._layouts.get(ref.canonical)
        if layout is None or self._by_canonical.get(ref.canonical) != ref:
            raise LineageError(f"{ref.file}: tensor {ref.name!r} does not belong to this TensorSet")
        return layout

    def load(self, ref: TensorRef, dtype: Any = np.float32) -> np.ndarray:
        """The tensor as a new array: dequantised, un-permuted, in HF orientation, converted to ``dtype``.

        ``dtype=None`` keeps the stored element type (GGUF block types still dequantise to float32; BF16
        and F8 become ml_dtypes types). Raises :class:`UnsupportedTensor` for types that cannot be decoded.
        """
        layout = self._layout(ref)
        if layout.ggml_type is not None:
            arr = self._load_gguf(ref, layout)
        else:
            arr = self._load_elements(ref, layout)
        if dtype is not None and arr.dtype != np.dtype(dtype):
            arr = arr.astype(dtype)
        return arr

    def _load_gguf(self, ref: TensorRef, layout: _Layout) -> np.ndarray:
        assert layout.ggml_type is not None
        if layout.ggml_type in _GGUF_PLAIN:
            arr = self._element_view(ref, _GGUF_PLAIN[layout.ggml_type], layout)
            arr = _decode_elements(arr, _GGUF_PLAIN[layout.ggml_type], ref)
            arr = np.array(arr, copy=True)
        else:
            if layout.big_endian:
                raise UnsupportedTensor(
                    f"unsupported quant type {layout.ggml_type} (big-endian) in tensor {ref.name} of {ref.file}"
                )
            from gguf import quants
            from gguf.constants import GGMLQuantizationType

            raw = np.frombuffer(self._bytes(ref), dtype=np.uint8)
            rows = ref.shape[0] if len(ref.shape) > 1 else 1
            raw = raw.reshape(rows, -1) if ref.nbytes else raw
            try:
                arr = quants.dequantize(raw, GGMLQuantizationType[layout.ggml_type])
            except (NotImplementedError, KeyError):
                raise UnsupportedTensor(
                    f"unsupported quant type {layout.ggml_type} in tensor {ref.name} of {ref.file}"
                ) from None
            except (ValueError, AssertionError) as exc:
                raise LineageError(f"{ref.file}: cannot dequantise tensor {ref.name}: {exc}") from None
            arr = np.asarray(arr, dtype=np.float32).reshape(ref.shape)
        if layout.unpermute_heads:
            arr = arr[_row_order(ref.shape[0], layout.unpermute_heads)]
        return arr

    def _element_view(self, ref: TensorRef, etype: str, layout: _Layout) -> np.ndarray:
        """A read-only numpy view of an element-typed tensor over the map (raw integer type for BF16/F8)."""
        np_name, size = ELEMENT_TYPES[etype]
        if np_name is None or np_name == "?":
            np_name = {1: "u1", 2: "u2"}[size]
        dt = np.dtype(np_name).newbyteorder(">" if layout.big_endian else "<")
        buf = self._bytes(ref)
        if layout.strides is None:
            return np.frombuffer(buf, dtype=dt).reshape(ref.shape)
        return np.ndarray(ref.shape, dtype=dt, buffer=buf, strides=tuple(s * size for s in layout.strides))

    def _load_elements(self, ref: TensorRef, layout: _Layout) -> np.ndarray:
        if ref.dtype not in ELEMENT_TYPES:
            raise UnsupportedTensor(f"unsupported element type {ref.dtype} in tensor {ref.name} of {ref.file}")
        view = self._element_view(ref, ref.dtype, layout)
        return _decode_elements(np.array(view, copy=True), ref.dtype, ref)

    def canonical_chunks(self, ref: TensorRef, chunk_bytes: int = 1 << 24) -> Iterator[memoryview]:
        """The tensor's stored bytes in canonical order (C order, little-endian, rows un-permuted).

        Where the stored bytes already are in that order the chunks are zero-copy slices of the map;
        permuted GGUF rows (whole quant blocks move with their row), strided PyTorch views and big-endian
        arrays are rearranged a bounded number of rows at a time.
        """
        layout = self._layout(ref)
        chunk_bytes = max(1, chunk_bytes)
        if layout.unpermute_heads:
            yield from self._permuted_chunks(ref, layout, chunk_bytes)
            return
        if layout.strides is None and not layout.big_endian:
            data = self._bytes(ref)
            for start in range(0, len(data), chunk_bytes):
                yield data[start : start + chunk_bytes]
            return
        yield from self._rearranged_chunks(ref, layout, chunk_bytes)

    def _permuted_chunks(self, ref: TensorRef, layout: _Layout, chunk_bytes: int) -> Iterator[memoryview]:
        rows = ref.shape[0]
        unit = ref.nbytes // rows if rows else 0
        if layout.big_endian and layout.ggml_type not in _GGUF_PLAIN:
            raise UnsupportedTensor(f"unsupported quant type {layout.ggml_type} (big-endian) in tensor {ref.name}")
        table = np.frombuffer(self._bytes(ref), dtype=np.uint8).reshape(rows, unit)
        order = _row_order(rows, layout.unpermute_heads)
        step = max(1, chunk_bytes // max(unit, 1))
        for start in range(0, rows, step):
            block = table[order[start : start + step]]
            if layout.big_endian:
                block = _swap_to_little(block, _GGUF_PLAIN[layout.ggml_type or "F32"])
            yield memoryview(np.ascontiguousarray(block)).cast("B")

    def _rearranged_chunks(self, ref: TensorRef, layout: _Layout, chunk_bytes: int) -> Iterator[memoryview]:
        etype = _GGUF_PLAIN.get(layout.ggml_type or "", ref.dtype)
        if etype not in ELEMENT_TYPES:
            raise UnsupportedTensor(f"unsupported element type {ref.dtype} in tensor {ref.name} of {ref.file}")
        view = self._element_view(ref, etype, layout)
        if view.ndim == 0:
            yield memoryview(_little(np.ascontiguousarray(view.reshape(1)), etype).tobytes())
            return
        row_bytes = max(1, view.itemsize * (math.prod(view.shape[1:]) if view.ndim > 1 else 1))
        step = max(1, chunk_bytes // row_bytes)
        for start in range(0, view.shape[0], step):
            part = _little(np.ascontiguousarray(view[start : start + step]), etype)
            yield memoryview(part).cast("B")


# --- helpers on arrays -----------------------------------------------------------------------------------
def _row_order(rows: int, heads: int) -> np.ndarray:
    """Index that undoes llama.cpp's q/k permutation: ``hf = gguf[_row_order(...)]``.

    llama.cpp's converter (``LlamaModel.permute`` in convert_hf_to_gguf.py) stores
    ``w.reshape(heads, 2, rows // heads // 2, ...).swapaxes(1, 2)``, i.e. ``gguf = hf[perm]`` with ``perm``
    below; the inverse permutation puts HF's row order back.
    """
    perm = np.arange(rows).reshape(heads, 2, rows // heads // 2).swapaxes(1, 2).reshape(-1)
    return np.argsort(perm)


def _decode_elements(arr: np.ndarray, etype: str, ref: TensorRef) -> np.ndarray:
    """Turn the raw integer view of BF16/F8/BOOL into numbers; other types pass through (native order)."""
    if etype == "BOOL":
        return arr.astype(np.bool_)
    if etype in _ML_DTYPES:
        try:
            import ml_dtypes
        except ImportError:  # pragma: no cover - ml_dtypes comes with onnx
            ml_dtypes = None
        if etype == "BF16" and ml_dtypes is None:
            return (arr.astype(np.uint32) << 16).view(np.float32)
        if ml_dtypes is None:
            raise UnsupportedTensor(f"unsupported element type {etype} in tensor {ref.name} of {ref.file}")
        return arr.astype(arr.dtype.newbyteorder("=")).view(getattr(ml_dtypes, _ML_DTYPES[etype]))
    if arr.dtype.byteorder == ">":
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _little(arr: np.ndarray, etype: str) -> np.ndarray:
    """``arr`` with little-endian bytes (canonical bytes are little-endian whatever the container)."""
    if arr.dtype.byteorder == ">":
        if etype in ("C64", "C128"):  # swap each float half, not the whole complex number
            return arr.astype(arr.dtype.newbyteorder("<"))
        return arr.byteswap().view(arr.dtype.newbyteorder("<"))
    return arr


def _swap_to_little(block: np.ndarray, etype: str) -> np.ndarray:
    size = ELEMENT_TYPES[etype][1]
    ints = np.ascontiguousarray(block).view(np.dtype(f">u{size}"))
    return ints.astype(f"<u{size}").view(np.uint8)


# --- opening ---------------------------------------------------------------------------------------------
def open_tensors(path: str | os.PathLike[str]) -> TensorSet:
    """Open a model file or folder for tensor access. Raises :class:`LineageError` with file and reason."""
    p = Path(path)
    try:
        p.stat()
    except OSError as exc:
        raise LineageError(f"{p}: cannot open: {exc.strerror or exc}") from None
    if p.is_dir():
        return _open_folder(p)
    if not p.is_file():
        raise LineageError(f"{p}: not a regular file or folder")
    container = container_of(p)
    if container is None:
        raise LineageError(f"{p}: not a tensor container weightwarden reads (safetensors, GGUF, PyTorch, NumPy, ONNX)")
    stored, info = _read_files(container, [p], p)
    if container != "gguf":
        info = _with_hf_info(info, p.parent, only_if_sidecar=True)
    return _finish(info, stored)


def container_of(p: Path) -> str | None:
    """``"safetensors"``, ``"gguf"``, ``"pytorch"``, ``"numpy"`` or ``"onnx"`` from the file's content; else None."""
    from weightwarden.artifact.model import Format
    from weightwarden.artifact.sniff import sniff
    from weightwarden.artifact.source import Source

    try:
        fmt = sniff(Source.from_path(str(p), str(p)))
    except OSError as exc:
        raise LineageError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if fmt == Format.SAFETENSORS:
        return "safetensors"
    if fmt == Format.GGUF:
        return "gguf"
    if fmt == Format.PYTORCH_LEGACY:
        return "pytorch"
    if fmt == Format.NUMPY:
        return "numpy"
    if fmt == Format.ZIP:
        return _zip_kind(p)
    if fmt == getattr(Format, "ONNX", None):
        return "onnx"
    return None


def _zip_kind(p: Path) -> str | None:
    """PyTorch checkpoint or .npz: decided by the members (a ``*/data.pkl`` or only ``*.npy`` members)."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, *_ZIP_ERRORS) as exc:
        raise LineageError(f"{p}: corrupt zip archive: {exc}") from None
    if any(n.endswith("data.pkl") and n.count("/") == 1 for n in names):
        return "pytorch"
    if names and all(n.endswith(".npy") for n in names):
        return "numpy"
    return None


_PRIORITY = ("safetensors", "gguf", "pytorch", "onnx", "numpy")
# Files that transformers' Trainer writes next to the weights: training state, not the model's weights.
_TRAINER_FILES = re.compile(r"^(training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state(_\d+)?\.pth)$")
_SKIP_SUFFIXES = (".json", ".txt", ".md", ".py", ".jinja", ".model", ".tiktoken", ".yaml", ".yml", ".gitattributes")


def _open_folder(folder: Path) -> TensorSet:
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        files = _files_from_index(folder, index_path)
        stored, info = _read_files("safetensors", files, folder)
        _check_index(index_path, stored)
    else:
        by_container: dict[str, list[Path]] = {}
        try:
            entries = sorted(folder.iterdir())
        except OSError as exc:
            raise LineageError(f"{folder}: cannot list folder: {exc.strerror or exc}") from None
        for p in entries:
            if (p.name.startswith(".") or p.name.lower().endswith(_SKIP_SUFFIXES) or _TRAINER_FILES.match(p.name)
                    or not p.is_file()):
                continue
            kind = container_of(p)
            if kind is not None:
                by_container.setdefault(kind, []).append(p)
        chosen = next((c for c in _PRIORITY if c in by_container), None)
        if chosen is None:
            raise LineageError(f"{folder}: no tensor files (safetensors, GGUF, PyTorch, NumPy, ONNX) at its top level")
        stored, info = _read_files(chosen, by_container[chosen], folder)
    if info.container != "gguf":
        info = _with_hf_info(info, folder, only_if_sidecar=False)
    return _finish(info, stored)


def _files_from_index(folder: Path, index_path: Path) -> list[Path]:
    index = _read_json(index_path, MAX_JSON_BYTES)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise LineageError(f"{index_path}: no weight_map of tensor name -> shard file")
    files = []
    for shard in sorted(set(weight_map.values())):
        p = folder / shard
        if "/" in shard or "\\" in shard or shard in ("", ".", "..") or not p.is_file():
            raise LineageError(f"{index_path}: shard {shard!r} is missing or not a file inside the folder")
        files.append(p)
    return files


def _check_index(index_path: Path, stored: list[_Stored]) -> None:
    weight_map = _read_json(index_path, MAX_JSON_BYTES)["weight_map"]
    seen = {}
    for s in stored:
        want = weight_map.get(s.name)
        if want is None:
            raise LineageError(f"{index_path}: tensor {s.name!r} in {Path(s.file).name} is not in the index")
        if Path(s.file).name != want:
            raise LineageError(f"{index_path}: index puts {s.name!r} in {want}, but it is in {Path(s.file).name}")
        seen[s.name] = s.file
    missing = sorted(set(weight_map) - set(seen))
    if missing:
        raise LineageError(f"{index_path}: {len(missing)} indexed tensor(s) missing from the shards, e.g. {missing[0]!r}")


def _read_files(container: str, files: list[Path], where: Path) -> tuple[list[_Stored], ModelInfo]:
    stored: list[_Stored] = []
    info = ModelInfo(path=str(where), container=container)
    if container == "gguf" and len(files) > 1:
        # Several GGUF files in one folder are several quantisations (or split parts, not supported).
        raise LineageError(f"{where}: {len(files)} GGUF files in one folder; open one of them")
    for p in files:
        if container == "safetensors":
            stored.extend(_read_safetensors(p))
        elif container == "gguf":
            more, info = _read_gguf(p, where)
            stored.extend(more)
        elif container == "pytorch":
            stored.extend(read_checkpoint(p, unwrap=True)[0])
        elif container == "numpy":
            stored.extend(_read_numpy(p))
        elif container == "onnx":
            stored.extend(_read_onnx(p))
    return stored, info


def _finish(info: ModelInfo, stored: list[_Stored]) -> TensorSet:
    gguf = info.container == "gguf"
    mapping = naming.canonical_names([s.name for s in stored], info.architecture, gguf=gguf)
    canonical: dict[int, str] = {}
    owner: dict[str, _Stored] = {}
    for i, s in enumerate(stored):
        c = mapping[s.name]
        if c in owner:
            other = owner[c]
            raise LineageError(
                f"{s.file}: tensor {s.name!r} and {other.name!r} in {other.file} have the same canonical name {c!r}"
            )
        owner[c] = s
        canonical[i] = c
    return TensorSet(info, stored, canonical)


# --- safetensors ---------------------------------------------------------------------------------------------
def _header_entry(reader: Any, p: Path) -> Any:
    from weightwarden.artifact.context import ReadContext
    from weightwarden.artifact.source import Source

    try:
        entry = reader.read(Source.from_path(str(p), str(p)), ReadContext())
    except OSError as exc:
        raise LineageError(f"{p}: cannot read: {exc.strerror or exc}") from None
    fatal = [a for a in entry.anomalies if a.code in _FATAL_ANOMALIES]
    if fatal:
        a = fatal[0]
        more = f" (and {len(fatal) - 1} more problem(s))" if len(fatal) > 1 else ""
        detail = f": {a.evidence}" if a.evidence else ""
        raise LineageError(f"{p}: {a.message} at {a.location}{detail} [{a.code}]{more}")
    if entry.error:
        raise LineageError(f"{p}: {entry.error}")
    return entry


def _read_safetensors(p: Path) -> list[_Stored]:
    from weightwarden.artifact.readers import safetensors as reader

    entry = _header_entry(reader, p)
    out = []
    for t in entry.tensors:
        out.append(_Stored(t.name, str(p), t.dtype, tuple(t.shape), t.start, t.end - t.start))
    return out


# --- GGUF ------------------------------------------------------------------------------------------------------
def _read_gguf(p: Path, where: Path) -> tuple[list[_Stored], ModelInfo]:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    from weightwarden.artifact.readers import gguf_file as reader

    entry = _header_entry(reader, p)
    kv: dict[str, Any] = entry.metadata.get("kv", {})
    big = entry.metadata.get("byte_order") == "big"
    arch = kv.get("general.architecture") if isinstance(kv.get("general.architecture"), str) else None
    n_head = _int_or_none(kv.get(f"{arch}.attention.head_count"))
    n_head_kv = _int_or_none(kv.get(f"{arch}.attention.head_count_kv")) or n_head
    permute = arch in PERMUTED_ARCHITECTURES
    out = []
    for t in entry.tensors:
        shape = tuple(reversed(t.shape))
        block = GGML_QUANT_SIZES[GGMLQuantizationType[t.dtype]][0]
        heads = 0
        if permute and re.match(r"^blk\.\d+\.attn_[qk]\.(weight|bias)$", t.name):
            heads = n_head if ".attn_q." in t.name else n_head_kv
            if not heads or not shape or shape[0] % (2 * heads):
                raise LineageError(
                    f"{p}: cannot undo llama.cpp's Q/K permutation of {t.name}: {shape[0] if shape else 0} rows "
                    f"for {heads} heads (attention.head_count{'_kv' if '.attn_k.' in t.name else ''})"
                )
            if len(shape) == 1 and block != 1:
                raise LineageError(f"{p}: permuted 1-D tensor {t.name} of block type {t.dtype} cannot be reordered")
        layout = _Layout(ggml_type=t.dtype, big_endian=big, unpermute_heads=heads)
        out.append(_Stored(t.name, str(p), t.dtype, shape, t.start, t.end - t.start, layout))
    base = _gguf_base_model(kv)
    config = {k: v for k, v in kv.items() if not k.startswith("tokenizer.") and not isinstance(v, dict)}
    info = ModelInfo(
        path=str(where), container="gguf", architecture=arch, vocab=_gguf_tokens(p, entry.metadata),
        declared_base_model=base, config=config, n_head=n_head, n_head_kv=n_head_kv,
    )
    return out, info


def _int_or_none(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def _gguf_base_model(kv: dict[str, Any]) -> str | None:
    for key in ("general.base_model.0.repo_url", "general.base_model.0.name", "general.base_model.0.organization"):
        v = kv.get(key)
        if isinstance(v, str) and v:
            if key.endswith("name") and isinstance(kv.get("general.base_model.0.organization"), str):
                return f"{kv['general.base_model.0.organization']}/{v}"
            return v
    return None


def _gguf_tokens(p: Path, meta: dict[str, Any]) -> tuple[str, ...] | None:
    """``tokenizer.ggml.tokens`` from the metadata (the bounded header reader summarises long arrays).

    The header was already walked and bounded by the artifact reader, so the walk here only needs to find
    the key again; every length is still checked against the file before it is used.
    """
    kv = meta.get("kv", {})
    if "tokenizer.ggml.tokens" not in kv:
        return None
    version = meta.get("version", 3)
    little = meta.get("byte_order", "little") != "big"
    e = "<" if little else ">"
    count_code = "I" if version == 1 else "Q"
    count_size = struct.calcsize(count_code)
    from weightwarden.artifact.readers.gguf_file import ARRAY, SCALARS, STRING

    try:
        with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            end = min(len(m), int(meta.get("data_offset", len(m))))
            pos = 8
            n_kv_pos = 8 + count_size

            def count(at: int) -> tuple[int, int]:
                if at + count_size > end:
                    raise ValueError("truncated")
                return struct.unpack_from(e + count_code, m, at)[0], at + count_size

            def string(at: int) -> tuple[bytes, int]:
                n, at = count(at)
                if at + n > end:
                    raise ValueError("string past the header")
                return m[at : at + n], at + n

            def skip_value(vtype: int, at: int, depth: int = 0) -> int:
                if vtype in SCALARS:
                    return at + struct.calcsize(SCALARS[vtype][1])
                if vtype == STRING:
                    return string(at)[1]
                if vtype == ARRAY and depth < 8:
                    (itype,) = struct.unpack_from(e + "I", m, at)
                    n, at = count(at + 4)
                    if itype in SCALARS:
                        return at + n * struct.calcsize(SCALARS[itype][1])
                    for _ in range(n):
                        at = skip_value(itype, at, depth + 1)
                        if at > end:
                            raise ValueError("array past the header")
                    return at
                raise ValueError(f"bad value type {vtype}")

            n_kv, pos = count(n_kv_pos)
            for _ in range(n_kv):
                key, pos = string(pos)
                (vtype,) = struct.unpack_from(e + "I", m, pos)
                pos += 4
                if key == b"tokenizer.ggml.tokens" and vtype == ARRAY:
                    (itype,) = struct.unpack_from(e + "I", m, pos)
                    n, pos = count(pos + 4)
                    if itype != STRING or n > MAX_VOCAB:
                        return None
                    tokens = []
                    for _ in range(n):
                        raw, pos = string(pos)
                        tokens.append(raw.decode("utf-8", errors="replace"))
                    return tuple(tokens)
                pos = skip_value(vtype, pos)
    except (OSError, ValueError, struct.error) as exc:
        raise LineageError(f"{p}: cannot read tokenizer.ggml.tokens: {exc}") from None
    return None


# --- Hugging Face folder metadata ------------------------------------------------------------------------------
def _read_json(p: Path, limit: int) -> Any:
    try:
        size = p.stat().st_size
        if size > limit:
            raise LineageError(f"{p}: {size} bytes, larger than the {limit}-byte bound for JSON files")
        return json.loads(p.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise LineageError(f"{p}: not readable JSON: {exc}") from None


def _with_hf_info(info: ModelInfo, folder: Path, only_if_sidecar: bool) -> ModelInfo:
    """Architecture, vocabulary and declared base model from config.json, tokenizer and README/adapter."""
    config_path = folder / "config.json"
    if only_if_sidecar and not config_path.is_file():
        return info
    config: dict[str, Any] = {}
    if config_path.is_file():
        loaded = _read_json(config_path, MAX_JSON_BYTES)
        config = loaded if isinstance(loaded, dict) else {}
    arch = config.get("model_type") if isinstance(config.get("model_type"), str) else info.architecture
    base = None
    for key in ("base_model", "_name_or_path"):
        if isinstance(config.get(key), str) and config[key]:
            base = config[key]
            break
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        a = _read_json(adapter, MAX_JSON_BYTES)
        if isinstance(a, dict) and isinstance(a.get("base_model_name_or_path"), str):
            base = a["base_model_name_or_path"]
    readme_base = _readme_base_model(folder / "README.md")
    if readme_base:
        base = readme_base
    n_head = _int_or_none(config.get("num_attention_heads"))
    n_head_kv = _int_or_none(config.get("num_key_value_heads")) or n_head
    return replace(
        info, architecture=arch, vocab=_hf_vocab(folder), declared_base_model=base, config=config,
        n_head=n_head, n_head_kv=n_head_kv,
    )


def _readme_base_model(p: Path) -> str | None:
    """``base_model:`` from a model card's YAML front matter (a scalar or the first list item)."""
    if not p.is_file():
        return None
    try:
        with open(p, "rb") as f:
            text = f.read(MAX_README_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    front = text[3:].split("\n---", 1)[0].splitlines()
    for i, line in enumerate(front):
        m = re.match(r"^base_model\s*:\s*(.*)$", line)
        if not m:
            continue
        value = m.group(1).strip().strip("'\"")
        if value:
            return value.lstrip("[").rstrip("]").split(",")[0].strip().strip("'\"") or None
        for nxt in front[i + 1 :]:
            item = re.match(r"^\s*-\s*(.+)$", nxt)
            if item:
                return item.group(1).strip().strip("'\"")
            if nxt.strip():
                break
    return None


def _hf_vocab(folder: Path) -> tuple[str, ...] | None:
    tok = folder / "tokenizer.json"
    if tok.is_file():
        data = _read_json(tok, MAX_TOKENIZER_BYTES)
        model = data.get("model") if isinstance(data, dict) else None
        vocab = model.get("vocab") if isinstance(model, dict) else None
        by_id: dict[int, str] = {}
        if isinstance(vocab, dict):
            by_id = {i: t for t, i in vocab.items() if isinstance(i, int) and 0 <= i < MAX_VOCAB}
        elif isinstance(vocab, list):  # Unigram: [[token, score], ...]
            by_id = {i: item[0] for i, item in enumerate(vocab[:MAX_VOCAB]) if isinstance(item, list) and item}
        added = data.get("added_tokens") if isinstance(data, dict) else None
        for item in added if isinstance(added, list) else ():
            if (isinstance(item, dict) and isinstance(item.get("id"), int) and isinstance(item.get("content"), str)
                    and 0 <= item["id"] < MAX_VOCAB):
                by_id.setdefault(item["id"], item["content"])
        if by_id:
            return tuple(by_id.get(i, "") for i in range(max(by_id) + 1))
    txt = folder / "vocab.txt"
    if txt.is_file():
        try:
            if txt.stat().st_size > MAX_TOKENIZER_BYTES:
                raise LineageError(f"{txt}: larger than the {MAX_TOKENIZER_BYTES}-byte bound")
            return tuple(txt.read_text(encoding="utf-8", errors="replace").splitlines())
        except OSError as exc:
            raise LineageError(f"{txt}: cannot read: {exc.strerror or exc}") from None
    return None


def stored_tensors(p: Path, container: str) -> tuple[list[_Stored], list[str], ModelInfo]:
    """The tensors of one PyTorch or NumPy file under their stored (flattened) names, for ``convert``.

    Returns ``(tensors, skipped non-tensor leaves, info)``; feed them to ``TensorSet(info, tensors,
    {i: t.name ...})`` to read them without canonical renaming.
    """
    info = ModelInfo(path=str(p), container=container)
    if container == "pytorch":
        stored, skipped = read_checkpoint(p, unwrap=False)
        return stored, skipped, info
    if container == "numpy":
        return _read_numpy(p), [], info
    raise LineageError(f"{p}: {container} files hold no pickled tensors to convert")


# --- PyTorch checkpoints --------------------------------------------------------------------------------------
# Keys under which training code commonly nests the model's state dict; open_tensors looks inside one of them
# when the top level holds no tensors of its own (convert keeps the full dotted paths instead).
STATE_DICT_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "params")


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
            raw.seek(info.header_offset)
            head = raw.read(30)
            if len(head) != 30 or head[:4] != b"PK\x03\x04":
                raise LineageError(f"{p}: bad local header for member {info.filename}")
            n, m = struct.unpack("<HH", head[26:30])
            start = info.header_offset + 30 + n + m
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


# --- NumPy -----------------------------------------------------------------------------------------------------
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
                raw.seek(info.header_offset)
                head = raw.read(30)
                if len(head) != 30 or head[:4] != b"PK\x03\x04":
                    raise LineageError(f"{where}: bad local header")
                n, m = struct.unpack("<HH", head[26:30])
                start = info.header_offset + 30 + n + m
                raw.seek(start)
                shape, fortran, dtype = _npy_header(raw, where)
                end = min(size, start + info.file_size)
                out.append(_npy_stored(info.filename[:-4], p, shape, fortran, dtype, raw.tell(), end, where))
    except (zipfile.BadZipFile, *_ZIP_ERRORS) as exc:
        raise LineageError(f"{p}: corrupt .npz archive: {exc}") from None
    return out


# --- ONNX ------------------------------------------------------------------------------------------------------
_ONNX_TYPES = {"float32": "F32", "float16": "F16", "float64": "F64", "int8": "I8", "int16": "I16", "int32": "I32",
               "int64": "I64", "uint8": "U8", "uint16": "U16", "uint32": "U32", "uint64": "U64", "bool": "BOOL",
               "complex64": "C64", "complex128": "C128", "bfloat16": "BF16"}


def _read_onnx(p: Path) -> list[_Stored]:
    """Main-graph initializers: ``raw_data`` in the model file, or external data files inside its folder.

    Initializers whose values sit in typed fields (``float_data`` ...) instead of ``raw_data`` are small
    constants exporters write that way; they are not mapped and are left out.
    """
    from weightwarden.artifact.readers import onnx_file as reader

    entry = _header_entry(reader, p)
    bad = [a for a in entry.anomalies if a.code.startswith("onnx.external_data")]
    if bad:
        raise LineageError(f"{p}: {bad[0].message} ({bad[0].location}) [{bad[0].code}]")
    out = []
    external = []
    for t in entry.tensors:
        if ":" in t.name.split(".")[0] or t.name.startswith(("sparse:", "function:", "training")):
            continue
        etype = _ONNX_TYPES.get(t.dtype)
        if t.start is None:
            external.append(t)
            continue
        if etype is None:
            raise LineageError(f"{p}: initializer {t.name!r} has unsupported type {t.dtype}")
        size = ELEMENT_TYPES[etype][1]
        if t.end - t.start != math.prod(t.shape) * size:
            raise LineageError(f"{p}: initializer {t.name!r}: raw_data size does not match its shape")
        out.append(_Stored(t.name, str(p), etype, tuple(t.shape), t.start, t.end - t.start))
    if external and any(c.kind == "external-ref" for c in entry.code):
        out.extend(_onnx_external(p, {t.name for t in external}))
    return out


def _onnx_external(p: Path, names: set[str]) -> list[_Stored]:
    import onnx

    if p.stat().st_size > 100 * 1024 * 1024:
        raise LineageError(f"{p}: model with external data is too large to parse its structure")
    try:
        model = onnx.ModelProto()
        model.ParseFromString(p.read_bytes())  # protobuf parsing only; external data is mapped, not loaded
    except Exception as exc:  # noqa: BLE001 - protobuf raises many types on corrupt input
        raise LineageError(f"{p}: cannot parse ONNX model: {exc}") from None
    folder = p.parent.resolve()
    out = []
    for t in model.graph.initializer:
        if t.name not in names:
            continue
        info = {e.key: e.value for e in t.external_data}
        if not info:
            continue  # a constant in typed fields, not external (see _read_onnx)
        etype = _ONNX_TYPES.get(onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name)
        target = (p.parent / info.get("location", "")).resolve()
        if etype is None or not info.get("location") or folder not in target.parents or not target.is_file():
            raise LineageError(f"{p}: initializer {t.name!r}: external data {info.get('location')!r} unusable")
        shape = tuple(int(d) for d in t.dims)
        nbytes = math.prod(shape) * ELEMENT_TYPES[etype][1]
        offset = int(info.get("offset", "0") or 0)
        if int(info.get("length", nbytes) or nbytes) != nbytes or offset + nbytes > target.stat().st_size:
            raise LineageError(f"{p}: initializer {t.name!r}: external data range does not match its shape")
        out.append(_Stored(t.name, str(target), etype, shape, offset, nbytes))
    return out
