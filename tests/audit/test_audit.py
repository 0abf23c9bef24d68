"""``weightwarden audit`` on real cases: the SmolLM2 sample (a real GGUF chat model) with a real eval log of
it, the same folder with a booby-trapped pickle, a signed folder tampered after signing, and no capability
evidence at all. Every report is checked against its official schema (SARIF 2.1.0, CycloneDX 1.6 with the
library's own validator, our published audit schema), the attestation verifies and stops verifying after one
changed byte, and the HTML page is looked at in a real browser."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from tests.browser import browser_page
from tests.corpus.samples import SARIF_SCHEMA, SHARED
from weightwarden import schemas
from weightwarden.audit import AuditRequest, run_audit
from weightwarden.cli.main import main
from weightwarden.core.findings import SubjectKind
from weightwarden.integrity import sign_model
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.verifying import KeyVerifier
from weightwarden.report import render
from weightwarden.report.cyclonedx import to_cyclonedx
from weightwarden.report.intoto import attest, verify_attestation

pytestmark = pytest.mark.slow

KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"
EVAL_ITEMS = 6


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit")


@pytest.fixture(scope="module")
def clean_folder(smollm2_gguf: Path, work: Path) -> Path:
    """A model folder holding the real SmolLM2 GGUF (a hard link: never written to)."""
    folder = work / "smollm2"
    folder.mkdir()
    try:
        os.link(smollm2_gguf, folder / smollm2_gguf.name)
    except OSError:
        shutil.copy(smollm2_gguf, folder / smollm2_gguf.name)
    return folder


@pytest.fixture(scope="module")
def eval_log(smollm2_gguf: Path, work: Path) -> Path:
    """A real eval run of the model on CyberMetric multiple-choice items (llama.cpp, one thread)."""
    out = work / "cybermetric.jsonl"
    result = CliRunner().invoke(main, [
        "eval", "run", f"gguf:{smollm2_gguf}", "--suite", "cybermetric-80", "--limit", str(EVAL_ITEMS),
        "--max-tokens", "4", "--seed", "1", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def small_n_policy(work: Path) -> Path:
    """The default policy as a user's file, accepting the few items a test can afford to run."""
    from importlib import resources

    text = resources.files("weightwarden.risk").joinpath("data/policies/default.toml").read_text()
    assert "min_n = 50" in text
    path = work / "small-n.toml"
    path.write_text(text.replace('id = "default"', 'id = "test-small-n"').replace("min_n = 50", f"min_n = {EVAL_ITEMS}"))
    return path


@pytest.fixture(scope="module")
def clean_audit(clean_folder: Path, eval_log: Path, small_n_policy: Path, smollm2_gguf: Path):
    return run_audit(AuditRequest(clean_folder, eval_logs=(eval_log,), policy=small_n_policy, base=smollm2_gguf))


def test_clean_sample_with_its_eval_log(clean_audit, eval_log: Path) -> None:
    data = clean_audit.to_dict()
    schemas.validate(data, "audit.v1.json")
    domains = {d["id"]: d for d in data["domains"]}
    cyber = domains["cyber.offense"]
    # A real score with its exact interval decides cyber.offense (SmolLM2-135M knows little: L0 or L1).
    assert cyber["level"] in ("L0", "L1") and cyber["confidence"]["basis"] == "interval"
    assert cyber["confidence"]["n"] == EVAL_ITEMS and cyber["evidence"][0]["counted"]
    assert domains["supply_chain.integrity"]["level"] == "L0"
    # No WMDP-bio evidence was given: not assessed, with the reason, and the default gates stage the release.
    assert domains["cbrn.biochem"]["level"] == "not_assessed" and domains["cbrn.biochem"]["reason"]
    assert data["decision"] == "staged" and any("cbrn.biochem" in r for r in data["reasons"])
    assert {a["component"] for a in data["analyses"]} == {"scan", "lineage", "evals", "risk"}
    assert clean_audit.analysis("lineage").record.identical
    schemas.validate(clean_audit.analysis("evals").record.to_dict(), "eval-summary.v1.json")
    assert [s["component"] for s in data["skipped"]] == ["integrity"]
    assert data["evidence_sources"] == [str(eval_log)]


def test_booby_trapped_pickle_is_withheld(clean_folder: Path, work: Path, smollm2_gguf: Path) -> None:
    folder = work / "trapped"
    folder.mkdir()
    os.link(clean_folder / smollm2_gguf.name, folder / smollm2_gguf.name)
    canary = work / "canary-never-written"
    (folder / "optimizer.pkl").write_bytes(
        b"cbuiltins\nexec\n(Vopen(" + repr(str(canary)).encode() + b", 'w').write('fired')\ntR.")
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold" and audit.exit_code == 1
    assert any("WW-PKL" in r and "optimizer.pkl" in r for r in audit.reasons)
    assert not canary.exists()


