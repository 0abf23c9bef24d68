"""Red team round 8 on the registry (docs/decisions.md), on SQLite and PostgreSQL, with its fixes.

W1     the sequencer checked a new incident record by reading every record under its id, from every key, and
       running ``current_incidents`` over the key's whole chain (two parses per chain record): O(chain) per
       write, O(chain²) per chain, every writer waiting behind it. Now each (id, key) chain has a head row
       (``incident_heads``, migration 0006) and a record is checked against that head alone; a chain holds at
       most ``max_incident_chain`` records.
X1     the chain-member query of ``relevant_incidents`` read the "id" rows of EVERY key under an id and applied
       the 4,096-row cap before narrowing to the relevant (id, key) chains: records under someone else's
       incident id made that incident's lines "incomplete". Now only the relevant chains' rows are read and
       counted.
(Not timing tests: statements, parses and rows are counted.)
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import pending_write, release
from tests.registry.test_redteam_round4 import _incident
from tests.registry.test_redteam_round7 import _family
from weightwarden.registry import entries
from weightwarden.registry import store as store_module
from weightwarden.registry.incidents import AffectedModel, Incident, transition
from weightwarden.registry.store import Store, incident_heads

parties = round1.parties  # the same real server and four publishers as round 1


def _variants(record: dict[str, Any], start: int, n: int) -> list[dict[str, Any]]:
    """Records that each continue every other one (same publication and history, other ``details``): the
    red team's chain, where no record is byte-equal to the head (the fast path of ``_continues`` never
    applies)."""
    return [dict(record, details=f"variant {i}") for i in range(start, start + n)]


def _log(store: Any, who: Any, records: list[dict[str, Any]]) -> list[Any]:
    return store.append_batch([pending_write(who, entries.incident_body(r)) for r in records])


class _Counter:
    """Counts what one append costs the sequencer: SQL statements, rows fetched, entry and incident parses."""

    def __init__(self, store: Any, monkeypatch: Any) -> None:
        self.statements = self.rows = self.parses = self.logged = 0
        engine = store._writer
        sa.event.listen(engine, "before_cursor_execute", self._stmt)
        self._engine = engine
        from_osv = Incident.from_osv.__func__  # type: ignore[attr-defined]
        parse_logged = store_module.parse_logged

        def counted_from_osv(cls: Any, *a: Any, **kw: Any) -> Any:
            self.parses += 1
            return from_osv(cls, *a, **kw)

        def counted_parse_logged(*a: Any, **kw: Any) -> Any:
            self.logged += 1
            return parse_logged(*a, **kw)

        monkeypatch.setattr(Incident, "from_osv", classmethod(counted_from_osv))
        monkeypatch.setattr(store_module, "parse_logged", counted_parse_logged)
        original = sa.engine.Result.all

        def counted_all(result: Any) -> Any:
            out = original(result)
            self.rows += len(out)
            return out

        monkeypatch.setattr(sa.engine.Result, "all", counted_all)

    def _stmt(self, *_a: Any) -> None:
        self.statements += 1

    def close(self) -> None:
        sa.event.remove(self._engine, "before_cursor_execute", self._stmt)

    def measure(self, fn: Any) -> tuple[int, int, int, int]:
        self.statements = self.rows = self.parses = self.logged = 0
        fn()
        return self.statements, self.rows, self.parses, self.logged


def test_an_incident_write_costs_the_same_at_any_chain_length(parties, store, monkeypatch):
    _, who, _ = parties
    store.max_incident_chain = 10_000  # the red team's unbounded chain (the default bound is tested below)
    base = _incident("squat", AffectedModel("evil/line")).to_osv()
    assert all(hasattr(d, "index") for d in _log(store, who["evil"], _variants(base, 0, 3)))
    # another key's records under the SAME id: its own chain, which evil's writes must not read
    assert all(hasattr(d, "index") for d in _log(store, who["institute"], _variants(base, 100, 3)))
    counter = _Counter(store, monkeypatch)
    try:
        costs = []
        for grow in (0, 150, 300):
            if grow:
                done = _log(store, who["evil"], _variants(base, 1000 + grow, grow))
                assert all(hasattr(d, "index") for d in done), done
            one = _variants(base, 5000 + grow, 1)
            costs.append(counter.measure(lambda one=one: _log(store, who["evil"], one)))
    finally:
        counter.close()
    # chains of 4, 155 and 456 records: one more record costs the same statements, rows and parses, not
    # O(chain): one entry parse (the head's) and a few record parses (the request's validation, the head)
    assert costs[0] == costs[1] == costs[2], costs
    assert costs[0][2] <= 6 and costs[0][3] <= 1, costs
    with store._reader.connect() as conn:
        heads = {(r.key_id, int(r.records)) for r in conn.execute(sa.select(incident_heads))}
    assert heads == {(who["evil"].publisher.key_id, 3 + 1 + 150 + 1 + 300 + 1),
                     (who["institute"].publisher.key_id, 3)}


def test_a_non_continuing_record_is_still_refused_against_the_head(parties, store):
    _, who, _ = parties
    flagged = _incident("real", AffectedModel("acme/ok"))
    confirmed = transition(flagged, "confirmed", note="checked").to_osv()
    assert all(hasattr(d, "index") for d in _log(store, who["institute"], [flagged.to_osv(), confirmed]))
    [refused] = _log(store, who["institute"], [flagged.to_osv()])  # a shorter history: a rewrite
    assert refused.status == 409 and "does not continue" in refused.reason
    # within one batch, a record is checked against the head the batch moved
    done = _log(store, who["institute"], [*_variants(confirmed, 0, 2), flagged.to_osv()])
    assert [hasattr(d, "index") for d in done] == [True, True, False]
    with store._reader.connect() as conn:
        [row] = conn.execute(sa.select(incident_heads)).all()
    assert int(row.idx) == store.size() - 1 and int(row.records) == 4


def test_a_key_may_log_a_bounded_number_of_records_per_incident_id(parties, store, monkeypatch):
    _, who, _ = parties
    store.max_incident_chain = 5
    base = _incident("squat", AffectedModel("evil/line")).to_osv()
    done = _log(store, who["evil"], _variants(base, 0, 7))
    assert [hasattr(d, "index") for d in done] == [True] * 5 + [False] * 2
    assert done[5].status == 409 and "5 records from this key" in done[5].reason
    assert "WW_REGISTRY_MAX_INCIDENT_CHAIN" in done[5].reason
    # the bound is per (id, key): another key under the same id, and evil under another id, still log
    assert hasattr(_log(store, who["institute"], _variants(base, 50, 1))[0], "index")
    other = _incident("another", AffectedModel("evil/line")).to_osv()
    assert hasattr(_log(store, who["evil"], [other])[0], "index")
    # configurable by environment, validated
    monkeypatch.setenv(store_module.ENV_MAX_INCIDENT_CHAIN, "12")
    assert Store(store.url, store.signer).max_incident_chain == 12
    monkeypatch.setenv(store_module.ENV_MAX_INCIDENT_CHAIN, "lots")
    with pytest.raises(Exception, match="whole number"):
        Store(store.url, store.signer)


def test_other_keys_records_under_an_id_do_not_make_its_lines_incomplete(parties, store, monkeypatch):
    _, who, _ = parties
    store.append_batch([pending_write(who["acme"], release("acme/ok", 1))])
    flagged = _incident("acme/ok poisoned", AffectedModel("acme/ok"))
    assert hasattr(_log(store, who["institute"], [flagged.to_osv()])[0], "index")
    rel = int(store.model_view("acme/ok")["releases"][0]["index"])
    monkeypatch.setattr(store_module, "MAX_RELEVANT_TERMS", 30)
    # evil logs 40 records under the institute's id, naming only its own line (> the lowered cap)
    squat = dict(flagged.to_osv(), affected=_incident("x", AffectedModel("evil/line")).to_osv()["affected"])
    assert all(hasattr(d, "index") for d in _log(store, who["evil"], _variants(squat, 0, 40)))
    limits: list[str] = []
    found = store.affecting_incidents(rel, store.size(), limits)
    assert [a.id for a in found] == [flagged.id] and limits == []
    # the cap still applies to the relevant chain itself: past it, fail closed
    more = _variants(flagged.to_osv(), 0, 31)
    assert all(hasattr(d, "index") for d in _log(store, who["institute"], more))
    limits = []
    store.affecting_incidents(rel, store.size(), limits)
    assert any("incomplete" in m for m in limits), limits


def test_the_migration_backfills_the_heads(parties, store):
    _, who, _ = parties
    _family(who, store)
    squat = _incident("squat", AffectedModel("evil/line"))
    base = squat.to_osv()
    _log(store, who["evil"], [*_variants(base, 0, 4), transition(squat, "confirmed", note="c").to_osv()])
    _log(store, who["institute"], _variants(base, 10, 2))
    with store._reader.connect() as conn:
        before = sorted(tuple(r) for r in conn.execute(sa.select(incident_heads)))
    assert len(before) == 3
    with store._writer.begin() as conn:  # back to a database written before revision 0006
        conn.execute(sa.text("DROP TABLE incident_heads"))
        conn.execute(sa.text("DROP INDEX ix_incident_terms_chain"))
        conn.execute(sa.text("DROP TABLE key_usage"))  # revision 0007 (round 14 on the registry)
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0005'"))
    store.migrate()
    with store._reader.connect() as conn:
        after = sorted(tuple(r) for r in conn.execute(sa.select(incident_heads)))
    assert after == before
    # and the sequencer goes on from the backfilled heads
    [nope] = _log(store, who["evil"], [base])
    assert nope.status == 409 and "does not continue" in nope.reason
