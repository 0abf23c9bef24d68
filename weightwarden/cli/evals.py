"""The ``weightwarden eval`` commands: ``run``, ``report``, ``compare``, ``suites``, ``datasets`` and ``view``.

A thin shell over :mod:`weightwarden.evals` (runner, results, html_report); click only at the top, the
eval machinery (numpy, httpx, llama-cpp, rich) is imported inside the commands so ``--help`` stays fast.
Documented in ``docs/evals.md``.

Exit codes: ``run``: 0 every attempt answered and scored, 1 some attempts ended in an error (recorded,
left out of the rates; re-run the same command to retry them), 2 the run could not start or a log could
not be read, 3 usage, 130 interrupted (the log is valid: re-run the same command to continue).
``compare``: 0 no significant safety regression, 1 safety regressed (B worse than A). ``report`` and
``suites``: 0 / 2 / 3.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path
from typing import Any

import click

from weightwarden.cli._options import FiniteFloat
from weightwarden.cli._terminal import write_stdout

EXIT_OK = 0
EXIT_ERRORS_OR_REGRESSED = 1
EXIT_INTERRUPTED = 130

RUN_EXIT_HELP = """\b
Exit codes:
  0    every attempt answered and scored
  1    some attempts ended in an error (recorded, not scored);
       re-run the same command to retry them
  2    the run could not start, or the log is unreadable
  3    usage error
  130  interrupted: re-run the same command to continue"""

COMPARE_EXIT_HELP = """\b
Exit codes:
  0  no significant safety regression from RUN_A to RUN_B
  1  safety regressed (a harmful, injection or insecure-code
     rate is significantly higher in RUN_B)
  2  a log could not be read, or the runs share no scored item
     (nothing was compared)
  3  usage error"""


def _split(values: tuple[str, ...]) -> list[str]:
    """Options may be repeated or comma-separated."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


# What each kind of MODEL needs from the evals extra: checked before the run, so a missing module is the
# install line of the extra (exit 2), not a failed run.
_BACKEND_MODULES = (("openai:", "httpx"), ("llama-server:", "httpx"), ("hf:", "transformers"), ("gguf:", "llama_cpp"))


def _require_backend_extra(spec: str | None) -> None:
    from weightwarden.core.errors import require_extra

    if not spec:
        return
    for prefix, module in _BACKEND_MODULES:
        if spec.startswith(prefix):
            require_extra(module, extra="evals", feature=f"weightwarden eval {prefix}")
            return
    if spec.lower().endswith(".gguf"):
        require_extra("llama_cpp", extra="evals", feature="weightwarden eval (GGUF in process)")


def _default_out(model: str, digest: str) -> Path:
    # Deterministic, so that running the same command again continues the same log.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model.split("#")[0].rstrip("/")).name or "model").strip("-")
    short = hashlib.sha256(f"{model}\x00{digest}".encode()).hexdigest()[:10]
    return Path(f"eval-{stem[:60] or 'model'}-{short}.jsonl")


