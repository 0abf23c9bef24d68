"""Issue 11: suppressions with a reason (--config weightwarden.toml): findings stay, marked, and no longer count
for the exit code; no config is read unless named; path patterns are anchored; bad configs fail with a reason."""

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
from weightwarden.scan.suppressions import load_config, unread_local_config

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
    config = tmp_path / "weightwarden.toml"
    config.write_text('[[ignore]]\nrule = "WW-PKL-*"\npath = "models/m.pkl"\nreason = "reviewed sandbox fixture"\n')
    report = scan_paths([str(model)], workers=1, suppressions=load_config(config))
    assert report.findings and all(f.suppressed for f in report.findings)
    assert all(f.suppression.reason == "reviewed sandbox fixture" for f in report.findings)
    # named with --config, from anywhere: the CLI says which file muted the findings
    for cwd in (tmp_path, tmp_path / "models"):
        result = _cli(str(model), "-q", "--config", str(config), cwd=cwd)
        assert result.returncode == 0 and f"suppressions read from {config}" in result.stderr
    for bad in ('[[ignore]]\nrule = "WW-PKL-001"\npath = "x"\n', 'allow = "os.system"\n', "nope = 1\n", "[[ignore\n",
                'allow = ["CustomNorm x"]\n', 'allow = ["os"]\n'):
        config.write_text(bad)
        with pytest.raises(ConfigError):
            load_config(config)
        result = _cli(str(model), "-q", "--config", str(config), cwd=tmp_path)
        assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr


def _muting_repo(root: Path) -> Path:
    """A repository shaped as red teams 36 and 37 shaped theirs: a config at its root muting everything, weights in
    ``unet/`` and ``checkpoints/``, a ``scripts/`` folder to work from."""
    for part in ("unet", "checkpoints", "scripts"):
        (root / part).mkdir(parents=True)
    (root / "unet" / "diffusion_pytorch_model.bin").write_bytes(_pickle("os", "system"))
    (root / "checkpoints" / "model.pkl").write_bytes(_pickle("os", "system"))
    (root / "weightwarden.toml").write_text('[[ignore]]\nrule = "WW-*"\npath = "**"\nreason = "reviewed"\n')
    return root


def test_a_config_in_the_working_directory_is_never_read_unless_named(tmp_path: Path) -> None:
    """Red team rounds 36 and 37 on the readers: a repository's own weightwarden.toml muted its findings (exit 0)
    when read automatically — from its root (``cd repo && weightwarden scan unet``), from a sibling folder
    (``cd repo/scripts && weightwarden scan ../checkpoints``), or from inside the scanned folder. A configuration is
    now read only when named; a note on stderr says the file was not read."""
    repo = _muting_repo(tmp_path / "repo")
    (repo / "scripts" / "weightwarden.toml").write_text((repo / "weightwarden.toml").read_text())
    (repo / "unet" / "weightwarden.toml").write_text((repo / "weightwarden.toml").read_text())
    cases = [(repo, "unet"), (repo, "unet/diffusion_pytorch_model.bin"), (repo, str(repo / "unet")), (repo, "."),
             (repo / "scripts", "../checkpoints"), (repo / "scripts", str(repo / "checkpoints" / "model.pkl")),
             (repo / "unet", "."), (repo / "unet", "diffusion_pytorch_model.bin")]
    for cwd, target in cases:
        for workers in ("1", "2"):
            result = _cli(target, "-q", "--workers", workers, cwd=cwd)
            assert result.returncode == 1, (cwd, target, workers, result.stdout, result.stderr)
            assert "was not read" in result.stderr and "if you wrote it" in result.stderr
    assert unread_local_config(str(tmp_path)) is None  # no file, no note
    # named explicitly, it is the user's decision, and the CLI names the file
    result = _cli("unet", "-q", "--config", "weightwarden.toml", cwd=repo)
    assert result.returncode == 0 and "suppressions read from weightwarden.toml" in result.stderr


def test_a_path_pattern_is_anchored_at_the_config_folder(tmp_path: Path) -> None:
    """Red team round 37, class B: ``path`` was matched against the end of any scanned path and ``*`` crossed
    ``/``, so a user's ``checkpoints/*.pt`` also muted ``<a download>/checkpoints/epoch_3/model.pt``."""
    project = tmp_path / "project"
    (project / "checkpoints" / "epoch_3").mkdir(parents=True)
    (project / "checkpoints" / "old.pt").write_bytes(_pickle("os", "system"))
    (project / "checkpoints" / "epoch_3" / "model.pt").write_bytes(_pickle("os", "system"))
    download = tmp_path / "hub" / "checkpoints"
    download.mkdir(parents=True)
    (download / "model.pt").write_bytes(_pickle("os", "system"))
    config = project / "weightwarden.toml"
    config.write_text('[[ignore]]\nrule = "WW-PKL-*"\npath = "checkpoints/*.pt"\nreason = "our trainer"\n')

    def muted(target: Path, cwd: Path) -> bool:
        report = scan_paths([os.path.relpath(target, cwd)], workers=1, suppressions=load_config(config))
        assert report.findings
        return all(f.suppressed for f in report.findings)

    old = os.getcwd()
    try:
        for cwd in (project, tmp_path, download):
            os.chdir(cwd)
            assert muted(project / "checkpoints" / "old.pt", cwd)
            assert not muted(project / "checkpoints" / "epoch_3" / "model.pt", cwd), "* crossed a folder"
            assert not muted(download / "model.pt", cwd), "a file outside the config's folder was muted"
        config.write_text('[[ignore]]\nrule = "WW-PKL-*"\npath = "checkpoints/**/*.pt"\nreason = "ours"\n')
        os.chdir(project)
        assert muted(project / "checkpoints" / "epoch_3" / "model.pt", project)
        assert muted(project / "checkpoints" / "old.pt", project)
        assert not muted(download / "model.pt", project)
        config.write_text(f'[[ignore]]\nrule = "WW-PKL-*"\npath = "{download}/*.pt"\nreason = "reviewed"\n')
        assert muted(download / "model.pt", project), "an absolute pattern reaches a file anywhere"
    finally:
        os.chdir(old)
    assert _cli(str(download / "model.pt"), "-q", "--config", str(config), cwd=project).returncode == 0


def test_allow_takes_the_exact_callable_name(tmp_path: Path) -> None:
    """Red team round 37 (minor): ``allow`` read the callable's name up to a space or comma, so "CustomNorm x"
    passed as CustomNorm. A name with anything but identifier characters and dots is never allowed."""
    config = tmp_path / "ww.toml"
    config.write_text('allow = ["mypkg.layers.CustomNorm"]\n')
    for name in ("CustomNorm x", "CustomNorm,y", "CustomNorm, which is not on the allowlist: z"):
        path = tmp_path / "odd.pkl"
        path.write_bytes(_pickle("mypkg.layers", name))
        report = scan_paths([str(path)], workers=1, suppressions=load_config(config))
        assert report.findings and not any(f.suppressed for f in report.findings), name
    path.write_bytes(_pickle("mypkg.layers", "CustomNorm"))
    report = scan_paths([str(path)], workers=1, suppressions=load_config(config))
    assert report.findings and all(f.suppressed for f in report.findings)
