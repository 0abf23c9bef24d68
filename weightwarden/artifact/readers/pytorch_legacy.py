"""Reader for legacy (non-zip) ``torch.save`` files, as written before PyTorch 1.6 or with
``_use_new_zipfile_serialization=False``.

Layout: five consecutive pickle programs — the magic number, the protocol version, a dict of system
information, the saved object itself and the list of storage keys — followed by the raw bytes of every storage
(for each key in order: an 8-byte element count, then the elements). ``torch.load`` runs all five programs,
so all five are walked by the symbolic machine and reported as PICKLE code objects (``"stream N @OFFSET"``).

Tensors are derived where possible: the persistent ids of the main program name each storage's class and
element count, the key list gives their order, and the 8-byte count before each storage gives its byte range.
Only those 8-byte headers are read; the storage bytes themselves are never read.

Anomaly codes:
    torch.bad_magic: the first program does not produce PyTorch's legacy magic number.
    torch.missing_programs: the file ends (or breaks) before all five pickle programs.
    torch.storage_mismatch: a storage's element count in the data differs from its persistent id.
    torch.storage_out_of_bounds: a storage runs past the end of the file.
    torch.trailing_data: bytes after the last storage (or after what torch reads of a legacy tar member).
    torch.legacy_unplaced: a legacy *tar* member (storages/tensors) the walk cannot follow as torch reads it.
    pickle.parse_error / pickle.limit / pickle.nested: as for raw pickle files (see pickle_file).
"""

from __future__ import annotations

import struct

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, FileEntry, Format, TensorInfo
from weightwarden.artifact.readers.pickle_file import record_program_anomalies
from weightwarden.artifact.source import Source
from weightwarden.core.dtypes import TORCH_STORAGE_TYPES

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
MAX_STORAGES = 1_000_000

# Storage class -> (dtype name, bytes per element): the shared table (core.dtypes).
STORAGE_TYPES = TORCH_STORAGE_TYPES


def read(source: Source, ctx: ReadContext) -> FileEntry:
    from weightwarden.picklevm.machine import ChainState, analyze_value

    entry = FileEntry(source.display, Format.PYTORCH_LEGACY, source.size)
    pids: list[object] = []
    values: list[object] = []
    chains = ChainState()  # one fork budget and walk memo for the five streams (round 13)
    forks = []
    with source.open() as f:
        for i in range(5):
            start = f.tell()
            if start >= source.size:
                break
            chains.mark(start)
            analysis, value = analyze_value(f, limits=ctx.limits, persistent_ids=pids if i == 3 else None)
            values.append(value)
            location = f"stream {i} @{analysis.start}"
            entry.code.append(CodeObject(CodeKind.PICKLE, location, analysis=analysis))
            record_program_anomalies(entry, analysis, f"{source.display}:{location}")
            if analysis.end is None:
                break
            forks.append((i, analysis))
            f.seek(analysis.resume or analysis.end)
        data_start = f.tell()
        complete = len(values) == 5 and all(c.analysis.end is not None for c in entry.code)
        # A STOP inside a frame (a divergence, high): torch.load on a path (a buffered file) goes on after
        # STOP, on BytesIO at the frame end. The main walk follows the frame end; the whole chain from STOP
        # is walked too (round 12: one program from STOP, dropped when it named nothing, hid the next), after
        # the main walk, so that a chain rejoining it stops there (round 13).
        _walk_forks(f, source, ctx, entry, forks, chains, "stream {i} chain from STOP @{start}")
        if values and values[0] != MAGIC_NUMBER:
            entry.anomalies.append(
                Anomaly("torch.bad_magic", source.display, "first pickle is not PyTorch's legacy magic number", repr(values[0])[:80])
            )
        if not complete:
            entry.anomalies.append(
                Anomaly(
                    "torch.missing_programs",
                    source.display,
                    f"only {len(values)} of the 5 pickle programs of a legacy PyTorch file could be read",
                )
            )
            return entry
        entry.metadata["protocol_version"] = values[1]
        info = values[2] if isinstance(values[2], dict) else {}
        entry.metadata["sys_info"] = {k: v for k, v in info.items() if isinstance(k, str)}
        keys = values[4]
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            little = info.get("little_endian", True) is not False
            _storages(f, source, entry, keys[:MAX_STORAGES], _pid_table(pids), data_start, little)
    return entry