def test_tampered_after_signing_is_withheld_naming_the_tensor(smollm2_gguf: Path, work: Path) -> None:
    folder = work / "signed"
    folder.mkdir()
    model = folder / smollm2_gguf.name
    shutil.copy(smollm2_gguf, model)
    bundle = work / "signed.sig"
    sign_model(folder, KeySigner((KEYS / "p256.pem").read_bytes()), signature_path=bundle)
    verifier = KeyVerifier((KEYS / "p256.pub.pem").read_bytes())
    assert run_audit(AuditRequest(folder, bundle=bundle, verifier=verifier)).analysis("integrity").findings == ()

    with model.open("r+b") as f:  # one byte near the end: inside the last tensor's data
        f.seek(model.stat().st_size - 1000)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    audit = run_audit(AuditRequest(folder, bundle=bundle, verifier=verifier))
    assert audit.decision == "withhold"
    tensors = [f for f in audit.analysis("integrity").findings if f.subject.kind is SubjectKind.TENSOR]
    assert len(tensors) == 1 and tensors[0].rule_id == "WW-INT-003"
    assert any(tensors[0].subject.name in r for r in audit.reasons), audit.reasons


def test_no_capability_evidence_is_not_assessed_with_the_reason(clean_folder: Path) -> None:
    audit = run_audit(AuditRequest(clean_folder))
    data = audit.to_dict()
    for domain in data["domains"]:
        if domain["id"] != "supply_chain.integrity":
            assert domain["level"] == "not_assessed" and domain["reason"], domain
            assert domain["confidence"]["basis"] == "none"
    assert data["decision"] == "staged"
    assert any("cyber.offense not assessed" in r for r in data["reasons"])
    assert {s["component"] for s in data["skipped"]} == {"integrity", "lineage", "evals"}


def test_sarif_has_every_component_and_validates(clean_audit, tmp_path: Path) -> None:
    log = json.loads(render(clean_audit, "sarif"))
    official = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    errors = list(jsonschema.validators.validator_for(official)(official).iter_errors(log))
    assert not errors, [e.message for e in errors[:3]]
    drivers = [run["tool"]["driver"]["name"] for run in log["runs"]]
    assert drivers == ["weightwarden-scan", "weightwarden-lineage", "weightwarden-evals", "weightwarden-risk"]
    for run in log["runs"]:
        assert run["tool"]["driver"]["rules"], run["tool"]["driver"]["name"]


def test_ml_bom_validates_and_describes_the_model(clean_audit) -> None:
    bom = to_cyclonedx(clean_audit)  # validated with cyclonedx-python-lib's own 1.6 validator inside
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and bom["specVersion"] == "1.6"
    [weights] = model["components"]  # a folder: each file is a sub-component with its SHA-256
    assert weights["type"] == "file" and weights["hashes"][0] == {"alg": "SHA-256",
                                                                  "content": clean_audit.model.files[0].sha256}
    assert {"name": "weightwarden:weights_root", "value": clean_audit.model.weights_root} in model["properties"]
    assert model["pedigree"]["ancestors"][0]["type"] == "machine-learning-model"
    card = model["modelCard"]
    [metric] = card["quantitativeAnalysis"]["performanceMetrics"]
    assert metric["slice"].startswith("cyber.offense/cybermetric") and "confidenceInterval" in metric
    assert any("cbrn.biochem not assessed" in t for t in card["considerations"]["technicalLimitations"])
    assert all(v["affects"][0]["ref"] == "model" for v in bom.get("vulnerabilities", []))


def test_attestation_verifies_and_fails_after_one_changed_byte(clean_audit, clean_folder: Path) -> None:
    signer = KeySigner((KEYS / "p256.pem").read_bytes())
    verifier = KeyVerifier((KEYS / "p256.pub.pem").read_bytes())
    bundle = attest(clean_audit, signer).to_json()
    result = verify_attestation(bundle, verifier, model=clean_folder)
    assert result.verified, result.reasons
    assert result.decision == "staged" and result.subjects == 1

    doc = json.loads(bundle)
    import base64

    payload = bytearray(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    at = payload.index(b'"decision":"staged"') + len(b'"decision":"')
    payload[at:at + 6] = b"opened"[:6]  # same length: only the audit's bytes change
    doc["dsseEnvelope"]["payload"] = base64.b64encode(bytes(payload)).decode()
    forged = verify_attestation(json.dumps(doc), verifier, model=clean_folder)
    assert not forged.verified and "signature" in forged.reasons[0]

    other = KeyVerifier((KEYS / "p384.pub.pem").read_bytes())
    assert not verify_attestation(bundle, other).verified


def test_attestation_notices_a_changed_model_file(clean_audit, tmp_path: Path, smollm2_gguf: Path) -> None:
    signer = KeySigner((KEYS / "p256.pem").read_bytes())
    bundle = attest(clean_audit, signer).to_json()
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / smollm2_gguf.name).write_bytes(b"GGUF not the audited file")
    result = verify_attestation(bundle, KeyVerifier((KEYS / "p256.pub.pem").read_bytes()), model=copy)
    assert not result.verified and result.reasons == [f"{smollm2_gguf.name}: changed since the audit"]


