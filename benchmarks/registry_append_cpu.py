"""CPU per signed append of the registry's request path, in one process, without the network (issue 13).

Drives the ASGI app that ``registry serve`` runs (``server.create_app``: the raw ``POST /entries`` path, the
same admission checks and the same sequencer thread and store) with ``--concurrency`` concurrent requests on a
uvloop event loop, pre-signed release entries as in ``registry_load.py``, on a fresh SQLite (or, with
``--pg URL``, PostgreSQL) database. HTTP parsing (uvicorn/httptools) and the socket are not in it; what is
left is the registry's own work per append. It reports the process's CPU time per acknowledged append
(user + system, ``time.process_time``: on a shared machine this is the figure that does not move with the
neighbours) and, optionally, runs under ``py-spy record`` for a profile of every thread.

Usage: ``python benchmarks/registry_append_cpu.py [--appends 6000] [--concurrency 64] [--pg URL]
[--rounds 3] [--out NAME]``; writes ``benchmarks/results/NAME.json`` when ``--out`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import machine, write_result  # noqa: E402
from registry_load import ORIGIN, _fresh_database, _signed_appends  # noqa: E402

from weightwarden.registry import auth  # noqa: E402
from weightwarden.registry.logkeys import load_or_create  # noqa: E402
from weightwarden.registry.server import ServerSettings, create_app  # noqa: E402
from weightwarden.registry.store import Store  # noqa: E402


async def _drive(app: Any, requests: list[tuple[str, str, dict[str, str], bytes]], concurrency: int) -> int:
    """Send every request through the ASGI app, ``concurrency`` at a time; the number answered 201."""
    ok = 0
    cursor = iter(requests)

    async def one(method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        raw_headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
        raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    async def worker() -> None:
        nonlocal ok
        for req in cursor:
            if await one(*req) == 201:
                ok += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


def _thread_cpu_s(tid: int) -> float:
    """User + system CPU seconds of one thread of this process (Linux /proc): the sequencer's share."""
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(kind: str, pg: str | None, appends: int, concurrency: int, tmp: Path) -> dict[str, Any]:
    db, drop = _fresh_database(kind, pg, tmp)
    log_keys = load_or_create(str(tmp / f"keys-{kind}"), ORIGIN)
    store = Store.open(db, log_keys.checkpoint_signer())
    pub_keys = [auth.generate_key() for _ in range(8)]
    for i, key in enumerate(pub_keys):
        raw = auth.raw_public_key(key.public_key())
        store.add_publisher(auth.Publisher(auth.key_id(raw), raw, (f"bench{i}/*",)))
    requests = _signed_appends(pub_keys, appends, 1, "cpu")
    app = create_app(store, log_keys, ServerSettings(write_rate=1e6, write_burst=1e6))
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    seq_tid = app._sequencer()._thread.native_id
    cpu0, wall0, seq0 = time.process_time(), time.perf_counter(), _thread_cpu_s(seq_tid)
    ok = runner(_drive(app, requests, concurrency))
    cpu, wall, seq = time.process_time() - cpu0, time.perf_counter() - wall0, _thread_cpu_s(seq_tid) - seq0
    store.close()
    if drop is not None:
        drop()
    return {"database": kind, "appends": appends, "acknowledged": ok, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "cpu_us_per_append": round(1e6 * cpu / max(ok, 1), 1),
            "sequencer_thread_us_per_append": round(1e6 * seq / max(ok, 1), 1), "per_wall_s": round(ok / wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--pg", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="ww-appcpu-") as tmp:
        for kind in args.databases.split(","):
            runs = []
            for r in range(args.rounds):
                sub = Path(tmp) / f"{kind}-{r}"
                sub.mkdir()
                runs.append(run_once(kind, args.pg, args.appends, args.concurrency, sub))
                print(json.dumps(runs[-1]), flush=True)
            results.append({"database": kind, "runs": runs,
                            "median_cpu_us_per_append": statistics.median(x["cpu_us_per_append"] for x in runs)})
    if args.out:
        payload = {"benchmark": "registry_append_cpu", "machine": machine(), "argv": sys.argv[1:], "results": results}
        print(f"written to {write_result(args.out, payload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
