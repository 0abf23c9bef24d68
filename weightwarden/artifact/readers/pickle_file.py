"""Reader for raw pickle files (``.pkl``, ``.pickle``, ``.joblib``, ``.bin`` ...): protocols 0–5.

The file is walked by the symbolic pickle machine (:func:`weightwarden.picklevm.analyze_streams`): every
consecutive pickle program becomes one :class:`CodeObject` of kind ``PICKLE`` (location ``"stream N @OFFSET"``),
and whatever follows the last program is reported as trailing data. Nothing is unpickled.

joblib files are pickles too: ``joblib.dump`` writes each NumPy array as a ``NumpyArrayWrapper`` object whose
raw array bytes follow its BUILD opcode in the stream. The machine skips those bytes exactly as ``joblib.load``
reads them (and walks the embedded pickle of object arrays), so joblib files parse cleanly; when a program
references the wrapper the entry's format becomes :attr:`Format.JOBLIB`. Compressed joblib files reach this
reader through :mod:`weightwarden.artifact.readers.compressed`.

Anomaly codes:
    pickle.parse_error: a program is malformed or truncated (calls seen before the error are still reported).
    pickle.limit: a bound (opcodes, memo, stack depth, bytes, nesting) stopped the walk; the entry's error is set.
    pickle.trailing_data: bytes after the last pickle program that are not a pickle program.
    pickle.multiple_programs: more than one pickle program in a file that is not a legacy torch checkpoint.
    pickle.nested: a program hands a literal payload to a pickle loader (pickle.loads ...); it was walked too.
    pickle.loader_divergence: the C and pure-Python unpicklers would read the bytes differently (frames).
    joblib.pickle_differential: read with plain pickle.load (not joblib.load), the "array data" joblib skips
        runs further opcodes that import or call something; that reading is added as an extra PICKLE code
        object (location "stream 0 @0 as read by pickle.load").
"""

from __future__ import annotations

import re

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, FileEntry, Format
from weightwarden.artifact.source import Source

# Classes only joblib writes: the array wrappers of current joblib and of joblib < 0.10 (whose arrays live in
# side files next to the pickle).
JOBLIB_CLASSES = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "joblib.numpy_pickle.NDArrayWrapper",
        "joblib.numpy_pickle.ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.ZNDArrayWrapper",
    }
)


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read(source: Source, ctx: ReadContext) -> FileEntry:
    from weightwarden.picklevm.machine import analyze_streams

    entry = FileEntry(source.display, Format.PICKLE, source.size)
    with source.open() as f:
        # joblib.load reads a top-level pickle file with its NumpyUnpickler, which reads array data after
        # every NumpyArrayWrapper; the plain pickle.load reading is compared with it (_joblib_differential).
        result = analyze_streams(f, limits=ctx.limits, joblib_arrays=True)
    joblib = False
    for i, analysis in enumerate(result.programs):
        location = f"stream {i} @{analysis.start}"
        entry.code.append(CodeObject(CodeKind.PICKLE, location, analysis=analysis))
        record_program_anomalies(entry, analysis, f"{source.display}:{location}")
        joblib = joblib or any(site.target in JOBLIB_CLASSES for site in analysis.globals)
    if joblib:
        entry.format = Format.JOBLIB
        _joblib_differential(source, ctx, entry, result.programs)
    if len(result.programs) > 1:
        entry.anomalies.append(
            Anomaly(
                "pickle.multiple_programs",
                source.display,
                f"{len(result.programs)} consecutive pickle programs (a loader may run more than the first)",
                ", ".join(f"@{p.start}" for p in result.programs[:10]),
            )
        )
    if result.trailing_offset is not None:
        entry.anomalies.append(
            Anomaly(
                "pickle.trailing_data",
                f"{source.display}@{result.trailing_offset}",
                f"{result.trailing_bytes} bytes after the last pickle program are not a pickle program",
                f"starts at offset {result.trailing_offset}",
            )
        )
    first = result.programs[0] if result.programs else None
    entry.metadata.update(
        {
            "protocol": first.protocol if first else None,
            "programs": len(result.programs),
            "opcodes": sum(p.opcodes for p in result.programs),
            "joblib": joblib,
        }
    )
    return entry


