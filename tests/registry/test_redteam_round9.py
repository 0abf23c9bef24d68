"""Red team round 9 on the registry (docs/decisions.md), on SQLite and PostgreSQL, with its fix.

E1     ``incidents_affecting`` kept one hit per incident id (the first record by log index, ``fixed`` ones not
       skipped) and ``affecting`` let another key's record under that id count only when it reached the hit's
       line. Another key's CLOSED record under a victim's incident id, matching a deeper ancestor first, hid the
       victim's OPEN record on a nearer line from every ``open_only=False`` reader: the web page showed the
       attacker's "fixed" row instead, the client's own derivation lost it, and with a registry that also left
       it out of the signed list `check` said "current". The class rule: records of different publisher keys
       are never merged by id; each (id, key) current record is matched and judged on its own; no closed record
       can displace an open one. Each scenario: the store's function behind the signed list (both
       ``open_only``), the served web page, and the client's own derivation (full scan and line index) against
       a hostile registry whose signed list leaves the incident out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from weightwarden.registry import entries
from weightwarden.registry.incidents import (
    AffectedModel,
    Incident,
    ModelRecord,
    incidents_affecting,
    new_incident,
    transition,
)

parties = round1.parties  # the same real server and four publishers (acme, meta, evil, institute) as round 1

OPEN = "OPEN: backdoor in the weights, every derivative affected"


def _record(line: str, *, severity: str = "critical", summary: str = OPEN, incident_id: str | None = None,
            to: tuple[str, ...] = ()) -> Incident:
    inc = new_incident(summary=summary, risk_domain="supply_chain.integrity", severity=severity,
                       affected=[AffectedModel(line)], incident_id=incident_id)
    for state in to:
        inc = transition(inc, state)
    return inc


def _closed(line: str, incident_id: str, state: str = "fixed", summary: str = "CLOSED: resolved upstream") -> Incident:
    to = ("confirmed", "fixed") if state == "fixed" else ("withdrawn",)
    return _record(line, severity="low", summary=summary, incident_id=incident_id, to=to)


@dataclass
class Plan:
    steps: list[tuple[str, Incident]]  # (publisher, record), in log order
    open_by: str  # the publisher of the open record that must be found
    open_summary: str = OPEN
    closed: tuple[tuple[str, str], ...] = ()  # (publisher, state) of closed records a display lists too


def _plan(variant: str) -> Plan:
    victim = _record("acme/base")
    vid = victim.id
    confirmed = transition(victim, "confirmed")
    if variant == "report":  # the red team's: evil's fixed record (deeper ancestor) logged between acme's two
        return Plan([("acme", victim), ("evil", _closed("evil/base", vid)), ("acme", confirmed)], "acme",
                    closed=(("evil", "fixed"),))
    if variant == "closed-first":  # evil's closed record before any of the victim's
        return Plan([("evil", _closed("evil/base", vid)), ("acme", victim), ("acme", confirmed)], "acme",
                    closed=(("evil", "fixed"),))
    if variant == "open-first":  # the key order reversed: the open record has the lower log index
        return Plan([("acme", victim), ("acme", confirmed), ("evil", _closed("evil/base", vid))], "acme",
                    closed=(("evil", "fixed"),))
    if variant == "closed-nearer":  # the match depths reversed: a closed record on the nearer line, first
        deep = _record("evil/base", summary="OPEN: backdoor in evil/base", incident_id=vid, to=("confirmed",))
        return Plan([("acme", _closed("acme/base", vid)), ("institute", deep)], "institute",
                    open_summary="OPEN: backdoor in evil/base", closed=(("acme", "fixed"),))
    if variant == "withdrawn":  # another key's withdrawn record under the id, first
        return Plan([("evil", _closed("evil/base", vid, "withdrawn", "CLOSED: withdrawn")), ("acme", victim),
                     ("acme", confirmed)], "acme")
    if variant == "three-keys":  # closed records of two other keys: one deeper, one on the judged line itself
        return Plan([("evil", _closed("evil/base", vid)), ("acme", victim),
                     ("institute", _closed("acme/ok", vid, summary="CLOSED: fixed on acme/ok")),
                     ("acme", confirmed)], "acme", closed=(("evil", "fixed"), ("institute", "fixed")))
    raise AssertionError(variant)


VARIANTS = ["report", "closed-first", "open-first", "closed-nearer", "withdrawn", "three-keys"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_another_keys_closed_record_never_hides_an_open_one(parties, store, monkeypatch, variant):
    server, who, tmp = parties
    plan = _plan(variant)
    vid = plan.steps[0][1].id
    key = {name: p.publisher.key_id for name, p in who.items()}
    # acme/ok (acme) is fine-tuned from acme/base (acme), which is fine-tuned from evil/base (evil)
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    _, acme_base = _signed_model(tmp / "acme-base", 1, os.urandom(500))
    _, evil_base = _signed_model(tmp / "evil-base", 1, os.urandom(500))
    with _client(server, tmp, "publisher") as c:
        c.publish_release(evil_base, model="evil/base", key=who["evil"].key)
        c.publish_release(acme_base, model="acme/base", key=who["acme"].key, bases=["evil/base"])
        ok = c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["acme/base"])
        for name, record in plan.steps:
            c.publish(entries.incident_body(record.to_osv()), who[name].key)
    size = store.size()

    # the function the signed list is built from (and the pages use), each open_only
    def listed(open_only: bool) -> set[tuple[str, str, str]]:
        return {(a.id, a.owner, a.state) for a in store.affecting_incidents(ok.index, size, open_only=open_only)}

    wanted = (vid, key[plan.open_by], "confirmed")
    assert listed(True) == {wanted}
    assert listed(False) == {wanted, *((vid, key[k], s) for k, s in plan.closed)}

    # the served web page shows the open record (and each closed one as its own row)
    page = httpx.get(server.url + "/web/models/acme/ok").text
    section = page.split("Incidents on this model")[-1]
    assert plan.open_summary in section and "No public incidents" not in section, section[:2000]
    assert section.count('<tr class="incident"') == 1 + len(plan.closed), section[:3000]
    assert "CLOSED: withdrawn" not in section

    # a registry operator holding the keys: the real log, but the signed affecting list leaves the id out. The
    # client's own derivation from proven entries must find the open record by itself.
    honest = store.affecting_incidents
    monkeypatch.setattr(store, "affecting_incidents",
                        lambda *a, **kw: [x for x in honest(*a, **kw) if x.id != vid])
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, f"hostile-{name}", full_scan_max=scan) as c:
            result = c.check(model, bundle=bundle)
        assert not result.current, (name, result.reasons)
        own = [r for r in result.reasons if r.startswith(f"open incident {vid} (critical, confirmed)")]
        assert own and not any("signed view" in r for r in own), (name, result.reasons)
        found = {(i["id"], i["state"], i["summary"]) for i in result.incidents}
        assert (vid, "confirmed", plan.open_summary) in found, (name, found)


def test_a_hostile_signed_list_alone_no_longer_makes_the_release_current_without_another_keys_record(
        parties, store, monkeypatch):
    """The control of the scenario (the red team's WITH_EVIL=0): the same hostile registry, no other key's
    record under the id; the client's own derivation blocks (it did before the fix as well)."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    _, base = _signed_model(tmp / "acme-base", 1, os.urandom(500))
    victim = _record("acme/base")
    with _client(server, tmp, "publisher") as c:
        c.publish_release(base, model="acme/base", key=who["acme"].key)
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key, bases=["acme/base"])
        c.publish(entries.incident_body(victim.to_osv()), who["acme"].key)
    honest = store.affecting_incidents
    monkeypatch.setattr(store, "affecting_incidents",
                        lambda *a, **kw: [x for x in honest(*a, **kw) if x.id != victim.id])
    with _client(server, tmp, "hostile") as c:
        result = c.check(model, bundle=bundle)
    assert not result.current and any(r.startswith(f"open incident {victim.id}") for r in result.reasons)


