"""Red team round 20 on the registry (docs/decisions.md), live server, on SQLite and PostgreSQL.

R20-1 (operator, with a publisher's signed record): a check cut by a bound (a declared base with more than
      ``MAX_BASE_ENTRIES`` entries: "not fully checked", a safe answer) fell back to the line-local incident walk,
      where a fork of a remembered open chain (same id and key, another publication, WITHDRAWN; it does not continue
      the remembered record) stood for the chain. ``_remember`` then wrote a ``closed`` marker AT THE FORK and dropped
      the open fact; every later delta resumed the chain from the marker: CURRENT, verified, exit 0. The client's own
      full scan did not repair it (the merge kept the marker over the re-proven open fact). Now only a complete,
      verified judgement closes a remembered fact, only by a record that continues the remembered one, a marker is
      checked before it is a chain start, and a newer complete judgement's open proof overrides an older marker.
      The bound is lowered through ``client.MAX_BASE_ENTRIES`` (the PoC needed 20,000 entries).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client, _legacy_incident_writes
from tests.registry.test_redteam_round15 import _audit
from tests.registry.test_redteam_round16 import _cli_check, _operator_hides
from tests.registry.test_redteam_round17 import _full_scan, _pad
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry.incidents import AffectedModel, new_incident, transition

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)


def _facts(tmp, name: str, line: str = "acme/ok") -> dict:
    doc = json.loads((tmp / name / "state.json").read_text())
    return next(iter(doc["keys"].values())).get("facts", {}).get(line, {})


def _round20_log(server, who, tmp, monkeypatch, big_line: str = "meta/zbig"):
    """meta/m v1; ``big_line`` v1; acme/ok v1 declares bases meta/m and ``big_line`` (bases are read in name order:
    with "meta/zbig" meta/m is read before the bound is hit and the walk itself shows the fork, as in the PoC; with
    "evil/big" the bound is hit first and the recall's line lookup of meta/m shows it). meta files C1 (reported, critical) in
    meta/advisories naming meta/m's weights.bin digest; the operator logs meta's signed fork C2 (same id and key,
    another publication date, WITHDRAWN, models [meta/m]). Client "a" scans fully: not current, C1 remembered open.
    Then the big line's owner logs audits on it (more than the lowered base bound) and the log is padded."""
    owner = who[big_line.split("/")[0]]
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    big, big_bundle = _signed_model(tmp / "big", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    big_body = client_module.release_body_from_bundle(big_bundle, model=big_line)
    digest = next(f["digest"] for f in body["files"] if f["name"] == "weights.bin")
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="CANARY: meta/m weights.bin is backdoored", risk_domain="supply_chain.integrity",
                      severity="critical", now=t0,
                      affected=[AffectedModel("meta/advisories", file_digests={"weights.bin": digest})])
    c2 = transition(new_incident(summary="nothing to see", risk_domain="supply_chain.integrity", severity="low",
                                 now=t0 + timedelta(hours=1), incident_id=c1.id,
                                 affected=[AffectedModel("meta/m", file_digests={"weights.bin": digest})]),
                    "withdrawn")
    with _client(server, tmp, "pub") as c:
        c.publish(body, who["meta"].key)
        c.publish(big_body, owner.key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m", big_line])
        c.publish(entries.incident_body(c1.to_osv()), who["meta"].key)
        with monkeypatch.context() as m:
            _legacy_incident_writes(m)  # the operator's sequencer skips the chain-continuation rule
            c.publish(entries.incident_body(c2.to_osv()), who["meta"].key)
    with _client(server, tmp, "a") as c:
        first = c.check(model, model="acme/ok")
    assert not first.current and first.mode == "full" and any(c1.id in r for r in first.reasons), first.reasons
    with _client(server, tmp, "pub") as c:
        for n in range(4):
            c.publish(_audit(big_line, big_body, n), owner.key)
        _pad(c, who)
    _round20_log.big = (big_line, big_body, owner)  # for more entries later
    return model, c1


@pytest.mark.parametrize("big_line", ["meta/zbig", "evil/big"])
def test_r20_1_a_check_cut_by_a_bound_never_closes_a_remembered_incident(parties, store, monkeypatch, big_line):
    """The round-20 sequence: not current at every step, and the state keeps C1 open with no marker at the fork."""
    server, who, tmp = parties
    model, c1 = _round20_log(server, who, tmp, monkeypatch, big_line)
    _operator_hides(monkeypatch, store, set())
    before = _facts(tmp, "a")
    with monkeypatch.context() as m, _client(server, tmp, "a", full_scan_max=1) as c:
        m.setattr(client_module, "MAX_BASE_ENTRIES", 2)  # step 2: the base's index is honest and too long: a bound
        step2 = c.check(model, model="acme/ok")
    assert not step2.current and any("not fully checked" in r for r in step2.reasons), step2.reasons
    after = _facts(tmp, "a")
    assert after.get("open") == before.get("open") and not after.get("closed"), (before, after)
    shutil.copytree(tmp / "a", tmp / "a_cli")
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any(c1.id in r for r in truth.reasons), truth.reasons
    with _client(server, tmp, "a", full_scan_max=1) as c:  # step 3: a delta with no bound hit
        step3 = c.check(model, model="acme/ok")
    assert step3.mode != "full" and not step3.current, (step3.mode, step3.reasons, step3.notes)
    assert any(c1.id in r for r in step3.reasons), step3.reasons
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc == 1, out


def test_r20_1_a_state_written_before_the_fix_is_repaired_and_never_trusted(parties, store, monkeypatch):
    """The state the old client wrote at step 2 (C1's open fact dropped, a marker at the fork, no ``closed_from``):
    the delta does not use the marker (unverified, never a verified current); the client's own full scan re-proves C1
    open and its save keeps it over the marker; the next delta (and the CLI) says not current, exit 1."""
    server, who, tmp = parties
    model, c1 = _round20_log(server, who, tmp, monkeypatch)
    _operator_hides(monkeypatch, store, set())
    path = tmp / "a" / "state.json"
    doc = json.loads(path.read_text())
    line = next(iter(doc["keys"].values()))["facts"]["acme/ok"]
    bundle, opened = next(iter(line["open"].items()))
    fact, at = next(iter(opened.items()))
    line["open"] = {}
    line["closed"] = {bundle: {fact: at + 1}}  # the fork, logged right after C1
    path.write_text(json.dumps(doc))
    shutil.copytree(tmp / "a", tmp / "a_old")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        delta = c.check(model, model="acme/ok")
    assert not (delta.current and delta.verified), (delta.mode, delta.reasons, delta.notes)
    assert any("does not check out" in n or "names no record" in n for n in delta.notes), delta.notes
    with _client(server, tmp, "a_old", full_scan_max=10**6) as c:
        full = c.check(model, model="acme/ok")
    assert not full.current and full.mode == "full" and any(c1.id in r for r in full.reasons), full.reasons
    healed = _facts(tmp, "a_old")
    assert fact in healed["open"][bundle] and fact not in healed.get("closed", {}).get(bundle, {}), healed
    with _client(server, tmp, "a_old", full_scan_max=1) as c:
        again = c.check(model, model="acme/ok")
    assert not again.current and any(c1.id in r for r in again.reasons), (again.mode, again.reasons)
    rc, out = _cli_check(monkeypatch, server, tmp / "a_old", model, full_scan_max=1)
    assert rc == 1, out


def test_r20_1_a_fork_held_by_an_unverified_check_never_starts_a_chain(parties, store, monkeypatch):
    """The other write of the same class: a check cut by a bound that saw a fork REPORTED (its line-local view: C1 sits
    in a line it does not read) must not make the fork a remembered open fact that a later delta resumes the chain
    from (a continuation of the fork, withdrawn, then closes it: verified CURRENT, while the full scan keeps C1 open).
    It is ``held``: it blocks an unverified answer and is never a chain start."""
    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    big, big_bundle = _signed_model(tmp / "big", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    big_body = client_module.release_body_from_bundle(big_bundle, model="meta/zbig")
    digest = next(f["digest"] for f in body["files"] if f["name"] == "weights.bin")
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="CANARY", risk_domain="supply_chain.integrity", severity="critical", now=t0,
                      affected=[AffectedModel("meta/advisories", file_digests={"weights.bin": digest})])
    fork = new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="low",
                        now=t0 + timedelta(hours=1), incident_id=c1.id,
                        affected=[AffectedModel("meta/m", file_digests={"weights.bin": digest})])
    with _client(server, tmp, "pub") as c:
        c.publish(body, who["meta"].key)
        c.publish(big_body, who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m", "meta/zbig"])
    with _client(server, tmp, "a") as c:  # the full scan, before any incident: current
        assert c.check(model, model="acme/ok").current
    with _client(server, tmp, "pub") as c:
        c.publish(entries.incident_body(c1.to_osv()), who["meta"].key)
        with monkeypatch.context() as m:
            _legacy_incident_writes(m)
            c.publish(entries.incident_body(fork.to_osv()), who["meta"].key)
        for n in range(4):
            c.publish(_audit("meta/zbig", big_body, n), who["meta"].key)
        _pad(c, who)
    _operator_hides(monkeypatch, store, set())
    with monkeypatch.context() as m, _client(server, tmp, "a", full_scan_max=1) as c:
        m.setattr(client_module, "MAX_BASE_ENTRIES", 2)
        first = c.check(model, model="acme/ok")
    assert not first.current and not first.verified, (first.mode, first.reasons)
    line = _facts(tmp, "a")
    assert not line.get("open") and any(c1.id in f for x in line.get("held", {}).values() for f in x), line
    with _client(server, tmp, "pub") as c:
        c.publish(_audit("acme/ok", client_module.release_body_from_bundle(bundle, model="acme/ok"), 0),
                  who["acme"].key)
        with monkeypatch.context() as m:
            _legacy_incident_writes(m)
            c.publish(entries.incident_body(transition(fork, "withdrawn").to_osv()), who["meta"].key)
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any(c1.id in r for r in truth.reasons), truth.reasons
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert not (result.current and result.verified), (result.mode, result.reasons, result.notes)


def test_merge_a_newer_complete_judgement_that_reproves_a_fact_open_overrides_an_older_marker():
    def state(line):
        return {"schema": client_module.STATE_SCHEMA, "logs": {}, "keys": {"k": {"facts": {"a/b": line}}}}

    disk = state({"closed": {"sha256:1": {"kk|I0": 4}}, "checked": {"sha256:1": 100}})  # a marker at a fork
    mine = state({"open": {"sha256:1": {"kk|I0": 3}}, "checked": {"sha256:1": 200}})  # a full scan re-proved it
    line = client_module._merge_state(disk, mine)["keys"]["k"]["facts"]["a/b"]
    assert line["open"] == {"sha256:1": {"kk|I0": 3}} and not line.get("closed"), line
    # the other way round (the marker is the newer proof): closed, as before
    disk = state({"open": {"sha256:1": {"kk|I0": 3}}, "checked": {"sha256:1": 100}})
    mine = state({"closed": {"sha256:1": {"kk|I0": 9}}, "closed_from": {"sha256:1": {"kk|I0": 3}},
                  "checked": {"sha256:1": 200}})
    line = client_module._merge_state(disk, mine)["keys"]["k"]["facts"]["a/b"]
    assert not line.get("open") and line["closed"] == {"sha256:1": {"kk|I0": 9}}, line
    assert line["closed_from"] == {"sha256:1": {"kk|I0": 3}}, line
    # held facts are a union: a merge never discharges them
    disk = state({"held": {"sha256:1": {"kk|I5": 7}}})
    line = client_module._merge_state(disk, state({}))["keys"]["k"]["facts"]["a/b"]
    assert line["held"] == {"sha256:1": {"kk|I5": 7}}, line


@pytest.mark.parametrize("seed", range(3))
def test_a_state_from_an_incomplete_run_never_weakens_a_later_verdict(parties, store, monkeypatch, seed):
    """Random interleavings of full, delta and bound-cut runs of one client over the round-20 log (the fork logged,
    the base's audits past the lowered bound when ``bound``): every answer is not current, and C1 stays remembered
    open after each run."""
    server, who, tmp = parties
    rng = random.Random(seed)
    model, c1 = _round20_log(server, who, tmp, monkeypatch)
    _operator_hides(monkeypatch, store, set())
    for step in range(5):
        kind, bound = rng.choice(["full", "delta"]), rng.random() < 0.5
        with monkeypatch.context() as m:
            if bound:
                m.setattr(client_module, "MAX_BASE_ENTRIES", 2)
            with _client(server, tmp, "a", full_scan_max=10**6 if kind == "full" else 1) as c:
                result = c.check(model, model="acme/ok")
        assert not result.current, (step, kind, bound, result.mode, result.reasons, result.notes)
        line = _facts(tmp, "a")
        assert any(c1.id in f for x in line.get("open", {}).values() for f in x), (step, kind, bound, line)
        if rng.random() < 0.5:  # the log grows (audits: no incident, no judged fact changes)
            with _client(server, tmp, "pub") as c:
                big_line, big_body, owner = _round20_log.big
                c.publish(_audit(big_line, big_body, 100 + step), owner.key)
