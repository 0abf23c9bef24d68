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

Where the code is: this module holds the public API (:func:`open_tensors`, :class:`TensorSet`,
:func:`container_of`, :func:`stored_tensors`, :class:`CheckpointRefused`, :data:`ELEMENT_TYPES`), the choice
of container for a file or folder and the decoding of tensor bytes. Reading each container's tensor table
is done by one private module per container in :mod:`weightwarden.lineage._containers`, each returning
stored records that this module names canonically (:mod:`weightwarden.lineage.naming`) and maps.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.artifact.paths import link_boundary
from weightwarden.lineage import naming
from weightwarden.lineage._containers._stored import (
    _ZIP_ERRORS,
    ELEMENT_TYPES,
    MAX_VOCAB,
    CheckpointRefused,
    _Layout,
    _Stored,
)
from weightwarden.lineage._containers.gguf import PERMUTED_ARCHITECTURES, _read_gguf
from weightwarden.lineage._containers.hf_folder import (
    MAX_JSON_BYTES,
    MAX_README_BYTES,
    MAX_TOKENIZER_BYTES,
    _read_json,
    _with_hf_info,
)
from weightwarden.lineage._containers.numpy_files import _read_numpy
from weightwarden.lineage._containers.onnx import _read_onnx
from weightwarden.lineage._containers.pytorch import LEGACY_MAGIC, STATE_DICT_WRAPPERS, read_checkpoint
from weightwarden.lineage._containers.safetensors import _read_safetensors
from weightwarden.lineage.model import LineageError, ModelInfo, TensorRef, UnsupportedTensor

__all__ = [
    "ELEMENT_TYPES",
    "LEGACY_MAGIC",
    "MAX_JSON_BYTES",
    "MAX_README_BYTES",
    "MAX_TOKENIZER_BYTES",
    "MAX_VOCAB",
    "PERMUTED_ARCHITECTURES",
    "STATE_DICT_WRAPPERS",
    "CheckpointRefused",
    "TensorSet",
    "container_of",
    "open_tensors",
    "read_checkpoint",
    "stored_tensors",
]

# Element types that ml_dtypes (installed with onnx) can decode; without it they are unsupported.
_ML_DTYPES = {"BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}
# GGUF plain (non-block) types that map to an element type.
_GGUF_PLAIN = {"F32": "F32", "F16": "F16", "BF16": "BF16", "F64": "F64", "I8": "I8", "I16": "I16", "I32": "I32",
               "I64": "I64"}


# --- opening ---------------------------------------------------------------------------------------------
def open_tensors(path: str | os.PathLike[str], *, allow_symlinks: bool = False) -> TensorSet:
    """Open a model file or folder for tensor access. Raises :class:`LineageError` with file and reason.

    Symbolic links follow the one path policy of :mod:`weightwarden.artifact.paths`: a hub-cache snapshot
    (links into its ``blobs``) and links that stay inside the folder are read through; a link that leaves
    the folder (or its cache repository) is refused unless ``allow_symlinks``.
    """
    p = Path(path)
    try:
        p.stat()
    except OSError as exc:
        raise LineageError(f"{p}: cannot open: {exc.strerror or exc}") from None
    if p.is_dir():
        return _open_folder(p, _Links(link_boundary(p), allow_symlinks))
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


# --- a folder: which files hold the model ------------------------------------------------------------
_PRIORITY = ("safetensors", "gguf", "pytorch", "onnx", "numpy")
# Files that transformers' Trainer writes next to the weights: training state, not the model's weights.
_TRAINER_FILES = re.compile(r"^(training_args\.bin|optimizer\.pt|scheduler\.pt|scaler\.pt|rng_state(_\d+)?\.pth)$")
_SKIP_SUFFIXES = (".json", ".txt", ".md", ".py", ".jinja", ".model", ".tiktoken", ".yaml", ".yml", ".gitattributes")


class _Links:
    """The link policy applied to the files of one folder that are read (weights and sidecars)."""

    def __init__(self, boundary: str, allow: bool) -> None:
        self.boundary, self.allow = boundary, allow

    def check(self, p: Path) -> None:
        if not p.is_symlink():
            return
        from weightwarden.artifact.paths import resolve_entry
        from weightwarden.core.errors import InputError

        try:
            resolve_entry(p, str(p), self.boundary, allow_symlinks=self.allow)
        except InputError as exc:
            raise LineageError(exc.reason) from None


# Files next to the weights that are read for metadata (hf_folder) or to find the shards.
_SIDECARS = ("model.safetensors.index.json", "config.json", "adapter_config.json", "README.md", "tokenizer.json",
             "vocab.txt")


def _open_folder(folder: Path, links: _Links) -> TensorSet:
    for name in _SIDECARS:
        links.check(folder / name)
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        weight_map, files = _files_from_index(folder, index_path)
        for shard in files:
            links.check(shard)
        stored, info = _read_files("safetensors", files, folder)
        _check_index(index_path, weight_map, stored)
    else:
        by_container: dict[str, list[Path]] = {}
        try:
            entries = sorted(folder.iterdir())
        except OSError as exc:
            raise LineageError(f"{folder}: cannot list folder: {exc.strerror or exc}") from None
        for p in entries:
            if p.name.startswith(".") or p.name.lower().endswith(_SKIP_SUFFIXES) or _TRAINER_FILES.match(p.name):
                continue
            if p.is_dir():
                continue
            links.check(p)
            if not p.is_file():
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


def _files_from_index(folder: Path, index_path: Path) -> tuple[dict[str, str], list[Path]]:
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
    return weight_map, files


def _check_index(index_path: Path, weight_map: dict[str, str], stored: list[_Stored]) -> None:
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


# --- reading and naming ----------------------------------------------------------------------------------
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


# --- the tensors of an open model --------------------------------------------------------------------------
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
