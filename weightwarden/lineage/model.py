"""Records that cross the borders between the lineage modules (tensor access, diff, derivation, fingerprint).

A model (one file or a folder of shards) is opened with :func:`weightwarden.lineage.tensors.open_tensors`,
which describes every tensor by a :class:`TensorRef` and the model by a :class:`ModelInfo`. Everything
downstream (diff, lineage, fingerprint, convert) works on canonical names, so that the same weights in a
GGUF file, a safetensors folder or a PyTorch checkpoint line up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from weightwarden.core.errors import InputError


class LineageError(InputError):
    """A model cannot be read for lineage work; the message names the file and the reason."""


class UnsupportedTensor(LineageError):
    """A tensor whose stored type cannot be dequantised (e.g. ``unsupported quant type Q2_K in tensor X``)."""


@dataclass(frozen=True)
class TensorRef:
    """One stored tensor, described from the file's header only (no tensor bytes read).

    ``shape`` is the logical shape in NumPy / Hugging Face order (GGUF's reversed dimensions are put back).
    ``dtype`` is the stored element type as the container names it, upper case: ``F32``, ``F16``, ``BF16``,
    ``I8``..., or a GGUF quantisation type such as ``Q4_1``, ``Q8_0``. ``offset``/``nbytes`` locate the
    stored bytes in ``file`` (absolute offset). ``permuted`` is true for GGUF llama-family Q/K projections,
    whose rows llama.cpp's converter permuted; readers undo it so canonical data is in HF order.
    """

    name: str
    canonical: str
    file: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    permuted: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ModelInfo:
    """What the container says about the model. Declared facts are shown, never trusted as proof."""

    path: str
    container: str  # "safetensors" | "gguf" | "pytorch" | "numpy" | "onnx"
    architecture: str | None = None  # e.g. "llama", "bert"
    vocab: tuple[str, ...] | None = None  # token strings by id, when the model ships a vocabulary
    declared_base_model: str | None = None  # from config / README / GGUF metadata / adapter config
    config: dict[str, Any] = field(default_factory=dict)
    # GGUF attention head counts, needed to undo the Q/K permutation (None when not applicable).
    n_head: int | None = None
    n_head_kv: int | None = None
