"""The ``weightwarden`` command: a thin shell that parses arguments, calls the library and renders.

Entry point ``weightwarden = weightwarden.cli.main:run``. This module imports only click at the top: the
scan machinery, rich and the readers are imported inside the commands, so ``weightwarden --help`` starts
fast. Exit codes are the contract CI pipelines rely on (see ``docs/scan.md``):

- 0: clean — no finding at or above ``--fail-on`` and every file scanned;
- 1: at least one finding at or above ``--fail-on``;
- 2: something could not be scanned (named on stderr / in the report) and no finding reached ``--fail-on``;
  also any unexpected internal error (reported as a message, never a traceback);
- 3: usage error (bad option, missing or non-existent path).

Nothing here touches the network or sends telemetry.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from weightwarden import __version__
from weightwarden.cli._terminal import (
    DEFAULT_WIDTH,
    progress_bar,
    stdout_is_terminal,
    terminal_width,
    use_color,
    write_stdout,
)
from weightwarden.core.errors import WeightwardenError
from weightwarden.core.text import printable

if TYPE_CHECKING:
    from weightwarden.core.limits import Limits

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2
EXIT_USAGE = 3
SEVERITIES = ("critical", "high", "medium", "low", "info")
PROGRESS_MIN_FILES = 50  # below this a folder scans too fast for a progress bar to help

EXIT_CODES_HELP = """\b
Exit codes:
  0  clean: no finding at or above --fail-on, every file scanned
  1  findings at or above --fail-on
  2  something could not be scanned (it is named), and no finding
     reached --fail-on; also internal errors
  3  usage error (bad option, missing path)"""


# The optional modules each command needs, by the extra that installs them (pyproject.toml; a test keeps the
# two in step). A command that meets one of them missing says which extra to install, never "internal error".
COMMAND_EXTRAS = {"sign": "sign", "verify": "sign", "digest": "sign", "inspect": "sign", "diff": "lineage",
                  "lineage": "lineage", "fingerprint": "lineage", "convert": "lineage", "eval": "evals"}
OPTIONAL_MODULES = {
    "cryptography": "sign", "sigstore": "sign", "blake3": "sign", "safetensors": "lineage", "scipy": "lineage",
    "threadpoolctl": "lineage", "httpx": "evals", "llama_cpp": "evals", "transformers": "evals",
    "bandit": "evals", "accelerate": "evals", "yaml": "evals",
}


def missing_extra(exc: ModuleNotFoundError, command: str | None) -> Any:
    """The :class:`MissingExtraError` for an optional module that is not installed, or None (a bug)."""
    from weightwarden.core.errors import MissingExtraError

    module = (exc.name or "").split(".")[0]
    if module not in OPTIONAL_MODULES:
        return None
    extra = COMMAND_EXTRAS.get(command or "", OPTIONAL_MODULES[module])
    feature = f"weightwarden {command}" if command else "this command"
    return MissingExtraError(feature, extra, module)


class _Group(click.Group):

    """A click group whose usage errors exit 3 (click's default is 2) and that never shows a traceback.

    Every :class:`~weightwarden.core.errors.WeightwardenError` is ``error: <reason>`` and exit 2; an
    optional module that is not installed is the install line of its extra, also exit 2.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            import importlib

            importlib.import_module(f"weightwarden.cli.{LAZY_COMMANDS[cmd_name]}").register(self)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            error = missing_extra(exc, ctx.invoked_subcommand)
            if error is None:
                raise
            raise error from None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.pop("standalone_mode", True)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
            code = result if isinstance(result, int) else EXIT_CLEAN
        except click.UsageError as exc:
            exc.show()
            code = EXIT_USAGE
        except click.ClickException as exc:
            exc.show()
            code = EXIT_ERROR
        except click.Abort:
            click.echo("Aborted.", err=True)
            code = 130
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except WeightwardenError as exc:
            click.echo(f"error: {printable(exc.reason)}", err=True)
            code = EXIT_ERROR
        except Exception as exc:  # noqa: BLE001 - the user gets a message, never a traceback
            click.echo(f"weightwarden: internal error: {exc.__class__.__name__}: {exc}", err=True)
            code = EXIT_ERROR
        if standalone:
            sys.exit(code)
        return code


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, "--version", "-V", prog_name="weightwarden", message="%(prog)s %(version)s")
def main() -> None:
    """weightwarden: trust open-weight AI models before you load, ship or run them.

    Scans model files and folders (PyTorch, pickle, joblib, NumPy, safetensors, GGUF, ONNX, Keras,
    TensorFlow SavedModel, archives) for code that would run when they are loaded, without ever loading
    them. Signs and verifies model releases (sign, verify, digest, inspect) in the OpenSSF model-signing
    format. Compares weights (diff, lineage, fingerprint), converts pickle checkpoints without unpickling
    them (convert), and runs safety evaluations against a local or served model (eval). No network access
    (except `sign --sigstore` and the endpoints you name to eval), no telemetry. Exit codes below are scan's;
    each command's --help has its own.
    """


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path(path_type=str))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "sarif"], case_sensitive=False), default="text",
    show_default=True, help="Output format. json follows schemas/scan-report.v2.json; sarif is SARIF 2.1.0.",
)
@click.option(
    "--fail-on", type=click.Choice(SEVERITIES, case_sensitive=False), default="medium", show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
@click.option("--strict", is_flag=True, help="Narrow the pickle allowlist to tensor rebuilders only.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Processes used for large folders (default: CPU count; 1 = in-process).",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=str), default=None,
    help="Write the report to this file instead of standard output.",
)
@click.option(
    "--quiet", "-q", is_flag=True,
    help="No progress bar; text output lists only findings at or above --fail-on and errors.",
)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=str), default=None,
    help="Suppressions (allow = [...], [[ignore]] rule/path/reason; paths relative to FILE's folder). Read only "
    "when named: a weightwarden.toml beside downloaded models may have come with them.",
)
@click.option(
    "--max-parse-bytes", type=click.IntRange(min=1), default=None, metavar="N",
    help="Bytes up to which a JSON file (a tokenizer.json) is parsed whole and a large text is checked with "
    "Jinja's parser for templates; a larger one holding Jinja tags is WW-GEN-001. Default: 64 MiB.",
)
def scan(
    paths: tuple[str, ...], fmt: str, fail_on: str, strict: bool, workers: int | None, output: str | None, quiet: bool,
    config_path: str | None, max_parse_bytes: int | None = None,
) -> int:
    """Scan model files or folders for code that runs on load, unsafe templates and malformed structure.

    PATH may be a file or a folder (scanned recursively; links inside it are never followed, and one that
    leaves the folder is a finding). The format of each file is decided from its content, not its name.
    """
    _fewer_gc_passes()  # before the scan's own imports (module bodies allocate many objects too)
    # A path that does not exist or cannot be read is "could not be scanned" (exit 2), named like a file
    # inside a folder that cannot be read: one rule wherever the unreadable path is (3 is for bad options).
    from weightwarden.core.errors import ConfigError
    from weightwarden.core.findings import Severity
    from weightwarden.scan import scan_paths
    from weightwarden.scan.suppressions import load_config, unread_local_config

    try:
        suppressions = load_config(config_path) if config_path else None
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_ERROR) from None
    note = f"suppressions read from {suppressions.source}" if suppressions is not None else unread_local_config()
    if note:
        click.echo(f"note: {note}", err=True)  # never silent about what could mute findings

    threshold = Severity(fail_on.lower())
    fmt = fmt.lower()
    progress = None if quiet else progress_bar("scanning", PROGRESS_MIN_FILES)
    try:
        report = scan_paths(list(paths), strict=strict, workers=workers, progress=progress, suppressions=suppressions,
                            limits=_limits(max_parse_bytes))
    finally:
        if progress is not None:
            progress.close()

    failing = [f for f in report.findings if f.severity.at_least(threshold) and not f.suppressed]
    code = EXIT_FINDINGS if failing else EXIT_ERROR if report.errors else EXIT_CLEAN

    to_terminal = output is None and stdout_is_terminal()
    if fmt == "text":
        from weightwarden.report.text import render

        if quiet and code == EXIT_CLEAN:
            text = ""
        else:
            text = render(
                report,
                color=to_terminal and use_color(),
                min_severity=threshold if quiet else None,
                width=terminal_width() if to_terminal else DEFAULT_WIDTH,
                summary=not quiet,
            )
    elif fmt == "json":
        from weightwarden.report.json_report import render as render_json

        text = render_json(report)
    else:
        from weightwarden.report.sarif import render as render_sarif

        text = render_sarif(report)

    if output is not None:
        try:
            from weightwarden.core.files import write_atomic

            write_atomic(output, text.encode("utf-8", "backslashreplace"), 0o644)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        if not quiet:
            from weightwarden.report.text import summary_line

            click.echo(f"{summary_line(report)}; report written to {output}", err=True)
    elif text:
        write_stdout(text)
    if report.errors and (fmt != "text" or output is not None):
        # Files that could not be scanned are always named, whatever the output format.
        for error in report.errors:
            click.echo(f"weightwarden: could not scan {error.file}: {error.reason}", err=True)
    return code


