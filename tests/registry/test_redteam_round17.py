"""Red team round 17 on the registry (docs/decisions.md), live server, on SQLite and PostgreSQL.

Each finding made ``check`` say CURRENT, mode delta, verified, exit 0 for a client that had scanned the log fully
before, while the client's own full scan of the same log said not current:

F1  (network attacker, no keys) the releases a delta weighed came from the unsigned ``/releases`` lookup: a proxy
    dropping the revoked v1 (same files as v2) left only v2 to weigh. Now they come from the line's proven entries.
F2  (operator) the lines a release's incident walk reached were cut to 64 in memory and 63 were read, silently: an
    incident on the 65th was not seen. Now a walk past the bound is remembered as incomplete: unverified (exit 3).
F3  (operator) a linked line's release logged since the scan carries a file digest named by an incident logged
    before it in a line the client never read. Now the delta compares the release's incident walk with the one it
    remembered at its last full judgement: changed, the answer is unverified (exit 3).
Also (same class as F1): without ``--model``, a proxy dropping another line's claim on the same files made the delta
judge one line where a full scan says "ambiguous"; now that needs a judgement without ``--model`` that found every
match in one line, else the answer is unverified.

Every case is compared with the client's own full scan of the same log (fresh state, full-scan limit raised).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import Router, _client
from tests.registry.test_redteam_round15 import _audit
from tests.registry.test_redteam_round16 import _cli_check, _operator_hides
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry.client import RegistryClient
from weightwarden.registry.incidents import AffectedModel, new_incident

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)
ROOT = "ab" * 32
BIG = 10**6  # the reference full scan's limit


def _pad(c, who) -> None:
    """Real, signed entries under another key: the log grows past the (small) full-scan limit of the delta client."""
    padding = release("evil/pad", seed=int.from_bytes(os.urandom(4), "big"))
    c.publish(padding, who["evil"].key)
    for n in range(3):
        c.publish(_audit("evil/pad", padding, n), who["evil"].key)


def _full_scan(server, tmp, name: str, *args, **kw):
    """The truth: this client's own full scan of the same log, from a fresh state."""
    with _client(server, tmp, name, full_scan_max=BIG) as c:
        return c.check(*args, **kw)


def _dropping(server, indexes: set[int]) -> Router:
    """A keyless proxy: everything byte for byte, except the unsigned lookup ``/releases``, which drops these."""
    def rewrite(path: str, body: bytes) -> bytes:
        if path != "/releases":
            return body
        answer = json.loads(body)
        answer["releases"] = [r for r in answer.get("releases", []) if r.get("index") not in indexes]
        return json.dumps(answer).encode()

    return Router([("/", server.url)], rewrite)


def _resign(folder, version: int):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from weightwarden.integrity.release import now_rfc3339, sign_model
    from weightwarden.integrity.signing import KeySigner
    from weightwarden.integrity.statement import Freshness

    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    bundle = folder.parent / f"{folder.name}-v{version}.sig"
    sign_model(folder, KeySigner(key), freshness=Freshness(version, now_rfc3339()), signature_path=bundle)
    return bundle


def _incident(line: str, **kw):
    return new_incident(summary="CANARY backdoor", risk_domain="supply_chain.integrity", severity="critical",
                        affected=[AffectedModel(line, **kw)])


def test_f1_a_lookup_that_omits_the_revoked_match_does_not_decide_what_the_delta_weighs(parties, store,
                                                                                       monkeypatch):
    server, who, tmp = parties
    model, b1 = _signed_model(tmp / "ok", 1, os.urandom(300))
    b2 = _resign(model, 2)  # v2: the same files, signed again (another bundle)
    with _client(server, tmp, "pub") as c:
        v1 = c.publish_release(b1, model="acme/ok", key=who["acme"].key).index
        c.publish_release(b2, model="acme/ok", key=who["acme"].key)
        digest = "sha256:" + hashlib.sha256(b1.read_bytes()).hexdigest()
        c.publish(entries.revocation_body(model="acme/ok", release=digest, reason="CANARY: weights poisoned"),
                  who["acme"].key)
    with _client(server, tmp, "a") as c:
        first = c.check(model, model="acme/ok")
    assert not first.current and first.mode == "full", first.reasons
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
    shutil.copytree(tmp / "a", tmp / "a_nomodel")
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any("REVOKED" in r for r in truth.reasons), truth.reasons
    with RegistryClient("http://r.test", state_dir=tmp / "a", full_scan_max=1,
                        transport=_dropping(server, {v1})) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current and result.mode == "delta" and result.verified, (result.mode, result.reasons)
    assert any("REVOKED" in r for r in result.reasons), result.reasons
    # Without --model the lookup names the line (v2 only); the line's proven releases are weighed all the same.
    with RegistryClient("http://r.test", state_dir=tmp / "a_nomodel", full_scan_max=1,
                        transport=_dropping(server, {v1})) as c:
        result = c.check(model)
    assert not result.current and any("REVOKED" in r for r in result.reasons), (result.mode, result.reasons)


