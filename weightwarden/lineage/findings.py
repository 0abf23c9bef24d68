"""Diff and lineage results in the shared evidence model: the lineage catalogue and
:func:`findings_of_diff`, :func:`findings_of_lineage`, :func:`analyse`.

A diff says what changed between a base and a candidate, tensor by tensor; the changes that edit behaviour
surgically (a rank-one edit, rewritten embedding rows, a sparse change — the signatures of ROME-style edits
and backdoors) are findings about that tensor. The derivation test says whether the candidate comes from the
base; "unrelated" when the folder declares that base is a finding about the model (its declared provenance
does not hold), "inconclusive" an info finding with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.core.findings import Catalogue, Evidence, Finding, Rule, Severity, Subject, SubjectKind
from weightwarden.core.records import Analysis
from weightwarden.lineage.derivation import LineageReport
from weightwarden.lineage.diff import ModelDiff, TensorChange

_ATLAS_BACKDOOR = "AML.T0018"  # Manipulate AI Model
_ATLAS_SUPPLY_CHAIN = "AML.T0010"


def _rule(number: int, severity: Severity, title: str, description: str, remediation: str) -> Rule:
    return Rule(f"WW-LIN-{number:03d}", severity, title, description, remediation,
                (_ATLAS_BACKDOOR, _ATLAS_SUPPLY_CHAIN), "lineage")


RANK1_EDIT = _rule(
    1, Severity.HIGH, "rank-one edit of a weight matrix",
    "The difference from the base is (almost) one outer product: the signature of model-editing methods "
    "(ROME/MEMIT) that rewrite one fact or plant a trigger.",
    "Find out who made the edit and why; evaluate the model on the behaviour the edited layer controls.",
)
EMBEDDING_ROWS = _rule(
    2, Severity.HIGH, "embedding rows rewritten",
    "Only a few token rows of an embedding or output matrix changed: typical of a planted trigger token.",
    "Inspect the listed tokens; test the model with and without them.",
)
SPARSE_CHANGE = _rule(
    3, Severity.MEDIUM, "sparse change to a weight matrix",
    "A small fraction of a matrix changed while the rest is bit-identical: not what fine-tuning produces.",
    "Compare the changed positions with the publisher's claims; evaluate the model.",
)
NOT_DERIVED = _rule(
    4, Severity.HIGH, "declared base model not supported by the weights",
    "The weights do not show derivation from the base model given or declared (calibrated test at alpha).",
    "Treat the declared provenance as false until the publisher explains it.",
)
INCONCLUSIVE = _rule(
    5, Severity.INFO, "lineage could not be decided",
    "The derivation test could not compare the models (no shared vocabulary, no comparable layers, ...).",
    "Give a base model of the same family, or a fingerprint of it.",
)
DERIVED = _rule(
    6, Severity.INFO, "derived from the base model",
    "The weights show derivation from the base model (calibrated test at alpha).",
    "None: this records provenance.",
)

CATALOGUE = Catalogue(
    "lineage",
    (RANK1_EDIT, EMBEDDING_ROWS, SPARSE_CHANGE, NOT_DERIVED, INCONCLUSIVE, DERIVED),
    "weight-level diff and calibrated derivation test between a model and its base",
)

_FLAGGED_RULES = {"rank1_edit": RANK1_EDIT, "embedding_rows": EMBEDDING_ROWS, "sparse_change": SPARSE_CHANGE}


def findings_of_diff(diff: ModelDiff) -> list[Finding]:
    """One finding per flagged tensor change of ``diff`` (B relative to A)."""
    return [_change_finding(diff.b.path, change) for change in diff.changes if change.kind in _FLAGGED_RULES]


def _change_finding(model: str, change: TensorChange) -> Finding:
    evidence = [Evidence("kind", change.kind)]
    if change.rel_norm is not None:
        evidence.append(Evidence("rel_norm", change.rel_norm))
    if change.effective_rank is not None:
        evidence.append(Evidence("effective_rank", change.effective_rank))
    if change.tokens:
        evidence.append(Evidence("tokens", list(change.tokens[:20])))
    evidence.extend(Evidence("text", text) for text in change.evidence)
    where = f" (layer {change.layer})" if change.layer is not None else ""
    return _FLAGGED_RULES[change.kind].finding(
        Subject(SubjectKind.TENSOR, change.name, model), f"{change.name}{where}: {change.kind.replace('_', ' ')}",
        evidence=evidence,
    )


def findings_of_lineage(report: LineageReport, *, declared: bool = False) -> list[Finding]:
    """The finding of a derivation test about model B. ``declared``: B's folder names A as its base, so
    "unrelated" contradicts a claim (high); otherwise an unrelated model is only recorded (info)."""
    model = Subject(SubjectKind.MODEL, str(report.b.get("path", "model B")))
    evidence = [
        Evidence("verdict", report.verdict),
        Evidence("p_value", report.p_value, None),
        Evidence("score", report.score),
        Evidence("alpha", report.alpha),
        Evidence("base", str(report.a.get("path", ""))),
    ]
    if report.verdict == "derived":
        return [DERIVED.finding(model, report.reason, evidence=evidence)]
    if report.verdict == "unrelated":
        severity = Severity.HIGH if declared else Severity.INFO
        return [NOT_DERIVED.finding(model, report.reason, evidence=evidence, severity=severity)]
    return [INCONCLUSIVE.finding(model, report.reason, evidence=evidence)]


def analyse(base: str | Path, model: str | Path, *, declared: bool = False, **options: Any) -> Analysis[Any]:
    """Diff ``model`` against ``base`` and test derivation: the package's one entry point for the layers
    above. The record is a :class:`LineageResult` (diff + derivation report)."""
    from weightwarden.lineage.derivation import assess_lineage
    from weightwarden.lineage.diff import diff_models

    diff = diff_models(base, model)
    lineage = None if diff.identical else assess_lineage(base, model, **options)
    record = LineageResult(diff, lineage)
    findings = findings_of_diff(diff) + (findings_of_lineage(lineage, declared=declared) if lineage else [])
    return Analysis("lineage", record, tuple(findings), CATALOGUE)


@dataclass(frozen=True)
class LineageResult:
    """The record of :func:`analyse`: the diff, and the derivation report (None when the weights are
    identical: identical weights need no statistical test)."""

    diff: ModelDiff
    lineage: LineageReport | None

    @property
    def identical(self) -> bool:
        return self.diff.identical

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "weightwarden.lineage-result/v1",
            "identical": self.diff.identical,
            "diff": self.diff.to_dict(),
            "lineage": self.lineage.to_dict() if self.lineage else None,
        }
