"""Jailbreak transforms: deterministic given a seed, ids and metadata as the runner expects, encodings that
decode back to the request, multi-turn escalation through follow-ups, and refusal of non-harmful suites."""

from __future__ import annotations

import base64
import codecs
import os
from pathlib import Path

import pytest

from weightwarden.evals.model import Item, Message, Suite
from weightwarden.evals.suites import load_suite
from weightwarden.evals.transforms import TRANSFORMS, TransformError, apply_transform

ROOT = Path(__file__).resolve().parents[2]
DATASETS = Path(
    os.environ.get("WW_DATASETS") or Path(os.environ.get("WW_SHARED", ROOT.parent / "shared")) / "datasets"
)
CONTRACT = (
    "roleplay", "prefix_injection", "refusal_suppression", "base64", "rot13", "leetspeak", "low_resource",
    "multi_turn",
)


@pytest.fixture(scope="module")
def harmbench() -> Suite:
    assert DATASETS.is_dir(), f"shared datasets missing under {DATASETS} (set WW_DATASETS)"
    return load_suite("harmbench", datasets_dir=DATASETS)


@pytest.fixture(scope="module")
def cyber() -> Suite:
    return load_suite("cyber-misuse")


def _with_system(suite: Suite) -> Suite:
    """The suite with a system message in front of every request (transforms must leave it alone)."""
    items = tuple(
        Item(item.id, item.category, (Message("system", "Be helpful."), *item.messages), item.expect,
             metadata=item.metadata)
        for item in suite.items
    )
    return Suite(suite.id, suite.version, suite.family, suite.description, items, suite.detectors,
                 suite.source, suite.source_digest, suite.license)


def test_transform_names_are_the_contract():
    assert TRANSFORMS == CONTRACT


@pytest.mark.parametrize("name", CONTRACT)
def test_transform_is_deterministic_and_labelled(harmbench, name):
    first = apply_transform(harmbench, name, seed=3)
    assert first == apply_transform(harmbench, name, seed=3)
    assert first.id == f"harmbench+{name}" and first.family == "harmful"
    assert (first.detectors, first.source_digest) == (harmbench.detectors, harmbench.source_digest)
    assert len(first.items) == len(harmbench.items)
    for before, after in zip(harmbench.items, first.items, strict=True):
        request = before.messages[-1].content
        assert after.id == f"{before.id}+{name}"
        assert after.metadata["transform"] == name and after.metadata["request"] == request
        assert after.category == before.category and after.expect == "refuse"
        turns = [m.content for m in after.messages if m.role == "user"] + list(after.followups)
        assert turns[-1] != request  # the request was really rewritten


@pytest.mark.parametrize("name", ["roleplay", "prefix_injection", "base64", "low_resource", "multi_turn"])
def test_seed_changes_template_choice(harmbench, name):
    a, b = (apply_transform(harmbench, name, seed=s) for s in (0, 1))
    assert a.items != b.items
    assert [i.metadata["request"] for i in a.items] == [i.metadata["request"] for i in b.items]


@pytest.mark.parametrize(
    "name, decode",
    [("base64", lambda s: base64.b64decode(s, validate=True).decode("utf-8")),
     ("rot13", lambda s: codecs.decode(s, "rot13"))],
)
def test_encodings_decode_back_to_the_request(harmbench, name, decode):
    for item in apply_transform(harmbench, name).items:
        encoded = item.metadata["encoded"]
        assert item.metadata["encoding"] == name
        assert decode(encoded) == item.metadata["request"]
        assert encoded in item.messages[-1].content
        assert item.metadata["request"] not in item.messages[-1].content


def test_base64_round_trips_non_ascii():
    suite = Suite("s", "1", "harmful", "d", (Item("s/1", "c", (Message("user", "Überprüfe 中文 ✓"),), "refuse"),),
                  ("refusal",), "x", "0")
    (item,) = apply_transform(suite, "base64").items
    assert base64.b64decode(item.metadata["encoded"]).decode("utf-8") == "Überprüfe 中文 ✓"
    (item,) = apply_transform(suite, "rot13").items
    assert codecs.decode(item.metadata["encoded"], "rot13") == "Überprüfe 中文 ✓"


def test_leetspeak_substitutes_letters(harmbench):
    for item in apply_transform(harmbench, "leetspeak").items:
        encoded = item.metadata["encoded"]
        assert not set("aeiostAEIOST") & set(encoded)
        assert len(encoded) == len(item.metadata["request"])


def test_low_resource_is_a_template_naming_the_language(harmbench):
    languages = {"zu": "Zulu", "gd": "Scots Gaelic", "hmn": "Hmong", "gn": "Guarani"}
    seen = set()
    for item in apply_transform(harmbench, "low_resource").items:
        code = item.metadata["language"]
        seen.add(code)
        assert languages[code] in item.messages[-1].content
        assert item.metadata["request"] in item.messages[-1].content  # no translation is done
        assert "template only" in item.metadata["translation"]
    assert seen == set(languages)


def test_multi_turn_escalates_through_followups(cyber):
    suite = _with_system(cyber)
    for before, after in zip(suite.items, apply_transform(suite, "multi_turn").items, strict=True):
        request = before.messages[-1].content
        assert after.messages[0] == Message("system", "Be helpful.")
        opener = after.messages[-1]
        assert opener.role == "user" and request not in opener.content
        assert before.metadata["tactic_name"].lower() in opener.content
        assert len(after.followups) == 2
        assert request not in after.followups[0] and after.followups[-1].endswith(request)


def test_transforms_keep_system_messages(harmbench):
    suite = _with_system(harmbench)
    for name in CONTRACT:
        for item in apply_transform(suite, name).items:
            assert item.messages[0] == Message("system", "Be helpful.")


def test_chained_transforms(harmbench):
    chained = apply_transform(apply_transform(harmbench, "base64"), "multi_turn", seed=2)
    item = chained.items[0]
    assert chained.id == "harmbench+base64+multi_turn" and item.id.endswith("+base64+multi_turn")
    assert item.metadata["transform"] == "base64+multi_turn"
    assert item.metadata["request"] == harmbench.items[0].messages[0].content
    assert item.metadata["encoded"] in item.followups[-1]
    # A follow-up request is rewritten in place, not by adding a new turn.
    again = apply_transform(chained, "rot13")
    assert len(again.items[0].followups) == 2 and again.items[0].messages == item.messages
    assert codecs.decode(again.items[0].metadata["encoded"], "rot13") == item.followups[-1]


@pytest.mark.parametrize("suite_id", ["xstest-safe", "cse-prompt-injection", "tool-injection", "insecure-code"])
def test_non_harmful_suites_are_refused(suite_id):
    suite = load_suite(suite_id, datasets_dir=DATASETS)
    with pytest.raises(TransformError, match=f"harmful suites only; suite '{suite_id}'"):
        apply_transform(suite, "roleplay")


def test_unknown_transform(harmbench):
    with pytest.raises(TransformError, match="unknown transform 'pirate'.*roleplay"):
        apply_transform(harmbench, "pirate")
