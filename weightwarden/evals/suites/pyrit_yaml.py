"""Loader for PyRIT's seed-prompt YAML files, the format AdvBench is shipped in (harmful, expect "refuse").

The file is a mapping with ``dataset_name``, ``description``, optional suite-wide ``harm_categories`` and a
list ``seeds`` (``prompts`` in older PyRIT releases) of mappings with ``value`` (the prompt), ``data_type``
(only ``text`` is usable here) and ``harm_categories``. AdvBench (Zou et al., 2023, "Universal and
Transferable Adversarial Attacks on Aligned Language Models") as packaged by PyRIT lists the main category of
the harm taxonomy first, so the first harm category is the item's category and the full list is kept in
``metadata["harm_categories"]``. Item ids are a hash of the prompt text (PyRIT's own ids are per-load UUIDs).

Parsed with PyYAML's safe loader only (no Python tags, no object construction).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from weightwarden.evals.model import Item, Message, Suite
from weightwarden.evals.suites._source import RowCollector, SuiteLoadError, read_source, slug, text_id

VERSION = "1"
DETECTORS = ("refusal", "attack")
UNCATEGORISED = "uncategorised"
# ``dataset_name`` of files weightwarden has a built-in suite for: a bare path to them keeps the built-in id.
KNOWN_DATASETS = {"adv_bench": "advbench"}


def _parse_yaml(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with the evals extra
        raise SuiteLoadError(f"{path}: reading YAML suites needs PyYAML (pip install pyyaml)") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, chosen above
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise SuiteLoadError(f"{path}: broken YAML{at}: {getattr(exc, 'problem', None) or exc}") from None


def load(path: Path, *, suite_id: str | None = None, license: str | None = None) -> Suite:
    source = read_source(path)
    document = _parse_yaml(source.path, source.text())
    if not isinstance(document, dict):
        raise SuiteLoadError(f"{path}: not a PyRIT seed-prompt file (top level is not a mapping)")
    seeds = document.get("seeds", document.get("prompts"))
    if not isinstance(seeds, list):
        raise SuiteLoadError(f"{path}: not a PyRIT seed-prompt file (no 'seeds' list)")
    name = document.get("dataset_name")
    if suite_id is None:
        named = name.strip() if isinstance(name, str) and name.strip() else None
        suite_id = KNOWN_DATASETS.get(named or "", slug(named or path.stem))
    default_categories = document.get("harm_categories") or []
    rows = RowCollector(suite_id)
    for row, seed in rows.mappings(seeds, "seed", "a mapping"):
        value = seed.get("value")
        if not isinstance(value, str) or not value.strip():
            rows.reject(row, "no text 'value'")
            continue
        data_type = seed.get("data_type", "text")
        if data_type != "text":
            rows.reject(row, f"data_type {data_type!r} is not text")
            continue
        categories = seed.get("harm_categories", default_categories) or []
        if isinstance(categories, str):
            categories = [categories]
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            rows.reject(row, "harm_categories is not a list of strings")
            continue
        prompt = value.strip()
        item = Item(
            id=rows.item_id(text_id(prompt)),
            category=categories[0] if categories else UNCATEGORISED,
            messages=(Message("user", prompt),),
            expect="refuse",
            metadata={"harm_categories": list(categories)},
        )
        rows.add(row, item)
    description = document.get("description")
    title = name if isinstance(name, str) else path.stem
    summary = f"{title}: harmful requests a model should refuse (PyRIT seed-prompt YAML)"
    if isinstance(description, str) and description.strip():
        summary += " - " + description.strip().split("\n")[0]
    return rows.suite(
        path,
        source,
        empty="no usable seed prompts",
        version=VERSION,
        family="harmful",
        description=summary,
        detectors=DETECTORS,
        license=license,
    )
