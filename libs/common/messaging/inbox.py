"""The inbox: a consumer records each message id it processed in the transaction of its
effect, so that a redelivered message changes nothing.

The claim is an ``INSERT … ON CONFLICT DO NOTHING`` of its own, the consumer's first
statement. A handler marked :func:`claims_along` (the ILL handlers, whose sequence step
locks the transaction's sequence row before anything is applied) lets that statement make
the claim too, on PostgreSQL, as a data-modifying CTE: one round trip less for every ILL
message, at the broker and at each library. The statement reports whether the claim was
new (:meth:`InboxClaim.along`); a handler that returns without having made it gets it made
afterwards by the consumer, and a duplicate found then or by the statement undoes whatever
the handler did (the unit of work rolls back).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import hot_sql
from libs.common.db import insert_new, statement, unit_state

#: in a consumer's unit of work (:func:`libs.common.db.unit_state`): the message's claim,
#: while a :func:`claims_along` handler runs
PENDING = "inbox_claim"
#: the attribute :func:`claims_along` sets on a handler
_ALONG = "_illfed_claims_inbox_along"

H = TypeVar("H", bound=Callable[..., Any])


def claims_along(handler: H) -> H:
    """Mark ``handler`` as making the message's inbox claim with a statement of its own (an
    ILL handler's sequence step, :func:`libs.common.ill.sequence.receive`, takes
    :func:`pending`); what it does before that is undone if the message was processed
    before."""
    setattr(handler, _ALONG, True)
    return handler


def takes_claim_along(handler: Any, conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql" and getattr(handler, _ALONG, False)


async def claim(
    conn: AsyncConnection, inbox: Table, consumer: str, message_id: str, at: datetime
) -> bool:
    """Record that ``consumer`` processes ``message_id``; False if it already did."""
    values = {"consumer": consumer, "message_id": message_id, "processed_at": at}
    result = await hot_sql.run(conn, ("inbox claim", inbox), lambda c: insert_new(c, inbox), values)
    return result.rowcount == 1


class InboxClaim:
    """A message's claim, to be made by the handler's first statement."""

    __slots__ = ("consumer", "inbox", "made", "message_id", "new", "processed_at")

    def __init__(self, inbox: Table, consumer: str, message_id: str, at: datetime) -> None:
        self.inbox, self.consumer = inbox, consumer
        self.message_id, self.processed_at = message_id, at
        self.made = False  # a statement made it
        self.new = False  # and the message had not been processed before

    def along(self, conn: AsyncConnection, key: object, stmt: Any) -> tuple[object, Any, dict]:
        """``stmt`` (built once, named ``key``; it returns one row) with this claim made by
        the same statement: its key, the statement and the claim's values. The row's last
        column, ``inbox_claimed``, is 1 for a new claim, 0 for a message processed before;
        hand it to :meth:`note`."""

        def build(_: AsyncConnection) -> Any:
            made = (
                insert_new(conn, self.inbox)
                .values(
                    consumer=bindparam("ib_consumer"),
                    message_id=bindparam("ib_message"),
                    processed_at=bindparam("ib_at", type_=self.inbox.c.processed_at.type),
                )
                .returning(literal_column("1"))
                .cte("inbox_claim")
            )
            claimed = select(func.count()).select_from(made).scalar_subquery()
            return stmt.add_cte(made).returning(claimed.label("inbox_claimed"))

        along_key = ("inbox claim along", self.inbox, key)
        values = {
            "ib_consumer": self.consumer,
            "ib_message": self.message_id,
            "ib_at": self.processed_at,
        }
        return along_key, statement(conn, along_key, build), values

    def note(self, claimed: int) -> bool:
        """What the statement said of the claim; True if the message is new."""
        self.made, self.new = True, claimed == 1
        return self.new


def pending(conn: AsyncConnection) -> InboxClaim | None:
    """The claim the handler's first statement is to make (None when the consumer made it
    already, or ``conn`` is not a consumer's); taken once."""
    state = unit_state(conn)
    if state is None:
        return None
    found = state.get(PENDING)
    return None if found is None or found.made else found
