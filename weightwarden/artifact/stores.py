"""Key-value stores whose values a loader unpickles: shelve's dbm backends, sqlitedict, diskcache (red team round 22).

``shelve.open(p)[key]`` unpickles the bytes its dbm backend returns for ``key``; sqlitedict, diskcache and
Python 3.13's ``dbm.sqlite3`` keep pickles in SQLite BLOBs. The pickle sits at an offset that an index names
(another file, or the database's own pages), never necessarily at byte 0, so the byte-0 pickle probe cannot
see it. This module reads such stores the way their loaders find values:

* dbm.dumb: ``X.dat`` (the name the loader opens) next to an ``X.dir`` text index whose lines are Python
  literals ``'key', (pos, size)``, read exactly as dbm.dumb's ``_update`` reads them (round 23). Every named slice of ``X.dat`` that starts like a pickle
  is walked by the pickle machine and reported as ``X.dat[key]``; a slice past the end of ``X.dat``,
  overlapping another, or an index line we cannot parse is an anomaly (the loader's view is unknown).
* SQLite ("SQLite format 3\\0"): opened read-only and immutable (``file:...?mode=ro&immutable=1``), with no
  extension loading, a bound on value length and a progress handler bounding the work; every BLOB of every
  ordinary table and every view that starts like a pickle is walked (a view or trigger is itself medium), and
  diskcache's ``Cache.filename`` names value files that are read as references (round 23). A WAL or rollback journal beside it (which a normal
  open would apply, while the immutable open ignores it) makes the store unverified.
* gdbm / ndbm / Berkeley DB (by magic): their hash pages are not parsed here, so they are reported as
  unverified stores (medium), never as unknown content (info).

Anomaly codes:
    store.index_out_of_bounds: a dbm.dumb index entry names bytes past the end of its ``.dat``.
    store.index_overlap: two index entries name overlapping slices.
    store.index_unparsable: an index line is not a ``(str, (int, int))`` literal within our bounds.
    store.unverified: a store whose values a loader may unpickle could not be read to check them.
"""

from __future__ import annotations

import ast
import os
import re
import sqlite3
import struct
import tempfile
import urllib.parse

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import FileEntry
from weightwarden.artifact.siblings import loader_path
from weightwarden.artifact.source import Source, copy_bounded, window_source

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_INDEX_BYTES = 64 * 1024 * 1024  # a dbm.dumb .dir larger than this is not read (unverified)
MAX_INDEX_LINE = 64 * 1024  # characters of one index line handed to ast.literal_eval
MAX_SQLITE_VALUE = 256 * 1024 * 1024  # SQLITE_LIMIT_LENGTH: a larger value fails the query (unverified)
MAX_SQLITE_TABLES = 1000
MAX_SQLITE_ROWS = 5_000_000  # rows read over all tables
MAX_SQLITE_STEPS = 50_000  # progress-handler calls (each every 10,000 VM instructions): ~5*10^8 instructions
MAX_SQLITE_COPY = 4 * 1024 * 1024 * 1024  # an archive member copied to a temporary file to be opened
GDBM_MAGICS = frozenset({0x13579ACD, 0x13579ACE, 0x13579ACF, 0x13579AD0, 0x13579AD1})
BDB_MAGICS = frozenset({0x00061561, 0x00053162, 0x00042253, 0x00040988})  # hash, btree, queue, log
MAX_SLICE_NAME = 80
# diskcache's own triggers (Cache.__init__), as SQLite stores their text: they only keep the Settings counters
# ("count", "size") and change no value a loader reads, so they are the layout, not computed values. Matched
# on name and exact text; any other trigger or view makes the store medium (round 23, B).
_DISKCACHE_TRIGGERS = {
    f"Settings_{what}_{event.lower()}": (
        f"CREATE TRIGGER Settings_{what}_{event.lower()} AFTER {event} ON Cache FOR EACH ROW BEGIN "
        f"UPDATE Settings SET value = {change} WHERE key = \"{what}\"; END"
    )
    for what, event, change in (
        ("count", "INSERT", "value + 1"), ("count", "DELETE", "value - 1"), ("size", "INSERT", "value + NEW.size"),
        ("size", "UPDATE", "value + NEW.size - OLD.size"), ("size", "DELETE", "value - OLD.size"),
    )
}


