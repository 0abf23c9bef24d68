"""Reader of 7z archives (via ``py7zr``): every member is read as a file of its own.

The member list comes from the archive header. Members are decompressed in one pass (7z blocks are usually
solid, so one member at a time would decompress the same block again and again) into bounded spools: the
declared total is checked against the bomb bounds before anything is decompressed, and the actual output is
bounded while it is written (py7zr's own ``max_extract_size`` plus our per-member cap). Members whose name
would leave the extraction folder are not extracted (py7zr refuses them) and are reported. A codec py7zr
cannot decode, or an encrypted archive, is a per-file error naming the reason.

``FileEntry.metadata``: ``members`` (count).

Anomaly codes:
    7z.bad_archive: the archive header cannot be read (the entry also gets an error).
    7z.encrypted: the archive needs a password; its members cannot be scanned.
    7z.duplicate_name: two members share a name, or are extracted to the same path after py7zr's name clean-up.
    7z.directory_with_data: an entry marked as a directory (or socket) that has a data stream (round 18): py7zr
        makes a folder of it and drops the bytes, 7-Zip gives an entry with a stream to the caller as a file. It is
        read as a file.
    7z.name_rewritten: extraction writes the member under another name ('./m.pkl' -> 'm.pkl', 'a//./m' -> 'a/m').
    archive.member_not_read: a member asked for produced no output; it was not scanned (the entry gets an error).
    archive.symlink_member: a symbolic-link member.
    archive.too_many_members: more members than limits.max_archive_members; none is read.
    (plus archive.path_traversal, archive.absolute_path, archive.too_deep, archive.bomb from :mod:`._archive`)
"""

from __future__ import annotations

import io
import pathlib
import sys
import tempfile
from typing import Any

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import FileEntry, Format
from weightwarden.artifact.readers._archive import (
    bomb_anomaly,
    check_member_name,
    depth_allows_members,
    note_too_deep,
    read_child,
)
from weightwarden.artifact.source import SPOOL_IN_MEMORY, SizeLimitExceeded, Source, StreamWindow


def _import_py7zr() -> Any:
    """``import py7zr`` with pycryptodome on its ctypes back end instead of cffi, and without
    ``importlib.metadata``.

    py7zr imports ``Cryptodome.Cipher.AES`` at start-up (only encrypted archives use it, and those are
    refused here). Cryptodome tries cffi first, whose C-declaration parser (pycparser) costs ~20 ms of the
    ~65 ms import; with cffi unavailable it uses ctypes, its documented fallback, which loads the same
    shared libraries. ``sys.modules["cffi"] = None`` makes ``import cffi`` fail for the duration of this
    import only (and only when nothing in the process has imported cffi yet).

    Three of py7zr's codec packages (bcj, pyppmd, inflate64) look their own version up with
    ``importlib.metadata`` when imported, only to set ``__version__``: importing ``importlib.metadata``
    (email, csv, ...) and scanning every installed distribution's metadata costs ~25 ms, a third of the
    import. While py7zr is imported (and only when nothing has imported ``importlib.metadata`` yet), that
    name is a small module whose ``version`` raises ``PackageNotFoundError``, which those packages already
    handle (``__version__ = "unknown"``); the real module is importable again afterwards. Nothing reads those
    version strings. If the import fails either way, it is retried plainly, so this can only change which back
    end Cryptodome uses and three ``__version__`` strings, never whether 7z archives can be read.
    """
    if "py7zr" in sys.modules:
        return sys.modules["py7zr"]
    blocked = "cffi" not in sys.modules
    stubbed = "importlib.metadata" not in sys.modules
    if blocked:
        sys.modules["cffi"] = None  # type: ignore[assignment]
    if stubbed:
        sys.modules["importlib.metadata"] = _metadata_stub()
    before = set(sys.modules)
    try:
        import py7zr
    except (ImportError, AttributeError):
        if not blocked and not stubbed:
            raise
        _unblock_cffi()
        _unstub_metadata()
        blocked = stubbed = False
        # Modules the failed attempt left half-wired (a submodule loaded, its package object discarded)
        # are dropped, so the plain import builds py7zr and Cryptodome afresh.
        for name in set(sys.modules) - before:
            del sys.modules[name]
        import py7zr
    finally:
        if blocked:
            _unblock_cffi()
        if stubbed:
            _unstub_metadata()
    return py7zr


