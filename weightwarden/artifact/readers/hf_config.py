"""Reader for Hugging Face JSON configs, ``tokenizer_config.json`` chat templates and ``chat_template.jinja``.

Handles :attr:`Format.HF_TOKENIZER_CONFIG`, :attr:`Format.JSON` and :attr:`Format.JINJA_TEMPLATE`. What a
loader may execute from these files:

- ``chat_template`` (a string, or a list of ``{"name", "template"}``) is rendered by Jinja when a chat is
  formatted: each template becomes a ``CHAT_TEMPLATE`` code object (``text`` = source, ``details["name"]``),
  located ``"chat_template"`` or ``"chat_template[<name>]"``. A ``chat_template.jinja`` file is one template
  (location ``"template"``). Templates are never rendered here; the scan rules parse them.
- ``auto_map`` (and ``custom_pipelines``) make ``transformers`` import Python files from the model repository
  (or another repository, ``"org/repo--module.Class"``) when ``trust_remote_code=True``: an ``hf.remote_code``
  anomaly lists the referenced modules.

- A Keras model config (red team round 20): any JSON value holding an object with ``class_name`` and ``config``
  (what Keras deserialises, at any depth) is analysed by
  :func:`weightwarden.artifact.readers.keras_config.analyze_config`, whatever the file's name or siblings: a loose
  ``config.json`` of an unzipped .keras folder, a ``config.json`` member of any zip. The generic config.json of a
  transformers model holds no such object.

- Jinja in JSON (red team round 22): a host given the file's path renders its whole text, and a host reading a
  template from a JSON value renders that string. The whole text and every string value in which Jinja's lexer
  finds a ``{{``/``{%`` tag become ``CHAT_TEMPLATE`` code objects (locations ``"template"`` and ``"json:<path>"``,
  ``details["picked_up"]`` the weak by-content reason: one Jinja cannot parse is dropped by the template rule),
  at most MAX_JSON_TEMPLATES string values per file (past it: ``limits.too_many_objects``).

Anything else in a JSON file is data: a few top-level scalar values are kept as metadata, and prose is not treated
as code (a README-like string with URLs is not a risk).

JSON is read whole up to ``limits.max_text_bytes``. A larger file that mentions the keys above (escapes decoded:
``"auto\\u005fmap"``, round 28), or that a loader reads by name, is an error. Any other larger file is judged up to
``limits.max_parse_bytes`` (64 MiB; huge ``tokenizer.json`` files are normal: Gemma's is ~33 MB). Red team round 28:
one that may spell a Keras object (:func:`keras_config.may_hold_keras_object`: ``class_name`` at any JSON string
level, escapes decoded) is always parsed and analysed whole, and past ``max_parse_bytes`` is
``limits.text_too_large`` ("Keras config too large to analyse"); the shortcuts below skip the parse only for a file
that cannot. Of the others, one with no ``{{``/``{%`` (raw or escaped) is unparsed data; otherwise the strings that
may be templates are found on the raw text, and only when one of them (or the whole text) is a template Jinja parses
is the file parsed and analysed as above. Past ``max_parse_bytes`` a file with a tag is ``limits.text_too_large``. The same
bound lets a text past ``max_text_bytes`` whose tags are not leading (a merges.txt holding ``{{`` tokens) be asked
of Jinja's parser: one it cannot parse renders nothing and is plain text (round 23 follow-up).

Anomaly codes:
    hf.remote_code: auto_map / custom_pipelines entries that load Python code from the model repository.
    template.bad_chat_template: a chat_template entry that is not a string / not a {name, template} object; a
        template file that is not UTF-8; a config read by name (tokenizer_config.json, ...) that does not parse.
    limits.text_too_large: a template (a JSON value or whole text Jinja parses included), or a JSON file naming
        templates / remote code, exceeds max_text_bytes; a JSON file or text holding a ``{{``/``{%`` exceeds
        max_parse_bytes (round 23; the message names the bound and ``--max-parse-bytes``).
    limits.too_many_objects: more than MAX_JSON_TEMPLATES string values of one file hold Jinja tags.
    format.malformed_text: any other file sniffed as JSON that does not parse (and is no JSON lines), or that is
        too large to parse and does not end the way it starts (round 21: never 0 findings for malformed input).

Template files are ``*.jinja`` / ``*.j2`` / ``*.jinja2`` of any name, and text files with Jinja tags by their
content (``sniff.template_by_content``; the reason is kept in the code object's ``details["picked_up"]``).
"""

from __future__ import annotations

import json
import re
from itertools import chain
from typing import Any

from weightwarden.artifact.code_blocks import code_blocks
from weightwarden.artifact.context import ReadContext
from weightwarden.artifact.jinja_parsing import parses
from weightwarden.artifact.json_depth import MAX_JSON_DEPTH, ParseLimit
from weightwarden.artifact.model import Anomaly, CodeKind, CodeObject, FileEntry, Format
from weightwarden.artifact.page_view import is_page, shows_config
from weightwarden.artifact.readers._template_bound import check_template_length, template_text_size
from weightwarden.artifact.readers.keras_config import may_hold_keras_object, may_spell, parse_json_bounded
from weightwarden.artifact.sniff import (
    BY_CONTENT_CONFIG,
    BY_CONTENT_JSON,
    BY_CONTENT_MARKUP,
    HEAD_BYTES,
    JINJA_LEADS,
    LOADER_JSON_NAMES,
    WEAK_REASONS,
    decode_views,
    has_jinja_markup,
    is_template_path,
    json_by_name,
    template_by_content,
    utf8_with_tag_opener,
    wide_codec,
)
from weightwarden.artifact.source import Source

