"""The indicator set: what one party derived, in a versioned JSON form (``weightwarden.indicator-set/v1``).

An indicator set is a plain JSON object, so it can travel as one field of another record (a registry
incident's ``indicators``), as a file, or inside a STIX bundle (:mod:`.stix`). It always says what it
contains (``contains``): by default keyed digests and sketches only — no prompt text, no local references
(file names, eval item ids: an item id of a public benchmark names the prompt) — and the indicators are
in a canonical order (prompts by atlas, decoded, category, digest), so their order reveals neither the order of
the evidence nor a sequence of per-prompt choices.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from weightwarden.indicators.errors import IndicatorFormatError
from weightwarden.indicators.sketch import Scheme, decode_signature, encode_signature

# v2 (red team round 9, class 1): sealed sketches are lower-case hex instead of base64, whose 64-symbol alphabet
# spelled readable text on the page. v1 is refused with a message (not converted): see _refuse_old_schema.
SET_SCHEMA = "weightwarden.indicator-set/v2"
SET_SCHEMA_V1 = "weightwarden.indicator-set/v1"
MAX_SET_BYTES = 64 * 1024 * 1024
MAX_INDICATORS = 100_000  # a 64 MiB file holds ~75,000 prompt indicators; LSH memory grows with 64 bands each
MAX_JSON_CONTAINERS = 2_000_000  # see read_json_bounded
# Round 2 (R5): containers were bounded, scalars not: 13 M two-character strings in 'sources' took 2.1 GB.
# Every JSON value but the first of its container follows a comma, so commas + containers bound the number of
# values (commas inside strings only over-count). An honest 64 MiB set has ~12 values per indicator: ~1.2 M.
MAX_JSON_SEPARATORS = 2_000_000
# Bounds on each field (an honest set is far below them); the lists are small by nature.
MAX_TEXT_CHARS = 256 * 1024  # one raw attack prompt (local sets only)
MAX_FIELD_CHARS = 4096  # ref, producer, created, category
MAX_SHORT_LIST = 16  # sources, decoded layers
MAX_SHORT_CHARS = 64  # each of those
MAX_MODEL_INDICATORS = 256  # models attacked in one set: a handful in practice; bounds STIX relationships
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "red")
ATLAS_JAILBREAK = "AML.T0054"
ATLAS_PROMPT_INJECTION = "AML.T0051"
MODEL_KINDS = ("weights-root", "model-file-sha256", "fingerprint")
# Categories that are taxonomy ids of the built-in attack suites (AdvBench harm areas, HarmBench, MITRE ATT&CK
# tactics of cyber-misuse, tool-injection and CyberSecEval prompt-injection variants). A category is free text
# in an authored suite and an eval log (it can carry prompt content or a local name), so only these leave the
# machine unless the user asks for text (--include-category-text).
KNOWN_CATEGORIES = frozenset({
    "Autonomy", "Environmental", "Financial and Business", "Human Rights and Civil Liberties", "Physical",
    "Political and Economic", "Psychological", "Reputational", "Societal and Cultural", "uncategorised",
    "TA0001 Initial Access", "TA0002 Execution", "TA0003 Persistence", "TA0004 Privilege Escalation",
    "TA0005 Defense Evasion", "TA0006 Credential Access", "TA0007 Discovery", "TA0008 Lateral Movement",
    "TA0009 Collection", "TA0010 Exfiltration", "TA0011 Command and Control", "TA0040 Impact",
    "TA0042 Resource Development", "TA0043 Reconnaissance",
    "direct", "fake_system_note", "html_comment", "markdown_hidden", "multilingual", "structured_data",
    "tool_call_request",
    "different_user_input_language", "few_shot_attack", "hypothetical_scenario", "ignore_previous_instructions",
    "indirect_reference", "many_shot_attack", "mixed_techniques", "output_formatting_manipulation",
    "overload_with_information", "payload_splitting", "persuasion", "repeated_token_attack", "system_mode",
    "token_smuggling", "virtualization",
})
# Red team round 4 (G2): these lists were free text bounded only in size, so 16 x 64 characters per prompt
# ('decoded') and per set ('sources') carried anything through a "digests only" export. Now each entry must be a
# name this package writes: a jailbreak layer of indicators.normalise (its wrappers and the generic decodings;
# a test keeps the two in step) or a kind of evidence of derive_set.
# Round 24 prep: the public toolkits' data encodings (indicators.encodings.LAYERS; a test keeps the two in step).
TOOLKIT_LAYERS = ("mime", "escapes", "url", "quoted_printable", "binary", "hex", "charcode", "base32", "uuencode",
                  "base85", "morse", "braille", "nato")
# Red team round 25: the toolkits' own fixed wrappers around a prompt (indicators.toolkit_templates), peeled as one layer.
TOOLKIT_TEMPLATE = "toolkit_template"
# Red team round 29 (class B): a published jailbreak template peeled (indicators.published_templates), and PyRIT's
# CodeChameleon read back with its template peeled (indicators.codechameleon); normalise names both (a test checks).
PUBLISHED_LAYERS = ("published_template", "codechameleon")
KNOWN_LAYERS = frozenset({"roleplay", "prefix_injection", "refusal_suppression", "base64", "rot13", "leetspeak",
                          "low_resource", "multi_turn", "reversed", "caesar", "atbash", "invisible", TOOLKIT_TEMPLATE,
                          *PUBLISHED_LAYERS, *TOOLKIT_LAYERS})
KNOWN_SOURCES = frozenset({"eval-log", "folder", "incident", "model"})
# Red team round 6 (class 1): each value was checked on its own, so the *sequence* was free: 16 layer names in any
# order with repeats per prompt (48 bits), any ATLAS id (23 bits), 16 sources in any order, microseconds and any
# year in 'created', duplicate digests. A set now holds only what derive writes, in its one canonical form:
# 'decoded' is the *set* of layers peeled (at most normalise.MAX_DEPTH, no repeats, in LAYER_ORDER: the outermost-
# first order and repeats derive saw are no longer shared), 'atlas' one of the two techniques derive writes,
# 'sources' sorted and unique, 'created' whole seconds in UTC within CREATED_YEARS, prompts strictly sorted by
# digest (no duplicates), models strictly sorted by (kind, digest).
LAYER_ORDER = ("invisible", "roleplay", "prefix_injection", "refusal_suppression", "low_resource", "multi_turn",
               TOOLKIT_TEMPLATE, *PUBLISHED_LAYERS, "base64", *TOOLKIT_LAYERS, "rot13", "caesar", "atbash", "leetspeak", "reversed")
MAX_DECODED = 4  # normalise.MAX_DEPTH (a test keeps the two equal; importing normalise here would be circular)
ATLAS_TECHNIQUES = ("AML.T0051", "AML.T0054")
CREATED_YEARS = (2020, 2199)
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Red team round 17 (class 2): a set carried no authentication, so a relay without the key rewrote digests or
# sketches and every reader accepted it. Each set now carries ``auth``: HMAC-SHA-256 under the sub-key
# SET_MAC_LABEL of the group key over the set's canonical bytes without ``auth`` (see indicators.auth).
SET_MAC = "hmac-sha256-set/v1"
# RFC 3339 date-time (section 5.6); the values are then checked by datetime.
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})")


def prompt_order(p: PromptIndicator) -> tuple[Any, ...]:
    """The canonical order of prompt indicators. Red team round 7 (class 1c): sorted by ``exact`` alone, the
    writer chose the order through ``exact`` and each prompt's (category, decoded) choice spelled a message in that
    order (2 letters per prompt). Sorted by (atlas, decoded, category, exact), the choices reveal only how many
    prompts have each combination (a histogram), not a sequence."""
    return (p.atlas, p.decoded, p.category is not None, p.category or "", p.exact)


def encode_ref(value: str) -> str:
    r"""The one written form of a local reference (a ref, a model label, the producer), used by derive and required
    by the loader (red team round 24, class 3: derive wrote a file name's lone surrogate — a non-UTF-8 name read with
    ``os.fsdecode`` — and a raw newline, and its own loader refused the set). Bytes that are not UTF-8 are written as
    ``\xNN``; control characters and line/paragraph separators as their ``\x``/``\u`` escapes (one line in every
    text output); longer than :data:`MAX_FIELD_CHARS` is cut with "…". Idempotent (a written ref is its own form);
    a backslash already in a name is kept as it is, so the form is for reading, not for reversing."""
    try:
        raw = value.encode("utf-8", "surrogateescape")  # the bytes of a name os.fsdecode read
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogatepass")  # a surrogate surrogateescape does not make
    text = raw.decode("utf-8", "backslashreplace")
    text = "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Zl", "Zp")
                   else c for c in text)
    return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS - 1] + "…"


def check_ref(value: str | None, name: str, where: str) -> str | None:
    """``value`` if it is in the form :func:`encode_ref` writes, else :class:`IndicatorFormatError`."""
    if value is not None and encode_ref(value) != value:
        raise IndicatorFormatError(f"{where}: {name!r} holds a control character, a line break or bytes that are not "
                                   "UTF-8 (weightwarden writes local references escaped: re-derive the set)")
    return value


def check_digest(hexdigest: str, name: str, where: str) -> None:
    """Refuse a keyed digest whose bytes are readable text (randomness.digest_text_reason: HMAC output is refused
    with probability ≈ 9.2e-14). Red team round 7 (class 1a): hex of 32 ASCII bytes passed as 'exact'."""
    from weightwarden.indicators.randomness import digest_text_reason

    reason = digest_text_reason(bytes.fromhex(hexdigest))
    if reason is not None:
        raise IndicatorFormatError(f"{where}: {name!r} is not a keyed digest: {reason} (refused: it would carry "
                                   "readable text)")


def canonical_layers(layers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The canonical form of the jailbreak layers peeled off a prompt: each once, in :data:`LAYER_ORDER`."""
    seen = set(layers)
    return tuple(name for name in LAYER_ORDER if name in seen)


