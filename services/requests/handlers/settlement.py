"""Keeping the settlement ledger (MALA-13) as the broker applies a message: in the same
database transaction as the message's effect and its inbox row, so each charge is entered
once, and a ChargePaid marks it collected once, however often the bus delivers them."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.contracts import Envelope, IllRequesterMessage, IllSupplierMessage
from services.requests.adapters import settlement as ledger
from services.requests.domain.broker import TransactionView
from services.requests.domain.settlement import charge_of, collected_by
from services.requests.handlers.context import Broker


async def enter(
    conn: AsyncConnection, ctx: Broker, view: TransactionView, env: Envelope, payload: BaseModel
) -> None:
    """After the broker accepted ``payload`` about ``view`` (the transaction before it): a
    lender's charge becomes an entry "home owes lender"; a ChargePaid marks one collected."""
    now = ctx.clock.now()
    if isinstance(payload, IllSupplierMessage):
        entry = charge_of(view, payload, env.message_id, ctx.local_date(view.consortium, now))
        if entry is not None:
            await ledger.add(conn, entry, recorded_at=now)
    elif isinstance(payload, IllRequesterMessage) and payload.action == "ChargePaid":
        paid = collected_by(payload, await ledger.of_transaction(conn, view.id))
        if paid is not None:
            await ledger.mark_collected(
                conn, paid.id, at=payload.occurred_at, message_id=env.message_id
            )
