"""Red team round 28 on the scanner's readers (issues/rt-scanreaders-round28.md): a reader that decided not to parse
a file because of its size or a cheap byte test dropped every analysis, not only the one the shortcut was for.

A JSON file past ``max_text_bytes`` (16 MiB) with no Jinja tag, with tags Jinja cannot parse, or past
``max_parse_bytes`` was never parsed, so the Keras config in it (a TorchModuleWrapper whose base64 torch.save runs a
reducer, a Lambda) was never judged: 0 findings, while ``keras.models.model_from_json(open(p).read())`` builds it
(a 17 MiB ``"pad"`` key is ignored by Keras). A ``.keras`` zip whose config.json inflates past the bound was only
WW-KERAS-006 (medium); the legacy .h5 attribute the same. A code key spelled with escapes (``"auto\\u005fmap"``)
was not seen by the raw-byte search, and ``video_preprocessor_config.json`` was not read as a loader config.

Now every shortcut first asks :func:`keras_config.may_hold_keras_object` (``class_name`` spelled at any JSON string
level, escapes decoded): such a file is parsed and analysed within ``max_parse_bytes``, and past it fails closed
(WW-GEN-001, "Keras config too large to analyse"); ``keras.config_too_large`` is WW-GEN-001 (high). The tests lower
the bounds through ``Limits`` (as the round-23 large-JSON tests do) and keep one form at the real 16 MiB bound.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.generate import r20_keras_config
from tests.test_scan_round24_keras_torch import RAW_PICKLE, _torch_zip, tmw_config
from weightwarden.artifact.readers import hf_config
from weightwarden.artifact.readers.keras_config import may_hold_keras_object, may_spell
from weightwarden.core.findings import Severity
from weightwarden.core.limits import DEFAULT_LIMITS, Limits
from weightwarden.scan.engine import scan_paths

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
TEXT, PARSE = 64 * 1024, 1 * MiB
SMALL = Limits(max_text_bytes=TEXT, max_parse_bytes=PARSE)
PICKLE_CRIT, LAMBDA, LIMIT, REMOTE = "WW-PKL-001", "WW-KERAS-001", "WW-GEN-001", "WW-GEN-002"


def _tmw() -> dict[str, Any]:
    return tmw_config(base64.b64encode(_torch_zip(RAW_PICKLE)).decode("ascii"))


def _padded(config: dict[str, Any], size: int, form: str) -> bytes:
    """``config`` plus a top-level pad key so that the whole JSON text is exactly ``size`` bytes."""
    unit = {"pad_key": "A", "inert": "{{ }} "}.get(form, "A")
    base = json.dumps(dict(config, pad="")).encode()
    need = size - len(base)
    assert need >= 0, (size, len(base))
    pad = (unit * (need // len(unit) + 1))[:need]
    data = json.dumps(dict(config, pad=pad)).encode()
    assert len(data) == size, (len(data), size)
    return data


def _write(tmp_path: Path, config: dict[str, Any], size: int, form: str) -> Path:
    name = "model.txt" if form == "txt_name" else f"{form}_{size}.json"
    path = tmp_path / name
    path.write_bytes(_padded(config, size, form))
    return path


def _found(path: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, Severity]:
    report = scan_paths([str(path)], workers=1, limits=limits)
    out: dict[str, Severity] = {}
    for f in report.findings:
        if f.rule_id not in out or f.severity.rank > out[f.rule_id].rank:
            out[f.rule_id] = f.severity
    if report.errors:
        out["error"] = Severity.HIGH
    return out


def _messages(path: Path, limits: Limits, rule: str) -> list[str]:
    return [f.message for f in scan_paths([str(path)], workers=1, limits=limits).findings if f.rule_id == rule]


# -- A1-A3: a JSON file past max_text_bytes is parsed and its Keras config judged -----------------------------------


@pytest.mark.parametrize("form", ["pad_key", "inert", "txt_name"])
@pytest.mark.parametrize("delta", [-1, 0, 1, PARSE - TEXT])
@pytest.mark.parametrize("config", ["tmw", "lambda"])
def test_large_json_keras_config_is_judged(tmp_path: Path, form: str, delta: int, config: str) -> None:
    cfg, rule = (_tmw(), PICKLE_CRIT) if config == "tmw" else (r20_keras_config(), LAMBDA)
    path = _write(tmp_path, cfg, TEXT + delta, form)
    assert _found(path, SMALL).get(rule) == Severity.CRITICAL, (form, delta)


@pytest.mark.parametrize("form", ["pad_key", "inert"])
def test_large_json_at_the_real_bound(tmp_path: Path, form: str) -> None:
    """The report's sizes with the default limits: 16 MiB - 1, 16 MiB, 16 MiB + 1."""
    for delta in (-1, 0, 1):
        path = _write(tmp_path, _tmw(), 16 * MiB + delta, form)
        assert _found(path).get(PICKLE_CRIT) == Severity.CRITICAL, (form, delta)
        path.unlink()


