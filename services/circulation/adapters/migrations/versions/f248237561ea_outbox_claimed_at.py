"""outbox claimed at

Revision ID: f248237561ea
Revises: c0773f8afc27
Create Date: 2026-12-01 23:55:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'f248237561ea'
down_revision = 'c0773f8afc27'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A relay claims rows for the time it publishes them, outside any transaction.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
