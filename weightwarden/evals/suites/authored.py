"""Loader for weightwarden's own suite format: one JSON file per suite (schema ``weightwarden.suite/v1``).

The built-in authored suites (``cyber-misuse``, ``tool-injection``, ``insecure-code``) live in
``weightwarden/evals/data/`` in this format, and a user can write their own::

    {"schema": "weightwarden.suite/v1", "id": "my-suite", "version": "1", "family": "harmful",
     "description": "...", "detectors": ["refusal", "judge"], "license": "...",
     "items": [{"id": "a1", "category": "...", "prompt": "..."},
               {"id": "a2", "category": "...", "messages": [{"role": "system", "content": "..."},
                                                             {"role": "user", "content": "..."}],
                "followups": ["..."], "expect": "refuse", "metadata": {"canary": ["..."]}}]}

``prompt`` is shorthand for a single user message. ``expect`` defaults from the family (harmful → refuse,
over_refusal → comply, prompt_injection → resist_injection, insecure_code → secure_code). A malformed item is
rejected with its reason; a malformed header (unknown family, no items list...) fails the whole file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from weightwarden.evals.model import Expectation, Item, Message, Role, Suite, SuiteFamily
from weightwarden.evals.suites._source import RowCollector, SuiteLoadError, parse_json, read_source

SCHEMA = "weightwarden.suite/v1"
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_EXPECT: dict[str, Expectation] = {
    "harmful": "refuse",
    "over_refusal": "comply",
    "prompt_injection": "resist_injection",
    "insecure_code": "secure_code",
}
_ROLES = frozenset(get_args(Role))
_EXPECTATIONS = frozenset(get_args(Expectation))
_FAMILIES = frozenset(get_args(SuiteFamily))
_LOCAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def is_authored(document: Any) -> bool:
    return isinstance(document, dict) and document.get("schema") == SCHEMA


def builtin_path(suite_id: str) -> Path:
    return DATA_DIR / f"{suite_id}.json"


def load(path: Path, *, source_label: str | None = None) -> Suite:
    """Load one suite file; ``source_label`` replaces the path in ``Suite.source`` (built-in suites)."""
    source = read_source(path)
    document = parse_json(source)
    if not is_authored(document):
        raise SuiteLoadError(f"{path}: not a weightwarden suite (expected an object with schema {SCHEMA!r})")
    header = _header(path, document)
    rows = RowCollector(header["id"])
    for index, record in enumerate(document["items"]):
        row = f"item {index}"
        try:
            rows.add(row, _item(rows, record, DEFAULT_EXPECT[header["family"]]))
        except ValueError as exc:
            rows.reject(row, str(exc))
    return rows.suite(
        path,
        source,
        empty="no usable items",
        version=header["version"],
        family=header["family"],
        description=header["description"],
        detectors=header["detectors"],
        license=header["license"],
        label=source_label,
    )


def _header(path: Path, document: dict) -> dict[str, Any]:
    def text(key: str, *, required: bool = True) -> str | None:
        value = document.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if required:
            raise SuiteLoadError(f"{path}: suite field {key!r} must be a non-empty string")
        return None

    family = text("family")
    if family not in _FAMILIES:
        raise SuiteLoadError(f"{path}: unknown family {family!r} (one of {', '.join(sorted(_FAMILIES))})")
    detectors = document.get("detectors")
    if not isinstance(detectors, list) or not detectors or not all(isinstance(d, str) and d for d in detectors):
        raise SuiteLoadError(f"{path}: suite field 'detectors' must be a non-empty list of detector names")
    if not isinstance(document.get("items"), list):
        raise SuiteLoadError(f"{path}: suite field 'items' must be a list")
    suite_id = text("id")
    if not _LOCAL_ID.match(suite_id):
        raise SuiteLoadError(f"{path}: suite id {suite_id!r} must be letters, digits, '.', '_' or '-'")
    return {
        "id": suite_id,
        "version": text("version"),
        "family": family,
        "description": text("description"),
        "detectors": tuple(detectors),
        "license": text("license", required=False),
    }


def _item(rows: RowCollector, record: Any, default_expect: Expectation) -> Item:
    if not isinstance(record, dict):
        raise ValueError(f"a {type(record).__name__}, not an object")
    local_id = record.get("id")
    if not isinstance(local_id, str) or not _LOCAL_ID.match(local_id):
        raise ValueError(f"id {local_id!r} must be 1-100 letters, digits, '.', '_' or '-'")
    category = record.get("category")
    if not isinstance(category, str) or not category.strip():
        raise ValueError("no text 'category'")
    expect = record.get("expect", default_expect)
    if not isinstance(expect, str) or expect not in _EXPECTATIONS:
        raise ValueError(f"expect {expect!r} is not one of {', '.join(sorted(_EXPECTATIONS))}")
    followups = record.get("followups", [])
    if not isinstance(followups, list) or not all(isinstance(f, str) and f.strip() for f in followups):
        raise ValueError("followups must be a list of non-empty strings")
    metadata = record.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError("metadata must be an object")
    return Item(
        id=rows.item_id(local_id),
        category=category.strip(),
        messages=_messages(record),
        expect=expect,
        followups=tuple(followups),
        metadata=metadata,
    )


def _messages(record: dict) -> tuple[Message, ...]:
    if "prompt" in record:
        if "messages" in record:
            raise ValueError("give either 'prompt' or 'messages', not both")
        prompt = record["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("'prompt' must be a non-empty string")
        return (Message("user", prompt.strip()),)
    raw = record.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ValueError("needs a 'prompt' or a non-empty 'messages' list")
    messages = []
    for position, message in enumerate(raw):
        if not isinstance(message, dict):
            raise ValueError(f"message {position} is not an object")
        role, content, name = message.get("role"), message.get("content"), message.get("name")
        if not isinstance(role, str) or role not in _ROLES:
            raise ValueError(f"message {position}: role {role!r} is not one of {', '.join(sorted(_ROLES))}")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"message {position}: 'content' must be a non-empty string")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"message {position}: 'name' must be a string")
        messages.append(Message(role, content, name))
    if not any(m.role == "user" for m in messages):
        raise ValueError("no user message")
    return tuple(messages)
