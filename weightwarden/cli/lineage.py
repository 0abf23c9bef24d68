"""The ``weightwarden lineage`` and ``weightwarden fingerprint`` commands: a thin shell over
:mod:`weightwarden.lineage.derivation` and :mod:`weightwarden.lineage.fingerprint`; click only at the top.

``lineage`` exits 0 when B is derived from A, 1 when the test finds B unrelated, 2 when it is inconclusive or a
model / fingerprint could not be read (the message names the file and the reason), 3 on usage errors.
numpy, scipy and the lineage modules are imported inside the commands so ``weightwarden --help`` stays light.
"""

from __future__ import annotations

import os

import click

from weightwarden.cli._options import FiniteFloat
from weightwarden.cli._terminal import printable, write_stdout

EXIT_DERIVED = 0
EXIT_UNRELATED = 1
EXIT_INCONCLUSIVE = 2

LINEAGE_EXIT_CODES = """\b
Exit codes:
  0  derived: B descends from A (p-value below --alpha)
  1  unrelated: no evidence that B descends from A
  2  inconclusive (reason given, e.g. no shared vocabulary),
     or a model / fingerprint could not be read (named)
  3  usage error"""

FINGERPRINT_EXIT_CODES = """\b
Exit codes:
  0  fingerprint written
  2  the model could not be read (named), or an internal error
  3  usage error"""


def _unreadable(command: str, exc: Exception) -> int:
    """Say on stderr why ``command`` could not read a model or fingerprint (an ``OSError``: the file and the
    reason; a ``LineageError``: its message, escaped); the exit code for that."""
    if isinstance(exc, OSError):
        message = printable(f"cannot read {exc.filename or ''}: {exc.strerror or exc}")
    else:
        message = printable(str(exc))
    click.echo(f"weightwarden {command}: {message}", err=True)
    return EXIT_INCONCLUSIVE


@click.command("lineage", epilog=LINEAGE_EXIT_CODES)
@click.argument("models", nargs=-1, metavar="[A] B", type=click.Path(path_type=str))
@click.option("--fingerprint", "fingerprint_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Compare B with this fingerprint of A (from `weightwarden fingerprint`) instead of A's weights.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"], case_sensitive=False), default="text",
              show_default=True, help="json follows weightwarden.lineage-report/v1.")
@click.option("--alpha", type=FiniteFloat(min=0.0, max=1.0, min_open=True, max_open=True), default=0.01,
              show_default=True, help="Significance level: 'derived' when the p-value is below it.")
@click.option("--allow-symlinks", is_flag=True,
              help="Also follow symbolic links that leave the model folder (links inside it, and a Hugging Face "
                   "cache snapshot's links into its blobs, are always read through).")
def lineage_command(models: tuple[str, ...], fingerprint_path: str | None, fmt: str, alpha: float,
                    allow_symlinks: bool) -> int:
    """Is model B derived from model A (fine-tune, quantisation, merge, pruning, disguised copy)?

    Decided from the weights alone: the hidden basis is aligned through the shared vocabulary's embeddings,
    each layer's MLP neurons are matched by their input and by their output weights, and the agreement of
    the two matchings gives a p-value. Declared metadata (base_model) is shown but never used as proof.
    Give A and B, or --fingerprint F.json and B.
    """
    expected = 1 if fingerprint_path else 2
    if len(models) != expected:
        usage = "B (with --fingerprint)" if fingerprint_path else "A and B"
        raise click.UsageError(f"expected {usage}, got {len(models)} path(s)")
    missing = [p for p in (*models, *([fingerprint_path] if fingerprint_path else [])) if not os.path.lexists(p)]
    if missing:
        raise click.BadParameter(f"no such file or folder: {', '.join(missing)}", param_hint="A/B")

    from weightwarden.lineage.derivation import assess_lineage
    from weightwarden.lineage.model import LineageError

    try:
        if fingerprint_path:
            from weightwarden.lineage.fingerprint import load_fingerprint

            report = assess_lineage(None, models[0], fingerprint=load_fingerprint(fingerprint_path), alpha=alpha,
                                    allow_symlinks=allow_symlinks)
        else:
            report = assess_lineage(models[0], models[1], alpha=alpha, allow_symlinks=allow_symlinks)
    except (LineageError, OSError) as exc:
        return _unreadable("lineage", exc)
    if fmt.lower() == "json":
        import json

        write_stdout(json.dumps(report.to_dict(), indent=2, ensure_ascii=True) + "\n")
    else:
        from weightwarden.report.lineage_text import render

        write_stdout(render(report))
    return {"derived": EXIT_DERIVED, "unrelated": EXIT_UNRELATED}.get(report.verdict, EXIT_INCONCLUSIVE)


@click.command("fingerprint", epilog=FINGERPRINT_EXIT_CODES)
@click.argument("path", metavar="PATH", type=click.Path(path_type=str))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the fingerprint JSON here (default: standard output).")
@click.option("--allow-symlinks", is_flag=True,
              help="Also follow symbolic links that leave the model folder (links inside it, and a Hugging Face "
                   "cache snapshot's links into its blobs, are always read through).")
def fingerprint_command(path: str, output: str | None, allow_symlinks: bool) -> int:
    """A compact, publishable fingerprint of a model (weights root, tensor digests, similarity sketch).

    Others can then test whether a model descends from this one without its weights:
    `weightwarden lineage --fingerprint F.json B`.
    """
    if not os.path.lexists(path):
        raise click.BadParameter(f"no such file or folder: {path}", param_hint="PATH")
    from weightwarden.lineage.fingerprint import make_fingerprint
    from weightwarden.lineage.model import LineageError

    try:
        text = make_fingerprint(path, allow_symlinks=allow_symlinks).to_json()
    except (LineageError, OSError) as exc:
        return _unreadable("fingerprint", exc)
    if output is None:
        write_stdout(text)
        return 0
    try:
        from weightwarden.core.files import write_atomic

        write_atomic(output, text.encode("utf-8"), 0o644)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"fingerprint of {printable(path)} written to {printable(output)} ({len(text)} bytes)", err=True)
    return 0


def register(group: click.Group) -> None:
    """Add the lineage commands to the main ``weightwarden`` group."""
    for command in (lineage_command, fingerprint_command):
        group.add_command(command)
