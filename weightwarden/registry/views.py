"""What the log says about one model line, derived the same way by the server (from its index tables) and
by the client (from entries it verified itself): releases with their status, audits, incidents.

A release is ``revoked`` when a revocation entry names it, ``superseded`` when a supersession entry names it
as ``old`` or a higher version of the line exists that is not revoked, else ``current``. ``latest`` is the
highest non-revoked version.

Incidents: records are keyed by ``(incident id, publisher key)``: a key's later record replaces its own
earlier one only when it continues that record's lifecycle (:func:`current_incidents`), and one key's
record never replaces another's. The registry refuses such writes too (``store``), but a log written before
that rule, or by a hostile operator, may hold them: this is the rule every reader applies (red team round 1:
a publisher withdrew a safety institute's incident by logging a record under its id).

:func:`line_facts` is what the signed freshness view carries about a line and what the client re-derives
from entries it proved, so the two can be compared (``freshness``, ``client``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MODEL_VIEW_SCHEMA = "weightwarden.registry.model-line/v1"
OPEN_INCIDENT_STATES = ("reported", "confirmed")


@dataclass(frozen=True, slots=True)
class Event:
    """One index row: an entry (``idx``) of ``kind`` about ``model`` (and ``release``, ``other``, ``incident``)."""

    idx: int
    kind: str
    model: str
    release: str | None = None
    other: str | None = None
    incident: str | None = None


def release_row(index: int, body: Mapping[str, Any], publisher: str, logged_at: int) -> dict[str, Any]:
    return {"index": index, "model": body["model"], "version": body["version"], "bundle": body["bundle"],
            "subject_sha256": body["subject"]["sha256"], "weights_root": body.get("weights_root"),
            "publisher": publisher, "logged_at": logged_at}


def events_of(kind: str, body: Mapping[str, Any], index: int) -> list[Event]:
    """The index rows of a non-release entry body."""
    if kind == "supersession":
        return [Event(index, kind, body["model"], release=body["old"], other=body["new"])]
    if kind == "revocation":
        return [Event(index, kind, body["model"], release=body["release"], incident=body.get("incident"))]
    if kind == "audit":
        return [Event(index, kind, body["model"], release=body["release"])]
    if kind == "incident":
        return [Event(index, kind, m, incident=body["incident"]["id"]) for m in body["models"]]
    return []


def incident_state(record: Mapping[str, Any]) -> str:
    specific = record.get("database_specific")
    if isinstance(specific, Mapping):
        lifecycle = specific.get("lifecycle")
        if isinstance(lifecycle, Mapping) and isinstance(lifecycle.get("state"), str):
            return lifecycle["state"]
    return "withdrawn" if record.get("withdrawn") else "reported"


def _continues(known: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """``record`` extends ``known``'s lifecycle (same publication, history a continuation); a record that
    does not parse never continues anything."""
    if record == known:
        return True
    from weightwarden.registry.incidents import Incident, IncidentError
    from weightwarden.registry.incidents import _continues as continues

    try:
        return continues(Incident.from_osv(dict(known)), Incident.from_osv(dict(record)))
    except IncidentError:
        return False


def current_incidents(items: Iterable[tuple[int, str, Mapping[str, Any]]],
                      known: Mapping[tuple[str, str], tuple[int, Mapping[str, Any]]] | None = None
                      ) -> list[dict[str, Any]]:
    """The current incident records among ``(log index, publisher key id, record)`` items: one per
    ``(id, publisher)``, the latest record of that key that continues the key's earlier one. Sorted by the
    log index of the record kept. Items may come from several model lines (a line and its bases).

    ``known``: ``(id, publisher) -> (log index, record)``, a chain's current record as of some earlier point,
    proven by the caller (red team round 18, R18-1: the client's delta resumes a chain it judged before from
    the record it was proven open from, and only a later item that continues that record replaces it; the
    same rule, the same code, as the full scan's). Items at or below a known record's index are ignored for
    that chain (the caller read none it had not judged)."""
    chains: dict[tuple[str, str], dict[str, Any]] = {}
    for (incident_id, owner), (idx, record) in (known or {}).items():
        chains[(str(incident_id), owner)] = _chain_record(int(idx), owner, record)
    for idx, owner, record in sorted(items, key=lambda item: int(item[0])):
        key = (str(record.get("id")), owner)
        kept = chains.get(key)
        if kept is None or (int(idx) > kept["index"] and _continues(kept["record"], record)):
            chains[key] = _chain_record(int(idx), owner, record)
    return sorted(chains.values(), key=lambda i: (i["index"], i["owner"]))


def _chain_record(idx: int, owner: str, record: Mapping[str, Any]) -> dict[str, Any]:
    return {"index": idx, "id": str(record.get("id")), "owner": owner, "state": incident_state(record),
            "record": record}


def build_model_view(model: str, size: int, rels: Iterable[Mapping[str, Any]], evs: Iterable[Any],
                     bodies: Mapping[int, Mapping[str, Any]], owners: Mapping[int, str] | None = None
                     ) -> dict[str, Any]:
    """``rels``: release rows; ``evs``: events (``Event`` or rows with the same attributes) in log order;
    ``bodies``: entry bodies of the revocation and incident events, by index; ``owners``: the publisher key
    id of each incident entry, by index (missing: one unnamed owner, so records only continue each other).
    Entries at or above ``size`` are left out: the view is the line as of that tree size."""
    owners = owners or {}
    by_bundle = {r["bundle"]: {**r, "status": "current", "revoked": None, "superseded_by": None, "audits": []}
                 for r in rels if int(r["index"]) < size}
    items: list[tuple[int, str, Mapping[str, Any]]] = []
    indexes = {int(r["index"]) for r in by_bundle.values()}
    for e in evs:
        if int(e.idx) >= size:
            continue
        indexes.add(int(e.idx))
        rel = by_bundle.get(e.release) if e.release else None
        if e.kind == "revocation" and rel is not None and rel["revoked"] is None:
            rel["revoked"] = {"index": int(e.idx), "incident": e.incident, "reason": bodies[int(e.idx)]["reason"]}
        elif e.kind == "supersession" and rel is not None and rel["superseded_by"] is None:
            rel["superseded_by"] = {"index": int(e.idx), "bundle": e.other}
        elif e.kind == "audit" and rel is not None:
            rel["audits"].append(int(e.idx))
        elif e.kind == "incident":
            items.append((int(e.idx), owners.get(int(e.idx), ""), bodies[int(e.idx)]["incident"]))
    ordered = sorted(by_bundle.values(), key=lambda r: r["version"])
    live = [r for r in ordered if r["revoked"] is None]
    newest_live = live[-1] if live else None
    for rel in ordered:
        if rel["revoked"] is not None:
            rel["status"] = "revoked"
        elif rel["superseded_by"] is not None or (newest_live is not None and rel["version"] < newest_live["version"]):
            rel["status"] = "superseded"
    return {"schema": MODEL_VIEW_SCHEMA, "model": model, "tree_size": size, "releases": ordered,
            "latest": newest_live["bundle"] if newest_live else None,
            "incidents": current_incidents(items), "entries": sorted(indexes)}


def line_facts(view: Mapping[str, Any]) -> dict[str, Any]:
    """What the signed freshness view states about a line (and the client checks against the entries it
    proved): status, index of the latest live release, revocation indexes, open incident ids, and how many
    log entries concern the line with a digest of their indexes, so an index that hides one is caught."""
    latest = next((r for r in view["releases"] if r["bundle"] == view["latest"]), None)
    indexes = [int(i) for i in view["entries"]]
    return {
        "status": "current" if latest is not None else "revoked",
        "latest_index": int(latest["index"]) if latest is not None else None,
        "revocations": sorted(int(r["revoked"]["index"]) for r in view["releases"] if r["revoked"]),
        "open_incidents": sorted({str(i["id"]) for i in view["incidents"] if i["state"] in OPEN_INCIDENT_STATES}),
        "entries": len(indexes),
        "entries_digest": hashlib.sha256(",".join(map(str, sorted(indexes))).encode("ascii")).hexdigest(),
    }
