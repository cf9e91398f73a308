"""The tables every service adds to its own metadata: the outbox, the inbox and the
``Idempotency-Key`` answers; defined here once, for the models and the migrations alike."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from libs.common.db import UtcDateTime

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        # Not unique: a dead letter replayed twice goes out twice under its own message id.
        Column("message_id", String(64), nullable=False),
        Column("exchange", String(80), nullable=False),
        Column("routing_key", String(120), nullable=False),
        Column("correlation_id", String(64), nullable=True),
        Column("body", Text, nullable=False),
        Column("headers", JSON, nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("sent_at", UtcDateTime(), nullable=True),
        # Set while a relay publishes the row (outside any transaction), cleared when done.
        Column("claimed_at", UtcDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text, nullable=True),
    )
    Index(
        "ix_outbox_unsent",
        outbox.c.id,
        postgresql_where=outbox.c.sent_at.is_(None),
        sqlite_where=outbox.c.sent_at.is_(None),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(80), primary_key=True),
        Column("message_id", String(64), primary_key=True),
        Column("processed_at", UtcDateTime(), nullable=False),
    )
    return outbox, inbox


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(80), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status", Integer, nullable=False),
        Column("body", JSON, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
    )


class SharedTables(NamedTuple):
    outbox: Table
    inbox: Table
    idempotency: Table


def shared_tables(metadata: MetaData) -> SharedTables:
    """The outbox, inbox and idempotency-key tables in ``metadata``."""
    outbox, inbox = messaging_tables(metadata)
    return SharedTables(outbox, inbox, idempotency_table(metadata))
