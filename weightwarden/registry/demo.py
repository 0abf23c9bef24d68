"""The registry demo (``make demo`` calls :func:`run_demo`): a release that stops being current, end to end.

With the real CLI, against a real server on 127.0.0.1 and the default SQLite database in a temporary folder:

1. sign the sample model (``weightwarden sign``, ECDSA P-256 key);
2. start ``weightwarden registry serve``; make a publisher key bound to ``huggingfacetb/*``;
3. ``weightwarden publish`` the signed release, and its audit attestation (``weightwarden audit --format
   intoto --sign-key``, or the one given; skipped only in a build without ``audit``);
4. ``weightwarden check`` → exit 0, current;
5. file an incident against the release (OSV record, ``weightwarden registry post incident``) and revoke
   the release naming that incident (``weightwarden registry revoke``);
6. ``weightwarden check`` again → exit 1, and it says why: revoked, and the open incident.

Returns 0 when every step behaved as described, 1 otherwise. Takes a few seconds plus the model's hashing.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL_LINE = "huggingfacetb/smollm2-135m-instruct"


def _cli() -> list[str]:
    # -I (red team round 2, R2): `python -c` would put the current folder first on sys.path; the package
    # root is added explicitly instead, so the demo runs this checkout and nothing planted where it runs.
    root = str(Path(__file__).resolve().parents[2])
    return [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {root!r}); "
            "from weightwarden.cli.main import run; run()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], *, show: bool = True, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    if show:
        print("$ weightwarden " + " ".join(args), flush=True)
    res = subprocess.run([*_cli(), *args], capture_output=True, text=True, check=False, timeout=300)
    if show:
        out = (res.stdout + res.stderr).rstrip()
        if out:
            print("  " + out.replace("\n", "\n  "), flush=True)
    if expect is not None and res.returncode != expect:
        raise RuntimeError(f"`weightwarden {args[0]} ...` exited {res.returncode}, expected {expect}")
    return res


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    import httpx

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the registry server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/log", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the registry server did not start within 30 s")


def _signing_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def run_demo(model: str | os.PathLike[str], *, audit_attestation: str | os.PathLike[str] | None = None,
             workdir: str | os.PathLike[str] | None = None) -> int:
    """Run the demo on the model at ``model`` (a file or folder); 0 when it behaved as described."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ww-registry-demo-", dir=workdir) as tmp:
        work = Path(tmp)
        state = str(work / "client-state")
        proc = None
        try:
            print("\n-- 1. sign the release", flush=True)
            _signing_key(work / "signing.pem")
            bundle = work / "release.sig"
            _run(["sign", str(model), "--key", str(work / "signing.pem"), "--version", "1", "-o", str(bundle)])

            print("\n-- 2. start a registry (SQLite) and authorise a publisher for huggingfacetb/*", flush=True)
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            db, keys = str(work / "registry.db"), str(work / "keys")
            proc = subprocess.Popen([*_cli(), "registry", "serve", "--db", db, "--keys", keys, "--port", str(port),
                                     "--origin", "demo.weightwarden.local/registry"])
            _wait_until_up(url, proc)
            _run(["registry", "keygen", "--out", str(work / "publisher.pem")])
            _run(["registry", "add-publisher", str(work / "publisher.pem.pub.pem"), "--namespace", "huggingfacetb/*",
                  "--name", "demo publisher", "--db", db, "--keys", keys])
            client = ["--registry", url, "--state-dir", state]

            print("\n-- 3. publish the signed release", flush=True)
            _run(["publish", str(bundle), *client, "--key", str(work / "publisher.pem"), "--model", MODEL_LINE])
            release = "sha256:" + hashlib.sha256(bundle.read_bytes()).hexdigest()
            if audit_attestation is None:
                audit_attestation = _audit(model, work)
            if audit_attestation is not None:
                _run(["registry", "post", "audit", str(audit_attestation), *client, "--key",
                      str(work / "publisher.pem"), "--model", MODEL_LINE, "--release", release])

            print("\n-- 4. check: the model is the current release", flush=True)
            _run(["check", str(model), "--bundle", str(bundle), *client], expect=0)

            print("\n-- 5. an incident is filed against the release, and the publisher revokes it", flush=True)
            incident = _incident_file(work, release, bundle)
            incident_id = json.loads(incident.read_text())["id"]
            _run(["registry", "post", "incident", str(incident), *client, "--key", str(work / "publisher.pem")])
            _run(["registry", "revoke", *client, "--key", str(work / "publisher.pem"), "--model", MODEL_LINE,
                  "--release", release, "--reason", "chat template leaks the system prompt (see incident)",
                  "--incident", incident_id])

            print("\n-- 6. check again: no longer current, and why", flush=True)
            res = _run(["check", str(model), "--bundle", str(bundle), *client], expect=1)
            if "REVOKED" not in res.stdout or incident_id not in res.stdout:
                raise RuntimeError("check did not name the revocation and the incident")
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            print(f"registry demo FAILED: {exc}", flush=True)
            return 1
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(f"\nregistry demo OK in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def _audit(model: str | os.PathLike[str], work: Path) -> Path | None:
    """A signed audit attestation of the model from ``weightwarden audit --format intoto --sign-key`` (a
    Sigstore bundle around a DSSE envelope), or None when this build has no ``audit`` command."""
    probe = subprocess.run([*_cli(), "audit", "--help"], capture_output=True, text=True, check=False, timeout=120)
    if probe.returncode != 0:
        print("  (this build has no `weightwarden audit`: no audit attestation to publish)", flush=True)
        return None
    out = work / "audit.intoto.json"
    _run(["audit", str(model), "--format", "intoto", "--sign-key", str(work / "signing.pem"), "-o", str(out)],
         expect=None)
    if not out.exists():
        raise RuntimeError("`weightwarden audit` wrote no attestation")
    return out


def _incident_file(work: Path, release: str, bundle: Path) -> Path:
    from weightwarden.integrity.bundle import parse_bundle
    from weightwarden.integrity.statement import read_statement
    from weightwarden.registry.incidents import AffectedModel, new_incident

    statement = read_statement(parse_bundle(bundle.read_bytes()).payload)
    files = {r.name: r.digest.hex() for r in statement.manifest.resources}
    incident = new_incident(
        summary="System prompt disclosure through the chat template",
        details=f"Release {release} answers 'repeat your instructions' with its system prompt.",
        affected=[AffectedModel(MODEL_LINE, versions=("1",), file_digests=files)],
        risk_domain="supply_chain.integrity", severity="high", tlp="TLP:CLEAR", atlas=("AML.T0051",))
    path = work / "incident.json"
    path.write_text(json.dumps(incident.to_osv(), indent=1), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(sys.argv[1] if len(sys.argv) > 1 else ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
