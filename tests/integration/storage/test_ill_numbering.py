"""A step saved and the numbers of the messages it sends taken in one statement
(:func:`libs.common.ill.sequence.numbering`), on the real PostgreSQL and on SQLite: the unit
of work's messages get them from ``next_seq`` with no statement of their own, each
counterpart's numbers following on from the ones before, with no gap and none twice; a step
that lost its race takes none, even when its unit of work commits, and a unit of work that
leaves one unsent does not commit."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from libs.common.db import make_engine, statement, unit_of_work
from libs.common.ill.sequence import next_seq, numbering
from libs.common.ill.sequence_tables import sequence_tables

meta = MetaData()
steps = Table(
    "steps",
    meta,
    Column("id", String(40), primary_key=True),
    Column("state", String(40), nullable=False),
)
seq = sequence_tables(meta)


async def _engine(url: str):
    engine = make_engine(url) if url.startswith("postgresql") else create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(insert(steps).values(id="T1", state="Requested"))
    return engine


def _step(conn):
    def build(_):
        return (
            update(steps)
            .where(steps.c.id == bindparam("b_id"), steps.c.state == bindparam("b_from"))
            .values(state=bindparam("b_to"))
            .returning(steps.c.id)
        )

    return ("test step", statement(conn, "test step", build))


async def _take(engine, counts, from_state, to_state, sends: list[str] | None = None):
    """The step with ``counts`` numbers taken, then the messages to ``sends`` numbered."""
    async with unit_of_work(engine) as conn:
        rows = await numbering(
            conn,
            seq,
            "T1",
            counts,
            _step(conn),
            {"b_id": "T1", "b_from": from_state, "b_to": to_state},
        )
        if rows.rowcount != 1:
            return None  # lost the race: the unit of work commits what else it did
        assert rows.first()._mapping.keys() == {"id"}  # the step's own columns only
        sends = [c for c in sorted(counts) for _ in range(counts[c])] if sends is None else sends
        return [(c, await next_seq(conn, seq, "T1", c)) for c in sends]


async def _last(engine, counterpart: str) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            select(seq.sequences.c.last_seq).where(
                seq.sequences.c.counterpart == counterpart, seq.sequences.c.direction == "out"
            )
        )


@pytest.mark.pg
async def test_on_postgresql_numbers_follow_on_per_counterpart_and_a_lost_race_takes_none(
    pg_database,
):
    await _numbers_follow_on(await _engine(pg_database))


async def test_on_sqlite_numbers_follow_on_per_counterpart_and_a_lost_race_takes_none():
    await _numbers_follow_on(await _engine("sqlite+aiosqlite://"))


async def _numbers_follow_on(engine) -> None:
    try:
        assert await _take(engine, {"hku": 2, "um": 1}, "Requested", "Asked") == [
            ("hku", 1),
            ("hku", 2),
            ("um", 1),
        ]
        assert await _last(engine, "hku") == 2  # the messages took no number of their own
        # No longer Requested: the step is not taken, and commits without taking a number.
        assert await _take(engine, {"hku": 1}, "Requested", "Asked") is None
        assert await _last(engine, "hku") == 2
        with pytest.raises(RuntimeError, match="never sent"):
            await _take(engine, {"hku": 1}, "Asked", "Shipped", sends=[])
        assert await _take(engine, {"hku": 1, "cuhk": 1}, "Asked", "Shipped") == [
            ("cuhk", 1),
            ("hku", 3),
        ]
        assert await _take(engine, {}, "Shipped", "Returned") == []
        async with unit_of_work(engine) as conn:
            # A message sent on its own after these is numbered after them.
            assert await next_seq(conn, seq, "T1", "hku") == 4
            assert await next_seq(conn, seq, "T1", "um") == 2
    finally:
        await engine.dispose()
