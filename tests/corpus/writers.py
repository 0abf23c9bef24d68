"""Shared file writers for corpus builders: objects that pickle to a call, zip patching, Keras, GGUF, ONNX.

Everything here *writes* files with the format's own library (or by hand where the attack needs bytes no
library writes). Nothing reads a model back.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class Reduce:
    """An object that pickles as ``func(*args)`` (what a malicious ``__reduce__`` returns)."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


def evil(ctx: Any) -> Reduce:
    """The canonical payload: ``os.system("touch <canary>")`` (pickles as ``posix.system`` on Linux)."""
    return Reduce(os.system, ctx.shell())


def tiny_state_dict() -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    return model.state_dict()


def torch_save(obj: Any, path: Path, *, legacy: bool = False) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


# -- zip byte patching ---------------------------------------------------------------------------------------


def _central_entries(data: bytes) -> list[tuple[int, str]]:
    """(offset of central header, member name) for each central-directory record."""
    out = []
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        out.append((pos, data[pos + 46 : pos + 46 + name_len].decode("utf-8", "replace")))
        pos = data.find(b"PK\x01\x02", pos + 46 + name_len + extra_len + comment_len)
    return out


def _local_offset(data: bytes, central_pos: int) -> int:
    return struct.unpack_from("<I", data, central_pos + 42)[0]


def member_ending(path: Path, suffix: str) -> str:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(suffix):
                return name
    raise KeyError(suffix)


def patch_zip_crc(path: Path, member: str) -> None:
    """Flip the stored CRC-32 of ``member`` in both its local and central headers."""
    data = bytearray(path.read_bytes())
    for pos, name in _central_entries(bytes(data)):
        if name == member:
            local = _local_offset(bytes(data), pos)
            crc = struct.unpack_from("<I", data, pos + 16)[0] ^ 0xDEADBEEF
            struct.pack_into("<I", data, pos + 16, crc)
            struct.pack_into("<I", data, local + 14, crc)
            path.write_bytes(bytes(data))
            return
    raise KeyError(member)


def patch_zip_local_name(path: Path, member: str, new_name: str) -> None:
    """Rewrite ``member``'s *local* header name (same length) so it disagrees with the central directory."""
    if len(new_name.encode()) != len(member.encode()):
        raise ValueError("names must have the same length")
    data = bytearray(path.read_bytes())
    for pos, name in _central_entries(bytes(data)):
        if name == member:
            local = _local_offset(bytes(data), pos)
            data[local + 30 : local + 30 + len(new_name)] = new_name.encode()
            path.write_bytes(bytes(data))
            return
    raise KeyError(member)


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(
                zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, compress_type=compression
            )
    return path


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w") -> Path:
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return path


# -- Keras ------------------------------------------------------------------------------------------------


def lambda_code(ctx: Any) -> str:
    """Keras ``func_dump`` of a lambda that would create the canary: base64 of its marshalled code."""
    module = compile(f"lambda x: ({ctx.python()}, x)[1]", "<keras-lambda>", "exec")  # compiled, never run
    code = next(c for c in module.co_consts if hasattr(c, "co_code"))
    return base64.b64encode(marshal.dumps(code)).decode("ascii") + "\n"


def keras2_dense(name: str = "dense", units: int = 2, activation: str = "relu") -> dict[str, Any]:
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": units,
            "activation": activation,
            "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    }


def keras2_sequential(layers: list[dict[str, Any]], inputs: int = 4) -> dict[str, Any]:
    input_layer = {
        "class_name": "InputLayer",
        "config": {
            "batch_input_shape": [None, inputs],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": "input_1",
        },
    }
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [input_layer, *layers]}}


