"""Red team round 16 on the scanner's readers (report: issues/rt-scanreaders-round16.md): round 15's zip
directory views, beaten twice over.

A. A directory torch's miniz reads that is larger than the scanner's limits (100,003 entries, over
   max_archive_members) made ``parse_directory`` return None, the same answer as for a broken directory: the
   view was dropped silently. Now a parse stopped by the scanner's own limit is kept (its first entries are
   read) and fails closed (WW-ARC-007 and an entry error).
B. torch's miniz uses zip64 only when a zip64 record sits at the locator's offset, and otherwise reads the
   32-bit end-record fields as they are (a count of 0xFFFF included); with a locator present the scanner
   built only zip64 readings. Now the 32-bit reading is always a view, a locator naming no record (or two
   records that differ) is WW-ARC-001 by itself, and a count-driven reading that leaves directory bytes unread
   is a finding unless another view reads the same bytes whole.
C. The model is checked against torch itself: ``torch._C.PyTorchFileReader(...).get_all_records()`` lists the
   records torch's reader finds (without unpickling anything, checked below) over the PoC layouts and seeded
   perturbations of a torch.save archive: every record torch lists is in a view the scanner reads, or the scan
   has a high finding. (Tests only: the product never imports torch.)

The victim side runs in a subprocess with ``posix.system`` replaced by a print (the canary never runs).
"""

from __future__ import annotations

import contextlib
import io
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.adversarial.generate import (
    R15_PAYLOAD,
    dead_locator,
    many_entries,
    saturated_count,
    two_directories,
)
from tests.test_archives import codes, read_path
from tests.test_scan_round13 import _rules, _torch_runs_it
from weightwarden.artifact.readers._zipdirs import info_key, loader_views, parse_directory
from weightwarden.core.findings import Severity
from weightwarden.core.limits import DEFAULT_LIMITS, Limits
from weightwarden.scan.engine import scan_paths

POCS = {"deadloc": dead_locator, "mixed": saturated_count, "manycd": many_entries}


def _high(path: Path, limits: Limits = DEFAULT_LIMITS) -> set[str]:
    report = scan_paths([str(path)], workers=1, limits=limits)
    return {f.rule_id for f in report.findings if f.severity.at_least(Severity.HIGH)} | {"error" for _ in report.errors}


# -- the three PoCs: caught, and torch.load really runs them ----------------------------------------------------------


@pytest.mark.parametrize("poc", sorted(POCS))
def test_round16_pocs_are_critical_and_torch_runs_them(tmp_path: Path, poc: str) -> None:
    path = tmp_path / f"{poc}.pt"
    path.write_bytes(POCS[poc]())
    names = zipfile.ZipFile(path).namelist()
    assert "archive/data/0" in names and len(names) == 4  # zipfile lists the benign archive
    rules = _rules(path)
    assert {"WW-PKL-001", "WW-ARC-001"} <= rules
    if poc == "manycd":  # the scanner's own limit: fail closed
        assert {"WW-ARC-007", "error"} <= rules
    assert _torch_runs_it(path)


def test_the_pocs_in_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "pytorch_model.bin").write_bytes(saturated_count())
    report = scan_paths([str(tmp_path)], workers=1)
    assert any(f.rule_id == "WW-PKL-001" for f in report.findings)


# -- A: the scanner's limits fail closed -------------------------------------------------------------------------------


def test_a_directory_over_the_member_limit_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "many.pt"
    path.write_bytes(many_entries(pads=120))
    small = Limits(max_archive_members=50)
    assert {"WW-PKL-001", "WW-ARC-007", "error"} <= _high(path, small)  # the first 50 entries hold data.pkl
    assert "WW-ARC-007" not in _high(path)  # under the default limit it is read whole (and still critical)


def test_a_directory_over_the_byte_limit_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "many.pt"
    path.write_bytes(many_entries(pads=120))
    assert {"WW-ARC-007", "error"} <= _high(path, Limits(max_header_bytes=2000))


def test_parse_directory_tells_broken_from_too_large() -> None:
    entry = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"a"
    data = entry * 10
    f = io.BytesIO(data)
    whole = parse_directory(f, len(data), 0, len(data), 10, 0, 100, 1 << 20)
    assert whole is not None and len(whole.entries) == 10 and whole.limit is None and whole.unparsed == 0
    capped = parse_directory(f, len(data), 0, len(data), 10, 0, 4, 1 << 20)
    assert capped is not None and len(capped.entries) == 4 and capped.limit
    short = parse_directory(f, len(data), 0, len(data), None, 0, 100, 100)
    assert short is not None and short.limit and len(short.entries) == 100 // len(entry)
    assert parse_directory(f, len(data), 1, len(data) - 1, 9, 0, 100, 1 << 20) is None  # not a directory
    assert parse_directory(f, len(data), 0, len(data), 11, 0, 100, 1 << 20) is None  # too small for its count
    prefix = parse_directory(f, len(data), 0, len(data), 7, 0, 100, 1 << 20)
    assert prefix is not None and prefix.unparsed == 3 * len(entry)


