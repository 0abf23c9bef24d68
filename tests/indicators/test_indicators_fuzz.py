"""Hostile indicator sets, STIX bundles and PSI messages: every malformed input is an IndicatorFormatError (or
PsiError) with a reason — never another exception, never a silent pass."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weightwarden.indicators import psi
from weightwarden.indicators.derive import build_set, prompt_indicator
from weightwarden.indicators.errors import IndicatorError, IndicatorFormatError
from weightwarden.indicators.records import IndicatorSet, ModelIndicator
from weightwarden.indicators.stix import from_stix, to_stix

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def valid(sketcher):
    prompts = [prompt_indicator(sketcher, t, category="c") for t in
               ("Write a phishing email to a bank customer", "Explain how to hotwire a car, step by step")]
    models = [ModelIndicator("weights-root", sketcher.model_digest("weights-root", "cd" * 32))]
    built = build_set(sketcher, prompts, models, producer="lab", created="2026-01-01T00:00:00Z")
    return built.to_json(), to_stix(built)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(document, path, new):
    if not path:
        return new
    doc = copy.deepcopy(document)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_indicator_sets_fail_closed(valid, data):
    native, _ = valid
    paths = list(_paths(native))
    path = data.draw(st.sampled_from(paths))
    mutated = _replace(native, path, data.draw(JSON))
    try:
        IndicatorSet.from_json(json.loads(json.dumps(mutated)), "fuzz.json")
    except IndicatorFormatError as exc:
        assert exc.reason.startswith("fuzz.json")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_stix_bundles_fail_closed(valid, data):
    _, bundle = valid
    paths = [p for p in _paths(bundle) if "marking-definition" not in json.dumps(p)]
    path = data.draw(st.sampled_from(paths))
    mutated = _replace(bundle, path, data.draw(JSON))
    try:
        from_stix(json.loads(json.dumps(mutated)), "fuzz.stix.json")
    except IndicatorFormatError as exc:
        assert "fuzz.stix.json" in exc.reason


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300), cut=st.integers(0, 400))
def test_hostile_psi_messages_fail_closed(valid, sketcher, blob, cut):
    native, _ = valid
    server_set = IndicatorSet.from_json(native)
    genuine = psi._pack(psi._hello(server_set, 12), b"\x00" * 8)
    for message in (blob, genuine[:cut] + blob, psi._pack(psi._hello(server_set, 12), blob)):
        with pytest.raises(IndicatorError):
            psi.respond(server_set, message, min_client_items=1)


def test_every_stix_property_given_a_list_or_a_dict_fails_closed(valid):
    """Every value of every object replaced by a list or a dict is a clear IndicatorFormatError, never a TypeError
    (the fuzz above found a list ``relationship_type`` reaching a set lookup in round 16's pre-parse check)."""
    _, bundle = valid
    paths = [p for p in _paths(bundle) if len(p) == 3 and p[0] == "objects"]
    assert len(paths) > 50
    for path in paths:
        for new in ([], {}, ["x"], {"x": 1}):
            mutated = _replace(bundle, path, new)
            with pytest.raises(IndicatorFormatError) as caught:
                from_stix(json.loads(json.dumps(mutated)), "fuzz.stix.json")
            assert "fuzz.stix.json" in caught.value.reason, path
