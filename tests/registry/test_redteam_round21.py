"""Red team round 21 on the registry (docs/decisions.md), live server, on SQLite and PostgreSQL.

R21-1 (operator, with a publisher's signed record): a delta judged an incident chain the client did not remember
      from the first of its records the delta happened to read. C1 (REPORTED) sits below the delta's start in a line
      the delta never reads (an advisory line) and does not reach the release at the full scan, so nothing of its
      chain was remembered for the release. After the scan the operator logs the publisher's fork F (same id and key,
      another publication date; the honest store refuses it), then the honest continuation C1b (C1, confirmed, now
      naming the release's or its declared base's weights file). The delta read F first: F stood for the chain's
      start (WITHDRAWN), C1b did not continue it: CURRENT, verified, exit 0, and every later delta (its start past F
      and C1b) said so again, while the client's own full scan says not current. Now the client remembers every
      incident chain's current record (the chain table: written by each full scan from every entry, carried by each
      delta over every entry since) and a delta resumes every chain it meets from it; a chain it cannot anchor (no
      table reaching the delta's start: a state from before this round, a table past ``client.MAX_CHAINS``) makes the
      release unverified (exit 3).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client, _legacy_incident_writes
from tests.registry.test_redteam_round16 import _cli_check, _operator_hides
from tests.registry.test_redteam_round17 import _full_scan, _pad
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry.incidents import AffectedModel, new_incident, transition

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)
ELSEWHERE = "sha256:" + "cd" * 32  # a weights.bin digest no release has


def _log(server, who, tmp, monkeypatch, *, owner: str, fork: str | None):
    """meta/m v1; acme/ok v1 declaring base meta/m; ``owner``'s C1 (REPORTED, critical) in ``owner``/advisories naming
    a digest no release has. Client "a" scans fully: current, nothing of C1 remembered for the release. Then the
    operator logs ``owner``'s fork F of C1's chain (another publication date; ``fork``: its state, or None for no
    fork), then ``owner``'s honest continuation C1b (confirmed) naming the weights.bin of meta/m (owner meta: via the
    declared base) or of acme/ok (owner acme), and pads the log."""
    _, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    base_body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    named = base_body if owner == "meta" else client_module.release_body_from_bundle(bundle, model="acme/ok")
    digest = next(f["digest"] for f in named["files"] if f["name"] == "weights.bin")
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="CANARY: backdoored weights (the first report names another file)",
                      risk_domain="supply_chain.integrity", severity="critical", now=t0,
                      affected=[AffectedModel(f"{owner}/advisories", file_digests={"weights.bin": ELSEWHERE})])
    with _client(server, tmp, "pub") as c:
        c.publish(base_body, who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m"])
        c.publish(entries.incident_body(c1.to_osv()), who[owner].key)
    with _client(server, tmp, "a") as c:
        first = c.check(model, model="acme/ok")
    assert first.current and first.mode == "full" and first.verified, first.reasons
    with _client(server, tmp, "pub") as c:
        if fork is not None:
            record = new_incident(summary="nothing to see", risk_domain="supply_chain.integrity", severity="low",
                                  now=t0 + timedelta(hours=1), incident_id=c1.id,
                                  affected=[AffectedModel(f"{owner}/advisories")])
            if fork != "reported":
                record = transition(record, fork)
        c1b = transition(replace(c1, affected=(AffectedModel(f"{owner}/advisories",
                                                             file_digests={"weights.bin": digest}),)),
                         "confirmed", at=t0 + timedelta(hours=3))
        with monkeypatch.context() as m:
            _legacy_incident_writes(m)  # the operator's sequencer skips the chain-continuation rule
            if fork is not None:
                c.publish(entries.incident_body(record.to_osv()), who[owner].key)
            c.publish(entries.incident_body(c1b.to_osv()), who[owner].key)  # C1b continues C1
        _pad(c, who)
    return model, c1


@pytest.mark.parametrize("owner", ["acme", "meta"])
@pytest.mark.parametrize("fork", ["withdrawn", "reported"])
def test_r21_1_a_chain_first_seen_in_the_delta_is_judged_from_its_true_start(parties, store, monkeypatch, owner, fork):
    """The PoCs (poc_unseen_start: acme's own chain; poc_base_persist: the base publisher's chain via meta/m): the delta
    says not current, verified, naming C1, as the full scan; the next delta (its start past F and C1b) too; the CLI
    exits 1. Even a REPORTED fork read first is no chain start."""
    server, who, tmp = parties
    model, c1 = _log(server, who, tmp, monkeypatch, owner=owner, fork=fork)
    _operator_hides(monkeypatch, store, set())
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any(c1.id in r for r in truth.reasons), truth.reasons
    shutil.copytree(tmp / "a", tmp / "a_cli")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        delta = c.check(model, model="acme/ok")
    assert delta.mode == "delta" and delta.verified and not delta.current, (delta.mode, delta.reasons, delta.notes)
    assert delta.reasons == truth.reasons, (delta.reasons, truth.reasons)
    with _client(server, tmp, "pub") as c:
        for n in range(3):
            c.publish(release(f"evil/more{n}", seed=int.from_bytes(os.urandom(4), "big")), who["evil"].key)
    with _client(server, tmp, "a", full_scan_max=1) as c:  # persistence: a start past F and C1b
        again = c.check(model, model="acme/ok")
    assert not again.current and any(c1.id in r for r in again.reasons), (again.mode, again.reasons)
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, "--format", "json", full_scan_max=1)
    assert rc == 1 and json.loads(out)["verified"], out


def test_r21_1_control_without_the_fork(parties, store, monkeypatch):
    """The red team's control: no fork; the continuation alone makes the chain reach the release."""
    server, who, tmp = parties
    model, c1 = _log(server, who, tmp, monkeypatch, owner="meta", fork=None)
    _operator_hides(monkeypatch, store, set())
    with _client(server, tmp, "a", full_scan_max=1) as c:
        delta = c.check(model, model="acme/ok")
    assert delta.mode == "delta" and not delta.current and any(c1.id in r for r in delta.reasons), delta.reasons


