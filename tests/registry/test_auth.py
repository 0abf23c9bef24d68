r"""Write authentication, attacked as someone who read weightwarden/registry/auth.py, server.py and store.py.

Every refused case below must leave the log exactly as it was (0 entries accepted):

- unsigned: each of the four headers missing; all missing
- forged: signature by another key under a registered key id; signature bytes flipped; unknown key id;
  malformed key id / timestamp / nonce / base64
- scope: body swapped after signing; signed for another path, method, query string or registry (cross-log
  replay); key bound to ``acme/*`` writing ``evil/x``, ``acme-evil/x``, ``acmex/y``; a key without the role
  for the kind; an incident naming a line outside the key's namespaces
- replayed: the same request twice; a replay after the first was refused; a replay against a second worker
  (another Store on the same database); stale and future timestamps
- oversized: declared Content-Length over the limit; chunked body over the limit with no Content-Length;
  a body over the entry limit that still fits the request limit
- malformed (signed, so it reaches the parser): not JSON, not UTF-8, not canonical (spaces / key order),
  duplicate keys, NaN, deep nesting, unknown schema, wrong field types, model id with path tricks, ids with
  a trailing newline (a ``$`` regex accepted them: found in this review, fixed with ``\Z``), look-alike letters
- rate: a key over its write rate gets 429.
"""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from tests.registry.service import ORIGIN, make_publisher, release
from weightwarden.registry import auth, entries
from weightwarden.registry.server import ServerSettings, create_app
from weightwarden.registry.store import Store


@pytest.fixture
def service(store, log_keys):
    acme = make_publisher(("acme/*",))
    limited = make_publisher(("acme/*",), roles=("release",), name="release-only")
    store.add_publisher(acme.publisher)
    store.add_publisher(limited.publisher)
    with TestClient(create_app(store, log_keys, ServerSettings(max_body_bytes=100_000, write_rate=1000,
                                                               write_burst=1000))) as client:
        yield client, store, acme, limited


def _post(client, raw: bytes, headers: dict[str, str], path: str = "/entries"):
    return client.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})


def _refused(client, store, raw, headers, status, path="/entries"):
    before = store.size()
    r = _post(client, raw, headers, path)
    assert r.status_code == status, (r.status_code, r.text)
    assert "error" in r.json()
    assert store.size() == before, "a refused write changed the log"
    return r.json()["error"]


def test_a_signed_write_is_accepted(service):
    client, store, acme, _ = service
    raw = entries.canonical(release())
    r = _post(client, raw, acme.headers(raw))
    assert r.status_code == 201, r.text
    assert store.size() == 1


@pytest.mark.parametrize("missing", [auth.HEADER_KEY, auth.HEADER_TIMESTAMP, auth.HEADER_NONCE,
                                     auth.HEADER_SIGNATURE, "all"])
def test_unsigned(service, missing):
    client, store, acme, _ = service
    raw = entries.canonical(release())
    headers = acme.headers(raw)
    if missing == "all":
        headers = {}
    else:
        del headers[missing]
    assert "unsigned" in _refused(client, store, raw, headers, 401)


def test_forged_signatures(service):
    client, store, acme, _ = service
    raw = entries.canonical(release())
    mallory = make_publisher()  # not registered
    # signed by Mallory but claiming acme's key id
    forged = mallory.headers(raw)
    forged[auth.HEADER_KEY] = acme.publisher.key_id
    assert "bad request signature" in _refused(client, store, raw, forged, 401)
    # one bit of acme's own signature flipped
    headers = acme.headers(raw)
    sig = bytearray(base64.b64decode(headers[auth.HEADER_SIGNATURE]))
    sig[10] ^= 1
    headers[auth.HEADER_SIGNATURE] = base64.b64encode(bytes(sig)).decode()
    _refused(client, store, raw, headers, 401)
    # unknown key
    assert "unknown publisher" in _refused(client, store, raw, mallory.headers(raw), 401)
    # malformed header values
    for name, value in ((auth.HEADER_KEY, "ACME"), (auth.HEADER_TIMESTAMP, "-5"), (auth.HEADER_TIMESTAMP, "1e9"),
                        (auth.HEADER_NONCE, "short"), (auth.HEADER_NONCE, "ZZ" * 16),
                        (auth.HEADER_SIGNATURE, "!!!"), (auth.HEADER_SIGNATURE, base64.b64encode(b"x" * 63).decode())):
        headers = acme.headers(raw)
        headers[name] = value
        _refused(client, store, raw, headers, 401)


