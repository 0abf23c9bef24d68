"""The derivation test as terminal text: verdict, p-value and score, the models as declared (shown, never
evidence), and the per-layer agreements. Model-supplied strings are sanitised."""

from __future__ import annotations

from typing import Any

from weightwarden.core.text import printable


def _p(report: Any) -> str:
    if report.p_value == 0 and report.log10_p == float("-inf"):
        return "0 (identical weights)"
    if report.p_value > 0:
        return f"{report.p_value:.3g}"
    return f"1e{report.log10_p:.0f}"


def render(report: Any) -> str:
    """The readable report: verdict and p-value, both models as declared, then per-layer evidence."""
    lines = [
        f"verdict: {report.verdict.upper()}  (p = {_p(report)}, alpha = {report.alpha:g}, score = {report.score:.3f})",
        f"  {printable(report.reason)}",
    ]
    for tag, model in (("A", report.a), ("B", report.b)):
        kind = "fingerprint of " if model.get("fingerprint") else ""
        lines.append(
            f"{tag}: {kind}{printable(model.get('path'))}  [{model.get('container') or '?'}, "
            f"{model.get('architecture') or 'unknown architecture'}, vocab {model.get('vocab_size') or '?'}]"
        )
        declared = model.get("declared_base_model")
        lines.append(f"   declared base model: {printable(declared) if declared else '-'} (shown, never used as proof)")
    if report.shared_tokens:
        align = "" if report.embedding_alignment is None else \
            f", embedding alignment {report.embedding_alignment:.3f}"
        what = "anchor tokens found in B" if report.a.get("fingerprint") else "shared tokens"
        lines.append(f"{what}: {report.shared_tokens}{align}")
    if report.layers:
        lines.append("")
        lines.append(f"{'layer':>5}  {'neurons':>7}  {'agree':>6}  {'chance':>6}  {'similarity':>10}  "
                     f"{'log10 p':>8}  shared")
        for e in report.layers:
            lines.append(f"{e.layer:>5}  {e.neurons:>7}  {e.agreements:>6}  {e.expected:>6.2f}  "
                         f"{e.similarity:>10.3f}  {e.log10_p:>8.1f}  {'yes' if e.shared else 'no'}")
    for note in report.notes:
        lines.append(f"note: {printable(note)}")
    lines.append(f"method: {report.method}")
    return "\n".join(lines) + "\n"
