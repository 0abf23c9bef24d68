"""What the log says about one model line, derived the same way by the server (from its index tables) and
by the client (from entries it verified itself): releases with their status, audits, incidents.

A release is ``revoked`` when a revocation entry names it, ``superseded`` when a supersession entry names it
as ``old`` or a higher version of the line exists that is not revoked, else ``current``. ``latest`` is the
highest non-revoked version. Incidents keep their latest logged record per id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MODEL_VIEW_SCHEMA = "weightwarden.registry.model-line/v1"


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


def build_model_view(model: str, size: int, rels: Iterable[Mapping[str, Any]], evs: Iterable[Any],
                     bodies: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """``rels``: release rows; ``evs``: events (``Event`` or rows with the same attributes) in log order;
    ``bodies``: entry bodies of the revocation and incident events, by index."""
    by_bundle = {r["bundle"]: {**r, "status": "current", "revoked": None, "superseded_by": None, "audits": []}
                 for r in rels}
    incidents: dict[str, dict[str, Any]] = {}
    for e in evs:
        rel = by_bundle.get(e.release) if e.release else None
        if e.kind == "revocation" and rel is not None and rel["revoked"] is None:
            rel["revoked"] = {"index": int(e.idx), "incident": e.incident, "reason": bodies[int(e.idx)]["reason"]}
        elif e.kind == "supersession" and rel is not None and rel["superseded_by"] is None:
            rel["superseded_by"] = {"index": int(e.idx), "bundle": e.other}
        elif e.kind == "audit" and rel is not None:
            rel["audits"].append(int(e.idx))
        elif e.kind == "incident":
            record = bodies[int(e.idx)]["incident"]
            incidents[e.incident] = {"index": int(e.idx), "id": e.incident, "state": incident_state(record),
                                     "record": record}
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
            "incidents": sorted(incidents.values(), key=lambda i: i["index"])}
