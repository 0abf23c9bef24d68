"""Red team round 24 on the registry (docs/decisions.md): a proof cache not tied to the tree it was proven against
(real app, two real SQLite stores under ONE log key, real client, 127.0.0.1).

R24-1 (a regression of round 23): ``state.proven`` held bare notes, "proven a prefix of SOME tree this process
verified", and ``_check_memory`` skipped the consistency proof for any remembered note in it. Once a process verified
one tree, every later tree of the same run (the newer head behind a view of a bigger tree, the ``--quorum`` head, the
round-23 re-judge, the second ask after ``_MemoryAhead``) was checked against nothing, and the merge then dropped the
honest tree from the memory: the operator's fork that withholds a revocation was CURRENT, exit 0 (with ``--quorum`` and
an empty state too). Now the cache holds (prefix note, tree note) pairs and the merge drops a note only when it is
proven a prefix of a note it keeps in a slot.

R24-2: the save that ends a judgement merged a sibling's same-size fork and the verdict was given without checking it.
Now the whole memory check runs on the merged memory before any CURRENT verdict.

The operator's front end is an httpx transport in front of the two real servers: the honest log until a chosen
request, then the fork (nothing forged: every entry is publisher-signed, every checkpoint log-signed).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
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
    """Honest log: 0 acme/ok v1, 1 fill/a0, 2 acme's revocation of acme/ok v1. Fork (the operator's copy of the
    database at size 2, same log key): 2 fill/z, 3 fill/w; the revocation is withheld."""
    with honest_log(tmp_path) as log:
        real, honest, fill = log.real, log.honest, log.fill
        fill_a0, abody = signed_release(tmp_path, "fill-a0", "fill/a0", 200)
        _publish(real, tmp_path, abody, fill.key)
        fork = log.snapshot("fork")
        _publish(real, tmp_path, entries.revocation_body(model="acme/ok", release=log.acme_body["bundle"],
                                                         reason="CANARY: backdoor found"), log.acme.key)
        with LiveServer(fork, log.keys) as forked:
            fill_z, zbody = signed_release(tmp_path, "fill-z", "fill/z", 100)
            _publish(forked, tmp_path, zbody, fill.key)
            _publish(forked, tmp_path, release("fill/w", seed=2), fill.key)
            assert honest.size() == 3 and fork.size() == 4
            yield {"real": real, "fork": forked, "keys": log.keys, "tmp": tmp_path, "honest": honest,
                   "acme_ok": log.acme_ok, "fill_a0": fill_a0, "fill_z": fill_z, "fill": fill,
                   "log_key": log.keys.note_signer.verifier().vkey()}
        fork.close()


class Front(httpx.BaseTransport):
    """The operator's front end: forwards to ``first`` until ``switch(path, calls)`` says so, then to ``then`` for
    good; ``before(path)`` runs before each request is forwarded (an honest log growing meanwhile)."""

    def __init__(self, first: LiveServer, then: LiveServer | None = None,
                 switch: Callable[[str, list[str]], bool] = lambda path, calls: False,
                 before: Callable[[str], None] | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.first, self.then, self.target = first, then, first
        self.switch, self.before = switch, before
        self.calls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        self.calls.append(path)
        if self.then is not None and self.target is self.first and self.switch(path, self.calls):
            self.target = self.then
        if self.before is not None:
            self.before(path)
        fwd = httpx.Request(request.method, request.url.copy_with(port=self.target.port), headers=request.headers,
                            content=request.read())
        return self.inner.handle_request(fwd)

    def close(self) -> None:
        self.inner.close()


def _at_current(path: str, calls: list[str]) -> bool:
    return path.startswith("/current/")


def _at_second_checkpoint(path: str, calls: list[str]) -> bool:
    return path == "/checkpoint" and calls.count("/checkpoint") >= 2


def _client(env, state, front: Front | None = None, **kw) -> RegistryClient:
    return RegistryClient(env["real"].url, state_dir=state, log_key=env["log_key"], transport=front, **kw)


def _slot(state, name="checkpoint") -> tuple[int, str]:
    doc = json.loads((state / "state.json").read_text())
    (entry,) = doc["keys"].values()
    lines = entry[name].split("\n")
    return int(lines[1]), lines[2]


def _honest_root(env) -> str:
    return env["honest"].checkpoint().decode().split("\n")[2]


def _counted(client: RegistryClient) -> list[int]:
    calls: list[int] = []
    judge = client._judge

    def counted(*args):
        calls.append(1)
        return judge(*args)

    client._judge = counted
    return calls


def _warm(env, state, **kw) -> None:
    """An earlier check in the same state directory, against the honest log: the memory holds its tree of 3."""
    with _client(env, state, **kw) as c:
        result = c.check(env["fill_a0"], model="fill/a0")
    assert result.current and result.tree_size == 3, result


def _refused_split(exc: pytest.ExceptionInfo, slot: str = "log-signed") -> None:
    text = str(exc.value)
    assert "not consistent" in text and "split view" in text, text
    assert f"{slot} checkpoint of size 3" in text, text


# --- R24-1: a later tree of the same process is proven against the memory ------------------------------------------


@pytest.mark.parametrize("warm", [False, True], ids=["empty", "warm"])
def test_r24_1_newer_head_fork_after_a_verified_tree_is_refused(logs, warm):
    """The PoC (poc_proven_skip): /checkpoint from the honest log (3), then from /current/ on the fork (view at 4,
    checkpoint 4). Before: CURRENT, full, verified, at 4, and the honest 3 left the memory. Now: split view."""
    env = logs
    state = env["tmp"] / "state"
    if warm:
        _warm(env, state)
    front = Front(env["real"], env["fork"], _at_current)
    with _client(env, state, front) as c, pytest.raises(RegistryClientError) as refused:
        c.check(env["acme_ok"], model="acme/ok")
    _refused_split(refused)
    assert "/proof/consistency?old=3&new=4" in front.calls
    assert _slot(state) == (3, _honest_root(env))  # the honest tree stays in the memory
    with _client(env, state, Front(env["fork"])) as again, pytest.raises(RegistryClientError, match="split view"):
        again.check(env["acme_ok"], model="acme/ok")


@pytest.mark.parametrize("warm", [False, True], ids=["empty", "warm"])
def test_r24_1_quorum_head_inconsistent_with_the_witnessed_tree_is_refused(logs, warm):
    """--quorum (poc_proven_skip_quorum): an honest witness cosigned the honest 3; the log-signed head behind the
    fork's view (4) was never proven consistent with it. Now it is, and it is not: split view."""
    env = logs
    vkeys, cosign = _witness(env["honest"], env["keys"], env["tmp"])
    cosign()
    state = env["tmp"] / "state"
    if warm:
        _warm(env, state, witnesses=vkeys, quorum=1)
    front = Front(env["real"], env["fork"], _at_current)
    with _client(env, state, front, witnesses=vkeys, quorum=1) as c, \
            pytest.raises(RegistryClientError) as refused:
        c.check(env["acme_ok"], model="acme/ok")
    _refused_split(refused, "witnessed")
    assert _slot(state, "checkpoint_witnessed") == (3, _honest_root(env))