# ---------------------------------------------------------------------------------------------------------
# the pure propagation: one hit per current record, never per id


class _View:
    def __init__(self, records: list[Incident], models: dict[str, ModelRecord]) -> None:
        self.records, self.models = records, models

    def incidents(self) -> list[Incident]:
        return self.records

    def model(self, model_id: str) -> ModelRecord | None:
        return self.models.get(model_id)


def _line() -> tuple[ModelRecord, _View, Any]:
    models = {"evil/base": ModelRecord("evil/base", "1"),
              "acme/base": ModelRecord("acme/base", "1", declared_bases=("evil/base",)),
              "acme/ok": ModelRecord("acme/ok", "1", declared_bases=("acme/base",))}
    view = _View([], models)

    def parents(m: ModelRecord) -> Any:
        from weightwarden.registry.incidents import declared_lineage

        return declared_lineage(view)(m)

    return models["acme/ok"], view, parents


@pytest.mark.parametrize("closed_first", [True, False])
def test_incidents_affecting_gives_each_keyed_record_its_own_hit(closed_first):
    target, view, parents = _line()
    victim = transition(_record("acme/base"), "confirmed")
    closed = _closed("evil/base", victim.id)
    view.records = [closed, victim] if closed_first else [victim, closed]
    hits = incidents_affecting(target, view, parents, current=True)
    assert {(h.incident.summary, h.matched_model) for h in hits} == {
        (OPEN, "acme/base"), ("CLOSED: resolved upstream", "evil/base")}
    assert hits[0].incident is victim  # the nearer match first, whatever the log order


def test_current_records_with_owners_keeps_each_publishers_chain():
    victim = _record("acme/base")
    closed = _closed("evil/base", victim.id)
    from weightwarden.registry.incidents import current_records

    # the first key's closed record does not stand for the id: the other key's chain is kept and continued
    got = current_records([closed, victim, transition(victim, "confirmed")], owners=["evil", "acme", "acme"])
    assert [(r.summary, r.state.value) for r in got] == [("CLOSED: resolved upstream", "fixed"), (OPEN, "confirmed")]
    # one key still cannot continue (close, withdraw) another key's chain
    withdraw = transition(victim, "withdrawn")
    got = current_records([victim, withdraw], owners=["acme", "evil"])
    assert [(r.state.value) for r in got] == ["reported", "withdrawn"]
