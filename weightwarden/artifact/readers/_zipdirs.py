"""Every member list a real zip loader can find in one file (red team round 15).

A zip names its members twice over: the central directory, found from the end-of-central-directory record
(EOCD), and the local headers in front of the data. Loaders disagree on *which* central directory they read
when a file holds more than one, so the zip reader asks all of them and scans what any of them would read.
The rules below follow the format (PKWARE APPNOTE.TXT 6.3.x) and what each loader does with it; they are
written from the specification and from observed behaviour, no loader code is copied.

End record (APPNOTE 4.3.16): ``PK\\x05\\x06``, 18 bytes of fields, then a comment of up to 65535 bytes, so a
reader searches backwards through the last 65557 bytes (miniz up to ~4 KiB more). Which signature a loader takes:

- *last*: the last signature with at least 22 bytes after it, whatever its comment length says. Python's
  ``zipfile`` (3.11, ``_EndRecData``) and torch's miniz (``torch.load``) take this one.
- *exact*: the last signature whose comment length ends exactly at the end of the file (strict readers, Java's
  ``ZipFile`` first try); an end record hidden in the comment of another is found this way.
- *fits*: the last signature whose comment does not run past the end of the file (Go's ``archive/zip``).

Zip64 (APPNOTE 4.3.14, 4.3.15): a zip64 end-locator ``PK\\x06\\x07`` 20 bytes before the end record points
at the zip64 end record ``PK\\x06\\x06``, whose 64-bit count, size and offset replace the 32-bit ones. Whether a
loader uses zip64 at all depends on finding a valid record where *it* looks (red team round 16):

- Python's ``zipfile`` reads the zip64 record at the fixed spot right before the locator (``eocd - 20 - 56``),
  never at the locator's offset field; no record there: the 32-bit fields as they are.
- torch's miniz reads the zip64 record at the locator's offset field (a locator offset past the end rejects the
  archive); no record there: the 32-bit fields *as they are*, a count of 0xFFFF included (65535 entries).
- A reader that uses zip64 values only where the 32-bit fields are saturated (0xFFFF / 0xFFFFFFFF) reads the
  32-bit fields otherwise: a third directory when the two disagree.

So the 32-bit reading is always a view, locator or not, and a locator with no record at its offset, or records
at the two spots that differ, is a finding by itself.

Central directory (APPNOTE 4.3.12): where it starts and how many entries are read:

- miniz (torch.load): at the end record's offset field, unshifted; exactly ``count`` entries, each must fit
  in ``cd_size`` bytes from there; bytes after the last counted entry are ignored.
- Python's ``zipfile`` (numpy ``np.load``, joblib, ``zipfile`` users): right before the end record
  (``eocd - cd_size``, less the 76 zip64 bytes), every header offset shifted by the difference from the
  offset field (data prepended to the zip); entries are read until ``cd_size`` bytes are used, the count is
  ignored.

Entries (APPNOTE 4.4): names are UTF-8 when general-purpose bit 11 is set, else code page 437; sizes and the
local-header offset saturated at 0xFFFFFFFF come from the zip64 extra field (id 1, APPNOTE 4.5.3) in the
order uncompressed size, compressed size, offset.

Local headers (APPNOTE 4.3.7): a streaming reader (``unzip`` from a pipe, Java's ``ZipInputStream``) never
reads a directory: it walks the local headers from the start of the file. :func:`local_walk` lists them.

Each view is parsed all-or-nothing (a loader that cannot parse a directory does not read from it). A parse that
stops at one of the *scanner's* limits (more entries than ``max_archive_members``, a directory larger than
``max_header_bytes``) is not "unparseable": the loader reads on, so the view is kept with the entries read so far
and marked ``limit`` (the reader fails closed on it, red team round 16). A view read by count (miniz) that leaves
bytes of its declared directory after the last counted entry is marked too (``unparsed``): another reading of
the same bytes takes more entries.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

EOCD_SIG = b"PK\x05\x06"
EOCD_SIZE = 22
LOCATOR_SIG = b"PK\x06\x07"
LOCATOR_SIZE = 20
ZIP64_SIG = b"PK\x06\x06"
ZIP64_SIZE = 56
CENTRAL_SIG = b"PK\x01\x02"
CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
LOCAL_SIG = b"PK\x03\x04"
LOCAL = struct.Struct("<4s5H3I2H")
# miniz reads backwards in 4 KiB blocks and stops after the block that reaches 65557 bytes from the end, so it can
# take an end record up to ~4 KiB further back than zipfile's 65557-byte window; candidates come from the wider one.
SEARCH_WINDOW = 0xFFFF + EOCD_SIZE + 4096
MAX_WALK = 100_000  # local headers followed at most (a walk, not a parse of member data)


@dataclass(frozen=True, slots=True)
class CdEntry:
    """One central-directory entry (or local header, for the walk), decoded as the loaders decode it."""

    name: str
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    header_offset: int
    external_attr: int
    create_system: int
    extra: bytes

    def key(self) -> tuple[str, int, int, int, int, int]:
        """What a loader takes from the entry: name, where its data is, how large, how encoded."""
        return (self.name, self.header_offset, self.csize, self.usize, self.method, self.crc)

    def to_zipinfo(self) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(self.name)  # ZipInfo cuts at NUL as zipfile does; orig_filename keeps the rest
        info.flag_bits = self.flags
        info.compress_type = self.method
        info.CRC = self.crc
        info.compress_size = self.csize
        info.file_size = self.usize
        info.header_offset = self.header_offset
        info.external_attr = self.external_attr
        info.create_system = self.create_system
        info.extra = self.extra
        return info


def info_key(info: zipfile.ZipInfo) -> tuple[str, int, int, int, int, int]:
    """:meth:`CdEntry.key` of an entry Python's zipfile parsed."""
    return (info.orig_filename, info.header_offset, info.compress_size, info.file_size, info.compress_type, info.CRC)


