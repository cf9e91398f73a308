"""Alembic environment shared by every service: the service's metadata and connection are
handed in by :mod:`libs.common.migrate`, its versions live in the service's own folder."""

from alembic import context
from sqlalchemy.types import TypeDecorator

config = context.config
connection = config.attributes["connection"]
target_metadata = config.attributes["metadata"]
# Objects a migration creates by hand (full-text indexes, SQLite FTS tables): autogenerate
# must not propose dropping them.
_hand_made = set(target_metadata.info.get("hand_made_objects", ()))


def include_object(obj, name, type_, reflected, compare_to):
    return not (reflected and compare_to is None and name in _hand_made)


def render_item(type_, obj, autogen_context):
    # Migrations must not import service code: a TypeDecorator is written as what it stores.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        autogen_context.imports.add("import sqlalchemy as sa")
        return f"sa.{obj.impl!r}"
    return False


context.configure(
    render_item=render_item,
    include_object=include_object,
    connection=connection,
    target_metadata=target_metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables there.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
