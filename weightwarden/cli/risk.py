"""The ``weightwarden risk`` commands: ``frameworks`` (the crosswalk as a table) and ``policy`` (check and
show a release policy). Parse, call :mod:`weightwarden.risk`, render; documented in ``docs/risk.md``.

Exit codes: 0 done, 2 the crosswalk or policy could not be used (the reason is printed), 3 usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from weightwarden.cli._terminal import write_stdout

EXIT_OK = 0
EXIT_ERROR = 2


def _guarded(run: Callable[[], str]) -> int:
    """Render what ``run`` returns; a WeightwardenError is printed as ``error: <reason>`` with exit 2."""
    from weightwarden.core.errors import WeightwardenError

    try:
        text = run()
    except WeightwardenError as exc:
        click.echo(f"error: {exc.reason}", err=True)
        return EXIT_ERROR
    write_stdout(text)
    return EXIT_OK


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], limit: int = 70) -> str:
    from weightwarden.core.text import printable

    cells = [[printable(c, limit) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


@click.group("risk")
def risk_group() -> None:
    """Risk domains, the crosswalk to published frameworks, and release policies."""


@risk_group.command("frameworks")
@click.option("--framework", "framework_id", default=None, metavar="ID",
              help="Only this framework (e.g. openai-pf, gdm-fsf, eu-gpai-cop); default: all.")
@click.option("--json", "as_json", is_flag=True, help="The crosswalk data as JSON (schema weightwarden.crosswalk/v1).")
def frameworks_command(framework_id: str | None, as_json: bool) -> int:
    """Print how each risk domain and level maps onto each framework's terms (with framework versions)."""

    def run() -> str:
        from weightwarden.risk.crosswalk import load_crosswalk, rows

        crosswalk = load_crosswalk()
        selected = [crosswalk.framework(framework_id)] if framework_id else list(crosswalk.frameworks)
        if as_json:
            data: dict[str, Any] = crosswalk.to_dict()
            ids = {fw.id for fw in selected}
            data["frameworks"] = [fw.to_dict() for fw in selected]
            data["mappings"] = [m.to_dict() for m in crosswalk.mappings if m.framework in ids]
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        from weightwarden.core.text import printable

        out = [f"Crosswalk {printable(crosswalk.version, 40)} — mapping, not equivalence.\n"]
        out.append(_table(("domain", "framework", "version", "status", "term", "thresholds"),
                          rows(crosswalk, framework_id)))
        laddered = [fw for fw in selected if fw.levels]
        if laddered:
            from weightwarden.risk.taxonomy import LADDER

            out.append("\nLevels\n")
            out.append(_table(("level", "meaning", *(fw.id for fw in laddered)),
                              [(d.level.value, d.name, *(fw.level_term(d.level) or "—" for fw in laddered))
                               for d in LADDER], limit=40))
        return "".join(out)

    return _guarded(run)


@risk_group.command("policy")
@click.argument("policy", default="default", metavar="NAME|PATH")
@click.option("--json", "as_json", is_flag=True, help="The parsed policy as JSON (schema weightwarden.risk-policy/v1).")
def policy_command(policy: str, as_json: bool) -> int:
    """Check a release policy (built-in name or TOML file) and show its thresholds and gates."""

    def run() -> str:
        from weightwarden.risk.policy import load_policy

        p = load_policy(policy)
        if as_json:
            return json.dumps(p.to_dict(), indent=2, ensure_ascii=False) + "\n"
        from weightwarden.core.text import printable

        head = (f"policy {printable(p.id, 80)} v{printable(p.version, 20)} ({printable(p.source, 200)}, sha256 "
                f"{p.digest[:16]}…)\n{printable(p.title, 200)}\n"
                f"release mode: {p.release_mode.value}; evidence: {p.evidence.confidence:.0%} intervals, "
                f"n >= {p.evidence.min_n}, level rule {p.evidence.level_rule.value}\n\n")
        thresholds = _table(("domain", "kind", "benchmark", "metric", "level", "at least", "provenance"),
                            [(t.domain, t.kind.value, t.benchmark, t.metric, t.level.value, f"{t.at_least:g}",
                              t.provenance) for t in p.thresholds], limit=60)
        gates = _table(("gate", "on fail", "title"), [(g.id, g.on_fail.value, g.title) for g in p.gates])
        return head + thresholds + "\n" + gates

    return _guarded(run)


def register(group: click.Group) -> None:
    """Add the ``risk`` command group to the main ``weightwarden`` group."""
    group.add_command(risk_group)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(risk_group())
