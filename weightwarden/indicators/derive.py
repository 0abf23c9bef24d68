"""Indicators from evidence: an eval log, a folder of prompts/transcripts, an incident JSON, a model.

    sketcher = Sketcher(load_key("group.key"))
    prompts = prompts_from_eval_log("run.jsonl", sketcher)          # attempts a detector marked as misbehaviour
    prompts += prompts_from_folder("seen-prompts/", sketcher)
    models = model_indicators(sketcher, model="model.gguf")          # weights root (+ fingerprint file)
    indicators = build_set(sketcher, prompts, models, sources=("eval-log", "folder"))

Which text of an attack is hashed: the **attack turn**, the last untrusted input of an attempt or transcript
— its last ``user`` or ``tool`` message (earlier turns of a multi-turn escalation are benign openers that
would match innocent conversations; an indirect prompt injection arrives in a tool result). From an eval log
only the attack families count (``harmful``, ``prompt_injection``): an over-refused benign prompt or a coding
request answered with insecure code is the model's failure, not an attack.
Texts that normalise to nothing (no letters or digits) give no indicator. Duplicates (same canonical text)
are kept once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from weightwarden.core.errors import InputError
from weightwarden.core.files import open_regular
from weightwarden.indicators.auth import sign_set
from weightwarden.indicators.errors import IndicatorFormatError
from weightwarden.indicators.normalise import canonical
from weightwarden.indicators.records import (
    ATLAS_JAILBREAK,
    ATLAS_PROMPT_INJECTION,
    MAX_INDICATORS,
    MAX_SET_BYTES,
    IndicatorSet,
    ModelIndicator,
    PromptIndicator,
    canonical_layers,
    encode_ref,
    parse_json_bounded,
    prompt_order,
    read_json_bounded,
)
from weightwarden.indicators.sketch import Sketcher

MAX_EVIDENCE_FILE_BYTES = 1024 * 1024
ATTACK_FAMILIES = ("harmful", "prompt_injection")
UNTRUSTED_ROLES = ("user", "tool")
MAX_FOLDER_FILES = 100_000
TEXT_SUFFIXES = (".txt", ".md", ".prompt")
TRANSCRIPT_SUFFIXES = (".json",)
# Red team round 6 (class 3): derive had no aggregate bound: a 1.8 MB incident of 150,000 short prompts took
# 790 MB and wrote a 133 MB set its own loader refused. Every derive now runs under one budget (DeriveBudget):
# indicators are counted as they are built and derive stops, before computing the next sketch, at the number a
# loadable set can hold; the evidence read across all eval logs and folders is bounded in bytes and lines.
MAX_EVIDENCE_TOTAL_BYTES = 256 * 1024 * 1024  # all --folder files and --eval-log bytes of one derive together
MAX_EVAL_LOG_LINES = 1_000_000  # all --eval-log lines of one derive together
# One prompt indicator in dump_set's form, without text or ref: ~300 bytes of fields and indentation plus the
# hex sketch (8 characters per permutation since the v2 format, red team round 9).
_INDICATOR_OVERHEAD_BYTES = 400


class DeriveBudget:
    """What one derive may still build and read; :class:`IndicatorFormatError` with a clear reason when spent."""

    def __init__(self, num_perm: int, *, max_indicators: int | None = None,
                 max_bytes: int = MAX_EVIDENCE_TOTAL_BYTES, max_lines: int = MAX_EVAL_LOG_LINES) -> None:
        per = _INDICATOR_OVERHEAD_BYTES + 8 * num_perm
        self.max_indicators = max_indicators if max_indicators is not None else min(MAX_INDICATORS,
                                                                                    MAX_SET_BYTES // per)
        self.indicators = 0
        self.max_bytes, self.bytes = max_bytes, 0
        self.max_lines = max_lines

    def take_indicator(self, where: str, count: int = 1) -> None:
        """Count one more indicator about to be built (called before its sketch is computed)."""
        self.indicators += count
        self.check_ahead(0, where)

    def check_ahead(self, count: int, where: str) -> None:
        """Refuse at once when ``count`` more candidate texts (already known, not yet sketched) would not fit:
        no sketch is computed for evidence whose set could not be loaded anyway."""
        if self.indicators + count > self.max_indicators:
            raise IndicatorFormatError(
                f"{where}: the evidence gives more than {self.max_indicators} indicators, more than one indicator set "
                f"can hold (at most {MAX_INDICATORS} indicators and {MAX_SET_BYTES} bytes); derive fewer at a time")

    def take_bytes(self, count: int, where: str) -> None:
        self.bytes += count
        if self.bytes > self.max_bytes:
            raise IndicatorFormatError(f"{where}: the evidence of this derive is larger than {self.max_bytes} bytes "
                                       "in all; derive fewer at a time")


def prompt_indicator(sketcher: Sketcher, text: str, *, atlas: str = ATLAS_JAILBREAK, category: str | None = None,
                     ref: str | None = None, keep_text: bool = False) -> PromptIndicator | None:
    """The indicator of one attack text, or None when it normalises to nothing."""
    try:
        canon = canonical(text)
    except ValueError as exc:
        raise IndicatorFormatError(f"{encode_ref(ref) if ref else 'text'}: {exc}") from None
    if not canon.text:
        return None
    exact = sketcher.exact(canon.text)
    return PromptIndicator(
        exact=exact, sketch=sketcher.seal(exact, sketcher.signature(canon.text)), atlas=atlas,
        category=category, decoded=canonical_layers(canon.decoded), ref=None if ref is None else encode_ref(ref),
        text=text if keep_text else None,
    )


def _attack_turn(messages: Iterable[Any]) -> str | None:
    """The last user or tool message with text content (see the module docstring)."""
    found = None
    for message in messages:
        if isinstance(message, Mapping) and message.get("role") in UNTRUSTED_ROLES \
                and isinstance(message.get("content"), str):
            found = message["content"]
    return found


def prompts_from_eval_log(path: str | os.PathLike[str], sketcher: Sketcher, *, all_attempts: bool = False,
                          keep_text: bool = False, budget: DeriveBudget | None = None) -> list[PromptIndicator]:
    """Indicators of the attack attempts (suites of the ``harmful`` and ``prompt_injection`` families) of a
    weightwarden eval log that a detector marked as misbehaviour (``success`` true: the attack worked), or of
    every scored attack attempt with ``all_attempts``."""
    from weightwarden.evals.log import EvalLogError, read_log

    budget = budget or DeriveBudget(sketcher.scheme.num_perm)
    try:
        log = read_log(path, max_bytes=budget.max_bytes - budget.bytes, max_lines=budget.max_lines)
    except EvalLogError as exc:
        raise IndicatorFormatError(f"eval log: {exc}") from None
    budget.take_bytes(log.bytes_read, str(path))
    budget.max_lines -= log.lines_read
    out: list[PromptIndicator] = []
    for (suite_id, item_id), record in sorted(log.latest().items()):
        if not record.ok or record.family not in ATTACK_FAMILIES:
            continue
        misbehaved = any(d.get("success") is True for d in record.detectors)
        if not (misbehaved or all_attempts):
            continue
        text = _attack_turn(record.messages)
        if text is None:
            continue
        atlas = ATLAS_PROMPT_INJECTION if record.family == "prompt_injection" else ATLAS_JAILBREAK
        budget.take_indicator(str(path))
        indicator = prompt_indicator(sketcher, text, atlas=atlas, category=record.category or None,
                                     ref=f"{suite_id}/{item_id}", keep_text=keep_text)
        if indicator is not None:
            out.append(indicator)
    return out


def model_from_eval_log(path: str | os.PathLike[str], sketcher: Sketcher) -> list[ModelIndicator]:
    """The model file digest the eval log's header records (local backends), as a keyed model indicator."""
    from weightwarden.evals.log import EvalLogError, read_log

    try:
        header = read_log(path, max_bytes=MAX_EVIDENCE_TOTAL_BYTES, max_lines=MAX_EVAL_LOG_LINES).header
    except EvalLogError as exc:
        raise IndicatorFormatError(f"eval log: {exc}") from None
    digest = header.model.get("digest")
    if not isinstance(digest, str) or not digest:
        return []
    value = digest.removeprefix("sha256:").lower()
    return [ModelIndicator("model-file-sha256", sketcher.model_digest("model-file-sha256", value),
                           str(header.model.get("model") or "") or None)]


