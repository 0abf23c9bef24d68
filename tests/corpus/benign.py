"""Benign corpus entries: real sample models and ordinary files written by the real ML libraries.

These must scan with no finding at LOW or above: torch checkpoints (state dicts, optimizer state,
Lightning-style with ``argparse.Namespace`` hyper-parameters), scikit-learn pipelines via pickle and joblib
(plain and compressed), NumPy, safetensors, GGUF and Hugging Face folders with real chat templates, ONNX
with in-folder external data, Keras H5 / ``.keras``, a SavedModel with the ops every SavedModel has, benign
archives, and symlinks that stay inside the model folder.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from tests.corpus import protobuf as pb
from tests.corpus.registry import BuildContext, benign
from tests.corpus.samples import TEMPLATES, sample_models
from tests.corpus.writers import (
    keras2_dense,
    keras2_sequential,
    keras3_dense,
    keras3_sequential,
    tiny_state_dict,
    torch_save,
    write_gguf,
    write_keras_h5,
    write_keras_zip,
    write_tar,
    write_zip,
)

# -- real sample models -------------------------------------------------------------------------------------


@benign("real_smollm2_gguf", "gguf", "real SmolLM2-135M-Instruct Q4_1 GGUF (with its chat template)")
def _smollm(ctx: BuildContext, folder: Path) -> Path:
    folder.rmdir()
    return sample_models()[0]


@benign("real_minilm_hf_folder", "hf", "real all-MiniLM-L6-v2 Hugging Face folder")
def _minilm(ctx: BuildContext, folder: Path) -> Path:
    folder.rmdir()
    return sample_models()[1]


# -- PyTorch ----------------------------------------------------------------------------------------------


def _trained():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for _ in range(2):
        loss = model(torch.randn(16, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model, opt, sched


@benign("torch_state_dict_zip", "pytorch", "torch.save(state_dict) zip format")
def _sd_zip(ctx: BuildContext, folder: Path) -> None:
    torch_save(tiny_state_dict(), folder / "pytorch_model.bin")


@benign("torch_state_dict_legacy", "pytorch", "torch.save(state_dict, _use_new_zipfile_serialization=False)")
def _sd_legacy(ctx: BuildContext, folder: Path) -> None:
    torch_save(tiny_state_dict(), folder / "model.pt", legacy=True)


@benign(
    "torch_state_dict_dtypes",
    "pytorch",
    "state dict with bf16/fp16/int8/bool/int64 tensors and BatchNorm buffers",
)
def _sd_dtypes(ctx: BuildContext, folder: Path) -> None:
    import torch

    model, _, _ = _trained()
    sd = OrderedDict(model.state_dict())
    sd["extra.bf16"] = torch.ones(3, dtype=torch.bfloat16)
    sd["extra.fp16"] = torch.ones(3, dtype=torch.float16)
    sd["extra.int8"] = torch.arange(3, dtype=torch.int8)
    sd["extra.mask"] = torch.tensor([True, False])
    sd["extra.view"] = sd["0.weight"][1:3]  # a view sharing storage
    torch_save(sd, folder / "model.pth")


@benign("torch_checkpoint_with_optimizer", "pytorch", "model + Adam optimizer state + scheduler + epoch/loss")
def _ckpt(ctx: BuildContext, folder: Path) -> None:
    model, opt, sched = _trained()
    ckpt = {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": opt.state_dict(),
        "scheduler_state_dict": sched.state_dict(),
        "epoch": 12,
        "loss": 0.0123,
        "best_acc": np.float64(0.91),
        "rng_state": np.random.default_rng(0).integers(0, 10, size=4),
        "args": {"lr": 1e-3, "layers": [4, 8, 2], "name": "mlp"},
    }
    torch_save(ckpt, folder / "checkpoint.pt")


def _lightning(legacy: bool):
    def build(ctx: BuildContext, folder: Path) -> None:
        import torch

        model, opt, sched = _trained()
        score = torch.tensor(0.1234)
        ckpt = {
            "epoch": 4,
            "global_step": 500,
            "pytorch-lightning_version": "2.4.0",
            "state_dict": OrderedDict((f"model.{k}", v) for k, v in model.state_dict().items()),
            "loops": {
                "fit_loop": {
                    "state_dict": {},
                    "epoch_loop.state_dict": {"_batches_that_stepped": 500},
                    "epoch_progress": {"total": {"ready": 5, "started": 5, "processed": 5, "completed": 4}},
                }
            },
            "callbacks": {
                "ModelCheckpoint{'monitor': 'val_loss', 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1, "
                "'train_time_interval': None}": {
                    "monitor": "val_loss",
                    "best_model_score": score,
                    "best_model_path": "/ckpts/epoch=3-step=400.ckpt",
                    "current_score": score,
                    "dirpath": "/ckpts",
                    "best_k_models": {"/ckpts/epoch=3-step=400.ckpt": score},
                    "kth_best_model_path": "/ckpts/epoch=3-step=400.ckpt",
                    "kth_value": score,
                    "last_model_path": "",
                },
                "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {
                    "wait_count": 0,
                    "stopped_epoch": 0,
                    "best_score": score,
                    "patience": 3,
                },
            },
            "optimizer_states": [opt.state_dict()],
            "lr_schedulers": [sched.state_dict()],
            "hparams_name": "kwargs",
            "hyper_parameters": argparse.Namespace(
                lr=1e-3, hidden=8, batch_size=16, optimizer="adam", data_dir="/data"
            ),
        }
        torch_save(ckpt, folder / "epoch=4-step=500.ckpt", legacy=legacy)

    return build


benign("lightning_checkpoint", "pytorch", "Lightning-style checkpoint, hyper_parameters=argparse.Namespace")(
    _lightning(False)
)
benign("lightning_checkpoint_legacy", "pytorch", "Lightning-style checkpoint in the legacy torch format")(
    _lightning(True)
)


# -- scikit-learn -----------------------------------------------------------------------------------------


def _sklearn_models():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    return pipe, forest


@benign("sklearn_pipeline_pickle", "sklearn", "pickle.dumps(StandardScaler+LogisticRegression Pipeline)")
def _skl_pipe_pkl(ctx: BuildContext, folder: Path) -> None:
    ctx.write_pickle(folder / "model.pkl", pickle.dumps(_sklearn_models()[0]))


@benign("sklearn_random_forest_pickle", "sklearn", "pickle.dumps(RandomForestClassifier), protocol 2")
def _skl_rf_pkl(ctx: BuildContext, folder: Path) -> None:
    ctx.write_pickle(folder / "forest.pkl", pickle.dumps(_sklearn_models()[1], protocol=2))


def _skl_joblib(which: int, compress: str | None):
    def build(ctx: BuildContext, folder: Path) -> None:
        import joblib

        joblib.dump(
            _sklearn_models()[which], folder / "model.joblib", compress=(compress, 3) if compress else 0
        )

    return build


benign("sklearn_pipeline_joblib", "sklearn", "joblib.dump(Pipeline)")(_skl_joblib(0, None))
benign("sklearn_random_forest_joblib", "sklearn", "joblib.dump(RandomForest)")(_skl_joblib(1, None))
for _which, _c in ((1, "zlib"), (0, "gzip"), (1, "lz4"), (0, "xz"), (1, "bz2"), (0, "lzma")):
    benign(f"sklearn_joblib_{_c}", "sklearn", f"joblib.dump compressed with {_c}")(_skl_joblib(_which, _c))


@benign("pickle_plain_data", "pickle", "pickle of plain data: dicts, lists, OrderedDict, tuples, bytes")
def _plain(ctx: BuildContext, folder: Path) -> None:
    data = {
        "vocab": ["a", "b"],
        "merges": [("a", "b")],
        "order": OrderedDict(a=1),
        "blob": b"\x00\x01",
        "f": 1.5,
    }
    ctx.write_pickle(folder / "vocab.pkl", pickle.dumps(data, protocol=4))


# -- NumPy / safetensors ------------------------------------------------------------------------------------


@benign("numpy_npy_float32", "numpy", "np.save of a float32 matrix")
def _npy(ctx: BuildContext, folder: Path) -> None:
    np.save(folder / "embeddings.npy", np.random.default_rng(0).random((16, 8), dtype=np.float32))


@benign("numpy_npz_numeric", "numpy", "np.savez and np.savez_compressed of numeric and structured arrays")
def _npz(ctx: BuildContext, folder: Path) -> None:
    structured = np.zeros(3, dtype=[("id", "<i8"), ("score", "<f4")])
    np.savez(folder / "arrays.npz", a=np.arange(10), b=np.eye(3), s=structured)
    np.savez_compressed(folder / "arrays_compressed.npz", a=np.arange(10, dtype=np.int16))


@benign("safetensors_numpy", "safetensors", "safetensors.numpy.save_file with several dtypes and metadata")
def _st(ctx: BuildContext, folder: Path) -> None:
    from safetensors.numpy import save_file

    tensors = {
        "embed.weight": np.ones((8, 4), dtype=np.float32),
        "norm.weight": np.ones(4, dtype=np.float16),
        "ids": np.arange(5, dtype=np.int64),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 4}))


# -- GGUF and chat templates ----------------------------------------------------------------------------------


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text()


@benign("gguf_writer_llama3_template", "gguf", "GGUFWriter file with the real Llama-3 chat template")
def _gguf_llama3(ctx: BuildContext, folder: Path) -> None:
    write_gguf(folder / "model.gguf", _template("chujiezheng/llama-3-instruct.jinja"))


@benign(
    "gguf_writer_qwen3_template",
    "gguf",
    "GGUFWriter file with the real Qwen3 chat template (tools, namespace)",
)
def _gguf_qwen3(ctx: BuildContext, folder: Path) -> None:
    write_gguf(folder / "model.gguf", _template("llama.cpp/Qwen-Qwen3-0.6B.jinja"))


@benign("gguf_writer_no_template", "gguf", "GGUFWriter file with no chat template")
def _gguf_none(ctx: BuildContext, folder: Path) -> None:
    write_gguf(folder / "model.gguf", None)


def _tokenizer_config(template: object) -> str:
    return json.dumps(
        {
            "add_bos_token": True,
            "bos_token": "<s>",
            "eos_token": "</s>",
            "model_max_length": 8192,
            "tokenizer_class": "PreTrainedTokenizerFast",
            "chat_template": template,
        },
        indent=2,
    )


_HF_TEMPLATES = {
    "llama31": "llama.cpp/meta-llama-Llama-3.1-8B-Instruct.jinja",
    "deepseek_r1": "llama.cpp/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
    "hermes3_tool_use": "llama.cpp/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
    "functionary": "llama.cpp/meetkai-functionary-medium-v3.1.jinja",
    "gpt_oss": "llama.cpp/openai-gpt-oss-120b.jinja",
    "mistral": "chujiezheng/mistral-instruct.jinja",
}

for _key, _path in _HF_TEMPLATES.items():

    def _hf(path: str = _path):
        def build(ctx: BuildContext, folder: Path) -> None:
            (folder / "tokenizer_config.json").write_text(_tokenizer_config(_template(path)))

        return build

    benign(f"hf_tokenizer_config_{_key}", "hf", f"tokenizer_config.json with the real {_path} template")(
        _hf()
    )


@benign(
    "hf_tokenizer_config_template_list",
    "hf",
    "chat_template in list form (default + tool_use), real templates",
)
def _hf_list(ctx: BuildContext, folder: Path) -> None:
    templates = [
        {
            "name": "default",
            "template": _template("llama.cpp/CohereForAI-c4ai-command-r-plus-tool_use.jinja"),
        },
        {
            "name": "tool_use",
            "template": _template("llama.cpp/NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja"),
        },
    ]
    (folder / "tokenizer_config.json").write_text(_tokenizer_config(templates))


@benign("hf_chat_template_jinja_file", "hf", "chat_template.jinja file (real Kimi-K2 template)")
def _hf_jinja(ctx: BuildContext, folder: Path) -> None:
    (folder / "chat_template.jinja").write_text(_template("llama.cpp/moonshotai-Kimi-K2.jinja"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 4096}))


@benign(
    "hf_all_real_chat_templates",
    "hf",
    "every real template in shared/datasets/chat-templates, one folder each",
)
def _hf_all(ctx: BuildContext, folder: Path) -> None:
    for path in sorted(TEMPLATES.rglob("*.jinja")):
        sub = folder / f"{path.parent.name}--{path.stem}"
        sub.mkdir()
        (sub / "tokenizer_config.json").write_text(_tokenizer_config(path.read_text()))


_README = """---
license: apache-2.0
language: [en]
tags: [text-generation, pytorch, safetensors]
---

