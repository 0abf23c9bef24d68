"""Red team round 23 on the scanner's store readers (helper rd23).

A. A dbm.dumb index read exactly as dbm.dumb reads it: pairs that are lists (D1, D4), lines ended by ``\\r``
   only (D2), whole lines that are lists (D3), and a ``store.dat`` that is a link (D5) are all read; an index
   dbm.whichdb recognises whose lines we cannot read is WW-PKL-015, never silence.
B. SQLite views are read like tables (Q1: a literal pickle in the view; Q2: a pickle the view's SQL builds);
   any view or trigger that is not diskcache's own is at least medium; a view that fails is medium.
C. diskcache's ``filename`` column is an index: each named file is read, and a name into ``.git`` is WW-FS-007,
   one outside the cache folder WW-FS-008.

Each PoC is rebuilt here with the real library where the venv has it (dbm.dumb, shelve, sqlite3, diskcache;
sqlitedict's victim run is skipped when it is not importable), and the victim proofs run in a subprocess.
"""

from __future__ import annotations

import dbm.dumb
import importlib.util
import os
import pickle
import re
import shelve
import sqlite3
from pathlib import Path

import pytest

from tests.scan_rounds import strict_cli_rc, victim_leaves_canary
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths


class _Canary:
    """Pickled with ``__reduce__`` = os.system('touch canary'): the test only ever dumps it."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch canary",))


def _payload(protocol: int = 4) -> bytes:
    return pickle.dumps({"weights": [1.0, 2.0], "hook": _Canary()}, protocol=protocol)


def _mk(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def _findings(path: Path) -> list[tuple[str, Severity, str]]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.severity, f.file) for f in report.findings]


def _rules(path: Path) -> set[tuple[str, Severity]]:
    return {(rule, severity) for rule, severity, _file in _findings(path)}


def _worst_is_high(path: Path) -> bool:
    return any(severity.at_least(Severity.HIGH) for _r, severity, _f in _findings(path))






# -- A: dbm.dumb ---------------------------------------------------------------------------------------------------------


def _dumb(folder: Path, protocol: int, rewrite) -> Path:  # type: ignore[no-untyped-def]
    """A real dbm.dumb pair (text first, the payload at offset 512), its index then rewritten by ``rewrite``."""
    db = dbm.dumb.open(str(folder / "store"), "c")  # noqa: SIM115 - closed below
    db[b"notes"] = b"notes: plain text value".ljust(512, b" ")
    db[b"w"] = _payload(protocol)
    db.close()
    index = folder / "store.dir"
    index.write_bytes(rewrite(index.read_bytes().decode("latin-1")).encode("latin-1"))
    return folder


def _as_lists(text: str) -> str:  # D1/D4: "'w', [512, n]"
    return re.sub(r"\((\d+), (\d+)\)", r"[\1, \2]", text)


def _cr_only(text: str) -> str:  # D2: lines ended by \r alone
    return text.replace("\n", "\r")


def _whole_lists(text: str) -> str:  # D3: "['w', (512, n)]"
    return "".join(f"[{line}]\n" for line in text.splitlines())


@pytest.mark.parametrize(
    ("name", "protocol", "rewrite", "opener"),
    [
        ("D1", 4, _as_lists, "shelve.open(p, 'r')"),
        ("D4", 0, _as_lists, "shelve.open(p, 'r')"),
        ("D2", 4, _cr_only, "shelve.open(p, 'r')"),
        ("D3", 4, _whole_lists, "shelve.Shelf(dbm.dumb.open(p, 'r'))"),
    ],
)
def test_dumb_index_read_as_dbm_dumb_reads_it(name: str, protocol: int, rewrite, opener: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = _dumb(_mk(tmp_path / name), protocol, rewrite)
    found = _findings(folder)
    assert ("WW-PKL-001", Severity.CRITICAL, str(folder / "store.dat[w]")) in found, found
    assert strict_cli_rc(folder) != 0
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(f"import dbm.dumb, shelve; p = {str(folder / 'store')!r}; {opener}['w']", cwd), (
        f"{name} no longer runs under shelve"
    )


def test_dumb_dat_linked_is_matched_on_the_loaders_name(tmp_path: Path) -> None:
    """D5: store.dat -> blob.bin; dbm.dumb opens store.dat (the link), so the pair is store.dir + store.dat."""
    folder = _dumb(_mk(tmp_path / "D5"), 4, lambda text: text)
    (folder / "store.dat").rename(folder / "blob.bin")
    (folder / "store.dat").symlink_to("blob.bin")
    found = _findings(folder)
    assert ("WW-PKL-001", Severity.CRITICAL, str(folder / "store.dat[w]")) in found, found
    assert strict_cli_rc(folder) != 0
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(f"import shelve; shelve.open({str(folder / 'store')!r}, 'r')['w']", cwd)


def test_dumb_index_with_no_readable_line_is_high(tmp_path: Path) -> None:
    """whichdb's test (first byte a quote) makes it a dbm.dumb index: lines we cannot read are WW-PKL-015."""
    folder = _mk(tmp_path / "bad")
    (folder / "store.dat").write_bytes(b"x" * 512 + _payload())
    (folder / "store.dir").write_text("'w', {512: 0, 'n': 1}\n'v', (1.5, 2)\n", encoding="latin-1")
    assert ("WW-PKL-015", Severity.HIGH) in _rules(folder)
    assert strict_cli_rc(folder) != 0


