"""``weightwarden indicators``: derive, export, import and match shareable attack indicators; count shared
ones by private set intersection. A thin shell over :mod:`weightwarden.indicators`.

Exit codes: 0 done (``match``: no match), 1 ``match`` found at least one match, 2 error (the message names
the file and the reason), 3 usage error.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from weightwarden.cli._options import FiniteFloat
from weightwarden.cli._terminal import write_stdout
from weightwarden.core.files import write_atomic
from weightwarden.core.text import printable

EXIT_OK = 0
EXIT_MATCHED = 1
EXIT_ERROR = 2
TLP_CHOICES = ("clear", "green", "amber", "amber+strict", "red")


def _errors_to_exit(fn: Callable[..., int]) -> Callable[..., int]:
    """A WeightwardenError becomes ``error: <reason>`` on stderr and exit 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        from weightwarden.core.errors import WeightwardenError

        try:
            return fn(*args, **kwargs)
        except WeightwardenError as exc:
            click.echo(f"error: {printable(exc.reason)}", err=True)
            return EXIT_ERROR

    return wrapper


def _is_private(content: Any) -> bool:
    """Whether an indicator set written out holds anything that must stay home (raw text, local references,
    free-text categories): such a file is created readable by its owner only."""
    notice = content.contains()
    return bool(notice["raw_text"] or notice["local_references"] or notice["free_text_categories"])


def _write(output: str | None, text: str | bytes, what: str, *, content: Any) -> None:
    """Write to ``output`` (stdout for None / '-'). ``content``: the indicator set the text was made from, or
    None for PSI protocol messages (meant for the peer). Red team round 2 (R6): every write decides its mode
    from what it holds, so no command can write raw text world-readable; a file holding text or references is
    0600, anything else 0644."""
    from weightwarden.indicators.records import MAX_SET_BYTES

    private = content is not None and _is_private(content)
    data = text.encode() if isinstance(text, str) else text
    if content is not None and len(data) > MAX_SET_BYTES:
        # Red team round 11 (2): `import` and every set reader stop at MAX_SET_BYTES, so a larger file could not
        # be read back; refuse before writing anything rather than hand out a file the peer must refuse.
        raise click.ClickException(
            f"the {what} would be {len(data)} bytes, over the {MAX_SET_BYTES}-byte limit that `indicators import` "
            "and set readers accept; nothing written: export fewer prompts at a time (or --format json, which is "
            "about half the size of STIX)")
    if output in (None, "-"):
        if isinstance(text, str):
            write_stdout(text)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        return
    try:
        write_atomic(output, data, 0o600 if private else 0o644)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"{what} written to {printable(output)} ({len(data)} bytes)", err=True)


def _read_bytes(path: str, limit: int) -> bytes:
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_bounded
    from weightwarden.indicators.errors import IndicatorFormatError

    try:
        return read_bounded(path, "input", limit)
    except InputError as exc:
        raise IndicatorFormatError(exc.reason) from None

def _load(path: str, key: Any = None) -> Any:
    """The set in ``path``; with ``key`` (a GroupKey), only if its authentication tag matches (red team round 17,
    class 2: a relay without the key rewrote digests and sketches, and every command accepted the result)."""
    from weightwarden.indicators.records import load_set

    loaded = load_set(path)
    if key is not None:
        from weightwarden.indicators.auth import verify_set

        verify_set(loaded, key, path)
        from weightwarden.indicators.match import unauthenticated_note

        note = unauthenticated_note(loaded, printable(path))
        if note:  # red team round 18, class 2: "tag checked" must not read as "these fields are as sent"
            click.echo(f"note: {note}", err=True)
    return loaded


def _load_own(set_path: str, key_path: str | None, allow_external_key: bool) -> Any:
    """Our own input set of a PSI step: its tag checked when the group key is given (PSI itself needs no key).
    No note without the key: `psi serve`'s first line on standard error is "listening on ..." (scripts read it);
    docs/indicators.md says what PSI without --key does not check."""
    return _load(set_path, _optional_key(key_path, allow_external_key))


