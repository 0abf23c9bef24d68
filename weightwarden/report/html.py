"""The audit as one self-contained HTML page: no network, no CDN, no script from elsewhere.

Top to bottom: the decision and its reasons; the risk-domain ladder (L0–L3, ``not assessed`` shown as such,
never as safe); the chosen framework's terms for each domain (from the risk crosswalk); SVG plots of the
capability evidence with its intervals and of the findings by component and severity; every finding with
its subject and location; what ran and what did not; the files and their digests; and the model-card
"Safety & provenance" section in Markdown with a copy button. Every string that came from a file, a model
or a log is sanitised (:func:`core.text.printable`) and HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

from weightwarden.core.text import printable
from weightwarden.report import _audit_view as view
from weightwarden.report import model_card

LEVELS = ("L0", "L1", "L2", "L3")
SEVERITIES = ("critical", "high", "medium", "low", "info")
_COLOURS = {"critical": "#8b0000", "high": "#d9381e", "medium": "#e69b00", "low": "#2f7fb8", "info": "#8a8a8a"}
_DECISION_COLOURS = {"open": "#1f7a3a", "staged": "#b26b00", "withhold": "#a4161a"}


def _e(text: object, limit: int | None = None) -> str:
    return html.escape(printable(text, limit), quote=True)


def render(record: Any, *, framework: str | None = None) -> str:
    """The page for an audit (``framework`` picks the crosswalk terms shown; default: the policy's), or for
    any other record the report layer renders (a scan report, one analysis, several): its findings."""
    from weightwarden.audit.record import Audit

    if not isinstance(record, Audit):
        return _analyses_page(record)
    audit = record
    data = audit.to_dict()
    framework = framework or data["policy"].get("framework") or _mirrored(data)
    parts = [
        _head(data),
        _decision(data),
        _ladder(data),
        _crosswalk(data, framework),
        _plots(data),
        _findings(data),
        _runs(data),
        _files(data),
        _card(audit),
        "</main></body></html>\n",
    ]
    return "".join(parts)


def _analyses_page(record: Any) -> str:
    from weightwarden.report.sarif import analyses_of

    analyses = analyses_of(record)
    findings = [f.to_dict() for a in analyses for f in a.findings]
    components = ", ".join(a.component for a in analyses)
    data = {"model": {"name": components, "path": ", ".join(_targets(a) for a in analyses)},
            "created": "", "tool": {"version": _version()}, "policy": {}, "release_mode": "", "findings": findings}
    runs = "".join(f"<li>{_e(a.component)}: {len(a.findings)} finding(s)</li>" for a in analyses)
    errors = "".join(f"<li>{_e(e.file)}: {_e(e.reason)}</li>" for a in analyses
                     for e in getattr(a.record, "errors", ()) or () if hasattr(e, "reason"))
    return "".join([
        _head(data, title=f"weightwarden {components} report"),
        "<h2>Evidence</h2>", _severity_plot(data), _findings(data),
        f'<h2>Analyses</h2><ul id="analyses">{runs}</ul>',
        f'<h2>Could not be read</h2><ul id="errors">{errors}</ul>' if errors else "",
        "</main></body></html>\n",
    ])


def _targets(analysis: Any) -> str:
    targets = getattr(analysis.record, "targets", None)
    return ", ".join(str(t) for t in targets) if targets else analysis.component


def _version() -> str:
    from weightwarden import __version__

    return __version__


def _mirrored(data: dict[str, Any]) -> str | None:
    mirrors = (data.get("assessment") or {}).get("policy", {}).get("mirrors")
    return mirrors if isinstance(mirrors, str) and mirrors else None


def _head(data: dict[str, Any], title: str | None = None) -> str:
    title = _e(title or f"weightwarden audit — {data['model']['name']}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}}
main{{max-width:1100px;margin:0 auto;padding:1.5rem}}
h1{{font-size:1.4rem;margin:.2rem 0}} h2{{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}} th,td{{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}}
th{{background:#f0f0f0}} .decision{{color:#fff;padding:1rem 1.2rem;border-radius:6px}}
.decision b{{font-size:1.6rem;text-transform:uppercase;letter-spacing:.05em}}
.lvl{{text-align:center;width:4.5rem}} .on{{font-weight:bold;color:#fff}}
.na{{background:repeating-linear-gradient(45deg,#eee,#eee 6px,#f8f8f8 6px,#f8f8f8 12px);font-style:italic}}
.sev{{color:#fff;padding:0 .35rem;border-radius:3px;font-size:.8rem}} code,pre{{font-family:ui-monospace,monospace}}
pre{{background:#f3f3f3;padding:.8rem;overflow:auto;white-space:pre-wrap}} .muted{{color:#666;font-weight:normal}}
</style></head><body><main>
<h1>{title}</h1>
<p class="muted">{_e(data['model']['path'])} · {_subtitle(data)}</p>
"""


def _subtitle(data: dict[str, Any]) -> str:
    if not data.get("policy"):
        return f"weightwarden {_e(data['tool']['version'])}"
    return (f"audited {_e(data['created'])} · weightwarden {_e(data['tool']['version'])} · policy "
            f"{_e(data['policy'].get('id'))} {_e(data['policy'].get('version', ''))} · {_e(data.get('release_mode'))}")


def _decision(data: dict[str, Any]) -> str:
    colour = _DECISION_COLOURS.get(data["decision"], "#444")
    reasons = "".join(f"<li>{_e(r)}</li>" for r in data.get("reasons", []))
    return (f'<section id="decision" class="decision" data-decision="{_e(data["decision"])}" '
            f'style="background:{colour}"><div>Release decision</div><b>{_e(data["decision"])}</b>'
            f"<ul>{reasons}</ul></section>\n")


def _ladder(data: dict[str, Any]) -> str:
    rows = []
    for d in view.domains(data):
        level = view.level(d)
        if level not in LEVELS:
            cells = f'<td colspan="4" class="na">not assessed: {_e(d.get("reason") or "no evidence")}</td>'
        else:
            cells = "".join(
                f'<td class="lvl{" on" if lvl == level else ""}"'
                f'{" style=background:" + _level_colour(lvl) if lvl == level else ""}>{lvl}</td>'
                for lvl in LEVELS
            )
        reason = f"<br><span class=muted>{_e(d.get('reason'), 300)}</span>" if level in LEVELS and d.get("reason") else ""
        rows.append(f'<tr data-domain="{_e(d.get("id"))}" data-level="{_e(level)}"><th>{_e(d.get("id"))}{reason}</th>'
                    f"{cells}<td>{_e(view.confidence_text(d))}</td>"
                    f"<td>{_e(view.evidence_summary(d), 500) or '—'}</td></tr>")
    gates = "".join(
        f'<li data-gate="{_e(g.get("id"))}" data-passed="{str(bool(g.get("passed"))).lower()}">'
        f"{_e(g.get('title') or g.get('id'))}: {'passed' if g.get('passed') else 'FAILED'}"
        f"{' — ' + _e(view.gate_reason(g)) if view.gate_reason(g) else ''}</li>"
        for g in view.gates(data)
    )
    return ('<h2>Risk domains</h2><table id="domains"><tr><th>domain</th><th colspan="4">level</th>'
            f'<th>confidence</th><th>evidence</th></tr>{"".join(rows)}</table>'
            + (f'<h3>Gates</h3><ul id="gates">{gates}</ul>' if gates else "") + "\n")


def _level_colour(level: str) -> str:
    return {"L0": "#1f7a3a", "L1": "#5b8c2a", "L2": "#d98e04", "L3": "#a4161a"}[level]


def _crosswalk(data: dict[str, Any], framework: str | None) -> str:
    """One framework's terms per domain when a framework is chosen (or mirrored by the policy), else the
    domain × framework matrix of terms."""
    from weightwarden.risk.crosswalk import load_crosswalk, rows

    crosswalk = load_crosswalk()
    frameworks = {f.id: f for f in crosswalk.frameworks}
    if framework in frameworks:
        fw = frameworks[framework]
        body = "".join(
            f'<tr data-domain="{_e(domain)}"><th>{_e(domain)}</th><td>{_e(status)}</td><td>{_e(term)}</td>'
            f"<td>{_e(thresholds)}</td></tr>"
            for domain, _, _, status, term, thresholds in rows(crosswalk, framework)
        )
        return (f'<h2>Framework terms — {_e(fw.id)} {_e(fw.version)}</h2><table id="crosswalk" '
                f'data-framework="{_e(fw.id)}"><tr><th>domain</th><th>status</th><th>term</th><th>thresholds</th>'
                f"</tr>{body}</table>\n")
    matrix: dict[str, dict[str, str]] = {}
    for domain, fw_id, _, _, term, _ in rows(crosswalk):
        matrix.setdefault(domain, {})[fw_id] = term
    head = "".join(f"<th>{_e(f.id)} {_e(f.version)}</th>" for f in crosswalk.frameworks)
    body = "".join(
        f'<tr data-domain="{_e(domain)}"><th>{_e(domain)}</th>'
        + "".join(f"<td>{_e(terms.get(f.id, '—'))}</td>" for f in crosswalk.frameworks) + "</tr>"
        for domain, terms in matrix.items()
    )
    return (f'<h2>Framework terms</h2><table id="crosswalk"><tr><th>domain</th>{head}</tr>{body}</table>'
            f'<p class="muted">Crosswalk data {_e(crosswalk.version)}; pass --framework to show one framework\'s '
            "terms with its thresholds.</p>\n")


def _plots(data: dict[str, Any]) -> str:
    return "<h2>Evidence</h2>" + _metric_plot(data) + _severity_plot(data) + "\n"


def _metric_plot(data: dict[str, Any]) -> str:
    bars = [(m.label, m.value, m.ci_low, m.ci_high) for m in view.metrics(data)]
    if not bars:
        return '<p id="metric-plot" class="muted">No capability evidence with a numeric value.</p>'
    width, row, left = 900, 26, 360
    height = row * len(bars) + 30
    scale = (width - left - 20)
    items = []
    for i, (label, value, low, high) in enumerate(bars):
        y = 10 + i * row
        v = max(0.0, min(1.0, value))
        items.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">{_e(label, 60)}</text>'
                     f'<rect x="{left}" y="{y + 4}" width="{v * scale:.1f}" height="14" fill="#4a78b5"/>')
        if isinstance(low, int | float) and isinstance(high, int | float):
            lo, hi = max(0.0, min(1.0, low)), max(0.0, min(1.0, high))
            items.append(f'<line x1="{left + lo * scale:.1f}" x2="{left + hi * scale:.1f}" y1="{y + 11}" '
                         f'y2="{y + 11}" stroke="#111" stroke-width="2"/>')
        items.append(f'<text x="{left + v * scale + 4:.1f}" y="{y + 15}" font-size="11">{value:.3f}</text>')
    axis = "".join(f'<text x="{left + t * scale:.1f}" y="{height - 4}" font-size="10" text-anchor="middle">{t:.1f}</text>'
                   for t in (0, 0.25, 0.5, 0.75, 1.0))
    return (f'<svg id="metric-plot" role="img" aria-label="capability evidence with intervals" '
            f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{"".join(items)}{axis}</svg>')


def _severity_plot(data: dict[str, Any]) -> str:
    counts: dict[str, dict[str, int]] = {}
    for f in data.get("findings", []):
        counts.setdefault(f["component"], {s: 0 for s in SEVERITIES})[f["severity"]] += 1
    if not counts:
        return '<p id="severity-plot" class="muted">No findings.</p>'
    width, row, left = 900, 28, 120
    top = max(sum(c.values()) for c in counts.values()) or 1
    scale = (width - left - 60) / top
    items = []
    for i, (component, by_sev) in enumerate(sorted(counts.items())):
        y, x = 8 + i * row, float(left)
        items.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" font-size="12">{_e(component)}</text>')
        for sev in SEVERITIES:
            if by_sev[sev]:
                w = by_sev[sev] * scale
                items.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="16" fill="{_COLOURS[sev]}">'
                             f"<title>{sev}: {by_sev[sev]}</title></rect>")
                x += w
        items.append(f'<text x="{x + 4:.1f}" y="{y + 15}" font-size="11">{sum(by_sev.values())}</text>')
    height = row * len(counts) + 12
    return (f'<svg id="severity-plot" role="img" aria-label="findings by component and severity" '
            f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{"".join(items)}</svg>')


def _findings(data: dict[str, Any]) -> str:
    order = {s: i for i, s in enumerate(SEVERITIES)}
    rows = []
    for f in sorted(data.get("findings", []), key=lambda f: (order[f["severity"]], f["component"], f["rule_id"])):
        loc = f["location"]
        where = " ".join(x for x in (
            printable(f["subject"]["file"]) if f["subject"]["file"] else "",
            printable(loc["path"]) if loc["path"] else "",
            f"@{loc['offset']}" if loc.get("offset") is not None else "",
        ) if x)
        evidence = "; ".join(printable(e["value"]) for e in f["evidence"] if e["kind"] == "text")
        supp = f' <i>(suppressed: {_e(f["suppression"]["reason"])})</i>' if f.get("suppression") else ""
        rows.append(
            f'<tr class="finding" data-severity="{f["severity"]}" data-rule="{_e(f["rule_id"])}">'
            f'<td><span class="sev" style="background:{_COLOURS[f["severity"]]}">{f["severity"]}</span></td>'
            f'<td>{_e(f["component"])}</td><td><code>{_e(f["rule_id"])}</code></td>'
            f'<td>{_e(f["subject"]["kind"])}: {_e(f["subject"]["name"], 200)}</td><td>{html.escape(where[:200])}</td>'
            f'<td>{_e(f["message"], 300)}{supp}'
            + (f'<br><span class="muted">evidence: {_e(evidence, 300)}</span>' if evidence else "")
            + (f'<br><span class="muted">fix: {_e(f["remediation"], 300)}</span>' if f.get("remediation") else "")
            + "</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="6">No findings.</td></tr>'
    return (f'<h2>Findings ({len(rows)})</h2><table id="findings"><tr><th>severity</th><th>component</th>'
            f"<th>rule</th><th>subject</th><th>location</th><th>finding</th></tr>{body}</table>\n")


def _runs(data: dict[str, Any]) -> str:
    ran = "".join(f"<li>{_e(a['component'])}: {a['findings']} finding(s)</li>" for a in data.get("analyses", []))
    skipped = "".join(f"<li>{_e(s['component'])} not run: {_e(s['reason'])}</li>" for s in data.get("skipped", []))
    sources = "".join(f"<li>{_e(s)}</li>" for s in data.get("evidence_sources", []))
    return (f'<h2>Analyses</h2><ul id="analyses">{ran}{skipped}</ul>'
            + (f"<h3>Evidence read</h3><ul>{sources}</ul>" if sources else "") + "\n")


def _files(data: dict[str, Any]) -> str:
    m = data["model"]
    facts = "".join(
        f"<tr><th>{k.replace('_', ' ')}</th><td>{_e(m[k])}</td></tr>"
        for k in ("weights_root", "parameters", "tensors", "container", "architecture", "declared_base")
        if m.get(k) is not None
    )
    files = "".join(f"<tr><td>{_e(f['path'])}</td><td>{f['size']:,}</td><td><code>{_e(f['sha256'])}</code></td></tr>"
                    for f in m.get("files", []))
    return (f'<h2>Model</h2><table id="facts">{facts}</table>'
            f'<table id="files"><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>{files}</table>\n')


def _card(audit: Any) -> str:
    text = model_card.render(audit)
    return ('<h2>Model card section</h2><p>Paste into the model card (Markdown):</p>'
            '<button id="copy-card" type="button" onclick="navigator.clipboard&&navigator.clipboard.writeText('
            "document.getElementById('model-card').textContent)\">Copy</button>"
            f'<pre id="model-card">{html.escape(text)}</pre>\n')
