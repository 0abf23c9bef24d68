"""The audit attacked by someone who read its code (red-team round of 2026-12-06), one test per class of
weakness found, each with a payload that would fire a canary if anything ever loaded it:

1. the audit vouched for files its scan never read (a link from a model file into ``__pycache__`` or
   ``.git``, which the folder walk skips) — the scan now covers exactly the attested files;
2. evidence not tied to the audited model counted (a forged Inspect log naming another model) — evidence
   must name an attested file's digest, or be accepted explicitly;
3. a lone surrogate in a model's config broke the JSON, CycloneDX and attestation reports;
4. the attestation check skipped files the hash walk leaves out by convention (``.git``, ``.github``);
5. strict JSON accepted an overflowing number and unpaired surrogate escapes (a parser differential);
6. model-supplied URLs became links in the model-card Markdown; a file name with ``!`` misplaced SARIF.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.corpus.samples import SHARED
from tests.corpus.writers import write_u8_safetensors
from tests.test_mc_suites import _inspect_log
from weightwarden.audit import AuditRequest, run_audit
from weightwarden.core.errors import InputError
from weightwarden.core.findings import Severity
from weightwarden.core.strict_json import loads_strict
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.verifying import KeyVerifier
from weightwarden.report import render
from weightwarden.report.intoto import attest, verify_attestation
from weightwarden.report.sarif import to_sarif

KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"


def _model(folder: Path) -> Path:
    folder.mkdir()
    write_u8_safetensors(folder / "model.safetensors", {"w": bytes(range(64)), "b": bytes(16)})
    (folder / "config.json").write_text('{"model_type": "bert"}')
    return folder


def _payload(canary: Path) -> bytes:
    return b"cposix\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."


@pytest.mark.parametrize("hidden", ["__pycache__/w.bin", ".git/objects/ab/w", "sub/.ipynb_checkpoints/w",
                                    ".hg/w", ".DS_Store"])
def test_a_link_into_a_skipped_folder_is_scanned_and_withheld(tmp_path: Path, hidden: str) -> None:
    folder = _model(tmp_path / "m")
    canary = tmp_path / "canary"
    target = folder / hidden
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_payload(canary))
    os.symlink(hidden, folder / "pytorch_model.bin")
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons
    assert any(f.rule_id.startswith("WW-PKL") for f in audit.analysis("scan").findings)
    assert not canary.exists()


def test_evidence_must_name_the_audited_model(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    logs = (_inspect_log(tmp_path / "cyber.eval", "wmdp_cyber", ["C"] * 25 + ["I"] * 75),
            _inspect_log(tmp_path / "bio.eval", "wmdp_bio", ["C"] * 25 + ["I"] * 75))
    unbound = run_audit(AuditRequest(folder, evidence=logs))
    domains = {d["id"]: d for d in unbound.to_dict()["domains"]}
    assert domains["cbrn.biochem"]["level"] == "not_assessed"
    assert "does not identify the released model by digest" in domains["cbrn.biochem"]["reason"] or any(
        "does not identify" in u["note"] for u in domains["cbrn.biochem"]["evidence"])
    assert unbound.decision == "staged"
    accepted = run_audit(AuditRequest(folder, evidence=logs, accept_unbound_evidence=True))
    assert {d["id"]: d["level"] for d in accepted.to_dict()["domains"]}["cbrn.biochem"] != "not_assessed"
    assert accepted.to_dict()["policy"]["accept_unbound_evidence"] is True


def test_lone_surrogates_from_the_model_do_not_break_any_report(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    (folder / "config.json").write_text('{"model_type": "bert\\ud800", "_name_or_path": "x\\udfff"}')
    audit = run_audit(AuditRequest(folder))
    for fmt in ("json", "text", "html", "model-card", "sarif", "cyclonedx", "intoto"):
        text = render(audit, fmt)
        text.encode("utf-8")  # every report can be written
    bundle = attest(audit, KeySigner((KEYS / "p256.pem").read_bytes())).to_json()
    assert verify_attestation(bundle, KeyVerifier((KEYS / "p256.pub.pem").read_bytes()), model=folder).verified


@pytest.mark.parametrize("extra", [".git/hooks/post-checkout", ".github/workflows/x.yml", ".gitattributes",
                                   ".gitignore", "sub/.git/x"])
def test_attestation_reports_files_the_hash_walk_leaves_out(tmp_path: Path, extra: str) -> None:
    folder = _model(tmp_path / "m")
    bundle = attest(run_audit(AuditRequest(folder)), KeySigner((KEYS / "p256.pem").read_bytes())).to_json()
    verifier = KeyVerifier((KEYS / "p256.pub.pem").read_bytes())
    (folder / extra).parent.mkdir(parents=True, exist_ok=True)
    (folder / extra).write_text("#!/bin/sh\n")
    result = verify_attestation(bundle, verifier, model=folder)
    assert not result.verified and result.reasons == [f"{extra}: not part of the audited model"]
    top = extra.split("/")[0]
    assert verify_attestation(bundle, verifier, model=folder, ignore=(top,)).verified  # named by the user


def test_attestation_refuses_a_link_that_leaves_the_folder(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    bundle = attest(run_audit(AuditRequest(folder)), KeySigner((KEYS / "p256.pem").read_bytes())).to_json()
    outside = tmp_path / "outside.json"
    outside.write_text((folder / "config.json").read_text())
    (folder / "config.json").unlink()
    os.symlink(outside, folder / "config.json")
    result = verify_attestation(bundle, KeyVerifier((KEYS / "p256.pub.pem").read_bytes()), model=folder)
    assert not result.verified and "leaves the model folder" in result.reasons[0]


@pytest.mark.parametrize("text", ['{"a": 1e400}', '{"a": -1e400}', '{"a": "\\ud800"}', '{"a\\ud800": 1, "a\\udbff": 2}',
                                  '{"a": 1, "\\u0061": 2}', '{"a": NaN}', '{"a": Infinity}'])
def test_strict_json_refuses_what_parsers_disagree_on(text: str) -> None:
    with pytest.raises(InputError):
        loads_strict(text, "signed JSON")


def test_strict_json_keeps_surrogate_pairs() -> None:
    assert loads_strict('{"e": "\\ud83d\\ude00"}', "x") == {"e": "\U0001f600"}


def test_model_card_never_links_model_text(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    (folder / "config.json").write_text('{"_name_or_path": "https://evil.example/verify-your-token"}')
    (folder / "www.evil-mirror.example").write_text("x")
    card = render(run_audit(AuditRequest(folder)), "model-card")
    for line in card.splitlines():
        for bad in ("https://evil.example", "www.evil-mirror.example"):
            if bad in line:
                before = line.split(bad)[0]
                assert before.count("`") % 2 == 1, line  # inside a code span: never autolinked


def test_sarif_places_a_file_whose_name_holds_a_bang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json!x.pkl").write_bytes(_payload(tmp_path / "canary"))
    (folder / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    log = to_sarif(run_audit(AuditRequest(Path("m"))).analysis("scan"), cwd=str(tmp_path))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]
            if r["ruleId"].startswith("WW-PKL")}
    assert uris == {"m/config.json%21x.pkl"}
    json.dumps(log)


@pytest.mark.parametrize("shape", ["(1L,)", "(-1,)", "(True,)"])
def test_npy_header_numpy_accepts_but_we_could_not_validate_is_still_walked(tmp_path: Path, shape: str) -> None:
    """Round 2: an object-dtype .npy whose header numpy's parser accepts (Python 2 longs, negative or boolean
    dimensions) but ours rejected was never walked: staged instead of withheld."""
    folder = _model(tmp_path / "m")
    canary = tmp_path / "canary"
    header = "{'descr': '|O', 'fortran_order': False, 'shape': " + shape + ", }"
    header += " " * (63 - len(header) % 64) + "\n"
    (folder / "arr.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
                                     + _payload(canary))
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons
    assert "WW-PKL-001" in {f.rule_id for f in audit.analysis("scan").findings}
    assert not canary.exists()


def test_a_file_that_could_not_be_scanned_is_a_high_finding(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m")
    (folder / "weights.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x01")  # truncated header
    audit = run_audit(AuditRequest(folder))
    scan = audit.analysis("scan")
    assert scan.record.errors
    assert any(f.rule_id == "WW-GEN-003" and f.severity.value == "high" for f in scan.findings)
    assert audit.decision == "withhold"


def test_evidence_bound_to_a_shared_config_file_does_not_count(tmp_path: Path) -> None:
    """Round 2: a log naming the digest of config.json (byte-identical across many models) counted for any
    model that ships that config. Only the files holding the weights bind evidence."""
    import hashlib

    from tests.risk.test_risk_assess import capability
    from weightwarden.risk import assess, load_policy

    folder = _model(tmp_path / "m")
    audit = run_audit(AuditRequest(folder))
    assert audit.model.weight_files == ("model.safetensors",)
    config_digest = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    weights_digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert audit.model.weight_digests() == [weights_digest]
    from dataclasses import replace

    item = replace(capability("cybermetric-80", 20, 80), model_digest=config_digest)
    use = assess([item], load_policy(), model_digest=audit.model.weight_digests()).domain("cyber.offense").evidence[0]
    assert not use.counted and "another model" in use.note


def test_an_attested_file_in_a_folder_the_walk_skips_is_scanned(tmp_path: Path) -> None:
    """What the audit hashes and vouches for is what it scans, even where a plain scan would not look."""
    folder = _model(tmp_path / "m")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "optimizer.bin").write_bytes(_payload(tmp_path / "canary"))
    audit = run_audit(AuditRequest(folder))
    assert "__pycache__/optimizer.bin" in {f.path for f in audit.model.files}
    assert audit.decision == "withhold" and not (tmp_path / "canary").exists()


def test_a_link_inside_a_skipped_folder_is_scanned_by_the_audit(tmp_path: Path) -> None:
    """Round 3: a link in __pycache__ into .git was attested but the walk never enters __pycache__."""
    folder = _model(tmp_path / "m")
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "objects" / "evil").write_bytes(_payload(tmp_path / "canary"))
    (folder / "__pycache__").mkdir()
    os.symlink("../.git/objects/evil", folder / "__pycache__" / "pytorch_model-00001-of-00001.bin")
    audit = run_audit(AuditRequest(folder))
    assert "__pycache__/pytorch_model-00001-of-00001.bin" in {f.path for f in audit.model.files}
    assert audit.decision == "withhold", audit.reasons


def test_a_joblib_array_of_a_dtype_we_cannot_size_fails_closed(tmp_path: Path) -> None:
    """Round 3: 'int8' was sized as 4 bytes an item (joblib reads 1), so the walk resumed past a payload that
    joblib.load runs. Only numpy's plain dtype strings are sized now; anything else must be a pickle or stop
    at a bound (high)."""
    import struct

    def text(s: str) -> bytes:
        return b"X" + struct.pack("<I", len(s)) + s.encode()

    n = 64
    wrapper = (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(" + text("subclass") + b"cnumpy\nndarray\n"
               + text("shape") + b"M" + struct.pack("<H", n) + b"\x85" + text("order") + text("C")
               + text("dtype") + b"cnumpy\ndtype\n" + text("int8") + b"\x89\x88\x87R" + text("allow_mmap") + b"\x89ub")
    payload = b"0" + _payload(tmp_path / "canary")
    blob = wrapper + b"\xff" * n + (payload + b"\x00" * (3 * n))[: 3 * n] + b"."
    folder = _model(tmp_path / "m")
    (folder / "model.joblib").write_bytes(blob)
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons
    assert any("joblib_array_size" in f.message for f in audit.analysis("scan").findings)


# ---------------------------------------------------------------- round 4: where joblib resumes after an array

def _text(s: str) -> bytes:
    import struct

    return b"X" + struct.pack("<I", len(s)) + s.encode()


def _wrapper(n: int, dtype: str, dtype_build: bytes = b"") -> bytes:
    import struct

    return (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(" + _text("subclass") + b"cnumpy\nndarray\n"
            + _text("shape") + b"J" + struct.pack("<i", n) + b"\x85" + _text("order") + _text("C")
            + _text("dtype") + b"cnumpy\ndtype\n" + _text(dtype) + b"\x89\x88\x87R" + dtype_build
            + _text("allow_mmap") + b"\x89ub")


def _round4_files(canary: Path) -> dict[str, bytes]:
    import struct

    pl = b"0" + _payload(canary)
    n = 64
    # (a) a dtype we cannot size whose data starts with a valid short pickle: resuming at its STOP is wrong
    a = _wrapper(n, "int8") + b"N.B" + struct.pack("<I", n - 7 + len(pl)) + b"\x00" * (n - 7) + pl + b"0."
    # (c) a plain dtype string whose own BUILD state changes the item size (elsize 1 instead of 8)
    c_state = b"(K\x03" + _text("|") + b"NNNK\x01K\x01K\x00tb"
    c = _wrapper(n, "S8", c_state) + b"N." + b"\x00" * (n - 2) + pl + b"\x00" * (8 * n - n - len(pl)) + b"."
    return {"unsized_dtype_short_pickle": a, "dtype_state_changes_size": c}


@pytest.mark.parametrize("case", ["unsized_dtype_short_pickle", "dtype_state_changes_size"])
def test_joblib_array_sizes_we_cannot_know_exactly_fail_closed(tmp_path: Path, case: str) -> None:
    folder = _model(tmp_path / "m")
    (folder / "model.joblib").write_bytes(_round4_files(tmp_path / "canary")[case])
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons


def test_array_skipping_applies_only_where_joblib_reads_arrays(tmp_path: Path) -> None:
    """Round 4: a NumpyArrayWrapper inside an .npy object array or a torch pickle is not skipped by np.load or
    torch.load (plain unpicklers): bytes joblib would skip are opcodes there."""
    # After the wrapper's BUILD a plain unpickler reads on at once: POP the wrapper, then the payload runs.
    inner = _wrapper(8, "u1") + b"0" + _payload(tmp_path / "canary")
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - len(header) % 64) + "\n"
    folder = _model(tmp_path / "m")
    (folder / "arr.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
                                     + inner)
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons
    assert "WW-PKL-001" in {f.rule_id for f in audit.analysis("scan").findings}


# ------------------------------------------ round 5: numpy decides "holds objects" from the rebuilt dtype

def test_a_dtype_state_that_turns_an_object_spec_into_raw_bytes_fails_closed(tmp_path: Path) -> None:
    """Round 5: dtype([('a','O')]) rebuilt by its BUILD state as {'a': u1} of 8 bytes: joblib reads 8 raw
    bytes and runs what follows, while a walk trusting the spec read the data as a harmless pickle."""
    import struct

    def s(x: str) -> bytes:
        return b"X" + struct.pack("<I", len(x)) + x.encode()

    u1 = (b"cnumpy\ndtype\n" + s("u1") + b"\x89\x88\x87R(K\x03" + s("|")
          + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    dtype = (b"cnumpy\ndtype\n]" + s("a") + s("O") + b"\x86a\x89\x88\x87R(K\x03" + s("|") + b"N" + s("a")
             + b"\x85}" + s("a") + u1 + b"K\x00\x86sK\x08K\x01K\x00tb")
    state = (b"}(" + s("subclass") + b"cnumpy\nndarray\n" + s("shape") + b"K\x01\x85" + s("order") + s("C")
             + s("dtype") + dtype + s("allow_mmap") + b"\x89u")
    blob = b"\x00" * 6 + b"0" + _payload(tmp_path / "canary")[:-1]  # joblib resumes 8 bytes into the blob
    program = (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81" + state + b"b"
               + b"C" + bytes([len(blob)]) + blob + b"..")
    folder = _model(tmp_path / "m")
    (folder / "model.joblib").write_bytes(program)
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons


def test_structured_arrays_with_sub_array_fields_stay_clean(tmp_path: Path) -> None:
    """Round 5's false alarm: joblib.dump of a structured array with a sub-array field was a bound (high)."""
    import joblib
    import numpy as np

    folder = _model(tmp_path / "m")
    records = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))])
    joblib.dump({"x": records}, folder / "raw.joblib")
    joblib.dump({"x": records}, folder / "zlib.joblib", compress=3)
    audit = run_audit(AuditRequest(folder))
    assert [f for f in audit.analysis("scan").findings if f.severity.at_least(Severity.MEDIUM)] == []


