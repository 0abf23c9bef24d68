"""Tests of the structured-format readers: Keras configs, Keras H5 / HDF5, TF SavedModel, ONNX, HF JSON/templates.

Every file is written here with the real libraries (h5py, onnx) or by hand at the byte level (SavedModel
protobuf wire format), the way the real tools lay them out. Nothing is ever loaded with Keras, TensorFlow or
onnxruntime, and no template is rendered. Hostile inputs must give anomalies or errors, never exceptions.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import random
from pathlib import Path

import h5py
import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tests.corpus.samples import TEMPLATES as CHAT_TEMPLATES  # noqa: E402
from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.loader import open_artifact, read_source
from weightwarden.artifact.model import CodeKind, FileEntry, Format
from weightwarden.artifact.readers import hf_config, keras_h5, onnx_file, savedmodel
from weightwarden.artifact.readers.keras_config import analyze_config
from weightwarden.artifact.source import Source
from weightwarden.core.limits import Limits
from weightwarden.scan.rules.tf_ops import TF_ALLOWED_OPS, TF_DANGEROUS_OPS

MINILM = Path(__file__).resolve().parents[1] / ".cache" / "models" / "all-MiniLM-L6-v2"


def ctx(limits: Limits | None = None) -> ReadContext:
    lim = limits or Limits()
    return ReadContext.for_top_level(lim, dispatch=read_source)


def read_path(reader, path: Path, limits: Limits | None = None) -> FileEntry:
    source = Source.from_path(str(path), path.name, fs_dir=str(path.parent))
    return reader.read(source, ctx(limits))


def codes(entry: FileEntry) -> list[str]:
    return [a.code for a in entry.anomalies]


def keras_objs(entry_or_list) -> list:
    objs = entry_or_list.code if isinstance(entry_or_list, FileEntry) else entry_or_list
    return [c for c in objs if c.kind == CodeKind.KERAS_LAYER]


# --------------------------------------------------------------------------------------------------------
# Keras configs, written the way Keras 2 (tf.keras, H5) and Keras 3 (.keras config.json) write them.


def _lambda_b64() -> str:
    # Exactly what Keras 2's func_dump stores: base64 of marshal.dumps(code). Never loaded.
    return base64.b64encode(marshal.dumps((lambda x: x * 2).__code__)).decode("ascii") + "\n"


def keras2_dense(name: str, units: int = 4) -> dict:
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": units,
            "activation": "relu",
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


def keras2_lambda(name: str = "lambda") -> dict:
    return {
        "class_name": "Lambda",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "function": [_lambda_b64(), None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }


def keras2_sequential(layers: list[dict]) -> dict:
    return {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {
                        "batch_input_shape": [None, 4],
                        "dtype": "float32",
                        "sparse": False,
                        "ragged": False,
                        "name": "input_1",
                    },
                }
            ]
            + layers,
        },
    }


def keras3_policy() -> dict:
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }


def keras3_config(extra_layers: list[dict] | None = None, compile_loss: object = None) -> dict:
    dense = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": "dense",
            "trainable": True,
            "dtype": keras3_policy(),
            "units": 8,
            "activation": {
                "module": "keras.src.activations.activations",
                "class_name": "function",
                "config": "relu",
                "registered_name": "relu",
            },
            "use_bias": True,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None},
                "registered_name": None,
            },
            "bias_initializer": {
                "module": "keras.initializers",
                "class_name": "Zeros",
                "config": {},
                "registered_name": None,
            },
            "kernel_regularizer": {
                "module": "keras.regularizers",
                "class_name": "L2",
                "config": {"l2": 0.01},
                "registered_name": None,
            },
            "kernel_constraint": None,
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": keras3_policy(),
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {
                        "batch_shape": [None, 4],
                        "dtype": "float32",
                        "sparse": False,
                        "name": "input_layer",
                    },
                    "registered_name": None,
                },
                dense,
            ]
            + (extra_layers or []),
            "build_input_shape": [None, 4],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
        "compile_config": {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": "Adam",
                "config": {"name": "adam", "learning_rate": 0.001},
                "registered_name": None,
            },
            "loss": compile_loss
            if compile_loss is not None
            else {
                "module": "keras.losses",
                "class_name": "function",
                "config": "mean_squared_error",
                "registered_name": "mean_squared_error",
            },
            "metrics": [
                {
                    "module": "keras.metrics",
                    "class_name": "MeanAbsoluteError",
                    "config": {"name": "mae", "dtype": "float32"},
                    "registered_name": None,
                }
            ],
            "loss_weights": None,
            "jit_compile": False,
        },
    }


def test_keras3_benign_config_has_no_code():
    code, anomalies = analyze_config(keras3_config(), "config.json")
    assert code == [] and anomalies == []


def test_keras2_benign_config_has_no_code():
    code, anomalies = analyze_config(keras2_sequential([keras2_dense("dense"), keras2_dense("dense_1")]))
    assert code == [] and anomalies == []


def test_keras2_lambda_marshalled_code():
    code, _ = analyze_config(keras2_sequential([keras2_dense("dense"), keras2_lambda("evil_lambda")]))
    (obj,) = code
    assert obj.location == "layer:evil_lambda"
    assert obj.details["lambda_code"] is True and obj.details["class_name"] == "Lambda"
    assert obj.details["reason"] == "lambda"


def test_keras2_lambda_named_function():
    layer = keras2_lambda("named")
    layer["config"].update(function="system", function_type="function", module="os")
    (obj,) = analyze_config(keras2_sequential([layer]))[0]
    assert obj.details["target"] == "os.system" and obj.details["lambda_code"] is False


def test_keras3_lambda_code():
    layer = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "registered_name": None,
        "config": {
            "name": "lam",
            "function": {
                "class_name": "__lambda__",
                "config": {"code": _lambda_b64(), "defaults": None, "closure": None},
            },
        },
    }
    code, _ = analyze_config(keras3_config([layer]))
    (obj,) = code  # one object for the layer; the nested __lambda__ is not reported twice
    assert obj.location == "layer:lam" and obj.details["lambda_code"] is True


def test_keras3_bare_lambda_value():
    code, _ = analyze_config({"class_name": "__lambda__", "config": {"value": [_lambda_b64(), None, None]}})
    assert code[0].details["lambda_code"] is True


@pytest.mark.parametrize(
    ("entry", "target"),
    [
        (
            {"module": "os", "class_name": "function", "config": "system", "registered_name": None},
            "os.system",
        ),
        (
            {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "exec"},
            "builtins.exec",
        ),
        (
            {
                "module": "subprocess",
                "class_name": "Popen",
                "config": {"args": ["id"]},
                "registered_name": None,
            },
            "subprocess.Popen",
        ),
        (
            {
                "module": "keras.utils",
                "class_name": "function",
                "config": "get_file",
                "registered_name": None,
            },
            "keras.utils.get_file",
        ),
        (
            {
                "module": "keras.config",
                "class_name": "function",
                "config": "enable_unsafe_deserialization",
                "registered_name": None,
            },
            "keras.config.enable_unsafe_deserialization",
        ),
        (
            {"module": "keras.src.saving.saving_api", "class_name": "function", "config": "load_model"},
            "keras.src.saving.saving_api.load_model",
        ),
        (
            {
                "class_name": "__typespec__",
                "spec_name": "system",
                "module": "os",
                "config": {},
                "registered_name": None,
            },
            "os.system",
        ),
    ],
)
def test_cve_2025_1550_module_references(entry, target):
    dense = keras3_config()["config"]["layers"][1]
    dense["config"]["activation"] = entry
    code, _ = analyze_config(keras3_config([dense]))
    assert [c.details["target"] for c in code] == [target]
    assert code[0].location.startswith("config:$.config.layers[2].config.activation")


def test_compile_config_loss_reference():
    code, _ = analyze_config(
        keras3_config(compile_loss={"module": "posix", "class_name": "function", "config": "system"}),
        "config.json",
    )
    assert [(c.details["target"], c.location) for c in code] == [
        ("posix.system", "config:config.json.compile_config.loss")
    ]


def test_custom_registered_object():
    layer = {
        "module": "my_package.layers",
        "class_name": "MyLayer",
        "registered_name": "MyPackage>MyLayer",
        "config": {"name": "mine"},
    }
    (obj,) = analyze_config(keras3_config([layer]))[0]
    assert obj.details["reason"] == "custom_object" and obj.details["target"] == "my_package.layers.MyLayer"
    assert obj.details["registered_name"] == "MyPackage>MyLayer" and obj.location == "layer:mine"


def test_tf_op_lambda_and_tfsm_layer():
    layers = [
        {"class_name": "TFOpLambda", "config": {"name": "tf.math.add", "function": "math.add"}},
        {
            "module": "keras.layers",
            "class_name": "TFSMLayer",
            "config": {"name": "tfsm", "filepath": "/tmp/x"},
        },
    ]
    code, _ = analyze_config(keras2_sequential(layers))
    assert {c.details["reason"]: c.details["target"] for c in code} == {
        "tf_op_lambda": "tf.math.add",
        "tfsm_layer": "keras.layers.TFSMLayer",
    }


def test_bad_and_huge_configs_give_anomalies():
    assert analyze_config(["not", "a", "dict"])[1][0].code == "keras.bad_config"
    assert analyze_config({"class_name": 5})[1][0].code == "keras.bad_config"
    deep: dict = {}
    cur = deep
    for _ in range(10_000):
        cur["config"] = {"class_name": "X", "config": {}}
        cur = cur["config"]["config"]
    code, anomalies = analyze_config(deep)
    assert "keras.config_too_large" in [a.code for a in anomalies]


# --------------------------------------------------------------------------------------------------------
# Keras 2 H5 files written with h5py the way tf.keras lays them out.


def write_keras_h5(path: Path, model_config: dict | str, training_config: dict | None = None, **kw) -> dict:
    weights = {
        "dense/dense/kernel:0": np.arange(16, dtype=np.float32).reshape(4, 4),
        "dense/dense/bias:0": np.ones(4, dtype=np.float32),
    }
    with h5py.File(path, "w", **kw) as f:
        f.attrs["keras_version"] = "2.13.1"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = model_config if isinstance(model_config, str) else json.dumps(model_config)
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config)
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense"])
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = b"2.13.1"
        g = mw.create_group("dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        for name, data in weights.items():
            mw.create_dataset(name, data=data)
    return weights


def test_keras_h5_benign_dense(tmp_path):
    path = tmp_path / "model.h5"
    weights = write_keras_h5(
        path,
        keras2_sequential([keras2_dense("dense")]),
        {
            "loss": "mse",
            "metrics": ["mae"],
            "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}},
        },
    )
    entry = read_path(keras_h5, path)
    assert entry.format == Format.KERAS_H5 and entry.error is None
    assert entry.code == [] and entry.anomalies == []
    assert entry.metadata["keras_version"] == "2.13.1"
    raw = path.read_bytes()
    by_name = {t.name: t for t in entry.tensors}
    kernel = by_name["model_weights/dense/dense/kernel:0"]
    assert kernel.dtype == "float32" and kernel.shape == (4, 4)
    assert raw[kernel.start : kernel.end] == weights["dense/dense/kernel:0"].tobytes()


def test_keras_h5_lambda_and_training_config(tmp_path):
    path = tmp_path / "evil.h5"
    write_keras_h5(
        path,
        keras2_sequential([keras2_dense("dense"), keras2_lambda("payload")]),
        {"loss": {"module": "os", "class_name": "function", "config": "system"}},
    )
    entry = open_artifact(path).entries[0]
    assert entry.format == Format.KERAS_H5
    objs = keras_objs(entry)
    assert {(o.location, o.details["lambda_code"], o.details["target"]) for o in objs} == {
        ("layer:payload", True, None),
        ("config:training_config.loss", False, "os.system"),
    }


def test_keras_h5_bad_model_config(tmp_path):
    path = tmp_path / "bad.h5"
    write_keras_h5(path, '{"class_name": "Sequential", "config": ')
    entry = read_path(keras_h5, path)
    assert "keras.bad_config" in codes(entry)


def test_plain_hdf5_links_external_storage_and_virtual(tmp_path):
    path = tmp_path / "data.h5"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(4))
    with h5py.File(path, "w") as f:
        f.create_dataset("plain", data=np.zeros((2, 3), dtype=np.int16))
        f["ext"] = h5py.ExternalLink("/etc/passwd", "/x")
        f["soft"] = h5py.SoftLink("/plain")
        f["loop"] = f  # a hard-link cycle back to the root
        f.create_dataset("outside", shape=(10,), dtype="f4", external=[("/etc/passwd", 0, 40)])
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "x", shape=(4,))
        f.create_virtual_dataset("virt", layout)
    entry = read_path(keras_h5, path)
    assert entry.format == Format.HDF5 and entry.code == []
    assert {"keras.h5_external_link", "keras.h5_external_storage", "keras.h5_virtual_dataset"} <= set(
        codes(entry)
    )
    assert [t.name for t in entry.tensors if t.name == "plain"] == ["plain"]


def test_hdf5_userblock_polyglot(tmp_path):
    import pickle

    path = tmp_path / "poly.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("w", data=np.zeros(3))
    payload = pickle.dumps({"a": 1}, protocol=2)  # a benign pickle; it is only written, never loaded
    with open(path, "r+b") as f:
        f.write(payload)
    entry = read_path(keras_h5, path)
    assert "keras.h5_userblock" in codes(entry)
    assert entry.children and entry.children[0].path.endswith("!userblock")


def test_malformed_hdf5_is_an_error(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(2000))
    entry = read_path(keras_h5, path)
    assert entry.error and "HDF5" in entry.error
    # Truncating a real file also fails closed.
    good = tmp_path / "good.h5"
    write_keras_h5(good, keras2_sequential([keras2_dense("dense")]))
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[:1500])
    entry = read_source(Source.from_path(str(trunc), "trunc.h5", str(tmp_path)), ctx())
    assert entry.error or entry.anomalies


def test_hdf5_worker_timeout_fails_closed_and_recovers(tmp_path, monkeypatch):
    path = tmp_path / "m.h5"
    write_keras_h5(path, keras2_sequential([keras2_lambda("l")]))
    monkeypatch.setattr(keras_h5, "WORKER_TIMEOUT_S", 0)  # no time at all: deterministic
    entry = read_path(keras_h5, path)
    assert entry.error and "limits.parse_timeout" in codes(entry)
    monkeypatch.setattr(keras_h5, "WORKER_TIMEOUT_S", 60)
    entry = read_path(keras_h5, path)  # a fresh worker takes over
    assert entry.error is None and keras_objs(entry)[0].details["lambda_code"] is True


def test_hdf5_worker_killed_mid_scan_recovers(tmp_path):
    path = tmp_path / "m.h5"
    write_keras_h5(path, keras2_sequential([keras2_dense("dense")]))
    assert read_path(keras_h5, path).error is None
    keras_h5._WORKER.kill()
    assert read_path(keras_h5, path).error is None


def test_keras_h5_from_archive_member_bytes(tmp_path):
    path = tmp_path / "m.h5"
    write_keras_h5(path, keras2_sequential([keras2_lambda("l")]))
    entry = keras_h5.read(Source.from_bytes(path.read_bytes(), "a.zip!m.h5"), ctx())
    assert entry.format == Format.KERAS_H5 and keras_objs(entry)[0].details["lambda_code"]


# --------------------------------------------------------------------------------------------------------
# TF SavedModel, hand-built at the wire level (field numbers from the TF .proto files).


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fld(n: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(n << 3 | 2) + _varint(len(data)) + data


def vint(n: int, value: int) -> bytes:
    return _varint(n << 3) + _varint(value)


def node_def(name: str, op: str, inputs: tuple[str, ...] = (), attr_bytes: bytes = b"") -> bytes:
    body = fld(1, name) + fld(2, op) + b"".join(fld(3, i) for i in inputs)
    if attr_bytes:
        # map<string, AttrValue> entry: key=1, value=2 (AttrValue.tensor = 8, TensorProto.tensor_content = 4)
        body += fld(5, fld(1, "value") + fld(2, fld(8, fld(4, attr_bytes))))
    return body


def function_def(name: str, nodes: list[bytes]) -> bytes:
    return fld(1, fld(1, name)) + b"".join(fld(3, n) for n in nodes)


def saved_model(
    graph_nodes: list[bytes],
    functions: list[bytes] = (),
    assets: list[str] = (),
    objects: list[bytes] = (),
    tags: tuple[str, ...] = ("serve",),
) -> bytes:
    graph = b"".join(fld(1, n) for n in graph_nodes)
    if functions:
        graph += fld(2, b"".join(fld(1, f) for f in functions))
    meta_info = b"".join(fld(4, t) for t in tags) + fld(5, "2.15.0")
    meta = fld(1, meta_info) + fld(2, graph)
    meta += fld(5, fld(1, "serving_default") + fld(2, b""))
    for a in assets:
        meta += fld(6, fld(2, a))
    if objects:
        meta += fld(7, b"".join(fld(1, o) for o in objects))
    return vint(1, 1) + fld(2, meta)


def keras_user_object(meta: dict, identifier: str = "_tf_keras_layer") -> bytes:
    return fld(4, fld(1, identifier) + fld(3, json.dumps(meta)))


BENIGN_SAVER = [
    node_def("saver_filename", "Placeholder"),
    node_def("StatefulPartitionedCall", "StatefulPartitionedCall", ("saver_filename",)),
]


def test_savedmodel_benign_ops(tmp_path):
    big = os.urandom(3 * 1024 * 1024)  # a large constant: skipped, not read
    nodes = [
        node_def("x", "Placeholder"),
        node_def("w", "Const", attr_bytes=big),
        node_def("mm", "MatMul", ("x", "w")),
        node_def("r", "Relu", ("mm",)),
    ] + BENIGN_SAVER
    saver = function_def(
        "__inference__traced_save_45",
        [
            node_def("StringJoin", "StringJoin"),
            node_def("ShardedFilename", "ShardedFilename"),
            node_def("SaveV2", "SaveV2"),
            node_def("MergeV2Checkpoints", "MergeV2Checkpoints"),
            node_def("Identity", "Identity"),
            node_def("NoOp", "NoOp"),
        ],
    )
    (tmp_path / "sm").mkdir()
    path = tmp_path / "sm" / "saved_model.pb"
    path.write_bytes(saved_model(nodes, [saver]))
    entry = open_artifact(tmp_path / "sm").entries[0]
    assert entry.format == Format.SAVEDMODEL and entry.error is None
    by_loc = {c.location: c.details["ops"] for c in entry.code if c.kind == CodeKind.TF_OP}
    assert by_loc["meta_graph[0]/graph"] == {
        "Const": 1,
        "MatMul": 1,
        "Placeholder": 2,
        "Relu": 1,
        "StatefulPartitionedCall": 1,
    }
    assert by_loc["meta_graph[0]/function:__inference__traced_save_45"]["SaveV2"] == 1
    assert entry.metadata["meta_graph_info"][0]["tags"] == ["serve"]
    assert entry.metadata["meta_graph_info"][0]["signatures"] == ["serving_default"]
    all_ops = {op for ops in by_loc.values() for op in ops}
    assert all_ops <= TF_ALLOWED_OPS
    assert entry.anomalies == []


def test_savedmodel_dangerous_ops_in_functions(tmp_path):
    fn = function_def(
        "__inference_serve_12",
        [
            node_def("f", "Const"),
            node_def("rf", "ReadFile", ("f",)),
            node_def("wf", "WriteFile"),
            node_def("py", "PyFunc"),
        ],
    )
    path = tmp_path / "saved_model.pb"
    path.write_bytes(saved_model([node_def("x", "Placeholder")], [fn]))
    entry = read_path(savedmodel, path)
    ops = {c.location: c.details["ops"] for c in entry.code}["meta_graph[0]/function:__inference_serve_12"]
    assert {"ReadFile", "WriteFile", "PyFunc"} <= ops.keys() <= TF_DANGEROUS_OPS.keys() | TF_ALLOWED_OPS
    assert "ReadFile" in TF_DANGEROUS_OPS and "PyFunc" in TF_DANGEROUS_OPS


def test_savedmodel_function_calls_and_truncation_keeps_ops(tmp_path):
    fn = function_def("__inference_helper_7", [node_def("r", "ReadFile")])
    data = saved_model([node_def("x", "Placeholder"), node_def("call", "__inference_helper_7", ("x",))], [fn])
    entry = savedmodel.read(Source.from_bytes(data, "saved_model.pb"), ctx())
    graph = {c.location: c.details for c in entry.code}["meta_graph[0]/graph"]
    assert graph["ops"] == {"Placeholder": 1} and graph["function_calls"] == {"__inference_helper_7": 1}
    # Cut inside the meta graph's signature map: ops already read are still reported with the error.
    entry = savedmodel.read(Source.from_bytes(data[:-3], "saved_model.pb"), ctx())
    assert entry.error and "ReadFile" in {op for c in entry.code for op in c.details["ops"]}


def test_savedmodel_asset_escape_and_keras_object_metadata(tmp_path):
    lam = keras2_lambda("lambda_layer")
    lam_meta = dict(lam, name="lambda_layer", trainable=True)
    model_meta = dict(keras2_sequential([keras2_dense("dense"), lam]), name="sequential")
    objects = [
        keras_user_object(model_meta, "_tf_keras_sequential"),
        keras_user_object(lam_meta),
        keras_user_object({"class_name": "Dense", "config": {"name": "d"}}),
    ]
    path = tmp_path / "saved_model.pb"
    path.write_bytes(
        saved_model(
            [node_def("x", "Placeholder")], assets=["../../../etc/passwd", "vocab.txt"], objects=objects
        )
    )
    entry = read_path(savedmodel, path)
    assert "tf.asset_path_escape" in codes(entry)
    lambdas = keras_objs(entry)
    assert len(lambdas) == 1 and lambdas[0].details["lambda_code"] is True  # deduplicated


def test_savedmodel_keras_metadata_sibling(tmp_path):
    lam = dict(keras2_lambda("lam"), name="lam")
    nodes = fld(1, vint(2, 1) + fld(3, "root.layer-1") + fld(4, "_tf_keras_layer") + fld(5, json.dumps(lam)))
    (tmp_path / "keras_metadata.pb").write_bytes(nodes)
    path = tmp_path / "saved_model.pb"
    path.write_bytes(saved_model([node_def("x", "Placeholder")]))
    entry = read_path(savedmodel, path)
    assert entry.metadata.get("keras_metadata") is True
    assert [o.location for o in keras_objs(entry)] == ["layer:lam"]


def test_savedmodel_malformed(tmp_path):
    data = saved_model([node_def("x", "Placeholder"), node_def("y", "Relu")])
    for cut in (len(data) - 1, len(data) // 2, 5):
        entry = savedmodel.read(Source.from_bytes(data[:cut], "saved_model.pb"), ctx())
        assert entry.error and "malformed" in entry.error
    hostile = vint(1, 1) + _varint(2 << 3 | 2) + _varint(10 * 1024**3)  # a "10 GB" meta graph
    entry = savedmodel.read(Source.from_bytes(hostile, "saved_model.pb"), ctx())
    assert entry.error


def test_tf_op_lists():
    assert not TF_ALLOWED_OPS & TF_DANGEROUS_OPS.keys()
    assert {
        "Const",
        "MatMul",
        "VarHandleOp",
        "ReadVariableOp",
        "StatefulPartitionedCall",
        "SaveV2",
        "RestoreV2",
        "MergeV2Checkpoints",
        "NoOp",
        "Conv2D",
        "BiasAdd",
        "Softmax",
    } <= TF_ALLOWED_OPS
    assert {
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "PyFunc",
        "EagerPyFunc",
        "PyFuncStateless",
        "ImmutableConst",
        "DebugIdentity",
    } <= TF_DANGEROUS_OPS.keys()
    assert all(isinstance(v, str) and v for v in TF_DANGEROUS_OPS.values())


# --------------------------------------------------------------------------------------------------------
# ONNX models built with onnx.helper.


def onnx_model(nodes, initializers=(), functions=(), opsets=(("", 17),), name="g") -> onnx.ModelProto:
    graph = helper.make_graph(
        list(nodes),
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=list(initializers),
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], functions=list(functions)
    )


def external_tensor(name: str, location: str, offset: int = 0, length: int = 64) -> TensorProto:
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend([length // 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def test_onnx_benign(tmp_path):
    w = np.arange(16, dtype=np.float32).reshape(4, 4)
    model = onnx_model(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        [numpy_helper.from_array(w, "W")],
    )
    model.metadata_props.add(key="license", value="apache-2.0")
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    entry = open_artifact(path).entries[0]
    assert entry.format == Format.ONNX and entry.error is None
    assert entry.code == [] and entry.anomalies == []
    (t,) = entry.tensors
    assert (t.name, t.dtype, t.shape) == ("W", "float32", (4, 4))
    assert path.read_bytes()[t.start : t.end] == w.tobytes()
    assert entry.metadata["onnx_opset_imports"] == {"ai.onnx": 17}
    assert entry.metadata["onnx_metadata_props"] == {"license": "apache-2.0"}


def test_onnx_custom_domains_functions_and_subgraphs(tmp_path):
    inner = helper.make_graph(
        [helper.make_node("Shell", ["x"], ["y"], domain="com.evil")],
        "then",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    fn = helper.make_function(
        "local.fns",
        "Double",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    nodes = [
        helper.make_node("FusedMatMul", ["x", "x"], ["h"], domain="com.microsoft"),
        helper.make_node("Double", ["h"], ["h2"], domain="local.fns"),
        helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner),
    ]
    model = onnx_model(
        nodes, functions=[fn], opsets=(("", 17), ("com.microsoft", 1), ("com.evil", 1), ("local.fns", 1))
    )
    path = tmp_path / "custom.onnx"
    onnx.save(model, path)
    entry = read_path(onnx_file, path)
    ops = {(c.location, c.details["domain"], c.details["op_type"]): c.details for c in entry.code}
    assert ops[("graph", "com.evil", "Shell")]["count"] == 2  # both branches of the If
    assert ops[("graph", "com.microsoft", "FusedMatMul")]["local_function"] is False
    assert ops[("graph", "local.fns", "Double")]["local_function"] is True
    assert all(c.kind == CodeKind.ONNX_OP for c in entry.code)
    assert entry.metadata["onnx_functions"] == ["local.fns.Double"]


@pytest.mark.parametrize(
    "location", ["../../etc/passwd", "/etc/passwd", "sub/../../x.bin", "C:\\Windows\\x.bin"]
)
def test_onnx_external_data_escape(tmp_path, location):
    model = onnx_model([helper.make_node("Add", ["x", "E"], ["y"])], [external_tensor("E", location)])
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "model.onnx"
    path.write_bytes(model.SerializeToString())
    entry = open_artifact(tmp_path / "m").entries[0]
    assert "onnx.external_data_escape" in codes(entry)
    (ref,) = [c for c in entry.code if c.kind == CodeKind.EXTERNAL_REF]
    assert ref.details["path"] == location and ref.details["tensor"] == "E"


def test_onnx_external_data_inside_missing_and_out_of_bounds(tmp_path):
    w = np.ones((64, 64), dtype=np.float32)
    model = onnx_model([helper.make_node("MatMul", ["x", "W"], ["y"])], [numpy_helper.from_array(w, "W")])
    onnx.save(
        model,
        tmp_path / "ok.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    entry = read_path(onnx_file, tmp_path / "ok.onnx")
    assert entry.anomalies == [] and entry.error is None
    assert [c.details["path"] for c in entry.code] == ["weights.bin"]
    assert entry.tensors[0].shape == (64, 64) and entry.tensors[0].start is None

    missing = onnx_model([helper.make_node("Add", ["x", "E"], ["y"])], [external_tensor("E", "nothere.bin")])
    (tmp_path / "missing.onnx").write_bytes(missing.SerializeToString())
    assert codes(read_path(onnx_file, tmp_path / "missing.onnx")) == ["onnx.external_data_missing"]

    (tmp_path / "small.bin").write_bytes(b"\0" * 16)
    oob = onnx_model([helper.make_node("Add", ["x", "E"], ["y"])], [external_tensor("E", "small.bin", 8, 64)])
    (tmp_path / "oob.onnx").write_bytes(oob.SerializeToString())
    assert codes(read_path(onnx_file, tmp_path / "oob.onnx")) == ["onnx.external_data_out_of_bounds"]


def test_onnx_external_data_in_subgraph(tmp_path):
    inner = helper.make_graph(
        [helper.make_node("Identity", ["E"], ["y"])],
        "then",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[external_tensor("E", "../../../etc/shadow")],
    )
    model = onnx_model([helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner)])
    (tmp_path / "sub.onnx").write_bytes(model.SerializeToString())
    entry = read_path(onnx_file, tmp_path / "sub.onnx")
    assert "onnx.external_data_escape" in codes(entry)


def test_onnx_big_initializer_not_read(tmp_path):
    w = np.zeros((512, 1024), dtype=np.float32)  # 2 MiB of raw_data against a 64 KiB structure budget
    model = onnx_model([helper.make_node("MatMul", ["x", "W"], ["y"])], [numpy_helper.from_array(w, "W")])
    onnx.save(model, tmp_path / "big.onnx")
    entry = read_path(onnx_file, tmp_path / "big.onnx", Limits(max_header_bytes=64 * 1024))
    assert entry.error is None and entry.tensors[0].nbytes == w.nbytes
    # A structure that itself exceeds the budget fails closed.
    consts = [
        helper.make_node("Constant", [], [f"c{i}"], value=numpy_helper.from_array(w[:64], f"c{i}"))
        for i in range(2)
    ]
    onnx.save(onnx_model(consts), tmp_path / "consts.onnx")
    entry = read_path(onnx_file, tmp_path / "consts.onnx", Limits(max_header_bytes=64 * 1024))
    assert entry.error and "limits.header_too_large" in codes(entry)


def test_onnx_malformed(tmp_path):
    data = onnx_model([helper.make_node("Relu", ["x"], ["y"])]).SerializeToString()
    for bad in (data[: len(data) // 2], data[:-3], b"\x3a\xff\xff\xff\xff\x0f" + data):
        entry = onnx_file.read(Source.from_bytes(bad, "m.onnx"), ctx())
        assert entry.error and "malformed" in entry.error


# --------------------------------------------------------------------------------------------------------
# Hugging Face configs and chat templates.


def real_templates() -> list[Path]:
    return sorted(CHAT_TEMPLATES.glob("*/*.jinja"))


def test_tokenizer_config_real_chat_templates(tmp_path):
    templates = real_templates()
    assert templates, "chat-template dataset missing"
    for tpl in templates[:20]:
        text = tpl.read_text(encoding="utf-8")
        path = tmp_path / "tokenizer_config.json"
        path.write_text(json.dumps({"bos_token": "<s>", "chat_template": text, "model_max_length": 2048}))
        entry = open_artifact(path).entries[0]
        assert entry.format == Format.HF_TOKENIZER_CONFIG
        # Round 22: the whole JSON text may be analysed by content too ("picked_up"); the config's template is one.
        (obj,) = [code for code in entry.code if "picked_up" not in code.details]
        assert obj.kind == CodeKind.CHAT_TEMPLATE and obj.text == text and obj.location == "chat_template"
        assert entry.anomalies == []


def test_tokenizer_config_template_list_and_bad_entries(tmp_path):
    path = tmp_path / "tokenizer_config.json"
    path.write_text(
        json.dumps(
            {
                "chat_template": [
                    {"name": "default", "template": "{{ messages }}"},
                    {"name": "tool_use", "template": "{% for m in messages %}{{ m.content }}{% endfor %}"},
                    {"name": "broken", "template": 42},
                ]
            }
        )
    )
    entry = read_path(hf_config, path)
    assert [(c.location, c.details["name"]) for c in entry.code if "picked_up" not in c.details] == [
        ("chat_template[default]", "default"),
        ("chat_template[tool_use]", "tool_use"),
    ]
    assert codes(entry) == ["template.bad_chat_template"]


def test_chat_template_jinja_file(tmp_path):
    tpl = real_templates()[0]
    path = tmp_path / "chat_template.jinja"
    path.write_text(tpl.read_text(encoding="utf-8"), encoding="utf-8")
    entry = open_artifact(tmp_path).entries[0]
    assert entry.format == Format.JINJA_TEMPLATE
    assert entry.code[0].kind == CodeKind.CHAT_TEMPLATE and entry.code[0].location == "template"


def test_auto_map_remote_code(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "model_type": "custom",
                "architectures": ["CustomModel"],
                "auto_map": {
                    "AutoConfig": "configuration_custom.CustomConfig",
                    "AutoModel": "modeling_custom.CustomModel",
                    "AutoTokenizer": ["tokenization_custom.CustomTokenizer", None],
                    "AutoModelForCausalLM": "other/repo--modeling_other.Other",
                },
            }
        )
    )
    entry = read_path(hf_config, path)
    (anomaly,) = entry.anomalies
    assert anomaly.code == "hf.remote_code"
    for module in (
        "configuration_custom",
        "modeling_custom",
        "tokenization_custom",
        "other/repo--modeling_other",
    ):
        assert module in anomaly.evidence
    assert entry.code == [] and entry.metadata["json"]["model_type"] == "custom"


def test_prose_json_has_no_code_but_its_jinja_is_analysed(tmp_path):
    """Prose is data; a JSON string holding a Jinja tag is a template by content, and so is the whole JSON text
    (red team round 22: a host given the file's path renders it whole). Both go to the template rule."""
    path = tmp_path / "data_config.json"
    path.write_text(
        json.dumps(
            {
                "description": "See https://example.com/exploit and run `os.system('x')`",
                "template": "{{ ''.__class__ }}",
                "items": [1, 2, 3],
            }
        )
    )
    entry = read_path(hf_config, path)
    assert [(c.location, c.text[:4]) for c in entry.code] == [("template", '{"de'), ("json:$.template", "{{ '")]
    assert entry.anomalies == [] and entry.error is None


def test_json_lines_and_invalid_configs(tmp_path):
    (tmp_path / "train.json").write_text('{"a": 1}\n{"a": 2}\n')
    entry = read_path(hf_config, tmp_path / "train.json")
    assert entry.error is None and entry.metadata["json_parsed"] is False
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": "{{ x }}", ')
    assert read_path(hf_config, tmp_path / "tokenizer_config.json").error


def test_oversized_json(tmp_path):
    limits = Limits(max_text_bytes=1024)
    (tmp_path / "tokenizer.json").write_text(json.dumps({"vocab": {f"t{i}": i for i in range(500)}}))
    entry = read_path(hf_config, tmp_path / "tokenizer.json", limits)
    assert entry.error is None and entry.metadata["json_parsed"] is False
    (tmp_path / "big.json").write_text(json.dumps({"pad": "x" * 5000, "chat_template": "{{ x }}"}))
    entry = read_path(hf_config, tmp_path / "big.json", limits)
    assert entry.error and codes(entry) == ["limits.text_too_large"]


@pytest.mark.skipif(not MINILM.is_dir(), reason="real sample model not fetched")
def test_real_minilm_configs_are_clean():
    for name in ("config.json", "tokenizer_config.json", "special_tokens_map.json", "modules.json"):
        entry = read_source(Source.from_path(str(MINILM / name), name, str(MINILM)), ctx())
        assert entry.error is None and entry.code == [] and entry.anomalies == [], name


# --------------------------------------------------------------------------------------------------------
# Fuzzing: mutated real files through each reader never raise.


def _seed_files(tmp: Path) -> dict[str, tuple[object, bytes]]:
    h5 = tmp / "seed.h5"
    write_keras_h5(h5, keras2_sequential([keras2_dense("dense"), keras2_lambda("l")]))
    onnx_bytes = onnx_model(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        [numpy_helper.from_array(np.ones((4, 4), np.float32), "W"), external_tensor("E", "../x")],
    ).SerializeToString()
    sm = saved_model(
        [node_def("x", "Placeholder"), node_def("c", "Const", attr_bytes=b"abc")],
        [function_def("f", [node_def("r", "ReadFile")])],
        assets=["a.txt"],
        objects=[keras_user_object(keras2_lambda())],
    )
    cfg = json.dumps(
        {"chat_template": [{"name": "a", "template": "{{ x }}"}], "auto_map": {"A": "m.C"}}
    ).encode()
    return {
        "h5": (keras_h5, h5.read_bytes()),
        "onnx": (onnx_file, onnx_bytes),
        "sm": (savedmodel, sm),
        "json": (hf_config, cfg),
    }


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _seed_files(tmp_path_factory.mktemp("seeds"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["h5", "onnx", "sm", "json"]),
    seed=st.integers(0, 2**32 - 1),
    flips=st.integers(1, 8),
    cut=st.floats(0.0, 1.0),
)
def test_fuzz_mutated_files_never_raise(seeds, tmp_path, monkeypatch, kind, seed, flips, cut):
    monkeypatch.setattr(keras_h5, "WORKER_TIMEOUT_S", 10)  # libhdf5 can spin on some corruptions
    reader, data = seeds[kind]
    rng = random.Random(seed)
    buf = bytearray(data)
    for _ in range(flips):
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    if cut < 0.3:
        buf = buf[: max(1, int(len(buf) * cut / 0.3))]
    name = "tokenizer_config.json" if kind == "json" else f"f.{kind}"
    path = tmp_path / name
    path.write_bytes(bytes(buf))
    entry = reader.read(Source.from_path(str(path), name, str(tmp_path)), ctx())
    assert isinstance(entry, FileEntry)


@settings(max_examples=40, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "class_name",
                        "config",
                        "module",
                        "registered_name",
                        "function",
                        "function_type",
                        "name",
                        "layers",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=40,
    )
)
def test_fuzz_keras_configs_never_raise(value):
    code, anomalies = analyze_config(value if isinstance(value, dict) else {"config": value})
    assert isinstance(code, list) and isinstance(anomalies, list)
