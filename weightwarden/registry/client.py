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
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError, WeightwardenError
from weightwarden.core.merkle import leaf_hash
from weightwarden.registry import entries as _entries
from weightwarden.registry.auth import sign_request

CHECK_SCHEMA = "weightwarden.registry.check/v1"
STATE_SCHEMA = "weightwarden.registry.client-state/v1"
FULL_SCAN_MAX = 20_000
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
OPEN_INCIDENT_STATES = ("reported", "confirmed")
MAX_CANDIDATES = 16  # releases with the same files' digest that are looked at (each costs a proof)
# With a witness quorum, the cosignatures relied on must be this recent: a checkpoint the witnesses signed
# long ago says nothing about what the log holds now (witnesses cosign the same size again as time passes).
MAX_WITNESS_AGE_S = 24 * 3600.0


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

    def to_dict(self) -> dict[str, Any]:
        return {"schema": CHECK_SCHEMA, "current": self.current, "model": self.model, "version": self.version,
                "log_index": self.index, "bundle": self.bundle, "tree_size": self.tree_size,
                "reasons": list(self.reasons), "notes": list(self.notes), "incidents": list(self.incidents)}


@dataclass
class _State:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> _State:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, {"schema": STATE_SCHEMA, "logs": {}})
        except (OSError, ValueError) as exc:
            raise RegistryClientError(f"{path}: cannot read the client state ({exc}); refusing to forget the "
                                      "last verified checkpoint (fix or remove the file)") from None
        if not isinstance(data, dict) or data.get("schema") != STATE_SCHEMA or not isinstance(data.get("logs"), dict):
            raise RegistryClientError(f"{path}: not a {STATE_SCHEMA} file")
        return cls(path, data)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def default_state_dir() -> Path:
    return Path(os.environ.get("WW_REGISTRY_STATE") or Path.home() / ".weightwarden" / "registry")


