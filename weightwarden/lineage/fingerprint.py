"""Publishable model fingerprints (``weightwarden fingerprint``) and their comparison with a suspect model.

Usage::

    fp = make_fingerprint("base-model/")            # digests + similarity sketch
    Path("base.fp.json").write_text(fp.to_json())
    fp = load_fingerprint("base.fp.json")
    report = assess_lineage(None, "suspect/", fingerprint=fp)   # weightwarden.lineage.derivation

A fingerprint (JSON, schema ``weightwarden.fingerprint/v1``, typically a few tens of KB) holds:

- the **weights root** and per-tensor digests of :mod:`weightwarden.lineage.digests` (exact identity);
- a **similarity sketch** that survives fine-tuning, quantisation, format change, neuron permutation and
  rotation of the residual stream. A fixed set of anchor tokens is chosen deterministically from the
  vocabulary (by a hash of the token string). Their embedding rows, centred and unit-normalised, are probes
  ``P`` (k × hidden). For a neuron with input rows ``w`` (gate/up, norm weight folded in) and output column
  ``o`` (down projection), the profiles ``P·w`` and ``P·o`` are invariant to any orthogonal change of the
  residual basis (``P`` rotates with it) and move with the neuron under permutations. For a few neurons per
  layer (the largest input profiles) both profiles are stored, quantised to int8.

Comparison (:func:`compare_with_model`) computes the same profiles for *all* neurons of B with the same
anchor tokens looked up in B's vocabulary, matches the stored neurons to B's by linear assignment in each
view separately, and counts agreements: the two-view test of :mod:`weightwarden.lineage._align`, with
``m / n`` agreements expected by chance per layer. Anchors missing from B's vocabulary make it inconclusive.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.core import strict_json
from weightwarden.lineage._align import (
    LayerMatch,
    WeightSource,
    embedding_name,
    joined,
    match_test,
    mlp_blocks,
    neuron_views,
    source_of,
    unit_rows,
)
from weightwarden.lineage.model import LineageError

SCHEMA = "weightwarden.fingerprint/v1"
ANCHORS = 32
NEURONS_PER_LAYER = 10  # at least, per layer
NEURON_BUDGET = 320  # stored neurons in all; shallow models store more per layer (at most a quarter of each)
MIN_ANCHOR_FRACTION = 0.75  # of the anchors B's vocabulary must contain
MAX_FINGERPRINT_BYTES = 16 * 1024 * 1024


class FingerprintError(LineageError):
    """A fingerprint file that cannot be used (unreadable, wrong schema, malformed); names the file."""


@dataclass(frozen=True)
class LayerSketch:
    """Stored profiles of a few neurons of one layer: rows are neurons, int8, one scale per row dropped
    (the comparison is by cosine). ``in_blocks`` is 2 for gated MLPs (gate | up), else 1."""

    layer: int
    in_blocks: int
    inputs: np.ndarray  # (m, in_blocks * k) int8
    outputs: np.ndarray  # (m, k) int8


@dataclass(frozen=True)
class Fingerprint:
    """A model's fingerprint: identity (digests, weights root) and the similarity sketch."""

    model: dict[str, Any]
    anchors: tuple[str, ...]
    layers: tuple[LayerSketch, ...]
    weights_root: str | None = None
    digest_algorithm: str | None = None
    tensors: dict[str, str] = field(default_factory=dict)

    def model_summary(self) -> dict[str, Any]:
        return {**self.model, "fingerprint": True, "weights_root": self.weights_root}

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "model": self.model,
            "weights_root": self.weights_root,
            "digest_algorithm": self.digest_algorithm,
            "tensors": [{"name": n, "digest": d} for n, d in sorted(self.tensors.items())],
            "sketch": {
                "anchors": list(self.anchors),
                "neurons_per_layer": max((s.inputs.shape[0] for s in self.layers), default=0),
                "layers": [
                    {"layer": s.layer, "in_blocks": s.in_blocks, "neurons": int(s.inputs.shape[0]),
                     "inputs": _b64(s.inputs), "outputs": _b64(s.outputs)}
                    for s in self.layers
                ],
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "<fingerprint>") -> Fingerprint:
        try:
            if not isinstance(data, dict) or data.get("schema") != SCHEMA:
                found = data.get("schema") if isinstance(data, dict) else type(data).__name__
                raise FingerprintError(f"{where}: not a {SCHEMA} fingerprint (schema {found!r})")
            sketch = data["sketch"]
            anchors = tuple(str(a) for a in sketch["anchors"])
            k = len(anchors)
            layers = []
            for entry in sketch["layers"]:
                m, blocks = int(entry["neurons"]), int(entry["in_blocks"])
                if not (k > 0 and m > 0 and blocks in (1, 2)):
                    raise FingerprintError(f"{where}: layer entry with {m} neurons, {blocks} input blocks")
                layers.append(LayerSketch(
                    int(entry["layer"]), blocks, _unb64(entry["inputs"], (m, blocks * k), where),
                    _unb64(entry["outputs"], (m, k), where),
                ))
            tensors = {str(t["name"]): str(t["digest"]) for t in data.get("tensors") or ()}
            model = data.get("model") or {}
            if not isinstance(model, dict):
                raise FingerprintError(f"{where}: 'model' is not an object")
            return cls(model, anchors, tuple(layers), data.get("weights_root"), data.get("digest_algorithm"),
                       tensors)
        except FingerprintError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FingerprintError(f"{where}: malformed fingerprint ({exc.__class__.__name__}: {exc})") from None


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=np.int8).tobytes()).decode("ascii")


