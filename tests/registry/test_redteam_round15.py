"""Red team round 15 on the registry (docs/decisions.md), live server, on SQLite and PostgreSQL.

F1  A malicious operator served well-formed junk entry bundles of the largest size: the round-14 byte budget
    counted them before anything was proven, the client fell back to the index mode, and there the operator's
    re-signed index and view left out a revocation (or emptied the affecting list): ``check`` said current, even
    for a client that had just seen the revocation. Now only bytes proven against the signed tree and signed by
    their publisher count (junk is an error naming the misbehaviour), the verdict says which mode judged it, and
    the client remembers the line facts it proved (revocations, open incidents) so a later answer without them
    is caught.
D1  Index mode: one key logging 17 releases claiming another publisher's digest made ``check --model`` refuse.
D2  Index mode: a declared base line's whole view (withdrawn incident records in full) was read unbounded, and
    its entries proven two requests each.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import Router, _client
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry import server as server_module
from weightwarden.registry import store as store_module
from weightwarden.registry.client import RegistryClientError
from weightwarden.registry.incidents import AffectedModel, new_incident

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)

TILE = re.compile(r"^/tile/entries/(?:x\d{3}/)*\d{3}(?:\.p/(\d+))?$")
JUNK = b"\xff\xff" + b"J" * 0xFFFF  # one well-formed entry of the largest size


def _junk_tiles(path: str, body: bytes) -> bytes:
    """A network attacker's (or the operator's) rewrite: every entry bundle becomes maximum-size junk."""
    m = TILE.match(path)
    return JUNK * int(m.group(1) or 256) if m else body


def _hide_revocations(monkeypatch) -> None:
    """The operator's own server (real log and view keys, no publisher key): the line index and the signed view
    leave every revocation out, re-signed with the view key (red team round 15, evil_operator2.py)."""
    real = store_module.build_model_view
    monkeypatch.setattr(store_module, "build_model_view", lambda model, size, rels, evs, bodies, owners=None: real(
        model, size, rels, [e for e in evs if e.kind != "revocation"], bodies, owners))


def _audit(model: str, release_body: dict, n: int) -> dict:
    schema = next(s for s, k in entries.KIND_BY_SCHEMA.items() if k == "audit")
    return {"schema": schema, "model": model, "release": release_body["bundle"],
            "attestation": {"payload": f"{n:08d}QQ==", "payloadType": "application/vnd.in-toto+json",
                            "signatures": [{"sig": "eA=="}]}}


def _revoked_acme(server, who, tmp):
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        digest = "sha256:" + hashlib.sha256(bundle.read_bytes()).hexdigest()
        c.publish(entries.revocation_body(model="acme/ok", release=digest, reason="CANARY: key stolen"),
                  who["acme"].key)
        evil_release = release("evil/x")
        c.publish(evil_release, who["evil"].key)
        for n in range(3):
            c.publish(_audit("evil/x", evil_release, n), who["evil"].key)
    return model, bundle


def test_junk_bundles_are_log_misbehaviour_never_a_move_to_the_index_mode(parties, monkeypatch):
    """F1: junk bundles over the budget (an operator, or anyone on the path) are an error naming the
    misbehaviour, before a byte counts; the client never judges from the operator's index because of them."""
    server, who, tmp = parties
    model, _ = _revoked_acme(server, who, tmp)
    with _client(server, tmp, "s", full_scan_budget=100_000) as c:
        honest = c.check(model, model="acme/ok")
    assert not honest.current and any("REVOKED" in r for r in honest.reasons), honest.reasons
    assert honest.mode == "full" and honest.to_dict()["mode"] == "full"
    _hide_revocations(monkeypatch)
    for state in ("s", "fresh"):
        evil = Router([("/", server.url)], rewrite=_junk_tiles)
        with _client(server, tmp, state, full_scan_budget=100_000, transport=evil) as c, \
                pytest.raises(RegistryClientError) as refused:
            c.check(model, model="acme/ok")
        text = str(refused.value)
        assert "log misbehaviour" in text and "/tile/entries/000.p/6" in text and "leaf hash" in text, text
        assert "index" in text  # it says it will not be judged from the index instead


