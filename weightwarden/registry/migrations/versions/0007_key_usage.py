"""Bytes each publisher key logged per UTC day (red team round 14 on the registry, D3: one ordinary key logged
300 audits of ~62 KB in 14 s, an entry bundle of 15.9 MB, and every full-scan client refused the log). The
sequencer refuses a write that would take its key over the daily byte budget (``Store.key_day_bytes``).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Starts empty: entries logged before it are not charged (their day is over, or nearly).
    op.create_table(
        "key_usage",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("key_usage")
