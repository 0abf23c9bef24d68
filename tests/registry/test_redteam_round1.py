"""Red team round 1 on the registry (docs/decisions.md): each attack that made `check` say "current" wrongly,
run against a real server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL, with the fix that closes its class.

A/B  incident ownership: nobody withdraws another key's incident, not even through a declared base line.
C/D  the signed freshness view binds: a frozen mirror, or an index that hides entries, is caught.
E/F  squatting: a bundle is unique per line; every matching release is weighed; several lines = ambiguous.
Minor: one model-id pattern; the nonce of a refused signed request is used up; state kept per log; a
stale witness quorum; malformed entries are clear errors; default origins differ.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.registry.service import ORIGIN, LiveServer, make_publisher, pending_write, release
from tests.registry.test_client import _signed_model
from weightwarden.registry import entries
from weightwarden.registry import store as store_module
from weightwarden.registry.client import RegistryClient, RegistryClientError, RegistryRefused
from weightwarden.registry.incidents import AffectedModel, new_incident, transition
from weightwarden.registry.logkeys import load_or_create
from weightwarden.registry.server import ServerSettings
from weightwarden.registry.store import Store


def _digest(bundle: Path) -> str:
    return "sha256:" + hashlib.sha256(bundle.read_bytes()).hexdigest()


class Router(httpx.BaseTransport):
    """A man in the middle: sends each request to the first upstream whose path prefix matches, and may
    rewrite the answer (no key of any kind)."""

    def __init__(self, routes: list[tuple[str, str]], rewrite: Any = None) -> None:
        self.routes, self.rewrite = routes, rewrite
        self.client = httpx.Client(timeout=30)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        upstream = next(u for p, u in self.routes if path.startswith(p))
        answer = self.client.request(request.method, upstream + request.url.raw_path.decode(), content=request.read(),
                                     headers={k: v for k, v in request.headers.items() if k.lower() != "host"})
        body = answer.content
        if self.rewrite is not None:
            body = self.rewrite(path, body)
        return httpx.Response(answer.status_code, content=body,
                              headers={"content-type": answer.headers.get("content-type", "application/json")})


@pytest.fixture
def parties(store, log_keys, tmp_path):
    acme = make_publisher(("acme/*",), name="acme")
    meta = make_publisher(("meta/*",), name="meta")
    evil = make_publisher(("evil/*",), name="evil")
    institute = make_publisher(("*",), roles=("incident",), name="institute")
    for p in (acme, meta, evil, institute):
        store.add_publisher(p.publisher)
    with LiveServer(store, log_keys) as server:
        yield server, {"acme": acme, "meta": meta, "evil": evil, "institute": institute}, tmp_path


def _client(server, tmp: Path, name: str = "state", **kw: Any) -> RegistryClient:
    return RegistryClient(server.url, state_dir=tmp / name, **kw)


def _legacy_incident_writes(monkeypatch) -> None:
    """A log written before the write-time incident rule (or by a hostile operator): the server accepts
    records under someone else's incident id; readers must still not let them count."""
    monkeypatch.setattr(store_module._BatchIndex, "_check_incident", lambda self, record, publisher: None)


# ---------------------------------------------------------------------------------------------------------
# A / B: incident ownership


def test_a_publisher_cannot_withdraw_a_third_partys_incident(parties, monkeypatch):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(2000))
    incident = new_incident(summary="Backdoor found by the institute", risk_domain="supply_chain.integrity",
                            severity="critical", affected=[AffectedModel("acme/smol")])
    withdrawn = transition(incident, "withdrawn", note="not a problem (says acme)")
    with _client(server, tmp) as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        c.publish(entries.incident_body(incident.to_osv()), who["institute"].key)
        # Round 2: ids are scoped by publisher key: acme's record under the institute's id is logged as acme's
        # own incident (no squatting lock-out), and it withdraws nothing of the institute's.
        c.publish(entries.incident_body(withdrawn.to_osv()), who["acme"].key)
        assert not c.check(model, bundle=bundle).current

    _legacy_incident_writes(monkeypatch)  # the record gets in: every reader must still ignore it
    with _client(server, tmp) as c:
        c.publish(entries.incident_body(withdrawn.to_osv()), who["acme"].key)
        result = c.check(model, bundle=bundle)
    assert not result.current and any(incident.id in r for r in result.reasons), result.reasons
    view = httpx.get(server.url + "/models/acme/smol").json()
    states = {(i["id"], i["owner"]): i["state"] for i in view["incidents"]}
    assert states[(incident.id, who["institute"].publisher.key_id)] == "reported"
    signed = json.loads(httpx.get(server.url + "/current/acme/smol").content)
    assert signed["signed"]["targets"]["current/acme/smol"]["custom"]["open_incidents"] == [incident.id]