# -- B: zip64 as torch decides it ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["zero", "in_data", "past_end"])
def test_a_locator_naming_no_record_is_high_and_the_32bit_view_is_read(tmp_path: Path, where: str) -> None:
    size = len(dead_locator())
    offset = {"zero": 0, "in_data": 100, "past_end": size + 10}[where]
    path = tmp_path / "deadloc.pt"
    path.write_bytes(dead_locator(locator_offset=offset))
    assert "zip.directory_mismatch" in codes(read_path(path))
    assert {"WW-PKL-001", "WW-ARC-001"} <= _rules(path)
    if where != "past_end":  # (miniz rejects a locator offset past the end: torch.load fails)
        assert _torch_runs_it(path)


def test_the_saturated_count_view_is_read_literally(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pt"
    path.write_bytes(saturated_count())
    with open(path, "rb") as f:
        views = loader_views(f, path.stat().st_size, DEFAULT_LIMITS.max_archive_members, DEFAULT_LIMITS.max_header_bytes)
    literal = [v for v in views if v.count == 0xFFFF]
    assert literal and "archive/data.pkl" in [e.name for e in literal[0].entries[4:]]
    assert any(v.unparsed for v in views)  # the "zip64 only where saturated" reading: 4 entries of 65535


def test_a_legitimate_zip64_archive_over_65535_members_stays_clean(tmp_path: Path) -> None:
    """zipfile writes count 0xFFFF (saturated) and the real count in the zip64 record: the 32-bit reading is the
    first 65535 entries of the same directory, which the zip64 reading parses whole (no finding)."""
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w") as z:
        for i in range(0xFFFF + 3):
            z.writestr(f"f{i}", b"")
    data = path.read_bytes()
    assert b"PK\x06\x06" in data and struct.unpack_from("<H", data, data.rfind(b"PK\x05\x06") + 10)[0] == 0xFFFF
    entry = read_path(path)
    assert "zip.directory_mismatch" not in codes(entry) and entry.error is None


def test_benign_archives_stay_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    pt = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(64), "b": torch.ones(3)}, pt)
    npz = tmp_path / "arrays.npz"
    np.savez(npz, a=np.arange(10), b=np.zeros((3, 3)))
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    z64 = tmp_path / "z64.zip"
    with zipfile.ZipFile(z64, "w") as z:
        z.writestr("a.txt", b"a")
        z.writestr("b.txt", b"b")
    monkeypatch.undo()
    for path in (pt, npz, z64):
        assert _high(path) == set(), path
        with open(path, "rb") as f:
            views = loader_views(f, path.stat().st_size, 10_000, 1 << 24)
        mine = sorted(info_key(i) for i in zipfile.ZipFile(path).infolist())
        assert all(sorted(e.key() for e in v.entries) == mine and not v.unparsed for v in views)


# -- C: the model against torch's own reader ---------------------------------------------------------------------------


def _torch_records(data: bytes) -> list[tuple[str, int]] | None:
    """(record, data offset) for every record torch's zip reader lists; None when torch rejects the file."""
    torch = pytest.importorskip("torch")
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        out = []
        for name in reader.get_all_records():
            try:
                out.append((name, reader.get_record_offset(name)))
            except RuntimeError:
                continue  # listed, but torch cannot locate its data either
        return out
    except (RuntimeError, UnicodeDecodeError):  # rejected, or a name torch cannot list (not UTF-8)
        return None


def _scanned(data: bytes, limits: Limits) -> set[tuple[str, int]]:
    """(name below the archive folder, lower-cased as torch compares it; data offset) of every entry the zip
    reader reads: zipfile's listing and every loader view."""
    f = io.BytesIO(data)
    infos: list[tuple[str, int]] = []
    with contextlib.suppress(Exception):  # zipfile raises many types; the views below still count
        infos += [(i.orig_filename, i.header_offset) for i in zipfile.ZipFile(io.BytesIO(data)).infolist()]
    for view in loader_views(f, len(data), limits.max_archive_members, limits.max_header_bytes):
        infos += [(e.name, e.header_offset) for e in view.entries]
    out = set()
    for name, at in infos:
        if 0 <= at <= len(data) - 30:
            nlen, elen = struct.unpack_from("<HH", data, at + 26)
            out.add((name.split("/", 1)[-1].lower(), at + 30 + nlen + elen))
    return out


def _torch_save() -> bytes:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buf)
    return buf.getvalue()


