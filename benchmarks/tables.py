"""Print the Markdown tables of ``docs/benchmarks.md`` from ``benchmarks/results/*.json``.

    .venv/bin/python benchmarks/tables.py

Keeps the document's figures exactly those the last benchmark runs wrote; the prose around them is
written by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _s(x: float | None) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def peers_table(doc: dict) -> str:
    lines = [
        "| tool | version | detected (malicious) | false positives (benign) | entries with errors | "
        "whole corpus, median | per-entry calls, summed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in doc["tools"].items():
        det = row.get("per_entry", row["whole"])
        mode = "" if "per_entry" in row else " ¹"
        lines.append(
            f"| {name} | {row['version']} | {det['detected']}/{det['malicious']}{mode} | "
            f"{det['false_positives']}/{det['benign']} | {det['errors']} | {_s(row['whole']['median_s'])} "
            f"({', '.join(f'{t:.1f}' for t in row['whole']['runs_s'])}) | "
            f"{_s(row.get('per_entry', {}).get('total_s'))} |"
        )
    return "\n".join(lines)


def versus_table(doc: dict) -> str:
    lines = ["| peer | caught by weightwarden only | caught by the peer only |", "| --- | --- | --- |"]
    for name, v in doc.get("versus", {}).items():
        only_peer = ", ".join(v["only_peer"]) or "none"
        lines.append(f"| {name} | {len(v['only_weightwarden'])} | {len(v['only_peer'])} ({only_peer}) |")
    return "\n".join(lines)


def scaling_table(doc: dict) -> str:
    lines = [
        "| file | size | CLI scan, median | library scan, median | bytes read via read() | findings |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind, row in doc["formats"].items():
        for label in ("small", "big"):
            cli, lib = row[f"{label}_cli"], row[f"{label}_lib"]
            lines.append(
                f"| {kind} {label} | {row[label + '_bytes'] / 2**20:.1f} MiB | {cli['median_s'] * 1000:.0f} ms | "
                f"{lib['median_s'] * 1000:.1f} ms | {int(lib['read_bytes_median']):,} | {lib['findings']} |"
            )
    lines.append("")
    lines.append("| format | big / small, CLI | big / small, library | goal |")
    lines.append("| --- | --- | --- | --- |")
    for kind, row in doc["formats"].items():
        ok = row["ratio_cli"] < 2 and row["ratio_lib"] < 2
        lines.append(f"| {kind} | {row['ratio_cli']:.2f}x | {row['ratio_lib']:.2f}x | < 2x: {'met' if ok else 'missed'} |")
    return "\n".join(lines)


def main() -> int:
    peers = RESULTS / "scan_peers.json"
    scaling = RESULTS / "scan_scaling.json"
    if peers.exists():
        doc = json.loads(peers.read_text())
        m = doc["machine"]
        print(f"<!-- scan_peers: {m['date_utc']}, {m['nproc']} cores, {m['cpu']}, load {m.get('loadavg')} -->\n")
        print(peers_table(doc))
        print()
        if "ratio_modelaudit_over_weightwarden" in doc:
            print(f"modelaudit / weightwarden, whole corpus: {doc['ratio_modelaudit_over_weightwarden']:.1f}x\n")
        print(versus_table(doc))
        print()
    if scaling.exists():
        doc = json.loads(scaling.read_text())
        m = doc["machine"]
        print(f"<!-- scan_scaling: {m['date_utc']}, {m['nproc']} cores, {m['cpu']}, load {m.get('loadavg')} -->\n")
        print(scaling_table(doc))
        st = doc["startup"]
        print(f"\n`weightwarden --help`: median {st['help_median_s'] * 1000:.0f} ms of {len(st['help_runs_s'])} "
              f"(bare `python -c pass`: {st['python_pass_median_s'] * 1000:.0f} ms); heavy modules after "
              f"`import weightwarden.cli.main`: {st['heavy_modules_on_import'] or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
