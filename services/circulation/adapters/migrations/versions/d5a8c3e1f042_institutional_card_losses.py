"""institutional cards reported lost (MALA-12), at home and at the lender

Revision ID: d5a8c3e1f042
Revises: b7e2d4c9a610
Create Date: 2026-12-02 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "d5a8c3e1f042"
down_revision = "b7e2d4c9a610"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "institutional_card_losses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("library", sa.String(length=40), nullable=False),
        sa.Column("patron_id", sa.String(length=64), nullable=True),
        sa.Column("patron_ref", sa.String(length=64), nullable=False),
        sa.Column("transactions", sa.JSON(), nullable=False),
        sa.Column("fee_entry_id", sa.String(length=64), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["patron_id"], ["patrons.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_id", "role", name="uq_institutional_card_losses_report"),
    )
    op.create_index(
        "ix_institutional_card_losses_patron_id", "institutional_card_losses", ["patron_id"]
    )


def downgrade() -> None:
    op.drop_index(
        "ix_institutional_card_losses_patron_id", table_name="institutional_card_losses"
    )
    op.drop_table("institutional_card_losses")