@dataclass(frozen=True)
class PromptIndicator:
    """One attack prompt: its keyed exact digest and keyed sketch (plus, only on request, text and ref)."""

    exact: str  # hex HMAC-SHA-256 of the canonical text
    sketch: np.ndarray  # uint32 × num_perm, keyed MinHash (low 32 bits)
    atlas: str = ATLAS_JAILBREAK
    category: str | None = None
    decoded: tuple[str, ...] = ()  # jailbreak layers peeled off before hashing (e.g. ("base64",))
    ref: str | None = None  # local reference (file, eval item): only exported with --include-refs
    text: str | None = None  # the raw prompt: only exported with --include-text

    @property
    def id(self) -> str:
        return "pi-" + self.exact[:16]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "exact": self.exact, "sketch": encode_signature(self.sketch),
                                "atlas": self.atlas, "category": self.category, "decoded": list(self.decoded)}
        if self.ref is not None:
            data["ref"] = self.ref
        if self.text is not None:
            data["text"] = self.text
        return data


@dataclass(frozen=True)
class ModelIndicator:
    """The model an attack worked on, as a keyed digest of one of its identifiers."""

    kind: str  # weights-root | model-file-sha256 | fingerprint
    digest: str  # keyed, hex
    label: str | None = None  # local name of the model: only exported with --include-refs

    @property
    def id(self) -> str:
        return "mi-" + self.digest[:16]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "kind": self.kind, "digest": self.digest}
        if self.label is not None:
            data["label"] = self.label
        return data


