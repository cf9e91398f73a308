"""Hot statements run by asyncpg itself, in the transaction SQLAlchemy opened.

On this kind of machine SQLAlchemy's execution of an already compiled statement costs about
as much CPU as the round trip to PostgreSQL itself: the execution context, the parameter and
result processing, the hop into a greenlet and back (measured: about 250 µs of CPU for an
``UPDATE … RETURNING`` through ``conn.execute``, 135 µs through asyncpg). Every unit runs a
few statements per message or request whatever it does (the inbox claim, the outbox row, the
relay's claim and sent marks, the ILL sequence), so those go through :func:`run`:

* the statement is built once (:func:`libs.common.db.statement`) and compiled once per set of
  parameter names by SQLAlchemy for the connection's dialect: the same SQL text, with
  SQLAlchemy's own bind processors (a :class:`~libs.common.db.UtcDateTime` is checked and
  made UTC as on any execution) and result processors applied to the values;
* it runs on the connection's asyncpg connection (asyncpg keeps it prepared), inside the
  transaction SQLAlchemy began, which asyncpg's adapter starts on its first statement as it
  would for ``conn.execute``;
* a database error comes out as the SQLAlchemy exception ``conn.execute`` raises (an
  ``IntegrityError``, a ``DBAPIError`` with ``connection_invalidated`` when the connection
  was lost, which SQLAlchemy then replaces), through SQLAlchemy's own handling.

Anywhere else (SQLite; a statement this path does not take: an expanding ``IN``, several
parameter sets) it is ``conn.execute``. Either way the
caller gets :class:`Rows`.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import greenlet_spawn

from libs.common.db import statement


class Rows:
    """What a statement gave: its rows (attribute and index access, as SQLAlchemy's) and how
    many rows it changed or returned."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]

    def scalars(self) -> list:
        return [r[0] for r in self._rows]

    def leading(self, stop: int) -> Rows:
        """The rows with their columns up to ``stop`` (as a slice: ``-1`` leaves the last
        out), as rows of their own: a statement's own columns, without those a wrapping
        statement added after them."""
        if not self._rows:
            return Rows([], self.rowcount)
        make = _leading_class(type(self._rows[0])._fields[:stop])
        return Rows([make(*r[:stop]) for r in self._rows], self.rowcount)


def _row_class(names: list[str]) -> type:
    """A tuple with the columns as attributes and, as SQLAlchemy's rows, ``_mapping``."""
    base = namedtuple("Row", names)  # type: ignore[misc]  # ValueError for a bad name
    return type("Row", (base,), {"__slots__": (), "_mapping": property(base._asdict)})


@cache
def _leading_class(names: tuple[str, ...]) -> type:
    # One class per set of leading columns: a namedtuple class costs more than a row.
    return _row_class(list(names))


class _Plan:
    """A statement compiled for PostgreSQL and what running it by hand takes."""

    __slots__ = ("compiled", "results", "returns_rows", "row", "sources", "sql")

    def __init__(self, compiled: Any, keys: list[str]) -> None:
        self.compiled = compiled
        self.sql: str = compiled.string
        self.sources = _sources(compiled, keys)
        columns = compiled._result_columns or []
        self.returns_rows = bool(columns)
        dialect = compiled.dialect
        self.results = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
        if not any(self.results):
            self.results = ()
        self.row = _row_class([c.keyname for c in columns]) if columns else None

    @staticmethod
    def of(stmt: Any, conn: AsyncConnection, keys: list[str]) -> _Plan | None:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
        if (
            compiled.post_compile_params  # an expanding IN: its SQL depends on the values
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
            or getattr(compiled, "insert_prefetch", ())  # Python-side column defaults
            or getattr(compiled, "update_prefetch", ())
            or not compiled.positional
        ):
            return None
        try:
            return _Plan(compiled, keys)
        except Exception:
            # A result column that cannot be an attribute name, or a type whose result
            # processing depends on what the driver says of the column (asyncpg's numerics):
            # SQLAlchemy's own execution then runs it.
            return None

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        if self.sources is None:
            return self._args_by_sqlalchemy(params)
        out = []
        for kind, source, process in self.sources:
            if kind is _GIVEN:
                value = params[source]
            elif kind is _FIXED:
                value = source
            else:
                value = source.effective_value
            out.append(value if process is None else process(value))
        return out

    def _args_by_sqlalchemy(self, params: Mapping[str, Any]) -> list[Any]:
        values = self.compiled.construct_params(params)
        binds = self.compiled._bind_processors
        order = self.compiled.positiontup or ()
        return [binds[name](values[name]) if name in binds else values[name] for name in order]

    def rows(self, records: list) -> list:
        make = self.row._make  # type: ignore[union-attr]
        if not self.results:
            return [make(r) for r in records]
        procs = self.results
        return [make(p(v) if p else v for p, v in zip(procs, r, strict=True)) for r in records]


#: where a positional value comes from: the caller's parameters, the statement itself (a
#: literal such as the ``1`` of ``version + 1``), or a bind's callable
_GIVEN, _FIXED, _CALLED = "given", "fixed", "called"


def _sources(compiled: Any, keys: list[str]) -> tuple | None:
    """For each positional value, where it comes from and the bind processor it goes through,
    worked out once for the parameter names the plan is made for: what
    ``compiled.construct_params`` finds by looking each bind up by key and by name on every
    execution (its own measured share of a unit's CPU was about 3%). None, and SQLAlchemy's
    own construction, where a bind is required and not given: SQLAlchemy names it."""
    given = set(keys)
    collected = compiled._collected_params or {}
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    processors = compiled._bind_processors
    out = []
    for name in compiled.positiontup or ():
        bind = by_name[name]
        source: Any
        if bind.key in given:
            kind, source = _GIVEN, bind.key
        elif bind.key in collected:
            kind, source = _FIXED, collected[bind.key]
        elif name in given:
            kind, source = _GIVEN, name
        elif name in collected:
            kind, source = _FIXED, collected[name]
        elif bind.required:
            return None
        elif bind.callable:
            kind, source = _CALLED, bind
        else:
            kind, source = _FIXED, bind.value
        out.append((kind, source, processors.get(name)))
    return tuple(out)


_PLANS: dict[tuple[object, tuple[str, ...]], _Plan | None] = {}


async def run(
    conn: AsyncConnection,
    key: object,
    build: Callable[[AsyncConnection], Any],
    params: Mapping[str, Any] | None = None,
) -> Rows:
    """Run the statement ``build(conn)`` makes (built once per dialect and ``key``, as
    :func:`libs.common.db.statement`) with ``params``."""
    return await execute(conn, key, statement(conn, key, build), params)


async def execute(
    conn: AsyncConnection, key: object, stmt: Any, params: Mapping[str, Any] | None = None
) -> Rows:
    """Run ``stmt``, a statement built once and named by ``key`` (one key, one statement)."""
    params = params or {}
    if conn.dialect.name != "postgresql":
        return await _through_sqlalchemy(conn, stmt, params)
    if not conn.in_transaction():
        # What conn.execute would do first (autobegin): the statements that follow, and the
        # caller's commit or rollback, are then SQLAlchemy's transaction's.
        await conn.begin()
    names = tuple(sorted(params))
    slot = (key, names)
    try:
        plan = _PLANS[slot]
    except KeyError:
        plan = _PLANS[slot] = _Plan.of(stmt, conn, list(names))
    if plan is None:
        return await _through_sqlalchemy(conn, stmt, params)
    adapted: Any = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    args: list[Any] = []
    try:
        args = plan.args(params)  # a value its column type refuses fails as it would there
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()  # as asyncpg's adapter does
            driver = adapted._connection
            if plan.returns_rows:
                records = await driver.fetch(plan.sql, *args)
                return Rows(plan.rows(records), len(records))
            status = await driver.execute(plan.sql, *args)
    except BaseException as error:  # a cancellation too: SQLAlchemy drops the connection then
        await _raise_as_sqlalchemy(conn, adapted, error, plan.sql, args)
    count = status.rpartition(" ")[2]
    return Rows([], int(count) if count.isdigit() else -1)


async def row_by(
    conn: AsyncConnection, table: Any, column: str, value: Any, *, for_update: bool = False
) -> Any:
    """The row of ``table`` whose ``column`` is ``value`` (None if there is none), by a
    statement built once per table, column and lock: the look-up every message and every
    poll of a record makes. ``for_update`` locks the row for the caller's transaction on
    PostgreSQL (SQLite has one writer)."""
    locked = for_update and conn.dialect.name == "postgresql"

    def build(_: AsyncConnection) -> Any:
        query = select(table).where(table.c[column] == bindparam("b_value"))
        return query.with_for_update() if locked else query

    return (await run(conn, ("row by", table, column, locked), build, {"b_value": value})).first()


async def insert_rows(
    conn: AsyncConnection,
    key: object,
    table: Any,
    rows: list[Mapping[str, Any]],
    *,
    shape: Callable[[Any], Any] | None = None,
) -> Rows:
    """Insert ``rows`` (all with the same columns) into ``table`` in one statement: one
    ``INSERT … VALUES (…), (…)``, built once per number of rows and columns, instead of a
    round of executions. ``shape`` adds to the statement (its ``RETURNING``); ``key`` names
    the statement with it."""
    if not rows:
        return Rows([], 0)
    names = tuple(sorted(rows[0]))

    def build(_: AsyncConnection) -> Any:
        stmt = insert(table).values(
            [
                {c: bindparam(f"r{i}_{c}", type_=table.c[c].type) for c in names}
                for i in range(len(rows))
            ]
        )
        return shape(stmt) if shape is not None else stmt

    params = {f"r{i}_{c}": row[c] for i, row in enumerate(rows) for c in names}
    return await run(conn, (key, len(rows), names), build, params)


async def _through_sqlalchemy(conn: AsyncConnection, stmt: Any, params: Mapping) -> Rows:
    result = await conn.execute(stmt, dict(params))
    if result.returns_rows:
        rows = result.all()
        return Rows(list(rows), len(rows))
    return Rows([], result.rowcount)


async def _raise_as_sqlalchemy(
    conn: AsyncConnection, adapted: Any, error: BaseException, sql: str, args: list
) -> None:
    """Raise ``error`` as ``conn.execute`` would have: the driver's error translated by
    asyncpg's adapter, then handled by SQLAlchemy's connection (a lost connection
    invalidated; a cancellation drops the connection, whose state is then unknown, and
    stays a cancellation)."""
    try:
        adapted._handle_exception(error)
    except BaseException as translated:
        await greenlet_spawn(_handle, conn.sync_connection, translated, sql, tuple(args))
    raise error  # not reached: both of the above raise


def _handle(sync_connection: Any, error: BaseException, sql: str, args: tuple) -> None:
    # SQLAlchemy's handler reads the exception being handled (sys.exc_info()), so it runs
    # inside an except block of its own greenlet.
    try:
        raise error
    except BaseException as handled:
        sync_connection._handle_dbapi_exception(handled, sql, args, None, None)
