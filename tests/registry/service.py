"""Fixtures of the registry service tests: one real database per test (SQLite file, or a fresh schema in
the real PostgreSQL server named by ``WW_TEST_POSTGRES_URL``), log keys, publishers, and live servers.

PostgreSQL cases skip (with the reason) only when ``WW_TEST_POSTGRES_URL`` is unset; when it is set and the
server cannot be reached they FAIL, so CI (which sets it in ``.ci/run``) can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from weightwarden.registry import auth, entries
from weightwarden.registry.logkeys import LogKeys, load_or_create
from weightwarden.registry.server import ServerSettings, create_app
from weightwarden.registry.store import Store

ORIGIN = "test.weightwarden.local/log"
DATABASES = ["sqlite", "postgresql"]
ENV_PG = "WW_TEST_POSTGRES_URL"


def _pg_url() -> str:
    url = os.environ.get(ENV_PG)
    if not url:
        pytest.skip(f"{ENV_PG} is not set (CI sets it; .ci/run starts a real PostgreSQL)")
    return url


def _pg_schema_url(base: str, schema: str) -> str:
    import sqlalchemy as sa

    from weightwarden.registry.store import database_url

    url = database_url(base)
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - set but unreachable is a failure, never a skip
        pytest.fail(f"{ENV_PG} is set but PostgreSQL is not usable: {type(exc).__name__}: {exc}")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(base: str, schema: str) -> None:
    import sqlalchemy as sa

    from weightwarden.registry.store import database_url

    engine = sa.create_engine(database_url(base))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a new schema in the test PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "registry.db")
        return
    base = _pg_url()
    schema = "t_" + secrets.token_hex(6)
    url = _pg_schema_url(base, schema)
    yield url
    _drop_schema(base, schema)


@pytest.fixture
def log_keys(tmp_path: Path) -> LogKeys:
    return load_or_create(tmp_path / "keys", ORIGIN)


@dataclass
class PublisherKey:
    key: Any
    publisher: auth.Publisher

    def headers(self, body: bytes, *, path: str = "/entries", method: str = "POST", origin: str = ORIGIN,
                **kw: Any) -> dict[str, str]:
        return auth.sign_request(self.key, origin, method, path, body, **kw)


def make_publisher(namespaces: tuple[str, ...] = ("acme/*",), roles: tuple[str, ...] = auth.PUBLISHER_ROLES,
                   name: str = "acme") -> PublisherKey:
    key = auth.generate_key()
    raw = auth.raw_public_key(key.public_key())
    return PublisherKey(key, auth.Publisher(auth.key_id(raw), raw, namespaces, roles, name))


@pytest.fixture
def store(db_url: str, log_keys: LogKeys) -> Iterator[Store]:
    s = Store.open(db_url, log_keys.checkpoint_signer())
    yield s
    s.close()


def pending_write(pub: PublisherKey, body: dict[str, Any], *, nonce: str | None = None,
                  timestamp: int | None = None) -> Any:
    """A write as the server hands it to the store, signed by ``pub``."""
    from weightwarden.registry.store import PendingWrite

    raw = entries.canonical(body)
    headers = pub.headers(raw, nonce=nonce, timestamp=timestamp)
    signed = auth.authenticate(headers, origin=ORIGIN, method="POST", path="/entries", body=raw,
                               lookup=lambda k: pub.publisher if k == pub.publisher.key_id else None)
    return PendingWrite(entries.parse_body_bytes(raw), signed)


def release(model: str = "acme/smol", version: int = 1, seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """A release body with distinct digests per (model, version, seed)."""
    tag = f"{model}:{version}:{seed}".encode()
    import hashlib

    body = {"schema": entries.RELEASE_SCHEMA, "model": model, "version": version,
            "subject": {"name": model.split("/")[1], "sha256": hashlib.sha256(b"s" + tag).hexdigest()},
            "files": [{"name": "model.safetensors", "algorithm": "sha256",
                       "digest": hashlib.sha256(b"f" + tag).hexdigest()}],
            "bundle": "sha256:" + hashlib.sha256(b"b" + tag).hexdigest()}
    body.update(extra)
    entries.check_body(body)
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The real app under uvicorn on 127.0.0.1, in a thread of this process."""

    def __init__(self, store: Store, keys: LogKeys, settings: ServerSettings | None = None) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        from weightwarden.registry.http import protocol_name

        # the protocol `registry serve` runs (one socket write per response), so every service test covers it
        config = uvicorn.Config(create_app(store, keys, settings), host="127.0.0.1", port=self.port,
                                log_level="error", lifespan="on", http=protocol_name())
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        end = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (Debian's binaries, initdb in a temporary folder) that a test may kill
    with SIGKILL and restart: the database-crash case, which the shared test server must not suffer."""

    def __init__(self) -> None:
        import glob
        import tempfile

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            if os.environ.get(ENV_PG):
                pytest.fail("PostgreSQL binaries (/usr/lib/postgresql/*/bin) are missing although "
                            f"{ENV_PG} is set")
            pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
        self.bin = Path(found[-1]).parent
        # its own folder directly under /tmp: the postgres user cannot enter pytest's root-only tmp_path
        folder = Path(tempfile.mkdtemp(prefix="ww-test-pg-"))
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            import shutil

            shutil.chown(folder, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        import subprocess

        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=100", "start")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def kill9(self) -> None:
        """SIGKILL the postmaster and every backend it started (found by parent pid in /proc)."""
        import signal

        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
        for victim in [pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        end = time.monotonic() + 20
        while time.monotonic() < end and any(Path(f"/proc/{p}").exists() and "Z" not in _state(p)
                                             for p in [pid, *children]):
            time.sleep(0.05)
        # A killed postmaster may stay a zombie (nobody reaps it in a container), and a zombie still "holds"
        # postmaster.pid; it is dead, so its lock file goes, as an operator would remove it.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for leftover in self.folder.glob(".s.PGSQL.*"):  # the socket and its lock file, same reason
            leftover.unlink(missing_ok=True)

    def stop(self) -> None:
        import shutil

        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
