"""Red team round 29: a failure of the scanner's own parser limits was reported as a defect of the input.

On CPython 3.11 the C JSON decoder counts against the Python recursion limit, so a Keras config padded with
~980 levels of nesting (a key Keras ignores) made the scanner's json.loads raise RecursionError while the victim's,
a few frames shallower, parsed it: the file was then "malformed" (WW-GEN-004, medium) or, opening with '[', text
(0 findings), and the Keras analysis never ran. The fix measures the depth before any json.loads of input
(json_depth.depth_problem): deeper than MAX_JSON_DEPTH (256) is too deep to analyse, WW-GEN-001 (high), whatever
the file's name, first byte, container, or the caller's stack. These tests push 950..1000 levels through every
JSON entry point, at the top and inside nested archives and folders.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.test_scan_round24_keras_torch import RAW_PICKLE, _b64, _torch_zip, tmw_config
from tests.test_scan_round25_keras import _orbax
from weightwarden.artifact.json_depth import (
    MAX_JSON_DEPTH,
    ParseLimit,
    depth_problem,
    json_depth,
    loads_checked,
)
from weightwarden.artifact.readers import keras_config
from weightwarden.artifact.readers.keras_config import parse_json_bounded
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths

ROOT = Path(__file__).resolve().parent.parent
DEPTHS = [950, 960, 970, 975, 980, 985, 990, 1000]
LIMIT_RULE, MALFORMED_RULE = "WW-GEN-001", "WW-GEN-004"


def _tmw() -> dict[str, Any]:
    return tmw_config(_b64(_torch_zip(RAW_PICKLE)))


def _padded(config: dict[str, Any], depth: int) -> str:
    """``config`` with a "pad" key (Keras ignores it) nested so that the document is ``depth`` levels deep. Built as
    text: json.dumps of so deep a value would itself hit the recursion limit."""
    pad = "[" * (depth - 1) + "]" * (depth - 1)
    return json.dumps(config)[:-1] + f', "pad": {pad}}}'


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _keras_zip_bytes(config_text: str) -> bytes:
    return _zip_bytes({"metadata.json": b'{"keras_version": "3.15.1"}', "config.json": config_text.encode()})


def _h5(path: Path, config_text: str) -> Path:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["backend"] = "torch"
        f.attrs["model_config"] = config_text
        f.create_group("model_weights")
    return path


# Each entry point: (file or folder name, writer(path, depth) -> the path to scan). Files can be nested in archives.
def _file(name: str, text: Any) -> Any:
    def write(base: Path, depth: int) -> Path:
        data = text(depth)
        (base / name).write_bytes(data if isinstance(data, bytes) else data.encode())
        return base / name
    return write


def _keras_folder(base: Path, depth: int) -> Path:
    (base / "kdir").mkdir()
    (base / "kdir" / "config.json").write_text(_padded(_tmw(), depth), encoding="utf-8")
    return base / "kdir"


def _orbax_strings(base: Path, depth: int) -> Path:
    root = _orbax(base / "ckpt", {"0": None})
    (root / "0" / "model_config" / "_strings.json").write_text(json.dumps({"config": _padded(_tmw(), depth)}))
    return root


FILES = {
    "json_object": _file("model.json", lambda d: _padded(_tmw(), d)),
    "txt_object": _file("model_deep.txt", lambda d: _padded(_tmw(), d)),
    "txt_array": _file("arr_pad.txt", lambda d: "[" + _padded(_tmw(), d - 1) + "]"),
    "json_array": _file("arr_pad.json", lambda d: "[" + _padded(_tmw(), d - 1) + "]"),
    "cfg_array": _file("arr_pad.cfg", lambda d: "[" + _padded(_tmw(), d - 1) + "]"),
    "config_json": _file("config.json", lambda d: _padded(_tmw(), d)),
    "keras_zip": _file("m.keras", lambda d: _keras_zip_bytes(_padded(_tmw(), d))),
}
FOLDERS = {"keras_folder": _keras_folder, "orbax_string": _orbax_strings}


def _scan(path: Path) -> tuple[list[tuple[str, Severity, str]], list[str]]:
    report = scan_paths([str(path)], workers=1)
    return [(f.rule_id, f.severity, f.message) for f in report.findings], [str(e.reason) for e in report.errors]


def _assert_fails_closed(found: list[tuple[str, Severity, str]], errors: list[str], where: str) -> None:
    assert any(s.rank >= Severity.HIGH.rank for _r, s, _m in found), (where, found, errors)
    assert any(r == LIMIT_RULE for r, _s, _m in found), (where, found)
    assert not any(r == MALFORMED_RULE for r, _s, _m in found), (where, found)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("entry", sorted(FILES))
@pytest.mark.parametrize("nesting", ["top", "zip_in_zip", "folders"])
def test_deep_json_file_is_high_everywhere(tmp_path: Path, entry: str, depth: int, nesting: str) -> None:
    work = tmp_path / "w"
    work.mkdir()
    path = FILES[entry](work, depth)
    if nesting == "zip_in_zip":  # two archive levels: the scanner's stack is deeper there
        inner = _zip_bytes({f"inner/{path.name}": path.read_bytes()})
        path = tmp_path / "outer.zip"
        path.write_bytes(_zip_bytes({"pack/inner.zip": inner}))
    elif nesting == "folders":
        deep = tmp_path / "a" / "b" / "c"
        deep.mkdir(parents=True)
        (work / path.name).rename(deep / path.name)
        path = tmp_path / "a"
    found, errors = _scan(path)
    _assert_fails_closed(found, errors, f"{entry}/{nesting}/{depth}")


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("entry", sorted(FOLDERS))
@pytest.mark.parametrize("nesting", ["top", "folders"])
def test_deep_json_folder_is_high_everywhere(tmp_path: Path, entry: str, depth: int, nesting: str) -> None:
    base = tmp_path / "a" / "b" / "c" if nesting == "folders" else tmp_path
    base.mkdir(parents=True, exist_ok=True)
    path = FOLDERS[entry](base, depth)
    found, errors = _scan(tmp_path / "a" if nesting == "folders" else path)
    _assert_fails_closed(found, errors, f"{entry}/{nesting}/{depth}")


@pytest.mark.parametrize("depth", [950, 980, 1000])
def test_deep_h5_attribute_is_high(tmp_path: Path, depth: int) -> None:
    found, errors = _scan(_h5(tmp_path / "m.h5", _padded(_tmw(), depth)))
    _assert_fails_closed(found, errors, f"h5/{depth}")
    assert not any(r == "WW-KERAS-006" for r, _s, _m in found), found  # keras.bad_config, medium: not malformed


def test_cli_fails_on_high_for_the_zero_finding_form(tmp_path: Path) -> None:
    """B/arr_pad985.txt: 0 findings and rc=0 under --strict --fail-on info before; now high, so --fail-on high."""
    path = FILES["txt_array"](tmp_path, 985)
    run = subprocess.run([sys.executable, "-m", "weightwarden", "scan", "--fail-on", "high", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode != 0, run.stdout[-2000:]
    assert LIMIT_RULE in run.stdout and "too deep" in run.stdout, run.stdout[-2000:]


# -- benign: deep but legal JSON is unaffected ----------------------------------------------------------------------


def test_benign_depth_100_is_unaffected(tmp_path: Path) -> None:
    benign = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": "s", "layers": [{"module": "keras.layers", "class_name": "Dense",
                                                  "registered_name": None, "config": {"name": "d", "units": 2}}]}}
    (tmp_path / "model.json").write_text(_padded(benign, 100))
    (tmp_path / "data.json").write_text("[" * 100 + "1" + "]" * 100)
    (tmp_path / "tokens.txt").write_text("\n".join(["[PAD]", "{{", "{%", "{{ x", "[[", "tok"] * 200))
    found, errors = _scan(tmp_path)
    assert errors == [] and [f for f in found if f[1].rank >= Severity.MEDIUM.rank] == [], (found, errors)
    assert json_depth((tmp_path / "data.json").read_bytes(), 0) == 100


def test_brackets_that_do_not_nest_are_invalid_not_deep() -> None:
    """A vocabulary full of '{{' is no deep document: it never reaches json.loads and is not a limit."""
    text = "[" + "{{ " * 400 + "]"
    problem = depth_problem(text)
    assert problem is not None and not isinstance(problem, ParseLimit) and problem.startswith("invalid JSON")
    with pytest.raises(ValueError):
        loads_checked(text)


# -- the pre-pass itself ---------------------------------------------------------------------------------------------


def test_walk_bound_is_the_parse_bound() -> None:
    assert keras_config.MAX_DEPTH == MAX_JSON_DEPTH == 256


@pytest.mark.parametrize("text", [
    '{"a": "[[[[[[", "b": [1]}',          # brackets in strings do not count
    '{"a": "\\"[[[[", "b": [1]}',         # an escaped quote does not end the string
    '{"a": "\\\\", "b": [1]}',            # an escaped backslash does not escape the quote after it
    '{"a\\\\\\"[[[": [[1]]}',
])
def test_depth_is_string_aware(text: str) -> None:
    value = json.loads(text)
    assert value is not None
    want = 3 if "[[1]]" in text else 2
    for k in range(want + 2):
        assert (json_depth(text, k) > k) == (want > k), (text, k)
        assert (json_depth(text.encode("utf-16"), k) > k) == (want > k), (text, k)


def test_limit_does_not_depend_on_the_callers_stack() -> None:
    """257 deep is too deep and 256 parses, at the top and from 700 frames down (json.loads alone would fail
    there at ~300 levels on CPython 3.11)."""
    deep, ok = "[" * 257 + "]" * 257, "[" * 256 + "]" * 256

    def at_depth(n: int) -> tuple[Any, Any]:
        if n:
            return at_depth(n - 1)
        return parse_json_bounded(deep, 1 << 20), parse_json_bounded(ok, 1 << 20)

    for frames in (0, 500):
        (v1, p1), (v2, p2) = at_depth(frames)
        assert v1 is None and isinstance(p1, ParseLimit), (frames, p1)
        assert p2 is None and v2 is not None, (frames, p2)


def test_recursion_error_is_a_limit_not_malformed() -> None:
    """Within the depth bound, a parser that still runs out of stack (the caller is deep enough) is the scanner's
    limit: a ParseLimit, never 'invalid JSON'."""
    text = "[" * 250 + "]" * 250
    limit = sys.getrecursionlimit()

    def at_depth(n: int) -> tuple[Any, str | None]:
        if n:
            return at_depth(n - 1)
        return parse_json_bounded(text, 1 << 20)

    value, problem = at_depth(limit - 200)
    assert value is None and isinstance(problem, ParseLimit), problem


# -- victim side: the real Keras builds the padded config ----------------------------------------------------------


def test_padded_config_fires_under_model_from_json(tmp_path: Path, keras_torch_env: dict[str, str]) -> None:
    """The zero-finding form (a '[' text, pad 980 deep): model_from_json runs the TorchModuleWrapper pickle."""
    path = FILES["txt_array"](tmp_path, 980)
    cases = {"arr_pad980": path}
    manifest = [{"name": n, "loader": "keras_json", "path": str(p), "dir": str(tmp_path / "cwd" / n)}
                for n, p in cases.items()]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tests.adversarial.fire", str(tmp_path / "manifest.json")],
                         cwd=ROOT, env=keras_torch_env, capture_output=True, text=True, timeout=600, check=False)
    fired = json.loads(run.stdout.strip().splitlines()[-1])
    assert fired == dict.fromkeys(cases, True), (fired, run.stderr[-2000:])
    found, errors = _scan(path)
    _assert_fails_closed(found, errors, "victim form")


# -- the other JSON parses of input: same answer --------------------------------------------------------------------


def test_deep_safetensors_header_is_a_limit_not_malformed(tmp_path: Path) -> None:
    import struct

    header = ('{"__metadata__": {"format": "pt"}, "x": ' + "[" * 300 + "]" * 300 + "}").encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    found, _errors = _scan(path)
    assert any(r == LIMIT_RULE and s == Severity.HIGH for r, s, _m in found), found
    assert not any(r == "WW-ST-002" for r, _s, _m in found), found


def test_deep_shard_index_is_a_limit_not_unresolved(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_text(
        '{"metadata": ' + "[" * 300 + "]" * 300 + ', "weight_map": {"w": "model-00001-of-00001.safetensors"}}')
    found, _errors = _scan(tmp_path)
    assert any(r == LIMIT_RULE and s == Severity.HIGH for r, s, _m in found), found
    assert not any(r == "WW-FS-009" for r, _s, _m in found), found


@pytest.mark.parametrize("size", [1, 2, 255, 4096, (1 << 16), (1 << 16) + 1, 200_000])
def test_running_sum_is_the_same_in_python_and_numpy(size: int) -> None:
    """Short bracket runs are summed in Python (no numpy import), long ones in numpy: both give the running
    sum's (max, min) exactly, at and around the switch, with depths that go below zero too."""
    import random

    import numpy as np

    from weightwarden.artifact import json_depth

    rng = random.Random(size)
    signs = bytes(rng.choice((1, 255)) for _ in range(size))
    sums = np.cumsum(np.frombuffer(signs, dtype=np.int8).astype(np.int64))
    assert json_depth._running(signs) == (max(int(sums.max()), 0), min(int(sums.min()), 0))
