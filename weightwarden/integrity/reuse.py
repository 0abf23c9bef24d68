"""Re-signing after a small edit without re-hashing what did not change: ``sign --reuse PREVIOUS_BUNDLE``.

A 1 KB README change on a 500 GB model should not cost hours of hashing. Every ``sign`` writes, beside
the bundle, a *state sidecar* (``<bundle>.state.json``, schema ``weightwarden.sign-state/v1``): for each
file hashed, its size, modification and change times (ns), inode and device, taken just *before* it was
hashed, plus the digest of the bundle it belongs to. ``sign --reuse OLD.sig`` then takes from OLD.sig's
signed statement the digests (and tensor evidence) of every file whose five values are unchanged, and
hashes the rest. The sidecar is never part of the signed payload; when it lies inside the model folder
its path is one of the signed ``ignore_paths`` (like the bundle's own), so neither weightwarden nor
model-signing verifiers count it as an added file.

Why these five values: content can change without the size changing, and ``touch`` can put an old
modification time back, but the change time (ctime) is set by the kernel on every write and cannot be
set by a user; a replaced file (``mv new old``) has a new inode. Nothing here weakens ``verify``: it always
re-hashes everything. What reuse trusts is the publisher's own disk between two signings (a file rewritten
with identical size, mtime, ctime and inode is not possible without kernel-level access).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.integrity.manifest import (
    Manifest,
    ManifestError,
    ResourceDigest,
    TensorDigest,
    split_shard_name,
)

SIDECAR_SUFFIX = ".state.json"
SCHEMA = "weightwarden.sign-state/v1"
MAX_SIDECAR_BYTES = 256 * 1024 * 1024

__all__ = ["SIDECAR_SUFFIX", "FileState", "ReusePlan", "file_state", "load_plan", "sidecar_path", "write_sidecar"]


@dataclass(frozen=True, slots=True)
class FileState:
    """What must be equal for a file's previous digest to be reused."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int

    def to_dict(self) -> dict[str, int]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns, "ino": self.ino,
                "dev": self.dev}


