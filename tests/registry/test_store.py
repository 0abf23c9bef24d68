"""The registry store on SQLite and PostgreSQL: sequencing, the log's hashes/tiles/checkpoints against an
in-memory tree, rules on what may be appended, replay protection, model-line views, several writers."""

from __future__ import annotations

import threading

import pytest

from tests.registry.service import ORIGIN, make_publisher, release
from tests.registry.service import pending_write as _write
from weightwarden.core.errors import ConfigError
from weightwarden.core.merkle import leaf_hash
from weightwarden.registry import auth, entries, tiles, tlog
from weightwarden.registry.logkeys import load_or_create
from weightwarden.registry.note import Checkpoint, open_checkpoint
from weightwarden.registry.store import Appended, Rejected, Store


def _log_entries(store: Store) -> list[bytes]:
    return [store.entry(i) for i in range(store.size())]


def test_appends_build_the_same_tree_as_an_independent_memory_log(store, log_keys):
    pub = make_publisher()
    writes = [_write(pub, release(version=v)) for v in range(1, 301)]
    results = []
    for start in range(0, 300, 97):  # uneven batches
        results += store.append_batch(writes[start:start + 97])
    assert [r.index for r in results] == list(range(300))
    memory = tlog.MemoryHashStore()
    for data in _log_entries(store):
        memory.append(data)
    checkpoint, _ = open_checkpoint(store.checkpoint(), log_keys.note_signer.verifier(), ORIGIN)
    assert (checkpoint.size, checkpoint.root_hash) == (300, memory.root())
    # tiles: every hash tile and entry bundle equals what the in-memory tree gives
    for tile in tiles.tiles_for_size(300):
        assert store.tile(tile) == tiles.read_tile_data(tile, memory)
    assert tiles.decode_entry_bundle(store.tile(tiles.Tile(tiles.ENTRIES_LEVEL, 1, 44)), 44) == \
        _log_entries(store)[256:300]
    # proofs verify against the signed root
    size, proof = store.inclusion_proof(123)
    tlog.verify_inclusion(leaf_hash(store.entry(123)), 123, size, checkpoint.root_hash, proof)
    old_root = memory.root(77)
    _, cproof = store.consistency_proof(77, 300)
    tlog.verify_consistency(77, 300, old_root, checkpoint.root_hash, cproof)


def test_every_acknowledged_append_carries_a_checkpoint_that_includes_it(store, log_keys):
    pub = make_publisher()
    results = store.append_batch([_write(pub, release(version=v)) for v in (1, 2, 3)])
    for r in results:
        assert isinstance(r, Appended)
        cp, _ = open_checkpoint(r.checkpoint, log_keys.note_signer.verifier(), ORIGIN)
        assert cp.size == r.tree_size == 3
        _, proof = store.inclusion_proof(r.index, r.tree_size)
        tlog.verify_inclusion(leaf_hash(store.entry(r.index)), r.index, cp.size, cp.root_hash, proof)


def test_logged_entry_binds_the_publisher_signature(store):
    pub = make_publisher()
    body = release()
    [r] = store.append_batch([_write(pub, body)])
    logged = entries.parse_logged(store.entry(r.index))
    assert logged["body"] == body and logged["publisher"]["key_id"] == pub.publisher.key_id
    req = logged["request"]
    import base64

    message = auth.request_message(ORIGIN, req["method"], req["path"], req["timestamp"], req["nonce"],
                                   entries.canonical(logged["body"]))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(base64.b64decode(logged["publisher"]["public_key"])).verify(
        base64.b64decode(req["signature"]), message)  # raises if it does not verify


@pytest.mark.parametrize("case", ["same-version", "lower-version", "same-bundle", "revoke-unknown",
                                  "revoke-other-line", "revoke-twice", "supersede-down", "audit-unknown"])
