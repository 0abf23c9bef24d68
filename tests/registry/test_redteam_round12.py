"""Red team round 12 on the registry (docs/decisions.md), on SQLite and PostgreSQL, with its fixes.

F1  The round-11 floor asked a ``--quorum`` run whose witnessed tree (1) trails a log-signed tree it verified
    before (2) for a signed view of at least that tree, but the view's facts about the entries past the
    witnessed tree were then "used as stated": the operator (log key, view key, database; no publisher key)
    emptied the incident lists of the real tree-2 view, re-signed it, and ``check --quorum`` said "current"
    for a release with an open critical incident the client had verified. The class rule: no fact comes from
    the view signer alone. A view ahead of the judged tree must be of the latest log-signed checkpoint (proven
    consistent with the witnessed tree and everything remembered); the line is judged over it, from proven
    entries, and the view's facts are always compared with them.
L1  An incident with 0 < min_score < 1e-4 could be built but never logged (the log takes plain JSON floats
    only): the builder refuses it with a clear message.
"""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import LiveServer
from tests.registry.test_redteam_round1 import _client
from tests.registry.test_redteam_round10 import _witness
from tests.registry.test_redteam_round11 import _copy_prefix_from_store, _rollback_setup
from weightwarden.registry import entries
from weightwarden.registry.client import RegistryClientError
from weightwarden.registry.incidents import AffectedModel, IncidentError, LineagePolicy, new_incident

parties = round1.parties  # a real server and four publishers (acme, meta, evil, institute)


def _front(witnessed: str, full: str, view_key, *, forge: bool, entries_from: str | None = None,
           checkpoint_from: str | None = None) -> httpx.MockTransport:
    """The hostile operator's front: its witnessed checkpoint from ``witnessed`` (the witness held at size 1),
    the log-signed checkpoint and proofs from ``full`` (genuine), and the real current view, re-signed at
    version 1000 with its incident lists emptied when ``forge`` (else only the version is bumped)."""
    from tuf.api.metadata import Metadata

    from weightwarden.registry.freshness import sign_current_view, view_bytes

    upstream = httpx.Client(timeout=30)

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode("ascii")
        base = full
        if path == "/checkpoint/witnessed":
            base = witnessed
        elif path == "/checkpoint" and checkpoint_from:
            base = checkpoint_from
        elif (path.startswith("/tile/") or path.startswith("/entries")) and entries_from:
            base = entries_from
        answer = upstream.get(base + path)
        content = answer.content
        if path.startswith("/current/") and answer.status_code == 200:
            md = Metadata.from_bytes(content)
            md.signed.version = 1000
            for target in md.signed.targets.values():
                if forge:
                    target.custom["open_incidents"] = []
                    target.custom["affecting_incidents"] = []
            content = view_bytes(sign_current_view(md, view_key))
        return httpx.Response(answer.status_code, content=content,
                              headers={k: v for k, v in answer.headers.items()
                                       if k.lower() in ("content-type", "cache-control", "etag")})

    return httpx.MockTransport(handle)


def _verified_size_2(parties, store, log_keys, state: str = "s"):
    """A run without --quorum verifies the log-signed size 2 (an open critical incident at index 1); then
    the operator keeps its witness at size 1 (the old copy's checkpoint, cosigned on request)."""
    server, who, tmp, model, bundle, old = _rollback_setup(parties, store, log_keys)
    log_key = log_keys.note_signer.verifier().vkey()
    with _client(server, tmp, state, log_key=log_key) as c:
        result = c.check(model, bundle=bundle)
        assert not result.current and result.tree_size == 2
    _copy_prefix_from_store(store, old)
    vkeys, cosign = _witness(old, log_keys, tmp)
    cosign()
    return server, tmp, model, bundle, old, log_key, vkeys


@pytest.mark.parametrize("memory", ["state-and-seen", "seen-only", "fresh"])
def test_a_forged_view_at_the_floor_is_not_current_with_a_quorum(parties, store, log_keys, memory):
    """The round-12 PoC, with a front that serves the real log's entries (so only the comparison can catch
    the forged facts): the floor from state.json, a floor only from the seen file's tree, and no memory."""
    server, tmp, model, bundle, old, log_key, vkeys = _verified_size_2(parties, store, log_keys)
    state = tmp / "s"
    if memory == "seen-only":
        (state / "state.json").unlink()
    elif memory == "fresh":
        state = tmp / "fresh"
    with LiveServer(old, log_keys) as stale:
        front = _front(stale.url, server.url, log_keys.view_key, forge=True)
        with _client(server, tmp, state.name, log_key=log_key, witnesses=vkeys, quorum=1, transport=front) as c:
            result = c.check(model, bundle=bundle)
    assert not result.current, result
    assert result.tree_size == 2, result  # judged over the log-signed tree that places the view
    text = " | ".join(result.reasons)
    assert "disagrees with the entries proven in the log" in text, text
    assert "BACKDOOR" in text, text  # the client's own reading of the proven incident
    assert not any("used as stated" in n for n in result.notes), result.notes
    assert any("ahead of the witnessed checkpoint (1)" in n for n in result.notes), result.notes
    old.close()


