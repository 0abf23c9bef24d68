"""Cost of the registry's log library (issue 13), one core, no database and no HTTP.

What the store and the client pay per operation, so the load test's figures (appends/s, proof reads/s) can
be read against the library's own ceiling:

1. append: ``stored_hashes_for_append`` over an in-memory store, 200,000 entries of 300 bytes (a release
   statement's size); plus the tiles and entry bundles a sequencer writes and one signed checkpoint per
   batch of 500 (the amortised "integrate" cost).
2. inclusion proofs for random leaves of that tree: generated from stored hashes, generated from tiles
   (what a client does: ``TileHashReader``, tiles cached), and verified.
3. consistency proofs between random sizes: generated and verified.
4. signed notes: checkpoint signing, ``open_checkpoint``, ``verify_cosigned`` with 2 of 2 witnesses.

Every figure is operations per CPU-second of this process (``time.process_time``: the machine is shared,
so wall time would measure the other jobs), the median of 3 runs; the load average is recorded with them. Usage: ``.venv/bin/python benchmarks/registry_tlog.py [--quick]``.
Writes ``benchmarks/results/registry_tlog.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine, write_result  # noqa: E402
from weightwarden.core.merkle import leaf_hash  # noqa: E402
from weightwarden.registry import tiles, tlog  # noqa: E402
from weightwarden.registry.note import CheckpointSigner, NoteSigner, open_checkpoint  # noqa: E402
from weightwarden.registry.witness import CosignatureSigner, verify_cosigned  # noqa: E402

BATCH = 500
# CPU time of this process: the benchmark machine is shared (load averages of 5-10 on 2 cores are common),
# and the figure wanted is what one operation costs a core, not how long it waited for one.
_clock = time.process_time


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def bench_append(n: int, entry: bytes) -> tuple[float, float, tlog.MemoryHashStore, dict[str, bytes]]:
    """(appends/s of hashing only, appends/s with tiles + bundles + checkpoint per batch)."""
    store = tlog.MemoryHashStore()
    t0 = _clock()
    for i in range(n):
        store.append(entry + b"%d" % i)
    hashing = _clock() - t0

    signer = CheckpointSigner(NoteSigner.generate("bench.example/log"))
    store2 = tlog.MemoryHashStore()
    files: dict[str, bytes] = {}
    entries: list[bytes] = []
    t0 = _clock()
    for start in range(0, n, BATCH):
        old = store2.size
        for i in range(start, min(n, start + BATCH)):
            e = entry + b"%d" % i
            store2.append(e)
            entries.append(e)
        for tile in tiles.tiles_to_write(old, store2.size):
            files[tile.path()] = tiles.read_tile_data(tile, store2)
        for bundle in tiles.entry_bundles_to_write(old, store2.size):
            s = bundle.index * 256
            files[bundle.path()] = tiles.encode_entry_bundle(entries[s : s + bundle.width])
        files["checkpoint"] = signer.sign(store2.size, store2.root())
    integrate = _clock() - t0
    return _rate(n, hashing), _rate(n, integrate), store2, files


def bench_proofs(store: tlog.MemoryHashStore, files: dict[str, bytes], count: int, entry: bytes) -> dict[str, float]:
    size = store.size
    root = store.root()
    rng = random.Random(1)
    indexes = [rng.randrange(size) for _ in range(count)]
    t0 = _clock()
    proofs = [tlog.inclusion_proof(size, i, store) for i in indexes]
    from_store = _clock() - t0
    reader = tiles.TileHashReader(size, lambda t: files[t.path()])
    t0 = _clock()
    for i in indexes:
        tlog.inclusion_proof(size, i, reader)
    from_tiles = _clock() - t0
    leaves = [leaf_hash(entry + b"%d" % i) for i in indexes]
    t0 = _clock()
    for i, leaf, proof in zip(indexes, leaves, proofs, strict=True):
        tlog.verify_inclusion(leaf, i, size, root, proof)
    verify = _clock() - t0
    pairs = [tuple(sorted((rng.randrange(1, size), size))) for _ in range(count // 4)]
    roots = {m: store.root(m) for m, _ in pairs}
    t0 = _clock()
    cproofs = [tlog.consistency_proof(m, n, store) for m, n in pairs]
    cgen = _clock() - t0
    t0 = _clock()
    for (m, n), p in zip(pairs, cproofs, strict=True):
        tlog.verify_consistency(m, n, roots[m], root, p)
    cver = _clock() - t0
    return {
        "inclusion_proofs_per_s_from_stored_hashes": _rate(count, from_store),
        "inclusion_proofs_per_s_from_tiles": _rate(count, from_tiles),
        "inclusion_verifications_per_s": _rate(count, verify),
        "consistency_proofs_per_s": _rate(len(pairs), cgen),
        "consistency_verifications_per_s": _rate(len(pairs), cver),
    }


def bench_notes(count: int) -> dict[str, float]:
    signer = CheckpointSigner(NoteSigner.generate("bench.example/log"))
    witnesses = [CosignatureSigner.generate(f"w{i}.example") for i in range(2)]
    t0 = _clock()
    notes = [signer.sign(i + 1, bytes(32)) for i in range(count)]
    sign = _clock() - t0
    t0 = _clock()
    for note in notes:
        open_checkpoint(note, signer.verifier())
    open_ = _clock() - t0
    cosigned = [n + b"".join(w.cosign(n.split(b"\n\n")[0] + b"\n", 1700000000).line().encode() for w in witnesses)
                for n in notes[: count // 2]]
    keys = [w.verifier() for w in witnesses]
    t0 = _clock()
    for note in cosigned:
        verify_cosigned(note, signer.verifier(), keys, 2)
    quorum = _clock() - t0
    return {
        "checkpoints_signed_per_s": _rate(count, sign),
        "checkpoints_opened_per_s": _rate(count, open_),
        "cosigned_checkpoints_verified_per_s_2_of_2": _rate(len(cosigned), quorum),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 entries, one run (smoke test)")
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    repeats = 1 if args.quick else 3
    entry = b"x" * 290
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        hashing, integrate, store, files = bench_append(n, entry)
        row = {"appends_per_s_hashes_only": hashing, "appends_per_s_with_tiles_and_checkpoints": integrate}
        row |= bench_proofs(store, files, 5_000 if not args.quick else 1_000, entry)
        row |= bench_notes(2_000 if not args.quick else 200)
        runs.append(row)
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    payload = {"benchmark": "registry_tlog", "commit": commit, "machine": machine(), "entries": n,
               "entry_bytes": 300, "batch": BATCH, "clock": "process_time (CPU seconds)", "repeats": repeats, "median": medians, "runs": runs}
    path = write_result("registry_tlog" + ("_quick" if args.quick else ""), payload)
    print(f"| operation (one core, {n} entries, median of {repeats}) | per CPU-second |")
    print("| --- | ---: |")
    for key, value in medians.items():
        print(f"| {key.replace('_', ' ')} | {value:,.0f} |")
    print(f"load average {payload['machine']['loadavg']}; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
