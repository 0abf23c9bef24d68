"""Red team round 14 on the registry (docs/decisions.md), on SQLite and PostgreSQL.

D3  One ordinary key logged 300 valid audits of ~62 KB: the entry bundle became 15.9 MB, over the client's fixed
    8 MiB answer cap, and every full-scan ``check`` of any model on that log refused for good. The class rule:
    no client bound is lower than what the server lets one key make valid. An entry bundle is read up to the
    largest valid bundle of its width (``tiles.bundle_cap``, from the same constant as the server's entry
    limit); the full scan has a byte budget, past which the client judges from the index (each entry proven)
    with a note naming the tile and its biggest writer; and the server caps the bytes one key logs per day.
G1  (``test_witness_cli``) a hostile witness's answers to ``registry witness-push``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from tests.registry.test_redteam_round11 import _signed_at
from weightwarden.registry import client as client_module
from weightwarden.registry import entries, tiles
from weightwarden.registry.client import RegistryRefused
from weightwarden.registry.store import KEY_DAY_BYTES, Appended, Rejected

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)

EVIL_RELEASE = release("evil/x")
PAYLOAD = 60_000  # base64 characters of one audit's DSSE payload: an entry of ~60 KB, under MAX_ENTRY_BYTES


def _big_audit(n: int) -> dict:
    schema = next(s for s, k in entries.KIND_BY_SCHEMA.items() if k == "audit")
    return {"schema": schema, "model": "evil/x", "release": EVIL_RELEASE["bundle"],
            "attestation": {"payload": f"{n:08d}" + "A" * (PAYLOAD - 8),  # each entry distinct
                            "payloadType": "application/vnd.in-toto+json", "signatures": [{"sig": "eA=="}]}}


def test_every_client_cap_is_at_least_what_the_server_admits() -> None:
    """The invariant, from the constants themselves: an entry the server admits fits the bundle the client
    reads, and any single entry answer fits the JSON cap."""
    assert entries.MAX_ENTRY_BYTES == tiles.MAX_ENTRY_SIZE
    for width in (1, 2, 17, 255, 256):
        assert tiles.bundle_cap(width) >= width * (2 + entries.MAX_ENTRY_BYTES)
    assert tiles.bundle_cap(tiles.TILE_WIDTH) == tiles.MAX_BUNDLE_BYTES
    # GET /entries/{i}: {"index": i, "data": base64(entry)}
    biggest_entry_answer = len(json.dumps({"index": 2**63 - 1, "data": "A" * (4 * (entries.MAX_ENTRY_BYTES + 2) // 3)}))
    assert biggest_entry_answer < client_module.MAX_RESPONSE_BYTES
    # a hash tile, a proof (64 hashes), a checkpoint: far below the JSON cap
    assert tiles.MAX_TILE_BYTES < client_module.MAX_RESPONSE_BYTES
    # one key alone cannot fill the full scan's budget in a day, nor one bundle's cap
    assert KEY_DAY_BYTES < client_module.FULL_SCAN_BUDGET_BYTES
    assert KEY_DAY_BYTES <= tiles.MAX_BUNDLE_BYTES


def test_big_valid_entries_never_make_a_full_scan_check_fail(parties, monkeypatch):
    """Live server: evil logs big audits; a full-scan check of acme's model still gives its verdict, through
    bundles bigger than the JSON cap, and through the index mode once over the full scan's budget."""
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "ok", 1, os.urandom(500))
    with _client(server, tmp, "p") as c:
        c.publish_release(bundle, model="acme/ok", key=who["acme"].key)
        c.publish(EVIL_RELEASE, who["evil"].key)
        for n in range(8):
            c.publish(_big_audit(n), who["evil"].key)
        size = len(c.all_entries(c.verified_checkpoint()))
    assert size == 10
    # The JSON cap far below the bundle (~480 KB): the bundle is still read whole (its own cap, by width).
    monkeypatch.setattr(client_module, "MAX_RESPONSE_BYTES", 256 * 1024)
    with _client(server, tmp, "a") as c:
        result = c.check(model)
    assert result.current, result.reasons
    assert any("derived from all 10 log entries" in n for n in result.notes), result.notes
    # Over the full scan's budget: judged from the index, with a note naming the tile and evil's key.
    with _client(server, tmp, "b", full_scan_budget=100_000) as c:
        result = c.check(model)
    assert result.current, result.reasons
    over = [n for n in result.notes if "over the full scan's budget" in n]
    assert over and "/tile/entries/000.p/10" in over[0] and who["evil"].publisher.key_id in over[0], result.notes
    assert any("from the registry's index" in n for n in result.notes), result.notes


