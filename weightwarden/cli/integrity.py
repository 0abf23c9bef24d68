"""The release-integrity commands: ``weightwarden sign``, ``verify``, ``digest`` and ``inspect``.

Registered on the main group by :func:`register` (called from :mod:`weightwarden.cli.main`). Like the rest
of the CLI, this module imports only click at the top: hashing, cryptography, rich and sigstore are imported
inside the commands, so ``weightwarden verify --help`` starts fast. Documented in ``docs/integrity.md``.

Exit codes (``verify``): 0 verified; 1 not verified (the reasons are printed); 2 error (an unreadable key or
bundle file, a failed signing, an internal error); 3 usage (bad options, a path that does not exist).
``sign``, ``digest`` and ``inspect`` use 0 / 2 / 3 the same way.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from weightwarden.cli._terminal import (
    printable,
    progress_bar,
    stdout_is_terminal,
    terminal_width,
    use_color,
    write_stdout,
)

EXIT_OK = 0
EXIT_NOT_VERIFIED = 1
EXIT_ERROR = 2
EXIT_USAGE = 3
PROGRESS_MIN_BYTES = 1 << 30  # below 1 GiB hashing takes about a second: no bar
HASHES = ("sha256", "blake3", "blake2b")
MAX_OK_ROWS = 50  # beyond this many files, text output lists only those that are not ok

VERIFY_EXIT_HELP = """\b
Exit codes:
  0  verified: signature, signer, freshness and every file check out
  1  not verified (the reasons are printed)
  2  error: unreadable key or bundle file, internal error
  3  usage error (bad option, missing path)"""

OTHER_EXIT_HELP = """\b
Exit codes:
  0  done
  2  error: unreadable key, model that cannot be signed, malformed bundle
  3  usage error (bad option, missing path)"""


def _tensor_summary(manifest: Any) -> str:
    """"N tensors with <kind> evidence", or "no tensor evidence" (the extension is absent)."""
    if not manifest.tensors:
        return "no tensor evidence"
    return f"{len(manifest.tensors)} tensors with {manifest.tensor_hash} evidence"


def _exists(path: str, hint: str) -> None:
    if not os.path.lexists(path):
        raise click.BadParameter(f"no such file or folder: {path}", param_hint=hint)


def _read(path: str, what: str) -> bytes:
    """A key, certificate or bundle file; one over the bundle size limit is none of them (and is not read)."""
    from weightwarden.integrity.bundle import DEFAULT_MAX_BUNDLE_BYTES as limit
    from weightwarden.integrity.bundle import read_bundle_file

    try:
        data = read_bundle_file(path, max_bytes=limit)
    except OSError as exc:
        raise click.ClickException(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise click.ClickException(f"{what} {path} is larger than {limit // (1024 * 1024)} MiB; not a {what}")
    return data


# ----------------------------------------------------------------------------------------------------- sign

@click.command(epilog=OTHER_EXIT_HELP)
@click.argument("path", type=click.Path(path_type=str))
@click.option("--key", "key", type=click.Path(dir_okay=False, path_type=str),
              help="Private key (PEM): ECDSA P-256/P-384/P-521, or Ed25519 (weightwarden extension).")
@click.option("--password-env", metavar="VAR", help="Environment variable holding the key's passphrase "
              "(otherwise it is asked for on a terminal when the key is encrypted).")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=str),
              help="Signing certificate (leaf, PEM) for --key; needs --chain.")
@click.option("--chain", type=click.Path(dir_okay=False, path_type=str),
              help="Certificate chain (intermediates and root, PEM) put in the bundle with --cert.")
@click.option("--sigstore", is_flag=True, help="Sigstore keyless signing (needs network and an OIDC login).")
@click.option("--hash", "hash_type", type=click.Choice(HASHES), default="sha256", show_default=True,
              help="Digest algorithm (sha256 interoperates with every model-signing verifier).")
@click.option("--shards", is_flag=True, help="Hash files in fixed-size shards (model-signing 'shards').")
@click.option("--shard-size", type=click.IntRange(min=1), default=None,
              help="Shard size in bytes with --shards (default 1,000,000,000).")
@click.option("--ignore", "ignore", multiple=True, metavar="PATH", help="Leave this path out (repeatable).")
@click.option("--allow-symlinks", is_flag=True,
              help="Also follow symbolic links that leave the model folder (links inside it, and a Hugging Face "
                   "cache snapshot's links into its blobs, are always read through).")
@click.option("--release-version", "release_version", type=click.IntRange(min=0), default=None,
              help="Signed release version (freshness extension; needed by --expires/--supersedes).")
# The old name of --release-version, kept working but hidden: next to every other tool's --version
# (print the program's version) it surprised people.
@click.option("--version", "old_release_version", type=click.IntRange(min=0), default=None, hidden=True)
@click.option("--expires", metavar="DATE", help="Release expiry: YYYY-MM-DD or an RFC 3339 time.")
@click.option("--supersedes", type=click.Path(dir_okay=False, path_type=str), metavar="BUNDLE",
              help="The previous release's bundle; its digest is signed as 'supersedes'.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=str), metavar="BUNDLE",
              help="Where to write the bundle (default: model.sig in the folder, <file>.sig beside a file).")
@click.option("--reuse", "reuse", type=click.Path(dir_okay=False, path_type=str), metavar="PREVIOUS_BUNDLE",
              help="An earlier bundle of this model: files whose size, times and inode are unchanged since it "
                   "was signed keep their digests (read from its .state.json sidecar); the rest are hashed.")
@click.option("--no-tensor-digests", "no_tensor_digests", is_flag=True,
              help="Skip the per-tensor evidence extension (safetensors / GGUF tensor digests): faster "
                   "signing, but verify then reports which files changed, not which tensors.")
def sign(path: str, key: str | None, password_env: str | None, cert: str | None, chain: str | None,
         sigstore: bool, hash_type: str, shards: bool, shard_size: int | None, ignore: tuple[str, ...],
         allow_symlinks: bool, release_version: int | None, old_release_version: int | None,
         expires: str | None, supersedes: str | None, output: str | None, reuse: str | None,
         no_tensor_digests: bool) -> int:
    """Sign the model at PATH (a folder or a file) into an OpenSSF model-signing bundle.

    Choose one way to sign: --key K (a bare key), --cert C --chain CH --key K (an X.509 certificate
    chain), or --sigstore (keyless). The bundle itself is never hashed.
    """
    _exists(path, "PATH")
    if old_release_version is not None:
        if release_version is not None and release_version != old_release_version:
            raise click.UsageError("--version is the old name of --release-version; give one of them")
        release_version = old_release_version
    if sigstore == bool(key):
        raise click.UsageError("choose one way to sign: --key K, --cert C --chain CH --key K, or --sigstore")
    if (cert is None) != (chain is None):
        raise click.UsageError("--cert and --chain go together (with --key)")
    if shard_size is not None and not shards:
        raise click.UsageError("--shard-size needs --shards")
    if release_version is None and (expires or supersedes):
        raise click.UsageError("--expires and --supersedes need --release-version (the signed release version)")
    if supersedes is not None:
        _exists(supersedes, "--supersedes")
    if reuse is not None:
        _exists(reuse, "--reuse")

    from weightwarden.integrity.manifest import ManifestError
    from weightwarden.integrity.release import now_rfc3339, parse_time, sign_model
    from weightwarden.integrity.statement import Freshness

    freshness = None
    if release_version is not None:
        exp = None
        if expires:
            try:
                exp = now_rfc3339(parse_time(expires))
            except ValueError:
                raise click.BadParameter(f"not a date or RFC 3339 time: {expires}", param_hint="--expires") from None
        freshness = Freshness(release_version, now_rfc3339(), exp)

    from weightwarden.integrity.release import interoperability_warnings

    for warning in interoperability_warnings(method="shards" if shards else "files", hash_type=hash_type):
        click.echo(f"warning: {warning}", err=True)
    signer = _make_signer(key, password_env, cert, chain, sigstore)
    from weightwarden.integrity.signing import SigningError

    bar = progress_bar("hashing", PROGRESS_MIN_BYTES, unit="bytes")
    record: list[tuple[str, Any, bool]] = []
    notes: list[str] = []
    try:
        bundle = sign_model(path, signer, hash_type=hash_type, method="shards" if shards else "files",
                            shard_size=shard_size, ignore_paths=ignore, allow_symlinks=allow_symlinks,
                            freshness=freshness, previous_bundle=supersedes, signature_path=output,
                            include_tensors=not no_tensor_digests, progress=bar, reuse_bundle=reuse,
                            record=record, notes=notes)
    except ManifestError as exc:
        raise click.ClickException(f"cannot sign {printable(path)}: {printable(exc.reason)}") from None
    except SigningError as exc:
        raise click.ClickException(f"signing failed: {printable(exc.reason)}") from None
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"cannot sign {path}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()

    from weightwarden.integrity.release import bundle_digest, default_signature_path
    from weightwarden.integrity.statement import read_statement

    written = output or str(default_signature_path(path))
    parsed = read_statement(bundle.payload)
    from weightwarden.integrity.report import shown_name

    click.echo(f"signed {shown_name(parsed.subject_name)}: {len(parsed.manifest.files())} files, "
               f"{parsed.manifest.spec.method}/{parsed.manifest.spec.hash_type}, "
               f"{_tensor_summary(parsed.manifest)}")
    click.echo(f"root digest  sha256:{parsed.subject_digest.hex()}")
    click.echo(f"bundle       {printable(written)} ({bundle_digest(bundle.to_json())})")
    if reuse is not None:
        for note in notes:
            click.echo(f"reuse        {printable(note)}")
        reused = [name for name, _, was in record if was]
        hashed = [name for name, _, was in record if not was]
        def listed(names: list[str]) -> str:
            shown = ", ".join(shown_name(n) for n in names[:20])
            return (shown + (f" … ({len(names)} in all)" if len(names) > 20 else "")) if names else "none"

        click.echo(f"reused       {len(reused)} of {len(record)} files (unchanged since {printable(reuse)}): "
                   f"{listed(reused)}")
        click.echo(f"hashed       {len(hashed)}: {listed(hashed)}")
    return EXIT_OK


def _make_signer(key: str | None, password_env: str | None, cert: str | None, chain: str | None,
                 sigstore: bool) -> Any:
    from weightwarden.integrity.signing import CertificateSigner, KeyLoadError, SigningError, SigstoreSigner

    if sigstore:
        return SigstoreSigner()
    assert key is not None
    if password_env is not None and password_env not in os.environ:
        raise click.UsageError(f"--password-env: environment variable {password_env} is not set")
    key_pem = _read(key, "private key")
    password = None if password_env else _prompt_passphrase
    try:
        if cert is not None and chain is not None:
            return CertificateSigner(key_pem, _read(cert, "certificate"), _read(chain, "certificate chain"),
                                     password=password, password_env=password_env)
        from weightwarden.integrity.signing import KeySigner

        return KeySigner(key_pem, password, password_env=password_env)
    except KeyLoadError as exc:
        raise click.ClickException(f"cannot load the private key {key}: {exc.reason}") from None
    except SigningError as exc:
        raise click.ClickException(f"cannot sign with {cert}: {exc.reason}") from None


def _prompt_passphrase() -> str | None:
    if not sys.stdin.isatty():
        return None
    return click.prompt("Passphrase for the private key", hide_input=True, err=True)


# --------------------------------------------------------------------------------------------------- verify

@click.command(epilog=VERIFY_EXIT_HELP)
@click.argument("path", type=click.Path(path_type=str))
@click.option("--bundle", "-b", "bundle", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The signature bundle (model-signing .sig file).")
@click.option("--key", type=click.Path(dir_okay=False, path_type=str), help="Trusted public key (PEM).")
@click.option("--chain", "roots", multiple=True, type=click.Path(dir_okay=False, path_type=str),
              metavar="ROOT", help="Trusted root certificate(s) (PEM); no system roots are ever used.")
@click.option("--identity", help="Expected signer: e-mail, URI or common name of the certificate "
              "(with --chain), or the Sigstore identity (with --sigstore).")
@click.option("--sigstore", is_flag=True, help="Sigstore keyless bundle (needs --identity and --issuer).")
@click.option("--issuer", help="OIDC issuer URL of the Sigstore identity.")
@click.option("--only", "only", multiple=True, metavar="PATH",
              help="Verify just these files (repeatable), still proving they belong to the signed release.")
@click.option("--ignore", "ignore", multiple=True, metavar="PATH",
              help="Leave this path out of the check, as model-signing's --ignore_paths (repeatable).")
@click.option("--trusted-version", type=click.IntRange(min=0), default=None,
              help="Last release version you trusted; an older signed version is refused (rollback).")
@click.option("--allow-symlinks", is_flag=True,
              help="Also follow symbolic links that leave the model folder (links inside it, and a Hugging Face "
                   "cache snapshot's links into its blobs, are always read through).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--quiet", "-q", is_flag=True,
              help=f"Text: do not list the files that are ok (never listed for models of more than {MAX_OK_ROWS} files).")
def verify(path: str, bundle: str, key: str | None, roots: tuple[str, ...], identity: str | None, sigstore: bool,
           issuer: str | None, only: tuple[str, ...], ignore: tuple[str, ...], trusted_version: int | None,
           allow_symlinks: bool, fmt: str, quiet: bool) -> int:
    """Verify the model at PATH against a signature bundle: signer first, then freshness, then every file.

    Choose one trust anchor: --key PUB, --chain ROOT [--identity ID], or --sigstore --identity ID
    --issuer URL. Prints a per-file table (ok / modified / missing / added / renamed / type changed, with
    the changed tensors of safetensors and GGUF files) or, with --format json, a
    weightwarden.verification/v1 report.
    """
    _exists(path, "PATH")
    _exists(bundle, "--bundle")
    if sum((key is not None, bool(roots), sigstore)) != 1:
        raise click.UsageError("choose one trust anchor: --key PUB, --chain ROOT, or --sigstore")
    if sigstore and not (identity and issuer):
        raise click.UsageError("--sigstore needs --identity and --issuer")
    if issuer and not sigstore:
        raise click.UsageError("--issuer is only used with --sigstore")
    if key is not None and identity:
        raise click.UsageError("--identity applies to --chain or --sigstore, not to a bare --key")

    verifier = _make_verifier(key, roots, identity, issuer, sigstore)
    bundle_bytes = _read(bundle, "bundle")
    from weightwarden.report.intoto import is_audit_attestation

    if is_audit_attestation(bundle_bytes):  # an `audit --format intoto --sign-key` bundle, not a release's
        return _verify_attestation(bundle_bytes, verifier, path, ignore, fmt)
    from weightwarden.integrity.release import verify_model

    bar = progress_bar("hashing", PROGRESS_MIN_BYTES, unit="bytes")
    try:
        report = verify_model(path, bundle, verifier, only=list(only) if only else None,
                              trusted_version=trusted_version, ignore_paths=ignore, allow_symlinks=allow_symlinks,
                              progress=bar)
    except OSError as exc:
        raise click.ClickException(f"cannot read the bundle {bundle}: {exc.strerror or exc}") from None
    finally:
        if bar is not None:
            bar.close()
    if fmt == "json":
        import json

        write_stdout(json.dumps(report.to_dict(), indent=2, ensure_ascii=True) + "\n")
    else:
        from weightwarden.report.verification_text import render as render_text

        # A table of thousands of "ok" rows hides the few that matter (and dominated verify's time):
        # big models list only what is not ok, plus the ok count; --format json always has every file.
        show_ok = not quiet and len(report.changes) <= MAX_OK_ROWS
        # Into a pipe or file the same report is written as plain text, without importing rich (~20 ms).
        write_stdout(render_text(report, color=use_color(), width=terminal_width(), show_ok=show_ok,
                                 plain=not stdout_is_terminal()))
    return EXIT_OK if report.verified else EXIT_NOT_VERIFIED


def _verify_attestation(bundle: bytes, verifier: Any, path: str, ignore: tuple[str, ...], fmt: str) -> int:
    """Verify a signed audit attestation against the model at ``path`` (signature, statement, files)."""
    from weightwarden.report.intoto import render_result, verify_attestation

    result = verify_attestation(bundle, verifier, model=path, ignore=ignore)
    if fmt == "json":
        import json

        write_stdout(json.dumps(result.to_dict(), indent=2, ensure_ascii=True) + "\n")
    else:
        write_stdout(render_result(result))
    return EXIT_OK if result.verified else EXIT_NOT_VERIFIED


def _make_verifier(key: str | None, roots: tuple[str, ...], identity: str | None, issuer: str | None,
                   sigstore: bool) -> Any:
    from weightwarden.integrity.verifying import (
        CertificateVerifier,
        KeyLoadError,
        KeyVerifier,
        SigstoreVerifier,
    )

    try:
        if key is not None:
            return KeyVerifier(_read(key, "public key"))
        if roots:
            return CertificateVerifier([_read(r, "root certificate") for r in roots], identity=identity)
        assert identity is not None and issuer is not None
        return SigstoreVerifier(identity, issuer)
    except KeyLoadError as exc:
        raise click.ClickException(f"cannot load the trust anchor: {exc.reason}") from None


# --------------------------------------------------------------------------------------------------- digest

@click.command(epilog=OTHER_EXIT_HELP)
@click.argument("path", type=click.Path(path_type=str))
@click.option("--hash", "hash_type", type=click.Choice(HASHES), default="sha256", show_default=True)
@click.option("--shards", is_flag=True, help="Hash files in fixed-size shards (model-signing 'shards').")
@click.option("--shard-size", type=click.IntRange(min=1), default=None, help="Shard size in bytes with --shards.")
@click.option("--ignore", "ignore", multiple=True, metavar="PATH", help="Leave this path out (repeatable).")
@click.option("--allow-symlinks", is_flag=True,
              help="Also follow symbolic links that leave the model folder (links inside it, and a Hugging Face "
                   "cache snapshot's links into its blobs, are always read through).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json prints the in-toto statement that `sign` would sign.")
def digest(path: str, hash_type: str, shards: bool, shard_size: int | None, ignore: tuple[str, ...],
           allow_symlinks: bool, fmt: str) -> int:
    """Print the manifest of the model at PATH: the root digest and one digest per file (or shard)."""
    _exists(path, "PATH")
    if shard_size is not None and not shards:
        raise click.UsageError("--shard-size needs --shards")
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.integrity.manifest import ManifestError

    bar = progress_bar("hashing", PROGRESS_MIN_BYTES, unit="bytes")
    try:
        manifest = digest_model(path, hash_type=hash_type, method="shards" if shards else "files",
                                shard_size=shard_size, ignore_paths=ignore, allow_symlinks=allow_symlinks,
                                progress=bar)
    except ManifestError as exc:
        raise click.ClickException(f"cannot digest {printable(path)}: {printable(exc.reason)}") from None
    finally:
        if bar is not None:
            bar.close()
    if fmt == "json":
        import json

        from weightwarden.integrity.statement import build_statement

        write_stdout(json.dumps(build_statement(manifest), indent=2, ensure_ascii=True) + "\n")
        return EXIT_OK
    spec = manifest.spec
    from weightwarden.integrity.report import shown_name

    lines = [f"model        {shown_name(manifest.model_name)}",
             f"method       {spec.method} / {spec.hash_type}" + (f", shard size {spec.shard_size}"
                                                                 if spec.shard_size else ""),
             f"root digest  sha256:{manifest.root_digest().hex()}",
             f"resources    {len(manifest.resources)} ({len(manifest.files())} files, "
             f"{_tensor_summary(manifest)})", ""]
    lines += [f"{r.digest.hex()}  {shown_name(r.name)}" for r in manifest.resources]
    write_stdout("\n".join(lines) + "\n")
    return EXIT_OK


# -------------------------------------------------------------------------------------------------- inspect

@click.command(epilog=OTHER_EXIT_HELP)
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=str))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def inspect(bundle: str, fmt: str) -> int:
    """Show what a signature bundle holds (method, signer, serialization, freshness). Checks NO signature."""
    _exists(bundle, "BUNDLE")
    raw = _read(bundle, "bundle")
    from weightwarden.integrity.bundle import BundleError, parse_bundle

    try:
        parsed = parse_bundle(raw)
    except BundleError as exc:
        raise click.ClickException(f"malformed bundle {printable(bundle)}: {printable(exc.reason)}") from None
    info = _describe_bundle(parsed, raw)
    if fmt == "json":
        import json

        write_stdout(json.dumps(info, indent=2, ensure_ascii=True) + "\n")
        return EXIT_OK
    lines = [f"bundle       {printable(bundle)}  (signature NOT checked: use `weightwarden verify`)"]
    for label, k in (("digest", "bundle_digest"), ("media type", "media_type"), ("method", "method"),
                     ("signer", "signer"), ("key hint", "key_hint"), ("tlog entries", "tlog_entries"),
                     ("payload type", "payload_type"), ("predicate", "predicate_type"),
                     ("subject", "subject"), ("root digest", "root_digest"), ("serialization", "serialization"),
                     ("resources", "resources"), ("files", "files"), ("tensors", "tensor_extension"),
                     ("freshness", "freshness"), ("problem", "statement_problem")):
        value = info.get(k)
        if value is None or value == "":
            continue
        if isinstance(value, list):
            value = "\n             ".join(printable(v) for v in value) if value else "none"
        elif isinstance(value, dict):
            value = printable(", ".join(f"{a}={b}" for a, b in value.items() if b is not None))
        else:
            value = printable(value)  # subjects, names and times come from the bundle
        lines.append(f"{label:<12} {value}")
    write_stdout("\n".join(lines) + "\n")
    return EXIT_OK


def _describe_bundle(bundle: Any, raw: bytes) -> dict[str, Any]:
    from weightwarden.integrity.bundle import KIND_CERTIFICATE, KIND_PUBLIC_KEY
    from weightwarden.integrity.release import bundle_digest
    from weightwarden.integrity.statement import PREDICATE_TYPE, StatementError, read_statement

    vm = bundle.verification_material
    info: dict[str, Any] = {"schema": "weightwarden.bundle-info/v1", "bundle_digest": bundle_digest(raw),
                            "media_type": bundle.media_type, "payload_type": bundle.envelope.payload_type}
    if vm.kind == KIND_PUBLIC_KEY:
        info["method"] = "key"
        info["key_hint"] = vm.public_key_hint or ("embedded public key" if vm.public_key_raw else "none")
    else:
        info["method"] = "sigstore (single certificate)" if vm.kind == KIND_CERTIFICATE else "certificate chain"
        info["signer"] = _cert_subjects(vm.certificates)
        info["tlog_entries"] = len(vm.tlog_entries)
    try:
        parsed = read_statement(bundle.payload)
    except StatementError as exc:
        info["statement_problem"] = exc.reason
        return info
    m = parsed.manifest
    info["predicate_type"] = PREDICATE_TYPE if not parsed.legacy else "https://model_signing/Digests/v0.1 (legacy)"
    info["subject"] = parsed.subject_name or None
    info["root_digest"] = "sha256:" + parsed.subject_digest.hex()
    info["serialization"] = {"method": m.spec.method, "hash_type": m.spec.hash_type,
                             "shard_size": m.spec.shard_size, "allow_symlinks": m.spec.allow_symlinks,
                             "ignore_paths": " ".join(m.spec.ignore_paths) or None}
    info["resources"] = len(m.resources)
    info["files"] = len(m.files())
    info["tensor_extension"] = (f"{_tensor_summary(m)} in {len(m.tensors_by_file())} files"
                                if m.tensors else "absent")
    f = parsed.freshness
    info["freshness"] = None if f is None else {"version": f.version, "issued_at": f.issued_at,
                                                 "expires": f.expires, "supersedes": f.supersedes}
    return info


def _cert_subjects(ders: tuple[bytes, ...]) -> list[str]:
    import warnings

    from cryptography import x509

    out = []
    for der in ders:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cert = x509.load_der_x509_certificate(der)
                out.append(f"{cert.subject.rfc4514_string() or '(empty subject)'} "
                           f"(issuer {cert.issuer.rfc4514_string()}, valid "
                           f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})")
        except Exception as exc:  # noqa: BLE001 - attacker-supplied DER: show, never crash
            out.append(f"unreadable certificate: {type(exc).__name__}")
    return out


def register(group: click.Group) -> None:
    """Add the integrity commands to the main ``weightwarden`` group."""
    for command in (sign, verify, digest, inspect):
        group.add_command(command)