def note_store(source: Source, ctx: ReadContext, entry: FileEntry) -> FileEntry:
    """Recognise ``source`` as a store whose values a loader unpickles and read (or flag) its values."""
    try:
        with source.open() as f:
            head = f.read(16)
    except OSError:
        return entry
    if head.startswith(SQLITE_MAGIC):
        _read_sqlite(source, ctx, entry)
    elif _dbm_magic(head):
        entry.add_anomaly(
            "store.unverified", source.display,
            f"a {_dbm_magic(head)} database: shelve (dbm.open) unpickles its values, which are not read here; "
            "it could not be verified", head[:16].hex(),
        )
    else:
        # Round 23 (D5): dbm.dumb appends ".dat"/".dir" to the name it is given, so the pair is matched on the
        # name the loader opens (the walk's display name, a link's own name), not on the file a link points to.
        dat = _loader_path(source)
        if dat is not None and dat.endswith(".dat") and os.path.isfile(dat[: -len(".dat")] + ".dir"):
            _read_dumb(source, dat, ctx, entry)
    return entry


def _loader_path(source: Source) -> str | None:
    """The path a loader opens for ``source`` (a link's own name, joined to the scanned folder), or None for a
    member of an archive (no loader opens a store there in place): :func:`.siblings.loader_path`."""
    return loader_path(source.display, source.fs_path, source.fs_dir)


def _dbm_magic(head: bytes) -> str | None:
    if len(head) >= 4 and {struct.unpack("<I", head[:4])[0], struct.unpack(">I", head[:4])[0]} & GDBM_MAGICS:
        return "GNU dbm"
    if len(head) >= 16 and {struct.unpack("<I", head[12:16])[0], struct.unpack(">I", head[12:16])[0]} & BDB_MAGICS:
        return "Berkeley DB"
    if len(head) >= 4 and {struct.unpack("<I", head[:4])[0], struct.unpack(">I", head[:4])[0]} & {0x00061561}:
        return "Berkeley DB 1.85 hash"
    return None


_LINE_ENDS = re.compile(r"\r\n|\r|\n")  # text mode's universal newlines, and nothing else (not str.splitlines)


def _pair(value: object) -> tuple[object, object] | None:
    """``a, b = value`` as the loader unpacks it, for the literal types whose iteration order is fixed
    (a set's order of strings differs between processes, so a set is never accepted)."""
    if isinstance(value, (tuple, list, str, bytes, dict)) and len(value) == 2:
        a, b = value  # literals only: unpacking a dict gives its keys, a str its characters, as in the loader
        return a, b
    return None


def _offset(value: object) -> int | None:
    # f.seek(pos) / f.read(siz) take any int (a bool is one: seek(True) is seek(1)).
    return int(value) if isinstance(value, int) else None


def parse_dumb_index(text: str) -> tuple[list[tuple[str, int, int]], list[tuple[int, str]]]:
    """The ``(key, pos, size)`` entries of a dbm.dumb ``.dir`` text and its lines that are not such entries.

    Exactly as dbm.dumb's ``_update`` reads it (round 23): lines end at ``\r``, ``\n`` or ``\r\n`` (the
    index is read in text mode), each is ``ast.literal_eval(line.rstrip())`` unpacked as ``key, (pos, siz)``
    whatever 2-sequences they are (tuples or lists, at both levels). We evaluate lines of bounded length
    (``literal_eval`` evaluates literals only: nothing is run). A negative or ``None`` size reads to the end
    of ``.dat`` (``f.read(-1)``), reported here as the size ``-1``.
    """
    entries: list[tuple[str, int, int]] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(_LINE_ENDS.split(text), 1):
        line = line.rstrip()
        if not line:
            continue  # dbm.dumb fails on a blank line in the middle; a final newline is what it writes
        if len(line) > MAX_INDEX_LINE:
            bad.append((number, f"line of {len(line)} characters"))
            continue
        try:
            value = ast.literal_eval(line)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
            bad.append((number, f"{type(exc).__name__}: {line[:60]!r}"))
            continue
        outer = _pair(value)
        inner = _pair(outer[1]) if outer is not None else None
        pos = _offset(inner[0]) if inner is not None else None
        size = -1 if inner is not None and inner[1] is None else (_offset(inner[1]) if inner is not None else None)
        if outer is None or not isinstance(outer[0], str) or pos is None or pos < 0 or size is None:
            bad.append((number, f"not 'key', (pos, size): {line[:60]!r}"))
            continue
        entries.append((outer[0], pos, max(size, -1)))
    return entries, bad


