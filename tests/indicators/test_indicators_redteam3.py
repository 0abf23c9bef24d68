"""Regression tests of red-team round 3 on indicators (docs/decisions.md, "Red team round 3 on indicators";
/work/issues/rt-indicators-round3.md). Each test is one finding's idea run against the real components, with
no timing: a race is replayed deterministically by swapping the path at the moment the old code looked.

F1/F2 write_atomic judges a descriptor, writes own stdout/stderr through fd 1/2; F4 every CLI write goes
through write_atomic; F3 incident attachments checked where data leaves; F5 small-order/non-canonical member
keys; F7/F9 peer header fields; F8 fixed refusal codes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from weightwarden.core import files
from weightwarden.core.files import write_atomic

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------- F1/F2: write_atomic


def test_a_path_swapped_after_it_was_looked_at_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """PoC poc_write_atomic_race.py without the race: right after write_atomic first looks at the path (stat or
    open, whichever it does first), the symlink at it is moved from /dev/null to an attacker's file. The old
    code decided on the stat and then opened the path again, so the secret landed in the attacker's file."""
    attacker = tmp_path / "attacker.txt"
    attacker.write_bytes(b"")
    out = tmp_path / "out.txt"
    out.symlink_to(os.devnull)
    swapped = []

    def swap() -> None:
        if not swapped:
            swapped.append(True)
            out.unlink()
            out.symlink_to(attacker)

    real_stat, real_open = os.stat, os.open

    def spy_stat(path, *args, **kwargs):
        result = real_stat(path, *args, **kwargs)
        if str(path) == str(out):
            swap()
        return result

    def spy_open(path, *args, **kwargs):
        result = real_open(path, *args, **kwargs)
        if str(path) == str(out):
            swap()
        return result

    monkeypatch.setattr(files.os, "stat", spy_stat)
    monkeypatch.setattr(files.os, "open", spy_open)
    write_atomic(str(out), b"private text", 0o600)
    monkeypatch.undo()
    assert swapped and attacker.read_bytes() == b""


