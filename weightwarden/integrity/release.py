"""Sign a model release and verify one: the whole workflow, from files on disk to a bundle and back.

Usage::

    from weightwarden.integrity.release import sign_model, verify_model
    from weightwarden.integrity.signing import KeySigner
    from weightwarden.integrity.verifying import KeyVerifier

    bundle = sign_model("my-model", KeySigner(key_pem), freshness=Freshness(3, now_rfc3339()))
    report = verify_model("download/my-model", "download/my-model/model.sig", KeyVerifier(pub_pem))
    report.verified, report.reasons, report.changes        # see weightwarden.integrity.report

:func:`sign_model` hashes the model (:func:`weightwarden.integrity.hashing.digest_model`), builds the
in-toto statement (with our tensor and freshness extensions), signs it and writes the bundle. The default
bundle path is ``model.sig`` inside a model folder and ``<file>.sig`` beside a single-file model
(model-signing's own CLI default is ``model.sig`` in the current directory); the bundle file is always left
out of the hash.

:func:`verify_model` works in a fixed order, and stops at the first step that fails:

1. the bundle's signature and signer identity (a bad signature ends verification: nothing the bundle
   says is looked at before its signature checks out);
2. the statement: shape, predicate type, subject digest = root digest of the listed resources;
3. freshness (our extension): expired, superseded by a version the user already trusts (a rollback);
4. the files, re-hashed with exactly the serialization the statement declares, then compared per file
   (and per tensor for safetensors/GGUF when the statement carries tensor digests).

``only=`` re-hashes just the named files, but they are still checked against the signed statement, whose
complete resource list produced the signed root digest; a name the statement does not list is refused.
Problems with the inputs (a malformed bundle, an empty model folder, a symbolic link) end as "not
verified" with a reason; only an unreadable bundle file raises (``OSError``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from weightwarden.integrity.manifest import (
    DEFAULT_IGNORE_PATHS,
    ChangeKind,
    FileChange,
    Manifest,
    ManifestError,
)
from weightwarden.integrity.report import FreshnessVerdict, VerificationReport, shown_name
from weightwarden.integrity.statement import Freshness, StatementError

__all__ = ["bundle_digest", "default_signature_path", "now_rfc3339", "parse_time", "sign_model", "verify_model"]

DEFAULT_SIGNATURE_NAME = "model.sig"


class _Signer(Protocol):
    def sign(self, payload: bytes) -> Any: ...


class _Verifier(Protocol):
    def verify(self, bundle: Any) -> Any: ...


def now_rfc3339(now: dt.datetime | None = None) -> str:
    """``now`` (default: the current time) as RFC 3339 UTC with a ``Z``, to the second."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 time or a bare ``YYYY-MM-DD`` date (midnight UTC) as an aware datetime; ValueError if not."""
    value = dt.datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def bundle_digest(data: bytes) -> str:
    """``sha256:<hex>`` of a bundle file's bytes: the value a later release's ``supersedes`` names."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def default_signature_path(model: str | os.PathLike[str]) -> Path:
    """``<folder>/model.sig`` for a folder, ``<file>.sig`` beside a single-file model."""
    path = Path(model)
    if path.is_dir():
        return path / DEFAULT_SIGNATURE_NAME
    return path.with_name(path.name + ".sig")


def interoperability_warnings(*, method: str, hash_type: str) -> list[str]:
    """What a bundle signed this way cannot do elsewhere: said before signing, so a publisher can choose."""
    out = []
    if method == "shards" and hash_type == "blake3":
        # model-signing 1.1.1 bypasses sharding for BLAKE3 (its use_shard_serialization says so), so it
        # cannot recompute a sharded BLAKE3 manifest and refuses such a bundle.
        out.append("model-signing cannot verify a sharded BLAKE3 bundle (it never shards BLAKE3); "
                   "only weightwarden verify will accept it: drop --shards or use --hash sha256 to interoperate")
    return out


def sign_model(
    path: str | os.PathLike[str],
    signer: _Signer,
    *,
    hash_type: str = "sha256",
    method: str = "files",
    shard_size: int | None = None,
    ignore_paths: Iterable[str | os.PathLike[str]] = (),
    allow_symlinks: bool = False,
    freshness: Freshness | None = None,
    previous_bundle: str | os.PathLike[str] | bytes | None = None,
    signature_path: str | os.PathLike[str] | None = None,
    include_tensors: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    reuse_bundle: str | os.PathLike[str] | None = None,
    record: list[tuple[str, Any, bool]] | None = None,
    notes: list[str] | None = None,
) -> Any:
    """Hash, describe, sign the model at ``path``; write the bundle and return it (a ``Bundle``).

    ``signer`` is any object with ``sign(payload) -> Bundle`` (KeySigner, CertificateSigner,
    SigstoreSigner). ``previous_bundle`` (a path or the bundle's bytes) sets ``freshness.supersedes`` to
    its digest and needs ``freshness`` (a release version). Raises ManifestError (the model cannot be
    signed: empty, bad names, links), ValueError (bad arguments), the signer's SigningError, OSError.

    Beside the bundle a state sidecar is written (:mod:`weightwarden.integrity.reuse`); with
    ``reuse_bundle`` (an earlier bundle of this model, with its sidecar) the files whose size, times and
    inode did not change are not hashed again. ``record`` receives ``(file, state, reused)`` per file;
    ``notes`` why nothing could be reused, when that happens.
    """
    model = Path(path)
    sig_path = Path(signature_path) if signature_path is not None else default_signature_path(model)
    if previous_bundle is not None:
        if freshness is None:
            raise ValueError("previous_bundle needs freshness (the new release's version)")
        if isinstance(previous_bundle, bytes):
            raw = previous_bundle
        else:
            from weightwarden.integrity.bundle import read_bundle_file

            raw = read_bundle_file(previous_bundle)
        freshness = Freshness(freshness.version, freshness.issued_at, freshness.expires, bundle_digest(raw))
    if freshness is not None:
        _check_freshness_input(freshness)

    from weightwarden.integrity.hashing import DEFAULT_SHARD_SIZE, digest_model, tensor_evidence_kind
    from weightwarden.integrity.reuse import load_plan, sidecar_path, write_sidecar
    from weightwarden.integrity.statement import build_statement

    ignores = [*ignore_paths]
    if model.is_dir():
        ignores.append(os.path.abspath(sig_path))  # dropped by the walker when it is outside the folder
        ignores.append(os.path.abspath(sidecar_path(sig_path)))  # the reuse state: never signed
    evidence = tensor_evidence_kind(hash_type, method) if include_tensors else None
    plan = None
    if reuse_bundle is not None:
        plan = load_plan(reuse_bundle, method=method, hash_type=hash_type,
                         shard_size=(shard_size or DEFAULT_SHARD_SIZE) if method == "shards" else None,
                         tensor_hash=evidence, own_public_key=getattr(signer, "public_key", None))
        if plan.reason and notes is not None:
            notes.append(f"nothing reused: {plan.reason}")
    states: list[tuple[str, Any, bool]] = []
    # Tensor evidence is not computed when it will not be signed (as BLAKE3 digests it is a second hash).
    manifest = digest_model(model, hash_type=hash_type, method=method, shard_size=shard_size,
                            ignore_paths=ignores, allow_symlinks=allow_symlinks, tensors=include_tensors,
                            workers=workers, progress=progress, reuse=plan, record=states,
                            on_listed=_refuse_uncovered)
    if record is not None:
        record.extend(states)
    statement = build_statement(manifest, freshness=freshness, include_tensors=include_tensors)
    import json

    payload = json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    bundle = signer.sign(payload)
    data = bundle.to_json()
    sig_path.write_bytes(data)
    write_sidecar(sig_path, data, manifest, [(name, state) for name, state, _ in states], evidence)
    return bundle


def _refuse_uncovered(root: str, ignored: tuple[str, ...], listed: list[tuple[str, str]]) -> None:
    """Sign refuses a folder in which a loader reaches a file the manifest leaves out (before hashing anything).

    Refused, not included: model-signing's verifier applies the default git ignores and the signed ignore_paths
    whatever the manifest lists, so a manifest that listed ``.git/shard`` would be one it can never verify, and
    a manifest cannot list one file of an ignored folder without un-ignoring the rest (docs/decisions.md,
    "Verify covers every loader-reachable file")."""
    from weightwarden.integrity.coverage import uncovered_references

    found = uncovered_references(root, (real for _, real in listed), ignored)
    if found:
        shown = "; ".join(u.message() for u in found[:10])
        more = f" (and {len(found) - 10} more)" if len(found) > 10 else ""
        raise ManifestError(
            f"{len(found)} file(s) a loader reaches would not be covered by the signature: {shown}{more}. "
            "Move the file into the signed part of the folder and name it there (or remove the reference); "
            "ignored paths (.git, .github, .gitignore, .gitattributes, --ignore-paths, the signature) are never "
            "signed, so model-signing could not verify them either")


def _check_freshness_input(freshness: Freshness) -> None:
    if isinstance(freshness.version, bool) or not isinstance(freshness.version, int) or freshness.version < 0:
        raise ValueError(f"freshness version must be a non-negative integer, got {freshness.version!r}")
    for what, value in (("issued_at", freshness.issued_at), ("expires", freshness.expires)):
        if value is not None:
            try:
                parse_time(value)
            except (ValueError, TypeError):
                raise ValueError(f"freshness {what} is not an RFC 3339 time: {value!r}") from None
    if freshness.expires is not None and parse_time(freshness.expires) <= parse_time(freshness.issued_at):
        raise ValueError("freshness expires must be after issued_at")


def verify_model(
    path: str | os.PathLike[str],
    bundle_path: str | os.PathLike[str],
    verifier: _Verifier,
    *,
    only: Iterable[str] | None = None,
    trusted_version: int | None = None,
    now: dt.datetime | None = None,
    ignore_paths: Iterable[str | os.PathLike[str]] = (),
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> VerificationReport:
    """Verify the model at ``path`` against the bundle at ``bundle_path``; never raises for bad content.

    ``verifier``: KeyVerifier, CertificateVerifier or SigstoreVerifier. ``trusted_version``: the last
    release version the user trusted (a lower signed version is a rollback and refused). ``now``: the
    time freshness is judged at (default: the current time). ``ignore_paths``: extra paths to leave out
    of the re-hash, on top of those the statement declares (as model-signing's ``--ignore_paths``).
    ``allow_symlinks``: also follow links that leave the model folder (or its hub-cache repository); links
    inside it are always read through. The signer's choice is not trusted for this: the local copy is
    the verifier's, not the signer's.
    ``progress(bytes_done, bytes_total)`` is called from hashing threads, for each pass over the files.
    Raises OSError only when the bundle file cannot be read.
    """
    model, bundle_file = Path(path), Path(bundle_path)
    only_list = None if only is None else [_normalise(n) for n in only]
    report = VerificationReport(model=str(model), bundle=str(bundle_file), only=only_list)
    from weightwarden.integrity.bundle import BundleError, parse_bundle, read_bundle_file

    raw = read_bundle_file(bundle_file)
    report.bundle_digest = bundle_digest(raw)

    # 1. signature and signer, before anything the bundle says is believed
    from weightwarden.integrity.verifying import VerificationError

    try:
        bundle = parse_bundle(raw)
    except BundleError as exc:
        return report.fail("bundle", f"malformed bundle: {exc.reason}")
    try:
        verified = verifier.verify(bundle)
    except VerificationError as exc:
        return report.fail("signature", exc.reason)
    report.signer, report.method = verified.signer, verified.method
    report.warnings.extend(verified.warnings)
    if verified.extension:
        report.warnings.append("signed with a weightwarden extension (Ed25519): model-signing cannot verify it")

    # 2. the statement
    from weightwarden.integrity.statement import read_statement

    try:
        parsed = read_statement(verified.payload)
    except StatementError as exc:
        return report.fail("statement", f"signed statement is not usable: {exc.reason}")
    signed = parsed.manifest
    report.set_manifest(parsed)
    if parsed.legacy:
        report.warnings.append("model-signing v0.2 statement (one subject per file, no root digest)")
    elif parsed.subject_name and parsed.subject_name != _model_name(model):
        # Downloads land in folders of any name (a hub cache uses commit hashes): worth saying, not failing.
        report.warnings.append(f"signed model name is {parsed.subject_name!r}, the local one is "
                               f"{_model_name(model)!r}")

    # 3. freshness
    report.freshness = judge_freshness(parsed.freshness, trusted_version, now)
    report.reasons.extend(report.freshness.reasons)

    # 4. the files, hashed the way the statement says they were
    # (with ``only``, a requested name the statement does not list comes back from diff as added/missing)
    try:
        from weightwarden.integrity._hashing import sha256_state
        from weightwarden.integrity.hashing import digest_model
        from weightwarden.integrity.manifest import SHA256_STATE, diff

        stateful = signed.tensor_hash == SHA256_STATE

        uncovered: list[Any] = []

        def collect(root: str, ignored: tuple[str, ...], listed: list[tuple[str, str]]) -> None:
            from weightwarden.integrity.coverage import uncovered_references

            uncovered.extend(uncovered_references(root, (real for _, real in listed), ignored))

        def rehash(names: list[str] | None, tensors: bool, check: bool = False) -> Manifest:
            return digest_model(
                model, hash_type=signed.spec.hash_type, method=signed.spec.method,
                shard_size=signed.spec.shard_size,
                ignore_paths=[*signed.spec.ignore_paths, *ignore_paths, os.path.abspath(bundle_file)],
                ignore_git_paths=not _signs_git_paths(signed), allow_symlinks=allow_symlinks,
                tensors=tensors, tensor_hash_type=signed.tensor_hash, only=names, workers=workers, progress=progress,
                tensor_origins=signed.tensor_states_by_file() if stateful and tensors else None,
                on_listed=collect if check else None)

        # Per-tensor evidence would hash every tensor byte a second time; an intact file does not need it.
        # So the files are hashed first, and only the files that changed are read again, per tensor.
        # The listing also asks which files loaders reach through a name (a shard index, a link): each must be a
        # file the manifest reads, or a loader reads bytes nobody signed (docs/decisions.md, "Verify covers every
        # loader-reachable file"). Checked for the whole folder, also with ``only``.
        actual = rehash(only_list, tensors=False, check=True)
        if only_list is None and signed.resources and signed.resources[0].name == "." and model.is_dir():
            return report.fail("files", "the signature is for a single-file model, but a folder was given")
        if only_list is None and model.is_file() and signed.resources[0].name != ".":
            return report.fail("files", "the signature is for a model folder, but a single file was given")
        changes = diff(signed, actual, only=only_list)
        signed_tensor_files = signed.tensors_by_file()
        modified = [c.path for c in changes if c.status == ChangeKind.MODIFIED and c.path in signed_tensor_files]
        if modified and stateful and not sha256_state.available():
            report.warnings.append("the changed tensors cannot be named here: the signed tensor evidence "
                                   f"({SHA256_STATE}) needs OpenSSL's SHA-256, which this Python cannot use")
        elif modified:
            detailed = {c.path: c for c in diff(signed, rehash(modified, tensors=True), only=modified)}
            changes = [detailed.get(c.path, c) if c.path in modified else c for c in changes]
        report.changes = _with_uncovered(changes, uncovered, report)
    except ManifestError as exc:
        return report.fail("files", exc.reason)
    bad = [c for c in report.changes if c.status != "ok"]
    for change in bad:
        report.reasons.append(f"{shown_name(change.path)}: {change.status}"
                              + (f" ({change.detail})" if change.detail else ""))
    report.stage = "done"
    report.verified = not report.reasons
    return report


def _with_uncovered(changes: list[FileChange], uncovered: list[Any], report: VerificationReport) -> list[FileChange]:
    """Each loader-reachable file the manifest does not read becomes an ``added`` change (a file present that the
    signed release does not hold, which a loader opens); a reach that could not be followed is a reason."""
    from weightwarden.integrity.manifest import path_sort_key

    known = {c.path for c in changes}
    out = list(changes)
    for item in uncovered:
        if not item.path:
            report.reasons.append(item.message())
        elif item.path not in known:
            known.add(item.path)
            out.append(FileChange(item.path, ChangeKind.ADDED, item.detail))
    out.sort(key=lambda c: path_sort_key(c.path))
    return out


def judge_freshness(fresh: Freshness | None, trusted_version: int | None,
                    now: dt.datetime | None) -> FreshnessVerdict:
    """What a release's signed freshness data means at ``now``: the one verdict ``verify`` and the registry's
    ``check`` share (expired, dated in the future, rolled back below ``trusted_version``)."""
    verdict = FreshnessVerdict(signed=fresh, trusted_version=trusted_version)
    if fresh is None:
        if trusted_version is not None:
            verdict.reasons.append("the bundle carries no signed release version, so a rollback below the "
                                   f"trusted version {trusted_version} cannot be ruled out")
        return verdict
    when = now or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        issued = parse_time(fresh.issued_at)
        if issued > when + dt.timedelta(minutes=5):  # a little clock skew is tolerated
            verdict.reasons.append(f"release is dated in the future ({fresh.issued_at})")
    except ValueError:
        verdict.reasons.append(f"signed issued_at is not a time: {fresh.issued_at!r}")
    if fresh.expires is not None:
        try:
            verdict.expired = parse_time(fresh.expires) < when
        except ValueError:
            verdict.reasons.append(f"signed expiry is not a time: {fresh.expires!r}")
        else:
            if verdict.expired:
                verdict.reasons.append(f"release expired on {fresh.expires}")
    if trusted_version is not None:
        verdict.superseded = fresh.version < trusted_version
        verdict.rollback = verdict.superseded
        if verdict.rollback:
            verdict.reasons.append(f"rollback refused: signed version {fresh.version} is older than the "
                                   f"trusted version {trusted_version}")
    return verdict


def _signs_git_paths(manifest: Any) -> bool:
    """Did the signer include git files (then they must be hashed, not ignored, on verify)?"""
    return any(name.split("/", 1)[0] in DEFAULT_IGNORE_PATHS for name in manifest.files())


def _model_name(model: Path) -> str:
    return model.name or os.path.basename(os.path.realpath(model))


def _normalise(name: str) -> str:
    name = os.fspath(name).replace(os.sep, "/")
    while name.startswith("./"):
        name = name[2:]
    return name


_judge_freshness = judge_freshness  # the earlier private name
