"""History lines kept by a unit of work until a statement takes them along, on the real
PostgreSQL: written with the ILL sequence's bump (one statement for both) or just before the
commit; read back by the transaction that wrote them; gone with a transaction that rolls back,
never left for the next one on the same pooled connection."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, func, select

from libs.common import appends
from libs.common.db import make_engine, unit_of_work
from libs.common.ill.sequence import next_seq
from libs.common.ill.sequence_tables import sequence_tables

pytestmark = [pytest.mark.pg]

meta = MetaData()
lines = Table(
    "lines",
    meta,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("transaction_id", String(40), nullable=False),
    Column("event", String(40), nullable=False),
)
notes = Table(
    "notes",
    meta,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event", String(40), nullable=False),
)
seq = sequence_tables(meta)


@pytest.fixture
async def engine(pg_database):
    engine = make_engine(pg_database, pool_size=1)  # every unit of work on one connection
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    yield engine
    await engine.dispose()


async def _events(engine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(lines.c.transaction_id, lines.c.event).order_by("id"))
        return [tuple(r) for r in rows]


async def test_lines_go_with_the_sequence_bump_or_before_the_commit_and_in_order(engine):
    async with unit_of_work(engine) as conn:
        await appends.append(conn, lines, {"transaction_id": "T1", "event": "received"})
        await appends.append(conn, lines, {"transaction_id": "T1", "event": "shipped"})
        n = await next_seq(conn, seq, "T1", "broker")
        assert n == 1
        await appends.append(conn, lines, {"transaction_id": "T1", "event": "noted"})
        # the transaction reads its own lines
        await appends.flush(conn, lines)
        assert await conn.scalar(select(func.count()).select_from(lines)) == 3
        await appends.append(conn, lines, {"transaction_id": "T1", "event": "last"})
    assert await _events(engine) == [
        ("T1", "received"),
        ("T1", "shipped"),
        ("T1", "noted"),
        ("T1", "last"),
    ]
    async with unit_of_work(engine) as conn:
        assert await next_seq(conn, seq, "T1", "broker") == 2


async def test_a_rolled_back_unit_of_work_leaves_no_line_for_the_next_one(engine):
    with pytest.raises(RuntimeError):
        async with unit_of_work(engine) as conn:
            await appends.append(conn, lines, {"transaction_id": "T2", "event": "refused"})
            raise RuntimeError("the step is refused")
    async with unit_of_work(engine) as conn:  # the same pooled connection
        await appends.append(conn, lines, {"transaction_id": "T3", "event": "kept"})
    assert await _events(engine) == [("T3", "kept")]


async def test_outside_a_unit_of_work_a_line_is_written_at_once(engine):
    async with engine.begin() as conn:
        await appends.append(conn, lines, {"transaction_id": "T4", "event": "now"})
        assert await conn.scalar(select(func.count()).select_from(lines)) == 1
        assert appends.take_all(conn) == []
    assert await _events(engine) == [("T4", "now")]


async def test_what_waits_for_the_commit_goes_together_and_a_table_hears_its_ids(engine):
    """Lines of two tables left for the commit are written by one statement; a table that
    asked for its rows' ids (the outbox's, for the relay) hears each row's."""
    heard: list[tuple] = []
    returned = appends.Returned(("id", "event"), heard.extend)
    async with unit_of_work(engine) as conn:
        await appends.append(conn, lines, {"transaction_id": "T5", "event": "one"})
        for event in ("first", "second"):
            await appends.append(conn, notes, {"event": event}, returned=returned)
        assert heard == []  # nothing written yet
    assert await _events(engine) == [("T5", "one")]
    async with engine.connect() as conn:
        written = {(r.id, r.event) for r in await conn.execute(select(notes))}
    assert {(int(i), e) for i, e in heard} == written and len(written) == 2
