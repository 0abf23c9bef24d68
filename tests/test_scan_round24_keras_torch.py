"""Red team round 24 on the scanner's readers (issues/rt-scanreaders-round24.md): Keras config values that a
layer's ``from_config`` decodes into a program.

Keras 3 ``TorchModuleWrapper`` stores ``torch.save(module)`` base64-encoded in ``config.module``; Keras 3.15's
``from_config`` hands it to ``torch.load(weights_only=False)`` when safe_mode is off. The scanner took the
string for data (0 findings) in a .keras zip, an unzipped folder and a legacy .h5. Now the value is decoded and
read as a member of its own (``<config>:$.config.layers[1].config.module``), so its pickle gets the usual
findings, and WW-KERAS-009 says the layer unpickles (medium when read, high when it could not be read: absent,
not base64, too large, not a torch file). The table of such decoders and its completeness test are in
tests/test_keras_loaders_table.py.

The scanner side builds every file here without Keras or torch (a raw pickle is what torch.load's legacy path
unpickles first). The victim proofs run ``keras.saving.load_model(path, safe_mode=False)`` through
tests/adversarial/fire.py in a subprocess when keras imports (or ``WW_TEST_KERAS_PATH`` names a folder with it);
otherwise they are skipped with that reason, as in round 20.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.generate import SHELL
from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.readers.keras_config import MAX_BLOBS, analyze_config
from weightwarden.core.findings import Severity
from weightwarden.core.limits import DEFAULT_LIMITS
from weightwarden.scan.engine import scan_paths

ROOT = Path(__file__).resolve().parent.parent
TORCH_MODULE, VOCAB, CUSTOM, PICKLE_CRIT, PICKLE_HIGH = (
    "WW-KERAS-009", "WW-KERAS-010", "WW-KERAS-003", "WW-PKL-001", "WW-PKL-002")

# What torch.load(weights_only=False) runs first on a non-zip, non-tar stream: pickle.load of the "magic number".
RAW_PICKLE = b"cposix\nsystem\n(V" + SHELL.encode() + b"\ntR."
# A pickle naming a real torch class (what a genuine pickled nn.Module names), never loaded here.
MODULE_PICKLE = b"\x80\x02ctorch.nn.modules.linear\nLinear\n)\x81}b."


def _torch_zip(pkl: bytes) -> bytes:
    """The layout of torch.save: <prefix>/data.pkl, <prefix>/version (built with zipfile, no torch)."""
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", b"3\n")
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tmw_config(module: Any = None, *, layer: dict[str, Any] | None = None, drop: bool = False) -> dict[str, Any]:
    """The config.json keras.Sequential([Input((2,)), TorchModuleWrapper(...)]).save() writes (Keras 3.15.1)."""
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    inner: dict[str, Any] = {"name": "tmw", "trainable": True, "dtype": dtype, "output_shape": None,
                             "module": _b64(RAW_PICKLE) if module is None else module}
    if drop:
        del inner["module"]
    tmw = layer or {"module": "keras.layers", "class_name": "TorchModuleWrapper", "registered_name": None}
    tmw = dict(tmw, config=inner)
    inp = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
           "config": {"batch_shape": [None, 2], "dtype": "float32", "sparse": False, "ragged": False,
                      "name": "input_layer", "optional": False}}
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "trainable": True, "dtype": dtype, "layers": [inp, tmw]},
            "build_config": {"input_shape": [None, 2]}, "compile_config": {}}


def _keras_zip(path: Path, config: dict[str, Any]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", json.dumps(config))
    return path


def _folder(path: Path, config: dict[str, Any]) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def _findings(path: Path, strict: bool = False) -> list[tuple[str, Severity, str, str]]:
    report = scan_paths([str(path)], workers=1, strict=strict)
    assert not report.errors, report.errors
    return [(f.rule_id, f.severity, f.file, f.message) for f in report.findings]


def _severity(found: list[tuple[str, Severity, str, str]], rule: str) -> Severity | None:
    sev = [s for r, s, _f, _m in found if r == rule]
    return max(sev, key=lambda s: s.rank) if sev else None


def _cli(path: Path) -> int:
    return subprocess.run([sys.executable, "-m", "weightwarden", "scan", "--strict", "--fail-on", "info", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False).returncode


# -- the PoCs' forms: the pickle is read and judged ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["zip", "folder"])
@pytest.mark.parametrize("payload", ["raw_pickle", "torch_zip"])
def test_payload_in_torch_module_wrapper_is_critical(tmp_path: Path, form: str, payload: str) -> None:
    data = RAW_PICKLE if payload == "raw_pickle" else _torch_zip(RAW_PICKLE)
    cfg = tmw_config(_b64(data))
    path = _keras_zip(tmp_path / "tmw.keras", cfg) if form == "zip" else _folder(tmp_path / "tmwdir", cfg)
    found = _findings(path)
    assert _severity(found, PICKLE_CRIT) == Severity.CRITICAL, found
    assert _severity(found, TORCH_MODULE) == Severity.MEDIUM, found
    # The pickle finding is placed at the config value it came from.
    crit_files = {f for r, _s, f, _m in found if r == PICKLE_CRIT}
    assert any(f.endswith("config.json:$.config.layers[1].config.module") for f in crit_files), crit_files
    assert _cli(path) != 0


def test_benign_module_is_seen_and_judged(tmp_path: Path) -> None:
    path = _keras_zip(tmp_path / "benign.keras", tmw_config(_b64(_torch_zip(MODULE_PICKLE))))
    found = _findings(path)
    assert _severity(found, TORCH_MODULE) == Severity.MEDIUM, found
    assert _severity(found, PICKLE_CRIT) is None, found
    strict = _findings(path, strict=True)  # torch.nn classes are off the strict allowlist, as in any pickle
    assert any(r == PICKLE_HIGH and "torch.nn.modules.linear.Linear" in m for r, _s, _f, m in strict), strict


@pytest.mark.parametrize(
    "module, drop, why",
    [
        (None, True, "no base64 module"),
        (12345, False, "not a base64 string"),
        ("not base64 at all: ~~~~", False, "not base64"),
        ("m\u00f6dule", False, "not ASCII"),
        ("", False, "no base64 module"),
        (_b64(b"just some text, no torch file"), False, "not a file torch.load opens"),
    ],
    ids=["absent", "number", "undecodable", "non_ascii", "empty", "not_torch"],
)
def test_unreadable_module_is_high_never_clean(tmp_path: Path, module: Any, drop: bool, why: str) -> None:
    path = _keras_zip(tmp_path / "bad.keras", tmw_config(module, drop=drop))
    found = _findings(path)
    assert _severity(found, TORCH_MODULE) == Severity.HIGH, found
    assert any(r == TORCH_MODULE and why.split(":")[0] in m for r, _s, _f, m in found) or why == "no base64 module", found


def test_oversized_module_is_high() -> None:
    """The value is bounded like the config text (a config within the bound cannot hold more; a reader that
    hands a larger value over gets a refusal, high)."""
    from weightwarden.artifact.model import FileEntry, Format
    from weightwarden.artifact.readers.keras_config import EmbeddedBlob, read_embedded_blobs

    entry = FileEntry("x", Format.JSON, 0)
    ctx = ReadContext(limits=replace(DEFAULT_LIMITS, max_text_bytes=1024))
    blob = EmbeddedBlob("$.config.module", "layer:tmw", "TorchModuleWrapper", "module", _b64(b"\0" * 4096), True)
    read_embedded_blobs([blob], entry, ctx, "x")
    assert "exceeds" in entry.code[0].details["problem"] and not entry.children


def test_lenient_base64_is_read_as_keras_reads_it(tmp_path: Path) -> None:
    """b64decode without validate (what Keras calls) drops characters outside the alphabet."""
    text = _b64(RAW_PICKLE)
    noisy = "*".join(text[i : i + 4] for i in range(0, len(text), 4))
    assert base64.b64decode(noisy.encode("ascii")) == RAW_PICKLE
    found = _findings(_keras_zip(tmp_path / "noisy.keras", tmw_config(noisy)))
    assert _severity(found, PICKLE_CRIT) == Severity.CRITICAL, found
    assert _severity(found, TORCH_MODULE) == Severity.HIGH, found


def test_bytes_marker_is_read(tmp_path: Path) -> None:
    """Keras 3.10 unpickles config['module'] as bytes without a safe_mode check; a __bytes__ marker holds them."""
    marker = {"class_name": "__bytes__", "value": RAW_PICKLE.decode("ascii")}
    found = _findings(_keras_zip(tmp_path / "bytes.keras", tmw_config(marker)))
    assert _severity(found, PICKLE_CRIT) == Severity.CRITICAL, found
    assert _severity(found, TORCH_MODULE) == Severity.HIGH, found


@pytest.mark.parametrize("names", [
    {"module": "keras.src.utils.torch_utils", "class_name": "TorchModuleWrapper", "registered_name": None},
    {"module": "keras.layers", "class_name": "TorchModuleWrapper", "registered_name": "TorchModuleWrapper"},
    {"module": "mypkg.layers", "class_name": "MyWrapper", "registered_name": "mypkg>MyWrapper"},
], ids=["src_module", "registered", "custom_subclass"])
def test_every_name_of_the_wrapper_is_read(tmp_path: Path, names: dict[str, Any]) -> None:
    found = _findings(_keras_zip(tmp_path / "alias.keras", tmw_config(_b64(_torch_zip(RAW_PICKLE)), layer=names)))
    assert _severity(found, PICKLE_CRIT) == Severity.CRITICAL, found
    if names["class_name"] == "MyWrapper":
        assert _severity(found, CUSTOM) == Severity.HIGH, found


def test_custom_object_with_a_short_module_name_reads_nothing(tmp_path: Path) -> None:
    names = {"module": "mypkg.layers", "class_name": "MyLayer", "registered_name": "mypkg>MyLayer"}
    found = _findings(_keras_zip(tmp_path / "c.keras", tmw_config("__main__", layer=names)))
    assert {r for r, *_ in found} == {CUSTOM}, found


def _legacy_h5(path: Path, config: dict[str, Any]) -> Path:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["backend"] = "torch"
        f.attrs["model_config"] = json.dumps(config)
        f.create_group("model_weights")
    return path


def test_legacy_h5_model_config(tmp_path: Path) -> None:
    path = _legacy_h5(tmp_path / "tmw.h5", tmw_config(_b64(_torch_zip(RAW_PICKLE))))
    found = _findings(path)
    assert _severity(found, PICKLE_CRIT) == Severity.CRITICAL, found
    assert any(f.endswith("!model_config:$.config.layers[1].config.module") for r, _s, f, _m in found
               if r == PICKLE_CRIT), found


def test_too_many_modules_are_reported_unread(tmp_path: Path) -> None:
    cfg = tmw_config(_b64(_torch_zip(MODULE_PICKLE)))
    layers = cfg["config"]["layers"]
    for i in range(MAX_BLOBS + 1):
        layers.append(dict(layers[1], config=dict(layers[1]["config"], name=f"tmw{i}")))
    found = _findings(_keras_zip(tmp_path / "many.keras", cfg))
    assert any(r == TORCH_MODULE and s == Severity.HIGH and "not read" in m for r, s, _f, m in found)


def test_reader_without_member_reading_reports_high() -> None:
    """analyze_config without ``blobs`` (the SavedModel reader) never lets the layer pass as data."""
    code, _ = analyze_config(tmw_config(), "config.json")
    assert [c.details["reason"] for c in code] == ["torch_module"]
    assert code[0].details["embedded"] is None and code[0].details["problem"]


def test_read_context_bound_depth(tmp_path: Path) -> None:
    """A config read at the deepest archive level does not read its module further: high, not clean."""
    from weightwarden.artifact.model import FileEntry, Format
    from weightwarden.artifact.readers.keras_config import EmbeddedBlob, read_embedded_blobs

    entry = FileEntry("x", Format.JSON, 0)
    ctx = ReadContext(depth=DEFAULT_LIMITS.max_archive_depth)
    blob = EmbeddedBlob("$.config.module", "layer:tmw", "TorchModuleWrapper", "module", _b64(RAW_PICKLE), True)
    read_embedded_blobs([blob], entry, ctx, "x")
    assert entry.code[0].details["problem"] and not entry.children


def test_vocabulary_path_is_reported(tmp_path: Path) -> None:
    names = {"module": "keras.layers", "class_name": "StringLookup", "registered_name": None}
    cfg = tmw_config(layer=names)
    cfg["config"]["layers"][1]["config"]["vocabulary"] = "/etc/passwd"
    found = _findings(_keras_zip(tmp_path / "vocab.keras", cfg))
    assert _severity(found, VOCAB) == Severity.MEDIUM, found


# -- victim side: the real Keras loader runs the pickle ------------------------------------------------------------


def test_every_form_fires_under_keras_load_model(tmp_path: Path, keras_torch_env: dict[str, str]) -> None:
    cases = {
        "zip_raw": _keras_zip(tmp_path / "raw.keras", tmw_config(_b64(RAW_PICKLE))),
        "zip_torch": _keras_zip(tmp_path / "tz.keras", tmw_config(_b64(_torch_zip(RAW_PICKLE)))),
        "folder": _folder(tmp_path / "tmwdir", tmw_config(_b64(_torch_zip(RAW_PICKLE)))) / "config.json",
        "lenient": _keras_zip(tmp_path / "noisy.keras", tmw_config("*".join(_b64(RAW_PICKLE)))),
        "legacy_h5": _legacy_h5(tmp_path / "tmw.h5", tmw_config(_b64(_torch_zip(RAW_PICKLE)))),
    }
    manifest = [{"name": n, "loader": "keras_h5_tmw" if n == "legacy_h5" else "keras", "path": str(p),
                 "dir": str(tmp_path / "cwd" / n)} for n, p in cases.items()]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tests.adversarial.fire", str(tmp_path / "manifest.json")],
                         cwd=ROOT, env=keras_torch_env, capture_output=True, text=True, timeout=600, check=False)
    fired = json.loads(run.stdout.strip().splitlines()[-1])
    assert fired == dict.fromkeys(cases, True), (fired, run.stderr[-2000:])
    for name, path in cases.items():  # and the scanner says critical for each
        target = path.parent if path.name == "config.json" else path
        assert _severity(_findings(target), PICKLE_CRIT) == Severity.CRITICAL, name


def test_safe_mode_refuses(tmp_path: Path, keras_torch_env: dict[str, str]) -> None:
    """Why WW-KERAS-009 itself is medium when the pickle is read: Keras 3.15 only unpickles with safe_mode off."""
    path = _keras_zip(tmp_path / "raw.keras", tmw_config(_b64(RAW_PICKLE)))
    code = f"import keras\ntry:\n    keras.saving.load_model({str(path)!r})\nexcept Exception as e:\n    print(e)\n"
    run = subprocess.run([sys.executable, "-c", code], env=keras_torch_env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, check=False)
    assert "torch.load" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
    assert not (tmp_path / "canary").exists()
