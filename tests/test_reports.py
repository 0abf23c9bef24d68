"""Report renderers: JSON validates against the published schema, SARIF against the official 2.1.0 schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from weightwarden import schemas
from weightwarden.core.findings import Finding, Location, Severity, file_subject
from weightwarden.report import render
from weightwarden.report.json_report import schema
from weightwarden.report.sarif import to_sarif
from weightwarden.scan import scan_paths
from weightwarden.scan.results import ScanError, ScanReport
from weightwarden.scan.rules import ALL_RULES, RULES_BY_ID

REPO = Path(__file__).resolve().parent.parent
from tests.corpus.samples import SARIF_SCHEMA  # noqa: E402


def _report() -> ScanReport:
    crit = RULES_BY_ID["WW-PKL-001"].found_in(
        "models/evil.pt",
        "archive/data.pkl > GLOBAL @46",
        "pickle calls posix.system",
        "GLOBAL posix.system at offset 46",
        offset=46,
    )
    tpl = RULES_BY_ID["WW-TPL-003"].found_in(
        "models/bundle.zip!inner/tokenizer_config.json",
        "chat_template line 1",
        "escape via lipsum",
        "{{ lipsum }}",
    )
    info = RULES_BY_ID["WW-FS-002"].found_in("models/alias.bin", "", "symbolic link", "target.bin")
    unmapped = Finding(
        "WW-GEN-900", Severity.MEDIUM, file_subject("/abs/elsewhere/odd.bin"), "[new.code] something", Location("x")
    )
    return ScanReport(
        targets=["models", "/abs/elsewhere/odd.bin"],
        findings=[crit, tpl, info, unmapped],
        errors=[ScanError("models/broken.gguf", "truncated header")],
        files_scanned=4,
        formats={"pytorch-zip": 1, "zip": 1},
        duration_s=0.25,
    )


def test_json_validates_against_published_schema() -> None:
    data = json.loads(render(_report(), "json"))
    schemas.validate(data, "scan-report.v2.json")
    assert data["schema"] == "weightwarden.scan-report/v2"
    assert data["findings"][0]["location"]["offset"] == 46 and data["findings"][0]["references"]
    assert data["errors"] == [{"file": "models/broken.gguf", "reason": "truncated header"}]


def test_published_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    on_disk = json.loads((REPO / "weightwarden" / "schemas" / "scan-report.v2.json").read_text())
    assert on_disk == schema()
    for name in schemas.names():
        jsonschema.Draft202012Validator.check_schema(schemas.load(name))


def test_json_schema_rejects_bad_reports() -> None:
    data = json.loads(render(_report(), "json"))
    data["findings"][0]["severity"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate(data, "scan-report.v2.json")


def test_real_scan_json_validates(tmp_path: Path) -> None:
    (tmp_path / "evil.pkl").write_bytes(b"cposix\nsystem\n(S'id'\ntR.")
    (tmp_path / "t.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x01")
    report = scan_paths([str(tmp_path)])
    assert report.findings and report.errors
    schemas.validate(report.to_dict(), "scan-report.v2.json")


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.protocols.Validator:
    assert SARIF_SCHEMA.exists(), f"official SARIF schema missing at {SARIF_SCHEMA} (set WW_SHARED)"
    official = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(official)
    return cls(official)


def test_sarif_validates_against_official_schema(sarif_validator, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO.parent)
    log = json.loads(render(_report(), "sarif"))
    errors = sorted(sarif_validator.iter_errors(log), key=str)
    assert not errors, "\n".join(e.message for e in errors[:5])
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.id for r in ALL_RULES]


def test_sarif_content(tmp_path: Path) -> None:
    log = to_sarif(_report(), cwd=str(REPO.parent))
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    pkl = next(r for r in rules if r["id"] == "WW-PKL-001")
    assert pkl["defaultConfiguration"]["level"] == "error"
    assert pkl["properties"]["security-severity"] == "9.5" and "CWE-502" in pkl["properties"]["tags"]
    assert pkl["help"]["text"] and pkl["fullDescription"]["text"] and pkl["name"]
    crit, tpl, info, unmapped, unreadable = run["results"]
    # A file that could not be scanned is also a result (high), not only a notification.
    assert unreadable["ruleId"] == "WW-GEN-003" and unreadable["level"] == "error"
    assert "truncated header" in unreadable["message"]["text"]
    assert crit["ruleId"] == "WW-PKL-001" and crit["level"] == "error"
    assert rules[crit["ruleIndex"]]["id"] == "WW-PKL-001"
    physical = crit["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "models/evil.pt", "uriBaseId": "SRCROOT"}
    assert physical["region"] == {"startLine": 1, "byteOffset": 46}
    assert crit["locations"][0]["logicalLocations"][0]["name"] == "archive/data.pkl > GLOBAL @46"
    # An archive member: the outer file is the physical location, the member a logical one; no byte offset.
    tpl_loc = tpl["locations"][0]
    assert tpl_loc["physicalLocation"]["artifactLocation"]["uri"] == "models/bundle.zip"
    assert tpl_loc["physicalLocation"]["region"] == {"startLine": 1}
    assert tpl_loc["logicalLocations"][0]["name"] == "inner/tokenizer_config.json"
    assert info["level"] == "note" and unmapped["level"] == "warning"
    assert (
        unmapped["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "file:///abs/elsewhere/odd.bin"
    )
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    [note] = invocation["toolExecutionNotifications"]
    assert "models/broken.gguf" in note["message"]["text"] and note["level"] == "error"


def test_sarif_clean_run_is_successful(sarif_validator) -> None:
    log = to_sarif(ScanReport(targets=["x"], files_scanned=1))
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True
    assert log["runs"][0]["results"] == []
    assert not list(sarif_validator.iter_errors(log))


def test_text_report() -> None:
    text = render(_report(), "text")
    assert "models/evil.pt" in text and "WW-PKL-001" in text and "critical" in text
    assert "Could not scan" in text and "models/broken.gguf" in text and "truncated header" in text
    assert "4 findings (2 critical, 1 medium, 1 info) in 4 files; 1 could not be scanned" in text
    assert "\x1b[" not in text  # no colour unless asked
    quiet = render(_report(), "text", min_severity=Severity.HIGH, summary=False)
    assert "WW-FS-002" not in quiet and "WW-PKL-001" in quiet and "models/broken.gguf" in quiet
    assert "\x1b[" in render(_report(), "text", color=True)


def test_unknown_format_rejected() -> None:
    with pytest.raises(ValueError):
        render(_report(), "xml")
