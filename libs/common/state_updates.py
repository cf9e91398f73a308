"""A state machine's step as one guarded SQL update: ``UPDATE … SET state = target WHERE
state = a source OR state = another source``. The database applies the step only if the row
is still in a state the step may leave, so a worker that lost a race changes nothing
(rowcount 0)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.db import one_of, statement
from libs.common.states import StateMachine


def guarded_step(table: Table, column: Column, machine: StateMachine, step: str) -> Update:
    """The update taking ``step``; the caller adds its own ``where`` (which row) and values."""
    sources: tuple[StrEnum, ...] = machine.sources(step)
    return (
        update(table)
        .where(one_of(column, (s.value for s in sources)))
        .values({column.name: machine.target(step).value})
    )


def step_statement(
    conn: AsyncConnection,
    column: Column,
    machine: StateMachine,
    step: str,
    key: Column,
    names: Iterable[str],
) -> tuple[object, Any]:
    """The statement taking ``step`` on the row whose ``key`` is the ``b_key`` parameter and
    writing the columns ``names`` (parameters of those names), returning the row as the step
    left it (no row when it was no longer in one of the step's sources), and its key: built
    once per table, step and columns. The columns are named in the statement itself, so it
    can also run inside another (:func:`libs.common.ill.sequence.numbering`)."""
    table = column.table
    assert isinstance(table, Table)
    written = tuple(sorted(names))  # (a value of the state column wins over the target)
    named = ("guarded step", table, step, written)

    def build(_: AsyncConnection) -> Any:
        return (
            guarded_step(table, column, machine, step)
            .values({n: bindparam(n, type_=table.c[n].type) for n in written})
            .where(key == bindparam("b_key"))
            .returning(*table.c)
        )

    return named, statement(conn, named, build)