def test_appends_that_contradict_the_log_are_rejected(store, case):
    pub = make_publisher()
    v1, v2 = release(version=1), release(version=2)
    assert all(isinstance(r, Appended) for r in store.append_batch([_write(pub, v1), _write(pub, v2)]))
    other = release("acme/other", 1)
    store.append_batch([_write(pub, other)])
    revoke = entries.revocation_body(model="acme/smol", release=v1["bundle"], reason="bad")
    attestation = {"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": [{"sig": "AA=="}]}
    bad = {
        "same-version": release(version=2, seed=9),
        "lower-version": release(version=1, seed=9),
        "same-bundle": release(version=3) | {"bundle": v1["bundle"]},
        "revoke-unknown": entries.revocation_body(model="acme/smol", release="sha256:" + "0" * 64, reason="x"),
        "revoke-other-line": entries.revocation_body(model="acme/smol", release=other["bundle"], reason="x"),
        "revoke-twice": revoke,
        "supersede-down": entries.supersession_body(model="acme/smol", old=v2["bundle"], new=v1["bundle"]),
        "audit-unknown": entries.audit_body(model="acme/smol", release="sha256:" + "1" * 64,
                                            attestation=attestation),
    }[case]
    if case == "revoke-twice":
        assert isinstance(store.append_batch([_write(pub, revoke)])[0], Appended)
    size = store.size()
    [result] = store.append_batch([_write(pub, bad)])
    assert isinstance(result, Rejected) and result.status in (409, 422), result
    assert store.size() == size


def test_nonce_is_single_use_within_and_across_batches(store):
    pub = make_publisher()
    nonce = "ab" * 16
    first = _write(pub, release(version=1), nonce=nonce)
    second = _write(pub, release(version=2), nonce=nonce)
    r1, r2 = store.append_batch([first, second])
    assert isinstance(r1, Appended) and isinstance(r2, Rejected) and r2.status == 409
    [r3] = store.append_batch([_write(pub, release(version=3), nonce=nonce)])
    assert isinstance(r3, Rejected) and "replayed" in r3.reason
    # the same nonce under another key is that key's own
    other = make_publisher()
    [r4] = store.append_batch([_write(other, release("acme/x", 1), nonce=nonce)])
    assert isinstance(r4, Appended)


def test_model_line_view_statuses(store):
    pub = make_publisher()
    v1, v2, v3 = (release(version=v) for v in (1, 2, 3))
    store.append_batch([_write(pub, b) for b in (v1, v2, v3)])
    store.append_batch([_write(pub, entries.revocation_body(model="acme/smol", release=v3["bundle"],
                                                            reason="backdoor", incident="x_WW-2026-01"))])
    view = store.model_view("acme/smol")
    status = {r["version"]: r["status"] for r in view["releases"]}
    assert status == {1: "superseded", 2: "current", 3: "revoked"}
    assert view["latest"] == v2["bundle"]
    assert view["releases"][2]["revoked"]["reason"] == "backdoor"
    assert store.release_by_bundle(v2["bundle"])["version"] == 2
    assert [r["index"] for r in store.releases_by_subject(v1["subject"]["sha256"])] == [0]