def is_dumb_index(head: bytes) -> bool:
    """``dbm.whichdb``'s test: an empty ``.dir``, or one whose first byte is a quote."""
    return not head or head[:1] in (b"'", b'"')


def _read_dumb(source: Source, dat: str, ctx: ReadContext, entry: FileEntry) -> None:
    """``X.dat`` with a dbm.dumb index ``X.dir`` beside it (dbm.dumb.open appends both suffixes, exactly so):
    walk every slice the index names as shelve would unpickle it, reported as ``X.dat[key]``."""
    assert source.fs_path is not None
    dir_path = dat[: -len(".dat")] + ".dir"
    dir_display = (source.display[: -len(".dat")] if source.display.endswith(".dat") else source.display) + ".dir"
    try:
        with open(dir_path, "rb") as f:
            raw = f.read(MAX_INDEX_BYTES + 1)
    except OSError:
        return
    text = raw[:MAX_INDEX_BYTES].decode("latin-1")  # what dbm.dumb opens it with
    entries, bad = parse_dumb_index(text)
    if not entries and not is_dumb_index(raw[:1]):
        return  # not a dbm.dumb index (an ndbm .dir is binary and sits next to a .pag)
    # From here on it is one (whichdb's test, or a line dbm.dumb.open reads): every line we cannot read as the
    # loader does is WW-PKL-015, never a silent return (round 23, D1/D2/D4).
    if len(raw) > MAX_INDEX_BYTES:
        entry.add_anomaly("store.unverified", dir_display,
                          f"a dbm.dumb index larger than {MAX_INDEX_BYTES} bytes: the rest of its entries were not read")
    dat_size = source.size
    entry.metadata["store"] = {"kind": "dbm.dumb", "index": dir_display, "entries": len(entries)}
    for number, why in bad:
        entry.add_anomaly("store.index_unparsable", f"{dir_display}:{number}",
                          "a dbm.dumb index line that is not ('key', (pos, size)): which bytes a loader reads is unknown",
                          why)
    if len(entries) > ctx.limits.max_archive_members:
        entry.add_anomaly("store.unverified", dir_display,
                          f"{len(entries)} index entries, more than {ctx.limits.max_archive_members}: the rest were not read")
        entries = entries[: ctx.limits.max_archive_members]
    spans: list[tuple[int, int, str]] = []
    for key, pos, size in entries:
        name = _slice_name(source.display, key)
        if size < 0:
            size = max(0, dat_size - pos)  # f.read(-1) / f.read(None): the rest of the file
        if pos + size > dat_size:
            entry.add_anomaly("store.index_out_of_bounds", name,
                              f"{dir_display} names bytes {pos}..{pos + size} of a {dat_size}-byte data file",
                              f"{key!r}, ({pos}, {size})")
            size = max(0, dat_size - pos)  # dbm.dumb reads what is there
        if size:
            spans.append((pos, pos + size, name))
            _walk_slice(window_source(source.fs_path, pos, size, name, source.fs_dir), ctx, entry)
    spans.sort()
    for (_a, a_end, a_name), (b_start, _b_end, b_name) in zip(spans, spans[1:], strict=False):
        if b_start < a_end:
            entry.add_anomaly("store.index_overlap", b_name, f"its bytes overlap those of {a_name}",
                              f"@{b_start} < {a_end}")


def _slice_name(dat_display: str, key: str) -> str:
    shown = key if key.isprintable() and len(key) <= MAX_SLICE_NAME else ascii(key)[:MAX_SLICE_NAME]
    return f"{dat_display}[{shown}]"


def _walk_slice(slice_source: Source, ctx: ReadContext, entry: FileEntry) -> None:
    """Read one stored value as the pickle a loader unpickles; values that are no pickle are left alone."""
    from weightwarden.artifact.readers import pickle_file
    from weightwarden.artifact.sniff import HEAD_BYTES, has_real_sites, looks_like_pickle

    with slice_source.open() as f:
        head = f.read(HEAD_BYTES)
    if not head:
        return
    child = pickle_file.read(slice_source, ctx)
    first = child.code[0].analysis if child.code else None
    named = any(has_real_sites(c.analysis) for c in child.code if c.analysis is not None)
    if not named and not looks_like_pickle(head) and (first is None or first.error is not None):
        return  # raw bytes (a dbm value used without shelve): unpickling them fails before anything runs
    child.metadata["stored_value"] = True
    entry.children.append(child)


