"""Generators of related and unrelated test models for the lineage derivation test (tests and benchmarks).

Tiny llama-shaped and BERT-shaped transformers are built with ``transformers`` + torch on CPU and *trained*
for a few dozen steps on the same synthetic token stream (a fixed Zipfian bigram chain), so that unrelated
models differ only by their random seed, as independently trained models do. A derived model is one of
these continued for a few hundred real training steps on other data (:func:`fine_tune`). The real
all-MiniLM can be fine-tuned the same way (:func:`fine_tune_bert_folder`).

Models come back as ``{canonical name: float32 array}`` plus a :class:`TinySpec`; :func:`save_hf_folder`
writes a Hugging Face folder (model.safetensors, config.json, tokenizer.json / vocab.txt) that
``open_tensors`` reads. Vocabularies are real token strings taken from all-MiniLM's ``vocab.txt``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_SEED = 1234


@dataclass(frozen=True)
class TinySpec:
    """Shape of a tiny model. ``family`` is "llama" or "bert"."""

    family: str = "llama"
    vocab_size: int = 1024
    hidden: int = 64
    intermediate: int = 192
    layers: int = 2
    heads: int = 4


def real_vocab(minilm_folder: Path, size: int, offset: int = 1000) -> tuple[str, ...]:
    """``size`` distinct real WordPiece token strings from all-MiniLM's vocabulary (after its [unused] block)."""
    tokens = (Path(minilm_folder) / "vocab.txt").read_text(encoding="utf-8").splitlines()
    picked = tuple(tokens[offset : offset + size])
    if len(picked) != size or len(set(picked)) != size:
        raise ValueError("all-MiniLM vocabulary too small or not distinct")
    return picked


def _config(spec: TinySpec):
    if spec.family == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=spec.vocab_size, hidden_size=spec.hidden, intermediate_size=spec.intermediate,
            num_hidden_layers=spec.layers, num_attention_heads=spec.heads, num_key_value_heads=spec.heads,
            max_position_embeddings=128, tie_word_embeddings=False,
        )
    from transformers import BertConfig

    return BertConfig(
        vocab_size=spec.vocab_size, hidden_size=spec.hidden, intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers, num_attention_heads=spec.heads, max_position_embeddings=128,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )


def _single_threaded() -> None:
    import torch

    # Tiny models gain nothing from intra-op threads, and on a busy 2-core machine spinning OpenMP workers
    # make training many times slower.
    torch.set_num_threads(1)


def _model(spec: TinySpec):
    from transformers import BertForMaskedLM, LlamaForCausalLM

    _single_threaded()

    cfg = _config(spec)
    return LlamaForCausalLM(cfg) if spec.family == "llama" else BertForMaskedLM(cfg)


def token_stream(vocab_size: int, n_tokens: int, data_seed: int = DATA_SEED) -> np.ndarray:
    """A deterministic Zipfian bigram chain: enough structure for a tiny model to learn something."""
    rng = np.random.default_rng(data_seed)
    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    zipf = 1.0 / ranks
    # Each token has 8 likely successors plus a Zipfian background.
    successors = rng.integers(0, vocab_size, size=(vocab_size, 8))
    out = np.empty(n_tokens, dtype=np.int64)
    cur = int(rng.integers(vocab_size))
    background = rng.choice(vocab_size, size=n_tokens, p=zipf / zipf.sum())
    picks = rng.integers(0, 8, size=n_tokens)
    coin = rng.random(n_tokens)
    for i in range(n_tokens):
        cur = int(successors[cur, picks[i]]) if coin[i] < 0.7 else int(background[i])
        out[i] = cur
    return out