def test_only_proven_signed_bytes_move_a_check_to_the_index_mode_and_it_says_so(parties):
    """F1b: real entries over the budget still give a verdict from the index, and the verdict says plainly that
    it is the weaker mode (``mode``: "index", a WEAKER GUARANTEE note naming the tile and the key)."""
    server, who, tmp = parties
    model, _ = _revoked_acme(server, who, tmp)
    with _client(server, tmp, "b", full_scan_budget=1_000) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current and any("REVOKED" in r for r in result.reasons), result.reasons
    assert result.mode == "index"
    weaker = [n for n in result.notes if n.startswith("WEAKER GUARANTEE")]
    assert weaker and "over the full scan's budget of 1000 bytes" in weaker[0], result.notes


def test_a_revocation_this_client_proved_cannot_be_hidden_later(parties, monkeypatch):
    """F1c: a client that proved a revocation keeps it in its state; in the index mode (a big log, or a real
    budget fallback) the operator's index and view leave it out, and the answer is still REVOKED."""
    server, who, tmp = parties
    model, _ = _revoked_acme(server, who, tmp)
    with _client(server, tmp, "s") as c:
        assert not c.check(model, model="acme/ok").current
    _hide_revocations(monkeypatch)
    # Round 16: with the earlier full scan remembered, the entries since are read whole ("delta"); without it (the
    # scan memory dropped) the index mode still reads the remembered revocation again.
    import json
    import shutil
    shutil.copytree(tmp / "s", tmp / "s2")
    doc = json.loads((tmp / "s2" / "state.json").read_text())
    for entry in doc["keys"].values():
        entry.pop("scan", None)
    (tmp / "s2" / "state.json").write_text(json.dumps(doc))
    for state, mode in (("s", "delta"), ("s2", "index")):
        with _client(server, tmp, state, full_scan_max=1) as c:
            result = c.check(model, model="acme/ok")
        assert not result.current and result.mode == mode, (state, result.mode)
        assert any("REVOKED" in r for r in result.reasons), result.reasons


def test_an_open_incident_this_client_saw_cannot_be_hidden_later(parties, monkeypatch):
    """F1c, incident variant: an open incident reaching acme/ok through acme/ok-gguf (same weights root, same key)
    was seen by a full scan; the operator then empties the signed affecting list, in the index mode. The client
    looks the incident up in the line it was found through (records proven) and it is still open: not current."""
    server, who, tmp = parties
    root = "ab" * 32
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    gguf, gbundle = _signed_model(tmp / "gguf", 1, os.urandom(500))
    incident = new_incident(summary="CANARY backdoor", risk_domain="supply_chain.integrity", severity="critical",
                            affected=[AffectedModel("acme/ok-gguf")])
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, weights_root=root)
        c.publish_release(gbundle, model="acme/ok-gguf", key=who["acme"].key, weights_root=root)
        c.publish(entries.incident_body(incident.to_osv()), who["acme"].key)
    with _client(server, tmp, "s") as c:
        honest = c.check(model, model="acme/ok")
    assert not honest.current and any("via acme/ok-gguf" in r for r in honest.reasons), honest.reasons
    monkeypatch.setattr(server_module, "_affecting", lambda store, index, size: {"affecting": (),
                                                                                  "affecting_complete": True})
    with _client(server, tmp, "s", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current, result.notes
    # Round 16b: a client with an earlier full scan walks the linked line itself (the delta, by the full scan's
    # rule) and finds the incident there; without the scan it is the remembered fact, "still" open.
    assert any(incident.id in r and ("still" in r or "via acme/ok-gguf" in r) for r in result.reasons), result.reasons


def test_the_remembered_facts_survive_a_merge_and_a_bad_state_is_refused(tmp_path):
    merged = client_module._merge_state(
        {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"facts": {"a/b": {
            "revoked": {"sha256:1": 5}, "open": {"sha256:1": {"INC-1": 7}}, "via": {}}}, "scan": {"size": 9}}}},
        {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"facts": {"a/b": {
            "revoked": {"sha256:2": 8}, "open": {"sha256:1": {}}}}, "scan": {"size": 4}}}})
    line = merged["keys"]["k"]["facts"]["a/b"]
    assert line["revoked"] == {"sha256:1": 5, "sha256:2": 8}  # a revocation is never forgotten
    # Round 16: open incidents are a union; a fact leaves only with a "closed" tombstone (see round 16's tests).
    assert line["open"] == {"sha256:1": {"INC-1": 7}}
    assert merged["keys"]["k"]["scan"] == {"size": 9}
    bad = {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"facts": {"a/b": {"revoked": {"x": "5"}}}}}}
    assert client_module._valid_state(bad)


