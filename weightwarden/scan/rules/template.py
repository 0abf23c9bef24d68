"""Template family (WW-TPL-*): sandbox-escape patterns in chat templates (GGUF metadata, HF configs).

Each ``CHAT_TEMPLATE`` code object is parsed (never rendered) by :mod:`weightwarden.scan.templates`; each
kind of issue it reports maps to one rule here. Real templates use ``namespace()``, ``selectattr``,
``tojson``, string concatenation and loop controls legitimately and produce no finding.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet

from weightwarden.artifact import json_units as json_units_mod
from weightwarden.artifact.code_blocks import CodeBlock, code_blocks, host_code_lines, page_blocks, unit_spans
from weightwarden.artifact.jinja_parsing import TextBudgetExceeded, parse_meter
from weightwarden.artifact.model import CodeKind, CodeObject
from weightwarden.artifact.page_view import (
    PageView,
    displayed_fragment,
    is_page,
    page_views,
    shows_other_tags,
)
from weightwarden.artifact.readers.hf_config import config_chat_templates
from weightwarden.artifact.recovery import (
    RecoveryBound,
    expression_tags,
    jinja_tags,
    kept_at,
    normalise_newlines,
    reads_alike,
    recover,
    recover_with_spans,
    tag_spans,
    whole_reading,
)
from weightwarden.artifact.sniff import BY_CONTENT_CONFIG, BY_CONTENT_JSON, WEAK_REASONS, has_jinja_markup
from weightwarden.core.findings import Finding, Severity
from weightwarden.scan import templates as tpl
from weightwarden.scan.rules.base import (
    ATLAS_BACKDOOR,
    ATLAS_SUPPLY_CHAIN,
    ATLAS_USER_EXECUTION,
    CWE_CODE_INJECTION,
    CWE_INPUT_VALIDATION,
    CWE_TEMPLATE_INJECTION,
    CheckContext,
    ScanRule,
)

_REFS = (CWE_TEMPLATE_INJECTION, CWE_CODE_INJECTION, ATLAS_SUPPLY_CHAIN, ATLAS_USER_EXECUTION, ATLAS_BACKDOOR)
_FIX = (
    "Do not serve the model with this template. Replace it with the template of the upstream base model, "
    "or a reviewed one, and render templates only in Jinja's ImmutableSandboxedEnvironment."
)

DUNDER = ScanRule(
    "WW-TPL-001",
    Severity.CRITICAL,
    "Chat template accesses Python internal attributes",
    "The template reads dunder attributes (__class__, __mro__, __subclasses__, __globals__, __builtins__, "
    "__init__, ...) or frame/function internals. Chat templates format messages; these accesses only serve "
    "server-side template injection that walks from a string to os.system.",
    _FIX,
    _REFS,
)
COMPUTED_ATTR = ScanRule(
    "WW-TPL-002",
    Severity.HIGH,
    "Chat template reads an attribute whose name is computed",
    "The template reads an attribute or item by a name that cannot be known before rendering: |attr() or an "
    "attribute= argument with a computed name, a key from the render data on an object that is not render "
    "data, or str.format() with a format string that is not a constant of the template (its fields walk the "
    "arguments' attributes, e.g. '{0.gi_frame.f_globals}'). Escapes use these to reach Python internals "
    "without writing their names literally. Fail closed, it is also given to a template the analysis could not "
    "finish: past its bounds or step budget, or too large to analyse (past a token bound, not parsed).",
    _FIX,
    _REFS,
)
ESCAPE_ROOT = ScanRule(
    "WW-TPL-003",
    Severity.CRITICAL,
    "Chat template escapes through a Jinja global (lipsum, cycler, joiner, namespace)",
    "The template reaches the globals of a Jinja helper function or class (lipsum.__globals__, "
    "cycler.__init__.__globals__, ...), the classic route from a template to the os module.",
    _FIX,
    _REFS,
)
BUILT_NAME = ScanRule(
    "WW-TPL-004",
    Severity.CRITICAL,
    "Chat template assembles a dunder name from pieces",
    "The template builds a name such as '__class__' by concatenation (~, +), format, join, replace, reverse "
    "or slicing. Splitting a name is done to evade scanners that look for it literally.",
    _FIX,
    _REFS,
)
HOST_OBJECT = ScanRule(
    "WW-TPL-005",
    Severity.HIGH,
    "Chat template references a host or server object",
    "The template uses a name that chat rendering never provides but web frameworks or Python do (request, "
    "config, self, os, subprocess, __builtins__, ...). It is probing for objects to escape through.",
    _FIX,
    _REFS,
)
LOADER = ScanRule(
    "WW-TPL-006",
    Severity.MEDIUM,
    "Chat template loads other templates",
    "{% import %}, {% include %} or {% extends %} make the renderer's loader open other files. Chat "
    "templates are self-contained; a loader reference can read local files or pull in unreviewed templates.",
    "Inline what the template needs, or replace it with a self-contained template.",
    (CWE_TEMPLATE_INJECTION, ATLAS_SUPPLY_CHAIN),
)
PARSE_ERROR = ScanRule(
    "WW-TPL-007",
    Severity.MEDIUM,
    "Chat template does not parse",
    "The template is not valid Jinja, so it could not be analysed. A renderer with different extensions or "
    "version might still accept it.",
    "Fix or replace the template; do not ship a template that cannot be reviewed.",
    (CWE_INPUT_VALIDATION, CWE_TEMPLATE_INJECTION),
)
PRIVATE_ATTR = ScanRule(
    "WW-TPL-008",
    Severity.HIGH,
    "Chat template accesses a private attribute",
    "The template reads an attribute starting with an underscore (self._TemplateReference__context, ...). "
    "The sandbox forbids these; templates that use them are trying to leave it.",
    _FIX,
    _REFS,
)
BAD_TEMPLATE = ScanRule(
    "WW-TPL-009",
    Severity.MEDIUM,
    "Chat template could not be read",
    "The template value is not text (wrong type, invalid encoding) or too large to analyse.",
    "Replace the template with a valid, reviewed one.",
    (CWE_INPUT_VALIDATION,),
    anomaly_codes=("template.bad_chat_template", "gguf.bad_chat_template"),
)

ODD_TOKEN = ScanRule(
    "WW-TPL-010",
    Severity.MEDIUM,
    "Special token passed to the chat template is not a plausible token",
    "A special token in the same tokenizer_config.json (a render argument of the template) holds format "
    "directives ('%c'), character references ('&#95;') or braces. Tokens are markers such as '<s>' or "
    "'<|im_end|>'; these values only serve to be turned into other strings by the template (|format, "
    "|striptags, str.format), e.g. a dunder name used as a key.",
    "Replace the tokenizer configuration with the upstream one, or a reviewed one.",
    (CWE_TEMPLATE_INJECTION, CWE_INPUT_VALIDATION, ATLAS_SUPPLY_CHAIN),
)

RENDER_MUTATION = ScanRule(
    "WW-TPL-011",
    Severity.HIGH,
    "Chat template changes the caller's render data in place",
    "The template calls a mutating method (append, insert, pop, clear, update, setdefault, ...) or sets an item "
    "on the objects the host passes in (messages, tools, documents, any render variable), directly or through "
    "an alias, a loop variable, a container or a method used as a value. The host keeps and reuses these "
    "objects: the change outlives the render (a rewritten system prompt, an added tool, a dropped message in "
    "every later turn). Formatting a conversation never needs to change it; no real chat template does.",
    _FIX,
    (CWE_TEMPLATE_INJECTION, ATLAS_SUPPLY_CHAIN, ATLAS_BACKDOOR),
)

LOOP_REBIND = ScanRule(
    "WW-TPL-012",
    Severity.HIGH,
    "Chat template rebinds Jinja's loop variable name",
    "The template binds the name 'loop' ({% set loop %}, {% with loop %}, a macro or call-block parameter, an "
    "import alias). Inside a for body Jinja still gives 'loop' the loop's own LoopContext, so the binding only "
    "makes loop.previtem / loop.nextitem look like constants to a reader or a scanner while they are the "
    "render data's elements at run time (red team round 17 reached os.system and changed the host's messages "
    "this way). Also reported: a macro that reads 'loop' and is used other than by a direct call in its own loop "
    "body (stored in a namespace, passed, aliased): Jinja gives every for loop at one frame depth the same "
    "variable, so the macro reads whichever sibling loop is running (round 18: the host's messages, os.system). "
    "No real chat template binds this name or lets such a macro escape. High, not medium: its only use is disguise, and it "
    "was the key step of code-running templates.",
    _FIX,
    _REFS,
)

FRAME_ESCAPE = ScanRule(
    "WW-TPL-013",
    Severity.HIGH,
    "Chat template macro escapes the block it was defined in",
    "A macro defined inside a for, with, filter or {% set %}...{% endset %} block is stored (in a namespace, a "
    "list, a dict, a variable), passed, or called from another macro or block, and it reads a name that block "
    "sets. Jinja compiles every such block of one nesting depth to the same Python variables, so the macro reads "
    "whichever sibling block ran last, and a sibling that sets the name in one branch only loads the caller's "
    "render data into it (red team round 19: a macro credited with {% set tools = [] %} read and changed the "
    "host's real tools and messages). No real chat template defines a macro inside such a block at all. High, "
    "not medium: its only use is to disguise what the macro reads.",
    _FIX,
    _REFS,
)

RULES: tuple[ScanRule, ...] = (
    DUNDER, COMPUTED_ATTR, ESCAPE_ROOT, BUILT_NAME, HOST_OBJECT, LOADER, PARSE_ERROR, PRIVATE_ATTR, BAD_TEMPLATE,
    ODD_TOKEN, RENDER_MUTATION, LOOP_REBIND, FRAME_ESCAPE,
)
# What a token text must not hold: %-format directives, HTML character references (|striptags and Markup
# unescape them: '&#95;' and '&lowbar;' are '_'), str.format fields.
_ODD_TOKEN_RE = re.compile(r"%|&#|&[A-Za-z][A-Za-z0-9]*;|[{}]")
_BY_KIND = {
    tpl.DUNDER: DUNDER,
    tpl.COMPUTED_ATTR: COMPUTED_ATTR,
    tpl.ESCAPE_ROOT: ESCAPE_ROOT,
    tpl.BUILT_NAME: BUILT_NAME,
    tpl.HOST_OBJECT: HOST_OBJECT,
    tpl.LOADER: LOADER,
    tpl.PARSE_ERROR: PARSE_ERROR,
    tpl.PRIVATE_ATTR: PRIVATE_ATTR,
    tpl.RENDER_MUTATION: RENDER_MUTATION,
    tpl.LOOP_REBIND: LOOP_REBIND,
    tpl.LOOP_ESCAPE: LOOP_REBIND,  # same family: a disguised loop read (round 18)
    tpl.FRAME_ESCAPE: FRAME_ESCAPE,  # round 19: the same sharing for every name
}


# Red team round 32 (slow scan): what Jinja's parser, the analysis and the recovery's lexer may do in all while one
# text is judged (jinja_parsing.parse_meter, counted in Jinja tokens: parsing and walking a token costs a few
# microseconds), a multiple of the text's length plus a constant, and never past a cap. Every part of a page has its
# own bounds, but a README of 1,000 paragraphs that each parse alone and not together was read ~9 M tokens deep
# (33 s, 100 MB). The 88 real templates in every page wrapper use at most ~12 tokens per character (<= 140 K tokens),
# our docs < 0.2 (docs/benchmarks.md §65). The cap (~7 s here) is what one text may cost: a page denser in Jinja than
# ~150 KB of real templates is not fully analysed. Past it: WW-TPL-002 naming the text (fail closed, not a pass).
TEXT_PARSE_BUDGET_FACTOR = 16
TEXT_PARSE_BUDGET_BASE = 256 * 1024
TEXT_PARSE_BUDGET_CAP = 2 * 1024 * 1024


def check_template(code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    text = code.text
    if not isinstance(text, str):
        yield BAD_TEMPLATE.found_in(ctx.file, code.location, "chat template is not text", repr(text)[:100])
        return
    # Helper tpl36: each host's view of a page that shows other tags is another text of about the same size read the
    # same ways (Kimi-K3 in a <textarea> inside {% raw %} ran past the budget of one): the budget is per reading.
    readings = 1 + (len(_shown(text, code, ctx)) if isinstance(code.details.get("picked_up"), str) else 0)
    with parse_meter(readings * min(TEXT_PARSE_BUDGET_FACTOR * len(text) + TEXT_PARSE_BUDGET_BASE,
                                    TEXT_PARSE_BUDGET_CAP)):
        try:
            if code.details.get("picked_up") != BY_CONTENT_CONFIG:  # no Jinja tag in any view: only its configs
                yield from _check_text(text, code, ctx)
            if isinstance(code.details.get("picked_up"), str) and code.details.get("json_text") is not True:
                yield from _json_configs(text, code, ctx)
            yield from _page_bounds(text, code, ctx)
        except TextBudgetExceeded as exc:
            yield COMPUTED_ATTR.found_in(
                ctx.file, code.location,
                f"the template analysis of this text did not finish within its parse budget ({exc}): the text was "
                "not fully analysed, and what it holds past that point was not judged",
                f"{len(text):,} characters [{code.details.get('picked_up')}]")


def _page_bounds(text: str, code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    """Helper tpl37 (round 36 class M): a page whose units (nested elements, each a copy of the rest of the page)
    hold more than a bound is read in part only: reported, never passed as read (fail closed)."""
    kind = is_page(ctx.file)
    if not isinstance(code.details.get("picked_up"), str) or code.details.get("picked_up") == BY_CONTENT_JSON \
            or not kind:
        return
    for view in page_views(text, kind):
        if view.bound:
            yield COMPUTED_ATTR.found_in(
                ctx.file, f"{code.location} (page view)",
                f"page too complex to read, not verified: {view.bound}",
                f"{len(text):,} characters [{code.details.get('picked_up')}]")
            return


def _check_text(text: str, code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    tokens = code.details.get("special_tokens") or {}
    tokens = tokens if isinstance(tokens, dict) else {}
    names = _token_names(code)
    # Rounds 21-22: a text analysed only because Jinja's lexer finds a tag somewhere in it (not by its name, not by
    # leading Jinja markup) that Jinja cannot parse renders nothing: Jinja parses the whole source first. It is
    # text (a README quoting a snippet, a vocabulary holding "{%"). Failing toward analysing, the fenced code
    # blocks of such a text (what a reader copies into --chat-template) are analysed one by one under the same
    # rule. Every other issue, and every issue of a template found by name, stands. (Checked with Jinja's lazy
    # parser first: a whole tokenizer.json quoting "{{" fails at its first tag.)
    picked_up = code.details.get("picked_up")
    # Red team round 31 (class 1): whether a text is ALSO read unit by unit (as a page a reader copies code blocks,
    # code spans, cells and elements from) depends on what the file is, not on its first bytes. Every text picked up
    # by content is a file that is not a template by name or role (a README, a .md/.txt/.rst, any text in a model
    # folder; not a *.jinja file, a config's chat_template or GGUF's tokenizer.chat_template, which have no
    # "picked_up"): it is a page whatever its first byte. "{% raw %}" on line 1 is the natural Jekyll idiom and
    # must not switch the page reading off. The strong/weak reason keeps one job only: a weak text that Jinja
    # cannot parse gets no WW-TPL-007 (a README quoting a snippet), a text starting with Jinja markup does.
    as_page = isinstance(picked_up, str) and code.details.get("json_text") is not True
    # Only a text picked up by content asks whether it parses as a whole (a template by name or role is analysed
    # whole either way): Jinja's own lexer costs as much as the analysis, so it is not run for the others.
    whole_parses = isinstance(picked_up, str) and tpl.parses(text)
    if isinstance(picked_up, str) and not whole_parses:
        seen: set[tuple[str, str]] = set()
        yield from _fenced_blocks(text, names, code, ctx, seen)
        # Round 28, the backstop: whatever view or markup hid a template from the block extraction, the template
        # a host could render from any part of this text is recovered tag by tag and analysed too. Not the whole
        # text of a JSON file: its string values are analysed decoded, each under the same rule (recovered when it
        # does not parse), while its raw text shows them JSON-escaped ('\\"' in a tag), which no host renders.
        if code.details.get("json_text") is not True:
            yield from _recovered(text, names, code, ctx, seen)
        if picked_up in WEAK_REASONS:
            return
        # A text starting with Jinja markup that does not parse: its units were read above, and the whole's
        # WW-TPL-007 (below) stands.
    issues = tpl.analyze_template(text, names)
    if as_page and whole_parses:
        # Round 30: a text picked up by content is a page whether or not Jinja parses it as a whole. A comment, a
        # raw body or a string literal is inert to the whole reading but not to a reader who copies a unit of the
        # page (a code span, a fence, a table cell, an HTML element) from inside it. Its units are read as a
        # host that renders them alone reads them (see _page); the whole's own findings are not repeated.
        yield from _page_views(text, names, code, ctx, {(i.kind, i.message) for i in issues})
    elif isinstance(picked_up, str) and code.details.get("json_text") is True and _shown(text, code, ctx):
        # Round 27 (the whole text of a JSON file): tags written as character references ("&#123;%") are tags on
        # the rendered page: its blocks (the page's units among them) are analysed as well as the raw text.
        yield from _fenced_blocks(text, names, code, ctx, set())
    if code.details.get("json_text") is True:
        # The whole text of a JSON file (round 22): what it shares with the file's own templates and string values
        # (analysed on their own, under their JSON location) is reported there; what is left comes from tags that
        # span JSON values, which only the whole text shows.
        seen = {(i.kind, i.message) for other in ctx.entry.code
                if other is not code and other.kind == CodeKind.CHAT_TEMPLATE and isinstance(other.text, str)
                for i in tpl.analyze_template(other.text, _token_names(other))}
        issues = [i for i in issues if (i.kind, i.message) not in seen]
    for issue in issues:
        rule = _BY_KIND[issue.kind]
        where = f"{code.location} line {issue.line}" if issue.line else code.location
        evidence = f"{issue.evidence} [{picked_up}]" if isinstance(picked_up, str) else issue.evidence
        yield rule.found_in(ctx.file, where, issue.message, evidence)
    # Special tokens from the same tokenizer_config.json are render arguments of this template: one that is a
    # Python internal name ("bos_token": "__globals__") is only there to be used as a key or attribute.
    for name, value in tokens.items():
        if not isinstance(value, str):
            continue
        # Case-folded too: '__GLOBALS__'|lower is the same key (round 6).
        if tpl.dangerous_name(value) or tpl.dangerous_name(value.casefold()) or tpl.format_reads_private(value):
            yield DUNDER.found_in(
                ctx.file, f"{code.location} special token {name}",
                f"special token '{name}' passed to the template names a Python internal attribute: '{value[:80]}'",
                f"{name}: {value[:100]!r}",
            )
        elif _ODD_TOKEN_RE.search(value):
            yield ODD_TOKEN.found_in(
                ctx.file, f"{code.location} special token {name}",
                f"special token '{name}' passed to the template holds format directives, character references "
                "or braces", f"{name}: {value[:100]!r}",
            )


def _token_names(code: CodeObject) -> set[str]:
    """Every render argument the host fills from the config next to the template is attacker-controlled: the
    analysis must not take it for render data (round 6: "image_token")."""
    tokens = code.details.get("special_tokens") or {}
    return {str(name).split("[", 1)[0] for name in tokens} if isinstance(tokens, dict) else set()


# Code blocks (with a Jinja tag) analysed per text (256: a model card holds a few; 64 was reached by the round-26
# PoC of 64 decoys): a text of thousands of blocks is cut here, and the cut is a
# finding (round 26: blocks past it passed silently, a bound that ended in "clean").
MAX_FENCED_BLOCKS = 256


def _fenced_blocks(text: str, names: set[str], code: CodeObject, ctx: CheckContext,
                   seen: set[tuple[str, str]], live_texts: set[str] | None = None,
                   view: bool = False, statement_line: int = 0, page: PageView | None = None) -> Iterator[Finding]:
    """Findings of each code block of ``text`` (:func:`weightwarden.artifact.code_blocks.code_blocks`: CommonMark's
    fenced, indented and HTML blocks at any nesting, and line-paired fences, an unclosed one running to the end)
    that holds a Jinja tag and parses (blocks that do not parse are quoted snippets, as the whole text). Only blocks
    with a tag count toward MAX_FENCED_BLOCKS; past it the text gets WW-TPL-002 (fail closed). With ``page`` (``text``
    is that page's displayed text), the blocks are the page's units (helper tpl35: each is a unit a reader copies
    whole; the displayed text is not parsed as Markdown again)."""
    blocks = 0
    reported: set[tuple[str, str, int]] = set()
    unit_bodies: list[set[str]] = []
    if page is not None:
        unit_bodies.append({normalise_newlines(u.body).strip() for u in page.units})
    covered = _Coverage(text)
    fence_live: dict[str, set[str] | None] = {}
    for block in code_blocks(text, is_page(ctx.file)) if page is None else _page_blocks(page):
        if not has_jinja_markup(block.body):
            continue
        # A page's own block is a unit: it is left to an enclosing unit only when that one reads it alike (never
        # because none parses, which _within_alike grants a view's regions).
        if block.within and _within_alike(block, fence_live, view and page is None):
            # Round 32: lines of a fenced block (a template's indented lines, a paragraph between its blank lines)
            # are read as the fence: a fence that parses is analysed as one unit, and a region whose tags are all
            # live tags of the fence's own reading (by text) reads alike there. Analysed alone they were analysed
            # out of context: 99 false highs on the 88 real templates shown in a fence inside {% raw %}.
            continue
        if live_texts is not None and _live_alike(block.body, live_texts):
            # Round 30, a text that parses as a whole: a block whose tags are all live tags of the whole (by text,
            # whitespace runs as one space: a block is de-indented) is read alike there. Analysing it out of its
            # context (a few indented lines of a real template pasted into a page) only gives false findings.
            if (statement_line and block.first_line > statement_line and _is_unit(block.body, text, unit_bodies)
                    and tpl.parses(block.body)):
                # Round 32 (class C): but the whole's analysis judged it in the whole's context, where a statement
                # of another unit before it ({% set messages = [...] %} in an earlier fence) makes a name local. A
                # reader copies the block alone: what only context hid is reported (_context_issue).
                yield from _reading_issues(block.body, block.first_line, _ALONE, names, code, ctx, seen,
                                           keep=_context_issue)
            continue
        blocks += 1
        if blocks > MAX_FENCED_BLOCKS and (not tpl.parses(block.body) or covered.holds(block.body)):
            # Round 29: a Jinja tutorial of 1 000 small examples got WW-TPL-002 here. A block past the bound whose
            # tags are, at their place in the text, all tags of the template recovered from the whole text (which
            # is analysed) is read alike there, and one that does not parse is never analysed; any other block
            # past the bound is the finding.
            continue
        if blocks > MAX_FENCED_BLOCKS:
            yield COMPUTED_ATTR.found_in(
                ctx.file, f"{code.location} line {block.first_line} (code block)",
                f"more than {MAX_FENCED_BLOCKS} code blocks with Jinja tags in a text read as a page: "
                f"the blocks past the {MAX_FENCED_BLOCKS}th were not analysed (a reader may copy any of them into "
                "a chat template)", f"MAX_FENCED_BLOCKS = {MAX_FENCED_BLOCKS} [{code.details.get('picked_up')}]")
            return
        if not tpl.parses(block.body):
            continue
        for issue in tpl.analyze_template(block.body, names):
            seen.add((issue.kind, issue.message))
            line = block.first_line + issue.line - 1 if issue.line else block.first_line
            if (issue.kind, issue.message, line) in reported:
                continue  # a page's code element and the paragraph holding it (helper tpl35): one finding
            reported.add((issue.kind, issue.message, line))
            yield _BY_KIND[issue.kind].found_in(ctx.file, f"{code.location} line {line} (code block)", issue.message,
                                                f"{issue.evidence} [{code.details.get('picked_up')}]")


def _json_configs(text: str, code: CodeObject, ctx: CheckContext) -> Iterator[Finding]:
    """Helper tpl34 (case 4 of the README threat model, docs/decisions.md): a unit of a text picked up by content
    (a fence, a code element or span, the whole text) that parses as JSON with the real parser and holds
    ``chat_template`` is a config a reader pastes into tokenizer_config.json. Its templates (string, list of
    {name, template}, {name: template}) and special tokens are judged exactly as the file read by name would be:
    :func:`_check_text` on a code object without ``picked_up`` (whole, WW-TPL-007 when it does not parse, the
    special-token checks). Round 33's class Q (a JSON value taken for "Jinja's own string") is read here as JSON,
    not by the raw text's lexing. A unit the parser cannot finish fails closed (WW-TPL-002)."""
    units, cut = json_units_mod.json_units(text, is_page(ctx.file))
    picked_up = code.details.get("picked_up")
    judged: set[tuple[str, str, str]] = set()
    for unit in units:
        where = f"{code.location} line {unit.first_line} (JSON code block)"
        if unit.problem:
            yield COMPUTED_ATTR.found_in(
                ctx.file, where, f"a JSON unit of this text could not be read whole ({unit.problem}): the chat "
                "templates a reader may paste from it into a config were not (all) analysed", f"[{picked_up}]")
        for config in unit.configs:
            templates, anomalies = config_chat_templates(config, where)
            for template in templates:
                key = (template.location, str(template.text), repr(sorted(template.details.get("special_tokens",
                                                                                               {}).items())))
                if key in judged:
                    continue  # the same config seen as a fence and as a region inside it
                judged.add(key)
                yield from _check_text(template.text, CodeObject(
                    template.kind, f"{where} {template.location}", text=template.text, details=template.details), ctx)
            for anomaly in anomalies:
                yield BAD_TEMPLATE.found_in(ctx.file, f"{where} {anomaly.location}", anomaly.message,
                                            anomaly.evidence)
    if cut:
        bound = json_units_mod.MAX_JSON_UNITS
        yield COMPUTED_ATTR.found_in(
            ctx.file, code.location, f"more than {bound} JSON units that may hold a chat template in a text "
            "read as a page: the units past the bound were not analysed", f"MAX_JSON_UNITS = {bound} "
            f"[{picked_up}]")


def _is_unit(body: str, text: str, cache: list[set[str]]) -> bool:
    """Whether a code block is a whole unit a reader copies (a fence, a <pre>/<code>/<textarea> body, a code span),
    not a language-neutral region (indented run, paragraph) of a template shown whole (class C: those are judged in
    the template's own context)."""
    if not cache:
        cache.append({normalise_newlines(text[a:b]).strip() for a, b in unit_spans(normalise_newlines(text))})
    return normalise_newlines(body).strip() in cache[0]


def _shown(text: str, code: CodeObject, ctx: CheckContext) -> list[PageView]:
    """Helper tpl35: the page as its reader sees it (:func:`weightwarden.artifact.page_view.page_view`: one rendering
    replaces round 27's entity-decoded and round 29's rendered-Markdown views), when it shows other Jinja tags than
    the raw text (else the raw readings read the same); not of a JSON string value, which no page shows (its
    backslashes are the template's own string escapes: a real template's "\\'" read as "'" is another template).
    Helper tpl36 (round 35): every host's reading of the page (:func:`weightwarden.artifact.page_view.page_views`:
    GitHub's GFM and plain CommonMark for Markdown, a browser's for HTML), each judged; empty when none applies."""
    kind = is_page(ctx.file)
    if code.details.get("picked_up") == BY_CONTENT_JSON or not kind:
        return []  # a .txt (or any text not shown rendered) is shown as it is: its raw text
    return [view for view in page_views(text, kind) if shows_other_tags(text, view)]


def _distinct(findings: Iterable[Finding], emitted: set[tuple[str, str, str]]) -> Iterator[Finding]:
    """Helper tpl36: findings not yet given by another reading of the same page (two hosts' views of one unit)."""
    for finding in findings:
        key = (finding.rule_id, finding.location.path, finding.message)
        if key not in emitted:
            emitted.add(key)
            yield finding


def _page_blocks(page: PageView) -> list[CodeBlock]:
    """The page's units holding an opener, each body once, as code blocks at their source lines. A block (a
    paragraph) inside what an element GitHub's tag filter shows as text holds (kind ``filtered``) is marked
    ``within`` it (helper tpl36: the 88 real templates in a <textarea> are paragraphs on GitHub's page)."""
    seen: set[str] = set()
    out = []
    for block in page_blocks(page):
        if block.body not in seen:
            seen.add(block.body)
            out.append(block)
    return out


class _Coverage:
    """Whether a code block's tags, at its place in the text, are all tags of the template recovered from the whole
    text (computed on first use; a text whose recovery hits a bound or fails covers nothing). At most
    MAX_COVERED_BLOCKS blocks are looked up (each a search of the text)."""

    def __init__(self, text: str) -> None:
        self.text = normalise_newlines(text)
        self.kept: set[tuple[int, str]] | None = None
        self.hint = 0
        self.asked = 0

    def holds(self, body: str) -> bool:
        self.asked += 1
        if self.asked > MAX_COVERED_BLOCKS:
            return False
        if self.kept is None:
            try:
                recovered, _some, kept = recover_with_spans(self.text)
            except RecoveryBound:
                recovered, kept = None, set()
            self.kept = kept if recovered is not None else set()
        body = normalise_newlines(body)
        at = self.text.find(body, self.hint)
        if at < 0:
            at = self.text.find(body)
        if at < 0 or not self.kept:
            return False
        self.hint = at
        try:
            return reads_alike(body, at, self.kept)
        except RecoveryBound:
            return False


# Blocks past MAX_FENCED_BLOCKS looked up in the whole text's recovery; past it, the bound's finding.
MAX_COVERED_BLOCKS = 8192


def _recovered(text: str, names: set[str], code: CodeObject, ctx: CheckContext,
               seen: set[tuple[str, str]]) -> Iterator[Finding]:
    """Round 28: findings of the template recovered from ``text`` (:func:`weightwarden.artifact.recovery.recover`:
    every tag Jinja's lexer takes, the block structure balanced), from its entity-decoded form and (round 29) its
    rendered-Markdown form (backslash escapes removed), at their normal severity, noted as recovered; those a code
    block already gave are not repeated. Fail closed: a bound of the recovery that is hit, or a text with a tag that
    parses whose recovery still fails, is WW-TPL-002."""
    picked_up = code.details.get("picked_up")
    try:
        views = _shown(text, code, ctx)
        configs = _config_bodies(text, code, ctx)
        raw = _without_configs(_without_host_code(normalise_newlines(text)), configs, None)
        emitted: set[tuple[str, str, str]] = set()
        yield from _distinct(_recovered_view(raw if not views else _without_shown_elements(raw), names, code, ctx,
                                             seen), emitted)
        for shown in views:
            # The page's displayed text (no fence is left in it to blank: host-language fences show their code,
            # which the page's units judge whole), read with the page's units (a <pre> body is one unit).
            yield from _distinct(_recovered_view(_without_configs(shown.text, configs, shown), names, code, ctx,
                                                 seen, spans=shown.part_spans, elements=shown.part_spans), emitted)
    except RecoveryBound as exc:
        yield COMPUTED_ATTR.found_in(
            ctx.file, f"{code.location} (recovered text)",
            f"a text Jinja cannot parse as a whole could not be recovered into the template a host could render "
            f"from it ({exc}): not analysed", f"{exc} [{picked_up}]")


def _config_bodies(text: str, code: CodeObject, ctx: CheckContext) -> set[str]:
    """The (stripped) bodies of the units of ``text`` that are JSON configs holding chat_template (json_units)."""
    if code.details.get("json_text") is True:
        return set()
    units, _cut = json_units_mod.json_units(text, is_page(ctx.file))
    return {u.body for u in units if u.configs and not u.problem}


def _without_configs(source: str, configs: set[str], page: PageView | None) -> str:
    """Helper tpl35 (the 88 real templates as a JSON config in a GFM table cell: 5 false highs before): ``source``
    with the units that are JSON configs (json_units: ``json.loads`` parses them, as raw or as the page shows them)
    blanked to spaces, lines kept, for the recovery only. Their raw text is a JSON literal no host renders raw
    (tpl34's FP-2, there for host-language fences); their chat templates are judged decoded, as read by name
    (_json_configs), and a unit that parses as Jinja is still judged whole (_fenced_blocks)."""
    if not configs:
        return source
    if page is not None:
        spans = [(u.start, u.end) for u in page.units if u.body.strip() in configs]
    else:
        # A code span shows its content literally (a GFM cell's "\\|" as "|"), an element's content as HTML.
        spans = [(a, b) for a, b in unit_spans(source)
                 if {source[a:b].strip(), source[a:b].replace("\\|", "|").strip(),
                     displayed_fragment(source[a:b]).strip()} & configs]
    out, pos = [], 0
    for a, b in sorted(spans):
        if a < pos:
            continue
        out += [source[pos:a], re.sub(r"[^\n]", " ", source[a:b])]
        pos = b
    out.append(source[pos:])
    return "".join(out)


def _without_host_code(source: str) -> str:
    """Helper tpl34: ``source`` with the body lines of its fences tagged with a host language (Python, JS, YAML,
    JSON, shell, ...: code_blocks.HOST_LANGUAGES) blanked to spaces (offsets and line numbers kept). Such a fence is
    code a reader runs or a file a tool loads; the recovery's tag-by-tag reading of it reads the Jinja inside its
    string literals raw, escapes and all, which no host renders (round 33 FP-2: the 88 real templates as a
    JSON/YAML/Python-repr literal got 3 highs each from it), and Jinja built from host-language literals is out of
    the threat model (docs/decisions.md). The fence body is still judged whole when it parses (_fenced_blocks), and
    a JSON config in it exactly as read by name (_json_configs)."""
    spans = host_code_lines(source)
    if not spans:
        return source
    lines = source.split("\n")
    for first, end in spans:
        for i in range(first, min(end, len(lines))):
            lines[i] = " " * len(lines[i])
    return "\n".join(lines)


def _unrecovered(part: str, line: int, code: CodeObject, ctx: CheckContext) -> Finding:
    picked_up = code.details.get("picked_up")
    return COMPUTED_ATTR.found_in(
        ctx.file, f"{code.location} line {line} (recovered text)",
        "a text Jinja cannot parse as a whole holds a tag that parses on its own, but the template a host could "
        "render from it could not be recovered: not analysed", f"{part[:100]!r} [{picked_up}]")


def _recovered_view(source: str, names: set[str], code: CodeObject, ctx: CheckContext,
                    seen: set[tuple[str, str]], spans: list[tuple[int, int]] | None = None,
                    elements: list[tuple[int, int]] | None = None) -> Iterator[Finding]:
    """One view (newlines normalised). With ``spans`` (the units of a page view, helper tpl35), a part inside a
    unit that parses and reads it alike is read as that unit (round 32), as in :func:`_page`; with ``elements``
    (the same units, helper tpl36), a part inside one that does not parse renders nothing (_Units.inert). Raises
    RecoveryBound past the bounds."""
    recovered, some_tag, whole = recover_with_spans(source)
    if recovered is not None:
        yield from _recovered_issues(recovered, 1, names, code, ctx, seen)
    elif not some_tag:
        return  # no tag of it lexes and parses on its own (a vocabulary of "{{" tokens): nothing to recover
    else:
        # Round 29: never a skip (a None here passed B4/B5 of the report).
        yield _unrecovered(source, 1, code, ctx)
    # Round 29: the whole is one reading. A host that renders one part (a code span, a table cell, an inline-HTML
    # code element, a paragraph) reads its tags from that part's start: a string literal of a prose tag that
    # swallows the code span in the whole reading is plain text there. Each tag-holding part between common
    # delimiters is scanned on its own, and recovered and analysed when it shows a tag the whole reading does not
    # (same offset and text) with an expression that parses on its own (recovery.reads_alike); a part that does not
    # recover is split again at line ends and table pipes.
    # Round 30 (class 3): and from every opener a tag of the recovery swallows in a string literal (comment and raw
    # bodies are lexed by the recovery itself) when a unit can start before it (_hidden_parts).
    swallowed = tuple((o.start(), at, at + len(t)) for at, t in sorted(tag_spans(source))
                      for o in _TAG_OPENER.finditer(source, at + 1, at + len(t)))
    hidden, covered = _hidden_parts(source, swallowed)
    units = _Units(source, spans, elements) if spans is not None else None
    yield from _read_parts(hidden, source, whole, names, code, ctx, seen, units=units)
    yield from _read_parts(_delimited_parts(source, _PART_SPLIT), source, set(whole) | covered, names, code, ctx,
                           seen, units=units)


def _read_parts(parts: list[tuple[str, int, int, bool]], source: str, whole: AbstractSet[tuple[int, str]],
                names: set[str], code: CodeObject, ctx: CheckContext, seen: set[tuple[str, str]],
                parse_first: bool = False, units: _Units | None = None) -> Iterator[Finding]:
    """Each part not read alike in ``whole`` is recovered and analysed (split again at line ends when it does not
    recover). With ``parse_first`` (round 30, parts of a text that parses as a whole) a part that parses on its own is
    analysed as Jinja reads it, comment and raw bodies inert: what a host that renders that part renders. With
    ``units`` (round 32), a part inside a unit a reader copies whole (a fence, a <pre>/<textarea>/<code> element, a
    code span) that parses and reads the part alike is read as that unit: the unit is analysed (once), not the
    part. Raises RecoveryBound past the bounds."""
    picked_up = code.details.get("picked_up")
    done: set[str] = set()
    analysed = 0
    first = _first_statement(whole)
    spans = _SpanIndex(source, units.spans if units is not None else None) if first is not None else None
    alone_done: set[tuple[int, int]] = set()
    while parts:
        part, line, start, split_again = parts.pop(0)
        if part in done or part == source:
            continue
        done.add(part)
        if reads_alike(part, start, whole, source):
            if first is not None and first < start:
                # Round 32 (class C): read alike, but in the context of a statement before it (another unit's
                # binding, or one the recovery lexed in a comment or raw body, which no host renders): what only
                # that context hid is reported, as a reader who copies the unit alone renders it (_alone_unit).
                alone = _alone_unit(units, spans, part, start, first)
                if alone is not None and alone not in alone_done:
                    alone_done.add(alone)
                    yield from _reading_issues(source[alone[0]:alone[1]], source.count("\n", 0, alone[0]) + 1,
                                               _ALONE, names, code, ctx, seen, keep=_context_issue)
            continue
        if units is not None and units.inert(part, start):
            continue
        unit = units.enclosing(part, start) if units is not None else None
        if unit is not None:
            if unit not in units.analysed:
                units.analysed.add(unit)
                analysed += 1
                if analysed <= MAX_RECOVERED_PARTS:
                    u_start, u_end = unit
                    yield from _page_part_issues(source[u_start:u_end], source.count("\n", 0, u_start) + 1, names,
                                                 code, ctx, seen)
            if analysed <= MAX_RECOVERED_PARTS:
                continue
        analysed += 1
        if analysed > MAX_RECOVERED_PARTS:
            yield COMPUTED_ATTR.found_in(
                ctx.file, f"{code.location} (recovered text)",
                f"a text read as a page has more than {MAX_RECOVERED_PARTS} tag-holding parts read "
                "otherwise on their own than in the whole: not analysed",
                f"MAX_RECOVERED_PARTS = {MAX_RECOVERED_PARTS} [{picked_up}]")
            return
        if tpl.parses(part):
            # Round 32 (class 4): what a host renders from a part that parses is Jinja's reading of it; the recovery
            # below lexes comment bodies and can read a live payload as the string literal of a tag that spans a
            # comment. In a text that does not parse as a whole (not ``parse_first``) the recovery is kept too
            # (fail closed: a comment body is a unit a reader may copy).
            yield from _page_part_issues(part, line, names, code, ctx, seen)
            if parse_first:
                continue
        part_recovered, part_tag = recover(part)
        if part_recovered is not None:
            yield from _recovered_issues(part_recovered, line, names, code, ctx, seen)
        elif split_again:
            # Its lines (any line end) and table cells, one by one.
            parts += [(p, line + sub - 1, start + off, False)
                      for p, sub, off, _again in _delimited_parts(part, _LINE_SPLIT)]
        elif part_tag:
            yield _unrecovered(part, line, code, ctx)


def _alone_unit(units: _Units | None, spans: _SpanIndex | None, part: str, start: int,
                first: int) -> tuple[int, int] | None:
    """Round 32 (class C): the unit a reader copies alone that holds ``part``, when a statement of the whole
    (at ``first``) lies before it: the parsing unit that reads the part alike (a fence: the template's own
    statements inside it are its context), else the innermost code unit (code span, fence, <code>/<pre>/<textarea>
    body) holding the part, when it parses. None when there is none: a paragraph of a template shown whole (a .txt
    real template: its own statements are its context) is not judged alone."""
    unit = units.enclosing(part, start) if units is not None else None
    if unit is None and spans is not None:
        unit = spans.holding(start, start + len(part))
        if unit is not None and not tpl.parses(spans.source[unit[0]:unit[1]]):
            unit = None
    return unit if unit is not None and first < unit[0] else None


class _SpanIndex:
    """:func:`weightwarden.artifact.code_blocks.unit_spans` of a text (computed on first use), and the innermost
    one holding a range (a few candidates: units nest shallowly)."""

    def __init__(self, source: str, spans: list[tuple[int, int]] | None = None) -> None:
        self.source = source
        self.spans: list[tuple[int, int]] | None = spans
        self.starts: list[int] = [a for a, _b in spans] if spans is not None else []

    def holding(self, begin: int, end: int) -> tuple[int, int] | None:
        if self.spans is None:
            self.spans = unit_spans(self.source)
            self.starts = [a for a, _b in self.spans]
        top = bisect.bisect_right(self.starts, begin)
        for k in range(top - 1, max(top - _MAX_UNIT_CANDIDATES, 0) - 1, -1):
            if self.spans[k][1] >= end:
                return self.spans[k]
        return None


class _Units:
    """Round 32: the units of a page a reader copies whole (:func:`weightwarden.artifact.code_blocks.unit_spans`),
    and Jinja's reading of each that parses (computed on first use). The 88 real templates shown in a fence or a
    <textarea> inside {% raw %} got 99 false highs: their paragraphs (the suffix of a hidden opener ends at a blank
    line) and the pieces after their statements were analysed out of the template's context. A part inside such a
    unit is what the reader copies only as part of the unit, and the unit is analysed as one template. Coverage
    is decided by Jinja's own reading of the unit (round 32, class 4: never the recovery's lexing)."""

    def __init__(self, source: str, spans: list[tuple[int, int]] | None = None,
                 elements: list[tuple[int, int]] | None = None) -> None:
        self.source = source
        self.spans = unit_spans(source) if spans is None else spans  # a page view's own units (helper tpl35)
        self.starts = [a for a, _b in self.spans]
        self.readings: dict[tuple[int, int], frozenset[tuple[int, str]] | None] = {}
        self.analysed: set[tuple[int, int]] = set()
        self.elements = elements or []  # a page view's units, when parts inside them are judged as them (tpl36)
        self.element_starts = [a for a, _b in self.elements]

    def inert(self, part: str, start: int) -> bool:
        """Helper tpl36 (the 88 real templates in a <textarea> inside {% raw %}, round 32's wrapper: the old view lost
        the <textarea>'s content; the HTML5 views show it as the pages do, Markdown-processed inside the element on
        Hugging Face, HTML-parsed into paragraphs on GitHub (its tag filter), where it no longer parses): whether
        every tag of ``part`` (at ``start``) that carries an expression (raw markers aside) lies in a unit of a page
        view (an element, a cell, a block a reader copies whole) whose innermost one Jinja does not parse, the part
        not being that unit. A reader copies the unit, which renders nothing; a piece of it read alone is no unit of
        the page (as _within_alike reads a view's code blocks). The raw text keeps its own readings (round 30's
        hidden parts among them)."""
        if not self.elements:
            return False
        try:
            tags = [(at, t) for at, t in expression_tags(part) if not _RAW_MARKER.match(t)]
        except RecoveryBound:
            return False
        if not tags:
            return False
        first = start + min(at for at, _t in tags)
        last = start + max(at + len(t) for at, t in tags)
        top = bisect.bisect_right(self.element_starts, first)
        for k in range(top - 1, max(top - _MAX_UNIT_CANDIDATES, 0) - 1, -1):
            a, b = self.elements[k]
            if b >= last and (a, b) != (start, start + len(part)):
                body = self.source[a:b]
                return has_jinja_markup(body) and not tpl.parses(body)
        return False

    def enclosing(self, part: str, start: int) -> tuple[int, int] | None:
        """A unit that parses and whose reading holds every tag of ``part`` (at ``start``) at its place: Jinja's
        reading of the part when the part parses (its plain text and inert bodies outside the unit render nothing
        that the analysis reads), else the tags the recovery scans in it. None when there is none, past a few
        candidates (units nest shallowly) or past the bounds."""
        try:
            tags = jinja_tags(part)
            if tags is not None:
                tags = frozenset((at, t) for at, t in tags if not _BARE.match(t.rstrip()))
            else:
                tags = expression_tags(part)  # what the part's recovery would analyse
        except RecoveryBound:
            return None
        if not tags:
            return None
        first = start + min(at for at, _t in tags)
        last = start + max(at + len(t) for at, t in tags)
        top = bisect.bisect_right(self.starts, first)
        for k in range(top - 1, max(top - _MAX_UNIT_CANDIDATES, 0) - 1, -1):
            span = self.spans[k]
            if span[1] < last or span == (start, start + len(part)):
                continue
            live = self._reading(span)
            if live is not None and all(kept_at(t, start + at, live, self.source) for at, t in tags):
                return span
        return None

    def _reading(self, span: tuple[int, int]) -> frozenset[tuple[int, str]] | None:
        if span not in self.readings:
            body = self.source[span[0]:span[1]]
            live = None
            if has_jinja_markup(body) and tpl.parses(body):
                try:
                    live = frozenset((span[0] + at, t) for at, t in whole_reading(body).live)
                except RecoveryBound:
                    live = None
            self.readings[span] = live
        return self.readings[span]


_BARE = re.compile(r"\{%[-+]?\s*(?:end[a-z]+|else|break|continue)\s*[-+]?%\}\Z")
_RAW_MARKER = re.compile(r"\{%[-+]?\s*(?:end)?raw\s*[-+]?%\}\Z")
# Units tried as a part's enclosing one.
_MAX_UNIT_CANDIDATES = 64


# Parts of a text recovered one by one when they read otherwise than the whole (each is analysed: fail closed past
# it with WW-TPL-002).
MAX_RECOVERED_PARTS = 1024
# Where a part ends: a backtick run, an inline-code or table-cell HTML tag, a blank line; a part whose recovery does
# not parse is split again at any line end and at table pipes ("|" is also Jinja's filter operator, so the part
# is kept whole too).
_PART_SPLIT = re.compile(r"`+|</?(?:code|kbd|samp|pre|td|th|tt)\b[^<>]*>|\n[ \t]*\n", re.I)
_LINE_SPLIT = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _page_views(text: str, names: set[str], code: CodeObject, ctx: CheckContext,
                seen: set[tuple[str, str]]) -> Iterator[Finding]:
    """Round 30: a weak text that parses as a whole, read as a page (:func:`_page`), and so is the page as its
    reader sees it (:func:`_shown`, helper tpl35; rounds 27 and 29 had two partial views) when it parses; a page
    that does not parse is recovered as in a text that does not parse, with its units. Fail closed: a bound hit is
    WW-TPL-002."""
    picked_up = code.details.get("picked_up")
    try:
        emitted: set[tuple[str, str, str]] = set()
        yield from _distinct(_page(text, names, code, ctx, seen, view=False), emitted)
        for shown in _shown(text, code, ctx):  # helper tpl36: each host's reading of the page
            if tpl.parses(shown.text):
                yield from _distinct(_page(shown.text, names, code, ctx, seen, view=True, page=shown), emitted)
            else:
                yield from _distinct(_recovered_view(shown.text, names, code, ctx, seen, spans=shown.part_spans,
                                                     elements=shown.part_spans), emitted)
    except RecoveryBound as exc:
        yield COMPUTED_ATTR.found_in(
            ctx.file, f"{code.location} (recovered text)",
            f"a text read as a page could not be read unit by unit ({exc}): not analysed", f"{exc} [{picked_up}]")


def _page(source: str, names: set[str], code: CodeObject, ctx: CheckContext, seen: set[tuple[str, str]],
          view: bool, page: PageView | None = None) -> Iterator[Finding]:
    """Round 30: the units of a text (or view) that Jinja parses as a whole, read as a host that renders one of them
    alone reads it. Jinja's whole reading (:func:`weightwarden.artifact.recovery.whole_reading`) keeps a comment,
    a raw body and a string literal inert; a unit a reader copies from inside one is not:
    - its code blocks (fenced, indented, HTML), each analysed when it parses (blocks whose tags are all live tags of
      the whole, by text, are read alike and skipped);
    - the parts between round 29's delimiters (backtick runs, code-like and cell HTML tags, blank lines), and
    - from every opener the whole hides, when a markup delimiter lies between it and the Jinja marker before it
      (see :func:`_hidden_parts`), the rest of its paragraph.
    Each part whose tags are not all live tags of the whole at their place is analysed as Jinja reads it when it
    parses on its own (a raw body in it stays inert: a README that quotes an attack in prose inside raw is not a
    unit a reader extracts), else recovered as in a text that does not parse (fail closed). The whole text is not
    recovered: a host that renders the whole renders its comments and raw bodies inert, which the whole's own
    analysis already reads. A view (not the text itself) also gets its whole analysed. Raises RecoveryBound."""
    source = normalise_newlines(source)
    reading = whole_reading(source)
    if view:
        yield from _page_part_issues(source, 1, names, code, ctx, seen)
    live_texts = {_WS.sub(" ", t).strip() for _at, t in reading.live}
    first = _first_statement(reading.live)
    yield from _fenced_blocks(source, names, code, ctx, seen, live_texts=live_texts, view=view,
                              statement_line=source.count("\n", 0, first) + 1 if first is not None else 0, page=page)
    # Not in a view (rendered Markdown, entity-decoded): a view's unit that no longer parses (an inline <textarea>'s
    # '\\"' rendered as '"') would have its in-string unit starts read out of context (false highs on real templates).
    hidden, covered = _hidden_parts(source, reading.hidden, inline_starts=not view)
    units = _Units(source, page.part_spans if page is not None else None,
                   page.part_spans if page is not None else None)
    yield from _read_parts(hidden, source, reading.live, names, code, ctx, seen, parse_first=True, units=units)
    yield from _read_parts(_delimited_parts(source, _PART_SPLIT), source, reading.live | covered, names, code, ctx,
                           seen, parse_first=True, units=units)


# Whitespace runs, compared as one space, ends stripped (a block's multi-line tag is de-indented; a "-}}" tag takes
# the whitespace after it, which a block may cut).
_WS = re.compile(r"\s+")


def _live_alike(body: str, live_texts: set[str]) -> bool:
    """Whether every tag of ``body`` that carries an expression and parses on its own has the text of a live tag of
    the whole (positions aside). False past the bounds (the block is analysed)."""
    try:
        return reads_alike(body, 0, {(at, t) for at, t in tag_spans(body) if _WS.sub(" ", t).strip() in live_texts})
    except RecoveryBound:
        return False


def _within_alike(block: CodeBlock, fence_live: dict[str, set[str] | None], view: bool = False) -> bool:
    """Whether ``block`` lies in a unit a reader copies whole (``block.within``: a fence, a <textarea>, a code span,
    each itself a code block analysed when it parses) that parses and reads it alike: every tag of the block is a
    live tag of the unit's whole reading (by text, whitespace runs as one space). Units that do not parse, or are
    past the bounds, cover nothing (the region is analysed on its own, as before), except in a view (``view``: the
    rendered-Markdown or entity-decoded text). A view changes a fence's body where no Markdown renderer does
    (backslash escapes and references are shown literally in a fence: a real template's '\\"' read as '"' does not
    parse), so a region of a view's unit that does not parse is read as that unit (renders nothing); the text's own
    units and their regions are read in the text's pass."""
    for unit in block.within:
        if unit not in fence_live:
            fence_live[unit] = _unit_live(unit)
            if fence_live[unit] is None and (shown := displayed_fragment(unit)) != unit:
                # Helper tpl35 (round 34 FP-A): an HTML element's content (a <pre> whose template is HTML-escaped,
                # as HTML requires) is the template the page shows: read as shown, and the region as shown.
                fence_live[_SHOWN + unit] = _unit_live(shown)
        live = fence_live[unit]
        if live is not None and _live_alike(block.body, live):
            return True
        shown_live = fence_live.get(_SHOWN + unit)
        if shown_live is not None and _shown_alike(block.body, shown_live):
            return True
    return view and bool(block.within) and all(fence_live[u] is None for u in block.within)


def _shown_alike(body: str, shown_live: set[str]) -> bool:
    """Whether every tag of the raw ``body`` that carries an expression and parses on its own, as the page shows it
    (references decoded, tags removed: :func:`displayed_fragment` of the tag), is a live tag of the shown unit. A
    tag the page does not show at all (inside an HTML comment) is not one: the region is then judged raw."""
    try:
        return reads_alike(body, 0, {(at, t) for at, t in tag_spans(body)
                                     if _WS.sub(" ", displayed_fragment(t)).strip() in shown_live})
    except RecoveryBound:
        return False


def _without_shown_elements(source: str) -> str:
    """Helper tpl35 (round 34 FP-A): ``source`` with the raw content of each HTML element a reader copies whole
    (``<pre>``, ``<code>``, ``<textarea>``, ...) blanked to spaces (lines kept) when the page shows that content as a
    template that parses and every raw tag of it, as shown, is a live tag of that template: the page's units judge
    it whole as shown, and the recovery's raw reading of it (a template HTML-escaped as HTML requires: '&gt;' in a
    tag drops it and reads the rest out of context) reads nothing the page shows otherwise. A tag the page does not
    show (an HTML comment's) keeps the content in the raw reading."""
    out: list[str] = []
    pos = 0
    for a, b in unit_spans(source):
        if a < pos or a == 0 or source[a - 1] != ">":
            continue  # a fence or code span (shown verbatim), or inside a span already blanked
        body = source[a:b]
        if ("&" not in body and "<" not in body) or ("{{" not in body and "{%" not in body and "&" not in body):
            continue
        live = _unit_live(displayed_fragment(body))
        if live is None or not all(_WS.sub(" ", displayed_fragment(t)).strip() in live
                                   for _at, t in tag_spans(body) if not _BARE.match(t.rstrip())):
            continue
        out += [source[pos:a], re.sub(r"[^\n]", " ", body)]
        pos = b
    if not out:
        return source
    out.append(source[pos:])
    return "".join(out)


def _unit_live(unit: str) -> set[str] | None:
    """The live tag texts (whitespace runs as one space) of Jinja's reading of a unit that parses, else None."""
    if not tpl.parses(unit):
        return None
    try:
        return {_WS.sub(" ", t).strip() for _at, t in whole_reading(unit).live}
    except RecoveryBound:
        return None


# The key prefix of a unit's shown reading in _within_alike's cache (a character no unit body starts with).
_SHOWN = "\x00shown:"


# Characters of the parts read from hidden openers, per text: a multiple of its length plus a constant; past it,
# RecoveryBound (WW-TPL-002, fail closed).
HIDDEN_BUDGET_FACTOR = 4
HIDDEN_BUDGET_BASE = 1024 * 1024
# What can start a unit a reader copies, between a Jinja marker and a hidden opener: a backtick run (code span,
# fence), a table pipe, any HTML tag's "<" or ">" (any element: <textarea>, <span>, an attribute's end), a blank
# line (a paragraph, an indented or reST literal block). Not a single line end or a word: a README that quotes an
# attack in prose inside raw shows no unit that leaves the raw marker out.
_UNIT_START = re.compile(r"[`|<>]|\n[ \t]*\n")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# Round 32 (class B): where an inline unit opens before a marker: an HTML element's tag (its "<" and its ">"), a
# backtick run, a table cell's pipe (spaced, or at a line start). Not "<|im_start|>" or a filter's "|" inside a
# template's own strings and tags: a paragraph of a real template shown in raw is full of them, and a unit starting
# there (read out of the template's context when the paragraph does not parse) is none a reader takes.
_INLINE_UNIT_START = re.compile(r"<(?=[A-Za-z/!])|(?<=<)[A-Za-z/!][^<>\n]*>|`+|(?:^|(?<=[ \t]))\|(?=[ \t])", re.M)
_JINJA_MARKER = re.compile(r"\{[{%#]|[}%#]\}")
_TAG_OPENER = re.compile(r"\{[{%]")


def _hidden_parts(text: str, hidden: tuple[tuple[int, int, int], ...], inline_starts: bool = True
                  ) -> tuple[list[tuple[str, int, int, bool]], set[tuple[int, str]]]:
    """Round 30 (class 3): the parts a host may read from an opener a reading hides (``hidden``: (opener, start and
    end of the construct hiding it): a comment, a raw body, a string literal of another tag), whatever unit it
    renders, when a unit can start between the Jinja marker before the opener (inside its construct) and the opener
    (:data:`_UNIT_START`). No list of host units. Raises RecoveryBound past HIDDEN_BUDGET_* characters.

    Round 31 (linear): round 30 read, from EVERY such opener, the rest of its paragraph; a GFM table is one
    paragraph, so a reference table of N rows with a code span each read ~N^2/2 rows and a benign page hit the budget
    (WW-TPL-002). Readings from two openers coincide from the first tag start they share (Jinja's lexer reads on
    from there alike). So a suffix (opener to paragraph end) is read from an opener only when no earlier suffix of
    its paragraph reads a tag starting at it; an opener that one does read is the same reading with less before it,
    and what it renders without that context is read as a piece: from it to the next such opener. Pieces are read
    only after a statement tag of the suffix (a name bound or a block opened before the opener can make the piece
    read otherwise alone: ``{% set messages = [] %}`` then ``{{ messages.append(1) }}``); output tags bind
    nothing. Suffixes start only where readings diverge (a string literal or comment swallowing the opener), pieces
    partition a suffix: the characters read are linear in a benign text and budgeted in any.

    Also returned: the tags, as (offset, text), that a suffix read reads before its first statement. A delimited
    part (a code span of a table row) whose tags are all among them reads as it does in that suffix (only output
    tags before it), so the suffix's analysis covers it: a 3,000-row table is one reading, not 3,000 parts.

    Round 32 (class B, helper tpl33): suffixes are read from :func:`_unit_starts` (also inline unit starts before a
    marker of the construct), and a suffix covers every later start it reads in step (:func:`_suffix_reading`)."""
    covered: set[tuple[int, str]] = set()
    if not hidden:
        return [], covered
    starts = _unit_starts(text, hidden, inline_starts)
    if not starts:
        return [], covered
    newlines = [m.start() for m in re.finditer("\n", text)]
    budget = HIDDEN_BUDGET_FACTOR * len(text) + HIDDEN_BUDGET_BASE
    out: list[tuple[str, int, int, bool]] = []

    def take(begin: int, stop: int) -> None:
        nonlocal budget
        budget -= stop - begin
        if budget < 0:
            raise RecoveryBound("more than the recovery's budget read from openers a comment, raw body or string "
                                "hides")
        out.append((text[begin:stop], bisect.bisect_left(newlines, begin) + 1, begin, True))

    i = 0
    while i < len(starts):
        begin = starts[i]
        blank = _BLANK_LINE.search(text, begin)
        stop = blank.start() if blank else len(text)
        take(begin, stop)
        tags, in_sync = _suffix_reading(text[begin:stop])
        tag_starts = {at for at, _t in tags}
        first_statement = min((at for at, t in tags if _binds_or_opens(t)), default=stop - begin)
        covered.update((begin + at, t) for at, t in tags if at < first_statement)
        i += 1
        # Round 32 (class B): a later start that this reading passes in its data state (not inside a comment, raw
        # body or string literal that hides an opener after it) reads on from there as this suffix does.
        sorted_tags = sorted(tag_starts)
        group: list[int] = []
        while i < len(starts) and starts[i] < stop and in_sync(starts[i] - begin):
            # What it renders without this suffix's context is read as a piece from the suffix's first tag at or
            # after it (round 31: only after a statement of the suffix; output tags before it bind nothing).
            k = bisect.bisect_left(sorted_tags, starts[i] - begin)
            if k < len(sorted_tags) and sorted_tags[k] > first_statement and (not group
                                                                              or group[-1] != begin + sorted_tags[k]):
                group.append(begin + sorted_tags[k])
            i += 1
        for k, piece in enumerate(group):
            take(piece, group[k + 1] if k + 1 < len(group) else stop)
    return out, covered


def _unit_starts(text: str, hidden: tuple[tuple[int, int, int], ...], inline_starts: bool) -> list[int]:
    """Red team round 32 (class B): where a unit that renders a hidden opener live may begin. Round 30 asked only
    whether a unit start lies between the LAST Jinja marker before the opener and the opener; a unit may hold
    markers before its payload (``<textarea>{# default #}PAYLOAD``, ``<span>}}PAYLOAD``, a table cell opening
    with a comment), which Jinja reads as inert there. So every unit start (:data:`_UNIT_START`) inside a hiding
    construct, before the last opener it hides, is a place a suffix may be read from (each paragraph's suffixes
    then cover the later ones they read in step: :func:`_suffix_reading`)."""
    last: dict[tuple[int, int], int] = {}
    for opener, start, end in hidden:
        key = (start, end)
        last[key] = max(last.get(key, opener), opener)
    ends = [m.end() for m in _JINJA_MARKER.finditer(text)]
    starts: set[int] = set()
    for opener, start, _end in hidden:
        i = bisect.bisect_right(ends, opener) - 1
        after = max(start + 2, ends[i] if i >= 0 else 0)
        if after < opener and _UNIT_START.search(text, after, opener):
            starts.add(opener)  # round 30: nothing but plain text between a unit start and the opener
    for (start, _end), opener in sorted(last.items()) if inline_starts else ():
        # Round 32 (class B): an element, cell or code span opening before a marker of the construct. Not a blank
        # line there: a template's string literal holding "\n\n" is one in a fence shown in raw, and a paragraph
        # cut inside a string is no unit a reader takes (limit: docs/decisions.md, round 32 rest).
        starts.update(m.end() for m in _INLINE_UNIT_START.finditer(text, start + 2, opener))
    return sorted(starts)


def _suffix_reading(suffix: str) -> tuple[set[tuple[int, str]], Callable[[int], bool]]:
    """:func:`_suffix_tags` and whether an offset of ``suffix`` is one its reading passes in step with a reading
    that starts there: not inside a comment, raw body or string literal that hides an opener after the offset
    (a reading from inside one that hides none reads plain text up to its end and then the same tags). For a
    suffix that does not parse, only offsets before its first comment or raw marker outside every kept tag."""
    tags = _suffix_tags(suffix)
    # Jinja's lexing of the suffix (comments to their first "#}", raw bodies to endraw, tags as Jinja's lexer ends
    # them), which does not need the suffix to parse: only the constructs hiding an opener keep a reading out of step.
    last: dict[int, int] = {}
    for opener, start, _end in whole_reading(suffix).hidden:
        last[start] = max(last.get(start, opener), opener)
    spans = _Spans(sorted(last.items()))
    if tpl.parses(suffix):
        return tags, spans.outside
    # A suffix that does not parse is analysed through its recovery, which lexes comment and raw bodies (class D):
    # past its first comment or raw marker it proves nothing.
    marker = _BODY_MARKER.search(suffix)
    cut = marker.start() if marker else len(suffix)
    return tags, lambda at: at < cut and spans.outside(at)


class _Spans:
    """Disjoint (start, end) spans, sorted: whether an offset lies strictly inside none of them (a bisection)."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = spans
        self.starts = [a for a, _b in spans]

    def outside(self, at: int) -> bool:
        k = bisect.bisect_left(self.starts, at) - 1
        return k < 0 or not at < self.spans[k][1]


def _suffix_tags(suffix: str) -> set[tuple[int, str]]:
    """The tags a part's analysis reads, as (offset, text): Jinja's whole reading when it parses (it is analysed
    as it is), else the tags its recovery keeps (none when it does not recover)."""
    if tpl.parses(suffix):
        return set(whole_reading(suffix).live)
    recovered, _some, kept = recover_with_spans(suffix)
    if recovered is None:
        return set()
    # Round 32 (class 4): the recovery lexes comment and raw bodies, which Jinja does not: its tags prove nothing
    # about what a unit renders past the suffix's first comment or raw marker ('{{ " #}PAYLOAD{# " }}' read as one
    # tag). Only the tags before it are Jinja's reading too.
    marker = _BODY_MARKER.search(suffix)
    cut = marker.start() if marker else len(suffix)
    return {(at, t) for at, t in kept if at + len(t) <= cut}


_BODY_MARKER = re.compile(r"\{#|\{%[-+]?\s*raw\s*[-+]?%\}")
# Statements that bind nothing and open no block: a piece after them reads as it does alone.
_INERT_STATEMENTS = re.compile(r"\{%[-+]?\s*(?:include|extends)\b")


def _binds_or_opens(tag: str) -> bool:
    return tag.startswith("{%") and not _INERT_STATEMENTS.match(tag)


def _page_part_issues(part: str, first_line: int, names: set[str], code: CodeObject, ctx: CheckContext,
                      seen: set[tuple[str, str]]) -> Iterator[Finding]:
    yield from _reading_issues(part, first_line, _PAGE_UNIT, names, code, ctx, seen)


def _delimited_parts(text: str, split: re.Pattern[str]) -> list[tuple[str, int, int, bool]]:
    """The tag-holding parts of ``text`` between ``split`` delimiters (for the line split, also split at "|"), each
    with the line it starts on (counted at "\n"), its offset in ``text`` and whether it may be split again."""
    out: list[tuple[str, int, int, bool]] = []
    pos = 0
    line = 1
    for m in [*split.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        part = text[pos:end]
        if "{{" in part or "{%" in part:
            out.append((part, line, pos, split is _PART_SPLIT))
            if split is _LINE_SPLIT and "|" in part:
                off = pos
                for piece in part.split("|"):
                    if "{{" in piece or "{%" in piece:
                        out.append((piece, line, off, False))
                    off += len(piece) + 1
        line += text.count("\n", pos, m.end() if m is not None else len(text))
        if m is None:
            break
        pos = m.end()
    return out


def _recovered_issues(recovered: str, first_line: int, names: set[str], code: CodeObject, ctx: CheckContext,
                      seen: set[tuple[str, str]]) -> Iterator[Finding]:
    yield from _reading_issues(recovered, first_line, _RECOVERED, names, code, ctx, seen)


# How a reading of a text other than the whole is reported: its label in the location, what the message adds, and
# whether an issue without a line of its own is placed at the reading's first line.
_PAGE_UNIT = ("page unit", "in a unit of a text read as a page that a reader may copy on its own: a comment, raw body "
              "or string literal hides it from the whole reading only", True)
_RECOVERED = ("recovered text", "in the template recovered tag by tag from a text Jinja cannot parse as a whole: "
              "stray tags dropped, blocks balanced", False)


_ALONE = ("page unit", "in a unit of a text read as a page that a reader may copy on its own: read alike in the "
          "whole, but there a statement of another unit (or of a comment or raw body) gives it a context it does not "
          "have alone", True)


def _context_issue(issue: tpl.TemplateIssue) -> bool:
    """Round 32 (class C): the issues a unit gets alone and not in a context that binds names before it: changing
    render data in place, reading attributes or items by names that come from the render data, host names. Not the
    unresolved-key and unknown-call kinds that any fragment of a real template gets out of its loop
    (``messages[loop.index0 - 1]``): those are not context hiding an attack, only context missing."""
    if issue.kind == tpl.COMPUTED_ATTR:
        return "from the render data" in issue.message or issue.message.startswith("|attr()")
    return issue.kind in _CONTEXT_KINDS


_CONTEXT_KINDS = frozenset({tpl.RENDER_MUTATION, tpl.HOST_OBJECT, tpl.DUNDER, tpl.ESCAPE_ROOT, tpl.BUILT_NAME,
                            tpl.PRIVATE_ATTR})


def _first_statement(tags: AbstractSet[tuple[int, str]]) -> int | None:
    """The offset of the first tag that binds a name or opens a block (round 31's statement), or None."""
    return min((at for at, t in tags if _binds_or_opens(t)), default=None)


def _reading_issues(text: str, first_line: int, reading: tuple[str, str, bool], names: set[str], code: CodeObject,
                    ctx: CheckContext, seen: set[tuple[str, str]],
                    keep: Callable[[tpl.TemplateIssue], bool] | None = None) -> Iterator[Finding]:
    """The findings of the analysis of ``text`` (one reading of a larger text, starting at ``first_line``), less the
    issues ``seen`` already reported (and, with ``keep``, those it rejects)."""
    label, note, at_first_line = reading
    picked_up = code.details.get("picked_up")
    for issue in tpl.analyze_template(text, names):
        if (issue.kind, issue.message) in seen or (keep is not None and not keep(issue)):
            continue
        seen.add((issue.kind, issue.message))
        line = first_line + issue.line - 1 if issue.line else (first_line if at_first_line else 0)
        where = f"{code.location} line {line} ({label})" if line else f"{code.location} ({label})"
        yield _BY_KIND[issue.kind].found_in(ctx.file, where, f"{issue.message} ({note})",
                                            f"{issue.evidence} [{picked_up}]")


CHECKS = {CodeKind.CHAT_TEMPLATE: check_template}
