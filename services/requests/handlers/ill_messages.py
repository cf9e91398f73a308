"""The broker's handlers of ILL messages from member libraries (ILL.md): each checks that the
RabbitMQ-validated sender is the party the message names, applies the message in the
sender's ``seq`` order (parking early ones, ignoring repeats), lets the domain decide, and
forwards what is to be forwarded through the broker's outbox.

A message naming a party other than its sender is a forgery: rejected, so it is
dead-lettered with the reason. A message that is legal by the contract but not in the
transaction's state is refused: recorded and answered with ``ill.error``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import (
    Envelope,
    IllCardLost,
    IllError,
    IllRequest,
    IllRequesterMessage,
    IllSupplierMessage,
)
from libs.common.ill.sequence import receive
from libs.common.messaging.consumer import RejectMessage
from libs.common.messaging.inbox import claims_along
from services.requests.adapters import transactions as repo
from services.requests.adapters.tables import ill_seq
from services.requests.domain.broker import (
    Refusal,
    from_requester,
    from_supplier,
    new_transaction,
)
from services.requests.handlers.card_losses import on_card_lost
from services.requests.handlers.context import Broker
from services.requests.handlers.outcome import refuse, side_of
from services.requests.handlers.routing import route, settle
from services.requests.handlers.settlement import enter


def _same_transaction(env: Envelope, payload: Any) -> None:
    if env.correlation_id != payload.transaction_id:
        raise RejectMessage(
            f"correlation id {env.correlation_id!r} is not the transaction "
            f"{payload.transaction_id!r} the message is about"
        )


async def _in_order(conn: AsyncConnection, ctx: Broker, env: Envelope, payload: Any) -> None:
    _same_transaction(env, payload)

    async def apply(e: Envelope, p: Any) -> None:
        await _apply(conn, ctx, e, p)

    await receive(
        conn,
        ill_seq,
        env,
        payload.seq,
        apply,
        ctx.clock,
        transaction_id=payload.transaction_id,
        payload=payload,
    )


@claims_along
async def on_request(conn: AsyncConnection, ctx: Broker, env: Envelope, payload: IllRequest):
    if env.sender != payload.requester:
        raise RejectMessage(
            f"the request names requester {payload.requester!r} but {env.sender!r} sent it"
        )
    await _in_order(conn, ctx, env, payload)


@claims_along
async def on_supplier_message(
    conn: AsyncConnection, ctx: Broker, env: Envelope, payload: IllSupplierMessage
):
    if env.sender != payload.supplier:
        raise RejectMessage(
            f"the message names supplier {payload.supplier!r} but {env.sender!r} sent it"
        )
    await _in_order(conn, ctx, env, payload)


@claims_along
async def on_requester_message(
    conn: AsyncConnection, ctx: Broker, env: Envelope, payload: IllRequesterMessage
):
    if env.sender != payload.requester:
        raise RejectMessage(
            f"the message names requester {payload.requester!r} but {env.sender!r} sent it"
        )
    await _in_order(conn, ctx, env, payload)


async def on_error(conn: AsyncConnection, ctx: Broker, env: Envelope, payload: IllError):
    """A library refused a message the broker sent it: recorded in the transaction's
    history (an error is never answered with an error)."""
    _same_transaction(env, payload)
    found = await repo.load(conn, payload.transaction_id, lock=False)
    view = found[0] if found else None
    await repo.record(
        conn,
        transaction_id=payload.transaction_id,
        at=ctx.clock.now(),
        side=side_of(view, env.sender),
        actor=env.sender,
        from_state=view.state.value if view else None,
        message_type=env.type,
        message_id=env.message_id,
        refused=f"{payload.error_type}: {payload.reason}",
        detail=f"{env.sender} refused {payload.refused_type} {payload.refused_message_id} "
        f"in its state {payload.state}",
    )


HANDLERS: dict = {
    IllRequest: on_request,
    IllSupplierMessage: on_supplier_message,
    IllRequesterMessage: on_requester_message,
    IllError: on_error,
    IllCardLost: on_card_lost,
}


async def _apply(conn: AsyncConnection, ctx: Broker, env: Envelope, payload: Any) -> None:
    """One message in its turn (it may be a parked one released by its predecessor)."""
    txn = payload.transaction_id
    if isinstance(payload, IllRequest):
        await _new_request(conn, ctx, env, payload)
        return
    found = await repo.load(conn, txn)
    if found is None:
        refusal = Refusal(f"no transaction {txn}", "UnrecognisedDataValue")
        await refuse(conn, ctx, None, env, payload, refusal, transaction_id=txn)
        return
    view, request = found
    now = ctx.clock.now()
    if isinstance(payload, IllSupplierMessage):
        verdict = from_supplier(view, env.sender, payload, now)
    else:
        verdict = from_requester(view, env.sender, payload, now)
    if isinstance(verdict, Refusal):
        await refuse(conn, ctx, view, env, payload, verdict, transaction_id=txn)
        return
    await settle(conn, ctx, view, verdict, request, env=env, payload=payload)
    if not verdict.record_only:
        # MALA-13: the ledger follows what the broker passed on, in the same transaction
        await enter(conn, ctx, view, env, payload)


async def _new_request(
    conn: AsyncConnection, ctx: Broker, env: Envelope, request: IllRequest
) -> None:
    txn = request.transaction_id
    # seq catches a resend of the same request; a second, different one is refused. Whether
    # the transaction exists is asked by its INSERT (nothing is added if it does), and only
    # read first where the request is refused anyway, to name the right reason.
    again = Refusal(f"transaction {txn} was requested already", "UnrecognisedDataValue")
    verdict = new_transaction(request, ctx.consortium_of(request.requester) or "")
    if isinstance(verdict, Refusal):
        exists = await repo.load(conn, txn, lock=False) is not None
        await refuse(
            conn, ctx, None, env, request, again if exists else verdict, transaction_id=txn
        )
        return
    now = ctx.clock.now()
    if not await repo.create(conn, request, verdict.view, now):
        await refuse(conn, ctx, None, env, request, again, transaction_id=txn)
        return
    await repo.record(
        conn,
        transaction_id=txn,
        at=now,
        side="requester",
        actor=env.sender,
        from_state=None,
        to_state=verdict.view.state.value,
        message_type=env.type,
        message_id=env.message_id,
        detail=f"record {request.record.record_id}: {request.record.title}"[:500],
    )
    await route(conn, ctx, verdict.view, request, env=env)
