"""Red team round 3 on the registry (docs/decisions.md): each attack that beat `check` or the pages after round
2, against a real server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL, with the fix that closes its class.

A1/A1b a flood of lines claiming a weights root cut the signed list of affecting incidents (a limit that
       failed open): bounds hit make the list incomplete (not current); declared bases and weights-root links
       have separate budgets; a weights-root link counts only when the claiming key may speak for the line.
G1     content-addressed matching bypassed namespace authorisation: a digest / weights-root match counts only
       from a key that may speak for the matched line.
R1     requests refused for rate never reach the database.
W1     the pages key incidents by (id, publisher key).
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
from tests.registry.test_redteam_round1 import Router, _client
from weightwarden.registry import entries
from weightwarden.registry import incidents as inc_module
from weightwarden.registry.client import release_body_from_bundle
from weightwarden.registry.incidents import AffectedModel, new_incident

parties = round1.parties  # the same real server and four publishers as round 1

ROOT = "ef" * 32


def _incident(*models: str, **kw: Any) -> Any:
    return new_incident(summary="backdoor", risk_domain="supply_chain.integrity", severity="critical",
                        affected=[AffectedModel(m, **kw) for m in models])


def _flood(store: Any, count: int = 257, root: str = ROOT) -> None:
    """``count`` lines under namespaces sorting before every real one, each merely *claiming* ``root``."""
    floods = [make_publisher((f"a{n}/*",), name=f"flood{n}") for n in range(2)]
    for f in floods:
        store.add_publisher(f.publisher)
    writes = [pending_write(floods[i % 2], release(f"a{i % 2}/c{i:03d}", weights_root=root)) for i in range(count)]
    for start in range(0, len(writes), 100):
        store.append_batch(writes[start:start + 100])


# ---------------------------------------------------------------------------------------------------------
# A1 / A1b: a size limit that failed open on a set the attacker can grow


def test_a_weights_root_flood_does_not_cut_the_publishers_own_twin(parties, store):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(900))
    _, twin = _signed_model(tmp / "twin", 1, os.urandom(900))
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(bundle, model="acme/child", weights_root=ROOT), who["acme"].key)
        c.publish(release_body_from_bundle(twin, model="acme/twin", weights_root=ROOT), who["acme"].key)
        c.publish(entries.incident_body(_incident("acme/twin").to_osv()), who["institute"].key)
    _flood(store)
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, name, full_scan_max=scan) as c:
            result = c.check(model, bundle=bundle)
        assert not result.current and any("backdoor" in r for r in result.reasons), (name, result.reasons)


def test_a_flood_does_not_cut_a_declared_grandparent_behind_a_stripped_index(parties, store):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(900))
    with _client(server, tmp, "p") as c:
        store.append_batch([pending_write(who["meta"], release("meta/x")),
                                   pending_write(who["meta"], release("meta/base", bases=["meta/x"]))])
        c.publish(release_body_from_bundle(bundle, model="acme/child", weights_root=ROOT, bases=["meta/base"]),
                  who["acme"].key)
        grandparent = c.publish(entries.incident_body(_incident("meta/x").to_osv()), who["institute"].key)
    _flood(store)

    def strip(path: str, body: bytes) -> bytes:  # a man in the middle hides the grandparent's incident
        if path in ("/models/meta/x", "/models/meta/x/entries"):  # the view, and the paged index (round 15)
            view = json.loads(body)
            view["incidents"] = []
            view["entries"] = [i for i in view["entries"] if i != grandparent.index]
            return json.dumps(view).encode()
        return body

    with _client(server, tmp, "c", full_scan_max=1, transport=Router([("/", server.url)], strip)) as c:
        result = c.check(model, bundle=bundle)
    assert not result.current and any("backdoor" in r for r in result.reasons), result.reasons


def test_a_bound_hit_makes_the_signed_list_incomplete_and_the_answer_not_current(parties, store, monkeypatch):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(900))
    bases = [f"acme/b{i}" for i in range(5)]
    store.append_batch([pending_write(who["acme"], release(b)) for b in bases])
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(bundle, model="acme/child", bases=bases), who["acme"].key)
    monkeypatch.setattr(inc_module, "MAX_ANCESTORS", 3)  # the server's walk hits its bound
    signed = json.loads(httpx.get(server.url + "/current/acme/child").content)
    assert signed["signed"]["targets"]["current/acme/child"]["custom"]["affecting_complete"] is False
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, name, full_scan_max=scan) as c:
            result = c.check(model, bundle=bundle)
        assert not result.current and any("incomplete" in r for r in result.reasons), (name, result.reasons)


# ---------------------------------------------------------------------------------------------------------
# G1: namespace authorisation bypassed through content-addressed matching


@pytest.mark.parametrize("how", ["digests", "claimed-root"])
def test_another_namespace_cannot_make_a_release_not_current_by_content(parties, store, how):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(900))
    body = release_body_from_bundle(bundle, model="acme/model", weights_root=ROOT)
    with _client(server, tmp, "p") as c:
        c.publish(body, who["acme"].key)
        if how == "digests":
            digests = {f["name"]: "sha256:" + f["digest"] for f in body["files"]}
            c.publish(entries.incident_body(_incident("evil/a", file_digests=digests).to_osv()), who["evil"].key)
        else:
            _, clone = _signed_model(tmp / "clone", 1, os.urandom(500))
            c.publish(release_body_from_bundle(clone, model="evil/clone", weights_root=ROOT), who["evil"].key)
            c.publish(entries.incident_body(_incident("evil/clone").to_osv()), who["evil"].key)
    signed = json.loads(httpx.get(server.url + "/current/acme/model").content)
    assert signed["signed"]["targets"]["current/acme/model"]["custom"]["affecting_incidents"] == []
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, name, full_scan_max=scan) as c:
            result = c.check(model, bundle=bundle, model="acme/model")
        assert result.current, (name, result.reasons)
        if name == "full":  # the client read the whole log: what it did not count is a note
            assert any("may not speak" in n for n in result.notes), result.notes


def test_an_institute_or_the_owner_still_matches_by_content(parties, store):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(900))
    body = release_body_from_bundle(bundle, model="acme/model", weights_root=ROOT)
    digests = {f["name"]: "sha256:" + f["digest"] for f in body["files"]}
    with _client(server, tmp, "p") as c:
        c.publish(body, who["acme"].key)
        c.publish(entries.incident_body(_incident("meta/other", file_digests=digests).to_osv()),
                  who["institute"].key)
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, name, full_scan_max=scan) as c:
            result = c.check(model, bundle=bundle)
        assert not result.current, (name, result.reasons)


# ---------------------------------------------------------------------------------------------------------
# R1: the write-rate limit bounds database writes


def _nonce_rows(store: Any) -> int:
    import sqlalchemy as sa

    from weightwarden.registry.store import nonces

    with store._writer.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(nonces)).scalar_one())


def test_requests_refused_for_rate_never_reach_the_database(store, log_keys):
    import base64

    from tests.registry.service import LiveServer
    from weightwarden.registry.server import ServerSettings

    evil = make_publisher(("evil/*",), name="evil")
    store.add_publisher(evil.publisher)
    raw = entries.canonical(release("evil/m"))
    with LiveServer(store, log_keys, ServerSettings(write_rate=0.0001, write_burst=3)) as server:
        before = _nonce_rows(store)
        signed = [evil.headers(raw) for _ in range(60)]
        items = [{"headers": h, "body": base64.b64encode(raw).decode()} for h in signed]
        results = httpx.post(server.url + "/entries/batch", json={"requests": items}, timeout=60).json()["results"]
        assert sum(r["status"] == 429 for r in results) >= 57, results[:5]
        assert _nonce_rows(store) - before <= 3  # only the admitted requests were decided by the database
        # a refused request's replay within the window is still refused (the memo), and never logged
        refused = next(h for h, r in zip(signed, results, strict=True) if r["status"] == 429)
        again = httpx.post(server.url + "/entries", content=raw,
                           headers={**refused, "Content-Type": "application/json"}, timeout=30)
        assert again.status_code in (409, 429), again.text
        assert _nonce_rows(store) - before <= 3


# ---------------------------------------------------------------------------------------------------------
# W1: the pages key incidents by (id, publisher key)


def test_another_keys_withdrawn_copy_does_not_withdraw_the_incident_on_the_pages(parties):
    from weightwarden.registry.incidents import transition

    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(500))
    real = new_incident(summary="REAL: acme/m exfiltrates prompts", risk_domain="supply_chain.integrity",
                        severity="critical", affected=[AffectedModel("acme/m")])
    fake = transition(real, "withdrawn", note="false alarm").to_osv()
    fake["summary"] = "withdrawn: false alarm, acme/m is safe"
    fake["affected"] = [AffectedModel("evil/a").to_osv()]
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(bundle, model="acme/m"), who["acme"].key)
        c.publish(entries.incident_body(real.to_osv()), who["institute"].key)
        c.publish(entries.incident_body(fake), who["evil"].key)
        assert not c.check(model, bundle=bundle).current
    page = httpx.get(server.url + f"/web/incidents/{real.id}").text
    assert "REAL:" in page and who["institute"].publisher.key_id[:16] in page
    assert who["evil"].publisher.key_id[:16] in page  # the copy is shown as its own record, with its key
    line = httpx.get(server.url + "/web/models/acme/m").text
    assert real.id in line and "REAL:" in line and "false alarm" not in line


# ---------------------------------------------------------------------------------------------------------
# Smaller items: client state files, state migration, the line `check` judged


def test_the_state_file_never_follows_a_planted_symlink(parties):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(500))
    victim = tmp / "victim.txt"
    victim.write_text("precious")
    state = tmp / "s"
    state.mkdir()
    (state / f".state.json.{os.getpid()}.tmp").symlink_to(victim)
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(bundle, model="acme/m"), who["acme"].key)
    with _client(server, tmp, "s") as c:
        c.check(model, bundle=bundle)
    assert victim.read_text() == "precious"
    assert json.loads((state / "state.json").read_text())["logs"]


def test_state_migration_never_carries_an_unvouched_view_key(parties):
    server, who, tmp = parties
    with _client(server, tmp, "first") as c:
        vkey = c.log_verifier().vkey()
    state = tmp / "old"
    state.mkdir()
    (state / "state.json").write_text(json.dumps({"schema": "weightwarden.registry.client-state/v1", "logs": {
        "http://old.example": {"vkey": vkey, "view_key": "planted-view-key"}}}))
    with _client(server, tmp, "old") as c:
        c.log_verifier()
        kept = c.state.data["keys"][vkey].get("view_key")
    assert kept != "planted-view-key"


def test_check_names_the_line_it_judged_when_no_model_was_given():
    from types import SimpleNamespace

    from weightwarden.cli.registry import render_check

    result = SimpleNamespace(model="evil/lookalike", version=1, index=3, tree_size=9, current=True, reasons=(),
                             incidents=(), notes=())
    text = render_check(result)
    assert "JUDGED AS A RELEASE OF MODEL LINE evil/lookalike" in text.splitlines()[1]
    assert "JUDGED" not in render_check(result, asked_model="evil/lookalike")


def test_a_write_the_database_never_decided_can_be_retried_byte_for_byte(parties, store, monkeypatch):
    from sqlalchemy.exc import OperationalError

    server, who, tmp = parties
    raw = entries.canonical(release("acme/retry"))
    headers = {**who["acme"].headers(raw), "Content-Type": "application/json"}
    real = type(store).append_batch
    calls = {"n": 0}

    def down_once(self: Any, writes: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT", {}, Exception("database is down"))
        return real(self, writes, **kw)

    monkeypatch.setattr(type(store), "append_batch", down_once)
    first = httpx.post(server.url + "/entries", content=raw, headers=headers, timeout=30)
    assert first.status_code == 503, first.text
    again = httpx.post(server.url + "/entries", content=raw, headers=headers, timeout=30)
    assert again.status_code == 201, again.text