def _walk_forks(f, source: Source, ctx: ReadContext, entry: FileEntry, forks, chains, label: str) -> None:  # type: ignore[no-untyped-def]
    """The chains from STOP of every main-walk program whose STOP lay inside a frame, with one shared state."""
    from weightwarden.picklevm.machine import other_chain

    for i, analysis in forks:
        for alt in other_chain(f, analysis, ctx.limits, 0, chains=chains):
            entry.code.append(CodeObject(CodeKind.PICKLE, label.format(i=i, start=alt.start), analysis=alt))
            record_program_anomalies(entry, alt, f"{source.display}:@{alt.start}")


def _pid_table(pids: list[object]) -> dict[str, tuple[str, int | None]]:
    table: dict[str, tuple[str, int | None]] = {}
    for pid in pids:
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage" and isinstance(pid[2], str):
            cls = str(pid[1]).rsplit(".", 1)[-1]
            numel = pid[4] if len(pid) > 4 and type(pid[4]) is int else None
            table[pid[2]] = (cls, numel)
    return table


def _storages(f, source: Source, entry: FileEntry, keys: list[str], table, pos: int, little: bool) -> None:  # type: ignore[no-untyped-def]
    fmt = "<q" if little else ">q"
    for key in keys:
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            entry.anomalies.append(
                Anomaly("torch.storage_out_of_bounds", f"{source.display}@{pos}", f"storage {key} starts past the end of the file")
            )
            return
        (numel,) = struct.unpack(fmt, head)
        cls, declared = table.get(key, ("UntypedStorage", None))
        dtype, size = STORAGE_TYPES.get(cls, ("unknown", 1))
        if declared is not None and declared != numel and cls != "UntypedStorage":
            entry.anomalies.append(
                Anomaly(
                    "torch.storage_mismatch",
                    f"{source.display}@{pos}",
                    f"storage {key} holds {numel} elements but its persistent id says {declared}",
                )
            )
        start = pos + 8
        end = start + max(numel, 0) * size
        entry.tensors.append(TensorInfo(f"storage/{key}", dtype, (max(numel, 0),), start, end))
        if numel < 0 or end > source.size:
            entry.anomalies.append(
                Anomaly(
                    "torch.storage_out_of_bounds",
                    f"{source.display}@{pos}",
                    f"storage {key} ({numel} elements) runs past the end of the file",
                )
            )
            return
        pos = end
    if pos < source.size:
        entry.anomalies.append(
            Anomaly("torch.trailing_data", f"{source.display}@{pos}", f"{source.size - pos} bytes after the last storage")
        )


# -- legacy *tar* checkpoints (torch.save before 0.4-ish; still read by torch.load's legacy_load) ----------------
#
# torch.load opens a tar whose members are ``storages``, ``tensors`` and ``pickle``. It extracts ``storages`` and
# reads it through an unbuffered file: a pickle (the number of storages), then per storage a pickle ``(key,
# location, storage class)`` followed by raw data (an 8-byte element count, then count * element size bytes,
# read by ``UntypedStorage._new_with_file``), then a pickle of storage views. ``tensors`` likewise: a pickle
# (the count), then per tensor a pickle ``(key, storage id, type)`` followed by ``ndim`` (4 bytes), 4 skipped
# bytes, ``ndim`` sizes and ``ndim`` strides (8 bytes each) and an 8-byte offset. Each pickle.load starts where
# the previous read ended, after the frame that held STOP (red team round 11: the members were read as plain
# pickle files, so the raw bytes were walked as opcodes, a storage's size field doubled as BINBYTES over a
# payload, and a program after a frame was never walked). What the walk cannot place as torch does is
# ``torch.legacy_unplaced`` (high): a loader may run bytes there that no reading of ours covered.

LEGACY_TAR_MEMBERS = ("storages", "tensors")
_MAX_RECORDS = 1_000_000


def read_legacy_tar_member(source: Source, ctx: ReadContext, name: str) -> FileEntry:
    """One ``storages`` or ``tensors`` member of a legacy tar checkpoint, walked as torch.load reads it."""
    from weightwarden.picklevm.machine import ChainState

    entry = FileEntry(source.display, Format.PYTORCH_LEGACY, source.size)
    chains = ChainState()  # one fork budget and walk memo for every program of the member (round 13)
    forks: list[tuple[int, object]] = []
    with source.open() as f:
        try:
            _walk_legacy_member(f, source, ctx, entry, name, chains, forks)
        finally:
            _walk_forks(f, source, ctx, entry, forks, chains, "stream {i} chain from STOP @{start}")
    return entry


