"""Red team round 16 on the registry (docs/decisions.md), live server, on SQLite and PostgreSQL.

F1  The operator logged real, signed entries under keys it issued past the full-scan limit (moving every client to
    the index mode), then left a revocation out of its signed view and paged line index: ``check`` said rc 0
    "current" for a client that had scanned the log fully before and for a fresh one. Now a client with an earlier
    full scan reads every entry since then (the delta) and the entries it proved for each line up to there; a
    verdict that does rest on the operator's index is "current (index mode, not independently verified)", exit 3.
    (The test simulates the big log with a small ``full_scan_max``, as round 15's tests do.)
F2  Remembered open incidents were keyed by incident id alone: another publisher's same-id record, fixed, erased
    or "showed" them. Now a fact is the (publisher key, incident id) chain.
F3  A proxy listed another line's real indexes in a declared base's paged index: counted before they were proven
    to be of the line, they made a current model "not fully checked". Now that is log misbehaviour (an error).
Merge: open incidents of two processes are a union; a fact leaves only with a proven closing (a tombstone).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import Router, _client
from tests.registry.test_redteam_round15 import _audit
from weightwarden.cli import registry as cli
from weightwarden.cli.main import main
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry import server as server_module
from weightwarden.registry import store as store_module
from weightwarden.registry.client import RegistryClient, RegistryClientError
from weightwarden.registry.incidents import AffectedModel, new_incident, transition

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)


def _operator_hides(monkeypatch, store, hidden: set[int]) -> None:
    """The operator's own server (real app, database, log and view keys; no publisher key): revocations and the
    entries at ``hidden`` are left out of the views it signs and out of the paged line index, and the signed list
    of affecting incidents is emptied (red team round 16, evil_operator.py)."""
    real = store_module.build_model_view
    monkeypatch.setattr(store_module, "build_model_view", lambda model, size, rels, evs, bodies, owners=None: real(
        model, size, rels, [e for e in evs if e.kind != "revocation" and e.idx not in hidden], bodies, owners))
    monkeypatch.setattr(server_module, "_affecting", lambda store, index, size: {"affecting": (),
                                                                                  "affecting_complete": True})
    real_entries = store.line_entries

    def line_entries(model, *, after=-1, limit=1000):
        page, following, size = real_entries(model, after=after, limit=limit)
        return [i for i in page if i not in hidden], following, size

    monkeypatch.setattr(store, "line_entries", line_entries)


def _cli_check(monkeypatch, server, state, model, *extra: str, **client_kw) -> tuple[int, str]:
    """The real CLI ``check`` (a small full-scan limit stands for a log of 20,000+ entries)."""
    defaults = dict(RegistryClient.__init__.__kwdefaults__)
    defaults.update(client_kw)
    monkeypatch.setattr(RegistryClient.__init__, "__kwdefaults__", defaults)
    result = CliRunner().invoke(main, ["check", str(model), "--registry", server.url, "--model", "acme/ok",
                                            "--state-dir", str(state), *extra])
    return result.exit_code, result.output


def _revoked_after_a_full_scan(server, who, tmp, store, monkeypatch):
    """acme/ok v1 is released; client "a" checks it (full scan); acme revokes it; the operator pads the log with
    real entries under a key of its own and hides the revocation."""
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
    with _client(server, tmp, "a") as c:
        first = c.check(model, model="acme/ok")
    assert first.current and first.mode == "full" and first.verified, first.reasons
    for copy in ("a_cli", "a_small"):
        shutil.copytree(tmp / "a", tmp / copy)
    with _client(server, tmp, "pub") as c:
        digest = "sha256:" + hashlib.sha256(bundle.read_bytes()).hexdigest()
        revocation = c.publish(entries.revocation_body(model="acme/ok", release=digest, reason="CANARY: key stolen"),
                               who["acme"].key)
        padding = release("evil/x")
        c.publish(padding, who["evil"].key)
        for n in range(4):
            c.publish(_audit("evil/x", padding, n), who["evil"].key)
    _operator_hides(monkeypatch, store, {revocation.index})
    return model, revocation.index


def test_f1_a_client_that_scanned_the_log_reads_the_entries_since_and_sees_the_revocation(parties, store,
                                                                                           monkeypatch):
    server, who, tmp = parties
    model, at = _revoked_after_a_full_scan(server, who, tmp, store, monkeypatch)
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current and result.mode == "delta" and result.verified, (result.mode, result.reasons)
    assert any(f"REVOKED at log index {at}" in r for r in result.reasons), result.reasons
    assert result.to_dict()["mode"] == "delta" and result.to_dict()["verified"] is True
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc == 1 and "REVOKED" in out, out
    # The facts now reach the new tree: a later check (delta empty) still reads the revocation again.
    with _client(server, tmp, "a", full_scan_max=1) as c:
        again = c.check(model, model="acme/ok")
    assert not again.current and again.mode == "delta", again.reasons


def test_f1_a_fresh_client_in_the_index_mode_is_not_a_verified_pass(parties, store, monkeypatch):
    server, who, tmp = parties
    model, _ = _revoked_after_a_full_scan(server, who, tmp, store, monkeypatch)
    with _client(server, tmp, "fresh", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    # The operator's word (the revocation is hidden): a verdict, but never one that looks verified.
    assert result.current and result.mode == "index" and not result.verified
    weaker = [n for n in result.notes if n.startswith("WEAKER GUARANTEE (index mode, not independently verified)")]
    assert weaker and "witnesses cosign the tree, not the index" in weaker[0], result.notes
    assert "without earlier state or witnesses" not in weaker[0]  # the round-15 wording overstated it
    rc, out = _cli_check(monkeypatch, server, tmp / "fresh_cli", model, full_scan_max=1)
    assert rc == cli.EXIT_CURRENT_UNVERIFIED == 3, out
    assert out.startswith("CURRENT (index mode, not independently verified)"), out
    rc, out = _cli_check(monkeypatch, server, tmp / "fresh_cli", model, "--accept-index", "--format", "json",
                         full_scan_max=1)
    assert rc == 0 and json.loads(out)["mode"] == "index" and json.loads(out)["verified"] is False, out


def test_f1_a_delta_over_its_own_bound_falls_back_honestly(parties, store, monkeypatch):
    """The entries since the last full scan are over the delta's bound: the index mode, said unverified (rc 3)."""
    server, who, tmp = parties
    model, _ = _revoked_after_a_full_scan(server, who, tmp, store, monkeypatch)
    with _client(server, tmp, "a_small", full_scan_max=1, delta_max=2) as c:
        result = c.check(model, model="acme/ok")
    assert result.mode == "index" and not result.verified
    assert any("more than the 2 it reads since then" in n for n in result.notes), result.notes