def test_the_honest_view_at_the_floor_gives_the_incident(parties, store, log_keys):
    server, tmp, model, bundle, old, log_key, vkeys = _verified_size_2(parties, store, log_keys)
    with LiveServer(old, log_keys) as stale:
        front = _front(stale.url, server.url, log_keys.view_key, forge=False)
        with _client(server, tmp, "s", log_key=log_key, witnesses=vkeys, quorum=1, transport=front) as c:
            result = c.check(model, bundle=bundle)
    assert not result.current and result.tree_size == 2, result
    text = " | ".join(result.reasons)
    assert "BACKDOOR" in text and "disagrees" not in text, text
    old.close()


def test_the_red_teams_front_withholding_the_entries_fails_closed(parties, store, log_keys):
    """The PoC's own front serves the entries of the old size-1 copy: the tree-2 entries cannot be proven."""
    server, tmp, model, bundle, old, log_key, vkeys = _verified_size_2(parties, store, log_keys)
    with LiveServer(old, log_keys) as stale:
        front = _front(stale.url, server.url, log_keys.view_key, forge=True, entries_from=stale.url)
        with _client(server, tmp, "s", log_key=log_key, witnesses=vkeys, quorum=1, transport=front) as c:
            try:
                result = c.check(model, bundle=bundle)
            except RegistryClientError:
                pass
            else:
                assert not result.current, result
    old.close()


@pytest.mark.parametrize("memory", ["remembered", "fresh"])
def test_a_forged_view_is_not_current_without_a_quorum(parties, store, log_keys, memory):
    server, tmp, model, bundle, old, log_key, _ = _verified_size_2(parties, store, log_keys)
    with LiveServer(old, log_keys) as stale:
        front = _front(stale.url, server.url, log_keys.view_key, forge=True)
        with _client(server, tmp, "s" if memory == "remembered" else "fresh", log_key=log_key,
                     transport=front) as c:
            result = c.check(model, bundle=bundle)
        assert not result.current and result.tree_size == 2, result
        assert any("disagrees with the entries proven in the log" in r for r in result.reasons), result.reasons
        # a front serving the old log-signed size 1 to the client that verified 2: refused as going backwards
        front = _front(stale.url, server.url, log_keys.view_key, forge=True, checkpoint_from=stale.url,
                       entries_from=stale.url)
        if memory == "remembered":
            with _client(server, tmp, "s", log_key=log_key, transport=front) as c, \
                    pytest.raises(RegistryClientError, match="went backwards"):
                c.check(model, bundle=bundle)
    old.close()


# --- L1: what the incident builder accepts, the log accepts ------------------------------------------------------


def _incident(min_score: float):
    return new_incident(summary="x", risk_domain="supply_chain.integrity", severity="low",
                        affected=[AffectedModel("acme/ok")], lineage_policy=LineagePolicy(min_score=min_score))


@pytest.mark.parametrize("score", [0.0, 1e-4, 0.00015, 0.5, 1.0])
def test_every_buildable_min_score_is_loggable(score):
    raw = entries.canonical(entries.incident_body(_incident(score).to_osv()))
    entries.parse_body_bytes(raw)  # admission's plain-JSON rule


@pytest.mark.parametrize("score", [5e-5, 1e-9, 5e-324])
def test_a_min_score_the_log_cannot_carry_is_refused_by_the_builder(score):
    with pytest.raises(IncidentError, match="must be 0 or at least 0.0001"):
        _incident(score)


def test_the_cli_refuses_a_min_score_below_the_step(tmp_path):
    from weightwarden.cli.main import main as cli

    out = tmp_path / "inc.json"
    base = ["incident", "new", "--model", "acme/ok", "--summary", "x", "--risk-domain", "supply_chain.integrity",
            "--severity", "low", "-o", str(out)]
    result = CliRunner().invoke(cli, [*base, "--min-score", "0.00005"])
    assert result.exit_code != 0 and "at least 0.0001" in result.output, result.output
    assert not out.exists()
    result = CliRunner().invoke(cli, [*base, "--min-score", "0.0001"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["database_specific"]["lineage_policy"]["min_score"] == 0.0001
