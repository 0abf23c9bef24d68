"""`weightwarden indicators` as a user runs it: keygen, derive, export, import, match, psi (files, stdin, TCP),
and clear errors (exit 2, `error: <reason>`) for bad keys and malformed input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from tests.indicators.evidence import attempt, write_eval_log
from weightwarden.cli.main import main


def _invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_keygen_derive_export_import_match(tmp_path: Path, eval_log: Path, public_prompts: list[str]):
    key = tmp_path / "group.key"
    assert _invoke("indicators", "keygen", str(key)).exit_code == 0
    mine, theirs_stix = tmp_path / "mine.json", tmp_path / "theirs.stix.json"
    result = _invoke("indicators", "derive", "--key", str(key), "--eval-log", str(eval_log), "--include-refs",
                     "-o", str(mine))
    assert result.exit_code == 0, result.output
    assert "CONTAINS LOCAL REFERENCES" in result.output
    assert (mine.stat().st_mode & 0o777) == 0o600  # a private copy is created owner-only
    seen = tmp_path / "seen"
    seen.mkdir()
    (seen / "a.txt").write_text(public_prompts[0].upper())
    (seen / "b.txt").write_text("Hey, " + public_prompts[1].lower() + " asap")
    (seen / "c.txt").write_text("What is a good name for a cat?")
    result = _invoke("indicators", "derive", "--key", str(key), "--folder", str(seen), "--format", "stix",
                     "--tlp", "green", "-o", str(theirs_stix))
    assert result.exit_code == 0, result.output
    assert "readable without the group key: the number of indicators" in result.output
    bundle = json.loads(theirs_stix.read_text())
    assert bundle["type"] == "bundle" and "name for a cat" not in theirs_stix.read_text().lower()
    matched = _invoke("indicators", "match", str(mine), str(theirs_stix), "--key", str(key))
    assert matched.exit_code == 1, matched.output
    assert "1 exact, 1 near" in matched.output and "harmbench/i0" in matched.output
    as_json = json.loads(_invoke("indicators", "match", str(mine), str(theirs_stix), "--format", "json", "--key", str(key)).output)
    assert as_json["counts"]["mine_matched"] == 2
    imported = tmp_path / "theirs.json"
    assert _invoke("indicators", "import", str(theirs_stix), "-o", str(imported)).exit_code == 0
    assert json.loads(imported.read_text())["tlp"] == "green"
    exported = tmp_path / "shared.stix.json"
    assert _invoke("indicators", "export", str(mine), "--key", str(key), "-o", str(exported)).exit_code == 0
    assert "harmbench/i0" not in exported.read_text()  # local references never leave in an export
    unrelated = tmp_path / "unrelated.json"
    (seen / "a.txt").unlink()
    (seen / "b.txt").unlink()
    _invoke("indicators", "derive", "--key", str(key), "--folder", str(seen), "-o", str(unrelated))
    assert _invoke("indicators", "match", str(mine), str(unrelated), "--key", str(key)).exit_code == 0


def test_errors_are_reasons_not_tracebacks(tmp_path: Path, eval_log: Path):
    short = tmp_path / "short.key"
    short.write_text("00" * 16)
    result = _invoke("indicators", "derive", "--key", str(short), "--eval-log", str(eval_log))
    assert result.exit_code == 2 and "error:" in result.output and "wrong key size: 16 bytes" in result.output
    bad = tmp_path / "bad.stix.json"
    bad.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": [{"type": "indicator"}]}))
    result = _invoke("indicators", "match", str(bad), str(bad), "--key", str(short))
    assert result.exit_code == 2 and ("malformed STIX 2.1 bundle" in result.output or "pattern is not" in result.output
                                      or "exactly one weightwarden grouping" in result.output)
    broken_log = tmp_path / "broken.jsonl"
    broken_log.write_text('{"type": "attempt"}\n')
    good_key = tmp_path / "k"
    _invoke("indicators", "keygen", str(good_key))
    result = _invoke("indicators", "derive", "--key", str(good_key), "--eval-log", str(broken_log))
    assert result.exit_code == 2 and "not a weightwarden eval log" in result.output
    other_key = tmp_path / "k2"
    _invoke("indicators", "keygen", str(other_key))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _invoke("indicators", "derive", "--key", str(good_key), "--eval-log", str(eval_log), "-o", str(a))
    _invoke("indicators", "derive", "--key", str(other_key), "--eval-log", str(eval_log), "-o", str(b))
    result = _invoke("indicators", "match", str(a), str(b), "--key", str(good_key))
    assert result.exit_code == 2 and "different group keys" in result.output
    assert _invoke("indicators", "derive", "--key", str(good_key)).exit_code == 3


def test_psi_over_files_and_stdin(tmp_path: Path, public_prompts: list[str]):
    key = tmp_path / "group.key"
    _invoke("indicators", "keygen", str(key))
    logs = []
    for name, rng in (("a", range(0, 30)), ("b", range(20, 60))):
        log = write_eval_log(tmp_path / f"{name}.jsonl",
                             [attempt(f"x{i}", public_prompts[i], success=True) for i in rng])
        out = tmp_path / f"{name}.json"
        _invoke("indicators", "derive", "--key", str(key), "--eval-log", str(log), "-o", str(out))
        logs.append(out)
    state, request = tmp_path / "state", tmp_path / "request.bin"
    assert _invoke("indicators", "psi", "request", str(logs[0]), "--state", str(state), "-o", str(request)).exit_code == 0
    response = _invoke("indicators", "psi", "respond", str(logs[1]), "-", "--budget-file", str(tmp_path / "budget"),
                       input=request.read_bytes())
    assert response.exit_code == 0
    (tmp_path / "response.bin").write_bytes(response.stdout_bytes)
    done = _invoke("indicators", "psi", "finish", str(tmp_path / "response.bin"), "--state", str(state),
                   "--format", "json")
    assert json.loads(done.output)["cardinality"] == 10


def test_psi_server_and_client_processes_on_localhost(tmp_path: Path, public_prompts: list[str]):
    key = tmp_path / "group.key"
    _invoke("indicators", "keygen", str(key))
    sets = []
    for name, rng in (("a", range(0, 50)), ("b", range(40, 90))):
        log = write_eval_log(tmp_path / f"{name}.jsonl",
                             [attempt(f"x{i}", public_prompts[i], success=True) for i in rng])
        out = tmp_path / f"{name}.json"
        _invoke("indicators", "derive", "--key", str(key), "--eval-log", str(log), "-o", str(out))
        sets.append(out)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    server = subprocess.Popen(
        [sys.executable, "-c", "from weightwarden.cli.main import run; run()", "indicators", "psi", "serve",
         str(sets[1]), "--timeout", "60", "--format", "json", "--budget-file", str(tmp_path / "budget")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = server.stderr.readline()
        assert line.startswith("listening on 127.0.0.1:"), line
        port = line.strip().rsplit(":", 1)[1]
        client = _invoke("indicators", "psi", "connect", str(sets[0]), "--port", port, "--share")
        assert client.exit_code == 0 and "shared indicators: 10" in client.output
        out, _ = server.communicate(timeout=60)
        assert json.loads(out)["cardinality"] == 10
    finally:
        if server.poll() is None:
            server.kill()
            time.sleep(0.1)
