"""Session fixtures for the eval tests: the real SmolLM2-135M-Instruct GGUF behind real backends.

- ``smollm2_backend``: the in-process llama-cpp backend (``open_backend("gguf:...")``), loaded once per
  session (per xdist worker). It serialises requests itself and works from any event loop, so tests may call
  ``asyncio.run(smollm2_backend.complete(...))`` freely. Do not ``aclose()`` it in a test.
- ``llama_server``: a managed ``llama_cpp.server`` on 127.0.0.1 serving the same file; ``.base_url`` (ends in
  ``/v1``) and ``.model`` (the name it reports) are what an OpenAI-compatible client needs, e.g.
  ``open_backend(f"openai:{llama_server.base_url}#{llama_server.model}")``. Stopped at session end.

Both are kept cheap (n_ctx 2048, 1 thread); llama-cpp-python must be installed (a missing library is an
error, not a skip).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

N_CTX = 2048
# One thread: llama.cpp's worker threads spin while they wait for each other, so on a busy 2-core machine
# (pytest -n 2, other jobs) two threads were measured 4-15x slower than one.
N_THREADS = 1


@pytest.fixture(scope="session")
def smollm2_backend(smollm2_gguf: Path) -> Iterator[object]:
    from weightwarden.evals.backends import open_backend

    backend = open_backend(f"gguf:{smollm2_gguf}", n_ctx=N_CTX, n_threads=N_THREADS)
    yield backend
    asyncio.run(backend.aclose())


@pytest.fixture(scope="session")
def llama_server(smollm2_gguf: Path) -> Iterator[object]:
    from weightwarden.evals.backends.llamacpp import ManagedLlamaServer

    server = ManagedLlamaServer(smollm2_gguf, n_ctx=N_CTX, n_threads=N_THREADS).start()
    yield server
    server.stop()