def test_r24_1_rejudge_fork_after_a_verified_tree_is_refused(logs):
    """The round-23 re-judge: a sibling process saved facts of the line while the check judged it at the honest 3;
    the check verifies the registry's checkpoint again, and the operator now serves the fork (4): split view."""
    env = logs
    state = env["tmp"] / "state"
    front = Front(env["real"], env["fork"], _at_second_checkpoint)
    a = _client(env, state, front)
    held = a._signed_view
    judged: list[str] = []

    def sibling_saves(model, checkpoint):
        judged.append(model)
        if len(judged) == 1:
            _warm(env, state)  # process B checks the same line and saves its facts
        return held(model, checkpoint)

    a._signed_view = sibling_saves
    with a, pytest.raises(RegistryClientError) as refused:
        a.check(env["fill_a0"], model="fill/a0")
    _refused_split(refused)
    assert judged == ["fill/a0"] and front.calls.count("/checkpoint") == 2


def test_r24_1_second_ask_after_memory_ahead_is_proven_against_the_tree_first_verified(logs):
    """The ``_MemoryAhead`` second ask: A verified the honest 3; its save merged a sibling's bigger tree (the fork's
    4, which B verified); asked again, the operator serves that fork. A's honest 3, now ``pending``, was skipped as
    "proven"; now it is proven against the fork: split view."""
    env = logs
    state = env["tmp"] / "state"
    front = Front(env["real"], env["fork"], _at_second_checkpoint)
    a = _client(env, state, front)
    saves: list[bool] = []
    real_save = a.state.save

    def sibling_first():
        if not saves:
            saves.append(True)
            with _client(env, state, Front(env["fork"])) as b:
                assert b.check(env["fill_z"], model="fill/z").tree_size == 4
        real_save()

    a.state.save = sibling_first
    with a, pytest.raises(RegistryClientError) as refused:
        a.check(env["acme_ok"], model="acme/ok")
    text = str(refused.value)
    assert saves and "not consistent" in text and "split view" in text, text


