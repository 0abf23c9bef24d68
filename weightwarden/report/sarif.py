"""SARIF 2.1.0 rendering of any analysis, for code-scanning dashboards (GitHub, Azure DevOps, ...).

Usage: ``render(subject)`` returns the SARIF log as JSON text; :func:`to_sarif` returns it as a dict.
``subject`` is a scan report, one :class:`~weightwarden.core.records.Analysis`, or several (an audit).

Mapping: one ``run`` per tool component (``weightwarden-scan``, ``weightwarden-integrity``, ...), each listing
its whole rule catalogue as ``reportingDescriptor``s (with ``security-severity`` so that dashboards rank
findings). Each finding is a ``result`` whose physical location is the file on disk (relative URI when under
the working directory) with a ``region`` (``startLine``, which GitHub needs to place an alert: the text line
where one is known, else 1; ``byteOffset`` where known for the file on disk); the location inside the file
(archive member, opcode offset, metadata key, tensor) is a ``logicalLocation``. A finding about a model, a
tensor or an eval item has a logical location only. Suppressed findings keep their place with SARIF
``suppressions``. Files that could not be read are ``toolExecutionNotifications`` and make
``executionSuccessful`` false. Every string from a file or model is sanitised (:func:`core.text.printable`).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from weightwarden.core.findings import Finding, Rule, Severity, SubjectKind
from weightwarden.core.records import Analysis
from weightwarden.core.text import printable

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


def render(subject: Any, *, indent: int | None = 2) -> str:
    return json.dumps(to_sarif(subject), indent=indent, ensure_ascii=True) + "\n"


def to_sarif(subject: Any, cwd: str | None = None) -> dict[str, Any]:
    """The SARIF log of ``subject``: a scan report, an analysis, a sequence of analyses or an audit."""
    cwd = os.path.abspath(cwd or os.getcwd())
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [_run(a, cwd) for a in analyses_of(subject)]}


def analyses_of(subject: Any) -> list[Analysis[Any]]:
    """Normalise what a caller hands to a renderer into a list of analyses."""
    from weightwarden.scan.results import ScanReport

    if isinstance(subject, Analysis):
        return [subject]
    if isinstance(subject, ScanReport):
        from weightwarden.scan import as_analysis

        return [as_analysis(subject)]
    analyses = getattr(subject, "analyses", None)  # an audit record carries the analyses it ran
    if analyses is not None:
        return list(analyses)
    if isinstance(subject, Sequence) and all(isinstance(a, Analysis) for a in subject):
        return list(subject)
    raise TypeError(f"cannot render {type(subject).__name__} as SARIF")


def _run(analysis: Analysis[Any], cwd: str) -> dict[str, Any]:
    from weightwarden import __version__

    rules: Sequence[Rule] = tuple(analysis.catalogue.rules) if analysis.catalogue is not None else ()
    rule_index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for finding in analysis.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "level": LEVEL[finding.severity],
            "message": {"text": _message(finding)},
            "locations": [_location(finding, cwd)],
            "properties": {
                "severity": finding.severity.value,
                "security-severity": SECURITY_SEVERITY[finding.severity],
                "evidence": [_evidence(e.to_dict()) for e in finding.evidence],
                "remediation": finding.remediation,
                "subject": {"kind": finding.subject.kind.value, "name": printable(finding.subject.name)},
            },
            "partialFingerprints": {"weightwarden/v1": _fingerprint(finding)},
        }
        if finding.rule_id in rule_index:
            result["ruleIndex"] = rule_index[finding.rule_id]
        if finding.suppression is not None:
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": printable(finding.suppression.reason),
                    **({"location": {"physicalLocation": {"artifactLocation": {"uri": quote(
                        finding.suppression.source)}}}} if finding.suppression.source else {}),
                }
            ]
        results.append(result)
    errors = list(getattr(analysis.record, "errors", ()) or ())
    notifications = [
        {
            "level": "error",
            "message": {"text": printable(f"could not read {error.file}: {error.reason}")},
            "locations": [{"physicalLocation": {"artifactLocation": _artifact(str(error.file), cwd)}}],
        }
        for error in errors
        if hasattr(error, "file") and hasattr(error, "reason")
    ]
    component = analysis.component
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": f"weightwarden-{component}",
                "fullName": f"weightwarden {component}",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [_descriptor(rule) for rule in rules],
            }
        },
        "automationDetails": {"id": f"weightwarden/{component}/"},
        "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
        "originalUriBaseIds": {"SRCROOT": {"uri": Path(cwd).as_uri().rstrip("/") + "/"}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": _run_properties(analysis),
    }
    return run


def _run_properties(analysis: Analysis[Any]) -> dict[str, Any]:
    from weightwarden.scan.results import ScanReport

    record = analysis.record
    if isinstance(record, ScanReport):
        return {
            "targets": [printable(t) for t in record.targets],
            "strict": record.strict,
            "filesScanned": record.files_scanned,
            "formats": record.formats,
        }
    schema = record.to_dict().get("schema", "") if hasattr(record, "to_dict") else ""
    return {"component": analysis.component, "record": schema}


def _descriptor(rule: Rule) -> dict[str, Any]:
    tags = ["security", f"family:{rule.family}", f"component:{rule.component}", *rule.references]
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


def _evidence(data: dict[str, Any]) -> dict[str, Any]:
    value = data["value"]
    if isinstance(value, str):
        data = {**data, "value": printable(value)}
    return data


def _message(finding: Finding) -> str:
    text = printable(finding.message)
    if finding.location.path:
        text += f" (at {printable(finding.location.path)})"
    if finding.subject.kind not in (SubjectKind.FILE,) and finding.subject.name:
        text += f" [{finding.subject.kind.value} {printable(finding.subject.name)}]"
    if finding.evidence_text:
        text += f". Evidence: {printable(finding.evidence_text)}"
    return text


def _location(finding: Finding, cwd: str) -> dict[str, Any]:
    file = finding.file
    location = finding.location
    result: dict[str, Any] = {}
    logical = []
    if file:
        outer, member = _split_member(file, cwd)
        # GitHub places an alert by startLine; a binary model file has no lines, so the alert sits on line 1
        # and the byte offset (for the file on disk only, not for a member inside an archive) says where.
        region: dict[str, Any] = {"startLine": location.line if location.line and not member else 1}
        if location.offset is not None and location.offset >= 0 and not member:
            region["byteOffset"] = location.offset
        result["physicalLocation"] = {"artifactLocation": _artifact(outer, cwd), "region": region}
        if member:
            logical.append({"name": printable(member.rsplit("!", 1)[-1]), "fullyQualifiedName": printable(file)})
    if finding.subject.kind is not SubjectKind.FILE:
        logical.append({
            "name": printable(finding.subject.name),
            "fullyQualifiedName": printable(f"{file}::{finding.subject.name}" if file else finding.subject.name),
            "kind": finding.subject.kind.value,
        })
    if location.path:
        where = printable(location.path)
        logical.append({"name": where, "fullyQualifiedName": printable(f"{file}::{location.path}"), "kind": "element"})
    if logical:
        result["logicalLocations"] = logical
    return result


def _split_member(file: str, cwd: str) -> tuple[str, str]:
    """``outer.zip!inner/member`` → (outer file, member). A real file whose name holds ``!`` is not split:
    the alert must sit on the file that has the problem, not on a file named like its prefix."""
    if "!" not in file or os.path.lexists(os.path.join(cwd, file)):
        return file, ""
    outer, _, member = file.partition("!")
    return outer, member


def _artifact(path: str, cwd: str) -> dict[str, Any]:
    absolute = os.path.normpath(os.path.join(cwd, path))
    if os.path.commonpath([absolute, cwd]) == cwd:
        rel = os.path.relpath(absolute, cwd).replace(os.sep, "/")
        return {"uri": quote(posixpath.normpath(rel), errors="surrogatepass"), "uriBaseId": "SRCROOT"}
    return {"uri": "file://" + quote(absolute.replace(os.sep, "/"), errors="surrogatepass")}


def _fingerprint(finding: Finding) -> str:
    key = "\0".join(
        (finding.rule_id, finding.subject.kind.value, finding.subject.name, finding.file, finding.location.path,
         finding.evidence_text)
    )
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
