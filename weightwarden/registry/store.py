"""The registry's database: the log (entries + stored hashes + signed checkpoint), publishers, nonces, and an
index of model lines (releases, supersessions, revocations, audits, incidents) — SQLAlchemy 2.

SQLite by default (a file, WAL, ``synchronous=FULL``), PostgreSQL by URL. Appends go through
:meth:`Store.append_batch`: ONE transaction per batch, holding the log's write lock for its whole length
(PostgreSQL: ``SELECT ... FOR UPDATE`` on the single ``log_state`` row; SQLite: ``BEGIN IMMEDIATE``), so
any number of API workers on one database sequence entries one batch at a time. In that transaction the
batch's nonces are checked and recorded (replay protection shared by all workers), each entry is checked
against what the log already holds (release versions only grow, a revocation names a release of the same
line, ...), gets the next index, its stored hashes (``tlog.stored_hashes_for_append``) and index rows, and
the new tree head is signed (``note.CheckpointSigner``) and written with it. Nothing is acknowledged before
the commit returns, and a crash before it leaves the previous state intact: there is never a half-written
entry to see.

Stored hashes never change once committed, so each process caches them (and full tiles) in memory; only
hashes read from committed rows or written by a committed batch of this process enter the cache.

Reads (tiles, entries, proofs, views) run in their own read transactions against a consistent snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from weightwarden.core.errors import ConfigError, InputError
from weightwarden.core.merkle import empty_root, leaf_hash
from weightwarden.registry import tiles as _tiles
from weightwarden.registry import tlog
from weightwarden.registry.auth import Publisher, SignedRequest
from weightwarden.registry.entries import Body, EntryError, LogEntry, parse_logged
from weightwarden.registry.views import build_model_view, events_of, release_row

_LOCK_ID = 0x7767_7265_6769  # PostgreSQL advisory lock taken around migrations ("wwregi")
REPLAYED = "replayed request: this nonce was already used with this key"
_NONCE_PURGE_EVERY = 200  # batches between deletions of expired nonces
_HASH_CACHE_MAX = 4_000_000
_TILE_CACHE_MAX = 20_000
_RANGE_CACHE_MAX = 2_000_000
_FILL_MAX = 500_000  # stored hashes (16 MB) one proof read may load into the cache at once
# Red team round 6 (D1): what one affecting-incidents computation may read (an unauthenticated GET /current
# or /web page triggers it): bytes of release entries plus a fixed charge per query. Past it the walk stops
# loading and the answer is "incomplete" (fail closed). Charged the same whether an entry comes from the
# projection cache or the database, so the answer at a size never depends on what a worker has cached.
MAX_VIEW_COST = 16 << 20
QUERY_COST = 4096
_AFFECTING_MEMO_MAX = 512  # memoised affecting lists (release, size, open_only, key table): a few KB each
_PROJECTED_DIGESTS_MAX = 1 << 18  # file digests held in release projections (tens of MB), LRU
# Red team round 7 (D2): parsed incident records a worker keeps, by the bytes of their log entries (LRU); the
# records a view may read are charged to ``max_view_cost`` at their entry's size, cached or not.
_PARSED_INCIDENTS_MAX_BYTES = 32 << 20
MAX_RELEVANT_TERMS = 4096  # index rows one view may read (each charged TERM_COST); more is "incomplete"
TERM_COST = 256
# Red team round 8 (W1): records one key may log under one incident id (its chain). Each write is checked
# against the chain's head only (``incident_heads``), so the bound is not what keeps writes cheap; it bounds
# what a view reads per chain and what one key can pile under an id. A real lifecycle (reported, confirmed,
# fixed or withdrawn, a few history notes) needs a handful. Override: WW_REGISTRY_MAX_INCIDENT_CHAIN.
MAX_INCIDENT_CHAIN = 256
ENV_MAX_INCIDENT_CHAIN = "WW_REGISTRY_MAX_INCIDENT_CHAIN"
# Red team round 14 (D3): the bytes of log entries one publisher key may add per UTC day. One key alone then
# needs FULL_SCAN_BUDGET_BYTES / KEY_DAY_BYTES = 8 days to fill a full-scan client's byte budget (past it the
# client judges from the index, never refuses), and can never make a single bundle (~16.8 MB at most, which
# every client reads) in one day. A real release entry is a few KB; 16 MiB is ~4,000 of them, or 256 entries
# at the 64 KiB maximum. Override: WW_REGISTRY_KEY_DAY_BYTES (0: no budget).
KEY_DAY_BYTES = 16 * 1024 * 1024
ENV_KEY_DAY_BYTES = "WW_REGISTRY_KEY_DAY_BYTES"
INCIDENTS_PAGE = 100  # GET /incidents: records per page by default
INCIDENTS_PAGE_MAX = 500

metadata = sa.MetaData()
log_state = sa.Table(
    "log_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("origin", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("checkpoint", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
entries = sa.Table(
    "entries", metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("logged_at", sa.BigInteger, nullable=False),
)
hashes = sa.Table(
    "hashes", metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)
nonces = sa.Table(
    "nonces", metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("expires", sa.BigInteger, nullable=False),
)
publishers = sa.Table(
    "publishers", metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("public_key", sa.LargeBinary(32), nullable=False),
    sa.Column("namespaces", sa.Text, nullable=False),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
# Red team round 4 (K1): the grant of the key that logged each incident record, as it was when written; a
# content incident's entitlement is judged against it, not against the current key table.
incident_grants = sa.Table(
    "incident_grants", metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("namespaces", sa.Text, nullable=False),
    sa.Column("roles", sa.Text, nullable=False),
)
# Red team round 7 (D2): what each incident record names (``affecting.incident_terms``: its id, and the lines,
# weights roots and file digests of its affected entries), written with the record: a view reads only the
# records that touch its ancestry, and the listings find chain heads, without scanning every record.
incident_terms = sa.Table(
    "incident_terms", metadata,
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Index("ix_incident_terms_idx", "idx", "kind"),  # a record's own terms; listings in log order
    # red team round 8 (X1): one (id, key) chain's members, without reading other keys' rows under the id
    sa.Index("ix_incident_terms_chain", "value", "key_id", "idx", sqlite_where=sa.text("kind = 'id'"),
             postgresql_where=sa.text("kind = 'id'")),
)
# Red team round 8 (W1): the head (current record) of each (incident id, key) chain and how many records the
# chain holds, maintained by the sequencer in the transaction that logs the record: a new record is checked
# against its chain's head alone (one read, one parse), not against the whole chain.
incident_heads = sa.Table(
    "incident_heads", metadata,
    sa.Column("incident", sa.Text, primary_key=True),
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("records", sa.BigInteger, nullable=False),
)
key_usage = sa.Table(  # bytes of log entries per (publisher key, UTC day number): the daily budget
    "key_usage", metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("day", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
)
LINE_ENTRIES_PAGE_MAX = 1000  # indexes per page of GET /models/<line>/entries (red team round 15, D2)

releases = sa.Table(
    "releases", metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("bundle", sa.String(71), nullable=False),
    sa.Column("subject_sha256", sa.String(64), nullable=False),
    sa.Column("weights_root", sa.String(64), nullable=True),
    sa.Column("publisher", sa.String(64), nullable=False),
    sa.Column("logged_at", sa.BigInteger, nullable=False),
)
events = sa.Table(
    "events", metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("release", sa.String(71), nullable=True),
    sa.Column("other", sa.String(71), nullable=True),
    sa.Column("incident", sa.String(128), nullable=True),
)

cosignatures = sa.Table(
    "cosignatures", metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("witness", sa.String(255), primary_key=True),
    sa.Column("checkpoint", sa.LargeBinary, nullable=False),
    sa.Column("line", sa.Text, nullable=False),
    sa.Column("received_at", sa.BigInteger, nullable=False),
)


class StoreError(InputError):
    """A read that cannot be answered (beyond the tree, unknown entry); ``status`` is the HTTP status."""

    def __init__(self, reason: str, status: int = 404) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Rejected:
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A checked body and the signed request that carried it, waiting for the sequencer."""

    body: Body | None
    request: SignedRequest
    # A signed request refused before the sequencer (rate limit, malformed body, no permission) still goes
    # through it, so that its nonce is used up whatever the outcome: a refused request must not become
    # acceptable when replayed later within the window (red team round 1).
    refusal: Rejected | None = None


@dataclass(frozen=True, slots=True)
class Appended:
    """An acknowledged append: the entry's index, the (committed) checkpoint that includes it and the
    inclusion proof of the entry in that checkpoint's tree."""

    index: int
    tree_size: int
    checkpoint: bytes
    proof: tuple[bytes, ...] = ()


def database_url(url: str) -> str:
    """SQLAlchemy URL for ``url``: a bare path is a SQLite file; ``postgresql://`` uses psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if not url.startswith(("sqlite", "postgresql+psycopg://")):
        raise ConfigError(f"unsupported database URL {url.split('://')[0]}://...: use a SQLite path or postgresql://")
    return url


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False},
                              pool_size=8, max_overflow=16)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when it returns (an acknowledged append survives power loss, not only
        # a killed process).
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # The writer takes SQLite's write lock at BEGIN, so two workers never sequence the same index.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _Reader:
    """A ``tlog.HashReader`` over the hashes table: this batch's new hashes, the process cache, then SQL."""

    def __init__(self, store: Store, conn: Connection, overlay: dict[int, bytes] | None = None, *,
                 keep: bool = False) -> None:
        self.store, self.conn = store, conn
        self.overlay = overlay if overlay is not None else {}
        self.keep = keep  # also put the hashes read from the cache or the database into ``overlay``

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        cache, overlay = self.store._hash_cache, self.overlay
        found: dict[int, bytes] = {}
        missing = []
        for i in indexes:
            h = overlay.get(i) or cache.get(i)
            if h is None:
                missing.append(i)
            else:
                found[i] = h
        if missing:
            rows = self.conn.execute(sa.select(hashes.c.idx, hashes.c.hash).where(hashes.c.idx.in_(missing)))
            fetched = {int(r.idx): bytes(r.hash) for r in rows}
            if len(fetched) != len(set(missing)):
                raise tlog.ProofError(f"stored hashes missing from the database: {sorted(set(missing) - set(fetched))[:4]}")
            found.update(fetched)
            self.store._remember_hashes(fetched)
        if self.keep:
            # the sequencer's batch computes its proofs from these after the commit, when the process cache may
            # have been emptied (it is bounded)
            overlay.update(found)
        return [found[i] for i in indexes]


