"""The C2SP tlog-tiles layout (c2sp.org/tlog-tiles): the log's tree and entries as immutable static files.

A tile at level ``L`` is the row of (at most) 256 consecutive hashes at tree height ``8 * L``; its index
``N`` is written as zero-padded three-digit path elements, all but the last prefixed with ``x``
(``1234067`` → ``x001/x234/067``); the right edge of the tree is served as partial tiles ``.p/<W>``.
Entry bundles ``tile/entries/<N>`` hold the entries whose leaf hashes make up level-0 tile ``N``, each
prefixed with its length as a big-endian uint16.

Tiles are built from the stored hashes of :mod:`weightwarden.registry.tlog`, and :class:`TileHashReader`
turns any source of tiles (database rows, files, HTTP) back into a stored-hash reader, so the same proof
code runs on the server and on a client that only has tiles. Everything here is strict: a path, a tile or a
bundle that is not exactly canonical is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from weightwarden.core.errors import WeightwardenError
from weightwarden.core.merkle import HASH_SIZE, node_hash
from weightwarden.registry.tlog import (
    HashReader,
    ProofError,
    _check_size,
    split_stored_hash_index,
    stored_hash_index,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
# Level value that marks an entry bundle (tile/entries/...) rather than a hash tile.
ENTRIES_LEVEL = -1
MAX_ENTRY_SIZE = 0xFFFF
# One hash tile is 8 KiB; an entry bundle of 256 maximal entries is just under 16 MiB.
MAX_TILE_BYTES = TILE_WIDTH * HASH_SIZE
MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)


def bundle_cap(width: int) -> int:
    """The largest valid entry bundle of ``width`` entries: what a reader must accept (red team round 14 on
    the registry, D3: the client's fixed 8 MiB cap was below a valid full bundle of big entries)."""
    return width * (2 + MAX_ENTRY_SIZE)


class TileError(WeightwardenError):
    """A tile path, tile or entry bundle that is malformed or does not fit the tree."""


@dataclass(frozen=True)
class Tile:
    """One tile (``level`` ≥ 0) or entry bundle (``level == ENTRIES_LEVEL``) of width 1..256."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (self.level == ENTRIES_LEVEL or 0 <= self.level <= MAX_TILE_LEVEL):
            raise TileError(f"tile level {self.level!r} is not between 0 and {MAX_TILE_LEVEL}")
        if not isinstance(self.index, int) or self.index < 0 or self.index >= 1 << 63:
            raise TileError(f"tile index {self.index!r} is out of range")
        if not isinstance(self.width, int) or not 1 <= self.width <= TILE_WIDTH:
            raise TileError(f"tile width {self.width!r} is not between 1 and {TILE_WIDTH}")

    @property
    def is_entries(self) -> bool:
        return self.level == ENTRIES_LEVEL

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    def path(self) -> str:
        """The tile's path below the log prefix, e.g. ``tile/0/x001/234.p/5`` or ``tile/entries/000``."""
        level = "entries" if self.is_entries else str(self.level)
        suffix = "" if self.is_full else f".p/{self.width}"
        return f"tile/{level}/{encode_index(self.index)}{suffix}"

    @classmethod
    def parse_path(cls, path: str) -> Tile:
        """The tile a canonical path names; :class:`TileError` for anything else."""
        match = _PATH.fullmatch(path) if isinstance(path, str) and len(path) <= 200 else None
        if match is None:
            raise TileError(f"not a tile path: {path!r}")
        level_text, index_text, width_text = match.group("level", "index", "width")
        level = ENTRIES_LEVEL if level_text == "entries" else int(level_text)
        index = 0
        for element in index_text.split("/"):
            index = index * 1000 + int(element.lstrip("x"))
        width = TILE_WIDTH if width_text is None else int(width_text)
        if width == TILE_WIDTH and width_text is not None:
            raise TileError(f"not a tile path (a full tile has no .p suffix): {path!r}")
        tile = cls(level, index, width)
        if tile.path() != path:  # refuses non-canonical spellings such as x000/005 or leading zeros
            raise TileError(f"not a canonical tile path: {path!r}")
        return tile


_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def encode_index(n: int) -> str:
    """``n`` as tlog-tiles path elements: ``1234067`` → ``x001/x234/067``, ``5`` → ``005``."""
    if not isinstance(n, int) or n < 0:
        raise TileError(f"tile index {n!r} is negative")
    elements = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        elements.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(elements))


def _hashes_at_level(tree_size: int, level: int) -> int:
    """How many complete hashes row ``TILE_HEIGHT * level`` of the tree has."""
    return tree_size >> (TILE_HEIGHT * level)


