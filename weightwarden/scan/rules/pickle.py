"""Pickle family (WW-PKL-*): what a pickle program imports and calls, judged by the picklevm allowlist.

Every :class:`~weightwarden.picklevm.model.CallSite` of every pickle program (nested ones included) goes
through :func:`weightwarden.picklevm.classify`: DANGEROUS targets are critical, anything not on the allowlist
is high, and names built at run time are critical because their only purpose is to hide the target. One
finding is reported per distinct target per program, with the first offset and the number of occurrences.
A program the walk could not finish still reports every call seen before the problem, plus a finding that
says why the walk stopped. Anomalies of the pickle-bearing readers (trailing data, torch, joblib) live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from weightwarden.artifact.model import CodeKind, CodeObject
from weightwarden.core.findings import Finding, Severity
from weightwarden.picklevm.model import CallSite, PickleAnalysis
from weightwarden.picklevm.policy import RECONSTRUCTORS, positional_only, rebuild_only, value_only
from weightwarden.picklevm.resolution import is_table_class
from weightwarden.scan.rules.base import (
    ATLAS_SUPPLY_CHAIN,
    ATLAS_USER_EXECUTION,
    CWE_CODE_INJECTION,
    CWE_DESERIALIZATION,
    CWE_INPUT_VALIDATION,
    CWE_INTERPRETATION_CONFLICT,
    CWE_RESOURCE,
    LOAD_TIME_CODE,
    CheckContext,
    ScanRule,
)

_CONVERT = (
    "Do not load this file with pickle, torch.load or joblib.load. Ask the publisher for a safetensors (or "
    "other non-executable) release, or convert it without executing it (`weightwarden convert`)."
)

DANGEROUS_CALL = ScanRule(
    "WW-PKL-001",
    Severity.CRITICAL,
    "Pickle imports or calls a dangerous callable",
    "Loading the file runs a callable that can execute commands, evaluate code, open files or sockets, or "
    "import arbitrary modules (os.system, builtins.exec, subprocess, runpy, pydoc.locate, ...). This is how "
    "malicious model files take over the machine that loads them.",
    _CONVERT + " Treat the file as malware: do not load it anywhere.",
    (*LOAD_TIME_CODE, CWE_CODE_INJECTION),
)
UNKNOWN_CALL = ScanRule(
    "WW-PKL-002",
    Severity.HIGH,
    "Pickle imports or calls a callable outside the allowlist",
    "The pickle names a callable that ML checkpoints do not normally need (it is not a tensor rebuilder, "
    "container or class of a well-known ML library). Loading the file imports that module and may run "
    "arbitrary code in it.",
    _CONVERT + " If you trust the publisher and know the class, review the call before loading.",
    LOAD_TIME_CODE,
)
COMPUTED_CALL = ScanRule(
    "WW-PKL-003",
    Severity.CRITICAL,
    "Pickle builds the name of what it imports at run time",
    "The module or attribute name was computed while unpickling (memo tricks, STACK_GLOBAL over non-literal "
    "strings, getattr chains). Benign checkpoints name their classes literally; computed names exist to hide "
    "the real target from scanners.",
    _CONVERT + " Treat the file as malicious.",
    (*LOAD_TIME_CODE, CWE_CODE_INJECTION),
)
MALFORMED = ScanRule(
    "WW-PKL-005",
    Severity.MEDIUM,
    "Pickle program is malformed or truncated",
    "The symbolic walk stopped on an invalid opcode, a stack/memo inconsistency or the end of the data. "
    "Calls seen before that point are reported separately; bytes after it were not inspected, and loaders "
    "that parse differently might run them.",
    "Re-download the file from its source and compare hashes; do not load a pickle that cannot be parsed.",
    (CWE_DESERIALIZATION, CWE_INPUT_VALIDATION, CWE_INTERPRETATION_CONFLICT),
    anomaly_codes=("pickle.parse_error",),
)
LIMIT = ScanRule(
    "WW-PKL-006",
    Severity.HIGH,
    "Pickle analysis stopped at a safety limit",
    "The program exceeded a bound (opcodes, memo size, stack depth, nesting, bytes). Hostile files inflate "
    "programs to exhaust scanners; whatever follows the bound was not inspected.",
    "Do not load the file. If it is a legitimate huge pickle, convert it to safetensors in a sandbox.",
    (CWE_DESERIALIZATION, CWE_RESOURCE),
    anomaly_codes=("pickle.limit",),
)
TRAILING = ScanRule(
    "WW-PKL-007",
    Severity.MEDIUM,
    "Data after the end of the pickle program(s)",
    "Bytes follow the last STOP opcode that are not another pickle program. Loaders ignore them, but they "
    "can hide a second payload read by custom loading code, or mean the file is not what it claims to be.",
    "Ask the publisher why the file carries trailing data; prefer a safetensors release.",
    (CWE_DESERIALIZATION, CWE_INTERPRETATION_CONFLICT),
    anomaly_codes=("pickle.trailing_data", "torch.trailing_data"),
)
STRUCTURE = ScanRule(
    "WW-PKL-008",
    Severity.MEDIUM,
    "Pickle-based container is malformed",
    "A PyTorch, joblib or NumPy container around the pickle program(s) is inconsistent (missing or extra "
    "records, wrong magic, bad lengths). Loaders and scanners may disagree on what such a file contains.",
    "Re-download the file and compare hashes; prefer a safetensors release.",
    (CWE_DESERIALIZATION, CWE_INTERPRETATION_CONFLICT),
    anomaly_codes=(
        "torch.missing_version", "torch.bad_magic", "torch.missing_programs", "torch.storage_mismatch",
        "torch.storage_out_of_bounds",
    ),
)
TORCHSCRIPT = ScanRule(
    "WW-PKL-009",
    Severity.MEDIUM,
    "PyTorch checkpoint contains TorchScript code",
    "The archive ships TorchScript source (code/ records) that torch.load hands to torch.jit.load. "
    "TorchScript is compiled and run when the model is used; it can call any registered operator.",
    "Load only with weights_only semantics after conversion (`weightwarden convert`), or review the code/ "
    "records before loading.",
    (CWE_CODE_INJECTION, ATLAS_SUPPLY_CHAIN, ATLAS_USER_EXECUTION),
    anomaly_codes=("torch.torchscript_code",),
)
NESTED = ScanRule(
    "WW-PKL-004",
    Severity.HIGH,
    "Pickle carries a nested pickle payload",
    "A program hands a literal byte string to a pickle loader (pickle.loads, _pickle.loads, ...). The nested "
    "program was walked too and its calls are reported with a location chain; nesting exists to hide the "
    "real payload from scanners that do not recurse.",
    _CONVERT + " Treat the file as malicious.",
    (*LOAD_TIME_CODE, CWE_CODE_INJECTION),
    anomaly_codes=("pickle.nested",),
)
MULTIPLE = ScanRule(
    "WW-PKL-010",
    Severity.MEDIUM,
    "Several pickle programs in one file",
    "The file holds more than one pickle program although its format needs only one. pickle.load reads the "
    "first; custom loading code (or a second load call) runs the others. Every program was scanned.",
    "Ask the publisher why the file holds several programs; prefer a safetensors release.",
    (CWE_DESERIALIZATION, CWE_INTERPRETATION_CONFLICT),
    anomaly_codes=("pickle.multiple_programs",),
)
JOBLIB_DIFFERENTIAL = ScanRule(
    "WW-PKL-011",
    Severity.HIGH,
    "Joblib file reads differently with pickle.load than with joblib.load",
    "Read with plain pickle.load, the array data that joblib.load skips runs further opcodes that import or "
    "call something. The file deliberately shows a benign program to one loader and a different one to the "
    "other; the second reading is scanned as its own pickle program.",
    _CONVERT + " Treat the file as malicious.",
    (CWE_DESERIALIZATION, CWE_INTERPRETATION_CONFLICT, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("joblib.pickle_differential",),
)

LOADER_DIVERGENCE = ScanRule(
    "WW-PKL-012",
    Severity.HIGH,
    "CPython's two unpicklers read this pickle differently",
    "The bytes use pickle framing in a way the C unpickler (pickle.load / pickle.loads) and the pure-Python "
    "one (pickle._Unpickler, used by joblib and by custom unpicklers) handle differently: an opcode across a "
    "frame end, a frame inside a frame, a frame longer than the data, a STOP inside a frame with bytes after it "
    "(a buffered torch.load goes on after STOP, joblib at the frame end), a text number spelled as no pickler "
    "writes it ('I010' is octal to the C unpickler, an error to the pure-Python one). The two run different "
    "programs or build different values from the same file; a file built this way is built to confuse.",
    _CONVERT + " Treat the file as malicious.",
    (CWE_DESERIALIZATION, CWE_INTERPRETATION_CONFLICT),
    anomaly_codes=("pickle.loader_divergence",),
)

LEGACY_UNPLACED = ScanRule(
    "WW-PKL-013",
    Severity.HIGH,
    "Legacy PyTorch tar checkpoint read in a way the scanner cannot follow",
    "torch.load reads the storages and tensors members of a legacy tar checkpoint as a run of pickles with "
    "raw storage data between them. Here a record is not what torch.save writes (a count that is not an int, "
    "a storage class of unknown element size), so where torch unpickles next is not known: bytes it would run "
    "were not scanned.",
    _CONVERT + " Treat the file as malicious.",
    (CWE_DESERIALIZATION, CWE_INTERPRETATION_CONFLICT),
    anomaly_codes=("torch.legacy_unplaced",),
)

ARCHIVE_MODULE = ScanRule(
    "WW-PKL-014",
    Severity.HIGH,
    "Pickle names a module that its archive ships (resolved against the archive, not the installed library)",
    "The pickle sits in a torch.package archive. PackageImporter.load_pickle resolves every global against the "
    "archive's own modules first and executes the shipped source; a name that the allowlist would accept for "
    "the installed library is therefore judged as the shipped code it runs. Critical when the module takes a "
    "standard-library or trusted library name (collections, torch, numpy ...): that exists only to pass as "
    "the real one.",
    "Review the shipped module before loading; treat a shipped module under a trusted name as malicious.",
    (*LOAD_TIME_CODE, CWE_CODE_INJECTION, CWE_INTERPRETATION_CONFLICT),
)

STORE_INDEX = ScanRule(
    "WW-PKL-015",
    Severity.HIGH,
    "Index of a pickled-value store is inconsistent",
    "A dbm.dumb store (shelve's fallback backend: X.dir text index, X.dat values) has an index line that is "
    "not a ('key', (pos, size)) literal, names bytes past the end of X.dat, or names slices that overlap. "
    "shelve unpickles whatever slice the index names; a store whose index the scanner reads differently "
    "from the loader, or that points outside its data, can hide a payload.",
    "Do not open the store with shelve or dbm; rebuild it from trusted data in a safe format.",
    (CWE_DESERIALIZATION, CWE_INTERPRETATION_CONFLICT),
    anomaly_codes=("store.index_out_of_bounds", "store.index_overlap", "store.index_unparsable"),
)
STORE_UNVERIFIED = ScanRule(
    "WW-PKL-016",
    Severity.MEDIUM,
    "Store of pickled values could not be verified",
    "A key-value store whose values a loader unpickles (shelve over gdbm/ndbm/Berkeley DB or dbm.sqlite3, "
    "sqlitedict, diskcache) could not be read in full, or computes its values (an SQLite view or trigger): its "
    "values may be pickle programs that run code when a key is read.",
    "Do not open the store with shelve, sqlitedict or diskcache; export its values to a safe format in a sandbox.",
    (CWE_DESERIALIZATION, ATLAS_SUPPLY_CHAIN),
    anomaly_codes=("store.unverified",),
)
RULES: tuple[ScanRule, ...] = (
    DANGEROUS_CALL, UNKNOWN_CALL, COMPUTED_CALL, NESTED, MALFORMED, LIMIT, TRAILING, STRUCTURE, TORCHSCRIPT,
    MULTIPLE, JOBLIB_DIFFERENTIAL, LOADER_DIVERGENCE, LEGACY_UNPLACED, ARCHIVE_MODULE, STORE_INDEX, STORE_UNVERIFIED,
)


@lru_cache(maxsize=8192)
def _classify(target: str, strict: bool) -> tuple[str, str]:
    # Imported here: picklevm is written in parallel and loads its allowlists on first use.
    from weightwarden.picklevm import Verdict, classify

    result = classify(target, strict=strict)
    verdict = result.verdict
    if verdict == Verdict.DANGEROUS:
        return "dangerous", result.reason
    if verdict == Verdict.SAFE:
        return "safe", result.reason
    return "unknown", result.reason


def check_pickle(code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    if isinstance(code.analysis, PickleAnalysis):
        # Readers that already report parse errors / limits as anomalies get no second finding for them.
        reported = {a.code for a in ctx.entry.anomalies}
        shipped = code.details.get("archive_modules")
        yield from analysis_findings(
            code.analysis, code.location, ctx,
            report_error="pickle.parse_error" not in reported, report_limit="pickle.limit" not in reported,
            report_divergence="pickle.loader_divergence" not in reported,
            archive_modules=tuple(shipped) if isinstance(shipped, (list, tuple)) else (),
        )


def analysis_findings(
    analysis: PickleAnalysis, location: str, ctx: CheckContext, *, report_error: bool = True, report_limit: bool = True,
    report_divergence: bool = True, archive_modules: tuple[str, ...] = (),
) -> Iterator[Finding]:
    """Findings of one program and, with a location chain, of every program nested in it. ``archive_modules``:
    the modules the pickle's archive ships (torch.package), which its globals resolve to before any library."""
    groups: dict[tuple[str, bool], list[CallSite]] = {}
    stored_at = dict(analysis.stored)
    for site in sorted(analysis.globals + analysis.calls, key=lambda s: s.offset):
        computed = site.computed or site.target == "<computed>"
        groups.setdefault((site.target, computed), []).append(site)
    for (target, computed), sites in groups.items():
        first = sites[0]
        where = f"{location} > {first.opcode} @{first.offset}"
        evidence = _evidence(target, sites)
        shipped = _shipped_module(target, archive_modules)
        if shipped is not None:
            # Round 21: PackageImporter._load_module looks the module up in the archive before the system, so
            # the allowlist (which speaks of the installed library) does not apply: this is the shipped code.
            from weightwarden.scan.rules.shipped import shadows

            yield ARCHIVE_MODULE.found_in(
                ctx.file, where,
                f"pickle {_verb(sites)} {target}, which resolves to the module {shipped!r} shipped in the archive"
                + (", under a standard-library or trusted library name" if shadows(shipped) else ""),
                evidence, severity=Severity.CRITICAL if shadows(shipped) else None, offset=first.offset,
            )
            continue
        if computed and target != "<computed>" and _classify(target, ctx.strict)[0] == "dangerous":
            # Resolved statically (a re-export hop, getattr over literals): the object is known and dangerous.
            reason = _classify(target, ctx.strict)[1]
            yield DANGEROUS_CALL.found_in(
                ctx.file, where, f"pickle {_verb(sites)} {target} (reached indirectly): {reason}", evidence,
                offset=first.offset,
            )
            continue
        if computed:
            shown = "a name computed at run time" if target == "<computed>" else f"{target} (name computed at run time)"
            yield COMPUTED_CALL.found_in(
                ctx.file, where, f"pickle {_verb(sites)} {shown}", evidence, offset=first.offset
            )
            continue
        verdict, reason = _classify(target, ctx.strict)
        stored = stored_at.get(target)
        if (
            verdict == "unknown" and not ctx.strict and not analysis.opaque_states and stored is None
            and _only_rebuilt(target, sites)
        ):
            # (A program whose BUILD states are not all known literals may have given an instance its own
            # __setstate__ and called the class through it: red team round 6. No exemption there. Nor where
            # the class itself is stored as a value, in a dict, a state or an argument: library code that
            # calls a method it finds on an instance — Optimizer.__setstate__'s defaults.setdefault(...),
            # deepcopy's __deepcopy__ — calls it with arguments of its own: red team round 7.)
            continue
        if verdict == "unknown" and not ctx.strict and stored is None and _only_positional(target, sites):
            # A NumPy record array class where numpy's own writer puts it (policy.POSITIONAL_ONLY: recarray as
            # _reconstruct's subtype, numpy.record as dtype's spec), never called, never a value (issue 11).
            continue
        if verdict == "unknown" and stored is not None and rebuild_only(target) is not None:
            yield UNKNOWN_CALL.found_in(
                ctx.file, where,
                f"pickle stores the class {target} as a value ({stored}), where library code may call it; it is "
                f"allowed only as the class operand of NEWOBJ: {reason}",
                evidence + f"; stored as a value at {stored}", offset=first.offset,
            )
            continue
        if verdict == "safe" and stored is not None and is_table_class(target):
            # A library class (the generated table's, reviewed only for what rebuilding it runs) left in data:
            # library code that calls what it finds there (x.setdefault(...), deepcopy's __deepcopy__, iteration)
            # reaches the class and its class-level methods with arguments of its own. Only the hand-reviewed
            # types (builtins, numpy, torch's tensor types) are accepted as values; the table's classes only as
            # the class operand of NEWOBJ or of a reconstructor that rebuilds them (red team round 7).
            yield UNKNOWN_CALL.found_in(
                ctx.file, where,
                f"pickle stores the library class {target} as a value ({stored}), where library code may call it; "
                "table classes are accepted only as the class operand of NEWOBJ or of a reconstructor",
                evidence + f"; stored as a value at {stored}", offset=first.offset,
            )
            continue
        called = [s for s in sites if s.kind == "call"]
        if verdict == "safe" and called and value_only(target) is not None:
            # Allowed as a value an estimator keeps (score_func=f_classif), not as something the load runs: its
            # arguments reach threads, output buffers, memory (red team round 8; policy.VALUE_ONLY).
            first_call = called[0]
            yield UNKNOWN_CALL.found_in(
                ctx.file, f"{location} > {first_call.opcode} @{first_call.offset}",
                f"pickle calls {target}, which is allowed only as a stored value: {value_only(target)}",
                _evidence(target, called), offset=first_call.offset,
            )
            continue
        if verdict == "dangerous":
            yield DANGEROUS_CALL.found_in(
                ctx.file, where, f"pickle {_verb(sites)} {target}: {reason}", evidence, offset=first.offset
            )
        elif verdict == "unknown":
            yield UNKNOWN_CALL.found_in(
                ctx.file, where, f"pickle {_verb(sites)} {target}, which is not on the allowlist: {reason}",
                evidence, offset=first.offset,
            )
    for misuse in analysis.misuses:
        # An allowlisted helper that calls its arguments got one outside what it is reviewed for (red team
        # round 8: numpy.random's __bit_generator_ctor(cls) runs cls()), or a BUILD state that plants a NumPy
        # instance-protocol attribute (__array_interface__: an array over any address).
        yield UNKNOWN_CALL.found_in(
            ctx.file, f"{location} > {misuse.opcode} @{misuse.offset}",
            f"pickle {_verb([misuse])} {misuse.target} "
            + (f"with an argument it is not reviewed for: {misuse.args}" if misuse.kind == "call" else f"and {misuse.args}"),
            f"{misuse.opcode} {misuse.target} at offset {misuse.offset}", offset=misuse.offset,
        )
    for index, inner in enumerate(analysis.nested):
        yield from analysis_findings(
            inner, f"{location} > nested pickle #{index} @{inner.start}", ctx,
            report_error=report_error, report_limit=report_limit, report_divergence=report_divergence,
            archive_modules=archive_modules,
        )
    if analysis.divergences and report_divergence:
        # Readers that do not turn divergences into anomalies (zip members, .npy object data) still get the
        # finding: a text INT spelled '010' in a torch zip's data.pkl is octal to torch.load (round 12).
        yield LOADER_DIVERGENCE.found_in(
            ctx.file, f"{location} @{analysis.start}",
            "CPython's C unpickler and its pure-Python unpickler would read these bytes differently",
            "; ".join(analysis.divergences[:3]),
        )
    if analysis.error and report_error:
        yield MALFORMED.found_in(
            ctx.file, f"{location} @{analysis.end if analysis.end is not None else analysis.start}",
            f"pickle walk stopped: {analysis.error}",
            f"{analysis.opcodes} opcodes read from offset {analysis.start}",
        )
    if analysis.limit_hit and report_limit:
        yield LIMIT.found_in(
            ctx.file, f"{location} @{analysis.start}", f"pickle analysis stopped at a limit: {analysis.limit_hit}",
            f"{analysis.opcodes} opcodes read from offset {analysis.start}",
        )


