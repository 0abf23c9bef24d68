"""Merkle tree math of the transparency log: RFC 6962 / RFC 9162 hashing, proofs and their verification.

The log keeps its tree as *stored hashes*: the hash of every complete subtree, each at a fixed integer
position, so appending leaf ``n`` only adds the hashes of the subtrees that leaf completes (the leaf itself,
then one more per trailing one bit of ``n``) and never rewrites anything. This is the layout of the Go
checksum database (``golang.org/x/mod/sumdb/tlog``), derived here from the tree itself: the subtree of
height ``level`` and index ``k`` is completed when leaf ``((k + 1) << level) - 1`` is appended, and is the
``level``-th hash stored by that append. Any tree size's root and any inclusion or consistency proof is
computed from these complete-subtree hashes; nothing else is ever stored.

Proofs follow RFC 9162 §2.1.3 (inclusion: sibling of the leaf first, up to the child of the root) and
§2.1.4 (consistency), which are the RFC 6962 §2.1.1/§2.1.2 paths. Verification raises :class:`ProofError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from weightwarden.core.errors import WeightwardenError
from weightwarden.core.merkle import HASH_SIZE, empty_root, leaf_hash, node_hash

# A tree larger than 2^63 leaves cannot be named in a checkpoint (C2SP sizes are uint64 and the
# cosignature timestamp rules use 2^63); refusing bigger numbers keeps every index arithmetic bounded.
MAX_TREE_SIZE = (1 << 63) - 1
# ceil(log2(2^63)) + 1: no valid inclusion or consistency proof is longer.
MAX_PROOF_LENGTH = 64


class ProofError(WeightwardenError):
    """A Merkle proof, tree size or hash that does not verify or cannot exist."""


class HashReader(Protocol):
    """Where stored hashes come from: a list in memory, a database table, tiles fetched over HTTP."""

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        """The stored hashes at ``indexes``, in the same order; raise if one is not available."""
        ...


def _check_size(tree_size: int, what: str = "tree size") -> None:
    if not isinstance(tree_size, int) or isinstance(tree_size, bool) or not 0 <= tree_size <= MAX_TREE_SIZE:
        raise ProofError(f"{what} {tree_size!r} is not an integer between 0 and 2^63-1")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte SHA-256 hash")


def _count(n: int) -> int:
    # sum over k >= 0 of floor(n / 2^k) == 2n - popcount(n) (a one bit at position j contributes 2^(j+1) - 1).
    return 2 * n - n.bit_count()


def _index(level: int, n: int) -> int:
    # The subtree is completed by leaf ((n + 1) << level) - 1, and is the level-th hash that append stores.
    return _count(((n + 1) << level) - 1) + level


def stored_hash_count(tree_size: int) -> int:
    """How many hashes a tree of ``tree_size`` leaves has stored: one per complete subtree."""
    _check_size(tree_size)
    return _count(tree_size)


def stored_hash_index(level: int, n: int) -> int:
    """The storage position of the hash of the complete subtree of height ``level`` with index ``n``
    (covering leaves ``[n << level, (n + 1) << level)``)."""
    if level < 0 or n < 0 or level > 63:
        raise ProofError(f"no stored hash at level {level}, index {n}")
    _check_size((n + 1) << level, "subtree end")
    return _index(level, n)


_MAX_INDEX = _count(MAX_TREE_SIZE)


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The ``(level, n)`` of the subtree whose hash is stored at ``index``; inverse of stored_hash_index."""
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < _MAX_INDEX:
        raise ProofError(f"stored hash index {index!r} is out of range")
    # The append of leaf m stores its hashes at [count(m), count(m + 1)). Since 2m - 64 <= count(m) <= 2m,
    # that m lies within a few dozen of index / 2: start just below and walk up.
    leaf = max(0, index // 2 - 1)
    while _count(leaf + 1) <= index:
        leaf += 1
    level = index - _count(leaf)
    return level, ((leaf + 1) >> level) - 1


def _read(reader: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = reader.read_hashes(indexes)
    if len(hashes) != len(indexes):
        raise ProofError(f"hash reader returned {len(hashes)} hashes for {len(indexes)} requested")
    for h in hashes:
        _check_hash(h, "a stored hash")
    return [bytes(h) for h in hashes]


def stored_hashes_for_leaf_hash(n: int, leaf: bytes, reader: HashReader) -> list[bytes]:
    """The hashes to store when appending the leaf with hash ``leaf`` as record ``n`` (the tree has ``n``
    leaves before): they belong at ``stored_hash_count(n) ... stored_hash_count(n + 1) - 1`` in order."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ProofError(f"record number {n!r} is not a non-negative integer")
    _check_size(n + 1)
    _check_hash(leaf, "the leaf hash")
    # Each trailing one bit of n means a left sibling subtree is complete and now gets a right partner.
    siblings: list[int] = []
    k, level = n, 0
    while k & 1:
        siblings.append(_index(level, k - 1))
        k >>= 1
        level += 1
    left_hashes = _read(reader, siblings)
    out = [bytes(leaf)]
    current = bytes(leaf)
    for left in left_hashes:
        current = node_hash(left, current)
        out.append(current)
    return out


def stored_hashes_for_append(n: int, entry: bytes, reader: HashReader) -> list[bytes]:
    """:func:`stored_hashes_for_leaf_hash` for the entry bytes ``entry`` (hashed here as an RFC 6962 leaf)."""
    return stored_hashes_for_leaf_hash(n, leaf_hash(entry), reader)


def _largest_power_of_two_below(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2): the RFC 6962 split point."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` whose concatenation is the leaf range ``[lo, hi)``.

    Every range the RFC 6962 recursion asks about starts at a multiple of the largest power of two not
    above its length, so greedily taking the biggest aligned subtree from the left covers it exactly.
    """
    out: list[tuple[int, int]] = []
    while lo < hi:
        size = 1 << ((hi - lo).bit_length() - 1)
        while lo % size:
            size >>= 1
        level = size.bit_length() - 1
        out.append((level, lo >> level))
        lo += size
    return out


def _range_hashes(ranges: list[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """MTH(D[lo:hi]) for each range, reading every needed stored hash in one call."""
    plans = [_subtrees(lo, hi) for lo, hi in ranges]
    indexes = sorted({_index(level, k) for plan in plans for level, k in plan})
    by_index = dict(zip(indexes, _read(reader, indexes), strict=True))
    out: list[bytes] = []
    for plan in plans:
        parts = [by_index[_index(level, k)] for level, k in plan]
        # Subtrees shrink left to right, so the RFC 6962 tree over them folds from the right.
        h = parts[-1]
        for left in reversed(parts[:-1]):
            h = node_hash(left, h)
        out.append(h)
    return out


def tree_hash(tree_size: int, reader: HashReader) -> bytes:
    """The RFC 6962 Merkle Tree Hash (root) of the first ``tree_size`` leaves."""
    _check_size(tree_size)
    if tree_size == 0:
        return empty_root()
    return _range_hashes([(0, tree_size)], reader)[0]


def _inclusion_ranges(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    # RFC 6962 §2.1.1 PATH(m, D[lo:hi]), iteratively; collected root-first, returned leaf-first.
    out: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def inclusion_proof(tree_size: int, index: int, reader: HashReader) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``tree_size`` leaves (leaf's sibling first)."""
    _check_size(tree_size)
    if not isinstance(index, int) or not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index!r} is not in a tree of size {tree_size}")
    return _range_hashes(_inclusion_ranges(index, 0, tree_size), reader)


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges ``[lo, hi)`` whose tree hashes, in order, are the inclusion proof of leaf ``index`` in
    the tree of ``tree_size`` leaves. A range's hash never changes (leaves are immutable), so a server may
    keep them across tree sizes."""
    _check_size(tree_size)
    if not isinstance(index, int) or not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index!r} is not in a tree of size {tree_size}")
    return _inclusion_ranges(index, 0, tree_size)


def range_hashes(ranges: list[tuple[int, int]], reader: HashReader) -> list[bytes]:
    """MTH(D[lo:hi]) of each ``(lo, hi)``, from the stored hashes of ``reader`` (one read for all)."""
    for lo, hi in ranges:
        if not 0 <= lo < hi:
            raise ProofError(f"no leaf range [{lo}, {hi})")
        _check_size(hi)
    return _range_hashes(ranges, reader)


def inclusion_proofs(tree_size: int, indexes: list[int], reader: HashReader) -> list[list[bytes]]:
    """:func:`inclusion_proof` of each of ``indexes`` in the tree of ``tree_size`` leaves, reading every stored
    hash once and hashing every range once: proofs of neighbouring leaves (a sequencer's batch) share most of
    their ranges, so a batch costs a few hashes per leaf instead of one range per proof element."""
    _check_size(tree_size)
    for index in indexes:
        if not isinstance(index, int) or not 0 <= index < tree_size:
            raise ProofError(f"leaf index {index!r} is not in a tree of size {tree_size}")
    per_leaf = [_inclusion_ranges(index, 0, tree_size) for index in indexes]
    unique = list(dict.fromkeys(r for ranges in per_leaf for r in ranges))
    hashed = dict(zip(unique, _range_hashes(unique, reader), strict=True))
    return [[hashed[r] for r in ranges] for ranges in per_leaf]


def _consistency_ranges(old_size: int, lo: int, hi: int, complete: bool) -> list[tuple[int, int]]:
    # RFC 6962 §2.1.2 SUBPROOF(m, D[lo:hi], b), iteratively; collected root-first, returned leaf-first.
    out: list[tuple[int, int]] = []
    while True:
        if old_size == hi:
            if not complete:
                out.append((lo, hi))
            break
        k = _largest_power_of_two_below(hi - lo)
        if old_size <= lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
            complete = False
    out.reverse()
    return out


def consistency_proof(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of the tree of ``new_size`` leaves.

    Empty when ``old_size`` is 0 or equal to ``new_size`` (nothing to prove; C2SP tlog-witness)."""
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    return _range_hashes(_consistency_ranges(old_size, 0, new_size, True), reader)


def consistency_path(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """A consistency proof in the form RFC 9162 §2.1.4.2 step 2 verifies: when ``old_size`` is a power of
    two the old tree's own root (as the NEW tree has it) comes first. :func:`consistency_roots` of this
    path yields the old and new roots the new tree implies — the evidence a split-view proof carries."""
    proof = consistency_proof(old_size, new_size, reader)
    if 0 < old_size < new_size and old_size & (old_size - 1) == 0:
        proof = [tree_hash(old_size, reader), *proof]
    return proof


def _check_proof(proof: Sequence[bytes]) -> list[bytes]:
    if len(proof) > MAX_PROOF_LENGTH:
        raise ProofError(f"proof has {len(proof)} hashes; no valid proof has more than {MAX_PROOF_LENGTH}")
    for i, h in enumerate(proof):
        _check_hash(h, f"proof hash #{i}")
    return [bytes(h) for h in proof]


def root_from_inclusion_proof(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf hash ``leaf`` at ``index`` (RFC 9162 §2.1.3.2)."""
    _check_size(tree_size)
    _check_hash(leaf, "the leaf hash")
    path = _check_proof(proof)
    if not isinstance(index, int) or not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index!r} is not in a tree of size {tree_size}")
    fn, sn, r = index, tree_size - 1, bytes(leaf)
    for p in path:
        if sn == 0:
            raise ProofError(f"inclusion proof for leaf {index} of {tree_size} has too many hashes")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof for leaf {index} of {tree_size} has too few hashes")
    return r


def verify_inclusion(leaf: bytes, index: int, tree_size: int, root: bytes, proof: Sequence[bytes]) -> None:
    """Check that leaf hash ``leaf`` is entry ``index`` of the tree of ``tree_size`` leaves with ``root``."""
    _check_hash(root, "the root hash")
    if root_from_inclusion_proof(leaf, index, tree_size, proof) != bytes(root):
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of tree size {tree_size}")


def consistency_roots(old_size: int, new_size: int, path: Sequence[bytes]) -> tuple[bytes, bytes]:
    """The (old root, new root) that a consistency path implies (RFC 9162 §2.1.4.2 steps 3–7).

    ``path`` is the full path of :func:`consistency_path`: when ``old_size`` is a power of two its first
    hash is the old tree's root. Requires ``0 < old_size < new_size``."""
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if not 0 < old_size < new_size:
        raise ProofError(f"no consistency path between sizes {old_size} and {new_size}")
    hashes = _check_proof(path)
    if not hashes:
        raise ProofError(f"consistency proof from {old_size} to {new_size} is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof from {old_size} to {new_size} has too many hashes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof from {old_size} to {new_size} has too few hashes")
    return fr, sr


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (``old_size``, ``old_root``) is a prefix of (``new_size``, ``new_root``)."""
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    _check_hash(old_root, "the old root hash")
    _check_hash(new_root, "the new root hash")
    hashes = _check_proof(proof)
    if old_size > new_size:
        raise ProofError(f"tree size went backwards from {old_size} to {new_size}")
    if old_size == new_size:
        if hashes:
            raise ProofError(f"consistency proof between equal sizes {old_size} must be empty")
        if bytes(old_root) != bytes(new_root):
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    if old_size == 0:
        if hashes:
            raise ProofError("consistency proof from the empty tree must be empty")
        if bytes(old_root) != empty_root():
            raise ProofError("root of the empty tree is not SHA-256 of the empty string")
        return
    if old_size & (old_size - 1) == 0:
        hashes = [bytes(old_root), *hashes]
    fr, sr = consistency_roots(old_size, new_size, hashes)
    if fr != bytes(old_root) or sr != bytes(new_root):
        raise ProofError(f"consistency proof from tree size {old_size} to {new_size} does not verify")


class MemoryHashStore:
    """Stored hashes in a list: a whole log in memory, for tests, tools and building tiles offline."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.size = 0

    def append(self, entry: bytes) -> int:
        """Append ``entry`` as the next leaf; return its index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, leaf: bytes) -> int:
        index = self.size
        self.hashes.extend(stored_hashes_for_leaf_hash(index, leaf, self))
        self.size += 1
        return index

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        try:
            return [self.hashes[i] if i >= 0 else _missing(i) for i in indexes]
        except IndexError:
            raise ProofError(f"a requested hash is not stored (only {len(self.hashes)} are)") from None

    def root(self, tree_size: int | None = None) -> bytes:
        return tree_hash(self.size if tree_size is None else tree_size, self)


def _missing(index: int) -> bytes:
    raise ProofError(f"stored hash index {index} is negative")
