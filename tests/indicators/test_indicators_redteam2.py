"""Regression tests of red-team round 2 on indicators (docs/decisions.md, "Red team round 2 on indicators";
/work/issues/rt-indicators-round2.md). Each test is one PoC's idea run against the real components.

R1 secret-dependent client ending; R2 untrusted search path of child processes; R3 limits from the peer's
announcement; R4 peer authentication and budgets; R5 amplification in STIX/JSON; R6/R7 private outputs and
planted FIFOs; R8 incident attachments; R9/R10 key files and key ids; R11 pads across schemes.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from weightwarden.cli.main import main
from weightwarden.indicators import psi
from weightwarden.indicators.derive import build_set, prompt_indicator
from weightwarden.indicators.errors import PsiError
from weightwarden.indicators.psi_native import run_native
from weightwarden.indicators.records import IndicatorSet, dump_set
from weightwarden.indicators.sketch import Sketcher

ROOT = Path(__file__).resolve().parents[2]


def _set(sketcher: Sketcher, numbers: range, **kw) -> IndicatorSet:
    return build_set(sketcher, [prompt_indicator(sketcher, f"attack prompt number {n} of the red team", **kw)
                                for n in numbers])


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --------------------------------------------------------------- R1: the client's ending is not an oracle

def _evil_server(hello_items: int, gcs_items: list[str], box: dict, ready: threading.Event,
                 duplicate_response: bool = False) -> None:
    """A malicious ``psi serve``: copies key id and scheme from the client's hello, announces ``hello_items``
    but builds its set from ``gcs_items``; records how the client ended the session."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        box["port"] = listener.getsockname()[1]
        ready.set()
        conn, _ = listener.accept()
        with conn:
            try:
                _evil_session(conn, hello_items, gcs_items, box, duplicate_response)
            except (PsiError, OSError) as exc:  # the victim refused early: recorded, not raised in a thread
                box["ending"] = f"refused: {exc}"


def _evil_session(conn: socket.socket, hello_items: int, gcs_items: list[str], box: dict,
                  duplicate_response: bool) -> None:
    channel = psi._Channel(conn, "victim", timeout=30)
    hello = channel.recv_json()
    channel.send_json(dict(hello, items=hello_items))
    raw = channel.recv(psi._request_limit(hello["items"]))
    channel.recv_json()  # the client's (unsigned) authentication frame
    channel.send_json({"protocol": psi.PROTOCOL, "ok": True})
    setup, response = run_native("answer", repr(psi.FPR).encode(), str(hello["items"]).encode(), raw,
                                 "\n".join(gcs_items).encode(), timeout=60)
    if duplicate_response:
        import private_set_intersection.python as openmined

        parsed = openmined.Response()
        parsed.ParseFromString(response)
        first = parsed.encrypted_elements[0]
        for i in range(len(parsed.encrypted_elements)):
            parsed.encrypted_elements[i] = first
        response = parsed.SerializeToString()
    channel.send(setup)
    channel.send(response)
    try:
        box["ending"] = channel.recv_json()
    except PsiError as exc:
        box["ending"] = f"closed: {exc.reason}"


def _run_evil(victim: IndicatorSet, hello_items: int, gcs_items: list[str], **kw) -> tuple[dict, Exception | None]:
    box: dict = {}
    ready = threading.Event()
    thread = threading.Thread(target=_evil_server, args=(hello_items, gcs_items, box, ready), kwargs=kw,
                              daemon=True)
    thread.start()
    assert ready.wait(30)
    error = None
    try:
        psi.connect(victim, port=box["port"], timeout=30)
    except PsiError as exc:
        error = exc
    thread.join(60)
    return box, error


