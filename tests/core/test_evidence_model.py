"""The shared evidence model: findings round-trip through their published schema, and every analysis
(scan, verify) says its result as findings that SARIF renders with every catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.corpus.samples import SARIF_SCHEMA, SHARED
from tests.corpus.writers import write_u8_safetensors
from weightwarden import schemas
from weightwarden.core import (
    Catalogue,
    Evidence,
    Finding,
    Location,
    MissingExtraError,
    Rule,
    Severity,
    Subject,
    SubjectKind,
    Suppression,
    WeightwardenError,
    max_severity,
    printable,
    require_extra,
)
from weightwarden.integrity import sign_model
from weightwarden.integrity.findings import CATALOGUE as INTEGRITY
from weightwarden.integrity.findings import analyse as verify_analysis
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.verifying import KeyVerifier
from weightwarden.report.sarif import to_sarif
from weightwarden.scan import analyse as scan_analysis

KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"
RULE = Rule("WW-TEST-001", Severity.HIGH, "a test rule", "what it means", "how to fix it", ("CWE-20",), "audit")

_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=20))


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(list(SubjectKind)),
    name=st.text(max_size=40),
    path=st.text(max_size=40),
    offset=st.none() | st.integers(0, 2**40),
    line=st.none() | st.integers(1, 10**6),
    evidence=st.lists(st.tuples(st.text(min_size=1, max_size=10), _json_scalars), max_size=4),
    reason=st.none() | st.text(min_size=1, max_size=30),
)
def test_findings_round_trip_through_the_published_schema(kind, name, path, offset, line, evidence, reason) -> None:
    finding = Finding(
        "WW-TEST-001", Severity.HIGH, Subject(kind, name, "f"), "message", Location(path, offset, line),
        tuple(Evidence(k, v, 0.5) for k, v in evidence), "fix", ("CWE-20", "AML.T0010", "LLM01:2025"),
        component="audit", suppression=Suppression(reason, "weightwarden.toml") if reason else None,
    )
    data = json.loads(json.dumps(finding.to_dict()))
    schemas.validate(data, "finding.v2.json")
    assert Finding.from_dict(data) == finding


def test_schema_rejects_what_a_finding_cannot_be() -> None:
    data = RULE.finding("m.bin", "msg").to_dict()
    for key, bad in (("severity", "catastrophic"), ("component", "nope"), ("rule_id", "PKL-1"), ("message", "")):
        with pytest.raises(jsonschema.ValidationError):
            schemas.validate({**data, key: bad}, "finding.v2.json")


def test_suppressed_findings_do_not_count_towards_the_worst_severity() -> None:
    crit = Finding("WW-TEST-001", Severity.CRITICAL, Subject(SubjectKind.FILE, "x"), "m",
                   suppression=Suppression("reviewed"))
    low = Finding("WW-TEST-001", Severity.LOW, Subject(SubjectKind.FILE, "x"), "m")
    assert max_severity([crit, low]) is Severity.LOW and crit.suppressed


def test_catalogue_refuses_duplicate_ids_and_foreign_rules() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Catalogue("audit", (RULE, RULE))
    with pytest.raises(ValueError, match="another component"):
        Catalogue("scan", (RULE,))


def test_sanitiser_escapes_terminal_and_bidi_controls() -> None:
    hostile = "ok\x1b[2K\rVERIFIED\u202egnp.exe\u200b\n"
    shown = printable(hostile)
    assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown and "\u200b" not in shown
    assert shown == "ok\\x1b[2K\\x0dVERIFIED\\u202egnp.exe\\u200b\\x0a"
    assert printable("x" * 50, 10) == "x" * 9 + "…"


def test_missing_extra_names_the_extra_and_the_command() -> None:
    with pytest.raises(MissingExtraError) as err:
        require_extra("surely_not_installed_module_xyz", extra="registry", feature="weightwarden registry serve")
    assert isinstance(err.value, WeightwardenError)
    assert "pip install 'weightwarden[registry]'" in err.value.reason and "registry serve" in err.value.reason


def _toy_release(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "toy"
    model.mkdir()
    write_u8_safetensors(model / "model.safetensors", {"a": bytes(range(200)), "b": bytes(100), "c": b"\x07" * 64})
    (model / "config.json").write_text("{}")
    sig = tmp_path / "toy.sig"
    sign_model(model, KeySigner((KEYS / "p256.pem").read_bytes()), signature_path=sig)
    return model, sig


def test_verify_findings_name_the_changed_tensor_and_the_added_file(tmp_path: Path) -> None:
    model, sig = _toy_release(tmp_path)
    verifier = KeyVerifier((KEYS / "p256.pub.pem").read_bytes())
    clean = verify_analysis(model, sig, verifier)
    assert clean.record.verified and clean.findings == ()
    schemas.validate(clean.record.to_dict(), "verification.v1.json")

    raw = bytearray((model / "model.safetensors").read_bytes())
    raw[-70] ^= 0x01  # inside tensor "b" (the file ends with b then c: 100 + 64 bytes)
    (model / "model.safetensors").write_bytes(bytes(raw))
    (model / "extra.py").write_text("print('hi')\n")
    tampered = verify_analysis(model, sig, verifier)
    schemas.validate(tampered.record.to_dict(), "verification.v1.json")
    by_rule = {f.rule_id: f for f in tampered.findings}
    assert by_rule["WW-INT-002"].subject == Subject(SubjectKind.FILE, str(model / "model.safetensors"))
    tensor = by_rule["WW-INT-003"]
    assert tensor.subject.kind is SubjectKind.TENSOR and tensor.subject.name == "b"
    assert tensor.severity is Severity.CRITICAL
    assert by_rule["WW-INT-004"].subject.name.endswith("extra.py")
    assert {f.component for f in tampered.findings} == {"integrity"}


def test_wrong_key_is_a_not_verified_finding_about_the_model(tmp_path: Path) -> None:
    model, sig = _toy_release(tmp_path)
    result = verify_analysis(model, sig, KeyVerifier((KEYS / "p384.pub.pem").read_bytes()))
    [finding] = result.findings
    assert finding.rule_id == "WW-INT-001" and finding.subject.kind is SubjectKind.MODEL


def test_sarif_has_one_run_per_component_with_every_catalogue(tmp_path: Path) -> None:
    model, sig = _toy_release(tmp_path)
    (model / "evil.pkl").write_bytes(b"cposix\nsystem\n(S'true'\ntR.")
    scan = scan_analysis([str(model)])
    verify = verify_analysis(model, sig, KeyVerifier((KEYS / "p256.pub.pem").read_bytes()))
    log = to_sarif([scan, verify], cwd=str(tmp_path))
    official = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    errors = list(jsonschema.validators.validator_for(official)(official).iter_errors(log))
    assert not errors, errors[:3]
    names = [run["tool"]["driver"]["name"] for run in log["runs"]]
    assert names == ["weightwarden-scan", "weightwarden-integrity"]
    integrity_run = log["runs"][1]
    assert [r["id"] for r in integrity_run["tool"]["driver"]["rules"]] == [r.id for r in INTEGRITY.rules]
    assert any(r["ruleId"] == "WW-INT-004" for r in integrity_run["results"])
    for run in log["runs"]:
        for result in run["results"]:
            assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1


def test_html_page_of_scan_and_verify_in_a_real_browser(tmp_path: Path) -> None:
    from tests.browser import browser_page
    from weightwarden.report import render

    model, sig = _toy_release(tmp_path)
    (model / "evil<img src=x onerror=alert(1)>.pkl").write_bytes(b"cposix\nsystem\n(S'true'\ntR.")
    scan = scan_analysis([str(model)])
    verify = verify_analysis(model, sig, KeyVerifier((KEYS / "p256.pub.pem").read_bytes()))
    page_file = tmp_path / "report.html"
    page_file.write_text(render([scan, verify], "html"), encoding="utf-8")
    with browser_page() as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(page_file.as_uri())
        rows = page.locator("#findings tr.finding")
        assert rows.count() == len(scan.findings) + len(verify.findings)
        assert page.locator('#findings tr.finding[data-rule="WW-PKL-001"]').count() == 1
        assert page.locator('#findings tr.finding[data-rule="WW-INT-004"]').count() == 1  # the added pickle
        assert page.locator("#findings img").count() == 0 and not dialogs
        assert "scan: " in page.locator("#analyses").inner_text()


def test_every_published_schema_is_valid_and_names_its_record() -> None:
    import jsonschema

    for name in schemas.names():
        schema = schemas.load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        record, version = name.removesuffix(".json").rsplit(".", 1)
        assert schema["$id"] == f"urn:weightwarden:schema:{record}:{version}", name
        assert schema["properties"]["schema"] == {"const": f"weightwarden.{record}/{version}"}, name
