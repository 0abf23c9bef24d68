"""Harness overhead of ``weightwarden eval``: the same requests sent straight to a local OpenAI-compatible
server and through the eval runner, in the same run (issue 5, "what it must show" 3).

1. Starts SmolLM2-135M-Instruct in ``llama_cpp.server`` on 127.0.0.1 (weightwarden's managed server,
   ``llama-server:`` backend).
2. Takes the first N items of the XSTest safe suite (default 100) and splits them into blocks (default 5 of
   20), each written as a small suite file scored by the model-free refusal detector. For every item the
   straight path sends exactly the chat request the runner sends (same messages, sampling, per-item seed).
3. For each block, in rotating order: the block straight with httpx to ``/v1/chat/completions`` at
   concurrency C; the block through the runner (``openai:`` backend on the same server, detectors, JSONL
   log) at concurrency C; the block through the runner at concurrency 1; the block straight at
   concurrency 1 (to tell the server's own concurrency behaviour from the runner's). Interleaving block by block means
   a change in the machine's load hits all three paths alike, instead of landing on whichever pass happened
   to run at that moment; the runner pays its per-run fixed costs (loading the suite, opening the backend,
   writing the header) once per block, which only makes the measured overhead larger.
4. Prints the totals over all blocks, the harness overhead (runner / straight - 1; goal <= 5%), the same
   as the median of the per-block ratios (robust to a load spike during one pass), the client CPU time the
   harness adds per request (insensitive to other load on the machine), and concurrency C vs 1 (goal: C not
   slower). Writes ``benchmarks/results/eval_overhead.json``. Both paths are warmed up first.

    .venv/bin/python benchmarks/eval_overhead.py [--requests 100] [--blocks 5] [--concurrency 4]
                                                  [--max-tokens 32]

llama_cpp.server generates one request at a time; concurrency helps only by keeping its queue full.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from sample_models import fetch  # noqa: E402 - scripts are run as files

from weightwarden.evals.config import EvalConfig  # noqa: E402
from weightwarden.evals.log import message_to_json  # noqa: E402
from weightwarden.evals.model import Sampling  # noqa: E402
from weightwarden.evals.runner import arun_eval, attempt_seed, plan, plan_suites  # noqa: E402
from weightwarden.evals.suites import limit_items, load_suite  # noqa: E402

SUITE = "xstest-safe"
PATHS = ("straight", "runner", "runner-c1", "straight-c1")


async def straight(base_url: str, model: str, bodies: list[dict], concurrency: int) -> tuple[float, float]:
    """Send every body to /chat/completions with at most ``concurrency`` in flight; (wall, CPU) seconds."""
    import httpx

    # Timed from before the client exists: the runner's time includes opening its client too.
    t0, c0 = time.perf_counter(), time.process_time()
    semaphore = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, trust_env=False, limits=limits) as client:

        async def one(body: dict) -> None:
            async with semaphore:
                response = await client.post(f"{base_url}/chat/completions", json={**body, "model": model})
                response.raise_for_status()
                if not response.json()["choices"][0]["message"].get("content"):
                    raise RuntimeError("empty answer in the straight pass")

        await asyncio.gather(*(one(b) for b in bodies))
    return time.perf_counter() - t0, time.process_time() - c0


async def through_runner(config: EvalConfig) -> tuple[float, float]:
    """One run of the eval runner; (wall, CPU of this process) seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    summary = await arun_eval(config)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if summary.errors:
        raise RuntimeError(f"{summary.errors} attempts ended in an error in the runner pass")
    return wall, cpu


def request_bodies(config: EvalConfig) -> list[dict]:
    """The chat requests the runner will send, built from the same plan (messages, sampling, seed)."""
    bodies = []
    for attempt in plan(plan_suites(config)):
        bodies.append({
            "messages": [message_to_json(m) for m in attempt.item.messages],
            "temperature": config.sampling.temperature, "top_p": config.sampling.top_p,
            "max_tokens": config.sampling.max_tokens,
            "seed": attempt_seed(config.seed, attempt.suite.id, attempt.item.id), "stream": False,
        })
    return bodies