def test_a_link_to_own_stdout_that_is_a_regular_file_is_written_through_fd_1(tmp_path: Path):
    """PoC poc_dev_stdout_regular.sh: with stdout redirected to a regular file, -o /dev/stdout went the
    temp+rename way in /dev (data lost; as root /dev/stdout itself was replaced). Now written through fd 1.
    The links here live in tmp_path (same kind of link as /dev/stdout), so the old code, which fails this test,
    renames inside tmp_path and never over the system's /dev/stdout."""
    sink = tmp_path / "stdout.txt"
    # Round 4 (G4): only a stream name is followed; /proc/self/fd/N is one (a rename there fails harmlessly,
    # unlike one in /dev), and a link elsewhere is replaced (test_indicators_redteam4.py).
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from weightwarden.core.files import write_atomic; "
            "print('before', flush=True); write_atomic('/proc/self/fd/1', b'to my own stdout\\n', 0o600); "
            "write_atomic('/proc/self/fd/2', b'to my own stderr', 0o600)")
    with open(sink, "wb") as handle:
        done = subprocess.run([sys.executable, "-I", "-c", code, str(ROOT), str(tmp_path)], stdout=handle,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert sink.read_bytes() == b"before\nto my own stdout\n"
    assert done.stderr == b"to my own stderr"


def test_own_stdout_file_named_by_its_own_path_is_replaced(tmp_path: Path):
    """Round 3 wrote the file that is stdout, named by its path, through fd 1. Round 4 (G4): only a stream name
    (/dev/stdout, ...) is a stream; any other name gets a new file with the promised mode (a hard link planted
    at the name must not reach the log either). What was printed before stays in the log's open inode."""
    sink = tmp_path / "log.txt"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from weightwarden.core.files import write_atomic; "
            "print('first', flush=True); write_atomic(sys.argv[2], b'second\\n', 0o600)")
    with open(sink, "wb") as handle:
        done = subprocess.run([sys.executable, "-I", "-c", code, str(ROOT), str(sink)], stdout=handle,
                              stderr=subprocess.PIPE, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert sink.read_bytes() == b"second\n" and (sink.stat().st_mode & 0o777) == 0o600


def test_other_devices_and_folders_are_refused_dev_null_accepted(tmp_path: Path):
    with pytest.raises(OSError, match="FIFO, socket or device"):
        write_atomic("/dev/zero", b"x", 0o600)
    with pytest.raises(IsADirectoryError):
        write_atomic(str(tmp_path), b"x", 0o600)
    write_atomic(os.devnull, b"x", 0o600)


def test_a_symlink_at_the_output_is_replaced_in_the_folder_named(tmp_path: Path):
    """The rename happens in the folder named, on the name: a symlink there is replaced, its target kept."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim.txt"
    victim.write_bytes(b"keep me")
    folder = tmp_path / "out"
    folder.mkdir()
    link = folder / "result.json"
    link.symlink_to(victim)
    write_atomic(str(link), b"new", 0o640)
    assert victim.read_bytes() == b"keep me"
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert (link.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in folder.iterdir()) == ["result.json"]


# ------------------------------------------------------------------- F4: every CLI write through write_atomic

_WRITE_ATTRS = {"write_text", "write_bytes"}


def _direct_writes(path: Path) -> list[str]:
    """Calls in ``path`` that write a file without write_atomic: Path.write_text/write_bytes, open()/Path.open()
    /os.fdopen() with a writing mode, os.open()."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
        if name in _WRITE_ATTRS or (name == "open" and owner == "os"):
            found.append(f"{path.name}:{node.lineno} {name}")
        elif name in ("open", "fdopen") and owner not in ("", "os", "io", "codecs") and owner[:1].isupper():
            continue  # SomeClass.open(...) (Store.open): not a file
        elif name in ("open", "fdopen"):
            method = isinstance(func, ast.Attribute) and owner not in ("os", "io", "codecs")  # Path(..).open('w')
            modes = list(node.args[0:1] if method else node.args[1:2]) + [k.value for k in node.keywords if k.arg == "mode"]
            for mode in modes:
                if not isinstance(mode, ast.Constant) or set(str(mode.value)) & set("wax+"):
                    found.append(f"{path.name}:{node.lineno} {name}({ast.unparse(mode)})")
    return found


def test_no_cli_module_writes_a_file_directly():
    """PoC poc_incident_write_symlink.sh: `incident -o` wrote with Path.write_text (followed a planted symlink
    into an attacker's 0666 file). The round-2 scan covered the indicators CLI only; this one reads every CLI
    module, and the scanner itself is checked on a sample."""
    modules = sorted((ROOT / "weightwarden" / "cli").glob("*.py"))
    assert len(modules) > 5
    assert [m for p in modules for m in _direct_writes(p)] == []


def test_the_scanner_finds_each_kind_of_direct_write(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom pathlib import Path\nPath('a').write_text('x')\nPath('a').write_bytes(b'')\n"
                      "open('a', 'w')\nopen('a', mode='ab')\nos.open('a', 1)\nos.fdopen(3, 'wb')\nPath('a').open('w')\n"
                      "open('a')\nopen('a', 'rb')\n")
    assert [f.split(" ")[0] for f in _direct_writes(sample)] == [f"sample.py:{n}" for n in range(3, 10)]


def test_incident_output_does_not_follow_a_planted_symlink(tmp_path: Path):
    from click.testing import CliRunner

    from weightwarden.cli.main import main

    loot = tmp_path / "attacker_loot"
    loot.write_bytes(b"")
    loot.chmod(0o666)
    out = tmp_path / "incident.osv.json"
    out.symlink_to(loot)
    result = CliRunner().invoke(main, ["incident", "new", "--model", "acme/model", "--summary", "internal",
                                       "--details", "PRIVATE victim", "--tlp", "TLP:RED", "--risk-domain",
                                       "cyber.offense", "--severity", "high", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert loot.read_bytes() == b""
    assert not out.is_symlink() and "PRIVATE victim" in out.read_text()
    assert (out.stat().st_mode & 0o777) == 0o600
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    result = CliRunner().invoke(main, ["incident", "new", "--model", "acme/model", "--summary", "internal",
                                       "--risk-domain", "cyber.offense", "--severity", "high", "-o", str(fifo)])
    assert result.exit_code != 0 and "FIFO" in result.output


# ------------------------------------------------------------------- F3: attachments checked where data leaves


def _tampered_incident(tmp_path: Path, sketcher) -> Path:
    """An incident made cleanly, then edited by hand (or received): a TLP:RED set with raw prompts attached."""
    import json
    from dataclasses import replace

    from click.testing import CliRunner

    from weightwarden.cli.main import main
    from weightwarden.indicators.derive import build_set, prompt_indicator

    inc = tmp_path / "inc.osv.json"
    result = CliRunner().invoke(main, ["incident", "new", "--model", "acme/model", "--summary", "jailbreak seen",
                                       "--risk-domain", "cyber.offense", "--severity", "high", "-o", str(inc)])
    assert result.exit_code == 0, result.output
    secret = replace(build_set(sketcher, [prompt_indicator(sketcher, f"SECRET RAW PROMPT {n}", keep_text=True)
                                          for n in range(12)]), tlp="red")
    data = json.loads(inc.read_text())
    data["database_specific"]["indicators"] = [secret.to_json()]
    inc.write_text(json.dumps(data))
    return inc


def test_update_and_publish_recheck_the_attachments(sketcher, tmp_path: Path):
    """PoC poc_incident_update_bypass.py: `incident update FILE --registry` published the raw text verbatim.
    The check now runs before anything is sent (the registry here is unreachable; the key is never read)."""
    from click.testing import CliRunner

    from weightwarden.cli.main import main

    inc = _tampered_incident(tmp_path, sketcher)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["incident", "update", str(inc), "--state", "confirmed", "--registry",
                                       "http://127.0.0.1:9", "--key", str(tmp_path / "no-such-key"),
                                       "-o", str(out)])
    assert result.exit_code == 2 and "raw prompt text" in result.output, result.output
    assert not out.exists()
    result = CliRunner().invoke(main, ["incident", "update", str(inc), "--state", "confirmed", "-o", str(out)])
    assert result.exit_code == 2 and "raw prompt text" in result.output and not out.exists()


@pytest.mark.parametrize("fmt", ["osv", "csaf", "openvex"])
def test_export_rechecks_the_attachments(sketcher, tmp_path: Path, fmt: str):
    from click.testing import CliRunner

    from weightwarden.cli.main import main

    inc = _tampered_incident(tmp_path, sketcher)
    out = tmp_path / f"out.{fmt}.json"
    result = CliRunner().invoke(main, ["incident", "export", str(inc), "--format", fmt, "-o", str(out)])
    assert result.exit_code == 2 and "raw prompt text" in result.output, result.output
    assert not out.exists()


# ------------------------------------------------------------------- F5: member keys of small order

# The 8 encodings of the points of small order (orders 1, 2, 4, 4, 8, 8, 8, 8), as published (e.g. the
# small-order list in "Taming the many EdDSAs", Chalkias et al. 2020), and non-canonical ones (y >= p; x = 0
# with the sign bit set).
_SMALL_ORDER = (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
)
_NON_CANONICAL = (
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1 (the identity again)
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = 0, sign bit set
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = 2^255 - 1 >= p
)
_RFC8032_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"  # RFC 8032 test 1


@pytest.mark.parametrize("bad", _SMALL_ORDER + _NON_CANONICAL)
def test_load_members_refuses_small_order_and_non_canonical_keys(tmp_path: Path, bad: str):
    from weightwarden.indicators.errors import GroupKeyError
    from weightwarden.indicators.members import load_members

    path = tmp_path / "members.txt"
    path.write_text(f"alice {_RFC8032_KEY}\nmallory {bad}\n")
    with pytest.raises(GroupKeyError, match="mallory.*large order"):
        load_members(path)


def test_real_member_keys_still_load(tmp_path: Path):
    """PoC poc_small_order_member_key.py: A = identity, R = identity, s = 0 verified on any message under this
    OpenSSL, which is why such a key must never be listed. A real key (RFC 8032's, a fresh one) still loads."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from weightwarden.indicators.members import load_members, strong_public_key

    fresh = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert strong_public_key(fresh) and strong_public_key(bytes.fromhex(_RFC8032_KEY))
    path = tmp_path / "members.txt"
    path.write_text(f"alice {_RFC8032_KEY}\nbob {fresh.hex()}\n")
    assert sorted(load_members(path)) == ["alice", "bob"]


# ------------------------------------------------------------------- F7/F9: a peer's signed header


def _signed_request(sketcher, tmp_path: Path, **fields):
    """A request signed by member alice, with ``fields`` put into its header before signing."""
    from weightwarden.indicators import psi
    from weightwarden.indicators.derive import build_set, prompt_indicator
    from weightwarden.indicators.members import digest, generate_member_key

    key = generate_member_key("alice", tmp_path / "alice.key")
    client = build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n}") for n in range(12)])
    request = psi.make_request(client, tmp_path / "state.json", member=key)
    header, (raw,) = psi._unpack(request, 1, "request")
    del header["signature"]
    header.update(fields)
    header["signature"] = key.sign(digest(psi._canonical(header), raw))
    return psi._pack(header, raw), {"alice": key._private.public_key()}


def _server_set(sketcher):
    from weightwarden.indicators.derive import build_set, prompt_indicator

    return build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n}") for n in range(6, 40)])


@pytest.mark.parametrize("created", [10**400, -(10**400), 1.5e9, True, "1700000000", None],
                         ids=["huge", "huge-negative", "float", "bool", "string", "missing"])
def test_a_signed_header_with_a_hostile_time_is_a_psi_error(sketcher, tmp_path: Path, created):
    """PoC poc_created_overflow.py: created = 10**400 passed isinstance(int) and raised OverflowError."""
    from weightwarden.indicators import psi
    from weightwarden.indicators.errors import PsiError

    request, members = _signed_request(sketcher, tmp_path, created=created)
    budget = psi.SessionBudget(str(tmp_path / "budget.json"))
    with pytest.raises(PsiError, match="not fresh"):
        psi.respond(_server_set(sketcher), request, budget=budget, members=members)


def test_a_request_dated_ahead_is_not_answered_twice_after_the_window(sketcher, tmp_path: Path):
    """PoC poc_nonce_expiry_replay.py without sleeping: a request dated 250 s ahead is answered at t0; at
    t0 + window + 10 it is still fresh (created within the window), and its nonce must still be remembered."""
    import time

    from weightwarden.indicators import psi
    from weightwarden.indicators.errors import PsiError

    t0 = int(time.time())
    window = 3600
    request, members = _signed_request(sketcher, tmp_path, created=t0 + 250)
    budget = psi.SessionBudget(str(tmp_path / "budget.json"), window_s=window)
    server = _server_set(sketcher)
    psi.respond(server, request, budget=budget, members=members, now=t0)
    with pytest.raises(PsiError, match="replayed"):
        psi.respond(server, request, budget=budget, members=members, now=t0 + window + 10)
    with pytest.raises(PsiError, match="not fresh"):  # and beyond created + window it is stale, not replayed
        psi.respond(server, request, budget=budget, members=members, now=t0 + 250 + window + 10)


def test_the_budget_keeps_a_nonce_until_asked_and_counts_only_the_window(tmp_path: Path):
    from weightwarden.indicators import psi
    from weightwarden.indicators.errors import PsiError

    budget = psi.SessionBudget(str(tmp_path / "budget.json"), window_s=100, sessions=1)
    budget.charge("member alice", 10, now=1000.0, nonce="ab" * 16, keep_until=1400.0)
    budget.charge("member alice", 10, now=1150.0, nonce="cd" * 16, keep_until=1550.0)  # window passed: budget free
    with pytest.raises(PsiError, match="replayed"):
        budget.charge("member alice", 10, now=1390.0, nonce="ab" * 16, keep_until=1790.0)
    budget.charge("member bob", 10, now=1401.0, nonce="ab" * 16, keep_until=1801.0)  # kept until 1400 only


# ------------------------------------------------------------------- F8: fixed refusal codes to the peer


def test_a_refused_tcp_peer_learns_a_fixed_code_not_the_members_or_budget(sketcher, tmp_path: Path):
    """PoC poc_tcp_errors_and_relay.py (errors): the peer was sent exc.reason verbatim, naming listed members,
    the budget file and usage counts. It now gets REFUSED_AUTH; the server's caller keeps the details."""
    import threading

    from weightwarden.indicators import psi
    from weightwarden.indicators.errors import PsiError
    from weightwarden.indicators.members import generate_member_key

    alice = generate_member_key("alice-secret-lab", tmp_path / "alice.key")
    members = {"alice-secret-lab": alice._private.public_key()}
    mallory = generate_member_key("alice-secret-lab", tmp_path / "mallory.key")  # claims alice's name
    box: dict = {}
    ready = threading.Event()

    def run() -> None:
        try:
            psi.serve(_server_set(sketcher), ready=lambda port: (box.update(port=port), ready.set()), timeout=30,
                      members=members, budget=psi.SessionBudget(str(tmp_path / "budget-secret-path.json")))
        except Exception as exc:  # noqa: BLE001
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    from weightwarden.indicators.derive import build_set, prompt_indicator

    client = build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n}") for n in range(12)])
    with pytest.raises(PsiError) as refused:
        psi.connect(client, port=box["port"], timeout=30, member=mallory)
    thread.join(30)
    assert psi.REFUSED_AUTH in refused.value.reason
    assert "alice-secret-lab" not in refused.value.reason and "budget-secret-path" not in refused.value.reason
    assert "alice-secret-lab" in box["error"].reason


# ------------------------------------------------------------------- F6: what is signed names the server


def test_a_request_file_signed_for_one_server_is_refused_by_another(sketcher, tmp_path: Path):
    """PoC poc_file_replay_other_server.py: one request file was answered (and charged) by servers A, B, C. With
    server names the request names its server, signed; another name, or none, is refused."""
    from weightwarden.indicators import psi
    from weightwarden.indicators.errors import PsiError
    from weightwarden.indicators.members import generate_member_key

    key = generate_member_key("alice", tmp_path / "alice.key")
    members = {"alice": key._private.public_key()}
    from weightwarden.indicators.derive import build_set, prompt_indicator

    client = build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n}") for n in range(12)])
    request = psi.make_request(client, tmp_path / "state.json", member=key, server_name="lab-a")
    server = _server_set(sketcher)
    for other in ("lab-b", None):
        with pytest.raises(PsiError, match="is for server 'lab-a'"):
            psi.respond(server, request, members=members, server_name=other,
                        budget=psi.SessionBudget(str(tmp_path / f"budget-{other}.json")))
    response = psi.respond(server, request, members=members, server_name="lab-a",
                           budget=psi.SessionBudget(str(tmp_path / "budget-a.json")))
    assert psi.finish(tmp_path / "state.json", response).cardinality == 6