def record_program_anomalies(entry: FileEntry, analysis, location: str) -> None:  # type: ignore[no-untyped-def]
    """The pickle.* anomalies of one walked program (shared with the legacy torch and compressed readers)."""
    if analysis.error is not None:
        entry.anomalies.append(
            Anomaly("pickle.parse_error", location, "pickle program is malformed or truncated", analysis.error)
        )
    if analysis.limit_hit is not None:
        entry.anomalies.append(
            Anomaly(
                "pickle.limit",
                location,
                f"pickle walk stopped at a bound ({analysis.limit_hit}); the rest was not analysed",
                "; ".join(analysis.notes[-2:]),
            )
        )
        entry.error = entry.error or f"pickle not fully analysed: {analysis.limit_hit} reached"
    if analysis.divergences:
        entry.anomalies.append(
            Anomaly(
                "pickle.loader_divergence",
                location,
                "CPython's C unpickler and its pure-Python unpickler would run different opcodes from these bytes",
                "; ".join(analysis.divergences[:3]),
            )
        )
    from weightwarden.picklevm.machine import JOBLIB_NOTE

    for inner in analysis.nested:
        if not (inner.notes and inner.notes[0] == JOBLIB_NOTE):
            entry.anomalies.append(
                Anomaly(
                    "pickle.nested",
                    location,
                    "a pickle payload handed to a loader inside this pickle (scanned as a nested program)",
                    f"nested program reported from offset {inner.start}" + (f"; {inner.error}" if inner.error else ""),
                )
            )
        record_program_anomalies(entry, inner, location + "!nested")


def _joblib_differential(source: Source, ctx: ReadContext, entry: FileEntry, programs) -> None:  # type: ignore[no-untyped-def]
    """Walk the first program again the way plain ``pickle.load`` reads it (array bytes as opcodes).

    joblib.load skips the raw array data after each NumpyArrayWrapper; pickle.load does not. A file built to
    be read both ways can hide calls in that "array data". Benign files simply fail to parse there, which is
    not reported; only imports or calls the joblib reading did not see are. An object array's pickle is run by
    pickle.load with the outer memo (issue 11): what only that memo shift changes in a genuine file is sorted out
    by :func:`_memo_shifted`; everything else it reaches is reported.
    """
    import dataclasses

    from weightwarden.picklevm import Verdict, classify
    from weightwarden.picklevm.machine import analyze

    first = programs[0]
    # Raw array data (pickle.load reads it as opcodes) or an object array's pickle (pickle.load runs it with the
    # outer program's memo: every GET it makes may fetch another value; the joblib reading gave it a fresh one).
    if not (any(note.startswith("joblib array data") for note in first.notes) or any(_joblib_inner_programs(first))):
        return
    with source.open() as f:
        plain = analyze(f, limits=ctx.limits, joblib_arrays=False)
    # Only names the joblib reading never saw, spelled like real dotted names and not on the allowlist: the
    # plain reading of benign array bytes can produce anything (a computed name over garbage, empty names),
    # while a hidden payload names what it imports.
    seen = {s.target for s in first.all_sites()}
    extra = [
        s
        for s in plain.all_sites()
        if s.target not in seen and (s.computed or classify(s.target).verdict is not Verdict.SAFE)
        and (s.target.startswith("<") or _DOTTED.fullmatch(s.target) or _IDENT.fullmatch(s.target))
    ]
    shifted = _memo_shifted(first, extra)
    if shifted:
        # Not a finding: what pickle.load of every genuine joblib file with an object array does (see
        # _memo_shifted). Kept in the metadata so a reader of the report can see it.
        entry.metadata["joblib_pickle_load_memo_shift"] = ", ".join(
            sorted({f"{s.target} @{s.offset}" for s in shifted})
        )[:300]
        extra = [s for s in extra if s not in shifted]
    if plain.limit_hit is not None:
        # Fail closed: a plain reading that could not be finished may hide calls.
        entry.anomalies.append(
            Anomaly(
                "joblib.pickle_differential",
                f"{source.display}:stream 0 @0 as read by pickle.load",
                "read with pickle.load instead of joblib.load, the walk stopped at a limit; the rest is unverified",
                plain.limit_hit,
            )
        )
    if not extra:
        return
    shown = dataclasses.replace(
        plain,
        error=None,  # the plain reading of benign array bytes is expected to break; only its calls matter
        notes=(f"read as plain pickle.load would: {plain.error or 'completed'}", *plain.notes),
    )
    location = "stream 0 @0 as read by pickle.load"
    entry.code.append(CodeObject(CodeKind.PICKLE, location, analysis=shown))
    entry.anomalies.append(
        Anomaly(
            "joblib.pickle_differential",
            f"{source.display}:{location}",
            "read with pickle.load instead of joblib.load, the skipped array data runs further opcodes",
            ", ".join(sorted({s.target for s in extra}))[:200],
        )
    )


