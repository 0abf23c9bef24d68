"""Red team round 22 on the scanner's readers (report: issues/rt-scanreaders-round22.md).

A: stores whose values a loader unpickles. ``shelve.open(p)[key]`` (dbm.dumb backend: ``X.dat`` values, ``X.dir``
text index ``'key', (pos, size)``) unpickles the slice the index names; the scanner looked for a pickle at byte 0
only and said 0 findings (text first block), info (NUL first block) or medium trailing data (NUL padding after a
benign first value). Now the pair is read as dbm.dumb reads it and every slice is walked (``X.dat[key]``); the
trailing walk skips NUL padding; SQLite databases (sqlitedict, diskcache, dbm.sqlite3) have their BLOBs walked;
gdbm / Berkeley DB files are "could not be verified" (medium).

B: the torch.package marker ``.data/extern_modules`` renamed ``.data/EXTERN_MODULES`` (miniz finds records
case-insensitively) downgraded the critical to a medium.

Stores are written with the real ``shelve`` / ``dbm.dumb`` / ``sqlite3`` modules; victim proofs run the real
loader in a subprocess whose working directory is a tmp folder (the canary is ``./canary``).
"""

from __future__ import annotations

import dbm.dumb
import pickle
import shelve
import sqlite3
from pathlib import Path

import pytest

from tests.adversarial.generate import r21_global_pickle, r21_torch_package
from tests.scan_rounds import strict_cli_rc, victim_leaves_canary
from weightwarden.core.findings import Severity
from weightwarden.scan.engine import scan_paths


class _Canary:
    """Pickled with ``__reduce__`` = os.system('touch canary'): the test only ever dumps it."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, ("touch canary",))


def _findings(path: Path) -> list[tuple[str, Severity, str]]:
    report = scan_paths([str(path)], workers=1)
    assert not report.errors, report.errors
    return [(f.rule_id, f.severity, f.file) for f in report.findings]


def _worst(path: Path) -> Severity | None:
    found = _findings(path)
    worst = None
    for _rule, severity, _file in found:
        if worst is None or severity.at_least(worst):
            worst = severity
    return worst






def _shelf_text_first(folder: Path) -> Path:
    """A1: a full 512-byte text block first, then a protocol-0 pickle (the whole .dat is printable)."""
    notes = (b"# model store: weights under key 'w'\n" + b"see README for the layout of this store.\n" * 12)[:511] + b"\n"
    db = dbm.dumb.open(str(folder / "store"), "c")  # noqa: SIM115 - closed below, as the PoC writes it
    db[b"notes"] = notes
    db[b"w"] = pickle.dumps({"weights": [1.0, 2.0], "hook": _Canary()}, protocol=0)
    db.close()
    return folder


def _shelf_nul_first(folder: Path) -> Path:
    """A2: 64 NUL bytes first, the protocol-4 pickle at offset 512."""
    db = dbm.dumb.open(str(folder / "store"), "c")  # noqa: SIM115 - closed below, as the PoC writes it
    db[b"meta"] = b"\x00" * 64
    db[b"w"] = pickle.dumps({"weights": [1.0, 2.0], "hook": _Canary()}, protocol=4)
    db.close()
    return folder


def _shelf_public_api(folder: Path) -> Path:
    """A3: shelve's own API (dbm.dumb here): a benign dict, then the payload after NUL padding."""
    with shelve.Shelf(dbm.dumb.open(str(folder / "store"), "c")) as s:
        s["config"] = {"hidden": 4, "layers": 2}
        s["w"] = {"weights": [1.0, 2.0], "hook": _Canary()}
    return folder


@pytest.mark.parametrize("build", [_shelf_text_first, _shelf_nul_first, _shelf_public_api])
def test_shelve_payload_at_an_indexed_offset_is_critical(build, tmp_path: Path) -> None:
    folder = build(_mk(tmp_path / "shelf"))
    found = _findings(folder)
    assert ("WW-PKL-001", Severity.CRITICAL, str(folder / "store.dat[w]")) in found, found
    assert strict_cli_rc(folder) != 0
    # The .dat alone (its index found beside it, as dbm.dumb finds it) is judged the same.
    assert ("WW-PKL-001", Severity.CRITICAL, str(folder / "store.dat[w]")) in _findings(folder / "store.dat")
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(
        f"import dbm.dumb, shelve; s = shelve.Shelf(dbm.dumb.open({str(folder / 'store')!r}, 'r')); s['w']", cwd
    ), "the PoC no longer runs under shelve"


def test_shelve_open_picks_dbm_dumb_for_the_poc(tmp_path: Path) -> None:
    """``shelve.open(p, 'r')`` (dbm.whichdb) opens the dbm.dumb pair and runs the payload."""
    folder = _shelf_text_first(_mk(tmp_path / "shelf"))
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(f"import shelve; shelve.open({str(folder / 'store')!r}, 'r')['w']", cwd)


