"""Eval backends: the real SmolLM2-135M GGUF in process, in a managed llama-cpp server and in transformers;
the OpenAI client's error handling against small scripted HTTP servers on 127.0.0.1; model vetting and chat
formats; the canned backend for runner tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from weightwarden.evals.backends import BackendError, open_backend
from weightwarden.evals.backends._chat_format import FORMATS, detect_chat_format, get_chat_format
from weightwarden.evals.backends._retry import RetryPolicy, parse_retry_after
from weightwarden.evals.backends._vetting import vet_local_model
from weightwarden.evals.backends.scripted import ScriptedBackend
from weightwarden.evals.model import Completion, Message, Sampling

QUESTION = (Message("user", "What is the capital of France?"),)
GREEDY = Sampling(temperature=0.0, max_tokens=24, seed=0)


def run(coro):
    return asyncio.run(coro)


# ------------------------------------------------------------------------------ scripted HTTP endpoint


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict = field(default_factory=lambda: _chat_json("Paris."))
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


def _chat_json(content, finish="stop", model="served-model") -> dict:
    return {
        "id": "x", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }  # fmt: skip


class Endpoint:
    """A tiny OpenAI-like server on 127.0.0.1: ``/v1/models`` lists ``models``; each POST gets the next
    scripted reply (the last one repeats). Records every request and the most requests ever in flight."""

    def __init__(self, replies: list[Reply], models: tuple[str, ...] = ("served-model",)) -> None:
        self.replies = list(replies)
        self.models = models
        self.requests: list[tuple[str, dict[str, str], dict | None]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                endpoint.requests.append((self.path, dict(self.headers), None))
                body = json.dumps({"object": "list", "data": [{"id": m} for m in endpoint.models]}).encode()
                self._send(200, body, {"Content-Type": "application/json"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length))
                with endpoint._lock:
                    endpoint.requests.append((self.path, dict(self.headers), payload))
                    reply = endpoint.replies.pop(0) if len(endpoint.replies) > 1 else endpoint.replies[0]
                    endpoint.in_flight += 1
                    endpoint.max_in_flight = max(endpoint.max_in_flight, endpoint.in_flight)
                try:
                    time.sleep(reply.delay_s)
                    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                finally:
                    # Leave the in-flight count BEFORE answering: once the answer is out, the client may send its
                    # next request, which must not find this one still counted (a race on a loaded machine).
                    with endpoint._lock:
                        endpoint.in_flight -= 1
                with contextlib.suppress(OSError):  # the client gave up (timeout test)
                    self._send(reply.status, body, {"Content-Type": "application/json", **reply.headers})

            def _send(self, status, body, headers):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def posts(self) -> list[dict]:
        return [payload for path, _, payload in self.requests if payload is not None]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint_factory():
    made: list[Endpoint] = []

    def make(*replies: Reply, models: tuple[str, ...] = ("served-model",)) -> Endpoint:
        endpoint = Endpoint(list(replies) or [Reply()], models)
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.close()


class Sleeps:
    """Stands in for asyncio.sleep in the client: records the backoff delays instead of waiting them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _client(endpoint: Endpoint, model: str | None = None, **options):
    sleeps = Sleeps()
    spec = f"openai:{endpoint.url}" + (f"#{model}" if model else "")
    backend = open_backend(spec, sleep=sleeps, **options)
    return backend, sleeps


def _complete(backend, messages=QUESTION, sampling=GREEDY) -> Completion:
    async def go():
        try:
            return await backend.complete(messages, sampling)
        finally:
            await backend.aclose()

    return run(go())


# ------------------------------------------------------------------------------ OpenAI client: success


