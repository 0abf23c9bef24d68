"""Red team round 11 on the registry (docs/decisions.md), on SQLite and PostgreSQL, with its fixes.

D1  The server forgot a nonce after its window (the nonce rows expire and are purged), the client treated any
    (key, nonce) logged twice as a replay for the life of the log: one ordinary key reused a nonce 12 minutes
    later, the honest server admitted it, and every full-scan ``check`` refused the whole log for ever. The
    class rule: ONE replay rule on both sides. A signed request (key, timestamp, nonce) is admitted at most
    once (the clock window plus nonce rows kept past any clock that could still admit the timestamp), and a
    reader calls only that a replay; a nonce reused with a later timestamp is a new request the key's holder
    signed, which every reader accepts.
R1  The remembered checkpoints bound consistency, not freshness: an operator served its old prefix tree (size 1)
    to a client that had verified a witnessed size 2, and ``check`` said "current" (R1b: the reverse with
    --quorum). A log-signed checkpoint is never smaller than any remembered one; a witnessed one trailing a
    remembered log-signed tree needs a view of at least that tree; the seen-views file keeps each view's tree.
D2  Float-packed bodies forced the pure-Python RFC 8785 path on every reader (~120-250x per entry). Entry bodies
    must be plain (the C encoder's bytes are RFC 8785's), at admission (422) and when a client reads the log.
"""

from __future__ import annotations

import base64
import json
import os
import time

import httpx
import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import ORIGIN, LiveServer, pending_write, release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from tests.registry.test_redteam_round10 import _witness
from weightwarden.registry import auth, entries
from weightwarden.registry import store as store_module
from weightwarden.registry.client import RegistryClientError
from weightwarden.registry.freshness import LastSeen, RollbackError, Seen
from weightwarden.registry.incidents import AffectedModel, new_incident, transition
from weightwarden.registry.store import Appended, PendingWrite, Rejected, Store

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)


def _signed_at(pub, body: dict, timestamp: int, nonce: str) -> PendingWrite:
    """A write its key's holder signed at ``timestamp`` with ``nonce``, as the server hands it to the store
    (authenticate() at that time: the signature is the publisher's own)."""
    raw = entries.canonical(body)
    headers = pub.headers(raw, nonce=nonce, timestamp=timestamp)
    signed = auth.authenticate(headers, origin=ORIGIN, method="POST", path="/entries", body=raw,
                               lookup=lambda k: pub.publisher if k == pub.publisher.key_id else None, now=timestamp)
    return PendingWrite(entries.parse_body_bytes(raw), signed)


# --- D1: one replay rule ----------------------------------------------------------------------------------------


def test_a_nonce_reused_after_the_window_and_the_purge_is_accepted_by_every_reader(parties, store, log_keys,
                                                                                  monkeypatch):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "p") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
    nonce, t0 = "ab" * 16, int(time.time())
    (first,) = store.append_batch([_signed_at(who["evil"], release("evil/x"), t0, nonce)], now=t0)
    assert isinstance(first, Appended)
    log_key = log_keys.note_signer.verifier().vkey()
    scans = (("full", 20_000), ("index", 1))
    for name, scan in scans:
        with _client(server, tmp, f"old-{name}", log_key=log_key, full_scan_max=scan) as c:
            assert c.check(model, bundle=bundle).current
    # 12 minutes later (a restart, another worker): the sequencer's purge forgets the expired nonce row
    later = t0 + 2 * store.nonce_window_s + 120
    monkeypatch.setattr(store_module, "_NONCE_PURGE_EVERY", 1)
    (filler,) = store.append_batch([pending_write(who["meta"], release("meta/m"))], now=later)
    assert isinstance(filler, Appended)
    # the key's holder signs a new request with the same nonce and a fresh timestamp: the honest server admits it
    (second,) = store.append_batch([_signed_at(who["evil"], release("evil/y"), later, nonce)], now=later)
    assert isinstance(second, Appended), second
    # ... and so does every reader: full scan and line index, old state and fresh
    for name, scan in scans:
        for state in (f"old-{name}", f"fresh-{name}"):
            with _client(server, tmp, state, log_key=log_key, full_scan_max=scan) as c:
                result = c.check(model, bundle=bundle)
                assert result.current, (state, result.reasons)
            with _client(server, tmp, state, log_key=log_key, full_scan_max=scan) as c:
                assert c.check(model=None, bundle=bundle).current


