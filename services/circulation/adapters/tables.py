"""The circulation service's tables (one database per library).

Nested parts of a patron that are always read and written with the patron (address,
guarantor, suspensions) are JSON; everything a query looks up by (cards, HKID number, loans
per item, holds per title, ledger entries per patron) has its own column and index. Money is
integer minor units with its currency.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

from libs.common.db import UtcDateTime
from libs.common.ill.sequence_tables import sequence_tables
from libs.common.messaging.tables import shared_tables

metadata = MetaData()
outbox, inbox, idempotency = shared_tables(metadata)
#: ``seq`` of the ILL messages this library sent to and applied from the broker
ill_seq = sequence_tables(metadata)

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
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The title reservations queue on (HKPL-03, holds): copies of one work share it.
    Column("title_id", String(64), nullable=True, index=True),
    # Accompanying material of a set names its main item (HKPL-05).
    Column("main_item_id", String(64), nullable=True),
)

patrons = Table(
    "patrons",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("category", String(32), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("name_zh", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=False),
    Column("language", String(8), nullable=False),
    Column("address", JSON, nullable=False),
    Column("email", String(254), nullable=False),
    Column("phone", String(40), nullable=True),
    # HKPL-16: the guarantor of an applicant under 18, liable for the charges.
    Column("guarantor", JSON, nullable=True),
    # HKPL-16: the guarantor's own account here, when the guarantor is a registered patron
    # (the minors a guarantor is liable for are looked up by it).
    Column("guarantor_patron_id", String(64), nullable=True, index=True),
    Column("registered_on", Date, nullable=False),
    Column("cancelled_on", Date, nullable=True),
    Column("suspensions", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# One row per account: the sign-in secrets (argon2 hashes only, HKPL-08), the lock-out, and
# the smart ID card registered for library use (only what HKPL-14 allows is kept).
credentials = Table(
    "credentials",
    metadata,
    Column("patron_id", String(64), ForeignKey("patrons.id"), primary_key=True),
    Column("password_hash", String(255), nullable=True),
    Column("phone_digits_hash", String(255), nullable=True),
    Column("failed_sign_ins", Integer, nullable=False, server_default="0"),
    Column("locked_at", UtcDateTime(), nullable=True),
    Column("smart_id_hkid", String(16), nullable=True, unique=True),
    Column("smart_id_date_of_issue", Date, nullable=True),
    Column("smart_id_status", String(16), nullable=True),
    Column("smart_id_reported_lost_at", UtcDateTime(), nullable=True),
    Column("smart_id_continue", Boolean, nullable=False),
    # HKPL-08: the HKID number given at registration (normalised, one account per number),
    # so that it signs in without a smart ID card; HKPL-14 allows only the number to be kept.
    Column("hkid_number", String(16), nullable=True),
    Index("ux_credentials_hkid_number", "hkid_number", unique=True),
)

# One row per patron session (the ``sid`` of its token), checked on every self-service
# request: signing out, a lost card, a new password or a cancelled account end it there and
# then, not when the token expires.
patron_sessions = Table(
    "patron_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=False, index=True),
    Column("card_number", String(20), nullable=True),  # the card it signed in with, if any
    Column("started_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("end_reason", String(32), nullable=True),
)

library_cards = Table(
    "library_cards",
    metadata,
    Column("card_number", String(20), primary_key=True),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=False, index=True),
    Column("issued_on", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reported_lost_at", UtcDateTime(), nullable=True),
    Column("guarantor_card", Boolean, nullable=False),
)

loans = Table(
    "loans",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=False, index=True),
    Column("item_id", String(64), ForeignKey("items.id"), nullable=False, index=True),
    Column("owner_library", String(40), nullable=False),
    Column("title_id", String(64), nullable=True),
    Column("material_type", String(32), nullable=False),
    Column("section", String(16), nullable=False),
    Column("set_id", String(64), nullable=True),
    Column("main_item_id", String(64), nullable=True),
    Column("ill", Boolean, nullable=False),
    Column("lender", String(40), nullable=True),
    Column("checked_out_at", UtcDateTime(), nullable=False),
    Column("checkout_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("renewals", Integer, nullable=False, server_default="0"),
    Column("consecutive_renewals", Integer, nullable=False, server_default="0"),
    Column("recalled_on", Date, nullable=True),
    Column("loss", String(20), nullable=True),
    Column("loss_marked_on", Date, nullable=True),
    Column("returned_at", UtcDateTime(), nullable=True),
    Column("returned_to", String(32), nullable=True),
    Column("borrowed_with", String(40), nullable=True),
    # an ILL loan's fine terms as its lender stated them (ILL.md: the terms travel with it)
    Column("lender_terms", JSON, nullable=True),
    # An item is on one loan at a time, even if two counters check it out at once.
    Index(
        "ux_loans_active_item",
        "item_id",
        unique=True,
        postgresql_where=text("returned_at IS NULL"),
        sqlite_where=text("returned_at IS NULL"),
    ),
)

# HKPL-06: what a Transaction Reference Number stands for, so the patron can look it up.
renewal_transactions = Table(
    "renewal_transactions",
    metadata,
    Column("reference", String(40), primary_key=True),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=False, index=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("renewal_day", Date, nullable=False),
)

renewal_items = Table(
    "renewal_items",
    metadata,
    Column(
        "reference",
        String(40),
        ForeignKey("renewal_transactions.reference"),
        primary_key=True,
    ),
    Column("loan_id", String(64), ForeignKey("loans.id"), primary_key=True),
    Column("item_id", String(64), nullable=False),
    Column("new_due_date", Date, nullable=False),
)

holds = Table(
    "holds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("title_id", String(64), nullable=False, index=True),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=False, index=True),
    Column("placed_at", UtcDateTime(), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("pickup_location", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("item_id", String(64), nullable=True),
    Column("ready_on", Date, nullable=True),
    Column("pickup_by", Date, nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("amount_minor", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("rule", String(16), nullable=True),
    Column("loan_id", String(64), nullable=True),
    Column("item_id", String(64), nullable=True),
    Column("description", String(500), nullable=True),
    # A payment or waiver: who took or granted it, and why.
    Column("actor", String(200), nullable=True),
    Column("reason", String(500), nullable=True),
    Column("applies_to", String(64), nullable=True),
    # A payment made by someone other than the account holder: the paying patron (HKPL-16,
    # a guarantor paying a minor's charge).
    Column("paid_by", String(64), nullable=True),
    # Entries made in the same instant keep the order they were posted in (credits settle
    # in that order).
    Column("position", Integer, nullable=False, server_default="0"),
)

# The notices a loan's state has owed its patron (overdue reminders by their number in the
# policy's schedule, a suspension a loan caused). The notice id is the key, so however often
# the daily job runs, and on however many replicas, each notice is written to the outbox once.
loan_notices = Table(
    "loan_notices",
    metadata,
    Column("notice_id", String(64), primary_key=True),
    Column("loan_id", String(64), ForeignKey("loans.id"), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("number", Integer, nullable=False),
    Column("rule", String(16), nullable=True),
    Column("notice_day", Date, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

# Named sequences that must not repeat (HKPL-06: the Transaction Reference Number's number).
counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", Integer, nullable=False),
)


# Every transition of an ILL transaction this library took part in, on either side (ILL.md:
# "each side keeps its own state and the full history of its transitions"): when, from which
# state to which, caused by which message or which staff/patron action, by whom. A message
# refused as illegal in the current state is recorded too (``refused`` with the reason), never
# applied.
ill_history = Table(
    "ill_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", String(64), nullable=False, index=True),
    # "requester" (this library's patron borrows) or "supplier" (this library lends)
    Column("role", String(10), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("to_state", String(32), nullable=True),
    Column("event", String(40), nullable=False),
    Column("message_id", String(64), nullable=True),
    Column("actor", String(80), nullable=False),
    Column("refused", String(500), nullable=True),
)


# The requester's side of each inter-library loan one of this library's patrons asked for
# (ILL.md "Requester"): its state, the quota it holds, what the lender said (the loan terms
# travel with the loan), and the local row of the visiting item once it has arrived. The
# patron's pseudonym (``patron_ref``) is random and kept only here: the lender never learns
# who the patron is.
ill_borrowing = Table(
    "ill_borrowing",
    metadata,
    Column("transaction_id", String(64), primary_key=True),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=False, index=True),
    Column("patron_ref", String(64), nullable=False, unique=True),
    Column("category", String(32), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("title", String(500), nullable=False),
    Column("authors", JSON, nullable=False),
    Column("isbn", String(20), nullable=True),
    Column("material_type", String(32), nullable=False),
    Column("pickup_location", String(32), nullable=False),
    Column("needed_by", Date, nullable=True),
    Column("state", String(24), nullable=False, index=True),
    # HKALL-08/09, MALA-02: held from the request until Completed, Unfilled or Cancelled
    Column("quota_held", Boolean, nullable=False),
    # the libraries that could supply when it was asked (MALA-02 before a lender is known)
    Column("candidates", JSON, nullable=False),
    Column("lender", String(40), nullable=True),
    Column("lender_item_id", String(64), nullable=True),
    Column("lender_barcode", String(64), nullable=True),
    Column("due_date", Date, nullable=True),
    Column("loan_terms", JSON, nullable=True),
    # the visiting item's local row (loans reference items) and the patron's loan of it
    Column("item_id", String(64), nullable=True),
    Column("loan_id", String(64), nullable=True),
    Column("arrived_on", Date, nullable=True),
    Column("pickup_by", Date, nullable=True),
    Column("requested_by", String(80), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # HKALL-13, MALA-05: a renewal asked of the lender: pending until it answers, then
    # approved or denied (with the rule); never renewed without its answer
    Column("renewal_state", String(16), nullable=True),
    Column("renewal_requested_at", UtcDateTime(), nullable=True),
    Column("renewal_rule", String(16), nullable=True),
    Column("renewal_reason", String(500), nullable=True),
    Column("recalled_on", Date, nullable=True),
    Column("loss_reported_on", Date, nullable=True),
    # the lender's charge for a lost or damaged item (HKALL-20, MALA-11), posted to the
    # patron as ledger entry ``charge_entry_id``
    Column("charge_minor", Integer, nullable=True),
    Column("charge_currency", String(3), nullable=True),
    Column("charge_kind", String(16), nullable=True),
    Column("charge_rule", String(16), nullable=True),
    Column("charge_entry_id", String(64), nullable=True),
    Column("charge_paid_at", UtcDateTime(), nullable=True),
    Index("ix_ill_borrowing_patron_record", "patron_id", "record_id"),
)


# The lender's side of each ILL transaction it was asked to supply (ILL.md, "Supplier"): its
# state, the copy it holds or lent, the terms it lent on. Of the patron only what the loan
# terms depend on is kept: the pseudonym the home library gave this lender, the category and
# the consortium; never a name, HKID, e-mail, phone or address (they are never sent here).
ill_lending = Table(
    "ill_lending",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("transaction_id", String(64), nullable=False, unique=True),
    Column("state", String(32), nullable=False, index=True),
    Column("requester", String(40), nullable=False),
    Column("pickup_location", String(32), nullable=False),
    Column("patron_ref", String(64), nullable=False),
    Column("patron_category", String(32), nullable=False),
    Column("patron_consortium", String(16), nullable=False),
    Column("record_id", BigInteger, nullable=False),
    Column("title", String(500), nullable=False),
    Column("isbn", String(20), nullable=True),
    Column("needed_by", Date, nullable=True),
    # The catalogue's guess at this library's copies; the copy lent is re-checked here.
    Column("lender_items", JSON, nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("item_id", String(64), nullable=True, index=True),
    Column("barcode", String(64), nullable=True),
    Column("shipped_on", Date, nullable=True),
    Column("due_date", Date, nullable=True),
    Column("loan_terms", JSON, nullable=True),
    Column("refusal_rule", String(16), nullable=True),
    Column("refusal_reason", String(500), nullable=True),
    Column("received_on", Date, nullable=True),
    # HKALL-11: the day the patron took the copy home starts a recall's minimum use period.
    Column("checked_out_on", Date, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # renewals it approved (MALA-05: one), its recall (HKALL-11, MALA-06) and who asked it
    Column("renewals", Integer, nullable=False, server_default="0"),
    Column("recalled_on", Date, nullable=True),
    Column("recalled_by", String(80), nullable=True),
    Column("lost_on", Date, nullable=True),
    Column("claimed_returned_on", Date, nullable=True),
    # what it charges for a lost or damaged copy (HKALL-20, MALA-11)
    Column("charge_minor", Integer, nullable=True),
    Column("charge_currency", String(3), nullable=True),
    Column("charge_kind", String(16), nullable=True),
    Column("charge_rule", String(16), nullable=True),
    Column("charge_paid_on", Date, nullable=True),
)


# MALA-12: institutional cards reported lost, on both sides. At the home library (``role``
# requester) the patron, the lender that issued the card, and the fee posted; at the lender
# (``role`` supplier) only what the broker passed on: the home library, the pseudonym derived
# for the lender and the open transactions, never who the patron is.
institutional_card_losses = Table(
    "institutional_card_losses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(64), nullable=False),
    Column("role", String(10), nullable=False),
    # the other library: the lender at home, the home library at the lender
    Column("library", String(40), nullable=False),
    Column("patron_id", String(64), ForeignKey("patrons.id"), nullable=True, index=True),
    Column("patron_ref", String(64), nullable=False),
    Column("transactions", JSON, nullable=False),
    Column("fee_entry_id", String(64), nullable=True),
    Column("reported_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("message_id", String(64), nullable=True),
    UniqueConstraint("report_id", "role", name="uq_institutional_card_losses_report"),
)
