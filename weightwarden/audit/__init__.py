"""``weightwarden audit``: one release audit that ends in a decision, from evidence.

Usage::

    from weightwarden.audit import AuditRequest, run_audit
    audit = run_audit(AuditRequest(Path("model"), eval_logs=(Path("run.jsonl"),), policy="default"))
    audit.decision            # "open" | "staged" | "withhold"
    audit.to_dict()           # schema weightwarden.audit/v1 (schemas/audit.v1.json)

Rendering (text, JSON, SARIF, HTML, CycloneDX ML-BOM, in-toto attestation, model card) is the report layer's
job: ``weightwarden.report.render(audit, "html")``.
"""

from weightwarden.audit.facts import FileFact, ModelFacts, describe_model
from weightwarden.audit.record import Audit, SkippedAnalysis
from weightwarden.audit.runner import AuditRequest, run_audit

__all__ = ["Audit", "AuditRequest", "FileFact", "ModelFacts", "SkippedAnalysis", "describe_model", "run_audit"]
