"""The scan engine: read files or folders with the artifact layer, apply the rule catalogue, gather a report.

Usage::

    from weightwarden.scan import scan_paths
    report = scan_paths(["models/llama"], strict=False)
    for finding in report.findings:
        print(finding.severity, finding.rule_id, finding.file, finding.location, finding.message)

Each target is discovered (links are never followed; escaping links become findings), then every file is
read by its format reader and judged by the rules, archive members included. Files are spread over a
process pool when there are enough of them to pay for the pool; otherwise they are read in-process.
Anything that could not be read becomes a :class:`~weightwarden.scan.results.ScanError` naming the file:
nothing is skipped silently. Output is deterministic: findings are sorted by file, location and rule.
"""

from __future__ import annotations

import os
import posixpath
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from weightwarden.artifact.loader import DiscoveredFile, discover, is_model_name, read_file, siblings_in_scan
from weightwarden.artifact.model import Artifact, FileEntry
from weightwarden.artifact.siblings import found_loader_path
from weightwarden.artifact.sniff import routing_key, sniff_by_loader_name
from weightwarden.core.findings import Finding
from weightwarden.core.limits import DEFAULT_LIMITS, Limits
from weightwarden.scan.results import ScanError, ScanReport
from weightwarden.scan.rules import anomaly_finding, evaluate_entry
from weightwarden.scan.rules.shipped import tree_findings
from weightwarden.scan.suppressions import SuppressionConfig

# A process pool costs ~0.1-0.3 s to start and pickles every result back; below these sizes the scan is
# faster in-process. Cost is per file (headers, pickle programs), so file count matters more than bytes.
POOL_MIN_FILES = 24
POOL_MIN_BYTES = 512 * 1024 * 1024
POOL_MIN_FILES_FOR_BYTES = 4

Progress = Callable[[int, int, str], None]
"""``progress(done, total, path)``: called after each file is scanned (``total`` known from discovery)."""


