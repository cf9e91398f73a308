"""Database plumbing shared by the services: async engines for PostgreSQL and SQLite, one
transaction per unit of work, and creating a service's database when it does not exist.

Services use SQLAlchemy Core on hot paths (few round trips per message) and own their tables in
``services/<name>/adapters/tables.py``; the boundary (route, consumer) opens the transaction,
repositories never commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import structlog
from sqlalchemy import ARRAY, DateTime, Table, TypeDecorator, any_, bindparam, event, exc, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

PG_HOST = "127.0.0.1"

log = structlog.get_logger("illfed.db")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in and out, whatever the database: every service's
    tables use it, so an API answers RFC 3339 instants with their offset on SQLite too.

    SQLite has no time zones: it stores the naive UTC value (so comparisons, which are
    string comparisons there, stay right) and gets its UTC back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous: pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def pg_url(database: str, host: str = PG_HOST, port: int = 5432, user: str = "postgres") -> str:
    return f"postgresql+asyncpg://{user}@{host}:{port}/{database}"


def sqlite_url(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{path}"


def is_sqlite(url_or_engine: str | AsyncEngine | AsyncConnection) -> bool:
    if isinstance(url_or_engine, str):
        return make_url(url_or_engine).get_backend_name() == "sqlite"
    return url_or_engine.dialect.name == "sqlite"


def make_engine(
    url: str, *, pool_size: int = 10, wait_for_flush: bool = True, generic_plans: bool = False
) -> AsyncEngine:
    """An async engine. SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` so concurrent
    writers of the embedded federation wait for each other instead of failing.

    ``wait_for_flush=False``: on PostgreSQL a commit returns before its WAL reaches the disk
    (``synchronous_commit = off``), for writes whose loss in a server crash only means doing
    them again (an outbox relay's claims and sent marks).

    ``generic_plans``: PostgreSQL plans each prepared statement once per connection
    (``plan_cache_mode = force_generic_plan``) instead of planning it again for its values
    on its first five runs on every connection of the pool, and on every run of a statement
    whose plan for the values it guesses cheaper: for a service whose statements look rows
    up by their keys, measured, planning was a tenth of the server's CPU under load. Not for
    the catalogue, whose searches are planned best for the values searched."""
    if is_sqlite(url):
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_pragmas(engine)
        return engine
    # pool_size connections at most, all kept: more work waits for one of them. Overflow
    # connections would be closed on their return and opened again for the next burst (a
    # new backend, a new TLS attempt, every statement prepared again), which under steady
    # load is most of them; and the units of a federation share one server's connections.
    settings = {} if wait_for_flush else {"synchronous_commit": "off"}
    if generic_plans:
        settings["plan_cache_mode"] = "force_generic_plan"
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, connect_args={"server_settings": settings}
    )
    _ping_when_idle(engine)
    return engine


#: seconds a pooled connection may sit unused and still be handed out without a ping
PING_IDLE_AFTER = 2.0
_IDLE_SINCE = "illfed.idle_since"


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before handing it out only when it has been idle for a
    while, not on every checkout (``pool_pre_ping``: three round trips, BEGIN, a query and
    ROLLBACK, before every unit of work). A connection in steady use was just seen working;
    one that sat idle may have been cut (a database restart, a failover, an idle timeout) and
    is pinged, and a failed ping renews every connection of the pool, as pre-ping does. A
    connection cut while in use fails that one unit of work, which the caller retries (a
    consumer redelivers, a client sends again), and SQLAlchemy then renews the pool."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:  # pragma: no cover - pool callback
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy) -> None:  # pragma: no cover - pool callback
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_IDLE_AFTER:
            return  # new, or in use a moment ago
        try:
            alive = sync_engine.dialect.do_ping(dbapi_conn)
        except Exception:
            alive = False
        if not alive:
            # The pool replaces this connection, and every one older, and checks out again.
            raise exc.InvalidatePoolError("an idle pooled connection failed its ping")


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - driver callback
        # Take transaction control from the driver so that BEGIN IMMEDIATE can be emitted.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):  # pragma: no cover - driver callback
        # Writers queue on the database lock up front rather than deadlocking on upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_COMMIT_HOOKS: WeakKeyDictionary = WeakKeyDictionary()
_TAKERS: WeakKeyDictionary = WeakKeyDictionary()
#: set in ``conn.info`` by code that wrote something the after-commit hooks care about
OUTBOX_WRITTEN = "illfed.outbox_written"
#: in a unit of work's :func:`unit_state` while it hands the outbox rows it writes to the
#: running relay
OUTBOX_HANDOFF = "outbox_handoff"


class Handoff:
    """The outbox rows a unit of work wrote already claimed (``claimed_at``) for the relay
    of its own process, which publishes them once the transaction commits without a claim
    statement of its own. ``claimed_at`` is what the rows are written with; ``waiting``, the
    rows written with a later statement of the unit of work, until they have their ids."""

    __slots__ = ("claimed_at", "rows", "waiting")

    def __init__(self, claimed_at: datetime) -> None:
        self.claimed_at = claimed_at
        self.rows: list[Any] = []
        self.waiting: list[Any] = []


def on_outbox_commit(engine: AsyncEngine, hook) -> None:
    """Call ``hook()`` after each unit of work on ``engine`` that wrote to the outbox commits
    (the relay uses it to publish at once instead of waiting for its next poll)."""
    _COMMIT_HOOKS.setdefault(engine.sync_engine, []).append(hook)


def hand_outbox_to(engine: AsyncEngine, taker) -> None:
    """``taker`` (the relay) may take the outbox rows of ``engine``'s units of work as they
    commit: while ``taker.accepting()``, a unit of work gets ``taker.handoff()`` and, after
    its commit, ``taker.take(rows)`` with the rows it wrote."""
    _TAKERS.setdefault(engine.sync_engine, []).append(taker)


#: in ``conn.info`` while a unit of work runs: what it keeps until its end (see
#: :func:`unit_state`), and what it does just before it commits
UNIT_STATE = "illfed.unit_state"
BEFORE_COMMIT = "illfed.before_commit"


def unit_state(conn: AsyncConnection) -> dict[str, Any] | None:
    """A dict that lives as long as this unit of work (None outside one): what is kept in
    it never reaches the next transaction on the same pooled connection."""
    return conn.info.get(UNIT_STATE)


def before_commit(conn: AsyncConnection, key: str, work: Callable[[AsyncConnection], Any]) -> bool:
    """Have ``await work(conn)`` run once (per ``key``) at the end of this unit of work,
    inside its transaction, just before it commits. False, and nothing registered, when
    ``conn`` is not a :func:`unit_of_work`'s (the caller then does it at once)."""
    state = unit_state(conn)
    if state is None:
        return False
    state[BEFORE_COMMIT].setdefault(key, work)
    return True


#: in a unit of work's :func:`unit_state`: the keys of the records it changed
CHANGED_KEYS = "changed_keys"
_CHANGE_HOOKS: WeakKeyDictionary = WeakKeyDictionary()


def changed(conn: AsyncConnection, key: str, to_state: str | None) -> None:
    """The record named ``key`` moves to ``to_state`` (None: it stays in its state) in this
    unit of work: once it commits, the hooks of :func:`on_change_commit` hear of it
    (requests waiting for the record to reach that state read it again). Outside a
    :func:`unit_of_work` nobody is told (those waiting read again on their own)."""
    state = unit_state(conn)
    if state is not None and to_state is not None:  # a step that stays wakes nobody
        state.setdefault(CHANGED_KEYS, {}).setdefault(key, set()).add(str(to_state))


def on_change_commit(engine: AsyncEngine, hook: Callable[[dict[str, set[str]]], None]) -> None:
    """Call ``hook(changes)`` (each key named, with the states it moved to) after each unit
    of work on ``engine`` that named changed records commits."""
    _CHANGE_HOOKS.setdefault(engine.sync_engine, []).append(hook)


def _taker(engine: AsyncEngine):
    for taker in _TAKERS.get(engine.sync_engine, ()):
        if taker.accepting():
            return taker
    return None


def _connect_and_begin(sync_engine: Any) -> Any:
    sync_conn = sync_engine.connect()
    try:
        sync_conn.begin()
    except BaseException:
        sync_conn.close()
        raise
    return sync_conn


def _commit_and_close(sync_conn: Any) -> None:
    # A failed commit leaves the connection open: the unit of work's rollback path ends it.
    sync_conn.commit()
    sync_conn.close()


def _roll_back_and_close(sync_conn: Any) -> None:
    try:
        sync_conn.rollback()
    finally:
        sync_conn.close()


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction: committed when the block ends, rolled back if it raises.

    The outbox rows it writes go to the process's running relay once it commits (see
    :class:`Handoff`); rows of a transaction that rolled back never reach it."""
    taker = _taker(engine)
    handoff = taker.handoff() if taker is not None else None
    # What ``engine.begin()`` does (connect, begin; commit or roll back, close), in one hop
    # into SQLAlchemy's greenlet to open and one to end instead of four: measured, about
    # 65 µs of CPU less per unit of work, which every request and message is.
    sync_conn = await greenlet_spawn(_connect_and_begin, engine.sync_engine)
    conn = AsyncConnection(engine, sync_conn)
    try:
        # conn.info belongs to the pooled connection and outlives this unit of work.
        conn.info.pop(OUTBOX_WRITTEN, None)
        pending: dict[str, Callable[[AsyncConnection], Any]] = {}
        state: dict[str, Any] = {BEFORE_COMMIT: pending, OUTBOX_HANDOFF: handoff}
        conn.info[UNIT_STATE] = state
        try:
            yield conn
            while pending:  # what runs there may register more
                await pending.pop(next(iter(pending)))(conn)
        finally:
            if not conn.invalidated:  # a lost connection's info goes with it
                conn.info.pop(UNIT_STATE, None)
        wrote_outbox = conn.info.pop(OUTBOX_WRITTEN, False)
        keys = state.get(CHANGED_KEYS)
        await greenlet_spawn(_commit_and_close, sync_conn)
    except BaseException:
        if not sync_conn.closed:
            # Shielded as SQLAlchemy shields its close: a cancelled caller still gives the
            # connection back to the pool, rolled back.
            await asyncio.shield(greenlet_spawn(_roll_back_and_close, sync_conn))
        raise
    if keys:
        for change_hook in _CHANGE_HOOKS.get(engine.sync_engine, ()):
            change_hook(keys)
    if handoff is not None and handoff.rows:
        taker.take(handoff.rows)
    if handoff is not None and handoff.waiting:  # not expected: written, their ids unheard
        log.warning(
            "outbox rows committed without their ids: any relay sends them after the lease",
            messages=[r.message_id for r in handoff.waiting],
        )
    if wrote_outbox:  # rows written some other way: the relay looks for them at once
        for hook in _COMMIT_HOOKS.get(engine.sync_engine, ()):
            hook()


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads only. On PostgreSQL its statements run without a transaction:
    at READ COMMITTED each statement reads its own snapshot inside one too, so nothing is
    lost, and the reads save the BEGIN and ROLLBACK round trips around them."""
    if engine.dialect.name != "postgresql":
        async with engine.connect() as conn:
            yield conn
        return
    # The driver's connection switched to autocommit for the reads and back as it returns to
    # the pool, in one hop into SQLAlchemy's greenlet each way (as unit_of_work): what
    # ``isolation_level="AUTOCOMMIT"`` does, without SQLAlchemy setting it as a
    # characteristic of the pooled connection on every checkout and resetting it on every
    # return (measured: about 2% of a library's CPU under the ILL load, for its reads).
    sync_conn = await greenlet_spawn(engine.sync_engine.connect)
    driver: Any = None
    try:
        driver = sync_conn.connection.dbapi_connection
        driver.autocommit = True
        yield AsyncConnection(engine, sync_conn)
    finally:
        if driver is not None:
            driver.autocommit = False
        await asyncio.shield(greenlet_spawn(sync_conn.close))


async def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database named in ``url`` if missing. Returns True if created.
    SQLite files are created on first connection, so this does nothing for them."""
    if is_sqlite(url):
        return False
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host or PG_HOST,
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database="postgres",
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", u.database)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{u.database}"')
        return True
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    """Drop a PostgreSQL database (tests use this to clean up what they created)."""
    if is_sqlite(url):
        return
    import asyncpg

    u = make_url(url)
    conn = await asyncpg.connect(
        host=u.host or PG_HOST,
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        database="postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
    finally:
        await conn.close()


def upsert(conn: AsyncConnection, table: Table) -> Any:
    """``INSERT`` into ``table`` with ``ON CONFLICT`` (``on_conflict_do_nothing``,
    ``on_conflict_do_update``) in the connection's database, PostgreSQL or SQLite."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def any_of(conn: AsyncConnection, column: Any, name: str, item_type: Any) -> Any:
    """``column`` is one of the values of the parameter ``name`` (a list): on PostgreSQL
    ``= ANY`` of one array parameter, so that a statement built once serves every list (an
    ``IN`` list is rendered again for each length); elsewhere an expanding ``IN``."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))


def one_of(column: Any, values: Iterable[Any]) -> Any:
    """``column`` is one of these fixed ``values`` (a step's source states, the claimable
    statuses), as equalities: an ``IN`` list is rendered anew on every execution, so a
    statement holding one could not be built once and kept prepared (:mod:`hot_sql`)."""
    return or_(*(column == v for v in values))


def insert_new(conn: AsyncConnection, table: Table, *unique: str) -> Any:
    """``INSERT`` that adds nothing when a row with the same ``unique`` columns is there
    (any unique constraint when none are named): a second writer of the same row waits for
    the first to commit and then inserts nothing, instead of failing its whole transaction.
    The result's ``rowcount`` says whether the row was new."""
    return upsert(conn, table).on_conflict_do_nothing(index_elements=list(unique) or None)


_STATEMENTS: dict[tuple[str, object], Any] = {}


def statement(conn: AsyncConnection, key: object, build: Callable[[AsyncConnection], Any]) -> Any:
    """The statement ``build(conn)`` makes, built once per database dialect and ``key``: a hot
    path (a consumer's per-message upsert) then neither rebuilds it nor has SQLAlchemy work
    out its cache key on every execution; the values go in as execution parameters."""
    slot = (conn.dialect.name, key)
    stmt = _STATEMENTS.get(slot)
    if stmt is None:
        stmt = _STATEMENTS[slot] = build(conn)
    return stmt