# Top-level keys whose presence makes a JSON file carry code for a loader.
CODE_KEYS = (b'"chat_template"', b'"auto_map"', b'"custom_pipelines"')
# Files transformers reads by name and that may hold the keys above (possibly spelled with \u escapes): one list,
# sniff.LOADER_JSON_NAMES (red team round 28: video_preprocessor_config.json was missing; a test compares it with the
# *_NAME constants of transformers.utils).
LOADER_CONFIG_NAMES = LOADER_JSON_NAMES
MAX_METADATA_ITEMS = 64
MAX_METADATA_STRING = 200
MAX_REMOTE_REFS = 200


def read(source: Source, ctx: ReadContext) -> FileEntry:
    """Read a JSON config or a Jinja template file; see the module docstring."""
    legacy = _non_utf8_template(source, ctx.limits.max_text_bytes)
    if legacy is None:
        return _read(source, ctx)
    text, codec = legacy[0]
    # Red team round 26: a text that is not UTF-8 but holds a Jinja tag once decoded the way a host with a legacy
    # locale (cp1252: Windows' open(p)) or a BOM-sniffing reader decodes it is read as that text, transcoded to
    # UTF-8, through the same path as UTF-8 text (JSON, chat_template values, whole-text templates); the encoding is
    # a finding of its own (transformers would refuse the file; those hosts render it).
    entry = _read(Source.from_bytes(text.encode("utf-8"), source.display, source.fs_dir), ctx)
    entry.size = source.size
    entry.metadata["encoding"] = codec
    for code in entry.code:
        code.details["encoding"] = codec
    # Round 27: every other view with a tag (gbk, cp932, errors="ignore", BOM-less UTF-16...) is read the same way
    # and its code objects analysed too: a host with that codec renders that view.
    seen = {code.text for code in entry.code}
    for other, other_codec in legacy[1:]:
        extra = _read(Source.from_bytes(other.encode("utf-8"), f"{source.display} (as {other_codec})",
                                        source.fs_dir), ctx)
        for code in extra.code:
            if code.text in seen:
                continue
            seen.add(code.text)
            code.details["encoding"] = other_codec
            entry.code.append(code)
        entry.anomalies.extend(extra.anomalies)
    # Round 27, fail closed: "a quoted {{ in prose that Jinja cannot parse renders nothing" held for one view only
    # (a stray tag that only the cp1252 view shows made the text silent while gbk rendered it). A text that is not
    # UTF-8 and shows a tag in any view is a finding, whether or not anything parses.
    codecs_seen = ", ".join(c for _t, c in legacy)
    entry.anomalies.append(Anomaly(
        "template.bad_chat_template", f"{source.display} (read as {codec})",
        f"Jinja template in a file that is not UTF-8: hosts reading it with the locale codec ({codec} on Windows, "
        "gbk/cp932/big5/cp949 on CJK Windows, open(p) without an encoding) or with errors='ignore'/'replace' render "
        f"it; views with Jinja tags analysed: {codecs_seen}", codecs_seen[:200]))
    return entry


def _non_utf8_template(source: Source, limit: int) -> list[tuple[str, str]] | None:
    """The decoded texts and codecs (:func:`decode_views`) holding a Jinja tag of a file of at most ``limit`` bytes
    (the bound of UTF-8 text read whole) that is not UTF-8 (or is UTF-8 holding NULs: BOM-less UTF-16 whose
    characters are all ASCII bytes); else None."""
    if source.size > limit:
        return None
    with source.open() as f:
        data = f.read(limit + 1)
    if wide_codec(data) is None:
        try:
            data.decode("utf-8")
            if b"\0" not in data:
                return None
        except UnicodeDecodeError:
            pass
    views = [(text, codec) for text, codec in decode_views(data) if has_jinja_markup(text)]
    return views or None


