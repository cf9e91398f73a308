"""The requester's side of inter-library loans: one row per request a patron made

Revision ID: 18d17c844948
Revises: a1f3c9d27e01
Create Date: 2026-12-02 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "18d17c844948"
down_revision = "a1f3c9d27e01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ill_borrowing",
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("patron_id", sa.String(length=64), nullable=False),
        sa.Column("patron_ref", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("isbn", sa.String(length=20), nullable=True),
        sa.Column("material_type", sa.String(length=32), nullable=False),
        sa.Column("pickup_location", sa.String(length=32), nullable=False),
        sa.Column("needed_by", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("quota_held", sa.Boolean(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("lender", sa.String(length=40), nullable=True),
        sa.Column("lender_item_id", sa.String(length=64), nullable=True),
        sa.Column("lender_barcode", sa.String(length=64), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("loan_terms", sa.JSON(), nullable=True),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("loan_id", sa.String(length=64), nullable=True),
        sa.Column("arrived_on", sa.Date(), nullable=True),
        sa.Column("pickup_by", sa.Date(), nullable=True),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patron_id"], ["patrons.id"]),
        sa.PrimaryKeyConstraint("transaction_id"),
        sa.UniqueConstraint("patron_ref"),
    )
    op.create_index("ix_ill_borrowing_patron_id", "ill_borrowing", ["patron_id"])
    op.create_index("ix_ill_borrowing_state", "ill_borrowing", ["state"])
    op.create_index("ix_ill_borrowing_patron_record", "ill_borrowing", ["patron_id", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_ill_borrowing_patron_record", table_name="ill_borrowing")
    op.drop_index("ix_ill_borrowing_state", table_name="ill_borrowing")
    op.drop_index("ix_ill_borrowing_patron_id", table_name="ill_borrowing")
    op.drop_table("ill_borrowing")