def test_f1_without_model_a_dropped_claim_of_another_line_is_not_a_verified_pass(parties, store, monkeypatch):
    """evil/squat claims acme's files before the client's scan with --model acme/ok. Without --model a full scan
    says ambiguous; a proxy drops the squatter from the lookup: the delta cannot exclude it (exit 3, never 0). A
    claim logged since the scan is seen by the delta itself: ambiguous, as the full scan says."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        squat = c.publish_release(bundle, model="evil/squat", key=who["evil"].key).index
    with _client(server, tmp, "a") as c:
        assert c.check(model, model="acme/ok").current
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
    truth = _full_scan(server, tmp, "ref", model)
    assert not truth.current and "ambiguous" in truth.reasons[0], truth.reasons
    with RegistryClient("http://r.test", state_dir=tmp / "a", full_scan_max=1,
                        transport=_dropping(server, {squat})) as c:
        result = c.check(model)
    assert not result.verified, (result.mode, result.current, result.reasons, result.notes)
    assert any("without --model" in n for n in result.notes), result.notes


def test_f1_without_model_a_claim_since_the_scan_is_ambiguous_in_the_delta(parties, store, monkeypatch):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
    with _client(server, tmp, "a") as c:
        assert c.check(model).current  # without --model: every match was acme/ok's
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
    shutil.copytree(tmp / "a", tmp / "a_later")
    with _client(server, tmp, "a", full_scan_max=1) as c:  # nothing else claims it: a verified delta pass
        result = c.check(model)
    assert result.current and result.mode == "delta" and result.verified, (result.mode, result.notes)
    with _client(server, tmp, "pub") as c:
        squat = c.publish_release(bundle, model="evil/squat", key=who["evil"].key).index
    assert not _full_scan(server, tmp, "ref", model).current
    with RegistryClient("http://r.test", state_dir=tmp / "a_later", full_scan_max=1,
                        transport=_dropping(server, {squat})) as c:
        result = c.check(model)
    assert not result.current and result.mode == "delta" and "ambiguous" in result.reasons[0], result.reasons


def test_f2_a_walk_past_the_remembered_lines_is_never_a_verified_delta(parties, store, monkeypatch):
    """acme/ok v1 shares its weights root with 65 of acme's lines; the full check remembers it cannot hold them
    all. Since, acme files an open incident on the last one and the operator leaves it out of its signed list: the
    full scan says not current; the delta may not say a verified current (exit 3)."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    lines = [f"acme/a{n:02d}" for n in range(client_module.MAX_LINEAGE_LINES)] + ["acme/zz-gguf"]
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, weights_root=ROOT)
        for m in lines:
            c.publish(release(m, weights_root=ROOT), who["acme"].key)
    with _client(server, tmp, "a") as c:
        first = c.check(model, model="acme/ok")
        facts = c._key_state(c.log_verifier())["facts"]["acme/ok"]
    assert first.current and first.mode == "full", first.reasons
    assert set(facts["walk"].values()) == {client_module.INCOMPLETE_WALK}, facts.get("walk")
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
        c.publish(entries.incident_body(_incident("acme/zz-gguf").to_osv()), who["acme"].key)
    _operator_hides(monkeypatch, store, set())
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any("acme/zz-gguf" in r for r in truth.reasons), truth.reasons
    shutil.copytree(tmp / "a", tmp / "a_cli")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.verified and result.mode == "index", (result.mode, result.current, result.reasons)
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc != 0, out


def test_f3_a_linked_release_since_the_scan_matching_an_old_incident_by_digest_is_not_verified(parties, store,
                                                                                             monkeypatch):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    side2 = release("acme/side", version=2, weights_root=ROOT)
    d2 = side2["files"][0]["digest"]
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, weights_root=ROOT)
        c.publish(release("acme/side", weights_root=ROOT), who["acme"].key)
        c.publish(entries.incident_body(_incident("acme/advisories", file_digests={"weights.bin": d2}).to_osv()),
                  who["acme"].key)
    with _client(server, tmp, "a") as c:
        assert c.check(model, model="acme/ok").current
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
    shutil.copytree(tmp / "a", tmp / "a_before")
    with _client(server, tmp, "a_before", full_scan_max=1) as c:  # nothing changed in the walk: verified
        before = c.check(model, model="acme/ok")
    assert before.current and before.mode == "delta" and before.verified, (before.mode, before.notes)
    with _client(server, tmp, "pub") as c:
        c.publish(side2, who["acme"].key)
    _operator_hides(monkeypatch, store, set())
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any("acme/side" in r for r in truth.reasons), truth.reasons
    shutil.copytree(tmp / "a", tmp / "a_cli")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.verified and result.mode == "index", (result.mode, result.current, result.reasons)
    assert any("incident walk" in n for n in result.notes), result.notes
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc == 3, out


def test_merge_takes_the_walk_of_the_larger_mark_and_fails_closed_on_a_conflict():
    def state(line: dict) -> dict:
        return {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"facts": {"a/b": line}}}}

    mine = state({"checked": {"sha256:1": 9, "sha256:2": 4}, "walk": {"sha256:1": "w9", "sha256:2": "x"}})
    theirs = state({"checked": {"sha256:1": 5, "sha256:2": 4}, "walk": {"sha256:1": "w5", "sha256:2": "y"},
                    "sole": {"subject ab": 7}})
    assert client_module._valid_state(mine) is None and client_module._valid_state(theirs) is None
    line = client_module._merge_state(theirs, mine)["keys"]["k"]["facts"]["a/b"]
    assert line["walk"] == {"sha256:1": "w9", "sha256:2": client_module.INCOMPLETE_WALK}
    assert line["sole"] == {"subject ab": 7}
    many = state({"checked": {"sha256:1": 9}, "walk": {"sha256:1": "w9"},
                  "reach": [f"a/{n:03d}" for n in range(client_module.MAX_LINEAGE_LINES + 1)]})
    line = client_module._merge_state(state({}), many)["keys"]["k"]["facts"]["a/b"]
    assert line["walk"] == {"sha256:1": client_module.INCOMPLETE_WALK}
    assert client_module._valid_state(state({"walk": {"sha256:1": 3}}))  # refused: not a digest