def test_hidden_extra_value_is_no_membership_oracle(sketcher: Sketcher):
    """PoC poc_psi_threshold_oracle.py: the server announces 10 items, its set holds 11 (10 it knows we hold
    + a candidate). Held or not, the server sees the same ending; the extra value is refused locally."""
    victim = _set(sketcher, range(40))
    digests = psi.psi_items(victim)
    known, held = digests[:10], digests[20]
    not_held = psi.psi_items(_set(sketcher, range(1000, 1001)))[0]
    endings = []
    for candidate in (held, not_held):
        box, error = _run_evil(victim, 10, [*known, candidate])
        endings.append(box["ending"])
        assert isinstance(error, PsiError) and "more values than the 10 items announced" in error.reason
    assert endings == [{"cardinality": None}, {"cardinality": None}]


def test_repeated_response_elements_are_refused_after_the_same_ending(sketcher: Sketcher):
    victim = _set(sketcher, range(40))
    box, error = _run_evil(victim, 10, psi.psi_items(victim)[:10], duplicate_response=True)
    assert box["ending"] == {"cardinality": None}
    assert isinstance(error, PsiError) and "repeated elements" in error.reason


def test_gcs_value_count_is_exact_for_honest_setups():
    import private_set_intersection.python as openmined

    for n_server in (2, 10, 37, 500):
        items = [f"item {i}" for i in range(n_server)]
        # 600 client items: the hash range then depends on the client only, so n_server - 1 passes that check
        setup = openmined.server.CreateWithNewKey(False).CreateSetupMessage(psi.FPR, 600, items,
                                                                            openmined.DataStructure.GCS)
        assert psi.gcs_value_count(setup.gcs.bits, setup.gcs.div) == n_server
        psi.validate_setup(setup, n_server, 600)
        with pytest.raises(PsiError, match="more values than"):
            psi.validate_setup(setup, n_server - 1, 600)


# ------------------------------------------------------------------- R2: untrusted search path of children

def test_code_planted_in_the_current_folder_does_not_run_in_the_psi_child(sketcher: Sketcher, tmp_path: Path,
                                                                          monkeypatch):
    """PoC poc_cwd_hijack.sh: a private_set_intersection/ package and a resource.py in the folder where the
    victim runs psi finish; neither may run."""
    marker = tmp_path / "HIJACKED"
    planted = tmp_path / "cwd"
    (planted / "private_set_intersection").mkdir(parents=True)
    (planted / "private_set_intersection" / "__init__.py").write_text("")
    (planted / "private_set_intersection" / "python.py").write_text(
        f"open({str(marker)!r}, 'w').write('psi')\nimport os, sys, struct\n"
        "sys.stdout.buffer.write(struct.pack('>I', 8) + struct.pack('>Q', 7)); sys.stdout.flush(); os._exit(0)\n")
    for name in ("resource.py", "struct.py"):
        (planted / name).write_text(f"open({str(marker)!r}, 'a').write({name!r})\n")
    monkeypatch.chdir(planted)
    monkeypatch.setenv("PYTHONPATH", str(planted))
    client, server = _set(sketcher, range(0, 30)), _set(sketcher, range(100, 130))
    request = psi.make_request(client, tmp_path / "state.json")
    response = psi.respond(server, request, budget=None)
    assert psi.finish(tmp_path / "state.json", response).cardinality == 0
    assert not marker.exists()


@pytest.mark.parametrize("output", [b"", struct.pack(">I", 8) + b"\0" * 7, struct.pack(">I", 4) + b"\0" * 4,
                                    struct.pack(">I", 8) + b"\0" * 8 + b"x"])
def test_malformed_child_output_is_a_clear_error(monkeypatch, tmp_path: Path, output: bytes):
    """A child that exits 0 with the wrong frames was an 'internal error: ValueError'."""
    from weightwarden.indicators import psi_native

    fake = tmp_path / "child.py"
    fake.write_text(f"import sys\nsys.stdin.buffer.read()\nsys.stdout.buffer.write({output!r})\n")
    monkeypatch.setattr(psi_native, "CHILD_SCRIPT", fake)
    with pytest.raises(PsiError, match="malformed"):
        run_native("count", b"k", b"s", b"r", timeout=30)


