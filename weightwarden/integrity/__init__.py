"""Integrity of model releases: hash a model, describe it as a manifest, sign and verify it.

Usage::

    from weightwarden.integrity import digest_model, build_statement, read_statement, diff
    manifest = digest_model("path/to/model")            # files + SHA-256, as OpenSSF model-signing
    statement = build_statement(manifest)               # the in-toto statement model-signing signs
    signed = read_statement(payload).manifest
    changes = diff(signed, digest_model("download", **same_spec, tensor_hash_type=signed.tensor_hash,
                                        tensor_origins=signed.tensor_states_by_file()))

Modules: :mod:`.hashing` (the engine's public entry point), :mod:`.manifest` (names, order, root digest,
comparison), :mod:`.statement` (in-toto statement build/parse). Signing, bundles and verification live in
their own modules; :mod:`.release` has the whole workflow (``sign_model``, ``verify_model``) and
:mod:`.report` its result (``VerificationReport``). Names are imported lazily so that
``import weightwarden.integrity`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weightwarden.core.lazy import lazy_exports

_EXPORTS = {
    "digest_model": "weightwarden.integrity.hashing",
    "DEFAULT_SHARD_SIZE": "weightwarden.integrity.manifest",
    "DEFAULT_IGNORE_PATHS": "weightwarden.integrity.manifest",
    "ChangeKind": "weightwarden.integrity.manifest",
    "FileChange": "weightwarden.integrity.manifest",
    "Manifest": "weightwarden.integrity.manifest",
    "ManifestError": "weightwarden.integrity.manifest",
    "ResourceDigest": "weightwarden.integrity.manifest",
    "SerializationSpec": "weightwarden.integrity.manifest",
    "TensorDigest": "weightwarden.integrity.manifest",
    "diff": "weightwarden.integrity.manifest",
    "Freshness": "weightwarden.integrity.statement",
    "ParsedStatement": "weightwarden.integrity.statement",
    "StatementError": "weightwarden.integrity.statement",
    "build_statement": "weightwarden.integrity.statement",
    "parse_statement": "weightwarden.integrity.statement",
    "read_statement": "weightwarden.integrity.statement",
    "sign_model": "weightwarden.integrity.release",
    "verify_model": "weightwarden.integrity.release",
    "VerificationReport": "weightwarden.integrity.report",
}

__all__ = [
    "ChangeKind",
    "DEFAULT_IGNORE_PATHS",
    "DEFAULT_SHARD_SIZE",
    "FileChange",
    "Freshness",
    "Manifest",
    "ManifestError",
    "ParsedStatement",
    "ResourceDigest",
    "SerializationSpec",
    "StatementError",
    "TensorDigest",
    "VerificationReport",
    "build_statement",
    "diff",
    "digest_model",
    "parse_statement",
    "read_statement",
    "sign_model",
    "verify_model",
]

if TYPE_CHECKING:
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.integrity.manifest import (
        DEFAULT_IGNORE_PATHS,
        DEFAULT_SHARD_SIZE,
        ChangeKind,
        FileChange,
        Manifest,
        ManifestError,
        ResourceDigest,
        SerializationSpec,
        TensorDigest,
        diff,
    )
    from weightwarden.integrity.release import sign_model, verify_model
    from weightwarden.integrity.report import VerificationReport
    from weightwarden.integrity.statement import (
        Freshness,
        ParsedStatement,
        StatementError,
        build_statement,
        parse_statement,
        read_statement,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
