"""Red team round 22 on the registry (docs/decisions.md): two client processes sharing one state directory, shown two
forks of one log (real app, real SQLite stores, same log keys, real client).

R22-1: ``_merge_state`` kept the bigger checkpoint and the UNION of both sides' facts without proving the two trees
consistent: facts proven on one branch (acme/ok checked, no incident) survived under the other branch's checkpoint,
and every later delta against that (honest) branch said CURRENT, verified, while a full scan says open incident; a
same-size split view was dropped silently. Now every checkpoint the merge does not keep, and this process did not
prove a prefix of its tree, is kept ``pending`` and proven consistent before any merged fact is used: a fork is the
split-view refusal, with its proof, at once and on every later check.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.registry.service import ORIGIN, LiveServer, make_publisher, release
from tests.registry.test_client import _signed_model
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry.client import RegistryClient, RegistryClientError
from weightwarden.registry.incidents import AffectedModel, new_incident
from weightwarden.registry.logkeys import load_or_create
from weightwarden.registry.store import Store


@pytest.fixture
def forks(tmp_path):
    """Two SQLite stores under ONE log key (the operator's fork), each served by the real app."""
    keys = load_or_create(tmp_path / "keys", ORIGIN)
    acme = make_publisher(("acme/*",), name="acme")
    fill = make_publisher(("fill/*",), name="fill")
    stores = [Store.open(str(tmp_path / f"y{n}.db"), keys.checkpoint_signer()) for n in (1, 2)]
    for s in stores:
        for p in (acme, fill):
            s.add_publisher(p.publisher)
    with LiveServer(stores[0], keys) as y1, LiveServer(stores[1], keys) as y2:
        yield y1, y2, {"acme": acme, "fill": fill}, tmp_path
    for s in stores:
        s.close()


def _pub(server, tmp, body, key) -> None:
    with RegistryClient(server.url, state_dir=tmp / f"pub-{server.port}") as c:
        c.publish(body, key)


def _logs(y1, y2, who, tmp, *, equal: bool):
    """acme/ok v1 at 0 on both; Y1: fill/a (and fill/b: same size as Y2); Y2 (honest): acme's critical incident
    naming acme/ok's weights.bin (filed under acme/advisories), then fill/z."""
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    body = client_module.release_body_from_bundle(bundle, model="acme/ok")
    for server in (y1, y2):
        _pub(server, tmp, body, who["acme"].key)
    _pub(y1, tmp, release("fill/a", seed=1), who["fill"].key)
    if equal:
        _pub(y1, tmp, release("fill/b", seed=2), who["fill"].key)
    digest = next(f["digest"] for f in body["files"] if f["name"] == "weights.bin")
    incident = new_incident(summary="CANARY: backdoored weights", risk_domain="supply_chain.integrity",
                            severity="critical", now=datetime.now(UTC) - timedelta(hours=1),
                            affected=[AffectedModel("acme/advisories", file_digests={"weights.bin": digest})])
    _pub(y2, tmp, entries.incident_body(incident.to_osv()), who["acme"].key)
    _pub(y2, tmp, release("fill/z", seed=3), who["fill"].key)
    return model, incident


def _grow(y2, who, tmp) -> None:
    for n in range(3):
        _pub(y2, tmp, release(f"fill/x{n}", seed=10 + n), who["fill"].key)


@pytest.mark.parametrize("equal", [False, True])
def test_r22_1_two_processes_shown_two_forks_never_verify_current(forks, monkeypatch, equal):
    """The PoCs (poc_merge_fork, EQUAL=1): A (shown Y1) and B (shown Y2) load the shared state before either saves;
    B's save merges A's checkpoint: B is refused at once with the split-view proof, and so is every later check
    (deltas included) of the honest Y2 from that state: never CURRENT."""
    y1, y2, who, tmp = forks
    monkeypatch.setattr(client_module, "FULL_SCAN_MAX", 4)
    model, incident = _logs(y1, y2, who, tmp, equal=equal)
    state = tmp / "shared"
    a = RegistryClient(y1.url, state_dir=state)
    b = RegistryClient(y2.url, state_dir=state)
    with a:
        first = a.check(model, model="acme/ok")
    assert first.current and first.verified  # correct on Y1
    with b, pytest.raises(RegistryClientError, match="split view") as refused:
        b.check(model, model="acme/ok")
    assert "PROOF OF TRANSPARENCY LOG MISBEHAVIOUR" in str(refused.value)
    if equal:
        assert "two different trees of the same size" in str(refused.value)
    _grow(y2, who, tmp)
    for _ in range(2):  # the later deltas of the PoC (steps 2 and 3)
        with RegistryClient(y2.url, state_dir=state, full_scan_max=4) as c, \
                pytest.raises(RegistryClientError, match="split view"):
            c.check(model, model="acme/ok")
    with RegistryClient(y2.url, state_dir=tmp / "fresh") as c:  # the truth
        truth = c.check(model, model="acme/ok")
    assert not truth.current and any(incident.id in r for r in truth.reasons), truth.reasons


def test_r22_1_control_sequential_processes_still_refuse(forks, monkeypatch):
    """control_sequential: B loads the state after A saved: ``_check_memory`` refuses Y2, as before."""
    y1, y2, who, tmp = forks
    model, _ = _logs(y1, y2, who, tmp, equal=False)
    with RegistryClient(y1.url, state_dir=tmp / "seq") as a:
        assert a.check(model, model="acme/ok").current
    with RegistryClient(y2.url, state_dir=tmp / "seq") as b, pytest.raises(RegistryClientError, match="split view"):
        b.check(model, model="acme/ok")


def test_r22_1_honest_two_process_merge_stays_verified(forks, monkeypatch):
    """No regression: two processes on ONE log at different sizes (A at 2, B at 4, both loaded before either saved):
    the merge keeps the smaller tree pending, B proves it a prefix (one consistency proof) and drops it; the later
    delta is verified, with the same verdict as a full scan, and no note stays pending."""
    y1, y2, who, tmp = forks
    monkeypatch.setattr(client_module, "FULL_SCAN_MAX", 4)
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(300))
    _pub(y2, tmp, client_module.release_body_from_bundle(bundle, model="acme/ok"), who["acme"].key)
    _pub(y2, tmp, release("fill/a", seed=1), who["fill"].key)
    state = tmp / "shared"
    a = RegistryClient(y2.url, state_dir=state)
    b = RegistryClient(y2.url, state_dir=state)
    with a:
        assert a.check(model, model="acme/ok").verified
    _pub(y2, tmp, release("fill/z", seed=3), who["fill"].key)
    _pub(y2, tmp, release("fill/y", seed=4), who["fill"].key)
    with b:
        later = b.check(model, model="acme/ok")
    assert later.current and later.verified
    doc = json.loads((state / "state.json").read_text())
    assert all("pending" not in v for v in doc["keys"].values()), doc["keys"]
    _grow(y2, who, tmp)
    with RegistryClient(y2.url, state_dir=state, full_scan_max=4) as c:
        delta = c.check(model, model="acme/ok")
    assert delta.current and delta.mode == "delta" and delta.verified, (delta.mode, delta.reasons, delta.notes)
