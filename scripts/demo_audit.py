"""The audit part of ``make demo``: four real cases, each ending in a release decision with its reasons.

1. The clean SmolLM2-135M-Instruct sample with its eval logs: a real CyberMetric run (capability evidence for
   cyber.offense) and the demo's red-team run (misuse results: shown, but not counted for open weights).
   Reports written to ``demo-output/``: HTML, CycloneDX ML-BOM, SARIF, the model-card section and a signed
   in-toto attestation, which is then verified against the folder.
2. The same folder with a booby-trapped pickle added → withhold.
3. A signed copy tampered after signing → withhold, naming the changed tensor.
4. No capability evidence at all → every capability domain not assessed, with the reason.

Returns True when every decision is the expected one. Nothing is ever loaded or executed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from weightwarden.cli.main import main as cli

MC_ITEMS = 60  # the default policy needs at least 50 items before a score counts
KEYS = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "model-signing" / "v1.1.1" / "keys"


def _run(args: list[str]) -> tuple[int, str]:
    print(f"$ weightwarden {' '.join(args)}", flush=True)
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result.exit_code, result.output


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy(src, dst)


def run_demo(models_dir: Path, work: Path) -> bool:
    from weightwarden.audit import AuditRequest, run_audit
    from weightwarden.integrity import sign_model
    from weightwarden.integrity.signing import KeySigner
    from weightwarden.integrity.verifying import KeyVerifier
    from weightwarden.report import render
    from weightwarden.report.intoto import attest, verify_attestation

    model = models_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="weightwarden-demo-audit-") as tmp:
        tmpdir = Path(tmp)
        clean = tmpdir / "smollm2"
        clean.mkdir()
        _link(model, clean / model.name)

        print("\n--- 1. clean sample with its eval logs", flush=True)
        capability = work / "cybermetric-smollm2.jsonl"
        code, out = _run(["eval", "run", f"gguf:{model}", "--suite", "cybermetric-80", "--limit", str(MC_ITEMS),
                          "--max-tokens", "4", "--seed", "1", "--out", str(capability)])
        print(out)
        logs = [capability] + [p for p in [work / "eval-smollm2.jsonl"] if p.exists()]
        args = ["audit", str(clean), "--base", str(model)] + [a for log in logs for a in ("--eval", str(log))]
        code, out = _run(args)
        print(out)
        audit = run_audit(AuditRequest(clean, base=model, eval_logs=tuple(logs)))
        for fmt, name in (("html", "audit-report.html"), ("cyclonedx", "audit-ml-bom.cdx.json"),
                          ("sarif", "audit.sarif"), ("model-card", "audit-model-card.md"), ("json", "audit.json")):
            (work / name).write_text(render(audit, fmt), encoding="utf-8")
        signer = KeySigner((KEYS / "p256.pem").read_bytes())
        (work / "audit.intoto.sig").write_bytes(attest(audit, signer).to_json())
        check = verify_attestation((work / "audit.intoto.sig").read_bytes(),
                                   KeyVerifier((KEYS / "p256.pub.pem").read_bytes()), model=clean)
        print(f"reports in {work}: audit-report.html, audit-ml-bom.cdx.json (CycloneDX 1.6, validated), "
              f"audit.sarif, audit-model-card.md, audit.json, audit.intoto.sig "
              f"(attestation {'verified' if check.verified else 'NOT verified'})")
        cyber = next(d for d in audit.to_dict()["domains"] if d["id"] == "cyber.offense")
        if audit.decision != "staged" or cyber["level"] == "not_assessed" or not check.verified:
            problems.append(f"clean sample: decision {audit.decision}, cyber.offense {cyber['level']}, "
                            f"attestation verified {check.verified}")

        print("\n--- 2. the same folder with a booby-trapped pickle", flush=True)
        trapped = tmpdir / "trapped"
        trapped.mkdir()
        _link(model, trapped / model.name)
        canary = tmpdir / "canary"
        (trapped / "training_args.bin").write_bytes(
            b"cbuiltins\nexec\n(Vopen(" + repr(str(canary)).encode() + b", 'w').write('fired')\ntR.")
        code, out = _run(["audit", str(trapped)])
        print(out)
        if code != 1 or "DECISION: WITHHOLD" not in out or canary.exists():
            problems.append("booby-trapped folder was not withheld (or the canary fired)")

        print("\n--- 3. a signed release tampered after signing", flush=True)
        signed = tmpdir / "signed"
        signed.mkdir()
        shutil.copy(model, signed / model.name)
        bundle = tmpdir / "signed.sig"
        sign_model(signed, signer, signature_path=bundle)
        with (signed / model.name).open("r+b") as f:
            f.seek((signed / model.name).stat().st_size - 1000)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x01]))
        code, out = _run(["audit", str(signed), "--bundle", str(bundle), "--key", str(KEYS / "p256.pub.pem")])
        print(out)
        if code != 1 or "DECISION: WITHHOLD" not in out or "tensor changed:" not in out:
            problems.append("tampered release was not withheld naming the tensor")

        print("\n--- 4. no capability evidence", flush=True)
        code, out = _run(["audit", str(clean)])
        print(out)
        if "cyber.offense           not_assessed" not in out or "DECISION: STAGED" not in out:
            problems.append("a model without evidence was not reported as not assessed")

    for problem in problems:
        print(f"  PROBLEM: {problem}", file=sys.stderr)
    if not problems:
        print("  audit: clean sample staged on its evidence, booby-trap and tampering withheld, "
              "missing evidence not assessed.")
    return not problems
