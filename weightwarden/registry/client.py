"""The registry client: publish signed entries, and check whether a model is the current, unrevoked,
unchanged release — believing nothing the server says that the log does not prove.

Use::

    client = RegistryClient("http://127.0.0.1:8470", state_dir="~/.weightwarden/registry")
    client.publish_release("model.sig", model="acme/smol", key=publisher_key)
    result = client.check("path/to/model", bundle="path/to/model/model.sig")
    result.current, result.reasons

Trust: the client pins the log's verifier key (``--log-key``, or trust on first use, said loudly) and the
key of its signed freshness views in its state directory, with the last checkpoint it verified. Every
checkpoint must be signed by the pinned key and consistent with the remembered one (a smaller tree, or a
proof that does not verify, is refused and the evidence is printable as a split-view proof); with
``witnesses`` and ``quorum`` it must also carry cosignatures of that many trusted witnesses.

:meth:`RegistryClient.check`:

1. verifies the latest checkpoint (above);
2. finds EVERY release matching the bundle digest (``--bundle``) or the root digest of the files at PATH
   (in the entries themselves up to ``full_scan_max``, else from the registry's lookup with an inclusion
   proof each); several model lines without ``--model`` → "ambiguous", not current;
3. re-hashes PATH with the release's serialization: a different root digest = modified since publication;
4. verifies the signed current-release view (expiry, rollback per log, via
   ``weightwarden.registry.freshness``), which names the tree it was made at: a view ahead of the
   checkpoint needs a newer consistent checkpoint (else the log is frozen), and its tree must be a prefix of
   the verified one;
5. derives the model line from entries it verified: for a log of at most ``full_scan_max`` entries from
   every entry bundle, root recomputed; for a bigger log from every entry the index lists and the view
   names, each proven; the line as of the view's tree must state the view's facts (status, latest release,
   revocations, open incidents, entry count and digest), and the view's own verdict binds;
6. looks for incidents on the release and, through declared lineage, its ancestors (``incidents``), records
   keyed by (incident id, publisher key) over the union of those lines; any matching release of the line
   that is revoked or incident-affected makes the answer "not current".

The client's saved state obeys one invariant (red team round 20): a check that is not a complete, verified
judgement (a bound hit, anything unverified, the index mode) may only ADD to it (revocations, incidents it saw open
as ``held``, entry lists it read whole); only a complete verified judgement (mode full or delta, no bound) may close
or replace a remembered fact, and only by a record proven to continue the remembered one (the rule of
``views.current_incidents`` with ``known``). A ``closed`` marker is a chain start only when it checks out against the
record it closed (``closed_from``); a newer complete judgement that re-proves a fact open overrides an older marker,
in the state and in the merge of two processes' states.

Red team round 21: a delta judges every incident chain from the chain's own current record, never from the first of
its records the delta happens to read. The state's chain table (``chains``: every (publisher key, incident id) chain
of the log with the index of its current record by the full rule, as of ``upto``) is written by each full scan from
every entry and carried forward by each delta over every entry since (``_delta_heads``); a delta resumes each chain it
meets from the table's record (read and proven), and a chain it cannot anchor (no table reaching its start) makes the
release unverified. The table is derived from entries read whole, like the scan mark (not from a judgement).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.core import strict_json
from weightwarden.core.errors import InputError, WeightwardenError
from weightwarden.core.merkle import leaf_hash
from weightwarden.core.state_file import StateFile, StateFileError
from weightwarden.registry import entries as _entries
from weightwarden.registry.auth import HEADER_KEY, logged_request_problem, sign_request

CHECK_SCHEMA = "weightwarden.registry.check/v1"
STATE_SCHEMA = "weightwarden.registry.client-state/v1"
MAX_STATE_BYTES = 16 * 1024 * 1024  # checkpoints of the logs a client follows: a few KiB each
FULL_SCAN_MAX = 20_000
# The cap on one JSON or text answer (checkpoints, proofs, entries, views, indexes): see the table of client
# caps against what the server can legitimately make in docs/decisions.md (red team round 14 on the registry).
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
# Red team round 14 (D3): no client bound may be lower than what the server lets one key make valid. An entry
# bundle is read up to the largest valid bundle of its width (tiles.bundle_cap: 256 x (2 + 65,535) bytes for a
# full one, ~16.8 MB), derived from the same constants the server's entry limit uses; and the full scan as a
# whole reads at most FULL_SCAN_BUDGET_BYTES, past which the client switches to the index mode (each entry it
# uses proven) with a note naming the tile and the key that filled it: never an error for a valid log.
FULL_SCAN_BUDGET_BYTES = 128 * 1024 * 1024
OPEN_INCIDENT_STATES = ("reported", "confirmed")
MAX_CANDIDATES = 16  # releases with the same files' digest that are looked at (each costs a proof)
# With a witness quorum, the cosignatures relied on must be this recent: a checkpoint the witnesses signed
# long ago says nothing about what the log holds now (witnesses cosign the same size again as time passes).
MAX_WITNESS_AGE_S = 24 * 3600.0
VIEW_FETCHES = 3  # a view older than the verified checkpoint is fetched again this many times in all
# Red team round 18 (R18-2): a check whose signed view is of a newer tree is judged again there, at most this many
# times in all (each time everything is derived at the new tree); a tree that keeps moving is an error.
JUDGE_ATTEMPTS = 3
MAX_LINEAGE_DEPTH = 8  # declared ancestors the client walks itself (breadth first, each line once)
MAX_LINEAGE_LINES = 64
# Index mode (red team round 15, D2): a line's indexes are read in pages of LINE_PAGE; a declared base line of
# more than MAX_BASE_ENTRIES entries is "not fully checked" (a verdict naming it), the judged line's own bound is
# MAX_LINE_ENTRIES (its owner's doing: an error); a bundle holding BULK_MIN or more wanted entries is read and
# proven whole instead of two requests per entry.
LINE_PAGE = 1000
MAX_BASE_ENTRIES = 4096
MAX_LINE_ENTRIES = 100_000
BULK_MIN = 4
# Line facts remembered per log (red team round 15, F1c): lines, and revocations / open incidents per line.
MAX_FACT_LINES = 256
MAX_FACTS = 256
# Red team round 16 (F1a): the log indexes of each remembered line's entries (releases, revocations,
# supersessions, incidents; not audits) that this client proved by reading every entry up to the line's
# ``upto`` tree size; read again in the index mode whatever the registry's index says. Bounded per line (a line
# whose owner logged more is judged unverified in the index mode, said in a note).
MAX_EVENTS = 2048
# The entries after a client's last full scan are read whole under bounds of their own, generous ones: they are
# what this client has not seen, and an operator padding the log past them only gets the unverified answer.
DELTA_MAX = 5 * FULL_SCAN_MAX
# Red team round 17 (F2, F3): what a release's incident walk visited at its last verified judgement is remembered as
# a digest (``facts[line].walk[bundle]``); this value stands for a walk the client could not remember whole (more
# linked lines than MAX_LINEAGE_LINES, more open incidents than MAX_FACTS): a delta then never calls it verified.
INCOMPLETE_WALK = "incomplete"
DELTA_BUDGET_BYTES = 4 * FULL_SCAN_BUDGET_BYTES
# Red team round 21: every incident chain of the log (publisher key, incident id) with the log index of its current
# record by the full rule (``views.current_incidents``), as of the tree size ``upto``: written by each full scan and
# carried forward by each delta (which reads every entry since), so a delta judges every chain it meets from the
# chain's true current record, never from the first of its records it happens to read. Bounded: past MAX_CHAINS
# chains the table is dropped and a delta that meets a chain it cannot anchor is unverified.
MAX_CHAINS = 32_768
# Red team round 22: checkpoints another client process saved into the shared state that this one has not proven
# consistent with its own tree ("pending"); past this many the save is refused (fail closed, never forgotten).
MAX_PENDING = 64


class RegistryClientError(WeightwardenError):
    """The registry could not be used or proved something wrong (bad signature, inconsistent tree...)."""


class RegistryRefused(RegistryClientError):
    """The registry answered a write with an error status; ``status`` and ``reason`` are its answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"the registry refused the request ({status}): {reason}")
        self.status = status


@dataclass(frozen=True)
class Published:
    index: int
    tree_size: int
    checkpoint: bytes


@dataclass(frozen=True)
class CheckResult:
    """The verdict of :meth:`RegistryClient.check` (``weightwarden.registry.check/v1``)."""

    current: bool
    model: str | None
    version: int | None
    index: int | None
    bundle: str | None
    tree_size: int
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    incidents: tuple[dict[str, Any], ...] = ()
    # "full": judged from every entry of the log; "delta": from every entry after this client's last full scan
    # plus each line's entries it proved up to there (red team round 16); "index": from the registry's index and
    # signed view, each entry used proven: the line's facts are the operator's word (NOT independently verified:
    # an entry the index and the signed view both leave out is not seen).
    mode: str = "full"

    @property
    def verified(self) -> bool:
        """The verdict rests on entries this client read and proved itself, and is the one a full scan of the same
        log would give (round 16, F1b). A full scan; or a delta (every entry since this client's last full scan)
        that, since red team round 17, is "delta" only when it can show it judged what a full scan judges: the
        releases weighed come from the line's proven entries (never from the unsigned ``/releases`` lookup), every
        line the release's incident walk reached at its last full judgement was remembered (no bound cut it) and
        read again, and the walk itself (its releases, links and each line's latest release) is unchanged since
        then. Anything else is judged as the index mode is (``mode`` "index": not verified, exit 3 for
        "current")."""
        return self.mode in ("full", "delta")

    def to_dict(self) -> dict[str, Any]:
        return {"schema": CHECK_SCHEMA, "current": self.current, "model": self.model, "version": self.version,
                "log_index": self.index, "bundle": self.bundle, "tree_size": self.tree_size, "mode": self.mode,
                "verified": self.verified,
                "reasons": list(self.reasons), "notes": list(self.notes), "incidents": list(self.incidents)}


