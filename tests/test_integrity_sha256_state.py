"""``sha256-state`` tensor evidence: the file's SHA-256 state saved at tensor boundaries, resumed per tensor.

Checked against ``hashlib`` (the state is exactly SHA-256's), through the engine (states recorded while
the file is hashed once, across chunk edges), the statement (round trip; malformed tables refused) and a
signed release (every changed tensor named, not only the first; a moved tensor is a change).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._required import platform_has_openssl_sha256, require
from tests.corpus.writers import write_u8_safetensors
from tests.test_integrity_manifest import _json  # the same random-JSON strategy as the statement fuzzers
from weightwarden.integrity import ChangeKind, sign_model, verify_model
from weightwarden.integrity._hashing import Job, TensorRange, hash_range, sha256_state
from weightwarden.integrity._hashing.sha256_state import Sha256State, state_size
from weightwarden.integrity.bundle import parse_bundle
from weightwarden.integrity.hashing import digest_model
from weightwarden.integrity.manifest import ManifestError, diff
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.statement import StatementError, build_statement, read_statement
from weightwarden.integrity.verifying import KeyVerifier

SHARED = Path(__file__).resolve().parents[2] / "shared"
KEYS = SHARED / "fixtures" / "model-signing" / "v1.1.1" / "keys"
MESSAGE = bytes(np.random.default_rng(7).integers(0, 256, size=1000, dtype=np.uint8))

# A platform that can run the engine must run these tests: if the engine breaks, they fail (never skip).
require(platform_has_openssl_sha256(), "OpenSSL's low-level SHA-256 (libcrypto)")


def test_the_engine_is_available_where_the_platform_supports_it() -> None:
    assert sha256_state.available(), "the SHA-256-state engine fails its self-test on a platform that has it"


def _state_after(data: bytes) -> bytes:
    h = Sha256State()
    h.update(data)
    return h.save()


# ------------------------------------------------------------------------------------------ the primitive

def test_state_layout_is_sha256s_own() -> None:
    # After whole blocks the saved H is the SHA-256 chaining value; one block of 64 zero bytes then
    # SHA-256's padding block gives the digest of those 64 bytes.
    saved = _state_after(b"\x00" * 64)
    assert len(saved) == 32 == state_size(64)
    resumed = Sha256State(saved, 64)
    assert resumed.digest() == hashlib.sha256(b"\x00" * 64).digest()
    # The initial state is FIPS 180-4's H(0).
    assert _state_after(b"")[:4] == bytes.fromhex("6a09e667")
    # Pending bytes are kept verbatim after H.
    assert _state_after(MESSAGE[:70])[32:] == MESSAGE[64:70]


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, len(MESSAGE)), split=st.integers(0, len(MESSAGE)))
def test_save_and_resume_anywhere_equals_hashlib(cut: int, split: int) -> None:
    first = Sha256State()
    first.update(MESSAGE[:cut])
    assert first.digest() == hashlib.sha256(MESSAGE[:cut]).digest()
    resumed = Sha256State(first.save(), cut)
    rest = memoryview(MESSAGE)[cut:]
    k = max(0, min(split - cut, len(rest)))
    resumed.update(rest[:k])
    resumed.update(rest[k:])
    assert resumed.digest() == hashlib.sha256(MESSAGE).digest()
    assert resumed.offset == len(MESSAGE)


def test_digest_leaves_the_state_alone_and_reads_read_only_buffers(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(MESSAGE)
    h = Sha256State()
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        with view[:500] as part:
            h.update(part)
        h.digest()
        with view[500:] as part:
            h.update(part)
        view.release()  # no export left behind: the map closes cleanly
    assert h.digest() == hashlib.sha256(MESSAGE).digest()


@pytest.mark.parametrize(("saved", "offset"), [(b"\x00" * 31, 0), (b"\x00" * 32, 5), (b"\x00" * 40, 64),
                                               (b"\x00" * 32, -1)])
def test_resume_refuses_a_state_of_the_wrong_shape(saved: bytes, offset: int) -> None:
    with pytest.raises(ValueError):
        Sha256State(saved, offset)


# ------------------------------------------------------------------------------------------ the engine

def test_engine_saves_states_at_every_boundary_across_chunks(tmp_path: Path) -> None:
    mib = 1 << 20
    data = bytes(np.random.default_rng(3).integers(0, 256, size=3 * mib + 12345, dtype=np.uint8))
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    ranges = sorted([TensorRange("head", 0, 7), TensorRange("empty", 7, 7), TensorRange("cross", mib - 3, 2 * mib + 5),
                     TensorRange("inside", 100, 1000), TensorRange("tail", len(data) - 65, len(data)),
                     TensorRange("end-empty", len(data), len(data))], key=lambda t: (t.start, t.end))
    job = Job(str(path), "big.bin", 0, len(data), tuple(ranges), expect_size=len(data))
    res = hash_range(job, "sha256", memoryview(bytearray(mib)), tensor_hash_type="sha256-state")
    assert res.digest == hashlib.sha256(data).digest()  # one pass: the file digest is unchanged
    for t, end_state, start_state in res.tensors:
        assert start_state == _state_after(data[:t.start]), t.name
        assert end_state == _state_after(data[:t.end]), t.name
    # Verifying resumes each tensor from its signed start state and reaches its end state.
    origins = {t.start: o for t, _, o in res.tensors} | {t.end: d for t, d, _ in res.tensors}
    again = hash_range(Job(str(path), "big.bin", 0, len(data), tuple(ranges), tensor_origins=origins), "sha256",
                       memoryview(bytearray(mib)), tensor_hash_type="sha256-state")
    assert [(t, d) for t, d, _ in again.tensors] == [(t, d) for t, d, _ in res.tensors]


# ------------------------------------------------------------------------------------------ manifests

def _toy(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(5)
    write_u8_safetensors(folder / "model.safetensors",
                         {f"t{i}": rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
                          for i, n in enumerate([3000, 70, 0, 10000, 7, 129])})
    (folder / "config.json").write_text("{}")
    return folder


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_default_evidence_is_sha256_state_and_names_every_changed_tensor(tmp_path: Path) -> None:
    model = _toy(tmp_path / "toy")
    signed = digest_model(model)
    assert signed.tensor_hash == "sha256-state" and len(signed.tensors) == 6
    assert signed.resources == digest_model(model, tensors=False).resources
    by_name = {t.name: t for t in signed.tensors}
    _flip(model / "model.safetensors", by_name["t0"].start + 1)
    _flip(model / "model.safetensors", by_name["t3"].end - 1)
    _flip(model / "model.safetensors", by_name["t5"].start)
    actual = digest_model(model, tensor_hash_type="sha256-state", tensor_origins=signed.tensor_states_by_file())
    (change,) = [c for c in diff(signed, actual) if c.status is not ChangeKind.OK]
    assert change.path == "model.safetensors" and sorted(change.tensors) == ["t0", "t3", "t5"]


def test_a_change_outside_every_tensor_names_none(tmp_path: Path) -> None:
    model = _toy(tmp_path / "toy")
    signed = digest_model(model)
    raw = (model / "model.safetensors").read_bytes()
    # Rewrite the header's trailing padding (a space) : same tensors, same offsets, different file.
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = raw[8:8 + header_len]
    assert header.endswith(b" ") or header.endswith(b"}")
    patched = header[:-1] + (b"\t" if header.endswith(b" ") else b"}")
    if patched == header:
        pytest.skip("header has no padding to change")
    (model / "model.safetensors").write_bytes(raw[:8] + patched + raw[8 + header_len:])
    actual = digest_model(model, tensor_origins=signed.tensor_states_by_file())
    (change,) = [c for c in diff(signed, actual) if c.status is not ChangeKind.OK]
    assert change.tensors == ()


def test_a_moved_tensor_is_a_change(tmp_path: Path) -> None:
    model = tmp_path / "toy"
    model.mkdir()
    write_u8_safetensors(model / "model.safetensors", {"a": b"\x01" * 128, "b": b"\x02" * 128})
    signed = digest_model(model)
    # Same bytes, names swapped in the header: each name now points at the other range.
    write_u8_safetensors(model / "model.safetensors", {"b": b"\x01" * 128, "a": b"\x02" * 128})
    actual = digest_model(model, tensor_origins=signed.tensor_states_by_file())
    (change,) = [c for c in diff(signed, actual) if c.status is not ChangeKind.OK]
    assert sorted(change.tensors) == ["a", "b"]


def test_state_evidence_needs_whole_sha256_files(tmp_path: Path) -> None:
    model = _toy(tmp_path / "toy")
    with pytest.raises(ManifestError, match="sha256-state"):
        digest_model(model, hash_type="blake3", tensor_hash_type="sha256-state")
    with pytest.raises(ManifestError, match="sha256-state"):
        digest_model(model, method="shards", tensor_hash_type="sha256-state")
    assert digest_model(model, hash_type="blake3").tensor_hash == "blake3"
    assert digest_model(model, method="shards").tensor_hash == "blake3"


def test_without_libcrypto_falls_back_to_blake3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _toy(tmp_path / "toy")
    monkeypatch.setattr(sha256_state, "_checked", False)
    assert digest_model(model).tensor_hash == "blake3"
    with pytest.raises(ManifestError, match="OpenSSL"):
        digest_model(model, tensor_hash_type="sha256-state")


def test_a_python_without_openssl_falls_back_to_blake3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # hashlib works without its OpenSSL module (_hashlib); the availability check must say no, not raise.
    model = _toy(tmp_path / "toy")
    monkeypatch.setitem(sys.modules, "_hashlib", None)  # import _hashlib now raises ImportError
    monkeypatch.setattr(sha256_state, "_checked", None)
    monkeypatch.setattr(sha256_state, "_lib", None)
    assert digest_model(model).tensor_hash == "blake3"


def test_verify_without_libcrypto_warns_instead_of_naming_tensors(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model = _toy(tmp_path / "toy")
    sig = tmp_path / "toy.sig"
    sign_model(model, KeySigner((KEYS / "p256.pem").read_bytes()), signature_path=sig)
    _flip(model / "model.safetensors", next(t for t in digest_model(model).tensors if t.name == "t3").start)
    monkeypatch.setattr(sha256_state, "_checked", False)
    report = verify_model(model, sig, KeyVerifier((KEYS / "p256.pub.pem").read_bytes()))
    assert not report.verified and any("OpenSSL" in w for w in report.warnings)
    (bad,) = [c for c in report.changes if c.status != ChangeKind.OK]
    assert bad.path == "model.safetensors" and bad.tensors == ()


def test_diff_names_no_tensor_from_evidence_it_cannot_compare(tmp_path: Path) -> None:
    # States recorded afresh chain through every earlier byte: compared with signed states, a change in t0
    # would name every later tensor too. Only resumed states (or evidence of the same kind) name tensors.
    model = _toy(tmp_path / "toy")
    signed = digest_model(model)
    _flip(model / "model.safetensors", next(t for t in signed.tensors if t.name == "t0").start)
    for actual in (digest_model(model), digest_model(model, tensor_hash_type="blake3")):
        (change,) = [c for c in diff(signed, actual) if c.status is not ChangeKind.OK]
        assert change.path == "model.safetensors" and change.tensors == ()
    resumed = digest_model(model, tensor_origins=signed.tensor_states_by_file())
    (change,) = [c for c in diff(signed, resumed) if c.status is not ChangeKind.OK]
    assert change.tensors == ("t0",)


# ------------------------------------------------------------------------------------------ statements

def test_statement_round_trip_and_layout(tmp_path: Path) -> None:
    manifest = digest_model(_toy(tmp_path / "toy"))
    statement = build_statement(manifest)
    ext = statement["predicate"]["weightwarden"]
    assert ext["tensor_hash"] == "sha256-state"
    assert all("digest" not in t for t in ext["tensors"]["model.safetensors"])
    states = ext["tensor_states"]["model.safetensors"]
    # One state per distinct boundary: six contiguous tensors (one empty) have six distinct offsets + end.
    assert len(states) == len({t.start for t in manifest.tensors} | {t.end for t in manifest.tensors})
    assert read_statement(json.dumps(statement).encode()).manifest == manifest


def _mutated(manifest_statement: dict, mutate) -> bytes:  # type: ignore[no-untyped-def]
    statement = json.loads(json.dumps(manifest_statement))
    mutate(statement["predicate"]["weightwarden"])
    return json.dumps(statement).encode()


@pytest.mark.parametrize("mutation", [
    lambda e: e.pop("tensor_states"),
    lambda e: e["tensor_states"]["model.safetensors"].pop(next(iter(e["tensor_states"]["model.safetensors"]))),
    lambda e: e["tensor_states"].update({"other.bin": {}}),
    lambda e: e["tensor_states"]["model.safetensors"].update({"01": "00" * 33}),
    lambda e: e["tensor_states"]["model.safetensors"].update({"9" * 5000: "00"}),
    lambda e: e["tensor_states"]["model.safetensors"].update({"-3": "00" * 32}),
    lambda e: e["tensor_states"]["model.safetensors"].update({"65": "00" * 32}),
    lambda e: e["tensor_states"]["model.safetensors"].update({"64": 7}),
    lambda e: e["tensor_states"].update({"model.safetensors": []}),
])
def test_malformed_state_tables_are_refused(tmp_path: Path, mutation) -> None:  # type: ignore[no-untyped-def]
    statement = build_statement(digest_model(_toy(tmp_path / "toy")))
    with pytest.raises(StatementError):
        read_statement(_mutated(statement, mutation))


def test_state_evidence_with_another_serialization_is_refused(tmp_path: Path) -> None:
    statement = build_statement(digest_model(_toy(tmp_path / "toy")))
    statement["predicate"]["serialization"]["hash_type"] = "blake3"
    for r in statement["predicate"]["resources"]:
        r["algorithm"] = "blake3"
    with pytest.raises(StatementError, match="sha256-state"):
        read_statement(json.dumps(statement).encode())


# ------------------------------------------------------------------------------------------ a release

def test_signed_release_names_tensors_from_states(tmp_path: Path) -> None:
    model = _toy(tmp_path / "toy")
    sig = tmp_path / "toy.sig"
    sign_model(model, KeySigner((KEYS / "p256.pem").read_bytes()), signature_path=sig)
    verifier = KeyVerifier((KEYS / "p256.pub.pem").read_bytes())
    assert verify_model(model, sig, verifier).verified
    signed = read_statement(parse_bundle(sig.read_bytes()).payload).manifest
    t3 = next(t for t in signed.tensors if t.name == "t3")
    _flip(model / "model.safetensors", t3.start + 4321)
    report = verify_model(model, sig, verifier)
    assert not report.verified
    (bad,) = [c for c in report.changes if c.status != ChangeKind.OK]
    assert bad.tensors == ("t3",)


def test_gguf_tensors_get_state_evidence(sample_models: tuple[Path, Path], tmp_path: Path) -> None:
    gguf, _ = sample_models
    copy = tmp_path / gguf.name
    copy.write_bytes(gguf.read_bytes())
    signed = digest_model(copy)
    assert signed.tensor_hash == "sha256-state" and len(signed.tensors) > 100
    assert signed.resources[0].digest == hashlib.sha256(gguf.read_bytes()).digest()
    target = signed.tensors[len(signed.tensors) // 2]
    assert target.end > target.start
    _flip(copy, (target.start + target.end) // 2)
    actual = digest_model(copy, tensor_origins=signed.tensor_states_by_file())
    (change,) = [c for c in diff(signed, actual) if c.status is not ChangeKind.OK]
    assert change.tensors == (target.name,)


_EXTENSION_PATHS = [["tensor_hash"], ["tensors"], ["tensors", "model.safetensors"], ["tensors", "model.safetensors", 0],
                    ["tensors", "model.safetensors", 0, "start"], ["tensor_states"],
                    ["tensor_states", "model.safetensors"], ["tensor_states", "model.safetensors", "0"]]


@pytest.fixture(scope="module")
def state_statement(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_statement(digest_model(_toy(tmp_path_factory.mktemp("fuzz") / "toy")))


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(_EXTENSION_PATHS), value=_json)
def test_fuzz_state_extension(state_statement: dict, path: list, value: object) -> None:
    statement = json.loads(json.dumps(state_statement))
    node = statement["predicate"]["weightwarden"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        parsed = read_statement(json.dumps(statement).encode())
    except StatementError as exc:
        assert exc.reason
        return
    # Whatever parses is usable: every state has the length its offset implies, so resuming cannot fail.
    for t in parsed.manifest.tensors:
        if parsed.manifest.tensor_hash == "sha256-state":
            assert len(t.origin) == state_size(t.start) and len(t.digest) == state_size(t.end)
            Sha256State(t.origin, t.start)


def test_overlapping_tensors_get_no_evidence(tmp_path: Path) -> None:
    from tests.corpus.writers import safetensors_raw

    model = tmp_path / "toy"
    model.mkdir()
    # 1,000 tensors that each cover all the data: hashing each on its own would cost 1,000 × the file.
    header = {f"t{i}": {"dtype": "U8", "shape": [4096], "data_offsets": [0, 4096]} for i in range(1000)}
    (model / "model.safetensors").write_bytes(safetensors_raw(header, bytes(4096)))
    manifest = digest_model(model)
    assert manifest.tensors == () and len(manifest.resources) == 1


def test_a_python_without_ctypes_still_hashes(tmp_path: Path) -> None:
    import subprocess
    import sys

    model = _toy(tmp_path / "toy")
    code = ("import sys; sys.modules['ctypes'] = None\n"  # import ctypes now raises ImportError
            "from weightwarden.integrity.hashing import digest_model\n"
            f"m = digest_model({str(model)!r}); print(m.tensor_hash, len(m.tensors))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert out == ["blake3", "6"]
