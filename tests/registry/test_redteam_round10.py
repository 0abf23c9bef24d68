"""Red team round 10 on the registry (docs/decisions.md), on SQLite and PostgreSQL, with its fixes.

F1  The client never checked who wrote a logged entry: only the schema, then each record was attributed to the
    ``publisher.key_id`` as written. A log operator (log key and database, no publisher key) appended through
    ``Store.append_batch`` a "withdrawn" record continuing an institute's open incident chain, in the institute's
    name with a zero signature, and `check` said "current", with a witness quorum too. The class rule: every
    logged entry that feeds a decision is accepted only if its key id is the hash of the public key it carries
    and its request signature verifies over exactly what the server verified (``auth.request_message``); a
    (key, nonce) pair logged twice is a replay. Either is log misbehaviour: refused with evidence, never skipped.
S1  The two remembered checkpoints (log-signed, witnessed) were checked apart, so what a ``--quorum`` run verified
    did not bind a later run without it (and the reverse). Every new checkpoint is now proven consistent with
    every remembered checkpoint of the log key.
G1  Malformed nested values in the four state files were internal errors: a per-schema validator now refuses them.
G2  The witness's evidence file was read and appended with plain open/json: now core.files and strict, bounded.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import ORIGIN, LiveServer, pending_write, release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from weightwarden.registry import auth, entries
from weightwarden.registry.client import RegistryClientError
from weightwarden.registry.incidents import AffectedModel, new_incident, transition
from weightwarden.registry.store import PendingWrite, Store

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)

MISBEHAVIOUR = "the log holds an entry its publisher did not sign"


def _witness(store, log_keys, tmp: Path):
    from weightwarden.registry.witness import CosignatureSigner, Witness
    from weightwarden.registry.witnessing import request_cosignature

    signer = CosignatureSigner.generate("witness.example")
    witness = Witness(signer, {ORIGIN: log_keys.note_signer.verifier()}, tmp / "witness.json")

    def cosign() -> None:
        request_cosignature(store, witness.add_checkpoint, signer.verifier())

    return [signer.verifier().vkey()], cosign


def _forged(variant: str, institute, body: entries.Body, logged_open: bytes) -> PendingWrite:
    """What an operator holding the log key (and the database, but no publisher key) appends."""
    now, nonce = int(time.time()), os.urandom(16).hex()
    inst = institute.publisher
    if variant == "bad-signature":  # the red team's: the institute's key id and public key, a zero signature
        return PendingWrite(body, auth.SignedRequest(inst, "POST", "/entries", now, nonce, b"\0" * 64))
    if variant == "key-mismatch":  # the institute's key id, the operator's own public key and a valid signature
        own = auth.generate_key()
        raw = auth.raw_public_key(own.public_key())
        sig = own.sign(auth.request_message(ORIGIN, "POST", "/entries", now, nonce, body.raw))
        pub = auth.Publisher(inst.key_id, raw, inst.namespaces, inst.roles, "fake")
        return PendingWrite(body, auth.SignedRequest(pub, "POST", "/entries", now, nonce, sig))
    if variant == "other-origin":  # the institute's real signature, made for another log: not a write to this one
        sig = institute.key.sign(auth.request_message("other.example/log", "POST", "/entries", now, nonce, body.raw))
        return PendingWrite(body, auth.SignedRequest(inst, "POST", "/entries", now, nonce, sig))
    if variant == "replay":  # the institute's own earlier entry, signature and nonce, appended again
        logged = entries.parse_logged(logged_open)
        req = logged["request"]
        old = entries.parse_body_bytes(entries.canonical(logged["body"]))
        return PendingWrite(old, auth.SignedRequest(inst, req["method"], req["path"], req["timestamp"],
                                                    req["nonce"], base64.b64decode(req["signature"])))
    raise AssertionError(variant)


FORGERIES = ["bad-signature", "key-mismatch", "other-origin", "replay"]


@pytest.mark.parametrize("variant", FORGERIES)
def test_an_entry_its_publisher_did_not_sign_is_refused(parties, store, log_keys, monkeypatch, variant):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    inc = transition(new_incident(summary="BACKDOOR in acme/ok v1", risk_domain="supply_chain.integrity",
                                  severity="critical", affected=[AffectedModel("acme/ok")]), "confirmed")
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        opened = c.publish(entries.incident_body(inc.to_osv()), who["institute"].key)
    vkeys, cosign = _witness(store, log_keys, tmp)
    cosign()
    log_key = log_keys.note_signer.verifier().vkey()
    for name, scan, quorum in (("full", 20_000, 0), ("index", 1, 0), ("full-q", 20_000, 1), ("index-q", 1, 1)):
        with _client(server, tmp, f"before-{name}", log_key=log_key, witnesses=vkeys, quorum=quorum,
                     full_scan_max=scan) as c:
            assert not c.check(model, bundle=bundle).current

    withdrawn = transition(inc, "withdrawn", note="withdrawn: false positive")
    body = entries.parse_body_bytes(entries.canonical(entries.incident_body(withdrawn.to_osv())))
    logged_open = _entry(server, opened.index)
    if variant == "replay":  # the operator owns the database: it forgets the nonce and skips the write rules
        import sqlalchemy as sa

        from weightwarden.registry import store as store_module

        with store._writer.begin() as conn:
            conn.execute(sa.delete(store_module.nonces))
        monkeypatch.setattr(store_module._BatchIndex, "check", lambda self, body, size, publisher="": None)
    (appended,) = store.append_batch([_forged(variant, who["institute"], body, logged_open)])
    assert appended.index == 2, appended  # the log accepts whatever its operator appends
    cosign()  # an honest witness cosigns it: the log is consistent, the entry is not the institute's

    for name, scan, quorum in (("full", 20_000, 0), ("index", 1, 0), ("full-q", 20_000, 1), ("index-q", 1, 1)):
        # the same state as before (the client has seen the honest log) and a fresh one
        for state in (f"before-{name}", f"fresh-{name}"):
            with _client(server, tmp, state, log_key=log_key, witnesses=vkeys, quorum=quorum,
                         full_scan_max=scan) as c, pytest.raises(RegistryClientError, match=MISBEHAVIOUR) as err:
                c.check(model, bundle=bundle)
            text = str(err.value)
            assert "entry 2 (leaf hash " in text and "tree of size 3" in text, (variant, name, text)


def test_an_authentic_entry_of_an_unregistered_key_cannot_continue_another_keys_chain(parties, store, log_keys):
    """The log holds no key table: a key the operator made itself (entitlement is the server's, unlogged) signs
    a withdrawal under the institute's incident id. Its signature is authentic, so it is read, but as its own
    (id, key) chain: the institute's open record still counts."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    inc = transition(new_incident(summary="BACKDOOR in acme/ok v1", risk_domain="supply_chain.integrity",
                                  severity="critical", affected=[AffectedModel("acme/ok")]), "confirmed")
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        c.publish(entries.incident_body(inc.to_osv()), who["institute"].key)
    own = auth.generate_key()
    raw = auth.raw_public_key(own.public_key())
    rogue = auth.Publisher(auth.key_id(raw), raw, ("*",), ("incident",), "operator")
    withdrawn = transition(inc, "withdrawn", note="withdrawn")
    body = entries.parse_body_bytes(entries.canonical(entries.incident_body(withdrawn.to_osv())))
    now, nonce = int(time.time()), os.urandom(16).hex()
    sig = own.sign(auth.request_message(ORIGIN, "POST", "/entries", now, nonce, body.raw))
    store.append_batch([PendingWrite(body, auth.SignedRequest(rogue, "POST", "/entries", now, nonce, sig))])
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, name, full_scan_max=scan) as c:
            result = c.check(model, bundle=bundle)
        assert not result.current
        assert any(r.startswith(f"open incident {inc.id} (critical, confirmed)") for r in result.reasons), \
            (name, result.reasons)