def test_every_python_child_the_product_starts_is_isolated():
    """The class of R2, everywhere: each place in weightwarden/ that starts ``sys.executable`` passes -I."""
    offenders = []
    for path in (ROOT / "weightwarden").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            if ("[sys.executable" in line or "[self._python" in line) and '"-I"' not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_llama_server_launcher_is_isolated(tmp_path: Path):
    from weightwarden.evals.backends.llamacpp import ManagedLlamaServer

    server = ManagedLlamaServer.__new__(ManagedLlamaServer)
    server.path, server.model, server._n_ctx, server._n_threads, server._seed = tmp_path / "m.gguf", "m", 8, 1, 0
    server._python = sys.executable

    class _Format:
        llama_cpp_name = "chatml"

    class _Vetted:
        chat_format = _Format()

    server.vetted = _Vetted()
    command = server._command(1234)
    assert command[:2] == [sys.executable, "-I"]


# -------------------------------------------------------------------- R3: limits from the peer's announcement

def test_client_refuses_a_server_announcing_more_than_max_server_items(sketcher: Sketcher):
    """PoC poc_psi_server_bigframe.py: a keyless server announcing 4.28e8 items made the client accept a 4 GiB
    frame; now the announcement itself is refused before any frame is read."""
    victim = _set(sketcher, range(20))
    box, error = _run_evil(victim, 428_000_000, psi.psi_items(victim)[:10])
    assert isinstance(error, PsiError) and "at most 1000000" in error.reason
    with pytest.raises(PsiError, match="at most 50"):
        psi._check_server_size(51, 10, "server", 50)


def test_native_time_limit_is_capped_by_the_session(monkeypatch, sketcher: Sketcher):
    seen = {}

    def fake_run_native(op, *frames, timeout, **kw):
        seen["timeout"] = timeout
        raise PsiError("stop")

    monkeypatch.setattr(psi, "run_native", fake_run_native)
    import private_set_intersection.python as openmined

    request = openmined.client.CreateWithNewKey(False).CreateRequest([f"{i}" for i in range(20)]).SerializeToString()
    with pytest.raises(PsiError):
        psi._server_answer(openmined, [f"{i}" for i in range(500_000)], 20, request, deadline_s=5.0)
    assert seen["timeout"] == 5.0


def test_frames_are_read_into_one_buffer(sketcher: Sketcher):
    left, right = socket.socketpair()
    with left, right:
        channel = psi._Channel(left, "peer", timeout=30)
        payload = os.urandom(200_000)
        sender = threading.Thread(target=lambda: right.sendall(struct.pack(">I", len(payload)) + payload))
        sender.start()
        got = channel.recv(300_000)
        sender.join()
        assert bytes(got) == payload and channel.received == len(payload) + 4


# ---------------------------------------------------------------- R6/R7: private outputs, planted FIFOs

def test_import_of_a_native_set_with_raw_text_is_written_0600(sketcher: Sketcher, tmp_path: Path):
    """PoC poc_import_text_0644.sh: `indicators import` of a native set holding raw text wrote it 0644."""
    with_text = _set(sketcher, range(12), keep_text=True)
    source = tmp_path / "A-text.json"
    source.write_text(dump_set(with_text))
    out = tmp_path / "imported.json"
    result = _invoke("indicators", "import", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "attack prompt number 3" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    plain = tmp_path / "plain.json"
    source.write_text(dump_set(_set(sketcher, range(12))))
    assert _invoke("indicators", "import", str(source), "-o", str(plain)).exit_code == 0
    assert stat.S_IMODE(plain.stat().st_mode) == 0o644


def test_every_indicators_cli_write_decides_its_mode_from_its_content():
    """The class of R6: no `_write` call in the indicators CLI without saying what it holds."""
    import ast

    tree = ast.parse((ROOT / "weightwarden/cli/indicators.py").read_text(encoding="utf-8"))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "_write"]
    assert calls and all(any(k.arg == "content" for k in c.keywords) for c in calls)


