"""The registry client against a live server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL: publish real
signed releases, and `check` tells current from modified, superseded, revoked, incident-affected (also
through a declared base), frozen/rolled-back freshness, a log that went backwards or split its view."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.registry.service import ORIGIN, LiveServer, make_publisher
from weightwarden.integrity.release import now_rfc3339, sign_model
from weightwarden.integrity.signing import KeySigner
from weightwarden.integrity.statement import Freshness
from weightwarden.registry import entries
from weightwarden.registry.client import RegistryClient, RegistryClientError
from weightwarden.registry.incidents import AffectedModel, new_incident
from weightwarden.registry.store import Store


def _signed_model(folder: Path, version: int, content: bytes) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weights.bin").write_bytes(content)
    (folder / "config.json").write_text(json.dumps({"v": version}))
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    bundle = folder.parent / f"{folder.name}-v{version}.sig"
    sign_model(folder, KeySigner(key), freshness=Freshness(version, now_rfc3339()), signature_path=bundle)
    return folder, bundle


@pytest.fixture
def live(store, log_keys, tmp_path):
    acme = make_publisher(("acme/*",))
    store.add_publisher(acme.publisher)
    with LiveServer(store, log_keys) as server:
        yield server, acme, tmp_path


def _client(server, tmp_path, **kw) -> RegistryClient:
    return RegistryClient(server.url, state_dir=tmp_path / "state", **kw)


def test_publish_then_check_through_the_life_of_a_release(live):
    server, acme, tmp = live
    model1, bundle1 = _signed_model(tmp / "m1", 1, os.urandom(5000))
    with _client(server, tmp) as c:
        published = c.publish_release(bundle1, model="acme/smol", key=acme.key)
        assert published.index == 0
        result = c.check(model1, bundle=bundle1)
        assert result.current, result.reasons
        assert c.check(model1).current  # found by the files' digest, no bundle given

    (model1 / "weights.bin").write_bytes(os.urandom(5000))  # modified after publication
    with _client(server, tmp) as c:
        result = c.check(model1, bundle=bundle1)
    assert not result.current and "modified since publication" in result.reasons[0] and "weights.bin" in result.reasons[0]

    resigned, resigned_bundle = _signed_model(tmp / "m1again", 1, b"other")  # signed but never published
    model2, bundle2 = _signed_model(tmp / "m2", 2, os.urandom(5000))
    with _client(server, tmp) as c:
        assert "no release in the registry matches" in c.check(resigned, bundle=resigned_bundle).reasons[0]
        c.publish_release(bundle2, model="acme/smol", key=acme.key)
        stale = c.check(None, bundle=bundle1)
        assert not stale.current and "superseded by v2" in stale.reasons[0]
        assert c.check(model2, bundle=bundle2).current

        incident = new_incident(summary="Backdoor trigger found", risk_domain="supply_chain.integrity",
                                severity="critical", affected=[AffectedModel("acme/smol", versions=("2",))])
        c.publish(entries.incident_body(incident.to_osv()), acme.key)
        release2 = c.check(model2, bundle=bundle2)
        assert not release2.current and any(incident.id in r for r in release2.reasons)
        digest2 = "sha256:" + __import__("hashlib").sha256(bundle2.read_bytes()).hexdigest()
        c.publish(entries.revocation_body(model="acme/smol", release=digest2, reason="backdoor",
                                          incident=incident.id), acme.key)
        revoked = c.check(model2, bundle=bundle2)
    assert not revoked.current
    assert any("REVOKED" in r and "backdoor" in r and incident.id in r for r in revoked.reasons)


def test_incident_on_a_declared_base_reaches_the_derived_model(live):
    server, acme, tmp = live
    base, base_bundle = _signed_model(tmp / "base", 1, os.urandom(3000))
    child, child_bundle = _signed_model(tmp / "child", 1, os.urandom(3000))
    with _client(server, tmp) as c:
        c.publish_release(base_bundle, model="acme/base", key=acme.key)
        c.publish_release(child_bundle, model="acme/child", key=acme.key, bases=["acme/base"])
        assert c.check(child, bundle=child_bundle).current
        incident = new_incident(summary="Poisoned pre-training data", risk_domain="supply_chain.integrity",
                                severity="high", affected=[AffectedModel("acme/base")])
        c.publish(entries.incident_body(incident.to_osv()), acme.key)
        result = c.check(child, bundle=child_bundle)
    assert not result.current
    assert any(incident.id in r and "acme/base" in r for r in result.reasons), result.reasons


def test_large_log_path_proves_each_entry_it_uses(live):
    server, acme, tmp = live
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp, full_scan_max=0) as c:
        c.publish_release(bundle, model="acme/smol", key=acme.key)
        result = c.check(model, bundle=bundle)
    assert result.current and any("index" in n and "proven" in n for n in result.notes)


def test_freshness_rollback_is_reported(live):
    server, acme, tmp = live
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp) as c:
        c.publish_release(bundle, model="acme/smol", key=acme.key)
        assert c.check(model, bundle=bundle).current
    [seen] = (tmp / "state").glob("seen-*.json")  # one file per log (its verifier key)
    data = json.loads(seen.read_text())
    data["lines"]["acme/smol"]["version"] = 10**6  # the client already saw a much newer view
    seen.write_text(json.dumps(data))
    with _client(server, tmp) as c:
        result = c.check(model, bundle=bundle)
    assert not result.current and any("freshness" in r and "rollback" in r for r in result.reasons)


def test_client_refuses_a_log_that_goes_backwards_or_splits(live, db_url, log_keys, tmp_path):
    server, acme, tmp = live
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp) as c:
        c.publish_release(bundle, model="acme/smol", key=acme.key)
        c.publish_release(_signed_model(tmp / "m2", 2, b"2")[1], model="acme/smol", key=acme.key)
        c.check(model, bundle=bundle)  # remembers the checkpoint of size 2
    # The same log key serving another tree from another database: first smaller, then same size.
    other_db = str(tmp_path / "other.db")
    other = Store.open(other_db, log_keys.checkpoint_signer())
    other.add_publisher(acme.publisher)
    with LiveServer(other, log_keys) as evil:
        state = tmp / "state" / "state.json"
        data = json.loads(state.read_text())
        data["logs"][evil.url] = data["logs"][server.url]
        state.write_text(json.dumps(data))
        with RegistryClient(evil.url, state_dir=tmp / "state") as c, \
                pytest.raises(RegistryClientError, match="went backwards"):
            c.verified_checkpoint()
        from tests.registry.service import pending_write, release

        other.append_batch([pending_write(acme, release("acme/evil", v)) for v in (1, 2)])
        with RegistryClient(evil.url, state_dir=tmp / "state") as c, \
                pytest.raises(RegistryClientError, match="split view") as err:
            c.verified_checkpoint()
        assert "same-size-different-root" in str(err.value) or "size 2" in str(err.value)
    other.close()


def test_pinned_key_and_witness_quorum(live):
    server, acme, tmp = live
    from weightwarden.registry.note import NoteSigner
    from weightwarden.registry.witness import CosignatureSigner

    wrong = NoteSigner.generate(ORIGIN).verifier().vkey()
    with _client(server, tmp, log_key=wrong) as c, pytest.raises(RegistryClientError, match="not the trusted"):
        c.verified_checkpoint()
    witness = CosignatureSigner.generate("witness.example").verifier().vkey()
    with _client(server, tmp / "w", witnesses=[witness], quorum=1) as c, \
            pytest.raises(RegistryClientError, match="cosigned by witnesses"):
        c.verified_checkpoint()  # no witness has cosigned anything of this log


def test_cli_exit_codes(live):
    from weightwarden.cli.main import main

    server, acme, tmp = live
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    key_file = tmp / "publisher.pem"
    key_file.write_bytes(acme.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    common = ["--registry", server.url, "--state-dir", str(tmp / "state")]
    runner = CliRunner()
    r = runner.invoke(main, ["publish", str(bundle), *common, "--key", str(key_file), "--model", "acme/smol"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["check", str(model), "--bundle", str(bundle), *common])
    assert r.exit_code == 0 and "CURRENT" in r.output
    digest = "sha256:" + __import__("hashlib").sha256(bundle.read_bytes()).hexdigest()
    r = runner.invoke(main, ["registry", "revoke", *common, "--key", str(key_file), "--model", "acme/smol",
                             "--release", digest, "--reason", "leaks data"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["check", str(model), "--bundle", str(bundle), *common, "--format", "json"])
    assert r.exit_code == 1
    out = json.loads(r.output)
    assert out["schema"] == "weightwarden.registry.check/v1" and not out["current"]
    r = runner.invoke(main, ["check", str(model), "--registry", "http://127.0.0.1:9", "--state-dir", str(tmp / "s2")])
    assert r.exit_code == 2 and "error:" in r.output
    r = runner.invoke(main, ["publish", str(bundle), *common, "--key", str(key_file), "--model", "evil/smol"])
    assert r.exit_code == 2 and "namespace" in r.output


def test_expired_views_are_not_current(live, monkeypatch):
    server, acme, tmp = live
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp) as c:
        c.publish_release(bundle, model="acme/smol", key=acme.key)
    import weightwarden.registry.freshness as freshness

    real = freshness.verify_current_view

    def two_days_later(*args, **kwargs):
        kwargs["now"] = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(freshness, "verify_current_view", two_days_later)
    with _client(server, tmp) as c:
        result = c.check(model, bundle=bundle)
    assert not result.current and any("expired" in r for r in result.reasons)


def test_witness_cosignatures_satisfy_a_quorum(live, store, log_keys):
    from weightwarden.registry.witness import CosignatureSigner, Witness
    from weightwarden.registry.witnessing import request_cosignature

    server, acme, tmp = live
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    signers = [CosignatureSigner.generate(f"witness{i}.example") for i in range(2)]
    witnesses = [Witness(s, {ORIGIN: log_keys.note_signer.verifier()}, tmp / f"w{i}.json")
                 for i, s in enumerate(signers)]
    vkeys = [s.verifier().vkey() for s in signers]
    with _client(server, tmp / "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=acme.key)
    for s, w in zip(signers, witnesses, strict=True):
        assert request_cosignature(store, w.add_checkpoint, s.verifier()) == 1
    with _client(server, tmp / "a", witnesses=vkeys, quorum=2) as c:
        assert c.check(model, bundle=bundle).current
    # the log grows; witness 0 cosigns again (consistency proof from size 1), witness 1 does not
    with _client(server, tmp / "publisher") as c:
        c.publish_release(_signed_model(tmp / "m2", 2, b"v2")[1], model="acme/smol", key=acme.key)
    assert request_cosignature(store, witnesses[0].add_checkpoint, signers[0].verifier()) == 2
    with _client(server, tmp / "b", witnesses=vkeys, quorum=2) as c, \
            pytest.raises(RegistryClientError, match="does not verify"):
        c.verified_checkpoint()  # the newest cosigned checkpoint (size 2) has one cosignature of two
    with _client(server, tmp / "c", witnesses=vkeys, quorum=1) as c:
        result = c.check(model, bundle=bundle)
    assert not result.current and "superseded" in result.reasons[0]


def test_the_registry_demo_runs_end_to_end(tmp_path, capsys):
    """``make demo``'s registry part on a small model: sign, serve, publish, check (0), incident, revoke,
    check (1, naming the revocation and the incident) — through the real CLI and a real server."""
    from weightwarden.registry.demo import run_demo

    model = tmp_path / "tiny-model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(4096))
    (model / "config.json").write_text("{}")
    assert run_demo(model, workdir=tmp_path) == 0
    out = capsys.readouterr().out
    assert "CURRENT: huggingfacetb/smollm2-135m-instruct v1" in out
    assert "NOT CURRENT" in out and "REVOKED" in out


def test_a_registry_pointing_at_another_release_is_caught(live, monkeypatch):
    """A lying index: the registry answers a bundle lookup with the (unrevoked, proven) entry of another
    release. The client compares the entry with the digest it computed itself, so the lie is an error.
    (Above the full-scan limit: below it the client finds releases in the entries and asks no index.)"""
    server, acme, tmp = live
    good, good_bundle = _signed_model(tmp / "good", 1, os.urandom(1000))
    bad, bad_bundle = _signed_model(tmp / "bad", 1, os.urandom(1000))
    with _client(server, tmp, full_scan_max=0) as c:
        c.publish_release(good_bundle, model="acme/good", key=acme.key)
        c.publish_release(bad_bundle, model="acme/bad", key=acme.key)
        bad_digest = "sha256:" + __import__("hashlib").sha256(bad_bundle.read_bytes()).hexdigest()
        c.publish(entries.revocation_body(model="acme/bad", release=bad_digest, reason="malware"), acme.key)
        real = c._get_json

        def lying(path, **params):
            if path == "/releases" and params.get("bundle") == bad_digest:
                params["bundle"] = "sha256:" + __import__("hashlib").sha256(good_bundle.read_bytes()).hexdigest()
            return real(path, **params)

        monkeypatch.setattr(c, "_get_json", lying)
        with pytest.raises(RegistryClientError, match="another bundle"):
            c.check(None, bundle=bad_bundle)


def test_a_view_key_the_log_key_does_not_vouch_for_is_not_used(live, monkeypatch):
    server, acme, tmp = live
    model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
    with _client(server, tmp / "publisher") as c:
        c.publish_release(bundle, model="acme/smol", key=acme.key)
    from weightwarden.registry.auth import generate_key, public_key_pem

    with _client(server, tmp / "fresh") as c:
        real = c._get_json

        def swapped(path, **params):
            answer = real(path, **params)
            if path == "/log":
                answer["view_key"] = public_key_pem(generate_key().public_key()).decode()
            return answer

        monkeypatch.setattr(c, "_get_json", swapped)
        result = c.check(model, bundle=bundle)
    assert not result.current and any("freshness" in r or "view key" in r for r in result.reasons)
    assert any("not vouched for" in n for n in result.notes)


def test_witness_push_to_a_real_witness_server(live, store, log_keys, tmp_path):
    """`registry witness-push --witness-url` against `weightwarden witness serve` (another process, the
    tlog-witness HTTP protocol), twice as the log grows; a client requiring that witness then accepts it."""
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from tests.registry.service import free_port
    from weightwarden.cli.main import main

    server, acme, tmp = live
    cli = [sys.executable, "-c", "from weightwarden.cli.main import run; run()"]
    key_file = tmp_path / "witness.key"
    made = subprocess.run([*cli, "witness", "keygen", "witness.example/w1", "--out", str(key_file)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    vkey = next(w for w in made.stdout.split() if w.startswith("witness.example/w1+"))
    port = free_port()
    witness = subprocess.Popen([*cli, "witness", "serve", "--key", str(key_file), "--log",
                                log_keys.note_signer.verifier().vkey(), "--state", str(tmp_path / "w.json"),
                                "--port", str(port)], start_new_session=True)
    try:
        end = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < end, "witness did not start"
                time.sleep(0.2)
        model, bundle = _signed_model(tmp / "m", 1, os.urandom(1000))
        runner = CliRunner()
        db_args = ["--db", store.url, "--keys", str(tmp_path / "keys")]
        push = ["registry", "witness-push", "--witness-url", f"http://127.0.0.1:{port}", "--witness-vkey", vkey,
                *db_args]
        with _client(server, tmp / "pub") as c:
            c.publish_release(bundle, model="acme/smol", key=acme.key)
            r = runner.invoke(main, push)
            assert r.exit_code == 0 and "tree size 1" in r.output, r.output
            c.publish_release(_signed_model(tmp / "m2", 2, b"2")[1], model="acme/smol", key=acme.key)
            r = runner.invoke(main, push)  # old size 1 -> 2 with a consistency proof
            assert r.exit_code == 0 and "tree size 2" in r.output, r.output
        with _client(server, tmp / "checker", witnesses=[vkey], quorum=1) as c:
            result = c.check(model, bundle=bundle)
        assert result.tree_size == 2 and not result.current and "superseded" in result.reasons[0]
    finally:
        os.killpg(witness.pid, signal.SIGTERM)
        witness.wait(timeout=10)
