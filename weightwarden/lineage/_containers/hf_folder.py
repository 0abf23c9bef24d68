"""Hugging Face folder metadata: architecture, vocabulary and declared base model, from the sidecar files.

Reads ``config.json`` (``model_type``, head counts, ``base_model``/``_name_or_path``), ``adapter_config.json``
(a LoRA adapter's base model), the YAML front matter of ``README.md`` (``base_model:``) and the vocabulary of
``tokenizer.json`` or ``vocab.txt``. These are data only: JSON is parsed with a size bound per file
(``MAX_JSON_BYTES``, ``MAX_TOKENIZER_BYTES``) and the README is scanned line by line, never loaded as YAML;
nothing from the folder is imported or run (no ``trust_remote_code``). A JSON or vocabulary file over its
bound or unreadable is refused with a :class:`LineageError`; a missing or unreadable README is just no answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from weightwarden.lineage._containers._stored import MAX_VOCAB, _int_or_none
from weightwarden.lineage.model import LineageError, ModelInfo

MAX_JSON_BYTES = 16 * 1024 * 1024  # config.json, index, adapter config
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024  # tokenizer.json of a 256k vocabulary is ~35 MB
MAX_README_BYTES = 1024 * 1024


def _read_json(p: Path, limit: int) -> Any:
    try:
        size = p.stat().st_size
        if size > limit:
            raise LineageError(f"{p}: {size} bytes, larger than the {limit}-byte bound for JSON files")
        return json.loads(p.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise LineageError(f"{p}: not readable JSON: {exc}") from None


def _with_hf_info(info: ModelInfo, folder: Path, only_if_sidecar: bool) -> ModelInfo:
    """Architecture, vocabulary and declared base model from config.json, tokenizer and README/adapter."""
    config_path = folder / "config.json"
    if only_if_sidecar and not config_path.is_file():
        return info
    config: dict[str, Any] = {}
    if config_path.is_file():
        loaded = _read_json(config_path, MAX_JSON_BYTES)
        config = loaded if isinstance(loaded, dict) else {}
    arch = config.get("model_type") if isinstance(config.get("model_type"), str) else info.architecture
    base = None
    for key in ("base_model", "_name_or_path"):
        if isinstance(config.get(key), str) and config[key]:
            base = config[key]
            break
    adapter = folder / "adapter_config.json"
    if adapter.is_file():
        a = _read_json(adapter, MAX_JSON_BYTES)
        if isinstance(a, dict) and isinstance(a.get("base_model_name_or_path"), str):
            base = a["base_model_name_or_path"]
    readme_base = _readme_base_model(folder / "README.md")
    if readme_base:
        base = readme_base
    n_head = _int_or_none(config.get("num_attention_heads"))
    n_head_kv = _int_or_none(config.get("num_key_value_heads")) or n_head
    return replace(
        info, architecture=arch, vocab=_hf_vocab(folder), declared_base_model=base, config=config,
        n_head=n_head, n_head_kv=n_head_kv,
    )


def _readme_base_model(p: Path) -> str | None:
    """``base_model:`` from a model card's YAML front matter (a scalar or the first list item)."""
    if not p.is_file():
        return None
    try:
        with open(p, "rb") as f:
            text = f.read(MAX_README_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    if not text.startswith("---"):
        return None
    front = text[3:].split("\n---", 1)[0].splitlines()
    for i, line in enumerate(front):
        m = re.match(r"^base_model\s*:\s*(.*)$", line)
        if not m:
            continue
        value = m.group(1).strip().strip("'\"")
        if value:
            return value.lstrip("[").rstrip("]").split(",")[0].strip().strip("'\"") or None
        for nxt in front[i + 1 :]:
            item = re.match(r"^\s*-\s*(.+)$", nxt)
            if item:
                return item.group(1).strip().strip("'\"")
            if nxt.strip():
                break
    return None


def _hf_vocab(folder: Path) -> tuple[str, ...] | None:
    tok = folder / "tokenizer.json"
    if tok.is_file():
        data = _read_json(tok, MAX_TOKENIZER_BYTES)
        model = data.get("model") if isinstance(data, dict) else None
        vocab = model.get("vocab") if isinstance(model, dict) else None
        by_id: dict[int, str] = {}
        if isinstance(vocab, dict):
            by_id = {i: t for t, i in vocab.items() if isinstance(i, int) and 0 <= i < MAX_VOCAB}
        elif isinstance(vocab, list):  # Unigram: [[token, score], ...]
            by_id = {i: item[0] for i, item in enumerate(vocab[:MAX_VOCAB]) if isinstance(item, list) and item}
        added = data.get("added_tokens") if isinstance(data, dict) else None
        for item in added if isinstance(added, list) else ():
            if (isinstance(item, dict) and isinstance(item.get("id"), int) and isinstance(item.get("content"), str)
                    and 0 <= item["id"] < MAX_VOCAB):
                by_id.setdefault(item["id"], item["content"])
        if by_id:
            return tuple(by_id.get(i, "") for i in range(max(by_id) + 1))
    txt = folder / "vocab.txt"
    if txt.is_file():
        try:
            if txt.stat().st_size > MAX_TOKENIZER_BYTES:
                raise LineageError(f"{txt}: larger than the {MAX_TOKENIZER_BYTES}-byte bound")
            return tuple(txt.read_text(encoding="utf-8", errors="replace").splitlines())
        except OSError as exc:
            raise LineageError(f"{txt}: cannot read: {exc.strerror or exc}") from None
    return None