def test_benign_shelve_has_no_high_finding(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "shelf")
    with shelve.Shelf(dbm.dumb.open(str(folder / "store"), "c")) as s:
        s["config"] = {"hidden": 4, "layers": [1, 2, 3]}
        s["weights"] = [[0.5] * 100, [1.5] * 100]
        s["name"] = "tiny"
    found = _findings(folder)
    assert not [f for f in found if f[1].at_least(Severity.HIGH)], found
    # Only the intended note: a .dat holds several consecutive programs (WW-PKL-010, medium).
    assert {f[0] for f in found} <= {"WW-PKL-010"}, found


def test_index_past_end_overlap_and_unparsable_lines_are_findings(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "shelf")
    (folder / "store.dat").write_bytes(pickle.dumps({"a": 1}, protocol=4).ljust(512, b"\x00") + pickle.dumps([1], protocol=4))
    (folder / "store.dir").write_text(
        "'a', (0, 20)\n'b', (10, 30)\n'c', (512, 4096)\n__import__('os').system('x')\n", encoding="latin-1"
    )
    found = {(rule, severity) for rule, severity, _f in _findings(folder)}
    assert ("WW-PKL-015", Severity.HIGH) in found, found


def test_sqlite_store_blobs_are_walked(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "sq")
    conn = sqlite3.connect(folder / "cache.sqlite")
    conn.execute("CREATE TABLE Dict (key BLOB UNIQUE NOT NULL, value BLOB NOT NULL)")  # dbm.sqlite3's schema
    conn.execute("INSERT INTO Dict VALUES (?, ?)", (b"cfg", pickle.dumps({"x": 1})))
    conn.execute("INSERT INTO Dict VALUES (?, ?)", (b"w", pickle.dumps({"hook": _Canary()})))
    conn.commit()
    conn.close()
    found = _findings(folder)
    assert any(r == "WW-PKL-001" and s is Severity.CRITICAL and f.endswith("[Dict:1:value]") for r, s, f in found), found
    assert strict_cli_rc(folder) != 0


def test_benign_sqlite_is_clean(tmp_path: Path) -> None:
    folder = _mk(tmp_path / "sq")
    conn = sqlite3.connect(folder / "data.db")
    conn.execute("CREATE TABLE t (k TEXT, v BLOB, n INTEGER)")
    conn.execute("INSERT INTO t VALUES ('a', ?, 3)", (pickle.dumps({"w": [1.0, 2.0]}),))
    conn.execute("INSERT INTO t VALUES ('b', ?, 4)", (b"\x00\x01raw bytes",))
    conn.commit()
    conn.close()
    assert _findings(folder) == []


@pytest.mark.parametrize(
    "head",
    [
        (0x13579ACE).to_bytes(4, "little") + b"\x00" * 60,  # GNU dbm
        b"\x00" * 12 + (0x00061561).to_bytes(4, "little") + b"\x00" * 48,  # Berkeley DB hash
    ],
)
def test_unreadable_dbm_formats_are_unverified_not_info(head: bytes, tmp_path: Path) -> None:
    folder = _mk(tmp_path / "db")
    (folder / "store.db").write_bytes(head + b"\x07" * 4096)
    found = _findings(folder)
    assert ("WW-PKL-016", Severity.MEDIUM) in {(r, s) for r, s, _f in found}, found
    assert "WW-FS-004" not in {r for r, _s, _f in found}


def test_trailing_walk_skips_nul_padding() -> None:
    import io

    from weightwarden.picklevm.machine import analyze_streams

    data = pickle.dumps({"a": 1}, protocol=4).ljust(512, b"\x00") + pickle.dumps({"hook": _Canary()}, protocol=2)
    result = analyze_streams(io.BytesIO(data))
    assert [p.start for p in result.programs] == [0, 512]
    assert any(s.target == "posix.system" or s.target == "os.system" for s in result.programs[1].globals)
    # Padding with nothing after it is still trailing data, reported from where the NULs begin.
    first = pickle.dumps([1], protocol=2)
    result = analyze_streams(io.BytesIO(first + b"\x00" * 100))
    assert result.trailing_offset == len(first) and result.trailing_bytes == 100


# --- class B: torch.package marker in another case ------------------------------------------------------

def test_torch_package_marker_matched_case_insensitively(tmp_path: Path) -> None:
    from tests.adversarial.generate import ACT

    path = tmp_path / "case.pt"
    path.write_bytes(r21_torch_package({"collections/__init__.py": ACT + "\nfrom _collections import OrderedDict\n"},
                                       r21_global_pickle("collections", "OrderedDict"), marker=".data/EXTERN_MODULES"))
    rules = {(r, s) for r, s, _f in _findings(path)}
    assert ("WW-PKL-014", Severity.CRITICAL) in rules, rules
    assert ("WW-CODE-001", Severity.CRITICAL) in rules, rules
    assert strict_cli_rc(path) != 0
    pytest.importorskip("torch.package")
    cwd = _mk(tmp_path / "victim")
    assert victim_leaves_canary(
        f"from torch.package import PackageImporter; PackageImporter({str(path)!r}).load_pickle('model', 'model.pkl')", cwd
    ), "PackageImporter no longer finds the renamed marker"


def _mk(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder
