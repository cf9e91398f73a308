"""The request broker's tables (the consortium's shared database)."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from libs.common.db import UtcDateTime
from libs.common.ill.sequence_tables import sequence_tables
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

# The consortium's view of every ILL transaction (ILL.md, broker): one row per request.
ill_transactions = Table(
    "ill_transactions",
    metadata,
    Column("id", String(64), primary_key=True),  # the transaction id the requester made
    Column("requester", String(40), nullable=False),
    Column("pickup_location", String(32), nullable=False),
    # the home library's pseudonym: each lender is sent one derived from it for itself
    Column("patron_ref", String(64), nullable=False),
    Column("patron_category", String(32), nullable=False),
    Column("consortium", String(16), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("record_title", String(500), nullable=False),
    # the request as the requester sent it, to be forwarded to each lender in turn
    Column("request", JSON, nullable=False),
    Column("state", String(24), nullable=False),
    Column("current_lender", String(40), nullable=True),
    # [{lender, outcome: asked|supplying|declined|no_answer|cancelled, asked_at, answered_at}]
    Column("lenders_tried", JSON, nullable=False),
    Column("asked_at", UtcDateTime(), nullable=True),  # when the current lender was asked
    Column("flags", JSON, nullable=False),  # overdue, recalled, renewal_pending, …
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_ill_transactions_state", "state", "updated_at"),
    Index("ix_ill_transactions_requester", "requester"),
    Index("ix_ill_transactions_lender", "current_lender", "state"),
)

# Every message the broker heard or sent and every step it took, per transaction.
ill_transaction_history = Table(
    "ill_transaction_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("transaction_id", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("side", String(10), nullable=False),  # requester | supplier | broker
    Column("from_state", String(24), nullable=True),
    Column("to_state", String(24), nullable=True),
    Column("message_type", String(80), nullable=True),
    Column("status", String(24), nullable=True),
    Column("action", String(24), nullable=True),
    Column("message_id", String(64), nullable=True),
    Column("actor", String(80), nullable=False),
    Column("refused", String(500), nullable=True),
    Column("detail", String(500), nullable=True),
    Index("ix_ill_transaction_history_txn", "transaction_id", "id"),
)

ill_seq = sequence_tables(metadata)

# MALA-13: what each home library owes each lender, one entry per lender charge the broker
# passed on (lost or damaged item), owed whether or not the patron pays; ``collected_at`` when
# the home library said its patron paid (ChargePaid). Amounts in minor units of ``currency``.
settlement_entries = Table(
    "settlement_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # the lender's charge message: one entry per message, even if it were applied twice
    Column("message_id", String(64), nullable=False),
    Column("transaction_id", String(64), nullable=False),
    Column("home", String(40), nullable=False),  # owes
    Column("lender", String(40), nullable=False),  # is owed
    Column("consortium", String(16), nullable=False),
    Column("kind", String(16), nullable=False),  # lost_item | damaged_item
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("rule", String(16), nullable=True),
    Column("charged_at", UtcDateTime(), nullable=False),
    Column("charged_on", Date, nullable=False),  # the consortium's day: statements' periods
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("collected_at", UtcDateTime(), nullable=True),
    Column("collected_message_id", String(64), nullable=True),
    UniqueConstraint("message_id", name="uq_settlement_entries_message"),
    Index("ix_settlement_entries_pair", "home", "lender", "charged_on"),
    Index("ix_settlement_entries_lender", "lender", "charged_on"),
    Index("ix_settlement_entries_txn", "transaction_id"),
)
