"""Load test of the registry service (issue 13) against 127.0.0.1 only, bounded in count and time.

For SQLite and (when ``WW_TEST_POSTGRES_URL`` or ``--pg URL`` names one) PostgreSQL, each on a fresh
database:

1. ``weightwarden registry serve --workers W`` is started as a subprocess (the real CLI, uvicorn, W API
   worker processes on one database);
2. appends: ``--appends`` signed release entries (pre-signed by 8 publisher keys before the clock starts:
   signing is the publishers' cost, not the registry's) sent by ``--concurrency`` keep-alive connections;
   every request must be answered 201 (acknowledged = committed, with its inclusion proof);
3. inclusion-proof reads: ``--reads`` GET /proof/inclusion for random indexes, same concurrency;
4. crash: the same append load again, the server killed with SIGKILL (all workers) after a third of it,
   restarted; then every acknowledged append must be at its index and the tree consistent with every
   checkpoint handed out (this is the figure of issue 13's crash requirement, at 1,000 appends);
5. the store's sequencer without HTTP (``Store.append_batch`` in batches of 500, one process): the ceiling
   the HTTP layer is measured against.

Throughput is wall-clock (requests/s as a client sees it), latencies p50/p99 per request, and the server's
own CPU per operation (its process group's user + system time, from /proc): on a shared machine requests/s
depends on the neighbours, CPU per operation much less. The load generator is ``wrk`` (C + LuaJIT,
``benchmarks/wrk/registry.lua``; Debian package ``wrk``) when installed, else (or with ``--generator python``)
a minimal asyncio HTTP/1.1 client in this process; the kill -9 phases always use the latter (they check every
answer). wrk sends each pre-signed request exactly once (unique nonces) and stops at the count. Both share
the machine's cores with whatever else runs (the load average is recorded). ``WW_BENCH_SERVER_ROOT=DIR``
serves the code in DIR (e.g. an older commit) with the same generator and inputs.

Usage: ``.venv/bin/python benchmarks/registry_load.py [--appends 1000] [--reads 5000] [--workers 2]
[--generator auto|wrk|python] [--databases sqlite,postgresql] [--skip-crash] [--out NAME]``.
Writes ``benchmarks/results/registry_load.json`` (or ``NAME.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from common import machine, write_result  # noqa: E402

from weightwarden.registry import auth, entries, tlog  # noqa: E402
from weightwarden.registry.logkeys import load_or_create  # noqa: E402
from weightwarden.registry.note import open_checkpoint  # noqa: E402
from weightwarden.registry.store import Store  # noqa: E402

ORIGIN = "bench.weightwarden.local/log"
TIME_LIMIT_S = 120.0  # per phase


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Conn:
    """One keep-alive HTTP/1.1 connection (just enough HTTP for this benchmark)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> _Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        data = await self.reader.readexactly(length) if length else b""
        return status, data

    def close(self) -> None:
        self.writer.close()


async def _drive(port: int, requests: list[tuple[str, str, dict[str, str], bytes]], concurrency: int,
                 deadline: float) -> tuple[list[float], list[tuple[int, bytes]], float]:
    """Send ``requests`` over ``concurrency`` connections; latencies, answers (in order), wall seconds."""
    latencies: list[float] = [0.0] * len(requests)
    answers: list[tuple[int, bytes]] = [(0, b"")] * len(requests)
    cursor = iter(range(len(requests)))

    async def worker() -> None:
        conn = await _Conn.open(port)
        try:
            for i in cursor:
                if time.monotonic() > deadline:
                    return
                method, path, headers, body = requests[i]
                t0 = time.perf_counter()
                try:
                    answers[i] = await conn.request(method, path, headers, body)
                except (ConnectionError, asyncio.IncompleteReadError):
                    answers[i] = (-1, b"")
                    return
                latencies[i] = time.perf_counter() - t0
        finally:
            conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, answers, time.perf_counter() - start


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0 if ordered else float("nan")


WRK_SCRIPT = HERE / "wrk" / "registry.lua"
GRACE_S = 10.0  # after every request is sent: answers still missing then are counted as lost


def wrk_available() -> bool:
    import shutil

    return shutil.which("wrk") is not None


