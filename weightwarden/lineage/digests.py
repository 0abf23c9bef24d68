"""Container-independent tensor digests and the **weights root** of a model.

Usage::

    from weightwarden.lineage.digests import digest_model
    digests = digest_model("model.gguf")          # or an open TensorSet
    print(digests.root)                           # 64 hex chars
    digests.tensors["model.layers.0.mlp.down_proj.weight"]

The same weights give the same digests and the same root whatever the container (safetensors, GGUF with
llama.cpp's Q/K row permutation, a PyTorch checkpoint or its converted safetensors), the sharding and the
order of tensors in the files, because everything is computed from canonical names and canonical bytes
(:meth:`TensorSet.canonical_chunks`: the stored bytes in Hugging Face element order).

Definitions (BLAKE3, 32-byte output, written ``H``; all integers big-endian)::

    tensor digest  = H( header || canonical bytes )
    header         = b"weightwarden.tensor.v1\\n" || dtype || b"\\n" || dims || b"\\n"
                     dtype: the stored element type, ASCII upper case ("F32", "F16", "BF16", "Q4_1", ...)
                     dims:  the logical shape in NumPy/HF order, decimal, joined by ","  ("" for a scalar)
    leaf(name, d)  = H( 0x00 || u32(len(name_utf8)) || name_utf8 || d )
    node(l, r)     = H( 0x01 || l || r )
    root           = MTH(leaves sorted by the UTF-8 bytes of the canonical name)

    MTH([])        = H(b"")
    MTH([x])       = x
    MTH(D[0:n])    = node( MTH(D[0:k]), MTH(D[k:n]) ),  k = the largest power of two < n

MTH is the Merkle Tree Hash of RFC 6962 §2.1 (Certificate Transparency) with a length-prefixed name in each
leaf, so a published root commits to every (name, digest) pair and an inclusion proof for a single tensor
is the usual audit path. The dtype is part of the digest on purpose: an F16 copy of F32 weights is not the
same weights (``weightwarden diff`` tells how they differ).

Why BLAKE3 and not SHA-256: measured on this project's machines (one core, hashlib with SHA-NI vs blake3
1.0), SHA-256 runs at 1.8 GB/s and BLAKE3 at 4.3 GB/s; ``diff`` must hash both models at a fair fraction of
the disk's read speed on a 2-core machine, which SHA-256 cannot reach. BLAKE3 is a cryptographic hash (a
root is safe to publish) and is already what :mod:`weightwarden.integrity` uses for tensor digests.

Work is spread over a thread pool (BLAKE3 releases the GIL on large updates; tensors of 32 MiB and more
also use BLAKE3's own threads), largest tensors first; memory is what ``canonical_chunks`` holds in flight
per worker, independent of the model size.

Two models side by side (:func:`digest_pair`, what ``weightwarden diff`` uses): a tensor present in both
with the same canonical name, dtype, shape and byte count is read from both maps in lockstep and its
canonical bytes are compared piece by piece (NumPy on 64-bit words, ~13 GB/s, several times BLAKE3's
speed); as long as they are equal only A's bytes are hashed, since B's digest is then the same by
definition. At the first differing piece the hasher is copied (``blake3.copy()``: the state after the
common prefix) and the two sides are hashed separately from there on. The digests are exactly those of
:func:`digest_model` on each model alone; a diff of two mostly identical models hashes each byte once.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.lineage.model import TensorRef

ALGORITHM = "blake3"
HEADER_TAG = b"weightwarden.tensor.v1\n"
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
# Below this a tensor is hashed on one thread; above it BLAKE3's own thread pool is worth its start-up.
THREADED_MIN = 32 << 20
# Side-by-side comparison granularity of :func:`digest_pair`: small enough that the piece just compared is
# still in cache when it is hashed, large enough that the per-piece Python overhead (~10 µs) is noise.
COMPARE_PIECE = 1 << 21

__all__ = [
    "ALGORITHM",
    "ModelDigests",
    "default_workers",
    "digest_model",
    "digest_pair",
    "digest_tensor_set",
    "merkle_root",
    "tensor_digest",
    "tensor_header",
    "weights_root",
]


@dataclass(frozen=True)
class ModelDigests:
    """The digests of one model: canonical name → tensor digest (hex), and their weights root (hex)."""

    path: str
    container: str
    tensors: Mapping[str, str]
    root: str
    algorithm: str = ALGORITHM
    total_bytes: int = 0
    dtypes: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "weightwarden.tensor-digests/v1",
            "path": self.path,
            "container": self.container,
            "algorithm": self.algorithm,
            "weights_root": self.root,
            "total_bytes": self.total_bytes,
            "tensors": [
                {"name": name, "dtype": self.dtypes.get(name), "digest": self.tensors[name]}
                for name in sorted(self.tensors, key=_name_key)
            ],
        }


def _new_hasher(threaded: bool = False) -> Any:
    import blake3  # lazy: the CLI's --help must not pay for it

    return blake3.blake3(max_threads=blake3.blake3.AUTO) if threaded else blake3.blake3()


def _h(data: bytes) -> bytes:
    return _new_hasher().update(data).digest()


def tensor_header(dtype: str, shape: Iterable[int]) -> bytes:
    """The canonical header hashed before a tensor's bytes (see the module docstring)."""
    dims = ",".join(str(int(d)) for d in shape)
    return HEADER_TAG + dtype.upper().encode("ascii") + b"\n" + dims.encode("ascii") + b"\n"


