"""Red team round 19 on the registry (docs/decisions.md), live server, on SQLite and PostgreSQL.

R19-1 (operator, with a publisher's signed record) R18-1 moved one step: the record that does not continue the chain
      is logged BEFORE the client's full scan, in a line the delta reads (a declared base, or the judged line). The
      round 18 delta resumed a remembered chain from its remembered record only when the chain had a record logged
      since the delta's start; here it has none, so the fork stood for the chain's first record, closed it, and the
      recall counted the remembered open incident as shown: CURRENT, verified, where the full scan says not current.
      Now every remembered chain with any record among the delta's entries is resumed from the remembered record
      (``views.current_incidents``'s ``known``), a remembered incident is shown only by that resumed chain's current
      record, and a chain the client does not remember with records below the delta's start is judged unverified.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client, _legacy_incident_writes
from tests.registry.test_redteam_round16 import _cli_check, _operator_hides
from tests.registry.test_redteam_round17 import _full_scan, _pad
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry.incidents import AffectedModel, new_incident, transition

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)


@pytest.mark.parametrize("where", ["base", "judged"])
def test_r19_1_a_fork_logged_before_the_scan_never_closes_a_remembered_incident(parties, store, monkeypatch, where):
    """meta/m v1; acme/ok v1 declares base meta/m; C1 (reported, critical) in an advisory line naming meta/m's
    weights.bin digest by meta, or acme/ok's by acme (an advisory line the delta never reads). The operator then logs a
    signed C2 of the same chain (same id and key, another publication date, WITHDRAWN; it does not continue C1) naming
    ``where``'s line (meta/m, the declared base; or acme/ok itself). THEN client "a" scans fully: not current (C1 is
    the chain's record; remembered open). Padding, then a delta: never a verified CURRENT."""
    server, who, tmp = parties
    name, line = ("meta", "meta/m") if where == "base" else ("acme", "acme/ok")
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    named = body if where == "base" else client_module.release_body_from_bundle(bundle, model="acme/ok")
    digest = next(f["digest"] for f in named["files"] if f["name"] == "weights.bin")
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="CANARY: meta/m weights.bin is backdoored", risk_domain="supply_chain.integrity",
                      severity="critical", now=t0,
                      affected=[AffectedModel(f"{name}/advisories", file_digests={"weights.bin": digest})])
    c2 = transition(new_incident(summary="nothing to see", risk_domain="supply_chain.integrity", severity="low",
                                 now=t0 + timedelta(hours=1), incident_id=c1.id,
                                 affected=[AffectedModel(line, file_digests={"weights.bin": digest})]), "withdrawn")
    with _client(server, tmp, "pub") as c:
        c.publish(body, who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m"])
        c.publish(entries.incident_body(c1.to_osv()), who[name].key)
        _legacy_incident_writes(monkeypatch)  # the operator's sequencer skips the chain-continuation rule
        c.publish(entries.incident_body(c2.to_osv()), who[name].key)
    with _client(server, tmp, "a") as c:  # the full scan, AFTER the fork
        first = c.check(model, model="acme/ok")
    assert not first.current and first.mode == "full" and any(c1.id in r for r in first.reasons), first.reasons
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
    _operator_hides(monkeypatch, store, set())
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any(c1.id in r for r in truth.reasons), truth.reasons
    shutil.copytree(tmp / "a", tmp / "a_cli")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert result.mode != "full", result.mode
    assert not result.current, (result.mode, result.verified, result.reasons, result.notes)
    assert any(c1.id in r for r in result.reasons), result.reasons
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc == 1, out


def test_r19_1_a_chain_not_remembered_with_records_before_the_start_is_anchored_or_unverified(parties, store,
                                                                                              monkeypatch):
    """The other half of the class: C1 (meta, naming only meta/advisories: it never reaches the release, so nothing
    is remembered of its chain for the release) and a fork of its chain naming meta/m, the declared base, both logged
    before the scan. The delta reads meta/m's fork but not C1 (a line it never reads): it cannot judge the chain from
    that subset (a later record continuing C1 would be the chain's current one). Round 19 made the release
    unverified; round 21 anchors the chain on the chain table (C1, its current record at the scan): verified, the full
    scan's verdict; a state without the table is still unverified."""
    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="elsewhere", risk_domain="supply_chain.integrity", severity="critical", now=t0,
                      affected=[AffectedModel("meta/advisories")])
    fork = transition(new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="low",
                                   now=t0 + timedelta(hours=1), incident_id=c1.id,
                                   affected=[AffectedModel("meta/m")]), "withdrawn")
    with _client(server, tmp, "pub") as c:
        c.publish(body, who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m"])
        c.publish(entries.incident_body(c1.to_osv()), who["meta"].key)
        _legacy_incident_writes(monkeypatch)
        c.publish(entries.incident_body(fork.to_osv()), who["meta"].key)
    with _client(server, tmp, "a") as c:
        assert c.check(model, model="acme/ok").current
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
    _operator_hides(monkeypatch, store, set())
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert truth.current, truth.reasons
    shutil.copytree(tmp / "a", tmp / "a_old")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert result.mode != "full", result.mode
    # Red team round 21: the client now remembers every chain's current record (the chain table, written at the full
    # scan): the delta anchors C1's chain on C1 and gives the full scan's verdict, verified.
    assert result.verified and result.current == truth.current, (result.mode, result.reasons, result.notes)
    # A state without the table (written before round 21): the delta cannot anchor the chain: unverified, as before.
    path = tmp / "a_old" / "state.json"
    doc = json.loads(path.read_text())
    for memory in doc["keys"].values():
        memory.pop("chains", None)
    path.write_text(json.dumps(doc))
    with _client(server, tmp, "a_old", full_scan_max=1) as c:
        old = c.check(model, model="acme/ok")
    assert old.mode != "full" and not old.verified, (old.mode, old.reasons, old.notes)
