"""Benchmark: does a second llama.cpp thread speed up SmolLM2-135M answers on this machine? (issue 15)

Generates the same answers (temperature 0, fixed seed, ``max_tokens`` 64, four HarmBench requests) with
the in-process llama-cpp backend at ``n_threads`` = 1 and 2, alternating the settings over ``--rounds``
rounds so that a change in machine load hits both, and reports completion tokens per second (median over
rounds) with the load average before and after. ``weightwarden eval run --threads N`` sets it; the default
is the backend's own choice.

    .venv/bin/python benchmarks/llamacpp_threads.py [--rounds 3]

Results: ``benchmarks/results/llamacpp_threads.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from judge_loso import environment  # noqa: E402

from weightwarden.evals.backends import open_backend  # noqa: E402
from weightwarden.evals.model import Sampling  # noqa: E402
from weightwarden.evals.suites import load_suite  # noqa: E402

MODEL = ROOT / ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"


def _tokens_per_s(backend, items) -> float:
    tokens, seconds = 0, 0.0
    for item in items:
        t0 = time.perf_counter()
        completion = asyncio.run(backend.complete(item.messages, Sampling(max_tokens=64, seed=0)))
        seconds += time.perf_counter() - t0
        tokens += completion.completion_tokens or 0
    return tokens / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    items = load_suite("harmbench").items[:4]
    backends = {n: open_backend(f"gguf:{MODEL}", n_ctx=1024, n_threads=n) for n in (1, 2)}
    load_before = os.getloadavg()
    runs: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for n, backend in backends.items():
            runs[n].append(_tokens_per_s(backend, items))
    load_after = os.getloadavg()
    for backend in backends.values():
        asyncio.run(backend.aclose())
    result = {"benchmark": "llamacpp_threads", "environment": environment(), "load_before": load_before,
              "load_after": load_after, "tokens_per_s": {str(n): v for n, v in runs.items()},
              "median_tokens_per_s": {str(n): statistics.median(v) for n, v in runs.items()},
              "speedup_2_over_1": statistics.median(runs[2]) / statistics.median(runs[1])}
    print(json.dumps({k: result[k] for k in ("median_tokens_per_s", "speedup_2_over_1", "load_before",
                                             "load_after")}, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "llamacpp_threads.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
