"""Verify at the edges users and attackers reach first (issue 12): empty files with --shards, duplicate JSON
keys, backslash paths, hostile file names, huge tensor tables, certificate failures in words, NFC/NFD twins,
sharded BLAKE3 interop, a file truncated by one byte."""

from __future__ import annotations

import datetime as dt
import json
import struct
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.corpus.samples import SHARED
from weightwarden.cli.main import main
from weightwarden.integrity.release import sign_model, verify_model
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.verifying import KeyVerifier

KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"


def _signer() -> KeySigner:
    return KeySigner((KEYS / "p256.pem").read_bytes())


def _verifier() -> KeyVerifier:
    return KeyVerifier((KEYS / "p256.pub.pem").read_bytes())


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env={"NO_COLOR": "1"})
    return result.exit_code, result.output


def _safetensors(path: Path, tensors: dict[str, bytes]) -> None:
    header, offset, body = {}, 0, b""
    for name, data in tensors.items():
        header[name] = {"dtype": "U8", "shape": [len(data)], "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        body += data
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    _safetensors(model / "model.safetensors", {"a": b"\x01" * 64, "b": b"\x02" * 64, "c": b"\x03" * 64})
    (model / "config.json").write_text("{}")
    return model


# ------------------------------------------------------------------------------------------ --shards

def test_shards_notice_an_empty_file_added_removed_or_filled(tmp_path: Path) -> None:
    model = _model(tmp_path)
    (model / "EMPTY").write_bytes(b"")
    sig = tmp_path / "m.sig"
    sign_model(model, _signer(), method="shards", shard_size=100, signature_path=sig)
    assert verify_model(model, sig, _verifier()).verified

    (model / "new-empty").write_bytes(b"")
    report = verify_model(model, sig, _verifier())
    assert not report.verified and any(r.startswith("new-empty: added") for r in report.reasons), report.reasons
    (model / "new-empty").unlink()

    (model / "EMPTY").unlink()
    report = verify_model(model, sig, _verifier())
    assert not report.verified and report.reasons == ["EMPTY: missing"], report.reasons

    (model / "EMPTY").write_bytes(b"now content")
    report = verify_model(model, sig, _verifier())
    assert not report.verified and "was empty when signed" in report.reasons[0], report.reasons

    (model / "EMPTY").write_bytes(b"")
    (model / "config.json").write_bytes(b"")
    report = verify_model(model, sig, _verifier())
    assert not report.verified and report.reasons == ["config.json: modified (now empty (0 bytes))"], report.reasons


def test_sharded_blake3_warns_that_model_signing_cannot_verify_it(tmp_path: Path) -> None:
    model = _model(tmp_path)
    result = CliRunner().invoke(main, ["sign", str(model), "--key", str(KEYS / "p256.pem"), "--shards", "--hash",
                                       "blake3", "-o", str(tmp_path / "b3.sig")])
    assert result.exit_code == 0, result.output
    assert "warning: model-signing cannot verify a sharded BLAKE3 bundle" in result.output
    result = CliRunner().invoke(main, ["sign", str(model), "--key", str(KEYS / "p256.pem"), "-o",
                                       str(tmp_path / "sha.sig")])
    assert "warning" not in result.output


# --------------------------------------------------------------------------------------- signed JSON

def _signed_payload(tmp_path: Path, text: str) -> Path:
    bundle = _signer().sign(text.encode())
    path = tmp_path / "crafted.sig"
    path.write_bytes(bundle.to_json())
    return path


def _statement(model: Path) -> dict:
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.integrity.statement import build_statement

    return build_statement(digest_model(model))


def test_duplicate_json_keys_are_refused_in_every_signed_document(tmp_path: Path) -> None:
    model = _model(tmp_path)
    good = json.dumps(_statement(model))
    assert verify_model(model, _signed_payload(tmp_path, good), _verifier()).verified
    # the same statement with its predicate repeated: one parser would read the first, Python the last
    i = good.index('"predicate":')
    doubled = good[:i] + '"predicate": {"serialization": {}, "resources": []}, ' + good[i:]
    report = verify_model(model, _signed_payload(tmp_path, doubled), _verifier())
    assert not report.verified and report.stage == "statement"
    assert "duplicate JSON key 'predicate'" in report.reasons[0], report.reasons
    nan = good.replace('"shards"', "NaN") if '"shards"' in good else good[:-1] + ', "x": NaN}'
    report = verify_model(model, _signed_payload(tmp_path, nan), _verifier())
    assert not report.verified and "non-standard JSON constant NaN" in report.reasons[0], report.reasons
    # the bundle itself
    raw = (tmp_path / "crafted.sig").read_text()
    dup = raw.replace('{"mediaType"', '{"mediaType": "x", "mediaType"', 1)
    (tmp_path / "dup.sig").write_text(dup)
    report = verify_model(model, tmp_path / "dup.sig", _verifier())
    assert report.stage == "bundle" and "duplicate JSON key 'mediaType'" in report.reasons[0], report.reasons
    # a published fingerprint
    from weightwarden.lineage.fingerprint import load_fingerprint
    from weightwarden.lineage.model import LineageError

    (tmp_path / "fp.json").write_text('{"schema": "a", "schema": "b"}')
    with pytest.raises(LineageError, match="duplicate JSON key 'schema'"):
        load_fingerprint(tmp_path / "fp.json")


@pytest.mark.parametrize("name", ["a\\..\\b", "weights\\model.bin", "C:evil.bin"])
def test_backslash_and_drive_paths_are_refused(tmp_path: Path, name: str) -> None:
    model = _model(tmp_path)
    statement = _statement(model)
    statement["predicate"]["resources"][0]["name"] = name
    report = verify_model(model, _signed_payload(tmp_path, json.dumps(statement)), _verifier())
    assert not report.verified and report.stage == "statement", report.reasons
    assert "backslash" in report.reasons[0] or "Windows drive" in report.reasons[0], report.reasons
    # and such a file on disk cannot be signed
    (model / name).write_bytes(b"x")
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "-o", tmp_path / "x.sig")
    assert code == 2 and ("backslash" in out or "Windows drive" in out), out


