"""What the chat-template red-team round files (tests/test_templates_round9.py ...) share: the judgement of a
template on its own, and the same template shipped in a tokenizer_config.json and scanned as a model folder."""

from __future__ import annotations

import contextlib
import copy
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

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


def issue_kinds(source: str) -> set[str]:
    """The kinds of the issues the analysis reports for ``source``."""
    return {issue.kind for issue in analyze_template(source)}


def fires(source: str, folder: Path, trigger_tail: str = "|update") -> bool:
    """Render ``source`` under a plain jinja2.Environment with the rounds' trigger chat, whose parts walk to
    ``os.system('touch <folder>/canary')``; True when the canary appeared (the PoC is a live bypass)."""
    canary = folder / "canary"
    chat = [{"role": "user", "content": f"x|__globals__|os|system|touch {canary}{trigger_tail}"}]
    with contextlib.suppress(Exception):  # a PoC may raise after it ran
        jinja2.Environment().from_string(source).render(messages=chat)
    return canary.exists()


def changes_host(source: str, data: dict[str, Any]) -> bool:
    """Render ``source`` under a plain jinja2.Environment with the host's ``data``; True when the render changed
    the host's own objects in place (what WW-TPL-011 is about)."""
    before = copy.deepcopy(data)
    with contextlib.suppress(Exception):
        jinja2.Environment().from_string(source).render(**data)
    return data != before


def _gguf(template: str) -> bytes:
    """A minimal GGUF v3 file whose only metadata are the architecture and tokenizer.chat_template."""
    def s(raw: bytes) -> bytes:
        return struct.pack("<Q", len(raw)) + raw

    kvs = [(b"general.architecture", s(b"llama")), (b"tokenizer.chat_template", s(template.encode()))]
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, value in kvs:
        out += s(key) + struct.pack("<I", 8) + value
    return out + b"\0" * ((-len(out)) % 32)


# The four places a host reads a chat template from: file name and how the template is written into it.
TEMPLATE_CONTAINERS: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "jinja": ("chat_template.jinja", lambda t: t.encode()),
    "gguf": ("model.gguf", _gguf),
    "tokenizer_config": ("tokenizer_config.json", lambda t: json.dumps({"chat_template": t}).encode()),
    "chat_template_json": ("chat_template.json", lambda t: json.dumps({"chat_template": t}).encode()),
}


def host_renders(tmp_path: Path, source: str | bytes, canary: Path, encoding: str = "utf-8") -> bool:
    """A plain (unsandboxed) Jinja host, in a subprocess: renders ``source`` (a file read with ``encoding``) with one
    chat message; True when the payload created ``canary`` (a folder)."""
    src = tmp_path / "host_source.txt"
    if isinstance(source, str):
        src.write_text(source, encoding="utf-8")
    else:
        src.write_bytes(source)
    code = (f"import jinja2,sys;jinja2.Environment().from_string(open(sys.argv[1],encoding={encoding!r}).read())"
            ".render(messages=[{'role':'user','content':'hi'}],add_generation_prompt=True)")
    subprocess.run([sys.executable, "-c", code, str(src)], check=True, timeout=60)
    return canary.is_dir()


def scan_file(tmp_path: Path, name: str, data: bytes | str) -> list:
    """The findings of a scan of ``data`` written to ``tmp_path / name``."""
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return scan_paths([path]).findings


def split_template(canary: Path, splitter: str, escape_underscores: bool = False) -> str:
    """A template writing the canary, each opener and closer split by ``splitter`` (template rounds 35, 36)."""
    s = splitter
    text = (f"{{{s}% for m in messages %{s}}}<|{{{s}{{ m['role'] }}{s}}}|>{{{s}{{ m['content'] }}{s}}}"
            f"{{{s}% endfor %{s}}}{{{s}{{ cycler.__init__.__globals__.os.mkdir('{canary}') }}{s}}}")
    return text.replace("_", "\\_") if escape_underscores else text
