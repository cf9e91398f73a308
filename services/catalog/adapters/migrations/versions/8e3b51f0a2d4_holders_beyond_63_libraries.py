"""holders beyond 63 libraries

Revision ID: 8e3b51f0a2d4
Revises: 5d1e7a90b3c2
Create Date: 2026-12-02 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = '8e3b51f0a2d4'
down_revision = '5d1e7a90b3c2'
branch_labels = None
depends_on = None

# The bits of libraries numbered 63 and on (domain.indexing.stored_mask). Until now no library
# had such a number, so every existing row's is NULL: adding the column rewrites nothing.


def upgrade() -> None:
    with op.batch_alter_table('record_search', schema=None) as batch_op:
        batch_op.add_column(sa.Column('libs_more', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('record_search', schema=None) as batch_op:
        batch_op.drop_column('libs_more')
