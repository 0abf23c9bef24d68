"""The audit as terminal text: decision first, then the domain levels and gates, then the findings that
drove them, then what did not run. Plain text (no rich): the audit is read in CI logs as often as on a
terminal, and every string from a file or model is sanitised."""

from __future__ import annotations

from typing import Any

from weightwarden.core.text import printable
from weightwarden.report import _audit_view as view

_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def render(audit: Any, *, max_findings: int = 30) -> str:
    data = audit.to_dict()
    lines = [
        f"Audit of {printable(data['model']['path'])} under policy {printable(data['policy'].get('id'))} "
        f"{printable(data['policy'].get('version', ''))} ({printable(data.get('release_mode'))})",
        "",
        f"DECISION: {data['decision'].upper()}",
    ]
    lines += [f"  - {printable(r)}" for r in data.get("reasons", [])]
    lines += ["", "Risk domains:"]
    width = max((len(str(d.get("id"))) for d in view.domains(data)), default=10)
    for d in view.domains(data):
        reason = f" — {printable(d['reason'])}" if d.get("reason") else ""
        lines.append(f"  {printable(d.get('id')):<{width}}  {view.level(d):<12}{reason}")
        if view.level(d) != view.NOT_ASSESSED:
            lines.append(f"  {'':<{width}}  {'':<12}confidence: {view.confidence_text(d)}")
    gates = view.gates(data)
    if gates:
        lines += ["", "Gates:"]
        lines += [f"  {'pass' if g.get('passed') else 'FAIL'}  {printable(g.get('title') or g.get('id'))}"
                  + (f" — {printable(view.gate_reason(g))}" if view.gate_reason(g) else "") for g in gates]
    findings = sorted(data.get("findings", []), key=lambda f: (_ORDER[f["severity"]], f["component"], f["rule_id"]))
    shown = [f for f in findings if f["severity"] != "info"]
    lines += ["", f"Findings: {len(findings)} ({len(shown)} low or above)"]
    for f in shown[:max_findings]:
        subject = f["subject"]
        where = f" in {printable(subject['file'])}" if subject.get("file") else ""
        supp = " [suppressed]" if f.get("suppression") else ""
        lines.append(f"  [{f['severity']}] {f['rule_id']} {subject['kind']} {printable(subject['name'], 120)}{where}: "
                     f"{printable(f['message'], 200)}{supp}")
    if len(shown) > max_findings:
        lines.append(f"  … {len(shown) - max_findings} more (use --format json or html for all)")
    skipped = data.get("skipped", [])
    if skipped:
        lines += ["", "Not run:"]
        lines += [f"  {printable(s['component'])}: {printable(s['reason'])}" for s in skipped]
    return "\n".join(lines) + "\n"
