"""core.strict_json.loads keeps json.loads' answers and refusals with its one shared decoder object."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from weightwarden.core.strict_json import StrictJSONError, loads


@pytest.mark.parametrize("text", ['{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}', "[]", '"\\u00e9"', "  7 ", '{"a":{}}'])
def test_same_value_as_json_loads(text: str) -> None:
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize(("text", "reason"), [
    ('{"a":1,"a":2}', "duplicate JSON key"), ("NaN", "non-standard JSON constant"), ("[1e400]", "out of range"),
    ("\ufeff{}", "BOM"), ('{"a":1} x', "not valid JSON"), ('"\\ud800"', "unpaired"), ("", "not valid JSON")])
def test_refusals(text: str, reason: str) -> None:
    with pytest.raises(StrictJSONError, match=reason):
        loads(text)


def test_threads_share_the_decoder() -> None:
    docs = [json.dumps({f"k{i}": list(range(i % 7)), "n": {"m": i}}) for i in range(400)]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(loads, docs)) == [json.loads(d) for d in docs]
