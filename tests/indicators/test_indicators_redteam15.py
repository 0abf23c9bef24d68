"""Regression tests of red-team round 15 on indicators (docs/decisions.md, "Red team round 15 on indicators";
report /work/issues/rt-indicators-round15.md, PoCs in /tmp/rt-ind15: mk_num.py, mk_ws.py ws|esc, keyorder.json,
negzero.json, bignum.stix.json, bigws.json, mk_flood.py, inc_evil.json).

1 Round 14 compared parsed JSON values, so a file's spelling was free: `0.35` followed by zeros and 3 digits per
  payload byte, one space or tab per bit after the closing brace, hex characters written plainly or as `\\u00XX`,
  reversed key order, `-0` for `0`. `import`/`match`/`export` took each with exit 0 while a shell one-liner read
  megabytes of attack text back. Readers now require the writers' bytes (records.set_from_bytes).
  Also (the report's "tried"): 99,900 unlisted indicators were refused only after a 72 s stix2.parse; the export's
  shape is now checked first.
2 `incident show/list --format json` printed attachments that `incident export` refuses.

The PoCs are rebuilt here, small, from real exports (the same edits as the scripts). No test here measures time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.indicators.cli_sets import PLAIN_AND_WRAPPED, derive_folder_set, run_cli
from tests.indicators.test_indicators_redteam14 import PROMPTS, _set
from weightwarden.indicators.errors import IndicatorFormatError
from weightwarden.indicators.records import (
    TLP_LEVELS,
    dump_json,
    dump_set,
    parse_json_bounded,
    set_from_bytes,
)
from weightwarden.indicators.stix import _WRITTEN, dump_stix, to_stix

PAYLOAD = " ".join(PROMPTS[:2]).encode()


@pytest.fixture(scope="module")
def exports(sketcher: Any, tmp_path_factory: Any) -> dict[str, bytes]:
    """A real set's native file and STIX bundle, as weightwarden writes them."""
    made = _set(sketcher)
    return {"native": dump_set(made.without_private()).encode(), "stix": dump_stix(made).encode()}


@pytest.fixture(scope="module")
def cli_exports(tmp_path_factory: Any) -> dict[str, Path]:
    """Made through the CLI: derive --folder, then export --format json and --format stix (no models: `0`s)."""
    d = tmp_path_factory.mktemp("cli")
    made = derive_folder_set(d, PLAIN_AND_WRAPPED)
    out = {"key": made["key"], "native": d / "mine.json", "stix": d / "mine.stix.json"}
    for fmt, path in (("json", out["native"]), ("stix", out["stix"])):
        result = run_cli("indicators", "export", str(made["base"]), "--key", str(made["key"]), "--format", fmt, "-o", str(path))
        assert result.exit_code == 0, result.output
    return out


# --- the PoC encodings, rebuilt small ------------------------------------------------------------------------------

def _num(raw: bytes) -> bytes:
    """mk_num.py: near_threshold spelled 0.35 + 20 zeros + 3 decimal digits per payload byte (still the float 0.35)."""
    digits = "".join(f"{b:03d}" for b in PAYLOAD).encode()
    out = raw.replace(b'"near_threshold": 0.35', b'"near_threshold": 0.35' + b"0" * 20 + digits, 1)
    assert out != raw
    return out


def _num_exp(raw: bytes) -> bytes:
    """`35e-2` for 0.35 (the report: also accepted)."""
    out = raw.replace(b'"near_threshold": 0.35', b'"near_threshold": 35e-2', 1)
    assert out != raw
    return out


def _ws(raw: bytes) -> bytes:
    """mk_ws.py ws: one space (0) or tab (1) per payload bit after the closing brace."""
    bits = "".join(f"{b:08b}" for b in PAYLOAD)
    return raw.rstrip(b"\n") + "".join(" \t"[int(c)] for c in bits).encode() + b"\n"


def _ws_inner(raw: bytes) -> bytes:
    """Whitespace between two tokens (the report: works the same way)."""
    return raw.replace(b'": ', b'":  ', 1)


def _esc(raw: bytes) -> bytes:
    """mk_ws.py esc: each hex character of the first digest plain (0) or as \\u00XX (1), one bit each."""
    bits = "".join(f"{b:08b}" for b in PAYLOAD[:8])
    text = raw.decode()
    match = re.search(r'"exact": "([0-9a-f]{64})"', text) or re.search(r"hmac_sha256 = '([0-9a-f]{64})'", text)
    assert match is not None
    spelled = "".join(f"\\u{ord(c):04x}" if bit == "1" else c for c, bit in zip(match.group(1), bits.ljust(64, "0"),
                                                                                 strict=True))
    return (text[:match.start(1)] + spelled + text[match.end(1):]).encode()


