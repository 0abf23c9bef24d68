"""How long a release audit takes on the real sample models, as a user runs it (the CLI, a process each).

``weightwarden audit`` of (1) a folder holding the SmolLM2-135M GGUF (98 MB: SHA-256 of the file, the BLAKE3
weights root, the scan, the risk assessment) with JSON output, and (2) the all-MiniLM-L6-v2 folder with the
HTML report; warm page cache, median of ``--repeat`` runs, peak RSS from ``/usr/bin/time``. No goal is set for
the audit itself (issue 10 asks that existing figures do not regress; see §17): this records what it costs.

    .venv/bin/python benchmarks/audit_speed.py [--repeat 5]

Writes ``benchmarks/results/audit_speed.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, median, run_timed, write_result, ww_bin  # noqa: E402

MODELS = ROOT / ".cache" / "models"


def _time_audit(target: Path, fmt: str, out: Path, repeat: int) -> dict[str, object]:
    cmd = ["/usr/bin/time", "-f", "%M", ww_bin(), "audit", str(target), "--format", fmt, "-o", str(out)]
    run_timed(cmd)  # warm the page cache and the bytecode cache
    times, rss = [], []
    for _ in range(repeat):
        run = run_timed(cmd)
        if run.returncode not in (0, 1):
            raise SystemExit(f"audit of {target} failed ({run.returncode}): {run.stderr[-500:]}")
        times.append(run.seconds)
        kb = re.findall(r"^(\d+)$", run.stderr, re.M)
        rss.append(int(kb[-1]) / 1024 if kb else float("nan"))
    return {"target": str(target), "format": fmt, "bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file()),
            "median_s": median(times), "times_s": times, "peak_rss_mib": max(rss)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    smollm2 = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
    minilm = MODELS / "all-MiniLM-L6-v2"
    if not smollm2.exists() or not minilm.is_dir():
        raise SystemExit("sample models missing: run `make models` first")
    with tempfile.TemporaryDirectory(prefix="ww-audit-bench-") as tmp:
        folder = Path(tmp) / "smollm2"
        folder.mkdir()
        os.link(smollm2, folder / smollm2.name) if os.stat(smollm2).st_dev == os.stat(tmp).st_dev \
            else (folder / smollm2.name).write_bytes(smollm2.read_bytes())
        runs = [_time_audit(folder, "json", Path(tmp) / "a.json", args.repeat),
                _time_audit(minilm, "html", Path(tmp) / "a.html", args.repeat)]
    result = {"benchmark": "audit_speed", "machine": machine(), "repeat": args.repeat, "runs": runs}
    path = write_result("audit_speed", result)
    for r in runs:
        print(f"audit {Path(str(r['target'])).name} --format {r['format']}: median {r['median_s']:.2f} s, "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB")
    print(f"load average at the end {os.getloadavg()}; results: {path}")


if __name__ == "__main__":
    main()
