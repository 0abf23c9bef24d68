"""The eval part of ``make demo``: a short safety evaluation of SmolLM2-135M-Instruct, ending in the HTML
report and the viewer page. Called by ``scripts/demo.py`` as ``run_demo(models_dir, work)``; also runs on its own:

    .venv/bin/python scripts/demo_eval.py [MODELS_DIR] [WORK_DIR]

With the CLI, exactly as a user would: ``weightwarden eval run`` on the real GGUF (llama-cpp-python in
process) with a few items of one suite per family — HarmBench (plain and base64-encoded), XSTest safe
prompts, the canary-scored tool-injection suite and the insecure-code suite — then running the same
command again (it continues the log and finds nothing left to do), then ``weightwarden eval report`` and
``weightwarden eval view`` (a page with every attempt, its decoded answer and each detector's verdict).
No judge is configured here, so "usable harmful content (attack success)" is decided model-free where it
can be (refusals, echoes of the base64 request, noise) and "undecided" otherwise; pass ``--judge SPEC``. About a minute on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SUITES = ("harmbench", "xstest-safe", "tool-injection", "insecure-code")
FAMILIES = {"harmful", "over_refusal", "prompt_injection", "insecure_code"}


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("weightwarden")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from weightwarden.cli.main import run; run()"]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    print("$ weightwarden " + " ".join(args), flush=True)
    result = subprocess.run([*_cli(), *args], capture_output=True, text=True, check=False, errors="replace")
    for stream in (result.stdout, result.stderr):
        if stream.strip():
            print(stream.rstrip(), flush=True)
    return result


def run_demo(models_dir: Path, work: Path) -> bool:
    """Evaluate SmolLM2 briefly and write ``work/eval-report.html``; True when everything went as expected."""
    model = Path(models_dir) / MODEL_FILE
    if not model.is_file():
        print(f"eval demo: {model} not found (run `make models`)", flush=True)
        return False
    work.mkdir(parents=True, exist_ok=True)
    log, report = work / "eval-smollm2.jsonl", work / "eval-report.html"
    log.unlink(missing_ok=True)
    command = ["eval", "run", f"gguf:{model}", "--suite", ",".join(SUITES), "--transform", "base64",
               "--limit", "2", "--max-tokens", "96", "--concurrency", "2", "--out", str(log)]
    t0 = time.perf_counter()
    first = _run(command)
    print(f"({time.perf_counter() - t0:.0f} s)", flush=True)
    ok = first.returncode in (0, 1)  # 1: some attempts ended in an error, recorded and not scored
    again = _run(command)  # same command: continues the log, nothing left unless something failed
    ok &= again.returncode in (0, 1) and "continued:" in again.stderr
    rendered = _run(["eval", "report", str(log), "-o", str(report)])
    ok &= rendered.returncode == 0 and report.is_file()
    viewer = work / "eval-view.html"  # every attempt, filterable: what the model said and how it was judged
    viewed = _run(["eval", "view", str(log), "-o", str(viewer)])
    ok &= viewed.returncode == 0 and viewer.is_file()
    summary_file = report.with_name(report.stem + ".summary.json")
    if ok and summary_file.is_file():
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        families = {suite["family"] for suite in summary["suites"].values()}
        ok &= families == FAMILIES and "base64" in summary["transforms"]
    else:
        ok = False
    print(f"eval demo: {'OK' if ok else 'FAILED'}; report: {report}; viewer: {viewer}", flush=True)
    return ok


if __name__ == "__main__":
    models = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / ".cache" / "models"
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/weightwarden-eval-demo")
    sys.exit(0 if run_demo(models, target) else 1)
