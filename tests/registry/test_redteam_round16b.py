"""Red team round 16, follow-up (docs/decisions.md, "round 16b"), live server, on SQLite and PostgreSQL.

Round 16's delta scan (a client that scanned the log fully at size N reads every entry N..M itself) judged only the
judged line and its declared bases from those entries: an incident filed since N in ANOTHER line, reaching the release
through its weights root (named directly, or through a line sharing the root), was the operator's word (its signed
affecting list), and a malicious operator that left it out got "current", mode "delta", exit 0. Now the delta's
entries are judged by the full scan's own affecting rule, combined with what the last full judgement of the release
remembered; a release the client never judged fully before the delta's start is unverified (exit 3).
"""

from __future__ import annotations

import os
import shutil

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from tests.registry.test_redteam_round15 import _audit
from tests.registry.test_redteam_round16 import _cli_check, _operator_hides
from weightwarden.registry import entries
from weightwarden.registry.incidents import AffectedModel, new_incident, transition

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)
ROOT = "ab" * 32


def _pad(c, who) -> None:
    """Real, signed entries under another key: the log grows past the (small) full-scan limit."""
    padding = release("evil/x")
    c.publish(padding, who["evil"].key)
    for n in range(3):
        c.publish(_audit("evil/x", padding, n), who["evil"].key)


