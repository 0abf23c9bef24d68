"""Alembic environment: always handed an open connection by ``migrations.upgrade`` (never reads an .ini)."""

from __future__ import annotations

from alembic import context


def _run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


try:
    context.config  # noqa: B018 - only set while Alembic runs this file
except NameError:  # imported outside Alembic (e.g. by a test walking the package): nothing to do
    pass
else:
    _run()
