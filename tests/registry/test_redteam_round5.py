"""Red team round 5 on the registry (docs/decisions.md): each attack that beat `check` after round 4, against a
real server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL, with its fix.

A3     the ancestry walk visited lines, not releases: a declared base's older releases were matched but their
       own declared bases were followed only through the base line's latest release. g/root <- meta/base v1
       (bases g/root) <- acme/child with an incident on g/root: once meta/base published v2 without bases (or
       revoked v1), acme/child was current (server view and both client modes).
A3b    the same through a same-weights twin: acme/m-mirror v1 (root R, bases g/root) twin of acme/m v1; once
       the mirror published v2 (no bases, another root), acme/m v1 was current.
R3     Store.affecting_incidents read each line at the database's current state and dropped a latest release
       logged at or past the view's size: a base release appended mid-request made the base an empty record,
       its own bases were not walked, and the server signed a "complete" view without the incident. Lines are
       now resolved as of the size, in one read transaction.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import make_publisher, pending_write, release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from tests.registry.test_redteam_round4 import _incident, _judged, _server_lists
from weightwarden.registry import affecting as affecting_module
from weightwarden.registry import entries
from weightwarden.registry.affecting import affecting
from weightwarden.registry.client import release_body_from_bundle
from weightwarden.registry.incidents import AffectedModel, ModelRecord

parties = round1.parties  # the same real server and four publishers as round 1
ROOT = "ab" * 32


@pytest.fixture
def grand(parties, store):
    """The round-1 parties and a fifth publisher for the grandparent's namespace (g/*)."""
    g = make_publisher(("g/*",), name="g")
    store.add_publisher(g.publisher)
    server, who, tmp = parties
    return server, {**who, "g": g}, tmp


def _signed_view(server: Any, line: str) -> dict[str, Any]:
    signed = json.loads(httpx.get(f"{server.url}/current/{line}").content)
    return signed["signed"]["targets"][f"current/{line}"]["custom"]


def _not_current(server: Any, tmp: Any, line: str, model: Any, bundle: Any, tag: str, incident_id: str) -> None:
    """The signed view lists the incident (and says the list is complete); both client modes (the whole log
    walked by the client, and the index path checked against the signed list) answer not current."""
    custom = _signed_view(server, line)
    assert incident_id in [a["id"] for a in custom["affecting_incidents"]], custom
    assert custom.get("affecting_complete", True) is True, custom  # written only when False
    for name, result in _judged(server, tmp, model, bundle, tag):
        assert not result.current and any("backdoored" in r for r in result.reasons), (name, result.reasons)


# ---------------------------------------------------------------------------------------------------------
# A3: a declared base's older releases are walked, not only matched


@pytest.mark.parametrize("move", ["v2", "revoke"])
def test_a_grandparent_incident_survives_the_base_dropping_its_own_base(grand, store, move):
    server, who, tmp = grand
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(700))
    _, root = _signed_model(tmp / "root", 1, os.urandom(700))
    _, base = _signed_model(tmp / "base", 1, os.urandom(700))
    base_body = release_body_from_bundle(base, model="meta/base", bases=["g/root"])
    flagged = _incident("REAL: g/root backdoored", AffectedModel("g/root"))
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(root, model="g/root"), who["g"].key)
        c.publish(base_body, who["meta"].key)
        c.publish(release_body_from_bundle(bundle, model="acme/child", bases=["meta/base"]), who["acme"].key)
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


def test_a_pinned_base_walks_the_release_it_names_and_not_the_others(store):
    """A pinned base (``line@version``: the library's form; log entries name lines only): the walk follows the
    bases of the release it names, not another version's (the line's latest live release is still walked:
    a conservative over-approximation, as before)."""
    v1 = ModelRecord("meta/base", "1", declared_bases=("g/one",), index=1)
    v2 = ModelRecord("meta/base", "2", declared_bases=("g/two",), index=2)
    v3 = ModelRecord("meta/base", "3", index=3)  # latest live
    child = ModelRecord("acme/child", "1", declared_bases=("meta/base@1",), index=4)
    items = [(5, "inst", _incident("REAL: g/one", AffectedModel("g/one")).to_osv()),
             (6, "inst", _incident("REAL: g/two", AffectedModel("g/two")).to_osv())]
    lines = {"meta/base": v3, "g/one": ModelRecord("g/one", "1", index=0),
             "g/two": ModelRecord("g/two", "1", index=0)}
    limits: list[str] = []
    found = affecting(child, items, lines.get, history=lambda m: [v1, v2] if m == "meta/base" else [],
                      entitled=lambda *a: True, limits=limits)
    assert [a.matched for a in found] == ["g/one"] and not limits


# ---------------------------------------------------------------------------------------------------------
# A3b: the same through a same-weights twin's specific release