def test_benign_shelve_lists_index_has_no_high_finding(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "shelf")
    with shelve.Shelf(dbm.dumb.open(str(folder / "store"), "c")) as s:
        s["config"] = {"hidden": 4}
        s["weights"] = [[0.5] * 10]
    index = folder / "store.dir"
    index.write_text(_as_lists(index.read_text(encoding="latin-1")), encoding="latin-1")
    found = _findings(folder)
    assert not [f for f in found if f[1].at_least(Severity.HIGH)], found
    assert {f[0] for f in found} <= {"WW-PKL-010"}, found


# -- B: SQLite views -----------------------------------------------------------------------------------------------------


def _q1(folder: Path) -> Path:
    conn = sqlite3.connect(folder / "cache.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE meta (k TEXT, v TEXT)")
    conn.execute("INSERT INTO meta VALUES ('about', 'benign')")
    conn.execute(f"CREATE VIEW unnamed AS SELECT 'w' AS key, X'{_payload().hex()}' AS value")
    conn.close()
    return folder


def _q2(folder: Path) -> Path:
    text = _payload(0).decode("ascii")
    assert "~" not in text
    conn = sqlite3.connect(folder / "cache.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE parts (k TEXT, t TEXT)")
    conn.execute("INSERT INTO parts VALUES ('w', ?)", (text.replace("\n", "~"),))  # no pickle stored anywhere
    conn.execute("CREATE VIEW unnamed AS SELECT k AS key, CAST(replace(t, '~', char(10)) AS BLOB) AS value FROM parts")
    conn.close()
    return folder