class _Committed:
    """A ``tlog.HashReader`` over a committed batch's overlay and the process cache; a hash in neither is read
    from the committed log in a read transaction of its own."""

    def __init__(self, store: Store, overlay: dict[int, bytes]) -> None:
        self.store, self.overlay = store, overlay

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        overlay, cache = self.overlay, self.store._hash_cache
        out = [overlay.get(i) or cache.get(i) for i in indexes]
        if all(h is not None for h in out):
            return out  # type: ignore[return-value]
        with self.store._reader.begin() as conn:
            return _Reader(self.store, conn, overlay).read_hashes(indexes)


class _NotCached(Exception):
    pass


class _CacheOnly:
    """A ``tlog.HashReader`` over the process cache alone; :class:`_NotCached` when a hash is not in it."""

    def __init__(self, store: Store) -> None:
        self.cache = store._hash_cache

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        try:
            return [self.cache[i] for i in indexes]
        except KeyError:
            raise _NotCached from None


class _WriterHandoff:
    """Queues the sequencers of several worker processes on one SQLite file before ``BEGIN IMMEDIATE``.

    SQLite makes a writer that finds the database locked sleep and retry (its busy handler backs off to 100 ms
    sleeps), so with two API workers each one's batch often waited a whole sleep after the other had already
    committed: the processes sat idle with requests queued and the p99 latency reached seconds. A blocking
    ``flock`` on ``<database>.writer`` is handed over by the kernel the moment the holder releases it. It only
    orders the writers; the transaction's own lock (``BEGIN IMMEDIATE``) still guarantees that two writers
    never sequence the same index, also for a process that does not take this lock (an older version).
    Not used for PostgreSQL (``SELECT ... FOR UPDATE`` queues waiters itself) or an in-memory SQLite
    database."""

    def __init__(self, url: str | None) -> None:
        self.path: str | None = None
        self._fd: int | None = None
        self._lock = threading.Lock()
        if url is not None and url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
            path = url[len("sqlite:///"):].split("?", 1)[0]
            if path and path != ":memory:":
                self.path = path + ".writer"

    def __enter__(self) -> None:
        self._lock.acquire()
        if self.path is None:
            return
        try:
            import fcntl

            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            self.path = None  # no flock here (another OS, a read-only folder): SQLite's own lock alone

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __exit__(self, *exc: object) -> None:
        try:
            if self.path is not None and self._fd is not None:
                import fcntl

                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()


