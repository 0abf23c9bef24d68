"""Fixtures of the registry service tests (engineer B: service.py); the log library's tests need none."""

from __future__ import annotations

import contextlib

# The service fixtures need weightwarden[registry] (FastAPI, SQLAlchemy); without the extra only the pure
# log library's tests run.
with contextlib.suppress(ImportError):
    from tests.registry.service import db_url, log_keys, store  # noqa: F401