def _read(source: Source, ctx: ReadContext) -> FileEntry:
    name = source.display.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    limit = ctx.limits.max_text_bytes
    parse_limit = max(ctx.limits.max_parse_bytes, limit)
    if is_template_path(source.display):
        return _read_template_file(source, limit)
    by_content = name not in LOADER_CONFIG_NAMES
    if by_content and source.size > limit:
        with source.open() as f:
            head = f.read(HEAD_BYTES).decode("utf-8", errors="replace")
        # A JSON object too large to parse is judged as JSON below (code keys, how it ends): the markup of a
        # large vocabulary ("{%" tokens) does not make it an oversized template.
        reason = (None if head.lstrip("\ufeff \t\r\n").startswith("{")
                  else template_by_content(head, is_page(source.display)))
        if reason is None and not head.lstrip("\ufeff \t\r\n").startswith("{") and utf8_with_tag_opener(source):
            # Red team round 23: a tag past the head (behind 17 MiB of prose) is rendered whole by a host too; the
            # template is too large to analyse (WW-GEN-001), never plain text.
            reason = BY_CONTENT_MARKUP
        if reason is not None and reason not in WEAK_REASONS:
            return _read_template_file(source, limit, reason)  # leading markup: a template, too large (GEN-001)
        if reason is not None and source.size > parse_limit:
            return _past_parse_bound(source, parse_limit, reason)
        # A weak reason within the parse bound (a merges.txt or vocab.txt holding "{{" tokens, a JSON array): read
        # below, as JSON first, then Jinja's parser decides whether the text is a template at all.
    entry = FileEntry(source.display, Format.JSON, source.size)
    if source.size > limit:
        if name in LOADER_CONFIG_NAMES or _mentions_code_keys(source):
            why = "is a config a loader reads by name" if name in LOADER_CONFIG_NAMES else "names code keys"
            entry.error = f"JSON file of {source.size} bytes exceeds the {limit}-byte limit and {why}"
            entry.anomalies.append(
                Anomaly("limits.text_too_large", source.display, entry.error, ", ".join(k.decode() for k in CODE_KEYS))
            )
            return entry
        if source.size > parse_limit:
            if _streams_keras_object(source):
                # Red team round 28: past the parse bound the file is never parsed, so a Keras config in it (what
                # model_from_json builds from any file) is never analysed: too large to analyse, never "data".
                entry.error = (f"JSON file of {source.size} bytes exceeds the {parse_limit}-byte parse bound and may "
                               "hold a Keras config (class_name)")
                entry.anomalies.append(Anomaly("limits.text_too_large", source.display,
                                               entry.error + ": Keras config too large to analyse; a loader "
                                               f"json.loads it whole{RAISE_HINT}", "class_name"))
            if utf8_with_tag_opener(source):
                # Red team round 23: a host given the path renders the whole text, and a host reading a value
                # renders that string: a {{ / {% anywhere in a JSON file too large to parse is a template not
                # analysed.
                entry.error = (f"JSON file of {source.size} bytes exceeds the {parse_limit}-byte parse bound and "
                               "holds Jinja tags")
                entry.anomalies.append(Anomaly("limits.text_too_large", source.display,
                                               entry.error + ": neither its text nor its string values could be "
                                               f"analysed as templates, and a host renders them whole{RAISE_HINT}",
                                               "{{ / {%"))
            elif not entry.anomalies:
                entry.metadata["json_parsed"] = False
                entry.metadata["json_not_parsed_reason"] = (f"larger than {parse_limit} bytes; names no code keys, "
                                                            "tags or Keras objects")
                _check_json_ends(source, entry)
            return entry
    bound = limit if source.size <= limit else parse_limit
    with source.open() as f:
        data = f.read(bound + 1)
    # Red team round 28: the two shortcuts below skip the parse for the sake of the template analysis, and the parse
    # feeds every other analysis too (a Keras config, TorchModuleWrapper and Lambda, in a 17 MiB file with a pad key
    # and no tag was never judged). A file that may spell a Keras object is parsed and analysed whole.
    skippable = len(data) > limit and not may_hold_keras_object(data)
    if skippable and not _may_hold_markup(data):
        # Past the text bound and no tag, not even an escaped one: nothing in it is a template, and parsing it
        # (~12x its size in memory) would buy nothing.
        entry.metadata["json_parsed"] = False
        entry.metadata["json_not_parsed_reason"] = f"larger than {limit} bytes; names no code keys or tags"
        _check_json_ends(source, entry)
        return entry
    if skippable and _starts_like_json_object(data) and _inert_markup(data):
        # Round 23 follow-up: the usual large tokenizer.json (Gemma's ~33 MB), whose "{{" / "{%" vocabulary tokens
        # Jinja cannot parse, is not parsed whole: none of its strings is a template.
        entry.metadata["json_parsed"] = False
        entry.metadata["json_not_parsed_reason"] = (f"larger than {limit} bytes; its Jinja tags are in strings "
                                                    "Jinja cannot parse (not templates)")
        _check_json_ends(source, entry)
        return entry
    value, problem = parse_json_bounded(data, bound)
    if isinstance(problem, ParseLimit):
        # Red team round 29: nesting past the scanner's parse depth (or its parser out of stack or memory) is the
        # scanner's limit, not a defect of the file: a loader's json.loads, a few frames shallower, parsed a Keras
        # config padded ~980 deep that was taken here for malformed JSON (medium) or, opening with '[', for text
        # (nothing). Too deep to analyse: WW-GEN-001 (high), whatever the name or the first byte.
        entry.error = f"JSON not analysed: {problem}"
        entry.metadata["json_parsed"] = False
        entry.metadata["json_not_parsed_reason"] = str(problem)
        entry.anomalies.append(Anomaly("limits.text_too_large", source.display,
                                       f"{source.display}: {problem}; nothing in it (a Keras config, a chat "
                                       f"template, code references) was analysed, and a loader may parse it{RAISE_HINT}",
                                       f"nested deeper than {MAX_JSON_DEPTH}"))
        _jinja_in_json(data, [], entry, limit)
        return entry
    if problem is not None:
        text = data.decode("utf-8", errors="replace") if by_content else ""
        reason = template_by_content(text, is_page(source.display)) if by_content else None
        if reason is None and by_content and shows_config(text, is_page(source.display)):
            reason = BY_CONTENT_CONFIG  # tpl34: a page showing a JSON config; read for its configs only
        if reason is not None and not _starts_like_json_object(data):
            if len(data) > limit and reason in WEAK_REASONS and not may_run_as_template(text):
                # Round 23 follow-up: a large text whose tags Jinja cannot parse (merges.txt / vocab.txt holding
                # "{{" tokens) renders nothing: plain text, as the template rule judges such a text of any size.
                text_entry = FileEntry(source.display, Format.TEXT, source.size)
                text_entry.metadata["jinja_tags_do_not_parse"] = reason
                return text_entry
            return _read_template_file(source, limit, reason, data)
        del text
        if any(k in data for k in CODE_KEYS) or name in LOADER_CONFIG_NAMES:
            # Configs a loader reads (or any file naming code keys) must parse, or we cannot say what they run.
            entry.error = f"cannot parse JSON: {problem}"
            # A file a loader reads by name that we cannot parse is a finding (medium), never "not analysed".
            entry.anomalies.append(Anomaly("template.bad_chat_template", source.display,
                                           "config read by name does not parse: its chat template and code "
                                           "references could not be analysed", problem[:100]))
        elif (lines := _json_lines(data)) is not None:
            entry.metadata["json_parsed"] = False
            entry.metadata["json_lines"] = True
            _jinja_in_json(data, lines, entry, limit)
            return entry
        elif not json_by_name(source.display) and data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
            # Round 27: text that opens like a JSON array ("[1] see ...") but does not parse is text: no loader
            # builds anything from it. Under a name a loader json.loads (*.json, Orbax metadata) it is malformed.
            return FileEntry(source.display, Format.TEXT, source.size)
        else:
            # Round 21: a file sniffed as JSON that does not parse was passed with 0 findings (a "{{"-leading
            # template among them). Whatever reads it gets something else than we analysed: a finding.
            entry.metadata["json_parsed"] = False
            entry.metadata["json_not_parsed_reason"] = problem
            entry.anomalies.append(Anomaly("format.malformed_text", source.display,
                                           f"sniffed as JSON but does not parse: {problem}", problem[:200]))
        # Round 22: rendered whole by a host given its path, a malformed JSON file is still a template.
        _jinja_in_json(data, [], entry, limit)
        return entry
    entry.metadata["json_parsed"] = True
    _keras_objects(value, data, name, entry, source, ctx)
    if not isinstance(value, dict):
        entry.metadata["json_type"] = type(value).__name__
        _jinja_in_json(data, [value], entry, limit)
        return entry
    if "chat_template" in value:
        entry.format = Format.HF_TOKENIZER_CONFIG
        codes, anomalies = config_chat_templates(value, source.display)
        entry.code.extend(codes)
        entry.anomalies.extend(anomalies)
        for code in entry.code:  # within the file's bound by construction; checked the one shared way anyway
            if isinstance(code.text, str):
                size = template_text_size(code.text, limit)
                check_template_length(entry, f"{source.display}:{code.location}", size, limit)
    for key in ("auto_map", "custom_pipelines"):
        if key in value:
            _remote_code(key, value[key], source.display, entry)
    entry.metadata.update(_small_metadata(value))
    _jinja_in_json(data, [value], entry, limit)
    return entry


