"""settlement ledger between libraries (MALA-13)

Revision ID: c41d8e2f9b07
Revises: aa7a5f47aa20
Create Date: 2026-12-02 08:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c41d8e2f9b07'
down_revision = 'aa7a5f47aa20'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'settlement_entries',
        sa.Column(
            'id',
            sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('transaction_id', sa.String(length=64), nullable=False),
        sa.Column('home', sa.String(length=40), nullable=False),
        sa.Column('lender', sa.String(length=40), nullable=False),
        sa.Column('consortium', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('rule', sa.String(length=16), nullable=True),
        sa.Column('charged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('charged_on', sa.Date(), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('collected_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('collected_message_id', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_id', name='uq_settlement_entries_message'),
    )
    op.create_index(
        'ix_settlement_entries_pair', 'settlement_entries', ['home', 'lender', 'charged_on']
    )
    op.create_index('ix_settlement_entries_lender', 'settlement_entries', ['lender', 'charged_on'])
    op.create_index('ix_settlement_entries_txn', 'settlement_entries', ['transaction_id'])


def downgrade() -> None:
    op.drop_index('ix_settlement_entries_txn', table_name='settlement_entries')
    op.drop_index('ix_settlement_entries_lender', table_name='settlement_entries')
    op.drop_index('ix_settlement_entries_pair', table_name='settlement_entries')
    op.drop_table('settlement_entries')