def test_a_fifo_planted_at_the_output_path_is_refused(sketcher: Sketcher, tmp_path: Path):
    """PoC poc_fifo_plant.sh: a FIFO at the -o path received the raw text; now refused, nothing written."""
    source = tmp_path / "A-text.json"
    source.write_text(dump_set(_set(sketcher, range(12), keep_text=True)))
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo, 0o666)
    result = _invoke("indicators", "export", str(source), "--format", "json", "--include-text", "-o", str(fifo))
    assert result.exit_code != 0 and "FIFO" in result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    from weightwarden.core.files import write_atomic

    # Round 4 (G4): a link at the output is a name to replace (never followed into the FIFO).
    write_atomic(str(link), b"secret", 0o600)
    assert not link.is_symlink() and link.read_bytes() == b"secret"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_own_stdout_and_dev_null_are_still_written(tmp_path: Path):
    """/dev/stdout of this process (a pipe here) and /dev/null stay usable as -o."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from weightwarden.core.files import write_atomic; "
            "write_atomic('/dev/stdout', b'to my own stdout', 0o600); write_atomic('/dev/null', b'x', 0o600)")
    done = subprocess.run([sys.executable, "-I", "-c", code, str(ROOT)], capture_output=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"to my own stdout"



# ------------------------------------------------------------------- R8: indicators attached to incidents

def _incident(tmp_path: Path, attachment: object, *extra: str):
    path = tmp_path / "attach.json"
    path.write_text(json.dumps(attachment, indent=1) + "\n")  # the writers' spelling (round 15: bytes are checked)
    out = tmp_path / "inc.osv.json"
    result = CliRunner().invoke(main, ["incident", "new", "--model", "acme/model", "--summary", "jailbreak seen",
                                       "--risk-domain", "cyber.offense", "--severity", "high", "--indicators",
                                       str(path), "-o", str(out), *extra])
    return result, out


def test_incident_refuses_raw_text_and_a_tlp_downgrade(sketcher: Sketcher, tmp_path: Path):
    """PoC poc_incident_text.sh: a TLP:RED set with raw prompts attached verbatim to a TLP:CLEAR incident."""
    from dataclasses import replace

    with_text = replace(_set(sketcher, range(12), keep_text=True), tlp="red")
    result, out = _incident(tmp_path, [with_text.to_json()])
    assert result.exit_code == 2 and "raw prompt text" in result.output and not out.exists()
    shareable = with_text.without_private()
    result, out = _incident(tmp_path, [shareable.to_json()])
    assert result.exit_code == 2 and "TLP:RED" in result.output and not out.exists()
    result, out = _incident(tmp_path, [shareable.to_json()], "--tlp", "TLP:RED")
    assert result.exit_code == 0, result.output
    attached = json.loads(out.read_text())["database_specific"]["indicators"]
    assert attached == [shareable.to_json()] and "attack prompt number" not in out.read_text()


def test_incident_refuses_references_unsealed_sets_and_non_sets(sketcher: Sketcher, tmp_path: Path):
    from dataclasses import replace

    base = _set(sketcher, range(12))
    with_refs = replace(base, prompts=tuple(replace(p, ref=f"evidence/p{i}.txt") for i, p in enumerate(base.prompts)))
    result, _ = _incident(tmp_path, with_refs.to_json(), "--tlp", "TLP:AMBER")
    assert result.exit_code == 2 and "local references" in result.output
    unsealed = base.to_json()
    del unsealed["scheme"]["seal"]
    result, _ = _incident(tmp_path, [unsealed], "--tlp", "TLP:AMBER")
    assert result.exit_code == 2 and "not sealed" in result.output
    result, _ = _incident(tmp_path, ["raw attack prompt text"], "--tlp", "TLP:AMBER")
    assert result.exit_code == 2 and "not a weightwarden.indicator-set" in result.output
    result, out = _incident(tmp_path, base.to_json(), "--tlp", "TLP:AMBER")
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------- R5: amplification in STIX and JSON

def _stix_bundle(sketcher: Sketcher) -> dict:
    from weightwarden.indicators.stix import to_stix

    return json.loads(json.dumps(to_stix(_set(sketcher, range(12)))))


def test_long_pattern_is_refused_before_stix2_parses_it(sketcher: Sketcher, monkeypatch):
    """PoC gen_stix_inlist.py: an 8 MB pattern went to stix2's ANTLR validator (132 s, 2.65 GB)."""
    import stix2

    from weightwarden.indicators.errors import IndicatorFormatError
    from weightwarden.indicators.stix import from_stix

    def no_parse(*a, **k):
        raise AssertionError("stix2.parse reached")

    bundle = _stix_bundle(sketcher)
    monkeypatch.setattr(stix2, "parse", no_parse)
    indicator = next(o for o in bundle["objects"] if o["type"] == "indicator")
    indicator["pattern"] = "[file:name IN (" + ", ".join(f"'{i}'" for i in range(20_000)) + ")]"
    with pytest.raises(IndicatorFormatError, match="pattern is not a weightwarden prompt digest|longer than"):
        from_stix(bundle, "b.json")