def _read_evidence(path: Path, budget: DeriveBudget | None = None) -> bytes:
    """The bytes of one evidence file of a folder, read from a descriptor judged itself.

    Red team round 4 (G5): the walk checked each name (not a link, a regular file) and opened the name again
    later, so a file swapped for a link meanwhile (the window was the whole walk) put a victim-only file's
    content into the indicators, and a link to a FIFO hung the run. The name is now opened without following a
    link and without blocking, and the descriptor must be a regular file."""
    try:
        fd = open_regular(path, "prompt evidence (changed during the walk?)", follow=False)
    except InputError as exc:
        raise IndicatorFormatError(str(exc)) from None
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            raw = handle.read(MAX_EVIDENCE_FILE_BYTES + 1)
    except OSError as exc:
        raise IndicatorFormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_EVIDENCE_FILE_BYTES:
        raise IndicatorFormatError(f"{path}: larger than the {MAX_EVIDENCE_FILE_BYTES}-byte bound for a prompt")
    if budget is not None:
        budget.take_bytes(len(raw), str(path))
    return raw


def _read_text(path: Path, budget: DeriveBudget | None = None) -> str:
    raw = _read_evidence(path, budget)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IndicatorFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _transcript_text(data: Any, where: str) -> str:
    messages = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(messages, list):
        raise IndicatorFormatError(f"{where}: a transcript is a list of messages or an object with 'messages'")
    text = _attack_turn(messages)
    if text is None:
        raise IndicatorFormatError(f"{where}: transcript has no user or tool message with text content")
    return text


