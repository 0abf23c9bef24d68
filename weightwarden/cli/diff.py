"""The ``weightwarden diff`` command (thin shell over :mod:`weightwarden.lineage.diff`); click only at the top.

Exit codes: 0 the weights are identical (equal weights roots), 1 they differ, 2 error (a model could not be
read; the message names the file and reason). numpy and the lineage modules are imported inside the command
so ``weightwarden --help`` stays light.
"""

from __future__ import annotations

import os

import click

from weightwarden.cli._terminal import printable, write_stdout

EXIT_IDENTICAL = 0
EXIT_DIFFERENT = 1
EXIT_ERROR = 2

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
        from weightwarden.report.diff_text import render

        write_stdout(render(result, top=top))
    return EXIT_IDENTICAL if result.identical else EXIT_DIFFERENT


def register(group: click.Group) -> None:
    """Add the diff command to the main ``weightwarden`` group."""
    for command in (diff_command,):
        group.add_command(command)