def test_the_owner_continues_its_incident_but_may_not_rewrite_it(parties):
    server, who, tmp = parties
    incident = new_incident(summary="x", risk_domain="content.harm", severity="high",
                            affected=[AffectedModel("acme/smol")])
    with _client(server, tmp) as c:
        c.publish(entries.incident_body(incident.to_osv()), who["institute"].key)
        c.publish(entries.incident_body(transition(incident, "confirmed").to_osv()), who["institute"].key)
        with pytest.raises(RegistryRefused, match="does not continue") as refused:  # back to "reported"
            c.publish(entries.incident_body(incident.to_osv()), who["institute"].key)
    assert refused.value.status == 409


def test_a_base_lines_publisher_cannot_suppress_an_incident_on_the_derived_model(parties, monkeypatch):
    server, who, tmp = parties
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(1000))
    child, child_bundle = _signed_model(tmp / "child", 1, os.urandom(1000))
    incident = new_incident(summary="child is backdoored", risk_domain="supply_chain.integrity", severity="critical",
                            affected=[AffectedModel("acme/child")])
    clash = transition(new_incident(summary="nothing", risk_domain="supply_chain.integrity", severity="low",
                                    affected=[AffectedModel("meta/base")], incident_id=incident.id), "withdrawn")
    with _client(server, tmp) as c:
        c.publish_release(base_bundle, model="meta/base", key=who["meta"].key)
        c.publish_release(child_bundle, model="acme/child", key=who["acme"].key, bases=["meta/base"])
        c.publish(entries.incident_body(incident.to_osv()), who["institute"].key)
        c.publish(entries.incident_body(clash.to_osv()), who["meta"].key)  # meta's own record (round 2)
        assert not c.check(child, bundle=child_bundle).current
    _legacy_incident_writes(monkeypatch)
    with _client(server, tmp) as c:
        c.publish(entries.incident_body(clash.to_osv()), who["meta"].key)
        result = c.check(child, bundle=child_bundle)
    assert not result.current and any(incident.id in r for r in result.reasons), result.reasons


# ---------------------------------------------------------------------------------------------------------
# C / D: the signed view binds


def test_a_frozen_mirror_cannot_hide_a_revocation(tmp_path):
    keys = load_or_create(tmp_path / "keys", ORIGIN)
    live_store = Store.open(str(tmp_path / "live.db"), keys.checkpoint_signer())
    acme = make_publisher(("acme/*",))
    live_store.add_publisher(acme.publisher)
    model, bundle = _signed_model(tmp_path / "m", 1, os.urandom(2000))
    with LiveServer(live_store, keys) as live:
        with RegistryClient(live.url, state_dir=tmp_path / "publisher") as c:
            c.publish_release(bundle, model="acme/smol", key=acme.key)
        src, dst = sqlite3.connect(tmp_path / "live.db"), sqlite3.connect(tmp_path / "snapshot.db")
        src.backup(dst)  # the mirror's copy of the log, taken before the revocation
        src.close()
        dst.close()
        with RegistryClient(live.url, state_dir=tmp_path / "publisher") as c:
            c.publish(entries.revocation_body(model="acme/smol", release=_digest(bundle), reason="backdoor"), acme.key)
            for i in range(3):
                c.publish(release(f"acme/other{i}"), acme.key)
        frozen_store = Store.open(str(tmp_path / "snapshot.db"), keys.checkpoint_signer())
        with LiveServer(frozen_store, keys) as frozen:
            mirror = Router([("/current/", live.url), ("/", frozen.url)])
            with RegistryClient("http://mirror.test", state_dir=tmp_path / "victim", log_key=keys.vkey(),
                                transport=mirror) as c:
                result = c.check(model, bundle=bundle)
        frozen_store.close()
    live_store.close()
    assert not result.current
    assert any("frozen or stale" in r for r in result.reasons), result.reasons


