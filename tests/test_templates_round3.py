"""Red team round 3 on the fast template path (issue 11): three bypass classes, each closed as a class.

1. The template walker follows every binding of a name (sets of values, flow-insensitive) and fails closed on
   keys: a key, ``attr()`` argument or ``attribute=`` value that is not known strings must be a number or
   render data, else it is a computed name.
2. Files a loader reads by name (chat templates, HF JSON configs, also as archive members) are routed by name
   and parsed whatever their bytes; failing to decode or parse them is a finding.
3. Every reader that carries a chat template reports one longer than the bound (high) instead of cutting it.

The PoCs themselves (rendered by a plain Jinja environment) are adversarial entries (tests/adversarial).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import pytest

from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.loader import read_source
from weightwarden.artifact.model import Format
from weightwarden.artifact.sniff import sniff
from weightwarden.artifact.source import Source
from weightwarden.core.limits import Limits
from weightwarden.scan.templates import BUILT_NAME, COMPUTED_ATTR, DUNDER, ESCAPE_ROOT, analyze_template

B = "'_'*2 ~ 'init' ~ '_'*2"  # a dunder built at render time
FOUND = {COMPUTED_ATTR, BUILT_NAME, DUNDER, ESCAPE_ROOT}

# -- 1. walker ----------------------------------------------------------------------------------------------

BINDERS = {
    "dict_keyword": "{% for a in dict(__init__=1) %}{{ cycler[a] }}{% endfor %}",
    "dict_keys_method": "{% for a in dict(__init__=1).keys() %}{{ cycler[a] }}{% endfor %}",
    "for_tuple": "{% for a, z in [(" + B + ", 1)] %}{{ cycler[a] }}{% endfor %}",
    "macro_param": "{% macro m(a) %}{{ cycler[a] }}{% endmacro %}{{ m(" + B + ") }}",
    "macro_default": "{% macro m(a=" + B + ") %}{{ cycler[a] }}{% endmacro %}{{ m() }}",
    "macro_keyword": "{% macro m(a) %}{{ cycler[a] }}{% endmacro %}{{ m(a=" + B + ") }}",
    "macro_aliased": "{% macro m(a) %}{{ cycler[a] }}{% endmacro %}{% set f = m %}{{ f(x) }}",
    "with": "{% with a = " + B + " %}{{ cycler[a] }}{% endwith %}",
    "nsref": "{% set ns = namespace() %}{% set ns.a = " + B + " %}{{ cycler[ns.a] }}",
    "ns_alias": "{% set ns = namespace(a='x') %}{% set n2 = ns %}{% set n2.a = " + B + " %}{{ cycler[ns.a] }}",
    "ns_kwarg": "{% set ns = namespace(a=dict(__init__=1)|list) %}{{ cycler[ns.a[0]] }}",
    "set_block": "{% set a %}{{ '_'*2 }}init{{ '_'*2 }}{% endset %}{{ cycler[a] }}",
    "set_tuple": "{% set a, b = " + B + ", 'x' %}{{ cycler[a] }}",
    "getitem_of_list": "{% set a = dict(__init__=1)|list %}{{ cycler[a[0]] }}",
    "reassigned": "{% set a = 'x' %}{% set a = " + B + " %}{{ cycler[a] }}",
    "reassigned_attr": "{% set a = 'x' %}{% set a = '%c%c'|format(95,95) ~ 'init' %}{{ cycler|attr(a) }}",
    "self_slice": "{% set x = '__init__X' %}{% set x = x[:8] %}{{ cycler[x] }}",
    "map_attribute_name": "{% for a, z in [(" + B + ", 1)] %}{{ [cycler]|map(attribute=a)|list }}{% endfor %}",
    "map_dyn_kwargs": "{{ [cycler]|map(**{'attribute': " + B + "})|list }}",
    "map_dyn_kwargs_name": "{% set k = 'attri' ~ 'bute' %}{{ [cycler]|map(**{k: x ~ 'y'})|list }}",
    "attr_dyn_args": "{{ cycler|attr(*[" + B + "]) }}",
    "dict_literal_item": "{{ cycler[{'a': " + B + "}.a] }}",
    "loop_cycle": "{% for m in messages %}{{ cycler[loop.cycle(" + B + ", 'x')] }}{% endfor %}",
    "caller": "{% macro m() %}{{ cycler[caller()] }}{% endmacro %}{% call m() %}__init__{% endcall %}",
    "varargs": "{% macro m() %}{{ cycler[varargs[0]] }}{% endmacro %}{{ m('__in' ~ 'it__') }}",
    "format_string_at_run_time": "{{ ('{0.' ~ '_'*2 ~ 'class' ~ '_'*2 ~ '}').format(x) }}",
    "data_characters": "{{ cycler[bos_token[8] ~ bos_token[8] ~ 'init' ~ bos_token[8] ~ bos_token[8]] }}",
    "data_default_empty": "{{ cycler['__init' ~ (messages[0].zz|default('')) ~ '__'] }}",
    "strftime_literal": "{{ cycler[strftime_now('%s' ~ 'x')] }}",
    "truncate_end": "{{ cycler[bos_token|truncate(0, end=" + B + ")] }}",
}


@pytest.mark.parametrize("name", sorted(BINDERS))
def test_every_binding_form_and_computed_key_is_judged(name: str) -> None:
    kinds = {issue.kind for issue in analyze_template(BINDERS[name])}
    assert kinds & FOUND, kinds


def test_keyword_keys_are_judged_like_string_constants() -> None:
    assert DUNDER in {i.kind for i in analyze_template("{% set d = dict(__globals__=1) %}")}


LEGIT = {
    "loop_over_data": "{% for m in messages %}{{ m['content'] }}{% for k in m %}{{ m[k] }}{% endfor %}{% endfor %}",
    "counter_index": "{% set ns = namespace(i=0) %}{% for m in messages %}{{ messages[ns.i] }}"
                     "{% set ns.i = ns.i + 1 %}{% endfor %}",
    "loop_index": "{% for m in messages %}{{ messages[loop.index0 - 1]['role'] }}{% endfor %}",
    "constant_map": "{% set names = {'user': 'User', 'assistant': 'Bot'} %}{% for m in messages %}"
                    "{{ names[m.role] }}{% endfor %}",
    "recursive_macro": "{% macro t(spec) %}{% set m = {'string': 'str'} %}{{ m[spec.type] }}"
                       "{% if spec.items %}{{ t(spec.items) }}{% endif %}{% for x in spec.anyOf %}{{ t({'type': x}) }}"
                       "{% endfor %}{% endmacro %}{% for tool in tools %}{{ t(tool.parameters) }}{% endfor %}",
    "namespace_list": "{% set ns = namespace(seen=[]) %}{% for tool in tools %}{% set n = tool.name.split('.')[0] %}"
                      "{% set ns.seen = ns.seen + [n] %}{% endfor %}{% for n in ns.seen %}{{ d[n] }}{% endfor %}",
    "selectattr": "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join('\\n') }}",
    "constant_keys": "{% set a = 'content' %}{% set a = 'role' %}{{ messages[0][a] }}",
}


@pytest.mark.parametrize("name", sorted(LEGIT))
def test_keys_from_data_numbers_and_constants_stay_clean(name: str) -> None:
    assert analyze_template(LEGIT[name]) == []


def test_hostile_depth_and_size_fail_closed_without_crashing() -> None:
    chain = "".join(f"{{% set a{i} = a{i - 1} ~ 'x' %}}" for i in range(1, 3000))
    issues = analyze_template("{% set a0 = 'x' %}" + chain + "{{ cycler[a2999] }}")
    assert not issues or {i.kind for i in issues} <= FOUND
    loop = "{% set ns = namespace(a='_') %}{% for i in range(9) %}{% set ns.a = ns.a ~ '_' %}{% endfor %}{{ cycler[ns.a] }}"
    assert COMPUTED_ATTR in {i.kind for i in analyze_template(loop)}


# -- 2. sniffing by name ------------------------------------------------------------------------------------

PAYLOAD = "{{ cycler.__init__.__globals__.os.system('touch canary') }}"


def _read(data: bytes, display: str, limits: Limits | None = None) -> object:
    ctx = ReadContext.for_top_level(limits or Limits(), dispatch=read_source)
    return read_source(Source.from_bytes(data, display), ctx)


@pytest.mark.parametrize(
    ("display", "data", "fmt"),
    [
        ("chat_template.jinja", b"\x01" * 2000 + PAYLOAD.encode(), Format.JINJA_TEMPLATE),
        ("m/additional_chat_templates/tool.jinja", b"\x01" * 2000 + PAYLOAD.encode(), Format.JINJA_TEMPLATE),
        ("a.zip!additional_chat_templates/tool.jinja", b"\x01" * 2000 + PAYLOAD.encode(), Format.JINJA_TEMPLATE),
        ("tokenizer_config.json", json.dumps({"chat_template": "\u200b" * 2000 + PAYLOAD}).encode(),
         Format.HF_TOKENIZER_CONFIG),
        ("chat_template.json", json.dumps({"chat_template": "\u200b" * 2000 + PAYLOAD}).encode(),
         Format.HF_TOKENIZER_CONFIG),
        ("processor_config.json", "\u200b".encode() * 3000, Format.HF_TOKENIZER_CONFIG),
        ("x.zip!config.json", b"\x01" * 3000, Format.JSON),
        ("chat_template.jinja", b"PK\x03\x04" + PAYLOAD.encode(), Format.JINJA_TEMPLATE),
    ],
)
def test_files_loaders_read_by_name_are_routed_by_name(display: str, data: bytes, fmt: Format) -> None:
    assert sniff(Source.from_bytes(data, display)) == fmt


@pytest.mark.parametrize("display", ["chat_template.jinja", "tokenizer_config.json", "chat_template.json"])
def test_non_printable_templates_are_analysed(display: str) -> None:
    if display.endswith(".json"):
        data = json.dumps({"pad": "\u200b" * 3000, "chat_template": "\u200b" * 2000 + PAYLOAD}).encode()
    else:
        data = b"\x01" * 2000 + PAYLOAD.encode()
    entry = _read(data, display)
    # Round 22: the whole JSON text is analysed by content too ("picked_up"); the template value is the one here.
    assert [c.text.endswith(PAYLOAD) for c in entry.code if "picked_up" not in c.details] == [True]


def test_a_zip_member_template_with_the_non_printable_trick_is_analysed() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model/additional_chat_templates/tool.jinja", b"\x01" * 2000 + PAYLOAD.encode())
    entry = _read(buffer.getvalue(), "bundle.zip")
    assert any(c.text.endswith(PAYLOAD) for e in entry.walk() for c in e.code)


@pytest.mark.parametrize(("display", "data"), [("chat_template.jinja", b"\xff\xfe{{ x }}"),
                                                 ("tokenizer_config.json", b"\x00\x01 not json")])
def test_a_loader_named_file_that_does_not_decode_or_parse_is_a_finding(display: str, data: bytes) -> None:
    entry = _read(data, display)
    # Since templates round 27 a template that is not UTF-8 is decoded the ways hosts read it (cp1252, utf-8 with
    # errors="ignore", cp932, gbk, ...) and analysed; it is no longer a read error, but it is still the medium
    # finding. A JSON config that parses under no decoding stays an error.
    assert entry.error or entry.metadata.get("encoding")
    assert "template.bad_chat_template" in [a.code for a in entry.anomalies]  # WW-TPL-009, medium


# -- 3. one "template longer than the bound" check -----------------------------------------------------------


def _gguf(template: bytes) -> bytes:
    def s(raw: bytes) -> bytes:
        return struct.pack("<Q", len(raw)) + raw

    kvs = [(b"general.architecture", 8, s(b"llama")), (b"tokenizer.chat_template", 8, s(template))]
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    for key, vtype, value in kvs:
        out += s(key) + struct.pack("<I", vtype) + value
    return out + b"\0" * ((-len(out)) % 32)


def _too_large(entry: object) -> list[object]:
    return [a for e in entry.walk() for a in e.anomalies if a.code == "limits.text_too_large"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("display", "data"),
    [
        ("model.gguf", _gguf(b"x" * 5000 + PAYLOAD.encode())),
        ("chat_template.jinja", b"x" * 5000 + PAYLOAD.encode()),
        ("tokenizer_config.json", json.dumps({"chat_template": "x" * 5000 + PAYLOAD}).encode()),
    ],
)
def test_every_template_reader_reports_a_template_past_the_bound(display: str, data: bytes) -> None:
    assert _too_large(_read(data, display, Limits(max_text_bytes=4096)))


def test_a_template_within_the_bound_is_not_reported() -> None:
    assert not _too_large(_read(_gguf(PAYLOAD.encode()), "model.gguf", Limits(max_text_bytes=4096)))


def test_a_template_past_the_bound_in_an_archive_member_is_reported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("m/chat_template.jinja", b"x" * 5000 + PAYLOAD.encode())
    assert _too_large(_read(buffer.getvalue(), "bundle.zip", Limits(max_text_bytes=4096)))
