"""Red team round 23 on the registry (docs/decisions.md): two client processes sharing one state directory, and the
log operator serving one of them an OLD genuine prefix of its log (real app, real SQLite stores, same log key, real
client, 127.0.0.1).

R23-1: the rules the client applies to the memory it LOADED (never judge a tree older than a remembered one, round 11
R1; the ``--quorum`` floor) were not applied to the memory that arrived through the state-file merge (round 22 only
proved merged checkpoints consistent). Process A loaded the state, process B verified a bigger tree holding a
revocation in another line and saved, and A, answered from the older prefix, said CURRENT, verified, exit 0 for the
revoked release. Now the whole memory check runs again on the merged memory (after the save in ``_advance`` and after
the save that ends a judgement): A is refused ("went backwards"), or with --quorum "not current" below the floor.

Also: the state file is never written bigger than it may be read back, a save never replaces an unreadable shared
state with this process's memory, and the witness-age rule counts witness keys as the quorum does.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.registry.forks import honest_log, signed_release
from tests.registry.forks import publish as _publish
from tests.registry.service import ORIGIN, LiveServer, release
from tests.registry.test_redteam_round10 import _witness
from weightwarden.registry import client as client_module
from weightwarden.registry import entries
from weightwarden.registry.client import RegistryClient, RegistryClientError


@pytest.fixture
def logs(tmp_path):
    """The honest log (0 acme/ok v1; 1, 2 fill; 3 acme's revocation of acme/ok v1; 4 fill/z) and the operator's old
    copy of its database at size 3 (same log key): it serves the tree of 3 entries, freshly signed, and answers
    consistency proofs to bigger sizes from the real log (they are genuine)."""
    with honest_log(tmp_path) as log:
        real, honest, fill = log.real, log.honest, log.fill
        for n in range(2):
            _publish(real, tmp_path, release(f"fill/a{n}", seed=n), fill.key)
        old = log.snapshot("old")  # the operator's snapshot at size 3
        _publish(real, tmp_path, entries.revocation_body(model="acme/ok", release=log.acme_body["bundle"],
                                                         reason="CANARY: backdoor found"), log.acme.key)
        fill_z, zbody = signed_release(tmp_path, "fz", "fill/z", 50)
        _publish(real, tmp_path, zbody, fill.key)
        assert honest.size() == 5
        assert old.size() == 3
        mine = old.consistency_proof

        def consistency_proof(old_size, new_size=None):
            if new_size is not None and new_size > old.size():
                return honest.consistency_proof(old_size, new_size)
            return mine(old_size, new_size)

        old.consistency_proof = consistency_proof
        with LiveServer(old, log.keys) as stale:
            yield {"real": real, "stale": stale, "keys": log.keys, "tmp": tmp_path, "acme_ok": log.acme_ok,
                   "fill_z": fill_z, "log_key": log.keys.note_signer.verifier().vkey(), "honest": honest, "old": old,
                   "fill": fill, "zbody": zbody}
        old.close()


def _client(server, state, log_key, **kw) -> RegistryClient:
    return RegistryClient(server.url, state_dir=state, log_key=log_key, **kw)


def _b_checks_fill_z(env, state) -> None:
    """Process B: another model (fill/z) against the honest log; it saves checkpoint 5 to the shared state."""
    with _client(env["real"], state, env["log_key"]) as b:
        result = b.check(env["fill_z"], model="fill/z")
    assert result.current and result.verified and result.tree_size == 5, result


def _slot(state, name="checkpoint") -> int:
    doc = json.loads((state / "state.json").read_text())
    (entry,) = doc["keys"].values()
    return int(entry[name].split("\n")[1])


def _truth(env) -> None:
    with _client(env["real"], env["tmp"] / "fresh", env["log_key"]) as c:
        truth = c.check(env["acme_ok"], model="acme/ok")
    assert not truth.current and any("REVOKED" in r and "CANARY" in r for r in truth.reasons), truth.reasons


def test_r23_1_process_loaded_before_a_sibling_verified_a_newer_tree_is_refused(logs):
    """The PoC (poc_merge_rollback, poc_cli_stall): A loads the state (empty, or at an earlier size), B verifies 5
    and saves, the operator answers A from the prefix of 3: refused, "went backwards", never CURRENT."""
    env = logs
    state = env["tmp"] / "shared"
    a = _client(env["stale"], state, env["log_key"])  # process A loaded the state dir; its /log is held
    _b_checks_fill_z(env, state)
    with a, pytest.raises(RegistryClientError, match="went backwards") as refused:
        a.check(env["acme_ok"], model="acme/ok")
    text = str(refused.value)
    assert "checkpoint has 3 entries" in text and "size 5" in text, text
    assert _slot(state) == 5  # the shared memory is not rolled back either
    _truth(env)


def test_r23_1_held_after_its_checkpoint_was_saved_is_refused_too(logs):
    """The same race one request later: A's checkpoint (3) was already saved when the operator holds its next request
    (the signed view) while B verifies 5. The save that ends A's judgement merges 5: the verdict is not given; A
    verifies the checkpoint again against the merged memory and is refused."""
    env = logs
    state = env["tmp"] / "shared"
    a = _client(env["stale"], state, env["log_key"])
    held = a._signed_view
    done = []

    def hold_then_answer(model, checkpoint):
        if not done:
            done.append(True)
            _b_checks_fill_z(env, state)  # the operator holds this request until B has saved
        return held(model, checkpoint)

    a._signed_view = hold_then_answer
    with a, pytest.raises(RegistryClientError, match="went backwards"):
        a.check(env["acme_ok"], model="acme/ok")
    assert done and _slot(state) == 5


def test_r23_1_with_quorum_the_merged_floor_binds(logs):
    """--quorum: the operator's witness cosigned the old tree (3, fresh stamp). A (quorum 1) loaded the state before B
    verified the log-signed 5: the witnessed 3 may trail it, but the verdict must cover 5 (the floor, set from the
    merged memory): not current, and not the revoked release's "current"."""
    env = logs
    vkeys, cosign = _witness(env["old"], env["keys"], env["tmp"])
    cosign()  # the witness cosigned the tree of 3 (the operator's copy; the same tree the log had then)
    state = env["tmp"] / "shared"
    a = _client(env["stale"], state, env["log_key"], witnesses=vkeys, quorum=1)
    _b_checks_fill_z(env, state)
    with a:
        result = a.check(env["acme_ok"], model="acme/ok")
    assert not result.current, result
    assert any("already verified a log-signed tree of 5 entries" in r for r in result.reasons), result.reasons
    assert a._floor is not None and a._floor[0] == 5


def test_r23_1_control_sequential_still_refused(logs):
    """SEQ=1: A loads the state after B saved: refused by the loaded memory, as since round 11."""
    env = logs
    state = env["tmp"] / "shared"
    _b_checks_fill_z(env, state)
    with _client(env["stale"], state, env["log_key"]) as a, pytest.raises(RegistryClientError, match="went backwards"):
        a.check(env["acme_ok"], model="acme/ok")


def test_r23_1_control_sibling_checked_the_same_line(logs):
    """BSAME=1: B checked acme/ok itself (REVOKED); A, loaded before, is refused too (no longer only by the seen
    view and the merged revoked fact: the freshness rule on the merged memory comes first)."""
    env = logs
    state = env["tmp"] / "shared"
    a = _client(env["stale"], state, env["log_key"])
    with _client(env["real"], state, env["log_key"]) as b:
        assert not b.check(env["acme_ok"], model="acme/ok").current
    with a, pytest.raises(RegistryClientError, match="went backwards"):
        a.check(env["acme_ok"], model="acme/ok")


def test_r23_1_honest_race_is_not_a_refusal(logs):
    """No regression on an honest log: A fetched checkpoint 5 while B, loaded too, verified a bigger tree (6) and
    saved first. A's merge sees 6: A asks the registry again (an honest one serves 6 now) and judges there."""
    env = logs
    state = env["tmp"] / "shared"
    a = _client(env["real"], state, env["log_key"])
    b = _client(env["real"], state, env["log_key"])
    saves = []
    real_save = a.state.save

    def sibling_first():
        if not saves:
            saves.append(True)
            _publish(env["real"], env["tmp"], release("fill/late", seed=9), env["fill"].key)
            with b:
                assert b.check(env["fill_z"], model="fill/z").tree_size == 6
        real_save()

    a.state.save = sibling_first
    with a:
        result = a.check(env["acme_ok"], model="acme/ok")
    assert saves and result.tree_size == 6 and result.verified, result
    assert not result.current and any("REVOKED" in r for r in result.reasons), result.reasons
    assert _slot(state) == 6


def test_r23_facts_a_sibling_saved_during_the_judgement_are_applied_before_the_answer(logs):
    """The facts rule, as the freshness rule: a sibling process saved a fact of the line this check reads (here a
    revocation of fill/z it proved, written as a sibling's save writes it) while the check judged. The save that ends
    the judgement merges it; the "current" verdict is not given from the memory before it: judged again, the
    remembered revocation the registry's answer leaves out is "not current"."""
    env = logs
    state = env["tmp"] / "shared"
    a = _client(env["real"], state, env["log_key"])
    held = a._signed_view
    judged = []

    def sibling_saves(model, checkpoint):
        judged.append(model)
        if len(judged) == 1:
            sibling = client_module._State.load(state / "state.json")
            (entry,) = sibling.data["keys"].values()
            entry.setdefault("facts", {})["fill/z"] = {"revoked": {env["zbody"]["bundle"]: 4}, "at": 1}
            sibling.save()
        return held(model, checkpoint)

    a._signed_view = sibling_saves
    with a:
        result = a.check(env["fill_z"], model="fill/z")
    assert judged == ["fill/z", "fill/z"]
    assert not result.current and any("proved before" in r and "REVOKED" in r for r in result.reasons), result
    assert any("saved facts of fill/z" in n for n in result.notes), result.notes


def test_r23_a_single_process_is_judged_once(logs):
    """No regression: with no other process saving, no check is judged twice (full scan, then a delta, then the
    index mode), and each is current."""
    env = logs
    state = env["tmp"] / "alone"
    modes = []
    for n, (scan, delta) in enumerate(((20_000, 20_000), (1, 20_000), (1, 0))):
        if n:
            _publish(env["real"], env["tmp"], release(f"fill/more{n}", seed=7 + n), env["fill"].key)
        c = _client(env["real"], state, env["log_key"], full_scan_max=scan, delta_max=delta)
        calls = []
        judge = c._judge

        def counted(*args, _judge=judge, _calls=calls):
            _calls.append(1)
            return _judge(*args)

        c._judge = counted
        with c:
            result = c.check(env["fill_z"], model="fill/z")
        assert result.current and len(calls) == 1, (result, calls)
        modes.append(result.mode)
    assert modes == ["full", "delta", "index"], modes


# --- the state file: write and read agree; an unreadable shared state is never replaced --------------------------


def test_state_write_is_bounded_as_the_read_is(tmp_path, monkeypatch):
    from weightwarden.core.state_file import StateFile, StateFileError

    sf = StateFile(tmp_path / "s.json", "test state", "s/v1", "logs", 200)
    with sf.locked():
        sf.write({"logs": {"a": "x" * 50}})
        assert sf.read()["logs"]["a"] == "x" * 50
        with pytest.raises(StateFileError, match="larger than the 200 bytes"):
            sf.write({"logs": {"a": "x" * 500}})
    assert sf.read()["logs"]["a"] == "x" * 50  # nothing changed on disk

    monkeypatch.setattr(client_module, "MAX_STATE_BYTES", 300)
    state = client_module._State.load(tmp_path / "state.json")
    state.data["logs"]["u"] = {"vkey": "k" * 400, "origin": "o"}
    with pytest.raises(RegistryClientError, match="larger than the 300 bytes"):
        state.save()
    assert not (tmp_path / "state.json").exists()


def test_an_unreadable_shared_state_is_not_replaced_by_this_process_memory(tmp_path, monkeypatch):
    """Before: a save that could not read the file (over the bound, written by another process or version) wrote
    this process's memory over it, dropping every other process's checkpoints and facts. Now: a clear refusal, and
    the file stays as it was."""
    path = tmp_path / "state.json"
    state = client_module._State.load(path)
    state.data["logs"]["u"] = {"vkey": "k", "origin": "o"}
    big = json.dumps({"schema": client_module.STATE_SCHEMA, "logs": {"other": {"vkey": "v" * 2000, "origin": "o"}},
                      "keys": {}})
    path.write_text(big)  # another process's memory, bigger than this (lowered) bound
    monkeypatch.setattr(client_module, "MAX_STATE_BYTES", 1000)
    with pytest.raises(RegistryClientError, match="cannot be read back"):
        state.save()
    assert path.read_text() == big


# --- witness age counts keys, as the quorum does -------------------------------------------------------------------


def test_witness_age_counts_distinct_keys_as_the_quorum_does(tmp_path):
    """One witness key listed under two names (cosignature/v1 does not sign the name) must not stand in, with a fresh
    stamp, for a second witness whose cosignature is stale."""
    from weightwarden.registry.note import Note, NoteSigner
    from weightwarden.registry.witness import CosignatureSigner, verify_cosigned

    log = NoteSigner.generate(ORIGIN)
    w1 = CosignatureSigner.generate("w1.example")
    w1_alias = CosignatureSigner("w1-alias.example", w1._key)
    w2 = CosignatureSigner.generate("w2.example")
    text = f"{ORIGIN}\n3\n{'A' * 43}=\n".encode()
    now = int(time.time())
    note = Note(text, (log.sign(text), w1.cosign(text, now), w1_alias.cosign(text, now),
                       w2.cosign(text, now - 10 * 86400))).to_bytes()
    vkeys = [w.verifier().vkey() for w in (w1, w1_alias, w2)]
    with RegistryClient("http://127.0.0.1:9", state_dir=tmp_path, log_key=log.verifier().vkey(), witnesses=vkeys,
                        quorum=2) as c:
        verify_cosigned(note, log.verifier(), c.witnesses, 2, origin=ORIGIN)  # the quorum: two distinct keys
        with pytest.raises(RegistryClientError, match="stale"):
            c._check_witness_age(note)
        fresh = Note(text, (log.sign(text), w1.cosign(text, now), w2.cosign(text, now))).to_bytes()
        c._check_witness_age(fresh)
