"""What each incident record names (its id; the model lines, weights roots and file digests of its affected
entries), so a view reads only the records that touch its ancestry and the listings page by chain heads (red
team round 7, D2: every view read and parsed every incident record in the log). Existing records are indexed
here (backfill), the same way the sequencer indexes new ones (``affecting.incident_terms``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 50  # records per step (each may name ~1,800 terms): bounded memory


def upgrade() -> None:
    from weightwarden.registry.affecting import incident_terms
    from weightwarden.registry.entries import parse_logged

    terms = op.create_table(
        "incident_terms",
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_incident_terms_idx", "incident_terms", ["idx", "kind"])
    entries = sa.table("entries", sa.column("idx", sa.BigInteger), sa.column("kind", sa.String),
                       sa.column("data", sa.LargeBinary))
    conn = op.get_bind()
    after = -1
    while True:  # in batches of log order: the records are streamed, never all held at once
        rows = conn.execute(sa.select(entries.c.idx, entries.c.data).where(
            entries.c.kind == "incident", entries.c.idx > after).order_by(entries.c.idx).limit(_BATCH)).all()
        if not rows:
            break
        values = []
        for r in rows:
            logged = parse_logged(bytes(r.data))
            key = str(logged.get("publisher", {}).get("key_id", ""))
            values.extend({"kind": k, "value": v, "idx": int(r.idx), "key_id": key if k == "id" else ""}
                          for k, v in incident_terms(logged["body"]["incident"]))
        if values:
            conn.execute(sa.insert(terms), values)
        after = int(rows[-1].idx)


def downgrade() -> None:
    op.drop_table("incident_terms")
