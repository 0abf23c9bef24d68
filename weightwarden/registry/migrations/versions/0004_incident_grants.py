"""The namespace grant of the key that logged each incident record, as it was when the record was written
(red team round 4, K1: removing or rotating a key must not silently clear its content incidents).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_grants",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("namespaces", sa.Text, nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_grants")
