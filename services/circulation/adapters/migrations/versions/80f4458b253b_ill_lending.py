"""The lender's side of ILL transactions

Revision ID: 80f4458b253b
Revises: 18d17c844948
Create Date: 2026-12-03 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "80f4458b253b"
down_revision = "18d17c844948"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ill_lending",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("requester", sa.String(length=40), nullable=False),
        sa.Column("pickup_location", sa.String(length=32), nullable=False),
        sa.Column("patron_ref", sa.String(length=64), nullable=False),
        sa.Column("patron_category", sa.String(length=32), nullable=False),
        sa.Column("patron_consortium", sa.String(length=16), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("isbn", sa.String(length=20), nullable=True),
        sa.Column("needed_by", sa.Date(), nullable=True),
        sa.Column("lender_items", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("barcode", sa.String(length=64), nullable=True),
        sa.Column("shipped_on", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("loan_terms", sa.JSON(), nullable=True),
        sa.Column("refusal_rule", sa.String(length=16), nullable=True),
        sa.Column("refusal_reason", sa.String(length=500), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("checked_out_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transaction_id"),
    )
    op.create_index("ix_ill_lending_state", "ill_lending", ["state"])
    op.create_index("ix_ill_lending_item_id", "ill_lending", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_ill_lending_item_id", table_name="ill_lending")
    op.drop_index("ix_ill_lending_state", table_name="ill_lending")
    op.drop_table("ill_lending")