def tensor_digest(tensors: Any, ref: TensorRef, *, threaded: bool = True) -> str:
    """The digest (hex) of one tensor of an open :class:`TensorSet`, streamed chunk by chunk (on BLAKE3's
    own threads when ``threaded`` and the tensor is at least :data:`THREADED_MIN` bytes)."""
    hasher = _new_hasher(threaded=threaded and ref.nbytes >= THREADED_MIN)
    hasher.update(tensor_header(ref.dtype, ref.shape))
    for chunk in tensors.canonical_chunks(ref):
        hasher.update(chunk)
    return hasher.hexdigest()


def _name_key(name: str) -> bytes:
    return name.encode("utf-8", errors="surrogatepass")


def _leaf(name: str, digest: bytes) -> bytes:
    raw = _name_key(name)
    return _h(LEAF_PREFIX + struct.pack(">I", len(raw)) + raw + digest)


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash over already-hashed leaves (``node = H(0x01 || l || r)``)."""
    if not leaves:
        return _h(b"")
    level = leaves
    # Bottom-up evaluation of the RFC 6962 split (largest power of two < n on the left): pairing
    # neighbours and carrying an odd last node up unchanged builds exactly that tree.
    while len(level) > 1:
        nxt = [_h(NODE_PREFIX + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def weights_root(digests: Mapping[str, str]) -> str:
    """The weights root (hex) of ``{canonical name: tensor digest hex}``; order of the mapping is irrelevant."""
    names = sorted(digests, key=_name_key)
    return merkle_root([_leaf(name, bytes.fromhex(digests[name])) for name in names]).hex()


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 16))


def _model_digests(tensors: Any, refs: list[TensorRef], digests: dict[str, str]) -> ModelDigests:
    info = tensors.info
    return ModelDigests(
        path=str(info.path),
        container=str(info.container),
        tensors=digests,
        root=weights_root(digests),
        total_bytes=sum(r.nbytes for r in refs),
        dtypes={r.canonical: r.dtype for r in refs},
    )


def _run_largest_first(jobs: list[tuple[int, Any]], workers: int) -> list[Any]:
    """Run the callables of ``(size, job)`` pairs, largest first, on ``workers`` threads; results in order."""
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0])
    results: list[Any] = [None] * len(jobs)
    if workers == 1 or len(jobs) <= 1:
        for i in order:
            results[i] = jobs[i][1]()
        return results
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ww-digest") as pool:
        for i, result in zip(order, pool.map(lambda i: jobs[i][1](), order), strict=True):
            results[i] = result
    return results


def digest_tensor_set(tensors: Any, *, workers: int | None = None) -> ModelDigests:
    """Digest every tensor of an open :class:`TensorSet` on a thread pool, largest first."""
    refs: list[TensorRef] = list(tensors.refs)
    jobs = [(ref.nbytes, lambda ref=ref: tensor_digest(tensors, ref)) for ref in refs]
    results = _run_largest_first(jobs, workers or default_workers())
    return _model_digests(tensors, refs, {ref.canonical: d for ref, d in zip(refs, results, strict=True)})


def _aligned_pieces(a: Iterable[memoryview], b: Iterable[memoryview],
                    piece: int | None = None) -> Iterator[tuple[memoryview, memoryview]]:
    """Equal-length pieces (at most ``piece`` bytes, default :data:`COMPARE_PIECE`) of two byte streams of
    the same total length whose chunk boundaries may differ (a GGUF tensor with permuted rows is cut at
    row boundaries, a mapped one at fixed offsets)."""
    piece = piece or COMPARE_PIECE
    it_a, it_b = iter(a), iter(b)
    buf_a = buf_b = memoryview(b"")
    while True:
        if not buf_a:
            buf_a = memoryview(next(it_a, b"")).cast("B")
        if not buf_b:
            buf_b = memoryview(next(it_b, b"")).cast("B")
        if not buf_a or not buf_b:
            if buf_a or buf_b:
                raise ValueError("canonical byte streams of different lengths")
            return
        n = min(len(buf_a), len(buf_b), piece)
        yield buf_a[:n], buf_b[:n]
        buf_a, buf_b = buf_a[n:], buf_b[n:]


def _same_bytes(x: memoryview, y: memoryview) -> bool:
    """``x == y`` at memory speed (``memoryview ==`` compares element by element, ~0.6 GB/s)."""
    import numpy as np

    word = np.uint64 if len(x) % 8 == 0 else np.uint8
    return bool(np.array_equal(np.frombuffer(x, dtype=word), np.frombuffer(y, dtype=word)))


def _shared_digests(ta: Any, ra: TensorRef, tb: Any, rb: TensorRef, threaded: bool) -> tuple[str, str]:
    """Digests of a tensor of A and its namesake in B with the same header: B's bytes are compared with
    A's and only hashed from the first difference on (until then B's hasher state is A's)."""
    hasher_a = _new_hasher(threaded=threaded and ra.nbytes >= THREADED_MIN)
    hasher_a.update(tensor_header(ra.dtype, ra.shape))
    hasher_b = None
    for piece_a, piece_b in _aligned_pieces(ta.canonical_chunks(ra), tb.canonical_chunks(rb)):
        if hasher_b is None and not _same_bytes(piece_a, piece_b):
            hasher_b = hasher_a.copy()
        hasher_a.update(piece_a)
        if hasher_b is not None:
            hasher_b.update(piece_b)
    digest_a = hasher_a.hexdigest()
    return digest_a, (digest_a if hasher_b is None else hasher_b.hexdigest())


