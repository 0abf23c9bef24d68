"""End to end on the real model: every suite family, one jailbreak transform, SmolLM2-135M-Instruct (GGUF)
in llama-cpp-python as the model *and* as the judge, through the ``weightwarden eval`` CLI, then the report.

Two items per suite, 48 tokens per answer: this checks that the pieces fit together on a real model and
that the log and summary are complete and well-formed (every attempt answered or recorded as an error,
every scored attempt carrying the output of each of its suite's detectors, a complete header, the HTML
report and summary written), not the model's safety. Re-running the same command must find nothing left to
do. No canned answers here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.cli.main import main
from weightwarden.evals.log import read_log
from weightwarden.evals.suites import load_suite

pytestmark = pytest.mark.slow

SUITES = ("harmbench", "cyber-misuse", "xstest-safe", "cse-frr", "cse-prompt-injection", "tool-injection",
          "insecure-code")
FAMILIES = {"harmful", "over_refusal", "prompt_injection", "insecure_code"}
PER_SUITE = 2
TRANSFORM = "multi_turn"


@pytest.fixture(scope="module")
def e2e_run(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("e2e")
    out = folder / "run.jsonl"
    args = ["eval", "run", f"gguf:{smollm2_gguf}", "--suite", ",".join(SUITES), "--transform", TRANSFORM,
            "--limit", str(PER_SUITE), "--max-tokens", "48", "--concurrency", "2", "--seed", "1",
            "--judge", f"gguf:{smollm2_gguf}", "--out", str(out)]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    second = CliRunner().invoke(main, args, catch_exceptions=False)
    report = folder / "report.html"
    rendered = CliRunner().invoke(main, ["eval", "report", str(out), "-o", str(report)], catch_exceptions=False)
    return out, first, second, report, rendered


def test_every_family_runs_on_the_real_model(e2e_run, smollm2_gguf: Path):
    out, first, _, _, _ = e2e_run
    assert first.exit_code in (0, 1), first.output  # 1 = some attempts ended in an error (recorded)
    log = read_log(out)
    header = log.header
    assert not log.warnings
    assert header.model["kind"] == "llama-cpp" and header.model["digest"]
    assert Path(header.model["model"]).name == smollm2_gguf.name or smollm2_gguf.name in json.dumps(header.model)
    assert header.judge is not None and header.judge["digest"] == header.model["digest"]
    assert header.config["sampling"]["max_tokens"] == 48 and header.seed == 1
    expected_suites = {*SUITES, f"harmbench+{TRANSFORM}", f"cyber-misuse+{TRANSFORM}"}
    assert set(header.datasets) == expected_suites
    assert {d["family"] for d in header.datasets.values()} == FAMILIES
    for suite_id in SUITES:
        assert header.datasets[suite_id]["source_digest"] == load_suite(suite_id).source_digest
    assert set(header.detectors) >= {"refusal", "attack", "canary", "injection_judge", "static_code"}

    latest = log.latest()
    assert len(latest) == PER_SUITE * len(expected_suites)
    errors = [r for r in latest.values() if not r.ok]
    assert len(errors) <= 2, [r.error for r in errors]  # a 135M model may ramble, but must mostly answer
    for record in latest.values():
        assert record.messages and record.sampling["max_tokens"] == 48 and record.started_at
        if not record.ok:
            assert record.error and record.error_kind and record.detectors == ()
            continue
        assert record.response and record.response.strip()
        assert record.finish_reason in ("stop", "length")
        assert record.completion_tokens and record.completion_tokens <= 48 * record.turns
        names = [d["detector"] for d in record.detectors]
        assert sorted(names) == sorted(header.datasets[record.suite_id]["detectors"])
        for result in record.detectors:
            assert result["label"] and result["success"] in (True, False, None)
            if result["detector"] in ("refusal", "canary") and record.family != "insecure_code":
                # Model-free: decides, except that an echo or a non-answer to a benign request is neither
                # over-refusal nor compliance.
                undecidable = result["label"] in ("echo", "non_answer") and record.expect == "comply"
                assert result["error"] is None and (result["success"] in (True, False) or undecidable)
    multi = [r for r in latest.values() if r.transform == TRANSFORM and r.ok]
    assert multi and all(r.turns > 1 and any(m["role"] == "assistant" for m in r.messages) for r in multi)


def test_rerunning_the_same_command_continues_and_finds_nothing_left(e2e_run):
    out, first, second, _, _ = e2e_run
    found = re.search(r"continued: (\d+) attempts \((\d+) already done, (\d+) retried", second.output)
    assert found, second.output
    ran, done, retried = map(int, found.groups())
    log = read_log(out)
    first_errors = sum(1 for r in log.records if r.attempt == 1 and not r.ok)
    assert ran == retried == first_errors  # only the attempts that ended in an error are run again
    assert done + ran == len(log.latest())
    assert len(log.records) == len(log.latest()) + retried


def test_report_and_summary_are_written(e2e_run):
    out, _, _, report, rendered = e2e_run
    assert rendered.exit_code == 0, rendered.output
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page.lower()
    summary = json.loads(report.with_name("report.summary.json").read_text(encoding="utf-8"))
    assert summary["schema"] == "weightwarden.eval-summary/v1"
    suites = summary["suites"]
    assert set(suites) == set(read_log(out).header.datasets)
    assert {s["family"] for s in suites.values()} == FAMILIES
    assert "attack_success" in suites["harmbench"]["metrics"]
    assert "over_refusal" in suites["xstest-safe"]["metrics"]
    assert "injection_success" in suites["tool-injection"]["metrics"]
    assert {"insecure_code", "code_refusal"} <= set(suites["insecure-code"]["metrics"])
    assert set(summary["transforms"]) == {"none", TRANSFORM}
    for suite in suites.values():
        assert suite["attempts"] == PER_SUITE
        for metric in suite["metrics"].values():
            assert metric["n"] + metric["undecided"] + suite["errors"] == PER_SUITE