@dataclass(frozen=True)
class IndicatorSet:
    scheme: Scheme
    prompts: tuple[PromptIndicator, ...]
    models: tuple[ModelIndicator, ...] = ()
    producer: str | None = None
    created: str = ""
    tlp: str = "amber"
    sources: tuple[str, ...] = ()  # kinds of evidence ("eval-log", "folder", "incident"), never paths
    schema: str = SET_SCHEMA
    # The set's authentication tag (hex HMAC-SHA-256, indicators.auth.sign_set), or None for a set not (yet)
    # signed: such a set is written without 'auth', and no reader accepts it (red team round 17, class 2).
    auth: str | None = None

    def contains(self) -> dict[str, Any]:
        """What this set holds, stated in the export so a reader knows before sharing it further."""
        text = any(p.text is not None for p in self.prompts)
        # Red team round 4 (G2): the producer is free text naming who shares (an organisation, a person): it is
        # a local reference, kept only on request like file names and model labels.
        refs = (any(p.ref is not None for p in self.prompts) or any(m.label is not None for m in self.models)
                or self.producer is not None)
        free = any(p.category is not None and p.category not in KNOWN_CATEGORIES for p in self.prompts)
        return {
            "prompt_indicators": len(self.prompts),
            "model_indicators": len(self.models),
            "keyed_exact_digests": True,
            "keyed_sketches": True,
            "sealed_sketches": True,
            "raw_text": text,
            "local_references": refs,
            "free_text_categories": free,
            "notice": (
                # Red team round 5 (note): `decoded` is kept (it tells a receiving team which jailbreak
                # wrapping an attack used, from a fixed list of layer names) and named here as readable.
                "Keyed digests and sealed keyed MinHash sketches only; readable without the group key: the "
                "number of indicators, their ATLAS technique, known taxonomy categories, the jailbreak layers "
                "decoded before hashing (e.g. base64), the kinds of evidence, the TLP, the sketch parameters "
                "and the creation time."
                if not (text or refs or free) else
                "CONTAINS " + " AND ".join(
                    x for x, on in (("RAW PROMPT TEXT", text), ("LOCAL REFERENCES", refs),
                                    ("FREE-TEXT CATEGORIES", free)) if on
                ) + ": share only under the stated TLP with people who may read attack prompts."
            ),
        }

    def without_private(self, *, keep_text: bool = False, keep_refs: bool = False,
                        keep_category_text: bool = False) -> IndicatorSet:
        """The set without raw text, local references and free-text categories (each kept only on request)."""
        from dataclasses import replace

        prompts = tuple(replace(p, text=p.text if keep_text else None, ref=p.ref if keep_refs else None,
                                category=p.category if keep_category_text or p.category in KNOWN_CATEGORIES
                                else None)
                        for p in self.prompts)
        models = tuple(replace(m, label=m.label if keep_refs else None) for m in self.models)
        # The tag covers the shareable part only (authenticated_json), which stripping leaves as it is: it stays valid.
        return replace(self, prompts=prompts, models=models, producer=self.producer if keep_refs else None)

    def authenticated_json(self) -> dict[str, Any]:
        """What the authentication tag covers (red team round 17, class 2): :meth:`to_json` of the shareable set
        (:meth:`without_private`: every digest, sketch, ATLAS technique, known category, decoded layers, model kind
        and digest, the TLP, scheme, sources and creation time), without the tag. Raw text, local references, the
        producer, model labels and free-text categories are not covered: never in STIX or an incident, but a JSON
        export with --include-text/--include-refs carries them, and a relay can rewrite them there (red team round
        18, class 2: readers with the key say so, match.unauthenticated_note)."""
        data = self.without_private().to_json()
        data.pop("auth", None)
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "producer": self.producer,
            "created": self.created,
            "tlp": self.tlp,
            "sources": list(self.sources),
            "contains": self.contains(),
            "scheme": self.scheme.to_json(),
            **({"auth": {"mac": SET_MAC, "tag": self.auth}} if self.auth is not None else {}),
            "models": [m.to_json() for m in sorted(self.models, key=lambda m: (m.kind, m.digest))],
            "prompts": [p.to_json() for p in sorted(self.prompts, key=prompt_order)],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "<indicator set>") -> IndicatorSet:
        if isinstance(data, dict) and data.get("schema") == SET_SCHEMA_V1:
            # Red team round 9 (class 1): decided to refuse, not to convert. A v1 sketch is base64, and a reader
            # of the file (or of a registry incident or STIX bundle relaying it) sees that string: converting on
            # load would accept text that a surface test on 64 symbols cannot reliably refuse (letter case is a
            # free choice), and the format is re-derivable from the evidence by whoever made it.
            raise IndicatorFormatError(
                f"{where}: this indicator set is in the old format {SET_SCHEMA_V1}, whose sketches are base64 (an "
                "alphabet that can spell readable text, red team round 9); it is no longer read: re-derive it "
                f"with this weightwarden (format {SET_SCHEMA}, sketches in hex)")
        if not isinstance(data, dict) or data.get("schema") != SET_SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise IndicatorFormatError(f"{where}: not a {SET_SCHEMA} indicator set (schema {found!r})")
        scheme = Scheme.from_json(data.get("scheme"), where)
        tlp = data.get("tlp")
        if tlp not in TLP_LEVELS:
            raise IndicatorFormatError(f"{where}: unknown TLP level {tlp!r} (known: {', '.join(TLP_LEVELS)})")
        raw_prompts, raw_models = data.get("prompts"), data.get("models", [])
        if not isinstance(raw_prompts, list) or not isinstance(raw_models, list):
            raise IndicatorFormatError(f"{where}: 'prompts' and 'models' must be lists")
        if len(raw_prompts) + len(raw_models) > MAX_INDICATORS:
            raise IndicatorFormatError(f"{where}: more than {MAX_INDICATORS} indicators")
        if len(raw_models) > MAX_MODEL_INDICATORS:
            raise IndicatorFormatError(f"{where}: more than {MAX_MODEL_INDICATORS} model indicators")
        prompts = tuple(_prompt_from_json(p, scheme, f"{where}: prompts[{i}]") for i, p in enumerate(raw_prompts))
        models = tuple(_model_from_json(m, f"{where}: models[{i}]") for i, m in enumerate(raw_models))
        # Red team round 7 (class 1a): text with the high bit chosen per byte passes the per-digest test (1.9e-4
        # of HMAC outputs are printable after `& 0x7f`), so a set's count of such digests is judged as a whole.
        # Round 8 (class 1): 31 ASCII chars + one NUL passed every all-32-bytes test; a set's count of digests
        # holding long printable runs is judged the same way (randomness.digest_set_reason).
        # Round 9 (class 4): the per-digest and per-sketch randomness tests run once over the whole set,
        # vectorised (they were one Python loop per byte per indicator: ~28 s of CPU for a maximal set).
        from weightwarden.indicators.randomness import (
            digest_set_reason,
            digest_text_reasons,
            sketch_set_reason,
            sketch_text_reasons,
        )

        named = [(f"{where}: prompts[{i}]", "exact", p.exact) for i, p in enumerate(prompts)]
        named += [(f"{where}: models[{i}]", "digest", m.digest) for i, m in enumerate(models)]
        raw_digests = [bytes.fromhex(h) for _, _, h in named]
        for (at, name, _), reason in zip(named, digest_text_reasons(raw_digests), strict=True):
            if reason is not None:
                raise IndicatorFormatError(f"{at}: {name!r} is not a keyed digest: {reason} (refused: it would "
                                           "carry readable text)")
        # Red team round 6 (class 1): the order and repeats of the indicators were free (to_json sorts, so any
        # other order or a repeated digest was made by hand): only the canonical order is accepted.
        # Round 7 (class 1c): the canonical order is prompt_order, so the per-prompt choices form no sequence.
        seen: set[str] = set()
        for i, p in enumerate(prompts):
            if p.exact in seen:
                raise IndicatorFormatError(f"{where}: prompts[{i}]: 'exact' is repeated (an indicator set lists "
                                           "each digest once)")
            seen.add(p.exact)
        for i in range(1, len(prompts)):
            if prompt_order(prompts[i - 1]) > prompt_order(prompts[i]):
                raise IndicatorFormatError(
                    f"{where}: prompts[{i}]: out of order (an indicator set lists its prompts sorted by atlas, "
                    "decoded, category, exact)")
        for i in range(1, len(models)):
            if (models[i - 1].kind, models[i - 1].digest) >= (models[i].kind, models[i].digest):
                raise IndicatorFormatError(f"{where}: models[{i}]: repeated or out of order (each model indicator "
                                           "once, sorted by kind and digest)")
        if prompts:
            sketches = np.stack([p.sketch.astype(">u4") for p in prompts]).view(np.uint8)
            for i, reason in enumerate(sketch_text_reasons(sketches)):
                if reason is not None:
                    raise IndicatorFormatError(f"{where}: prompts[{i}]: sketch is not random-looking bytes: {reason} "
                                               "(refused: a sealed sketch would carry readable text)")
            # Round 10 (class 1): text at the same position of every sketch, flattened by filler elsewhere.
            # Round 12: and in the order of each digest key (the prompts' digests, rows as the sketches).
            digests = np.frombuffer(b"".join(raw_digests[:len(prompts)]), dtype=np.uint8).reshape(len(prompts), -1)
            reason = sketch_set_reason(sketches, digests)
            if reason is not None:
                raise IndicatorFormatError(f"{where}: {reason} (refused: they would carry readable text)")
        reason = digest_set_reason(raw_digests)
        if reason is not None:
            raise IndicatorFormatError(f"{where}: {reason} (refused: they would carry readable text)")
        sources = short_strings(data.get("sources", []), "sources", where)
        unknown = sorted(set(sources) - KNOWN_SOURCES)
        if unknown:
            raise IndicatorFormatError(f"{where}: unknown evidence kind(s) in 'sources' {unknown[0]!r} (known: "
                                       f"{', '.join(sorted(KNOWN_SOURCES))})")
        if list(sources) != sorted(set(sources)):
            raise IndicatorFormatError(f"{where}: 'sources' must list each evidence kind once, sorted (found "
                                       f"{list(sources)[:8]!r})")
        producer, created = data.get("producer"), data.get("created", "")
        if not isinstance(producer, str | None) or not isinstance(created, str):
            raise IndicatorFormatError(f"{where}: 'producer' and 'created' must be strings")
        if len(producer or "") > MAX_FIELD_CHARS or len(created) > MAX_FIELD_CHARS:
            raise IndicatorFormatError(f"{where}: 'producer' or 'created' longer than {MAX_FIELD_CHARS} characters")
        check_ref(producer, "producer", where)
        return cls(scheme, prompts, models, producer, rfc3339(created, where), tlp, sources,
                   auth=_auth_tag(data.get("auth"), where))


