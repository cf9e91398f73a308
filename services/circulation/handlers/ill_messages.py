"""How a library speaks on an ILL transaction, on either side: every message goes to the
broker with this library's next ``seq``; every message from the broker is applied in the
broker's ``seq`` order (parked if early, ignored if repeated); each transition is recorded in
``ill_history``; a message illegal in the current state is recorded as refused and answered
with ``ill.error``, never applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common import appends, hot_sql
from libs.common.changes import ill_transaction
from libs.common.contracts import Envelope, IllError
from libs.common.contracts.ill import ErrorType
from libs.common.db import changed
from libs.common.ill.ordering import Verdict
from libs.common.ill.sequence import next_seq, receive
from libs.common.messaging.outbox import send
from services.circulation.adapters.tables import ill_history, ill_seq, outbox
from services.circulation.handlers.context import Library

BROKER = "requests"
Role = str  # "requester" | "supplier"


async def to_broker(
    conn: AsyncConnection,
    lib: Library,
    transaction_id: str,
    build: Callable[[int], BaseModel],
    *,
    causation_id: str | None,
) -> Envelope:
    """Send the message ``build(seq)`` makes to the broker, numbered in this library's order
    for the transaction, in the caller's database transaction (through the outbox)."""
    seq = await next_seq(conn, ill_seq, transaction_id, BROKER)
    return await send(
        conn,
        outbox,
        build(seq),
        sender=lib.code,
        recipient=BROKER,
        correlation_id=transaction_id,
        causation_id=causation_id,
        clock=lib.clock,
    )


async def from_broker(
    conn: AsyncConnection,
    lib: Library,
    env: Envelope,
    payload: Any,
    apply: Callable[[Envelope, Any], Awaitable[None]],
) -> Verdict:
    """Apply a sequenced message from the broker in order (``apply(env, payload)`` runs for it
    and for every parked successor it releases)."""
    return await receive(
        conn,
        ill_seq,
        env,
        payload.seq,
        apply,
        lib.clock,
        transaction_id=payload.transaction_id,
        payload=payload,
    )


async def record(
    conn: AsyncConnection,
    lib: Library,
    *,
    transaction_id: str,
    role: Role,
    from_state: str | None,
    to_state: str | None,
    event: str,
    actor: str,
    message_id: str | None = None,
    refused: str | None = None,
) -> None:
    # Written with a statement the unit of work runs anyway: the count of the message it
    # sends, the record of the applied seq, or with its other rows just before it commits
    # (libs.common.appends).
    await appends.append(
        conn,
        ill_history,
        {
            "transaction_id": transaction_id,
            "role": role,
            "at": lib.now(),
            "from_state": from_state,
            "to_state": to_state,
            "event": event,
            "message_id": message_id,
            "actor": actor,
            "refused": refused[:500] if refused else None,
        },
    )
    changed(conn, ill_transaction(transaction_id), to_state)


async def refuse(
    conn: AsyncConnection,
    lib: Library,
    env: Envelope,
    *,
    transaction_id: str,
    role: Role,
    state: str | None,
    event: str,
    reason: str,
    error_type: ErrorType = "UnsupportedActionType",
) -> None:
    """A message illegal in ``state``: recorded as refused, answered with ``ill.error``."""
    await record(
        conn,
        lib,
        transaction_id=transaction_id,
        role=role,
        from_state=state,
        to_state=None,
        event=event,
        actor=env.sender,
        message_id=env.message_id,
        refused=reason,
    )
    error = IllError(
        transaction_id=transaction_id,
        refused_message_id=env.message_id,
        refused_type=env.type,
        error_type=error_type,
        reason=reason[:500],
        state=state,
    )
    await send(
        conn,
        outbox,
        error,
        sender=lib.code,
        recipient=BROKER,
        correlation_id=transaction_id,
        causation_id=env.message_id,
        clock=lib.clock,
    )


async def history(conn: AsyncConnection, transaction_id: str, role: Role | None = None) -> list:
    t = ill_history
    await appends.flush(conn, t)  # this transaction's own lines, read with the others

    def build(_: AsyncConnection) -> Any:
        query = select(t).where(t.c.transaction_id == bindparam("b_txn")).order_by(t.c.id)
        return query.where(t.c.role == bindparam("b_role")) if role is not None else query

    params = (
        {"b_txn": transaction_id} if role is None else {"b_txn": transaction_id, "b_role": role}
    )
    rows = await hot_sql.run(conn, ("ill history of", t, role is not None), build, params)
    return [dict(r._mapping) for r in rows.all()]