def prompts_from_folder(folder: str | os.PathLike[str], sketcher: Sketcher, *,
                        keep_text: bool = False, budget: DeriveBudget | None = None) -> list[PromptIndicator]:
    """One indicator per prompt file (``.txt``/``.md``/``.prompt``: the whole file) and per transcript
    (``.json``: a list of ``{role, content}`` messages, or an object with ``messages``; its last user
    message). Symbolic links and other file types are not followed; the walk is bounded."""
    root = Path(folder)
    if not root.is_dir():
        raise IndicatorFormatError(f"{root}: not a folder")
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or path.suffix.lower() not in TEXT_SUFFIXES + TRANSCRIPT_SUFFIXES:
                continue
            files.append(path)
            if len(files) > MAX_FOLDER_FILES:
                raise IndicatorFormatError(f"{root}: more than {MAX_FOLDER_FILES} evidence files")
    budget = budget or DeriveBudget(sketcher.scheme.num_perm)
    budget.check_ahead(len(files), str(root))
    out: list[PromptIndicator] = []
    for path in files:
        ref = str(path.relative_to(root))
        if path.suffix.lower() in TRANSCRIPT_SUFFIXES:
            text = _transcript_text(parse_json_bounded(_read_evidence(path, budget), path, "transcript"), str(path))
        else:
            text = _read_text(path, budget)
        budget.take_indicator(str(root))
        indicator = prompt_indicator(sketcher, text, ref=ref, keep_text=keep_text)
        if indicator is not None:
            out.append(indicator)
    return out