def test_the_server_caps_the_bytes_one_key_logs_per_day(parties, store):
    """The sequencer refuses (429, with the reason) a write that takes its key over the daily byte budget; other
    keys are not charged, and the next UTC day the key writes again."""
    server, who, tmp = parties
    store.key_day_bytes = 200_000
    day = 1_800_000_000 - 1_800_000_000 % 86_400 + 3600
    results = store.append_batch([_signed_at(who["evil"], EVIL_RELEASE, day, secrets.token_hex(16))]
                                 + [_signed_at(who["evil"], _big_audit(n), day, secrets.token_hex(16))
                                    for n in range(4)], now=day)
    assert [type(r) for r in results] == [Appended, Appended, Appended, Appended, Rejected]
    assert results[4].status == 429 and "daily byte budget" in results[4].reason
    assert "over the 200000-byte budget" in results[4].reason
    other = store.append_batch([_signed_at(who["acme"], release("acme/a"), day, secrets.token_hex(16))], now=day)
    assert isinstance(other[0], Appended)
    later = day + 86_400
    again = store.append_batch([_signed_at(who["evil"], _big_audit(9), later, secrets.token_hex(16))], now=later)
    assert isinstance(again[0], Appended), again
    # through the live server: a clear 4xx with the reason, never a 500
    store.key_day_bytes = 1000
    with _client(server, tmp, "q") as c, pytest.raises(RegistryRefused) as refused:
        c.publish(_big_audit(10), who["evil"].key)
    assert refused.value.status == 429 and "daily byte budget" in str(refused.value)


def test_the_daily_budget_is_read_from_the_environment(monkeypatch, tmp_path, log_keys):
    from weightwarden.core.errors import WeightwardenError
    from weightwarden.registry.store import Store

    monkeypatch.setenv("WW_REGISTRY_KEY_DAY_BYTES", "0")
    assert Store(str(tmp_path / "a.db"), log_keys.checkpoint_signer()).key_day_bytes == 0
    for bad in ("-1", "１２", "1e6", "9" * 40):
        monkeypatch.setenv("WW_REGISTRY_KEY_DAY_BYTES", bad)
        with pytest.raises(WeightwardenError):
            Store(str(tmp_path / "b.db"), log_keys.checkpoint_signer())


# --- G1: numbers and answers off the network -------------------------------------------------------------------


def test_strict_decimal_takes_only_canonical_ascii_decimals() -> None:
    from weightwarden.registry.wire import strict_decimal

    assert strict_decimal("0") == 0 and strict_decimal(b"42\n") == 42 and strict_decimal(" 7 ") == 7
    assert strict_decimal(str(2**63 - 1)) == 2**63 - 1
    for bad in ("²", "\u0661", "9" * 5000, "9" * 20, str(2**63), "-1", "+1", "1_000", "01", "", "\x1c12", "1.0",
                b"\xff", None, "12\u3000"):
        assert strict_decimal(bad) is None, bad
    assert strict_decimal("11", maximum=10) is None


@contextlib.contextmanager
def _hostile_witness(status: int, body: bytes):
    """A witness on 127.0.0.1 that answers every add-checkpoint with ``status`` and ``body``."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client stops reading at its cap
                for i in range(0, len(body), 1 << 16):
                    self.wfile.write(body[i:i + (1 << 16)])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "body", "expected"), [
    (409, "²".encode(), "answered 409 without a tree size"),
    (409, b"9" * 5000, "answered 409 without a tree size"),
    (409, b"-1", "answered 409 without a tree size"),
    (200, b"A" * (8 * 1024 * 1024), "answer over 65536 bytes"),
    (500, b"x" * (1024 * 1024), "answer over 65536 bytes"),
], ids=["superscript", "5000-nines", "negative", "8MiB-200", "1MiB-500"])
def test_a_hostile_witness_answer_is_a_clear_witnessing_error(status, body, expected) -> None:
    from weightwarden.registry.witnessing import WitnessingError, http_sender

    with _hostile_witness(status, body) as url, pytest.raises(WitnessingError) as refused:
        http_sender(url, timeout=10)(b"old 0\n\nbody")
    assert expected in refused.value.reason


def test_a_409_with_a_size_is_still_a_conflict() -> None:
    from weightwarden.registry.witness import WitnessConflict
    from weightwarden.registry.witnessing import http_sender

    with _hostile_witness(409, b"12\n") as url, pytest.raises(WitnessConflict) as conflict:
        http_sender(url, timeout=10)(b"old 0\n\nbody")
    assert conflict.value.latest_size == 12


def test_witness_push_with_a_hostile_witness_is_not_an_internal_error(tmp_path) -> None:
    """The CLI end to end (the PoC's command): a clean refusal, never "internal error"."""
    from click.testing import CliRunner

    from weightwarden.cli.main import main
    from weightwarden.registry.logkeys import load_or_create
    from weightwarden.registry.store import Store

    keys = load_or_create(tmp_path / "keys", "test.weightwarden.local/log")
    Store.open(str(tmp_path / "reg.db"), keys.checkpoint_signer()).close()
    made = CliRunner().invoke(main, ["witness", "keygen", "w.example/w1", "--out", str(tmp_path / "w.key")])
    vkey = made.output.strip()
    for body in ("²".encode(), b"9" * 5000):
        with _hostile_witness(409, body) as url:
            result = CliRunner().invoke(main, ["registry", "witness-push", "--witness-url", url, "--witness-vkey", vkey,
                                              "--db", str(tmp_path / "reg.db"), "--keys", str(tmp_path / "keys")])
        assert result.exit_code != 0
        assert "internal error" not in result.output and "without a tree size" in result.output, result.output
