"""The manifest of a model: which resources (files or file shards) it holds, and the digest of each.

A :class:`Manifest` is what gets signed (inside an in-toto statement, see :mod:`.statement`) and what a
verifier recomputes from the files on disk (see :func:`weightwarden.integrity.hashing.digest_model`).
Naming and ordering follow OpenSSF model-signing v1.0 exactly, so a manifest written here is one that
model-signing verifies:

* resource names are POSIX paths relative to the model folder (``"."`` for a single-file model); the
  ``"shards"`` method names each byte range ``"path:start:end"``;
* resources are sorted path component by component (code-point order), then by shard offsets;
* the subject digest (:meth:`Manifest.root_digest`) is SHA-256 over the concatenated raw resource digests,
  in payload order.

:func:`diff` compares an expected (signed) manifest with an actual (recomputed) one and gives one
:class:`FileChange` per file: ok, modified (with the changed shards and tensors), missing, added, renamed
(same content, new path) or type changed (a file became a folder or the reverse).

Usage::

    from weightwarden.integrity.manifest import diff
    for change in diff(signed_manifest, local_manifest):
        print(change.status, change.path, change.tensors)
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from weightwarden.core.errors import InputError

Method = Literal["files", "shards"]
HashType = Literal["sha256", "blake2b", "blake3"]
# Tensor evidence: a digest of each tensor's bytes, or ``sha256-state``: the file's own SHA-256 state saved
# at tensor boundaries (see weightwarden.integrity._hashing.sha256_state).
TensorHashType = Literal["sha256", "blake2b", "blake3", "sha256-state"]

METHODS: tuple[str, ...] = ("files", "shards")
HASH_TYPES: tuple[str, ...] = ("sha256", "blake2b", "blake3")
SHA256_STATE = "sha256-state"
TENSOR_HASH_TYPES: tuple[str, ...] = (*HASH_TYPES, SHA256_STATE)
DIGEST_SIZES: dict[str, int] = {"sha256": 32, "blake2b": 64, "blake3": 32}
# model-signing's default shard size (``use_shard_serialization(shard_size=1_000_000_000)``).
DEFAULT_SHARD_SIZE = 1_000_000_000
# Paths model-signing ignores by default (relative to the model folder); the signature file is added by
# whoever knows where it is written.
DEFAULT_IGNORE_PATHS: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")
SINGLE_FILE_NAME = "."
# Changed tensors named in a file's one-line detail (and so in verify's reasons); the rest are counted. A
# header declaring 300,000 tensors would otherwise make a reason of megabytes.
MAX_NAMED_TENSORS = 20


class ManifestError(InputError, ValueError):
    """A model or manifest that cannot be (safely) described; ``reason`` says why, for users."""


@dataclass(frozen=True, slots=True)
class SerializationSpec:
    """How the resources were cut and hashed (the predicate's ``serialization`` object)."""

    method: Method = "files"
    hash_type: HashType = "sha256"
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
    shard_size: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ManifestError(f"unknown serialization method {self.method!r}")
        if self.hash_type not in HASH_TYPES:
            raise ManifestError(f"unknown hash type {self.hash_type!r}")
        if self.method == "shards":
            if not isinstance(self.shard_size, int) or isinstance(self.shard_size, bool) or self.shard_size <= 0:
                raise ManifestError(f"shard method needs a positive integer shard_size, got {self.shard_size!r}")
        elif self.shard_size is not None:
            raise ManifestError("shard_size is only meaningful with method 'shards'")

    @property
    def resource_algorithm(self) -> str:
        """The ``algorithm`` string of each resource, as model-signing writes it."""
        if self.method == "shards":
            return f"{self.hash_type}-sharded-{self.shard_size}"
        return self.hash_type


@dataclass(frozen=True, slots=True)
class ResourceDigest:
    """One resource (a file, or ``path:start:end`` for a shard) and its raw digest."""

    name: str
    algorithm: str
    digest: bytes

    @property
    def hex(self) -> str:
        return self.digest.hex()


@dataclass(frozen=True, slots=True)
class TensorDigest:
    """Evidence for one tensor's bytes (weightwarden extension): ``start``/``end`` are absolute file offsets.

    ``digest`` is a hash of the tensor's bytes, or, for ``sha256-state`` evidence, the file's SHA-256 state
    at ``end``; ``origin`` is then the signed state at ``start`` that the bytes are hashed from (empty for
    plain digests, and in a recomputed manifest, which resumes from the signed states).
    """

    file: str
    name: str
    start: int
    end: int
    digest: bytes
    origin: bytes = b""


@dataclass(frozen=True, slots=True)
class Manifest:
    """A model's resources in payload order, with the serialization that produced them.

    ``tensors`` is our extension (per-tensor evidence for safetensors/GGUF files, of kind
    :attr:`tensor_hash`); it is empty when unknown and never part of :meth:`root_digest`.
    ``tensor_hash_type`` None means "the same as ``spec.hash_type``" (bundles written before it existed).
    """

    model_name: str
    spec: SerializationSpec
    resources: tuple[ResourceDigest, ...]
    tensors: tuple[TensorDigest, ...] = ()
    tensor_hash_type: TensorHashType | None = None
    # Shards only (our extension): the zero-byte files, which have no shard and so no resource (model-signing
    # leaves them out). None = not known (a bundle from another tool, or the files method, which lists them).
    empty_files: tuple[str, ...] | None = None
    # Local only, never signed: the size of each file as hashed (lets verify say "truncated").
    sizes: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    @property
    def tensor_hash(self) -> TensorHashType:
        return self.tensor_hash_type or self.spec.hash_type

    def root_digest(self) -> bytes:
        """SHA-256 over the concatenated raw resource digests, in payload order (the subject digest)."""
        h = hashlib.sha256()
        for r in self.resources:
            h.update(r.digest)
        return h.digest()

    def files(self) -> dict[str, tuple[ResourceDigest, ...]]:
        """Resources grouped by file path (a file has one resource, or one per shard)."""
        out: dict[str, list[ResourceDigest]] = {}
        for r in self.resources:
            path = split_shard_name(r.name)[0] if self.spec.method == "shards" else r.name
            out.setdefault(path, []).append(r)
        return {k: tuple(v) for k, v in out.items()}

    def tensors_by_file(self) -> dict[str, dict[str, TensorDigest]]:
        out: dict[str, dict[str, TensorDigest]] = {}
        for t in self.tensors:
            out.setdefault(t.file, {})[t.name] = t
        return out

    def tensor_states_by_file(self) -> dict[str, dict[int, bytes]]:
        """For ``sha256-state`` evidence: every signed SHA-256 state, by file and offset."""
        out: dict[str, dict[int, bytes]] = {}
        for t in self.tensors:
            if t.origin:
                states = out.setdefault(t.file, {})
                states[t.start] = t.origin
                states[t.end] = t.digest
        return out


# ---------------------------------------------------------------------------------------------------------
# Names


def name_problem(name: str) -> str | None:
    """Why ``name`` is not an acceptable resource path, or None. Shared by the walker and the parser."""
    if not isinstance(name, str) or not name:
        return "empty resource name"
    if "\x00" in name:
        return f"resource name contains NUL: {name!r}"
    if name == SINGLE_FILE_NAME:
        return None
    if name.startswith("/"):
        return f"absolute resource path: {name!r}"
    if "\\" in name:
        # A path separator on Windows: "a\\..\\b" would leave the folder there, whatever it means here.
        return f"resource name contains a backslash (a path separator on Windows): {name!r}"
    if len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha():
        return f"resource name starts with a Windows drive ('{name[:2]}'): {name!r}"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"resource name is not valid UTF-8: {name!r}"
    for part in name.split("/"):
        if part == "..":
            return f"resource path leaves the model folder ('..'): {name!r}"
        if part in ("", "."):
            return f"resource path has an empty or '.' component: {name!r}"
    return None


def check_names(names: Iterable[str]) -> None:
    """Raise :class:`ManifestError` on a bad name, or on two names equal after NFC + case folding.

    Two such names would be the same file on macOS/Windows file systems, so a verifier there could be shown
    one file while the signature covers another.
    """
    seen: dict[str, str] = {}
    for name in names:
        problem = name_problem(name)
        if problem:
            raise ManifestError(problem)
        if name.isascii():  # NFC leaves ASCII alone and casefold is lower(): the common case, made cheap
            folded = name.lower()
        else:
            folded = unicodedata.normalize("NFC", name).casefold()
            folded = unicodedata.normalize("NFC", folded)
        other = seen.get(folded)
        if other is not None and other != name:
            raise ManifestError(f"resource names collide after Unicode normalisation / case folding: "
                                f"{other!r} and {name!r}")
        if other == name:
            raise ManifestError(f"duplicate resource name {name!r}")
        seen[folded] = name


def path_sort_key(name: str) -> tuple[str, ...]:
    """model-signing's order: ``PurePosixPath`` comparison, i.e. component by component, code points."""
    return tuple(name.split("/"))


def shard_name(path: str, start: int, end: int) -> str:
    return f"{path}:{start}:{end}"


def split_shard_name(name: str) -> tuple[str, int, int]:
    """``"path:start:end"`` → (path, start, end); the path may itself contain ':' (split from the right)."""
    parts = name.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit() or not parts[1].isascii() \
            or not parts[2].isascii():
        raise ManifestError(f"shard resource name is not 'path:start:end': {name!r}")
    return parts[0], int(parts[1]), int(parts[2])


def resource_sort_key(name: str, method: str) -> tuple:
    if method == "shards":
        path, start, end = split_shard_name(name)
        return (path_sort_key(path), start, end)
    return (path_sort_key(name),)


# ---------------------------------------------------------------------------------------------------------
# Comparison


class ChangeKind(StrEnum):
    OK = "ok"
    MODIFIED = "modified"
    MISSING = "missing"
    ADDED = "added"
    RENAMED = "renamed"
    TYPE_CHANGED = "type changed"


@dataclass(frozen=True, slots=True)
class FileChange:
    """The verdict for one file. ``shards`` lists changed ``start:end`` ranges; ``tensors`` changed tensor
    names (``+name`` added, ``-name`` removed) when both manifests carry tensor digests for the file."""

    path: str
    status: ChangeKind
    detail: str = ""
    old_path: str | None = None
    shards: tuple[str, ...] = ()
    tensors: tuple[str, ...] = field(default=())


def _content(resources: tuple[ResourceDigest, ...], method: str) -> tuple:
    if method == "shards":
        return tuple((split_shard_name(r.name)[1:], r.digest) for r in resources)
    return tuple(r.digest for r in resources)


def _tensor_differs(signed: TensorDigest, actual: TensorDigest) -> bool:
    if signed.origin:
        # A SHA-256 state is evidence only for the byte range it was saved over: a moved tensor has changed.
        return (actual.digest, actual.start, actual.end) != (signed.digest, signed.start, signed.end)
    return actual.digest != signed.digest


def _tensor_evidence_comparable(expected: Manifest, actual: Manifest) -> bool:
    """Evidence compares only kind with kind; ``sha256-state`` evidence only when ``actual`` resumed each tensor
    from the signed states (``digest_model(tensor_origins=...)``): states recorded afresh chain through every
    earlier byte of the file, so one change would name every later tensor."""
    return expected.tensor_hash == actual.tensor_hash and not any(t.origin for t in actual.tensors)


def _tensor_changes(exp: dict[str, TensorDigest] | None, act: dict[str, TensorDigest] | None) -> tuple[str, ...]:
    if not exp or not act:
        return ()
    out = [n for n, t in exp.items() if n in act and _tensor_differs(t, act[n])]
    out += [f"-{n}" for n in exp if n not in act]
    out += [f"+{n}" for n in act if n not in exp]
    return tuple(out)


def _truncation(signed: dict[str, TensorDigest] | None, size: int | None) -> tuple[str, list[str]] | None:
    """("truncated: ...", names of the signed tensors that now run past the end) when the file on disk is
    shorter than its signed tensors reach, else None."""
    if not signed or size is None:
        return None
    end = max(t.end for t in signed.values())
    if size >= end:
        return None
    cut = sorted((n for n, t in signed.items() if t.end > size), key=lambda n: signed[n].start)
    return (f"truncated: {size} bytes on disk, {end - size} byte(s) short of the signed tensors' end "
            f"(byte {end})"), cut


def diff(expected: Manifest, actual: Manifest, *, only: Iterable[str] | None = None) -> list[FileChange]:
    """Per-file verdicts of ``actual`` (recomputed from disk) against ``expected`` (signed).

    Both must use the same method and hash type (recompute ``actual`` with ``expected.spec``); otherwise
    :class:`ManifestError`. The result is sorted by path; all ``ok`` means the model is unchanged.
    ``only`` restricts the comparison to those files (a partial verify); a requested file that the
    signature does not list is reported ``added`` (if present) or ``missing``, never ``ok``. Changed tensors
    are named only when ``actual`` has evidence of ``expected``'s kind (``tensor_hash_type=expected.tensor_hash``,
    and ``tensor_origins=expected.tensor_states_by_file()`` for ``sha256-state``).
    """
    if (expected.spec.method, expected.spec.hash_type, expected.spec.shard_size) != (
            actual.spec.method, actual.spec.hash_type, actual.spec.shard_size):
        raise ManifestError("cannot compare manifests made with different serializations; recompute the model "
                            "with the signed manifest's spec")
    method = expected.spec.method
    exp_files, act_files = expected.files(), actual.files()
    exp_empty, act_empty = set(expected.empty_files or ()), set(actual.empty_files or ())
    if expected.empty_files is None:
        act_empty = set()  # the signer did not record empty files: nothing to compare them with
    if only is not None:
        wanted = set(only)
        exp_files = {k: v for k, v in exp_files.items() if k in wanted}
        act_files = {k: v for k, v in act_files.items() if k in wanted}
        exp_empty, act_empty = exp_empty & wanted, act_empty & wanted
    exp_t, act_t = expected.tensors_by_file(), actual.tensors_by_file()
    actual_sizes = dict(actual.sizes)
    if not _tensor_evidence_comparable(expected, actual):
        act_t = {}  # no tensor can be named: the file is reported modified without tensor names
    changes: list[FileChange] = []
    missing: list[str] = []
    for path, res in exp_files.items():
        got = act_files.get(path)
        if got is None:
            missing.append(path)
            continue
        if _content(res, method) == _content(got, method):
            changes.append(FileChange(path, ChangeKind.OK))
            continue
        shards: tuple[str, ...] = ()
        if method == "shards":
            e = {split_shard_name(r.name)[1:]: r.digest for r in res}
            a = {split_shard_name(r.name)[1:]: r.digest for r in got}
            shards = tuple(f"{s}:{t}" for (s, t) in sorted(set(e) | set(a)) if e.get((s, t)) != a.get((s, t)))
        tensors = _tensor_changes(exp_t.get(path), act_t.get(path))
        detail = "content differs"
        truncated = _truncation(exp_t.get(path), actual_sizes.get(path))
        if truncated is not None:
            # The tensors past the end are cut, not removed: say so, not "-name".
            detail, cut = truncated
            tensors = tuple(n for n in tensors if n.lstrip("-") not in cut) + tuple(f"{n} (cut)" for n in cut)
        if tensors:
            more = len(tensors) - MAX_NAMED_TENSORS
            # tensor names come from the file's header: each shown cut to 200 characters
            named = (t if len(t) <= 200 else t[:199] + "…" for t in tensors[:MAX_NAMED_TENSORS])
            detail += f"; tensors changed: {', '.join(named)}" + (
                f" … and {more} more ({len(tensors)} in all)" if more > 0 else "")
        changes.append(FileChange(path, ChangeKind.MODIFIED, detail, shards=shards, tensors=tensors))
    # Shards: a zero-byte file has no shard, so it is compared through the signed list of empty files.
    for path in sorted(exp_empty | act_empty):
        if path in exp_empty and path in act_empty:
            changes.append(FileChange(path, ChangeKind.OK))
        elif path in exp_empty and path in act_files:
            act_files = {k: v for k, v in act_files.items() if k != path}
            changes.append(FileChange(path, ChangeKind.MODIFIED, "was empty when signed, now has content"))
        elif path in act_empty and path in exp_files:
            missing.remove(path)
            changes.append(FileChange(path, ChangeKind.MODIFIED, "now empty (0 bytes)"))
        elif path in exp_empty:
            changes.append(FileChange(path, ChangeKind.MISSING))
        else:
            changes.append(FileChange(path, ChangeKind.ADDED, "empty file, not signed"))
    added = [p for p in act_files if p not in exp_files]

    # A file that became a folder (or the reverse) is reported once, as a type change.
    act_dirs = {p.rsplit("/", 1)[0] for p in act_files if "/" in p}
    exp_dirs = {p.rsplit("/", 1)[0] for p in exp_files if "/" in p}
    act_dirs = {d for p in act_dirs for d in _ancestors(p)}
    exp_dirs = {d for p in exp_dirs for d in _ancestors(p)}
    for path in list(missing):
        if path in act_dirs:
            missing.remove(path)
            changes.append(FileChange(path, ChangeKind.TYPE_CHANGED, "file replaced by a folder"))
    for path in list(added):
        if path in exp_dirs:
            added.remove(path)
            changes.append(FileChange(path, ChangeKind.TYPE_CHANGED, "folder replaced by a file"))

    # Renames: same content under a new path, paired one to one in path order.
    pool: dict[tuple, list[str]] = {}
    for path in sorted(added, key=path_sort_key):
        pool.setdefault(_content(act_files[path], method), []).append(path)
    renamed_to: set[str] = set()
    for path in sorted(missing, key=path_sort_key):
        candidates = pool.get(_content(exp_files[path], method))
        if candidates:
            new = candidates.pop(0)
            renamed_to.add(new)
            changes.append(FileChange(new, ChangeKind.RENAMED, f"renamed from {path}", old_path=path))
        else:
            changes.append(FileChange(path, ChangeKind.MISSING, "signed file not found"))
    for path in added:
        if path not in renamed_to:
            changes.append(FileChange(path, ChangeKind.ADDED, "file not in the signed manifest"))
    if only is not None:
        for path in sorted(set(only) - set(exp_files) - set(act_files)):
            changes.append(FileChange(path, ChangeKind.MISSING, "requested file is neither signed nor present"))
    changes.sort(key=lambda c: path_sort_key(c.path))
    return changes


def _ancestors(folder: str) -> list[str]:
    parts = folder.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
