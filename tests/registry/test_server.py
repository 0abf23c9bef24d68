"""The HTTP API on SQLite and PostgreSQL: what it serves verifies with the log library; the OpenAPI schema
fuzzed (no 5xx); the server killed with SIGKILL during concurrent signed appends loses nothing it
acknowledged and stays consistent with every checkpoint it handed out."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.registry.service import ORIGIN, free_port, make_publisher, pending_write, release
from weightwarden.core.merkle import leaf_hash
from weightwarden.registry import entries, tiles, tlog
from weightwarden.registry.note import open_checkpoint
from weightwarden.registry.server import ServerSettings, create_app
from weightwarden.registry.store import Store


@pytest.fixture
def seeded(store, log_keys):
    """An app over a log of 300 entries (releases of two lines, one revocation)."""
    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    client = TestClient(create_app(store, log_keys, ServerSettings(write_rate=10_000, write_burst=10_000)))
    writes = [pending_write(acme, release("acme/a" if v % 2 else "acme/b", v)) for v in range(1, 301)]
    for start in range(0, 300, 100):
        store.append_batch(writes[start:start + 100])
    with client:
        yield client, store, log_keys, acme


def _b64s(values):
    return [base64.b64decode(v) for v in values]


def test_served_log_verifies_with_the_log_library(seeded):
    client, store, keys, acme = seeded
    verifier = keys.note_signer.verifier()
    cp, _ = open_checkpoint(client.get("/checkpoint").content, verifier, ORIGIN)
    assert cp.size == 300
    # tiles → a TileHashReader rebuilds the root and proofs
    reader = tiles.TileHashReader(cp.size, lambda t: client.get("/" + t.path()).content)
    assert tlog.tree_hash(cp.size, reader) == cp.root_hash
    full = client.get("/tile/0/000")
    assert full.headers["cache-control"].endswith("immutable") and len(full.content) == 256 * 32
    assert client.get("/tile/0/001.p/44").headers["cache-control"] == "no-cache"
    bundle = tiles.decode_entry_bundle(client.get("/tile/entries/001.p/44").content, 44)
    for i in (0, 1, 299):
        data = base64.b64decode(client.get(f"/entries/{i}").json()["data"])
        proof = client.get("/proof/inclusion", params={"index": i}).json()
        tlog.verify_inclusion(leaf_hash(data), i, proof["tree_size"], cp.root_hash, _b64s(proof["proof"]))
    assert bundle[-1] == base64.b64decode(client.get("/entries/299").json()["data"])
    cons = client.get("/proof/consistency", params={"old": 100, "new": 300}).json()
    tlog.verify_consistency(100, 300, tlog.tree_hash(100, reader), cp.root_hash, _b64s(cons["proof"]))
    # offline proof file (C2SP tlog-proof)
    from weightwarden.registry.proof_file import verify_proof

    data7 = base64.b64decode(client.get("/entries/7").json()["data"])
    checked, _ = verify_proof(client.get("/proof/file/7").content, data7, verifier, origin=ORIGIN)
    assert checked.size == 300


def test_bad_reads_are_4xx(seeded):
    client, *_ = seeded
    for path in ("/tile/0/002", "/tile/0/001.p/45", "/tile/entries/x001", "/tile/9/000", "/tile/0/000.p/0",
                 "/tile/0/000.p/256", "/entries/300", "/entries/-1", "/proof/inclusion?index=300",
                 "/proof/consistency?old=301", "/models/acme/nothing-here/x", "/releases/sha256:zz",
                 "/current/acme/none", "/proof/file/301"):
        r = client.get(path)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)


def test_model_views_and_the_signed_current_view(seeded):
    client, store, keys, acme = seeded
    view = client.get("/models/acme/a").json()
    assert [r["status"] for r in view["releases"]][-2:] == ["superseded", "current"]
    newest = view["releases"][-1]
    raw = entries.canonical(entries.revocation_body(model="acme/a", release=newest["bundle"], reason="broken"))
    assert client.post("/entries", content=raw, headers=acme.headers(raw)).status_code == 201
    view = client.get("/models/acme/a").json()
    assert view["releases"][-1]["status"] == "revoked" and view["latest"] == view["releases"][-2]["bundle"]
    from cryptography.hazmat.primitives import serialization

    from weightwarden.registry.freshness import verify_current_view

    pem = client.get("/log").json()["view_key"].encode()
    verified = verify_current_view(client.get("/current/acme/a").content,
                                   serialization.load_pem_public_key(pem), model_line="acme/a")
    assert verified.release.log_index == view["releases"][-2]["index"]
    assert client.get("/releases", params={"subject": newest["subject_sha256"]}).json()["releases"][0]["index"] == \
        newest["index"]


def test_openapi_fuzz_never_5xx(seeded):
    """schemathesis generates requests from the app's own OpenAPI schema; none may cause a 5xx."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    client, *_ = seeded
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: list[str] = []
    for op in schema.get_all_operations():
        operation = op.ok()
        strategy = operation.as_strategy()

        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case):
            response = case.call()
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}")

        run()
    assert not failures, failures[:10]


