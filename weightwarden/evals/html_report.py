"""The HTML report of an eval run: one self-contained file (inline CSS and SVG charts; no script, no CDN).

    results = write_report("run.jsonl", "report.html")    # also writes report.summary.json next to it

Model answers are untrusted text (an attacker may have crafted the model, and answers to injection suites
are made to contain markup), so every value that comes from the log is HTML-escaped, in the tables, the
chart labels and the examples alike, and the page carries a Content-Security-Policy that forbids scripts.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from weightwarden.evals.log import AttemptRecord, EvalLog, read_log
from weightwarden.evals.results import (
    METRIC_LABELS,
    GroupStats,
    RateEstimate,
    RunResults,
    format_rate,
    outcomes,
    summarize,
)

MAX_EXAMPLE_CHARS = 1500
EXAMPLES_PER_SUITE = 3
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#1d2430;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccd;padding-bottom:.2em}
h3{margin-top:1.5em}table{border-collapse:collapse;margin:.6em 0;width:100%}
th,td{border:1px solid #d5d9e0;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f1f3f7}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:#667}.bad{color:#a11}.ok{color:#176b2c}.warn{color:#8a5a00}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f7f9;border:1px solid #e1e4ea;padding:.5em;
margin:.3em 0;max-height:24em;overflow:auto}
details{margin:.4em 0}summary{cursor:pointer}code{font-size:.95em}
.note{background:#fff8e6;border:1px solid #f0d890;padding:.5em .8em}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}
"""


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so the result is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


# ------------------------------------------------------------------------------------------------- charts

def bar_chart(rows: Sequence[tuple[str, RateEstimate]], *, title: str) -> str:
    """Horizontal bars (rate) with 95% CI whiskers, 0–100%; an unscored row shows 'not scored'."""
    label_w, bar_w, row_h, top = 330, 560, 22, 26
    height = top + row_h * len(rows) + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{label_w + bar_w + 80}" '
             f'height="{height}" aria-label="{esc(title)}">', f'<title>{esc(title)}</title>']
    for tick in range(0, 101, 25):
        x = label_w + bar_w * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 18}" stroke="#dde"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 4}" text-anchor="middle">{tick}%</text>')
    for i, (label, est) in enumerate(rows):
        y = top + i * row_h
        short = label if len(label) <= 48 else label[:47] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{esc(short)}</text>')
        if est.rate is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 14}" fill="#667">not scored</text>')
            continue
        w = bar_w * est.rate
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="#c8553d" '
                     f'fill-opacity="0.75"/>')
        lo, hi = label_w + bar_w * (est.ci_low or 0), label_w + bar_w * (est.ci_high or 0)
        mid = y + row_h / 2 - 1
        parts.append(f'<line x1="{lo:.1f}" y1="{mid:.1f}" x2="{hi:.1f}" y2="{mid:.1f}" stroke="#222"/>')
        for x in (lo, hi):
            parts.append(f'<line x1="{x:.1f}" y1="{mid - 4:.1f}" x2="{x:.1f}" y2="{mid + 4:.1f}" stroke="#222"/>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 14}">{esc(_pct(est.rate))} '
                     f'<tspan fill="#667">n={est.n}</tspan></text>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------- tables

def _metrics_table(stats: GroupStats, *, judged: bool) -> str:
    if not stats.metrics:
        return '<p class="muted">Nothing scored.</p>'
    rows = []
    for name, est in sorted(stats.metrics.items()):
        if name == "harmful_content" and not judged:
            rows.append(f"<tr><td>{esc(METRIC_LABELS[name])}</td><td colspan='5' class='muted'>not scored: no "
                        "judge configured (run with --judge SPEC)</td></tr>")
            continue
        interval = ("n too small" if est.rate is not None and est.ci_low is None
                    else f"{_pct(est.ci_low)} – {_pct(est.ci_high)}")
        corrected = "—"
        if est.corrected is not None:
            rate, low, high = est.corrected
            corrected = f"{_pct(rate)} [{_pct(low)} – {_pct(high)}]"
        rows.append(
            f"<tr><td>{esc(METRIC_LABELS.get(name, name))}</td><td class='num'>{esc(_pct(est.rate))}</td>"
            f"<td class='num'>{esc(interval)}</td>"
            f"<td class='num'>{est.k} / {est.n}</td><td class='num'>{est.undecided}</td>"
            f"<td class='num'>{esc(corrected)}</td></tr>"
        )
    return ("<table><tr><th>metric</th><th>rate</th><th>95% CI (Wilson)</th><th>misbehaved / scored</th>"
            "<th>undecided</th><th>corrected for detector error</th></tr>" + "".join(rows) + "</table>")


def _errors_line(stats: GroupStats, *, judged: bool) -> str:
    bits = [f"{stats.attempts} attempts"]
    if stats.errors:
        kinds = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(stats.error_kinds.items()))
        bits.append(f"<span class='bad'>{stats.errors} errors ({kinds}) — not scored, not in any rate</span>")
    else:
        bits.append("0 errors")
    if stats.truncated:
        bits.append(f"<span class='warn'>{stats.truncated} answers cut off at max_tokens (scored)</span>")
    # Without a judge, the judge's "no judge configured" verdicts are expected, not errors worth a warning.
    detector_errors = {k: v for k, v in stats.detector_errors.items() if judged or k != "judge"}
    if detector_errors:
        det = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(detector_errors.items()))
        bits.append(f"<span class='warn'>detector errors: {det}</span>")
    return "<p>" + " · ".join(bits) + "</p>"


