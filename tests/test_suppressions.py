"""Issue 11: suppressions with a reason (weightwarden.toml / --config): findings stay, marked, and no longer
count for the exit code; a config inside the scanned folder is not read; bad configs fail with a reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus.pickleasm import Asm, Glob
from weightwarden.core.errors import ConfigError
from weightwarden.scan import scan_paths
from weightwarden.scan.suppressions import discover_config, load_config

ROOT = Path(__file__).resolve().parent.parent


def _pickle(module: str, name: str) -> bytes:
    asm = Asm(2)
    asm.call(Glob(module, name))
    return asm.finish()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "weightwarden.cli.main", "scan", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


def test_allow_and_ignore_mark_findings_and_exit_code(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "custom.pkl").write_bytes(_pickle("mypkg.layers", "CustomNorm"))
    (model / "evil.pkl").write_bytes(_pickle("os", "system"))
    config = tmp_path / "ww.toml"
    config.write_text('allow = ["mypkg.layers.CustomNorm", "os.system"]\n')
    report = scan_paths([str(model)], workers=1, suppressions=load_config(config))
    custom = [f for f in report.findings if "custom.pkl" in f.file]
    evil = [f for f in report.findings if "evil.pkl" in f.file]
    assert custom and all(f.suppressed for f in custom)
    assert evil and not any(f.suppressed for f in evil), "a dangerous callable is never allowed by name"

    (model / "evil.pkl").unlink()
    assert _cli(str(model), "--config", str(config), "-q", cwd=tmp_path).returncode == 0
    assert _cli(str(model), "-q", cwd=tmp_path).returncode == 1
    out = _cli(str(model), "--config", str(config), "--format", "json", cwd=tmp_path)
    findings = json.loads(out.stdout)["findings"]
    assert findings and all(f.get("suppression", {}).get("reason") for f in findings)
    sarif = json.loads(_cli(str(model), "--config", str(config), "--format", "sarif", cwd=tmp_path).stdout)
    results = sarif["runs"][0]["results"]
    assert results and all(r.get("suppressions") for r in results)


def test_ignore_entry_needs_rule_path_reason(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "m.pkl"
    model.write_bytes(_pickle("os", "system") + _pickle("os", "system"))
    work = tmp_path / "work"  # the user's own folder, apart from the scanned one
    work.mkdir()
    config = work / "weightwarden.toml"
    config.write_text('[[ignore]]\nrule = "WW-PKL-*"\npath = "m.pkl"\nreason = "reviewed sandbox fixture"\n')
    report = scan_paths([str(model)], workers=1, suppressions=load_config(config))
    assert report.findings and all(f.suppressed for f in report.findings)
    assert all(f.suppression.reason == "reviewed sandbox fixture" for f in report.findings)
    # auto-discovered from the working directory, and the CLI says which file muted the findings
    result = _cli(str(model), "-q", cwd=work)
    assert result.returncode == 0 and f"suppressions read from {config}" in result.stderr
    assert _cli("../models/m.pkl", "-q", cwd=work).returncode == 0
    for bad in ('[[ignore]]\nrule = "WW-PKL-001"\npath = "x"\n', 'allow = "os.system"\n', "nope = 1\n", "[[ignore\n"):
        config.write_text(bad)
        with pytest.raises(ConfigError):
            load_config(config)
        result = _cli(str(model), "-q", cwd=work)
        assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr


def test_config_inside_the_scanned_folder_is_not_read(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "evil.pkl").write_bytes(_pickle("mypkg", "Thing"))
    (model / "weightwarden.toml").write_text('allow = ["mypkg.Thing"]\n')
    assert discover_config(["."], cwd=str(model)) is None
    assert _cli(".", "-q", cwd=model).returncode == 1
    # scanning one file of that folder from inside it: the folder's config is not read either
    assert discover_config(["evil.pkl"], cwd=str(model)) is None
    assert _cli("evil.pkl", "-q", cwd=model).returncode == 1


def test_config_of_the_folder_holding_the_scanned_path_is_not_read(tmp_path: Path) -> None:
    """Red team round 36 on the readers: ``cd repo && weightwarden scan unet`` read the repository's own
    weightwarden.toml (its root is above the target, not inside it), which muted every finding (exit 0)."""
    repo = tmp_path / "repo"
    (repo / "unet").mkdir(parents=True)
    (repo / "unet" / "diffusion_pytorch_model.bin").write_bytes(_pickle("os", "system"))
    (repo / "weightwarden.toml").write_text('[[ignore]]\nrule = "WW-*"\npath = "*"\nreason = "reviewed"\n')
    for target in ("unet", "unet/diffusion_pytorch_model.bin", str(repo / "unet"), "."):
        assert discover_config([target], cwd=str(repo)) is None, target
        for workers in ("1", "2"):
            result = _cli(target, "-q", "--workers", workers, cwd=repo)
            assert result.returncode == 1, (target, workers, result.stdout, result.stderr)
            assert "not read" in result.stderr and "--config" in result.stderr
    # a link in the working directory to the folder holding it: nested as written, so not read either
    (repo / "alias").symlink_to(repo / "unet")
    assert discover_config(["alias"], cwd=str(repo)) is None
    # named explicitly, it is the user's choice
    assert _cli("unet", "-q", "--config", "weightwarden.toml", cwd=repo).returncode == 0
