"""Red team round 6 on the registry (docs/decisions.md), against a real server (uvicorn on 127.0.0.1) on
SQLite and PostgreSQL, with its fixes.

A4     a base release logged AFTER the child was walked only while it was the base line's latest live
       release: acme/child (bases meta/base) logged before meta/base v1 (bases g/root), an incident on g/root;
       once meta/base published v2 without bases (or revoked v1), acme/child was current (server view and
       client). A declared base now stands for every release of its line below the view's size.
D1     one unauthenticated GET /current (or /web model page) walked, read and parsed every release of a large
       ancestry on every request. The affecting list is memoised per (release, size) and shared by /current
       and /web; release entries are kept as projections; a per-request cost budget ends in "incomplete".
       (Not timing tests: the memo is tested by counting store reads, the budget by its outcome.)
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry import test_redteam_round5 as round5
from tests.registry.service import make_publisher, pending_write, release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from tests.registry.test_redteam_round4 import _incident, _server_lists
from tests.registry.test_redteam_round5 import _not_current, _signed_view
from weightwarden.registry import affecting as affecting_module
from weightwarden.registry import entries
from weightwarden.registry.affecting import affecting
from weightwarden.registry.client import release_body_from_bundle
from weightwarden.registry.incidents import AffectedModel, ModelRecord

parties = round1.parties  # the same real server and four publishers as round 1
grand = round5.grand  # and the fifth publisher (g/*) of round 5



# ---------------------------------------------------------------------------------------------------------
# A4: a base release logged after the child stays walked whatever the base line does next


@pytest.mark.parametrize("move", ["v2", "revoke"])
def test_a_base_release_logged_after_the_child_stays_walked(grand, store, move):
    server, who, tmp = grand
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(700))
    _, root = _signed_model(tmp / "root", 1, os.urandom(700))
    _, base = _signed_model(tmp / "base", 1, os.urandom(700))
    base_body = release_body_from_bundle(base, model="meta/base", bases=["g/root"])
    flagged = _incident("REAL: g/root backdoored", AffectedModel("g/root"))
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(root, model="g/root"), who["g"].key)
        # the child names meta/base before meta/base has any release
        c.publish(release_body_from_bundle(bundle, model="acme/child", bases=["meta/base"]), who["acme"].key)
        c.publish(base_body, who["meta"].key)
        c.publish(entries.incident_body(flagged.to_osv()), who["institute"].key)
        assert not c.check(model, bundle=bundle).current
        if move == "v2":
            _, base2 = _signed_model(tmp / "base2", 2, os.urandom(700))
            c.publish(release_body_from_bundle(base2, model="meta/base"), who["meta"].key)
        else:
            c.publish(entries.revocation_body(model="meta/base", release=base_body["bundle"], reason="pulled"),
                      who["meta"].key)
    assert _server_lists(store, "acme/child", flagged.id)
    _not_current(server, tmp, "acme/child", model, bundle, move, flagged.id)


@pytest.mark.parametrize("move", ["v2", "revoke"])
def test_a_grandparent_release_logged_after_the_child_matched_by_digest_stays_walked(grand, store, move):
    """The same one step deeper, matched by content: g/root v1 (logged after the child) carries the flagged
    weights root; g/root v2 has another root. The incident names the root under another line's name, so only
    the root matches."""
    _, who, _ = grand
    flagged = _incident("REAL: weights root backdoored",
                        AffectedModel("x/elsewhere", weights_roots=("ef" * 32,)))
    done = store.append_batch([
        pending_write(who["meta"], release("meta/base", 1, bases=["g/root"])),
        pending_write(who["acme"], release("acme/child", bases=["meta/base"])),
        pending_write(who["g"], release("g/root", 1, weights_root="ef" * 32)),
        pending_write(who["institute"], entries.incident_body(flagged.to_osv()))])
    child = int(done[1].index)
    assert [a.id for a in store.affecting_incidents(child, store.size())] == [flagged.id]
    if move == "v2":
        later = [pending_write(who["g"], release("g/root", 2, weights_root="cd" * 32))]
    else:
        g1 = store.model_view("g/root")["releases"][0]["bundle"]
        later = [pending_write(who["g"], entries.revocation_body(model="g/root", release=g1, reason="pulled"))]
    store.append_batch(later)
    limits: list[str] = []
    found = store.affecting_incidents(child, store.size(), limits)
    assert [a.id for a in found] == [flagged.id], found
    assert not limits
    assert found[0].match != "model_line", found


def test_the_walk_takes_every_release_history_gives_whatever_the_latest_is():
    """The shared walk: a base's history (every release below the size) is walked, not only the latest."""
    v1 = ModelRecord("meta/base", "1", declared_bases=("g/root",), index=3)
    v2 = ModelRecord("meta/base", "2", index=5)  # latest live, logged after the child, no bases
    child = ModelRecord("acme/child", "1", declared_bases=("meta/base",), index=1)
    items = [(4, "inst", _incident("REAL: g/root", AffectedModel("g/root")).to_osv())]
    lines = {"meta/base": v2, "g/root": ModelRecord("g/root", "1", index=0)}
    limits: list[str] = []
    found = affecting(child, items, lines.get, history=lambda m: [v1, v2] if m == "meta/base" else [],
                      entitled=lambda *a: True, limits=limits)
    assert [a.matched for a in found] == ["g/root"] and not limits