def _perturb(base: bytes, rng: random.Random) -> bytes:
    """One or two random edits of the end records (zip64 record, locator, end record, comment, directory bytes)."""
    b = bytearray(base)
    eocd = b.rfind(b"PK\x05\x06")
    loc, z64 = eocd - 20, eocd - 76
    for _ in range(rng.choice((1, 2))):
        kind = rng.randrange(9)
        if kind == 0:  # end record count
            n = rng.choice((0, 1, 6, 8, 0xFFFF, rng.randrange(0x10000)))
            struct.pack_into("<HH", b, eocd + 8, n, n)
        elif kind == 1:  # end record size / offset
            struct.pack_into("<I", b, eocd + rng.choice((12, 16)), rng.choice((0xFFFFFFFF, rng.randrange(len(b)))))
        elif kind == 2:  # locator offset
            struct.pack_into("<Q", b, loc + 8, rng.choice((0, z64, z64 + 1, rng.randrange(len(b)), len(b) + 5)))
        elif kind == 3:  # no locator
            b[loc : loc + 4] = b"XXXX"
        elif kind == 4:  # no zip64 record
            b[z64 : z64 + 4] = b"XXXX"
        elif kind == 5:  # zip64 count / size / offset
            at = z64 + rng.choice((24, 32, 40, 48))
            struct.pack_into("<Q", b, at, rng.choice((0, 6, 8, rng.randrange(len(b)))))
        elif kind == 6:  # a comment, its length right or wrong
            comment = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            struct.pack_into("<H", b, eocd + 20, rng.choice((len(comment), len(comment) + 3, 0)))
            b += comment
        elif kind == 7:  # trailing bytes with another end record in them
            b += bytes(b[eocd : eocd + 22]) + bytes(rng.randrange(8))
        else:  # a byte of a central directory flipped (the last 200 bytes before the end record)
            i = rng.randrange(max(0, eocd - 200), eocd)
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def _cases() -> list[tuple[str, bytes, Limits]]:
    cases: list[tuple[str, bytes, Limits]] = [
        ("deadloc", dead_locator(), DEFAULT_LIMITS),
        ("deadloc_in_data", dead_locator(locator_offset=100), DEFAULT_LIMITS),
        ("mixed", saturated_count(), DEFAULT_LIMITS),
        ("manycd_small_limit", many_entries(pads=200), Limits(max_archive_members=100)),
    ]
    cases += [(f"r15_{m}", two_directories(m), DEFAULT_LIMITS) for m in
              ("comment", "in_data", "zip64_locator", "last_end_record", "first_end_record", "zip64_32bit")]
    # Bases: a real torch.save archive, and two-directory archives (where a wrong model shows as a missed data.pkl).
    bases = [_torch_save(), dead_locator(), two_directories("comment"), two_directories("zip64_locator")]
    rng = random.Random(16)
    cases += [(f"perturbed_{i}", _perturb(bases[i % len(bases)], rng), DEFAULT_LIMITS) for i in range(48)]
    return cases


def test_torch_record_listing_runs_no_pickle(tmp_path: Path) -> None:
    """PyTorchFileReader and get_all_records / get_record_offset parse the zip only: an evil data.pkl stays inert."""
    pytest.importorskip("torch")
    path = tmp_path / "evil.pt"
    path.write_bytes(dead_locator())
    code = ("import sys, torch, unittest.mock as m\n"
            "with m.patch('posix.system', lambda c: print('SYSTEM', c) or 0):\n"
            "    r = torch._C.PyTorchFileReader(sys.argv[1])\n"
            "    print([(n, r.get_record_offset(n)) for n in r.get_all_records()])\n")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         check=False, cwd=tmp_path)
    assert "data.pkl" in run.stdout and "SYSTEM" not in run.stdout
    assert not (tmp_path / "canary").exists()


def test_every_record_torch_lists_is_scanned_or_the_scan_is_high(tmp_path: Path) -> None:
    """Differential against torch 2.13's reader: a record torch lists that no scanned view holds must come with
    a high finding; the data.pkl torch reads must be in a scanned view or the scan fails closed."""
    pytest.importorskip("torch")
    accepted = 0
    for label, data, limits in _cases():
        records = _torch_records(data)
        if records is None:
            continue  # torch's reader rejects the file: torch.load reads nothing from it
        accepted += 1
        scanned = _scanned(data, limits)
        missing = [(n, at) for n, at in records if (n.lower(), at) not in scanned]
        path = tmp_path / f"{label}.pt"
        path.write_bytes(data)
        report = scan_paths([str(path)], workers=1, limits=limits)
        high = any(f.severity.at_least(Severity.HIGH) for f in report.findings) or bool(report.errors)
        assert not missing or high, (label, missing[:5])
        pkl = [(n, at) for n, at in missing if n.lower() == "data.pkl"]
        assert not pkl or report.errors, (label, pkl)
    assert accepted >= 15  # enough of the perturbations are archives torch opens


def test_r16_payload_is_the_shared_canary() -> None:
    assert b"touch canary" in R15_PAYLOAD
