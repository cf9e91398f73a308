"""ILL transactions, their history, and the seq tables

Revision ID: aa7a5f47aa20
Revises: bcab0e7d62ab
Create Date: 2026-12-05 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from libs.common.ill.sequence_tables import create_sequence_tables, drop_sequence_tables


revision = 'aa7a5f47aa20'
down_revision = 'bcab0e7d62ab'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ill_transactions',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('requester', sa.String(length=40), nullable=False),
        sa.Column('pickup_location', sa.String(length=32), nullable=False),
        sa.Column('patron_ref', sa.String(length=64), nullable=False),
        sa.Column('patron_category', sa.String(length=32), nullable=False),
        sa.Column('consortium', sa.String(length=16), nullable=False),
        sa.Column('record_id', sa.BigInteger(), nullable=False),
        sa.Column('record_title', sa.String(length=500), nullable=False),
        sa.Column('request', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=24), nullable=False),
        sa.Column('current_lender', sa.String(length=40), nullable=True),
        sa.Column('lenders_tried', sa.JSON(), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_ill_transactions_state', 'ill_transactions', ['state', 'updated_at'])
    op.create_index('ix_ill_transactions_requester', 'ill_transactions', ['requester'])
    op.create_index(
        'ix_ill_transactions_lender', 'ill_transactions', ['current_lender', 'state']
    )
    op.create_table(
        'ill_transaction_history',
        sa.Column(
            'id',
            sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column('transaction_id', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('side', sa.String(length=10), nullable=False),
        sa.Column('from_state', sa.String(length=24), nullable=True),
        sa.Column('to_state', sa.String(length=24), nullable=True),
        sa.Column('message_type', sa.String(length=80), nullable=True),
        sa.Column('status', sa.String(length=24), nullable=True),
        sa.Column('action', sa.String(length=24), nullable=True),
        sa.Column('message_id', sa.String(length=64), nullable=True),
        sa.Column('actor', sa.String(length=80), nullable=False),
        sa.Column('refused', sa.String(length=500), nullable=True),
        sa.Column('detail', sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_ill_transaction_history_txn', 'ill_transaction_history', ['transaction_id', 'id']
    )
    create_sequence_tables(op)


def downgrade() -> None:
    drop_sequence_tables(op)
    op.drop_index('ix_ill_transaction_history_txn', table_name='ill_transaction_history')
    op.drop_table('ill_transaction_history')
    op.drop_index('ix_ill_transactions_lender', table_name='ill_transactions')
    op.drop_index('ix_ill_transactions_requester', table_name='ill_transactions')
    op.drop_index('ix_ill_transactions_state', table_name='ill_transactions')
    op.drop_table('ill_transactions')
