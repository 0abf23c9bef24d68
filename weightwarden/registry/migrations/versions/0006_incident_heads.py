"""The head of each (incident id, key) chain and its length, so the sequencer checks a new record against
that head alone (red team round 8, W1: it read and parsed every record under the id, from every key, for
every record it checked); and an index of the chains' "id" rows by (id, key), so a view reads one chain's
members without the rows of other keys under the same id (X1). Existing chains are backfilled here with
the rule every reader applies (``views.current_incidents``: the latest record that continues the head).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 50  # records per step: bounded memory (a record may be ~64 KB)


def upgrade() -> None:
    from weightwarden.registry.entries import parse_logged
    from weightwarden.registry.views import _continues

    heads_table = op.create_table(
        "incident_heads",
        sa.Column("incident", sa.Text, primary_key=True),
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_incident_terms_chain", "incident_terms", ["value", "key_id", "idx"],
                    sqlite_where=sa.text("kind = 'id'"), postgresql_where=sa.text("kind = 'id'"))
    entries = sa.table("entries", sa.column("idx", sa.BigInteger), sa.column("kind", sa.String),
                       sa.column("data", sa.LargeBinary))
    conn = op.get_bind()

    def record_at(idx: int) -> dict:  # a head is re-read when needed: only (idx, count) is held per chain
        data = conn.execute(sa.select(entries.c.data).where(entries.c.idx == idx)).scalar_one()
        return parse_logged(bytes(data))["body"]["incident"]  # type: ignore[no-any-return]

    heads: dict[tuple[str, str], list[int]] = {}  # (id, key) -> [head idx, records]
    after = -1
    while True:  # in log order, streamed
        rows = conn.execute(sa.select(entries.c.idx, entries.c.data).where(
            entries.c.kind == "incident", entries.c.idx > after).order_by(entries.c.idx).limit(_BATCH)).all()
        if not rows:
            break
        for r in rows:
            logged = parse_logged(bytes(r.data))
            record = logged["body"]["incident"]
            chain = (str(record.get("id")), str(logged.get("publisher", {}).get("key_id", "")))
            known = heads.get(chain)
            if known is None:
                heads[chain] = [int(r.idx), 1]
                continue
            known[1] += 1
            if _continues(record_at(known[0]), record):
                known[0] = int(r.idx)
        after = int(rows[-1].idx)
    values = [{"incident": c[0], "key_id": c[1], "idx": h[0], "records": h[1]} for c, h in sorted(heads.items())]
    for i in range(0, len(values), 500):
        conn.execute(sa.insert(heads_table), values[i:i + 500])


def downgrade() -> None:
    op.drop_index("ix_incident_terms_chain", table_name="incident_terms")
    op.drop_table("incident_heads")