def test_a_checkpoint_that_trails_the_view_is_replaced_by_a_newer_consistent_one(parties):
    """Honest race: the log grew between the checkpoint and the view; the client fetches a newer checkpoint."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
    old_note = httpx.get(server.url + "/checkpoint").content
    with _client(server, tmp, "publisher") as c:
        c.publish(release("acme/other"), who["acme"].key)
    served = {"first": True}

    def stale_once(path: str, body: bytes) -> bytes:
        if path == "/checkpoint" and served.pop("first", False):
            return old_note
        return body

    with RegistryClient("http://r.test", state_dir=tmp / "client", transport=Router([("/", server.url)], stale_once)) as c:
        result = c.check(model, bundle=bundle)
    assert result.current, result.reasons
    assert result.tree_size == 2


@pytest.mark.parametrize("hide", ["revocation", "incident"])
def test_an_index_that_hides_entries_is_caught_above_the_full_scan_limit(parties, hide):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    incident = new_incident(summary="found", risk_domain="content.harm", severity="high",
                            affected=[AffectedModel("acme/smol")])
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        if hide == "revocation":
            hidden = c.publish(entries.revocation_body(model="acme/smol", release=_digest(bundle), reason="bad"),
                               who["acme"].key).index
        else:
            hidden = c.publish(entries.incident_body(incident.to_osv()), who["institute"].key).index

    def strip(path: str, body: bytes) -> bytes:
        if not path.startswith("/models/"):
            return body
        view = json.loads(body)
        view["entries"] = [i for i in view.get("entries", []) if i != hidden]
        if path.endswith("/entries"):  # the paged line index the index mode reads (round 15)
            return json.dumps(view).encode()
        for r in view["releases"]:
            r.update(revoked=None, status="current")
        view["latest"] = view["releases"][-1]["bundle"]
        view["incidents"] = []
        return json.dumps(view).encode()

    with RegistryClient("http://r.test", state_dir=tmp / "victim", full_scan_max=0,
                        transport=Router([("/", server.url)], strip)) as c:
        result = c.check(model, bundle=bundle)
    assert not result.current, result.reasons
    if hide == "revocation":  # the view names the revocation: the client proves it and sees it
        assert any("REVOKED" in r for r in result.reasons), result.reasons
    else:
        assert any("disagrees" in r and "entries" in r for r in result.reasons), result.reasons


def test_a_view_without_the_tree_it_was_made_at_is_not_relied_on(parties, monkeypatch):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    from weightwarden.registry import freshness

    real = freshness.CurrentRelease.custom

    def old_style(self):  # what a registry before round 1 signed
        return {k: v for k, v in real(self).items() if k in ("schema", "model_line", "release_version",
                                                            "weights_root", "log_index", "status", "open_incidents")}

    with _client(server, tmp) as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
        monkeypatch.setattr(freshness.CurrentRelease, "custom", old_style)
        result = c.check(model, bundle=bundle)
    assert not result.current and any("which tree" in r for r in result.reasons)


# ---------------------------------------------------------------------------------------------------------
# E / F: squatting


def test_bundle_squatting_neither_locks_out_the_publisher_nor_checks_as_current(parties):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "acme-smol", 1, os.urandom(2000))
    with _client(server, tmp) as c:
        c.publish_release(bundle, model="evil/copy", key=who["evil"].key)  # acme's public .sig, first
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)  # acme can still log its own
        with pytest.raises(RegistryRefused, match="already logged for acme/smol"):
            c.publish_release(bundle, model="acme/smol", key=who["acme"].key, version=2)
        ambiguous = c.check(model, bundle=bundle)
        assert not ambiguous.current
        assert "ambiguous" in ambiguous.reasons[0] and "acme/smol" in ambiguous.reasons[0]
        assert "evil/copy" in ambiguous.reasons[0]
        chosen = c.check(model, bundle=bundle, model="acme/smol")
        assert chosen.current and chosen.model == "acme/smol", chosen.reasons
        c.publish(entries.revocation_body(model="acme/smol", release=_digest(bundle), reason="backdoor"),
                  who["acme"].key)
        assert not c.check(model, bundle=bundle, model="acme/smol").current
    with _client(server, tmp, full_scan_max=0) as c:  # the index path weighs every line too
        assert "ambiguous" in c.check(model, bundle=bundle).reasons[0]


def test_subject_squatting_does_not_survive_the_publishers_revocation(parties):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "acme-smol", 1, os.urandom(2000))
    with _client(server, tmp) as c:
        from weightwarden.registry.client import release_body_from_bundle

        real = release_body_from_bundle(bundle, model="acme/smol")
        fake = dict(real, model="evil/copy", bundle="sha256:" + hashlib.sha256(b"anything").hexdigest())
        c.publish(fake, who["evil"].key)
        c.publish(real, who["acme"].key)
        c.publish(entries.revocation_body(model="acme/smol", release=real["bundle"], reason="backdoor"),
                  who["acme"].key)
        for kw in ({}, {"full_scan_max": 0}):
            with _client(server, tmp, **kw) as d:
                result = d.check(model)
            assert not result.current and "ambiguous" in result.reasons[0], result.reasons
        assert not c.check(model, model="acme/smol").current


def test_every_release_of_the_same_files_in_a_line_is_weighed(parties):
    """v1 and v2 of a line with the same files; v1 revoked: the files are not current, whichever is found."""
    server, who, tmp = parties
    model, bundle1 = _signed_model(tmp / "m", 1, os.urandom(1000))
    from weightwarden.registry.client import release_body_from_bundle

    v1 = release_body_from_bundle(bundle1, model="acme/smol")
    v2 = dict(v1, version=2, bundle="sha256:" + hashlib.sha256(b"re-signed").hexdigest())
    with _client(server, tmp) as c:
        c.publish(v1, who["acme"].key)
        c.publish(v2, who["acme"].key)
        assert c.check(model).current  # v1 superseded, v2 current: the files are current as v2
        c.publish(entries.revocation_body(model="acme/smol", release=v1["bundle"], reason="leaks"), who["acme"].key)
        result = c.check(model)
    assert not result.current and any("REVOKED" in r for r in result.reasons), result.reasons


def test_a_bundle_is_unique_within_a_line_in_the_store(store, log_keys):
    acme = make_publisher(("acme/*",))
    evil = make_publisher(("evil/*",), name="evil")
    body = release("acme/smol", 1)
    results = store.append_batch([pending_write(evil, dict(body, model="evil/copy")), pending_write(acme, body),
                                  pending_write(acme, dict(body, version=2))])
    assert [getattr(r, "status", 201) for r in results] == [201, 201, 409]
    assert [r["model"] for r in store.releases_by_bundle(body["bundle"])] == ["evil/copy", "acme/smol"]


# ---------------------------------------------------------------------------------------------------------
# Minor findings and cheap hardening


def test_a_long_model_line_has_a_signed_view(parties):
    server, who, tmp = parties
    line = "acme/" + "n" * 128  # the longest id a release may have
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp) as c:
        c.publish_release(bundle, model=line, key=who["acme"].key)
        assert httpx.get(f"{server.url}/current/{line}").status_code == 200
        result = c.check(model, bundle=bundle)
    assert result.current, result.reasons


def _signed_post(url: str, pub, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[httpx.Response, dict]:
    raw = entries.canonical(body)
    h = headers or pub.headers(raw)
    return httpx.post(url + "/entries", content=raw, headers={**h, "Content-Type": "application/json"}), h


@pytest.mark.parametrize("case", ["forbidden", "malformed", "rate-limited"])
def test_a_refused_signed_request_uses_up_its_nonce(store, log_keys, case):
    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    settings = ServerSettings(write_rate=0.0001, write_burst=1) if case == "rate-limited" else None
    body = {"forbidden": release("evil/smol"), "malformed": dict(release(), version=-1),
            "rate-limited": release("acme/smol", 2)}[case]
    with LiveServer(store, log_keys, settings) as server:
        if case == "rate-limited":
            assert _signed_post(server.url, acme, release("acme/smol", 1))[0].status_code == 201
        first, headers = _signed_post(server.url, acme, body)
        assert first.status_code in (403, 422, 429), first.text
        replay, _ = _signed_post(server.url, acme, body, headers)
    if case == "rate-limited":
        # Red team round 4 (R2): a request refused for rate was never decided: its byte-identical retry is
        # weighed again (here still over the rate), never answered "replayed" and lost.
        assert replay.status_code == 429, replay.text
        return
    assert replay.status_code == 409 and "replayed" in replay.json()["error"]


def test_view_versions_are_remembered_per_log(tmp_path):
    """A registry trusted once (with a big log) cannot make another registry's views of the same line look
    like rollbacks."""
    acme = make_publisher(("acme/*",))
    model, bundle = _signed_model(tmp_path / "m", 1, os.urandom(1000))
    stores = []
    for name, extra in (("big", 20), ("small", 0)):
        keys = load_or_create(tmp_path / f"keys-{name}", f"{name}.test/log")
        s = Store.open(str(tmp_path / f"{name}.db"), keys.checkpoint_signer())
        s.add_publisher(acme.publisher)
        stores.append(s)
        with LiveServer(s, keys) as server, RegistryClient(server.url, state_dir=tmp_path / "state") as c:
            for i in range(extra):
                c.publish(release(f"acme/filler{i}"), acme.key)
            c.publish_release(bundle, model="acme/smol", key=acme.key)
            result = c.check(model, bundle=bundle)
        assert result.current, (name, result.reasons)
    for s in stores:
        s.close()


def test_a_stale_witness_quorum_is_refused(parties, store, log_keys):
    import time

    from weightwarden.registry.witness import CosignatureSigner, Witness
    from weightwarden.registry.witnessing import request_cosignature

    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    signer = CosignatureSigner.generate("witness.example")
    witness = Witness(signer, {ORIGIN: log_keys.note_signer.verifier()}, tmp / "w.json")
    with _client(server, tmp, "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=who["acme"].key)
    two_days_ago = int(time.time()) - 2 * 86400
    request_cosignature(store, lambda body: witness.add_checkpoint(body, now=two_days_ago), signer.verifier())
    vkey = [signer.verifier().vkey()]
    with _client(server, tmp, "a", witnesses=vkey, quorum=1) as c, pytest.raises(RegistryClientError, match="stale"):
        c.check(model, bundle=bundle)
    with _client(server, tmp, "b", witnesses=vkey, quorum=1, max_witness_age_s=3 * 86400) as c:
        assert c.check(model, bundle=bundle).current


def test_a_malformed_logged_entry_is_a_clear_error(parties, store):
    """A hostile operator logs a release without ``files``: the client names the entry, no KeyError."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    from weightwarden.registry.client import release_body_from_bundle

    bad = {k: v for k, v in release_body_from_bundle(bundle, model="acme/smol").items() if k != "files"}
    write = pending_write(who["acme"], release("acme/placeholder"))
    forged = entries.Body(kind="release", models=("acme/smol",), data=bad, raw=entries.canonical(bad))
    store.append_batch([dataclasses.replace(write, body=forged)])
    with _client(server, tmp) as c, pytest.raises(RegistryClientError, match="entry 0 is not a valid entry"):
        c.check(model, bundle=bundle)
    with _client(server, tmp, "big", full_scan_max=0) as c, pytest.raises(RegistryClientError, match="not a valid"):
        c.check(model, bundle=bundle)


def test_default_origins_differ_between_registries(tmp_path):
    from click.testing import CliRunner

    from weightwarden.cli.main import main
    from weightwarden.registry.auth import generate_key, public_key_pem

    pub = tmp_path / "pub.pem"
    pub.write_bytes(public_key_pem(generate_key().public_key()))
    origins = []
    for name in ("one", "two"):
        r = CliRunner().invoke(main, ["registry", "add-publisher", str(pub), "--namespace", "acme/*", "--db",
                                      str(tmp_path / f"{name}.db"), "--keys", str(tmp_path / f"keys-{name}")])
        assert r.exit_code == 0, r.output
        origins.append(load_or_create(tmp_path / f"keys-{name}").origin)
    assert origins[0] != origins[1] and all(o.startswith("localhost/weightwarden-registry/") for o in origins)
