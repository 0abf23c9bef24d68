"""Compute the manifest of a model folder or file: :func:`digest_model`.

Usage::

    from weightwarden.integrity.hashing import digest_model
    manifest = digest_model("path/to/model")                      # files + SHA-256, as model-signing
    manifest = digest_model("model", hash_type="blake3", workers=8, progress=lambda done, total: ...)
    print(manifest.root_digest().hex())

Walking follows model-signing 1.1.1: every regular file under the folder except the ignored paths
(``.git``, ``.gitattributes``, ``.github``, ``.gitignore`` at the top of the folder, plus ``ignore_paths``
— give the signature file's path here when it is written inside the model); a single file is the resource
``"."``; the subject name is the folder (or file) name. Stricter than model-signing: an empty model, a
name that cannot be represented safely (NUL, not UTF-8, collisions after NFC + case folding), a special
file, and a symbolic link that leaves the model folder (or, for a hub-cache snapshot, its cache repository;
unless ``allow_symlinks``), is broken or leads to a folder all raise :class:`ManifestError`. Links that stay
inside are read through (:mod:`weightwarden.artifact.paths`), so a snapshot digests like a plain copy.

Tensor evidence (our extension): for ``*.safetensors`` and ``*.gguf`` files the tensor byte ranges are taken
from :mod:`weightwarden.artifact` readers (headers only). It only localises a change that the file digest
already proves. By default (``tensor_hash_type=None``):

* whole files hashed with SHA-256 (the default, interoperable serialization) get ``sha256-state`` evidence:
  the file hash's own state saved at every tensor boundary, so no tensor byte is hashed twice (see
  :mod:`weightwarden.integrity._hashing.sha256_state`). Verifying resumes each tensor from its signed
  states (``tensor_origins``);
* everything else (BLAKE3 or BLAKE2b files, shards, or no usable OpenSSL) gets a BLAKE3 digest of each
  tensor, hashed from the same chunks as the file. With ``method="shards"`` a tensor that straddles a
  shard boundary is read a second time.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from weightwarden.artifact.paths import link_boundary, resolve_entry
from weightwarden.core.errors import InputError
from weightwarden.integrity._hashing import Job, Progress, TensorRange, run_jobs
from weightwarden.integrity.manifest import (
    DEFAULT_IGNORE_PATHS,
    DEFAULT_SHARD_SIZE,
    HASH_TYPES,
    METHODS,
    SHA256_STATE,
    SINGLE_FILE_NAME,
    TENSOR_HASH_TYPES,
    Manifest,
    ManifestError,
    ResourceDigest,
    SerializationSpec,
    TensorDigest,
    check_names,
    path_sort_key,
    resource_sort_key,
    shard_name,
)
from weightwarden.integrity.reuse import FileState, ReusePlan, file_state

TENSOR_SUFFIXES = (".safetensors", ".gguf")
# Per file. Real checkpoints hold at most a few thousand tensors per file (a 405B-parameter model ~1,100
# per shard); beyond this a file gets no tensor evidence (see _tensor_ranges).
MAX_TENSORS_WITH_EVIDENCE = 65_536

__all__ = ["DEFAULT_SHARD_SIZE", "ManifestError", "digest_model"]


def digest_model(
    path: str | os.PathLike[str],
    *,
    hash_type: str = "sha256",
    method: str = "files",
    shard_size: int | None = None,
    ignore_paths: Iterable[str | os.PathLike[str]] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
    tensors: bool = True,
    tensor_hash_type: str | None = None,
    tensor_origins: Mapping[str, Mapping[int, bytes]] | None = None,
    only: Iterable[str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    reuse: ReusePlan | None = None,
    record: list[tuple[str, FileState, bool]] | None = None,
    on_listed: Callable[[str, tuple[str, ...], list[tuple[str, str]]], None] | None = None,
) -> Manifest:
    """Hash the model at ``path`` and return its :class:`Manifest` (resources in model-signing order).

    ``ignore_paths`` are relative to the model folder, or absolute paths inside it (others are dropped).
    ``shard_size`` defaults to model-signing's 1,000,000,000 for ``method="shards"``. ``progress`` is
    called from worker threads with ``(bytes_done, bytes_total)``. ``only`` (resource names, e.g.
    ``["model.safetensors"]``) hashes just those files — what a loader needs — for a partial verify with
    ``diff(..., only=...)``; the whole folder is still listed, so name checks cover every file.
    ``tensor_hash_type`` picks the tensor evidence (None: the best one for this serialization, see the
    module doc); ``tensor_origins`` (file → offset → state, from :meth:`Manifest.tensor_states_by_file`)
    makes ``sha256-state`` evidence resume from signed states instead of recording new ones.
    ``reuse`` (:class:`~weightwarden.integrity.reuse.ReusePlan`) takes the digests and tensor evidence of
    every file whose size, times and inode are unchanged from a previous signing instead of hashing it;
    ``record`` receives ``(name, state before hashing, reused)`` for every file (for the state sidecar).
    ``on_listed(root, ignored, [(name, real path), ...])`` is called for a folder once every file is listed
    (``only`` not yet applied) and before anything is hashed; it may raise :class:`ManifestError` to stop there
    (sign and verify check there that the manifest covers every file a loader reaches: integrity/coverage.py).
    """
    if method not in METHODS:
        raise ManifestError(f"unknown serialization method {method!r} (use one of {', '.join(METHODS)})")
    if hash_type not in HASH_TYPES:
        raise ManifestError(f"unknown hash type {hash_type!r} (use one of {', '.join(HASH_TYPES)})")
    tensor_hash_type = _tensor_evidence(tensor_hash_type, hash_type, method) if tensors else None
    if method == "shards":
        shard_size = DEFAULT_SHARD_SIZE if shard_size is None else shard_size
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
            raise ManifestError(f"shard_size must be a positive integer, got {shard_size!r}")
    else:
        shard_size = None

    given = Path(path)
    try:
        st = os.stat(given)
    except OSError as exc:
        raise ManifestError(f"{given}: cannot read: {exc.strerror or exc}") from exc
    root = os.path.abspath(given)
    model_name = given.name
    if not model_name or model_name == "..":
        model_name = os.path.basename(os.path.realpath(given))

    ignored = _relative_ignores(root, ignore_paths, ignore_git_paths) if stat.S_ISDIR(st.st_mode) else ()
    followed: list[str] = []
    if stat.S_ISDIR(st.st_mode):
        files = list(_walk(root, set(ignored), allow_symlinks, followed))
    elif stat.S_ISREG(st.st_mode):
        files = [(SINGLE_FILE_NAME, os.path.realpath(root), st.st_size)]
    else:
        raise ManifestError(f"{given}: not a regular file or folder")
    if not files:
        raise ManifestError(f"{given}: the model has no files to sign (after ignoring {', '.join(ignored)})")
    check_names(name for name, _, _ in files)
    files.sort(key=lambda f: path_sort_key(f[0]))
    if on_listed is not None and stat.S_ISDIR(st.st_mode):
        on_listed(root, ignored, [(name, real) for name, real, _ in files])
    if only is not None:
        wanted = {_normalise(n) for n in only}
        files = [f for f in files if f[0] in wanted]

    # allow_symlinks is signed as "links were read through" (a hub-cache snapshot is nothing but links);
    # model-signing 1.1.1's verifier still needs its own --allow_symlinks flag for a snapshot.
    spec = SerializationSpec(method=method, hash_type=hash_type,  # type: ignore[arg-type]
                             allow_symlinks=allow_symlinks or bool(followed),
                             ignore_paths=tuple(sorted(ignored)), shard_size=shard_size)
    reused: dict[str, tuple[tuple[ResourceDigest, ...], tuple[TensorDigest, ...]]] = {}
    if reuse is not None or record is not None:
        for name, real, _ in files:
            try:
                before = file_state(real)  # taken before hashing: a write during hashing changes it
            except OSError as exc:
                raise ManifestError(f"{name}: cannot stat: {exc.strerror or exc}") from exc
            taken = reuse.take(name, before) if reuse is not None else None
            if taken is not None:
                reused[name] = taken
            if record is not None:
                record.append((name, before, taken is not None))
        files = [f for f in files if f[0] not in reused]
    tensor_ranges = {name: _tensor_ranges(real, size, model_name if name == SINGLE_FILE_NAME else name)
                     for name, real, size in files if tensors and _may_have_tensors(name, real)}

    jobs: list[Job] = []
    names: list[str] = []
    extra: list[tuple[str, str, TensorRange]] = []  # tensors straddling shard boundaries
    empty: list[str] = []
    for name, real, size in files:
        display = model_name if name == SINGLE_FILE_NAME else name
        trs = tensor_ranges.get(name, ())
        if method == "files":
            origins = tensor_origins.get(name, {}) if tensor_origins is not None and trs else None
            jobs.append(Job(real, display, 0, size, tuple(trs), expect_size=size, tensor_origins=origins))
            names.append(name)
            continue
        if size == 0:
            empty.append(name)  # model-signing leaves zero-byte files out of shard manifests; we sign their names
            continue
        # Each tensor goes with the shard holding its first byte; one that runs past that shard is hashed
        # by a job of its own (a second read of just those bytes).
        last = (size - 1) // shard_size  # type: ignore[operator]
        by_shard: dict[int, list[TensorRange]] = {}
        for t in trs:
            index = min(t.start // shard_size, last)  # type: ignore[operator]
            if t.end <= min((index + 1) * shard_size, size):  # type: ignore[operator]
                by_shard.setdefault(index, []).append(t)
            else:
                extra.append((name, real, t))
        for index in range(last + 1):
            start, end = index * shard_size, min((index + 1) * shard_size, size)  # type: ignore[operator]
            jobs.append(Job(real, display, start, end, tuple(by_shard.get(index, ())), expect_size=size))
            names.append(shard_name(name, start, end))
    if not jobs and not reused and only is None:
        raise ManifestError(f"{given}: the model has only empty files; nothing to sign")
    extra_jobs = [Job(real, name, t.start, t.end, (t,)) for name, real, t in extra]
    results = run_jobs(jobs + extra_jobs, hash_type, workers=workers, progress=progress,
                       tensor_hash_type=tensor_hash_type)

    algorithm = spec.resource_algorithm
    resources = tuple(ResourceDigest(n, algorithm, r.digest) for n, r in zip(names, results, strict=False))
    tensor_digests: list[TensorDigest] = []
    if reused:
        for name, (old_resources, old_tensors) in reused.items():
            if not old_resources and method == "shards":
                empty.append(name)
            resources += old_resources
            tensor_digests.extend(old_tensors if tensors else ())
        resources = tuple(sorted(resources, key=lambda r: resource_sort_key(r.name, method)))
    for job_name, res in zip([_file_of(n, method) for n in names], results, strict=False):
        tensor_digests.extend(TensorDigest(job_name, t.name, t.start, t.end, d, o) for t, d, o in res.tensors)
    for (name, _, _), res in zip(extra, results[len(jobs):], strict=True):
        tensor_digests.extend(TensorDigest(name, t.name, t.start, t.end, d, o) for t, d, o in res.tensors)
    tensor_digests.sort(key=lambda t: (path_sort_key(t.file), t.start, t.end, t.name))
    return Manifest(model_name, spec, resources, tuple(tensor_digests),
                    tensor_hash_type if tensor_digests else None,
                    tuple(sorted(empty, key=path_sort_key)) if method == "shards" else None,
                    tuple((name, size) for name, _, size in files))


def tensor_evidence_kind(hash_type: str, method: str) -> str:
    """The tensor evidence a signing with this hash and method makes by default (see the module doc)."""
    return _tensor_evidence(None, hash_type, method)


def _tensor_evidence(requested: str | None, hash_type: str, method: str) -> str:
    """The tensor evidence kind to compute: ``requested``, checked, or the default for the serialization."""
    from weightwarden.integrity._hashing import sha256_state

    if requested is None:
        stateful = hash_type == "sha256" and method == "files" and sha256_state.available()
        return SHA256_STATE if stateful else "blake3"
    if requested not in TENSOR_HASH_TYPES:
        raise ManifestError(f"unknown tensor hash type {requested!r} (use one of {', '.join(TENSOR_HASH_TYPES)})")
    if requested == SHA256_STATE:
        if hash_type != "sha256" or method != "files":
            raise ManifestError(f"{SHA256_STATE} tensor evidence needs the files method with sha256")
        if not sha256_state.available():
            raise ManifestError(f"{SHA256_STATE} tensor evidence needs OpenSSL's SHA-256 (libcrypto), which "
                                "cannot be used from this Python")
    return requested


def _normalise(name: str) -> str:
    name = os.fspath(name).replace(os.sep, "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _file_of(name: str, method: str) -> str:
    return name.rsplit(":", 2)[0] if method == "shards" else name


def _relative_ignores(root: str, ignore_paths: Iterable[str | os.PathLike[str]], git: bool) -> tuple[str, ...]:
    out = set(DEFAULT_IGNORE_PATHS) if git else set()
    for p in ignore_paths:
        s = os.fspath(p)
        if os.path.isabs(s):
            rel = os.path.relpath(os.path.abspath(s), root)
            if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
                continue  # outside the model: nothing to ignore (as model-signing does)
            s = rel
        s = s.replace(os.sep, "/").strip("/")
        while s.startswith("./"):
            s = s[2:]
        if s and s != ".":
            out.add(s)
    return tuple(sorted(out))


def _walk(root: str, ignored: set[str], allow_symlinks: bool, followed: list[str]) -> Iterable[tuple[str, str, int]]:
    """Yield (resource name, real path to read, size) for every file, refusing what cannot be signed.

    Links follow the one path policy (:mod:`weightwarden.artifact.paths`): read through when they stay
    inside the model folder or its hub-cache repository, refused (naming ``--allow-symlinks``) when they
    leave it. The names of the links followed are appended to ``followed``.
    """
    boundary = link_boundary(root)
    # One tuple for str.startswith: this test runs for every entry of the tree.
    ignored_prefixes = tuple(ig + "/" for ig in ignored)
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            entries = list(os.scandir(abs_dir))
        except OSError as exc:
            raise ManifestError(f"{rel_dir or '.'}: cannot list folder: {exc.strerror or exc}") from exc
        for entry in entries:
            name = entry.name
            if "\x00" in name:
                raise ManifestError(f"file name contains NUL in {rel_dir or '.'}")
            try:
                name.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ManifestError(f"file name is not valid UTF-8 in {rel_dir or '.'}: {name!r}") from exc
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel in ignored or rel.startswith(ignored_prefixes):
                continue
            target = entry.path
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                raise ManifestError(f"{rel}: cannot stat: {exc.strerror or exc}") from exc
            if stat.S_ISLNK(st.st_mode):
                try:
                    resolved = resolve_entry(entry.path, rel, boundary, allow_symlinks=allow_symlinks)
                except InputError as exc:
                    raise ManifestError(exc.reason) from None
                target, st = resolved.path, resolved.st
                followed.append(rel)
            if stat.S_ISDIR(st.st_mode):
                stack.append((rel, entry.path))
            elif stat.S_ISREG(st.st_mode):
                yield rel, target, st.st_size
            else:
                raise ManifestError(f"{rel}: special file (device, pipe or socket) cannot be signed")


def _may_have_tensors(name: str, real: str) -> bool:
    return name.lower().endswith(TENSOR_SUFFIXES) or real.lower().endswith(TENSOR_SUFFIXES)


def _tensor_ranges(real: str, size: int, display: str) -> tuple[TensorRange, ...]:
    """Tensor byte ranges from the artifact readers (headers only); none if the file is not readable."""
    from weightwarden.artifact import Format
    from weightwarden.artifact.context import ReadContext
    from weightwarden.artifact.loader import read_source
    from weightwarden.artifact.source import Source
    from weightwarden.core.limits import DEFAULT_LIMITS

    try:
        source = Source.from_path(real, display)
        entry = read_source(source, ReadContext.for_top_level(DEFAULT_LIMITS, dispatch=read_source))
    except OSError:
        return ()
    if entry.format not in (Format.SAFETENSORS, Format.GGUF):
        return ()
    if len(entry.tensors) > MAX_TENSORS_WITH_EVIDENCE:
        # A header declaring 300,000 tensors would make a signed statement of ~75 MB (over what verify
        # reads) and a report of megabytes: such a file is verified as a whole, without tensor names.
        return ()
    out = {}
    for t in entry.tensors:
        if t.start is None or t.end is None or not (0 <= t.start <= t.end <= size):
            continue
        out.setdefault(t.name, TensorRange(t.name, t.start, t.end))
    if sum(t.end - t.start for t in out.values()) > size:
        # Overlapping tensors: never in a well-formed file, and each tensor is hashed on its own on verify, so
        # a hostile header could make that cost (tensors × file size). No tensor evidence for such a file.
        return ()
    return tuple(sorted(out.values(), key=lambda t: (t.start, t.end, t.name)))