def test_escaped_class_name_past_the_text_bound(tmp_path: Path) -> None:
    """``"class\\u005fname"`` is class_name to json.loads: the shortcut's test decodes escapes too."""
    data = _padded(_tmw(), TEXT + 10, "pad_key").replace(b'"class_name"', b'"class\\u005fname"')
    path = tmp_path / "escaped.json"
    path.write_bytes(data)
    assert b"class_name" not in data
    assert _found(path, SMALL).get(PICKLE_CRIT) == Severity.CRITICAL


@pytest.mark.parametrize("escaped", [False, True])
def test_past_the_parse_bound_fails_closed(tmp_path: Path, escaped: bool) -> None:
    data = _padded(_tmw(), PARSE + 1, "pad_key")
    if escaped:
        data = data.replace(b'"class_name"', b'"\\u0063lass_name"')
    path = tmp_path / "huge.json"
    path.write_bytes(data)
    found = _found(path, SMALL)
    assert found.get(LIMIT) == Severity.HIGH, found
    assert any("Keras config too large to analyse" in m for m in _messages(path, SMALL, LIMIT))


# -- A4: the .keras zip and the legacy .h5 ------------------------------------------------------------------------


def _keras_zip(path: Path, config_json: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", config_json)
    return path


def test_keras_zip_config_past_the_text_bound_is_analysed(tmp_path: Path) -> None:
    path = _keras_zip(tmp_path / "kbig.keras", _padded(_tmw(), TEXT + 1, "pad_key"))
    assert _found(path, SMALL).get(PICKLE_CRIT) == Severity.CRITICAL


def test_keras_zip_config_at_the_real_bound(tmp_path: Path) -> None:
    path = _keras_zip(tmp_path / "kbig.keras", _padded(_tmw(), 16 * MiB + 1, "pad_key"))
    assert path.stat().st_size < MiB  # the report's 19 KB zip: the pad deflates
    assert _found(path).get(PICKLE_CRIT) == Severity.CRITICAL


def test_keras_zip_config_past_the_parse_bound_is_high(tmp_path: Path) -> None:
    path = _keras_zip(tmp_path / "khuge.keras", _padded(_tmw(), PARSE + 1, "pad_key"))
    found = _found(path, SMALL)
    assert found.get(LIMIT) == Severity.HIGH, found
    assert any("Keras config too large to analyse" in m for m in _messages(path, SMALL, LIMIT))


def test_legacy_h5_config_too_large_is_high(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = _padded(_tmw(), TEXT + 1, "pad_key").decode()
    found = _found(path, SMALL)
    assert found.get(LIMIT) == Severity.HIGH, found
    assert "WW-KERAS-006" not in found or found.get(LIMIT) == Severity.HIGH


# -- A5: code keys spelled with escapes; the loader-read names ----------------------------------------------------


def test_escaped_code_key_in_a_large_file(tmp_path: Path) -> None:
    cfg = {"video_processor_type": "MyVP", "auto_map": {"AutoVideoProcessor": "attacker/repo--custom_vp.MyVP"}}
    data = _padded(cfg, TEXT + 1, "pad_key").replace(b'"auto_map"', b'"auto\\u005fmap"')
    for name in ("video_preprocessor_config.json", "anything.json"):
        path = tmp_path / name
        path.write_bytes(data)
        assert _found(path, SMALL).get(LIMIT) == Severity.HIGH, name
        path.unlink()
    small = tmp_path / "video_preprocessor_config.json"
    small.write_bytes(json.dumps(cfg).replace('"auto_map"', '"auto\\u005fmap"').encode())
    assert _found(small).get(REMOTE) == Severity.MEDIUM


def test_loader_config_names_cover_transformers() -> None:
    """Every JSON file transformers names in a ``*_NAME`` constant of ``transformers.utils`` (what its auto classes
    read) is a loader config here, but the weight indexes (weight maps: walk.py bounds and reads them)."""
    utils = pytest.importorskip("transformers.utils")
    names = {v for k, v in vars(utils).items() if k.endswith("_NAME") and isinstance(v, str) and v.endswith(".json")}
    names -= {getattr(utils, k) for k in ("SAFE_WEIGHTS_INDEX_NAME", "WEIGHTS_INDEX_NAME") if hasattr(utils, k)}
    assert "video_preprocessor_config.json" in hf_config.LOADER_CONFIG_NAMES
    assert names <= hf_config.LOADER_CONFIG_NAMES, sorted(names - hf_config.LOADER_CONFIG_NAMES)
    tok = pytest.importorskip("transformers.tokenization_utils_base")
    assert tok.TOKENIZER_CONFIG_FILE in hf_config.LOADER_CONFIG_NAMES


# -- the cheap test itself ------------------------------------------------------------------------------------------


def test_may_spell_decodes_every_level() -> None:
    word = (b"class_name",)
    assert may_spell(b'{"class_name": 1}', word)
    assert may_spell(b'{"\\u0063lass\\u005Fname": 1}', word)
    level2 = json.dumps({"config": json.dumps({"config": '{"\\u0063lass_name": 1}'})}).encode()
    assert may_spell(level2, word)
    assert may_spell(b'{"a": "\\u005cu0063lass_name"}', word)  # an escaped backslash forms an escape one level down
    assert not may_spell(b'{"a": "\\u4e2d\\n\\t\\"x"}', word)
    assert not may_spell(json.dumps({"vocab": {"\u00e9" * 3: 1, "\u4e2d": 2}}).encode(), word)
    assert may_hold_keras_object("{\"class_name\": 1}".encode("utf-16"))  # another encoding: never skipped


# -- false positives: large data files stay clean and unparsed ------------------------------------------------------


def _vocab(size: int, ascii_only: bool, markup: str = "{{") -> bytes:
    n = size // 16
    vocab = {f"\u00e9\u4e2d{i}\t{markup}" if i % 7 == 0 else f"\u2581w{i:x}": i for i in range(n)}
    doc = {"version": "1.0", "model": {"type": "BPE", "vocab": vocab, "merges": []}}
    return json.dumps(doc, ensure_ascii=ascii_only).encode()


@pytest.mark.parametrize("ascii_only", [False, True])
def test_large_tokenizer_stays_clean_and_unparsed(tmp_path: Path, ascii_only: bool) -> None:
    data = _vocab(3 * TEXT, ascii_only)
    assert TEXT < len(data) < PARSE
    assert not may_hold_keras_object(data)
    path = tmp_path / "tokenizer.json"
    path.write_bytes(data)
    report = scan_paths([str(path)], workers=1, limits=SMALL)
    assert report.findings == [] and not report.errors, [(f.rule_id, f.message) for f in report.findings]
    huge = tmp_path / "big" / "tokenizer.json"
    huge.parent.mkdir()
    # Past the parse bound a tag is WW-GEN-001 by design (round 23); a vocabulary without one stays clean.
    huge.write_bytes(_vocab(PARSE + 16 * TEXT, ascii_only, markup="}"))
    report = scan_paths([str(huge)], workers=1, limits=SMALL)
    assert report.findings == [] and not report.errors, [(f.rule_id, f.message) for f in report.findings]


def test_large_data_naming_class_name_is_parsed_and_clean(tmp_path: Path) -> None:
    """The word alone (a code vocabulary's token) costs a parse, not a finding, within the parse bound."""
    data = json.dumps({"model": {"vocab": {"class_name": 1, "x": 2}}, "config": {"pad": "A" * (2 * TEXT)}}).encode()
    path = tmp_path / "tokenizer.json"
    path.write_bytes(data)
    assert _found(path, SMALL) == {}


# -- victim side: the real Keras loaders build what was 0 findings / medium -----------------------------------------


def test_victims_fire_under_keras(tmp_path: Path, keras_torch_env: dict[str, str]) -> None:
    cases = {
        "big_key": (_write(tmp_path, _tmw(), 16 * MiB + 1, "pad_key"), "keras_json"),
        "big_inert": (_write(tmp_path, _tmw(), 16 * MiB + 1, "inert"), "keras_json"),
        "big_txt": (_write(tmp_path, _tmw(), 16 * MiB + 1, "txt_name"), "keras_json"),
        "kbig": (_keras_zip(tmp_path / "kbig.keras", _padded(_tmw(), 16 * MiB + 1, "pad_key")), "keras"),
    }
    manifest = [{"name": n, "loader": loader, "path": str(p), "dir": str(tmp_path / "cwd" / n)}
                for n, (p, loader) in cases.items()]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tests.adversarial.fire", str(tmp_path / "manifest.json")],
                         cwd=ROOT, env=keras_torch_env, capture_output=True, text=True, timeout=600, check=False)
    fired = json.loads(run.stdout.strip().splitlines()[-1])
    assert fired == dict.fromkeys(cases, True), (fired, run.stderr[-2000:])
    for name, (path, _loader) in cases.items():
        assert _found(path).get(PICKLE_CRIT) == Severity.CRITICAL, name


def test_inflate_flushes_the_last_bytes() -> None:
    """Found while testing the 16 MiB + 1 .keras config: a deflated member whose output ends one byte past a
    ``CHUNK`` step lost that byte (zlib held it with all input consumed), then a CRC and size mismatch (WW-ARC-001)
    and an unparsable config. The inflater now flushes what zlib holds at the end of its input."""
    import io
    import zlib

    from weightwarden.artifact.readers._archive import CHUNK, Inflate

    for n in (CHUNK + 1, 4 * CHUNK + 1):
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        src = io.BytesIO(packer.compress(b"A" * n) + packer.flush())
        inflate, out = Inflate(), b""
        while not inflate.done:
            out += inflate.produce(src)
        assert len(out) == n


def test_savedmodel_keras_metadata_behind_whitespace(tmp_path: Path) -> None:
    """SavedModel's keras_metadata.pb: a layer JSON was read only when its first byte was "{"; json.loads skips
    leading whitespace (and builds arrays), so the cheap test now does too."""
    from tests.test_readers_structured import (
        fld,
        keras2_lambda,
        keras_objs,
        node_def,
        read_path,
        saved_model,
        vint,
    )
    from weightwarden.artifact.readers import savedmodel

    lam = dict(keras2_lambda("lam"), name="lam")
    for lead in (" \n\t", "\r\n" * 3000):
        meta = tmp_path / str(lead.count("\n"))
        meta.mkdir()
        nodes = fld(1, vint(2, 1) + fld(3, "root.layer-1") + fld(4, "_tf_keras_layer") + fld(5, lead + json.dumps(lam)))
        (meta / "keras_metadata.pb").write_bytes(nodes)
        path = meta / "saved_model.pb"
        path.write_bytes(saved_model([node_def("x", "Placeholder")]))
        assert [o.location for o in keras_objs(read_path(savedmodel, path))] == ["layer:lam"], repr(lead[:4])