# ---------------------------------------------------------------------------------------------------------
# D1: the cost of one unauthenticated read is memoised and bounded (counted, never timed)


def _family(who: dict[str, Any], store: Any, bases: int = 2, per: int = 3) -> tuple[int, str]:
    """acme/child declares ``bases`` lines of ``per`` releases each; an incident on the first base line."""
    flagged = _incident("REAL: meta/b0 backdoored", AffectedModel("meta/b0"))
    writes = [pending_write(who["meta"], release(f"meta/b{j}", v)) for v in range(1, per + 1) for j in range(bases)]
    writes.append(pending_write(who["acme"], release("acme/child", bases=[f"meta/b{j}" for j in range(bases)])))
    writes.append(pending_write(who["institute"], entries.incident_body(flagged.to_osv())))
    done = store.append_batch(writes)
    assert all(hasattr(d, "index") for d in done), done
    return int(done[-2].index), flagged.id


def _counting(store: Any, monkeypatch: Any) -> dict[str, int]:
    calls = {"computed": 0, "read": 0}
    compute, projection = store._compute_affecting, store._projection

    def counted_compute(*a: Any, **kw: Any) -> Any:
        calls["computed"] += 1
        return compute(*a, **kw)

    def counted_projection(conn: Any, index: int) -> Any:
        calls["read"] += 1
        return projection(conn, index)

    monkeypatch.setattr(store, "_compute_affecting", counted_compute)
    monkeypatch.setattr(store, "_projection", counted_projection)
    return calls


def test_current_and_web_reads_are_memoised_per_release_and_size(grand, store, monkeypatch):
    server, who, _ = grand
    _, incident_id = _family(who, store)
    calls = _counting(store, monkeypatch)
    first = _signed_view(server, "acme/child")
    assert [a["id"] for a in first["affecting_incidents"]] == [incident_id]
    computed = calls["computed"]
    assert computed == 1
    for _ in range(3):
        assert [a["id"] for a in _signed_view(server, "acme/child")["affecting_incidents"]] == [incident_id]
    assert calls["computed"] == computed  # the same size: nothing recomputed
    page = httpx.get(f"{server.url}/web/models/acme/child")
    assert page.status_code == 200 and incident_id in page.text
    after_page = calls["computed"]
    assert httpx.get(f"{server.url}/web/models/acme/child").status_code == 200
    assert calls["computed"] == after_page  # the page's answers are memoised too
    # the log grows: a new size is a new answer
    store.append_batch([pending_write(who["meta"], release("meta/b0", 9))])
    assert [a["id"] for a in _signed_view(server, "acme/child")["affecting_incidents"]] == [incident_id]
    assert calls["computed"] == after_page + 1


