"""Tensor digests and the weights root: container-, sharding- and order-independent, sensitive to one element.

The real all-MiniLM weights are written again as 3 shards in reverse order, as a PyTorch checkpoint saved by
torch itself, and as that checkpoint's safe conversion (``weightwarden.lineage.convert``); every copy must
have the published root of the original. The llama-family GGUF case (Q/K rows permuted) is in
``test_diff.py``, next to the other SmolLM2 work, so the 135M model is read once; so is the side-by-side
(:func:`digest_pair`) check on GGUF vs safetensors.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.lineage import variants as V
from weightwarden.lineage import digests as D
from weightwarden.lineage.digests import (
    _aligned_pieces,
    digest_model,
    digest_pair,
    merkle_root,
    tensor_header,
    weights_root,
)
from weightwarden.lineage.tensors import open_tensors


def _h(data: bytes) -> bytes:
    import blake3

    return blake3.blake3(data).digest()


def _reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1, written recursively as the RFC states it."""
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _h(b"\x01" + _reference_mth(leaves[:k]) + _reference_mth(leaves[k:]))


@pytest.mark.parametrize("n", range(0, 12))
def test_merkle_root_is_rfc6962_tree(n: int) -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(n)]
    assert merkle_root(leaves) == _reference_mth(leaves)


def test_weights_root_definition_is_pinned() -> None:
    digests = {"b.weight": "11" * 32, "a.weight": "22" * 32, "é.bias": "33" * 32}

    def leaf(name: str) -> bytes:
        raw = name.encode()
        return _h(b"\x00" + struct.pack(">I", len(raw)) + raw + bytes.fromhex(digests[name]))

    names = sorted(digests, key=lambda n: n.encode())
    expected = _reference_mth([leaf(n) for n in names]).hex()
    assert weights_root(digests) == expected
    assert weights_root(dict(reversed(list(digests.items())))) == expected
    changed = dict(digests, **{"a.weight": "23" * 32})
    assert weights_root(changed) != expected


def test_tensor_header_is_pinned() -> None:
    assert tensor_header("f32", (3, 4)) == b"weightwarden.tensor.v1\nF32\n3,4\n"
    assert tensor_header("Q4_1", ()) == b"weightwarden.tensor.v1\nQ4_1\n\n"


@pytest.fixture(scope="module")
def minilm_digests(minilm_folder: Path):
    return digest_model(minilm_folder)


