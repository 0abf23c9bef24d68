"""Red team round 2 on the registry (docs/decisions.md): each attack that beat `check` after round 1, against a
real server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL, with the fix that closes its class.

S1     a stale signed view binds only a prefix of the log: the view must describe the whole verified tree.
S2/5/6/7  the open incidents a verdict depends on are complete and signature-bound (transitive lineage, digest
       and weights-root matches), and the client walks ancestors transitively itself.
S3     `check --bundle` reads the bundle: an entry naming its digest with other files is not its release.
S4     replays of a key's logged requests never take its rate tokens.
S8     the publisher-signed expiry counts in `check` as in `verify`.
Minor  typed JSON answers; client memory per log key (not URL) under a lock; incident ids scoped by owner;
       a minimum shard size.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import ORIGIN, LiveServer, make_publisher
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import Router, _client, _digest
from weightwarden.core.errors import InputError
from weightwarden.integrity.release import now_rfc3339, sign_model
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.statement import Freshness
from weightwarden.registry import entries
from weightwarden.registry.client import RegistryClient, RegistryClientError, release_body_from_bundle
from weightwarden.registry.incidents import AffectedModel, new_incident
from weightwarden.registry.logkeys import load_or_create
from weightwarden.registry.server import ServerSettings
from weightwarden.registry.store import Store

parties = round1.parties  # the same real server and four publishers as round 1


def _incident(*models: str, **kw: Any) -> Any:
    affected = [AffectedModel(m, **kw) for m in models]
    return new_incident(summary="backdoor", risk_domain="supply_chain.integrity", severity="critical",
                        affected=affected)


def _strip_models(*hidden: int) -> Any:
    """A man in the middle that cleans every unsigned /models answer of the given entries and incidents."""

    def rewrite(path: str, body: bytes) -> bytes:
        if not path.startswith("/models/"):
            return body
        view = json.loads(body)
        view["entries"] = [i for i in view.get("entries", []) if i not in hidden]
        if path.endswith("/entries"):  # the paged line index the index mode reads (round 15)
            return json.dumps(view).encode()
        for r in view["releases"]:
            r.update(revoked=None, status="current")
        if view["releases"]:
            view["latest"] = view["releases"][-1]["bundle"]
        view["incidents"] = []
        return json.dumps(view).encode()

    return rewrite


# ---------------------------------------------------------------------------------------------------------
# S1: the signed view binds the whole verified tree


def test_a_replayed_older_view_cannot_hide_a_later_revocation(parties):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        captured = httpx.get(server.url + "/current/acme/smol").content  # valid for an hour, size 1
        revoked = c.publish(entries.revocation_body(model="acme/smol", release=_digest(bundle), reason="backdoor"),
                            who["acme"].key).index

    def stale(path: str, body: bytes) -> bytes:
        return captured if path == "/current/acme/smol" else _strip_models(revoked)(path, body)

    with RegistryClient("http://r.test", state_dir=tmp / "victim", full_scan_max=0,
                        transport=Router([("/", server.url)], stale)) as c:
        result = c.check(model, bundle=bundle)
    assert not result.current, result.reasons
    assert any("replayed or stale view" in r for r in result.reasons), result.reasons


# ---------------------------------------------------------------------------------------------------------
# S2, S5, S6, S7: incidents through lineage and digests are complete and signature-bound


@pytest.mark.parametrize("full_scan_max", [20_000, 0])
def test_an_incident_on_a_grandparent_reaches_the_grandchild(parties, full_scan_max):
    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(1000))
    child, child_bundle = _signed_model(tmp / "child", 1, os.urandom(1000))
    incident = _incident("root/x")
    with _client(server, tmp, "publisher") as c:
        c.publish_release(base_bundle, model="meta/base", key=who["meta"].key, bases=["root/x"])
        c.publish_release(child_bundle, model="acme/child", key=who["acme"].key, bases=["meta/base"])
        assert c.check(child, bundle=child_bundle).current
        c.publish(entries.incident_body(incident.to_osv()), who["institute"].key)
    with _client(server, tmp, "victim", full_scan_max=full_scan_max) as c:
        base_result = c.check(base, bundle=base_bundle)
        result = c.check(child, bundle=child_bundle)
    assert not base_result.current
    assert not result.current and any(incident.id in r for r in result.reasons), result.reasons
    signed = json.loads(httpx.get(server.url + "/current/acme/child").content)
    listed = signed["signed"]["targets"]["current/acme/child"]["custom"]["affecting_incidents"]
    assert [a["id"] for a in listed] == [incident.id]


def test_a_stripped_base_line_cannot_hide_its_incident_above_the_full_scan_limit(parties):
    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(1000))
    child, child_bundle = _signed_model(tmp / "child", 1, os.urandom(1000))
    incident = _incident("meta/base")
    with _client(server, tmp, "publisher") as c:
        c.publish_release(base_bundle, model="meta/base", key=who["meta"].key)
        c.publish_release(child_bundle, model="acme/child", key=who["acme"].key, bases=["meta/base"])
        hidden = c.publish(entries.incident_body(incident.to_osv()), who["institute"].key).index
    with RegistryClient("http://r.test", state_dir=tmp / "victim", full_scan_max=0,
                        transport=Router([("/", server.url)], _strip_models(hidden))) as c:
        result = c.check(child, bundle=child_bundle)
    assert not result.current, result.reasons
    assert any(incident.id in r and "signed view" in r for r in result.reasons), result.reasons


def test_files_re_released_under_another_line_keep_their_digest_incident(parties):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    real = release_body_from_bundle(bundle, model="acme/smol", weights_root="ab" * 32)
    digests = {f["name"]: "sha256:" + f["digest"] for f in real["files"]}
    incident = new_incident(summary="poisoned weights", risk_domain="supply_chain.integrity", severity="critical",
                            affected=[AffectedModel("acme/smol", file_digests=digests,
                                                    weights_roots=("sha256:" + "ab" * 32,))])
    launder = dict(real, model="evil/copy", bundle="sha256:" + hashlib.sha256(b"evil's own bundle").hexdigest())
    with _client(server, tmp, "publisher") as c:
        c.publish(real, who["acme"].key)
        c.publish(entries.incident_body(incident.to_osv()), who["institute"].key)
        c.publish(launder, who["evil"].key)
    for kw in ({}, {"full_scan_max": 0}):
        with _client(server, tmp, f"victim{kw}", **kw) as c:
            result = c.check(model, model="evil/copy")
        assert not result.current and any(incident.id in r for r in result.reasons), (kw, result.reasons)


def test_a_base_incident_after_the_witnessed_checkpoint_is_bound_by_the_view(parties, store, log_keys):
    from weightwarden.registry.witness import CosignatureSigner, Witness
    from weightwarden.registry.witnessing import request_cosignature

    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(1000))
    child, child_bundle = _signed_model(tmp / "child", 1, os.urandom(1000))
    signer = CosignatureSigner.generate("witness.example")
    witness = Witness(signer, {ORIGIN: log_keys.note_signer.verifier()}, tmp / "w.json")
    with _client(server, tmp, "publisher") as c:
        c.publish_release(base_bundle, model="meta/base", key=who["meta"].key)
        c.publish_release(child_bundle, model="acme/child", key=who["acme"].key, bases=["meta/base"])
    request_cosignature(store, witness.add_checkpoint, signer.verifier())
    incident = _incident("meta/base")
    with _client(server, tmp, "publisher") as c:
        c.publish(entries.incident_body(incident.to_osv()), who["institute"].key)  # not witnessed yet
    with _client(server, tmp, "victim", witnesses=[signer.verifier().vkey()], quorum=1) as c:
        result = c.check(child, bundle=child_bundle)
    assert not result.current and any(incident.id in r for r in result.reasons), result.reasons


# ---------------------------------------------------------------------------------------------------------
# S3: check --bundle reads the bundle


def test_an_entry_naming_a_bundle_with_other_files_is_not_its_release(parties):
    server, who, tmp = parties
    model, acme_sig = _signed_model(tmp / "m", 1, os.urandom(2000))
    tampered = tmp / "tampered"
    shutil.copytree(model, tampered)
    (tampered / "weights.bin").write_bytes(b"BACKDOORED" + os.urandom(100))
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    sign_model(tampered, KeySigner(key), freshness=Freshness(1, now_rfc3339()), signature_path=tmp / "evil.sig")
    body = release_body_from_bundle(tmp / "evil.sig", model="evil/copy")
    body["bundle"] = _digest(acme_sig)  # evil's tampered files under acme's bundle digest
    with _client(server, tmp) as c:
        c.publish(body, who["evil"].key)
        for kw in ({}, {"full_scan_max": 0}):
            with _client(server, tmp, f"victim{kw}", **kw) as v:
                result = v.check(tampered, bundle=acme_sig)
            assert not result.current, (kw, result.reasons)
            assert any("differ from the bundle's signed statement" in r for r in result.reasons), result.reasons
        c.publish_release(acme_sig, model="acme/smol", key=who["acme"].key)
        honest = c.check(model, bundle=acme_sig, model="acme/smol")
        assert honest.current, honest.reasons
        assert not c.check(tampered, bundle=acme_sig, model="acme/smol").current  # files must match the bundle


def test_a_bundle_whose_signature_does_not_verify_is_refused(parties):
    """A bundle carrying its public key is verified with the integrity package's verifier before its
    statement is believed: a logged release of a bundle with a broken signature is not current."""
    server, who, tmp = parties
    folder = tmp / "m"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(os.urandom(1000))
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    bundle = tmp / "m.sig"
    sign_model(folder, KeySigner(pem), freshness=Freshness(1, now_rfc3339()), signature_path=bundle)
    doc = json.loads(bundle.read_bytes())
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    doc["verificationMaterial"]["publicKey"]["rawBytes"] = base64.b64encode(der).decode()
    good = tmp / "good.sig"
    good.write_text(json.dumps(doc))
    sig = base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"])
    doc["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(sig[:-1] + bytes([sig[-1] ^ 1])).decode()
    forged = tmp / "forged.sig"
    forged.write_text(json.dumps(doc))
    with _client(server, tmp) as c:
        c.publish_release(good, model="acme/smol", key=who["acme"].key)
        c.publish_release(forged, model="evil/copy", key=who["evil"].key)
        assert c.check(folder, bundle=good).current
        with pytest.raises(InputError, match="signature does not verify"):
            c.check(folder, bundle=forged)


# ---------------------------------------------------------------------------------------------------------
# S4: replays never take rate tokens


def test_replays_of_a_logged_request_do_not_drain_the_keys_write_rate(store, log_keys, tmp_path):
    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    from tests.registry.service import release

    with LiveServer(store, log_keys, ServerSettings(write_rate=0.0001, write_burst=3)) as server, \
            RegistryClient(server.url, state_dir=tmp_path / "c") as c:
        index = c.publish(release("acme/smol", 1), acme.key).index
        logged = json.loads(base64.b64decode(httpx.get(f"{server.url}/entries/{index}").json()["data"]))
        req = logged["request"]
        headers = {"X-WW-Key-Id": logged["publisher"]["key_id"], "X-WW-Timestamp": str(req["timestamp"]),
                   "X-WW-Nonce": req["nonce"], "X-WW-Signature": req["signature"]}
        item = {"headers": headers, "body": base64.b64encode(entries.canonical(logged["body"])).decode()}
        answer = httpx.post(server.url + "/entries/batch", json={"requests": [item] * 50}, timeout=60).json()
        assert {r["status"] for r in answer["results"]} == {409}
        raw = entries.canonical(logged["body"])
        for _ in range(5):
            single = httpx.post(server.url + "/entries", content=raw, headers={**headers,
                                                                               "Content-Type": "application/json"})
            assert single.status_code == 409
        # the key's two remaining tokens are still there
        assert c.publish(release("acme/smol", 2), acme.key).index == index + 1
        assert c.publish(release("acme/smol", 3), acme.key).index == index + 2


def test_a_replay_this_process_did_not_see_gets_its_token_back(store, log_keys, tmp_path):
    """The nonce was recorded by another worker (here: written straight to the store): the sequencer refuses
    the replay and the token is refunded."""
    from tests.registry.service import release

    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    body = release("acme/smol", 1)
    raw = entries.canonical(body)
    headers = acme.headers(raw)
    from weightwarden.registry import auth

    signed = auth.authenticate(headers, origin=ORIGIN, method="POST", path="/entries", body=raw,
                               lookup=lambda k: acme.publisher)
    from weightwarden.registry.store import PendingWrite

    store.append_batch([PendingWrite(entries.parse_body_bytes(raw), signed)])
    with LiveServer(store, log_keys, ServerSettings(write_rate=0.0001, write_burst=1)) as server:
        replay = httpx.post(server.url + "/entries", content=raw, headers={**headers, "Content-Type": "application/json"})
        assert replay.status_code == 409
        with RegistryClient(server.url, state_dir=tmp_path / "c") as c:
            assert c.publish(release("acme/smol", 2), acme.key).index == 1


# ---------------------------------------------------------------------------------------------------------
# S8: the signed expiry counts


def test_a_release_past_its_signed_expiry_is_not_current(parties):
    server, who, tmp = parties
    folder = tmp / "m"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(os.urandom(1000))
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    bundle = tmp / "m.sig"
    sign_model(folder, KeySigner(key), signature_path=bundle,
               freshness=Freshness(1, "2020-01-01T00:00:00Z", expires="2020-02-01T00:00:00Z"))
    with _client(server, tmp) as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        result = c.check(folder, bundle=bundle)
    assert not result.current and any("expired" in r for r in result.reasons), result.reasons


# ---------------------------------------------------------------------------------------------------------
# Minor


@pytest.mark.parametrize("path,answer", [
    ("/log", b"[" * 100_000 + b"]" * 100_000),
    ("/proof/consistency", b"[]"),
    ("/entries/", b'["data"]'),
    ("/proof/inclusion", b'"proof"'),
])
def test_hostile_json_answers_are_clear_client_errors(parties, path, answer):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        c.check(model, bundle=bundle)  # remembers the checkpoint of size 1
    with _client(server, tmp, "other") as c:
        c.publish_release(_signed_model(tmp / "m2", 2, b"2")[1], model="acme/smol", key=who["acme"].key)

    def hostile(p: str, body: bytes) -> bytes:
        return answer if p.startswith(path) else body

    with RegistryClient("http://r.test", state_dir=tmp / "publisher", full_scan_max=0,
                        transport=Router([("/", server.url)], hostile)) as c, \
            pytest.raises(RegistryClientError, match=path.rstrip("/")):
        c.check(model, bundle=bundle)


def test_the_remembered_checkpoint_is_per_log_not_per_url(parties, log_keys):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        old_note = httpx.get(server.url + "/checkpoint").content
        old_view = httpx.get(server.url + "/current/acme/smol").content
        c.publish(entries.revocation_body(model="acme/smol", release=_digest(bundle), reason="backdoor"),
                  who["acme"].key)
    with RegistryClient(server.url, state_dir=tmp / "victim", log_key=log_keys.vkey()) as c:
        assert not c.check(model, bundle=bundle).current  # verifies size 2

    def frozen(path: str, body: bytes) -> bytes:
        return {"/checkpoint": old_note, "/current/acme/smol": old_view}.get(path, body)

    with RegistryClient("http://mirror.test", state_dir=tmp / "victim", log_key=log_keys.vkey(),
                        transport=Router([("/", server.url)], frozen)) as c, \
            pytest.raises(RegistryClientError, match="went backwards"):
        c.check(model, bundle=bundle)


def test_concurrent_state_saves_never_roll_the_checkpoint_back(parties):
    server, who, tmp = parties
    with _client(server, tmp, "publisher") as c:
        c.publish_release(_signed_model(tmp / "m", 1, b"1")[1], model="acme/smol", key=who["acme"].key)
    slow = _client(server, tmp, "shared")  # loads the state now (empty), saves late
    with _client(server, tmp, "shared") as fast:
        fast.verified_checkpoint()
        with _client(server, tmp, "publisher") as c:
            c.publish_release(_signed_model(tmp / "m2", 2, b"2")[1], model="acme/smol", key=who["acme"].key)
        fast.verified_checkpoint()  # remembers size 2
    with slow:
        slow.state.data.setdefault("keys", {})
        slow.state.save()  # a stale copy (nothing remembered) written after
    with _client(server, tmp, "shared") as again:
        vkey = again.log_verifier().vkey()
        assert again.state.data["keys"][vkey]["checkpoint"].split("\n")[1] == "2"


def test_an_incident_id_logged_first_by_someone_else_does_not_lock_out_its_owner(parties):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    real = _incident("acme/smol")
    squat = new_incident(summary="nothing", risk_domain="content.harm", severity="low",
                         affected=[AffectedModel("evil/x")], incident_id=real.id)
    with _client(server, tmp) as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        c.publish(entries.incident_body(squat.to_osv()), who["evil"].key)
        c.publish(entries.incident_body(real.to_osv()), who["institute"].key)  # round 1: 403
        result = c.check(model, bundle=bundle)
    assert not result.current and any(real.id in r for r in result.reasons), result.reasons


def test_a_release_may_not_declare_tiny_shards():
    from tests.registry.service import release

    with pytest.raises(entries.EntryError, match="shard_size"):
        release(serialization={"method": "shards", "hash_type": "sha256", "shard_size": 1})
    release(serialization={"method": "shards", "hash_type": "sha256", "shard_size": entries.MIN_SHARD_SIZE})


def test_frozen_mirror_copy_with_a_captured_view_is_caught_by_state(tmp_path):
    """PoC poc_freeze_ttl: a mirror copy of the database plus a captured view; a client that verified the
    live log before refuses the older tree (the 1 h view lifetime stays a documented limit for new clients)."""
    keys = load_or_create(tmp_path / "keys", ORIGIN)
    live_store = Store.open(str(tmp_path / "live.db"), keys.checkpoint_signer())
    acme = make_publisher(("acme/*",))
    live_store.add_publisher(acme.publisher)
    model, bundle = _signed_model(tmp_path / "m", 1, os.urandom(1000))
    with LiveServer(live_store, keys) as live:
        with RegistryClient(live.url, state_dir=tmp_path / "publisher") as c:
            c.publish_release(bundle, model="acme/smol", key=acme.key)
        src, dst = sqlite3.connect(tmp_path / "live.db"), sqlite3.connect(tmp_path / "snapshot.db")
        src.backup(dst)
        src.close()
        dst.close()
        captured = httpx.get(live.url + "/current/acme/smol").content
        with RegistryClient(live.url, state_dir=tmp_path / "publisher") as c:
            c.publish(entries.revocation_body(model="acme/smol", release=_digest(bundle), reason="x"), acme.key)
        with RegistryClient(live.url, state_dir=tmp_path / "victim", log_key=keys.vkey()) as c:
            assert not c.check(model, bundle=bundle).current
        frozen_store = Store.open(str(tmp_path / "snapshot.db"), keys.checkpoint_signer())
        with LiveServer(frozen_store, keys) as frozen:
            mirror = Router([("/", frozen.url)], lambda p, b: captured if p == "/current/acme/smol" else b)
            with RegistryClient("http://mirror.test", state_dir=tmp_path / "victim", log_key=keys.vkey(),
                                transport=mirror) as c, pytest.raises(RegistryClientError, match="went backwards"):
                c.check(model, bundle=bundle)
        frozen_store.close()
    live_store.close()

