"""A verification result in the shared evidence model: the integrity catalogue and
:func:`findings_of` / :func:`analyse`.

``VerificationReport`` (``integrity/report.py``) stays the record ``verify`` prints; this module says the same
result as core findings so that an audit, SARIF and HTML can weigh it beside scan and evals: a changed tensor
is a finding about that tensor, a bad signature a finding about the model, a rollback a finding about the
release. A verified report implies no findings except the warnings it carries (info).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightwarden.core.findings import (
    Catalogue,
    Evidence,
    Finding,
    Location,
    Rule,
    Severity,
    Subject,
    SubjectKind,
)
from weightwarden.core.records import Analysis
from weightwarden.integrity.manifest import ChangeKind, FileChange
from weightwarden.integrity.report import VerificationReport

_CWE_INTEGRITY = "CWE-354"  # Improper Validation of Integrity Check Value
_CWE_SIGNATURE = "CWE-347"  # Improper Verification of Cryptographic Signature
_ATLAS_SUPPLY_CHAIN = "AML.T0010"  # ML Supply Chain Compromise
_ATLAS_BACKDOOR = "AML.T0018"  # Manipulate AI Model


def _rule(number: int, severity: Severity, title: str, description: str, remediation: str,
          *refs: str) -> Rule:
    return Rule(f"WW-INT-{number:03d}", severity, title, description, remediation,
                (*refs, _ATLAS_SUPPLY_CHAIN), "integrity")


NOT_VERIFIED = _rule(
    1, Severity.CRITICAL, "release signature or statement not verified",
    "The bundle's signature, signer identity or signed statement did not check out, so nothing it says about "
    "the files can be trusted.",
    "Obtain the model and its bundle again from the publisher; check which key or identity should have signed it.",
    _CWE_SIGNATURE,
)
FILE_MODIFIED = _rule(
    2, Severity.CRITICAL, "file changed after signing",
    "A file's digest differs from the one the publisher signed.",
    "Do not load the model; fetch the file again from the publisher or ask them to re-sign a new release.",
    _CWE_INTEGRITY, _ATLAS_BACKDOOR,
)
TENSOR_MODIFIED = _rule(
    3, Severity.CRITICAL, "tensor changed after signing",
    "A tensor's bytes differ from the state the publisher signed (named through the signed tensor evidence).",
    "Do not load the model; compare it with the published release (weightwarden diff) to see what was edited.",
    _CWE_INTEGRITY, _ATLAS_BACKDOOR,
)
FILE_ADDED = _rule(
    4, Severity.HIGH, "file not in the signed release",
    "A file is present that the signed statement does not list: it could be loaded (code, config, pickle) "
    "although the publisher never released it.",
    "Remove the file or ask the publisher whether it belongs to the release.",
    _CWE_INTEGRITY,
)
FILE_MISSING = _rule(
    5, Severity.HIGH, "signed file missing",
    "A file the publisher signed is not present.",
    "Download the complete release.",
    _CWE_INTEGRITY,
)
FILE_RENAMED = _rule(
    6, Severity.MEDIUM, "signed file renamed or type changed",
    "A signed file's content is present under another name, or a file became a link or folder.",
    "Restore the release's layout: a loader chooses files by name.",
    _CWE_INTEGRITY,
)
NOT_FRESH = _rule(
    7, Severity.HIGH, "release expired, superseded or rolled back",
    "The signed freshness data says the release expired, or a newer release the user trusts supersedes it "
    "(a rollback to an older release).",
    "Fetch the publisher's current release.",
    _CWE_INTEGRITY,
)
VERIFY_WARNING = _rule(
    8, Severity.INFO, "verified with a warning",
    "The release verified, but with an accepted oddity (legacy encoding, a weightwarden-only extension).",
    "Ask the publisher to re-sign with a current tool.",
)

CATALOGUE = Catalogue(
    "integrity",
    (NOT_VERIFIED, FILE_MODIFIED, TENSOR_MODIFIED, FILE_ADDED, FILE_MISSING, FILE_RENAMED, NOT_FRESH, VERIFY_WARNING),
    "signature, statement and per-file/per-tensor verification of a signed release",
)

_FILE_RULES = {
    ChangeKind.MODIFIED: FILE_MODIFIED,
    ChangeKind.ADDED: FILE_ADDED,
    ChangeKind.MISSING: FILE_MISSING,
    ChangeKind.RENAMED: FILE_RENAMED,
    ChangeKind.TYPE_CHANGED: FILE_RENAMED,
}


def findings_of(report: VerificationReport) -> list[Finding]:
    """The findings a verification result implies (none beyond warnings for a verified release)."""
    model = Subject(SubjectKind.MODEL, report.model)
    bundle_evidence = [Evidence("bundle", report.bundle)]
    if report.bundle_digest:
        bundle_evidence.append(Evidence("digest", report.bundle_digest))
    findings: list[Finding] = []
    changed = [c for c in report.changes if c.status is not ChangeKind.OK]
    fresh_reasons = set(report.freshness.reasons)
    for reason in report.reasons:
        if reason in fresh_reasons:
            findings.append(NOT_FRESH.finding(model, reason, evidence=bundle_evidence))
        elif not changed or report.stage != "done":
            findings.append(NOT_VERIFIED.finding(
                model, f"not verified at the {report.stage} stage: {reason}", evidence=bundle_evidence))
    for change in changed:
        findings.extend(_change_findings(report, change))
    findings.extend(VERIFY_WARNING.finding(model, warning, evidence=bundle_evidence) for warning in report.warnings)
    return findings


def _change_findings(report: VerificationReport, change: FileChange) -> list[Finding]:
    rule = _FILE_RULES[change.status]
    path = _display_path(report.model, change.path)
    evidence = [Evidence("status", str(change.status))]
    if change.detail:
        evidence.append(Evidence("text", change.detail))
    if change.old_path:
        evidence.append(Evidence("old_path", change.old_path))
    if change.shards:
        evidence.append(Evidence("shards", list(change.shards)))
    message = f"{change.path}: {change.status}"
    if change.tensors:  # the file finding names what changed inside it: it is the one a summary quotes
        names = [_tensor_change(t)[0] for t in change.tensors]
        message += f"; tensor{'s' if len(names) > 1 else ''} changed: {', '.join(names[:5])}"
        message += f" and {len(names) - 5} more" if len(names) > 5 else ""
    out = [rule.finding(Subject(SubjectKind.FILE, path), message, evidence=evidence)]
    for tensor in change.tensors:
        name, how = _tensor_change(tensor)
        out.append(TENSOR_MODIFIED.finding(
            Subject(SubjectKind.TENSOR, name, path), f"tensor {name} {how} in {change.path}",
            location=Location(name), evidence=[Evidence("tensor_change", how)],
        ))
    return out


def _tensor_change(entry: str) -> tuple[str, str]:
    if entry.startswith("+"):
        return entry[1:], "added"
    if entry.startswith("-"):
        return entry[1:], "removed"
    return entry, "changed"


def _display_path(model: str, relative: str) -> str:
    root = Path(model)
    return relative if root.is_file() or not model else str(root / relative)


def as_analysis(report: VerificationReport) -> Analysis[VerificationReport]:
    """A verification result with the findings it implies and the integrity catalogue."""
    return Analysis("integrity", report, tuple(findings_of(report)), CATALOGUE)


def analyse(model: str | Path, bundle: str | Path, verifier: Any, **options: Any) -> Analysis[VerificationReport]:
    """Verify ``model`` against ``bundle`` with ``verifier`` (see ``integrity.release.verify_model`` for the
    options) and return the report with its findings: the package's one entry point for the layers above."""
    from weightwarden.integrity.release import verify_model

    return as_analysis(verify_model(model, bundle, verifier, **options))
