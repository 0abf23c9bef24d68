"""Speed and memory of ``weightwarden diff`` and ``weightwarden lineage`` (issue 4, "What it must show" 3).

1. Two ~1 GiB float32 safetensors files with a llama-like layout (TinyLlama-1.1B widths: the embedding
   and as many blocks as fit), B with two tensors changed (a merged rank-8 LoRA in an attention projection,
   a rank-1 edit in an MLP projection). ``cat A B > /dev/null`` and
   ``weightwarden diff A B`` are timed in the same run, each with a warm page cache (both files read just
   before) and a cold one (pages dropped with posix_fadvise), median of 3; the ratio of diff's read
   throughput to cat's is the figure (goal ≥ 0.5×). Peak RSS of the diff process is reported, total and
   anonymous (goal: bounded, well under the model size).
2. ``weightwarden lineage`` of the real SmolLM2-135M GGUF vs a perturbed ("fine-tuned-like", every tensor
   moved by a small dense amount) copy re-quantised to Q8_0; median of 3 wall times (goal < 30 s) and peak
   RSS.

Usage::

    .venv/bin/python benchmarks/lineage_speed.py            # full: 2 × 1 GiB
    .venv/bin/python benchmarks/lineage_speed.py --quick    # 2 × 128 MiB, one lineage run (smoke test)

Prints a markdown table and writes ``benchmarks/results/lineage_speed.json``. The machine is shared and
small: run it when nothing else is, and read the load average printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import drop_file_cache, flush_file, machine, write_result, ww_bin  # noqa: E402

GIB = 1 << 30
SMOLLM2 = ROOT / ".cache" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _anon_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str]) -> tuple[float, int, int, int, str]:
    """Run ``cmd``; return (wall s, exit code, peak RSS, peak anonymous RSS (sampled), stderr tail).

    Peak RSS (``ru_maxrss``) counts the file pages a process has mapped and touched, which the kernel can
    drop at any time; the anonymous part (heap, arrays) is the memory a model's size could exhaust, so both
    are reported. The anonymous peak is sampled every 10 ms (may miss a shorter spike).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    anon = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        anon = max(anon, _anon_rss(proc.pid))
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, proc.returncode, usage.ru_maxrss * 1024, anon, err[-2000:]


def llama_layout(total_bytes: int) -> list[tuple[str, tuple[int, int]]]:
    """Tensor names and shapes of a llama-like model (TinyLlama-1.1B widths: hidden 2048, MLP 5632, 4 KV
    heads of 64, vocabulary 32000) with as many blocks as fit in ``total_bytes`` of float32."""
    hidden, inter, kv, vocab = 2048, 5632, 256, 32000
    if total_bytes < GIB:  # --quick: the same structure at a quarter of the width
        hidden, inter, kv, vocab = 512, 1408, 64, 32000
    block = [
        ("self_attn.q_proj.weight", (hidden, hidden)), ("self_attn.k_proj.weight", (kv, hidden)),
        ("self_attn.v_proj.weight", (kv, hidden)), ("self_attn.o_proj.weight", (hidden, hidden)),
        ("mlp.gate_proj.weight", (inter, hidden)), ("mlp.up_proj.weight", (inter, hidden)),
        ("mlp.down_proj.weight", (hidden, inter)),
        ("input_layernorm.weight", (1, hidden)), ("post_attention_layernorm.weight", (1, hidden)),
    ]
    layout = [("model.embed_tokens.weight", (vocab, hidden)), ("model.norm.weight", (1, hidden))]
    used = 4 * (vocab * hidden + hidden)
    per_block = 4 * sum(r * c for _, (r, c) in block)
    i = 0
    while used + per_block <= total_bytes * 1.1 or i < 2:
        layout += [(f"model.layers.{i}.{name}", shape) for name, shape in block]
        used += per_block
        i += 1
    return layout