@pytest.mark.parametrize("mutate", ["refs_repeat", "labels", "long_name", "big_dict"])
def test_strings_and_lists_in_stix_objects_are_bounded_before_parsing(sketcher: Sketcher, monkeypatch, mutate):
    """PoCs gen_stix_pattern.py (object_refs repeating one id 1.3 M times) and gen_scalar_amp.py (labels)."""
    import stix2

    from weightwarden.indicators.errors import IndicatorFormatError
    from weightwarden.indicators.stix import from_stix

    bundle = _stix_bundle(sketcher)
    parsed: list[bool] = []
    monkeypatch.setattr(stix2, "parse", lambda *a, **k: parsed.append(True))
    group = next(o for o in bundle["objects"] if o["type"] == "grouping")
    if mutate == "refs_repeat":
        group["object_refs"] = [group["object_refs"][0]] * 3
    elif mutate == "labels":
        group["labels"] = [f"l{i}" for i in range(10_000)]
    elif mutate == "long_name":
        group["name"] = "x" * 100_000
    else:
        group["external_references"] = [{f"k{i}": "v" for i in range(1000)}]
    with pytest.raises(IndicatorFormatError, match="more than|longer than|distinct"):
        from_stix(bundle, "b.json")
    assert parsed == []  # refused before stix2 saw it


@pytest.mark.parametrize("field", ["sources", "decoded", "text", "ref", "producer"])
def test_native_sets_bound_every_string_and_list(sketcher: Sketcher, field: str):
    """PoC gen_scalar_amp.py: a native set with 13 M strings in 'sources' was accepted (2.1 GB)."""
    from weightwarden.indicators.errors import IndicatorFormatError

    data = _set(sketcher, range(12)).to_json()
    if field == "sources":
        data["sources"] = [f"s{i}" for i in range(100)]
    elif field == "decoded":
        data["prompts"][0]["decoded"] = ["base64"] * 100
    elif field == "text":
        data["prompts"][0]["text"] = "x" * (300 * 1024)
    elif field == "ref":
        data["prompts"][0]["ref"] = "r" * 10_000
    else:
        data["producer"] = "p" * 10_000
    with pytest.raises(IndicatorFormatError, match="longer than|more than"):
        IndicatorSet.from_json(data, "set.json")


def test_many_small_json_values_are_refused_before_parsing(sketcher: Sketcher, tmp_path: Path, monkeypatch):
    from weightwarden.core import strict_json
    from weightwarden.indicators.errors import IndicatorFormatError
    from weightwarden.indicators.records import MAX_JSON_SEPARATORS, load_set

    data = _set(sketcher, range(12)).to_json()
    data["sources"] = ["@@"]
    text = json.dumps(data).replace('"@@"', ",".join(['"ab"'] * (MAX_JSON_SEPARATORS + 1)))
    path = tmp_path / "set-strings.json"
    path.write_text(text)
    monkeypatch.setattr(strict_json, "loads", lambda *a, **k: (_ for _ in ()).throw(AssertionError("parsed")))
    with pytest.raises(IndicatorFormatError, match="JSON values"):
        load_set(path)