def same_weights(ta: Any, tb: Any) -> bool:
    """True when two open TensorSets hold exactly the same weights: the same canonical names, stored types
    and shapes, and equal canonical bytes. Stops at the first difference, so a fine-tune costs almost
    nothing; identical models cost one memory-speed comparison (their weights roots are then equal by
    definition of :func:`tensor_digest`)."""
    refs_a, refs_b = list(ta.refs), list(tb.refs)
    if [(r.canonical, r.dtype.upper(), tuple(r.shape), r.nbytes) for r in refs_a] != [
            (r.canonical, r.dtype.upper(), tuple(r.shape), r.nbytes) for r in refs_b]:
        return False
    for ra, rb in zip(refs_a, refs_b, strict=True):
        for piece_a, piece_b in _aligned_pieces(ta.canonical_chunks(ra), tb.canonical_chunks(rb)):
            if not _same_bytes(piece_a, piece_b):
                return False
    return True


def digest_pair(ta: Any, tb: Any, *, workers: int | None = None) -> tuple[ModelDigests, ModelDigests]:
    """The digests of two open TensorSets, each exactly as :func:`digest_tensor_set` gives it, hashing the
    bytes the two models share only once (see the module docstring).

    With several workers the pool alone spreads the work (one tensor per thread, largest first) and each
    hash runs on its thread: BLAKE3's own threads on top, fed the small pieces of the side-by-side
    comparison, were measured 15-20% slower on a busy 2-core machine.
    """
    n = workers or default_workers()
    threaded = n == 1
    refs_a: list[TensorRef] = list(ta.refs)
    refs_b: list[TensorRef] = list(tb.refs)
    by_name_b = {r.canonical: r for r in refs_b}
    jobs: list[tuple[int, Any]] = []
    keys: list[tuple[str | None, str | None]] = []  # (A's name, B's name) each job's result is for
    paired: set[str] = set()
    for ra in refs_a:
        rb = by_name_b.get(ra.canonical)
        if rb is not None and (ra.dtype.upper(), tuple(ra.shape), ra.nbytes) == (
                rb.dtype.upper(), tuple(rb.shape), rb.nbytes):
            paired.add(ra.canonical)
            jobs.append((ra.nbytes, lambda ra=ra, rb=rb: _shared_digests(ta, ra, tb, rb, threaded)))
            keys.append((ra.canonical, rb.canonical))
        else:
            jobs.append((ra.nbytes, lambda ra=ra: (tensor_digest(ta, ra, threaded=threaded), None)))
            keys.append((ra.canonical, None))
    for rb in refs_b:
        if rb.canonical not in paired:
            jobs.append((rb.nbytes, lambda rb=rb: (None, tensor_digest(tb, rb, threaded=threaded))))
            keys.append((None, rb.canonical))
    digests_a: dict[str, str] = {}
    digests_b: dict[str, str] = {}
    for (name_a, name_b), (da, db) in zip(keys, _run_largest_first(jobs, n), strict=True):
        if name_a is not None:
            digests_a[name_a] = da
        if name_b is not None:
            digests_b[name_b] = db
    return _model_digests(ta, refs_a, digests_a), _model_digests(tb, refs_b, digests_b)


def digest_model(model: str | os.PathLike[str] | Any, *, workers: int | None = None,
                 allow_symlinks: bool = False) -> ModelDigests:
    """Digests and weights root of the model at a path (file or folder) or of an open :class:`TensorSet`."""
    if isinstance(model, (str, os.PathLike)):
        from weightwarden.lineage.tensors import open_tensors

        tensors = open_tensors(Path(model), allow_symlinks=allow_symlinks)
        try:
            return digest_tensor_set(tensors, workers=workers)
        finally:
            tensors.close()
    return digest_tensor_set(model, workers=workers)
