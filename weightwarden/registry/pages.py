"""The store seen through the web page's eyes: ``weightwarden.registry.web.RegistryPageSource`` over a
:class:`weightwarden.registry.store.Store` (reads only)."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from weightwarden.registry.incidents import (
    AffectedBy,
    Derivation,
    Incident,
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
        # One StorePages serves every request, on several threads: what one page request remembers (records'
        # keys and indexes, its spent budget) is per thread and reset when the page starts.
        self._local = threading.local()

    def _begin(self) -> Any:
        state = self._local
        state.owners, state.indexes, state.spent = {}, {}, [0]
        state.more_incidents = state.more_line_records = None
        return state

    def _state(self) -> Any:
        return self._local if hasattr(self._local, "owners") else self._begin()

    @property
    def more_incidents(self) -> int | None:
        """Set when the index page's last incidents() left newer-than-listed records out."""
        return getattr(self._local, "more_incidents", None)

    @property
    def spent(self) -> int:
        """What the thread's last page request was charged (bytes, red team round 7)."""
        return int(self._state().spent[0])

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

    LISTED = 100  # the newest incident records the index page lists (GET /incidents pages through all)
    LINE_RECORDS = 200  # records naming a line that its page lists

    def _parsed(self, rows: Iterable[tuple[int, str, Any]], spent: list[int] | None = None) -> list[Incident]:
        """The store's parsed records (bytes-bounded cache; red team round 7, D2: the page re-parsed every
        record in the log on every request), remembered with their key and log index for the page."""
        out = []
        state = self._state()
        for index, owner, _record in rows:
            found = self.store.parsed_incident(int(index))
            if found is None:
                continue  # validated when logged; a record a newer schema rejects is left off the page
            incident, _raw, n = found
            if spent is not None:
                spent[0] += n
            out.append(incident)
            state.owners[id(incident)] = owner
            state.indexes[id(incident)] = int(index)
        return out

    def incidents(self) -> Iterable[Incident]:
        """The newest ``LISTED`` current records (one page of ``Store.incident_heads``)."""
        state = self._begin()
        page, state.more_incidents = self.store.incident_heads(limit=self.LISTED, newest=True)
        return self._parsed(page)

    def incidents_with_id(self, incident_id: str) -> list[Incident]:
        """The current records under one id (one per publisher key), from the index."""
        self._begin()
        page, _more = self.store.incident_heads(incident_id=incident_id, limit=self.LISTED)
        return self._parsed(page)

    def incidents_of_line(self, model_id: str) -> list[Incident]:
        """Current records naming the line in an affected entry (the newest ``LINE_RECORDS``), charged to
        this page's budget."""
        state = self._begin()
        page, state.more_line_records = self.store.incident_heads(line=model_id, limit=self.LINE_RECORDS,
                                                                  newest=True)
        return self._parsed(page, state.spent)

    def incident_owner(self, incident: Incident) -> str | None:
        """The publisher key of a record returned by the last ``incidents()`` call."""
        return self._state().owners.get(id(incident))  # type: ignore[no-any-return]

    MAX_RELEASES_WEIGHED = 50  # the newest releases of a line whose affecting incidents the page lists

    def affecting(self, model_id: str, records: Sequence[Incident]) -> tuple[list[AffectedBy], list[str]]:
        """Every non-withdrawn incident affecting a release of the line (the newest ``MAX_RELEASES_WEIGHED``),
        computed by ``Store.affecting_incidents``: the function the signed list of affecting incidents is
        built from, with its digests, declared bases, weights-root links and entitlement rules (red team
        round 4, W2/W3: the page had its own weaker propagation and said "No public incidents" for a line
        `check` rejects). One hit per record, i.e. per (incident id, publisher key). Second value: the bounds
        hit (the list is then incomplete). ``records``: records the page already holds (a hit on one of them
        names that object; others are read from the store's parsed cache).

        Red team round 7 (D2): the page has ONE cost budget (``max_view_cost``) for everything it reads: the
        records it lists and every computation it starts (each charged its incident records as well as its
        release entries); once spent, no further release is weighed and the list says "incomplete"."""
        size = self.store.size()
        state = self._state()
        where = state.indexes
        by_index = {where[id(r)]: r for r in records if id(r) in where}
        every = self.store.model_view(model_id)["releases"]
        releases = every[-self.MAX_RELEASES_WEIGHED:]
        hits: dict[int, AffectedBy] = {}
        limits: list[str] = []
        spent = state.spent
        if state.more_line_records is not None:
            limits.append(f"more than {self.LINE_RECORDS} incident records name {model_id}: only the newest are "
                          "listed")
        older = every[:-self.MAX_RELEASES_WEIGHED]
        if older:
            # Red team round 14 (low): the page weighed the newest releases only and did not say so. Records
            # that name this line are listed whatever the release (``incidents_of_line``); what reaches an older
            # release only through its digests, weights root or declared bases is not weighed here: say so.
            versions = {str(r["version"]) for r in older}
            naming = sum(1 for r in records if r.state.value != "withdrawn" and any(
                a.model_id == model_id and (a.whole_line or versions.intersection(a.versions)) for a in r.affected))
            limits.append(f"{model_id} has {len(every)} releases; only the newest {len(releases)} were weighed for "
                          f"incidents reaching a release through its digests, weights root or declared bases. The "
                          f"{len(older)} older ones (versions {older[0]['version']} to {older[-1]['version']}) were "
                          f"not; {naming} listed record(s) name them or the whole line. Run `weightwarden check` on "
                          "an older release for its full verdict")
        for rel in reversed(releases):
            if spent[0] >= self.store.max_view_cost:
                limits.append(f"the affecting incidents of the older releases of {model_id} were not weighed "
                              "(this page's cost budget is spent): the list is incomplete")
                break
            for a in self.store.affecting_incidents(int(rel["index"]), size, limits, open_only=False, spent=spent):
                if int(a.index) in hits:
                    continue
                inc = by_index.get(int(a.index))
                if inc is None:
                    got = self._parsed([(int(a.index), a.owner, None)], spent)
                    if not got:
                        continue
                    inc = by_index[int(a.index)] = got[0]
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