def _keras_objects(value: Any, raw: bytes, name: str, entry: FileEntry, source: Source, ctx: ReadContext) -> None:
    """Red team round 20: Keras builds a model from any ``config.json`` it is given, in a .keras zip whatever the
    other members (metadata.json, .h5, .npz, none, a torch data.pkl), in an unzipped folder, and ``model_from_json``
    from any file. So every JSON file read here whose structure holds a Keras serialized object (class_name +
    config, see :func:`looks_like_keras_config`) gets the Keras config analysis, wherever it lies; the zip reader's
    .keras branch is one case of this, no longer the only one."""
    from weightwarden.artifact.readers.keras_config import (
        EmbeddedBlob,
        analyze_config,
        looks_like_keras_config,
        read_embedded_blobs,
    )

    if not may_hold_keras_object(raw) or not looks_like_keras_config(value):
        return
    entry.metadata["keras_config"] = True
    if _config_entry_is_keras(value):
        entry.metadata["keras_config_entry"] = True
    if isinstance(value, dict):
        entry.metadata["keras_class"] = str(value.get("class_name", ""))[:100]
        roots: list[tuple[Any, str]] = [(value, name)]
    else:  # a top-level list: Keras deserialises every item; the walk starts at a wrapper that names nothing
        roots = [({"items": value}, name)]
    blobs: list[EmbeddedBlob] = []
    for root, prefix in roots:
        code, anomalies = analyze_config(root, prefix, blobs)
        entry.code.extend(code)
        entry.anomalies.extend(anomalies)
    # Round 24: a TorchModuleWrapper's base64 torch.save is read as a member of this file (its pickle judged).
    read_embedded_blobs(blobs, entry, ctx, source.display, source.fs_dir)


def _config_entry_is_keras(value: Any) -> bool:
    """The ``config`` entry of an Orbax ``model_config/_strings.json`` is exactly what Keras 3.15's
    ``_load_model_from_orbax_checkpoint`` hands to ``_model_from_config`` (``config_loaded["model_config"]["config"]``,
    which json.loads it): True when that string parses to a value holding a Keras object, so the walk above analysed
    it. The engine's WW-KERAS-012 judges this value, never "some Keras config somewhere in the folder" (round 26: a
    decoy key or file beside an unreadable one silenced it)."""
    from weightwarden.artifact.readers.keras_config import (
        MAX_STRING_CONFIG_CHARS,
        looks_like_keras_config,
        parse_json_bounded,
    )

    text = value.get("config") if isinstance(value, dict) else None
    if not isinstance(text, str):
        return False
    parsed, problem = parse_json_bounded(text, MAX_STRING_CONFIG_CHARS)
    return problem is None and isinstance(parsed, dict | list) and looks_like_keras_config(parsed)