def test_openai_client_sends_explicit_sampling_and_reports_identity(endpoint_factory, monkeypatch):
    monkeypatch.delenv("WW_EVAL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    endpoint = endpoint_factory(Reply(body=_chat_json("Paris.", model="served-model-v2")))
    backend, _ = _client(endpoint)
    assert backend.identity.kind == "openai"
    assert backend.identity.model == "served-model"  # from GET /v1/models
    assert backend.identity.endpoint == endpoint.url + "/v1"
    sampling = Sampling(temperature=0.7, top_p=0.9, max_tokens=17, seed=42, stop=("END",))
    completion = _complete(backend, (Message("system", "Be brief."), *QUESTION), sampling)
    assert completion.ok and completion.text == "Paris."
    assert completion.finish_reason == "stop"
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, 3)
    assert completion.model == "served-model-v2"  # the reply's own model field
    assert completion.latency_s > 0
    path, headers, body = endpoint.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["model"] == "served-model"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}
    ]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"], body["stop"]) == (
        0.7, 0.9, 17, 42, ["END"]
    )
    assert not any(k.lower() == "authorization" for k in headers)


def test_api_key_is_sent_only_when_configured_and_never_recorded(endpoint_factory, monkeypatch):
    endpoint = endpoint_factory()
    monkeypatch.setenv("WW_EVAL_API_KEY", "sk-from-env")
    backend, _ = _client(endpoint)
    _complete(backend)
    assert endpoint.requests[-1][1].get("Authorization") == "Bearer sk-from-env"
    backend, _ = _client(endpoint, api_key="sk-option")
    _complete(backend)
    assert endpoint.requests[-1][1].get("Authorization") == "Bearer sk-option"
    assert backend.identity.details["authenticated"] is True
    assert "sk-option" not in repr(backend.identity)


