"""The notifier's database tables (SQLAlchemy Core), the same on PostgreSQL and SQLite."""

from __future__ import annotations

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
from sqlalchemy.dialects.postgresql import JSONB

from libs.common.db import UtcDateTime
from libs.common.messaging.tables import shared_tables

metadata = MetaData()
outbox, inbox, idempotency = shared_tables(metadata)


notices = Table(
    "notices",
    metadata,
    # SQLite only auto-increments a column declared INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    # The event's stable id: the unique constraint is what makes a redelivered event
    # produce no second notice.
    Column("notice_id", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("library", String(40), nullable=False),
    Column("patron_ref", String(128), nullable=False),
    # Personal data, kept apart from the payload so erasing it is one UPDATE: set to NULL
    # once the notice is sent or has failed for good.
    Column("email", String(254), nullable=True),
    Column("patron_name", String(200), nullable=True),
    Column("language", String(16), nullable=False),
    # The rest of the event (title, dates, reference...) for rendering and for operators.
    Column("payload", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    # When a worker may next pick the notice up; for a notice being sent, the end of the
    # sending worker's lease.
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("failed_at", UtcDateTime(), nullable=True),
    Index("ix_notices_due", "status", "next_attempt_at"),
    Index("ix_notices_library_id", "library", "id"),
    Index("ix_notices_status_id", "status", "id"),
)