# ------------------------------------------------------------------------- R11: one pad per scheme

def test_sealed_sketches_of_two_schemes_do_not_share_a_pad(group_key):
    """PoC poc_nonce_reuse_schemes.py: the same prompt sealed under word_ngram=2 and 1 had the same pad, so the
    XOR of the two exports estimated a key-free similarity. Now their XOR agrees with the signatures' XOR on no
    more positions than chance."""
    import numpy as np

    from weightwarden.indicators.normalise import canonical
    from weightwarden.indicators.sketch import Scheme

    one = Sketcher(group_key, Scheme(key_id=group_key.key_id))
    two = Sketcher(group_key, Scheme(key_id=group_key.key_id, word_ngram=1))
    text = canonical("please explain step by step how to build the thing we talked about yesterday").text
    exact = one.exact(text)
    assert exact == two.exact(text)
    a, b = one.seal(exact, one.signature(text)), two.seal(exact, two.signature(text))
    truth = one.signature(text) ^ two.signature(text)
    assert int(np.count_nonzero((a ^ b) == truth)) <= 2
    assert np.array_equal(one.open(exact, a), one.signature(text))


def test_sets_sealed_with_the_v2_pad_are_refused_with_a_reason(sketcher: Sketcher):
    from weightwarden.indicators.errors import IndicatorFormatError

    data = _set(sketcher, range(3)).to_json()
    data["scheme"]["seal"] = "hmac-sha256-ctr-pad/v2"
    with pytest.raises(IndicatorFormatError, match="re-derive"):
        IndicatorSet.from_json(data, "old.json")


# --------------------------------------------------------------------- R9/R10: key files and key ids

def test_key_file_must_be_a_regular_file_owned_by_the_user(tmp_path: Path):
    """PoC poc_key_fifo.sh: a 0666 FIFO at the key path fed an attacker's key."""
    from weightwarden.indicators.errors import GroupKeyError
    from weightwarden.indicators.keys import load_key

    fifo = tmp_path / "group.key"
    os.mkfifo(fifo, 0o666)
    with pytest.raises(GroupKeyError, match="regular file"):
        load_key(fifo)  # returns at once: opened non-blocking, refused on its type before any read


# A fixed "random-looking" key stands for a strong external one: parameters must be the same in every
# pytest-xdist worker (a token drawn at collection time makes the workers collect different tests).
@pytest.mark.parametrize("secret", [
    __import__("hashlib").sha256(b"dragon2026").digest(), bytes(range(32)), bytes(range(8)) * 4,
    __import__("hashlib").sha256(b"a strong key made elsewhere").digest()],
    ids=["sha256-passphrase", "counting", "8-byte-cycle", "strong-external"])
def test_external_keys_are_refused_unless_allowed(tmp_path: Path, secret: bytes):
    """PoC poc_weak_key.py: sha256(passphrase), counting bytes and an 8-byte cycle passed the weak-key check.
    Only keygen files are accepted by default; an external key needs --allow-external-key."""
    from weightwarden.indicators.errors import GroupKeyError
    from weightwarden.indicators.keys import load_key

    path = tmp_path / "ext.key"
    path.write_text(secret.hex() + "\n")
    path.chmod(0o600)
    with pytest.raises(GroupKeyError, match="not a key file made by|weak group key"):
        load_key(path)
    result = _invoke("indicators", "derive", "--key", str(path), "--folder", str(tmp_path), "-o", "-")
    assert result.exit_code == 2 and ("--allow-external-key" in result.output or "weak" in result.output)


def test_keygen_files_are_marked_and_loaded(tmp_path: Path):
    from weightwarden.indicators.keys import KEY_FILE_FORMAT, GroupKey, load_key, write_key

    key = GroupKey.generate()
    path = tmp_path / "group.key"
    write_key(key, path)
    assert path.read_text().startswith(KEY_FILE_FORMAT) and stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_key(path)
    assert loaded == key and loaded.key_id == key.key_id
    external = tmp_path / "ext.key"
    external.write_text(key.secret.hex())
    external.chmod(0o600)
    assert load_key(external, allow_external=True).secret == key.secret


