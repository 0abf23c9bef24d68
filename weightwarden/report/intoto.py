"""The audit as a signed in-toto attestation: a Statement whose subjects are the model's files (SHA-256)
and whose predicate is the audit record, signed by the integrity signers into a DSSE (Sigstore) bundle.

Usage::

    bundle = attest(audit, KeySigner(key_pem))            # integrity.signing signer
    Path("audit.intoto.sig").write_bytes(bundle.to_json())
    result = verify_attestation(bundle_bytes, KeyVerifier(pub_pem), model="path/to/model")
    result.verified, result.reasons, result.decision

:func:`verify_attestation` checks, in order: the signature and signer (nothing in the payload is read before),
the statement's type and predicate type, and — when the model is given — that the files on disk are exactly
the subjects (same names, same SHA-256). One changed byte of the audit breaks the signature; one changed byte
of a file breaks its subject.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError
from weightwarden.core.strict_json import dumps_canonical, loads_strict
from weightwarden.core.text import printable

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://weightwarden.dev/attestation/audit/v1"


def statement(audit: Any) -> dict[str, Any]:
    """The in-toto Statement of ``audit`` (subjects: the model's files; predicate: the audit record)."""
    data = audit.to_dict()
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f["path"], "digest": {"sha256": f["sha256"]}} for f in data["model"]["files"]],
        "predicateType": PREDICATE_TYPE,
        "predicate": data,
    }


def attest(audit: Any, signer: Any) -> Any:
    """Sign the statement of ``audit`` with an integrity signer; returns the bundle (``.to_json()``)."""
    return signer.sign(dumps_canonical(statement(audit)))


def render(audit: Any, *, signer: Any = None, indent: int | None = 2) -> str:
    """The signed bundle as JSON text when a signer is given, else the unsigned statement (for inspection)."""
    import json

    if signer is not None:
        return attest(audit, signer).to_json().decode("utf-8")
    return json.dumps(statement(audit), indent=indent, ensure_ascii=True) + "\n"


def is_audit_attestation(bundle: bytes) -> bool:
    """Whether ``bundle`` claims to carry an audit attestation. Only for choosing how to verify it: nothing the
    payload says is trusted before :func:`verify_attestation` has checked the signature."""
    import base64

    try:
        doc = loads_strict(bundle, "the bundle")
        envelope = doc.get("dsseEnvelope") if isinstance(doc, dict) else None
        payload = base64.b64decode(envelope.get("payload", ""), validate=True) if isinstance(envelope, dict) else b""
        statement = loads_strict(payload, "the statement") if payload else None
    except (InputError, ValueError, TypeError):
        return False
    return isinstance(statement, dict) and statement.get("predicateType") == PREDICATE_TYPE


def render_result(result: AttestationResult) -> str:
    """The verification of an audit attestation as terminal text (decision, signer, reasons)."""
    lines = [f"{'VERIFIED' if result.verified else 'NOT VERIFIED'} audit attestation"]
    if result.signer:
        lines.append(f"  signer:   {printable(result.signer)}")
    if result.audit is not None:
        policy = result.audit.get("policy") if isinstance(result.audit.get("policy"), dict) else {}
        lines.append(f"  decision: {printable(result.decision)} (policy {printable(policy.get('id'))} "
                     f"{printable(policy.get('version'))}, audited {printable(result.audit.get('created'))})")
        lines.append(f"  subjects: {result.subjects} file(s)")
    if result.reasons:
        lines.append("reasons:")
        lines += [f"  - {printable(r)}" for r in result.reasons]
    return "\n".join(lines) + "\n"


@dataclass
class AttestationResult:
    verified: bool = False
    reasons: list[str] = field(default_factory=list)
    signer: str | None = None
    decision: str | None = None
    audit: dict[str, Any] | None = None
    subjects: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "weightwarden.attestation-verification/v1",
            "verified": self.verified,
            "reasons": list(self.reasons),
            "signer": self.signer,
            "decision": self.decision,
            "subjects": self.subjects,
        }


