"""The verification report as terminal text: the verdict and reasons, the signer and manifest, then a
per-file table (ok / modified / missing / added / renamed / type changed, with the changed tensors).

``render(report, plain=True)`` writes the same lines without importing rich (verify's output to a pipe or a
file); names from the model are shown through :func:`weightwarden.integrity.report.shown_name`.
"""

from __future__ import annotations

from weightwarden.core.text import printable
from weightwarden.integrity.manifest import ChangeKind, FileChange
from weightwarden.integrity.report import VerificationReport, shown_name

_STYLE = {
    ChangeKind.OK: "green",
    ChangeKind.MODIFIED: "bold red",
    ChangeKind.MISSING: "bold red",
    ChangeKind.ADDED: "bold red",
    ChangeKind.RENAMED: "yellow",
    ChangeKind.TYPE_CHANGED: "bold red",
}


def _detail(c: FileChange) -> str:
    """The detail column, sanitised: it holds tensor and file names taken from the model."""
    from weightwarden.integrity.manifest import MAX_NAMED_TENSORS

    detail = printable(c.detail)
    if c.tensors:
        named = ", ".join(shown_name(t, 200) for t in c.tensors[:MAX_NAMED_TENSORS])
        more = f" … and {len(c.tensors) - MAX_NAMED_TENSORS} more" if len(c.tensors) > MAX_NAMED_TENSORS else ""
        detail = f"content differs; tensors: {named}{more}"
    if c.shards:
        detail += f"; shards {', '.join(c.shards[:MAX_NAMED_TENSORS])}" + (
            f" … and {len(c.shards) - MAX_NAMED_TENSORS} more" if len(c.shards) > MAX_NAMED_TENSORS else "")
    if c.old_path is not None and c.old_path not in c.detail:
        detail += f" (was {shown_name(c.old_path)})"
    return detail


def _manifest_lines(report: VerificationReport) -> list[str]:
    """The unstyled lines about the signed manifest and its freshness."""
    out: list[str] = []
    fr = report.freshness
    if report.serialization:
        s = report.serialization
        shard = f", shard size {s['shard_size']}" if s.get("shard_size") else ""
        out.append(f"  signed:  {shown_name(report.subject_name or '?')}, {s['method']} / {s['hash_type']}{shard}, "
                   f"{report.file_count} files, {report.resource_count} resources, "
                   f"{report.tensor_count} tensors with evidence")
        out.append(f"  root:    {report.root_digest}")
    if fr.signed is not None:
        bits = [f"version {fr.signed.version}", f"issued {printable(fr.signed.issued_at, 40)}"]
        if fr.signed.expires:
            bits.append(("EXPIRED " if fr.expired else "expires ") + printable(fr.signed.expires, 40))
        if fr.signed.supersedes:
            bits.append(f"supersedes {printable(fr.signed.supersedes[:23])}…")
        if fr.rollback:
            bits.append(f"ROLLBACK (trusted version {fr.trusted_version})")
        out.append(f"  release: {', '.join(bits)}")
    return out


def render(report: VerificationReport, *, color: bool = False, width: int = 120,
                show_ok: bool = True, plain: bool = False) -> str:
    """The human-readable report: verdict, signer, manifest, freshness, then one row per file.

    ``plain=True`` (what ``weightwarden verify`` uses when stdout is not a terminal) writes the same
    lines and columns without rich -- no colour, no wrapping at ``width`` -- and so without rich's
    ~20 ms import; otherwise the report is laid out by rich (colour when ``color``).
    """
    if plain:
        return _render_plain(report, show_ok=show_ok)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(record=True, width=width, color_system="standard" if color else None,
                      force_terminal=color, no_color=not color, file=_Null())
    if report.verified:
        console.print("[bold green]VERIFIED[/]" + (f" (only {', '.join(escape(shown_name(o)) for o in report.only)})"
                                                    if report.only else ""))
    else:
        console.print("[bold red]NOT VERIFIED[/]" + (f" (stopped at: {report.stage})" if report.stage != "done" else ""))
    console.print(f"  model:   {escape(printable(report.model))}")
    console.print(f"  bundle:  {escape(printable(report.bundle))}")
    if report.bundle_digest:
        console.print(f"           [dim]{report.bundle_digest}[/]")
    if report.signer:
        console.print(f"  signer:  {escape(printable(report.signer))} [dim](method: {report.method})[/]")
    for line in _manifest_lines(report):
        console.print(escape(line))
    for w in report.warnings:
        console.print(f"  [yellow]warning:[/] {escape(printable(w))}")
    rows = [c for c in report.changes if show_ok or c.status != ChangeKind.OK]
    if rows:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("status")
        table.add_column("file")
        table.add_column("detail", overflow="fold")
        for c in rows:
            table.add_row(f"[{_STYLE.get(c.status, '')}]{c.status}[/]", escape(shown_name(c.path)), escape(_detail(c)))
        console.print(table)
    if report.changes:
        counts = report.counts()
        console.print("  " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if report.reasons:
        console.print("[bold]reasons:[/]")
        for r in report.reasons:
            console.print(f"  - {escape(printable(r))}")
    text = console.export_text(styles=color)
    # rich pads table cells to the column width; trailing blanks only get in the way of copy and diff
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _render_plain(report: VerificationReport, *, show_ok: bool) -> str:
    """:func:`render` without rich: the same lines; the table's columns are padded to their widest
    cell and separated by two blanks, as rich lays them out when they fit; nothing is wrapped."""
    lines = []
    if report.verified:
        lines.append("VERIFIED" + (f" (only {', '.join(shown_name(o) for o in report.only)})" if report.only else ""))
    else:
        lines.append("NOT VERIFIED" + (f" (stopped at: {report.stage})" if report.stage != "done" else ""))
    lines.append(f"  model:   {printable(report.model)}")
    lines.append(f"  bundle:  {printable(report.bundle)}")
    if report.bundle_digest:
        lines.append(f"           {report.bundle_digest}")
    if report.signer:
        lines.append(f"  signer:  {printable(report.signer)} (method: {report.method})")
    lines.extend(_manifest_lines(report))
    lines.extend(f"  warning: {printable(w)}" for w in report.warnings)
    rows = [("status", "file", "detail")]
    rows += [(str(c.status), shown_name(c.path), _detail(c)) for c in report.changes
             if show_ok or c.status != ChangeKind.OK]
    if len(rows) > 1:
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines.extend(f"{a.ljust(w0)}  {b.ljust(w1)}  {c}" for a, b, c in rows)
    if report.changes:
        lines.append("  " + ", ".join(f"{n} {k}" for k, n in report.counts().items()))
    if report.reasons:
        lines.append("reasons:")
        lines.extend(f"  - {printable(r)}" for r in report.reasons)
    return "\n".join(line.rstrip() for line in lines) + "\n"


class _Null:
    """A sink for rich's live output: the text is taken from the recording instead."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass
