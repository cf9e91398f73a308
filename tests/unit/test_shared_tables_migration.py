"""A service's migration creates the outbox, inbox and idempotency-key tables exactly as the
shared definition has them, and its downgrade removes them."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import MetaData, create_engine, inspect

from libs.common.db import sqlite_url
from libs.common.messaging.migration import create_shared_tables, drop_shared_tables
from libs.common.messaging.tables import shared_tables
from libs.common.migrate import upgrade


def test_the_migrated_tables_are_the_shared_definition(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'service.db'}")
    with engine.begin() as conn:
        context = MigrationContext.configure(conn)
        create_shared_tables(Operations(context))
        assert set(inspect(conn).get_table_names()) == {"outbox", "inbox", "idempotency_keys"}
        assert compare_metadata(context, shared_tables(MetaData())[0].metadata) == []
        drop_shared_tables(Operations(context))
        assert inspect(conn).get_table_names() == []
    engine.dispose()


@pytest.mark.parametrize("service", ["catalog", "circulation", "notifier", "requests"])
async def test_each_services_migrations_make_exactly_its_tables(tmp_path, service):
    """What the code's tables say and what the migrations build are the same schema (a new
    table or column without its migration fails here, not in production)."""
    url = sqlite_url(tmp_path / f"{service}.db")
    await upgrade(service, url)
    metadata = importlib.import_module(f"services.{service}.adapters.tables").metadata
    engine = create_engine(url.replace("+aiosqlite", ""))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    # The catalogue's SQLite full-text index is a virtual table SQLAlchemy does not model.
    diff = [d for d in diff if not (d[0] == "remove_table" and "_fts" in d[1].name)]
    assert diff == []
