"""Read the parts of an audit's JSON form that every audit renderer shows, in one place: per-domain rows,
capability metrics with their intervals, gate results, and a confidence phrase."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NOT_ASSESSED = "not_assessed"


@dataclass(frozen=True)
class Metric:
    domain: str
    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    suite: str
    counted: bool
    note: str

    @property
    def label(self) -> str:
        return f"{self.domain}: {self.metric} ({self.suite})"


def domains(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in data.get("domains", []) if isinstance(d, dict)]


def level(domain: dict[str, Any]) -> str:
    value = domain.get("level")
    return value if isinstance(value, str) and value else NOT_ASSESSED


def confidence_text(domain: dict[str, Any]) -> str:
    conf = domain.get("confidence")
    if not isinstance(conf, dict) or conf.get("basis") in (None, "none"):
        return "—"
    if conf.get("basis") == "deterministic":
        return "deterministic (file checks)"
    parts = []
    interval = conf.get("interval")
    if isinstance(interval, list) and len(interval) == 2 and all(isinstance(x, int | float) for x in interval):
        level_pct = conf.get("confidence_level")
        pct = f"{level_pct:.0%} " if isinstance(level_pct, int | float) else ""
        parts.append(f"{pct}interval [{interval[0]:.3f}, {interval[1]:.3f}]")
    if conf.get("ruled_in") or conf.get("cannot_rule_out"):
        parts.append(f"ruled in {conf.get('ruled_in') or 'none'}, cannot rule out {conf.get('cannot_rule_out') or 'none'}")
    if isinstance(conf.get("n"), int):
        parts.append(f"n={conf['n']}")
    return "; ".join(parts) or str(conf.get("statement") or "—")


def metrics(data: dict[str, Any]) -> list[Metric]:
    """Every numeric piece of eval evidence (counted or not) with its interval at the policy's confidence."""
    out = []
    for d in domains(data):
        for use in d.get("evidence", []) or []:
            ev = use.get("evidence") if isinstance(use, dict) else None
            if not isinstance(ev, dict) or not isinstance(ev.get("value"), int | float):
                continue
            interval = use.get("interval")
            low, high = (interval if isinstance(interval, list) and len(interval) == 2 else (None, None))
            out.append(Metric(str(d.get("id")), str(ev.get("metric", "score")), float(ev["value"]),
                              low if isinstance(low, int | float) else None,
                              high if isinstance(high, int | float) else None,
                              str(ev.get("suite") or ev.get("source") or ""), bool(use.get("counted")),
                              str(use.get("note") or "")))
    return out


def evidence_summary(domain: dict[str, Any]) -> str:
    parts = []
    for use in domain.get("evidence", []) or []:
        ev = use.get("evidence") if isinstance(use, dict) else None
        if not isinstance(ev, dict):
            continue
        if isinstance(ev.get("value"), int | float):
            text = f"{ev.get('suite')}: {ev.get('metric')} {ev['value']:.3f}"
        elif ev.get("component"):
            text = f"{ev['component']}: {len(ev.get('findings', []))} finding(s)"
        else:
            text = str(ev.get("kind", "evidence"))
        if not use.get("counted"):
            text += f" (not counted: {use.get('note')})"
        parts.append(text)
    return "; ".join(parts)


def gates(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [g for g in data.get("gates", []) if isinstance(g, dict)]


def gate_reason(gate: dict[str, Any]) -> str:
    reasons = gate.get("reasons")
    return "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