def _optional_key(key_path: str | None, allow_external_key: bool) -> Any:
    from weightwarden.indicators.keys import load_key

    return None if key_path is None else load_key(key_path, allow_external=allow_external_key)


def _key_options(what: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """``--key`` (optional) and ``--allow-external-key`` for a command that reads sets: with the key, each set's
    authentication tag is checked (``what`` says what else the key does)."""

    def decorate(fn: Callable[..., int]) -> Callable[..., int]:
        fn = click.option("--allow-external-key", is_flag=True,
                          help="Accept a bare 64-hex key not made by `indicators keygen`.")(fn)
        return click.option("--key", "key_path", default=None, type=click.Path(dir_okay=False, path_type=str),
                            help="Group key file: check the set's authentication tag (refused if it was altered or "
                                 f"made with another key){what}. Without it the tag's form is checked, not whether "
                                 "it matches.")(fn)

    return decorate


def _unverified_note(key: Any, path: str) -> None:
    if key is None:
        click.echo(f"note: {printable(path)}: authentication tag present but NOT checked (no --key): without the "
                   "group key an altered set cannot be told from an intact one", err=True)


@click.group("indicators")
def indicators_group() -> None:
    """Share "we saw this attack" without sharing the attack: keyed digests and sketches of attack prompts,
    STIX 2.1 exchange, matching, and private set intersection counts. See docs/indicators.md."""


@indicators_group.command("keygen")
@click.argument("output", type=click.Path(dir_okay=False, path_type=str))
@_errors_to_exit
def keygen_command(output: str) -> int:
    """Create a new 256-bit group key file (mode 0600). Share it only within the sharing group."""
    from weightwarden.indicators.keys import GroupKey, write_key

    key = GroupKey.generate()
    write_key(key, output)
    click.echo(f"group key written to {printable(output)} (key id {key.key_id})", err=True)
    return EXIT_OK


@indicators_group.command("derive")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Group key file made by `weightwarden indicators keygen`.")
@click.option("--allow-external-key", is_flag=True,
              help="Accept a bare 64-hex key not made by `indicators keygen` (only if it was drawn at random).")
@click.option("--eval-log", "eval_logs", multiple=True, type=click.Path(dir_okay=False, path_type=str),
              help="weightwarden eval JSONL log: attempts a detector marked as misbehaviour (repeatable).")
@click.option("--folder", "folders", multiple=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder of prompt (.txt/.md/.prompt) and transcript (.json) files (repeatable).")
@click.option("--incident", "incidents", multiple=True, type=click.Path(dir_okay=False, path_type=str),
              help="Incident JSON with prompts / transcripts / evidence (repeatable).")
@click.option("--model", "models", multiple=True, type=click.Path(path_type=str),
              help="The attacked model (file or folder), and its base model to match across derivatives "
                   "(repeatable): each weights root becomes a keyed model indicator.")
@click.option("--fingerprint", "fingerprints", multiple=True, type=click.Path(dir_okay=False, path_type=str),
              help="A `weightwarden fingerprint` file of the attacked model (repeatable; keyed).")
@click.option("--all-attempts", is_flag=True, help="Every scored attempt of an eval log, not only misbehaviour.")
@click.option("--include-text", is_flag=True, help="Put the raw prompt text in the output (NOT for sharing).")
@click.option("--include-refs", is_flag=True, help="Keep local references (file names, eval item ids).")
@click.option("--include-category-text", is_flag=True,
              help="Keep categories that are not known taxonomy ids (free text of authored suites).")
@click.option("--tlp", type=click.Choice(TLP_CHOICES), default="amber", show_default=True)
@click.option("--producer", default=None,
              help="Name of the producing organisation (a local reference: needs --include-refs).")
@click.option("--format", "fmt", type=click.Choice(["json", "stix"]), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default=None)
@_errors_to_exit
def derive_command(key_path: str, eval_logs: tuple[str, ...], folders: tuple[str, ...], incidents: tuple[str, ...],
                   models: tuple[str, ...], fingerprints: tuple[str, ...], all_attempts: bool, include_text: bool,
                   include_refs: bool, include_category_text: bool, tlp: str, producer: str | None, fmt: str,
                   output: str | None, allow_external_key: bool) -> int:
    """Derive indicators from evidence (eval logs, prompt folders, incidents) and the attacked model."""
    if not (eval_logs or folders or incidents or models or fingerprints):
        raise click.UsageError("give at least one of --eval-log, --folder, --incident, --model, --fingerprint")
    if producer is not None and not include_refs:
        # Red team round 4 (G2): the producer names who shares; like file names it stays home unless asked for.
        raise click.UsageError("--producer is a local reference: give --include-refs too (the set is then private)")
    from weightwarden.indicators.derive import derive_set
    from weightwarden.indicators.keys import load_key
    from weightwarden.indicators.records import dump_set
    from weightwarden.indicators.sketch import Sketcher

    sketcher = Sketcher(load_key(key_path, allow_external=allow_external_key))
    built = derive_set(sketcher, eval_logs=eval_logs, folders=folders, incidents=incidents, models=models,
                       fingerprints=fingerprints, all_attempts=all_attempts, keep_text=include_text,
                       keep_refs=include_refs, keep_category_text=include_category_text, producer=producer, tlp=tlp)
    contains = built.contains()
    click.echo(f"{contains['prompt_indicators']} prompt and {contains['model_indicators']} model indicators; "
               f"{contains['notice']}", err=True)
    if fmt == "stix":
        # the one writer whose bytes import requires (red team round 15)
        from weightwarden.indicators.auth import sign_set
        from weightwarden.indicators.stix import dump_stix

        shared = sign_set(built.without_private(), sketcher.key)  # what STIX carries, and its tag
        _write(output, dump_stix(shared), "STIX bundle", content=shared)
    else:
        _write(output, dump_set(built), "indicator set", content=built)
    return EXIT_OK


@indicators_group.command("export")
@click.argument("set_path", metavar="SET", type=click.Path(dir_okay=False, path_type=str))
@click.option("--format", "fmt", type=click.Choice(["stix", "json"]), default="stix", show_default=True)
@click.option("--tlp", type=click.Choice(TLP_CHOICES), default=None, help="Change the TLP marking.")
@click.option("--include-text", is_flag=True, help="Keep raw text in a JSON export (never in STIX).")
@click.option("--include-refs", is_flag=True, help="Keep local references in a JSON export.")
@click.option("--include-category-text", is_flag=True,
              help="Keep free-text categories in a JSON export (STIX carries known taxonomy ids only).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default=None)
@_key_options("; needed with --tlp (another TLP), since the new set is signed with it")
@_errors_to_exit
def export_command(set_path: str, fmt: str, tlp: str | None, include_text: bool, include_refs: bool,
                   include_category_text: bool, output: str | None, key_path: str | None,
                   allow_external_key: bool) -> int:
    """Export an indicator set for sharing: STIX 2.1 (default) or native JSON, private fields stripped."""
    from dataclasses import replace

    from weightwarden.indicators.records import dump_set

    key = _optional_key(key_path, allow_external_key)
    loaded = _load(set_path, key)
    shared = loaded.without_private(keep_text=include_text, keep_refs=include_refs,
                                    keep_category_text=include_category_text)
    if tlp:
        shared = replace(shared, tlp=tlp)
    if fmt == "stix":
        shared = shared.without_private()
    if shared.authenticated_json() != loaded.authenticated_json():
        # Red team round 17 (class 2): the tag covers the shared content (the TLP too), so a changed set is signed
        # again; stripping private fields changes nothing the tag covers.
        if key is None:
            raise click.UsageError("this export changes the TLP, which the set's authentication tag covers: give "
                                   "--key KEYFILE (the group key) to sign the new set")
        from weightwarden.indicators.auth import sign_set

        shared = sign_set(shared, key)
    else:
        _unverified_note(key, set_path)
    if fmt == "stix":
        from weightwarden.indicators.stix import dump_stix

        stripped = shared
        _write(output, dump_stix(stripped), "STIX bundle", content=stripped)
    else:
        _write(output, dump_set(shared), "indicator set", content=shared)
    click.echo(shared.contains()["notice"] if fmt == "json" else "STIX: keyed digests and sealed sketches only", err=True)
    return EXIT_OK


@indicators_group.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=str))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), default=None)
@_key_options("")
@_errors_to_exit
def import_command(bundle: str, output: str | None, key_path: str | None, allow_external_key: bool) -> int:
    """Read a STIX 2.1 bundle of weightwarden indicators and write the native indicator set (its authentication
    tag carried over; checked with --key)."""
    from weightwarden.indicators.records import dump_set

    key = _optional_key(key_path, allow_external_key)
    # A native JSON set given here may hold raw text (round 2, R6): the mode follows what was loaded.
    loaded = _load(bundle, key)
    _unverified_note(key, bundle)
    _write(output, dump_set(loaded), "indicator set", content=loaded)
    return EXIT_OK


