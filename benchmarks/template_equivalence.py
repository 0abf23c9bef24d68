"""Template analysis, two (or more) source trees: the same findings on every template, and its CPU time.

Usage::

    .venv/bin/python benchmarks/template_equivalence.py --tree main=/path/to/main --tree branch=. \\
        --corpus benchmarks/.data/corpus --real ../shared/datasets/chat-templates \\
        --extra '/tmp/rt-tpl*' --rounds 5 --repeat 3 --out template_equivalence

Three groups of templates:

- ``corpus``: every (template, config names) pair ``analyze_template`` is called with while
  ``weightwarden scan`` scans the corpus ``scan_peers.py`` builds (``--corpus``): recorded once, by a scan with the
  first tree (which calls it with what does not depend on the analysis), duplicates dropped;
- ``real``: every ``*/*.jinja`` under ``--real`` (the 88 real chat templates);
- ``extra``: every ``.jinja`` file, and every ``chat_template`` string of a ``.json`` file, under the folders
  matching the ``--extra`` globs (red-team proofs of concept, hostile sizes included), duplicates dropped.

Each round runs every tree once, in turn (interleaved: the machine is shared and its load drifts), in a fresh
interpreter with that tree first on ``PYTHONPATH``. A child analyses every template of every group uncached
(``templates._analyze``, as ``analyze_template`` does on a cache miss), ``--repeat`` times, and reports the median
process CPU time per group (wall too) and, once, every result (kind, line, message, evidence of each issue).
Results of the trees are compared template by template: the script exits 1 if any differs. Writes
``benchmarks/results/<out>.json``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, machine, median, write_result  # noqa: E402 - benchmarks are scripts, not a package

_RECORD = r"""
import io, json, sys
from weightwarden.scan import templates
calls = []
_analyze = templates.analyze_template
def _recording(source, config_names=()):
    names = sorted(config_names)
    calls.append([source, names])
    return _analyze(source, names)
templates.analyze_template = _recording
from weightwarden.cli.main import run
sys.argv = ["weightwarden", "scan", sys.argv[1], "--format", "json"]
out, sys.stdout = sys.stdout, io.StringIO()
try:
    run()
except SystemExit:
    pass
sys.stdout = out
print(json.dumps(calls))
"""

_CHILD = r"""
import json, statistics, sys, time
from weightwarden.scan import templates
groups = json.load(open(sys.argv[1], encoding="utf-8"))
repeat = int(sys.argv[2])
templates._parse("{{ warm }}")  # Jinja's import and environment: once per process, not a template's cost
out = {"module": templates.__file__, "cpu": {}, "wall": {}, "results": {}}
for name, items in groups.items():
    cpu, wall = [], []
    for i in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        got = [templates._analyze(source, frozenset(names)) for source, names in items]
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
        if i == 0:
            out["results"][name] = [[[x.kind, x.line, x.message, x.evidence] for x in issues] for issues in got]
    out["cpu"][name] = statistics.median(cpu)
    out["wall"][name] = statistics.median(wall)
print(json.dumps(out))
"""


def _corpus_calls(tree: str, corpus: Path) -> list[list[object]]:
    res = subprocess.run([sys.executable, "-c", _RECORD, str(corpus)], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=tree), cwd=tree, timeout=1800)
    seen: set[str] = set()
    out = []
    for source, names in json.loads(res.stdout.strip().splitlines()[-1]):
        key = json.dumps([source, names])
        if key not in seen:
            seen.add(key)
            out.append([source, names])
    return out


def _extra(patterns: list[str]) -> list[list[object]]:
    found: list[str] = []
    for folder in sorted({p for pattern in patterns for p in glob.glob(pattern)}):
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file():
                continue
            if path.suffix == ".jinja":
                found.append(path.read_text(encoding="utf-8", errors="surrogatepass"))
            elif path.suffix == ".json" and path.stat().st_size < 5_000_000:
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (ValueError, UnicodeDecodeError):
                    continue
                template = data.get("chat_template") if isinstance(data, dict) else None
                if isinstance(template, str):
                    found.append(template)
                elif isinstance(template, list):
                    found.extend(t["template"] for t in template
                                 if isinstance(t, dict) and isinstance(t.get("template"), str))
    return [[source, []] for source in dict.fromkeys(found)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", required=True, help="LABEL=PATH of a source tree (repeatable)")
    ap.add_argument("--corpus", type=Path, default=DATA / "corpus")
    ap.add_argument("--real", type=Path, default=None, help="folder of <family>/<name>.jinja chat templates")
    ap.add_argument("--extra", action="append", default=[], help="glob of folders with more templates (repeatable)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="template_equivalence")
    args = ap.parse_args(argv)
    trees = dict(t.split("=", 1) for t in args.tree)
    groups: dict[str, list[list[object]]] = {"corpus": _corpus_calls(next(iter(trees.values())), args.corpus)}
    if args.real is not None:
        groups["real"] = [[p.read_text(encoding="utf-8"), []] for p in sorted(args.real.glob("*/*.jinja"))]
    if args.extra:
        groups["extra"] = _extra(args.extra)
    print({name: len(items) for name, items in groups.items()}, flush=True)
    runs: dict[str, list[dict[str, object]]] = {label: [] for label in trees}
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "groups.json"
        src.write_text(json.dumps(groups), encoding="utf-8")
        for _ in range(args.rounds):
            for label, tree in trees.items():
                res = subprocess.run([sys.executable, "-c", _CHILD, str(src), str(args.repeat)], capture_output=True,
                                     text=True, check=True, env=dict(os.environ, PYTHONPATH=tree), cwd=tree,
                                     timeout=3600)
                got = json.loads(res.stdout.strip().splitlines()[-1])
                results.setdefault(label, got.pop("results"))
                got.pop("results", None)
                runs[label].append(got)
                print(label, {k: round(v, 4) for k, v in got["cpu"].items()}, f"load {os.getloadavg()[0]:.1f}",
                      flush=True)
    labels = list(trees)
    same: dict[str, dict[str, int]] = {}
    differing: dict[str, list[int]] = {}
    for name, items in groups.items():
        base = results[labels[0]][name]
        diff = [i for i in range(len(items)) if any(results[lb][name][i] != base[i] for lb in labels[1:])]
        same[name] = {"templates": len(items), "identical": len(items) - len(diff),
                      "issues": sum(len(x) for x in base)}
        differing[name] = diff
    summary = {label: {name: {"cpu_median_s": median([float(r["cpu"][name]) for r in rs]),
                              "wall_median_s": median([float(r["wall"][name]) for r in rs])}
                       for name in groups} for label, rs in runs.items()}
    digest = {name: hashlib.sha256(json.dumps(groups[name]).encode()).hexdigest()[:16] for name in groups}
    path = write_result(args.out, {"machine": machine(), "load_end": os.getloadavg(), "trees": trees,
                                   "groups_sha256_16": digest, "rounds": runs, "summary": summary,
                                   "identical": same, "differing": differing})
    print(json.dumps(summary), json.dumps(same), "->", path)
    return 1 if any(differing.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