def _auth_tag(value: Any, where: str) -> str:
    """The tag of a set's ``auth`` property (``{"mac": SET_MAC, "tag": <64 hex>}``). A set without one is refused:
    nothing in it could show that a relay did not rewrite it (red team round 17, class 2). Only its form is judged
    here; whether it matches the set needs the group key (indicators.auth.verify_set)."""
    if value is None:
        raise IndicatorFormatError(
            f"{where}: the indicator set carries no authentication tag ('auth'): made by a weightwarden before red "
            "team round 17, or the tag was removed; without it nobody can tell whether the set was altered after "
            "it was written, so it is refused. Derive it again with this weightwarden (`weightwarden indicators "
            "derive`), or ask its producer for a set written by this version")
    if not isinstance(value, dict) or set(value) != {"mac", "tag"} or value["mac"] != SET_MAC:
        raise IndicatorFormatError(f"{where}: 'auth' must be {{\"mac\": \"{SET_MAC}\", \"tag\": <64 lower-case hex>}}")
    tag = value["tag"]
    if not isinstance(tag, str) or not _HEX64.fullmatch(tag):
        raise IndicatorFormatError(f"{where}: 'auth' tag must be 64 lower-case hex characters")
    # An HMAC output is uniform: a tag that reads as text was written by hand (the same test as the digests').
    check_digest(tag, "auth", where)
    return tag


