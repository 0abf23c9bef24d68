"""Alembic migrations of the registry database (run programmatically by :func:`upgrade`)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection

HERE = Path(__file__).resolve().parent


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Bring the database behind ``connection`` to ``revision`` (Alembic, configured in code: no .ini)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def current_revision(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
