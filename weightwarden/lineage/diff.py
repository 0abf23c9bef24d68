"""What changed between two models, tensor by tensor: :func:`diff_models`.

Usage::

    from weightwarden.lineage.diff import diff_models
    result = diff_models("base.gguf", "suspect/")        # paths, or open TensorSets
    result.identical                                      # weights roots equal
    for change in result.flagged_changes(): print(change.name, change.kind, change.evidence)
    json.dumps(result.to_dict())

How it works. Both models are opened with :func:`weightwarden.lineage.tensors.open_tensors` and every
tensor is digested (:func:`weightwarden.lineage.digests.digest_pair`: namesakes are compared byte for byte
side by side and bytes common to both are hashed once); tensors are matched by canonical name. Equal
digests skip all numeric work, so the cost of a diff is one read of both models, one hash of A plus the
differing part of B, and the analysis of the tensors that really differ. A differing tensor is loaded
from both sides (dequantised, float32, HF order), ``Δ = B − A`` is measured — relative norm ``‖Δ‖/‖A‖``
(Frobenius), fraction of elements changed, max |Δ|, rows changed — and, for 2-D tensors, the singular
values of Δ are estimated with a randomised SVD (Halko, Martinsson & Tropp, SIAM Review 2011: Gaussian
sketch, one power iteration, QR, SVD of the small factor).

**Effective rank** of Δ: the smallest r whose top-r singular values hold :data:`RANK_ENERGY` (99%) of
‖Δ‖²_F. When one side of the matrix is at most :data:`EXACT_SPECTRUM_MAX` long, every singular value is
computed exactly (eigenvalues of the Gram matrix); otherwise only the top :data:`RANK_PROBE` are estimated
and a rank above that is reported as ``None`` ("more than 64": dense).

**Classes** (first rule that matches; the evidence says which measurement decided):

- ``identical`` — equal digests (not listed among changes).
- ``added`` / ``removed`` / ``shape_change`` — present on one side only / different logical shape.
- ``quantisation_noise`` — one side is a lower-precision copy of the other: a different stored type that
  is quantised or narrower (or float values that sit on a Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 block grid, or are
  exactly F16/BF16-representable while the other side's are not: :func:`grid_type`); every element of Δ
  lies within the rounding bound of the two types (a step of each side's grid, estimated per 32-element
  block); and either re-quantising the precise side reproduces the other bit for bit (F16, legacy GGUF
  block types) or Δ is full-rank. Q4 noise is large in relative norm (several %) but bounded element by
  element and unstructured; an edit hidden under the rounding bound is low-rank and is classified as such.
- ``pruning`` — the changed elements were set to zero; ``2:4`` noted when every group of 4 consecutive
  elements along the input dimension holds ≥ 2 zeros (NVIDIA's semi-structured sparsity).
- ``permuted_or_rotated`` — Δ is large but the singular spectrum (1-D: the sorted values or the norm) is
  unchanged: rows/columns permuted or rotated, the signature of a disguised copy (``weightwarden lineage``
  tells whether it is derived).
- ``embedding_rows`` — an embedding / LM-head matrix with a few rows changed (≤ 1% and ≤ 64): the rows and
  their tokens are listed. **Flagged** (token-level backdoors and false associations live here).
- ``sparse_change`` — a handful of elements changed (< 1%) with no other pattern. **Flagged**.
- ``rank1_edit`` — effective rank 1 in an MLP projection (ROME-style fact/backdoor edit). **Flagged**.
- ``low_rank_update`` — effective rank ≤ 64 and ≤ min(m, n)/4 (a merged LoRA; the rank is its estimate).
- ``dense_finetune`` — everything else: dense, full-rank Δ (what a real fine-tune does to nearly every
  tensor). A relative norm above 0.5 is noted: that is no longer a fine-tune-sized change.

Memory: the analysis loads two tensors (plus Δ) per worker; digests stream. Bad input (unreadable file,
unsupported quant type) raises :class:`weightwarden.lineage.model.LineageError` naming the file and tensor.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.lineage.digests import ModelDigests, default_workers, digest_pair
from weightwarden.lineage.model import LineageError, TensorRef
from weightwarden.lineage.naming import layer_index, role

SCHEMA = "weightwarden.diff/v1"
RANK_ENERGY = 0.99
RANK_PROBE = 64
LOW_RANK_MAX = 64
FEW_ROWS_FRACTION = 0.01
FEW_ROWS_MAX = 64
SPARSE_FRACTION = 0.01
WITHIN_BOUND_FRACTION = 0.999  # float32 round-off of the comparison itself may push a few elements over
SPECTRUM_TOLERANCE = 1e-4  # float32 rotations keep singular values to ~1e-6
EXACT_SPECTRUM_MAX = 1024  # below this the Gram matrix gives every singular value exactly
PERMUTED_MIN_REL = 0.1  # a permutation or rotation moves weights by about √2·‖A‖; edits are far smaller
QUANT_BLOCK = 32
MAX_LISTED_ROWS = 50

KINDS = (
    "identical", "quantisation_noise", "dense_finetune", "low_rank_update", "rank1_edit", "embedding_rows",
    "sparse_change", "pruning", "permuted_or_rotated", "layers_replaced", "shape_change", "added", "removed",
)
REPLACED_MIN_REL = 0.5  # a fine-tune moves a matrix by a few %; weights from elsewhere move it by ~√2
FLAGGED_KINDS = frozenset({"rank1_edit", "embedding_rows", "sparse_change"})
MLP_ROLES = frozenset({"mlp_up", "mlp_gate", "mlp_down"})
EMBEDDING_ROLES = frozenset({"embed", "lm_head"})

# Quantisation grid levels per block for GGUF types (step ≈ (max − min) / (levels − 1) per 32 elements).
_QUANT_LEVELS = {
    "Q4_0": 16, "Q4_1": 16, "Q5_0": 32, "Q5_1": 32, "Q8_0": 256, "Q8_1": 256, "Q2_K": 4, "Q3_K": 8,
    "Q4_K": 16, "Q5_K": 32, "Q6_K": 64, "Q8_K": 256, "IQ4_NL": 16, "IQ4_XS": 16, "TQ1_0": 3, "TQ2_0": 4,
}
# Unit round-off (half an ulp, relative) of the float types.
_FLOAT_ROUNDOFF = {"F64": 2.0**-53, "F32": 2.0**-24, "F16": 2.0**-11, "BF16": 2.0**-8}
_FLOAT_BITS = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16}


@dataclass(frozen=True)
class TensorChange:
    """One tensor that is not bit-identical in both models, with its measurements and classification."""

    name: str
    kind: str
    flagged: bool
    layer: int | None
    role: str
    dtype_a: str | None = None
    dtype_b: str | None = None
    shape_a: tuple[int, ...] | None = None
    shape_b: tuple[int, ...] | None = None
    digest_a: str | None = None
    digest_b: str | None = None
    rel_norm: float | None = None
    frac_changed: float | None = None
    max_abs: float | None = None
    effective_rank: int | None = None  # None with a 2-D tensor: more than RANK_PROBE (dense)
    top_energy: float | None = None  # share of ‖Δ‖² in the top singular value
    rows: tuple[int, ...] = ()
    tokens: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerSummary:
    """Changes in one transformer block (``layer`` None: tensors outside the blocks)."""

    layer: int | None
    tensors: int
    changed: int
    max_rel_norm: float
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSide:
    path: str
    container: str
    architecture: str | None
    weights_root: str
    tensors: int
    total_bytes: int


@dataclass(frozen=True)
class ModelDiff:
    """The result of :func:`diff_models`; ``to_dict()`` is the versioned JSON form."""

    a: ModelSide
    b: ModelSide
    changes: tuple[TensorChange, ...]
    identical_tensors: int
    layers: tuple[LayerSummary, ...]
    top: tuple[str, ...]
    algorithm: str = "blake3"
    replaced_layers: tuple[tuple[int, int], ...] = ()  # inclusive ranges of whole blocks taken from elsewhere

    @property
    def identical(self) -> bool:
        return self.a.weights_root == self.b.weights_root

    @property
    def flagged(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.changes if c.flagged)

    def flagged_changes(self) -> list[TensorChange]:
        return [c for c in self.changes if c.flagged]

    def change(self, name: str) -> TensorChange | None:
        return next((c for c in self.changes if c.name == name), None)

    def kinds(self) -> dict[str, int]:
        return dict(Counter(c.kind for c in self.changes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "identical": self.identical,
            "algorithm": self.algorithm,
            "a": asdict(self.a),
            "b": asdict(self.b),
            "identical_tensors": self.identical_tensors,
            "kinds": self.kinds(),
            "flagged": list(self.flagged),
            "top": list(self.top),
            "layers": [asdict(layer) for layer in self.layers],
            "replaced_layers": [list(r) for r in self.replaced_layers],
            "changes": [_change_dict(c) for c in self.changes],
        }


def _change_dict(change: TensorChange) -> dict[str, Any]:
    out = asdict(change)
    for key in ("shape_a", "shape_b", "rows", "tokens", "evidence"):
        if out[key] is not None:
            out[key] = list(out[key])
    for key in ("rel_norm", "max_abs", "top_energy"):
        if out[key] is not None and not math.isfinite(out[key]):
            out[key] = None  # ‖A‖ = 0 or non-finite weights: JSON has no infinity
    return out


# --------------------------------------------------------------------------------------------- numerics


def singular_values(x: np.ndarray, k: int, *, oversample: int = 10, power_iters: int = 1, seed: int = 0) -> np.ndarray:
    """The top ``k`` singular values of a 2-D array: exact when one side is at most
    :data:`EXACT_SPECTRUM_MAX` long, otherwise a randomised SVD."""
    x, scale = _scaled(x)
    if scale != 1.0:
        return singular_values(x, k, oversample=oversample, power_iters=power_iters, seed=seed) * scale
    m, n = x.shape
    small = min(m, n)
    width = min(k + oversample, small)
    if small <= EXACT_SPECTRUM_MAX:
        # One Gram product (BLAS syrk) costs less than the sketches of a randomised SVD here, and is exact.
        return np.sqrt(np.clip(gram_eigenvalues(x), 0.0, None))[:k]
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((n, width)).astype(x.dtype, copy=False)
    q = _orthonormal(x @ omega)
    total = _frobenius(x) ** 2
    for i in range(power_iters + 1):
        sv = np.linalg.svd((q.T @ x).astype(np.float64), compute_uv=False)[:k]
        captured = float(np.sum(sv**2)) / total if total > 0 else 1.0
        # The sketch alone settles the clear cases: (nearly) all the energy captured, i.e. an exactly
        # low-rank matrix, or at most half of it, i.e. dense far beyond ``k``. Power iterations only
        # sharpen the estimate in between.
        if i == power_iters or captured >= 0.999 or captured <= 0.5:
            return sv
        q = _orthonormal(x @ _orthonormal(x.T @ q))
    return sv


def _orthonormal(y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of a tall ``y`` (CholeskyQR2 through the small Gram matrix).

    Used instead of Householder QR: LAPACK's QR on a tall-skinny matrix is latency-bound and, with a
    multithreaded BLAS on a busy machine, was measured 25× slower than these two Gram products. Columns
    with no energy (an exactly low-rank sketch) are dropped instead of being normalised into noise.
    """
    basis = y.astype(np.float64)
    for _ in range(2):  # the second pass restores orthogonality lost to rounding in the first
        gram = basis.T @ basis
        w, v = np.linalg.eigh(gram)
        keep = w > max(float(w[-1]), 1e-300) * 1e-12
        basis = basis @ (v[:, keep] / np.sqrt(w[keep]))
    return basis.astype(y.dtype)


