"""Large JSON and text files after red team round 23 (issue 11, decisions.md "Large JSON files after round 23").

Round 23 made every ``{{``/``{%`` past the 16 MiB text bound WW-GEN-001, so a real tokenizer.json over 16 MiB (Gemma's
is ~33 MB) whose vocabulary holds ``{{``/``{%`` tokens got a high finding on a benign model. Now JSON is parsed up to
``Limits.max_parse_bytes`` (64 MiB, ``--max-parse-bytes``) and judged as round 22 judges it: a string (key or value)
or the whole text is a template only when Jinja's parser takes it (or it has a fenced block). A payload hidden as one
string anywhere in such a file is found; past the parse bound a file with tags stays WW-GEN-001 (fail closed).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
from click.testing import CliRunner

from weightwarden.artifact.readers.hf_config import _marked_strings
from weightwarden.cli.main import main
from weightwarden.core.limits import Limits
from weightwarden.scan import scan_paths

MiB = 1024 * 1024
CHAT = [{"role": "system", "content": "You are helpful"}, {"role": "user", "content": "hi"}]
# Vocabulary tokens a big multilingual tokenizer holds: markup fragments, none of which Jinja can parse.
MARKUP_TOKENS = ["{{", "{%", "}}", "{#", "#}", "%}", " {{", "▁{{", "{{-", "{%-", "{{{", "}}}", "{%%", "{{ x", "{{}}",
                 "{%}", "{{ }}", "{{'", "{%=", "▁{%", "{{\n", "{#-", "{{/*", "{{$", "{{#each", "{%raw", "{% }"]
GEMMA_TEMPLATE = ("{{ bos_token }}{% for message in messages %}<start_of_turn>{{ message['role'] }}\n"
                  "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
                  "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def _payload(canary: Path) -> str:
    """The house canary: a ChatML template reaching os through cycler.__init__.__globals__."""
    return ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "{% set g = cycler.__init__.__globals__ %}{{ g.os.system('touch " + str(canary) + "') and '' }}")


def _runs(template: str, canary: Path) -> bool:
    """What a host reading the string does: a plain jinja2 render."""
    with contextlib.suppress(Exception):
        jinja2.Environment().from_string(template).render(messages=CHAT, add_generation_prompt=True)
    return canary.exists()


def _tokenizer(size: int) -> dict[str, Any]:
    """A Gemma-like tokenizer.json of about ``size`` bytes: BPE vocabulary (multilingual, with markup tokens,
    also inside merges and added tokens) and merges as pairs."""
    vocab: dict[str, int] = {t: i for i, t in enumerate(MARKUP_TOKENS)}
    scripts = ("▁w", "ж", "中", "ひ", "é", "x")
    n = 262_144
    for i in range(len(vocab), n):
        token = f"{scripts[i % len(scripts)]}{i:x}"
        vocab[MARKUP_TOKENS[i % len(MARKUP_TOKENS)] + token if i % 97 == 0 else token] = i
    keys = list(vocab)
    merges: list[list[str]] = []
    per_merge = 24  # bytes of one ["a","b"], about
    for i in range(max(0, size - 14 * n) // per_merge):
        merges.append([keys[(i * 7) % n], keys[(i * 13 + 1) % n]])
    added = [{"id": i, "content": t, "special": True} for i, t in enumerate(["<pad>", "<eos>", "<bos>", "{{", "{%"])]
    return {"version": "1.0", "added_tokens": added, "normalizer": {"type": "Replace", "content": "▁"},
            "model": {"type": "BPE", "unk_token": "<unk>", "vocab": vocab, "merges": merges}}


@pytest.fixture(scope="module")
def gemma_like() -> dict[str, Any]:
    doc = _tokenizer(33 * MiB)
    assert len(json.dumps(doc, ensure_ascii=False).encode()) > 32 * MiB
    return doc


def _write_model(folder: Path, doc: dict[str, Any]) -> Path:
    folder.mkdir()
    (folder / "tokenizer.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<bos>", "eos_token": "<eos>", "chat_template": GEMMA_TEMPLATE}), encoding="utf-8")
    return folder


def _cli(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["scan", "--workers", "1", "--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)


def test_a_gemma_like_tokenizer_over_16_mib_with_markup_tokens_is_clean(
        gemma_like: dict[str, Any], tmp_path: Path) -> None:
    folder = _write_model(tmp_path / "gemma", gemma_like)
    assert (folder / "tokenizer.json").stat().st_size > 32 * MiB
    code, report = _cli("--strict", "--fail-on", "low", str(folder))
    assert report["findings"] == [] and code == 0, report["findings"]


def _with(doc: dict[str, Any], place: str, value: str) -> dict[str, Any]:
    """``doc`` with ``value`` as one string at ``place`` (shallow copies of what changes; ``doc`` is shared)."""
    model = doc["model"]
    if place == "vocab key":
        return doc | {"model": model | {"vocab": model["vocab"] | {value: len(model["vocab"])}}}
    if place == "merges entry":
        half = len(model["merges"]) // 2
        return doc | {"model": model | {"merges": [*model["merges"][:half], ["▁w1", value], *model["merges"][half:]]}}
    if place == "added_tokens content":
        return doc | {"added_tokens": [*doc["added_tokens"], {"id": 9, "content": value, "special": False}]}
    if place == "deep nested value":
        return doc | {"post_processor": {"type": "TemplateProcessing", "special_tokens": {"a": {"b": [{"c": ["x", value]}]}}}}
    assert place == "nested key"
    return doc | {"decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {value: 1}}]}}


PLACES = ["vocab key", "merges entry", "added_tokens content", "deep nested value", "nested key"]


@pytest.mark.parametrize("place", PLACES)
def test_a_payload_as_one_string_of_a_33_mb_tokenizer_is_found(
        place: str, gemma_like: dict[str, Any], tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    payload = _payload(canary)
    path = tmp_path / "tokenizer.json"
    raw = json.dumps(_with(gemma_like, place, payload), ensure_ascii=False).encode()
    assert len(raw) > 32 * MiB
    path.write_bytes(raw)
    # The string a host reads from the file is the payload, and it renders under plain jinja2.
    assert json.dumps(payload, ensure_ascii=False).encode() in raw
    assert _runs(payload, canary), "the payload does not run under a plain jinja2 render"
    code, report = _cli("--strict", "--fail-on", "low", str(path))
    tpl = [f for f in report["findings"] if f["rule_id"].startswith("WW-TPL")]
    assert code == 1 and tpl, report["findings"]
    where = {f["location"]["path"] for f in tpl}
    assert all(w.startswith("json:$") for w in where), where
    assert all(("(key)" in w) == ("key" in place) for w in where), where


def test_a_json_past_the_parse_bound_is_gen001_with_the_bound_and_the_option(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(_tokenizer(17 * MiB), ensure_ascii=False), encoding="utf-8")
    code, report = _cli("--fail-on", "low", "--max-parse-bytes", str(16 * MiB), str(path))
    gen = [f for f in report["findings"] if f["rule_id"] == "WW-GEN-001"]
    assert code == 1 and len(gen) == 1, report["findings"]
    assert f"{16 * MiB}-byte parse bound" in gen[0]["message"] and "--max-parse-bytes" in gen[0]["message"]
    # Within the (default) bound the same file is clean.
    code, report = _cli("--fail-on", "low", str(path))
    assert code == 0 and report["findings"] == []


def _rules(path: Path, limits: Limits) -> set[str]:
    report = scan_paths([str(path)], strict=True, limits=limits, workers=1)
    return {f.rule_id for f in report.findings} | {"error" for _ in report.errors}


SMALL = Limits(max_text_bytes=64 * 1024, max_parse_bytes=1 * MiB)


def _vocab_lines(n: int) -> list[str]:
    return ["[PAD]", "[UNK]"] + [MARKUP_TOKENS[i % len(MARKUP_TOKENS)].replace("\n", "") if i % 5 == 0
                                 else f"tok{i}" for i in range(n)]


def test_large_vocab_and_merges_texts_with_markup_tokens(tmp_path: Path) -> None:
    """merges.txt / vocab.txt past the text bound (lowered here): their "{{" tokens do not parse, so they are text.
    The same text with a payload line parses: a template too large to analyse (WW-GEN-001), and past the parse
    bound any tag stays WW-GEN-001."""
    lines = _vocab_lines(40_000)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(lines) + "\n", encoding="utf-8")
    merges = tmp_path / "merges.txt"
    merges.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in zip(lines, lines[1:], strict=False)),
                      encoding="utf-8")
    assert vocab.stat().st_size > SMALL.max_text_bytes and merges.stat().st_size > SMALL.max_text_bytes
    assert _rules(vocab, SMALL) == set() and _rules(merges, SMALL) == set()
    array = tmp_path / "vocab.json"  # a JSON array of the same tokens (sniffed as text, read as JSON)
    array.write_text(json.dumps(lines), encoding="utf-8")
    assert _rules(array, SMALL) == set()

    # A payload line among the markup tokens: the whole text does not parse, so a host rendering the file runs
    # nothing (checked), and the scan agrees.
    canary = tmp_path / "canary"
    inert = tmp_path / "inert_vocab.txt"
    inert.write_text("\n".join(lines[:20_000] + [_payload(canary).replace("\n", " ")] + lines[20_000:]),
                     encoding="utf-8")
    assert not _runs(inert.read_text(encoding="utf-8"), canary)
    assert _rules(inert, SMALL) == set()
    # A payload after plain tokens: the text parses and runs; too large to analyse, so WW-GEN-001 (fail closed).
    evil = tmp_path / "evil_vocab.txt"
    evil.write_text("\n".join(f"tok{i}" for i in range(20_000)) + "\n" + _payload(canary), encoding="utf-8")
    assert evil.stat().st_size > SMALL.max_text_bytes
    assert _runs(evil.read_text(encoding="utf-8"), canary)
    assert _rules(evil, SMALL) >= {"WW-GEN-001"}
    assert _rules(vocab, Limits(max_text_bytes=64 * 1024, max_parse_bytes=64 * 1024)) == {"WW-GEN-001", "error"}


def test_payloads_in_json_within_the_parse_bound_are_analysed(tmp_path: Path) -> None:
    """Past the text bound, within the parse bound: a payload value is analysed (a TPL finding, not only
    GEN-001); escaped markup and a payload key are found too."""
    canary = tmp_path / "canary"
    payload = _payload(canary)
    filler = {f"tok{i}": i for i in range(8000)} | {t: 1 for t in MARKUP_TOKENS}
    escaped = json.dumps({"vocab": filler, "x": [payload]}).replace("{{", "\\u007b\\u007B").replace("{%", "{\\u0025")
    (tmp_path / "escaped.json").write_text(escaped)
    (tmp_path / "key.json").write_text(json.dumps({"vocab": filler, "deep": [{payload: 1}]}))
    for name in ("escaped.json", "key.json"):
        path = tmp_path / name
        assert path.stat().st_size > SMALL.max_text_bytes
        rules = _rules(path, SMALL)
        assert any(r.startswith("WW-TPL") for r in rules), (name, rules)
    assert _runs(payload, canary)


def test_many_markup_tokens_cost_no_analysis_and_no_bound(tmp_path: Path) -> None:
    """20,000 distinct vocabulary strings holding "{{" / "{%" (more than MAX_JSON_TEMPLATES): none is a
    template, so none counts towards the bound, in a small file and in a large one."""
    tokens = {f"{MARKUP_TOKENS[i % 4]}{i}": i for i in range(20_000)}
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"model": {"vocab": tokens}}))
    assert _rules(small, Limits()) == set()
    assert _rules(small, SMALL) == set()


def test_marked_strings_delimits_literals_on_the_raw_text() -> None:
    doc = {"a\\\"{{ k }}": ["x\\", "\"{% if %}\\", "plain"], "b": "\u007b\u007b y }}", "c": "{{"}
    raw = json.dumps(doc).encode()
    assert _marked_strings(raw) == {"a\\\"{{ k }}", "\"{% if %}\\", "{{ y }}", "{{"}
    escaped = raw.replace(b"{{", b"\\u007b\\u007b")
    assert _marked_strings(escaped) == _marked_strings(raw)
    assert _marked_strings(b'{"a": 1}') == set()
