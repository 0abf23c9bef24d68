"""Red team round 4 on the registry (docs/decisions.md): each attack that beat `check`, the pages or the
CLI after round 3, against a real server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL, with its fix.

R2     a request refused for rate left its nonce in the memo: its byte-identical retry was "replayed".
A2     a same-weights twin was judged by its latest release: a version incident on the twin's release with the
       shared root stopped counting once the twin line moved on (a v2, or a revocation of the flagged release).
A2b    a declared base was judged by its latest live release: a content incident on base v1 stopped reaching
       the child once the base published v2 or revoked v1.
K1     removing (rotating) an institute's key cleared its content incidents: entitlement is judged against the
       grant the key had when the record was logged.
W4     `incident list/show/export --registry` merged GET /incidents by id alone: another key's withdrawn copy
       replaced the institute's record. The listing names each record's key; the CLI keys records by (id, key).
W2/W3  the model page kept one hit per incident id (another key's fixed copy hid the institute's open record)
       and had no file digests or declared bases (it said "No public incidents" for a line `check` rejects):
       it is built from the function the signed affecting list is built from.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import httpx
import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import LiveServer, make_publisher, release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from weightwarden.registry import auth, entries
from weightwarden.registry.client import release_body_from_bundle
from weightwarden.registry.incidents import AffectedModel, new_incident

parties = round1.parties  # the same real server and four publishers as round 1
ROOT = "ef" * 32


def _incident(summary: str, *affected: AffectedModel) -> Any:
    return new_incident(summary=summary, risk_domain="supply_chain.integrity", severity="critical",
                        affected=list(affected))


def _server_lists(store: Any, model: str, incident_id: str) -> bool:
    rel = store.model_view(model)["releases"][0]
    return any(a.id == incident_id for a in store.affecting_incidents(int(rel["index"]), store.size()))


def _judged(server: Any, tmp: Any, model: Any, bundle: Any, tag: str) -> list[Any]:
    out = []
    for name, scan in (("full", 20_000), ("index", 1)):
        with _client(server, tmp, f"{tag}-{name}", full_scan_max=scan) as c:
            out.append((name, c.check(model, bundle=bundle)))
    return out

# ---------------------------------------------------------------------------------------------------------
# R2: a 429'd request can be retried byte for byte


def _refuse_first(monkeypatch: Any) -> dict[str, int]:
    """The rate limiter refuses the first ``n`` takes, then admits (no clock: not a timing test)."""
    left = {"n": 0}
    real = auth.RateLimiter.take

    def take(self: Any, key: str, cost: float = 1.0, now: float | None = None) -> bool:
        if left["n"] > 0:
            left["n"] -= 1
            return False
        return real(self, key, cost, now)

    monkeypatch.setattr(auth.RateLimiter, "take", take)
    return left


def test_a_request_refused_for_rate_is_appended_when_retried_byte_for_byte(store, log_keys, monkeypatch):
    acme = make_publisher(("acme/*",), name="acme")
    store.add_publisher(acme.publisher)
    left = _refuse_first(monkeypatch)
    with LiveServer(store, log_keys) as server:
        # POST /entries (the RegistryApp fast path)
        raw = entries.canonical(release("acme/one"))
        headers = {**acme.headers(raw), "Content-Type": "application/json"}
        left["n"] = 1
        first = httpx.post(server.url + "/entries", content=raw, headers=headers, timeout=30)
        assert first.status_code == 429, first.text
        again = httpx.post(server.url + "/entries", content=raw, headers=headers, timeout=30)
        assert again.status_code == 201, again.text
        # a batch item
        raw = entries.canonical(release("acme/two"))
        item = {"headers": acme.headers(raw), "body": base64.b64encode(raw).decode()}
        left["n"] = 1
        first = httpx.post(server.url + "/entries/batch", json={"requests": [item]}, timeout=30).json()
        assert first["results"][0]["status"] == 429, first
        again = httpx.post(server.url + "/entries/batch", json={"requests": [item]}, timeout=30).json()
        assert again["results"][0]["status"] == 201, again
        # and the appended request is now a replay
        replay = httpx.post(server.url + "/entries/batch", json={"requests": [item]}, timeout=30).json()
        assert replay["results"][0]["status"] == 409, replay
    assert all(len(store.model_view(m)["releases"]) == 1 for m in ("acme/one", "acme/two"))


# ---------------------------------------------------------------------------------------------------------
# A2 / A2b: a linked line or a declared base stands for specific releases, not its latest one


@pytest.mark.parametrize("move", ["v2", "revoke"])
def test_a_version_incident_on_a_same_weights_twin_survives_the_twin_moving_on(parties, store, move):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(700))
    _, mirror = _signed_model(tmp / "mirror", 1, os.urandom(700))
    mirror_body = release_body_from_bundle(mirror, model="acme/m-mirror", weights_root=ROOT)
    flagged = _incident("REAL: m-mirror v1 weights backdoored", AffectedModel("acme/m-mirror", versions=("1",)))
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(bundle, model="acme/m", weights_root=ROOT), who["acme"].key)
        c.publish(mirror_body, who["acme"].key)
        c.publish(entries.incident_body(flagged.to_osv()), who["institute"].key)
        if move == "v2":
            _, mirror2 = _signed_model(tmp / "mirror2", 2, os.urandom(700))
            c.publish(release_body_from_bundle(mirror2, model="acme/m-mirror", weights_root="01" * 32),
                      who["acme"].key)
        else:
            c.publish(entries.revocation_body(model="acme/m-mirror", release=mirror_body["bundle"],
                                              reason="pulled after incident"), who["acme"].key)
    assert _server_lists(store, "acme/m", flagged.id)
    for name, result in _judged(server, tmp, model, bundle, move):
        assert not result.current and any("backdoored" in r for r in result.reasons), (name, result.reasons)


@pytest.mark.parametrize("move", ["v2", "revoke"])
def test_a_content_incident_on_a_declared_base_survives_the_base_moving_on(parties, store, move):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(700))
    _, base = _signed_model(tmp / "base", 1, os.urandom(700))
    base_body = release_body_from_bundle(base, model="meta/base", weights_root=ROOT)
    flagged = _incident("REAL: weights R1 are backdoored", AffectedModel("hf/found-in-the-wild", weights_roots=(ROOT,)))
    with _client(server, tmp, "p") as c:
        c.publish(base_body, who["meta"].key)
        c.publish(release_body_from_bundle(bundle, model="acme/child", bases=["meta/base"]), who["acme"].key)
        c.publish(entries.incident_body(flagged.to_osv()), who["institute"].key)
        if move == "v2":
            _, base2 = _signed_model(tmp / "base2", 2, os.urandom(700))
            c.publish(release_body_from_bundle(base2, model="meta/base", weights_root="b2" * 32), who["meta"].key)
        else:
            c.publish(entries.revocation_body(model="meta/base", release=base_body["bundle"], reason="pulled"),
                      who["meta"].key)
    assert _server_lists(store, "acme/child", flagged.id)
    for name, result in _judged(server, tmp, model, bundle, move):
        assert not result.current and any("backdoored" in r for r in result.reasons), (name, result.reasons)


# ---------------------------------------------------------------------------------------------------------
# K1: a content incident keeps the grant its key had when it was logged


def test_removing_an_institute_key_does_not_clear_its_content_incidents(parties, store):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(700))
    body = release_body_from_bundle(bundle, model="acme/m")
    leaked = _incident("REAL: these weights carry a backdoor",
                       AffectedModel("hf/leaked", file_digests={f["name"]: f["digest"] for f in body["files"]}))
    by_root = _incident("REAL: this weights root is backdoored", AffectedModel("hf/other", weights_roots=(ROOT,)))
    _, twin = _signed_model(tmp / "twin", 1, os.urandom(700))
    with _client(server, tmp, "p") as c:
        c.publish(body, who["acme"].key)
        c.publish(release_body_from_bundle(twin, model="acme/twin", weights_root=ROOT), who["acme"].key)
        c.publish(entries.incident_body(leaked.to_osv()), who["institute"].key)
        c.publish(entries.incident_body(by_root.to_osv()), who["institute"].key)
    assert store.remove_publisher(who["institute"].publisher.key_id)  # routine rotation
    assert _server_lists(store, "acme/m", leaked.id) and _server_lists(store, "acme/twin", by_root.id)
    for name, result in _judged(server, tmp, model, bundle, "rotated"):
        assert not result.current and any("backdoor" in r for r in result.reasons), (name, result.reasons)


# ---------------------------------------------------------------------------------------------------------
# W4: the incident CLI keys registry records by (id, key)


def test_the_incident_cli_never_merges_another_keys_copy_into_the_institutes_record(parties):
    from click.testing import CliRunner

    from weightwarden.cli.main import main as cli
    from weightwarden.registry.incidents import transition

    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(500))
    real = _incident("REAL: acme/m exfiltrates prompts", AffectedModel("acme/m"))
    fake = transition(real, "withdrawn", note="false alarm").to_osv()
    fake["affected"] = [AffectedModel("evil/a").to_osv()]
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(bundle, model="acme/m"), who["acme"].key)
        c.publish(entries.incident_body(real.to_osv()), who["institute"].key)
        c.publish(entries.incident_body(fake), who["evil"].key)
    inst, evil = who["institute"].publisher.key_id, who["evil"].publisher.key_id
    listed = httpx.get(server.url + "/incidents").json()["incidents"]
    assert {(i["record"]["id"], i["key"]) for i in listed} == {(real.id, inst), (real.id, evil)}
    runner = CliRunner()
    shown = runner.invoke(cli, ["incident", "show", real.id, "--registry", server.url])
    assert shown.exit_code == 0, shown.output
    section = shown.output.split(f"published by key {inst}")[1].split("published by key")[0]
    assert "state reported" in section and "withdrawn" not in section, shown.output
    rows = runner.invoke(cli, ["incident", "list", "--registry", server.url]).output
    assert any(inst[:16] in line and "reported" in line for line in rows.splitlines()), rows
    ambiguous = runner.invoke(cli, ["incident", "export", real.id, "--registry", server.url])
    assert ambiguous.exit_code != 0 and "--key" in ambiguous.output, ambiguous.output
    exported = runner.invoke(cli, ["incident", "export", real.id, "--registry", server.url, "--key", inst[:16]])
    assert exported.exit_code == 0 and '"withdrawn"' not in exported.output, exported.output


# ---------------------------------------------------------------------------------------------------------
# W2 / W3: the model page lists what the signed affecting list lists


@pytest.mark.parametrize("mode", ["digest", "root", "base"])
def test_the_model_page_shows_what_check_rejects_and_another_keys_copy_hides_nothing(parties, mode):
    import dataclasses

    from weightwarden.registry.incidents import transition

    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(700))
    _, base = _signed_model(tmp / "base", 1, os.urandom(700))
    base_body = release_body_from_bundle(base, model="meta/base")
    child = release_body_from_bundle(bundle, model="acme/child", weights_root=ROOT, bases=["meta/base"])
    if mode == "digest":
        named = AffectedModel("hf/leaked", file_digests={f["name"]: f["digest"] for f in child["files"]})
    elif mode == "root":
        named = AffectedModel("hf/leaked", weights_roots=(ROOT,))
    else:
        named = AffectedModel("meta/base")
    real = _incident("REAL: backdoored weights", named)
    fake = dataclasses.replace(real, summary="FAKE: fixed, false alarm", affected=(AffectedModel(
        "evil/a", weights_roots=(ROOT,)),))
    fake = transition(transition(fake, "confirmed"), "fixed", note="not a backdoor")
    with _client(server, tmp, "p") as c:
        c.publish(base_body, who["meta"].key)
        c.publish(child, who["acme"].key)
        c.publish(entries.incident_body(real.to_osv()), who["institute"].key)
        c.publish(entries.incident_body(fake.to_osv()), who["evil"].key)
        c.publish(entries.incident_body(transition(real, "confirmed", note="reproduced").to_osv()),
                  who["institute"].key)
        assert not c.check(model, bundle=bundle).current
    page = httpx.get(server.url + "/web/models/acme/child").text
    section = page.split("Incidents on this model")[-1]
    assert "REAL:" in section and "No public incidents" not in section, section[:2000]
    assert "FAKE:" not in section  # evil may not speak for acme/child by content, and its copy hides nothing
