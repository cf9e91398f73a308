"""The shared tables in a service's Alembic migration: a new service's first revision calls
:func:`create_shared_tables` (and its downgrade :func:`drop_shared_tables`) instead of writing
the outbox, inbox and idempotency-key tables out by hand, so they are what
``libs.common.messaging.tables`` defines. Revisions already applied stay as they were written:
changing them would change the databases they made."""

from __future__ import annotations

from alembic.operations import Operations
from sqlalchemy import MetaData

from libs.common.messaging.tables import shared_tables


def create_shared_tables(op: Operations) -> None:
    for table in shared_tables(MetaData()):
        op.create_table(table.name, *(column._copy() for column in table.columns))
        for index in table.indexes:
            op.create_index(
                index.name,
                table.name,
                [column.name for column in index.columns],
                unique=bool(index.unique),
                **index.dialect_kwargs,
            )


def drop_shared_tables(op: Operations) -> None:
    for table in reversed(shared_tables(MetaData())):
        for index in table.indexes:
            op.drop_index(index.name, table_name=table.name)
        op.drop_table(table.name)
