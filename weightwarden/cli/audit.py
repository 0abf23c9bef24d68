"""``weightwarden audit``: parse the options, run the audit, render it. No logic of its own.

Exit codes: 0 the decision is ``open``; 1 ``staged`` or ``withhold``; 2 an error (unreadable model, policy or
log, a failed report); 3 usage.
"""

from __future__ import annotations

from pathlib import Path

import click

from weightwarden.cli._terminal import write_stdout

AUDIT_EXIT_HELP = """\b
Exit codes:
  0  decision: open
  1  decision: staged or withhold (the reasons are printed)
  2  error: unreadable model, policy or evidence, or a report that cannot be made
  3  usage error"""

FORMATS = ("text", "json", "html", "sarif", "cyclonedx", "intoto", "model-card")


@click.command(epilog=AUDIT_EXIT_HELP)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--bundle", "-b", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Signature bundle of the release: verify it (needs --key, --chain or --sigstore).")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=str), help="Trusted public key (PEM).")
@click.option("--chain", "roots", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=str),
              metavar="ROOT", help="Trusted root certificate(s) (PEM) for a certificate bundle.")
@click.option("--identity", help="Expected signer (certificate e-mail/URI/CN, or Sigstore identity).")
@click.option("--sigstore", is_flag=True, help="The bundle is Sigstore keyless (needs --identity and --issuer).")
@click.option("--issuer", help="OIDC issuer of the Sigstore identity.")
@click.option("--base", type=click.Path(exists=True, path_type=Path),
              help="Base model to run lineage against (default: the base the folder declares, if local).")
@click.option("--eval", "eval_logs", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="RUN.jsonl", help="A weightwarden eval log of this model (repeatable).")
@click.option("--evidence", multiple=True, type=click.Path(exists=True, path_type=Path), metavar="LOG",
              help="Evidence produced elsewhere: an Inspect AI eval log or eval JSONL (repeatable).")
@click.option("--backend", metavar="SPEC",
              help="Run the capability suites now against this model backend (gguf:PATH, hf:FOLDER, "
              "openai:URL#MODEL, ...) and use the run as evidence.")
@click.option("--suite", "suites", multiple=True, metavar="SUITE",
              help="With --backend: a suite to run (repeatable; default cybermetric-80; wmdp:PATH for your files).")
@click.option("--eval-limit", type=click.IntRange(min=1), default=None, help="With --backend: items per suite.")
@click.option("--eval-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --backend: where the run's log is written (resumable).")
@click.option("--accept-unbound-evidence", is_flag=True,
              help="Count evidence whose log names no digest of the audited files (Inspect logs name a model "
              "only). Without it such evidence is listed but does not count; the choice is recorded in the audit.")
@click.option("--policy", default="default", show_default=True,
              help="Policy name (see `weightwarden risk policies`) or a policy TOML file.")
@click.option("--release-mode", type=click.Choice(["open-weights", "api"]), default=None,
              help="How the model is released (default: the policy's). Refusal results count only for api.")
@click.option("--framework", help="Framework whose terms the HTML report shows (see `weightwarden risk frameworks`).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--sign-key", type=click.Path(exists=True, dir_okay=False, path_type=str),
              help="With --format intoto: private key (PEM) that signs the attestation into a DSSE bundle.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
def audit(path: Path, bundle: Path | None, key: str | None, roots: tuple[str, ...], identity: str | None,
          sigstore: bool, issuer: str | None, base: Path | None, eval_logs: tuple[Path, ...],
          evidence: tuple[Path, ...], backend: str | None, suites: tuple[str, ...], eval_limit: int | None,
          eval_out: Path | None, accept_unbound_evidence: bool, policy: str, release_mode: str | None, framework: str | None, fmt: str,
          sign_key: str | None, output: Path | None) -> int:
    """Audit the model at PATH and decide its release: open, staged or withhold, with the reasons.

    Runs scan always, verify when --bundle is given, lineage against --base (or the declared local base),
    and reads the eval logs and evidence given; the policy turns them into a level per risk domain (L0-L3,
    or not assessed with the reason) and a decision.
    """
    from weightwarden.audit import AuditRequest, run_audit
    from weightwarden.cli.integrity import _make_verifier
    from weightwarden.core.errors import WeightwardenError
    from weightwarden.report import render

    verifier = None
    if bundle is not None:
        if sum((key is not None, bool(roots), sigstore)) != 1:
            raise click.UsageError("--bundle needs one trust anchor: --key PUB, --chain ROOT, or --sigstore")
        verifier = _make_verifier(key, roots, identity, issuer, sigstore)
    elif key or roots or sigstore:
        raise click.UsageError("--key, --chain and --sigstore check a --bundle; give the bundle too")
    if backend is None and (suites or eval_limit or eval_out):
        raise click.UsageError("--suite, --eval-limit and --eval-out go with --backend")
    if sign_key is not None and fmt != "intoto":
        raise click.UsageError("--sign-key signs the in-toto attestation: use it with --format intoto")
    try:
        result = run_audit(AuditRequest(path, bundle=bundle, verifier=verifier, base=base, eval_logs=eval_logs,
                                        evidence=evidence, policy=policy, release_mode=release_mode,
                                        accept_unbound_evidence=accept_unbound_evidence, backend=backend,
                                        eval_limit=eval_limit, eval_out=eval_out,
                                        **({"suites": suites} if suites else {})))
        options = {}
        if fmt == "html" and framework:
            options["framework"] = framework
        if fmt == "intoto" and sign_key is not None:
            from weightwarden.cli.integrity import _read
            from weightwarden.integrity.signing import KeySigner

            options["signer"] = KeySigner(_read(sign_key, "private key"))
        text = render(result, fmt, **options)
    except WeightwardenError as exc:
        raise click.ClickException(exc.reason) from None
    if output is not None:
        try:
            from weightwarden.core.files import write_atomic

            write_atomic(str(output), text.encode("utf-8"), 0o644)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
        click.echo(f"{fmt} report written to {output}; decision: {result.decision}", err=True)
    else:
        write_stdout(text)
    return result.exit_code


def register(group: click.Group) -> None:
    """Add the audit command to the main ``weightwarden`` group."""
    group.add_command(audit)
