"""Our tiles, checkpoints, cosignatures and proofs, checked by a second verifier written from the C2SP specs
and RFC 6962 alone (tests/registry/independent_verifier.py: hashlib + cryptography, no weightwarden code)."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from weightwarden.registry import tiles, tlog
from weightwarden.registry.note import CheckpointSigner, NoteSigner
from weightwarden.registry.proof_file import TlogProof, format_proof
from weightwarden.registry.witness import CosignatureSigner, Witness, format_add_checkpoint

HERE = Path(__file__).parent
VERIFIER_PATH = HERE / "independent_verifier.py"
ORIGIN = "registry.example/log"


def _load_verifier():
    spec = importlib.util.spec_from_file_location("independent_verifier", VERIFIER_PATH)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


iv = _load_verifier()


def test_the_verifier_imports_nothing_of_ours() -> None:
    tree = ast.parse(VERIFIER_PATH.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "base64", "hashlib", "json", "os", "sys", "cryptography"}, imported


class PublishedLog:
    """A log built with weightwarden's library and published as static tlog-tiles files in a folder."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.signer = CheckpointSigner(NoteSigner.generate(ORIGIN))
        self.witness = Witness(CosignatureSigner.generate("witness.example/w1"), {ORIGIN: self.signer.verifier()},
                               tmp / "witness-state.json")
        self.store = tlog.MemoryHashStore()
        self.entries: list[bytes] = []
        self.checkpoints: dict[int, bytes] = {}

    def _write(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def append(self, new_entries: list[bytes]) -> bytes:
        old = self.store.size
        for entry in new_entries:
            self.store.append(entry)
            self.entries.append(entry)
        for tile in tiles.tiles_to_write(old, self.store.size):
            self._write(tile.path(), tiles.read_tile_data(tile, self.store))
        for bundle in tiles.entry_bundles_to_write(old, self.store.size):
            start = bundle.index * tiles.TILE_WIDTH
            self._write(bundle.path(), tiles.encode_entry_bundle(self.entries[start : start + bundle.width]))
        note = self.signer.sign(self.store.size, self.store.root())
        seen = self.witness.latest_size(ORIGIN)
        cosig = self.witness.add_checkpoint(
            format_add_checkpoint(seen, tlog.consistency_proof(seen, self.store.size, self.store), note)
        )
        self._write("checkpoint", note + cosig)
        self.checkpoints[self.store.size] = note + cosig
        return note + cosig

    def tile_reader(self) -> tiles.TileHashReader:
        return tiles.TileHashReader(self.store.size, lambda t: (self.root / t.path()).read_bytes())


@pytest.fixture
def published(tmp_path: Path) -> PublishedLog:
    log = PublishedLog(tmp_path / "log", tmp_path)
    # Sizes chosen to cross tile edges (256, 512) and make partial tiles at levels 0 and 1.
    for batch in [1, 6, 249, 1, 300, 13]:
        log.append([b'{"kind":"release","n":%d}' % (len(log.entries) + i) for i in range(batch)])
    return log


def test_independent_verifier_accepts_our_log_from_the_command_line(published: PublishedLog) -> None:
    result = subprocess.run(
        [sys.executable, str(VERIFIER_PATH), str(published.root), "--log-key", published.signer.verifier().vkey(),
         "--witness-key", published.witness.verifier().vkey(), "--quorum", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK: {published.store.size} entries")


def test_independent_verifier_checks_our_proofs(published: PublishedLog) -> None:
    size = published.store.size
    vkey = published.signer.verifier().vkey()
    wkey = published.witness.verifier().vkey()
    got_size, root, entries = iv.verify_log_dir(str(published.root), vkey, [wkey], 1)
    assert (got_size, root, entries) == (size, published.store.root(), published.entries)
    reader = published.tile_reader()  # proofs computed the way a client does: from the served tiles
    for index in [0, 1, 255, 256, 257, 511, 512, size - 1]:
        proof = tlog.inclusion_proof(size, index, reader)
        iv.check_inclusion(iv.leaf(entries[index]), index, size, root, proof)
        with pytest.raises(iv.Invalid):
            iv.check_inclusion(iv.leaf(entries[index] + b" "), index, size, root, proof)
        data = format_proof(TlogProof(index, tuple(proof), published.checkpoints[size]))
        assert iv.verify_tlog_proof(data, entries[index], vkey, [wkey], 1) == index
    sizes = sorted(published.checkpoints)
    for old in sizes:
        for new in sizes:
            if old <= new:
                proof = tlog.consistency_proof(old, new, published.store)
                iv.check_consistency(old, new, published.store.root(old), published.store.root(new), proof)
                if proof:
                    bad = [bytes([proof[0][0] ^ 0x80]) + proof[0][1:], *proof[1:]]
                    with pytest.raises(iv.Invalid):
                        iv.check_consistency(old, new, published.store.root(old), published.store.root(new), bad)
    # Every checkpoint handed out along the way, cosigned, verifies independently.
    for note in published.checkpoints.values():
        iv.verify_checkpoint(note, vkey, [wkey], 1)


@pytest.mark.parametrize("target", ["tile/0/001", "tile/1/000.p/2", "tile/entries/000", "tile/entries/002.p/58",
                                    "checkpoint"])
def test_independent_verifier_rejects_any_tampering(published: PublishedLog, target: str) -> None:
    path = published.root / target
    assert path.exists(), sorted(p.relative_to(published.root).as_posix() for p in published.root.rglob("*"))
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    rc = iv.main([str(published.root), "--log-key", published.signer.verifier().vkey(),
                  "--witness-key", published.witness.verifier().vkey(), "--quorum", "1"])
    assert rc == 1


def test_independent_verifier_requires_the_quorum(published: PublishedLog) -> None:
    other = CosignatureSigner.generate("witness.example/w2").verifier().vkey()
    with pytest.raises(iv.Invalid):
        iv.verify_log_dir(str(published.root), published.signer.verifier().vkey(), [other], 1)
    with pytest.raises(iv.Invalid):
        iv.verify_log_dir(str(published.root), CheckpointSigner(NoteSigner.generate(ORIGIN)).verifier().vkey(), [], 0)


def test_the_independent_verifier_itself_agrees_with_published_vectors() -> None:
    # Its proof checks against transparency-dev/merkle's corpus (see test_tlog.py for the citation) ...
    import base64
    import json

    vectors = json.loads((HERE / "data" / "transparency_dev_merkle_vectors.json").read_text())["vectors"]

    def b(value):
        return base64.b64decode(value) if value else b""

    disagreements = set()
    for name, v in vectors.items():
        proof = [b(p) for p in (v["proof"] or [])]
        try:
            if "leafIdx" in v:
                iv.check_inclusion(b(v["leafHash"]), v["leafIdx"], v["treeSize"], b(v["root"]), proof)
            else:
                iv.check_consistency(v["size1"], v["size2"], b(v["root1"]), b(v["root2"]), proof)
            ok = True
        except iv.Invalid:
            ok = False
        if v["wantErr"] == ok:
            disagreements.add(name)
    # Like our library, it refuses "roots" that are not 32-byte hashes even when two such values are equal.
    assert disagreements == {"testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"}
    # ... and its note check against the C2SP example and a real sum.golang.org checkpoint.
    text, good = iv.open_signed_note(
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZ"
        "XsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n".encode(),
        ["example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"],
    )
    assert good == {"example.com/foo"} and text == b"This is an example message.\n"
    sumdb = ("go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n— sum.golang.org Az3grsLX85"
             "Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n").encode()
    _, good = iv.open_signed_note(sumdb, ["sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"])
    assert good == {"sum.golang.org"}