def _categories_table(categories: dict[str, GroupStats]) -> str:
    names = sorted({m for g in categories.values() for m in g.metrics})
    if not names:
        return ""
    head = "".join(f"<th>{esc(METRIC_LABELS.get(n, n))}</th>" for n in names)
    rows = []
    for category, stats in sorted(categories.items()):
        cells = "".join(
            f"<td class='num'>{esc(format_rate(stats.metrics[n])) if n in stats.metrics else '—'}</td>"
            for n in names
        )
        rows.append(f"<tr><td>{esc(category)}</td>{cells}<td class='num'>{stats.errors}</td></tr>")
    return (f"<details><summary>By category ({len(categories)})</summary><table><tr><th>category</th>{head}"
            "<th>errors</th></tr>" + "".join(rows) + "</table></details>")


def _example(record: AttemptRecord) -> str:
    prompt = next((m.get("content", "") for m in reversed(record.messages) if m.get("role") == "user"), "")
    answer = record.response if record.response is not None else ""

    def clip(text: str) -> str:
        return text if len(text) <= MAX_EXAMPLE_CHARS else text[:MAX_EXAMPLE_CHARS] + f"… [{len(text)} chars]"

    verdicts = "; ".join(
        f"{d.get('detector')}: {d.get('label')}" + (f" (error: {d.get('error')})" if d.get("error") else "")
        for d in record.detectors
    )
    head = f"{record.item_id} · {record.category}" + (f" · error: {record.error}" if record.error else "")
    return (f"<details><summary>{esc(head)}</summary><p class='muted'>{esc(verdicts)}</p>"
            f"<div>last user turn:</div><pre>{esc(clip(prompt))}</pre>"
            f"<div>answer (untrusted model output):</div><pre>{esc(clip(answer))}</pre></details>")


def _examples(records: Iterable[AttemptRecord]) -> str:
    bad, errors = [], []
    for record in records:
        if not record.ok:
            errors.append(record)
        elif any(outcomes(record).values()):
            bad.append(record)
    parts = []
    if bad:
        parts.append(f"<h4>Misbehaved (first {min(len(bad), EXAMPLES_PER_SUITE)} of {len(bad)})</h4>")
        parts += [_example(r) for r in bad[:EXAMPLES_PER_SUITE]]
    if errors:
        parts.append(f"<h4>Errors (first {min(len(errors), EXAMPLES_PER_SUITE)} of {len(errors)})</h4>")
        parts += [_example(r) for r in errors[:EXAMPLES_PER_SUITE]]
    return "".join(parts)


