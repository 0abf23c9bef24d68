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

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from weightwarden.registry import incidents as _inc
from weightwarden.registry.views import OPEN_INCIDENT_STATES, current_incidents

# specific releases the ancestry walk visits (red team round 5: it walks releases, not lines); more is a
# bound hit ("incomplete"), never "nothing affects the release"
MAX_WALKED_RELEASES = 4 * _inc.MAX_ANCESTORS


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
    path: tuple[_inc.Derivation, ...] = field(default=(), compare=False)  # for the pages; not in the signed view

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "index": self.index, "state": self.state, "severity": self.severity,
                "summary": self.summary, "matched": self.matched, "match": self.match, "via": self.via}


def release_record(body: Mapping[str, Any], index: int | None = None) -> _inc.ModelRecord:
    """What incident matching needs of a release entry body (``index``: its log index, where known)."""
    return _inc.ModelRecord(model_id=str(body["model"]), version=str(body["version"]),
                            weights_root=body.get("weights_root"),
                            file_digests={str(f["name"]): str(f["digest"]) for f in body.get("files", [])},
                            declared_bases=tuple(str(b) for b in body.get("bases", [])),
                            index=None if index is None else int(index))


Entitled = Callable[[str, str, str | None, str], bool]  # (key, line, line's publisher key, "incident"|"link")


def own_key_only(key: str, line: str, line_owner: str | None, kind: str) -> bool:
    """The rule a client can apply from the log alone: only the key that published the line speaks for it
    by content address (the registry adds the keys its namespace grants entitle, and signs the result)."""
    return line_owner is not None and key == line_owner


Items = Iterable[tuple[int, str, Mapping[str, Any]]]
# (ancestry line ids, normalised weights roots, normalised file digests) -> the records that may touch them
Relevant = Callable[[set[str], set[str], set[str]], Items]


