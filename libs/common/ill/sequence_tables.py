"""The tables behind ``seq`` (one set in each service's own database, defined here once for the
models and the migrations alike):

* ``ill_sequences``: per transaction and counterpart, the last ``seq`` applied from it
  (``direction = 'in'``) and the last one sent to it (``'out'``);
* ``ill_parked``: messages that came before their predecessor, kept whole (the envelope as
  received) until the gap closes. A parked message is in the database, so acking its delivery
  loses nothing.
"""

from __future__ import annotations

from typing import NamedTuple

from alembic.operations import Operations
from sqlalchemy import Column, Integer, MetaData, String, Table, Text

from libs.common.db import UtcDateTime


class SequenceTables(NamedTuple):
    sequences: Table
    parked: Table


def sequence_tables(metadata: MetaData) -> SequenceTables:
    sequences = Table(
        "ill_sequences",
        metadata,
        Column("transaction_id", String(64), primary_key=True),
        Column("counterpart", String(40), primary_key=True),
        Column("direction", String(3), primary_key=True),
        Column("last_seq", Integer, nullable=False),
    )
    parked = Table(
        "ill_parked",
        metadata,
        Column("transaction_id", String(64), primary_key=True),
        Column("sender", String(40), primary_key=True),
        Column("seq", Integer, primary_key=True),
        Column("message_id", String(64), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("parked_at", UtcDateTime(), nullable=False),
    )
    return SequenceTables(sequences, parked)


def create_sequence_tables(op: Operations) -> None:
    """For a service's Alembic revision."""
    for table in sequence_tables(MetaData()):
        op.create_table(table.name, *(column._copy() for column in table.columns))


def drop_sequence_tables(op: Operations) -> None:
    for table in reversed(sequence_tables(MetaData())):
        op.drop_table(table.name)