# --- R24-2: the final save's same-size fork --------------------------------------------------------------------------


def test_r24_2_same_size_fork_merged_at_the_final_save_is_refused(logs):
    """poc_final_split2: A judges acme/ok on the fork (4, the revocation withheld: CURRENT there). Meanwhile B, loaded
    before A saved, verifies the honest log grown to 4 (same size, other root), saves it and refuses. A's final save
    merges B's 4 into ``pending``: the verdict is not given, the merged memory is proven first: split view."""
    env = logs
    state = env["tmp"] / "state"
    _publish(env["real"], env["tmp"], release("fill/y", seed=3), env["fill"].key)
    assert env["honest"].size() == 4
    b = _client(env, state)  # loaded (empty) before A saved anything
    a = _client(env, state, Front(env["fork"]))
    held = a._signed_view
    judged: list[str] = []

    def sibling_saves(model, checkpoint):
        judged.append(model)
        if len(judged) == 1:
            with b, pytest.raises(RegistryClientError, match="split view"):
                b.check(env["fill_a0"], model="fill/a0")
        return held(model, checkpoint)

    a._signed_view = sibling_saves
    with a, pytest.raises(RegistryClientError) as refused:
        a.check(env["acme_ok"], model="acme/ok")
    text = str(refused.value)
    assert judged == ["acme/ok"] and "not consistent" in text and "split view" in text, text


# --- honest controls: the same paths on a growing honest log ---------------------------------------------------------


def _grow_once(env, at: Callable[[str], bool]) -> Callable[[str], None]:
    grown: list[bool] = []

    def before(path: str) -> None:
        if not grown and at(path):
            grown.append(True)
            _publish(env["real"], env["tmp"], release("fill/grow", seed=5), env["fill"].key)

    return before


@pytest.mark.parametrize("warm", [False, True], ids=["empty", "warm"])
@pytest.mark.parametrize("quorum", [False, True], ids=["plain", "quorum"])
def test_r24_honest_growth_via_the_newer_head_stays_current(logs, warm, quorum):
    """The log grows between /checkpoint and /current/: the newer head (log-signed; with --quorum past the witnessed
    tree) is proven consistent with the tree first verified (one consistency proof 3 -> 4), judged twice (at 3, then
    everything again at 4), CURRENT."""
    env = logs
    kw: dict = {}
    if quorum:
        vkeys, cosign = _witness(env["honest"], env["keys"], env["tmp"])
        cosign()
        kw = {"witnesses": vkeys, "quorum": 1}
    state = env["tmp"] / "state"
    if warm:
        _warm(env, state, **kw)
    front = Front(env["real"], before=_grow_once(env, lambda p: p.startswith("/current/")))
    c = _client(env, state, front, **kw)
    calls = _counted(c)
    with c:
        result = c.check(env["fill_a0"], model="fill/a0")
    assert result.current and result.verified and result.tree_size == 4, result
    assert len(calls) == 2, calls
    assert "/proof/consistency?old=3&new=4" in front.calls
    assert _slot(state)[0] == 4


def test_r24_honest_rejudge_after_growth_stays_current(logs):
    """The round-23 re-judge on an honest log: a sibling saved facts of the line, and the log grew meanwhile; judged
    again at 4 (proven consistent with 3), CURRENT."""
    env = logs
    state = env["tmp"] / "state"
    front = Front(env["real"])
    a = _client(env, state, front)
    calls = _counted(a)
    held = a._signed_view
    seen: list[str] = []

    def sibling_saves(model, checkpoint):
        seen.append(model)
        if len(seen) == 1:
            _warm(env, state)
            out = held(model, checkpoint)
            _publish(env["real"], env["tmp"], release("fill/grow", seed=5), env["fill"].key)
            return out
        return held(model, checkpoint)

    a._signed_view = sibling_saves
    with a:
        result = a.check(env["fill_a0"], model="fill/a0")
    assert result.current and result.verified and result.tree_size == 4, result
    assert len(calls) == 2 and "/proof/consistency?old=3&new=4" in front.calls
    assert any("round 23" in n for n in result.notes), result.notes