class Store:
    """The registry database. ``signer`` signs checkpoints (``note.CheckpointSigner``; its origin is the
    log's). Open with :meth:`open`, which runs the migrations and creates the empty log on first use."""

    def __init__(self, url: str, signer: Any, *, nonce_window_s: int = 300,
                 max_incident_chain: int | None = None, key_day_bytes: int | None = None) -> None:
        self.url = database_url(url)
        if key_day_bytes is None:
            raw_budget = os.environ.get(ENV_KEY_DAY_BYTES, "").strip()
            if raw_budget and not (raw_budget.isascii() and raw_budget.isdigit() and len(raw_budget) <= 15):
                raise ConfigError(f"{ENV_KEY_DAY_BYTES} must be a whole number of bytes, not {raw_budget[:40]!r}")
            key_day_bytes = int(raw_budget) if raw_budget else KEY_DAY_BYTES
        if key_day_bytes < 0:
            raise ConfigError("the per-key daily byte budget (key_day_bytes) must be 0 (none) or more")
        self.key_day_bytes = int(key_day_bytes)
        if max_incident_chain is None:
            raw = os.environ.get(ENV_MAX_INCIDENT_CHAIN, "").strip()
            try:
                max_incident_chain = int(raw) if raw else MAX_INCIDENT_CHAIN
            except ValueError:
                raise ConfigError(f"{ENV_MAX_INCIDENT_CHAIN} must be a whole number, not {raw!r}") from None
        if max_incident_chain < 1:
            raise ConfigError("the incident chain bound (max_incident_chain) must be at least 1")
        self.max_incident_chain = int(max_incident_chain)
        self.signer = signer
        self.origin: str = signer.origin
        self.nonce_window_s = nonce_window_s
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            self._writer = _sqlite_engine(self.url, immediate=True)
            self._reader = _sqlite_engine(self.url, immediate=False)
        else:
            self._writer = sa.create_engine(self.url, pool_size=4, max_overflow=4, pool_pre_ping=True)
            self._reader = sa.create_engine(self.url, pool_size=16, max_overflow=16, pool_pre_ping=True)
        self._hash_cache: dict[int, bytes] = {}
        self._tile_cache: dict[tuple[int, int], bytes] = {}
        self._range_cache: dict[tuple[int, int], bytes] = {}  # MTH(D[lo:hi]) of committed leaves
        self._filled_upto = 0  # every stored hash below this index is in the hash cache
        self._cache_lock = threading.Lock()
        self._publisher_cache: dict[str, tuple[float, Publisher | None]] = {}
        self._batches = 0
        self._known_size = 0  # a tree size this process has seen committed (trees only grow)
        self._seq_hashes = 0  # stored hashes of the tree this process's sequencer last committed
        self._handoff = _WriterHandoff(self.url if self.dialect == "sqlite" else None)
        # Red team round 7 (D2): parsed incident records, LRU bounded by their entries' bytes (no worker keeps
        # every raw record any more: views and listings read the records they need through incident_terms)
        self._incident_parsed = ByteLRU(_PARSED_INCIDENTS_MAX_BYTES)
        self._grant_cache: dict[int, Any] = {}
        # Red team round 6 (D1): the affecting list at a given (release, size, key table) never changes: it is
        # memoised (LRU), shared by /current and /web; concurrent misses of one key compute it once. Release
        # entries the walk reads are kept as projections (``release_record``: line, version, root, digests,
        # bases), never as parsed entries.
        self.max_view_cost = MAX_VIEW_COST
        self._affecting_memo: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], tuple[str, ...], int]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._computing: dict[tuple[Any, ...], threading.Lock] = {}
        self._projections: OrderedDict[int, tuple[Any, int]] = OrderedDict()
        self._projected_digests = 0

    @classmethod
    def open(cls, url: str, signer: Any, **kwargs: Any) -> Store:
        store = cls(url, signer, **kwargs)
        store.migrate()
        return store

    def close(self) -> None:
        self._writer.dispose()
        self._reader.dispose()
        self._handoff.close()

    # ---------------------------------------------------------------------------------------------------
    # set-up

    def migrate(self) -> None:
        """Run the Alembic migrations, then create the empty log (size 0, signed checkpoint) if needed."""
        from weightwarden.registry.migrations import upgrade

        with self._writer.connect() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({_LOCK_ID})")
                conn.commit()
            try:
                upgrade(conn)
                conn.commit()
            finally:
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_ID})")
                    conn.commit()
        with self._writer.begin() as conn:
            row = conn.execute(sa.select(log_state).where(log_state.c.id == 1).with_for_update()).first()
            if row is None:
                root = empty_root()
                conn.execute(sa.insert(log_state).values(
                    id=1, origin=self.origin, size=0, root=root, checkpoint=self.signer.sign(0, root),
                    updated_at=int(time.time())))
                return
        if row.origin != self.origin:
            raise ConfigError(f"the database holds the log {row.origin!r}, but the signing key is for "
                              f"{self.origin!r}: wrong key directory for this database")
        from weightwarden.registry.note import NoteError, open_checkpoint

        try:
            open_checkpoint(bytes(row.checkpoint), self.signer.verifier(), self.origin)
        except NoteError:
            raise ConfigError("the database's checkpoint is not signed by this log key: wrong key directory "
                              "for this database") from None

    def add_publisher(self, publisher: Publisher) -> None:
        with self._writer.begin() as conn:
            conn.execute(sa.delete(publishers).where(publishers.c.key_id == publisher.key_id))
            conn.execute(sa.insert(publishers).values(
                key_id=publisher.key_id, public_key=publisher.public_key,
                namespaces=json.dumps(list(publisher.namespaces)), roles=json.dumps(list(publisher.roles)),
                name=publisher.name, created_at=int(time.time())))
        self._publisher_cache.pop(publisher.key_id, None)

    def remove_publisher(self, key_id: str) -> bool:
        with self._writer.begin() as conn:
            gone = conn.execute(sa.delete(publishers).where(publishers.c.key_id == key_id)).rowcount
        self._publisher_cache.pop(key_id, None)
        return bool(gone)

    def publisher(self, key_id: str, *, max_age_s: float = 5.0) -> Publisher | None:
        """The registered key ``key_id`` (cached for ``max_age_s``: a removed key stops working within it)."""
        cached = self._publisher_cache.get(key_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < max_age_s:
            return cached[1]
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(publishers).where(publishers.c.key_id == key_id)).first()
        found = None if row is None else Publisher(
            key_id=row.key_id, public_key=bytes(row.public_key), namespaces=tuple(json.loads(row.namespaces)),
            roles=tuple(json.loads(row.roles)), name=row.name)
        if len(self._publisher_cache) > 10_000:
            self._publisher_cache.clear()
        self._publisher_cache[key_id] = (now, found)
        return found

    def publishers(self) -> list[Publisher]:
        with self._reader.connect() as conn:
            rows = conn.execute(sa.select(publishers).order_by(publishers.c.created_at)).all()
        return [Publisher(r.key_id, bytes(r.public_key), tuple(json.loads(r.namespaces)),
                          tuple(json.loads(r.roles)), r.name) for r in rows]

    # ---------------------------------------------------------------------------------------------------
    # the sequencer's transaction

    def append_batch(self, writes: Sequence[PendingWrite], *, now: float | None = None) -> list[Appended | Rejected]:
        """Append ``writes`` in one transaction; one result per write, in order. Raises on a database error
        (then nothing of the batch was written)."""
        t = time.time() if now is None else now
        results: list[int | Rejected] = []
        overlay: dict[int, bytes] = {}
        bodies = [(w.body, w.request.publisher.key_id) for w in writes if w.body is not None]
        # Before the writers' lock: each write's log entry bytes and leaf hash, which depend on the write alone
        # (issue 13, third pass: the lock is held for the database's work, not for this). Used, or their
        # error answered, at the same point of the checks as before.
        prepared: list[tuple[bytes, bytes] | Rejected | None] = [_prepare(w) for w in writes]
        with self._handoff, self._writer.begin() as conn:
            # the tree head (locked), every row the batch's checks need and the hashes other workers committed
            # since this sequencer's last batch: one round trip to PostgreSQL (``_batch_reads``)
            day = int(t) // 86_400
            found = _batch_reads(conn, self.dialect, [(w.request.publisher.key_id, w.request.nonce) for w in writes],
                                 bodies, self._seq_hashes or None, day if self.key_day_bytes else None)
            used = dict(found.usage)  # key id -> bytes logged today, this batch's appends included
            spent: dict[str, int] = {}
            start = size = found.size
            checkpoint = found.checkpoint
            overlay.update(found.hashes)
            reader = _Reader(self, conn, overlay, keep=True)
            seen = found.nonces
            batch = _BatchIndex(conn, bodies, found, max_chain=self.max_incident_chain)
            rows: dict[str, list[dict[str, Any]]] = {"entries": [], "hashes": [], "nonces": [], "releases": [],
                                                     "events": [], "incident_grants": [], "incident_terms": []}
            for n, w in enumerate(writes):
                req = w.request
                key = (req.publisher.key_id, req.nonce)
                if key in seen:
                    results.append(Rejected(409, REPLAYED))
                    continue
                seen.add(key)
                # Kept until no clock in the window can admit the request again (red team round 11, D1): the
                # timestamp passes authenticate() only while |now - timestamp| <= window, so after max(now,
                # timestamp) + window the same signed request is refused as stale; the second window is the
                # margin for workers whose clocks differ. The rule readers apply (client._logged) is the same:
                # a (key, nonce, timestamp) is admitted at most once; a (key, nonce) reused with a later
                # timestamp, after the purge, is a new request its key's holder signed, and readers accept it.
                rows["nonces"].append({"key_id": key[0], "nonce": key[1],
                                       "expires": max(int(t), int(req.timestamp)) + 2 * self.nonce_window_s + 1})
                if w.refusal is not None or w.body is None:
                    results.append(w.refusal or Rejected(422, "no entry body"))
                    continue
                problem = batch.check(w.body, size, req.publisher.key_id)
                if problem is not None:
                    results.append(problem)
                    continue
                entry = prepared[n]
                if not isinstance(entry, tuple):
                    results.append(entry or Rejected(422, "no entry body"))
                    continue
                data, leaf = entry
                if self.key_day_bytes:
                    had = used.get(req.publisher.key_id, 0)
                    if had + len(data) > self.key_day_bytes:
                        results.append(Rejected(429, (
                            f"this key's daily byte budget is spent: it logged {had} bytes today (UTC), and this "
                            f"entry is {len(data)} bytes, over the {self.key_day_bytes}-byte budget per key and "
                            "day (it keeps the log readable by every client); retry after 00:00 UTC, or ask the "
                            "operator for a bigger budget")))
                        continue
                    used[req.publisher.key_id] = had + len(data)
                    spent[req.publisher.key_id] = spent.get(req.publisher.key_id, 0) + len(data)
                base = tlog.stored_hash_count(size)
                for j, h in enumerate(tlog.stored_hashes_for_leaf_hash(size, leaf, reader)):
                    overlay[base + j] = h
                    rows["hashes"].append({"idx": base + j, "hash": h})
                rows["entries"].append({"idx": size, "kind": w.body.kind, "data": data, "logged_at": int(t)})
                if w.body.kind == "incident":
                    rows["incident_grants"].append({
                        "idx": size, "key_id": req.publisher.key_id,
                        "namespaces": json.dumps(list(req.publisher.namespaces)),
                        "roles": json.dumps(list(req.publisher.roles))})
                    # the key is kept on the record's "id" row only (the others stay small)
                    rows["incident_terms"].extend(
                        {"kind": k, "value": v, "idx": size, "key_id": req.publisher.key_id if k == "id" else ""}
                        for k, v in _incident_terms(w.body.data["incident"]))
                batch.record(w.body, size, req.publisher.key_id, int(t), rows)
                results.append(size)
                size += 1
            new_state: dict[str, Any] | None = None
            if size != start:
                root = tlog.tree_hash(size, reader)
                checkpoint = self.signer.sign(size, root)
                new_state = {"size": size, "root": root, "checkpoint": checkpoint, "updated_at": int(t)}
            self._write_rows(conn, rows, new_state,
                             [(k, day, n) for k, n in sorted(spent.items())])
            self._write_heads(conn, batch.changed_heads())
            self._batches += 1
            if self._batches % _NONCE_PURGE_EVERY == 0:
                conn.execute(sa.delete(nonces).where(nonces.c.expires < int(t)))
        # committed: only now may this batch's hashes serve reads, and only now is anything acknowledged
        self._remember_hashes(overlay)
        self._known_size = max(self._known_size, size)
        self._seq_hashes = tlog.stored_hash_count(size)
        # The proofs handed back with the acknowledgements, computed for the batch at once AFTER the commit, so
        # the writers' lock is not held for them (issue 13, third pass). Every stored hash they need is in the
        # overlay: the batch wrote those right of its first leaf, and the left siblings from before it were
        # read in the transaction by the appends or by the tree hash (``_Reader`` keeps what it read there). A
        # hash missing all the same is read from the committed log; should that read fail, the batch's
        # requests are answered 503 although committed, as when an answer is lost after a commit (a retry is
        # answered "replayed"): an acknowledgement still always means committed.
        proofs: dict[int, tuple[bytes, ...]] = {}
        if size != start:
            appended = list(range(start, size))
            committed = _Committed(self, overlay)
            for index, proof in zip(appended, tlog.inclusion_proofs(size, appended, committed), strict=True):
                proofs[index] = tuple(proof)
        return [r if isinstance(r, Rejected) else Appended(r, size, checkpoint, proofs[r]) for r in results]

    _BATCH_TABLES = (("entries", entries), ("hashes", hashes), ("nonces", nonces), ("releases", releases),
                     ("events", events), ("incident_grants", incident_grants),
                     ("incident_terms", incident_terms))

    _USAGE_UPSERT = ('INSERT INTO "key_usage" ("key_id", "day", "bytes") VALUES ({m}, {m}, {m}) ON CONFLICT '
                     '("key_id", "day") DO UPDATE SET "bytes" = "key_usage"."bytes" + excluded."bytes"')

    def _write_rows(self, conn: Connection, rows: dict[str, list[dict[str, Any]]],
                    new_state: dict[str, Any] | None, usage: Sequence[tuple[str, int, int]] = ()) -> None:
        """Write a batch's rows and the new tree head, inside the sequencer's transaction.

        PostgreSQL: all of it in ONE pipeline (psycopg 3), so the batch's writes cost one round trip to the
        server instead of one per table: on a loaded machine every round trip waits for the database process
        to be scheduled, and those waits, not CPU, bounded the appends (docs/benchmarks.md §21). Same
        statements, same transaction; an error raises at the pipeline's sync and the transaction rolls back."""
        if self.dialect == "postgresql":
            raw = conn.connection.driver_connection
            with raw.pipeline(), raw.cursor() as cur:
                for name, table in self._BATCH_TABLES:
                    if rows[name]:
                        cols = [c.name for c in table.columns if c.name in rows[name][0]]  # as sa.insert does
                        sql = (f'INSERT INTO "{table.name}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) '
                               f'VALUES ({", ".join(["%s"] * len(cols))})')
                        cur.executemany(sql, [tuple(r[c] for c in cols) for r in rows[name]])
                if usage:
                    cur.executemany(self._USAGE_UPSERT.format(m="%s"), list(usage))
                if new_state is not None:
                    cur.execute('UPDATE "log_state" SET "size" = %s, "root" = %s, "checkpoint" = %s, "updated_at" = %s '
                                'WHERE "id" = 1', (new_state["size"], new_state["root"], new_state["checkpoint"],
                                                   new_state["updated_at"]))
            return
        # SQLite: the same statements on the driver's cursor (SQLAlchemy's per-statement compile and per-value
        # bind processing cost more than the inserts themselves); same transaction (BEGIN IMMEDIATE above)
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for name, table in self._BATCH_TABLES:
                if rows[name]:
                    cols = [c.name for c in table.columns if c.name in rows[name][0]]
                    cur.executemany(f'INSERT INTO "{table.name}" ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}) '
                                    f'VALUES ({", ".join(["?"] * len(cols))})',
                                    [tuple(r[c] for c in cols) for r in rows[name]])
            if usage:
                cur.executemany(self._USAGE_UPSERT.format(m="?"), list(usage))
            if new_state is not None:
                cur.execute('UPDATE "log_state" SET "size" = ?, "root" = ?, "checkpoint" = ?, "updated_at" = ? '
                            'WHERE "id" = 1', (new_state["size"], new_state["root"], new_state["checkpoint"],
                                               new_state["updated_at"]))
        finally:
            cur.close()

    def _write_heads(self, conn: Connection, heads: list[dict[str, Any]]) -> None:
        """Upsert the batch's moved chain heads (red team round 8, W1), in the sequencer's transaction."""
        if not heads:
            return
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        stmt = upsert(incident_heads)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[incident_heads.c.incident, incident_heads.c.key_id],
            set_={"idx": stmt.excluded.idx, "records": stmt.excluded.records}), heads)

    def _remember_hashes(self, new: dict[int, bytes]) -> None:
        with self._cache_lock:
            if len(self._hash_cache) + len(new) > _HASH_CACHE_MAX:
                self._hash_cache.clear()
                self._filled_upto = 0
            self._hash_cache.update(new)

    # ---------------------------------------------------------------------------------------------------
    # reads

    def _state(self, conn: Connection) -> Any:
        return conn.execute(sa.select(log_state).where(log_state.c.id == 1)).one()

    def checkpoint(self) -> bytes:
        """The latest signed checkpoint (a C2SP signed note)."""
        with self._reader.begin() as conn:
            return bytes(self._state(conn).checkpoint)

    def checkpoint_at(self, tree_size: int) -> bytes:
        """The log-signed checkpoint of an earlier (or the current) tree size; deterministic (Ed25519 over
        the same body), so it is exactly the one handed out when the tree had that size."""
        return self.signer.sign(tree_size, self.root(tree_size))

    def add_cosignature(self, checkpoint: bytes, witness: str, line: str) -> None:
        """Keep a witness's cosignature line for ``checkpoint`` (a log-signed checkpoint note). The caller
        verified the line with the witness's key; here the checkpoint must be one of this log's trees."""
        from weightwarden.registry.note import open_checkpoint

        cp, _ = open_checkpoint(checkpoint, self.signer.verifier(), self.origin)
        if self.root(cp.size) != cp.root_hash:
            raise StoreError("the cosigned checkpoint is not a tree of this log", 409)
        with self._writer.begin() as conn:
            conn.execute(sa.delete(cosignatures).where(cosignatures.c.tree_size == cp.size,
                                                       cosignatures.c.witness == witness))
            conn.execute(sa.insert(cosignatures).values(tree_size=cp.size, witness=witness, checkpoint=checkpoint,
                                                        line=line, received_at=int(time.time())))

    def witnessed_checkpoint(self) -> bytes | None:
        """The largest checkpoint any witness cosigned, with every cosignature line kept for it."""
        with self._reader.begin() as conn:
            size = conn.execute(sa.select(sa.func.max(cosignatures.c.tree_size))).scalar()
            if size is None:
                return None
            rows = conn.execute(sa.select(cosignatures).where(cosignatures.c.tree_size == size)
                                .order_by(cosignatures.c.witness)).all()
        note = bytes(rows[0].checkpoint)
        return note + "".join(r.line if r.line.endswith("\n") else r.line + "\n" for r in rows).encode("utf-8")

    def witness_sizes(self) -> dict[str, tuple[int, int]]:
        """Per witness: (largest tree size it cosigned, when it was received)."""
        with self._reader.begin() as conn:
            rows = conn.execute(sa.select(cosignatures.c.witness, sa.func.max(cosignatures.c.tree_size),
                                          sa.func.max(cosignatures.c.received_at)).group_by(cosignatures.c.witness)).all()
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def size(self) -> int:
        with self._reader.begin() as conn:
            return int(self._state(conn).size)

    def cached_full_tile(self, tile: Any) -> bytes | None:
        """A full tile (immutable) from this process's memory, else None (no database round trip)."""
        return self._tile_cache.get((tile.level, tile.index)) if tile.is_full else None

    def tile(self, tile: Any) -> bytes:
        """The bytes of a hash tile or entry bundle (``tiles.Tile``) of the current tree."""
        if tile.is_full and (tile.level, tile.index) in self._tile_cache:
            return self._tile_cache[(tile.level, tile.index)]
        with self._reader.begin() as conn:
            size = int(self._state(conn).size)
            if tile.is_entries:
                first = tile.index * _tiles.TILE_WIDTH
                if first + tile.width > size:
                    raise StoreError(f"entry bundle {tile.path()} is beyond the tree (size {size})")
                rows = conn.execute(sa.select(entries.c.data).where(
                    entries.c.idx >= first, entries.c.idx < first + tile.width).order_by(entries.c.idx)).all()
                data = _tiles.encode_entry_bundle([bytes(r.data) for r in rows])
            else:
                available = size >> (_tiles.TILE_HEIGHT * tile.level)
                if tile.index * _tiles.TILE_WIDTH + tile.width > available:
                    raise StoreError(f"tile {tile.path()} is beyond the tree (size {size})")
                data = _tiles.read_tile_data(tile, _Reader(self, conn))
        if tile.is_full:
            with self._cache_lock:
                if len(self._tile_cache) > _TILE_CACHE_MAX:
                    self._tile_cache.clear()
                self._tile_cache[(tile.level, tile.index)] = data
        return data

    def export_static(self, folder: str | Any) -> int:
        """Write the log as static files a plain web server can serve (tlog-tiles): ``checkpoint``, every
        hash tile and entry bundle of the checkpoint's tree. Returns the tree size written. Full tiles never
        change, so an existing one is not rewritten; ``checkpoint`` is replaced last and atomically, so a
        mirror is never ahead of the tiles it serves."""
        import os
        from pathlib import Path

        from weightwarden.registry.note import Checkpoint, parse_note

        out = Path(folder)
        note = self.checkpoint()
        size = Checkpoint.parse(parse_note(note).text).size
        wanted = _tiles.tiles_for_size(size) + [_tiles.tile_for_entry(i, size) for i in range(0, size, _tiles.TILE_WIDTH)]
        for tile in wanted:
            path = out / tile.path()
            if tile.is_full and path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(self.tile(tile))
            os.replace(tmp, path)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".checkpoint.tmp"
        tmp.write_bytes(note)
        os.replace(tmp, out / "checkpoint")
        return size

    def entry(self, index: int) -> bytes:
        with self._reader.begin() as conn:
            row = conn.execute(sa.select(entries.c.data).where(entries.c.idx == index)).first()
        if row is None:
            raise StoreError(f"no entry {index} in the log")
        return bytes(row.data)

    def cached_inclusion_proof(self, index: int, tree_size: int | None) -> tuple[int, list[bytes]] | None:
        """The proof from memory alone (a tree this process saw committed, every hash cached), else None:
        no database round trip and no blocking, so the server can answer it on its event loop."""
        if tree_size is None or not 0 <= index < tree_size <= self._known_size:
            return None
        # The hash of a leaf range never changes, so range hashes are kept across requests and tree sizes:
        # the ranges near the right edge (shared by every proof in one tree) and the big left subtrees are
        # hashed once, and a proof is mostly dictionary look-ups.
        ranges = tlog.inclusion_ranges(index, tree_size)
        memo = self._range_cache
        proof = [memo.get(r) for r in ranges]
        missing = [r for r, h in zip(ranges, proof, strict=True) if h is None]
        if missing:
            try:
                computed = dict(zip(missing, tlog.range_hashes(missing, _CacheOnly(self)), strict=True))
            except _NotCached:
                return None
            with self._cache_lock:
                if len(memo) + len(computed) > _RANGE_CACHE_MAX:
                    memo.clear()
                memo.update(computed)
            proof = [h if h is not None else computed[r] for r, h in zip(ranges, proof, strict=True)]
        return tree_size, proof  # type: ignore[return-value]

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> tuple[int, list[bytes]]:
        """``(tree_size, proof)`` of entry ``index`` in the tree of ``tree_size`` (default: current size)."""
        cached = self.cached_inclusion_proof(index, tree_size)
        if cached is not None:
            return cached
        with self._reader.begin() as conn:
            size = int(self._state(conn).size)
            self._known_size = max(self._known_size, size)
            n = size if tree_size is None else tree_size
            if not 0 < n <= size or not 0 <= index < n:
                raise StoreError(f"no entry {index} in a tree of size {n} (the log has {size} entries)")
            self._fill_hash_cache(conn, size)
            return n, tlog.inclusion_proof(n, index, _Reader(self, conn))

    def _fill_hash_cache(self, conn: Connection, size: int) -> None:
        """Load the committed stored hashes of the tree of ``size`` that this process has not read yet, in one
        range query, when they are few enough (another worker's batches: without them every proof that needs
        one went to the database). Then proofs of that tree are answered from memory."""
        upto = tlog.stored_hash_count(size)
        start = self._filled_upto
        if upto <= start or upto - start > _FILL_MAX or upto > _HASH_CACHE_MAX:
            return
        rows = conn.execute(sa.select(hashes.c.idx, hashes.c.hash).where(hashes.c.idx >= start, hashes.c.idx < upto))
        fetched = {int(r.idx): bytes(r.hash) for r in rows}
        if len(fetched) == upto - start:
            self._remember_hashes(fetched)
            self._filled_upto = max(self._filled_upto, upto)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> tuple[int, list[bytes]]:
        with self._reader.begin() as conn:
            size = int(self._state(conn).size)
            n = size if new_size is None else new_size
            if not 0 <= old_size <= n <= size:
                raise StoreError(f"no consistency proof from size {old_size} to {n} (the log has {size} entries)")
            return n, tlog.consistency_proof(old_size, n, _Reader(self, conn))

    def root(self, tree_size: int) -> bytes:
        with self._reader.begin() as conn:
            size = int(self._state(conn).size)
            if not 0 <= tree_size <= size:
                raise StoreError(f"no tree of size {tree_size} (the log has {size} entries)")
            return tlog.tree_hash(tree_size, _Reader(self, conn))

    # model-line index ------------------------------------------------------------------------------------

    def release_by_bundle(self, bundle: str) -> dict[str, Any] | None:
        with self._reader.begin() as conn:
            row = conn.execute(sa.select(releases).where(releases.c.bundle == bundle).order_by(releases.c.idx)).first()
        return None if row is None else _release_row(row)

    def releases_by_bundle(self, bundle: str, model: str | None = None) -> list[dict[str, Any]]:
        """Every release of this bundle digest, one per model line that logged it (of line ``model`` only when
        given: red team round 15, D1), in log order."""
        query = sa.select(releases).where(releases.c.bundle == bundle)
        if model is not None:
            query = query.where(releases.c.model == model)
        with self._reader.begin() as conn:
            rows = conn.execute(query.order_by(releases.c.idx)).all()
        return [_release_row(r) for r in rows]

    def releases_by_subject(self, sha256: str, model: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(releases).where(releases.c.subject_sha256 == sha256)
        if model is not None:
            query = query.where(releases.c.model == model)
        with self._reader.begin() as conn:
            rows = conn.execute(query.order_by(releases.c.idx)).all()
        return [_release_row(r) for r in rows]

    def line_entries(self, model: str, *, after: int = -1, limit: int = 1000) -> tuple[list[int], int | None, int]:
        """One page of the log indexes of ``model``'s entries (its releases and every event naming it) below
        the current tree size, after index ``after``: ``(indexes, next after or None, tree size)``.

        Red team round 15 (D2): the index mode reads a line as indexes, paged, never as the whole view (whose
        incident records are unbounded); the client proves each entry itself."""
        limit = max(1, min(int(limit), LINE_ENTRIES_PAGE_MAX))
        with self._reader.begin() as conn:
            size = int(self._state(conn).size)
            rel = sa.select(releases.c.idx).where(releases.c.model == model, releases.c.idx > after,
                                                  releases.c.idx < size)
            ev = sa.select(events.c.idx).where(events.c.model == model, events.c.idx > after, events.c.idx < size)
            both = sa.union(rel, ev).subquery()
            rows = conn.execute(sa.select(both.c.idx).order_by(both.c.idx).limit(limit + 1)).all()
        found = [int(r[0]) for r in rows]
        more = len(found) > limit
        page = found[:limit]
        return page, (page[-1] if more else None), size

    def models(self) -> list[str]:
        with self._reader.begin() as conn:
            return [r[0] for r in conn.execute(sa.select(releases.c.model).distinct().order_by(releases.c.model))]

    def recent_releases(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._reader.begin() as conn:
            rows = conn.execute(sa.select(releases).order_by(releases.c.idx.desc()).limit(limit)).all()
        return [_release_row(r) for r in rows]

    def model_view(self, model: str) -> dict[str, Any]:
        """Everything the log says about one model line, each item with the index of its log entry."""
        with self._reader.begin() as conn:
            state = self._state(conn)
            size, root = int(state.size), bytes(state.root)
            view = self._model_view_in(conn, model, size)
        view["root"] = root.hex()  # the tree the view describes (the signed freshness view binds it)
        return view

    def _model_view_in(self, conn: Connection, model: str, size: int) -> dict[str, Any]:
        """The line as of tree ``size``, read in the caller's transaction: only entries below ``size``
        (committed rows never change, so the answer is the same whenever it is asked)."""
        rels = conn.execute(sa.select(releases).where(releases.c.model == model, releases.c.idx < size)
                            .order_by(releases.c.version)).all()
        evs = conn.execute(sa.select(events).where(events.c.model == model, events.c.idx < size)
                           .order_by(events.c.idx)).all()
        wanted = [e.idx for e in evs if e.kind in ("incident", "revocation")]
        logged = {int(r.idx): parse_logged(bytes(r.data)) for r in conn.execute(
            sa.select(entries.c.idx, entries.c.data).where(entries.c.idx.in_(wanted)))} if wanted else {}
        bodies = {i: e["body"] for i, e in logged.items()}
        owners = {i: str(e.get("publisher", {}).get("key_id", "")) for i, e in logged.items()}
        return build_model_view(model, size, [_release_row(r) for r in rels], evs, bodies, owners)

    @contextlib.contextmanager
    def _snapshot(self) -> Any:
        """One read transaction over one snapshot of the database (SQLite: a deferred BEGIN in WAL mode
        keeps the snapshot of its first read; PostgreSQL: REPEATABLE READ, whose snapshot is the
        transaction's, where the default READ COMMITTED takes a new one per statement)."""
        with self._reader.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def incidents(self) -> list[tuple[int, dict[str, Any]]]:
        """The current incident records: ``(index, incident record)``, one per ``(incident id, publisher
        key)`` (``views.current_incidents``): a key's later record counts when it continues that key's own
        lifecycle; another key's record under the same id is its own incident and can neither withdraw nor
        rewrite the first (red team rounds 1 and 2). Every page of :meth:`incident_heads` (not for a request
        path: it reads them all)."""
        return [(i, r) for i, _k, r in self.incident_records()]

    def incident_records(self) -> list[tuple[int, str, dict[str, Any]]]:
        """``incidents()`` with the publisher key of each record: ``(index, key id, record)``."""
        out: list[tuple[int, str, dict[str, Any]]] = []
        size, after = self.size(), -1
        while True:
            page, after_next = self.incident_heads(after=after, limit=INCIDENTS_PAGE_MAX, size=size)
            out.extend(page)
            if after_next is None:
                return out
            after = after_next

    @staticmethod
    def _heads(size: int) -> Any:
        """Index rows of the records that are the head of their (incident id, key) chain below ``size``.

        Red team round 7 (D2): a chain's current record is its latest, because the sequencer refuses a record
        that does not continue its key's chain head (``_BatchIndex._check_incident``): so
        ``views.current_incidents`` over all records and "the last record of each chain" agree, and the
        listings no longer need every record in memory."""
        t1 = incident_terms.alias("t1")
        t2 = incident_terms.alias("t2")
        later = sa.select(t2.c.idx).where(t2.c.kind == "id", t2.c.value == t1.c.value, t2.c.key_id == t1.c.key_id,
                                          t2.c.idx > t1.c.idx, t2.c.idx < size).exists()
        return t1, sa.select(t1.c.idx, t1.c.key_id).where(t1.c.kind == "id", t1.c.idx < size, ~later)

    def _read_incidents(self, conn: Connection, idxs: Sequence[int]) -> dict[int, tuple[dict[str, Any], int]]:
        """The records at ``idxs``: ``index -> (OSV record, entry bytes)``."""
        out: dict[int, tuple[dict[str, Any], int]] = {}
        for chunk in _chunks(sorted(set(idxs))):  # type: ignore[arg-type]
            for r in conn.execute(sa.select(entries.c.idx, entries.c.data).where(entries.c.idx.in_(chunk))):
                data = bytes(r.data)
                out[int(r.idx)] = (parse_logged(data)["body"]["incident"], len(data))
        return out

    def incident_heads(self, *, after: int = -1, limit: int = INCIDENTS_PAGE, size: int | None = None,
                       newest: bool = False, incident_id: str | None = None, line: str | None = None
                       ) -> tuple[list[tuple[int, str, dict[str, Any]]], int | None]:
        """One page of current incident records ``(index, key id, record)`` by log index (red team round 7,
        D2: ``GET /incidents`` and the web pages read pages, never every record): those with index > ``after``
        (``newest``: the newest ``limit``, index below ``after`` when ``after`` >= 0), at most ``limit``;
        ``incident_id``/``line``: only heads with that id / naming that model line. Second value: the cursor
        of the next page (None: no more). Records that no longer parse are left out."""
        from weightwarden.registry.incidents import Incident, IncidentError

        size = self.size() if size is None else size
        limit = max(1, min(int(limit), INCIDENTS_PAGE_MAX))
        t1, query = self._heads(size)
        if incident_id is not None:
            query = query.where(t1.c.value == incident_id)
        if line is not None:
            t3 = incident_terms.alias("t3")
            query = query.where(sa.select(t3.c.idx).where(t3.c.kind == "line", t3.c.value == line,
                                                          t3.c.idx == t1.c.idx).exists())
        if newest:
            if after >= 0:
                query = query.where(t1.c.idx < after)
            query = query.order_by(t1.c.idx.desc())
        else:
            query = query.where(t1.c.idx > after).order_by(t1.c.idx)
        with self._snapshot() as conn:
            rows = conn.execute(query.limit(limit + 1)).all()
            more = len(rows) > limit
            rows = rows[:limit]
            records = self._read_incidents(conn, [int(r.idx) for r in rows])
        out = []
        for r in rows:
            record, _n = records[int(r.idx)]
            try:
                Incident.from_osv(record, f"log entry {r.idx}")
            except IncidentError:
                continue
            out.append((int(r.idx), str(r.key_id), record))
        out.sort(key=lambda i: i[0])
        cursor = (int(rows[-1].idx) if rows else None) if more else None
        return out, cursor

    def parsed_incident(self, index: int, conn: Connection | None = None) -> tuple[Any, dict[str, Any], int] | None:
        """The record at ``index`` parsed, as logged, and its entry's bytes (bytes-bounded LRU); None: not an
        incident record, or one that no longer parses."""

        hit = self._incident_parsed.get(int(index))
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        with contextlib.nullcontext(conn) if conn is not None else self._reader.begin() as reader:
            found = self._read_incidents(reader, [int(index)]).get(int(index))
        if found is None:
            return None
        record, n = found
        return self._remember_parsed(int(index), record, n)

    def _remember_parsed(self, index: int, record: dict[str, Any], n: int) -> tuple[Any, dict[str, Any], int] | None:
        from weightwarden.registry.incidents import Incident, IncidentError

        try:
            incident = Incident.from_osv(dict(record), where=str(record.get("id")))
        except IncidentError:
            return None
        self._incident_parsed.put(int(index), (incident, record, n), 2 * n)  # the parse and the record
        return incident, record, n

    def relevant_incidents(self, conn: Connection, size: int, ids: set[str], roots: set[str],
                           digests: set[str], afford: Callable[[int], bool], charge: Callable[[int], None],
                           limits: list[str]) -> list[tuple[int, str, dict[str, Any]]]:
        """The incident records below ``size`` that name one of the ancestry's lines ``ids``, weights
        ``roots`` or file ``digests``, with every record of their (id, key) chains (red team round 7, D2: the
        walk used to read and parse every record in the log on every computation, none of it charged).
        Index rows cost ``TERM_COST`` each and records their entry's bytes (cached or not), through
        ``afford``/``charge``; past the budget (or ``MAX_RELEVANT_TERMS`` rows) the list is incomplete and
        only whole chains are returned."""
        def incomplete(message: str) -> None:
            if message not in limits:
                limits.append(message)

        too_many = (f"more than {MAX_RELEVANT_TERMS} incident index rows name the ancestry: the list of "
                    "affecting incidents is incomplete")
        from weightwarden.registry.affecting import term_value

        hits: set[int] = set()
        for kind, values in (("line", ids), ("root", {term_value(v) for v in roots}),
                             ("digest", {term_value(v) for v in digests})):
            for chunk in _chunks(sorted(values)):
                if not afford(QUERY_COST):
                    return []
                rows = conn.execute(sa.select(incident_terms.c.idx).where(
                    incident_terms.c.kind == kind, incident_terms.c.value.in_(chunk), incident_terms.c.idx < size)
                    .limit(MAX_RELEVANT_TERMS + 1)).all()
                charge(TERM_COST * len(rows))
                hits.update(int(r.idx) for r in rows)
                if len(rows) > MAX_RELEVANT_TERMS or len(hits) > MAX_RELEVANT_TERMS:
                    incomplete(too_many)
                    return []
        if not hits:
            return []
        chains: set[tuple[str, str]] = set()
        for chunk in _chunks(sorted(hits)):  # type: ignore[arg-type]
            if not afford(QUERY_COST):
                return []
            for r in conn.execute(sa.select(incident_terms.c.value, incident_terms.c.key_id).where(
                    incident_terms.c.kind == "id", incident_terms.c.idx.in_(chunk))):
                chains.add((str(r.value), str(r.key_id)))
        # Red team round 8 (X1): only the rows of the (id, key) chains found above are read and counted:
        # other keys' records under the same id are separate incidents and must not make this list incomplete.
        members: dict[tuple[str, str], list[int]] = {}
        counted = 0
        for chunk in _chunks(sorted(chains)):  # type: ignore[arg-type]
            if not afford(QUERY_COST):
                return []
            rows = conn.execute(sa.select(incident_terms.c.idx, incident_terms.c.value, incident_terms.c.key_id)
                                .where(incident_terms.c.kind == "id",
                                       sa.tuple_(incident_terms.c.value, incident_terms.c.key_id).in_(chunk),
                                       incident_terms.c.idx < size)
                                .limit(MAX_RELEVANT_TERMS + 1 - counted)).all()
            charge(TERM_COST * len(rows))
            counted += len(rows)
            if counted > MAX_RELEVANT_TERMS:
                incomplete(too_many)
                return []
            for r in rows:
                members.setdefault((str(r.value), str(r.key_id)), []).append(int(r.idx))
        out: list[tuple[int, str, dict[str, Any]]] = []
        for (_incident, key), idxs in sorted(members.items(), key=lambda kv: min(kv[1])):
            chain: list[tuple[int, str, dict[str, Any]]] = []
            for idx in sorted(idxs):
                if not afford(0):
                    return out  # whole chains only: a partial one could make an older record look current
                found = self._incident_parsed.get(idx)
                if found is not None:
                    _parsed, record, n = found
                else:
                    got = self._read_incidents(conn, [idx]).get(idx)
                    if got is None:
                        continue
                    record, n = got
                    self._remember_parsed(idx, record, n)
                charge(n)
                chain.append((idx, key, record))
            out.extend(chain)
        return out

    def affecting_incidents(self, release_index: int, size: int, limits: list[str] | None = None, *,
                            open_only: bool = True, spent: list[int] | None = None) -> list[Any]:
        """The open incidents affecting the release at ``release_index`` as of tree ``size``, through
        transitive declared lineage, same weights root, file digests and weights root (``affecting``): what
        the signed freshness view of its line lists (red team round 2). A bound hit is written to ``limits``
        (the view then says the list is incomplete, red team round 3). ``spent``: the cost of this call is
        added to ``spent[0]`` (0 when memoised), for a caller that bounds several calls (the web pages).

        Red team round 6 (D1): memoised per (release, size, open_only, key table), the inputs the answer
        depends on (entries below the size never change); each computation is bounded by
        ``max_view_cost`` and ends "incomplete" past it."""
        fingerprint = self._key_table_fingerprint()
        key = (int(release_index), int(size), bool(open_only), fingerprint)
        found = self._memo_get(key)
        if found is None:
            with self._memo_lock:
                lock = self._computing.setdefault(key, threading.Lock())
            with lock:  # one computation per key; the others wait for it and read the memo
                found = self._memo_get(key)
                if found is None:
                    try:
                        found = self._compute_affecting(release_index, size, open_only=open_only)
                    finally:
                        with self._memo_lock:
                            self._computing.pop(key, None)
                    computed, inner = found[:3], found[3]
                    if inner == fingerprint:  # the key table did not change in between: memoise
                        with self._memo_lock:
                            self._affecting_memo[key] = computed
                            while len(self._affecting_memo) > _AFFECTING_MEMO_MAX:
                                self._affecting_memo.popitem(last=False)
                    found = computed
        result, hit_limits, cost = found
        if limits is not None:
            limits.extend(m for m in hit_limits if m not in limits)
        if spent is not None:
            spent[0] += cost
        return list(result)

    def _memo_get(self, key: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[str, ...], int] | None:
        with self._memo_lock:
            found = self._affecting_memo.get(key)
            if found is not None:
                self._affecting_memo.move_to_end(key)
                return found[0], found[1], 0  # a memoised answer costs nothing
        return None

    @staticmethod
    def _fingerprint(pubs: Sequence[Publisher]) -> str:
        rows = sorted((p.key_id, list(p.namespaces), list(p.roles)) for p in pubs)
        return hashlib.sha256(json.dumps(rows).encode()).hexdigest()

    def _publishers_in(self, conn: Connection) -> list[Publisher]:
        return [Publisher(r.key_id, bytes(r.public_key), tuple(json.loads(r.namespaces)), tuple(json.loads(r.roles)),
                          r.name) for r in conn.execute(sa.select(publishers).order_by(publishers.c.created_at))]

    def _key_table_fingerprint(self) -> str:
        """The key table is the one input of the answer that is not append-only (a key removed or its grant
        changed alters entitlements): part of the memo's key."""
        with self._reader.connect() as conn:
            return self._fingerprint(self._publishers_in(conn))

    def _compute_affecting(self, release_index: int, size: int, *,
                           open_only: bool) -> tuple[tuple[Any, ...], tuple[str, ...], int, str]:
        limits: list[str] = []
        with self._snapshot() as conn:
            pubs = self._publishers_in(conn)
            spent = [0]
            found = self._affecting_in(conn, release_index, size, limits, open_only=open_only, pubs=pubs,
                                       spent=spent)
        return tuple(found), tuple(limits), spent[0], self._fingerprint(pubs)

    def _projection(self, conn: Connection, index: int) -> tuple[Any, int]:
        """The release at ``index`` as the walk needs it (``release_record``) and its entry's size: cached
        (LRU, bounded by the number of file digests held), a logged entry never changes."""
        from weightwarden.registry.affecting import release_record

        with self._memo_lock:
            hit = self._projections.get(index)
            if hit is not None:
                self._projections.move_to_end(index)
                return hit
        row = conn.execute(sa.select(entries.c.data).where(entries.c.idx == index)).first()
        if row is None:
            raise StoreError(f"no entry {index} in the log")
        data = bytes(row.data)
        hit = (release_record(parse_logged(data)["body"], index), len(data))
        with self._memo_lock:
            if index not in self._projections:
                self._projections[index] = hit
                self._projected_digests += len(hit[0].file_digests) + 1
                while self._projected_digests > _PROJECTED_DIGESTS_MAX and len(self._projections) > 1:
                    _, (old, _) = self._projections.popitem(last=False)
                    self._projected_digests -= len(old.file_digests) + 1
        return hit

    def _affecting_in(self, conn: Connection, release_index: int, size: int, limits: list[str] | None, *,
                      open_only: bool, pubs: Sequence[Publisher] | None = None,
                      spent: list[int] | None = None) -> list[Any]:
        # Red team round 5 (R3): every line is resolved as of ``size`` in the caller's one read transaction
        # (``_snapshot``). It used to be read at the database's current state and its latest release dropped
        # when logged at or past ``size``: a base release appended mid-request made the base an empty record,
        # its own bases were not walked, and the server signed a "complete" view without the incident.
        from weightwarden.registry.affecting import affecting, release_record
        from weightwarden.registry.incidents import MAX_ANCESTORS, ModelRecord

        limits = limits if limits is not None else []
        spent = spent if spent is not None else [0]
        pubs = list(pubs) if pubs is not None else self._publishers_in(conn)
        by_key = {p.key_id: p for p in pubs}
        over = (f"more than {self.max_view_cost} bytes of release entries and incident records to read for the affecting incidents "
                f"of the release at log index {release_index}: the list is incomplete")

        def afford(cost: int) -> bool:
            """Charge ``cost``; False (and the list is incomplete) once the budget is spent (red team round 6,
            D1: an unauthenticated read must not cost seconds of CPU)."""
            if spent[0] >= self.max_view_cost:
                if over not in limits:
                    limits.append(over)
                return False
            spent[0] += cost
            return True

        def entry_at(index: int) -> dict[str, Any]:
            row = conn.execute(sa.select(entries.c.data).where(entries.c.idx == index)).first()
            if row is None:
                raise StoreError(f"no entry {index} in the log")
            return parse_logged(bytes(row.data))

        logged = entry_at(release_index)
        body = logged["body"]
        latest_of: dict[str, Any] = {}

        def latest(model_id: str) -> Any:
            if model_id not in latest_of:
                if not afford(QUERY_COST):
                    return None
                view = self._model_view_in(conn, model_id, size)
                latest_of[model_id] = next((r for r in view["releases"] if r["bundle"] == view["latest"]), None)
            return latest_of[model_id]

        def record_at(index: int, line_id: str) -> Any:
            # past the budget a release is known by its line and index only: nothing more is read
            if not afford(0):
                return ModelRecord(model_id=line_id, index=index)
            record, cost = self._projection(conn, index)
            spent[0] += cost
            return record

        def line(model_id: str) -> Any:
            found = latest(model_id)
            if found is None:
                return ModelRecord(model_id=model_id)
            return record_at(int(found["index"]), model_id)

        def owner(model_id: str) -> str | None:
            if model_id == body["model"]:
                return str(logged.get("publisher", {}).get("key_id", "")) or None
            found = latest(model_id)
            return str(found["publisher"]) if found is not None and found.get("publisher") else None

        def same_root(root: str, line_id: str) -> list[tuple[str, str, Any]]:
            # Only claims by keys that may speak for the line are read (red team round 3, A1c: a flood of
            # other keys' claims must not cost every view request a scan of them).
            keys = {p.key_id for p in pubs if p.allows("release", [line_id]) is None}
            own = owner(line_id)
            if own:
                keys.add(own)
            if not keys or not afford(QUERY_COST):
                return []
            # Red team round 4 (A2): each release sharing the root, revoked and superseded ones included, is
            # what the link stands for (the linked line's latest release may be another version).
            rows = conn.execute(sa.select(releases.c.model, releases.c.publisher, releases.c.idx).where(
                releases.c.weights_root == root, releases.c.idx < size,
                releases.c.publisher.in_(sorted(keys))).order_by(releases.c.idx)
                .limit(4 * MAX_ANCESTORS + 1)).all()
            if len(rows) > 4 * MAX_ANCESTORS:
                limits.append(f"more than {4 * MAX_ANCESTORS} releases share a weights root of {line_id}'s "
                              "ancestry: the list of affecting incidents is incomplete")
            return [(str(r[0]), str(r[1]), record_at(int(r[2]), str(r[0]))) for r in rows[:4 * MAX_ANCESTORS]]

        def history(line_id: str) -> Iterator[Any]:
            # Red team round 4 (A2b), round 6 (A4): a declared base stands for every release of its line below
            # the view's size, revoked and superseded ones included, those logged after the child too (a base
            # v2 or a revocation of v1 must not clear an incident on the weights the child was built from, and
            # what the walk once reached must stay reached as the log grows). Round 6 (D1): a generator: the
            # walk pulls a release only while its budget lasts, and each is read only then.
            if not afford(QUERY_COST):
                return
            rows = conn.execute(sa.select(releases.c.idx).where(
                releases.c.model == line_id, releases.c.idx < size)
                .order_by(releases.c.idx).limit(MAX_ANCESTORS + 1)).all()
            if len(rows) > MAX_ANCESTORS:
                limits.append(f"more than {MAX_ANCESTORS} releases of the declared base {line_id}: the list of "
                              "affecting incidents is incomplete")
            for r in rows[:MAX_ANCESTORS]:
                if not afford(0):
                    return
                yield record_at(int(r[0]), line_id)

        def entitled_at(index: int, key: str, line_id: str, line_owner: str | None) -> bool:
            # Red team round 4 (K1): an incident record speaks with the grant its key had when the record was
            # logged; removing or rotating the key later does not clear it (records logged before that grant
            # was kept are judged against the current key table, as before).
            if line_owner is not None and key == line_owner:
                return True
            grant = self.incident_grant(index)
            if grant is None or grant.key_id != key:
                return entitled(key, line_id, line_owner, "incident")
            return grant.allows("incident", [line_id]) is None

        def entitled(key: str, line_id: str, line_owner: str | None, kind: str) -> bool:
            # The line's own publisher key, or a registered key whose namespace grant covers the line (for an
            # incident: with the incident role; an institute's "*" key is one).
            if line_owner is not None and key == line_owner:
                return True
            # the key table of this computation's snapshot (part of the memo's key), not a cached lookup
            pub = by_key.get(key)
            return pub is not None and pub.allows("incident" if kind == "incident" else "release", [line_id]) is None

        spent[0] += len(json.dumps(body))  # the judged release itself
        def relevant(ids: set[str], roots: set[str], digests: set[str]) -> list[tuple[int, str, dict[str, Any]]]:
            # Red team round 7 (D2): only the records naming the ancestry, charged to this computation's budget
            return self.relevant_incidents(conn, size, ids, roots, digests, afford,
                                           lambda n: spent.__setitem__(0, spent[0] + n), limits)

        return affecting(release_record(body, release_index), relevant, line, same_root,
                         parsed_cache=_Parsed(self._incident_parsed), owner=owner, entitled=entitled, limits=limits,
                         history=history, entitled_at=entitled_at, open_only=open_only)

    def incident_grant(self, index: int) -> Publisher | None:
        """The grant of the key that logged the incident record at ``index``, as it was then (None: logged
        before grants were kept). Immutable once written: cached."""
        if index in self._grant_cache:
            return self._grant_cache[index]
        with self._reader.begin() as conn:
            row = conn.execute(sa.select(incident_grants).where(incident_grants.c.idx == index)).first()
        found = None if row is None else Publisher(
            key_id=row.key_id, public_key=b"", namespaces=tuple(json.loads(row.namespaces)),
            roles=tuple(json.loads(row.roles)), name="")
        if row is not None and len(self._grant_cache) < 100_000:
            self._grant_cache[index] = found
        return found


def _release_row(row: Any) -> dict[str, Any]:
    return {"index": int(row.idx), "model": row.model, "version": int(row.version), "bundle": row.bundle,
            "subject_sha256": row.subject_sha256, "weights_root": row.weights_root, "publisher": row.publisher,
            "logged_at": int(row.logged_at)}


class _BatchIndex:
    """What the log already holds about the lines a batch touches: the database plus the batch so far.

    Releases are known per ``(model line, bundle digest)``: a bundle is unique within a line, not across
    lines, so nobody can claim another publisher's bundle first and lock it out of its own line (red team
    round 1, bundle squatting). Incident ids belong to the key that first logged them."""

    def __init__(self, conn: Connection, bodies: Sequence[tuple[Body, str]], found: _BatchReads, *,
                 max_chain: int = MAX_INCIDENT_CHAIN) -> None:
        # A few queries per batch (not per entry) fetch everything the checks below can ask about: releases,
        # revocations and latest versions came with the tree head (``found``, from ``_batch_reads``).
        chains = _batch_keys(bodies)[2]
        self.max_chain = max_chain
        self.known: dict[tuple[str, str], dict[str, Any]] = {}
        self.lines_of: dict[str, set[str]] = {}
        self.latest: dict[str, int] = {}
        self.revoked_set: set[tuple[str, str]] = set()
        # Red team round 8 (W1): per (incident id, key) chain of the batch, its head (log index, record) and
        # how many records it holds, from ``incident_heads``: never the chain's other records, nor other keys'
        # records under the id (the sequencer used to read and parse all of them for every record it checked).
        self.heads: dict[tuple[str, str], tuple[int, dict[str, Any], int]] = {}
        self._moved: set[tuple[str, str]] = set()
        for idx, model, version, bundle in found.releases:
            self.known[(model, bundle)] = {"index": int(idx), "model": model, "version": int(version)}
            self.lines_of.setdefault(bundle, set()).add(model)
        self.revoked_set.update((model, release) for model, release in found.revoked)
        for model, version in found.latest:
            self.latest[model] = int(version)
        for chunk in _chunks(sorted(chains)):  # type: ignore[arg-type]
            for row in conn.execute(
                    sa.select(incident_heads.c.incident, incident_heads.c.key_id, incident_heads.c.idx,
                              incident_heads.c.records, entries.c.data)
                    .join(entries, entries.c.idx == incident_heads.c.idx)
                    .where(sa.tuple_(incident_heads.c.incident, incident_heads.c.key_id).in_(chunk))):
                record = parse_logged(bytes(row.data))["body"]["incident"]
                self.heads[(str(row.incident), str(row.key_id))] = (int(row.idx), record, int(row.records))

    def release(self, bundle: str, model: str) -> dict[str, Any] | None:
        return self.known.get((model, bundle))

    def latest_version(self, model: str) -> int | None:
        return self.latest.get(model)

    def revoked(self, bundle: str, model: str) -> bool:
        return (model, bundle) in self.revoked_set

    def _of_line(self, bundle: str, model: str, what: str) -> dict[str, Any] | Rejected:
        rel = self.release(bundle, model)
        if rel is None:
            others = sorted(self.lines_of.get(bundle, ()))
            if others:
                return Rejected(422, f"{what} {bundle} is a release of {others[0]!r}, not of {model!r}")
            return Rejected(422, f"{what} {bundle} is not a release in this log")
        return rel

    def _check_incident(self, record: dict[str, Any], publisher: str) -> Rejected | None:
        """Incident records are scoped by ``(id, publisher key)`` (red team round 2): a key's later record under
        an id it already used must continue that record's lifecycle; a record under an id only another key
        used is that key's own, separate incident. Refusing it (round 1) let whoever logged an id first lock
        the rightful owner out (id squatting); every reader already keys records by (id, key), so accepting
        it can neither withdraw nor rewrite anyone else's incident."""
        from weightwarden.registry.views import _continues

        head = self.heads.get((str(record["id"]), publisher))
        if head is None:
            return None
        if head[2] >= self.max_chain:  # red team round 8 (W1): bounded per (id, key)
            return Rejected(409, f"incident {record['id']} already has {head[2]} records from this key, the most "
                                 f"this registry accepts per incident and key ({ENV_MAX_INCIDENT_CHAIN}); "
                                 "log a new incident id")
        if not _continues(head[1], record):
            return Rejected(409, f"this record of incident {record['id']} does not continue its logged "
                                 "lifecycle (same publication date, history extended, not rewritten)")
        return None

    def changed_heads(self) -> list[dict[str, Any]]:
        """The ``incident_heads`` rows this batch moved (the sequencer upserts them with the batch)."""
        return [{"incident": c[0], "key_id": c[1], "idx": self.heads[c][0], "records": self.heads[c][2]}
                for c in sorted(self._moved)]

    def check(self, body: Body, size: int, publisher: str = "") -> Rejected | None:
        d = body.data
        if body.kind == "release":
            existing = self.release(d["bundle"], d["model"])
            if existing is not None:
                return Rejected(409, f"this release bundle is already logged for {d['model']} at index "
                                     f"{existing['index']}")
            latest = self.latest_version(d["model"])
            if latest is not None and d["version"] <= latest:
                return Rejected(409, f"version {d['version']} of {d['model']} is not above the latest logged "
                                     f"version {latest} (versions only grow: no rollback, no second version N)")
            return None
        if body.kind == "supersession":
            old = self._of_line(d["old"], d["model"], "superseded release")
            new = self._of_line(d["new"], d["model"], "superseding release")
            for r in (old, new):
                if isinstance(r, Rejected):
                    return r
            if new["version"] <= old["version"]:  # type: ignore[index]
                return Rejected(422, "a release can only be superseded by a higher version")
            return None
        if body.kind in ("revocation", "audit"):
            rel = self._of_line(d["release"], d["model"], "release")
            if isinstance(rel, Rejected):
                return rel
            if body.kind == "revocation" and self.revoked(d["release"], d["model"]):
                return Rejected(409, f"release {d['release']} is already revoked")
            return None
        if body.kind == "incident":
            return self._check_incident(d["incident"], publisher)
        return None  # incidents may name lines this log has no release of (e.g. a base model)

    def record(self, body: Body, index: int, publisher: str, logged_at: int,
               rows: dict[str, list[dict[str, Any]]]) -> None:
        d = body.data
        if body.kind == "release":
            row = release_row(index, d, publisher, logged_at)
            rows["releases"].append({**row, "idx": row.pop("index")})
            self.known[(d["model"], d["bundle"])] = {"index": index, "model": d["model"], "version": d["version"]}
            self.lines_of.setdefault(d["bundle"], set()).add(d["model"])
            self.latest[d["model"]] = max(self.latest.get(d["model"], -1), d["version"])
            return
        if body.kind == "incident":
            # the record was checked to continue the head (``_check_incident``): it is the chain's head now,
            # as ``views.current_incidents`` would choose it
            chain = (str(d["incident"]["id"]), publisher)
            before = self.heads.get(chain)
            self.heads[chain] = (index, d["incident"], (before[2] if before else 0) + 1)
            self._moved.add(chain)
        for e in events_of(body.kind, d, index):
            rows["events"].append({"idx": e.idx, "kind": e.kind, "model": e.model, "release": e.release,
                                   "other": e.other, "incident": e.incident})
            if e.kind == "revocation" and e.release:
                self.revoked_set.add((e.model, e.release))


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def _prepare(w: PendingWrite) -> tuple[bytes, bytes] | Rejected | None:
    """A write's log entry bytes and RFC 6962 leaf hash; its 413 when the entry is over the size of a log entry;
    None when it carries no body (refused before)."""
    if w.refusal is not None or w.body is None:
        return None
    req = w.request
    try:
        data = LogEntry(w.body, req.publisher.key_id, req.publisher.public_key, req.method, req.path,
                        req.timestamp, req.nonce, req.signature).to_bytes()
    except EntryError as exc:
        return Rejected(413, exc.reason)
    return data, leaf_hash(data)


def _batch_keys(bodies: Sequence[tuple[Body, str]]) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    """The bundle digests, release model lines and (incident id, key) chains a batch's checks ask about."""
    bundles: set[str] = set()
    models: set[str] = set()
    chains: set[tuple[str, str]] = set()
    for body, key_id in bodies:
        d = body.data
        if body.kind == "release":
            models.add(d["model"])
        elif body.kind == "incident":
            chains.add((str(d["incident"]["id"]), key_id))
        bundles.update(d[k] for k in ("bundle", "old", "new", "release") if isinstance(d.get(k), str))
    return bundles, models, chains


@dataclass
class _BatchReads:
    """What the sequencer reads at the start of a batch (see :func:`_batch_reads`)."""

    size: int
    checkpoint: bytes
    nonces: set[tuple[str, str]]
    releases: list[tuple[Any, ...]]
    revoked: list[tuple[Any, ...]]
    latest: list[tuple[Any, ...]]
    hashes: dict[int, bytes]
    usage: dict[str, int]  # bytes each key of the batch logged today (the daily budget; empty without one)


_PREFETCH_HASHES = 65_536  # stored hashes another worker committed, read with the tree head (at most)


def _batch_reads(conn: Connection, dialect: str, batch_nonces: Sequence[tuple[str, str]],
                 bodies: Sequence[tuple[Body, str]],
                 hashes_from: int | None, day: int | None = None) -> _BatchReads:
    """The sequencer's reads, inside its transaction and in this order: the tree head (``FOR UPDATE`` on
    PostgreSQL: it serialises the writers; SQLite's ``BEGIN IMMEDIATE`` already did), the nonces of the batch
    already used, the releases, revocations and latest versions of the lines the batch touches, and the stored
    hashes from index ``hashes_from`` on (committed by other workers since this process's last batch; any
    hash not read here is read by ``_Reader`` when needed).

    Plain SQL on the driver's cursor. On PostgreSQL every statement is queued in one psycopg pipeline, so the
    reads cost ONE round trip instead of one each (BEGIN included): the server runs them in order, so every
    read after the locking SELECT sees what the previous writer committed (READ COMMITTED takes a snapshot per
    statement). The statements are those the ORM-level queries issued before; only their transport changed."""
    bundles, models, _chains = _batch_keys(bodies)
    pg = dialect == "postgresql"
    mark = "%s" if pg else "?"

    def among(column: str, values: list[str]) -> tuple[str, tuple[Any, ...]]:
        # PostgreSQL: one array parameter, so the statement's text is the same for every batch and psycopg
        # prepares it once per connection (an IN list of the batch's length is parsed and planned each time)
        if pg:
            return f'"{column}" = ANY(%s)', (values,)
        return f'"{column}" IN ({", ".join([mark] * len(values))})', tuple(values)

    queries: list[tuple[str, str, tuple[Any, ...]]] = [
        ("head", 'SELECT "size", "checkpoint" FROM "log_state" WHERE "id" = 1' + (" FOR UPDATE" if pg else ""), ())]
    # The used (key, nonce) pairs among the batch's, looked up through the table's primary key (key_id,
    # nonce). Selecting by nonce alone, as before, could not use it: every batch scanned the whole table,
    # which holds every nonce of the last 2 x window seconds (hundreds of thousands under load).
    pairs = list(dict.fromkeys(batch_nonces))
    for chunk in _chunks(pairs):
        keys_of = [k for k, _ in chunk]
        values = [v for _, v in chunk]
        if pg:
            queries.append(("nonces", 'SELECT n."key_id", n."nonce" FROM "nonces" n JOIN unnest(%s::text[], '
                            '%s::text[]) AS q(k, v) ON n."key_id" = q.k AND n."nonce" = q.v', (keys_of, values)))
        else:
            # both columns constrained: SQLite searches the primary key for each combination; a row returned
            # for a key and a nonce of two different writes is still a used pair, so the answer is exact
            kd, vd = list(dict.fromkeys(keys_of)), list(dict.fromkeys(values))
            queries.append(("nonces", f'SELECT "key_id", "nonce" FROM "nonces" WHERE "key_id" IN '
                            f'({", ".join("?" * len(kd))}) AND "nonce" IN ({", ".join("?" * len(vd))})',
                            (*kd, *vd)))
    for chunk in _chunks(sorted(bundles)):
        where, params = among("bundle", chunk)
        queries.append(("releases", f'SELECT "idx", "model", "version", "bundle" FROM "releases" WHERE {where}',
                        params))
        where, params = among("release", chunk)
        queries.append(("revoked", f'SELECT "model", "release" FROM "events" WHERE "kind" = {mark} AND {where}',
                        ("revocation", *params)))
    for chunk in _chunks(sorted(models)):
        where, params = among("model", chunk)
        queries.append(("latest", f'SELECT "model", max("version") FROM "releases" WHERE {where} GROUP BY "model"',
                        params))
    if hashes_from is not None:
        queries.append(("hashes", f'SELECT "idx", "hash" FROM "hashes" WHERE "idx" >= {mark} ORDER BY "idx" '
                        f'LIMIT {_PREFETCH_HASHES}', (hashes_from,)))
    if day is not None:  # the daily byte budget: what the batch's keys logged today, in the same round trip
        for chunk in _chunks(sorted({k for k, _ in pairs})):
            where, params = among("key_id", chunk)
            queries.append(("usage", f'SELECT "key_id", "bytes" FROM "key_usage" WHERE "day" = {mark} AND {where}',
                            (day, *params)))
    raw = conn.connection.driver_connection
    out: dict[str, list[tuple[Any, ...]]] = {"head": [], "nonces": [], "releases": [], "revoked": [], "latest": [],
                                             "hashes": [], "usage": []}
    if pg:
        with raw.pipeline():  # type: ignore[union-attr]
            cursors = []
            for what, sql, params in queries:
                cur = raw.cursor()  # type: ignore[union-attr]
                cur.execute(sql, params)
                cursors.append((what, cur))
            for what, cur in cursors:
                out[what].extend(cur.fetchall())
                cur.close()
    else:
        cur = raw.cursor()  # type: ignore[union-attr]
        try:
            for what, sql, params in queries:
                out[what].extend(cur.execute(sql, params).fetchall())
        finally:
            cur.close()
    if len(out["head"]) != 1:
        raise RuntimeError("the log's tree head row is missing")
    return _BatchReads(int(out["head"][0][0]), bytes(out["head"][0][1]), {(str(k), str(n)) for k, n in out["nonces"]}, out["releases"],
                       out["revoked"], out["latest"], {int(i): bytes(h) for i, h in out["hashes"]},
                       {str(k): int(n) for k, n in out["usage"]})


class Sequencer:
    """Batches concurrent appends of one process into :meth:`Store.append_batch` transactions.

    Requests queue up while a batch commits; the next batch takes all of them (up to ``max_batch``), so
    under load one transaction (one fsync, one checkpoint signature) serves hundreds of appends."""

    def __init__(self, store: Store, *, max_batch: int = 1024) -> None:
        self.store, self.max_batch = store, max_batch
        # each pending write waits on a concurrent Future (submit) or on an asyncio future of a loop
        self._pending: list[tuple[PendingWrite, Any]] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="ww-sequencer", daemon=True)
        self._thread.start()

    def submit(self, write: PendingWrite) -> Future[Appended | Rejected]:
        fut: Future[Appended | Rejected] = Future()
        with self._cond:
            if self._stopped:
                fut.set_result(Rejected(503, "the registry is shutting down"))
                return fut
            self._pending.append((write, fut))
            self._cond.notify()
        return fut

    def submit_async(self, writes: Sequence[PendingWrite]) -> list[asyncio.Future[Appended | Rejected]]:
        """Queue ``writes`` from a coroutine (call it on the event loop); one asyncio future per write.

        A batch's results reach each loop with one ``call_soon_threadsafe`` (one wake-up of the loop per
        batch, not a thread-safe hand-over per request as ``asyncio.wrap_future(submit(w))`` costs)."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Appended | Rejected]] = [loop.create_future() for _ in writes]
        with self._cond:
            if self._stopped:
                for fut in futures:
                    fut.set_result(Rejected(503, "the registry is shutting down"))
                return futures
            self._pending.extend((w, (loop, f)) for w, f in zip(writes, futures, strict=True))
            self._cond.notify()
        return futures

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if not self._pending and self._stopped:
                    return
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                results: Sequence[Appended | Rejected] = self.store.append_batch([w for w, _ in batch])
            except Exception as exc:  # noqa: BLE001 - a failed transaction fails its requests, not the thread
                results = [Rejected(503, f"the append was not committed: {type(exc).__name__}")] * len(batch)
            by_loop: dict[Any, list[tuple[asyncio.Future[Appended | Rejected], Appended | Rejected]]] = {}
            for (_, target), result in zip(batch, results, strict=True):
                if isinstance(target, Future):
                    target.set_result(result)
                else:
                    by_loop.setdefault(target[0], []).append((target[1], result))
            for loop, done in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these answers any more
                    loop.call_soon_threadsafe(_resolve, done)


def _resolve(done: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for fut, result in done:
        if not fut.done():  # a request whose client went away was cancelled
            fut.set_result(result)


StoreFactory = Callable[[], Store]


def _incident_terms(record: dict[str, Any]) -> list[tuple[str, str]]:
    from weightwarden.registry.affecting import incident_terms

    return incident_terms(record)


class ByteLRU:
    """A thread-safe LRU bounded by the total of the weights given with each value (red team round 7, D2: the
    parsed-incident cache was bounded by count, and a count of 64-KB records is hundreds of MB)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Any, value: Any, weight: int) -> None:
        if weight > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._items[key] = (value, weight)
            self.bytes += weight
            while self.bytes > self.max_bytes and self._items:
                _, (_, w) = self._items.popitem(last=False)
                self.bytes -= w

    def __len__(self) -> int:
        return len(self._items)


class _Parsed:
    """The parsed incidents of a :class:`ByteLRU` of ``(incident, record, bytes)``, as ``affecting`` reads them."""

    def __init__(self, lru: ByteLRU) -> None:
        self.lru = lru

    def get(self, index: int) -> Any:
        found = self.lru.get(index)
        return None if found is None else found[0]