@pytest.mark.parametrize("build", [_q1, _q2])
def test_sqlite_view_values_are_read(build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = build(_mk(tmp_path / "q"))
    found = _rules(folder)
    assert ("WW-PKL-001", Severity.CRITICAL) in found, found
    assert ("WW-PKL-016", Severity.MEDIUM) in found, found  # a view: values computed by the schema
    assert strict_cli_rc(folder) != 0
    if importlib.util.find_spec("sqlitedict") is None:
        pytest.skip("sqlitedict is not installed: the victim proof is not run")
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(f"from sqlitedict import SqliteDict; SqliteDict({str(folder / 'cache.sqlite')!r})['w']", cwd)


def test_sqlite_view_that_fails_and_trigger_are_medium(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "q")
    conn = sqlite3.connect(folder / "data.db", isolation_level=None)
    conn.execute("CREATE TABLE gone (k TEXT)")
    conn.execute("CREATE VIEW unnamed AS SELECT * FROM gone")
    conn.execute("DROP TABLE gone")  # the view now fails whenever it is read
    conn.close()
    assert ("WW-PKL-016", Severity.MEDIUM) in _rules(folder)
    other = _mk(tmp_path / "t")
    conn = sqlite3.connect(other / "data.db", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT, v BLOB)")
    conn.execute("CREATE TRIGGER t_upd AFTER UPDATE ON t BEGIN UPDATE t SET v = X'80'; END")
    conn.close()
    assert ("WW-PKL-016", Severity.MEDIUM) in _rules(other)


# -- C: diskcache value files --------------------------------------------------------------------------------------------


def _diskcache_or_layout(folder: Path) -> tuple[str, bool]:
    """A diskcache store with one pickled value kept in a file: by diskcache itself when importable, else by
    hand in its table layout (mode 4 = pickle). Returns the value file's name and whether diskcache ran."""
    if importlib.util.find_spec("diskcache") is not None:
        import diskcache

        cache = diskcache.Cache(str(folder))
        cache["w"] = {"weights": [1.0, 2.0], "pad": b"A" * 40000}  # past disk_min_file_size: kept in a file
        cache.close()
        conn = sqlite3.connect(folder / "cache.db")
        (name,) = conn.execute("SELECT filename FROM Cache WHERE mode = 4").fetchone()
        conn.close()
        return name, True
    conn = sqlite3.connect(folder / "cache.db", isolation_level=None)
    conn.execute("CREATE TABLE Cache (rowid INTEGER PRIMARY KEY, key BLOB, raw INTEGER, store_time REAL, "
                 "expire_time REAL, access_time REAL, access_count INTEGER DEFAULT 0, tag BLOB, size INTEGER "
                 "DEFAULT 0, mode INTEGER DEFAULT 0, filename TEXT, value BLOB)")
    conn.execute("INSERT INTO Cache (key, raw, mode, filename) VALUES ('w', 1, 4, 'ab/cd/v.val')")
    conn.close()
    (folder / "ab" / "cd").mkdir(parents=True)
    (folder / "ab" / "cd" / "v.val").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    return "ab/cd/v.val", False


def _point_at(folder: Path, old: str, new: str, data: bytes) -> None:
    (folder / old).unlink()
    target = (folder / new).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    conn = sqlite3.connect(folder / "cache.db", isolation_level=None)
    conn.execute("UPDATE Cache SET filename = ? WHERE filename = ?", (new, old))
    conn.close()


def test_diskcache_value_file_in_git_is_read_and_high(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "C1")
    name, real = _diskcache_or_layout(folder)
    _point_at(folder, name, ".git/objects/ab/cdef0123", _payload())
    found = _rules(folder)
    assert ("WW-PKL-001", Severity.CRITICAL) in found, found
    assert ("WW-FS-007", Severity.HIGH) in found, found
    assert strict_cli_rc(folder) != 0
    if not real:
        pytest.skip("diskcache is not installed: the victim proof is not run")
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(f"import diskcache; diskcache.Cache({str(folder)!r})['w']", cwd)


def test_diskcache_value_file_outside_the_folder_is_high(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "model" / "cache")
    name, _real = _diskcache_or_layout(folder)
    _point_at(folder, name, "../../elsewhere.val", pickle.dumps([1]))
    assert ("WW-FS-008", Severity.HIGH) in _rules(tmp_path / "model")


def test_benign_diskcache_has_no_finding(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "dc")
    _diskcache_or_layout(folder)
    assert _findings(folder) == []


def test_dumb_dat_linked_from_another_folder_is_read_with_its_own_index(tmp_path: Path) -> None:
    """D6 (found while fixing D5): A/store.dat with a benign index, B/store.dat -> ../A/store.dat with B/store.dir
    naming the payload slice. The walk read the same bytes once (same base name), so B's pair was never read."""
    root = _mk(tmp_path / "m")
    a, b = _mk(root / "A"), _mk(root / "B")
    data = b"notes: plain text value".ljust(512, b" ") + _payload(0)
    (a / "store.dat").write_bytes(data)
    (a / "store.dir").write_text("'notes', (0, 512)\n", encoding="latin-1")
    (b / "store.dat").symlink_to("../A/store.dat")
    (b / "store.dir").write_text(f"'notes', (0, 512)\n'w', (512, {len(data) - 512})\n", encoding="latin-1")
    found = _findings(root)
    assert ("WW-PKL-001", Severity.CRITICAL, str(root / "B/store.dat[w]")) in found, found
    assert strict_cli_rc(root) != 0
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(f"import shelve; shelve.open({str(b / 'store')!r}, 'r')['w']", cwd)


def test_diskcache_db_linked_from_another_folder_resolves_in_its_own(tmp_path: Path) -> None:
    """B/cache.db -> ../A/cache.db: diskcache.Cache('B') joins the names to B, where .git holds the payload."""
    root = _mk(tmp_path / "m")
    a = _mk(root / "A")
    name, real = _diskcache_or_layout(a)
    conn = sqlite3.connect(a / "cache.db", isolation_level=None)
    conn.execute("UPDATE Cache SET filename = ? WHERE filename = ?", (".git/v.val", name))
    conn.close()
    (a / ".git").mkdir()
    (a / ".git" / "v.val").write_bytes(pickle.dumps({"weights": [1.0]}))
    b = _mk(root / "B")
    (b / "cache.db").symlink_to("../A/cache.db")
    (b / ".git").mkdir()
    (b / ".git" / "v.val").write_bytes(_payload())
    found = _rules(root)
    assert ("WW-PKL-001", Severity.CRITICAL) in found, found
    if not real:
        pytest.skip("diskcache is not installed: the victim proof is not run")
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(f"import diskcache; diskcache.Cache({str(b)!r})['w']", cwd)
