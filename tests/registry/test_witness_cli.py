"""`weightwarden witness` commands and the witness's HTTP server (real sockets on 127.0.0.1)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.cli.main import main
from weightwarden.registry import tiles, tlog
from weightwarden.registry.note import CheckpointSigner, NoteSigner
from weightwarden.registry.witness import CosignatureSigner, Witness, format_add_checkpoint, verify_cosigned
from weightwarden.registry.witness_server import make_witness_server, origin_hash

ORIGIN = "registry.example/log"


def _store(prefix: bytes, size: int) -> tlog.MemoryHashStore:
    store = tlog.MemoryHashStore()
    for i in range(size):
        store.append(prefix + b"%d" % i)
    return store


def _invoke(args: list[str], stdin: bytes | None = None):
    return CliRunner().invoke(main, args, input=stdin, standalone_mode=False, catch_exceptions=False)


def test_keygen_cosign_evidence(tmp_path: Path) -> None:
    key = tmp_path / "w.key"
    result = _invoke(["witness", "keygen", "witness.example/w1", "--out", str(key)])
    assert result.return_value == 0
    vkey = result.output.strip()
    assert vkey.startswith("witness.example/w1+") and (key.stat().st_mode & 0o777) == 0o600
    assert _invoke(["witness", "keygen", "witness.example/w1", "--out", str(key)]).return_value == 2
    assert _invoke(["witness", "vkey", "--key", str(key)]).output.strip() == vkey

    log = CheckpointSigner(NoteSigner.generate(ORIGIN))
    store = _store(b"e", 9)
    note = log.sign(9, store.root())
    request = tmp_path / "req"
    request.write_bytes(format_add_checkpoint(0, [], note))
    state = tmp_path / "state.json"
    args = ["witness", "cosign", str(request), "--key", str(key), "--log", log.verifier().vkey(),
            "--state", str(state)]
    result = _invoke(args)
    assert result.return_value == 0, result.output
    from weightwarden.registry.witness import cosignature_verifier

    assert verify_cosigned(note + result.output.encode(), log.verifier(), [cosignature_verifier(vkey)], 1).size == 9
    # Replaying from old size 0 is a conflict now; a same-size fork is refused with printed evidence.
    assert _invoke(args).return_value == 2
    request.write_bytes(format_add_checkpoint(9, [], log.sign(9, _store(b"fork", 9).root())))
    result = _invoke(args)
    assert result.return_value == 2 and "PROOF OF TRANSPARENCY LOG MISBEHAVIOUR" in result.output
    result = _invoke(["witness", "evidence", "--state", str(state)])
    assert result.return_value == 0 and "same size" in result.output
    # A log the witness does not follow.
    other = CheckpointSigner(NoteSigner.generate("other.example/log"))
    request.write_bytes(format_add_checkpoint(0, [], other.sign(1, _store(b"x", 1).root())))
    result = _invoke(args)
    assert result.return_value == 2 and "HTTP 404" in result.output


def test_compare_proves_an_inconsistent_fork_from_tiles(tmp_path: Path) -> None:
    log = CheckpointSigner(NoteSigner.generate(ORIGIN))
    honest = _store(b"e", 600)
    forked = _store(b"f", 300)
    a, b = tmp_path / "a.cp", tmp_path / "b.cp"
    a.write_bytes(log.sign(300, forked.root()))
    b.write_bytes(log.sign(600, honest.root()))
    tile_dir = tmp_path / "tiles"
    for tile in tiles.tiles_for_size(600):
        (tile_dir / tile.path()).parent.mkdir(parents=True, exist_ok=True)
        (tile_dir / tile.path()).write_bytes(tiles.read_tile_data(tile, honest))
    args = ["witness", "compare", str(a), str(b), "--log-key", log.verifier().vkey()]
    assert "pass --tiles" in _invoke(args).output
    result = _invoke([*args, "--tiles", str(tile_dir)])
    assert result.return_value == 1 and "does not extend" in result.output
    a.write_bytes(log.sign(300, honest.root(300)))
    result = _invoke([*args, "--tiles", str(tile_dir)])
    assert result.return_value == 0 and "consistent" in result.output


def test_http_witness(tmp_path: Path) -> None:
    log = CheckpointSigner(NoteSigner.generate(ORIGIN))
    witness = Witness(CosignatureSigner.generate("w.example"), {ORIGIN: log.verifier()}, tmp_path / "s.json")
    server = make_witness_server(witness, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def post(body: bytes) -> tuple[int, bytes, str]:
        req = urllib.request.Request(base + "/add-checkpoint", data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers.get("Content-Type", "")

    try:
        store = _store(b"e", 5)
        status, body, _ = post(format_add_checkpoint(0, [], log.sign(5, store.root())))
        assert status == 200 and body.startswith("— w.example ".encode())
        status, body, ctype = post(format_add_checkpoint(0, [], log.sign(5, store.root())))
        assert (status, body, ctype) == (409, b"5\n", "text/x.tlog.size")
        status, _, _ = post(b"garbage")
        assert status == 400
        status, _, _ = post(format_add_checkpoint(5, [], CheckpointSigner(NoteSigner.generate(ORIGIN)).sign(5, store.root())))
        assert status == 403
        with urllib.request.urlopen(f"{base}/{origin_hash(ORIGIN)}/checkpoint", timeout=10) as resp:
            latest = resp.read()
        assert verify_cosigned(latest, log.verifier(), [witness.verifier()], 1).size == 5
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/{origin_hash('nobody')}/checkpoint", timeout=10)
    finally:
        server.shutdown()
        server.server_close()


def test_the_log_collects_cosignatures_over_http(tmp_path: Path) -> None:
    from weightwarden.registry.witness import QuorumError, collect_cosignatures

    log = CheckpointSigner(NoteSigner.generate(ORIGIN))
    ws = [Witness(CosignatureSigner.generate(f"w{i}.example"), {ORIGIN: log.verifier()}, tmp_path / f"w{i}.json")
          for i in range(2)]
    servers = [make_witness_server(w, "127.0.0.1", 0) for w in ws]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
    dead = "http://127.0.0.1:9"  # nothing listens there: a witness that is down
    impostor = CosignatureSigner.generate("w1.example")  # right name, wrong key: its lines must not count

    def post(url: str, body: bytes) -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    try:
        store = _store(b"e", 10)
        keys = [(urls[0], ws[0].verifier()), (urls[1], ws[1].verifier()), (dead, impostor.verifier())]
        sizes: dict[str, int] = {}
        note = collect_cosignatures(log.sign(10, store.root()), keys, lambda m, n: tlog.consistency_proof(m, n, store),
                                    post, sizes)
        assert verify_cosigned(note, log.verifier(), [w.verifier() for w in ws], 2).size == 10
        assert sizes == {urls[0]: 10, urls[1]: 10}
        # The log forgot what the witnesses saw (restart): the 409 answer tells it, and it retries with a proof.
        for i in range(10, 30):
            store.append(b"e%d" % i)
        note = collect_cosignatures(log.sign(30, store.root()), keys[:2],
                                    lambda m, n: tlog.consistency_proof(m, n, store), post, {})
        assert verify_cosigned(note, log.verifier(), [w.verifier() for w in ws], 2).size == 30
        # A witness whose reply does not verify is skipped, and the quorum then fails on the client.
        bad = collect_cosignatures(log.sign(30, store.root()), [(urls[0], impostor.verifier())],
                                   lambda m, n: [], post, {urls[0]: 30})
        with pytest.raises(QuorumError):
            verify_cosigned(bad, log.verifier(), [w.verifier() for w in ws], 1)
        # ... and so is a reply with the right name and key ID but a signature that does not verify.
        from weightwarden.registry.note import NoteSignature

        forged = NoteSignature(ws[0].verifier().name, ws[0].verifier().key_id, bytes(72)).line().encode()
        bad = collect_cosignatures(log.sign(30, store.root()), [(urls[0], ws[0].verifier())],
                                   lambda m, n: [], lambda url, body: (200, forged), {})
        assert forged not in bad
        with pytest.raises(QuorumError):
            verify_cosigned(bad, log.verifier(), [w.verifier() for w in ws], 1)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
