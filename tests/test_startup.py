"""The CLI starts light: importing it pulls in no heavy ML or rendering library.

``weightwarden --help`` must start fast (issue 2 asks for < 0.3 s, measured in
``benchmarks/scan_scaling.py``). What makes a Python CLI slow is what it imports, so this test checks the
cause, not the clock: a fresh interpreter that imports ``weightwarden.cli.main`` (and one that runs
``--help``) must not have loaded torch, tensorflow, numpy, onnx, h5py, jinja2 or rich. Not a timing test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "tensorflow", "numpy", "onnx", "h5py", "jinja2", "rich")
ROOT = Path(__file__).resolve().parent.parent

# Runs in a child interpreter: import the given statement, then report which heavy top-level packages
# ended up in sys.modules. ``--help`` is driven through the real entry point with SystemExit caught.
_PROBE = """
import json, sys
heavy = {heavy!r}
{body}
loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set(heavy))
sys.stdout.write('\\n' + json.dumps(loaded) + '\\n')
"""


_RUN_HELP = "import sys; sys.argv = ['weightwarden', '--help']; from weightwarden.cli.main import run; run()"


def _loaded_after(body: str) -> list[str]:
    code = _PROBE.format(heavy=HEAVY, body=body)
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_cli_main_is_light() -> None:
    loaded = _loaded_after("import weightwarden.cli.main")
    assert loaded == [], f"importing weightwarden.cli.main loads heavy packages: {loaded}"


def test_help_path_is_light() -> None:
    body = (
        "from weightwarden.cli.main import run\n"
        "sys.argv = ['weightwarden', '--help']\n"
        "import contextlib, io\n"
        "buf = io.StringIO()\n"
        "try:\n"
        "    with contextlib.redirect_stdout(buf):\n"
        "        run()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )
    loaded = _loaded_after(body)
    assert loaded == [], f"weightwarden --help loads heavy packages: {loaded}"


def test_help_exits_zero() -> None:
    res = subprocess.run(
        [sys.executable, "-c", _RUN_HELP],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "scan" in res.stdout


def test_console_script_help_exits_zero() -> None:
    script = Path(sys.executable).with_name("weightwarden")
    if not script.exists():
        pytest.skip("console script not installed in this interpreter's environment")
    res = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "scan" in res.stdout