def prompts_from_incident(path: str | os.PathLike[str], sketcher: Sketcher, *,
                          keep_text: bool = False, budget: DeriveBudget | None = None) -> list[PromptIndicator]:
    """Indicators of the attack texts in an incident JSON: ``prompts`` (strings), ``transcripts`` (lists of
    messages) and ``evidence`` entries with a ``prompt`` or ``messages``, at the top level or under
    ``database_specific``; the ATLAS technique from ``database_specific.taxonomy.atlas`` when given."""
    where = str(path)
    data = read_json_bounded(path, "incident")
    if not isinstance(data, dict):
        raise IndicatorFormatError(f"{where}: an incident is a JSON object")
    scopes = [data] + ([data["database_specific"]] if isinstance(data.get("database_specific"), dict) else [])
    atlas = ATLAS_JAILBREAK
    taxonomy = scopes[-1].get("taxonomy") if isinstance(scopes[-1].get("taxonomy"), dict) else {}
    techniques = [t for t in taxonomy.get("atlas", []) if isinstance(t, str) and t in (ATLAS_JAILBREAK,
                                                                                         ATLAS_PROMPT_INJECTION)]
    if techniques:
        atlas = techniques[0]
    texts: list[tuple[str, str]] = []

    def listed(scope: dict[str, Any], name: str) -> list[Any]:
        value = scope.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise IndicatorFormatError(f"{where}: '{name}' must be a list")
        return value

    for scope in scopes:
        for i, prompt in enumerate(listed(scope, "prompts")):
            if not isinstance(prompt, str):
                raise IndicatorFormatError(f"{where}: prompts[{i}] is not a string")
            texts.append((prompt, f"prompts[{i}]"))
        for i, transcript in enumerate(listed(scope, "transcripts")):
            texts.append((_transcript_text(transcript, f"{where}: transcripts[{i}]"), f"transcripts[{i}]"))
        for i, entry in enumerate(listed(scope, "evidence")):
            if isinstance(entry, dict) and isinstance(entry.get("prompt"), str):
                texts.append((entry["prompt"], f"evidence[{i}]"))
            elif isinstance(entry, dict) and "messages" in entry:
                texts.append((_transcript_text(entry, f"{where}: evidence[{i}]"), f"evidence[{i}]"))
    if not texts:
        raise IndicatorFormatError(
            f"{where}: no attack text found (expected 'prompts', 'transcripts' or 'evidence' with a 'prompt')"
        )
    incident_id = data.get("id") if isinstance(data.get("id"), str) else Path(path).name
    budget = budget or DeriveBudget(sketcher.scheme.num_perm)
    budget.check_ahead(len(texts), where)
    out = []
    for text, field in texts:
        budget.take_indicator(where)
        indicator = prompt_indicator(sketcher, text, atlas=atlas, ref=f"{incident_id}:{field}", keep_text=keep_text)
        if indicator is not None:
            out.append(indicator)
    return out


def fingerprint_digest(path: str | os.PathLike[str]) -> tuple[str | None, str]:
    """(weights root, SHA-256 of the canonical similarity sketch) of a ``weightwarden fingerprint`` file."""
    from weightwarden.lineage.fingerprint import FingerprintError, load_fingerprint

    try:
        fp = load_fingerprint(path)
    except FingerprintError as exc:
        raise IndicatorFormatError(str(exc)) from None
    sketch = json.dumps(fp.to_dict()["sketch"], sort_keys=True, separators=(",", ":")).encode()
    return fp.weights_root, hashlib.sha256(sketch).hexdigest()


def model_indicators(sketcher: Sketcher, *, model: str | os.PathLike[str] | None = None,
                     fingerprint: str | os.PathLike[str] | None = None) -> list[ModelIndicator]:
    """Keyed indicators of the attacked model: its weights root (computed from ``model``, or read from a
    fingerprint file) and the digest of its lineage fingerprint's similarity sketch."""
    out: list[ModelIndicator] = []
    label = Path(model).name if model is not None else (Path(fingerprint).name if fingerprint else None)
    label = None if label is None else encode_ref(label)  # red team round 24 (class 3): one written form
    roots: set[str] = set()
    if model is not None:
        from weightwarden.lineage.digests import digest_model
        from weightwarden.lineage.model import LineageError

        try:
            roots.add(digest_model(model).root)
        except (LineageError, OSError) as exc:
            raise IndicatorFormatError(f"{model}: cannot compute the weights root: {exc}") from None
    if fingerprint is not None:
        root, sketch_digest = fingerprint_digest(fingerprint)
        if root:
            roots.add(root)
        out.append(ModelIndicator("fingerprint", sketcher.model_digest("fingerprint", sketch_digest), label))
    out.extend(ModelIndicator("weights-root", sketcher.model_digest("weights-root", r), label) for r in sorted(roots))
    return out