def _unb64(text: str, shape: tuple[int, int], where: str) -> np.ndarray:
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != shape[0] * shape[1]:
        raise FingerprintError(f"{where}: profile block of {len(raw)} bytes, expected {shape[0] * shape[1]}")
    return np.frombuffer(raw, dtype=np.int8).reshape(shape)


def load_fingerprint(path: str | os.PathLike[str]) -> Fingerprint:
    """Read and validate a fingerprint JSON file (bounded size); raises :class:`FingerprintError`."""
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_bounded

    p = Path(path)
    try:
        # Red team round 5 (class 3): the size was taken by stat() and then read_text() read everything, so
        # /dev/zero (size 0) or a growing file exhausted memory and a FIFO blocked; now a regular file only,
        # read to at most the bound from one descriptor.
        raw = read_bounded(p, "fingerprint", MAX_FINGERPRINT_BYTES)
        data = strict_json.loads(raw.decode("utf-8"))
    except strict_json.StrictJSONError as exc:  # before InputError, its base class
        raise FingerprintError(f"{p}: {exc.reason}") from None
    except InputError as exc:
        raise FingerprintError(exc.reason) from None
    except UnicodeDecodeError as exc:
        raise FingerprintError(f"{p}: not JSON ({exc})") from None
    return Fingerprint.from_dict(data, str(p))


def _is_anchor_candidate(token: str) -> bool:
    # Special and control tokens differ between releases of a tokenizer; plain word pieces do not.
    if len(token) < 2 or not token.isprintable():
        return False
    return (token[0], token[-1]) not in (("<", ">"), ("[", "]"))


def choose_anchors(vocab: tuple[str, ...], rows: int, k: int = ANCHORS) -> tuple[str, ...]:
    """``k`` anchor tokens, deterministic in the vocabulary's *strings* (not its order): smallest SHA-256."""
    seen: set[str] = set()
    keyed = []
    for tok in vocab[:rows]:
        if tok not in seen and _is_anchor_candidate(tok):
            seen.add(tok)
            keyed.append((hashlib.sha256(tok.encode("utf-8", "surrogatepass")).digest(), tok))
    keyed.sort()
    return tuple(tok for _, tok in keyed[:k])


