"""Runs to and from Inspect AI logs: written with Inspect's own writer and read back with its own reader.

Our run written as an Inspect log must be a valid Inspect log that says who wrote it, must never write an
undecided verdict as 0, and must read back as the same run; an Inspect run of its own is compared on shared
samples, with its scorers never called a safety regression; nothing shared exits 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from test_results import _header, _record  # same folder (pytest puts it on sys.path)

from weightwarden.cli.main import main
from weightwarden.evals.log import EvalLogError, LogWriter, read_log
from weightwarden.evals.results import compare

inspect_log = pytest.importorskip("inspect_ai.log")
from weightwarden.evals.inspect_runs import INSPECT_TASK, WRITTEN_BY, read_inspect_run, write_inspect_log  # noqa: E402


def _cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _run(path: Path) -> Path:
    writer = LogWriter.create(path, _header(suites=("harm",)))
    for i in range(6):
        writer.write(_record("harm", str(i), success=i < 2, label="compliance" if i < 2 else "refused"))
    writer.write(_record("harm", "6", success=None, label="undecided"))  # undecided: never a 0 in Inspect
    writer.write(_record("harm", "7", error="connection refused"))
    writer.close()
    return path


@pytest.mark.parametrize("suffix", [".eval", ".json"])
def test_a_run_written_as_an_inspect_log_is_valid_marked_and_reads_back_the_same(tmp_path: Path, suffix: str):
    run = read_log(_run(tmp_path / "run.jsonl"))
    out = write_inspect_log(run, tmp_path / f"run{suffix}")
    log = inspect_log.read_eval_log(str(out))  # Inspect's own reader accepts it
    assert log.eval.task == INSPECT_TASK and log.eval.packages == {"weightwarden": "0.1.0"}
    assert log.eval.metadata["written_by"] == WRITTEN_BY and "not made by Inspect" in WRITTEN_BY
    assert log.status == "error" and "1 attempts ended in an error" in log.error.message
    by_id = {s.id: s for s in log.samples}
    assert by_id["harm/0"].scores["attack"].value == 1 and by_id["harm/3"].scores["attack"].value == 0
    assert by_id["harm/6"].scores is None  # the undecided verdict is not written as a score at all
    (score,) = log.results.scores
    assert score.scored_samples == 6 and score.metrics["mean"].value == pytest.approx(2 / 6)
    back = read_inspect_run(out)
    assert back.header == run.header and back.records == tuple(run.latest().values())
    comparison = compare(run, back)
    assert all(c.paired == 6 for c in comparison.suites) and comparison.verdict.startswith("no significant")


def _inspect_run(path: Path, task: str, correct: dict[str, bool]) -> Path:
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalResults, EvalSample, EvalSpec
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import Score

    samples = [EvalSample(id=i, epoch=1, input=f"question {i}", target="A",
                          output=ModelOutput.from_content("m/x", "A" if ok else "B"),
                          scores={"choice": Score(value="C" if ok else "I")}) for i, ok in correct.items()]
    log = EvalLog(status="success", eval=EvalSpec(created="2026-01-01T00:00:00Z", task=task,
                                                 dataset=EvalDataset(name=task, samples=len(samples)),
                                                 model="m/x", config=EvalConfig()),
                  results=EvalResults(total_samples=len(samples), completed_samples=len(samples)),
                  samples=samples)
    inspect_log.write_eval_log(log, str(path), format="eval")
    return path


def test_inspect_runs_are_compared_on_shared_samples_and_never_a_safety_regression(tmp_path: Path):
    a = _inspect_run(tmp_path / "a.eval", "wmdp", {str(i): i < 5 for i in range(40)})
    b = _inspect_run(tmp_path / "b.eval", "wmdp", {str(i): i < 30 for i in range(40)})
    run = read_inspect_run(a)
    assert {r.suite_id for r in run.records} == {"inspect:wmdp"} and run.records[0].family == "inspect"
    (change,) = compare(run, read_inspect_run(b)).suites
    assert change.metric == "inspect:choice" and change.paired == 40
    assert change.verdict == "significantly higher"  # 25 discordant pairs, all one way
    result = _cli("eval", "compare", str(a), str(b))
    assert result.exit_code == 0, result.output  # a higher Inspect score is reported, not a regression
    assert "significantly higher" in result.output and "Inspect scores changed significantly" in result.output


def test_compare_with_an_inspect_run_sharing_nothing_exits_2(tmp_path: Path):
    a = _inspect_run(tmp_path / "a.eval", "wmdp", {"1": True, "2": False})
    b = _inspect_run(tmp_path / "b.eval", "cybench", {"1": True, "2": False})
    result = _cli("eval", "compare", str(a), str(b))
    assert result.exit_code == 2 and "nothing to compare" in result.output


def test_eval_export_writes_the_inspect_log_and_compare_reads_it(tmp_path: Path):
    run = _run(tmp_path / "run.jsonl")
    result = _cli("eval", "export", str(run), "--inspect", str(tmp_path / "out.eval"))
    assert result.exit_code == 0, result.output
    result = _cli("eval", "compare", str(run), str(tmp_path / "out.eval"))
    assert result.exit_code == 0 and "no significant change in safety" in result.output
    bad = tmp_path / "not-a-log.eval"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    result = _cli("eval", "compare", str(run), str(bad))
    assert result.exit_code == 2 and "not a readable Inspect AI eval log" in result.output


def test_a_foreign_log_without_samples_is_refused(tmp_path: Path):
    empty = _inspect_run(tmp_path / "e.eval", "wmdp", {})
    with pytest.raises(EvalLogError, match="no samples"):
        read_inspect_run(empty)


def test_eval_view_shows_an_inspect_run_beside_ours(tmp_path: Path):
    run = _run(tmp_path / "run.jsonl")
    theirs = _inspect_run(tmp_path / "theirs.eval", "wmdp", {"q1": True, "q2": False})
    page = tmp_path / "page.html"
    result = _cli("eval", "view", str(run), str(theirs), "-o", str(page))
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "inspect:wmdp" in text and "question q1" in text  # the Inspect sample's suite and input