def tiles_for_size(tree_size: int) -> list[Tile]:
    """Every hash tile of the tree of ``tree_size`` leaves: full tiles and the partial right edge."""
    _check_size(tree_size)
    out: list[Tile] = []
    level = 0
    while (count := _hashes_at_level(tree_size, level)) > 0:
        out.extend(Tile(level, n) for n in range(count // TILE_WIDTH))
        if count % TILE_WIDTH:
            out.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1
    return out


def _grown(old_count: int, new_count: int, level: int, width: int) -> list[tuple[int, int, int]]:
    out = []
    for n in range(old_count // width, -(-new_count // width)):
        new_width = min(width, new_count - n * width)
        old_width = min(width, max(0, old_count - n * width))
        if new_width > old_width:
            out.append((level, n, new_width))
    return out


def _tiles_to_write(old_size: int, new_size: int, height: int) -> list[tuple[int, int, int]]:
    _check_size(old_size, "old tree size")
    _check_size(new_size, "new tree size")
    if old_size > new_size:
        raise TileError(f"tree cannot shrink from {old_size} to {new_size}")
    out: list[tuple[int, int, int]] = []
    level = 0
    while (new_count := new_size >> (height * level)) > 0:
        out.extend(_grown(old_size >> (height * level), new_count, level, 1 << height))
        level += 1
    return out


def tiles_to_write(old_size: int, new_size: int) -> list[Tile]:
    """The hash tiles that are new or wider when the tree grows from ``old_size`` to ``new_size``
    (full tiles completed by the growth and the new partial right edge)."""
    return [Tile(level, n, width) for level, n, width in _tiles_to_write(old_size, new_size, TILE_HEIGHT)]


def entry_bundles_to_write(old_size: int, new_size: int) -> list[Tile]:
    """The entry bundles that are new or wider when the tree grows from ``old_size`` to ``new_size``."""
    return [
        Tile(ENTRIES_LEVEL, n, width)
        for level, n, width in _tiles_to_write(old_size, new_size, TILE_HEIGHT)
        if level == 0
    ]


def tile_for_entry(index: int, tree_size: int) -> Tile:
    """The entry bundle (as large as the tree of ``tree_size`` has it) that holds entry ``index``."""
    _check_size(tree_size)
    if not isinstance(index, int) or not 0 <= index < tree_size:
        raise TileError(f"entry {index!r} is not in a tree of size {tree_size}")
    n = index // TILE_WIDTH
    return Tile(ENTRIES_LEVEL, n, min(TILE_WIDTH, tree_size - n * TILE_WIDTH))


def read_tile_data(tile: Tile, reader: HashReader) -> bytes:
    """The bytes of hash tile ``tile`` (``32 * width``), read from the log's stored hashes."""
    if tile.is_entries:
        raise TileError("entry bundles are built from entries, not from stored hashes")
    row = TILE_HEIGHT * tile.level
    start = tile.index * TILE_WIDTH
    hashes = reader.read_hashes([stored_hash_index(row, start + i) for i in range(tile.width)])
    if len(hashes) != tile.width or any(len(h) != HASH_SIZE for h in hashes):
        raise TileError(f"stored hashes for {tile.path()} are incomplete")
    return b"".join(hashes)


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries as one bundle: each prefixed by its length as a big-endian uint16."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileError(f"an entry bundle holds 1 to {TILE_WIDTH} entries, not {len(entries)}")
    out = bytearray()
    for i, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"entry #{i} is {len(entry)} bytes; tlog-tiles entries are at most {MAX_ENTRY_SIZE}")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes, width: int) -> list[bytes]:
    """The ``width`` entries of a bundle; :class:`TileError` if it holds more, fewer or trailing bytes."""
    if not 1 <= width <= TILE_WIDTH:
        raise TileError(f"entry bundle width {width} is not between 1 and {TILE_WIDTH}")
    if len(data) > MAX_BUNDLE_BYTES:
        raise TileError(f"entry bundle is {len(data)} bytes, larger than any valid bundle")
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(entries) == width:
            raise TileError(f"entry bundle has bytes after its {width} entries")
        if pos + 2 > len(data):
            raise TileError("entry bundle ends inside a length prefix")
        size = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + size > len(data):
            raise TileError(f"entry #{len(entries)} of the bundle is cut short")
        entries.append(bytes(data[pos : pos + size]))
        pos += size
    if len(entries) != width:
        raise TileError(f"entry bundle has {len(entries)} entries, expected {width}")
    return entries


class TileHashReader:
    """A :class:`~weightwarden.registry.tlog.HashReader` for the tree of ``tree_size`` leaves that reads
    hashes out of tiles obtained from ``get_tile`` (a database, a directory, an HTTP client).

    With ``root`` (the signed checkpoint's root hash) every tile is authenticated before a hash is read
    from it: the right-edge partial tiles together must rebuild ``root``, and each full tile must hash to
    the entry its parent tile holds (which is authenticated the same way, up to the right edge). A lying
    tile then raises :class:`TileError` at once. Without ``root`` the hashes are only as good as the tiles,
    and the caller must check what it computes from them against a signed root (``tlog.verify_*`` do).
    Fetched tiles are cached for the reader's lifetime.
    """

    def __init__(self, tree_size: int, get_tile: Callable[[Tile], bytes], root: bytes | None = None) -> None:
        _check_size(tree_size)
        if root is not None and len(root) != HASH_SIZE:
            raise TileError("the root hash to authenticate tiles against is not 32 bytes")
        self.tree_size = tree_size
        self.root = None if root is None else bytes(root)
        self._get_tile = get_tile
        self._cache: dict[Tile, bytes] = {}
        # Per tile, every complete subtree hash inside it (row 0 = the tile's hashes, row k = level k above
        # it): computed once when the tile is fetched, so each later read is a lookup.
        self._rows: dict[Tile, list[list[bytes]]] = {}
        self._authenticated: set[Tile] = set()

    def tile(self, tile: Tile) -> bytes:
        """The bytes of ``tile`` (checked for length, not authenticated), fetched once."""
        data = self._cache.get(tile)
        if data is None:
            data = bytes(self._get_tile(tile))
            if len(data) != tile.width * HASH_SIZE:
                raise TileError(
                    f"{tile.path()} is {len(data)} bytes, expected {tile.width * HASH_SIZE} ({tile.width} hashes)"
                )
            self._cache[tile] = data
        return data

    def _compute_rows(self, tile: Tile) -> list[list[bytes]]:
        rows = self._rows.get(tile)
        if rows is None:
            data = self.tile(tile)
            rows = [[data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]]
            while len(rows[-1]) > 1:
                below = rows[-1]
                rows.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
            self._rows[tile] = rows
        return rows

    def _tile_rows(self, tile: Tile) -> list[list[bytes]]:
        rows = self._compute_rows(tile)
        if self.root is not None and tile not in self._authenticated:
            if tile.is_full:
                # A full tile's root is one hash of its parent tile (level above, same position / 256).
                parent_row = _hashes_at_level(self.tree_size, tile.level + 1)
                parent_index = tile.index // TILE_WIDTH
                parent = Tile(tile.level + 1, parent_index, min(TILE_WIDTH, parent_row - parent_index * TILE_WIDTH))
                expected = self._tile_rows(parent)[0][tile.index % TILE_WIDTH]
                if rows[TILE_HEIGHT][0] != expected:
                    raise TileError(f"{tile.path()} does not match its parent tile: not the checkpoint's tree")
                self._authenticated.add(tile)
            else:
                self._authenticate_right_edge()
                if tile not in self._authenticated:
                    raise TileError(f"{tile.path()} is not a tile of the tree of size {self.tree_size}")
        return rows

    def _authenticate_right_edge(self) -> None:
        """The partial tiles of the right edge hold, level by level, the base-256 digits of the tree size
        worth of complete subtrees; together they must rebuild the signed root."""
        edge: list[Tile] = []
        level = 0
        while (count := _hashes_at_level(self.tree_size, level)) > 0:
            if count % TILE_WIDTH:
                edge.append(Tile(level, count // TILE_WIDTH, count % TILE_WIDTH))
            level += 1
        subtrees: list[bytes] = []
        for tile in reversed(edge):  # leftmost (highest) first
            rows = self._compute_rows(tile)
            offset = 0
            for bit in range(TILE_HEIGHT - 1, -1, -1):  # the tile's width as a sum of powers of two
                if tile.width >> bit & 1:
                    subtrees.append(rows[bit][offset >> bit])
                    offset += 1 << bit
        if not subtrees:
            raise TileError("an empty tree has no tiles")
        root = subtrees[-1]
        for left in reversed(subtrees[:-1]):
            root = node_hash(left, root)
        if root != self.root:
            raise TileError(f"the tiles at the right edge of the tree of size {self.tree_size} do not rebuild "
                            "the checkpoint's root")
        self._authenticated.update(edge)

    def leaf_hashes(self, index: int, width: int) -> list[bytes]:
        """The leaf hashes of level-0 tile ``index`` (``width`` of them), authenticated against the root
        (which the reader must have): what an entry bundle at the same position must hash to (red team round
        15, F1: a bundle's bytes count for nothing until they prove against the signed tree)."""
        if self.root is None:
            raise TileError("leaf hashes are only read from tiles authenticated against a signed root")
        return list(self._tile_rows(Tile(0, index, width))[0])

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        return [self._read_hash(i) for i in indexes]

    def _read_hash(self, index: int) -> bytes:
        level, n = split_stored_hash_index(index)
        if (n + 1) << level > self.tree_size:
            raise ProofError(
                f"stored hash (level {level}, index {n}) is not in a tree of size {self.tree_size}"
            )
        tile_level, sublevel = divmod(level, TILE_HEIGHT)
        first = n << sublevel  # first hash of the tile row below this subtree
        tile_index = first // TILE_WIDTH
        row_size = _hashes_at_level(self.tree_size, tile_level)
        width = min(TILE_WIDTH, row_size - tile_index * TILE_WIDTH)
        rows = self._tile_rows(Tile(tile_level, tile_index, width))
        return rows[sublevel][(first - tile_index * TILE_WIDTH) >> sublevel]
