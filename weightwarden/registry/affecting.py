"""Which open incidents affect one release: the rule the server signs into a line's freshness view and the
client re-applies to entries it proved (red team round 2).

An incident affects a release when one of its ``affected`` items names the release itself (model id and
version, the whole line, a file digest or the weights root), or an ancestor reached through declared bases
(transitively, depth and breadth bounded, cycles visited once) or through another registered line with the
same weights root. Records are keyed by ``(incident id, publisher key)`` (``views.current_incidents``): one
key's record never hides another key's. Only open states (reported, confirmed) are returned: they are what
makes an answer "not current".

The caller supplies the records and a way to look a line up, so the server (from its tables) and the client
(from proven entries) share one propagation: ``incidents.incidents_affecting``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from weightwarden.registry import incidents as _inc
from weightwarden.registry.views import OPEN_INCIDENT_STATES, current_incidents

MAX_AFFECTING = 256  # incidents a signed view lists; more is refused by the client (a hostile view)


@dataclass(frozen=True)
class Affecting:
    """One open incident that affects the release: its id, the log index of the record relied on, its
    publisher key, and how it reaches the release (``match``; ``via`` the ancestors, child first)."""

    id: str
    index: int
    owner: str
    state: str
    severity: str
    summary: str
    matched: str
    match: str
    via: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "index": self.index, "state": self.state, "severity": self.severity,
                "summary": self.summary, "matched": self.matched, "match": self.match, "via": self.via}


def release_record(body: Mapping[str, Any]) -> _inc.ModelRecord:
    """What incident matching needs of a release entry body."""
    return _inc.ModelRecord(model_id=str(body["model"]), version=str(body["version"]),
                            weights_root=body.get("weights_root"),
                            file_digests={str(f["name"]): str(f["digest"]) for f in body.get("files", [])},
                            declared_bases=tuple(str(b) for b in body.get("bases", [])))


def affecting(release: _inc.ModelRecord, items: Iterable[tuple[int, str, Mapping[str, Any]]],
              line: Callable[[str], _inc.ModelRecord | None],
              same_root: Callable[[str], Iterable[str]] | None = None,
              notes: list[str] | None = None, open_only: bool = True) -> list[Affecting]:
    """Every open incident among ``items`` (``(log index, publisher key id, OSV record)``) that affects
    ``release``. ``line(model_id)``: the record of a line's latest live release (with its declared bases),
    or None when the log has none; ``same_root(root)``: the lines with a release of that weights root.
    ``open_only=False``: closed (fixed) incidents too, for display; withdrawn ones never."""
    current = current_incidents(items)
    parsed: list[_inc.Incident] = []
    where: dict[int, dict[str, Any]] = {}
    for item in current:
        if open_only and item["state"] not in OPEN_INCIDENT_STATES:
            continue
        record = item["record"]
        try:
            incident = _inc.Incident.from_osv(dict(record), where=str(record.get("id")))
        except _inc.IncidentError as exc:
            if notes is not None:
                notes.append(f"skipped an unreadable incident record at log index {item['index']}: {exc.reason}")
            continue
        parsed.append(incident)
        where[id(incident)] = item
    cache: dict[str, _inc.ModelRecord | None] = {}

    class _Lines:
        def incidents(self) -> Iterable[_inc.Incident]:
            return parsed

        def model(self, model_id: str) -> _inc.ModelRecord | None:
            if model_id == release.model_id:
                return release
            if model_id not in cache:
                cache[model_id] = line(model_id)
            return cache[model_id]

        def models_with_root(self, root: str) -> list[str]:
            return sorted(set(same_root(root))) if same_root is not None else []

    view = _Lines()
    hits = _inc.incidents_affecting(release, view, _inc.declared_lineage(view), current=True)
    # incidents_affecting keeps one hit per incident id; with records keyed by (id, key) an id may stand for
    # several open records: each of them counts (one key's record never hides another's).
    out: list[Affecting] = []
    for hit in hits:
        for incident in parsed:
            if incident.id != hit.incident.id:
                continue
            item = where[id(incident)]
            out.append(Affecting(id=incident.id, index=int(item["index"]), owner=str(item["owner"]),
                                 state=incident.state.value, severity=incident.severity, summary=incident.summary,
                                 matched=hit.matched_model, match=hit.match,
                                 via=" → ".join(d.parent for d in hit.path) if hit.path else ""))
    return sorted(out, key=lambda a: (a.index, a.owner))