# --- D1 ---------------------------------------------------------------------------------------------------------


def test_squatted_digest_in_the_index_mode_is_a_verdict_not_an_error(parties):
    """D1: evil logs 17 releases of acme's own bundle (a bundle is unique per line, not across lines). The
    index mode filters by --model before its bound; without --model the answer is "ambiguous"."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        for n in range(client_module.MAX_CANDIDATES + 1):
            c.publish_release(bundle, model=f"evil/squat{n}", key=who["evil"].key)
    with _client(server, tmp, "i", full_scan_max=1) as c:
        assert c.check(model, model="acme/ok").current
        assert c.check(bundle=bundle, model="acme/ok").current
        result = c.check(model)
    assert not result.current and result.reasons[0].startswith("ambiguous:"), result.reasons
    assert "18 releases in 18 model lines" in result.reasons[0]


# --- D2 ---------------------------------------------------------------------------------------------------------


def _derivative_of_evil_base(server, who, tmp, audits: int):
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    base = release("evil/base")
    with _client(server, tmp, "pub") as c:
        c.publish(base, who["evil"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["evil/base"])
        for n in range(audits):
            c.publish(_audit("evil/base", base, n), who["evil"].key)
    return model


def test_a_declared_base_is_read_paged_and_proven_in_bulk(parties, monkeypatch):
    """D2/D2b: the base's indexes are read a page at a time (never its whole view), and entries sharing a bundle
    are proven with the bundle, not two requests each."""
    server, who, tmp = parties
    model = _derivative_of_evil_base(server, who, tmp, audits=12)
    monkeypatch.setattr(client_module, "LINE_PAGE", 3)
    single = []
    with _client(server, tmp, "i", full_scan_max=1) as c:
        real = c.verified_entry
        c.verified_entry = lambda i, cp: single.append(i) or real(i, cp)  # type: ignore[method-assign]
        result = c.check(model, model="acme/ok")
    assert result.current, result.reasons
    assert len(single) < 4, single  # the base's 14 entries came with their bundle
    assert any("model line evil/base from the registry's index" in n for n in result.notes), result.notes


def test_a_base_over_the_index_modes_bound_is_not_fully_checked_not_an_error(parties, monkeypatch):
    server, who, tmp = parties
    model = _derivative_of_evil_base(server, who, tmp, audits=12)
    monkeypatch.setattr(client_module, "MAX_BASE_ENTRIES", 5)
    monkeypatch.setattr(client_module, "LINE_PAGE", 2)
    with _client(server, tmp, "i", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current
    assert any("declared base evil/base" in r and "not fully checked" in r for r in result.reasons), result.reasons
    # the byte bound, too
    monkeypatch.setattr(client_module, "MAX_BASE_ENTRIES", 4096)
    with _client(server, tmp, "j", full_scan_max=1, base_budget=2_000) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current
    assert any("declared base evil/base" in r and "not fully checked" in r for r in result.reasons), result.reasons


def test_the_line_index_is_paged_on_the_server(parties, store):
    server, who, tmp = parties
    base = release("evil/base")
    with _client(server, tmp, "pub") as c:
        c.publish(base, who["evil"].key)
        for n in range(5):
            c.publish(_audit("evil/base", base, n), who["evil"].key)
    seen, after = [], -1
    while True:
        page, following, size = store.line_entries("evil/base", after=after, limit=2)
        assert len(page) <= 2 and size == 6
        seen.extend(page)
        if following is None:
            break
        after = following
    assert seen == list(range(6))
