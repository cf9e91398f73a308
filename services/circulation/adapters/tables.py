"""The circulation service's tables (one database per library)."""

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table

from libs.common.idempotency import idempotency_table
from libs.common.messaging.tables import messaging_tables

metadata = MetaData()
outbox, inbox = messaging_tables(metadata)

items = Table(
    "items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("barcode", String(64), nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("authors", JSON, nullable=False, default=list),
    Column("isbn", String(20), nullable=True),
    Column("language", String(12), nullable=True),
    Column("publisher", String(200), nullable=True),
    Column("year", Integer, nullable=True),
    Column("material_type", String(32), nullable=False),
    Column("section", String(16), nullable=False, server_default="adult"),
    Column("service_point", String(32), nullable=False),
    Column("call_number", String(64), nullable=True),
    Column("price_minor", Integer, nullable=True),
    Column("pages", Integer, nullable=True),
    Column("set_id", String(64), nullable=True),
    Column("status", String(24), nullable=False),
    # Grows by one with every change, so the catalogue can apply changes in order per item.
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

idempotency = idempotency_table(metadata)