def make_pair(folder: Path, total_bytes: int) -> tuple[Path, Path, list[str]]:
    """Two safetensors files of about ``total_bytes`` each with a llama-like layout; B carries a merged
    rank-8 LoRA in one attention projection and a rank-1 edit in one MLP projection."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    a: dict[str, np.ndarray] = {}
    for name, (rows, cols) in llama_layout(total_bytes):
        t = rng.standard_normal((rows, cols), dtype=np.float32) * 0.02
        a[name] = t.reshape(-1) if rows == 1 else t
    b = dict(a)
    lora, edit = "model.layers.1.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"
    w = a[lora]
    update = rng.standard_normal((w.shape[0], 8), dtype=np.float32) @ rng.standard_normal((8, w.shape[1]),
                                                                                            dtype=np.float32)
    b[lora] = w + update * (0.02 * float(np.linalg.norm(w)) / float(np.linalg.norm(update)))
    w = a[edit]
    update = np.outer(rng.standard_normal(w.shape[0]), rng.standard_normal(w.shape[1])).astype(np.float32)
    b[edit] = w + update * (0.02 * float(np.linalg.norm(w)) / float(np.linalg.norm(update)))
    pa, pb = folder / "a.safetensors", folder / "b.safetensors"
    save_file(a, str(pa))
    del a
    save_file(b, str(pb))
    return pa, pb, [lora, edit]


def make_smollm2_copy(folder: Path) -> Path:
    """SmolLM2 with every tensor moved by a small dense amount (rel 1e-2), re-quantised to Q8_0."""
    from tests.lineage import variants as V

    base, info = V.load_model(SMOLLM2)
    variant = V.dense_perturbation(base, rel_norm=1e-2, seed=5)
    del base
    requant = {n: "Q8_0" for n, t in variant.tensors.items() if t.ndim == 2 and t.shape[-1] % 32 == 0}
    return V.write_gguf(variant.tensors, folder / "smollm2-tuned.Q8_0.gguf", info=info, stored_types=requant)


def bench_diff(folder: Path, total_bytes: int, repeat: int) -> dict[str, object]:
    pa, pb, changed = make_pair(folder, total_bytes)
    size = pa.stat().st_size + pb.stat().st_size
    for p in (pa, pb):
        flush_file(p)
    out: dict[str, object] = {"bytes_read": size, "changed_tensors": changed}
    for cache in ("warm", "cold"):
        cat_times, diff_times, rss, anon = [], [], [], []
        for _ in range(repeat):
            for cmd, times in ((["cat", str(pa), str(pb)], cat_times),
                               ([ww_bin(), "diff", str(pa), str(pb), "--format", "json"], diff_times)):
                if cache == "cold":
                    dropped = drop_file_cache(pa) and drop_file_cache(pb)
                    if not dropped:
                        out["cold"] = "page cache could not be dropped on this platform"
                        break
                else:
                    subprocess.run(["cat", str(pa), str(pb)], stdout=subprocess.DEVNULL, check=True)
                wall, rc, peak, peak_anon, err = run_measured(cmd)
                assert rc == (0 if cmd[0] == "cat" else 1), f"{cmd[:2]} exited {rc}: {err}"
                times.append(wall)
                if cmd[0] != "cat":
                    rss.append(peak)
                    anon.append(peak_anon)
        if not diff_times:
            continue
        cat_s, diff_s = statistics.median(cat_times), statistics.median(diff_times)
        out[cache] = {
            "cat_s": cat_s, "diff_s": diff_s, "cat_gb_s": size / cat_s / 1e9, "diff_gb_s": size / diff_s / 1e9,
            "ratio": cat_s / diff_s, "diff_peak_rss_mib": max(rss) / 2**20,
            "diff_peak_anon_rss_mib": max(anon) / 2**20, "cat_times": cat_times, "diff_times": diff_times,
        }
    return out


def bench_lineage(folder: Path, repeat: int) -> dict[str, object]:
    copy = make_smollm2_copy(folder)
    times, rss, anon, codes = [], [], [], []
    for _ in range(repeat):
        wall, rc, peak, peak_anon, err = run_measured(
            [ww_bin(), "lineage", str(SMOLLM2), str(copy), "--format", "json"])
        if rc not in (0, 1):
            return {"error": f"lineage exited {rc}: {err.strip()[-500:]}"}
        times.append(wall)
        rss.append(peak)
        anon.append(peak_anon)
        codes.append(rc)
    return {
        "pair": f"{SMOLLM2.name} vs {copy.name}",
        "model_bytes": SMOLLM2.stat().st_size + copy.stat().st_size,
        "lineage_s": statistics.median(times),
        "lineage_peak_rss_mib": max(rss) / 2**20,
        "lineage_peak_anon_rss_mib": max(anon) / 2**20,
        "exit_codes": codes,
        "times": times,
    }


def table(doc: dict[str, object]) -> str:
    d = doc["diff"]
    gib = d["bytes_read"] / GIB
    lines = ["| measurement | result | goal |", "| --- | --- | --- |"]
    for cache in ("warm", "cold"):
        r = d.get(cache)
        if not isinstance(r, dict):
            if r:
                lines.append(f"| {cache} cache | {r} | |")
            continue
        lines += [
            f"| `cat A B > /dev/null`, {gib:.2f} GiB, {cache} cache | {r['cat_s']:.2f} s = {r['cat_gb_s']:.2f} GB/s | |",
            f"| `weightwarden diff A B`, {cache} cache | {r['diff_s']:.2f} s = {r['diff_gb_s']:.2f} GB/s | |",
            f"| diff / cat throughput, {cache} | **{r['ratio']:.2f}×** | ≥ 0.5× |",
            f"| diff peak RSS (anonymous), {cache} | {r['diff_peak_rss_mib']:.0f} MiB "
            f"({r['diff_peak_anon_rss_mib']:.0f} MiB) | bounded, well under {gib * 1024 / 2:.0f} MiB |",
        ]
    lin = doc.get("lineage") or {}
    if "lineage_s" in lin:
        lines.append(f"| `weightwarden lineage` SmolLM2 vs tuned Q8_0 copy | **{lin['lineage_s']:.1f} s** "
                     f"(exit {lin['exit_codes'][0]}) | < 30 s |")
        lines.append(f"| lineage peak RSS (anonymous) | {lin['lineage_peak_rss_mib']:.0f} MiB "
                     f"({lin['lineage_peak_anon_rss_mib']:.0f} MiB) | bounded |")
    elif lin:
        lines.append(f"| `weightwarden lineage` | {lin.get('error')} | < 30 s |")
    m = doc["machine"]
    lines.append("")
    lines.append(f"Machine: {m['nproc']} cores, {m['cpu']}, {m['memory_gib']} GiB; load average at start "
                 f"{tuple(round(x, 1) for x in m['loadavg'] or ())}; median of {doc['repeat']}. Tensors that "
                 f"differ: {', '.join(d['changed_tensors'])}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 × 128 MiB and one run each (smoke test)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-lineage", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the generated files")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    total = 128 << 20 if args.quick else GIB
    doc: dict[str, object] = {"machine": machine(), "repeat": repeat, "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="ww-lineage-speed-", dir=args.dir) as tmp:
        folder = Path(tmp)
        doc["diff"] = bench_diff(folder, total, repeat)
        for p in folder.glob("*.safetensors"):
            p.unlink()
        if not args.no_lineage:
            doc["lineage"] = bench_lineage(folder, repeat)
    write_result("lineage_speed" + ("_quick" if args.quick else ""), doc)
    print(table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