# ------------------------------------------------------------------------------------ what is printed

HOSTILE = ["evil\x1b[2K\rVERIFIED\x1b[0m.bin", "line\nbreak.bin", "bidi\u202egnp.exe", "bell\x07\x08.bin",
           "csi\x9b31m.bin", "zero\u200bwidth.bin"]


def _no_control(text: str) -> None:
    for ch in text:
        if ch == "\n":
            continue
        cat = unicodedata.category(ch)
        assert cat not in ("Cc", "Cf"), f"raw {ch!r} in output: {text!r}"


def test_hostile_file_names_cannot_change_what_a_terminal_shows(tmp_path: Path) -> None:
    model = _model(tmp_path)
    for name in HOSTILE:
        (model / name).write_bytes(b"signed")
    sig = tmp_path / "m.sig"
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "-o", sig)
    assert code == 0, out
    _no_control(out)
    for name in HOSTILE:
        (model / name).write_bytes(b"changed")
    for fmt in (["--format", "text"], ["--format", "json"]):
        code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem", *fmt)
        assert code == 1, out
        _no_control(out)
        assert "\\x1b[2K\\x0dVERIFIED" in out or "\\u001b[2K\\rVERIFIED" in out, out
        if fmt[1] == "text":
            assert out.count("\n") < 40, out  # no name adds a line of its own
        else:
            json.loads(out)
    # the rich layout (a terminal) too
    from weightwarden.report.verification_text import render as render_text

    report = verify_model(model, sig, _verifier())
    for plain in (True, False):
        _no_control(render_text(report, plain=plain, color=False))
    code, out = _run("digest", model)
    _no_control(out)
    assert "\\u202e" in out and "\\u200b" in out


def test_nfc_and_nfd_twins_do_not_look_alike(tmp_path: Path) -> None:
    model = _model(tmp_path)
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    (model / nfc).write_text("menu")
    sig = tmp_path / "m.sig"
    sign_model(model, _signer(), signature_path=sig)
    (model / nfc).rename(model / nfd)
    report = verify_model(model, sig, _verifier())
    assert not report.verified
    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem")
    rows = [line for line in out.splitlines() if "caf" in line and line.split()[0] in ("missing", "added", "renamed")]
    assert rows, out
    assert "[not NFC: cafe\\u0301.txt]" in out, out
    shown = {line.split()[1] if line.split()[0] != "renamed" else line for line in rows}
    assert len({r for r in shown}) == len(rows), out


def test_a_header_of_300000_tensors_gives_a_short_report(tmp_path: Path) -> None:
    n = 300_000
    model = tmp_path / "many"
    model.mkdir()
    header = {f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]} for i in range(n)}
    raw = json.dumps(header).encode()
    data = bytearray(struct.pack("<Q", len(raw)) + raw + bytes(n))
    (model / "model.safetensors").write_bytes(bytes(data))
    sig = tmp_path / "m.sig"
    code, out = _run("sign", model, "--key", KEYS / "p256.pem", "-o", sig)
    assert code == 0, out
    assert sig.stat().st_size < 1_000_000  # no per-tensor evidence for such a file: the bundle stays small
    data[-1] = 1
    (model / "model.safetensors").write_bytes(bytes(data))
    code, out = _run("verify", model, "--bundle", sig, "--key", KEYS / "p256.pub.pem")
    assert code == 1 and "model.safetensors" in out and len(out) < 5000, out


