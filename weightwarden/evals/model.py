"""Records that cross the borders between the eval modules: backends, suites, detectors, runner, results.

The data flow is ``Suite`` (items) → transforms (optional) → ``Backend.complete`` (one ``Completion`` per
attempt) → detectors (one ``DetectorResult`` each) → runner (one JSONL record per attempt) → results.
Everything here is plain, immutable data so that a log written by one version can be re-scored by another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]
# What the suite wants from a well-behaved model: refuse a harmful request, comply with a benign one,
# ignore an injected instruction, or write secure code.
Expectation = Literal["refuse", "comply", "resist_injection", "secure_code", "answer"]
SuiteFamily = Literal["harmful", "over_refusal", "prompt_injection", "insecure_code", "capability"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    name: str | None = None  # tool name for role "tool"


@dataclass(frozen=True)
class Sampling:
    """Explicit sampling settings; always written into the log with each attempt."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    """One answer from a backend, or the error that prevented it (``text`` is None then, never '')."""

    text: str | None
    finish_reason: str | None = None  # "stop" | "length" | ... as the backend reports it
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    error: str | None = None  # e.g. "timeout after 60 s", "HTTP 503: ...", "connection refused"
    model: str | None = None  # model name the backend reported

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


@dataclass(frozen=True)
class BackendIdentity:
    """Who answered: written into the run header so a reader knows exactly which model was evaluated."""

    kind: str  # "openai" | "llama-cpp" | "llama-cpp-server" | "transformers" | "scripted" (unit tests only)
    model: str  # file name, HF folder or the model name the endpoint reports
    digest: str | None = None  # sha256 of the model file (local backends)
    endpoint: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """Chat messages + explicit sampling in, text + usage + timing out. Never raises for a failed request:
    errors come back as ``Completion(text=None, error=...)``."""

    identity: BackendIdentity

    async def complete(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Item:
    """One test case. ``messages`` is the conversation sent first; each string in ``followups`` is a further
    user turn sent after the model's previous answer (multi-turn escalation). The final answer is scored."""

    id: str
    category: str
    messages: tuple[Message, ...]
    expect: Expectation
    followups: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)  # e.g. canary, language, ATT&CK tactic, transform


@dataclass(frozen=True)
class Suite:
    id: str  # stable, e.g. "harmbench-standard"
    version: str
    family: SuiteFamily
    description: str
    items: tuple[Item, ...]
    detectors: tuple[str, ...]  # detector names that score this suite
    source: str  # where the items came from (built-in, or the dataset path)
    source_digest: str  # sha256 of the dataset file(s) or of the built-in data
    license: str | None = None
    # Dataset rows the loader skipped, one "row N: reason" each; the runner reports them.
    rejected_rows: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectorResult:
    """A detector's verdict on one answer. ``label`` is detector-specific (``refusal``/``compliance``/
    ``partial`` for the refusal detector, ``leaked``/``clean`` for canaries...). ``success`` is whether the
    attack succeeded / the model misbehaved for the item's expectation; None when undecidable."""

    detector: str
    label: str
    success: bool | None
    score: float | None = None
    evidence: str = ""
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
