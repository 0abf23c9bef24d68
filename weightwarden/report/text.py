"""Human-readable rendering of a scan report: one rich table per file, errors, and a summary line.

Usage: ``render(report, color=True, min_severity=None, width=None)`` returns the text (ANSI colours when
``color``). ``min_severity`` hides findings below it (``--quiet`` uses it); errors are always listed,
because a file that could not be scanned is never skipped silently.
"""

from __future__ import annotations

import io
from itertools import groupby

from weightwarden.core.findings import Finding, Severity
from weightwarden.core.text import printable
from weightwarden.scan.results import ScanReport

STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)


def render(
    report: ScanReport,
    *,
    color: bool = False,
    min_severity: Severity | None = None,
    width: int | None = None,
    summary: bool = True,
) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        width=width or 120,
        highlight=False,
        emoji=False,
        markup=False,
    )
    shown = [f for f in report.findings if min_severity is None or f.severity.at_least(min_severity)]
    for file, group in groupby(shown, key=lambda f: f.file):
        items = list(group)
        console.print(Text(printable(file), style="bold underline"))
        table = Table(show_header=True, header_style="bold", expand=True, show_lines=False, pad_edge=False)
        table.add_column("severity", no_wrap=True, width=9)
        table.add_column("rule", no_wrap=True, width=13)
        table.add_column("location", ratio=2, overflow="fold")
        table.add_column("finding", ratio=5, overflow="fold")
        explained: set[str] = set()  # the fix is shown once per rule and file, not on every row
        for finding in sorted(items, key=lambda f: -f.severity.rank):
            table.add_row(
                Text(finding.severity.value, style=STYLE[finding.severity]),
                finding.rule_id,
                printable(finding.location.path) or "-",
                _detail(finding, Text, with_fix=finding.rule_id not in explained),
            )
            explained.add(finding.rule_id)
        console.print(table)
        console.print()
    if report.errors:
        console.print(Text("Could not scan:", style="bold red"))
        for error in report.errors:
            line = Text("  ")
            line.append(printable(error.file), style="bold")
            line.append(f": {printable(error.reason)}")
            console.print(line)
        console.print()
    if summary:
        console.print(_summary(report, Text))
    return buffer.getvalue()


def _detail(finding: Finding, text_cls: type, *, with_fix: bool = True) -> object:
    text = text_cls(printable(finding.message))
    if finding.suppression is not None:
        text.append(f"\nsuppressed: {printable(finding.suppression.reason)}", style="dim")
    if finding.evidence_text:
        text.append("\nevidence: ", style="dim")
        text.append(printable(finding.evidence_text))
    if finding.remediation and with_fix:
        text.append("\nfix: ", style="dim")
        text.append(finding.remediation, style="italic")
    return text


def summary_line(report: ScanReport) -> str:
    counts = {s: 0 for s in ORDER}
    for finding in report.findings:
        counts[finding.severity] += 1
    total = len(report.findings)
    parts = ", ".join(f"{counts[s]} {s.value}" for s in ORDER if counts[s])
    text = f"{total} finding{'s' if total != 1 else ''}"
    if parts:
        text += f" ({parts})"
    text += f" in {report.files_scanned} file{'s' if report.files_scanned != 1 else ''}"
    if report.errors:
        text += f"; {len(report.errors)} could not be scanned"
    text += f" [{report.duration_s:.2f}s]"
    return text


def _summary(report: ScanReport, text_cls: type) -> object:
    worst = report.max_severity()
    style = STYLE[worst] if worst is not None and worst.at_least(Severity.MEDIUM) else "bold green"
    if report.errors and (worst is None or not worst.at_least(Severity.MEDIUM)):
        style = "bold yellow"
    return text_cls(summary_line(report), style=style)