def rfc3339(value: str, where: str) -> str:
    """``value`` as an RFC 3339 time in UTC (``...Z``), or ``""`` for a set that does not say when it was made.
    Red team round 4 (G2/G3): 'created' was any string: 4096 characters of free text in a "digests only"
    export, and a non-time crashed the STIX export inside stix2."""
    import datetime as _dt

    if value == "":
        return ""
    match = _RFC3339.fullmatch(value)
    if not match:
        raise IndicatorFormatError(f"{where}: 'created' is not an RFC 3339 time (e.g. 2026-01-02T03:04:05Z)")
    day, clock, fraction, zone = match.groups()
    # Red team round 6 (class 1): microseconds and any year 0001-9999 were ~58 bits of choice; derive writes whole
    # seconds (a zero fraction, as STIX writes ".000", is still whole seconds).
    if fraction and fraction.strip("0"):
        raise IndicatorFormatError(f"{where}: 'created' must be in whole seconds (found a fraction {fraction!r})")
    # datetime keeps microseconds only: 1 to 9 fraction digits are cut or padded to 6
    iso = f"{day}T{clock}" + (f".{fraction[:6].ljust(6, '0')}" if fraction else "")
    try:
        when = _dt.datetime.fromisoformat(iso + ("+00:00" if zone in "Zz" else zone)).astimezone(_dt.UTC)
    except (ValueError, OverflowError):
        raise IndicatorFormatError(f"{where}: 'created' {value[:40]!r} is not a valid time") from None
    if not CREATED_YEARS[0] <= when.year <= CREATED_YEARS[1]:
        raise IndicatorFormatError(f"{where}: 'created' year {when.year} is outside {CREATED_YEARS[0]}-"
                                   f"{CREATED_YEARS[1]}")
    return when.replace(tzinfo=None).isoformat() + "Z"  # isoformat pads the year (strftime's %Y does not)


