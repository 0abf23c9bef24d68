"""The ``weightwarden diff`` command (thin shell over :mod:`weightwarden.lineage.diff`); click only at the top.

Exit codes: 0 the weights are identical (equal weights roots), 1 they differ, 2 error (a model could not be
read; the message names the file and reason). numpy and the lineage modules are imported inside the command
so ``weightwarden --help`` stays light.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import click

from weightwarden.cli._terminal import printable, write_stdout

EXIT_IDENTICAL = 0
EXIT_DIFFERENT = 1
EXIT_ERROR = 2
MAX_STRUCTURE_LINES = 50

DIFF_EXIT_CODES = """\b
Exit codes:
  0  identical weights (equal weights roots)
  1  the weights differ
  2  a model could not be read (named), or an internal error
  3  usage error"""


@click.command("diff", epilog=DIFF_EXIT_CODES)
@click.argument("model_a", metavar="A", type=click.Path(path_type=str))
@click.argument("model_b", metavar="B", type=click.Path(path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "json"], case_sensitive=False), default="text",
              show_default=True, help="text: summary, flagged changes, per-layer table; json: weightwarden.diff/v1.")
@click.option("--top", "top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the largest changes (by relative norm) to list.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Threads (default: CPU count).")
@click.option("--allow-symlinks", is_flag=True,
              help="Also follow symbolic links that leave the model folder (links inside it, and a Hugging Face "
                   "cache snapshot's links into its blobs, are always read through).")
def diff_command(model_a: str, model_b: str, fmt: str, top: int, workers: int | None, allow_symlinks: bool) -> int:
    """What changed between the weights of model A and model B, tensor by tensor.

    A and B are files or folders in any supported container (safetensors, GGUF, PyTorch checkpoint,
    NumPy, ONNX); tensors are matched by canonical name, so a GGUF and a safetensors copy of the same weights
    compare equal. Each differing tensor is measured and classified (quantisation noise, dense fine-tune,
    low-rank update, rank-1 edit, embedding rows, pruning, ...). Nothing in either model is executed.
    """
    missing = [p for p in (model_a, model_b) if not os.path.lexists(p)]
    if missing:
        raise click.BadParameter(f"no such file or folder: {', '.join(missing)}", param_hint="A/B")

    from weightwarden.lineage.diff import diff_models
    from weightwarden.lineage.model import LineageError

    try:
        result = diff_models(model_a, model_b, top_k=top, workers=workers, allow_symlinks=allow_symlinks)
    except LineageError as exc:
        click.echo(f"weightwarden diff: {printable(exc)}", err=True)
        return EXIT_ERROR
    except OSError as exc:
        click.echo(f"weightwarden diff: cannot read {printable(exc.filename or '')}: {exc.strerror or exc}", err=True)
        return EXIT_ERROR
    if fmt.lower() == "json":
        import json

        write_stdout(json.dumps(result.to_dict(), indent=2, ensure_ascii=True) + "\n")
    else:
        write_stdout(render_text(result, top=top))
    return EXIT_IDENTICAL if result.identical else EXIT_DIFFERENT


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "-" if x is None else format(x, spec)


def render_text(result: Any, *, top: int = 20) -> str:
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


def register(group: click.Group) -> None:
    """Add the diff command to the main ``weightwarden`` group."""
    for command in (diff_command,):
        group.add_command(command)
