"""Red team round 28 on chat templates (report: issues/rt-scan-round28.md): how templates are FOUND, again.

1. The "any file is also a template" check read UTF-8 only: a protocol-4 pickle, an .npy, a safetensors or a GGUF
   file (or a head of control characters) holding a template that a cp1252 / latin-1 / errors="ignore" host renders
   got no finding. Now every decode view of every file up to max_text_bytes is asked; GGUF trailing data without
   tensors is reported.
2. Inline code spans (a paragraph, a table cell) with a stray tag elsewhere.
3. Line ends other than LF (CR, \\x1c, U+2028).
4. Numeric character references without ";".
And the backstop: any weak text that does not parse is recovered tag by tag (stray tags dropped, blocks balanced).

The victim side of each form is proven in a subprocess with a plain ``jinja2.Environment().from_string(...).render``
whose payload creates a canary directory (no shell).
"""

from __future__ import annotations

import html
import io
import json
import pickle
import re
import struct
from pathlib import Path

import pytest

from tests.template_rounds import host_renders as _host_renders
from tests.template_rounds import scan_file as _scan
from weightwarden.artifact.recovery import RecoveryBound, recover_template, recoverable_tag

MESSAGES = [{"role": "user", "content": "hi"}]


def _template(canary: Path) -> str:
    return ("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
            f"{{{{ cycler.__init__.__globals__.os.mkdir('{canary}') }}}}"
            "{% if add_generation_prompt %}assistant:{% endif %}\n")




def _critical(findings: list) -> set[str]:
    return {f.rule_id for f in findings if f.severity.value == "critical"}


# -- class 1: binary signatures holding a template another codec shows ------------------------------------------------

def _body(canary: Path) -> bytes:
    return b"\n" + "R\xe9sum\xe9\n".encode("cp1252") + _template(canary).encode()


def _gguf(kvs: list[tuple[bytes, bytes]], tensor_data: bytes) -> bytes:
    def s(b: bytes) -> bytes:
        return struct.pack("<Q", len(b)) + b
    out = b"GGUF" + struct.pack("<IQQ", 3, 1 if tensor_data else 0, len(kvs))
    for k, v in kvs:
        out += s(k) + struct.pack("<I", 8) + s(v)
    if tensor_data:
        out += s(b"tok_embd.weight") + struct.pack("<I", 1) + struct.pack("<Q", len(tensor_data))
        out += struct.pack("<I", 24) + struct.pack("<Q", 0)
        out += b"\n" * ((32 - len(out) % 32) % 32) + tensor_data
        out += b"\n" * ((32 - len(out) % 32) % 32)
    return out