def _train(model, spec: TinySpec, steps: int, data_seed: int, lr: float, batch_seed: int) -> None:
    import torch

    seq, batch = 32, 16
    stream = torch.from_numpy(token_stream(spec.vocab_size, 20_000, data_seed))
    gen = torch.Generator().manual_seed(batch_seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, stream.numel() - seq - 1, (batch,), generator=gen)
        ids = torch.stack([stream[s : s + seq] for s in starts.tolist()])
        if spec.family == "llama":
            loss = model(input_ids=ids, labels=ids).loss
        else:
            mask = torch.rand(ids.shape, generator=gen) < 0.15
            labels = torch.where(mask, ids, torch.full_like(ids, -100))
            inputs = torch.where(mask, torch.zeros_like(ids), ids)  # token 0 stands in for [MASK]
            loss = model(input_ids=inputs, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def _arrays(model, spec: TinySpec) -> dict[str, np.ndarray]:
    prefix = "bert." if spec.family == "bert" else ""
    out: dict[str, np.ndarray] = {}
    for name, tensor in model.state_dict().items():
        if spec.family == "bert" and not name.startswith(prefix):
            continue  # the MLM head is not part of the encoder all-MiniLM ships
        if "position_ids" in name:
            continue
        out[name[len(prefix):]] = tensor.detach().to("cpu").float().numpy().copy()
    return out


def _load_arrays(model, spec: TinySpec, arrays: dict[str, np.ndarray]) -> None:
    import torch

    prefix = "bert." if spec.family == "bert" else ""
    state = {prefix + k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
    model.load_state_dict(state, strict=False)


def trained_model(spec: TinySpec, seed: int, steps: int = 40, lr: float = 3e-3) -> dict[str, np.ndarray]:
    """A tiny model initialised from ``seed`` and trained ``steps`` steps on the shared token stream."""
    import torch

    torch.manual_seed(seed)
    model = _model(spec)
    _train(model, spec, steps, DATA_SEED, lr, batch_seed=seed)
    return _arrays(model, spec)


def fine_tune(spec: TinySpec, base: dict[str, np.ndarray], steps: int = 200, lr: float = 1e-3,
              seed: int = 99) -> dict[str, np.ndarray]:
    """A real fine-tune: ``base`` trained ``steps`` more steps with AdamW on a *different* token stream."""
    import torch

    torch.manual_seed(seed)
    model = _model(spec)
    _load_arrays(model, spec, base)
    _train(model, spec, steps, DATA_SEED + 1, lr, batch_seed=seed)
    return _arrays(model, spec)


def other_width(spec: TinySpec, hidden: int) -> TinySpec:
    return replace(spec, hidden=hidden)


def save_hf_folder(folder: Path, spec: TinySpec, arrays: dict[str, np.ndarray], vocab: tuple[str, ...]) -> Path:
    """Write a Hugging Face folder ``open_tensors`` reads: safetensors weights, config and vocabulary."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()},
              str(folder / "model.safetensors"))
    cfg = _config(spec).to_dict()
    (folder / "config.json").write_text(json.dumps(cfg, indent=1, default=str), encoding="utf-8")
    if spec.family == "bert":
        (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    else:
        tok = {"model": {"type": "BPE", "vocab": {t: i for i, t in enumerate(vocab)}}}
        (folder / "tokenizer.json").write_text(json.dumps(tok), encoding="utf-8")
    return folder


def load_hf_bert_arrays(folder: Path) -> dict[str, np.ndarray]:
    """all-MiniLM's encoder weights by canonical name (read with safetensors, never torch.load)."""
    from safetensors.numpy import load_file

    return {k: v.astype(np.float32) for k, v in load_file(str(Path(folder) / "model.safetensors")).items()}


def fine_tune_bert_folder(folder: Path, steps: int = 100, lr: float = 5e-5, seed: int = 7) -> dict[str, np.ndarray]:
    """A real masked-LM fine-tune of the all-MiniLM folder on a few sentences; returns the encoder weights."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder = Path(folder)
    _single_threaded()
    torch.manual_seed(seed)
    cfg = BertConfig.from_json_file(str(folder / "config.json"))
    model = BertForMaskedLM(cfg)
    state = {"bert." + k: torch.from_numpy(v) for k, v in load_hf_bert_arrays(folder).items()}
    model.load_state_dict(state, strict=False)
    tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    sentences = [
        "model weights can be fine tuned on a small corpus of text",
        "a derived model keeps most of the structure of its base",
        "lineage tests compare neurons after aligning the hidden basis",
        "independent models trained from different seeds look unrelated",
        "quantisation adds noise but keeps the weights close",
        "the auditor wants to know which release a checkpoint came from",
    ]
    enc = tok(sentences, padding=True, return_tensors="pt")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        ids = enc["input_ids"].clone()
        mask = (torch.rand(ids.shape, generator=gen) < 0.15) & (enc["attention_mask"] == 1)
        labels = torch.where(mask, ids, torch.full_like(ids, -100))
        ids[mask] = tok.mask_token_id
        loss = model(input_ids=ids, attention_mask=enc["attention_mask"], labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("bert.") and "position_ids" not in name:
            out[name[len("bert."):]] = tensor.detach().float().numpy().copy()
    return out


@lru_cache(maxsize=8)
def tiny_family(family: str, seeds: tuple[int, ...], vocab_offset: int = 1000) -> tuple[TinySpec, tuple[str, ...],
                                                                                       tuple[dict, ...]]:
    """(spec, vocabulary, trained models) for ``seeds``; memoised so test modules in one process share them.

    Needs the all-MiniLM sample folder for real token strings (see :func:`sample_vocab_folder`).
    """
    spec = TinySpec(family=family)
    vocab = real_vocab(sample_vocab_folder(), spec.vocab_size, offset=vocab_offset)
    return spec, vocab, tuple(trained_model(spec, seed) for seed in seeds)


def sample_vocab_folder() -> Path:
    """The all-MiniLM folder (fetched by the test fixtures' helper if it is missing)."""
    from tests.corpus.samples import sample_models

    return Path(sample_models()[1])