def test_html_report_in_a_real_browser(clean_audit, tmp_path: Path) -> None:
    page_file = tmp_path / "audit.html"
    page_file.write_text(render(clean_audit, "html", framework="gdm-fsf"), encoding="utf-8")
    assert "http://" not in page_file.read_text().replace("http://www.w3.org/2000/svg", "")
    with browser_page() as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri())
        assert page.locator("#decision").get_attribute("data-decision") == "staged"
        assert page.locator("#decision b").inner_text().lower() == "staged"
        rows = page.locator("#domains tr[data-domain]")
        assert rows.count() == 9
        assert page.locator('#domains tr[data-domain="cbrn.biochem"]').get_attribute("data-level") == "not_assessed"
        assert "not assessed" in page.locator('#domains tr[data-domain="cbrn.biochem"]').inner_text()
        assert page.locator("#crosswalk").get_attribute("data-framework") == "gdm-fsf"
        assert page.locator("#metric-plot line").count() == 1  # the interval of the one capability score
        assert page.locator("#severity-plot rect").count() >= 1
        assert page.locator("#findings tr.finding").count() == len(clean_audit.findings)
        assert "## Safety & provenance" in page.locator("#model-card").inner_text()
        page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
        assert requests == [page_file.as_uri()]  # nothing fetched but the page itself
    assert (tmp_path / "audit.png").stat().st_size > 10_000


def test_cli_exit_codes_and_formats(clean_folder: Path, work: Path) -> None:
    runner = CliRunner()
    staged = runner.invoke(main, ["audit", str(clean_folder), "--format", "json"])
    assert staged.exit_code == 1 and json.loads(staged.output)["decision"] == "staged"
    out = work / "bom.json"
    made = runner.invoke(main, ["audit", str(clean_folder), "--format", "cyclonedx", "-o", str(out)])
    assert made.exit_code == 1 and json.loads(out.read_text())["bomFormat"] == "CycloneDX"
    usage = runner.invoke(main, ["audit", str(clean_folder), "--key", str(KEYS / "p256.pub.pem")])
    assert usage.exit_code == 3
    bad_policy = work / "bad.toml"
    bad_policy.write_text("schema = 'nope'\n")
    error = runner.invoke(main, ["audit", str(clean_folder), "--policy", str(bad_policy)])
    assert error.exit_code == 2 and "internal error" not in error.output and "bad.toml" in error.output


def test_verify_command_checks_a_signed_audit_attestation(clean_folder: Path, work: Path) -> None:
    runner = CliRunner()
    attestation = work / "audit.intoto.sig"
    made = runner.invoke(main, ["audit", str(clean_folder), "--format", "intoto", "--sign-key",
                                str(KEYS / "p256.pem"), "-o", str(attestation)])
    assert made.exit_code == 1 and json.loads(attestation.read_text())["dsseEnvelope"]["payloadType"]
    ok = runner.invoke(main, ["verify", str(clean_folder), "--bundle", str(attestation),
                              "--key", str(KEYS / "p256.pub.pem")])
    assert ok.exit_code == 0, ok.output
    assert "VERIFIED audit attestation" in ok.output and "decision: staged" in ok.output
    wrong = runner.invoke(main, ["verify", str(clean_folder), "--bundle", str(attestation),
                                 "--key", str(KEYS / "p384.pub.pem")])
    assert wrong.exit_code == 1 and "NOT VERIFIED" in wrong.output


def test_audit_runs_the_capability_suites_against_a_backend(clean_folder: Path, smollm2_gguf: Path,
                                                           small_n_policy: Path, work: Path) -> None:
    out = work / "audit-backend.jsonl"
    runner = CliRunner()
    result = runner.invoke(main, ["audit", str(clean_folder), "--backend", f"gguf:{smollm2_gguf}",
                                  "--eval-limit", str(EVAL_ITEMS), "--eval-out", str(out), "--policy",
                                  str(small_n_policy), "--format", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.output[result.output.index("{"):])
    cyber = next(d for d in data["domains"] if d["id"] == "cyber.offense")
    assert cyber["level"] != "not_assessed" and cyber["confidence"]["n"] == EVAL_ITEMS
    assert data["evidence_sources"] == [str(out)]
    usage = runner.invoke(main, ["audit", str(clean_folder), "--suite", "cybermetric-80"])
    assert usage.exit_code == 3