def _request_lines(requests: list[tuple[str, str, dict[str, str], bytes]], path: Path) -> Path:
    """Pre-signed requests as the lines ``wrk/registry.lua`` reads (METHOD, PATH, BODY, then NAME, VALUE
    pairs, tab-separated: canonical JSON bodies, paths and header values hold no tab or newline)."""
    with path.open("w", encoding="utf-8") as out:
        for method, target, headers, body in requests:
            text = body.decode("utf-8")
            fields = [method, target, text] + [x for kv in headers.items() for x in kv]
            if any("\t" in f or "\n" in f for f in fields):
                raise ValueError("a request field holds a tab or newline")
            out.write("\t".join(fields) + "\n")
    return path


def _group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the processes of group ``pgid`` (the server and its
    workers; Linux /proc): what a request costs the server, whatever else the shared machine runs."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """Server CPU of one phase: ``with _Cpu(proc) as cpu: ...`` then ``cpu.per_op_us(n)``, ``cpu.cores(s)``."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.pgid, self.used = proc.pid, 0.0

    def __enter__(self) -> _Cpu:
        self.start = _group_cpu_s(self.pgid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.used = _group_cpu_s(self.pgid) - self.start

    def fields(self, ops: int, seconds: float) -> dict[str, float]:
        return {"server_cpu_s": round(self.used, 2), "server_cpu_us_per_op": round(1e6 * self.used / max(1, ops), 1),
                "server_cores_busy": round(self.used / max(seconds, 1e-6), 2),
                "server_capacity_per_core_s": round(max(1, ops) / self.used, 1) if self.used else None}


def _drive_wrk(port: int, script_args: list[str], concurrency: int, threads: int, limit_s: float) -> dict[str, Any]:
    """Run wrk (C, LuaJIT) with ``wrk/registry.lua`` until every thread has its share answered (or the time
    limit); returns the script's counts, wall seconds from the first request to the last answer and wrk's
    latency percentiles."""
    threads = max(1, min(threads, concurrency))
    total = int(script_args[2]) if script_args[0] == "proof" else Path(script_args[1]).read_bytes().count(b"\n")
    # every connection's first request is sent on connect: no more connections than requests per thread
    concurrency = max(threads, min(concurrency, total // threads * threads))
    with tempfile.TemporaryDirectory(prefix="ww-wrk-") as markers:
        args = [a if a != "{markers}" else markers for a in script_args]
        cmd = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{int(limit_s)}s", "--timeout", "60s",
               "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}", "--", *args]
        env = {**os.environ, "WW_WRK_THREADS": str(threads)}
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        complete, all_sent = False, None
        while proc.poll() is None:
            if len(list(Path(markers).glob("done.*"))) >= threads:
                complete = True
                break
            if all_sent is None and len(list(Path(markers).glob("sent.*"))) >= threads:
                all_sent = time.monotonic()
            if time.monotonic() - t0 > limit_s + 5 or (all_sent is not None and time.monotonic() - all_sent > GRACE_S):
                break
            time.sleep(0.02)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # wrk then stops its threads and runs done()
        out, err = proc.communicate(timeout=60)
    line = next((ln for ln in out.splitlines() if ln.startswith("WWRESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out[-500:]} {err[-500:]}")
    res = json.loads(line.split(" ", 1)[1])
    res["complete"] = complete
    res["lost"] = total - res["answered"]  # sent on a connection that broke, never answered
    res["seconds"] = max(1e-6, (res["last_us"] - res["first_us"]) / 1e6)
    res["threads"], res["connections"] = threads, concurrency
    return res


def _serve(db: str, keys: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    import httpx

    cmd = [sys.executable, "-c", "from weightwarden.cli.main import run; run()", "registry", "serve", "--db", db,
           "--keys", keys, "--port", str(port), "--workers", str(workers), "--write-rate", "1000000",
           "--write-burst", "1000000"]
    # The server runs the code under SERVER_ROOT (default: this checkout), so a before/after comparison can
    # serve an older commit with the same load generator and inputs.
    root = os.environ.get("WW_BENCH_SERVER_ROOT", str(ROOT))
    env = {**os.environ, "PYTHONPATH": root}
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=root, env=env)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/log", timeout=1).status_code == 200:
                time.sleep(0.5 * workers)  # let every worker finish starting
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("registry server did not start")


def _release(model: str, version: int) -> dict[str, Any]:
    tag = f"{model}:{version}".encode()
    import hashlib

    return {"schema": entries.RELEASE_SCHEMA, "model": model, "version": version,
            "subject": {"name": model.split("/")[1], "sha256": hashlib.sha256(b"s" + tag).hexdigest()},
            "files": [{"name": "model.safetensors", "algorithm": "sha256",
                       "digest": hashlib.sha256(b"f" + tag).hexdigest()}],
            "bundle": "sha256:" + hashlib.sha256(b"b" + tag).hexdigest()}


def _signed_appends(keys: list[Any], n: int, first_version: int, tag: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    out = []
    for i in range(n):
        key = keys[i % len(keys)]
        # one model line per request: concurrent requests of one line could arrive out of version order
        raw = entries.canonical(_release(f"bench{i % len(keys)}/{tag}-{i}", first_version))
        headers = auth.sign_request(key, ORIGIN, "POST", "/entries", raw)
        headers["Content-Type"] = "application/json"
        out.append(("POST", "/entries", headers, raw))
    return out


def _fresh_database(kind: str, pg_url: str | None, tmp: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return str(tmp / f"{kind}.db"), None
    import sqlalchemy as sa

    from weightwarden.registry.store import database_url

    schema = "bench_" + secrets.token_hex(4)
    engine = sa.create_engine(database_url(pg_url or ""))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()

    return f"{database_url(pg_url or '')}?options=-csearch_path%3D{schema}", drop


def run_database(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    db, drop = _fresh_database(kind, args.pg, tmp)
    keys_dir = str(tmp / f"keys-{kind}")
    log_keys = load_or_create(keys_dir, ORIGIN)
    store = Store.open(db, log_keys.checkpoint_signer())
    pub_keys = [auth.generate_key() for _ in range(8)]
    for i, key in enumerate(pub_keys):
        raw = auth.raw_public_key(key.public_key())
        store.add_publisher(auth.Publisher(auth.key_id(raw), raw, (f"bench{i}/*",)))
    store.close()
    port = _free_port()
    result: dict[str, Any] = {"database": kind, "workers": args.workers, "concurrency": args.concurrency}
    proc = _serve(db, keys_dir, port, args.workers)
    try:
        wrk = args.generator == "wrk"
        result["generator"] = "wrk" if wrk else "python-asyncio"
        # 2. appends, one signed request per HTTP request
        requests = _signed_appends(pub_keys, args.appends, 1, "load")
        lines = _request_lines(requests, tmp / "appends.txt") if wrk else None
        with _Cpu(proc) as cpu:
            if wrk:
                r = _drive_wrk(port, ["file", str(lines), "{markers}"], args.concurrency, args.wrk_threads,
                               TIME_LIMIT_S)
            else:
                lat, answers, wall = asyncio.run(_drive(port, requests, args.concurrency,
                                                        time.monotonic() + TIME_LIMIT_S))
        if wrk:
            result["appends"] = {"sent": len(requests), "acknowledged": r["acknowledged"], "seconds": round(r["seconds"], 3),
                                 "per_s": round(r["acknowledged"] / r["seconds"], 1), "p50_ms": round(r["p50_us"] / 1000, 2),
                                 "p99_ms": round(r["p99_us"] / 1000, 2),
                                 "other_statuses": sorted(int(k) for k in r["statuses"] if k != "201"), "wrk": r}
        else:
            ok = [i for i, (status, _) in enumerate(answers) if status == 201]
            result["appends"] = {"sent": len(requests), "acknowledged": len(ok), "seconds": round(wall, 3),
                                 "per_s": round(len(ok) / wall, 1), "p50_ms": round(_pct([lat[i] for i in ok], 0.5), 2),
                                 "p99_ms": round(_pct([lat[i] for i in ok], 0.99), 2),
                                 "other_statuses": sorted({s for s, _ in answers if s != 201})}
        result["appends"].update(cpu.fields(result["appends"]["acknowledged"], result["appends"]["seconds"]))
        # 2b. the same appends, --batch signed requests per HTTP request (POST /entries/batch)
        singles = _signed_appends(pub_keys, args.batched_appends, 1, "batch")
        batches = []
        for start in range(0, len(singles), args.batch):
            items = [{"headers": {k: v for k, v in h.items() if k.startswith("X-WW")},
                      "body": base64.b64encode(b).decode()} for _, _, h, b in singles[start:start + args.batch]]
            batches.append(("POST", "/entries/batch", {"Content-Type": "application/json"},
                            json.dumps({"requests": items}).encode()))
        batch_conc = min(8, args.concurrency)
        lines = _request_lines(batches, tmp / "batches.txt") if wrk else None
        with _Cpu(proc) as cpu:
            if wrk:
                r = _drive_wrk(port, ["file", str(lines), "{markers}"], batch_conc, args.wrk_threads, TIME_LIMIT_S)
            else:
                lat, answers, wall = asyncio.run(_drive(port, batches, batch_conc, time.monotonic() + TIME_LIMIT_S))
        if wrk:
            acked, wall = r["acknowledged"], r["seconds"]
            req_p50, req_p99 = r["p50_us"] / 1000, r["p99_us"] / 1000
        else:
            acked = sum(1 for status, data in answers if status == 200
                        for item in json.loads(data)["results"] if item["status"] == 201)
            req_p50, req_p99 = _pct(lat, 0.5), _pct(lat, 0.99)
        result["batched_appends"] = {"sent": len(singles), "per_request": args.batch, "connections": batch_conc,
                                     "acknowledged": acked, "seconds": round(wall, 3), "per_s": round(acked / wall, 1),
                                     "request_p50_ms": round(req_p50, 2), "request_p99_ms": round(req_p99, 2),
                                     **cpu.fields(acked, wall)}
        import httpx

        size = httpx.get(f"http://127.0.0.1:{port}/log", timeout=60).json()["size"]
        # 3. inclusion-proof reads against the tree a client holds a checkpoint of
        rng = random.Random(7)
        reads = [("GET", f"/proof/inclusion?index={rng.randrange(size)}&tree_size={size}", {}, b"")
                 for _ in range(0 if wrk else args.reads)]
        with _Cpu(proc) as cpu:
            if wrk:
                r = _drive_wrk(port, ["proof", str(size), str(args.reads), "{markers}"], args.concurrency,
                               args.wrk_threads, TIME_LIMIT_S)
            else:
                lat, answers, wall = asyncio.run(_drive(port, reads, args.concurrency, time.monotonic() + TIME_LIMIT_S))
        if wrk:
            result["proof_reads"] = {"sent": args.reads, "ok": r["ok"], "tree_size": size, "seconds": round(r["seconds"], 3),
                                     "per_s": round(r["ok"] / r["seconds"], 1), "p50_ms": round(r["p50_us"] / 1000, 2),
                                     "p99_ms": round(r["p99_us"] / 1000, 2), "wrk": r}
        else:
            good = [i for i, (status, _) in enumerate(answers) if status == 200]
            result["proof_reads"] = {"sent": len(reads), "ok": len(good), "tree_size": size, "seconds": round(wall, 3),
                                     "per_s": round(len(good) / wall, 1),
                                     "p50_ms": round(_pct([lat[i] for i in good], 0.5), 2),
                                     "p99_ms": round(_pct([lat[i] for i in good], 0.99), 2)}
        result["proof_reads"].update(cpu.fields(result["proof_reads"]["ok"], result["proof_reads"]["seconds"]))
        result["loadavg_after_reads"] = [round(x, 2) for x in os.getloadavg()]
        # 4. crash: SIGKILL a third of the way through another append load (the Python generator: every
        # answer is checked against the log after the restart)
        if not args.skip_crash:
            proc_holder = [proc]
            result["crash"] = _crash(port, db, keys_dir, pub_keys, args, log_keys, proc_holder,
                                     result["appends"]["seconds"])
            proc = proc_holder[0]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # 5. the sequencer without HTTP
    store = Store.open(db, log_keys.checkpoint_signer())
    from tests.registry.service import PublisherKey, pending_write  # noqa: PLC0415 - test helper reused

    pubs = [PublisherKey(k, store.publisher(auth.key_id(auth.raw_public_key(k.public_key())))) for k in pub_keys]
    writes = [pending_write(pubs[i % 8], _release(f"bench{i % 8}/direct-{i}", 1), timestamp=None)
              for i in range(args.appends)]
    t0 = time.perf_counter()
    for start in range(0, len(writes), 500):
        store.append_batch(writes[start:start + 500])
    wall = time.perf_counter() - t0
    result["sequencer_only"] = {"appends": len(writes), "batch": 500, "seconds": round(wall, 3),
                                "per_s": round(len(writes) / wall, 1)}
    store.close()
    if drop is not None:
        drop()
    return result


def _crash(port: int, db: str, keys_dir: str, pub_keys: list[Any], args: argparse.Namespace, log_keys: Any,
           proc_holder: list[subprocess.Popen[bytes]], result_seconds: float) -> dict[str, Any]:
    import httpx

    requests = _signed_appends(pub_keys, args.appends, 1, "crash")

    kill_after = max(0.05, result_seconds / 3)  # a third of the way through the load

    async def load_then_kill() -> list[tuple[int, bytes]]:
        task = asyncio.create_task(_drive(port, requests, args.concurrency, time.monotonic() + TIME_LIMIT_S))
        await asyncio.sleep(kill_after)
        os.killpg(proc_holder[0].pid, signal.SIGKILL)
        _, answers, _ = await task
        return answers

    answers = asyncio.run(load_then_kill())
    proc_holder[0].wait()
    acked = [(i, json.loads(data)) for i, (status, data) in enumerate(answers) if status == 201]
    proc_holder[0] = _serve(db, keys_dir, port, args.workers)
    verifier = log_keys.note_signer.verifier()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        final, _ = open_checkpoint(http.get("/checkpoint").content, verifier, ORIGIN)
        lost = 0
        for i, answer in acked:
            data = base64.b64decode(http.get(f"/entries/{answer['index']}").json()["data"])
            if entries.parse_logged(data)["body"] != json.loads(requests[i][3]):
                lost += 1
        inconsistent = 0
        for size in sorted({a["tree_size"] for _, a in acked}):
            note = next(a["checkpoint"] for _, a in acked if a["tree_size"] == size).encode()
            cp, _ = open_checkpoint(note, verifier, ORIGIN)
            proof = [base64.b64decode(h) for h in
                     http.get("/proof/consistency", params={"old": cp.size, "new": final.size}).json()["proof"]]
            try:
                tlog.verify_consistency(cp.size, final.size, cp.root_hash, final.root_hash, proof)
            except tlog.ProofError:
                inconsistent += 1
    return {"sent": len(requests), "acknowledged_before_kill": len(acked), "lost_acknowledged": lost,
            "checkpoints_handed_out": len({a["tree_size"] for _, a in acked}), "inconsistent_checkpoints": inconsistent,
            "tree_size_after_restart": final.size}


def database_crash(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """SIGKILL PostgreSQL itself (a throw-away cluster: postmaster and backends) a third of the way through
    ``--appends`` concurrent signed appends, restart it a second later; clients retry 503s with new nonces.
    Every acknowledged append must be in the log, consistent with every checkpoint handed out."""
    import threading

    import httpx

    from tests.registry.service import ThrowawayPostgres  # noqa: PLC0415 - the same helper the test uses

    pg = ThrowawayPostgres()
    pg.start()
    keys_dir = str(tmp / "keys-dbcrash")
    log_keys = load_or_create(keys_dir, ORIGIN)
    store = Store.open(pg.url, log_keys.checkpoint_signer())
    pub_keys = [auth.generate_key() for _ in range(8)]
    for i, key in enumerate(pub_keys):
        raw = auth.raw_public_key(key.public_key())
        store.add_publisher(auth.Publisher(auth.key_id(raw), raw, (f"bench{i}/*",)))
    store.close()
    port = _free_port()
    proc = _serve(pg.url, keys_dir, port, args.workers)
    acked: list[tuple[dict[str, Any], dict[str, Any]]] = []
    refused = [0]
    others: dict[int, int] = {}
    lock = threading.Lock()
    per_client = args.appends // 8

    def client(n: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            i, end = 0, time.monotonic() + TIME_LIMIT_S
            while i < per_client and time.monotonic() < end:
                body = _release(f"bench{n}/dbcrash-{i}", 1)
                raw = entries.canonical(body)
                try:
                    r = http.post("/entries", content=raw, headers={
                        **auth.sign_request(pub_keys[n], ORIGIN, "POST", "/entries", raw),
                        "Content-Type": "application/json"})
                except httpx.HTTPError:
                    continue
                if r.status_code == 503:
                    with lock:
                        refused[0] += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    others[r.status_code] = others.get(r.status_code, 0) + 1
                    if r.status_code == 201:
                        acked.append((body, r.json()))
                i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        while len(acked) < args.appends // 3 and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        acked_at_kill = len(acked)
        pg.kill9()
        time.sleep(1.0)
        pg.start()
        for t in threads:
            t.join()
        verifier = log_keys.note_signer.verifier()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            final, _ = open_checkpoint(http.get("/checkpoint").content, verifier, ORIGIN)
            lost = sum(1 for body, a in acked if entries.parse_logged(base64.b64decode(
                http.get(f"/entries/{a['index']}").json()["data"]))["body"] != body)
            inconsistent = 0
            sizes = {a["tree_size"]: a["checkpoint"] for _, a in acked}
            for note in sizes.values():
                cp, _ = open_checkpoint(note.encode(), verifier, ORIGIN)
                proof = [base64.b64decode(h) for h in http.get(
                    "/proof/consistency", params={"old": cp.size, "new": final.size}).json()["proof"]]
                try:
                    tlog.verify_consistency(cp.size, final.size, cp.root_hash, final.root_hash, proof)
                except tlog.ProofError:
                    inconsistent += 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pg.stop()
    return {"sent": per_client * 8, "acknowledged_before_kill": acked_at_kill, "acknowledged": len(acked),
            "refused_503_while_down": refused[0], "lost_acknowledged": lost, "checkpoints_handed_out": len(sizes),
            "inconsistent_checkpoints": inconsistent, "tree_size": final.size,
            "final_statuses": {str(k): v for k, v in sorted(others.items())}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batched-appends", type=int, default=None,
                        help="appends sent through POST /entries/batch (default: --appends)")
    parser.add_argument("--batch", type=int, default=100, help="signed requests per POST /entries/batch")
    parser.add_argument("--pg", default=os.environ.get("WW_TEST_POSTGRES_URL"))
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk (C + LuaJIT, benchmarks/wrk/registry.lua) when installed, else "
                             "the built-in asyncio client")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--skip-crash", action="store_true", help="no kill -9 phases (throughput only)")
    parser.add_argument("--out", default="registry_load", help="results file name under benchmarks/results/")
    args = parser.parse_args()
    args.appends, args.reads = min(args.appends, 20_000), min(args.reads, 200_000)  # bounded
    args.batched_appends = min(args.batched_appends or args.appends, 50_000)
    args.batch = max(1, min(args.batch, 1000))
    if args.generator == "auto":
        args.generator = "wrk" if wrk_available() else "python"
    if args.generator == "wrk" and not wrk_available():
        parser.error("--generator wrk: wrk is not installed (Debian: apt-get install wrk)")
    import subprocess as sp

    commit = sp.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    results = []
    with tempfile.TemporaryDirectory(prefix="ww-registry-load-") as tmp:
        for kind in [k for k in args.databases.split(",") if k]:
            if kind == "postgresql" and not args.pg:
                print("postgresql: skipped (set WW_TEST_POSTGRES_URL or --pg)")
                continue
            r = run_database(kind, args, Path(tmp))
            results.append(r)
            a, p, s, b = r["appends"], r["proof_reads"], r["sequencer_only"], r["batched_appends"]
            print(f"{kind} ({r['generator']}): appends {a['per_s']}/s (p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, "
                  f"{a['acknowledged']}/{a['sent']} acknowledged); batched appends {b['per_s']}/s "
                  f"({b['acknowledged']}/{b['sent']}, {b['per_request']} per request); proof reads {p['per_s']}/s "
                  f"(p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms); sequencer alone {s['per_s']}/s", flush=True)
            if "crash" in r:
                c = r["crash"]
                print(f"{kind} crash: {c['acknowledged_before_kill']} acknowledged before SIGKILL, "
                      f"{c['lost_acknowledged']} lost, {c['inconsistent_checkpoints']} inconsistent of "
                      f"{c['checkpoints_handed_out']} checkpoints", flush=True)
        if args.pg and not args.skip_crash and "postgresql" in args.databases:
            crash = database_crash(args, Path(tmp))
            print(f"postgresql killed: {crash['acknowledged_before_kill']} acknowledged before SIGKILL of the database,"
                  f" {crash['refused_503_while_down']} refused (503) while it was down, {crash['acknowledged']} "
                  f"acknowledged in all, {crash['lost_acknowledged']} lost, {crash['inconsistent_checkpoints']} "
                  f"inconsistent of {crash['checkpoints_handed_out']} checkpoints", flush=True)
            results.append({"database": "postgresql", "database_killed": crash})
    payload = {"benchmark": "registry_load", "commit": commit, "machine": machine(),
               "goals": {"appends_per_s": 2000, "proof_reads_per_s": 5000}, "generator": args.generator,
               "argv": sys.argv[1:], "server_root": os.environ.get("WW_BENCH_SERVER_ROOT") or "this checkout",
               "results": results}
    path = write_result(args.out, payload)
    print(f"load average {payload['machine']['loadavg']}; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