def _shipped_module(target: str, modules: tuple[str, ...]) -> str | None:
    """The shipped module a dotted target resolves to (its module or a parent package of it is shipped; the
    parent's ``__init__`` runs first), or None. The longest match names the file that answers for the name."""
    hits = [m for m in modules if target == m or target.startswith(m + ".")]
    return max(hits, key=len) if hits else None


_REBUILD_OPCODES = frozenset({"NEWOBJ", "NEWOBJ_EX"})


def _only_positional(target: str, sites: list[CallSite]) -> bool:
    """Every site of a NumPy record class is a use numpy's writer makes (policy.POSITIONAL_ONLY): a literal
    import; for recarray also the subtype operand of numpy's _reconstruct and the BUILD of its result
    (ndarray.__setstate__). Any direct call (REDUCE, NEWOBJ, INST/OBJ, another helper) is not."""
    where = positional_only(target)
    if where is None:
        return False
    allowed = {f"{how} {r}" for r in RECONSTRUCTORS for how in ("called by", "via")}
    for site in sites:
        if site.computed:
            return False
        if site.kind == "import":
            continue
        if where == "reconstruct" and site.kind == "call" and site.opcode == "REDUCE" and site.args in allowed:
            continue
        if where == "reconstruct" and site.kind == "build":
            continue
        return False
    return True