def test_key_id_is_salted_and_slow(group_key):
    """The published id no longer confirms a guess at HMAC speed: scrypt over the key with the keygen file's
    salt, which is never published; the same secret with another salt has another id."""
    import hashlib
    import hmac

    from weightwarden.indicators.keys import KEY_ID_SCRYPT, GroupKey

    same_secret = GroupKey(group_key.secret, bytes(16) if group_key.id_salt != bytes(16) else b"\1" * 16)
    assert same_secret.key_id != group_key.key_id
    old_style = hmac.new(group_key.secret, b"weightwarden.indicators/key-id/v1", hashlib.sha256).hexdigest()[:16]
    assert group_key.key_id != old_style
    assert KEY_ID_SCRYPT["n"] >= 1 << 14


# -------------------------------------------------------------------- R4: who is charged for a session

def _members_file(tmp_path: Path, *keys) -> Path:
    path = tmp_path / "members.txt"
    path.write_text("".join(f"{k.name} {k.public_hex}\n" for k in keys))
    path.chmod(0o644)
    return path


def test_file_mode_outsider_cannot_spend_a_members_budget(sketcher: Sketcher, tmp_path: Path):
    """PoC poc_budget.py (a): a keyless outsider's 10 junk requests spent the shared file-mode budget and the real
    member was refused for 24 h. With a member list, junk is refused before the budget is charged."""
    from weightwarden.indicators.members import generate_member_key, load_members

    lab_b = generate_member_key("lab-b", tmp_path / "b.member")
    members = load_members(_members_file(tmp_path, lab_b))
    server, client = _set(sketcher, range(0, 30)), _set(sketcher, range(0, 12))
    budget = psi.SessionBudget(tmp_path / "budget.json", sessions=2)
    junk = psi._pack(psi._hello(client, 12), b"\x00not-a-protobuf")
    unsigned = psi.make_request(client, tmp_path / "s0")
    for request in [junk] * 10 + [unsigned]:
        with pytest.raises(PsiError, match="not a listed member"):
            psi.respond(server, request, budget=budget, members=members)
    signed = psi.make_request(client, tmp_path / "s1", member=lab_b)
    response = psi.respond(server, signed, budget=budget, members=members)
    assert psi.finish(tmp_path / "s1", response).cardinality == 12
    with pytest.raises(PsiError, match="replayed"):
        psi.respond(server, signed, budget=budget, members=members)
    forged = signed.replace(b'"member": "lab-b"', b'"member": "lab-c"')
    with pytest.raises(PsiError, match="not a listed member|does not verify"):
        psi.respond(server, forged, budget=budget, members=members)


