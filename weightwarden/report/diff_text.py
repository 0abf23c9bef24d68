"""The weight diff as terminal text: summary, flagged changes first, the largest changes, structure, then
the per-layer table. Model-supplied names and evidence are sanitised; long lists are capped (JSON has all)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from weightwarden.core.text import printable

MAX_STRUCTURE_LINES = 50


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec)


def render(result: Any, *, top: int = 20) -> str:
    """The readable report: summary, flagged changes first, largest changes, then the per-layer table."""
    lines: list[str] = []
    a, b = result.a, result.b
    lines.append(f"A: {printable(a.path)}  [{a.container}, {a.tensors} tensors]  weights root {a.weights_root}")
    lines.append(f"B: {printable(b.path)}  [{b.container}, {b.tensors} tensors]  weights root {b.weights_root}")
    if result.identical:
        lines.append("identical weights: every tensor has the same digest")
        return "\n".join(lines) + "\n"
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.kinds().items(), key=lambda kv: -kv[1]))
    lines.append(f"different: {len(result.changes)} tensors changed ({kinds}); {result.identical_tensors} identical")
    if result.replaced_layers:
        spans = ", ".join(f"{lo}–{hi}" if hi > lo else str(lo) for lo, hi in result.replaced_layers)
        lines.append(f"replaced layers: {spans} (whole blocks whose every weight matrix comes from elsewhere: "
                     "a frankenmerge or layer swap)")
    if a.architecture and b.architecture and a.architecture != b.architecture:
        lines.append(f"note: different architectures ({printable(a.architecture)} vs {printable(b.architecture)}): "
                     "tensors are matched by canonical name, so little or nothing lines up")
    flagged = result.flagged_changes()
    if flagged:
        lines.append("")
        lines.append(f"FLAGGED ({len(flagged)}): changes that look like targeted edits")
        for c in flagged:
            lines.append(f"  ! {printable(c.name, 200)}: {c.kind}")
            for ev in c.evidence:  # may quote tokens from the model's vocabulary: cut
                lines.append(f"      {printable(ev, 500)}")
    if top and result.top:
        lines.append("")
        lines.append(f"largest changes (top {min(top, len(result.top))} by ‖Δ‖/‖A‖):")
        width = max(len(printable(n)) for n in result.top)
        lines.append(f"  {'tensor':<{width}}  {'class':<19} {'rel.norm':>9} {'changed':>8} {'max|Δ|':>9} {'rank':>5}")
        for name in result.top:
            c = result.change(name)
            rank = "-" if c.effective_rank is None else str(c.effective_rank)
            if c.effective_rank is None and c.top_energy is not None:
                rank = ">64"  # randomised SVD: only the top 64 singular values were estimated
            changed = "-" if c.frac_changed is None else f"{100 * c.frac_changed:.3g}%"
            lines.append(f"  {printable(name):<{width}}  {c.kind:<19} {_fmt(c.rel_norm):>9} {changed:>8} "
                         f"{_fmt(c.max_abs):>9} {rank:>5}")
    other = [c for c in result.changes if c.rel_norm is None]
    if other:
        lines.append("")
        lines.append("structure:")
        # A header may declare 300,000 tensors: list the first ones and count the rest (JSON has them all).
        for c in other[:MAX_STRUCTURE_LINES]:
            lines.append(f"  {printable(c.name, 200)}: {c.kind} — {printable('; '.join(c.evidence), 300)}")
        if len(other) > MAX_STRUCTURE_LINES:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(Counter(c.kind for c in other).items()))
            lines.append(f"  … and {len(other) - MAX_STRUCTURE_LINES} more ({kinds} in all; --format json lists "
                         "every one)")
    lines.append("")
    lines.append("per layer (\"-\": tensors outside the blocks):")
    lines.append(f"  {'layer':>6} {'tensors':>7} {'changed':>7} {'max rel':>9}  classes")
    unchanged = [layer for layer in result.layers if not layer.changed]
    changed_layers = [layer for layer in result.layers if layer.changed]
    for layer in changed_layers[:MAX_STRUCTURE_LINES * 4]:
        label = "-" if layer.layer is None else str(layer.layer)
        classes = ", ".join(f"{k}×{n}" for k, n in sorted(layer.kinds.items()))
        lines.append(f"  {label:>6} {layer.tensors:>7} {layer.changed:>7} {layer.max_rel_norm:>9.3g}  {classes}")
    if len(changed_layers) > MAX_STRUCTURE_LINES * 4:
        lines.append(f"  … and {len(changed_layers) - MAX_STRUCTURE_LINES * 4} more changed layers")
    if unchanged:
        labels = ", ".join("-" if la.layer is None else str(la.layer) for la in unchanged[:MAX_STRUCTURE_LINES * 4])
        if len(unchanged) > MAX_STRUCTURE_LINES * 4:
            labels += f", … ({len(unchanged)} in all)"
        lines.append(f"  no change in {len(unchanged)} layer(s): {labels}")
    return "\n".join(lines) + "\n"