@dataclass
class _State:
    """The client's memory (log keys trusted on first use, last verified checkpoints), one state file
    (core.state_file: bounded strict read, no link, locked read-modify-write, atomic replace)."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    # Red team round 22: the checkpoint notes this process proved to be a prefix of its tree (never saved): a merge
    # needs no later proof for them. Red team round 24: as PAIRS (prefix note, the note of the tree it was proven a
    # prefix of). A bare note meant "a prefix of SOME tree this process verified", so once a process verified one
    # tree, every later tree it verified (a newer head, the --quorum head, a re-judge) skipped every proof, and the
    # merge dropped the honest tree for good: a proof is reused only for the pair it proved.
    proven: set[tuple[str, str]] = field(default_factory=set)
    # Red team round 23: the state as this process last read or wrote it, and, after a save, the lines (per log key)
    # whose facts another process changed on disk since then: a verdict that read them is judged again.
    synced: dict[str, Any] = field(default_factory=dict)
    foreign: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.synced = copy.deepcopy(self.data)

    @staticmethod
    def _file(path: Path) -> StateFile:
        return StateFile(path, "registry client state", STATE_SCHEMA, "logs", MAX_STATE_BYTES,
                         validate=_valid_state)

    @classmethod
    def load(cls, path: Path) -> _State:
        # Read in RegistryClient() before any network (red team round 7 on indicators: a FIFO here hung for ever,
        # a link to /dev/zero was MemoryError); where save() could not write (a device folder), refuse now,
        # before anything is sent to a registry.
        state_file = cls._file(path)
        try:
            state_file.check_writable()
            return cls(path, state_file.read())
        except StateFileError as exc:
            raise RegistryClientError(f"{exc}; refusing to forget the last verified checkpoint (fix or remove the "
                                      "file)") from None

    def save(self) -> None:
        """Write the state under the file's lock, merged with what another client process may have written since
        this one loaded it (red team round 2: concurrent checks could roll the remembered checkpoint back): for
        each log key the bigger remembered checkpoint wins."""
        state_file = self._file(self.path)
        try:
            with state_file.locked():
                try:
                    disk = state_file.read()
                except StateFileError as exc:
                    # Red team round 23: this process's memory replaced an unreadable file, silently dropping the
                    # checkpoints and facts every other process had saved there. Fail closed instead.
                    raise RegistryClientError(f"{exc}; the shared client state cannot be read back, and writing "
                                              "this process's memory over it would forget what other client "
                                              "processes verified (refusing: fix or remove the file)") from None
                merged = _merge_state(disk, self.data, self.proven)
                state_file.write(merged)
                self.foreign = _changed_lines(self.synced, disk)
                self.data = merged
                self.synced = copy.deepcopy(merged)
        except StateFileError as exc:
            raise RegistryClientError(str(exc)) from None


def _changed_lines(before: dict[str, Any], after: dict[str, Any]) -> dict[str, set[str]]:
    """Per log key, the lines whose facts differ between two states of the file (the recency stamp ``at`` aside):
    what another client process changed since this one last read or wrote it (red team round 23)."""
    out: dict[str, set[str]] = {}
    for vkey, entry in after.get("keys", {}).items():
        then = before.get("keys", {}).get(vkey, {}).get("facts", {})
        now = entry.get("facts", {})
        changed = {m for m in {*then, *now}
                   if {k: v for k, v in then.get(m, {}).items() if k != "at"}
                   != {k: v for k, v in now.get(m, {}).items() if k != "at"}}
        if changed:
            out[vkey] = changed
    return out


def _valid_state(doc: dict[str, Any]) -> str | None:
    """Every nested value of a client state file has the type the client reads (red team round 10, G1: a list
    where an object belongs was an internal error): a per-URL entry ``{"vkey", "origin"}`` (a file from before
    round 2 also kept the checkpoints and view key there) and, per log key, the remembered checkpoints and
    the trusted view key, all strings."""
    from weightwarden.core.state_file import check_fields

    def text(v: Any) -> bool:
        return isinstance(v, str)

    problem = check_fields("the state", doc, {"schema": text, "logs": lambda v: isinstance(v, dict),
                                              "keys": lambda v: isinstance(v, dict)})
    if problem:
        return problem
    memory = {"checkpoint": text, "checkpoint_witnessed": text, "view_key": text, "scan": _valid_scan,
              "facts": _valid_facts, "chains": _valid_chains,
              "pending": lambda v: isinstance(v, list) and len(v) <= MAX_PENDING and all(map(text, v))}
    for url, entry in doc["logs"].items():
        problem = check_fields(f"logs[{url[:80]!r}]", entry, {"vkey": text, "origin": text, **memory}, ("vkey",))
        if problem:
            return problem
    for vkey, entry in doc.get("keys", {}).items():
        problem = check_fields(f"keys[{vkey[:80]!r}]", entry, memory)
        if problem:
            return problem
    return None


def _count(v: Any) -> bool:
    return type(v) is int and 0 <= v < 2**63


def _valid_scan(v: Any) -> bool:
    return isinstance(v, dict) and set(v) <= {"size", "bytes", "budget"} and all(_count(x) for x in v.values())


def _valid_chains(v: Any) -> bool:
    """``{"upto": size, "heads": {chain: index}}`` (red team round 21): ``chain`` is ``_chain_id`` of a (publisher
    key, incident id) chain, ``index`` the log index of its current record as of ``upto``."""
    return (isinstance(v, dict) and set(v) == {"upto", "heads"} and _count(v["upto"]) and isinstance(v["heads"], dict)
            and all(isinstance(k, str) and _count(x) for k, x in v["heads"].items()))


def _chain_id(key: Any, incident_id: Any) -> str:
    """The state's name of a (publisher key, incident id) chain in the chain table (red team round 21): a digest,
    so the table stays small whatever the ids; a record looked up under it is checked to be of that chain (a
    collision is a refusal, never a wrong chain)."""
    return hashlib.sha256(f"{key}|{incident_id}".encode()).hexdigest()[:32]


def _valid_facts(v: Any) -> bool:
    """``{line: {"revoked": {bundle: index}, "open": {bundle: {fact: index}}, "closed": {bundle: {fact: index}},
    "closed_from": {bundle: {fact: index}}, "held": {bundle: {fact: index}},
    "via": {fact: line}, "events": [index, ...], "upto": size, "at": time, "checked": {bundle: size},
    "reach": [line, ...], "walk": {bundle: digest}, "sole": {match: size}}}``; a fact is
    ``"<publisher key id>|<incident id>"`` (round 16, F2; a bare incident id is a fact from round 15).
    ``closed_from`` (red team round 20): the index of the remembered open record each ``closed`` marker closed (a
    marker without it was written before round 20 and is never a chain start); ``held``: incidents a check that was
    not a complete verified judgement saw open (they block the index mode; never a chain start, never closing)."""
    def indexes(d: Any) -> bool:
        return isinstance(d, dict) and all(isinstance(k, str) and _count(x) for k, x in d.items())

    def nested(d: Any) -> bool:
        return isinstance(d, dict) and all(indexes(x) for x in d.values())

    return isinstance(v, dict) and all(
        isinstance(line, dict)
        and set(line) <= {"revoked", "open", "closed", "closed_from", "held", "via", "events", "upto", "at",
                          "checked", "reach", "walk", "sole"}
        and indexes(line.get("checked", {})) and isinstance(line.get("reach", []), list)
        and indexes(line.get("sole", {})) and isinstance(line.get("walk", {}), dict)
        and all(isinstance(k, str) and isinstance(x, str) for k, x in line.get("walk", {}).items())
        and all(isinstance(m, str) for m in line.get("reach", []))
        and indexes(line.get("revoked", {})) and nested(line.get("open", {})) and nested(line.get("closed", {}))
        and nested(line.get("closed_from", {})) and nested(line.get("held", {}))
        and isinstance(line.get("via", {}), dict) and all(isinstance(x, str) for x in line.get("via", {}).values())
        and isinstance(line.get("events", []), list) and all(_count(x) for x in line.get("events", []))
        and _count(line.get("upto", 0)) and _count(line.get("at", 0))
        for line in v.values())


def _fact(key: Any, incident_id: Any) -> str:
    """The identity of a remembered open incident: its (publisher key, incident id) chain (red team round 16, F2:
    keyed by the id alone, another publisher's same-id record closed it), the rule the verdict uses since round 9."""
    return f"{key}|{incident_id}"


def _unfact(fact: str) -> tuple[str | None, str]:
    key, sep, incident_id = fact.partition("|")
    return (key, incident_id) if sep else (None, fact)  # a round-15 fact: the key is unknown


def _note_size(note: Any) -> int:
    from weightwarden.registry.wire import strict_decimal

    lines = str(note).split("\n")
    size = strict_decimal(lines[1]) if len(lines) > 1 else None
    return -1 if size is None else size


def _merge_state(disk: dict[str, Any], mine: dict[str, Any],
                 proven: Collection[tuple[str, str]] = ()) -> dict[str, Any]:
    """Two processes' states of one state file, merged (red team round 2).

    Red team round 22: the two sides' facts, scan marks and chain tables were derived at their own checkpoints, and
    nothing proves those two trees consistent offline (a fork shown to each process: the union kept facts proven on
    one branch under the other branch's checkpoint, and a same-size split view was dropped). The facts are still
    merged as before, but every checkpoint note the merge does not keep in a slot, unless this process proved it a
    prefix of a note the merge keeps in a slot (``proven``: (prefix, tree) pairs, red team round 24), is kept under
    ``pending``; no merged fact is used before the client proves
    every pending note and slot consistent with the tree it verifies (``RegistryClient._check_memory``: right after the
    save that merged, and on the next check before any fact is read). An inconsistent one is the split-view
    refusal, with its proof."""
    out = {"schema": STATE_SCHEMA, "logs": {**disk.get("logs", {}), **mine.get("logs", {})},
           "keys": dict(disk.get("keys", {}))}
    for vkey, entry in mine.get("keys", {}).items():
        theirs = out["keys"].get(vkey, {})
        merged = {**theirs, **entry}
        if theirs.get("view_key"):
            merged["view_key"] = theirs["view_key"]  # the first trusted view key stays
        for slot in ("checkpoint", "checkpoint_witnessed"):
            if _note_size(theirs.get(slot)) > _note_size(entry.get(slot)):
                merged[slot] = theirs[slot]
        facts = _merge_facts(theirs.get("facts", {}), entry.get("facts", {}))
        if facts:
            merged["facts"] = facts
        if int(theirs.get("scan", {}).get("size", -1)) > int(entry.get("scan", {}).get("size", -1)):
            merged["scan"] = theirs["scan"]
        # Red team round 21: each chain table is complete up to its own ``upto`` (derived from proven entries of the
        # same log); the bigger one is the more useful, and a delta uses one only if it reaches its start.
        if int(theirs.get("chains", {}).get("upto", -1)) > int(entry.get("chains", {}).get("upto", -1)):
            merged["chains"] = theirs["chains"]
        kept = {merged.get(slot) for slot in ("checkpoint", "checkpoint_witnessed")} - {None}
        pending: list[str] = []
        for side in (theirs, entry):
            for note in [side.get("checkpoint"), side.get("checkpoint_witnessed"), *side.get("pending", [])]:
                # Red team round 24: dropped only when proven a prefix of a note kept in a slot (every later tree is
                # proven consistent with that note, so with this one too). This process's own tree that lost its
                # slot is such a note only if proven a prefix of the winner; a note proven against an earlier tree
                # of this process is not (the round-23 merge dropped the honest tree that way).
                if (note and note not in kept and note not in pending
                        and not any((note, k) in proven for k in kept)):
                    pending.append(note)
        merged.pop("pending", None)
        if pending:
            if len(pending) > MAX_PENDING:
                raise RegistryClientError(
                    f"the shared client state holds more than {MAX_PENDING} checkpoints other client processes "
                    "saved and none proved consistent (refusing to forget any: check once with one process)")
            merged["pending"] = pending
        out["keys"][vkey] = merged
    return out


def _merge_facts(theirs: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    """Line facts of two processes, merged as a union. A revocation or a proven entry index is never forgotten.
    Open incidents (red team round 16): a union per release too, and a fact leaves only when a process proved its
    chain closed (the ``closed`` marker, the closing record's index, kept with it): "this process's word wins"
    let a stale process that proved an old incident closed wipe one another process had just proved open. The
    bigger ``upto`` wins with its event list (a superset, as both are complete up to their own ``upto``).

    Red team round 20: facts merge by chain proof, not by index order alone. A marker closes an open fact of a
    lower index, EXCEPT where the side holding the fact open judged the release completely at a bigger tree
    (``checked``) than the side holding the marker: that newer complete judgement re-proved the chain open (a
    marker written from a fork, by a client before round 20, was kept over the full scan that re-proved the
    incident open, for ever); the stale marker then goes. ``held`` facts (seen open by an unverified check) are a
    union: only a complete judgement discharges them, never a merge."""
    out: dict[str, Any] = {}
    for m in {*theirs, *mine}:
        a, b = theirs.get(m, {}), mine.get(m, {})
        line: dict[str, Any] = {"revoked": {**a.get("revoked", {}), **b.get("revoked", {})},
                                "via": {**a.get("via", {}), **b.get("via", {})}, "open": {}, "closed": {},
                                "closed_from": {}, "held": {}}
        marker_side: dict[tuple[str, str], dict[str, Any]] = {}
        for side in (a, b):
            for bundle, gone in side.get("closed", {}).items():
                mark = line["closed"].setdefault(bundle, {})
                for fact, at in gone.items():
                    if at > mark.get(fact, -1):
                        mark[fact] = at
                        marker_side[(bundle, fact)] = side
                        origin = side.get("closed_from", {}).get(bundle, {}).get(fact)
                        line["closed_from"].setdefault(bundle, {}).pop(fact, None)
                        if origin is not None:
                            line["closed_from"][bundle][fact] = origin

        def proof(side: dict[str, Any], bundle: str) -> int:
            return int(side.get("checked", {}).get(bundle, -1))

        for side in (a, b):
            other = b if side is a else a
            for bundle, facts in side.get("open", {}).items():
                mine_open = line["open"].setdefault(bundle, {})
                for fact, at in facts.items():
                    holder = marker_side.get((bundle, fact))
                    newer = holder is not None and holder is not side and proof(side, bundle) > proof(other, bundle) \
                        and fact not in side.get("closed", {}).get(bundle, {})
                    if newer:  # re-proved open by a complete judgement at a bigger tree: the marker is stale
                        line["closed"][bundle].pop(fact, None)
                        line["closed_from"].get(bundle, {}).pop(fact, None)
                    if line["closed"].get(bundle, {}).get(fact, -1) < at:
                        mine_open[fact] = max(at, mine_open.get(fact, -1))
            for bundle, facts in side.get("held", {}).items():
                held = line["held"].setdefault(bundle, {})
                for fact, at in facts.items():
                    held[fact] = max(at, held.get(fact, -1))
        for bundle, facts in line["open"].items():  # a held fact proven open is an open fact
            for fact in facts:
                line["held"].get(bundle, {}).pop(fact, None)
        for key in ("open", "closed", "closed_from", "held"):
            line[key] = {k: v for k, v in line[key].items() if v}
            if not line[key] and key in ("closed_from", "held"):
                del line[key]
        upto_a, upto_b = int(a.get("upto", 0)), int(b.get("upto", 0))
        best = a if upto_a > upto_b else b
        if "upto" in best:
            line["upto"] = int(best["upto"])
            events = sorted(set(best.get("events", [])) | {
                i for i in (b if best is a else a).get("events", []) if i < int(best["upto"])})
            line["events"] = events[:MAX_EVENTS]
            if len(events) > MAX_EVENTS:
                line["upto"] = 0  # no longer complete: the line is judged unverified in the index mode
        line["at"] = max(int(a.get("at", 0)), int(b.get("at", 0)))
        checked = {k: max(int(v), int(b.get("checked", {}).get(k, 0))) for k, v in a.get("checked", {}).items()}
        checked.update({k: v for k, v in b.get("checked", {}).items() if k not in checked})
        if checked:
            line["checked"] = checked
        # Red team round 17 (F3): a release's walk goes with its mark (the judgement at that size); two processes
        # that judged it at the same size from the same log walked the same, so a difference there fails closed.
        walk: dict[str, str] = {}
        for bundle in {*a.get("walk", {}), *b.get("walk", {})}:
            wa, wb = a.get("walk", {}).get(bundle), b.get("walk", {}).get(bundle)
            ma, mb = int(a.get("checked", {}).get(bundle, -1)), int(b.get("checked", {}).get(bundle, -1))
            chosen = wa if ma > mb else wb if mb > ma else (wa if wa == wb else None)
            walk[bundle] = str(chosen) if chosen is not None else INCOMPLETE_WALK
        if walk:
            line["walk"] = walk
        sole = {k: max(int(v), int(b.get("sole", {}).get(k, 0))) for k, v in a.get("sole", {}).items()}
        sole.update({k: int(v) for k, v in b.get("sole", {}).items() if k not in sole})
        if sole:
            line["sole"] = sole
        reach = sorted(set(a.get("reach", [])) | set(b.get("reach", [])))
        if len(reach) > MAX_LINEAGE_LINES:  # red team round 17 (F2): a cut reach is never read as a whole one
            reach = reach[:MAX_LINEAGE_LINES]
            line["walk"] = dict.fromkeys(line.get("walk", {}), INCOMPLETE_WALK)
        if reach:
            line["reach"] = reach
        out[m] = line
    if len(out) > MAX_FACT_LINES:  # least recently checked lines go first
        keep = sorted(out, key=lambda m: (int(out[m].get("at", 0)), m in mine), reverse=True)[:MAX_FACT_LINES]
        out = {m: out[m] for m in keep}
    return out


def _is_ed25519_pem(text: Any) -> bool:
    """``text`` is an ASCII PEM of an Ed25519 public key (what a freshness-view key must be)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(text, str) or not text.isascii() or len(text) > 4096:
        return False
    try:
        return isinstance(serialization.load_pem_public_key(text.encode("ascii")), Ed25519PublicKey)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def default_state_dir() -> Path:
    return Path(os.environ.get("WW_REGISTRY_STATE") or Path.home() / ".weightwarden" / "registry")


class RegistryClient:
    def __init__(self, url: str, *, state_dir: str | os.PathLike[str] | None = None, log_key: str | None = None,
                 witnesses: Sequence[str] = (), quorum: int = 0, timeout: float = 30.0,
                 full_scan_max: int = FULL_SCAN_MAX, transport: Any = None,
                 max_witness_age_s: float | None = MAX_WITNESS_AGE_S,
                 full_scan_budget: int = FULL_SCAN_BUDGET_BYTES, base_budget: int = FULL_SCAN_BUDGET_BYTES,
                 delta_max: int = DELTA_MAX, delta_budget: int = DELTA_BUDGET_BYTES) -> None:
        import httpx

        from weightwarden.registry.note import NoteError, NoteVerifier

        self.url = url.rstrip("/")
        self.state = _State.load(Path(state_dir or default_state_dir()).expanduser() / "state.json")
        self.seen_path = Path(state_dir or default_state_dir()).expanduser() / "seen.json"
        self.full_scan_max = full_scan_max
        self.full_scan_budget = full_scan_budget
        self.base_budget = base_budget  # proven bytes of declared base lines the index mode reads per check
        # Red team round 16 (F1a): the entries after this client's last full scan are read whole under their own
        # bounds (entries, proven bytes), whatever full_scan_max says: they are what this client has not seen.
        self.delta_max = delta_max
        self.delta_budget = delta_budget
        self._scan_over: int | None = None  # a tree size whose full scan ran over the byte budget
        self._index_why: str | None = None  # why the last tree judged was judged in the index mode
        self._reader: tuple[tuple[int, bytes], Any] | None = None  # the authenticated tile reader of one tree
        self._index_bytes = 0  # proven bytes of declared bases the index mode read (red team round 15, D2)
        self._lookup_reasons: list[str] = []  # a lookup bound hit in the index mode (red team round 15, D1)
        # (bundle, fact) remembered open -> (the remembered record's index, the index of the record proven to
        # continue it and close the chain): applied only by a complete verified judgement (red team round 20)
        self._closed: dict[tuple[str, str], tuple[int, int]] = {}
        # (line, bundle) -> (facts this judgement proved open: index, facts it proved closed: (from, closing index)),
        # written to the state by _keep_facts only when the judgement is complete and verified (red team round 20)
        self._proofs: dict[tuple[str, str], tuple[dict[str, int], dict[str, tuple[int, int]]]] = {}
        # Red team round 16 (F1a): the entries after the last full scan (size N), read whole and proven, kept as the
        # log indexes of each line (the entries a check uses are proven again when read); None when there was no
        # earlier scan or the delta is over its own bounds.
        # (tree size, N, line -> its log indexes in N..size-1, line -> those that are not audits)
        self._delta: tuple[int, int, dict[str, list[int]], dict[str, set[int]]] | None = None
        self._delta_tried: int | None = None
        self._delta_bytes = 0
        self._unverified: set[str] = set()  # lines judged from the registry's index alone in this check
        # (line, bundle, (tree size of its matches, of its line's view)) of the releases this check judged
        self._judged: list[tuple[str, str, tuple[int, int]]] = []
        self._reached: set[str] = set()  # lines the affecting walk reached (remembered after a full scan)
        self._delta_kept: dict[int, dict[str, Any]] = {}  # the delta's entries other than audits, by log index
        # Red team round 21: the chain table carried to the delta's tree (``_delta_heads``): (tree size, chain ->
        # index of its current record, or None where the delta cannot anchor its chains), and the records read for it
        self._heads: tuple[int, dict[str, int] | None] | None = None
        self._head_records: dict[int, dict[str, Any]] = {}  # proven entries, by log index
        self._lines_read: set[str] = set()  # lines whose facts this check keeps
        # Red team round 17: the digest of each judged release's incident walk ((line, bundle) -> digest, or
        # INCOMPLETE_WALK), what the release was matched by (bundle digest or files' root; the bundle's signed
        # fields), and the (line, match key) of a check without --model whose matches were all of one line.
        self._walks: dict[tuple[str, str], str] = {}
        self._walk_at: dict[tuple[str, str], int] = {}  # the tree size each walk was made at (red team round 18)
        self._found_at = 0  # the tree size this check's matches were found at (red team round 18)
        self._match: tuple[str | None, str | None, dict[str, Any] | None] = (None, None, None)
        self._sole: tuple[str, str, int] | None = None  # (line, match key, tree size of the matches)
        self.max_witness_age_s = max_witness_age_s
        self._scan_cache: tuple[int, list[dict[str, Any]]] | None = None
        # (key id, nonce, timestamp) -> the log index that carries that signed request (red team round 11, D1)
        self._requests: dict[tuple[str, str, int], int] = {}
        self._floor: tuple[int, str] | None = None  # a remembered tree the witnessed one trails (round 11, R1)
        self._foreign_lines: set[str] = set()  # lines read whose facts another process saved meanwhile (round 23)
        # (tree size, root) -> (its note, its slot) for every tree this process verified (red team round 24); the
        # proven prefix pairs (round 23's ``_prefixes`` among them) are ``self.state.proven``.
        self._tree_notes: dict[tuple[int, bytes], tuple[bytes, str]] = {}
        self._bundle_mismatch: list[str] = []
        self.notes: list[str] = []
        kwargs: dict[str, Any] = {"base_url": self.url, "timeout": timeout, "follow_redirects": False}
        if transport is not None:
            kwargs["transport"] = transport
        self.http = httpx.Client(**kwargs)
        try:
            from weightwarden.registry.witness import cosignature_verifier

            self.witnesses = [cosignature_verifier(w) for w in witnesses]
            pinned = NoteVerifier.from_vkey(log_key) if log_key else None
        except NoteError as exc:
            raise RegistryClientError(f"bad verifier key: {exc.reason}") from None
        if quorum > len(self.witnesses):
            raise RegistryClientError(f"a quorum of {quorum} needs at least that many witness keys")
        self.quorum = quorum
        self._pinned = pinned
        self._log: dict[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------------
    # HTTP

    def _get(self, path: str, *, cap: int = MAX_RESPONSE_BYTES, **params: Any) -> bytes:
        import httpx

        from weightwarden.registry.wire import AnswerTooLarge, read_capped

        try:  # streamed with a cap: a hostile registry cannot make the client hold an endless answer
            with self.http.stream("GET", path, params=params or None) as response:
                body = read_capped(response, cap, path)
                status = response.status_code
        except AnswerTooLarge as exc:
            raise RegistryClientError(exc.reason) from None
        except httpx.HTTPError as exc:
            raise RegistryClientError(f"cannot reach the registry at {self.url}: {exc}") from None
        if status == 404:
            raise _NotFound(path)
        if status != 200:
            try:
                reason = str(strict_json.loads(bytes(body)).get("error"))[:500]
            except (ValueError, AttributeError):
                reason = bytes(body[:200]).decode("utf-8", "replace")
            raise RegistryClientError(f"{path}: the registry answered {status}: {reason}")
        return bytes(body)

    def _get_json(self, path: str, expect: type = dict, **params: Any) -> Any:
        """The registry's JSON answer at ``path``, parsed strictly (depth, duplicate keys) and of the
        expected type (``dict`` or ``list``): a hostile answer is a clear error naming the endpoint, never an
        AttributeError or RecursionError deep in the client (red team round 2)."""
        return _json_answer(self._get(path, **params), path, expect)

    # ---------------------------------------------------------------------------------------------------
    # trust

    def log_verifier(self) -> Any:
        """The pinned verifier key of the log (``--log-key``, the state directory, or trust on first use)."""
        from weightwarden.registry.note import NoteVerifier

        if self._log is not None:
            return self._log["verifier"]
        info = self._get_json("/log")
        if not isinstance(info, dict) or not isinstance(info.get("vkey"), str):
            raise RegistryClientError("the registry's /log answer has no verifier key")
        saved = self.state.data["logs"].get(self.url)  # the log key trusted on first use at this URL
        served = NoteVerifier.from_vkey(info["vkey"])
        if self._pinned is not None:
            verifier = self._pinned
        elif saved is not None:
            verifier = NoteVerifier.from_vkey(saved["vkey"])
        else:
            verifier = served
            self.notes.append(f"trusting the log key {served.vkey()} of {self.url} on first use (pin it with "
                              "--log-key)")
        if served != verifier:
            raise RegistryClientError(f"the registry now serves log key {served.vkey()}, not the trusted "
                                      f"{verifier.vkey()}")
        view_key = info.get("view_key")
        if isinstance(view_key, str):  # the view key is vouched for by the log key, or not used at all
            from weightwarden.registry.logkeys import view_key_text
            from weightwarden.registry.note import NoteError, open_note

            try:
                note, _ = open_note(str(info.get("view_key_note", "")).encode("utf-8"), [verifier])
            except NoteError:
                note = None
            if not _is_ed25519_pem(view_key):
                # Red team round 13 (G1): a vouched-for string that is not an Ed25519 public key was an internal
                # error later and, stored first, pinned an unusable key for good. Never used, never stored.
                self.notes.append("the registry's freshness-view key is not an Ed25519 public key: ignored")
                view_key = None
            elif note is None or note.text != view_key_text(verifier.name, view_key.encode("ascii")):
                self.notes.append("the registry's freshness-view key is not vouched for by its log key: ignored")
                view_key = None
        else:
            view_key = None
        # What was verified is remembered per log (its key), not per URL (red team round 2): a mirror URL of
        # the same log must not start from nothing and accept an older tree.
        mine = self._key_state(verifier)
        if mine.get("view_key") and view_key and mine["view_key"] != view_key:
            raise RegistryClientError("the registry's freshness-view key changed since it was first trusted")
        if not mine.get("view_key") and view_key:
            mine["view_key"] = view_key
        self.state.data["logs"][self.url] = {"vkey": verifier.vkey(), "origin": verifier.name}
        self._log = {"verifier": verifier, "view_key": mine.get("view_key")}
        return verifier

    def _key_state(self, verifier: Any) -> dict[str, Any]:
        """What this client remembers about the log with ``verifier``'s key (checkpoints, view key); a state
        file from before round 2 kept it per URL, and is read once from there."""
        keys = self.state.data.setdefault("keys", {})
        vkey = verifier.vkey()
        if vkey not in keys:
            keys[vkey] = {}
            for old in self.state.data["logs"].values():
                if isinstance(old, dict) and old.get("vkey") == vkey:
                    # Not the view key (red team round 3): an old per-URL entry may hold one that was never
                    # vouched for; it is learned again, vouched for by the log key.
                    for slot in ("checkpoint", "checkpoint_witnessed"):
                        if old.get(slot) and _note_size(old.get(slot)) >= _note_size(keys[vkey].get(slot)):
                            keys[vkey][slot] = old[slot]
        entry: dict[str, Any] = keys[vkey]
        return entry

    def verified_checkpoint(self) -> Any:
        """The latest checkpoint, signed by the pinned key (and witnesses), consistent with the last one seen."""
        from weightwarden.registry.note import open_checkpoint

        verifier = self.log_verifier()
        for attempt in range(2):
            # With a witness quorum, the newest checkpoint the witnesses cosigned (the latest may not be yet).
            try:
                note = self._get("/checkpoint/witnessed" if self.quorum else "/checkpoint")
            except _NotFound:
                raise RegistryClientError(f"no checkpoint of {self.url} is cosigned by witnesses yet (a quorum of "
                                          f"{self.quorum} is required)") from None
            try:
                if self.quorum:
                    from weightwarden.registry.witness import verify_cosigned

                    checkpoint = verify_cosigned(note, verifier, self.witnesses, self.quorum, origin=verifier.name)
                    self._check_witness_age(note)
                else:
                    checkpoint, _ = open_checkpoint(note, verifier, verifier.name)
            except WeightwardenError as exc:
                raise RegistryClientError(f"the registry's checkpoint does not verify: {exc.reason}") from None
            try:
                self._advance(checkpoint, note, verifier)
            except _MemoryAhead as exc:
                # Red team round 23: a sibling process verified a bigger tree while this one fetched its checkpoint.
                # An honest log serves at least that tree now; asked again, an older one is refused by the merged
                # memory ("went backwards"), as a process that loaded the state after the sibling refuses it.
                if attempt:
                    raise RegistryClientError(exc.reason) from None
                continue
            return checkpoint
        raise AssertionError("unreachable")

    def _check_witness_age(self, note: bytes) -> None:
        """At least ``quorum`` of the trusted cosignatures are at most ``max_witness_age_s`` old."""
        import time

        from weightwarden.registry.note import parse_note, verified_signatures

        if not self.max_witness_age_s:
            return
        # Red team round 23: counted per witness PUBLIC KEY, the newest stamp of each, as ``verify_cosigned`` counts
        # the quorum (cosignature/v1 does not sign the witness's name): one key listed under two names gave two
        # stamps, so its fresh cosignature stood in for another witness's stale one.
        by_id = {(w.name, w.key_id): w.public_key for w in self.witnesses}
        newest: dict[Any, int] = {}
        for sig in verified_signatures(parse_note(note), self.witnesses):
            key = by_id[(sig.name, sig.key_id)]
            newest[key] = max(newest.get(key, 0), int(sig.timestamp or 0))
        stamps = sorted(newest.values(), reverse=True)
        if len(stamps) < self.quorum or stamps[self.quorum - 1] < time.time() - self.max_witness_age_s:
            newest = stamps[self.quorum - 1] if len(stamps) >= self.quorum else 0
            raise RegistryClientError(f"the newest witnessed checkpoint is stale: {self.quorum} cosignature(s) "
                                      f"within {int(self.max_witness_age_s)} s are required, the quorum's oldest is "
                                      f"{int(time.time() - newest)} s old (witnesses stopped, or an old checkpoint "
                                      "is replayed)")

    def _advance(self, checkpoint: Any, note: bytes, verifier: Any, witnessed: bool | None = None) -> None:
        """Remember ``checkpoint`` after proving it consistent with EVERY checkpoint remembered for this log key
        (never backwards within its own slot). Witnessed checkpoints are remembered apart (the newest cosigned
        one may trail the latest), but the memory is one set of facts (red team round 10, S1): what a
        ``--quorum`` run verified binds a run without it, and the reverse.

        Red team round 23: the save merges what other client processes saved since this one loaded the state; the
        WHOLE memory check (consistency, "never older than a remembered tree", the ``--quorum`` floor) runs again
        on the merged memory, not only the consistency proof (round 22). A tree smaller than one a sibling process
        verified meanwhile is :class:`_MemoryAhead` (``verified_checkpoint`` asks the registry once more, then
        refuses as "went backwards")."""
        witnessed = bool(self.quorum) if witnessed is None else witnessed
        slot = "checkpoint_witnessed" if witnessed else "checkpoint"
        self._check_memory(checkpoint, note, verifier, slot)
        # Red team round 24: the per-run caches (scan, delta, chain heads, tile reader aside) are keyed by tree SIZE;
        # that is sound only while one run never verifies two trees of one size. The memory check above ensures it
        # (every tree this run verified stays in the memory or is proven a prefix of a note kept there); this says
        # so where it is relied on, and fails closed if it ever stops holding.
        for size, root in self._tree_notes:
            if size == checkpoint.size and root != checkpoint.root_hash:
                raise RegistryClientError(f"the registry showed this client two different trees of size {size} in "
                                          "one check (split view): refusing")
        # Red team round 24: the note of each tree this process verified, and its slot, for the memory check of the
        # save that ends a judgement (``check``).
        self._tree_notes[(checkpoint.size, checkpoint.root_hash)] = (note, slot)
        self._key_state(verifier)[slot] = note.decode("utf-8")
        for _ in range(8):
            self.state.save()
            if not self._check_memory(checkpoint, note, verifier, slot, merged=True):
                return
        raise RegistryClientError("the shared client state kept changing while this client proved it (other "
                                  "client processes saving at once): refusing to judge from it; check again")

    def _check_memory(self, checkpoint: Any, note: bytes, verifier: Any, own_slot: str | None,
                      merged: bool = False) -> bool:
        """``checkpoint`` is consistent with each remembered checkpoint of this log key (both slots and the
        ``pending`` notes other processes saved, red team round 22), and as fresh. Returns whether ``pending``
        changed (a note proven a prefix of this tree leaves it; the state is to be saved again).

        Red team round 11 (R1): the memory binds freshness, not only consistency. A log-signed checkpoint is
        never smaller than ANY remembered checkpoint of the key (a witnessed tree is log-signed too): an
        operator serving its old prefix tree to a client that verified a bigger one is refused, naming the slot
        and the size. Only a witnessed checkpoint may trail a remembered log-signed one (witnesses lag), and
        then it must be a prefix of it; the verdict must still cover the bigger tree, so ``self._floor`` keeps
        its size: the signed view judged must be of a tree at least that big (``_signed_view``), else the
        answer is "not current" until the witnesses catch up.

        Red team round 23: the same rules for the memory merged from other processes (``merged``): round 22 only
        proved their notes consistent, so a process that loaded the state before a sibling verified a bigger tree
        judged an older prefix the operator served it, CURRENT. A ``pending`` note's slot is not known: bigger
        than a witnessed tree it sets the floor (were it witnessed, the witnessed slot is at least as big and
        refuses), bigger than a log-signed tree it refuses."""
        from weightwarden.registry.note import NoteError, open_checkpoint

        entry = self._key_state(verifier)
        pending = list(entry.get("pending", []))
        notes = [(slot, entry.get(slot)) for slot in ("checkpoint", "checkpoint_witnessed")]
        notes += [("pending", p) for p in pending]
        mine = note.decode("utf-8")
        for slot, saved in notes:
            if not saved or saved == mine:
                continue
            old_note = saved.encode("utf-8")
            try:
                old, _ = open_checkpoint(old_note, verifier, verifier.name)
            except NoteError as exc:
                where = "a checkpoint in the client state" if merged or slot == "pending" else \
                    "the remembered checkpoint"
                raise RegistryClientError(f"{where} does not verify: {exc.reason}") from None
            label = {"checkpoint_witnessed": "witnessed ", "checkpoint": "log-signed "}.get(
                slot, "(other client process's) ")
            if old.size <= checkpoint.size:
                # Red team round 24: skipped only for THIS tree (the pair), never because the note was proven a
                # prefix of another tree this process verified earlier.
                if (saved, mine) not in self.state.proven:
                    self._check_consistent(old, checkpoint, old_note, note, verifier, label=label)
                    self.state.proven.add((saved, mine))
                continue
            trailing = own_slot == "checkpoint_witnessed" and slot != "checkpoint_witnessed"
            if not trailing:
                refusal = (f"the registry went backwards: its "
                           f"{'witnessed' if own_slot == 'checkpoint_witnessed' else 'log-signed'} checkpoint has "
                           f"{checkpoint.size} entries, but this client already verified a {label}checkpoint of size "
                           f"{old.size} of this log (state slot {slot!r}")
                if merged:
                    raise _MemoryAhead(refusal + "; saved by another client process of this state directory while "
                                       "this one was checking; an older tree served as current: refusing)")
                raise RegistryClientError(refusal + "; an older tree served as current: refusing)")
            if (mine, saved) not in self.state.proven:
                self._check_consistent(checkpoint, old, note, old_note, verifier, remembered=old, label=label)
                self.state.proven.add((mine, saved))
            if self._floor is None or old.size > self._floor[0]:
                self._floor = (old.size, label.strip())
        left = [p for p in pending if p != mine and (p, mine) not in self.state.proven]
        if left == pending:
            return False
        if left:
            entry["pending"] = left
        else:
            entry.pop("pending", None)
        return True

    def _merged_memory_ahead(self, checkpoint: Any) -> bool:
        """Run the whole memory check of ``checkpoint`` (a tree this process verified) on the memory as the last
        save merged it (red team round 24); True when that memory holds a bigger tree (``_MemoryAhead``). A note
        proven a prefix here leaves ``pending`` at the next save (the pair is in ``state.proven``)."""
        verifier = self.log_verifier()
        known = self._tree_notes.get((checkpoint.size, checkpoint.root_hash))
        if known is None:  # every judged tree comes from _advance; fail closed if that ever stops holding
            raise RegistryClientError(f"the judged tree ({checkpoint.size} entries) was not verified in this run")
        note, slot = known
        try:
            self._check_memory(checkpoint, note, verifier, slot, merged=True)
        except _MemoryAhead:
            return True
        return False

    def _memory_ahead(self, size: int) -> int:
        """The biggest tree this client's memory (as merged at its last save) holds for the trusted log key, when
        bigger than ``size`` (else 0): red team round 23, a verdict at a tree a sibling process outgrew meanwhile."""
        if self._log is None:
            return 0
        entry = self.state.data.get("keys", {}).get(self._log["verifier"].vkey(), {})
        notes = [entry.get("checkpoint"), entry.get("checkpoint_witnessed"), *entry.get("pending", [])]
        biggest = max((_note_size(n) for n in notes if n), default=-1)
        return biggest if biggest > size else 0

    def _check_consistent(self, old: Any, new: Any, old_note: bytes, new_note: bytes, verifier: Any,
                          remembered: Any = None, label: str = "") -> None:
        from weightwarden.registry import tlog
        from weightwarden.registry.splitview import detect_split_view

        if new.size < old.size:
            raise RegistryClientError(f"the registry went backwards: its tree has {new.size} entries, but this "
                                      f"client already verified a checkpoint of {old.size} (refusing)")
        proof: list[bytes] = []
        if old.size < new.size and old.size > 0:
            answer = self._get_json("/proof/consistency", old=old.size, new=new.size)
            proof = _hashes(answer.get("proof"))
        try:
            if new.size == old.size:
                if new.root_hash != old.root_hash:
                    raise tlog.ProofError("same size, different root")
            else:
                tlog.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
        except tlog.ProofError:
            # splitview wants the consistency *path* of the larger tree (led, when old_size is 2^k, by the old
            # tree's root AS THE LARGER TREE HAS IT, not the remembered one): computed from the served tiles,
            # authenticated against the larger checkpoint's root (round 10: the evidence was lost for 2^k sizes).
            evidence = None
            try:
                from weightwarden.registry.note import open_checkpoint
                from weightwarden.registry.tiles import TileHashReader

                a, a_note, b, b_note = old, old_note, new, new_note
                if remembered is not None:
                    # The new checkpoint is smaller than the remembered one (a witnessed tree trailing a
                    # log-signed one verified before): this registry serves no tiles of the remembered tree, so
                    # the evidence pairs it with the registry's latest log-signed checkpoint instead.
                    # (``new`` and ``new_note`` are the remembered checkpoint here.)
                    b_note = self._get("/checkpoint")
                    b, _ = open_checkpoint(b_note, verifier, verifier.name)
                    a, a_note = new, new_note
                path = None
                if 0 < a.size < b.size:
                    reader = TileHashReader(b.size, lambda t: self._get("/" + t.path()), b.root_hash)
                    path = tlog.consistency_path(a.size, b.size, reader)
                evidence = detect_split_view(a_note, b_note, verifier, path)
            except (WeightwardenError, ValueError):
                evidence = None
            shown = "\n" + evidence.render() if evidence is not None else ""
            mem = remembered if remembered is not None else old
            raise RegistryClientError(f"the registry's tree is not consistent with the {label}checkpoint of size "
                                      f"{mem.size} this client verified before (split view or rewritten "
                                      f"history){shown}") from None

    def verified_entry(self, index: int, checkpoint: Any) -> bytes:
        """Entry ``index``'s bytes, proven to be in ``checkpoint``'s tree."""
        from weightwarden.registry import tlog

        answer = self._get_json(f"/entries/{index}")
        try:
            data = base64.b64decode(answer["data"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise RegistryClientError(f"entry {index}: malformed answer") from None
        proof = _hashes(self._get_json("/proof/inclusion", index=index, tree_size=checkpoint.size).get("proof"))
        try:
            tlog.verify_inclusion(leaf_hash(data), index, checkpoint.size, checkpoint.root_hash, proof)
        except tlog.ProofError as exc:
            raise RegistryClientError(f"entry {index} is not proven to be in the log: {exc.reason}") from None
        return data

    def all_entries(self, checkpoint: Any) -> list[bytes]:
        """Every entry of ``checkpoint``'s tree from the entry bundles, each bundle proven against its root."""
        out: list[bytes] = []
        for _, _, found in self._proven_bundles(checkpoint):
            out.extend(found)
        return out

    def _tile_reader(self, checkpoint: Any) -> Any:
        """A hash-tile reader for ``checkpoint``'s tree that authenticates every tile against its signed root
        (one per tree, so the tiles it read are reused)."""
        from weightwarden.registry.tiles import TileHashReader

        key = (checkpoint.size, bytes(checkpoint.root_hash))
        if self._reader is None or self._reader[0] != key:
            self._reader = (key, TileHashReader(checkpoint.size, lambda t: self._get("/" + t.path()),
                                                checkpoint.root_hash))
        return self._reader[1]

    def _proven_bundle(self, n: int, checkpoint: Any) -> tuple[str, list[bytes]]:
        """Entry bundle ``n`` of ``checkpoint``'s tree (its path, its entries), every entry proven to be the
        leaf the signed tree holds at its index.

        Red team round 15 (F1): the round-14 budget counted the raw bytes of each answer before anything was
        checked, so an operator (or anyone on the path) serving junk bundles of the largest size tipped every
        client into the index mode, where the line's facts are the operator's signed word. A bundle now counts
        for nothing until each entry's leaf hash equals the level-0 hash tile at its position, that tile
        authenticated against the checkpoint's root (``TileHashReader``): a bundle that does not prove is log
        misbehaviour, an error with the evidence, never a reason to judge differently. Each bundle is read up to
        the largest valid bundle of its width (round 14, D3)."""
        from weightwarden.registry import tiles, tlog

        width = min(tiles.TILE_WIDTH, checkpoint.size - n * tiles.TILE_WIDTH)
        tile = tiles.Tile(tiles.ENTRIES_LEVEL, n, width)
        path = "/" + tile.path()
        raw = self._get(path, cap=tiles.bundle_cap(width))
        tree = (f"the verified tree of size {checkpoint.size}, root "
                f"{base64.b64encode(checkpoint.root_hash).decode()}")
        misbehaves = "log misbehaviour (refusing; a log whose answers do not prove is never judged from its index)"
        try:
            found = tiles.decode_entry_bundle(raw, width)
        except tiles.TileError as exc:
            raise RegistryClientError(f"{misbehaves}: the entry bundle {path} of {tree} is malformed: "
                                      f"{exc.reason}") from None
        try:
            hashes = self._tile_reader(checkpoint).leaf_hashes(n, width)
        except (tiles.TileError, tlog.ProofError) as exc:
            raise RegistryClientError(f"{misbehaves}: the registry's hash tiles for {path} do not rebuild {tree}: "
                                      f"{exc.reason}") from None
        for i, (data, want) in enumerate(zip(found, hashes, strict=True)):
            got = leaf_hash(data)
            if got != want:
                raise RegistryClientError(
                    f"{misbehaves}: entry {n * tiles.TILE_WIDTH + i} of the bundle {path} has leaf hash {got.hex()}, "
                    f"but {tree} holds leaf hash {want.hex()} there (its hash tile /tile/0/"
                    f"{tiles.Tile(0, n, width).path().split('/', 2)[2]}): the registry serves entries that are not "
                    "in its own signed log")
        return path, found

    def _proven_bundles(self, checkpoint: Any) -> Any:
        """``(first index, bundle path, entries)`` for every entry bundle of the tree, in order, each proven."""
        from weightwarden.registry import tiles

        for n in range((checkpoint.size + tiles.TILE_WIDTH - 1) // tiles.TILE_WIDTH):
            path, found = self._proven_bundle(n, checkpoint)
            yield n * tiles.TILE_WIDTH, path, found

    # ---------------------------------------------------------------------------------------------------
    # writes

    def publish(self, body: dict[str, Any], key: Any) -> Published:
        """Send one entry body, signed with ``key``; return its index once proven in a verified checkpoint."""
        import httpx

        from weightwarden.registry import tlog
        from weightwarden.registry.note import open_checkpoint

        raw = _entries.check_body(_entries.plain_form(body)).raw  # plain (red team round 11, D2), canonical once
        verifier = self.log_verifier()
        headers = sign_request(key, verifier.name, "POST", "/entries", raw)
        headers["Content-Type"] = "application/json"
        from weightwarden.registry.wire import AnswerTooLarge, read_capped

        try:  # the answer read with the same cap as every other (round 14, G1: one capped reader)
            with self.http.stream("POST", "/entries", content=raw, headers=headers) as response:
                content = read_capped(response, MAX_RESPONSE_BYTES, "/entries")
                status = response.status_code
        except AnswerTooLarge as exc:
            raise RegistryClientError(exc.reason) from None
        except httpx.HTTPError as exc:
            raise RegistryClientError(f"cannot reach the registry at {self.url}: {exc}") from None
        if status != 201:
            raise RegistryRefused(status, _reason(content))
        answer = _json_answer(content, "/entries", dict)
        if not isinstance(answer.get("checkpoint"), str) or not isinstance(answer.get("index"), int):
            raise RegistryClientError("/entries: the registry's answer to the append has no checkpoint or index")
        note = answer["checkpoint"].encode("utf-8")
        try:
            checkpoint, _ = open_checkpoint(note, verifier, verifier.name)
        except WeightwardenError as exc:
            raise RegistryClientError(f"the checkpoint returned for the append does not verify: {exc.reason}") from None
        index = int(answer["index"])
        entry = self._get_json(f"/entries/{index}")
        try:
            data = base64.b64decode(entry["data"], validate=True)
        except (KeyError, TypeError, ValueError):
            raise RegistryClientError(f"entry {index}: malformed answer") from None
        logged = self._logged(index, data, checkpoint)  # round 10: what a publisher sees logged is signed, too
        if logged["body"] != body or logged["publisher"]["key_id"] != headers[HEADER_KEY]:
            raise RegistryClientError(f"entry {index} is not the body this client sent under its key")
        try:
            tlog.verify_inclusion(leaf_hash(data), index, checkpoint.size, checkpoint.root_hash,
                                  _hashes(answer.get("inclusion_proof")))
        except tlog.ProofError as exc:
            raise RegistryClientError(f"the registry's inclusion proof for entry {index} fails: {exc.reason}") from None
        # A publisher, too, refuses a log that forks away from anything it verified before (either slot).
        self._advance(checkpoint, note, verifier, witnessed=False)
        return Published(index, checkpoint.size, note)

    def publish_release(self, bundle_path: str | os.PathLike[str], *, model: str, key: Any,
                        weights_root: str | None = None, version: int | None = None,
                        bases: Sequence[str] = ()) -> Published:
        body = release_body_from_bundle(bundle_path, model=model, weights_root=weights_root, version=version,
                                        bases=bases)
        return self.publish(body, key)

    # ---------------------------------------------------------------------------------------------------
    # check

    def check(self, path: str | os.PathLike[str] | None = None, *, bundle: str | os.PathLike[str] | None = None,
              model: str | None = None) -> CheckResult:
        """Is the model at ``path`` (or the release of ``bundle``) the current, unrevoked, unchanged release?

        Every release that matches (the bundle's digest, or the files' root digest) is weighed, never just
        the first one logged: several model lines claiming it without ``model`` is an "ambiguous" answer,
        and within the line any revoked or incident-affected match makes it not current.

        Red team round 18 (R18-2): a check is judged at ONE tree. The signed view may be of a newer tree than the
        checkpoint the matches were found at (an older genuine checkpoint served first, or the log growing between
        the two requests); the view's tree then becomes the judged one, and EVERYTHING is derived again there (the
        matches, the bundle and ambiguity rules, the line, the walk, the incidents): releases matching since are
        weighed, as the full scan of that tree weighs them. A tree that keeps moving is an error (fail closed)."""
        checkpoint = self.verified_checkpoint()
        notes_at = len(self.notes)
        for _ in range(JUDGE_ATTEMPTS):
            outcome = self._judge(path, bundle, model, checkpoint)
            if isinstance(outcome, CheckResult):
                # Red team round 24: the save that ended this judgement may have merged a checkpoint of the same
                # size or smaller (a sibling's fork) that nothing proved consistent with the judged tree: a
                # "current" verdict is given only once the merged memory passed the whole memory check against
                # the judged tree (a split view is refused with its proof; a bigger tree is judged again below).
                behind = outcome.current and self._merged_memory_ahead(checkpoint)
                ahead = self._memory_ahead(outcome.tree_size) or (checkpoint.size + 1 if behind else 0)
                foreign = sorted(self._foreign_lines)
                self._foreign_lines = set()
                if not outcome.current or not (ahead or foreign):
                    return outcome
                # Red team round 23: the save that ended this judgement merged what another client process of this
                # state directory saved meanwhile: a bigger tree, or facts of a line this verdict read. A "current"
                # verdict must rest on the memory as it is when it is given, so the checkpoint is verified again
                # against the merged memory (an older tree is "went backwards"; with --quorum, the floor; merged
                # notes proven before any merged fact is read) and everything is judged again there.
                del self.notes[notes_at:]
                why = (f"verified a tree of {ahead} entries while this check judged {outcome.tree_size}" if ahead
                       else f"saved facts of {', '.join(foreign[:4])} while this check judged it")
                self.notes.append(f"another client process of this state directory {why}: judged again (red team "
                                  "round 23)")
                notes_at = len(self.notes)
                checkpoint = self.verified_checkpoint()
                continue
            del self.notes[notes_at:]  # what was said about the older tree does not describe the judged one
            if self.quorum:
                self.notes.append(f"the signed view is ahead of the witnessed checkpoint ({checkpoint.size}): the line "
                                  f"is judged over the log-signed tree of {outcome.size} entries (consistent with the "
                                  "witnessed one), every fact derived again there and compared with the view (red "
                                  "team round 18)")
            else:
                self.notes.append(f"the signed view is of a newer tree than the checkpoint first verified "
                                  f"({checkpoint.size} -> {outcome.size} entries): every fact was derived again at "
                                  "the newer tree (red team round 18)")
            checkpoint = outcome
        raise RegistryClientError(f"the registry's tree kept moving during this check ({JUDGE_ATTEMPTS} times): no "
                                  "verdict at one tree could be reached (try again)")

    def _judge(self, path: str | os.PathLike[str] | None, bundle: str | os.PathLike[str] | None,
               model: str | None, checkpoint: Any) -> CheckResult | Any:
        """The verdict at ``checkpoint``'s tree, or the newer checkpoint the signed view needs (nothing judged:
        ``check`` derives everything again there)."""
        self._lookup_reasons = []
        self._index_bytes = 0
        self._unverified = set()
        self._closed = {}
        self._proofs = {}
        self._lines_read = set()
        self._judged = []
        self._reached = set()
        self._walks = {}
        self._walk_at = {}
        self._sole = None
        found = self._find_releases(path, bundle, model, checkpoint)
        self._found_at = checkpoint.size
        what = "this bundle" if bundle is not None else "the files at this path"
        if self._lookup_reasons:
            return self._result(False, checkpoint, reasons=list(self._lookup_reasons))
        if self._bundle_mismatch:  # an entry claiming the bundle with other files: never weighed, never current
            return self._result(False, checkpoint, reasons=list(self._bundle_mismatch))
        if not found:
            return self._result(False, checkpoint, reasons=[f"no release in the registry matches {what}"])
        lines = sorted({body["model"] for _, body in found})
        if len(lines) > 1:
            return self._result(False, checkpoint, reasons=[
                f"ambiguous: {len(lines)} model lines claim {what}: {', '.join(lines)}; the registry cannot say "
                "whose release it is (pass --model to name the line you trust)"])
        line = lines[0]
        self._lines_read.add(line)
        signed, fresh_reasons, judged, head = self._signed_view(line, checkpoint)
        if judged.size != checkpoint.size:
            return judged  # red team round 18 (R18-2): the matches were found at another tree
        data = self._line_data(line, checkpoint, signed)
        view = _line_view_at(line, checkpoint.size, data)
        if self._delta_now(checkpoint) is not None and line not in self._unverified:
            # Red team round 17 (F1): which releases are weighed comes from the line's proven entries (complete: every
            # entry since the last scan, and this client's list of the line's entries before it), never from the
            # registry's unsigned lookup, which may leave a revoked match out; and without --model, no other line's
            # claim may hide (``_delta_matches``).
            found, stop = self._delta_matches(line, data, model, found, checkpoint, what)
            if stop is not None:
                return self._result(False, checkpoint, reasons=stop)
        reasons: list[str] = []
        if signed is not None:
            reasons.extend(self._compare_signed(line, signed, data, checkpoint))
        reasons.extend(fresh_reasons)
        modified: dict[str, str | None] = {}
        results = []
        for index, body in found:
            own: list[str] = []
            blocking = False
            if path is not None:
                subject = body["subject"]["sha256"]
                if subject not in modified:
                    modified[subject] = _compare_files(path, body)
                if modified[subject]:
                    own.append(modified[subject])  # type: ignore[arg-type]
                    blocking = True
            rel = next((r for r in view["releases"] if r["bundle"] == body["bundle"]), None)
            if rel is None:
                raise RegistryClientError("the release is in the log but not in its model line's view")
            if rel["status"] == "revoked":
                rev = rel["revoked"]
                incident = f" (incident {rev['incident']})" if rev.get("incident") else ""
                own.append(f"release v{body['version']} of {body['model']} was REVOKED at log index "
                           f"{rev['index']}: {rev['reason']}{incident}")
                blocking = True
            elif rel["status"] == "superseded":
                latest = next((r for r in view["releases"] if r["bundle"] == view["latest"]), None)
                newer = f"v{latest['version']} ({latest['bundle']})" if latest else "a newer release"
                own.append(f"release v{body['version']} of {body['model']} is superseded by {newer}")
            limits: list[str] = []
            incidents = self._incidents(body, view, checkpoint, limits, owner_key=rel.get("publisher"),
                                        release_index=int(index), data=data)
            if not limits:  # a judgement cut by a bound is no mark of a complete one (red team round 17)
                # with the tree sizes it rests on: its matches, its line's view (red team round 18)
                self._judged.append((line, str(body["bundle"]), (self._found_at, int(view["tree_size"]))))
            delta = self._delta_now(checkpoint)
            memory = self._remembered(line)
            mark = memory["checked"].get(str(body["bundle"]))
            walk = self._walks.get((line, str(body["bundle"])))
            if delta is not None and mark is not None and mark >= delta[1] and not limits and (
                    walk is None or walk == INCOMPLETE_WALK or memory["walk"].get(str(body["bundle"])) != walk):
                # Red team round 17 (F2, F3): the delta holds every entry since its start, but below it only the
                # entries of the lines the release's walk reached at its last judgement. If that walk was not
                # remembered whole, or now visits other releases, links or latest releases (a linked line's new
                # release, a revocation, a new link), an incident logged before the start in a line never read
                # could name one of the new file digests or roots: only a full scan would see it.
                self._unverified.add(f"{line} v{body['version']}")
                self.notes.append(f"the releases and links the incident walk of release v{body['version']} of {line} "
                                  "visits are not those of this client's last full judgement of it (or were too many "
                                  "to remember): incidents logged before the entries read since in lines never read "
                                  "could reach it (not independently verified; a full scan would verify it)")
            if delta is not None and (mark is None or mark < delta[1]):
                # Red team round 16b: incidents before the delta's start that reach this release from a line the
                # client never read (a weights root or file digest named elsewhere) are known only from a full
                # judgement of the release; this one has none reaching that far: the operator's word, said so.
                self._unverified.add(f"{line} v{body['version']}")
                self.notes.append(f"release v{body['version']} of {line} was not judged in this client's last full "
                                  "scan (or a scan since): incidents logged before it in other lines are known only "
                                  "from the registry's signed list (not independently verified)")
            if limits:
                own.extend(f"{m}: not current until it is" for m in limits)
                blocking = True
                if delta is not None:  # a bound the delta hit is not a full scan's answer (red team round 17)
                    self._unverified.add(f"{line} v{body['version']} (a bound)")
            for hit in incidents:
                if hit["state"] in OPEN_INCIDENT_STATES:
                    via = f" via {hit['via']}" if hit.get("via") else ""
                    own.append(f"open incident {hit['id']} ({hit['severity']}, {hit['state']}){via}: {hit['summary']}")
                    blocking = True
            own.extend(_expiry_verdict(body))
            recalled = self._recall(line, body, view, incidents, checkpoint)
            own.extend(recalled)
            blocking = blocking or bool(recalled)
            if signed is not None and not own:  # the signed view binds: it may not say otherwise
                own.extend(_signed_verdict(signed, index, body, incidents))
                if not own:
                    signed_hits = self._signed_affecting(signed, head, incidents)
                    own.extend(signed_hits)
                blocking = blocking or bool(own)
            results.append((index, body, own, blocking, incidents))
        usable = [r for r in results if not r[2]]
        blockers = [r for r in results if r[3]]
        chosen = usable[0] if usable and not blockers else (blockers or results)[0]
        if blockers and len(results) > 1:
            for index, body, own, _, _ in blockers:
                reasons.extend(f"(release at log index {index}) {r}" if body is not chosen[1] else r for r in own)
        else:
            reasons.extend(chosen[2])
        if len(results) > 1:
            self.notes.append(f"{len(results)} releases of {line} match {what}: all were weighed")
        if model is None:
            self._sole = (line, self._match_key(), self._found_at)
        self._remember(line, view, results, checkpoint)
        return self._result(not reasons, checkpoint, reasons=reasons, body=chosen[1], index=chosen[0],
                            incidents=chosen[4])

    def _result(self, current: bool, checkpoint: Any, *, reasons: list[str], body: dict[str, Any] | None = None,
                index: int | None = None, incidents: Sequence[dict[str, Any]] = ()) -> CheckResult:
        if self._scan_cache is not None and self._scan_cache[0] == checkpoint.size:
            mode = "full"
        elif self._delta is not None and self._delta[0] == checkpoint.size and not self._unverified:
            mode = "delta"
            self.notes.append(f"judged from every entry after this client's last full scan (log indexes "
                              f"{self._delta[1]}..{checkpoint.size - 1}, each proven) and the entries it proved up "
                              "to there for each line read; the registry's index and release lookup were only hints "
                              "(red team round 17: the releases weighed are the line's proven ones, and the incident "
                              "walk is the one this client remembered whole at its last full judgement)")
        else:
            mode = "index"
            # Red team round 15 (F1b), round 16 (F1c): the weaker guarantee is said plainly, and truly: the line's
            # facts are the operator's word (its signed index and view), whatever the client's state or witnesses.
            lines = ", ".join(sorted(self._unverified)[:8]) or "the judged line"
            self.notes.append(
                f"WEAKER GUARANTEE (index mode, not independently verified): "
                f"{self._index_why or 'the log was not scanned whole'}; {lines} judged from the registry's index and "
                "signed view, each entry used proven, plus the entries this client proved before. An entry the "
                "operator leaves out of both (a revocation, an incident, a newer release) is NOT seen: earlier state "
                "protects only facts this client proved in a full scan, and witnesses cosign the tree, not the "
                "index. Only a full scan (or a scan of the entries since this client's last one) verifies the answer")
        self._keep_facts(checkpoint, mode)
        # The proven scan size and line facts (red team round 15, F1b/F1c). Red team round 23: a save that fails is
        # a refusal, not a note: its merge is what shows a bigger tree another process verified meanwhile
        # (``check``), and an unreadable shared state is never replaced by this process's memory.
        self.state.save()
        vkey = self.log_verifier().vkey()
        self._foreign_lines = self.state.foreign.get(vkey, set()) & (self._lines_read | self._reached)
        return CheckResult(current=current, model=body["model"] if body else None,
                           version=body["version"] if body else None, index=index,
                           bundle=body["bundle"] if body else None, tree_size=checkpoint.size,
                           reasons=tuple(reasons), notes=tuple(self.notes), incidents=tuple(incidents), mode=mode)

    # line facts this client proved (red team round 15, F1c) ------------------------------------------------

    def _fact_line(self, facts: dict[str, Any], model: str) -> dict[str, Any]:
        """``model``'s remembered facts, made if new; past ``MAX_FACT_LINES`` lines the least recently checked
        line other than those of this check is forgotten, with a note (red team round 16: new lines were not
        stored at all, so a client checking many models silently lost the protection for the later ones)."""
        import time

        if model not in facts:
            while len(facts) >= MAX_FACT_LINES:
                old = min((m for m in facts if m not in self._lines_read), key=lambda m: int(facts[m].get("at", 0)),
                          default=None)
                if old is None:
                    break
                del facts[old]
                self.notes.append(f"the client state remembers at most {MAX_FACT_LINES} lines: the facts of {old} "
                                  "(the least recently checked) were forgotten")
            facts[model] = {}
        line: dict[str, Any] = facts[model]
        line["at"] = time.time_ns()  # the order of checks, for the eviction (ns: several checks a second)
        return line

    def _keep_facts(self, checkpoint: Any, mode: str) -> None:
        """Red team round 16 (F1a): after a full scan, or a scan of the entries since the last one, remember for
        each line this check read (and its declared bases, after a full scan) and each line remembered before, the
        log indexes of its entries (not audits) up to this tree: the index mode reads them again whatever the
        registry's index says, and a line whose list is complete up to the last scan is judged verified."""
        mine = self._key_state(self.log_verifier())
        facts = mine.setdefault("facts", {})
        if mode == "full":
            _, by_line, bases = _index_lines(enumerate(self._scanned(checkpoint)))
            start = 0
        elif self._delta is not None and self._delta[0] == checkpoint.size:
            _, start, _, by_line = self._delta
            bases = {}
        else:
            for m in self._lines_read & set(facts):
                self._fact_line(facts, m)  # recently checked
            return
        # Red team round 17 (F2): every line the walks reached is kept (a reach past the bound is never remembered as
        # a whole one: the releases judged get INCOMPLETE_WALK below, and a later delta is unverified).
        wanted = set(self._lines_read) | set(sorted(self._reached)[:MAX_LINEAGE_LINES + 1])
        if mode == "full":  # the declared bases, transitively (bounded as the lineage walk is)
            frontier = list(wanted)
            while frontier and len(wanted) < MAX_LINEAGE_LINES:
                following = [b for m in frontier for b in bases.get(m, ()) if b not in wanted]
                wanted.update(following[: MAX_LINEAGE_LINES - len(wanted)])
                frontier = following
        for m in wanted:
            self._fact_line(facts, m)
        for m, line in facts.items():
            if mode != "full" and int(line.get("upto", 0)) < start:
                continue  # not complete up to the last scan: stays unverified until a full scan
            events = sorted((set(line.get("events", [])) if mode != "full" else set()) | by_line.get(m, set()))
            line["events"] = events[:MAX_EVENTS]
            line["upto"] = checkpoint.size if len(events) <= MAX_EVENTS else 0
            if len(events) > MAX_EVENTS:
                self.notes.append(f"{m} holds more than {MAX_EVENTS} entries: this client does not remember them all, "
                                  "and judges it unverified in the index mode")
        # Red team round 16b: each release judged verified by every rule (full, or delta) is complete up to here.
        self._check_derived_at(checkpoint)
        for m, bundle, _ in self._judged if mode != "index" else ():  # an unverified judgement completes nothing
            self._settle(facts, m, bundle)  # red team round 20: only a complete verified judgement closes a fact
            checked = facts.get(m, {}).setdefault("checked", {})
            walks = facts.get(m, {}).setdefault("walk", {})
            if bundle in checked or len(checked) < MAX_FACTS:
                checked[bundle] = checkpoint.size
                walks[bundle] = self._walks.get((m, bundle), INCOMPLETE_WALK)
            # the lines its affecting walk reached (weights-root links too): the delta reads them again
            reach = set(facts.get(m, {}).get("reach", [])) | (self._reached - {m})
            if len(reach) > MAX_LINEAGE_LINES:  # red team round 17 (F2): never cut silently
                facts.get(m, {})["walk"] = dict.fromkeys(walks, INCOMPLETE_WALK)
                self.notes.append(f"the incident walk of {m} reaches more than {MAX_LINEAGE_LINES} lines, more than "
                                  "this client remembers: a later check from the entries since is not verified")
            facts.get(m, {})["reach"] = sorted(reach)[:MAX_LINEAGE_LINES]
        if self._sole is not None and mode != "index" and self._judged:
            sole = facts.get(self._sole[0], {}).setdefault("sole", {})
            if self._sole[1] in sole or len(sole) < MAX_FACTS:
                sole[self._sole[1]] = checkpoint.size
        if mode != "full":
            seen = mine.get("scan", {})
            mine["scan"] = {**seen, "size": checkpoint.size,
                            "bytes": int(seen.get("bytes", 0)) + self._delta_bytes}
            self._store_heads(mine, checkpoint.size, self._delta_heads(checkpoint))  # red team round 21

    def _store_heads(self, mine: dict[str, Any], size: int, heads: dict[str, int] | None) -> None:
        """Red team round 21: remember the chain table as of ``size`` (every chain's current record, by the full
        rule), or forget it when it cannot be carried (over MAX_CHAINS chains, or a delta that could not anchor
        its chains): a delta then meets chains it cannot anchor and says so (unverified)."""
        if heads is not None and len(heads) <= MAX_CHAINS:
            mine["chains"] = {"upto": size, "heads": heads}
            return
        if heads is not None:
            self.notes.append(f"the log holds more than {MAX_CHAINS} incident chains, more than this client "
                              "remembers: a later check from the entries since is not verified where it meets a chain "
                              "first logged before them")
        mine.pop("chains", None)

    def _delta_heads(self, checkpoint: Any) -> dict[str, int] | None:
        """Red team round 21: the chain table carried to ``checkpoint``'s tree over the delta's entries: each chain
        with a record since the delta's start resumed, by ``views.current_incidents``, from its current record in
        the remembered table (read and proven; ``known``), and a chain not in the table started from its first
        record there. Sound only when the table reaches the delta's start (``upto`` >= start): a chain the table
        does not hold then has no record below ``upto``, so every record of it is among the entries read since.
        None: no table reaching the start (a state from before round 21, a table dropped at its bound)."""
        delta = self._delta_now(checkpoint)
        if delta is None:
            return None
        if self._heads is not None and self._heads[0] == checkpoint.size:
            return self._heads[1]
        table = self._key_state(self.log_verifier()).get("chains")
        heads: dict[str, int] | None = None
        if isinstance(table, dict) and delta[1] <= int(table.get("upto", -1)) <= checkpoint.size:
            old = dict(table.get("heads", {}))
            # the table records of the chains with a record since, read together (a bundle holding several is read
            # and proven once, as the index mode reads a line: red team round 15, D2b)
            wanted = {old[name] for name in (_chain_of(logged) for logged in self._delta_kept.values())
                      if name in old and old[name] not in self._delta_kept and old[name] not in self._head_records}
            self._head_records.update(self._proven_entries(sorted(wanted), checkpoint) or [])
            heads = _chain_heads(sorted(self._delta_kept.items()), old,
                                 lambda incident_id, key, at: self._head_record(incident_id, key, at, checkpoint))
        self._heads = (checkpoint.size, heads)
        return heads

    def _head_record(self, incident_id: str, key: str, at: int, checkpoint: Any) -> dict[str, Any]:
        """The (``key``, ``incident_id``) chain's record at ``at`` (its current one in the remembered chain table),
        from the delta's proven entries or read and proven here; an entry there that is not that chain's record is
        a log that contradicts an earlier proven tree, or a damaged state: refused (``_fact_record``)."""
        logged = self._head_records.get(at) or self._delta_kept.get(at)
        if logged is None or not _is_record_of(logged, incident_id, key):
            logged = self._fact_record(incident_id, key, at, checkpoint)
        self._head_records[at] = logged
        return logged["body"]["incident"]

    def _check_derived_at(self, checkpoint: Any) -> None:
        """Red team round 18 (R18-2): every fact this check would remember (a release's mark, its walk, the ``sole``
        line of a match) must have been derived at the tree size it is stored under; a judgement whose matches
        were found at one tree and judged at another was once remembered as a full scan's and as "sole", and made
        later deltas verified. ``check`` derives everything again when the tree moves, so this never fires; if it
        does, nothing is remembered and the check fails (closed)."""
        size = int(checkpoint.size)
        wrong = [f"the mark of {m} {b} (matches at {found}, view at {viewed})"
                 for m, b, (found, viewed) in self._judged if {found, viewed} != {size}]
        judged = {(m, b) for m, b, _ in self._judged}
        wrong += [f"the incident walk of {m} {b} (at {at})" for (m, b), at in self._walk_at.items()
                  if at != size and (m, b) in judged]
        if self._sole is not None and self._sole[2] != size:
            wrong.append(f"the sole line {self._sole[0]} of {self._sole[1]} (matches at {self._sole[2]})")
        if wrong:
            raise RegistryClientError(f"internal check failed (refusing; nothing remembered): {'; '.join(wrong[:4])} "
                                      f"derived at tree size other than {size}, the one this check is judged at")

    def _remembered(self, model: str) -> dict[str, dict[str, Any]]:
        """What this client proved about ``model`` on this log before: ``revoked`` (bundle -> log index of the
        revocation) and ``open`` (bundle -> {incident id: log index}) for the releases it checked."""
        facts = self._key_state(self.log_verifier()).get("facts", {})
        line = facts.get(model, {}) if isinstance(facts, dict) else {}
        return {"revoked": dict(line.get("revoked", {})), "open": {k: dict(v) for k, v in line.get("open", {}).items()},
                "via": dict(line.get("via", {})), "events": list(line.get("events", [])),
                "upto": int(line.get("upto", 0)), "checked": dict(line.get("checked", {})),
                "reach": [str(m) for m in line.get("reach", [])], "walk": dict(line.get("walk", {})),
                "sole": dict(line.get("sole", {})), "held": {k: dict(v) for k, v in line.get("held", {}).items()},
                "closed": {k: dict(v) for k, v in line.get("closed", {}).items()},
                "closed_from": {k: dict(v) for k, v in line.get("closed_from", {}).items()}}

    def _recall(self, model: str, body: dict[str, Any], view: dict[str, Any],
                incidents: Sequence[dict[str, Any]], checkpoint: Any) -> list[str]:
        """Reasons the answer contradicts what this client proved before about this release: a revocation it
        saw is gone, or an incident it saw open is neither shown nor proven closed. The tree is consistent with
        the one those facts were proven in, so an answer without them is a rollback or a hidden entry. An
        incident the answer leaves out is looked up in the line it was found through (its records there, each
        proven): closed since, it is forgotten; still open, it blocks; not there at all, it blocks."""
        memory = self._remembered(model)
        out: list[str] = []
        index = memory["revoked"].get(body["bundle"])
        rel = next((r for r in view["releases"] if r["bundle"] == body["bundle"]), None)
        if index is not None and (rel is None or rel["status"] != "revoked"):
            out.append(f"this client proved before that release v{body['version']} of {model} was REVOKED at log "
                       f"index {index}; the registry's answer now leaves it out (a hidden entry or a rollback): not "
                       "current")
        # Red team round 16 (F2): a remembered incident is the (publisher key, incident id) chain it was proven
        # open in; only a record of that same chain shows it (another publisher's same-id record never does).
        # Red team round 19: shown only by the chain's current record as resumed from the remembered one, i.e. at
        # or after it (the delta resumes remembered chains from that record; the full scan reads the whole log); a
        # record of the chain before it (a fork logged earlier, read in a base line) never shows it.
        shown = {(str(h.get("owner")), str(h["id"])): int(h["index"]) for h in incidents}
        shown_open = {str(h["id"]) for h in incidents if h["state"] in OPEN_INCIDENT_STATES}
        for fact, at in sorted(memory["open"].get(body["bundle"], {}).items()):
            key, incident_id = _unfact(fact)
            if shown.get((key, incident_id), -1) >= int(at) if key is not None else incident_id in shown_open:
                continue
            where = str(memory["via"].get(fact) or memory["via"].get(incident_id) or model)
            later = self._delta_chain(incident_id, key, at, checkpoint)
            if later is not None:  # red team round 16b: the chain's latest record since, every entry read
                state, closing = later
            else:
                state, closing = self._incident_state(incident_id, key, where, checkpoint, int(at))
                mark = memory["checked"].get(str(body["bundle"]))
                delta = self._delta_now(checkpoint)
                if state is None and delta is not None and mark is not None and mark >= delta[1]:
                    # judged at ``mark`` by every rule with the chain open, and no record of it since (every entry
                    # after the delta's start was read): it is still open, whichever line holds it
                    out.append(f"incident {incident_id}{f' by key {key[:16]}' if key else ''} (log index {at}) "
                               f"was open and affected release v{body['version']} of {model} when this client "
                               "last judged it, and no later record of it was logged since (every entry read): "
                               "not current until it is shown closed")
                    continue
            if state is not None and state not in OPEN_INCIDENT_STATES:
                self._closed[(str(body["bundle"]), fact)] = (int(at), closing)  # written only if complete (round 20)
                continue
            how = ("the records of its chain logged since, each proven, leave it " + str(state) + " (a record that "
                   "does not continue the one it was proven open from never closes it)" if later is not None else
                   f"its records in {where}, proven in the log, say it is still {state}" if state is not None else
                   "the registry's answer now leaves it out (a hidden entry or a rollback)")
            by = f" by key {key[:16]}" if key else ""
            out.append(f"incident {incident_id}{by} (log index {at}) was open and affected release v{body['version']} "
                       f"of {model} when this client last checked it; {how}: not current until it is shown closed")
        # Red team round 20: incidents an earlier check that was not a complete verified judgement saw open (``held``)
        # block an answer that is not one either; a complete judgement (the full rule) decides them instead.
        full = self._scan_cache is not None and self._scan_cache[0] == checkpoint.size
        if not full and (self._delta_now(checkpoint) is None or self._unverified):
            for fact, at in sorted(memory["held"].get(body["bundle"], {}).items()):
                key, incident_id = _unfact(fact)
                if fact in memory["open"].get(body["bundle"], {}) or shown.get((key, incident_id), -1) >= int(at):
                    continue
                by = f" by key {key[:16]}" if key else ""
                out.append(f"incident {incident_id}{by} (log index {at}) was seen open on release v{body['version']} "
                           f"of {model} by an earlier check of this client that was not verified, and this answer "
                           "does not show its chain since: not current until a verified check (a full scan) "
                           "decides it")
        return out

    def _delta_chain(self, incident_id: str, key: str | None, after: int, checkpoint: Any) -> tuple[str, int] | None:
        """The state and index of the (``key``, ``incident_id``) chain's current record, resumed from its record at
        ``after`` (the one this client proved it open from) over the delta's records of that chain logged after it
        (every entry since the delta's start, each proven), or None (no such record since, or no delta).

        Red team round 18 (R18-1): the chain's LATEST record since used to decide, continuing or not; a record under
        the same id and key with another publication date (an operator logs it; the honest store refuses it) closed
        an incident the full scan keeps open. The rule now is the full scan's own function
        (``views.current_incidents``), started from the remembered record, read again and proven here: only a
        record that continues it replaces it."""
        from weightwarden.registry.views import current_incidents

        if self._delta_now(checkpoint) is None or key is None:
            return None  # a round-15 fact (no key): closed only as _incident_state says (every chain of its id)
        later = []
        for i, logged in sorted(self._delta_kept.items()):
            record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA else None
            if (i > after and isinstance(record, dict) and str(record.get("id")) == incident_id
                    and str(logged["publisher"]["key_id"]) == key):
                later.append((i, key, record))
        if not later:
            return None
        record = self._fact_record(incident_id, key, after, checkpoint)["body"]["incident"]
        chain = [c for c in current_incidents(later, {(incident_id, key): (after, record)})
                 if c["id"] == incident_id and c["owner"] == key]
        assert len(chain) == 1  # one (id, key): one chain
        return str(chain[0]["state"]), int(chain[0]["index"])

    def _fact_record(self, incident_id: str, key: str, at: int, checkpoint: Any) -> dict[str, Any]:
        """The logged entry at ``at``, proven in ``checkpoint``'s tree, which must be the record of the (``key``,
        ``incident_id``) chain this client proved open there (red team round 18): anything else is a log that
        contradicts what was proven in a tree this one extends, or a damaged state: refused (fail closed)."""
        logged = self._logged(at, self.verified_entry(at, checkpoint), checkpoint)
        record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA else None
        if not isinstance(record, dict) or str(record.get("id")) != incident_id or \
                str(logged["publisher"]["key_id"]) != key:
            raise RegistryClientError(
                f"log misbehaviour or a damaged client state (refusing): this client proved incident {incident_id} "
                f"of key {key[:16]} open at log index {at}, but the entry proven there now is another one")
        return logged

    def _remembered_chains(self, body: dict[str, Any], entries: Mapping[int, Any], checkpoint: Any,
                           proven: dict[int, dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Any]]:
        """The chains the delta's walk resumes, ``(incident id, key) -> (log index, record)``, for
        ``views.current_incidents``'s ``known``: each chain this client remembered for the judged release at its
        last full judgement, open (``facts[line].open``) or proven closed since (``facts[line].closed``: a final
        record stays the chain's current one in the full scan, whatever is logged under the id later), of which
        ``entries`` hold ANY record.

        Red team round 18 (R18-1) resumed only chains with a record since the delta's start; round 19: a record
        that does not continue the chain, logged BEFORE the start in a line the delta reads (a declared base), stood
        for the chain's first record and closed it, while its real first records sit in lines the delta never
        reads. Now the remembered record is the chain's start whatever the entries hold, and records at or below
        it are ignored for that chain, as in the full scan, which reads the remembered record too.

        Red team round 21: every other chain of ``entries`` is resumed from its current record in the chain table
        carried to this tree (``_delta_heads``: every chain of the log, by the full rule, from the last full scan
        and every entry since), read and proven. Round 19 made only a chain with a record below the delta's start
        in the lines read unverified; a chain whose first record sits below the start in a line the delta never
        reads, and all of whose records read are at or after the start (a fork logged first, then the honest
        continuation that makes it reach the release), was judged from the fork. A chain the delta cannot anchor
        (no table reaching the delta's start: a state from before round 21, a table past MAX_CHAINS) makes the
        release unverified. ``proven``: records read already (by log index), reused across the walk's rounds."""
        delta = self._delta_now(checkpoint)
        assert delta is not None
        present: dict[tuple[str, str], int] = {}
        for i, logged in entries.items():
            record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA else None
            if isinstance(record, dict):
                chain = (str(record.get("id")), str(logged["publisher"]["key_id"]))
                present[chain] = min(int(i), present.get(chain, int(i)))
        memory = self._remembered(body["model"])
        bundle = str(body["bundle"])
        opened = memory["open"].get(bundle, {})
        origin = memory["closed_from"].get(bundle, {})
        remembered = {**{f: int(at) for f, at in memory["closed"].get(bundle, {}).items() if f not in opened},
                      **opened}
        out: dict[tuple[str, str], tuple[int, Any]] = {}
        for fact, at in sorted(remembered.items()):
            key, incident_id = _unfact(fact)
            if key is None or (incident_id, key) not in present:
                continue
            if fact not in opened:
                # Red team round 20: a closed marker is a chain start only when its record continues the one it
                # closed (a marker written at a fork by a check cut by a bound, before round 20, made a later delta
                # resume the chain from the fork: CURRENT, verified). One that does not check out (or names no
                # record: written before round 20) is not used, and the release is unverified.
                start = origin.get(fact)
                if start is None or not self._continues_at(incident_id, key, int(start), int(at), checkpoint):
                    self._unverified.add(f"{body['model']} v{body['version']} (the client state's closed marker of "
                                         f"incident {incident_id} of key {key[:16]} at log index {at} does not check "
                                         "out: a full scan re-proves it)")
                    self.notes.append(
                        f"the client state remembers incident {incident_id} of key {key[:16]} closed at log index {at},"
                        " but that marker " + ("names no record it closed (written before red team round 20)"
                                               if start is None else f"does not continue the record at {start}")
                        + ": not used; this answer is not verified (run a full scan to re-prove it)")
                    continue
            if int(at) not in proven:
                proven[int(at)] = self._fact_record(incident_id, key, int(at), checkpoint)
            out[(incident_id, key)] = (int(at), proven[int(at)]["body"]["incident"])
        heads = self._delta_heads(checkpoint)
        for incident_id, key in sorted(present):
            if (incident_id, key) in out:
                continue
            at = heads.get(_chain_id(key, incident_id)) if heads is not None else None
            if at is None:  # (a table that reaches the start holds every chain of the entries: never, then)
                self._unverified.add(f"{body['model']} v{body['version']} (incident {incident_id} of key "
                                     f"{key[:16]}: its records before the entries read are not known to this client)")
                if not any("no chain table" in n for n in self.notes):
                    self.notes.append("this client remembers no table of the log's incident chains reaching back to "
                                      "the entries read since its last full scan (a state from before red team round "
                                      "21, or more chains than it keeps): a chain met there may have earlier records "
                                      "in lines not read (no chain table; not independently verified; a full scan "
                                      "would verify it)")
                continue
            if at not in proven:  # an entry read already (proven) is used as it is; else read and proven here
                proven[at] = entries[at] if at in entries and _is_record_of(entries[at], incident_id, key) else \
                    {"body": {"incident": self._head_record(incident_id, key, at, checkpoint)}}
            out[(incident_id, key)] = (at, proven[at]["body"]["incident"])
        return out

    def _incident_state(self, incident_id: str, key: str | None, line: str, checkpoint: Any, at: int = -1
                        ) -> tuple[str | None, int]:
        """The state of the (``key``, ``incident_id``) chain as the proven entries of ``line`` give it, and the
        index of its current record (None: no record of it there, or the line is beyond what the client reads).
        A fact from before round 16 (``key`` None) is closed only when every chain with that id is.

        Red team round 20: a keyed chain is resumed from the remembered record at ``at`` (read and proven), by
        ``views.current_incidents`` with ``known``, over the line's records of the chain: a record of the line
        that does not continue the remembered one (a fork) never stands for the chain."""
        from weightwarden.registry.views import current_incidents

        limits: list[str] = []
        data = self._line_data(line, checkpoint, None, limits)
        if limits:
            return None, -1
        if key is not None and at >= 0:
            items = []
            for i, logged in sorted(data.logged.items()):
                record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA \
                    else None
                if isinstance(record, dict) and str(record.get("id")) == incident_id and \
                        str(logged["publisher"]["key_id"]) == key:
                    items.append((int(i), key, record))
            if not items:
                return None, -1
            remembered = self._fact_record(incident_id, key, at, checkpoint)["body"]["incident"]
            chain = current_incidents(items, {(incident_id, key): (at, remembered)})
            return str(chain[0]["state"]), int(chain[0]["index"])
        chains = [i for i in _line_view_at(line, checkpoint.size, data)["incidents"]
                  if str(i["id"]) == incident_id and (key is None or str(i.get("owner")) == key)]
        if not chains:
            return None, -1
        still = next((i for i in chains if str(i["state"]) in OPEN_INCIDENT_STATES), None)
        chosen = still or chains[0]
        return str(chosen["state"]), int(chosen["index"])

    def _remember(self, model: str, view: dict[str, Any], results: Sequence[Any], checkpoint: Any) -> None:
        """Keep the line's revocations and the open incidents of each release weighed (bounded), so a later
        answer that omits them is caught (``_recall``). Red team round 16 (F2): each open incident is kept as its
        (publisher key, incident id) chain, and leaves only when a proven later record of that same chain closes
        it (kept as a ``closed`` marker, so a merge with another process's older state does not revive it).

        Red team round 20: what this check saw is written in two parts. Now, monotone: a revocation, and each
        incident seen open that the client does not remember as proven open, as ``held`` (it blocks an unverified
        answer; it is never a chain start, never closes anything). Later, in ``_keep_facts``, and only when the
        judgement of the release is complete and verified (mode full or delta, no bound hit, nothing unverified):
        the incidents it proved open (``open``, replacing a stale marker) and those it proved closed by a record
        that CONTINUES the remembered one (``closed`` with ``closed_from``), both kept here in ``self._proofs``. A
        check cut by a bound once wrote a marker at a fork from its line-local view and dropped the open fact."""
        facts = self._key_state(self.log_verifier()).setdefault("facts", {})
        line = self._fact_line(facts, model)
        revoked = line.setdefault("revoked", {})
        for rel in view["releases"]:
            if rel["revoked"] and len(revoked) < MAX_FACTS:
                revoked.setdefault(str(rel["bundle"]), int(rel["revoked"]["index"]))
        opened = line.get("open", {})
        held_all = line.setdefault("held", {})
        via = line.setdefault("via", {})
        for _, body, _, _, incidents in results:
            bundle = str(body["bundle"])
            mine = opened.get(bundle, {})
            held = dict(held_all.get(bundle, {}))
            proved: dict[str, int] = {}
            closes: dict[str, tuple[int, int]] = {}
            for hit in incidents:
                fact = _fact(hit.get("owner"), hit["id"])
                if hit["state"] in OPEN_INCIDENT_STATES:
                    if fact not in proved and len(proved) >= MAX_FACTS:
                        # red team round 17: a fact not remembered is no complete judgement for a later delta
                        self._walks[(model, bundle)] = INCOMPLETE_WALK
                        continue
                    proved[fact] = int(hit["index"])
                    if fact not in mine and fact not in held and len(mine) + len(held) < MAX_FACTS:
                        held[fact] = int(hit["index"])
                    if hit.get("via") and len(via) < MAX_FACTS:
                        via[fact] = str(hit["via"])[:200]
                elif fact in mine and int(hit["index"]) > int(mine[fact]):
                    key, incident_id = _unfact(fact)
                    if key is not None and self._continues_at(incident_id, key, int(mine[fact]), int(hit["index"]),
                                                              checkpoint):
                        closes[fact] = (int(mine[fact]), int(hit["index"]))
            for (b, fact), (at, closing) in self._closed.items():
                if b == bundle and fact in mine and int(mine[fact]) == at:
                    closes[fact] = (at, closing)
            if held:
                held_all[bundle] = held
            self._proofs[(model, bundle)] = (proved, closes)
        line["held"] = {b: x for b, x in held_all.items() if x}
        if not line["held"]:
            del line["held"]

    def _continues_at(self, incident_id: str, key: str, at: int, closing: int, checkpoint: Any) -> bool:
        """Whether the (``key``, ``incident_id``) record at ``closing`` continues the one at ``at`` (both read and
        proven in ``checkpoint``'s tree): the rule of ``views.current_incidents`` with ``known``, the one every
        chain decision uses (red team round 20: a record that does not continue the remembered one never closes
        it, and a marker that does not check out is never a chain start)."""
        from weightwarden.registry.views import current_incidents

        if closing <= at:
            return False
        remembered = self._fact_record(incident_id, key, at, checkpoint)["body"]["incident"]
        try:
            record = self._fact_record(incident_id, key, closing, checkpoint)["body"]["incident"]
        except RegistryClientError:
            return False  # not a record of this chain at all
        chain = current_incidents([(closing, key, record)], {(incident_id, key): (at, remembered)})
        return len(chain) == 1 and int(chain[0]["index"]) == closing

    def _settle(self, facts: dict[str, Any], model: str, bundle: str) -> None:
        """Write what a complete, verified judgement of (``model``, ``bundle``) proved (``self._proofs``): the
        incidents open now (a stale marker of the same chain goes: the judgement re-proved it open), the remembered
        ones closed by a continuing record (marker and ``closed_from``), and no ``held`` fact (this judgement is
        the full rule's answer for the release: what it did not find open is not open)."""
        proved, closes = self._proofs.get((model, bundle), ({}, {}))
        line = facts.setdefault(model, {})
        opened = line.setdefault("open", {}).setdefault(bundle, {})
        closed = line.setdefault("closed", {}).setdefault(bundle, {})
        origin = line.setdefault("closed_from", {}).setdefault(bundle, {})
        for fact, at in proved.items():
            if fact in opened or len(opened) < MAX_FACTS:
                opened[fact] = at
                closed.pop(fact, None)
                origin.pop(fact, None)
            else:  # red team round 17: a fact not remembered is no complete judgement for a later delta
                self._walks[(model, bundle)] = INCOMPLETE_WALK
        for fact, (at, closing) in closes.items():
            if opened.get(fact) == at and fact not in proved:
                closed[fact] = closing
                origin[fact] = at
                opened.pop(fact)
        if len(closed) > MAX_FACTS:
            keep = dict(sorted(closed.items(), key=lambda kv: kv[1])[-MAX_FACTS:])
            line["closed"][bundle] = keep
            line["closed_from"][bundle] = {f: x for f, x in origin.items() if f in keep}
        line.get("held", {}).pop(bundle, None)
        for key in ("open", "closed", "closed_from", "held"):
            line[key] = {b: x for b, x in line.get(key, {}).items() if x}
            if not line[key]:
                del line[key]

    # entries -----------------------------------------------------------------------------------------------

    def _logged(self, index: int, data: bytes, checkpoint: Any = None) -> dict[str, Any]:
        """A logged entry the client reads, checked against the entry schema (a malformed entry, a hostile
        operator's, is a clear error, never a KeyError deep in the verdict) and authenticated by its publisher.

        Red team round 10 (F1): every entry that feeds a decision comes through here (full scan, line index,
        the signed view's incidents, release lookups), and each must prove who wrote it: the key id is the
        hash of the public key it carries and the publisher's request signature verifies over exactly what
        the server verified at admission (``auth.logged_request_problem``, the same ``request_message``).

        Red team round 11 (D1): ONE replay rule on both sides. A signed request is (key, timestamp, nonce,
        body); the server admits it at most once (the clock window refuses its timestamp once the nonce row
        could have been purged, store.append), and an operator without the key can only repeat such a request
        byte for byte. So the log may carry a (key, nonce) pair twice with two timestamps (the key's holder
        reused a nonce after the window: the honest server admits both, and so must every reader, or one key
        would make every full scan refuse for ever); the same (key, nonce, timestamp) twice is a replay.
        (D2) The body must be plain (``entries.canonical_plain``): it is canonicalised once, on the C path.
        Either is log misbehaviour: refused with the evidence (index, leaf hash, tree), never skipped."""
        try:
            logged = _entries.parse_logged(data)
            raw_body = _entries.check_body(logged["body"]).raw
            key_id = logged.get("publisher", {}).get("key_id")
            if not isinstance(key_id, str):
                raise _entries.EntryError("the entry names no publisher key")
        except (_entries.EntryError, AttributeError) as exc:
            raise RegistryClientError(f"log entry {index} is not a valid entry: "
                                      f"{getattr(exc, 'reason', exc)}") from None
        problem = logged_request_problem(logged.get("publisher"), logged.get("request"), self.log_verifier().name,
                                         raw_body)
        if problem is None:
            request = logged["request"]
            signed = (key_id, str(request["nonce"]), int(request["timestamp"]))
            first = self._requests.setdefault(signed, index)
            if first != index:
                problem = (f"it repeats the signed request (key {key_id[:16]}, nonce {signed[1]}, timestamp "
                           f"{signed[2]}) already logged at index {first}: a replay, which the registry must "
                           "refuse")
        if problem is not None:
            tree = (f" in the verified tree of size {checkpoint.size}, root {base64.b64encode(checkpoint.root_hash).decode()}"
                    if checkpoint is not None else "")
            raise RegistryClientError(
                f"the log holds an entry its publisher did not sign (log misbehaviour; refusing): entry {index} "
                f"(leaf hash {leaf_hash(data).hex()}{tree}): {problem}")
        return logged

    def _full(self, checkpoint: Any) -> bool:
        """Whether ``checkpoint``'s tree is judged from every entry (the full scan): the log is at most
        ``full_scan_max`` entries AND its PROVEN, publisher-signed entries fit the full scan's byte budget.
        Red team round 14 (D3): a log whose entries do not fit is judged in the index mode (each entry used
        proven, as for a log above ``full_scan_max``), never refused. Red team round 15 (F1): only bytes that
        proved against the signed tree and carry their publisher's signature count (``_scanned``), so nobody
        but publishers, within the server's per-key daily budget, can move a client to the index mode; and
        the answer then says plainly that its guarantee is the weaker one (``CheckResult.mode``)."""
        if self._scan_cache is not None and self._scan_cache[0] == checkpoint.size:
            return True
        if checkpoint.size > self.full_scan_max:
            self._index_why = (f"the log of {checkpoint.size} entries is above the full-scan limit "
                               f"{self.full_scan_max}")
            self._try_delta(checkpoint)
            return False
        if self._scan_over == checkpoint.size:
            return False
        try:
            self._scanned(checkpoint)
        except ScanOverBudget as over:
            self._check_scan_memory(checkpoint, over)
            self._scan_over = checkpoint.size
            self._index_why = over.note()
            self.notes.append(over.note())
            self._try_delta(checkpoint)
            return False
        return True

    def _delta_now(self, checkpoint: Any) -> tuple[int, int, dict[str, list[int]], dict[str, set[int]]] | None:
        """The delta scan of ``checkpoint``'s tree, when this check has one."""
        if self._delta is not None and self._delta[0] == checkpoint.size:
            return self._delta
        return None

    def _try_delta(self, checkpoint: Any) -> None:
        """Red team round 16 (F1a): the index mode's verdict rests on the operator's index. A client that scanned
        this log fully before, at size N (the tree now is consistent with that one: ``_check_memory``), has no need
        of the index for entries below N: it proved each remembered line's entries there. It reads the entries
        N..M whole instead, each bundle proven and each entry signed (``_proven_bundle``, ``_logged``), under its
        own bounds (``delta_max`` entries and ``delta_budget`` proven bytes: what this client has not seen yet).
        This applies on the count path and on the byte path alike (the one-way rule: a client that scanned a log
        is never moved to the operator's word by the log's growth alone). Over its bounds, the
        index mode stays, said as unverified."""
        from weightwarden.registry import tiles

        if self._delta_tried == checkpoint.size:
            return
        self._delta_tried = checkpoint.size
        self._delta = None
        seen = self._key_state(self.log_verifier()).get("scan")
        if not isinstance(seen, dict) or not isinstance(seen.get("size"), int):
            return
        start = int(seen["size"])
        if not 0 < start <= checkpoint.size:
            return
        # Red team round 16b: start where every remembered release's judgement is complete (``checked``: the tree
        # size it was last judged at by every rule), so a release judged before the last scan is judged again over
        # every entry since (a mark too old for the delta's bound leaves that release unverified instead).
        facts = self._key_state(self.log_verifier()).get("facts", {})
        marks = [int(v) for line in facts.values() for v in (*line.get("checked", {}).values(),
                                                             *line.get("sole", {}).values())
                 if 0 < int(v) <= start and checkpoint.size - int(v) <= self.delta_max]
        scan_size, start = start, min([start, *marks])
        fresh = 0  # proven bytes past the last scan's size (what the scan memory's byte count adds)
        if checkpoint.size - start > self.delta_max:
            self.notes.append(f"{checkpoint.size - start} entries were logged since this client's last full scan "
                              f"(size {start}), more than the {self.delta_max} it reads since then")
            return
        total = 0
        logged: list[tuple[int, dict[str, Any]]] = []
        kept: dict[int, dict[str, Any]] = {}
        every: dict[str, list[int]] = {}
        events: dict[str, set[int]] = {}
        for n in range(start // tiles.TILE_WIDTH, (checkpoint.size + tiles.TILE_WIDTH - 1) // tiles.TILE_WIDTH):
            _, found = self._proven_bundle(n, checkpoint)
            logged = [(n * tiles.TILE_WIDTH + i, self._logged(n * tiles.TILE_WIDTH + i, data, checkpoint))
                      for i, data in enumerate(found) if n * tiles.TILE_WIDTH + i >= start]
            total += sum(2 + len(data) for i, data in enumerate(found) if n * tiles.TILE_WIDTH + i >= start)
            fresh += sum(2 + len(data) for i, data in enumerate(found) if n * tiles.TILE_WIDTH + i >= scan_size)
            if total > self.delta_budget:
                self.notes.append(f"the entries logged since this client's last full scan (size {start}) hold more "
                                  f"than {self.delta_budget} proven bytes, more than it reads since then")
                return
            tile_every, tile_events, _ = _index_lines(logged)  # indexes only: memory stays small
            # the entries the affecting rule weighs (releases, revocations, incidents): kept for the walk
            kept.update((i, e) for i, e in logged if _entries.KIND_BY_SCHEMA.get(e["body"].get("schema")) != "audit")
            for m, xs in tile_every.items():
                every.setdefault(m, []).extend(xs)
            for m, ys in tile_events.items():
                events.setdefault(m, set()).update(ys)
        self._delta = (checkpoint.size, start, every, events)
        self._delta_kept = kept
        self._delta_bytes = fresh

    def _scanned(self, checkpoint: Any) -> list[dict[str, Any]]:
        """Every entry of the tree, each bundle proven against the root and each entry authenticated by its
        publisher (``_logged``) BEFORE its bytes count toward the full scan's budget (red team round 15, F1):
        junk, a bundle that does not prove, or an unsigned entry is an error, never a reason to fall back.
        Cached per tree size; the proven bytes are remembered per log in the state (``_check_scan_memory``)."""
        cached = self._scan_cache
        if cached is None or cached[0] != checkpoint.size:
            out: list[dict[str, Any]] = []
            total = 0
            for first, path, found in self._proven_bundles(checkpoint):
                out.extend(self._logged(first + i, d, checkpoint) for i, d in enumerate(found))
                total += sum(2 + len(d) for d in found)
                if total > self.full_scan_budget:
                    raise ScanOverBudget(path.lstrip("/"), total, self.full_scan_budget, found)
            cached = (checkpoint.size, out)
            self._scan_cache = cached
            mine = self._key_state(self.log_verifier())
            mine["scan"] = {"size": checkpoint.size, "bytes": total, "budget": self.full_scan_budget}
            # red team round 21: the chain table, from every entry (written with the scan mark, as it is derived)
            self._store_heads(mine, checkpoint.size, _chain_heads(enumerate(out), {}, lambda *_: {}))
        return cached[1]

    def _check_scan_memory(self, checkpoint: Any, over: ScanOverBudget) -> None:
        """The fallback is one-way per log: a client that scanned this log fully at size N with B proven bytes
        accepts "over budget" at size M only if the entries since can explain it (B + (M - N) x the largest
        entry > the budget). With every counted byte proven this cannot fail for an honest log; it stays as a
        second line (red team round 15, F1) so that a future change in what is counted cannot silently reopen
        the operator-chosen downgrade."""
        from weightwarden.registry.tiles import MAX_ENTRY_SIZE

        seen = self._key_state(self.log_verifier()).get("scan")
        if not isinstance(seen, dict) or seen.get("budget") != over.budget:
            return  # never scanned fully, or under another budget (the caller's choice, not the log's)
        size, done = int(seen.get("size", 0)), int(seen.get("bytes", 0))
        if size <= checkpoint.size and done + (checkpoint.size - size) * (2 + MAX_ENTRY_SIZE) <= over.budget:
            raise RegistryClientError(
                f"log misbehaviour (refusing): this client scanned this log fully at size {size} ({done} proven bytes); "
                f"the {checkpoint.size - size} entries since cannot take it over the full scan's budget of "
                f"{over.budget} bytes, yet it is over at /{over.tile}")

    def _find_releases(self, path: Any, bundle: Any, model: str | None,
                       checkpoint: Any) -> list[tuple[int, dict[str, Any]]]:
        """Every release matching the bundle digest (``bundle``) or the root digest of the files at ``path``
        (of line ``model`` when given). Up to ``full_scan_max`` entries they are found in the entries
        themselves; above, the registry's lookup is a hint and each release it names is proven."""
        digest = root = None
        expected: dict[str, Any] | None = None
        self._bundle_mismatch: list[str] = []
        if bundle is not None:
            from weightwarden.integrity.bundle import read_bundle_file

            try:
                raw = read_bundle_file(bundle)
            except OSError as exc:
                raise InputError(f"{bundle}: cannot read the bundle: {exc.strerror or exc}") from None
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            expected = self._bundle_fields(bundle, raw)
        else:
            if path is None:
                raise InputError("check needs a model path or a bundle")
            root = _default_root(path)
        self._match = (digest, root, expected)
        matches = self._matches

        def agrees(index: int, body: dict[str, Any]) -> bool:
            return self._agrees(index, body, model)

        found: list[tuple[int, dict[str, Any]]] = []
        full = self._full(checkpoint)
        if not full and model is not None and self._delta_now(checkpoint) is not None:
            # Red team round 17 (F1): with a delta and a named line, the matches are the line's proven releases
            # (its entries are complete: those this client proved up to its last scan, and every entry since); the
            # registry's lookup is not asked at all. A line the client cannot read whole falls back to the lookup
            # and is judged unverified (``_line_data``).
            data = self._line_data(model, checkpoint, None)
            if model not in self._unverified:
                return [(i, b) for i, b in sorted(data.release_bodies.items())
                        if i < checkpoint.size and matches(b) and agrees(i, b)]
        if full:
            for index, logged in enumerate(self._scanned(checkpoint)):
                body = logged["body"]
                if body["schema"] == _entries.RELEASE_SCHEMA and matches(body) and agrees(index, body):
                    found.append((index, body))
        else:
            query = {"bundle": digest} if digest is not None else {"subject": root}
            if model is not None:
                query["model"] = model  # red team round 15 (D1): the server filters by line, the client proves
            answer = self._get_json("/releases", **query)
            candidates = answer.get("releases") if isinstance(answer, dict) else None
            if not isinstance(candidates, list):
                raise RegistryClientError("the registry's release lookup is not a list")
            for cand in candidates:
                if not isinstance(cand, dict) or not isinstance(cand.get("index"), int):
                    raise RegistryClientError("the registry's release lookup is malformed")
            if model is not None:  # the lines as the registry claims them: each one kept is proven below
                candidates = [c for c in candidates if c.get("model") in (model, None)]
            if len(candidates) > MAX_CANDIDATES:
                # Red team round 15 (D1): one key could log 17 small releases claiming another publisher's digest
                # and make every index-mode check of it refuse. The bound is applied after the line filter, and
                # hitting it is a verdict (ambiguous / not fully checked), never an error.
                claimed = sorted({str(c.get("model"))[:200] for c in candidates})
                if model is None and len(claimed) > 1:
                    shown = ", ".join(claimed[:8]) + (" ..." if len(claimed) > 8 else "")
                    self._lookup_reasons.append(
                        f"ambiguous: the registry lists {len(candidates)} releases in {len(claimed)} model lines "
                        f"claiming {'this bundle' if digest else 'these files'} (as it says: {shown}); the registry "
                        "cannot say whose release it is (pass --model to name the line you trust)")
                else:
                    self._lookup_reasons.append(
                        f"the registry lists {len(candidates)} releases of {model or claimed[0]} claiming this digest, "
                        f"more than the {MAX_CANDIDATES} this client weighs: not fully checked")
                if self._delta_now(checkpoint) is not None:  # the lookup's word, not a full scan's answer
                    self._unverified.add("the registry's release lookup")
                return []
            for cand in candidates:
                index = int(cand["index"])
                if index >= checkpoint.size:
                    self.notes.append(f"a matching release is at log index {index}, after the verified checkpoint "
                                      f"(size {checkpoint.size}{', the newest the witnesses cosigned' if self.quorum else ''})")
                    continue
                body = self._logged(index, self.verified_entry(index, checkpoint), checkpoint)["body"]
                if body.get("schema") != _entries.RELEASE_SCHEMA:
                    raise RegistryClientError(f"entry {index} is not a release although the registry said so")
                if not matches(body):
                    what = (f"the release of another bundle ({body['bundle']}), not of {digest}" if digest
                            else "a release whose files' digest is not the one computed here")
                    raise RegistryClientError(f"the registry pointed at entry {index}, which is {what}")
                if agrees(index, body):
                    found.append((index, body))
            if self._delta_now(checkpoint) is not None and (not found or self._lookup_reasons):
                # the lookup is a hint: "nothing matches" (or "too many") on its word alone is not a full scan's answer
                self._unverified.add("the registry's release lookup")
        return [(i, b) for i, b in found if model is None or b["model"] == model]

    def _matches(self, body: dict[str, Any]) -> bool:
        """``body`` (a release) is of the bundle, or of the files, this check is about."""
        digest, root, _ = self._match
        return body["bundle"] == digest if digest is not None else body["subject"]["sha256"] == root

    def _match_key(self) -> str:
        digest, root, _ = self._match
        return f"bundle {digest}" if digest is not None else f"subject {root}"

    def _agrees(self, index: int, body: dict[str, Any], model: str | None) -> bool:
        """A release naming the bundle must state what the bundle's signed statement states (red team
        round 2: another namespace logged tampered files under a real bundle's digest)."""
        expected = self._match[2]
        if expected is None or (model is not None and body["model"] != model):
            return True
        differ = sorted(k for k in expected if body.get(k) != expected[k])
        if differ:
            self._bundle_mismatch.append(
                f"the release of {body['model']} at log index {index} names this bundle, but its "
                f"{', '.join(differ)} differ from the bundle's signed statement: it is not a release of "
                "this bundle")
        return not differ

    def _delta_matches(self, line: str, data: _LineData, model: str | None, found: list[tuple[int, dict[str, Any]]],
                       checkpoint: Any, what: str) -> tuple[list[tuple[int, dict[str, Any]]], list[str] | None]:
        """Red team round 17 (F1): the releases a delta weighs, as a full scan finds them: every release of ``line``
        (complete, proven) that matches; without ``model``, a release of another line logged since the delta's start
        that matches makes the answer ambiguous (as in a full scan), and one logged before it can be excluded only
        if this client, judging without --model at a size at or after the start, found every match in this line
        (``sole``); else the answer is unverified. Returns the matches and, when the answer is already "not
        current", its reasons."""
        delta = self._delta_now(checkpoint)
        assert delta is not None
        self._bundle_mismatch = []
        proven = [(i, b) for i, b in sorted(data.release_bodies.items())
                  if i < checkpoint.size and self._matches(b) and self._agrees(i, b, model)]
        known = {i for i, _ in proven}
        left_out = sorted(i for i in known if i not in {j for j, _ in found})
        if left_out and found:
            self.notes.append(f"the registry's release lookup left out the matching release(s) of {line} at log "
                              f"index {', '.join(map(str, left_out[:8]))}, proven in the line: weighed")
        proven.extend((i, b) for i, b in found if i not in known)  # (none: the line is complete)
        proven.sort(key=lambda ib: ib[0])
        others: set[str] = set()
        if model is None:
            for i, logged in sorted(self._delta_kept.items()):
                b = logged["body"]
                if (b.get("schema") == _entries.RELEASE_SCHEMA and b["model"] != line and self._matches(b)
                        and self._agrees(i, b, None)):
                    others.add(str(b["model"]))
        if self._bundle_mismatch:
            return [], list(self._bundle_mismatch)
        if others:
            lines = sorted({line, *others})
            return [], [f"ambiguous: {len(lines)} model lines claim {what}: {', '.join(lines)}; the registry cannot "
                        "say whose release it is (pass --model to name the line you trust)"]
        if model is None and self._remembered(line)["sole"].get(self._match_key(), 0) < delta[1]:
            self._unverified.add(f"the lines claiming {what}")
            self.notes.append(f"without --model, another line's release of {what} logged before the entries read "
                              "since this client's last full scan is not excluded (it did not find every match in "
                              f"{line} then): not independently verified (pass --model {line})")
        return proven, None

    def _bundle_fields(self, bundle: Any, raw: bytes) -> dict[str, Any]:
        """The release fields the bundle's signed statement gives (subject, files, serialization, freshness),
        after the integrity package's verifier checked the signature. A key bundle is verified with the key
        it carries (which proves the statement is what was signed, not who signed it); a certificate bundle
        is parsed only (no trust roots are given to ``check``): say so."""
        from weightwarden.integrity.bundle import KIND_PUBLIC_KEY, BundleError, parse_bundle
        from weightwarden.integrity.verifying import KeyVerifier, VerificationError

        try:
            parsed = parse_bundle(raw)
        except BundleError as exc:
            raise InputError(f"{bundle}: {exc.reason}") from None
        material = parsed.verification_material
        if material.kind == KIND_PUBLIC_KEY and material.public_key_raw is not None:
            try:
                KeyVerifier(material.public_key_raw).verify(parsed)
            except (VerificationError, WeightwardenError) as exc:
                raise InputError(f"{bundle}: the bundle's signature does not verify: "
                                 f"{getattr(exc, 'reason', exc)}") from None
        else:
            self.notes.append(f"{bundle}: the bundle's signer is not verified here (certificate or key hint only): "
                              "use `weightwarden verify` with the signer's identity")
        try:
            body = _entries.release_body(model="x/y", statement=parsed.payload, bundle_bytes=raw)
        except _entries.EntryError as exc:
            raise InputError(f"{bundle}: {exc.reason}") from None
        return {k: body[k] for k in ("subject", "serialization", "files", "bundle", "issued_at", "expires",
                                     "supersedes")}

    def _line_data(self, model: str, checkpoint: Any, signed: Any, limits: list[str] | None = None) -> _LineData:
        """The entries of ``model``'s line in ``checkpoint``'s tree, each one proven. Up to ``full_scan_max``
        entries from every entry (root-verified); above, the entries the registry's index lists plus those
        the signed view names, each with an inclusion proof (what the index leaves out shows up as a
        mismatch with the signed view's entry count and digest)."""
        data = _LineData()
        self._lines_read.add(model)
        if self._full(checkpoint):
            for index, logged in enumerate(self._scanned(checkpoint)):
                data.add(model, index, logged)
            self.notes.append(f"model line derived from all {checkpoint.size} log entries (root verified)")
            return data
        listed, over = self._line_index(model, checkpoint, base=limits is not None)
        memory = self._remembered(model)
        # Red team round 16 (F1a): below the last full scan the line's entries are those this client proved there
        # (``events``, complete up to ``upto``); after it, every entry was read (the delta). The registry's index is
        # then only a hint. Without both, the line is judged on the operator's word: said as unverified.
        delta = self._delta if self._delta is not None and self._delta[0] == checkpoint.size else None
        start = delta[1] if delta is not None else checkpoint.size
        if delta is None or memory["upto"] < start:
            self._unverified.add(model)
        wanted = set(listed)
        if signed is not None:
            rel = signed.release
            wanted.update(i for i in (rel.latest_index, *rel.revocations) if i is not None)
        # Red team round 15 (F1c): revocations of this line that this client proved before are facts of the log
        # (the tree is consistent with the one they were proven in): read again, whatever the index says.
        wanted.update(memory["revoked"].values())
        wanted.update(memory["events"])
        # The line's entries since the last scan: all of them, from the delta (each proven again as read).
        since = set(delta[2].get(model, [])) if delta is not None else set()
        proven = self._proven_entries(sorted({i for i in wanted if 0 <= i < start} | since), checkpoint,
                                      base=limits is not None, model=model, listed={i for i in listed if i < start})
        if proven is None:
            assert limits is not None
            limits.append(f"the declared base {model} holds more log entries than the index mode reads for the "
                          f"declared bases ({self.base_budget} proven bytes in all): not fully checked")
            return data
        for index, logged in proven:
            data.add(model, index, logged)
        if over:  # counted only once every listed entry proved to be of the line (red team round 16, F3)
            bound = MAX_BASE_ENTRIES if limits is not None else MAX_LINE_ENTRIES
            if limits is None:
                raise RegistryClientError(f"the registry lists more than {bound} log entries of {model}: over "
                                          "what this client reads of one line in the index mode")
            limits.append(f"the declared base {model} has more than {bound} log entries, more than the index "
                          "mode reads for a base: not fully checked")
            return data
        self.notes.append(f"model line {model} from the registry's index; each entry used was proven in the log "
                          f"({self._index_why or 'index mode'})")
        return data

    def _line_index(self, model: str, checkpoint: Any, *, base: bool) -> tuple[list[int], bool]:
        """The log indexes the registry lists for ``model`` (a hint: each is proven when read), paged, and
        whether it lists more than the bound (``MAX_BASE_ENTRIES`` for a declared base, else
        ``MAX_LINE_ENTRIES``; the first bound + 1 are returned, for the caller to prove before counting).

        Red team round 15 (D2): the whole view (``/models/M``) keeps every incident record, withdrawn ones in
        full, so a base line's owner could push it over the answer cap and every derivative's check failed.
        The index mode reads indexes only, a page at a time. Red team round 16 (F3): a bound hit by listed
        indexes that were never proven to be of the line let anyone on the path turn a current model into "not
        fully checked"; the caller now proves every listed entry is of the line before the bound counts."""
        out: list[int] = []
        after = -1
        bound = MAX_BASE_ENTRIES if base else MAX_LINE_ENTRIES
        while True:
            page = self._get_json(f"/models/{model}/entries", after=after, limit=LINE_PAGE)
            listed, following = page.get("entries"), page.get("next")
            if (not isinstance(listed, list) or not all(type(i) is int for i in listed)
                    or not (following is None or type(following) is int) or len(listed) > LINE_PAGE
                    or any(i <= after for i in listed) or (following is not None and following <= after)):
                raise RegistryClientError(f"the registry's index of {model} is malformed")
            out.extend(i for i in listed if i < checkpoint.size)
            if len(out) > bound:
                return out[: bound + 1], True
            if following is None or following >= checkpoint.size:
                return out, False
            after = following

    def _proven_entries(self, indexes: Sequence[int], checkpoint: Any, *, base: bool = False, model: str = "",
                        listed: set[int] | frozenset[int] = frozenset()
                        ) -> list[tuple[int, dict[str, Any]]] | None:
        """The entries at ``indexes`` of ``checkpoint``'s tree, each proven and signed (``_logged``); None once
        the declared base lines' reads (``base``) pass ``base_budget`` proven bytes in this check.

        Red team round 15 (D2b): two requests per entry (the entry and its inclusion proof) made a line of
        thousands of entries cost thousands of round trips. Where a bundle holds several wanted entries it is
        read once and proven whole against the authenticated hash tile (``_proven_bundle``); a lone entry is
        still read with its inclusion proof. Bytes count only once proven. Red team round 16 (F3): an entry the
        registry's index of ``model`` lists (``listed``) that proves to be of another line is log misbehaviour
        (an error with the evidence), checked before its bytes count."""
        from weightwarden.registry import tiles

        by_tile: dict[int, list[int]] = {}
        for i in indexes:
            by_tile.setdefault(i // tiles.TILE_WIDTH, []).append(i)
        out: list[tuple[int, dict[str, Any]]] = []
        for n, wanted in sorted(by_tile.items()):
            if len(wanted) >= BULK_MIN:
                _, found = self._proven_bundle(n, checkpoint)
                got = [(i, found[i - n * tiles.TILE_WIDTH]) for i in wanted]
            else:
                got = [(i, self.verified_entry(i, checkpoint)) for i in wanted]
            logged = [(i, self._logged(i, d, checkpoint)) for i, d in got]
            for i, entry in logged:
                if i in listed and model not in _models_of(entry, i):
                    raise RegistryClientError(
                        f"log misbehaviour (refusing): the registry's index of {model} lists log entry {i} (leaf hash "
                        f"{leaf_hash(dict(got)[i]).hex()}), which is proven in the log but is an entry of "
                        f"{', '.join(sorted(_models_of(entry, i))[:4]) or 'no model line'}, not of {model}")
            if base:  # the judged line is its owner's; only another's declared base is bounded in bytes
                self._index_bytes += sum(2 + len(d) for _, d in got)
                if self._index_bytes > self.base_budget:
                    return None
            out.extend(logged)
        return out

    def _line_view(self, model: str, checkpoint: Any) -> dict[str, Any]:
        return _line_view_at(model, checkpoint.size, self._line_data(model, checkpoint, None))

    # freshness ---------------------------------------------------------------------------------------------

    def _seen(self) -> Any:
        """The view versions accepted so far, kept per log (its verifier key): a registry trusted once can
        never make another registry's views look like rollbacks."""
        from weightwarden.registry.freshness import LastSeen

        vkey = self.log_verifier().vkey()
        return LastSeen(self.seen_path.with_name(f"seen-{hashlib.sha256(vkey.encode()).hexdigest()[:16]}.json"))

    def _signed_view(self, model: str, checkpoint: Any) -> tuple[Any, list[str], Any, Any]:
        """The verified signed view of ``model`` (or None and why not), the checkpoint to use, and the
        newest log-signed checkpoint that holds the view's tree (to prove entries the view names).

        The view must describe the whole verified tree (red team round 2): a view made at a bigger tree
        than ``checkpoint`` needs a newer consistent checkpoint (none: the log is served frozen); a view
        made at a smaller tree is fetched again (entries may have been appended in between), and if it is
        still older it is a replayed or stale view, which says nothing about the newer entries: not current.
        With a witness quorum the view may be ahead of the witnessed checkpoint, never behind it.

        Red team round 12 (F1): the view signer is the operator, so no fact comes from the view alone. A view
        ahead of the judged tree (with or without a quorum) must be of the latest log-signed checkpoint, which is
        proven consistent with the witnessed tree and with every checkpoint this client remembers; that
        checkpoint becomes the judged one, so the line is read from entries proven in it and the view's facts
        are compared with them (``_compare_signed``). With a quorum the witnessed prefix keeps its guarantee; the
        entries past it are the log's (publisher-signed, proven), which the operator can withhold but not
        forge."""
        from cryptography.hazmat.primitives import serialization

        from weightwarden.registry.freshness import FreshnessError, verify_current_view

        self.log_verifier()
        pem = self._log["view_key"] if self._log else None
        if not pem:
            return (None, ["the registry publishes no freshness-view key: freshness cannot be checked"], checkpoint,
                    checkpoint)
        if not _is_ed25519_pem(pem):
            raise RegistryClientError("the remembered freshness-view key is not an Ed25519 public key (fix or remove "
                                      "the client state)")
        key = serialization.load_pem_public_key(pem.encode("ascii"))
        seen = self._seen()
        head = checkpoint
        # Round 11 (R1b): a witnessed checkpoint trailing a log-signed tree this client verified before judges
        # only a prefix of what it knows; the view must cover the bigger tree, else: not current. Round 12 (F1):
        # that view must then be of the latest log-signed tree, and the line is judged over it (see above).
        floor = self._floor[0] if self.quorum and self._floor is not None else 0
        for attempt in range(VIEW_FETCHES):
            try:
                data = self._get(f"/current/{model}")
            except _NotFound:
                return None, [f"the registry serves no current-release view of {model}"], checkpoint, checkpoint
            try:
                verified = verify_current_view(data, key, model_line=model, last_seen=seen.get(model))
            except FreshnessError as exc:
                return None, [f"freshness: {exc.reason}"], checkpoint, checkpoint
            rel = verified.release
            if rel.tree_size is None:
                return None, [f"freshness: the view of {model} does not say which tree it describes (tree size, "
                              "root and line facts): it cannot be checked against the log"], checkpoint, checkpoint
            if rel.tree_size > head.size:
                head = self._newer_head(checkpoint)
                if rel.tree_size > head.size:
                    return None, [f"freshness: the signed view of {model} was made at tree size {rel.tree_size}, "
                                  f"but the newest checkpoint this registry serves has {head.size} entries: the "
                                  "log is served frozen or stale (a mirror hiding newer entries?)"], checkpoint, checkpoint
                if self.quorum and head.size > checkpoint.size:
                    self.notes.append(f"the signed view (tree size {rel.tree_size}) is ahead of the witnessed "
                                      f"checkpoint ({checkpoint.size}): the line is judged over the log-signed "
                                      f"tree of {head.size} entries (consistent with the witnessed one), each fact "
                                      "proven in it and compared with the view")
                checkpoint = head
            if rel.tree_size >= max(checkpoint.size, floor) and rel.tree_size == head.size:
                break
            if attempt == VIEW_FETCHES - 1 and rel.tree_size < floor:
                return None, [f"freshness: the signed view of {model} was made at tree size {rel.tree_size}, but this "
                              f"client already verified a log-signed tree of {floor} entries (the witnessed one, "
                              f"{checkpoint.size}, trails it): not current until the witnesses and the view catch "
                              "up"], checkpoint, checkpoint
            if attempt == VIEW_FETCHES - 1:
                return None, [f"freshness: the signed view of {model} was made at tree size {rel.tree_size}, older "
                              f"than the verified checkpoint ({max(checkpoint.size, head.size)} entries): a replayed "
                              "or stale view binds only a prefix of the log, not the entries after it"], checkpoint, checkpoint
        self._check_view_tree(rel.tree_size, bytes.fromhex(rel.tree_root), head)
        seen.remember(model, verified.seen)
        self.notes.append(f"freshness view v{verified.version} (tree size {rel.tree_size}) valid until "
                          f"{verified.expires.isoformat()}")
        return verified, [], checkpoint, head

    def _newer_head(self, checkpoint: Any) -> Any:
        """The registry's latest log-signed checkpoint, proven consistent with ``checkpoint``. Without a
        witness quorum it becomes the verified checkpoint; with one it is only used to place the view."""
        if not self.quorum:
            return self.verified_checkpoint()
        from weightwarden.registry.note import open_checkpoint

        verifier = self.log_verifier()
        for attempt in range(2):
            note = self._get("/checkpoint")
            try:
                head, _ = open_checkpoint(note, verifier, verifier.name)
            except WeightwardenError as exc:
                raise RegistryClientError(f"the registry's checkpoint does not verify: {exc.reason}") from None
            # Round 10 (S1): proven consistent with every remembered checkpoint (the witnessed one just verified
            # included), and remembered as the latest log-signed checkpoint, which binds a later run without --quorum.
            try:
                self._advance(head, note, verifier, witnessed=False)
            except _MemoryAhead as exc:  # red team round 23: as in verified_checkpoint, asked once more
                if attempt:
                    raise RegistryClientError(exc.reason) from None
                continue
            return head
        raise AssertionError("unreachable")

    def _check_view_tree(self, size: int, root: bytes, head: Any) -> None:
        """The view's tree (size, root) is a prefix of ``head``'s tree, or the view is not of this log."""
        from weightwarden.registry import tlog

        try:
            if size == head.size:
                if root != head.root_hash:
                    raise tlog.ProofError("same size, different root")
            elif size > 0:
                proof = _hashes(self._get_json("/proof/consistency", old=size, new=head.size).get("proof"))
                tlog.verify_consistency(size, head.size, root, head.root_hash, proof)
        except tlog.ProofError:
            raise RegistryClientError(f"the signed view was made at a tree of size {size} that is not part of the "
                                      f"verified log (size {head.size}): the registry contradicts itself") from None

    def _compare_signed(self, model: str, signed: Any, data: _LineData, checkpoint: Any) -> list[str]:
        """The line as derived from proven entries must state what the signed view states."""
        from weightwarden.registry.views import line_facts

        rel = signed.release
        if rel.tree_size != checkpoint.size:
            # Red team round 12 (F1): never "used as stated". ``_signed_view`` judges the view's own tree; a
            # view of another tree here is a bug, and its facts could only be the view signer's word.
            return [f"the registry's signed view of {model} was made at tree size {rel.tree_size}, but the line "
                    f"was judged at {checkpoint.size}: its facts cannot be checked against proven entries"]
        derived = line_facts(_line_view_at(model, rel.tree_size, data))
        stated = rel.facts()
        differ = sorted(k for k in derived if derived[k] != stated.get(k))
        if not differ:
            return []
        return [f"the registry's signed view of {model} (tree size {rel.tree_size}) disagrees with the entries "
                f"proven in the log on {', '.join(differ)}: an entry was hidden or the view is false"]

    def _incidents(self, body: dict[str, Any], view: dict[str, Any], checkpoint: Any,
                   limits: list[str] | None = None, owner_key: str | None = None,
                   release_index: int | None = None, data: _LineData | None = None) -> list[dict[str, Any]]:
        """Open and closed incidents on this release: on its line, on every ancestor reached through declared
        bases (transitively, at most ``MAX_LINEAGE_DEPTH`` steps and ``MAX_LINEAGE_LINES`` lines, each line
        once, so a cycle ends), and (for a log the client reads whole) any incident anywhere in the log that
        names the release's file digests or weights root, and the lines linked to it by a weights root its
        own publisher key claimed (red team round 3: the client follows those links itself). Records are
        weighed by (incident id, publisher key): a record in a base line, by the base's publisher, cannot
        replace one filed about this line. A bound hit is written to ``limits`` (the caller answers "not
        current"). The registry's signed list of affecting incidents is checked apart (``_signed_affecting``)."""
        from weightwarden.registry.affecting import affecting, release_record
        from weightwarden.registry.incidents import split_release

        limits = limits if limits is not None else []
        items = [(i["index"], i["owner"], i["record"]) for i in view["incidents"]]
        records: dict[str, Any] = {}
        if self._full(checkpoint):  # every entry of the log: the client walks declared bases and weights-root links
            walk: list[str] = []
            hits = self._affecting_over(body, enumerate(self._scanned(checkpoint)), checkpoint, limits, owner_key,
                                        release_index, self._reached, walk=walk)
            self._walks[(str(body["model"]), str(body["bundle"]))] = _walk_digest(walk)
            self._walk_at[(str(body["model"]), str(body["bundle"]))] = checkpoint.size
            return hits
        # Red team round 5 (A3): the lines to read are those the shared walk (``affecting``) will visit: the
        # declared bases of every release of a base line logged before the judged release (revoked and
        # superseded included), not only of its latest live release.
        frontier = [split_release(b)[0] for b in body.get("bases", [])]
        seen = {body["model"]}
        history: dict[str, list[Any]] = {}
        read: dict[str, _LineData] = {body["model"]: data} if data is not None else {}
        for depth in range(MAX_LINEAGE_DEPTH + 1):
            following: list[str] = []
            for base in frontier:
                if base in seen:
                    continue
                if depth == MAX_LINEAGE_DEPTH or len(seen) > MAX_LINEAGE_LINES:
                    limits.append(f"the declared ancestry of {body['model']} is beyond the client's bounds "
                                  f"({MAX_LINEAGE_DEPTH} steps, {MAX_LINEAGE_LINES} lines): not fully checked")
                    break
                seen.add(base)
                data = self._line_data(base, checkpoint, None, limits)
                if limits:
                    break
                read[base] = data
                base_view = _line_view_at(base, checkpoint.size, data)
                items.extend((i["index"], i["owner"], i["record"]) for i in base_view["incidents"])
                history[base] = _history(data, checkpoint.size)
                for old in history[base]:
                    following.extend(split_release(b)[0] for b in old.declared_bases)
                latest_rel = next((r for r in base_view["releases"] if r["bundle"] == base_view["latest"]), None)
                if latest_rel is not None and int(latest_rel["index"]) in data.release_bodies:
                    record = release_record(data.release_bodies[int(latest_rel["index"])], int(latest_rel["index"]))
                    records[base] = record
                    following.extend(split_release(b)[0] for b in record.declared_bases)
            frontier = following
            if not frontier or limits:
                break
        if self._delta_now(checkpoint) is not None and data is not None and not limits:
            return self._delta_affecting(body, read, checkpoint, limits, owner_key, release_index)
        found = affecting(release_record(body, release_index), items, lambda m: records.get(m), notes=self.notes,
                          open_only=False,
                          limits=limits, history=lambda m: history.get(m, []))
        return [{**a.to_dict(), "owner": a.owner} for a in found]

    def _delta_affecting(self, body: dict[str, Any], read: dict[str, _LineData], checkpoint: Any, limits: list[str],
                         owner_key: str | None, release_index: int | None) -> list[dict[str, Any]]:
        """Red team round 16b: the delta scan judges incidents by the full scan's rule, not by the line and its
        declared bases alone. The entries it walks (``_affecting_over``, the full scan's function) are every
        entry since the point it starts from (each proven and signed, kept unless an audit) and every proven entry
        of each line the walk reaches (declared bases, weights-root links), read as the index mode reads a base:
        below the delta's start, from this client's complete list of the line's entries (``_line_data``; a line
        it has none for is judged unverified). A line the walk reaches first through the delta is read and the
        walk repeats, so a link made since the scan counts with the linked line's whole history. Incidents before
        the start that reach the release from a line never read (a weights root or a file digest named in an
        unrelated line) are the remembered facts of the last full judgement (``_recall``)."""
        delta = self._delta_now(checkpoint)
        assert delta is not None
        entries: dict[int, dict[str, Any]] = {}
        reach = self._remembered(body["model"])["reach"]
        if len(reach) > MAX_LINEAGE_LINES:  # (never written so: a state file edited by hand)
            self._unverified.add(f"{body['model']} (its remembered linked lines)")
        for m in reach[:MAX_LINEAGE_LINES]:  # reached at the last judgement (links made before); red team round 17
            # (F2): every one is read, none skipped silently (a walk that reached more is INCOMPLETE_WALK)
            if m not in read:
                read[m] = self._line_data(m, checkpoint, None, limits)
                if limits:
                    return []
        for d in read.values():
            entries.update(d.logged)
        entries.update(self._delta_kept)
        proven: dict[int, dict[str, Any]] = {}
        found: list[dict[str, Any]] = []
        for _ in range(MAX_LINEAGE_DEPTH + 2):
            reached: set[str] = set()
            notes: list[str] = []
            walk: list[str] = []
            known = self._remembered_chains(body, entries, checkpoint, proven)
            found = self._affecting_over(body, sorted(entries.items()), checkpoint, limits, owner_key, release_index,
                                         reached, notes, walk=walk, known=known)
            new = sorted(m for m in reached if m not in read)
            if not new or limits:
                self.notes.extend(notes)
                self._reached.update(reached)
                self._walks[(str(body["model"]), str(body["bundle"]))] = _walk_digest(walk)
                self._walk_at[(str(body["model"]), str(body["bundle"]))] = checkpoint.size
                return found
            if len(read) + len(new) > MAX_LINEAGE_LINES + 1:  # the judged line and MAX_LINEAGE_LINES others
                self._unverified.add(f"{body['model']} (its linked lines)")
                break
            for m in new:
                read[m] = self._line_data(m, checkpoint, None, limits)
                if limits:
                    return found
                entries.update(read[m].logged)
        limits.append(f"the ancestry of {body['model']} reached through the entries since this client's last full "
                      f"scan is beyond the client's bounds ({MAX_LINEAGE_LINES} lines): not fully checked")
        return found

    def _affecting_over(self, body: dict[str, Any], entries: Any, checkpoint: Any, limits: list[str],
                        owner_key: str | None, release_index: int | None,
                        reached: set[str] | None = None, notes: list[str] | None = None,
                        walk: list[str] | None = None,
                        known: Mapping[tuple[str, str], tuple[int, Any]] | None = None) -> list[dict[str, Any]]:
        """The full scan's affecting rule over ``entries`` (``(log index, logged)``, in log order): every incident
        among them that reaches the release by its line, a declared base, a weights-root link or a file-digest
        match (``affecting``). The full scan passes every entry of the log; the delta scan (red team round 16b)
        passes every entry since the scan it starts from plus every proven entry of each line the walk reaches
        (``reached``: filled with those lines)."""
        from weightwarden.registry.affecting import affecting, release_record

        buckets: dict[str, _LineData] = {}
        by_root: dict[str, list[tuple[str, str, Any]]] = {}
        items = []
        for index, logged in entries:
            b = logged["body"]
            key = str(logged["publisher"]["key_id"])
            if b["schema"] == _entries.INCIDENT_SCHEMA:
                items.append((index, key, b["incident"]))
            models = {b["model"]} if "model" in b and isinstance(b["model"], str) else set()
            kind = _entries.KIND_BY_SCHEMA.get(b.get("schema"))
            if kind != "release":
                from weightwarden.registry.views import events_of

                models = {e.model for e in events_of(kind or "", b, index)}
            elif b.get("weights_root"):
                # each release sharing the root, whatever its later state (red team round 4, A2)
                by_root.setdefault(str(b["weights_root"]), []).append(
                    (str(b["model"]), key, release_record(b, index)))
            for m in models:
                buckets.setdefault(m, _LineData()).add(m, index, logged)
        latest_of: dict[str, tuple[Any, str] | None] = {}

        def latest(model_id: str) -> tuple[Any, str] | None:
            if model_id not in latest_of:
                data = buckets.get(model_id)
                found = None
                if data is not None:
                    lv = _line_view_at(model_id, checkpoint.size, data)
                    rel = next((r for r in lv["releases"] if r["bundle"] == lv["latest"]), None)
                    if rel is not None and int(rel["index"]) in data.release_bodies:
                        found = (release_record(data.release_bodies[int(rel["index"])], int(rel["index"])),
                                 str(rel["publisher"]))
                latest_of[model_id] = found
            return latest_of[model_id]

        def owner(model_id: str) -> str | None:
            if model_id == body["model"]:
                return owner_key
            found = latest(model_id)
            return found[1] if found else None

        found = affecting(release_record(body, release_index), items, lambda m: (latest(m) or (None,))[0],
                          lambda r, _line: by_root.get(r, []), notes=self.notes if notes is None else notes,
                          open_only=False, owner=owner, limits=limits,
                          history=lambda m: _history(buckets.get(m), checkpoint.size), reached=reached, walk=walk,
                          known=known)
        return [{**a.to_dict(), "owner": a.owner} for a in found]

    def _signed_affecting(self, signed: Any, head: Any, shown: Sequence[dict[str, Any]]) -> list[str]:
        """Every incident the registry's signed view lists as affecting the release is proven in the log and
        read: an open one makes the release not current, whatever the client found itself (red team round
        2: a line's index stripped of a base's incident, a grandparent, a digest match in another line)."""
        from weightwarden.registry.views import incident_state

        listed = signed.release.affecting
        if listed is None:
            return [f"the registry's signed view of {signed.release.model_line} does not list the incidents "
                    "affecting the release (an older registry): its lineage and digest incidents are not bound"]
        out = []
        if not signed.release.affecting_complete:
            out.append(f"the registry's signed view of {signed.release.model_line} says its list of affecting "
                       "incidents is incomplete (a bound was hit): the release cannot be called current")
        mine = {(i["id"], i["index"]) for i in shown}
        for incident_id, index in listed:
            if (incident_id, index) in mine:
                continue  # already weighed from proven entries
            if index >= head.size:
                out.append(f"the registry's signed view names incident {incident_id} at log index {index}, beyond "
                           f"its verified tree ({head.size})")
                continue
            logged = self._logged(index, self.verified_entry(index, head), head)
            record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA else None
            if not isinstance(record, dict) or record.get("id") != incident_id:
                out.append(f"the registry's signed view names incident {incident_id} at log index {index}, which "
                           "holds another entry: the view is false")
                continue
            state = incident_state(record)
            if state in OPEN_INCIDENT_STATES:
                summary = str(record.get("summary", ""))[:200]
                out.append(f"open incident {incident_id} ({state}) affects this release (listed in the registry's "
                           f"signed view, record proven at log index {index}): {summary}")
        return out


def _is_record_of(logged: Mapping[str, Any], incident_id: str, key: str) -> bool:
    """``logged`` is a record of the (``key``, ``incident_id``) incident chain."""
    record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA else None
    return isinstance(record, dict) and str(record.get("id")) == incident_id and \
        str(logged["publisher"]["key_id"]) == key


def _chain_of(logged: Mapping[str, Any]) -> str | None:
    """The chain table's name of the incident chain ``logged`` is a record of (None: not an incident record)."""
    record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA else None
    return _chain_id(logged["publisher"]["key_id"], record.get("id")) if isinstance(record, dict) else None


def _chain_heads(entries: Any, heads: dict[str, int],
                 record_of: Any) -> dict[str, int]:
    """Red team round 21: the chain table ``heads`` (``_chain_id`` -> index of the chain's current record) carried
    over ``entries`` (``(log index, logged)``, every entry after the table's tree size, possibly some before it):
    each chain with a record among them is resumed from its table record (``record_of(incident id, key, index)``,
    proven by the caller) by ``views.current_incidents`` with ``known``, the full scan's rule, or started from its
    first record there when the table does not hold it. Updates and returns ``heads``."""
    from weightwarden.registry.views import current_incidents

    by_chain: dict[tuple[str, str], list[tuple[int, str, Any]]] = {}
    for index, logged in entries:
        record = logged["body"].get("incident") if logged["body"]["schema"] == _entries.INCIDENT_SCHEMA else None
        if isinstance(record, dict):
            key = str(logged["publisher"]["key_id"])
            by_chain.setdefault((str(record.get("id")), key), []).append((int(index), key, record))
    for (incident_id, key), items in by_chain.items():
        name = _chain_id(key, incident_id)
        known = {(incident_id, key): (heads[name], record_of(incident_id, key, heads[name]))} if name in heads \
            else None
        chain = current_incidents(items, known)
        assert len(chain) == 1  # one (id, key): one chain
        heads[name] = int(chain[0]["index"])
    return heads


def _walk_digest(walk: Sequence[str]) -> str:
    """The remembered form of an incident walk's description (``affecting``'s ``walk``): a digest, so the state
    stays small whatever the walk's size; equal digests, equal walks (red team round 17, F3)."""
    return hashlib.sha256("\n".join(walk).encode("utf-8")).hexdigest()


def _history(data: _LineData | None, before: int | None) -> list[Any]:
    """Every release of a line proven in the log below ``before`` (the checkpoint's size), revoked and
    superseded ones included: what a declared base stands for (red team round 4, A2b; round 6, A4: those
    logged after the judged release too, as the registry's view takes them)."""
    from weightwarden.registry.affecting import release_record

    if data is None:
        return []
    return [release_record(b, i) for i, b in sorted(data.release_bodies.items()) if before is None or i < before]


def _models_of(logged: dict[str, Any], index: int) -> set[str]:
    """The model lines a logged entry belongs to (what the line index of each lists it under)."""
    from weightwarden.registry.views import events_of

    body = logged["body"]
    kind = _entries.KIND_BY_SCHEMA.get(body.get("schema"))
    if kind == "release":
        return {str(body["model"])}
    return {str(e.model) for e in events_of(kind or "", body, index)}


def _index_lines(entries: Any) -> tuple[dict[str, list[int]], dict[str, set[int]], dict[str, set[str]]]:
    """For ``(index, logged)`` entries: each line's log indexes, those that are not audits, and the lines each
    line's releases declare as bases."""
    every: dict[str, list[int]] = {}
    events: dict[str, set[int]] = {}
    bases: dict[str, set[str]] = {}
    for index, logged in entries:
        body = logged["body"]
        audit = _entries.KIND_BY_SCHEMA.get(body.get("schema")) == "audit"
        for m in _models_of(logged, index):
            every.setdefault(m, []).append(index)
            if not audit:
                events.setdefault(m, set()).add(index)
        if _entries.KIND_BY_SCHEMA.get(body.get("schema")) == "release":
            bases.setdefault(str(body["model"]), set()).update(str(b).split("@", 1)[0] for b in body.get("bases", []))
    return every, events, bases


class _LineData:
    """The proven entries of one model line: release rows, events, bodies and publishers by log index."""

    def __init__(self) -> None:
        self.rels: list[dict[str, Any]] = []
        self.evs: list[Any] = []
        self.bodies: dict[int, dict[str, Any]] = {}
        self.owners: dict[int, str] = {}
        self.release_bodies: dict[int, dict[str, Any]] = {}
        self.logged: dict[int, dict[str, Any]] = {}  # the entries kept, for the delta's affecting walk

    def add(self, model: str, index: int, logged: dict[str, Any]) -> None:
        from weightwarden.registry.views import events_of, release_row

        body = logged["body"]
        kind = _entries.KIND_BY_SCHEMA.get(body.get("schema"))
        owner = str(logged["publisher"]["key_id"])
        if kind == "release":
            if body["model"] == model:
                self.rels.append(release_row(index, body, owner, 0))
                self.release_bodies[index] = body
                self.logged[index] = logged
            return
        mine = [e for e in events_of(kind or "", body, index) if e.model == model]
        if mine:
            self.evs.extend(mine)
            self.bodies[index] = body
            self.owners[index] = owner
            self.logged[index] = logged


def _line_view_at(model: str, size: int, data: _LineData) -> dict[str, Any]:
    from weightwarden.registry.views import build_model_view

    return build_model_view(model, size, data.rels, sorted(data.evs, key=lambda e: e.idx), data.bodies, data.owners)


def _signed_verdict(signed: Any, index: int, body: dict[str, Any], incidents: Sequence[dict[str, Any]]) -> list[str]:
    """What the signed view itself says against this release: it is binding (red team round 1)."""
    rel = signed.release
    out = []
    if rel.status != "current":
        out.append(f"the registry's signed view says {body['model']} is {rel.status.upper()} (no usable release)")
    elif rel.latest_index != index:
        out.append(f"the registry's signed view names the release at log index {rel.latest_index} as the current "
                   f"one of {body['model']}, not this one (index {index})")
    shown = {i["id"] for i in incidents if i["state"] in OPEN_INCIDENT_STATES}
    hidden = [i for i in rel.open_incidents if i not in shown]
    if hidden:
        out.append(f"the registry's signed view lists open incident(s) on {body['model']}: {', '.join(hidden[:8])}")
    return out


def _expiry_verdict(body: dict[str, Any]) -> list[str]:
    """The publisher-signed freshness of the release (expiry, issue time), judged exactly as ``weightwarden
    verify`` judges it (red team round 2: ``check`` ignored an expiry that ``verify`` refused)."""
    from weightwarden.integrity.release import judge_freshness
    from weightwarden.integrity.statement import Freshness

    if body.get("issued_at") is None:
        return []  # the bundle carried no signed freshness data
    fresh = Freshness(int(body["version"]), str(body["issued_at"]), body.get("expires"), body.get("supersedes"))
    verdict = judge_freshness(fresh, None, None)
    return [f"release v{body['version']} of {body['model']}: {reason}" for reason in verdict.reasons]


class ScanOverBudget(RegistryClientError):
    """The full scan's entry bundles hold more bytes than its budget (the client then uses the index mode)."""

    def __init__(self, tile: str, total: int, budget: int, entries: Sequence[bytes]) -> None:
        super().__init__(f"/{tile}: the full scan read {total} bytes of entry bundles, over its budget of {budget}")
        self.tile, self.total, self.budget = tile, total, budget
        by_key: dict[str, list[int]] = {}
        for data in entries:
            try:
                key = str(_entries.parse_logged(data)["publisher"]["key_id"])[:64]
            except (WeightwardenError, ValueError, KeyError, TypeError, AttributeError):
                key = "(unreadable entry)"
            slot = by_key.setdefault(key, [0, 0])
            slot[0] += len(data)
            slot[1] += 1
        self.key, (self.key_bytes, self.key_entries) = max(by_key.items(), key=lambda kv: kv[1][0]) \
            if by_key else ("(none)", (0, 0))

    def note(self) -> str:
        return (f"the log's entry bundles are over the full scan's budget of {self.budget} bytes at /{self.tile} "
                f"({self.total} bytes read); that tile was filled mostly by key {self.key} ({self.key_entries} "
                f"entries, {self.key_bytes} bytes, as the entries say): judged from the registry's index instead, "
                "each entry used proven in the log")


class _MemoryAhead(RegistryClientError):
    """Red team round 23: the memory merged from another client process holds a bigger tree than the one just
    verified (the registry is asked once more; the second time the merged memory refuses it as it is)."""


class _NotFound(RegistryClientError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: not found")


def _json_answer(raw: bytes, path: str, expect: type) -> Any:
    """One typed JSON reader for every registry answer."""
    try:
        value = strict_json.loads(raw)
    except strict_json.StrictJSONError as exc:
        raise RegistryClientError(f"{path}: the registry's answer is not usable JSON ({exc.reason})") from None
    if not isinstance(value, expect):
        raise RegistryClientError(f"{path}: the registry's answer is not a JSON {'object' if expect is dict else 'array'}")
    return value


def _reason(content: bytes) -> str:
    try:
        data = strict_json.loads(content)
        return str(data.get("error") or data.get("detail"))[:500]
    except (ValueError, AttributeError):
        return content[:200].decode("utf-8", "replace")


def _hashes(values: Any) -> list[bytes]:
    if not isinstance(values, list) or len(values) > 64:
        raise RegistryClientError("the registry's proof is not a list of hashes")
    try:
        out = [base64.b64decode(v, validate=True) for v in values]
    except (TypeError, ValueError):
        raise RegistryClientError("the registry's proof holds a hash that is not base64") from None
    if any(len(h) != 32 for h in out):
        raise RegistryClientError("the registry's proof holds a hash that is not 32 bytes")
    return out


def release_body_from_bundle(bundle_path: str | os.PathLike[str], *, model: str, weights_root: str | None = None,
                             version: int | None = None, bases: Sequence[str] = ()) -> dict[str, Any]:
    """The release entry body for a bundle written by ``weightwarden sign`` (or model-signing)."""
    from weightwarden.integrity.bundle import BundleError, parse_bundle, read_bundle_file

    try:
        raw = read_bundle_file(bundle_path)
    except OSError as exc:
        raise InputError(f"{bundle_path}: cannot read the bundle: {exc.strerror or exc}") from None
    try:
        bundle = parse_bundle(raw)
    except BundleError as exc:
        raise InputError(f"{bundle_path}: {exc.reason}") from None
    body = _entries.release_body(model=model, statement=bundle.payload, bundle_bytes=raw, version=version,
                                 weights_root=weights_root)
    if bases:
        body["bases"] = sorted(set(bases))
        _entries.check_body(body)
    return body


def _default_root(path: str | os.PathLike[str]) -> str:
    """Root digest of PATH hashed the way ``weightwarden sign`` does by default (files, SHA-256)."""
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.integrity.manifest import ManifestError
    from weightwarden.integrity.release import default_signature_path

    p = Path(path)
    try:
        manifest = digest_model(p, ignore_paths=[os.path.abspath(default_signature_path(p))], tensors=False)
    except ManifestError as exc:
        raise InputError(f"{path}: {exc.reason}") from None
    return manifest.root_digest().hex()


def _compare_files(path: str | os.PathLike[str], body: dict[str, Any]) -> str | None:
    """None when PATH hashes to the release's subject digest; else which files differ."""
    from weightwarden.integrity.hashing import digest_model
    from weightwarden.integrity.manifest import ManifestError
    from weightwarden.integrity.release import default_signature_path

    ser = body.get("serialization") or {"method": "files", "hash_type": "sha256"}
    p = Path(path)
    try:
        manifest = digest_model(p, hash_type=ser["hash_type"], method=ser["method"], shard_size=ser.get("shard_size"),
                                ignore_paths=[os.path.abspath(default_signature_path(p))], tensors=False)
    except (ManifestError, ValueError) as exc:
        raise InputError(f"{path}: cannot hash the model: {getattr(exc, 'reason', exc)}") from None
    if manifest.root_digest().hex() == body["subject"]["sha256"]:
        return None
    logged = {f["name"]: f["digest"] for f in body["files"]}
    here = {r.name: r.digest.hex() for r in manifest.resources}
    changed = sorted(n for n in set(logged) | set(here) if logged.get(n) != here.get(n))
    shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
    return f"the files at {path} differ from the published release (modified since publication): {shown}"