def test_signature_scope(service):
    client, store, acme, _ = service
    raw = entries.canonical(release())
    other_body = entries.canonical(release(version=2))
    # body swapped after signing
    _refused(client, store, other_body, acme.headers(raw), 401)
    # signed for another path / method / query / registry
    _refused(client, store, raw, acme.headers(raw, path="/entries/batch"), 401)
    _refused(client, store, raw, acme.headers(raw, method="PUT"), 401)
    _refused(client, store, raw, acme.headers(raw), 401, path="/entries?x=1")
    _refused(client, store, raw, acme.headers(raw, origin="other-registry.example/log"), 401)


@pytest.mark.parametrize("model", ["evil/x", "acme-evil/x", "acmex/y", "acm/e"])
def test_wrong_namespace(service, model):
    client, store, acme, _ = service
    raw = entries.canonical(release(model))
    assert "namespace" in _refused(client, store, raw, acme.headers(raw), 403)


def test_role_and_incident_scope(service):
    client, store, acme, limited = service
    raw = entries.canonical(release())
    assert _post(client, raw, acme.headers(raw)).status_code == 201
    revoke = entries.canonical(entries.revocation_body(model="acme/smol", release=release()["bundle"], reason="x"))
    assert "may not write revocation" in _refused(client, store, revoke, limited.headers(revoke), 403)
    from weightwarden.registry.incidents import AffectedModel, new_incident

    incident = new_incident(summary="s", affected=[AffectedModel("acme/smol"), AffectedModel("other/model")],
                            risk_domain="cyber.offense", severity="low")
    body = entries.canonical(entries.incident_body(incident.to_osv()))
    assert "namespace" in _refused(client, store, body, acme.headers(body), 403)


def test_replays(service, db_url, log_keys):
    client, store, acme, _ = service
    raw = entries.canonical(release())
    headers = acme.headers(raw)
    assert _post(client, raw, headers).status_code == 201
    assert "replayed" in _refused(client, store, raw, headers, 409)
    assert "replayed" in _refused(client, store, raw, headers, 409)
    # a second worker on the same database remembers the nonce too
    second = Store.open(db_url, log_keys.checkpoint_signer())
    with TestClient(create_app(second, log_keys)) as other_worker:
        assert "replayed" in _refused(other_worker, second, raw, headers, 409)
    second.close()
    # a refused request's nonce cannot be reused for a different body either
    raw2 = entries.canonical(release(version=2))
    _refused(client, store, raw2, acme.headers(raw2, nonce=headers[auth.HEADER_NONCE]), 409)
    # stale and future timestamps
    import time

    raw3 = entries.canonical(release(version=3))
    for skew in (-301, 301, -10**6):
        assert "timestamp" in _refused(client, store, raw3, acme.headers(raw3, timestamp=int(time.time()) + skew), 401)


def test_oversized(service):
    client, store, acme, _ = service
    big = entries.canonical(release() | {"subject": {"name": "x" * 200_000, "sha256": "a" * 64}})
    assert "limit" in _refused(client, store, big, acme.headers(big), 413)

    def chunks():
        for _ in range(30):
            yield b"x" * 10_000

    before = store.size()
    r = client.post("/entries", content=chunks(), headers=acme.headers(b"whatever"))
    assert r.status_code == 413 and store.size() == before
    # fits the request limit (100 kB) but not a log entry (64 KiB)
    body = release() | {"files": [{"name": f"f{i:05d}" + "n" * 60, "algorithm": "sha256", "digest": "c" * 64}
                                  for i in range(450)]}
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    assert len(raw) < 100_000
    _refused(client, store, raw, acme.headers(raw), 422)


