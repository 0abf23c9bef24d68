"""Calibration of the lineage derivation test: false-positive rate over unrelated pairs, power on derived ones.

Unrelated pairs: tiny llama- and BERT-shaped models trained on the same token stream from different seeds
(every pair among them), a few trained ten times longer, and real-size pairs (all-MiniLM against a fresh
BERT of the same shape; SmolLM2 against random llama weights of its shape, if ``--real``). Derived pairs: the
synthetic variants of ``tests/lineage/variants.py`` and real short fine-tunes of several base seeds.
Both the weight-based test and the fingerprint test are run on every pair.

Printed (and written to ``benchmarks/results/lineage_calibration.json``): AUC of −log10 p, TPR at 1 % FPR,
the FPR at α = 0.01 (the goal is ≤ 1 %), the largest null −log10 p, and a text histogram of the null
p-values. Usage::

    .venv/bin/python benchmarks/lineage_calibration.py            # ~70 llama + ~28 BERT unrelated pairs
    .venv/bin/python benchmarks/lineage_calibration.py --quick    # fewer seeds, for a smoke run
    .venv/bin/python benchmarks/lineage_calibration.py --real     # adds the SmolLM2-sized null pair
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, write_result  # noqa: E402
from tests.corpus.samples import sample_models  # noqa: E402
from tests.lineage import variants as V  # noqa: E402
from tests.lineage.models import (  # noqa: E402
    TinySpec,
    fine_tune,
    fine_tune_bert_folder,
    load_hf_bert_arrays,
    real_vocab,
    trained_model,
)
from weightwarden.lineage.derivation import WeightSource, assess_lineage  # noqa: E402
from weightwarden.lineage.fingerprint import make_fingerprint  # noqa: E402
from weightwarden.lineage.naming import role  # noqa: E402

ALPHA = 0.01


def _src(arrays: dict, vocab: tuple[str, ...], family: str) -> WeightSource:
    return WeightSource.from_arrays(arrays, vocab=vocab, architecture=family)


def _variants(base: dict, spec: TinySpec, seed: int) -> dict[str, dict]:
    mlp = [n for n, t in base.items() if t.ndim == 2 and role(n) in ("mlp_up", "mlp_gate", "mlp_down")]
    out = {
        "requant-Q8_0": V.requantise(base, "Q8_0").tensors,
        "requant-Q4_0": V.requantise(base, "Q4_0").tensors,
        "lora-r4": V.lora_merge(base, 4, names=mlp, rel_norm=0.1, seed=seed).tensors,
        "lora-r16": V.lora_merge(base, 16, names=mlp, rel_norm=0.1, seed=seed).tensors,
        "rank1-edit": V.rank1_edit(base, rel_norm=0.05, seed=seed).tensors,
        "embedding-rows": V.embedding_rows(base, rows=(3, 200, 900), seed=seed).tensors,
        "prune-2:4": V.prune_2_4(base, names=mlp).tensors,
        "permute-rotate": V.permute_rotate(base, seed=seed).tensors,
        "dense-perturbation": V.dense_perturbation(base, rel_norm=0.05, seed=seed).tensors,
        "fine-tune-200": fine_tune(spec, base, steps=200, seed=seed),
        "fine-tune-1000": fine_tune(spec, base, steps=1000, seed=seed),
    }
    out["fine-tune+permute-rotate+Q4_0"] = V.permute_rotate(
        V.requantise(out["fine-tune-200"], "Q4_0").tensors, seed=seed).tensors
    return out


def _both(a: WeightSource, b: WeightSource, fp) -> tuple[float, float]:
    """−log10 p of the weight test and of the fingerprint test for one pair."""
    w = assess_lineage(a, b)
    f = assess_lineage(None, b, fingerprint=fp)
    return -w.log10_p, -f.log10_p


def _auc(null: list[float], alt: list[float]) -> float:
    wins = sum((x > y) + 0.5 * (x == y) for x in alt for y in null)
    return wins / max(1, len(null) * len(alt))


def _summary(null: list[float], alt: list[float]) -> dict[str, object]:
    threshold = -np.log10(ALPHA)
    nul, alt_ = np.array(null), np.array(alt)
    # TPR at 1 % FPR: the smallest threshold that lets at most 1 % of the null pairs through.
    cut = float(np.quantile(nul, 0.99, method="higher")) if len(nul) else float("inf")
    hist = np.histogram(10 ** (-nul), bins=10, range=(0.0, 1.0))[0]
    return {
        "unrelated_pairs": len(null), "derived_pairs": len(alt),
        "auc": round(_auc(null, alt), 4),
        "tpr_at_1pct_fpr": round(float(np.mean(alt_ > cut)), 4),
        "fpr_at_alpha_0.01": round(float(np.mean(nul > threshold)), 4),
        "tpr_at_alpha_0.01": round(float(np.mean(alt_ > threshold)), 4),
        "max_null_minus_log10_p": round(float(nul.max()), 3) if len(nul) else None,
        "min_derived_minus_log10_p": round(float(alt_.min()), 3) if len(alt_) else None,
        "null_p_histogram": [int(h) for h in hist],
    }


def _print(title: str, s: dict) -> None:
    print(f"\n== {title}")
    print(f"unrelated pairs {s['unrelated_pairs']}, derived pairs {s['derived_pairs']}")
    print(f"AUC {s['auc']:.4f}   TPR at 1% FPR {s['tpr_at_1pct_fpr']:.3f}   "
          f"FPR at alpha=0.01 {s['fpr_at_alpha_0.01']:.3f}   TPR at alpha=0.01 {s['tpr_at_alpha_0.01']:.3f}")
    print(f"largest null -log10 p {s['max_null_minus_log10_p']}, smallest derived -log10 p "
          f"{s['min_derived_minus_log10_p']}")
    print("null p-value histogram:")
    hist = s["null_p_histogram"]
    top = max(hist) or 1
    for i, h in enumerate(hist):
        print(f"  [{i / 10:.1f}, {(i + 1) / 10:.1f})  {h:>4}  {'#' * round(40 * h / top)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds (smoke run)")
    parser.add_argument("--real", action="store_true", help="add the SmolLM2-sized unrelated pair (slow)")
    args = parser.parse_args()
    llama_seeds = range(6) if args.quick else range(12)
    bert_seeds = range(4) if args.quick else range(8)
    long_seeds = range(2) if args.quick else range(4)
    derived_bases = 1 if args.quick else 3
    smol, minilm = sample_models()
    started = time.time()

    null_w: list[float] = []
    null_f: list[float] = []
    null_labels: list[str] = []
    reverse_f: list[float] = []
    alt_w: list[float] = []
    alt_f: list[float] = []
    per_variant: dict[str, list[tuple[float, float]]] = {}
    groups = [("llama", llama_seeds, 40), ("bert", bert_seeds, 40), ("llama", [100 + s for s in long_seeds], 400)]
    for family, seeds, steps in groups:
        spec = TinySpec(family=family)
        vocab = real_vocab(minilm, spec.vocab_size)
        models = {s: trained_model(spec, s, steps=steps) for s in seeds}
        fps = {s: make_fingerprint(_src(m, vocab, family)) for s, m in models.items()}
        for i, j in itertools.combinations(sorted(models), 2):
            w, f = _both(_src(models[i], vocab, family), _src(models[j], vocab, family), fps[i])
            null_w.append(w)
            null_f.append(f)
            null_labels.append(f"{family}/{steps} steps: seeds {i} vs {j}")
            # The fingerprint test is not symmetric: the other direction is another unrelated pair for it.
            reverse_f.append(-assess_lineage(None, _src(models[i], vocab, family), fingerprint=fps[j]).log10_p)
        print(f"{family} x{len(models)} ({steps} steps): {len(null_w)} unrelated pairs so far "
              f"[{time.time() - started:.0f}s]", flush=True)
        if steps != 40:
            continue
        for s in sorted(models)[:derived_bases]:
            for name, arrays in _variants(models[s], spec, s).items():
                w, f = _both(_src(models[s], vocab, family), _src(arrays, vocab, family), fps[s])
                alt_w.append(w)
                alt_f.append(f)
                per_variant.setdefault(f"{family}/{name}", []).append((round(w, 1), round(f, 1)))

    # Real size: all-MiniLM against a fresh BERT of its shape (unrelated) and a real MLM fine-tune (derived).
    import torch
    from transformers import BertConfig, BertModel

    bert_vocab = tuple((Path(minilm) / "vocab.txt").read_text(encoding="utf-8").splitlines())
    mini = _src(load_hf_bert_arrays(minilm), bert_vocab, "bert")
    mini_fp = make_fingerprint(minilm)
    for seed in (0, 1):
        torch.manual_seed(seed)
        fresh = BertModel(BertConfig.from_json_file(str(Path(minilm) / "config.json")))
        arrays = {k: v.detach().numpy().copy() for k, v in fresh.state_dict().items() if "position_ids" not in k}
        w, f = _both(mini, _src(arrays, bert_vocab, "bert"), mini_fp)
        null_w.append(w)
        null_f.append(f)
        null_labels.append(f"all-MiniLM vs fresh BERT (seed {seed})")
    tuned = fine_tune_bert_folder(minilm, steps=100)
    w, f = _both(mini, _src(tuned, bert_vocab, "bert"), mini_fp)
    alt_w.append(w)
    alt_f.append(f)
    per_variant["all-MiniLM/fine-tune-100"] = [(round(w, 1), round(f, 1))]

    if args.real:
        from weightwarden.lineage._align import opened

        smol_fp = make_fingerprint(smol)
        with opened(smol) as s:
            rng = np.random.default_rng(0)
            shapes = {n: s.load(n).shape for n in s.names
                      if role(n) in ("embed", "mlp_up", "mlp_gate", "mlp_down") or "post_attention" in n}
            vocab = s.vocab
            rand = {n: (np.ones(sh, np.float32) if len(sh) == 1 else
                        (rng.standard_normal(sh) * 0.02).astype(np.float32)) for n, sh in shapes.items()}
            w, f = _both(s, _src(rand, vocab, "llama"), smol_fp)
            null_w.append(w)
            null_f.append(f)
            null_labels.append("SmolLM2 vs random llama weights of its shape")

    weights = _summary(null_w, alt_w)
    fingerprint = _summary(null_f + reverse_f, alt_f)
    _print("weight-based test (assess_lineage(A, B))", weights)
    _print("fingerprint test (assess_lineage(None, B, fingerprint=fp(A)))", fingerprint)
    print("\nmost significant unrelated pairs (weight test, fingerprint test) −log10 p:")
    worst = sorted(range(len(null_labels)), key=lambda k: -max(null_w[k], null_f[k]))[:5]
    for k in worst:
        print(f"  {null_labels[k]:<40} ({null_w[k]:.2f}, {null_f[k]:.2f})")
    print("\nderived variants, (weight test, fingerprint test) −log10 p per base seed:")
    for name, values in per_variant.items():
        print(f"  {name:<40} {values}")
    elapsed = time.time() - started
    print(f"\ntotal {elapsed:.0f}s")
    path = write_result("lineage_calibration" + ("_quick" if args.quick else ""), {
        "machine": machine(), "alpha": ALPHA, "seconds": round(elapsed, 1),
        "weights": weights, "fingerprint": fingerprint, "derived_minus_log10_p": per_variant,
        "null_minus_log10_p": {lab: (round(w, 3), round(f, 3))
                               for lab, w, f in zip(null_labels, null_w, null_f, strict=False)},
    })
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