def _metadata_stub() -> Any:
    """A stand-in for ``importlib.metadata`` during py7zr's import: every version lookup finds nothing."""
    import types

    stub = types.ModuleType("importlib.metadata")
    stub.__dict__["_weightwarden_stub"] = True

    class PackageNotFoundError(ModuleNotFoundError):
        """No distribution (this stand-in knows none)."""

    def version(distribution_name: str) -> str:
        raise PackageNotFoundError(distribution_name)

    stub.__dict__["PackageNotFoundError"] = PackageNotFoundError
    stub.__dict__["version"] = version
    return stub


def _unstub_metadata() -> None:
    module = sys.modules.get("importlib.metadata")
    if module is not None and getattr(module, "_weightwarden_stub", False):
        del sys.modules["importlib.metadata"]


def _unblock_cffi() -> None:
    if "cffi" in sys.modules and sys.modules["cffi"] is None:
        del sys.modules["cffi"]


def read(source: Source, ctx: ReadContext) -> FileEntry:
    py7zr = _import_py7zr()  # lazy: only 7z archives need it

    entry = FileEntry(source.display, Format.SEVEN_ZIP, source.size)
    where = source.display
    add = entry.add_anomaly

    with source.open() as f:
        try:
            archive = py7zr.SevenZipFile(f, mode="r")
        except py7zr.exceptions.PasswordRequired:
            add("7z.encrypted", where, "the archive header is encrypted; members cannot be scanned")
            entry.error = "encrypted 7z archive (password required); members not scanned"
            return entry
        except Exception as exc:  # noqa: BLE001 - py7zr raises many types on hostile headers
            add("7z.bad_archive", where, "the 7z header cannot be read", f"{exc.__class__.__name__}: {exc}"[:200])
            entry.error = f"unreadable 7z archive: {exc.__class__.__name__}: {exc}"[:300]
            return entry
        try:
            _read(source, ctx, entry, archive, add)
        finally:
            archive.close()
    return entry


def _unmark_dirs_with_data(archive: Any, where: str, add: Any) -> None:
    """Red team round 18: a directory (or socket) attribute on an entry that has a data stream made py7zr skip
    it (no output, not scanned) while 7-Zip, which decides by the stream, extracts it as a file. Such an
    entry's attributes are cleared, so py7zr extracts its bytes and they are read like any member's."""
    for f in archive.files:
        if f.emptystream or not (f.is_directory or f.is_socket):
            continue
        add("7z.directory_with_data", f"{where}!{f.filename}",
            "an entry marked as a directory carries a data stream: 7-Zip extracts it as a file (scanned as a file)",
            f"attributes {f._file_info.get('attributes') or 0:#010x}, {f.uncompressed} bytes")
        f._file_info["attributes"] = 0x20  # FILE_ATTRIBUTE_ARCHIVE: a plain file, no Unix mode


