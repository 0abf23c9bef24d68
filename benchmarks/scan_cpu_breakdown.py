"""Benchmark: where a cold whole-corpus CLI scan spends its CPU, template analysis apart (issue 11, "Speed").

Runs ``weightwarden scan CORPUS --format json`` in fresh interpreters (``--repeat`` times, interleaved across
the source trees named with ``--tree LABEL=PATH``, each put first on ``PYTHONPATH``), each child running the
command's own entry point in-process with ``analyze_template`` wrapped, and reports per run:

- ``main_cpu_s``: CPU (user + system) of the scanning process from interpreter start to the end of the
  command, imports included (``RUSAGE_SELF``);
- ``template_cpu_s``: the part spent inside ``weightwarden.scan.templates.analyze_template`` (Jinja's
  import and parser included, as they are only needed there);
- ``check_cpu_s`` (helper tpl34): the part spent in the template rule's check of each chat-template code object
  (``weightwarden.scan.rules.CODE_CHECKS[CHAT_TEMPLATE]``, its findings listed): analysis, page reading,
  recovery and JSON configs together (it includes most of ``template_cpu_s``);
- ``other_cpu_s``: ``main_cpu_s - template_cpu_s``: interpreter start, imports, discovery, the other readers,
  the rules, the report;
- ``helper_cpu_s``: CPU of the child processes (the HDF5 helper: Python + h5py; the template worker), after
  they are closed;
- ``wall_s``: wall time of the child, interpreter start to exit, measured by this script.

The bytecode cache is on (as in ``scan_peers.py``: one ``PYTHONPYCACHEPREFIX`` for the run, one untimed
warm-up run per tree first). Medians are quoted; the trees run in the same rounds so load changes hit both.

    .venv/bin/python benchmarks/scan_cpu_breakdown.py --corpus benchmarks/.data/corpus \\
        --tree before=/path/to/main --tree after=. --repeat 7 --out scan_cpu_breakdown

The corpus is the one ``scan_peers.py`` builds (``--corpus``, default ``benchmarks/.data/corpus``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, machine, median, write_result  # noqa: E402 - benchmarks are scripts, not a package

_CHILD = r"""
import io, resource, sys, time
template = [0.0]
from weightwarden.scan import templates
_analyze = templates.analyze_template
def _timed(*args, **kwargs):
    start = time.process_time()
    try:
        return _analyze(*args, **kwargs)
    finally:
        template[0] += time.process_time() - start
templates.analyze_template = _timed
check = [0.0]
from weightwarden.artifact.model import CodeKind
from weightwarden.scan import rules
def _timed_check(fn):
    def run_check(*args, **kwargs):
        start = time.process_time()
        try:
            return list(fn(*args, **kwargs))
        finally:
            check[0] += time.process_time() - start
    return run_check
rules.CODE_CHECKS[CodeKind.CHAT_TEMPLATE] = tuple(
    _timed_check(fn) for fn in rules.CODE_CHECKS.get(CodeKind.CHAT_TEMPLATE, ()))
from weightwarden.cli.main import run
sys.argv = ["weightwarden", "scan", sys.argv[1], "--format", "json"]
out, sys.stdout = sys.stdout, io.StringIO()
code = 0
try:
    run()
except SystemExit as exc:
    code = exc.code
sys.stdout = out
from weightwarden.artifact.readers import keras_h5
keras_h5._WORKER.close()
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print({"main": me.ru_utime + me.ru_stime, "template": template[0], "check": check[0],
       "helper": kids.ru_utime + kids.ru_stime, "exit": code})
"""


def _one(tree: str, corpus: str, env: dict[str, str]) -> dict[str, float]:
    child_env = dict(env, PYTHONPATH=tree)
    started = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _CHILD, corpus], capture_output=True, text=True, env=child_env,
                         check=True, cwd=tree, timeout=600)
    wall = time.perf_counter() - started
    data = eval(res.stdout.strip().splitlines()[-1])  # noqa: S307 - a dict literal printed by our own child
    return {"main_cpu_s": data["main"], "template_cpu_s": data["template"], "check_cpu_s": data["check"],
            "other_cpu_s": data["main"] - data["template"], "helper_cpu_s": data["helper"], "exit": data["exit"],
            "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DATA / "corpus")
    ap.add_argument("--tree", action="append", required=True, help="LABEL=PATH of a source tree (repeatable)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", default="scan_cpu_breakdown")
    args = ap.parse_args(argv)
    trees = dict(item.split("=", 1) for item in args.tree)
    trees = {label: str(Path(path).resolve()) for label, path in trees.items()}
    corpus = str(args.corpus.resolve())
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
    with tempfile.TemporaryDirectory(prefix="ww-pyc-") as pyc:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = pyc
        for tree in trees.values():
            _one(tree, corpus, env)  # warm-up: bytecode written, files in the page cache
        for i in range(args.repeat):
            for label, tree in trees.items():
                run = _one(tree, corpus, env)
                runs[label].append(run)
                print(f"round {i + 1} {label}: main {run['main_cpu_s']:.3f} s = templates {run['template_cpu_s']:.3f}"
                      f" + other {run['other_cpu_s']:.3f}; template check {run['check_cpu_s']:.3f}; helper {run['helper_cpu_s']:.3f}; wall {run['wall_s']:.3f}",
                      flush=True)
    summary = {
        label: {key: median([r[key] for r in rs]) for key in ("main_cpu_s", "template_cpu_s", "check_cpu_s", "other_cpu_s",
                                                                "helper_cpu_s", "wall_s")}
        for label, rs in runs.items()
    }
    for label, s in summary.items():
        print(f"{label}: median main {s['main_cpu_s']:.3f} s, templates {s['template_cpu_s']:.3f} s, "
              f"other {s['other_cpu_s']:.3f} s, template check {s['check_cpu_s']:.3f} s, helper {s['helper_cpu_s']:.3f} s, wall {s['wall_s']:.3f} s")
    path = write_result(args.out, {"benchmark": "scan_cpu_breakdown", "machine": machine(),
                                   "load_average": os.getloadavg(), "corpus": corpus, "trees": trees,
                                   "repeat": args.repeat, "summary": summary, "runs": runs})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