@pytest.mark.parametrize("raw", [
    b"not json",
    b"\xff\xfe{}",
    b'{"schema": "weightwarden.registry.release/v1"}',
    json.dumps(release()).encode(),  # not canonical (spaces)
    b'{"schema":"weightwarden.registry.release/v1","schema":"x"}',
    b'{"a":NaN}',
    b"[" * 5000 + b"]" * 5000,
    entries.canonical({"schema": "weightwarden.registry.nope/v1", "model": "acme/x"}),
    entries.canonical(release() | {"version": "1"}),
    entries.canonical(release() | {"version": -1}),
    entries.canonical(release() | {"version": True}),
    entries.canonical(release() | {"model": "acme/../x"}),
    entries.canonical(release() | {"model": "acme/x/y"}),
    entries.canonical(release() | {"model": "acme/x\n"}),  # "$" would match before a final newline
    entries.canonical(release() | {"bundle": "sha256:" + "a" * 64 + "\n"}),
    entries.canonical(release() | {"model": "acme/\u0445"}),  # Cyrillic look-alike
    entries.canonical(release() | {"bundle": "sha256:XYZ"}),
    entries.canonical(release() | {"extra": 1}),
    entries.canonical({"schema": entries.AUDIT_SCHEMA, "model": "acme/smol", "release": "sha256:" + "a" * 64,
                       "attestation": {"payload": "not base64!", "payloadType": "x", "signatures": []}}),
], ids=lambda r: r[:40].decode("latin-1"))
def test_malformed(service, raw):
    client, store, acme, _ = service
    _refused(client, store, raw, acme.headers(raw), 422)


def test_rate_limit(store, log_keys):
    acme = make_publisher()
    store.add_publisher(acme.publisher)
    with TestClient(create_app(store, log_keys, ServerSettings(write_rate=0.001, write_burst=2))) as client:
        codes = []
        for v in range(1, 5):
            raw = entries.canonical(release(version=v))
            codes.append(_post(client, raw, acme.headers(raw)).status_code)
    assert codes == [201, 201, 429, 429]
    assert store.size() == 2


def test_namespace_patterns():
    assert auth.pattern_matches("acme/*", "acme/x")
    assert not auth.pattern_matches("acme/*", "acme-evil/x")
    assert not auth.pattern_matches("acme/*", "acmex/x")
    assert not auth.pattern_matches("acme/x", "acme/xy")
    assert auth.pattern_matches("*", "any/thing")
    for bad in ("acme", "acme/", "/x", "ACME/*", "acme/*/x", "a*/x", ""):
        with pytest.raises(Exception):  # noqa: B017 - InputError
            auth.check_namespace_pattern(bad)


def test_reads_need_no_signature(service):
    client, store, acme, _ = service
    assert client.get("/checkpoint").status_code == 200
    assert client.get("/log").json()["origin"] == ORIGIN


def test_batch_items_are_checked_one_by_one(service):
    client, store, acme, _ = service
    good = entries.canonical(release(version=1))
    headers = acme.headers(good)
    unsigned = entries.canonical(release(version=2))
    other_ns = entries.canonical(release("evil/x", 1))
    items = [{"headers": headers, "body": base64.b64encode(good).decode()},
             {"headers": {}, "body": base64.b64encode(unsigned).decode()},
             {"headers": headers, "body": base64.b64encode(good).decode()},  # replay inside the batch
             {"headers": acme.headers(other_ns), "body": base64.b64encode(other_ns).decode()},
             {"headers": headers, "body": base64.b64encode(unsigned).decode()}]  # body swapped
    r = client.post("/entries/batch", json={"requests": items})
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [201, 401, 409, 403, 401]
    assert store.size() == 1
    for bad in ({"requests": []}, {"requests": [{"headers": {}, "body": "!!"}]}, {"nope": 1}, [1]):
        assert client.post("/entries/batch", json=bad).status_code == 422
    before = store.size()
    r = client.post("/entries/batch", content=b"x" * (9 * 1024 * 1024))
    assert r.status_code == 413 and store.size() == before
