"""The honest log that the registry red-team rounds 23 and 24 start from, and a copy of its database the operator
keeps to serve an old prefix or a fork of it (same log key, real SQLite stores, live servers on 127.0.0.1)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.registry.service import ORIGIN, LiveServer, PublisherKey, make_publisher
from tests.registry.test_client import _signed_model
from weightwarden.registry import client as client_module
from weightwarden.registry.client import RegistryClient
from weightwarden.registry.logkeys import LogKeys, load_or_create
from weightwarden.registry.store import Store


@dataclass
class HonestLog:
    """The log's keys, its two publishers (acme/*, fill/*), its store behind ``real``, and acme/ok v1 (entry 0):
    ``acme_ok`` is the signed model folder, ``acme_body`` its release body."""

    tmp: Path
    keys: LogKeys
    acme: PublisherKey
    fill: PublisherKey
    honest: Store
    real: LiveServer
    acme_ok: Path
    acme_body: dict[str, Any]

    def snapshot(self, name: str) -> Store:
        """The operator's copy of the honest database as it is now, opened under the same log key."""
        with sqlite3.connect(self.tmp / "honest.db") as src, sqlite3.connect(self.tmp / f"{name}.db") as dst:
            src.backup(dst)
        return Store.open(str(self.tmp / f"{name}.db"), self.keys.checkpoint_signer())


@contextmanager
def honest_log(tmp: Path) -> Iterator[HonestLog]:
    keys = load_or_create(tmp / "keys", ORIGIN)
    acme = make_publisher(("acme/*",), name="acme")
    fill = make_publisher(("fill/*",), name="fill")
    honest = Store.open(str(tmp / "honest.db"), keys.checkpoint_signer())
    for p in (acme, fill):
        honest.add_publisher(p.publisher)
    try:
        with LiveServer(honest, keys) as real:
            acme_ok, bundle = _signed_model(tmp / "acme-ok", 1, os.urandom(300))
            body = client_module.release_body_from_bundle(bundle, model="acme/ok")
            publish(real, tmp, body, acme.key)
            yield HonestLog(tmp, keys, acme, fill, honest, real, acme_ok, body)
    finally:
        honest.close()


def signed_release(tmp: Path, folder: str, model: str, size: int) -> tuple[Path, dict[str, Any]]:
    """A signed one-file model folder under ``tmp`` and its release body for ``model``."""
    path, bundle = _signed_model(tmp / folder, 1, os.urandom(size))
    return path, client_module.release_body_from_bundle(bundle, model=model)


def publish(server: LiveServer, tmp: Path, body: dict[str, Any], key: Any) -> None:
    """``body`` signed with ``key`` and appended through ``server``'s API by a client with its own state."""
    with RegistryClient(server.url, state_dir=tmp / f"pub-{server.port}") as c:
        c.publish(body, key)
