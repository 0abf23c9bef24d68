"""The independent verifier against the REAL registry service: entries appended through the store, then the
checkpoint, every tile, every entry bundle and the offline proof files fetched over HTTP from the running
server, written to a folder as a static mirror would, and checked by tests/registry/independent_verifier.py
(hashlib + cryptography only), on SQLite and on PostgreSQL (the ``store`` fixture's databases)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from tests.registry.service import LiveServer, make_publisher, pending_write, release  # noqa: E402
from weightwarden.registry import tiles  # noqa: E402
from weightwarden.registry.note import Checkpoint, parse_note  # noqa: E402

VERIFIER = Path(__file__).parent / "independent_verifier.py"


def test_independent_verifier_checks_what_the_server_serves(store, log_keys, tmp_path: Path) -> None:
    import httpx

    pub = make_publisher()
    writes = [pending_write(pub, release(version=v)) for v in range(1, 301)]
    for start in range(0, len(writes), 120):  # several checkpoints; the last leaves partial tiles
        store.append_batch(writes[start : start + 120])
    mirror = tmp_path / "mirror"
    with LiveServer(store, log_keys) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        note = http.get("/checkpoint").raise_for_status().content
        size = Checkpoint.parse(parse_note(note).text).size
        assert size == 300
        (mirror / "checkpoint").parent.mkdir(parents=True)
        (mirror / "checkpoint").write_bytes(note)
        wanted = tiles.tiles_for_size(size) + [tiles.tile_for_entry(i, size) for i in range(0, size, 256)]
        for tile in wanted:
            path = mirror / tile.path()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(http.get("/" + tile.path()).raise_for_status().content)
        proof_files = {i: http.get(f"/proof/file/{i}").raise_for_status().content for i in (0, 255, 256, 299)}
    vkey = log_keys.note_signer.verifier().vkey()
    result = subprocess.run([sys.executable, str(VERIFIER), str(mirror), "--log-key", vkey],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: 300 entries")

    import importlib.util

    spec = importlib.util.spec_from_file_location("independent_verifier", VERIFIER)
    iv = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(iv)
    _, _, served_entries = iv.verify_log_dir(str(mirror), vkey, [], 0)
    for index, data in proof_files.items():
        assert iv.verify_tlog_proof(data, served_entries[index], vkey, [], 0) == index
        with pytest.raises(iv.Invalid):
            iv.verify_tlog_proof(data, served_entries[index - 1 if index else 1], vkey, [], 0)
