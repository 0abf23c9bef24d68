"""Smaller runs of a suite: the first N items (``--limit``) or a stratified sample (``--sample``).

:func:`sample_items` allocates N across the groups of a suite (its categories, or any metadata key) in
proportion to their sizes by the largest-remainder method, giving every group at least one item when N is at
least the number of groups, then draws within each group with a generator seeded by ``(seed, group)``, so the
same seed always gives the same items and a group's draw does not change when another group changes. The
result keeps the suite's order, id and digest: a sample is a selection, not a new suite (the runner records
the selection in its config).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from weightwarden.evals.model import Item, Suite


def limit_items(suite: Suite, n: int) -> Suite:
    """The first ``n`` items of ``suite`` in its order (all of them when it has fewer)."""
    if n < 0:
        raise ValueError(f"limit must not be negative, got {n}")
    return replace(suite, items=suite.items[:n])


def _group_key(item: Item, by: str) -> str:
    value: Any = item.category if by == "category" else item.metadata.get(by)
    return "" if value is None else str(value)


def _allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    total = sum(sizes.values())
    groups = sorted(sizes)  # sorted: the allocation must not depend on the order groups appear in
    if n >= len(groups):
        # One each first, then the rest in proportion to what is left in each group.
        counts = dict.fromkeys(groups, 1)
        spare = n - len(groups)
        remaining = {g: sizes[g] - 1 for g in groups}
        pool = sum(remaining.values())
    else:
        counts = dict.fromkeys(groups, 0)
        spare, remaining, pool = n, dict(sizes), total
    if spare and pool:
        shares = {g: spare * remaining[g] / pool for g in groups}
        for g in groups:
            counts[g] += int(shares[g])
        left = spare - sum(int(shares[g]) for g in groups)
        # Largest remainders first; ties by larger group, then name, so the result is fully determined.
        order = sorted(groups, key=lambda g: (-(shares[g] - int(shares[g])), -sizes[g], g))
        for g in order:
            if left == 0:
                break
            if counts[g] < sizes[g]:
                counts[g] += 1
                left -= 1
    return {g: min(counts[g], sizes[g]) for g in groups}


def sample_items(suite: Suite, n: int, *, seed: int, by: str = "category") -> Suite:
    """A deterministic sample of ``n`` items stratified by ``by`` (``"category"`` or a metadata key).

    Proportional per group; at least one item per group when ``n`` is at least the number of groups (with
    fewer, the largest groups get one each). ``n`` at or above the suite size returns every item."""
    if n < 0:
        raise ValueError(f"sample size must not be negative, got {n}")
    if n >= len(suite.items):
        return suite
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(suite.items):
        groups.setdefault(_group_key(item, by), []).append(index)
    counts = _allocate({g: len(members) for g, members in groups.items()}, n)
    chosen: set[int] = set()
    for group, members in groups.items():
        rng = random.Random(f"{seed}:{suite.id}:{by}:{group}")
        chosen.update(rng.sample(members, counts[group]))
    return replace(suite, items=tuple(suite.items[i] for i in sorted(chosen)))
