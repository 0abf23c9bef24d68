"""The result of verifying a model release, and how it is shown: :class:`VerificationReport`.

Built by :func:`weightwarden.integrity.release.verify_model`; read it, or render it::

    report = verify_model(...)
    report.verified, report.reasons          # the verdict, and why not
    report.changes                           # one FileChange per file: ok / modified / missing / added / ...
    json.dumps(report.to_dict())             # schema "weightwarden.verification/v1"
    print(render_text(report))               # the per-file table (rich), as ``weightwarden verify`` prints
    print(render_text(report, plain=True))   # the same without rich (verify's output to a pipe or file)

``stage`` says how far verification got: ``bundle`` (unparseable), ``signature``, ``statement``, ``files``
(the model could not be hashed) or ``done``. A report that stopped early has no file verdicts. This
module imports nothing heavy; rich is imported by :func:`render_text` only, and not with ``plain=True``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from weightwarden.core.text import printable
from weightwarden.integrity.manifest import ChangeKind, FileChange
from weightwarden.integrity.statement import Freshness, ParsedStatement

SCHEMA = "weightwarden.verification/v1"

__all__ = ["MAX_LISTED_TENSORS", "SCHEMA", "FreshnessVerdict", "VerificationReport", "render_text", "shown_name"]

# A file whose header declares 300,000 tensors must not turn the report into megabytes: the JSON lists at
# most this many changed tensors per file (with the total), the text far fewer (manifest.MAX_NAMED_TENSORS).
MAX_LISTED_TENSORS = 1000


def shown_name(name: str, limit: int | None = None) -> str:
    """A file or tensor name as every report shows it: control, bidi and invisible characters escaped
    (:func:`weightwarden.core.text.printable`), and a name that is not in Unicode NFC followed by its code
    points, so that NFC/NFD twins ("café" written two ways) never look the same."""
    text = printable(name, limit)
    if not name.isascii() and not unicodedata.is_normalized("NFC", name):
        text += " [not NFC: " + name.encode("ascii", "backslashreplace").decode("ascii") + "]"
    return text


@dataclass(slots=True)
class FreshnessVerdict:
    """What the signed freshness data means now. ``expired``/``superseded``/``rollback`` are None when not
    known (no expiry signed, no trusted version given); ``reasons`` are the failures among them."""

    signed: Freshness | None = None
    trusted_version: int | None = None
    expired: bool | None = None
    superseded: bool | None = None
    rollback: bool | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        f = self.signed
        return {
            "version": f.version if f else None,
            "issued_at": f.issued_at if f else None,
            "expires": f.expires if f else None,
            "supersedes": f.supersedes if f else None,
            "trusted_version": self.trusted_version,
            "expired": self.expired,
            "superseded": self.superseded,
            "rollback": self.rollback,
        }


@dataclass(slots=True)
class VerificationReport:
    """Everything ``verify`` found; ``verified`` is True only when every check passed."""

    model: str
    bundle: str
    verified: bool = False
    stage: str = "bundle"
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    signer: str | None = None
    method: str | None = None  # key / certificate / sigstore
    bundle_digest: str | None = None
    subject_name: str | None = None
    root_digest: str | None = None
    serialization: dict[str, Any] | None = None
    resource_count: int = 0
    file_count: int = 0
    tensor_count: int = 0
    only: list[str] | None = None
    freshness: FreshnessVerdict = field(default_factory=FreshnessVerdict)
    changes: list[FileChange] = field(default_factory=list)

    def fail(self, stage: str, reason: str) -> VerificationReport:
        """Stop at ``stage`` with ``reason`` (not verified) and return self."""
        self.stage, self.verified = stage, False
        self.reasons.append(reason)
        return self

    def set_manifest(self, parsed: ParsedStatement) -> None:
        m = parsed.manifest
        spec = m.spec
        self.subject_name = parsed.subject_name
        self.root_digest = parsed.subject_digest.hex()
        self.serialization = {"method": spec.method, "hash_type": spec.hash_type, "shard_size": spec.shard_size,
                              "allow_symlinks": spec.allow_symlinks, "ignore_paths": list(spec.ignore_paths)}
        self.resource_count, self.file_count, self.tensor_count = len(m.resources), len(m.files()), len(m.tensors)

    def counts(self) -> dict[str, int]:
        """How many files got each verdict."""
        out: dict[str, int] = {}
        for c in self.changes:
            out[str(c.status)] = out.get(str(c.status), 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "verified": self.verified,
            "stage": self.stage,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "model": self.model,
            "bundle": self.bundle,
            "bundle_digest": self.bundle_digest,
            "signer": self.signer,
            "method": self.method,
            "manifest": {
                "subject_name": self.subject_name,
                "root_digest": self.root_digest,
                "serialization": self.serialization,
                "resources": self.resource_count,
                "files": self.file_count,
                "tensors": self.tensor_count,
            },
            "only": self.only,
            "freshness": self.freshness.to_dict(),
            "summary": self.counts(),
            "files": [
                {"path": c.path, "status": str(c.status), "detail": c.detail, "old_path": c.old_path,
                 "shards": list(c.shards), "tensors": list(c.tensors[:MAX_LISTED_TENSORS]),
                 "tensors_total": len(c.tensors)}
                for c in self.changes
            ],
        }


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


def render_text(report: VerificationReport, *, color: bool = False, width: int = 120,
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
    """:func:`render_text` without rich: the same lines; the table's columns are padded to their widest
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
