"""The derivation test behind ``weightwarden lineage``: is model B derived from model A, from weights alone?

Usage::

    report = assess_lineage("base.gguf", "suspect-folder/")          # paths, or WeightSource objects
    report = assess_lineage(None, "suspect/", fingerprint=load_fingerprint("base.fp.json"))
    report.verdict, report.p_value, report.to_dict()

Method (details in ``docs/lineage.md``):

1. The hidden (residual) basis of B is expressed in A's through the token embeddings of the vocabulary the
   two share (tokens matched by their string): orthogonal Procrustes on those rows. This undoes neuron
   permutations and rotations of the residual stream (HuRef, Zeng et al. 2023; Zhu et al. 2025).
2. In every layer each MLP neuron is seen through its input weights (gate/up rows, the preceding norm folded
   in) and through its output weights (down column). Each view is matched A → B by linear assignment on
   cosine similarity (:func:`scipy.optimize.linear_sum_assignment`). A derived model gives two matchings
   that agree on most neurons; independent models give unrelated matchings whose number of agreements is
   ≈ Poisson(1) per layer (Zhu et al., "Independence Tests for Language Models", ICML 2025, match-and-compare).
3. The agreements of all layers add up to a Poisson(Σλ) count: its upper tail is the p-value. Layers whose
   own p-value passes a Bonferroni bound are reported as shared. The verdict is ``derived`` when
   ``p < alpha``; the false-positive rate over unrelated pairs is measured by
   ``benchmarks/lineage_calibration.py``.

Declared metadata (``base_model`` in configs, READMEs, GGUF keys) is reported for both models and never used as
evidence. Without a shared vocabulary or comparable MLP layers the verdict is ``inconclusive`` with the
reason. Tensors are loaded one at a time; the largest thing held is one embedding matrix per model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from weightwarden.lineage._align import (
    MAX_HIDDEN,
    MIN_SHARED_FRACTION,
    MIN_SHARED_TOKENS,
    LayerMatch,
    WeightSource,
    embedding_name,
    joined,
    match_test,
    mlp_blocks,
    neuron_views,
    opened,
    poisson_tail,
    procrustes,
    shared_token_ids,
    source_of,
    unit_rows,
)
from weightwarden.lineage.model import LineageError

if TYPE_CHECKING:
    from weightwarden.lineage.fingerprint import Fingerprint

__all__ = ["DEFAULT_ALPHA", "LayerEvidence", "LineageReport", "WeightSource", "assess_lineage"]

SCHEMA = "weightwarden.lineage-report/v1"
DEFAULT_ALPHA = 0.01
METHOD = "two-view MLP neuron matching after embedding Procrustes alignment; Poisson agreement test"
METHOD_IDENTICAL = "exact comparison of the canonical tensor bytes (weights root)"
METHOD_FINGERPRINT = "two-view MLP neuron matching on anchor-token profiles; Poisson agreement test"


@dataclass(frozen=True)
class LayerEvidence:
    """What one layer contributes: how many neurons the two views matched alike, and how unlikely that is."""

    layer: int
    neurons: int
    agreements: int
    expected: float
    similarity: float
    p_value: float
    log10_p: float
    shared: bool

    @classmethod
    def from_match(cls, layer: int, match: LayerMatch, bound: float) -> LayerEvidence:
        return cls(layer, match.neurons, match.agreements, match.expected, match.similarity, match.p_value,
                   match.log10_p, match.p_value < bound)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "neurons": self.neurons, "agreements": self.agreements,
            "expected_by_chance": round(self.expected, 6), "similarity": round(self.similarity, 6),
            "p_value": self.p_value, "log10_p": round(self.log10_p, 3), "shared": self.shared,
        }


@dataclass(frozen=True)
class LineageReport:
    """The answer to "is B derived from A?" with its evidence. ``a``/``b`` describe the models as declared."""

    verdict: str  # "derived" | "unrelated" | "inconclusive"
    reason: str
    score: float  # fraction of compared neurons whose two matchings agree (0 unrelated … 1 identical)
    p_value: float
    log10_p: float
    alpha: float
    a: dict[str, Any]
    b: dict[str, Any]
    method: str = METHOD
    shared_tokens: int = 0
    embedding_alignment: float | None = None  # mean cosine of aligned shared-token embedding rows
    layers: tuple[LayerEvidence, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def derived(self) -> bool:
        return self.verdict == "derived"

    @property
    def shared_layers(self) -> tuple[int, ...]:
        return tuple(e.layer for e in self.layers if e.shared)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "verdict": self.verdict,
            "reason": self.reason,
            "score": round(self.score, 6),
            "p_value": self.p_value,
            "log10_p": round(self.log10_p, 3) if np.isfinite(self.log10_p) else None,
            "alpha": self.alpha,
            "method": self.method,
            "a": self.a,
            "b": self.b,
            "declared_metadata_is_evidence": False,
            "shared_tokens": self.shared_tokens,
            "embedding_alignment": None if self.embedding_alignment is None else round(self.embedding_alignment, 6),
            "shared_layers": list(self.shared_layers),
            "layers": [e.to_dict() for e in self.layers],
            "notes": list(self.notes),
        }


def assess_lineage(
    a: str | Path | WeightSource | None,
    b: str | Path | WeightSource,
    *,
    fingerprint: Fingerprint | None = None,
    alpha: float = DEFAULT_ALPHA,
    allow_symlinks: bool = False,
) -> LineageReport:
    """Is B derived from A? ``a`` is a model path / :class:`WeightSource`, or None with a ``fingerprint`` of A.

    Raises :class:`~weightwarden.lineage.model.LineageError` when a model cannot be read (the message names
    the file); everything else that prevents a conclusion is an ``inconclusive`` report with its reason.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    if fingerprint is not None:
        if a is not None:
            raise ValueError("give either model A or a fingerprint of A, not both")
        with opened(b, allow_symlinks) as source_b:
            return _assess_fingerprint(fingerprint, source_b, alpha)
    if a is None:
        raise ValueError("model A (or a fingerprint of it) is required")
    if isinstance(a, WeightSource) or isinstance(b, WeightSource):
        with opened(a, allow_symlinks) as source_a, opened(b, allow_symlinks) as source_b:
            return _assess_weights(source_a, source_b, alpha)
    from weightwarden.lineage.digests import digest_tensor_set, same_weights
    from weightwarden.lineage.tensors import open_tensors

    with open_tensors(Path(a), allow_symlinks=allow_symlinks) as ta, \
            open_tensors(Path(b), allow_symlinks=allow_symlinks) as tb:
        source_a, source_b = source_of(ta, str(a)), source_of(tb, str(b))
        # Exact fast path: the same weights need no statistics (and the test would take seconds to say so).
        if same_weights(ta, tb):
            root = digest_tensor_set(ta).root
            return LineageReport(
                "derived", f"derived: identical weights (equal weights roots {root}); B is A", 1.0, 0.0,
                float("-inf"), alpha, source_a.summary(), source_b.summary(), method=METHOD_IDENTICAL,
                notes=(f"weights root {root}",))
        return _assess_weights(source_a, source_b, alpha)


