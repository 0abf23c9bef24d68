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
    torch.trailing_data: bytes after the last storage.
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
    from weightwarden.picklevm.machine import analyze_value

    entry = FileEntry(source.display, Format.PYTORCH_LEGACY, source.size)
    pids: list[object] = []
    values: list[object] = []
    with source.open() as f:
        for i in range(5):
            start = f.tell()
            if start >= source.size:
                break
            analysis, value = analyze_value(f, limits=ctx.limits, persistent_ids=pids if i == 3 else None)
            values.append(value)
            location = f"stream {i} @{analysis.start}"
            entry.code.append(CodeObject(CodeKind.PICKLE, location, analysis=analysis))
            record_program_anomalies(entry, analysis, f"{source.display}:{location}")
            if analysis.end is None:
                break
            f.seek(analysis.end)
        data_start = f.tell()
        complete = len(values) == 5 and all(c.analysis.end is not None for c in entry.code)
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