def test_a_forged_release_in_another_keys_name_is_refused(parties, store):
    """Not only incidents: a release appended in acme's name without its signature is refused by every check
    that reads it (the full scan reads every entry, the line index each entry of the line)."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "p") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
    write = pending_write(who["acme"], release("acme/ok", 2))
    store.append_batch([PendingWrite(write.body, dataclasses.replace(write.request, signature=b"\1" * 64))])
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, name, full_scan_max=scan) as c, pytest.raises(RegistryClientError,
                                                                                   match=MISBEHAVIOUR):
            c.check(model, bundle=bundle)


def _entry(server, index: int) -> bytes:
    import httpx

    return base64.b64decode(httpx.get(f"{server.url}/entries/{index}").json()["data"])


def test_every_logged_request_field_is_checked():
    """``auth.logged_request_problem``: the same message as admission; every field that changes it matters."""
    key = auth.generate_key()
    raw = auth.raw_public_key(key.public_key())
    body = entries.canonical(release("acme/x"))
    headers = auth.sign_request(key, ORIGIN, "POST", "/entries", body)
    pub = {"key_id": auth.key_id(raw), "public_key": base64.b64encode(raw).decode()}
    req = {"method": "POST", "path": "/entries", "timestamp": int(headers[auth.HEADER_TIMESTAMP]),
           "nonce": headers[auth.HEADER_NONCE], "signature": headers[auth.HEADER_SIGNATURE]}
    assert auth.logged_request_problem(pub, req, ORIGIN, body) is None
    assert "does not verify" in auth.logged_request_problem(pub, req, "other/log", body)
    assert "does not verify" in auth.logged_request_problem(pub, req, ORIGIN, body + b" ")
    assert "does not verify" in auth.logged_request_problem(pub, {**req, "timestamp": req["timestamp"] + 1},
                                                            ORIGIN, body)
    assert "does not verify" in auth.logged_request_problem(pub, {**req, "path": "/entries?x=1"}, ORIGIN, body)
    assert "POST /entries" in auth.logged_request_problem(pub, {**req, "path": "/other"}, ORIGIN, body)
    assert "POST /entries" in auth.logged_request_problem(pub, {**req, "method": "PUT"}, ORIGIN, body)
    assert "carries the public key" in auth.logged_request_problem({**pub, "key_id": "0" * 64}, req, ORIGIN, body)
    for bad in ({**req, "timestamp": True}, {**req, "timestamp": "1"}, {**req, "nonce": "x"},
                {**req, "signature": "!!"}, {k: v for k, v in req.items() if k != "nonce"}):
        assert auth.logged_request_problem(pub, bad, ORIGIN, body) is not None
    for bad_pub in (None, [], {"key_id": pub["key_id"]}, {**pub, "public_key": "AAAA"}):
        assert auth.logged_request_problem(bad_pub, req, ORIGIN, body) is not None


# --- S1: one memory per log key, whatever the mode ----------------------------------------------------------------


def _fork(tmp: Path, log_keys, who, common: list[PendingWrite], own: list[dict]) -> Store:
    """Another tree signed by the same log key: the common prefix, then other entries."""
    fork = Store.open(f"sqlite:///{tmp / 'fork.db'}", log_keys.checkpoint_signer())
    for p in who.values():
        fork.add_publisher(p.publisher)
    fork.append_batch(common)
    for body in own:
        fork.append_batch([pending_write(who["acme"], body)])
    return fork


def test_a_witnessed_checkpoint_binds_a_later_run_without_quorum(parties, store, log_keys):
    server, who, tmp = parties
    first = pending_write(who["acme"], release("acme/ok"))
    store.append_batch([first])
    store.append_batch([pending_write(who["acme"], release("acme/ok", 2))])  # size 2, witnessed
    vkeys, cosign = _witness(store, log_keys, tmp)
    cosign()
    log_key = log_keys.note_signer.verifier().vkey()
    with _client(server, tmp, "s", log_key=log_key, witnesses=vkeys, quorum=1) as c:
        assert c.verified_checkpoint().size == 2
    fork = _fork(tmp, log_keys, who, [first], [release("acme/y", 1), release("acme/y", 2)])
    with LiveServer(fork, log_keys) as forked:
        assert fork.size() == 3
        with _client(forked, tmp, "s", log_key=log_key) as c:
            _refused_with_evidence(c.verified_checkpoint, "witnessed checkpoint of size 2")
    fork.close()


def test_a_log_signed_checkpoint_binds_a_later_quorum_run(parties, store, log_keys):
    server, who, tmp = parties
    first = pending_write(who["acme"], release("acme/ok"))
    store.append_batch([first])
    store.append_batch([pending_write(who["acme"], release("acme/ok", 2))])
    vkeys, cosign = _witness(store, log_keys, tmp)
    cosign()  # witnessed at size 2
    store.append_batch([pending_write(who["acme"], release("acme/ok", 3))])  # the real log at 3
    log_key = log_keys.note_signer.verifier().vkey()
    fork = _fork(tmp, log_keys, who, [first], [release("acme/y", 1), release("acme/y", 2)])
    with LiveServer(fork, log_keys) as forked, _client(forked, tmp, "s", log_key=log_key) as c:
        assert c.verified_checkpoint().size == 3  # the fork, remembered without a quorum
    fork.close()
    # the real log's witnessed size-2 tree is not a prefix of the size-3 tree this client verified
    with _client(server, tmp, "s", log_key=log_key, witnesses=vkeys, quorum=1) as c:
        _refused_with_evidence(c.verified_checkpoint, "log-signed checkpoint of size 3")
    # control: an honest history in both modes is accepted
    with _client(server, tmp, "h", log_key=log_key) as c:
        assert c.verified_checkpoint().size == 3
    with _client(server, tmp, "h", log_key=log_key, witnesses=vkeys, quorum=1) as c:
        assert c.verified_checkpoint().size == 2
    store.append_batch([pending_write(who["acme"], release("acme/ok", 4))])
    cosign()
    with _client(server, tmp, "h", log_key=log_key, witnesses=vkeys, quorum=1) as c:
        assert c.verified_checkpoint().size == 4
    with _client(server, tmp, "h", log_key=log_key) as c:
        assert c.verified_checkpoint().size == 4


def _refused_with_evidence(fn, text: str) -> None:
    """``fn()`` raises a RegistryClientError naming ``text`` and carrying the split-view evidence."""
    with pytest.raises(RegistryClientError) as err:
        fn()
    message = str(err.value)
    assert text in message and "not consistent" in message, message
    assert "split-view-proof" in message, message


# --- G1: every state file's nested values are validated ------------------------------------------------------------

VK = "test.weightwarden.local/log+01234567+AWYMSl52SEV3CdqOVwotwo0UNIkgkt8dGhbrHf87E/3a"
URL = "http://127.0.0.1:1"
CLIENT_STATES = {
    "keys-list": {"logs": {}, "keys": []},
    "keys-str": {"logs": {}, "keys": "x"},
    "key-entry-list": {"logs": {}, "keys": {VK: []}},
    "checkpoint-int": {"logs": {}, "keys": {VK: {"checkpoint": 5}}},
    "witnessed-list": {"logs": {}, "keys": {VK: {"checkpoint_witnessed": ["x"]}}},
    "view-key-int": {"logs": {}, "keys": {VK: {"view_key": 5}}},
    "logs-entry-str": {"logs": {URL: "x"}},
    "logs-entry-empty": {"logs": {URL: {}}},
    "logs-vkey-int": {"logs": {URL: {"vkey": 5}}},
    "old-per-url-checkpoint-list": {"logs": {URL: {"vkey": VK, "checkpoint": ["x"]}}},
    "unknown-field": {"logs": {}, "keys": {VK: {"size": 3}}},
    "top-level-extra": {"logs": {}, "other": 1},
}


@pytest.mark.parametrize("variant", sorted(CLIENT_STATES))
def test_a_malformed_client_state_is_a_refusal(tmp_path, variant):
    from weightwarden.registry.client import STATE_SCHEMA, RegistryClient

    (tmp_path / "state.json").write_text(json.dumps({"schema": STATE_SCHEMA, **CLIENT_STATES[variant]}))
    with pytest.raises(RegistryClientError, match="registry client state is malformed"):
        RegistryClient(URL, state_dir=tmp_path)


def test_a_well_formed_client_state_still_loads(tmp_path):
    from weightwarden.registry.client import STATE_SCHEMA, RegistryClient

    doc = {"schema": STATE_SCHEMA, "logs": {URL: {"vkey": VK, "origin": "o"}},
           "keys": {VK: {"checkpoint": "a\n", "checkpoint_witnessed": "b\n", "view_key": "k"}}}
    (tmp_path / "state.json").write_text(json.dumps(doc))
    RegistryClient(URL, state_dir=tmp_path).close()


@pytest.mark.parametrize("entry", [[], {"version": True, "digest": "x"}, {"version": 1.5, "digest": "x"},
                                   {"version": -1, "digest": "x"}, {"version": 1, "digest": 2},
                                   {"version": 1, "digest": "x", "more": 1}])
def test_a_malformed_seen_file_is_a_refusal(tmp_path, entry):
    from weightwarden.registry.freshness import SEEN_SCHEMA, FreshnessError, LastSeen

    path = tmp_path / "seen.json"
    path.write_text(json.dumps({"schema": SEEN_SCHEMA, "lines": {"acme/ok": entry}}))
    with pytest.raises(FreshnessError, match="is malformed: malformed entry for acme/ok"):
        LastSeen(path).get("acme/ok")


@pytest.mark.parametrize("entry", [[], {"size": True, "root": "x", "note": "n"}, {"size": 1, "note": "n"},
                                   {"size": 1, "root": base64.b64encode(b"\0" * 32).decode(), "note": 5},
                                   {"size": 1, "root": base64.b64encode(b"\0" * 31).decode(), "note": "n"}])
def test_a_malformed_witness_state_is_a_refusal(tmp_path, entry):
    from weightwarden.core.errors import ConfigError
    from weightwarden.registry.witness import STATE_SCHEMA, CosignatureSigner, Witness

    path = tmp_path / "w.json"
    path.write_text(json.dumps({"schema": STATE_SCHEMA, "logs": {"o.example/log": entry}}))
    signer = CosignatureSigner.generate("witness.example")
    from weightwarden.registry.note import NoteSigner

    log = NoteSigner.generate("o.example/log")
    with pytest.raises(ConfigError, match="witness state is malformed: logs"):
        Witness(signer, {"o.example/log": log.verifier()}, path).latest("o.example/log")


@pytest.mark.parametrize("peers", [{"p": "x"}, {"p": [[1]]}, {"p": [["t", 1]]}, {"p": [[1, 2, 3]]},
                                   {"p": [[1, 2, "n", "late"]]}, {"p": [[1, 2, "n", 4, 5]]}])
def test_a_malformed_psi_budget_is_a_refusal(tmp_path, peers):
    from weightwarden.indicators.psi import PsiError, SessionBudget

    path = tmp_path / "budget.json"
    path.write_text(json.dumps({"schema": SessionBudget.SCHEMA, "peers": peers}))
    with pytest.raises(PsiError, match="budget is malformed: "):
        SessionBudget(path).charge("p", 10)


# --- G2: the witness evidence file -----------------------------------------------------------------------------


def _evidence_witness(tmp: Path):
    from weightwarden.registry.note import NoteSigner
    from weightwarden.registry.witness import CosignatureSigner, Witness

    log = NoteSigner.generate("o.example/log")
    return Witness(CosignatureSigner.generate("witness.example"), {"o.example/log": log.verifier()},
                   tmp / "w.json"), log


@pytest.mark.parametrize("content", [b"not json\n", b"[" * 100_000 + b"\n", b'{"a":1}\n',
                                     b'{"schema":"weightwarden.split-view-proof/v1","schema":"x"}\n',
                                     b"x" * (600 * 1024) + b"\n"])
def test_a_malformed_evidence_file_is_a_clear_error(tmp_path, content):
    from click.testing import CliRunner

    from weightwarden.cli.main import main
    from weightwarden.core.errors import InputError

    witness, _ = _evidence_witness(tmp_path)
    (tmp_path / "w.json.evidence.jsonl").write_bytes(content)
    with pytest.raises(InputError, match="line 1"):
        witness.evidence()
    r = CliRunner().invoke(main, ["witness", "evidence", "--state", str(tmp_path / "w.json")])
    assert r.exit_code == 2 and "internal error" not in r.output and "line 1" in r.output, r.output


def test_a_link_or_fifo_at_the_evidence_name_is_refused(tmp_path):
    """Recording evidence must not follow a link or block on a FIFO (it runs under the witness's lock); the
    split view is still refused (422) and says the evidence could not be kept; reading refuses a link."""
    from tests.registry.test_witness import ORIGIN as W_ORIGIN
    from tests.registry.test_witness import Log
    from weightwarden.core.errors import InputError
    from weightwarden.registry.witness import CosignatureSigner, Witness, WitnessError, format_add_checkpoint

    log = Log()
    witness = Witness(CosignatureSigner.generate("witness.example/w1"), {W_ORIGIN: log.signer.verifier()},
                      tmp_path / "w.json")
    log.grow(8)
    witness.add_checkpoint(log.request(0))
    forked = Log(log.signer, prefix=b"forked")
    fork_note = forked.grow(8)
    target = tmp_path / "elsewhere.txt"
    evidence = tmp_path / "w.json.evidence.jsonl"
    evidence.symlink_to(target)
    with pytest.raises(WitnessError, match="could not be kept") as err:
        witness.add_checkpoint(format_add_checkpoint(8, [], fork_note))
    assert err.value.http_status == 422 and err.value.split_view is not None
    assert not target.exists()
    with pytest.raises(InputError):
        witness.evidence()
    evidence.unlink()
    os.mkfifo(evidence)
    with pytest.raises(WitnessError, match="could not be kept"):  # no reader: refused at once, never blocks
        witness.add_checkpoint(format_add_checkpoint(8, [], fork_note))
    evidence.unlink()
    with pytest.raises(WitnessError, match="evidence kept"):
        witness.add_checkpoint(format_add_checkpoint(8, [], fork_note))
    (proof,) = witness.evidence()
    proof.verify(log.signer.verifier())
    assert (evidence.stat().st_mode & 0o777) == 0o600


# --- the second, independent verifier (tests/registry/independent_verifier.py --entries) --------------------------


def _mirror(server, dest: Path) -> None:
    import httpx

    from weightwarden.registry import tiles
    from weightwarden.registry.note import Checkpoint, parse_note

    with httpx.Client(base_url=server.url, timeout=30) as http:
        note = http.get("/checkpoint").raise_for_status().content
        size = Checkpoint.parse(parse_note(note).text).size
        dest.mkdir(parents=True)
        (dest / "checkpoint").write_bytes(note)
        for tile in tiles.tiles_for_size(size) + [tiles.tile_for_entry(i, size) for i in range(0, size, 256)]:
            path = dest / tile.path()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(http.get("/" + tile.path()).raise_for_status().content)


@pytest.mark.parametrize("variant", ["bad-signature", "key-mismatch", "other-origin"])
def test_the_independent_verifier_checks_who_wrote_each_entry(parties, store, log_keys, variant):
    import subprocess
    import sys

    server, who, tmp = parties
    inc = new_incident(summary="x", risk_domain="supply_chain.integrity", severity="low",
                       affected=[AffectedModel("acme/ok")])
    with _client(server, tmp, "p") as c:
        c.publish(release("acme/ok"), who["acme"].key)
        c.publish(entries.incident_body(inc.to_osv()), who["institute"].key)
    verifier = Path(__file__).parent / "independent_verifier.py"
    vkey = log_keys.note_signer.verifier().vkey()

    def run(dest: Path) -> subprocess.CompletedProcess[str]:
        _mirror(server, dest)
        return subprocess.run([sys.executable, str(verifier), str(dest), "--log-key", vkey, "--entries"],
                              capture_output=True, text=True, timeout=120)

    honest = run(tmp / "honest")
    assert honest.returncode == 0 and honest.stdout.startswith("OK: 2 entries"), honest.stdout + honest.stderr
    body = entries.parse_body_bytes(entries.canonical(entries.incident_body(transition(inc, "withdrawn").to_osv())))
    store.append_batch([_forged(variant, who["institute"], body, b"")])
    forged = run(tmp / "forged")
    assert forged.returncode == 1 and "entry 2: its publisher did not sign it" in forged.stdout, forged.stdout
