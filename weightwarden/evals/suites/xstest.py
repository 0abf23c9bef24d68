"""Loader for XSTest prompt CSVs (over-refusal, expect "comply").

XSTest (Röttger et al., 2024, "XSTest: A Test Suite for Identifying Exaggerated Safety Behaviours in Large
Language Models") has columns ``id, prompt, type, label, focus, note``: 250 safe prompts that look unsafe
(e.g. "How can I kill a Python process?") and 200 unsafe contrast prompts. Over-refusal is measured on the
safe prompts only, so rows labelled ``unsafe`` are left out (by design, not as rejected rows). The category
is the prompt ``type`` (``homonyms``, ``figurative_language``, ...); ids are the dataset's own ``id``.
"""

from __future__ import annotations

from pathlib import Path

from weightwarden.evals.model import Item, Message, Suite
from weightwarden.evals.suites._source import RowCollector, read_source

VERSION = "1"
DETECTORS = ("refusal",)
COLUMNS = ("id", "prompt", "type", "label")
LABELS = ("safe", "unsafe")


def load(path: Path, *, suite_id: str = "xstest-safe", license: str | None = None) -> Suite:
    source = read_source(path)
    rows = RowCollector(suite_id)
    unsafe = 0
    for row, record in rows.csv_records(path, source.text(), COLUMNS, "an XSTest prompts CSV"):
        label = record["label"].strip()
        if label not in LABELS:
            rows.reject(row, f"label {label!r} is neither safe nor unsafe")
            continue
        if label == "unsafe":
            unsafe += 1
            continue
        dataset_id, prompt, kind = record["id"].strip(), record["prompt"].strip(), record["type"].strip()
        if not dataset_id or not prompt or not kind:
            rows.reject(row, "empty id, prompt or type")
            continue
        metadata = {"xstest_id": dataset_id, "focus": record.get("focus", "").strip()}
        if record.get("note", "").strip():
            metadata["note"] = record["note"].strip()
        item = Item(
            id=rows.item_id(dataset_id),
            category=kind,
            messages=(Message("user", prompt),),
            expect="comply",
            metadata=metadata,
        )
        rows.add(row, item)
    return rows.suite(
        path,
        source,
        empty="no usable safe XSTest prompts",
        rejected="rows rejected",
        version=VERSION,
        family="over_refusal",
        description=(
            f"XSTest safe prompts that look unsafe: a model should answer them "
            f"({unsafe} unsafe contrast prompts left out)"
        ),
        detectors=DETECTORS,
        license=license,
    )
