"""Red team round 7 on the registry (docs/decisions.md), on SQLite and PostgreSQL, with its fixes.

D2     the round-6 cost budget never counted incident records: every affecting computation read and parsed
       every incident record in the log (one ordinary key logged 1,000 near-64-KB records naming random
       weights roots: every uncached /current on an unrelated line cost seconds, a web page tens of seconds,
       /incidents was one 64-MB answer). Records are now indexed by what they name (``incident_terms``), a
       computation reads only the records touching its ancestry and is charged their bytes, the parse cache
       is bounded by bytes, a web page has one budget, and /incidents is paged.
       (Not timing tests: reads and charged bytes are counted.)
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.registry import test_redteam_round1 as round1
from tests.registry.service import pending_write, release
from tests.registry.test_client import _signed_model
from tests.registry.test_redteam_round1 import _client
from tests.registry.test_redteam_round4 import _incident
from tests.registry.test_redteam_round5 import _signed_view
from weightwarden.registry import entries
from weightwarden.registry.affecting import incident_terms
from weightwarden.registry.client import release_body_from_bundle
from weightwarden.registry.incidents import AffectedModel
from weightwarden.registry.pages import StorePages
from weightwarden.registry.store import ByteLRU
from weightwarden.registry.store import incident_terms as terms_table

parties = round1.parties  # the same real server and four publishers as round 1


def _family(who: dict[str, Any], store: Any, per: int = 2) -> tuple[int, str]:
    """acme/child declares meta/b0 (``per`` releases); an institute incident on meta/b0."""
    flagged = _incident("REAL: meta/b0 backdoored", AffectedModel("meta/b0"))
    writes = [pending_write(who["meta"], release("meta/b0", v)) for v in range(1, per + 1)]
    writes.append(pending_write(who["acme"], release("acme/child", bases=["meta/b0"])))
    writes.append(pending_write(who["institute"], entries.incident_body(flagged.to_osv())))
    done = store.append_batch(writes)
    assert all(hasattr(d, "index") for d in done), done
    return int(done[-2].index), flagged.id


def _flood(who: dict[str, Any], store: Any, n: int, *, line: str = "evil/line", roots: int = 40) -> list[int]:
    """``n`` incident records by ONE ordinary key (evil/*, default roles), each naming ``roots`` random weights
    roots; ``line`` is the model line they name."""
    writes = [pending_write(who["evil"], entries.incident_body(_incident(
        f"flood {i}", AffectedModel(line, weights_roots=tuple(os.urandom(32).hex() for _ in range(roots))),
    ).to_osv())) for i in range(n)]
    done = store.append_batch(writes)
    assert all(hasattr(d, "index") for d in done), done
    return [int(d.index) for d in done]


def _reads(store: Any, monkeypatch: Any) -> list[int]:
    """Every incident record index the store reads from the database."""
    seen: list[int] = []
    read = store._read_incidents

    def counted(conn: Any, idxs: Any) -> Any:
        seen.extend(int(i) for i in idxs)
        return read(conn, idxs)

    monkeypatch.setattr(store, "_read_incidents", counted)
    return seen


def test_a_flood_not_naming_the_ancestry_is_neither_read_nor_charged(parties, store, monkeypatch):
    _, who, _ = parties
    child, incident_id = _family(who, store)
    spent_before = [0]
    assert [a.id for a in store.affecting_incidents(child, store.size(), spent=spent_before)] == [incident_id]
    flood = _flood(who, store, 60)
    reads = _reads(store, monkeypatch)
    store._incident_parsed = ByteLRU(1 << 20)  # a fresh worker: nothing cached
    spent_after, limits = [0], []
    assert [a.id for a in store.affecting_incidents(child, store.size(), limits, spent=spent_after)] == [incident_id]
    assert not limits
    assert not set(reads) & set(flood)  # not one flood record read
    assert spent_after[0] == spent_before[0]  # and the computation costs what it cost before the flood


def test_a_flood_naming_the_ancestry_is_charged_and_ends_incomplete(parties, store, monkeypatch):
    _, who, _ = parties
    child, incident_id = _family(who, store)
    _flood(who, store, 40, line="meta/b0")  # relevant by line: every record must be weighed
    spent, limits = [0], []
    found = store.affecting_incidents(child, store.size(), limits, spent=spent)
    assert incident_id in [a.id for a in found] and not limits  # the default budget holds 40 records
    record_bytes = sum(len(store.entry(i)) for i in range(store.size()) if i >= 4)
    assert spent[0] >= record_bytes  # every relevant record's bytes were charged
    # a smaller budget: the walk stops reading and the answer is "incomplete" (fail closed)
    monkeypatch.setattr(store, "max_view_cost", record_bytes // 4)
    reads = _reads(store, monkeypatch)
    store._incident_parsed = ByteLRU(1 << 20)
    store.append_batch([pending_write(who["meta"], release("x/unrelated"))])  # a new size: no memo
    limits = []
    store.affecting_incidents(child, store.size(), limits)
    assert any("incomplete" in m for m in limits), limits
    assert len(reads) < 40 // 2  # it stopped reading records once the budget was spent


def test_the_signed_view_and_the_clients_full_scan_agree_under_a_flood(parties, store):
    server, who, tmp = parties
    model, bundle = _signed_model(tmp / "child", 1, os.urandom(700))
    flagged = _incident("REAL: meta/base backdoored", AffectedModel("meta/base"))
    store.append_batch([pending_write(who["meta"], release("meta/base", 1)),
                        pending_write(who["institute"], entries.incident_body(flagged.to_osv()))])
    _flood(who, store, 30)
    with _client(server, tmp, "p") as c:
        c.publish(release_body_from_bundle(bundle, model="acme/child", bases=["meta/base"]), who["acme"].key)
    custom = _signed_view(server, "acme/child")
    assert [a["id"] for a in custom["affecting_incidents"]] == [flagged.id]
    assert custom.get("affecting_complete") is not False
    for name, kw in (("full", {}), ("index", {"full_scan_max": 1})):
        with _client(server, tmp, f"c-{name}", **kw) as c:
            result = c.check(model, bundle=bundle)
        assert not result.current and any(flagged.id in r for r in result.reasons), (name, result.reasons)


def test_the_parse_cache_is_bounded_by_bytes(parties, store):
    _, who, _ = parties
    child, _ = _family(who, store)
    _flood(who, store, 20, line="meta/b0")
    store._incident_parsed = ByteLRU(30_000)
    store.affecting_incidents(child, store.size())
    assert 0 < store._incident_parsed.bytes <= 30_000


def test_a_web_page_has_one_budget_across_its_computations(parties, store, monkeypatch):
    _, who, _ = parties
    flagged = _incident("REAL: meta/base backdoored", AffectedModel("meta/base"))
    store.append_batch([pending_write(who["meta"], release("meta/base", v)) for v in range(1, 7)]
                       + [pending_write(who["institute"], entries.incident_body(flagged.to_osv()))])
    _flood(who, store, 10, line="meta/base")
    computed = [0]
    compute = store._compute_affecting

    def counted(*a: Any, **kw: Any) -> Any:
        computed[0] += 1
        return compute(*a, **kw)

    monkeypatch.setattr(store, "_compute_affecting", counted)
    pages = StorePages(store)
    records = pages.incidents_of_line("meta/base")
    assert len(records) == 11  # one page of records naming the line, each from the store's parse cache
    _, limits = pages.affecting("meta/base", records)
    assert not limits and computed[0] == 6
    # a budget that one computation spends: the page starts no second one and says "incomplete"
    monkeypatch.setattr(store, "max_view_cost", pages.spent // 8)
    store.append_batch([pending_write(who["meta"], release("x/unrelated"))])
    computed[0] = 0
    records = pages.incidents_of_line("meta/base")
    _, limits = pages.affecting("meta/base", records)
    assert computed[0] <= 1 and any("budget is spent" in m for m in limits), (computed, limits)


def test_incidents_are_paged_and_the_cli_reader_follows_the_pages(parties, store):
    from weightwarden.cli.incident import _registry_records

    server, who, _ = parties
    flagged = _incident("REAL: meta/base backdoored", AffectedModel("meta/base"))
    flood = _flood(who, store, 7, roots=2)
    store.append_batch([pending_write(who["institute"], entries.incident_body(flagged.to_osv()))])
    seen, after, pages = [], -1, 0
    while True:
        answer = httpx.get(f"{server.url}/incidents", params={"after": after, "limit": 3}).json()
        seen.extend(e["index"] for e in answer["incidents"])
        pages += 1
        if "next" not in answer:
            break
        after = answer["next"]
    assert pages == 3 and seen == sorted(seen) and len(seen) == 8 and set(flood) < set(seen)
    assert [i for i, _k, _r in store.incident_records()] == seen
    assert httpx.get(f"{server.url}/incidents", params={"limit": 501}).status_code == 422
    assert len(_registry_records(server.url)) == 8
    # a record continuing a chain replaces its head in the listing (one record per (id, key))
    from weightwarden.registry.incidents import transition

    later = transition(flagged, "confirmed", note="checked")
    store.append_batch([pending_write(who["institute"], entries.incident_body(later.to_osv()))])
    listed = [e for e in httpx.get(f"{server.url}/incidents", params={"limit": 500}).json()["incidents"]
              if e["record"]["id"] == flagged.id]
    assert len(listed) == 1 and listed[0]["index"] == store.size() - 1


def test_the_migration_backfills_the_index(parties, store):
    _, who, _ = parties
    _family(who, store)
    _flood(who, store, 5, roots=3)
    with store._reader.connect() as conn:
        before = sorted(tuple(r) for r in conn.execute(sa.select(terms_table)))
    assert len(before) == 2 + 5 * (1 + 1 + 3)  # the institute record: id, line; each flood record: id, line, roots
    with store._writer.begin() as conn:  # back to a database written before revision 0005
        conn.execute(sa.text("DROP TABLE incident_terms"))
        conn.execute(sa.text("DROP TABLE incident_heads"))  # revision 0006 (round 8) builds on 0005
        conn.execute(sa.text("DROP TABLE key_usage"))  # revision 0007 (round 14 on the registry)
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
    store.migrate()
    with store._reader.connect() as conn:
        after = sorted(tuple(r) for r in conn.execute(sa.select(terms_table)))
    assert after == before
    rec = _incident("x", AffectedModel("a/b", weights_roots=("sha256:" + "ab" * 32,))).to_osv()
    assert ("root", "ab" * 8) in incident_terms(rec) and ("line", "a/b") in incident_terms(rec)


@pytest.mark.parametrize("kind", ["index", "model"])
def test_web_pages_read_only_the_records_they_show(parties, store, monkeypatch, kind):
    server, who, _ = parties
    _family(who, store)
    flood = _flood(who, store, 30)
    reads = _reads(store, monkeypatch)
    store._incident_parsed = ByteLRU(1 << 20)
    path = "/web/" if kind == "index" else "/web/models/acme/child"
    page = httpx.get(f"{server.url}{path}")
    assert page.status_code == 200 and "REAL: meta/b0" in page.text
    if kind == "model":
        assert not set(reads) & set(flood)
    else:
        assert len(reads) <= StorePages.LISTED
