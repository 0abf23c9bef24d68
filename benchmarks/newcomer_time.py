"""Newcomer time (issue 12): `make demo` on a fresh clone with an empty pip cache, as a first-time user runs it.

Clones this repository into a temporary folder (with ``../shared`` linked beside it, as CI lays it out), runs
``make demo`` with ``PIP_NO_CACHE_DIR=1`` (so llama-cpp-python builds from its sdist and every wheel is
downloaded, as on a new machine; torch comes from the machine's local file, as the brief says) and records
when the first results are on screen (the scan / sign / lineage part, which the Makefile runs before it
builds the evals extra) and when the whole demo ends. One run: it takes minutes.

    .venv/bin/python benchmarks/newcomer_time.py

Writes ``benchmarks/results/newcomer_time.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, write_result  # noqa: E402

CORE_DONE = "scan / sign / lineage done"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ww-newcomer-") as tmp:
        work = Path(tmp)
        subprocess.run(["git", "clone", "-q", str(ROOT), str(work / "repo")], check=True)
        (work / "shared").symlink_to((ROOT.parent / "shared").resolve())
        env = {**os.environ, "PIP_NO_CACHE_DIR": "1"}
        env.pop("VIRTUAL_ENV", None)
        log = work / "demo.log"
        start = time.monotonic()
        core_done: list[float] = []
        with log.open("w") as out:
            proc = subprocess.Popen(["make", "demo"], cwd=work / "repo", stdout=out, stderr=subprocess.STDOUT, env=env)

            def watch() -> None:
                while proc.poll() is None and not core_done:
                    if CORE_DONE in log.read_text(errors="replace"):
                        core_done.append(time.monotonic() - start)
                    time.sleep(1)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            rc = proc.wait()
            watcher.join(timeout=5)
        total = time.monotonic() - start
        tail = log.read_text(errors="replace")[-2000:]
    result = {"benchmark": "newcomer_time", "machine": machine(), "returncode": rc, "first_results_s": core_done[0]
              if core_done else None, "total_s": total, "log_tail": tail}
    path = write_result("newcomer_time", result)
    first = f"{core_done[0] / 60:.1f} min" if core_done else "n/a"
    print(f"make demo on a fresh clone, empty pip cache: first results after {first}, all done after "
          f"{total / 60:.1f} min (exit {rc}); {path}")


if __name__ == "__main__":
    main()