def render_match(result: Any) -> str:
    data = result.to_json()
    c = data["counts"]
    lines = [f"key id {data['key_id']}: {c['mine']} of mine vs {c['theirs']} of theirs — "
             f"{c['exact']} exact, {c['near']} near (Jaccard ≥ {data['near_threshold']}, payload ≥ "
             f"{data['payload_threshold']}), "
             f"{c['mine_matched']} of mine matched; {c['models']} model match(es)"]
    for e in data["exact"]:
        ref = f"  [{printable(e['mine_ref'], 80)}]" if "mine_ref" in e else ""
        lines.append(f"  exact  {e['mine']} = {e['theirs']}{ref}")
    for n in data["near"]:
        ref = f"  [{printable(n['mine_ref'], 80)}]" if "mine_ref" in n else ""
        lo, hi = n["interval95"]
        payload = f", payload J≈{n['payload_jaccard']:.2f}" if "payload_jaccard" in n else ""
        lines.append(f"  near   {n['mine']} ~ {n['theirs']}  J≈{n['jaccard']:.2f} (95% {lo:.2f}–{hi:.2f}{payload}){ref}")
    for m in data["models"]:
        lines.append(f"  model  {m['kind']} {m['mine']}: same model")
    # red team round 18, class 3: which THEIRS this was (a replayed older set of the group passes the tag check)
    lines.append(f"  theirs: created {printable(data['theirs']['created'] or '?', 40)}, tag "
                 f"{data['theirs']['tag_fingerprint'] or '?'} (compare with the sender out of band)")
    lines += [f"  note: {printable(n, 300)}" for n in data["notes"]]
    return "\n".join(lines) + "\n"