@pytest.mark.parametrize("offset", ["past-edge", "now", "future-edge"])
def test_a_byte_identical_request_is_refused_while_any_clock_could_admit_its_timestamp(parties, store, monkeypatch,
                                                                                      offset):
    """The server's half of the rule: the nonce row outlives every moment at which authenticate() accepts the
    request's timestamp, even when the purging worker's clock runs a whole window ahead."""
    _, who, _ = parties
    w, t0 = store.nonce_window_s, int(time.time())
    ts = {"past-edge": t0 - w, "now": t0, "future-edge": t0 + w}[offset]
    write = _signed_at(who["evil"], release("evil/x"), ts, "cd" * 16)
    (first,) = store.append_batch([write], now=t0)
    assert isinstance(first, Appended)
    monkeypatch.setattr(store_module, "_NONCE_PURGE_EVERY", 1)
    store.append_batch([pending_write(who["meta"], release("meta/m"))], now=ts + 2 * w)  # a clock w ahead purges
    (again,) = store.append_batch([write], now=ts + w)  # the last moment its timestamp passes the window
    assert isinstance(again, Rejected) and again.status == 409, again


def test_the_same_signed_request_logged_twice_is_still_a_replay(parties, store, log_keys, monkeypatch):
    """What an operator without the key can do (append a byte-identical copy) stays misbehaviour."""
    import sqlalchemy as sa

    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "p") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
    store.append_batch([pending_write(who["evil"], EVIL_RELEASE)])
    write = _signed_at(who["evil"], _audit({"x": 1}), int(time.time()), "ef" * 16)
    (logged,) = store.append_batch([write])
    assert isinstance(logged, Appended), logged
    with store._writer.begin() as conn:  # the operator owns the database: it forgets the nonce
        conn.execute(sa.delete(store_module.nonces))
    monkeypatch.setattr(store_module._BatchIndex, "check", lambda self, body, size, publisher="": None)
    (copy,) = store.append_batch([write])
    assert isinstance(copy, Appended)
    with _client(server, tmp, "s", log_key=log_keys.note_signer.verifier().vkey()) as c, \
            pytest.raises(RegistryClientError, match="a replay") as err:
        c.check(model, bundle=bundle)  # a full scan reads every entry
    assert "timestamp" in str(err.value)


# --- R1: the memory binds freshness -------------------------------------------------------------------------------