def build_set(sketcher: Sketcher, prompts: Iterable[PromptIndicator], models: Iterable[ModelIndicator] = (), *,
              sources: Iterable[str] = (), producer: str | None = None, tlp: str = "amber",
              created: str | None = None) -> IndicatorSet:
    """One indicator set; prompt indicators with the same exact digest are kept once (the first seen)."""
    unique: dict[str, PromptIndicator] = {}
    for p in prompts:
        unique.setdefault(p.exact, p)
    model_unique = {(m.kind, m.digest): m for m in models}
    if len(unique) + len(model_unique) > MAX_INDICATORS:
        raise IndicatorFormatError(f"more than {MAX_INDICATORS} indicators: more than one indicator set can hold")
    when = created or _dt.datetime.now(_dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    # Canonical form (red team round 6, class 1): sorted, each once, as the loader requires.
    built = IndicatorSet(sketcher.scheme, tuple(sorted(unique.values(), key=prompt_order)),
                         tuple(sorted(model_unique.values(), key=lambda m: (m.kind, m.digest))),
                         None if producer is None else encode_ref(producer), when, tlp,
                         tuple(sorted(set(sources))))
    return sign_set(built, sketcher.key)  # red team round 17 (class 2): every set leaves signed


def derive_set(sketcher: Sketcher, *, eval_logs: Iterable[str | os.PathLike[str]] = (),
               folders: Iterable[str | os.PathLike[str]] = (), incidents: Iterable[str | os.PathLike[str]] = (),
               models: Iterable[str | os.PathLike[str]] = (), fingerprints: Iterable[str | os.PathLike[str]] = (),
               all_attempts: bool = False, keep_text: bool = False, keep_refs: bool = False,
               keep_category_text: bool = False,
               producer: str | None = None, tlp: str = "amber", created: str | None = None) -> IndicatorSet:
    """Every source at once: the indicator set of all the evidence given (see the module docstring).

    ``models`` / ``fingerprints``: the attacked model and, to match "the same base model" across labs that
    attacked different derivatives, its base model(s) too — each gives a keyed weights root."""
    prompts: list[PromptIndicator] = []
    model_list: list[ModelIndicator] = []
    sources: list[str] = []
    budget = DeriveBudget(sketcher.scheme.num_perm)  # one budget across every source of this derive
    for log in eval_logs:
        prompts += prompts_from_eval_log(log, sketcher, all_attempts=all_attempts, keep_text=keep_text,
                                         budget=budget)
        model_list += model_from_eval_log(log, sketcher)
        sources.append("eval-log")
    for folder in folders:
        prompts += prompts_from_folder(folder, sketcher, keep_text=keep_text, budget=budget)
        sources.append("folder")
    for incident in incidents:
        prompts += prompts_from_incident(incident, sketcher, keep_text=keep_text, budget=budget)
        sources.append("incident")
    for model in models:
        model_list += model_indicators(sketcher, model=model)
        sources.append("model")
    for fingerprint in fingerprints:
        model_list += model_indicators(sketcher, fingerprint=fingerprint)
        sources.append("model")
    built = build_set(sketcher, prompts, model_list, sources=sources, producer=producer, tlp=tlp, created=created)
    return built.without_private(keep_text=keep_text, keep_refs=keep_refs, keep_category_text=keep_category_text)