def _walk_legacy_member(f, source: Source, ctx: ReadContext, entry: FileEntry, name: str, chains, forks) -> None:  # type: ignore[no-untyped-def]
    from weightwarden.picklevm.machine import analyze_streams, analyze_value

    size = source.size
    count = [0]

    def program(pos: int, what: str) -> tuple[object, int | None]:
        """Walk the pickle torch loads at ``pos``; (its plain value, where torch reads next or None)."""
        f.seek(pos)
        chains.mark(pos)
        analysis, value = analyze_value(f, limits=ctx.limits)
        location = f"stream {count[0]} @{analysis.start} ({what})"
        entry.code.append(CodeObject(CodeKind.PICKLE, location, analysis=analysis))
        record_program_anomalies(entry, analysis, f"{source.display}:{location}")
        if analysis.end is None:
            count[0] += 1
            return value, None
        # The chain from STOP is walked after the member (a chain rejoining torch's reading stops there).
        forks.append((count[0], analysis))
        count[0] += 1
        return value, analysis.resume or analysis.end

    def unplaced(pos: int, why: str) -> None:
        entry.anomalies.append(
            Anomaly(
                "torch.legacy_unplaced", f"{source.display}@{pos}",
                f"torch.load's legacy tar reader reads the {name} member on from here, and the walk cannot tell "
                f"how: {why}; the bytes it would unpickle next were not scanned",
            )
        )

    def raw(pos: int, n: int, what: str) -> bytes | None:
        f.seek(pos)
        data = f.read(n)
        if len(data) < n:
            entry.anomalies.append(
                Anomaly("torch.storage_out_of_bounds", f"{source.display}@{pos}", f"{what} runs past the end of the member")
            )
            return None
        return data

    num, pos = program(0, "count")
    if pos is None:
        return
    if type(num) is not int or not 0 <= num <= _MAX_RECORDS:
        unplaced(pos, f"the first pickle is not a record count ({str(num)[:60]})")
        return
    for i in range(num):
        args, nxt = program(pos, f"record {i}")
        if nxt is None:
            return
        if not (isinstance(args, tuple) and len(args) == 3):
            unplaced(nxt, f"record {i} is not a 3-tuple ({str(args)[:60]})")
            return
        if name == "storages":
            cls = str(args[2]).rsplit(".", 1)[-1]
            if not isinstance(args[2], str) or cls not in STORAGE_TYPES:
                unplaced(nxt, f"storage class {str(args[2])[:60]} has no known element size")
                return
            head = raw(nxt, 8, f"storage {i}")
            if head is None:
                return
            (numel,) = struct.unpack("<q", head)
            end = nxt + 8 + numel * STORAGE_TYPES[cls][1]
            if numel < 0 or end > size:
                entry.anomalies.append(
                    Anomaly("torch.storage_out_of_bounds", f"{source.display}@{nxt}", f"storage {i} ({numel} elements) runs past the end of the member")
                )
                return
            pos = end
        else:
            head = raw(nxt, 8, f"tensor {i}")
            if head is None:
                return
            (ndim,) = struct.unpack("<i", head[:4])
            if ndim < 0:
                entry.anomalies.append(Anomaly("torch.storage_out_of_bounds", f"{source.display}@{nxt}", f"tensor {i} has {ndim} dimensions"))
                return
            pos = nxt + 8 + 16 * ndim + 8
            if pos > size:
                entry.anomalies.append(
                    Anomaly("torch.storage_out_of_bounds", f"{source.display}@{nxt}", f"tensor {i} runs past the end of the member")
                )
                return
    if name == "storages":
        _views, nxt = program(pos, "storage views")
        if nxt is None:
            return
        pos = nxt
    if pos < size:
        # torch reads no further; bytes here are walked all the same (they may be a program for another reader).
        f.seek(pos)
        rest = analyze_streams(f, limits=ctx.limits, base_offset=0, chains=chains)
        for analysis in rest.programs:
            if analysis.globals or analysis.calls or analysis.misuses:
                entry.code.append(CodeObject(CodeKind.PICKLE, f"trailing @{analysis.start}", analysis=analysis))
                record_program_anomalies(entry, analysis, f"{source.display}:trailing @{analysis.start}")
        entry.anomalies.append(
            Anomaly("torch.trailing_data", f"{source.display}@{pos}", f"{size - pos} bytes after what torch.load reads")
        )
