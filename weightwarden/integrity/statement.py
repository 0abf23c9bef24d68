"""The in-toto Statement v1 that model-signing signs, built from and parsed into a :class:`Manifest`.

Usage::

    from weightwarden.integrity.statement import build_statement, read_statement
    statement = build_statement(manifest, freshness=Freshness(version=3, issued_at="2026-11-27T13:00:00Z"))
    parsed = read_statement(payload_bytes)        # StatementError(reason) on anything malformed
    parsed.manifest, parsed.freshness

Layout (model-signing 1.1.1, predicate ``https://model_signing/signature/v1.0``)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": <model name>, "digest": {"sha256": <root digest hex>}}],
     "predicateType": "https://model_signing/signature/v1.0",
     "predicate": {"serialization": {"method", "hash_type", "allow_symlinks", "ignore_paths"[, "shard_size"]},
                   "resources": [{"name", "algorithm", "digest"}, ...]}}

The parser accepts what model-signing 0.2 … 1.1.1 wrote: ``shards`` with ``<hash>-sharded-<N>`` algorithm
names and a float ``shard_size`` (``524288.0``), ``blake2`` for ``blake2b``, a missing ``ignore_paths``,
and the v0.2 predicate ``https://model_signing/Digests/v0.1`` (one subject per file). It checks that the
subject digest is the root digest of the resources, so a statement cannot say one thing to a v1.0 verifier
and another to us.

Extension (ours, ignored by v1.0 verifiers): ``predicate["weightwarden"]`` =
``{"schema": "weightwarden.integrity/v1", "tensor_hash": <kind>, "tensors": {file: [{"name", "start", "end",
"digest"}]}, "freshness": {"version", "issued_at", "expires", "supersedes"}}``. For ``tensor_hash`` =
``sha256-state`` the tensor entries carry no digest; ``"tensor_states": {file: {"<offset>": <hex state>}}``
holds the file's SHA-256 state at every tensor boundary instead (32 bytes of H + ``offset % 64`` pending
bytes; see ``weightwarden.integrity._hashing.sha256_state``). Freshness is carried as data here; what it
means is decided by the verifier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weightwarden.core.errors import InputError
from weightwarden.integrity.manifest import (
    DIGEST_SIZES,
    HASH_TYPES,
    SHA256_STATE,
    SINGLE_FILE_NAME,
    Manifest,
    ManifestError,
    ResourceDigest,
    SerializationSpec,
    TensorDigest,
    check_names,
    resource_sort_key,
    split_shard_name,
)

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
LEGACY_PREDICATE_TYPE = "https://model_signing/Digests/v0.1"
EXTENSION_KEY = "weightwarden"
EXTENSION_SCHEMA = "weightwarden.integrity/v1"
HASH_ALIASES = {"blake2": "blake2b"}
MAX_RESOURCES = 10_000_000


class StatementError(InputError, ValueError):
    """A statement that is not a well-formed model-signing statement; ``reason`` says what is wrong."""


@dataclass(frozen=True, slots=True)
class Freshness:
    """Signed release metadata (extension): a monotonically increasing ``version``, RFC 3339 times, and
    ``supersedes`` = the digest (``"sha256:<hex>"``) of the previous bundle."""

    version: int
    issued_at: str
    expires: str | None = None
    supersedes: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    manifest: Manifest
    subject_name: str
    subject_digest: bytes
    freshness: Freshness | None = None
    legacy: bool = False  # the v0.2 ``Digests/v0.1`` predicate (no serialization spec, no root digest)


# ---------------------------------------------------------------------------------------------------------
# Building


def build_statement(manifest: Manifest, *, freshness: Freshness | None = None,
                    include_tensors: bool = True) -> dict[str, Any]:
    """The statement dict for ``manifest`` (resources in model-signing order), ready to be JSON-encoded."""
    spec = manifest.spec
    serialization: dict[str, Any] = {
        "method": spec.method,
        "hash_type": spec.hash_type,
        "allow_symlinks": spec.allow_symlinks,
        "ignore_paths": list(spec.ignore_paths),
    }
    if spec.method == "shards":
        serialization["shard_size"] = spec.shard_size
    resources = sorted(manifest.resources, key=lambda r: resource_sort_key(r.name, spec.method))
    predicate: dict[str, Any] = {
        "serialization": serialization,
        "resources": [{"name": r.name, "algorithm": r.algorithm, "digest": r.digest.hex()} for r in resources],
    }
    ext: dict[str, Any] = {}
    if include_tensors and manifest.tensors:
        stateful = manifest.tensor_hash == SHA256_STATE
        tensors: dict[str, list[dict[str, Any]]] = {}
        for t in manifest.tensors:
            entry: dict[str, Any] = {"name": t.name, "start": t.start, "end": t.end}
            if not stateful:
                entry["digest"] = t.digest.hex()
            tensors.setdefault(t.file, []).append(entry)
        ext["tensor_hash"] = manifest.tensor_hash
        ext["tensors"] = tensors
        if stateful:
            ext["tensor_states"] = {file: {str(offset): states[offset].hex() for offset in sorted(states)}
                                    for file, states in manifest.tensor_states_by_file().items()}
    if spec.method == "shards" and manifest.empty_files is not None:
        ext["empty_files"] = list(manifest.empty_files)
    if freshness is not None:
        ext["freshness"] = {"version": freshness.version, "issued_at": freshness.issued_at,
                            "expires": freshness.expires, "supersedes": freshness.supersedes}
    if ext:
        predicate[EXTENSION_KEY] = {"schema": EXTENSION_SCHEMA, **ext}
    ordered = Manifest(manifest.model_name, spec, tuple(resources), manifest.tensors, manifest.tensor_hash_type,
                       manifest.empty_files)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": ordered.root_digest().hex()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


# ---------------------------------------------------------------------------------------------------------
# Parsing


def parse_statement(data: bytes | str | Mapping[str, Any]) -> Manifest:
    """The manifest a statement describes; :class:`StatementError` if it is malformed."""
    return read_statement(data).manifest


def read_statement(data: bytes | str | Mapping[str, Any]) -> ParsedStatement:
    """Parse and check a statement (JSON bytes/text or an already decoded dict)."""
    try:
        return _read(data)
    except StatementError:
        raise
    except ManifestError as exc:
        raise StatementError(exc.reason) from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        # Belt and braces: the checks below should leave nothing for these to catch.
        raise StatementError(f"malformed statement: {type(exc).__name__}: {exc}") from None


def _read(data: bytes | str | Mapping[str, Any]) -> ParsedStatement:
    if isinstance(data, bytes | bytearray | str):
        from weightwarden.core.strict_json import StrictJSONError, loads

        try:
            obj = loads(data)  # a repeated key could mean one thing here and another to model-signing
        except StrictJSONError as exc:
            raise StatementError(f"statement: {exc.reason}") from None
    else:
        obj = data
    if not isinstance(obj, Mapping):
        raise StatementError("statement is not a JSON object")
    if obj.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"statement _type is {_short(obj.get('_type'))}, expected {STATEMENT_TYPE}")
    ptype = obj.get("predicateType")
    subjects = obj.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise StatementError("statement has no subject list")
    if ptype == LEGACY_PREDICATE_TYPE:
        return _read_legacy(subjects)
    if ptype != PREDICATE_TYPE:
        raise StatementError(f"predicateType is {_short(ptype)}, expected {PREDICATE_TYPE}")
    if len(subjects) != 1:
        raise StatementError(f"expected exactly one subject, found {len(subjects)}")
    subject = subjects[0]
    if not isinstance(subject, Mapping) or not isinstance(subject.get("name"), str):
        raise StatementError("subject must be an object with a string name")
    sdig = subject.get("digest")
    if not isinstance(sdig, Mapping) or not isinstance(sdig.get("sha256"), str):
        raise StatementError("subject digest must be an object with a sha256 hex string")
    subject_digest = _hex(sdig["sha256"], 32, "subject sha256 digest")

    predicate = obj.get("predicate")
    if not isinstance(predicate, Mapping):
        raise StatementError("predicate is not an object")
    spec = _read_spec(predicate.get("serialization"))
    resources = _read_resources(predicate.get("resources"), spec)
    tensors, tensor_hash, freshness = _read_extension(predicate.get(EXTENSION_KEY), spec, {r.name for r in resources})
    empty = _read_empty_files(predicate.get(EXTENSION_KEY), spec, {r.name for r in resources})
    manifest = Manifest(subject["name"], spec, resources, tensors, tensor_hash, empty)
    if manifest.root_digest() != subject_digest:
        raise StatementError("subject digest is not the SHA-256 of the resource digests (statement is "
                             "inconsistent)")
    return ParsedStatement(manifest, subject["name"], subject_digest, freshness)


def _read_spec(ser: Any) -> SerializationSpec:
    if not isinstance(ser, Mapping):
        raise StatementError("predicate.serialization is not an object")
    method = ser.get("method")
    if method not in ("files", "shards"):
        raise StatementError(f"unknown serialization method {_short(method)}")
    hash_type = ser.get("hash_type")
    if isinstance(hash_type, str):
        hash_type = HASH_ALIASES.get(hash_type, hash_type)
    if hash_type not in HASH_TYPES:
        raise StatementError(f"unsupported hash_type {_short(hash_type)}")
    allow = ser.get("allow_symlinks", False)
    if not isinstance(allow, bool):
        raise StatementError("serialization.allow_symlinks is not a boolean")
    ignore = ser.get("ignore_paths", [])
    if ignore is None:
        ignore = []
    if not isinstance(ignore, list) or not all(isinstance(p, str) for p in ignore):
        raise StatementError("serialization.ignore_paths is not a list of strings")
    shard_size = None
    if method == "shards":
        shard_size = _int_like(ser.get("shard_size"), "serialization.shard_size")
        if shard_size <= 0:
            raise StatementError("serialization.shard_size must be positive")
    return SerializationSpec(method, hash_type, allow, tuple(sorted(set(ignore))), shard_size)


def _read_resources(items: Any, spec: SerializationSpec) -> tuple[ResourceDigest, ...]:
    if not isinstance(items, list):
        raise StatementError("predicate.resources is not a list")
    if not items:
        raise StatementError("predicate.resources is empty: an empty model cannot be verified")
    if len(items) > MAX_RESOURCES:
        raise StatementError("too many resources")
    accepted = {spec.hash_type}
    if spec.method == "shards":
        accepted.add(f"{spec.hash_type}-sharded-{spec.shard_size}")
        if spec.hash_type == "blake2b":
            accepted.add(f"blake2-sharded-{spec.shard_size}")
    if spec.hash_type == "blake2b":
        accepted.add("blake2")
    size = DIGEST_SIZES[spec.hash_type]
    out: list[ResourceDigest] = []
    paths: list[str] = []
    seen_shards: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise StatementError(f"resource {i} is not an object")
        name, algorithm, digest = item.get("name"), item.get("algorithm"), item.get("digest")
        if not isinstance(name, str) or not isinstance(algorithm, str) or not isinstance(digest, str):
            raise StatementError(f"resource {i} needs string name, algorithm and digest")
        if algorithm not in accepted:
            raise StatementError(f"resource {_short(name)}: algorithm {_short(algorithm)} does not match "
                                 f"the serialization ({spec.resource_algorithm})")
        raw = _hex(digest, size, f"digest of resource {_short(name)}")
        if spec.method == "shards":
            try:
                path, start, end = split_shard_name(name)
            except ManifestError as exc:
                raise StatementError(exc.reason) from None
            assert spec.shard_size is not None
            if start >= end or start % spec.shard_size or end - start > spec.shard_size:
                raise StatementError(f"shard {_short(name)} is not a shard of size {spec.shard_size}")
            if name in seen_shards:
                raise StatementError(f"duplicate resource {_short(name)}")
            seen_shards.add(name)
            if path not in paths[-1:]:
                paths.append(path)
        else:
            paths.append(name)
        out.append(ResourceDigest(name, spec.resource_algorithm, raw))
    if spec.method == "files" and SINGLE_FILE_NAME in paths and len(paths) > 1:
        raise StatementError("resource '.' (single-file model) listed with other resources")
    try:
        check_names(dict.fromkeys(paths))
    except ManifestError as exc:
        raise StatementError(exc.reason) from None
    if spec.method == "files" and len(set(paths)) != len(paths):
        raise StatementError("duplicate resource names")
    return tuple(out)


def _read_extension(ext: Any, spec: SerializationSpec,
                    names: set[str]) -> tuple[tuple[TensorDigest, ...], str | None, Freshness | None]:
    if ext is None:
        return (), None, None
    if not isinstance(ext, Mapping) or ext.get("schema") != EXTENSION_SCHEMA:
        raise StatementError(f"predicate.{EXTENSION_KEY} is not a {EXTENSION_SCHEMA} object")
    files = {split_shard_name(n)[0] for n in names} if spec.method == "shards" else names
    tensors: list[TensorDigest] = []
    raw_tensors = ext.get("tensors", {})
    if not isinstance(raw_tensors, Mapping):
        raise StatementError("extension tensors is not an object")
    tensor_hash = ext.get("tensor_hash", spec.hash_type)
    stateful = tensor_hash == SHA256_STATE
    if stateful:
        if (spec.method, spec.hash_type) != ("files", "sha256"):
            raise StatementError(f"{SHA256_STATE} tensor evidence needs the files method with sha256")
        states = _read_tensor_states(ext.get("tensor_states"), files)
    elif tensor_hash not in DIGEST_SIZES:
        raise StatementError(f"extension tensor_hash {_short(str(tensor_hash))} is not a known hash type")
    for file, items in raw_tensors.items():
        if file not in files:
            raise StatementError(f"tensor digests for {_short(file)}, which is not a signed resource")
        if not isinstance(items, list):
            raise StatementError(f"tensor digests of {_short(file)} are not a list")
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise StatementError(f"bad tensor digest entry in {_short(file)}")
            start = _int_like(item.get("start"), "tensor start", allow_float=False)
            end = _int_like(item.get("end"), "tensor end", allow_float=False)
            if not 0 <= start <= end:
                raise StatementError(f"tensor {_short(item['name'])} has a bad byte range")
            if stateful:
                at = states.get(file, {})
                if start not in at or end not in at:
                    raise StatementError(f"tensor {_short(item['name'])} has no signed SHA-256 state at its "
                                         "start or end")
                tensors.append(TensorDigest(file, item["name"], start, end, at[end], at[start]))
                continue
            digest = item.get("digest")
            if not isinstance(digest, str):
                raise StatementError(f"tensor {_short(item['name'])} has no digest")
            tensors.append(TensorDigest(file, item["name"], start, end, _hex(
                digest, DIGEST_SIZES[tensor_hash], f"digest of tensor {_short(item['name'])}")))
    freshness = None
    raw_f = ext.get("freshness")
    if raw_f is not None:
        if not isinstance(raw_f, Mapping):
            raise StatementError("extension freshness is not an object")
        version = _int_like(raw_f.get("version"), "freshness.version", allow_float=False)
        issued = raw_f.get("issued_at")
        expires, supersedes = raw_f.get("expires"), raw_f.get("supersedes")
        if not isinstance(issued, str) or not all(v is None or isinstance(v, str) for v in (expires, supersedes)):
            raise StatementError("freshness issued_at/expires/supersedes must be strings")
        freshness = Freshness(version, issued, expires, supersedes)
    # No tensors listed (an extension with only freshness or empty files): no tensor evidence kind either.
    return tuple(tensors), (tensor_hash if tensors else None), freshness


def _read_empty_files(ext: Any, spec: SerializationSpec, names: set[str]) -> tuple[str, ...] | None:
    """The signed zero-byte files of a sharded manifest, checked like resource names; None when absent."""
    if spec.method != "shards" or not isinstance(ext, Mapping) or "empty_files" not in ext:
        return None
    raw = ext["empty_files"]
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise StatementError("extension empty_files is not a list of file names")
    if len(raw) > MAX_RESOURCES:
        raise StatementError(f"extension empty_files lists more than {MAX_RESOURCES} files")
    files = {split_shard_name(n)[0] for n in names}
    try:
        check_names([*raw, *files])  # no duplicates, no collision with a sharded file, no bad name
    except ManifestError as exc:
        raise StatementError(f"extension empty_files: {exc.reason}") from None
    return tuple(raw)


def _read_tensor_states(raw: Any, files: set[str]) -> dict[str, dict[int, bytes]]:
    """``{file: {"<offset>": hex}}`` → ``{file: {offset: state}}``, each state the right length for its offset."""
    if not isinstance(raw, Mapping):
        raise StatementError(f"{SHA256_STATE} tensor evidence without a tensor_states object")
    out: dict[str, dict[int, bytes]] = {}
    for file, table in raw.items():
        if file not in files:
            raise StatementError(f"tensor states for {_short(file)}, which is not a signed resource")
        if not isinstance(table, Mapping):
            raise StatementError(f"tensor states of {_short(file)} are not an object")
        states: dict[int, bytes] = {}
        for key, value in table.items():
            if not isinstance(key, str) or not key.isascii() or not key.isdigit() or len(key) > 20 \
                    or (len(key) > 1 and key[0] == "0"):
                raise StatementError(f"tensor state offset {_short(key)} in {_short(file)} is not a decimal number")
            offset = int(key)
            if not isinstance(value, str):
                raise StatementError(f"tensor state at {offset} in {_short(file)} is not a string")
            states[offset] = _hex(value, 32 + offset % 64, f"tensor state at {offset} in {_short(file)}")
        out[file] = states
    return out


def _read_legacy(subjects: list[Any]) -> ParsedStatement:
    """model-signing 0.2: one subject per file, digest in ``sha256``, hash named in an annotation."""
    resources: list[ResourceDigest] = []
    for i, s in enumerate(subjects):
        if not isinstance(s, Mapping) or not isinstance(s.get("name"), str) \
                or not isinstance(s.get("digest"), Mapping) or not isinstance(s["digest"].get("sha256"), str):
            raise StatementError(f"legacy subject {i} needs a name and a sha256 digest")
        ann = s.get("annotations") or {}
        algo = ann.get("actual_hash_algorithm", "file-sha256") if isinstance(ann, Mapping) else None
        if algo != "file-sha256":
            raise StatementError(f"legacy subject {_short(s['name'])}: unsupported hash {_short(algo)}")
        resources.append(ResourceDigest(s["name"], "sha256", _hex(s["digest"]["sha256"], 32, "legacy digest")))
    check_names([r.name for r in resources])
    spec = SerializationSpec("files", "sha256", False, ())
    manifest = Manifest("", spec, tuple(resources))
    return ParsedStatement(manifest, "", manifest.root_digest(), None, legacy=True)


def _int_like(value: Any, what: str, *, allow_float: bool = True) -> int:
    if isinstance(value, bool):
        raise StatementError(f"{what} is not an integer")
    if isinstance(value, int):
        return value
    if allow_float and isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise StatementError(f"{what} is not an integer: {_short(value)}")


def _hex(value: str, size: int, what: str) -> bytes:
    if len(value) != 2 * size:
        raise StatementError(f"{what} must be {2 * size} hex digits, got {len(value)} characters")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise StatementError(f"{what} is not hexadecimal") from None
    if len(raw) != size or value != value.strip():
        raise StatementError(f"{what} is not {size} bytes of hex")
    return raw


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