def test_r24_honest_second_ask_after_memory_ahead_stays_current(logs):
    """A verified 3; a sibling verified the grown honest log (4) and saved first; A asks again, proves its 3 a prefix
    of 4 (it leaves ``pending``), judges once, CURRENT."""
    env = logs
    state = env["tmp"] / "state"
    front = Front(env["real"])
    a = _client(env, state, front)
    calls = _counted(a)
    saves: list[bool] = []
    real_save = a.state.save

    def sibling_first():
        if not saves:
            saves.append(True)
            _publish(env["real"], env["tmp"], release("fill/grow", seed=5), env["fill"].key)
            with _client(env, state) as b:
                assert b.check(env["fill_a0"], model="fill/a0").tree_size == 4
        real_save()

    a.state.save = sibling_first
    with a:
        result = a.check(env["fill_a0"], model="fill/a0")
    assert result.current and result.verified and result.tree_size == 4, result
    assert len(calls) == 1 and "/proof/consistency?old=3&new=4" in front.calls
    doc = json.loads((state / "state.json").read_text())
    (entry,) = doc["keys"].values()
    assert not entry.get("pending"), entry.get("pending")


def test_r24_single_process_repeated_checks_are_judged_once(logs):
    """No regression: one process, one tree, several checks: each judged once and CURRENT, no proof asked twice."""
    env = logs
    state = env["tmp"] / "state"
    front = Front(env["real"])
    c = _client(env, state, front)
    calls = _counted(c)
    with c:
        for _ in range(3):
            assert c.check(env["fill_a0"], model="fill/a0").current
    assert len(calls) == 3
    assert not any(p.startswith("/proof/consistency") for p in front.calls), front.calls


# --- the merge: a note leaves the memory only when proven a prefix of a note kept in a slot ------------------------


def test_merge_drops_only_notes_proven_a_prefix_of_a_kept_note():
    def note(size: int, root: str) -> str:
        return f"{ORIGIN}\n{size}\n{root}\n\n— sig\n"

    honest3, fork4, honest5 = note(3, "H3"), note(4, "F4"), note(5, "H5")
    disk = {"keys": {"k": {"checkpoint": honest3}}}
    mine = {"keys": {"k": {"checkpoint": fork4}}}
    # proven against another tree of this process (honest 5), not against the fork kept in the slot: kept pending
    merged = client_module._merge_state(disk, mine, {(honest3, honest5)})["keys"]["k"]
    assert merged["checkpoint"] == fork4 and merged["pending"] == [honest3]
    # proven a prefix of the kept note: dropped
    merged = client_module._merge_state(disk, mine, {(honest3, fork4)})["keys"]["k"]
    assert merged["checkpoint"] == fork4 and "pending" not in merged
    # this process's own tree that lost its slot to a bigger one stays pending unless proven its prefix
    merged = client_module._merge_state({"keys": {"k": {"checkpoint": honest5}}}, mine, set())["keys"]["k"]
    assert merged["checkpoint"] == honest5 and merged["pending"] == [fork4]


def test_one_run_never_takes_two_trees_of_one_size(tmp_path):
    """The size-keyed per-run caches rely on it; the memory check ensures it, and ``_advance`` says so and fails
    closed (here the memory is wiped in between, which nothing in the client does)."""
    import base64

    from weightwarden.registry.note import Note, NoteSigner, open_checkpoint

    log = NoteSigner.generate(ORIGIN)

    def checkpoint(root: bytes):
        text = f"{ORIGIN}\n3\n{base64.b64encode(root).decode()}\n".encode()
        note = Note(text, (log.sign(text),)).to_bytes()
        return open_checkpoint(note, log.verifier(), ORIGIN)[0], note

    with RegistryClient("http://127.0.0.1:9", state_dir=tmp_path, log_key=log.verifier().vkey()) as c:
        first, note = checkpoint(b"\1" * 32)
        c._advance(first, note, log.verifier())
        c.state.data["keys"] = {}
        other, other_note = checkpoint(b"\2" * 32)
        with pytest.raises(RegistryClientError, match="two different trees of size 3"):
            c._advance(other, other_note, log.verifier())