@pytest.fixture(scope="module")
def minilm_torch_checkpoint(minilm_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM's weights saved by torch.save (the tensors torch itself serialises)."""
    import torch
    from safetensors.torch import load_file

    state = load_file(str(minilm_folder / "model.safetensors"))
    path = tmp_path_factory.mktemp("minilm-torch") / "pytorch_model.bin"
    torch.save(state, path)
    return path


def test_root_is_the_same_in_three_shards_in_reverse_order(minilm_folder, minilm_digests, tmp_path) -> None:
    base, _ = V.load_model(minilm_folder)
    sharded = V.write_safetensors(base, tmp_path / "sharded", shards=3, reverse=True)
    assert len(list(sharded.glob("*.safetensors"))) == 3
    digests = digest_model(sharded)
    assert digests.tensors == minilm_digests.tensors
    assert digests.root == minilm_digests.root


def test_root_of_torch_checkpoint_and_its_conversion(minilm_digests, minilm_torch_checkpoint, tmp_path) -> None:
    from weightwarden.lineage.convert import convert_checkpoint

    from_torch = digest_model(minilm_torch_checkpoint)
    assert from_torch.container == "pytorch"
    assert from_torch.root == minilm_digests.root
    result = convert_checkpoint(minilm_torch_checkpoint, tmp_path / "converted.safetensors")
    assert result.converted, result.refused
    converted = digest_model(tmp_path / "converted.safetensors")
    assert converted.container == "safetensors"
    assert converted.root == minilm_digests.root


def test_one_element_changes_the_root_and_one_digest(minilm_folder, minilm_digests, tmp_path) -> None:
    base, _ = V.load_model(minilm_folder)
    variant = V.one_element(base)
    (name,) = variant.expected
    path = V.write_safetensors(variant.tensors, tmp_path / "one.safetensors")
    digests = digest_model(path)
    assert digests.root != minilm_digests.root
    assert [n for n in digests.tensors if digests.tensors[n] != minilm_digests.tensors[n]] == [name]


def test_f16_copy_has_other_digests_but_stable_ones(minilm_folder, tmp_path) -> None:
    """The stored type is part of the digest; the same F16 weights in two shardings still agree."""
    base, _ = V.load_model(minilm_folder)
    weights = {n: t for n, t in base.items() if t.dtype == np.float32}
    single = digest_model(V.write_safetensors(weights, tmp_path / "f16.safetensors", dtype="F16"))
    sharded = digest_model(V.write_safetensors(weights, tmp_path / "f16", shards=2, dtype="F16", reverse=True))
    full = digest_model(V.write_safetensors(weights, tmp_path / "f32.safetensors"))
    assert single.root == sharded.root
    assert single.root != full.root
    assert set(single.dtypes.values()) == {"F16"}


def test_digests_are_the_same_with_one_worker(minilm_folder, minilm_digests) -> None:
    assert digest_model(minilm_folder, workers=1).tensors == minilm_digests.tensors


def last_byte_flipped(w: np.ndarray) -> np.ndarray:
    """A copy of ``w`` that differs in its very last stored byte only."""
    out = np.ascontiguousarray(w).copy()
    out.reshape(-1).view(np.uint8)[-1] ^= 1
    return out


def assert_pair_matches_alone(path_a: Path, path_b: Path) -> tuple[D.ModelDigests, D.ModelDigests]:
    """digest_pair of two models gives exactly what digest_model gives for each alone."""
    with open_tensors(path_a) as ta, open_tensors(path_b) as tb:
        da, db = digest_pair(ta, tb)
    for side, alone in ((da, digest_model(path_a)), (db, digest_model(path_b))):
        assert side.tensors == alone.tensors
        assert (side.root, side.total_bytes, side.dtypes) == (alone.root, alone.total_bytes, alone.dtypes)
    return da, db


def test_aligned_pieces_cut_both_streams_at_every_boundary() -> None:
    data = bytes(range(256)) * 40
    a = [memoryview(data[:1000]), memoryview(data[1000:])]
    b = [memoryview(data[i : i + 777]) for i in range(0, len(data), 777)]
    pieces = list(_aligned_pieces(a, b, piece=300))
    assert all(len(x) == len(y) <= 300 for x, y in pieces)
    assert b"".join(bytes(x) for x, _ in pieces) == data == b"".join(bytes(y) for _, y in pieces)
    with pytest.raises(ValueError):
        list(_aligned_pieces([memoryview(data)], [memoryview(data[:-1])]))


@pytest.mark.parametrize("piece", [None, 4099])  # default pieces, and many odd-sized ones (byte compare)
def test_side_by_side_digests_equal_each_model_alone(minilm_folder, minilm_digests, tmp_path, monkeypatch,
                                                     piece) -> None:
    if piece:
        monkeypatch.setattr(D, "COMPARE_PIECE", piece)
    base, _ = V.load_model(minilm_folder)
    floats = sorted((n for n, t in base.items() if t.dtype == np.float32 and t.ndim == 2),
                    key=lambda n: -base[n].size)
    last, first, reshaped, dropped = floats[0], floats[1], floats[2], floats[3]
    edited = dict(base)
    edited[last] = last_byte_flipped(base[last])  # the largest: many equal pieces, then the last differs
    edited[first] = base[first].copy()
    edited[first].reshape(-1)[0] += 1.0
    edited[reshaped] = base[reshaped].reshape(-1)  # same bytes, other header: hashed on both sides
    del edited[dropped]
    edited["extra.weight"] = np.ones((3, 4), dtype=np.float32)
    path = V.write_safetensors(edited, tmp_path / "edited", shards=2, reverse=True)
    da, db = assert_pair_matches_alone(minilm_folder, path)
    assert da.root == minilm_digests.root
    assert {n for n in da.tensors.keys() & db.tensors.keys() if da.tensors[n] != db.tensors[n]} == {
        last, first, reshaped}
    same, _ = assert_pair_matches_alone(minilm_folder, minilm_folder)
    assert same.tensors == minilm_digests.tensors