def _optional_str(data: dict[str, Any], name: str, where: str, limit: int = MAX_FIELD_CHARS) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise IndicatorFormatError(f"{where}: {name!r} must be a string")
    if value is not None and len(value) > limit:
        raise IndicatorFormatError(f"{where}: {name!r} is longer than {limit} characters")
    return value


def short_strings(value: Any, name: str, where: str) -> tuple[str, ...]:
    """A list of at most :data:`MAX_SHORT_LIST` strings of at most :data:`MAX_SHORT_CHARS` each (round 2, R5:
    'sources' with 13 M strings was accepted)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IndicatorFormatError(f"{where}: {name!r} must be a list of strings")
    if len(value) > MAX_SHORT_LIST or any(len(v) > MAX_SHORT_CHARS for v in value):
        raise IndicatorFormatError(f"{where}: {name!r} holds more than {MAX_SHORT_LIST} entries or one longer than "
                                   f"{MAX_SHORT_CHARS} characters")
    return tuple(value)


def _prompt_from_json(data: Any, scheme: Scheme, where: str) -> PromptIndicator:
    if not isinstance(data, dict):
        raise IndicatorFormatError(f"{where}: not a JSON object")
    exact = data.get("exact")
    if not isinstance(exact, str) or not _HEX64.fullmatch(exact):
        raise IndicatorFormatError(f"{where}: 'exact' must be 64 lower-case hex characters")
    atlas = data.get("atlas", ATLAS_JAILBREAK)
    if atlas not in ATLAS_TECHNIQUES:
        raise IndicatorFormatError(f"{where}: 'atlas' {str(atlas)[:40]!r} is not a MITRE ATLAS technique weightwarden writes "
                                   f"({', '.join(ATLAS_TECHNIQUES)})")
    decoded = check_layers(data.get("decoded", []), where)
    return PromptIndicator(
        exact, decode_signature(data.get("sketch"), scheme.num_perm, where, check=False), atlas,
        _optional_str(data, "category", where), decoded, check_ref(_optional_str(data, "ref", where), "ref", where),
        _optional_str(data, "text", where, MAX_TEXT_CHARS),
    )


def check_layers(value: Any, where: str) -> tuple[str, ...]:
    """``decoded`` as derive writes it (:func:`canonical_layers`), or :class:`IndicatorFormatError`."""
    decoded = short_strings(value, "decoded", where)
    unknown = sorted(set(decoded) - KNOWN_LAYERS)
    if unknown:
        raise IndicatorFormatError(f"{where}: unknown jailbreak layer in 'decoded' {unknown[0]!r} (known: "
                                   f"{', '.join(sorted(KNOWN_LAYERS))})")
    if len(decoded) > MAX_DECODED or decoded != canonical_layers(decoded):
        raise IndicatorFormatError(
            f"{where}: 'decoded' must name each layer once, at most {MAX_DECODED}, in the order "
            f"{', '.join(LAYER_ORDER)} (found {list(decoded)[:MAX_SHORT_LIST]!r})")
    return decoded


def _model_from_json(data: Any, where: str) -> ModelIndicator:
    if not isinstance(data, dict):
        raise IndicatorFormatError(f"{where}: not a JSON object")
    kind, digest = data.get("kind"), data.get("digest")
    if kind not in MODEL_KINDS:
        raise IndicatorFormatError(f"{where}: unknown model indicator kind {kind!r}")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise IndicatorFormatError(f"{where}: 'digest' must be 64 lower-case hex characters")
    return ModelIndicator(kind, digest, check_ref(_optional_str(data, "label", where), "label", where))


def read_json_bounded(path: str | os.PathLike[str], what: str, limit: int = MAX_SET_BYTES) -> Any:
    """Parse a JSON file of at most ``limit`` bytes with the strict parser (depth limit, no duplicate keys);
    ``-`` is not accepted here; every error names the file."""
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_bounded

    p = Path(path)
    if str(path) == "-":
        raise IndicatorFormatError(f"{what}: '-' (standard input) is not accepted here; give a file")
    try:
        # Red team round 5 (class 3): a regular file only (a FIFO as THEIRS or --incident hung in open()).
        raw = read_bounded(p, what, limit)
    except InputError as exc:
        raise IndicatorFormatError(exc.reason) from None
    return parse_json_bounded(raw, p, what)


def parse_json_bounded(raw: bytes, p: str | os.PathLike[str], what: str) -> Any:
    """The checks and parse of :func:`read_json_bounded` on bytes already read (within the caller's bound)."""
    from weightwarden.core.strict_json import StrictJSONError, loads

    # Each JSON object or array costs Python ~60-200 bytes for 2-3 bytes of input: 21 million empty objects
    # in 64 MiB would take ~1.7 GB. An honest file has one container per >30 bytes; braces inside strings only
    # make this count an over-estimate, so it is a safe pre-check before parsing.
    containers = raw.count(b"{") + raw.count(b"[")
    if containers > MAX_JSON_CONTAINERS:
        raise IndicatorFormatError(
            f"{p}: {what} holds more than {MAX_JSON_CONTAINERS} JSON objects/arrays ({containers}); refused before "
            "parsing")
    separators = raw.count(b",") + containers
    if separators > MAX_JSON_SEPARATORS:
        raise IndicatorFormatError(
            f"{p}: {what} holds up to {separators} JSON values (more than {MAX_JSON_SEPARATORS}); refused before "
            "parsing")
    try:
        return loads(raw)
    except StrictJSONError as exc:
        raise IndicatorFormatError(f"{p}: {what} is not valid JSON ({exc.reason})") from None


def load_set(path: str | os.PathLike[str]) -> IndicatorSet:
    """Read an indicator set file: native JSON or a STIX 2.1 bundle made by :mod:`.stix`. Either must be exactly
    what weightwarden writes for the set it describes, byte for byte (:func:`set_from_bytes`)."""
    from weightwarden.core.errors import InputError
    from weightwarden.core.files import read_bounded

    if str(path) == "-":
        raise IndicatorFormatError("indicator set: '-' (standard input) is not accepted here; give a file")
    try:
        raw = read_bounded(Path(path), "indicator set", MAX_SET_BYTES)
    except InputError as exc:
        raise IndicatorFormatError(exc.reason) from None
    return set_from_bytes(raw, parse_json_bounded(raw, path, "indicator set"), str(path))


def set_from_bytes(raw: bytes, data: Any, where: str) -> IndicatorSet:
    """The set a file holds (``raw``, parsed as ``data``), if ``raw`` is exactly what weightwarden writes for it:
    :func:`dump_set` for a native set, ``stix.dump_stix`` for a STIX bundle.

    Red team round 15 (class 1): round 14 compared *parsed* values, so the file's spelling was free: a number
    spelled ``0.35`` + zeros + 3 digits per payload byte, one space or tab per bit after the closing brace, each hex
    character plain or as ``\\u00XX``, the key order, ``-0`` for ``0``; megabytes of attack text read back with a
    shell one-liner passed `import` with exit 0. The writers are deterministic, so the file must now be their output
    byte for byte; the value checks run first only for their clearer messages (which property differs)."""
    if isinstance(data, dict) and data.get("type") == "bundle":
        from weightwarden.indicators.stix import read_stix, stix_text

        loaded, expected = read_stix(data, where, raw=raw)
        require_bytes(raw, stix_text(expected).encode("ascii"), where, "the STIX bundle weightwarden writes for the "
                      "set it holds")
        return loaded
    loaded = canonical_set(data, where)
    require_bytes(raw, dump_set(loaded).encode("utf-8"), where, "the indicator set weightwarden writes for the set "
                  "it holds")
    return loaded


def require_bytes(raw: bytes, expected: bytes, where: str, what: str) -> None:
    """Refuse ``raw`` unless it is ``expected`` (weightwarden's own output for the set read), byte for byte. The
    error names the first differing byte (offset, line, column) and what weightwarden writes there; it never shows
    the bytes found (they may spell attack text)."""
    if raw == expected:
        return
    offset = _first_difference(raw, expected)
    line = raw.count(b"\n", 0, offset) + 1
    column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    if offset == len(expected):
        detail = f"weightwarden's output ends there; the file goes on for {len(raw) - offset} more byte(s)"
    elif offset == len(raw):
        detail = f"the file ends there; weightwarden's output goes on for {len(expected) - offset} more byte(s)"
    else:
        detail = f"weightwarden writes {chr(expected[offset])!r} there" if 32 <= expected[offset] < 127 or \
            expected[offset] in (9, 10) else "weightwarden writes another byte there"
    raise IndicatorFormatError(
        f"{where}: byte {offset} (line {line}, column {column}) differs from {what}: {detail}. The values are read, but the file must also be spelled exactly as weightwarden "
        "writes it (whitespace, number forms, string escapes, key order, final newline): other spellings carry "
        "text past every check (red team round 15). Write it again with `weightwarden indicators export`.")


def _first_difference(a: bytes, b: bytes) -> int:
    """The first offset where ``a`` and ``b`` differ (or the shorter length): compared in 4 KiB blocks, so a
    64 MiB file costs thousands of Python steps, not millions."""
    n, block = min(len(a), len(b)), 4096
    start = next((i for i in range(0, n, block) if a[i:i + block] != b[i:i + block]), n)
    return next((i for i in range(start, min(start + block, n)) if a[i] != b[i]), n)


def canonical_set(data: Any, where: str) -> IndicatorSet:
    """The native set ``data`` holds, if ``data`` is exactly what :meth:`IndicatorSet.to_json` writes for it.

    Red team round 14: the loader judged only the keys it reads and dropped the rest, so a file (or a registry
    incident's attachment) carried anything under an unknown key, a ``contains`` statement that lied, or a value
    the loader normalised, and `import`/`match` reported success on it. Round 4 (G1) made weightwarden send only
    its own re-serialised form; now a set is also *accepted* only if it is that form (the first difference is
    named), so what a user vets with weightwarden is what other readers of the same file see."""
    loaded = IndicatorSet.from_json(data, where)
    require_written(data, loaded.to_json(), where)
    return loaded


_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
               bool: "a boolean", type(None): "null"}