@indicators_group.command("match")
@click.argument("mine", type=click.Path(dir_okay=False, path_type=str))
@click.argument("theirs", type=click.Path(dir_okay=False, path_type=str))
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Group key file: exported sketches are sealed, only the key opens them.")
@click.option("--allow-external-key", is_flag=True,
              help="Accept a bare 64-hex key not made by `indicators keygen` (only if it was drawn at random).")
@click.option("--threshold", type=FiniteFloat(0.0, 1.0, min_open=True, decimals=3), default=None,
              help="Near-match Jaccard threshold (default: the scheme's).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_errors_to_exit
def match_command(mine: str, theirs: str, key_path: str, allow_external_key: bool, threshold: float | None,
                  fmt: str) -> int:
    """Match my indicators (MINE: JSON or STIX) against another party's (THEIRS): exact and near matches."""
    from weightwarden.indicators.keys import load_key
    from weightwarden.indicators.match import match_sets

    # match_sets checks both sets' authentication tags under the key (red team round 17, class 2)
    result = match_sets(_load(mine), _load(theirs), load_key(key_path, allow_external=allow_external_key),
                         threshold=threshold, mine_where=mine, theirs_where=theirs)
    write_stdout(json.dumps(result.to_json(), indent=1, allow_nan=False) + "\n" if fmt == "json" else render_match(result))
    return EXIT_MATCHED if result.exact or result.near or result.models else EXIT_OK


@indicators_group.group("psi")
def psi_group() -> None:
    """Private set intersection cardinality: learn how many indicators two parties share, nothing else."""


def _render_psi(result: Any, fmt: str) -> None:
    if fmt == "json":
        write_stdout(json.dumps(result.to_json(), indent=1, allow_nan=False) + "\n")
        return
    count = "not shared by the client" if result.cardinality is None else str(result.cardinality)
    label = "shared indicators"
    if result.cardinality_source == "client-claim":
        # Red team round 17 (class 3): the server cannot verify the client's count; it is never printed as fact.
        from weightwarden.indicators.psi import CLAIM_NOTE

        label = f"shared indicators {CLAIM_NOTE}"
    write_stdout(f"{label}: {count} (mine {result.mine}, theirs {result.theirs}; sent "
                 f"{result.bytes_sent} B, received {result.bytes_received} B, {result.seconds:.2f} s)\n")


def _budget_options(fn: Callable[..., int]) -> Callable[..., int]:
    """The server's persistent session budget (red team round 1: repeated probing must be bounded)."""
    fn = click.option("--budget-file", default=None, type=click.Path(dir_okay=False, path_type=str),
                      help="Session budget state (default $XDG_STATE_HOME/weightwarden/psi-budget.json).")(fn)
    fn = click.option("--budget-sessions", type=click.IntRange(min=1), default=10, show_default=True,
                      help="Sessions answered per peer and window.")(fn)
    fn = click.option("--budget-items", type=click.IntRange(min=1), default=200_000, show_default=True,
                      help="Client items answered per peer and window (each one a possible membership test "
                           "for a malicious member).")(fn)
    fn = click.option("--budget-window", type=FiniteFloat(min=1.0), default=86_400.0, show_default=True,
                      help="Budget window in seconds.")(fn)
    fn = click.option("--budget-total-sessions", type=click.IntRange(min=1), default=100, show_default=True,
                      help="Sessions answered per window across all peers together.")(fn)
    fn = click.option("--members", "members_path", default=None, type=click.Path(dir_okay=False, path_type=str),
                      help="Member list ('NAME HEX-PUBLIC-KEY' per line): answer only requests signed by a listed "
                           "member, and charge the budget to that member. Without it peers are not "
                           "authenticated (budget per address / one name for all file requests).")(fn)
    return fn


def _budget(path: str | None, sessions: int, items: int, window: float, total: int) -> Any:
    from weightwarden.indicators.psi import SessionBudget, default_budget_path

    return SessionBudget(path or default_budget_path(), sessions=sessions, items=items, window_s=window,
                         total_sessions=total)


# Red team round 3 (F6): the server a signature is for. The operator names the server; members give the same
# name, and it is signed, so a request file replayed to another server, or a session relayed to one, is refused.
_SERVER_NAME_OPTION = click.option(
    "--server-name", default=None, metavar="NAME",
    help="The server's name, included in what members sign (server side: this server's name; client side: the "
         "server you mean). Both sides must give the same name.")

_NO_MEMBERS = "warning: no --members list: peers are not authenticated (docs/indicators.md, PSI)"


def _members(path: str | None, *, warn: bool = True) -> Any:
    if path is None:
        if warn:
            click.echo(_NO_MEMBERS, err=True)
        return None
    from weightwarden.indicators.members import load_members

    return load_members(path)


def _member_key(path: str | None) -> Any:
    if path is None:
        return None
    from weightwarden.indicators.members import load_member_key

    return load_member_key(path)


_MEMBER_KEY_OPTION = click.option("--member-key", "member_key_path", default=None,
                                  type=click.Path(dir_okay=False, path_type=str),
                                  help="Our member signing key (from `psi member-keygen`), for servers that answer "
                                       "listed members only.")


@psi_group.command("member-keygen")
@click.argument("name")
@click.argument("output", type=click.Path(dir_okay=False, path_type=str))
@_errors_to_exit
def psi_member_keygen_command(name: str, output: str) -> int:
    """Create a member signing key file (mode 0600) and print the line the server operator adds to --members."""
    from weightwarden.indicators.members import generate_member_key

    key = generate_member_key(name, output)
    click.echo(f"member key written to {printable(output)}; give the server operator this line:", err=True)
    write_stdout(f"{key.name} {key.public_hex}\n")
    return EXIT_OK


@psi_group.command("serve")
@click.argument("set_path", metavar="SET", type=click.Path(dir_okay=False, path_type=str))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0: any free port.")
@click.option("--max-client-items", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--min-client-items", type=click.IntRange(min=1), default=10, show_default=True,
              help="Refuse smaller client sets (stops accidental membership tests; padding defeats it).")
@click.option("--timeout", type=FiniteFloat(min=0.1), default=120.0, show_default=True,
              help="Seconds per message (plus its size at 64 KiB/s).")
@click.option("--session-timeout", type=FiniteFloat(min=1.0), default=900.0, show_default=True,
              help="Seconds for the whole session.")
@_budget_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_SERVER_NAME_OPTION
@_key_options(" (PSI compares exact digests and needs no key: this checks our own input only)")
@_errors_to_exit
def psi_serve_command(set_path: str, host: str, port: int, max_client_items: int, min_client_items: int,
                      timeout: float, session_timeout: float, budget_file: str | None, budget_sessions: int,
                      budget_items: int, budget_window: float, budget_total_sessions: int, members_path: str | None,
                      fmt: str, server_name: str | None, key_path: str | None = None, allow_external_key: bool = False) -> int:
    """Answer one PSI client; prints the port it listens on to stderr first. Secure against honest-but-curious
    clients only: see docs/indicators.md (PSI security model)."""
    from weightwarden.indicators.psi import serve

    members = _members(members_path, warn=False)

    def ready(bound: int) -> None:
        click.echo(f"listening on {host}:{bound}", err=True)
        if members is None:
            click.echo(_NO_MEMBERS, err=True)

    _render_psi(serve(_load_own(set_path, key_path, allow_external_key), host=host, port=port, max_client_items=max_client_items,
                      min_client_items=min_client_items, timeout=timeout, session_timeout=session_timeout,
                      budget=_budget(budget_file, budget_sessions, budget_items, budget_window, budget_total_sessions),
                      ready=ready, members=members, server_name=server_name), fmt)
    return EXIT_OK


@psi_group.command("connect")
@click.argument("set_path", metavar="SET", type=click.Path(dir_okay=False, path_type=str))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), required=True)
@click.option("--share/--no-share", default=False, show_default=True,
              help="Tell the server the count (off by default: a malicious server with a tiny set would learn "
                   "from it whether we hold its items).")
