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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from weightwarden.evals.model import Sampling

CONFIG_SCHEMA = "weightwarden.eval-config/v1"
NO_TRANSFORM = "none"
# Fields that do not change the results; they may differ between a run and its resumption.
_NOT_DIGESTED = ("model", "out", "concurrency", "timeout_s", "retries", "datasets_dir", "threads")


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
    # Local backends only: the chat format to use instead of recognising the model's template (changes the
    # prompt, so it is part of the digest), and llama.cpp / torch threads (speed only).
    chat_format: str | None = None
    threads: int | None = None

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
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
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
            # Only when set, so that the digest of a run without them is what it always was (resume).
            **({"chat_format": self.chat_format} if self.chat_format is not None else {}),
            **({"threads": self.threads} if self.threads is not None else {}),
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


# ------------------------------------------------------------------------------------------ run files (YAML)

# key in the file -> (type check, what it means); names follow the CLI options of `weightwarden eval run`.
RUN_FILE_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "backend spec of the model under test"),
    "suites": ((list, str), "suite ids or dataset paths"),
    "transforms": ((list, str), "jailbreak transforms ('all' for every one)"),
    "judge": (str, "backend spec of the judge model"),
    "limit": (int, "first N items of each suite"),
    "sample": (int, "N items of each suite, stratified by category"),
    "seed": (int, "run seed"),
    "concurrency": (int, "requests in flight"),
    "out": (str, "run log path"),
    "max_tokens": (int, "answer length limit"),
    "temperature": ((int, float), "sampling temperature"),
    "timeout": ((int, float), "seconds per request"),
    "retries": (int, "retries of a failed request"),
    "truncated": (str, "'score' or 'error' for answers cut off at max_tokens"),
    "datasets": (str, "folder of the standard datasets"),
    "chat_format": (str, "chat format of a local model"),
    "threads": (int, "threads of a local backend"),
}
MAX_RUN_FILE_BYTES = 1 << 20


class RunFileError(ValueError):
    """A run file (YAML) that cannot be used; the message names the file and the key."""


def load_run_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings of a YAML run file (``suites: [harmbench, xstest-safe]``, ``transforms: [base64]``,
    ``model: gguf:m.gguf``, ``judge: openai:http://…``, …): read with the safe loader, every key and type
    checked, lists given as YAML lists or comma-separated strings. Relative paths are kept as written."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_RUN_FILE_BYTES:
            raise RunFileError(f"{path}: larger than {MAX_RUN_FILE_BYTES} bytes; not a run file")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{path}: not UTF-8 text") from None
    try:
        import yaml
    except ImportError:
        raise RunFileError("run files need PyYAML: pip install 'weightwarden[evals]'") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RunFileError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RunFileError(f"{path}: a run file is a mapping of settings, not a {type(data).__name__}")
    settings: dict[str, Any] = {}
    for key, value in data.items():
        if key not in RUN_FILE_KEYS:
            raise RunFileError(f"{path}: unknown key {key!r} (known: {', '.join(RUN_FILE_KEYS)})")
        expected, _ = RUN_FILE_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise RunFileError(f"{path}: {key} must be {_type_words(expected)}, not {type(value).__name__}")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise RunFileError(f"{path}: {key} must be a list of strings")
            value = tuple(value)
        elif key in ("suites", "transforms"):
            value = (value,)
        settings[key] = value
    return settings


def _type_words(expected: type | tuple[type, ...]) -> str:
    names = {list: "a list", str: "a string", int: "an integer", float: "a number"}
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))