def _rollback_setup(parties, store, log_keys):
    """acme/ok v1 at index 0, a confirmed critical incident at index 1; a witness and an old copy of the log
    (size 1) that the operator can serve instead, signed by the same log key."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "p") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
    old = Store.open(f"sqlite:///{tmp / 'old.db'}", log_keys.checkpoint_signer())
    for p in who.values():
        old.add_publisher(p.publisher)
    inc = transition(new_incident(summary="BACKDOOR in acme/ok v1", risk_domain="supply_chain.integrity",
                                  severity="critical", affected=[AffectedModel("acme/ok")]), "confirmed")
    with _client(server, tmp, "p") as c:
        c.publish(entries.incident_body(inc.to_osv()), who["institute"].key)
    return server, who, tmp, model, bundle, old


def test_a_log_signed_tree_older_than_a_witnessed_one_is_refused(parties, store, log_keys, monkeypatch):
    server, who, tmp, model, bundle, old = _rollback_setup(parties, store, log_keys)
    _copy_prefix_from_store(store, old)
    vkeys, cosign = _witness(store, log_keys, tmp)
    cosign()  # witnessed at size 2
    log_key = log_keys.note_signer.verifier().vkey()
    with _client(server, tmp, "s", log_key=log_key, witnesses=vkeys, quorum=1) as c:
        result = c.check(model, bundle=bundle)
        assert not result.current and result.tree_size == 2  # the open incident
    with LiveServer(old, log_keys) as stale, _client(stale, tmp, "s", log_key=log_key) as c:
        with pytest.raises(RegistryClientError, match="went backwards") as err:
            c.check(model, bundle=bundle)
        text = str(err.value)
        assert "log-signed checkpoint has 1 entries" in text and "witnessed checkpoint of size 2" in text, text
        assert "'checkpoint_witnessed'" in text
    old.close()


def test_a_witnessed_tree_trailing_a_remembered_log_signed_one_is_not_current(parties, store, log_keys, monkeypatch):
    server, who, tmp, model, bundle, old = _rollback_setup(parties, store, log_keys)
    log_key = log_keys.note_signer.verifier().vkey()
    with _client(server, tmp, "s", log_key=log_key) as c:
        result = c.check(model, bundle=bundle)
        assert not result.current and result.tree_size == 2  # verified log-signed size 2 with the incident
    # the operator keeps its witness at size 1 (it cosigns the old copy's checkpoint on request)
    _copy_prefix_from_store(store, old)
    vkeys, cosign = _witness(old, log_keys, tmp)
    cosign()
    # the operator's front serves the old copy, but consistency proofs from the real log (they are genuine)
    monkeypatch.setattr(old, "consistency_proof", store.consistency_proof)
    with LiveServer(old, log_keys) as stale, \
            _client(stale, tmp, "s", log_key=log_key, witnesses=vkeys, quorum=1) as c:
        result = c.check(model, bundle=bundle)
        assert not result.current, result
        # the view of the old tree: its version is the operator's to bump, its tree is not
        assert any("made at a log tree of 1 entries, older than the tree of 2" in r for r in result.reasons), \
            result.reasons
    for seen in (tmp / "s").glob("seen-*.json"):
        seen.unlink()  # the views seen are per line: a line this client never checked has none
    with LiveServer(old, log_keys) as stale, \
            _client(stale, tmp, "s", log_key=log_key, witnesses=vkeys, quorum=1) as c:
        result = c.check(model, bundle=bundle)
        assert not result.current, result
        assert any("already verified a log-signed tree of 2 entries" in r for r in result.reasons), result.reasons
    old.close()


def _copy_prefix_from_store(store: Store, old: Store) -> None:
    """The operator's old copy of its database: the first entry, byte for byte (signed request and all)."""
    leaf = store.entry(0)
    logged = entries.parse_logged(leaf)
    req, pub = logged["request"], logged["publisher"]
    publisher = auth.Publisher(pub["key_id"], base64.b64decode(pub["public_key"]), ("acme/*",), (), "acme")
    body = entries.parse_body_bytes(entries.canonical(logged["body"]))
    (done,) = old.append_batch([PendingWrite(body, auth.SignedRequest(publisher, req["method"], req["path"],
                                                                      req["timestamp"], req["nonce"],
                                                                      base64.b64decode(req["signature"])))])
    assert isinstance(done, Appended), done
    assert old.size() == 1


def test_the_seen_views_file_refuses_a_view_of_a_smaller_tree(tmp_path):
    seen = LastSeen(tmp_path / "seen.json")
    seen.remember("acme/ok", Seen(3, "d1", 2))
    assert seen.get("acme/ok") == Seen(3, "d1", 2)
    with pytest.raises(RollbackError, match="tree of 2 entries"):
        seen.remember("acme/ok", Seen(1000, "d0", 1))  # the operator's re-signed old view, version bumped
    # a file from before round 11 (no tree) still loads, and then learns the tree
    (tmp_path / "old.json").write_text(json.dumps({"schema": "weightwarden.freshness-seen/v1",
                                                   "lines": {"acme/ok": {"version": 3, "digest": "d1"}}}))
    before = LastSeen(tmp_path / "old.json")
    assert before.get("acme/ok") == Seen(3, "d1", None)
    before.remember("acme/ok", Seen(4, "d1", 5))
    assert before.get("acme/ok").tree_size == 5


