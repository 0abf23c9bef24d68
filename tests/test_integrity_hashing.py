"""The hashing engine: digests equal hashlib/blake3 on whole files, shards and tensor ranges; bounded memory;
progress; worker counts; single-file models; lazy imports."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import blake3
import numpy as np
import pytest

from tests.corpus.writers import write_u8_safetensors
from weightwarden.integrity import ChangeKind, ManifestError, diff, digest_model
from weightwarden.integrity._hashing import (
    MEMORY_BUDGET,
    OPEN_FILES_BUDGET,
    SMALL_BATCH_FILES,
    SMALL_MAX,
    Job,
    TensorRange,
    chunk_size_for,
    hash_range,
    is_small,
    run_jobs,
)
from weightwarden.integrity.manifest import DEFAULT_SHARD_SIZE

REF = {
    "sha256": lambda b: hashlib.sha256(b).digest(),
    "blake2b": lambda b: hashlib.blake2b(b).digest(),
    "blake3": lambda b: blake3.blake3(b).digest(),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = np.random.default_rng(7).integers(0, 256, size=9 * (1 << 20) + 12345, dtype=np.uint8).tobytes()
    return _write(tmp_path_factory.mktemp("blob") / "big.bin", data), data


@pytest.mark.parametrize("hash_type", sorted(REF))
@pytest.mark.parametrize("workers", [1, 3])
def test_run_jobs_matches_reference(blob: tuple[Path, bytes], hash_type: str, workers: int) -> None:
    path, data = blob
    cuts = [(0, len(data)), (0, 1), (5, 5), (1 << 20, 5 * (1 << 20) + 3), (len(data) - 10, len(data))]
    jobs = [Job(str(path), "big.bin", a, b) for a, b in cuts]
    results = run_jobs(jobs, hash_type, workers=workers)
    assert [r.digest for r in results] == [REF[hash_type](data[a:b]) for a, b in cuts]


@pytest.mark.parametrize("hash_type", sorted(REF))
def test_tensor_ranges_in_same_pass(blob: tuple[Path, bytes], hash_type: str) -> None:
    path, data = blob
    mib = 1 << 20
    ranges = [TensorRange("a", 0, 10), TensorRange("empty", 10, 10), TensorRange("cross", mib - 7, 3 * mib + 1),
              TensorRange("overlap", mib, mib + 100), TensorRange("tail", len(data) - 3, len(data)),
              TensorRange("end-empty", len(data), len(data))]
    ranges.sort(key=lambda t: (t.start, t.end))
    # A 1 MiB buffer forces tensors to straddle chunk boundaries.
    res = hash_range(Job(str(path), "big.bin", 0, len(data), tuple(ranges)), hash_type, memoryview(bytearray(mib)))
    assert res.digest == REF[hash_type](data)
    got = {t.name: d for t, d, _ in res.tensors}
    assert got == {t.name: REF[hash_type](data[t.start: t.end]) for t in ranges}


def test_progress_and_memory_bound(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    seen: list[tuple[int, int]] = []
    run_jobs([Job(str(path), "x", 0, len(data)), Job(str(path), "x", 0, 100)], "sha256", workers=2,
             progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(data) + 100, len(data) + 100)
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:], strict=False))
    for workers in (1, 2, 16, 64, 256):
        assert chunk_size_for(workers) * min(workers, 128) <= MEMORY_BUDGET
    assert chunk_size_for(1) >= 4 << 20


def test_file_changed_while_hashing(blob: tuple[Path, bytes]) -> None:
    path, data = blob
    with pytest.raises(ManifestError, match="changed size"):
        run_jobs([Job(str(path), "big.bin", 0, 10, expect_size=len(data) + 1)], "sha256")
    with pytest.raises(ManifestError, match="shrank"):
        run_jobs([Job(str(path), "big.bin", len(data) - 2, len(data) + 5)], "sha256")
    with pytest.raises(ManifestError, match="shrank"):  # the memory-mapped path checks before mapping
        run_jobs([Job(str(path), "big.bin", 0, len(data) + 5)], "sha256")


@pytest.mark.parametrize("workers", [1, 3])
def test_small_files_in_batches_match_reference(tmp_path: Path, workers: int) -> None:
    # More files than one batch holds, sizes around the small-file limit, empty files, nested folders.
    rng = np.random.default_rng(3)
    model = tmp_path / "many"
    sizes = [0, 1, 63, 64, 65, 4096, SMALL_MAX - 1, SMALL_MAX, SMALL_MAX + 1]
    sizes += [int(x) for x in rng.integers(0, 20_000, size=2 * SMALL_BATCH_FILES + 5)]
    expected = {}
    for i, size in enumerate(sizes):
        rel = f"d{i % 3}/f{i:04d}.bin"
        data = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        (model / rel).parent.mkdir(parents=True, exist_ok=True)
        (model / rel).write_bytes(data)
        expected[rel] = (data, size)
    for hash_type in ("sha256", "blake3"):
        m = digest_model(model, hash_type=hash_type, workers=workers)
        assert {r.name: r.digest for r in m.resources} == {n: REF[hash_type](d) for n, (d, _) in expected.items()}
    # Many workers: batches shrink so that the files held open stay within the descriptor budget.
    m = digest_model(model, workers=OPEN_FILES_BUDGET)
    assert {r.name: r.digest for r in m.resources} == {n: REF["sha256"](d) for n, (d, _) in expected.items()}
    small = [is_small(Job("x", "x", 0, s, (), s)) for s in (0, SMALL_MAX - 1, SMALL_MAX)]
    assert small == [True, True, False]
    assert not is_small(Job("x", "x", 0, 10, (TensorRange("t", 0, 10),), 10))  # tensors: the full path


def test_small_file_changed_or_gone(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.bin", b"x" * 100)
    for listed in (99, 101):  # grew or shrank since it was listed
        job = Job(str(path), "s.bin", 0, listed, (), listed)
        assert is_small(job)
        with pytest.raises(ManifestError, match="s.bin: file changed size"):
            run_jobs([job], "sha256")
    # One failing file among many fails the whole run, with its name, whichever worker met it.
    jobs = [Job(str(path), "s.bin", 0, 100, (), 100)] * 200 + [Job(str(tmp_path / "gone"), "gone", 0, 5, (), 5)]
    with pytest.raises(ManifestError, match="gone: cannot open"):
        run_jobs(jobs, "sha256", workers=2)
    assert [r.digest for r in run_jobs(jobs[:3], "sha256", workers=2)] == [hashlib.sha256(b"x" * 100).digest()] * 3


def test_shards_cover_files(tmp_path: Path, blob: tuple[Path, bytes]) -> None:
    _, data = blob
    model = tmp_path / "m"
    model.mkdir()
    _write(model / "big.bin", data[: 3 * 4096 + 17])
    _write(model / "zero.bin", b"")
    m = digest_model(model, method="shards", shard_size=4096, workers=4)
    names = [r.name for r in m.resources]
    assert names == ["big.bin:0:4096", "big.bin:4096:8192", "big.bin:8192:12288", "big.bin:12288:12305"]
    assert all(r.algorithm == "sha256-sharded-4096" for r in m.resources)
    assert m.resources[1].digest == hashlib.sha256(data[4096:8192]).digest()
    assert digest_model(model, method="shards").spec.shard_size == DEFAULT_SHARD_SIZE
    with pytest.raises(ManifestError):
        digest_model(model, method="shards", shard_size=0)
    with pytest.raises(ManifestError):
        digest_model(model, hash_type="md5")


def test_tensor_digests_same_in_files_and_shards(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    model = tmp_path / "st"
    model.mkdir()
    tensors = {f"t{i}": rng.integers(0, 256, size=int(s), dtype=np.uint8).tobytes()
               for i, s in enumerate([3000, 5000, 0, 10000, 7])}
    write_u8_safetensors(model / "model.safetensors", tensors)
    files = digest_model(model, tensor_hash_type="blake3")
    shards = digest_model(model, method="shards", shard_size=4096)
    # Shards get BLAKE3 tensor digests by default (whole SHA-256 files get sha256-state evidence: see
    # test_integrity_sha256_state.py); any hash type can be asked for.
    assert files.tensor_hash == shards.tensor_hash == "blake3"
    assert {t.name: t.digest for t in files.tensors} == {n: blake3.blake3(b).digest() for n, b in tensors.items()}
    sha = digest_model(model, tensor_hash_type="sha256")
    assert {t.name: t.digest for t in sha.tensors} == {n: hashlib.sha256(b).digest() for n, b in tensors.items()}
    assert files.tensors == shards.tensors
    # Flip one byte of t3: both serializations name the tensor.
    raw = bytearray((model / "model.safetensors").read_bytes())
    t3 = next(t for t in files.tensors if t.name == "t3")
    raw[t3.start + 5000] ^= 0xFF
    (model / "model.safetensors").write_bytes(bytes(raw))
    for signed in (files, shards):
        kwargs = {"method": signed.spec.method, "shard_size": signed.spec.shard_size,
                  "tensor_hash_type": signed.tensor_hash}
        (change,) = [c for c in diff(signed, digest_model(model, **kwargs)) if c.status is not ChangeKind.OK]
        assert change.tensors == ("t3",)


def test_gguf_tensor_digests(sample_models: tuple[Path, Path]) -> None:
    gguf, _ = sample_models
    m = digest_model(gguf, hash_type="blake3")
    assert [r.name for r in m.resources] == ["."] and m.model_name == gguf.name
    assert len(m.tensors) > 100 and all(t.file == "." for t in m.tensors)
    with open(gguf, "rb") as f:
        t = m.tensors[len(m.tensors) // 2]
        f.seek(t.start)
        assert blake3.blake3(f.read(t.end - t.start)).digest() == t.digest
        f.seek(0)
        assert blake3.blake3(f.read()).digest() == m.resources[0].digest


def test_hf_folder_default_matches_plain_hashlib(sample_models: tuple[Path, Path]) -> None:
    _, folder = sample_models
    m = digest_model(folder, workers=2)
    for r in m.resources:
        assert r.digest == hashlib.sha256((folder / r.name).read_bytes()).digest()


def test_import_is_light() -> None:
    code = ("import sys, weightwarden.integrity as w; "
            "bad = [m for m in ('blake3', 'weightwarden.artifact', 'weightwarden.integrity.hashing', 'numpy') "
            "if m in sys.modules]; print(bad); assert not bad; w.digest_model")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent, env={**os.environ, "PYTHONPATH": "."})
    assert out.returncode == 0, out.stdout + out.stderr
