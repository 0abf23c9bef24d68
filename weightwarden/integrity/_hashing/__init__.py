"""The hashing engine: digests of byte ranges of files, on all cores, in bounded memory.

A :class:`Job` is one byte range of one file (a whole file for the ``files`` method, one shard for
``shards``), optionally with tensor ranges inside it that get their own digest in the same read pass.
:func:`run_jobs` hashes jobs on threads: ``hashlib`` and ``blake3`` release the GIL on large updates, and
so do reads, so threads scale with cores. Ranges of 1 MiB and more are hashed straight from a memory map of
one window at a time (no copy: ~10% faster than ``readinto`` for SHA-256 here); smaller ones are read into
one reused buffer per worker. Either way memory is ``workers × chunk`` (capped at :data:`MEMORY_BUDGET`)
whatever the model size. BLAKE3 uses its own multithreaded update on big chunks, so one huge file still
uses every core. While a window is hashed the kernel is asked to read the next one (``posix_fadvise``
``WILLNEED``), so on a cold cache the disk and the hash work at the same time; tensor hashers are fed from
the same window in cache-sized slices, right after the file hasher.

Small whole files (under 1 MiB, no tensor ranges: most of a folder of configs, tokenizers, small shards)
take a short path, because there the cost is per file, not per byte: they are handed to the workers in
batches (one hand-off per batch, not per file); a batch is opened and read ahead as a whole (a cold cache
fetches its files concurrently), then each file is read with a single ``read`` of one byte more than its
listed size (so a file that grew or shrank since the listing is caught without an ``fstat``), hashed and
closed. The workers are plain threads pulling tasks from a shared list, with the calling thread as one of
them (no executor to import or feed).

Private to :mod:`weightwarden.integrity`; the public entry point is
:func:`weightwarden.integrity.hashing.digest_model`.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weightwarden.integrity._hashing.sha256_state import STATE_KIND, Sha256State
from weightwarden.integrity.manifest import ManifestError

MIB = 1 << 20
# Total bytes of read buffers in flight across all workers: keeps peak memory far below 256 MB.
MEMORY_BUDGET = 128 * MIB
MAX_CHUNK = 16 * MIB
MIN_CHUNK = 1 * MIB
# Below this, BLAKE3's thread pool costs more than it gains.
BLAKE3_THREADED_MIN = 4 * MIB
# Ranges at least this big are hashed from memory maps (no copy); smaller ones are read.
MMAP_MIN = 1 * MIB
# Chunks are fed to the file hasher and the tensor hashers in slices of this size (cache-sized).
FEED_SLICE = 1 * MIB
# Ask the kernel to read ahead (posix_fadvise WILLNEED) what is about to be hashed: cold caches overlap
# disk reads with hashing; a cached file costs one cheap system call.
READ_AHEAD = hasattr(os, "posix_fadvise")
# Whole files below this size take the one-read path, in batches of up to SMALL_BATCH_FILES files or
# SMALL_BATCH_BYTES bytes: big enough that the hand-off is amortised, small enough to balance the workers.
SMALL_MAX = MMAP_MIN
SMALL_BATCH_FILES = 64
SMALL_BATCH_BYTES = 4 * MIB
# A batch's files are open at once (to be read ahead): all workers together keep at most this many open,
# far below the usual limit of 1024 descriptors per process, whatever the core count.
OPEN_FILES_BUDGET = 256
# O_NOFOLLOW: job paths are never links (allowed links were resolved when listing), so a link here was
# swapped in after the listing and must not be followed. O_NONBLOCK: a FIFO swapped in must not hang the
# open (it has no effect on regular files).
OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
              | getattr(os, "O_BINARY", 0))

Progress = Callable[[int, int], Any]


def new_hasher(hash_type: str, *, threaded: bool = False) -> Any:
    """A fresh hash object for ``hash_type`` (``sha256``, ``blake2b`` with 64-byte digests, ``blake3``)."""
    factory = _factory(hash_type)
    if threaded and hash_type == "blake3":
        return factory(max_threads=factory.AUTO)
    return factory()


@dataclass(frozen=True, slots=True)
class TensorRange:
    name: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Job:
    """Hash bytes ``[start, end)`` of ``path``; ``tensors`` lie fully inside that range, sorted by start."""

    path: str
    display: str
    start: int
    end: int
    tensors: tuple[TensorRange, ...] = ()
    expect_size: int | None = None  # the file size seen when listing: a change while hashing is an error
    # For ``sha256-state`` tensor evidence when verifying: the signed SHA-256 states by file offset, from
    # which each tensor's bytes are hashed on their own. None when signing (states are recorded instead).
    tensor_origins: Mapping[int, bytes] | None = None


@dataclass(slots=True)
class JobResult:
    """The range's digest and, per tensor, ``(range, digest, origin)``: ``origin`` is the SHA-256 state at
    the tensor's start for ``sha256-state`` evidence (``digest`` is then the state at its end), else empty."""

    digest: bytes
    tensors: list[tuple[TensorRange, bytes, bytes]] = field(default_factory=list)