def incident_terms(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What an incident record names, as ``(kind, value)`` index terms (red team round 7, D2): ``("id", incident
    id)`` always (its (id, key) chain is found by it), and for a record that parses ``("line", model id)``,
    ``("root", weights root)`` and ``("digest", file digest)`` of each affected entry, normalised exactly as the
    relevance test in :func:`affecting` compares them (digests by :func:`term_value`), so a lookup by these
    terms finds every record the full scan would find relevant."""
    terms: list[tuple[str, str]] = [("id", str(record.get("id")))]
    try:
        incident = _inc.Incident.from_osv(dict(record), where=str(record.get("id")))
    except _inc.IncidentError:
        return terms  # never relevant (the scan skips it too); still a member of its chain
    for e in incident.affected:
        terms.append(("line", e.model_id))
        terms.extend(("root", term_value(_inc._norm(r))) for r in e.weights_roots)
        terms.extend(("digest", term_value(_inc._norm(d))) for d in e.file_digests.values())
    return list(dict.fromkeys(terms))


TERM_PREFIX = 16  # hex digits of a weights root or file digest kept in the index


def term_value(normalised_digest: str) -> str:
    """The index's form of a normalised digest: its first ``TERM_PREFIX`` hex digits. A lookup by prefix finds a
    superset of the records naming the digest (the exact test in :func:`affecting` still decides), and the
    index rows stay small: a 64-KB record can name ~1,800 roots, each a row written with it. Naming a digest
    that shares a prefix gives a writer nothing it does not get by naming the digest itself."""
    return normalised_digest[:TERM_PREFIX]


def affecting(release: _inc.ModelRecord, items: Items | Relevant,
              line: Callable[[str], _inc.ModelRecord | None],
              same_root: Callable[[str, str], Iterable[tuple[Any, ...]]] | None = None,
              notes: list[str] | None = None, open_only: bool = True,
              parsed_cache: Any = None, *,
              owner: Callable[[str], str | None] | None = None,
              entitled: Entitled = own_key_only,
              limits: list[str] | None = None,
              history: Callable[[str], Iterable[_inc.ModelRecord]] | None = None,
              entitled_at: Callable[[int, str, str, str | None], bool] | None = None,
              reached: set[str] | None = None, walk: list[str] | None = None,
              known: Mapping[tuple[str, str], tuple[int, Mapping[str, Any]]] | None = None) -> list[Affecting]:
    """Every open incident among ``items`` (``(log index, publisher key id, OSV record)``) that affects
    ``release``. ``line(model_id)``: the record of a line's latest live release (with its declared bases),
    or None when the log has none; ``same_root(root, line)``: ``(line, publisher key, release record)`` of
    the releases of that weights root, revoked and superseded ones included (at least those by keys that may speak for ``line``: the server filters in its query); ``owner(model_id)``: the publisher key of the line (the release's own line included).
    ``open_only=False``: closed (fixed) incidents too, for display; withdrawn ones never. ``parsed_cache``:
    records already parsed, by log index (the server keeps one, bounded by bytes: a logged record never
    changes; only read here, the caller fills it). ``items`` may be a function of the ancestry (line ids,
    weights roots, file digests) returning the records that name any of them with every record of their
    (id, key) chains (red team round 7, D2: the server reads them from an index, charged to its budget); a
    list is scanned whole (the client's full scan) with the same result.

    Red team round 3: a weights-root link counts only when the key that claimed the root is ``entitled`` to
    the line it links to, and a weights-root or file-digest match only when the incident's key is entitled
    to the matched line; others are notes.

    Red team round 4: a linked line stands for the specific releases that share the root (``same_root``'s
    records), a declared base line for every release of it below the view's size (``history(line)``, revoked and
    superseded included, those logged after the judged release too: red team round 6, A4); incidents are matched against those, not only the line's latest release
    (which a new version or a revocation would change). ``entitled_at(index, key, line, line's publisher
    key)``: whether the incident record at that log index may speak for the line, judged against the grant
    its key had when the record was logged (the server keeps it; without it ``entitled`` is asked). Every bound the walk hits is written to ``limits``: a caller must
    then treat the answer as incomplete (fail closed), never as "nothing affects the release". ``reached``: filled
    with the lines the walk visited (declared bases and weights-root links), for a caller that holds only some
    lines' entries and must read the others (the client's delta scan, red team round 16b). ``walk``: filled with a
    canonical description of what the walk visited (each line's latest live release, every specific release and
    every edge): two walks with the same description weigh the same roots, file digests, lines and owners, which is
    what the client's delta compares with its last full judgement (red team round 17, F3). ``known``: chains the
    caller resumes from a proven record (``views.current_incidents``'s ``known``; red team round 19: the client's
    delta, whose items are a subset of the log's)."""
    cache: dict[str, _inc.ModelRecord | None] = {}
    limits = limits if limits is not None else []
    owners: dict[str, str | None] = {}

    def lookup(model_id: str) -> _inc.ModelRecord | None:
        if model_id == release.model_id:
            return release
        if model_id not in cache:
            cache[model_id] = line(model_id)
        return cache[model_id]

    def owner_of(model_id: str) -> str | None:
        if owner is None:
            return None
        if model_id not in owners:
            owners[model_id] = owner(model_id)
        return owners[model_id]

    extra: dict[str, list[_inc.ModelRecord]] = {}
    records, edges = _walk(release, lookup, same_root, owner_of, entitled, notes, limits, history, extra)
    if reached is not None:
        reached.update(records)
        reached.update(extra)
    if walk is not None:
        walk.extend(sorted({*(f"line {m} {_release_key(r)!r}" for m, r in records.items()),
                            *(f"release {m} {_release_key(r)!r}" for m, rs in extra.items() for r in rs),
                            *(f"edge {c} {d.parent} {d.basis}" for c, ds in edges.items() for d in ds)}))
    every = [*records.values(), *(r for rs in extra.values() for r in rs)]
    roots = {_inc._norm(r.weights_root) for r in every if r.weights_root}
    digests = {_inc._norm(d) for r in every for d in r.file_digests.values()}
    ids = set(records)
    items = list(items(ids, roots, digests)) if callable(items) else list(items)
    # Only records that can reach the release are weighed: those naming a line of its ancestry, or a weights
    # root or file digest of a release in it (the server answers every view request: cost follows the
    # ancestry, not the number of incidents in the log). A (id, key) chain counts whole when any record of it
    # is relevant, so the chain's current record is chosen exactly as over all records.
    relevant: set[tuple[str, str]] = set()
    parsed_at: dict[int, _inc.Incident] = {}
    resumed = [(int(idx), str(key), record) for (_, key), (idx, record) in (known or {}).items()]
    for idx, key, record in [*items, *resumed]:
        incident = parsed_cache.get(int(idx)) if parsed_cache is not None else None
        if incident is None:
            try:
                incident = _inc.Incident.from_osv(dict(record), where=str(record.get("id")))
            except _inc.IncidentError as exc:
                if notes is not None:
                    notes.append(f"skipped an unreadable incident record at log index {idx}: {exc.reason}")
                continue
        parsed_at[int(idx)] = incident
        if any(e.model_id in ids or any(_inc._norm(r) in roots for r in e.weights_roots)
               or any(_inc._norm(d) in digests for d in e.file_digests.values()) for e in incident.affected):
            relevant.add((incident.id, str(key)))
    current = current_incidents([(i, o, r) for i, o, r in items
                                 if int(i) in parsed_at and (parsed_at[int(i)].id, str(o)) in relevant],
                                {(i, o): (x, r) for (i, o), (x, r) in (known or {}).items()
                                 if x in parsed_at and (parsed_at[x].id, str(o)) in relevant})
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

    def may_speak(incident: _inc.Incident, candidate: _inc.ModelRecord) -> bool:
        item = where[id(incident)]
        key = str(item["owner"])
        if entitled_at is not None:
            return entitled_at(int(item["index"]), key, candidate.model_id, owner_of(candidate.model_id))
        return entitled(key, candidate.model_id, owner_of(candidate.model_id), "incident")

    hits = _inc.incidents_affecting(release, _Lines(), lambda rec: edges.get(rec.model_id, []), current=True,
                                    may_speak=may_speak, notes=notes, max_ancestors=len(records) + 1,
                                    releases_of=lambda rec: extra.get(rec.model_id, ()))
    # Red team round 9 (E1): incidents_affecting gives one hit per current record, i.e. per (incident id,
    # publisher key), each found by the record's own match, lineage policy and key's entitlement. It once kept
    # one hit per id (the first record by log index, closed ones included) and another key's record under the
    # id counted only when it reached that hit's line: a key's closed record on a deeper ancestor hid a later
    # key's open record on a nearer line from every open_only=False reader (the web page, the client's own check).
    out: list[Affecting] = []
    for hit in hits:
        item = where[id(hit.incident)]
        out.append(Affecting(id=hit.incident.id, index=int(item["index"]), owner=str(item["owner"]),
                             state=hit.incident.state.value, severity=hit.incident.severity,
                             summary=hit.incident.summary, matched=hit.matched_model, match=hit.match,
                             via=" → ".join(d.parent for d in hit.path) if hit.path else "",
                             path=tuple(hit.path)))
    return sorted(out, key=lambda a: (a.index, a.owner))


def _release_key(rec: _inc.ModelRecord) -> tuple[Any, ...]:
    """Which release a record is: (line, log index); a record without an index (a hand-made or empty one)
    by its content, so two reads of the same release are walked once."""
    if rec.index is not None:
        return (rec.model_id, rec.index)
    return (rec.model_id, None, rec.version, rec.weights_root, tuple(sorted(rec.file_digests.items())),
            rec.declared_bases)


class _Pulled:
    """A line's history, pulled from its source only as far as the walk's budget allows (red team round 6,
    D1: the server's source reads each release entry when pulled); what was pulled is kept for the line's
    other citations."""

    def __init__(self, source: Iterable[_inc.ModelRecord]) -> None:
        self._source = iter(source)
        self._got: list[_inc.ModelRecord] = []
        self._done = False

    def each(self, may_pull: Callable[[], bool]) -> Iterator[_inc.ModelRecord]:
        i = 0
        while True:
            if i < len(self._got):
                yield self._got[i]
                i += 1
                continue
            if self._done or not may_pull():
                return
            try:
                self._got.append(next(self._source))
            except StopIteration:
                self._done = True
                return


def _walk(release: _inc.ModelRecord, lookup: Callable[[str], _inc.ModelRecord | None],
          same_root: Callable[[str, str], Iterable[tuple[Any, ...]]] | None,
          owner_of: Callable[[str], str | None], entitled: Entitled, notes: list[str] | None,
          limits: list[str], history: Callable[[str], Iterable[_inc.ModelRecord]] | None = None,
          extra: dict[str, list[_inc.ModelRecord]] | None = None) -> tuple[dict[str, _inc.ModelRecord], dict[str, list[_inc.Derivation]]]:
    """The release's ancestry, breadth first up to ``MAX_DEPTH`` steps: at each step the declared bases of
    the frontier first, then its weights-root links, each with its own budget of ``MAX_ANCESTORS`` lines
    (red team round 3: a flood of one kind of link cannot use up the other's budget). A weights-root link
    counts only when the key that logged the other line's release may speak for the line it links to (its
    publisher key or namespace owner): anyone can *claim* a weights root. Hitting any bound is written to
    ``limits``.

    Red team round 5 (A3, A3b): the walk visits releases, not lines. A declared base stands for every
    release of its line below the view's size (``history``, revoked and superseded included, and since
    round 6 (A4) those logged after the judged release too: what the walk once reached stays reached;
    the one named when the base gives a version), a weights-root link for the specific releases sharing the
    root (``same_root``'s records); each of those releases is put on the frontier and its OWN declared bases
    and weights root are followed, so a base's v2 without bases, or a revocation of v1, cannot cut off the
    ancestors v1 declared. The line's latest live release is walked too (as before). Each release is visited
    once, by (line, log index), at most ``MAX_WALKED_RELEASES`` of them. The returned ``records`` keep one
    record per line (its latest live release) and ``edges`` the union, per line, of the links its visited
    releases have: what ``incidents_affecting`` walks."""
    records: dict[str, _inc.ModelRecord] = {release.model_id: release}
    edges: dict[str, list[_inc.Derivation]] = {}
    edge_seen: set[tuple[str, str, str]] = set()
    budget = {"declared": _inc.MAX_ANCESTORS, "same-weights": _inc.MAX_ANCESTORS}
    walked = [MAX_WALKED_RELEASES]
    skipped = 0
    visited: set[tuple[Any, ...]] = {_release_key(release)}
    in_extra: set[tuple[Any, ...]] = set()
    histories: dict[str, _Pulled] = {}
    roots_done: set[tuple[str, str]] = set()

    def limit(message: str) -> None:
        if message not in limits:
            limits.append(message)

    def edge(child: str, parent: str, basis: str, detail: str) -> None:
        if (child, parent, basis) not in edge_seen:
            edge_seen.add((child, parent, basis))
            edges.setdefault(child, []).append(_inc.Derivation(parent, child, basis, detail=detail))

    def note_extra(line_id: str, rec: _inc.ModelRecord) -> None:
        key = _release_key(rec)
        if extra is not None and key not in in_extra:
            in_extra.add(key)
            extra.setdefault(line_id, []).append(rec)

    over = (f"more than {MAX_WALKED_RELEASES} releases in the ancestry of {release.model_id}: "
            "the list of affecting incidents is incomplete")

    def may_pull() -> bool:
        """Whether the walk may read one more release of a history (red team round 6, D1: nothing is read
        once the budget is spent; the list is then incomplete, even where nothing unvisited was left)."""
        if walked[0] > 0:
            return True
        limit(over)
        return False

    def visit(rec: _inc.ModelRecord, following: list[_inc.ModelRecord]) -> None:
        key = _release_key(rec)
        if key in visited:
            return
        if walked[0] <= 0:
            limit(over)
            return
        walked[0] -= 1
        visited.add(key)
        following.append(rec)

    def admit(parent: str, kind: str, following: list[_inc.ModelRecord]) -> bool:
        """The line enters the ancestry (its latest live release on the walk); False: over budget."""
        if parent in records:
            return True
        if budget[kind] <= 0:
            limit(f"more than {_inc.MAX_ANCESTORS} {kind} ancestors of {release.model_id}: "
                  "the list of affecting incidents is incomplete")
            return False
        budget[kind] -= 1
        found = lookup(parent) or _inc.ModelRecord(model_id=parent)
        records[parent] = found
        visit(found, following)
        return True

    too_deep = (f"the ancestry of {release.model_id} is deeper than {_inc.MAX_DEPTH} steps: "
                "the list of affecting incidents is incomplete")
    frontier = [release]
    for depth in range(_inc.MAX_DEPTH + 1):
        if not frontier:
            break
        following: list[_inc.ModelRecord] = []
        linked: list[tuple[_inc.ModelRecord, str, _inc.ModelRecord | None]] = []
        for rec in frontier:
            for base in rec.declared_bases:
                parent, version = _inc.split_release(base)
                if parent == rec.model_id:
                    continue
                if depth == _inc.MAX_DEPTH:
                    limit(too_deep)
                    return records, edges
                edge(rec.model_id, base, "declared", "declared base model of the release")
                if not admit(parent, "declared", following) or history is None:
                    continue
                if parent not in histories:
                    histories[parent] = _Pulled(history(parent))
                for old in histories[parent].each(may_pull):
                    if version is None or str(old.version) == str(version):
                        note_extra(parent, old)
                        visit(old, following)
        for rec in frontier:
            if not rec.weights_root or same_root is None or (rec.weights_root, rec.model_id) in roots_done:
                continue
            roots_done.add((rec.weights_root, rec.model_id))
            for found in same_root(rec.weights_root, rec.model_id):
                other, key = str(found[0]), str(found[1])
                if other == rec.model_id:
                    continue
                if not entitled(key, rec.model_id, owner_of(rec.model_id), "link"):
                    skipped += 1
                    continue
                specific = found[2] if len(found) > 2 and found[2] is not None else None
                if specific is not None:
                    note_extra(other, specific)  # the release sharing the root, whatever its state
                linked.append((rec, other, specific))
        for rec, other, specific in linked:
            if depth == _inc.MAX_DEPTH and (other not in records or
                                            (specific is not None and _release_key(specific) not in visited)):
                limit(too_deep)
                return records, edges
            edge(rec.model_id, other, "same-weights", f"identical weights root {str(rec.weights_root)[:16]}…")
            if admit(other, "same-weights", following) and specific is not None:
                visit(specific, following)
        frontier = following
    if skipped and notes is not None:
        notes.append(f"{skipped} release(s) of other lines claim a weights root of {release.model_id}'s ancestry "
                     "under keys that may not speak for it: not followed (a weights root is a claim, not a proof)")
    return records, edges