def test_an_old_dtype_state_version_that_makes_numpy_see_objects_fails_closed(tmp_path: Path) -> None:
    """Round 6: a 'V8' dtype whose BUILD state is version 2 with flags 2: numpy turns any non-zero flags of an
    old state into an object dtype (joblib then unpickles the data) while the walk read flags bit 1 only."""
    import io

    import joblib
    import numpy as np

    buffer = io.BytesIO()
    joblib.dump([np.zeros(1, "f8"), np.zeros(1, "V8")], buffer)
    data = buffer.getvalue()
    state_v3 = data.index(b"V8")  # the second array's dtype and, after it, its BUILD state (version 3)
    tail = data[state_v3:]
    marker = tail.index(b"K\x03")
    forged = data[: state_v3 + marker] + b"K\x02" + tail[marker + 2:]
    folder = _model(tmp_path / "m")
    (folder / "model.joblib").write_bytes(forged)
    audit = run_audit(AuditRequest(folder))
    assert "WW-PKL-006" in {f.rule_id for f in audit.analysis("scan").findings}, audit.reasons
    assert audit.decision == "withhold"


def test_a_wrapper_state_with_a_key_computed_at_load_time_fails_closed(tmp_path: Path) -> None:
    """Round 7: a second 'dtype' key built by builtins.str('dtype') replaces the literal one at load time
    (an object dtype: joblib unpickles the data) while the walk kept the literal u1 and skipped the bytes. An
    honest array first breaks the plain-pickle cross-check, so only the joblib reading can catch it."""
    import struct

    def g(mod: str, name: str) -> bytes:
        return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"

    def s(x: str) -> bytes:
        return b"X" + struct.pack("<I", len(x)) + x.encode()

    def dtype(spec: str) -> bytes:
        return g("numpy", "dtype") + s(spec) + b"\x89\x88\x87R"

    def wrapper(n: int, dtype_code: bytes, extra: bytes = b"") -> bytes:
        return (g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81}(" + s("subclass") + g("numpy", "ndarray")
                + s("shape") + b"J" + struct.pack("<i", n) + b"\x85" + s("order") + s("C") + s("dtype")
                + dtype_code + s("allow_mmap") + b"\x89" + extra + b"ub")

    payload = b"\x80\x02" + _payload(tmp_path / "canary")
    evil = g("builtins", "str") + s("dtype") + b"\x85R" + dtype("O")
    data = (b"\x80\x02" + wrapper(1, dtype("u1")) + b"\xff" + wrapper(len(payload), dtype("u1"), evil) + payload
            + b"\x86.")
    folder = _model(tmp_path / "m")
    (folder / "model.joblib").write_bytes(data)
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons


