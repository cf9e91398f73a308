"""The request broker's tables (the consortium's shared database)."""

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from libs.common.db import UtcDateTime
from libs.common.messaging.tables import BigId, shared_tables

metadata = MetaData()
outbox, inbox, idempotency = shared_tables(metadata)

# Every message any consumer parked, with the reason, until an operator replays or drops it.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("queue", String(120), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("original_user", String(80), nullable=True),
    Column("body", Text, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("times", Integer, nullable=False, server_default="1"),
    Column("status", String(16), nullable=False),  # parked | replayed | discarded
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolved_by", String(80), nullable=True),
    UniqueConstraint("queue", "message_id", name="uq_dead_letters_queue_message"),
)
