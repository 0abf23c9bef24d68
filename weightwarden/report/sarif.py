"""SARIF 2.1.0 rendering of a scan report, for code-scanning dashboards (GitHub, Azure DevOps, ...).

Usage: ``render(report)`` returns the SARIF log as JSON text; :func:`to_sarif` returns it as a dict.

Mapping: every catalogue rule becomes a ``reportingDescriptor`` (with ``security-severity`` so that
dashboards rank findings); each finding is a ``result`` whose physical location is the file on disk
(relative URI when under the working directory) and, where known, a ``region.byteOffset``; the location
inside the file (archive member, opcode offset, metadata key, template line) is a ``logicalLocation``.
Files that could not be scanned are ``toolExecutionNotifications`` and make ``executionSuccessful`` false.
"""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import quote

from weightwarden.scan.findings import ScanReport, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/weightwarden/weightwarden"

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub code scanning maps security-severity >= 9.0 to critical, >= 7.0 high, >= 4.0 medium, > 0 low.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def render(report: ScanReport, *, indent: int | None = 2) -> str:
    return json.dumps(to_sarif(report), indent=indent, ensure_ascii=False) + "\n"


def to_sarif(report: ScanReport, cwd: str | None = None) -> dict[str, Any]:
    from weightwarden import __version__
    from weightwarden.scan.rules import ALL_RULES, RULES_BY_ID

    cwd = os.path.abspath(cwd or os.getcwd())
    rule_index = {rule.id: i for i, rule in enumerate(ALL_RULES)}
    rules = [_descriptor(rule) for rule in ALL_RULES]
    results = []
    for finding in report.findings:
        rule = RULES_BY_ID.get(finding.rule_id)
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "level": LEVEL[finding.severity],
            "message": {"text": _message(finding)},
            "locations": [_location(finding.file, finding.location, finding.offset, cwd)],
            "properties": {
                "severity": finding.severity.value,
                "security-severity": SECURITY_SEVERITY[finding.severity],
                "evidence": finding.evidence,
                "remediation": finding.remediation,
            },
            "partialFingerprints": {"weightwarden/v1": _fingerprint(finding)},
        }
        if rule is not None:
            result["ruleIndex"] = rule_index[rule.id]
        results.append(result)
    notifications = [
        {
            "level": "error",
            "message": {"text": f"could not scan {error.file}: {error.reason}"},
            "locations": [_location(error.file, "", None, cwd)],
        }
        for error in report.errors
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "weightwarden",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": not report.errors,
                "toolExecutionNotifications": notifications,
            }
        ],
        "originalUriBaseIds": {"SRCROOT": {"uri": Path(cwd).as_uri().rstrip("/") + "/"}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "targets": report.targets,
            "strict": report.strict,
            "filesScanned": report.files_scanned,
            "formats": report.formats,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _descriptor(rule: Any) -> dict[str, Any]:
    tags = ["security", f"family:{rule.family}", *rule.references]
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in _words(rule.title)),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {"text": rule.remediation, "markdown": f"**Remediation:** {rule.remediation}"},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "tags": tags,
            "precision": "high",
            "problem.severity": "error" if rule.severity.at_least(Severity.HIGH) else "warning",
            "security-severity": SECURITY_SEVERITY[rule.severity],
        },
    }


def _words(text: str) -> list[str]:
    return [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]


def _message(finding: Any) -> str:
    text = finding.message
    if finding.location:
        text += f" (at {finding.location})"
    if finding.evidence:
        text += f". Evidence: {finding.evidence}"
    return text


def _location(file: str, location: str, offset: int | None, cwd: str) -> dict[str, Any]:
    outer, _, member = file.partition("!")
    physical: dict[str, Any] = {"artifactLocation": _artifact(outer, cwd)}
    # A byte offset is only meaningful for the file on disk, not for a member inside an archive.
    if offset is not None and offset >= 0 and not member:
        physical["region"] = {"byteOffset": offset}
    result: dict[str, Any] = {"physicalLocation": physical}
    logical = []
    if member:
        logical.append({"name": member.rsplit("!", 1)[-1], "fullyQualifiedName": file})
    if location:
        logical.append({"name": location, "fullyQualifiedName": f"{file}::{location}", "kind": "element"})
    if logical:
        result["logicalLocations"] = logical
    return result


def _artifact(path: str, cwd: str) -> dict[str, Any]:
    absolute = os.path.normpath(os.path.join(cwd, path))
    if os.path.commonpath([absolute, cwd]) == cwd:
        rel = os.path.relpath(absolute, cwd).replace(os.sep, "/")
        return {"uri": quote(posixpath.normpath(rel)), "uriBaseId": "SRCROOT"}
    return {"uri": Path(absolute).as_uri()}


def _fingerprint(finding: Any) -> str:
    import hashlib

    key = "\0".join((finding.rule_id, finding.file, finding.location, finding.evidence))
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
