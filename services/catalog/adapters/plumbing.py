"""The shared outbox, inbox and idempotency-key tables, in the catalog's own database."""

from libs.common.idempotency import idempotency_table
from libs.common.messaging.tables import messaging_tables
from services.catalog.adapters.tables import metadata

outbox, inbox = messaging_tables(metadata)
idempotency = idempotency_table(metadata)

__all__ = ["idempotency", "inbox", "metadata", "outbox"]
