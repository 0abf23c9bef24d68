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
2. finds the release: by the bundle digest (``--bundle``) or by the root digest of the files at PATH, and
   proves the release entry is in the checkpoint's tree (inclusion proof);
3. re-hashes PATH with the release's serialization: a different root digest = modified since publication;
4. derives the model line's status from entries it verified: for a log of at most ``full_scan_max``
   entries it downloads every entry bundle and recomputes the root (nothing can be hidden from it);
   for a bigger log it uses the server's index but proves each entry the verdict rests on;
5. verifies the signed current-release view (freshness: expiry against a frozen registry, version against
   rollback, via ``weightwarden.registry.freshness``);
6. looks for incidents on the release and, through declared lineage, its ancestors (``incidents``).
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
                 full_scan_max: int = FULL_SCAN_MAX, transport: Any = None) -> None:
        import httpx

        from weightwarden.registry.note import NoteError, NoteVerifier

        self.url = url.rstrip("/")
        self.state = _State.load(Path(state_dir or default_state_dir()).expanduser() / "state.json")
        self.seen_path = Path(state_dir or default_state_dir()).expanduser() / "seen.json"
        self.full_scan_max = full_scan_max
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
            else:
                checkpoint, _ = open_checkpoint(note, verifier, verifier.name)
        except WeightwardenError as exc:
            raise RegistryClientError(f"the registry's checkpoint does not verify: {exc.reason}") from None
        self._advance(checkpoint, note, verifier)
        return checkpoint

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
        """Is the model at ``path`` (or the release of ``bundle``) the current, unrevoked, unchanged release?"""
        reasons: list[str] = []
        checkpoint = self.verified_checkpoint()
        release = self._find_release(path, bundle, model, checkpoint)
        if release is None:
            what = "this bundle" if bundle is not None else "the files at this path"
            return self._result(False, checkpoint, reasons=[f"no release in the registry matches {what}"])
        index, body = release
        if path is not None:
            changed = _compare_files(path, body)
            if changed:
                reasons.append(changed)
        view = self._line_view(body["model"], checkpoint)
        rel = next((r for r in view["releases"] if r["bundle"] == body["bundle"]), None)
        if rel is None:
            raise RegistryClientError("the release is in the log but not in its model line's view")
        if rel["status"] == "revoked":
            rev = rel["revoked"]
            incident = f" (incident {rev['incident']})" if rev.get("incident") else ""
            reasons.append(f"release v{body['version']} of {body['model']} was REVOKED at log index "
                           f"{rev['index']}: {rev['reason']}{incident}")
        elif rel["status"] == "superseded":
            latest = next((r for r in view["releases"] if r["bundle"] == view["latest"]), None)
            newer = f"v{latest['version']} ({latest['bundle']})" if latest else "a newer release"
            reasons.append(f"release v{body['version']} of {body['model']} is superseded by {newer}")
        reasons.extend(self._freshness(body["model"], view))
        incidents = self._incidents(body, view, checkpoint)
        for hit in incidents:
            if hit["state"] in OPEN_INCIDENT_STATES:
                via = f" via {hit['via']}" if hit.get("via") else ""
                reasons.append(f"open incident {hit['id']} ({hit['severity']}, {hit['state']}){via}: {hit['summary']}")
        return self._result(not reasons, checkpoint, reasons=reasons, body=body, index=index, incidents=incidents)

    def _result(self, current: bool, checkpoint: Any, *, reasons: list[str], body: dict[str, Any] | None = None,
                index: int | None = None, incidents: Sequence[dict[str, Any]] = ()) -> CheckResult:
        return CheckResult(current=current, model=body["model"] if body else None,
                           version=body["version"] if body else None, index=index,
                           bundle=body["bundle"] if body else None, tree_size=checkpoint.size,
                           reasons=tuple(reasons), notes=tuple(self.notes), incidents=tuple(incidents))

    def _find_release(self, path: Any, bundle: Any, model: str | None,
                      checkpoint: Any) -> tuple[int, dict[str, Any]] | None:
        # What identifies the release is computed here (bundle digest, or root digest of the files), and the
        # entry the registry points at must carry exactly that: its lookup index is a hint, never the answer.
        digest = root = None
        if bundle is not None:
            from weightwarden.integrity.bundle import read_bundle_file

            try:
                digest = "sha256:" + hashlib.sha256(read_bundle_file(bundle)).hexdigest()
            except OSError as exc:
                raise InputError(f"{bundle}: cannot read the bundle: {exc.strerror or exc}") from None
            try:
                candidates = [self._get_json(f"/releases/{digest}")]
            except _NotFound:
                return None
        else:
            if path is None:
                raise InputError("check needs a model path or a bundle")
            root = _default_root(path)
            candidates = self._get_json("/releases", subject=root).get("releases", [])
        if not isinstance(candidates, list):
            raise RegistryClientError("the registry's release lookup is not a list")
        for cand in candidates[:MAX_CANDIDATES]:
            if not isinstance(cand, dict) or not isinstance(cand.get("index"), int):
                raise RegistryClientError("the registry's release lookup is malformed")
            if model is not None and cand.get("model") != model:
                continue
            index = int(cand["index"])
            if index >= checkpoint.size:
                self.notes.append(f"a matching release is at log index {index}, after the verified checkpoint "
                                  f"(size {checkpoint.size}{', the newest the witnesses cosigned' if self.quorum else ''})")
                continue
            logged = _entries.parse_logged(self.verified_entry(index, checkpoint))
            body = logged["body"]
            if body.get("schema") != _entries.RELEASE_SCHEMA:
                raise RegistryClientError(f"entry {index} is not a release although the registry said so")
            if digest is not None and body["bundle"] != digest:
                raise RegistryClientError(f"the registry pointed at entry {index}, which is the release of another "
                                          f"bundle ({body['bundle']}), not of {digest}")
            if root is not None and body["subject"]["sha256"] != root:
                raise RegistryClientError(f"the registry pointed at entry {index}, whose files' digest is not "
                                          "the one computed here")
            return index, body
        return None

    def _line_view(self, model: str, checkpoint: Any) -> dict[str, Any]:
        from weightwarden.registry.views import build_model_view, events_of, release_row

        if checkpoint.size <= self.full_scan_max:
            rels, evs, bodies = [], [], {}
            for index, data in enumerate(self.all_entries(checkpoint)):
                logged = _entries.parse_logged(data)
                body = logged["body"]
                kind = _entries.KIND_BY_SCHEMA.get(body.get("schema"))
                if kind == "release" and body["model"] == model:
                    rels.append(release_row(index, body, logged["publisher"]["key_id"], 0))
                elif kind not in (None, "release"):
                    mine = [e for e in events_of(kind, body, index) if e.model == model]
                    evs.extend(mine)
                    if mine:
                        bodies[index] = body
            self.notes.append(f"model line derived from all {checkpoint.size} log entries (root verified)")
            return build_model_view(model, checkpoint.size, rels, evs, bodies)
        # Large log: the server's index, but every entry the verdict rests on is proven.
        served = self._get_json(f"/models/{model}")
        rels, evs, bodies = [], [], {}
        for r in served.get("releases", []):
            if r["index"] >= checkpoint.size:
                continue
            body = _entries.parse_logged(self.verified_entry(r["index"], checkpoint))["body"]
            rels.append(release_row(r["index"], body, r.get("publisher", ""), 0))
            for key in ("revoked", "superseded_by"):
                if r.get(key) and r[key]["index"] < checkpoint.size:
                    ev_index = r[key]["index"]
                    ev_body = _entries.parse_logged(self.verified_entry(ev_index, checkpoint))["body"]
                    kind = _entries.KIND_BY_SCHEMA[ev_body["schema"]]
                    evs.extend(e for e in events_of(kind, ev_body, ev_index) if e.model == model)
                    bodies[ev_index] = ev_body
        for inc in served.get("incidents", []):
            if inc["index"] < checkpoint.size:
                ev_body = _entries.parse_logged(self.verified_entry(inc["index"], checkpoint))["body"]
                evs.extend(e for e in events_of("incident", ev_body, inc["index"]) if e.model == model)
                bodies[inc["index"]] = ev_body
        evs.sort(key=lambda e: e.idx)
        self.notes.append("model line from the registry's index; each entry used was proven in the log "
                          f"(log of {checkpoint.size} entries is above the full-scan limit {self.full_scan_max})")
        return build_model_view(model, checkpoint.size, rels, evs, bodies)

    def _freshness(self, model: str, view: dict[str, Any]) -> list[str]:
        from cryptography.hazmat.primitives import serialization

        from weightwarden.registry.freshness import FreshnessError, LastSeen, verify_current_view

        pem = self._log["view_key"] if self._log else None
        if not pem:
            return ["the registry publishes no freshness-view key: freshness cannot be checked"]
        key = serialization.load_pem_public_key(pem.encode("ascii"))
        try:
            data = self._get(f"/current/{model}")
        except _NotFound:
            return [f"the registry serves no current-release view of {model}"]
        seen = LastSeen(self.seen_path)
        try:
            verified = verify_current_view(data, key, model_line=model, last_seen=seen.get(model))
        except FreshnessError as exc:
            return [f"freshness: {exc.reason}"]
        seen.remember(model, verified.seen)
        out = []
        served_latest = next((r for r in view["releases"] if r["bundle"] == view["latest"]), None)
        if served_latest is not None and verified.release.log_index != served_latest["index"]:
            out.append(f"freshness: the signed current-release view names log index {verified.release.log_index},"
                       f" but the log's latest release of {model} is at index {served_latest['index']}")
        self.notes.append(f"freshness view v{verified.version} valid until {verified.expires.isoformat()}")
        return out

    def _incidents(self, body: dict[str, Any], view: dict[str, Any], checkpoint: Any) -> list[dict[str, Any]]:
        """Incidents on this release's line and, through declared bases, on its ancestors."""
        from weightwarden.registry import incidents as inc

        lines = [body["model"], *body.get("bases", [])]
        records: dict[str, dict[str, Any]] = {i["id"]: i["record"] for i in view["incidents"]}
        for base in body.get("bases", []):
            base_view = self._line_view(base, checkpoint)
            records.update({i["id"]: i["record"] for i in base_view["incidents"]})
        parsed = []
        for record in records.values():
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
        hits = inc.incidents_affecting(me, view_obj, inc.declared_lineage(view_obj))
        out = []
        for hit in hits:
            incident = hit.incident
            via = " → ".join(d.parent for d in hit.path) if hit.path else ""
            out.append({"id": incident.id, "state": incident.state.value, "severity": incident.severity,
                        "summary": incident.summary, "matched": hit.matched_model, "match": hit.match, "via": via})
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
