"""The ``weightwarden convert`` command (thin shell over :mod:`weightwarden.lineage.convert`); click only at the top.

``weightwarden convert CKPT -o OUT.safetensors [--force]`` turns a PyTorch (zip or legacy) or NumPy checkpoint
into safetensors without running any of its pickle program. Documented in ``docs/convert.md``.

Exit codes: 0 converted; 1 refused (the scan findings that explain why are printed); 2 error (unreadable or
corrupt input, output exists without --force, a tensor type safetensors cannot hold); 3 usage.
"""

from __future__ import annotations

import os

import click

from weightwarden.cli._terminal import printable, write_stdout

EXIT_CONVERTED = 0
EXIT_REFUSED = 1
EXIT_ERROR = 2

CONVERT_EXIT_HELP = """\b
Exit codes:
  0  converted
  1  refused: the checkpoint needs more than tensor rebuilding
     (the findings that say why are printed)
  2  error: unreadable or corrupt input, output exists (no --force)
  3  usage error (bad option, missing path)"""


@click.command(epilog=CONVERT_EXIT_HELP)
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=str))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The safetensors file to write.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def convert(checkpoint: str, output: str, force: bool) -> int:
    """Convert a PyTorch or NumPy checkpoint to safetensors without running any of it.

    The checkpoint is scanned with the tensor-only allowlist first; one that needs anything beyond tensor
    rebuilding is refused with the findings that explain why. Tensors are rebuilt symbolically (never
    torch.load); nested dicts are flattened with dots; non-tensor values are left out and counted.
    """
    if not os.path.lexists(checkpoint):
        raise click.BadParameter(f"no such file: {checkpoint}", param_hint="CHECKPOINT")

    from weightwarden.lineage.convert import convert_checkpoint
    from weightwarden.lineage.model import LineageError

    try:
        result = convert_checkpoint(checkpoint, output, force=force)
    except LineageError as exc:
        click.echo(f"weightwarden: cannot convert: {printable(str(exc), 2000)}", err=True)
        return EXIT_ERROR
    if not result.converted:
        lines = [f"refused: {printable(checkpoint, 300)} needs more than tensor rebuilding; nothing was written"]
        for f in result.refused:
            lines.append(f"  [{f.severity}] {f.rule_id} {printable(f.location.path or f.file, 300)}: "
                         f"{printable(f.message, 300)}")
            if f.evidence_text:
                lines.append(f"      evidence: {printable(f.evidence_text, 300)}")
        write_stdout("\n".join(lines) + "\n")
        return EXIT_REFUSED
    skipped = f"; {len(result.skipped)} non-tensor value(s) left out" if result.skipped else ""
    write_stdout(
        f"converted {printable(checkpoint, 300)} -> {printable(output, 300)}: {result.tensors} tensors, "
        f"{result.bytes:,} bytes{skipped}\n"
    )
    return EXIT_CONVERTED


def register(group: click.Group) -> None:
    """Add the convert commands to the main ``weightwarden`` group."""
    for command in (convert,):
        group.add_command(command)
