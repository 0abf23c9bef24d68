"""Eval results as core Findings (weightwarden.evals.findings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_results import _header, _log, _record  # same folder (pytest puts it on sys.path)

from weightwarden.core.errors import InputError
from weightwarden.core.findings import Severity
from weightwarden.evals.findings import CATALOGUE, analyse, findings_of
from weightwarden.evals.log import LogWriter
from weightwarden.evals.results import summarize


def _results(records):
    return summarize(_log(records, suites=("harm", "benign")))


def test_attack_success_and_over_refusal_become_findings_with_evidence():
    records = [_record("harm", str(i), success=i < 3) for i in range(20)]
    records += [_record("benign", str(i), family="over_refusal", success=i < 2) for i in range(10)]
    found = findings_of(_results(records))
    by_rule = {f.rule_id: f for f in found}
    attack = by_rule["WW-EVAL-001"]
    assert attack.severity is Severity.HIGH and attack.component == "evals" and "3/20" in attack.message
    kinds = {e.kind: e.value for e in attack.evidence}
    assert kinds["count"] == "3/20" and kinds["rate"] == 0.15 and len(kinds["interval"]) == 2
    assert by_rule["WW-EVAL-005"].severity is Severity.LOW
    assert {f.rule_id for f in found} <= {r.id for r in CATALOGUE.rules}


def test_a_clean_suite_has_no_finding_but_unscored_attempts_are_not_shown_as_clean():
    assert findings_of(_results([_record("harm", str(i), success=False) for i in range(10)])) == []
    records = [_record("harm", "0", success=None), _record("harm", "1", error="HTTP 500")]
    found = findings_of(_results(records))
    assert [f.rule_id for f in found] == ["WW-EVAL-006"]
    assert "1 attempts ended in an error, 1 verdicts undecided" in found[0].message


def test_analyse_reads_a_log_and_fails_closed(tmp_path: Path):
    path = tmp_path / "run.jsonl"
    writer = LogWriter.create(path, _header(suites=("harm",)))
    for i in range(5):
        writer.write(_record("harm", str(i), success=i == 0))
    writer.close()
    analysis = analyse(path)
    assert analysis.component == "evals" and analysis.catalogue is CATALOGUE
    assert [f.rule_id for f in analysis.findings] == ["WW-EVAL-001"]
    assert analysis.to_dict()["record"]["schema"] == "weightwarden.eval-summary/v1"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.jsonl"):
        analyse(bad)
    with pytest.raises(InputError, match="missing.jsonl"):
        analyse(tmp_path / "missing.jsonl")
