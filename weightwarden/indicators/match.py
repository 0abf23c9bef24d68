"""Matching two parties' indicator sets: exact, near-duplicate (keyed MinHash + LSH) and model indicators.

    result = match_sets(load_set("mine.json"), load_set("theirs.json"))
    result.to_json()   # weightwarden.indicator-match/v1

Both sets must come from the same group key and scheme (:meth:`Scheme.comparable_to` raises otherwise).
A near match is a pair (mine, theirs) that shares an LSH band and whose estimated Jaccard similarity is at
least the threshold (``near_threshold`` of MINE's scheme unless given); pairs already matched exactly are
not repeated as near matches. Each near match carries its estimate and a 95% Wilson interval; at most
:data:`MAX_NEAR_PER_INDICATOR` (the best) are reported per indicator of mine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from weightwarden.indicators.records import IndicatorSet
from weightwarden.indicators.sketch import BandIndex, JaccardEstimate, estimate_jaccard

MATCH_SCHEMA = "weightwarden.indicator-match/v1"
MAX_NEAR_PER_INDICATOR = 10  # best near matches reported per indicator of mine (a crafted set cannot flood)


@dataclass(frozen=True)
class NearMatch:
    mine: str
    theirs: str
    jaccard: JaccardEstimate
    mine_ref: str | None = None


@dataclass(frozen=True)
class MatchResult:
    key_id: str
    mine_count: int
    theirs_count: int
    exact: tuple[tuple[str, str, str | None], ...]  # (mine id, theirs id, my local ref)
    near: tuple[NearMatch, ...]
    models: tuple[tuple[str, str], ...]  # (kind, mine id)
    threshold: float

    @property
    def matched_mine(self) -> int:
        return len({m for m, _, _ in self.exact} | {n.mine for n in self.near})

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": MATCH_SCHEMA,
            "key_id": self.key_id,
            "near_threshold": self.threshold,
            "counts": {"mine": self.mine_count, "theirs": self.theirs_count, "exact": len(self.exact),
                       "near": len(self.near), "mine_matched": self.matched_mine, "models": len(self.models)},
            "exact": [{"mine": m, "theirs": t, **({"mine_ref": r} if r else {})} for m, t, r in self.exact],
            "near": [
                {"mine": n.mine, "theirs": n.theirs, "jaccard": round(n.jaccard.value, 4),
                 "interval95": [round(n.jaccard.low, 4), round(n.jaccard.high, 4)],
                 "agreeing_values": f"{n.jaccard.agree}/{n.jaccard.k}",
                 **({"mine_ref": n.mine_ref} if n.mine_ref else {})}
                for n in self.near
            ],
            "models": [{"kind": k, "mine": m} for k, m in self.models],
        }


def match_sets(mine: IndicatorSet, theirs: IndicatorSet, *, threshold: float | None = None) -> MatchResult:
    mine.scheme.comparable_to(theirs.scheme)
    tau = mine.scheme.near_threshold if threshold is None else threshold
    theirs_by_exact = {p.exact: p for p in theirs.prompts}
    exact = tuple(sorted((p.id, theirs_by_exact[p.exact].id, p.ref) for p in mine.prompts if p.exact in theirs_by_exact))
    # Identical sketches are indexed once (a set padded with copies cannot multiply the work), and each
    # query's candidates are scored in one vectorised comparison.
    index = BandIndex(theirs.scheme)
    rows: dict[bytes, int] = {}
    members: list[list[int]] = []
    for position, p in enumerate(theirs.prompts):
        key = p.sketch.tobytes()
        if key not in rows:
            rows[key] = len(members)
            members.append([])
            index.insert(str(rows[key]), p.sketch)
        members[rows[key]].append(position)
    matrix = np.stack([theirs.prompts[m[0]].sketch for m in members]) if members else np.zeros((0, 1), np.uint32)
    near: list[NearMatch] = []
    for p in mine.prompts:
        candidates = np.array([int(c) for c in index.query(p.sketch)], dtype=np.int64)
        if not candidates.size:
            continue
        agree = (matrix[candidates] == p.sketch).sum(axis=1)
        best: list[NearMatch] = []
        for row in candidates[np.argsort(-agree, kind="stable")]:
            estimate = estimate_jaccard(p.sketch, matrix[row])
            if estimate.value < tau or len(best) >= MAX_NEAR_PER_INDICATOR:
                break
            for position in members[row]:
                other = theirs.prompts[position]
                if other.exact != p.exact and len(best) < MAX_NEAR_PER_INDICATOR:
                    best.append(NearMatch(p.id, other.id, estimate, p.ref))
        near.extend(best)
    near.sort(key=lambda n: (-n.jaccard.value, n.mine, n.theirs))
    theirs_models = {(m.kind, m.digest) for m in theirs.models}
    models = tuple(sorted((m.kind, m.id) for m in mine.models if (m.kind, m.digest) in theirs_models))
    return MatchResult(mine.scheme.key_id, len(mine.prompts), len(theirs.prompts), exact, tuple(near), models, tau)
