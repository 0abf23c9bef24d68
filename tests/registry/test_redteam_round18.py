"""Red team round 18 on the registry (docs/decisions.md), live server, on SQLite and PostgreSQL.

Each finding made ``check`` say CURRENT, verified, exit 0 where the client's own full scan of the same log (fresh
state, full-scan limit raised) says not current:

R18-1 (operator, with a publisher's signed record) the delta closed a remembered open incident with the latest record
      of its (key, id) chain logged since, although that record does not continue the record the incident was proven
      open from; the full scan (``views.current_incidents``) keeps the open one. Now the delta applies that very
      function, starting from the remembered record (read and proven).
R18-2 (network attacker, no keys) a full-mode check found its matches at the first checkpoint (an older genuine one
      served by a proxy, or the honest race between /checkpoint and /current) and judged the rest at the signed
      view's newer one: releases matching since were never weighed (another line's claim: "ambiguous"; a revoked
      re-signing of the same files). The wrong judgement was also remembered as a ``sole`` fact that made a later
      delta verified. Now a check is judged at ONE tree: when the checkpoint moves, everything is derived again.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import Router, _client, _legacy_incident_writes
from tests.registry.test_redteam_round16 import _cli_check, _operator_hides
from tests.registry.test_redteam_round17 import _dropping, _full_scan, _pad, _resign
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry.client import RegistryClient, RegistryClientError
from weightwarden.registry.incidents import AffectedModel, new_incident, transition

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)


def _stale_first_checkpoint(server, note: bytes) -> Router:
    """A keyless proxy: everything byte for byte, except the client's FIRST ``/checkpoint``, answered with an older
    genuine checkpoint note recorded earlier (what the honest race between /checkpoint and /current also gives)."""
    served: list[int] = []

    def rewrite(path: str, body: bytes) -> bytes:
        if path == "/checkpoint" and not served:
            served.append(1)
            return note
        return body

    return Router([("/", server.url)], rewrite)


def _forked_chain(server, who, tmp, monkeypatch, store, closing: str = "withdrawn"):
    """meta/m v1; acme/ok v1 declares base meta/m; meta files C1 (reported, critical) in meta/advisories naming
    meta/m's weights.bin digest. Client "a" scans fully: not current (C1 remembered open, in a line it never reads
    again). meta then signs C2: same id, same key, another publication date, WITHDRAWN (it does not continue C1: the
    honest store refuses it); the operator logs it anyway and empties its signed affecting list."""
    from datetime import UTC, datetime, timedelta

    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    digest = next(f["digest"] for f in body["files"] if f["name"] == "weights.bin")
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="CANARY: meta/m weights.bin is backdoored", risk_domain="supply_chain.integrity",
                      severity="critical", now=t0,
                      affected=[AffectedModel("meta/advisories", file_digests={"weights.bin": digest})])
    with _client(server, tmp, "pub") as c:
        c.publish(body, who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m"])
        c.publish(entries.incident_body(c1.to_osv()), who["meta"].key)
    with _client(server, tmp, "a") as c:
        first = c.check(model, model="acme/ok")
    assert not first.current and first.mode == "full" and any(c1.id in r for r in first.reasons), first.reasons
    c2 = new_incident(summary="nothing to see", risk_domain="supply_chain.integrity", severity="low",
                      now=t0 + timedelta(hours=1), incident_id=c1.id,
                      affected=[AffectedModel("meta/advisories", file_digests={"weights.bin": digest})])
    # withdrawn: the delta's own walk drops it, the recall of the remembered fact decided; fixed: the delta's walk
    # shows it as the chain's current record (C1 is in a line it never reads), closing the remembered fact
    c2 = transition(c2, "withdrawn") if closing == "withdrawn" else transition(transition(c2, "confirmed"), "fixed",
                                                                               note="nothing to see")
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
        _legacy_incident_writes(monkeypatch)  # the operator's sequencer skips the chain-continuation rule
        c.publish(entries.incident_body(c2.to_osv()), who["meta"].key)
    _operator_hides(monkeypatch, store, set())
    return model, c1


@pytest.mark.parametrize("closing", ["withdrawn", "fixed"])
def test_r18_1_a_record_that_does_not_continue_the_chain_never_closes_a_remembered_incident(parties, store,
                                                                                          monkeypatch, closing):
    server, who, tmp = parties
    model, c1 = _forked_chain(server, who, tmp, monkeypatch, store, closing)
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert not truth.current and any(c1.id in r for r in truth.reasons), truth.reasons
    shutil.copytree(tmp / "a", tmp / "a_cli")
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert result.mode != "full", result.mode
    assert not result.current, (result.mode, result.reasons, result.notes)
    assert any(c1.id in r for r in result.reasons), result.reasons
    rc, out = _cli_check(monkeypatch, server, tmp / "a_cli", model, full_scan_max=1)
    assert rc == 1, out


def test_r18_1_a_continuing_record_still_closes_it(parties, store, monkeypatch):
    """The control: the same chain closed by a record that continues C1 (confirmed, then fixed) is closed in the
    delta as in the full scan (the fix keeps the delta's answer, it does not just block)."""
    from datetime import UTC, datetime, timedelta

    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    digest = next(f["digest"] for f in body["files"] if f["name"] == "weights.bin")
    c1 = new_incident(summary="CANARY", risk_domain="supply_chain.integrity", severity="critical",
                      now=datetime.now(UTC) - timedelta(days=2),
                      affected=[AffectedModel("meta/advisories", file_digests={"weights.bin": digest})])
    with _client(server, tmp, "pub") as c:
        c.publish(body, who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m"])
        c.publish(entries.incident_body(c1.to_osv()), who["meta"].key)
    with _client(server, tmp, "a") as c:
        assert not c.check(model, model="acme/ok").current
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
        confirmed = transition(c1, "confirmed")
        c.publish(entries.incident_body(confirmed.to_osv()), who["meta"].key)
        c.publish(entries.incident_body(transition(confirmed, "fixed", note="patched").to_osv()), who["meta"].key)
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert truth.current, truth.reasons
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert result.current and result.mode == "delta" and result.verified, (result.mode, result.reasons, result.notes)


def test_r18_1_a_fork_never_reopens_a_chain_this_client_saw_closed(parties, store, monkeypatch):
    """The other direction of the same rule: C1 is seen open, then closed by its own continuation (confirmed,
    fixed): remembered as closed. The operator then logs a signed record under C1's id and key with another
    publication date, REPORTED: the full scan keeps the fixed record (current); the delta, which never reads the
    line holding C1's records, must resume the chain from the remembered closing record too (not a verified "not
    current" on the fork's word)."""
    from datetime import UTC, datetime, timedelta

    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(300))
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(base_bundle, model="meta/m")
    digest = next(f["digest"] for f in body["files"] if f["name"] == "weights.bin")
    affected = [AffectedModel("meta/advisories", file_digests={"weights.bin": digest})]
    t0 = datetime.now(UTC) - timedelta(days=2)
    c1 = new_incident(summary="CANARY", risk_domain="supply_chain.integrity", severity="critical", now=t0,
                      affected=affected)
    with _client(server, tmp, "pub") as c:
        c.publish(body, who["meta"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["meta/m"])
        c.publish(entries.incident_body(c1.to_osv()), who["meta"].key)
    with _client(server, tmp, "a") as c:
        assert not c.check(model, model="acme/ok").current
    with _client(server, tmp, "pub") as c:
        confirmed = transition(c1, "confirmed")
        c.publish(entries.incident_body(confirmed.to_osv()), who["meta"].key)
        c.publish(entries.incident_body(transition(confirmed, "fixed", note="patched").to_osv()), who["meta"].key)
    with _client(server, tmp, "a") as c:
        again = c.check(model, model="acme/ok")
        closed = c._key_state(c.log_verifier())["facts"]["acme/ok"].get("closed")
    assert again.current and again.mode == "full" and closed, (again.reasons, closed)
    fork = new_incident(summary="CANARY again", risk_domain="supply_chain.integrity", severity="critical",
                        now=t0 + timedelta(hours=1), incident_id=c1.id, affected=affected)
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
        _legacy_incident_writes(monkeypatch)
        c.publish(entries.incident_body(fork.to_osv()), who["meta"].key)
    _operator_hides(monkeypatch, store, set())
    truth = _full_scan(server, tmp, "ref", model, model="acme/ok")
    assert truth.current, truth.reasons
    with _client(server, tmp, "a", full_scan_max=1) as c:
        result = c.check(model, model="acme/ok")
    assert result.mode != "full" and (result.current or not result.verified), (result.mode, result.reasons)
    assert result.current and result.verified, (result.mode, result.reasons, result.notes)


def _stale_case(server, who, tmp, case: str):
    """acme/ok v1 logged; the attacker records the checkpoint (size 1). Then (a) evil/copy claims the same files, or
    (b) acme re-signs the same files as v2 and revokes v2. Returns the files and the recorded note."""
    import httpx

    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
    note = httpx.get(server.url + "/checkpoint").content
    with _client(server, tmp, "pub") as c:
        if case == "a":
            copy = tmp / "copy"
            shutil.copytree(model, copy)
            c.publish_release(_resign(copy, 1), model="evil/copy", key=who["evil"].key)
        else:
            b2 = _resign(model, 2)
            c.publish_release(b2, model="acme/ok", key=who["acme"].key)
            c.publish(entries.revocation_body(model="acme/ok", reason="CANARY: v2 signing key leaked",
                                              release="sha256:" + hashlib.sha256(b2.read_bytes()).hexdigest()),
                      who["acme"].key)
    return model, note


@pytest.mark.parametrize("case", ["a", "b"])
def test_r18_2_matches_are_found_at_the_tree_that_is_judged(parties, store, monkeypatch, case):
    server, who, tmp = parties
    model, note = _stale_case(server, who, tmp, case)
    kw = {} if case == "a" else {"model": "acme/ok"}
    truth = _full_scan(server, tmp, "ref", model, **kw)
    assert not truth.current, truth.reasons
    with RegistryClient("http://r.test", state_dir=tmp / "fresh", transport=_stale_first_checkpoint(server, note)) as c:
        result = c.check(model, **kw)
    assert not result.current, (result.mode, result.tree_size, result.reasons)
    assert result.reasons == truth.reasons and result.tree_size == truth.tree_size, (result.reasons, truth.reasons)
    assert any("derived again" in n for n in result.notes), result.notes


def test_r18_2c_a_stale_first_checkpoint_leaves_no_sole_fact_to_poison_a_later_delta(parties, store, monkeypatch):
    """R18-2's judgement was remembered as ``sole`` (and a full-scan mark); after padding, a proxy dropping evil/copy
    from the lookup got a verified delta CURRENT. Now the first check is "ambiguous" (no sole fact, no mark), and the
    delta cannot exclude the other line's claim: never a verified current."""
    server, who, tmp = parties
    model, note = _stale_case(server, who, tmp, "a")
    with RegistryClient("http://r.test", state_dir=tmp / "a", transport=_stale_first_checkpoint(server, note)) as c:
        first = c.check(model)
        facts = c._key_state(c.log_verifier()).get("facts", {})
    assert not first.current and "ambiguous" in first.reasons[0], first.reasons
    assert not any(line.get("sole") for line in facts.values()), facts
    with _client(server, tmp, "pub") as c:
        _pad(c, who)
    truth = _full_scan(server, tmp, "ref", model)
    assert not truth.current and "ambiguous" in truth.reasons[0], truth.reasons
    with RegistryClient("http://r.test", state_dir=tmp / "a", full_scan_max=1,
                        transport=_dropping(server, {1})) as c:
        result = c.check(model)
    assert not (result.current and result.verified), (result.mode, result.reasons, result.notes)


def test_r18_2_a_fact_derived_at_another_tree_is_never_stored(parties, store, monkeypatch):
    """The check in code: a mark, a walk or a ``sole`` fact tagged with another tree size than the one it would be
    stored under makes the check fail closed (an error, nothing remembered)."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    with _client(server, tmp, "pub") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        c.publish_release(_resign(model, 2), model="acme/ok", key=who["acme"].key)
    real = RegistryClient._result

    def stale_sole(self, *args, **kw):
        if self._sole is not None:  # as if the matches had been found at the tree before
            self._sole = (self._sole[0], self._sole[1], self._sole[2] - 1)
        return real(self, *args, **kw)

    monkeypatch.setattr(RegistryClient, "_result", stale_sole)
    with _client(server, tmp, "a") as c, pytest.raises(RegistryClientError, match="derived at tree size"):
        c.check(model)
    assert not (tmp / "a" / "state.json").exists() or "sole" not in (tmp / "a" / "state.json").read_text()
