"""RFC 6962 (Certificate Transparency) Merkle tree hashing with SHA-256.

Used for the weights root of a model (lineage digests) and for the registry's transparency log, so both
compute the tree the same, specified way: ``leaf = H(0x00 || data)``, ``node = H(0x01 || left || right)``,
the left subtree holding the largest power of two strictly below ``n`` leaves (RFC 6962 §2.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_SIZE = 32


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of one log entry / leaf: ``SHA-256(0x00 || data)``."""
    return sha256(LEAF_PREFIX + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return sha256(NODE_PREFIX + left + right)


def empty_root() -> bytes:
    """The Merkle Tree Hash of the empty list: ``SHA-256("")``."""
    return sha256(b"")


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash over already-hashed leaves."""
    if not leaves:
        return empty_root()
    level = list(leaves)
    # Bottom-up evaluation of the RFC 6962 split (largest power of two < n on the left): pairing
    # neighbours and carrying an odd last node up unchanged builds exactly that tree.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
