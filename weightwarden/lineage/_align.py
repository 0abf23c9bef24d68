"""Shared machinery of the derivation test and the fingerprint: weight sources, alignment and the matching test.

Private to :mod:`weightwarden.lineage.derivation` and :mod:`weightwarden.lineage.fingerprint`. The pieces:

- :class:`WeightSource`: a model as "canonical name → array loader" plus its vocabulary, so the statistics run
  on an open :class:`~weightwarden.lineage.tensors.TensorSet` or on a plain mapping of NumPy arrays alike;
- :func:`mlp_blocks`: which tensors make each layer's MLP (gate / up / down and the norm in front of it);
- :func:`shared_token_ids` and :func:`procrustes`: the hidden (residual) basis of B expressed in A's, from the
  embedding rows of tokens both vocabularies contain (orthogonal Procrustes, Schönemann 1966), so that a
  permuted or rotated residual stream does not hide the origin (HuRef, Zeng et al. 2023, make the same point
  about invariances);
- :func:`match_test`: the two-view neuron matching test. Every MLP neuron is seen twice: through its input
  weights (gate/up rows) and through its output weights (its down-projection column). Each view is matched
  from A's neurons to B's with a linear assignment on cosine similarity. If B descends from A, both views
  recover the same neuron correspondence, so the two matchings agree on most neurons. If the models are
  independent, the two assignments are unrelated and the number of neurons on which they agree is the number
  of fixed points of a random permutation, ≈ Poisson(1) per layer (the matching-and-compare construction of
  Zhu et al., "Independence Tests for Language Models", ICML 2025, with agreement counting instead of their
  Spearman statistic). Per-layer counts add up to a Poisson(Σλ) count, whose upper tail is the p-value.
  Like Zhu et al.'s unconstrained test this p-value is exact only under that independence model; it is
  checked empirically over unrelated pairs by ``benchmarks/lineage_calibration.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.lineage.model import LineageError
from weightwarden.lineage.naming import layer_index, role

MAX_ALIGN_TOKENS = 8192  # Procrustes needs a few times the hidden size of rows; more only costs time
MIN_SHARED_FRACTION = 0.5  # of the smaller vocabulary: below this the vocabularies are not "shared"
MIN_SHARED_TOKENS = 32
MAX_MATCH_ROWS = 2048  # neurons per layer matched at most (similarity matrices are rows × columns)
MAX_HIDDEN = 16384  # widest residual stream aligned (Procrustes works on hidden × hidden matrices)

# The norm applied to the MLP's input, per family (its weight is folded into the input rows, see neuron_views).
_MLP_NORMS = ("post_attention_layernorm.weight", "attention.output.LayerNorm.weight")


@dataclass(frozen=True)
class WeightSource:
    """One model as the statistics see it: canonical tensor names, a loader, vocabulary and declared facts."""

    label: str
    names: tuple[str, ...]
    load: Callable[[str], np.ndarray]
    architecture: str | None = None
    vocab: tuple[str, ...] | None = None
    declared_base_model: str | None = None
    container: str | None = None

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], *, vocab: tuple[str, ...] | list[str] | None = None,
        architecture: str | None = None, label: str = "<arrays>", declared_base_model: str | None = None,
    ) -> WeightSource:
        """A source over in-memory arrays keyed by canonical name (tests, derived views)."""
        return cls(
            label=label, names=tuple(sorted(arrays)),
            load=lambda name: np.asarray(arrays[name], dtype=np.float32),
            architecture=architecture, vocab=tuple(vocab) if vocab is not None else None,
            declared_base_model=declared_base_model, container="memory",
        )

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.label, "container": self.container, "architecture": self.architecture,
            "vocab_size": len(self.vocab) if self.vocab is not None else None,
            "declared_base_model": self.declared_base_model,
        }


@contextmanager
def opened(model: str | Path | WeightSource, allow_symlinks: bool = False) -> Iterator[WeightSource]:
    """A :class:`WeightSource` for a path (opened with ``open_tensors``, closed on exit) or a source as is."""
    if isinstance(model, WeightSource):
        yield model
        return
    from weightwarden.lineage.tensors import open_tensors

    with open_tensors(Path(model), allow_symlinks=allow_symlinks) as tensors:
        yield source_of(tensors, str(model))


def source_of(tensors: Any, label: str) -> WeightSource:
    """A :class:`WeightSource` over an open :class:`~weightwarden.lineage.tensors.TensorSet` (the caller
    closes it)."""
    info = tensors.info

    def load(name: str) -> np.ndarray:
        ref = tensors.get(name)
        if ref is None:
            raise LineageError(f"{info.path}: no tensor {name}")
        return tensors.load(ref, np.float32)

    return WeightSource(
        label=label, names=tuple(r.canonical for r in tensors.refs), load=load,
        architecture=info.architecture, vocab=info.vocab, declared_base_model=info.declared_base_model,
        container=info.container,
    )


@dataclass(frozen=True)
class MlpBlock:
    """The canonical names of one layer's MLP."""

    layer: int
    up: str
    down: str
    gate: str | None = None
    norm: str | None = None