def _read_sqlite(source: Source, ctx: ReadContext, entry: FileEntry) -> None:
    """Every BLOB of an SQLite database that starts like a pickle (sqlitedict, diskcache, dbm.sqlite3)."""
    if source.fs_path is not None:
        for side in ("-wal", "-journal"):
            if os.path.exists(source.fs_path + side) and os.path.getsize(source.fs_path + side) > 0:
                entry.add_anomaly(
                    "store.unverified", source.display,
                    f"an SQLite database with a {side[1:]} file beside it: a normal open applies it, so the values a "
                    "loader unpickles may differ from those read here", side,
                )
        _read_sqlite_file(source.fs_path, source, ctx, entry)
        return
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as tmp:
        try:
            with source.open() as f:
                copy_bounded(f, tmp, MAX_SQLITE_COPY)
            tmp.flush()
        except Exception as exc:  # noqa: BLE001 - fail closed with a finding
            entry.add_anomaly("store.unverified", source.display, f"an SQLite database that could not be copied: {exc}")
            return
        _read_sqlite_file(tmp.name, source, ctx, entry)


def _read_sqlite_file(path: str, source: Source, ctx: ReadContext, entry: FileEntry) -> None:
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro&immutable=1"
    steps = [0]

    def progress() -> int:
        steps[0] += 1
        return 1 if steps[0] > MAX_SQLITE_STEPS else 0  # non-zero aborts the query

    blobs = rows = 0
    files: list[tuple[str, object]] = []  # diskcache: (filename, mode) of values kept in files (round 23, C)
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        entry.add_anomaly("store.unverified", source.display, f"an SQLite database that could not be opened: {exc}")
        return
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SQLITE_VALUE)
        conn.set_progress_handler(progress, 10_000)
        conn.execute("PRAGMA trusted_schema=OFF")  # no functions from the schema run with side effects
        # Round 23 (B): a view is queried exactly like a table (sqlitedict's "CREATE TABLE IF NOT EXISTS unnamed"
        # does nothing when a view of that name exists, then "SELECT value FROM unnamed" runs the view), so views
        # are read too, and their values are whatever their SQL computes: read by running them, bounded alike.
        objects = list(conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') "
            "AND (type <> 'table' OR sql NOT LIKE 'CREATE VIRTUAL%') LIMIT ?",
            (MAX_SQLITE_TABLES + 1,),
        ))
        if len(objects) > MAX_SQLITE_TABLES:
            entry.add_anomaly("store.unverified", source.display,
                              f"more than {MAX_SQLITE_TABLES} tables, views and triggers: the rest were not read")
            objects = objects[:MAX_SQLITE_TABLES]
        computed = sorted({f"{kind} {_short(name)}" for kind, name, sql in objects
                           if kind != "table" and not (kind == "trigger" and _DISKCACHE_TRIGGERS.get(name) == sql)})
        if computed:
            entry.add_anomaly(
                "store.unverified", source.display,
                "an SQLite database whose schema computes values (views or triggers): a loader querying a view reads "
                "what its SQL builds, which may differ from what was read here", ", ".join(computed)[:300],
            )
        for kind, name, _sql in objects:
            if kind == "trigger":
                continue
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                cursor = conn.execute(f"SELECT * FROM {quoted}")  # noqa: S608 - a quoted identifier, read-only
                columns = [d[0] for d in cursor.description or ()]
                is_cache = name.casefold() == "cache" and {"filename", "mode"} <= {c.casefold() for c in columns}
                for number, row in enumerate(cursor):
                    rows += 1
                    if rows > MAX_SQLITE_ROWS:
                        raise _Bound(f"more than {MAX_SQLITE_ROWS} rows")
                    if is_cache:
                        named = {c.casefold(): v for c, v in zip(columns, row, strict=True)}
                        if isinstance(named["filename"], str | bytes):
                            files.append((named["filename"], named["mode"]))
                    for column, value in zip(columns, row, strict=True):
                        if isinstance(value, str):
                            value = value.encode("utf-8", "surrogatepass")
                        if not isinstance(value, bytes) or not value:
                            continue
                        blobs += 1
                        shown = f"{source.display}[{_short(name)}:{number}:{_short(column)}]"
                        _walk_slice(Source.from_bytes(value, shown, source.fs_dir), ctx, entry)
            except sqlite3.Error as exc:
                if steps[0] > MAX_SQLITE_STEPS:
                    raise _Bound(f"more than {MAX_SQLITE_STEPS * 10_000} SQLite instructions") from exc
                entry.add_anomaly("store.unverified", source.display,
                                  f"the SQLite {kind} {_short(name)!r} could not be read under the scanner's limits "
                                  f"(read-only, no trusted schema, bounded): a loader may still read it: {exc}")
    except _Bound as exc:
        entry.add_anomaly("store.unverified", source.display, f"an SQLite database read only in part: {exc}")
    except (sqlite3.Error, MemoryError, OverflowError) as exc:
        entry.add_anomaly("store.unverified", source.display,
                          f"an SQLite database whose values a loader may unpickle could not be read in full: {exc}")
    finally:
        conn.close()
    entry.metadata["store"] = {"kind": "sqlite", "values_read": blobs, "rows": rows}
    if files:
        _read_value_files(files, source, ctx, entry)


