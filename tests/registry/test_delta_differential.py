"""The delta mode against the full scan, on generated logs (red team round 17), live server, SQLite and PostgreSQL.

The property: for a client that scanned the log fully before, a delta verdict that says it is verified
(``CheckResult.verified``, mode "delta") is the verdict of the client's own full scan of the same log (fresh state,
full-scan limit raised); anything the delta cannot show equal it must call unverified. Never a verified delta
"current" where the full scan says not current (nor the reverse).

Each seed builds one log with several publishers: releases of two real signed models (re-signed versions with the
same files, weights roots and declared bases drawn from small pools) and of synthetic lines sharing those roots and
file digests; revocations, supersessions, incidents naming a line, a weights root or a file digest (some closed
later), and another line claiming a real model's bundle. A client checks each real model fully (with and without
``--model``); more entries follow; then the server turns hostile: the operator empties its signed list of affecting
incidents, and a keyless proxy drops matches from the unsigned ``/releases`` lookup. The linked-line bound is made
small so that the walk's bound is crossed too.

Red team round 18: the operator's sequencer also skips the chain-continuation rule, so the log holds incident records
that do not continue their (id, key) chain (another publication date, or a branch from an earlier record of the chain,
in any state) and records of another key under a logged id: a delta may close a remembered open incident only with a
record that continues it, as the full scan does. And the checkpoint moves during a check: a keyless proxy answers the
client's first ``/checkpoint`` with an older genuine one (recorded at the earlier scans), so the signed view is of a
newer tree; the verdict must be the one judged wholly at that tree (for a fresh client in full mode: the full scan's,
reasons included).

Red team round 19: such forks are also logged BEFORE the client's full scan, naming the judged line or a declared base
(lines the delta reads), while the chain's first records may sit in lines it never reads.

Red team round 21: chains that exist before the scan without reaching any release (an advisory line, a digest no
release has) and reach a real model after it, through a continuation logged after a fork of the chain (another
publication date, in any state, naming the advisory line or the model's line): the delta reads the fork first.
These draws use their own random stream, so the other draws of a seed are those of earlier rounds.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import Router, _client, _legacy_incident_writes
from tests.registry.test_redteam_round17 import BIG, _resign
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry import server as server_module
from weightwarden.registry.client import RegistryClient, RegistryRefused
from weightwarden.registry.incidents import AffectedModel, IncidentError, new_incident, transition

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)
ROOTS = [c * 64 for c in "123"]
DIGESTS = [hashlib.sha256(f"d{n}".encode()).hexdigest() for n in range(3)]
SYNTHETIC = ["acme/a", "acme/b", "meta/c", "evil/d"]
TARGETS = ["acme/ok", "meta/m"]
CLEAN = "meta/clean"  # round 21's aimed model: no other draw touches it, so its verdict rests on the aimed chain
# WW_DELTA_SEEDS="1-36" runs more (the decisions entries quote such runs); the suite runs six
_SPAN = os.environ.get("WW_DELTA_SEEDS", "1-6").split("-")
SEEDS = list(range(int(_SPAN[0]), int(_SPAN[-1]) + 1))


@dataclass
class World:
    """What the generator logged (enough to draw valid next entries)."""

    rng: random.Random
    who: dict[str, Any]
    tmp: Path
    client: RegistryClient
    versions: dict[str, int] = field(default_factory=dict)
    releases: list[tuple[str, str]] = field(default_factory=list)  # (line, bundle digest)
    paths: dict[str, Path] = field(default_factory=dict)  # target line -> its files
    bundles: dict[str, Path] = field(default_factory=dict)  # target line -> its first bundle
    open: list[tuple[str, Any]] = field(default_factory=list)  # (publisher name, incident)
    logged: list[tuple[str, Any]] = field(default_factory=list)  # (publisher name, record) of every incident record
    unseen: list[tuple[str, Any, str]] = field(default_factory=list)  # (publisher, C1, target line): round 21
    clean: dict[str, Path] = field(default_factory=dict)  # CLEAN -> its files, when drawn (round 21)
    aimed: list[tuple[str, Any, str, str]] = field(default_factory=list)  # (publisher, C1, advisory line, digest)
    refused: int = 0

    def key(self, line: str) -> Any:
        return self.who[line.split("/")[0]].key

    def publish(self, body: dict[str, Any], name: str) -> int | None:
        try:
            return self.client.publish(body, self.who[name].key).index
        except RegistryRefused:
            self.refused += 1  # a draw the server's rules refuse (fine: the log holds what it admits)
            return None

    def incident(self, incident: Any, name: str) -> int | None:
        index = self.publish(entries.incident_body(incident.to_osv()), name)
        if index is not None:
            self.logged.append((name, incident))
        return index

    def fork_into(self, line: str, aim: tuple[str, Any] | None = None) -> None:
        """Red team round 19: a record of a logged (id, key) chain, by that key, that does not continue it (another
        publication date), in any state, naming ``line`` (the judged line or a declared base: a line the delta
        reads), logged BEFORE the client's full scan (the chain's first records may sit in lines it never reads)."""
        rng = self.rng
        closing = aim is not None or (bool(self.open) and rng.random() < 0.6)  # closing an open chain (R19-1)
        name, known = aim or rng.choice(self.open if closing else self.logged)
        try:
            record = new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="low",
                                  affected=[AffectedModel(line)], incident_id=known.id,
                                  now=known.published - timedelta(hours=rng.randrange(1, 48)))
            for state in rng.choice([("withdrawn",), ("confirmed", "fixed")] if closing else
                                    [(), ("withdrawn",), ("confirmed",), ("confirmed", "fixed")]):
                record = transition(record, state, note="fork")
        except IncidentError:
            return
        self.incident(record, name)

    def fork(self, closing: bool = False) -> None:
        """Red team round 18: a record of a logged (id, key) chain that does not continue it (another publication
        date; or a branch from an earlier record of the chain, which continues it only when that record is still
        the chain's current one), in any state; or a record of another key under the id (never the same chain)."""
        rng = self.rng
        closing = closing or (bool(self.open) and rng.random() < 0.5)  # aimed at a chain still open (R18-1)
        name, known = rng.choice(self.open if closing else self.logged)
        try:
            if closing:
                record = new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="low",
                                      affected=known.affected, incident_id=known.id,
                                      now=known.published - timedelta(hours=rng.randrange(1, 48)))
                record = transition(record, "withdrawn") if rng.random() < 0.5 else transition(
                    transition(record, "confirmed"), "fixed", note="fork")
            elif rng.random() < 0.4:
                record = new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="low",
                                      affected=known.affected, incident_id=known.id,
                                      now=known.published - timedelta(hours=rng.randrange(1, 48)))
                for state in rng.choice([(), ("withdrawn",), ("confirmed",), ("confirmed", "fixed")]):
                    record = transition(record, state, note="fork")
            else:
                record = transition(known, rng.choice(["confirmed", "withdrawn", "fixed"]), note="fork")
        except IncidentError:
            return  # a state the lifecycle forbids from there
        if rng.random() < 0.25:
            name = rng.choice([n for n in ("acme", "meta", "institute") if n != name])
        self.incident(record, name)

    def unseen_start(self, rng: random.Random) -> None:
        """Red team round 21: C1 (reported, critical) by a real model's owner or the institute, in an advisory line,
        naming a weights.bin digest no release has: its chain reaches nothing at the scan (nothing remembered of it for
        any release)."""
        line = rng.choice(sorted(self.paths))
        name = rng.choice([line.split("/")[0], "institute"])
        incident = new_incident(summary="unseen", risk_domain="supply_chain.integrity", severity="critical",
                                affected=[AffectedModel(f"{line.split('/')[0]}/advisories", file_digests={
                                    "weights.bin": hashlib.sha256(rng.randbytes(8)).hexdigest()})])
        if self.incident(incident, name) is not None:
            self.unseen.append((name, incident, line))

    def unseen_reach(self, rng: random.Random) -> None:
        """Red team round 21: after the scan, a fork of an unseen chain (another publication date, any state, naming
        the advisory line or the model's line), then (mostly) the honest continuation of C1 naming the model's
        weights.bin digest (confirmed; or withdrawn)."""
        name, known, line = self.unseen.pop(rng.randrange(len(self.unseen)))
        advisory = f"{line.split('/')[0]}/advisories"
        try:
            if rng.random() < 0.8:
                record = new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="low",
                                      affected=[AffectedModel(rng.choice([advisory, line]))], incident_id=known.id,
                                      now=known.published - timedelta(hours=rng.randrange(1, 48)))
                for state in rng.choice([(), ("withdrawn",), ("confirmed", "fixed")]):
                    record = transition(record, state, note="fork")
                self.incident(record, name)
            if rng.random() < 0.9:
                digest = hashlib.sha256((self.paths[line] / "weights.bin").read_bytes()).hexdigest()
                moved = replace(known, affected=(AffectedModel(advisory, file_digests={"weights.bin": digest}),))
                self.incident(transition(moved, "confirmed" if rng.random() < 0.8 else "withdrawn"), name)
        except IncidentError:
            return

    def clean_target(self, rng: random.Random) -> None:
        """Red team round 21, aimed: CLEAN v1 (its files seen by no other draw), either alone or declaring a base
        line; C1 (reported, critical) by the owner of CLEAN or of its base, in that owner's advisory line, naming a
        digest no release has. Logged just before the scan."""
        folder, bundle = _signed_model(self.tmp / "clean", 1, rng.randbytes(200))
        via_base = rng.random() < 0.5
        base = release("acme/cbase", seed=rng.randrange(10**9)) if via_base else None
        if base is not None:
            base["files"] = [{"name": "weights.bin", "algorithm": "sha256",
                              "digest": hashlib.sha256(rng.randbytes(8)).hexdigest()}]
            entries.check_body(base)
            if self.publish(base, "acme") is None:
                return
        body = client_module.release_body_from_bundle(bundle, model=CLEAN, version=1,
                                                      bases=["acme/cbase"] if via_base else ())
        if self.publish(body, "meta") is None:
            return
        self.clean[CLEAN] = folder
        owner = "acme" if via_base else "meta"
        digest = base["files"][0]["digest"] if base is not None else \
            hashlib.sha256((folder / "weights.bin").read_bytes()).hexdigest()
        incident = new_incident(summary="aimed", risk_domain="supply_chain.integrity", severity="critical",
                                affected=[AffectedModel(f"{owner}/advisories", file_digests={
                                    "weights.bin": hashlib.sha256(rng.randbytes(8)).hexdigest()})])
        if self.incident(incident, owner) is not None:
            self.aimed.append((owner, incident, f"{owner}/advisories", digest))

    def clean_reach(self, rng: random.Random) -> None:
        """Red team round 21, aimed: after the scan, a fork of the aimed chain first (mostly), then C1's continuation
        naming the digest that reaches CLEAN (its own weights.bin, or its base's)."""
        for owner, known, advisory, digest in self.aimed:
            if rng.random() < 0.8:
                record = new_incident(summary="fork", risk_domain="supply_chain.integrity", severity="low",
                                      affected=[AffectedModel(advisory)], incident_id=known.id,
                                      now=known.published - timedelta(hours=rng.randrange(1, 48)))
                for state in rng.choice([(), ("withdrawn",), ("confirmed", "fixed")]):
                    record = transition(record, state, note="fork")
                self.incident(record, owner)
            moved = replace(known, affected=(AffectedModel(advisory, file_digests={"weights.bin": digest}),))
            self.incident(transition(moved, "confirmed"), owner)

    def next_version(self, line: str) -> int:
        self.versions[line] = self.versions.get(line, 0) + 1
        return self.versions[line]

    def links(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.rng.random() < 0.6:
            out["weights_root"] = self.rng.choice(ROOTS)
        if self.rng.random() < 0.3:
            out["bases"] = [self.rng.choice(SYNTHETIC)]
        return out

    def target(self, line: str) -> None:
        """A real signed model of ``line`` (its first release), or a re-signing of its files (same subject)."""
        links = self.links()
        if line not in self.paths:
            folder, bundle = _signed_model(self.tmp / line.replace("/", "_"), 1, self.rng.randbytes(200))
            self.paths[line], self.bundles[line] = folder, bundle
            self.versions[line] = 1
        else:
            bundle = _resign(self.paths[line], self.next_version(line))
        body = client_module.release_body_from_bundle(bundle, model=line, weights_root=links.get("weights_root"),
                                                      version=self.versions[line], bases=links.get("bases", ()))
        if self.publish(body, line.split("/")[0]) is not None:
            self.releases.append((line, body["bundle"]))

    def step(self, op: str | None = None) -> None:
        rng = self.rng
        op = op or rng.choice(["release", "release", "target", "revoke", "revoke-target", "supersede", "incident",
                         "incident", "advisory", "advisory-target", "close", "squat", "fork", "fork"])
        if op == "release":
            line = rng.choice(SYNTHETIC)
            body = release(line, version=self.next_version(line), seed=rng.randrange(10**9), **self.links())
            body["files"] = [{"name": "weights.bin", "algorithm": "sha256", "digest": rng.choice(DIGESTS)}]
            entries.check_body(body)
            if self.publish(body, line.split("/")[0]) is not None:
                self.releases.append((line, body["bundle"]))
        elif op == "target":
            self.target(rng.choice(TARGETS))
        elif op == "revoke" and self.releases:
            line, bundle = rng.choice(self.releases)
            self.publish(entries.revocation_body(model=line, release=bundle, reason="generated"), line.split("/")[0])
        elif op == "revoke-target" and any(m in TARGETS for m, _ in self.releases):
            # one of several releases of the same files revoked (red team round 17, F1's shape)
            line, bundle = rng.choice([(m, b) for m, b in self.releases if m in TARGETS])
            self.publish(entries.revocation_body(model=line, release=bundle, reason="generated"), line.split("/")[0])
        elif op == "advisory":
            # an incident in a line no walk reaches, naming a file digest or root (red team round 17, F3's shape)
            affected = (AffectedModel("acme/advisories", file_digests={"weights.bin": rng.choice(DIGESTS)})
                        if rng.random() < 0.5 else AffectedModel("acme/advisories", weights_roots=(rng.choice(ROOTS),)))
            incident = new_incident(summary="generated", risk_domain="supply_chain.integrity", severity="high",
                                    affected=[affected])
            if self.incident(incident, "acme") is not None:
                self.open.append(("acme", incident))
        elif op == "advisory-target" and self.paths:
            # an incident naming a real model's file digest, filed in an advisory line no walk reaches, by a key
            # entitled to that model's line (its owner, or the institute): remembered open in a line the delta never
            # reads (red team round 18, R18-1's shape)
            line = rng.choice(sorted(self.paths))
            name = rng.choice([line.split("/")[0], "institute"])
            digest = hashlib.sha256((self.paths[line] / "weights.bin").read_bytes()).hexdigest()
            incident = new_incident(summary="generated", risk_domain="supply_chain.integrity", severity="high",
                                    affected=[AffectedModel(f"{line.split('/')[0]}/advisories",
                                                            file_digests={"weights.bin": digest})])
            if self.incident(incident, name) is not None:
                self.open.append((name, incident))
        elif op == "supersede":
            line = rng.choice([m for m, _ in self.releases] or ["acme/a"])
            mine = [b for m, b in self.releases if m == line]
            if len(mine) >= 2:
                self.publish(entries.supersession_body(model=line, old=mine[0], new=mine[-1]), line.split("/")[0])
        elif op == "incident":
            line = rng.choice([*SYNTHETIC, *TARGETS, "acme/advisories"])
            kind = rng.choice(["line", "root", "digest", "target-digest"])
            if kind == "root":
                affected = AffectedModel(line, weights_roots=(rng.choice(ROOTS),))
            elif kind == "digest":
                affected = AffectedModel(line, file_digests={"weights.bin": rng.choice(DIGESTS)})
            elif kind == "target-digest" and self.paths:
                folder = self.paths[rng.choice(sorted(self.paths))]
                digest = hashlib.sha256((folder / "weights.bin").read_bytes()).hexdigest()
                affected = AffectedModel(line, file_digests={"weights.bin": digest})
            else:
                affected = AffectedModel(line)
            name = rng.choice([line.split("/")[0], "institute"])
            incident = new_incident(summary="generated", risk_domain="supply_chain.integrity", severity="high",
                                    affected=[affected])
            if self.incident(incident, name) is not None:
                self.open.append((name, incident))
        elif op == "close" and self.open:
            name, incident = self.open.pop(rng.randrange(len(self.open)))
            confirmed = transition(incident, "confirmed")
            self.incident(confirmed, name)
            self.incident(transition(confirmed, "fixed", note="generated"), name)
        elif op == "fork" and self.logged:
            self.fork()
        elif op == "squat" and self.bundles:
            line = rng.choice(sorted(self.bundles))
            body = client_module.release_body_from_bundle(self.bundles[line], model="evil/squat",
                                                          version=self.next_version("evil/squat"))
            if self.publish(body, "evil") is not None:
                self.releases.append(("evil/squat", body["bundle"]))


def _verdict(result: Any) -> tuple[bool, str, bool]:
    return result.current, result.mode, result.verified


@pytest.mark.parametrize("seed", SEEDS)
def test_a_verified_delta_verdict_is_the_full_scans(parties, store, monkeypatch, seed):
    server, who, tmp = parties
    monkeypatch.setattr(client_module, "MAX_LINEAGE_LINES", 3)  # the linked-line bound is crossed in some logs
    _legacy_incident_writes(monkeypatch)  # the operator logs records that do not continue their chain (round 18)
    rng = random.Random(seed)
    with _client(server, tmp, "pub") as pub:
        world = World(rng, who, tmp, pub)
        for line in TARGETS:
            world.target(line)
        for _ in range(rng.randrange(6, 14)):
            world.step()
        # R19-1's shape: forks logged BEFORE the scan, in a line the delta reads (the judged line or a base)
        for _ in range(rng.randrange(0, 3) if world.logged else 0):
            world.fork_into(rng.choice([*TARGETS, *TARGETS, *SYNTHETIC]))
        if rng.random() < 0.5:  # aimed: an incident remembered open in a line never read, closed by such a fork
            before = len(world.open)
            world.step("advisory-target")
            if len(world.open) > before:
                world.fork_into(rng.choice(TARGETS), aim=world.open[-1])
        unseen = random.Random(seed * 7919 + 21)  # round 21's draws, apart from the others
        for _ in range(unseen.randrange(0, 3)):
            world.unseen_start(unseen)
        if unseen.random() < 0.5:
            world.clean_target(unseen)
        checked = [*TARGETS, *world.clean]
        folders = {**world.paths, **world.clean}
        with _client(server, tmp, "a") as a:  # the earlier full scans: with and without --model
            for line in checked:
                for model in (line, None):
                    assert a.check(folders[line], model=model).mode == "full"
            remembered = {fact.rsplit("|", 1)[-1] for facts in a._key_state(a.log_verifier())["facts"].values()
                          for chains in facts.get("open", {}).values() for fact in chains}
        older = httpx.get(f"{server.url}/checkpoint").content  # a genuine checkpoint the proxy serves first later
        for _ in range(rng.randrange(3, 10)):
            world.step()
        while world.unseen and unseen.random() < 0.85:  # R21-1's shape: a fork first, then C1 reaches a model
            world.unseen_reach(unseen)
        world.clean_reach(unseen)
        # R18-1's shape: the operator logs a publisher's record closing, without continuing it, a chain the client
        # remembers open (in a line the delta may never read)
        aimed = [(name, inc) for name, inc in world.open if inc.id in remembered]
        if aimed and rng.random() < 0.7:
            world.open = [rng.choice(aimed)]
            world.fork(closing=True)
    # The operator's signed list of affecting incidents is empty (its views are otherwise honest: a view that hides a
    # revocation is caught by both modes alike, and would hide the cases this test is about).
    monkeypatch.setattr(server_module, "_affecting", lambda store, index, size: {"affecting": (),
                                                                                  "affecting_complete": True})
    stats: dict[tuple[Any, ...], int] = {}
    for n, line in enumerate(checked):
        for model in (line, None):
            truth = _full_scan_of(server, tmp, f"ref{n}{model is None}", folders[line], model)
            lookup = httpx.get(f"{server.url}/releases",
                               params={"subject": client_module._default_root(folders[line])}).json()
            dropped = {r["index"] for r in lookup.get("releases", []) if rng.random() < 0.5}
            shutil.copytree(tmp / "a", tmp / f"d{n}{model is None}")
            moves = rng.random() < 0.5  # the checkpoint moves during the delta check (round 18)
            with RegistryClient("http://r.test", state_dir=tmp / f"d{n}{model is None}", full_scan_max=1,
                                transport=_hostile(server, dropped, older if moves else None)) as c:
                delta = c.check(folders[line], model=model)
            stats[_verdict(delta)] = stats.get(_verdict(delta), 0) + 1
            assert delta.mode != "full"
            # judged at one tree: the newer one, or (an early "not current": no match, ambiguous, a mismatching
            # claim, each of which stays so as the log grows) the older one, before any view was asked for
            assert delta.tree_size == truth.tree_size or not delta.current, (delta.tree_size, truth.tree_size)
            # a fresh client whose first checkpoint is the older one: judged wholly at the newer tree, a full scan
            with RegistryClient("http://r.test", state_dir=tmp / f"s{n}{model is None}", full_scan_max=BIG,
                                transport=_hostile(server, set(), older)) as c:
                moved = c.check(folders[line], model=model)
            if moved.tree_size == truth.tree_size:
                assert (moved.current, moved.mode, moved.reasons) == (truth.current, truth.mode, truth.reasons), (
                    seed, line, model, moved, truth)
            else:
                assert not moved.current and not truth.current, (seed, line, model, moved, truth)
            stats[("moved", moved.tree_size == truth.tree_size)] = stats.get(
                ("moved", moved.tree_size == truth.tree_size), 0) + 1
            if delta.verified:
                assert delta.current == truth.current, (
                    f"seed {seed}, {line}, --model {model}: verified delta says current={delta.current}, the full "
                    f"scan says current={truth.current}", delta.reasons, truth.reasons, delta.notes)
    print(f"seed {seed}: (current, mode, verified) -> count {stats}; refused draws {world.refused}")


def _full_scan_of(server, tmp, name, path, model):
    with _client(server, tmp, name, full_scan_max=BIG) as c:
        return c.check(path, model=model)


def _hostile(server, dropped: set[int], older: bytes | None) -> Router:
    """A keyless proxy: everything byte for byte, except that the unsigned lookup ``/releases`` drops the matches
    at ``dropped`` (red team round 17) and, with ``older``, the client's first ``/checkpoint`` is answered with that
    older genuine checkpoint (red team round 18: the tree moves during the check)."""
    served: list[int] = []

    def rewrite(path: str, body: bytes) -> bytes:
        if path == "/checkpoint" and older is not None and not served:
            served.append(1)
            return older
        if path != "/releases":
            return body
        answer = json.loads(body)
        answer["releases"] = [r for r in answer.get("releases", []) if r.get("index") not in dropped]
        return json.dumps(answer).encode()

    return Router([("/", server.url)], rewrite)