def file_state(path: str | os.PathLike[str]) -> FileState:
    st = os.stat(path)
    return FileState(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def sidecar_path(bundle_path: str | os.PathLike[str]) -> Path:
    p = Path(bundle_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


@dataclass(frozen=True)
class ReusePlan:
    """The previous release's digests by file, usable where the file's state is unchanged.

    ``reason`` says why nothing can be reused (different serialization, missing or stale sidecar), or is
    empty."""

    states: dict[str, FileState]
    resources: dict[str, tuple[ResourceDigest, ...]]
    tensors: dict[str, tuple[TensorDigest, ...]]
    reason: str = ""

    def take(self, name: str, now: FileState) -> tuple[tuple[ResourceDigest, ...], tuple[TensorDigest, ...]] | None:
        """The previous digests of ``name`` if its state is unchanged, else None."""
        if self.reason or self.states.get(name) != now or name not in self.resources:
            return None
        return self.resources[name], self.tensors.get(name, ())


def _empty(reason: str) -> ReusePlan:
    return ReusePlan({}, {}, {}, reason)


def load_plan(previous_bundle: str | os.PathLike[str], *, method: str, hash_type: str, shard_size: int | None,
              tensor_hash: str | None, own_public_key: Any = None) -> ReusePlan:
    """What can be reused from ``previous_bundle`` for a signing with these settings (never raises for a
    bad or missing sidecar: the plan then reuses nothing and says why).

    The digests reused are signed again, so they must be the signer's own: the previous bundle's signature
    is checked with ``own_public_key`` (the public half of the key signing now). Without that check, anyone
    able to write a "previous bundle" and sidecar beside the model could have the publisher sign the digest
    of a file of their choosing and swap the file in later."""
    from weightwarden.core.strict_json import StrictJSONError, loads
    from weightwarden.integrity.bundle import BundleError, parse_bundle, read_bundle_file
    from weightwarden.integrity.statement import StatementError, read_statement

    try:
        raw = read_bundle_file(previous_bundle)
    except OSError as exc:
        raise ManifestError(f"--reuse: cannot read {previous_bundle}: {exc.strerror or exc}") from None
    side = sidecar_path(previous_bundle)
    try:
        if side.stat().st_size > MAX_SIDECAR_BYTES:
            return _empty(f"{side.name} is larger than {MAX_SIDECAR_BYTES} bytes")
        state = loads(side.read_bytes())
    except OSError:
        return _empty(f"no state file {side.name} beside the previous bundle (it was not signed by this "
                      "version of weightwarden, or the file was removed)")
    except StrictJSONError as exc:
        return _empty(f"{side.name}: {exc.reason}")
    if not isinstance(state, dict) or state.get("schema") != SCHEMA:
        return _empty(f"{side.name} is not a {SCHEMA} file")
    if state.get("bundle_digest") != "sha256:" + hashlib.sha256(raw).hexdigest():
        return _empty(f"{side.name} belongs to another bundle than {Path(previous_bundle).name}")
    if own_public_key is None:
        return _empty("--reuse needs a key or certificate signer, whose key can check the previous signature")
    try:
        bundle = parse_bundle(raw)
        parsed = read_statement(bundle.payload)
    except (BundleError, StatementError) as exc:
        return _empty(f"the previous bundle cannot be read: {exc.reason}")
    from weightwarden.integrity._crypto import keys
    from weightwarden.integrity._crypto.dsse import pae
    from weightwarden.integrity._crypto.errors import CryptoError

    env = bundle.envelope
    try:
        own = keys.verify(own_public_key, env.signature.sig, pae(env.payload_type, env.payload))
    except CryptoError:
        own = False
    if not own:
        return _empty(f"{Path(previous_bundle).name} is not signed with the key signing now; only your own "
                      "earlier signatures are reused")
    prev: Manifest = parsed.manifest
    spec = prev.spec
    if (spec.method, spec.hash_type, spec.shard_size) != (method, hash_type, shard_size):
        return _empty(f"the previous bundle was hashed as {spec.method}/{spec.hash_type}"
                      f"{f'/{spec.shard_size}' if spec.shard_size else ''}, not {method}/{hash_type}"
                      f"{f'/{shard_size}' if shard_size else ''}")
    if state.get("tensor_hash") != tensor_hash:
        return _empty(f"the previous signing made {state.get('tensor_hash') or 'no'} tensor evidence, this "
                      f"one makes {tensor_hash or 'none'}")
    states: dict[str, FileState] = {}
    files = state.get("files")
    if not isinstance(files, dict):
        return _empty(f"{side.name} lists no files")
    for name, values in files.items():
        try:
            states[name] = FileState(**{k: int(values[k]) for k in ("size", "mtime_ns", "ctime_ns", "ino", "dev")})
        except (KeyError, TypeError, ValueError):
            return _empty(f"{side.name}: bad entry for {name!r}")
    resources: dict[str, list[ResourceDigest]] = {}
    for r in prev.resources:
        file = split_shard_name(r.name)[0] if method == "shards" else r.name
        resources.setdefault(file, []).append(r)
    for empty in prev.empty_files or ():
        resources.setdefault(empty, [])
    tensors: dict[str, list[TensorDigest]] = {}
    for t in prev.tensors:
        tensors.setdefault(t.file, []).append(t)
    return ReusePlan(states, {k: tuple(v) for k, v in resources.items()},
                     {k: tuple(v) for k, v in tensors.items()})


def write_sidecar(bundle_path: str | os.PathLike[str], bundle_bytes: bytes, manifest: Manifest,
                  states: Iterable[tuple[str, FileState]], tensor_hash: str | None) -> Path:
    """Record the state of every file just signed beside the bundle (atomically: write, then rename)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "bundle_digest": "sha256:" + hashlib.sha256(bundle_bytes).hexdigest(),
        "serialization": {"method": manifest.spec.method, "hash_type": manifest.spec.hash_type,
                          "shard_size": manifest.spec.shard_size},
        "tensor_hash": tensor_hash,  # the evidence kind this signing made (None: --no-tensor-digests)
        "files": {name: st.to_dict() for name, st in states},
    }
    path = sidecar_path(bundle_path)
    tmp = path.with_name(path.name + ".tmp")
    # A fresh file, never through a link planted at the temporary name (the model folder may be someone
    # else's); os.replace then swaps the name itself, not a link's target.
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(doc, separators=(",", ":")))
    os.replace(tmp, path)
    return path
