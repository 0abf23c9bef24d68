"""Red team round 26 on the scanner's readers (issues/rt-scanreaders-round26.md).

Keras 3.15's ``deserialize_keras_object`` builds any JSON value it is given as a config: a top-level array item by
item, a dict without class_name value by value; a TorchModuleWrapper item runs torch.load on its pickle before the
caller finds that the result is no model. The scanner read only configs that were JSON objects:

A1. an Orbax ``_strings.json`` ``config`` string ``"[<model config>]"`` was skipped (the string test accepted only
    "{"), and WW-KERAS-012 was satisfied by any Keras config in the model_config folder (a decoy key or file);
A2. a ``.keras`` zip whose config.json is ``[...]`` stopped at WW-KERAS-006 without reading the embedded pickle.

Now every entry point walks any JSON value, string configs may start with "[", and WW-KERAS-012 judges the
``config`` entry of ``_strings.json`` (what ``saving_api._load_model_from_orbax_checkpoint`` hands to
``_model_from_config``). The victim proof runs the real Keras in a subprocess and is skipped when it is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_scan_round24_keras_torch import (
    RAW_PICKLE,
    _b64,
    _findings,
    _folder,
    _keras_zip,
    _legacy_h5,
    _severity,
    _torch_zip,
    tmw_config,
)
from tests.test_scan_round25_keras import LAMBDA_LAYER, _model, _orbax
from weightwarden.artifact.readers.keras_config import analyze_config, looks_like_keras_config
from weightwarden.core.findings import Severity

ROOT = Path(__file__).resolve().parent.parent
LAMBDA, ORBAX_UNREAD, PICKLE_CRIT = "WW-KERAS-001", "WW-KERAS-012", "WW-PKL-001"


def _tmw() -> dict[str, Any]:
    return tmw_config(_b64(_torch_zip(RAW_PICKLE)))


# Every top-level JSON shape deserialize_keras_object builds: an object, an array, an array of arrays, a dict
# without class_name holding the model.
SHAPES: dict[str, Any] = {
    "object": lambda m: m,
    "array": lambda m: [m],
    "nested_array": lambda m: [[m]],
    "dict_of": lambda m: {"x": m},
}
PAYLOADS = {"tmw": (_tmw, PICKLE_CRIT), "lambda": (lambda: _model(LAMBDA_LAYER), LAMBDA)}
BENIGN = _model({"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                 "config": {"name": "d", "units": 2}})


def _write(tmp_path: Path, entry: str, config: Any) -> Path:
    if entry == "zip":
        return _keras_zip(tmp_path / "m.keras", config)
    if entry == "folder":
        return _folder(tmp_path / "mdir", config)
    if entry == "h5":
        return _legacy_h5(tmp_path / "m.h5", config)
    if entry == "json_string":  # a JSON string value that is a config, in any JSON file
        (tmp_path / "notes.json").write_text(json.dumps({"payload": "\n " + json.dumps(config)}))
        return tmp_path / "notes.json"
    assert entry == "orbax"
    root = _orbax(tmp_path / "ckpt", {"0": None})
    (root / "0" / "model_config" / "_strings.json").write_text(json.dumps({"config": json.dumps(config)}))
    return root


ENTRIES = ["zip", "folder", "h5", "json_string", "orbax"]


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_every_shape_in_every_entry_point_is_walked(tmp_path: Path, entry: str, shape: str, payload: str) -> None:
    make, rule = PAYLOADS[payload]
    found = _findings(_write(tmp_path, entry, SHAPES[shape](make())))
    assert _severity(found, rule) == Severity.CRITICAL, (entry, shape, found)
    assert _severity(found, ORBAX_UNREAD) is None, found


@pytest.mark.parametrize("entry", ENTRIES)
def test_array_of_benign_layers_has_no_high_finding(tmp_path: Path, entry: str) -> None:
    found = _findings(_write(tmp_path, entry, [BENIGN, BENIGN]))
    assert [f for f in found if f[1].rank >= Severity.HIGH.rank] == [], found


def test_array_config_walk_keeps_the_shape_anomaly() -> None:
    code, anomalies = analyze_config([_model(LAMBDA_LAYER)], "config.json")
    assert [c.details["reason"] for c in code] == ["lambda"]
    assert [a.code for a in anomalies] == ["keras.bad_config"]
    assert looks_like_keras_config({"config": json.dumps([BENIGN])})
    assert looks_like_keras_config({"config": " \n[" + json.dumps(BENIGN) + "]"})


# -- WW-KERAS-012 judges the value Orbax loads, not a decoy -------------------------------------------------------


def _decoy_orbax(tmp_path: Path, config_value: Any, decoy: str) -> Path:
    root = _orbax(tmp_path / "ckpt", {"0": None})
    folder = root / "0" / "model_config"
    strings: dict[str, Any] = {} if config_value is None else {"config": config_value}
    if decoy == "key":
        strings["zz"] = json.dumps(BENIGN)
    elif decoy == "file":
        (folder / "notes.json").write_text(json.dumps(BENIGN))
    (folder / "_strings.json").write_text(json.dumps(strings))
    return root


@pytest.mark.parametrize("decoy", ["none", "key", "file"])
def test_orbax_array_config_beside_a_decoy_is_judged(tmp_path: Path, decoy: str) -> None:
    """The PoC (O/list_decoy, O/list_decoyfile): the real config is read, whatever the decoy."""
    found = _findings(_decoy_orbax(tmp_path, json.dumps([_tmw()]), decoy))
    assert _severity(found, PICKLE_CRIT) == Severity.CRITICAL, found
    assert _severity(found, ORBAX_UNREAD) is None, found


@pytest.mark.parametrize("decoy", ["key", "file"])
@pytest.mark.parametrize("value", ["missing", "not_json", "dict_value", "no_keras_object"])
def test_orbax_unreadable_config_beside_a_decoy_is_high(tmp_path: Path, decoy: str, value: str) -> None:
    config_value = {"missing": None, "not_json": "[{\"class_name\": ", "dict_value": _model(LAMBDA_LAYER),
                    "no_keras_object": json.dumps([{"x": 1}])}[value]
    root = _decoy_orbax(tmp_path, config_value, decoy)
    found = _findings(root)
    assert _severity(found, ORBAX_UNREAD) == Severity.HIGH, (value, decoy, found)


# -- victim side: the real Keras builds every item of an array config.json ----------------------------------------


def test_array_config_fires_under_keras_load_model(tmp_path: Path, keras_torch_env: dict[str, str]) -> None:
    """K/klist.keras: load_model(safe_mode=False) runs the pickle of an array item, then fails on the list."""
    cases = {"zip_array": _keras_zip(tmp_path / "klist.keras", [_tmw()])}
    manifest = [{"name": n, "loader": "keras", "path": str(p), "dir": str(tmp_path / "cwd" / n)}
                for n, p in cases.items()]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tests.adversarial.fire", str(tmp_path / "manifest.json")],
                         cwd=ROOT, env=keras_torch_env, capture_output=True, text=True, timeout=600, check=False)
    fired = json.loads(run.stdout.strip().splitlines()[-1])
    assert fired == dict.fromkeys(cases, True), (fired, run.stderr[-2000:])
    for path in cases.values():
        assert _severity(_findings(path), PICKLE_CRIT) == Severity.CRITICAL