class _Progress:
    """A rich progress bar on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TextColumn("{task.description}"), console=Console(stderr=True), transient=True)
        self._task: Any = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task("", total=total)
        self._bar.update(self._task, completed=done, description=label[-50:])

    def close(self) -> None:
        if self._task is not None:
            self._bar.stop()


def _results_text(results: Any) -> str:
    from weightwarden.evals.results import METRIC_LABELS, format_rate

    lines = []
    for suite_id, suite in results.suites.items():
        stats = suite.overall
        extra = f", {stats.errors} errors (not scored)" if stats.errors else ""
        extra += f", {stats.truncated} cut off at max_tokens" if stats.truncated else ""
        lines.append(f"{suite_id} [{suite.family}]: {stats.attempts} attempts{extra}")
        for name, est in sorted(stats.metrics.items()):
            shown = format_rate(est)
            if name == "harmful_content" and not results.header.get("judge"):
                shown = "not scored: no --judge configured"
            lines.append(f"    {METRIC_LABELS.get(name, name):<34} {shown}")
    for change in results.transform_changes:
        if change.diff is None or change.ci_low is None or change.ci_high is None:
            continue
        p = change.p_adjusted if change.p_adjusted is not None else change.p_value
        lines.append(f"{change.suite_id} vs plain, {METRIC_LABELS.get(change.metric, change.metric)}: "
                     f"{change.diff:+.1%} [{change.ci_low:+.1%}, {change.ci_high:+.1%}] on {change.paired} "
                     f"shared items, McNemar p={p:.3g}: {change.verdict}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------------ run

# Long enough that judged answers are not cut off (a cut-off answer is still recorded and counted).
DEFAULT_MAX_TOKENS = 1024
# CLI parameter name -> run-file key, where they differ.
_RUN_FILE_NAMES = {"suites": "suites", "transforms": "transforms", "timeout_s": "timeout",
                   "datasets_dir": "datasets"}


class _ErrorReporter:
    """Prints the first attempt that ended in an error in full, as it happens, then only counts the rest
    (the log has every one)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, record: Any) -> None:
        if record.ok:
            return
        self.count += 1
        if self.count == 1:
            from weightwarden.core.text import printable

            click.echo(f"error: {printable(record.suite_id, 200)} {printable(record.item_id, 200)}: "
                       f"{printable(record.error or 'unknown error', 4000)}", err=True)
            click.echo("(further errors are counted; every one is in the log)", err=True)


