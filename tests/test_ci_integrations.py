"""Where users run weightwarden besides their shell: the GitHub Action's scripts, the pre-commit hook, the
container image, and the README's ``pip install`` path in a clean virtual environment (no make).

The pre-commit and pip tests install the project from PyPI-downloaded dependencies into fresh environments
(network to PyPI, ~1-2 min each): they are marked ``slow`` and run in CI (``make test``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from tests.corpus.samples import SHARED

REPO = Path(__file__).resolve().parent.parent
KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"
SHIPPED = ("pyproject.toml", "README.md", "LICENSE", "weightwarden", ".pre-commit-hooks.yaml")


def _malicious_pickle(path: Path) -> None:
    # protocol 2: GLOBAL posix.system + REDUCE; written by hand, never by pickling an object that runs code
    path.write_bytes(b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")


def _safetensors(path: Path) -> None:
    import struct

    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))


def _shim(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``weightwarden`` runs this checkout (as the action's pip install would)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "weightwarden"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m weightwarden "$@"\n')
    script.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(REPO),
               GITHUB_OUTPUT=str(tmp_path / "github_output"), RUNNER_TEMP=str(tmp_path), NO_COLOR="1")
    return env


def _step(action: dict, step_id_or_name: str) -> dict:
    return next(s for s in action["runs"]["steps"] if step_id_or_name in (s.get("id"), s.get("name")))


def _run_step(step: dict, inputs: dict[str, str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    step_env = dict(env)
    for key, value in step.get("env", {}).items():
        # every env value is exactly ${{ inputs.NAME }} (or github.action_path): substitute it
        name = value.removeprefix("${{ ").removesuffix(" }}")
        step_env[key] = inputs.get(name.removeprefix("inputs."), "") if name.startswith("inputs.") else str(REPO)
    return subprocess.run(["bash", "-c", step["run"]], env=step_env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _outputs(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "github_output"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return dict(line.split("=", 1) for line in lines)


def test_action_inputs_never_reach_a_script_unquoted() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")  # script injection
        for value in step.get("env", {}).values():
            assert value.startswith("${{ ") and value.endswith(" }}"), value
            name = value[4:-3]
            assert name == "github.action_path" or name.removeprefix("inputs.") in action["inputs"], name


def test_action_scan_writes_sarif_and_verify_checks_the_bundle(tmp_path: Path) -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    env = _shim(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    _safetensors(model / "model.safetensors")
    inputs = {"path": str(model), "fail-on": "medium", "sarif-file": str(tmp_path / "out.sarif")}

    res = _run_step(_step(action, "scan"), inputs, env, tmp_path)
    assert res.returncode == 0, res.stderr
    assert _outputs(tmp_path) == {"sarif-file": str(tmp_path / "out.sarif"), "exit-code": "0"}
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    assert sarif["version"] == "2.1.0" and not sarif["runs"][0]["results"]

    signed = subprocess.run(["weightwarden", "sign", str(model), "--key", str(KEYS / "p256.pem")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert signed.returncode == 0, signed.stderr
    verify_inputs = dict(inputs, bundle=str(model / "model.sig"), key=str(KEYS / "p256.pub.pem"))
    res = _run_step(_step(action, "verify"), verify_inputs, env, tmp_path)
    assert res.returncode == 0 and "VERIFIED" in res.stdout, (res.stdout, res.stderr)
    assert _outputs(tmp_path) == {"exit-code": "0"}
    gate = _run_step(_step(action, "Findings gate"), inputs, env, tmp_path)
    assert gate.returncode == 0

    _malicious_pickle(model / "extra.pkl")
    res = _run_step(_step(action, "scan"), inputs, env, tmp_path)
    assert res.returncode == 0, res.stderr  # the step passes so that verify still runs ...
    assert _outputs(tmp_path)["exit-code"] == "1"
    results = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]["results"]
    assert any(r["ruleId"] == "WW-PKL-001" for r in results)
    res = _run_step(_step(action, "verify"), verify_inputs, env, tmp_path)
    assert res.returncode == 1 and "added" in res.stdout  # the unsigned extra file
    gate = _run_step(_step(action, "Findings gate"), inputs, env, tmp_path)
    assert gate.returncode == 1  # ... and the job fails at the end


def test_dockerfile_is_slim_non_root_and_lints_clean() -> None:
    text = (REPO / "Dockerfile").read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert froms and all(f.startswith("python:") and f.endswith("-slim") or " AS " in f for f in froms), froms
    final = text.rsplit("FROM ", 1)[1]
    user = [line.split()[1] for line in final.splitlines() if line.startswith("USER ")]
    assert user and user[-1] not in ("root", "0"), user
    assert 'ENTRYPOINT ["weightwarden"]' in final
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    res = subprocess.run([hadolint, "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_works(), reason="no container runtime (docker daemon) on this machine")
def test_the_image_builds_and_scans(tmp_path: Path) -> None:
    tag = "weightwarden-test:latest"
    build = subprocess.run(["docker", "build", "-t", tag, str(REPO)], capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-3000:]
    _malicious_pickle(tmp_path / "evil.pkl")
    run = subprocess.run(["docker", "run", "--rm", "-v", f"{tmp_path}:/models:ro", tag, "scan", "/models"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "WW-PKL-001" in run.stdout
    who = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True,
                         text=True, timeout=120)
    assert who.stdout.strip() == "10001"


def _copy_project(dest: Path) -> Path:
    dest.mkdir()
    for name in SHIPPED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.mark.slow
def test_pre_commit_hook_scans_staged_model_files(tmp_path: Path) -> None:
    hook_repo = _copy_project(tmp_path / "hook-repo")
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", str(hook_repo)], check=True)
    subprocess.run([*git, "-C", str(hook_repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(hook_repo), "commit", "-qm", "hook"], check=True)
    work = tmp_path / "work"
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    _malicious_pickle(work / "evil.pkl")
    _safetensors(work / "ok.safetensors")
    (work / "notes.txt").write_text("not a model file")
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), NO_COLOR="1")
    pre_commit = [sys.executable, "-m", "pre_commit"]
    res = subprocess.run([*pre_commit, "try-repo", str(hook_repo), "weightwarden-scan", "--files", "evil.pkl",
                          "ok.safetensors", "notes.txt"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    assert "WW-PKL-001" in res.stdout and "evil.pkl" in res.stdout
    assert "notes.txt" not in res.stdout
    (work / "evil.pkl").unlink()
    res = subprocess.run([*pre_commit, "try-repo", str(hook_repo), "weightwarden-scan", "--files",
                          "ok.safetensors"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


@pytest.mark.slow
def test_readme_pip_install_works_in_a_clean_venv_without_make(tmp_path: Path) -> None:
    """The README's first install line (`pip install .`), in a fresh venv, from a copy of the project: scan
    works, `python -m weightwarden` works, and a command whose extra is missing says which to install."""
    readme = (REPO / "README.md").read_text()
    assert "pip install ." in readme and "| `sign` |" in readme
    project = _copy_project(tmp_path / "project")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    res = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q", "."], cwd=project,
                         env=clean, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    _malicious_pickle(tmp_path / "evil.pkl")
    scan = subprocess.run([str(env_dir / "bin" / "weightwarden"), "scan", str(tmp_path / "evil.pkl")], env=clean,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert scan.returncode == 1 and "WW-PKL-001" in scan.stdout, scan.stdout + scan.stderr
    sign = subprocess.run([str(py), "-m", "weightwarden", "sign", str(tmp_path / "evil.pkl"), "--key",
                           str(KEYS / "p256.pem")], env=clean, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert sign.returncode == 2, sign.stdout + sign.stderr
    assert "pip install 'weightwarden[sign]'" in sign.stderr and "internal error" not in sign.stderr
