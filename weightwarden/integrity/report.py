"""The result of verifying a model release, and how it is shown: :class:`VerificationReport`.

Built by :func:`weightwarden.integrity.release.verify_model`; read it, or render it::

    report = verify_model(...)
    report.verified, report.reasons          # the verdict, and why not
    report.changes                           # one FileChange per file: ok / modified / missing / added / ...
    json.dumps(report.to_dict())             # schema "weightwarden.verification/v1"
    weightwarden.report.verification_text.render(report)   # the per-file table, as ``weightwarden verify`` prints

``stage`` says how far verification got: ``bundle`` (unparseable), ``signature``, ``statement``, ``files``
(the model could not be hashed) or ``done``. A report that stopped early has no file verdicts. Rendering is
the report layer's job (``weightwarden.report``); this module holds the record and imports nothing heavy.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from weightwarden.core.text import printable
from weightwarden.integrity.manifest import FileChange
from weightwarden.integrity.statement import Freshness, ParsedStatement

SCHEMA = "weightwarden.verification/v1"

__all__ = ["MAX_LISTED_TENSORS", "SCHEMA", "FreshnessVerdict", "VerificationReport", "shown_name"]

# A file whose header declares 300,000 tensors must not turn the report into megabytes: the JSON lists at
# most this many changed tensors per file (with the total), the text far fewer (manifest.MAX_NAMED_TENSORS).
MAX_LISTED_TENSORS = 1000


def shown_name(name: str, limit: int | None = None) -> str:
    """A file or tensor name as every report shows it: control, bidi and invisible characters escaped
    (:func:`weightwarden.core.text.printable`), and a name that is not in Unicode NFC followed by its code
    points, so that NFC/NFD twins ("café" written two ways) never look the same."""
    text = printable(name, limit)
    if not name.isascii() and not unicodedata.is_normalized("NFC", name):
        text += " [not NFC: " + name.encode("ascii", "backslashreplace").decode("ascii") + "]"
    return text


@dataclass(slots=True)
class FreshnessVerdict:
    """What the signed freshness data means now. ``expired``/``superseded``/``rollback`` are None when not
    known (no expiry signed, no trusted version given); ``reasons`` are the failures among them."""

    signed: Freshness | None = None
    trusted_version: int | None = None
    expired: bool | None = None
    superseded: bool | None = None
    rollback: bool | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        f = self.signed
        return {
            "version": f.version if f else None,
            "issued_at": f.issued_at if f else None,
            "expires": f.expires if f else None,
            "supersedes": f.supersedes if f else None,
            "trusted_version": self.trusted_version,
            "expired": self.expired,
            "superseded": self.superseded,
            "rollback": self.rollback,
        }


@dataclass(slots=True)
class VerificationReport:
    """Everything ``verify`` found; ``verified`` is True only when every check passed."""

    model: str
    bundle: str
    verified: bool = False
    stage: str = "bundle"
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    signer: str | None = None
    method: str | None = None  # key / certificate / sigstore
    bundle_digest: str | None = None
    subject_name: str | None = None
    root_digest: str | None = None
    serialization: dict[str, Any] | None = None
    resource_count: int = 0
    file_count: int = 0
    tensor_count: int = 0
    only: list[str] | None = None
    freshness: FreshnessVerdict = field(default_factory=FreshnessVerdict)
    changes: list[FileChange] = field(default_factory=list)

    def fail(self, stage: str, reason: str) -> VerificationReport:
        """Stop at ``stage`` with ``reason`` (not verified) and return self."""
        self.stage, self.verified = stage, False
        self.reasons.append(reason)
        return self

    def set_manifest(self, parsed: ParsedStatement) -> None:
        m = parsed.manifest
        spec = m.spec
        self.subject_name = parsed.subject_name
        self.root_digest = parsed.subject_digest.hex()
        self.serialization = {"method": spec.method, "hash_type": spec.hash_type, "shard_size": spec.shard_size,
                              "allow_symlinks": spec.allow_symlinks, "ignore_paths": list(spec.ignore_paths)}
        self.resource_count, self.file_count, self.tensor_count = len(m.resources), len(m.files()), len(m.tensors)

    def counts(self) -> dict[str, int]:
        """How many files got each verdict."""
        out: dict[str, int] = {}
        for c in self.changes:
            out[str(c.status)] = out.get(str(c.status), 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "verified": self.verified,
            "stage": self.stage,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "model": self.model,
            "bundle": self.bundle,
            "bundle_digest": self.bundle_digest,
            "signer": self.signer,
            "method": self.method,
            "manifest": {
                "subject_name": self.subject_name,
                "root_digest": self.root_digest,
                "serialization": self.serialization,
                "resources": self.resource_count,
                "files": self.file_count,
                "tensors": self.tensor_count,
            },
            "only": self.only,
            "freshness": self.freshness.to_dict(),
            "summary": self.counts(),
            "files": [
                {"path": c.path, "status": str(c.status), "detail": c.detail, "old_path": c.old_path,
                 "shards": list(c.shards), "tensors": list(c.tensors[:MAX_LISTED_TENSORS]),
                 "tensors_total": len(c.tensors)}
                for c in self.changes
            ],
        }