def _reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(v) for v in value]
    return value


def _keyorder(raw: bytes) -> bytes:
    """keyorder.json: every object's keys reversed (log2(k!) bits per object), in the writers' spelling otherwise."""
    return dump_json(_reorder(json.loads(raw))).encode()


def _negzero(raw: bytes) -> bytes:
    """negzero.json: `-0` for `0` (here the first integer 0 of the file)."""
    out = re.sub(rb'": 0(,?\n)', rb'": -0\1', raw, count=1)
    assert out != raw
    return out


def _bignum(raw: bytes) -> bytes:
    """bignum.stix.json, smaller: 400,000 payload digits in near_threshold (after 20 zeros: still 0.35)."""
    digits = ("".join(f"{b:03d}" for b in PAYLOAD) * 2000)[:400_000].encode()
    return raw.replace(b'"near_threshold": 0.35', b'"near_threshold": 0.35' + b"0" * 20 + digits, 1)


def _bigws(raw: bytes) -> bytes:
    """bigws.json, small: 200 kB of space/tab bits after the closing brace."""
    return raw.rstrip(b"\n") + (b" \t\t \t  \t" * 25_000) + b"\n"


VARIANTS = {"num": _num, "num-exp": _num_exp, "ws": _ws, "ws-inner": _ws_inner, "esc": _esc, "keyorder": _keyorder,
            "negzero": _negzero, "bignum": _bignum, "bigws": _bigws}


