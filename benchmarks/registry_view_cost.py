"""What one unauthenticated read of a line with a large ancestry costs the registry (red team round 6, D1).

Serves a copy of a registry database (built by the red team's ``poc_current_cost.py`` with PER=64: evil/child
declares 16 bases of 64 releases of ~60 KB each; acme/ok is an ordinary line) with the ``weightwarden`` of
one or more source trees, and times GET /current and /web/models requests, first and repeated, then the
server's RSS. A figure, not a test: the machine is small and shared, so compare trees measured in one run.

    python benchmarks/registry_view_cost.py --db /tmp/rt-reg6/w_cost/reg.db --keys /tmp/rt-reg6/w_cost/keys \
        --tree before=/work/main --tree after=.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, median, write_result  # noqa: E402

PATHS = [("current acme/ok", "/current/acme/ok"), ("current evil/child", "/current/evil/child"),
         ("web evil/child", "/web/models/evil/child")]


def _rss_mib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def measure(tree: Path, db: Path, keys: Path, port: int, repeat: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ww-viewcost-") as tmp:
        copy = Path(tmp) / "reg.db"
        shutil.copy(db, copy)
        env = {**os.environ, "PYTHONPATH": str(tree)}
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([sys.executable, "-m", "weightwarden", "registry", "serve", "--db", str(copy),
                                 "--keys", str(keys), "--host", "127.0.0.1", "--port", str(port)],
                                cwd=str(tree), env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{url}/log", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            rss0 = _rss_mib(proc.pid)
            out: dict[str, object] = {"rss_start_mib": rss0}
            for name, path in PATHS:
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    r = httpx.get(url + path, timeout=600)
                    times.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, (path, r.status_code, r.text[:200])
                out[name] = {"first_ms": round(times[0]), "repeat_median_ms": round(median(times[1:]))
                             if len(times) > 1 else None, "all_ms": [round(x) for x in times]}
            # 16 parallel unauthenticated reads of the costly line, and an ordinary read sent meanwhile
            with cf.ThreadPoolExecutor(8) as ex:
                def one(_: int) -> float:
                    t = time.perf_counter()
                    httpx.get(url + "/current/evil/child", timeout=600)
                    return time.perf_counter() - t
                futures = [ex.submit(one, i) for i in range(16)]
                t = time.perf_counter()
                httpx.get(url + "/current/acme/ok", timeout=600)
                out["victim_during_flood_ms"] = round((time.perf_counter() - t) * 1000)
                lat = [f.result() for f in futures]
            out["flood_16_median_ms"] = round(median(lat) * 1000)
            out["flood_16_max_ms"] = round(max(lat) * 1000)
            signed = httpx.get(url + "/current/evil/child", timeout=600).json()["signed"]["targets"]
            custom = signed["current/evil/child"]["custom"]
            out["evil_child_affecting_complete"] = custom.get("affecting_complete", True)
            out["rss_end_mib"] = _rss_mib(proc.pid)
            return out
        finally:
            proc.terminate()
            proc.wait()
            log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--keys", type=Path, required=True)
    ap.add_argument("--tree", action="append", required=True, help="label=path of a source tree")
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--port", type=int, default=56671)
    args = ap.parse_args()
    results = {}
    for spec in args.tree:
        label, _, path = spec.partition("=")
        results[label] = measure(Path(path).resolve(), args.db, args.keys, args.port, args.repeat)
        print(label, results[label], flush=True)
    print(write_result("registry_view_cost", {"machine": machine(), "load_avg": os.getloadavg(),
                                               "db": str(args.db), "trees": args.tree, "results": results}))


if __name__ == "__main__":
    main()
