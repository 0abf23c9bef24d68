"""Fuzz every reader at 10^4 examples each, under the canary and the audit hook (issue 11, item 2).

Runs each property of ``tests/test_fuzz_every_reader.py`` (one per reader module, plus sniff/dispatch, the
Keras config analysis, the chat-template scan and the pickle machine) in a pytest child of its own, one after
the other (the benchmark machine has two shared cores), with::

    WW_FUZZ_EXAMPLES=<n>   examples per property (default 10 000)
    WW_FUZZ_AUDIT=1        the child arms tests/fuzz_guard.py's audit hook after a warm-up
    WW_FUZZ_CANARY_DIR     where every planted payload would create its canary file

and records per property: examples run (counted by the property itself), failures (pytest's junit report,
with hypothesis' minimal failing example), wall time, the child's peak resident memory (``wait4``), audit-hook
violations and whether the canary fired. Writes ``benchmarks/results/fuzz_readers.json`` after every
property, so an interrupted run keeps what it measured.

Usage::

    python benchmarks/fuzz_readers.py                       # all properties, 10^4 each
    python benchmarks/fuzz_readers.py --examples 500 --only reader:gguf_file,templates
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine, write_result  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests import fuzz_guard  # noqa: E402  (the guarded child's environment is defined beside the hook)

TEST_FILE = "tests/test_fuzz_every_reader.py"


def properties() -> list[tuple[str, str]]:
    """(label, pytest node id) for every property, in the order they run."""
    sys.path.insert(0, str(ROOT))
    from weightwarden.artifact.readers import READER_MODULES

    props = [(f"reader:{m}", f"{TEST_FILE}::test_fuzz_reader[{m}]") for m in sorted(set(READER_MODULES.values()))]
    props += [
        ("dispatch", f"{TEST_FILE}::test_fuzz_dispatch"),
        ("keras_config", f"{TEST_FILE}::test_fuzz_keras_config"),
        ("templates", f"{TEST_FILE}::test_fuzz_templates"),
        ("picklevm", f"{TEST_FILE}::test_fuzz_picklevm"),
    ]
    return props


def _failures(junit: Path) -> list[str]:
    if not junit.exists():
        return ["no junit report (the child died)"]
    out = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        for bad in list(case.findall("failure")) + list(case.findall("error")):
            text = (bad.get("message") or "") + "\n" + (bad.text or "")
            out.append(text.strip()[-3000:])
    return out


def run_property(label: str, node: str, examples: int, timeout: float, work: Path) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    env, canary_dir, log, stats, junit = fuzz_guard.child_env(work, examples)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "--hypothesis-show-statistics", f"--junitxml={junit}", node]
    t0 = time.perf_counter()
    with open(work / "output.txt", "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        timed_out = False
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.5)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    counts = json.loads(stats.read_text()) if stats.exists() else {}
    ran = counts.get(label, 0) if stats.exists() else None
    failures = _failures(junit)
    if timed_out:
        failures.append(f"timed out after {timeout:.0f}s")
    violations = log.read_text().splitlines() if log.exists() else []
    return {
        "property": label,
        "node": node,
        "examples_requested": examples,
        "examples_run": ran,
        "failures": len(failures),
        "failure_details": failures,
        "returncode": proc.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "canary_fired": any(canary_dir.iterdir()),
        "audit_violations": violations,
        "audit_events_judged": counts.get("_audit_events_judged"),
        "output_tail": (work / "output.txt").read_text(errors="replace")[-1500:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--only", default="", help="comma-separated labels (reader:gguf_file, templates, ...)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per property")
    parser.add_argument("--name", default="fuzz_readers", help="results file name")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of the results file; run nothing")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads((ROOT / "benchmarks" / "results" / f"{args.name}.json").read_text())))
        return 0
    wanted = {w for w in args.only.split(",") if w}
    props = [(label, node) for label, node in properties() if not wanted or label in wanted]
    started = machine()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="ww-fuzz-") as tmp:
        for label, node in props:
            print(f"{label}: {args.examples} examples ...", flush=True)
            row = run_property(label, node, args.examples, args.timeout, Path(tmp) / label.replace(":", "_"))
            rows.append(row)
            print(
                f"  ran {row['examples_run']}, failures {row['failures']}, {row['wall_s']}s, "
                f"peak {row['peak_rss_mb']} MB, canary {'FIRED' if row['canary_fired'] else 'no'}, "
                f"audit violations {len(row['audit_violations'])}",  # type: ignore[arg-type]
                flush=True,
            )
            write_result(args.name, _payload(started, args.examples, rows))
    path = write_result(args.name, _payload(started, args.examples, rows))
    print(f"wrote {path}")
    bad = [r for r in rows if r["failures"] or r["canary_fired"] or r["audit_violations"]]
    return 1 if bad else 0


def table(result: dict[str, object]) -> str:
    """The docs/benchmarks.md table of a results file."""
    lines = [
        "| property | examples run | failures | wall time | peak RSS | canary fired | audit-hook violations |",
        "| --- | ---: | ---: | ---: | ---: | :---: | ---: |",
    ]
    for r in result["properties"]:  # type: ignore[attr-defined]
        lines.append(
            f"| `{r['property']}` | {r['examples_run']:,} | {r['failures']} | {r['wall_s']:.0f} s | "
            f"{r['peak_rss_mb']:.0f} MB | {'**yes**' if r['canary_fired'] else 'no'} | {len(r['audit_violations'])} |"
        )
    return "\n".join(lines)


def _payload(started: dict[str, object], examples: int, rows: list[dict[str, object]]) -> dict[str, object]:
    return {
        "benchmark": "fuzz_readers",
        "issue": 11,
        "machine_at_start": started,
        "machine_at_end": machine(),
        "examples_per_property": examples,
        "properties": rows,
        "total_examples": sum(int(r["examples_run"] or 0) for r in rows),  # type: ignore[call-overload]
        "any_canary_fired": any(r["canary_fired"] for r in rows),
        "any_failure": any(r["failures"] for r in rows),
    }


if __name__ == "__main__":
    sys.exit(main())
