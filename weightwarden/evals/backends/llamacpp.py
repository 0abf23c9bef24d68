"""GGUF models through llama-cpp-python: in this process, or in its OpenAI-compatible server that
weightwarden starts on 127.0.0.1 and stops again.

Usage (normally through :func:`weightwarden.evals.backends.open_backend`)::

    backend = LlamaCppBackend(Path("model.gguf"), n_ctx=2048, n_threads=2)            # spec gguf:PATH
    backend = LlamaServerBackend(Path("model.gguf"), n_ctx=2048, n_threads=2)         # spec llama-server:PATH
    completion = await backend.complete(messages, sampling)
    await backend.aclose()

Both scan the model first and choose a chat format without rendering the model's template (see
:mod:`._vetting`): the prompt is built by weightwarden's formatter and sent as a plain completion prompt, so
both backends (and the transformers one) feed the model the same tokens. llama-cpp-python is also told the
format by name, so its own chat path never selects the GGUF's Jinja template either.

In process, inference blocks: it runs in a worker thread, one request at a time (a ``Llama`` object is not
thread-safe), bounded by ``max_tokens`` (finish reason ``"length"``) and by a wall-clock deadline checked
after every token (a request that hits it is an error, not an answer). The identity carries the SHA-256 of
the model file.

The managed server is ``python -m llama_cpp.server --model PATH --host 127.0.0.1 --port <free> --n_ctx N
--n_threads T --chat_format F``, started with a minimal environment (the server also reads settings such as
HOST or API_KEY from the environment) and a watchdog that ends it if this process disappears; weightwarden
polls ``/v1/models`` until it answers (or reports the server's stderr tail), then talks to it with
:class:`~weightwarden.evals.backends.openai_http.OpenAIBackend`. ``aclose()``, interpreter exit (atexit)
and the watchdog make sure no server outlives its owner.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from weightwarden.evals.backends import BackendError
from weightwarden.evals.backends._vetting import VettedModel, sha256_file, vet_local_model
from weightwarden.evals.model import BackendIdentity, Completion, Message, Sampling

INSTALL_HINT = "pip install 'llama-cpp-python[server]==0.3.36' (built with CMAKE_ARGS=\"-DGGML_NATIVE=OFF\")"
DEFAULT_N_CTX = 2048


def _threads(n_threads: int | None) -> int:
    """Threads for generation *and* prompt processing. The default is llama-cpp-python's (half the cores);
    its default for the prompt is every core, and llama.cpp threads spin while they wait for each other,
    which on a busy machine was measured several times slower (docs/evals-backends.md)."""
    return n_threads if n_threads is not None else max((os.cpu_count() or 2) // 2, 1)


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise BackendError(f"the gguf: and llama-server: backends need llama-cpp-python ({exc}); {INSTALL_HINT}") from None
    return llama_cpp


class LlamaCppBackend:
    """llama-cpp-python in this process (spec ``gguf:PATH``)."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        seed: int = 0,
        chat_format: str | None = None,
        refuse_at: str = "medium",
        timeout_s: float = 120.0,
    ) -> None:
        llama_cpp = _import_llama_cpp()
        self._llama_cpp = llama_cpp
        self._vetted: VettedModel = vet_local_model(path, chat_format=chat_format, refuse_at=refuse_at)
        self._format = self._vetted.chat_format
        self._timeout_s = timeout_s
        n_threads = _threads(n_threads)
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                seed=seed,
                verbose=False,
                chat_format=self._format.llama_cpp_name,
            )
        except Exception as exc:  # noqa: BLE001 - llama.cpp reports load failures as ValueError/RuntimeError
            raise BackendError(f"{path}: llama-cpp-python could not load the model: {exc}") from None
        self._lock = threading.Lock()  # a thread lock, not an asyncio one: it works from any event loop
        self._closing = False  # set by aclose(): a running generation stops at its next token
        self.identity = BackendIdentity(
            kind="llama-cpp",
            model=path.name,
            digest=sha256_file(path),
            details={
                "path": str(path.resolve()),
                "n_ctx": n_ctx,
                "n_threads": n_threads,
                "chat_format": self._format.name,
                "chat_format_source": self._vetted.chat_format_source,
                "chat_template_sha256": self._vetted.template_sha256,
                "llama_cpp_python": getattr(llama_cpp, "__version__", None),
            },
        )

    async def complete(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion:
        if self._llm is None:
            return Completion(text=None, error="backend is closed")
        return await asyncio.to_thread(self._complete_blocking, messages, sampling)

    def _complete_blocking(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion:
        prompt = self._format.render(messages)
        stop = list(sampling.stop) + [s for s in self._format.stop if s not in sampling.stop]
        with self._lock:
            if self._llm is None:
                return Completion(text=None, error="backend is closed")
            started = time.perf_counter()
            deadline = started + self._timeout_s
            produced = 0
            timed_out = cancelled = False

            def should_stop(_tokens: Any, _logits: Any) -> bool:
                nonlocal produced, timed_out, cancelled
                produced += 1
                timed_out = timed_out or time.perf_counter() > deadline
                cancelled = cancelled or self._closing
                return timed_out or cancelled

            try:
                response = self._llm.create_completion(
                    prompt,
                    max_tokens=sampling.max_tokens,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    seed=sampling.seed,
                    stop=stop,
                    stopping_criteria=self._llama_cpp.StoppingCriteriaList([should_stop]),
                )
            except Exception as exc:  # noqa: BLE001 - e.g. a prompt longer than the context: an error record
                return Completion(text=None, error=f"llama-cpp error: {exc}", latency_s=time.perf_counter() - started)
            latency = time.perf_counter() - started
        if cancelled:
            return Completion(text=None, error="cancelled: the backend was closed during generation", latency_s=latency)
        if timed_out:
            return Completion(
                text=None,
                error=f"timeout: generation exceeded {self._timeout_s:g} s wall-clock ({produced} tokens)",
                latency_s=latency,
            )
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Completion(
            text=choice.get("text") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_s=latency,
            model=self.identity.model,
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._closing = True
        with self._lock:
            llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()


# -- managed server -------------------------------------------------------------------------------------

# Runs in the child: end the server when the process that started it is gone (reparenting changes the
# parent id), even if that process was killed without running atexit; then run llama_cpp.server.
_LAUNCHER = """
import os, runpy, sys, threading, time
parent = int(sys.argv[1])
def watch():
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv = ["llama_cpp.server"] + sys.argv[2:]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
STDERR_TAIL_BYTES = 4000
_LIVE_SERVERS: set[ManagedLlamaServer] = set()  # strong references: a forgotten server is still stopped at exit


def _stop_all_servers() -> None:
    for server in list(_LIVE_SERVERS):
        server.stop()


atexit.register(_stop_all_servers)


def _minimal_environment() -> dict[str, str]:
    """Only what Python needs to start: llama_cpp.server takes settings from environment variables too
    (HOST, PORT, MODEL, API_KEY, CONFIG_FILE, ...), which must not change what weightwarden asked for."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "PYTHONPATH")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ManagedLlamaServer:
    """A ``python -m llama_cpp.server`` process on 127.0.0.1 that this process owns.

    The model is scanned and its chat format chosen when the object is created (``vetted``); the server is
    told that format by name, so its chat endpoint never renders the GGUF's template either.
    ``start()`` returns once ``/v1/models`` answers; ``base_url`` and ``model`` then say where and what.
    ``stop()`` terminates it (then kills it after a grace period); it is idempotent.
    """

    def __init__(
        self,
        path: Path,
        *,
        chat_format: str | None = None,
        refuse_at: str = "medium",
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        seed: int = 0,
        startup_timeout_s: float = 120.0,
        python: str = sys.executable,
    ) -> None:
        self.path = path
        self.model = path.name
        # The server loads (and compiles the templates of) whatever it is given: scan first, as in process.
        self.vetted = vet_local_model(path, chat_format=chat_format, refuse_at=refuse_at)
        self._n_ctx = n_ctx
        self._n_threads = _threads(n_threads)
        self._seed = seed
        self._startup_timeout_s = startup_timeout_s
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> ManagedLlamaServer:
        if self.running():
            return self
        _import_llama_cpp()
        # The port is chosen free, then handed to the server: another process may take it in between, so a
        # bind failure is retried on a new port.
        for _ in range(3):
            self._spawn(_free_port())
            error = self._wait_ready()
            if error is None:
                return self
            tail = self.stderr_tail()
            self.stop()
            if "address already in use" not in tail.lower():
                raise BackendError(f"{self.path}: llama_cpp.server did not start: {error}; its stderr ends with:\n{tail}")
        raise BackendError(f"{self.path}: llama_cpp.server could not bind a free port on 127.0.0.1")

    def _command(self, port: int) -> list[str]:
        args = [
            "--model", str(self.path.resolve()), "--model_alias", self.model, "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", str(self._n_ctx), "--chat_format", self.vetted.chat_format.llama_cpp_name, "--seed", str(self._seed),
            "--n_threads", str(self._n_threads), "--n_threads_batch", str(self._n_threads), "--verbose", "false",
        ]  # fmt: skip
        # -I (red team round 2, R2): the launcher runs in the temporary folder, which anyone can write to; an
        # isolated interpreter puts neither it nor PYTHONPATH on sys.path, so a planted llama_cpp/ or json.py
        # there cannot run in the server.
        return [self._python, "-I", "-c", _LAUNCHER, str(os.getpid()), *args]

    def _spawn(self, port: int) -> None:
        self.port = port
        # A file, not a pipe: a chatty server never blocks on it. Closed in stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            self._command(port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=_minimal_environment(),
            cwd=tempfile.gettempdir(),
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop the server in order
        )
        _LIVE_SERVERS.add(self)

    def _wait_ready(self) -> str | None:
        import httpx

        deadline = time.monotonic() + self._startup_timeout_s
        with httpx.Client(timeout=2.0, trust_env=False, follow_redirects=False) as client:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    code = self._process.returncode if self._process is not None else None
                    return f"the server exited with code {code} while starting"
                try:
                    if client.get(f"{self.base_url}/models").status_code == 200:
                        return None
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        return f"no answer from {self.base_url}/models within {self._startup_timeout_s:g} s"

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - STDERR_TAIL_BYTES))
            return self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def stop(self, grace_s: float = 5.0) -> None:
        process, self._process = self._process, None
        _LIVE_SERVERS.discard(self)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            stderr.close()

    def __enter__(self) -> ManagedLlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LlamaServerBackend:
    """A managed ``llama_cpp.server`` (spec ``llama-server:PATH``), spoken to over its OpenAI API."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        seed: int = 0,
        chat_format: str | None = None,
        refuse_at: str = "medium",
        startup_timeout_s: float = 120.0,
        timeout_s: float = 120.0,
        retries: int = 2,
        concurrency: int = 4,
    ) -> None:
        from weightwarden.evals.backends.openai_http import OpenAIBackend

        _import_llama_cpp()
        self.server = ManagedLlamaServer(
            path,
            chat_format=chat_format,
            refuse_at=refuse_at,
            n_ctx=n_ctx,
            n_threads=n_threads,
            seed=seed,
            startup_timeout_s=startup_timeout_s,
        )
        vetted = self.server.vetted
        digest = sha256_file(path)
        self.server.start()
        try:
            self._client = OpenAIBackend(
                self.server.base_url,
                self.server.model,
                timeout_s=timeout_s,
                retries=retries,
                concurrency=concurrency,
                prompt_format=vetted.chat_format,
                kind="llama-cpp-server",
                details={
                    "path": str(path.resolve()),
                    "n_ctx": n_ctx,
                    "n_threads": _threads(n_threads),
                    "chat_format_source": vetted.chat_format_source,
                    "chat_template_sha256": vetted.template_sha256,
                },
            )
        except BaseException:
            self.server.stop()
            raise
        self.identity = replace(self._client.identity, digest=digest)

    async def complete(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion:
        return await self._client.complete(messages, sampling)

    async def aclose(self) -> None:
        await self._client.aclose()
        await asyncio.to_thread(self.server.stop)