def _read(source: Source, ctx: ReadContext, entry: FileEntry, archive: Any, add: Any) -> None:
    where = source.display
    _unmark_dirs_with_data(archive, where, add)
    infos = archive.list()
    entry.metadata["members"] = len(infos)
    if len(infos) > ctx.limits.max_archive_members:
        add("archive.too_many_members", where, f"{len(infos)} members (limit {ctx.limits.max_archive_members})")
        entry.error = "too many members; not read"
        return
    seen: set[str] = set()
    targets: list[str] = []
    refused: list[str] = []
    declared = 0
    for info in infos:
        name, loc = info.filename, f"{where}!{info.filename}"
        if name in seen:
            add("7z.duplicate_name", loc, "two members share this name")
        seen.add(name)
        bad = check_member_name(name, loc)
        for anomaly in bad:
            add(anomaly.code, anomaly.location, anomaly.message, anomaly.evidence)
        if info.is_symlink:
            add("archive.symlink_member", loc, "member is a symbolic link")
        elif info.is_directory:
            continue
        elif bad:
            refused.append(name)
        else:
            targets.append(name)
            declared += info.uncompressed or 0
    # With nothing refused, everything is extracted (targets=None): py7zr's extract(targets=...) strips a trailing
    # '/' from each target and then misses a member whose name ends in one. Otherwise the targets are named, and
    # a member py7zr still skips is caught below as a member with no output.
    select = None if not refused else targets
    order = [i.filename for i in infos] if select is None else targets
    expected = _expected_outputs(order, set(targets), where, add)
    if not targets:
        if refused:
            entry.error = f"{len(refused)} member(s) with unsafe names not scanned: " + ", ".join(refused[:10])
        return
    if not depth_allows_members(ctx):
        note_too_deep(entry, ctx, len(targets))
        return
    if archive.needs_password():
        add("7z.encrypted", where, "members are encrypted and cannot be scanned")
        entry.error = "encrypted 7z archive (password required); members not scanned"
        return
    limits = ctx.limits
    ratio_cap = max(source.size * limits.max_compression_ratio, 1024 * 1024)
    cap = min(limits.max_total_decompressed, ctx.budget.remaining, ratio_cap)
    if declared > cap:
        add("archive.bomb", where, "declared uncompressed size exceeds the bomb bounds; not decompressed", f"{source.size} bytes declared to expand to {declared}")
        entry.error = "7z members not scanned: declared size exceeds the decompression bounds"
        return

    factory = _BoundedFactory(min(limits.max_member_bytes, cap), cap)
    try:
        archive.max_extract_size = cap
        archive.extract(targets=select, factory=factory)
    except (SizeLimitExceeded, MemoryError) as exc:
        entry.anomalies.append(bomb_anomaly(where, str(exc)))
        entry.error = f"7z members not scanned: {exc}"
        factory.close()
        return
    except Exception as exc:  # noqa: BLE001 - unsupported codecs, corrupt streams, CRC errors
        name = exc.__class__.__name__
        if "Bomb" in name:
            entry.anomalies.append(bomb_anomaly(where, str(exc)))
        entry.error = f"7z members could not be decompressed: {name}: {exc}"[:300]
        factory.close()
        return
    ctx.budget.take(factory.total)
    # Red team round 15: outputs were looked up by the raw member name, but py7zr files each output under the
    # name it cleans up for extraction ('./model.pkl' -> 'model.pkl'): the lookup missed and the member was
    # skipped silently. Now every output py7zr produced is scanned, whatever it is called, and a member asked
    # for that produced no output is an error (fail closed), never a skip.
    unread: list[str] = []
    try:
        produced: dict[str, int] = {}
        for out_name, out in factory.created:
            produced[out_name] = produced.get(out_name, 0) + 1
            raws = expected.get(out_name, [])
            name = raws[0] if len(set(raws)) == 1 else out_name
            size = out.size()
            buf = out.buf
            display = f"{where}!{name}"
            child = Source(display, size, opener=lambda b=buf, s=size: io.BufferedReader(StreamWindow(b, 0, s, owned=False)), fs_dir=source.fs_dir)
            entry.children.append(read_child(ctx, child))
        for out_name, raws in expected.items():
            missing = len(raws) - produced.get(out_name, 0)
            if missing > 0:
                unread.extend(raws[-missing:])
    finally:
        factory.close()
    for name in unread:
        add("archive.member_not_read", f"{where}!{name}", "member selected for reading produced no output; it was not scanned")
    problems = []
    if unread:
        problems.append(f"{len(unread)} member(s) produced no output and were not scanned: " + ", ".join(unread[:10]))
    if refused:
        problems.append(f"{len(refused)} member(s) with unsafe names not scanned: " + ", ".join(refused[:10]))
    if problems:
        entry.error = "; ".join(problems)


