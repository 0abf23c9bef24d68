"""Benchmark: weightwarden vs modelscan, picklescan, fickling and modelaudit on the test corpus, in one run.

Issue 2, "What it must show" item 2. Builds the corpus with the tests' generator (``python -m tests.corpus
DEST``: one folder per entry plus ``manifest.json``), then runs every tool over it and prints, per tool:
detections on malicious entries, false positives on benign entries, errors, and wall time, plus the time
ratio modelaudit / weightwarden (goal: weightwarden < 1/10 of modelaudit's time) and which entries each
peer misses or catches that weightwarden does not.

Two modes, both reported:

- **per entry** (detection, authoritative): each tool is run once per entry, so every verdict belongs to
  that entry without guessing from paths; also gives a per-entry time total (dominated by start-up; the
  calls run ``--jobs`` at a time, so this total is a sum of per-call wall times, not a timing figure).
- **whole corpus** (timing): each tool is run once over the corpus folder (entries the generator leaves
  where they lie, the real sample models, are hard-linked into ``_outside/`` first so one folder holds
  everything; fickling's CLI takes one pickle at a time, so it runs as one driver process), ``--repeat``
  times in interleaved rounds (every tool once per round), quoting the median. Its detections are
  attributed to entries by path, as a cross-check.

Every tool runs as a subprocess in a scratch working directory with telemetry and network look-ups off
(see ``peers.PEER_ENV``), including weightwarden, so start-up costs are counted the same way.

Python bytecode (as in ``sign_peers.py``): every tool runs with Python's bytecode cache on, in one cache
folder for the run (``PYTHONPYCACHEPREFIX`` in a temporary folder, ``PYTHONDONTWRITEBYTECODE`` removed from
the children's environment), and every tool runs once over the corpus untimed before the timed rounds. An
installed package has its ``.pyc`` files (pip writes them); this project's shell sets
``PYTHONDONTWRITEBYTECODE=1``, which otherwise made every weightwarden run recompile its ~50 modules from
source (an editable install, ~0.2 s) while the peers' venvs load theirs from ``.pyc``. ``--no-bytecode-cache``
restores the old behaviour. Results are never cached: each timed run is a fresh process. Each timed run
also records the CPU time (user + system) of the tool's processes, helper processes included
(``cpu_median_s``): on a shared machine under load it is steadier than wall time. How each
peer's output is read (what counts as "detected"):

- weightwarden: JSON report; a finding at or above ``medium`` (the default ``--fail-on``) is a detection;
  entries in ``errors`` (exit 2) are errors.
- modelscan: ``-r json`` report; any issue (any severity: modelscan exits 1 on any) is a detection;
  ``errors`` are errors; unsupported files are skipped by modelscan (not detected).
- picklescan: text output; ``dangerous import`` and ``suspicious import`` lines are detections; ``ERROR``
  and ``could not parse`` lines are errors.
- fickling: ``peer_drivers/fickling_scan.py`` (fickling's own Hugging Face-mode dispatch applied to local
  files); a file fickling rates above ``LIKELY_SAFE`` is a detection.
- modelaudit: ``--format json --no-cache``; an issue of severity ``critical`` or ``warning`` is a
  detection (``info``/``debug`` are not); ``has_errors`` / exit 2 are errors.

A tool that crashes or times out on an entry counts as "not detected" and is listed as an error.

    .venv/bin/python benchmarks/scan_peers.py [--repeat 3] [--tools weightwarden,modelaudit,...]

Install the peers first: ``python benchmarks/peers.py install``. Results: ``benchmarks/results/scan_peers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402 - benchmarks are scripts, not a package
from common import DATA, ROOT, Run, fmt_s, machine, median, run_timed, write_result, ww_bin  # noqa: E402

HERE = Path(__file__).resolve().parent
FICKLING_DRIVER = HERE / "peer_drivers" / "fickling_scan.py"
WW_DETECT_SEVERITIES = {"critical", "high", "medium"}
MODELAUDIT_DETECT_SEVERITIES = {"critical", "warning"}


@dataclass
class Entry:
    name: str
    path: str  # absolute
    malicious: bool
    technique: str


@dataclass
class Record:
    """One thing a tool said: ``kind`` is "detect", "error" or "info"; ``where`` is a path it named."""

    kind: str
    where: str
    text: str


@dataclass
class Verdict:
    detected: bool = False
    errors: list[str] = field(default_factory=list)
    evidence: str = ""


# -- corpus ----------------------------------------------------------------------------------------------


def build_corpus(dest: Path, only: list[str] | None = None) -> list[Entry]:
    """Write the corpus with the tests' generator and read its manifest.

    Entries the generator scans "where they lie" (the real sample models) are hard-linked (or copied) into
    ``dest/_outside`` so that one folder holds the whole corpus for tools that take a single path.
    """
    if dest.exists():
        shutil.rmtree(dest)
    cmd = [sys.executable, "-m", "tests.corpus", str(dest), *(["--only", *only] if only else [])]
    subprocess.run(cmd, check=True, cwd=ROOT)
    manifest = json.loads((dest / "manifest.json").read_text())
    items = manifest["entries"] if isinstance(manifest, dict) else manifest
    entries = []
    for item in items:
        path = Path(item["path"])
        if not path.is_absolute():
            path = dest / path
        path = path.resolve()
        if not path.is_relative_to(dest.resolve()):
            path = _link_inside(path, dest / "_outside" / item["name"])
        entries.append(Entry(item["name"], str(path), bool(item["malicious"]), item.get("technique", "")))
    return entries


def _link_inside(src: Path, dst_folder: Path) -> Path:
    dst = dst_folder / src.name
    dst_folder.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, copy_function=_link_or_copy, symlinks=True)
    else:
        _link_or_copy(str(src), str(dst))
    return dst


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


# -- tools -----------------------------------------------------------------------------------------------


@dataclass
class Tool:
    """How to run one scanner and read what it says."""

    name: str
    version: Callable[[], str | None]
    available: Callable[[], bool]
    # (paths, workdir) -> commands to run (several when the tool takes one path per call)
    commands: Callable[[list[str], Path], list[list[str]]]
    # (run, paths given, workdir) -> records
    parse: Callable[[Run, list[str], Path], list[Record]]
    env: dict[str, str] | None = None


def _ww_version() -> str | None:
    res = subprocess.run([ww_bin(), "--version"], capture_output=True, text=True, check=False)
    return (res.stdout.strip().split() or [None])[-1] if res.returncode == 0 else None


def _ww_commands(paths: list[str], workdir: Path) -> list[list[str]]:
    return [[ww_bin(), "scan", *paths, "--format", "json"]]


def _json_from(text: str) -> object | None:
    """The JSON document in ``text``; tolerates log lines before it."""
    text = text.strip()
    for start in [0, *[m.start() for m in re.finditer(r"^\{", text, re.M)]]:
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            continue
    return None


def _ww_parse(run: Run, paths: list[str], workdir: Path) -> list[Record]:
    doc = _json_from(run.stdout)
    if not isinstance(doc, dict):
        return [Record("error", paths[0] if len(paths) == 1 else "", f"exit {run.returncode}: no JSON report; "
                       f"{run.stderr.strip()[-300:]}")]
    base = _common_base(paths)
    recs = []
    for f in doc.get("findings", []):
        kind = "detect" if str(f.get("severity", "")).lower() in WW_DETECT_SEVERITIES else "info"
        file = f.get("file") or (f.get("subject") or {}).get("name", "")  # finding/v2 keeps it in subject
        recs.append(Record(kind, _join(base, file), f"{f.get('rule_id')} {f.get('severity')}: "
                           f"{f.get('message', '')}"[:200]))
    for e in doc.get("errors", []):
        recs.append(Record("error", _join(base, e.get("file", "")), str(e.get("reason", ""))[:200]))
    return recs


def _modelscan_commands(paths: list[str], workdir: Path) -> list[list[str]]:
    return [[str(peers.peer_bin("modelscan")), "scan", "-p", p, "-r", "json", "-o", str(workdir / f"ms{i}.json")]
            for i, p in enumerate(paths)]


def _modelscan_parse(run: Run, paths: list[str], workdir: Path) -> list[Record]:
    recs: list[Record] = []
    for i, p in enumerate(paths):
        out = workdir / f"ms{i}.json"
        doc = json.loads(out.read_text()) if out.exists() else None
        if not isinstance(doc, dict):
            recs.append(Record("error", p, f"exit {run.returncode}: no report; {run.stderr.strip()[-200:]}"))
            continue
        base = p if os.path.isdir(p) else os.path.dirname(p)
        for issue in doc.get("issues", []):
            recs.append(Record("detect", _join(base, _strip_member(issue.get("source", ""), ":")),
                               f"{issue.get('severity')}: {issue.get('description', '')}"[:200]))
        for err in doc.get("errors", []):
            recs.append(Record("error", _join(base, _strip_member(err.get("source", "") or "", ":")),
                               str(err.get("description", ""))[:200]))
    return recs


_PICKLESCAN_HIT = re.compile(r"^(?P<path>/.+?): (?P<what>(dangerous|suspicious) import .*)$")
_PICKLESCAN_ERR = re.compile(r"^(?:ERROR|WARNING)[: ].*?(?P<path>/\S+?)(?::| as |$)(?P<rest>.*)$")


def _picklescan_commands(paths: list[str], workdir: Path) -> list[list[str]]:
    return [[str(peers.peer_bin("picklescan")), "-p", p] for p in paths]


def _picklescan_parse(run: Run, paths: list[str], workdir: Path) -> list[Record]:
    recs = []
    for line in (run.stdout + "\n" + run.stderr).splitlines():
        line = line.strip()
        m = _PICKLESCAN_HIT.match(line)
        if m:
            recs.append(Record("detect", _strip_member(m["path"], ":"), m["what"][:200]))
            continue
        m = _PICKLESCAN_ERR.match(line)
        if m and ("parse" in line or line.startswith("ERROR")):
            recs.append(Record("error", _strip_member(m["path"], ":"), line[:200]))
    if "SCAN SUMMARY" not in run.stdout:  # picklescan can die with a traceback and still exit 0
        recs.append(Record("error", paths[0] if len(paths) == 1 else "", "no scan summary (crashed): "
                           f"{(run.stderr or run.stdout).strip()[-200:]}"))
    elif run.returncode not in (0, 1) and not any(r.kind == "error" for r in recs):
        recs.append(Record("error", paths[0] if len(paths) == 1 else "", f"exit {run.returncode}: "
                           f"{(run.stderr or run.stdout).strip()[-200:]}"))
    return recs


def _fickling_commands(paths: list[str], workdir: Path) -> list[list[str]]:
    return [[str(peers.peer_bin("fickling", "python")), str(FICKLING_DRIVER), *paths]]


def _fickling_parse(run: Run, paths: list[str], workdir: Path) -> list[Record]:
    recs = []
    seen = False
    for line in run.stdout.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        seen = True
        if row["verdict"] == "unsafe":
            recs.append(Record("detect", row["path"], f"fickling: {row.get('severity')}"))
        elif row["verdict"] == "error":
            recs.append(Record("error", row["path"], "; ".join(row.get("errors", []))[:200]))
        for err in row.get("errors", []) if row["verdict"] != "error" else []:
            recs.append(Record("error", row["path"], err[:200]))
    if run.returncode not in (0, 1, 2) or (not seen and run.returncode != 0):
        recs.append(Record("error", paths[0] if len(paths) == 1 else "", f"exit {run.returncode}: "
                           f"{run.stderr.strip()[-200:]}"))
    return recs


def _modelaudit_commands(paths: list[str], workdir: Path) -> list[list[str]]:
    return [[str(peers.peer_bin("modelaudit")), "scan", *paths, "--format", "json", "--no-cache", "-q"]]


def _modelaudit_parse(run: Run, paths: list[str], workdir: Path) -> list[Record]:
    doc = _json_from(run.stdout)
    if not isinstance(doc, dict):
        return [Record("error", paths[0] if len(paths) == 1 else "", f"exit {run.returncode}: no JSON; "
                       f"{run.stderr.strip()[-300:]}")]
    recs = []
    for issue in doc.get("issues", []):
        sev = str(issue.get("severity", "")).lower()
        loc = str(issue.get("location") or "")
        loc = re.sub(r" \(pos \d+\)$", "", loc)
        kind = "detect" if sev in MODELAUDIT_DETECT_SEVERITIES else "info"
        recs.append(Record(kind, _strip_member(loc, ":"), f"{sev}: {issue.get('message', '')}"[:200]))
    if doc.get("has_errors") or run.returncode == 2:
        recs.append(Record("error", paths[0] if len(paths) == 1 else "", "modelaudit reported errors (exit "
                           f"{run.returncode})"))
    return recs


def _strip_member(where: str, sep: str) -> str:
    """``/a/b.pt:archive/data.pkl`` -> ``/a/b.pt`` (only when the left part exists on disk)."""
    if sep in where:
        head = where.split(sep, 1)[0]
        if head and (os.path.exists(head) or not os.path.isabs(where)):
            return head
    return where


def _common_base(paths: list[str]) -> str:
    if len(paths) == 1:
        p = paths[0]
        return p if os.path.isdir(p) else os.path.dirname(p)
    return ""


def _join(base: str, rel: str) -> str:
    if not rel or os.path.isabs(rel):
        return rel
    rel = rel.split("!", 1)[0]
    return os.path.join(base, rel) if base else rel


def make_tools() -> dict[str, Tool]:
    penv = peers.peer_env()
    return {
        "weightwarden": Tool("weightwarden", _ww_version, lambda: Path(ww_bin()).exists(), _ww_commands, _ww_parse,
                             env=penv),
        "modelscan": Tool("modelscan", lambda: peers.peer_version("modelscan"),
                          lambda: peers.is_installed("modelscan"), _modelscan_commands, _modelscan_parse, env=penv),
        "picklescan": Tool("picklescan", lambda: peers.peer_version("picklescan"),
                           lambda: peers.is_installed("picklescan"), _picklescan_commands, _picklescan_parse,
                           env=penv),
        "fickling": Tool("fickling", lambda: peers.peer_version("fickling"), lambda: peers.is_installed("fickling"),
                         _fickling_commands, _fickling_parse, env=penv),
        "modelaudit": Tool("modelaudit", lambda: peers.peer_version("modelaudit"),
                           lambda: peers.is_installed("modelaudit"), _modelaudit_commands, _modelaudit_parse,
                           env=penv),
    }


# -- running ---------------------------------------------------------------------------------------------


def run_tool(tool: Tool, paths: list[str], timeout: float) -> tuple[float, list[Record], list[int]]:
    """Run ``tool`` over ``paths`` (in as few calls as it allows); total wall time, records, exit codes.

    The CPU time (user + system) of the tool's processes, helpers included, is kept in ``LAST_CPU_S``: on a
    shared, loaded machine it is the steadier figure of the two."""
    global LAST_CPU_S
    before = os.times()
    total = 0.0
    records: list[Record] = []
    codes = []
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-") as tmp:
        work = Path(tmp)
        cmds = tool.commands(paths, work)
        groups = [paths] if len(cmds) == 1 else [[p] for p in paths]
        for cmd, group in zip(cmds, groups, strict=True):
            run = run_timed(cmd, env=tool.env, timeout=timeout, cwd=work)
            total += run.seconds
            codes.append(run.returncode)
            if run.returncode == -9:
                records.append(Record("error", group[0] if len(group) == 1 else "", run.stderr))
            records.extend(tool.parse(run, group, work))
    after = os.times()
    LAST_CPU_S = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return total, records, codes


LAST_CPU_S = 0.0


def attribute(records: list[Record], entries: list[Entry], only: Entry | None = None,
              unattributed: list[str] | None = None) -> dict[str, Verdict]:
    """Give each record to the entry whose path contains it (or to ``only`` in per-entry mode).

    Errors that name no entry (a crash of the whole run) go to ``unattributed``.
    """
    verdicts = {e.name: Verdict() for e in entries}
    by_len = sorted(entries, key=lambda e: len(e.path), reverse=True)
    for rec in records:
        target = only
        if target is None:
            where = os.path.abspath(rec.where) if rec.where else ""
            target = next((e for e in by_len if where == e.path or where.startswith(e.path.rstrip("/") + "/")),
                          None)
        if target is None:
            if rec.kind == "error" and unattributed is not None:
                unattributed.append(rec.text)
            continue
        v = verdicts[target.name]
        if rec.kind == "detect":
            if not v.detected:
                v.evidence = rec.text
            v.detected = True
        elif rec.kind == "error":
            v.errors.append(rec.text)
    return verdicts


def slim_verdicts(verdicts: dict[str, Verdict]) -> dict[str, dict[str, object]]:
    """What each tool said per entry, shortened so the results file stays small enough to commit."""
    return {k: {"detected": v.detected, "evidence": v.evidence[:100], "errors": [e[:120] for e in v.errors[:1]]}
            for k, v in verdicts.items() if v.detected or v.errors}


def summarize(entries: list[Entry], verdicts: dict[str, Verdict]) -> dict[str, object]:
    mal = [e for e in entries if e.malicious]
    ben = [e for e in entries if not e.malicious]
    return {
        "detected": sum(verdicts[e.name].detected for e in mal),
        "malicious": len(mal),
        "false_positives": sum(verdicts[e.name].detected for e in ben),
        "benign": len(ben),
        "errors": sum(bool(verdicts[e.name].errors) for e in entries),
        "missed": [e.name for e in mal if not verdicts[e.name].detected],
        "false_positive_entries": [e.name for e in ben if verdicts[e.name].detected],
        "error_entries": {e.name: [x[:120] for x in verdicts[e.name].errors[:1]] for e in entries
                          if verdicts[e.name].errors},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="weightwarden vs peer scanners on the test corpus")
    ap.add_argument("--repeat", type=int, default=3, help="whole-corpus timing runs per tool (median quoted)")
    ap.add_argument("--tools", default=",".join(make_tools()), help="comma-separated subset of tools")
    ap.add_argument("--corpus", type=Path, default=DATA / "corpus", help="where to write the corpus")
    ap.add_argument("--per-entry-tools", default="weightwarden,modelscan,picklescan,modelaudit",
                    help="tools that also get the per-entry pass (fickling's driver names every file it rates, "
                    "so its whole-corpus verdicts are already exact per entry)")
    ap.add_argument("--only", nargs="*", help="corpus entries to build (quick checks; default: all)")
    ap.add_argument("--skip-per-entry", action="store_true", help="whole-corpus mode only")
    ap.add_argument("--out", default=None, help="results file name under benchmarks/results (default scan_peers)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per tool invocation")
    ap.add_argument("--jobs", type=int, default=2, help="concurrent calls in the per-entry (detection) pass; "
                    "the whole-corpus timing runs are always sequential")
    ap.add_argument("--note", default=None, help="free text stored in the results (e.g. which code ran)")
    ap.add_argument("--no-bytecode-cache", action="store_true", help="run the tools with the shell's bytecode "
                    "setting and no untimed warm-up run (see the module docstring)")
    args = ap.parse_args(argv)

    tools = {n: t for n, t in make_tools().items() if n in args.tools.split(",")}
    pycache_dir = None
    if not args.no_bytecode_cache:
        pycache_dir = tempfile.TemporaryDirectory(prefix="bench-pycache-")
        for tool in tools.values():
            env = {k: v for k, v in (tool.env or os.environ).items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPYCACHEPREFIX"] = pycache_dir.name
            tool.env = env
    missing = [n for n, t in tools.items() if not t.available()]
    if missing:
        print(f"not installed (run `python benchmarks/peers.py install`): {', '.join(missing)}", file=sys.stderr)
        tools = {n: t for n, t in tools.items() if n not in missing}

    print(f"building the corpus in {args.corpus} ...", flush=True)
    entries = build_corpus(args.corpus, args.only)
    corpus_root = str(args.corpus.resolve())
    n_mal = sum(e.malicious for e in entries)
    print(f"{len(entries)} entries: {n_mal} malicious, {len(entries) - n_mal} benign", flush=True)

    whole_paths = [corpus_root]
    results: dict[str, object] = {
        "machine": machine(),
        "repeat": args.repeat,
        "bytecode_cache": pycache_dir is not None,
        "note": args.note,
        "corpus": {"entries": len(entries), "malicious": n_mal, "benign": len(entries) - n_mal},
        "tools": {},
    }
    for name, tool in tools.items():
        print(f"\n== {name} {tool.version() or ''}", flush=True)
        row: dict[str, object] = {"version": tool.version()}
        if not args.skip_per_entry and name in args.per_entry_tools.split(","):
            per_entry: dict[str, Verdict] = {}
            total = 0.0

            def one(e: Entry, tool: Tool = tool) -> tuple[Entry, float, list[Record]]:
                secs, recs, _codes = run_tool(tool, [e.path], args.timeout)
                return e, secs, recs

            with ThreadPoolExecutor(max_workers=args.jobs) as pool:
                for e, secs, recs in pool.map(one, entries):
                    total += secs
                    per_entry[e.name] = attribute(recs, [e], only=e)[e.name]
            row["per_entry"] = {"total_s": total, "jobs": args.jobs, **summarize(entries, per_entry)}
            row["per_entry_verdicts"] = slim_verdicts(per_entry)
            pe = row["per_entry"]
            print(f"   per entry: {pe['detected']}/{pe['malicious']} detected, {pe['false_positives']} FP, "
                  f"{pe['errors']} errors, {fmt_s(total)} summed over {len(entries)} calls", flush=True)
        results["tools"][name] = row  # type: ignore[index]

    # Whole-corpus timing, interleaved (round i runs every tool once) so that load changes on a shared,
    # noisy machine hit every tool alike rather than whichever happened to run then.
    times: dict[str, list[float]] = {name: [] for name in tools}
    cpu: dict[str, list[float]] = {name: [] for name in tools}
    if pycache_dir is not None:
        print("\n-- untimed warm-up run of every tool (writes the bytecode cache)", flush=True)
        for tool in tools.values():
            run_tool(tool, whole_paths, args.timeout)
    for i in range(args.repeat):
        print(f"\n-- whole-corpus round {i + 1}/{args.repeat}", flush=True)
        for name, tool in tools.items():
            secs, recs, codes = run_tool(tool, whole_paths, args.timeout)
            times[name].append(secs)
            cpu[name].append(LAST_CPU_S)
            row = results["tools"][name]  # type: ignore[index]
            if i == 0:
                run_errors: list[str] = []
                row["whole"] = summarize(entries, attribute(recs, entries, unattributed=run_errors))
                row["whole"]["exit_codes"] = sorted(set(codes))
                row["whole"]["run_errors"] = run_errors[:5]
            print(f"   {name}: {fmt_s(secs)} (cpu {fmt_s(LAST_CPU_S)})", flush=True)
    for name in tools:
        whole = results["tools"][name]["whole"]  # type: ignore[index]
        whole.update({"median_s": median(times[name]), "runs_s": times[name],
                      "cpu_median_s": median(cpu[name]), "cpu_runs_s": cpu[name]})
        print(f"{name} whole corpus: median {fmt_s(whole['median_s'])} of {len(times[name])} runs "
              f"(cpu {fmt_s(whole['cpu_median_s'])}); attributed "
              f"{whole['detected']}/{n_mal} detected, {whole['false_positives']} FP, exit codes {whole['exit_codes']}"
              + (f"; run errors: {whole['run_errors'][:2]}" if whole["run_errors"] else ""), flush=True)
    results["load_after"] = os.getloadavg()

    canaries = _canaries(args.corpus)
    results["canaries_created"] = canaries
    report(results, entries)
    if pycache_dir is not None:
        pycache_dir.cleanup()
    out = write_result(args.out or "scan_peers", results)
    print(f"\nresults: {out}")
    return 0


def _canaries(corpus: Path) -> list[str]:
    """Canary files a payload would have created (must be none: no scanner executed anything)."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    folder = Path(manifest.get("canary_dir") or corpus / "canary")
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def report(results: dict, entries: list[Entry]) -> None:
    tools = results["tools"]
    c = results["corpus"]
    print(f"\ncorpus: {c['entries']} entries ({c['malicious']} malicious, {c['benign']} benign); "
          f"machine: {results['machine']['nproc']} cores, {results['machine']['cpu']}")
    print(f"{'tool':<13} {'version':<9} {'detected':>9} {'FP':>4} {'errors':>6} {'whole corpus':>13} "
          f"{'per entry':>10}")
    for name, row in tools.items():
        pe = row.get("per_entry", row["whole"])
        print(f"{name:<13} {str(row['version']):<9} {pe['detected']:>4}/{pe['malicious']:<4} "
              f"{pe['false_positives']:>4} {pe['errors']:>6} {fmt_s(row['whole']['median_s']):>13} "
              f"{fmt_s(row.get('per_entry', {}).get('total_s', float('nan'))):>10}")
    ww = tools.get("weightwarden")
    if ww and "modelaudit" in tools:
        ratio = tools["modelaudit"]["whole"]["median_s"] / ww["whole"]["median_s"]
        results["ratio_modelaudit_over_weightwarden"] = ratio
        print(f"\nwhole-corpus time, modelaudit / weightwarden: {ratio:.1f}x "
              f"(goal >= 10x: {'met' if ratio >= 10 else 'MISSED'})")
    if ww:
        key = "per_entry" if "per_entry" in ww else "whole"
        ww_missed = set(ww[key]["missed"])
        for name, row in tools.items():
            if name == "weightwarden":
                continue
            peer_missed = set(row.get(key, row["whole"])["missed"])
            only_ww = sorted(peer_missed - ww_missed)
            only_peer = sorted(ww_missed - peer_missed)
            results.setdefault("versus", {})[name] = {"only_weightwarden": only_ww, "only_peer": only_peer}
            print(f"vs {name}: weightwarden detects {len(only_ww)} entries it misses; it detects "
                  f"{len(only_peer)} weightwarden misses{': ' + ', '.join(only_peer) if only_peer else ''}")


if __name__ == "__main__":
    raise SystemExit(main())