def test_r21_1_a_fork_that_reaches_does_not_stand_for_a_chain_that_does_not(parties, store, monkeypatch):
    """The other direction of the same class: meta's C1 does not reach acme/ok; after the scan the operator logs meta's
    fork F (REPORTED) that names meta/m, acme/ok's declared base. The full scan keeps C1 (F does not continue it):
    current. The delta once took F as the chain's start (a verified "not current"); now it is anchored on C1:
    current, verified, as the full scan."""
    server, who, tmp = parties
    _, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="elsewhere", risk_domain="supply_chain.integrity", severity="critical", now=t0,
                      affected=[AffectedModel("meta/advisories", file_digests={"weights.bin": ELSEWHERE})])
    fork = new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="critical",
                        now=t0 + timedelta(hours=1), incident_id=c1.id, affected=[AffectedModel("meta/m")])
    with _client(server, tmp, "pub") as c:
        c.publish(client_module.release_body_from_bundle(base_bundle, model="meta/m"), who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m"])
        c.publish(entries.incident_body(c1.to_osv()), who["meta"].key)
    with _client(server, tmp, "a") as c:
        assert c.check(model, model="acme/ok").current
    with _client(server, tmp, "pub") as c:
        with monkeypatch.context() as m:
            _legacy_incident_writes(m)
            c.publish(entries.incident_body(fork.to_osv()), who["meta"].key)
        _pad(c, who)
    _operator_hides(monkeypatch, store, set())
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert truth.current, truth.reasons
    with _client(server, tmp, "a", full_scan_max=1) as c:
        delta = c.check(model, model="acme/ok")
    assert delta.mode == "delta" and delta.verified and delta.current, (delta.mode, delta.reasons, delta.notes)


def _drop_table(tmp, name: str) -> None:
    path = tmp / name / "state.json"
    doc = json.loads(path.read_text())
    for memory in doc["keys"].values():
        memory.pop("chains", None)
    path.write_text(json.dumps(doc))


def test_r21_1_without_a_chain_table_the_delta_is_unverified(parties, store, monkeypatch):
    """A state written before this round (no chain table) or a table dropped at its bound: the chain met in the delta
    cannot be anchored: unverified (CLI exit 3 where it would say current), never a verified answer on F's word; the
    delta does not invent a table (the next delta is unverified too); the client's own full scan writes one again."""
    server, who, tmp = parties
    model, c1 = _log(server, who, tmp, monkeypatch, owner="meta", fork="withdrawn")
    _operator_hides(monkeypatch, store, set())
    _drop_table(tmp, "a")
    shutil.copytree(tmp / "a", tmp / "a_cli")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        delta = c.check(model, model="acme/ok")
    assert not delta.verified, (delta.mode, delta.reasons, delta.notes)
    assert any("no chain table" in n for n in delta.notes), delta.notes
    doc = json.loads((tmp / "a" / "state.json").read_text())
    assert all("chains" not in memory for memory in doc["keys"].values()), doc["keys"]
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc in (1, 3), out  # not current, or unverified; never 0
    with _client(server, tmp, "a", full_scan_max=10**6) as c:
        full = c.check(model, model="acme/ok")
    assert full.mode == "full" and not full.current and any(c1.id in r for r in full.reasons), full.reasons
    doc = json.loads((tmp / "a" / "state.json").read_text())
    assert all("chains" in memory for memory in doc["keys"].values()), doc["keys"]


def test_r21_1_past_the_chain_bound_the_delta_is_unverified(parties, store, monkeypatch):
    """More chains than ``client.MAX_CHAINS`` (lowered): the full scan remembers no table (a note says so); the delta
    that meets C1's chain is unverified, never a verified CURRENT."""
    server, who, tmp = parties
    monkeypatch.setattr(client_module, "MAX_CHAINS", 0)
    model, _ = _log(server, who, tmp, monkeypatch, owner="meta", fork="withdrawn")
    doc = json.loads((tmp / "a" / "state.json").read_text())
    assert all("chains" not in memory for memory in doc["keys"].values()), doc["keys"]
    _operator_hides(monkeypatch, store, set())
    with _client(server, tmp, "a", full_scan_max=1) as c:
        delta = c.check(model, model="acme/ok")
    assert not (delta.current and delta.verified), (delta.mode, delta.reasons, delta.notes)
    assert not delta.verified, (delta.mode, delta.reasons)


def test_merge_keeps_the_chain_table_that_reaches_further():
    def state(chains):
        return {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"chains": chains} if chains else {}}}

    small = {"upto": 5, "heads": {"a" * 32: 2}}
    big = {"upto": 9, "heads": {"a" * 32: 7, "b" * 32: 8}}
    assert client_module._merge_state(state(small), state(big))["keys"]["k"]["chains"] == big
    assert client_module._merge_state(state(big), state(small))["keys"]["k"]["chains"] == big
    assert client_module._merge_state(state(big), state(None))["keys"]["k"]["chains"] == big
    assert client_module._valid_state(state(big)) is None
    assert client_module._valid_state(state({"upto": 9, "heads": {"a": -1}})) is not None
    assert client_module._valid_state(state({"upto": 9})) is not None