def _probes(source: WeightSource, anchors: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(probe matrix for the anchors B has, mask of the anchors found) from ``source``'s embeddings."""
    emb_name = embedding_name(source.names)
    if emb_name is None or not source.vocab:
        raise LineageError(f"{source.label}: no token embedding or no vocabulary to probe")
    emb = source.load(emb_name)
    index: dict[str, int] = {}
    for i, tok in enumerate(source.vocab[: emb.shape[0]]):
        index.setdefault(tok, i)
    found = np.array([a in index for a in anchors], dtype=bool)
    rows = emb[[index[a] for a in anchors if a in index]].astype(np.float32)
    if rows.shape[0] == 0:
        return rows, found
    rows = rows - rows.mean(axis=0, keepdims=True)
    return unit_rows(rows), found


def _profiles(source: WeightSource, block: Any, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(input profiles, output profiles, input blocks, size of each neuron's raw input profile)."""
    inputs, outputs = neuron_views(source, block, probes.shape[1])
    raw = [m @ probes.T for m in inputs]
    size = np.sqrt(sum(np.sum(r * r, axis=1) for r in raw))
    return joined(raw), outputs @ probes.T, len(inputs), size


def _quantise(rows: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(rows).max(axis=1, keepdims=True), 1e-12)
    return np.clip(np.rint(rows / scale * 127.0), -127, 127).astype(np.int8)


def make_fingerprint(
    model: str | os.PathLike[str] | WeightSource, *, anchors: int = ANCHORS, neurons: int = NEURONS_PER_LAYER,
    digests: bool = True, allow_symlinks: bool = False,
) -> Fingerprint:
    """The fingerprint of the model at ``model`` (path) or of a :class:`WeightSource` (no digests then)."""
    if isinstance(model, WeightSource):
        return _fingerprint(model, anchors, neurons, None)
    from weightwarden.lineage.digests import digest_tensor_set
    from weightwarden.lineage.tensors import open_tensors

    # One opening serves both the digests and the sketch (headers, config and tokenizer are read once).
    with open_tensors(Path(model), allow_symlinks=allow_symlinks) as tensors:
        d = digest_tensor_set(tensors) if digests else None
        return _fingerprint(source_of(tensors, str(Path(model))), anchors, neurons, d)


def _fingerprint(source: WeightSource, anchors: int, neurons: int, d: Any) -> Fingerprint:
    """The sketch of an open source, with the identity part from ``d`` (:class:`ModelDigests` or None)."""
    root, algorithm, tensor_digests = (d.root, d.algorithm, dict(d.tensors)) if d is not None else (None, None, {})
    emb_name = embedding_name(source.names)
    if emb_name is None or not source.vocab:
        raise LineageError(f"{source.label}: a fingerprint needs a token embedding and a vocabulary")
    rows = source.load(emb_name).shape[0]
    chosen = choose_anchors(source.vocab, rows, anchors)
    if len(chosen) < 8:
        raise LineageError(f"{source.label}: only {len(chosen)} usable anchor tokens in the vocabulary")
    probes, _ = _probes(source, chosen)
    sketches = []
    blocks_by_layer = mlp_blocks(source.names)
    per_layer = max(neurons, NEURON_BUDGET // max(1, len(blocks_by_layer)))
    for idx, block in blocks_by_layer.items():
        inp, out, blocks, size = _profiles(source, block, probes)
        count = min(per_layer, max(neurons, inp.shape[0] // 4))
        # The neurons the anchors excite most: their profiles stand out most clearly from noise.
        keep = np.sort(np.argsort(-size, kind="stable")[:count])
        sketches.append(LayerSketch(idx, blocks, _quantise(inp[keep]), _quantise(out[keep])))
    if not sketches:
        raise LineageError(f"{source.label}: no MLP layers to sketch")
    summary = source.summary()
    return Fingerprint(summary, chosen, tuple(sketches), root, algorithm, tensor_digests)


@dataclass(frozen=True)
class Comparison:
    """What comparing a fingerprint with a model found: per-layer matches, or the reason there are none."""

    matches: tuple[tuple[int, LayerMatch], ...] = ()
    problem: str | None = None
    anchors_found: int = 0
    notes: tuple[str, ...] = ()


def compare_with_model(fp: Fingerprint, source: WeightSource) -> Comparison:
    """Run the two-view matching test between a fingerprint's stored neurons and all of B's neurons."""
    k = len(fp.anchors)
    different_arch = bool(fp.model.get("architecture") and source.architecture
                          and fp.model.get("architecture") != source.architecture)
    if not source.vocab:
        return Comparison(problem="no vocabulary in B to look the fingerprint's anchor tokens up")
    probes, found = _probes(source, fp.anchors)
    n_found = int(found.sum())
    if n_found < MIN_ANCHOR_FRACTION * k:
        prefix = "different architectures and " if different_arch else ""
        return Comparison(problem=f"{prefix}anchor tokens missing from B's vocabulary ({n_found} of {k} found)",
                          anchors_found=n_found)
    blocks_b = mlp_blocks(source.names)
    notes: list[str] = []
    if n_found < k:
        notes.append(f"{k - n_found} of {k} anchor tokens missing from B; compared on the rest")
    matches: list[tuple[int, LayerMatch]] = []
    for sketch in fp.layers:
        block = blocks_b.get(sketch.layer)
        if block is None:
            continue
        in_b, out_b, blocks, _ = _profiles(source, block, probes)
        cols = np.concatenate([found] * sketch.in_blocks)
        in_a = sketch.inputs.astype(np.float32)[:, cols]
        if blocks != sketch.in_blocks:
            notes.append(f"layer {sketch.layer}: gated and ungated MLPs, compared through up projections only")
            in_a = in_a[:, -n_found:]
            in_b = in_b[:, -n_found:]
        out_a = sketch.outputs.astype(np.float32)[:, found]
        matches.append((sketch.layer, match_test(in_a, out_a, in_b, out_b)))
    if not matches:
        return Comparison(problem="no comparable MLP layers", anchors_found=n_found)
    if len(matches) < len(fp.layers):
        notes.append(f"{len(fp.layers) - len(matches)} fingerprinted layers have no counterpart in B")
    return Comparison(tuple(matches), None, n_found, tuple(notes))