class RegistryClient:
    def __init__(self, url: str, *, state_dir: str | os.PathLike[str] | None = None, log_key: str | None = None,
                 witnesses: Sequence[str] = (), quorum: int = 0, timeout: float = 30.0,
                 full_scan_max: int = FULL_SCAN_MAX, transport: Any = None,
                 max_witness_age_s: float | None = MAX_WITNESS_AGE_S) -> None:
        import httpx

        from weightwarden.registry.note import NoteError, NoteVerifier

        self.url = url.rstrip("/")
        self.state = _State.load(Path(state_dir or default_state_dir()).expanduser() / "state.json")
        self.seen_path = Path(state_dir or default_state_dir()).expanduser() / "seen.json"
        self.full_scan_max = full_scan_max
        self.max_witness_age_s = max_witness_age_s
        self._scan_cache: tuple[int, list[dict[str, Any]]] | None = None
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

    def _get(self, path: str, **params: Any) -> bytes:
        import httpx

        body = bytearray()
        try:  # streamed with a cap: a hostile registry cannot make the client hold an endless answer
            with self.http.stream("GET", path, params=params or None) as response:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise RegistryClientError(f"{path}: answer over {MAX_RESPONSE_BYTES} bytes")
                status = response.status_code
        except httpx.HTTPError as exc:
            raise RegistryClientError(f"cannot reach the registry at {self.url}: {exc}") from None
        if status == 404:
            raise _NotFound(path)
        if status != 200:
            try:
                reason = str(json.loads(bytes(body)).get("error"))[:500]
            except (ValueError, AttributeError):
                reason = bytes(body[:200]).decode("utf-8", "replace")
            raise RegistryClientError(f"{path}: the registry answered {status}: {reason}")
        return bytes(body)

    def _get_json(self, path: str, **params: Any) -> Any:
        try:
            return json.loads(self._get(path, **params))
        except ValueError:
            raise RegistryClientError(f"{path}: the registry's answer is not JSON") from None

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
        saved = self.state.data["logs"].get(self.url)
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
            if note is None or note.text != view_key_text(verifier.name, view_key.encode("ascii")):
                self.notes.append("the registry's freshness-view key is not vouched for by its log key: ignored")
                view_key = None
        if saved is not None and saved.get("view_key") and view_key and saved["view_key"] != view_key:
            raise RegistryClientError("the registry's freshness-view key changed since it was first trusted")
        entry = self.state.data["logs"].setdefault(self.url, {})
        entry.update({"vkey": verifier.vkey(), "view_key": saved.get("view_key") if saved else view_key,
                      "origin": verifier.name})
        self._log = {"verifier": verifier, "view_key": entry["view_key"]}
        return verifier

    def verified_checkpoint(self) -> Any:
        """The latest checkpoint, signed by the pinned key (and witnesses), consistent with the last one seen."""
        from weightwarden.registry.note import open_checkpoint

        verifier = self.log_verifier()
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
        self._advance(checkpoint, note, verifier)
        return checkpoint

    def _check_witness_age(self, note: bytes) -> None:
        """At least ``quorum`` of the trusted cosignatures are at most ``max_witness_age_s`` old."""
        import time

        from weightwarden.registry.note import parse_note, verified_signatures

        if not self.max_witness_age_s:
            return
        stamps = sorted((int(s.timestamp or 0) for s in verified_signatures(parse_note(note), self.witnesses)),
                        reverse=True)
        if len(stamps) < self.quorum or stamps[self.quorum - 1] < time.time() - self.max_witness_age_s:
            newest = stamps[self.quorum - 1] if len(stamps) >= self.quorum else 0
            raise RegistryClientError(f"the newest witnessed checkpoint is stale: {self.quorum} cosignature(s) "
                                      f"within {int(self.max_witness_age_s)} s are required, the quorum's oldest is "
                                      f"{int(time.time() - newest)} s old (witnesses stopped, or an old checkpoint "
                                      "is replayed)")

    def _advance(self, checkpoint: Any, note: bytes, verifier: Any) -> None:
        """Remember ``checkpoint`` after proving it consistent with the one remembered (never backwards).
        Witnessed checkpoints are remembered apart: the newest cosigned one may trail the latest."""
        from weightwarden.registry.note import NoteError, open_checkpoint

        slot = "checkpoint_witnessed" if self.quorum else "checkpoint"
        saved = self.state.data["logs"][self.url].get(slot)
        if saved is not None:
            old_note = saved.encode("utf-8")
            try:
                old, _ = open_checkpoint(old_note, verifier, verifier.name)
            except NoteError as exc:
                raise RegistryClientError(f"the remembered checkpoint does not verify: {exc.reason}") from None
            self._check_consistent(old, checkpoint, old_note, note, verifier)
        self.state.data["logs"][self.url][slot] = note.decode("utf-8")
        self.state.save()

    def _check_consistent(self, old: Any, new: Any, old_note: bytes, new_note: bytes, verifier: Any) -> None:
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
            # splitview wants the consistency *path*: the proof, led by the old root when old_size is 2^k
            path = [old.root_hash, *proof] if proof and old.size & (old.size - 1) == 0 else proof
            try:
                evidence = detect_split_view(old_note, new_note, verifier, path or None)
            except WeightwardenError:
                evidence = None
            shown = "\n" + evidence.render() if evidence is not None else ""
            raise RegistryClientError("the registry's tree is not consistent with the checkpoint this client "
                                      f"verified before (split view or rewritten history){shown}") from None

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
        """Every entry of ``checkpoint``'s tree from the entry bundles, checked against its root."""
        from weightwarden.registry import tiles, tlog

        out: list[bytes] = []
        n = 0
        while n < checkpoint.size:
            width = min(tiles.TILE_WIDTH, checkpoint.size - n)
            tile = tiles.Tile(tiles.ENTRIES_LEVEL, n // tiles.TILE_WIDTH, width)
            out.extend(tiles.decode_entry_bundle(self._get("/" + tile.path()), width))
            n += width
        memory = tlog.MemoryHashStore()
        for data in out:
            memory.append(data)
        if memory.root() != checkpoint.root_hash:
            raise RegistryClientError("the log's entries do not hash to the checkpoint's root (tampered entries)")
        return out

    # ---------------------------------------------------------------------------------------------------
    # writes

    def publish(self, body: dict[str, Any], key: Any) -> Published:
        """Send one entry body, signed with ``key``; return its index once proven in a verified checkpoint."""
        import httpx

        from weightwarden.registry import tlog
        from weightwarden.registry.note import open_checkpoint

        _entries.check_body(body)
        raw = _entries.canonical(body)
        verifier = self.log_verifier()
        headers = sign_request(key, verifier.name, "POST", "/entries", raw)
        headers["Content-Type"] = "application/json"
        try:
            response = self.http.post("/entries", content=raw, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryClientError(f"cannot reach the registry at {self.url}: {exc}") from None
        if response.status_code != 201:
            raise RegistryRefused(response.status_code, _reason(response))
        answer = response.json()
        note = answer["checkpoint"].encode("utf-8")
        try:
            checkpoint, _ = open_checkpoint(note, verifier, verifier.name)
        except WeightwardenError as exc:
            raise RegistryClientError(f"the checkpoint returned for the append does not verify: {exc.reason}") from None
        index = int(answer["index"])
        entry = self._get_json(f"/entries/{index}")
        data = base64.b64decode(entry["data"])
        if _entries.parse_logged(data)["body"] != body:
            raise RegistryClientError(f"entry {index} is not the body this client sent")
        try:
            tlog.verify_inclusion(leaf_hash(data), index, checkpoint.size, checkpoint.root_hash,
                                  _hashes(answer.get("inclusion_proof")))
        except tlog.ProofError as exc:
            raise RegistryClientError(f"the registry's inclusion proof for entry {index} fails: {exc.reason}") from None
        if not self.quorum:  # a publisher, too, refuses a log that forks away from what it saw before
            self._advance(checkpoint, note, verifier)
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
        and within the line any revoked or incident-affected match makes it not current."""
        checkpoint = self.verified_checkpoint()
        found = self._find_releases(path, bundle, model, checkpoint)
        what = "this bundle" if bundle is not None else "the files at this path"
        if not found:
            return self._result(False, checkpoint, reasons=[f"no release in the registry matches {what}"])
        lines = sorted({body["model"] for _, body in found})
        if len(lines) > 1:
            return self._result(False, checkpoint, reasons=[
                f"ambiguous: {len(lines)} model lines claim {what}: {', '.join(lines)}; the registry cannot say "
                "whose release it is (pass --model to name the line you trust)"])
        line = lines[0]
        signed, fresh_reasons, checkpoint = self._signed_view(line, checkpoint)
        data = self._line_data(line, checkpoint, signed)
        view = _line_view_at(line, checkpoint.size, data)
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
            incidents = self._incidents(body, view, checkpoint)
            for hit in incidents:
                if hit["state"] in OPEN_INCIDENT_STATES:
                    via = f" via {hit['via']}" if hit.get("via") else ""
                    own.append(f"open incident {hit['id']} ({hit['severity']}, {hit['state']}){via}: {hit['summary']}")
                    blocking = True
            if signed is not None and not own:  # the signed view binds: it may not say otherwise
                own.extend(_signed_verdict(signed, index, body, incidents))
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
        return self._result(not reasons, checkpoint, reasons=reasons, body=chosen[1], index=chosen[0],
                            incidents=chosen[4])

    def _result(self, current: bool, checkpoint: Any, *, reasons: list[str], body: dict[str, Any] | None = None,
                index: int | None = None, incidents: Sequence[dict[str, Any]] = ()) -> CheckResult:
        return CheckResult(current=current, model=body["model"] if body else None,
                           version=body["version"] if body else None, index=index,
                           bundle=body["bundle"] if body else None, tree_size=checkpoint.size,
                           reasons=tuple(reasons), notes=tuple(self.notes), incidents=tuple(incidents))

    # entries -----------------------------------------------------------------------------------------------

    def _logged(self, index: int, data: bytes) -> dict[str, Any]:
        """A logged entry the client reads, checked against the entry schema: a malformed entry (a hostile
        operator's) is a clear error, never a KeyError deep in the verdict."""
        try:
            logged = _entries.parse_logged(data)
            _entries.check_body(logged["body"])
            key_id = logged.get("publisher", {}).get("key_id")
            if not isinstance(key_id, str):
                raise _entries.EntryError("the entry names no publisher key")
        except (_entries.EntryError, AttributeError) as exc:
            raise RegistryClientError(f"log entry {index} is not a valid entry: "
                                      f"{getattr(exc, 'reason', exc)}") from None
        return logged

    def _scanned(self, checkpoint: Any) -> list[dict[str, Any]]:
        """Every entry of the tree, root-verified and schema-checked (cached per tree size)."""
        cached = self._scan_cache
        if cached is None or cached[0] != checkpoint.size:
            data = self.all_entries(checkpoint)
            cached = (checkpoint.size, [self._logged(i, d) for i, d in enumerate(data)])
            self._scan_cache = cached
        return cached[1]

    def _find_releases(self, path: Any, bundle: Any, model: str | None,
                       checkpoint: Any) -> list[tuple[int, dict[str, Any]]]:
        """Every release matching the bundle digest (``bundle``) or the root digest of the files at ``path``
        (of line ``model`` when given). Up to ``full_scan_max`` entries they are found in the entries
        themselves; above, the registry's lookup is a hint and each release it names is proven."""
        digest = root = None
        if bundle is not None:
            from weightwarden.integrity.bundle import read_bundle_file

            try:
                digest = "sha256:" + hashlib.sha256(read_bundle_file(bundle)).hexdigest()
            except OSError as exc:
                raise InputError(f"{bundle}: cannot read the bundle: {exc.strerror or exc}") from None
        else:
            if path is None:
                raise InputError("check needs a model path or a bundle")
            root = _default_root(path)

        def matches(body: dict[str, Any]) -> bool:
            return body["bundle"] == digest if digest is not None else body["subject"]["sha256"] == root

        found: list[tuple[int, dict[str, Any]]] = []
        if checkpoint.size <= self.full_scan_max:
            for index, logged in enumerate(self._scanned(checkpoint)):
                body = logged["body"]
                if body["schema"] == _entries.RELEASE_SCHEMA and matches(body):
                    found.append((index, body))
        else:
            answer = self._get_json("/releases", **({"bundle": digest} if digest is not None else {"subject": root}))
            candidates = answer.get("releases") if isinstance(answer, dict) else None
            if not isinstance(candidates, list):
                raise RegistryClientError("the registry's release lookup is not a list")
            if len(candidates) > MAX_CANDIDATES:
                raise RegistryClientError(f"the registry lists {len(candidates)} releases for this digest, more than "
                                          f"the {MAX_CANDIDATES} this client weighs: refusing to pick one")
            for cand in candidates:
                if not isinstance(cand, dict) or not isinstance(cand.get("index"), int):
                    raise RegistryClientError("the registry's release lookup is malformed")
                index = int(cand["index"])
                if index >= checkpoint.size:
                    self.notes.append(f"a matching release is at log index {index}, after the verified checkpoint "
                                      f"(size {checkpoint.size}{', the newest the witnesses cosigned' if self.quorum else ''})")
                    continue
                body = self._logged(index, self.verified_entry(index, checkpoint))["body"]
                if body.get("schema") != _entries.RELEASE_SCHEMA:
                    raise RegistryClientError(f"entry {index} is not a release although the registry said so")
                if not matches(body):
                    what = (f"the release of another bundle ({body['bundle']}), not of {digest}" if digest
                            else "a release whose files' digest is not the one computed here")
                    raise RegistryClientError(f"the registry pointed at entry {index}, which is {what}")
                found.append((index, body))
        return [(i, b) for i, b in found if model is None or b["model"] == model]

    def _line_data(self, model: str, checkpoint: Any, signed: Any) -> _LineData:
        """The entries of ``model``'s line in ``checkpoint``'s tree, each one proven. Up to ``full_scan_max``
        entries from every entry (root-verified); above, the entries the registry's index lists plus those
        the signed view names, each with an inclusion proof (what the index leaves out shows up as a
        mismatch with the signed view's entry count and digest)."""
        data = _LineData()
        if checkpoint.size <= self.full_scan_max:
            for index, logged in enumerate(self._scanned(checkpoint)):
                data.add(model, index, logged)
            self.notes.append(f"model line derived from all {checkpoint.size} log entries (root verified)")
            return data
        served = self._get_json(f"/models/{model}")
        wanted: set[int] = set()
        if isinstance(served, dict):
            listed = served.get("entries", [])
            if not isinstance(listed, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in listed):
                raise RegistryClientError(f"the registry's index of {model} is malformed")
            wanted.update(listed)
        if signed is not None:
            rel = signed.release
            wanted.update(i for i in (rel.latest_index, *rel.revocations) if i is not None)
        for index in sorted(i for i in wanted if 0 <= i < checkpoint.size):
            data.add(model, index, self._logged(index, self.verified_entry(index, checkpoint)))
        self.notes.append("model line from the registry's index; each entry used was proven in the log "
                          f"(log of {checkpoint.size} entries is above the full-scan limit {self.full_scan_max})")
        return data

    def _line_view(self, model: str, checkpoint: Any) -> dict[str, Any]:
        return _line_view_at(model, checkpoint.size, self._line_data(model, checkpoint, None))

    # freshness ---------------------------------------------------------------------------------------------

    def _seen(self) -> Any:
        """The view versions accepted so far, kept per log (its verifier key): a registry trusted once can
        never make another registry's views look like rollbacks."""
        from weightwarden.registry.freshness import LastSeen

        vkey = self.log_verifier().vkey()
        return LastSeen(self.seen_path.with_name(f"seen-{hashlib.sha256(vkey.encode()).hexdigest()[:16]}.json"))

    def _signed_view(self, model: str, checkpoint: Any) -> tuple[Any, list[str], Any]:
        """The verified signed view of ``model`` (or None and why not), and the checkpoint to use: when the
        view was made at a bigger tree than ``checkpoint``, a newer checkpoint consistent with it is fetched;
        if the registry has none, the view is ahead of the log it serves (a frozen mirror) and the answer is
        not current."""
        from cryptography.hazmat.primitives import serialization

        from weightwarden.registry.freshness import FreshnessError, verify_current_view

        self.log_verifier()
        pem = self._log["view_key"] if self._log else None
        if not pem:
            return None, ["the registry publishes no freshness-view key: freshness cannot be checked"], checkpoint
        key = serialization.load_pem_public_key(pem.encode("ascii"))
        try:
            data = self._get(f"/current/{model}")
        except _NotFound:
            return None, [f"the registry serves no current-release view of {model}"], checkpoint
        seen = self._seen()
        try:
            verified = verify_current_view(data, key, model_line=model, last_seen=seen.get(model))
        except FreshnessError as exc:
            return None, [f"freshness: {exc.reason}"], checkpoint
        rel = verified.release
        if rel.tree_size is None:
            return None, [f"freshness: the view of {model} does not say which tree it describes (tree size, root "
                          "and line facts): it cannot be checked against the log"], checkpoint
        head = checkpoint
        if rel.tree_size > checkpoint.size:
            head = self._newer_head(checkpoint)
            if rel.tree_size > head.size:
                return None, [f"freshness: the signed view of {model} was made at tree size {rel.tree_size}, but "
                              f"the newest checkpoint this registry serves has {head.size} entries: the log is "
                              "served frozen or stale (a mirror hiding newer entries?)"], checkpoint
            if not self.quorum:
                checkpoint = head
        self._check_view_tree(rel.tree_size, bytes.fromhex(rel.tree_root), head)
        seen.remember(model, verified.seen)
        self.notes.append(f"freshness view v{verified.version} (tree size {rel.tree_size}) valid until "
                          f"{verified.expires.isoformat()}")
        return verified, [], checkpoint

    def _newer_head(self, checkpoint: Any) -> Any:
        """The registry's latest log-signed checkpoint, proven consistent with ``checkpoint``. Without a
        witness quorum it becomes the verified checkpoint; with one it is only used to place the view."""
        if not self.quorum:
            return self.verified_checkpoint()
        from weightwarden.registry.note import open_checkpoint

        verifier = self.log_verifier()
        note = self._get("/checkpoint")
        try:
            head, _ = open_checkpoint(note, verifier, verifier.name)
        except WeightwardenError as exc:
            raise RegistryClientError(f"the registry's checkpoint does not verify: {exc.reason}") from None
        if head.size > checkpoint.size:
            saved = self.state.data["logs"][self.url].get("checkpoint_witnessed", "").encode("utf-8")
            self._check_consistent(checkpoint, head, saved, note, verifier)
        return head

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
        if rel.tree_size > checkpoint.size:  # witnessed checkpoint behind the view: its facts bind alone
            self.notes.append(f"the signed view (tree size {rel.tree_size}) is newer than the witnessed "
                              f"checkpoint ({checkpoint.size}): its facts are used as stated")
            return []
        derived = line_facts(_line_view_at(model, rel.tree_size, data))
        stated = rel.facts()
        differ = sorted(k for k in derived if derived[k] != stated.get(k))
        if not differ:
            return []
        return [f"the registry's signed view of {model} (tree size {rel.tree_size}) disagrees with the entries "
                f"proven in the log on {', '.join(differ)}: an entry was hidden or the view is false"]

    def _incidents(self, body: dict[str, Any], view: dict[str, Any], checkpoint: Any) -> list[dict[str, Any]]:
        """Incidents on this release's line and, through declared bases, on its ancestors. Records of all
        these lines are weighed together by (incident id, publisher key): a record in a base line, by the
        base's publisher, cannot replace one that a third party filed about this line."""
        from weightwarden.registry import incidents as inc
        from weightwarden.registry.views import current_incidents

        lines = [body["model"], *body.get("bases", [])]
        items = [(i["index"], i["owner"], i["record"]) for i in view["incidents"]]
        for base in body.get("bases", []):
            base_view = self._line_view(base, checkpoint)
            items.extend((i["index"], i["owner"], i["record"]) for i in base_view["incidents"])
        parsed = []
        for current in current_incidents(items):
            record = current["record"]
            try:
                parsed.append(inc.Incident.from_osv(record, where=str(record.get("id"))))
            except inc.IncidentError as exc:
                self.notes.append(f"skipped an unreadable incident record: {exc.reason}")
        me = inc.ModelRecord(model_id=body["model"], version=str(body["version"]),
                             weights_root=body.get("weights_root"),
                             file_digests={f["name"]: f["digest"] for f in body["files"]},
                             declared_bases=tuple(body.get("bases", [])))

        class _View:
            def incidents(self) -> Iterable[Any]:
                return parsed

            def model(self, model_id: str) -> Any:
                if model_id == me.model_id:
                    return me
                return inc.ModelRecord(model_id=model_id) if model_id in lines else None

        view_obj = _View()
        hits = inc.incidents_affecting(me, view_obj, inc.declared_lineage(view_obj), current=True)
        out = []
        for hit in hits:
            incident = hit.incident
            via = " → ".join(d.parent for d in hit.path) if hit.path else ""
            out.append({"id": incident.id, "state": incident.state.value, "severity": incident.severity,
                        "summary": incident.summary, "matched": hit.matched_model, "match": hit.match, "via": via})
        return out


class _LineData:
    """The proven entries of one model line: release rows, events, bodies and publishers by log index."""

    def __init__(self) -> None:
        self.rels: list[dict[str, Any]] = []
        self.evs: list[Any] = []
        self.bodies: dict[int, dict[str, Any]] = {}
        self.owners: dict[int, str] = {}

    def add(self, model: str, index: int, logged: dict[str, Any]) -> None:
        from weightwarden.registry.views import events_of, release_row

        body = logged["body"]
        kind = _entries.KIND_BY_SCHEMA.get(body.get("schema"))
        owner = str(logged["publisher"]["key_id"])
        if kind == "release":
            if body["model"] == model:
                self.rels.append(release_row(index, body, owner, 0))
            return
        mine = [e for e in events_of(kind or "", body, index) if e.model == model]
        if mine:
            self.evs.extend(mine)
            self.bodies[index] = body
            self.owners[index] = owner


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


class _NotFound(RegistryClientError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: not found")


def _reason(response: Any) -> str:
    try:
        data = response.json()
        return str(data.get("error") or data.get("detail"))[:500]
    except (ValueError, AttributeError):
        return response.text[:200]


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