def _read_value_files(files: list[tuple[str | bytes, object]], source: Source, ctx: ReadContext,
                      entry: FileEntry) -> None:
    """diskcache keeps large values in files its ``Cache`` table names (``filename``, relative to the cache
    folder; ``mode`` 4 = pickled): ``Disk.fetch`` opens ``os.path.join(directory, filename)`` and unpickles it.
    The table is an index, so its names get the walk's reference rules (round 23, C): a name outside the cache
    folder is WW-FS-008, one into a folder the walk skips (.git) is WW-FS-007, and every named file is read."""
    from weightwarden.artifact.walk import skipped_parts

    loader = _loader_path(source)
    if loader is None or source.fs_dir is None:
        entry.add_anomaly("store.unverified", source.display,
                          f"a diskcache store naming {len(files)} value files that cannot be found from inside an archive")
        return
    folder = os.path.dirname(os.path.abspath(loader))
    root = os.path.abspath(source.fs_dir)
    real_root = os.path.realpath(root)
    if len(files) > ctx.limits.max_archive_members:
        entry.add_anomaly("store.unverified", source.display,
                          f"{len(files)} value files named, more than {ctx.limits.max_archive_members}: the rest were not read")
        files = files[: ctx.limits.max_archive_members]
    seen: set[str] = set()
    for raw_name, _mode in files:
        name = raw_name if isinstance(raw_name, str) else raw_name.decode("utf-8", "surrogateescape")
        if "\x00" in name:
            continue  # open() refuses it: the loader fails
        lexical = os.path.normpath(os.path.join(folder, name))
        real = os.path.realpath(os.path.join(folder, name))
        if os.path.isabs(name) or not _inside(lexical, folder) or not _inside(real, real_root):
            entry.add_anomaly("fs.index_escape", source.display,
                              f"a diskcache store names the value file {name[:200]!r}, outside its folder: the loader "
                              "reads whatever that path holds on the loading machine", name[:200])
            continue
        if not os.path.isfile(real) or real in seen:
            continue  # missing: the loader fails on that key (nothing runs)
        seen.add(real)
        display = os.path.relpath(lexical, root).replace(os.sep, "/")
        into = skipped_parts(display, is_file=True) or skipped_parts(
            os.path.relpath(real, real_root).replace(os.sep, "/"), is_file=True)
        if into is not None:
            entry.add_anomaly("fs.reference_into_skipped", source.display,
                              f"a diskcache store names the value file {display!r}, in {into!r}, which the scan "
                              "skips: the loader unpickles it through this name (it was read)", display)
        _walk_slice(Source.from_path(real, f"{source.display}[file {_short(display)}]", source.fs_dir), ctx, entry)


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:
        return False


class _Bound(Exception):
    pass


def _short(name: str) -> str:
    return name if name.isprintable() and len(name) <= 40 else ascii(name)[:40]