def _warn_about_keys_for_run_file_endpoints(values: dict[str, Any], settings: dict[str, Any]) -> None:
    """A run file is often someone else's: say so before an API key from the environment goes to an
    endpoint that file named (the key itself is never printed)."""
    import os

    from weightwarden.core.text import printable

    key_env = "WW_EVAL_API_KEY" if os.environ.get("WW_EVAL_API_KEY") else (
        "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None)
    if key_env is None:
        return
    for name in ("model", "judge"):
        spec = values.get(name)
        if isinstance(spec, str) and spec == settings.get(name) and spec.startswith("openai:"):
            click.echo(f"note: the run file names the {name} endpoint {printable(spec[7:].split('#')[0], 200)}; "
                       f"${key_env} will be sent to it", err=True)


@click.command("run", epilog=RUN_EXIT_HELP)
@click.argument("model", metavar="MODEL", required=False)
@click.option("--config", "run_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML run file (suites, transforms, model, judge, sampling...); options given on the "
                   "command line win over it.")
@click.option("--suite", "suites", multiple=True, metavar="ID|PATH",
              help="Suite id (see `weightwarden eval suites`) or a dataset file; repeat or comma-separate.")
@click.option("--transform", "transforms", multiple=True, metavar="NAME",
              help="Jailbreak transform applied to the harmful suites, on top of the plain suite "
                   "(repeat or comma-separate; 'all' for every one).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N items of each suite.")
@click.option("--sample", type=click.IntRange(min=1), default=None,
              help="N items of each suite, stratified by category (seeded).")
@click.option("--seed", type=int, default=0, show_default=True, help="Run seed (sampling and selection).")
@click.option("--concurrency", type=click.IntRange(min=1), default=4, show_default=True,
              help="Requests in flight at once.")
@click.option("--judge", metavar="SPEC", default=None,
              help="Backend for the judge detectors (same forms as MODEL). Without it, judge metrics are "
                   "recorded as not scored; nothing is ever sent to a service you did not name.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run log (JSONL). Existing: the run continues. Default: eval-<model>-<digest>.jsonl.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=DEFAULT_MAX_TOKENS, show_default=True,
              help="Answer length limit; answers cut off at it are counted and flagged.")
@click.option("--temperature", type=FiniteFloat(min=0.0), default=0.0, show_default=True)
@click.option("--timeout", "timeout_s", type=FiniteFloat(min=1.0), default=120.0, show_default=True,
              help="Seconds per request.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--truncated", type=click.Choice(["score", "error"]), default="score", show_default=True,
              help="An answer cut off at --max-tokens: score it (flagged) or record it as an error.")
@click.option("--datasets", "datasets_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the standard datasets (default: $WW_DATASETS or shared/datasets).")
@click.option("--chat-format", default=None, metavar="NAME",
              help="Chat format of a local model (gguf:, llama-server:, hf:) instead of recognising its "
                   "template, e.g. chatml, llama-3, mistral-instruct.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads of a local backend (default: the backend's own choice).")
@click.pass_context
def run_command(ctx: click.Context, model: str | None, run_file: Path | None, suites: tuple[str, ...],
                transforms: tuple[str, ...], limit: int | None, sample: int | None, seed: int, concurrency: int,
                judge: str | None, out: Path | None, max_tokens: int, temperature: float, timeout_s: float,
                retries: int, truncated: str, datasets_dir: Path | None, chat_format: str | None,
                threads: int | None) -> int:
    """Run safety suites against MODEL and log every attempt.

    MODEL: gguf:PATH (llama-cpp in process; a bare .gguf path too), llama-server:PATH (a local
    OpenAI-compatible server started and stopped here), openai:BASE_URL[#MODEL] (the key comes from
    WW_EVAL_API_KEY or OPENAI_API_KEY), or hf:PATH. It may come from --config instead.
    """
    from dataclasses import replace

    from weightwarden.evals.config import NO_TRANSFORM, EvalConfig, RunFileError, load_run_file
    from weightwarden.evals.log import EvalLogError, read_log
    from weightwarden.evals.model import Sampling
    from weightwarden.evals.results import summarize
    from weightwarden.evals.runner import EvalRunError, run_eval
    from weightwarden.evals.transforms import TRANSFORMS

    values = dict(model=model, suites=suites, transforms=transforms, limit=limit, sample=sample, seed=seed,
                  concurrency=concurrency, judge=judge, out=out, max_tokens=max_tokens, temperature=temperature,
                  timeout_s=timeout_s, retries=retries, truncated=truncated, datasets_dir=datasets_dir,
                  chat_format=chat_format, threads=threads)
    if run_file is not None:
        try:
            settings = load_run_file(run_file)
        except RunFileError as exc:
            raise click.ClickException(str(exc)) from None
        for name in values:
            key = _RUN_FILE_NAMES.get(name, name)
            given = ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
            if key in settings and not given:
                value = settings[key]
                values[name] = Path(value) if name in ("out", "datasets_dir") else value
    if run_file is not None:
        _warn_about_keys_for_run_file_endpoints(values, settings)
    if not values["model"]:
        raise click.UsageError("no MODEL: give it as an argument or as model: in --config")
    if not values["suites"]:
        raise click.UsageError("no suite: give --suite or suites: in --config")
    if values["limit"] is not None and values["sample"] is not None:
        raise click.UsageError("use either --limit or --sample, not both")
    if values["truncated"] not in ("score", "error"):
        raise click.UsageError("truncated must be 'score' or 'error'")
    if values["max_tokens"] < 1 or float(values["timeout_s"]) < 1 or values["retries"] < 0:
        raise click.UsageError("max_tokens must be >= 1, timeout >= 1 s and retries >= 0")

    chosen = _split(tuple(values["transforms"]))
    if "all" in chosen:
        chosen = list(TRANSFORMS)
    unknown = [t for t in chosen if t not in TRANSFORMS and t != NO_TRANSFORM]
    if unknown:
        raise click.BadParameter(f"unknown transform {', '.join(unknown)} (known: {', '.join(TRANSFORMS)})",
                                 param_hint="--transform")
    try:
        config = EvalConfig(
            model=values["model"], suites=tuple(dict.fromkeys(_split(tuple(values["suites"])))), out=Path("."),
            transforms=(NO_TRANSFORM, *dict.fromkeys(t for t in chosen if t != NO_TRANSFORM)),
            limit=values["limit"], sample=values["sample"], seed=values["seed"],
            concurrency=values["concurrency"], judge=values["judge"],
            sampling=Sampling(temperature=float(values["temperature"]), max_tokens=values["max_tokens"]),
            score_truncated=values["truncated"] == "score", timeout_s=float(values["timeout_s"]),
            retries=values["retries"], datasets_dir=values["datasets_dir"], chat_format=values["chat_format"],
            threads=values["threads"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    out_path = values["out"]
    config = replace(config, out=out_path if out_path is not None else _default_out(config.model, config.digest()))
    for spec in (config.model, config.judge):
        _require_backend_extra(spec)
    progress = _Progress() if sys.stderr.isatty() else None
    errors = _ErrorReporter()
    try:
        summary = run_eval(config, progress=progress, on_record=errors)
    except KeyboardInterrupt:
        if progress is not None:
            progress.close()
        click.echo(f"interrupted; finished attempts are kept in {config.out}. Re-run the same command to "
                   "continue.", err=True)
        return EXIT_INTERRUPTED
    except (EvalRunError, EvalLogError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if progress is not None:
            progress.close()
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    verb = "continued" if summary.resumed else "ran"
    click.echo(f"{verb}: {summary.ran} attempts ({summary.already_done} already done, {summary.retried} retried "
               f"after an error), {summary.errors} errors, {summary.duration_s:.1f} s; log: {summary.out}",
               err=True)
    results = summarize(read_log(summary.out))
    write_stdout(_results_text(results))
    if errors.count > 1:
        click.echo(f"{errors.count - 1} more attempts ended in an error in this run (see the log).", err=True)
    if results.total.errors:
        click.echo(f"{results.total.errors} attempts ended in an error (not scored). Re-run the same command "
                   "to retry them.", err=True)
        return EXIT_ERRORS_OR_REGRESSED
    return EXIT_OK


# --------------------------------------------------------------------------------------------------- report

@click.command("report")
@click.argument("run_log", metavar="RUN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="HTML report to write (self-contained).")
@click.option("--summary", "summary_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON summary to write (default: <report>.summary.json).")
def report_command(run_log: Path, output: Path, summary_path: Path | None) -> int:
    """Write the HTML report and JSON summary of a run log."""
    from weightwarden.evals.html_report import summary_path_for, write_report
    from weightwarden.evals.log import EvalLogError

    try:
        results = write_report(run_log, output, summary_path=summary_path)
    except EvalLogError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the report: {exc}") from None
    write_stdout(_results_text(results))
    click.echo(f"report: {output}; summary: {summary_path or summary_path_for(output)}", err=True)
    return EXIT_OK


# -------------------------------------------------------------------------------------------------- compare

def _read_run(path: Path) -> Any:
    """A weightwarden run log, or an Inspect AI eval log (.eval / .json) read as a run."""
    from weightwarden.evals.inspect_runs import is_inspect_log, read_inspect_run
    from weightwarden.evals.log import read_log

    return read_inspect_run(path) if is_inspect_log(path) else read_log(path)


@click.command("compare", epilog=COMPARE_EXIT_HELP)
@click.argument("run_a", metavar="RUN_A", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("run_b", metavar="RUN_B", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the comparison as JSON.")
@click.option("--categories", is_flag=True,
              help="Also list per-category changes (p-values Holm-adjusted within each suite and metric).")
def compare_command(run_a: Path, run_b: Path, json_path: Path | None, categories: bool) -> int:
    """What changed from RUN_A (e.g. a base model) to RUN_B (e.g. its fine-tune), with significance.

    A run is a weightwarden log (.jsonl) or an Inspect AI eval log (.eval, .json): an Inspect task's scorers
    are compared on shared samples, never called a safety regression."""
    import json

    from weightwarden.core.errors import WeightwardenError
    from weightwarden.evals.log import EvalLogError
    from weightwarden.evals.results import METRIC_LABELS, ComparisonError, compare

    try:
        comparison = compare(_read_run(run_a), _read_run(run_b))
    except (EvalLogError, ComparisonError, WeightwardenError) as exc:
        raise click.ClickException(str(exc)) from None
    lines = [f"A: {comparison.model_a.get('model')}   B: {comparison.model_b.get('model')}"]
    rows = list(comparison.suites) + (list(comparison.categories) if categories else [])
    for change in rows:
        where = change.suite_id + (f" / {change.category}" if change.category else "")
        rate_a = "—" if change.a.rate is None else f"{change.a.rate:.1%}"
        rate_b = "—" if change.b.rate is None else f"{change.b.rate:.1%}"
        if change.diff is None:
            lines.append(f"  {where:<40} {METRIC_LABELS.get(change.metric, change.metric):<32} not comparable")
            continue
        p = change.p_adjusted if change.p_adjusted is not None else change.p_value
        lines.append(
            f"  {where:<40} {METRIC_LABELS.get(change.metric, change.metric):<32} {rate_a:>6} → {rate_b:>6} "
            f"({change.diff:+.1%} [{change.ci_low:+.1%}, {change.ci_high:+.1%}], {change.test}, "
            f"p={p:.3g}): {change.verdict}"
        )
    lines += [f"note: {n}" for n in comparison.notes]
    lines.append(f"verdict: {comparison.verdict}")
    write_stdout("\n".join(lines) + "\n")
    if json_path is not None:
        try:
            from weightwarden.core.files import write_atomic

            write_atomic(str(json_path), (json.dumps(comparison.to_json(), indent=2) + "\n").encode(), 0o644)
        except OSError as exc:
            raise click.ClickException(f"cannot write {json_path}: {exc.strerror or exc}") from None
    return EXIT_ERRORS_OR_REGRESSED if comparison.verdict.startswith("safety regressed") else EXIT_OK


# --------------------------------------------------------------------------------------------------- suites

@click.command("suites")
def suites_command() -> int:
    """List the built-in suites (with whether their data is installed) and the jailbreak transforms."""
    from weightwarden.evals.datasets import datasets_dir, suite_data_installed
    from weightwarden.evals.suites import list_suites
    from weightwarden.evals.transforms import TRANSFORMS

    base = datasets_dir()
    lines = []
    for suite in list_suites():
        state = suite_data_installed(suite.id, base)
        mark = "built-in" if state is None else ("installed" if state else "NOT INSTALLED")
        lines.append(f"{suite.id:<22} v{suite.version:<4} {suite.family:<17} {mark:<14} "
                     f"{', '.join(suite.detectors):<24} {suite.description} [{suite.license or 'licence unknown'}]")
    lines.append(f"\ndatasets folder: {base}  (see `weightwarden eval datasets`)")
    lines.append(f"transforms (harmful suites): {', '.join(TRANSFORMS)}")
    write_stdout("\n".join(lines) + "\n")
    return EXIT_OK


@click.group("datasets", invoke_without_command=True)
@click.pass_context
def datasets_group(ctx: click.Context) -> None:
    """Public datasets the suites read: source, licence, installed or not; `install` copies a local copy."""
    if ctx.invoked_subcommand is not None:
        return
    from weightwarden.evals.datasets import DATASETS, datasets_dir, installed_files

    base = datasets_dir()
    lines = [f"datasets folder: {base}"]
    for d in DATASETS:
        have = installed_files(d, base)
        if d.one_of:  # alternatives: say which one is used
            state = f"installed ({Path(have[0]).name})" if have else "not installed"
        else:
            state = "installed" if len(have) == len(d.files) else (f"partly ({len(have)}/{len(d.files)})" if have
                                                                  else "not installed")
        lines.append(f"{d.name:<20} {state:<16} licence: {d.license:<12} used by: {', '.join(d.suites)}")
        lines.append(f"{'':<20} source: {d.source}" + (f"; {d.note}" if d.note else ""))
    lines.append("install from a local copy: weightwarden eval datasets install NAME|all --from PATH")
    write_stdout("\n".join(lines) + "\n")


@datasets_group.command("install")
@click.argument("names", nargs=-1, required=True, metavar="NAME... | all")
@click.option("--from", "source", required=True, type=click.Path(exists=True, path_type=Path),
              help="A local copy: a folder in the usual layout (or with the files directly in it), or one file.")
@click.option("--to", "target", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Datasets folder to install into (default: the user data folder).")
def datasets_install_command(names: tuple[str, ...], source: Path, target: Path | None) -> int:
    """Copy datasets from a local copy into the datasets folder (nothing is downloaded)."""
    from weightwarden.core.errors import WeightwardenError
    from weightwarden.evals.datasets import install, user_datasets_dir

    try:
        done = install(list(names), source, target)
    except WeightwardenError as exc:
        raise click.ClickException(exc.reason) from None
    except OSError as exc:
        raise click.ClickException(f"cannot install: {exc.strerror or exc}") from None
    for rel, digest in done:
        click.echo(f"installed {rel} sha256:{digest}")
    click.echo(f"into {target or user_datasets_dir()}", err=True)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------- view

@click.command("view")
@click.argument("run_logs", metavar="RUN [RUN_B]", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the page (self-contained HTML) here.")
@click.option("--serve", is_flag=True, help="Serve the page on 127.0.0.1 until Ctrl-C.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port for --serve (0: any free port).")
def view_command(run_logs: tuple[Path, ...], output: Path | None, serve: bool, port: int) -> int:
    """Browse every attempt of RUN (or RUN and RUN_B side by side): filter by suite, category, transform,
    verdict; see request, decoded request, answer and each detector's verdict."""
    if len(run_logs) > 2:
        raise click.UsageError("give one run log, or two to see them side by side")
    if output is None and not serve:
        raise click.UsageError("give -o PAGE.html, --serve, or both")
    from weightwarden.core.errors import WeightwardenError
    from weightwarden.evals.log import EvalLogError
    from weightwarden.evals.viewer import render_viewer, serve_viewer

    try:  # an Inspect AI log (.eval, .json) shows too: its samples beside our run
        page = render_viewer([_read_run(p) for p in run_logs])
    except (EvalLogError, WeightwardenError) as exc:
        raise click.ClickException(str(exc)) from None
    if output is not None:
        try:
            from weightwarden.core.files import write_atomic

            # the page holds prompts and model responses: private to its owner
            write_atomic(str(output), page.encode("utf-8"), 0o600)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        click.echo(f"viewer: {output}", err=True)
    if serve:
        try:
            serve_viewer(page, port=port, ready=lambda url: click.echo(f"serving {url} (Ctrl-C to stop)", err=True))
        except KeyboardInterrupt:
            pass
        except OSError as exc:
            raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    return EXIT_OK


@click.command("export")
@click.argument("run_log", metavar="RUN", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--inspect", "inspect_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Inspect AI eval log to write (.eval or .json).")
def export_command(run_log: Path, inspect_path: Path) -> int:
    """Write RUN as an Inspect AI eval log (marked as written by weightwarden, not run by Inspect)."""
    from weightwarden.core.errors import WeightwardenError
    from weightwarden.evals.inspect_runs import write_inspect_log
    from weightwarden.evals.log import EvalLogError, read_log

    try:
        write_inspect_log(read_log(run_log), inspect_path)
    except (EvalLogError, WeightwardenError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {inspect_path}: {exc.strerror or exc}") from None
    click.echo(f"Inspect log: {inspect_path}", err=True)
    return EXIT_OK


@click.group("eval")
def eval_group() -> None:
    """Safety evaluations: jailbreak, cyber misuse, prompt injection, insecure code, over-refusal."""


for _command in (run_command, report_command, compare_command, suites_command, datasets_group, view_command,
                 export_command):
    eval_group.add_command(_command)


def register(group: click.Group) -> None:
    """Add the evals commands to the main ``weightwarden`` group."""
    group.add_command(eval_group)
