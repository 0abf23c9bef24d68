"""What the chat-template red-team round files (tests/test_templates_round9.py ...) share: the judgement of a
template on its own, and the same template shipped in a tokenizer_config.json and scanned as a model folder."""

from __future__ import annotations

import json
from pathlib import Path

from weightwarden.scan.engine import scan_paths
from weightwarden.scan.templates import COMPUTED_ATTR, analyze_template


def assert_found(source: str, kinds: frozenset[str] = frozenset({COMPUTED_ATTR})) -> None:
    """The analysis reports at least one issue of one of ``kinds`` for ``source``."""
    found = {issue.kind for issue in analyze_template(source)}
    assert found & kinds, source


def tokenizer_config_rules(folder: Path, template: str) -> set[str]:
    """Rule ids of the high or critical findings when ``template`` is the chat_template of a tokenizer_config.json
    in ``folder`` (the form most models ship it in)."""
    config = {"bos_token": "<s>", "eos_token": "</s>", "chat_template": template}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    report = scan_paths([folder])
    return {f.rule_id for f in report.findings if f.severity.value in ("high", "critical")}
