"""Diff and derivation results as core findings: a surgical edit is a finding about the edited tensor, an
unrelated model whose folder declares the base contradicts a claim, identical weights need no test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lineage import variants as V
from weightwarden import schemas
from weightwarden.core.findings import Severity, SubjectKind
from weightwarden.lineage.derivation import LineageReport
from weightwarden.lineage.findings import CATALOGUE, analyse, findings_of_diff, findings_of_lineage


@pytest.fixture(scope="module")
def minilm(minilm_folder: Path):
    return V.load_model(minilm_folder)


def test_rank_one_edit_is_a_finding_about_that_tensor(minilm, minilm_folder: Path, tmp_path: Path) -> None:
    base, _ = minilm
    variant = V.rank1_edit(base)
    folder = V.write_hf_folder(variant.tensors, tmp_path / "rank1", like=minilm_folder)
    result = analyse(minilm_folder, folder)
    [edited] = [name for name, kind in variant.expected.items() if kind == "rank1_edit"]
    [finding] = [f for f in result.findings if f.rule_id == "WW-LIN-001"]
    assert finding.subject.kind is SubjectKind.TENSOR and finding.subject.name == edited
    assert finding.severity is Severity.HIGH and finding.component == "lineage"
    assert result.record.lineage is not None and result.record.to_dict()["schema"] == "weightwarden.lineage-result/v1"
    schemas.validate(result.record.to_dict(), "lineage-result.v1.json")  # diff/v1 and lineage-report/v1 inside
    from weightwarden.report import render

    assert "FLAGGED (1)" in render(result.record.diff, "text")
    assert "derived" in render(result.record.lineage, "text")
    surgical = {"WW-LIN-001", "WW-LIN-002", "WW-LIN-003"}
    assert findings_of_diff(result.record.diff) == [f for f in result.findings if f.rule_id in surgical]


def test_identical_models_need_no_derivation_test(minilm_folder: Path) -> None:
    result = analyse(minilm_folder, minilm_folder)
    assert result.record.identical and result.record.lineage is None and result.findings == ()
    schemas.validate(result.record.to_dict(), "lineage-result.v1.json")


def _report(verdict: str) -> LineageReport:
    return LineageReport(verdict, f"because {verdict}", 0.1, 0.5, -0.3, 0.01, {"path": "base"}, {"path": "cand"})


def test_unrelated_is_high_only_when_the_base_was_declared() -> None:
    [claimed] = findings_of_lineage(_report("unrelated"), declared=True)
    [merely] = findings_of_lineage(_report("unrelated"))
    assert claimed.rule_id == merely.rule_id == "WW-LIN-004"
    assert claimed.severity is Severity.HIGH and merely.severity is Severity.INFO
    [derived] = findings_of_lineage(_report("derived"))
    [unsure] = findings_of_lineage(_report("inconclusive"))
    assert (derived.rule_id, unsure.rule_id) == ("WW-LIN-006", "WW-LIN-005")
    assert {f.rule_id for f in (claimed, derived, unsure)} <= {r.id for r in CATALOGUE.rules}


def test_fingerprint_json_validates_against_its_published_schema(minilm_folder: Path) -> None:
    from weightwarden.lineage.fingerprint import make_fingerprint

    schemas.validate(make_fingerprint(minilm_folder).to_dict(), "fingerprint.v1.json")
