"""The context a reader runs in: limits, archive depth, a shared decompression budget, and recursion.

Archive readers call :meth:`ReadContext.read_member` to read a member as a file of its own; that goes back
through format sniffing and dispatch, one level deeper, sharing the same decompression budget so that a
zip bomb spread across nested archives is still caught.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from weightwarden.core.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from weightwarden.artifact.model import FileEntry
    from weightwarden.artifact.source import Source


@dataclass(slots=True)
class DecompressionBudget:
    """Bytes of decompressed output still allowed for one top-level file."""

    remaining: int

    def take(self, n: int) -> bool:
        """Spend ``n`` bytes; False when the budget is exhausted (the caller records a bomb)."""
        self.remaining -= n
        return self.remaining >= 0


@dataclass(slots=True)
class ReadContext:
    limits: Limits = DEFAULT_LIMITS
    depth: int = 0
    budget: DecompressionBudget = field(default_factory=lambda: DecompressionBudget(DEFAULT_LIMITS.max_total_decompressed))
    dispatch: Callable[[Source, ReadContext], FileEntry] | None = None

    @classmethod
    def for_top_level(cls, limits: Limits, dispatch: Callable[[Source, ReadContext], FileEntry]) -> ReadContext:
        return cls(limits=limits, depth=0, budget=DecompressionBudget(limits.max_total_decompressed), dispatch=dispatch)

    def read_member(self, source: Source) -> FileEntry:
        """Read an archive member (or decompressed stream) as a file of its own, one level deeper."""
        assert self.dispatch is not None, "ReadContext built without a dispatcher"
        return self.dispatch(source, replace(self, depth=self.depth + 1))