def _scaled(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``x`` divided by its largest magnitude when its products could overflow float32, and that scale."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 1e15 or not math.isfinite(peak):
        return x, 1.0
    return (x / peak).astype(x.dtype, copy=False), peak


def gram_eigenvalues(x: np.ndarray) -> np.ndarray:
    """All eigenvalues of the smaller Gram matrix (the squared singular values), largest first, exactly."""
    x, scale = _scaled(x)
    gram = x.T @ x if x.shape[0] >= x.shape[1] else x @ x.T
    return np.linalg.eigvalsh(gram.astype(np.float64))[::-1] * scale**2


def effective_rank(sv: np.ndarray, total_energy: float, energy: float = RANK_ENERGY) -> int | None:
    """Smallest r with Σ_{i≤r} s_i² ≥ ``energy``·‖Δ‖²; None when the given values do not reach it."""
    if total_energy <= 0:
        return 0
    cumulative = np.cumsum(np.asarray(sv, dtype=np.float64) ** 2) / total_energy
    hit = np.nonzero(cumulative >= energy * (1 - 1e-9))[0]
    return int(hit[0]) + 1 if hit.size else None


def _blocks(x: np.ndarray) -> np.ndarray | None:
    """``x`` as rows of :data:`QUANT_BLOCK` consecutive elements along the last axis (GGUF's blocks)."""
    if x.ndim == 0 or x.shape[-1] % QUANT_BLOCK:
        return None
    return x.reshape(-1, QUANT_BLOCK)


# Grids of GGUF's legacy block types, as seen in dequantised values of one 32-element block:
# symmetric ``x = d·q`` with the largest |x| at |q| = L, or asymmetric ``x = m + d·q`` with q in 0..L.
_GRIDS = (("Q4_0", "sym", 8), ("Q5_0", "sym", 16), ("Q8_0", "sym", 127), ("Q4_1", "asym", 15),
          ("Q5_1", "asym", 31))


def grid_type(x: np.ndarray, sample_blocks: int = 2048) -> str | None:
    """The GGUF block type whose grid every sampled 32-element block of ``x`` sits on, or None.

    Dequantised Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 data written back as floats keeps its grid: within a block the
    values are integer multiples of one step (plus an offset for the ``_1`` types). Natural float weights
    never pass this test (30 values each within 1% of a grid point by chance).
    """
    blocks = _blocks(x)
    if blocks is None or blocks.shape[0] == 0:
        return None
    step = max(1, blocks.shape[0] // sample_blocks)
    sample = blocks[::step].astype(np.float64)
    lo, hi = sample.min(axis=1), sample.max(axis=1)
    amax = np.abs(sample).max(axis=1)
    live = hi > lo
    if not np.any(live):
        return None
    sample, lo, hi, amax = sample[live], lo[live], hi[live], amax[live]
    for name, mode, levels in _GRIDS:
        if mode == "sym":
            q = sample / (amax / levels)[:, None]
        else:
            q = (sample - lo[:, None]) / ((hi - lo) / levels)[:, None]
        if float(np.max(np.abs(q - np.rint(q)))) < 1e-2:
            return name
    return None


def _exactly_representable(x: np.ndarray, dtype: str) -> bool:
    """True when every value of ``x`` is exactly an F16 (or BF16) number; a prefix is tried first, so
    natural float32 weights are rejected after a few thousand elements."""
    flat = x.reshape(-1)
    if flat.size > 1 << 16 and not _exactly_representable(flat[: 1 << 12], dtype):
        return False
    if dtype == "F16":
        with np.errstate(over="ignore", invalid="ignore"):
            return bool(np.array_equal(x.astype(np.float16).astype(np.float32), x, equal_nan=True))
    if dtype == "BF16":
        return not bool(np.any(np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) & 0xFFFF))
    return False


def _effective_type(x: np.ndarray, stored: str) -> str:
    """The narrowest type the values of ``x`` fit: the stored type, unless float data sits on a coarser grid."""
    if stored in _QUANT_LEVELS or stored not in _FLOAT_ROUNDOFF:
        return stored
    grid = grid_type(x)
    if grid is not None:
        return grid
    for narrow in ("BF16", "F16"):
        if _FLOAT_BITS[stored] > 16 and _exactly_representable(x, narrow):
            return narrow
    return stored


def _rounding_bound(x: np.ndarray, dtype: str) -> np.ndarray | float:
    """Per-element bound on the rounding error of storing these values as ``dtype``."""
    if dtype in _FLOAT_ROUNDOFF:
        # F16 subnormals (below 2^-14) have a fixed absolute step of 2^-24.
        floor = 2.0**-25 if dtype == "F16" else float(np.finfo(np.float32).tiny)
        return np.abs(x) * _FLOAT_ROUNDOFF[dtype] + floor
    levels = _QUANT_LEVELS.get(dtype)
    blocks = _blocks(x)
    if levels is None or blocks is None:
        return np.inf
    span = blocks.max(axis=1) - blocks.min(axis=1)
    # A full step rather than half: asymmetric blocks (Q4_0 maps max|x| to −8 and may use only half the
    # levels) make (max − min)/(levels − 1) underestimate the true step by up to 2×.
    step = span / (levels - 1)
    return np.broadcast_to(step[:, None], blocks.shape).reshape(x.shape)


def _is_lower_precision(a_type: str, b_type: str) -> bool:
    if a_type == b_type:
        return False
    quantised = {a_type, b_type} & set(_QUANT_LEVELS)
    if quantised:
        return True
    return a_type in _FLOAT_BITS and b_type in _FLOAT_BITS


# Bits of precision of each effective type: which side of a pair is the coarse one.
_PRECISION_BITS = {"F64": 53, "F32": 24, "F16": 11, "BF16": 8, "Q8_0": 8, "Q8_1": 8, "Q8_K": 8, "Q6_K": 6,
                   "Q5_0": 5, "Q5_1": 5, "Q5_K": 5, "Q4_0": 4, "Q4_1": 4, "Q4_K": 4, "IQ4_NL": 4, "IQ4_XS": 4,
                   "Q3_K": 3, "Q2_K": 2, "TQ2_0": 2, "TQ1_0": 2}


def _reference_requantise(x: np.ndarray, coarse_type: str) -> np.ndarray | None:
    """``x`` rounded to ``coarse_type`` by the reference algorithm (F16 cast; gguf-py's quantisers, which
    match llama.cpp's reference bit for bit for the legacy block types, BF16 and the ternary types), or
    None where no reference quantiser exists (K-quants, i-quants: llama.cpp searches their scales)."""
    if coarse_type == "F16":
        with np.errstate(over="ignore", invalid="ignore"):
            return x.astype(np.float16).astype(np.float32)
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    try:
        qt = GGMLQuantizationType[coarse_type]
    except KeyError:
        return None
    if x.ndim == 0 or x.shape[-1] % QUANT_BLOCK:
        return None
    try:
        return dequantize(quantize(np.ascontiguousarray(x, dtype=np.float32), qt), qt).reshape(x.shape)
    except Exception:  # noqa: BLE001 - gguf: NotImplementedError (no quantiser), QuantError (block shape)
        return None


def _requantisation(a: np.ndarray, b: np.ndarray, type_a: str, type_b: str) -> tuple[str, str]:
    """Is one side exactly the other rounded to its type? ``(outcome, evidence)`` with outcome

    * ``"reproduced"``: re-quantising the precise side with the coarse side's scheme gives the coarse side
      bit for bit: a pure quantisation;
    * ``"base_not_reproduced"``: A is the coarse side, a reference quantiser exists, and B rounded to A's
      type is not A. So A is not B quantised, and B (finer than A) holds values A's grid does not: B is A
      plus a change ("B = A + small noise"), however small;
    * ``"cannot_tell"``: B is the coarse side and is not the reference rounding of A (it may come from
      another quantiser, e.g. with an importance matrix), or there is no reference quantiser for the type.
    """
    bits_a, bits_b = _PRECISION_BITS.get(type_a, 99), _PRECISION_BITS.get(type_b, 99)
    for precise, coarse, coarse_type in ((a, b, type_b), (b, a, type_a)):
        if coarse_type == "F16" and not _exactly_representable(coarse, "F16"):
            continue
        again = _reference_requantise(precise, coarse_type)
        if again is not None and np.array_equal(again, coarse, equal_nan=True):
            what = "rounded to F16" if coarse_type == "F16" else f"re-quantised to {coarse_type}"
            return "reproduced", f"the other side {what} reproduces it exactly"
    coarse_is_a = bits_a < bits_b
    coarse_type = type_a if coarse_is_a else type_b
    # 256 elements: a whole block of every GGUF type (K-quants use 256)
    has_reference = _reference_requantise(np.zeros(256, dtype=np.float32), coarse_type) is not None
    if coarse_is_a and has_reference:
        return "base_not_reproduced", (
            f"B re-quantised to {type_a} with the reference quantiser does not reproduce A: A is not B "
            f"quantised, and B moves A's values off A's {type_a} grid — a change, not rounding")
    if has_reference:
        return "cannot_tell", (
            f"B is not A re-quantised to {type_b} by the reference quantiser (another quantiser, e.g. with an "
            "importance matrix, or an edit before quantising): cannot tell a dense edit smaller than the "
            "rounding step from the quantisation itself")
    return "cannot_tell", (
        f"no reference quantiser for {coarse_type} (llama.cpp searches its scales): cannot tell a dense edit "
        "smaller than the rounding step from the quantisation itself")


def _frobenius(x: np.ndarray) -> float:
    """‖x‖, accumulated a slice at a time (no float64 copy of a whole large tensor)."""
    flat = x.reshape(-1)
    # Accumulated in float64, 64 Ki elements at a time: float32 dots overflowed (‖x‖² > 3.4e38 for weights
    # around 1e19, "RuntimeWarning: overflow encountered in dot", rel.norm = inf) and lost precision; one
    # 512 KiB float64 slice at a time costs no copy of the whole tensor.
    step = 1 << 16
    total = 0.0
    for i in range(0, flat.size, step):
        piece = flat[i : i + step].astype(np.float64)
        total += float(np.dot(piece, piece))
    return math.sqrt(total)


@dataclass
class Measurement:
    """What :func:`classify_arrays` found for one tensor (filled in as the rules run; not shared outside)."""

    rel_norm: float
    frac_changed: float
    max_abs: float
    evidence: list[str]
    kind: str = "dense_finetune"
    effective_rank: int | None = None
    top_energy: float | None = None
    rows: tuple[int, ...] = ()


def classify_arrays(a: np.ndarray, b: np.ndarray, *, dtype_a: str = "F32", dtype_b: str = "F32",
                    tensor_role: str = "other") -> Measurement:
    """Measure and classify ``Δ = b − a`` for two same-shape float32 arrays (the core of :func:`diff_models`)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        delta = b - a
    if not np.all(np.isfinite(delta)) and np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
        delta = b.astype(np.float64) - a.astype(np.float64)  # finite weights whose difference overflows float32
    changed = delta != 0
    n_changed = int(np.count_nonzero(changed))
    norm_a = _frobenius(a)
    norm_d = _frobenius(delta)
    rel = norm_d / norm_a if norm_a > 0 else (math.inf if norm_d > 0 else 0.0)
    m = Measurement(
        rel_norm=rel,
        frac_changed=n_changed / max(1, delta.size),
        max_abs=max(float(delta.max()), -float(delta.min())) if delta.size else 0.0,
        evidence=[],
    )
    evidence = m.evidence
    evidence.append(f"‖Δ‖/‖A‖ = {rel:.3g}; {n_changed} of {delta.size} elements changed; max |Δ| = {m.max_abs:.3g}")
    if n_changed == 0:
        # Different stored bytes, same values (e.g. −0.0 vs 0.0, or a wider type holding the same numbers).
        m.kind = "quantisation_noise"
        evidence.append("values are equal after dequantisation: a re-encoding of the same numbers")
        return m

    # 1. A lower-precision copy: Δ bounded element by element by the rounding of the two types, and either
    # re-quantising the precise side reproduces the other exactly, or Δ has no low-rank structure (rounding
    # noise is full-rank; an edit hidden under the rounding bound is not).
    eff_a, eff_b = _effective_type(a, dtype_a), _effective_type(b, dtype_b)
    if _is_lower_precision(eff_a, eff_b):
        bound = _rounding_bound(a, eff_a) + _rounding_bound(b, eff_b)
        within = float(np.mean(np.abs(delta) <= bound * 1.001 + 1e-30))
        names = f"{dtype_a}→{dtype_b}" if dtype_a != dtype_b else f"{eff_a}→{eff_b} (values on that grid)"
        outcome, said = _requantisation(a, b, eff_a, eff_b) if within >= WITHIN_BOUND_FRACTION else ("", "")
        if outcome == "reproduced":
            m.kind = "quantisation_noise"
            evidence.append(f"precision change {names}: {said}")
            return m
        if outcome == "base_not_reproduced":
            # "A is the quantisation of B" is ruled out bit for bit, so B = A + Δ: classified by Δ below.
            evidence.append(f"within the rounding bound of {names}, but {said}")
        elif outcome == "cannot_tell":
            rank = None
            if delta.ndim == 2 and min(delta.shape) > 1:
                exact = min(delta.shape) <= EXACT_SPECTRUM_MAX
                sv = singular_values(delta, min(delta.shape) if exact else RANK_PROBE)
                rank = effective_rank(sv, norm_d**2)
            if rank is None or rank > LOW_RANK_MAX or rank > min(delta.shape) // 4:
                m.kind = "quantisation_noise"
                evidence.append(f"precision change {names}: {within:.2%} of |Δ| within the rounding bound, "
                                f"and Δ is unstructured (full rank); {said}")
                return m
            evidence.append(f"Δ is within the rounding bound of {names} but has rank {rank}: an edit, "
                            "not rounding")
        else:
            evidence.append(f"types differ ({eff_a} vs {eff_b}) but only {within:.2%} of |Δ| within the "
                            "rounding bound: more than re-quantisation")

    # 2. Pruning: what changed became zero (B must hold at least that many zeros: cheap pre-check).
    zeroed = int(np.count_nonzero(changed & (b == 0))) if np.count_nonzero(b == 0) >= 0.99 * n_changed else 0
    if zeroed >= 0.99 * n_changed:
        m.kind = "pruning"
        sparsity = float(np.mean(b == 0))
        evidence.append(f"{zeroed} changed elements set to zero; B is {sparsity:.1%} zeros")
        blocks = b.reshape(-1, 4) if b.ndim >= 1 and b.shape[-1] % 4 == 0 else None
        if blocks is not None and bool(np.all(np.count_nonzero(blocks == 0, axis=1) >= 2)):
            evidence.append("2:4 structured sparsity: every group of 4 consecutive inputs has ≥ 2 zeros")
        return m

    # 3. A few rows of an embedding (before the permutation test: swapped token rows are an edit).
    if delta.ndim == 2:
        rows = np.nonzero(np.any(changed, axis=1))[0]
        if tensor_role in EMBEDDING_ROLES and rows.size <= max(1, min(FEW_ROWS_MAX, FEW_ROWS_FRACTION * a.shape[0])):
            m.kind = "embedding_rows"
            m.rows = tuple(int(r) for r in rows)
            evidence.append(f"{rows.size} of {a.shape[0]} embedding rows changed")
            return m

    # 4. A handful of elements.
    if m.frac_changed < SPARSE_FRACTION:
        m.kind = "sparse_change"
        evidence.append(f"only {m.frac_changed:.3%} of elements changed, no low-rank or pruning pattern")
        return m

    # 5. Same spectrum, large Δ: permuted or rotated.
    norm_b = _frobenius(b)
    if rel >= PERMUTED_MIN_REL and norm_a > 0 and abs(norm_b - norm_a) <= SPECTRUM_TOLERANCE * norm_a:
        same = True
        if a.ndim == 2 and min(a.shape) > 1:
            ea, eb = gram_eigenvalues(a), gram_eigenvalues(b)
            same = bool(np.all(np.abs(ea - eb) <= SPECTRUM_TOLERANCE * max(float(ea[0]), 1e-30)))
            what = f"all {ea.size} squared singular values of A and B agree within {SPECTRUM_TOLERANCE:g}·σ₁²"
        elif np.allclose(np.sort(a.reshape(-1)), np.sort(b.reshape(-1)), rtol=1e-5, atol=0):
            what = "the same values in another order"
        else:
            what = "the same norm"
        if same:
            m.kind = "permuted_or_rotated"
            evidence.append(f"‖B‖ = ‖A‖ and {what}: rows/columns permuted or rotated (run `lineage`)")
            return m

    # 6. Rank of Δ.
    if delta.ndim == 2 and min(delta.shape) > 1:
        exact = min(delta.shape) <= EXACT_SPECTRUM_MAX
        sv = singular_values(delta, min(delta.shape) if exact else RANK_PROBE)
        energy = norm_d**2
        m.effective_rank = effective_rank(sv, energy)
        m.top_energy = float(sv[0] ** 2 / energy) if energy > 0 else None
        r = m.effective_rank
        if r is None:
            evidence.append(f"effective rank > {RANK_PROBE} (top {RANK_PROBE} singular values hold "
                            f"{float(np.sum(sv.astype(np.float64) ** 2)) / energy:.1%} of ‖Δ‖²)")
        else:
            evidence.append(f"effective rank {r} ({RANK_ENERGY:.0%} of ‖Δ‖²); top singular value holds "
                            f"{m.top_energy:.1%}")
        if r == 1 and tensor_role in MLP_ROLES:
            m.kind = "rank1_edit"
            evidence.append("rank-1 update of an MLP projection: the signature of a ROME-style edit")
            return m
        if r is not None and r <= min(LOW_RANK_MAX, min(delta.shape) // 4):
            m.kind = "low_rank_update"
            evidence.append(f"low-rank update (rank ≈ {r}): a merged LoRA-like adapter")
            return m
    m.kind = "dense_finetune"
    evidence.append(f"dense change of {m.frac_changed:.1%} of elements")
    if rel > 0.5:
        evidence.append("relative change above 0.5: larger than a fine-tune; the tensors may be unrelated")
    return m


# --------------------------------------------------------------------------------------------- the diff


@contextmanager
def _blas_threads(limit: int) -> Iterator[None]:
    """Cap BLAS threads while our own pool runs one tensor per thread: nested BLAS threads on a busy
    2-core machine made each small product ~25× slower (measured). No-op without ``threadpoolctl``."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


@contextmanager
def _opened(model: Any, allow_symlinks: bool = False) -> Iterator[Any]:
    if isinstance(model, (str, os.PathLike)):
        from weightwarden.lineage.tensors import open_tensors

        tensors = open_tensors(Path(model), allow_symlinks=allow_symlinks)
        try:
            yield tensors
        finally:
            tensors.close()
    else:
        yield model


def _side(tensors: Any, digests: ModelDigests) -> ModelSide:
    info = tensors.info
    return ModelSide(
        path=str(info.path), container=str(info.container), architecture=info.architecture,
        weights_root=digests.root, tensors=len(digests.tensors), total_bytes=digests.total_bytes,
    )


def _tokens(vocab: tuple[str, ...] | None, rows: tuple[int, ...]) -> tuple[str, ...]:
    if not vocab:
        return ()
    return tuple(vocab[r] if 0 <= r < len(vocab) else f"<{r}>" for r in rows[:MAX_LISTED_ROWS])


def _analyse(ta: Any, tb: Any, ra: TensorRef, rb: TensorRef, da: str, db: str) -> TensorChange:
    name = ra.canonical
    common = dict(
        name=name, layer=layer_index(name), role=role(name), dtype_a=ra.dtype, dtype_b=rb.dtype,
        shape_a=tuple(ra.shape), shape_b=tuple(rb.shape), digest_a=da, digest_b=db,
    )
    if tuple(ra.shape) != tuple(rb.shape):
        return TensorChange(kind="shape_change", flagged=False,
                            evidence=(f"shape {tuple(ra.shape)} → {tuple(rb.shape)}",), **common)
    try:
        a = ta.load(ra, dtype=np.float32)
        b = tb.load(rb, dtype=np.float32)
    except LineageError:
        raise
    except (ValueError, OSError) as exc:
        raise LineageError(f"cannot load tensor {name}: {exc}") from exc
    m = classify_arrays(a, b, dtype_a=ra.dtype, dtype_b=rb.dtype, tensor_role=common["role"])
    del a, b
    tokens = _tokens(tb.info.vocab or ta.info.vocab, m.rows) if m.kind == "embedding_rows" else ()
    if tokens:
        m.evidence.append("tokens: " + ", ".join(repr(t) for t in tokens[:20]) + (" …" if len(tokens) > 20 else ""))
    return TensorChange(
        kind=m.kind, flagged=m.kind in FLAGGED_KINDS, rel_norm=m.rel_norm, frac_changed=m.frac_changed,
        max_abs=m.max_abs, effective_rank=m.effective_rank, top_energy=m.top_energy,
        rows=m.rows[:MAX_LISTED_ROWS] if m.kind == "embedding_rows" else (), tokens=tokens,
        evidence=tuple(m.evidence), **common,
    )


def _layers(names: set[str], changes: list[TensorChange]) -> tuple[LayerSummary, ...]:
    total: Counter[int | None] = Counter(layer_index(n) for n in names)
    by_layer: dict[int | None, list[TensorChange]] = {}
    for change in changes:
        by_layer.setdefault(change.layer, []).append(change)
    out = []
    for layer in sorted(total, key=lambda x: (x is not None, x if x is not None else -1)):
        group = by_layer.get(layer, [])
        out.append(LayerSummary(
            layer=layer, tensors=total[layer], changed=len(group),
            max_rel_norm=max((c.rel_norm or 0.0 for c in group if c.rel_norm is not None), default=0.0),
            kinds=dict(Counter(c.kind for c in group)),
        ))
    return tuple(out)


def _replaced_layers(changes: list[TensorChange], shapes: dict[str, tuple[int, ...]]
                     ) -> tuple[list[TensorChange], tuple[tuple[int, int], ...]]:
    """Whole blocks taken from another model (a frankenmerge, a layer swap): every weight matrix of the
    block differs from A's by more than any fine-tune (‖Δ‖/‖A‖ ≥ :data:`REPLACED_MIN_REL`), while at least
    one other block is not so. Their tensors are re-classed ``layers_replaced``, with the range named.
    1-D tensors (norms, biases) of such a block follow it: they may by chance be close."""
    by_name = {c.name: c for c in changes}
    matrices: dict[int, list[str]] = {}
    for name, shape in shapes.items():  # the tensors both models have
        layer = layer_index(name)
        if layer is not None and len(shape) == 2:
            matrices.setdefault(layer, []).append(name)

    def replaced(layer: int) -> bool:
        names = matrices[layer]
        return all(
            (c := by_name.get(n)) is not None and c.rel_norm is not None and c.rel_norm >= REPLACED_MIN_REL
            and c.kind != "permuted_or_rotated" for n in names)

    hit = sorted(layer for layer in matrices if replaced(layer))
    if not hit or len(hit) == len(matrices):
        return changes, ()  # nothing replaced, or everything: unrelated models, not a merge
    ranges: list[list[int]] = []
    for layer in hit:
        if ranges and layer == ranges[-1][1] + 1:
            ranges[-1][1] = layer
        else:
            ranges.append([layer, layer])
    spans = tuple((lo, hi) for lo, hi in ranges)
    text = ", ".join(f"{lo}–{hi}" if hi > lo else str(lo) for lo, hi in spans)
    kept = sorted(set(matrices) - set(hit))
    note = (f"layers {text} replaced: every weight matrix there differs from A by ‖Δ‖/‖A‖ ≥ {REPLACED_MIN_REL} "
            f"(weights from elsewhere), while {len(kept)} other layer(s) are not: a frankenmerge or layer swap")
    hit_set = set(hit)
    out = [replace(c, kind="layers_replaced", flagged=False, evidence=(note, *c.evidence))
           if c.layer in hit_set and c.rel_norm is not None else c for c in changes]
    return out, spans


def diff_models(a: Any, b: Any, *, top_k: int = 20, workers: int | None = None,
                allow_symlinks: bool = False) -> ModelDiff:
    """Compare model ``a`` with model ``b`` (paths or open TensorSets) tensor by tensor.

    ``allow_symlinks``: also follow links that leave a model folder (see :func:`open_tensors`).
    """
    n = workers or default_workers()
    with _opened(a, allow_symlinks) as ta, _opened(b, allow_symlinks) as tb:
        # Side by side: bytes equal in both models are compared, and hashed once (see digest_pair).
        da, db = digest_pair(ta, tb, workers=n)
        refs_a = {r.canonical: r for r in ta.refs}
        refs_b = {r.canonical: r for r in tb.refs}
        changes: list[TensorChange] = []
        for name in sorted(set(refs_a) - set(refs_b)):
            r = refs_a[name]
            changes.append(TensorChange(
                name=name, kind="removed", flagged=False, layer=layer_index(name), role=role(name),
                dtype_a=r.dtype, shape_a=tuple(r.shape), digest_a=da.tensors[name],
                evidence=(f"only in A ({r.dtype} {tuple(r.shape)})",)))
        for name in sorted(set(refs_b) - set(refs_a)):
            r = refs_b[name]
            changes.append(TensorChange(
                name=name, kind="added", flagged=False, layer=layer_index(name), role=role(name),
                dtype_b=r.dtype, shape_b=tuple(r.shape), digest_b=db.tensors[name],
                evidence=(f"only in B ({r.dtype} {tuple(r.shape)})",)))
        common = sorted(set(refs_a) & set(refs_b))
        differing = [name for name in common if da.tensors[name] != db.tensors[name]]
        # Largest first for load balance; numpy releases the GIL in the heavy kernels.
        differing.sort(key=lambda nm: -refs_a[nm].nbytes)
        jobs = [(refs_a[nm], refs_b[nm], da.tensors[nm], db.tensors[nm]) for nm in differing]
        pool_size = max(1, min(n, 4, len(jobs)))
        # BLAS threads per analysis thread. With 2 cores or fewer, one: even a lone changed tensor's rank
        # probe (2048 × 5632 Δ) took 0.7-1.0 s with 2 OpenBLAS threads on a busy 2-core machine, 0.07-0.12 s
        # with one (its products are small and latency-bound; OpenBLAS's spinning threads lose their core).
        blas = 1 if n <= 2 else max(1, n // pool_size)
        if jobs:  # identical models neither import threadpoolctl nor start a pool
            with _blas_threads(blas):
                if pool_size == 1:
                    changes.extend(_analyse(ta, tb, *job) for job in jobs)
                else:
                    with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="ww-diff") as pool:
                        changes.extend(pool.map(lambda job: _analyse(ta, tb, *job), jobs))
        changes.sort(key=lambda c: c.name)
        changes, replaced = _replaced_layers(changes, {n: tuple(refs_a[n].shape) for n in common})
        ranked = sorted((c for c in changes if c.rel_norm is not None), key=lambda c: -(c.rel_norm or 0.0))
        return ModelDiff(
            a=_side(ta, da), b=_side(tb, db), changes=tuple(changes),
            identical_tensors=len(common) - len(differing),
            layers=_layers(set(refs_a) | set(refs_b), changes),
            top=tuple(c.name for c in ranked[:top_k]),
            replaced_layers=replaced,
        )
