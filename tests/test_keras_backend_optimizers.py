"""A Keras model compiled under the torch backend saves its optimizer as
``keras.src.backend.torch.optimizers.torch_adam.Adam``: under the "backend" submodule, which the scanner holds
suspect (WW-KERAS-003 high). ``keras_config.BACKEND_OPTIMIZERS`` names those exact classes as the public optimizers
they are. These tests check that claim in the installed Keras source (each listed class exists, subclasses
``optimizers.<Same>`` and defines no constructor or deserialiser of its own; no backend optimizer is missing) and
that a real compiled torch-backend model scans clean while the rest of the backend stays suspect.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from weightwarden.artifact.readers.keras_config import BACKEND_OPTIMIZERS
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

FORBIDDEN_METHODS = {"from_config", "__init__", "__new__", "__reduce__", "__setstate__", "__init_subclass__"}


def _keras_src() -> Path:
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("keras is not installed (the `dev` extra installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "src"


def _backend_optimizer_classes(src: Path) -> dict[str, ast.ClassDef]:
    """Every class in keras/src/backend/<b>/optimizers/*.py that subclasses a public ``optimizers.X``."""
    found: dict[str, ast.ClassDef] = {}
    for path in sorted(src.glob("backend/*/optimizers/*.py")):
        module = "keras.src." + ".".join(path.relative_to(src).with_suffix("").parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).startswith("optimizers.") for base in node.bases
            ):
                found[f"{module}.{node.name}"] = node
    return found


def test_the_table_is_every_backend_optimizer_and_each_is_the_public_one() -> None:
    classes = _backend_optimizer_classes(_keras_src())
    assert classes, "no backend optimizer found: has Keras moved them?"
    assert set(classes) == set(BACKEND_OPTIMIZERS)
    for full, node in classes.items():
        assert f"optimizers.{node.name}" in {ast.unparse(b) for b in node.bases}, full
        own = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
        assert not own & FORBIDDEN_METHODS, (full, own & FORBIDDEN_METHODS)


def _findings(path: Path, strict: bool = False) -> list:
    return list(scan_paths([str(path)], workers=1, strict=strict).findings)


def _keras_zip(path: Path, optimizer: dict) -> Path:
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": []},
              "compile_config": {"optimizer": optimizer, "loss": "mse"}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    return path


def test_backend_optimizer_is_clean_and_other_backend_names_stay_suspect(tmp_path: Path) -> None:
    adam = {"module": "keras.src.backend.torch.optimizers.torch_adam", "class_name": "Adam",
            "config": {"name": "adam", "learning_rate": 0.001}, "registered_name": None}
    assert not [f for f in _findings(_keras_zip(tmp_path / "ok.keras", adam)) if f.severity >= Severity.MEDIUM]
    other = dict(adam, module="keras.src.backend.torch.optimizers.torch_optimizer", class_name="TorchOptimizer")
    rules = {f.rule_id for f in _findings(_keras_zip(tmp_path / "bad.keras", other))}
    assert "WW-KERAS-003" in rules


def test_a_real_compiled_torch_backend_model_scans_clean(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    _keras_src()
    model = tmp_path / "compiled.keras"
    code = ("import keras, sys\n"
            "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
            "m.compile(optimizer=sys.argv[2], loss='mse')\n"
            "m.save(sys.argv[1])\n")
    for optimizer in ("adam", "sgd"):
        subprocess.run([sys.executable, "-c", code, str(model), optimizer], check=True, timeout=300,
                       env=dict(os.environ, KERAS_BACKEND="torch"), capture_output=True)
        found = _findings(model, strict=True)
        assert not found, [(f.rule_id, f.message) for f in found]
