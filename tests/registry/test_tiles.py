"""C2SP tlog-tiles layout: paths, which tiles a tree has, tiles built from stored hashes, hashes read back."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weightwarden.core.merkle import leaf_hash
from weightwarden.registry import tiles, tlog
from weightwarden.registry.tiles import ENTRIES_LEVEL, Tile, TileError, TileHashReader


def test_c2sp_spec_examples() -> None:
    # c2sp.org/tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of
    # width 112, one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile
    # of width 1."
    assert Counter((t.level, t.width) for t in tiles.tiles_for_size(70_000)) == {
        (0, 256): 273, (0, 112): 1, (1, 256): 1, (1, 17): 1, (2, 1): 1,
    }
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1."
    assert [t.path() for t in tiles.tiles_for_size(256)] == ["tile/0/000", "tile/1/000.p/1"]
    assert tiles.tiles_for_size(0) == []


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        ("tile/0/000", Tile(0, 0)),
        ("tile/0/001.p/5", Tile(0, 1, 5)),
        ("tile/1/x003/x057/500", Tile(1, 3057500)),  # Go sumdb/tlog tile_test.go index, C2SP (no height)
        ("tile/3/x123/x456/078.p/2", Tile(3, 123456078, 2)),
        ("tile/entries/x001/234", Tile(ENTRIES_LEVEL, 1234)),
        ("tile/entries/000.p/255", Tile(ENTRIES_LEVEL, 0, 255)),
        ("tile/63/999", Tile(63, 999)),
    ],
)
def test_paths_round_trip(path: str, tile: Tile) -> None:
    assert tile.path() == path
    assert Tile.parse_path(path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/3/5/123/456/078",  # Go's invalid example: elements without x
        "tile/3/-1/123/456/078",
        "tile/0/x000/005",  # non-canonical leading zero element
        "tile/0/1",
        "tile/0/0001",
        "tile/00/000",
        "tile/64/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/05",
        "tile/0/000.p/",
        "tile/0/000/",
        "/tile/0/000",
        "tile/data/000",
        "tile/0/x001",
        "tile/0/000\n",
        "tile/0/../000",
        "",
    ],
)
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(TileError):
        Tile.parse_path(path)


@settings(max_examples=200, deadline=None)
@given(
    level=st.one_of(st.just(ENTRIES_LEVEL), st.integers(0, 63)),
    index=st.integers(0, (1 << 63) - 1),
    width=st.integers(1, 256),
)
def test_any_tile_path_round_trips(level: int, index: int, width: int) -> None:
    tile = Tile(level, index, width)
    assert Tile.parse_path(tile.path()) == tile


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="tile/entrsx0123456789.p-", max_size=40))
def test_parse_path_never_crashes_and_accepts_only_canonical_paths(path: str) -> None:
    try:
        tile = Tile.parse_path(path)
    except TileError:
        return
    assert tile.path() == path


@pytest.mark.parametrize(
    ("old", "new", "count"),
    # golang.org/x/mod/sumdb/tlog tile_test.go TestNewTilesForSize (tile height 10).
    [(1, 1, 0), (100, 101, 1), (1023, 1025, 3), (1024, 1030, 1), (1030, 2000, 1), (1030, 10000, 10),
     (49516517, 49516586, 3)],
)
def test_tiles_to_write_matches_go_counts(old: int, new: int, count: int) -> None:
    assert len(tiles._tiles_to_write(old, new, 10)) == count


def _grow(store: tlog.MemoryHashStore, files: dict[str, bytes], entries: list[bytes], new_entries: list[bytes]) -> None:
    """Append entries and write what a log would publish, checking each changed tile extends its old self."""
    old = store.size
    for entry in new_entries:
        store.append(entry)
        entries.append(entry)
    for tile in tiles.tiles_to_write(old, store.size):
        data = tiles.read_tile_data(tile, store)
        previous = files.get(Tile(tile.level, tile.index, tile.width - 1).path()) if tile.width > 1 else b""
        if previous is not None:
            assert data.startswith(previous)
        files[tile.path()] = data
    for bundle in tiles.entry_bundles_to_write(old, store.size):
        start = bundle.index * tiles.TILE_WIDTH
        files[bundle.path()] = tiles.encode_entry_bundle(entries[start : start + bundle.width])


@settings(max_examples=12, deadline=None)
@given(batches=st.lists(st.integers(1, 700), min_size=1, max_size=4), data=st.data())
def test_tiles_from_stored_hashes_reproduce_every_tree_and_proof(batches: list[int], data: st.DataObject) -> None:
    store = tlog.MemoryHashStore()
    files: dict[str, bytes] = {}
    entries: list[bytes] = []
    sizes = []
    for batch in batches:
        _grow(store, files, entries, [b"entry %d" % (len(entries) + i) for i in range(batch)])
        sizes.append(store.size)
    size = store.size
    # Every tile of the final tree was published and holds exactly the stored hashes of its row.
    for tile in tiles.tiles_for_size(size):
        assert files[tile.path()] == tiles.read_tile_data(tile, store)
    reader = TileHashReader(size, lambda t: files[t.path()])
    assert tlog.tree_hash(size, reader) == store.root()
    for old in sizes:  # the checkpoints handed out on the way are all recomputable from the final tiles
        assert tlog.tree_hash(old, reader) == store.root(old)
        tlog.verify_consistency(old, size, store.root(old), store.root(), tlog.consistency_proof(old, size, reader))
    for index in data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=8)):
        proof = tlog.inclusion_proof(size, index, reader)
        assert proof == tlog.inclusion_proof(size, index, store)
        tlog.verify_inclusion(leaf_hash(entries[index]), index, size, store.root(), proof)
        bundle = tiles.tile_for_entry(index, size)
        decoded = tiles.decode_entry_bundle(files[bundle.path()], bundle.width)
        assert decoded[index % 256] == entries[index]


def test_a_lying_tile_makes_verification_fail() -> None:
    store = tlog.MemoryHashStore()
    files: dict[str, bytes] = {}
    _grow(store, files, [], [b"e%d" % i for i in range(600)])
    root = store.root()
    tampered = dict(files)
    tile = bytearray(tampered["tile/0/001"])
    tile[5 * 32] ^= 1
    tampered["tile/0/001"] = bytes(tile)
    reader = TileHashReader(600, lambda t: tampered[t.path()])
    # The tampered hash (leaf 261) is what the reader returns; the root alone does not depend on that tile
    # (it is read from level 1), which is why clients authenticate tile hashes through proofs.
    assert reader.read_hashes([tlog.stored_hash_index(0, 261)]) != [leaf_hash(b"e261")]
    assert tlog.tree_hash(600, reader) == root
    with pytest.raises(tlog.ProofError):
        tlog.verify_inclusion(leaf_hash(b"e300"), 300, 600, root, tlog.inclusion_proof(600, 300, reader))
    # Reading leaf 261 from the lying tile and checking it against the signed root exposes the lie.
    (lied,) = reader.read_hashes([tlog.stored_hash_index(0, 261)])
    with pytest.raises(tlog.ProofError):
        tlog.verify_inclusion(lied, 261, 600, root, tlog.inclusion_proof(600, 261, reader))
    # A tile of the wrong length is refused outright.
    short = TileHashReader(600, lambda t: files[t.path()][:-1])
    with pytest.raises(TileError):
        tlog.tree_hash(600, short)
    # Hashes outside the tree cannot be read.
    with pytest.raises(tlog.ProofError):
        TileHashReader(600, lambda t: files[t.path()]).read_hashes([tlog.stored_hash_index(0, 600)])


def test_entry_bundles_are_strict() -> None:
    entries = [b"", b"a", b"x" * 300, b"\x00\xff"]
    data = tiles.encode_entry_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:5] == b"\x00\x01a"
    assert tiles.decode_entry_bundle(data, 4) == entries
    for bad, width in [(data, 3), (data, 5), (data + b"\x00", 4), (data[:-1], 4), (b"\x00", 1), (b"", 1)]:
        with pytest.raises(TileError):
            tiles.decode_entry_bundle(bad, width)
    with pytest.raises(TileError):
        tiles.encode_entry_bundle([b"x" * 65536])
    with pytest.raises(TileError):
        tiles.encode_entry_bundle([])
    with pytest.raises(TileError):
        tiles.encode_entry_bundle([b""] * 257)
    assert tiles.decode_entry_bundle(tiles.encode_entry_bundle([b"y" * 65535]), 1) == [b"y" * 65535]


def test_tile_for_entry_and_bundles_to_write() -> None:
    assert tiles.tile_for_entry(0, 1) == Tile(ENTRIES_LEVEL, 0, 1)
    assert tiles.tile_for_entry(255, 1000) == Tile(ENTRIES_LEVEL, 0)
    assert tiles.tile_for_entry(999, 1000) == Tile(ENTRIES_LEVEL, 3, 1000 - 768)
    assert [t.path() for t in tiles.entry_bundles_to_write(250, 600)] == [
        "tile/entries/000", "tile/entries/001", "tile/entries/002.p/88",
    ]
    with pytest.raises(TileError):
        tiles.tile_for_entry(1000, 1000)
    with pytest.raises(TileError):
        tiles.tiles_to_write(5, 4)
    with pytest.raises(TileError):
        tiles.read_tile_data(Tile(ENTRIES_LEVEL, 0), tlog.MemoryHashStore())


@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 70_000), data=st.data())
def test_authenticated_reader_accepts_the_tree_and_refuses_any_lying_tile(size: int, data: st.DataObject) -> None:
    store = tlog.MemoryHashStore()
    for i in range(size):
        store.append_leaf_hash(leaf_hash(b"%d" % i))
    root = store.root()
    files = {t: tiles.read_tile_data(t, store) for t in tiles.tiles_for_size(size)}
    index = data.draw(st.integers(0, size - 1))
    reader = TileHashReader(size, files.__getitem__, root=root)
    assert tlog.tree_hash(size, reader) == root
    proof = tlog.inclusion_proof(size, index, reader)
    (leaf,) = reader.read_hashes([tlog.stored_hash_index(0, index)])
    tlog.verify_inclusion(leaf, index, size, root, proof)
    # Corrupt one byte of one tile the inclusion proof for `index` needs: reading through it must fail.
    used = sorted(reader._authenticated, key=lambda t: (t.level, t.index))
    victim = data.draw(st.sampled_from(used))
    lying = dict(files)
    tampered = bytearray(lying[victim])
    tampered[data.draw(st.integers(0, len(tampered) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    lying[victim] = bytes(tampered)
    liar = TileHashReader(size, lying.__getitem__, root=root)
    with pytest.raises(TileError):
        tlog.inclusion_proof(size, index, liar)
        liar.read_hashes([tlog.stored_hash_index(0, index)])
        tlog.tree_hash(size, liar)
    # A wrong root is refused as soon as anything is read.
    with pytest.raises(TileError):
        TileHashReader(size, files.__getitem__, root=bytes(32)).read_hashes([tlog.stored_hash_index(0, index)])
