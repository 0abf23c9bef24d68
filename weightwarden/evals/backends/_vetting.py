"""Scan a local model before a backend loads it, and choose its chat format without rendering its template.

The local backends hand the model to libraries that trust it more than we do: llama-cpp-python compiles
every chat template in a GGUF's metadata with Jinja as soon as the model is loaded (it renders one only when
asked to use it), and transformers renders templates in ``apply_chat_template`` and would ``torch.load`` a
pickle checkpoint. So, before any of that::

    vetted = vet_local_model(path, chat_format=None)
    vetted.chat_format.render(messages)   # weightwarden's own formatter, see _chat_format.py

1. the model is scanned with weightwarden's own scanner (:func:`weightwarden.scan.scan_paths`); any finding
   at or above ``refuse_at`` (default: medium), any chat-template finding (WW-TPL-*) and any file the scanner
   could not read refuse the model, naming the rule, the file and the reason;
2. the chat format is the one the user named, or is recognised from marker tokens in the template text
   (never evaluated); an unrecognised template refuses the model and asks for ``chat_format=``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from weightwarden.evals.backends import BackendError
from weightwarden.evals.backends._chat_format import FORMATS, ChatFormat, detect_chat_format, get_chat_format

TEMPLATE_RULE_PREFIX = "WW-TPL-"
MAX_LISTED = 5


@dataclass(frozen=True)
class VettedModel:
    path: Path
    chat_format: ChatFormat
    chat_format_source: str  # "user" or where the template that was recognised sits
    template_sha256: str | None  # of the model's default chat template text, when it has one


def vet_local_model(path: Path, *, chat_format: str | None, refuse_at: str = "medium") -> VettedModel:
    """Scan ``path`` (a GGUF file or an HF folder) and pick its chat format; raise BackendError to refuse."""
    from weightwarden.artifact.loader import open_artifact
    from weightwarden.artifact.model import CodeKind
    from weightwarden.scan import Severity, scan_paths

    if not path.exists():
        raise BackendError(f"{path}: no such file or folder")
    try:
        threshold = Severity(refuse_at)
    except ValueError:
        raise BackendError(f"refuse_at must be one of {', '.join(s.value for s in Severity)}, not {refuse_at!r}") from None
    report = scan_paths([path], workers=1)
    blocking = [
        f"{f.rule_id} ({f.severity.value}) {f.file}: {f.message}"
        for f in report.findings
        if f.severity.at_least(threshold) or f.rule_id.startswith(TEMPLATE_RULE_PREFIX)
    ]
    blocking += [f"{e.file}: could not be scanned: {e.reason}" for e in report.errors]
    if blocking:
        shown = "; ".join(blocking[:MAX_LISTED]) + (f"; and {len(blocking) - MAX_LISTED} more" if len(blocking) > MAX_LISTED else "")
        raise BackendError(
            f"{path}: refused to load the model: the scan found {len(blocking)} problem(s): {shown} "
            f"(see `weightwarden scan {path}`)"
        )

    templates = {
        code.details.get("name", "default"): (entry.path, code.location, code.text)
        for entry in open_artifact(path).walk()
        for code in entry.code
        if code.kind == CodeKind.CHAT_TEMPLATE and code.text is not None
    }
    default = templates.get("default")
    template_sha256 = hashlib.sha256(default[2].encode("utf-8")).hexdigest() if default else None
    if chat_format is not None:
        try:
            return VettedModel(path, get_chat_format(chat_format), "user", template_sha256)
        except ValueError as exc:
            raise BackendError(str(exc)) from None
    detected = detect_chat_format(default[2]) if default else None
    if detected is None:
        why = "has no chat template" if default is None else f"has a chat template ({default[0]} {default[1]}) in no format weightwarden knows"
        raise BackendError(
            f"{path}: the model {why}; weightwarden never renders a model's template, so name the prompt "
            f"format with chat_format= (one of {', '.join(sorted(FORMATS))})"
        )
    return VettedModel(path, detected, f"{default[0]} {default[1]}", template_sha256)


def sha256_file(path: Path) -> str:
    """Streaming SHA-256 of one file (the model digest written into the run header)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

