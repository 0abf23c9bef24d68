"""Red team round 20 on indicators (issues/rt-indicators-round20.md).

Class 4 (availability): `_join_pieces` scanned a run of unjoinable chunks ("a1*a1*…") to its end once per piece,
quadratic in the run (99 K characters took 145 s). The bound test counts the work done (pieces handed to the chunk
test), not the time."""

from __future__ import annotations

import pytest

from weightwarden.indicators import normalise
from weightwarden.indicators.normalise import MAX_TEXT_CHARS, canonical


def _counting_chunk_width(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen = [0]
    original = normalise._chunk_width

    def counted(run: list[str]) -> int:
        seen[0] += len(run)
        return original(run)

    monkeypatch.setattr(normalise, "_chunk_width", counted)
    return seen


@pytest.mark.parametrize("sep", ["*", "-", "."])
def test_unjoinable_chunk_runs_near_the_bound_are_scanned_once(monkeypatch: pytest.MonkeyPatch, sep: str):
    """250 K characters of chunks that never join (a digit in each), after three chunked words that make the text
    'chunked': every piece is handed to the chunk test a bounded number of times (linear), and canonical completes."""
    seen = _counting_chunk_width(monkeypatch)
    head = f"Tea{sep}chi{sep}ldr chi{sep}ldr{sep}en acc{sep}ess{sep}ing "
    count = (MAX_TEXT_CHARS - 64 - len(head)) // 3
    text = head + sep.join("a1" for _ in range(count))
    assert len(text) > 240_000
    canon = canonical(text)
    assert len(canon.text) <= MAX_TEXT_CHARS
    # two passes of _join_pieces (before decoding and restyling), each counting and joining: a few looks per piece
    assert seen[0] <= 8 * count, seen[0]


def test_many_short_runs_of_unjoinable_chunks_are_linear(monkeypatch: pytest.MonkeyPatch):
    """Runs of mixed widths ("abc*de*fghi*j1") repeated up to the bound: again a bounded number of looks per piece."""
    seen = _counting_chunk_width(monkeypatch)
    unit = "abc*de*fghi*j1 "
    text = "Tea*chi*ldr chi*ldr*en acc*ess*ing " + unit * ((MAX_TEXT_CHARS - 64) // len(unit))
    canonical(text)
    assert seen[0] <= 8 * text.count("*"), seen[0]


def test_a_joinable_chunked_text_still_joins():
    """The fix changes only where a failed run's scan resumes: chunked words still join."""
    assert canonical("Tea-ch chi-ldr-en acc-ess-ing wea-pon-s").text == canonical("Teach children accessing weapons").text
