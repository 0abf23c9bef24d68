"""ONNX: the main graph's initializers, read by :mod:`weightwarden.artifact.readers.onnx_file`.

Initializers with ``raw_data`` are mapped in the model file. Initializers with external data are mapped in
their data file, which must be a file inside the model's folder (a location that escapes it is refused, as
is a range that does not match the shape); finding them needs the model's protobuf structure, parsed with
``onnx`` only for models up to 100 MB. Small constants stored in typed fields (``float_data`` ...) and
sparse, function and training initializers are left out; unsupported element types are refused.
"""

from __future__ import annotations

import math
from pathlib import Path

from weightwarden.lineage._containers._stored import ELEMENT_TYPES, _header_entry, _Stored
from weightwarden.lineage.model import LineageError

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
        try:
            etype = _ONNX_TYPES.get(onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name)
        except (KeyError, ValueError):  # a data_type number onnx does not know
            etype = None
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
