"""The rule catalogue: every rule of every family, the anomaly-code map, and the evaluation of one file.

Usage::

    from weightwarden.scan.rules import ALL_RULES, evaluate_entry, rule_for_anomaly
    findings = evaluate_entry(entry, file="model/pytorch_model.bin", strict=False)

Families live in one module each (``pickle``, ``keras``, ``tensorflow``, ``onnx``, ``template``,
``safetensors``, ``gguf``, ``numpy``, ``archive``, ``shipped``, ``filesystem``, ``generic``). Each declares ``RULES`` and,
if it judges code objects, ``CHECKS`` (CodeKind → check function); ``ENTRY_CHECKS`` judge a whole entry. Reader anomalies are mapped to rules by
their dotted code; a code no rule claims fires ``WW-GEN-900`` so that nothing is dropped silently.
:func:`catalogue_markdown` renders the rule reference (``docs/rules.md``).
"""

from __future__ import annotations

from collections.abc import Iterable

from weightwarden.artifact.model import Anomaly, CodeKind, FileEntry
from weightwarden.core.findings import Catalogue, Finding, Severity
from weightwarden.scan.check_memo import memoised
from weightwarden.scan.rules import (
    archive,
    filesystem,
    generic,
    gguf,
    keras,
    numpy,
    onnx,
    pickle,
    safetensors,
    shipped,
    template,
    tensorflow,
)
from weightwarden.scan.rules.base import Check, CheckContext, EntryCheck, ScanRule

FAMILIES = (
    pickle, keras, tensorflow, onnx, template, safetensors, gguf, numpy, archive, shipped, filesystem, generic,
)
FAMILY_NAMES = {
    "PKL": "Pickle (PyTorch, joblib, raw pickle)",
    "KERAS": "Keras",
    "TF": "TensorFlow SavedModel",
    "ONNX": "ONNX",
    "TPL": "Chat templates (GGUF, Hugging Face)",
    "ST": "Safetensors",
    "GGUF": "GGUF",
    "NPY": "NumPy",
    "ARC": "Archives (zip, tar, 7z, compressed streams)",
    "CODE": "Code shipped with a model (Python modules, bytecode, native modules, torch.package)",
    "FS": "Filesystem",
    "GEN": "Generic",
}

ALL_RULES: tuple[ScanRule, ...] = tuple(rule for family in FAMILIES for rule in family.RULES)
RULES_BY_ID: dict[str, ScanRule] = {rule.id: rule for rule in ALL_RULES}
UNMAPPED_RULE: ScanRule = generic.UNMAPPED
CATALOGUE = Catalogue("scan", ALL_RULES, "static scan of model files for load-time code")


def _anomaly_map() -> dict[str, ScanRule]:
    mapping: dict[str, ScanRule] = {}
    for rule in ALL_RULES:
        for code in rule.anomaly_codes:
            if code in mapping:
                raise RuntimeError(f"anomaly code {code} claimed by {mapping[code].id} and {rule.id}")
            mapping[code] = rule
    return mapping


ANOMALY_RULES: dict[str, ScanRule] = _anomaly_map()
CODE_CHECKS: dict[CodeKind, tuple[Check, ...]] = {}
for _family in FAMILIES:
    for _kind, _check in getattr(_family, "CHECKS", {}).items():
        CODE_CHECKS[_kind] = (*CODE_CHECKS.get(_kind, ()), _check)
# The template check (most of a scan's CPU) is answered once per distinct input within a scan: a folder ships the
# same template many times (weightwarden.scan.check_memo; off outside a scan_paths call).
CODE_CHECKS[CodeKind.CHAT_TEMPLATE] = tuple(
    memoised(_check, f"{CodeKind.CHAT_TEMPLATE.value}:{_i}") for _i, _check in enumerate(CODE_CHECKS[CodeKind.CHAT_TEMPLATE])
)
# Checks of a whole entry rather than of one code object (the code files an archive lists, round 21).
ENTRY_CHECKS: tuple[EntryCheck, ...] = tuple(c for _family in FAMILIES for c in getattr(_family, "ENTRY_CHECKS", ()))


