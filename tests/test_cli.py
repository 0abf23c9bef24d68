"""End-to-end tests of ``weightwarden scan``: exit codes, formats, output file, quiet mode, no tracebacks.

Malicious inputs are written by hand with raw pickle opcodes and are never loaded. The real sample model
folder (all-MiniLM-L6-v2) must scan clean with exit code 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from weightwarden import schemas
from weightwarden.cli.main import main

REPO = Path(__file__).resolve().parent.parent
MINILM = REPO / ".cache" / "models" / "all-MiniLM-L6-v2"
from tests.corpus.samples import SARIF_SCHEMA  # noqa: E402


def evil_pickle(canary: Path) -> bytes:
    """``os.system("touch <canary>")`` as a protocol-2 pickle; the canary is per test (tmp_path), so a
    payload that ever ran is seen by that test alone, not by whichever test looks at a shared path next."""
    return b"\x80\x02cposix\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."


EVIL_PICKLE = evil_pickle(Path("/nonexistent/weightwarden-canary"))  # for tests that never look for it
UNKNOWN_PICKLE = b"\x80\x02csomepackage.module\nThing\n)R."
TRUNCATED_GGUF = b"GGUF\x03\x00\x00\x00\x01\x02"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "weightwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd or REPO,
        env=env,
        check=False,
    )


@pytest.fixture()
def evil_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "evil"
    folder.mkdir()
    payload = evil_pickle(tmp_path / "canary")
    (folder / "model.pkl").write_bytes(payload)
    with zipfile.ZipFile(folder / "pytorch_model.bin", "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    return folder


def test_help_documents_exit_codes() -> None:
    res = _cli("--help")
    assert res.returncode == 0 and "Exit codes" in res.stdout and "scan" in res.stdout
    res = _cli("scan", "--help")
    assert res.returncode == 0
    for text in (
        "--format",
        "--fail-on",
        "--strict",
        "--workers",
        "--output",
        "--quiet",
        "Exit codes",
        "3  usage",
    ):
        assert text in res.stdout, text


def test_version() -> None:
    from weightwarden import __version__

    res = _cli("--version")
    assert res.returncode == 0 and __version__ in res.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("scan",),
        ("scan", "--bogus", "x"),
        ("scan", "--fail-on", "catastrophic", "."),
        ("scan", "--format", "xml", "."),
        ("scan", "--workers", "0", "."),
        ("frobnicate",),
    ],
)
def test_usage_errors_exit_3(args: tuple[str, ...]) -> None:
    res = _cli(*args)
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and "Error" in res.stderr


def test_a_path_that_cannot_be_read_is_exit_2_wherever_it_is(tmp_path: Path) -> None:
    """Named on the command line or found inside a folder: "could not be scanned" (2), never usage (3)."""
    res = _cli("scan", "/definitely/not/here")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "/definitely/not/here: cannot access" in res.stdout
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    res = _cli("scan", str(tmp_path / "dangling"))
    assert res.returncode == 2, (res.stdout, res.stderr)


def test_usage_error_exit_3_in_runner() -> None:
    result = CliRunner().invoke(main, ["scan", "--fail-on", "nope", "."])
    assert result.exit_code == 3


@pytest.mark.skipif(not MINILM.is_dir(), reason="real sample model not fetched (make demo fetches it)")
def test_real_model_folder_scans_clean() -> None:
    res = _cli("scan", str(MINILM))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 findings" in res.stdout
    res = _cli("scan", "--format", "json", "--fail-on", "info", str(MINILM))
    data = json.loads(res.stdout)
    assert res.returncode == 0 and data["findings"] == [] and data["errors"] == []
    assert data["formats"].get("safetensors", 0) >= 1


def test_malicious_pickle_exit_1(evil_dir: Path) -> None:
    res = _cli("scan", str(evil_dir))
    assert res.returncode == 1
    assert "WW-PKL-001" in res.stdout and "posix.system" in res.stdout
    assert "model.pkl" in res.stdout and "pytorch_model.bin" in res.stdout
    assert not (evil_dir.parent / "canary").exists()


def test_fail_on_threshold(tmp_path: Path) -> None:
    (tmp_path / "unknown.pkl").write_bytes(UNKNOWN_PICKLE)
    assert _cli("scan", str(tmp_path)).returncode == 1  # unknown callable: high >= medium
    assert _cli("scan", "--fail-on", "critical", str(tmp_path)).returncode == 0
    assert _cli("scan", "--fail-on", "HIGH", str(tmp_path)).returncode == 1


def test_unscannable_file_exit_2_and_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(TRUNCATED_GGUF)
    res = _cli("scan", "--fail-on", "critical", str(bad))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "broken.gguf" in res.stdout and "Could not scan" in res.stdout
    res = _cli("scan", "--fail-on", "critical", "--format", "json", str(bad))
    assert res.returncode == 2 and "could not scan" in res.stderr and "broken.gguf" in res.stderr
    assert json.loads(res.stdout)["errors"][0]["file"].endswith("broken.gguf")


def test_findings_take_precedence_over_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.gguf").write_bytes(TRUNCATED_GGUF)
    (tmp_path / "evil.pkl").write_bytes(EVIL_PICKLE)
    assert _cli("scan", str(tmp_path)).returncode == 1


def test_json_output_validates(evil_dir: Path) -> None:
    res = _cli("scan", "--format", "json", str(evil_dir))
    assert res.returncode == 1
    data = json.loads(res.stdout)
    schemas.validate(data, "scan-report.v2.json")
    rules = {f["rule_id"] for f in data["findings"]}
    assert rules == {"WW-PKL-001"}
    assert all(f["remediation"] and f["references"] and f["evidence"] for f in data["findings"])


def test_sarif_output_file(evil_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    res = _cli("scan", "--format", "sarif", "--output", str(out), str(evil_dir))
    assert res.returncode == 1 and res.stdout == ""
    assert "report written to" in res.stderr
    log = json.loads(out.read_text())
    assert log["version"] == "2.1.0" and log["runs"][0]["results"]
    official = json.loads(SARIF_SCHEMA.read_text())
    jsonschema.validators.validator_for(official)(official).validate(log)


def test_quiet_clean_prints_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    res = _cli("scan", "--quiet", str(tmp_path))
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""
    res = _cli("scan", str(tmp_path))
    assert res.returncode == 0 and "0 findings" in res.stdout


def test_quiet_lists_only_failing_findings(tmp_path: Path) -> None:
    (tmp_path / "unknown.pkl").write_bytes(UNKNOWN_PICKLE)
    os.symlink("unknown.pkl", tmp_path / "alias.pkl")  # an info finding, hidden by --quiet
    res = _cli("scan", "-q", str(tmp_path))
    assert res.returncode == 1 and "WW-PKL-002" in res.stdout and "WW-FS-002" not in res.stdout


def test_unwritable_output_is_reported(evil_dir: Path, tmp_path: Path) -> None:
    res = _cli("scan", "--output", str(tmp_path / "no" / "such" / "dir" / "r.json"), str(evil_dir))
    assert res.returncode == 2 and "cannot write" in res.stderr and "Traceback" not in res.stderr


def test_internal_error_is_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import weightwarden.scan

    def explode(*_args, **_kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(weightwarden.scan, "scan_paths", explode)
    result = CliRunner().invoke(main, ["scan", str(tmp_path)])
    assert result.exit_code == 2
    assert "internal error" in result.output and "simulated failure" in result.output
    assert "Traceback" not in result.output


def test_hostile_files_never_traceback(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    heads = [
        b"PK\x03\x04",
        b"\x80\x04",
        b"GGUF",
        b"\x93NUMPY",
        b"\x89HDF\r\n\x1a\n",
        b"7z\xbc\xaf\x27\x1c",
        b"\x1f\x8b",
        b'{"chat_template": ',
        b"\x08\x00\x00\x00\x00\x00\x00\x00",
    ]
    for i, head in enumerate(heads):
        (tmp_path / f"f{i}").write_bytes(head + rng.randbytes(rng.randrange(0, 300)))
    res = _cli("scan", "--workers", "1", str(tmp_path))
    assert res.returncode in (0, 1, 2)
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout


def test_strict_flag(tmp_path: Path) -> None:
    (tmp_path / "hparams.pkl").write_bytes(b"\x80\x02cargparse\nNamespace\n)R.")
    assert _cli("scan", str(tmp_path)).returncode == 0
    res = _cli("scan", "--strict", str(tmp_path))
    assert res.returncode == 1 and "argparse.Namespace" in res.stdout


def test_multiple_targets_and_workers(evil_dir: Path, tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "config.json").write_text("{}")
    res = _cli("scan", "--workers", "2", "--format", "json", str(clean), str(evil_dir))
    data = json.loads(res.stdout)
    assert res.returncode == 1 and data["targets"] == [str(clean), str(evil_dir)]
    assert data["files_scanned"] == 3


def test_progress_bar_starts_only_for_large_folders() -> None:
    from weightwarden.cli._terminal import ProgressBar
    from weightwarden.cli.main import PROGRESS_MIN_FILES

    small = ProgressBar("scanning", PROGRESS_MIN_FILES)
    small(1, 3, "a")
    assert not small.started
    small.close()
    big = ProgressBar("scanning", PROGRESS_MIN_FILES)
    for i in range(1, PROGRESS_MIN_FILES + 1):
        big(i, PROGRESS_MIN_FILES, f"file{i}")
    assert big.started
    big.close()


def test_engine_reports_progress(tmp_path: Path) -> None:
    from weightwarden.scan import scan_paths

    for i in range(5):
        (tmp_path / f"c{i}.json").write_text("{}")
    calls: list[tuple[int, int]] = []
    scan_paths([str(tmp_path)], progress=lambda done, total, path: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
