"""Matching two parties' indicator sets: exact, near-duplicate (keyed MinHash + LSH) and model indicators.

    result = match_sets(load_set("mine.json"), load_set("theirs.json"), load_key("group.key"))
    result.to_json()   # weightwarden.indicator-match/v1

Both sets must come from the same group key and scheme, and the key is needed: exported sketches are sealed
(:meth:`Sketcher.seal`) and only key holders can open them (:meth:`Scheme.comparable_to` raises otherwise).
A near match is a pair (mine, theirs) that shares an LSH band, whose estimated Jaccard similarity on all shingles is at
least the threshold (``near_threshold`` of MINE's scheme unless given) AND whose estimate on the payload part (the
shingles left without the instruction frame: red team round 24) is at least ``payload_threshold``; pairs already matched exactly are
not repeated as near matches. Each near match carries its estimate and a 95% Wilson interval; at most
:data:`MAX_NEAR_PER_INDICATOR` (the best) are reported per indicator of mine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from weightwarden.indicators.auth import verify_set
from weightwarden.indicators.keys import GroupKey
from weightwarden.indicators.records import KNOWN_CATEGORIES, IndicatorSet, PromptIndicator
from weightwarden.indicators.sketch import BandIndex, JaccardEstimate, Sketcher, is_near, near_estimates

MATCH_SCHEMA = "weightwarden.indicator-match/v1"
MAX_NEAR_PER_INDICATOR = 10  # best near matches reported per indicator of mine (a crafted set cannot flood)


@dataclass(frozen=True)
class NearMatch:
    mine: str
    theirs: str
    jaccard: JaccardEstimate
    mine_ref: str | None = None
    payload: JaccardEstimate | None = None  # the estimate on the payload part (red team round 24)


@dataclass(frozen=True)
class MatchResult:
    key_id: str
    mine_count: int
    theirs_count: int
    exact: tuple[tuple[str, str, str | None], ...]  # (mine id, theirs id, my local ref)
    near: tuple[NearMatch, ...]
    models: tuple[tuple[str, str], ...]  # (kind, mine id)
    threshold: float
    payload_threshold: float = 0.0
    # Red team round 18 (class 3): any older tagged set of the group passes the check (the tag proves "made by a
    # holder of the group key", not who or when), so the result names THEIRS: its creation time and the start of
    # its tag, to compare out of band with what the sender says it sent.
    theirs_created: str = ""
    theirs_tag: str = ""
    # Red team round 18 (class 2): fields the tag does not cover (text, refs, producer, model labels, free-text
    # categories) present in either set: shown, never authenticated.
    notes: tuple[str, ...] = ()

    @property
    def matched_mine(self) -> int:
        return len({m for m, _, _ in self.exact} | {n.mine for n in self.near})

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": MATCH_SCHEMA,
            "key_id": self.key_id,
            "near_threshold": self.threshold,
            "payload_threshold": self.payload_threshold,
            "counts": {"mine": self.mine_count, "theirs": self.theirs_count, "exact": len(self.exact),
                       "near": len(self.near), "mine_matched": self.matched_mine, "models": len(self.models)},
            "exact": [{"mine": m, "theirs": t, **({"mine_ref": r} if r else {})} for m, t, r in self.exact],
            "near": [
                {"mine": n.mine, "theirs": n.theirs, "jaccard": round(n.jaccard.value, 4),
                 "interval95": [round(n.jaccard.low, 4), round(n.jaccard.high, 4)],
                 "agreeing_values": f"{n.jaccard.agree}/{n.jaccard.k}",
                 **({"payload_jaccard": round(n.payload.value, 4),
                     "payload_agreeing_values": f"{n.payload.agree}/{n.payload.k}"} if n.payload else {}),
                 **({"mine_ref": n.mine_ref} if n.mine_ref else {})}
                for n in self.near
            ],
            "models": [{"kind": k, "mine": m} for k, m in self.models],
            "theirs": {"created": self.theirs_created, "tag_fingerprint": self.theirs_tag},
            "notes": list(self.notes),
        }


def members_to_visit(row: list[PromptIndicator], limit: int) -> list[PromptIndicator]:
    """The members of one LSH row a query looks at (a separate function so that tests can count visits)."""
    return row[:limit]


def match_sets(mine: IndicatorSet, theirs: IndicatorSet, key: GroupKey, *,
               threshold: float | None = None, mine_where: str = "mine", theirs_where: str = "theirs") -> MatchResult:
    """Match two sets of the group of ``key``: exported sketches are sealed, and only the key opens them. Both sets'
    authentication tags are checked first (:class:`SetAuthenticationError` naming ``mine_where``/``theirs_where``:
    red team round 17, class 2, a relay rewrote digests and the match silently found nothing)."""
    mine.scheme.comparable_to(theirs.scheme)
    opener = Sketcher(key, mine.scheme)  # raises SchemeMismatchError when the key is not the sets' key
    verify_set(mine, key, mine_where)
    verify_set(theirs, key, theirs_where)
    tau = mine.scheme.near_threshold if threshold is None else threshold
    theirs_by_exact: dict[str, PromptIndicator] = {}
    for p in theirs.prompts:
        theirs_by_exact.setdefault(p.exact, p)  # one indicator per exact digest: copies add no work below
    exact = tuple(sorted((p.id, theirs_by_exact[p.exact].id, p.ref) for p in mine.prompts if p.exact in theirs_by_exact))
    # Identical signatures are indexed once (a set padded with copies cannot multiply the index), and each
    # query's candidates are scored in one vectorised comparison.
    index = BandIndex(theirs.scheme)
    rows: dict[bytes, int] = {}
    members: list[list[PromptIndicator]] = []
    signatures: list[np.ndarray] = []
    for p in theirs_by_exact.values():
        signature = opener.open(p.exact, p.sketch)
        key_bytes = signature.tobytes()
        if key_bytes not in rows:
            rows[key_bytes] = len(members)
            members.append([])
            signatures.append(signature)
            index.insert(str(rows[key_bytes]), signature)
        members[rows[key_bytes]].append(p)
    matrix = np.stack(signatures) if signatures else np.zeros((0, 1), np.uint32)
    near: list[NearMatch] = []
    split = mine.scheme.whole_perm
    for p in mine.prompts:
        mine_signature = opener.open(p.exact, p.sketch)
        candidates = np.array([int(c) for c in index.query(mine_signature)], dtype=np.int64)
        if not candidates.size:
            continue
        # Ranked by agreement on the whole-text part; a candidate whose payload part disagrees is skipped, not a
        # reason to stop (a later one may agree on both).
        agree = (matrix[candidates, :split] == mine_signature[:split]).sum(axis=1)
        best: list[NearMatch] = []
        for row in candidates[np.argsort(-agree, kind="stable")]:
            estimate, payload = near_estimates(mine.scheme, mine_signature, matrix[row])
            if estimate.value < tau or len(best) >= MAX_NEAR_PER_INDICATOR:
                break
            if not is_near(mine.scheme, estimate, payload, tau):
                continue
            # Exact digests within a row are distinct, so at most one member is p itself: visiting
            # ``room + 1`` members fills ``best``. This bounds the work per query by construction (10,000 copies
            # of one sketch cost 11 visits each, not 10,000: red team round 1, S6).
            room = MAX_NEAR_PER_INDICATOR - len(best)
            for other in members_to_visit(members[row], room + 1):
                if other.exact != p.exact and len(best) < MAX_NEAR_PER_INDICATOR:
                    best.append(NearMatch(p.id, other.id, estimate, p.ref, payload))
        near.extend(best)
    near.sort(key=lambda n: (-n.jaccard.value, n.mine, n.theirs))
    theirs_models = {(m.kind, m.digest) for m in theirs.models}
    models = tuple(sorted((m.kind, m.id) for m in mine.models if (m.kind, m.digest) in theirs_models))
    notes = tuple(note for note in (unauthenticated_note(mine, mine_where), unauthenticated_note(theirs, theirs_where))
                  if note)
    return MatchResult(mine.scheme.key_id, len(mine.prompts), len(theirs.prompts), exact, tuple(near), models, tau,
                       payload_threshold=mine.scheme.payload_threshold,
                       theirs_created=theirs.created, theirs_tag=tag_fingerprint(theirs), notes=notes)


def tag_fingerprint(indicators: IndicatorSet) -> str:
    """The first 16 hex digits of the set's authentication tag: names one exact set (to compare out of band)."""
    return (indicators.auth or "")[:16]


def unauthenticated_note(indicators: IndicatorSet, where: str) -> str | None:
    """A note when the set carries fields its tag does not cover (red team round 18, class 2): a relay without the
    key can rewrite the raw text, local refs, producer, model labels and free-text categories of a set that passes
    the key check."""
    private = (indicators.producer is not None or any(m.label is not None for m in indicators.models)
               or any(p.text is not None or p.ref is not None or (p.category is not None
                                                                  and p.category not in KNOWN_CATEGORIES)
                      for p in indicators.prompts))
    if not private:
        return None
    return (f"{where}: its raw text, local refs, producer, model labels and free-text categories are NOT covered by "
            "the authentication tag: anyone who relayed the file could have changed them")
