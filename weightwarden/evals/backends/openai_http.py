"""Client for OpenAI-compatible endpoints (``/v1/chat/completions``, ``/v1/models``) with httpx, async.

Usage::

    backend = OpenAIBackend("http://127.0.0.1:8080", model=None, concurrency=4)   # model: the one served
    completion = await backend.complete(messages, Sampling(max_tokens=64))
    await backend.aclose()

What it guarantees, because eval results are only as good as their error handling:

- a failed request is never a model answer: connection errors, timeouts, HTTP errors, redirects, bodies that
  are not JSON or have no choices all come back as ``Completion(text=None, error=<reason>)``; an empty
  answer is ``text=""`` with the finish reason the server reported (``"length"`` is kept as is);
- connection errors, timeouts, 429 and 5xx are retried with exponential backoff and jitter, honouring
  ``Retry-After``; other 4xx are not retried (the same request gets the same answer);
- at most ``concurrency`` requests are in flight; each has a connect and a read timeout; a response body is
  read up to ``max_response_bytes``;
- it talks to the host it was given and nowhere else: redirects are not followed, proxy settings from the
  environment are ignored, and no API key is sent unless one is configured: ``api_key=``, else
  ``WW_EVAL_API_KEY``, else ``OPENAI_API_KEY`` (what every OpenAI-compatible tool reads). The generic
  ``OPENAI_API_KEY`` is sent only over https or to a loopback host, never in clear text to another
  machine; the key is never written into the identity.

The identity is the endpoint plus the model name the server reports (``GET /v1/models``, checked once when
the backend is opened), and each completion carries the ``model`` field of its reply.

``prompt_format`` switches to ``/v1/completions`` with a prompt rendered by weightwarden's own chat
formatter: the managed llama-cpp server uses it so that it sees exactly the prompt the in-process backend
builds (see :mod:`weightwarden.evals.backends.llamacpp`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from weightwarden.evals.backends import BackendError
from weightwarden.evals.backends._chat_format import ChatFormat
from weightwarden.evals.backends._retry import RetryPolicy, parse_retry_after
from weightwarden.evals.log import message_to_json
from weightwarden.evals.model import BackendIdentity, Completion, Message, Sampling

API_KEY_ENV = "WW_EVAL_API_KEY"
GENERIC_API_KEY_ENV = "OPENAI_API_KEY"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_DETAIL_CHARS = 200
MAX_LISTED_MODELS = 20


@dataclass(frozen=True)
class _Retry:
    """A failed attempt that may succeed if sent again."""

    error: str
    retry_after: float | None = None


class _TooLarge(Exception):
    pass


class OpenAIBackend:
    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        retries: int = 2,
        concurrency: int = 4,
        api_key: str | None = None,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 60.0,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        prompt_format: ChatFormat | None = None,
        kind: str = "openai",
        details: dict[str, Any] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        import httpx

        if concurrency < 1:
            raise BackendError(f"concurrency must be at least 1, not {concurrency}")
        if retries < 0:
            raise BackendError(f"retries must be 0 or more, not {retries}")
        self._api_root = _api_root(base_url)
        self._timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._timeout_s = timeout_s
        self._connect_timeout_s = min(connect_timeout_s, timeout_s)
        self._concurrency = concurrency
        self._policy = RetryPolicy(retries=retries, base_delay_s=backoff_s, max_retry_after_s=max_retry_after_s)
        self._max_response_bytes = max_response_bytes
        self._prompt_format = prompt_format
        self._sleep = sleep or asyncio.sleep
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        if key is None and _safe_for_generic_key(self._api_root):
            key = os.environ.get(GENERIC_API_KEY_ENV) or None
        self._headers = {"Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        # An AsyncClient and a Semaphore belong to the event loop that first uses them; a backend used from
        # several asyncio.run() calls (tests, notebooks) gets a fresh pair per loop.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._semaphore: asyncio.Semaphore | None = None

        served, list_error = self._list_models()
        if model is None and served is not None and len(served) > 1:
            raise BackendError(
                f"{self._api_root} serves {len(served)} models ({', '.join(served[:MAX_LISTED_MODELS])}); "
                f"name one: openai:{base_url}#MODEL"
            )
        self._model = model if model is not None else (served[0] if served else None)
        info: dict[str, Any] = {
            "api": "completions" if prompt_format else "chat",
            "authenticated": bool(key),
            "served_models": served[:MAX_LISTED_MODELS] if served is not None else None,
        }
        if prompt_format is not None:
            info["chat_format"] = prompt_format.name
        if list_error is not None:
            info["model_list_error"] = list_error
        info.update(details or {})
        self.identity = BackendIdentity(
            kind=kind, model=self._model or "unknown", endpoint=self._api_root, details=info
        )

    # -- opening ---------------------------------------------------------------------------------------
    def _list_models(self) -> tuple[list[str] | None, str | None]:
        """The model ids ``GET /v1/models`` reports, or (None, why not). Failure is recorded, not fatal:
        the requests themselves will then say what is wrong, one error per attempt."""
        import httpx

        try:
            with (
                httpx.Client(timeout=self._timeout, follow_redirects=False, trust_env=False) as client,
                client.stream("GET", f"{self._api_root}/models", headers=self._headers) as response,
            ):
                status, raw = response.status_code, bytearray()
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) > self._max_response_bytes:
                        return None, f"/v1/models response larger than {self._max_response_bytes} bytes"
        except httpx.HTTPError as exc:
            return None, _transport_error(exc, self._timeout_s, self._connect_timeout_s)
        if status != 200:
            return None, f"HTTP {status}: {_detail(raw)}"
        try:
            data = json.loads(raw).get("data")
            ids = [str(m["id"]) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (ValueError, AttributeError, TypeError):
            return None, "malformed /v1/models response"
        return ids, None

    # -- requests --------------------------------------------------------------------------------------
    async def complete(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion:
        client, semaphore = self._for_running_loop()
        body = self._body(messages, sampling)
        path = "/completions" if self._prompt_format else "/chat/completions"
        async with semaphore:
            started = time.perf_counter()
            result = await self._send(client, f"{self._api_root}{path}", body)
            return replace(result, latency_s=time.perf_counter() - started)

    async def _send(self, client: Any, url: str, body: dict[str, Any]) -> Completion:
        attempts = self._policy.retries + 1
        for attempt in range(attempts):
            outcome = await self._attempt(client, url, body)
            if isinstance(outcome, Completion):
                return outcome
            if attempt == attempts - 1:
                suffix = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
                return Completion(text=None, error=outcome.error + suffix)
            if outcome.retry_after is not None and outcome.retry_after > self._policy.max_retry_after_s:
                return Completion(
                    text=None,
                    error=f"{outcome.error}; the server asks to retry after {outcome.retry_after:.0f} s, longer "
                    f"than the {self._policy.max_retry_after_s:.0f} s weightwarden waits",
                )
            await self._sleep(self._policy.delay(attempt, retry_after=outcome.retry_after))
        raise AssertionError("unreachable")

    async def _attempt(self, client: Any, url: str, body: dict[str, Any]) -> Completion | _Retry:
        import httpx

        try:
            async with client.stream("POST", url, json=body, headers=self._headers) as response:
                raw = await _read_limited(response, self._max_response_bytes)
                status, headers = response.status_code, response.headers
        except _TooLarge:
            return Completion(text=None, error=f"response body larger than {self._max_response_bytes} bytes")
        except httpx.HTTPError as exc:
            return _Retry(_transport_error(exc, self._timeout_s, self._connect_timeout_s))
        if 300 <= status < 400:
            where = headers.get("location", "?")
            return Completion(
                text=None,
                error=f"HTTP {status}: redirect to {where[:MAX_DETAIL_CHARS]} not followed "
                "(weightwarden only talks to the endpoint it was given)",
            )
        if self._policy.retryable_status(status):
            return _Retry(f"HTTP {status}: {_detail(raw)}", parse_retry_after(headers.get("retry-after")))
        if status != 200:
            return Completion(text=None, error=f"HTTP {status}: {_detail(raw)}")
        return self._parse(raw)

    def _parse(self, raw: bytes) -> Completion:
        try:
            data = json.loads(raw)
        except ValueError:
            return Completion(text=None, error=f"malformed response: not JSON: {_detail(raw)}")
        if not isinstance(data, dict):
            return Completion(text=None, error="malformed response: JSON is not an object")
        if data.get("error"):
            return Completion(text=None, error=f"endpoint reported an error: {_detail(data['error'])}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return Completion(text=None, error="malformed response: no choices")
        choice = choices[0]
        if not isinstance(choice, dict):
            return Completion(text=None, error="malformed response: choice is not an object")
        if self._prompt_format is not None:
            text = choice.get("text")
        else:
            message = choice.get("message")
            if not isinstance(message, dict):
                return Completion(text=None, error="malformed response: choice has no message")
            text = message.get("content")
            if text is None:
                # OpenAI puts a structured refusal in "refusal" with null content; no content at all is an
                # empty answer, which the runner records as such.
                text = message.get("refusal") if isinstance(message.get("refusal"), str) else ""
        if not isinstance(text, str):
            return Completion(text=None, error=f"malformed response: answer text is {type(text).__name__}")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        finish = choice.get("finish_reason")
        model = data.get("model")
        return Completion(
            text=text,
            finish_reason=finish if isinstance(finish, str) else None,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            model=model if isinstance(model, str) else self._model,
        )

    def _body(self, messages: tuple[Message, ...], sampling: Sampling) -> dict[str, Any]:
        body: dict[str, Any] = {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": sampling.seed,
            "stream": False,
        }
        if self._model is not None:
            body["model"] = self._model
        stop = list(sampling.stop)
        if self._prompt_format is not None:
            body["prompt"] = self._prompt_format.render(messages)
            stop += [s for s in self._prompt_format.stop if s not in stop]
        else:
            body["messages"] = [message_to_json(m) for m in messages]
        if stop:
            body["stop"] = stop
        return body

    def _for_running_loop(self) -> tuple[Any, asyncio.Semaphore]:
        import httpx

        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None or self._semaphore is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency),
            )
            self._semaphore = asyncio.Semaphore(self._concurrency)
            self._loop = loop
        return self._client, self._semaphore

    async def aclose(self) -> None:
        client, self._client, self._semaphore = self._client, None, None
        loop, self._loop = self._loop, None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()


def _safe_for_generic_key(api_root: str) -> bool:
    """https, or http to a loopback host: where sending $OPENAI_API_KEY does not expose it on the wire."""
    import ipaddress

    import httpx

    url = httpx.URL(api_root)
    if url.scheme == "https":
        return True
    host = url.host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_root(base_url: str) -> str:
    """``http://host:port[/prefix]/v1`` from what the user gave (with or without the ``/v1``)."""
    import httpx

    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise BackendError(f"not a valid endpoint URL: {base_url!r} ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise BackendError(f"endpoint must be an http:// or https:// URL with a host, not {base_url!r}")
    if url.userinfo:
        raise BackendError("endpoint URL must not carry credentials; use api_key= or WW_EVAL_API_KEY")
    if url.query or url.fragment:
        raise BackendError(f"endpoint URL must not have a query or fragment: {base_url!r}")
    root = str(url.copy_with(path=url.path.rstrip("/") or "")).rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"


async def _read_limited(response: Any, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_error(exc: Exception, timeout_s: float, connect_timeout_s: float) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        return f"timeout: could not connect within {connect_timeout_s:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout: no answer within {timeout_s:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {exc or 'connection refused'}"
    return f"connection error: {type(exc).__name__}: {exc}"


def _detail(value: Any) -> str:
    """A short, printable description of an error body (the server's error message when it sent one)."""
    if isinstance(value, bytes | bytearray):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("error"):
            value = parsed["error"]
        else:
            value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        value = value.get("message") or json.dumps(value)[:MAX_DETAIL_CHARS]
    text = "".join(ch if ch.isprintable() else " " for ch in str(value)).strip()
    if not text:
        return "(empty body)"
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