def test_a_key_table_change_is_not_answered_from_the_memo(grand, store):
    """The key table is the one input that is not append-only (a key added, removed or re-granted changes
    entitlements): a changed table is a new memo key, never answered from the old one."""
    _, who, _ = grand
    child, incident_id = _family(who, store)
    size = store.size()
    first = store.affecting_incidents(child, size)
    assert [a.id for a in first] == [incident_id]
    fingerprint = store._key_table_fingerprint()
    store.add_publisher(make_publisher(("z/*",), name="z").publisher)
    assert store._key_table_fingerprint() != fingerprint
    keys = [k for k in store._affecting_memo if k[0] == child and k[1] == size]
    assert len(keys) == 1
    assert [a.id for a in store.affecting_incidents(child, size)] == [incident_id]
    assert len([k for k in store._affecting_memo if k[0] == child and k[1] == size]) == 2


def test_the_cost_budget_ends_in_an_incomplete_signed_view_and_check_fails(grand, store, monkeypatch):
    server, who, tmp = grand
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(700))
    _family(who, store, bases=3, per=4)
    with _client(server, tmp, "p") as c:
        # bases without the incident: only the signed view's "incomplete" can make the answer "not current"
        c.publish(release_body_from_bundle(bundle, model="acme/big", bases=["meta/b1", "meta/b2"]),
                  who["acme"].key)
    calls = _counting(store, monkeypatch)
    monkeypatch.setattr(store, "max_view_cost", 1)  # spent by the judged release itself
    custom = _signed_view(server, "acme/big")
    assert custom.get("affecting_complete") is False, custom
    assert calls["read"] == 0  # nothing was read past the budget
    with _client(server, tmp, "c-index", full_scan_max=1) as c:
        result = c.check(model, bundle=bundle)
    assert not result.current and any("incomplete" in r for r in result.reasons), result.reasons


def test_a_cost_budget_hit_keeps_what_was_walked_and_says_incomplete(grand, store, monkeypatch):
    from weightwarden.registry import store as store_module

    _, who, _ = grand
    child, incident_id = _family(who, store, bases=2, per=6)
    calls = _counting(store, monkeypatch)
    monkeypatch.setattr(store, "max_view_cost", 3 * 4096)
    limits: list[str] = []
    store.affecting_incidents(child, store.size(), limits)
    assert any("incomplete" in m for m in limits), limits
    bounded = calls["read"]
    # the same walk with the default budget (another size: the memo does not answer) reads every release
    monkeypatch.setattr(store, "max_view_cost", store_module.MAX_VIEW_COST)
    store.append_batch([pending_write(who["meta"], release("x/unrelated"))])
    calls["read"] = 0
    limits = []
    assert [a.id for a in store.affecting_incidents(child, store.size(), limits)] == [incident_id]
    assert not limits and calls["read"] >= 12  # every release (the latest ones twice: line and history)
    assert bounded < 12  # it stopped loading once the budget was spent


def test_history_is_pulled_only_while_the_walk_budget_lasts(monkeypatch):
    monkeypatch.setattr(affecting_module, "MAX_WALKED_RELEASES", 3)
    pulled: list[int] = []

    def history(m: str) -> Any:
        for v in range(1, 200):
            pulled.append(v)
            yield ModelRecord(m, str(v), index=v)

    child = ModelRecord("acme/child", "1", declared_bases=("meta/base",), index=1000)
    limits: list[str] = []
    affecting(child, [], lambda m: None, history=history, entitled=lambda *a: True, limits=limits)
    assert any("incomplete" in m for m in limits), limits
    assert len(pulled) <= 3


def test_release_projections_stay_within_their_bound(grand, store, monkeypatch):
    from weightwarden.registry import store as store_module

    _, who, _ = grand
    child, incident_id = _family(who, store, bases=2, per=6)
    monkeypatch.setattr(store_module, "_PROJECTED_DIGESTS_MAX", 6)
    assert [a.id for a in store.affecting_incidents(child, store.size())] == [incident_id]
    assert store._projected_digests <= 6 and len(store._projections) <= 3
