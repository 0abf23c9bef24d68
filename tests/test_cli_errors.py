"""What a user sees when something is missing or wrong: one ``error: <reason>`` line and exit 2.

A missing optional module is the install line of the extra that brings it (never "internal error:
ModuleNotFoundError"); every WeightwardenError is its reason; ``python -m weightwarden`` works.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.corpus.samples import SHARED
from weightwarden.cli.main import COMMAND_EXTRAS, OPTIONAL_MODULES, main

REPO = Path(__file__).resolve().parent.parent
V111 = SHARED / "fixtures" / "model-signing" / "v1.1.1"
KEYS = V111 / "keys"
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"llama_cpp": "llama-cpp-python", "yaml": "pyyaml"}

BLOCK = """
import sys
for name in {modules!r}:
    sys.modules[name] = None  # as if not installed: "import name" raises ModuleNotFoundError
from weightwarden.cli.main import run
sys.argv = ["weightwarden", *{args!r}]
run()
"""


def _without(modules: list[str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    code = BLOCK.format(modules=modules, args=[str(a) for a in args])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import json
    import struct

    folder = tmp_path_factory.mktemp("tiny")
    header = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(64))
    return folder


SIGN = ["cryptography", "blake3", "sigstore"]
LINEAGE = ["scipy", "blake3", "safetensors", "threadpoolctl"]


@pytest.mark.parametrize(("blocked", "args", "extra"), [
    (SIGN, ["sign", "{model}", "--key", str(KEYS / "p256.pem"), "-o", "{tmp}/x.sig"], "sign"),
    (SIGN, ["verify", "{model}", "--bundle", str(V111 / "bundles" / "key-p256.files-sha256.sig"),
            "--key", str(KEYS / "p256.pub.pem")], "sign"),
    (LINEAGE, ["diff", "{model}", "{model}"], "lineage"),
    (LINEAGE, ["lineage", "{model}", "{model}"], "lineage"),
    (LINEAGE, ["fingerprint", "{model}"], "lineage"),
    (["httpx"], ["eval", "run", "openai:http://127.0.0.1:9/v1#m", "--suite", "xstest-safe", "--sample", "1",
                 "--out", "{tmp}/run.jsonl"], "evals"),
])
def test_a_missing_extra_names_the_extra_and_the_command(blocked: list[str], args: list[str], extra: str,
                                                         tiny_model: Path, tmp_path: Path) -> None:
    argv = [a.format(model=tiny_model, tmp=tmp_path) for a in args]
    res = _without(blocked, *argv)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    command = argv[0]
    assert res.stderr.startswith(f"error: weightwarden {command}"), res.stderr
    assert f"pip install 'weightwarden[{extra}]'" in res.stderr, res.stderr


def test_every_optional_module_belongs_to_the_extra_named_for_it() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def names(extra: str) -> set[str]:
        return {dep.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() for dep in extras[extra]}

    for module, extra in OPTIONAL_MODULES.items():
        assert DISTRIBUTIONS.get(module, module).lower() in names(extra), (module, extra)
    assert set(COMMAND_EXTRAS.values()) <= set(extras)


def test_a_weightwarden_error_is_one_error_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["digest", str(tmp_path)])  # an empty folder cannot be hashed
    assert result.exit_code == 2
    assert "has no files" in result.output and "Traceback" not in result.output


def test_python_dash_m_weightwarden() -> None:
    res = subprocess.run([sys.executable, "-m", "weightwarden", "--version"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("weightwarden "), (res.stdout, res.stderr)


def test_sign_release_version_and_its_hidden_old_name(tiny_model: Path, tmp_path: Path) -> None:
    from weightwarden.integrity.bundle import parse_bundle
    from weightwarden.integrity.statement import read_statement

    help_text = CliRunner().invoke(main, ["sign", "--help"]).output
    assert "--release-version" in help_text and "--version" not in help_text.replace("--release-version", "")
    for flag, value in (("--release-version", "3"), ("--version", "4")):
        sig = tmp_path / f"{value}.sig"
        result = CliRunner().invoke(main, ["sign", str(tiny_model), "--key", str(KEYS / "p256.pem"), flag, value,
                                           "-o", str(sig)])
        assert result.exit_code == 0, result.output
        assert read_statement(parse_bundle(sig.read_bytes()).payload).freshness.version == int(value)
    clash = CliRunner().invoke(main, ["sign", str(tiny_model), "--key", str(KEYS / "p256.pem"), "--version", "1",
                                      "--release-version", "2", "-o", str(tmp_path / "x.sig")])
    assert clash.exit_code == 3 and "old name of --release-version" in clash.output
    assert CliRunner().invoke(main, ["--version"]).output.startswith("weightwarden ")
