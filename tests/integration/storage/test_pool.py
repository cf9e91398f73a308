"""The connection pool of a service's engine on PostgreSQL: connections stay open between
units of work, and the service keeps working after the database cut its connections."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from libs.common import db
from libs.common.db import make_engine, pg_url, unit_of_work

pytestmark = pytest.mark.pg


async def _backend(engine) -> int:
    async with unit_of_work(engine) as conn:
        return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def _cut_every_connection(url: str) -> int:
    admin = make_engine(pg_url("postgres"), pool_size=1)
    try:
        async with admin.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": url.rsplit("/", 1)[-1]},
            )
            return sum(1 for r in rows if r[0])
    finally:
        await admin.dispose()


async def _burst(engine, n: int) -> set[int]:
    async def one() -> int:
        async with unit_of_work(engine) as conn:
            # Held a moment, so that the n units of work overlap.
            await conn.execute(text("SELECT pg_sleep(0.05)"))
            return (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

    return set(await asyncio.gather(*(one() for _ in range(n))))


async def test_bursts_of_units_of_work_reuse_the_connections_the_first_burst_opened(
    pg_database,
):
    engine = make_engine(pg_database, pool_size=2)
    try:
        first = await _burst(engine, 4)
        # No connection is closed on its return and opened again for the next burst.
        for _ in range(3):
            assert await _burst(engine, 4) == first
    finally:
        await engine.dispose()


async def test_an_idle_connection_the_database_cut_is_replaced_before_use(pg_database, monkeypatch):
    engine = make_engine(pg_database, pool_size=2)
    try:
        before = await _backend(engine)
        assert await _cut_every_connection(pg_database) >= 1
        # Any pause counts as idle: the connection is pinged, found dead and replaced, and
        # the unit of work succeeds on a new one.
        monkeypatch.setattr(db, "PING_IDLE_AFTER", 0.0)
        after = await _backend(engine)
        assert after != before
    finally:
        await engine.dispose()


async def test_a_connection_cut_while_in_steady_use_fails_one_unit_of_work_only(pg_database):
    engine = make_engine(pg_database, pool_size=2)
    try:
        before = await _backend(engine)
        assert await _cut_every_connection(pg_database) >= 1
        # Used a moment ago, so not pinged: this unit of work finds the connection gone (as
        # a closed or terminated connection, or, when the cut lands while asyncpg is still
        # reading it, as the protocol caught mid-operation)...
        with pytest.raises(
            Exception, match=r"(?i)connection|closed|terminat|another operation .* in progress"
        ):
            await _backend(engine)
        # ...and the next one gets a new connection.
        assert await _backend(engine) != before
    finally:
        await engine.dispose()
