"""The broker's handler of ``ill.card_lost`` (MALA-12): checked, recorded in the history of
each transaction it names, and passed on to the lender through the outbox. A report the
broker cannot pass on has no transaction to be refused on: it is rejected, so it is
dead-lettered with the reason for an operator to see."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import Envelope, IllCardLost
from libs.common.messaging.consumer import RejectMessage
from services.requests.adapters import transactions as repo
from services.requests.domain.card_losses import for_lender
from services.requests.handlers.context import Broker
from services.requests.handlers.outcome import send_to


async def on_card_lost(conn: AsyncConnection, ctx: Broker, env: Envelope, payload: IllCardLost):
    if env.correlation_id != payload.report_id:
        raise RejectMessage(
            f"correlation id {env.correlation_id!r} is not the report {payload.report_id!r}"
        )
    views = {}
    for txn in payload.transactions:
        found = await repo.load(conn, txn, lock=False)
        if found is not None:
            views[txn] = found[0]
    verdict = for_lender(payload, env.sender, ctx.members, views)
    if isinstance(verdict, str):
        raise RejectMessage(verdict)
    now = ctx.clock.now()
    sent = await send_to(
        conn, ctx, payload.report_id, payload.lender, verdict, causation_id=env.message_id
    )
    for txn, view in views.items():
        await repo.record(
            conn,
            transaction_id=txn,
            at=now,
            side="requester",
            actor=env.sender,
            from_state=view.state.value,
            message_type=env.type,
            message_id=env.message_id,
            detail=f"MALA-12: the patron's card of {payload.lender} reported lost; "
            f"sent to {payload.lender} as {sent.message_id}",
        )