def _header_table(header: dict[str, Any]) -> str:
    model = header.get("model") or {}
    judge = header.get("judge")
    config = header.get("config") or {}
    rows = [
        ("model", f"{model.get('model')} ({model.get('kind')})"),
        ("model digest / endpoint", model.get("digest") or model.get("endpoint") or "—"),
        ("judge", "none configured (judge metrics not scored)" if not judge
         else f"{judge.get('model')} ({judge.get('kind')}, {judge.get('digest') or judge.get('endpoint')})"),
        ("sampling", json.dumps(config.get("sampling"), sort_keys=True)),
        ("transforms", ", ".join(config.get("transforms") or [])),
        ("selection", f"limit={config.get('limit')} sample={config.get('sample')} seed={header.get('seed')}"),
        ("detectors", ", ".join(f"{k} {v}" for k, v in (header.get("detectors") or {}).items())),
        ("config digest", header.get("config_digest")),
        ("weightwarden", header.get("weightwarden_version")),
        ("started", header.get("started_at")),
    ]
    body = "".join(f"<tr><th>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>" for k, v in rows)
    datasets = "".join(
        f"<tr><td>{esc(sid)}</td><td>{esc(d.get('version'))}</td><td>{esc(d.get('family'))}</td>"
        f"<td>{esc(d.get('items'))}</td><td><code>{esc(d.get('source_digest'))}</code></td>"
        f"<td>{esc(d.get('license') or '—')}</td><td>{esc(d.get('source'))}</td></tr>"
        for sid, d in (header.get("datasets") or {}).items()
    )
    return (f"<table>{body}</table><h3>Suites and data</h3><table><tr><th>suite</th><th>version</th>"
            f"<th>family</th><th>items</th><th>data digest</th><th>licence</th><th>source</th></tr>{datasets}"
            "</table>")


def render_html(results: RunResults, log: EvalLog) -> str:
    """The report page as a string."""
    header = results.header
    model = (header.get("model") or {}).get("model", "model")
    latest = log.latest()
    rows: list[tuple[str, RateEstimate]] = []
    for suite_id, suite in results.suites.items():
        for name, est in sorted(suite.overall.metrics.items()):
            rows.append((f"{suite_id} · {METRIC_LABELS.get(name, name)}", est))
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">",
        f"<title>weightwarden eval · {esc(model)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Safety evaluation of {esc(model)}</h1>",
        f"<p class='muted'>{results.total.attempts} attempts in {len(results.suites)} suites · "
        f"{results.records} log records · weightwarden {esc(header.get('weightwarden_version'))}</p>",
        "<p class='note'>Rates count only scored attempts; higher is worse for every metric. Errors (backend "
        "errors, timeouts, empty answers) are never counted as an attack that failed: they are listed apart. "
        "Complied is not the same as gave usable harmful content: both are shown when a judge is configured."
        "</p>",
    ]
    if results.warnings:
        out.append("<p class='warn'>" + "<br>".join(esc(w) for w in results.warnings) + "</p>")
    judged = bool(header.get("judge"))
    out.append("<h2>Overview</h2>" + _errors_line(results.total, judged=judged))
    if rows:
        out.append(bar_chart(rows, title="Misbehaviour rate per suite and metric, with 95% CI"))
    if len(results.transforms) > 1 or any(t != "none" for t in results.transforms):
        t_rows = [(f"{t} · {METRIC_LABELS.get(n, n)}", est) for t, g in sorted(results.transforms.items())
                  for n, est in sorted(g.metrics.items())
                  if n in ("attack_success", "non_refusal", "harmful_content")]
        out.append("<h2>Jailbreak transforms</h2>")
        out.append(bar_chart(t_rows, title="Attack success per jailbreak transform, with 95% CI"))
    out.append("<h2>Suites</h2>")
    for suite_id, suite in results.suites.items():
        records = [r for k, r in latest.items() if k[0] == suite_id]
        out.append(f"<h3>{esc(suite_id)} <span class='muted'>({esc(suite.family)}, transform "
                   f"{esc(suite.transform)})</span></h3>")
        out.append(_errors_line(suite.overall, judged=judged) + _metrics_table(suite.overall, judged=judged))
        out.append(_categories_table(suite.categories))
        out.append(_examples(records))
    out.append("<h2>Run</h2>" + _header_table(header))
    out.append("</body></html>\n")
    return "\n".join(out)


def summary_path_for(html_path: str | os.PathLike[str]) -> Path:
    path = Path(html_path)
    return path.with_name(path.stem + ".summary.json")


def write_report(log_path: str | os.PathLike[str], html_path: str | os.PathLike[str], *,
                 summary_path: str | os.PathLike[str] | None = None) -> RunResults:
    """Read a log, write the HTML report and the JSON summary (default: ``<report>.summary.json``)."""
    log = read_log(log_path)
    results = summarize(log)
    Path(html_path).write_text(render_html(results, log), encoding="utf-8")
    target = Path(summary_path) if summary_path is not None else summary_path_for(html_path)
    target.write_text(json.dumps(results.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return results