def _read_template_file(source: Source, limit: int, by_content: str | None = None,
                        data: bytes | None = None) -> FileEntry:
    """A template file: by its name (``*.jinja``, ``*.j2``, ``*.jinja2``) or, with ``by_content`` (the reason,
    red team round 21), a text file that is mostly Jinja whatever its name."""
    entry = FileEntry(source.display, Format.JINJA_TEMPLATE, source.size)
    if by_content is not None:
        entry.metadata["template_picked_up"] = by_content
    if check_template_length(entry, source.display, source.size, limit):
        entry.error = f"template of {source.size} bytes exceeds the {limit}-byte limit"
        return entry
    if data is None:
        with source.open() as f:
            data = f.read(limit + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        entry.error = f"template is not UTF-8: {exc.reason} at byte {exc.start}"
        entry.anomalies.append(Anomaly("template.bad_chat_template", source.display,
                                       "chat template file read by name is not UTF-8: it could not be analysed",
                                       repr(data[max(exc.start - 10, 0) : exc.start + 10])))
        return entry
    file_name = source.display.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    # additional_chat_templates/<name>.jinja is the template called <name>; chat_template.jinja the default.
    template_name = "default" if file_name == "chat_template.jinja" else file_name.rsplit(".", 1)[0] or file_name
    details: dict[str, Any] = {"name": template_name}
    if by_content is not None:
        details["picked_up"] = by_content
    entry.code.append(CodeObject(CodeKind.CHAT_TEMPLATE, "template", text=text, details=details))
    return entry


def _starts_like_json_object(data: bytes) -> bool:
    """Starts with "{" but not with Jinja markup: a malformed JSON object is malformed JSON (GEN-004) first."""
    # Round 27: past any amount of leading JSON whitespace (json.loads skips it all), not within the head only.
    stripped = data.lstrip(b" \t\r\n")[:HEAD_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    return stripped.startswith("{") and not stripped.startswith(JINJA_LEADS)


# Distinct JSON string values analysed as templates per file; past it the file is reported as not fully analysed
# (a file of a million "{{x}}" strings must not cost a million analyses).
MAX_JSON_TEMPLATES = 1024
# The location prefix of a JSON string value analysed as a template (its JSON path follows).
JSON_STRING_LOCATION = "json:"


def _jinja_in_json(data: bytes, values: list[Any], entry: FileEntry, limit: int) -> None:
    """Red team round 22: JSON text is Jinja text too. A host given the file's path renders the whole file
    (``{"template": "<s>{{ ... }}"}`` runs its expression), and a host reading a template from a JSON value
    renders that string. So the whole text, and every string value (of each JSON document in ``values``), that
    Jinja's lexer finds a tag in becomes a template code object under a weak by-content reason: one that Jinja
    cannot parse is dropped by the template rule; one that parses is analysed. Strings
    already analysed as chat templates (``chat_template``) are not analysed twice.

    Round 23 follow-up: what the template rule would drop (:func:`may_run_as_template` is false: Jinja's parser
    refuses it and it has no fenced block) is not handed over at all, so a vocabulary of ``"{{"``, ``" {%"`` ...
    tokens neither costs an analysis per token nor counts towards MAX_JSON_TEMPLATES. A template (the whole text
    or one value) over ``limit`` that Jinja does parse is too large to analyse: ``limits.text_too_large``."""
    known = {code.text for code in entry.code if code.kind == CodeKind.CHAT_TEMPLATE}
    try:
        text, utf8 = data.decode("utf-8"), True
    except UnicodeDecodeError:
        text, utf8 = data.decode("utf-8", errors="replace"), False
    if text not in known and has_jinja_markup(text):
        known.add(text)
        if len(data) <= limit:
            entry.code.append(CodeObject(CodeKind.CHAT_TEMPLATE, "template", text=text, details={
                "name": "file", "picked_up": BY_CONTENT_MARKUP, "json_text": True}))
        elif utf8 and may_run_as_template(text):
            # Only past max_text_bytes (JSON parsed under max_parse_bytes): a text that is not UTF-8 is never
            # rendered from its path (open(p).read() fails), and one Jinja cannot parse renders nothing.
            entry.add_anomaly("limits.text_too_large", f"{entry.path}:template",
                              f"the whole text of this JSON file ({len(data)} bytes) parses as a Jinja template, "
                              f"over the {limit}-byte limit of the template analysis: a host given its path renders "
                              "it whole", f"{len(data)} > {limit}")
    del text
    if not values:
        return
    # Round 23 follow-up: the strings (keys too) that may be templates are found from the raw text, so a
    # tokenizer.json of ~10^6 vocabulary entries and merges costs a scan of its hits, not a walk of every string;
    # the tree is walked (for JSON paths) only when one of them is a template Jinja parses.
    marked = _marked_strings(data)
    if marked is None:  # the raw text could not be delimited (not expected for text that parsed): every string
        marked = _all_marked_strings(values)
    live, overflow = _live_strings(marked, known)
    if overflow:
        entry.add_anomaly("limits.too_many_objects", f"{entry.path}:{JSON_STRING_LOCATION}$",
                          f"more than {MAX_JSON_CANDIDATES} distinct JSON strings hold Jinja tags: the rest "
                          "were not analysed as templates", str(MAX_JSON_CANDIDATES))
    if not live:
        return
    found = 0

    def add(value: str, where: tuple[Any, ...], suffix: str = "") -> bool:
        nonlocal found
        if value in known:
            return True
        known.add(value)
        path = _render_path(where) + suffix
        location = f"{JSON_STRING_LOCATION}{path}"
        if check_template_length(entry, f"{entry.path}:{location}", template_text_size(value, limit), limit):
            return True
        if found >= MAX_JSON_TEMPLATES:
            entry.anomalies.append(Anomaly(
                "limits.too_many_objects", f"{entry.path}:{location}",
                f"more than {MAX_JSON_TEMPLATES} JSON string values hold Jinja markup: the rest were not analysed "
                "as templates", path[:200]))
            return False
        found += 1
        entry.code.append(CodeObject(CodeKind.CHAT_TEMPLATE, location, text=value,
                                     details={"name": path[:200], "picked_up": BY_CONTENT_JSON}))
        return True

    # Iterative, for the JSON paths of the live strings only. Paths are (parent, key) chains rendered on a hit, and
    # a container whose items are all hashable is settled by one set.isdisjoint (in C): a tokenizer.json holds
    # ~10^6 merges. Keys are strings a host may read a template from too: " (key)" in the location.
    stack: list[tuple[Any, tuple[Any, ...]]] = [
        (v, ("$" if len(values) == 1 else f"$line{i + 1}",)) for i, v in enumerate(values)]
    stack.reverse()
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if value in live and not add(value, where):
                return
            continue
        is_dict = isinstance(value, dict)
        if is_dict and not live.isdisjoint(value):
            for k in value:
                if k in live and not add(k, (where, k), " (key)"):
                    return
        try:
            if live.isdisjoint(value.values() if is_dict else value):
                continue  # every item hashable (no container) and none live
            if not is_dict and set(map(type, value)) == {list} and live.isdisjoint(chain.from_iterable(value)):
                continue  # a list of lists of hashables (merges pairs), none live
        except TypeError:  # an item (or an item's item) is a list or a dict
            pass
        children = []
        for k, v in value.items() if is_dict else enumerate(value):
            if isinstance(v, str):
                if v in live and not add(v, (where, k)):
                    return
            elif isinstance(v, list):
                try:
                    if live.isdisjoint(v):
                        continue
                except TypeError:
                    pass
                children.append((v, (where, k)))
            elif isinstance(v, dict):
                children.append((v, (where, k)))
        stack.extend(reversed(children))


def _render_path(where: tuple[Any, ...]) -> str:
    """``("$",)`` -> ``"$"``; ``((("$",), "a"), 0)`` -> ``"$.a[0]"``."""
    keys = []
    while len(where) == 2:
        where, key = where
        keys.append(key)
    path = str(where[0])
    for key in reversed(keys):
        path = _json_path(path, key)
    return path


def _all_marked_strings(values: list[Any]) -> set[str]:
    """Every string (key or value) of ``values`` holding ``{{`` or ``{%``."""
    out: set[str] = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "{{" in value or "{%" in value:
                out.add(value)
        elif isinstance(value, dict):
            out.update(k for k in value if isinstance(k, str) and ("{{" in k or "{%" in k))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return out


# Distinct JSON strings with a tag that Jinja's parser is asked about per file (a vocabulary holds hundreds; a file
# of a million distinct "{{ }}x" strings must not cost a million parses): past it, limits.too_many_objects.
MAX_JSON_CANDIDATES = 16 * MAX_JSON_TEMPLATES
# A tag opener, or "{" / "%" written as a \u escape: in valid JSON each lies inside a string literal ("{{", "{%"
# and "\u" are not JSON outside strings).
_MARKUP_RE = re.compile(rb"\{\{|\{%|\\u00(?:7[bB]|25)")


def _marked_strings(data: bytes) -> set[str] | None:
    """The decoded JSON strings (keys and values) of the valid JSON text ``data`` whose raw text holds a tag
    opener or an escaped brace or percent sign: each hit's string literal runs from the nearest unescaped quote
    before it to the nearest one after it. Linear: the search resumes after each literal. None when a literal
    cannot be delimited or decoded (the caller then tests every string)."""
    literals: set[bytes] = set()  # a vocabulary token recurs in many merges: decoded once
    pos = 0
    while (m := _MARKUP_RE.search(data, pos)) is not None:
        start = _unescaped_quote(data, m.start(), backward=True)
        end = _unescaped_quote(data, m.start(), backward=False)
        if start < 0 or end < 0:
            return None
        literals.add(data[start : end + 1])
        pos = end + 1
    found: set[str] = set()
    for literal in literals:
        try:
            value = json.loads(literal)
        except (ValueError, RecursionError):
            return None
        if not isinstance(value, str):
            return None
        found.add(value)
    return found


def _live_strings(marked: set[str], known: set[str]) -> tuple[set[str], bool]:
    """The strings of ``marked`` (not in ``known``) that the template rule would judge (Jinja's lexer finds a tag,
    :func:`may_run_as_template`), and whether more than MAX_JSON_CANDIDATES had to be asked (the rest were not)."""
    live: set[str] = set()
    checked = 0
    for candidate in sorted(marked):
        if candidate in known or not has_jinja_markup(candidate):
            continue
        checked += 1
        if checked > MAX_JSON_CANDIDATES:
            return live, True
        if may_run_as_template(candidate):
            live.add(candidate)
    return live, False


def _inert_markup(data: bytes) -> bool:
    """For a JSON object past max_text_bytes: True when no string of it (key or value) and not its whole text is a
    template the rule would judge, so the parse (~12x the file in memory) can be skipped. The literals are
    delimited on the raw text (:func:`_marked_strings`), exact for valid JSON; for invalid JSON no host reads its
    values, and its whole text is still asked here. False whenever in doubt (the file is then parsed)."""
    marked = _marked_strings(data)
    if marked is None:
        return False
    live, overflow = _live_strings(marked, set())
    if live or overflow:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return True  # never rendered from its path (open(p).read() fails); its values were judged above
    return not (has_jinja_markup(text) and may_run_as_template(text))


def _unescaped_quote(data: bytes, at: int, backward: bool) -> int:
    """The offset of the nearest ``"`` before (or from) ``at`` not escaped by an odd run of backslashes; -1 if none."""
    i = data.rfind(b'"', 0, at) if backward else data.find(b'"', at)
    while i >= 0:
        j = i
        while j > 0 and data[j - 1] == 0x5C:
            j -= 1
        if (i - j) % 2 == 0:
            return i
        i = data.rfind(b'"', 0, i) if backward else data.find(b'"', i + 1)
    return -1


def may_run_as_template(text: str) -> bool:
    """Whether the template rule would judge ``text`` found by a weak reason (markup somewhere in it): Jinja's
    parser (the analysis environment, which takes a superset of what a plain Environment takes) parses it, or it
    has a fence mark, or a code block of another kind (indented, nested) holding a tag that parses (analysed block
    by block). Jinja parses the whole source before rendering any of it,
    so a text doing neither renders nothing and gets no finding. Jinja's parser is lazy and stops at its first
    error: a vocabulary quoting "{{" fails at that token."""
    if "}}" not in text and "%}" not in text:
        return False  # a tag Jinja's lexer opens is never closed: it raises before any parse (most vocab tokens)
    if "```" in text or "~~~" in text:
        return True
    if parses(text):  # the template rule's own parser (artifact/jinja_parsing.py)
        return True
    # Round 26: a code block need not be fenced (indented, in a list item or a blockquote): the template rule's own
    # extraction decides, for a block that holds a tag and parses.
    return any(has_jinja_markup(b.body) and parses(b.body) for b in code_blocks(text))


# How to raise the parse bound, in the messages of files past it.
RAISE_HINT = " (raise the bound with `weightwarden scan --max-parse-bytes N` for input you trust)"


def _past_parse_bound(source: Source, parse_limit: int, reason: str) -> FileEntry:
    """A text over max_parse_bytes in which Jinja's lexer finds (or the stream finds a raw) tag: Jinja's parser is
    not asked whether it is a template, so it is not passed as clean (red team round 23): WW-GEN-001."""
    entry = FileEntry(source.display, Format.JINJA_TEMPLATE, source.size)
    entry.metadata["template_picked_up"] = reason
    entry.error = f"text of {source.size} bytes with Jinja tags exceeds the {parse_limit}-byte parse bound"
    entry.add_anomaly("limits.text_too_large", source.display,
                      entry.error + ": whether it is a template that runs something could not be decided, and a "
                      f"host given its path renders it whole{RAISE_HINT}", f"{source.size} > {parse_limit}")
    return entry


def _json_path(path: str, key: object) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if isinstance(key, str) and key.isidentifier() else f"{path}[{json.dumps(key)}]"


# A JSON string can hold "{{" or "{%" only if its raw text has one, or "{" / "%" written as \u escapes.
_ESCAPED_MARKUP = re.compile(rb"\\u00(?:7[bB]|25)")


def _may_hold_markup(data: bytes) -> bool:
    return b"{{" in data or b"{%" in data or _ESCAPED_MARKUP.search(data) is not None


# JSON lines (one value per line) is a data format, not a config: a file of them is read as such.
MAX_JSON_LINES = 1_000_000


def _json_lines(data: bytes) -> list[Any] | None:
    """The values of ``data`` when every non-blank line is a JSON value (and there are at least two), else None."""
    try:
        lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        return None
    if not 2 <= len(lines) <= MAX_JSON_LINES:
        return None
    values = []
    for line in lines:
        try:
            values.append(json.loads(line))
        except (ValueError, RecursionError):
            return None
    return values


def _check_json_ends(source: Source, entry: FileEntry) -> None:
    """A JSON file too large to parse must at least end the way it starts (``{`` ... ``}``, ``[`` ... ``]``):
    a truncated download or a cut file is malformed, not clean data (round 21)."""
    with source.open() as f:
        first = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        f.seek(max(source.size - 4096, 0))
        last = f.read(4096).rstrip(b" \t\r\n")[-1:]
    if (first, last) in ((b"{", b"}"), (b"[", b"]")):
        return
    problem = f"starts with {first!r} and ends with {last!r}: truncated or not JSON"
    entry.anomalies.append(Anomaly("format.malformed_text", source.display,
                                   f"sniffed as JSON (too large to parse whole) but {problem}", problem))


def config_chat_templates(config: dict[str, Any], where: str) -> tuple[list[CodeObject], list[Anomaly]]:
    """The chat templates of a parsed config holding ``chat_template`` (a string, a list of ``{"name", "template"}``
    or a ``{name: template}`` object), each with the special tokens transformers passes to it as render arguments,
    and the anomalies of entries that are not templates. The one reading of a config's templates: this reader's,
    and the template rule's for a JSON config a page shows (helper tpl34: what a reader copies into
    tokenizer_config.json is judged exactly as the file would be)."""
    scratch = FileEntry(where, Format.HF_TOKENIZER_CONFIG, 0)
    _chat_templates(config.get("chat_template"), where, scratch)
    tokens = _special_tokens(config)
    for code in scratch.code:  # the render arguments transformers fills from this file: judged with the template
        code.details["special_tokens"] = tokens
    return scratch.code, scratch.anomalies


def _chat_templates(value: Any, where: str, entry: FileEntry) -> None:
    if value is None:
        return
    if isinstance(value, str):
        entry.code.append(CodeObject(CodeKind.CHAT_TEMPLATE, "chat_template", text=value, details={"name": "default"}))
        return
    if isinstance(value, dict):  # some exports write {"name": template, ...}
        value = [{"name": k, "template": v} for k, v in value.items()]
    if not isinstance(value, list):
        entry.anomalies.append(
            Anomaly("template.bad_chat_template", where, "chat_template is neither a string nor a list",
                    type(value).__name__)
        )
        return
    for i, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        template = item.get("template") if isinstance(item, dict) else None
        label = name if isinstance(name, str) else str(i)
        if not isinstance(template, str):
            entry.anomalies.append(
                Anomaly("template.bad_chat_template", f"chat_template[{label}]",
                        "chat_template entry without a string template", _short(item))
            )
            continue
        entry.code.append(
            CodeObject(CodeKind.CHAT_TEMPLATE, f"chat_template[{label}]", text=template, details={"name": label})
        )


# At most this many special-token values are kept per file (tokenizer configs list a few hundred at most).
MAX_SPECIAL_TOKENS = 4096


def _special_tokens(config: dict[str, Any]) -> dict[str, str]:
    """The special tokens transformers passes to the chat template as render arguments (``bos_token``, ...,
    ``additional_special_tokens``): name -> text. A token may be a string or an AddedToken object
    (``{"content": ...}``); anything else is not a token and is left out."""
    out: dict[str, str] = {}

    def text(v: Any) -> str | None:
        if isinstance(v, dict):
            v = v.get("content")
        return v if isinstance(v, str) else None

    for key, v in config.items():
        if len(out) >= MAX_SPECIAL_TOKENS:
            break
        if not isinstance(key, str):
            continue
        if key.endswith("_token") and text(v) is not None:
            out[key] = text(v)  # type: ignore[assignment]
        elif key == "additional_special_tokens" and isinstance(v, list):
            for i, item in enumerate(v[:MAX_SPECIAL_TOKENS]):
                if text(item) is not None:
                    out[f"{key}[{i}]"] = text(item)  # type: ignore[assignment]
    return out


def _remote_code(key: str, value: Any, where: str, entry: FileEntry) -> None:
    refs: list[str] = []

    def collect(v: Any) -> None:
        if len(refs) >= MAX_REMOTE_REFS:
            return
        if isinstance(v, str):
            refs.append(v)
        elif isinstance(v, list):
            for item in v:
                collect(item)
        elif isinstance(v, dict):
            for item in v.values():
                collect(item)

    if key == "auto_map":
        collect(value)
    elif isinstance(value, dict):  # custom_pipelines: {task: {"impl": "module.Class", "pt": [...], ...}}
        for spec in value.values():
            if isinstance(spec, dict):
                collect(spec.get("impl"))
    if not refs and not value:
        return
    modules = sorted({_module_of(r) for r in refs})
    entry.anomalies.append(
        Anomaly(
            "hf.remote_code",
            key,
            f"{key} makes transformers import Python code from the model repository (trust_remote_code)",
            ", ".join(modules)[:1000] if modules else _short(value),
        )
    )
    entry.metadata[f"{key}_targets"] = refs[:MAX_REMOTE_REFS]


def _module_of(ref: str) -> str:
    """``"org/repo--modeling_x.Model"`` -> ``"org/repo--modeling_x"``; ``"modeling_x.Model"`` -> ``"modeling_x"``."""
    return ref.rsplit(".", 1)[0] if "." in ref else ref


def _small_metadata(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        if len(out) >= MAX_METADATA_ITEMS:
            break
        if k in ("chat_template", "auto_map", "custom_pipelines"):
            continue
        if isinstance(v, bool | int | float) or v is None or isinstance(v, str) and len(v) <= MAX_METADATA_STRING:
            out[k] = v
        elif isinstance(v, list) and len(v) <= 8 and all(isinstance(x, str) and len(x) <= 100 for x in v):
            out[k] = list(v)
    return {"json": out}


def _mentions_code_keys(source: Source) -> bool:
    """Stream the file looking for the code keys (overlapping chunks), without parsing it. Red team round 28: a key
    spelled with escapes (``"auto\\u005fmap"``, which json.loads reads as ``auto_map``) counts too."""
    return _stream_spells(source, CODE_KEYS)


def _streams_keras_object(source: Source) -> bool:
    """:func:`keras_config.may_hold_keras_object` on a file too large to read whole (chunks that overlap)."""
    with source.open() as f:
        head = f.read(4)
    if json.detect_encoding(head) not in ("utf-8", "utf-8-sig"):
        return True
    return _stream_spells(source, (b"class_name",))


# Bytes shared by consecutive chunks of the streamed search: a word spelled with escapes at the deepest string level
# the Keras walk reads (each letter "\\u005c...": at most ~6**5 bytes) fits in it many times.
_STREAM_OVERLAP = 256 * 1024
_STREAM_CHUNK = 8 * 1024 * 1024


def _stream_spells(source: Source, words: tuple[bytes, ...]) -> bool:
    """:func:`keras_config.may_spell` over the file in overlapping chunks."""
    tail = b""
    with source.open() as f:
        while True:
            chunk = f.read(_STREAM_CHUNK)
            if not chunk:
                return False
            window = tail + chunk
            if may_spell(window, words):
                return True
            tail = window[-_STREAM_OVERLAP:]


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 300 else text[:297] + "..."