def _inconclusive(reason: str, a: dict[str, Any], b: dict[str, Any], alpha: float, **extra: Any) -> LineageReport:
    return LineageReport("inconclusive", f"inconclusive: {reason}", 0.0, 1.0, 0.0, alpha, a, b, **extra)


def _vocabulary_problem(sa: WeightSource, sb: WeightSource) -> tuple[str | None, np.ndarray, np.ndarray, int]:
    """(reason the vocabularies cannot anchor an alignment or None, A rows, B rows, shared count)."""
    empty = np.zeros(0, dtype=np.int64)
    different_arch = bool(sa.architecture and sb.architecture and sa.architecture != sb.architecture)
    prefix = "different architectures and " if different_arch else ""
    if not sa.vocab or not sb.vocab:
        which = " and ".join(s.label for s in (sa, sb) if not s.vocab)
        return f"{prefix}no vocabulary found in {which}", empty, empty, 0
    ia, ib, total = shared_token_ids(sa.vocab, sb.vocab)
    smaller = min(sum(1 for t in sa.vocab if t), sum(1 for t in sb.vocab if t))
    if total < MIN_SHARED_TOKENS or total < MIN_SHARED_FRACTION * smaller:
        return f"{prefix}no shared vocabulary ({total} of {smaller} tokens in common)", ia, ib, total
    return None, ia, ib, total