def test_a_wrapper_constructed_with_arguments_fails_closed(tmp_path: Path) -> None:
    """Round 8: NumpyArrayWrapper(*args) runs __init__, which sets the padding the BUILD state leaves out;
    joblib skipped padding the walk did not know about and ran what followed."""
    import struct

    def su(x: str) -> bytes:
        return b"\x8c" + bytes([len(x)]) + x.encode()

    def g(mod: str, name: str) -> bytes:
        return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"

    p = b"\x80\x02" + g("joblib.numpy_pickle", "NumpyArrayWrapper") + b"(" + g("numpy", "ndarray") + b"q\x01"
    p += b"K\x02\x85q\x02" + su("C") + g("numpy", "dtype") + su("u1") + b"\x89\x88\x87Rq\x03" + b"\x89K\x10tR"
    p += (b"}(" + su("shape") + b"h\x02" + su("dtype") + b"h\x03" + su("order") + su("C") + su("allow_mmap")
          + b"\x89" + su("subclass") + b"h\x01ub")
    command = f"touch {tmp_path / 'canary'}".encode()
    mal = g("posix", "system") + b"X" + struct.pack("<I", len(command)) + command + b"\x85R."
    p += bytes([3, 0x00, 0x43, 2 + len(mal)]) + b"\x00\x00" + mal + b"0."
    folder = _model(tmp_path / "m")
    (folder / "model.joblib").write_bytes(p)
    audit = run_audit(AuditRequest(folder))
    assert audit.decision == "withhold", audit.reasons