def mlp_blocks(names: tuple[str, ...]) -> dict[int, MlpBlock]:
    """Every layer that has an up and a down projection (weights only), by layer index."""
    per_layer: dict[int, dict[str, str]] = {}
    for name in names:
        idx = layer_index(name)
        if idx is None:
            continue
        parts = per_layer.setdefault(idx, {})
        r = role(name)
        if name.endswith(".weight") and r in ("mlp_up", "mlp_down", "mlp_gate"):
            parts[r] = name
        elif r == "norm" and name.endswith(_MLP_NORMS):
            parts["norm"] = name
    return {
        idx: MlpBlock(idx, p["mlp_up"], p["mlp_down"], p.get("mlp_gate"), p.get("norm"))
        for idx, p in sorted(per_layer.items()) if "mlp_up" in p and "mlp_down" in p
    }


def embedding_name(names: tuple[str, ...]) -> str | None:
    """The token embedding (the LM head when a model stores only that)."""
    for wanted in ("embed", "lm_head"):
        for name in names:
            if role(name) == wanted and name.endswith(".weight"):
                return name
    return None


def _token_key(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def shared_token_ids(
    vocab_a: tuple[str, ...], vocab_b: tuple[str, ...], limit: int = MAX_ALIGN_TOKENS,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Row indices (in A, in B) of tokens both vocabularies spell alike, and how many are shared in all.

    At most ``limit`` are returned, chosen by a hash of the token string so the choice is deterministic and
    does not depend on either model's token order. Empty strings (holes in a vocabulary) never count.
    """
    first_b: dict[str, int] = {}
    for i, tok in enumerate(vocab_b):
        if tok:
            first_b.setdefault(tok, i)
    seen: set[str] = set()
    pairs: list[tuple[bytes, int, int]] = []
    for i, tok in enumerate(vocab_a):
        if tok and tok not in seen and tok in first_b:
            seen.add(tok)
            pairs.append((_token_key(tok), i, first_b[tok]))
    total = len(pairs)
    pairs.sort()
    pairs = pairs[:limit]
    ia = np.array([p[1] for p in pairs], dtype=np.int64)
    ib = np.array([p[2] for p in pairs], dtype=np.int64)
    return ia, ib, total


def procrustes(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """The orthogonal (semi-orthogonal if widths differ) ``Q`` minimising ``|xa @ Q - xb|``: A's basis → B's."""
    if max(xa.shape[1], xb.shape[1]) > MAX_HIDDEN:
        raise LineageError(f"hidden size {max(xa.shape[1], xb.shape[1])} above the {MAX_HIDDEN} this test aligns")
    u, _, vt = np.linalg.svd(xa.T.astype(np.float64) @ xb.astype(np.float64), full_matrices=False)
    return (u @ vt).astype(np.float32)


def unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


def neuron_views(source: WeightSource, block: MlpBlock, hidden: int) -> tuple[list[np.ndarray], np.ndarray]:
    """(input blocks, output rows) of one layer's neurons, each row in the residual basis (width ``hidden``).

    The input view is the gate and up rows with the preceding norm's weight folded in (``W·diag(γ)``), the
    form a rotation of the residual stream leaves equivariant (RMSNorm commutes with rotations only once γ is
    folded into the next linear layer, as SliceGPT does). The output view is the down projection's columns.
    """
    up = source.load(block.up)
    down = source.load(block.down)
    if up.ndim != 2 or down.ndim != 2 or up.shape[1] != hidden or down.shape[0] != hidden \
            or down.shape[1] != up.shape[0]:
        raise LineageError(
            f"{source.label}: layer {block.layer} MLP shapes {up.shape} / {down.shape} do not fit hidden size {hidden}"
        )
    gamma = None
    if block.norm is not None:
        g = source.load(block.norm).reshape(-1)
        gamma = g if g.shape[0] == hidden else None
    inputs = [up]
    if block.gate is not None:
        gate = source.load(block.gate)
        if gate.shape == up.shape:
            inputs.insert(0, gate)
    if gamma is not None:
        inputs = [m * gamma[None, :] for m in inputs]
    return inputs, np.ascontiguousarray(down.T)


def joined(blocks: list[np.ndarray]) -> np.ndarray:
    """Unit-normalise each block's rows and put them side by side, so gate and up weigh the same."""
    return np.concatenate([unit_rows(b) for b in blocks], axis=1) / np.sqrt(len(blocks))


@dataclass(frozen=True)
class LayerMatch:
    """The outcome of the two-view matching on one layer."""

    neurons: int  # neurons matched (rows of the smaller side)
    agreements: int  # neurons on which the input-view and output-view matchings agree
    expected: float  # expected agreements under independence (λ of the Poisson null)
    similarity: float  # mean cosine of the input-view matched pairs
    p_value: float
    log10_p: float


def _assign(sim: np.ndarray) -> np.ndarray:
    """Column assigned to each row by a maximum-similarity linear assignment (rows ≤ columns)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(sim, maximize=True)
    out = np.full(sim.shape[0], -1, dtype=np.int64)
    out[rows] = cols
    return out


def match_test(in_a: np.ndarray, out_a: np.ndarray, in_b: np.ndarray, out_b: np.ndarray) -> LayerMatch:
    """The two-view matching test for one layer; rows are neurons, all four already in a common basis."""
    if in_a.shape[0] > in_b.shape[0]:  # assignment wants rows ≤ columns; the statistic is symmetric
        in_a, out_a, in_b, out_b = in_b, out_b, in_a, out_a
    if in_a.shape[0] > MAX_MATCH_ROWS:
        # Large MLPs: an evenly spaced subset of rows keeps memory and assignment time bounded; the test
        # stays valid (it only needs rows matched into columns) and a derived model still agrees on nearly all.
        keep = np.linspace(0, in_a.shape[0] - 1, MAX_MATCH_ROWS).astype(np.int64)
        in_a, out_a = in_a[keep], out_a[keep]
    sim_in = unit_rows(in_a) @ unit_rows(in_b).T
    sim_out = unit_rows(out_a) @ unit_rows(out_b).T
    match_in = _assign(sim_in)
    match_out = _assign(sim_out)
    agreements = int(np.sum(match_in == match_out))
    n = sim_in.shape[0]
    # Null: the pairing of a neuron's input view with its own output view is no better than a random
    # re-pairing of the n rows. A random re-pairing σ agrees on row i iff match_out(σ(i)) = match_in(i), which
    # needs match_in(i) among the columns match_out uses: |both images| / n agreements expected (≈ Poisson).
    # With a full bijection that is 1 (fixed points of a random permutation); when few rows are matched into
    # many columns it also absorbs "hub" columns both views prefer.
    expected = len(np.intersect1d(match_in[match_in >= 0], match_out[match_out >= 0])) / max(1, n)
    p, log10_p = poisson_tail(agreements, expected)
    similarity = float(np.mean(sim_in[np.arange(n), match_in])) if n else 0.0
    return LayerMatch(n, agreements, expected, similarity, p, log10_p)


def poisson_tail(k: int, lam: float) -> tuple[float, float]:
    """P(X ≥ k) for X ~ Poisson(lam), and its log10 (finite even when the probability underflows)."""
    from scipy.stats import poisson

    if k <= 0:
        return 1.0, 0.0
    log_p = float(poisson.logsf(k - 1, lam))
    if not np.isfinite(log_p):
        # Far in the tail logsf underflows; there P(X ≥ k) = pmf(k)·(1 + λ/(k+1) + …) ≤ pmf(k)/(1 - λ/(k+1)).
        log_p = float(poisson.logpmf(k, lam)) - float(np.log1p(-lam / (k + 1)))
    return float(np.exp(log_p)), log_p / float(np.log(10))