@pytest.mark.parametrize("move", ["v2", "revoke"])
def test_a_grandparent_incident_through_a_twin_survives_the_twin_moving_on(grand, store, move):
    server, who, tmp = grand
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(700))
    _, root = _signed_model(tmp / "root", 1, os.urandom(700))
    _, mirror = _signed_model(tmp / "mirror", 1, os.urandom(700))
    mirror_body = release_body_from_bundle(mirror, model="acme/m-mirror", weights_root=ROOT, bases=["g/root"])
    flagged = _incident("REAL: g/root backdoored", AffectedModel("g/root"))
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(root, model="g/root"), who["g"].key)
        c.publish(mirror_body, who["acme"].key)
        c.publish(release_body_from_bundle(bundle, model="acme/m", weights_root=ROOT), who["acme"].key)
        c.publish(entries.incident_body(flagged.to_osv()), who["institute"].key)
        assert not c.check(model, bundle=bundle).current
        if move == "v2":
            _, mirror2 = _signed_model(tmp / "mirror2", 2, os.urandom(700))
            c.publish(release_body_from_bundle(mirror2, model="acme/m-mirror", weights_root="cd" * 32),
                      who["acme"].key)
        else:
            c.publish(entries.revocation_body(model="acme/m-mirror", release=mirror_body["bundle"],
                                              reason="pulled"), who["acme"].key)
    assert _server_lists(store, "acme/m", flagged.id)
    _not_current(server, tmp, "acme/m", model, bundle, move, flagged.id)


# ---------------------------------------------------------------------------------------------------------
# the walk over releases keeps its bound, fail closed


def test_more_releases_than_the_walk_may_visit_is_a_bound_hit(monkeypatch):
    monkeypatch.setattr(affecting_module, "MAX_WALKED_RELEASES", 3)
    olds = [ModelRecord("meta/base", str(v), declared_bases=(f"g/r{v}",), index=v) for v in range(1, 6)]
    child = ModelRecord("acme/child", "1", declared_bases=("meta/base",), index=10)
    limits: list[str] = []
    affecting(child, [], lambda m: None, history=lambda m: olds if m == "meta/base" else [],
              entitled=lambda *a: True, limits=limits)
    assert any("incomplete" in m for m in limits), limits


def test_each_release_is_walked_once_however_often_it_is_reached():
    """A diamond of releases (two bases that share one grandparent release) and a cycle: each (line, index)
    is asked for once, and the walk ends."""
    asked: list[str] = []
    lines = {"a/x": ModelRecord("a/x", "1", declared_bases=("g/root",), index=1),
             "a/y": ModelRecord("a/y", "1", declared_bases=("g/root", "acme/child"), index=2),
             "g/root": ModelRecord("g/root", "1", declared_bases=("a/x",), index=0)}

    def history(m: str) -> list[ModelRecord]:
        asked.append(m)
        return [lines[m]] if m in lines else []

    child = ModelRecord("acme/child", "1", declared_bases=("a/x", "a/y"), index=3)
    limits: list[str] = []
    found = affecting(child, [(4, "inst", _incident("REAL: g/root", AffectedModel("g/root")).to_osv())],
                      lines.get, history=history, entitled=lambda *a: True, limits=limits)
    assert [a.matched for a in found] == ["g/root"] and not limits
    assert sorted(asked) == sorted(set(asked))


# ---------------------------------------------------------------------------------------------------------
# R3: every line is resolved as of the view's size


def _race_family(who: dict[str, Any], store: Any) -> tuple[int, str, int]:
    """acme/child declares meta/base before meta/base has a release (its history before the child is empty,
    so only the base line's latest release as of the size reaches g/root); base v1 declares g/root; an
    incident on g/root. Returns the child's index, the incident id and the size after it."""
    flagged = _incident("REAL: g/root backdoored", AffectedModel("g/root"))
    done = store.append_batch([pending_write(who["g"], release("g/root")),
                               pending_write(who["acme"], release("acme/child", bases=["meta/base"])),
                               pending_write(who["meta"], release("meta/base", 1, bases=["g/root"])),
                               pending_write(who["institute"], entries.incident_body(flagged.to_osv()))])
    assert all(hasattr(d, "index") for d in done), done
    return int(done[1].index), flagged.id, store.size()


def test_a_release_appended_after_the_size_never_changes_the_answer_at_that_size(grand, store):
    _, who, _ = grand
    child, incident_id, size = _race_family(who, store)
    limits: list[str] = []
    assert [a.id for a in store.affecting_incidents(child, size, limits)] == [incident_id] and not limits
    store.append_batch([pending_write(who["meta"], release("meta/base", 2, bases=["g/root"]))])
    assert store.size() > size
    limits = []
    assert [a.id for a in store.affecting_incidents(child, size, limits)] == [incident_id] and not limits


def test_the_server_never_signs_a_complete_view_from_a_release_appended_mid_request(grand, store, monkeypatch):
    server, who, _ = grand
    _, incident_id, _ = _race_family(who, store)
    real = store.affecting_incidents
    appended: list[int] = []

    def mid_request(index: int, size: int, *args: Any, **kw: Any) -> Any:
        # the view's size is fixed; a base release lands before the lines are read (deterministically: no
        # timing, the append happens here, between the two)
        version = len(appended) + 2
        appended.append(version)
        store.append_batch([pending_write(who["meta"], release("meta/base", version, bases=["g/root"]))])
        assert store.size() > size
        return real(index, size, *args, **kw)

    monkeypatch.setattr(store, "affecting_incidents", mid_request)
    custom = _signed_view(server, "acme/child")
    assert appended, "the server did not compute the affecting list"
    assert [a["id"] for a in custom["affecting_incidents"]] == [incident_id], custom
    assert custom.get("affecting_complete", True) is True, custom
