"""A release bundle is unique within its model line, not across lines (red team round 1: with a global
uniqueness, whoever logged a publisher's public bundle first under their own namespace locked the publisher
out of logging it in its own line).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _releases(unique_bundle: bool) -> sa.Table:
    """The releases table as 0001 made it, with the bundle unique globally or per line."""
    constraints: list[sa.SchemaItem] = [sa.UniqueConstraint("model", "version", name="uq_release_model_version")]
    if not unique_bundle:
        constraints.append(sa.UniqueConstraint("model", "bundle", name="uq_release_model_bundle"))
    return sa.Table(
        "releases", sa.MetaData(),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("bundle", sa.String(71), nullable=False, unique=unique_bundle),
        sa.Column("subject_sha256", sa.String(64), nullable=False),
        sa.Column("weights_root", sa.String(64), nullable=True),
        sa.Column("publisher", sa.String(64), nullable=False),
        sa.Column("logged_at", sa.BigInteger, nullable=False),
        *constraints,
    )


def _indexes(*, bundle: bool) -> None:
    """The copied table has none of 0001's indexes: made again (and the bundle lookup's)."""
    op.create_index("ix_releases_subject_sha256", "releases", ["subject_sha256"])
    op.create_index("ix_releases_weights_root", "releases", ["weights_root"])
    if bundle:
        op.create_index("ix_releases_bundle", "releases", ["bundle"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop the unnamed UNIQUE of 0001: the table is copied into the new definition.
        with op.batch_alter_table("releases", copy_from=_releases(unique_bundle=False), recreate="always"):
            pass
        _indexes(bundle=True)
        return
    op.drop_constraint("releases_bundle_key", "releases", type_="unique")  # PostgreSQL's name for 0001's
    op.create_unique_constraint("uq_release_model_bundle", "releases", ["model", "bundle"])
    op.create_index("ix_releases_bundle", "releases", ["bundle"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("releases", copy_from=_releases(unique_bundle=True), recreate="always"):
            pass
        _indexes(bundle=False)
        return
    op.drop_index("ix_releases_bundle", "releases")
    op.drop_constraint("uq_release_model_bundle", "releases", type_="unique")
    op.create_unique_constraint("releases_bundle_key", "releases", ["bundle"])
