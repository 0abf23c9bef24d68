"""Red team round 20 on the scanner's readers, class B (report: issues/rt-scanreaders-round20.md): a Keras
``config.json`` was analysed only when the zip was classified a ".keras" (config.json plus metadata.json or
model.weights.h5, and no data.pkl that made it a PyTorch zip first), and a loose config.json never.

Keras 3 builds the model from config.json before it looks at the weights, never reads metadata.json, accepts
model.weights.npz, and loads an unzipped folder. Now every JSON file the scanner reads (a zip member under any
name and beside any siblings, a loose file in a folder, a zip behind another format) whose structure holds a Keras
serialized object (class_name + config, anywhere: Keras recurses through plain dicts) gets the Keras config
analysis; a zip that is both a PyTorch and a Keras zip is ``format.polyglot`` (WW-FS-006, high). The generic
config.json of transformers models has no such object and stays clean.

Victim proofs run ``keras.saving.load_model(path, safe_mode=False)`` through tests/adversarial/fire.py in a
subprocess. Keras is no dependency of weightwarden: the proofs run when ``import keras`` works in the test
interpreter, or with ``WW_TEST_KERAS_PATH`` naming a folder that holds keras (e.g. a ``pip install --target``
folder); otherwise they are skipped. The scanner side always runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.adversarial.generate import (
    KERAS,
    Case,
    r20_empty_npz,
    r20_keras_config,
    r20_keras_zip,
    round20_keras_cases,
)
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

ROOT = Path(__file__).resolve().parent.parent
POLYGLOT, MODREF = "WW-FS-006", "WW-KERAS-002"


def _write(root: Path, case: Case) -> Path:
    path = root / case.name / case.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(case.data)
    return path


def _scan_target(path: Path) -> Path:
    return path.parent if path.name == "config.json" else path


def _findings(path: Path) -> dict[str, Severity]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return {f.rule_id: f.severity for f in report.findings}


def _cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "weightwarden", "scan", "--strict", "--fail-on", "info", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


# -- the PoCs: scanner side (always) and victim side (when keras imports) --------------------------------------------


@pytest.mark.parametrize("case", round20_keras_cases(), ids=lambda c: c.name)
def test_each_case_is_critical_and_fails_the_cli(tmp_path: Path, case: Case) -> None:
    path = _scan_target(_write(tmp_path, case))
    found = _findings(path)
    assert found.get(KERAS) == Severity.CRITICAL, (case.name, found)
    run = _cli(path)
    assert run.returncode != 0, (case.name, run.stdout[-2000:], run.stderr[-2000:])


def test_every_case_fires_under_keras_load_model(tmp_path: Path, keras_env: dict[str, str]) -> None:
    cases = round20_keras_cases()
    manifest = [{"name": c.name, "loader": c.loader, "path": str(_write(tmp_path / "files", c)),
                 "dir": str(tmp_path / "cwd" / c.name)} for c in cases]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tests.adversarial.fire", str(tmp_path / "manifest.json")],
                         cwd=ROOT, env=keras_env, capture_output=True, text=True, timeout=600, check=False)
    fired = json.loads(run.stdout.strip().splitlines()[-1])
    silent = sorted(name for name, ok in fired.items() if not ok)
    assert not silent, f"cases that do not run under keras.saving.load_model: {silent}\n{run.stderr[-2000:]}"
    assert len(fired) == len(cases)


def test_torch_and_keras_zip_is_a_polyglot(tmp_path: Path) -> None:
    case = next(c for c in round20_keras_cases() if c.name == "round20_keras_with_data_pkl")
    found = _findings(_write(tmp_path, case))
    assert found.get(POLYGLOT) == Severity.HIGH, found
    assert found.get(KERAS) == Severity.CRITICAL, found


def test_torch_save_plus_keras_config_is_a_polyglot(tmp_path: Path) -> None:
    """A real torch.save archive (prefix archive/) with a Keras config.json added at the root."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "both.pt"
    torch.save({"w": torch.arange(4.0)}, path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("config.json", json.dumps(r20_keras_config()))
    found = _findings(path)
    assert found.get(POLYGLOT) == Severity.HIGH and found.get(KERAS) == Severity.CRITICAL, found


def test_torch_save_alone_is_no_polyglot(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "plain.pt"
    torch.save({"w": torch.arange(4.0)}, path)
    assert not _findings(path)


# -- the CVE-2025-1550 module reference without metadata (scanner only in the report) ----------------------------


def _modref_config() -> dict[str, object]:
    cfg = r20_keras_config()
    lam = cfg["config"]["layers"][1]  # type: ignore[index]
    lam["config"]["function"] = {"module": "os", "class_name": "function", "config": "system", "registered_name": None}
    return cfg


@pytest.mark.parametrize("siblings", [{}, {"model.weights.npz": r20_empty_npz()}, {"metadata.json": b"{}"}],
                         ids=["bare", "npz", "meta"])
def test_module_reference_is_critical_whatever_the_siblings(tmp_path: Path, siblings: dict[str, bytes]) -> None:
    path = tmp_path / "modref.keras"
    path.write_bytes(r20_keras_zip(siblings, json.dumps(_modref_config()).encode()))
    assert _findings(path).get(MODREF) == Severity.CRITICAL


# -- loose JSON: decided by structure, not by name ------------------------------------------------------------------


def test_loose_config_under_another_name_and_nested(tmp_path: Path) -> None:
    """model_from_json reads any file, and Keras recurses through plain dicts: the object need not be at the top."""
    (tmp_path / "model.json").write_text(json.dumps(_modref_config()))
    (tmp_path / "wrapped.json").write_text(json.dumps({"model": {"whatever": [_modref_config()]}}))
    report = scan_paths([str(tmp_path)], workers=1)
    files = {f.file.rsplit("/", 1)[-1] for f in report.findings if f.rule_id == MODREF}
    assert files == {"model.json", "wrapped.json"}, [(f.file, f.rule_id) for f in report.findings]


def test_top_level_list_of_objects(tmp_path: Path) -> None:
    """Keras deserialises each item of a list (config.json is read as JSON by its name, whatever it starts with)."""
    (tmp_path / "config.json").write_text(json.dumps([{"x": 1}, _modref_config()]))
    assert _findings(tmp_path).get(MODREF) == Severity.CRITICAL


def test_escaped_keys_are_still_keras(tmp_path: Path) -> None:
    """JSON key escapes ("\\u0063lass_name") decode to class_name: the test is on the parsed structure."""
    text = json.dumps(_modref_config()).replace('"class_name"', '"\\u0063lass_name"')
    (tmp_path / "config.json").write_text(text)
    assert _findings(tmp_path).get(MODREF) == Severity.CRITICAL


def test_nested_zip_member_config(tmp_path: Path) -> None:
    """A .keras inside a zip (any depth the archive walk reads) is analysed the same way."""
    inner = r20_keras_zip({"model.weights.npz": r20_empty_npz()})
    path = tmp_path / "outer.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("models/m.keras", inner)
    assert _findings(path).get(KERAS) == Severity.CRITICAL


def test_benign_keras_config_and_zip_stay_clean(tmp_path: Path) -> None:
    """A Keras model of built-in layers only (Dense, InputLayer, DTypePolicy, initializers) has no finding in any form."""
    from tests.corpus.writers import keras3_dense, keras3_sequential

    cfg = json.dumps(keras3_sequential([keras3_dense()])).encode()
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "config.json").write_bytes(cfg)
    (tmp_path / "bare.keras").write_bytes(r20_keras_zip({}, cfg))
    (tmp_path / "npz.keras").write_bytes(r20_keras_zip({"model.weights.npz": r20_empty_npz()}, cfg))
    report = scan_paths([str(tmp_path)], workers=1)
    assert not report.errors and not [f for f in report.findings if f.severity.at_least(Severity.INFO)], \
        [(f.file, f.rule_id) for f in report.findings]


# -- no false positives on the generic config.json of transformers models -------------------------------------------


def test_real_minilm_folder_stays_clean() -> None:
    folder = ROOT / ".cache" / "models" / "all-MiniLM-L6-v2"
    if not folder.is_dir():
        pytest.skip("the real sample model is not in .cache")
    report = scan_paths([str(folder)], workers=1)
    assert not report.findings and not report.errors


def test_every_transformers_config_is_not_keras(tmp_path: Path) -> None:
    """The default config.json of every model type transformers knows: none looks like a Keras config."""
    pytest.importorskip("transformers")
    import logging
    import warnings

    from transformers import CONFIG_MAPPING

    from weightwarden.artifact.readers.keras_config import looks_like_keras_config

    logging.getLogger("transformers").setLevel(logging.ERROR)
    checked, keras_like = 0, []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model_type in CONFIG_MAPPING:
            try:
                value = json.loads(CONFIG_MAPPING[model_type]().to_json_string())
            except Exception:  # noqa: BLE001, S112 - a config class that needs arguments is no sample
                continue
            checked += 1
            if looks_like_keras_config(value):
                keras_like.append(model_type)
    assert checked >= 200 and not keras_like, (checked, keras_like)
    # One real folder shape end to end: a BERT config.json beside a tokenizer config.
    (tmp_path / "config.json").write_text(CONFIG_MAPPING["bert"]().to_json_string())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    report = scan_paths([str(tmp_path)], workers=1)
    assert not report.findings and not report.errors


def test_duplicate_config_member_in_a_keras_zip_is_read_too(tmp_path: Path) -> None:
    """Two members named config.json: the .keras branch analyses the one zipfile opens (the last); the other, which
    another reader may take, is no longer dropped unread."""
    import warnings

    from tests.corpus.writers import keras3_dense, keras3_sequential

    path = tmp_path / "dup.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", json.dumps(_modref_config()))
            z.writestr("metadata.json", b"{}")
            z.writestr("config.json", json.dumps(keras3_sequential([keras3_dense()])))
    assert _findings(path).get(MODREF) == Severity.CRITICAL
