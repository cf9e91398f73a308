"""outbox claimed at

Revision ID: c76c0c0c61a8
Revises: 4146074a8d6e
Create Date: 2026-12-01 23:55:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c76c0c0c61a8'
down_revision = '4146074a8d6e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A relay claims rows for the time it publishes them, outside any transaction.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