def test_tcp_budget_is_charged_to_the_member_not_the_address(sketcher: Sketcher, tmp_path: Path):
    """PoC poc_budget.py (b): 127.0.0.2-4 got 6 sessions with --budget-sessions 2. Signed sessions are charged
    to the member (the address plays no part); an unsigned client is refused."""
    from weightwarden.indicators.members import generate_member_key, load_members

    lab_b = generate_member_key("lab-b", tmp_path / "b.member")
    members = load_members(_members_file(tmp_path, lab_b))
    server, client = _set(sketcher, range(0, 30)), _set(sketcher, range(0, 12))
    path = tmp_path / "budget.json"
    counts = []
    for _ in range(3):
        box = {}
        ready = threading.Event()

        def run2(box=box, ready=ready):
            try:
                box["result"] = psi.serve(server, ready=lambda port: (box.update(port=port), ready.set()), timeout=30,
                                          budget=psi.SessionBudget(path, sessions=2), members=members)
            except Exception as exc:  # noqa: BLE001
                box["error"] = exc
                ready.set()

        thread = threading.Thread(target=run2, daemon=True)
        thread.start()
        assert ready.wait(30)
        try:
            counts.append(psi.connect(client, port=box["port"], timeout=30, member=lab_b).cardinality)
        except PsiError as exc:
            counts.append(exc.reason)
        thread.join(30)
    # Red team round 3 (F8): the client is told a fixed code; the details stay with the server.
    assert counts[:2] == [12, 12] and psi.REFUSED_BUDGET in counts[2] and "lab-b" not in counts[2]
    assert "budget of member lab-b spent" in box["error"].reason
    thread_box: dict = {}
    ready = threading.Event()

    def run3():
        try:
            psi.serve(server, ready=lambda port: (thread_box.update(port=port), ready.set()), timeout=30,
                      members=members)
        except Exception as exc:  # noqa: BLE001
            thread_box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run3, daemon=True)
    thread.start()
    assert ready.wait(30)
    # Round 22a: the server asks for a member signature before its hello; the unsigned client stops there
    with pytest.raises(PsiError, match="answers listed members only"):
        psi.connect(client, port=thread_box["port"], timeout=30)
    thread.join(30)
    assert "closed the connection" in thread_box["error"].reason


def test_total_budget_bounds_sessions_across_peers(tmp_path: Path):
    """Without authentication, posing as many peers (addresses) is bounded by the server's total."""
    budget = psi.SessionBudget(tmp_path / "budget.json", sessions=2, total_sessions=5)
    for i in range(5):
        budget.charge(f"address 127.0.0.{i + 2}", 10)
    with pytest.raises(PsiError, match="budget of this server spent"):
        budget.charge("address ::1", 10)


def test_budget_file_is_replaced_atomically(tmp_path: Path):
    """Untested idea of round 2: a server killed between truncate and write emptied the budget. The state is now
    written to a new file and renamed; the lock lives in a separate file."""
    path = tmp_path / "budget.json"
    psi.SessionBudget(path).charge("member a", 10)
    before = path.stat().st_ino
    psi.SessionBudget(path).charge("member a", 10)
    assert path.stat().st_ino != before and (tmp_path / "budget.json.lock").exists()
    assert len(json.loads(path.read_text())["peers"]["member a"]) == 2


def test_cli_member_keys_and_signed_file_exchange(sketcher: Sketcher, tmp_path: Path):
    server, client = tmp_path / "A.json", tmp_path / "B.json"
    server.write_text(dump_set(_set(sketcher, range(0, 30))))
    client.write_text(dump_set(_set(sketcher, range(0, 12))))
    made = _invoke("indicators", "psi", "member-keygen", "lab-b", str(tmp_path / "b.member"))
    assert made.exit_code == 0 and stat.S_IMODE((tmp_path / "b.member").stat().st_mode) == 0o600
    members = tmp_path / "members.txt"
    members.write_text(made.stdout)
    budget = ["--budget-file", str(tmp_path / "budget.json")]
    unsigned = _invoke("indicators", "psi", "request", str(client), "--state", str(tmp_path / "s0"),
                       "-o", str(tmp_path / "r0"))
    assert unsigned.exit_code == 0
    refused = _invoke("indicators", "psi", "respond", str(server), str(tmp_path / "r0"), "--members", str(members),
                      *budget, "-o", str(tmp_path / "x"))
    assert refused.exit_code == 2 and "not a listed member" in refused.output
    assert _invoke("indicators", "psi", "request", str(client), "--state", str(tmp_path / "s1"), "--member-key",
                   str(tmp_path / "b.member"), "-o", str(tmp_path / "r1")).exit_code == 0
    assert _invoke("indicators", "psi", "respond", str(server), str(tmp_path / "r1"), "--members", str(members),
                   *budget, "-o", str(tmp_path / "resp")).exit_code == 0
    done = _invoke("indicators", "psi", "finish", str(tmp_path / "resp"), "--state", str(tmp_path / "s1"))
    assert done.exit_code == 0 and "shared indicators: 12" in done.output