# --- D2: plain bodies only --------------------------------------------------------------------------------------


EVIL_RELEASE = release("evil/x")


def _audit(material) -> dict:
    """An audit of evil/x's release (``EVIL_RELEASE``, logged first) carrying ``material``."""
    schema = next(s for s, k in entries.KIND_BY_SCHEMA.items() if k == "audit")
    return {"schema": schema, "model": "evil/x", "release": EVIL_RELEASE["bundle"],
            "attestation": {"mediaType": "m", "verificationMaterial": material,
                            "dsseEnvelope": {"payload": "eA==", "payloadType": "t", "signatures": [{"sig": "eA=="}]}}}


NOT_PLAIN = [("small-float", {"x": [1e-5] * 50}), ("big-float", {"x": 1e20}), ("non-ascii-key", {"é": 1}),
             ("big-int", {"x": 2**60})]


@pytest.mark.parametrize(("name", "material"), NOT_PLAIN, ids=[n for n, _ in NOT_PLAIN])
def test_a_body_off_the_fast_canonical_path_is_refused_at_admission(parties, name, material):
    import rfc8785

    server, who, _ = parties
    try:
        raw = rfc8785.dumps(_audit(material))
    except rfc8785.CanonicalizationError:
        pytest.skip("rfc8785 itself refuses it")
    response = httpx.post(server.url + "/entries", content=raw,
                          headers={**who["evil"].headers(raw), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "not plain JSON" in response.text
    with pytest.raises(entries.EntryError, match="not plain JSON"):
        entries.plain_form(_audit(material))


def test_plain_floats_and_text_stay_on_the_fast_path_with_rfc8785_bytes(parties):
    import rfc8785

    server, who, tmp = parties
    values = [0.5, 0.1 + 0.2, 1e-4, 123456789012345.6, -2.75, 9999999999999998.5 / 3]
    body = _audit({"x": values * 100, "t": "naïve ☃ \u2028 \x7f \x01 \"q\" \\", "n": [1, -3, 2**53 - 1]})
    assert entries._plain(body)
    assert entries.canonical_plain(body) == rfc8785.dumps(body)
    with _client(server, tmp, "p") as c:
        c.publish(EVIL_RELEASE, who["evil"].key)
        assert c.publish(body, who["evil"].key).index == 1
    # the C-level pass over a long list of one kind misses nothing min/max could step over
    for odd in (float("nan"), float("inf"), 1.0, 1e-5):
        assert not entries._plain([0.5] * 20 + [odd]) and not entries._plain([odd] + [0.5] * 20)
    assert not entries._plain([1] * 20 + [2**53]) and entries._plain([1] * 20 + [2**53 - 1])
    # an integral float is sent as the integer RFC 8785 writes
    assert entries.plain_form({"a": [0.0, 2.0]}) == {"a": [0, 2]}


def test_a_logged_body_off_the_fast_path_is_refused_by_the_client(parties, store, log_keys):
    """A hostile operator (or a registry from before round 11) logged a body signed by its publisher but not
    plain: the client refuses the log instead of taking the slow path for each entry on every run."""
    import rfc8785

    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "p") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        c.publish(EVIL_RELEASE, who["evil"].key)
    obj = _audit({"x": [1e-5] * 10})
    raw = rfc8785.dumps(obj)
    body = entries.Body(kind="audit", models=("evil/x",), data=json.loads(raw), raw=raw)
    now, nonce = int(time.time()), os.urandom(16).hex()
    sig = who["evil"].key.sign(auth.request_message(ORIGIN, "POST", "/entries", now, nonce, raw))
    (done,) = store.append_batch([PendingWrite(body, auth.SignedRequest(who["evil"].publisher, "POST", "/entries",
                                                                        now, nonce, sig))])
    assert isinstance(done, Appended)
    with _client(server, tmp, "s", log_key=log_keys.note_signer.verifier().vkey()) as c, \
            pytest.raises(RegistryClientError, match="not plain JSON"):
        c.check(model, bundle=bundle)