def _only_rebuilt(target: str, sites: list[CallSite]) -> bool:
    """A class allowed only when rebuilt (``policy.REBUILD_ONLY``, e.g. ``TrainingArguments``): every site is a
    literal import, a NEWOBJ/NEWOBJ_EX (``cls.__new__``, no constructor) or a BUILD. Any other call (REDUCE,
    INST/OBJ, an allowlisted callable that calls it) runs its side-effecting constructor and stays a finding."""
    if rebuild_only(target) is None:
        return False
    for site in sites:
        if site.computed:
            return False
        if site.kind == "call" and (site.opcode not in _REBUILD_OPCODES or site.args.startswith(("called by", "via "))):
            return False
    return True


def _verb(sites: list[CallSite]) -> str:
    kinds = {s.kind for s in sites}
    if "call" in kinds:
        return "calls"
    if "build" in kinds:
        return "builds an object of"
    return "imports"


def _evidence(target: str, sites: list[CallSite]) -> str:
    first = sites[0]
    text = f"{first.opcode} {target} at offset {first.offset}"
    if len(sites) > 1:
        text += f"; {len(sites)} occurrences (first at offset {first.offset}, last at {sites[-1].offset})"
    args = next((s.args for s in sites if s.args), "")
    if args:
        text += f"; args: {args}"
    return text


CHECKS = {CodeKind.PICKLE: check_pickle}