def write_blocks(work: Path, requests: int, blocks: int) -> list[Path]:
    """The first ``requests`` XSTest safe items as ``blocks`` suite files (weightwarden.suite/v1)."""
    items = limit_items(load_suite(SUITE), requests).items
    size = -(-len(items) // blocks)
    paths = []
    for index in range(0, len(items), size):
        path = work / f"block-{index // size}.json"
        path.write_text(json.dumps({
            "schema": "weightwarden.suite/v1", "id": f"overhead-{index // size}", "version": "1",
            "family": "over_refusal", "description": "eval_overhead benchmark block", "detectors": ["refusal"],
            "items": [{"id": item.id.replace("/", "-"), "category": item.category,
                       "messages": [message_to_json(m) for m in item.messages]}
                      for item in items[index:index + size]],
        }), encoding="utf-8")
        paths.append(path)
    return paths


async def main_async(args: argparse.Namespace) -> dict:
    from weightwarden.evals.backends import open_backend

    gguf, _ = fetch()
    server = open_backend(f"llama-server:{gguf}", n_threads=args.threads, concurrency=args.concurrency)
    try:
        base_url, model = server.identity.endpoint, server.identity.model
        work = Path(tempfile.mkdtemp(prefix="ww-eval-overhead-"))
        configs = [
            EvalConfig(model=f"openai:{base_url}#{model}", suites=(str(path),), out=work / "unused.jsonl",
                       concurrency=args.concurrency, sampling=Sampling(max_tokens=args.max_tokens), seed=0)
            for path in write_blocks(work, args.requests, args.blocks)
        ]
        bodies = [request_bodies(config) for config in configs]
        total = sum(len(b) for b in bodies)
        print(f"server {base_url} model {model}; {total} requests in {len(configs)} blocks, max_tokens "
              f"{args.max_tokens}, concurrency {args.concurrency}", flush=True)
        # Warm-up of both paths (server caches, imports of the eval modules), not timed.
        await straight(base_url, model, bodies[0][:4], args.concurrency)
        await through_runner(replace(configs[0], out=work / "warm-up.jsonl"))

        times: dict[str, list[tuple[float, float]]] = {name: [] for name in PATHS}
        for index, (config, block) in enumerate(zip(configs, bodies, strict=True)):
            order = PATHS[index % len(PATHS):] + PATHS[: index % len(PATHS)]  # rotate who goes first
            for name in order:
                if name.startswith("straight"):
                    measured = await straight(base_url, model, block, 1 if name == "straight-c1" else args.concurrency)
                elif name == "runner":
                    measured = await through_runner(replace(config, out=work / f"runner-{index}.jsonl"))
                else:
                    measured = await through_runner(replace(config, concurrency=1, out=work / f"c1-{index}.jsonl"))
                times[name].append(measured)
                print(f"  block {index} {name:<9}: {measured[0]:7.2f} s wall, {measured[1]:.3f} s CPU here",
                      flush=True)
    finally:
        await server.aclose()

    wall = {name: sum(w for w, _ in times[name]) for name in PATHS}
    cpu = {name: sum(c for _, c in times[name]) for name in PATHS}
    # Client-side CPU the harness adds over plain httpx (this process only; the server is another process):
    # unlike wall time it does not move with the machine's load.
    extra_cpu = cpu["runner"] - cpu["straight"]
    per_block = {name: [w for w, _ in times[name]] for name in PATHS}

    def median_ratio(a: str, b: str) -> float:
        # Per-block ratios, then their median: a load spike during one pass moves one block's ratio, not the
        # result (the totals above are what a user waits, the median is the robust estimate).
        return statistics.median(x / y for x, y in zip(per_block[a], per_block[b], strict=True))

    return {
        "median_block_overhead_pct": 100 * (median_ratio("runner", "straight") - 1),
        "median_block_c_vs_1_speedup": median_ratio("runner-c1", "runner"),
        "median_block_straight_c_vs_1_speedup": median_ratio("straight-c1", "straight"),
        "requests": total, "blocks": len(configs), "max_tokens": args.max_tokens,
        "concurrency": args.concurrency, "wall_s": wall, "cpu_s": cpu,
        "per_block_wall_s": per_block,
        "overhead_pct": 100 * (wall["runner"] / wall["straight"] - 1),
        "extra_cpu_ms_per_request": 1000 * extra_cpu / total,
        "extra_cpu_pct_of_wall": 100 * extra_cpu / wall["straight"],
        "c_vs_1_speedup": wall["runner-c1"] / wall["runner"],
        "straight_c_vs_1_speedup": wall["straight-c1"] / wall["straight"],
        "goal_overhead_pct": 5.0, "load_average_after": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=5, help="interleaving blocks (see the module docstring)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads in the server")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    wall = result["wall_s"]
    print(f"\nstraight {wall['straight']:.2f} s; through weightwarden eval {wall['runner']:.2f} s "
          f"(concurrency {args.concurrency}, {result['requests']} requests)")
    print(f"harness overhead: {result['overhead_pct']:+.1f}% of wall time (goal <= 5%); client CPU added by the "
          f"harness: {result['extra_cpu_ms_per_request']:.1f} ms per request = {result['extra_cpu_pct_of_wall']:.2f}% "
          f"of the straight wall time")
    print(f"runner concurrency {args.concurrency}: {wall['runner']:.2f} s vs concurrency 1: {wall['runner-c1']:.2f} s "
          f"(x{result['c_vs_1_speedup']:.2f} faster; goal: not slower); straight: x{result['straight_c_vs_1_speedup']:.2f}")
    print(f"median over blocks: overhead {result['median_block_overhead_pct']:+.1f}%, concurrency "
          f"{args.concurrency} vs 1 x{result['median_block_c_vs_1_speedup']:.2f} (runner), "
          f"x{result['median_block_straight_c_vs_1_speedup']:.2f} (straight)")
    out = HERE / "results" / "eval_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written: {out}")
    ok = result["median_block_overhead_pct"] <= 5.0 and result["median_block_c_vs_1_speedup"] >= 0.95
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