def _scanned_ok(server, who, tmp, name: str = "a"):
    """acme/ok v1 (weights root ROOT) is released and acme/other exists; client ``name`` checks v1: full scan."""
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish(release("acme/other"), who["acme"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, weights_root=ROOT)
    with _client(server, tmp, name) as c:
        first = c.check(model, model="acme/ok")
    assert first.current and first.mode == "full", first.reasons
    return model


def _incident(line: str, **kw):
    return new_incident(summary="CANARY backdoor", risk_domain="supply_chain.integrity", severity="critical",
                        affected=[AffectedModel(line, **kw)])


def test_an_incident_in_another_line_naming_the_weights_root_is_seen_by_the_delta(parties, store, monkeypatch):
    """Since the full scan acme files an open incident on acme/other naming acme/ok's weights root; the operator
    leaves it out of the signed affecting list. The delta judges it by the full scan's rule: not current, rc 1."""
    server, who, tmp = parties
    model = _scanned_ok(server, who, tmp)
    incident = _incident("acme/other", weights_roots=(ROOT,))
    with _client(server, tmp, "pub") as c:
        at = c.publish(entries.incident_body(incident.to_osv()), who["acme"].key).index
        _pad(c, who)
    _operator_hides(monkeypatch, store, {at})
    shutil.copytree(tmp / "a", tmp / "a_cli")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current and result.mode == "delta" and result.verified, (result.mode, result.reasons)
    assert any(incident.id in r and "open incident" in r for r in result.reasons), result.reasons
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc == 1 and incident.id in out, out
    # A fresh client has only the operator's word: "current", but never a verified pass.
    rc, out = _cli_check(monkeypatch, server, tmp / "fresh", model, full_scan_max=1)
    assert rc == 3, out


def test_an_incident_in_a_line_sharing_the_weights_root_is_seen_by_the_delta(parties, store, monkeypatch):
    """acme/ok-gguf shares the weights root (before the scan); since, acme files an incident on acme/ok-gguf
    (the whole line). The full scan's link rule reaches it; so does the delta: not current."""
    server, who, tmp = parties
    gguf, gbundle = _signed_model(tmp / "gguf", 1, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish_release(gbundle, model="acme/ok-gguf", key=who["acme"].key, weights_root=ROOT)
    model = _scanned_ok(server, who, tmp)
    incident = _incident("acme/ok-gguf")
    with _client(server, tmp, "pub") as c:
        at = c.publish(entries.incident_body(incident.to_osv()), who["acme"].key).index
        _pad(c, who)
    _operator_hides(monkeypatch, store, {at})
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not result.current and result.mode == "delta", (result.mode, result.reasons)
    assert any(incident.id in r and "via acme/ok-gguf" in r for r in result.reasons), result.reasons


def test_a_remembered_root_incident_closed_by_its_own_key_since_is_current(parties, store, monkeypatch):
    """An open incident on acme/other naming the root was seen by the full scan (remembered as acme's chain); since,
    a same-id record by another key says fixed (never closes it), then acme's own fixed record does: current, rc 0,
    delta (and before acme's record: not current)."""
    server, who, tmp = parties
    incident = _incident("acme/other", weights_roots=(ROOT,))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish(release("acme/other"), who["acme"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, weights_root=ROOT)
        c.publish(entries.incident_body(incident.to_osv()), who["acme"].key)
    with _client(server, tmp, "a") as c:
        first = c.check(model, model="acme/ok")
        facts = c._key_state(c.log_verifier())["facts"]["acme/ok"]
    assert not first.current and first.mode == "full"
    assert [f.rsplit("|", 1)[1] for f in next(iter(facts["open"].values()))] == [incident.id], facts
    evil = new_incident(summary="dup", risk_domain="supply_chain.integrity", severity="low",
                        affected=[AffectedModel("evil/x")], incident_id=incident.id)
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
        c.publish(entries.incident_body(transition(transition(evil, "confirmed"), "fixed", note="x").to_osv()), who["evil"].key)
    _operator_hides(monkeypatch, store, set())
    with _client(server, tmp, "a", full_scan_max=1) as c:
        still = c.check(model, model="acme/ok")
    assert not still.current and still.mode == "delta", (still.mode, still.reasons)
    assert any(incident.id in r for r in still.reasons), still.reasons
    with _client(server, tmp, "pub") as c:
        confirmed = transition(incident, "confirmed")
        for record in (confirmed, transition(confirmed, "fixed", note="patched")):
            c.publish(entries.incident_body(record.to_osv()), who["acme"].key)
    rc, out = _cli_check(monkeypatch, server, tmp / "a", model, "--format", "json", full_scan_max=1)
    assert rc == 0 and '"mode": "delta"' in out, out


def test_a_release_first_judged_after_the_last_full_scan_is_not_verified(parties, store, monkeypatch):
    """Before the scan acme files an incident on acme/other naming a weights root no release has yet; the client
    scans fully (checking v1). Since, acme releases v2 with that root, and the operator leaves the incident out.
    The delta cannot know incidents in other lines before its start for a release it never judged: rc 3, not 0."""
    server, who, tmp = parties
    other_root = "cd" * 32
    incident = _incident("acme/other", weights_roots=(other_root,))
    model = _scanned_ok(server, who, tmp)
    with _client(server, tmp, "pub") as c:
        at = c.publish(entries.incident_body(incident.to_osv()), who["acme"].key).index
    with _client(server, tmp, "a") as c:  # a full scan after the incident: it affects nothing yet
        assert c.check(model, model="acme/ok").mode == "full"
    model2, bundle2 = _signed_model(tmp / "ok2", 2, os.urandom(500))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle2, model="acme/ok", key=who["acme"].key, weights_root=other_root)
        _pad(c, who)
    with _client(server, tmp, "honest") as c:  # the truth, from a full scan
        assert not c.check(model2, model="acme/ok").current
    _operator_hides(monkeypatch, store, {at})
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model2, model="acme/ok")
    assert result.mode == "index" and not result.verified, (result.mode, result.reasons)
    assert any("was not judged in this client's last full scan" in n for n in result.notes), result.notes
    rc, out = _cli_check(monkeypatch, server, tmp / "a", model2, full_scan_max=1)
    assert rc == 3, out
    # v1, judged fully before, is still judged verified from the delta.
    with _client(server, tmp, "a", full_scan_max=1) as c:
        again = c.check(model, model="acme/ok")
    assert again.mode == "delta" and again.verified, (again.mode, again.notes)


def test_merge_keeps_the_larger_mark_and_every_reached_line():
    from weightwarden.registry import client as client_module

    def state(line: dict) -> dict:
        return {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"facts": {"a/b": line}}}}

    mine = state({"checked": {"sha256:1": 9, "sha256:2": 4}, "reach": ["a/c"]})
    theirs = state({"checked": {"sha256:1": 5, "sha256:3": 7}, "reach": ["a/d"]})
    assert client_module._valid_state(mine) is None and client_module._valid_state(theirs) is None
    line = client_module._merge_state(theirs, mine)["keys"]["k"]["facts"]["a/b"]
    assert line["checked"] == {"sha256:1": 9, "sha256:2": 4, "sha256:3": 7}
    assert line["reach"] == ["a/c", "a/d"]
    assert client_module._valid_state(state({"checked": {"sha256:1": "9"}}))  # refused: not a count
