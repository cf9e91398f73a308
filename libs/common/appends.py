"""Rows a unit of work only adds (history lines, outbox rows), written with a statement it
runs anyway.

A history line or an outbox row is not read back in the transaction that writes it before its
end: :func:`append` keeps it, and it goes to the database with the next statement that takes
the waiting rows along (:func:`take` and :func:`take_all`: the ILL sequence's bump of the
message the step sends, or the record of the applied ``seq``: one round trip for all), or in
one multi-row INSERT just before the unit of work commits, or as soon as the transaction reads
the table (:func:`flush`). Outside a :func:`libs.common.db.unit_of_work` a row is written at
once. A table whose writer needs what the database gave the rows (the outbox's ids, for the
relay) names it with :class:`Returned`: the statement that writes them returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.db import before_commit, unit_state

_PENDING = "appends"
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
    if not before_commit(conn, f"appends {table.name}", lambda c: flush(c, table)):
        await write(conn, table, [row], returned)
        return
    state = unit_state(conn)
    assert state is not None  # before_commit said this is a unit of work
    state.setdefault(_PENDING, {}).setdefault(table, []).append(row)
    if returned is not None:
        state.setdefault(_RETURNED, {})[table] = returned


async def append_all(conn: AsyncConnection, table: Table, rows: list[Mapping[str, Any]]) -> None:
    for row in rows:
        await append(conn, table, row)


def take(conn: AsyncConnection, table: Table) -> list[Mapping[str, Any]]:
    """The rows waiting for ``table`` (one whose rows return nothing), for a statement that
    writes them along with its own (they are the caller's to write now)."""
    state = unit_state(conn)
    return state.get(_PENDING, {}).pop(table, []) if state is not None else []


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
    """Write the rows waiting for ``table`` now (before reading it, before the commit)."""
    state = unit_state(conn)
    returned = state.get(_RETURNED, {}).get(table) if state is not None else None
    await write(conn, table, take(conn, table), returned)


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