def test_openai_api_key_is_honoured_but_never_sent_in_clear_text_to_another_host(endpoint_factory, monkeypatch):
    from weightwarden.evals.backends.openai_http import _safe_for_generic_key

    endpoint = endpoint_factory()
    monkeypatch.delenv("WW_EVAL_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    backend, _ = _client(endpoint)  # a loopback endpoint
    _complete(backend)
    assert endpoint.requests[-1][1].get("Authorization") == "Bearer sk-openai"
    monkeypatch.setenv("WW_EVAL_API_KEY", "sk-ww")  # the specific variable wins
    backend, _ = _client(endpoint)
    _complete(backend)
    assert endpoint.requests[-1][1].get("Authorization") == "Bearer sk-ww"
    assert _safe_for_generic_key("https://api.example.com/v1") and _safe_for_generic_key("http://[::1]:8080/v1")
    assert not _safe_for_generic_key("http://10.0.0.5:8080/v1")
    assert not _safe_for_generic_key("http://models.internal/v1")


def test_endpoint_serving_several_models_needs_a_choice(endpoint_factory):
    endpoint = endpoint_factory(models=("a", "b"))
    with pytest.raises(BackendError, match="serves 2 models"):
        _client(endpoint)
    backend, _ = _client(endpoint, model="b")
    assert backend.identity.model == "b"
    _complete(backend)
    assert endpoint.posts[-1]["model"] == "b"


def test_empty_answer_is_empty_text_not_an_error(endpoint_factory):
    endpoint = endpoint_factory(Reply(body=_chat_json("")), Reply(body=_chat_json(None)))
    for _ in range(2):
        backend, _ = _client(endpoint)
        completion = _complete(backend)
        assert completion.text == "" and completion.error is None and completion.finish_reason == "stop"


def test_length_finish_reason_is_kept(endpoint_factory):
    endpoint = endpoint_factory(Reply(body=_chat_json("Paris is the capi", finish="length")))
    backend, _ = _client(endpoint)
    completion = _complete(backend)
    assert completion.ok and completion.finish_reason == "length"


# ------------------------------------------------------------------------------ OpenAI client: failures


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_is_an_error_after_retries():
    sleeps = Sleeps()
    backend = open_backend(f"openai:http://127.0.0.1:{_closed_port()}#m", retries=2, sleep=sleeps)
    assert "model_list_error" in backend.identity.details
    completion = _complete(backend)
    assert completion.text is None and not completion.ok
    assert completion.error.startswith("connection failed") and "gave up after 3 attempts" in completion.error
    assert len(sleeps.delays) == 2 and sleeps.delays[0] <= sleeps.delays[1] * 2  # backoff grows (with jitter)


def test_timeout_is_an_error(endpoint_factory):
    endpoint = endpoint_factory(Reply(delay_s=3.0))
    backend, _ = _client(endpoint, timeout_s=0.3, retries=0)
    completion = _complete(backend)
    assert completion.text is None and completion.error == "timeout: no answer within 0.3 s"


def test_server_error_then_success_is_retried(endpoint_factory):
    endpoint = endpoint_factory(Reply(500, {"error": {"message": "overloaded"}}), Reply())
    backend, sleeps = _client(endpoint, retries=2)
    completion = _complete(backend)
    assert completion.ok and completion.text == "Paris."
    assert len(endpoint.posts) == 2 and len(sleeps.delays) == 1


def test_rate_limit_waits_for_retry_after(endpoint_factory):
    endpoint = endpoint_factory(Reply(429, {"error": "slow down"}, {"Retry-After": "7"}), Reply())
    backend, sleeps = _client(endpoint, retries=2)
    completion = _complete(backend)
    assert completion.ok
    assert sleeps.delays == [7.0]


def test_rate_limit_longer_than_we_wait_is_an_error(endpoint_factory):
    endpoint = endpoint_factory(Reply(429, {"error": "quota"}, {"Retry-After": "3600"}), Reply())
    backend, sleeps = _client(endpoint, retries=2)
    completion = _complete(backend)
    assert completion.text is None and completion.error.startswith("HTTP 429: quota")
    assert "3600 s" in completion.error and sleeps.delays == [] and len(endpoint.posts) == 1


def test_server_errors_exhaust_the_retries(endpoint_factory):
    endpoint = endpoint_factory(Reply(503, b"upstream down"))
    backend, sleeps = _client(endpoint, retries=2)
    completion = _complete(backend)
    assert completion.error == "HTTP 503: upstream down (gave up after 3 attempts)"
    assert len(endpoint.posts) == 3


def test_client_errors_are_not_retried(endpoint_factory):
    endpoint = endpoint_factory(Reply(400, {"error": {"message": "max_tokens too large"}}))
    backend, sleeps = _client(endpoint, retries=2)
    completion = _complete(backend)
    assert completion.error == "HTTP 400: max_tokens too large"
    assert len(endpoint.posts) == 1 and sleeps.delays == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html>not json", "malformed response: not JSON: <html>not json"),
        ({"choices": []}, "malformed response: no choices"),
        ({"object": "chat.completion"}, "malformed response: no choices"),
        ({"choices": [{"finish_reason": "stop"}]}, "malformed response: choice has no message"),
        ({"choices": [{"message": {"content": 5}}]}, "malformed response: answer text is int"),
        ({"error": {"message": "model crashed"}}, "endpoint reported an error: model crashed"),
    ],
)
def test_malformed_replies_are_errors_not_answers(endpoint_factory, body, expected):
    endpoint = endpoint_factory(Reply(body=body))
    backend, _ = _client(endpoint)
    completion = _complete(backend)
    assert completion.text is None and completion.error == expected
    assert len(endpoint.posts) == 1


def test_redirects_are_not_followed(endpoint_factory):
    endpoint = endpoint_factory(Reply(307, b"", {"Location": "http://attacker.invalid/v1/chat/completions"}))
    backend, _ = _client(endpoint)
    completion = _complete(backend)
    assert completion.text is None and "redirect to http://attacker.invalid" in completion.error


def test_oversized_reply_is_an_error(endpoint_factory):
    endpoint = endpoint_factory(Reply(body=_chat_json("x" * 5000)))
    backend, _ = _client(endpoint, max_response_bytes=1000)
    completion = _complete(backend)
    assert completion.text is None and "larger than 1000 bytes" in completion.error


def test_oversized_model_list_is_recorded_not_read(endpoint_factory):
    endpoint = endpoint_factory(models=tuple(f"model-{i}" for i in range(200)))
    backend, _ = _client(endpoint, model="model-1", max_response_bytes=1000)
    assert "larger than 1000 bytes" in backend.identity.details["model_list_error"]
    assert backend.identity.details["served_models"] is None