@dataclass(slots=True)
class FileResult:
    """What scanning one discovered file produced (picklable, so workers can send it back)."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)
    formats: Counter[str] = field(default_factory=Counter)
    # For the folder-level "could not be verified" check: is this a model file, was it unreadable (its
    # absolute path), and which files does it tell a loader to read (ONNX external data, absolute paths).
    model_file: bool = False
    unknown: str | None = None
    claims: list[str] = field(default_factory=list)
    # The reader found a Keras model config in the file (the Orbax check: was a step's model_config read?).
    keras_config: bool = False
    # Its ``config`` entry (what Keras loads from an Orbax step's model_config/_strings.json) is a Keras config.
    keras_config_entry: bool = False


# Formats of model weights: a folder holding one is a model folder. (NumPy arrays and plain HDF5 are also
# ordinary data files; a data folder with one .npy is not a model folder.)
MODEL_FORMATS = frozenset(
    {"safetensors", "pytorch-zip", "pytorch-legacy", "pickle", "joblib", "keras-h5", "keras-zip",
     "tf-savedmodel", "onnx", "gguf"}
)


def scan_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    strict: bool = False,
    workers: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    suppressions: SuppressionConfig | None = None,
) -> ScanReport:
    """Scan files and folders; never raises for bad input (it becomes findings or errors).

    ``strict`` narrows the pickle allowlist to tensor rebuilders. ``workers`` caps the process pool
    (default: the CPU count; 1 scans in-process). ``progress`` is called after each file.
    ``suppressions`` marks the findings a configuration accepts (they stay in the report).
    """
    started = time.perf_counter()
    targets = [os.fspath(p) for p in paths]
    report = ScanReport(targets=targets, strict=strict)
    jobs: list[tuple[DiscoveredFile, str]] = []
    for target in targets:
        # A link named on the command line is what the user asked for: scan what it points to, under the
        # name given. Links found *inside* a folder are never followed (discover reports them).
        root = os.path.realpath(target) if os.path.islink(target) else target
        artifact = Artifact(root=root)
        found = discover(artifact, limits)
        prefix = _display_prefix(target)
        for path, reason in artifact.errors:
            report.errors.append(ScanError(_join(prefix, path, target), reason))
        if not found and not artifact.errors and not artifact.anomalies and os.path.isdir(root):
            report.errors.append(ScanError(target.replace(os.sep, "/"), "empty folder: there is nothing to scan"))
        elif os.path.isfile(root) and _size(root) == 0 and not is_model_name(target):
            report.errors.append(ScanError(target.replace(os.sep, "/"), "empty file (0 bytes): there is nothing to scan"))
        for anomaly in artifact.anomalies:
            report.findings.append(anomaly_finding(anomaly, _join(prefix, anomaly.location, target)))
        # Round 21: code files (Python, bytecode, native modules) are judged by where they sit in the folder
        # (next to hubconf.py, in a torch.package folder, ...): from the discovered names, nothing executed.
        report.findings.extend(tree_findings(
            [item.display for item in found],
            lambda d, prefix=prefix, target=target, root=root: (
                target.replace(os.sep, "/") if root != target and os.path.isfile(root) else _join(prefix, d, target)
            ),
        ))
        if root != target and os.path.isfile(root):
            # The first is the link under its own name; a second, the target under its name, is shown as such.
            for i, item in enumerate(_link_names(target, root, found)):
                jobs.append((item, (target if i == 0 else root).replace(os.sep, "/")))
        else:
            jobs.extend((item, _join(prefix, item.display, target)) for item in found)

    results = _run(jobs, strict, workers, limits, progress)
    formats: Counter[str] = Counter()
    for result in results:
        report.findings.extend(result.findings)
        report.errors.extend(result.errors)
        formats.update(result.formats)
    report.findings.extend(_unverified_in_model_folders(jobs, results))
    report.findings.extend(_orbax_configs_unread(jobs, results, targets))
    report.findings = _dedupe_sorted(report.findings)
    if suppressions is not None:
        report.findings = suppressions.apply(report.findings)
    report.errors = sorted(set(report.errors), key=lambda e: (_natural(e.file), e.reason))
    report.files_scanned = len(jobs)
    report.formats = dict(sorted(formats.items()))
    report.duration_s = time.perf_counter() - started
    return report


def scan_file(found: DiscoveredFile, file: str, strict: bool, limits: Limits,
              siblings_scanned: bool = False) -> FileResult:
    """Read one file and judge it and every archive member inside it. Never raises. ``siblings_scanned``: the
    files its loader reads beside it are jobs of this scan (``loader.siblings_in_scan``)."""
    result = FileResult()
    try:
        entry = read_file(found, limits, siblings_scanned=siblings_scanned)
        _judge(entry, file, found.display, strict, result)
        result.model_file = entry.format.value in MODEL_FORMATS
        result.keras_config = bool(entry.metadata.get("keras_config"))
        result.keras_config_entry = bool(entry.metadata.get("keras_config_entry"))
        # A key-value store read by :mod:`weightwarden.artifact.stores` (SQLite, dbm.dumb) was verified, or flagged
        # medium where it could not be: not "content no reader accepts" (a benign diskcache was WW-FS-005, rd23).
        if entry.format.value == "unknown" and not is_model_name(found.display) and "store" not in entry.metadata:
            result.unknown = os.path.realpath(found.path)
        for item in entry.walk():
            for code in item.code:
                resolved = code.details.get("resolved") if code.kind.value == "external-ref" else None
                if isinstance(resolved, str):
                    # Round 34: a claim is made by the name a loader opens (a link's name), a job is its target.
                    result.claims.append(os.path.realpath(resolved))
    except Exception as exc:  # noqa: BLE001 - a rule or reader bug must not hide the other files
        result.errors.append(ScanError(file, f"internal error while scanning: {_describe(exc)}"))
    return result


def _judge(entry: FileEntry, file: str, display: str, strict: bool, result: FileResult) -> None:
    for item in entry.walk():
        # Members are shown as outer.zip!inner/member: keep the user's path for the outer file.
        shown = file + item.path[len(display):] if item.path.startswith(display) else f"{file}!{item.path}"
        result.formats[item.format.value] += 1
        if item.error:
            result.errors.append(ScanError(shown, item.error))
        try:
            result.findings.extend(evaluate_entry(item, shown, strict=strict))
        except Exception as exc:  # noqa: BLE001 - keep going with the other entries; name what failed
            result.errors.append(ScanError(shown, f"internal error while applying rules: {_describe(exc)}"))


def _run(
    jobs: list[tuple[DiscoveredFile, str]],
    strict: bool,
    workers: int | None,
    limits: Limits,
    progress: Progress | None,
) -> list[FileResult]:
    total = len(jobs)
    results: list[FileResult | None] = [None] * total
    # Red team round 33: a file whose loader-read siblings are jobs of this scan leaves them to their own reading
    # (a SavedModel and its keras_metadata.pb: read once, and read even when only the metadata file is scanned).
    in_scan = siblings_in_scan([found for found, _ in jobs])
    scanned = [found_loader_path(found) in in_scan for found, _ in jobs]
    if _use_pool(jobs, workers):
        # concurrent.futures.process imports multiprocessing (~10 ms): only when a pool is used.
        from concurrent.futures.process import BrokenProcessPool

        from weightwarden.scan import pool

        count = min(workers or os.cpu_count() or 1, len(jobs))
        try:
            pool.run(jobs, scanned, strict, limits, count, results, progress,
                     [index for index in range(total) if _looks_hdf5(jobs[index][0].path)],
                     lambda index: scan_file(jobs[index][0], jobs[index][1], strict, limits, scanned[index]))
        except BrokenProcessPool:
            # A worker died (a native reader crashed on hostile input): retry the unfinished files one per
            # process, so the culprit is named as an error and the others are still scanned.
            _isolate(jobs, strict, limits, results, scanned)
        except Exception:  # noqa: BLE001, S110 - no pool here (sandbox, no /dev/shm): scan in-process below
            pass
    done = sum(r is not None for r in results)
    left = [index for index in range(total) if results[index] is None]
    hdf5 = [index for index in left if _looks_hdf5(jobs[index][0].path)]
    if hdf5:
        # HDF5 files are read by a helper process whose start-up (Python, h5py) takes ~0.3 s: start it now
        # and read those files last, so that it starts while the other files are read. (In this process
        # only: a forked pool worker must not inherit a started helper.) Results keep their places, so the
        # report does not depend on this order.
        from weightwarden.artifact.readers.keras_h5 import prestart_worker

        prestart_worker()
        later = set(hdf5)
        left = [index for index in left if index not in later] + hdf5
    for index in left:
        found, file = jobs[index]
        results[index] = scan_file(found, file, strict, limits, scanned[index])
        done += 1
        if progress:
            progress(done, total, file)
    return [r for r in results if r is not None]


def _isolate(
    jobs: list[tuple[DiscoveredFile, str]], strict: bool, limits: Limits, results: list[FileResult | None],
    scanned: list[bool],
) -> None:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from weightwarden.scan.pool import fork_context

    for index, (found, file) in enumerate(jobs):
        if results[index] is not None:
            continue
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=fork_context(), initializer=_worker_init) as pool:
                results[index] = pool.submit(scan_file, found, file, strict, limits, scanned[index]).result()
        except BrokenProcessPool:
            reason = "the scanning process died while reading this file (crash in a native reader); not scanned"
            results[index] = FileResult(errors=[ScanError(file, reason)])
        except Exception:  # noqa: BLE001 - left to the in-process pass
            return


def _unverified_in_model_folders(jobs: list[tuple[DiscoveredFile, str]], results: list[FileResult]) -> list[Finding]:
    """A file no reader accepts, in a folder that holds model files and not named by any of them as data
    to read (ONNX external data), could not be verified: at least medium (``WW-FS-005``)."""
    from weightwarden.scan.rules.filesystem import UNVERIFIED_MODEL

    model_dirs = {
        os.path.dirname(os.path.abspath(found.path)) for (found, _), r in zip(jobs, results, strict=False) if r.model_file
    }
    claimed = {path for r in results for path in r.claims}
    out = []
    for (_found, file), result in zip(jobs, results, strict=False):
        if result.unknown is None or result.unknown in claimed:
            continue
        folder = os.path.dirname(result.unknown)
        if any(folder == d or folder.startswith(d + os.sep) or d.startswith(folder + os.sep) for d in model_dirs):
            out.append(UNVERIFIED_MODEL.found_in(
                file, file, "a file in a model folder whose content no reader accepts: it could not be verified",
                "content of no known format, next to model files, not referenced as tensor data",
            ))
    return out


def _orbax_configs_unread(jobs: list[tuple[DiscoveredFile, str]], results: list[FileResult],
                          targets: list[str]) -> list[Finding]:
    """Red team round 25: each Orbax step's ``model_config`` folder (what keras.saving.load_model builds the model
    from) must have given the JSON reader a Keras config; one that did not was not analysed (``WW-KERAS-012``)."""
    from weightwarden.artifact.model import Anomaly
    from weightwarden.artifact.orbax import (
        MODEL_CONFIG,
        is_orbax_step,
        model_config_file,
        model_config_folders,
    )

    # Round 34: by the names Keras opens (a link's own name, not its target's folder: a hub-cache step's
    # model_config/_strings.json is a link into blobs/, so the target's folder is no model_config folder).
    files = [(found_loader_path(found), found.display) for found, _ in jobs]
    folders = model_config_folders(files)
    shown: dict[str, str] = {}
    for found, file in jobs:  # the display of each folder under the user's path for the scanned root
        lead = file[: len(file) - len(found.display)] if file.endswith(found.display) else ""
        for folder, display in folders.items():
            if found_loader_path(found).startswith(folder + os.sep):
                shown.setdefault(folder, lead + display)
    for target in targets:  # a model_config folder given as the target itself
        real = os.path.abspath(os.path.realpath(target))
        if os.path.basename(real) == MODEL_CONFIG and os.path.isdir(real) and is_orbax_step(os.path.dirname(real)):
            shown.setdefault(real, target.replace(os.sep, "/"))
    # Round 26: only the value Keras loads counts, the ``config`` entry of the step's model_config/_strings.json
    # (saving_api._load_model_from_orbax_checkpoint: config_loaded["model_config"]["config"]). A Keras config in
    # another key or another file of the folder is never loaded, so it must not stand in for an unreadable one.
    read = {found_loader_path(found) for (found, _), r in zip(jobs, results, strict=False)
            if r.keras_config and r.keras_config_entry}
    # Round 27: which file that is depends on the handler the step's _CHECKPOINT_METADATA names for model_config
    # (Orbax's JSON handler reads data.json, else metadata); an unmodelled handler fails closed.
    out = []
    for folder, where in sorted(shown.items()):
        path, problem = model_config_file(folder)
        if path is not None and path in read:
            continue
        shown_file = os.path.basename(path) if path is not None else "?"
        evidence = (problem if problem is not None else
                    f"the 'config' entry of {shown_file} in this model_config folder (the file its Orbax handler "
                    "reads) is missing or not a Keras config the scanner read (a config in another key or file is "
                    "not what Keras loads)")
        out.append(anomaly_finding(Anomaly(
            "keras.orbax_config_unread", where,
            "Orbax checkpoint step whose model_config (what keras.saving.load_model builds the model from) holds no "
            "Keras config the scanner could read: its layers were not checked", evidence[:400]), where))
    return out


def _worker_init() -> None:
    # Ctrl-C is handled by the parent; workers must not print KeyboardInterrupt tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# Without an explicit --workers, the pool needs this many CPUs. The forked pool (scan/pool.py: readers imported once
# in the parent, chunks, HDF5 files kept by the parent) halves the CPU critical path of the test corpus on 2 cores
# (2.25 s serial -> 1.16 s: parent 0.23 s + busiest worker 0.93 s, benchmarks §66), but on this project's shared
# 2-core machine at loads of 4-8 it showed no wall-time win over the in-process scan (and ~5 % more CPU), so 2 CPUs
# stay in-process by default, as the speed7 rule asks (keep only what wins at the median); `--workers 2` uses it.
POOL_MIN_CPUS = 4


def _use_pool(jobs: list[tuple[DiscoveredFile, str]], workers: int | None) -> bool:
    if workers is not None and workers <= 1:
        return False
    if (workers or os.cpu_count() or 1) <= 1:
        return False
    if workers is None and (os.cpu_count() or 1) < POOL_MIN_CPUS:
        return False
    if len(jobs) >= POOL_MIN_FILES:
        return True
    if len(jobs) < POOL_MIN_FILES_FOR_BYTES:
        return False
    return sum(_size(found.path) for found, _ in jobs) >= POOL_MIN_BYTES


# Names of files read through the HDF5 helper process (Keras v3 archives hold a .weights.h5 member): a
# hint only, to start that process early; every file is still read by whatever format its bytes show.
_HDF5_SUFFIXES = (".h5", ".hdf5", ".he5", ".hdf", ".keras")


def _looks_hdf5(path: str) -> bool:
    return path.lower().endswith(_HDF5_SUFFIXES)


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _link_names(target: str, real: str, found: list[DiscoveredFile]) -> list[DiscoveredFile]:
    """A file link named on the command line, read the way its loader reads it (red team round 22): under the
    name given (``<model>/chat_template.jinja`` -> ``docs/notes.txt`` is a chat template to transformers, which
    opens the link by name), and under its target's name too when the two names route to different readers
    (``sniff.routing_key``, as the folder walk decides): a host given the target's path reads it that way."""
    if len(found) != 1 or found[0].path != real:
        return found
    given = os.path.basename(os.path.normpath(target))
    as_given = DiscoveredFile(real, given, os.path.dirname(os.path.abspath(target)))
    own = found[0].display
    if routing_key(given) == routing_key(own) or not _name_routes(own):
        return [as_given]
    return [as_given, found[0]]


