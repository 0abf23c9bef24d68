"""PSI cardinality of shared indicators (issue 14, §2): 10^4 vs 10^4 indicators with a known overlap.

Two real processes on 127.0.0.1 — `weightwarden indicators psi serve` and `... psi connect` — exchange
ECDH-PSI messages (openmined-psi, cardinality only); then the file mode (request → respond → finish) on the
same sets. Records the count (must equal the known overlap), wall time and bytes each way.

    python benchmarks/psi_cardinality.py [--size 10000] [--overlap 2500]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import machine, write_result  # noqa: E402
from weightwarden.indicators import psi  # noqa: E402
from weightwarden.indicators.derive import build_set, prompt_indicator  # noqa: E402
from weightwarden.indicators.keys import GroupKey  # noqa: E402
from weightwarden.indicators.records import dump_set  # noqa: E402
from weightwarden.indicators.sketch import Sketcher  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _cli() -> list[str]:
    return [sys.executable, "-c", "from weightwarden.cli.main import run; run()"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--overlap", type=int, default=2_500)
    args = parser.parse_args()
    n, k = args.size, args.overlap
    sketcher = Sketcher(GroupKey(hashlib.sha256(b"psi benchmark").digest()))
    t0 = time.perf_counter()
    texts = [f"red-team attack prompt {i}: make the model do harmful thing number {i}" for i in range(2 * n - k)]
    a = build_set(sketcher, [prompt_indicator(sketcher, t) for t in texts[:n]])
    b = build_set(sketcher, [prompt_indicator(sketcher, t) for t in texts[n - k :]])
    derive_s = time.perf_counter() - t0
    assert len(a.prompts) == n and len(b.prompts) == n
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        pa, pb = Path(tmp) / "a.json", Path(tmp) / "b.json"
        pa.write_text(dump_set(a))
        pb.write_text(dump_set(b))
        start = time.perf_counter()
        server = subprocess.Popen([*_cli(), "indicators", "psi", "serve", str(pb), "--format", "json",
                                   "--timeout", "300", "--budget-file", str(Path(tmp) / "budget.json")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
        line = server.stderr.readline()
        port = line.strip().rsplit(":", 1)[1]
        # --share: the benchmark checks the server's count too (clients keep it to themselves by default).
        client = subprocess.run([*_cli(), "indicators", "psi", "connect", str(pa), "--port", port, "--format",
                                 "json", "--timeout", "300", "--share"], capture_output=True, text=True, env=env, check=True)
        server_out, _ = server.communicate(timeout=300)
        tcp_wall = time.perf_counter() - start
        c, s = json.loads(client.stdout), json.loads(server_out)
        # File mode, in process (the CLI steps are thin wrappers of these three calls).
        state = Path(tmp) / "state.json"
        t1 = time.perf_counter()
        request = psi.make_request(a, state)
        t2 = time.perf_counter()
        response = psi.respond(b, request)
        t3 = time.perf_counter()
        finished = psi.finish(state, response)
        t4 = time.perf_counter()
    ok = c["cardinality"] == k == s["cardinality"] == finished.cardinality
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        commit = ""
    payload = {
        "benchmark": "psi_cardinality", "commit": commit, "machine": machine(),
        "sizes": {"client": n, "server": n, "known_overlap": k}, "correct": ok,
        "derive_two_sets_s": round(derive_s, 2),
        "tcp": {"cardinality_client": c["cardinality"], "cardinality_server": s["cardinality"],
                "wall_s_two_processes": round(tcp_wall, 2), "protocol_s_client": round(c["seconds"], 2),
                "client_sent_bytes": c["bytes_sent"], "client_received_bytes": c["bytes_received"]},
        "files": {"cardinality": finished.cardinality, "request_bytes": len(request), "response_bytes": len(response),
                  "request_s": round(t2 - t1, 2), "respond_s": round(t3 - t2, 2), "finish_s": round(t4 - t3, 2)},
    }
    path = write_result("psi_cardinality", payload)
    print(json.dumps({k_: payload[k_] for k_ in ("sizes", "correct", "tcp", "files")}, indent=1))
    print(f"wrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
