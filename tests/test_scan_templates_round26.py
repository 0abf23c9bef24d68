"""Red team round 26 on chat templates (report: issues/rt-scan-round26.md): how templates are FOUND.

1. The code blocks of a text Jinja cannot parse as a whole (a README quoting a stray ``{% endfor %}``) were paired
   by a fence regex that is not CommonMark's: blocks in list items (indented 4+) and blockquotes were missed, an
   opener CommonMark refuses (a backtick in the info string) shifted the pairing so the real block fell between two
   pairs, an unclosed last fence cut the rest, and blocks past MAX_FENCED_BLOCKS (64) passed silently. Blocks are
   now CommonMark's (markdown-it-py: fenced, indented, HTML, at any nesting) united with the line-paired fences (a
   host may copy any region), an unclosed fence runs to the end, and past the cap the text gets WW-TPL-002.
2. Text that is not UTF-8 was "format unknown" (info) before any tag search, yet a host reading with the locale codec
   (cp1252 on Windows) or errors="replace" renders it. Such text (cp1252 with latin-1 for undefined bytes, UTF-16/32
   with or without a BOM) with a tag is decoded, transcoded and analysed as UTF-8 text is, plus a medium WW-TPL-009.

Each payload is proven to escape a plain ``jinja2.Environment()`` as the reader (markdown-it-py, or the codec)
extracts it; the payload reaches ``os`` and calls ``os.getcwd()`` (harmless), which is what a shell command needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2
import pytest
from markdown_it import MarkdownIt

from weightwarden.artifact.code_blocks import code_blocks
from weightwarden.scan import scan_paths
from weightwarden.scan.rules.template import MAX_FENCED_BLOCKS

PAYLOAD = ("{% for m in messages %}<|im_start|>{{ m.role }} {{ m.content }}<|im_end|>{% endfor %}"
           "{{ cycler.__init__.__globals__.os.getcwd() }}")
STRAY = "Note: the old `{% endfor %}` tag was removed.\n\n"  # the whole text does not parse: a weak-reason text
MESSAGES = [{"role": "user", "content": "hi"}]


def _renders_escape(template: str) -> bool:
    """A plain jinja2 host (vLLM's --chat-template, a script) renders ``template``: the payload reached ``os``."""
    return os.getcwd() in jinja2.Environment().from_string(template).render(messages=MESSAGES)


def _markdown_blocks(text: str) -> list[str]:
    """What a CommonMark renderer (GitHub, Hugging Face) shows as code blocks: what a reader copies."""
    return [t.content for t in MarkdownIt("commonmark").parse(text) if t.type in ("fence", "code_block")]


def _scan(tmp_path: Path, name: str, data: bytes | str) -> list:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return scan_paths([path]).findings


def _worst(findings: list) -> set[str]:
    return {f.rule_id for f in findings if f.severity.value == "critical"}


# -- class 1: code blocks ---------------------------------------------------------------------------------------------

LIST_ITEM = (f"# Model card\n{STRAY}1. Save this as `chat_template.jinja`:\n\n    ```jinja\n    {PAYLOAD}\n    ```\n\n"
             "2. Run vLLM with `--chat-template chat_template.jinja`.\n")
BLOCKQUOTE = f"# Model card\n{STRAY}> Template:\n>\n> ```jinja\n> {PAYLOAD}\n> ```\n"
MISPAIRED = (f"# Model card\n{STRAY}```see `chat_template.jinja` below\nChat template:\n```\n{PAYLOAD}\n```\n\n"
             "Example output:\n\n```\n<|im_start|>user\nhi<|im_end|>\n```\n")
UNCLOSED = f"# Model card\n{STRAY}```jinja\nok\n```\n\nAnd the template:\n\n```jinja\n{PAYLOAD}\n"
INDENTED = f"# Model card\n{STRAY}The template:\n\n    {PAYLOAD}\n\nThat is all.\n"
NESTED = f"# Card\n{STRAY}- step\n\n  > quote\n  >\n  > ```\n  > {PAYLOAD}\n  > ```\n"
DECOYS = f"# Model card\n{STRAY}" + "".join(f"```jinja\n{{{{ messages[{i}].content }}}}\n```\n\n" for i in range(64)) + (
    f"```jinja\n{PAYLOAD}\n```\n")
SHAPES = {"list_item": LIST_ITEM, "blockquote": BLOCKQUOTE, "mispaired": MISPAIRED, "unclosed": UNCLOSED,
          "indented": INDENTED, "nested": NESTED, "64_decoys": DECOYS}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_block_a_reader_copies_is_analysed(shape: str, tmp_path: Path) -> None:
    text = SHAPES[shape]
    assert not _renders_whole(text)  # the whole text renders nothing: only its blocks matter
    copied = [b for b in _markdown_blocks(text) if "cycler" in b]
    assert copied and _renders_escape(copied[0])  # the block a reader copies runs the payload
    assert any("cycler" in b.body for b in code_blocks(text))
    assert "WW-TPL-003" in _worst(_scan(tmp_path, "README.md", text)), shape


def _renders_whole(text: str) -> bool:
    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError:
        return False
    return True


def test_mispaired_fence_line_pairs_are_kept_too(tmp_path: Path) -> None:
    # A reader pairing fence lines by eye takes the block after "```see `x` below" as the template: CommonMark does
    # not, the union does. Here the payload sits where only line pairing puts a block.
    text = f"# Card\n{STRAY}```see `x` below\n{PAYLOAD}\n```\n"
    pairs = [b.body for b in code_blocks(text) if "cycler" in b.body]
    assert pairs and _renders_escape(pairs[0])
    assert "WW-TPL-003" in _worst(_scan(tmp_path, "README.md", text))


def test_past_the_block_cap_is_a_finding(tmp_path: Path) -> None:
    decoys = "".join(f"```jinja\n{{{{ messages[{i}].content }}}}\n```\n\n" for i in range(MAX_FENCED_BLOCKS))
    # Round 29: a block past the cap whose tags are all tags of the template recovered from the whole text is
    # analysed there (a tutorial of 1 000 examples got a false high); this payload is found by that analysis.
    text = f"# Card\n{STRAY}{decoys}```jinja\n{PAYLOAD}\n```\n"
    assert "WW-TPL-003" in _worst(_scan(tmp_path, "README.md", text))
    # A block past the cap that the whole reading does not hold (a string literal of a prose tag swallows it) is
    # the cap's finding.
    text = f"# Card\n{STRAY}{decoys}Print it with {{{{ \"\n```jinja\n{PAYLOAD}\n```\n\" }}}}\n"
    found = [f for f in _scan(tmp_path, "README.md", text) if f.rule_id == "WW-TPL-002"]
    assert any(f.severity.value == "high" and str(MAX_FENCED_BLOCKS) in f.message for f in found)


def test_blocks_without_tags_do_not_count_toward_the_cap(tmp_path: Path) -> None:
    junk = "".join(f"```\nplain {i}\n```\n\n" for i in range(MAX_FENCED_BLOCKS * 2))
    text = f"# Card\n{STRAY}{junk}```jinja\n{PAYLOAD}\n```\n"
    findings = _scan(tmp_path, "README.md", text)
    assert "WW-TPL-003" in _worst(findings) and not any(f.rule_id == "WW-TPL-002" for f in findings)


MODEL_CARD = """---
license: apache-2.0
---
# Qwen-like 7B Instruct

Note: templates use `{% generation %}` markers.

## Quickstart

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("org/model", torch_dtype="auto", device_map="auto")
messages = [{"role": "user", "content": "Give me a short introduction to large language models."}]
text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
```

1. Install:

    ```bash
    pip install "transformers>=4.46" vllm
    ```

2. Serve:

        vllm serve org/model --max-model-len 32768

> **Note**
> ```json
> {"rope_scaling": {"factor": 4.0, "type": "yarn"}}
> ```

<details><summary>Citation</summary>

```bibtex
@misc{model2025, title={Model}, year={2025}}
```
</details>
"""


def test_a_real_model_card_gets_no_finding(tmp_path: Path) -> None:
    assert len(code_blocks(MODEL_CARD)) >= 4
    assert _scan(tmp_path, "README.md", MODEL_CARD) == []


def test_large_text_uses_the_line_supersets() -> None:
    # Past MARKDOWN_PARSE_CHARS the parser is not run: fences behind indents or '>' and indented runs still count.
    filler = "word\n" * 300_000
    text = f"{STRAY}{filler}- item\n\n  > ```\n  > {PAYLOAD}\n  > ```\n\n    {{{{ x }}}}\n"
    bodies = [b.body for b in code_blocks(text)]
    assert any("cycler" in b for b in bodies) and any("{{ x }}" in b for b in bodies)


# -- class 2: text that is not UTF-8 ---------------------------------------------------------------------------------

ENCODINGS = {"cp1252": "cp1252", "latin-1": "latin-1", "utf-16": "utf-16", "utf-16-le": "utf-16-le",
             "utf-32": "utf-32", "utf-32-le": "utf-32-le"}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_non_utf8_template_text_is_analysed(name: str, tmp_path: Path) -> None:
    codec = ENCODINGS[name]
    text = "Résumé prompt € \u00ff\n" if codec != "latin-1" else "Résumé prompt \u00ff\n"
    data = (text + PAYLOAD).encode(codec)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    # The host: open(p) under a cp1252 locale, or a BOM-sniffing / json.loads(bytes) reader for UTF-16/32.
    host = data.decode("cp1252", errors="replace") if codec in ("cp1252", "latin-1") else data.decode(codec)
    assert _renders_escape(host)
    assert _renders_escape(data.decode("utf-8", errors="replace")) or codec.startswith("utf-")
    findings = _scan(tmp_path, "prompt.txt", data)
    assert "WW-TPL-003" in _worst(findings), findings
    assert any(f.rule_id == "WW-TPL-009" and f.severity.value == "medium" and "not UTF-8" in f.message
               for f in findings)


@pytest.mark.parametrize("codec", ["cp1252", "utf-16"])
def test_non_utf8_json_config_is_analysed(codec: str, tmp_path: Path) -> None:
    import json

    raw = json.dumps({"note": "café", "chat_template": PAYLOAD}, ensure_ascii=False).encode(codec)
    value = json.loads(raw.decode(codec))  # llama-cpp-python's json.load(open(p)) under that locale
    assert _renders_escape(value["chat_template"])
    findings = _scan(tmp_path, "my_tokenizer_config.json", raw)
    assert "WW-TPL-003" in _worst(findings), findings


def test_cp1252_undefined_bytes_fall_back_to_latin1(tmp_path: Path) -> None:
    data = b"\x81\x8d\x8f\x90\x9d caf\xe9\n" + PAYLOAD.encode()
    assert "WW-TPL-003" in _worst(_scan(tmp_path, "t.txt", data))


def test_non_utf8_prose_quoting_a_tag_gets_only_the_encoding_finding(tmp_path: Path) -> None:
    # Round 27 superseded "no finding": the "renders nothing" reason held for one view only (a gbk host saw
    # another text), so a non-UTF-8 text with a tag in any view is a medium WW-TPL-009 (fail closed), never worse.
    data = "Résumé: write {{ name } and {% oops\n".encode("cp1252")
    findings = _scan(tmp_path, "notes.txt", data)
    assert {f.rule_id for f in findings} == {"WW-TPL-009"}
    assert {f.severity.value for f in findings} == {"medium"}


def test_non_utf8_without_tags_stays_unknown(tmp_path: Path) -> None:
    findings = _scan(tmp_path, "notes.txt", "Résumé – café\n".encode("cp1252") * 10)
    assert not any(f.rule_id.startswith("WW-TPL") for f in findings)


@pytest.mark.parametrize("pattern,text", [
    ("loose", " \t>" * 333_333 + "x"),  # a long prefix run with no fence after it, on one line
    ("loose", (">" * 1000 + "``\n") * 1000),
    ("indented", ("    " + "x" * 100 + "\n") * 10_000 + "   y"),
    ("indented", "\t" * 1_000_000),
])
def test_the_line_superset_regexes_are_linear(pattern: str, text: str) -> None:
    # The round-25 regex audit, for the two patterns added here: a 1 MB adversarial input simply runs (no timing).
    from weightwarden.artifact import code_blocks as cb

    regex = cb._LOOSE_FENCE_RE if pattern == "loose" else cb._INDENTED_RUN_RE
    regex.findall(text)
