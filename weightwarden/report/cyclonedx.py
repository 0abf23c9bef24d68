"""CycloneDX 1.6 ML-BOM of an audit, built with ``cyclonedx-python-lib`` and validated by its own validator.

The model is the BOM's ``machine-learning-model`` component (``metadata.component``): its files are
sub-components with SHA-256 hashes (the digests ``verify`` checks), the weights root and tensor facts are
properties, the base model it was compared with (or declares) is a ``pedigree`` ancestor, and every finding of
severity low or above is a ``vulnerability`` that ``affects`` the model (suppressed ones carry an analysis
state with the user's reason). ``cyclonedx-python-lib`` has no model of the ``modelCard`` object yet, so
the card (model parameters, quantitative analysis from the capability evidence with its intervals,
considerations from the risk levels) is added to the library's JSON output and the whole document is then
validated against the 1.6 schema the library ships (:func:`validate`); an invalid document is an error.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from weightwarden.core.errors import InputError, require_extra
from weightwarden.core.findings import Severity
from weightwarden.core.text import printable
from weightwarden.report import _audit_view as view

BOM_REF_MODEL = "model"
_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
}


def render(audit: Any, *, indent: int | None = 2) -> str:
    return json.dumps(to_cyclonedx(audit), indent=indent, ensure_ascii=True) + "\n"


def to_cyclonedx(audit: Any) -> dict[str, Any]:
    """The ML-BOM of ``audit`` as a dict (CycloneDX 1.6 JSON), validated before it is returned."""
    require_extra("cyclonedx", extra="report", feature="the CycloneDX ML-BOM (--format cyclonedx)")
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    data = audit.to_dict()
    facts = data["model"]
    single_file = len(facts["files"]) == 1 and facts["files"][0]["path"] == facts["name"]
    files = [
        Component(
            type=ComponentType.FILE, name=f["path"], bom_ref=f"file:{f['path']}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f["sha256"])],
            properties=[Property(name="weightwarden:size", value=str(f["size"]))],
        )
        for f in facts["files"]
    ]
    properties = [
        Property(name=f"weightwarden:{key}", value=str(facts[key]))
        for key in ("weights_root", "parameters", "tensors", "container", "architecture", "declared_base")
        if facts.get(key) is not None
    ]
    properties += [
        Property(name="weightwarden:audit:decision", value=data["decision"]),
        Property(name="weightwarden:audit:release_mode", value=str(data.get("release_mode"))),
        Property(name="weightwarden:audit:policy", value=f"{data['policy'].get('id')}@{data['policy'].get('version')}"),
    ]
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=facts["name"],
        bom_ref=BOM_REF_MODEL,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=facts["files"][0]["sha256"])] if single_file else None,
        components=None if single_file else files,
        properties=properties,
        pedigree=_pedigree(audit, Component, ComponentType, Pedigree, Property),
    )
    created = dt.datetime.fromisoformat(data["created"].replace("Z", "+00:00"))
    bom = Bom(metadata=BomMetaData(component=model, timestamp=created))
    # Deterministic serial number: the same audit gives the same BOM.
    bom.serial_number = uuid.uuid5(uuid.NAMESPACE_URL, f"weightwarden:audit:{_digest(data)}")
    bom.vulnerabilities.update(_vulnerabilities(audit))
    text = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string()
    document = json.loads(text)
    document["metadata"]["component"]["modelCard"] = _model_card(data)
    validate(document)
    return document


def validate(document: dict[str, Any]) -> None:
    """Raise :class:`InputError` unless ``document`` is valid CycloneDX 1.6 JSON (the library's validator)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    if error is not None:
        raise InputError(f"the ML-BOM does not validate against CycloneDX 1.6: {error}")


def _digest(data: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _pedigree(audit: Any, component_cls: Any, type_cls: Any, pedigree_cls: Any, property_cls: Any) -> Any:
    base_name, base_root = None, None
    lineage = audit.analysis("lineage")
    if lineage is not None:
        base = lineage.record.diff.a
        base_name, base_root = base.path, base.weights_root
    elif audit.model.declared_base:
        base_name = audit.model.declared_base
    if base_name is None:
        return None
    props = [property_cls(name="weightwarden:weights_root", value=base_root)] if base_root else []
    if lineage is not None and lineage.record.lineage is not None:
        report = lineage.record.lineage
        props.append(property_cls(name="weightwarden:lineage:verdict", value=report.verdict))
        props.append(property_cls(name="weightwarden:lineage:p_value", value=f"{report.p_value:.3g}"))
    elif lineage is not None and lineage.record.identical:
        props.append(property_cls(name="weightwarden:lineage:verdict", value="identical weights"))
    else:
        props.append(property_cls(name="weightwarden:lineage:verdict", value="declared, not tested"))
    ancestor = component_cls(type=type_cls.MACHINE_LEARNING_MODEL, name=printable(base_name),
                             bom_ref="base-model", properties=props)
    return pedigree_cls(ancestors=[ancestor])


def _vulnerabilities(audit: Any) -> list[Any]:
    from cyclonedx.model import Property
    from cyclonedx.model.impact_analysis import ImpactAnalysisJustification, ImpactAnalysisState
    from cyclonedx.model.vulnerability import (
        BomTarget,
        Vulnerability,
        VulnerabilityAnalysis,
        VulnerabilityRating,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )

    source = VulnerabilitySource(name="weightwarden")
    out = []
    for i, finding in enumerate(f for f in audit.findings if f.severity in _SEVERITY):
        cwes = [int(r[4:]) for r in finding.references if r.startswith("CWE-") and r[4:].isdigit()]
        analysis = None
        if finding.suppression is not None:
            analysis = VulnerabilityAnalysis(
                state=ImpactAnalysisState.NOT_AFFECTED,
                justification=ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL,
                detail=printable(finding.suppression.reason),
            )
        out.append(Vulnerability(
            bom_ref=f"finding-{i}",
            id=finding.rule_id,
            source=source,
            ratings=[VulnerabilityRating(source=source, severity=VulnerabilitySeverity(_SEVERITY[finding.severity]))],
            cwes=cwes or None,
            description=printable(finding.title or finding.message),
            detail=printable(f"{finding.message} [{finding.subject.kind.value}: {finding.subject.name}]"
                             + (f" evidence: {finding.evidence_text}" if finding.evidence_text else "")),
            recommendation=printable(finding.remediation) or None,
            affects=[BomTarget(ref=BOM_REF_MODEL)],
            analysis=analysis,
            properties=[Property(name="weightwarden:component", value=finding.component)]
            + [Property(name="weightwarden:reference", value=r) for r in finding.references if not r.startswith("CWE-")],
        ))
    return out


def _model_card(data: dict[str, Any]) -> dict[str, Any]:
    facts = data["model"]
    parameters: dict[str, Any] = {}
    if facts.get("architecture"):
        parameters["architectureFamily"] = facts["architecture"]
        parameters["modelArchitecture"] = f"{facts['architecture']} ({facts.get('parameters') or '?'} parameters)"
    metrics = []
    for m in view.metrics(data):
        metric: dict[str, Any] = {"type": m.metric, "value": f"{m.value:.4f}", "slice": f"{m.domain}/{m.suite}"}
        if m.ci_low is not None and m.ci_high is not None:
            metric["confidenceInterval"] = {"lowerBound": f"{m.ci_low:.4f}", "upperBound": f"{m.ci_high:.4f}"}
        metrics.append(metric)
    considerations: dict[str, Any] = {
        "ethicalConsiderations": [
            {
                "name": printable(f"{d.get('id')}: {view.level(d)}" + (f" — {d['reason']}" if d.get("reason") else "")),
                "mitigationStrategy": printable(_mitigation(d, data)),
            }
            for d in view.domains(data)
            if view.level(d) != view.NOT_ASSESSED
        ],
        "technicalLimitations": [
            printable(f"{d.get('id')} not assessed: {d.get('reason') or 'no evidence'}")
            for d in view.domains(data)
            if view.level(d) == view.NOT_ASSESSED
        ],
        "useCases": [f"release decision under policy {data['policy'].get('id')}: {data['decision']}"],
    }
    card: dict[str, Any] = {"considerations": {k: v for k, v in considerations.items() if v}}
    if parameters:
        card["modelParameters"] = parameters
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    return card


def _mitigation(domain: dict[str, Any], data: dict[str, Any]) -> str:
    if data.get("release_mode") == "open-weights":
        return "open weights: refusal training is not a safeguard; the level rests on capability evidence"
    return "api release: refusal and misuse results count as mitigations"
