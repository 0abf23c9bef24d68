"""A canned-answer backend for unit tests of the runner, results and detectors ONLY.

It never stands in for a model in an evaluation (``identity.kind == "scripted"`` says so in every log it
appears in). Usage::

    backend = ScriptedBackend({"How do I pick a lock?": "I can't help with that."}, default="Sure: ...")
    backend = ScriptedBackend(lambda messages, sampling: "answer to " + messages[-1].content)
    backend = ScriptedBackend({"slow": Completion(text=None, error="timeout after 1 s")})   # script an error

A mapping is keyed by the content of the last user message; a callable gets ``(messages)``, or
``(messages, sampling)`` when it takes two arguments. An
answer is a string or a whole :class:`~weightwarden.evals.model.Completion` (to script errors, finish
reasons and usage). A prompt with no scripted answer and no ``default`` is an error completion, so a test
never mistakes a gap in its script for a model answer. ``calls`` records every request.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import replace

from weightwarden.evals.model import BackendIdentity, Completion, Message, Sampling

Answer = str | Completion
Script = Mapping[str, Answer] | Callable[..., Answer]


class ScriptedBackend:
    def __init__(self, answers: Script, *, default: Answer | None = None, model: str = "scripted") -> None:
        self._answers = answers
        self._default = default
        self.calls: list[tuple[tuple[Message, ...], Sampling]] = []
        self.closed = False
        digest = None
        if isinstance(answers, Mapping):
            canon = {k: v if isinstance(v, str) else repr(v) for k, v in answers.items()}
            digest = hashlib.sha256(json.dumps(canon, sort_keys=True).encode("utf-8")).hexdigest()
        self.identity = BackendIdentity(kind="scripted", model=model, digest=digest)
        self._pass_sampling = False
        if callable(answers) and not isinstance(answers, Mapping):
            try:
                inspect.signature(answers).bind(None, None)
                self._pass_sampling = True
            except (TypeError, ValueError):
                self._pass_sampling = False

    async def complete(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion:
        self.calls.append((messages, sampling))
        if callable(self._answers) and not isinstance(self._answers, Mapping):
            call = self._answers
            answer: Answer | None = call(messages, sampling) if self._pass_sampling else call(messages)
        else:
            prompt = next((m.content for m in reversed(messages) if m.role == "user"), "")
            answer = self._answers.get(prompt, self._default)
        if answer is None:
            return Completion(text=None, error="scripted backend has no answer for this prompt")
        if isinstance(answer, Completion):
            return answer if answer.model is not None else replace(answer, model=self.identity.model)
        return Completion(
            text=answer, finish_reason="stop", completion_tokens=len(answer.split()), model=self.identity.model
        )

    async def aclose(self) -> None:
        self.closed = True
