"""A unit of work (:func:`libs.common.db.unit_of_work`) on real PostgreSQL ends as a
transaction must: committed when its block ends, rolled back when the block raises, is
cancelled, or its commit is refused, and in every case its connection goes back to the
pool (a pool of one connection serves the next unit of work at once)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from libs.common.db import make_engine, reading, unit_of_work


@pytest.fixture
async def engine(pg_database):
    engine = make_engine(pg_database, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE uow_things (name text PRIMARY KEY)"))
        # checked at commit: a duplicate is refused only when the unit of work commits
        await conn.execute(
            text(
                "CREATE TABLE uow_late (name text, CONSTRAINT uow_late_once UNIQUE (name) "
                "DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    yield engine
    await engine.dispose()


async def _names(engine, table: str = "uow_things") -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT name FROM {table} ORDER BY name"))
        return [r.name for r in rows]


async def _add(conn, name: str, table: str = "uow_things") -> None:
    await conn.execute(text(f"INSERT INTO {table} (name) VALUES (:n)"), {"n": name})


async def _next_one_is_served(engine) -> None:
    async with asyncio.timeout(5):  # the pool's only connection came back
        async with unit_of_work(engine) as conn:
            await _add(conn, "next")


async def test_a_block_that_ends_commits(engine):
    async with unit_of_work(engine) as conn:
        await _add(conn, "kept")
    assert await _names(engine) == ["kept"]
    await _next_one_is_served(engine)


async def _refused_work_is_undone(engine) -> None:
    with pytest.raises(LookupError):
        async with unit_of_work(engine) as conn:
            await _add(conn, "gone")
            raise LookupError("the work refused")
    assert await _names(engine) == []
    await _next_one_is_served(engine)


async def test_a_block_that_raises_rolls_back_and_the_error_comes_out(engine):
    await _refused_work_is_undone(engine)
    assert await _names(engine) == ["next"]


async def test_a_cancelled_unit_of_work_rolls_back_and_gives_its_connection_back(engine):
    started = asyncio.Event()

    async def stuck() -> None:
        async with unit_of_work(engine) as conn:
            await _add(conn, "gone")
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(stuck())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _next_one_is_served(engine)
    assert await _names(engine) == ["next"]


async def test_a_commit_the_database_refuses_raises_and_keeps_nothing(engine):
    async with unit_of_work(engine) as conn:
        await _add(conn, "once", "uow_late")
    with pytest.raises(IntegrityError):
        async with unit_of_work(engine) as conn:
            await _add(conn, "twice", "uow_late")
            await _add(conn, "once", "uow_late")  # refused only at the commit
    assert await _names(engine, "uow_late") == ["once"]
    await _next_one_is_served(engine)


async def test_reads_run_outside_a_transaction_and_the_connection_comes_back_as_it_was(engine):
    """A read connection runs each statement on its own (no transaction block around it);
    the pooled connection it used serves the next unit of work as a transaction again,
    whose rollback still undoes what it wrote."""
    async with reading(engine) as conn:
        first = await conn.scalar(text("SELECT now()"))
        await asyncio.sleep(0.01)
        # now() is the transaction's start: in a transaction block it would not move
        assert await conn.scalar(text("SELECT now()")) > first
    await _refused_work_is_undone(engine)