@dataclass(frozen=True, slots=True)
class DirView:
    """One loader's member list: who reads it this way, where the directory is, its entries.

    ``unparsed``: bytes of the declared directory left after the last counted entry (a count-driven reader, miniz,
    ignores them; another count reads them). ``limit``: the scanner's own limit that stopped the parse, whose
    entries are then only the first ones the loader reads (the reader fails closed on it)."""

    label: str
    start: int
    count: int
    entries: tuple[CdEntry, ...]
    unparsed: int = 0
    limit: str | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A directory as far as it was parsed: see :class:`DirView` for ``unparsed`` and ``limit``."""

    entries: tuple[CdEntry, ...]
    unparsed: int = 0
    limit: str | None = None


@dataclass(frozen=True, slots=True)
class DirProblem:
    """Something about the end records that is a finding by itself (an anomaly code, message and evidence)."""

    code: str
    message: str
    evidence: str


def _zip64_fields(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int] | None:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, i)
        if tag == 1:
            data, j = extra[i + 4 : i + 4 + ln], 0
            vals = [usize, csize, offset]
            for k in range(3):
                if vals[k] == 0xFFFFFFFF:
                    if j + 8 > len(data):
                        return None
                    (vals[k],) = struct.unpack_from("<Q", data, j)
                    j += 8
            return vals[0], vals[1], vals[2]
        i += 4 + ln
    return usize, csize, offset


def parse_directory(
    f: BinaryIO, size: int, start: int, cd_size: int, count: int | None, shift: int, max_entries: int, max_bytes: int
) -> Parsed | None:
    """The entries of the directory at ``start``: exactly ``count`` of them (miniz), or as many as fill
    ``cd_size`` bytes (``count=None``, Python's zipfile). ``shift`` is added to every local-header offset.

    ``None`` only when the directory is broken in a way the loader rejects too (outside the file, too small for
    its count, a bad signature, an entry that does not fit): no loader reads from it. Reaching one of the
    scanner's limits first is *not* ``None`` (red team round 16: that was a silent pass): the entries read so
    far come back with ``limit`` set."""
    if start < 0 or cd_size < 0 or start + cd_size > size:
        return None
    if count is not None and cd_size < count * CENTRAL.size:  # miniz rejects a directory too small for its count
        return None
    limit = None
    readable = cd_size
    if cd_size > max_bytes:
        limit = f"directory of {cd_size} bytes, over limits.max_header_bytes ({max_bytes})"
        readable = max_bytes
    f.seek(start)
    data = f.read(readable)
    if len(data) != readable:
        return None
    out: list[CdEntry] = []
    pos = 0
    while (count is None and pos < cd_size) or (count is not None and len(out) < count):
        if len(out) >= max_entries:
            limit = limit or f"more than limits.max_archive_members ({max_entries}) entries"
            break
        if pos + CENTRAL.size > readable:
            if readable < cd_size:
                break  # the rest lies past max_header_bytes (limit is set)
            return None
        fields = CENTRAL.unpack_from(data, pos)
        if fields[0] != CENTRAL_SIG:
            return None
        (_sig, _cv, create_system, _ev, _es, flags, method, _t, _d, crc, csize, usize, nlen, elen, clen, _disk, _ia,
         external_attr, offset) = fields
        end = pos + CENTRAL.size + nlen + elen + clen
        if end > readable:
            if readable < cd_size:
                break
            if count is not None:
                return None
            # zipfile reads the last entry's name/extra/comment from what is left of the directory, short or not
        raw = data[pos + CENTRAL.size : pos + CENTRAL.size + nlen]
        extra = data[pos + CENTRAL.size + nlen : pos + CENTRAL.size + nlen + elen]
        z64 = _zip64_fields(extra, usize, csize, offset)
        if z64 is None:
            return None
        usize, csize, offset = z64
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        out.append(CdEntry(name, flags, method, crc, csize, usize, offset + shift, external_attr, create_system, extra))
        pos = end
    return Parsed(tuple(out), max(0, cd_size - pos) if limit is None else 0, limit)


def _end_candidates(tail: bytes, base: int, size: int) -> dict[int, str]:
    """End-record offsets some loader takes (see the module text), with who takes them."""
    found: dict[int, list[str]] = {}
    last = exact = fits = None
    at = len(tail)
    while True:
        at = tail.rfind(EOCD_SIG, 0, at)
        if at < 0:
            break
        if at + EOCD_SIZE <= len(tail):
            clen = int.from_bytes(tail[at + 20 : at + 22], "little")
            if last is None:
                last = at
            if fits is None and at + EOCD_SIZE + clen <= len(tail):
                fits = at
            if exact is None and at + EOCD_SIZE + clen == len(tail):
                exact = at
        if last is not None and fits is not None and exact is not None:
            break
    for at, who in ((last, "last"), (exact, "exact"), (fits, "fits")):
        if at is not None:
            found.setdefault(base + at, []).append(who)
    return {k: "/".join(v) for k, v in found.items()}


def _read_at(f: BinaryIO, at: int, n: int) -> bytes:
    f.seek(at)
    return f.read(n)


def _zip64_record(f: BinaryIO, where: int, size: int) -> tuple[int, int, int] | None:
    """(count, size, offset) of a zip64 end record at ``where``, or None where there is none (a loader that
    looks there falls back to the 32-bit fields)."""
    raw = _read_at(f, where, ZIP64_SIZE) if 0 <= where <= size - ZIP64_SIZE else b""
    if len(raw) != ZIP64_SIZE or raw[:4] != ZIP64_SIG:
        return None
    _n64_here, count64, size64, off64 = struct.unpack_from("<4Q", raw, 24)
    return count64, size64, off64


def loader_views(
    f: BinaryIO, size: int, max_entries: int, max_bytes: int, problems: list[DirProblem] | None = None
) -> list[DirView]:
    """Every directory a loader finds, parsed; unparseable ones are left out (no loader reads from them), ones
    the scanner's limits cut short are kept with ``limit`` set. ``problems`` collects end-record findings."""
    if size < EOCD_SIZE:
        return []
    base = max(0, size - SEARCH_WINDOW)
    tail = _read_at(f, base, size - base)
    views: list[DirView] = []
    found = problems if problems is not None else []

    def add(label: str, start: int, cd_size: int, count: int | None, shift: int) -> None:
        parsed = parse_directory(f, size, start, cd_size, count, shift, max_entries, max_bytes)
        if parsed is not None:
            views.append(DirView(label, start, len(parsed.entries), parsed.entries, parsed.unparsed, parsed.limit))

    for eocd, who in _end_candidates(tail, base, size).items():
        rec = _read_at(f, eocd, EOCD_SIZE)
        _disk, _cd_disk, _n_here, count, cd_size, cd_off = struct.unpack_from("<4H2L", rec, 4)
        at = f"end record at {eocd} ({who})"
        # The 32-bit fields as they are (0xFFFF is 65535 entries): what miniz reads without a zip64 record at the
        # locator's offset, and zipfile without one before the locator (round 16: with a locator present only
        # the zip64 readings were built, so a dead locator hid the directory both loaders read).
        add(f"miniz (torch.load): {at}, 32-bit fields", cd_off, cd_size, count, 0)
        start = eocd - cd_size
        add(f"zipfile (numpy, joblib): {at}, 32-bit fields", start, cd_size, None, start - cd_off)
        locator = _read_at(f, eocd - LOCATOR_SIZE, LOCATOR_SIZE) if eocd >= LOCATOR_SIZE else b""
        if len(locator) != LOCATOR_SIZE or locator[:4] != LOCATOR_SIG:
            continue
        (pointed,) = struct.unpack_from("<Q", locator, 8)
        fixed = eocd - LOCATOR_SIZE - ZIP64_SIZE
        at_pointed, at_fixed = _zip64_record(f, pointed, size), _zip64_record(f, fixed, size)
        if at_pointed is None:
            found.append(DirProblem(
                "zip.directory_mismatch",
                "a zip64 locator that names no zip64 record: torch's miniz reads the 32-bit end-record fields as they are"
                + (", Python's zipfile the zip64 record before the locator" if at_fixed is not None else ""),
                f"{at}: locator offset {pointed}",
            ))
        elif at_fixed != at_pointed:
            found.append(DirProblem(
                "zip.directory_mismatch",
                "the zip64 record the locator names (torch's miniz) and the one before the locator (Python's zipfile) differ",
                f"{at}: at {pointed}: {at_pointed}; at {fixed}: {at_fixed or 'none'} (count, size, offset)",
            ))
        records = {}
        for where, label, fields in ((pointed, "zip64 record at the locator's offset (torch/miniz)", at_pointed),
                                     (fixed, "zip64 record before the locator (Python zipfile)", at_fixed)):
            if fields is not None:
                records.setdefault(where, (label, fields))
        for where, (label, (count64, size64, off64)) in records.items():
            add(f"miniz: {at}, {label}", off64, size64, count64, 0)
            # zipfile's reading (directory right before the zip64 record, offsets shifted); for the record at
            # the locator's offset this is how a zipfile that followed the locator would read it.
            start = where - size64
            add(f"zipfile: {at}, {label}", start, size64, None, start - off64)
            # Readers that take a zip64 value only where its 32-bit field is saturated (APPNOTE 4.4.1.4 says
            # the zip64 record is used when a field "is too large"): a 32-bit field that is not saturated
            # is read as it is, field by field.
            mixed = (count64 if count == 0xFFFF else count, size64 if cd_size == 0xFFFFFFFF else cd_size,
                     off64 if cd_off == 0xFFFFFFFF else cd_off)
            if mixed not in ((count64, size64, off64), (count, cd_size, cd_off)):
                add(f"32-bit fields of the {at} where not saturated (zip64 only where needed)", mixed[2], mixed[1], mixed[0], 0)
    return views


def covered(view: DirView, views: list[DirView]) -> bool:
    """Whether the directory bytes ``view`` leaves unparsed are read by another view: one that starts at the
    same place, has the same first entries, reads more and was parsed to its end (a legitimate zip64 archive
    of more than 65535 members read by its saturated 32-bit count of 0xFFFF is such a prefix)."""
    n = len(view.entries)
    return any(
        w is not view and w.start == view.start and w.limit is None and w.unparsed == 0 and len(w.entries) > n
        and w.entries[:n] == view.entries
        for w in views
    )


def local_walk(
    f: BinaryIO, size: int, sized: dict[int, int], max_entries: int
) -> tuple[tuple[CdEntry, ...], bool]:
    """The local headers a streaming reader meets walking from offset 0: each header, its data, the next.
    ``sized`` gives, by header offset, the compressed size (plus data descriptor) the directory records for a
    member whose local header defers its size to a data descriptor (bit 3); the walk stops where none is known.
    The flag: the walk stopped at the scanner's bound with another local header next (fail closed on it)."""
    out: list[CdEntry] = []
    pos = 0
    while len(out) < min(max_entries, MAX_WALK) and pos + LOCAL.size <= size:
        head = _read_at(f, pos, LOCAL.size)
        if len(head) < LOCAL.size or head[:4] != LOCAL_SIG:
            break
        _sig, _ver, flags, method, _t, _d, crc, csize, usize, nlen, elen = LOCAL.unpack(head)
        raw = f.read(nlen)
        extra = f.read(elen)
        if len(raw) < nlen or len(extra) < elen:
            break
        z64 = _zip64_fields(extra, usize, csize, 0) or (usize, csize, 0)
        usize, csize = z64[0], z64[1]
        data_start = pos + LOCAL.size + nlen + elen
        if flags & 0x08:
            span = sized.get(pos)
            if span is None:
                out.append(CdEntry(raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"),
                                   flags, method, crc, csize, usize, pos, 0, 0, extra))
                return tuple(out), False  # its end is unknown: the reader reports the member unread
            nxt = data_start + span
        else:
            nxt = data_start + csize
        out.append(CdEntry(raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"),
                           flags, method, crc, csize, usize, pos, 0, 0, extra))
        if nxt <= pos:
            return tuple(out), False
        pos = nxt
    more = len(out) >= min(max_entries, MAX_WALK) and _read_at(f, pos, 4) == LOCAL_SIG
    return tuple(out), more