def verify_attestation(bundle: bytes | str, verifier: Any, *, model: str | os.PathLike[str] | None = None,
                       ignore: tuple[str, ...] = ()) -> AttestationResult:
    """Verify an audit attestation bundle with an integrity verifier; never raises for bad content."""
    from weightwarden.integrity.verifying import VerificationError

    result = AttestationResult()
    try:
        verified = verifier.verify(bundle)
    except VerificationError as exc:
        result.reasons.append(f"signature not verified: {exc.reason}")
        return result
    result.signer = verified.signer
    try:
        doc = loads_strict(verified.payload, "the attestation's statement")
    except InputError as exc:
        result.reasons.append(exc.reason)
        return result
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        result.reasons.append(f"not an in-toto Statement v1 (_type must be {STATEMENT_TYPE})")
        return result
    if doc.get("predicateType") != PREDICATE_TYPE:
        result.reasons.append(f"not an audit attestation (predicateType {doc.get('predicateType')!r})")
        return result
    predicate, subjects = doc.get("predicate"), doc.get("subject")
    if not isinstance(predicate, dict) or not isinstance(subjects, list) or not subjects:
        result.reasons.append("the statement has no audit predicate or no subjects")
        return result
    expected: dict[str, str] = {}
    for s in subjects:
        digest = s.get("digest", {}).get("sha256") if isinstance(s, dict) and isinstance(s.get("digest"), dict) else None
        if not isinstance(digest, str) or not isinstance(s.get("name"), str) or s["name"] in expected:
            result.reasons.append("a subject has no name, no SHA-256 digest, or a repeated name")
            return result
        expected[s["name"]] = digest
    result.audit, result.subjects = predicate, len(expected)
    result.decision = predicate.get("decision") if isinstance(predicate.get("decision"), str) else None
    if model is not None:
        result.reasons.extend(_compare_files(Path(model), expected, ignore))
    result.verified = not result.reasons
    return result


def _compare_files(model: Path, expected: dict[str, str], ignore: tuple[str, ...]) -> list[str]:
    from weightwarden.audit.facts import describe_files

    try:
        actual = {f.path: f.sha256 for f in describe_files(model, ignore=ignore)}
    except InputError as exc:
        return [exc.reason]
    reasons = [f"{name}: changed since the audit" for name in sorted(expected) if name in actual
               and actual[name] != expected[name]]
    reasons += [f"{name}: audited but missing" for name in sorted(set(expected) - set(actual))]
    extra = set(actual) | set(_unhashed_entries(model, ignore))
    reasons += [f"{name}: not part of the audited model" for name in sorted(extra - set(expected))]
    # A file a loader reaches through a name (a shard index, a link) must be one of the attested files even where
    # the caller leaves its folder out (``ignore=(".git",)``): the same check as verify (integrity/coverage.py).
    if model.is_dir():
        from weightwarden.integrity.coverage import uncovered_references
        from weightwarden.integrity.manifest import DEFAULT_IGNORE_PATHS

        reals = [os.path.realpath(model / name) for name in actual]
        reasons += [u.message() for u in uncovered_references(model, reals, (*DEFAULT_IGNORE_PATHS, *ignore))
                    if u.path not in extra]
    return [printable(r) for r in reasons]


def _unhashed_entries(model: Path, ignore: tuple[str, ...]) -> list[str]:
    """Every entry the hash walk leaves out by convention (``.git``, ``.gitattributes``, ...): the statement
    says the model is exactly its subjects, so anything else in the folder is reported, not skipped. The
    caller names what to leave out (``ignore``), e.g. a git clone's ``.git``."""
    if not model.is_dir():
        return []
    out = []
    skip = {Path(i).as_posix().strip("/") for i in ignore}
    for top, dirs, files in os.walk(model, followlinks=False):
        rel_top = Path(top).relative_to(model)
        for name in list(dirs):
            rel = (rel_top / name).as_posix()
            if rel in skip:
                dirs.remove(name)
        for name in files:
            rel = (rel_top / name).as_posix()
            if rel not in skip and not any(rel.startswith(s + "/") for s in skip):
                out.append(rel)
    return out