def test_concurrency_limit_bounds_requests_in_flight(endpoint_factory):
    endpoint = endpoint_factory(Reply(delay_s=0.1))
    backend, _ = _client(endpoint, concurrency=2)

    async def go():
        try:
            return await asyncio.gather(*(backend.complete(QUESTION, GREEDY) for _ in range(6)))
        finally:
            await backend.aclose()

    results = run(go())
    assert all(r.ok for r in results) and len(endpoint.posts) == 6
    assert endpoint.max_in_flight <= 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ollama:llama3", "unknown backend spec"),
        ("openai:ftp://127.0.0.1/v1", "http:// or https://"),
        ("openai:http://user:pw@127.0.0.1:9/v1", "must not carry credentials"),
        ("gguf:/nonexistent/model.gguf", "no such file"),
    ],
)
def test_bad_specs_are_refused_clearly(spec, message):
    with pytest.raises(BackendError, match=message):
        open_backend(spec)


def test_unknown_options_are_refused():
    with pytest.raises(BackendError, match="n_ctx do not apply to openai"):
        open_backend("openai:http://127.0.0.1:9#m", n_ctx=5)


def test_retry_after_and_backoff():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    from datetime import UTC, datetime

    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=8.0)
    for attempt, step in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays) and len(set(delays)) > 1
    assert policy.delay(3, retry_after=2.5) == 2.5
    assert policy.retryable_status(429) and policy.retryable_status(502)
    assert not policy.retryable_status(400) and not policy.retryable_status(404)


# ------------------------------------------------------------------------------ chat formats and vetting


def test_chatml_matches_the_smollm2_template_without_rendering_it_in_the_product(smollm2_gguf):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from weightwarden.artifact.loader import open_artifact

    template = next(c.text for e in open_artifact(smollm2_gguf).walk() for c in e.code)
    assert detect_chat_format(template).name == "chatml"
    conversation = [Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello!"),
                    Message("user", "Capital of France?")]  # fmt: skip
    # The test (not the product) renders the known, trusted template once to prove the formats agree.
    expected = (
        ImmutableSandboxedEnvironment()
        .from_string(template)
        .render(messages=[{"role": m.role, "content": m.content} for m in conversation], add_generation_prompt=True)
    )
    assert FORMATS["chatml"].render(conversation) == expected


def test_chat_formats_keep_every_message():
    conversation = [Message("system", "S"), Message("user", "U"), Message("tool", "TOOL-RESULT", name="search"),
                    Message("assistant", "A"), Message("user", "U2")]  # fmt: skip
    for fmt in FORMATS.values():
        prompt = fmt.render(conversation)
        assert all(part in prompt for part in ("S", "U", "TOOL-RESULT", "A", "U2")), fmt.name
        assert prompt.index("TOOL-RESULT") < prompt.index("U2")
    assert "<|im_start|>tool\nTOOL-RESULT<|im_end|>" in FORMATS["chatml"].render(conversation)
    assert FORMATS["gemma"].render(conversation).endswith("<start_of_turn>model\n")
    assert detect_chat_format("{{ '<start_of_turn>' }}").name == "gemma"
    assert detect_chat_format("{% for m in messages %}{{ m.content }}{% endfor %}") is None
    with pytest.raises(ValueError, match="unknown chat format"):
        get_chat_format("alpaca")


def _write_gguf(path: Path, template: str | None) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_hostile_chat_template_is_refused_before_llama_cpp_sees_it(tmp_path):
    bad = _write_gguf(tmp_path / "evil.gguf", "{{ ''.__class__.__mro__[1].__subclasses__() }}<|im_start|>")
    for spec in (f"gguf:{bad}", f"llama-server:{bad}", f"hf:{bad}"):
        with pytest.raises(BackendError, match=r"refused to load the model.*WW-TPL-001"):
            open_backend(spec)
    # Naming a chat format does not bypass the scan: llama-cpp-python would still compile the template.
    with pytest.raises(BackendError, match="WW-TPL-001"):
        open_backend(f"gguf:{bad}", chat_format="chatml")


