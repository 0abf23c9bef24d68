"""The ninth speed pass changes nothing the scan reports (issue 11, "Speed"): equivalence, not timing.

- The forked pool (``weightwarden.scan.pool``: readers imported in the parent, files in chunks, HDF5 files kept
  by the parent) gives the same report as the in-process scan, on the whole generated corpus and on a folder
  made to break chunks apart; a worker that dies still names only its file.
- Chunks hold every job exactly once, costliest first.
- On 2 CPUs the scan stays in-process unless ``--workers`` asks for the pool.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from weightwarden.scan import engine, pool, scan_paths

_FORK = pool.fork_context() is not None


def _facts(report: Any) -> dict[str, Any]:
    facts = report.to_dict()
    facts.pop("duration_s", None)
    return facts


def test_chunks_hold_every_job_once_costliest_first() -> None:
    costs = [5, 100, 1, 1, 50, 7, 7, 3, 1000, 2] * 13
    for count in (1, 2, 3, 16):
        groups = pool.chunks(costs, count)
        flat = [i for group in groups for i in group]
        assert sorted(flat) == list(range(len(costs)))
        firsts = [costs[group[0]] for group in groups]
        assert firsts == sorted(firsts, reverse=True)
    assert pool.chunks([], 2) == []


def test_estimated_cost_counts_text_by_size() -> None:
    assert pool.estimated_cost("m/tokenizer_config.json", 10_000) > pool.estimated_cost("m/model.pkl", 10_000)
    assert pool.estimated_cost("m/README", 10_000) > pool.estimated_cost("m/README", 10)
    assert pool.estimated_cost("m/model.safetensors", 2**40) < 2**30  # a big binary is read by its headers


def test_preload_imports_the_readers_and_jinja() -> None:
    # In a fresh interpreter (this process has imported the readers already): preload names the reader modules one by
    # one (static imports: the product's AST test forbids computed ones), so a new reader must be added there.
    import subprocess
    import sys

    probe = (
        "import pkgutil, sys\n"
        "from weightwarden.scan import pool\n"
        "pool.preload()\n"
        "import weightwarden.artifact.readers as readers\n"
        "every = {i.name for i in pkgutil.iter_modules(readers.__path__, readers.__name__ + '.')}\n"
        "print(sorted(every - set(sys.modules)), 'jinja2.parser' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[] True", out.stdout + out.stderr


def test_two_cpus_scan_in_process_unless_workers_are_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = [(object(), f"f{i}") for i in range(engine.POOL_MIN_FILES)]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert not engine._use_pool(jobs, None)  # type: ignore[arg-type]
    assert engine._use_pool(jobs, 2)  # type: ignore[arg-type]
    assert not engine._use_pool(jobs[:3], 2)  # type: ignore[arg-type]
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert engine._use_pool(jobs, None)  # type: ignore[arg-type]


def _mixed_folder(root: Path) -> None:
    """Templates (some identical), pickles, JSON and text, enough for many chunks."""
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    bad = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    for i in range(40):
        folder = root / f"m{i:02d}"
        folder.mkdir()
        chosen = bad if i % 7 == 0 else template
        (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": chosen, "bos_token": "<s>"}))
        (folder / "model.pkl").write_bytes(b"\x80\x02cposix\nsystem\n(S'id'\ntR." if i % 5 == 0 else
                                           b"\x80\x02}q\x00.")
        (folder / "README.md").write_text(f"# model {i}\n\n```jinja\n{chosen}\n```\n")


def test_pool_and_in_process_reports_are_identical(tmp_path: Path) -> None:
    _mixed_folder(tmp_path)
    single = scan_paths([str(tmp_path)], workers=1)
    pooled = scan_paths([str(tmp_path)], workers=2)
    assert single.findings and _facts(single) == _facts(pooled)


def test_pool_keeps_hdf5_files_with_the_parent(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    _mixed_folder(tmp_path)
    for i in range(3):
        with h5py.File(tmp_path / f"m{i:02d}" / "weights.h5", "w") as f:
            f.create_dataset("x", data=[1.0, 2.0])
            f.attrs["model_config"] = '{"class_name": "Lambda", "config": {"function": "x"}}'
    single = scan_paths([str(tmp_path)], workers=1)
    pooled = scan_paths([str(tmp_path)], workers=2)
    assert "hdf5" in str(single.formats) or "keras-h5" in single.formats
    assert _facts(single) == _facts(pooled)


@pytest.mark.skipif(not _FORK, reason="the crash is injected by patching the module before workers fork")
def test_worker_dying_in_a_chunk_names_only_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = engine.scan_file

    def crashing(found, file, strict, limits, *rest):  # type: ignore[no-untyped-def]
        if file.endswith("m03/model.pkl"):
            os._exit(3)  # what a segfault in a native reader looks like to the pool
        return original(found, file, strict, limits, *rest)

    crashing.__module__, crashing.__qualname__ = "weightwarden.scan.engine", "scan_file"
    _mixed_folder(tmp_path)
    single = scan_paths([str(tmp_path)], workers=1)
    monkeypatch.setattr(engine, "scan_file", crashing)
    report = scan_paths([str(tmp_path)], workers=2)
    assert [e.file for e in report.errors] == [f"{tmp_path}/m03/model.pkl"]
    assert "died" in report.errors[0].reason
    assert [f for f in single.findings if not f.file.endswith("m03/model.pkl")] == report.findings


def test_whole_corpus_pool_equals_in_process(corpus) -> None:
    paths = sorted({str(entry.path) for entry in corpus})
    single = scan_paths(paths, workers=1)
    pooled = scan_paths(paths, workers=2)
    assert len(single.findings) > 100
    assert _facts(single) == _facts(pooled)


def test_no_fork_while_another_thread_runs() -> None:
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert pool.fork_context() is None
    finally:
        stop.set()
        thread.join()
