"""Red team round 4 on the registry (docs/decisions.md): each attack that beat `check`, the pages or the
CLI after round 3, against a real server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL, with its fix.

R2     a request refused for rate left its nonce in the memo: its byte-identical retry was "replayed".
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.registry.service import LiveServer, make_publisher, release
from weightwarden.registry import auth, entries

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
