"""Rows a unit of work only adds (history lines), written with a statement it runs anyway.

A history line is not read back in the transaction that writes it before its end, and nothing
waits for its id: :func:`append` keeps it, and it goes to the database with the next statement
that takes it along (:func:`take`: the ILL sequence's bump of the message the step sends, or
the record of the applied ``seq``: one round trip for both), or in one multi-row INSERT just
before the unit of work commits, or as soon as the transaction reads the table
(:func:`flush`). Outside a :func:`libs.common.db.unit_of_work` a row is written at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.db import before_commit, unit_state

_PENDING = "appends"


async def append(conn: AsyncConnection, table: Table, row: Mapping[str, Any]) -> None:
    """Add ``row`` to ``table`` in this transaction (all of a table's rows with the same
    columns)."""
    if not before_commit(conn, f"appends {table.name}", lambda c: flush(c, table)):
        await write(conn, table, [row])
        return
    state = unit_state(conn)
    assert state is not None  # before_commit said this is a unit of work
    state.setdefault(_PENDING, {}).setdefault(table, []).append(row)


async def append_all(conn: AsyncConnection, table: Table, rows: list[Mapping[str, Any]]) -> None:
    for row in rows:
        await append(conn, table, row)


def take(conn: AsyncConnection, table: Table) -> list[Mapping[str, Any]]:
    """The rows waiting for ``table``, for a statement that writes them along with its own
    (they are the caller's to write now)."""
    state = unit_state(conn)
    return state.get(_PENDING, {}).pop(table, []) if state is not None else []


async def flush(conn: AsyncConnection, table: Table) -> None:
    """Write the rows waiting for ``table`` now (before reading it, before the commit)."""
    await write(conn, table, take(conn, table))


async def write(conn: AsyncConnection, table: Table, rows: list[Mapping[str, Any]]) -> None:
    """``rows`` into ``table`` in one statement of their own (none: nothing)."""
    if rows:
        await hot_sql.insert_rows(conn, ("append", table), table, rows)