def _serve_named(sketcher, members, name):
    import threading

    from weightwarden.indicators import psi

    box: dict = {}
    ready = threading.Event()

    def run() -> None:
        try:
            box["result"] = psi.serve(_server_set(sketcher), ready=lambda port: (box.update(port=port), ready.set()),
                                      timeout=30, members=members, server_name=name)
        except Exception as exc:  # noqa: BLE001
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    return thread, box


def test_a_tcp_session_signed_for_another_server_does_not_verify(sketcher, tmp_path: Path):
    """PoC poc_tcp_errors_and_relay.py (relay): alice meant server 'mallory', which relayed her session to
    'lab-b'; lab-b charged alice. Her signature now covers the name she meant, so lab-b refuses it."""
    from weightwarden.indicators import psi
    from weightwarden.indicators.derive import build_set, prompt_indicator
    from weightwarden.indicators.errors import PsiError
    from weightwarden.indicators.members import generate_member_key

    key = generate_member_key("alice", tmp_path / "alice.key")
    members = {"alice": key._private.public_key()}
    client = build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n}") for n in range(12)])
    thread, box = _serve_named(sketcher, members, "lab-b")
    with pytest.raises(PsiError, match="not authenticated"):
        psi.connect(client, port=box["port"], timeout=30, member=key, server_name="mallory")
    thread.join(30)
    thread, box = _serve_named(sketcher, members, "lab-b")
    assert psi.connect(client, port=box["port"], timeout=30, member=key, server_name="lab-b").cardinality == 6
    thread.join(30)
