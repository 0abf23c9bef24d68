"""Red team round 27 on the scanner's readers (issues/rt-scanreaders-round27.md).

A. JSON was recognised only from the first 64 KiB and only when it started with "{": a Keras config behind 70 000
   spaces, or a top-level array, was "text" and never analysed, while json.loads (model_from_json, Orbax's JSON
   handler) skips any amount of JSON whitespace and accepts arrays. Now the first real character decides wherever it
   is, "[" is JSON like "{", and a ``*.json`` (or Orbax metadata) name goes to the JSON reader whatever its head.
B. Orbax's ``_CHECKPOINT_METADATA`` ``item_handlers`` picks the handler, and so the file, Keras' config comes from
   (JsonHandler: data.json, else metadata); WW-KERAS-012 judged only ``_strings.json``. Now it judges the named
   handler's file, and an unmodelled handler is high.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_scan_round24_keras_torch import RAW_PICKLE, _b64, _findings, _severity, _torch_zip, tmw_config
from tests.test_scan_round25_keras import LAMBDA_LAYER, _model, _orbax
from weightwarden.artifact.sniff import HEAD_BYTES, sniff
from weightwarden.artifact.source import Source
from weightwarden.core.findings import Severity

LAMBDA, ORBAX_UNREAD, PICKLE_CRIT, MALFORMED = "WW-KERAS-001", "WW-KERAS-012", "WW-PKL-001", "WW-GEN-004"
JSON_HANDLER = "orbax.checkpoint._src.handlers.json_checkpoint_handler.JsonCheckpointHandler"
BENIGN = _model({"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                 "config": {"name": "d", "units": 2}})
PADDINGS = [HEAD_BYTES - 1, HEAD_BYTES, HEAD_BYTES + 1, 70_000, 1024 * 1024]
PAYLOADS = {"tmw": (lambda: tmw_config(_b64(_torch_zip(RAW_PICKLE))), PICKLE_CRIT),
            "lambda": (lambda: _model(LAMBDA_LAYER), LAMBDA)}


def _worst(found: list[tuple[str, Severity, str, str]]) -> Severity | None:
    return max((s for _r, s, _f, _m in found), key=lambda s: s.rank, default=None)


def _text(value: Any, pad: int, shape: str, ws: str = " ") -> str:
    return ws * pad + json.dumps([value] if shape == "array" else value)


@pytest.mark.parametrize("name", ["model.json", "model.txt"])
@pytest.mark.parametrize("shape", ["object", "array"])
@pytest.mark.parametrize("pad", [0, *PADDINGS])
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_padded_or_array_config_is_critical(tmp_path: Path, name: str, shape: str, pad: int, payload: str) -> None:
    make, rule = PAYLOADS[payload]
    (tmp_path / name).write_text(_text(make(), pad, shape))
    found = _findings(tmp_path / name)
    assert _severity(found, rule) == Severity.CRITICAL, (pad, shape, found)


@pytest.mark.parametrize("ws", [" ", "\n", "\t", "\r\n"])
def test_every_json_whitespace_is_skipped(tmp_path: Path, ws: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(_text(_model(LAMBDA_LAYER), 70_000 // len(ws), "object", ws))
    assert _severity(_findings(path), LAMBDA) == Severity.CRITICAL


@pytest.mark.parametrize("shape", ["object", "array"])
@pytest.mark.parametrize("pad", [0, 70_000, 1024 * 1024])
def test_benign_padded_json_has_no_high_finding(tmp_path: Path, shape: str, pad: int) -> None:
    (tmp_path / "m.json").write_text(_text(BENIGN, pad, shape))
    worst = _worst(_findings(tmp_path / "m.json"))
    assert worst is None or worst.rank < Severity.HIGH.rank, worst
    assert sniff(Source.from_path(str(tmp_path / "m.json"), "m.json")).value == "json"


@pytest.mark.parametrize("content", ["hello, not json", "[section]\nkey=1\n", " " * 70_000 + "plain words", "[1, 2"])
def test_a_json_name_that_does_not_parse_is_medium(tmp_path: Path, content: str) -> None:
    (tmp_path / "notes.json").write_text(content)
    found = _findings(tmp_path / "notes.json")
    assert _severity(found, MALFORMED) == Severity.MEDIUM, found


@pytest.mark.parametrize("content", ["[1] see the notes\n", "[INST] hello [/INST]\n", "[section]\nkey = 1\n"])
def test_bracketed_prose_is_still_text(tmp_path: Path, content: str) -> None:
    (tmp_path / "README.txt").write_text(content)
    assert _findings(tmp_path / "README.txt") == []


def _json_step(tmp_path: Path, handler: str | None, files: dict[str, str]) -> Path:
    """An Orbax step whose _strings.json holds a benign decoy and whose metadata names ``handler``."""
    root = _orbax(tmp_path / "ckpt", {"0": BENIGN})
    meta = {"item_handlers": {"model_config": handler} if handler else None, "metrics": {}}
    (root / "0" / "_CHECKPOINT_METADATA").write_text(json.dumps(meta))
    for name, text in files.items():
        (root / "0" / "model_config" / name).write_text(text)
    return root


@pytest.mark.parametrize("file", ["data.json", "metadata"])
@pytest.mark.parametrize("shape", ["object", "array"])
@pytest.mark.parametrize("pad", [0, 70_000, 1024 * 1024])
@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_orbax_json_handler_file_is_judged(tmp_path: Path, file: str, shape: str, pad: int, payload: str) -> None:
    make, rule = PAYLOADS[payload]
    config = json.dumps([make()] if shape == "array" else make())
    root = _json_step(tmp_path, JSON_HANDLER, {file: " " * pad + json.dumps({"config": config})})
    found = _findings(root)
    assert _severity(found, rule) == Severity.CRITICAL, found


@pytest.mark.parametrize("file", ["data.json", "metadata"])
def test_orbax_json_handler_benign_config_passes(tmp_path: Path, file: str) -> None:
    root = _json_step(tmp_path, JSON_HANDLER, {file: " " * 70_000 + json.dumps({"config": json.dumps(BENIGN)})})
    worst = _worst(_findings(root))
    assert worst is None or worst.rank < Severity.HIGH.rank, _findings(root)


@pytest.mark.parametrize("data", [None, "not json at all", json.dumps({"other": json.dumps(BENIGN)})])
def test_orbax_json_handler_without_a_readable_config_is_high(tmp_path: Path, data: str | None) -> None:
    """The benign _strings.json decoy no longer satisfies WW-KERAS-012 when the JSON handler reads data.json."""
    root = _json_step(tmp_path, JSON_HANDLER, {} if data is None else {"data.json": data})
    assert _severity(_findings(root), ORBAX_UNREAD) == Severity.HIGH


@pytest.mark.parametrize("handler", ["my.custom.Handler", "orbax.checkpoint._src.handlers.proto_checkpoint_handler."
                                     "ProtoCheckpointHandler"])
def test_unknown_orbax_handler_is_high(tmp_path: Path, handler: str) -> None:
    root = _json_step(tmp_path, handler, {})
    assert _severity(_findings(root), ORBAX_UNREAD) == Severity.HIGH


@pytest.mark.parametrize("handler", [None, "orbax.checkpoint.experimental.v1._src.handlers.pytree_handler.PyTreeHandler",
                                     "orbax.checkpoint._src.handlers.standard_checkpoint_handler."
                                     "StandardCheckpointHandler"])
def test_pytree_handler_reads_strings_json(tmp_path: Path, handler: str | None) -> None:
    root = _json_step(tmp_path, handler, {})
    assert _severity(_findings(root), ORBAX_UNREAD) is None


def test_unreadable_step_metadata_is_high(tmp_path: Path) -> None:
    root = _json_step(tmp_path, None, {})
    (root / "0" / "_CHECKPOINT_METADATA").write_text("{not json")
    found = _findings(root)
    assert _severity(found, ORBAX_UNREAD) == Severity.HIGH, found
