"""Initial registry schema: log state, entries, stored hashes, nonces, publishers, model-line index.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "hashes",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "nonces",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("expires", sa.BigInteger, nullable=False, index=True),
    )
    op.create_table(
        "publishers",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("namespaces", sa.Text, nullable=False),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "releases",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("bundle", sa.String(71), nullable=False, unique=True),
        sa.Column("subject_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("weights_root", sa.String(64), nullable=True, index=True),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("model", "version", name="uq_release_model_version"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("idx", sa.BigInteger, nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("release", sa.String(71), nullable=True, index=True),
        sa.Column("other", sa.String(71), nullable=True),
        sa.Column("incident", sa.String(128), nullable=True, index=True),
    )


def downgrade() -> None:
    for table in ("events", "releases", "publishers", "nonces", "hashes", "entries", "log_state"):
        op.drop_table(table)
