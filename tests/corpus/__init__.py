"""A generated test corpus of malicious and benign model files (nothing binary is committed).

``build_corpus(dest, canary_dir)`` writes one folder per entry under ``dest/malicious/<name>`` and
``dest/benign/<name>`` and returns the :class:`CorpusEntry` list. Malicious payloads cover every technique
of issue 2 across pickle, PyTorch, joblib, NumPy, archives, Keras, TF SavedModel, ONNX, GGUF / Hugging Face
chat templates, safetensors and the filesystem; each one, if it were ever executed, would create
``canary_dir/<entry name>`` — so an empty canary folder after a scan proves nothing ran. Benign entries are
the two real sample models plus files written by the real libraries (torch, scikit-learn, joblib, numpy,
safetensors, gguf, onnx, h5py).

Run ``python -m tests.corpus DEST`` to write the corpus and a ``manifest.json`` for other scanners.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.corpus import benign as _benign  # noqa: F401  (registers entries)
from tests.corpus import mal_formats as _mal_formats  # noqa: F401
from tests.corpus import mal_pickle as _mal_pickle  # noqa: F401
from tests.corpus.registry import SPECS, BuildContext, CorpusEntry

__all__ = ["CorpusEntry", "build_corpus"]


def build_corpus(dest: Path, canary_dir: Path, *, only: set[str] | None = None) -> list[CorpusEntry]:
    """Write every entry (or those named in ``only``) under ``dest``; return them in a stable order."""
    dest = Path(dest).resolve()
    canary_dir = Path(canary_dir).resolve()
    canary_dir.mkdir(parents=True, exist_ok=True)
    (dest / ".scratch").mkdir(parents=True, exist_ok=True)
    names = [spec.name for spec in SPECS]
    if len(set(names)) != len(names):
        raise RuntimeError("duplicate corpus entry names")
    entries: list[CorpusEntry] = []
    for spec in SPECS:
        if only is not None and spec.name not in only:
            continue
        folder = dest / ("malicious" if spec.malicious else "benign") / spec.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        ctx = BuildContext(dest=dest, canary_dir=canary_dir, name=spec.name)
        path = spec.build(ctx, folder) or folder
        entries.append(
            CorpusEntry(
                name=spec.name,
                path=Path(path),
                malicious=spec.malicious,
                technique=spec.technique,
                family=spec.family,
                expected_rule_prefix=spec.prefix,
                also_accept=spec.also_accept,
                pickles=tuple(ctx.pickles),
            )
        )
    # Scratch files (inner checkpoints packed into archives) are not corpus entries.
    shutil.rmtree(dest / ".scratch", ignore_errors=True)
    return entries