def _cli_refuses(tmp_path: Path, cli_exports: dict[str, Path], data: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "out.json"
    for args in (["import", str(path), "-o", str(out)],
                 ["match", str(cli_exports["native"]), str(path), "--key", str(cli_exports["key"])],
                 ["export", str(path), "--format", "json", "-o", str(out)]):
        result = run_cli("indicators", *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: ") and "Traceback" not in result.output
        assert "refused" in result.output or "byte " in result.output, result.output
        assert PROMPTS[0][:20] not in result.output and "\t" not in result.output
        assert not out.exists()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("form", ["native", "stix"])
def test_poc_spellings_refused(cli_exports, tmp_path: Path, variant: str, form: str):
    """poc_spelling.sh: each spelling of a real CLI export, native and STIX: import, match and export exit 2."""
    raw = cli_exports[form].read_bytes()
    mutated = VARIANTS[variant](raw)
    assert json.loads(mutated) == json.loads(raw) or variant == "esc"  # the values are unchanged: only the spelling
    _cli_refuses(tmp_path, cli_exports, mutated, f"{variant}.{form}.json")


def test_byte_error_names_the_offset_and_never_the_found_bytes(exports):
    for form, raw in exports.items():
        mutated = _ws(raw)
        with pytest.raises(IndicatorFormatError) as info:
            set_from_bytes(mutated, parse_json_bounded(mutated, "f", "indicator set"), "f")
        message = info.value.reason
        lines = raw.count(b"\n")
        assert f"byte {len(raw) - 1} (line {lines}, column 2)" in message, (form, message)
        assert "weightwarden writes '\\n' there" in message and "\t" not in message


def test_incident_attachment_spellings_refused(cli_exports, tmp_path: Path):
    """`incident new --indicators` takes only the file weightwarden writes (one set, or a list in dump_json)."""
    raw = cli_exports["native"].read_bytes()
    base = ["incident", "new", "--model", "acme/m", "--summary", "s", "--risk-domain", "cyber.offense", "--severity",
            "low", "--tlp", "TLP:AMBER", "--indicators"]
    ok = run_cli(*base, str(cli_exports["native"]), "-o", str(tmp_path / "inc.json"))
    assert ok.exit_code == 0, ok.output
    listed = tmp_path / "list.json"
    listed.write_text(dump_json([json.loads(raw)]))
    ok = run_cli(*base, str(listed), "-o", str(tmp_path / "inc2.json"))
    assert ok.exit_code == 0, ok.output
    for name in ("num", "ws", "esc", "keyorder", "negzero"):
        path = tmp_path / f"{name}.json"
        path.write_bytes(VARIANTS[name](raw))
        result = run_cli(*base, str(path), "-o", str(tmp_path / "bad.json"))
        assert result.exit_code == 2, (name, result.output)
        assert "byte " in result.output and "Traceback" not in result.output
        assert not (tmp_path / "bad.json").exists()
    listed.write_text(json.dumps([json.loads(raw)]))  # a list, not in the writers' spelling
    assert run_cli(*base, str(listed), "-o", str(tmp_path / "bad.json")).exit_code == 2


# --- the flood of unlisted objects ("tried") -----------------------------------------------------------------------

def test_flood_of_unlisted_indicators_refused_before_parsing(exports, monkeypatch):
    """mk_flood.py, small: minimal indicators the grouping does not list, with ids derived from their digests. Refused
    by the shape check, before stix2 builds any object (stix2.parse is made to fail loudly if reached)."""
    import hashlib

    import stix2

    from weightwarden.indicators.stix import _sdo_id

    bundle = json.loads(exports["stix"])
    template = next(o for o in bundle["objects"] if o["type"] == "indicator")
    for i in range(2000):
        digest = hashlib.sha256(b"flood %d" % i).hexdigest()
        bundle["objects"].append({**template, "id": _sdo_id("indicator", "prompt:" + digest),
                                  "pattern": f"[x-weightwarden-prompt:exact_hmac_sha256 = '{digest}']"})
    raw = dump_json(bundle).encode()

    def parse_reached(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("stix2.parse was reached")

    monkeypatch.setattr(stix2, "parse", parse_reached)
    with pytest.raises(IndicatorFormatError, match="grouping does not list.*refused before parsing"):
        set_from_bytes(raw, parse_json_bounded(raw, "f", "indicator set"), "f")


def test_size_bound_before_parsing(exports):
    raw = _bignum(exports["stix"])
    with pytest.raises(IndicatorFormatError, match="refused before parsing"):
        set_from_bytes(raw, parse_json_bounded(raw, "f", "indicator set"), "f")


def test_written_keys_match_real_exports(sketcher):
    """_WRITTEN (the top-level properties the pre-parse check allows) is exactly what to_stix writes."""
    seen: dict[str, set[str]] = {}
    for made in (_set(sketcher), _set(sketcher, created=None), _set(sketcher, models=False, atlas_mix=False)):
        for o in to_stix(made)["objects"]:
            seen.setdefault(o["type"], set()).update(o)
    assert seen == {k: set(v) for k, v in _WRITTEN.items()}


# --- round trips ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tlp", TLP_LEVELS)
def test_real_exports_round_trip_byte_identical(sketcher, tmp_path: Path, tlp: str):
    """Native and STIX exports at every TLP level import, and import -> export gives the same bytes."""
    native = tmp_path / "set.json"
    native.write_text(dump_set(_set(sketcher, tlp=tlp)))
    for fmt in ("json", "stix"):
        first, back, again = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}.json", tmp_path / f"c.{fmt}"
        assert run_cli("indicators", "export", str(native), "--format", fmt, "-o", str(first)).exit_code == 0
        result = run_cli("indicators", "import", str(first), "-o", str(back))
        assert result.exit_code == 0, result.output
        assert run_cli("indicators", "export", str(back), "--format", fmt, "-o", str(again)).exit_code == 0
        assert again.read_bytes() == first.read_bytes()
        assert first.read_bytes().endswith(b"}\n") and not first.read_bytes().endswith(b"}\n\n")
    without = tmp_path / "nocreated.json"
    without.write_text(dump_set(_set(sketcher, tlp=tlp, created=None)))
    stix = tmp_path / "nocreated.stix.json"
    assert run_cli("indicators", "export", str(without), "-o", str(stix)).exit_code == 0
    assert run_cli("indicators", "import", str(stix), "-o", str(tmp_path / "x.json")).exit_code == 0


# --- property test: any change of the bytes is refused -------------------------------------------------------------

_NUMBER = re.compile(rb'(?<=[:\[,] )-?\d+(?:\.\d+)?(?=[,\n])|(?<=\n)( +)-?\d+(?:\.\d+)?(?=[,\n])')
_STRING_CHAR = re.compile(rb'(?<=")[^"\\\n]+(?=")')


@st.composite
def _byte_mutation(draw: Any, raw: bytes) -> bytes:
    kind = draw(st.sampled_from(["whitespace", "number", "escape", "keyorder"]))
    if kind == "whitespace":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.sampled_from([b" ", b"\t", b"\n", b"\r\n", b"  "])) + raw[at:]
    if kind == "number":
        numbers = [m for m in _NUMBER.finditer(raw)]
        m = draw(st.sampled_from(numbers))
        token = m.group(0).strip()
        start = m.end() - len(token)
        spelled = draw(st.sampled_from([token + b"e0", token + b"E+00", b"-" + token if not token.startswith(b"-")
                                        else token[1:], token + (b"0" if b"." in token else b".0"),
                                        (token + b"0" * draw(st.integers(1, 30)) + b"7") if b"." in token
                                        else b"0" + token]))
        return raw[:start] + spelled + raw[m.end():]
    if kind == "escape":
        strings = [m for m in _STRING_CHAR.finditer(raw)]
        m = draw(st.sampled_from(strings))
        at = draw(st.integers(m.start(), m.end() - 1))
        esc = draw(st.sampled_from(["\\u{:04x}", "\\u{:04X}"])).format(raw[at]).encode()
        return raw[:at] + esc + raw[at + 1:]
    data = json.loads(raw)
    containers: list[dict[str, Any]] = []
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            containers.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    target = draw(st.sampled_from([c for c in containers if len(c) > 1]))
    keys = draw(st.permutations(list(target)))
    items = [(k, target.pop(k)) for k in list(target)]
    target.update((k, dict(items)[k]) for k in keys)
    return dump_json(data).encode()


def _refused_unless_same(raw: bytes, mutated: bytes) -> None:
    try:
        set_from_bytes(mutated, parse_json_bounded(mutated, "f", "indicator set"), "f")
    except IndicatorFormatError as exc:
        assert mutated != raw, exc.reason
        return
    assert mutated == raw, "accepted a file whose bytes are not weightwarden's output"


_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(max_examples=120, deadline=None, suppress_health_check=_CHECKS)
@given(data=st.data())
def test_any_respelling_of_a_native_export_is_refused(exports, data):
    """Insert whitespace anywhere, respell a number, escape a character of a string, reorder an object's keys: the
    native file is refused unless its bytes are unchanged."""
    raw = exports["native"]
    _refused_unless_same(raw, data.draw(_byte_mutation(raw)))


@settings(max_examples=60, deadline=None, suppress_health_check=_CHECKS)
@given(data=st.data())
def test_any_respelling_of_a_stix_export_is_refused(exports, data):
    raw = exports["stix"]
    _refused_unless_same(raw, data.draw(_byte_mutation(raw)))


# --- class 2: incident show/list --format json --------------------------------------------------------------------

@pytest.fixture()
def evil_incident(cli_exports, tmp_path: Path) -> Path:
    """inc_evil.json: an incident from `incident new --indicators`, then hand-edited: a raw prompt in
    prompts[0].text and an unknown key `note`."""
    inc = tmp_path / "inc.json"
    result = run_cli("incident", "new", "--model", "acme/m", "--summary", "s", "--risk-domain", "cyber.offense",
                     "--severity", "low", "--tlp", "TLP:AMBER", "--indicators", str(cli_exports["native"]), "-o",
                     str(inc))
    assert result.exit_code == 0, result.output
    doc = json.loads(inc.read_text())
    attached = doc["database_specific"]["indicators"][0]
    attached["prompts"][0]["text"] = PROMPTS[0]
    attached["note"] = "RAW: " + PROMPTS[1]
    evil = tmp_path / "inc_evil.json"
    evil.write_text(json.dumps(doc, indent=2))
    return evil


def test_show_and_list_json_check_attachments_like_export(evil_incident, tmp_path: Path):
    export = run_cli("incident", "export", str(evil_incident))
    assert export.exit_code == 2
    show = run_cli("incident", "show", "--format", "json", str(evil_incident))
    assert show.exit_code == 2, show.output
    assert PROMPTS[0] not in show.output and PROMPTS[1] not in show.output
    listing = run_cli("incident", "list", "--format", "json", str(evil_incident))
    assert listing.exit_code == 0, listing.output
    assert PROMPTS[0] not in listing.output and PROMPTS[1] not in listing.output
    assert "indicators withheld" in listing.output  # the warning (stderr, mixed in by the runner)
    records = json.loads(listing.stdout)
    assert records[0]["database_specific"]["indicators"] == []
    assert "x_weightwarden_indicators_withheld" in records[0]
    # text rendering, and a clean incident, unchanged
    assert run_cli("incident", "show", str(evil_incident)).exit_code == 0


def test_show_and_list_json_keep_clean_attachments(cli_exports, tmp_path: Path):
    inc = tmp_path / "inc.json"
    assert run_cli("incident", "new", "--model", "acme/m", "--summary", "s", "--risk-domain", "cyber.offense",
                   "--severity", "low", "--tlp", "TLP:AMBER", "--indicators", str(cli_exports["native"]), "-o",
                   str(inc)).exit_code == 0
    attached = json.loads(inc.read_text())["database_specific"]["indicators"]
    show = run_cli("incident", "show", "--format", "json", str(inc))
    assert show.exit_code == 0 and json.loads(show.output)["database_specific"]["indicators"] == attached
    listing = run_cli("incident", "list", "--format", "json", str(inc))
    assert listing.exit_code == 0 and json.loads(listing.output)[0]["database_specific"]["indicators"] == attached
    assert "x_weightwarden_indicators_withheld" not in listing.output