def test_unrecognised_template_needs_an_explicit_format(tmp_path):
    plain = _write_gguf(tmp_path / "plain.gguf", "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(BackendError, match="in no format weightwarden knows.*chat_format="):
        vet_local_model(plain, chat_format=None)
    none = _write_gguf(tmp_path / "none.gguf", None)
    with pytest.raises(BackendError, match="has no chat template"):
        vet_local_model(none, chat_format=None)
    vetted = vet_local_model(plain, chat_format="llama-3")
    assert vetted.chat_format.name == "llama-3" and vetted.chat_format_source == "user"


def test_hf_folder_with_remote_code_or_pickle_only_weights_is_refused(tmp_path):
    import torch

    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({"model_type": "llama", "auto_map": {"AutoModel": "m.Model"}}))
    (remote / "model.safetensors").write_bytes(b"")
    with pytest.raises(BackendError, match="auto_map.*never runs a model's code"):
        open_backend(f"hf:{remote}")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "llama"}))
    torch.save({"w": torch.zeros(2)}, pickled / "pytorch_model.bin")  # written by the test, never loaded
    with pytest.raises(BackendError, match="pickle checkpoints.*torch.load"):
        open_backend(f"hf:{pickled}")


# ------------------------------------------------------------------------------ the real model, in process


def test_in_process_completion_is_real_and_deterministic(smollm2_backend, smollm2_gguf):
    first = run(smollm2_backend.complete(QUESTION, GREEDY))
    second = run(smollm2_backend.complete(QUESTION, GREEDY))
    assert first.ok and first.text.strip(), first
    assert "Paris" in first.text
    assert first.text == second.text and first.finish_reason == second.finish_reason == "stop"
    assert first.prompt_tokens > 0 and 0 < first.completion_tokens <= GREEDY.max_tokens
    identity = smollm2_backend.identity
    assert identity.kind == "llama-cpp" and identity.model == smollm2_gguf.name
    assert identity.digest == hashlib.sha256(smollm2_gguf.read_bytes()).hexdigest()
    assert identity.details["chat_format"] == "chatml"


def test_in_process_sampling_is_reproducible_with_a_seed(smollm2_backend):
    hot = Sampling(temperature=1.2, top_p=0.95, max_tokens=16, seed=1234)
    answers = [run(smollm2_backend.complete(QUESTION, hot)).text for _ in range(2)]
    assert answers[0] == answers[1] and answers[0]


def test_in_process_max_tokens_bounds_a_model_that_would_go_on(smollm2_backend):
    story = (Message("user", "Write a very long story about a dragon."),)
    completion = run(smollm2_backend.complete(story, Sampling(max_tokens=5)))
    assert completion.ok and completion.finish_reason == "length" and completion.completion_tokens == 5


def test_in_process_prompt_longer_than_the_context_is_an_error(smollm2_backend):
    huge = (Message("user", "word " * 5000),)
    completion = run(smollm2_backend.complete(huge, Sampling(max_tokens=4)))
    assert completion.text is None and completion.error.startswith("llama-cpp error")


def test_in_process_wall_clock_timeout_is_an_error(smollm2_gguf):
    backend = open_backend(f"gguf:{smollm2_gguf}", timeout_s=1e-9, n_ctx=512, n_threads=1)
    try:
        completion = run(backend.complete(QUESTION, GREEDY))
    finally:
        run(backend.aclose())
    assert completion.text is None and completion.error.startswith("timeout: generation exceeded")


def test_closing_the_backend_stops_a_running_generation(smollm2_gguf):
    backend = open_backend(f"gguf:{smollm2_gguf}", n_ctx=1024, n_threads=1)
    counting = (Message("user", "Count from 1 to 1000, separated by commas."),)

    async def go():
        task = asyncio.create_task(backend.complete(counting, Sampling(max_tokens=900)))
        while not backend._lock.locked():  # generation has started
            await asyncio.sleep(0.01)
        await backend.aclose()
        return await task

    completion = run(go())
    assert completion.text is None and completion.error.startswith("cancelled")
    assert run(backend.complete(QUESTION, GREEDY)).error == "backend is closed"


def test_in_process_backend_serialises_concurrent_requests(smollm2_backend):
    async def go():
        return await asyncio.gather(*(smollm2_backend.complete(QUESTION, GREEDY) for _ in range(3)))

    results = run(go())
    assert len({r.text for r in results}) == 1 and all(r.ok for r in results)


