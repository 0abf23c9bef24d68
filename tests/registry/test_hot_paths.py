"""The registry's fast paths (issue 13, load) answer exactly what the FastAPI routes answer, on SQLite and
PostgreSQL: inclusion proofs from memory, full tiles from memory, POST /entries (every refusal too), and the
sequencer's batch proofs equal one proof at a time."""

from __future__ import annotations

import base64
import random

import pytest
from fastapi.testclient import TestClient

from tests.registry.service import ORIGIN, make_publisher, pending_write, release
from weightwarden.core.merkle import leaf_hash
from weightwarden.registry import entries, tlog
from weightwarden.registry.note import open_checkpoint
from weightwarden.registry.server import ServerSettings, create_app


def test_batch_inclusion_proofs_equal_single_proofs() -> None:
    rng = random.Random(13)
    for size in [1, 2, 3, 7, 8, 9, 255, 256, 257, 1000, 4097]:
        hashes = tlog.MemoryHashStore()
        for i in range(size):
            hashes.append(f"entry {i}".encode())
        start = rng.randrange(size)
        wanted = list(range(start, size)) + [rng.randrange(size) for _ in range(5)]
        assert tlog.inclusion_proofs(size, wanted, hashes) == [tlog.inclusion_proof(size, i, hashes) for i in wanted]
    with pytest.raises(tlog.ProofError):
        tlog.inclusion_proofs(3, [0, 3], hashes)


@pytest.fixture
def app_and_store(store, log_keys):
    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    app = create_app(store, log_keys, ServerSettings(max_body_bytes=50_000, write_rate=10_000, write_burst=10_000))
    with TestClient(app) as client:
        yield client, store, log_keys, acme


def _post(client, pub, body: dict, **kwargs):
    raw = entries.canonical(body)
    headers = {**pub.headers(raw), "Content-Type": "application/json"}
    headers.update(kwargs.pop("headers", {}))
    return client.post("/entries", content=kwargs.pop("content", raw), headers=headers)


def test_inclusion_proof_from_memory_is_the_routes_answer(app_and_store) -> None:
    client, store, keys, acme = app_and_store
    answers = [_post(client, acme, release("acme/a", v)) for v in range(1, 40)]
    assert all(a.status_code == 201 for a in answers)
    size = answers[-1].json()["tree_size"]
    cp, _ = open_checkpoint(client.get("/checkpoint").content, keys.note_signer.verifier(), ORIGIN)
    assert cp.size == size
    for i in (0, 17, size - 1):
        fast = client.get(f"/proof/inclusion?index={i}&tree_size={size}")  # the fast path's query form
        assert store.cached_inclusion_proof(i, size) is not None  # (so it was answered from memory)
        routed = client.get(f"/proof/inclusion?tree_size={size}&index={i}")  # another form: FastAPI's route
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content and fast.headers["content-type"] == routed.headers["content-type"]
        again = client.get(f"/proof/inclusion?index={i}&tree_size={size}")  # from the answer cache
        assert again.content == fast.content
        data = base64.b64decode(client.get(f"/entries/{i}").json()["data"])
        tlog.verify_inclusion(leaf_hash(data), i, size, cp.root_hash,
                              [base64.b64decode(h) for h in fast.json()["proof"]])
    # what the fast path cannot answer from memory goes to the route, which decides as before
    assert client.get(f"/proof/inclusion?index={size}&tree_size={size}").status_code == 404
    assert client.get(f"/proof/inclusion?index=0&tree_size={size + 5}").status_code == 404
    assert client.get("/proof/inclusion?index=0&tree_size=0").status_code == 422
    assert client.get("/proof/inclusion?index=-1&tree_size=3").status_code == 422
    assert client.get(f"/proof/inclusion?index=0&tree_size={2**63}").status_code == 422
    assert client.get("/proof/inclusion?index=00&tree_size=3").json()["index"] == 0


def test_full_tile_from_memory_is_the_routes_answer(app_and_store) -> None:
    client, store, keys, acme = app_and_store
    writes = [pending_write(acme, release("acme/t", v)) for v in range(1, 301)]
    store.append_batch(writes)
    first = client.get("/tile/0/000")  # the route reads it and caches it
    assert store.cached_full_tile(__import__("weightwarden.registry.tiles", fromlist=["Tile"]).Tile(0, 0)) is not None
    second = client.get("/tile/0/000")  # from memory
    assert first.content == second.content and len(second.content) == 256 * 32
    assert first.headers["cache-control"] == second.headers["cache-control"]
    assert first.headers["content-type"] == second.headers["content-type"]
    assert client.get("/tile/0/000.p/256").status_code == 404  # not canonical: the route refuses it


def test_post_entries_fast_path_refuses_as_the_route_did(app_and_store) -> None:
    client, store, keys, acme = app_and_store
    ok = _post(client, acme, release("acme/p", 1))
    assert ok.status_code == 201 and set(ok.json()) == {"index", "tree_size", "checkpoint", "inclusion_proof"}
    body = release("acme/p", 2)
    raw = entries.canonical(body)
    # unsigned
    r = client.post("/entries", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and "unsigned" in r.json()["error"]
    # wrong namespace
    r = _post(client, acme, release("other/p", 1))
    assert r.status_code == 403
    # replayed: the same signed request twice
    headers = {**acme.headers(raw), "Content-Type": "application/json"}
    assert client.post("/entries", content=raw, headers=headers).status_code == 201
    r = client.post("/entries", content=raw, headers=headers)
    assert r.status_code == 409 and "replayed" in r.json()["error"]
    # oversized: declared and streamed
    big = b"{" + b" " * 60_000 + b"}"
    r = client.post("/entries", content=big, headers={**acme.headers(big), "Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/entries", content=iter([big[:30_000], big[30_000:]]), headers=acme.headers(big))
    assert r.status_code == 413
    # malformed: not canonical, not JSON, unknown schema
    pretty = b'{"schema": "x"}'
    assert client.post("/entries", content=pretty, headers=acme.headers(pretty)).status_code == 422
    junk = b"not json"
    assert client.post("/entries", content=junk, headers=acme.headers(junk)).status_code == 422
    # signed for another path (the query is part of what is signed)
    r = client.post("/entries?x=1", content=entries.canonical(release("acme/p", 3)),
                    headers=acme.headers(entries.canonical(release("acme/p", 3))))
    assert r.status_code == 401 and "signature" in r.json()["error"]
    # other methods on the path still go to FastAPI
    assert client.get("/entries").status_code in (404, 405)


def test_proofs_from_the_range_memo_equal_the_definition(store, log_keys) -> None:
    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    reference = tlog.MemoryHashStore()
    sizes = []
    for start in range(0, 600, 150):  # four batches: four committed tree sizes
        results = store.append_batch([pending_write(acme, release("acme/m", v)) for v in range(start + 1, start + 151)])
        sizes.append(results[-1].tree_size)
    for i in range(sizes[-1]):
        reference.append(store.entry(i))
    rng = random.Random(5)
    for size in sizes + sizes:  # the second round is answered from memoised ranges
        for index in [0, size - 1] + [rng.randrange(size) for _ in range(20)]:
            found = store.cached_inclusion_proof(index, size)
            assert found is not None and found == (size, tlog.inclusion_proof(size, index, reference))
