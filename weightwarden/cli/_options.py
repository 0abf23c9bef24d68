"""Option types shared by the command modules.

Red team round 9 on indicators (class 3): click's ``FloatRange`` (and ``type=float``) accept ``nan``: every
comparison with NaN is False, so the range test never fails. ``match --threshold nan`` then reported every LSH
candidate as a near match and wrote ``"near_threshold": NaN`` (not JSON). Every float option of the CLI uses
:class:`FiniteFloat` (a lint test in tests/indicators/test_indicators_redteam9.py forbids the click types).
"""

from __future__ import annotations

import math
from typing import Any

import click


class FiniteFloat(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and ±infinity, and (``decimals``) more decimals than given."""

    name = "float"

    def __init__(self, min: float | None = None, max: float | None = None, *, min_open: bool = False,  # noqa: A002
                 max_open: bool = False, decimals: int | None = None) -> None:
        super().__init__(min, max, min_open=min_open, max_open=max_open)
        self.decimals = decimals

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        if self.decimals is not None and round(number, self.decimals) != number:
            self.fail(f"{value!r} has more than {self.decimals} decimals.", param, ctx)
        return number