# ------------------------------------------------------------------------------------------------------
# crash safety: SIGKILL the server (all its workers) during concurrent signed appends


def _serve(db_url: str, keys_dir: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-c", "from weightwarden.cli.main import run; run()", "registry", "serve", "--db", db_url,
           "--keys", keys_dir, "--port", str(port), "--workers", "2", "--write-rate", "100000",
           "--write-burst", "100000"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/log", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def test_kill_9_during_concurrent_appends_loses_nothing_acknowledged(db_url, log_keys, tmp_path):
    store = Store.open(db_url, log_keys.checkpoint_signer())
    pubs = [make_publisher(("acme/*",)) for _ in range(4)]
    for p in pubs:
        store.add_publisher(p.publisher)
    store.close()
    keys_dir = str(tmp_path / "keys")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    total_per_client, kill_after = 75, 120  # 300 appends; the kill lands after ~120 acknowledgements
    acked: list[tuple[int, dict, bytes]] = []
    lock = threading.Lock()
    up = threading.Event()
    next_version = [1] * len(pubs)

    def client(n: int, stop_at: int) -> None:
        pub = pubs[n]
        with httpx.Client(base_url=url, timeout=30) as http:
            while next_version[n] <= stop_at:
                body = release(f"acme/line{n}", next_version[n])
                raw = entries.canonical(body)
                try:
                    r = http.post("/entries", content=raw, headers=pub.headers(raw, origin=ORIGIN))
                except httpx.HTTPError:
                    next_version[n] += 1  # in flight at the kill: may or may not be logged, never acknowledged
                    return
                if r.status_code == 201:
                    a = r.json()
                    with lock:
                        acked.append((a["index"], body, a["checkpoint"].encode()))
                else:
                    assert r.status_code == 503, r.text
                next_version[n] += 1

    proc = _serve(db_url, keys_dir, port)
    up.set()
    threads = [threading.Thread(target=client, args=(n, total_per_client)) for n in range(len(pubs))]
    for t in threads:
        t.start()
    while len(acked) < kill_after and any(t.is_alive() for t in threads):
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for t in threads:
        t.join()
    killed_at = len(acked)
    assert killed_at < 300, "the kill came after every append finished: nothing was tested"

    proc = _serve(db_url, keys_dir, port)  # restart on the same database
    try:
        threads = [threading.Thread(target=client, args=(n, total_per_client)) for n in range(len(pubs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with httpx.Client(base_url=url, timeout=30) as http:
            verifier = log_keys.note_signer.verifier()
            final, _ = open_checkpoint(http.get("/checkpoint").content, verifier, ORIGIN)
            # nothing half-written: every entry bundle decodes and the entries hash to the signed root
            memory = tlog.MemoryHashStore()
            for n in range(0, final.size, 256):
                width = min(256, final.size - n)
                for data in tiles.decode_entry_bundle(
                        http.get("/" + tiles.Tile(tiles.ENTRIES_LEVEL, n // 256, width).path()).content, width):
                    entries.parse_logged(data)
                    memory.append(data)
            assert memory.root() == final.root_hash
            # every acknowledged append is there, at its index, with its body
            for index, body, _ in acked:
                assert entries.parse_logged(memory_entry(http, index))["body"] == body
            # the final tree is consistent with every checkpoint handed out
            for _, _, note in acked:
                cp, _ = open_checkpoint(note, verifier, ORIGIN)
                proof = http.get("/proof/consistency", params={"old": cp.size, "new": final.size}).json()["proof"]
                tlog.verify_consistency(cp.size, final.size, cp.root_hash, final.root_hash, _b64s(proof))
        assert len(acked) > killed_at
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def memory_entry(http: httpx.Client, index: int) -> bytes:
    return base64.b64decode(http.get(f"/entries/{index}").json()["data"])


def test_web_pages_read_the_store(seeded):
    client, store, keys, acme = seeded
    page = client.get("/web/")
    assert page.status_code == 200 and "300" in page.text
    line = client.get("/web/models/acme/a")
    assert line.status_code == 200 and "superseded" in line.text


def test_kill_9_of_postgresql_during_concurrent_appends_loses_nothing_acknowledged(log_keys, tmp_path):
    """The database server itself is killed (SIGKILL, postmaster and backends) and restarted while the
    registry keeps running: requests fail meanwhile (503), nothing acknowledged is lost, the log goes on."""
    from tests.registry.service import ThrowawayPostgres

    pg = ThrowawayPostgres()
    pg.start()
    try:
        store = Store.open(pg.url, log_keys.checkpoint_signer())
        pubs = [make_publisher(("acme/*",)) for _ in range(4)]
        for p in pubs:
            store.add_publisher(p.publisher)
        store.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _serve(pg.url, str(tmp_path / "keys"), port)
        acked: list[tuple[int, dict, bytes]] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def client(n: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as http:
                v = 1
                end = time.monotonic() + 60
                while v <= 30 and time.monotonic() < end:
                    body = release(f"acme/line{n}", v)
                    raw = entries.canonical(body)
                    try:
                        r = http.post("/entries", content=raw, headers=pubs[n].headers(raw))
                    except httpx.HTTPError:
                        continue
                    with lock:
                        statuses.append(r.status_code)
                        if r.status_code == 201:
                            a = r.json()
                            acked.append((a["index"], body, a["checkpoint"].encode()))
                    if r.status_code == 503:  # database down: retry this version (a new nonce) a bit later
                        time.sleep(0.1)
                        continue
                    v += 1  # 201, or 409: committed although the answer was lost

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        while len(acked) < 30:
            time.sleep(0.005)
        pg.kill9()
        time.sleep(1.0)  # requests meanwhile are refused, not acknowledged
        pg.start()  # crash recovery
        for t in threads:
            t.join()
        try:
            assert any(s >= 500 for s in statuses), "the database kill was not noticed: nothing tested"
            assert all(s in (201, 409, 503) for s in statuses), sorted(set(statuses))
            with httpx.Client(base_url=url, timeout=30) as http:
                verifier = log_keys.note_signer.verifier()
                final, _ = open_checkpoint(http.get("/checkpoint").content, verifier, ORIGIN)
                for index, body, note in acked:
                    assert entries.parse_logged(memory_entry(http, index))["body"] == body
                    cp, _ = open_checkpoint(note, verifier, ORIGIN)
                    proof = http.get("/proof/consistency", params={"old": cp.size, "new": final.size}).json()
                    tlog.verify_consistency(cp.size, final.size, cp.root_hash, final.root_hash, _b64s(proof["proof"]))
                assert len(acked) > 30  # the registry went on appending after the database came back
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        pg.stop()