def test_two_writers_on_one_database_never_share_an_index(db_url, log_keys):
    a = Store.open(db_url, log_keys.checkpoint_signer())
    b = Store.open(db_url, log_keys.checkpoint_signer())
    pubs = [make_publisher(("acme/*",)) for _ in range(2)]
    results: list = []
    lock = threading.Lock()

    def work(store: Store, pub, model: str) -> None:
        for v in range(1, 41):
            [r] = store.append_batch([_write(pub, release(model, v))])
            with lock:
                results.append(r)

    threads = [threading.Thread(target=work, args=(s, p, m)) for s, p, m in
               ((a, pubs[0], "acme/a"), (b, pubs[1], "acme/b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.index for r in results) == list(range(80))
    memory = tlog.MemoryHashStore()
    for i in range(80):
        memory.append(a.entry(i))
    cp = Checkpoint.parse(open_checkpoint(b.checkpoint(), log_keys.note_signer.verifier(), ORIGIN)[0].to_text())
    assert cp.root_hash == memory.root()
    a.close()
    b.close()


def test_reopening_with_another_log_key_is_refused(db_url, log_keys, tmp_path):
    Store.open(db_url, log_keys.checkpoint_signer()).close()
    Store.open(db_url, log_keys.checkpoint_signer()).close()  # migrations are idempotent
    other = load_or_create(tmp_path / "other-keys", ORIGIN)
    with pytest.raises(ConfigError, match="not signed by this log key"):
        Store.open(db_url, other.checkpoint_signer())
    renamed = load_or_create(tmp_path / "renamed", "elsewhere.example/log")
    with pytest.raises(ConfigError, match="holds the log"):
        Store.open(db_url, renamed.checkpoint_signer())


def test_reads_beyond_the_tree_are_refused(store):
    from weightwarden.registry.store import StoreError

    pub = make_publisher()
    store.append_batch([_write(pub, release(version=v)) for v in (1, 2)])
    for call in (lambda: store.tile(tiles.Tile(0, 0, 3)), lambda: store.tile(tiles.Tile(tiles.ENTRIES_LEVEL, 0, 3)),
                 lambda: store.inclusion_proof(2), lambda: store.consistency_proof(1, 3), lambda: store.entry(5)):
        with pytest.raises(StoreError):
            call()


def test_static_export_is_what_an_independent_verifier_accepts(store, log_keys, tmp_path):
    """`registry export` writes a tlog-tiles folder; the spec-only verifier (tests/registry/
    independent_verifier.py, hashlib + cryptography) accepts it, before and after the log grows."""
    import subprocess
    import sys
    from pathlib import Path

    verifier = Path(__file__).parent / "independent_verifier.py"
    pub = make_publisher()
    vkey = log_keys.note_signer.verifier().vkey()
    out = tmp_path / "static"
    for first, last in ((1, 260), (260, 530)):
        store.append_batch([_write(pub, release(version=v)) for v in range(first, last)])
        size = store.export_static(out)
        result = subprocess.run([sys.executable, str(verifier), str(out), "--log-key", vkey],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith(f"OK: {size} entries")


def test_audits_and_explicit_supersessions_show_in_the_view(store):
    import base64

    pub = make_publisher()
    v1, v2 = release(version=1), release(version=2)
    statement = base64.b64encode(b'{"_type":"https://in-toto.io/Statement/v1"}').decode()
    attestation = {"payload": statement, "payloadType": "application/vnd.in-toto+json",
                   "signatures": [{"keyid": "auditor", "sig": base64.b64encode(b"s" * 64).decode()}]}
    results = store.append_batch([
        _write(pub, v1), _write(pub, v2),
        _write(pub, entries.audit_body(model="acme/smol", release=v1["bundle"], attestation=attestation)),
        _write(pub, entries.supersession_body(model="acme/smol", old=v1["bundle"], new=v2["bundle"],
                                              reason="fixes the template")),
    ])
    assert all(isinstance(r, Appended) for r in results)
    view = store.model_view("acme/smol")
    first = view["releases"][0]
    assert first["audits"] == [2] and first["superseded_by"] == {"index": 3, "bundle": v2["bundle"]}
    assert first["status"] == "superseded" and view["latest"] == v2["bundle"]
    logged = entries.parse_logged(store.entry(2))["body"]["attestation"]
    assert logged == attestation  # stored as given
    with pytest.raises(entries.EntryError, match="DSSE"):
        entries.audit_body(model="acme/smol", release=v1["bundle"], attestation={"payload": statement})
    # the Sigstore bundle `weightwarden audit --format intoto --sign-key` writes is accepted as it is
    bundle = {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
              "verificationMaterial": {"publicKey": {"hint": "ab"}, "tlogEntries": []}, "dsseEnvelope": attestation}
    [r] = store.append_batch([_write(pub, entries.audit_body(model="acme/smol", release=v2["bundle"],
                                                             attestation=bundle))])
    assert isinstance(r, Appended) and entries.parse_logged(store.entry(r.index))["body"]["attestation"] == bundle
    with pytest.raises(entries.EntryError, match="dsseEnvelope"):
        entries.audit_body(model="acme/smol", release=v2["bundle"], attestation={**bundle, "dsseEnvelope": {}})


@pytest.mark.parametrize("prefetch", [65_536, 3])
def test_alternating_writers_read_each_others_hashes_and_rows(db_url, log_keys, monkeypatch, prefetch):
    """Two stores (two API workers) take turns: each batch starts by reading, with the tree head, the hashes
    and rows the other one committed (issue 13, third pass); with a tiny prefetch bound the rest comes through
    the per-hash fallback. Every acknowledgement's proof verifies, the tree is the in-memory one, and the
    checks see the other writer's rows (replayed nonce, version not above the other's, bundle already logged)."""
    from weightwarden.registry import store as store_module

    monkeypatch.setattr(store_module, "_PREFETCH_HASHES", prefetch)
    a = Store.open(db_url, log_keys.checkpoint_signer())
    b = Store.open(db_url, log_keys.checkpoint_signer())
    pub = make_publisher(("acme/*",))
    verifier = log_keys.note_signer.verifier()
    version = 0
    for turn, n in enumerate([1, 5, 2, 17, 1, 1, 40, 3, 9, 1]):
        writer = (a, b)[turn % 2]
        writes = [_write(pub, release("acme/alt", version + 1 + i)) for i in range(n)]
        version += n
        results = writer.append_batch(writes)
        for r in results:
            assert isinstance(r, Appended), r
            cp, _ = open_checkpoint(r.checkpoint, verifier, ORIGIN)
            tlog.verify_inclusion(leaf_hash(writer.entry(r.index)), r.index, cp.size, cp.root_hash, list(r.proof))
        other = (b, a)[turn % 2]
        replay, old, same_bundle = other.append_batch([
            writes[0],  # the same signed request: its nonce is used
            _write(pub, release("acme/alt", version, seed=7)),  # not above the latest version
            _write(pub, {**release("acme/alt", version + 100), "bundle": writes[-1].body.data["bundle"]})])
        assert isinstance(replay, Rejected) and replay.status == 409 and "replayed" in replay.reason
        assert isinstance(old, Rejected) and "not above the latest" in old.reason
        assert isinstance(same_bundle, Rejected) and "already logged" in same_bundle.reason
    memory = tlog.MemoryHashStore()
    for i in range(a.size()):
        memory.append(a.entry(i))
    for s in (a, b):
        cp, _ = open_checkpoint(s.checkpoint(), verifier, ORIGIN)
        assert (cp.size, cp.root_hash) == (version, memory.root())
    a.close()
    b.close()


def test_batch_proofs_after_the_commit_need_no_database_read(db_url, log_keys, monkeypatch):
    """The sequencer computes a batch's inclusion proofs after its commit (the writers' lock is not held for
    them) from the hashes the transaction wrote or read: with the process cache emptied and no prefetch before a
    batch, or the cache emptied by the batch's own commit, at every tree size and batch size tried here, none is
    missing (its database fallback, which could fail after the commit, is never used); every proof verifies."""
    from weightwarden.registry import store as store_module

    fallbacks = []
    real = store_module._Committed.read_hashes

    def counting(self, indexes):
        if not all(i in self.overlay for i in indexes):
            fallbacks.append(indexes)
        return real(self, indexes)

    monkeypatch.setattr(store_module._Committed, "read_hashes", counting)
    store = Store.open(db_url, log_keys.checkpoint_signer())
    pub = make_publisher(("acme/*",))
    verifier = log_keys.note_signer.verifier()
    version = 0
    for turn, n in enumerate([1, 1, 2, 3, 1, 7, 8, 16, 1, 5, 31, 33, 2, 64, 1, 9, 100]):
        if turn % 2:  # every hash from the database inside the transaction
            store._hash_cache.clear()
            store._filled_upto = 0
            store._seq_hashes = 0
        else:  # from the cache, which is emptied when the commit's hashes go in (bounded cache)
            monkeypatch.setattr(store_module, "_HASH_CACHE_MAX", len(store._hash_cache) + 1)
        results = store.append_batch([_write(pub, release("acme/p", version + 1 + i)) for i in range(n)])
        version += n
        for r in results:
            assert isinstance(r, Appended)
            cp, _ = open_checkpoint(r.checkpoint, verifier, ORIGIN)
            tlog.verify_inclusion(leaf_hash(store.entry(r.index)), r.index, cp.size, cp.root_hash, list(r.proof))
    assert fallbacks == []
    store.close()


def test_a_nonce_is_used_per_key_even_when_a_batch_mixes_keys_and_nonces(store):
    """The sequencer looks the batch's (key, nonce) pairs up through the nonces table's primary key; a nonce
    another key used, or a key's other nonce, is not a replay, in any mix within one batch."""
    a, b = make_publisher(("acme/*",)), make_publisher(("acme/*",), name="b")
    x, y = "ab" * 16, "cd" * 16
    [first] = store.append_batch([_write(a, release("acme/k", 1), nonce=y)])  # (a, y) used
    assert isinstance(first, Appended)
    results = store.append_batch([_write(a, release("acme/k", 2), nonce=x),   # (a, x): new
                                  _write(b, release("acme/k2", 1), nonce=y),  # (b, y): new, although a used y
                                  _write(a, release("acme/k", 3), nonce=y)])  # (a, y): replay
    assert [type(r).__name__ for r in results] == ["Appended", "Appended", "Rejected"]
    assert results[2].status == 409 and "replayed" in results[2].reason
