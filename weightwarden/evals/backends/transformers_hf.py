"""Hugging Face transformers + torch on the CPU: an HF model folder, or a GGUF file that transformers reads.

Usage (normally ``open_backend("hf:FOLDER")`` or ``open_backend("hf:FOLDER#model.gguf")``)::

    backend = TransformersBackend(Path("models/SmolLM2"), "SmolLM2-135M-Instruct.Q4_1.gguf", n_threads=2)
    completion = await backend.complete(messages, Sampling(max_tokens=8))

Loading is offline (``HF_HUB_OFFLINE=1``, ``local_files_only=True``) and never runs the model's code:

- ``trust_remote_code`` is never set, and a folder whose ``config.json`` / ``tokenizer_config.json`` has an
  ``auto_map`` (classes implemented by Python files of the repository) is refused;
- weights are read from safetensors only (``use_safetensors=True``): a folder with only pickle checkpoints
  (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) is refused, because transformers would ``torch.load`` them;
  convert them first with ``weightwarden convert``; a GGUF is dequantised by transformers through gguf-py;
- the model is scanned first and its chat template is never rendered (``apply_chat_template`` is not
  used): the prompt comes from weightwarden's own formatter, the same one the llama-cpp backends use
  (:mod:`._vetting`, :mod:`._chat_format`).

Generation is greedy when ``temperature == 0`` and samples after ``torch.manual_seed(seed)`` otherwise; it
runs in a worker thread, one request at a time, bounded by ``max_tokens`` (finish reason ``"length"``) and
by a wall-clock deadline checked after each token (hitting it is an error, not an answer). It is slow
(about 15 tokens/s for a 135M model on one core).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from weightwarden.evals.backends import BackendError
from weightwarden.evals.backends._vetting import sha256_file, vet_local_model
from weightwarden.evals.model import BackendIdentity, Completion, Message, Sampling

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
MAX_CONFIG_BYTES = 16 * 1024 * 1024
INSTALL_HINT = "pip install transformers accelerate 'torch==2.13.0' (CPU)"


def check_hf_folder(folder: Path) -> None:
    """Refuse folders transformers could only load by running their code or unpickling their weights."""
    for name in ("config.json", "tokenizer_config.json"):
        config_path = folder / name
        if not config_path.is_file():
            continue
        if config_path.stat().st_size > MAX_CONFIG_BYTES:
            raise BackendError(f"{config_path}: larger than {MAX_CONFIG_BYTES} bytes; refusing to read it")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackendError(f"{config_path}: not valid JSON ({exc})") from None
        if isinstance(config, dict) and config.get("auto_map"):
            raise BackendError(
                f"{config_path}: 'auto_map' points to Python code in the model repository "
                f"({', '.join(sorted(map(str, config['auto_map'])))}); weightwarden never runs a model's code "
                "(trust_remote_code), so this model cannot be evaluated with the hf: backend"
            )
    if not (folder / "config.json").is_file():
        raise BackendError(f"{folder}: no config.json; not a Hugging Face model folder")
    files = [p for p in folder.iterdir() if p.is_file()]
    if any(p.name.endswith(".safetensors") for p in files):
        return
    pickles = sorted(p.name for p in files if p.name.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise BackendError(
            f"{folder}: weights only as pickle checkpoints ({', '.join(pickles[:5])}); transformers would "
            "torch.load them, which can run code. Convert them to safetensors first (weightwarden convert)"
        )
    raise BackendError(f"{folder}: no safetensors weights found")


class TransformersBackend:
    """transformers ``AutoModelForCausalLM`` on the CPU (spec ``hf:PATH[#GGUF_FILE]``)."""

    def __init__(
        self,
        path: Path,
        gguf_file: str | None = None,
        *,
        n_threads: int | None = None,
        chat_format: str | None = None,
        refuse_at: str = "medium",
        timeout_s: float = 120.0,
    ) -> None:
        if gguf_file is None and path.is_file() and path.suffix.lower() == ".gguf":
            path, gguf_file = path.parent, path.name
        if gguf_file is not None:
            if Path(gguf_file).name != gguf_file:
                raise BackendError(f"GGUF file must be a file name inside {path}, not {gguf_file!r}")
            model_file: Path | None = path / gguf_file
            vetted = vet_local_model(model_file, chat_format=chat_format, refuse_at=refuse_at)
        else:
            model_file = None
            if not path.is_dir():
                raise BackendError(f"{path}: not a folder (use hf:FOLDER or hf:FOLDER#FILE.gguf)")
            check_hf_folder(path)
            vetted = vet_local_model(path, chat_format=chat_format, refuse_at=refuse_at)
        self._format = vetted.chat_format
        self._timeout_s = timeout_s
        # Must be set before huggingface_hub is first imported to take full effect; local_files_only below
        # covers the case where it already was.
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise BackendError(f"the hf: backend needs transformers and torch ({exc}); {INSTALL_HINT}") from None
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        if n_threads is not None:
            torch.set_num_threads(n_threads)
        self._torch = torch
        load: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        if gguf_file is not None:
            load["gguf_file"] = gguf_file
        try:
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), **load)
            self._model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path), dtype=torch.float32, **load, **({} if gguf_file else {"use_safetensors": True})
            )
        except Exception as exc:  # noqa: BLE001 - transformers raises many types; the user gets one message
            raise BackendError(f"{model_file or path}: transformers could not load the model: {exc}") from None
        self._model.eval()
        self._lock = threading.Lock()
        self._closing = False  # set by aclose(): a running generation stops at its next token
        self.identity = BackendIdentity(
            kind="transformers",
            model=gguf_file or path.name,
            digest=sha256_file(model_file) if model_file is not None else None,
            details={
                "path": str((model_file or path).resolve()),
                "architecture": type(self._model).__name__,
                "chat_format": self._format.name,
                "chat_format_source": vetted.chat_format_source,
                "chat_template_sha256": vetted.template_sha256,
                "transformers": transformers.__version__,
                "torch": torch.__version__,
                "n_threads": n_threads,
            },
        )

    async def complete(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion:
        return await asyncio.to_thread(self._complete_blocking, messages, sampling)

    def _complete_blocking(self, messages: tuple[Message, ...], sampling: Sampling) -> Completion:
        import transformers

        torch = self._torch
        prompt = self._format.render(messages)
        stops = list(sampling.stop) + [s for s in self._format.stop if s not in sampling.stop]
        with self._lock:
            if self._model is None:
                return Completion(text=None, error="backend is closed")
            started = time.perf_counter()
            deadline = started + self._timeout_s
            backend = self

            class DeadlineOrClose(transformers.StoppingCriteria):
                timed_out = cancelled = False

                def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                    self.timed_out = self.timed_out or time.perf_counter() > deadline
                    self.cancelled = self.cancelled or backend._closing
                    stop = self.timed_out or self.cancelled
                    return torch.full((input_ids.shape[0],), stop, dtype=torch.bool)

            guard = DeadlineOrClose()

            try:
                encoded = self._tokenizer(prompt, return_tensors="pt")
                prompt_len = int(encoded["input_ids"].shape[1])
                options: dict[str, Any] = {
                    "max_new_tokens": sampling.max_tokens,
                    "stopping_criteria": transformers.StoppingCriteriaList([guard]),
                    "stop_strings": stops,
                    "tokenizer": self._tokenizer,
                    "pad_token_id": self._tokenizer.pad_token_id
                    if self._tokenizer.pad_token_id is not None
                    else self._tokenizer.eos_token_id,
                }
                if sampling.temperature == 0:
                    options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
                else:
                    torch.manual_seed(sampling.seed)
                    options.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p, top_k=None)
                with torch.inference_mode():
                    output = self._model.generate(**encoded, **options)
            except Exception as exc:  # noqa: BLE001 - an error record, not a crash of the run
                return Completion(text=None, error=f"transformers error: {exc}", latency_s=time.perf_counter() - started)
            latency = time.perf_counter() - started
            eos = self._model.generation_config.eos_token_id
        if guard.cancelled:
            return Completion(text=None, error="cancelled: the backend was closed during generation", latency_s=latency)
        if guard.timed_out:
            return Completion(
                text=None, error=f"timeout: generation exceeded {self._timeout_s:g} s wall-clock", latency_s=latency
            )
        new_tokens = output[0][prompt_len:].tolist()
        raw = self._tokenizer.decode(new_tokens, skip_special_tokens=False)
        text, stopped = _cut_at_stop(raw, stops)
        eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        if stopped or (new_tokens and new_tokens[-1] in eos_ids):
            finish = "stop"
        else:
            finish = "length" if len(new_tokens) >= sampling.max_tokens else "stop"
        special = set(self._tokenizer.all_special_tokens)
        for token in special:
            text = text.replace(token, "")
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_len,
            completion_tokens=len(new_tokens),
            latency_s=latency,
            model=self.identity.model,
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._closing = True
        with self._lock:
            self._model = None


def _cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """``text`` up to the first stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