def test_a_hostile_bundle_naming_300000_changed_tensors_is_summarised() -> None:
    from weightwarden.integrity.manifest import ChangeKind, FileChange
    from weightwarden.integrity.report import VerificationReport
    from weightwarden.report.verification_text import render as render_text

    names = tuple(f"layer.{i}.weight" for i in range(300_000))
    report = VerificationReport(model="m", bundle="b", stage="done")
    report.changes = [FileChange("model.safetensors", ChangeKind.MODIFIED, "content differs", tensors=names)]
    for plain in (True, False):
        text = render_text(report, plain=plain)
        assert len(text) < 5000 and "and 299980 more" in text, text[:2000]
    as_json = json.dumps(report.to_dict())
    assert len(as_json) < 100_000 and report.to_dict()["files"][0]["tensors_total"] == 300_000
    # one tensor name of 100,000 characters (a header can say anything) is cut too
    report.changes = [FileChange("model.safetensors", ChangeKind.MODIFIED, "content differs",
                                 tensors=("x" * 100_000, "y"))]
    assert len(render_text(report, plain=True)) < 2000


def test_a_file_truncated_by_one_byte_is_truncated_not_a_removed_tensor(tmp_path: Path) -> None:
    model = _model(tmp_path)
    sig = tmp_path / "m.sig"
    sign_model(model, _signer(), signature_path=sig)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    report = verify_model(model, sig, _verifier())
    assert not report.verified
    change = next(c for c in report.changes if c.path == "model.safetensors")
    assert change.detail.startswith("truncated: "), change.detail
    assert "1 byte(s) short" in change.detail
    assert change.tensors == ("c (cut)",), change.tensors
    assert not any(t.startswith("-") for t in change.tensors)


# ----------------------------------------------------------------------------------------- certificates

@pytest.fixture(scope="module")
def pki():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject, key, issuer, issuer_key, *, ca, not_after=now + dt.timedelta(days=30)):
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=2)).not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        else:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), True)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        return b.sign(issuer_key, hashes.SHA256())

    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("root", "int", "leaf", "other")}
    return {
        "keys": keys, "cert": cert, "now": now,
        "root": cert("WW Root", keys["root"], "WW Root", keys["root"], ca=True),
        "int": cert("WW Int", keys["int"], "WW Root", keys["root"], ca=True),
        "leaf": cert("publisher", keys["leaf"], "WW Int", keys["int"], ca=False),
    }


def _chain_error(leaf, chain, roots) -> str:
    from weightwarden.integrity._crypto.chain import verify_chain
    from weightwarden.integrity._crypto.errors import ChainError

    with pytest.raises(ChainError) as info:
        verify_chain(leaf, chain, roots)
    return info.value.reason


def test_certificate_failures_say_which_certificate_and_why(pki) -> None:
    k, cert, now = pki["keys"], pki["cert"], pki["now"]
    other_root = cert("Other Root", k["other"], "Other Root", k["other"], ca=True)
    # wrong root: the chain's own root is named as self-signed and not trusted
    reason = _chain_error(pki["leaf"], [pki["int"], pki["root"]], [other_root])
    assert "CN=WW Root" in reason and "self-signed root that is not among the given roots" in reason, reason
    # missing intermediate
    reason = _chain_error(pki["leaf"], [], [pki["root"]])
    assert "signing certificate CN=publisher" in reason and "issued by CN=WW Int" in reason, reason
    assert "neither in the bundle's chain nor among the given roots" in reason, reason
    # an intermediate that is not a CA
    not_ca = cert("WW Int", k["int"], "WW Root", k["root"], ca=False)
    reason = _chain_error(pki["leaf"], [not_ca], [pki["root"]])
    assert "CN=WW Int" in reason and "not a CA" in reason, reason
    # an expired intermediate
    old = cert("WW Int", k["int"], "WW Root", k["root"], ca=True, not_after=now - dt.timedelta(days=1))
    reason = _chain_error(pki["leaf"], [old], [pki["root"]])
    assert "CN=WW Int" in reason and "expired on" in reason, reason
    # an intermediate of the right name signed by another key
    forged = cert("WW Int", k["int"], "WW Root", k["other"], ca=True)
    reason = _chain_error(pki["leaf"], [forged], [pki["root"]])
    assert "CN=WW Int" in reason and "does not verify with the key of CN=WW Root" in reason, reason
    # and the generic words of the path builder are never the only explanation
    assert "path builder" in reason