# tiny-model

A tiny model. Paper: https://arxiv.org/abs/2401.00001 · Code: https://github.com/example/tiny-model
Weights mirrored at http://example.org/weights and [the hub](https://huggingface.co/example/tiny-model).

## Usage

```bash
pip install -U transformers torch
curl -L https://example.org/install.sh | sh   # optional helper
wget https://huggingface.co/example/tiny-model/resolve/main/model.safetensors
```

```python
import os
import subprocess
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

tok = AutoTokenizer.from_pretrained("example/tiny-model", trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained("example/tiny-model")
state = torch.load("pytorch_model.bin", map_location="cpu")
os.environ["TOKENIZERS_PARALLELISM"] = "false"
subprocess.run(["nvidia-smi"], check=False)
eval_results = eval("1 + 1")
```

{{ messages }} and {% raw %}{{ ''.__class__ }}{% endraw %} appear here only as documentation.
"""


@benign(
    "hf_folder_readme_urls_code",
    "hf",
    "HF folder: README.md full of URLs and code blocks, config, safetensors",
)
def _hf_readme(ctx: BuildContext, folder: Path) -> None:
    from safetensors.numpy import save_file

    (folder / "README.md").write_text(_README)
    (folder / "config.json").write_text(
        json.dumps({"model_type": "llama", "hidden_size": 8, "_name_or_path": "https://x"})
    )
    (folder / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.7}))
    (folder / "special_tokens_map.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": "</s>"}))
    (folder / "tokenizer_config.json").write_text(_tokenizer_config(_template("chujiezheng/zephyr.jinja")))
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    save_file({"w": np.ones((2, 2), dtype=np.float32)}, str(folder / "model.safetensors"))


# -- ONNX / Keras / SavedModel ------------------------------------------------------------------------------


@benign(
    "onnx_standard_ops_external_data",
    "onnx",
    "ONNX with standard + ai.onnx.ml ops and in-folder external data",
)
def _onnx(ctx: BuildContext, folder: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.random((4, 8), dtype=np.float32), "W1"),
        numpy_helper.from_array(np.zeros(8, dtype=np.float32), "B1"),
        numpy_helper.from_array(rng.random((8, 2), dtype=np.float32), "W2"),
    ]
    nodes = [
        helper.make_node("Scaler", ["X"], ["Xs"], domain="ai.onnx.ml", offset=[0.0] * 4, scale=[1.0] * 4),
        helper.make_node("MatMul", ["Xs", "W1"], ["H"]),
        helper.make_node("Add", ["H", "B1"], ["Hb"]),
        helper.make_node("Relu", ["Hb"], ["Hr"]),
        helper.make_node("MatMul", ["Hr", "W2"], ["L"]),
        helper.make_node("Softmax", ["L"], ["Y"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    onnx.save_model(
        model,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )


@benign("onnx_inline_weights", "onnx", "ONNX with inline initializers, Conv/Gemm/BatchNormalization")
def _onnx_inline(ctx: BuildContext, folder: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.ones((2, 1, 3, 3), dtype=np.float32), "K"),
        numpy_helper.from_array(np.ones((8, 2), dtype=np.float32), "G"),
    ]
    nodes = [
        helper.make_node("Conv", ["X", "K"], ["C"], pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["C"], ["F"]),
        helper.make_node("Gemm", ["F", "G"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (folder / "model.onnx").write_bytes(model.SerializeToString())


@benign("keras_h5_dense", "keras", "Keras 2 H5 (h5py, Keras layout) with Dense layers")
def _h5(ctx: BuildContext, folder: Path) -> None:
    cfg = keras2_sequential([keras2_dense("dense", 3), keras2_dense("dense_1", 1, "sigmoid")])
    weights = {
        "dense": {"kernel": np.ones((4, 3), np.float32), "bias": np.zeros(3, np.float32)},
        "dense_1": {"kernel": np.ones((3, 1), np.float32), "bias": np.zeros(1, np.float32)},
    }
    write_keras_h5(folder / "model.h5", cfg, weights)


@benign("keras_zip_dense", "keras", "Keras 3 .keras zip with Dense layers")
def _keras(ctx: BuildContext, folder: Path) -> None:
    write_keras_zip(folder / "model.keras", keras3_sequential([keras3_dense("dense", 2, "softmax")]))


_SM_FUNCS = {
    "__inference_serving_default_118": [
        ("r", "ReadVariableOp"),
        ("m", "MatMul"),
        ("b", "BiasAdd"),
        ("a", "Relu"),
        ("i", "Identity"),
    ],
    "__inference__traced_save_201": [
        ("c", "Const"),
        ("sj", "StringJoin"),
        ("sf", "ShardedFilename"),
        ("rx", "StaticRegexFullMatch"),
        ("sel", "Select"),
        ("sv", "SaveV2"),
        ("pk", "Pack"),
        ("mg", "MergeV2Checkpoints"),
        ("id", "Identity"),
        ("n", "NoOp"),
    ],
    "__inference__traced_restore_240": [
        ("rs", "RestoreV2"),
        ("av", "AssignVariableOp"),
        ("dc", "DisableCopyOnRead"),
        ("id", "Identity"),
        ("n", "NoOp"),
    ],
}


@benign(
    "savedmodel_ordinary_ops",
    "tf",
    "SavedModel with the ops every Keras export has (Save/Restore/Partitioned calls)",
)
def _sm(ctx: BuildContext, folder: Path) -> None:
    nodes = [
        pb.node("serving_default_x", "Placeholder", attrs={"dtype": pb.attr_value_type(1)}),
        pb.node(
            "dense/kernel",
            "VarHandleOp",
            attrs={"dtype": pb.attr_value_type(1), "shared_name": pb.attr_value_s("dense/kernel")},
        ),
        pb.node("dense/kernel/Read", "ReadVariableOp", ("dense/kernel",)),
        pb.node("Const", "Const", attrs={"dtype": pb.attr_value_type(7)}),
        pb.node("StatefulPartitionedCall", "StatefulPartitionedCall", ("serving_default_x", "dense/kernel")),
        pb.node("saver_filename", "Placeholder"),
        pb.node(
            "StatefulPartitionedCall_1",
            "StatefulPartitionedCall",
            ("saver_filename", "dense/kernel", "Const"),
        ),
        pb.node("StatefulPartitionedCall_2", "StatefulPartitionedCall", ("saver_filename", "dense/kernel")),
        pb.node("NoOp", "NoOp"),
        pb.node("PartitionedCall", "PartitionedCall"),
    ]
    funcs = [pb.function(name, [pb.node(n, op) for n, op in ops]) for name, ops in _SM_FUNCS.items()]
    all_ops = tuple(
        {op for ops in _SM_FUNCS.values() for _, op in ops}
        | {"VarHandleOp", "StatefulPartitionedCall", "PartitionedCall"}
    )
    (folder / "variables").mkdir()
    (folder / "assets").mkdir()
    (folder / "saved_model.pb").write_bytes(pb.saved_model(pb.graph(nodes, funcs), all_ops))


# -- archives / filesystem ------------------------------------------------------------------------------------


def _st_bytes() -> bytes:
    from safetensors.numpy import save

    return save({"w": np.ones((3, 3), dtype=np.float32)}, metadata={"format": "pt"})


@benign(
    "zip_of_benign_models",
    "archive",
    "zip holding safetensors, config and tokenizer_config with a real template",
)
def _zip(ctx: BuildContext, folder: Path) -> None:
    write_zip(
        folder / "release.zip",
        {
            "model/model.safetensors": _st_bytes(),
            "model/config.json": json.dumps({"model_type": "llama"}).encode(),
            "model/tokenizer_config.json": _tokenizer_config(_template("chujiezheng/chatml.jinja")).encode(),
        },
    )


@benign("tar_gz_of_benign_models", "archive", "tar.gz holding a torch state dict and a .npy")
def _tgz(ctx: BuildContext, folder: Path) -> None:
    pt = torch_save(tiny_state_dict(), ctx.dest / ".scratch" / f"{ctx.name}.pt").read_bytes()
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float32))
    write_tar(
        folder / "release.tar.gz", {"model/pytorch_model.bin": pt, "model/stats.npy": buf.getvalue()}, "w:gz"
    )


@benign("sevenzip_of_safetensors", "archive", "7z holding a safetensors file and a sklearn joblib")
def _7z(ctx: BuildContext, folder: Path) -> None:
    import joblib
    import py7zr

    buf = io.BytesIO()
    joblib.dump(_sklearn_models()[0], buf)
    with py7zr.SevenZipFile(folder / "release.7z", "w") as z:
        z.writestr(_st_bytes(), "model.safetensors")
        z.writestr(buf.getvalue(), "pipeline.joblib")


@benign("zip_stored_torch_in_zip", "archive", "torch checkpoint (itself a zip) stored in a zip")
def _zip_torch(ctx: BuildContext, folder: Path) -> None:
    pt = torch_save(tiny_state_dict(), ctx.dest / ".scratch" / f"{ctx.name}.pt").read_bytes()
    write_zip(folder / "bundle.zip", {"weights/model.pt": pt}, zipfile.ZIP_STORED)


@benign(
    "symlink_inside_folder",
    "fs",
    "HF-cache layout: snapshots/main/* -> ../../blobs/<sha256> (inside the folder)",
)
def _links(ctx: BuildContext, folder: Path) -> None:
    blobs = folder / "blobs"
    blobs.mkdir()
    data = _st_bytes()
    sha = hashlib.sha256(data).hexdigest()
    (blobs / sha).write_bytes(data)
    cfg = json.dumps({"model_type": "bert"}).encode()
    (blobs / hashlib.sha256(cfg).hexdigest()).write_bytes(cfg)
    snap = folder / "snapshots" / "main"
    snap.mkdir(parents=True)
    os.symlink(f"../../blobs/{sha}", snap / "model.safetensors")
    os.symlink(f"../../blobs/{hashlib.sha256(cfg).hexdigest()}", snap / "config.json")
    os.symlink("model.safetensors", snap / "weights.safetensors")


@benign(
    "sklearn_column_transformer_gbm",
    "sklearn",
    "ColumnTransformer(OneHotEncoder, SimpleImputer) + GradientBoosting, joblib",
)
def _skl_ct(ctx: BuildContext, folder: Path) -> None:
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(1)
    X = np.empty((60, 3), dtype=object)
    X[:, 0] = rng.choice(["red", "green", "blue"], 60)
    X[:, 1] = rng.normal(size=60)
    X[:, 2] = rng.normal(size=60)
    y = (X[:, 1].astype(float) > 0).astype(int)
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), [0]), ("num", SimpleImputer(), [1, 2])]
    )
    model = Pipeline([("pre", pre), ("gbm", GradientBoostingClassifier(n_estimators=5, random_state=0))]).fit(
        X, y
    )
    joblib.dump(model, folder / "model.joblib", compress=3)


@benign("sklearn_text_pipeline", "sklearn", "TfidfVectorizer + LinearSVC + KMeans, pickle protocol 5")
def _skl_text(ctx: BuildContext, folder: Path) -> None:
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    docs = ["good model", "bad model", "good weights", "bad weights", "fine tune", "safe load"] * 3
    labels = [1, 0, 1, 0, 1, 1] * 3
    text = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), LinearSVC()).fit(docs, labels)
    kmeans = KMeans(n_clusters=2, n_init=2, random_state=0).fit(np.random.default_rng(0).random((20, 2)))
    ctx.write_pickle(folder / "text.pkl", pickle.dumps({"text": text, "clusters": kmeans}, protocol=5))


@benign(
    "onnx_local_functions",
    "onnx",
    "ONNX with model-local functions (domain pkg.torch...) as the torch dynamo exporter writes",
)
def _onnx_functions(ctx: BuildContext, folder: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    domain = "pkg.torch.2.5.0"
    body = [
        helper.make_node("Mul", ["x", "x"], ["sq"]),
        helper.make_node("Sigmoid", ["x"], ["sg"]),
        helper.make_node("Mul", ["x", "sg"], ["y"]),
    ]
    silu = helper.make_function(
        domain, "torch_nn_modules_activation_SiLU_act_1", ["x"], ["y"], body, [helper.make_opsetid("", 18)]
    )
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["H"]),
            helper.make_node("torch_nn_modules_activation_SiLU_act_1", ["H"], ["Y"], domain=domain),
        ],
        "main_graph",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(np.eye(4, dtype=np.float32), "W")],
    )
    opsets = [helper.make_opsetid("", 18), helper.make_opsetid(domain, 1)]
    model = helper.make_model(
        graph, functions=[silu], opset_imports=opsets, producer_name="pytorch", producer_version="2.5.0"
    )
    (folder / "model.onnx").write_bytes(model.SerializeToString())


@benign(
    "torch_checkpoint_python_types",
    "pytorch",
    "checkpoint metadata: torch dtype/device/Size, datetime, set, defaultdict, Path",
)
def _py_types(ctx: BuildContext, folder: Path) -> None:
    import collections
    import datetime
    import pathlib

    import torch

    ckpt = {
        "state_dict": tiny_state_dict(),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "shape": torch.Size([4, 3]),
        "saved_at": datetime.datetime(2024, 5, 1, 12, 30),
        "elapsed": datetime.timedelta(hours=3),
        "tags": {"fp16", "ema"},
        "frozen": frozenset({"encoder"}),
        "history": collections.defaultdict(list, {"loss": [0.5, 0.4]}),
        "complex": complex(1, 2),
        "output_dir": pathlib.PurePosixPath("/runs/exp1"),
    }
    torch_save(ckpt, folder / "checkpoint.pt")


@benign(
    "torch_checkpoint_numpy_rng_state", "pytorch", "checkpoint with numpy Generator and RandomState objects"
)
def _np_rng(ctx: BuildContext, folder: Path) -> None:
    ckpt = {
        "state_dict": tiny_state_dict(),
        "np_generator": np.random.default_rng(0),
        "np_random_state": np.random.RandomState(0),
        "python_random": __import__("random").Random(0).getstate(),
    }
    torch_save(ckpt, folder / "checkpoint.pt")


@benign(
    "pickle_protocol2_compat_names",
    "pickle",
    "protocol-2 pickle of int/str/range by reference (written as __builtin__.long...)",
)
def _compat(ctx: BuildContext, folder: Path) -> None:
    import collections

    # With protocol < 3, pickle writes Python 2 names (builtins.int -> __builtin__.long, str -> unicode,
    # range -> xrange); the unpickler maps them back. torch.save uses protocol 2, so checkpoints hold these.
    data = {
        "counts": collections.defaultdict(int, {"steps": 3}),
        "casts": [int, str, float, bool],
        "r": range(3),
    }
    ctx.write_pickle(folder / "meta.pkl", pickle.dumps(data, protocol=2))


@benign(
    "hdf5_weights_and_data", "keras", "Keras save_weights() H5 (no model_config) and a plain HDF5 dataset"
)
def _h5_weights(ctx: BuildContext, folder: Path) -> None:
    import h5py

    with h5py.File(folder / "model.weights.h5", "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["layer_names"] = np.array([b"dense"], dtype="S")
        g = f.create_group("dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0"], dtype="S")
        g.create_group("dense").create_dataset("kernel:0", data=np.ones((4, 2), np.float32))
    with h5py.File(folder / "features.hdf5", "w") as f:
        f.create_dataset("train/x", data=np.zeros((10, 3)), compression="gzip")
        f["train"].attrs["description"] = "features; see https://example.org/data"


@benign("hf_sharded_safetensors", "hf", "HF folder with sharded safetensors and model.safetensors.index.json")
def _sharded(ctx: BuildContext, folder: Path) -> None:
    from safetensors.numpy import save_file

    weight_map = {}
    for i, names in enumerate((["embed.weight", "layers.0.w"], ["layers.1.w", "lm_head.weight"]), start=1):
        shard = f"model-{i:05d}-of-00002.safetensors"
        save_file(
            {n: np.ones((2, 2), dtype=np.float32) for n in names},
            str(folder / shard),
            metadata={"format": "pt"},
        )
        weight_map.update(dict.fromkeys(names, shard))
    index = {"metadata": {"total_size": 64}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    (folder / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    )
