"""The "Safety & provenance" section of a model card, in Markdown a publisher can paste into a README.

Every value comes from the audit record and every string from a file or model is sanitised and escaped for
Markdown tables, so a hostile file name cannot inject links or HTML into the card.
"""

from __future__ import annotations

from typing import Any

from weightwarden.core.text import printable
from weightwarden.report import _audit_view as view

LEVEL_WORDS = {"L0": "no meaningful uplift", "L1": "some capability, below thresholds",
               "L2": "threshold reached: safeguards required", "L3": "beyond thresholds: do not release openly"}


def _md(text: object) -> str:
    """Text from a model or a user as an inline code span: never a link (GFM autolinks bare URLs, ``www.``
    names and e-mail addresses in plain text, not in code), never markup; pipes escaped for table cells."""
    cleaned = printable(text).replace("|", "\\|")
    longest = run = 0
    for ch in cleaned:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if cleaned.startswith("`") or cleaned.endswith("`") or not cleaned else ""
    return f"{fence}{pad}{cleaned}{pad}{fence}"


def render(audit: Any) -> str:
    data = audit.to_dict() if hasattr(audit, "to_dict") else audit
    model = data["model"]
    lines = [
        "## Safety & provenance",
        "",
        f"Audited with weightwarden {data['tool']['version']} on {data['created']} under policy "
        f"{_md(data['policy'].get('id'))} {_md(data['policy'].get('version', ''))} "
        f"({_md(data.get('release_mode'))}). **Release decision: {data['decision']}.**",
        "",
    ]
    if data.get("reasons"):
        lines += [f"- {_md(r)}" for r in data["reasons"]] + [""]
    lines += ["| risk domain | level | confidence | basis |", "| --- | --- | --- | --- |"]
    for d in view.domains(data):
        level = view.level(d)
        basis = d.get("reason") or LEVEL_WORDS.get(level, "")
        lines.append(f"| {_md(d.get('id'))} | {_md(level)} | {_md(view.confidence_text(d))} | {_md(basis)} |")
    lines += ["", "**Provenance**", ""]
    if model.get("weights_root"):
        lines.append(f"- Weights root (RFC 6962, BLAKE3 tensor digests): {_md(model['weights_root'])}")
    if model.get("parameters"):
        lines.append(f"- Parameters: {model['parameters']:,} in {model.get('tensors')} tensors "
                     f"({_md(model.get('container'))}, {_md(model.get('architecture'))})")
    if model.get("declared_base"):
        lines.append(f"- Declared base model: {_md(model['declared_base'])}")
    for a in data.get("analyses", []):
        if a["component"] == "integrity":
            verified = a["record"].get("verified")
            lines.append(f"- Signature: {'verified' if verified else 'NOT verified'} "
                         f"({_md(a['record'].get('signer') or 'unknown signer')})")
        if a["component"] == "lineage":
            lin = a["record"].get("lineage") or {}
            verdict = "identical weights" if a["record"].get("identical") else lin.get("verdict", "not tested")
            lines.append(f"- Lineage against the base: {_md(verdict)}")
    for s in data.get("skipped", []):
        lines.append(f"- Not run: {_md(s['component'])} — {_md(s['reason'])}")
    findings = [f for f in data.get("findings", []) if f["severity"] in ("critical", "high", "medium")]
    lines += ["", f"**Findings** ({len(findings)} medium or above)", ""]
    for f in findings[:20]:
        lines.append(f"- [{f['severity']}] {_md(f['rule_id'])}: {_md(f['message'])} "
                     f"({_md(f['subject']['kind'])} {_md(f['subject']['name'])})")
    if len(findings) > 20:
        lines.append(f"- … and {len(findings) - 20} more (see the full audit report)")
    files = model.get("files", [])
    lines += ["", f"**Files** ({len(files)}, SHA-256)", ""]
    lines += [f"- {_md(f['path'])}: sha256 {_md(f['sha256'])}" for f in files[:50]]
    return "\n".join(lines) + "\n"