@click.option("--min-server-items", type=click.IntRange(min=1), default=10, show_default=True,
              help="Refuse smaller server sets (a 1-item set is a membership test of our set).")
@click.option("--max-server-items", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Refuse larger server sets (limits memory and time a hostile server can make us spend).")
@click.option("--timeout", type=FiniteFloat(min=0.1), default=120.0, show_default=True)
@click.option("--session-timeout", type=FiniteFloat(min=1.0), default=900.0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_MEMBER_KEY_OPTION
@_SERVER_NAME_OPTION
@_key_options(" (PSI compares exact digests and needs no key: this checks our own input only)")
@_errors_to_exit
def psi_connect_command(set_path: str, host: str, port: int, share: bool, min_server_items: int,
                        max_server_items: int, timeout: float, session_timeout: float, fmt: str,
                        member_key_path: str | None, server_name: str | None, key_path: str | None = None, allow_external_key: bool = False) -> int:
    """Run the client side against `psi serve`; prints the intersection size."""
    from weightwarden.indicators.psi import connect

    _render_psi(connect(_load_own(set_path, key_path, allow_external_key), host=host, port=port, timeout=timeout, session_timeout=session_timeout,
                        share_result=share, min_server_items=min_server_items,
                        max_server_items=max_server_items, member=_member_key(member_key_path),
                        server_name=server_name), fmt)
    return EXIT_OK


@psi_group.command("request")
@click.argument("set_path", metavar="SET", type=click.Path(dir_okay=False, path_type=str))
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Where to keep the client's secret state (created, mode 0600).")
@click.option("-o", "--output", default="-", show_default=True, help="Request file ('-': standard output).")
@_MEMBER_KEY_OPTION
@_SERVER_NAME_OPTION
@_key_options(" (PSI compares exact digests and needs no key: this checks our own input only)")
@_errors_to_exit
def psi_request_command(set_path: str, state_path: str, output: str, member_key_path: str | None,
                        server_name: str | None, key_path: str | None = None, allow_external_key: bool = False) -> int:
    """File mode, client step 1: write a PSI request for the other party."""
    from weightwarden.indicators.psi import make_request

    _write(output, make_request(_load_own(set_path, key_path, allow_external_key), state_path, member=_member_key(member_key_path),
                                server_name=server_name), "PSI request", content=None)
    return EXIT_OK


@psi_group.command("respond")
@click.argument("set_path", metavar="SET", type=click.Path(dir_okay=False, path_type=str))
@click.argument("request", type=click.Path(allow_dash=True, dir_okay=False, path_type=str))
@click.option("--max-client-items", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--min-client-items", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--peer", default=None, help="Who sent the request (the budget is kept per peer; default: the "
                                           "key id).")
@_budget_options
@click.option("-o", "--output", default="-", show_default=True, help="Response file ('-': standard output).")
@_SERVER_NAME_OPTION
@_key_options(" (PSI compares exact digests and needs no key: this checks our own input only)")
@_errors_to_exit
def psi_respond_command(set_path: str, request: str, max_client_items: int, min_client_items: int,
                        peer: str | None, budget_file: str | None, budget_sessions: int, budget_items: int,
                        budget_window: float, budget_total_sessions: int, members_path: str | None,
                        output: str, server_name: str | None, key_path: str | None = None, allow_external_key: bool = False) -> int:
    """File mode, server: answer a PSI request (REQUEST may be '-' for standard input)."""
    from weightwarden.indicators.psi import MAX_FRAME_BYTES, respond

    data = _read_bytes(request, MAX_FRAME_BYTES)
    _write(output, respond(_load_own(set_path, key_path, allow_external_key), data, max_client_items=max_client_items,
                           min_client_items=min_client_items,
                           budget=_budget(budget_file, budget_sessions, budget_items, budget_window,
                                          budget_total_sessions),
                           peer=peer, what=request, members=_members(members_path), server_name=server_name),
           "PSI response", content=None)
    return EXIT_OK


@psi_group.command("finish")
@click.argument("response", type=click.Path(allow_dash=True, dir_okay=False, path_type=str))
@click.option("--state", "state_path", required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--min-server-items", type=click.IntRange(min=1), default=10, show_default=True,
              help="Refuse smaller server sets (a 1-item set is a membership test of our set).")
@click.option("--max-server-items", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Refuse larger server sets (limits memory and time a hostile server can make us spend).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_errors_to_exit
def psi_finish_command(response: str, state_path: str, min_server_items: int, max_server_items: int,
                       fmt: str) -> int:
    """File mode, client step 2: the intersection size from the other party's response."""
    from weightwarden.indicators.psi import MAX_FRAME_BYTES, finish

    _render_psi(finish(state_path, _read_bytes(response, 2 * MAX_FRAME_BYTES), what=response,
                       min_server_items=min_server_items, max_server_items=max_server_items), fmt)
    return EXIT_OK


def register(group: click.Group) -> None:
    group.add_command(indicators_group)