def _limits(max_parse_bytes: int | None) -> Limits:
    """The scan's bounds: the defaults, with the parse bound the user raised (or lowered) knowingly."""
    import dataclasses

    from weightwarden.core.limits import DEFAULT_LIMITS

    if max_parse_bytes is None:
        return DEFAULT_LIMITS
    return dataclasses.replace(DEFAULT_LIMITS, max_parse_bytes=max_parse_bytes)


# Every other command lives in its own module, imported only when that command runs (or when --help lists
# them all), so that `weightwarden scan` and `weightwarden diff` do not pay for a dozen other commands' imports.
LAZY_COMMANDS = {
    "sign": "integrity", "verify": "integrity", "digest": "integrity", "inspect": "integrity",
    "convert": "convert", "diff": "diff", "lineage": "lineage", "fingerprint": "lineage", "eval": "evals",
    "audit": "audit", "risk": "risk", "indicators": "indicators", "registry": "registry", "publish": "registry",
    "check": "registry", "incident": "incident", "witness": "witness",
}


# A scan allocates many short-lived objects (template trees, pickle machine states) and almost no cycles:
# at CPython's default threshold (a young-generation pass every 700 allocations) the collector ran ~220
# times over the test corpus for ~35 ms of CPU; every 10,000 allocations it runs ~20 times for ~15 ms. The
# young generation then holds at most 10,000 container objects, a few MiB. The command only: a library
# caller's process keeps its own settings. (Measured in docs/benchmarks.md, "Scan speed, fourth pass".)
# Sixth pass: every 100,000 allocations. Objects freed by their reference count leave the young generation at
# once (the count is allocations minus deallocations), so what a pass walks is what is still alive: a template's
# tree and value memo while it is analysed. At 10,000 the ~30 passes over the corpus walked those trees again and
# again (~28 ms of CPU); at 100,000 a few passes take ~5 ms. The young generation then holds at most 100,000
# container objects (cyclic garbage included), ~10-20 MiB.
GC_YOUNG_THRESHOLD = 100_000


def _fewer_gc_passes() -> None:
    import gc

    if gc.get_threshold()[0] < GC_YOUNG_THRESHOLD:
        gc.set_threshold(GC_YOUNG_THRESHOLD)


def run() -> None:
    """Console-script entry point."""
    main(prog_name="weightwarden")


if __name__ == "__main__":
    run()