def _name_routes(name: str) -> bool:
    """Whether a base name can route a reader by itself: every name decision keys on an extension or on a
    loader's exact file name (all of which have one). An extensionless name (a hub cache blob's hash, the usual
    target of a link given on the command line) is read by content, as the read under the given name already
    is, so it is not read a second time."""
    return "." in name.lstrip(".") or sniff_by_loader_name(name) is not None


def _display_prefix(target: str) -> str:
    """What to put before a display path so findings name files the way the user gave them."""
    norm = target.replace(os.sep, "/")
    if os.path.isdir(target):
        return norm.rstrip("/") or "/"
    return posixpath.dirname(norm)


def _join(prefix: str, display: str, target: str) -> str:
    if display in ("", ".") or display == target:
        return target.replace(os.sep, "/")
    if prefix in ("", "."):
        return display
    return posixpath.join(prefix, display)


def _dedupe_sorted(findings: list[Finding]) -> list[Finding]:
    unique = {
        (f.rule_id, f.file, f.location.path, f.message, f.evidence_text, f.severity.value): f for f in findings
    }.values()
    return sorted(
        unique,
        key=lambda f: (_natural(f.file), _natural(f.location.path), f.rule_id, f.message, f.evidence_text),
    )


_DIGITS = re.compile(r"(\d+)")


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders 'x @9' before 'x @10'."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in _DIGITS.split(text) if p)


def _describe(exc: BaseException) -> str:
    text = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    return text if len(text) <= 300 else text[:297] + "..."
