"""STIX 2.1 bundles of indicator sets (``stix2``), TLP 2.0 marked, for threat-intel platforms (TAXII, MISP).

Export (:func:`to_stix`) writes one bundle with:

* the TLP 2.0 ``marking-definition`` chosen (the published FIRST/OASIS objects, fixed ids), referenced by
  every object through ``object_marking_refs``;
* one ``indicator`` per prompt indicator: ``pattern_type`` ``stix``, pattern
  ``[x-weightwarden-prompt:exact_hmac_sha256 = '<keyed digest>']``, the keyed MinHash sketch in the
  weightwarden property extension; never the text (an indicator set holding text is refused unless asked);
* one ``attack-pattern`` per MITRE ATLAS technique (external reference ``mitre-atlas``), with a
  deterministic id (UUIDv5 of the technique id) so that two labs' bundles name the same object, and an
  ``indicates`` relationship from each indicator to it;
* one ``software`` object per model indicator (kind and keyed digest in the extension), and a
  ``related-to`` relationship from each prompt indicator to it;
* a ``grouping`` (context ``suspicious-activity``) that lists all of them and carries the scheme and the
  ``contains`` statement in the extension.

weightwarden's own properties live in one STIX 2.1 **property extension** (the ``extension-definition``
object :data:`EXTENSION_ID`, created by the ``identity`` "weightwarden", both in every bundle), as the
specification recommends over ad-hoc ``x_`` properties. Ids are deterministic (the same set exports to the
same bytes) and UUIDv4-shaped for SDOs/SROs, UUIDv5 for the SCO, so the OASIS validator's checks pass.

Import (:func:`from_stix`) parses with ``stix2``, checks every pattern, sketch and marking, rebuilds the
indicator set, and then accepts the bundle only if it IS the export of that set (red team round 14): every object,
property and value equal to what :func:`to_stix` writes for it. Anything else (a free-text ``description`` or
``labels``, an indicator the grouping does not list, a value of the wrong type) is an
:class:`IndicatorFormatError` naming the object and the first difference.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from weightwarden.core.errors import require_extra
from weightwarden.indicators.errors import IndicatorFormatError
from weightwarden.indicators.records import (
    MAX_INDICATORS,
    MAX_MODEL_INDICATORS,
    SET_MAC,
    SET_SCHEMA,
    SET_SCHEMA_V1,
    TLP_LEVELS,
    IndicatorSet,
    dump_json,
    prompt_order,
    require_written,
    short_strings,
)
from weightwarden.indicators.sketch import SCHEME_INT_RANGES, Scheme, encode_signature

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
TLP2_IDS = {  # the published TLP 2.0 marking-definition ids
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
ATLAS_NAMES = {"AML.T0054": "LLM Jailbreak", "AML.T0051": "LLM Prompt Injection"}
# A fixed namespace for deterministic ids of the objects two parties must name alike.
_NAMESPACE = uuid.UUID("6f1d2b0e-5c8a-5d0c-9a51-8d7f0b1e4c21")
EXTENSION_ID = "extension-definition--849c42de-3deb-4ba2-95c6-89b92c921fc2"
IDENTITY_ID = "identity--9a2b33ca-bee4-462a-bc3e-de3288321d1a"
_DEFINED = "2026-12-06T00:00:00.000Z"
# Red team round 14: a set that does not say when it was made ("") was exported with stix2's "now" in each object
# (a different time per object), so its bundle could not be reproduced from the set and import read the time back
# as the set's. Such a set is exported with this fixed time instead: before CREATED_YEARS, so no real set's time
# reads as it, and import maps it back to "".
NO_CREATED = "1970-01-01T00:00:00.000Z"
_EXTENSION_SCHEMA = (
    "weightwarden indicators v3 (docs/indicators.md): indicator: sketch (lower-case hex of num_perm big-endian uint32, "
    "keyed MinHash low 32 bits XOR a per-indicator pad derived from the group key: readable by key holders "
    "only), decoded (list of jailbreak layers removed), category (known taxonomy ids); software: model_kind, "
    "model_digest (keyed HMAC-SHA-256, hex); grouping: schema, scheme (weightwarden.indicator-scheme/v1), "
    "contains, sources, producer, auth (the set's HMAC-SHA-256 authentication tag under the group key)."
)
_PATTERN = re.compile(r"\[x-weightwarden-prompt:exact_hmac_sha256 = '([0-9a-f]{64})'\]")
# What an import accepts, checked on the plain JSON before stix2.parse builds objects: only the object types
# and properties that to_stix writes (plus the STIX common properties), so an unrelated or custom object
# cannot make the parser allocate for it; counts per type derive from the indicator limits.
_COMMON = frozenset({"type", "spec_version", "id", "created", "modified", "created_by_ref", "revoked", "labels",
                     "confidence", "lang", "external_references", "object_marking_refs", "granular_markings",
                     "extensions"})
_PROPERTIES = {
    "marking-definition": {"name", "definition_type", "definition"},
    "identity": {"name", "description", "roles", "identity_class", "sectors", "contact_information"},
    "extension-definition": {"name", "description", "schema", "version", "extension_types",
                             "extension_properties"},
    "grouping": {"name", "description", "context", "object_refs"},
    "attack-pattern": {"name", "description", "aliases", "kill_chain_phases"},
    "software": {"name", "cpe", "swid", "languages", "vendor", "version", "defanged"},
    "indicator": {"name", "description", "indicator_types", "pattern", "pattern_type", "pattern_version",
                  "valid_from", "valid_until", "kill_chain_phases"},
    "relationship": {"relationship_type", "description", "source_ref", "target_ref", "start_time", "stop_time"},
}
_OUR_EXTENSION_KEYS = frozenset({"extension_type", "sketch", "decoded", "category", "model_kind", "model_digest",
                                 "schema", "scheme", "contains", "sources", "producer", "auth"})
_SMALL_LIMITS = {"marking-definition": len(TLP2_IDS), "identity": 8, "extension-definition": 8, "grouping": 8,
                 "attack-pattern": 64}
MAX_OBJECTS = (MAX_INDICATORS + MAX_MODEL_INDICATORS + sum(_SMALL_LIMITS.values())
               + MAX_INDICATORS * 2)  # relationships are further bounded by indicators × (1 + models)


def _stix2() -> Any:
    require_extra("stix2", extra="indicators", feature="STIX 2.1 export and import")
    import stix2

    return stix2


def tlp_marking(level: str) -> dict[str, Any]:
    if level not in TLP2_IDS:
        raise IndicatorFormatError(f"unknown TLP level {level!r} (known: {', '.join(TLP_LEVELS)})")
    return {
        "type": "marking-definition", "spec_version": "2.1", "id": TLP2_IDS[level], "created": TLP2_CREATED,
        "name": f"TLP:{level.upper()}",
        "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
    }


def _sdo_id(kind: str, name: str) -> str:
    """A deterministic id in UUIDv4 form (STIX wants v4 for SDOs/SROs; the bytes come from a hash, not an RNG)."""
    import hashlib

    return f"{kind}--{uuid.UUID(bytes=hashlib.sha256(name.encode()).digest()[:16], version=4)}"


def _attack_pattern_id(technique: str) -> str:
    return _sdo_id("attack-pattern", "mitre-atlas:" + technique)


def _extension(**properties: Any) -> dict[str, Any]:
    return {EXTENSION_ID: {"extension_type": "property-extension", **properties}}


def _definition_objects(stix2: Any) -> list[Any]:
    identity = stix2.Identity(id=IDENTITY_ID, name="weightwarden", identity_class="system", created=_DEFINED,
                              modified=_DEFINED)
    extension = stix2.ExtensionDefinition(
        id=EXTENSION_ID, created_by_ref=IDENTITY_ID, created=_DEFINED, modified=_DEFINED,
        name="weightwarden indicators", description="Keyed digests and sealed sketches of attack prompts and models.",
        schema=_EXTENSION_SCHEMA, version="3.0.0", extension_types=["property-extension"],
    )
    return [identity, extension]


def to_stix(indicators: IndicatorSet, *, allow_text: bool = False) -> dict[str, Any]:
    """The indicator set as a STIX 2.1 bundle (a dict, validated by ``stix2``).

    Raw prompt text never goes into STIX: a set that holds text is refused unless ``allow_text``, and even
    then the text is left out (STIX consumers index every property; text belongs in the native form only).
    """
    stix2 = _stix2()
    try:
        return _to_stix(stix2, indicators, allow_text)
    except stix2.exceptions.STIXError as exc:
        # Red team round 4 (G3): a value stix2 refuses (a 'created' that is not a time) was an "internal error"
        # (exit 2). The native loader now checks every field first; this catches what stix2 adds on top.
        raise IndicatorFormatError(f"the indicator set cannot be written as STIX 2.1: {exc}") from None


def _to_stix(stix2: Any, indicators: IndicatorSet, allow_text: bool) -> dict[str, Any]:
    if any(p.text is not None for p in indicators.prompts) and not allow_text:
        raise IndicatorFormatError(
            "this indicator set contains raw prompt text; STIX export leaves text out — export the set "
            "without --include-text, or pass allow_text to drop the text explicitly"
        )
    indicators = indicators.without_private()  # local references (file names, item ids) never go to STIX
    marking = tlp_marking(indicators.tlp)
    marks = [marking["id"]]
    created = indicators.created or None
    common: dict[str, Any] = {"object_marking_refs": marks, "allow_custom": True, "created": created or NO_CREATED,
                              "modified": created or NO_CREATED}
    objects: list[Any] = [stix2.parse(marking, allow_custom=True), *_definition_objects(stix2)]
    patterns = {}
    for technique in sorted({p.atlas for p in indicators.prompts}):
        patterns[technique] = stix2.AttackPattern(
            id=_attack_pattern_id(technique), name=ATLAS_NAMES.get(technique, technique),
            external_references=[{"source_name": "mitre-atlas", "external_id": technique,
                                  "url": f"https://atlas.mitre.org/techniques/{technique}"}],
            **common,
        )
    models = []
    for m in sorted(indicators.models, key=lambda m: (m.kind, m.digest)):
        models.append(stix2.Software(
            id=f"software--{uuid.uuid5(_NAMESPACE, m.kind + ':' + m.digest)}",
            name=f"model {m.kind} {m.digest[:16]} (keyed)",
            extensions=_extension(model_kind=m.kind, model_digest=m.digest),
            object_marking_refs=marks, allow_custom=True,
        ))
    prompt_objects, relationships = [], []
    # Red team round 7 (class 1c): the bundle lists prompts in the canonical order too (sorted by exact, the
    # per-prompt category/decoded choices would spell a sequence again in the STIX export).
    for p in sorted(indicators.prompts, key=prompt_order):
        extra = {"category": p.category} if p.category else {}
        indicator = stix2.Indicator(
            id=_sdo_id("indicator", "prompt:" + p.exact),
            name=f"attack prompt {p.id} (keyed digest)",
            description="Keyed HMAC-SHA-256 digest and sealed keyed MinHash sketch of a normalised attack "
                        "prompt; the text is not included. Readable and comparable only with the group key.",
            indicator_types=["malicious-activity"], pattern_type="stix",
            pattern=f"[x-weightwarden-prompt:exact_hmac_sha256 = '{p.exact}']",
            valid_from=created or "1970-01-01T00:00:00Z",
            # STIX forbids empty lists: "decoded" is left out when nothing was decoded.
            extensions=_extension(sketch=encode_signature(p.sketch), **({"decoded": list(p.decoded)} if p.decoded
                                                                        else {}), **extra),
            **common,
        )
        prompt_objects.append(indicator)
        links = [(patterns[p.atlas].id, "indicates"), *((model.id, "related-to") for model in models)]
        for target, kind in links:
            relationships.append(stix2.Relationship(
                id=_sdo_id("relationship", f"{indicator.id} {kind} {target}"),
                source_ref=indicator.id, target_ref=target, relationship_type=kind, **common))
    members = [*patterns.values(), *models, *prompt_objects]
    grouping = stix2.Grouping(
        id=_sdo_id("grouping", _content_key(indicators)), name="weightwarden attack indicators",
        context="suspicious-activity", object_refs=[o.id for o in members] or [marking["id"]],
        extensions=_extension(
            schema=indicators.schema, scheme=indicators.scheme.to_json(), contains=indicators.contains(),
            **({"sources": list(indicators.sources)} if indicators.sources else {}),
            **({"producer": indicators.producer} if indicators.producer else {}),
            # Red team round 17 (class 2): the tag over the native form (indicators.auth), so it survives conversion.
            **({"auth": {"mac": SET_MAC, "tag": indicators.auth}} if indicators.auth is not None else {}),
        ),
        **common,
    )
    bundle = stix2.Bundle(id=_sdo_id("bundle", "bundle:" + _content_key(indicators)),
                          objects=[*objects, grouping, *members, *relationships], allow_custom=True)
    import json

    return json.loads(bundle.serialize())


def _content_key(indicators: IndicatorSet) -> str:
    """Deterministic ids: the same set exported twice gives the same bundle, byte for byte."""
    import hashlib

    h = hashlib.sha256(f"{indicators.scheme.key_id}\n{indicators.created}\n{indicators.tlp}\n".encode())
    for p in sorted(indicators.prompts, key=lambda p: p.exact):
        h.update(p.exact.encode())
    for m in sorted(indicators.models, key=lambda m: (m.kind, m.digest)):
        h.update(f"{m.kind}:{m.digest}".encode())
    return h.hexdigest()


def stix_text(bundle: dict[str, Any]) -> str:
    """The file of a bundle (from :func:`to_stix`) as every weightwarden command writes it (``records.dump_json``:
    indent 1, ASCII, one final newline); import requires exactly these bytes (red team round 15)."""
    return dump_json(bundle)


def dump_stix(indicators: IndicatorSet, *, allow_text: bool = False) -> str:
    """:func:`to_stix` written as a file: the bytes of `indicators export`/`derive --format stix`."""
    return stix_text(to_stix(indicators, allow_text=allow_text))


def from_stix(data: Any, where: str = "<STIX bundle>") -> IndicatorSet:
    """Rebuild an indicator set from a bundle written by :func:`to_stix` (equal to its export as JSON; a file is
    also held to the export's bytes by ``records.set_from_bytes``)."""
    return read_stix(data, where)[0]


def read_stix(data: Any, where: str = "<STIX bundle>", *, raw: bytes | None = None) -> tuple[IndicatorSet,
                                                                                       dict[str, Any]]:
    """The set a bundle holds and weightwarden's export of it (which ``data`` equals as JSON). ``raw``: the file
    ``data`` was parsed from; before ``stix2.parse`` its size is bounded by what the export of so many objects can
    take (the bytes themselves are compared with the export by the caller, ``records.set_from_bytes``, after the
    value checks, whose messages name the property that differs)."""
    stix2 = _stix2()
    if not isinstance(data, dict) or data.get("type") != "bundle":
        raise IndicatorFormatError(f"{where}: not a STIX bundle (no 'type': 'bundle')")
    _precheck(data, where, None if raw is None else len(raw))
    try:
        bundle = stix2.parse(data, allow_custom=True)
    except Exception as exc:  # noqa: BLE001 - stix2 raises many unrelated types for malformed input
        raise IndicatorFormatError(f"{where}: malformed STIX 2.1 bundle: {exc.__class__.__name__}: {exc}") from None
    objects = list(getattr(bundle, "objects", []) or [])
    groupings = [o for o in objects if o.get("type") == "grouping" and "scheme" in _ours(o)]
    if len(groupings) != 1:
        raise IndicatorFormatError(
            f"{where}: expected exactly one weightwarden grouping (with the scheme in extension {EXTENSION_ID}), "
            f"found {len(groupings)}")
    group = groupings[0]
    group_ext = _ours(group)
    # Red team round 9 (class 1): a v1 bundle carries base64 sketches; refused with the native loader's message.
    if group_ext.get("schema") == SET_SCHEMA_V1:
        IndicatorSet.from_json({"schema": SET_SCHEMA_V1}, f"{where}: grouping")
    if group_ext.get("schema") != SET_SCHEMA:
        raise IndicatorFormatError(f"{where}: grouping: not a {SET_SCHEMA} indicator set (schema "
                                   f"{str(group_ext.get('schema'))[:60]!r})")
    scheme = Scheme.from_json(group_ext["scheme"], f"{where}: grouping")
    by_id = {o["id"]: o for o in objects if "id" in o}
    tlp = _tlp_of(group, where)
    techniques: dict[str, str] = {}
    for o in objects:
        if o.get("type") == "attack-pattern":
            refs = [r for r in o.get("external_references", []) if r.get("source_name") == "mitre-atlas"]
            if refs and refs[0].get("external_id"):
                techniques[o["id"]] = refs[0]["external_id"]
    indicates: dict[str, str] = {}
    for o in objects:
        if o.get("type") == "relationship" and o.get("relationship_type") == "indicates" \
                and o["target_ref"] in techniques:
            indicates[o["source_ref"]] = techniques[o["target_ref"]]
    prompts, models = [], []
    for ref in group["object_refs"]:
        o = by_id.get(ref)
        if o is None:
            raise IndicatorFormatError(f"{where}: grouping refers to {ref}, which is not in the bundle")
        if o["type"] == "indicator":
            match = _PATTERN.fullmatch(str(o.get("pattern", "")))
            if match is None or o.get("pattern_type") != "stix":
                raise IndicatorFormatError(f"{where}: {o['id']}: pattern is not a weightwarden prompt digest")
            ext = _ours(o)
            category = ext.get("category")
            # Red team round 14 (class 2): a category that is not a string became None without a word.
            if category is not None and not isinstance(category, str):
                raise IndicatorFormatError(f"{where}: {o['id']}: 'category' must be a string")
            decoded = list(short_strings(ext.get("decoded", []), "decoded", f"{where}: {o['id']}"))
            # Red team round 9 (class 4): the sketch was decoded (and its randomness tests run) here and again by
            # the native validator below; it is now handed on as the hex string and decoded once, there.
            prompts.append({"exact": match.group(1), "sketch": ext.get("sketch"),
                            "atlas": indicates.get(o["id"], "AML.T0054"),
                            "category": category, "decoded": decoded})
        elif o["type"] == "software":
            ext = _ours(o)
            kind, digest = ext.get("model_kind"), ext.get("model_digest")
            if not isinstance(kind, str) or not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise IndicatorFormatError(f"{where}: {o['id']}: not a weightwarden model indicator")
            models.append({"kind": kind, "digest": digest})
    if "producer" in group_ext:
        # Red team round 14 (class 2): a producer that was not a string became None. The producer is a local
        # reference (round 4, G2) that to_stix never writes, so a bundle holding one is not weightwarden's.
        raise IndicatorFormatError(f"{where}: grouping: 'producer' is a local reference that weightwarden never "
                                   "writes to STIX")
    sources = group_ext.get("sources", [])
    # Red team round 6 (class 1): sources that are not a list of strings are refused, not filtered; the order,
    # repeats, 'decoded' and 'atlas' are then judged by the native validator below (one canonical form).
    sources = short_strings(sources, "sources", f"{where}: grouping")
    # Through the native validator: one set of rules for both forms (model kinds, digests, sketches, ...). The
    # bundle's order is not the set's: list them in the canonical order the native form requires.
    prompts.sort(key=lambda p: (p["atlas"], tuple(p["decoded"]), p["category"] is not None, p["category"] or "",
                                p["exact"]))
    models.sort(key=lambda m: (m["kind"], m["digest"]))
    # Red team round 14 (class 2): stix2 fills in a missing 'created' with the time of parsing, which became the
    # set's creation time; the time is read from the bundle as given, and must be there.
    # (stix2 also fills in a missing id: a grouping whose id is not in the bundle as given is refused here.)
    raw_group = next((o for o in data["objects"] if isinstance(o, dict) and o.get("id") == group["id"]), {})
    if not isinstance(raw_group.get("id"), str):
        raise IndicatorFormatError(f"{where}: the grouping has no id of its own (weightwarden writes one)")
    if not isinstance(raw_group.get("created"), str):
        raise IndicatorFormatError(f"{where}: {group['id']}: 'created' is missing or not a string (weightwarden "
                                   "writes the set's creation time)")
    created = _timestamp(group.get("created"))
    native = {"schema": SET_SCHEMA, "producer": None,
              "created": "" if created == _timestamp_of(NO_CREATED) else created, "tlp": tlp,
              "sources": list(sources), "scheme": scheme.to_json(), "models": models, "prompts": prompts,
              **({"auth": group_ext["auth"]} if "auth" in group_ext else {})}
    result = IndicatorSet.from_json(native, where)
    expected = to_stix(result)
    require_export(data, expected, where)
    return result, expected


def require_export(data: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """Refuse a bundle that is not exactly ``expected``, the export of the set it was read as.

    Red team round 14 (class 1): import judged only the objects and properties it reads, so plain attack text in
    ``description``/``name``/``labels``/``external_references`` and indicators the grouping does not list (whose
    digests and sketches no randomness test saw) passed, under a grouping saying ``raw_text: false``. The export is
    deterministic (fixed ids, times from the set), so the only bundle accepted for a set is its export: every
    object accounted for, every property the value to_stix writes. The first difference is named."""
    objects = data["objects"]  # a list of objects with known types: _precheck ran
    wanted = {o["id"]: o for o in expected["objects"]}
    ids = [o.get("id") for o in objects]
    present: set[str] = set()
    for i, ident in enumerate(ids):
        if not isinstance(ident, str) or ident in present:
            raise IndicatorFormatError(f"{where}: objects[{i}]: missing or repeated id")
        present.add(ident)
    # Objects the export does not write: indicators first (the grouping's id follows from the digests it lists,
    # so an unlisted indicator would otherwise be reported as a foreign grouping).
    foreign = [i for i, ident in enumerate(ids) if ident not in wanted]
    foreign.sort(key=lambda i: objects[i].get("type") != "indicator")
    if foreign:
        i = foreign[0]
        kind = objects[i].get("type")
        hint = {"indicator": " (an indicator the grouping does not list, or one whose id is not derived from its "
                             "digest, is refused: other STIX tools would read it)",
                "grouping": " (a grouping's id is derived from the set it lists: key id, creation time, TLP and "
                            "digests)"}.get(kind, "")
        raise IndicatorFormatError(f"{where}: objects[{i}] ({kind} {ids[i][:80]}): not part of weightwarden's export "
                                   f"of the set this bundle describes{hint}")
    missing = [ident for ident in wanted if ident not in present]
    if missing:
        raise IndicatorFormatError(f"{where}: {missing[0]} is missing (weightwarden's export of this set writes it)")
    for i, o in enumerate(objects):
        require_written(o, wanted[o["id"]], f"{where}: objects[{i}] ({ids[i]})")
    for i, (got, want) in enumerate(zip(ids, wanted, strict=True)):
        if got != want:
            raise IndicatorFormatError(f"{where}: objects[{i}] ({got}): out of order (weightwarden writes {want} "
                                       "there)")
    require_written({k: v for k, v in data.items() if k != "objects"},
                    {k: v for k, v in expected.items() if k != "objects"}, f"{where}: bundle")


def _timestamp_of(text: str) -> str:
    return text.replace(".000Z", "Z")


# Round 2 (R5): strings and lists inside objects were unbounded (an 8 MB pattern cost stix2's ANTLR validator
# 132 s and 2.65 GB; 13 M labels 1.1 GB). No value of ours is longer or larger than these.
MAX_STIX_STRING = 4096
# A sketch is 8 hex characters per permutation (v2, red team round 9): 8192 at the largest num_perm. (The base64
# form of num_perm > 768 was over MAX_STIX_STRING: such bundles were refused before; found while measuring.)
MAX_STIX_SKETCH = 8 * SCHEME_INT_RANGES["num_perm"][1]
MAX_STIX_LIST = 64
MAX_STIX_DICT = 64


def _bounded(value: Any, where: str, *, skip_list: str | None = None, key: str = "") -> None:
    """Refuse a string, list or object inside a STIX object above the bounds (``skip_list``: the one list
    property bounded by the caller instead)."""
    stack = [(key, value)]
    while stack:
        name, item = stack.pop()
        if isinstance(item, str):
            limit = MAX_STIX_SKETCH if name == "sketch" else MAX_STIX_STRING
            if len(item) > limit:
                raise IndicatorFormatError(f"{where}: {name or 'a value'} is longer than {limit} characters")
        elif isinstance(item, list):
            if name != skip_list and len(item) > MAX_STIX_LIST:
                raise IndicatorFormatError(f"{where}: {name or 'a list'} holds more than {MAX_STIX_LIST} entries")
            stack.extend((f"{name}[]", v) for v in item)
        elif isinstance(item, dict):
            if len(item) > MAX_STIX_DICT:
                raise IndicatorFormatError(f"{where}: {name or 'an object'} holds more than {MAX_STIX_DICT} keys")
            stack.extend((str(k)[:60], v) for k, v in item.items())


def _precheck(data: dict[str, Any], where: str, raw_size: int | None = None) -> None:
    """Refuse, before ``stix2.parse``, what no bundle of ours holds: unknown keys of the bundle, too many objects,
    unknown object types, custom properties, extensions other than ours (and TLP 2.0 on markings), strings,
    lists and objects above small bounds, an indicator pattern that is not ours (checked with our regex before
    stix2's pattern parser sees it), and a grouping whose object_refs repeat or outnumber the objects; then (red
    team round 15) the shape of an export: one grouping, every indicator, software and attack-pattern listed by it,
    each indicator's id derived from its digest, and a file no larger than the export of so many objects."""
    unknown_top = set(data) - {"type", "id", "objects", "spec_version"}
    if unknown_top:
        raise IndicatorFormatError(f"{where}: unexpected bundle properties {sorted(unknown_top)[:5]}")
    raw_objects = data.get("objects")
    if not isinstance(raw_objects, list) or len(raw_objects) > MAX_OBJECTS:
        raise IndicatorFormatError(f"{where}: 'objects' must be a list of at most {MAX_OBJECTS} STIX objects")
    _precheck_listing(raw_objects, where)
    counts: dict[str, int] = {}
    for i, o in enumerate(raw_objects):
        kind = o.get("type") if isinstance(o, dict) else None
        if not isinstance(kind, str) or kind not in _PROPERTIES:
            raise IndicatorFormatError(
                f"{where}: objects[{i}]: object type {str(kind)[:60]!r} is not part of a weightwarden indicator "
                f"bundle (known: {', '.join(sorted(_PROPERTIES))})")
        extra = set(o) - _COMMON - _PROPERTIES[kind]
        if extra:
            raise IndicatorFormatError(
                f"{where}: objects[{i}] ({kind}): custom or unknown properties {sorted(extra)[:5]} are not accepted")
        extensions = o.get("extensions", {})  # (o is a dict here: its type was a known string)
        allowed = {TLP2_EXTENSION} if kind == "marking-definition" else {EXTENSION_ID}
        if not isinstance(extensions, dict) or set(extensions) - allowed:
            raise IndicatorFormatError(f"{where}: objects[{i}] ({kind}): unknown extensions")
        ours = extensions.get(EXTENSION_ID)
        if ours is not None and (not isinstance(ours, dict) or set(ours) - _OUR_EXTENSION_KEYS):
            raise IndicatorFormatError(f"{where}: objects[{i}] ({kind}): unknown weightwarden extension properties")
        _bounded(o, f"{where}: objects[{i}] ({kind})", skip_list="object_refs")
        if kind == "indicator" and (not isinstance(o.get("pattern"), str) or not _PATTERN.fullmatch(o["pattern"])):
            raise IndicatorFormatError(f"{where}: objects[{i}]: pattern is not a weightwarden prompt digest")
        if kind == "grouping":
            refs = o.get("object_refs")
            if not isinstance(refs, list) or len(refs) > len(raw_objects) or not all(isinstance(r, str) for r in refs) \
                    or len(set(refs)) != len(refs):
                raise IndicatorFormatError(f"{where}: objects[{i}] (grouping): object_refs must be distinct ids of "
                                           f"the bundle's objects (at most {len(raw_objects)})")
        unwritten = [k for k in o if k not in _WRITTEN[kind]]
        if unwritten:  # round 15: named here (as require_written would) so the size bound below never hides it
            raise IndicatorFormatError(
                f"{where}: objects[{i}] ({str(o.get('id'))[:80]}): property {unwritten[0]!r} is not written by "
                "weightwarden (refused before parsing: only what weightwarden writes for this set is accepted)")
        counts[kind] = counts.get(kind, 0) + 1
    limits = {**_SMALL_LIMITS, "indicator": MAX_INDICATORS, "software": MAX_MODEL_INDICATORS,
              "relationship": counts.get("indicator", 0) * (1 + counts.get("software", 0))}
    for kind, count in counts.items():
        if count > limits[kind]:
            raise IndicatorFormatError(f"{where}: {count} {kind} objects; a weightwarden bundle has at most "
                                       f"{limits[kind]}")
    if raw_size is not None:
        _precheck_size(raw_objects, where, raw_size)


# Red team round 15 ("tried"): 99,900 unlisted minimal indicators (35 MB) were refused only after stix2.parse had
# built every object (72 s CPU, 400 MB). What an export holds follows from its grouping, so that is checked first,
# with one pass of dict lookups and one SHA-256 per indicator. The size bounds: the largest each object of ours
# can be in the file (indent 1, at depth 2), with room to spare; an indicator's sketch is at most MAX_STIX_SKETCH.
_MAX_OBJECT_BYTES = {"indicator": 3072 + MAX_STIX_SKETCH, "grouping": 8192}
_MAX_OTHER_OBJECT_BYTES = 4096
_MAX_REF_BYTES = 128  # one line of the grouping's object_refs
_MAX_BUNDLE_HEAD_BYTES = 1024
# The top-level properties to_stix writes per object type (a test keeps these equal to real exports).
_WRITTEN = {
    "marking-definition": frozenset({"type", "spec_version", "id", "created", "name", "extensions"}),
    "identity": frozenset({"type", "spec_version", "id", "created", "modified", "name", "identity_class"}),
    "extension-definition": frozenset({"type", "spec_version", "id", "created_by_ref", "created", "modified", "name",
                                       "description", "schema", "version", "extension_types"}),
    "grouping": frozenset({"type", "spec_version", "id", "created", "modified", "name", "context", "object_refs",
                           "object_marking_refs", "extensions"}),
    "attack-pattern": frozenset({"type", "spec_version", "id", "created", "modified", "name", "external_references",
                                 "object_marking_refs"}),
    "software": frozenset({"type", "spec_version", "id", "name", "object_marking_refs", "extensions"}),
    "indicator": frozenset({"type", "spec_version", "id", "created", "modified", "name", "description",
                            "indicator_types", "pattern", "pattern_type", "pattern_version", "valid_from",
                            "object_marking_refs", "extensions"}),
    "relationship": frozenset({"type", "spec_version", "id", "created", "modified", "relationship_type", "source_ref",
                               "target_ref", "object_marking_refs"}),
}


def _precheck_listing(raw_objects: list[Any], where: str) -> None:
    """The export's shape, checked on the plain JSON before anything is built (see :func:`_precheck`)."""
    groupings = [o for o in raw_objects if isinstance(o, dict) and o.get("type") == "grouping"]
    if len(groupings) != 1:
        raise IndicatorFormatError(f"{where}: expected exactly one weightwarden grouping (an export writes one), "
                                   f"found {len(groupings)}; refused before parsing")
    refs = groupings[0].get("object_refs")
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs) or len(set(refs)) != len(refs):
        return  # named by the per-object checks of _precheck ("distinct ids")
    listed = set(refs)
    found: dict[str, set[str]] = {"indicator": set(), "software": set(), "attack-pattern": set()}
    for i, o in enumerate(raw_objects):
        kind = o.get("type") if isinstance(o, dict) else None
        if kind not in ("indicator", "software", "attack-pattern"):
            continue
        found[kind].add(str(o.get("id")))
        ident = o.get("id")
        if not isinstance(ident, str) or ident not in listed:
            raise IndicatorFormatError(
                f"{where}: objects[{i}] ({kind} {str(ident)[:80]}): not part of weightwarden's export of the set this "
                f"bundle describes (an object the grouping does not list is refused: other STIX tools would read "
                "it); refused before parsing")
        if kind == "indicator":
            match = _PATTERN.fullmatch(o["pattern"]) if isinstance(o.get("pattern"), str) else None
            if match is None or ident != _sdo_id("indicator", "prompt:" + match.group(1)):
                raise IndicatorFormatError(
                    f"{where}: objects[{i}] (indicator {ident[:80]}): not part of weightwarden's export (its pattern is "
                    "not a weightwarden prompt digest, or its id is not derived from the digest); refused before "
                    "parsing")
        if kind == "software":
            ext = o.get("extensions")
            ours = ext.get(EXTENSION_ID) if isinstance(ext, dict) else None
            model_kind, digest = (ours.get("model_kind"), ours.get("model_digest")) if isinstance(ours, dict) \
                else (None, None)
            if not isinstance(model_kind, str) or not isinstance(digest, str) \
                    or ident != f"software--{uuid.uuid5(_NAMESPACE, model_kind + ':' + digest)}":
                raise IndicatorFormatError(
                    f"{where}: objects[{i}] (software {ident[:80]}): not part of weightwarden's export (its id is not "
                    "derived from its model kind and digest); refused before parsing")
    _precheck_relationships(raw_objects, found, where)


def _precheck_relationships(raw_objects: list[Any], found: dict[str, set[str]], where: str) -> None:
    """Red team round 16 (class 3): relationships were bounded only by indicators × (1 + software), counts of objects
    an attacker lists for free, so 199,000 minimal `related-to` objects (48 MB) reached ``stix2.parse`` (20 s,
    616 MB). An export writes exactly one `indicates` per indicator (to an attack-pattern) and one `related-to` per
    (indicator, software) pair, each with the id derived from (source, type, target): all of it is checked here,
    the count first (no hashing for a wrong count), then each relationship's source, target and derived id."""
    rels = [(i, o) for i, o in enumerate(raw_objects) if isinstance(o, dict) and o.get("type") == "relationship"]
    indicators, software = found["indicator"], found["software"]
    expected = len(indicators) * (1 + len(software))
    if len(rels) != expected:
        raise IndicatorFormatError(
            f"{where}: {len(rels)} relationship objects; weightwarden's export of {len(indicators)} indicators and "
            f"{len(software)} software objects writes exactly {expected}; refused before parsing")
    targets = {"indicates": found["attack-pattern"], "related-to": software}
    seen: set[str] = set()
    indicated: set[str] = set()
    for i, o in rels:
        kind, src, tgt, ident = (o.get("relationship_type"), o.get("source_ref"), o.get("target_ref"), o.get("id"))
        # Any of them may be a list or a dict in a hostile file: strings first, then set lookups (no TypeError).
        if not all(isinstance(v, str) for v in (kind, src, tgt, ident)) \
                or kind not in targets or src not in indicators or tgt not in targets[kind] \
                or ident != _sdo_id("relationship", f"{src} {kind} {tgt}") or ident in seen \
                or (kind == "indicates" and src in indicated):
            raise IndicatorFormatError(
                f"{where}: objects[{i}] (relationship {str(ident)[:80]}): not part of weightwarden's export (one "
                "`indicates` per listed indicator to a listed attack-pattern, one `related-to` per listed indicator "
                "and software, each with its derived id); refused before parsing")
        seen.add(ident)
        if kind == "indicates":
            indicated.add(src)


def _precheck_size(raw_objects: list[Any], where: str, raw_size: int) -> None:
    """A file no larger than the export of its objects can be (whitespace or long number spellings around them are
    refused here, before parsing; the exact bytes are compared after, by ``records.set_from_bytes``)."""
    listed = next(len(o["object_refs"]) for o in raw_objects  # one, a list: checked
                  if isinstance(o, dict) and o.get("type") == "grouping")
    bound = _MAX_BUNDLE_HEAD_BYTES + _MAX_REF_BYTES * listed + sum(
        _MAX_OBJECT_BYTES.get(o["type"], _MAX_OTHER_OBJECT_BYTES) for o in raw_objects)
    if raw_size > bound:
        raise IndicatorFormatError(
            f"{where}: {raw_size} bytes for {len(raw_objects)} STIX objects; weightwarden's export of so many "
            f"objects takes at most {bound} (refused before parsing: the rest is not part of an export)")


def _ours(obj: Any) -> dict[str, Any]:
    """The weightwarden property extension of a STIX object, as plain JSON ({} when absent)."""
    extensions = obj.get("extensions") or {}
    found = _plain(extensions.get(EXTENSION_ID)) if hasattr(extensions, "get") else None
    return found if isinstance(found, dict) else {}


def _tlp_of(group: Any, where: str) -> str:
    levels = {level for level, ident in TLP2_IDS.items() if ident in (group.get("object_marking_refs") or [])}
    if len(levels) != 1:
        raise IndicatorFormatError(f"{where}: the grouping must carry exactly one TLP 2.0 marking, found {len(levels)}")
    return levels.pop()


def _timestamp(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _plain(value: Any) -> Any:
    """stix2 wraps custom dict/list properties; turn them back into plain JSON values."""
    import json

    try:
        return json.loads(json.dumps(value, default=lambda o: dict(o) if hasattr(o, "keys") else list(o)))
    except (TypeError, ValueError):
        return value