def test_f2_a_remembered_incident_is_its_publishers_chain_not_its_id(parties, store, monkeypatch):
    """acme's open critical incident X on acme/ok (which declares evil/base); evil files X too, on evil/base, and
    fixes it. The fact stays (acme's chain); with acme's record hidden, the client that proved it open says not
    current."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    same = "x_WW-2026-00c0ffee"
    mine = new_incident(summary="CANARY backdoor", risk_domain="supply_chain.integrity", severity="critical",
                        affected=[AffectedModel("acme/ok")], incident_id=same)
    with _client(server, tmp, "pub") as c:
        c.publish(release("evil/base"), who["evil"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["evil/base"])
        opened = c.publish(entries.incident_body(mine.to_osv()), who["acme"].key).index
    with _client(server, tmp, "a") as c:
        assert not c.check(model, model="acme/ok").current
    theirs = new_incident(summary="dup", risk_domain="supply_chain.integrity", severity="low",
                          affected=[AffectedModel("evil/base")], incident_id=same)
    with _client(server, tmp, "pub") as c:
        for record in (theirs, transition(theirs, "confirmed"), transition(transition(theirs, "confirmed"), "fixed",
                                                                           note="fixed")):
            c.publish(entries.incident_body(record.to_osv()), who["evil"].key)
    with _client(server, tmp, "a") as c:
        honest = c.check(model, model="acme/ok")
        facts = c._key_state(c.log_verifier())["facts"]["acme/ok"]["open"]
    assert not honest.current and honest.mode == "full"
    assert [f.rsplit("|", 1)[1] for f in facts[next(iter(facts))]] == [same] and "|" in next(iter(facts[next(iter(
        facts))])), facts  # kept, as (acme's key, id)
    # The operator hides acme's record; the client's earlier-scan entry list is dropped too, so only the
    # remembered fact (round 15's _recall) stands between the client and a wrong "current".
    _operator_hides(monkeypatch, store, {opened})
    doc = json.loads((tmp / "a" / "state.json").read_text())
    for entry in doc["keys"].values():
        entry.pop("scan", None)
        for line in entry.get("facts", {}).values():
            line.pop("events", None)
            line.pop("upto", None)
    (tmp / "a" / "state.json").write_text(json.dumps(doc))
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current and result.mode == "index", result.reasons
    assert any(same in r and "leaves it out" in r for r in result.reasons), result.reasons


def test_f3_a_foreign_entry_in_a_base_index_is_log_misbehaviour(parties, monkeypatch):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish(release("evil/base"), who["evil"].key)
        foreign = [c.publish(release(f"meta/m{n}"), who["meta"].key).index for n in range(3)]
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["evil/base"])
    with _client(server, tmp, "direct", full_scan_max=1) as c:
        assert c.check(model, model="acme/ok").current
    monkeypatch.setattr(client_module, "MAX_BASE_ENTRIES", 2)

    def lists_foreign(path: str, body: bytes) -> bytes:
        if path == "/models/evil/base/entries":
            return json.dumps({"entries": [0, *foreign], "next": None}).encode()
        return body

    proxy = Router([("/", server.url)], rewrite=lists_foreign)
    with _client(server, tmp, "p", full_scan_max=1, transport=proxy) as c, \
            pytest.raises(RegistryClientError) as refused:
        c.check(model, model="acme/ok")
    text = str(refused.value)
    assert "log misbehaviour" in text and "not of evil/base" in text and "meta/m0" in text, text


def test_merge_open_incidents_is_a_union_closed_only_by_a_tombstone():
    def state(line):
        return {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"facts": {"a/b": line}}}}

    # disk: another process proved I1 open; mine: this one loaded I0 and proved it closed at index 9.
    disk = state({"open": {"sha256:1": {"kk|I0": 3, "kk|I1": 5}}, "revoked": {}})
    mine = state({"open": {}, "closed": {"sha256:1": {"kk|I0": 9}}, "revoked": {}})
    line = client_module._merge_state(disk, mine)["keys"]["k"]["facts"]["a/b"]
    assert line["open"] == {"sha256:1": {"kk|I1": 5}} and line["closed"] == {"sha256:1": {"kk|I0": 9}}
    # a stale process that still has I0 open (proven at 3) does not revive it
    stale = state({"open": {"sha256:1": {"kk|I0": 3}}, "revoked": {}})
    again = client_module._merge_state(client_module._merge_state(disk, mine), stale)["keys"]["k"]["facts"]["a/b"]
    assert again["open"] == {"sha256:1": {"kk|I1": 5}}
    assert not client_module._valid_state(client_module._merge_state(disk, mine))


def test_past_the_line_bound_the_least_recently_checked_line_is_forgotten(parties, monkeypatch):
    server, who, tmp = parties
    monkeypatch.setattr(client_module, "MAX_FACT_LINES", 2)
    models = []
    with _client(server, tmp, "pub") as c:
        for n in range(3):
            model, bundle = _signed_model(tmp / f"m{n}", 1, os.urandom(300))
            c.publish_release(bundle, model=f"acme/m{n}", key=who["acme"].key)
            models.append(model)
    notes = []
    for n, model in enumerate(models):
        with _client(server, tmp, "a") as c:
            result = c.check(model, model=f"acme/m{n}")
            notes.extend(result.notes)
            facts = c._key_state(c.log_verifier())["facts"]
            assert f"acme/m{n}" in facts and len(facts) <= 2, sorted(facts)
    assert any("the facts of acme/m0 (the least recently checked) were forgotten" in n for n in notes), notes
