"""Hot statements run by asyncpg itself (:mod:`libs.common.hot_sql`) behave as
``conn.execute`` does, on real PostgreSQL and on SQLite: the same rows and values (UTC
instants, JSON, arrays), the same transaction (rolled back with it), the same errors."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from libs.common import hot_sql
from libs.common.db import UtcDateTime, insert_new, make_engine, sqlite_url, unit_of_work

meta = MetaData()
things = Table(
    "hot_things",
    meta,
    Column("id", BigInteger, primary_key=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("doc", JSON),
    Column("version", Integer, nullable=False, server_default=text("1")),
)
_keys = itertools.count()


def _ids(conn):
    if conn.dialect.name == "postgresql":
        return things.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger)))
    return things.c.id.in_(bindparam("ids", expanding=True))


def _bump(conn):
    return (
        update(things)
        .where(_ids(conn))
        .values(version=things.c.version + 1, at=bindparam("now"))
        .returning(things.c.id, things.c.version, things.c.at, things.c.doc)
    )


def _add(conn):
    return insert_new(conn, things, "name")


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(request, tmp_path, pg_database):
    url = pg_database if request.param == "postgresql" else sqlite_url(tmp_path / "hot.db")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    yield engine
    await engine.dispose()


HKT = timezone(timedelta(hours=8))


async def test_rows_and_values_are_those_conn_execute_gives(engine):
    at = datetime(2026, 12, 2, 18, 30, tzinfo=HKT)  # a local instant goes in, UTC comes out
    async with unit_of_work(engine) as conn:
        added = await hot_sql.run(
            conn, "hot add", _add, {"id": 1, "name": "one", "at": at, "doc": {"a": [1, "二"]}}
        )
        again = await hot_sql.run(
            conn, "hot add", _add, {"id": 2, "name": "one", "at": at, "doc": None}
        )
        await conn.execute(insert(things), {"id": 3, "name": "three", "at": at, "doc": None})
        bumped = await hot_sql.run(conn, "hot bump", _bump, {"ids": [1, 3], "now": at})
        plain = (await conn.execute(_bump(conn), {"ids": [1, 3], "now": at})).all()
    assert (added.rowcount, again.rowcount) == (1, 0)  # the second "one" added nothing
    rows = sorted(bumped, key=lambda r: r.id)
    assert [(r.id, r.version) for r in rows] == [(1, 2), (3, 2)]
    assert rows[0].at == at and rows[0].at.tzinfo == UTC
    assert rows[0].doc == {"a": [1, "二"]} and rows[1].doc is None
    assert dict(rows[0]._mapping) == {"id": 1, "version": 2, "at": at, "doc": {"a": [1, "二"]}}
    assert sorted((r.id, r.version + 1, r.at, r.doc) for r in rows) == sorted(
        tuple(r) for r in plain
    )
    assert bumped.first() in rows and bumped.scalar() in (1, 3)
    if engine.dialect.name == "postgresql":  # they took the way round SQLAlchemy's execution
        assert hot_sql._PLANS[("hot bump", ("ids", "now"))] is not None
        assert hot_sql._PLANS[("hot add", ("at", "doc", "id", "name"))] is not None


async def test_its_statements_are_part_of_the_callers_transaction(engine):
    at = datetime(2026, 12, 2, tzinfo=UTC)
    with pytest.raises(RuntimeError):
        async with unit_of_work(engine) as conn:
            await hot_sql.run(conn, "hot add", _add, {"id": 1, "name": "a", "at": at})
            raise RuntimeError("the unit of work fails")
    async with unit_of_work(engine) as conn:
        assert (await conn.execute(select(things.c.id))).all() == []  # rolled back
        await hot_sql.run(conn, "hot add", _add, {"id": 1, "name": "a", "at": at})
    async with unit_of_work(engine) as conn:
        assert (await conn.execute(select(things.c.name))).scalars().all() == ["a"]


async def test_a_refused_statement_raises_what_conn_execute_raises(engine):
    at = datetime(2026, 12, 2, tzinfo=UTC)
    async with unit_of_work(engine) as conn:
        await hot_sql.run(conn, "hot add", _add, {"id": 1, "name": "a", "at": at})
    plain_insert = lambda _: insert(things)  # noqa: E731
    with pytest.raises(IntegrityError):
        async with unit_of_work(engine) as conn:
            await hot_sql.run(conn, "hot insert", plain_insert, {"id": 1, "name": "b", "at": at})
    with pytest.raises(StatementError, match="naive"):  # the column type's own check
        async with unit_of_work(engine) as conn:
            await hot_sql.run(
                conn, "hot add", _add, {"id": 2, "name": "c", "at": datetime(2026, 12, 2)}
            )
    async with unit_of_work(engine) as conn:  # the pool is fine afterwards
        assert (await conn.execute(select(things.c.id))).scalars().all() == [1]


@pytest.mark.pg
async def test_a_connection_cut_mid_statement_is_replaced(pg_database):
    engine = make_engine(pg_database, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        at = datetime(2026, 12, 2, tzinfo=UTC)
        with pytest.raises(DBAPIError) as caught:
            async with unit_of_work(engine) as conn:
                pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await _terminate(pg_database, pid)
                await hot_sql.run(conn, "hot add", _add, {"id": 1, "name": "a", "at": at})
        assert caught.value.connection_invalidated
        async with unit_of_work(engine) as conn:  # a new connection serves the next one
            await hot_sql.run(conn, "hot add", _add, {"id": 1, "name": "a", "at": at})
    finally:
        await engine.dispose()


async def _terminate(url: str, pid: int) -> None:
    admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", pool_size=1)
    try:
        async with admin.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.1)
    finally:
        await admin.dispose()


async def test_a_statement_it_does_not_take_runs_through_sqlalchemy(engine):
    """An expanding IN (its SQL depends on the values) and a numeric column (whose result
    processing asks the driver about the column) are SQLAlchemy's to run, with the same
    answer."""
    from sqlalchemy import Numeric, cast

    at = datetime(2026, 12, 2, tzinfo=UTC)
    async with unit_of_work(engine) as conn:
        for n in (1, 2, 3):
            await hot_sql.run(conn, "hot add", _add, {"id": n, "name": f"n{n}", "at": at})
        expanding = await hot_sql.run(
            conn,
            "hot expanding",
            lambda _: select(things.c.id).where(things.c.id.in_(bindparam("ids", expanding=True))),
            {"ids": [1, 3]},
        )
        numeric = await hot_sql.run(
            conn,
            "hot numeric",
            lambda _: select(cast(things.c.id, Numeric(10, 2)).label("amount")).where(
                things.c.id == bindparam("id")
            ),
            {"id": 2},
        )
    assert sorted(expanding.scalars()) == [1, 3]
    assert numeric.scalar() == 2 and numeric.first().amount == 2


async def test_several_rows_go_in_one_statement_in_their_order(engine):
    at = datetime(2026, 12, 2, tzinfo=UTC)
    rows = [{"id": n, "name": f"line {n}", "at": at, "doc": {"n": n}} for n in (3, 1, 2)]
    async with unit_of_work(engine) as conn:
        await hot_sql.insert_rows(conn, "hot lines", things, rows)
        await hot_sql.insert_rows(conn, "hot lines", things, [])
        await hot_sql.insert_rows(conn, "hot lines", things, [{**rows[0], "id": 4, "name": "x"}])
        got = (await conn.execute(select(things.c.id, things.c.doc).order_by(things.c.id))).all()
    assert [tuple(r) for r in got] == [(1, {"n": 1}), (2, {"n": 2}), (3, {"n": 3}), (4, {"n": 3})]


@pytest.mark.pg
async def test_a_statement_cancelled_midway_stays_a_cancellation(pg_database):
    """A task cancelled while its statement runs (a consumer or relay being stopped) ends
    cancelled, not with an error a retry loop would take for a failure and carry on; the
    connection is dropped and the next unit of work gets a good one."""
    from sqlalchemy import func

    engine = make_engine(pg_database, pool_size=1)
    try:

        async def slow() -> None:
            async with unit_of_work(engine) as conn:
                await hot_sql.run(conn, "hot sleep", lambda _: select(func.pg_sleep(5)))

        task = asyncio.create_task(slow())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with unit_of_work(engine) as conn:
            assert (await hot_sql.run(conn, "hot one", lambda _: select(text("1")))).scalar() == 1
    finally:
        await engine.dispose()