def _shown(value: Any) -> str:
    """A short description of a value weightwarden writes (never the found value: that may be attack text)."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False)
    return text if len(text) <= 48 else text[:45] + "..."


def require_written(got: Any, want: Any, where: str) -> None:
    """Refuse ``got`` (a parsed JSON value) unless it equals ``want`` (what weightwarden writes) exactly: the same
    keys, the same list lengths and the same values of the same JSON types (``1`` is not ``1.0`` or ``true``). The
    error names the first difference by its path; it shows what weightwarden writes, never the value found."""
    stack: list[tuple[str, Any, Any]] = [("", got, want)]
    while stack:
        path, g, w = stack.pop()
        at = f"{where}: {path}" if path else where
        if type(g) is not type(w):
            raise IndicatorFormatError(f"{at} is {_TYPE_NAMES.get(type(g), type(g).__name__)} where weightwarden "
                                       f"writes {_TYPE_NAMES.get(type(w), type(w).__name__)} ({_shown(w)})")
        if isinstance(w, dict):
            extra = [k for k in g if k not in w]
            if extra:
                raise IndicatorFormatError(f"{at}: property {str(extra[0])[:60]!r} is not written by weightwarden "
                                           "(refused: only what weightwarden writes for this set is accepted)")
            missing = [k for k in w if k not in g]
            if missing:
                raise IndicatorFormatError(f"{at}: property {missing[0]!r} is missing (weightwarden writes "
                                           f"{_shown(w[missing[0]])})")
            stack.extend((f"{path}.{k}" if path else str(k), g[k], w[k]) for k in reversed(list(w)))
        elif isinstance(w, list):
            if len(g) != len(w):
                raise IndicatorFormatError(f"{at} holds {len(g)} entries where weightwarden writes {len(w)}")
            stack.extend((f"{path}[{i}]", g[i], w[i]) for i in reversed(range(len(w))))
        elif g != w:
            raise IndicatorFormatError(f"{at} differs from what weightwarden writes for this set ({_shown(w)})")


def dump_set(indicators: IndicatorSet) -> str:
    """The native file of a set: the one spelling every reader requires (:func:`set_from_bytes`)."""
    return dump_json(indicators.to_json())


def dump_json(value: Any) -> str:
    """weightwarden's one JSON spelling of indicator files: key order as built, indent 1, ASCII with ``\\u``
    escapes, Python's shortest number form, one final newline. Deterministic, so a reader can require it byte for
    byte (red team round 15)."""
    return json.dumps(value, indent=1, sort_keys=False, ensure_ascii=True, allow_nan=False) + "\n"