def rule_for_anomaly(code: str) -> ScanRule:
    """The rule that covers an anomaly code; ``WW-GEN-900`` when none does."""
    return ANOMALY_RULES.get(code, UNMAPPED_RULE)


def anomaly_finding(anomaly: Anomaly, file: str) -> Finding:
    """Turn one reader anomaly into a finding of its rule (unmapped codes keep their code in the message)."""
    rule = rule_for_anomaly(anomaly.code)
    message = anomaly.message or rule.title
    if rule is UNMAPPED_RULE:
        message = f"[{anomaly.code}] {message}"
    evidence = anomaly.evidence
    if rule is not UNMAPPED_RULE:
        evidence = f"{anomaly.code}: {evidence}" if evidence else anomaly.code
    return rule.found_in(file, anomaly.location or "", message, evidence)


def evaluate_entry(entry: FileEntry, file: str, *, strict: bool = False) -> list[Finding]:
    """Findings of one entry (not its children): its code objects through the checks, its anomalies."""
    ctx = CheckContext(file=file, entry=entry, strict=strict)
    findings: list[Finding] = []
    for code in entry.code:
        for check in CODE_CHECKS.get(code.kind, ()):
            findings.extend(check(code, ctx))
    findings.extend(anomaly_finding(a, file) for a in entry.anomalies)
    for entry_check in ENTRY_CHECKS:
        findings.extend(entry_check(entry, ctx))
    return findings


def evaluate_anomalies(anomalies: Iterable[Anomaly], file_of: dict[str, str] | None = None) -> list[Finding]:
    """Findings of artifact-level anomalies (links, special files, limits); ``file_of`` maps locations."""
    file_of = file_of or {}
    return [anomaly_finding(a, file_of.get(a.location, a.location)) for a in anomalies]


def catalogue_markdown() -> str:
    """The rule reference as Markdown (the content of ``docs/rules.md``)."""
    lines = [
        "# weightwarden rule reference",
        "",
        "<!-- Generated by weightwarden.scan.rules.catalogue_markdown(); do not edit by hand. -->",
        "",
        "Every finding names one of these rules. Ids are stable: `WW-<FAMILY>-<NNN>`. Severities are the",
        "defaults; a few rules raise or lower the severity of a specific finding (for example a TensorFlow op",
        "listed as high rather than critical). References are CWE weaknesses and MITRE ATLAS techniques",
        "(AML.T0010 ML supply chain compromise, AML.T0011 user execution, AML.T0018 manipulate/backdoor model).",
        "",
        "| id | severity | title |",
        "| --- | --- | --- |",
    ]
    lines += [f"| [{r.id}](#{r.id.lower()}) | {r.severity.value} | {_md(r.title)} |" for r in ALL_RULES]
    for prefix, name in FAMILY_NAMES.items():
        family_rules = [r for r in ALL_RULES if r.family == prefix]
        if not family_rules:
            continue
        lines += ["", f"## {name}"]
        for rule in family_rules:
            lines += [
                "",
                f"### {rule.id}",
                "",
                f"**{_md(rule.title)}** — severity: `{rule.severity.value}`",
                "",
                _md(rule.description),
                "",
                f"*Remediation:* {_md(rule.remediation)}",
                "",
                f"*References:* {', '.join(rule.references) or '—'}",
            ]
            if rule.anomaly_codes:
                lines += ["", f"*Anomaly codes:* {', '.join(f'`{c}`' for c in rule.anomaly_codes)}"]
    lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


__all__ = [
    "ALL_RULES",
    "CATALOGUE",
    "ANOMALY_RULES",
    "CODE_CHECKS",
    "RULES_BY_ID",
    "UNMAPPED_RULE",
    "CheckContext",
    "ScanRule",
    "Severity",
    "anomaly_finding",
    "catalogue_markdown",
    "evaluate_anomalies",
    "evaluate_entry",
    "rule_for_anomaly",
]
