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
              notes: list[str] | None = None, open_only: bool = True,
              parsed_cache: dict[int, Any] | None = None) -> list[Affecting]:
    """Every open incident among ``items`` (``(log index, publisher key id, OSV record)``) that affects
    ``release``. ``line(model_id)``: the record of a line's latest live release (with its declared bases),
    or None when the log has none; ``same_root(root)``: the lines with a release of that weights root.
    ``open_only=False``: closed (fixed) incidents too, for display; withdrawn ones never. ``parsed_cache``:
    records already parsed, by log index (the server keeps one: a logged record never changes)."""
    items = list(items)
    cache: dict[str, _inc.ModelRecord | None] = {}

    def lookup(model_id: str) -> _inc.ModelRecord | None:
        if model_id == release.model_id:
            return release
        if model_id not in cache:
            cache[model_id] = line(model_id)
        return cache[model_id]

    # Only records that can reach the release are weighed: those naming a line of its ancestry, or a weights
    # root or file digest of a release in it (the server answers every view request: cost follows the
    # ancestry, not the number of incidents in the log). A (id, key) chain counts whole when any record of it
    # is relevant, so the chain's current record is chosen exactly as over all records.
    ids, roots, digests = _ancestry_marks(release, lookup, same_root)
    relevant: set[tuple[str, str]] = set()
    parsed_at: dict[int, _inc.Incident] = {}
    for idx, owner, record in items:
        incident = parsed_cache.get(int(idx)) if parsed_cache is not None else None
        if incident is None:
            try:
                incident = _inc.Incident.from_osv(dict(record), where=str(record.get("id")))
            except _inc.IncidentError as exc:
                if notes is not None:
                    notes.append(f"skipped an unreadable incident record at log index {idx}: {exc.reason}")
                continue
            if parsed_cache is not None and len(parsed_cache) < 100_000:
                parsed_cache[int(idx)] = incident
        parsed_at[int(idx)] = incident
        if any(e.model_id in ids or any(_inc._norm(r) in roots for r in e.weights_roots)
               or any(_inc._norm(d) in digests for d in e.file_digests.values()) for e in incident.affected):
            relevant.add((incident.id, str(owner)))
    current = current_incidents([(i, o, r) for i, o, r in items
                                 if int(i) in parsed_at and (parsed_at[int(i)].id, str(o)) in relevant])
    parsed: list[_inc.Incident] = []
    where: dict[int, dict[str, Any]] = {}
    for item in current:
        if open_only and item["state"] not in OPEN_INCIDENT_STATES:
            continue
        incident = parsed_at[int(item["index"])]
        parsed.append(incident)
        where[id(incident)] = item


    class _Lines:
        def incidents(self) -> Iterable[_inc.Incident]:
            return parsed

        def model(self, model_id: str) -> _inc.ModelRecord | None:
            return lookup(model_id)

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


def _ancestry_marks(release: _inc.ModelRecord, lookup: Callable[[str], _inc.ModelRecord | None],
                    same_root: Callable[[str], Iterable[str]] | None) -> tuple[set[str], set[str], set[str]]:
    """Line ids, weights roots and file digests of the release and every ancestor ``incidents_affecting``
    can reach (declared bases and same-weights lines, the same depth and breadth bounds)."""
    records = {release.model_id: release}
    frontier = [release]
    for _ in range(_inc.MAX_DEPTH):
        following = []
        for rec in frontier:
            parents = [_inc.split_release(b)[0] for b in rec.declared_bases]
            if rec.weights_root and same_root is not None:
                parents.extend(same_root(rec.weights_root))
            for parent in parents:
                if parent in records or len(records) > _inc.MAX_ANCESTORS:
                    continue
                found = lookup(parent) or _inc.ModelRecord(model_id=parent)
                records[parent] = found
                following.append(found)
        frontier = following
        if not frontier:
            break
    roots = {_inc._norm(r.weights_root) for r in records.values() if r.weights_root}
    digests = {_inc._norm(d) for r in records.values() for d in r.file_digests.values()}
    return set(records), roots, digests