def write_keras_h5(
    path: Path, model_config: dict[str, Any], weights: dict[str, dict[str, np.ndarray]]
) -> Path:
    """Write an HDF5 file laid out the way Keras 2 ``model.save('x.h5')`` does."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["model_config"] = json.dumps(
            {**model_config, "keras_version": "2.15.0", "backend": "tensorflow"}
        )
        f.attrs["training_config"] = json.dumps(
            {
                "loss": "mse",
                "metrics": None,
                "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}},
            }
        )
        group = f.create_group("model_weights")
        group.attrs["backend"] = "tensorflow"
        group.attrs["keras_version"] = "2.15.0"
        group.attrs["layer_names"] = np.array([n.encode() for n in weights], dtype="S")
        for layer, arrays in weights.items():
            g = group.create_group(layer)
            g.attrs["weight_names"] = np.array([f"{layer}/{k}:0".encode() for k in arrays], dtype="S")
            inner = g.create_group(layer)
            for key, value in arrays.items():
                inner.create_dataset(f"{key}:0", data=value)
    return path


def keras3_layer(class_name: str, config: dict[str, Any], module: str = "keras.layers") -> dict[str, Any]:
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def keras3_dense(name: str = "dense", units: int = 2, activation: Any = "relu") -> dict[str, Any]:
    dtype = {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }
    return keras3_layer(
        "Dense",
        {
            "name": name,
            "trainable": True,
            "dtype": dtype,
            "units": units,
            "activation": activation,
            "use_bias": True,
            "kernel_initializer": keras3_layer("GlorotUniform", {"seed": None}, "keras.initializers"),
            "bias_initializer": keras3_layer("Zeros", {}, "keras.initializers"),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    ) | {"build_config": {"input_shape": [None, 4]}}


def keras3_sequential(layers: list[dict[str, Any]]) -> dict[str, Any]:
    input_layer = keras3_layer(
        "InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_layer"}
    )
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "layers": [input_layer, *layers],
            "build_input_shape": [None, 4],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
        "compile_config": {
            "optimizer": keras3_layer("Adam", {"name": "adam", "learning_rate": 0.001}, "keras.optimizers"),
            "loss": "mean_squared_error",
            "metrics": None,
        },
    }


def write_keras_zip(path: Path, config: dict[str, Any]) -> Path:
    """A Keras 3 ``.keras`` archive: config.json, metadata.json and model.weights.h5."""
    import io

    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        vars_group = f.create_group("layers/dense/vars")
        vars_group.create_dataset("0", data=np.ones((4, 2), dtype=np.float32))
        vars_group.create_dataset("1", data=np.zeros((2,), dtype=np.float32))
        f.create_group("optimizer/vars")
    metadata = {"keras_version": "3.6.0", "date_saved": "2024-11-01@12:00:00"}
    return write_zip(
        path,
        {
            "metadata.json": json.dumps(metadata).encode(),
            "config.json": json.dumps(config).encode(),
            "model.weights.h5": buf.getvalue(),
        },
    )


# -- GGUF -------------------------------------------------------------------------------------------------


def write_gguf(path: Path, template: str | None, *, extra: dict[str, str] | None = None) -> Path:
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("corpus-tiny")
    writer.add_context_length(128)
    writer.add_uint32("llama.embedding_length", 8)
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "hello", "world"])
    if template is not None:
        writer.add_chat_template(template)
    for key, value in (extra or {}).items():
        writer.add_string(key, value)
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def gguf_raw(
    tensors: list[tuple[str, tuple[int, ...], int]], data: bytes, kv: dict[str, str] | None = None
) -> bytes:
    """Hand-built GGUF v3: ``tensors`` are (name, dims, relative offset), all F32; ``data`` follows aligned."""

    def gstr(s: str) -> bytes:
        b = s.encode()
        return struct.pack("<Q", len(b)) + b

    kv = {"general.architecture": "llama", **(kv or {})}
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, value in kv.items():
        out += gstr(key) + struct.pack("<I", 8) + gstr(value)
    for name, dims, offset in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", 0, offset)
    out += b"\x00" * (-len(out) % 32)
    return out + data


# -- safetensors ------------------------------------------------------------------------------------------


def safetensors_raw(header: dict[str, Any] | bytes, data: bytes, *, declared_len: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw) if declared_len is None else declared_len) + raw + data


def write_u8_safetensors(path: Path, tensors: dict[str, bytes]) -> Path:
    """A safetensors file of 1-D U8 tensors holding exactly ``tensors``' bytes, in order."""
    header, offset = {}, 0
    for name, raw in tensors.items():
        header[name] = {"dtype": "U8", "shape": [len(raw)], "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    path.write_bytes(safetensors_raw(header, b"".join(tensors.values())))
    return path
