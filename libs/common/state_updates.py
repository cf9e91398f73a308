"""A state machine's step as one guarded SQL update: ``UPDATE … SET state = target WHERE
state = a source OR state = another source``. The database applies the step only if the row
is still in a state the step may leave, so a worker that lost a race changes nothing
(rowcount 0)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Column, Table, Update, or_, update

from libs.common.states import StateMachine


def guarded_step(table: Table, column: Column, machine: StateMachine, step: str) -> Update:
    """The update taking ``step``; the caller adds its own ``where`` (which row) and values."""
    sources: tuple[StrEnum, ...] = machine.sources(step)
    # Equalities rather than an IN list: an IN list is rendered anew on every execution,
    # so the statement could not be built once and kept prepared (libs.common.hot_sql).
    return (
        update(table)
        .where(or_(*(column == s.value for s in sources)))
        .values({column.name: machine.target(step).value})
    )