def _output_name(name: str) -> str | None:
    """The name py7zr files a member's output under when extracting it (its writer-factory key and the path
    ``extractall`` writes): py7zr's own clean-up (drop a leading '/' and './', '.' and empty parts, a
    trailing '/'), as a posix path. None where py7zr refuses the name (its extraction then raises)."""
    try:
        # the rule py7zr applies, from py7zr itself
        from py7zr.helpers import _sanitize_member_name as sanitize
    except ImportError:  # older py7zr: the same rule, restated
        sanitize = _sanitize
    try:
        return pathlib.PurePath(sanitize(name)).as_posix()
    except Exception:  # noqa: BLE001 - py7zr raises Bad7zFile on names it refuses
        return None


def _sanitize(name: str) -> str:
    name = name.lstrip("/")
    name = name[2:] if name.startswith("./") else name
    parts = [p for p in pathlib.PurePath(name).parts if p != "."]
    if not parts or ".." in parts:
        raise ValueError(name)
    return str(pathlib.PurePath(*parts))


def _expected_outputs(order: list[str], wanted: set[str], where: str, add: Any) -> dict[str, list[str]]:
    """Output name -> the members asked for (``wanted``) that py7zr files under it. ``order``: the names py7zr
    walks, in its order; a repeated name gets a '_<n>' suffix first (py7zr's rule for duplicates), then the
    clean-up. Names the clean-up rewrites, and distinct names that collide after it (one output overwrites the
    other on disk), are reported."""
    expected: dict[str, list[str]] = {}
    repeats: dict[str, int] = {}
    for name in order:
        if name in repeats:
            outname = f"{name}_{repeats[name]}"
            repeats[name] += 1
        else:
            outname, repeats[name] = name, 0
        if name not in wanted:
            continue
        out = _output_name(outname)
        loc = f"{where}!{name}"
        if out is None:
            out = outname  # py7zr refuses it: extraction raises and the entry gets an error
        elif out != outname:
            add("7z.name_rewritten", loc, "extraction writes this member under another name", f"{name[:200]!r} -> {out[:200]!r}")
        if out in expected and name not in expected[out]:
            add("7z.duplicate_name", loc, "two members are extracted to the same path", f"{expected[out][0][:200]!r} and {name[:200]!r} -> {out[:200]!r}")
        expected.setdefault(out, []).append(name)
    return expected


class _BoundedIO:
    """py7zr writes a member here: a spool that refuses to grow past its bounds."""

    def __init__(self, factory: _BoundedFactory) -> None:
        self.factory = factory
        self.buf = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by the factory
        self.length = 0

    def write(self, s: bytes | bytearray) -> int:
        self.length += len(s)
        self.factory.total += len(s)
        if self.length > self.factory.member_cap or self.factory.total > self.factory.total_cap:
            raise SizeLimitExceeded("7z member output exceeds the decompression bounds")
        self.buf.seek(0, io.SEEK_END)
        return self.buf.write(s)

    def read(self, size: int | None = None) -> bytes:
        return self.buf.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buf.seek(offset, whence)

    def flush(self) -> None:
        pass

    def size(self) -> int:
        return self.length

    def close(self) -> None:
        pass


class _BoundedFactory:
    def __init__(self, member_cap: int, total_cap: int) -> None:
        self.member_cap = member_cap
        self.total_cap = total_cap
        self.total = 0
        # Every output in the order py7zr asked for it, with the name it gave: a list, not a dict, so two members
        # filed under one name (a/x and ./a/x) are both kept and both scanned.
        self.created: list[tuple[str, _BoundedIO]] = []

    def create(self, filename: str) -> _BoundedIO:
        out = _BoundedIO(self)
        self.created.append((filename, out))
        return out

    def close(self) -> None:
        for _name, out in self.created:
            out.buf.close()
