"""Reader for HDF5 files: Keras 2 / tf.keras ``.h5`` models and weights, and plain HDF5.

Opened with ``h5py``, which parses the HDF5 structure and runs nothing. For a Keras file the root
attribute ``model_config`` (JSON) is handed to :func:`keras_config.analyze_config` — Lambda layers, function
references and custom objects become ``KERAS_LAYER`` code objects — and so is ``training_config`` (losses,
metrics and optimizers can name functions). Datasets become :class:`TensorInfo` records (path, dtype,
shape, and the byte range when the data is stored contiguously in this file); no tensor data is read.

Links are never followed: an external link (another file, resolved when a loader opens the path) or a
dataset whose data lives in external files or maps other files (virtual datasets) is an anomaly. A user
block before the HDF5 superblock holds arbitrary bytes another loader may read (a pickle/HDF5 polyglot),
so a non-empty user block is reported and read as a file of its own (child entry ``<file>!userblock``).
The object walk is bounded by ``limits.max_archive_members``; attributes by ``limits.max_text_bytes``.

Anomaly codes:
    keras.bad_config: model_config / training_config is not valid JSON, or not a Keras config object.
    keras.config_too_large: a config attribute exceeds max_text_bytes or the config walk's bounds.
    keras.h5_external_link: an HDF5 external link to another file (not followed).
    keras.h5_external_storage: a dataset whose raw data is stored in external files.
    keras.h5_virtual_dataset: a virtual dataset mapping data from other files.
    keras.h5_userblock: a non-empty user block precedes the HDF5 data (polyglot file).
    keras.h5_corrupt: a group or dataset header that h5py cannot read (the entry's error names it).
    limits.too_many_objects: more HDF5 objects than max_archive_members; the rest were not listed.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import deque
from typing import Any

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import Anomaly, FileEntry, Format, TensorInfo
from weightwarden.artifact.readers.keras_config import analyze_config, parse_json_bounded
from weightwarden.artifact.source import Source, window_source

KERAS_ROOT_ATTRS = ("model_config", "keras_version", "layer_names", "training_config")
METADATA_ATTRS = ("keras_version", "backend")


def read(source: Source, ctx: ReadContext) -> FileEntry:
    """Read an HDF5 file (see the module docstring). Raises only for files h5py cannot open."""
    import h5py  # imported here: scanning a folder without HDF5 files never loads h5py

    entry = FileEntry(source.display, Format.HDF5, source.size)
    handle: Any = source.fs_path if source.fs_path else source.open()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                f = h5py.File(handle, "r", locking=False)
            except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
                entry.error = f"not a readable HDF5 file: {_describe(exc)}"
                return entry
            with f:
                _read_open_file(f, source, ctx, entry)
    finally:
        if not isinstance(handle, str):
            with contextlib.suppress(Exception):
                handle.close()
    return entry


def _read_open_file(f: Any, source: Source, ctx: ReadContext, entry: FileEntry) -> None:
    limits = ctx.limits
    root_attrs = _attr_names(f)
    if any(a in root_attrs for a in KERAS_ROOT_ATTRS):
        entry.format = Format.KERAS_H5
    for name in METADATA_ATTRS:
        if name in root_attrs:
            try:
                value = _read_attr(f, name, 4096)
            except Exception as exc:  # noqa: BLE001 - h5py raises OSError and others on corrupt attributes
                entry.anomalies.append(Anomaly("keras.h5_corrupt", f"attr:{name}", f"cannot read: {_describe(exc)}"))
                continue
            if isinstance(value, str):
                entry.metadata[name] = value[:200]
    entry.metadata["hdf5_root_attrs"] = sorted(str(a) for a in root_attrs)[:64]
    for attr in ("model_config", "training_config"):
        if attr in root_attrs:
            _analyze_attr(f, attr, entry, limits.max_text_bytes)
    _userblock(f, source, ctx, entry)
    _walk(f, entry, limits.max_archive_members)


def _analyze_attr(f: Any, attr: str, entry: FileEntry, max_bytes: int) -> None:
    size = _attr_storage_size(f, attr)
    if size is not None and size > max_bytes:
        entry.anomalies.append(
            Anomaly("keras.config_too_large", f"attr:{attr}", f"{attr} attribute of {size} bytes exceeds {max_bytes}")
        )
        entry.error = f"{attr} attribute too large to read ({size} bytes)"
        return
    try:
        raw = _read_attr(f, attr, max_bytes)
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on hostile attributes
        entry.anomalies.append(Anomaly("keras.bad_config", f"attr:{attr}", f"cannot read {attr}: {_describe(exc)}"))
        return
    if not isinstance(raw, str):
        entry.anomalies.append(
            Anomaly("keras.bad_config", f"attr:{attr}", f"{attr} is not a JSON string", type(raw).__name__)
        )
        return
    value, problem = parse_json_bounded(raw, max_bytes)
    if problem is not None:
        entry.anomalies.append(Anomaly("keras.bad_config", f"attr:{attr}", f"{attr}: {problem}"))
        return
    if attr == "model_config" and isinstance(value, dict):
        entry.metadata["keras_class_name"] = value.get("class_name") if isinstance(value.get("class_name"), str) else None
    code, anomalies = analyze_config(value, attr)
    entry.code.extend(code)
    entry.anomalies.extend(anomalies)


def _walk(f: Any, entry: FileEntry, max_objects: int) -> None:
    import h5py

    seen: set[int] = set()
    queue: deque[tuple[Any, str]] = deque([(f, "")])
    count = 0
    datasets = 0
    while queue:
        group, prefix = queue.popleft()
        try:
            names = iter(group)
            for name in names:
                count += 1
                if count > max_objects:
                    entry.anomalies.append(
                        Anomaly("limits.too_many_objects", prefix or "/", f"more than {max_objects} HDF5 objects; "
                                "the rest were not listed")
                    )
                    return
                path = f"{prefix}/{name}" if prefix else name
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    entry.anomalies.append(
                        Anomaly("keras.h5_external_link", path, "HDF5 external link to another file (not followed)",
                                f"{link.filename}:{link.path}")
                    )
                    continue
                if isinstance(link, h5py.SoftLink):
                    continue  # points inside this file; the target is listed under its own path
                obj = group.get(name)
                addr = _address(obj)
                if addr is not None:
                    if addr in seen:
                        continue
                    seen.add(addr)
                if isinstance(obj, h5py.Group):
                    queue.append((obj, path))
                elif isinstance(obj, h5py.Dataset):
                    datasets += 1
                    _dataset(obj, path, entry)
        except Exception as exc:  # noqa: BLE001 - a corrupt group must not hide what was already read
            entry.anomalies.append(
                Anomaly("keras.h5_corrupt", prefix or "/", f"cannot list HDF5 group: {_describe(exc)}")
            )
            entry.error = entry.error or f"corrupt HDF5 group {prefix or '/'}: {_describe(exc)}"
    entry.metadata["hdf5_datasets"] = datasets


def _dataset(d: Any, path: str, entry: FileEntry) -> None:
    try:
        dtype = d.dtype
        dtype_name = dtype.name if dtype.kind != "V" or dtype.names is None else "compound"
        shape = tuple(int(x) for x in (d.shape or ()))
    except Exception as exc:  # noqa: BLE001
        entry.anomalies.append(Anomaly("keras.h5_corrupt", path, f"cannot read dataset header: {_describe(exc)}"))
        return
    external = None
    with contextlib.suppress(Exception):
        external = d.external
    if external:
        files = ", ".join(str(e[0]) for e in external[:8])
        entry.anomalies.append(
            Anomaly("keras.h5_external_storage", path, "dataset data stored in external files", files)
        )
    virtual = False
    with contextlib.suppress(Exception):
        virtual = bool(d.is_virtual)
    if virtual:
        sources = ""
        with contextlib.suppress(Exception):
            sources = ", ".join(sorted({vs.file_name for vs in d.virtual_sources()}))[:500]
        entry.anomalies.append(Anomaly("keras.h5_virtual_dataset", path, "virtual dataset maps other files", sources))
    start = end = None
    if not external and not virtual:
        with contextlib.suppress(Exception):
            offset = d.id.get_offset()
            if offset is not None and d.chunks is None:
                start = int(offset)
                end = start + int(d.id.get_storage_size())
    entry.tensors.append(TensorInfo(path, dtype_name, shape, start, end))


def _userblock(f: Any, source: Source, ctx: ReadContext, entry: FileEntry) -> None:
    size = 0
    with contextlib.suppress(Exception):
        size = int(f.userblock_size)
    if size <= 0:
        return
    with source.open() as stream:
        head = stream.read(min(size, 4096))
    if not head.strip(b"\x00"):
        return
    entry.anomalies.append(
        Anomaly("keras.h5_userblock", "userblock", f"{size}-byte user block with content precedes the HDF5 data",
                head[:32].hex())
    )
    if ctx.depth >= ctx.limits.max_archive_depth:
        return
    display = f"{source.display}!userblock"
    if source.fs_path:
        member = window_source(source.fs_path, 0, size, display, source.fs_dir)
    else:
        with source.open() as stream:
            member = Source.from_bytes(stream.read(min(size, ctx.limits.max_text_bytes)), display, source.fs_dir)
    entry.children.append(ctx.read_member(member))


def _attr_names(obj: Any) -> list[str]:
    names: list[str] = []
    with contextlib.suppress(Exception):
        for name in obj.attrs:
            names.append(name)
            if len(names) >= 10_000:
                break
    return names


def _attr_storage_size(obj: Any, name: str) -> int | None:
    try:
        return int(obj.attrs.get_id(name).get_storage_size())
    except Exception:  # noqa: BLE001
        return None


def _read_attr(obj: Any, name: str, max_bytes: int) -> Any:
    value = obj.attrs[name]
    if hasattr(value, "tolist") and getattr(value, "shape", ()) == ():
        value = value.tolist()
    if isinstance(value, bytes):
        if len(value) > max_bytes:
            return None
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "shape") and getattr(value, "size", 0) == 1:
        return _read_attr_scalar(value.reshape(()).tolist())
    return value


def _read_attr_scalar(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _address(obj: Any) -> int | None:
    import h5py

    try:
        return int(h5py.h5o.get_info(obj.id).addr)
    except Exception:  # noqa: BLE001
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."


__all__ = ["read"]
