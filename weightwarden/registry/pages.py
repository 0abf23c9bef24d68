"""The store seen through the web page's eyes: ``weightwarden.registry.web.RegistryPageSource`` over a
:class:`weightwarden.registry.store.Store` (reads only)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from weightwarden.registry.incidents import (
    AffectedBy,
    Derivation,
    Incident,
    IncidentError,
    ModelRecord,
    declared_lineage,
)
from weightwarden.registry.note import Checkpoint, parse_note
from weightwarden.registry.store import Store
from weightwarden.registry.web import LogStatus, ReleaseRow, WitnessStatus


def _when(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class StorePages:
    def __init__(self, store: Store) -> None:
        self.store = store

    def log_status(self) -> LogStatus:
        cp = Checkpoint.parse(parse_note(self.store.checkpoint()).text)
        witnesses = tuple(WitnessStatus(name, size, _when(at)) for name, (size, at) in
                          sorted(self.store.witness_sizes().items()))
        return LogStatus(origin=cp.origin, size=cp.size, root_hash=base64.b64encode(cp.root_hash).decode(),
                         witnesses=witnesses)

    def _rows(self, model: str) -> list[ReleaseRow]:
        view = self.store.model_view(model)
        out = []
        for r in view["releases"]:
            reason = None
            if r["revoked"]:
                reason = r["revoked"]["reason"]
            elif r["status"] == "superseded":
                reason = "a newer release exists"
            out.append(ReleaseRow(model_id=model, version=str(r["version"]), published=_when(r["logged_at"]),
                                  log_index=r["index"], weights_root=r["weights_root"], status=r["status"],
                                  reason=reason, publisher=r["publisher"][:16]))
        return out

    def recent_releases(self, limit: int) -> Sequence[ReleaseRow]:
        recent = self.store.recent_releases(limit)
        by_model = {m: {row.log_index: row for row in self._rows(m)} for m in {r["model"] for r in recent}}
        return [by_model[r["model"]][r["index"]] for r in recent]

    def model_line(self, model_id: str) -> Sequence[ReleaseRow]:
        return self._rows(model_id)

    # The records are already the current one per (incident id, publisher key): the pages must not merge
    # them by id again (red team round 3: another key's withdrawn copy of an id hid the real incident).
    keyed_incidents = True

    def incidents(self) -> Iterable[Incident]:
        out = []
        self._owners: dict[int, str] = {}
        self._indexes: dict[int, int] = {}
        for index, owner, record in self.store.incident_records():
            try:
                incident = Incident.from_osv(record, where=str(record.get("id")))
            except IncidentError:
                continue  # validated when logged; a record a newer schema rejects is left off the page
            out.append(incident)
            self._owners[id(incident)] = owner
            self._indexes[id(incident)] = int(index)
        return out

    def incident_owner(self, incident: Incident) -> str | None:
        """The publisher key of a record returned by the last ``incidents()`` call."""
        return getattr(self, "_owners", {}).get(id(incident))

    MAX_RELEASES_WEIGHED = 50  # the newest releases of a line whose affecting incidents the page lists

    def affecting(self, model_id: str, records: Sequence[Incident]) -> tuple[list[AffectedBy], list[str]]:
        """Every non-withdrawn incident affecting a release of the line (the newest ``MAX_RELEASES_WEIGHED``),
        computed by ``Store.affecting_incidents``: the function the signed list of affecting incidents is
        built from, with its digests, declared bases, weights-root links and entitlement rules (red team
        round 4, W2/W3: the page had its own weaker propagation and said "No public incidents" for a line
        `check` rejects). One hit per record, i.e. per (incident id, publisher key). Second value: the bounds
        hit (the list is then incomplete). ``records``: what the last ``incidents()`` call returned (the hits
        name those objects)."""
        size = self.store.size()
        where = getattr(self, "_indexes", {})
        by_index = {where[id(r)]: r for r in records if id(r) in where}
        releases = self.store.model_view(model_id)["releases"][-self.MAX_RELEASES_WEIGHED:]
        hits: dict[int, AffectedBy] = {}
        limits: list[str] = []
        spent = [0]
        for rel in reversed(releases):
            # Red team round 6 (D1): one page request weighs the newest releases until twice one view's cost
            # budget is spent (memoised answers cost nothing); the rest is "incomplete", never "no incidents".
            if spent[0] >= 2 * self.store.max_view_cost:
                limits.append(f"the affecting incidents of the older releases of {model_id} were not weighed "
                              "(this page's cost budget is spent): the list is incomplete")
                break
            for a in self.store.affecting_incidents(int(rel["index"]), size, limits, open_only=False, spent=spent):
                inc = by_index.get(int(a.index))
                if inc is not None and int(a.index) not in hits:
                    hits[int(a.index)] = AffectedBy(inc, a.matched, a.match, tuple(a.path))
        return list(hits.values()), limits

    def model(self, model_id: str) -> ModelRecord | None:
        view = self.store.model_view(model_id)
        latest = next((r for r in view["releases"] if r["bundle"] == view["latest"]), None)
        if latest is None:
            return None
        return ModelRecord(model_id=model_id, version=str(latest["version"]), weights_root=latest["weights_root"])

    def parents(self, model: ModelRecord) -> Iterable[Derivation]:
        lookup: Any = declared_lineage(self)
        return lookup(model)
