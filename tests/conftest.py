"""Shared pytest fixtures: the real sample models and the generated malicious/benign corpus.

The sample models live in ``.cache/models`` (``make models``, i.e. ``scripts/sample_models.py``); if they
are missing the fixtures fetch them. The corpus (tests/corpus) is written once per session into a temporary
folder together with its canary folder, which must still be empty at the end of the session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# tests/ is not a package; make ``import tests.corpus`` work however pytest is started (``pytest``,
# ``python -m pytest``, from another folder).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.corpus.samples import sample_models as _sample_models  # noqa: E402


@pytest.fixture(scope="session")
def sample_models() -> tuple[Path, Path]:
    """(SmolLM2-135M-Instruct Q4_1 GGUF file, all-MiniLM-L6-v2 Hugging Face folder)."""
    return _sample_models()


@pytest.fixture(scope="session")
def smollm2_gguf(sample_models: tuple[Path, Path]) -> Path:
    return sample_models[0]


@pytest.fixture(scope="session")
def minilm_folder(sample_models: tuple[Path, Path]) -> Path:
    return sample_models[1]


@pytest.fixture(scope="session")
def corpus_canary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every malicious payload in the corpus would create a file here if it ever ran."""
    return tmp_path_factory.mktemp("canary")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory, corpus_canary_dir: Path):
    """The generated corpus: a list of :class:`tests.corpus.CorpusEntry`, one folder each."""
    from tests.corpus import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"), corpus_canary_dir)


@pytest.fixture(scope="session")
def corpus_by_name(corpus) -> dict:
    return {entry.name: entry for entry in corpus}


# -- the real Keras loader, for the victim proofs of the Keras reader rounds (20, 24, 25, 26) ------------------------


@pytest.fixture(scope="module")
def keras_env() -> dict[str, str]:
    """The environment under which a subprocess of this interpreter imports keras (torch backend unless the caller
    set one; ``WW_TEST_KERAS_PATH`` adds a ``pip --target`` folder); skips when keras cannot be imported."""
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "torch"))
    extra = os.environ.get("WW_TEST_KERAS_PATH")
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, extra, env.get("PYTHONPATH", "")) if p)
    probe = subprocess.run([sys.executable, "-c", "import keras"], env=env, cwd=_ROOT, capture_output=True,
                           timeout=300, check=False)
    if probe.returncode != 0:
        pytest.skip("keras is not importable (set WW_TEST_KERAS_PATH to a folder holding keras for the victim proofs)")
    return env


@pytest.fixture(scope="module")
def keras_torch_env(keras_env: dict[str, str]) -> dict[str, str]:
    """:func:`keras_env` where Keras 3's ``TorchModuleWrapper`` (torch + Keras >= 3) is importable too."""
    probe = subprocess.run([sys.executable, "-c", "import torch, keras; keras.layers.TorchModuleWrapper"],
                           env=keras_env, cwd=_ROOT, capture_output=True, timeout=300, check=False)
    if probe.returncode != 0:
        pytest.skip("keras.layers.TorchModuleWrapper needs torch and Keras >= 3 (not importable here)")
    return keras_env
