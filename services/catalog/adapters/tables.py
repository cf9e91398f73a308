"""The union catalogue's tables: records and the holdings that mirror owners' items."""

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("match_key", String(300), nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("authors", JSON, nullable=False),
    Column("isbn", String(20), nullable=True),
    Column("language", String(12), nullable=True),
    Column("publisher", String(200), nullable=True),
    Column("year", Integer, nullable=True),
    Column("material_type", String(32), nullable=False),
)

holdings = Table(
    "holdings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("library", String(40), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("record_id", Integer, nullable=True),
    Column("status", String(24), nullable=False),
    Column("material_type", String(32), nullable=False),
    Column("service_point", String(32), nullable=True),
    Column("call_number", String(64), nullable=True),
    Column("barcode", String(64), nullable=True),
    # The owner's change counter: a change is applied only if it is newer (order per item).
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("library", "item_id", name="uq_holdings_library_item"),
)
Index("ix_holdings_record", holdings.c.record_id)
