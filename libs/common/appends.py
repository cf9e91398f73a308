"""Rows a unit of work only adds (history lines, outbox rows, Idempotency-Key answers),
written with a statement it runs anyway.

Such a row is not read back in the transaction that writes it before its end: :func:`append`
keeps it, and it goes to the database with the next statement that takes the waiting rows
along (:func:`take_all`: the ILL sequence's count of a message sent on its own, or the record
of the applied ``seq``: one round trip for all), or all in one statement just before the unit
of work commits (:func:`write_waiting`), as soon as the transaction reads one of the tables
(:func:`flush`), or when ``MOST_WAITING`` rows wait. Outside a
:func:`libs.common.db.unit_of_work` a row is written at once. A table whose writer needs what
the database gave its rows (the outbox's ids, for the relay) says so with :class:`Returned`:
the statement that writes them returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import JSON, Table, bindparam, func, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.db import before_commit, statement, unit_state

_PENDING = "appends"
#: rows at most waiting in a unit of work: more are written at once
MOST_WAITING = 32
_RETURNED = "appends returned"


class Returned(NamedTuple):
    """The columns the INSERT of a table's waiting rows returns, and who hears them: ``hear``
    gets one tuple of those columns per row written (in no particular order)."""

    columns: tuple[str, ...]
    hear: Callable[[list[tuple]], None]


class Waiting(NamedTuple):
    """A table's rows taken to be written with another statement."""

    table: Table
    rows: list[Mapping[str, Any]]
    returned: Returned | None


async def append(
    conn: AsyncConnection,
    table: Table,
    row: Mapping[str, Any],
    *,
    returned: Returned | None = None,
) -> None:
    """Add ``row`` to ``table`` in this transaction (all of a table's rows with the same
    columns, and the same ``returned``)."""
    if not before_commit(conn, "appends", write_waiting):
        await write(conn, table, [row], returned)
        return
    state = unit_state(conn)
    assert state is not None  # before_commit said this is a unit of work
    pending = state.setdefault(_PENDING, {})
    pending.setdefault(table, []).append(row)
    if returned is not None:
        state.setdefault(_RETURNED, {})[table] = returned
    if sum(len(rows) for rows in pending.values()) >= MOST_WAITING:
        # A job's long unit of work: written as it goes, in statements of a bounded size
        # (PostgreSQL takes at most 32767 parameters in one) and of a few shapes.
        await write_waiting(conn)


async def append_all(conn: AsyncConnection, table: Table, rows: list[Mapping[str, Any]]) -> None:
    for row in rows:
        await append(conn, table, row)


def take_all(conn: AsyncConnection) -> list[Waiting]:
    """Every table's waiting rows, in the order the tables were first added to, for a
    statement that writes them along with its own (:meth:`Returned.hear` is then the
    caller's to call)."""
    state = unit_state(conn)
    if state is None or not state.get(_PENDING):
        return []
    pending, returned = state.pop(_PENDING), state.get(_RETURNED, {})
    return [Waiting(t, rows, returned.get(t)) for t, rows in pending.items() if rows]


async def flush(conn: AsyncConnection, table: Table) -> None:
    """Write the rows waiting for ``table`` now, before reading it: with every other table's
    (:func:`write_waiting`), as one statement costs what one table's alone does."""
    state = unit_state(conn)
    if state is not None and state.get(_PENDING, {}).get(table):
        await write_waiting(conn)


async def write(
    conn: AsyncConnection,
    table: Table,
    rows: list[Mapping[str, Any]],
    returned: Returned | None = None,
) -> None:
    """``rows`` into ``table`` in one statement of their own (none: nothing)."""
    if not rows:
        return
    if returned is None:
        await hot_sql.insert_rows(conn, ("append", table), table, rows)
        return
    cols = tuple(table.c[c] for c in returned.columns)
    got = await hot_sql.insert_rows(
        conn,
        ("append", table, returned.columns),
        table,
        rows,
        shape=lambda stmt: stmt.returning(*cols),
    )
    returned.hear([tuple(r) for r in got])


async def write_waiting(conn: AsyncConnection) -> None:
    """Write every table's waiting rows now, in one statement on PostgreSQL (what is left
    for the commit: a step's history lines and its outbox rows together)."""
    waiting = take_all(conn)
    if len(waiting) == 1:
        await write(conn, waiting[0].table, waiting[0].rows, waiting[0].returned)
    elif waiting:
        await along(conn, None, {}, waiting)


async def along(
    conn: AsyncConnection,
    keyed: tuple[object, Any] | None,
    params: dict[str, Any],
    waiting: list[Waiting],
) -> hot_sql.Rows:
    """Run the statement ``keyed`` (its key and itself: one that returns a row) with
    ``params``, the ``waiting`` rows inserted by data-modifying CTEs of the same statement on
    PostgreSQL (one round trip for all; built once per statement and shape), what a table's
    rows return heard from the statement's own row; each table's rows by a statement of its
    own just before it elsewhere. ``keyed`` None: the rows alone (a ``SELECT`` carries
    them)."""
    if keyed is not None and not waiting:
        return await hot_sql.execute(conn, *keyed, params)
    if conn.dialect.name != "postgresql":
        for w in waiting:
            await write(conn, w.table, w.rows, w.returned)
        return await hot_sql.execute(conn, *keyed, params) if keyed else hot_sql.Rows([], 0)
    base_key, base = keyed if keyed is not None else ("rows alone", None)
    shape = tuple(
        (w.table, len(w.rows), tuple(sorted(w.rows[0])), w.returned and w.returned.columns)
        for w in waiting
    )

    def build(_: AsyncConnection) -> Any:
        stmt: Any = base if base is not None else select(literal_column("1").label("written"))
        back = []
        for k, (table, n, names, returns) in enumerate(shape):
            rows = insert(table).values(
                [
                    {c: bindparam(f"a{k}_{i}_{c}", type_=table.c[c].type) for c in names}
                    for i in range(n)
                ]
            )
            if returns:
                rows = rows.returning(*(table.c[c] for c in returns))
            cte = rows.cte(f"along_rows_{k}")
            stmt = stmt.add_cte(cte)
            if returns:
                pairs = func.json_agg(func.json_build_array(*cte.c), type_=JSON)
                back.append(select(pairs).scalar_subquery().label(f"along_returned_{k}"))
        if not back:
            return stmt
        # After the statement's own columns: its callers read those by name or place.
        return stmt.add_columns(*back) if base is None else stmt.returning(*back)

    key = ("along", base_key, shape)
    params = dict(params)
    for k, w in enumerate(waiting):
        params |= {f"a{k}_{i}_{c}": v for i, row in enumerate(w.rows) for c, v in row.items()}
    found = await hot_sql.execute(conn, key, statement(conn, key, build), params)
    row = found.first()
    for k, w in enumerate(waiting):
        if w.returned is not None and row is not None:
            # (No row: the rows are written and heard of by nobody; the statements that take
            # rows along return one when they do what they are for, and otherwise the caller
            # does not commit.)
            w.returned.hear(getattr(row, f"along_returned_{k}") or [])
    return found
