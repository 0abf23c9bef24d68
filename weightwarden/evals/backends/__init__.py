"""Eval backends: one small interface (chat messages + explicit sampling in, text + usage + timing out).

Usage::

    from weightwarden.evals.backends import open_backend
    backend = open_backend("gguf:models/SmolLM2-135M-Instruct.Q4_1.gguf", n_ctx=2048, n_threads=2)
    completion = await backend.complete((Message("user", "Hi"),), Sampling(max_tokens=32))
    await backend.aclose()

Specs (:func:`open_backend`):

- ``gguf:PATH`` (or a bare path ending in ``.gguf``): llama-cpp-python in this process
  (:mod:`.llamacpp`);
- ``llama-server:PATH``: weightwarden starts ``python -m llama_cpp.server`` on 127.0.0.1 at a free port,
  waits until it answers, talks to it over HTTP and stops it on ``aclose()`` (:mod:`.llamacpp`);
- ``openai:BASE_URL[#MODEL]``: any OpenAI-compatible endpoint, ``/v1/chat/completions``
  (:mod:`.openai_http`);
- ``hf:PATH[#GGUF_FILE]``: transformers + torch on the CPU, an HF folder or a GGUF read by transformers
  (:mod:`.transformers_hf`).

``complete`` never raises for a failed request: the failure comes back as ``Completion(text=None,
error=...)``. Opening a backend raises :class:`BackendError` when it cannot be used at all (bad spec, missing
library, a local model the scanner refuses). Local models are scanned before they are loaded and their chat
template is never rendered (see :mod:`._vetting`, :mod:`._chat_format` and ``docs/evals-backends.md``).
:class:`.scripted.ScriptedBackend` is a canned backend for unit tests of the runner only.

Heavy imports (httpx, llama_cpp, torch) happen inside the backend constructors.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weightwarden.evals.model import Backend

SPEC_FORMS = "gguf:PATH, llama-server:PATH, openai:BASE_URL[#MODEL], hf:PATH[#GGUF_FILE] or a path ending in .gguf"
_LOCAL_OPTIONS = frozenset({"n_threads", "chat_format", "refuse_at"})
OPTIONS: dict[str, frozenset[str]] = {
    "openai": frozenset({"api_key", "connect_timeout_s", "backoff_s", "max_retry_after_s", "max_response_bytes", "sleep"}),
    "gguf": _LOCAL_OPTIONS | {"n_ctx", "seed"},
    "llama-server": _LOCAL_OPTIONS | {"n_ctx", "seed", "startup_timeout_s"},
    "hf": _LOCAL_OPTIONS,
}


class BackendError(Exception):
    """A backend cannot be opened: the message names the model or endpoint and the reason."""


def open_backend(
    spec: str, *, timeout_s: float = 120.0, retries: int = 2, concurrency: int = 4, **options: Any
) -> Backend:
    """Open the backend ``spec`` names (see the module docstring). ``timeout_s`` bounds one request (HTTP
    read timeout, or wall-clock generation time for in-process backends); ``retries`` and ``concurrency``
    apply to HTTP backends (in-process inference runs one request at a time). ``options`` go to the backend:
    ``n_ctx``, ``n_threads``, ``seed``, ``chat_format``, ``refuse_at`` for local models; ``api_key``,
    ``connect_timeout_s`` for HTTP; ``startup_timeout_s`` for ``llama-server:``."""
    kind, _, rest = spec.partition(":")
    if kind not in ("gguf", "llama-server", "openai", "hf") or not rest:
        if spec.lower().endswith(".gguf"):
            kind, rest = "gguf", spec
        else:
            raise BackendError(f"unknown backend spec {spec!r}: use {SPEC_FORMS}")
    unknown = sorted(set(options) - OPTIONS[kind])
    if unknown:
        raise BackendError(
            f"option(s) {', '.join(unknown)} do not apply to {kind}: backends; known: {', '.join(sorted(OPTIONS[kind]))}"
        )
    if kind == "openai":
        from weightwarden.evals.backends.openai_http import OpenAIBackend

        base_url, _, model = rest.partition("#")
        return OpenAIBackend(
            base_url, model or None, timeout_s=timeout_s, retries=retries, concurrency=concurrency, **options
        )
    if kind == "gguf":
        from weightwarden.evals.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(Path(rest), timeout_s=timeout_s, **options)
    if kind == "llama-server":
        from weightwarden.evals.backends.llamacpp import LlamaServerBackend

        return LlamaServerBackend(Path(rest), timeout_s=timeout_s, retries=retries, concurrency=concurrency, **options)
    from weightwarden.evals.backends.transformers_hf import TransformersBackend

    folder, _, gguf_file = rest.partition("#")
    return TransformersBackend(Path(folder), gguf_file or None, timeout_s=timeout_s, **options)
