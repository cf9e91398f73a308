"""A service's migration creates the outbox, inbox and idempotency-key tables exactly as the
shared definition has them, and its downgrade removes them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import MetaData, create_engine, inspect

from libs.common.messaging.migration import create_shared_tables, drop_shared_tables
from libs.common.messaging.tables import shared_tables


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