# ------------------------------------------------------------------------------ the real model, served


def test_managed_server_answers_through_the_openai_client(llama_server, smollm2_backend):
    backend = open_backend(f"openai:{llama_server.base_url}")
    assert backend.identity.model == llama_server.model  # the name the server reports
    assert backend.identity.endpoint == llama_server.base_url
    completion = _complete(backend)
    assert completion.ok and "Paris" in completion.text and completion.model == llama_server.model


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has stopped running; its parent just has not reaped it


def _wait_gone(pid: int, limit_s: float = 30.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_llama_server_backend_starts_answers_like_in_process_and_stops(smollm2_gguf, smollm2_backend):
    backend = open_backend(f"llama-server:{smollm2_gguf}", n_ctx=2048, n_threads=1)
    pid = backend.server.pid
    try:
        assert _alive(pid)
        assert backend.identity.kind == "llama-cpp-server"
        assert backend.identity.digest == smollm2_backend.identity.digest
        served = run(backend.complete(QUESTION, GREEDY))
    finally:
        run(backend.aclose())
    assert _wait_gone(pid, 10.0), "the server outlived aclose()"
    # The same prompt (weightwarden's formatter), the same file, greedy: the same answer as in process.
    local = run(smollm2_backend.complete(QUESTION, GREEDY))
    assert served.ok and served.text == local.text


_OWNER = """
import sys
from weightwarden.evals.backends import open_backend
backend = open_backend("llama-server:" + sys.argv[1], n_threads=1, n_ctx=512)
print(backend.server.pid, flush=True)
if sys.argv[2] == "hang":
    import time
    time.sleep(600)
"""


@pytest.mark.parametrize("how", ["exit", "killed"])
def test_no_server_outlives_its_owner(smollm2_gguf, how):
    """Interpreter exit without aclose() (atexit) and SIGKILL of the owner (the server's watchdog)."""
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(smollm2_gguf), "hang" if how == "killed" else "exit"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        pid = int(owner.stdout.readline())
        assert _alive(pid)
        if how == "killed":
            os.kill(owner.pid, signal.SIGKILL)
        owner.wait(60)
        assert _wait_gone(pid), f"llama_cpp.server (pid {pid}) is still running after its owner {how}"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()


# ------------------------------------------------------------------------------ transformers


def test_transformers_backend_answers_from_the_gguf(smollm2_gguf):
    backend = open_backend(f"hf:{smollm2_gguf.parent}#{smollm2_gguf.name}")
    try:
        completion = run(backend.complete(QUESTION, Sampling(max_tokens=8)))
    finally:
        run(backend.aclose())
    assert backend.identity.kind == "transformers"
    assert backend.identity.details["chat_format"] == "chatml"
    assert completion.ok and completion.text.strip(), completion
    assert "<|im_end|>" not in completion.text and completion.completion_tokens <= 8
    assert completion.finish_reason in ("stop", "length")


# ------------------------------------------------------------------------------ canned backend


def test_scripted_backend_answers_from_its_script_only():
    backend = ScriptedBackend({"hi": "hello", "fail": Completion(text=None, error="timeout after 1 s")})
    assert backend.identity.kind == "scripted"
    assert run(backend.complete((Message("user", "hi"),), GREEDY)).text == "hello"
    assert run(backend.complete((Message("user", "fail"),), GREEDY)).error == "timeout after 1 s"
    missing = run(backend.complete((Message("user", "other"),), GREEDY))
    assert missing.text is None and "no answer" in missing.error
    assert len(backend.calls) == 3

    echo = ScriptedBackend(lambda messages: messages[-1].content.upper())
    assert run(echo.complete((Message("user", "x"),), GREEDY)).text == "X"
    with_sampling: Callable = lambda messages, sampling: str(sampling.max_tokens)  # noqa: E731
    assert run(ScriptedBackend(with_sampling).complete(QUESTION, GREEDY)).text == "24"
    run(echo.aclose())
    assert echo.closed
