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

import json
import os
import secrets

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