def _joblib_inner_programs(analysis):  # type: ignore[no-untyped-def]
    """The object-array pickles joblib.load reads after a NumpyArrayWrapper (walked with their own memo)."""
    from weightwarden.picklevm.machine import JOBLIB_NOTE

    for inner in analysis.nested:
        if inner.notes and inner.notes[0] == JOBLIB_NOTE and inner.end is not None:
            yield inner


def _memo_shifted(first, extra):  # type: ignore[no-untyped-def]
    """The plain-reading sites that only differ from joblib's reading by the memo the object array's pickle shares.

    joblib.dump writes an object array as a *separate* pickle (``pickle.dump(array, protocol=5)``) after the
    wrapper's BUILD; joblib.load reads it with a fresh unpickler, so its memo starts at 0. Plain pickle.load
    runs those bytes as part of the outer program: MEMOIZE stores at the outer memo's length, so every GET the
    inner program issues fetches the *outer* program's entry of that index instead. numpy writes its dtype and
    scalar globals as ``BINGET <'numpy'>, 'dtype', STACK_GLOBAL``: under pickle.load the module half becomes
    whatever the outer memo holds there (a dict key, the string 'NumpyArrayWrapper'), and CPython then fails
    to import it (ModuleNotFoundError/AttributeError) or imports ``<that module>.dtype``.

    A site counts as memo-shifted, and is not reported, only when all of this holds: it lies inside an object
    array's pickle that joblib's reading walked; joblib's reading has a site of the same kind at the same
    offset whose name is allowlisted; only the module half moved (the attribute, the last name part, is the
    same); the name is a literal (not computed); and the shifted name is not on the denylist (verdict
    UNKNOWN: a module outside the deny tables and the resolution table's dangerous re-exports, reached by an
    attribute that ends an allowlisted name, so no DANGEROUS_LEAVES name such as ``system`` or ``load``); and
    the shifted module is provably no module at all (not a standard-library name, not found on the path: a
    dict key or the class name ``NumpyArrayWrapper``), since our tables do not judge unknown modules' attributes.
    A shifted name that is dangerous, computed, or changes the attribute is still reported (WW-PKL-011 and
    the plain reading's own findings), and so is everything outside the object-array pickles: raw array data
    that runs as opcodes under pickle.load.
    """
    from weightwarden.picklevm import Verdict, classify

    inners = list(_joblib_inner_programs(first))
    if not inners:
        return []
    joblib_at: dict[tuple[int, str], list[str]] = {}
    for inner in inners:
        for site in inner.globals + inner.calls:
            joblib_at.setdefault((site.offset, site.kind), []).append(site.target)
    shifted = []
    for site in extra:
        if site.computed or site.target.startswith("<") or "." not in site.target:
            continue
        if not any(inner.start <= site.offset < inner.end for inner in inners):
            continue
        attr = site.target.rpartition(".")[2]
        before = joblib_at.get((site.offset, site.kind), [])
        if not any(
            t.rpartition(".")[2] == attr and classify(t).verdict is Verdict.SAFE for t in before
        ):
            continue
        if classify(site.target).verdict is not Verdict.UNKNOWN:
            continue
        if _may_be_importable(site.target.partition(".")[0]):
            # An unknown module that exists (stdlib or installed here) with an attribute of that name is not
            # judged by our tables: ``copy._reconstruct`` calls its ``func`` argument. Fail closed: report it.
            continue
        shifted.append(site)
    return shifted


def _may_be_importable(top: str) -> bool:
    """True unless ``top`` is provably no module: not a standard-library name and not found on this
    interpreter's path as a module or regular package (``find_spec`` of a top-level name searches the path;
    it imports nothing)."""
    import importlib.util
    import sys

    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return True
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return True
    # A bare folder on the path is a namespace package (no origin): pickle's getattr on it finds no attribute
    # such as ``dtype`` (submodules are not imported by getattr), so it cannot be the shifted target either.
    return spec is not None and spec.origin is not None