def _polyglots(canary: Path) -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, codec, errors) of the host that renders them."""
    import numpy as np

    body = _body(canary)
    npy = io.BytesIO()
    np.save(npy, np.frombuffer(body, dtype=np.uint8))
    npy_ascii = io.BytesIO()
    np.save(npy_ascii, np.frombuffer(b"\n" + _template(canary).encode(), dtype=np.uint8))
    header = json.dumps({"t": {"dtype": "U8", "shape": [len(body)], "data_offsets": [0, len(body)]}}).encode()
    header += b" " * ((8 - len(header) % 8) % 8)
    empty_gguf = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)
    benign = b"{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
    return {
        "AP4": (pickle.dumps({"blob": "\nPrompt\n" + _template(canary)}, protocol=4), "latin-1", "strict"),
        "P3": (pickle.dumps({"blob": body}, protocol=4), "cp1252", "strict"),
        "P4": (pickle.dumps({"blob": body}, protocol=2), "cp1252", "strict"),
        "AN": (npy_ascii.getvalue(), "cp1252", "strict"),
        "N2": (npy.getvalue(), "cp1252", "strict"),
        "S2": (struct.pack("<Q", len(header)) + header + body, "cp1252", "strict"),
        "G1": (empty_gguf + body, "cp1252", "strict"),
        "G3": (empty_gguf + b"Prompt\n" + _template(canary).replace("{{ cycler", "{\x80{ cycler").encode("latin-1"),
               "utf-8", "ignore"),
        "G5": (_gguf([(b"general.architecture", b"llama"), (b"tokenizer.chat_template", benign)], body),
               "cp1252", "strict"),
        # One long tag (past the 4 KiB first window around a byte-level opener) holding a control character.
        "PL": (pickle.dumps({"blob": b"\n" + "R\xe9sum\xe9\n".encode("cp1252") + _template(canary).replace(
            "{{ cycler", "{{ '" + "x\x01" * 5000 + "' ~ cycler").encode()}, protocol=4), "cp1252", "strict"),
        "U1": (b"\x01" * 4000 + body, "cp1252", "strict"),
        "U2": (b"\x1b[0m" * 40 + body, "cp1252", "strict"),
        "U3": (b"\0" * 20 + body, "cp1252", "strict"),
    }


@pytest.mark.parametrize("name", ["AP4", "P3", "P4", "PL", "AN", "N2", "S2", "G1", "G3", "G5", "U1", "U2", "U3"])
def test_binary_signature_with_a_template_in_another_view_is_critical(tmp_path: Path, name: str) -> None:
    canary = tmp_path / f"CANARY_{name}"
    data, codec, errors = _polyglots(canary)[name]
    assert _host_renders(tmp_path, data.decode(codec, errors=errors), canary)
    findings = _scan(tmp_path, f"{name}_prompt.txt", data)
    assert "WW-TPL-003" in _critical(findings), [(f.rule_id, f.location.path) for f in findings]


def _npy(array: object) -> bytes:
    import numpy as np

    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def test_gguf_header_with_trailing_text_is_reported(tmp_path: Path) -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, 0) + b"x" * 200
    findings = _scan(tmp_path, "model.gguf", data)
    assert "WW-GGUF-003" in {f.rule_id for f in findings}


def test_ordinary_binaries_stay_clean(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    # Random bytes hold "{{" / "{%" by chance: decoded as cp1252 or gbk they show openers, never a whole tag.
    assert _scan(tmp_path, "r.npy", _npy(rng.integers(0, 256, 4 * 1024 * 1024, dtype=np.uint8))) == []
    for i in range(4):
        npy = io.BytesIO()
        np.save(npy, rng.standard_normal(4096).astype(np.float32))
        assert _scan(tmp_path, f"w{i}.npy", npy.getvalue()) == []
    assert _scan(tmp_path, "p.pkl", pickle.dumps({"a": [1, 2.5, "x"], "b": b"\x80{\x81"}, protocol=4)) == []


# -- classes 2-4: readme forms -----------------------------------------------------------------------------------------

def _readmes(canary: Path) -> dict[str, tuple[str, str]]:
    """name -> (file text, what the reader copies from the rendered page)."""
    t = _template(canary).replace("\n", " ")
    rst = ("Model\n=====\n\nClose loops with ``{% endfor %}``.\n\n.. code-block:: jinja\n\n   " + t + "\n\nMore text.\n")
    entity = (t.replace("{", "&#123").replace("%", "&#37"))
    entity_hex = (t.replace("{", "&#x7b").replace("%", "&#x25"))
    return {
        "M1": (f"# Tiny\n\nChat template (paste into `--chat-template`): `{t}` (never a stray `{{% endfor %}}`).\n", t),
        "M2": (f"# Tiny\n\n| host | template |\n|---|---|\n| vLLM | `{t}` |\n| note | never a bare `{{% endfor %}}` |\n",
               t),
        "M3": (f"# Tiny\n\nComments look like `{{#` in Jinja.\n\nTemplate: `{t}`\n", t),
        "M4": (f"# Tiny\n\nQuote with `{{% raw %}}`.\n\nTemplate: <code>{t}</code>\n", t),
        # The recovered whole does not parse (a block defined twice): the parts between delimiters are recovered.
        "M5": (f"# Tiny\n\nBlocks: `{{% block a %}}{{% endblock %}}`, `{{% block a %}}{{% endblock %}}`.\n\nTemplate: `{t}`\n",
               t),
        "RCR": (rst.replace("\n", "\r"), t),
        "RFS": (rst.replace("\n", "\x1c"), t),
        "RLS": (rst.replace("\n", "\u2028"), t),
        "F2": (f"# Model\n\n<pre><code>{entity}\n</code></pre>\n\nEnd.\n", t),
        "F3": (f"# Model\n\n<pre><code>{entity_hex}\n</code></pre>\n\nEnd.\n", t),
    }


@pytest.mark.parametrize("name", ["M1", "M2", "M3", "M4", "M5", "RCR", "RFS", "RLS", "F2", "F3"])
def test_readme_forms_are_critical(tmp_path: Path, name: str) -> None:
    canary = tmp_path / f"CANARY_{name}"
    text, copied = _readmes(canary)[name]
    if name.startswith("F"):
        copied = html.unescape(re.sub(r"</?[a-z]+>", "", text)).split("\n\n")[1]
    assert _host_renders(tmp_path, copied, canary)
    findings = _scan(tmp_path, f"{name}_README.md", text)
    assert "WW-TPL-003" in _critical(findings), [(f.rule_id, f.location.path) for f in findings]


def test_inline_code_span_is_what_markdown_it_yields(tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    canary = tmp_path / "CANARY_MD"
    text, _ = _readmes(canary)["M2"]
    spans = [c.content for t in MarkdownIt("commonmark").enable("table").parse(text) if t.children
             for c in t.children if c.type == "code_inline"]
    assert _host_renders(tmp_path, max(spans, key=len), canary)


def test_large_cr_only_readme_is_critical(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY_ECR"
    filler = "Lorem ipsum dolor sit amet.\n" * 42000
    text = ("# Model\n\n" + filler + "\n```jinja\n" + _template(canary) + "```\n").replace("\n", "\r")
    findings = _scan(tmp_path, "ECR_README.md", text)
    assert "WW-TPL-003" in _critical(findings)


# -- the recovery ------------------------------------------------------------------------------------------------------

def test_recovery_drops_stray_tags_and_balances_blocks() -> None:
    text = "a {{ x }} {% if %} {% for a in b %} {{ {{ y }} {# c {{ z }} #} {% endif %} {% else %} {% raw %} {{ q }}"
    out = recover_template(text)
    assert out is not None
    assert "{% if %}" not in out and "{% endif %}" not in out and out.endswith("{% endfor %}")
    for tag in ("{{ x }}", "{{ y }}", "{{ z }}", "{{ q }}", "{% else %}"):
        assert tag in out
    # lines of the text are kept (findings point at the text's lines)
    assert recover_template("x\n{% endfor %}\n{{ y }}").count("\n") == 2


def test_recovery_is_bounded() -> None:
    hostile = "{{ (" * 200_000
    with pytest.raises(RecoveryBound):
        recover_template(hostile)
    assert recoverable_tag(hostile)  # fail closed: the template rule then reports the bound


def test_recovery_bound_is_a_finding(tmp_path: Path) -> None:
    findings = _scan(tmp_path, "notes.md", "A note {{ x }} then {% endfor %} and " + "{{ (" * 200_000)
    assert "WW-TPL-002" in {f.rule_id for f in findings}


def test_vocabulary_of_markup_tokens_is_not_a_template(tmp_path: Path) -> None:
    tokens = ["{{", "{%", "}}", "{#", "#}", "%}", "{{ x", "{{}}", "{%}", "{{ }}", "{{'", "{%raw", "{% }"]
    vocab = {f"{tokens[i % len(tokens)]}{i}": i for i in range(5000)}
    assert _scan(tmp_path, "vocab.json", json.dumps(vocab)) == []
    assert _scan(tmp_path, "merges.txt", "#version: 0.2\n" + "\n".join(vocab)) == []


# -- benign controls ---------------------------------------------------------------------------------------------------

BENIGN = {
    "jekyll.md": "# Site\n\nUse `{{ site.title }}` in a layout, and `{% for post in site.posts %}` loops.\n\n"
                 "Close with `{% endfor %}`. An `{% endif %}` alone is an error.\n",
    "table.md": "| tag | meaning |\n|---|---|\n| `{{ x }}` | print |\n| `{% if %}` | branch |\n| `{# c #}` | comment |\n",
    "crlf.md": "# Card\r\n\r\n```jinja\r\n{% for m in messages %}{{ m.content }}{% endfor %}\r\n```\r\n\r\n`{% endfor %}`\r\n",
    "entities.md": "Q&amp;A &lt;b&gt; &#123 braces &#125 and 50&#37 off. {% endfor %}\n",
}


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_readmes_are_clean(tmp_path: Path, name: str) -> None:
    findings = _scan(tmp_path, name, BENIGN[name])
    assert [f for f in findings if f.severity.value in ("critical", "high", "medium")] == [], findings


def test_real_templates_with_a_stray_tag_stay_clean() -> None:
    root = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "chat-templates"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix == ".jinja")
    if not files:
        pytest.skip("chat-templates dataset not present")
    from weightwarden.scan import templates as tpl

    for p in files:
        out = recover_template("Stray `{% endfor %}` first.\n\n" + p.read_text(encoding="utf-8"))
        if out is None:
            continue
        risky = [i for i in tpl.analyze_template(out) if i.kind not in (tpl.PARSE_ERROR,)]
        assert risky == [], (p, risky)
