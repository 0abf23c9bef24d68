"""What an eval run is asked to do: :class:`EvalConfig`, and the digest that makes a run resumable.

The CLI (``weightwarden eval run``) and library callers build an :class:`EvalConfig`; the runner
(:mod:`weightwarden.evals.runner`) executes it and writes the config, and its digest, into the log header.
Re-running with the same ``out`` continues the run only when the digest matches, so the digest covers
exactly the fields that change *what is asked or how it is scored* (suites, transforms, selection, seed,
sampling, judge), and leaves out those that only change *how fast* (concurrency, timeout, retries) and
where the log lives. The model is checked separately, by its identity (file digest or endpoint + reported
model), because the same model may be reached through different paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.evals.model import Sampling

CONFIG_SCHEMA = "weightwarden.eval-config/v1"
NO_TRANSFORM = "none"
# Fields that do not change the results; they may differ between a run and its resumption.
_NOT_DIGESTED = ("model", "out", "concurrency", "timeout_s", "retries", "datasets_dir")


@dataclass(frozen=True)
class EvalConfig:
    """One eval run. ``model`` and ``judge`` are backend specs (``gguf:PATH``, ``llama-server:PATH``,
    ``openai:URL#MODEL``, ``hf:PATH``; see :func:`weightwarden.evals.backends.open_backend`).

    ``transforms`` are jailbreak transforms applied to the *harmful* suites only (``"none"`` = the suite as
    is); over-refusal, injection and code suites always run untransformed. ``limit`` keeps the first N items
    of each suite, ``sample`` draws N per suite stratified by category; at most one of the two is set.
    ``score_truncated``: an answer cut off at ``max_tokens`` is scored (and flagged ``truncated``) when True,
    recorded as an error and left out of every rate when False.
    """

    model: str
    suites: tuple[str, ...]
    out: Path
    transforms: tuple[str, ...] = (NO_TRANSFORM,)
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    concurrency: int = 4
    judge: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    score_truncated: bool = True
    timeout_s: float = 120.0
    retries: int = 2
    datasets_dir: Path | None = None

    def __post_init__(self) -> None:
        if not self.suites:
            raise ValueError("at least one suite is needed")
        if self.limit is not None and self.sample is not None:
            raise ValueError("use either limit or sample, not both")
        for name, value in (("limit", self.limit), ("sample", self.sample)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if not self.transforms:
            raise ValueError("transforms must name at least one transform (or 'none')")
        if len(set(self.transforms)) != len(self.transforms) or len(set(self.suites)) != len(self.suites):
            raise ValueError("suites and transforms must not repeat")

    def to_json(self) -> dict[str, Any]:
        """The JSON form written into the log header (paths as strings, sampling as a dict)."""
        return {
            "schema": CONFIG_SCHEMA,
            "model": self.model,
            "suites": list(self.suites),
            "out": str(self.out),
            "transforms": list(self.transforms),
            "limit": self.limit,
            "sample": self.sample,
            "seed": self.seed,
            "concurrency": self.concurrency,
            "judge": self.judge,
            "sampling": sampling_to_json(self.sampling),
            "score_truncated": self.score_truncated,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "datasets_dir": None if self.datasets_dir is None else str(self.datasets_dir),
        }

    def digested_fields(self) -> dict[str, Any]:
        """The fields covered by :meth:`digest` (those that change what is asked or how it is scored)."""
        return {k: v for k, v in self.to_json().items() if k not in _NOT_DIGESTED}

    def digest(self) -> str:
        """sha256 of the canonical JSON of :meth:`digested_fields`, as ``sha256:<hex>``."""
        return config_digest(self.digested_fields())


def config_digest(fields: dict[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON (sorted keys, no spaces, ASCII) of ``fields``."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def digested_fields_of(config_json: dict[str, Any]) -> dict[str, Any]:
    """The digested part of a config as read back from a log header (for naming what changed)."""
    return {k: v for k, v in config_json.items() if k not in _NOT_DIGESTED}


def sampling_to_json(sampling: Sampling) -> dict[str, Any]:
    """The JSON form of ``sampling`` written into the config and into each attempt record."""
    return {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
        "stop": list(sampling.stop),
    }