def _verdict(matches: list[tuple[int, LayerMatch]], alpha: float) -> tuple[str, str, float, float, float,
                                                                             tuple[LayerEvidence, ...]]:
    agreements = sum(m.agreements for _, m in matches)
    expected = sum(m.expected for _, m in matches)
    neurons = sum(m.neurons for _, m in matches)
    p, log10_p = poisson_tail(agreements, expected)
    bound = alpha / max(1, len(matches))
    layers = tuple(LayerEvidence.from_match(i, m, bound) for i, m in matches)
    shared = sum(1 for e in layers if e.shared)
    summary = (f"{agreements} of {neurons} neurons matched alike by input and output weights "
               f"({expected:.2f} expected by chance); {shared} of {len(layers)} layers shared")
    verdict = "derived" if p < alpha else "unrelated"
    return verdict, summary, agreements / max(1, neurons), p, log10_p, layers


def _assess_weights(sa: WeightSource, sb: WeightSource, alpha: float) -> LineageReport:
    da, db = sa.summary(), sb.summary()
    problem, ia, ib, total = _vocabulary_problem(sa, sb)
    if problem:
        return _inconclusive(problem, da, db, alpha, shared_tokens=total)
    emb_a, emb_b = embedding_name(sa.names), embedding_name(sb.names)
    if emb_a is None or emb_b is None:
        missing = sa.label if emb_a is None else sb.label
        return _inconclusive(f"no token embedding in {missing}", da, db, alpha, shared_tokens=total)
    ea, eb = sa.load(emb_a), sb.load(emb_b)
    for src, emb, vocab in ((sa, ea, sa.vocab), (sb, eb, sb.vocab)):
        if emb.ndim != 2:
            raise LineageError(f"{src.label}: token embedding has shape {emb.shape}")
        if vocab is not None and emb.shape[0] < len(vocab) // 2:
            raise LineageError(f"{src.label}: token embedding has {emb.shape[0]} rows for {len(vocab)} tokens")
    for src, emb in ((sa, ea), (sb, eb)):
        if emb.shape[1] > MAX_HIDDEN:
            raise LineageError(f"{src.label}: hidden size {emb.shape[1]} above the {MAX_HIDDEN} this test aligns")
    keep = (ia < ea.shape[0]) & (ib < eb.shape[0])
    xa, xb = ea[ia[keep]], eb[ib[keep]]
    del ea, eb
    q = procrustes(xa, xb)
    alignment = float(np.mean(np.sum(unit_rows(xa @ q) * unit_rows(xb), axis=1)))
    hidden_a, hidden_b = q.shape

    blocks_a, blocks_b = mlp_blocks(sa.names), mlp_blocks(sb.names)
    common = sorted(set(blocks_a) & set(blocks_b))
    extra: dict[str, Any] = {"shared_tokens": total, "embedding_alignment": alignment}
    if not common:
        return _inconclusive("no comparable MLP layers", da, db, alpha, **extra)
    notes: list[str] = []
    if len(blocks_a) != len(blocks_b):
        notes.append(f"layer counts differ ({len(blocks_a)} vs {len(blocks_b)}); layers compared by index")
    matches: list[tuple[int, LayerMatch]] = []
    for idx in common:
        in_a, out_a = neuron_views(sa, blocks_a[idx], hidden_a)
        in_b, out_b = neuron_views(sb, blocks_b[idx], hidden_b)
        if len(in_a) != len(in_b):
            notes.append(f"layer {idx}: gated and ungated MLPs, compared through up projections only")
            in_a, in_b = in_a[-1:], in_b[-1:]
        rotated_in = joined([m @ q for m in in_a])
        matches.append((idx, match_test(rotated_in, out_a @ q, joined(in_b), out_b)))
    verdict, summary, score, p, log10_p, layers = _verdict(matches, alpha)
    return LineageReport(verdict, f"{verdict}: {summary}", score, p, log10_p, alpha, da, db, layers=layers,
                         notes=tuple(notes), **extra)


def _assess_fingerprint(fp: Fingerprint, sb: WeightSource, alpha: float) -> LineageReport:
    from weightwarden.lineage.fingerprint import compare_with_model

    da, db = fp.model_summary(), sb.summary()
    outcome = compare_with_model(fp, sb)
    extra: dict[str, Any] = {"method": METHOD_FINGERPRINT, "shared_tokens": outcome.anchors_found}
    if outcome.problem:
        return _inconclusive(outcome.problem, da, db, alpha, **extra)
    verdict, summary, score, p, log10_p, layers = _verdict(list(outcome.matches), alpha)
    return LineageReport(verdict, f"{verdict}: {summary}", score, p, log10_p, alpha, da, db, layers=layers,
                         notes=outcome.notes, **extra)
