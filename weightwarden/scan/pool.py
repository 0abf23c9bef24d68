"""Spread a scan's files over worker processes: forked from a parent that has already imported the readers.

Usage (from :mod:`weightwarden.scan.engine`)::

    from weightwarden.scan import pool
    pool.run(jobs, scanned, strict, limits, count, results, progress, local=hdf5_indices, scan_local=...)

Why this shape (docs/benchmarks.md, "Scan speed, ninth pass"): a worker that imports the readers, Jinja,
py7zr, ONNX's schema ... itself repeats ~0.1-0.3 s of start-up per worker, which cancelled the gain of a
second core. With the ``fork`` start method (Linux) the parent imports them once (:func:`preload`) and each
worker starts as a copy that already has them. Files go out in chunks (several files per task, the costly
ones first) that idle workers pull one by one, so the load stays balanced without one task per file.
HDF5 files are read by the parent itself while the workers run: the HDF5 helper process (~0.2 s of Python +
h5py start-up) is started once, by the parent, after the workers were forked (a forked child must not
share a started helper, see ``keras_h5``).

Nothing here reads or runs model content: the workers run :func:`weightwarden.scan.engine.scan_file`, the same
static reading as the in-process path. Results keep their job's place, so the report does not depend on which
worker read what. A worker that dies (a native reader crashing on hostile input) breaks the pool; the engine
then retries the unfinished files one per process (``engine._isolate``), naming the culprit as an error.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weightwarden.artifact.loader import DiscoveredFile
    from weightwarden.core.limits import Limits
    from weightwarden.scan.engine import FileResult, Progress

# Chunks per worker: enough that the last ones are small (the tail of the run stays balanced), few enough that
# the per-task cost (a round trip through the executor's queues, under 1 ms) stays negligible. The last
# chunk of the costliest-first order is 1/(16 x workers) of the estimated work, so the tail is short.
CHUNKS_PER_WORKER = 16
# Estimated cost of a file, in "bytes of text" units: every file pays a fixed cost (opening, sniffing,
# rules); a text a template analysis may read (JSON, Jinja, Markdown, plain text) costs by its size
# (measured on the test corpus: a tokenizer_config.json costs ~5 us per byte, a binary file ~nothing per byte).
_FIXED_COST = 2_000
_TEXT_SUFFIXES = (".json", ".jinja", ".j2", ".md", ".txt", ".rst", ".html", ".htm", ".yaml", ".yml", ".py")


def fork_context() -> Any | None:
    """The ``fork`` multiprocessing context on Linux when this process runs no other thread (a fork copies only
    the calling thread: a lock another thread holds would stay held in the child; Python 3.12 warns), else None
    (the platform's default start method; macOS's system libraries are not fork-safe, its default is spawn)."""
    import multiprocessing
    import threading

    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return None
    return multiprocessing.get_context("fork")


def preload() -> None:
    """Import, in the parent, what reading almost any model folder imports, so that forked workers inherit it:
    every reader module (each a few ms), Jinja with its analysis environment and markdown-it (every
    tokenizer_config.json, README and chat template). ~0.1 s, paid once instead of once per worker.

    Not the optional readers' packages that few files need (py7zr ~45 ms, ONNX's schema ~20 ms, gguf's tables,
    lz4, brotli): time spent here delays every worker, while a worker that meets such a file imports it itself,
    in parallel with the others (measured: preloading them moved ~0.05 s onto the critical path). Failures are
    ignored (the reader reports a missing package on the file).
    """
    # Static imports, not importlib over a list: the product's AST test forbids run-time imports of computed names
    # (tests/test_never_executes.py); tests/test_scan_speed9.py checks that this list holds every reader module.
    with suppress(Exception):
        from weightwarden.artifact.readers import (  # noqa: F401
            _archive,
            _protostream,
            _template_bound,
            _tf_text,
            _zipdirs,
            compressed,
            gguf_file,
            hf_config,
            keras_config,
            keras_h5,
            keras_loaders,
            numpy_file,
            onnx_file,
            pickle_file,
            pytorch_legacy,
            safetensors,
            savedmodel,
            sevenzip_reader,
            tar_reader,
            zipfile_reader,
        )
    with suppress(Exception):
        import jinja2.defaults  # noqa: F401
        import jinja2.ext  # noqa: F401
        import jinja2.lexer  # noqa: F401
        import jinja2.parser  # noqa: F401
        import jinja2.sandbox  # noqa: F401
        import markdown_it  # noqa: F401

        import weightwarden.artifact.orbax  # noqa: F401
        import weightwarden.artifact.stores  # noqa: F401
        import weightwarden.artifact.template_lexer  # noqa: F401
    with suppress(Exception):
        from weightwarden.artifact.jinja_parsing import analysis_environment

        analysis_environment().lexer  # noqa: B018 - Jinja compiles its lexer's rules on first use: once, here


def estimated_cost(path: str, size: int) -> int:
    """A rough cost of scanning one file (see ``_FIXED_COST``), only used to order and group the work."""
    name = path.lower()
    if name.endswith(_TEXT_SUFFIXES) or "." not in os.path.basename(name):
        return _FIXED_COST + min(size, 64 * 1024 * 1024)
    return _FIXED_COST + min(size // 4096, 1024 * 1024)


def chunks(costs: Sequence[int], count: int) -> list[list[int]]:
    """Job indices grouped into about ``count * CHUNKS_PER_WORKER`` chunks of similar cost, costliest first
    (a costly file alone or nearly; the cheap files bundled at the tail). Every index appears exactly once."""
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    target = max(1, sum(costs) // max(1, count * CHUNKS_PER_WORKER))
    out: list[list[int]] = []
    current: list[int] = []
    weight = 0
    for index in order:
        current.append(index)
        weight += costs[index]
        if weight >= target:
            out.append(current)
            current, weight = [], 0
    if current:
        out.append(current)
    return out


def _scan_chunk(chunk: list[tuple[int, DiscoveredFile, str, bool]], strict: bool,
                limits: Limits) -> list[tuple[int, FileResult]]:
    """Run in a worker: scan the chunk's files (the engine's own ``scan_file``, looked up at call time)."""
    from weightwarden.scan import engine

    return [(index, engine.scan_file(found, file, strict, limits, scanned)) for index, found, file, scanned in chunk]


def _worker_init() -> None:
    # Ctrl-C is handled by the parent; workers must not print KeyboardInterrupt tracebacks.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run(
    jobs: Sequence[tuple[DiscoveredFile, str]],
    scanned: Sequence[bool],
    strict: bool,
    limits: Limits,
    count: int,
    results: list[FileResult | None],
    progress: Progress | None,
    hdf5: Sequence[int],
    scan_here: Callable[[int], FileResult],
) -> None:
    """Scan every job not in ``hdf5`` in ``count`` worker processes and the ``hdf5`` ones here (``scan_here``),
    meanwhile, through the HDF5 helper started once the workers exist; fill ``results`` in place. Raises ``BrokenProcessPool`` when a worker dies (the results already back
    are kept), or whatever stopped the pool from starting (the engine scans the rest in-process then)."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    keep = set(hdf5)
    remote = [i for i in range(len(jobs)) if i not in keep]
    sizes = [_size(jobs[i][0].path) for i in remote]
    costs = [estimated_cost(jobs[i][0].path, size) for i, size in zip(remote, sizes, strict=True)]
    groups = [[remote[k] for k in group] for group in chunks(costs, count)] if remote else []
    total = len(jobs)
    done = sum(r is not None for r in results)
    context = fork_context()
    if context is not None:
        preload()
    # Objects the parent holds now are never garbage for the children: frozen, a child's collections do not walk
    # (and copy, page by page) them. Undone in the parent once the workers exist.
    frozen = context is not None and hasattr(gc, "freeze")
    if frozen:
        gc.freeze()
    try:
        executor = ProcessPoolExecutor(max_workers=max(1, min(count, len(groups))), mp_context=context,
                                       initializer=_worker_init)
        pending = set()
        try:
            for group in groups:  # with fork, the first submit forks every worker
                chunk = [(i, jobs[i][0], jobs[i][1], scanned[i]) for i in group]
                pending.add(executor.submit(_scan_chunk, chunk, strict, limits))
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise
    finally:
        if frozen:  # the workers exist: the parent's heap can be collected again
            gc.unfreeze()
    with executor:
        if hdf5:
            from weightwarden.artifact.readers.keras_h5 import prestart_worker

            prestart_worker()
        for index in hdf5:  # read here while the workers run
            if results[index] is None:
                results[index] = scan_here(index)
                done += 1
                if progress:
                    progress(done, total, jobs[index][1])
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                for index, result in future.result():
                    results[index] = result
                    done += 1
                    if progress:
                        progress(done, total, jobs[index][1])


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
