"""ILL transaction history and the seq of ILL messages

Revision ID: a1f3c9d27e01
Revises: 30171c323460
Create Date: 2026-12-02 05:10:00
"""

import sqlalchemy as sa
from alembic import op

from libs.common.ill.sequence_tables import create_sequence_tables, drop_sequence_tables

revision = "a1f3c9d27e01"
down_revision = "30171c323460"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_sequence_tables(op)
    op.create_table(
        "ill_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("refused", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ill_history_transaction_id", "ill_history", ["transaction_id"])


def downgrade() -> None:
    op.drop_index("ix_ill_history_transaction_id", table_name="ill_history")
    op.drop_table("ill_history")
    drop_sequence_tables(op)
