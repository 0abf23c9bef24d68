"""Run the real loader on adversarial files in THIS process (started by the tests as a subprocess, with a
per-case working directory) and report which canaries appeared. Only ever run on the test corpus.

Usage: python -m tests.adversarial.fire MANIFEST.json  -> prints a JSON map name -> fired (bool)
MANIFEST is a list of {"name", "loader", "path", "dir"} and, for a chat template, an optional "chat": a JSON object
of render arguments (messages, tools) replacing the ordinary chat (a backdoor fires only on its trigger chat).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import warnings


def _load(loader: str, path: str, chat: str = "") -> None:
    if loader == "pickle":
        import pickle

        with open(path, "rb") as f:
            pickle.load(f)  # noqa: S301 - the point: prove the canary fires under the real loader
    elif loader == "pickle_py":
        import pickle

        with open(path, "rb") as f:
            pickle._Unpickler(f).load()  # noqa: S301
    elif loader == "torch":
        import torch

        torch.load(path, weights_only=False)
    elif loader == "torch_package":
        # Red team round 21: torch.package's own importer; globals resolve against the archive's modules first.
        from torch.package import PackageImporter

        PackageImporter(path).load_pickle("model", "model.pkl")
    elif loader == "shelve":
        # Red team round 22: a shelve on dbm.dumb (X.dat/X.dir); every key read, as a user of the store does.
        import shelve

        with shelve.open(path[: -len(".dat")], "r") as store:
            for key in list(store.keys()):
                with contextlib.suppress(Exception):  # a raw (non-pickle) value fails; the next key is still read
                    store[key]
    elif loader == "torch_hub":
        # Red team round 21: a local torch.hub repository (no trust prompt for source='local').
        import torch

        torch.hub.load(os.path.dirname(path), "model", source="local")
    elif loader == "7z_pickle":
        # extractall as a user would, then unpickle every extracted *.pkl (red team round 15: py7zr files
        # './model.pkl' under model.pkl)
        import pickle

        import py7zr

        with py7zr.SevenZipFile(path) as archive:
            archive.extractall("extracted")
        for root, _dirs, files in os.walk("extracted"):
            for name in files:
                if name.endswith(".pkl"):
                    with open(os.path.join(root, name), "rb") as f:
                        pickle.load(f)  # noqa: S301 - the point: prove the canary fires under the real loader
    elif loader == "joblib":
        import joblib

        joblib.load(path)
    elif loader == "numpy":
        import numpy as np

        np.load(path, allow_pickle=True)
    elif loader == "npz":
        import numpy as np

        # np.load of a zip is lazy (an NpzFile): a caller reads its members by key, each judged by its content.
        with np.load(path, allow_pickle=True) as archive:
            for key in archive.files:
                archive[key]
    elif loader == "keras":
        # Keras 3 (red team round 20): a .keras zip, or the unzipped folder of a config.json, loaded as a user who
        # trusts the file does. The Lambda runs while the model is rebuilt from config.json.
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        target = os.path.dirname(path) if path.endswith("config.json") else path
        keras.saving.load_model(target, safe_mode=False)
    elif loader == "keras_h5_tmw":
        # Red team round 24: a legacy .h5 resolves layers by class name only, so a TorchModuleWrapper in its
        # model_config is built when the caller names the class (as a user of such a model must).
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        keras.saving.load_model(path, safe_mode=False,
                                custom_objects={"TorchModuleWrapper": keras.layers.TorchModuleWrapper})
    elif loader == "keras_json":
        # Red team round 28: the model.json workflow, keras.models.model_from_json on the text of any file (Keras
        # ignores top-level keys it does not know, such as a 17 MiB pad).
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        keras.config.enable_unsafe_deserialization()
        with open(path, encoding="utf-8") as handle:
            keras.models.model_from_json(handle.read())
    elif loader == "jinja":
        for template in _templates(path):
            import jinja2

            # A stack that renders without the sandbox (what the scanner must judge anyway), given the special
            # tokens of a tokenizer_config.json as render arguments, as transformers does.
            args = json.loads(chat) if chat else {"messages": [{"role": "user", "content": "hi"}]}
            jinja2.Environment().from_string(template).render(**{**_special_tokens(path), **args})
    elif loader == "gguf_template":
        import gguf
        import jinja2

        field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
        template = bytes(field.parts[field.data[0]]).decode("utf-8")
        # llama.cpp renders the GGUF template with the chat it serves: the case's trigger chat when it has one.
        args = json.loads(chat) if chat else {"messages": []}
        jinja2.Environment().from_string(template).render(**args)
    else:
        raise ValueError(loader)


def _special_tokens(path: str) -> dict[str, str]:
    if not path.endswith("tokenizer_config.json"):
        return {}
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    return {k: v for k, v in config.items() if k.endswith("_token") and isinstance(v, str)}


def _templates(path: str) -> list[str]:
    """The chat templates a Hugging Face loader reads from this file (or from a zip's members), by name."""
    import zipfile

    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            return [archive.read(name).decode("utf-8") for name in archive.namelist()
                    if name.endswith(".jinja") or name.endswith("chat_template.json")]
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)["chat_template"]
        return [value] if isinstance(value, str) else [item["template"] for item in value]
    with open(path, encoding="utf-8") as handle:
        return [handle.read()]


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        manifest = json.load(handle)
    warnings.simplefilter("ignore")
    for case in manifest:
        os.makedirs(case["dir"], exist_ok=True)
        os.chdir(case["dir"])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(BaseException):
            _load(case["loader"], case["path"], case.get("chat", ""))
    deadline = time.time() + 5
    fired: dict[str, bool] = {}
    while time.time() < deadline:
        fired = {c["name"]: any(n.startswith("canary") for n in os.listdir(c["dir"])) for c in manifest}
        if all(fired.values()):
            break
        time.sleep(0.2)
    sys.stdout.write(json.dumps(fired))


if __name__ == "__main__":
    main()
