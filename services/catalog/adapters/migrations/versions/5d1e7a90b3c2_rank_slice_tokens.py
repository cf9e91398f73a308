"""rank slice tokens

Revision ID: 5d1e7a90b3c2
Revises: c76c0c0c61a8
Create Date: 2026-12-02 08:20:00.000000
"""

from alembic import op


revision = '5d1e7a90b3c2'
down_revision = 'c76c0c0c61a8'
branch_labels = None
depends_on = None

# Every search document gets the token of its slice of the static rank order, rk_<rank_key
# >> 26 (domain.indexing.rank_slice_token), so that a search reads the best-ranked of a few
# thousand matches a few slices at a time. The shift is written out: the migration stays as
# it was when written.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE record_search SET tokens = tokens"
            " || array_to_tsvector(ARRAY['rk_' || (rank_key >> 26)::text])"
        )
    else:
        # The FTS5 table follows through the update trigger.
        op.execute(
            "UPDATE record_search SET tokens = tokens || ' rk_' || CAST(rank_key >> 26 AS TEXT)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE record_search SET tokens = ts_delete(tokens, 'rk_' || (rank_key >> 26)::text)"
        )
    else:
        op.execute(
            "UPDATE record_search"
            " SET tokens = replace(tokens, ' rk_' || CAST(rank_key >> 26 AS TEXT), '')"
        )
