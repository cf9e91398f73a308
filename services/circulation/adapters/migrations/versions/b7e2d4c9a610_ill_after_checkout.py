"""ILL loans after checkout: the lender's fine terms on the loan, renewals, recalls, charges

Revision ID: b7e2d4c9a610
Revises: 80f4458b253b
Create Date: 2026-12-04 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b7e2d4c9a610"
down_revision = "80f4458b253b"
branch_labels = None
depends_on = None

#: what both sides keep of a lost or damaged item's charge
_CHARGE = (
    ("charge_minor", sa.Integer()),
    ("charge_currency", sa.String(length=3)),
    ("charge_kind", sa.String(length=16)),
    ("charge_rule", sa.String(length=16)),
)


def upgrade() -> None:
    op.add_column("loans", sa.Column("lender_terms", sa.JSON(), nullable=True))
    with op.batch_alter_table("ill_borrowing") as t:
        t.add_column(sa.Column("renewal_state", sa.String(length=16), nullable=True))
        t.add_column(sa.Column("renewal_requested_at", sa.DateTime(timezone=True), nullable=True))
        t.add_column(sa.Column("renewal_rule", sa.String(length=16), nullable=True))
        t.add_column(sa.Column("renewal_reason", sa.String(length=500), nullable=True))
        t.add_column(sa.Column("recalled_on", sa.Date(), nullable=True))
        t.add_column(sa.Column("loss_reported_on", sa.Date(), nullable=True))
        for name, type_ in _CHARGE:
            t.add_column(sa.Column(name, type_, nullable=True))
        t.add_column(sa.Column("charge_entry_id", sa.String(length=64), nullable=True))
        t.add_column(sa.Column("charge_paid_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("ill_lending") as t:
        t.add_column(sa.Column("renewals", sa.Integer(), nullable=False, server_default="0"))
        t.add_column(sa.Column("recalled_on", sa.Date(), nullable=True))
        t.add_column(sa.Column("recalled_by", sa.String(length=80), nullable=True))
        t.add_column(sa.Column("lost_on", sa.Date(), nullable=True))
        t.add_column(sa.Column("claimed_returned_on", sa.Date(), nullable=True))
        for name, type_ in _CHARGE:
            t.add_column(sa.Column(name, type_, nullable=True))
        t.add_column(sa.Column("charge_paid_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ill_lending") as t:
        for name in (
            "charge_paid_on",
            *(n for n, _ in reversed(_CHARGE)),
            "claimed_returned_on",
            "lost_on",
            "recalled_by",
            "recalled_on",
            "renewals",
        ):
            t.drop_column(name)
    with op.batch_alter_table("ill_borrowing") as t:
        for name in (
            "charge_paid_at",
            "charge_entry_id",
            *(n for n, _ in reversed(_CHARGE)),
            "loss_reported_on",
            "recalled_on",
            "renewal_reason",
            "renewal_rule",
            "renewal_requested_at",
            "renewal_state",
        ):
            t.drop_column(name)
    op.drop_column("loans", "lender_terms")