def chunk_size_for(workers: int) -> int:
    size = MEMORY_BUDGET // max(1, workers)
    return max(MIN_CHUNK, min(MAX_CHUNK, size - size % MIN_CHUNK))


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class _Progress:
    """Thread-safe running total handed to the user's callback as ``(bytes_done, bytes_total)``."""

    def __init__(self, callback: Progress | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        if self.callback is None:
            return
        with self.lock:
            self.done += n
            done = self.done
        self.callback(done, self.total)


def hash_range(job: Job, hash_type: str, buf: memoryview, progress: _Progress | None = None,
               tensor_hash_type: str | None = None) -> JobResult:
    """Hash one job, with evidence for every tensor range taken from the same chunks (no second read).

    Tensor evidence is, by ``tensor_hash_type`` (default: ``hash_type``): a digest of each tensor's bytes
    (``sha256``, ``blake2b``, ``blake3``: a second hasher fed slice by slice); or ``sha256-state``: the
    file's own SHA-256 state saved at every tensor boundary (see :mod:`.sha256_state`; no second hash),
    or, when the job carries signed ``tensor_origins``, each tensor hashed from its signed start state.
    """
    tensor_hash_type = tensor_hash_type or hash_type
    length = job.end - job.start
    recording = tensor_hash_type == STATE_KIND and job.tensor_origins is None and bool(job.tensors)
    if recording:
        if hash_type != "sha256" or job.start != 0:
            raise ManifestError(f"{job.display}: {STATE_KIND} evidence needs whole files hashed with sha256")
        h: Any = Sha256State()
        boundaries = sorted({t.start for t in job.tensors} | {t.end for t in job.tensors}, reverse=True)
        states: dict[int, bytes] = {}
    else:
        h = new_hasher(hash_type, threaded=hash_type == "blake3" and length >= BLAKE3_THREADED_MIN)
    make_tensor_hasher = _tensor_hasher_factory(tensor_hash_type, job.tensor_origins)
    result = JobResult(b"")
    pending = [] if recording else list(job.tensors)
    pending.reverse()  # pop() from the end gives increasing start offsets
    active: list[tuple[TensorRange, Any]] = []
    try:
        fd = os.open(job.path, OPEN_FLAGS)
    except OSError as exc:
        raise ManifestError(f"{job.display}: cannot open: {exc.strerror or exc}") from exc
    try:
        if job.expect_size is not None and os.fstat(fd).st_size != job.expect_size:
            raise ManifestError(f"{job.display}: file changed size while hashing")
        if hasattr(os, "posix_fadvise"):
            with contextlib.suppress(OSError):  # advisory only
                os.posix_fadvise(fd, job.start, length, os.POSIX_FADV_SEQUENTIAL)
        pos = job.start
        use_mmap = length >= MMAP_MIN
        for data in (_mapped_chunks(fd, job, len(buf)) if use_mmap else _read_chunks(fd, job, buf)):
            n = len(data)
            if recording:
                _update_saving_states(h, pos, data, boundaries, states)
            elif pending or active:
                # Slice by slice, so the tensor hashers read bytes the file hasher has just pulled into the
                # CPU cache rather than reading the whole chunk from memory a second time.
                for off in range(0, n, FEED_SLICE):
                    with data[off: off + FEED_SLICE] as part:
                        h.update(part)
                        _feed_tensors(pos + off, part, pending, active, result, make_tensor_hasher)
            else:
                h.update(data)
            pos += n
            if progress is not None:
                progress.add(n)
        if job.expect_size is not None and os.fstat(fd).st_size != job.expect_size:
            raise ManifestError(f"{job.display}: file changed size while hashing")
    except OSError as exc:
        raise ManifestError(f"{job.display}: cannot read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if recording:
        _update_saving_states(h, pos, b"", boundaries, states)  # boundaries at the very end
        if boundaries:
            raise ManifestError(f"{job.display}: tensor ranges run past the end of the file")
        result.tensors = [(t, states[t.end], states[t.start]) for t in job.tensors]
    # Zero-length tensors at the very end (or in an empty range) still get a digest.
    while pending:
        t = pending.pop()
        th = make_tensor_hasher(t)
        result.tensors.append((t, *_tensor_result(th)))
    result.digest = h.digest()
    return result


def _update_saving_states(h: Sha256State, pos: int, data: Any, boundaries: list[int],
                          states: dict[int, bytes]) -> None:
    """Feed ``data`` (file bytes from ``pos``) to ``h``, saving its state at each boundary it passes.

    ``boundaries`` is sorted in decreasing order and consumed from the end.
    """
    done = 0
    while boundaries and boundaries[-1] <= pos + len(data):
        cut = boundaries.pop() - pos
        if cut > done:
            with data[done:cut] as part:
                h.update(part)
            done = cut
        states[pos + cut] = h.save()
    if done < len(data):
        with data[done:] as part:
            h.update(part)


def _tensor_hasher_factory(tensor_hash_type: str,
                           origins: Mapping[int, bytes] | None) -> Callable[[TensorRange], Any | None]:
    """How to start the hasher of one tensor; None means "no evidence can be computed for it"."""
    if tensor_hash_type != STATE_KIND:
        return lambda _t: new_hasher(tensor_hash_type)
    signed = origins or {}

    def resume(t: TensorRange) -> Sha256State | None:
        saved = signed.get(t.start)
        if saved is None:
            return None  # the tensor starts where no signed state was saved: it moved
        try:
            return Sha256State(saved, t.start)
        except ValueError:
            return None
    return resume


def _tensor_result(th: Any | None) -> tuple[bytes, bytes]:
    """``(digest, origin)`` of a finished tensor hasher (empty for a tensor without evidence)."""
    if th is None:
        return b"", b""
    if isinstance(th, Sha256State):
        return th.save(), b""
    return th.digest(), b""


def is_small(job: Job) -> bool:
    """A whole file under :data:`SMALL_MAX` with no tensor ranges: hashed by :func:`hash_small_files`."""
    return (job.start == 0 and job.end == job.expect_size and job.end < SMALL_MAX and not job.tensors)


def hash_small_files(batch: Sequence[Job], hasher: Callable[[], Any], buf: memoryview) -> list[JobResult]:
    """Hash whole small files (:func:`is_small`), each with one ``read`` into ``buf`` (``len(buf) > end``).

    Every file of the batch is opened first and the kernel asked to read it ahead, so on a cold cache the
    batch is fetched from disk concurrently rather than one file at a time (a no-op when cached). Asking
    ``read`` for one byte more than the listed size catches a file that changed size since the listing,
    as :func:`hash_range` does with ``fstat``.
    """
    fds: list[int] = []
    try:
        for job in batch:
            try:
                fds.append(os.open(job.path, OPEN_FLAGS))
            except OSError as exc:
                raise ManifestError(f"{job.display}: cannot open: {exc.strerror or exc}") from exc
            if READ_AHEAD and job.end:
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fds[-1], 0, job.end, os.POSIX_FADV_WILLNEED)
        return [_hash_small_fd(job, fd, hasher, buf) for job, fd in zip(batch, fds, strict=True)]
    finally:
        for fd in fds:
            os.close(fd)


def _hash_small_fd(job: Job, fd: int, hasher: Callable[[], Any], buf: memoryview) -> JobResult:
    want = job.end + 1
    try:
        n = os.readv(fd, [buf[:want]])
        while 0 < n < want:  # regular files read fully; this only guards against a short read
            got = os.readv(fd, [buf[n:want]])
            if not got:
                break
            n += got
    except OSError as exc:
        raise ManifestError(f"{job.display}: cannot read: {exc.strerror or exc}") from exc
    if n != job.end:
        raise ManifestError(f"{job.display}: file changed size while hashing")
    h = hasher()
    h.update(buf[:n])
    return JobResult(h.digest())


def _read_chunks(fd: int, job: Job, buf: memoryview) -> Iterator[memoryview]:
    """``readinto`` one reused buffer: for small ranges, where mapping costs more than copying."""
    pos = job.start
    os.lseek(fd, pos, os.SEEK_SET)
    while pos < job.end:
        n = os.readv(fd, [buf[: min(len(buf), job.end - pos)]])
        if not n:
            raise ManifestError(f"{job.display}: file shrank while hashing")
        yield buf[:n]
        pos += n


def _mapped_chunks(fd: int, job: Job, window: int) -> Iterator[memoryview]:
    """Map the range one window at a time and hash straight from the page cache (no copy into a buffer).

    Each window is unmapped before the next is mapped, so resident memory stays at one window per worker
    however large the file. The size is re-checked before every window: touching a mapped page past the
    end of a file truncated under us would kill the process (SIGBUS), so a shrinking file must be caught
    first. (A truncation racing with a single window remains possible; a model being rewritten while it
    is verified is not a supported situation.)
    """
    pos = job.start
    while pos < job.end:
        if os.fstat(fd).st_size < job.end:
            raise ManifestError(f"{job.display}: file shrank while hashing")
        base = pos - pos % mmap.ALLOCATIONGRANULARITY
        length = min(window, job.end - pos)
        try:
            mapped = mmap.mmap(fd, pos - base + length, access=mmap.ACCESS_READ, offset=base)
        except (OSError, ValueError):
            # File systems that cannot map: fall back to reads for the rest of the range.
            rest = Job(job.path, job.display, pos, job.end, (), None)
            yield from _read_chunks(fd, rest, memoryview(bytearray(window)))
            return
        try:
            with contextlib.suppress(AttributeError, OSError):
                mapped.madvise(mmap.MADV_SEQUENTIAL)
            if READ_AHEAD and pos + length < job.end:
                # Start reading the next window from disk while this one is hashed.
                _read_ahead(fd, pos + length, min(window, job.end - pos - length))
            view = memoryview(mapped)
            part = view[pos - base: pos - base + length]
            try:
                yield part
            finally:
                # Release explicitly (the caller's name for the chunk is the same object), else close fails.
                part.release()
                view.release()
        finally:
            mapped.close()
        pos += length


def _read_ahead(fd: int, start: int, length: int) -> None:
    """Ask the kernel to fetch ``[start, start + length)`` from disk, unless it looks cached already.

    ``WILLNEED`` walks the page cache over the whole range even when every page is there (~3% of the hashing
    time of a cached model, measured here), so three probe reads that refuse to wait for the disk
    (``RWF_NOWAIT``: first, middle and last byte) decide first; a miss, or no ``RWF_NOWAIT``, asks.
    """
    if _NOWAIT:
        probe = [bytearray(1)]
        try:
            if all(os.preadv(fd, probe, at, _NOWAIT) == 1 for at in (start, start + length // 2, start + length - 1)):
                return
        except OSError:  # EAGAIN: not in the page cache (or the flag is not supported here)
            pass
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, start, length, os.POSIX_FADV_WILLNEED)


_NOWAIT = getattr(os, "RWF_NOWAIT", 0)


def _feed_tensors(pos: int, data: memoryview, pending: list[TensorRange], active: list[tuple[TensorRange, Any]],
                  result: JobResult, make_hasher: Callable[[TensorRange], Any | None]) -> None:
    end = pos + len(data)
    while pending and pending[-1].start < end:
        t = pending.pop()
        active.append((t, make_hasher(t)))
    still: list[tuple[TensorRange, Any]] = []
    for t, th in active:
        lo, hi = max(t.start, pos), min(t.end, end)
        if hi > lo and th is not None:
            th.update(data[lo - pos: hi - pos])
        if t.end <= end:
            result.tensors.append((t, *_tensor_result(th)))
        else:
            still.append((t, th))
    active[:] = still


def run_jobs(jobs: Sequence[Job], hash_type: str, *, workers: int | None = None,
             progress: Progress | None = None, tensor_hash_type: str | None = None) -> list[JobResult]:
    """Hash every job on ``workers`` threads (default: one per core); results come back in job order.

    Big ranges are tasks of their own, largest first, so one big file does not start last and leave the
    other cores idle; small whole files (:func:`is_small`) follow in batches. If a job fails, the other
    workers stop at their next task and the error of the earliest failed task is raised.
    """
    if not jobs:
        return []
    small = [i for i, j in enumerate(jobs) if is_small(j)]
    small_set = set(small)
    big = sorted((i for i in range(len(jobs)) if i not in small_set),
                 key=lambda i: jobs[i].end - jobs[i].start, reverse=True)
    workers = max(1, workers or default_workers())
    batch_files = max(1, min(SMALL_BATCH_FILES, OPEN_FILES_BUDGET // workers))
    tasks: list[list[int]] = [[i] for i in big] + _batches(small, jobs, batch_files)
    # Never more buffers in flight than the memory budget holds at the smallest chunk size.
    workers = min(workers, len(tasks), MEMORY_BUDGET // MIN_CHUNK)
    chunk = chunk_size_for(workers)
    tracker = _Progress(progress, sum(j.end - j.start for j in jobs)) if progress is not None else None
    small_hasher = _factory(hash_type)
    results: list[JobResult | None] = [None] * len(jobs)
    lock = threading.Lock()
    next_task = [0]
    errors: list[tuple[int, BaseException]] = []

    def worker() -> None:
        # Allocated on first use: a zero-filled 16 MiB buffer costs milliseconds, more than many small files.
        buf: memoryview | None = None
        small_buf: memoryview | None = None
        while True:
            with lock:
                t = next_task[0]
                if t >= len(tasks) or errors:
                    return
                next_task[0] = t + 1
            try:
                task = tasks[t]
                if task[0] in small_set:
                    if small_buf is None:
                        small_buf = buf if buf is not None else memoryview(bytearray(SMALL_MAX))
                    batch = [jobs[i] for i in task]
                    for i, res in zip(task, hash_small_files(batch, small_hasher, small_buf), strict=True):
                        results[i] = res
                    if tracker is not None:
                        tracker.add(sum(j.end for j in batch))
                else:
                    if buf is None:
                        buf = memoryview(bytearray(chunk))
                    (i,) = task
                    results[i] = hash_range(jobs[i], hash_type, buf, tracker, tensor_hash_type)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, raised there
                with lock:
                    errors.append((t, exc))
                return

    threads = [threading.Thread(target=worker, name=f"ww-hash-{n}", daemon=True) for n in range(workers - 1)]
    for th in threads:
        th.start()
    try:
        worker()  # the calling thread is a worker too
    finally:
        for th in threads:
            th.join()
    if errors:
        raise min(errors, key=lambda e: e[0])[1]
    return results  # type: ignore[return-value]


def _batches(small: list[int], jobs: Sequence[Job], max_files: int) -> list[list[int]]:
    """Group small-job indices (in listing order, so a batch reads neighbouring files) into tasks."""
    out: list[list[int]] = []
    batch: list[int] = []
    size = 0
    for i in small:
        batch.append(i)
        size += jobs[i].end
        if len(batch) >= max_files or size >= SMALL_BATCH_BYTES:
            out.append(batch)
            batch, size = [], 0
    if batch:
        out.append(batch)
    return out


def _factory(hash_type: str) -> Callable[[], Any]:
    """A zero-argument constructor of single-threaded hashers of ``hash_type`` (checked once, not per file)."""
    if hash_type == "sha256":
        return hashlib.sha256
    if hash_type == "blake2b":
        return hashlib.blake2b
    if hash_type == "blake3":
        import blake3  # lazy: only paid for when asked

        return blake3.blake3
    raise ManifestError(f"unsupported hash type {hash_type!r}")
